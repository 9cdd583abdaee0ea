//! The schema of a SQLite file from `sqlite_schema` and the table pragmas (`table_list`,
//! `table_xinfo`, `index_list`, `index_xinfo`, `foreign_key_list`), what they do not say from
//! the `CREATE TABLE` text ([`crate::ddl`]), and each column's type from its stored values
//! ([`crate::profile`], one pass per table, run by [`profile_table`]).
//!
//! Rowid tables: an `INTEGER PRIMARY KEY` column is the rowid itself and SQLite hands out its
//! values (the largest plus one, or past `sqlite_sequence` with `AUTOINCREMENT`), so it becomes
//! an identity column continuing after both. Indexes ferry cannot create as they are (partial,
//! on expressions), CHECKs calling SQLite-only functions, views, triggers and virtual tables
//! are action items with their SQL.

use crate::profile::{self, Profile, Profiler};
use crate::{ddl, map_error, quote_ident, CHANGE_LOG};
use ferry_model::{
    BadText, CellRule, CellRules, Check, Column, DefaultValue, ErrorKind, FkAction, ForeignKey, Index, IndexColumn, IndexKind, Key, ObjectKind, OddCells,
    Schema, SourceError, SourceObject, Table,
};
use rusqlite::Connection;

/// The names of the file's ordinary tables (not SQLite's own, not ferry's change log, not
/// virtual tables or their shadow tables).
pub fn table_names(conn: &Connection) -> Result<Vec<String>, SourceError> {
    let mut st = conn
        .prepare(
            "SELECT name FROM sqlite_schema s WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1 \
             AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%' \
             AND NOT EXISTS (SELECT 1 FROM sqlite_schema v WHERE v.type = 'table' AND v.sql LIKE 'CREATE VIRTUAL TABLE%' AND s.name LIKE v.name || '\\_%' ESCAPE '\\') \
             ORDER BY name",
        )
        .map_err(map_error)?;
    let rows = st.query_map([CHANGE_LOG], |r| r.get::<_, String>(0)).map_err(map_error)?;
    rows.collect::<Result<_, _>>().map_err(map_error)
}

fn fk_action(s: &str) -> FkAction {
    FkAction::parse(s).unwrap_or(FkAction::NoAction)
}

/// A column default as SQLite stores it in `table_xinfo.dflt_value` (the SQL text).
fn default_value(text: Option<String>) -> Option<DefaultValue> {
    let t = text?;
    let s = t.trim();
    let upper = s.to_ascii_uppercase();
    Some(match upper.as_str() {
        "NULL" => DefaultValue::Null,
        "CURRENT_TIMESTAMP" => DefaultValue::CurrentTimestamp,
        "CURRENT_DATE" => DefaultValue::CurrentDate,
        "TRUE" => DefaultValue::Literal("1".into()),
        "FALSE" => DefaultValue::Literal("0".into()),
        _ if s.starts_with('\'') && s.ends_with('\'') && s.len() >= 2 => DefaultValue::Literal(s[1..s.len() - 1].replace("''", "'")),
        _ if crate::read::is_number(s) => DefaultValue::Literal(s.trim_start_matches('+').to_string()),
        _ => DefaultValue::Expression(s.to_string()),
    })
}

pub struct RawColumn {
    name: String,
    declared: String,
    not_null: bool,
    default: Option<String>,
    pk: i64,
    hidden: i64,
}

/// Reads the schema of `tables` (already selected).
pub fn introspect(conn: &Connection, name: &str, tables: &[String], rules: &CellRules) -> Result<Schema, SourceError> {
    let version: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0)).map_err(map_error)?;
    let mut schema = Schema { name: name.to_string(), server_version: format!("SQLite {version}"), probes: Vec::new(), ..Default::default() };
    let sequences: Vec<(String, i64)> = if has_table(conn, "sqlite_sequence")? {
        let mut st = conn.prepare("SELECT name, seq FROM sqlite_sequence").map_err(map_error)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(map_error)?;
        rows.collect::<Result<_, _>>().map_err(map_error)?
    } else {
        Vec::new()
    };
    for t in tables {
        let ctx = |e: rusqlite::Error| map_error(e).context(format!("reading the definition of table `{t}`"));
        let sql: String = conn.query_row("SELECT coalesce(sql, '') FROM sqlite_schema WHERE type = 'table' AND name = ?1", [t], |r| r.get(0)).map_err(ctx)?;
        // STRICT tables need nothing of their own: their cells already match their types,
        // which the profile confirms like any other.
        let without_rowid: bool =
            conn.query_row("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1", [t], |r| Ok(r.get::<_, i64>(0)? != 0)).map_err(ctx)?;
        let def = ddl::table_def(&sql).unwrap_or_default();
        let mut st = conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid").map_err(ctx)?;
        let raw: Vec<RawColumn> = st
            .query_map([t], |r| {
                Ok(RawColumn { name: r.get(0)?, declared: r.get(1)?, not_null: r.get::<_, i64>(2)? != 0, default: r.get(3)?, pk: r.get(4)?, hidden: r.get(5)? })
            })
            .map_err(ctx)?
            .collect::<Result<_, _>>()
            .map_err(ctx)?;
        // Hidden columns of virtual tables are not data.
        let raw: Vec<RawColumn> = raw.into_iter().filter(|c| c.hidden != 1).collect();
        let mut pk: Vec<(i64, String)> = raw.iter().filter(|c| c.pk > 0).map(|c| (c.pk, c.name.clone())).collect();
        pk.sort();
        let pk: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        let rowid_alias = (!without_rowid && pk.len() == 1)
            .then(|| raw.iter().find(|c| c.name == pk[0]).filter(|c| c.declared.eq_ignore_ascii_case("INTEGER")).map(|c| c.name.clone()))
            .flatten();
        let key_expr =
            if without_rowid { pk.iter().map(|k| format!("quote({})", quote_ident(k))).collect::<Vec<_>>().join(" || ',' || ") } else { "rowid".to_string() };
        let key_expr = if key_expr.is_empty() { "NULL".to_string() } else { key_expr };
        let col_rules: Vec<CellRule> = raw.iter().map(|c| rules.for_column(t, &c.name)).collect();
        let (rows, profiles) = profile_table(conn, t, &raw, &col_rules, &key_expr)?;
        let column_names: Vec<String> = raw.iter().map(|c| c.name.clone()).collect();
        let mut table = Table { name: t.clone(), estimated_rows: rows, ..Default::default() };
        for ((c, p), rule) in raw.iter().zip(&profiles).zip(&col_rules) {
            let extra = def.columns.iter().find(|d| d.name.eq_ignore_ascii_case(&c.name)).cloned().unwrap_or_default();
            let choice = profile::choose(&c.declared, p, *rule);
            let mut col = Column::new(&c.name, choice.data_type, &c.declared);
            col.nullable = !c.not_null;
            // The rules hold for cells written later too (sync), not only for those found now.
            col.quarantine = rule.odd_cells == OddCells::Quarantine;
            col.replace_bad_text = choice.replace_bad_text || rule.bad_text == BadText::Replace;
            let mut note = choice.note;
            if choice.quarantined > 0 && c.not_null {
                // Its set-aside cells are NULL on the target.
                col.nullable = true;
                note = note.map(|n| format!("{n}; NOT NULL dropped"));
            }
            if pk.contains(&c.name) {
                // A rowid table's primary key other than INTEGER may hold NULLs (a SQLite quirk):
                // the profile says whether one does; the key is created only if none does.
                col.nullable = !(without_rowid || rowid_alias.is_some() || c.not_null) && p.non_null() < rows;
            }
            col.stored_as = choice.stored_as;
            col.profile_note = note;
            col.default = if c.hidden >= 2 { None } else { default_value(c.default.clone()) };
            if c.hidden >= 2 {
                col.generated = extra.generated.clone().map(|g| ddl::standard_expr(&g, &column_names)).or(Some(String::new()));
            }
            if let Some(coll) = &extra.collate {
                col.collation = Some(coll.clone());
                col.case_insensitive = coll.eq_ignore_ascii_case("NOCASE");
            }
            if rowid_alias.as_deref() == Some(c.name.as_str()) {
                col.auto_increment = true;
                col.nullable = false;
                let seq = sequences.iter().find(|(n, _)| n == t).map(|(_, s)| *s).unwrap_or(0);
                let next = seq.max(p.int_max.unwrap_or(0)).saturating_add(1);
                table.auto_increment = Some(next.max(1) as u64);
            }
            for (i, check) in extra.checks.iter().enumerate() {
                push_check(
                    &mut table,
                    &mut schema.objects,
                    t,
                    &format!("{}_{}_check{}", t, c.name, if i == 0 { String::new() } else { (i + 1).to_string() }),
                    check,
                    &column_names,
                );
            }
            table.columns.push(col);
        }
        for (i, (name, check)) in def.checks.iter().enumerate() {
            let name = name.clone().unwrap_or_else(|| format!("{t}_check{}", i + 1));
            push_check(&mut table, &mut schema.objects, t, &name, check, &column_names);
        }
        if !pk.is_empty() && pk.iter().all(|k| table.column(k).is_some_and(|c| !c.nullable)) {
            table.primary_key = Some(Key { name: format!("{t}_pkey"), columns: pk.clone() });
        }
        indexes(conn, &mut table, &mut schema.objects)?;
        foreign_keys(conn, &mut table, tables)?;
        schema.tables.push(table);
    }
    objects(conn, tables, &mut schema.objects)?;
    Ok(schema)
}

/// `t`'s definition in the file differs from the model's: other columns (names or declared
/// types) or other indexes. Reads the pragmas only, no rows.
pub fn shape_differs(conn: &Connection, t: &Table) -> Result<bool, SourceError> {
    let mut st = conn.prepare("SELECT name, type FROM pragma_table_xinfo(?1) WHERE hidden <> 1 ORDER BY cid").map_err(map_error)?;
    let cols: Vec<(String, String)> =
        st.query_map([&t.name], |r| Ok((r.get(0)?, r.get(1)?))).map_err(map_error)?.collect::<Result<_, _>>().map_err(map_error)?;
    let same_columns = cols.len() == t.columns.len() && cols.iter().zip(&t.columns).all(|((n, ty), c)| *n == c.name && ty.eq_ignore_ascii_case(&c.source_type));
    if !same_columns {
        return Ok(true);
    }
    let mut now = Table { name: t.name.clone(), columns: t.columns.clone(), ..Default::default() };
    indexes(conn, &mut now, &mut Vec::new())?;
    let names = |x: &Table| {
        let mut v: Vec<String> = x.indexes.iter().map(|i| i.name.clone()).collect();
        v.sort();
        v
    };
    Ok(names(&now) != names(t))
}

pub(crate) fn has_table(conn: &Connection, name: &str) -> Result<bool, SourceError> {
    conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", [name], |r| r.get::<_, i64>(0)).map(|n| n > 0).map_err(map_error)
}

fn push_check(table: &mut Table, objects: &mut Vec<SourceObject>, t: &str, name: &str, check: &str, columns: &[String]) {
    if ddl::portable_check(check, columns) {
        table.checks.push(Check { name: name.to_string(), expression: ddl::standard_expr(check, columns), not_valid: false });
    } else {
        objects.push(SourceObject {
            kind: ObjectKind::Constraint,
            name: name.to_string(),
            table: Some(t.to_string()),
            sql: format!("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})", quote_ident(t), quote_ident(name), ddl::standard_expr(check, columns)),
        });
    }
}

/// Rows per part above which a rowid table's profile pass is split across threads.
const PROFILE_PART_ROWS: i64 = 200_000;

/// Row count and every column's profile, in one pass over the table: every cell is read as
/// stored and measured in ferry ([`profile::Profiler`]), which costs a scan. A large rowid
/// table is scanned in rowid ranges on parallel connections and the parts merged in rowid
/// order ([`Profile::merge`]), so the first bad row and the sample are the same as one pass's.
pub fn profile_table(conn: &Connection, table: &str, columns: &[RawColumn], rules: &[CellRule], key: &str) -> Result<(u64, Vec<Profile>), SourceError> {
    let ctx = |e: rusqlite::Error| map_error(e).context(format!("profiling the values of table `{table}`"));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8) as i64;
    let span = if key == "rowid" && threads > 1 {
        conn.query_row(&format!("SELECT min(rowid), max(rowid) FROM {}", quote_ident(table)), [], |r| {
            Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .map_err(ctx)?
    } else {
        (None, None)
    };
    let parts = match (span, conn.path()) {
        ((Some(lo), Some(hi)), Some(path)) if hi.saturating_sub(lo) > PROFILE_PART_ROWS && !path.is_empty() => {
            let n = threads.min(hi.saturating_sub(lo) / PROFILE_PART_ROWS + 1).max(1);
            let step = (hi - lo) / n + 1;
            (0..n).map(|k| (lo.saturating_add(k * step), if k == n - 1 { hi } else { lo.saturating_add((k + 1) * step - 1) })).collect::<Vec<_>>()
        }
        _ => return profile_range(conn, table, columns, rules, key, ""),
    };
    let path = conn.path().unwrap_or_default().to_string();
    let results: Vec<Result<(u64, Vec<Profile>), SourceError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|(lo, hi)| {
                let path = &path;
                scope.spawn(move || {
                    let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)
                        .map_err(map_error)?;
                    c.busy_timeout(std::time::Duration::from_secs(30)).map_err(map_error)?;
                    profile_range(&c, table, columns, rules, key, &format!(" WHERE rowid BETWEEN {lo} AND {hi}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(SourceError::new(ErrorKind::Definite, "a profiling thread panicked")))).collect()
    });
    let mut rows = 0;
    let mut merged: Option<Vec<Profile>> = None;
    for r in results {
        let (n, ps) = r?;
        rows += n;
        merged = Some(match merged {
            None => ps,
            Some(acc) => acc.into_iter().zip(ps).map(|(a, b)| a.merge(b)).collect(),
        });
    }
    Ok((rows, merged.unwrap_or_default()))
}

/// One pass over the rows `condition` selects.
fn profile_range(
    conn: &Connection,
    table: &str,
    columns: &[RawColumn],
    rules: &[CellRule],
    key: &str,
    condition: &str,
) -> Result<(u64, Vec<Profile>), SourceError> {
    let ctx = |e: rusqlite::Error| map_error(e).context(format!("profiling the values of table `{table}`"));
    let mut select: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    select.push(key.to_string());
    let sql = format!("SELECT {} FROM {}{condition}", select.join(", "), quote_ident(table));
    let mut st = conn.prepare(&sql).map_err(ctx)?;
    let mut rows = st.query([]).map_err(ctx)?;
    let mut profilers: Vec<Profiler> = columns.iter().zip(rules).map(|(c, r)| Profiler::new(&c.declared, *r)).collect();
    let mut n = 0u64;
    let k = columns.len();
    while let Some(r) = rows.next().map_err(ctx)? {
        n += 1;
        for (i, p) in profilers.iter_mut().enumerate() {
            let v = r.get_ref(i).map_err(ctx)?;
            p.add(v, || match r.get_ref(k) {
                Ok(rusqlite::types::ValueRef::Integer(id)) => format!("rowid {id}"),
                Ok(rusqlite::types::ValueRef::Text(t)) => format!("key {}", String::from_utf8_lossy(t)),
                _ => format!("row #{n}"),
            });
        }
    }
    Ok((n, profilers.into_iter().map(Profiler::finish).collect()))
}

pub(crate) fn indexes(conn: &Connection, table: &mut Table, objects: &mut Vec<SourceObject>) -> Result<(), SourceError> {
    let t = table.name.clone();
    let ctx = |e: rusqlite::Error| map_error(e).context(format!("reading the indexes of table `{t}`"));
    let mut st = conn.prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) ORDER BY seq DESC").map_err(ctx)?;
    let list: Vec<(String, bool, String, bool)> = st
        .query_map([&t], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?, r.get::<_, i64>(3)? != 0)))
        .map_err(ctx)?
        .collect::<Result<_, _>>()
        .map_err(ctx)?;
    for (name, unique, origin, partial) in list {
        if origin == "pk" {
            continue;
        }
        let mut st = conn.prepare("SELECT cid, name, \"desc\" FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno").map_err(ctx)?;
        let cols: Vec<(i64, Option<String>, bool)> =
            st.query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0))).map_err(ctx)?.collect::<Result<_, _>>().map_err(ctx)?;
        let expression = cols.iter().any(|(cid, _, _)| *cid < 0);
        if partial || expression {
            let sql: Option<String> = conn.query_row("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?1", [&name], |r| r.get(0)).map_err(ctx)?;
            let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            objects.push(SourceObject {
                kind: ObjectKind::Index,
                name: name.clone(),
                table: Some(t.clone()),
                sql: sql.map(|s| ddl::standard_expr(&s, &names)).unwrap_or_default(),
            });
            continue;
        }
        let columns: Vec<IndexColumn> =
            cols.iter().map(|(_, n, desc)| IndexColumn { name: n.clone().unwrap_or_default(), prefix: None, descending: *desc }).collect();
        // SQLite's own names for UNIQUE constraints say nothing; name them as PostgreSQL would.
        let name = if name.starts_with("sqlite_autoindex_") {
            format!("{t}_{}_key", columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("_"))
        } else {
            name
        };
        if unique {
            table.unique_keys.push(Key { name: name.clone(), columns: columns.iter().map(|c| c.name.clone()).collect() });
        }
        table.indexes.push(Index { name, columns, unique, kind: IndexKind::BTree, comment: None, filter: None, include: vec![] });
    }
    Ok(())
}

fn foreign_keys(conn: &Connection, table: &mut Table, tables: &[String]) -> Result<(), SourceError> {
    let t = table.name.clone();
    let ctx = |e: rusqlite::Error| map_error(e).context(format!("reading the foreign keys of table `{t}`"));
    let mut st = conn.prepare("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq").map_err(ctx)?;
    let rows: Vec<(i64, String, String, Option<String>, String, String)> =
        st.query_map([&t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))).map_err(ctx)?.collect::<Result<_, _>>().map_err(ctx)?;
    let mut fks: Vec<(i64, ForeignKey, bool)> = Vec::new();
    for (id, parent, from, to, on_update, on_delete) in rows {
        // SQLite compares table names case-insensitively.
        let parent = tables.iter().find(|x| x.eq_ignore_ascii_case(&parent)).cloned().unwrap_or(parent);
        let i = match fks.iter().position(|(x, _, _)| *x == id) {
            Some(i) => i,
            None => {
                let fk = ForeignKey {
                    name: String::new(),
                    columns: vec![],
                    ref_schema: None,
                    ref_table: parent.clone(),
                    ref_columns: vec![],
                    on_delete: fk_action(&on_delete),
                    on_update: fk_action(&on_update),
                    not_valid: false,
                };
                fks.push((id, fk, to.is_none()));
                fks.len() - 1
            }
        };
        fks[i].1.columns.push(from);
        if let Some(to) = to {
            fks[i].1.ref_columns.push(to);
        }
    }
    for (_, mut fk, to_primary_key) in fks {
        if to_primary_key {
            // `REFERENCES parent` without columns: the parent's primary key.
            let mut st = conn.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk").map_err(ctx)?;
            fk.ref_columns = st.query_map([&fk.ref_table], |r| r.get(0)).map_err(ctx)?.collect::<Result<_, _>>().map_err(ctx)?;
        }
        fk.name = format!("{t}_{}_fkey", fk.columns.join("_"));
        table.foreign_keys.push(fk);
    }
    Ok(())
}

fn objects(conn: &Connection, tables: &[String], out: &mut Vec<SourceObject>) -> Result<(), SourceError> {
    let mut st = conn
        .prepare("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema WHERE type IN ('view', 'trigger') OR (type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%') ORDER BY type, name")
        .map_err(map_error)?;
    let rows: Vec<(String, String, String, String)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(map_error)?.collect::<Result<_, _>>().map_err(map_error)?;
    for (kind, name, table, sql) in rows {
        match kind.as_str() {
            "view" => out.push(SourceObject { kind: ObjectKind::View, name, table: None, sql }),
            "trigger" if tables.contains(&table) && !name.starts_with("_ferry_") => {
                out.push(SourceObject { kind: ObjectKind::Trigger, name, table: Some(table), sql })
            }
            "table" => out.push(SourceObject { kind: ObjectKind::VirtualTable, name, table: None, sql }),
            _ => {}
        }
    }
    Ok(())
}
