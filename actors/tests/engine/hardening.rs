//! The engine fails closed: a check that cannot be made refuses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blytz_actors::Code;
use blytz_actors::chat::messages::{Moderate, Moderation, SendChat};
use blytz_actors::chat::rules::ChatRejection;
use blytz_actors::chat::{ChatHub, ChatSettings, InMemoryChatStore};
use blytz_actors::domain::{ShowId, UserId};
use blytz_actors::ports::SystemClock;
use blytz_actors::rooms::{RoomKey, Rooms};

fn send(user: UserId, text: &str) -> SendChat {
    SendChat {
        user_id: user,
        display_name: "Viewer".into(),
        text: text.into(),
        exempt: false,
    }
}

fn hub(rooms: &Rooms, store: &InMemoryChatStore) -> ChatHub {
    ChatHub::start(
        rooms.clone(),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        ChatSettings {
            rate_per_sec: 0,
            burst: 0,
        },
    )
}

#[actix_rt::test]
async fn a_room_whose_bans_cannot_be_loaded_refuses_chat_until_they_are() {
    let rooms = Rooms::new(16);
    let store = InMemoryChatStore::default();
    let key = RoomKey::Show(ShowId::new());
    let (seller, troll, ann) = (UserId::new(), UserId::new(), UserId::new());

    let room = hub(&rooms, &store).room(key);
    room.send(Moderate {
        by: seller,
        action: Moderation::Ban(troll),
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        room.send(send(troll, "hi")).await.unwrap(),
        Err(ChatRejection::Banned)
    );

    // The room starts again (another node, a restart) while the store is down.
    store.fail_restrictions(true);
    let room = hub(&rooms, &store).room(key);
    let refused = room
        .send(send(troll, "I'm back"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused, ChatRejection::ModerationUnavailable);
    assert_eq!(refused.code(), Code::Unavailable);
    // Nobody's chat is judged without the room's bans.
    assert_eq!(
        room.send(send(ann, "hello")).await.unwrap(),
        Err(ChatRejection::ModerationUnavailable)
    );

    // The load is tried again: once the store answers, the ban holds and
    // everyone else may chat.
    store.fail_restrictions(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match room.send(send(ann, "hello")).await.unwrap() {
            Ok(message) => {
                assert_eq!(message.text, "hello");
                break;
            }
            Err(ChatRejection::ModerationUnavailable) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("chat still refused: {other:?}"),
        }
    }
    assert_eq!(
        room.send(send(troll, "let me in")).await.unwrap(),
        Err(ChatRejection::Banned)
    );
}
