//! The engine fails closed: a check that cannot be made refuses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blytz_actors::Code;
use blytz_actors::chat::messages::{Moderate, Moderation, SendChat};
use blytz_actors::chat::rules::ChatRejection;
use blytz_actors::chat::{ChatHub, ChatSettings, InMemoryChatStore, PresenceIndex};
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
        PresenceIndex::default(),
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

mod request_ids {
    use blytz_actors::Code;
    use blytz_actors::domain::{AuctionId, Caller, Currency, ProductId, Role, UserId};
    use blytz_actors::rules::{
        AuctionState, Bid, BidIds, Command, MAX_REQUEST_IDS_PER_BIDDER, NewAuction, apply, create,
        decide,
    };
    use chrono::{DateTime, TimeDelta, Utc};

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000).unwrap() + TimeDelta::milliseconds(ms)
    }

    struct Live {
        state: AuctionState,
    }

    impl Live {
        fn new() -> Self {
            let seller = UserId::new();
            let new = NewAuction::new(ProductId::new(), Currency::USD, 100, 3_600_000);
            let created =
                create(new.into_config(AuctionId::new(), seller).unwrap(), at(0)).unwrap();
            let mut live = Self {
                state: AuctionState::replay([&created]).unwrap(),
            };
            live.run(Caller::new(seller, Role::Seller), Command::Start, 0)
                .unwrap();
            live
        }

        fn run(
            &mut self,
            caller: Caller,
            command: Command,
            ms: i64,
        ) -> Result<(), blytz_actors::rules::Rejection> {
            let events = decide(&self.state, caller, command, BidIds::fresh(), at(ms))?;
            for event in &events {
                apply(&mut self.state, event);
            }
            Ok(())
        }

        fn bid(&mut self, bidder: UserId, request_id: &str, ms: i64) -> Result<(), Code> {
            let amount = self.state.min_next_bid();
            let bid = Bid {
                amount,
                max_amount: None,
                request_id: Some(request_id.to_owned()),
            };
            self.run(Caller::new(bidder, Role::Buyer), Command::Bid(bid), ms)
                .map_err(|rejection| rejection.code())
        }
    }

    #[test]
    fn a_request_id_is_short_printable_ascii() {
        let mut live = Live::new();
        let ann = UserId::new();
        for bad in [
            String::new(),
            "x".repeat(65),
            "tab\there".to_owned(),
            "naïve".to_owned(),
            "with space".to_owned(),
        ] {
            assert_eq!(
                live.bid(ann, &bad, 10),
                Err(Code::InvalidRequestId),
                "{bad:?}"
            );
        }
        assert_eq!(live.state.bid_count, 0);
        assert_eq!(live.bid(ann, &"r".repeat(64), 10), Ok(()));
    }

    #[test]
    fn the_request_ids_kept_per_bidder_are_bounded_and_expire() {
        let mut live = Live::new();
        let (ann, bob) = (UserId::new(), UserId::new());
        for n in 0..100 {
            let bidder = [ann, bob][usize::try_from(n % 2).unwrap()];
            live.bid(bidder, &format!("bid-{n}"), n * 1_000).unwrap();
        }
        for bidder in [ann, bob] {
            assert_eq!(
                live.state.requests[&bidder].len(),
                MAX_REQUEST_IDS_PER_BIDDER
            );
        }
        // The newest is still answered on retry, the oldest forgotten.
        assert!(live.state.recorded_bid(bob, "bid-99").is_some());
        assert!(live.state.recorded_bid(ann, "bid-0").is_none());
        // Ten minutes on, a new bid forgets every older id of its bidder.
        live.bid(ann, "later", 100_000 + 11 * 60_000).unwrap();
        assert_eq!(live.state.requests[&ann].len(), 1);
        // A snapshot carries no more than that.
        let snapshot = serde_json::to_string(&live.state).unwrap();
        assert!(snapshot.len() < 16 * 1024, "{} bytes", snapshot.len());
    }

    #[test]
    fn a_bidder_who_bids_no_more_is_forgotten_once_their_ids_expire() {
        let mut live = Live::new();
        let (ann, bob, cat) = (UserId::new(), UserId::new(), UserId::new());
        live.bid(ann, "ann", 0).unwrap();
        let others = |live: &mut Live, from: i64, at: i64| {
            for n in from..from + 64 {
                let bidder = [bob, cat][usize::try_from(n % 2).unwrap()];
                live.bid(bidder, &format!("bid-{n}"), at + n).unwrap();
            }
        };

        // Others bid for 64 seqs within the ten minutes: Ann's id stays.
        others(&mut live, 0, 1_000);
        assert!(live.state.recorded_bid(ann, "ann").is_some());

        // 64 more seqs past them: Ann is forgotten though she never bid
        // again; the others keep their newest.
        others(&mut live, 64, 11 * 60_000);
        assert!(live.state.recorded_bid(ann, "ann").is_none());
        assert!(!live.state.requests.contains_key(&ann));
        for bidder in [bob, cat] {
            assert_eq!(
                live.state.requests[&bidder].len(),
                MAX_REQUEST_IDS_PER_BIDDER
            );
        }
    }
}
