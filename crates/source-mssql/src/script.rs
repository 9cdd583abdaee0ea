//! A T-SQL script read as a database ([`read_schema`], [`read_rows`]): what SSMS "Generate
//! Scripts", sqlpackage or SymmetricDS' dbexport write — `GO` batches, bracketed names, `N'…'`
//! strings, `SET …` noise, `CREATE TABLE`, `ALTER TABLE … ADD CONSTRAINT`, `CREATE INDEX`,
//! `INSERT … VALUES`, `MS_Description` extended properties (→ comments) — parsed by sqlparser's
//! MsSql dialect.
//!
//! Guarantees and why:
//! - **Nothing skipped in silence.** A batch sqlparser cannot read, and every statement that is
//!   neither schema nor data ferry carries (views, procedures, triggers, anything else), is
//!   listed as an object with its text; `SET`, `USE`, `GO`, `PRINT` and the database's own
//!   `CREATE`/`DROP`/`ALTER DATABASE` are the only statements passed over.
//! - **Values as the script wrote them.** Each literal becomes a value of its column's type
//!   ([`crate::types::value`]) or an error naming the table, column and row; an omitted column
//!   takes its literal DEFAULT, or NULL where it may be NULL, or is an error.
//! - **Memory bounded by a batch.** Rows are not kept: each read parses the script again, one
//!   `GO` batch at a time, and sends the rows of the one table asked for.

use crate::types;
use ferry_model::{
    Check, Column, DataType, DefaultValue, FkAction, ForeignKey, Index, IndexColumn, IndexKind, Key, ObjectKind, Row, Schema, SourceObject, Table, Value,
};
use sqlparser::ast::{AlterTableOperation, ColumnOption, CreateTable, Expr, ObjectName, ReferentialAction, SetExpr, Statement, TableConstraint, TableObject};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;

/// The script's batches: the text between `GO` lines (`GO` alone on its line, any case).
pub fn batches(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.eq_ignore_ascii_case("GO") || (t.len() > 3 && t[..3].eq_ignore_ascii_case("GO ") && t[3..].trim().parse::<u32>().is_ok()) {
            if !cur.trim().is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// A batch's statements, or the parser's error.
pub fn parse(batch: &str) -> Result<Vec<Statement>, String> {
    Parser::parse_sql(&MsSqlDialect {}, batch).map_err(|e| e.to_string())
}

/// `[dbo].[Album]` → `Album` (the last part, brackets gone).
pub fn last_name(n: &ObjectName) -> String {
    n.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default()
}

fn fk_action(a: &Option<ReferentialAction>) -> FkAction {
    match a {
        Some(ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ReferentialAction::SetDefault) => FkAction::SetDefault,
        Some(ReferentialAction::Restrict) => FkAction::Restrict,
        _ => FkAction::NoAction,
    }
}

/// A DEFAULT as the model's: literals unquoted, SQL Server's functions by meaning, the rest
/// kept as T-SQL.
pub(crate) fn default_value(e: &Expr) -> DefaultValue {
    let e = match e {
        Expr::Nested(x) => x.as_ref(),
        e => e,
    };
    if let Expr::Nested(x) = e {
        return default_value(x);
    }
    match e {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Null => DefaultValue::Null,
            sqlparser::ast::Value::Number(n, _) => DefaultValue::Literal(n.clone()),
            sqlparser::ast::Value::SingleQuotedString(s) | sqlparser::ast::Value::NationalStringLiteral(s) => DefaultValue::Literal(s.clone()),
            other => DefaultValue::Expression(other.to_string()),
        },
        Expr::Function(f) => match last_name(&f.name).to_ascii_lowercase().as_str() {
            "getdate" | "sysdatetime" | "current_timestamp" | "getutcdate" | "sysutcdatetime" => DefaultValue::CurrentTimestamp,
            "newid" | "newsequentialid" => DefaultValue::NewUuid,
            _ => DefaultValue::Expression(e.to_string()),
        },
        other => DefaultValue::Expression(other.to_string()),
    }
}

fn key(name: &Option<sqlparser::ast::Ident>, table: &str, kind: &str, columns: Vec<String>) -> Key {
    Key { name: name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("{kind}_{table}")), columns }
}

fn index_columns(cols: &[sqlparser::ast::IndexColumn]) -> Vec<String> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn constraint(t: &mut Table, c: &TableConstraint) -> Result<(), String> {
    match c {
        TableConstraint::PrimaryKey(pk) => t.primary_key = Some(key(&pk.name, &t.name, "PK", index_columns(&pk.columns))),
        TableConstraint::Unique(u) => t.unique_keys.push(key(&u.name, &t.name, "UQ", index_columns(&u.columns))),
        TableConstraint::ForeignKey(fk) => t.foreign_keys.push(ForeignKey {
            name: fk.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("FK_{}_{}", t.name, t.foreign_keys.len() + 1)),
            columns: fk.columns.iter().map(|c| c.value.clone()).collect(),
            ref_schema: None,
            ref_table: last_name(&fk.foreign_table),
            ref_columns: fk.referred_columns.iter().map(|c| c.value.clone()).collect(),
            on_delete: fk_action(&fk.on_delete),
            on_update: fk_action(&fk.on_update),
            not_valid: false,
        }),
        TableConstraint::Check(ck) => t.checks.push(Check {
            name: ck.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("CK_{}_{}", t.name, t.checks.len() + 1)),
            // Translated where certain (LEN, ISNULL, `+` of strings…), else identifiers only.
            expression: crate::expr::to_postgres(&ck.expr.to_string(), t).unwrap_or_else(|| standard_quoting(&ck.expr.to_string())),
            not_valid: false,
        }),
        other => return Err(format!("the constraint {other}")),
    }
    Ok(())
}

/// `[a]` → `"a"` in an expression's text (the model's quoting for check expressions).
pub(crate) fn standard_quoting(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    for c in s.chars() {
        match c {
            '\'' => {
                in_str = !in_str;
                out.push(c);
            }
            '[' | ']' if !in_str => out.push('"'),
            c => out.push(c),
        }
    }
    out
}

fn table_of(ct: &CreateTable) -> Result<Table, String> {
    let name = last_name(&ct.name);
    let mut t = Table { name: name.clone(), ..Default::default() };
    for c in &ct.columns {
        let source_type = c.data_type.to_string();
        let data_type = types::data_type(&c.data_type).map_err(|e| format!("column {name}.{}: {e}", c.name.value))?;
        let mut col = Column::new(c.name.value.clone(), data_type, source_type);
        for o in &c.options {
            match &o.option {
                ColumnOption::NotNull => col.nullable = false,
                ColumnOption::Null => col.nullable = true,
                ColumnOption::Default(e) => col.default = Some(default_value(e)),
                ColumnOption::Identity(_) => col.auto_increment = true,
                ColumnOption::PrimaryKey(_) => {
                    col.nullable = false;
                    t.primary_key = Some(Key { name: format!("PK_{name}"), columns: vec![c.name.value.clone()] });
                }
                ColumnOption::Unique(_) => t.unique_keys.push(Key { name: format!("UQ_{name}_{}", c.name.value), columns: vec![c.name.value.clone()] }),
                ColumnOption::Collation(coll) => {
                    col.collation = Some(coll.to_string());
                    col.case_insensitive = coll.to_string().to_ascii_uppercase().contains("_CI");
                }
                _ => {}
            }
        }
        t.columns.push(col);
    }
    for c in &ct.constraints {
        constraint(&mut t, c).map_err(|e| format!("table {name}: {e}"))?;
    }
    if let Some(pk) = &t.primary_key {
        for c in t.columns.iter_mut().filter(|c| pk.columns.contains(&c.name)) {
            c.nullable = false;
        }
    }
    Ok(t)
}

/// Statements passed over: session settings and the database's own lifecycle. (An INSERT is
/// never printed to find out: it may hold a batch's worth of rows.)
fn is_noise(s: &Statement) -> bool {
    match s {
        Statement::Set(_) | Statement::Use(_) | Statement::CreateDatabase { .. } | Statement::Print(_) | Statement::Drop { .. } => true,
        Statement::Insert(_) | Statement::CreateTable(_) => false,
        other => other.to_string().to_ascii_uppercase().starts_with("ALTER DATABASE"),
    }
}

/// A token as T-SQL again: sqlparser prints string tokens without escaping their quotes
/// (`N'it''s'` would come back as `N'it's'`), so strings are quoted here.
fn token_sql(t: &sqlparser::tokenizer::Token) -> String {
    use sqlparser::tokenizer::Token;
    match t {
        Token::SingleQuotedString(s) => format!("'{}'", s.replace('\'', "''")),
        Token::NationalStringLiteral(s) => format!("N'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

/// What SSMS adds around the schema that says nothing of it: index and table storage
/// (`WITH (PAD_INDEX = OFF, …)`, `ON [PRIMARY]`, `TEXTIMAGE_ON [PRIMARY]`), `WITH [NO]CHECK`
/// before `ADD CONSTRAINT`, and the `ALTER TABLE … [NO]CHECK CONSTRAINT …` statements that
/// follow each constraint — removed so sqlparser reads the rest.
fn without_storage_clauses(batch: &str) -> String {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&MsSqlDialect {}, batch).tokenize() else { return batch.to_string() };
    let word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let solid = |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    // `ALTER TABLE t [NO]CHECK CONSTRAINT c` (after a `WITH CHECK ADD`): the whole statement.
    let first = solid(0);
    if let Some(f) = first.filter(|&f| word(&tokens[f], "ALTER")) {
        let words: Vec<usize> = (f..tokens.len()).filter(|&j| !matches!(tokens[j], Token::Whitespace(_))).collect();
        // ALTER TABLE name(.name)* CHECK|NOCHECK CONSTRAINT …
        let mut k = 2;
        while words.get(k + 1).is_some_and(|&j| tokens[j] == Token::Period) {
            k += 2;
        }
        if words.len() > k + 2 && (word(&tokens[words[k + 1]], "CHECK") || word(&tokens[words[k + 1]], "NOCHECK")) && word(&tokens[words[k + 2]], "CONSTRAINT")
        {
            return String::new();
        }
    }
    let mut out = String::with_capacity(batch.len());
    let mut last: Option<&Token> = None;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let after_paren = last == Some(&Token::RParen);
        // `) WITH (option = value, …)`
        if after_paren && word(t, "WITH") {
            if let Some(open) = solid(i + 1).filter(|&o| tokens[o] == Token::LParen) {
                let (mut d, mut j) = (0i32, open);
                while j < tokens.len() {
                    match tokens[j] {
                        Token::LParen => d += 1,
                        Token::RParen => {
                            d -= 1;
                            if d == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if tokens[open..j].contains(&Token::Eq) {
                    i = j + 1;
                    continue;
                }
            }
        }
        // `) ON [PRIMARY]`, `TEXTIMAGE_ON [x]`, `FILESTREAM_ON [x]`
        if (after_paren && word(t, "ON")) || word(t, "TEXTIMAGE_ON") || word(t, "FILESTREAM_ON") {
            let filegroup =
                |t: &Token| matches!(t, Token::Word(w) if w.quote_style == Some('[') || (w.quote_style.is_none() && w.value.eq_ignore_ascii_case("PRIMARY")));
            if let Some(n) = solid(i + 1).filter(|&n| filegroup(&tokens[n])) {
                if solid(n + 1).is_none_or(|m| tokens[m] != Token::LParen) {
                    i = n + 1;
                    continue;
                }
            }
        }
        // `ALTER TABLE t WITH CHECK ADD …` / `WITH NOCHECK ADD …`
        if word(t, "WITH") && solid(i + 1).is_some_and(|n| word(&tokens[n], "CHECK") || word(&tokens[n], "NOCHECK")) {
            if let Some(n) = solid(i + 1) {
                if solid(n + 1).is_some_and(|m| word(&tokens[m], "ADD")) {
                    i = n + 1;
                    continue;
                }
            }
        }
        if !matches!(t, Token::Whitespace(_)) {
            last = Some(t);
        }
        out.push_str(&token_sql(t));
        i += 1;
    }
    out
}

/// `CREATE TABLE` batches without their computed columns (`[c] AS (expr) [PERSISTED]`, which
/// sqlparser cannot read and a script's INSERTs never fill), and those columns: (table,
/// column, definition).
fn without_computed_columns(batch: &str) -> (String, Vec<(String, String, String)>) {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let upper = batch.to_ascii_uppercase();
    if !upper.contains("CREATE TABLE") || !upper.contains(" AS ") {
        return (batch.to_string(), vec![]);
    }
    let Ok(tokens) = Tokenizer::new(&MsSqlDialect {}, batch).tokenize() else { return (batch.to_string(), vec![]) };
    let word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let solid = |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    let mut out = String::with_capacity(batch.len());
    let mut found = Vec::new();
    let (mut depth, mut table, mut in_create, mut i) = (0i32, String::new(), false, 0usize);
    // Where the current column definition starts in `out`, and its first token.
    let mut item_start: Option<(usize, usize)> = None;
    while i < tokens.len() {
        let t = &tokens[i];
        if word(t, "TABLE") && out.to_ascii_uppercase().trim_end().ends_with("CREATE") {
            in_create = true;
            if let Some(n) = solid(i + 1) {
                // The table's last name part: `[dbo].[T]` → `T`.
                let mut k = n;
                while let Some(dot) = solid(k + 1).filter(|&d| tokens[d] == Token::Period) {
                    k = solid(dot + 1).unwrap_or(k);
                }
                if let Token::Word(w) = &tokens[k] {
                    table = w.value.clone();
                }
            }
        }
        match t {
            Token::LParen => {
                depth += 1;
                if in_create && depth == 1 {
                    out.push_str(&token_sql(t));
                    i += 1;
                    item_start = solid(i).map(|s| (out.len(), s));
                    continue;
                }
            }
            Token::RParen => depth -= 1,
            Token::Comma if in_create && depth == 1 => {
                out.push_str(&token_sql(t));
                i += 1;
                item_start = solid(i).map(|s| (out.len(), s));
                continue;
            }
            _ => {}
        }
        // `name AS (` at the start of a column definition: a computed column.
        if let (true, 1, Some((at, first))) = (in_create, depth, item_start) {
            if i == first {
                if let (Token::Word(name), Some(a)) = (t, solid(i + 1)) {
                    if word(&tokens[a], "AS") {
                        // Its definition runs to the next comma or the closing parenthesis at depth 1.
                        let (mut d, mut j) = (0i32, a + 1);
                        while j < tokens.len() {
                            match &tokens[j] {
                                Token::LParen => d += 1,
                                Token::RParen if d == 0 => break,
                                Token::RParen => d -= 1,
                                Token::Comma if d == 0 => break,
                                _ => {}
                            }
                            j += 1;
                        }
                        let definition: String = tokens[a + 1..j].iter().map(token_sql).collect::<String>().trim().to_string();
                        found.push((table.clone(), name.value.clone(), definition));
                        // Drop the column and the comma before it (or after it, for the first).
                        out.truncate(at);
                        if out.trim_end().ends_with(',') {
                            let cut = out.trim_end().len() - 1;
                            out.truncate(cut);
                            i = j;
                        } else {
                            i = if tokens.get(j) == Some(&Token::Comma) { j + 1 } else { j };
                        }
                        item_start = None;
                        continue;
                    }
                }
            }
        }
        if in_create && depth == 0 && matches!(t, Token::RParen) {
            in_create = false;
        }
        out.push_str(&token_sql(t));
        i += 1;
    }
    (out, found)
}

/// The schema a script creates (tables, keys, indexes, checks, row counts as estimates), with
/// every statement it does not carry listed.
pub fn read_schema(text: &str, fallback_name: &str, select: &dyn Fn(&str) -> bool) -> Result<Schema, String> {
    let mut database = None;
    let mut tables: Vec<Table> = Vec::new();
    let mut objects: Vec<SourceObject> = Vec::new();
    let listed = |objects: &mut Vec<SourceObject>, kind: ObjectKind, name: String, sql: String| objects.push(SourceObject { kind, name, table: None, sql });
    for (bi, batch) in batches(text).iter().enumerate() {
        let (batch, computed) = without_computed_columns(&without_storage_clauses(batch));
        for (table, column, definition) in computed {
            objects.push(SourceObject {
                kind: ObjectKind::Statement,
                name: format!("computed column {table}.{column}"),
                table: Some(table.clone()),
                sql: format!("-- a computed column (its values are not in the script): add it on the target as a generated column\nALTER TABLE {table} ADD {column} AS {definition}"),
            });
        }
        let batch = &batch;
        let stmts = match parse(batch) {
            Ok(s) => s,
            Err(e) => {
                // An IF EXISTS … DROP DATABASE preamble is the generator's, not the schema's.
                let upper = batch.to_ascii_uppercase();
                if upper.contains("DROP DATABASE") && !upper.contains("CREATE TABLE") {
                    continue;
                }
                listed(&mut objects, ObjectKind::Statement, format!("batch {}", bi + 1), format!("-- not read ({e})\n{}", batch.trim()));
                continue;
            }
        };
        for s in stmts {
            match &s {
                Statement::Use(u) => database = Some(u.to_string().trim_start_matches("USE ").trim_matches(|c| c == '[' || c == ']').to_string()),
                s if is_noise(s) => {}
                Statement::CreateTable(ct) => {
                    let t = table_of(ct)?;
                    if select(&t.name) {
                        if tables.iter().any(|x| x.name == t.name) {
                            return Err(format!("table {} is created twice (two schemas of the script hold it)", t.name));
                        }
                        tables.push(t);
                    }
                }
                Statement::AlterTable(at) => {
                    let name = last_name(&at.name);
                    let Some(t) = tables.iter_mut().find(|t| t.name == name) else { continue };
                    for op in &at.operations {
                        match op {
                            AlterTableOperation::AddConstraint { constraint: c, .. } => constraint(t, c).map_err(|e| format!("table {name}: {e}"))?,
                            other => listed(&mut objects, ObjectKind::Statement, format!("ALTER TABLE {name}"), format!("ALTER TABLE {} {other}", at.name)),
                        }
                    }
                }
                Statement::CreateIndex(ci) => {
                    let name = last_name(&ci.table_name);
                    let Some(t) = tables.iter_mut().find(|t| t.name == name) else { continue };
                    t.indexes.push(Index {
                        name: ci.name.as_ref().map(last_name).unwrap_or_else(|| format!("IX_{name}_{}", t.indexes.len() + 1)),
                        columns: index_columns(&ci.columns).into_iter().map(|c| IndexColumn { name: c, prefix: None, descending: false }).collect(),
                        unique: ci.unique,
                        kind: IndexKind::BTree,
                        comment: None,
                        filter: None,
                        include: vec![],
                    });
                }
                Statement::Insert(ins) => {
                    let TableObject::TableName(n) = &ins.table else { continue };
                    let name = last_name(n);
                    if let (Some(t), Some(src)) = (tables.iter_mut().find(|t| t.name == name), &ins.source) {
                        if let SetExpr::Values(v) = src.body.as_ref() {
                            t.estimated_rows += v.rows.len() as u64;
                        }
                    }
                }
                Statement::Execute { name: Some(proc), parameters, .. } if last_name(proc).eq_ignore_ascii_case("sp_addextendedproperty") => {
                    if !description(&mut tables, parameters) {
                        listed(&mut objects, ObjectKind::Statement, "EXECUTE sp_addextendedproperty".into(), s.to_string());
                    }
                }
                Statement::CreateView(v) => listed(&mut objects, ObjectKind::View, last_name(&v.name), s.to_string()),
                Statement::CreateProcedure { name, .. } => listed(&mut objects, ObjectKind::Procedure, last_name(name), s.to_string()),
                Statement::CreateFunction(f) => listed(&mut objects, ObjectKind::Function, last_name(&f.name), s.to_string()),
                Statement::CreateTrigger(t) => listed(&mut objects, ObjectKind::Trigger, last_name(&t.name), s.to_string()),
                other => {
                    let text = other.to_string();
                    let head: String = text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
                    listed(&mut objects, ObjectKind::Statement, head, text);
                }
            }
        }
    }
    // A UNIQUE constraint is a unique index too (the model lists keys and indexes apart; the
    // plan creates indexes).
    for t in &mut tables {
        for k in &t.unique_keys {
            if !t.indexes.iter().any(|i| i.name == k.name) {
                let columns = k.columns.iter().map(|c| IndexColumn { name: c.clone(), prefix: None, descending: false }).collect();
                t.indexes.push(Index { name: k.name.clone(), columns, unique: true, kind: IndexKind::BTree, comment: None, include: vec![], filter: None });
            }
        }
    }
    Ok(Schema {
        name: database.unwrap_or_else(|| fallback_name.to_string()),
        server_version: "SQL Server (T-SQL script)".into(),
        tables,
        objects,
        // A SQL Server TIME is a time of day, never MySQL's ±838 hours: it maps to `time`.
        probes: vec![ferry_model::Probe::OutsideDay],
        ..Default::default()
    })
}

/// `EXEC sp_addextendedproperty @name = N'MS_Description', @value = …, @level1name = <table>
/// [, @level2type = N'COLUMN', @level2name = <column>]` (named or positional) as the table's or
/// column's comment; false when it is another property or names nothing the script created.
fn description(tables: &mut [Table], parameters: &[Expr]) -> bool {
    const ORDER: [&str; 8] = ["@name", "@value", "@level0type", "@level0name", "@level1type", "@level1name", "@level2type", "@level2name"];
    let text = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::SingleQuotedString(s) | sqlparser::ast::Value::NationalStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let mut args: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (i, p) in parameters.iter().enumerate() {
        match p {
            Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Eq, right } => {
                if let (Expr::Identifier(k), Some(v)) = (left.as_ref(), text(right)) {
                    args.insert(k.value.to_ascii_lowercase(), v);
                }
            }
            e => {
                if let (Some(k), Some(v)) = (ORDER.get(i), text(e)) {
                    args.insert(k.to_string(), v);
                }
            }
        }
    }
    let get = |k: &str| args.get(k).map(String::as_str);
    if !get("@name").is_some_and(|n| n.eq_ignore_ascii_case("MS_Description")) || !get("@level1type").is_some_and(|t| t.eq_ignore_ascii_case("TABLE")) {
        return false;
    }
    let (Some(table), Some(value)) = (get("@level1name"), get("@value")) else { return false };
    let Some(t) = tables.iter_mut().find(|t| t.name.eq_ignore_ascii_case(table)) else { return false };
    match (get("@level2type"), get("@level2name")) {
        (None, _) => t.comment = Some(value.to_string()),
        (Some(kind), Some(col)) if kind.eq_ignore_ascii_case("COLUMN") => match t.columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(col)) {
            Some(c) => c.comment = Some(value.to_string()),
            None => return false,
        },
        _ => return false,
    }
    true
}

/// Every row the script inserts into `table`, in script order, sent in batches of `per_batch`.
pub fn read_rows(text: &str, table: &Table, per_batch: usize, mut send: impl FnMut(Vec<Row>) -> bool) -> Result<u64, String> {
    let mut sent = 0u64;
    let mut rows: Vec<Row> = Vec::new();
    for batch in batches(text) {
        // Only batches that insert into the table are parsed (the name in brackets or bare).
        if !batch.contains(&table.name) {
            continue;
        }
        // Read as introspection read it (a batch it could not read is listed there).
        let Ok(stmts) = parse(&without_computed_columns(&without_storage_clauses(&batch)).0) else { continue };
        for s in stmts {
            let Statement::Insert(ins) = &s else { continue };
            let TableObject::TableName(n) = &ins.table else { continue };
            if last_name(n) != table.name {
                continue;
            }
            let Some(src) = &ins.source else { return Err(format!("table {}: INSERT without VALUES", table.name)) };
            let SetExpr::Values(values) = src.body.as_ref() else {
                return Err(format!("table {}: INSERT … SELECT is not data a script carries", table.name));
            };
            // Where each table column comes from in this INSERT.
            let listed: Vec<String> = ins.columns.iter().map(last_name).collect();
            let at: Vec<Option<usize>> = if listed.is_empty() {
                (0..table.columns.len()).map(Some).collect()
            } else {
                for l in &listed {
                    if table.column(l).is_none() {
                        return Err(format!("table {}: INSERT names column {l}, which the table does not have", table.name));
                    }
                }
                table.columns.iter().map(|c| listed.iter().position(|l| l.eq_ignore_ascii_case(&c.name))).collect()
            };
            for (ri, row) in values.rows.iter().enumerate() {
                let mut out = Vec::with_capacity(table.columns.len());
                for (ci, c) in table.columns.iter().enumerate() {
                    let v = match at[ci] {
                        Some(i) => {
                            let e = row.get(i).ok_or_else(|| format!("table {}: a row with fewer values than columns", table.name))?;
                            types::value(e, &c.data_type).map_err(|e| format!("table {}, column {}, row {} of its INSERT: {e}", table.name, c.name, ri + 1))?
                        }
                        None => omitted(table, c)?,
                    };
                    out.push(v);
                }
                rows.push(out);
                if rows.len() >= per_batch {
                    sent += rows.len() as u64;
                    if !send(std::mem::take(&mut rows)) {
                        return Ok(sent);
                    }
                }
            }
        }
    }
    sent += rows.len() as u64;
    if !rows.is_empty() {
        send(rows);
    }
    Ok(sent)
}

/// A column an INSERT leaves out: its literal default, else NULL where it may be NULL.
fn omitted(t: &Table, c: &Column) -> Result<Value, String> {
    match &c.default {
        Some(DefaultValue::Literal(l)) => {
            let e = if matches!(c.data_type, DataType::Int { .. } | DataType::Decimal { .. } | DataType::Double { .. } | DataType::Bool) {
                l.to_string()
            } else {
                format!("'{}'", l.replace('\'', "''"))
            };
            let expr = Parser::new(&MsSqlDialect {}).try_with_sql(&e).and_then(|mut p| p.parse_expr()).map_err(|e| e.to_string())?;
            types::value(&expr, &c.data_type)
        }
        Some(DefaultValue::Null) | None if c.nullable => Ok(Value::Null),
        _ => Err(format!(
            "table {}, column {}: an INSERT leaves it out and its default ({}) is not a literal ferry can evaluate",
            t.name,
            c.name,
            c.default.as_ref().map(|d| format!("{d:?}")).unwrap_or_else(|| "none, NOT NULL".into())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "SET NOCOUNT ON;\nGO\nUSE [Shop];\nGO\nCREATE TABLE [dbo].[Item] (\n  [Id] INT NOT NULL IDENTITY(1,1),\n  [Name] NVARCHAR(40) NOT NULL,\n  [Price] NUMERIC(8,2) NOT NULL DEFAULT ((0)),\n  [Added] DATETIME NOT NULL DEFAULT (getdate()),\n  CONSTRAINT [PK_Item] PRIMARY KEY CLUSTERED ([Id]),\n  CONSTRAINT [CK_Price] CHECK ([Price] >= 0)\n);\nGO\nCREATE TABLE [dbo].[Tag] ([ItemId] INT NOT NULL, [Tag] NVARCHAR(10));\nGO\nALTER TABLE [dbo].[Tag] ADD CONSTRAINT [FK_Tag_Item] FOREIGN KEY ([ItemId]) REFERENCES [dbo].[Item] ([Id]) ON DELETE CASCADE;\nGO\nCREATE INDEX [IX_Tag] ON [dbo].[Tag] ([Tag]);\nGO\nCREATE VIEW [dbo].[Cheap] AS SELECT [Name] FROM [dbo].[Item] WHERE [Price] < 1;\nGO\nEXEC sys.sp_addextendedproperty @name=N'MS_Description', @value=N'What we sell', @level0type=N'SCHEMA', @level0name=N'dbo', @level1type=N'TABLE', @level1name=N'Item';\nEXEC sp_addextendedproperty N'MS_Description', N'Shown to buyers', N'SCHEMA', N'dbo', N'TABLE', N'Item', N'COLUMN', N'Name';\nGO\nINSERT INTO [dbo].[Item] ([Id], [Name], [Price], [Added]) VALUES (1, N'Antônio''s', 0.99, '2009-01-01T00:00:00'), (2, N'b', 10, '2009-01-02 10:00:00.5');\nINSERT INTO [dbo].[Tag] ([ItemId]) VALUES (1);\nGO\n";

    #[test]
    fn a_script_becomes_tables_keys_indexes_and_listed_objects() {
        let s = read_schema(SCRIPT, "file", &|_| true).unwrap();
        assert_eq!(s.name, "Shop");
        let item = s.table("Item").unwrap();
        assert_eq!(item.primary_key.as_ref().unwrap().columns, vec!["Id"]);
        assert!(item.columns[0].auto_increment);
        assert_eq!(item.columns[2].default, Some(DefaultValue::Literal("0".into())));
        assert_eq!(item.columns[3].default, Some(DefaultValue::CurrentTimestamp));
        assert_eq!(item.checks[0].expression, "\"Price\" >= 0");
        let len = read_schema("CREATE TABLE [T] ([Name] NVARCHAR(10) NOT NULL, CONSTRAINT [CK_T] CHECK (len([Name]) > 0));\nGO\n", "f", &|_| true).unwrap();
        assert_eq!(len.tables[0].checks[0].expression, "length(rtrim(\"Name\")) > 0", "T-SQL functions translated");
        assert_eq!(item.estimated_rows, 2);
        assert_eq!(
            (item.comment.as_deref(), item.columns[1].comment.as_deref()),
            (Some("What we sell"), Some("Shown to buyers")),
            "MS_Description, named and positional"
        );
        let tag = s.table("Tag").unwrap();
        assert_eq!((tag.foreign_keys[0].ref_table.as_str(), tag.foreign_keys[0].on_delete), ("Item", FkAction::Cascade));
        assert_eq!(tag.indexes[0].name, "IX_Tag");
        assert_eq!(s.objects.len(), 1, "{:?}", s.objects);
        assert_eq!((s.objects[0].kind, s.objects[0].name.as_str()), (ObjectKind::View, "Cheap"));
    }

    /// What SSMS "Generate Scripts" writes, data included.
    const SSMS: &str = "USE [Shop]\nGO\n/****** Object:  Table [dbo].[Item] ******/\nSET ANSI_NULLS ON\nGO\nCREATE TABLE [dbo].[Item](\n\t[Id] [int] IDENTITY(1,1) NOT NULL,\n\t[Name] [nvarchar](40) NOT NULL,\n\t[Price] [numeric](10, 2) NULL,\n\t[Added] [datetime] NULL,\n\t[Body] [nvarchar](max) NULL,\n CONSTRAINT [PK_Item] PRIMARY KEY CLUSTERED \n(\n\t[Id] ASC\n)WITH (PAD_INDEX = OFF, STATISTICS_NORECOMPUTE = OFF, IGNORE_DUP_KEY = OFF) ON [PRIMARY]\n) ON [PRIMARY] TEXTIMAGE_ON [PRIMARY]\nGO\nCREATE TABLE [dbo].[Tag]([ItemId] [int] NOT NULL) ON [PRIMARY]\nGO\nSET IDENTITY_INSERT [dbo].[Item] ON \nGO\nINSERT [dbo].[Item] ([Id], [Name], [Price], [Added], [Body]) VALUES (1, N'a', CAST(0.99 AS Numeric(10, 2)), CAST(N'2009-01-01T00:00:00.000' AS DateTime), NULL)\nGO\nSET IDENTITY_INSERT [dbo].[Item] OFF\nGO\nALTER TABLE [dbo].[Tag]  WITH CHECK ADD  CONSTRAINT [FK_Tag_Item] FOREIGN KEY([ItemId])\nREFERENCES [dbo].[Item] ([Id])\nGO\nALTER TABLE [dbo].[Tag] CHECK CONSTRAINT [FK_Tag_Item]\nGO\n";

    #[test]
    fn an_ssms_generated_script_reads_whole() {
        let s = read_schema(SSMS, "f", &|_| true).unwrap();
        assert!(s.objects.is_empty(), "nothing left unread: {:?}", s.objects);
        let item = s.table("Item").unwrap();
        let types: Vec<&DataType> = item.columns.iter().map(|c| &c.data_type).collect();
        assert_eq!(
            types,
            [
                &DataType::Int { bytes: 4, unsigned: false, display_width: None },
                &DataType::Varchar { len: 40 },
                &DataType::Decimal { precision: 10, scale: 2, unsigned: false },
                &DataType::DateTime { fsp: 3 },
                &DataType::Text { max_bytes: 2_147_483_647 },
            ]
        );
        assert!(item.columns[0].auto_increment);
        assert_eq!(s.table("Tag").unwrap().foreign_keys[0].ref_table, "Item");
        let mut rows = Vec::new();
        read_rows(SSMS, item, 10, |b| {
            rows.extend(b);
            true
        })
        .unwrap();
        assert_eq!(rows[0][2], Value::Decimal("0.99".into()), "CAST(0.99 AS Numeric(10, 2)) is 0.99");
        assert_eq!(ferry_model::canonical::canonical(&rows[0][3]).unwrap(), "2009-01-01 00:00:00");
    }

    #[test]
    fn unique_constraints_of_a_script_become_unique_indexes() {
        let script = "CREATE TABLE [dbo].[P] ([Id] INT NOT NULL PRIMARY KEY, [Code] NVARCHAR(10) NOT NULL UNIQUE, [Sku] INT NOT NULL, CONSTRAINT [UQ_P_Sku] UNIQUE ([Sku]));\nGO\n";
        let s = read_schema(script, "f", &|_| true).unwrap();
        let t = s.table("P").unwrap();
        let unique: Vec<(&str, Vec<&str>)> =
            t.indexes.iter().filter(|i| i.unique).map(|i| (i.name.as_str(), i.columns.iter().map(|c| c.name.as_str()).collect())).collect();
        assert_eq!(unique, [("UQ_P_Code", vec!["Code"]), ("UQ_P_Sku", vec!["Sku"])]);
        assert_eq!(t.unique_keys.len(), 2);
    }

    #[test]
    fn computed_columns_are_listed_and_the_table_still_read() {
        let script = "CREATE TABLE [dbo].[Line] ([Qty] INT NOT NULL, [Total] AS ([Qty] * [Price]) PERSISTED, [Price] MONEY NOT NULL, [Twice] AS ([Qty]*(2)));\nGO\nINSERT INTO [dbo].[Line] ([Qty], [Price]) VALUES (2, 1.5);\nGO\n";
        let s = read_schema(script, "f", &|_| true).unwrap();
        let cols: Vec<&str> = s.table("Line").unwrap().columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(cols, ["Qty", "Price"]);
        let listed: Vec<&str> = s.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(listed, ["computed column Line.Total", "computed column Line.Twice"]);
        assert!(s.objects[0].sql.ends_with("ADD Total AS ([Qty] * [Price]) PERSISTED"), "{}", s.objects[0].sql);
    }

    #[test]
    fn rows_come_typed_with_omitted_columns_filled_or_refused() {
        let s = read_schema(SCRIPT, "file", &|_| true).unwrap();
        let mut rows = Vec::new();
        assert_eq!(
            read_rows(SCRIPT, s.table("Item").unwrap(), 10, |b| {
                rows.extend(b);
                true
            })
            .unwrap(),
            2
        );
        assert_eq!(rows[0][1], Value::Text("Antônio's".into()));
        assert_eq!(rows[1][2], Value::Decimal("10".into()));
        assert_eq!(ferry_model::canonical::canonical(&rows[1][3]).unwrap(), "2009-01-02 10:00:00.5");
        let mut tags = Vec::new();
        read_rows(SCRIPT, s.table("Tag").unwrap(), 10, |b| {
            tags.extend(b);
            true
        })
        .unwrap();
        assert_eq!(tags, vec![vec![Value::Int(1), Value::Null]], "the left-out nullable column is NULL");
        let bad = SCRIPT.replace("(1, N'Antônio''s', 0.99", "(1, N'x', 'abc'");
        let err = read_rows(&bad, s.table("Item").unwrap(), 10, |_| true).unwrap_err();
        assert!(err.contains("table Item, column Price, row 1"), "{err}");
    }
}
