//! Rate limits (GCRA via `governor`, keyed in memory) and the client IP.
//!
//! - auth: login and register attempts per client IP (`BLYTZ_AUTH_RATE_PER_MIN`);
//! - general: requests per user, or per IP for anonymous callers (`BLYTZ_RATE_PER_MIN`);
//! - bids: bids per user a second (`BLYTZ_BID_RATE_PER_SEC`);
//! - uploads: picture uploads per user a minute (`BLYTZ_UPLOADS_PER_MIN`).
//!
//! A limit of 0 turns it off. A refusal is `429 rate_limited` with `Retry-After`.
//! Counters live in this process; with several nodes each keeps its own.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use blytz::Error;
use blytz::ids::UserId;
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

/// Every limit of the server.
pub struct RateLimits {
    auth: Limiter,
    general: Limiter,
    bids: Limiter,
    uploads: Limiter,
    trusted_proxies: Vec<IpNet>,
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
        }
    }

    /// Count a login or register attempt from `ip`.
    pub fn check_auth(&self, ip: IpAddr) -> Result<(), Error> {
        self.auth.check(LimitKey::Ip(ip))
    }

    /// Count a request against the user or, when anonymous, the IP.
    pub fn check_general(&self, key: LimitKey) -> Result<(), Error> {
        self.general.check(key)
    }

    /// Count a bid by `user`.
    pub fn check_bid(&self, user: UserId) -> Result<(), Error> {
        self.bids.check(LimitKey::User(user))
    }

    /// Count a picture upload by `user`.
    pub fn check_upload(&self, user: UserId) -> Result<(), Error> {
        self.uploads.check(LimitKey::User(user))
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
            limits.check_auth(ip).unwrap();
        }
        let err = limits.check_auth(ip).unwrap_err();
        assert!(matches!(err, Error::RateLimited { retry_after_secs } if retry_after_secs >= 1));
        // Another IP is unaffected.
        limits.check_auth("192.0.2.2".parse().unwrap()).unwrap();
    }
}
