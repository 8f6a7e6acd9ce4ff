//! What LiveKit reports about a room, and how a show's stream state follows it.

use serde::Serialize;

use crate::db::Db;
use crate::error::Result;
use crate::shows::store;

/// A verified LiveKit webhook, reduced to what Blytz keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamEvent {
    /// LiveKit's event name, e.g. `room_started`, `room_finished`,
    /// `participant_joined`, `participant_left`.
    pub event: String,
    /// The LiveKit room name, when the event concerns a room.
    pub room: Option<String>,
    /// The room's participant count, when the event carries the room
    /// (LiveKit leaves a zero count out, which reads as 0).
    pub participants: Option<u32>,
    /// True when this event id was delivered before (it changes nothing).
    pub duplicate: bool,
}

/// Mirror `event` into the show whose `livekit_room` is the event's room:
/// `room_started` sets `stream_status = 'live'`; `room_finished` sets
/// `stream_status = 'finished'` and `stream_participants = 0`;
/// `participant_joined` and `participant_left` set `stream_participants`
/// (when the event carries a count). Answers whether a show matched; other
/// events, and events without a room, change nothing (`false`).
///
/// A show's `updated_at` is left alone: it tracks edits to the show, not what
/// LiveKit last said.
#[tracing::instrument(skip(db))]
pub async fn apply_event(db: &Db, event: &StreamEvent) -> Result<bool> {
    let Some(room) = event.room.as_deref().filter(|_| !event.duplicate) else {
        return Ok(false);
    };
    let participants = event
        .participants
        .map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let matched = match event.event.as_str() {
        "room_started" => store::stream_started(db, room).await?,
        "room_finished" => store::stream_finished(db, room).await?,
        "participant_joined" | "participant_left" => {
            store::stream_participants(db, room, participants).await?
        }
        _ => return Ok(false),
    };
    Ok(matched)
}
