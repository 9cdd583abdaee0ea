//! SQL Server as a source — so far a T-SQL script: `mssql-script:path/to/schema-and-data.sql`
//! (or `mssql-script:///abs/path.sql`), what SSMS "Generate Scripts", sqlpackage or SymmetricDS'
//! dbexport write, so a team without network access to the server still gets `plan` (the
//! assessment), `migrate` and `verify`. The live server (tiberius, CDC) is issue #16's rest.
//!
//! Guarantees and why:
//! - **Read-only, and the same script every time.** The file is read once when the source
//!   opens; every reader and verify works on that text ([`script`]).
//! - **Verify from the script's own literals.** The script has no SQL engine, so each column's
//!   canonical text is computed here from the value the literal is ([`canonical_text`], per
//!   `Canon` as the target computes it in SQL) and rows are hashed with the same function the
//!   target's hashes are made by: a value the load converted wrongly shows as a difference.
//!   (`Capabilities::hash_in_sql = false`.)

pub mod expr;
pub mod live;
pub mod script;
mod types;

pub use live::{MsReader, MsSource};

use ferry_model::canonical::{canonical, normalize_decimal, row_hash, Canon, ColumnText};
use ferry_model::{ChunkRange, ErrorKind, Probe, Row, RowSender, Schema, SnapshotPosition, SnapshotReader, Source, SourceError, Table, TableSelection, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// The kind positions and state name this source by, and its URL scheme.
pub const KIND: &str = "mssql-script";

/// Rows a reader sends at once.
const BATCH: usize = 2000;

/// A T-SQL script read as a SQL Server database.
pub struct MsScriptSource {
    path: PathBuf,
    text: Arc<String>,
}

fn definite(msg: impl Into<String>) -> SourceError {
    SourceError::new(ErrorKind::Definite, msg.into())
}

impl MsScriptSource {
    /// Opens the script an `mssql-script:` URL names.
    pub fn connect(url: &str) -> Result<Self, SourceError> {
        let rest = url.split_once(':').map(|(_, r)| r).unwrap_or(url);
        let path = PathBuf::from(rest.strip_prefix("//").unwrap_or(rest));
        let text = std::fs::read_to_string(&path).map_err(|e| definite(format!("T-SQL script {}: {e}", path.display())))?;
        Ok(MsScriptSource { path, text: Arc::new(text) })
    }

    fn name(&self) -> String {
        self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "script".into())
    }

    /// Every row of `table`, in script order.
    fn rows(&self, table: &Table) -> Result<Vec<Row>, SourceError> {
        let mut out = Vec::new();
        script::read_rows(&self.text, table, BATCH, |b| {
            out.extend(b);
            true
        })
        .map_err(definite)?;
        Ok(out)
    }
}

/// Reads one table's rows from the script.
pub struct MsScriptReader {
    text: Arc<String>,
}

impl SnapshotReader for MsScriptReader {
    async fn read(&mut self, table: &Table, _range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
        let (text, table) = (self.text.clone(), table.clone());
        tokio::task::spawn_blocking(move || script::read_rows(&text, &table, BATCH, |b| tx.blocking_send(b).is_ok()).map_err(definite))
            .await
            .map_err(|e| definite(format!("reading the script: {e}")))?
    }
}

impl Source for MsScriptSource {
    type Reader = MsScriptReader;

    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        script::read_schema(&self.text, &self.name(), select).map_err(|e| definite(format!("T-SQL script {}: {e}", self.path.display())))
    }

    /// The script's literals are typed by their columns: nothing is left to probe.
    async fn probe(&self, _table: &str, _column: &str, _probe: Probe) -> Result<u64, SourceError> {
        Ok(0)
    }

    async fn plan_chunks(&self, _table: &Table, _rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        Ok(vec![ChunkRange::All])
    }

    async fn open_snapshot(&self, readers: usize) -> Result<(Vec<MsScriptReader>, SnapshotPosition), SourceError> {
        let r = (0..readers.max(1)).map(|_| MsScriptReader { text: self.text.clone() }).collect();
        Ok((
            r,
            SnapshotPosition {
                position: None,
                gtid: None,
                consistent: true,
                note: Some("a T-SQL script: one state, read by every reader".into()),
                readers: None,
            },
        ))
    }
}

/// `d` with exactly `scale` fractional digits (rounded half away from zero, as numeric input is).
fn fixed(d: &str, scale: u32) -> String {
    let n = normalize_decimal(d);
    let (neg, digits) = match n.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, n.clone()),
    };
    let (int, frac) = digits.split_once('.').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or((digits.clone(), String::new()));
    let s = scale as usize;
    // All digits in one run (integer part, then the fraction cut to `scale`): rounding carries
    // through both alike.
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let round_up = frac.len() > s && frac.as_bytes()[s] >= b'5';
    digits.truncate(int.len() + s.min(frac.len()));
    digits.resize(int.len() + s, 0);
    let mut int_len = int.len();
    if round_up {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, 1);
                int_len += 1;
                break;
            }
            i -= 1;
            digits[i] = (digits[i] + 1) % 10;
            if digits[i] != 0 {
                break;
            }
        }
    }
    let text: String = digits.iter().map(|d| (d + b'0') as char).collect();
    let (int, frac) = text.split_at(int_len);
    let body = if s == 0 { int.to_string() } else { format!("{int}.{frac}") };
    let zero = body.bytes().all(|b| b == b'0' || b == b'.');
    format!("{}{body}", if neg && !zero { "-" } else { "" })
}

/// The canonical text of `v` as the target computes it in SQL for `canon`.
pub fn canonical_text(v: &Value, canon: Canon) -> Option<String> {
    match (v, canon) {
        (Value::Null, _) => None,
        (Value::Decimal(d), Canon::Decimal { scale: Some(s) }) => Some(fixed(d, s)),
        (Value::Int(i), Canon::Decimal { scale: Some(s) }) => Some(fixed(&i.to_string(), s)),
        (Value::Bytes(b), Canon::Bytes) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
        (Value::Bool(b), _) => Some(if *b { "t" } else { "f" }.into()),
        (Value::Int(i), Canon::Bool) => Some(if *i != 0 { "t" } else { "f" }.into()),
        (Value::Duration(us), Canon::Duration) => Some(us.to_string()),
        // timestamptz prints in the session's UTC without a zone, as timestamp does.
        (Value::Timestamp(d), Canon::DateTime { .. }) => canonical(&Value::DateTime(*d)),
        (v, _) => canonical(v),
    }
}

/// A column's canonical-text "expression": the column and how to compare it (the script has
/// no SQL; [`MsScriptSource::texts`] evaluates it).
fn expr(column: &str, canon: Canon) -> String {
    serde_json::to_string(&(column, canon)).unwrap_or_default()
}

impl MsScriptSource {
    /// How each of `exprs` reads a row: the column's index and its comparison.
    fn columns_of(table: &Table, exprs: &[String]) -> Result<Vec<(usize, Canon)>, SourceError> {
        exprs
            .iter()
            .map(|e| {
                let (c, canon): (String, Canon) = serde_json::from_str(e).map_err(|_| definite(format!("not a canonical expression of this source: {e}")))?;
                let i = table.column_index(&c).ok_or_else(|| definite(format!("table {}: no column {c}", table.name)))?;
                Ok((i, canon))
            })
            .collect()
    }

    fn row_texts(row: &Row, cols: &[(usize, Canon)]) -> Vec<Option<String>> {
        cols.iter().map(|(i, canon)| canonical_text(&row[*i], *canon)).collect()
    }

    /// The canonical texts `exprs` of every row of `table`.
    fn texts(&self, table: &Table, exprs: &[String]) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        let cols = Self::columns_of(table, exprs)?;
        Ok(self.rows(table)?.iter().map(|r| Self::row_texts(r, &cols)).collect())
    }
}

impl ferry_model::VerifySource for MsScriptSource {
    fn canonical_expr(&self, column: &ferry_model::Column, canon: Canon) -> String {
        expr(&column.name, canon)
    }

    fn quote(&self, ident: &str) -> String {
        ident.to_string()
    }

    async fn chunk_hash(&self, table: &Table, exprs: &[ColumnText], _range: &ChunkRange) -> Result<(u64, String), SourceError> {
        let sql: Vec<String> = exprs.iter().map(|e| e.sql.clone()).collect();
        let rows = self.texts(table, &sql)?;
        let sum: u128 = rows.iter().map(|r| row_hash(r.iter().zip(exprs).map(|(t, e)| (t.as_deref(), e.nullable))) as u128).sum();
        Ok((rows.len() as u64, sum.to_string()))
    }

    async fn canonical_rows(&self, table: &Table, exprs: &[String], _range: &ChunkRange) -> Result<Vec<Vec<Option<String>>>, SourceError> {
        self.texts(table, exprs)
    }

    async fn read_keys(&self, table: &Table, key_exprs: &[String], keys: &[Vec<String>], tx: RowSender) -> Result<u64, SourceError> {
        // One read of the script: each row's key texts decide whether it is sent.
        let cols = Self::columns_of(table, key_exprs)?;
        let wanted: std::collections::HashSet<&Vec<String>> = keys.iter().collect();
        let rows: Vec<Row> = self
            .rows(table)?
            .into_iter()
            .filter(|r| wanted.contains(&Self::row_texts(r, &cols).into_iter().map(Option::unwrap_or_default).collect::<Vec<_>>()))
            .collect();
        let n = rows.len() as u64;
        if !rows.is_empty() {
            tx.send(rows).await.map_err(|_| definite("the repair stopped reading"))?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_at_the_target_scale() {
        assert_eq!(fixed("0.99", 2), "0.99");
        assert_eq!(fixed("10", 2), "10.00");
        assert_eq!(fixed("0.995", 2), "1.00");
        assert_eq!(fixed("-0.004", 2), "0.00");
        assert_eq!(fixed("-1.5", 0), "-2");
        assert_eq!(fixed("9.999", 2), "10.00", "the carry runs into the integer part");
        assert_eq!(fixed("99.5", 0), "100");
        assert_eq!(canonical_text(&Value::Bytes(vec![0, 255]), Canon::Bytes).as_deref(), Some("00ff"));
    }
}
