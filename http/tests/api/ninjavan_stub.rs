//! A stand-in for Ninja Van's HTTP API on 127.0.0.1, enough for the real
//! `NinjaVan` carrier: the OAuth client-credentials token
//! (`POST /{country}/2.0/oauth/access_token`), order creation
//! (`POST /{country}/4.2/orders`, idempotent on `requested_tracking_number`),
//! the waybill (`GET /{country}/2.0/reports/waybill?tids=...`, a PDF) and
//! cancellation (`DELETE /{country}/2.2/orders/{tracking}`), with Ninja
//! Van's JSON error bodies. Every API call needs a bearer token it issued
//! and that has not expired. Also signs tracking webhooks as Ninja Van does.
//!
//! Test controls: [`NinjaVanStub::set_token_ttl`] (tokens expire after so
//! many seconds), [`NinjaVanStub::set_token_delay`] (the token endpoint
//! answers that much later), [`NinjaVanStub::revoke_tokens`] (every token
//! issued so far answers 401), [`NinjaVanStub::fail_next`] (the next API
//! call answers that status). A destination postcode of
//! [`UNSERVICEABLE_POSTCODE`] is refused as Ninja Van refuses an address.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use blytz::commerce::shipping::ninjavan::NinjaVanSettings;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

pub const CLIENT_ID: &str = "nv-client-blytz";
pub const CLIENT_SECRET: &str = "nv-client-secret-blytz";
pub const WEBHOOK_SECRET: &str = "nv-webhook-secret-blytz";
pub const COUNTRY: &str = "sg";
/// A destination postcode the stand-in refuses as not serviceable.
pub const UNSERVICEABLE_POSTCODE: &str = "999999";
/// The stand-in's PDF waybills start with this.
pub const PDF_MAGIC: &[u8] = b"%PDF-1.4";

/// What the stand-in saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// The JSON body of every token request.
    pub token_requests: Vec<Value>,
    /// The JSON body of every order request, booked or not.
    pub order_requests: Vec<Value>,
    /// The orders booked, each as its request body plus `tracking_number`.
    pub orders: Vec<Value>,
    /// The tracking numbers of every waybill request.
    pub labels: Vec<String>,
    /// The tracking numbers of every cancellation.
    pub cancellations: Vec<String>,
    /// How many API calls were answered 401 (no, unknown, expired or
    /// revoked token).
    pub unauthorized: usize,
}

/// The stand-in's own state and the test controls.
#[derive(Debug)]
struct Control {
    token_ttl_secs: u64,
    token_delay: Duration,
    /// Token -> when it expires.
    issued: HashMap<String, Instant>,
    revoked: HashSet<String>,
    /// Requested tracking number -> index in `Seen::orders`.
    by_requested: HashMap<String, usize>,
    cancelled: HashSet<String>,
    fail_next: Option<u16>,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Seen>>,
    control: Arc<Mutex<Control>>,
}

pub struct NinjaVanStub {
    /// The API base, e.g. `http://127.0.0.1:4321` (without the country).
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
    control: Arc<Mutex<Control>>,
}

impl NinjaVanStub {
    /// Settings of the carrier pointed at this stand-in.
    pub fn settings(&self) -> NinjaVanSettings {
        NinjaVanSettings {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            country: COUNTRY.into(),
            api_base: self.base.clone(),
            webhook_secret: SecretString::from(WEBHOOK_SECRET),
        }
    }

    /// Settings of a carrier that only reads webhooks (no stand-in runs).
    pub fn offline_settings() -> NinjaVanSettings {
        NinjaVanSettings {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            country: COUNTRY.into(),
            api_base: "http://127.0.0.1:9".into(),
            webhook_secret: SecretString::from(WEBHOOK_SECRET),
        }
    }

    /// Tokens issued from now on expire after `secs` seconds (default 60).
    pub fn set_token_ttl(&self, secs: u64) {
        self.control.lock().unwrap().token_ttl_secs = secs;
    }

    /// The token endpoint answers `delay` late (default at once).
    pub fn set_token_delay(&self, delay: Duration) {
        self.control.lock().unwrap().token_delay = delay;
    }

    /// Every token issued so far is refused from now on.
    pub fn revoke_tokens(&self) {
        let mut control = self.control.lock().unwrap();
        let issued: Vec<String> = control.issued.keys().cloned().collect();
        control.revoked.extend(issued);
    }

    /// The next API call (after its token is checked) answers `status`.
    pub fn fail_next(&self, status: u16) {
        self.control.lock().unwrap().fail_next = Some(status);
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

/// Ninja Van's error body.
fn error(status: u16, title: &str, message: &str, details: Value) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap();
    HttpResponse::build(status).json(json!({"error": {
        "code": format!("{}", status.as_u16() * 10),
        "request_id": uuid::Uuid::now_v7().to_string(),
        "title": title,
        "message": message,
        "details": details,
    }}))
}

/// The 404 for a path of another country than the stand-in's.
fn wrong_country(country: &str) -> Option<HttpResponse> {
    (country != COUNTRY).then(|| error(404, "Not Found", "no such country", json!([])))
}

/// The answer to an API call that fails the checks every call passes: the
/// country, a live bearer token this stand-in issued, no failure asked for.
fn refusal(shared: &Shared, req: &HttpRequest, country: &str) -> Option<HttpResponse> {
    if let Some(response) = wrong_country(country) {
        return Some(response);
    }
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let (live, fail) = {
        let mut control = shared.control.lock().unwrap();
        let live = control
            .issued
            .get(&token)
            .is_some_and(|expires| Instant::now() < *expires)
            && !control.revoked.contains(&token);
        (live, if live { control.fail_next.take() } else { None })
    };
    if !live {
        shared.seen.lock().unwrap().unauthorized += 1;
        return Some(error(
            401,
            "Unauthorized",
            "the access token is missing, invalid or expired",
            json!([]),
        ));
    }
    fail.map(|status| error(status, "Server Error", "something broke", json!([])))
}

async fn access_token(
    shared: web::Data<Shared>,
    country: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(response) = wrong_country(&country) {
        return response;
    }
    let body = body.into_inner();
    shared
        .seen
        .lock()
        .unwrap()
        .token_requests
        .push(body.clone());
    let delay = shared.control.lock().unwrap().token_delay;
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    if body["grant_type"] != "client_credentials"
        || body["client_id"] != CLIENT_ID
        || body["client_secret"] != CLIENT_SECRET
    {
        return error(
            400,
            "Invalid client",
            "the client id or secret is invalid",
            json!([]),
        );
    }
    let mut control = shared.control.lock().unwrap();
    let ttl = control.token_ttl_secs;
    let token = format!("nvtoken{}", uuid::Uuid::now_v7().simple());
    control
        .issued
        .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    HttpResponse::Ok().json(json!({
        "access_token": token,
        "expires": chrono::Utc::now().timestamp() + ttl as i64,
        "expires_in": ttl,
        "token_type": "bearer",
    }))
}

/// What the order API requires of a contact, as `(field, message)` faults.
fn contact_faults(side: &str, contact: &Value) -> Vec<(String, &'static str)> {
    let mut faults = Vec::new();
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());
    if !text(&contact["name"]) {
        faults.push((format!("{side}.name"), "is required"));
    }
    if !text(&contact["phone_number"]) && !text(&contact["email"]) {
        faults.push((
            format!("{side}.phone_number"),
            "phone_number or email is required",
        ));
    }
    if !text(&contact["address"]["address1"]) {
        faults.push((format!("{side}.address.address1"), "is required"));
    }
    if !text(&contact["address"]["country"]) {
        faults.push((format!("{side}.address.country"), "is required"));
    }
    faults
}

fn order_faults(body: &Value) -> Vec<(String, &'static str)> {
    let mut faults = Vec::new();
    for field in ["service_type", "service_level"] {
        if !body[field].is_string() {
            faults.push((field.to_owned(), "is required"));
        }
    }
    faults.extend(contact_faults("from", &body["from"]));
    faults.extend(contact_faults("to", &body["to"]));
    let job = &body["parcel_job"];
    if !job["is_pickup_required"].is_boolean() {
        faults.push(("parcel_job.is_pickup_required".into(), "is required"));
    }
    if job["is_pickup_required"] == true {
        for field in ["pickup_date", "pickup_timeslot", "pickup_approx_volume"] {
            if job[field].is_null() {
                faults.push((
                    format!("parcel_job.{field}"),
                    "is required for a scheduled pickup",
                ));
            }
        }
    }
    for field in ["delivery_start_date", "delivery_timeslot"] {
        if job[field].is_null() {
            faults.push((format!("parcel_job.{field}"), "is required"));
        }
    }
    for slot in ["pickup_timeslot", "delivery_timeslot"] {
        let slot = &job[slot];
        let complete = slot["start_time"].is_string() && slot["end_time"].is_string();
        if !(slot.is_null() || complete) {
            faults.push((
                "parcel_job.timeslot".into(),
                "needs start_time and end_time",
            ));
        }
    }
    if let Some(rtn) = body["requested_tracking_number"].as_str() {
        let ok = !rtn.is_empty()
            && !rtn.starts_with('-')
            && !rtn.ends_with('-')
            && !rtn.contains("--")
            && rtn.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            faults.push((
                "requested_tracking_number".into(),
                "does not match the pattern",
            ));
        }
    }
    if body["to"]["address"]["postcode"] == UNSERVICEABLE_POSTCODE {
        faults.push(("to.address.postcode".into(), "is not serviceable"));
    }
    faults
}

async fn create_order(
    shared: web::Data<Shared>,
    req: HttpRequest,
    country: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(response) = refusal(&shared, &req, &country) {
        return response;
    }
    let body = body.into_inner();
    let mut seen = shared.seen.lock().unwrap();
    seen.order_requests.push(body.clone());
    let faults = order_faults(&body);
    if !faults.is_empty() {
        let details: Vec<Value> = faults
            .iter()
            .map(|(field, message)| json!({"field": field, "message": message, "reason": "INVALID_FIELD"}))
            .collect();
        return error(
            400,
            "Request failed",
            "Validation failed",
            Value::from(details),
        );
    }
    let mut control = shared.control.lock().unwrap();
    let requested = body["requested_tracking_number"]
        .as_str()
        .map(str::to_owned);
    if let Some(index) = requested.as_ref().and_then(|r| control.by_requested.get(r)) {
        return HttpResponse::Ok().json(&seen.orders[*index]);
    }
    let tracking_number = match &requested {
        Some(rtn) => format!("NVSGBLZ{rtn}"),
        None => format!("NVSGBLZ{:09}", seen.orders.len() + 1),
    };
    let mut order = body;
    order["tracking_number"] = Value::from(tracking_number);
    order["status"] = Value::from("Pending");
    if let Some(rtn) = requested {
        control.by_requested.insert(rtn, seen.orders.len());
    }
    seen.orders.push(order.clone());
    HttpResponse::Ok().json(order)
}

fn booked(seen: &Seen, tracking_number: &str) -> bool {
    seen.orders
        .iter()
        .any(|o| o["tracking_number"] == tracking_number)
}

/// A small document that reads as a PDF.
fn pdf(tracking_number: &str) -> Vec<u8> {
    let mut doc = PDF_MAGIC.to_vec();
    doc.extend_from_slice(
        format!(
            "\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
             2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
             % waybill {tracking_number}\n\
             trailer << /Root 1 0 R >>\n%%EOF\n"
        )
        .as_bytes(),
    );
    doc
}

async fn waybill(
    shared: web::Data<Shared>,
    req: HttpRequest,
    country: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if let Some(response) = refusal(&shared, &req, &country) {
        return response;
    }
    let Some(tids) = query.get("tids").filter(|t| !t.is_empty()) else {
        return error(400, "Request failed", "tids is required", json!([]));
    };
    let mut seen = shared.seen.lock().unwrap();
    seen.labels.push(tids.clone());
    if !booked(&seen, tids) {
        return error(
            404,
            "Not Found",
            "no order has this tracking number",
            json!([]),
        );
    }
    HttpResponse::Ok()
        .content_type("application/pdf")
        .body(pdf(tids))
}

async fn cancel_order(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (country, tracking_number) = path.into_inner();
    if let Some(response) = refusal(&shared, &req, &country) {
        return response;
    }
    let mut seen = shared.seen.lock().unwrap();
    seen.cancellations.push(tracking_number.clone());
    if !booked(&seen, &tracking_number) {
        return error(
            404,
            "Not Found",
            "no order has this tracking number",
            json!([]),
        );
    }
    let mut control = shared.control.lock().unwrap();
    if !control.cancelled.insert(tracking_number.clone()) {
        return error(
            400,
            "Request failed",
            "the order is already cancelled",
            json!([]),
        );
    }
    HttpResponse::Ok().json(json!({
        "trackingId": tracking_number,
        "status": "Cancelled",
        "updatedAt": chrono::Utc::now().to_rfc3339(),
    }))
}

/// Start the stand-in on a free port.
pub fn spawn() -> NinjaVanStub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let control = Arc::new(Mutex::new(Control {
        token_ttl_secs: 60,
        token_delay: Duration::ZERO,
        issued: HashMap::new(),
        revoked: HashSet::new(),
        by_requested: HashMap::new(),
        cancelled: HashSet::new(),
        fail_next: None,
    }));
    let data = web::Data::new(Shared {
        seen: Arc::clone(&seen),
        control: Arc::clone(&control),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/{country}/2.0/oauth/access_token",
                web::post().to(access_token),
            )
            .route("/{country}/4.2/orders", web::post().to(create_order))
            .route("/{country}/2.0/reports/waybill", web::get().to(waybill))
            .route(
                "/{country}/2.2/orders/{tracking}",
                web::delete().to(cancel_order),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    NinjaVanStub {
        base: format!("http://127.0.0.1:{port}"),
        seen,
        control,
    }
}

/// The `X-Ninjavan-Hmac-Sha256` header Ninja Van would send for `body`.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A tracking webhook body (version 2) for `tracking_number` at the step
/// `event`, e.g. `Delivered, Received by Customer` (its `status` is the
/// words before the comma, `Delivered`).
pub fn tracking_event(tracking_number: &str, event: &str) -> String {
    let status = event.split(',').next().unwrap_or(event).trim();
    json!({
        "shipper_id": 12345,
        "tracking_id": tracking_number,
        "shipper_order_ref_no": "blytz",
        "timestamp": "2024-03-05T14:02:11+0800",
        "event": event,
        "status": status,
        "is_parcel_on_rts_leg": false,
    })
    .to_string()
}

/// A tracking webhook body (version 1), which carries its own `id`.
pub fn tracking_event_v1(tracking_number: &str, status: &str, id: &str) -> String {
    json!({
        "shipper_id": 12345,
        "status": status,
        "shipper_ref_no": "blytz",
        "tracking_ref_no": "blytz",
        "shipper_order_ref_no": "blytz",
        "timestamp": "2024-03-05T14:02:11+0800",
        "id": id,
        "previous_status": "On Vehicle for Delivery",
        "tracking_id": tracking_number,
        "comments": "SG-Singapore",
    })
    .to_string()
}
