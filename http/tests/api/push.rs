//! Web Push against a stand-in push service on 127.0.0.1: the test plays
//! the browser (its own P-256 key pair and auth secret), the stand-in
//! records what it receives, and the test checks the VAPID header with
//! `jsonwebtoken` and decrypts the body with the browser's keys by hand
//! (RFC 8291), apart from the sender's code. Refusals and outages of the
//! push service come back as the errors the caller acts on.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aes_gcm::aead::{Aead, OsRng};
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blytz::notify::push::{PushError, PushSubscription, WebPush, generate_vapid_keys};
use hkdf::Hkdf;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde::Deserialize;
use sha2::Sha256;

const SUBJECT: &str = "mailto:ops@blytz.example";

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) ttl: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// How the stand-in answers: a status and an optional `Retry-After`.
#[derive(Debug, Clone, Copy)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Debug)]
struct Stub {
    answer: Mutex<Answer>,
    received: Mutex<Vec<Received>>,
}

/// The stand-in push service; every path under `/push/` is a subscription.
pub(crate) struct PushService {
    pub(crate) origin: String,
    stub: Arc<Stub>,
}

impl PushService {
    pub(crate) fn spawn(status: u16) -> Self {
        Self::spawn_on(0, status)
    }

    /// The stand-in on `port` (0: any free port), answering `status`.
    pub(crate) fn spawn_on(port: u16, status: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stub = Arc::new(Stub {
            answer: Mutex::new(Answer {
                status,
                retry_after: None,
            }),
            received: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(Arc::clone(&stub));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/push/{id}", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self {
            origin: format!("http://127.0.0.1:{port}"),
            stub,
        }
    }

    pub(crate) fn answer_with(&self, status: u16, retry_after: Option<u64>) {
        *self.stub.answer.lock().unwrap() = Answer {
            status,
            retry_after,
        };
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.stub.received.lock().unwrap().clone()
    }
}

async fn receive(stub: web::Data<Stub>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    stub.received.lock().unwrap().push(Received {
        path: request.path().to_owned(),
        authorization: header("authorization"),
        content_encoding: header("content-encoding"),
        ttl: header("ttl"),
        body: body.to_vec(),
    });
    let answer = *stub.answer.lock().unwrap();
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(answer.status).unwrap());
    if let Some(secs) = answer.retry_after {
        response.insert_header(("Retry-After", secs.to_string()));
    }
    if answer.status == 201 {
        response.insert_header(("Location", "/message/1"));
    }
    response.body(format!("answered {}", answer.status))
}

/// The browser's side of a subscription.
pub(crate) struct Browser {
    private: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    pub(crate) fn new() -> Self {
        let mut auth = [0_u8; 16];
        aes_gcm::aead::rand_core::RngCore::fill_bytes(&mut OsRng, &mut auth);
        Self {
            private: SecretKey::random(&mut OsRng),
            auth,
        }
    }

    pub(crate) fn subscription(&self, endpoint: String) -> PushSubscription {
        PushSubscription {
            endpoint,
            p256dh: URL_SAFE_NO_PAD.encode(self.private.public_key().to_encoded_point(false)),
            auth: URL_SAFE_NO_PAD.encode(self.auth),
        }
    }

    pub(crate) fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        decrypt(&self.private, &self.auth, body).expect("the body decrypts with the browser's keys")
    }
}

/// RFC 8291 §3.4 and RFC 8188 §2, as the browser does it: the header names
/// the salt, the record size and the sender's public key; the record ends
/// with the delimiter 2 and any padding zeros. `None` when the keys do not
/// open the record.
fn decrypt(ua_private: &SecretKey, auth: &[u8; 16], body: &[u8]) -> Option<Vec<u8>> {
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
    let key_id_len = body[20] as usize;
    assert_eq!(
        key_id_len, 65,
        "the key id is the sender's uncompressed key"
    );
    let as_public = PublicKey::from_sec1_bytes(&body[21..21 + key_id_len]).unwrap();
    let record = &body[21 + key_id_len..];
    assert!(record.len() <= record_size, "one record only");

    let ua_public = ua_private.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(ua_private.to_nonzero_scalar(), as_public.as_affine());
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public.to_encoded_point(false).as_bytes());
    let mut ikm = [0_u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .unwrap();
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0_u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    let mut nonce = [0_u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .unwrap();

    let mut plain = Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(&Nonce::from(nonce), record)
        .ok()?;
    let end = plain
        .iter()
        .rposition(|&b| b != 0)
        .expect("a record has a delimiter");
    assert_eq!(plain[end], 2, "the last record's delimiter");
    plain.truncate(end);
    Some(plain)
}

#[derive(Debug, Deserialize)]
struct VapidClaims {
    aud: String,
    exp: i64,
    sub: String,
}

/// Checks `Authorization: vapid t=<jwt>, k=<key>` against `key` and the
/// `audience`, and answers the token's claims.
fn check_vapid(authorization: &str, key: &str, audience: &str) -> VapidClaims {
    let params = authorization
        .strip_prefix("vapid ")
        .expect("the vapid scheme");
    let mut token = None;
    let mut public = None;
    for param in params.split(',') {
        match param.trim().split_once('=') {
            Some(("t", value)) => token = Some(value),
            Some(("k", value)) => public = Some(value),
            other => panic!("unexpected parameter {other:?}"),
        }
    }
    let (token, public) = (token.expect("t="), public.expect("k="));
    assert_eq!(public, key, "k= is the sender's public key");

    let point = URL_SAFE_NO_PAD.decode(public).unwrap();
    assert_eq!((point.len(), point[0]), (65, 4));
    let decoding = DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..]),
    )
    .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<VapidClaims>(token, &decoding, &validation)
        .expect("the VAPID token verifies with k=");
    assert_eq!(data.header.alg, Algorithm::ES256);
    assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    data.claims
}

fn sender() -> WebPush {
    let (private, _public) = generate_vapid_keys();
    WebPush::new(&private, SUBJECT).unwrap().allow_plain_http()
}

#[actix_web::test]
async fn a_push_reaches_the_browser_signed_and_encrypted_for_it() {
    let service = PushService::spawn(201);
    let push = sender();
    let browser = Browser::new();
    let subscription = browser.subscription(format!("{}/push/sub-1", service.origin));
    let payload = br#"{"kind":"outbid","lot":"lot-7","amount":{"minor":1250,"currency":"SGD"}}"#;

    push.send(&subscription, payload, 3600).await.unwrap();

    let received = service.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.path, "/push/sub-1");
    assert_eq!(request.content_encoding.as_deref(), Some("aes128gcm"));
    assert_eq!(request.ttl.as_deref(), Some("3600"));

    let claims = check_vapid(
        request
            .authorization
            .as_deref()
            .expect("an Authorization header"),
        &push.public_key(),
        &service.origin,
    );
    assert_eq!(
        claims.aud, service.origin,
        "the audience is the endpoint's origin"
    );
    assert_eq!(claims.sub, SUBJECT);
    let now = chrono::Utc::now().timestamp();
    assert!(claims.exp > now, "the token is valid now");
    assert!(claims.exp <= now + 24 * 60 * 60, "and for at most 24 hours");

    assert_eq!(&request.body[16..20], &4096_u32.to_be_bytes());
    assert_eq!(browser.decrypt(&request.body), payload);

    // Another browser cannot read it.
    let stranger = Browser::new();
    assert_eq!(
        decrypt(&stranger.private, &stranger.auth, &request.body),
        None
    );
    assert_eq!(
        decrypt(&browser.private, &stranger.auth, &request.body),
        None
    );
}

#[actix_web::test]
async fn each_push_is_encrypted_afresh() {
    let service = PushService::spawn(201);
    let push = sender();
    let browser = Browser::new();
    let subscription = browser.subscription(format!("{}/push/sub-2", service.origin));

    push.send(&subscription, b"same words", 0).await.unwrap();
    push.send(&subscription, b"same words", 0).await.unwrap();
    push.send(&subscription, b"", 0).await.unwrap();

    let received = service.received();
    assert_eq!(received.len(), 3);
    assert_ne!(received[0].body, received[1].body);
    assert_ne!(
        received[0].body[..16],
        received[1].body[..16],
        "a fresh salt"
    );
    assert_ne!(
        received[0].body[21..86],
        received[1].body[21..86],
        "a fresh key"
    );
    assert_eq!(received[0].ttl.as_deref(), Some("0"));
    for request in &received[..2] {
        assert_eq!(browser.decrypt(&request.body), b"same words");
    }
    assert_eq!(browser.decrypt(&received[2].body), b"");
}

#[test]
fn the_browser_side_reads_the_rfc_8291_example() {
    // The decryption above, held to RFC 8291 Appendix A.
    let ua_private = SecretKey::from_slice(
        &URL_SAFE_NO_PAD
            .decode("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")
            .unwrap(),
    )
    .unwrap();
    let auth: [u8; 16] = URL_SAFE_NO_PAD
        .decode("BTBZMqHH6r4Tts7J_aSIgg")
        .unwrap()
        .try_into()
        .unwrap();
    let body = URL_SAFE_NO_PAD
        .decode(
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
        )
        .unwrap();
    assert_eq!(
        decrypt(&ua_private, &auth, &body).unwrap(),
        b"When I grow up, I want to be a watermelon"
    );
}

#[actix_web::test]
async fn a_gone_subscription_says_so() {
    let service = PushService::spawn(410);
    let push = sender();
    let subscription = Browser::new().subscription(format!("{}/push/old", service.origin));

    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert_eq!(error, PushError::Gone { status: 410 });

    service.answer_with(404, None);
    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert_eq!(error, PushError::Gone { status: 404 });
}

#[actix_web::test]
async fn an_overloaded_push_service_is_worth_a_retry() {
    let service = PushService::spawn(503);
    let push = sender();
    let subscription = Browser::new().subscription(format!("{}/push/busy", service.origin));

    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(error, PushError::Retryable { retry_after: None, ref reason } if reason.contains("503")),
        "{error:?}"
    );

    service.answer_with(429, Some(30));
    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Retryable {
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(30)
        ),
        "{error:?}"
    );
}

#[actix_web::test]
async fn a_refused_push_is_not_retried() {
    let service = PushService::spawn(400);
    let push = sender();
    let subscription = Browser::new().subscription(format!("{}/push/bad", service.origin));

    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(error, PushError::Rejected { status: Some(400), ref reason } if reason.contains("answered 400")),
        "{error:?}"
    );
    service.answer_with(403, None);
    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Rejected {
                status: Some(403),
                ..
            }
        ),
        "{error:?}"
    );
}

#[actix_web::test]
async fn an_unreachable_push_service_is_worth_a_retry() {
    // Nothing listens on it.
    let port = crate::helpers::free_port();
    let push = sender();
    let subscription = Browser::new().subscription(format!("http://127.0.0.1:{port}/push/x"));

    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(
            error,
            PushError::Retryable {
                retry_after: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[actix_web::test]
async fn a_subscription_that_cannot_be_used_is_refused_before_sending() {
    let service = PushService::spawn(201);
    let browser = Browser::new();
    let mut subscription = browser.subscription(format!("{}/push/x", service.origin));

    // Plain http is for stand-ins only.
    let (private, _) = generate_vapid_keys();
    let strict = WebPush::new(&private, SUBJECT).unwrap();
    let error = strict.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(error, PushError::Rejected { status: None, .. }),
        "{error:?}"
    );

    let push = sender();
    subscription.auth = URL_SAFE_NO_PAD.encode([1_u8; 8]);
    let error = push.send(&subscription, b"hello", 60).await.unwrap_err();
    assert!(
        matches!(error, PushError::Rejected { status: None, .. }),
        "{error:?}"
    );

    let error = push
        .send(
            &browser.subscription(format!("{}/push/x", service.origin)),
            &[b'x'; 4000],
            60,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, PushError::Rejected { status: None, .. }),
        "{error:?}"
    );
    assert!(service.received().is_empty());
}
