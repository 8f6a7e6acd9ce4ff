//! Postal addresses: only their owner sees or changes them (others get 404);
//! one default per type, kept in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::Commerce;
use super::model::Address;
use super::validate;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// A new address, or the full replacement of one (`PUT`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AddressInput {
    /// `shipping` or `billing`.
    #[serde(rename = "type")]
    pub kind: String,
    /// e.g. `Home` (at most 50 characters).
    pub label: Option<String>,
    /// Given name (1 to 100 characters).
    pub first_name: String,
    /// Family name (1 to 100 characters).
    pub last_name: String,
    /// Street and number (1 to 200 characters).
    pub address_line1: String,
    /// Flat, floor, ... (at most 200 characters).
    pub address_line2: Option<String>,
    /// City (1 to 100 characters).
    pub city: String,
    /// State or region (at most 100 characters).
    pub state: Option<String>,
    /// 2 to 12 letters, digits, spaces or dashes.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: String,
    /// 7 to 15 digits, optionally starting with `+`.
    pub phone: Option<String>,
    /// Make it the default of its type (the first of a type always is).
    #[serde(default)]
    pub is_default: bool,
}

struct Clean {
    kind: &'static str,
    label: Option<String>,
    first_name: String,
    last_name: String,
    address_line1: String,
    address_line2: Option<String>,
    city: String,
    state: Option<String>,
    postal_code: String,
    country: String,
    phone: Option<String>,
}

fn clean(input: &AddressInput) -> Result<Clean> {
    let kind = match input.kind.trim() {
        "shipping" => "shipping",
        "billing" => "billing",
        _ => {
            return Err(Error::validation(
                "type",
                "one_of",
                "must be shipping or billing",
            ));
        }
    };
    Ok(Clean {
        kind,
        label: validate::optional_text("label", input.label.as_deref(), 50)?,
        first_name: validate::text("first_name", &input.first_name, 100)?,
        last_name: validate::text("last_name", &input.last_name, 100)?,
        address_line1: validate::text("address_line1", &input.address_line1, 200)?,
        address_line2: validate::optional_text(
            "address_line2",
            input.address_line2.as_deref(),
            200,
        )?,
        city: validate::text("city", &input.city, 100)?,
        state: validate::optional_text("state", input.state.as_deref(), 100)?,
        postal_code: validate::postal_code(&input.postal_code)?,
        country: validate::country(&input.country)?,
        phone: validate::phone(input.phone.as_deref())?,
    })
}

#[derive(Debug, FromRow)]
pub(crate) struct AddressRow {
    id: Uuid,
    #[sqlx(rename = "type")]
    kind: String,
    label: Option<String>,
    first_name: String,
    last_name: String,
    address_line1: String,
    address_line2: Option<String>,
    city: String,
    state: Option<String>,
    postal_code: String,
    country: String,
    phone: Option<String>,
    is_default: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AddressRow> for Address {
    fn from(r: AddressRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            label: r.label,
            first_name: r.first_name,
            last_name: r.last_name,
            address_line1: r.address_line1,
            address_line2: r.address_line2,
            city: r.city,
            state: r.state,
            postal_code: r.postal_code,
            country: r.country,
            phone: r.phone,
            is_default: r.is_default,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(crate) const ADDRESS_COLUMNS: &str = "id, type, label, first_name, last_name, address_line1, address_line2, \
                       city, state, postal_code, country, phone, is_default, created_at, updated_at";

impl Commerce {
    /// The caller's addresses, oldest first.
    pub async fn addresses(&self, user: UserId, page: &Page) -> Result<Paged<Address>> {
        let limit = page.limit()?;
        let after = page.uuid_cursor()?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE user_id = $1 AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        ));
        let rows: Vec<AddressRow> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(Uuid::from(user))
            .bind(after)
            .bind(fetch_size(limit))
            .fetch_all(pool)
            .await)?;
        Ok(Paged::from_rows(rows, limit, |last| last.id.to_string()).map(Address::from))
    }

    /// One of the caller's addresses (404 for anyone else's).
    pub async fn address(&self, user: UserId, id: Uuid) -> Result<Address> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE id = $1 AND user_id = $2"
        ));
        let row: Option<AddressRow> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(id)
            .bind(Uuid::from(user))
            .fetch_optional(pool)
            .await)?;
        row.map(Address::from)
            .ok_or(Error::NotFound { what: "address" })
    }

    /// Add an address. The first of its type becomes the default.
    pub async fn create_address(&self, user: UserId, input: AddressInput) -> Result<Address> {
        let c = clean(&input)?;
        let id = Uuid::now_v7();
        let now = crate::time::now();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if input.is_default {
                sqlx::query("UPDATE addresses SET is_default = FALSE WHERE user_id = $1 AND type = $2 AND is_default")
                    .bind(Uuid::from(user)).bind(c.kind).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO addresses (id, user_id, type, label, first_name, last_name, address_line1, \
                 address_line2, city, state, postal_code, country, phone, is_default, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 NOT EXISTS (SELECT 1 FROM addresses WHERE user_id = $2 AND type = $3 AND is_default), $14, $14)",
            )
            .bind(id).bind(Uuid::from(user)).bind(c.kind).bind(&c.label).bind(&c.first_name)
            .bind(&c.last_name).bind(&c.address_line1).bind(&c.address_line2).bind(&c.city)
            .bind(&c.state).bind(&c.postal_code).bind(&c.country).bind(&c.phone).bind(now)
            .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.address(user, id).await
    }

    /// Replace an address; `is_default: true` makes it the default of its type.
    pub async fn update_address(
        &self,
        user: UserId,
        id: Uuid,
        input: AddressInput,
    ) -> Result<Address> {
        let c = clean(&input)?;
        let current = self.address(user, id).await?;
        let now = crate::time::now();
        // A type change leaves the default of the old type behind.
        let keep_default = current.is_default && current.kind == c.kind;
        let make_default = input.is_default || keep_default;
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE addresses SET is_default = FALSE WHERE user_id = $1 AND id = $2")
                .bind(Uuid::from(user)).bind(id).execute(&mut *tx).await?;
            if make_default {
                sqlx::query("UPDATE addresses SET is_default = FALSE WHERE user_id = $1 AND type = $2 AND is_default")
                    .bind(Uuid::from(user)).bind(c.kind).execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE addresses SET type = $1, label = $2, first_name = $3, last_name = $4, \
                 address_line1 = $5, address_line2 = $6, city = $7, state = $8, postal_code = $9, \
                 country = $10, phone = $11, updated_at = $12, \
                 is_default = ($13 OR NOT EXISTS (SELECT 1 FROM addresses WHERE user_id = $14 AND type = $1 AND is_default)) \
                 WHERE id = $15 AND user_id = $14",
            )
            .bind(c.kind).bind(&c.label).bind(&c.first_name).bind(&c.last_name)
            .bind(&c.address_line1).bind(&c.address_line2).bind(&c.city).bind(&c.state)
            .bind(&c.postal_code).bind(&c.country).bind(&c.phone).bind(now).bind(make_default)
            .bind(Uuid::from(user)).bind(id)
            .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.address(user, id).await
    }

    /// Delete an address (404 for anyone else's). Orders keep their copy.
    pub async fn delete_address(&self, user: UserId, id: Uuid) -> Result<()> {
        let deleted = with_db!(&self.db, pool => sqlx::query("DELETE FROM addresses WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(Uuid::from(user))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if deleted == 0 {
            return Err(Error::NotFound { what: "address" });
        }
        Ok(())
    }
}
