//! Chat history: batches of any size, pages newest first, deletes; on SQLite
//! in a file of its own so chat writes never take the bid journal's lock.

use blytz::Db;
use blytz::ids::UserId;
use blytz::shows::SqlChatStore;
use blytz_actors::chat::store::{ChatMessage, ChatStore};
use blytz_actors::domain::ShowId;
use blytz_actors::rooms::RoomKey;
use uuid::Uuid;

use crate::helpers::backends;

fn messages(n: usize) -> Vec<ChatMessage> {
    let user = UserId::new();
    (0..n)
        .map(|i| ChatMessage {
            id: Uuid::now_v7(),
            user_id: user,
            display_name: "Chatty".to_owned(),
            text: format!("message {i}"),
            sent_at: blytz::time::now(),
        })
        .collect()
}

/// Every id of `room`'s history, walking pages of `limit` newest first.
async fn all_pages(store: &SqlChatStore, room: RoomKey, limit: i64) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let page = store.page(room, before, limit).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        ids.extend(page.iter().map(|m| m.id));
    }
    ids
}

#[tokio::test]
async fn a_batch_larger_than_one_insert_is_stored_once_and_pages_back_newest_first() {
    for scratch in backends().await {
        let store = SqlChatStore::open(scratch.db.clone()).await.unwrap();
        let room = RoomKey::Show(ShowId::new());
        let other = RoomKey::Show(ShowId::new());
        let batch = messages(2_345);
        store.save(room, &batch).await.unwrap();
        // A retried batch stores nothing twice.
        store.save(room, &batch[..10]).await.unwrap();
        store.save(other, &messages(3)).await.unwrap();

        let ids = all_pages(&store, room, 1_000).await;
        let mut expected: Vec<Uuid> = batch.iter().map(|m| m.id).collect();
        expected.reverse();
        assert_eq!(ids, expected);

        let gone = batch[7].id;
        let at = blytz::time::now();
        assert!(store.delete(room, gone, at).await.unwrap());
        assert!(!store.delete(room, gone, at).await.unwrap(), "deleted once");
        assert!(
            !store.delete(other, batch[8].id, at).await.unwrap(),
            "another room's"
        );
        let ids = all_pages(&store, room, 500).await;
        assert_eq!(ids.len(), 2_344);
        assert!(!ids.contains(&gone));
    }
}

#[tokio::test]
async fn on_sqlite_chat_is_written_while_the_main_file_is_locked_for_writing() {
    let scratch = blytz::db::ScratchDb::sqlite().await.unwrap();
    let Db::Sqlite(pool) = &scratch.db else {
        unreachable!("a SQLite scratch database")
    };
    let store = SqlChatStore::open(scratch.db.clone()).await.unwrap();
    let main = pool.connect_options().get_filename().to_owned();
    assert!(main.with_file_name("blytz-chat.db").exists());

    // Hold the main file's write lock, as a bid journal commit does.
    let mut writer = pool.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *writer)
        .await
        .unwrap();
    let room = RoomKey::Show(ShowId::new());
    // Sharing the lock would fail here with "database is locked" once the
    // busy timeout ran out.
    store.save(room, &messages(50)).await.unwrap();
    assert_eq!(all_pages(&store, room, 100).await.len(), 50);
    sqlx::query("COMMIT").execute(&mut *writer).await.unwrap();
}
