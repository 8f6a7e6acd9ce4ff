//! JSON bound as a statement's argument from its parts.

use blytz_actors::json::{self, Raw};
use blytz_actors::rules::{AuctionState, EventKind};
use blytz_actors::view::AuctionView;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgHasArrayType, PgTypeInfo};
use sqlx::types::Json;
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

/// A journal event's kind, an auction view or a snapshot's state bound as a
/// JSON column, written by [`Raw`] straight into the statement's arguments: the
/// same text serde writes (the writer's tests check it), without
/// serde_json's pass over every key, id and time. A journal row is written
/// per accepted bid, and through serde it was the largest part of the
/// journal writer's own work beside the database (`docs/performance.md`).
///
/// Text on SQLite; `json` on PostgreSQL, the type of the journal's
/// `payload`, a snapshot's `state` and an auction's `view`, whose input
/// checks the text and keeps it as written (`jsonb` built a tree of each
/// that nothing reads: all are read whole, by serde).
#[derive(Debug, Clone, Copy)]
pub struct RawJson<'a, T>(pub &'a T);

/// What [`RawJson`] binds: written by [`Raw`].
pub trait WrittenJson {
    /// Writes it as JSON.
    fn write(&self, raw: &mut Raw<'_>);
}

impl WrittenJson for EventKind {
    fn write(&self, raw: &mut Raw<'_>) {
        raw.event_kind(self);
    }
}

impl WrittenJson for AuctionState {
    fn write(&self, raw: &mut Raw<'_>) {
        raw.serde(self);
    }
}

impl WrittenJson for AuctionView {
    fn write(&self, raw: &mut Raw<'_>) {
        raw.view(self);
    }
}

/// PostgreSQL's `json`, a built-in type whose id never changes (naming it
/// would cost each connection a look-up).
const JSON_OID: Oid = Oid(114);

impl<T: WrittenJson> RawJson<'_, T> {
    /// A bid's event kind is about 250 bytes, a view about 600.
    const CAPACITY: usize = 640;

    /// The JSON text, as it is bound on SQLite.
    #[must_use]
    pub fn text(&self) -> String {
        let mut bytes = Vec::with_capacity(Self::CAPACITY);
        self.0.write(&mut Raw::new(&mut bytes));
        json::into_string(bytes)
    }
}

impl<T: WrittenJson> Type<Sqlite> for RawJson<'_, T> {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <Json<()> as Type<Sqlite>>::type_info()
    }
}

impl<T: WrittenJson> Encode<'_, Sqlite> for RawJson<'_, T> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.text(), buf)
    }
}

impl<T: WrittenJson> Type<Postgres> for RawJson<'_, T> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSON_OID)
    }
}

impl<T: WrittenJson> PgHasArrayType for RawJson<'_, T> {
    fn array_type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(JSON_ARRAY_OID)
    }
}

/// PostgreSQL's `json[]`.
const JSON_ARRAY_OID: Oid = Oid(199);

impl<T: WrittenJson> Encode<'_, Postgres> for RawJson<'_, T> {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        // `json`'s binary format is the text.
        self.0.write(&mut Raw::new(buf));
        Ok(IsNull::No)
    }
}
