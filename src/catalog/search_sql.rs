//! The SQL of a product list, built at run time from fixed fragments: every
//! value is bound to a `$n` placeholder, never written into the text.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::product_store::COLUMNS;
use super::query::{Cursor, Filter, ListRow, ProductQuery, Sort};
use crate::db::{Backend, Db};
use crate::with_db;

/// A value bound to a placeholder of a query built at run time.
#[derive(Debug, Clone)]
enum Arg {
    Uuid(Uuid),
    I64(i64),
    F64(f64),
    Bool(bool),
    Text(String),
    Time(DateTime<Utc>),
}

/// SQL text with `$n` placeholders and the values they stand for.
#[derive(Debug, Default)]
pub(super) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Add a value and write its placeholder.
    fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }
}

/// The list query. Every value is bound; only fixed fragments are written into the text.
pub(super) fn build(
    backend: Backend,
    query: &ProductQuery,
    filter: &Filter,
    terms: &[String],
    sort: Sort,
    cursor: Option<&Cursor>,
    fetch: i64,
) -> Sql {
    let mut sql = Sql::default();
    if let Some(category) = query.category_id {
        sql.push("WITH RECURSIVE sub(id) AS (SELECT id FROM categories WHERE id = ")
            .bind(Arg::Uuid(category.into()))
            .push(" UNION SELECT c.id FROM categories c JOIN sub ON c.parent_id = sub.id) ");
    }
    sql.push("SELECT * FROM (SELECT ").push(COLUMNS);
    let searching = !terms.is_empty();
    if searching {
        sql.push(", ");
        match backend {
            Backend::Postgres => {
                let q = Arg::Text(terms.join(" "));
                sql.push("(CASE WHEN to_tsvector('english', p.title) @@ plainto_tsquery('english', ")
                    .bind(q.clone())
                    .push(") THEN 1.0::float8 ELSE 0.0::float8 END) + ts_rank('{0.01,0.02,0.1,1.0}', p.search, plainto_tsquery('english', ")
                    .bind(q)
                    .push("), 32)::float8");
            }
            Backend::Sqlite => {
                let phrases: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
                let title = format!("title : ({})", phrases.join(" "));
                sql.push("(CASE WHEN p.pk IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ")
                    .bind(Arg::Text(title))
                    .push(") THEN 1.0 ELSE 0.0 END) + (-bm25(products_fts, 10.0, 1.0)) / (1.0 - bm25(products_fts, 10.0, 1.0))");
            }
        }
        sql.push(" AS rank");
    }
    if sort == Sort::EndingSoon {
        sql.push(", a.ends_at AS sort_ends_at");
    }
    sql.push(" FROM products p");
    if searching && backend == Backend::Sqlite {
        sql.push(" JOIN products_fts ON products_fts.rowid = p.pk");
    }
    if sort == Sort::EndingSoon {
        sql.push(
            " JOIN (SELECT product_id, MIN(ends_at) AS ends_at FROM auctions \
             WHERE status = 'live' AND ends_at IS NOT NULL GROUP BY product_id) a \
             ON a.product_id = p.id",
        );
    }
    sql.push(" WHERE p.deleted_at IS NULL");
    if let Some(status) = filter.status {
        sql.push(" AND p.status = ")
            .bind(Arg::Text(status.as_str().to_owned()));
    }
    if let Some(seller) = filter.seller {
        sql.push(" AND p.seller_id = ")
            .bind(Arg::Uuid(seller.into()));
    }
    if query.category_id.is_some() {
        sql.push(" AND p.category_id IN (SELECT id FROM sub)");
    }
    if let Some(min) = query.min_price {
        sql.push(" AND p.start_price >= ").bind(Arg::I64(min));
    }
    if let Some(max) = query.max_price {
        sql.push(" AND p.start_price <= ").bind(Arg::I64(max));
    }
    if let Some(condition) = query.condition {
        sql.push(" AND p.condition = ")
            .bind(Arg::Text(condition.as_str().to_owned()));
    }
    if let Some(featured) = query.featured {
        sql.push(" AND p.featured = ").bind(Arg::Bool(featured));
    }
    if searching {
        match backend {
            Backend::Postgres => {
                sql.push(" AND p.search @@ plainto_tsquery('english', ")
                    .bind(Arg::Text(terms.join(" ")))
                    .push(")");
            }
            Backend::Sqlite => {
                let phrases: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
                sql.push(" AND products_fts MATCH ")
                    .bind(Arg::Text(phrases.join(" ")));
            }
        }
    }
    sql.push(") t");
    if let Some(c) = cursor {
        let id = || Arg::Uuid(c.id);
        match sort {
            Sort::Newest => {
                sql.push(" WHERE t.id < ").bind(id());
            }
            Sort::PriceAsc | Sort::PriceDesc => {
                let (op, price) = (
                    if sort == Sort::PriceAsc { ">" } else { "<" },
                    c.p.unwrap_or(0),
                );
                sql.push(&format!(" WHERE (t.start_price {op} "))
                    .bind(Arg::I64(price))
                    .push(" OR (t.start_price = ")
                    .bind(Arg::I64(price))
                    .push(&format!(" AND t.id {op} "))
                    .bind(id())
                    .push("))");
            }
            Sort::Relevance => {
                let rank = f64::from_bits(c.r.unwrap_or(0));
                sql.push(" WHERE (t.rank < ")
                    .bind(Arg::F64(rank))
                    .push(" OR (t.rank = ")
                    .bind(Arg::F64(rank))
                    .push(" AND t.id < ")
                    .bind(id())
                    .push("))");
            }
            Sort::EndingSoon => {
                let at = c.t.unwrap_or_default();
                sql.push(" WHERE (t.sort_ends_at > ")
                    .bind(Arg::Time(at))
                    .push(" OR (t.sort_ends_at = ")
                    .bind(Arg::Time(at))
                    .push(" AND t.id > ")
                    .bind(id())
                    .push("))");
            }
        }
    }
    sql.push(match sort {
        Sort::Newest => " ORDER BY t.id DESC",
        Sort::PriceAsc => " ORDER BY t.start_price ASC, t.id ASC",
        Sort::PriceDesc => " ORDER BY t.start_price DESC, t.id DESC",
        Sort::Relevance => " ORDER BY t.rank DESC, t.id DESC",
        Sort::EndingSoon => " ORDER BY t.sort_ends_at ASC, t.id ASC",
    });
    sql.push(" LIMIT ").bind(Arg::I64(fetch));
    sql
}

pub(super) async fn fetch(db: &Db, sql: &Sql) -> Result<Vec<ListRow>, sqlx::Error> {
    with_db!(db, pool => {
        let mut q = sqlx::query_as::<_, ListRow>(sqlx::AssertSqlSafe(sql.text.clone()));
        for arg in &sql.args {
            q = match arg.clone() {
                Arg::Uuid(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::F64(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
            };
        }
        q.fetch_all(pool).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::terms;

    #[test]
    fn values_are_bound_never_written() {
        let query = ProductQuery {
            q: Some("x'; DROP TABLE products; --".into()),
            min_price: Some(5),
            ..ProductQuery::default()
        };
        let sql = build(
            Backend::Postgres,
            &query,
            &Filter::default(),
            &terms(query.q.as_deref().unwrap()),
            Sort::Relevance,
            None,
            21,
        );
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert!(
            sql.text.contains("$1") && sql.args.len() == 5,
            "{}",
            sql.text
        );
    }
}
