//! The Stripe gateway on `async-stripe`: PaymentIntents (made with an
//! idempotency key, amount in minor units, the order id in metadata),
//! retrieval and refunds. `STRIPE_API_BASE` points it elsewhere (tests run a
//! local stand-in of Stripe's HTTP API).

use crate::Code;
use std::collections::HashMap;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use stripe::{
    Client, CreatePaymentIntent, CreateRefund, Currency, PaymentIntent, PaymentIntentId, Refund,
    RequestStrategy, StripeError,
};

use blytz_actors::domain::Money;

use super::{IntentRequest, PaymentGateway, PaymentIntentInfo};
use crate::error::{Error, Result};

/// Payments through Stripe.
#[derive(Clone)]
pub struct StripeGateway {
    client: Client,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway").finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// A client with `secret_key`, at `api_base` (default `https://api.stripe.com/`).
    pub fn new(secret_key: &SecretString, api_base: Option<&str>) -> anyhow::Result<Self> {
        let base = api_base
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or("https://api.stripe.com/");
        // `Client::from_url` panics on a bad URL: check it first.
        let parsed = reqwest_free_url_check(base).context("STRIPE_API_BASE is not a URL")?;
        // A URL that passes the check above but not the client's parser would
        // panic inside `from_url`: make that a start-up error instead.
        let key = secret_key.expose_secret().to_owned();
        let client =
            std::panic::catch_unwind(|| Client::from_url(parsed.as_str(), key)).map_err(|_| {
                anyhow::anyhow!("STRIPE_API_BASE is not a URL the Stripe client accepts")
            })?;
        Ok(Self { client })
    }
}

/// `http(s)://host[:port]/...`, with a trailing slash.
fn reqwest_free_url_check(base: &str) -> anyhow::Result<String> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .context("it must start with http:// or https://")?;
    anyhow::ensure!(
        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace),
        "it has no host"
    );
    Ok(if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    })
}

fn gateway_error(e: StripeError) -> Error {
    match e {
        StripeError::Stripe(req) if req.http_status == 402 || req.http_status == 400 => {
            Error::Refused {
                code: Code::PaymentRefused,
                message: req
                    .message
                    .unwrap_or_else(|| "the payment provider refused the request".into())
                    .into(),
                details: Default::default(),
            }
        }
        other => {
            tracing::warn!(error = %other, "Stripe request failed");
            Error::refused(
                Code::PaymentGatewayUnavailable,
                "the payment provider could not be reached; try again",
            )
        }
    }
}

fn info(intent: PaymentIntent) -> PaymentIntentInfo {
    PaymentIntentInfo {
        id: intent.id.to_string(),
        client_secret: intent.client_secret,
        status: intent.status.as_str().to_owned(),
    }
}

fn intent_id(id: &str) -> Result<PaymentIntentId> {
    id.parse().map_err(|_| {
        Error::Internal(anyhow::anyhow!(
            "stored payment intent id {id:?} is malformed"
        ))
    })
}

#[async_trait::async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_intent(&self, request: &IntentRequest) -> Result<PaymentIntentInfo> {
        let currency: Currency = request
            .amount
            .currency
            .as_str()
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| {
                Error::validation(
                    "currency",
                    "stripe_currency",
                    "Stripe does not take this currency",
                )
            })?;
        let mut params = CreatePaymentIntent::new(request.amount.minor, currency);
        params.metadata = Some(HashMap::from([(
            "order_id".to_owned(),
            request.order_id.to_string(),
        )]));
        let client = self
            .client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(request.idempotency_key.clone()));
        PaymentIntent::create(&client, params)
            .await
            .map(info)
            .map_err(gateway_error)
    }

    async fn retrieve_intent(&self, id: &str) -> Result<PaymentIntentInfo> {
        PaymentIntent::retrieve(&self.client, &intent_id(id)?, &[])
            .await
            .map(info)
            .map_err(gateway_error)
    }

    async fn refund(
        &self,
        intent: &str,
        amount: Option<Money>,
        idempotency_key: &str,
    ) -> Result<String> {
        let mut params = CreateRefund::new();
        params.payment_intent = Some(intent_id(intent)?);
        params.amount = amount.map(|a| a.minor);
        let client = self
            .client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(idempotency_key.to_owned()));
        Refund::create(&client, params)
            .await
            .map(|r| r.id.to_string())
            .map_err(gateway_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_is_checked_before_the_client_sees_it() {
        assert_eq!(
            reqwest_free_url_check("http://127.0.0.1:9").unwrap(),
            "http://127.0.0.1:9/"
        );
        assert!(reqwest_free_url_check("ftp://x").is_err());
        assert!(reqwest_free_url_check("http://").is_err());
        let key = SecretString::from("sk_test_x");
        assert!(StripeGateway::new(&key, Some("not a url")).is_err());
        assert!(StripeGateway::new(&key, None).is_ok());
        assert!(StripeGateway::new(&key, Some("http://[::1")).is_err());
    }
}
