//! Configuration: environment variables, layered over an optional TOML file.
//!
//! Every setting has a safe default or a clear start-up error. Secrets are
//! [`SecretString`]s: their `Debug` output is redacted, so a logged config
//! never shows them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Which kind of deployment this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Pretty logs; a missing `JWT_SECRET` is generated and kept in the data folder.
    #[default]
    Development,
    /// JSON logs; `JWT_SECRET` is required.
    Production,
}

/// Every setting of the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// `BLYTZ_BIND`: the address to listen on.
    pub bind: SocketAddr,
    /// `BLYTZ_ENV`: `development` or `production`.
    pub env: Environment,
    /// `BLYTZ_DATA_DIR`: where the SQLite file and generated secrets live.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `sqlite://...` or `postgres://...`; defaults to a
    /// SQLite file in the data folder.
    pub database_url: Option<String>,
    /// `REDIS_URL`: optional.
    pub redis_url: Option<String>,
    /// `JWT_SECRET`: the HMAC key for access tokens.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// `BLYTZ_ACCESS_TOKEN_TTL_SECS`: lifetime of an access token.
    pub access_token_ttl_secs: u64,
    /// `BLYTZ_REFRESH_TOKEN_TTL_SECS`: lifetime of a refresh token.
    pub refresh_token_ttl_secs: u64,
    /// `BLYTZ_AUTH_RATE_PER_MIN`: login and register attempts per IP a minute (0 = off).
    pub auth_rate_per_min: u32,
    /// `BLYTZ_RATE_PER_MIN`: requests per user (or IP) a minute (0 = off).
    pub rate_per_min: u32,
    /// `BLYTZ_BID_RATE_PER_SEC`: bids per user a second (0 = off).
    pub bid_rate_per_sec: u32,
    /// `BLYTZ_CHAT_RATE_PER_SEC`: chat messages per user and room a second,
    /// sustained (0 = off).
    pub chat_rate_per_sec: u32,
    /// `BLYTZ_CHAT_BURST`: chat messages per user and room in a burst.
    pub chat_burst: u32,
    /// `BLYTZ_WS_CONNECTIONS_PER_IP`: open WebSocket connections per client
    /// IP (0 = no limit).
    pub ws_connections_per_ip: u32,
    /// `BLYTZ_WS_ROOMS_PER_CONNECTION`: rooms one WebSocket connection may
    /// be subscribed to at once (0 = no limit).
    pub ws_rooms_per_connection: u32,
    /// `BLYTZ_WS_IN_FLIGHT_PER_CONNECTION`: requests of one WebSocket
    /// connection being answered at once (0 = no limit).
    pub ws_in_flight_per_connection: u32,
    /// `BLYTZ_WS_MESSAGES_PER_SEC`: messages a WebSocket connection may send
    /// a second, sustained (0 = off).
    pub ws_messages_per_sec: u32,
    /// `BLYTZ_WS_MESSAGE_BURST`: messages a WebSocket connection may send in a burst.
    pub ws_message_burst: u32,
    /// `BLYTZ_WS_LOOKUPS`: database look-ups WebSocket requests may run at
    /// once across all connections, so a flood never takes the pool from
    /// other requests (at least 1).
    pub ws_lookups: u32,
    /// `BLYTZ_TRUSTED_PROXIES`: comma-separated IPs or CIDRs whose
    /// `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// `BLYTZ_CORS_ORIGINS`: comma-separated origins (`https://shop.example`)
    /// whose pages may call the API from a browser; none by default.
    #[serde(deserialize_with = "comma_strings")]
    pub cors_origins: Vec<String>,
    /// `BLYTZ_METRICS_ALLOW`: comma-separated IPs or CIDRs that may read
    /// `/metrics` (default: loopback only).
    #[serde(deserialize_with = "comma_list")]
    pub metrics_allow: Vec<IpNet>,
    /// `BLYTZ_METRICS_TOKEN`: a bearer token that reads `/metrics` from any address.
    #[serde(skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// `BLYTZ_JSON_LIMIT_BYTES`: the largest JSON body accepted.
    pub json_limit_bytes: usize,
    /// `BLYTZ_WORKERS`: HTTP worker threads (0 = one per core).
    pub workers: usize,
    /// `BLYTZ_ENGINE_THREADS`: threads that run the auctions and the
    /// journal writer (0 = one per two cores, at least one).
    pub engine_threads: usize,
    /// `LIVEKIT_URL`: the LiveKit server, for video.
    pub livekit_url: Option<String>,
    /// `LIVEKIT_API_KEY`.
    pub livekit_api_key: Option<String>,
    /// `LIVEKIT_API_SECRET`.
    #[serde(skip_serializing)]
    pub livekit_api_secret: Option<SecretString>,
    /// `BLYTZ_LIVEKIT_SDK_URL`: where the web client loads LiveKit's browser
    /// SDK (an ES module) from, for shows with video.
    pub livekit_sdk_url: String,
    /// `STRIPE_SECRET_KEY`.
    #[serde(skip_serializing)]
    pub stripe_secret_key: Option<SecretString>,
    /// `STRIPE_WEBHOOK_SECRET`.
    #[serde(skip_serializing)]
    pub stripe_webhook_secret: Option<SecretString>,
    /// `STRIPE_PUBLISHABLE_KEY`: the public key the web client's payment
    /// form uses (not a secret).
    pub stripe_publishable_key: Option<String>,
    /// `BLYTZ_MEDIA_DIR`: the folder of uploaded pictures (default `<data_dir>/media`).
    pub media_dir: Option<PathBuf>,
    /// `BLYTZ_MEDIA_PUBLIC_URL`: URL prefix of stored pictures (default `/media`,
    /// or the S3 endpoint and bucket).
    pub media_public_url: Option<String>,
    /// `BLYTZ_MAX_IMAGE_BYTES`: the largest picture upload accepted.
    pub max_image_bytes: usize,
    /// `BLYTZ_IMAGE_DECODES`: pictures decoded at once; more uploads wait their turn.
    pub image_decodes: usize,
    /// `BLYTZ_UPLOADS_PER_MIN`: picture uploads per user a minute (0 = off).
    pub uploads_per_min: u32,
    /// `BLYTZ_S3_BUCKET`: keep pictures in this S3-compatible bucket instead of the folder.
    pub s3_bucket: Option<String>,
    /// `BLYTZ_S3_ENDPOINT`: the S3-compatible endpoint (e.g. MinIO); AWS when unset.
    pub s3_endpoint: Option<String>,
    /// `BLYTZ_S3_REGION`: default `us-east-1`.
    pub s3_region: Option<String>,
    /// `BLYTZ_S3_ACCESS_KEY_ID`.
    pub s3_access_key_id: Option<String>,
    /// `BLYTZ_S3_SECRET_ACCESS_KEY`.
    #[serde(skip_serializing)]
    pub s3_secret_access_key: Option<SecretString>,
    /// `BLYTZ_VIEW_FLUSH_SECS`: how often counted product views are written.
    pub view_flush_secs: u64,
    /// `STRIPE_API_BASE`: the Stripe API base URL (default `https://api.stripe.com/`).
    pub stripe_api_base: Option<String>,
    /// `BLYTZ_TAX_RATE_BPS`: tax on an order's subtotal, in basis points (825 = 8.25 %).
    pub tax_rate_bps: u32,
    /// `BLYTZ_SHIPPING_FLAT_MINOR`: flat shipping per order, in minor units.
    pub shipping_flat_minor: i64,
    /// `BLYTZ_PAYMENT_DUE_SECS`: how long an auction winner has to pay.
    pub payment_due_secs: u64,
    /// `BLYTZ_RESERVATION_TTL_SECS`: how long a checkout holds stock unpaid.
    pub reservation_ttl_secs: u64,
    /// `BLYTZ_CART_TTL_SECS`: how long an untouched cart lives.
    pub cart_ttl_secs: u64,
    /// `BLYTZ_OUTBOX_POLL_MS`: how often the outbox consumer looks for auction endings.
    pub outbox_poll_ms: u64,
    /// `BLYTZ_RESERVATION_SWEEP_SECS`: how often expired stock reservations are released.
    pub reservation_sweep_secs: u64,
    /// `BLYTZ_PLATFORM_FEE_BPS`: what the platform keeps of each paid order,
    /// in basis points of its total (800 = 8 %).
    pub platform_fee_bps: u32,
    /// `BLYTZ_PAYMENT_RETRY_SECS`: how long a buyer whose automatic charge
    /// failed may pay with another card (none: until the show ends plus 24 hours).
    pub payment_retry_secs: Option<u64>,
    /// `BLYTZ_SECOND_CHANCE_SECS`: how long a runner-up has to accept a
    /// second-chance offer.
    pub second_chance_secs: u64,
    /// `BLYTZ_BUNDLE_WINDOW_SECS`: how long after a show ends a buyer's
    /// purchases from its seller still join the show's bundle.
    pub bundle_window_secs: u64,
    /// `BLYTZ_PAYOUT_AFTER_SHIPPING_DAYS`: pay a seller this many days after
    /// shipping even without a delivery report (none: only after delivery).
    pub payout_after_shipping_days: Option<u64>,
    /// `BLYTZ_REQUIRE_CARD_TO_BID`: whether a bid needs a card on file where a
    /// show or auction does not say (default: on with Stripe; always off
    /// without it).
    pub require_card_to_bid: Option<bool>,
    /// `BLYTZ_PUBLIC_URL`: where people reach this server (the return link of
    /// a seller's payout onboarding).
    pub public_url: String,
    /// `NINJAVAN_CLIENT_ID`: books deliveries with Ninja Van when set (with
    /// the secret and country).
    pub ninjavan_client_id: Option<String>,
    /// `NINJAVAN_CLIENT_SECRET`.
    #[serde(skip_serializing)]
    pub ninjavan_client_secret: Option<SecretString>,
    /// `NINJAVAN_COUNTRY`: the two-letter country code of the account, e.g. `sg`.
    pub ninjavan_country: Option<String>,
    /// `NINJAVAN_API_BASE`: Ninja Van's API (default `https://api.ninjavan.co`).
    pub ninjavan_api_base: Option<String>,
    /// `NINJAVAN_WEBHOOK_SECRET`: verifies Ninja Van's tracking webhooks
    /// (default: the client secret, which Ninja Van signs them with).
    #[serde(skip_serializing)]
    pub ninjavan_webhook_secret: Option<SecretString>,
    /// `SMTP_URL`: the SMTP relay notices are emailed through (none: no
    /// email), e.g. `smtp://127.0.0.1:2525` or `smtps://user:pass@host`.
    #[serde(skip_serializing)]
    pub smtp_url: Option<SecretString>,
    /// `BLYTZ_MAIL_FROM`: the sender of notice emails.
    pub mail_from: String,
    /// `BLYTZ_VAPID_PRIVATE_KEY`: the Web Push (VAPID) private key, a P-256
    /// scalar in base64url (none: no Web Push). `blytz vapid-keys` makes one.
    #[serde(skip_serializing)]
    pub vapid_private_key: Option<SecretString>,
    /// `BLYTZ_VAPID_SUBJECT`: who runs this server, for push services (a
    /// `mailto:` or `https:` URL).
    pub vapid_subject: String,
    /// `BLYTZ_PUSH_ALLOW_HTTP`: accept push subscriptions on plain `http://`
    /// endpoints (a local push service in development; never in production).
    pub push_allow_http: bool,
    /// `BLYTZ_NOTIFY_POLL_MS`: how often notices due for delivery, and shows
    /// going live or starting soon, are looked for.
    pub notify_poll_ms: u64,
    /// `BLYTZ_NOTIFY_RETRY_FIRST_MS`: the first wait before delivering a
    /// notice again after a failure; it doubles up to
    /// `BLYTZ_NOTIFY_RETRY_MAX_SECS`.
    pub notify_retry_first_ms: u64,
    /// `BLYTZ_NOTIFY_RETRY_MAX_SECS`: the longest wait between two tries.
    pub notify_retry_max_secs: u64,
    /// `BLYTZ_NOTIFY_MAX_ATTEMPTS`: tries before a delivery is given up.
    pub notify_max_attempts: u32,
    /// `BLYTZ_OUTBID_COALESCE_SECS`: at most one outbid notice per lot and
    /// user in this time.
    pub outbid_coalesce_secs: u64,
    /// `BLYTZ_CLUSTER`: `on` runs this node as one of several on a shared
    /// PostgreSQL and Redis (see `docs/cluster.md`); `off` (the default) is
    /// a single node.
    pub cluster: Option<String>,
    /// `BLYTZ_NODE_ID`: this node's name in the cluster (default: generated
    /// at start and logged).
    pub node_id: Option<String>,
    /// `BLYTZ_ADVERTISE_URL`: the base URL other nodes reach this node's
    /// HTTP port at (default `http://` and `BLYTZ_BIND`).
    pub advertise_url: Option<String>,
    /// `BLYTZ_CLUSTER_SHARDS`: how many shards auctions hash into; the same
    /// on every node, fixed when the cluster first starts.
    pub cluster_shards: u32,
    /// `BLYTZ_LEASE_MS`: how long a shard lease lasts without renewal (a dead
    /// node's auctions are taken over after about this long).
    pub lease_ms: u64,
    /// `BLYTZ_LEASE_RENEW_MS`: how often a node renews its leases and
    /// heartbeat.
    pub lease_renew_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            env: Environment::Development,
            data_dir: PathBuf::from("data"),
            database_url: None,
            redis_url: None,
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            auth_rate_per_min: 5,
            rate_per_min: 100,
            bid_rate_per_sec: 10,
            chat_rate_per_sec: 1,
            chat_burst: 5,
            ws_connections_per_ip: 32,
            ws_rooms_per_connection: 16,
            ws_in_flight_per_connection: 8,
            ws_messages_per_sec: 20,
            ws_message_burst: 40,
            ws_lookups: 4,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            metrics_allow: vec![
                IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
                IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            ],
            metrics_token: None,
            json_limit_bytes: 64 * 1024,
            workers: 0,
            engine_threads: 0,
            livekit_url: None,
            livekit_api_key: None,
            livekit_api_secret: None,
            livekit_sdk_url: DEFAULT_LIVEKIT_SDK_URL.to_owned(),
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_publishable_key: None,
            media_dir: None,
            media_public_url: None,
            max_image_bytes: 5 * 1024 * 1024,
            image_decodes: DEFAULT_IMAGE_DECODES,
            uploads_per_min: 30,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            view_flush_secs: 10,
            stripe_api_base: None,
            tax_rate_bps: 0,
            shipping_flat_minor: 0,
            payment_due_secs: 48 * 60 * 60,
            reservation_ttl_secs: 15 * 60,
            cart_ttl_secs: 30 * 24 * 60 * 60,
            outbox_poll_ms: 1000,
            reservation_sweep_secs: 30,
            platform_fee_bps: 800,
            payment_retry_secs: None,
            second_chance_secs: 24 * 60 * 60,
            bundle_window_secs: 2 * 60 * 60,
            payout_after_shipping_days: None,
            require_card_to_bid: None,
            public_url: "http://127.0.0.1:8080".to_owned(),
            ninjavan_client_id: None,
            ninjavan_client_secret: None,
            ninjavan_country: None,
            ninjavan_api_base: None,
            ninjavan_webhook_secret: None,
            smtp_url: None,
            mail_from: "Blytz <no-reply@blytz.invalid>".to_owned(),
            vapid_private_key: None,
            vapid_subject: "mailto:admin@blytz.invalid".to_owned(),
            push_allow_http: false,
            notify_poll_ms: 1000,
            notify_retry_first_ms: 2000,
            notify_retry_max_secs: 30 * 60,
            notify_max_attempts: 12,
            outbid_coalesce_secs: 60,
            cluster: None,
            node_id: None,
            advertise_url: None,
            cluster_shards: 64,
            lease_ms: 1_200,
            lease_renew_ms: 300,
        }
    }
}

/// LiveKit's browser SDK: the package's own ES module build, on a public CDN.
pub const DEFAULT_LIVEKIT_SDK_URL: &str =
    "https://cdn.jsdelivr.net/npm/livekit-client@2.23.0/dist/livekit-client.esm.mjs";

/// Pictures decoded at once unless `BLYTZ_IMAGE_DECODES` says otherwise.
pub const DEFAULT_IMAGE_DECODES: usize = 2;

/// Plain environment variables (no `BLYTZ_` prefix) that are settings.
const PLAIN_ENV: [&str; 16] = [
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_API_BASE",
    "NINJAVAN_CLIENT_ID",
    "NINJAVAN_CLIENT_SECRET",
    "NINJAVAN_COUNTRY",
    "NINJAVAN_API_BASE",
    "NINJAVAN_WEBHOOK_SECRET",
    "SMTP_URL",
];

/// The shortest JWT secret accepted (bytes).
const MIN_JWT_SECRET_LEN: usize = 32;

impl Config {
    /// Read the configuration: defaults, then the TOML file named by
    /// `BLYTZ_CONFIG` (if any; keys are the field names), then environment
    /// variables. Resolves the JWT secret (see [`Config::resolve_jwt_secret`]).
    pub fn load() -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var("BLYTZ_CONFIG") {
            if !Path::new(&path).is_file() {
                bail!("BLYTZ_CONFIG names {path}, which is not a file");
            }
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment
            .merge(Env::prefixed("BLYTZ_").ignore(&["CONFIG"]))
            .merge(Env::raw().only(&PLAIN_ENV));
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.resolve_jwt_secret()?;
        Ok(config)
    }

    /// The database URL in force: `DATABASE_URL`, or a SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("blytz.db").display()),
        }
    }

    /// Make sure a JWT secret is set. In production a missing or short one is
    /// a start-up error. In development a missing one is generated once and
    /// kept in `<data_dir>/jwt_secret`, with a warning.
    pub fn resolve_jwt_secret(&mut self) -> anyhow::Result<()> {
        if let Some(secret) = &self.jwt_secret {
            if secret.expose_secret().len() < MIN_JWT_SECRET_LEN {
                bail!("JWT_SECRET must be at least {MIN_JWT_SECRET_LEN} bytes long");
            }
            return Ok(());
        }
        if self.env == Environment::Production {
            bail!(
                "JWT_SECRET is not set: in production (BLYTZ_ENV=production) the server \
                 refuses to start without a secret of at least {MIN_JWT_SECRET_LEN} bytes"
            );
        }
        let path = self.data_dir.join("jwt_secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= MIN_JWT_SECRET_LEN => text.trim().to_owned(),
            _ => {
                let mut bytes = [0u8; 48];
                rand::fill(&mut bytes);
                let text = hex::encode(bytes);
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("creating data folder {}", self.data_dir.display()))?;
                write_private(&path, &text)
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::warn!(
                    path = %path.display(),
                    "JWT_SECRET is not set: generated one for development and kept it in the data folder"
                );
                text
            }
        };
        self.jwt_secret = Some(SecretString::from(secret));
        Ok(())
    }

    /// The JWT secret; [`Config::resolve_jwt_secret`] makes sure there is one.
    pub fn jwt_secret_bytes(&self) -> anyhow::Result<&[u8]> {
        self.jwt_secret
            .as_ref()
            .map(|s| s.expose_secret().as_bytes())
            .context("no JWT secret configured")
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Accept a list of strings either as a TOML array or as one comma-separated string.
fn comma_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        List(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Raw::List(list) => list,
    })
}

/// Accept a list either as a TOML array or as one comma-separated string.
fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    comma_strings(d)?
        .iter()
        .map(|item| parse_net(item).map_err(serde::de::Error::custom))
        .collect()
}

/// An IP (`10.0.0.1`) or a network (`10.0.0.0/8`).
fn parse_net(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is neither an IP address nor a CIDR network"))
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn development_generates_and_keeps_a_jwt_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.resolve_jwt_secret().unwrap();
        let first = config.jwt_secret_bytes().unwrap().to_vec();
        assert!(first.len() >= MIN_JWT_SECRET_LEN);

        let mut again = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        again.resolve_jwt_secret().unwrap();
        assert_eq!(again.jwt_secret_bytes().unwrap(), first.as_slice());
    }

    #[test]
    fn production_refuses_to_start_without_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            env: Environment::Production,
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let err = config.resolve_jwt_secret().unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        assert!(!dir.path().join("jwt_secret").exists());
    }

    #[test]
    fn short_secret_is_refused() {
        let mut config = Config {
            jwt_secret: Some(SecretString::from("short")),
            ..Config::default()
        };
        assert!(config.resolve_jwt_secret().is_err());
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let config = Config {
            jwt_secret: Some(SecretString::from("x".repeat(40))),
            stripe_secret_key: Some(SecretString::from("sk_test_supersecret")),
            ..Config::default()
        };
        let text = format!("{config:?}");
        assert!(!text.contains("xxxxxxxx"));
        assert!(!text.contains("supersecret"));
    }

    #[test]
    fn env_and_file_layers() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("blytz.toml", "rate_per_min = 7\nbind = \"127.0.0.1:9000\"")?;
            jail.set_env("BLYTZ_CONFIG", "blytz.toml");
            jail.set_env("BLYTZ_RATE_PER_MIN", "0");
            jail.set_env("BLYTZ_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1");
            jail.set_env("BLYTZ_DATA_DIR", jail.directory().display().to_string());
            jail.set_env("DATABASE_URL", "postgres://db/blytz");
            let config = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(config.rate_per_min, 0);
            assert_eq!(config.bind.port(), 9000);
            assert_eq!(config.trusted_proxies.len(), 2);
            assert_eq!(config.database_url(), "postgres://db/blytz");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BLYTZ_RATE_PER_MIN", "lots");
            jail.set_env("BLYTZ_DATA_DIR", jail.directory().display().to_string());
            let err = Config::load().unwrap_err().to_string();
            assert!(
                err.contains("RATE_PER_MIN") && err.contains("lots"),
                "{err}"
            );
            Ok(())
        });
    }
}
