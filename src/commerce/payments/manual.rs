//! The manual gateway, for development without Stripe: it makes no intents;
//! the seller or an admin marks an order paid (`POST /orders/{id}/mark-paid`).

use blytz_actors::domain::Money;

use super::{IntentRequest, PaymentGateway, PaymentIntentInfo, manual_refusal as manual};
use crate::error::Result;

/// Payments confirmed by people.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManualGateway;

#[async_trait::async_trait]
impl PaymentGateway for ManualGateway {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn is_manual(&self) -> bool {
        true
    }

    async fn create_intent(&self, _: &IntentRequest) -> Result<PaymentIntentInfo> {
        Err(manual())
    }

    async fn retrieve_intent(&self, _: &str) -> Result<PaymentIntentInfo> {
        Err(manual())
    }

    async fn refund(&self, _: &str, _: Option<Money>, _: &str) -> Result<String> {
        Err(manual())
    }
}
