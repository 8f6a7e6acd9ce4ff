//! JSON bound as a statement's argument from its parts.

use blytz_actors::json::{self, Raw};
use blytz_actors::rules::Event;
use blytz_actors::view::AuctionView;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::types::Json;
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

/// A journal event or an auction view bound as a JSON column, written by
/// [`Raw`] straight into the statement's arguments: the same text serde
/// writes (the writer's tests check it), without serde_json's pass over
/// every key, id and time. A journal row is written per accepted bid, and
/// through serde it was the largest part of the journal writer's own work
/// beside the database (`docs/performance.md`).
///
/// It binds as sqlx's [`Json`] does: text on SQLite, `jsonb` (format 1) on
/// PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub enum RawJson<'a> {
    /// An event's row in the journal.
    Event(&'a Event),
    /// An auction's view in its read-model row.
    View(&'a AuctionView),
}

impl RawJson<'_> {
    /// A bid's event is about 400 bytes, a view about 600.
    const CAPACITY: usize = 640;

    fn write(self, out: &mut Vec<u8>) {
        let mut raw = Raw::new(out);
        match self {
            Self::Event(event) => raw.event(event),
            Self::View(view) => raw.view(view),
        }
    }
}

impl Type<Sqlite> for RawJson<'_> {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <Json<()> as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &<Sqlite as Database>::TypeInfo) -> bool {
        <Json<()> as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for RawJson<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        let mut bytes = Vec::with_capacity(Self::CAPACITY);
        self.write(&mut bytes);
        Encode::<Sqlite>::encode(json::into_string(bytes), buf)
    }
}

impl Type<Postgres> for RawJson<'_> {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <Json<()> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &<Postgres as Database>::TypeInfo) -> bool {
        <Json<()> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for RawJson<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        // `jsonb`'s binary format: a version byte, then the text.
        buf.push(1);
        self.write(buf);
        Ok(IsNull::No)
    }
}
