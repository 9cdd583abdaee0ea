//! The PostgreSQL side of `verify`: the same canonical texts and hashes as the source side
//! computes (see `ferry_source_mysql::verify`), so equal data give equal chunk hashes.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::ident::quote_ident;
use ferry_model::canonical::Canon;
use ferry_model::ChunkRange;

pub fn canonical_expr(c: &str, canon: Canon) -> String {
    match canon {
        Canon::Integer | Canon::Text | Canon::Bits { .. } => format!("{c}::text"),
        // No trailing fractional zeros: 1.10 and 1.1 are one number (PostgreSQL 13+).
        Canon::Decimal => format!("trim_scale({c})::text"),
        Canon::Json => format!("ferry.json_normalize({c}::jsonb)"),
        Canon::Bool => format!("CASE WHEN {c} THEN 't' ELSE 'f' END"),
        Canon::Bytes | Canon::Geometry { postgis: false } => format!("encode({c}, 'hex')"),
        Canon::Geometry { postgis: true } => format!("encode(ST_AsBinary({c}), 'hex')"),
        Canon::Date { .. } => format!("to_char({c}, 'YYYY-MM-DD')"),
        // Sessions run in UTC (PgTarget::connect), so instants render in UTC.
        Canon::DateTime { .. } => format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
        Canon::Duration => format!("round(extract(epoch from {c}) * 1000000)::bigint::text"),
        Canon::Set => format!("array_to_string({c}, ',')"),
        Canon::Float => format!("replace({c}::float8::text, 'e+', 'e')"),
    }
}

pub fn row_text(exprs: &[String]) -> String {
    if exprs.is_empty() {
        return "''".into();
    }
    let parts: Vec<String> = exprs.iter().map(|e| format!("coalesce('v' || {e}, 'n')")).collect();
    format!("concat_ws(chr(31), {})", parts.join(", "))
}

/// ` WHERE` clause of a chunk on the target, with the key's target column name.
pub fn range_condition(range: &ChunkRange, target_column: &str) -> String {
    match range {
        ChunkRange::All => String::new(),
        ChunkRange::IntKey { lo, hi, .. } => {
            let c = quote_ident(target_column);
            let mut parts = Vec::new();
            if let Some(l) = lo {
                parts.push(format!("{c} > {l}"));
            }
            if let Some(h) = hi {
                parts.push(format!("{c} <= {h}"));
            }
            if parts.is_empty() { String::new() } else { format!(" WHERE {}", parts.join(" AND ")) }
        }
    }
}

/// `ferry.json_normalize(jsonb)`: the text MariaDB's `JSON_NORMALIZE` gives for the same
/// document — keys sorted bytewise, no white space, every number as `d.dddE±n`.
const JSON_NORMALIZE: &str = r#"
CREATE OR REPLACE FUNCTION ferry.json_number(n text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE neg boolean := left(n, 1) = '-'; body text := ltrim(n, '-'); i text; f text; digits text; e int;
BEGIN
  i := split_part(body, '.', 1); f := split_part(body, '.', 2);
  digits := ltrim(i || f, '0');
  IF digits = '' THEN RETURN '0.0E0'; END IF;
  e := length(ltrim(i, '0')) - 1;
  IF ltrim(i, '0') = '' THEN e := -(length(f) - length(ltrim(f, '0')) + 1); END IF;
  digits := rtrim(digits, '0');
  RETURN CASE WHEN neg THEN '-' ELSE '' END || left(digits, 1) || '.' ||
         CASE WHEN length(digits) > 1 THEN substr(digits, 2) ELSE '0' END || 'E' || e::text;
END $f$;
CREATE OR REPLACE FUNCTION ferry.json_normalize(j jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE r text; k text; e jsonb;
BEGIN
  IF j IS NULL THEN RETURN NULL; END IF;
  CASE jsonb_typeof(j)
  WHEN 'object' THEN
    SELECT '{' || coalesce(string_agg(to_jsonb(key)::text || ':' || ferry.json_normalize(value), ',' ORDER BY key COLLATE "C"), '') || '}'
      INTO r FROM jsonb_each(j);
    RETURN r;
  WHEN 'array' THEN
    SELECT '[' || coalesce(string_agg(ferry.json_normalize(value), ',' ORDER BY o), '') || ']'
      INTO r FROM jsonb_array_elements(j) WITH ORDINALITY AS a(value, o);
    RETURN r;
  WHEN 'number' THEN RETURN ferry.json_number(j::text);
  ELSE RETURN j::text;
  END CASE;
END $f$;
"#;

impl PgTarget {
    /// Installs ferry's verify helpers in the state schema (best effort: without the privilege
    /// JSON columns still verify, through the row-level comparison).
    pub async fn ensure_verify_functions(&self) -> Result<(), TargetError> {
        self.batch("CREATE SCHEMA IF NOT EXISTS ferry").await?;
        self.batch(JSON_NORMALIZE).await
    }

    pub async fn chunk_hash(&self, qualified: &str, exprs: &[String], condition: &str) -> Result<(u64, String), TargetError> {
        let sql = format!(
            "SELECT count(*), coalesce(sum(('x' || substr(md5({}), 1, 15))::bit(60)::bigint), 0)::text FROM {qualified}{condition}",
            row_text(exprs)
        );
        let row = self.client.query_one(&sql, &[]).await.map_err(|e| TargetError::from(e).context(format!("verifying {qualified}")))?;
        Ok((row.get::<_, i64>(0) as u64, row.get(1)))
    }

    pub async fn canonical_rows(&self, qualified: &str, exprs: &[String], condition: &str) -> Result<Vec<Vec<Option<String>>>, TargetError> {
        let sql = format!("SELECT {} FROM {qualified}{condition}", exprs.join(", "));
        let rows = self.client.query(&sql, &[]).await.map_err(|e| TargetError::from(e).context(format!("verifying {qualified}")))?;
        Ok(rows.iter().map(|r| (0..exprs.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect())
    }

    pub async fn table_exists(&self, qualified: &str) -> Result<bool, TargetError> {
        let row = self.client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified]).await?;
        Ok(row.get(0))
    }
}
