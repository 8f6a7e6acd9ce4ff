//! Ports: the traits through which the engine reaches storage and time,
//! with in-memory implementations for tests.

mod clock;
mod journal;
mod memory;

pub use clock::{Clock, ManualClock, SystemClock};
pub use journal::{JournalEntry, JournalError, JournalStore, LoadedJournal, Settlement, Snapshot};
pub use memory::InMemoryJournal;
