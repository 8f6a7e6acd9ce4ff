//! Web Push: a notice to a browser's push subscription, through the push
//! service that made the subscription (RFC 8030), with the payload
//! encrypted for the browser (RFC 8291, `aes128gcm` of RFC 8188) and the
//! request signed by this server's VAPID key (RFC 8292, an ES256 JWT).
//!
//! Built on RustCrypto's `p256` (ECDH and ES256), `hkdf`, `aes-gcm` and
//! `sha2`, and the workspace's `reqwest` on rustls. The `web-push` crate
//! (0.11) was weighed first: both of its HTTP clients pull in OpenSSL (isahc
//! through libcurl, hyper 0.14 through `hyper-tls`), and its encryption, the
//! `ece` crate, has only an OpenSSL backend, so even its building blocks
//! would bring OpenSSL into the server. RFC 8291 is a few lines of HKDF and
//! AES-GCM over these well-kept primitives; the tests hold it to the RFC's
//! own example (Appendix A), and the HTTP crate's tests decrypt what a
//! stand-in push service receives with the browser's keys.
//!
//! Settings: `BLYTZ_VAPID_PRIVATE_KEY` (the private key, 32 bytes in
//! base64url, made once by [`generate_vapid_keys`]; a secret) and
//! `BLYTZ_VAPID_SUBJECT` (`mailto:ops@blytz.example` or an `https:` URL, so
//! a push service can reach the operator). The public key
//! ([`WebPush::public_key`]) is the browser's `applicationServerKey`;
//! changing the private key orphans every existing subscription.
//!
//! A send answers [`PushError::Gone`] when the push service says the
//! subscription no longer exists (404, 410): the caller deletes it.

use std::fmt;
use std::time::Duration;

use aes_gcm::aead::{Aead, OsRng};
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::rand_core::RngCore;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The longest a push may take, connection and answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection to a push service may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a VAPID token is valid; RFC 8292 allows at most 24 hours.
const VAPID_TOKEN_LIFETIME_SECS: i64 = 12 * 60 * 60;
/// The record size announced in the body's header: the whole payload is
/// one record, so any size above the largest body works.
const RECORD_SIZE: u32 = 4096;
/// The bytes before the ciphertext: salt (16), record size (4), key id
/// length (1) and the key id, an uncompressed P-256 point (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// The AES-GCM tag at the end of the record.
const TAG_LEN: usize = 16;
/// The largest body every push service must accept (RFC 8030 §7.2).
const MAX_BODY_LEN: usize = 4096;
/// The largest payload that fits in [`MAX_BODY_LEN`]: the header, the tag and
/// the one-byte last-record delimiter come on top.
pub const MAX_PAYLOAD_LEN: usize = MAX_BODY_LEN - HEADER_LEN - TAG_LEN - 1;
/// The longest push endpoint accepted.
pub const MAX_ENDPOINT_LEN: usize = 2048;
/// How much of a push service's refusal is kept for the log.
const MAX_REASON_LEN: usize = 512;

/// Base64url as the Web Push specifications write keys: no padding out,
/// padding or none in.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it
/// (`endpoint`, `keys.p256dh`, `keys.auth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// The push service's URL for this subscription.
    pub endpoint: String,
    /// The browser's P-256 public key, uncompressed (65 bytes), base64url.
    pub p256dh: String,
    /// The browser's authentication secret (16 bytes), base64url.
    pub auth: String,
}

/// Why a push was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The push service says the subscription is gone (404 or 410): delete
    /// it; pushing to it again will not work.
    #[error("the push subscription is gone (HTTP {status})")]
    Gone {
        /// 404 or 410.
        status: u16,
    },
    /// Worth another try later: 429, a 5xx, a timeout or a network failure.
    #[error("the push service is unavailable for now: {reason}")]
    Retryable {
        /// What happened, for the log.
        reason: String,
        /// How long the push service asked to wait (`Retry-After` in seconds).
        retry_after: Option<Duration>,
    },
    /// Not worth another try: another 4xx (e.g. a VAPID key the service does
    /// not accept, a payload too large), or a subscription or payload this
    /// sender cannot use.
    #[error("the push was refused: {reason}")]
    Rejected {
        /// The HTTP status, when the push service answered.
        status: Option<u16>,
        /// What happened, for the log.
        reason: String,
    },
}

impl PushError {
    fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected {
            status: None,
            reason: reason.into(),
        }
    }
}

/// Sends Web Push messages signed with one VAPID key.
#[derive(Clone)]
pub struct WebPush {
    http: reqwest::Client,
    /// The VAPID private key; `SigningKey` wipes it when dropped.
    signing_key: SigningKey,
    /// The VAPID public key, uncompressed, base64url.
    public_key: String,
    subject: String,
    allow_plain_http: bool,
}

impl fmt::Debug for WebPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPush")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .field("allow_plain_http", &self.allow_plain_http)
            .finish_non_exhaustive()
    }
}

impl WebPush {
    /// A sender with the VAPID private key `vapid_private_key`
    /// (`BLYTZ_VAPID_PRIVATE_KEY`: the 32-byte P-256 scalar, base64url) and
    /// the contact `subject` (`BLYTZ_VAPID_SUBJECT`: a `mailto:` or
    /// `https:` URL).
    pub fn new(vapid_private_key: &SecretString, subject: &str) -> anyhow::Result<Self> {
        let bytes = BASE64URL
            .decode(vapid_private_key.expose_secret().trim())
            .map_err(|_| anyhow::anyhow!("BLYTZ_VAPID_PRIVATE_KEY is not base64url"))?;
        if bytes.len() != 32 {
            anyhow::bail!(
                "BLYTZ_VAPID_PRIVATE_KEY must be 32 bytes (a P-256 private key), not {}",
                bytes.len()
            );
        }
        let secret = SecretKey::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("BLYTZ_VAPID_PRIVATE_KEY is not a P-256 private key"))?;
        let subject = subject.trim();
        let is_contact = match subject.split_once(':') {
            Some(("mailto", rest)) => rest.contains('@'),
            Some(("https", _)) => reqwest::Url::parse(subject).is_ok_and(|u| u.has_host()),
            _ => false,
        };
        if !is_contact {
            anyhow::bail!(
                "BLYTZ_VAPID_SUBJECT must be a mailto: address or an https: URL, not `{subject}`"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A push service answers directly; following a redirect would
            // send a subscriber-chosen request elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Web Push HTTP client: {e}"))?;
        Ok(Self {
            http,
            public_key: encode_point(&secret.public_key()),
            signing_key: SigningKey::from(secret),
            subject: subject.to_owned(),
            allow_plain_http: false,
        })
    }

    /// Also pushes to `http:` endpoints, as a stand-in push service in a
    /// test listens on. Browsers' subscriptions are always `https:`.
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// The VAPID public key, uncompressed, base64url: the browser's
    /// `applicationServerKey` when it subscribes.
    pub fn public_key(&self) -> String {
        self.public_key.clone()
    }

    /// Pushes `payload` (at most [`MAX_PAYLOAD_LEN`] bytes, usually JSON)
    /// to `subscription`; the push service keeps it for up to `ttl_secs`
    /// while the browser is offline (0: deliver now or never).
    #[tracing::instrument(skip_all)]
    pub async fn send(
        &self,
        subscription: &PushSubscription,
        payload: &[u8],
        ttl_secs: u32,
    ) -> Result<(), PushError> {
        let endpoint = self.endpoint(&subscription.endpoint)?;
        let ua_public = decode_public_key(&subscription.p256dh)?;
        let auth = decode_auth_secret(&subscription.auth)?;
        let mut salt = [0_u8; 16];
        OsRng.fill_bytes(&mut salt);
        let body = encrypt(
            &SecretKey::random(&mut OsRng),
            &ua_public,
            &auth,
            &salt,
            payload,
        )?;
        let audience = endpoint.origin().ascii_serialization();
        let expires_at = chrono::Utc::now().timestamp() + VAPID_TOKEN_LIFETIME_SECS;
        let token = vapid_jwt(&self.signing_key, &audience, &self.subject, expires_at);

        let response = self
            .http
            .post(endpoint)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("vapid t={token}, k={}", self.public_key),
            )
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header("TTL", ttl_secs.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let reason = if e.is_timeout() {
                    "the push service did not answer in time".to_owned()
                } else {
                    format!("the push service cannot be reached: {}", error_chain(&e))
                };
                tracing::warn!(%reason, "push not sent");
                PushError::Retryable {
                    reason,
                    retry_after: None,
                }
            })?;

        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let reason = format!("HTTP {status}: {}", read_reason(response).await);
        let error = match status.as_u16() {
            code @ (404 | 410) => PushError::Gone { status: code },
            429 | 500..=599 => PushError::Retryable {
                reason,
                retry_after,
            },
            code => PushError::Rejected {
                status: Some(code),
                reason,
            },
        };
        tracing::warn!(%error, "push not sent");
        Err(error)
    }

    /// The subscription's endpoint, if this sender may push to it.
    /// Whether this sender can push to `subscription`: an endpoint it may
    /// reach and keys of the right shape. The reason when not.
    pub fn check_subscription(&self, subscription: &PushSubscription) -> Result<(), String> {
        if subscription.endpoint.len() > MAX_ENDPOINT_LEN {
            return Err(format!(
                "the endpoint is longer than {MAX_ENDPOINT_LEN} bytes"
            ));
        }
        let reason = |e: PushError| match e {
            PushError::Rejected { reason, .. } => reason,
            other => other.to_string(),
        };
        self.endpoint(&subscription.endpoint).map_err(reason)?;
        decode_public_key(&subscription.p256dh).map_err(reason)?;
        decode_auth_secret(&subscription.auth).map_err(reason)?;
        Ok(())
    }

    fn endpoint(&self, endpoint: &str) -> Result<reqwest::Url, PushError> {
        let url = reqwest::Url::parse(endpoint.trim())
            .map_err(|e| PushError::rejected(format!("the endpoint is not a URL: {e}")))?;
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => self.allow_plain_http,
            _ => false,
        };
        if !scheme_ok || !url.has_host() {
            return Err(PushError::rejected(format!(
                "the endpoint must be an https URL, not a `{}:` one",
                url.scheme()
            )));
        }
        Ok(url)
    }
}

/// A fresh VAPID key pair for an operator: the private key for
/// `BLYTZ_VAPID_PRIVATE_KEY` (32 bytes, base64url) and its public key
/// (uncompressed, base64url) as browsers receive it.
pub fn generate_vapid_keys() -> (SecretString, String) {
    let secret = SecretKey::random(&mut OsRng);
    let private = BASE64URL.encode(secret.to_bytes());
    (
        SecretString::from(private),
        encode_point(&secret.public_key()),
    )
}

/// A public key as Web Push writes it: uncompressed SEC1, base64url.
fn encode_point(public: &PublicKey) -> String {
    BASE64URL.encode(public.to_encoded_point(false).as_bytes())
}

/// The subscription's `p256dh` key.
fn decode_public_key(p256dh: &str) -> Result<PublicKey, PushError> {
    let bytes = BASE64URL
        .decode(p256dh.trim())
        .map_err(|_| PushError::rejected("the subscription's p256dh key is not base64url"))?;
    if bytes.len() != 65 || bytes.first() != Some(&0x04) {
        return Err(PushError::rejected(
            "the subscription's p256dh key is not an uncompressed P-256 point",
        ));
    }
    PublicKey::from_sec1_bytes(&bytes)
        .map_err(|_| PushError::rejected("the subscription's p256dh key is not on P-256"))
}

/// The subscription's `auth` secret.
fn decode_auth_secret(auth: &str) -> Result<[u8; 16], PushError> {
    BASE64URL
        .decode(auth.trim())
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .ok_or_else(|| PushError::rejected("the subscription's auth secret is not 16 bytes"))
}

/// The VAPID token (RFC 8292 §2): an ES256 JWT naming the push service's
/// origin (`aud`), when it stops being valid (`exp`, Unix seconds) and whom
/// to contact (`sub`).
fn vapid_jwt(key: &SigningKey, audience: &str, subject: &str, expires_at: i64) -> String {
    let header = BASE64URL.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
    let claims = serde_json::json!({ "aud": audience, "exp": expires_at, "sub": subject });
    let claims = BASE64URL.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    // ES256 signs the SHA-256 of the input; the JWS signature is r ‖ s.
    let signature: Signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", BASE64URL.encode(signature.to_bytes()))
}

/// The `aes128gcm` body of `payload` for the browser with `ua_public` and
/// `auth` (RFC 8291 §3.4), from this message's key pair `as_secret` and
/// `salt`: salt ‖ record size ‖ key id length ‖ `as_public` ‖ one record.
fn encrypt(
    as_secret: &SecretKey,
    ua_public: &PublicKey,
    auth: &[u8; 16],
    salt: &[u8; 16],
    payload: &[u8],
) -> Result<Vec<u8>, PushError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(PushError::rejected(format!(
            "the payload is {} bytes; at most {MAX_PAYLOAD_LEN} fit in a push",
            payload.len()
        )));
    }
    let crypto_failed = |what: &str| PushError::rejected(format!("encryption failed: {what}"));
    let as_public = as_secret.public_key().to_encoded_point(false);
    let ua_point = ua_public.to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());

    // IKM from the ECDH secret, keyed by the auth secret and bound to both keys.
    let mut ikm = [0_u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand_multi_info(
            &[
                b"WebPush: info\0",
                ua_point.as_bytes(),
                as_public.as_bytes(),
            ],
            &mut ikm,
        )
        .map_err(|_| crypto_failed("key info"))?;
    // The content encryption key and nonce of RFC 8188 §2.2, §2.3.
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0_u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| crypto_failed("content key"))?;
    let mut nonce = [0_u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| crypto_failed("nonce"))?;

    // One record, the last: the payload, the delimiter 2, no padding.
    let mut record = Vec::with_capacity(payload.len() + 1);
    record.extend_from_slice(payload);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| crypto_failed("cipher key"))?;
    let ciphertext = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| crypto_failed("AES-GCM"))?;

    let mut body = Vec::with_capacity(HEADER_LEN + ciphertext.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

/// The start of a refusal's body, for the log.
async fn read_reason(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_REASON_LEN {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_REASON_LEN);
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    if text.is_empty() {
        "no details".to_owned()
    } else {
        text.to_owned()
    }
}

/// An error with its causes, as one line (reqwest's own message names only
/// the outermost step).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        BASE64URL.decode(text).unwrap()
    }

    // RFC 8291 Appendix A.
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    #[test]
    fn encryption_reproduces_the_rfc_8291_example() {
        let as_secret = SecretKey::from_slice(&b64(AS_PRIVATE)).unwrap();
        assert_eq!(encode_point(&as_secret.public_key()), AS_PUBLIC);
        let ua_public = decode_public_key(UA_PUBLIC).unwrap();
        let auth = decode_auth_secret(AUTH).unwrap();
        let salt: [u8; 16] = b64(SALT).try_into().unwrap();
        let body = encrypt(&as_secret, &ua_public, &auth, &salt, PLAINTEXT).unwrap();
        assert_eq!(BASE64URL.encode(&body), BODY);
    }

    #[test]
    fn a_body_has_the_rfc_8291_shape() {
        let browser = SecretKey::random(&mut OsRng);
        let auth = [7_u8; 16];
        let salt = [9_u8; 16];
        let as_secret = SecretKey::random(&mut OsRng);
        let payload = br#"{"kind":"outbid","lot":7}"#;
        let body = encrypt(&as_secret, &browser.public_key(), &auth, &salt, payload).unwrap();

        assert_eq!(body.len(), 16 + 4 + 1 + 65 + payload.len() + 1 + 16);
        assert_eq!(&body[..16], &salt);
        assert_eq!(u32::from_be_bytes(body[16..20].try_into().unwrap()), 4096);
        assert_eq!(body[20], 65);
        assert_eq!(
            &body[21..86],
            as_secret.public_key().to_encoded_point(false).as_bytes()
        );
        assert!(!body.windows(payload.len()).any(|w| w == payload));

        // A fresh key pair and salt per message: the same payload never
        // encrypts to the same bytes.
        let again = encrypt(
            &SecretKey::random(&mut OsRng),
            &browser.public_key(),
            &auth,
            &[10_u8; 16],
            payload,
        )
        .unwrap();
        assert_ne!(body[86..], again[86..]);
    }

    #[test]
    fn a_payload_too_large_for_a_push_is_refused() {
        let browser = SecretKey::random(&mut OsRng);
        let as_secret = SecretKey::random(&mut OsRng);
        let fits = vec![b'x'; MAX_PAYLOAD_LEN];
        let body = encrypt(&as_secret, &browser.public_key(), &[1; 16], &[2; 16], &fits).unwrap();
        assert_eq!(body.len(), 4096);
        let too_large = vec![b'x'; MAX_PAYLOAD_LEN + 1];
        let error = encrypt(
            &as_secret,
            &browser.public_key(),
            &[1; 16],
            &[2; 16],
            &too_large,
        )
        .unwrap_err();
        assert!(
            matches!(error, PushError::Rejected { status: None, .. }),
            "{error}"
        );
    }

    #[test]
    fn the_vapid_token_names_the_audience_and_verifies_with_the_public_key() {
        let (private, public) = generate_vapid_keys();
        let push = WebPush::new(&private, "mailto:ops@blytz.example").unwrap();
        assert_eq!(push.public_key(), public);

        let token = vapid_jwt(
            &push.signing_key,
            "https://push.example.net",
            "mailto:ops@blytz.example",
            1_900_000_000,
        );
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        let header: serde_json::Value = serde_json::from_slice(&b64(parts[0])).unwrap();
        assert_eq!(header, serde_json::json!({ "typ": "JWT", "alg": "ES256" }));
        let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "aud": "https://push.example.net",
                "exp": 1_900_000_000,
                "sub": "mailto:ops@blytz.example",
            })
        );

        let verifying = VerifyingKey::from_sec1_bytes(&b64(&public)).unwrap();
        let signature = Signature::from_slice(&b64(parts[2])).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifying.verify(signed.as_bytes(), &signature).unwrap();
        let tampered = format!("{}.{}x", parts[0], parts[1]);
        assert!(verifying.verify(tampered.as_bytes(), &signature).is_err());
        // Another key's public key does not verify it.
        let (_, other) = generate_vapid_keys();
        let other = VerifyingKey::from_sec1_bytes(&b64(&other)).unwrap();
        assert!(other.verify(signed.as_bytes(), &signature).is_err());
    }

    #[test]
    fn generated_keys_have_the_web_push_sizes() {
        let (private, public) = generate_vapid_keys();
        assert_eq!(b64(private.expose_secret()).len(), 32);
        let public = b64(&public);
        assert_eq!(public.len(), 65);
        assert_eq!(public[0], 4);
        assert_ne!(generate_vapid_keys().1, generate_vapid_keys().1);
    }

    #[test]
    fn the_settings_are_checked_and_the_key_stays_out_of_debug() {
        let (private, _) = generate_vapid_keys();
        let push = WebPush::new(&private, "https://blytz.example/contact").unwrap();
        let debug = format!("{push:?}");
        assert!(!debug.contains(private.expose_secret()), "{debug}");
        assert!(WebPush::new(&private, "mailto:ops@blytz.example").is_ok());
        assert!(WebPush::new(&private, "ops@blytz.example").is_err());
        assert!(WebPush::new(&private, "http://blytz.example").is_err());
        assert!(WebPush::new(&private, "mailto:nobody").is_err());
        let short = SecretString::from(BASE64URL.encode([1_u8; 31]));
        assert!(WebPush::new(&short, "mailto:ops@blytz.example").is_err());
        let zero = SecretString::from(BASE64URL.encode([0_u8; 32]));
        assert!(WebPush::new(&zero, "mailto:ops@blytz.example").is_err());
        assert!(WebPush::new(&SecretString::from("!!"), "mailto:a@b.c").is_err());
    }

    #[test]
    fn a_subscription_this_sender_cannot_use_is_refused() {
        let (private, _) = generate_vapid_keys();
        let push = WebPush::new(&private, "mailto:ops@blytz.example").unwrap();
        assert!(push.endpoint("https://push.example.net/send/abc").is_ok());
        for endpoint in [
            "http://push.example.net/x",
            "ftp://push.example.net/x",
            "nope",
        ] {
            let error = push.endpoint(endpoint).unwrap_err();
            assert!(
                matches!(error, PushError::Rejected { .. }),
                "{endpoint}: {error}"
            );
        }
        assert!(
            push.clone()
                .allow_plain_http()
                .endpoint("http://127.0.0.1:9/x")
                .is_ok()
        );

        assert!(decode_public_key(UA_PUBLIC).is_ok());
        assert!(decode_public_key(&format!("{UA_PUBLIC}=")).is_ok());
        assert!(decode_public_key(&UA_PUBLIC[..80]).is_err());
        let mut off_curve = b64(UA_PUBLIC);
        off_curve[64] ^= 1;
        assert!(decode_public_key(&BASE64URL.encode(off_curve)).is_err());
        assert!(decode_auth_secret(AUTH).is_ok());
        assert!(decode_auth_secret("c2hvcnQ").is_err());
    }
}
