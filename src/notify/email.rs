//! Email by SMTP, on `lettre` (tokio, rustls; no native TLS library).
//!
//! [`Email`] sends one message to one recipient through the relay named by
//! `SMTP_URL`, as plain text or as text with an HTML alternative. A failure
//! is a [`DeliveryError`] that says whether to try again: the relay could
//! not be reached, timed out or answered 4xx ([`DeliveryError::Retryable`]),
//! or it refused the message for good with a 5xx, or the address is not an
//! address ([`DeliveryError::Permanent`]). Each message has its own
//! connection: no pool, so no background task, and a sender can be built
//! outside a runtime.
//!
//! [`unsubscribe_token`] and [`verify_unsubscribe`] make and check the token
//! of an unsubscribe link that works without signing in: the user and the
//! kind of notice, signed with HMAC-SHA256. It does not expire, as a link in
//! an old email should still work.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

/// The longest a connection to the relay may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one message may take, from connecting to the relay's answer
/// to the message's end.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an email was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth another try later: the relay could not be reached, timed out,
    /// broke the connection, or answered 4xx (e.g. a full mailbox, greylisting).
    #[error("email not delivered for now: {reason}")]
    Retryable {
        /// What happened, for the log.
        reason: String,
    },
    /// Not worth another try: the relay refused with 5xx (e.g. the recipient
    /// does not exist), or the address or message is malformed.
    #[error("email refused: {reason}")]
    Permanent {
        /// What happened, for the log.
        reason: String,
    },
}

impl DeliveryError {
    /// Whether the same message may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    fn retryable(reason: impl Into<String>) -> Self {
        Self::Retryable {
            reason: reason.into(),
        }
    }

    fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
        }
    }

    /// Sorts a failure of the SMTP conversation.
    fn from_smtp(error: &lettre::transport::smtp::Error) -> Self {
        // A 5xx means the relay will refuse this message again; anything else
        // (4xx, timeout, connection, TLS, a garbled answer) is about the relay
        // or the network, not the message, and may pass later.
        if error.is_permanent() {
            Self::permanent(error.to_string())
        } else {
            Self::retryable(error.to_string())
        }
    }
}

/// Sends email through one SMTP relay.
#[derive(Clone)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The relay as `scheme://host:port`, without credentials, for logs.
    relay: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Email {
    /// A sender through the relay at `smtp_url` (`SMTP_URL`) with the sender
    /// address `from` (`BLYTZ_MAIL_FROM`, e.g. `Blytz <no-reply@blytz.example>`).
    ///
    /// `smtp://host:port` talks in plain text (a relay on the same host or
    /// network); `smtp://user:pass@host:587?tls=required` upgrades with
    /// STARTTLS or fails; `smtps://user:pass@host` speaks TLS from the start
    /// (port 465 by default). Special characters in the user or password are
    /// percent-encoded. Nothing is connected until the first send.
    pub fn new(smtp_url: &SecretString, from: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(smtp_url.expose_secret().trim())
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not a URL: {e}"))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            anyhow::bail!(
                "SMTP_URL must start with smtp:// or smtps://, not `{}://`",
                url.scheme()
            );
        }
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("SMTP_URL has no host"))?;
        let relay = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        let from: Mailbox = from
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("BLYTZ_MAIL_FROM `{from}` is not an address: {e}"))?;
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.expose_secret().trim())
                .map_err(|e| anyhow::anyhow!("SMTP_URL ({relay}) cannot be used: {e}"))?
                .timeout(Some(CONNECT_TIMEOUT))
                .build();
        Ok(Self {
            transport,
            from,
            relay,
        })
    }

    /// The sender address.
    pub fn from_address(&self) -> &Mailbox {
        &self.from
    }

    /// Sends `text` (and `html` as its alternative, when given) with
    /// `subject` to `to`, an address such as `ann@example.com` or
    /// `Ann <ann@example.com>`.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        html: Option<&str>,
    ) -> Result<(), DeliveryError> {
        self.send_message(self.message(to, subject, text, html, None)?)
            .await
    }

    /// Sends `text` with `subject` to `to` under a `Message-ID` made from
    /// `id`: a message sent again (a retry after a lost answer) keeps its
    /// id, so mail clients can tell it is the same one.
    pub async fn send_identified(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        id: Uuid,
    ) -> Result<(), DeliveryError> {
        self.send_message(self.message(to, subject, text, None, Some(id))?)
            .await
    }

    #[tracing::instrument(skip_all, fields(relay = %self.relay))]
    async fn send_message(&self, message: Message) -> Result<(), DeliveryError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => {
                let error = DeliveryError::from_smtp(&error);
                tracing::warn!(%error, "email not sent");
                Err(error)
            }
            Err(_elapsed) => {
                tracing::warn!("email not sent: the relay took too long");
                Err(DeliveryError::retryable(format!(
                    "the relay did not finish within {} s",
                    SEND_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// The message to send, or a permanent error if it cannot be built.
    fn message(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        html: Option<&str>,
        id: Option<Uuid>,
    ) -> Result<Message, DeliveryError> {
        let to: Mailbox = to.trim().parse().map_err(|e| {
            DeliveryError::permanent(format!("the recipient is not an address: {e}"))
        })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        if let Some(id) = id {
            builder = builder.message_id(Some(format!("<{id}@{}>", self.from.email.domain())));
        }
        let message = match html {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(text.to_owned()),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            )),
        };
        message.map_err(|e| DeliveryError::permanent(format!("the message cannot be built: {e}")))
    }
}

/// Separates unsubscribe signatures from any other use of the same secret.
const UNSUBSCRIBE_CONTEXT: &[u8] = b"blytz unsubscribe v1\0";
/// The longest token read: a user id, a kind of notice and a signature.
const MAX_TOKEN_LEN: usize = 512;

/// The keyed MAC over an unsubscribe token's body.
fn unsubscribe_mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC takes a key of any length");
    };
    mac.update(UNSUBSCRIBE_CONTEXT);
    mac.update(body);
    mac
}

/// The token of a link that stops notices of `kind` (e.g. `outbid`) by
/// email for `user`, signed with `secret`: URL-safe, no padding, of the form
/// `base64url(user id ‖ kind).base64url(HMAC-SHA256)`.
pub fn unsubscribe_token(secret: &[u8], user: Uuid, kind: &str) -> String {
    let mut body = Vec::with_capacity(16 + kind.len());
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(kind.as_bytes());
    let tag = unsubscribe_mac(secret, &body).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&body),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The user and kind of notice an [`unsubscribe_token`] made with `secret`
/// names; `None` for a token that was not made with `secret`, was changed,
/// or is malformed. The signature is compared in constant time.
pub fn verify_unsubscribe(secret: &[u8], token: &str) -> Option<(Uuid, String)> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let (body, tag) = token.split_once('.')?;
    let body = URL_SAFE_NO_PAD.decode(body).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    unsubscribe_mac(secret, &body).verify_slice(&tag).ok()?;
    let (user, kind) = body.split_at_checked(16)?;
    let user = Uuid::from_slice(user).ok()?;
    let kind = std::str::from_utf8(kind).ok()?;
    if kind.is_empty() {
        return None;
    }
    Some((user, kind.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const SECRET: &[u8] = b"a secret of the unsubscribe links, long enough";

    #[test]
    fn an_unsubscribe_token_names_its_user_and_kind() {
        let user = Uuid::now_v7();
        let token = unsubscribe_token(SECRET, user, "outbid");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token} is not URL-safe"
        );
        assert_eq!(
            verify_unsubscribe(SECRET, &token),
            Some((user, "outbid".to_owned()))
        );
        let other = unsubscribe_token(SECRET, user, "show_live");
        assert_ne!(token, other);
        assert_eq!(
            verify_unsubscribe(SECRET, &other),
            Some((user, "show_live".to_owned()))
        );
    }

    #[test]
    fn a_changed_token_is_refused() {
        let user = Uuid::now_v7();
        let token = unsubscribe_token(SECRET, user, "outbid");
        let (body, tag) = token.split_once('.').unwrap();

        // Another user's id under this token's signature.
        let mut forged = URL_SAFE_NO_PAD.decode(body).unwrap();
        forged[15] ^= 1;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&forged));
        assert_eq!(verify_unsubscribe(SECRET, &forged), None);

        // Another kind under this token's signature.
        let mut other_kind = URL_SAFE_NO_PAD.decode(body).unwrap();
        other_kind.truncate(16);
        other_kind.extend_from_slice(b"won");
        let other_kind = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&other_kind));
        assert_eq!(verify_unsubscribe(SECRET, &other_kind), None);

        // A changed signature, a cut one, none at all.
        let mut bad_tag = URL_SAFE_NO_PAD.decode(tag).unwrap();
        bad_tag[0] ^= 0x80;
        let bad_tag = format!("{body}.{}", URL_SAFE_NO_PAD.encode(&bad_tag));
        assert_eq!(verify_unsubscribe(SECRET, &bad_tag), None);
        assert_eq!(verify_unsubscribe(SECRET, &token[..token.len() - 2]), None);
        assert_eq!(verify_unsubscribe(SECRET, body), None);
        assert_eq!(verify_unsubscribe(SECRET, &format!("{body}.")), None);

        // Signed with another secret.
        assert_eq!(verify_unsubscribe(b"another secret", &token), None);
        // Junk.
        assert_eq!(verify_unsubscribe(SECRET, ""), None);
        assert_eq!(verify_unsubscribe(SECRET, "not a token.at all"), None);
        assert_eq!(verify_unsubscribe(SECRET, &"A".repeat(4096)), None);
    }

    #[test]
    fn a_token_without_a_kind_is_refused() {
        let token = unsubscribe_token(SECRET, Uuid::now_v7(), "");
        assert_eq!(verify_unsubscribe(SECRET, &token), None);
    }

    #[test]
    fn the_settings_are_checked_and_the_password_stays_out_of_debug() {
        let email = Email::new(
            &SecretString::from("smtps://mailer:hunter2-secret@smtp.example.com"),
            "Blytz <no-reply@blytz.example>",
        )
        .unwrap();
        let debug = format!("{email:?}");
        assert!(debug.contains("smtps://smtp.example.com"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(
            email.from_address().email.to_string(),
            "no-reply@blytz.example"
        );

        let url = SecretString::from("smtp://127.0.0.1:2525");
        assert!(Email::new(&url, "no-reply@blytz.example").is_ok());
        assert!(Email::new(&url, "not an address").is_err());
        let wrong = Email::new(&SecretString::from("https://user:pw@mail.example"), "a@b.c");
        assert!(wrong.is_err());
        assert!(!format!("{:#}", wrong.unwrap_err()).contains("pw@"));
        assert!(Email::new(&SecretString::from("not a url"), "a@b.c").is_err());
    }

    #[test]
    fn a_bad_recipient_is_a_permanent_error_before_any_connection() {
        let email = Email::new(
            &SecretString::from("smtp://127.0.0.1:1"),
            "no-reply@blytz.example",
        )
        .unwrap();
        let error = email
            .message("no address here", "Hi", "text", None, None)
            .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
        let message = email
            .message(
                "Ann <ann@example.com>",
                "Outbid on lot 7",
                "text",
                Some("<p>html</p>"),
                None,
            )
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("To: Ann <ann@example.com>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
    }
}
