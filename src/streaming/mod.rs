//! Video for shows, through LiveKit: rooms, access tokens and webhooks.
//!
//! Every show has a LiveKit room (`shows.livekit_room`). The seller of a show
//! gets a token that may publish; everyone else (viewers, admins) gets one that
//! may only subscribe. LiveKit reports what happens in a room through signed
//! webhooks; [`apply_event`] mirrors them into `shows.stream_status` and
//! `shows.stream_participants`.
//!
//! Streaming is optional: without `LIVEKIT_URL`, `LIVEKIT_API_KEY` and
//! `LIVEKIT_API_SECRET`, [`Streaming::from_config`] answers `None` and callers
//! answer [`not_configured`] (503 `streaming_not_configured`).

mod events;

#[cfg(test)]
mod tests;

use crate::Code;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use livekit_api::access_token::{AccessToken, TokenVerifier, VideoGrants};
use livekit_api::services::room::{CreateRoomOptions, RoomClient};
use livekit_api::services::{ServerError, ServerErrorCode, ServiceError};
use livekit_api::webhooks::WebhookReceiver;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::{ShowId, UserId};
use crate::shows::{self, ShowStatus};

pub use events::{StreamEvent, apply_event};

/// What a client needs to join a show's video: a LiveKit access token and the
/// LiveKit URL to connect to.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct StreamToken {
    /// The LiveKit access token (a JWT), valid for six hours.
    pub token: String,
    /// The LiveKit server URL, e.g. `wss://video.example.com`.
    pub url: String,
}

impl std::fmt::Debug for StreamToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamToken")
            .field("token", &"<redacted>")
            .field("url", &self.url)
            .finish()
    }
}

/// How long a LiveKit access token is valid: long enough for a whole show.
pub const TOKEN_TTL: Duration = Duration::from_secs(6 * 60 * 60);

/// How long LiveKit keeps a room that was created and never joined (seconds),
/// so a seller who creates a show's room has time to go live.
const ROOM_EMPTY_TIMEOUT_SECS: u32 = 10 * 60;

/// How long a call to the LiveKit server API may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);

/// The LiveKit integration: room creation, access tokens and webhook checks.
///
/// Cheap to clone. Its `Debug` output shows the URL and the API key, never
/// the secret.
#[derive(Clone)]
pub struct Streaming {
    url: String,
    api_key: String,
    api_secret: SecretString,
    /// Not `Clone` itself; shared so that clones reuse one connection pool.
    rooms: Arc<RoomClient>,
    webhooks: WebhookReceiver,
    /// Webhook event ids seen within [`WEBHOOK_WINDOW_SECS`], with their time.
    seen: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

/// How far a LiveKit webhook's `createdAt` may be from now; its id is
/// remembered that long, so a replayed event changes nothing.
pub const WEBHOOK_WINDOW_SECS: i64 = 300;
/// The most event ids remembered; the oldest are forgotten first.
const WEBHOOK_IDS_MAX: usize = 10_000;

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("url", &self.url)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// The error callers answer when LiveKit is not configured: 503
/// `streaming_not_configured`.
pub fn not_configured() -> Error {
    Error::refused(
        Code::StreamingNotConfigured,
        "video streaming is not configured on this server \
                  (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)",
    )
}

impl Streaming {
    /// The service from the LiveKit settings: `None` when none of
    /// `LIVEKIT_URL`, `LIVEKIT_API_KEY` and `LIVEKIT_API_SECRET` is set (an
    /// empty value counts as unset); an error naming the missing ones when
    /// only some are, or when the URL is not `ws(s)://` or `http(s)://`.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let url = non_empty(config.livekit_url.as_deref());
        let api_key = non_empty(config.livekit_api_key.as_deref());
        let api_secret = config
            .livekit_api_secret
            .as_ref()
            .filter(|s| !s.expose_secret().trim().is_empty());
        let (url, api_key, api_secret) = match (url, api_key, api_secret) {
            (None, None, None) => return Ok(None),
            (Some(url), Some(key), Some(secret)) => (url, key, secret),
            (url, key, secret) => {
                let missing: Vec<&str> = [
                    ("LIVEKIT_URL", url.is_none()),
                    ("LIVEKIT_API_KEY", key.is_none()),
                    ("LIVEKIT_API_SECRET", secret.is_none()),
                ]
                .into_iter()
                .filter_map(|(name, missing)| missing.then_some(name))
                .collect();
                bail!(
                    "LiveKit is partly configured, missing {}: set LIVEKIT_URL, \
                     LIVEKIT_API_KEY and LIVEKIT_API_SECRET together, or none of them",
                    missing.join(" and ")
                );
            }
        };
        if !["ws://", "wss://", "http://", "https://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            bail!("LIVEKIT_URL must start with wss://, ws://, https:// or http://");
        }
        let secret = api_secret.expose_secret().trim();
        let rooms = RoomClient::with_api_key(url, api_key, secret)
            .with_failover(false)
            .with_request_timeout(API_TIMEOUT);
        Ok(Some(Self {
            url: url.to_owned(),
            api_key: api_key.to_owned(),
            api_secret: SecretString::from(secret.to_owned()),
            rooms: Arc::new(rooms),
            webhooks: WebhookReceiver::new(TokenVerifier::with_api_key(api_key, secret)),
            seen: Arc::default(),
        }))
    }

    /// The LiveKit URL clients connect to (`LIVEKIT_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Create the LiveKit room `room` through the server API. Idempotent:
    /// LiveKit answers an existing room as if it had created it.
    ///
    /// An unreachable or failing LiveKit server is a 503
    /// `streaming_unavailable`; the cause is logged.
    #[tracing::instrument(skip(self))]
    pub async fn create_room(&self, room: &str) -> Result<()> {
        let options = CreateRoomOptions {
            empty_timeout: ROOM_EMPTY_TIMEOUT_SECS,
            ..CreateRoomOptions::default()
        };
        match self.rooms.create_room(room, options).await {
            Ok(_) => Ok(()),
            Err(ServiceError::Twirp(ServerError::Twirp(ServerErrorCode { code, .. })))
                if code == ServerErrorCode::ALREADY_EXISTS =>
            {
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "LiveKit could not create the room");
                Err(Error::refused(
                    Code::StreamingUnavailable,
                    "the video service could not create the room; try again",
                ))
            }
        }
    }

    /// A LiveKit access token for `identity` (shown as `name`) to join `room`:
    /// it may always subscribe, and may publish media and data only when
    /// `can_publish`. It expires after [`TOKEN_TTL`].
    pub fn token(
        &self,
        room: &str,
        identity: &str,
        name: &str,
        can_publish: bool,
    ) -> Result<StreamToken> {
        let grants = VideoGrants {
            room_join: true,
            room: room.to_owned(),
            can_subscribe: Some(true),
            can_publish: Some(can_publish),
            can_publish_data: Some(can_publish),
            ..VideoGrants::default()
        };
        let token = AccessToken::with_api_key(&self.api_key, self.api_secret.expose_secret())
            .with_identity(identity)
            .with_name(name)
            .with_grants(grants)
            .with_ttl(TOKEN_TTL)
            .to_jwt()
            .map_err(|e| Error::Internal(anyhow::anyhow!("minting a LiveKit token: {e}")))?;
        Ok(StreamToken {
            token,
            url: self.url.clone(),
        })
    }

    /// Check a LiveKit webhook: `authorization` (the `Authorization` header)
    /// must be a JWT signed with the API secret, issued by the API key, whose
    /// `sha256` claim is the base64 SHA-256 of `body`. Any failure (no header,
    /// a bad signature, another body, unreadable JSON) is 401
    /// `invalid_signature`.
    pub fn verify_webhook(&self, body: &str, authorization: Option<&str>) -> Result<StreamEvent> {
        let token = authorization
            .map(str::trim)
            .map(|value| value.strip_prefix("Bearer ").unwrap_or(value).trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(invalid_signature)?;
        let event = self.webhooks.receive(body, token).map_err(|e| {
            tracing::warn!(error = %e, "refused a LiveKit webhook");
            invalid_signature()
        })?;
        let now = crate::time::now().timestamp();
        if (now - event.created_at).abs() > WEBHOOK_WINDOW_SECS {
            tracing::warn!(event_id = %event.id, created_at = event.created_at, "refused a LiveKit webhook outside the time window");
            return Err(Error::refused(
                Code::InvalidSignature,
                "the webhook's createdAt is too far from now",
            ));
        }
        let duplicate = !self.first_delivery(&event.id, now);
        let room = event.room.filter(|room| !room.name.is_empty());
        Ok(StreamEvent {
            duplicate,
            event: event.event,
            participants: room.as_ref().map(|room| room.num_participants),
            room: room.map(|room| room.name),
        })
    }

    /// Remember event `id` (seen at `now`); false when it was seen already.
    fn first_delivery(&self, id: &str, now: i64) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, at| now - *at <= WEBHOOK_WINDOW_SECS);
        if seen.contains_key(id) {
            return false;
        }
        while seen.len() >= WEBHOOK_IDS_MAX {
            let oldest = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => seen.remove(&key),
                None => break,
            };
        }
        seen.insert(id.to_owned(), now);
        true
    }

    /// A token for `user` (shown as `display_name`) to join the room of
    /// `show`: only the show's seller may publish; viewers and admins
    /// (`is_admin` never widens the grant) may only subscribe.
    ///
    /// 404 `not_found` for an unknown show, 409 `show_ended` for an ended one.
    #[tracing::instrument(skip(self, db, display_name))]
    pub async fn show_token(
        &self,
        db: &Db,
        show: ShowId,
        user: UserId,
        display_name: &str,
        is_admin: bool,
    ) -> Result<StreamToken> {
        let Some(row) = shows::store::by_id(db, show).await? else {
            return Err(Error::NotFound { what: "show" });
        };
        let (seller_id, room) = (row.seller_id, row.livekit_room.clone());
        if row.status()? == ShowStatus::Ended {
            return Err(Error::refused(
                Code::ShowEnded,
                "the show has ended; its video room is closed",
            ));
        }
        let can_publish = seller_id == user;
        self.token(&room, &user.to_string(), display_name, can_publish)
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn invalid_signature() -> Error {
    Error::refused(
        Code::InvalidSignature,
        "the webhook signature is missing or does not match its body",
    )
}
