//! The Stripe gateway through the real `async-stripe` client against the
//! stand-in of Stripe's HTTP API: cards on file (customers, setup intents,
//! payment methods), off-session charges and their declines, refunds in part,
//! and seller payouts (Express accounts, onboarding links, transfers and
//! reversals), each made once per idempotency key.

use blytz::commerce::payments::stripe::StripeGateway;
use blytz::commerce::payments::{ChargeOutcome, ChargeRequest, PaymentGateway, TransferRequest};
use blytz::{Code, Error};
use blytz_actors::domain::{Currency, Money};
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use crate::stripe_stub::{self, CardBehaviour, SECRET_KEY, StripeStub};

fn usd(minor: i64) -> Money {
    Money {
        minor,
        currency: Currency::USD,
    }
}

fn gateway(stub: &StripeStub) -> StripeGateway {
    StripeGateway::new(&SecretString::from(SECRET_KEY), Some(&stub.base)).unwrap()
}

/// How many objects the stand-in made whose id starts with `prefix`.
fn made(stub: &StripeStub, prefix: &str) -> usize {
    let seen = stub.seen.lock().unwrap();
    seen.objects
        .keys()
        .filter(|id| id.starts_with(prefix))
        .count()
}

/// A buyer's customer with a saved card answering charges as `behaviour` says.
async fn saved_card(
    stub: &StripeStub,
    gateway: &StripeGateway,
    behaviour: CardBehaviour,
) -> (String, String) {
    let user = Uuid::now_v7();
    let customer = gateway
        .create_customer(user, "buyer@example.com", &format!("customer-{user}"))
        .await
        .unwrap();
    let setup = gateway
        .create_setup_intent(&customer, user, &format!("setup-{user}"))
        .await
        .unwrap();
    let card = stub.complete_setup(&setup.id, "visa", "4242", 12, 2030, behaviour);
    (customer, card)
}

fn charge_request(customer: &str, card: &str, key: &str) -> ChargeRequest {
    ChargeRequest {
        order_id: Uuid::now_v7(),
        amount: usd(2500),
        customer: customer.to_owned(),
        payment_method: card.to_owned(),
        seller_account: Some("acct_test_seller".to_owned()),
        platform_fee: usd(150),
        idempotency_key: key.to_owned(),
    }
}

// Cards on file.

#[actix_web::test]
async fn a_customer_is_made_once_per_key() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let user = Uuid::now_v7();
    let customer = gateway
        .create_customer(user, "buyer@example.com", "customer-key")
        .await
        .unwrap();
    assert!(customer.starts_with("cus_"), "{customer}");
    let again = gateway
        .create_customer(user, "buyer@example.com", "customer-key")
        .await
        .unwrap();
    assert_eq!(again, customer);
    assert_eq!(made(&stub, "cus_"), 1);

    let seen = stub.seen.lock().unwrap();
    assert_eq!(seen.customers.len(), 2);
    let request = &seen.customers[0];
    assert_eq!(request.path, "/v1/customers");
    assert_eq!(request.form["email"], "buyer@example.com");
    assert_eq!(request.form["metadata[user_id]"], user.to_string());
    assert_eq!(request.idempotency_key.as_deref(), Some("customer-key"));
    assert_eq!(seen.auth[0], format!("Bearer {SECRET_KEY}"));
}

#[actix_web::test]
async fn a_card_saved_through_a_setup_intent_is_read_back_and_detached() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let user = Uuid::now_v7();
    let customer = gateway
        .create_customer(user, "buyer@example.com", "customer-key")
        .await
        .unwrap();

    let setup = gateway
        .create_setup_intent(&customer, user, "setup-key")
        .await
        .unwrap();
    assert!(setup.id.starts_with("seti_"), "{}", setup.id);
    assert_eq!(setup.status, "requires_payment_method");
    assert_eq!(setup.customer.as_deref(), Some(customer.as_str()));
    assert!(setup.client_secret.is_some());
    assert_eq!(setup.payment_method, None);
    {
        let seen = stub.seen.lock().unwrap();
        let request = &seen.setup_intents[0];
        assert_eq!(request.form["customer"], customer);
        assert_eq!(request.form["payment_method_types[0]"], "card");
        assert_eq!(request.form["metadata[user_id]"], user.to_string());
        assert_eq!(request.idempotency_key.as_deref(), Some("setup-key"));
    }
    let again = gateway
        .create_setup_intent(&customer, user, "setup-key")
        .await
        .unwrap();
    assert_eq!(again.id, setup.id);
    assert_eq!(made(&stub, "seti_"), 1);

    let card = stub.complete_setup(&setup.id, "visa", "4242", 12, 2030, CardBehaviour::Succeeds);
    let done = gateway.retrieve_setup_intent(&setup.id).await.unwrap();
    assert_eq!(done.status, "succeeded");
    assert_eq!(done.payment_method.as_deref(), Some(card.as_str()));
    assert_eq!(done.customer.as_deref(), Some(customer.as_str()));

    let event: Value =
        serde_json::from_str(&stub.setup_intent_succeeded_event("evt_setup", &setup.id)).unwrap();
    assert_eq!(event["id"], "evt_setup");
    assert_eq!(event["type"], "setup_intent.succeeded");
    assert_eq!(event["data"]["object"]["id"], setup.id);
    assert_eq!(event["data"]["object"]["payment_method"], card);
    assert_eq!(event["data"]["object"]["customer"], customer);

    let info = gateway.retrieve_payment_method(&card).await.unwrap();
    assert_eq!(info.id, card);
    assert_eq!(info.customer.as_deref(), Some(customer.as_str()));
    assert_eq!(info.brand, "visa");
    assert_eq!(info.last4, "4242");
    assert_eq!((info.exp_month, info.exp_year), (12, 2030));

    gateway.detach_payment_method(&card).await.unwrap();
    assert_eq!(stub.seen.lock().unwrap().detached, vec![card.clone()]);
    let detached = gateway.retrieve_payment_method(&card).await.unwrap();
    assert_eq!(detached.customer, None);
    assert_eq!(
        stub.seen.lock().unwrap().objects[&card]["customer"],
        Value::Null
    );
}

// Off-session charges.

#[actix_web::test]
async fn an_off_session_charge_takes_the_money_once_per_key() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let (customer, card) = saved_card(&stub, &gateway, CardBehaviour::Succeeds).await;
    let request = charge_request(&customer, &card, "charge-key");

    let outcome = gateway.charge_off_session(&request).await.unwrap();
    let ChargeOutcome::Succeeded { intent_id } = outcome else {
        panic!("the charge did not succeed: {outcome:?}");
    };
    assert!(intent_id.starts_with("pi_"), "{intent_id}");
    {
        let seen = stub.seen.lock().unwrap();
        assert_eq!(seen.charges.len(), 1);
        let charge = &seen.charges[0];
        assert_eq!(charge.path, "/v1/payment_intents");
        let form = &charge.form;
        assert_eq!(form["amount"], "2500");
        assert_eq!(form["currency"], "usd");
        assert_eq!(form["customer"], customer);
        assert_eq!(form["payment_method"], card);
        assert_eq!(form["confirm"], "true");
        assert_eq!(form["off_session"], "true");
        assert_eq!(form["payment_method_types[0]"], "card");
        assert_eq!(form["metadata[order_id]"], request.order_id.to_string());
        assert_eq!(form["metadata[seller_account]"], "acct_test_seller");
        assert_eq!(form["metadata[platform_fee]"], "150");
        assert_eq!(
            form["transfer_group"],
            format!("order-{}", request.order_id)
        );
        assert_eq!(charge.idempotency_key.as_deref(), Some("charge-key"));
        assert_eq!(seen.intents[&intent_id]["status"], "succeeded");
        assert_eq!(seen.intents[&intent_id]["amount_received"], 2500);
    }
    let intent = gateway.retrieve_intent(&intent_id).await.unwrap();
    assert_eq!(intent.status, "succeeded");

    let again = gateway.charge_off_session(&request).await.unwrap();
    assert_eq!(
        again,
        ChargeOutcome::Succeeded {
            intent_id: intent_id.clone()
        }
    );
    let seen = stub.seen.lock().unwrap();
    assert_eq!(seen.charges.len(), 2, "the second call reached the gateway");
    assert_eq!(seen.intents.len(), 1, "the same key made a second intent");
}

#[actix_web::test]
async fn a_charge_for_a_seller_without_an_account_names_none() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let (customer, card) = saved_card(&stub, &gateway, CardBehaviour::Succeeds).await;
    let mut request = charge_request(&customer, &card, "charge-key");
    request.seller_account = None;
    let outcome = gateway.charge_off_session(&request).await.unwrap();
    assert!(
        matches!(outcome, ChargeOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let seen = stub.seen.lock().unwrap();
    assert!(
        !seen.charges[0]
            .form
            .contains_key("metadata[seller_account]")
    );
}

#[actix_web::test]
async fn a_declined_card_is_a_failed_charge_not_an_error() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let (customer, card) = saved_card(&stub, &gateway, CardBehaviour::Succeeds).await;
    // The card worked when it was saved; its issuer declines it now.
    stub.set_card_behaviour(&card, CardBehaviour::Declines);
    assert_eq!(
        stub.seen.lock().unwrap().cards[&card],
        CardBehaviour::Declines
    );
    let request = charge_request(&customer, &card, "charge-key");

    let outcome = gateway.charge_off_session(&request).await.unwrap();
    let ChargeOutcome::Failed {
        intent_id: Some(intent_id),
        code,
        reason,
    } = outcome.clone()
    else {
        panic!("not a failure naming its intent: {outcome:?}");
    };
    assert_eq!(code, "card_declined");
    assert_eq!(reason, "Your card was declined.");
    assert_eq!(
        stub.seen.lock().unwrap().intents[&intent_id]["status"],
        "requires_payment_method"
    );
    assert_eq!(
        gateway.retrieve_intent(&intent_id).await.unwrap().status,
        "requires_payment_method"
    );

    // The same key answers the same decline, and makes no second intent.
    assert_eq!(gateway.charge_off_session(&request).await.unwrap(), outcome);
    assert_eq!(stub.seen.lock().unwrap().intents.len(), 1);
}

#[actix_web::test]
async fn a_card_that_needs_its_holder_is_a_failed_charge() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let (customer, card) = saved_card(&stub, &gateway, CardBehaviour::NeedsAuthentication).await;
    let outcome = gateway
        .charge_off_session(&charge_request(&customer, &card, "charge-key"))
        .await
        .unwrap();
    let ChargeOutcome::Failed {
        intent_id: Some(intent_id),
        code,
        reason,
    } = outcome
    else {
        panic!("not a failure naming its intent: {outcome:?}");
    };
    assert!(intent_id.starts_with("pi_"), "{intent_id}");
    assert_eq!(code, "authentication_required");
    assert!(reason.contains("authentication"), "{reason}");
}

#[actix_web::test]
async fn an_unreachable_gateway_is_an_error_not_a_decline() {
    let port = crate::helpers::free_port();
    let gateway = StripeGateway::new(
        &SecretString::from(SECRET_KEY),
        Some(&format!("http://127.0.0.1:{port}/")),
    )
    .unwrap();
    let request = charge_request("cus_test_1", "pm_test_1", "charge-key");
    let error = gateway.charge_off_session(&request).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Refused {
                code: Code::PaymentGatewayUnavailable,
                ..
            }
        ),
        "{error:?}"
    );
}

// Refunds.

#[actix_web::test]
async fn a_refund_in_part_sends_its_amount_once_per_key() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let (customer, card) = saved_card(&stub, &gateway, CardBehaviour::Succeeds).await;
    let outcome = gateway
        .charge_off_session(&charge_request(&customer, &card, "charge-key"))
        .await
        .unwrap();
    let ChargeOutcome::Succeeded { intent_id } = outcome else {
        panic!("the charge did not succeed: {outcome:?}");
    };

    let refund = gateway
        .refund(&intent_id, Some(usd(1000)), "refund-key")
        .await
        .unwrap();
    assert!(refund.starts_with("re_"), "{refund}");
    let again = gateway
        .refund(&intent_id, Some(usd(1000)), "refund-key")
        .await
        .unwrap();
    assert_eq!(again, refund);
    assert_eq!(made(&stub, "re_"), 1);

    let full = gateway.refund(&intent_id, None, "full-key").await.unwrap();
    assert_ne!(full, refund);
    let seen = stub.seen.lock().unwrap();
    let part = &seen.refund_requests[0];
    assert_eq!(part.form["amount"], "1000");
    assert_eq!(part.form["payment_intent"], intent_id);
    assert_eq!(part.idempotency_key.as_deref(), Some("refund-key"));
    assert_eq!(seen.objects[&refund]["amount"], 1000);
    assert!(!seen.refund_requests[2].form.contains_key("amount"));
    assert_eq!(seen.objects[&full]["amount"], 2500);
    assert_eq!(seen.refunds.len(), 3);
}

// Seller payouts.

#[actix_web::test]
async fn a_seller_account_is_onboarded_through_its_link() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let seller = Uuid::now_v7();
    let account = gateway
        .create_connected_account(seller, "seller@example.com", "account-key")
        .await
        .unwrap();
    assert!(account.starts_with("acct_"), "{account}");
    let again = gateway
        .create_connected_account(seller, "seller@example.com", "account-key")
        .await
        .unwrap();
    assert_eq!(again, account);
    assert_eq!(made(&stub, "acct_"), 1);
    {
        let seen = stub.seen.lock().unwrap();
        let request = &seen.accounts[0];
        assert_eq!(request.form["type"], "express");
        assert_eq!(request.form["email"], "seller@example.com");
        assert_eq!(
            request.form["capabilities[card_payments][requested]"],
            "true"
        );
        assert_eq!(request.form["capabilities[transfers][requested]"], "true");
        assert_eq!(request.form["metadata[seller_id]"], seller.to_string());
        assert_eq!(request.idempotency_key.as_deref(), Some("account-key"));
    }

    let url = gateway
        .account_link(
            &account,
            "https://blytz.test/payouts/refresh",
            "https://blytz.test/payouts/done",
        )
        .await
        .unwrap();
    assert!(
        url.starts_with("https://") && url.contains(&account),
        "{url}"
    );
    {
        let seen = stub.seen.lock().unwrap();
        let link = &seen.account_links[0].form;
        assert_eq!(link["account"], account);
        assert_eq!(link["type"], "account_onboarding");
        assert_eq!(link["refresh_url"], "https://blytz.test/payouts/refresh");
        assert_eq!(link["return_url"], "https://blytz.test/payouts/done");
    }

    let before = gateway.retrieve_account(&account).await.unwrap();
    assert_eq!(before.id, account);
    assert!(!before.payouts_enabled);
    assert!(!before.details_submitted);

    stub.enable_payouts(&account);
    let after = gateway.retrieve_account(&account).await.unwrap();
    assert!(after.payouts_enabled);
    assert!(after.details_submitted);

    let event: Value =
        serde_json::from_str(&stub.account_updated_event("evt_account", &account)).unwrap();
    assert_eq!(event["type"], "account.updated");
    assert_eq!(event["data"]["object"]["id"], account);
    assert_eq!(event["data"]["object"]["payouts_enabled"], true);
}

#[actix_web::test]
async fn a_transfer_pays_the_seller_once_per_key_and_is_reversed_in_part() {
    let stub = stripe_stub::spawn();
    let gateway = gateway(&stub);
    let account = gateway
        .create_connected_account(Uuid::now_v7(), "seller@example.com", "account-key")
        .await
        .unwrap();
    stub.enable_payouts(&account);
    let request = TransferRequest {
        order_id: Uuid::now_v7(),
        amount: usd(2000),
        destination: account.clone(),
        idempotency_key: "transfer-key".to_owned(),
    };

    let transfer = gateway.create_transfer(&request).await.unwrap();
    assert!(transfer.starts_with("tr_"), "{transfer}");
    assert_eq!(gateway.create_transfer(&request).await.unwrap(), transfer);
    assert_eq!(made(&stub, "tr_"), 1);
    {
        let seen = stub.seen.lock().unwrap();
        assert_eq!(seen.transfers.len(), 2);
        let sent = &seen.transfers[0];
        assert_eq!(sent.form["amount"], "2000");
        assert_eq!(sent.form["currency"], "usd");
        assert_eq!(sent.form["destination"], account);
        assert_eq!(
            sent.form["transfer_group"],
            format!("order-{}", request.order_id)
        );
        assert_eq!(
            sent.form["metadata[order_id]"],
            request.order_id.to_string()
        );
        assert_eq!(sent.idempotency_key.as_deref(), Some("transfer-key"));
    }

    let reversal = gateway
        .reverse_transfer(&transfer, usd(500), "reversal-key")
        .await
        .unwrap();
    assert!(reversal.starts_with("trr_"), "{reversal}");
    let again = gateway
        .reverse_transfer(&transfer, usd(500), "reversal-key")
        .await
        .unwrap();
    assert_eq!(again, reversal);
    let seen = stub.seen.lock().unwrap();
    let sent = &seen.reversals[0];
    assert_eq!(sent.path, format!("/v1/transfers/{transfer}/reversals"));
    assert_eq!(sent.form["amount"], "500");
    assert_eq!(sent.idempotency_key.as_deref(), Some("reversal-key"));
    assert_eq!(seen.objects[&transfer]["amount_reversed"], 500);
    assert_eq!(seen.objects[&transfer]["reversed"], false);
}
