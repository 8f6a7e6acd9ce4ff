//! The journal's fence, below the nodes' clocks, on the test PostgreSQL: a
//! commit under a lease another node has claimed is refused, and a node
//! frozen inside a commit does not keep its shard. Needs `TEST_DATABASE_URL`
//! (PostgreSQL); without it each test says so and passes (the SQLite pass of
//! the suite).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use blytz::auctions::SqlJournal;
use blytz::db::{Db, ScratchDb};
use blytz_actors::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};
use blytz_actors::ports::{Fence, Placement, SystemClock};
use blytz_actors::rooms::RoomKey;
use blytz_actors::rules::{Bid, Command, NewAuction};
use blytz_actors::{AuctionError, Engine, EngineHooks, EngineSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use uuid::Uuid;

/// Node A's fence: shard 0 at epoch 1.
const FENCE: Fence = Fence { shard: 0, epoch: 1 };

/// A node that still believes it holds shard 0 at epoch 1, until the
/// journal tells it otherwise.
#[derive(Debug, Default)]
struct Believer {
    fenced: AtomicBool,
}

impl Placement for Believer {
    fn fence(&self, _: AuctionId) -> Option<Fence> {
        (!self.fenced.load(Ordering::Relaxed)).then_some(FENCE)
    }

    fn holds(&self, fence: Fence) -> bool {
        self.fence(AuctionId::new()) == Some(fence)
    }

    fn fenced(&self, _: Fence) {
        self.fenced.store(true, Ordering::Relaxed);
    }
}

/// A scratch database where node A leases shard 0 at epoch 1, with a
/// seller and a buyer, and a started auction of that seller's.
struct Leased {
    scratch: ScratchDb,
    seller: UserId,
    buyer: Caller,
}

impl Leased {
    /// `None` (and a line saying so) without `TEST_DATABASE_URL`.
    async fn new() -> Option<Self> {
        let Some(server) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("needs TEST_DATABASE_URL: not run");
            return None;
        };
        let scratch = ScratchDb::postgres(&server).await.unwrap();
        let leased = Self {
            scratch,
            seller: UserId::new(),
            buyer: Caller::new(UserId::new(), Role::Buyer),
        };
        sqlx::query(
            "INSERT INTO shard_leases (shard, node_id, epoch, lease_until) \
             VALUES (0, 'node-a', 1, now() + interval '1 hour')",
        )
        .execute(leased.pool())
        .await
        .unwrap();
        for (id, role) in [(leased.seller, "seller"), (leased.buyer.id, "buyer")] {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) \
                 VALUES ($1, $2, 'x', 'Tester', $3, now(), now())",
            )
            .bind(Uuid::from(id))
            .bind(format!("{id}@example.com"))
            .bind(role)
            .execute(leased.pool())
            .await
            .unwrap();
        }
        Some(leased)
    }

    fn pool(&self) -> &sqlx::PgPool {
        let Db::Postgres(pool) = &self.scratch.db else {
            unreachable!("a PostgreSQL scratch database")
        };
        pool
    }

    /// Node A's engine, on `db`: its journal is fenced with `lease` as the
    /// longest a commit may wait on it, and it believes it holds shard 0.
    fn node_a(db: Db, lease: Duration) -> Engine {
        let journal = SqlJournal::new(db, None).fenced_for("node-a", lease);
        Engine::start_with(
            Arc::new(journal),
            Arc::new(SystemClock),
            EngineSettings {
                arbiters: 0,
                writer_thread: false,
                ..EngineSettings::default()
            },
            EngineHooks {
                placement: Some(Arc::new(Believer::default())),
                ..EngineHooks::default()
            },
        )
    }

    /// A started auction of the seller's, made through `engine`.
    async fn started_auction(&self, engine: &Engine) -> AuctionId {
        let new = NewAuction::new(
            ProductId::new(),
            "USD".parse::<Currency>().unwrap(),
            1_000,
            60_000,
        );
        let auction = engine.create_auction(self.seller, new).await.unwrap().id;
        engine
            .execute(
                auction,
                Caller::new(self.seller, Role::Seller),
                Command::Start,
            )
            .await
            .unwrap();
        auction
    }

    /// Node B claims shard 0: the epoch grows.
    async fn claim_for_node_b(&self) {
        sqlx::query("UPDATE shard_leases SET node_id = 'node-b', epoch = 2 WHERE shard = 0")
            .execute(self.pool())
            .await
            .unwrap();
    }

    /// The events the journal holds for `auction`.
    async fn events(&self, auction: AuctionId) -> i64 {
        let (events,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM auction_events WHERE auction_id = $1")
                .bind(Uuid::from(auction))
                .fetch_one(self.pool())
                .await
                .unwrap();
        events
    }
}

fn bid(amount: i64) -> Command {
    Command::Bid(Bid {
        amount,
        max_amount: None,
        request_id: Some(format!("bid-{amount}")),
    })
}

/// An owner that has not noticed that another node claimed its shard (as
/// after a freeze) has its first commit refused. Nothing of it is journaled,
/// answered or published, and the node stops serving the shard.
#[actix_web::test]
async fn a_commit_under_a_lost_lease_is_fenced_and_reaches_no_one() {
    let Some(leased) = Leased::new().await else {
        return;
    };
    let engine = Leased::node_a(leased.scratch.db.clone(), Duration::from_secs(60));
    let auction = leased.started_auction(&engine).await;
    let buyer = leased.buyer;
    engine.execute(auction, buyer, bid(1_000)).await.unwrap();
    let mut room = engine.subscribe(RoomKey::Auction(auction));

    leased.claim_for_node_b().await;
    let refused = engine.execute(auction, buyer, bid(5_000)).await;
    assert_eq!(
        refused,
        Err(AuctionError::Moved),
        "the stale owner acknowledged nothing"
    );
    assert_eq!(
        leased.events(auction).await,
        3,
        "created, started and the first bid; nothing of the fenced batch"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(room.try_recv().is_err(), "nothing reached a watcher");
    // The node no longer serves the auction: with no other node to ask, it
    // says so rather than answer from memory.
    assert_eq!(engine.view(auction).await, Err(AuctionError::Moved));
    assert!(!engine.serves(auction));
    engine.stop();
}

/// A TCP relay to PostgreSQL that, the first time the client sends a
/// journal insert, holds it (and whatever follows) as a frozen process
/// would, until woken. PostgreSQL then sees the client idle inside the
/// transaction its fence opened.
struct FreezingRelay {
    port: u16,
    frozen: Arc<Notify>,
    wake: Arc<Notify>,
}

/// What the journal's commit sends after its fence.
const JOURNAL_INSERT: &[u8] = b"INSERT INTO auction_events";

impl FreezingRelay {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(Notify::new());
        let wake = Arc::new(Notify::new());
        let armed = Arc::new(AtomicBool::new(true));
        let (on_freeze, on_wake) = (Arc::clone(&frozen), Arc::clone(&wake));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let _closed = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                let (on_freeze, on_wake, armed) = (
                    Arc::clone(&on_freeze),
                    Arc::clone(&on_wake),
                    Arc::clone(&armed),
                );
                tokio::spawn(async move {
                    let mut buf = vec![0_u8; 64 * 1024];
                    loop {
                        let read = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => read,
                        };
                        let chunk = &buf[..read];
                        if chunk
                            .windows(JOURNAL_INSERT.len())
                            .any(|w| w == JOURNAL_INSERT)
                            && armed.swap(false, Ordering::SeqCst)
                        {
                            on_freeze.notify_one();
                            on_wake.notified().await;
                        }
                        if to_server.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { port, frozen, wake }
    }
}

/// The guard for a node frozen between the statements of a commit: the
/// fence share-locks the shard's lease row until the transaction ends, so
/// without a limit a claim would wait for the frozen node to wake. The
/// fence sets PostgreSQL's `idle_in_transaction_session_timeout` to the
/// lease: PostgreSQL ends the transaction, the claim goes through while the
/// node is still frozen, and nothing of the commit is journaled or
/// acknowledged.
#[actix_web::test]
async fn a_node_frozen_inside_a_commit_does_not_keep_its_shard() {
    let Some(leased) = Leased::new().await else {
        return;
    };
    // The auction is made by a node with a journal of its own, so that node
    // A's first commit is the bid and its insert is sent in full.
    let setup = Leased::node_a(leased.scratch.db.clone(), Duration::from_secs(60));
    let auction = leased.started_auction(&setup).await;
    setup.stop();

    let mut url = reqwest::Url::parse(&leased.scratch.url).unwrap();
    let upstream = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap_or(5432)
    );
    let relay = FreezingRelay::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.port)).unwrap();
    let relayed = Db::connect(url.as_str()).await.unwrap();
    let lease = Duration::from_millis(1_000);
    let engine = Leased::node_a(relayed.clone(), lease);
    let buyer = leased.buyer;
    let bidding = {
        let engine = engine.clone();
        actix_web::rt::spawn(async move { engine.execute(auction, buyer, bid(1_000)).await })
    };
    tokio::time::timeout(Duration::from_secs(10), relay.frozen.notified())
        .await
        .expect("node A's commit reached its insert");

    let asked = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), leased.claim_for_node_b())
        .await
        .expect("the claim went through while node A was still frozen");
    let waited = asked.elapsed();
    assert!(
        waited >= lease / 2,
        "the claim waited for the frozen commit's lock ({waited:?})"
    );

    relay.wake.notify_one();
    let answer = tokio::time::timeout(Duration::from_secs(10), bidding)
        .await
        .expect("node A answered once awake")
        .unwrap();
    assert!(answer.is_err(), "nothing was acknowledged: {answer:?}");
    assert_eq!(
        leased.events(auction).await,
        2,
        "created and started; nothing of the frozen commit"
    );
    engine.stop();
    relayed.close().await;
}
