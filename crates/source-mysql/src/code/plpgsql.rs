//! MySQL's plain statements of trigger and routine bodies as PL/pgSQL ([`statement`]): `SET`,
//! `INSERT`/`UPDATE`/`DELETE` of other tables, `SELECT … INTO` (followed by the NOT FOUND
//! handler), `RETURN`, `SIGNAL` (made `RAISE EXCEPTION` with its SQLSTATE and text). The control
//! flow around them is `super::block`'s. A statement of another kind refuses the object by
//! name, so nothing half-converted is created.

use super::render::{lit, q, refuse, Refused, Renderer, R};
use sqlparser::ast::*;
use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The function `SIGNAL` statements are rewritten into before parsing (sqlparser has no
/// SIGNAL): `CALL __ferry_signal('45000', message)`.
const SIGNAL: &str = "__ferry_signal";

/// `SIGNAL SQLSTATE [VALUE] 'xxxxx' [SET MESSAGE_TEXT = e[, …]]` → `CALL __ferry_signal('xxxxx', e)`,
/// so the body parses; [`statement`] renders the call as `RAISE EXCEPTION`.
pub fn rewrite_signals(sql: &str) -> Result<String, Refused> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().map_err(|e| Refused(format!("the SQL could not be read: {e}")))?;
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let word = super::is_word;
    let next = |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    while i < tokens.len() {
        if !word(&tokens[i], "SIGNAL") {
            out.push_str(&super::token_sql(&tokens[i]));
            i += 1;
            continue;
        }
        let mut j = next(i + 1).ok_or_else(|| Refused("SIGNAL without SQLSTATE".into()))?;
        if !word(&tokens[j], "SQLSTATE") {
            return Err(Refused("SIGNAL of a named condition".into()));
        }
        j = next(j + 1).ok_or_else(|| Refused("SIGNAL without SQLSTATE".into()))?;
        if word(&tokens[j], "VALUE") {
            j = next(j + 1).ok_or_else(|| Refused("SIGNAL without SQLSTATE".into()))?;
        }
        let Token::SingleQuotedString(state) = &tokens[j] else { return Err(Refused("SIGNAL without a literal SQLSTATE".into())) };
        let mut message = String::from("'unhandled user-defined exception'");
        let mut k = j + 1;
        if let Some(s) = next(k).filter(|&s| word(&tokens[s], "SET")) {
            // SET name = expr [, name = expr]: MESSAGE_TEXT is kept, MYSQL_ERRNO and the rest dropped.
            k = s + 1;
            while let Some(n) = next(k) {
                let Token::Word(name) = &tokens[n] else { break };
                let Some(eq) = next(n + 1).filter(|&e| tokens[e] == Token::Eq) else { break };
                let mut depth = 0;
                let mut end = eq + 1;
                while end < tokens.len() {
                    match &tokens[end] {
                        Token::LParen => depth += 1,
                        Token::RParen => depth -= 1,
                        Token::Comma | Token::SemiColon if depth == 0 => break,
                        _ => {}
                    }
                    end += 1;
                }
                if name.value.eq_ignore_ascii_case("MESSAGE_TEXT") {
                    message = tokens[eq + 1..end].iter().map(super::token_sql).collect::<String>().trim().to_string();
                }
                k = end;
                if tokens.get(end) == Some(&Token::Comma) {
                    k += 1;
                    continue;
                }
                break;
            }
        }
        out.push_str(&format!("CALL {SIGNAL}('{}', {message})", state.replace('\'', "''")));
        i = k;
    }
    Ok(out)
}

fn pad(indent: usize) -> String {
    " ".repeat(indent)
}

/// One plain statement (control flow is `super::block`'s: it never reaches here).
pub fn statement(r: &mut Renderer, s: &Statement, indent: usize) -> R<String> {
    let p = pad(indent);
    Ok(match s {
        Statement::Set(Set::SingleAssignment { scope: None, hivevar: false, variable, values }) => {
            let [value] = values.as_slice() else { return refuse("SET of several values") };
            let target = assignment_target(r, variable)?;
            format!("{p}{target} := {};\n", r.expr(value)?)
        }
        Statement::Set(other) => return refuse(format!("the statement `{other}`")),
        Statement::Insert(ins) => format!("{p}{};\n", insert(r, ins)?),
        Statement::Update(u) => format!("{p}{};\n", update(r, u)?),
        Statement::Delete(d) => format!("{p}{};\n", delete(r, d)?),
        Statement::Call(f) if f.name.to_string().eq_ignore_ascii_case(SIGNAL) => {
            let FunctionArguments::List(l) = &f.args else { return refuse("SIGNAL") };
            let args: Vec<&Expr> = l
                .args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect();
            let [Expr::Value(state), message] = args.as_slice() else { return refuse("SIGNAL") };
            let Value::SingleQuotedString(state) = &state.value else { return refuse("SIGNAL") };
            format!("{p}RAISE EXCEPTION USING ERRCODE = {}, MESSAGE = {};\n", lit(state), r.expr(message)?)
        }
        Statement::Query(query) => {
            let SetExpr::Select(sel) = query.body.as_ref() else { return refuse("a query that returns rows to the client") };
            if sel.into.is_none() {
                return refuse("a SELECT that returns rows to the client (PL/pgSQL has no result sets: a set-returning function is the port)");
            }
            if !is_aggregate_only(sel) {
                r.warn("SELECT … INTO: a query that finds several rows takes the first in PL/pgSQL (MySQL refuses it); one that finds none sets the variables to NULL (MySQL leaves them) unless a NOT FOUND handler says otherwise");
            }
            let mut out = format!("{p}{};\n", r.query(query)?);
            // MySQL raises NOT FOUND for an INTO that finds no row; PL/pgSQL sets FOUND.
            if let Some(h) = &r.not_found {
                out.push_str(&format!("{p}IF NOT FOUND THEN\n{h}{p}END IF;\n"));
            }
            out
        }
        Statement::Return(ret) => match &ret.value {
            Some(ReturnStatementValue::Expr(e)) => format!("{p}RETURN {};\n", r.expr(e)?),
            None => format!("{p}RETURN;\n"),
        },
        other => {
            let text = other.to_string();
            let head: String = text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
            return refuse(format!("the statement `{head} …`"));
        }
    })
}

/// A SELECT of aggregates only, without GROUP BY: exactly one row, so INTO behaves alike.
fn is_aggregate_only(sel: &Select) -> bool {
    let no_groups = matches!(&sel.group_by, GroupByExpr::Expressions(g, _) if g.is_empty());
    no_groups
        && sel.projection.iter().all(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => is_aggregate(e),
            _ => false,
        })
}

fn is_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let n = f.name.to_string().to_ascii_uppercase();
            matches!(n.as_str(), "COUNT" | "SUM" | "MIN" | "MAX" | "AVG" | "GROUP_CONCAT")
                || (matches!(n.as_str(), "IFNULL" | "COALESCE")
                    && matches!(&f.args, FunctionArguments::List(l) if l.args.first().is_some_and(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) if is_aggregate(x)))))
        }
        Expr::Nested(x) => is_aggregate(x),
        _ => false,
    }
}

/// `NEW.col` (a trigger's row) or a local variable.
fn assignment_target(r: &mut Renderer, variable: &ObjectName) -> R<String> {
    let parts: Vec<String> = variable.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default()).collect();
    match parts.as_slice() {
        [row, col] if row.eq_ignore_ascii_case("new") => r.expr(&Expr::CompoundIdentifier(vec![Ident::new(row), Ident::new(col)])),
        [v] if v.starts_with('@') => refuse(format!("the session variable {v}")),
        [v] if r.vars.iter().any(|x| x.eq_ignore_ascii_case(v)) => Ok(v.to_ascii_lowercase()),
        _ => refuse(format!("SET {variable}")),
    }
}

fn single_table(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default()
}

/// Renders `stmt_body` with `table` bound (as itself) for its column references.
fn with_table<'a, T>(r: &mut Renderer<'a>, table: &ObjectName, f: impl FnOnce(&mut Renderer<'a>, &str) -> R<T>) -> R<T> {
    // A SELECT scope holding just this table: built by rendering `SELECT … FROM table`.
    let from = TableWithJoins {
        relation: TableFactor::Table {
            name: table.clone(),
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_hints: vec![],
        },
        joins: vec![],
    };
    r.scoped(&from, f)
}

fn insert(r: &mut Renderer, ins: &Insert) -> R<String> {
    if ins.ignore || ins.replace_into || ins.on.is_some() {
        return refuse("INSERT IGNORE / REPLACE / ON DUPLICATE KEY UPDATE (ON CONFLICT is the port)");
    }
    let TableObject::TableName(name) = &ins.table else { return refuse("INSERT into a table function") };
    let table = single_table(name);
    let columns: Vec<String> = ins
        .columns
        .iter()
        .map(|c| {
            let col = c.to_string().replace('`', "");
            r.names.column(&table, &col).map(|t| q(&t.name)).ok_or_else(|| Refused(format!("column `{table}`.`{col}`, which is not migrated")))
        })
        .collect::<R<_>>()?;
    let (rel, _) = r.relation_of(name)?;
    let source = match &ins.source {
        Some(query) => match query.body.as_ref() {
            SetExpr::Values(v) => {
                let rows: Vec<String> = v.rows.iter().map(|row| r.exprs(row).map(|x| format!("({})", x.join(", ")))).collect::<R<_>>()?;
                format!("VALUES {}", rows.join(", "))
            }
            _ => r.query(query)?,
        },
        None => return refuse("INSERT … SET"),
    };
    let cols = if columns.is_empty() { String::new() } else { format!(" ({})", columns.join(", ")) };
    Ok(format!("INSERT INTO {rel}{cols} {source}"))
}

fn update(r: &mut Renderer, u: &Update) -> R<String> {
    if !u.table.joins.is_empty() || u.from.is_some() || !u.order_by.is_empty() || u.limit.is_some() {
        return refuse("a multi-table UPDATE or UPDATE … ORDER BY / LIMIT");
    }
    let TableFactor::Table { name, alias: None, .. } = &u.table.relation else { return refuse("UPDATE of an aliased table") };
    let (rel, _) = r.relation_of(name)?;
    let table = single_table(name);
    with_table(r, name, |r, _| {
        let mut sets = Vec::new();
        for a in &u.assignments {
            let AssignmentTarget::ColumnName(c) = &a.target else { return refuse("UPDATE … SET (a, b) = …") };
            let col = single_table(c);
            let Some(t) = r.names.column(&table, &col) else { return refuse(format!("column `{table}`.`{col}`, which is not migrated")) };
            sets.push(format!("{} = {}", q(&t.name), r.expr(&a.value)?));
        }
        let mut s = format!("UPDATE {rel} SET {}", sets.join(", "));
        if let Some(w) = &u.selection {
            s.push_str(&format!(" WHERE {}", r.condition(w)?));
        }
        Ok(s)
    })
}

fn delete(r: &mut Renderer, d: &Delete) -> R<String> {
    let from = match &d.from {
        FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
    };
    if !d.tables.is_empty() || d.using.is_some() || from.len() != 1 || !from[0].joins.is_empty() || !d.order_by.is_empty() || d.limit.is_some() {
        return refuse("a multi-table DELETE or DELETE … ORDER BY / LIMIT");
    }
    let TableFactor::Table { name, alias: None, .. } = &from[0].relation else { return refuse("DELETE from an aliased table") };
    let (rel, _) = r.relation_of(name)?;
    with_table(r, name, |r, _| {
        let mut s = format!("DELETE FROM {rel}");
        if let Some(w) = &d.selection {
            s.push_str(&format!(" WHERE {}", r.condition(w)?));
        }
        Ok(s)
    })
}
