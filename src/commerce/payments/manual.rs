//! The manual gateway, for development without Stripe: it makes no intents;
//! the seller or an admin marks an order paid (`POST /orders/{id}/mark-paid`).

use super::{IntentRequest, PaymentGateway, PaymentIntentInfo};
use crate::Code;
use crate::error::{Error, Result};

/// Payments confirmed by people.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManualGateway;

fn manual() -> Error {
    Error::refused(
        Code::PaymentsManual,
        "no payment gateway is configured (STRIPE_SECRET_KEY): the seller or an admin \
                  marks the order paid",
    )
}

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

    async fn refund(&self, _: &str, _: &str) -> Result<String> {
        Err(manual())
    }
}
