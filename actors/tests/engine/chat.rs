//! The chat room actor with an in-memory store: rules, moderation, batched
//! history and coalesced presence.

use std::sync::Arc;

use blytz_actors::chat::messages::{Flush, Join, Leave, Moderate, Moderation, SendChat};
use blytz_actors::chat::rules::ChatRejection;
use blytz_actors::chat::{ChatHub, ChatSettings, InMemoryChatStore, PresenceIndex};
use blytz_actors::domain::{ShowId, UserId};
use blytz_actors::ports::SystemClock;
use blytz_actors::rooms::{RoomKey, Rooms};

use crate::helpers::ChatWatcher;

fn send(user: UserId, text: &str, exempt: bool) -> SendChat {
    SendChat {
        user_id: user,
        display_name: "Ann".into(),
        text: text.into(),
        exempt,
    }
}

#[actix_rt::test]
async fn chat_rules_moderation_history_and_presence() {
    let rooms = Rooms::new(64);
    let store = InMemoryChatStore::default();
    let hub = ChatHub::start(
        rooms.clone(),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        ChatSettings::default(),
        PresenceIndex::default(),
    );
    let key = RoomKey::Show(ShowId::new());
    let mut watcher = ChatWatcher::new(&rooms, key);
    let room = hub.room(key);
    let (ann, bob, seller) = (UserId::new(), UserId::new(), UserId::new());

    // A message is cleaned, broadcast once, and written in a batch.
    let hello = room
        .send(send(ann, " hello\u{7} ", false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello.text, "hello");
    let frame = watcher.next().await;
    assert_eq!(frame["type"], "chat.message");
    assert_eq!(frame["message"]["id"], hello.id.to_string());
    assert_eq!(
        room.send(send(ann, "   ", false)).await.unwrap(),
        Err(ChatRejection::Empty)
    );

    // Deleting a message not yet written drops it from the batch.
    room.send(Moderate {
        by: seller,
        action: Moderation::DeleteMessage(hello.id),
    })
    .await
    .unwrap()
    .unwrap();
    let frame = watcher.next().await;
    assert_eq!(frame["type"], "chat.deleted");
    let kept = room
        .send(send(bob, "still here", false))
        .await
        .unwrap()
        .unwrap();
    room.send(Flush).await.unwrap().unwrap();
    assert_eq!(store.messages(key), vec![kept.clone()]);

    // Slow mode: a second message too soon waits; exempt users do not.
    room.send(Moderate {
        by: seller,
        action: Moderation::SlowMode(60),
    })
    .await
    .unwrap()
    .unwrap();
    let refused = room
        .send(send(bob, "again", false))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(refused, ChatRejection::RateLimited { reason: "slow_mode", retry_after_ms } if retry_after_ms > 50_000)
    );
    room.send(send(seller, "one", true)).await.unwrap().unwrap();
    room.send(send(seller, "two", true)).await.unwrap().unwrap();

    // Mutes are kept in the store: a new room actor still knows them.
    room.send(Moderate {
        by: seller,
        action: Moderation::Mute(ann),
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        room.send(send(ann, "hi", true)).await.unwrap(),
        Err(ChatRejection::Muted)
    );
    let other_hub = ChatHub::start(
        rooms.clone(),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        ChatSettings::default(),
        PresenceIndex::default(),
    );
    assert_eq!(
        other_hub
            .room(key)
            .send(send(ann, "hi", true))
            .await
            .unwrap(),
        Err(ChatRejection::Muted)
    );

    // Presence is coalesced: three joins and a leave make one update.
    room.send(Join { user_id: Some(ann) }).await.unwrap();
    room.send(Join { user_id: Some(ann) }).await.unwrap();
    room.send(Join { user_id: None }).await.unwrap();
    room.send(Leave { user_id: None }).await.unwrap();
    let presence = loop {
        let frame = watcher.next().await;
        if frame["type"] == "presence" {
            break frame;
        }
    };
    assert_eq!(presence["connections"], 2);
    assert_eq!(presence["viewers"], 1);

    // Who is present is a lookup from any thread: a user is in while one
    // of their connections is.
    assert!(hub.presence().contains(key, ann));
    assert!(!hub.presence().contains(key, bob));
    assert!(
        !hub.presence().contains(RoomKey::Show(ShowId::new()), ann),
        "another room"
    );
    room.send(Leave { user_id: Some(ann) }).await.unwrap();
    assert!(hub.presence().contains(key, ann), "one connection left");
    room.send(Leave { user_id: Some(ann) }).await.unwrap();
    assert!(!hub.presence().contains(key, ann));
}

#[actix_rt::test]
async fn a_burst_of_chat_leaves_in_order_in_batch_frames() {
    let rooms = Rooms::new(64);
    let hub = ChatHub::start(
        rooms.clone(),
        Arc::new(InMemoryChatStore::default()),
        Arc::new(SystemClock),
        ChatSettings::default(),
        PresenceIndex::default(),
    );
    let key = RoomKey::Auction(blytz_actors::domain::AuctionId::new());
    let mut watcher = ChatWatcher::new(&rooms, key);
    let mut bid_lane = rooms.subscribe(key);
    let room = hub.room(key);
    let mut sent = Vec::new();
    for n in 0..200 {
        // Distinct users: the per-user rate limit stays out of the way.
        let message = room
            .send(send(UserId::new(), &format!("burst {n}"), false))
            .await
            .unwrap()
            .unwrap();
        sent.push(message.id.to_string());
    }
    for id in &sent {
        let frame = watcher.next().await;
        assert_eq!(frame["type"], "chat.message");
        assert_eq!(&frame["message"]["id"], id);
    }
    // The first leaves alone; the rest come in `chat.batch` frames.
    assert!(watcher.batches >= 1);
    assert!(
        watcher.batches < sent.len() - 1,
        "{} batches for {} messages",
        watcher.batches,
        sent.len()
    );
    // Nothing of the chat is on the auction events lane.
    assert!(bid_lane.try_recv().is_err());
}
