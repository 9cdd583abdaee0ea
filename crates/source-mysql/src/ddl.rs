//! MySQL DDL from the binlog, parsed (sqlparser, MySQL dialect) into neutral [`SchemaChange`]s.
//!
//! What is understood: `ALTER TABLE` ADD / DROP / RENAME / MODIFY / CHANGE / ALTER COLUMN (SET
//! and DROP DEFAULT), ADD / DROP INDEX and UNIQUE, RENAME TO; `CREATE TABLE` (columns, keys,
//! indexes, `LIKE`); `CREATE` / `DROP INDEX`; `DROP TABLE`; `RENAME TABLE`; `TRUNCATE`. Foreign
//! keys, CHECKs and table options change no row ferry copies: they come back as
//! [`SchemaChange::NoRowChange`]. Anything else — primary key changes, partitioning, `CONVERT TO
//! CHARACTER SET`, a statement the parser cannot read — comes back as
//! [`SchemaChange::Unsupported`] with the reason, so the engine stops that table instead of
//! guessing. Column types are read the way introspection reads `information_schema`
//! ([`crate::types::data_type`]), so a column added by DDL maps exactly like one that was there.

use crate::types::ColumnTypeInfo;
use ferry_model::cdc::SchemaChange;
use ferry_model::{AlterOp, Column, ColumnPosition, DefaultValue, Index, IndexColumn, IndexKind, Key, Table};
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, CreateTable, CreateTableLikeKind, Expr, MySQLColumnPosition, ObjectName, ObjectType,
    OrderBySort, RenameTableNameKind, Statement, TableConstraint, Value as SqlValue,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use std::collections::HashMap;

/// What `sql` does, per table it names (unquoted source names, without database qualifier).
/// `tables` is ferry's current model of the source's tables (for `LIKE`, ALTER COLUMN … DEFAULT
/// and the table's character set); `default_charset` is the database's.
pub fn parse(sql: &str, tables: &HashMap<String, Table>, default_charset: Option<&str>) -> Vec<(Option<String>, SchemaChange)> {
    let statements = match Parser::parse_sql(&MySqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => {
            let table = table_of(sql);
            let change = match (head(sql).as_str(), &table) {
                // Statements that never change a table's rows or shape.
                ("ANALYZE" | "OPTIMIZE" | "REPAIR" | "CHECK" | "GRANT" | "REVOKE" | "FLUSH", _) => {
                    SchemaChange::NoRowChange(format!("`{}` changes no rows", head(sql)))
                }
                // Routines, triggers, views, events: no table of ferry's changes shape.
                (_, None) => SchemaChange::NoRowChange(format!("`{}` names no table", sql.split_whitespace().take(3).collect::<Vec<_>>().join(" "))),
                _ => SchemaChange::Unsupported(format!("ferry cannot parse this DDL ({e})")),
            };
            return vec![(table, change)];
        }
    };
    let mut out = Vec::new();
    for st in statements {
        out.extend(statement(st, tables, default_charset));
    }
    out
}

fn head(sql: &str) -> String {
    sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase()
}

fn last_name(n: &ObjectName) -> String {
    n.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default()
}

fn statement(st: Statement, tables: &HashMap<String, Table>, default_charset: Option<&str>) -> Vec<(Option<String>, SchemaChange)> {
    match st {
        Statement::Truncate(t) => t.table_names.iter().map(|n| (Some(last_name(&n.name)), SchemaChange::Truncate)).collect(),
        Statement::Drop { object_type: ObjectType::Table, names, temporary, .. } => {
            if temporary {
                return vec![];
            }
            names.iter().map(|n| (Some(last_name(n)), SchemaChange::DropTable)).collect()
        }
        Statement::Drop { object_type: ObjectType::Index, names, table: Some(table), .. } => {
            let ops = names.iter().map(|n| AlterOp::DropIndex(last_name(n))).collect();
            vec![(Some(last_name(&table)), SchemaChange::Alter(ops))]
        }
        Statement::RenameTable(renames) => {
            renames.iter().map(|r| (Some(last_name(&r.old_name)), SchemaChange::RenameTable { to: last_name(&r.new_name) })).collect()
        }
        Statement::CreateIndex(ci) => {
            let table = last_name(&ci.table_name);
            let name = ci.name.as_ref().map(last_name).unwrap_or_default();
            let change = match index_columns(&ci.columns) {
                Ok(columns) => SchemaChange::Alter(vec![AlterOp::AddIndex(Index {
                    name,
                    columns,
                    unique: ci.unique,
                    kind: IndexKind::BTree,
                    comment: None,
                    filter: None,
                    include: vec![],
                })]),
                Err(e) => SchemaChange::NoRowChange(e),
            };
            vec![(Some(table), change)]
        }
        Statement::CreateTable(ct) => {
            let name = last_name(&ct.name);
            if ct.temporary {
                return vec![];
            }
            if ct.if_not_exists && tables.contains_key(&name) {
                return vec![(Some(name), SchemaChange::NoRowChange("CREATE TABLE IF NOT EXISTS of a table that exists".into()))];
            }
            let change =
                create_table(&name, &ct, tables, default_charset).map(|t| SchemaChange::CreateTable(Box::new(t))).unwrap_or_else(SchemaChange::Unsupported);
            vec![(Some(name), change)]
        }
        Statement::AlterTable(at) => {
            let name = last_name(&at.name);
            let change = alter_table(tables.get(&name), &at.operations, default_charset);
            vec![(Some(name), change)]
        }
        other => {
            let text = other.to_string();
            vec![(table_of(&text), SchemaChange::NoRowChange(format!("`{}` changes no table ferry copies", text.chars().take(60).collect::<String>())))]
        }
    }
}

fn alter_table(table: Option<&Table>, ops: &[AlterTableOperation], default_charset: Option<&str>) -> SchemaChange {
    let table_charset = table.and_then(|t| t.columns.iter().find_map(|c| c.charset.clone())).or(default_charset.map(str::to_string));
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let position = |p: &Option<MySQLColumnPosition>| match p {
        None => ColumnPosition::Unchanged,
        Some(MySQLColumnPosition::First) => ColumnPosition::First,
        Some(MySQLColumnPosition::After(c)) => ColumnPosition::After(c.value.clone()),
    };
    for op in ops {
        match op {
            AlterTableOperation::AddColumn { column_def, column_position, if_not_exists, .. } => {
                if *if_not_exists && table.and_then(|t| t.column(&column_def.name.value)).is_some() {
                    continue;
                }
                match column(column_def, table_charset.as_deref()) {
                    Ok((c, _)) => out.push(AlterOp::AddColumn { column: c, position: position(column_position) }),
                    Err(e) => return SchemaChange::Unsupported(e),
                }
            }
            AlterTableOperation::DropColumn { column_names, .. } => out.extend(column_names.iter().map(|c| AlterOp::DropColumn(c.value.clone()))),
            AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                out.push(AlterOp::RenameColumn { from: old_column_name.value.clone(), to: new_column_name.value.clone() })
            }
            AlterTableOperation::ChangeColumn { old_name, new_name, data_type, options, column_position } => {
                let def = ColumnDef {
                    name: new_name.clone(),
                    data_type: data_type.clone(),
                    options: options.iter().map(|o| sqlparser::ast::ColumnOptionDef { name: None, option: o.clone() }).collect(),
                };
                match column(&def, table_charset.as_deref()) {
                    Ok((c, _)) => out.push(AlterOp::ModifyColumn { name: old_name.value.clone(), column: c, position: position(column_position) }),
                    Err(e) => return SchemaChange::Unsupported(e),
                }
            }
            AlterTableOperation::ModifyColumn { col_name, data_type, options, column_position } => {
                let def = ColumnDef {
                    name: col_name.clone(),
                    data_type: data_type.clone(),
                    options: options.iter().map(|o| sqlparser::ast::ColumnOptionDef { name: None, option: o.clone() }).collect(),
                };
                match column(&def, table_charset.as_deref()) {
                    Ok((c, _)) => out.push(AlterOp::ModifyColumn { name: col_name.value.clone(), column: c, position: position(column_position) }),
                    Err(e) => return SchemaChange::Unsupported(e),
                }
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let Some(mut c) = table.and_then(|t| t.column(&column_name.value)).cloned() else {
                    return SchemaChange::Unsupported(format!("ALTER COLUMN of `{}`, which is not in ferry's model of the table", column_name.value));
                };
                match op {
                    AlterColumnOperation::SetDefault { value } => c.default = Some(crate::types::neutral_default(default_of(value), &c.data_type)),
                    AlterColumnOperation::DropDefault => c.default = None,
                    other => return SchemaChange::Unsupported(format!("ALTER COLUMN {other} is not translated")),
                }
                out.push(AlterOp::ModifyColumn { name: column_name.value.clone(), column: c, position: ColumnPosition::Unchanged });
            }
            AlterTableOperation::AddConstraint { constraint, .. } => match constraint {
                TableConstraint::Index(ix) => match index_columns(&ix.columns) {
                    Ok(columns) => out.push(AlterOp::AddIndex(Index {
                        name: ix.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| columns[0].name.clone()),
                        columns,
                        unique: false,
                        kind: IndexKind::BTree,
                        comment: None,
                        filter: None,
                        include: vec![],
                    })),
                    Err(e) => skipped.push(e),
                },
                TableConstraint::Unique(u) => match index_columns(&u.columns) {
                    Ok(columns) => out.push(AlterOp::AddIndex(Index {
                        name: u.index_name.as_ref().or(u.name.as_ref()).map(|n| n.value.clone()).unwrap_or_else(|| columns[0].name.clone()),
                        columns,
                        unique: true,
                        kind: IndexKind::BTree,
                        comment: None,
                        filter: None,
                        include: vec![],
                    })),
                    Err(e) => return SchemaChange::Unsupported(format!("a unique key ferry cannot translate ({e})")),
                },
                TableConstraint::PrimaryKey(_) => {
                    return SchemaChange::Unsupported("a primary key change (sync applies rows by their key): run `ferry migrate` for the table again".into())
                }
                other => skipped.push(format!("`{}` not created on the target", other.to_string().chars().take(80).collect::<String>())),
            },
            AlterTableOperation::DropIndex { name } => out.push(AlterOp::DropIndex(name.value.clone())),
            AlterTableOperation::DropPrimaryKey { .. } => {
                return SchemaChange::Unsupported("a primary key change (sync applies rows by their key): run `ferry migrate` for the table again".into())
            }
            AlterTableOperation::DropForeignKey { .. } | AlterTableOperation::DropConstraint { .. } => {
                skipped.push(format!("`{op}` not applied to the target"))
            }
            AlterTableOperation::RenameTable { table_name } => {
                if ops.len() > 1 {
                    return SchemaChange::Unsupported("RENAME TO together with other changes in one ALTER TABLE".into());
                }
                let (RenameTableNameKind::As(n) | RenameTableNameKind::To(n)) = table_name;
                return SchemaChange::RenameTable { to: last_name(n) };
            }
            other => return SchemaChange::Unsupported(format!("`{other}` is not translated")),
        }
    }
    if out.is_empty() {
        return SchemaChange::NoRowChange(if skipped.is_empty() { "nothing ferry copies changed".into() } else { skipped.join("; ") });
    }
    SchemaChange::Alter(out)
}

fn create_table(name: &str, ct: &CreateTable, tables: &HashMap<String, Table>, default_charset: Option<&str>) -> Result<Table, String> {
    if let Some(like) = &ct.like {
        let (CreateTableLikeKind::Parenthesized(l) | CreateTableLikeKind::Plain(l)) = like;
        let other = last_name(&l.name);
        let t = tables.get(&other).ok_or_else(|| format!("CREATE TABLE … LIKE `{other}`, a table ferry does not sync: its shape is unknown"))?;
        return Ok(Table { name: name.to_string(), auto_increment: None, estimated_rows: 0, foreign_keys: vec![], ..t.clone() });
    }
    if ct.query.is_some() {
        return Err("CREATE TABLE … SELECT: the new table's column types are not in the statement".into());
    }
    let text = ct.to_string();
    let charset = table_charset(&text).or(default_charset.map(str::to_string));
    let mut t = Table { name: name.to_string(), ..Default::default() };
    for def in &ct.columns {
        let (c, key) = column(def, charset.as_deref())?;
        match key {
            Some(true) => t.primary_key = Some(Key { name: "PRIMARY".into(), columns: vec![c.name.clone()] }),
            Some(false) => {
                t.unique_keys.push(Key { name: c.name.clone(), columns: vec![c.name.clone()] });
                t.indexes.push(Index {
                    name: c.name.clone(),
                    columns: vec![IndexColumn { name: c.name.clone(), prefix: None, descending: false }],
                    unique: true,
                    kind: IndexKind::BTree,
                    comment: None,
                    filter: None,
                    include: vec![],
                });
            }
            None => {}
        }
        t.columns.push(c);
    }
    for con in &ct.constraints {
        match con {
            TableConstraint::PrimaryKey(pk) => {
                let cols = index_columns(&pk.columns)?;
                for c in &cols {
                    if let Some(col) = t.columns.iter_mut().find(|x| x.name == c.name) {
                        col.nullable = false;
                    }
                }
                t.primary_key = Some(Key { name: "PRIMARY".into(), columns: cols.into_iter().map(|c| c.name).collect() });
            }
            TableConstraint::Unique(u) => {
                let columns = index_columns(&u.columns)?;
                let name = u.index_name.as_ref().or(u.name.as_ref()).map(|n| n.value.clone()).unwrap_or_else(|| columns[0].name.clone());
                if columns.iter().all(|c| c.prefix.is_none()) {
                    t.unique_keys.push(Key { name: name.clone(), columns: columns.iter().map(|c| c.name.clone()).collect() });
                }
                t.indexes.push(Index { name, columns, unique: true, kind: IndexKind::BTree, comment: None, filter: None, include: vec![] });
            }
            TableConstraint::Index(ix) => {
                if let Ok(columns) = index_columns(&ix.columns) {
                    let name = ix.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| columns[0].name.clone());
                    t.indexes.push(Index { name, columns, unique: false, kind: IndexKind::BTree, comment: None, filter: None, include: vec![] });
                }
            }
            // Foreign keys, CHECKs and FULLTEXT/SPATIAL indexes of a table created during sync
            // are not created on the target (its rows arrive all the same).
            _ => {}
        }
    }
    if t.columns.is_empty() {
        return Err("CREATE TABLE without columns".into());
    }
    Ok(t)
}

/// `DEFAULT CHARSET=x` / `CHARACTER SET x` among a CREATE TABLE's table options.
fn table_charset(create: &str) -> Option<String> {
    let tail = &create[create.rfind(')')?..];
    let lower = tail.to_ascii_lowercase();
    let at = lower.find("charset").map(|i| i + "charset".len()).or_else(|| lower.find("character set").map(|i| i + "character set".len()))?;
    let rest = tail[at..].trim_start().trim_start_matches('=').trim_start();
    let cs: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!cs.is_empty()).then_some(cs.to_ascii_lowercase())
}

/// Index parts: plain columns, `col(n)` prefixes, DESC. Expressions are refused (Err says so).
fn index_columns(cols: &[sqlparser::ast::IndexColumn]) -> Result<Vec<IndexColumn>, String> {
    cols.iter()
        .map(|c| {
            let descending = matches!(c.column.options.sort, Some(OrderBySort::Desc));
            match &c.column.expr {
                Expr::Identifier(i) => Ok(IndexColumn { name: i.value.clone(), prefix: None, descending }),
                Expr::Function(f) => {
                    let text = f.args.to_string();
                    let n: u32 = text.trim_matches(|c| c == '(' || c == ')').trim().parse().map_err(|_| format!("index on an expression ({f})"))?;
                    Ok(IndexColumn { name: last_name(&f.name), prefix: Some(n), descending })
                }
                other => Err(format!("index on an expression ({other})")),
            }
        })
        .collect()
}

/// A column definition as introspection would have read it, and whether it declares itself the
/// primary key (Some(true)) or unique (Some(false)).
fn column(def: &ColumnDef, table_charset: Option<&str>) -> Result<(Column, Option<bool>), String> {
    let type_text = def.data_type.to_string();
    let dt = type_of(&type_text);
    let mut c = Column::new(def.name.value.clone(), dt, type_text.to_ascii_lowercase());
    let mut key = None;
    for o in &def.options {
        match &o.option {
            ColumnOption::Null => c.nullable = true,
            ColumnOption::NotNull => c.nullable = false,
            ColumnOption::Default(e) => c.default = Some(crate::types::neutral_default(default_of(e), &c.data_type)),
            ColumnOption::PrimaryKey(_) => {
                c.nullable = false;
                key = Some(true);
            }
            ColumnOption::Unique(_) => key = Some(false),
            ColumnOption::CharacterSet(cs) => c.charset = Some(last_name(cs).to_ascii_lowercase()),
            ColumnOption::Collation(co) => c.collation = Some(last_name(co).to_ascii_lowercase()),
            ColumnOption::Comment(t) => c.comment = Some(t.clone()),
            ColumnOption::OnUpdate(e) => c.on_update_current_timestamp = is_now(&e.to_string()),
            ColumnOption::Generated { generation_expr, .. } => c.generated = Some(generation_expr.as_ref().map(|e| e.to_string()).unwrap_or_default()),
            ColumnOption::DialectSpecific(tokens) if tokens.iter().any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) => {
                c.auto_increment = true;
            }
            _ => {}
        }
    }
    // Every MySQL character set's default collation is case-insensitive (`*_ci`).
    c.case_insensitive = c.data_type.is_textual() && c.collation.as_deref().is_none_or(|co| crate::types::case_insensitive(Some(co)));
    if c.data_type.is_textual() && c.charset.is_none() {
        c.charset = c.collation.as_deref().and_then(|co| co.split('_').next()).map(str::to_string).or(table_charset.map(str::to_string));
    }
    if let ferry_model::DataType::Unsupported { name } = &c.data_type {
        return Err(format!("column `{}` has type {name}, which ferry does not know", c.name));
    }
    Ok((c, key))
}

fn is_now(s: &str) -> bool {
    let l = s.trim().to_ascii_lowercase();
    l.starts_with("current_timestamp") || l.starts_with("now(") || l.starts_with("localtimestamp")
}

fn default_of(e: &Expr) -> DefaultValue {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Null => DefaultValue::Null,
            SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => DefaultValue::Literal(s.clone()),
            SqlValue::Number(n, _) => DefaultValue::Literal(n.to_string()),
            SqlValue::Boolean(b) => DefaultValue::Literal(if *b { "1" } else { "0" }.into()),
            other => DefaultValue::Literal(other.to_string()),
        },
        Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr } => match default_of(expr) {
            DefaultValue::Literal(n) => DefaultValue::Literal(format!("-{n}")),
            _ => DefaultValue::Expression(e.to_string()),
        },
        other if is_now(&other.to_string()) => DefaultValue::CurrentTimestamp,
        other => DefaultValue::Expression(other.to_string()),
    }
}

/// A type as the DDL spells it (`INT(11) UNSIGNED`, `VARCHAR(20)`, `ENUM('a','b')`) read through
/// the same mapping as `information_schema.COLUMNS`.
fn type_of(text: &str) -> ferry_model::DataType {
    let lower = text.trim().to_ascii_lowercase();
    let word: String = lower.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let args: Vec<u64> = match (lower.find('('), lower.find(')')) {
        (Some(o), Some(c)) if o < c && !matches!(word.as_str(), "enum" | "set") => lower[o + 1..c].split(',').filter_map(|a| a.trim().parse().ok()).collect(),
        _ => vec![],
    };
    let arg = |i: usize| args.get(i).copied();
    let (data_type, column_type) = match word.as_str() {
        // BOOL is TINYINT(1) in MySQL; INTEGER is INT; DEC and FIXED are DECIMAL.
        "bool" | "boolean" => ("tinyint", "tinyint(1)".to_string()),
        "integer" => ("int", lower.replacen("integer", "int", 1)),
        "dec" | "fixed" => ("decimal", lower.clone()),
        "character" if lower.contains("varying") => ("varchar", lower.clone()),
        "character" => ("char", lower.clone()),
        "double" => ("double", lower.clone()),
        w => (w, lower.clone()),
    };
    let text_len = |w: &str| -> Option<u64> {
        Some(match w {
            "tinytext" | "tinyblob" => 255,
            "text" | "blob" => 65_535,
            "mediumtext" | "mediumblob" => 16_777_215,
            "longtext" | "longblob" => 4_294_967_295,
            _ => return None,
        })
    };
    let info = ColumnTypeInfo {
        data_type,
        column_type: &column_type,
        char_max_len: match data_type {
            "char" | "binary" => Some(arg(0).unwrap_or(1)),
            "varchar" | "varbinary" => arg(0),
            _ => None,
        },
        octet_len: text_len(data_type),
        precision: match data_type {
            "decimal" | "numeric" => Some(arg(0).unwrap_or(10)),
            "bit" => Some(arg(0).unwrap_or(1)),
            _ => None,
        },
        scale: match data_type {
            "decimal" | "numeric" => Some(arg(1).unwrap_or(0)),
            _ => None,
        },
        datetime_precision: match data_type {
            "datetime" | "timestamp" | "time" => Some(arg(0).unwrap_or(0)),
            _ => None,
        },
    };
    crate::types::data_type(&info)
}

/// The (unquoted) name of the first table `sql` changes, without its database qualifier.
pub fn table_of(sql: &str) -> Option<String> {
    let words = tokens(sql);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = |i: usize| upper.get(i).map(String::as_str);
    // Skip the options MySQL allows before TABLE (ALTER ONLINE IGNORE TABLE, CREATE TEMPORARY …).
    let mut i = match at(0)? {
        "ALTER" | "CREATE" | "DROP" | "RENAME" | "TRUNCATE" => 1,
        _ => return None,
    };
    while matches!(at(i), Some("ONLINE" | "IGNORE" | "TEMPORARY" | "OR" | "REPLACE")) {
        i += 1;
    }
    match at(i) {
        Some("TABLE") => i += 1,
        _ if at(0) == Some("TRUNCATE") => {}
        _ => return None,
    }
    while matches!(at(i), Some("IF" | "NOT" | "EXISTS")) {
        i += 1;
    }
    let name = words.get(i)?;
    // `db`.`t` arrives as three tokens: db . t
    let name = if words.get(i + 1).map(String::as_str) == Some(".") { words.get(i + 2)? } else { name };
    Some(name.clone())
}

/// Words, backquoted identifiers (unquoted) and single punctuation characters.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '`' {
            chars.next();
            let mut s = String::new();
            while let Some(c) = chars.next() {
                if c == '`' {
                    if chars.peek() == Some(&'`') {
                        chars.next();
                        s.push('`');
                        continue;
                    }
                    break;
                }
                s.push(c);
            }
            out.push(s);
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '$' {
                    s.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(s);
        } else if c == '/' && sql.contains("/*") {
            // Comments: skip /* … */ as a whole.
            chars.next();
            if chars.peek() == Some(&'*') {
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            } else {
                out.push("/".into());
            }
        } else {
            chars.next();
            out.push(c.to_string());
        }
        if out.len() > 12 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::DataType;

    fn model() -> HashMap<String, Table> {
        let t = create_table_sql("CREATE TABLE a (id INT NOT NULL PRIMARY KEY, v VARCHAR(20) CHARACTER SET latin1, n INT DEFAULT 3)");
        HashMap::from([("a".to_string(), t)])
    }

    fn create_table_sql(sql: &str) -> Table {
        match parse(sql, &HashMap::new(), Some("utf8mb4")).remove(0).1 {
            SchemaChange::CreateTable(t) => *t,
            other => panic!("{other:?}"),
        }
    }

    fn one(sql: &str) -> (Option<String>, SchemaChange) {
        let mut v = parse(sql, &model(), Some("utf8mb4"));
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    fn ops(sql: &str) -> Vec<AlterOp> {
        match one(sql).1 {
            SchemaChange::Alter(ops) => ops,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn create_table_reads_like_introspection() {
        let t = create_table_sql(
            "CREATE TABLE `n` (`id` bigint(20) unsigned NOT NULL AUTO_INCREMENT, `name` varchar(40) NOT NULL DEFAULT 'x',              price decimal(8,2) DEFAULT NULL, at datetime(6) DEFAULT current_timestamp(6) ON UPDATE current_timestamp(6),              kind enum('a','b''c') NOT NULL, flag tinyint(1) DEFAULT 0, body mediumtext, b BOOL,              PRIMARY KEY (`id`), UNIQUE KEY `u_name` (`name`), KEY `i_at` (`at`, `name`(10))) ENGINE=InnoDB DEFAULT CHARSET=latin1",
        );
        assert_eq!(t.name, "n");
        let c = |n: &str| t.column(n).unwrap().clone();
        assert_eq!(c("id").data_type, DataType::Int { bytes: 8, unsigned: true, display_width: Some(20) });
        assert!(c("id").auto_increment && !c("id").nullable);
        assert_eq!(c("name").data_type, DataType::Varchar { len: 40 });
        assert_eq!(c("name").default, Some(DefaultValue::Literal("x".into())));
        assert_eq!(c("name").charset.as_deref(), Some("latin1"), "the table's charset");
        assert_eq!(c("price").data_type, DataType::Decimal { precision: 8, scale: 2, unsigned: false });
        assert_eq!(c("price").default, Some(DefaultValue::Null));
        assert_eq!(c("at").data_type, DataType::DateTime { fsp: 6 });
        assert!(c("at").on_update_current_timestamp);
        assert_eq!(c("at").default, Some(DefaultValue::CurrentTimestamp));
        assert_eq!(c("kind").data_type, DataType::Enum { values: vec!["a".into(), "b'c".into()] });
        assert_eq!(c("flag").data_type, DataType::Int { bytes: 1, unsigned: false, display_width: Some(1) });
        assert_eq!(c("b").data_type, DataType::Int { bytes: 1, unsigned: false, display_width: Some(1) });
        assert_eq!(c("body").data_type, DataType::Text { max_bytes: 16_777_215 });
        assert_eq!(t.primary_key.as_ref().unwrap().columns, ["id"]);
        assert_eq!(t.unique_keys[0].columns, ["name"]);
        assert_eq!(t.indexes.len(), 2);
        assert_eq!(t.indexes[1].columns[1].prefix, Some(10));
    }

    #[test]
    fn alter_table_column_changes() {
        let o = ops("ALTER TABLE `a` ADD COLUMN `z` INT NOT NULL DEFAULT -1 AFTER id, DROP COLUMN n");
        assert!(
            matches!(&o[0], AlterOp::AddColumn { column, position: ColumnPosition::After(p) } if column.name == "z" && p == "id" && column.default == Some(DefaultValue::Literal("-1".into())) && !column.nullable)
        );
        assert_eq!(o[1], AlterOp::DropColumn("n".into()));
        assert_eq!(ops("ALTER TABLE a RENAME COLUMN v TO w"), [AlterOp::RenameColumn { from: "v".into(), to: "w".into() }]);
        let o = ops("ALTER TABLE a CHANGE v w VARCHAR(50) NOT NULL");
        assert!(
            matches!(&o[0], AlterOp::ModifyColumn { name, column, .. } if name == "v" && column.name == "w" && column.data_type == DataType::Varchar { len: 50 } && column.charset.as_deref() == Some("latin1"))
        );
        let o = ops("ALTER TABLE a MODIFY COLUMN n BIGINT FIRST");
        assert!(matches!(&o[0], AlterOp::ModifyColumn { name, position: ColumnPosition::First, .. } if name == "n"));
        let o = ops("ALTER TABLE a ALTER COLUMN n SET DEFAULT 5");
        assert!(
            matches!(&o[0], AlterOp::ModifyColumn { column, .. } if column.default == Some(DefaultValue::Literal("5".into())) && column.data_type == DataType::Int { bytes: 4, unsigned: false, display_width: None })
        );
        let o = ops("ALTER TABLE a ADD UNIQUE KEY uv (v), ADD INDEX (n)");
        assert!(matches!(&o[0], AlterOp::AddIndex(ix) if ix.unique && ix.name == "uv"));
        assert!(matches!(&o[1], AlterOp::AddIndex(ix) if !ix.unique && ix.name == "n"));
        assert_eq!(ops("DROP INDEX uv ON a"), [AlterOp::DropIndex("uv".into())]);
    }

    #[test]
    fn table_level_statements() {
        assert_eq!(one("TRUNCATE TABLE a"), (Some("a".into()), SchemaChange::Truncate));
        assert_eq!(one("DROP TABLE IF EXISTS `db`.`a` /* generated by server */"), (Some("a".into()), SchemaChange::DropTable));
        assert_eq!(one("ALTER TABLE a RENAME TO b"), (Some("a".into()), SchemaChange::RenameTable { to: "b".into() }));
        let v = parse("RENAME TABLE a TO b, c TO d", &model(), None);
        assert_eq!(v[1], (Some("c".into()), SchemaChange::RenameTable { to: "d".into() }));
        match one("CREATE TABLE b LIKE a").1 {
            SchemaChange::CreateTable(t) => assert_eq!((t.name.as_str(), t.columns.len()), ("b", 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_cannot_be_translated_says_why() {
        for sql in
            ["ALTER TABLE a DROP PRIMARY KEY", "ALTER TABLE a ADD PRIMARY KEY (v)", "CREATE TABLE c AS SELECT * FROM a", "ALTER TABLE a ADD COLUMN g INET6"]
        {
            assert!(matches!(one(sql).1, SchemaChange::Unsupported(_)), "{sql}: {:?}", one(sql));
        }
        assert!(matches!(one("ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (n) REFERENCES b (id)").1, SchemaChange::NoRowChange(_)));
        // An unparsable statement on a table stops it; one on no table (a routine) changes nothing.
        assert!(matches!(one("ALTER TABLE a ADD COLUMN q INT, ALGORITHM=INSTANT, LOCK=NONE WHATEVER").1, SchemaChange::Unsupported(_)));
        let routine = one("CREATE DEFINER=`root`@`localhost` PROCEDURE p(n INT)\nBEGIN\n SELECT 1;\nEND");
        assert!(routine.0.is_none() && matches!(routine.1, SchemaChange::NoRowChange(_)), "{routine:?}");
    }

    #[test]
    fn finds_the_table_of_unparsed_ddl() {
        assert_eq!(table_of("ALTER TABLE `t1` ADD COLUMN c INT").as_deref(), Some("t1"));
        assert_eq!(table_of("alter online table db.t2 drop c").as_deref(), Some("t2"));
        assert_eq!(table_of("CREATE TABLE IF NOT EXISTS `x``y` (id int)").as_deref(), Some("x`y"));
        assert_eq!(table_of("DROP TABLE IF EXISTS `db`.`t3` /* generated by server */").as_deref(), Some("t3"));
        assert_eq!(table_of("TRUNCATE t4").as_deref(), Some("t4"));
        assert_eq!(table_of("truncate table `t5`").as_deref(), Some("t5"));
        assert_eq!(table_of("RENAME TABLE a TO b").as_deref(), Some("a"));
        assert_eq!(table_of("CREATE INDEX i ON t (c)"), None);
        assert_eq!(table_of("GRANT ALL ON *.* TO x"), None);
    }
}
