//! MySQL/MariaDB views and triggers converted to PostgreSQL ([`convert_objects`]), through
//! sqlparser's AST (MySQL dialect), never by text substitution.
//!
//! Guarantees and why:
//! - **Converted, or refused by name.** Every construct is rendered by a rule that keeps its
//!   MySQL meaning ([`render`], [`functions`], [`plpgsql`]) or stops the object with the construct
//!   named; a refused object stays an action item and nothing of it is created.
//! - **Names as the plan made them.** Tables, columns, the view's own name and its output
//!   columns go through [`TargetNames`]; every identifier is double-quoted. A view's column list
//!   is given explicitly (`CREATE VIEW v ("a", "b") AS …`), from the columns MySQL reports for it,
//!   so applications see the same names whatever PostgreSQL would have derived.
//! - **Where meaning may differ, a warning** (collations, LIKE's case, division, ungrouped
//!   columns added to GROUP BY): the object counts as converted with warnings, and
//!   `ferry verify --objects` compares every converted view's rows on both sides.
//! - **Triggers** become a PL/pgSQL function (`RETURNS trigger`) plus a row trigger with the
//!   same timing and event; a BEFORE trigger returns the (changed) NEW row, or OLD for DELETE,
//!   an AFTER trigger NULL. They are created after the load, and each returns at once in
//!   ferry's own sessions (`TargetNames::ferry_session`): sync, repair and a later data-only
//!   load copy what the source's triggers did, never doing it a second time.

mod block;
mod functions;
mod plpgsql;
mod render;
mod routine;

use ferry_model::{ConvertedObject, ObjectKind, Schema, SourceObject, TargetNames, ViewCheck};
use render::{q, Refused, Renderer};
use sqlparser::ast::{Statement, TriggerEvent, TriggerPeriod};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

pub use functions::date_format;

/// Converts the views, triggers, functions and procedures of `schema` (events stay action items).
pub fn convert_objects(schema: &Schema, names: &dyn TargetNames) -> Vec<ConvertedObject> {
    schema
        .objects
        .iter()
        .filter_map(|o| match o.kind {
            ObjectKind::View => Some(view(schema, names, o)),
            ObjectKind::Trigger => Some(trigger(schema, names, o)),
            ObjectKind::Function | ObjectKind::Procedure => Some(stored_routine(schema, names, o)),
            _ => None,
        })
        .collect()
}

fn outcome(o: &SourceObject, r: Result<(Vec<String>, Option<ViewCheck>), Refused>, warnings: Vec<String>) -> ConvertedObject {
    let base = ConvertedObject { kind: o.kind, name: o.name.clone(), table: o.table.clone(), statements: vec![], warnings: vec![], refused: None, view: None };
    match r {
        Ok((statements, view)) => ConvertedObject { statements, warnings, view, ..base },
        Err(Refused(what)) => ConvertedObject { refused: Some(what), ..base },
    }
}

fn parse_one(sql: &str) -> Result<Statement, Refused> {
    // A one-statement trigger body (`FOR EACH ROW SET …`) needs its terminator to parse.
    let mut stmts = Parser::parse_sql(&MySqlDialect {}, &format!("{sql};")).map_err(|e| Refused(format!("SQL the converter cannot read ({e})")))?;
    if stmts.len() != 1 {
        return Err(Refused(format!("{} statements where one was expected", stmts.len())));
    }
    Ok(stmts.remove(0))
}

/// `t` is the unquoted keyword or name `w` (any case).
pub(super) fn is_word(t: &sqlparser::tokenizer::Token, w: &str) -> bool {
    matches!(t, sqlparser::tokenizer::Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

/// A token as SQL again: sqlparser prints string tokens without escaping their quotes
/// (`'it''s'` would come back as `'it's'`), so strings are quoted here, doubling the quote.
pub(super) fn token_sql(t: &sqlparser::tokenizer::Token) -> String {
    use sqlparser::tokenizer::Token;
    match t {
        Token::SingleQuotedString(s) => format!("'{}'", s.replace('\'', "''")),
        Token::NationalStringLiteral(s) => format!("N'{}'", s.replace('\'', "''")),
        Token::DoubleQuotedString(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

/// `CAST(x AS CHAR CHARSET utf8mb4)` (how MySQL 8 stores a view's casts) → `CAST(x AS CHAR)`:
/// sqlparser reads no character set in a cast, and PostgreSQL's text has one encoding.
pub(super) fn strip_cast_charsets(sql: &str) -> String {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize() else { return sql.to_string() };
    let word = is_word;
    let solid = |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    let mut out = String::with_capacity(sql.len());
    let mut last_solid: Option<&Token> = None;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let after_type = last_solid.is_some_and(|p| word(p, "CHAR") || word(p, "CHARACTER") || word(p, "VARCHAR") || *p == Token::RParen);
        let charset_len = if word(t, "CHARSET") {
            Some(1)
        } else if word(t, "CHARACTER") && solid(i + 1).is_some_and(|n| word(&tokens[n], "SET")) {
            Some(2)
        } else {
            None
        };
        if let (true, Some(n)) = (after_type, charset_len) {
            // Skip the keyword(s) and the character set's name.
            let mut j = i;
            for _ in 0..n {
                j = solid(j).map(|k| k + 1).unwrap_or(tokens.len());
            }
            if let Some(name) = solid(j).filter(|&k| matches!(tokens[k], Token::Word(_))) {
                i = name + 1;
                continue;
            }
        }
        if !matches!(t, Token::Whitespace(_)) {
            last_solid = Some(t);
        }
        out.push_str(&token_sql(t));
        i += 1;
    }
    out
}

fn view(schema: &Schema, names: &dyn TargetNames, o: &SourceObject) -> ConvertedObject {
    let mut r = Renderer::new(names, schema);
    let result = (|| {
        let Statement::CreateView(cv) = parse_one(&strip_cast_charsets(&o.sql))? else {
            return Err(Refused("a view definition the converter cannot read".into()));
        };
        let body = r.query(&cv.query)?;
        let columns = schema.view_columns.iter().find(|(v, _)| *v == o.name).map(|(_, c)| c.clone()).unwrap_or_default();
        let target_columns: Vec<String> = columns.iter().map(|c| names.ident(&c.name)).collect();
        let target = names.ident(&o.name);
        let list = if target_columns.is_empty() { String::new() } else { format!(" ({})", target_columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")) };
        let sql = format!("CREATE VIEW {}.{}{list} AS {body}", q(names.schema()), q(&target));
        let unordered_lists = unordered_lists(&cv.query);
        if !unordered_lists.is_empty() {
            r.warn("GROUP_CONCAT without ORDER BY: the order of the values is not defined (MySQL follows its join order, PostgreSQL its own); add an ORDER BY where it matters — verify compares them as sets");
        }
        let check = ViewCheck { target, ordered: cv.query.order_by.is_some(), columns, target_columns, unordered_lists };
        Ok((vec![sql], Some(check)))
    })();
    let warnings = std::mem::take(&mut r.warnings);
    outcome(o, result, warnings)
}

fn trigger(schema: &Schema, names: &dyn TargetNames, o: &SourceObject) -> ConvertedObject {
    let mut r = Renderer::new(names, schema);
    let result = (|| {
        let table = o.table.clone().unwrap_or_default();
        let Some(target_table) = names.table(&table) else { return Err(Refused(format!("its table `{table}` is not migrated"))) };
        // The header through sqlparser (with an empty body), the body through the block reader.
        let upper = o.sql.to_ascii_uppercase();
        let at = upper.find(" FOR EACH ROW ").ok_or_else(|| Refused("a trigger definition the converter cannot read".into()))?;
        let (head, body_sql) = (&o.sql[..at], &o.sql[at + " FOR EACH ROW ".len()..]);
        let Statement::CreateTrigger(t) = parse_one(&format!("{head} FOR EACH ROW BEGIN END"))? else {
            return Err(Refused("a trigger definition the converter cannot read".into()));
        };
        let timing = match t.period {
            Some(TriggerPeriod::Before) => "BEFORE",
            Some(TriggerPeriod::After) => "AFTER",
            other => return Err(Refused(format!("trigger timing {other:?}"))),
        };
        let [event] = t.events.as_slice() else { return Err(Refused("a trigger on several events".into())) };
        let event = match event {
            TriggerEvent::Insert => "INSERT",
            TriggerEvent::Update(cols) if cols.is_empty() => "UPDATE",
            TriggerEvent::Delete => "DELETE",
            other => return Err(Refused(format!("trigger event {other}"))),
        };
        r.bind_rows(&table);
        let tokens =
            sqlparser::tokenizer::Tokenizer::new(&MySqlDialect {}, body_sql).tokenize().map_err(|e| Refused(format!("the SQL could not be read: {e}")))?;
        let ret = match (timing, event) {
            ("BEFORE", "DELETE") => "OLD",
            ("BEFORE", _) => "NEW",
            _ => "NULL",
        };
        let ret_stmt = format!("RETURN {ret}");
        let (declare, code) = routine::body(&mut r, &tokens, None, &ret_stmt)?;
        let name = names.ident(&o.name);
        let function = format!("{}.{}", q(names.schema()), q(&format!("{name}_fn")));
        let guard = format!("  IF {} THEN\n    RETURN {ret};\n  END IF;\n", names.ferry_session());
        let f = format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $ferry$\n{declare}BEGIN\n{guard}{code}  RETURN {ret};\nEND\n$ferry$"
        );
        let trig =
            format!("CREATE TRIGGER {} {timing} {event} ON {}.{} FOR EACH ROW EXECUTE FUNCTION {function}()", q(&name), q(names.schema()), q(&target_table));
        Ok((vec![f, trig], None))
    })();
    let siblings = schema.objects.iter().filter(|x| x.kind == ObjectKind::Trigger && x.table == o.table && x.name != o.name && same_event(x, o)).count();
    if siblings > 0 {
        r.warn("several triggers on the same table and event: PostgreSQL fires them in name order, not in MySQL's FOLLOWS/PRECEDES order");
    }
    let warnings = std::mem::take(&mut r.warnings);
    outcome(o, result, warnings)
}

fn stored_routine(schema: &Schema, names: &dyn TargetNames, o: &SourceObject) -> ConvertedObject {
    let mut r = Renderer::new(names, schema);
    let result = routine::routine(names, &o.sql, &mut r).map(|sql| (vec![sql], None));
    let warnings = std::mem::take(&mut r.warnings);
    outcome(o, result, warnings)
}

/// Output columns that are a `GROUP_CONCAT` without ORDER BY, with their separator.
fn unordered_lists(query: &sqlparser::ast::Query) -> Vec<(usize, String)> {
    use sqlparser::ast::{Expr, FunctionArgumentClause, FunctionArguments, SelectItem, SetExpr, Value};
    let SetExpr::Select(sel) = query.body.as_ref() else { return vec![] };
    let mut out = Vec::new();
    for (i, item) in sel.projection.iter().enumerate() {
        let (SelectItem::UnnamedExpr(Expr::Function(f)) | SelectItem::ExprWithAlias { expr: Expr::Function(f), .. }) = item else { continue };
        if !f.name.to_string().eq_ignore_ascii_case("group_concat") {
            continue;
        }
        let FunctionArguments::List(l) = &f.args else { continue };
        if l.clauses.iter().any(|c| matches!(c, FunctionArgumentClause::OrderBy(_))) {
            continue;
        }
        let sep = l
            .clauses
            .iter()
            .find_map(|c| match c {
                FunctionArgumentClause::Separator(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_else(|| ",".to_string());
        out.push((i, sep));
    }
    out
}

/// Two MySQL triggers of one table with the same timing and event (read from their SQL).
fn same_event(a: &SourceObject, b: &SourceObject) -> bool {
    let head = |o: &SourceObject| {
        let words: Vec<String> = o.sql.split_whitespace().take(6).map(|w| w.to_ascii_uppercase()).collect();
        words.get(3..5).map(|w| w.join(" "))
    };
    head(a).is_some() && head(a) == head(b)
}

#[cfg(test)]
mod tests;
