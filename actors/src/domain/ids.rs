//! Identifiers: UUID v7 newtypes, serialized as plain UUID strings.

/// With the `openapi` feature: an id's OpenAPI schema, a UUID string. A
/// macro of its own because the feature is this crate's: `id_type!` runs in
/// the crate that calls it, where `cfg(feature = "openapi")` would ask that
/// crate's features.
#[cfg(feature = "openapi")]
#[doc(hidden)]
#[macro_export]
macro_rules! __id_schema {
    ($name:ident) => {
        impl $crate::__private::utoipa::PartialSchema for $name {
            fn schema() -> $crate::__private::utoipa::openapi::RefOr<
                $crate::__private::utoipa::openapi::schema::Schema,
            > {
                use $crate::__private::utoipa::openapi::schema::{
                    KnownFormat, ObjectBuilder, SchemaFormat, Type,
                };
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl $crate::__private::utoipa::ToSchema for $name {}
    };
}

/// Without the `openapi` feature ids have no schema.
#[cfg(not(feature = "openapi"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __id_schema {
    ($name:ident) => {};
}

/// Declares a UUID v7 id newtype: `Copy`, ordered, serialized as the plain
/// UUID string, with `new`, conversions to and from [`uuid::Uuid`],
/// `Display` and `FromStr`. The engine's ids are made with it, and so are
/// ids other crates keep to themselves (their crate must depend on `serde`
/// and `uuid`).
#[macro_export]
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            ::serde::Serialize,
            ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(::uuid::Uuid);

        $crate::__id_schema!($name);

        impl $name {
            /// A fresh, time-ordered (v7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID (e.g. read from storage).
            #[must_use]
            pub const fn from_uuid(uuid: ::uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> &::uuid::Uuid {
                &self.0
            }

            /// The UUID inside, by value.
            #[must_use]
            pub const fn into_uuid(self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::core::convert::From<::uuid::Uuid> for $name {
            fn from(uuid: ::uuid::Uuid) -> Self {
                Self(uuid)
            }
        }

        impl ::core::convert::From<$name> for ::uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = ::uuid::Error;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies one auction (one lot put up for bidding).
    AuctionId
);
id_type!(
    /// Identifies a user: seller, bidder or admin.
    UserId
);
id_type!(
    /// Identifies one recorded bid (manual or automatic).
    BidId
);
id_type!(
    /// Identifies a live show (a video room with a run of lots).
    ShowId
);
id_type!(
    /// Identifies a catalog product.
    ProductId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_serialize_transparently() {
        let id = AuctionId::new();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: AuctionId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string().parse::<AuctionId>().unwrap(), id);
    }
}
