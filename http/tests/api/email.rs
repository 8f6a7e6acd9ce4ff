//! Email against a small SMTP server on 127.0.0.1 that the test runs: it
//! speaks enough SMTP (EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP,
//! QUIT) to take a message, and answers RCPT TO as the test says. A
//! refused recipient is a permanent failure; a busy server or a closed port
//! is worth a retry.

use std::sync::{Arc, Mutex};

use blytz::notify::email::{DeliveryError, Email};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const FROM: &str = "Blytz <no-reply@blytz.example>";

/// One message the server took.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mail {
    pub(crate) mail_from: String,
    pub(crate) rcpt_to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, CRLF line ends.
    pub(crate) data: String,
}

/// The SMTP server's answer to RCPT TO.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rcpt {
    Accept,
    /// 550: no such mailbox.
    Refuse,
    /// 451: try again later.
    Defer,
}

pub(crate) struct SmtpServer {
    pub(crate) url: SecretString,
    mail: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub(crate) async fn spawn(rcpt: Rcpt) -> Self {
        Self::spawn_on(0, rcpt).await
    }

    /// The server on `port` (0: any free port).
    pub(crate) async fn spawn_on(port: u16, rcpt: Rcpt) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mail = Arc::new(Mutex::new(Vec::new()));
        let taken = Arc::clone(&mail);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let taken = Arc::clone(&taken);
                tokio::spawn(async move { serve(stream, rcpt, taken).await });
            }
        });
        Self {
            url: SecretString::from(format!("smtp://127.0.0.1:{port}")),
            mail,
        }
    }

    pub(crate) fn mail(&self) -> Vec<Mail> {
        self.mail.lock().unwrap().clone()
    }
}

/// One SMTP session (RFC 5321), enough for a client that sends one message.
async fn serve(stream: TcpStream, rcpt: Rcpt, taken: Arc<Mutex<Vec<Mail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut current = Mail::default();
    write
        .write_all(b"220 stand-in.local ESMTP ready\r\n")
        .await
        .unwrap();
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-stand-in.local greets you\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 stand-in.local\r\n",
            "MAIL" => {
                current = Mail {
                    mail_from: address(command),
                    ..Mail::default()
                };
                b"250 2.1.0 sender ok\r\n"
            }
            "RCPT" => match rcpt {
                Rcpt::Accept => {
                    current.rcpt_to.push(address(command));
                    b"250 2.1.5 recipient ok\r\n"
                }
                Rcpt::Refuse => b"550 5.1.1 no such mailbox here\r\n",
                Rcpt::Defer => b"451 4.3.0 try again later\r\n",
            },
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .unwrap();
                loop {
                    let mut line = String::new();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    let line = line.strip_prefix('.').unwrap_or(&line);
                    current.data.push_str(line);
                }
                taken.lock().unwrap().push(std::mem::take(&mut current));
                b"250 2.0.0 queued\r\n"
            }
            "RSET" => {
                current = Mail::default();
                b"250 2.0.0 ok\r\n"
            }
            "NOOP" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => b"502 5.5.2 command not recognized\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The address in `MAIL FROM:<a@b> ...` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    let start = command.find('<').unwrap() + 1;
    let end = command.find('>').unwrap();
    command[start..end].to_owned()
}

/// The value of the header `name` in a raw message.
pub(crate) fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    let (head, _) = data.split_once("\r\n\r\n")?;
    head.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn a_plain_text_email_reaches_the_recipient() {
    let server = SmtpServer::spawn(Rcpt::Accept).await;
    let email = Email::new(&server.url, FROM).unwrap();

    email
        .send(
            "Ann <ann@example.com>",
            "You were outbid on lot 7",
            "Someone bid 13.00 SGD on lot 7. Bid again before it closes.",
            None,
        )
        .await
        .unwrap();

    let mail = server.mail();
    assert_eq!(mail.len(), 1);
    let mail = &mail[0];
    assert_eq!(mail.mail_from, "no-reply@blytz.example");
    assert_eq!(mail.rcpt_to, ["ann@example.com"]);
    assert_eq!(
        header(&mail.data, "Subject"),
        Some("You were outbid on lot 7")
    );
    assert_eq!(header(&mail.data, "To"), Some("Ann <ann@example.com>"));
    assert_eq!(header(&mail.data, "From"), Some(FROM));
    assert!(
        header(&mail.data, "Content-Type")
            .unwrap()
            .starts_with("text/plain"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("Someone bid 13.00 SGD on lot 7. Bid again before it closes."),
        "{}",
        mail.data
    );
}

#[tokio::test]
async fn an_email_with_html_carries_both_versions() {
    let server = SmtpServer::spawn(Rcpt::Accept).await;
    let email = Email::new(&server.url, FROM).unwrap();

    email
        .send(
            "bea@example.com",
            "You won lot 3",
            "You won lot 3 for 42.00 SGD.",
            Some("<p>You won <b>lot 3</b> for 42.00 SGD.</p>"),
        )
        .await
        .unwrap();

    let mail = server.mail();
    assert_eq!(mail.len(), 1);
    let mail = &mail[0];
    assert_eq!(mail.rcpt_to, ["bea@example.com"]);
    assert_eq!(header(&mail.data, "Subject"), Some("You won lot 3"));
    assert!(
        header(&mail.data, "Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Content-Type: text/plain"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Content-Type: text/html"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("You won lot 3 for 42.00 SGD."),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("<p>You won <b>lot 3</b> for 42.00 SGD.</p>"),
        "{}",
        mail.data
    );
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_failure() {
    let server = SmtpServer::spawn(Rcpt::Refuse).await;
    let email = Email::new(&server.url, FROM).unwrap();

    let error = email
        .send("nobody@example.com", "Hello", "Hello.", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DeliveryError::Permanent { ref reason } if reason.contains("550")),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(server.mail().is_empty());
}

#[tokio::test]
async fn a_deferred_recipient_is_worth_a_retry() {
    let server = SmtpServer::spawn(Rcpt::Defer).await;
    let email = Email::new(&server.url, FROM).unwrap();

    let error = email
        .send("busy@example.com", "Hello", "Hello.", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DeliveryError::Retryable { ref reason } if reason.contains("451")),
        "{error:?}"
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_closed_port_is_worth_a_retry() {
    // Nothing listens on it.
    let port = crate::helpers::free_port();
    let url = SecretString::from(format!("smtp://127.0.0.1:{port}"));
    let email = Email::new(&url, FROM).unwrap();

    let error = email
        .send("ann@example.com", "Hello", "Hello.", None)
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_malformed_address_is_a_permanent_failure_without_a_connection() {
    let server = SmtpServer::spawn(Rcpt::Accept).await;
    let email = Email::new(&server.url, FROM).unwrap();

    let error = email
        .send("not an address", "Hello", "Hello.", None)
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error:?}");
    assert!(server.mail().is_empty());
}
