//! Notifications end to end: the server's notices reach the inbox, open
//! sockets, a local SMTP server and a stand-in push service that decrypts
//! each push with the browser's keys; each notice once, outbid notices
//! coalesced and kept from buyers in the room, deliveries retried until a
//! dead mail server and push service come back.

use std::time::Duration;

use blytz::notify::push::generate_vapid_keys;
use blytz_actors::rooms::RoomKey;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auctions::{command, create_auction, rest_bid};
use crate::email::{Rcpt, SmtpServer, header};
use crate::helpers::{
    TestApp, TestUser, error_code, eventually, free_port, read_json, spawn_app_with,
};
use crate::push::{Browser, PushService};
use crate::ws_client::WsClient;

/// Where the channels of a test app go.
struct Channels {
    smtp_url: SecretString,
    vapid: SecretString,
}

async fn app_with(channels: &Channels) -> TestApp {
    let smtp = channels.smtp_url.clone();
    let vapid = channels.vapid.clone();
    spawn_app_with(move |c| {
        c.smtp_url = Some(smtp);
        c.vapid_private_key = Some(vapid);
        c.push_allow_http = true;
        c.notify_poll_ms = 50;
        c.notify_retry_first_ms = 100;
        c.notify_retry_max_secs = 1;
    })
    .await
}

fn vapid() -> SecretString {
    generate_vapid_keys().0
}

async fn subscribe_push(app: &TestApp, user: &TestUser, browser: &Browser, endpoint: String) {
    let subscription = browser.subscription(endpoint);
    let res = app
        .post_json(
            "/api/v1/push/subscriptions",
            &json!({"endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

async fn inbox(app: &TestApp, user: &TestUser) -> Value {
    read_json(
        app.get("/api/v1/notifications", Some(&user.access_token))
            .await,
        StatusCode::OK,
    )
    .await
}

fn kinds(inbox: &Value) -> Vec<String> {
    inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The (email, push) channels of `kind` in a preferences answer.
fn channels(prefs: &Value, kind: &str) -> (bool, bool) {
    let entry = prefs["preferences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == kind)
        .unwrap();
    (
        entry["email"].as_bool().unwrap(),
        entry["push"].as_bool().unwrap(),
    )
}

/// A message body as written, quoted-printable undone (soft line breaks
/// and `=XX` escapes).
fn plain(data: &str) -> String {
    let joined = data.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn go_live(app: &TestApp, seller: &TestUser) -> String {
    app.live_show(seller, "Friday cards").await
}

async fn follow(app: &TestApp, user: &TestUser, seller: &TestUser) {
    let res = app
        .post_json(
            &format!("/api/v1/sellers/{}/follow", seller.id),
            &json!({}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn a_follower_hears_once_by_inbox_socket_email_and_push_when_the_seller_goes_live() {
    let smtp = SmtpServer::spawn(Rcpt::Accept).await;
    let push = PushService::spawn(201);
    let app = app_with(&Channels {
        smtp_url: smtp.url.clone(),
        vapid: vapid(),
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let stranger = app.register("stranger@example.com", "buyer").await;
    follow(&app, &buyer, &seller).await;
    let browser = Browser::new();
    subscribe_push(
        &app,
        &buyer,
        &browser,
        format!("{}/push/buyer", push.origin),
    )
    .await;
    let mut socket = WsClient::connect(&app, Some(&buyer.access_token)).await;

    let show = go_live(&app, &seller).await;

    // The socket is told at once.
    let frame = loop {
        let frame = socket.recv().await;
        if frame["type"] == "notification" {
            break frame;
        }
    };
    assert_eq!(frame["notification"]["kind"], "show_live");
    assert_eq!(frame["notification"]["data"]["show_id"], show.as_str());
    // The inbox, the mail server and the push service each get one.
    eventually("the email and the push", async || {
        !smtp.mail().is_empty() && !push.received().is_empty()
    })
    .await;
    let notices = inbox(&app, &buyer).await;
    assert_eq!(kinds(&notices), ["show_live"]);
    assert_eq!(notices["unread_count"], 1);
    let mail = smtp.mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].rcpt_to, ["buyer@example.com"]);
    assert!(
        header(&mail[0].data, "Subject")
            .unwrap()
            .contains("is live")
    );
    let text = plain(&mail[0].data);
    assert!(text.contains(&format!("/shows/{show}")), "{text}");
    assert!(
        text.contains("/api/v1/notifications/unsubscribe?token="),
        "{text}"
    );
    let pushed = push.received();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].path, "/push/buyer");
    let payload: Value = serde_json::from_slice(&browser.decrypt(&pushed[0].body)).unwrap();
    assert_eq!(payload["kind"], "show_live");
    assert_eq!(payload["url"], format!("/shows/{show}"));
    assert_eq!(payload["id"], notices["items"][0]["id"]);
    // Nobody else is told.
    assert_eq!(kinds(&inbox(&app, &stranger).await), Vec::<String>::new());

    // The outbox row processed again, by hand and by the loop: nothing twice.
    let state = &app.state;
    let row: Uuid = blytz::with_db!(&state.db, pool => sqlx::query_scalar(
        "SELECT id FROM outbox WHERE topic = 'show.live' AND key = $1",
    )
    .bind(&show)
    .fetch_one(pool)
    .await)
    .unwrap();
    let again = state
        .notifications
        .process_announcement(row, &state.audience)
        .await
        .unwrap();
    assert_eq!(again, 0);
    blytz::with_db!(&state.db, pool => sqlx::query("UPDATE outbox SET processed_at = NULL WHERE id = $1")
        .bind(row)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    eventually("the loop to process the row again", async || {
        let processed: bool = blytz::with_db!(&state.db, pool => sqlx::query_scalar(
            "SELECT processed_at IS NOT NULL FROM outbox WHERE id = $1",
        )
        .bind(row)
        .fetch_one(pool)
        .await)
        .unwrap();
        processed
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kinds(&inbox(&app, &buyer).await), ["show_live"]);
    assert_eq!(smtp.mail().len(), 1);
    assert_eq!(push.received().len(), 1);

    // Read.
    let res = app
        .post_json(
            "/api/v1/notifications/read",
            &json!({"all": true}),
            Some(&buyer.access_token),
        )
        .await;
    let marked: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(marked["updated"], 1);
    let notices = inbox(&app, &buyer).await;
    assert_eq!(notices["unread_count"], 0);
    assert!(notices["items"][0]["read_at"].is_string());
}

#[actix_web::test]
async fn outbid_notices_are_coalesced_per_lot_and_spared_to_buyers_in_the_room() {
    let smtp = SmtpServer::spawn(Rcpt::Accept).await;
    let push = PushService::spawn(201);
    let app = app_with(&Channels {
        smtp_url: smtp.url.clone(),
        vapid: vapid(),
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let away = app.register("away@example.com", "buyer").await;
    let watching = app.register("watching@example.com", "buyer").await;
    let rival = app.register("rival@example.com", "buyer").await;
    let (away_browser, watching_browser) = (Browser::new(), Browser::new());
    subscribe_push(
        &app,
        &away,
        &away_browser,
        format!("{}/push/away", push.origin),
    )
    .await;
    subscribe_push(
        &app,
        &watching,
        &watching_browser,
        format!("{}/push/watching", push.origin),
    )
    .await;
    let auction = create_auction(&app, &seller, json!({})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    assert_eq!(
        command(&app, &seller, &id, "start").await.status(),
        StatusCode::OK
    );
    let mut room = WsClient::connect(&app, Some(&watching.access_token)).await;
    room.subscribe(&format!("auction:{id}")).await;
    // The room's actor counts the subscriber after the subscribe is
    // answered: the outbid below must find them there.
    let (auction_room, buyer) = (
        RoomKey::Auction(id.parse().unwrap()),
        watching.id.parse().unwrap(),
    );
    let in_room = || {
        app.state
            .shows
            .chat()
            .presence()
            .contains(auction_room, buyer)
    };
    eventually("the buyer counted in the room", async || in_room()).await;

    let mut amount = 1000;
    let mut bid = async |user: &TestUser| {
        let res = rest_bid(
            &app,
            user,
            &id,
            json!({"amount": amount, "request_id": format!("r{amount}")}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        amount += 100;
    };
    // The buyer in the room is outbid first.
    bid(&watching).await;
    bid(&rival).await;
    // The buyer away is outbid three times within the minute.
    for _ in 0..3 {
        bid(&away).await;
        bid(&rival).await;
    }

    // The rival lost the lead to the away buyer three times too: both are
    // told once.
    eventually("the away buyer's notice", async || {
        kinds(&inbox(&app, &away).await) == ["outbid"]
    })
    .await;
    eventually("the emails and the push", async || {
        smtp.mail().len() == 2 && push.received().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notices = inbox(&app, &away).await;
    assert_eq!(kinds(&notices), ["outbid"], "one per lot per minute");
    assert_eq!(notices["items"][0]["data"]["auction_id"], id.as_str());
    assert_eq!(kinds(&inbox(&app, &rival).await), ["outbid"]);
    let mut to: Vec<String> = smtp.mail().iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["away@example.com", "rival@example.com"]);
    assert_eq!(push.received().len(), 1);
    assert_eq!(push.received()[0].path, "/push/away");
    let payload: Value =
        serde_json::from_slice(&away_browser.decrypt(&push.received()[0].body)).unwrap();
    assert_eq!(payload["kind"], "outbid");
    // The buyer in the room saw it happen there: no notice at all.
    assert_eq!(kinds(&inbox(&app, &watching).await), Vec::<String>::new());

    // Out of the room, the same buyer is told at the next outbid, within
    // the same minute.
    drop(room);
    eventually("the buyer gone from the room", async || !in_room()).await;
    bid(&watching).await;
    bid(&rival).await;
    eventually("the notice of the buyer who left the room", async || {
        kinds(&inbox(&app, &watching).await) == ["outbid"]
    })
    .await;
}

#[actix_web::test]
async fn notices_wait_out_a_dead_mail_server_and_push_service_and_arrive_once() {
    let (smtp_port, push_port) = (free_port(), free_port());
    let app = app_with(&Channels {
        smtp_url: SecretString::from(format!("smtp://127.0.0.1:{smtp_port}")),
        vapid: vapid(),
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    follow(&app, &buyer, &seller).await;
    let browser = Browser::new();
    subscribe_push(
        &app,
        &buyer,
        &browser,
        format!("http://127.0.0.1:{push_port}/push/buyer"),
    )
    .await;

    go_live(&app, &seller).await;
    // The inbox has it at once; both deliveries fail and wait to retry.
    eventually("the inbox notice", async || {
        kinds(&inbox(&app, &buyer).await) == ["show_live"]
    })
    .await;
    let state = &app.state;
    eventually("two failed attempts of each delivery", async || {
        let tried: Vec<(String, String, i64)> = blytz::with_db!(&state.db, pool => sqlx::query_as(
            "SELECT channel, status, CAST(attempts AS BIGINT) FROM notification_deliveries ORDER BY channel",
        )
        .fetch_all(pool)
        .await)
        .unwrap();
        tried.len() == 2 && tried.iter().all(|(_, status, attempts)| status == "pending" && *attempts >= 2)
    })
    .await;

    // They come back: each notice arrives, once.
    let smtp = SmtpServer::spawn_on(smtp_port, Rcpt::Accept).await;
    let push = PushService::spawn_on(push_port, 201);
    eventually("the email and the push", async || {
        smtp.mail().len() == 1 && push.received().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.mail().len(), 1);
    assert_eq!(push.received().len(), 1);
    let payload: Value =
        serde_json::from_slice(&browser.decrypt(&push.received()[0].body)).unwrap();
    assert_eq!(payload["kind"], "show_live");
}

#[actix_web::test]
async fn preferences_and_the_unsubscribe_link_choose_the_channels() {
    let smtp = SmtpServer::spawn(Rcpt::Accept).await;
    let push = PushService::spawn(201);
    let app = app_with(&Channels {
        smtp_url: smtp.url.clone(),
        vapid: vapid(),
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    follow(&app, &buyer, &seller).await;

    // Every kind starts with both channels on.
    let prefs: Value = read_json(
        app.get(
            "/api/v1/notifications/preferences",
            Some(&buyer.access_token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let all = prefs["preferences"].as_array().unwrap();
    assert_eq!(all.len(), 8);
    assert!(all.iter().all(|p| p["email"] == true && p["push"] == true));

    // Push off for shows going live: email only.
    let browser = Browser::new();
    subscribe_push(
        &app,
        &buyer,
        &browser,
        format!("{}/push/buyer", push.origin),
    )
    .await;
    let prefs: Value = read_json(
        app.put_json(
            "/api/v1/notifications/preferences",
            &json!({"preferences": [{"kind": "show_live", "email": true, "push": false}]}),
            Some(&buyer.access_token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(channels(&prefs, "show_live"), (true, false));
    go_live(&app, &seller).await;
    eventually("the email", async || smtp.mail().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(push.received().is_empty());

    // The email's unsubscribe link works without signing in.
    let data = plain(&smtp.mail()[0].data);
    let start = data
        .find("/api/v1/notifications/unsubscribe?token=")
        .unwrap();
    let link: String = data[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let res = app.get(&link, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("show live"));
    let prefs: Value = read_json(
        app.get(
            "/api/v1/notifications/preferences",
            Some(&buyer.access_token),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(channels(&prefs, "show_live"), (false, false));

    // A changed link is refused.
    let forged = format!("{}x", link.trim_end_matches('x'));
    let (code, _) = error_code(app.get(&forged, None).await, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "invalid_link");
    // A kind listed twice is refused.
    let res = app
        .put_json(
            "/api/v1/notifications/preferences",
            &json!({"preferences": [{"kind": "won", "email": true, "push": true},
                                     {"kind": "won", "email": false, "push": true}]}),
            Some(&buyer.access_token),
        )
        .await;
    let (code, _) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    // Anonymous callers see no inbox.
    let res = app.get("/api/v1/notifications", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_subscription_the_push_service_calls_gone_is_deleted() {
    let push = PushService::spawn(410);
    let smtp = SmtpServer::spawn(Rcpt::Accept).await;
    let app = app_with(&Channels {
        smtp_url: smtp.url.clone(),
        vapid: vapid(),
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    follow(&app, &buyer, &seller).await;
    subscribe_push(
        &app,
        &buyer,
        &Browser::new(),
        format!("{}/push/old", push.origin),
    )
    .await;
    // Not an https endpoint (plain http is a development setting), or bad keys.
    let res = app
        .post_json(
            "/api/v1/push/subscriptions",
            &json!({"endpoint": "ftp://push.example/1", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}),
            Some(&buyer.access_token),
        )
        .await;
    let (code, _) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");

    go_live(&app, &seller).await;
    eventually("the subscription to be deleted", async || {
        let list: Value = read_json(
            app.get("/api/v1/push/subscriptions", Some(&buyer.access_token))
                .await,
            StatusCode::OK,
        )
        .await;
        list.as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(push.received().len(), 1);
    eventually("the email, which still goes", async || {
        smtp.mail().len() == 1
    })
    .await;
}

#[actix_web::test]
async fn the_winner_is_told_to_pay() {
    let app = spawn_app_with(|c| c.notify_poll_ms = 50).await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let auction = create_auction(&app, &seller, json!({})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    assert_eq!(
        command(&app, &seller, &id, "start").await.status(),
        StatusCode::OK
    );
    let res = rest_bid(
        &app,
        &buyer,
        &id,
        json!({"amount": 1500, "request_id": "w"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        command(&app, &seller, &id, "end").await.status(),
        StatusCode::OK
    );
    eventually("the won notice", async || {
        kinds(&inbox(&app, &buyer).await) == ["won"]
    })
    .await;
    let notices = inbox(&app, &buyer).await;
    let won = &notices["items"][0];
    assert!(won["body"].as_str().unwrap().contains("15.00 USD"), "{won}");
    assert!(won["url"].as_str().unwrap().starts_with("/orders/"));
}

#[actix_web::test]
async fn a_bookmarked_show_is_announced_fifteen_minutes_before_it_starts() {
    let app = spawn_app_with(|c| c.notify_poll_ms = 50).await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    // Both shows are bookmarked while they are still outside the window, as
    // a buyer does it: a bookmark made after a show was announced gets no
    // notice, and the loop polls every 50 ms.
    let mut shows = Vec::new();
    for minutes in [40, 60] {
        let at = chrono::Utc::now() + chrono::Duration::minutes(minutes);
        let id = app
            .create_show(&seller, &format!("In {minutes} minutes"), &at.to_rfc3339())
            .await;
        let res = app
            .post_json(
                &format!("/api/v1/shows/{id}/bookmark"),
                &json!({}),
                Some(&buyer.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        shows.push(id);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kinds(&inbox(&app, &buyer).await), Vec::<String>::new());

    // Thirty minutes pass for the first show: it now starts in ten.
    let first: Uuid = shows[0].parse().unwrap();
    let soon = blytz::time::now() + chrono::Duration::minutes(10);
    let moved = blytz::with_db!(&app.state.db, pool => {
        sqlx::query("UPDATE shows SET scheduled_at = $1 WHERE id = $2")
            .bind(soon)
            .bind(first)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })
    .unwrap();
    assert_eq!(moved, 1);

    eventually("the notice of the show in 10 minutes", async || {
        kinds(&inbox(&app, &buyer).await) == ["show_starting"]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let notices = inbox(&app, &buyer).await;
    assert_eq!(kinds(&notices), ["show_starting"], "not yet the one in 60");
    assert_eq!(notices["items"][0]["data"]["show_id"], shows[0].as_str());
    assert_eq!(notices["items"][0]["url"], format!("/shows/{}", shows[0]));
}

#[actix_web::test]
async fn pre_bidders_are_told_when_their_lot_starts() {
    let app = spawn_app_with(|c| c.notify_poll_ms = 50).await;
    let seller = app.register("seller@example.com", "seller").await;
    let early = app.register("early@example.com", "buyer").await;
    let high = app.register("high@example.com", "buyer").await;
    let withdrawn = app.register("withdrawn@example.com", "buyer").await;
    let auction = create_auction(&app, &seller, json!({})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    for (user, max) in [(&early, 2000), (&high, 3000), (&withdrawn, 2500)] {
        let res = app
            .put_json(
                &format!("/api/v1/auctions/{id}/pre-bid"),
                &json!({"max_amount": max}),
                Some(&user.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app
        .delete(
            &format!("/api/v1/auctions/{id}/pre-bid"),
            Some(&withdrawn.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        command(&app, &seller, &id, "start").await.status(),
        StatusCode::OK
    );

    eventually("the pre-bidders' notices", async || {
        let mut early_kinds = kinds(&inbox(&app, &early).await);
        early_kinds.sort();
        early_kinds == ["lot_started", "outbid"]
            && kinds(&inbox(&app, &high).await) == ["lot_started"]
    })
    .await;
    let notice = &inbox(&app, &high).await["items"][0];
    assert_eq!(notice["data"]["auction_id"], id.as_str());
    assert_eq!(notice["url"], format!("/auctions/{id}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kinds(&inbox(&app, &withdrawn).await), Vec::<String>::new());
}
