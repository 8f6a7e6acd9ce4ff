//! Commerce on both backends: the outbox consumer makes exactly one order per
//! won auction (crashes and concurrent consumers included), checkouts never
//! oversell, reservations expire, carts merge within stock, addresses and
//! carts stay private.

use std::sync::Arc;

use blytz::Db;
use blytz::accounts::Role;
use blytz::auctions::AUCTION_ENDED_TOPIC;
use blytz::commerce::addresses::AddressInput;
use blytz::commerce::cart::CartOwner;
use blytz::commerce::inventory::StockInput;
use blytz::commerce::orders::CheckoutInput;
use blytz::commerce::outbox::{Finish, Outcome};
use blytz::commerce::payments::manual::ManualGateway;
use blytz::commerce::shipping::ManualShipping;
use blytz::commerce::{Caller, Commerce, CommerceSettings, OrderStatus};
use blytz::ids::{AuctionId, ProductId, UserId};
use blytz::{Error, with_db};
use blytz_actors::domain::Currency;
use blytz_actors::ports::Settlement;
use blytz_actors::rules::EndReason;
use sqlx::types::Json;
use uuid::Uuid;

use crate::helpers::backends;

fn commerce(db: &Db) -> Commerce {
    Commerce::new(
        db.clone(),
        CommerceSettings {
            tax_rate_bps: 1000,
            shipping_flat_minor: 500,
            ..CommerceSettings::default()
        },
        Arc::new(ManualGateway),
        Arc::new(ManualShipping),
        None,
    )
}

pub async fn user(db: &Db, role: Role) -> UserId {
    let id = Uuid::now_v7();
    let now = blytz::time::now();
    with_db!(db, pool => sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) \
         VALUES ($1, $2, 'x', 'User', $3, $4, $4)",
    )
    .bind(id)
    .bind(format!("{}@example.com", id.simple()))
    .bind(role.as_str())
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    UserId::from(id)
}

pub async fn product(db: &Db, seller: UserId, buy_now: Option<i64>) -> ProductId {
    let id = Uuid::now_v7();
    let now = blytz::time::now();
    with_db!(db, pool => sqlx::query(
        "INSERT INTO products (id, seller_id, title, description, condition, currency, start_price, \
         buy_now_price, status, created_at, updated_at) \
         VALUES ($1, $2, 'Camera', 'Works', 'used', 'USD', 100, $3, 'active', $4, $4)",
    )
    .bind(id)
    .bind(Uuid::from(seller))
    .bind(buy_now)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    ProductId::from(id)
}

fn actor(user: UserId, role: Role) -> Caller {
    Caller::new(user, role)
}

pub fn address(kind: &str) -> AddressInput {
    AddressInput {
        kind: kind.into(),
        label: Some("Home".into()),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        address_line1: "1 Main St".into(),
        address_line2: None,
        city: "Springfield".into(),
        state: Some("IL".into()),
        postal_code: "62701".into(),
        country: "us".into(),
        phone: Some("+1 217 555 0100".into()),
        is_default: false,
    }
}

async fn ended(
    db: &Db,
    seller: UserId,
    product: ProductId,
    winner: Option<UserId>,
    price: i64,
) -> (AuctionId, Uuid) {
    let auction = AuctionId::new();
    let settlement = Settlement {
        auction_id: auction,
        seller_id: seller,
        product_id: product,
        show_id: None,
        winner_id: winner,
        final_price: winner.map(|_| price),
        currency: Currency::USD,
        reserve_met: winner.is_some(),
        reason: EndReason::Timer,
        ended_at: chrono::Utc::now(),
    };
    let id = Uuid::now_v7();
    with_db!(db, pool => sqlx::query(
        "INSERT INTO outbox (id, topic, key, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(AUCTION_ENDED_TOPIC)
    .bind(auction.to_string())
    .bind(Json(&settlement))
    .bind(blytz::time::now())
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    (auction, id)
}

async fn count(db: &Db, sql: &'static str, id: Uuid) -> i64 {
    with_db!(db, pool => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await).unwrap()
}

fn code(e: &Error) -> &'static str {
    e.code().as_str()
}

#[tokio::test]
async fn outbox_makes_exactly_one_order_per_won_auction() {
    for scratch in backends().await {
        let db = &scratch.db;
        let seller = user(db, Role::Seller).await;
        let winner = user(db, Role::Buyer).await;
        let item = product(db, seller, None).await;
        let mut won = Vec::new();
        for i in 0..6 {
            won.push(ended(db, seller, item, Some(winner), 1000 + i).await);
        }
        let (unsold, unsold_row) = ended(db, seller, item, None, 0).await;

        // A crash after the order insert but before the commit leaves nothing.
        let c = commerce(db);
        let (crashed, crashed_row) = won[0];
        assert_eq!(
            c.process_outbox_row(crashed_row, Finish::Abandon)
                .await
                .unwrap(),
            Outcome::Abandoned
        );
        let sql = "SELECT COUNT(*) FROM orders WHERE auction_id = $1";
        assert_eq!(count(db, sql, crashed.into_uuid()).await, 0);
        let pending = "SELECT COUNT(*) FROM outbox WHERE id = $1 AND processed_at IS NULL";
        assert_eq!(count(db, pending, crashed_row).await, 1);

        // Two consumers at once, several rounds each, over the same rows.
        let (a, b) = (commerce(db), commerce(db));
        let (ra, rb) = tokio::join!(
            async {
                let mut n = 0;
                for _ in 0..3 {
                    n += a.consume_outbox().await.unwrap();
                }
                n
            },
            async {
                let mut n = 0;
                for _ in 0..3 {
                    n += b.consume_outbox().await.unwrap();
                }
                n
            }
        );
        assert_eq!(ra + rb, 6, "every won auction yields one order, in total");
        for (auction, row) in &won {
            assert_eq!(count(db, sql, auction.into_uuid()).await, 1);
            assert_eq!(count(db, pending, *row).await, 0);
        }
        assert_eq!(count(db, sql, unsold.into_uuid()).await, 0);
        assert_eq!(count(db, pending, unsold_row).await, 0);
        // A row processed again (a redelivery) changes nothing.
        assert_eq!(
            c.process_outbox_row(won[1].1, Finish::Commit)
                .await
                .unwrap(),
            Outcome::AlreadyProcessed
        );
        assert_eq!(c.consume_outbox().await.unwrap(), 0);

        // The winner's order: the hammer price, tax and shipping by the rules.
        let order = c
            .order_for_auction(actor(winner, Role::Buyer), won[2].0.into_uuid())
            .await
            .unwrap();
        assert_eq!(order.status, OrderStatus::PendingPayment);
        assert_eq!(order.subtotal, 1002);
        assert_eq!(order.tax, 100);
        assert_eq!(order.shipping, 500);
        assert_eq!(order.total, 1602);
        assert_eq!(order.items.len(), 1);
        assert_eq!(order.items[0].unit_price, 1002);
        assert!(order.payment_due_at > order.created_at);
        // Nobody else sees it.
        let stranger = user(db, Role::Buyer).await;
        let err = c
            .order(actor(stranger, Role::Buyer), order.id)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "not_found");
        // The seller sees it as a sale and can mark it paid (manual gateway).
        let paid = c
            .mark_paid(actor(seller, Role::Seller), order.id)
            .await
            .unwrap();
        assert_eq!(paid.status, OrderStatus::Paid);
        let err = c
            .cancel_order(actor(winner, Role::Buyer), order.id)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "invalid_transition");

        // Past their payment due time the unpaid winners' orders lapse.
        assert_eq!(c.release_expired(blytz::time::now()).await.unwrap(), 0);
        let after_due = blytz::time::now() + chrono::Duration::days(3);
        assert_eq!(c.release_expired(after_due).await.unwrap(), 5);
        let lapsed = c
            .order_for_auction(actor(winner, Role::Buyer), won[3].0.into_uuid())
            .await
            .unwrap();
        assert_eq!(lapsed.status, OrderStatus::Cancelled);
        let still = c.order(actor(winner, Role::Buyer), order.id).await.unwrap();
        assert_eq!(still.status, OrderStatus::Paid);

        // A row that keeps failing (its winner does not exist) is retried,
        // counted, and parked after MAX_ATTEMPTS; it never makes an order.
        let (ghost, ghost_row) = ended(db, seller, item, Some(UserId::new()), 700).await;
        for _ in 0..blytz::commerce::outbox::MAX_ATTEMPTS + 2 {
            assert_eq!(c.consume_outbox().await.unwrap(), 0);
        }
        let attempts = "SELECT CAST(attempts AS BIGINT) FROM outbox WHERE id = $1";
        assert_eq!(
            count(db, attempts, ghost_row).await,
            blytz::commerce::outbox::MAX_ATTEMPTS
        );
        assert_eq!(count(db, pending, ghost_row).await, 1);
        assert_eq!(count(db, sql, ghost.into_uuid()).await, 0);
    }
}

#[tokio::test]
async fn fifty_concurrent_checkouts_for_ten_units() {
    for scratch in backends().await {
        let db = &scratch.db;
        let c = commerce(db);
        let seller = user(db, Role::Seller).await;
        let item = product(db, seller, Some(2500)).await;
        c.set_stock(
            actor(seller, Role::Seller),
            item,
            StockInput {
                quantity: 10,
                low_stock_threshold: None,
            },
        )
        .await
        .unwrap();
        let mut buyers = Vec::new();
        for _ in 0..50 {
            let buyer = user(db, Role::Buyer).await;
            let addr = c.create_address(buyer, address("shipping")).await.unwrap();
            c.add_to_cart(Some(&CartOwner::User(buyer)), item, 1)
                .await
                .unwrap();
            buyers.push((buyer, addr.id));
        }
        let results = futures_util::future::join_all(buyers.iter().map(|(buyer, addr)| {
            let c = c.clone();
            async move {
                c.checkout(
                    *buyer,
                    CheckoutInput {
                        shipping_address_id: *addr,
                    },
                )
                .await
            }
        }))
        .await;
        let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(ok.len(), 10, "exactly the stock is sold");
        assert_eq!(refused.len(), 40);
        for e in &refused {
            assert_eq!(code(e), "out_of_stock", "{e:?}");
            assert_eq!(e.code().status(), 409, "a conflict");
        }
        for orders in &ok {
            assert_eq!(orders.len(), 1);
            assert_eq!(orders[0].subtotal, 2500);
            assert_eq!(orders[0].tax, 250);
            assert_eq!(orders[0].total, 3250);
            assert!(orders[0].shipping_address.is_some());
        }
        let stock = c.stock(actor(seller, Role::Seller), item).await.unwrap();
        assert_eq!(
            (stock.quantity, stock.reserved, stock.available),
            (10, 10, 0)
        );
        let low = c
            .low_stock(actor(seller, Role::Seller), &Default::default())
            .await
            .unwrap();
        assert_eq!(low.items.len(), 1);

        // Stock may not drop below what is held.
        let err = c
            .set_stock(
                actor(seller, Role::Seller),
                item,
                StockInput {
                    quantity: 5,
                    low_stock_threshold: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), "stock_reserved");

        // One is paid (sold), one cancelled (released), the rest expire.
        let paid = ok[0][0].id;
        c.mark_paid(actor(seller, Role::Seller), paid)
            .await
            .unwrap();
        let cancelled = ok[1][0].id;
        let buyer_of = |id| {
            buyers
                .iter()
                .map(|(b, _)| *b)
                .find(|b| {
                    ok.iter()
                        .any(|o| o[0].id == id && o[0].buyer_id == Uuid::from(*b))
                })
                .unwrap()
        };
        c.cancel_order(actor(buyer_of(cancelled), Role::Buyer), cancelled)
            .await
            .unwrap();
        let stock = c.stock(actor(seller, Role::Seller), item).await.unwrap();
        assert_eq!((stock.quantity, stock.reserved, stock.available), (9, 8, 1));
        assert_eq!(c.release_expired(blytz::time::now()).await.unwrap(), 0);
        let later = blytz::time::now() + chrono::Duration::hours(1);
        assert_eq!(c.release_expired(later).await.unwrap(), 8);
        let stock = c.stock(actor(seller, Role::Seller), item).await.unwrap();
        assert_eq!((stock.quantity, stock.reserved, stock.available), (9, 0, 9));
        let order = c
            .order(actor(seller, Role::Seller), ok[2][0].id)
            .await
            .unwrap();
        assert_eq!(order.status, OrderStatus::Cancelled);
        let order = c.order(actor(seller, Role::Seller), paid).await.unwrap();
        assert_eq!(order.status, OrderStatus::Paid);
    }
}

#[tokio::test]
async fn a_product_an_open_auction_holds_goes_in_no_cart() {
    for scratch in backends().await {
        let db = &scratch.db;
        let c = commerce(db);
        let seller = user(db, Role::Seller).await;
        let item = product(db, seller, Some(1000)).await;
        let ended = product(db, seller, Some(1000)).await;
        crate::catalog::put_in_auction(db, seller, item, "live", 600).await;
        crate::catalog::put_in_auction(db, seller, ended, "ended", 10).await;
        for product in [item, ended] {
            let stock = StockInput {
                quantity: 1,
                low_stock_threshold: None,
            };
            c.set_stock(actor(seller, Role::Seller), product, stock)
                .await
                .unwrap();
        }

        let err = c.add_to_cart(None, item, 1).await.unwrap_err();
        assert_eq!(code(&err), "product_in_auction");
        // An auction that is over holds nothing.
        let change = c.add_to_cart(None, ended, 1).await.unwrap();
        assert_eq!(change.cart.items.len(), 1);
    }
}

#[tokio::test]
async fn carts_merge_within_stock_and_stay_private() {
    for scratch in backends().await {
        let db = &scratch.db;
        let c = commerce(db);
        let seller = user(db, Role::Seller).await;
        let alice = user(db, Role::Buyer).await;
        let bob = user(db, Role::Buyer).await;
        let item = product(db, seller, Some(1000)).await;
        let auction_only = product(db, seller, None).await;
        c.set_stock(
            actor(seller, Role::Seller),
            item,
            StockInput {
                quantity: 5,
                low_stock_threshold: Some(1),
            },
        )
        .await
        .unwrap();

        // A guest cart: made on first add, reached by its token.
        let change = c.add_to_cart(None, item, 3).await.unwrap();
        let token = change.new_token.clone().unwrap();
        assert_eq!(change.cart.items[0].quantity, 3);
        let guest = CartOwner::Guest(token.clone());
        assert_eq!(c.cart(Some(&guest)).await.unwrap().items.len(), 1);
        // A product without a buy-now price never goes in a cart.
        let err = c
            .add_to_cart(Some(&guest), auction_only, 1)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "not_fixed_price");
        // More than the stock is refused.
        let err = c.add_to_cart(Some(&guest), item, 3).await.unwrap_err();
        assert_eq!(code(&err), "insufficient_stock");

        // Alice has 4 already; the merge caps at the 5 in stock.
        c.add_to_cart(Some(&CartOwner::User(alice)), item, 4)
            .await
            .unwrap();
        let merged = c.merge_cart(alice, &token).await.unwrap();
        assert_eq!(merged.items.len(), 1);
        assert_eq!(merged.items[0].quantity, 5);
        assert_eq!(merged.subtotals[0].amount, 5000);
        // The guest cart is gone.
        assert!(c.cart(Some(&guest)).await.unwrap().items.is_empty());
        assert_eq!(
            code(&c.merge_cart(alice, &token).await.unwrap_err()),
            "not_found"
        );

        // Bob's cart is his own.
        assert!(
            c.cart(Some(&CartOwner::User(bob)))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let err = c
            .remove_from_cart(&CartOwner::User(bob), item)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "not_found");
        let cart = c
            .set_cart_quantity(&CartOwner::User(alice), item, 2)
            .await
            .unwrap();
        assert_eq!(cart.items[0].quantity, 2);
        let cart = c.clear_cart(&CartOwner::User(alice)).await.unwrap();
        assert!(cart.items.is_empty());

        // Addresses: validated field by field, one default per type, private.
        let mut bad = address("shipping");
        bad.country = "ZZ".into();
        match c.create_address(alice, bad).await.unwrap_err() {
            Error::Validation { field, rule, .. } => {
                assert_eq!(
                    (field.as_ref(), rule.as_ref()),
                    ("country", "iso3166_alpha2")
                );
            }
            other => panic!("{other:?}"),
        }
        let first = c.create_address(alice, address("shipping")).await.unwrap();
        assert!(first.is_default);
        assert_eq!(first.country, "US");
        let mut second = address("shipping");
        second.is_default = true;
        let second = c.create_address(alice, second).await.unwrap();
        assert!(second.is_default);
        assert!(!c.address(alice, first.id).await.unwrap().is_default);
        let billing = c.create_address(alice, address("billing")).await.unwrap();
        assert!(billing.is_default);
        assert_eq!(
            code(&c.address(bob, first.id).await.unwrap_err()),
            "not_found"
        );
        assert_eq!(
            code(
                &c.update_address(bob, first.id, address("shipping"))
                    .await
                    .unwrap_err()
            ),
            "not_found"
        );
        assert_eq!(
            code(&c.delete_address(bob, first.id).await.unwrap_err()),
            "not_found"
        );
        assert_eq!(
            c.addresses(alice, &Default::default())
                .await
                .unwrap()
                .items
                .len(),
            3
        );
        assert!(
            c.addresses(bob, &Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        // Bob cannot check out to Alice's address.
        c.add_to_cart(Some(&CartOwner::User(bob)), item, 1)
            .await
            .unwrap();
        let err = c
            .checkout(
                bob,
                CheckoutInput {
                    shipping_address_id: first.id,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(code(&err), "not_found");
        c.delete_address(alice, first.id).await.unwrap();
    }
}
