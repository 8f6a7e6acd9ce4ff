//! The Ninja Van carrier against a stand-in of Ninja Van's API: booking,
//! the token cache, labels, cancellation, refusals and outages, webhooks.

use std::time::Duration;

use blytz::Code;
use blytz::commerce::shipping::ninjavan::{NinjaVan, requested_tracking_number};
use blytz::commerce::shipping::{Carrier, DeliveryRequest, Party};

use crate::ninjavan_stub::{
    self, NinjaVanStub, PDF_MAGIC, UNSERVICEABLE_POSTCODE, WEBHOOK_SECRET, sign, tracking_event,
    tracking_event_v1,
};

fn seller() -> Party {
    Party {
        name: "Card Corner".into(),
        phone: Some("+6561234567".into()),
        email: Some("seller@example.com".into()),
        address1: "1 Raffles Place".into(),
        address2: Some("#10-01".into()),
        city: "Singapore".into(),
        state: None,
        postcode: "048616".into(),
        country: "SG".into(),
    }
}

fn buyer() -> Party {
    Party {
        name: "Bea Buyer".into(),
        phone: Some("+6598765432".into()),
        email: None,
        address1: "998 Toa Payoh North".into(),
        address2: None,
        city: "Singapore".into(),
        state: None,
        postcode: "318993".into(),
        country: "SG".into(),
    }
}

fn request(reference: &str) -> DeliveryRequest {
    DeliveryRequest {
        reference: reference.into(),
        from: seller(),
        to: buyer(),
        items: 3,
        description: "Trading cards".into(),
    }
}

fn carrier(stub: &NinjaVanStub) -> NinjaVan {
    NinjaVan::new(stub.settings()).unwrap()
}

#[actix_web::test]
async fn books_deliveries_with_one_token() {
    let stub = ninjavan_stub::spawn();
    let nv = carrier(&stub);
    assert_eq!(nv.name(), "ninjavan");
    assert_eq!(nv.display_name(), "Ninja Van");

    let first = nv.create_delivery(&request("bundle-0001")).await.unwrap();
    let second = nv.create_delivery(&request("bundle-0002")).await.unwrap();
    assert_ne!(first.tracking_number, second.tracking_number);
    assert_eq!(
        first.tracking_number,
        format!("NVSGBLZ{}", requested_tracking_number("bundle-0001"))
    );
    let url = first.tracking_url.unwrap();
    assert!(url.starts_with("https://www.ninjavan.co/"), "{url}");
    assert!(url.ends_with(&first.tracking_number), "{url}");

    let seen = stub.seen();
    assert_eq!(seen.token_requests.len(), 1, "one token serves both calls");
    let token = &seen.token_requests[0];
    assert_eq!(token["grant_type"], "client_credentials");
    assert_eq!(token["client_id"], ninjavan_stub::CLIENT_ID);
    assert_eq!(token["client_secret"], ninjavan_stub::CLIENT_SECRET);
    assert_eq!(seen.unauthorized, 0);
    assert_eq!(seen.orders.len(), 2);

    let order = &seen.orders[0];
    assert_eq!(order["service_type"], "Parcel");
    assert_eq!(order["service_level"], "Standard");
    assert_eq!(order["reference"]["merchant_order_number"], "bundle-0001");
    assert_eq!(
        order["requested_tracking_number"],
        requested_tracking_number("bundle-0001")
    );
    assert_eq!(order["from"]["name"], "Card Corner");
    assert_eq!(order["from"]["phone_number"], "+6561234567");
    assert_eq!(order["from"]["email"], "seller@example.com");
    assert_eq!(order["from"]["address"]["address1"], "1 Raffles Place");
    assert_eq!(order["from"]["address"]["address2"], "#10-01");
    assert_eq!(order["from"]["address"]["postcode"], "048616");
    assert_eq!(order["from"]["address"]["country"], "SG");
    assert_eq!(order["to"]["name"], "Bea Buyer");
    assert_eq!(order["to"]["phone_number"], "+6598765432");
    assert_eq!(order["to"]["address"]["address1"], "998 Toa Payoh North");
    assert_eq!(order["to"]["address"]["postcode"], "318993");
    assert!(order["to"].get("email").is_none(), "no null fields");
    let job = &order["parcel_job"];
    assert_eq!(job["is_pickup_required"], true);
    assert_eq!(job["pickup_address"], order["from"]);
    assert_eq!(job["items"][0]["item_description"], "Trading cards");
    assert_eq!(job["items"][0]["quantity"], 3);
    assert!(job["dimensions"]["weight"].as_f64().unwrap() > 0.0);
    let pickup = job["pickup_date"].as_str().unwrap();
    let delivery = job["delivery_start_date"].as_str().unwrap();
    assert!(pickup < delivery, "{pickup} {delivery}");
}

#[actix_web::test]
async fn the_same_reference_books_once() {
    let stub = ninjavan_stub::spawn();
    let nv = carrier(&stub);
    let first = nv.create_delivery(&request("bundle-0003")).await.unwrap();
    let again = nv.create_delivery(&request("bundle-0003")).await.unwrap();
    assert_eq!(first, again);
    let seen = stub.seen();
    assert_eq!(seen.order_requests.len(), 2);
    assert_eq!(
        seen.orders.len(),
        1,
        "a retry does not book a second parcel"
    );
}

#[actix_web::test]
async fn the_label_is_a_pdf() {
    let stub = ninjavan_stub::spawn();
    let nv = carrier(&stub);
    let delivery = nv.create_delivery(&request("bundle-0004")).await.unwrap();
    let label = nv.label(&delivery.tracking_number).await.unwrap();
    assert!(
        label.starts_with(b"%PDF"),
        "{:?}",
        &label[..8.min(label.len())]
    );
    assert!(label.starts_with(PDF_MAGIC));
    assert_eq!(stub.seen().labels, vec![delivery.tracking_number.clone()]);

    // An unknown parcel is Ninja Van's refusal; a malformed number never leaves.
    let err = nv.label("NVSGBLZNOPE").await.unwrap_err();
    assert_eq!(err.code(), Code::CarrierRefused);
    let err = nv.label("../2.2/orders/x").await.unwrap_err();
    assert_eq!(err.code(), Code::ValidationFailed);
    assert_eq!(stub.seen().labels.len(), 2);
}

#[actix_web::test]
async fn cancels_a_delivery() {
    let stub = ninjavan_stub::spawn();
    let nv = carrier(&stub);
    let delivery = nv.create_delivery(&request("bundle-0005")).await.unwrap();
    nv.cancel(&delivery.tracking_number).await.unwrap();
    assert_eq!(
        stub.seen().cancellations,
        vec![delivery.tracking_number.clone()]
    );

    let err = nv.cancel(&delivery.tracking_number).await.unwrap_err();
    assert_eq!(err.code(), Code::CarrierRefused);
    assert_eq!(err.status(), 409);
    assert!(err.to_string().contains("already cancelled"), "{err}");
}

#[actix_web::test]
async fn an_expired_token_is_fetched_again_before_use() {
    let stub = ninjavan_stub::spawn();
    stub.set_token_ttl(1);
    let nv = carrier(&stub);
    nv.create_delivery(&request("bundle-0006")).await.unwrap();
    assert_eq!(stub.seen().token_requests.len(), 1);
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    nv.create_delivery(&request("bundle-0007")).await.unwrap();
    let seen = stub.seen();
    assert_eq!(seen.token_requests.len(), 2);
    assert_eq!(seen.unauthorized, 0, "the expired token was not sent");
}

#[actix_web::test]
async fn a_refused_token_is_replaced_once() {
    let stub = ninjavan_stub::spawn();
    let nv = carrier(&stub);
    let delivery = nv.create_delivery(&request("bundle-0008")).await.unwrap();
    stub.revoke_tokens();
    nv.cancel(&delivery.tracking_number).await.unwrap();
    {
        let seen = stub.seen();
        assert_eq!(seen.unauthorized, 1);
        assert_eq!(seen.token_requests.len(), 2);
        // The refused call never reached the order; the retry cancelled it.
        assert_eq!(seen.cancellations, vec![delivery.tracking_number.clone()]);
    }
    // The new token serves the next call.
    nv.label(&delivery.tracking_number).await.unwrap();
    assert_eq!(stub.seen().token_requests.len(), 2);
}

#[actix_web::test]
async fn concurrent_callers_share_one_token_fetch() {
    let stub = ninjavan_stub::spawn();
    stub.set_token_delay(Duration::from_millis(200));
    let nv = carrier(&stub);
    let requests = [
        request("bundle-0009"),
        request("bundle-0010"),
        request("bundle-0011"),
    ];
    let (a, b, c) = futures_util::join!(
        nv.create_delivery(&requests[0]),
        nv.create_delivery(&requests[1]),
        nv.create_delivery(&requests[2]),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let seen = stub.seen();
    assert_eq!(seen.token_requests.len(), 1);
    assert_eq!(seen.orders.len(), 3);
}

#[actix_web::test]
async fn refusals_and_outages_have_their_codes() {
    let stub = ninjavan_stub::spawn();
    let nv = carrier(&stub);

    let mut unserviceable = request("bundle-0012");
    unserviceable.to.postcode = UNSERVICEABLE_POSTCODE.into();
    let err = nv.create_delivery(&unserviceable).await.unwrap_err();
    assert_eq!(err.code(), Code::CarrierRefused);
    let message = err.to_string();
    assert!(message.contains("Validation failed"), "{message}");
    assert!(
        message.contains("to.address.postcode: is not serviceable"),
        "{message}"
    );
    assert_eq!(err.details()["carrier_status"], 400);

    stub.fail_next(502);
    let err = nv
        .create_delivery(&request("bundle-0013"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::CarrierUnavailable);
    assert_eq!(err.status(), 503);
    assert_eq!(stub.seen().orders.len(), 0);
    // Ninja Van is back: the retry books.
    nv.create_delivery(&request("bundle-0013")).await.unwrap();

    // A buyer Ninja Van cannot reach is refused before calling it.
    let mut unreachable = request("bundle-0014");
    unreachable.to.phone = None;
    let err = nv.create_delivery(&unreachable).await.unwrap_err();
    assert_eq!(err.code(), Code::ValidationFailed);

    let wrong_secret = NinjaVan::new(blytz::commerce::shipping::ninjavan::NinjaVanSettings {
        client_secret: secrecy::SecretString::from("not the secret"),
        ..stub.settings()
    })
    .unwrap();
    let err = wrong_secret
        .create_delivery(&request("bundle-0015"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::CarrierRefused);
    assert!(err.to_string().contains("client credentials"), "{err}");
    assert!(!err.to_string().contains("not the secret"), "{err}");

    // Nothing listens on this port (taken below the ephemeral range, so no
    // other test's listener on port 0 takes it meanwhile).
    let base = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let down = NinjaVan::new(blytz::commerce::shipping::ninjavan::NinjaVanSettings {
        api_base: base,
        ..stub.settings()
    })
    .unwrap();
    let err = down
        .create_delivery(&request("bundle-0016"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::CarrierUnavailable);
}

#[test]
fn a_signed_delivered_webhook_reads_as_delivered() {
    let stub_settings = NinjaVanStub::offline_settings();
    let nv = NinjaVan::new(stub_settings).unwrap();
    let body = tracking_event("NVSGBLZ123456789", "Delivered, Received by Customer");
    let update = nv
        .tracking_webhook(Some(&sign(WEBHOOK_SECRET, &body)), body.as_bytes())
        .unwrap();
    assert_eq!(update.tracking_number, "NVSGBLZ123456789");
    assert_eq!(update.status, "delivered");
    assert!(update.is_delivered());
    assert_eq!(
        update.note.as_deref(),
        Some("Delivered, Received by Customer")
    );
    assert_eq!(update.at.to_rfc3339(), "2024-03-05T06:02:11+00:00");
    // A redelivery carries the same event id; another step another one.
    let again = nv
        .tracking_webhook(Some(&sign(WEBHOOK_SECRET, &body)), body.as_bytes())
        .unwrap();
    assert_eq!(again.event_id, update.event_id);
    let out = tracking_event("NVSGBLZ123456789", "On Vehicle for Delivery");
    let out = nv
        .tracking_webhook(Some(&sign(WEBHOOK_SECRET, &out)), out.as_bytes())
        .unwrap();
    assert_eq!(out.status, "out_for_delivery");
    assert_ne!(out.event_id, update.event_id);

    // A version 1 report carries its own id.
    let v1 = tracking_event_v1("NVSGBLZ123456789", "Successful Delivery", "evt-42");
    let v1 = nv
        .tracking_webhook(Some(&sign(WEBHOOK_SECRET, &v1)), v1.as_bytes())
        .unwrap();
    assert_eq!(v1.event_id, "evt-42");
    assert_eq!(v1.status, "delivered");
}

#[test]
fn a_badly_signed_or_unsigned_webhook_is_invalid_signature() {
    let nv = NinjaVan::new(NinjaVanStub::offline_settings()).unwrap();
    let body = tracking_event("NVSGBLZ123456789", "Delivered, Left at Doorstep");
    for signature in [
        None,
        Some(String::new()),
        Some(sign("another secret", &body)),
        Some(sign(WEBHOOK_SECRET, &format!("{body} "))),
        Some("%%%".to_owned()),
    ] {
        let err = nv
            .tracking_webhook(signature.as_deref(), body.as_bytes())
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidSignature, "{signature:?}");
        assert_eq!(err.status(), 401);
    }
}

#[test]
fn garbage_is_an_invalid_event() {
    let nv = NinjaVan::new(NinjaVanStub::offline_settings()).unwrap();
    for body in [
        "garbage",
        "{\"tracking_id\":",
        "[1,2]",
        "{}",
        r#"{"tracking_id":"NVSG1","status":"Delivered"}"#,
    ] {
        let err = nv
            .tracking_webhook(Some(&sign(WEBHOOK_SECRET, body)), body.as_bytes())
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidEvent, "{body}");
        assert_eq!(err.status(), 400);
    }
}
