//! The Stripe gateway on `async-stripe`: PaymentIntents (made with an
//! idempotency key, amount in minor units, the order id in metadata),
//! retrieval and refunds (in full or in part); cards on file (customers,
//! setup intents, payment methods read back and detached) and off-session
//! charges of a saved card, where a decline or a card that needs its holder
//! is an answer (`ChargeOutcome::Failed`) rather than an error; seller payouts
//! through Connect (Express accounts, onboarding links, transfers and their
//! reversals). Every call that makes an object sends the idempotency key it
//! is given. `STRIPE_API_BASE` points it elsewhere (tests run a local
//! stand-in of Stripe's HTTP API).

use crate::Code;
use std::collections::HashMap;
use std::str::FromStr;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use stripe::{
    Account, AccountId, AccountLink, AccountLinkType, AccountType, Client, CreateAccount,
    CreateAccountCapabilities, CreateAccountCapabilitiesCardPayments,
    CreateAccountCapabilitiesTransfers, CreateAccountLink, CreateCustomer, CreatePaymentIntent,
    CreateRefund, CreateSetupIntent, CreateTransfer, CreateTransferReversal, Currency, Customer,
    CustomerId, ListPaymentIntents, PaymentIntent, PaymentIntentId, PaymentIntentOffSession,
    PaymentIntentStatus, PaymentMethod, PaymentMethodId, Refund, RequestStrategy, SetupIntent,
    SetupIntentId, StripeError, Transfer, TransferId, TransferReversal,
};

use blytz_actors::domain::Money;
use uuid::Uuid;

use super::{
    AccountInfo, CardInfo, ChargeOutcome, ChargeRequest, IntentRequest, PaymentGateway,
    PaymentIntentInfo, SetupIntentInfo, TransferRequest,
};
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

/// The decline of an off-session charge, in the gateway's words, when a 402
/// answer leaves the intent unseen.
const DECLINED: &str = "Your card was declined.";

/// The words for a card whose issuer wants its holder to authenticate.
const NEEDS_AUTHENTICATION: &str = "Your card needs you to authenticate this payment.";

/// How many of a customer's newest intents are searched for a charge whose
/// answer was a decline.
const CHARGE_LOOKUP_LIMIT: u64 = 20;

fn info(intent: PaymentIntent) -> PaymentIntentInfo {
    PaymentIntentInfo {
        id: intent.id.to_string(),
        client_secret: intent.client_secret,
        status: intent.status.as_str().to_owned(),
    }
}

/// An id this server stored (or the gateway answered), in the client's type.
fn parse_id<T: FromStr>(id: &str, what: &str) -> Result<T> {
    id.parse()
        .map_err(|_| Error::Internal(anyhow::anyhow!("stored {what} id {id:?} is malformed")))
}

fn intent_id(id: &str) -> Result<PaymentIntentId> {
    parse_id(id, "payment intent")
}

/// Stripe's currency for `amount` (lower case).
fn stripe_currency(amount: &Money) -> Result<Currency> {
    amount
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
        })
}

/// How an off-session charge's intent ended, read from the intent itself:
/// `succeeded` (or `processing`, which a card leaves for `succeeded` or a
/// `payment_intent.payment_failed` event; or `requires_capture`, which only a
/// manual capture this gateway never asks for leaves) takes the money; an
/// intent waiting for a payment method or for its holder's action failed,
/// with the reason of its last error when it has one.
fn outcome(intent: &PaymentIntent) -> ChargeOutcome {
    let intent_id = intent.id.to_string();
    let last_error = intent.last_payment_error.as_deref();
    let reason = |fallback: &str| {
        last_error
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| fallback.to_owned())
    };
    match intent.status {
        PaymentIntentStatus::Succeeded
        | PaymentIntentStatus::Processing
        | PaymentIntentStatus::RequiresCapture => ChargeOutcome::Succeeded { intent_id },
        PaymentIntentStatus::RequiresAction | PaymentIntentStatus::RequiresConfirmation => {
            ChargeOutcome::Failed {
                intent_id: Some(intent_id),
                code: "authentication_required".to_owned(),
                reason: reason(NEEDS_AUTHENTICATION),
            }
        }
        PaymentIntentStatus::RequiresPaymentMethod => match last_error.and_then(|e| e.code) {
            Some(code) => ChargeOutcome::Failed {
                intent_id: Some(intent_id),
                code: code.as_str().to_owned(),
                reason: reason(DECLINED),
            },
            None => ChargeOutcome::Failed {
                intent_id: Some(intent_id),
                code: "authentication_required".to_owned(),
                reason: reason(NEEDS_AUTHENTICATION),
            },
        },
        PaymentIntentStatus::Canceled => ChargeOutcome::Failed {
            intent_id: Some(intent_id),
            code: "payment_canceled".to_owned(),
            reason: reason("The payment was canceled."),
        },
    }
}

fn setup_info(intent: SetupIntent) -> SetupIntentInfo {
    SetupIntentInfo {
        id: intent.id.to_string(),
        client_secret: intent.client_secret,
        status: intent.status.as_str().to_owned(),
        customer: intent.customer.map(|c| c.id().to_string()),
        payment_method: intent.payment_method.map(|m| m.id().to_string()),
    }
}

impl StripeGateway {
    /// The client, sending `key` as the request's idempotency key.
    fn idempotent(&self, key: &str) -> Client {
        self.client
            .clone()
            .with_strategy(RequestStrategy::Idempotent(key.to_owned()))
    }

    /// An off-session charge whose answer was a 402 decline or a body the
    /// client could not read (Stripe's error codes outnumber the client's,
    /// e.g. `authentication_required`): the intent Stripe made for it, found
    /// among the customer's newest by the metadata `charge_key`, tells how it
    /// ended. Without it, a 402 is still a decline; anything else an error.
    async fn charge_failure(
        &self,
        request: &ChargeRequest,
        customer: CustomerId,
        error: StripeError,
    ) -> Result<ChargeOutcome> {
        let declined = matches!(&error, StripeError::Stripe(e) if e.http_status == 402);
        if !declined && !matches!(error, StripeError::JSONSerialize(_)) {
            return Err(gateway_error(error));
        }
        let mut params = ListPaymentIntents::new();
        params.customer = Some(customer);
        params.limit = Some(CHARGE_LOOKUP_LIMIT);
        match PaymentIntent::list(&self.client, &params).await {
            Ok(list) => {
                let made = list.data.iter().find(|intent| {
                    intent.metadata.get("charge_key") == Some(&request.idempotency_key)
                });
                if let Some(intent) = made {
                    return Ok(outcome(intent));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read back a declined charge"),
        }
        match error {
            StripeError::Stripe(e) if declined => Ok(ChargeOutcome::Failed {
                intent_id: None,
                code: e
                    .code
                    .map_or_else(|| "card_declined".to_owned(), |c| c.to_string()),
                reason: e.message.unwrap_or_else(|| DECLINED.to_owned()),
            }),
            other => Err(gateway_error(other)),
        }
    }
}

#[async_trait::async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn create_intent(&self, request: &IntentRequest) -> Result<PaymentIntentInfo> {
        let currency = stripe_currency(&request.amount)?;
        let mut params = CreatePaymentIntent::new(request.amount.minor, currency);
        params.metadata = Some(HashMap::from([(
            "order_id".to_owned(),
            request.order_id.to_string(),
        )]));
        PaymentIntent::create(&self.idempotent(&request.idempotency_key), params)
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
        Refund::create(&self.idempotent(idempotency_key), params)
            .await
            .map(|r| r.id.to_string())
            .map_err(gateway_error)
    }

    async fn create_customer(
        &self,
        user: Uuid,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String> {
        let mut params = CreateCustomer::new();
        params.email = Some(email);
        params.metadata = Some(HashMap::from([("user_id".to_owned(), user.to_string())]));
        Customer::create(&self.idempotent(idempotency_key), params)
            .await
            .map(|c| c.id.to_string())
            .map_err(gateway_error)
    }

    async fn create_setup_intent(
        &self,
        customer: &str,
        user: Uuid,
        idempotency_key: &str,
    ) -> Result<SetupIntentInfo> {
        let mut params = CreateSetupIntent::new();
        params.customer = Some(parse_id(customer, "customer")?);
        params.payment_method_types = Some(vec!["card".to_owned()]);
        params.metadata = Some(HashMap::from([("user_id".to_owned(), user.to_string())]));
        SetupIntent::create(&self.idempotent(idempotency_key), params)
            .await
            .map(setup_info)
            .map_err(gateway_error)
    }

    async fn retrieve_setup_intent(&self, id: &str) -> Result<SetupIntentInfo> {
        let id: SetupIntentId = parse_id(id, "setup intent")?;
        SetupIntent::retrieve(&self.client, &id, &[])
            .await
            .map(setup_info)
            .map_err(gateway_error)
    }

    async fn retrieve_payment_method(&self, id: &str) -> Result<CardInfo> {
        let id: PaymentMethodId = parse_id(id, "payment method")?;
        let method = PaymentMethod::retrieve(&self.client, &id, &[])
            .await
            .map_err(gateway_error)?;
        let card = method.card.ok_or_else(|| {
            Error::refused(Code::PaymentRefused, "the payment method is not a card")
        })?;
        Ok(CardInfo {
            id: method.id.to_string(),
            customer: method.customer.map(|c| c.id().to_string()),
            brand: card.brand,
            last4: card.last4,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        })
    }

    async fn detach_payment_method(&self, id: &str) -> Result<()> {
        let id: PaymentMethodId = parse_id(id, "payment method")?;
        PaymentMethod::detach(&self.client, &id)
            .await
            .map(drop)
            .map_err(gateway_error)
    }

    async fn charge_off_session(&self, request: &ChargeRequest) -> Result<ChargeOutcome> {
        let currency = stripe_currency(&request.amount)?;
        let customer: CustomerId = parse_id(&request.customer, "customer")?;
        let transfer_group = format!("order-{}", request.order_id);
        let mut metadata = HashMap::from([
            ("order_id".to_owned(), request.order_id.to_string()),
            (
                "platform_fee".to_owned(),
                request.platform_fee.minor.to_string(),
            ),
            // How a charge whose answer was a decline is found again.
            ("charge_key".to_owned(), request.idempotency_key.clone()),
        ]);
        if let Some(account) = &request.seller_account {
            metadata.insert("seller_account".to_owned(), account.clone());
        }
        let mut params = CreatePaymentIntent::new(request.amount.minor, currency);
        params.confirm = Some(true);
        params.off_session = Some(PaymentIntentOffSession::exists(true));
        params.customer = Some(customer.clone());
        params.payment_method = Some(parse_id(&request.payment_method, "payment method")?);
        params.payment_method_types = Some(vec!["card".to_owned()]);
        params.transfer_group = Some(&transfer_group);
        params.metadata = Some(metadata);
        match PaymentIntent::create(&self.idempotent(&request.idempotency_key), params).await {
            Ok(intent) => Ok(outcome(&intent)),
            Err(error) => self.charge_failure(request, customer, error).await,
        }
    }

    async fn create_connected_account(
        &self,
        seller: Uuid,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String> {
        let mut params = CreateAccount::new();
        params.type_ = Some(AccountType::Express);
        params.email = Some(email);
        params.capabilities = Some(CreateAccountCapabilities {
            card_payments: Some(CreateAccountCapabilitiesCardPayments {
                requested: Some(true),
            }),
            transfers: Some(CreateAccountCapabilitiesTransfers {
                requested: Some(true),
            }),
            ..Default::default()
        });
        params.metadata = Some(HashMap::from([(
            "seller_id".to_owned(),
            seller.to_string(),
        )]));
        Account::create(&self.idempotent(idempotency_key), params)
            .await
            .map(|a| a.id.to_string())
            .map_err(gateway_error)
    }

    async fn account_link(
        &self,
        account: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<String> {
        let mut params = CreateAccountLink::new(
            parse_id(account, "connected account")?,
            AccountLinkType::AccountOnboarding,
        );
        params.refresh_url = Some(refresh_url);
        params.return_url = Some(return_url);
        AccountLink::create(&self.client, params)
            .await
            .map(|link| link.url)
            .map_err(gateway_error)
    }

    async fn retrieve_account(&self, account: &str) -> Result<AccountInfo> {
        let id: AccountId = parse_id(account, "connected account")?;
        let account = Account::retrieve(&self.client, &id, &[])
            .await
            .map_err(gateway_error)?;
        Ok(AccountInfo {
            id: account.id.to_string(),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
            details_submitted: account.details_submitted.unwrap_or(false),
        })
    }

    async fn create_transfer(&self, request: &TransferRequest) -> Result<String> {
        let currency = stripe_currency(&request.amount)?;
        let transfer_group = format!("order-{}", request.order_id);
        let mut params = CreateTransfer::new(currency, request.destination.clone());
        params.amount = Some(request.amount.minor);
        params.transfer_group = Some(&transfer_group);
        params.metadata = Some(HashMap::from([(
            "order_id".to_owned(),
            request.order_id.to_string(),
        )]));
        Transfer::create(&self.idempotent(&request.idempotency_key), params)
            .await
            .map(|t| t.id.to_string())
            .map_err(gateway_error)
    }

    async fn reverse_transfer(
        &self,
        transfer_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String> {
        let transfer: TransferId = parse_id(transfer_id, "transfer")?;
        let minor = u64::try_from(amount.minor).map_err(|_| {
            Error::validation(
                "amount",
                "non_negative",
                "a reversal takes back a positive amount",
            )
        })?;
        let params = CreateTransferReversal {
            amount: Some(minor),
            ..Default::default()
        };
        TransferReversal::create(&self.idempotent(idempotency_key), &transfer, params)
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
