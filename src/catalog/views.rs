//! View counting without a database write per view: views are added up in
//! memory and flushed in one transaction every few seconds (and at shutdown).
//! A crash loses at most one period of views, which is acceptable for a
//! popularity counter.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::db::Db;
use crate::ids::ProductId;

use super::product_store;

/// Views counted since the last flush.
#[derive(Debug, Default)]
pub struct ViewCounter {
    /// A plain mutex: it is held only for a map update, never across an await.
    pending: Mutex<HashMap<ProductId, i64>>,
}

impl ViewCounter {
    /// Count one view of `id`.
    pub fn record(&self, id: ProductId) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending.entry(id).or_insert(0) += 1;
        }
    }

    /// Views of `id` not yet written.
    pub fn pending(&self, id: ProductId) -> i64 {
        self.pending
            .lock()
            .ok()
            .and_then(|p| p.get(&id).copied())
            .unwrap_or(0)
    }

    /// Write the pending counts in one transaction. On failure they are put
    /// back, to be written by the next flush. Answers how many products were
    /// updated.
    pub async fn flush(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let taken: Vec<(ProductId, i64)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return Ok(0),
        };
        if taken.is_empty() {
            return Ok(0);
        }
        match product_store::add_views(db, &taken).await {
            Ok(()) => Ok(taken.len()),
            Err(e) => {
                if let Ok(mut pending) = self.pending.lock() {
                    for (id, n) in taken {
                        *pending.entry(id).or_insert(0) += n;
                    }
                }
                Err(e)
            }
        }
    }
}
