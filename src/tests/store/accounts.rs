use blytz::Error;
use blytz::accounts::{ProfileUpdate, Registration, Role};

use crate::helpers::{accounts, backends};

fn registration(email: &str, role: Role) -> Registration {
    Registration {
        email: email.to_owned(),
        password: "correct horse".to_owned(),
        display_name: "Ann".to_owned(),
        role,
    }
}

#[tokio::test]
async fn register_login_and_profile_round_trip() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let session = accounts
            .register(registration("Ann@Example.com", Role::Seller))
            .await
            .unwrap();
        assert_eq!(session.user.email, "ann@example.com");
        assert_eq!(session.user.role, Role::Seller);

        let login = accounts
            .login("ann@example.com", "correct horse")
            .await
            .unwrap();
        assert_eq!(login.user, session.user, "{:?}", scratch.db.backend());

        let profile = accounts.profile(session.user.id).await.unwrap();
        assert_eq!(profile, session.user);

        let updated = accounts
            .update_profile(
                session.user.id,
                ProfileUpdate {
                    display_name: Some("  Ann B  ".into()),
                    avatar_url: Some("https://img.example.com/a.png".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.display_name, "Ann B");
        assert_eq!(
            updated.avatar_url.as_deref(),
            Some("https://img.example.com/a.png")
        );
    }
}

#[tokio::test]
async fn duplicate_email_and_wrong_password() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        accounts
            .register(registration("a@b.io", Role::Buyer))
            .await
            .unwrap();
        let dup = accounts
            .register(registration("A@B.io", Role::Buyer))
            .await
            .unwrap_err();
        assert_eq!(dup.code(), "email_taken");

        let wrong = accounts
            .login("a@b.io", "not the password")
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), "invalid_credentials");
        let unknown = accounts
            .login("nobody@b.io", "correct horse")
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), "invalid_credentials");
    }
}

#[tokio::test]
async fn admins_cannot_register_themselves() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let err = accounts
            .register(registration("x@b.io", Role::Admin))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "role"));
        let admin = accounts
            .create_admin("root@b.io", "long password", "Root")
            .await
            .unwrap();
        assert_eq!(admin.role, Role::Admin);
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let first = accounts
            .register(registration("r@b.io", Role::Buyer))
            .await
            .unwrap();
        let second = accounts.refresh(&first.refresh_token).await.unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);

        // Reusing the spent token is refused and revokes the family...
        let reuse = accounts.refresh(&first.refresh_token).await.unwrap_err();
        assert_eq!(reuse.code(), "token_reused");
        // ...so the token issued by the good rotation is dead too.
        let dead = accounts.refresh(&second.refresh_token).await.unwrap_err();
        assert_eq!(dead.code(), "token_reused");

        // Another login (another family) is untouched.
        let other = accounts.login("r@b.io", "correct horse").await.unwrap();
        accounts.refresh(&other.refresh_token).await.unwrap();

        let garbage = accounts.refresh("not-a-token").await.unwrap_err();
        assert_eq!(garbage.code(), "invalid_token");
    }
}

#[tokio::test]
async fn concurrent_rotation_of_one_token_yields_one_winner() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let session = accounts
            .register(registration("c@b.io", Role::Buyer))
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            accounts.refresh(&session.refresh_token),
            accounts.refresh(&session.refresh_token)
        );
        assert_eq!(
            usize::from(a.is_ok()) + usize::from(b.is_ok()),
            1,
            "exactly one rotation wins on {:?}",
            scratch.db.backend()
        );
    }
}

#[tokio::test]
async fn logout_and_change_password_revoke_refresh_tokens() {
    for scratch in backends().await {
        let accounts = accounts(&scratch.db).await;
        let session = accounts
            .register(registration("l@b.io", Role::Buyer))
            .await
            .unwrap();
        let user = session.user.id;
        accounts
            .logout(user, Some(&session.refresh_token))
            .await
            .unwrap();
        assert!(accounts.refresh(&session.refresh_token).await.is_err());

        let one = accounts.login("l@b.io", "correct horse").await.unwrap();
        let two = accounts.login("l@b.io", "correct horse").await.unwrap();
        let wrong = accounts
            .change_password(user, "wrong current", "brand new password")
            .await
            .unwrap_err();
        assert_eq!(wrong.code(), "invalid_credentials");
        let short = accounts
            .change_password(user, "correct horse", "short")
            .await
            .unwrap_err();
        assert!(matches!(short, Error::Validation { ref field, .. } if field == "new_password"));

        accounts
            .change_password(user, "correct horse", "brand new password")
            .await
            .unwrap();
        assert!(accounts.refresh(&one.refresh_token).await.is_err());
        assert!(accounts.refresh(&two.refresh_token).await.is_err());
        assert!(accounts.login("l@b.io", "correct horse").await.is_err());
        accounts
            .login("l@b.io", "brand new password")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_ping_works() {
    for scratch in backends().await {
        scratch.db.migrate().await.unwrap();
        scratch.db.ping().await.unwrap();
    }
}
