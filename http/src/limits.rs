//! Rate limits (GCRA via `governor`, keyed in memory) and the client IP.
//!
//! - auth: login and register attempts per client IP (`BLYTZ_AUTH_RATE_PER_MIN`);
//! - general: requests per user, or per IP for anonymous callers (`BLYTZ_RATE_PER_MIN`);
//! - bids: bids per user a second (`BLYTZ_BID_RATE_PER_SEC`);
//! - uploads: picture uploads per user a minute (`BLYTZ_UPLOADS_PER_MIN`).
//!
//! Chat messages are counted per user and room by the room itself
//! (`BLYTZ_CHAT_RATE_PER_SEC`, `BLYTZ_CHAT_BURST`); in a cluster they are
//! also counted here, in Redis ([`RateLimits::check_chat`]).
//!
//! A limit of 0 turns it off. A refusal is `429 rate_limited` with `Retry-After`.
//! Counters live in this process; in a cluster ([`RateLimits::shared_in`])
//! each limit is also counted in Redis, by one GCRA script shared by every
//! node, so a client spreading requests (or chat messages) over the nodes
//! gets the same rate as on one. Redis answering late or not at all lets
//! the request through (the node's own count still holds).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use blytz::Error;
use blytz::ids::UserId;
use blytz_actors::rooms::RoomKey;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// Who a limit counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// An anonymous caller, by client IP.
    Ip(IpAddr),
    /// An authenticated user.
    User(UserId),
}

/// One keyed limiter, or none when its rate is 0.
struct Limiter(Option<DefaultKeyedRateLimiter<LimitKey>>);

impl Limiter {
    fn new(quota: Option<Quota>) -> Self {
        Self(quota.map(RateLimiter::keyed))
    }

    fn check(&self, key: LimitKey) -> Result<(), Error> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Which limit a count is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Login and register attempts.
    Auth,
    /// Any request.
    General,
    /// Bids.
    Bids,
    /// Picture uploads.
    Uploads,
}

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::General => "general",
            Self::Bids => "bids",
            Self::Uploads => "uploads",
        }
    }
}

/// GCRA in Redis: `KEYS[1]` the key, `ARGV[1]` the emission interval and
/// `ARGV[2]` the burst tolerance, in milliseconds, on the server's clock.
/// Answers 0 when the request conforms (and records it), else how many
/// milliseconds until it would.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - tolerance - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now + 1)
return 0
";

/// The longest a shared count may take before the request goes on.
const SHARED_TIMEOUT: Duration = Duration::from_millis(250);

/// The limits' counters in Redis, shared by the nodes of a cluster.
struct Shared {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
    /// Per kind: (emission interval, burst tolerance) in ms; none: off.
    quotas: [Option<(u64, u64)>; 4],
    /// The same for a user's chat messages in one room.
    chat: Option<(u64, u64)>,
}

impl Shared {
    /// Counts one call against `key` with the GCRA script: the wait in
    /// milliseconds, 0 when it may go. Redis failing or answering late
    /// counts as 0 (the node's own count still holds).
    async fn count(&self, key: String, interval: u64, tolerance: u64) -> u64 {
        let mut conn = self.conn.clone();
        let mut call = self.script.prepare_invoke();
        call.key(key).arg(interval).arg(tolerance);
        match tokio::time::timeout(SHARED_TIMEOUT, call.invoke_async::<u64>(&mut conn)).await {
            Ok(Ok(wait_ms)) => wait_ms,
            Ok(Err(error)) => {
                tracing::debug!(%error, "a shared rate count failed; the node's own count holds");
                metrics::counter!("rate_limit_shared_failures_total").increment(1);
                0
            }
            Err(_) => {
                metrics::counter!("rate_limit_shared_failures_total").increment(1);
                0
            }
        }
    }
}

/// Every limit of the server.
pub struct RateLimits {
    auth: Limiter,
    general: Limiter,
    bids: Limiter,
    uploads: Limiter,
    trusted_proxies: Vec<IpNet>,
    shared: Option<Shared>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limits from the configured rates (0 = off).
    pub fn new(config: &blytz::Config) -> Self {
        let per_minute = |n: u32| NonZeroU32::new(n).map(Quota::per_minute);
        let per_second = |n: u32| NonZeroU32::new(n).map(Quota::per_second);
        Self {
            auth: Limiter::new(per_minute(config.auth_rate_per_min)),
            general: Limiter::new(per_minute(config.rate_per_min)),
            bids: Limiter::new(per_second(config.bid_rate_per_sec)),
            uploads: Limiter::new(per_minute(config.uploads_per_min)),
            trusted_proxies: config.trusted_proxies.clone(),
            shared: None,
        }
    }

    /// The same limits, also counted in Redis under `prefix` (a cluster's
    /// id): see the module documentation.
    #[must_use]
    pub fn shared_in(
        mut self,
        redis: &blytz::redis_store::Redis,
        prefix: &str,
        config: &blytz::Config,
    ) -> Self {
        // GCRA: one call every `period / n`, up to `burst` at once.
        let gcra = |n: u32, period_ms: u64, burst: u32| {
            (n > 0).then(|| {
                let interval = (period_ms / u64::from(n)).max(1);
                let tolerance = period_ms * u64::from(burst.max(1)) / u64::from(n);
                (interval, tolerance.max(interval))
            })
        };
        // The request kinds' burst is the whole quota.
        let quota = |n: u32, period_ms: u64| gcra(n, period_ms, n);
        self.shared = Some(Shared {
            conn: redis.connection(),
            prefix: format!("blytz:{prefix}:limits"),
            script: redis::Script::new(GCRA_SCRIPT),
            quotas: [
                quota(config.auth_rate_per_min, 60_000),
                quota(config.rate_per_min, 60_000),
                quota(config.bid_rate_per_sec, 1_000),
                quota(config.uploads_per_min, 60_000),
            ],
            // As the rooms count: `rate` a second, `burst` at once.
            chat: gcra(config.chat_rate_per_sec, 1_000, config.chat_burst),
        });
        self
    }

    /// The count in Redis shared by every node (a no-op on a single node).
    async fn check_shared(&self, kind: Kind, key: LimitKey) -> Result<(), Error> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let index = match kind {
            Kind::Auth => 0,
            Kind::General => 1,
            Kind::Bids => 2,
            Kind::Uploads => 3,
        };
        let Some((interval, tolerance)) = shared.quotas[index] else {
            return Ok(());
        };
        let who = match key {
            LimitKey::Ip(ip) => format!("ip:{ip}"),
            LimitKey::User(user) => format!("user:{user}"),
        };
        let key = format!("{}:{}:{who}", shared.prefix, kind.name());
        match shared.count(key, interval, tolerance).await {
            0 => Ok(()),
            wait_ms => Err(Error::RateLimited {
                retry_after_secs: wait_ms.div_ceil(1_000),
            }),
        }
    }

    /// Counts a chat message of `user`'s in `room` in Redis, shared by
    /// every node: `Err` with the wait in milliseconds when it comes too
    /// soon. On a single node (and for a rate of 0) this counts nothing:
    /// the room's own count is the limit there.
    ///
    /// # Errors
    /// The wait, in milliseconds, before the user's next message.
    pub async fn check_chat(&self, room: RoomKey, user: UserId) -> Result<(), u64> {
        let Some((shared, (interval, tolerance))) = self
            .shared
            .as_ref()
            .and_then(|shared| Some((shared, shared.chat?)))
        else {
            return Ok(());
        };
        let key = format!("{}:chat:{room}:user:{user}", shared.prefix);
        match shared.count(key, interval, tolerance).await {
            0 => Ok(()),
            wait_ms => Err(wait_ms),
        }
    }

    /// Counts a request of `kind` by `key`: against this node's own limit,
    /// then, in a cluster, against the one counted in Redis (see the module
    /// documentation). Keys: an IP for [`Kind::Auth`], a user for bids and
    /// uploads, either for [`Kind::General`].
    ///
    /// # Errors
    /// `rate_limited` with the wait.
    pub async fn check(&self, kind: Kind, key: LimitKey) -> Result<(), Error> {
        self.check_here(kind, key)?;
        if self.shared.is_none() {
            return Ok(());
        }
        // Boxed: the Redis call would otherwise size the future of every
        // caller (every bid carries this one), though one node never makes it.
        Box::pin(self.check_shared(kind, key)).await
    }

    /// This node's own count alone.
    fn check_here(&self, kind: Kind, key: LimitKey) -> Result<(), Error> {
        match kind {
            Kind::Auth => &self.auth,
            Kind::General => &self.general,
            Kind::Bids => &self.bids,
            Kind::Uploads => &self.uploads,
        }
        .check(key)
    }

    /// Drop the state of keys that have been quiet long enough to be full again.
    pub fn forget_idle(&self) {
        self.auth.forget_idle();
        self.general.forget_idle();
        self.bids.forget_idle();
        self.uploads.forget_idle();
    }

    /// The client's IP: the peer, or, when the peer is a trusted proxy, the
    /// right-most address in `X-Forwarded-For` that is not itself trusted.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.is_trusted(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        Some(client)
    }

    /// The client IP of a request being handled.
    pub fn client_ip_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
    }

    /// The client IP of a request in a middleware.
    pub fn client_ip_of_service(&self, req: &ServiceRequest) -> Option<IpAddr> {
        self.client_ip(req.peer_addr().map(|a| a.ip()), req.headers())
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

/// How often idle limiter keys are forgotten.
pub const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn limits(trusted: &[&str]) -> RateLimits {
        let config = blytz::Config {
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            ..blytz::Config::default()
        };
        RateLimits::new(&config)
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let limits = limits(&[]);
        assert_eq!(limits.client_ip(Some(peer), &xff("1.2.3.4")), Some(peer));
    }

    #[test]
    fn trusted_proxy_chain_yields_the_first_untrusted_hop() {
        let limits = limits(&["10.0.0.0/8"]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let ip = limits.client_ip(Some(peer), &xff("6.6.6.6, 1.2.3.4, 10.0.0.7"));
        assert_eq!(ip, Some("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn the_sixth_attempt_in_a_minute_is_refused() {
        let limits = limits(&[]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            limits.check_here(Kind::Auth, LimitKey::Ip(ip)).unwrap();
        }
        let err = limits.check_here(Kind::Auth, LimitKey::Ip(ip)).unwrap_err();
        assert!(matches!(err, Error::RateLimited { retry_after_secs } if retry_after_secs >= 1));
        // Another IP is unaffected.
        limits
            .check_here(Kind::Auth, LimitKey::Ip("192.0.2.2".parse().unwrap()))
            .unwrap();
    }
}
