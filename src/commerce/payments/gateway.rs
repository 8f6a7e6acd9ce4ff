//! What a payment gateway is asked to do, and what it answers: payments
//! (on-session intents, off-session charges of a saved card, refunds), cards
//! on file (customers, setup intents, payment methods) and seller payouts
//! (connected accounts, onboarding links, transfers and their reversals).
//!
//! Every call that moves money or makes an object takes an idempotency key:
//! the same key always yields the same object at the gateway, so a retried
//! step never charges, refunds or pays twice.

use blytz_actors::domain::Money;
use uuid::Uuid;

use crate::Code;
use crate::error::{Error, Result};

/// What a gateway is asked to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRequest {
    /// The order (sent as metadata `order_id`).
    pub order_id: Uuid,
    /// The order's total.
    pub amount: Money,
    /// The same key always yields the same intent at the gateway.
    pub idempotency_key: String,
}

/// A payment intent as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntentInfo {
    /// The gateway's id, e.g. `pi_...`.
    pub id: String,
    /// What the browser confirms the payment with.
    pub client_secret: Option<String>,
    /// The gateway's status, e.g. `requires_payment_method`.
    pub status: String,
}

/// A charge of a saved card without the buyer present (at the hammer, or a
/// retry with another saved card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The order (metadata `order_id`; `transfer_group` `order-<id>`).
    pub order_id: Uuid,
    /// The order's total.
    pub amount: Money,
    /// The buyer's customer at the gateway.
    pub customer: String,
    /// The saved card, e.g. `pm_...`.
    pub payment_method: String,
    /// The seller's connected account, when they have one (metadata
    /// `seller_account`): the transfer after delivery goes there.
    pub seller_account: Option<String>,
    /// What the platform keeps (metadata `platform_fee`, minor units).
    pub platform_fee: Money,
    /// The same key always yields the same intent.
    pub idempotency_key: String,
}

/// How an off-session charge ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money is taken.
    Succeeded {
        /// The intent, e.g. `pi_...`.
        intent_id: String,
    },
    /// The card was declined or needs the buyer (authentication): the buyer
    /// must act. `reason` is the gateway's words for the buyer.
    Failed {
        /// The intent, when the gateway made one.
        intent_id: Option<String>,
        /// e.g. `card_declined`, `authentication_required`.
        code: String,
        /// e.g. "Your card was declined."
        reason: String,
    },
}

/// A customer's setup intent: the browser confirms it to save a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupIntentInfo {
    /// e.g. `seti_...`.
    pub id: String,
    /// What the browser confirms it with.
    pub client_secret: Option<String>,
    /// e.g. `requires_payment_method`, `succeeded`.
    pub status: String,
    /// The customer it saves a card for.
    pub customer: Option<String>,
    /// The card it saved, once `succeeded`.
    pub payment_method: Option<String>,
}

/// A saved card as the gateway describes it: never its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// e.g. `pm_...`.
    pub id: String,
    /// The customer it is attached to.
    pub customer: Option<String>,
    /// e.g. `visa`.
    pub brand: String,
    /// The last four digits.
    pub last4: String,
    /// 1 to 12.
    pub exp_month: i64,
    /// e.g. 2030.
    pub exp_year: i64,
}

/// A seller's connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// e.g. `acct_...`.
    pub id: String,
    /// Whether the gateway pays out to the seller's bank.
    pub payouts_enabled: bool,
    /// Whether the seller finished onboarding.
    pub details_submitted: bool,
}

/// Money sent from the platform to a seller's connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The order it pays the seller for (metadata `order_id`, transfer group `order-<id>`).
    pub order_id: Uuid,
    /// What the seller receives.
    pub amount: Money,
    /// The seller's connected account.
    pub destination: String,
    /// The same key always yields the same transfer.
    pub idempotency_key: String,
}

/// 409 `payments_manual`: the manual gateway moves no money.
pub fn manual_refusal() -> Error {
    Error::refused(
        Code::PaymentsManual,
        "no payment gateway is configured (STRIPE_SECRET_KEY): the seller or an admin \
         marks the order paid",
    )
}

/// A payment provider.
///
/// The methods past `refund` have defaults that refuse with
/// `payments_manual`: a gateway without cards on file or payouts (the manual
/// one) keeps them.
#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// `stripe` or `manual`.
    fn name(&self) -> &'static str;

    /// Whether payments are confirmed by people (`mark-paid`) rather than the gateway.
    fn is_manual(&self) -> bool {
        false
    }

    /// Make a payment intent (idempotently, by the request's key).
    async fn create_intent(&self, request: &IntentRequest) -> Result<PaymentIntentInfo>;

    /// Read a payment intent back.
    async fn retrieve_intent(&self, id: &str) -> Result<PaymentIntentInfo>;

    /// Refund a payment intent, in full (`amount` none) or in part; answers
    /// the refund's id.
    async fn refund(
        &self,
        intent_id: &str,
        amount: Option<Money>,
        idempotency_key: &str,
    ) -> Result<String>;

    /// Make the customer of a buyer (idempotently, by the key); answers its id.
    async fn create_customer(
        &self,
        _user: Uuid,
        _email: &str,
        _idempotency_key: &str,
    ) -> Result<String> {
        Err(manual_refusal())
    }

    /// Make a setup intent for `customer` to save a card off-session.
    async fn create_setup_intent(
        &self,
        _customer: &str,
        _user: Uuid,
        _idempotency_key: &str,
    ) -> Result<SetupIntentInfo> {
        Err(manual_refusal())
    }

    /// Read a setup intent back.
    async fn retrieve_setup_intent(&self, _id: &str) -> Result<SetupIntentInfo> {
        Err(manual_refusal())
    }

    /// Read a saved card back.
    async fn retrieve_payment_method(&self, _id: &str) -> Result<CardInfo> {
        Err(manual_refusal())
    }

    /// Detach a saved card from its customer.
    async fn detach_payment_method(&self, _id: &str) -> Result<()> {
        Err(manual_refusal())
    }

    /// Charge a saved card now, without the buyer (`confirm`,
    /// `off_session`). A decline is `Ok(ChargeOutcome::Failed)`; only an
    /// unreachable gateway is an error.
    async fn charge_off_session(&self, _request: &ChargeRequest) -> Result<ChargeOutcome> {
        Err(manual_refusal())
    }

    /// Make a seller's Express connected account (idempotently, by the key).
    async fn create_connected_account(
        &self,
        _seller: Uuid,
        _email: &str,
        _idempotency_key: &str,
    ) -> Result<String> {
        Err(manual_refusal())
    }

    /// The link a seller follows to onboard `account`.
    async fn account_link(
        &self,
        _account: &str,
        _refresh_url: &str,
        _return_url: &str,
    ) -> Result<String> {
        Err(manual_refusal())
    }

    /// Read a connected account back.
    async fn retrieve_account(&self, _account: &str) -> Result<AccountInfo> {
        Err(manual_refusal())
    }

    /// Send money to a seller's connected account; answers the transfer's id.
    async fn create_transfer(&self, _request: &TransferRequest) -> Result<String> {
        Err(manual_refusal())
    }

    /// Take `amount` of a transfer back from the seller; answers the
    /// reversal's id.
    async fn reverse_transfer(
        &self,
        _transfer_id: &str,
        _amount: Money,
        _idempotency_key: &str,
    ) -> Result<String> {
        Err(manual_refusal())
    }
}
