//! Domain vocabulary shared by the rules, the views and the ports:
//! ids, who is acting, money, increments and wire time.

mod caller;
mod ids;
mod increments;
mod money;
mod time;

pub use caller::{Caller, Role};
pub use ids::{AuctionId, BidId, ProductId, ShowId, UserId};
pub use increments::{IncrementTable, IncrementTier, InvalidIncrements, MAX_INCREMENT_STEP};
pub use money::{Currency, InvalidCurrency, MAX_AMOUNT, Money, MoneyError};
pub use time::{WireTime, to_millis, wire_time, write_time};
