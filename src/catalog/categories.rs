//! Categories: a tree managed by admins, read by everyone.

use crate::Code;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{Category, CategoryId, CategoryNode};
use super::{Catalog, double_option, validate};
use crate::db::is_unique_violation;
use crate::error::{Error, Result};
use crate::with_db;

/// `POST /categories` input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// 1 to 100 characters.
    pub name: String,
    /// Unique; made from the name when absent.
    pub slug: Option<String>,
    /// The parent category, if any.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub parent_id: Option<CategoryId>,
    /// Position among siblings (default 0).
    pub sort_order: Option<i32>,
    /// Default `true`.
    pub active: Option<bool>,
}

/// `PUT /categories/{id}` input: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new slug.
    pub slug: Option<String>,
    /// A new parent; `null` makes it top-level.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub parent_id: Option<Option<CategoryId>>,
    /// A new position among siblings.
    pub sort_order: Option<i32>,
    /// Show or hide it.
    pub active: Option<bool>,
}

#[derive(Debug, Clone, FromRow)]
struct CategoryRow {
    #[sqlx(try_from = "Uuid")]
    id: CategoryId,
    name: String,
    slug: String,
    parent_id: Option<Uuid>,
    sort_order: i32,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CategoryRow> for Category {
    fn from(row: CategoryRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            slug: row.slug,
            parent_id: row.parent_id.map(CategoryId::from),
            sort_order: row.sort_order,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, slug, parent_id, sort_order, active, created_at, updated_at";

impl Catalog {
    /// Every category in display order (sort order, then name); inactive
    /// ones only when asked.
    #[tracing::instrument(skip(self))]
    pub async fn categories(&self, include_inactive: bool) -> Result<Vec<Category>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM categories ORDER BY sort_order, name, id"
        ));
        let rows = with_db!(&self.db, pool => sqlx::query_as::<_, CategoryRow>(sql).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(Category::from)
            .filter(|c| include_inactive || c.active)
            .collect())
    }

    /// The category tree: top-level categories with their children, in
    /// display order. A hidden category hides its subtree.
    pub async fn category_tree(&self, include_inactive: bool) -> Result<Vec<CategoryNode>> {
        let flat = self.categories(include_inactive).await?;
        Ok(build_tree(flat))
    }

    /// One category.
    pub async fn category(&self, id: CategoryId) -> Result<Category> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM categories WHERE id = $1"));
        let row = with_db!(&self.db, pool => sqlx::query_as::<_, CategoryRow>(sql)
            .bind(Uuid::from(id))
            .fetch_optional(pool)
            .await)?;
        row.map(Category::from)
            .ok_or(Error::NotFound { what: "category" })
    }

    /// Create a category (admins only; the caller checks the role).
    #[tracing::instrument(skip_all)]
    pub async fn create_category(&self, input: NewCategory) -> Result<Category> {
        let name = validate::text("name", &input.name, validate::NAME_MAX, false)?;
        let slug = match input.slug.as_deref() {
            Some(slug) => validate::slug(slug)?,
            None => validate::slug(&validate::slugify(&name))?,
        };
        if let Some(parent) = input.parent_id {
            self.existing_parent(parent).await?;
        }
        let now = crate::time::now();
        let category = Category {
            id: CategoryId::new(),
            name,
            slug,
            parent_id: input.parent_id,
            sort_order: input.sort_order.unwrap_or(0),
            active: input.active.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let result = with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO categories (id, name, slug, parent_id, sort_order, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::from(category.id))
        .bind(&category.name)
        .bind(&category.slug)
        .bind(category.parent_id.map(Uuid::from))
        .bind(category.sort_order)
        .bind(category.active)
        .bind(category.created_at)
        .bind(category.updated_at)
        .execute(pool)
        .await
        .map(|_| ()));
        result.map_err(slug_conflict)?;
        Ok(category)
    }

    /// Change a category. A new parent must exist and must not be the
    /// category itself or one of its descendants.
    #[tracing::instrument(skip(self, input))]
    pub async fn update_category(&self, id: CategoryId, input: CategoryUpdate) -> Result<Category> {
        let mut category = self.category(id).await?;
        if let Some(name) = &input.name {
            category.name = validate::text("name", name, validate::NAME_MAX, false)?;
        }
        if let Some(slug) = &input.slug {
            category.slug = validate::slug(slug)?;
        }
        if let Some(parent) = input.parent_id {
            if let Some(parent) = parent {
                self.existing_parent(parent).await?;
                let all = self.categories(true).await?;
                if descendants(&all, id).contains(&parent) {
                    return Err(Error::validation(
                        "parent_id",
                        "no_cycle",
                        "a category cannot be placed under itself or one of its subcategories",
                    ));
                }
            }
            category.parent_id = parent;
        }
        if let Some(sort_order) = input.sort_order {
            category.sort_order = sort_order;
        }
        if let Some(active) = input.active {
            category.active = active;
        }
        category.updated_at = crate::time::now();
        let result = with_db!(&self.db, pool => sqlx::query(
            "UPDATE categories SET name = $1, slug = $2, parent_id = $3, sort_order = $4, active = $5, updated_at = $6 \
             WHERE id = $7",
        )
        .bind(&category.name)
        .bind(&category.slug)
        .bind(category.parent_id.map(Uuid::from))
        .bind(category.sort_order)
        .bind(category.active)
        .bind(category.updated_at)
        .bind(Uuid::from(id))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()));
        if result.map_err(slug_conflict)? == 0 {
            return Err(Error::NotFound { what: "category" });
        }
        Ok(category)
    }

    /// Delete a category that has no subcategories and no products
    /// (409 `category_in_use` otherwise).
    #[tracing::instrument(skip(self))]
    pub async fn delete_category(&self, id: CategoryId) -> Result<()> {
        let deleted = with_db!(&self.db, pool => sqlx::query(
            "DELETE FROM categories WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM categories c WHERE c.parent_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM products p WHERE p.category_id = $1 AND p.deleted_at IS NULL)",
        )
        .bind(Uuid::from(id))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if deleted == 1 {
            return Ok(());
        }
        self.category(id).await?;
        Err(Error::refused(
            Code::CategoryInUse,
            "the category still has subcategories or products",
        ))
    }

    async fn existing_parent(&self, parent: CategoryId) -> Result<Category> {
        self.category(parent).await.map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::validation("parent_id", "exists", "no category has this id")
            }
            e => e,
        })
    }

    /// Whether `id` names an active category (for filing a product under it).
    pub(super) async fn ensure_active_category(&self, id: CategoryId) -> Result<()> {
        match self.category(id).await {
            Ok(c) if c.active => Ok(()),
            Ok(_) | Err(Error::NotFound { .. }) => Err(Error::validation(
                "category_id",
                "exists",
                "no active category has this id",
            )),
            Err(e) => Err(e),
        }
    }
}

fn slug_conflict(e: sqlx::Error) -> Error {
    if is_unique_violation(&e) {
        Error::refused(Code::SlugTaken, "another category has this slug")
    } else {
        e.into()
    }
}

/// `id` and every category below it.
fn descendants(all: &[Category], id: CategoryId) -> HashSet<CategoryId> {
    let mut children: HashMap<CategoryId, Vec<CategoryId>> = HashMap::new();
    for c in all {
        if let Some(parent) = c.parent_id {
            children.entry(parent).or_default().push(c.id);
        }
    }
    let mut found = HashSet::from([id]);
    let mut todo = vec![id];
    while let Some(next) = todo.pop() {
        for child in children.get(&next).into_iter().flatten() {
            if found.insert(*child) {
                todo.push(*child);
            }
        }
    }
    found
}

/// Nest a flat list (already in display order) under its parents. A
/// category whose parent is not in the list is left out with its subtree.
fn build_tree(flat: Vec<Category>) -> Vec<CategoryNode> {
    let mut children: HashMap<Option<CategoryId>, Vec<Category>> = HashMap::new();
    for c in flat {
        children.entry(c.parent_id).or_default().push(c);
    }
    fn attach(
        parent: Option<CategoryId>,
        children: &mut HashMap<Option<CategoryId>, Vec<Category>>,
    ) -> Vec<CategoryNode> {
        children
            .remove(&parent)
            .unwrap_or_default()
            .into_iter()
            .map(|category| {
                let kids = attach(Some(category.id), children);
                CategoryNode {
                    category,
                    children: kids,
                }
            })
            .collect()
    }
    attach(None, &mut children)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str, parent: Option<CategoryId>) -> Category {
        let now = crate::time::now();
        Category {
            id: CategoryId::new(),
            name: name.into(),
            slug: name.into(),
            parent_id: parent,
            sort_order: 0,
            active: true,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn tree_and_descendants() {
        let root = cat("root", None);
        let child = cat("child", Some(root.id));
        let grandchild = cat("grandchild", Some(child.id));
        let orphan = cat("orphan", Some(CategoryId::new()));
        let all = vec![root.clone(), child.clone(), grandchild.clone(), orphan];
        let found = descendants(&all, child.id);
        assert_eq!(found, HashSet::from([child.id, grandchild.id]));
        let tree = build_tree(all);
        assert_eq!(tree.len(), 1);
        assert_eq!(tree[0].children[0].children[0].category.id, grandchild.id);
    }
}
