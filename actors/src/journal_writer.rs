//! The group-commit journal writer: one task shared by all auctions.
//!
//! Auction actors submit batches (the events of one command). The writer
//! takes everything queued (up to `max_entries`), appends it all in ONE
//! [`JournalStore::append`] (one transaction) and answers each submitter in
//! arrival order. It never waits for more on purpose: what arrives while a
//! commit is in flight queues up and is the next group, so the group grows
//! with the load and an idle journal commits a lone bid at once (an
//! optional `window` adds a wait after the first submission). If the group
//! fails, each submission is retried alone, so one auction's bad batch never
//! fails another's; a later batch of an auction whose earlier batch failed is
//! failed too, never written past the gap.
//!
//! Auctions hand it their snapshots too, each as of a seq already durable.
//! A snapshot joins the next group and is written in its commit where the
//! store can ([`JournalStore::append_with_snapshots`]): on SQLite a
//! snapshot saved in a commit of its own held the auctions' thread for a
//! flush of its own, one every 100 events of each auction. What the store
//! does not take with the group is saved apart in a task of its own, after
//! the group's answers: no answer waits for a snapshot.
//!
//! A store may commit on the writer's own thread (the SQL journal does on
//! SQLite), which the auctions share: it then holds them for the commit.
//! The writer yields after each group, so that they judge what arrived
//! meanwhile and it joins the next group; without the yield, a group
//! taken straight after a commit held what one auction had sent, about
//! one event (`docs/performance.md`). Then it lets the store do its
//! upkeep ([`JournalStore::after_answers`]: the SQL journal's settle of
//! its read models and SQLite's checkpoint), which no answer of the group
//! waits for.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout_at};

use crate::domain::AuctionId;
use crate::ports::{JournalEntry, JournalError, JournalStore, Snapshot, save_each};

/// Tuning of the group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    /// How long to wait for more submissions after the first when none is
    /// queued (default zero: the group is what queued during the previous
    /// commit; a wait would only add latency to every bid).
    pub window: Duration,
    /// The most entries in one append (default 1024).
    pub max_entries: usize,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            window: Duration::ZERO,
            max_entries: 1024,
        }
    }
}

type Reply = oneshot::Sender<Result<(), JournalError>>;

/// What an auction hands the writer.
#[derive(Debug)]
enum Submission {
    /// A batch, answered once durable.
    Entries {
        entries: Vec<JournalEntry>,
        reply: Reply,
    },
    /// A snapshot as of a durable seq, written with the next group.
    Snapshot(AuctionId, Box<Snapshot>),
}

impl Submission {
    fn len(&self) -> usize {
        match self {
            Self::Entries { entries, .. } => entries.len(),
            Self::Snapshot(..) => 0,
        }
    }
}

/// A handle to the writer task; cheap to clone. The task ends when the
/// last handle is dropped.
#[derive(Debug, Clone)]
pub struct JournalWriter {
    /// Unbounded so that [`JournalWriter::submit`] enqueues at once, in call
    /// order: an auction's batches must reach the journal in seq order.
    /// Actor mailboxes are bounded, which bounds this queue in practice.
    tx: mpsc::UnboundedSender<Submission>,
}

impl JournalWriter {
    /// Spawns the writer on the current tokio runtime (or actix arbiter).
    #[must_use]
    pub fn spawn(store: Arc<dyn JournalStore>, settings: WriterSettings) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(crate::runtime::in_runtime(run(store, rx, settings)));
        Self { tx }
    }

    /// Spawns the writer on `arbiter` (a thread of its own in production).
    #[must_use]
    pub fn spawn_on(
        arbiter: &actix::prelude::ArbiterHandle,
        store: Arc<dyn JournalStore>,
        settings: WriterSettings,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        // Wrapped on the arbiter's own thread, in its runtime.
        arbiter.spawn(async move { crate::runtime::in_runtime(run(store, rx, settings)).await });
        Self { tx }
    }

    /// Enqueues one batch now (batches are written in submission order);
    /// the future resolves once it is durable (or failed).
    pub fn submit(
        &self,
        entries: Vec<JournalEntry>,
    ) -> impl Future<Output = Result<(), JournalError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let queued = self.tx.send(Submission::Entries { entries, reply }).is_ok();
        async move {
            let stopped = || JournalError::Unavailable("the journal writer stopped".to_owned());
            if !queued {
                return Err(stopped());
            }
            answer.await.map_err(|_| stopped())?
        }
    }

    /// Enqueues `snapshot` of `auction_id`, as of a seq already durable:
    /// it is written with the next group, in its commit where the store
    /// can ([`JournalStore::append_with_snapshots`]), so that it costs no
    /// flush of its own. Nobody waits for it; a writer that stopped drops
    /// it (a snapshot only shortens a replay).
    pub fn save_snapshot(&self, auction_id: AuctionId, snapshot: Box<Snapshot>) {
        let _ = self.tx.send(Submission::Snapshot(auction_id, snapshot));
    }
}

async fn run(
    store: Arc<dyn JournalStore>,
    mut rx: mpsc::UnboundedReceiver<Submission>,
    settings: WriterSettings,
) {
    while let Some(first) = rx.recv().await {
        let mut count = first.len();
        let mut group = vec![first];
        let deadline = Instant::now() + settings.window;
        while count < settings.max_entries {
            let next = match rx.try_recv() {
                Ok(next) => next,
                Err(_) if settings.window.is_zero() => break,
                Err(_) => match timeout_at(deadline, rx.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) | Err(_) => break,
                },
            };
            count += next.len();
            group.push(next);
        }
        commit_group(&store, group).await;
        // The auctions on this thread judge what arrived during the commit
        // before the next group is taken (see the module's doc), and give
        // the group's answers before the store's upkeep.
        tokio::task::yield_now().await;
        store.after_answers().await;
    }
}

async fn commit_group(store: &Arc<dyn JournalStore>, group: Vec<Submission>) {
    let mut batch = Vec::new();
    let mut parts: Vec<(Range<usize>, Reply)> = Vec::new();
    let mut snapshots = Vec::new();
    for submission in group {
        match submission {
            Submission::Entries { entries, reply } => {
                let start = batch.len();
                batch.extend(entries);
                parts.push((start..batch.len(), reply));
            }
            Submission::Snapshot(auction_id, snapshot) => snapshots.push((auction_id, *snapshot)),
        }
    }
    let outcome = store.append_with_snapshots(&batch, &snapshots).await;
    if !matches!(outcome, Ok(true)) && !snapshots.is_empty() {
        // Not taken with the batch (or the batch failed, which they do
        // not need): saved apart, and nobody waits for them.
        save_apart(store, snapshots);
    }
    let outcome = outcome.map(|_| ());
    if outcome.is_ok() || parts.len() <= 1 {
        for (_, reply) in parts {
            // A submitter that went away needs no answer.
            let _ = reply.send(outcome.clone());
        }
        return;
    }
    // The group failed: retry each submission alone, in order.
    let mut failed: HashSet<AuctionId> = HashSet::new();
    for (range, reply) in parts {
        let entries = &batch[range];
        let result = match entries.iter().find(|e| failed.contains(&e.auction_id)) {
            Some(blocked) => Err(JournalError::Conflict {
                auction_id: blocked.auction_id,
                seq: blocked.seq,
            }),
            None => store.append(entries).await,
        };
        if result.is_err() {
            failed.extend(entries.iter().map(|e| e.auction_id));
        }
        let _ = reply.send(result);
    }
}

/// Saves `snapshots` one after another in a task of their own: a snapshot
/// only shortens a replay, so nobody waits for it, and one that fails is
/// logged and let go.
fn save_apart(store: &Arc<dyn JournalStore>, snapshots: Vec<(AuctionId, Snapshot)>) {
    let store = Arc::clone(store);
    tokio::spawn(crate::runtime::in_runtime(async move {
        save_each(store.as_ref(), &snapshots).await;
    }));
}
