use std::collections::BTreeSet;

use blytz::Code;
use blytz::accounts::{Registration, Role};
use blytz::audience::{Added, Audience};
use blytz::ids::{ShowId, UserId};
use blytz::pagination::Page;
use blytz::shows::store::ShowRow;

use crate::helpers::{accounts, backends};

async fn user(accounts: &blytz::accounts::Accounts, email: &str, role: Role) -> UserId {
    accounts
        .register(Registration {
            email: email.to_owned(),
            password: "correct horse".to_owned(),
            display_name: email.to_owned(),
            role,
        })
        .await
        .unwrap()
        .user
        .id
}

async fn show(db: &blytz::Db, seller: UserId) -> ShowId {
    let id = ShowId::new();
    let now = blytz::time::now();
    blytz::shows::store::insert(
        db,
        &ShowRow {
            id,
            seller_id: seller,
            title: "Friday vinyl".to_owned(),
            description: String::new(),
            cover_image_url: None,
            status: "scheduled".to_owned(),
            scheduled_at: now,
            started_at: None,
            ended_at: None,
            livekit_room: format!("show-{id}"),
            stream_status: "idle".to_owned(),
            stream_participants: 0,
            slow_mode_secs: 0,
            require_payment_method: None,
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn followers_of_a_seller_page_through_every_follower_once() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let audience = Audience::new(scratch.db.clone());
        let seller = user(&accounts, "seller@example.com", Role::Seller).await;
        let other = user(&accounts, "other@example.com", Role::Seller).await;
        let mut followers = BTreeSet::new();
        for n in 0..5 {
            let buyer = user(&accounts, &format!("b{n}@example.com"), Role::Buyer).await;
            let (followed, added) = audience.follow(buyer, seller).await.unwrap();
            assert_eq!(added, Added::New);
            assert_eq!(followed.follower_count, n + 1);
            followers.insert(buyer);
        }
        let again = audience
            .follow(*followers.first().unwrap(), seller)
            .await
            .unwrap();
        assert_eq!(again.1, Added::Already, "{:?}", scratch.db.backend());
        assert_eq!(again.0.follower_count, 5);
        // A follower of another seller is not one of this seller's.
        audience
            .follow(*followers.first().unwrap(), other)
            .await
            .unwrap();

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = audience
                .followers_of(
                    seller,
                    &Page {
                        limit: Some(2),
                        cursor,
                    },
                )
                .await
                .unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5, "{:?}", scratch.db.backend());
        assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), followers);

        let counts = audience
            .follower_counts(&[seller, other, seller])
            .await
            .unwrap();
        assert_eq!(counts.get(&seller), Some(&5));
        assert_eq!(counts.get(&other), Some(&1));
        assert_eq!(audience.follower_count(UserId::new()).await.unwrap(), 0);

        audience
            .unfollow(*followers.first().unwrap(), seller)
            .await
            .unwrap();
        audience
            .unfollow(*followers.first().unwrap(), seller)
            .await
            .unwrap();
        assert_eq!(audience.follower_count(seller).await.unwrap(), 4);
    }
}

#[tokio::test]
async fn only_sellers_are_followed_and_never_oneself() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let audience = Audience::new(scratch.db.clone());
        let seller = user(&accounts, "seller@example.com", Role::Seller).await;
        let buyer = user(&accounts, "buyer@example.com", Role::Buyer).await;
        let own = audience.follow(seller, seller).await.unwrap_err();
        assert_eq!(own.code(), Code::CannotFollowSelf);
        let not_seller = audience.follow(seller, buyer).await.unwrap_err();
        assert_eq!(not_seller.code(), Code::NotFound);
        let nobody = audience.follow(buyer, UserId::new()).await.unwrap_err();
        assert_eq!(nobody.code(), Code::NotFound);
        let unfollow_nobody = audience.unfollow(buyer, UserId::new()).await.unwrap_err();
        assert_eq!(unfollow_nobody.code(), Code::NotFound);
        assert_eq!(audience.follower_count(buyer).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn bookmarks_list_newest_first_and_belong_to_their_user() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let audience = Audience::new(scratch.db.clone());
        let seller = user(&accounts, "seller@example.com", Role::Seller).await;
        let buyer = user(&accounts, "buyer@example.com", Role::Buyer).await;
        let stranger = user(&accounts, "stranger@example.com", Role::Buyer).await;
        let shows = [
            show(&scratch.db, seller).await,
            show(&scratch.db, seller).await,
            show(&scratch.db, seller).await,
        ];
        for show in shows {
            assert_eq!(audience.bookmark(buyer, show).await.unwrap().1, Added::New);
        }
        assert_eq!(
            audience.bookmark(buyer, shows[0]).await.unwrap().1,
            Added::Already
        );
        let unknown = audience.bookmark(buyer, ShowId::new()).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound);

        let first = audience
            .bookmarks(
                buyer,
                &Page {
                    limit: Some(2),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        let ids: Vec<ShowId> = first.items.iter().map(|b| b.id).collect();
        assert_eq!(ids, [shows[2], shows[1]], "{:?}", scratch.db.backend());
        let rest = audience
            .bookmarks(
                buyer,
                &Page {
                    limit: Some(2),
                    cursor: first.next_cursor,
                },
            )
            .await
            .unwrap();
        let ids: Vec<ShowId> = rest.items.iter().map(|b| b.id).collect();
        assert_eq!(ids, [shows[0]]);
        assert_eq!(rest.next_cursor, None);

        let among = audience.bookmarked_among(stranger, &shows).await.unwrap();
        assert!(among.is_empty());
        let among = audience.bookmarked_among(buyer, &shows).await.unwrap();
        assert_eq!(among.len(), 3);

        audience.unbookmark(buyer, shows[1]).await.unwrap();
        audience.unbookmark(buyer, shows[1]).await.unwrap();
        let left = audience.bookmarks(buyer, &Page::default()).await.unwrap();
        assert_eq!(left.items.len(), 2);
        let bad = audience
            .bookmarks(
                buyer,
                &Page {
                    limit: None,
                    cursor: Some("garbage".into()),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::ValidationFailed);
    }
}
