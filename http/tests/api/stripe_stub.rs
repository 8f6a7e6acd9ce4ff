//! A stand-in for Stripe's HTTP API on 127.0.0.1, enough for the real
//! `async-stripe` client: PaymentIntents (create, with idempotency keys;
//! retrieve) and refunds, form-encoded requests and JSON answers as Stripe
//! sends them. Also signs webhooks as Stripe does.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_blytz";
pub const WEBHOOK_SECRET: &str = "whsec_blytz_test";

/// What the stand-in saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Intents by id.
    pub intents: HashMap<String, Value>,
    /// Intent id by idempotency key.
    pub by_key: HashMap<String, String>,
    /// Every create request's form fields.
    pub creates: Vec<HashMap<String, String>>,
    /// Every refund request's form fields.
    pub refunds: Vec<HashMap<String, String>>,
    /// Authorization headers seen.
    pub auth: Vec<String>,
}

pub struct StripeStub {
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
}

fn intent_json(id: &str, form: &HashMap<String, String>) -> Value {
    let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut metadata = serde_json::Map::new();
    for (k, v) in form {
        if let Some(key) = k
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            metadata.insert(key.to_owned(), Value::from(v.clone()));
        }
    }
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_test"),
        "confirmation_method": "automatic",
        "created": 1_700_000_000,
        "currency": form.get("currency").cloned().unwrap_or_else(|| "usd".into()),
        "livemode": false,
        "metadata": metadata,
        "payment_method_types": ["card"],
        "status": "requires_payment_method",
    })
}

async fn create_intent(
    seen: web::Data<Arc<Mutex<Seen>>>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    if let Some(auth) = req.headers().get("authorization") {
        seen.auth.push(auth.to_str().unwrap_or_default().to_owned());
    }
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|k| k.to_str().ok())
        .map(str::to_owned);
    let form = form.into_inner();
    seen.creates.push(form.clone());
    if let Some(existing) = key.as_ref().and_then(|k| seen.by_key.get(k)).cloned() {
        return HttpResponse::Ok().json(&seen.intents[&existing]);
    }
    let id = format!("pi_test_{}", seen.intents.len() + 1);
    let intent = intent_json(&id, &form);
    seen.intents.insert(id.clone(), intent.clone());
    if let Some(key) = key {
        seen.by_key.insert(key, id);
    }
    HttpResponse::Ok().json(intent)
}

async fn get_intent(seen: web::Data<Arc<Mutex<Seen>>>, id: web::Path<String>) -> HttpResponse {
    match seen.lock().unwrap().intents.get(id.as_str()) {
        Some(intent) => HttpResponse::Ok().json(intent),
        None => HttpResponse::NotFound().json(json!({"error": {
            "type": "invalid_request_error", "message": "No such payment_intent"}})),
    }
}

async fn create_refund(
    seen: web::Data<Arc<Mutex<Seen>>>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let form = form.into_inner();
    seen.refunds.push(form.clone());
    let n = seen.refunds.len();
    HttpResponse::Ok().json(json!({
        "id": format!("re_test_{n}"),
        "object": "refund",
        "amount": 0,
        "created": 1_700_000_000,
        "currency": "usd",
        "payment_intent": form.get("payment_intent"),
        "status": "succeeded",
    }))
}

/// Start the stand-in on a free port.
pub fn spawn() -> StripeStub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let data = web::Data::new(Arc::clone(&seen));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/payment_intents", web::post().to(create_intent))
            .route("/v1/payment_intents/{id}", web::get().to(get_intent))
            .route("/v1/refunds", web::post().to(create_refund))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    StripeStub {
        base: format!("http://127.0.0.1:{port}/"),
        seen,
    }
}

/// The `Stripe-Signature` header Stripe would send for `payload` at unix time `t`.
pub fn signature(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// A Stripe event body.
pub fn event(id: &str, kind: &str, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": kind,
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": object},
    })
    .to_string()
}
