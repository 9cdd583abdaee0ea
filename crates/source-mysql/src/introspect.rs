//! Schema introspection from `information_schema`: one query per kind of object for the whole
//! database (not per table), so a database of thousands of tables is read in a handful of round
//! trips. Everything is read in the text protocol and parsed here.

use crate::{error::map_error, quote_ident, quote_str, types, MySqlSource};
use ferry_model::*;
use mysql_async::{prelude::Queryable, Row, Value as MyValue};
use std::collections::BTreeMap;

fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        MyValue::NULL => None,
        MyValue::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        MyValue::Int(v) => Some(v.to_string()),
        MyValue::UInt(v) => Some(v.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn num(row: &Row, i: usize) -> Option<u64> {
    text(row, i).and_then(|s| s.trim().parse().ok())
}

async fn rows(conn: &mut mysql_async::Conn, sql: String) -> Result<Vec<Row>, SourceError> {
    conn.query(sql).await.map_err(|e| map_error(e).context("reading the source schema"))
}

pub async fn introspect(src: &MySqlSource, select: TableSelection<'_>) -> Result<Schema, SourceError> {
    let mut conn = src.conn().await?;
    let db = quote_str(&src.database);
    let dialect = &src.dialect;

    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for r in rows(
        &mut conn,
        format!(
            "SELECT TABLE_NAME, ENGINE, TABLE_ROWS, AUTO_INCREMENT, TABLE_COMMENT FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = {db} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME"
        ),
    )
    .await?
    {
        let name = text(&r, 0).unwrap_or_default();
        if !select(&name) {
            continue;
        }
        tables.insert(
            name.clone(),
            Table {
                name,
                engine: text(&r, 1),
                estimated_rows: num(&r, 2).unwrap_or(0),
                auto_increment: num(&r, 3),
                comment: text(&r, 4).filter(|c| !c.is_empty()),
                ..Default::default()
            },
        );
    }

    // MariaDB spells JSON as LONGTEXT + CHECK (json_valid(`col`)); other checks are kept.
    let mut json_columns: Vec<(String, String)> = Vec::new();
    for r in rows(
        &mut conn,
        format!(
            "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.TABLE_CONSTRAINTS tc \
             JOIN information_schema.CHECK_CONSTRAINTS cc ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA \
             AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME {} \
             WHERE tc.CONSTRAINT_SCHEMA = {db} AND tc.CONSTRAINT_TYPE = 'CHECK' ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME",
            if dialect.mariadb { "AND cc.TABLE_NAME = tc.TABLE_NAME" } else { "" }
        ),
    )
    .await?
    {
        let (Some(table), Some(name), Some(clause)) = (text(&r, 0), text(&r, 1), text(&r, 2)) else { continue };
        let Some(t) = tables.get_mut(&table) else { continue };
        let compact: String = clause.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        if dialect.json_is_checked_longtext() && compact.starts_with("json_valid(`") && compact.ends_with("`)") {
            let col = clause[clause.find('`').unwrap() + 1..clause.rfind('`').unwrap()].replace("``", "`");
            json_columns.push((table, col));
            continue;
        }
        t.checks.push(Check { name, expression: types::standard_quoting(&clause), not_valid: false });
    }

    // Views' output columns, described like a table's, for `verify --objects`.
    let mut view_columns: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for r in rows(&mut conn, format!("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {db}")).await? {
        view_columns.insert(text(&r, 0).unwrap_or_default(), Vec::new());
    }
    for r in rows(
        &mut conn,
        format!(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, \
             CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, \
             CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, COLUMN_COMMENT, GENERATION_EXPRESSION \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {db} ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ),
    )
    .await?
    {
        let table = text(&r, 0).unwrap_or_default();
        let json = |name: &str| json_columns.iter().any(|(tt, c)| *tt == table && c == name);
        if let Some(t) = tables.get_mut(&table) {
            t.columns.push(column_of(&r, dialect, &json));
        } else if let Some(cols) = view_columns.get_mut(&table) {
            cols.push(column_of(&r, dialect, &json));
        }
    }

    // Indexes, primary and unique keys.
    let mut idx: BTreeMap<(String, String), Index> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for r in rows(
        &mut conn,
        format!(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE, COLLATION, INDEX_COMMENT \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {db} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        ),
    )
    .await?
    {
        let table = text(&r, 0).unwrap_or_default();
        if !tables.contains_key(&table) {
            continue;
        }
        let name = text(&r, 1).unwrap_or_default();
        let key = (table.clone(), name.clone());
        let entry = idx.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            Index {
                name: name.clone(),
                columns: vec![],
                unique: text(&r, 2).as_deref() == Some("0"),
                kind: match text(&r, 5).unwrap_or_default().to_ascii_uppercase().as_str() {
                    "FULLTEXT" => IndexKind::FullText,
                    "SPATIAL" => IndexKind::Spatial,
                    "HASH" => IndexKind::Hash,
                    _ => IndexKind::BTree,
                },
                comment: text(&r, 7).filter(|c| !c.is_empty()),
                filter: None,
                include: vec![],
            }
        });
        entry.columns.push(IndexColumn {
            // A functional index part (MySQL 8) has no column name.
            name: text(&r, 3).unwrap_or_default(),
            prefix: num(&r, 4).map(|n| n as u32),
            descending: text(&r, 6).as_deref() == Some("D"),
        });
    }
    for key in order {
        let index = idx.remove(&key).unwrap();
        let t = tables.get_mut(&key.0).unwrap();
        let cols: Vec<String> = index.columns.iter().map(|c| c.name.clone()).collect();
        if index.name == "PRIMARY" {
            t.primary_key = Some(Key { name: index.name, columns: cols });
            continue;
        }
        if index.unique && index.columns.iter().all(|c| c.prefix.is_none() && !c.name.is_empty()) {
            t.unique_keys.push(Key { name: index.name.clone(), columns: cols });
        }
        t.indexes.push(index);
    }

    // Foreign keys.
    let mut fks: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for r in rows(
        &mut conn,
        format!(
            "SELECT kcu.TABLE_NAME, kcu.CONSTRAINT_NAME, kcu.COLUMN_NAME, kcu.REFERENCED_TABLE_SCHEMA, \
             kcu.REFERENCED_TABLE_NAME, kcu.REFERENCED_COLUMN_NAME, rc.UPDATE_RULE, rc.DELETE_RULE \
             FROM information_schema.KEY_COLUMN_USAGE kcu JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
             ON rc.CONSTRAINT_SCHEMA = kcu.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = kcu.CONSTRAINT_NAME \
             AND rc.TABLE_NAME = kcu.TABLE_NAME \
             WHERE kcu.TABLE_SCHEMA = {db} AND kcu.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY kcu.TABLE_NAME, kcu.CONSTRAINT_NAME, kcu.ORDINAL_POSITION"
        ),
    )
    .await?
    {
        let table = text(&r, 0).unwrap_or_default();
        if !tables.contains_key(&table) {
            continue;
        }
        let name = text(&r, 1).unwrap_or_default();
        let ref_schema = text(&r, 3).filter(|s| *s != src.database);
        let fk = fks.entry((table, name.clone())).or_insert_with(|| ForeignKey {
            name,
            columns: vec![],
            ref_schema,
            ref_table: text(&r, 4).unwrap_or_default(),
            ref_columns: vec![],
            on_update: FkAction::parse(&text(&r, 6).unwrap_or_default()).unwrap_or(FkAction::NoAction),
            on_delete: FkAction::parse(&text(&r, 7).unwrap_or_default()).unwrap_or(FkAction::NoAction),
            not_valid: false,
        });
        fk.columns.push(text(&r, 2).unwrap_or_default());
        fk.ref_columns.push(text(&r, 5).unwrap_or_default());
    }
    for ((table, _), fk) in fks {
        tables.get_mut(&table).unwrap().foreign_keys.push(fk);
    }

    let objects = objects(src, &mut conn, select).await?;
    Ok(Schema {
        name: src.database.clone(),
        server_version: src.dialect.product(),
        tables: tables.into_values().collect(),
        objects,
        types: vec![],
        sequences: vec![],
        // Every question: MySQL stores zero dates, invalid ENUMs, TIME beyond a day, tinyint(1)
        // beyond 0/1, bigint unsigned beyond bigint and arbitrary bytes in binary columns.
        probes: ferry_model::Probe::all(),
        native_objects: false,
        view_columns: view_columns.into_iter().collect(),
    })
}

/// One row of `information_schema.COLUMNS` (the query's column order) as a model column.
fn column_of(r: &Row, dialect: &crate::dialect::Dialect, json: &dyn Fn(&str) -> bool) -> Column {
    let name = text(r, 1).unwrap_or_default();
    let data_type_raw = text(r, 4).unwrap_or_default();
    let column_type = text(r, 5).unwrap_or_default();
    let mut data_type = types::data_type(&types::ColumnTypeInfo {
        data_type: &data_type_raw,
        column_type: &column_type,
        char_max_len: num(r, 6),
        octet_len: num(r, 7),
        precision: num(r, 8),
        scale: num(r, 9),
        datetime_precision: num(r, 10),
    });
    if json(&name) {
        data_type = DataType::Json;
    }
    let extra = text(r, 13).unwrap_or_default();
    let extra_l = extra.to_ascii_lowercase();
    let generated = text(r, 15).filter(|g| !g.is_empty() && g != "NULL");
    let default = if generated.is_some() { None } else { types::default_value(dialect, text(r, 2).as_deref(), &extra, &data_type) };
    Column {
        name,
        source_type: column_type,
        nullable: text(r, 3).as_deref() == Some("YES"),
        default,
        auto_increment: extra_l.contains("auto_increment"),
        on_update_current_timestamp: extra_l.contains("on update current_timestamp"),
        generated,
        charset: text(r, 11),
        case_insensitive: types::case_insensitive(text(r, 12).as_deref()),
        collation: text(r, 12),
        comment: text(r, 14).filter(|c| !c.is_empty()),
        data_type,
        stored_as: None,
        profile_note: None,
        quarantine: false,
        replace_bad_text: false,
        generated_postgres: None,
    }
}

/// Views, triggers, routines and events, each with the SQL a user needs to port it.
async fn objects(src: &MySqlSource, conn: &mut mysql_async::Conn, select: TableSelection<'_>) -> Result<Vec<SourceObject>, SourceError> {
    let db = quote_str(&src.database);
    let mut out = Vec::new();
    for r in rows(conn, format!("SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {db} ORDER BY TABLE_NAME")).await? {
        let name = text(&r, 0).unwrap_or_default();
        let body = text(&r, 1).unwrap_or_default();
        out.push(SourceObject { kind: ObjectKind::View, sql: format!("CREATE VIEW {} AS {body}", quote_ident(&name)), name, table: None });
    }
    for r in rows(
        conn,
        format!(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_STATEMENT \
             FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {db} ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME"
        ),
    )
    .await?
    {
        let name = text(&r, 0).unwrap_or_default();
        let table = text(&r, 1).unwrap_or_default();
        if !select(&table) {
            continue;
        }
        out.push(SourceObject {
            kind: ObjectKind::Trigger,
            sql: format!(
                "CREATE TRIGGER {} {} {} ON {} FOR EACH ROW {}",
                quote_ident(&name),
                text(&r, 2).unwrap_or_default(),
                text(&r, 3).unwrap_or_default(),
                quote_ident(&table),
                text(&r, 4).unwrap_or_default()
            ),
            name,
            table: Some(table),
        });
    }
    let routines = rows(
        conn,
        format!(
            "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = {db} ORDER BY ROUTINE_TYPE, ROUTINE_NAME"
        ),
    )
    .await?;
    for r in routines {
        let name = text(&r, 0).unwrap_or_default();
        let rtype = text(&r, 1).unwrap_or_default();
        let kind = if rtype.eq_ignore_ascii_case("FUNCTION") { ObjectKind::Function } else { ObjectKind::Procedure };
        // SHOW CREATE gives the parameter list; it needs more privilege, so fall back to the body.
        let show: Result<Option<Row>, _> = conn.query_first(format!("SHOW CREATE {rtype} {}.{}", quote_ident(&src.database), quote_ident(&name))).await;
        let sql = match show {
            Ok(Some(row)) => text(&row, 2),
            _ => None,
        }
        .unwrap_or_else(|| format!("-- {rtype} {name} (definition only)\n{}", text(&r, 2).unwrap_or_default()));
        out.push(SourceObject { kind, name, table: None, sql });
    }
    for r in rows(conn, format!("SELECT EVENT_NAME, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {db} ORDER BY EVENT_NAME")).await? {
        let name = text(&r, 0).unwrap_or_default();
        out.push(SourceObject { kind: ObjectKind::Event, sql: format!("-- EVENT {name}\n{}", text(&r, 1).unwrap_or_default()), name, table: None });
    }
    Ok(out)
}
