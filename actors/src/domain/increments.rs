//! Bid increments: a tier table per auction.

use serde::{Deserialize, Serialize};

/// One tier: from price `from` (inclusive, minor units) upwards, the next bid
/// must be at least `step` above the current price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncrementTier {
    /// The lowest price (minor units) this tier applies to.
    pub from: i64,
    /// The increment (minor units) at prices in this tier; always > 0.
    pub step: i64,
}

/// Why an increment table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIncrements {
    /// The table has no tier.
    #[error("the increment table is empty")]
    Empty,
    /// The first tier does not start at 0.
    #[error("the first increment tier must start at 0")]
    FirstTierNotZero,
    /// Tier starts are not strictly ascending.
    #[error("increment tiers must be strictly ascending by `from`")]
    NotAscending,
    /// A step is zero or negative.
    #[error("every increment step must be greater than 0")]
    NonPositiveStep,
    /// A step is larger than [`MAX_INCREMENT_STEP`].
    #[error("an increment step is at most {MAX_INCREMENT_STEP} minor units")]
    StepTooLarge,
}

/// The largest increment step: 1,000,000.00 in a currency of cents.
pub const MAX_INCREMENT_STEP: i64 = 100_000_000;

/// A validated increment table: starts at 0, strictly ascending, steps > 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<IncrementTier>", into = "Vec<IncrementTier>")]
pub struct IncrementTable(Vec<IncrementTier>);

impl IncrementTable {
    /// Validates `tiers` into a table.
    ///
    /// # Errors
    /// When the table is empty, does not start at 0, is not strictly
    /// ascending, or has a step that is not positive.
    pub fn new(tiers: Vec<IncrementTier>) -> Result<Self, InvalidIncrements> {
        let first = tiers.first().ok_or(InvalidIncrements::Empty)?;
        if first.from != 0 {
            return Err(InvalidIncrements::FirstTierNotZero);
        }
        if tiers.iter().any(|t| t.step <= 0) {
            return Err(InvalidIncrements::NonPositiveStep);
        }
        if tiers.iter().any(|t| t.step > MAX_INCREMENT_STEP) {
            return Err(InvalidIncrements::StepTooLarge);
        }
        if tiers.windows(2).any(|w| w[0].from >= w[1].from) {
            return Err(InvalidIncrements::NotAscending);
        }
        Ok(Self(tiers))
    }

    /// The increment that applies at `price` (minor units).
    #[must_use]
    pub fn step_at(&self, price: i64) -> i64 {
        self.0
            .iter()
            .rev()
            .find(|t| t.from <= price)
            .or(self.0.first())
            .map_or(1, |t| t.step)
    }

    /// The tiers, lowest first.
    #[must_use]
    pub fn tiers(&self) -> &[IncrementTier] {
        &self.0
    }
}

impl Default for IncrementTable {
    /// eBay/Whatnot-like tiers, in cents: under $1 +5c, $1–5 +25c, $5–25 +50c,
    /// $25–100 +$1, $100–250 +$2.50, $250–500 +$5, $500–1000 +$10,
    /// $1000–2500 +$25, $2500–5000 +$50, $5000 and up +$100.
    fn default() -> Self {
        const TIERS: [(i64, i64); 10] = [
            (0, 5),
            (100, 25),
            (500, 50),
            (2_500, 100),
            (10_000, 250),
            (25_000, 500),
            (50_000, 1_000),
            (100_000, 2_500),
            (250_000, 5_000),
            (500_000, 10_000),
        ];
        Self(
            TIERS
                .iter()
                .map(|&(from, step)| IncrementTier { from, step })
                .collect(),
        )
    }
}

impl TryFrom<Vec<IncrementTier>> for IncrementTable {
    type Error = InvalidIncrements;

    fn try_from(tiers: Vec<IncrementTier>) -> Result<Self, Self::Error> {
        Self::new(tiers)
    }
}

impl From<IncrementTable> for Vec<IncrementTier> {
    fn from(table: IncrementTable) -> Self {
        table.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(from: i64, step: i64) -> IncrementTier {
        IncrementTier { from, step }
    }

    #[test]
    fn default_table_matches_the_documented_tiers() {
        let t = IncrementTable::default();
        assert!(IncrementTable::new(t.tiers().to_vec()).is_ok());
        assert_eq!(t.step_at(0), 5);
        assert_eq!(t.step_at(99), 5);
        assert_eq!(t.step_at(100), 25);
        assert_eq!(t.step_at(499), 25);
        assert_eq!(t.step_at(500), 50);
        assert_eq!(t.step_at(2_500), 100);
        assert_eq!(t.step_at(10_000), 250);
        assert_eq!(t.step_at(25_000), 500);
        assert_eq!(t.step_at(50_000), 1_000);
        assert_eq!(t.step_at(100_000), 2_500);
        assert_eq!(t.step_at(250_000), 5_000);
        assert_eq!(t.step_at(499_999), 5_000);
        assert_eq!(t.step_at(500_000), 10_000);
        assert_eq!(t.step_at(90_000_000), 10_000);
    }

    #[test]
    fn invalid_tables_are_refused() {
        assert_eq!(IncrementTable::new(vec![]), Err(InvalidIncrements::Empty));
        assert_eq!(
            IncrementTable::new(vec![tier(1, 5)]),
            Err(InvalidIncrements::FirstTierNotZero)
        );
        assert_eq!(
            IncrementTable::new(vec![tier(0, 5), tier(100, 0)]),
            Err(InvalidIncrements::NonPositiveStep)
        );
        assert_eq!(
            IncrementTable::new(vec![tier(0, 5), tier(100, 10), tier(100, 20)]),
            Err(InvalidIncrements::NotAscending)
        );
        assert!(serde_json::from_str::<IncrementTable>(r#"[{"from":5,"step":1}]"#).is_err());
        let ok: IncrementTable = serde_json::from_str(r#"[{"from":0,"step":100}]"#).unwrap();
        assert_eq!(ok.step_at(123_456), 100);
    }
}
