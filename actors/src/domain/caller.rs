//! Who is acting: one [`Caller`] for every service, transport and rule.

use serde::{Deserialize, Serialize};

use super::UserId;

/// What a user may do. Sellers list and auction; buyers bid and buy; admins
/// moderate everything. Admins are created only from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Bids, buys, chats.
    Buyer,
    /// Also lists products and runs auctions and shows.
    Seller,
    /// May act on anything.
    Admin,
}

impl Role {
    /// The stored and wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Admin => "admin",
        }
    }

    /// Parses the stored and wire name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "buyer" => Some(Self::Buyer),
            "seller" => Some(Self::Seller),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether this role may act as a seller (sellers and admins).
    #[must_use]
    pub const fn can_sell(self) -> bool {
        matches!(self, Self::Seller | Self::Admin)
    }
}

/// Who is acting: an authenticated user and their role. Serializable, so a
/// command can carry its caller to the node that owns an auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Caller {
    /// The user.
    pub id: UserId,
    /// Their role when their token was issued.
    pub role: Role,
}

impl Caller {
    /// A caller with the given role.
    #[must_use]
    pub const fn new(id: UserId, role: Role) -> Self {
        Self { id, role }
    }

    /// Whether the caller is an admin.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller may manage what `owner` owns: the owner or an admin.
    /// The one ownership check of the whole system.
    #[must_use]
    pub fn may_manage(&self, owner: UserId) -> bool {
        self.id == owner || self.is_admin()
    }
}
