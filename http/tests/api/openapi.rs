//! The OpenAPI document against the running server.
//!
//! - The document holds together: every `$ref` resolves, operation ids are
//!   unique, and every route declares the answers its extractors give (401
//!   for a token, 422 for a body or a query, 404 for an id in the path).
//! - A property run over the document: for every operation, requests are
//!   generated from its parameters and body schema (real ids, random ones and
//!   garbage; valid-looking values, wrong types, missing fields, huge numbers,
//!   long strings, broken JSON) and sent to a running server, mostly as a
//!   seller (now and then as a buyer, an admin, anonymously or with a bad
//!   token). No answer may be a 500 or a status the operation does not
//!   declare, and every JSON answer must fit the schema declared for it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union, ValueTree};
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Generated requests per operation (`BLYTZ_OPENAPI_CASES` overrides).
const CASES_PER_OPERATION: usize = 24;
/// The run's seed: the same requests every time.
const SEED: [u8; 32] = *b"blytz-openapi-property-run-seed!";
/// The JSON body limit of the test server's config (`json_limit_bytes`).
const JSON_LIMIT: usize = 64 * 1024;

async fn fetch_document(app: &TestApp) -> Value {
    let res = app.get("/api/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// One operation of the document.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    path: String,
    spec: Value,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn parameters(&self, place: &str) -> Vec<Value> {
        self.spec["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == place)
            .cloned()
            .collect()
    }

    fn declares(&self, status: u16) -> bool {
        self.spec["responses"].get(status.to_string()).is_some()
    }

    /// `Some(true)`: a bearer token is required; `Some(false)`: optional.
    fn bearer(&self) -> Option<bool> {
        let requirements = self.spec["security"].as_array()?;
        let named = requirements
            .iter()
            .any(|r| r.as_object().is_some_and(|r| r.contains_key("bearer")));
        let anonymous = requirements
            .iter()
            .any(|r| r.as_object().is_some_and(Map::is_empty));
        named.then_some(!anonymous)
    }

    fn body(&self) -> Option<&Value> {
        self.spec.get("requestBody")
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, spec) in item.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => Method::GET,
                "put" => Method::PUT,
                "post" => Method::POST,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            all.push(Operation {
                method,
                path: path.clone(),
                spec: spec.clone(),
            });
        }
    }
    all
}

/// The target of a local `$ref` (`#/components/schemas/X`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// A body the server reads as typed JSON: required, and not declared as a
/// raw string (webhooks are read as bytes and verified before parsing).
fn is_read_as_json(body: &Value) -> bool {
    body["required"] == true
        && body["content"]
            .get("application/json")
            .is_some_and(|c| c["schema"]["type"] != "string")
}

#[actix_web::test]
async fn every_ref_resolves_and_every_route_declares_what_its_inputs_can_answer() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let mut problems = Vec::new();

    let mut targets = BTreeSet::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in &targets {
        if resolve(&doc, target).is_none() {
            problems.push(format!("`{target}` does not resolve"));
        }
    }

    let mut ids = BTreeSet::new();
    for op in operations(&doc) {
        let name = op.name();
        match op.spec["operationId"].as_str() {
            Some(id) if !ids.insert(id.to_owned()) => {
                problems.push(format!("{name}: operationId `{id}` is not unique"));
            }
            Some(_) => {}
            None => problems.push(format!("{name}: no operationId")),
        }
        for (status, response) in op.spec["responses"].as_object().unwrap() {
            if response["description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}: {status} has no description"));
            }
        }
        let mut needs: Vec<(u16, &str)> = Vec::new();
        if op.bearer().is_some() {
            needs.push((401, "it takes a token"));
        }
        // A body it requires: a JSON one gets the JSON extractor's four
        // answers, an upload at least 422. Not so a webhook's raw body (only
        // its signature check answers) nor an optional body (logout: one
        // that does not parse is ignored, so it cannot be refused).
        if let Some(body) = op.body() {
            if body["required"] == true && !(is_read_as_json(body) || has_raw_body(body)) {
                needs.push((422, "it takes a body"));
            }
            if is_read_as_json(body) {
                for status in [400, 413, 415, 422] {
                    needs.push((status, "it takes a JSON body"));
                }
            }
        }
        if !op.parameters("query").is_empty() {
            needs.push((422, "it takes a query"));
        }
        if !op.parameters("path").is_empty() {
            needs.push((404, "it takes an id in its path"));
        }
        for (status, why) in needs {
            if !op.declares(status) {
                problems.push(format!("{name}: {why} but does not declare {status}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the OpenAPI document is incomplete:\n{}",
        problems.join("\n")
    );
}

/// A webhook body, read as bytes: its answers are the signature check's.
fn has_raw_body(body: &Value) -> bool {
    body["content"]
        .as_object()
        .is_some_and(|c| c.values().any(|c| c["schema"]["type"] == "string"))
}

// ---------------------------------------------------------------------------
// The property run.

/// Who sends a generated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Seller,
    Buyer,
    Admin,
    Anonymous,
    BadToken,
}

/// A request body as sent.
#[derive(Debug, Clone)]
enum Payload {
    None,
    Json(Value),
    Raw {
        content_type: Option<String>,
        bytes: Vec<u8>,
    },
}

/// One generated request.
#[derive(Debug, Clone)]
struct Case {
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Payload,
    caller: Caller,
}

/// Real ids by kind (`auction`, `show`, `media`, ...).
#[derive(Debug, Clone, Default)]
struct Ids(BTreeMap<&'static str, Vec<String>>);

impl Ids {
    fn add(&mut self, kind: &'static str, id: &str) {
        self.0.entry(kind).or_default().push(id.to_owned());
    }

    fn of(&self, kind: Option<&str>) -> Vec<String> {
        kind.and_then(|k| self.0.get(k))
            .cloned()
            .unwrap_or_default()
    }
}

/// How values are made: from the real ids; `clean` keeps to values that
/// fit (so that requests get past validation), else anything goes.
#[derive(Debug, Clone)]
struct Gen {
    ids: Ids,
    clean: bool,
}

/// The kind of id a path parameter names.
fn path_id_kind(path: &str, param: &str) -> Option<&'static str> {
    match param {
        "auction_id" => Some("auction"),
        "user_id" => Some("user"),
        "product_id" => Some("product"),
        "key" => Some("media"),
        "id" => {
            let before = path.split("/{id}").next()?.rsplit('/').next()?;
            match before {
                "auctions" => Some("auction"),
                "shows" => Some("show"),
                "products" => Some("product"),
                "categories" => Some("category"),
                "orders" => Some("order"),
                "addresses" => Some("address"),
                "sellers" | "users" => Some("user"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The kind of id a body field or query parameter names.
fn field_id_kind(field: &str) -> Option<&'static str> {
    match field {
        "product_id" => Some("product"),
        "show_id" => Some("show"),
        "auction_ids" | "auction_id" => Some("auction"),
        "user_id" | "seller_id" | "bidder_id" => Some("user"),
        "order_id" => Some("order"),
        "shipping_address_id" => Some("address"),
        "category_id" | "parent_id" => Some("category"),
        "message_id" => Some("message"),
        _ => None,
    }
}

fn weighted<T: std::fmt::Debug + 'static>(
    options: Vec<(u32, BoxedStrategy<T>)>,
) -> BoxedStrategy<T> {
    Union::new_weighted(options).boxed()
}

/// Text: ordinary words mostly, and (unless clean) the strings that break
/// things.
fn text(g: &Gen) -> BoxedStrategy<String> {
    if g.clean {
        return "[a-zA-Z][a-zA-Z0-9 ]{0,23}".boxed();
    }
    weighted(vec![
        (6, "[a-zA-Z0-9 ]{1,24}".boxed()),
        (1, Just(String::new()).boxed()),
        (1, "[ -~]{0,48}".boxed()),
        (1, "\\PC{1,24}".boxed()),
        (1, Just("long ".repeat(2_000)).boxed()),
        (1, Just("nul \u{0} and \u{7} controls\n".to_owned()).boxed()),
        (
            1,
            Just("https://example.com/pictures/1.jpg".to_owned()).boxed(),
        ),
    ])
}

/// Not an id: what a careless or hostile client puts in one.
fn garbage() -> BoxedStrategy<String> {
    weighted(vec![
        (3, "[a-z0-9-]{1,40}".boxed()),
        (
            1,
            Just("00000000-0000-0000-0000-00000000000g".to_owned()).boxed(),
        ),
        (1, Just("1".to_owned()).boxed()),
        (1, Just("null".to_owned()).boxed()),
        (1, Just("%00".to_owned()).boxed()),
        (1, "[ -~]{1,16}".boxed()),
        (1, Just("x".repeat(600)).boxed()),
    ])
}

fn random_uuid() -> BoxedStrategy<String> {
    any::<u128>()
        .prop_map(|n| uuid::Uuid::from_u128(n).to_string())
        .boxed()
}

/// An id from `pool` mostly; else a random UUID or (unless clean) garbage.
fn id_of(pool: Vec<String>, g: &Gen) -> BoxedStrategy<String> {
    if pool.is_empty() {
        return if g.clean {
            random_uuid()
        } else {
            weighted(vec![(2, random_uuid()), (1, garbage())])
        };
    }
    if g.clean {
        return weighted(vec![(8, select(pool).boxed()), (1, random_uuid())]);
    }
    weighted(vec![
        (6, select(pool).boxed()),
        (2, random_uuid()),
        (1, garbage()),
    ])
}

fn integer(g: &Gen) -> BoxedStrategy<Value> {
    if g.clean {
        return weighted(vec![
            (3, (1i64..100).prop_map(Value::from).boxed()),
            (1, (100i64..100_000).prop_map(Value::from).boxed()),
        ]);
    }
    weighted(vec![
        (4, (0i64..2_000).prop_map(Value::from).boxed()),
        (2, (1i64..10_000_000).prop_map(Value::from).boxed()),
        (1, any::<i64>().prop_map(Value::from).boxed()),
        (
            2,
            select(vec![
                -1i64,
                0,
                1,
                i64::MAX,
                i64::MIN,
                4_294_967_296,
                1_000_000_000_000_001,
            ])
            .prop_map(Value::from)
            .boxed(),
        ),
        (1, Just(json!(1e30)).boxed()),
        (1, Just(json!(2.5)).boxed()),
    ])
}

fn date_time(g: &Gen) -> BoxedStrategy<Value> {
    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    if g.clean {
        return select(vec![soon, "2030-01-01T12:00:00Z".to_owned()])
            .prop_map(Value::from)
            .boxed();
    }
    select(vec![
        soon,
        "2030-01-01T12:00:00Z".to_owned(),
        "2001-01-01T00:00:00Z".to_owned(),
        "9999-12-31T23:59:59Z".to_owned(),
        "0001-01-01T00:00:00+14:00".to_owned(),
        "2030-13-45T99:00:00Z".to_owned(),
        "tomorrow".to_owned(),
        String::new(),
    ])
    .prop_map(Value::from)
    .boxed()
}

/// Any JSON of the wrong kind, for a field of another.
fn wrong_type() -> BoxedStrategy<Value> {
    select(vec![
        Value::Null,
        json!(true),
        json!(-7),
        json!(1.5e300),
        json!("a string"),
        json!([1, "two"]),
        json!({"nested": {"deep": [null]}}),
    ])
    .boxed()
}

/// Values for `schema`: fitting mostly, (unless clean) of the wrong type now
/// and then. `field` names the property or parameter (it picks real ids).
fn values(
    doc: &Value,
    schema: &Value,
    field: Option<&str>,
    g: &Gen,
    depth: u32,
) -> BoxedStrategy<Value> {
    if g.clean {
        return fitting(doc, schema, field, g, depth);
    }
    weighted(vec![
        (12, fitting(doc, schema, field, g, depth)),
        (1, wrong_type()),
    ])
}

fn fitting(
    doc: &Value,
    schema: &Value,
    field: Option<&str>,
    g: &Gen,
    depth: u32,
) -> BoxedStrategy<Value> {
    if let Some(target) = schema["$ref"].as_str() {
        return match resolve(doc, target) {
            Some(target) if depth < 8 => fitting(doc, target, field, g, depth + 1),
            _ => Just(json!({})).boxed(),
        };
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(options) = schema[combinator].as_array() {
            let options = options
                .iter()
                // A clean value is not null where something else may stand.
                .filter(|o| !(g.clean && options.len() > 1 && o["type"] == "null"))
                .map(|o| (1, fitting(doc, o, field, g, depth + 1)))
                .collect();
            return weighted(options);
        }
    }
    if let Some(first) = schema["allOf"].as_array().and_then(|a| a.first()) {
        return fitting(doc, first, field, g, depth + 1);
    }
    if let Some(choices) = schema["enum"].as_array().filter(|c| !c.is_empty()) {
        if g.clean {
            return select(choices.clone()).boxed();
        }
        return weighted(vec![
            (5, select(choices.clone()).boxed()),
            (1, text(g).prop_map(Value::from).boxed()),
        ]);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let mut options: Vec<(u32, BoxedStrategy<Value>)> = Vec::new();
    for t in &types {
        let strategy = match *t {
            "null" if g.clean && types.len() > 1 => continue,
            "null" => Just(Value::Null).boxed(),
            "boolean" => any::<bool>().prop_map(Value::from).boxed(),
            "integer" => integer(g),
            "number" => weighted(vec![
                (1, integer(g)),
                (1, (0.0f64..1e6).prop_map(|f| json!(f)).boxed()),
            ]),
            "string" => string_values(schema, field, g),
            "array" if depth < 6 => {
                let items = values(doc, &schema["items"], field, g, depth + 1);
                prop::collection::vec(items, 0..4)
                    .prop_map(Value::from)
                    .boxed()
            }
            "object" if depth < 6 => object_values(doc, schema, g, depth),
            _ => Just(Value::Null).boxed(),
        };
        options.push((if *t == "null" { 1 } else { 6 }, strategy));
    }
    if options.is_empty() {
        // A free schema: anything.
        return weighted(vec![
            (1, wrong_type()),
            (1, Just(json!({"key": "value"})).boxed()),
        ]);
    }
    weighted(options)
}

fn string_values(schema: &Value, field: Option<&str>, g: &Gen) -> BoxedStrategy<Value> {
    let kind = field.and_then(field_id_kind);
    match schema["format"].as_str() {
        Some("uuid") => return id_of(g.ids.of(kind), g).prop_map(Value::from).boxed(),
        Some("date-time") => return date_time(g),
        _ => {}
    }
    if schema["pattern"] == "^[A-Z]{3}$" {
        if g.clean {
            return Just(json!("USD")).boxed();
        }
        return weighted(vec![
            (4, Just(json!("USD")).boxed()),
            (2, "[A-Z]{3}".prop_map(Value::from).boxed()),
            (1, "[a-zA-Z]{0,5}".prop_map(Value::from).boxed()),
        ]);
    }
    if kind.is_some() {
        return id_of(g.ids.of(kind), g).prop_map(Value::from).boxed();
    }
    if g.clean {
        match field {
            Some(f) if f.ends_with("url") || f == "images" => {
                return Just(json!("https://example.com/pictures/1.jpg")).boxed();
            }
            Some("currency") => return Just(json!("USD")).boxed(),
            Some("country") => return Just(json!("US")).boxed(),
            Some("postal_code") => return Just(json!("62701")).boxed(),
            Some("phone") => return Just(json!("+12175550100")).boxed(),
            Some("tracking_number") => return "[A-Z0-9]{8,20}".prop_map(Value::from).boxed(),
            _ => {}
        }
    }
    match field {
        Some("email") => weighted(vec![
            (3, "[a-z]{1,10}@example\\.com".prop_map(Value::from).boxed()),
            (1, text(g).prop_map(Value::from).boxed()),
        ]),
        Some("action") => select(vec![
            "mute",
            "unmute",
            "ban",
            "delete_message",
            "slow_mode",
            "shout",
        ])
        .prop_map(Value::from)
        .boxed(),
        Some("currency") => select(vec!["USD", "EUR", "usd", "XYZ", ""])
            .prop_map(Value::from)
            .boxed(),
        Some("country") => select(vec!["US", "DE", "us", "USA", ""])
            .prop_map(Value::from)
            .boxed(),
        Some("postal_code") => select(vec!["62701", "10115", "!", ""])
            .prop_map(Value::from)
            .boxed(),
        Some("type") => select(vec!["shipping", "billing", "home"])
            .prop_map(Value::from)
            .boxed(),
        Some("cursor") if g.clean => Just(Value::Null).boxed(),
        _ => text(g).prop_map(Value::from).boxed(),
    }
}

fn object_values(doc: &Value, schema: &Value, g: &Gen, depth: u32) -> BoxedStrategy<Value> {
    let Some(properties) = schema["properties"].as_object() else {
        return select(vec![
            json!({}),
            json!({"a": 1}),
            json!({"k": "v".repeat(300)}),
        ])
        .boxed();
    };
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .iter()
        .map(|(name, property)| {
            let value = values(doc, property, Some(name), g, depth + 1);
            let value = match (required.contains(name.as_str()), g.clean) {
                (true, true) => value.prop_map(Some).boxed(),
                (true, false) => prop::option::weighted(0.93, value).boxed(),
                (false, _) => prop::option::weighted(0.5, value).boxed(),
            };
            let name = name.clone();
            value
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    let extra = if g.clean {
        Just(None).boxed()
    } else {
        prop::option::weighted(0.05, ("[a-z]{1,8}".boxed(), wrong_type())).boxed()
    };
    (fields, extra)
        .prop_map(|(fields, extra)| {
            let mut map: Map<String, Value> = fields.into_iter().flatten().collect();
            if let Some((k, v)) = extra {
                map.entry(k).or_insert(v);
            }
            Value::Object(map)
        })
        .boxed()
}

/// A query value as text; `None` leaves the parameter out.
fn query_text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(3, 2, image::Rgb([200, 10, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

const BOUNDARY: &str = "blytz-openapi-boundary";

fn multipart(part: &str, bytes: &[u8]) -> Payload {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    Payload::Raw {
        content_type: Some(format!("multipart/form-data; boundary={BOUNDARY}")),
        bytes: body,
    }
}

fn raw(content_type: Option<&str>, bytes: impl Into<Vec<u8>>) -> Payload {
    Payload::Raw {
        content_type: content_type.map(str::to_owned),
        bytes: bytes.into(),
    }
}

/// Bodies for an operation: from its schema, and (unless clean) broken on
/// purpose: not JSON, not sent as JSON, too large, of the wrong type.
fn bodies(doc: &Value, op: &Operation, g: &Gen) -> BoxedStrategy<Payload> {
    let Some(body) = op.body() else {
        if g.clean {
            return Just(Payload::None).boxed();
        }
        // A stray body where none is read must change nothing.
        return weighted(vec![
            (9, Just(Payload::None).boxed()),
            (1, Just(Payload::Json(json!({"unexpected": true}))).boxed()),
        ]);
    };
    let content = body["content"].as_object().cloned().unwrap_or_default();
    if content.contains_key("multipart/form-data") {
        // Uploads: a real picture, bytes that are no picture, the wrong part,
        // and bodies that are not multipart at all.
        if g.clean {
            return Just(multipart("file", &png())).boxed();
        }
        return select(vec![
            multipart("file", &png()),
            multipart("file", b"not a picture at all"),
            multipart("other", b"hello"),
            raw(
                Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
                "--garbage",
            ),
            raw(Some("application/json"), "{}"),
            Payload::None,
        ])
        .boxed();
    }
    let Some((content_type, media)) = content.into_iter().next() else {
        return Just(Payload::None).boxed();
    };
    let schema = media["schema"].clone();
    if schema["type"] == "string" {
        // A raw body (webhooks): bytes the signature check must refuse.
        let (ct, ct2) = (content_type.clone(), content_type.clone());
        return weighted(vec![
            (2, text(g).prop_map(move |t| raw(Some(&ct), t)).boxed()),
            (
                2,
                fitting(doc, &json!({"type": "object"}), None, g, 0)
                    .prop_map(move |v| raw(Some(&ct2), v.to_string()))
                    .boxed(),
            ),
            (
                1,
                Just(raw(Some(&content_type), "x".repeat(300 * 1024))).boxed(),
            ),
            (1, Just(Payload::None).boxed()),
        ]);
    }
    if g.clean {
        return values(doc, &schema, None, g, 0)
            .prop_map(Payload::Json)
            .boxed();
    }
    let json_type = Some(content_type.as_str());
    weighted(vec![
        (
            16,
            values(doc, &schema, None, g, 0)
                .prop_map(Payload::Json)
                .boxed(),
        ),
        (1, Just(raw(json_type, "{\"broken\": ")).boxed()),
        (1, Just(raw(json_type, "")).boxed()),
        (1, Just(raw(None, "{}")).boxed()),
        (1, Just(raw(Some("text/plain"), "{}")).boxed()),
        (
            1,
            Just(raw(
                json_type,
                json!({"padding": "p".repeat(JSON_LIMIT + 1)}).to_string(),
            ))
            .boxed(),
        ),
        (1, wrong_type().prop_map(Payload::Json).boxed()),
    ])
}

/// The requests of an operation, made as `g` says.
fn cases_of(doc: &Value, op: &Operation, g: &Gen) -> BoxedStrategy<Case> {
    let path = op.path.clone();
    let path_values: Vec<BoxedStrategy<(String, String)>> = op
        .parameters("path")
        .into_iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_owned();
            let pool = g.ids.of(path_id_kind(&path, &name));
            let values = if name == "key" && !g.clean {
                // Media keys: a tail of the path, slashes allowed.
                weighted(vec![
                    (2, id_of(pool, g)),
                    (
                        1,
                        "products/[a-z0-9-]{1,36}/[a-z0-9]{1,32}\\.(jpg|png)".boxed(),
                    ),
                    (1, Just("../../etc/passwd".to_owned()).boxed()),
                ])
            } else {
                id_of(pool, g)
            };
            values.prop_map(move |v| (name.clone(), v)).boxed()
        })
        .collect();
    let query: Vec<BoxedStrategy<Option<(String, String)>>> = op
        .parameters("query")
        .into_iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_owned();
            let fitting = values(doc, &p["schema"], Some(&name), g, 0).prop_map(query_text);
            let value = if g.clean {
                fitting.boxed()
            } else {
                weighted(vec![
                    (5, fitting.boxed()),
                    (1, garbage().prop_map(Some).boxed()),
                ])
            };
            prop::option::weighted(if g.clean { 0.3 } else { 0.5 }, value)
                .prop_map(move |v| v.flatten().map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    let headers: Vec<BoxedStrategy<Option<(String, String)>>> = op
        .parameters("header")
        .into_iter()
        .filter(|p| p["name"] != "Authorization")
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_owned();
            let value = weighted(vec![
                (2, "[a-zA-Z0-9_-]{8,64}".boxed()),
                (1, "t=[0-9]{10},v1=[0-9a-f]{64}".boxed()),
                (1, "[ -~]{0,32}".boxed()),
            ]);
            prop::option::weighted(0.5, value)
                .prop_map(move |v| v.map(|v| (name.clone(), v.trim().to_owned())))
                .boxed()
        })
        .collect();
    let callers = if g.clean {
        select(vec![
            Caller::Seller,
            Caller::Seller,
            Caller::Seller,
            Caller::Admin,
        ])
        .boxed()
    } else {
        weighted(vec![
            (6, Just(Caller::Seller).boxed()),
            (1, Just(Caller::Buyer).boxed()),
            (1, Just(Caller::Admin).boxed()),
            (1, Just(Caller::Anonymous).boxed()),
            (1, Just(Caller::BadToken).boxed()),
        ])
    };
    (path_values, query, headers, bodies(doc, op, g), callers)
        .prop_map(move |(path_values, query, headers, body, caller)| {
            let mut path = path.clone();
            for (name, value) in path_values {
                let value = if name == "key" {
                    value
                } else {
                    percent_encode(&value)
                };
                path = path.replace(&format!("{{{name}}}"), &value);
            }
            Case {
                path,
                query: query.into_iter().flatten().collect(),
                headers: headers.into_iter().flatten().collect(),
                body,
                caller,
            }
        })
        .boxed()
}

/// Clean requests (to reach the services) and anything-goes ones.
fn cases(doc: &Value, op: &Operation, ids: &Ids) -> BoxedStrategy<Case> {
    let clean = Gen {
        ids: ids.clone(),
        clean: true,
    };
    let wild = Gen {
        ids: ids.clone(),
        clean: false,
    };
    weighted(vec![
        (2, cases_of(doc, op, &clean)),
        (3, cases_of(doc, op, &wild)),
    ])
}

fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `value` fits `schema`; `Err` says where it does not.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(target) = schema["$ref"].as_str() {
        let target =
            resolve(doc, target).ok_or_else(|| format!("{at}: `{target}` does not resolve"))?;
        return conforms(doc, target, value, at);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(options) = schema[combinator].as_array() {
            let errors: Vec<String> = options
                .iter()
                .filter_map(|o| conforms(doc, o, value, at).err())
                .collect();
            return if errors.len() < options.len() {
                Ok(())
            } else {
                Err(format!(
                    "{at}: fits no alternative ({})",
                    errors.join(" | ")
                ))
            };
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            conforms(doc, s, value, at)?;
        }
    }
    if let Some(choices) = schema["enum"].as_array()
        && !choices.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {choices:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let fits = types.iter().any(|t| match *t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    });
    if !fits {
        return Err(format!("{at}: {} is not {types:?}", short(value)));
    }
    if let Some(text) = value.as_str() {
        match schema["format"].as_str() {
            Some("uuid") if uuid::Uuid::parse_str(text).is_err() => {
                return Err(format!("{at}: {text:?} is not a uuid"));
            }
            Some("date-time") if chrono::DateTime::parse_from_rfc3339(text).is_err() => {
                return Err(format!("{at}: {text:?} is not a date-time"));
            }
            _ => {}
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: `{name}` is missing"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, value) in object {
                if let Some(property) = properties.get(name) {
                    conforms(doc, property, value, &format!("{at}.{name}"))?;
                }
            }
        }
    }
    Ok(())
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The accounts of the run.
struct Accounts {
    seller: String,
    buyer: String,
    admin: String,
    users: Vec<String>,
}

async fn ok_json(res: reqwest::Response, what: &str) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{what}: {status} {body}");
    body
}

async fn send_json(app: &TestApp, method: Method, path: &str, body: Value, token: &str) -> Value {
    let res = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    ok_json(res, path).await
}

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap().to_owned()
}

async fn accounts(app: &TestApp) -> Accounts {
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let admin = app
        .state
        .accounts
        .create_admin("admin@example.com", "correct horse battery", "Admin")
        .await
        .unwrap();
    let login = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": "admin@example.com", "password": "correct horse battery"}),
            None,
        )
        .await;
    let admin_token = ok_json(login, "admin login").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    Accounts {
        users: vec![seller.id, buyer.id, admin.id.to_string()],
        seller: seller.access_token,
        buyer: buyer.access_token,
        admin: admin_token,
    }
}

/// One of everything, made afresh for each operation (the run of the one
/// before may have deleted, ended or cancelled the last ones): a category,
/// products (fixed-price with stock, draft, and two for auctions, one with a
/// picture), addresses, a show, a running auction with a bid, a lot queued
/// in the show, and orders of the seller's and the buyer's.
async fn fixtures(app: &TestApp, accounts: &Accounts) -> Ids {
    let mut ids = Ids::default();
    let (s, b) = (accounts.seller.as_str(), accounts.buyer.as_str());
    for user in &accounts.users {
        ids.add("user", user);
    }
    let name = format!("Cameras {}", uuid::Uuid::now_v7().simple());
    let category = send_json(
        app,
        Method::POST,
        "/api/v1/categories",
        json!({ "name": name }),
        &accounts.admin,
    )
    .await;
    ids.add("category", &id(&category));
    let product = |title: &str, status: &str, buy_now: Option<i64>| {
        json!({"title": title, "description": "In good shape", "condition": "used",
               "currency": "USD", "start_price": 100, "buy_now_price": buy_now,
               "status": status, "category_id": id(&category)})
    };
    let create = |body: Value| send_json(app, Method::POST, "/api/v1/products", body, s);
    let fixed = id(&create(product("Lens", "active", Some(500))).await);
    let draft = id(&create(product("Tripod", "draft", None)).await);
    let lot = id(&create(product("Camera", "active", None)).await);
    let show_lot = id(&create(product("Flash", "active", None)).await);
    for p in [&fixed, &draft, &lot, &show_lot] {
        ids.add("product", p);
    }
    send_json(
        app,
        Method::PUT,
        &format!("/api/v1/inventory/products/{fixed}"),
        json!({"quantity": 50}),
        s,
    )
    .await;
    let Payload::Raw {
        content_type,
        bytes,
    } = multipart("file", &png())
    else {
        unreachable!()
    };
    let upload = app
        .client
        .post(app.url(&format!("/api/v1/products/{lot}/images")))
        .bearer_auth(s)
        .header("content-type", content_type.unwrap())
        .body(bytes)
        .send()
        .await
        .unwrap();
    let upload = ok_json(upload, "upload").await;
    for url in [&upload["image"]["url"], &upload["image"]["thumbnail_url"]] {
        let key = url.as_str().unwrap().trim_start_matches("/media/");
        ids.add("media", key);
    }

    let address = json!({"type": "shipping", "first_name": "Ada", "last_name": "Lovelace",
                         "address_line1": "1 Main St", "city": "Springfield", "postal_code": "62701",
                         "country": "US"});
    let seller_address =
        id(&send_json(app, Method::POST, "/api/v1/addresses", address.clone(), s).await);
    let buyer_address = id(&send_json(app, Method::POST, "/api/v1/addresses", address, b).await);
    ids.add("address", &seller_address);

    let show = json!({"title": "Friday cameras", "scheduled_at": "2030-01-01T18:00:00Z"});
    let show = id(&send_json(app, Method::POST, "/api/v1/shows", show, s).await);
    ids.add("show", &show);

    let auction = |product: &str, show: Option<&str>| {
        json!({"product_id": product, "show_id": show, "currency": "USD", "start_price": 100,
               "buy_now_price": 5_000, "duration_ms": 3_600_000})
    };
    let running = id(&send_json(
        app,
        Method::POST,
        "/api/v1/auctions",
        auction(&lot, None),
        s,
    )
    .await);
    let queued = id(&send_json(
        app,
        Method::POST,
        "/api/v1/auctions",
        auction(&show_lot, Some(&show)),
        s,
    )
    .await);
    ids.add("auction", &running);
    ids.add("auction", &queued);
    send_json(
        app,
        Method::POST,
        &format!("/api/v1/auctions/{running}/start"),
        json!({}),
        s,
    )
    .await;
    send_json(
        app,
        Method::POST,
        &format!("/api/v1/auctions/{running}/bids"),
        json!({"amount": 100}),
        b,
    )
    .await;

    for (token, address) in [(s, &seller_address), (b, &buyer_address)] {
        send_json(
            app,
            Method::POST,
            "/api/v1/cart/items",
            json!({"product_id": fixed, "quantity": 1}),
            token,
        )
        .await;
        let checkout = send_json(
            app,
            Method::POST,
            "/api/v1/orders",
            json!({"shipping_address_id": address}),
            token,
        )
        .await;
        for order in checkout["orders"].as_array().unwrap() {
            ids.add("order", &id(order));
        }
    }
    ids
}

async fn send_case(
    app: &TestApp,
    accounts: &Accounts,
    method: &Method,
    case: &Case,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method.clone(), app.url(&case.path))
        .timeout(Duration::from_secs(15));
    if !case.query.is_empty() {
        req = req.query(&case.query);
    }
    for (name, value) in &case.headers {
        req = req.header(name, value);
    }
    req = match case.caller {
        Caller::Seller => req.bearer_auth(&accounts.seller),
        Caller::Buyer => req.bearer_auth(&accounts.buyer),
        Caller::Admin => req.bearer_auth(&accounts.admin),
        Caller::BadToken => req.bearer_auth("not.a.token"),
        Caller::Anonymous => req,
    };
    req = match &case.body {
        Payload::None => req,
        Payload::Json(body) => req.json(body),
        Payload::Raw {
            content_type,
            bytes,
        } => {
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            req.body(bytes.clone())
        }
    };
    req.send().await.unwrap()
}

fn describe(method: &Method, case: &Case) -> String {
    let body = match &case.body {
        Payload::None => "no body".to_owned(),
        Payload::Json(v) => format!("json {}", short(v)),
        Payload::Raw {
            content_type,
            bytes,
        } => format!(
            "{} bytes as {:?}: {}",
            bytes.len(),
            content_type,
            short(&Value::from(String::from_utf8_lossy(
                &bytes[..bytes.len().min(200)]
            )))
        ),
    };
    format!(
        "{method} {} query={:?} headers={:?} caller={:?} {body}",
        case.path, case.query, case.headers, case.caller
    )
}

/// What is wrong with an answer, if anything.
fn check(doc: &Value, op: &Operation, status: u16, is_json: bool, text: &str) -> Option<String> {
    if status == 500 {
        return Some(format!("500: {}", short(&Value::from(text))));
    }
    let Some(declared) = op.spec["responses"].get(status.to_string()) else {
        return Some(format!(
            "{status} is not declared: {}",
            short(&Value::from(text))
        ));
    };
    let schema = &declared["content"]["application/json"]["schema"];
    if !is_json || schema.is_null() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(body) => conforms(doc, schema, &body, "body")
            .err()
            .map(|e| format!("{status} does not fit its schema: {e}")),
        Err(e) => Some(format!("{status} is unreadable JSON: {e}")),
    }
}

#[actix_web::test]
async fn generated_requests_get_only_declared_answers_and_never_a_500() {
    let app = spawn_app_with(|c| {
        // Webhooks then reach their signature check.
        c.stripe_webhook_secret = Some(SecretString::from("whsec_openapi_property_run"));
    })
    .await;
    let doc = fetch_document(&app).await;
    let accounts = accounts(&app).await;
    let per_operation = std::env::var("BLYTZ_OPENAPI_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CASES_PER_OPERATION);
    let mut runner = TestRunner::new_with_rng(
        RunnerConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &SEED),
    );
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut seen: BTreeMap<String, BTreeMap<u16, usize>> = BTreeMap::new();
    let mut sent = 0usize;
    // Every operation is driven, the WebSocket and the upload too: `/ws`
    // answers a plain GET (no upgrade) with 422 or 401, and uploads get
    // hand-made multipart bodies. Webhooks get unsigned bodies: their
    // signature check must refuse them with a declared status.
    for op in operations(&doc) {
        let ids = fixtures(&app, &accounts).await;
        let strategy = cases(&doc, &op, &ids);
        for _ in 0..per_operation {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            let res = send_case(&app, &accounts, &op.method, &case).await;
            sent += 1;
            let status = res.status().as_u16();
            *seen
                .entry(op.name())
                .or_default()
                .entry(status)
                .or_default() += 1;
            let is_json = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let text = res.text().await.unwrap_or_default();
            if let Some(problem) = check(&doc, &op, status, is_json, &text) {
                failures.push(format!(
                    "{}: {problem}\n  request: {}",
                    op.name(),
                    describe(&op.method, &case)
                ));
            }
        }
    }
    eprintln!("property run: {sent} requests in {:?}", started.elapsed());
    for (op, statuses) in &seen {
        eprintln!("  {op}: {statuses:?}");
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} generated requests broke the contract:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Inputs that broke the server (500s), pinned: those the property run
/// found (an unknown moderator; a NUL in the login email on PostgreSQL) and
/// the others of the same kind (NUL characters PostgreSQL cannot store).
/// Each must be a declared refusal, on both backends.
#[actix_web::test]
async fn inputs_the_property_run_broke_the_server_with_are_refused() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let accounts = accounts(&app).await;
    let ids = fixtures(&app, &accounts).await;
    let show = &ids.of(Some("show"))[0];
    let auction = &ids.of(Some("auction"))[0];
    let nul = "a\u{0}b";
    let cases = [
        // A user that does not exist as a show moderator.
        (
            Method::POST,
            format!("/api/v1/shows/{show}/moderators"),
            json!({"user_id": uuid::Uuid::now_v7()}),
            Caller::Seller,
            404,
        ),
        // NUL characters, which PostgreSQL cannot store.
        (
            Method::POST,
            "/api/v1/auth/login".to_owned(),
            json!({"email": nul, "password": "correct horse battery"}),
            Caller::Anonymous,
            401,
        ),
        (
            Method::POST,
            "/api/v1/shows".to_owned(),
            json!({"title": nul, "scheduled_at": "2030-01-01T18:00:00Z"}),
            Caller::Seller,
            422,
        ),
        (
            Method::POST,
            "/api/v1/products".to_owned(),
            json!({"title": "Lens", "description": "Sharp", "condition": "used",
                   "currency": "USD", "start_price": 100, "specifications": {"mount": nul}}),
            Caller::Seller,
            422,
        ),
        (
            Method::POST,
            format!("/api/v1/auctions/{auction}/bids"),
            json!({"amount": 500, "request_id": nul}),
            Caller::Buyer,
            422,
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, caller, expected) in cases {
        let path = path.as_str();
        let op = operations(&doc)
            .into_iter()
            .find(|op| op.method == method && path_matches(&op.path, path))
            .unwrap();
        let case = Case {
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Payload::Json(body),
            caller,
        };
        let res = send_case(&app, &accounts, &method, &case).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        if status != expected || check(&doc, &op, status, true, &text).is_some() {
            failures.push(format!(
                "{status} (not {expected}) for {}: {text}",
                describe(&method, &case)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The auction still takes bids after the refused one.
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{auction}/bids"),
            &json!({"amount": 500, "request_id": "retry-1"}),
            Some(&accounts.buyer),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Whether a concrete path is an instance of a templated one.
fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}
