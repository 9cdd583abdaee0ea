//! The PostgreSQL side of `verify`: the same canonical texts and hashes as the source side
//! computes (see `ferry_source_mysql::verify`), so equal data give equal chunk hashes.
//!
//! Every column's canonical text is computed in SQL, except JSON: no engine prints a document
//! canonically (keys in bytewise order, numbers in one notation, strings in one escaping) at a
//! price worth paying (a PL/pgSQL normaliser cost ~25 µs a document, more than the whole load).
//! For tables with JSON columns both sides therefore send, per row, the SQL-canonical text of the
//! other columns plus each document's text; ferry canonicalises the documents and hashes the rows
//! ([`StreamedRowHash`]) with the very same function, so the chunk sums compare exactly as for
//! other tables. Nothing is installed in the target: verify only reads.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::ident::quote_ident;
use ferry_model::canonical::{Canon, ColumnText, StreamedRowHash};
use ferry_model::ChunkRange;
use futures_util::TryStreamExt;

/// The canonical text of column `c` (quoted); `nullable`: the source column's.
pub fn canonical_expr(c: &str, canon: Canon, nullable: bool) -> ColumnText {
    if canon == Canon::Json {
        return ColumnText { sql: format!("{c}::text"), json: true, nullable };
    }
    let sql = match canon {
        Canon::Integer | Canon::Text | Canon::Bits { .. } | Canon::Decimal { scale: Some(_) } => format!("{c}::text"),
        // No trailing fractional zeros: 1.10 and 1.1 are one number (PostgreSQL 13+).
        Canon::Decimal { scale: None } => format!("trim_scale({c})::text"),
        Canon::Json => unreachable!(),
        // The searched form: Citus 13 deparses `CASE c WHEN true …` on distributed tables into
        // a query the workers refuse (`column "case_test_expr" does not exist`).
        Canon::Bool => format!("CASE WHEN {c} THEN 't' WHEN NOT {c} THEN 'f' END"),
        Canon::Bytes | Canon::Geometry { postgis: false } => format!("encode({c}, 'hex')"),
        Canon::Geometry { postgis: true } => format!("encode(ST_AsBinary({c}), 'hex')"),
        Canon::Date { .. } => format!("{c}::date::text"),
        // Sessions run in UTC (PgTarget::connect), so instants render in UTC.
        // timestamp's own text (DateStyle ISO): no trailing fractional zeros; timestamptz is
        // cast to the session's UTC wall-clock first.
        Canon::DateTime { .. } => format!("{c}::timestamp::text"),
        Canon::Duration => format!("round(extract(epoch from {c}) * 1000000)::bigint::text"),
        Canon::Set => format!("array_to_string({c}, ',')"),
        Canon::Float => format!("replace({c}::float8::text, 'e+', 'e')"),
    };
    ColumnText { sql, json: false, nullable }
}

/// The canonical row text in SQL: nullable columns prefixed `v` (NULL: `n`), joined by U+001F.
pub fn row_text(exprs: &[ColumnText]) -> String {
    let parts: Vec<String> = exprs.iter().map(|e| if e.nullable { format!("coalesce('v' || {}, 'n')", e.sql) } else { e.sql.clone() }).collect();
    if parts.is_empty() {
        return "''".into();
    }
    concat_ws_nested(&parts)
}

/// `concat_ws(chr(31), …)` over any number of parts: a function takes at most 100 arguments,
/// so wide rows join groups of 90 that are joined again. No part is NULL (nullable ones are
/// wrapped), so no group is NULL and the nesting gives the very same text.
fn concat_ws_nested(parts: &[String]) -> String {
    const MAX: usize = 90;
    if parts.len() <= MAX {
        return format!("concat_ws(chr(31), {})", parts.join(", "));
    }
    let groups: Vec<String> = parts.chunks(MAX).map(|g| format!("concat_ws(chr(31), {})", g.join(", "))).collect();
    concat_ws_nested(&groups)
}

/// ` WHERE` clause of a chunk in PostgreSQL (target, or a PostgreSQL source), with the key's
/// column name: key bounds, or heap pages by `ctid` (the last range open, so pages added since
/// the statistics are read too).
pub fn range_condition(range: &ChunkRange, column: &str) -> String {
    match range {
        ChunkRange::Pages { lo, hi: Some(h) } => format!(" WHERE ctid >= '({lo},0)'::tid AND ctid < '({h},0)'::tid"),
        ChunkRange::Pages { lo, hi: None } => format!(" WHERE ctid >= '({lo},0)'::tid"),
        // A keyset range is its source's alone (bounds in the source's order) and never asked of
        // the target; were it, no row matches and the chunk shows as differing.
        ChunkRange::Keyset { .. } => " WHERE false".to_string(),
        other => other.key_condition(&quote_ident(column)).unwrap_or_default(),
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn page_ranges_select_by_ctid() {
        assert_eq!(range_condition(&ChunkRange::Pages { lo: 0, hi: Some(10) }, "x"), " WHERE ctid >= '(0,0)'::tid AND ctid < '(10,0)'::tid");
        assert_eq!(range_condition(&ChunkRange::Pages { lo: 10, hi: None }, ""), " WHERE ctid >= '(10,0)'::tid");
        assert_eq!(range_condition(&ChunkRange::IntKey { column: "id".into(), lo: Some(1), hi: None }, "Id"), " WHERE \"Id\" > 1");
    }
}

impl PgTarget {
    /// Row count and hash sum (decimal text) of the rows matching `condition`.
    pub async fn chunk_hash(&self, qualified: &str, exprs: &[ColumnText], condition: &str) -> Result<(u64, String), TargetError> {
        let ctx = |e: tokio_postgres::Error| TargetError::from(e).context(format!("verifying {qualified}"));
        let from = self.only(qualified).await?;
        let Some(streamed) = StreamedRowHash::new(exprs, row_text) else {
            let sql = format!(
                "SELECT count(*), coalesce(sum(('x' || encode(substr(sha256(convert_to({}, 'UTF8')), 1, 8), 'hex'))::bit(60)::bigint), 0)::text FROM {from}{condition}",
                row_text(exprs)
            );
            let row = self.client.query_one(&sql, &[]).await.map_err(ctx)?;
            return Ok((row.get::<_, i64>(0) as u64, row.get(1)));
        };
        // JSON columns: stream the row texts and hash here (see the module note).
        let sql = format!("SELECT {} FROM {from}{condition}", streamed.select.join(", "));
        let stream = self.client.query_raw(sql.as_str(), std::iter::empty::<&str>()).await.map_err(ctx)?;
        futures_util::pin_mut!(stream);
        let (mut count, mut sum, mut buf) = (0u64, 0u128, Vec::new());
        while let Some(row) = stream.try_next().await.map_err(ctx)? {
            count += 1;
            sum += streamed.hash((0..row.len()).map(|i| row.get::<_, Option<&str>>(i).map(str::as_bytes)), &mut buf) as u128;
        }
        Ok((count, sum.to_string()))
    }

    /// The canonical texts of every row matching `condition` (JSON documents as PostgreSQL
    /// prints them; the caller canonicalises them).
    pub async fn canonical_rows(&self, qualified: &str, exprs: &[ColumnText], condition: &str) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let from = self.only(qualified).await?;
        let sql = format!("SELECT {} FROM {from}{condition}", exprs.iter().map(|e| e.sql.as_str()).collect::<Vec<_>>().join(", "));
        let rows = self.client.query(&sql, &[]).await.map_err(|e| TargetError::from(e).context(format!("verifying {qualified}")))?;
        Ok(rows.iter().map(|r| (0..exprs.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect())
    }

    /// The value of `expr` as text (NULL: None), with the search path on `schema` so the
    /// source's unqualified function names find the converted functions.
    pub async fn evaluate(&self, schema: &str, expr: &str) -> Result<Option<String>, TargetError> {
        self.batch(&format!("SET search_path = {}, public", quote_ident(schema))).await?;
        let v = self
            .client
            .query_one(&format!("SELECT ({expr})::text"), &[])
            .await
            .map_err(|e| TargetError::from(e).context(format!("evaluating `{expr}` on the target")));
        let _ = self.batch("RESET search_path").await;
        Ok(v?.get(0))
    }

    /// The columns of relation `qualified` (a table or view) as name and `format_type` text,
    /// in order; None when there is no such relation.
    pub async fn relation_columns(&self, qualified: &str) -> Result<Option<Vec<(String, String)>>, TargetError> {
        if !self.table_exists(qualified).await? {
            return Ok(None);
        }
        let rows = self
            .client
            .query(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                &[&qualified],
            )
            .await?;
        Ok(Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }

    pub async fn table_exists(&self, qualified: &str) -> Result<bool, TargetError> {
        let row = self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified]).await?;
        Ok(row.get(0))
    }
}

#[cfg(test)]
mod wide_tests {
    #[test]
    fn wide_rows_nest_concat_ws_under_the_argument_limit() {
        let parts: Vec<String> = (0..250).map(|i| format!("c{i}")).collect();
        let sql = super::concat_ws_nested(&parts);
        assert_eq!(sql.matches("concat_ws(").count(), 4, "three groups joined once more");
        assert!(sql.starts_with("concat_ws(chr(31), concat_ws(chr(31), c0, "));
        // Every group call has at most 90 parts plus the separator.
        for call in sql.split("concat_ws(chr(31), ").skip(2) {
            assert!(call.split(", ").count() <= 91, "{call}");
        }
    }
}
