//! Notifications (DESIGN §7): one service ([`Notifications`]) writes each
//! notice once (its dedup key) to the user's inbox and open sockets and
//! queues it for email and Web Push by the user's preferences; a loop
//! delivers what is due, retrying with back-off. Where notices come from:
//! [`sources`](self::sources).
//!
//! The delivery channels each send one message and say whether a failure is
//! worth a retry; what to send, to whom and when is decided by the service.
//!
//! - [`email`]: email by SMTP, and the signed unsubscribe link that works
//!   without signing in.
//! - [`push`]: Web Push with VAPID to a browser's push subscription.
//!
//! Settings (read by the configuration, handed to the constructors):
//!
//! | setting | what | used by |
//! | --- | --- | --- |
//! | `SMTP_URL` | the SMTP relay, e.g. `smtp://127.0.0.1:2525` (plain, for a local relay), `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host` (TLS, port 465); a secret, since it may hold the password | [`email::Email::new`] |
//! | `BLYTZ_MAIL_FROM` | the sender, e.g. `Blytz <no-reply@blytz.example>` | [`email::Email::new`] |
//! | `BLYTZ_VAPID_PRIVATE_KEY` | the VAPID private key: the 32-byte P-256 scalar in base64url, as [`push::generate_vapid_keys`] makes it; a secret | [`push::WebPush::new`] |
//! | `BLYTZ_VAPID_SUBJECT` | who runs this server, for the push services: a `mailto:` or `https:` URL | [`push::WebPush::new`] |

pub mod email;
mod model;
pub mod push;
mod service;
mod sources;

pub use model::{
    Kind, KindPreference, MarkRead, NewPushSubscription, Notice, Notification, Preferences,
    PushKeys, PushSubscriptionView,
};
pub use service::{Notifications, NotifySettings};
pub use sources::{
    Facts, SHOW_LIVE_TOPIC, SHOW_SOON_TOPIC, STARTING_SOON, Sources, amount_text, facts_channel,
};
