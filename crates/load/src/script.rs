//! `ferry run`: the hand-written steps of a final hop (a user's SQL file), statement by
//! statement on the target, in one transaction.
//!
//! Guarantees, kept by [`run_script`]:
//! - **A dry run leaves nothing.** Every statement runs inside one transaction that is rolled
//!   back; each runs under its own savepoint, so one error does not hide the statements after it.
//! - **A real run is whole or nothing.** The first error rolls everything back; only a script
//!   whose every statement succeeded is committed.
//! - **Told per statement.** Its line in the file, the server's command tag and row count, a
//!   sample of the rows an INSERT / UPDATE / DELETE changed (their new values; the old ones for a
//!   DELETE), and an error with the line and column of the file it points at.
//!
//! Statements are split where the PostgreSQL tokenizer (sqlparser) sees a `;` outside strings,
//! quoted names, dollar quotes and comments ([`split`]), so the text sent is the file's own.

use ferry_target_postgres::{PgTarget, TargetError};
use serde::Serialize;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use std::fmt::Write;
use std::time::Instant;

/// One statement of a script: where it starts in the file and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset in the file, and its line (1-based).
    pub offset: usize,
    pub line: usize,
    pub text: String,
    /// INSERT, UPDATE or DELETE without its own RETURNING or WITH: its changed rows can be sampled.
    pub dml: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementRun {
    pub line: usize,
    /// The statement's first line.
    pub statement: String,
    /// The command tag's verb (`UPDATE`, `CREATE TABLE`, …) and its row count.
    pub rows: u64,
    pub sample: Vec<String>,
    pub error: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScriptReport {
    pub file: String,
    pub dry_run: bool,
    /// The transaction was committed (a real run without errors).
    pub committed: bool,
    pub statements: Vec<StatementRun>,
}

impl ScriptReport {
    pub fn ok(&self) -> bool {
        self.statements.iter().all(|s| s.error.is_none())
    }

    pub fn render_text(&self) -> String {
        let errors = self.statements.iter().filter(|s| s.error.is_some()).count();
        let how = match (self.dry_run, self.committed) {
            (true, _) => "dry run, rolled back",
            (false, true) => "committed",
            (false, false) => "rolled back: nothing was changed",
        };
        let mut s = format!("ferry run {} ({how}): {} statement(s), {errors} error(s)\n", self.file, self.statements.len());
        for st in &self.statements {
            let outcome = match &st.error {
                Some(e) => format!("ERROR {e}"),
                None => format!("{} row(s), {:.3}s", st.rows, st.seconds),
            };
            let _ = writeln!(s, "  line {:<5} {:<60} {outcome}", st.line, st.statement.chars().take(60).collect::<String>());
            for r in &st.sample {
                let _ = writeln!(s, "             {r}");
            }
        }
        s
    }
}

/// Splits a script into statements at top-level semicolons (comments-only pieces dropped).
pub fn split(sql: &str) -> Result<Vec<Statement>, String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().map_err(|e| e.to_string())?;
    // (line, column) of the tokenizer → byte offset.
    let line_starts: Vec<usize> = std::iter::once(0).chain(sql.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let offset_of = |line: u64, column: u64| -> usize {
        let start = line_starts.get(line.saturating_sub(1) as usize).copied().unwrap_or(sql.len());
        sql[start..].char_indices().nth(column.saturating_sub(1) as usize).map(|(i, _)| start + i).unwrap_or(sql.len())
    };
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut first: Option<Keyword> = None;
    let mut returning = false;
    let mut push = |start: usize, end: usize, first: Option<Keyword>, returning: bool| {
        let text = sql[start..end].trim_end().to_string();
        let line = sql[..start].matches('\n').count() + 1;
        let dml = matches!(first, Some(Keyword::INSERT | Keyword::UPDATE | Keyword::DELETE)) && !returning;
        out.push(Statement { offset: start, line, text, dml });
    };
    for t in &tokens {
        match &t.token {
            Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
            | Token::Whitespace(Whitespace::SingleLineComment { .. })
            | Token::Whitespace(Whitespace::MultiLineComment(_)) => {}
            Token::SemiColon => {
                if let Some(s) = start.take() {
                    push(s, offset_of(t.span.start.line, t.span.start.column), first.take(), returning);
                }
                returning = false;
            }
            other => {
                if start.is_none() {
                    start = Some(offset_of(t.span.start.line, t.span.start.column));
                    first = match other {
                        Token::Word(w) => Some(w.keyword),
                        _ => None,
                    };
                }
                if matches!(other, Token::Word(w) if w.keyword == Keyword::RETURNING) {
                    returning = true;
                }
            }
        }
    }
    if let Some(s) = start {
        push(s, sql.len(), first, returning);
    }
    Ok(out)
}

/// Line and column in the file of a 1-based character position inside `st` (shifted by
/// `prefix_chars` characters ferry put before it).
fn file_position(sql: &str, st: &Statement, position: u32, prefix_chars: usize) -> (usize, usize) {
    let at = (position as usize).saturating_sub(1).saturating_sub(prefix_chars);
    let byte = st.text.char_indices().nth(at).map(|(i, _)| i).unwrap_or(st.text.len());
    let abs = st.offset + byte;
    let line = sql[..abs].matches('\n').count() + 1;
    let col = sql[..abs].rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Runs `sql` (the contents of `file`) on the target: see the module's guarantees.
pub async fn run_script(target: &PgTarget, file: &str, sql: &str, dry_run: bool, sample: usize) -> Result<ScriptReport, TargetError> {
    let statements = split(sql).map_err(|e| TargetError::new(ferry_model::ErrorKind::Definite, format!("{file}: cannot split into statements: {e}")))?;
    let mut report = ScriptReport { file: file.to_string(), dry_run, committed: false, statements: Vec::new() };
    target.batch("BEGIN").await?;
    for st in &statements {
        let started = Instant::now();
        if dry_run {
            target.batch("SAVEPOINT ferry_step").await?;
        }
        let (sent, prefix) = if st.dml {
            let prefix = "WITH ferry_changed AS (";
            (format!("{prefix}{} RETURNING *) SELECT (SELECT count(*) FROM ferry_changed)::text, t::text FROM (SELECT * FROM ferry_changed LIMIT {sample}) t RIGHT JOIN (SELECT 1) one ON true", st.text), prefix.chars().count())
        } else {
            (st.text.clone(), 0)
        };
        let mut run = StatementRun {
            line: st.line,
            statement: st.text.lines().next().unwrap_or_default().to_string(),
            rows: 0,
            sample: Vec::new(),
            error: None,
            seconds: 0.0,
        };
        match target.client.simple_query(&sent).await {
            Ok(messages) => {
                for m in messages {
                    match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) if st.dml => {
                            run.rows = r.get(0).and_then(|n| n.parse().ok()).unwrap_or(0);
                            if let Some(row) = r.get(1) {
                                run.sample.push(row.to_string());
                            }
                        }
                        tokio_postgres::SimpleQueryMessage::Row(r) if run.sample.len() < sample => {
                            let cols: Vec<String> =
                                r.columns().iter().enumerate().map(|(i, c)| format!("{}={}", c.name(), r.get(i).unwrap_or("NULL"))).collect();
                            run.sample.push(cols.join(", "));
                        }
                        tokio_postgres::SimpleQueryMessage::CommandComplete(n) if !st.dml => run.rows = n,
                        _ => {}
                    }
                }
                if dry_run {
                    target.batch("RELEASE SAVEPOINT ferry_step").await?;
                }
            }
            Err(e) => {
                let mut msg = match e.as_db_error() {
                    Some(db) => format!("{}: {}", db.code().code(), db.message()),
                    None => e.to_string(),
                };
                if let Some(tokio_postgres::error::ErrorPosition::Original(p)) = e.as_db_error().and_then(|d| d.position()) {
                    let (line, col) = file_position(sql, st, *p, prefix);
                    msg = format!("at line {line}, column {col}: {msg}");
                }
                run.error = Some(msg);
                run.seconds = started.elapsed().as_secs_f64();
                report.statements.push(run);
                if dry_run {
                    target.batch("ROLLBACK TO SAVEPOINT ferry_step").await?;
                    continue;
                }
                let _ = target.batch("ROLLBACK").await;
                return Ok(report);
            }
        }
        run.seconds = started.elapsed().as_secs_f64();
        report.statements.push(run);
    }
    if dry_run {
        target.batch("ROLLBACK").await?;
    } else {
        target.batch("COMMIT").await?;
        report.committed = true;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_where_postgres_would() {
        let sql = "-- a comment; not a split\nUPDATE t SET a = 'x;y' WHERE b = $$;$$;\n\n/* block; */ INSERT INTO \"se;mi\" VALUES (1) RETURNING *;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\nDELETE FROM t";
        let st = split(sql).unwrap();
        assert_eq!(st.len(), 4, "{st:#?}");
        assert_eq!((st[0].line, st[0].text.as_str(), st[0].dml), (2, "UPDATE t SET a = 'x;y' WHERE b = $$;$$", true));
        assert_eq!((st[1].line, st[1].dml), (4, false), "its own RETURNING: not wrapped");
        assert!(st[1].text.starts_with("INSERT INTO \"se;mi\""));
        assert!(st[2].text.ends_with("LANGUAGE sql") && !st[2].dml);
        assert_eq!((st[3].line, st[3].text.as_str(), st[3].dml), (6, "DELETE FROM t", true));
        assert_eq!(&sql[st[3].offset..], "DELETE FROM t");
    }

    #[test]
    fn error_positions_point_into_the_file() {
        let sql = "SELECT 1;\nUPDATE t\n  SET nope = 1;";
        let st = split(sql).unwrap();
        // "UPDATE t\n  SET nope": `nope` is character 16 of the statement (1-based).
        assert_eq!(file_position(sql, &st[1], 16, 0), (3, 7));
        assert_eq!(file_position(sql, &st[1], 16 + 23, 23), (3, 7));
    }
}
