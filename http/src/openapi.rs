//! The OpenAPI document, generated from the route attributes and the real
//! wire types, and its docs page.
//!
//! Each route declares what it answers itself (its success, and the
//! refusals of the services it calls); [`StandardAnswers`] then adds the
//! answers every route shares, from what the route takes: a token, a JSON
//! body, a query string, an id in the path, and the general rate limit.

use std::collections::BTreeMap;

use blytz::catalog::{Condition, ProductStatus, Sort};
use blytz::commerce::orders::OrderView;
use blytz::shows::ShowStatus;
use blytz_actors::rules::AuctionStatus;
use utoipa::openapi::content::{Content, ContentBuilder};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::ErrorBody;
use crate::middleware::is_unlimited;
use crate::routes::categories::CategoryView;

/// Title, version and shared components; paths come from the routes themselves.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Blytz API",
        description = "Live-commerce auctions: accounts, catalog, shows, auctions and commerce. \
                       Errors are `{\"error\":{\"code\",\"message\",\"details\"}}`. \
                       Money is integer minor units with a currency; times are RFC 3339 UTC. \
                       The WebSocket protocol at `GET /ws` is described in docs/websocket.md."
    ),
    modifiers(&BearerAuth),
    // Enums that only query parameters name (bodies bring their own schemas).
    components(schemas(
        ErrorBody,
        Sort,
        CategoryView,
        Condition,
        ProductStatus,
        ShowStatus,
        OrderView,
        AuctionStatus
    ))
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme (a JWT access token) that secured routes name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The whole document: every route registered by [`crate::routes::all`],
/// with the answers they share.
pub fn document() -> OpenApiDoc {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::all)
        .split_for_parts();
    StandardAnswers.modify(&mut doc);
    doc
}

/// Adds to every operation the answers that come from what it takes, as the
/// extractors, the error handlers of `startup` and the middleware give them:
///
/// - a bearer token (required, or optional with an empty requirement
///   beside it): 401, since a missing, invalid or expired token is refused;
/// - a required JSON body (its schema a named type): 400 `invalid_json`,
///   413 `payload_too_large`, 415 `unsupported_media_type` and 422
///   `validation_failed`. Raw bodies (webhooks, read as bytes and verified
///   before parsing) are declared as a plain string and get none of these;
/// - query parameters: 422 `validation_failed`;
/// - path parameters: 404 `not_found`, also for a malformed id;
/// - a path under the general rate limit: 429 `rate_limited`.
///
/// An answer the route already declares keeps its own description, with the
/// shared one added; a response without a description gets its reason
/// phrase. Operation ids are made unique on the way.
#[derive(Debug)]
pub struct StandardAnswers;

impl Modify for StandardAnswers {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        unique_operation_ids(openapi);
        for (path, item) in &mut openapi.paths.paths {
            let limited = !is_unlimited(path);
            for operation in operations_of(item) {
                add_standard_answers(operation, limited);
            }
        }
    }
}

/// The operations of a path, by method.
fn operations_of(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Operation ids are the handlers' names; where two handlers share a name
/// (`list`, `create`, ...), each is prefixed with its resource, e.g.
/// `auctions_list`, so that every id is unique.
fn unique_operation_ids(openapi: &mut OpenApiDoc) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for item in openapi.paths.paths.values_mut() {
        for operation in operations_of(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in &mut openapi.paths.paths {
        let resource = path
            .trim_start_matches("/api/v1/")
            .split('/')
            .find(|segment| !segment.is_empty())
            .unwrap_or("root")
            .replace('-', "_");
        for operation in operations_of(item) {
            if let Some(id) = &mut operation.operation_id
                && seen.get(id.as_str()).is_some_and(|n| *n > 1)
            {
                *id = format!("{resource}_{id}");
            }
        }
    }
}

fn add_standard_answers(operation: &mut Operation, rate_limited: bool) {
    let mut answers: Vec<(&str, &str, bool)> = Vec::new();
    match bearer(operation) {
        Some(true) => answers.push((
            "401",
            "`not_authenticated`: no access token; `invalid_token`: the token is invalid or expired",
            false,
        )),
        Some(false) => answers.push((
            "401",
            "`invalid_token`: a token was sent but is invalid or expired (without one, the caller is anonymous)",
            false,
        )),
        None => {}
    }
    if has_parameter(operation, &ParameterIn::Path) {
        answers.push((
            "404",
            "`not_found`: no such resource (a malformed id too)",
            false,
        ));
    }
    if takes_json_body(operation) {
        answers.push(("400", "`invalid_json`: the body is not JSON", false));
        answers.push((
            "413",
            "`payload_too_large`: the body is over the JSON size limit",
            false,
        ));
        answers.push((
            "415",
            "`unsupported_media_type`: the body must be sent as `application/json`",
            false,
        ));
        answers.push((
            "422",
            "`validation_failed`: the body does not fit its schema or breaks a rule; `details` name the `field` and the `rule`",
            false,
        ));
    }
    if has_parameter(operation, &ParameterIn::Query) {
        answers.push((
            "422",
            "`validation_failed`: a query parameter does not parse or is out of range",
            false,
        ));
    }
    if rate_limited {
        answers.push((
            "429",
            "`rate_limited`: too many requests; retry after `Retry-After` seconds",
            true,
        ));
    }
    let responses = &mut operation.responses.responses;
    for (status, description, retry_after) in answers {
        match responses.get_mut(status) {
            Some(RefOr::T(existing)) => {
                add_description(existing, description);
                if retry_after && !existing.headers.contains_key(RETRY_AFTER) {
                    existing
                        .headers
                        .insert(RETRY_AFTER.to_owned(), RefOr::T(retry_after_header()));
                }
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                responses.insert(status.to_owned(), error_response(description, retry_after));
            }
        }
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = reason_phrase(status);
        }
    }
}

/// `Some(true)` when the operation requires a bearer token, `Some(false)`
/// when a token is optional (an empty requirement beside it), else `None`.
fn bearer(operation: &Operation) -> Option<bool> {
    let requirements = operation.security.as_ref()?;
    let names: Vec<Vec<String>> = requirements
        .iter()
        .map(|requirement| match serde_json::to_value(requirement) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        })
        .collect();
    if !names.iter().flatten().any(|name| name == "bearer") {
        return None;
    }
    Some(!names.iter().any(Vec::is_empty))
}

fn has_parameter(operation: &Operation, place: &ParameterIn) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|parameter| match parameter {
            RefOr::T(parameter) => &parameter.parameter_in == place,
            RefOr::Ref(_) => false,
        })
}

/// A required `application/json` body of a named type, read by `web::Json`.
fn takes_json_body(operation: &Operation) -> bool {
    let Some(RefOr::T(RequestBody {
        content, required, ..
    })) = &operation.request_body
    else {
        return false;
    };
    matches!(required, Some(Required::True))
        && matches!(
            content.get("application/json"),
            Some(RefOr::T(Content {
                schema: Some(RefOr::Ref(_)),
                ..
            }))
        )
}

fn error_response(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if retry_after {
        response = response.header(RETRY_AFTER, retry_after_header());
    }
    RefOr::T(response.build())
}

const RETRY_AFTER: &str = "Retry-After";

fn retry_after_header() -> Header {
    HeaderBuilder::new()
        .schema(Some(Object::with_type(Type::Integer)))
        .description(Some("Seconds to wait before retrying"))
        .build()
}

fn add_description(response: &mut Response, shared: &str) {
    let code = shared.split(':').next().unwrap_or(shared);
    if response.description.is_empty() {
        shared.clone_into(&mut response.description);
    } else if !response.description.contains(code) {
        response.description = format!("{}; {shared}", response.description);
    }
}

/// The standard reason phrase of a status, e.g. `Created` for `201`.
fn reason_phrase(status: &str) -> String {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| actix_web::http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Answer")
        .to_owned()
}
