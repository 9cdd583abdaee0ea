//! What an operator asks of one table of a running sync — pause, resume, exclude, include — as
//! requests in `ferry.table_controls`, which the sync takes up between two batches.
//!
//! One row per table holds both the request and the state it leads to, so a table is never
//! paused and excluded at once, and a restarted sync finds every paused or excluded table where
//! it left it. [`PgTarget::request_control`] moves a row along (under a row lock, so two commands
//! at once cannot interleave their read and write):
//!
//! | asked   | from nothing / `failed` | then (by the sync)                | withdraws            |
//! |---------|-------------------------|-----------------------------------|----------------------|
//! | pause   | `pausing`               | `paused` (`crate::hold`)          | a `resuming` one     |
//! | resume  | —                       | row gone, held changes applied    | a `pausing` one      |
//! | exclude | `excluding`             | `excluded` (not streamed)         | an `including` one   |
//! | include | —                       | row gone, a reload of the table   | an `excluding` one   |
//!
//! A request the sync cannot take is refused with why ([`PgTarget::refuse_control`]): `failed`
//! for a pause or an exclude, back to `excluded` (with the error) for an include.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::state::TableState;

/// A request or the state it led to (`ferry.table_controls`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableControl {
    pub table: String,
    /// `pausing`, `paused`, `resuming`, `excluding`, `excluded`, `including` or `failed`.
    pub status: String,
    /// The hold table in schema `ferry`, once paused.
    pub hold_table: Option<String>,
    /// Paused: the changes held so far.
    pub held: i64,
    /// Why the last request was refused.
    pub error: Option<String>,
    /// Since when it is paused or excluded.
    pub since: Option<String>,
}

/// What is asked of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Exclude,
    Include,
}

impl Control {
    /// The command's word: `pause`, `resume`, `exclude`, `include`.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Exclude => "exclude",
            Control::Include => "include",
        }
    }

    /// The request a status waiting for the sync stands for (`pausing` → pause …).
    pub fn asked_by(status: &str) -> Option<Control> {
        match status {
            "pausing" => Some(Control::Pause),
            "resuming" => Some(Control::Resume),
            "excluding" => Some(Control::Exclude),
            "including" => Some(Control::Include),
            _ => None,
        }
    }
}

const COLUMNS: &str = "table_name, status, hold_table, held, error, since::text";

fn control_of(r: &tokio_postgres::Row) -> TableControl {
    TableControl { table: r.get(0), status: r.get(1), hold_table: r.get(2), held: r.get(3), error: r.get(4), since: r.get(5) }
}

/// The next status for `asked` from `current` (None: no row): Ok(Some(s)) to write, Ok(None) to
/// delete the row (a request withdrawn), Err(why) when it makes no sense now.
fn next_status(current: Option<&str>, asked: Control, table: &str) -> Result<Option<&'static str>, String> {
    use Control::*;
    Ok(Some(match (asked, current) {
        (Pause, None | Some("failed") | Some("pausing")) => "pausing",
        (Pause, Some("paused" | "resuming")) => "paused",
        (Resume, Some("pausing" | "failed")) => return Ok(None),
        (Resume, Some("paused" | "resuming")) => "resuming",
        (Exclude, None | Some("failed") | Some("excluding")) => "excluding",
        (Exclude, Some("excluded" | "including")) => "excluded",
        (Include, Some("excluding")) => return Ok(None),
        (Include, Some("excluded" | "including")) => "including",
        (Pause, Some("excluding" | "excluded" | "including")) => return Err(format!("table {table} is excluded from the sync: `ferry include` it first")),
        (Pause | Exclude, Some(_)) => return Err(format!("table {table} is paused: `ferry resume` it first")),
        (Resume, _) => return Err(format!("table {table} is not paused")),
        (Include, _) => return Err(format!("table {table} is not excluded")),
    }))
}

impl PgTarget {
    /// Asks the running sync of `schema` for `asked` on `table`. Err(why) inside: it makes no
    /// sense in the table's present state (nothing written).
    pub async fn request_control(&self, schema: &str, table: &str, asked: Control) -> Result<Result<(), String>, TargetError> {
        self.batch("BEGIN").await?;
        let result = async {
            let current: Option<String> = self
                .client
                .query_opt("SELECT status FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2 FOR UPDATE", &[&schema, &table])
                .await?
                .map(|r| r.get(0));
            match next_status(current.as_deref(), asked, table) {
                Err(why) => Ok(Err(why)),
                Ok(None) => {
                    self.client.execute("DELETE FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2", &[&schema, &table]).await?;
                    Ok(Ok(()))
                }
                Ok(Some(status)) => {
                    self.client
                        .execute(
                            "INSERT INTO ferry.table_controls (target_schema, table_name, status) VALUES ($1, $2, $3) \
                             ON CONFLICT (target_schema, table_name) DO UPDATE SET status = EXCLUDED.status, error = NULL, \
                             requested_at = CASE WHEN table_controls.status = 'failed' THEN now() ELSE table_controls.requested_at END",
                            &[&schema, &table, &status],
                        )
                        .await?;
                    Ok(Ok(()))
                }
            }
        }
        .await;
        self.end_transaction(result).await
    }

    /// Every request and paused or excluded table of `schema`, oldest request first.
    pub async fn table_controls(&self, schema: &str) -> Result<Vec<TableControl>, TargetError> {
        let rows = self.client.query(&format!("SELECT {COLUMNS} FROM ferry.table_controls WHERE target_schema = $1 ORDER BY requested_at"), &[&schema]).await?;
        Ok(rows.iter().map(control_of).collect())
    }

    pub async fn table_control(&self, schema: &str, table: &str) -> Result<Option<TableControl>, TargetError> {
        let row = self
            .client
            .query_opt(&format!("SELECT {COLUMNS} FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2"), &[&schema, &table])
            .await?;
        Ok(row.as_ref().map(control_of))
    }

    /// A request the sync cannot take, with why (`--wait` prints it): a pause or an exclude
    /// fails, an include leaves the table excluded.
    pub async fn refuse_control(&self, schema: &str, table: &str, why: &str) -> Result<(), TargetError> {
        self.client
            .execute(
                "UPDATE ferry.table_controls SET status = CASE status WHEN 'including' THEN 'excluded' ELSE 'failed' END, error = $3 \
                 WHERE target_schema = $1 AND table_name = $2 AND status IN ('pausing', 'excluding', 'including')",
                &[&schema, &table, &why],
            )
            .await?;
        Ok(())
    }

    /// Excludes `table` from the sync between two batches: no change of it is applied from now
    /// on (its target rows stay as they are) until `ferry include`.
    pub async fn exclude_table(&self, schema: &str, table: &str) -> Result<(), TargetError> {
        self.batch("BEGIN").await?;
        let result = async {
            self.client
                .execute("UPDATE ferry.table_controls SET status = 'excluded', since = now() WHERE target_schema = $1 AND table_name = $2", &[&schema, &table])
                .await?;
            self.mark_sync_table(schema, table, TableState::Excluded).await
        }
        .await;
        self.end_transaction(result).await
    }

    /// Includes an excluded `table` again: it streams from now on, and a reload of the whole
    /// table (asked in the same transaction) brings the rows it missed.
    pub async fn include_table(&self, schema: &str, table: &str) -> Result<(), TargetError> {
        self.batch("BEGIN").await?;
        let result = async {
            self.client.execute("DELETE FROM ferry.table_controls WHERE target_schema = $1 AND table_name = $2", &[&schema, &table]).await?;
            self.client
                .execute(
                    "UPDATE ferry.sync_tables SET status = 'streaming' WHERE target_schema = $1 AND table_name = $2 AND status = 'excluded'",
                    &[&schema, &table],
                )
                .await?;
            self.request_reload(schema, table, None).await
        }
        .await;
        self.end_transaction(result).await
    }

    /// Marks `table` paused or excluded in `ferry.sync_tables` (what `ferry status` and the page
    /// read).
    pub(crate) async fn mark_sync_table(&self, schema: &str, table: &str, state: TableState) -> Result<(), TargetError> {
        self.client
            .execute(
                "INSERT INTO ferry.sync_tables (target_schema, table_name, status) VALUES ($1, $2, $3) \
                 ON CONFLICT (target_schema, table_name) DO UPDATE SET status = EXCLUDED.status",
                &[&schema, &table, &state.as_str()],
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{next_status, Control::*};

    #[test]
    fn each_request_moves_the_table_on_withdraws_its_opposite_or_says_why_not() {
        assert_eq!(next_status(None, Pause, "t"), Ok(Some("pausing")));
        assert_eq!(next_status(Some("failed"), Pause, "t"), Ok(Some("pausing")));
        assert_eq!(next_status(Some("resuming"), Pause, "t"), Ok(Some("paused")));
        assert_eq!(next_status(Some("pausing"), Resume, "t"), Ok(None));
        assert_eq!(next_status(Some("paused"), Resume, "t"), Ok(Some("resuming")));
        assert_eq!(next_status(None, Resume, "t"), Err("table t is not paused".into()));
        assert_eq!(next_status(None, Exclude, "t"), Ok(Some("excluding")));
        assert_eq!(next_status(Some("including"), Exclude, "t"), Ok(Some("excluded")));
        assert_eq!(next_status(Some("excluding"), Include, "t"), Ok(None));
        assert_eq!(next_status(Some("excluded"), Include, "t"), Ok(Some("including")));
        assert_eq!(next_status(None, Include, "t"), Err("table t is not excluded".into()));
        assert!(next_status(Some("paused"), Exclude, "t").unwrap_err().contains("`ferry resume` it first"));
        assert!(next_status(Some("excluded"), Pause, "t").unwrap_err().contains("`ferry include` it first"));
        assert_eq!(next_status(Some("excluded"), Resume, "t"), Err("table t is not paused".into()));
    }
}
