//! A stand-in for Stripe's HTTP API on 127.0.0.1, enough for the real
//! `async-stripe` client: PaymentIntents (create, on-session or confirmed
//! off-session with a saved card; retrieve; list by customer), refunds,
//! customers, setup intents, payment methods (retrieve, detach), Connect
//! accounts, account links, transfers and transfer reversals. Requests are
//! form-encoded, answers JSON as Stripe sends them; every create answers the
//! same object again for the same idempotency key (a decline too). Tests
//! play the browser and Stripe's side with the control functions
//! (`complete_setup`, `set_card_behaviour`, `enable_payouts`) and build
//! webhook bodies from the stand-in's objects. Also signs webhooks as Stripe
//! does.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_blytz";
pub const WEBHOOK_SECRET: &str = "whsec_blytz_test";

/// When every object of the stand-in was made.
const CREATED: i64 = 1_700_000_000;

/// What one request to the stand-in carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The request's path, e.g. `/v1/transfers/tr_test_1/reversals`.
    pub path: String,
    /// Its form fields, e.g. `metadata[order_id]`.
    pub form: HashMap<String, String>,
    /// Its `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
}

/// How a saved card answers an off-session charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehaviour {
    /// The charge succeeds.
    Succeeds,
    /// 402 `card_declined` (decline code `generic_decline`).
    Declines,
    /// 402 `authentication_required`.
    NeedsAuthentication,
}

/// What the stand-in saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Intents by id (on-session ones and off-session charges).
    pub intents: HashMap<String, Value>,
    /// Intent id by idempotency key.
    pub by_key: HashMap<String, String>,
    /// Every payment intent create request's form fields (charges too).
    pub creates: Vec<HashMap<String, String>>,
    /// Every refund request's form fields.
    pub refunds: Vec<HashMap<String, String>>,
    /// Authorization headers seen, one per request.
    pub auth: Vec<String>,
    /// Every `POST /v1/customers`.
    pub customers: Vec<Received>,
    /// Every `POST /v1/setup_intents`.
    pub setup_intents: Vec<Received>,
    /// Every `POST /v1/payment_intents` with `confirm=true` (off-session charges).
    pub charges: Vec<Received>,
    /// Every `POST /v1/refunds` (the same form fields as `refunds`, with the key).
    pub refund_requests: Vec<Received>,
    /// The payment method of every `POST /v1/payment_methods/{id}/detach`.
    pub detached: Vec<String>,
    /// Every `POST /v1/accounts`.
    pub accounts: Vec<Received>,
    /// Every `POST /v1/account_links`.
    pub account_links: Vec<Received>,
    /// Every `POST /v1/transfers`.
    pub transfers: Vec<Received>,
    /// Every `POST /v1/transfers/{id}/reversals` (`path` names the transfer).
    pub reversals: Vec<Received>,
    /// Every other object the stand-in made, by id: customers (`cus_`), setup
    /// intents (`seti_`), payment methods (`pm_`), refunds (`re_`), accounts
    /// (`acct_`), transfers (`tr_`) and reversals (`trr_`).
    pub objects: HashMap<String, Value>,
    /// How each saved card answers a charge.
    pub cards: HashMap<String, CardBehaviour>,
    /// The answer (status, body) to each create, by path and idempotency key.
    replies: HashMap<(String, String), (u16, Value)>,
    /// How many objects of each id prefix were made.
    counters: HashMap<&'static str, usize>,
}

impl Seen {
    fn next_id(&mut self, prefix: &'static str) -> String {
        let n = self.counters.entry(prefix).or_insert(0);
        *n += 1;
        format!("{prefix}_test_{n}")
    }

    fn object(&self, id: &str) -> Option<&Value> {
        self.objects.get(id)
    }
}

type Shared = web::Data<Arc<Mutex<Seen>>>;
type Form = web::Form<HashMap<String, String>>;

pub struct StripeStub {
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl StripeStub {
    /// What the browser and Stripe do when a buyer saves a card: a payment
    /// method (`pm_...`) of `brand`, `last4` and expiry, attached to the setup
    /// intent's customer, answering charges as `behaviour` says; the setup
    /// intent becomes `succeeded` with it. Answers the payment method's id.
    pub fn complete_setup(
        &self,
        setup_intent_id: &str,
        brand: &str,
        last4: &str,
        exp_month: i64,
        exp_year: i64,
        behaviour: CardBehaviour,
    ) -> String {
        let mut seen = self.seen.lock().unwrap();
        let customer = seen
            .objects
            .get(setup_intent_id)
            .unwrap_or_else(|| panic!("no setup intent {setup_intent_id}"))["customer"]
            .clone();
        let id = seen.next_id("pm");
        let method = json!({
            "id": id,
            "object": "payment_method",
            "billing_details": {"address": null, "email": null, "name": null, "phone": null},
            "card": {
                "brand": brand,
                "checks": null,
                "country": "US",
                "exp_month": exp_month,
                "exp_year": exp_year,
                "funding": "credit",
                "last4": last4,
                "networks": {"available": [brand], "preferred": null},
                "three_d_secure_usage": {"supported": true},
                "wallet": null,
            },
            "created": CREATED,
            "customer": customer,
            "livemode": false,
            "metadata": {},
            "type": "card",
        });
        seen.objects.insert(id.clone(), method);
        seen.cards.insert(id.clone(), behaviour);
        let intent = seen.objects.get_mut(setup_intent_id).unwrap();
        intent["status"] = json!("succeeded");
        intent["payment_method"] = json!(id);
        id
    }

    /// From now on the saved card `payment_method` answers charges as `behaviour` says.
    pub fn set_card_behaviour(&self, payment_method: &str, behaviour: CardBehaviour) {
        let mut seen = self.seen.lock().unwrap();
        assert!(
            seen.objects.contains_key(payment_method),
            "no payment method {payment_method}"
        );
        seen.cards.insert(payment_method.to_owned(), behaviour);
    }

    /// The seller finished onboarding: the account's details are submitted,
    /// its charges and payouts enabled, its capabilities active.
    pub fn enable_payouts(&self, account_id: &str) {
        let mut seen = self.seen.lock().unwrap();
        let account = seen
            .objects
            .get_mut(account_id)
            .unwrap_or_else(|| panic!("no account {account_id}"));
        account["payouts_enabled"] = json!(true);
        account["charges_enabled"] = json!(true);
        account["details_submitted"] = json!(true);
        account["capabilities"] = json!({"card_payments": "active", "transfers": "active"});
    }

    /// The body of a `setup_intent.succeeded` event `event_id` about the
    /// setup intent as the stand-in has it now.
    pub fn setup_intent_succeeded_event(&self, event_id: &str, setup_intent_id: &str) -> String {
        let seen = self.seen.lock().unwrap();
        let intent = seen
            .object(setup_intent_id)
            .unwrap_or_else(|| panic!("no setup intent {setup_intent_id}"));
        event(event_id, "setup_intent.succeeded", intent.clone())
    }

    /// The body of an `account.updated` event `event_id` about the account as
    /// the stand-in has it now.
    pub fn account_updated_event(&self, event_id: &str, account_id: &str) -> String {
        let seen = self.seen.lock().unwrap();
        let account = seen
            .object(account_id)
            .unwrap_or_else(|| panic!("no account {account_id}"));
        event(event_id, "account.updated", account.clone())
    }
}

/// Note the request's authorization; what it carried.
fn receive(seen: &mut Seen, req: &HttpRequest, form: HashMap<String, String>) -> Received {
    note_auth(seen, req);
    Received {
        path: req.path().to_owned(),
        form,
        idempotency_key: req
            .headers()
            .get("idempotency-key")
            .and_then(|k| k.to_str().ok())
            .map(str::to_owned),
    }
}

fn note_auth(seen: &mut Seen, req: &HttpRequest) {
    if let Some(auth) = req.headers().get("authorization") {
        seen.auth.push(auth.to_str().unwrap_or_default().to_owned());
    }
}

fn reply_key(received: &Received) -> Option<(String, String)> {
    received
        .idempotency_key
        .clone()
        .map(|key| (received.path.clone(), key))
}

/// The answer given before to the same create with the same key.
fn replay(seen: &Seen, received: &Received) -> Option<HttpResponse> {
    let (status, body) = seen.replies.get(&reply_key(received)?)?;
    Some(respond(*status, body.clone()))
}

/// Answer `body` with `status`, remembered for the request's key.
fn answer(seen: &mut Seen, received: &Received, status: u16, body: Value) -> HttpResponse {
    if let Some(key) = reply_key(received) {
        seen.replies.insert(key, (status, body.clone()));
    }
    respond(status, body)
}

fn respond(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(body)
}

fn missing(what: &str, id: &str) -> HttpResponse {
    respond(
        404,
        json!({"error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": format!("No such {what}: '{id}'"),
        }}),
    )
}

fn invalid(message: String) -> HttpResponse {
    respond(
        400,
        json!({"error": {"type": "invalid_request_error", "message": message}}),
    )
}

fn metadata(form: &HashMap<String, String>) -> Value {
    let mut metadata = serde_json::Map::new();
    for (k, v) in form {
        if let Some(key) = k
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            metadata.insert(key.to_owned(), Value::from(v.clone()));
        }
    }
    Value::Object(metadata)
}

fn amount(form: &HashMap<String, String>) -> Option<i64> {
    form.get("amount").and_then(|a| a.parse().ok())
}

fn currency(form: &HashMap<String, String>) -> String {
    form.get("currency")
        .cloned()
        .unwrap_or_else(|| "usd".into())
}

fn intent_json(id: &str, form: &HashMap<String, String>) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount(form).unwrap_or(0),
        "amount_capturable": 0,
        "amount_received": 0,
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_test"),
        "confirmation_method": "automatic",
        "created": CREATED,
        "currency": currency(form),
        "customer": form.get("customer"),
        "livemode": false,
        "metadata": metadata(form),
        "payment_method": form.get("payment_method"),
        "payment_method_types": ["card"],
        "status": "requires_payment_method",
        "transfer_group": form.get("transfer_group"),
    })
}

async fn create_intent(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    let form = received.form.clone();
    seen.creates.push(form.clone());
    let confirm = form.get("confirm").is_some_and(|c| c == "true");
    if confirm {
        seen.charges.push(received.clone());
    }
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let mut intent = intent_json(&format!("pi_test_{}", seen.intents.len() + 1), &form);
    let (status, body) = if confirm {
        match charge(&seen, &form, &mut intent) {
            Ok(status) => (status, intent.clone()),
            Err(error) => (error.0, error.1),
        }
    } else {
        (200, intent.clone())
    };
    if status == 400 {
        // Stripe makes no intent of a request it does not take.
        return answer(&mut seen, &received, status, body);
    }
    let id = intent["id"].as_str().unwrap().to_owned();
    seen.intents.insert(id.clone(), intent);
    if let Some(key) = &received.idempotency_key {
        seen.by_key.insert(key.clone(), id);
    }
    answer(&mut seen, &received, status, body)
}

/// Confirm `intent` off-session with its saved card: its status, or the
/// error answered (status, body).
fn charge(
    seen: &Seen,
    form: &HashMap<String, String>,
    intent: &mut Value,
) -> Result<u16, (u16, Value)> {
    let pm_id = form.get("payment_method").cloned().unwrap_or_default();
    let Some(method) = seen.object(&pm_id).filter(|_| pm_id.starts_with("pm_")) else {
        let body = json!({"error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "payment_method",
            "message": format!("No such PaymentMethod: '{pm_id}'"),
        }});
        return Err((400, body));
    };
    if method["customer"].as_str() != form.get("customer").map(String::as_str) {
        return Err((
            400,
            json!({"error": {
                "type": "invalid_request_error",
                "message": format!(
                    "The provided PaymentMethod {pm_id} does not belong to the Customer"),
            }}),
        ));
    }
    let (code, message) = match seen.cards.get(&pm_id) {
        None | Some(CardBehaviour::Succeeds) => {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = intent["amount"].clone();
            return Ok(200);
        }
        Some(CardBehaviour::Declines) => ("card_declined", "Your card was declined."),
        Some(CardBehaviour::NeedsAuthentication) => (
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        ),
    };
    let decline_code = (code == "card_declined").then_some("generic_decline");
    // A failed attempt leaves the intent waiting for another payment method.
    intent["status"] = json!("requires_payment_method");
    intent["payment_method"] = Value::Null;
    intent["last_payment_error"] = json!({
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "payment_method": method,
    });
    let body = json!({"error": {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "payment_intent": intent.clone(),
        "payment_method": method,
    }});
    Err((402, body))
}

async fn get_intent(seen: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    note_auth(&mut seen, &req);
    match seen.intents.get(id.as_str()) {
        Some(intent) => HttpResponse::Ok().json(intent),
        None => missing("payment_intent", &id),
    }
}

/// `GET /v1/payment_intents?customer=...&limit=...`: newest first.
async fn list_intents(
    seen: Shared,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    note_auth(&mut seen, &req);
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    let mut intents: Vec<&Value> = seen
        .intents
        .values()
        .filter(|i| {
            query
                .get("customer")
                .is_none_or(|c| i["customer"].as_str() == Some(c))
        })
        .collect();
    let number = |i: &Value| {
        i["id"]
            .as_str()
            .and_then(|id| id.strip_prefix("pi_test_"))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    intents.sort_by_key(|i| std::cmp::Reverse(number(i)));
    let has_more = intents.len() > limit;
    intents.truncate(limit);
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": intents,
        "has_more": has_more,
        "url": "/v1/payment_intents",
    }))
}

async fn create_refund(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    let form = received.form.clone();
    seen.refunds.push(form.clone());
    seen.refund_requests.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let intent = form
        .get("payment_intent")
        .and_then(|id| seen.intents.get(id))
        .cloned();
    let id = seen.next_id("re");
    let refund = json!({
        "id": id,
        "object": "refund",
        "amount": amount(&form)
            .or_else(|| intent.as_ref().and_then(|i| i["amount_received"].as_i64()))
            .unwrap_or(0),
        "created": CREATED,
        "currency": intent.as_ref().map_or_else(|| json!("usd"), |i| i["currency"].clone()),
        "metadata": metadata(&form),
        "payment_intent": form.get("payment_intent"),
        "status": "succeeded",
    });
    seen.objects.insert(id, refund.clone());
    answer(&mut seen, &received, 200, refund)
}

async fn create_customer(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    seen.customers.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let id = seen.next_id("cus");
    let customer = json!({
        "id": id,
        "object": "customer",
        "created": CREATED,
        "email": received.form.get("email"),
        "livemode": false,
        "metadata": metadata(&received.form),
    });
    seen.objects.insert(id, customer.clone());
    answer(&mut seen, &received, 200, customer)
}

async fn create_setup_intent(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    seen.setup_intents.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let customer = received.form.get("customer").cloned();
    if let Some(c) = customer.as_ref().filter(|c| seen.object(c).is_none()) {
        return missing("customer", c);
    }
    let id = seen.next_id("seti");
    let intent = json!({
        "id": id,
        "object": "setup_intent",
        "client_secret": format!("{id}_secret_test"),
        "created": CREATED,
        "customer": customer,
        "livemode": false,
        "metadata": metadata(&received.form),
        "payment_method": null,
        "payment_method_types": ["card"],
        "status": "requires_payment_method",
        "usage": "off_session",
    });
    seen.objects.insert(id, intent.clone());
    answer(&mut seen, &received, 200, intent)
}

/// `GET` of an object the stand-in made, when its id starts with `prefix`.
fn get_object(
    seen: &Shared,
    req: &HttpRequest,
    prefix: &str,
    what: &str,
    id: &str,
) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    note_auth(&mut seen, req);
    match seen.object(id).filter(|_| id.starts_with(prefix)) {
        Some(object) => HttpResponse::Ok().json(object),
        None => missing(what, id),
    }
}

async fn get_setup_intent(seen: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    get_object(&seen, &req, "seti_", "setup_intent", &id)
}

async fn get_payment_method(seen: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    get_object(&seen, &req, "pm_", "payment_method", &id)
}

async fn get_account(seen: Shared, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    get_object(&seen, &req, "acct_", "account", &id)
}

async fn detach_payment_method(
    seen: Shared,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    note_auth(&mut seen, &req);
    seen.detached.push(id.clone());
    let Some(method) = seen
        .objects
        .get_mut(id.as_str())
        .filter(|_| id.starts_with("pm_"))
    else {
        return missing("payment_method", &id);
    };
    if method["customer"].is_null() {
        return invalid(
            "The payment method you provided is not attached to a customer so detachment is \
             impossible."
                .to_owned(),
        );
    }
    method["customer"] = Value::Null;
    HttpResponse::Ok().json(method.clone())
}

async fn create_account(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    seen.accounts.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let id = seen.next_id("acct");
    let requested = |capability: &str| {
        received
            .form
            .get(&format!("capabilities[{capability}][requested]"))
            .is_some_and(|r| r == "true")
    };
    let mut capabilities = serde_json::Map::new();
    for capability in ["card_payments", "transfers"] {
        if requested(capability) {
            capabilities.insert(capability.to_owned(), json!("inactive"));
        }
    }
    let account = json!({
        "id": id,
        "object": "account",
        "capabilities": capabilities,
        "charges_enabled": false,
        "country": "US",
        "created": CREATED,
        "default_currency": "usd",
        "details_submitted": false,
        "email": received.form.get("email"),
        "metadata": metadata(&received.form),
        "payouts_enabled": false,
        "type": received.form.get("type"),
    });
    seen.objects.insert(id, account.clone());
    answer(&mut seen, &received, 200, account)
}

async fn create_account_link(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    seen.account_links.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let account = received.form.get("account").cloned().unwrap_or_default();
    if seen.object(&account).is_none() {
        return missing("account", &account);
    }
    let n = seen.account_links.len();
    let link = json!({
        "object": "account_link",
        "created": CREATED,
        "expires_at": CREATED + 300,
        "url": format!("https://connect.stripe.test/setup/e/{account}/link_{n}"),
    });
    answer(&mut seen, &received, 200, link)
}

async fn create_transfer(seen: Shared, req: HttpRequest, form: Form) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    seen.transfers.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let form = &received.form;
    let destination = form.get("destination").cloned().unwrap_or_default();
    if seen.object(&destination).is_none() {
        return missing("account", &destination);
    }
    let id = seen.next_id("tr");
    let transfer = json!({
        "id": id,
        "object": "transfer",
        "amount": amount(form).unwrap_or(0),
        "amount_reversed": 0,
        "created": CREATED,
        "currency": currency(form),
        "destination": destination,
        "livemode": false,
        "metadata": metadata(form),
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": false,
            "url": format!("/v1/transfers/{id}/reversals"),
        },
        "reversed": false,
        "transfer_group": form.get("transfer_group"),
    });
    seen.objects.insert(id, transfer.clone());
    answer(&mut seen, &received, 200, transfer)
}

async fn create_reversal(
    seen: Shared,
    req: HttpRequest,
    id: web::Path<String>,
    form: Form,
) -> HttpResponse {
    let mut seen = seen.lock().unwrap();
    let received = receive(&mut seen, &req, form.into_inner());
    seen.reversals.push(received.clone());
    if let Some(reply) = replay(&seen, &received) {
        return reply;
    }
    let Some(transfer) = seen.object(&id).filter(|_| id.starts_with("tr_")).cloned() else {
        return missing("transfer", &id);
    };
    let left = transfer["amount"].as_i64().unwrap_or(0)
        - transfer["amount_reversed"].as_i64().unwrap_or(0);
    let amount = amount(&received.form).unwrap_or(left);
    if amount <= 0 || amount > left {
        return invalid(format!(
            "You have already reversed this transfer, or {amount} is more than the {left} left."
        ));
    }
    let reversal_id = seen.next_id("trr");
    let reversal = json!({
        "id": reversal_id,
        "object": "transfer_reversal",
        "amount": amount,
        "created": CREATED,
        "currency": transfer["currency"],
        "metadata": metadata(&received.form),
        "transfer": id.as_str(),
    });
    seen.objects.insert(reversal_id, reversal.clone());
    let transfer = seen.objects.get_mut(id.as_str()).unwrap();
    transfer["amount_reversed"] = json!(transfer["amount_reversed"].as_i64().unwrap_or(0) + amount);
    transfer["reversed"] = json!(amount == left);
    if let Some(data) = transfer["reversals"]["data"].as_array_mut() {
        data.insert(0, reversal.clone());
    }
    answer(&mut seen, &received, 200, reversal)
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
            .route("/v1/payment_intents", web::get().to(list_intents))
            .route("/v1/payment_intents/{id}", web::get().to(get_intent))
            .route("/v1/refunds", web::post().to(create_refund))
            .route("/v1/customers", web::post().to(create_customer))
            .route("/v1/setup_intents", web::post().to(create_setup_intent))
            .route("/v1/setup_intents/{id}", web::get().to(get_setup_intent))
            .route(
                "/v1/payment_methods/{id}",
                web::get().to(get_payment_method),
            )
            .route(
                "/v1/payment_methods/{id}/detach",
                web::post().to(detach_payment_method),
            )
            .route("/v1/accounts", web::post().to(create_account))
            .route("/v1/accounts/{id}", web::get().to(get_account))
            .route("/v1/account_links", web::post().to(create_account_link))
            .route("/v1/transfers", web::post().to(create_transfer))
            .route(
                "/v1/transfers/{id}/reversals",
                web::post().to(create_reversal),
            )
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
