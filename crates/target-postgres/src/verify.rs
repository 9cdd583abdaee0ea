//! The PostgreSQL side of `verify`: the same canonical texts and hashes as the source side
//! computes (see `ferry_source_mysql::verify`), so equal data give equal chunk hashes.
//!
//! Every column's canonical text is computed in SQL, except JSON: PostgreSQL has no cheap way to
//! print a document with keys in bytewise order and numbers in MariaDB's `d.dddE±n` form (a
//! PL/pgSQL normaliser costs ~25 µs a document, more than the whole load). For tables with JSON
//! columns the target therefore sends, per row, the SQL-computed canonical text of the other
//! columns plus the `jsonb` text of each document; ferry canonicalises the documents
//! ([`ferry_model::canonical::json_canonical`]) and hashes the rows with the very same function
//! ([`ferry_model::canonical::row_hash`]), so the chunk sums compare exactly as before. Nothing is
//! installed in the target: verify only reads.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::ident::quote_ident;
use ferry_model::canonical::{hash_text, json_canonical, Canon};
use futures_util::TryStreamExt;
use ferry_model::ChunkRange;

/// One column's canonical text on the target: SQL, or (JSON) SQL text ferry canonicalises.
#[derive(Debug, Clone)]
pub struct TargetExpr {
    pub sql: String,
    /// The SQL gives a JSON document's text; [`json_canonical`] makes it canonical.
    pub json: bool,
    /// The source column is nullable (row texts prefix it; see [`ferry_model::canonical::ColumnText`]).
    pub nullable: bool,
}

impl TargetExpr {
    pub fn sql(sql: impl Into<String>) -> Self {
        TargetExpr { sql: sql.into(), json: false, nullable: true }
    }
}

/// The canonical text of column `c` (quoted); `nullable`: the source column's.
pub fn canonical_expr(c: &str, canon: Canon, nullable: bool) -> TargetExpr {
    if canon == Canon::Json {
        return TargetExpr { sql: format!("{c}::text"), json: true, nullable };
    }
    let sql = match canon {
        Canon::Integer | Canon::Text | Canon::Bits { .. } | Canon::Decimal { scale: Some(_) } => format!("{c}::text"),
        // No trailing fractional zeros: 1.10 and 1.1 are one number (PostgreSQL 13+).
        Canon::Decimal { scale: None } => format!("trim_scale({c})::text"),
        Canon::Json => unreachable!(),
        Canon::Bool => format!("CASE {c} WHEN true THEN 't' WHEN false THEN 'f' END"),
        Canon::Bytes | Canon::Geometry { postgis: false } => format!("encode({c}, 'hex')"),
        Canon::Geometry { postgis: true } => format!("encode(ST_AsBinary({c}), 'hex')"),
        Canon::Date { .. } => format!("to_char({c}, 'YYYY-MM-DD')"),
        // Sessions run in UTC (PgTarget::connect), so instants render in UTC.
        Canon::DateTime { digits: 0, .. } => format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS')"),
        Canon::DateTime { digits, .. } => format!("left(to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US'), {})", 20 + digits as u32),
        Canon::Duration => format!("round(extract(epoch from {c}) * 1000000)::bigint::text"),
        Canon::Set => format!("array_to_string({c}, ',')"),
        Canon::Float => format!("replace({c}::float8::text, 'e+', 'e')"),
    };
    TargetExpr { sql, json: false, nullable }
}

/// The canonical row text in SQL: nullable columns prefixed `v` (NULL: `n`), joined by U+001F.
pub fn row_text<'a>(exprs: impl IntoIterator<Item = &'a TargetExpr>) -> String {
    let parts: Vec<String> =
        exprs.into_iter().map(|e| if e.nullable { format!("coalesce('v' || {}, 'n')", e.sql) } else { e.sql.clone() }).collect();
    if parts.is_empty() {
        return "''".into();
    }
    format!("concat_ws(chr(31), {})", parts.join(", "))
}

/// What a row-hashing query selects: runs of SQL-canonical columns as one text (already joined
/// and prefixed), and JSON documents one by one.
enum Item {
    Joined,
    Json { nullable: bool },
}

fn hash_query(exprs: &[TargetExpr]) -> (Vec<String>, Vec<Item>) {
    let mut select = Vec::new();
    let mut items = Vec::new();
    let mut run: Vec<&TargetExpr> = Vec::new();
    for e in exprs {
        if e.json {
            if !run.is_empty() {
                select.push(row_text(run.drain(..)));
                items.push(Item::Joined);
            }
            select.push(e.sql.clone());
            items.push(Item::Json { nullable: e.nullable });
        } else {
            run.push(e);
        }
    }
    if !run.is_empty() {
        select.push(row_text(run));
        items.push(Item::Joined);
    }
    (select, items)
}

/// ` WHERE` clause of a chunk on the target, with the key's target column name.
pub fn range_condition(range: &ChunkRange, target_column: &str) -> String {
    range.where_clause(&quote_ident(target_column))
}

impl PgTarget {
    /// Row count and hash sum (decimal text) of the rows matching `condition`.
    pub async fn chunk_hash(&self, qualified: &str, exprs: &[TargetExpr], condition: &str) -> Result<(u64, String), TargetError> {
        let ctx = |e: tokio_postgres::Error| TargetError::from(e).context(format!("verifying {qualified}"));
        if !exprs.iter().any(|e| e.json) {
            let sql = format!(
                "SELECT count(*), coalesce(sum(('x' || encode(substr(sha256(convert_to({}, 'UTF8')), 1, 8), 'hex'))::bit(60)::bigint), 0)::text FROM {qualified}{condition}",
                row_text(exprs)
            );
            let row = self.client.query_one(&sql, &[]).await.map_err(ctx)?;
            return Ok((row.get::<_, i64>(0) as u64, row.get(1)));
        }
        // JSON columns: stream the row texts and hash here (see the module note).
        let (select, items) = hash_query(exprs);
        let sql = format!("SELECT {} FROM {qualified}{condition}", select.join(", "));
        let stream = self.client.query_raw(sql.as_str(), std::iter::empty::<&str>()).await.map_err(ctx)?;
        futures_util::pin_mut!(stream);
        let (mut count, mut sum) = (0u64, 0u128);
        let mut text = String::new();
        while let Some(row) = stream.try_next().await.map_err(ctx)? {
            text.clear();
            // As concat_ws: pieces joined by U+001F, a NULL piece (NOT NULL column) left out.
            let mut first = true;
            for (i, item) in items.iter().enumerate() {
                let v: Option<&str> = row.get(i);
                let piece = match (item, v) {
                    (Item::Joined, v) => v.map(|t| ("", std::borrow::Cow::Borrowed(t))),
                    (Item::Json { nullable }, Some(doc)) => Some((if *nullable { "v" } else { "" }, std::borrow::Cow::Owned(json_canonical(doc)))),
                    (Item::Json { nullable: true }, None) => Some(("n", std::borrow::Cow::Borrowed(""))),
                    (Item::Json { nullable: false }, None) => None,
                };
                if let Some((prefix, body)) = piece {
                    if !first {
                        text.push('\u{1f}');
                    }
                    first = false;
                    text.push_str(prefix);
                    text.push_str(&body);
                }
            }
            count += 1;
            sum += hash_text(text.as_bytes()) as u128;
        }
        Ok((count, sum.to_string()))
    }

    /// The canonical texts of every row matching `condition` (JSON canonicalised here).
    pub async fn canonical_rows(&self, qualified: &str, exprs: &[TargetExpr], condition: &str) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let sql = format!("SELECT {} FROM {qualified}{condition}", exprs.iter().map(|e| e.sql.as_str()).collect::<Vec<_>>().join(", "));
        let rows = self.client.query(&sql, &[]).await.map_err(|e| TargetError::from(e).context(format!("verifying {qualified}")))?;
        Ok(rows
            .iter()
            .map(|r| {
                exprs
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let v = r.get::<_, Option<String>>(i);
                        if e.json { v.map(|d| json_canonical(&d)) } else { v }
                    })
                    .collect()
            })
            .collect())
    }

    pub async fn table_exists(&self, qualified: &str) -> Result<bool, TargetError> {
        let row = self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified]).await?;
        Ok(row.get(0))
    }
}
