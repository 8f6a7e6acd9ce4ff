//! JSON bound as a statement's argument from its parts.

use blytz_actors::json::{self, Raw};
use blytz_actors::rules::Event;
use blytz_actors::view::AuctionView;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgTypeInfo;
use sqlx::types::Json;
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

/// A journal event bound as its JSON text, written by [`Raw`] straight into
/// the statement's arguments: the same text serde writes (the writer's tests
/// check it), without serde_json's pass over every key, id and time. A
/// journal row is written per accepted bid, and through serde it was the
/// largest part of the journal writer's own work beside the database
/// (`docs/performance.md`).
///
/// Text on SQLite; `json` on PostgreSQL, the type of the journal's
/// `payload`, whose input checks the text and keeps it as written (`jsonb`
/// built a tree of every event that nothing reads: a journal row is read
/// whole, by serde).
#[derive(Debug, Clone, Copy)]
pub struct EventJson<'a>(pub &'a Event);

/// An auction's view bound as JSON for its read-model row, written as
/// [`EventJson`] is: text on SQLite, `jsonb` (format 1) on PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct ViewJson<'a>(pub &'a AuctionView);

/// A bid's event is about 400 bytes, a view about 600.
const CAPACITY: usize = 640;

/// SQLite's argument: the text `write` puts in a buffer.
fn sqlite_text(
    write: impl FnOnce(&mut Raw<'_>),
    buf: &mut <Sqlite as Database>::ArgumentBuffer,
) -> Result<IsNull, BoxDynError> {
    let mut bytes = Vec::with_capacity(CAPACITY);
    write(&mut Raw::new(&mut bytes));
    Encode::<Sqlite>::encode(json::into_string(bytes), buf)
}

impl Type<Sqlite> for EventJson<'_> {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <Json<()> as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for EventJson<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        sqlite_text(|raw| raw.event(self.0), buf)
    }
}

impl Type<Postgres> for EventJson<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("json")
    }
}

impl Encode<'_, Postgres> for EventJson<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        // `json`'s binary format is the text.
        Raw::new(buf).event(self.0);
        Ok(IsNull::No)
    }
}

impl Type<Sqlite> for ViewJson<'_> {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <Json<()> as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for ViewJson<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        sqlite_text(|raw| raw.view(self.0), buf)
    }
}

impl Type<Postgres> for ViewJson<'_> {
    fn type_info() -> PgTypeInfo {
        <Json<()> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for ViewJson<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        // `jsonb`'s binary format: a version byte, then the text.
        buf.push(1);
        Raw::new(buf).view(self.0);
        Ok(IsNull::No)
    }
}
