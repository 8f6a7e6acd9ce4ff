//! Calls to the node that serves an auction, over HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blytz_actors::AuctionError;
use blytz_actors::domain::AuctionId;
use blytz_actors::remote::{Answer, Remote, Request};
use blytz_actors::rules::Command;

use super::{INTERNAL_PREFIX, Leases, NODE_TOKEN_HEADER};

/// How long one call may take, retries included, before it answers
/// `unavailable`: long enough to ride out a takeover (a lease and a round).
const CALL_BUDGET: Duration = Duration::from_secs(6);
/// How long one hop may take.
const HOP_TIMEOUT: Duration = Duration::from_secs(3);
/// The first pause before asking the database for the owner again.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// The longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// The engine's way to other nodes: finds the owner of an auction's shard
/// (from the lease table, read again after a `moved`) and posts the call to
/// its `/internal/v1/engine/{auction_id}`.
#[derive(Debug, Clone)]
pub struct Forwarder {
    leases: Arc<Leases>,
    client: reqwest::Client,
}

/// Whether `request` may be sent again after a hop whose answer was lost:
/// reads may; a command only when it carries a request id, which makes
/// the owner answer its first outcome again instead of running it twice.
fn resendable(request: &Request) -> bool {
    match request {
        Request::Execute { command, .. } => match command {
            Command::Bid(bid) => bid.request_id.is_some(),
            Command::PreBid(pre_bid) => pre_bid.request_id.is_some(),
            _ => false,
        },
        Request::Create { .. } => false,
        Request::View | Request::PreBid { .. } | Request::SnapshotFrame => true,
    }
}

enum Hop {
    Answered(Box<Answer>),
    /// Nothing reached the owner, or it does not serve the auction: ask
    /// the database who does and try again.
    Again,
    /// The call may have run; sending it again is not safe.
    Lost,
}

impl Forwarder {
    /// A forwarder over this node's lease table.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(leases: Arc<Leases>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(HOP_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { leases, client })
    }

    async fn hop(&self, address: &str, auction_id: AuctionId, request: &Request) -> Hop {
        let url = format!("{address}{INTERNAL_PREFIX}/engine/{auction_id}");
        let sent = self
            .client
            .post(url)
            .header(NODE_TOKEN_HEADER, &self.leases.settings().node_token)
            .json(request)
            .send()
            .await;
        let lost = |error: &reqwest::Error| {
            tracing::warn!(%address, %error, op = request.name(), "a call to another node failed");
            if error.is_connect() || resendable(request) {
                Hop::Again
            } else {
                Hop::Lost
            }
        };
        let response = match sent.and_then(reqwest::Response::error_for_status) {
            Ok(response) => response,
            Err(error) => return lost(&error),
        };
        match response.json::<Answer>().await {
            Ok(Answer::Moved) => Hop::Again,
            Ok(answer) => Hop::Answered(Box::new(answer)),
            Err(error) => lost(&error),
        }
    }

    async fn call_owner(
        &self,
        auction_id: AuctionId,
        request: &Request,
    ) -> Result<Answer, AuctionError> {
        let shard = self.leases.shard_of(auction_id);
        let deadline = Instant::now() + CALL_BUDGET;
        let mut pause = FIRST_PAUSE;
        let mut address = self.leases.owner_address(shard);
        loop {
            if let Some(address) = &address {
                match self.hop(address, auction_id, request).await {
                    Hop::Answered(answer) => return Ok(*answer),
                    Hop::Again => {}
                    Hop::Lost => return Err(AuctionError::Unavailable),
                }
            }
            if Instant::now() + pause > deadline {
                return Err(AuctionError::Unavailable);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
            match self.leases.look_up_owner(shard).await {
                // This node holds the shard now: the engine serves it here.
                Ok(Some(owner)) if owner.0 == self.leases.node_id() => return Ok(Answer::Moved),
                Ok(owner) => address = owner.map(|(_, address)| address),
                Err(error) => {
                    tracing::warn!(%error, shard, "looking up a shard's owner failed");
                    address = None;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Remote for Forwarder {
    async fn call(&self, auction_id: AuctionId, request: Request) -> Result<Answer, AuctionError> {
        let op = request.name();
        let started = Instant::now();
        let result = self.call_owner(auction_id, &request).await;
        let outcome = match &result {
            Ok(Answer::Moved) => "here",
            Ok(_) => "answered",
            Err(_) => "unavailable",
        };
        metrics::counter!("cluster_forwarded_total", "op" => op, "outcome" => outcome).increment(1);
        metrics::histogram!("cluster_forward_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        result
    }
}
