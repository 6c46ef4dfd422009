//! Abuse control: rate limits per API key and per client address, the
//! client's address behind trusted proxies, and the recognition of bots.
//!
//! Rate limits are token buckets (`governor`'s GCRA), one per key or per
//! address; a refused request gets 429 `rate_limited` with `Retry-After`.
//! An address that fails authentication too often is refused for a minute
//! whatever token it sends next, so guessing tokens is slow. A limit of 0
//! turns that limit off.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The rate limits; `0` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per second per API key, with bursts of twice as many.
    pub per_key: u32,
    /// KAVA beacons per second per client address, with bursts of twice as
    /// many (beacons carry no key).
    pub beacons_per_address: u32,
    /// Failed authentications per minute per client address; past it the
    /// address gets 429 for a minute, whatever it sends.
    pub auth_failures_per_minute: u32,
}

impl RateLimits {
    /// No limit at all (in-process use, benchmarks).
    pub const OFF: RateLimits = RateLimits {
        per_key: 0,
        beacons_per_address: 0,
        auth_failures_per_minute: 0,
    };
}

impl Default for RateLimits {
    /// The server's defaults: generous for players and importers, tight for
    /// token guessing.
    fn default() -> RateLimits {
        RateLimits {
            per_key: 200,
            beacons_per_address: 50,
            auth_failures_per_minute: 20,
        }
    }
}

/// How long an address that failed authentication too often is refused.
const LOCKOUT: Duration = Duration::from_secs(60);

/// Every how many checks the limiters forget keys that are full again.
const SWEEP_EVERY: u64 = 4_096;

/// The limiters of one server.
pub struct Throttle {
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    beacons: Option<DefaultKeyedRateLimiter<IpAddr>>,
    auth_failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses refused until the given instant.
    locked_out: Mutex<std::collections::HashMap<IpAddr, Instant>>,
    checks: AtomicU64,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(
    quota: Option<Quota>,
) -> Option<DefaultKeyedRateLimiter<K>> {
    quota.map(RateLimiter::keyed)
}

fn per_second(rate: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Throttle {
    pub fn new(limits: RateLimits) -> Throttle {
        Throttle {
            per_key: keyed(per_second(limits.per_key)),
            beacons: keyed(per_second(limits.beacons_per_address)),
            auth_failures: keyed(
                NonZeroU32::new(limits.auth_failures_per_minute)
                    .map(|n| Quota::per_minute(n).allow_burst(n)),
            ),
            locked_out: Mutex::default(),
            checks: AtomicU64::new(0),
        }
    }

    fn sweep(&self) {
        if !self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            return;
        }
        for limiter in [&self.beacons, &self.auth_failures].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.per_key {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        if let Ok(mut locked) = self.locked_out.lock() {
            locked.retain(|_, until| *until > now);
        }
    }

    /// One request of the key `key_id`.
    ///
    /// # Errors
    /// 429 `rate_limited` past the key's rate.
    pub fn check_key(&self, key_id: &str) -> Result<(), ApiError> {
        self.sweep();
        let Some(limiter) = &self.per_key else {
            return Ok(());
        };
        // The limiter's own clock: a new one calibrates itself, which cost
        // a quarter of the server's time under a flood of refused requests.
        limiter.check_key(&key_id.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            limited(wait, "too many requests with this API key")
        })
    }

    /// One beacon from `address` (none for in-process calls).
    ///
    /// # Errors
    /// 429 `rate_limited` past the per-address beacon rate.
    pub fn check_beacon(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        self.sweep();
        let (Some(limiter), Some(address)) = (&self.beacons, address) else {
            return Ok(());
        };
        limiter.check_key(&address).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            limited(wait, &format!("too many beacons from {address}"))
        })
    }

    /// Refuses an address that failed authentication too often.
    ///
    /// # Errors
    /// 429 `rate_limited` while the address is locked out.
    pub fn check_locked_out(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(address) = address else {
            return Ok(());
        };
        let until = self
            .locked_out
            .lock()
            .ok()
            .and_then(|locked| locked.get(&address).copied());
        match until {
            Some(until) if until > Instant::now() => {
                let wait = until - Instant::now();
                Err(lockout(address, wait))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed authentication from `address`; returns the error to
    /// answer: `unauthorized` itself, or 429 when this failure was one too
    /// many.
    pub fn auth_failed(&self, address: Option<IpAddr>, unauthorized: ApiError) -> ApiError {
        self.sweep();
        let (Some(limiter), Some(address)) = (&self.auth_failures, address) else {
            return unauthorized;
        };
        if limiter.check_key(&address).is_ok() {
            return unauthorized;
        }
        if let Ok(mut locked) = self.locked_out.lock() {
            locked.insert(address, Instant::now() + LOCKOUT);
        }
        tracing::warn!(%address, "too many failed authentications; refusing the address for a minute");
        lockout(address, LOCKOUT)
    }
}

fn seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// 429 `rate_limited`: `what`, and when to retry (at least a second).
fn limited(wait: Duration, what: &str) -> ApiError {
    let after = seconds(wait).max(1);
    ApiError::new(
        crate::error::ErrorCode::RateLimited,
        format!("{what}; retry in {after} s"),
    )
    .retry_after(u32::try_from(after).unwrap_or(u32::MAX))
}

fn lockout(address: IpAddr, wait: Duration) -> ApiError {
    limited(
        wait,
        &format!("too many failed authentications from {address}"),
    )
}

/// Proxies whose `X-Forwarded-For` names the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.1`) and networks (`10.0.0.0/8`).
    ///
    /// # Errors
    /// The first entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("{entry:?} is not an IP address or network like 10.0.0.0/8")
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the nearest address in `X-Forwarded-For` that is not one.
    /// `None` for in-process calls, which have no peer.
    pub fn client(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip())?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.into_iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>() else {
                // A hop that is not an address cannot be trusted further.
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        Some(client)
    }
}

/// Recognises bots and crawlers by their `User-Agent`.
pub struct Bots {
    known: Option<isbot::Bots>,
}

/// Product names of HTTP libraries and command-line clients: isbot counts
/// them (and headless browsers) as bots, but they are how server-side relays, importers and tests
/// send events, so they are not excluded.
const HTTP_LIBRARIES: &[&str] = &[
    "curl",
    "wget",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "axios",
    "node-fetch",
    "node",
    "undici",
    "java",
    "apache-httpclient",
    "libwww-perl",
    "httpie",
    "reqwest",
    "ureq",
    "hyper",
    "postmanruntime",
    "insomnia",
    "guzzlehttp",
    "ruby",
    "faraday",
    "dart",
    "k6",
    "wrk",
    "oha",
];

impl Bots {
    /// With `exclude` false nothing is taken for a bot.
    pub fn new(exclude: bool) -> Bots {
        Bots {
            known: exclude.then(isbot::Bots::default),
        }
    }

    /// Whether `user_agent` names a bot or crawler (not an HTTP library).
    pub fn is_bot(&self, user_agent: Option<&str>) -> bool {
        let (Some(known), Some(agent)) = (&self.known, user_agent) else {
            return false;
        };
        let product = agent
            .split(['/', ' '])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // Headless browsers run real players (test rigs, synthetic
        // monitoring, kiosks): their plays count.
        !HTTP_LIBRARIES.contains(&product.as_str())
            && !agent.contains("HeadlessChrome")
            && known.is_bot(agent)
    }
}

impl Default for Bots {
    fn default() -> Bots {
        Bots::new(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, forwarded: Option<&str>) -> Parts {
        let mut request = axum::http::Request::builder().uri("/");
        if let Some(value) = forwarded {
            request = request.header("x-forwarded-for", value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    #[test]
    fn the_client_address_is_the_peer_unless_it_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.1"]).unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // An untrusted peer cannot claim another address.
        assert_eq!(
            none.client(&parts("203.0.113.5:1", Some("1.2.3.4"))),
            ip("203.0.113.5")
        );
        // Through a trusted proxy: the nearest untrusted hop; a client's own
        // forged entries further left are ignored.
        assert_eq!(
            proxy.client(&parts(
                "10.1.1.1:1",
                Some("6.6.6.6, 198.51.100.7, 10.2.2.2")
            )),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxy.client(&parts("192.168.1.1:1", None)),
            ip("192.168.1.1")
        );
        assert_eq!(
            proxy.client(&parts("10.1.1.1:1", Some("garbage, 198.51.100.7"))),
            ip("198.51.100.7")
        );
        let (in_process, ()) = axum::http::Request::new(()).into_parts();
        assert_eq!(proxy.client(&in_process), None);
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
    }

    #[test]
    fn crawlers_are_bots_browsers_and_http_libraries_are_not() {
        let bots = Bots::default();
        assert!(bots.is_bot(Some(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        )));
        assert!(bots.is_bot(Some(
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
        )));
        assert!(!bots.is_bot(Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
        )));
        assert!(!bots.is_bot(Some("curl/8.5.0")));
        assert!(!bots.is_bot(Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
        )));
        assert!(!bots.is_bot(Some("python-requests/2.31.0")));
        assert!(!bots.is_bot(None));
        assert!(!Bots::new(false).is_bot(Some("Googlebot/2.1")));
    }

    #[test]
    fn limits_refuse_past_the_burst_with_retry_after() {
        let throttle = Throttle::new(RateLimits {
            per_key: 1,
            beacons_per_address: 1,
            auth_failures_per_minute: 3,
        });
        assert!(throttle.check_key("k").is_ok());
        assert!(throttle.check_key("k").is_ok(), "a burst of twice the rate");
        let refused = throttle.check_key("k").unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code.as_str(), "rate_limited");
        assert_eq!(refused.retry_after, Some(1));
        assert!(
            throttle.check_key("other").is_ok(),
            "each key has its own bucket"
        );

        let address = Some("198.51.100.1".parse().unwrap());
        assert!(
            throttle.check_beacon(None).is_ok(),
            "in-process calls are not limited"
        );
        assert!(throttle.check_beacon(address).is_ok());
        assert!(throttle.check_beacon(address).is_ok());
        assert!(throttle.check_beacon(address).is_err());

        let unauthorized = || ApiError::unauthorized("no");
        for _ in 0..3 {
            assert_eq!(
                throttle.auth_failed(address, unauthorized()).code.as_str(),
                "unauthorized"
            );
        }
        assert!(throttle.check_locked_out(address).is_ok());
        let locked = throttle.auth_failed(address, unauthorized());
        assert_eq!(locked.code.as_str(), "rate_limited");
        assert_eq!(locked.retry_after, Some(60));
        assert!(
            throttle.check_locked_out(address).is_err(),
            "refused whatever it sends next"
        );
        assert!(
            throttle
                .check_locked_out(Some("198.51.100.2".parse().unwrap()))
                .is_ok()
        );

        let off = Throttle::new(RateLimits::OFF);
        for _ in 0..1_000 {
            assert!(off.check_key("k").is_ok());
            assert!(off.check_beacon(address).is_ok());
        }
    }
}
