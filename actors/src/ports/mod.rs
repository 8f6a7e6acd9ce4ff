//! Ports: the traits through which the engine reaches storage and time,
//! with in-memory implementations for tests.

mod clock;
mod journal;
mod memory;
mod placement;

pub use clock::{Clock, ManualClock, SystemClock};
pub(crate) use journal::save_each;
pub use journal::{JournalEntry, JournalError, JournalStore, LoadedJournal, Settlement, Snapshot};
pub use memory::InMemoryJournal;
pub use placement::{Fence, Placement};
