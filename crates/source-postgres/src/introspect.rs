//! A PostgreSQL schema from `pg_catalog` into the neutral model. Column types stay PostgreSQL's
//! own (`DataType::Native`, printed by `format_type` with the source schema on the search path,
//! so the schema's enums and domains print unqualified and the plan qualifies them with the
//! target schema). What the model cannot carry is reported, never dropped silently: composite
//! columns are unsupported (the plan stops with a rule to write), exclusion constraints,
//! expression/partial/GIN/GiST indexes, views, materialized views, functions, triggers and
//! free-standing sequences become action items with their SQL.

use crate::{source_error, PgSource};
use ferry_model::*;
use ferry_target_postgres::TargetError;
use std::collections::BTreeMap;

fn fk_action(code: &str) -> FkAction {
    match code {
        "r" => FkAction::Restrict,
        "c" => FkAction::Cascade,
        "n" => FkAction::SetNull,
        "d" => FkAction::SetDefault,
        _ => FkAction::NoAction,
    }
}

/// The index query's columns (`… WHERE i.indrelid = ANY($1) AND` + a condition): relation,
/// name, unique, access method, partial, key column names ('' for an expression), descending
/// flags, definition.
const INDEX_ROWS: &str = "SELECT i.indrelid, ic.relname::text, i.indisunique, am.amname::text, i.indpred IS NOT NULL, \
     ARRAY(SELECT coalesce(a.attname::text, '') FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY k(n, o) \
           LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), \
     ARRAY(SELECT (opt & 1) = 1 FROM unnest(i.indoption::int2[]) opt), pg_get_indexdef(i.indexrelid) \
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
     WHERE i.indrelid = ANY($1) AND";

/// One row of [`INDEX_ROWS`] as an index ferry creates (plain btree/hash columns), or its name
/// and SQL for an action item (expression, partial, GIN/GiST…).
fn index_of_row(r: &tokio_postgres::Row) -> Result<Index, (String, String)> {
    let (name, unique, method, partial, cols, desc, def): (String, bool, String, bool, Vec<String>, Vec<bool>, String) =
        (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7));
    let kind = match method.as_str() {
        "btree" => IndexKind::BTree,
        "hash" => IndexKind::Hash,
        _ => return Err((name, def)),
    };
    if partial || cols.iter().any(String::is_empty) {
        return Err((name, def));
    }
    let columns =
        cols.iter().enumerate().map(|(i, c)| IndexColumn { name: c.clone(), prefix: None, descending: desc.get(i).copied().unwrap_or(false) }).collect();
    Ok(Index { name, columns, unique, kind, comment: None, filter: None, include: vec![] })
}

pub async fn introspect(src: &PgSource, select: TableSelection<'_>) -> Result<Schema, SourceError> {
    let conn = src.conn().await?;
    let q = |e: tokio_postgres::Error| source_error(TargetError::from(e).context("reading the source catalog"));
    let version: String = conn.client.query_one("SELECT 'PostgreSQL ' || current_setting('server_version')", &[]).await.map_err(q)?.get(0);
    let schema = &src.schema;
    let rows = conn
        .client
        .query(
            "SELECT c.oid, c.relname::text, obj_description(c.oid, 'pg_class'), \
                    CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(greatest(p.reltuples, 0)), 0) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid) \
                         ELSE greatest(c.reltuples, 0) END::bigint, \
                    CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname",
            &[schema],
        )
        .await
        .map_err(q)?;
    let mut tables: BTreeMap<u32, Table> = BTreeMap::new();
    for r in &rows {
        let name: String = r.get(1);
        if !select(&name) {
            continue;
        }
        tables.insert(
            r.get(0),
            Table { name, comment: r.get(2), estimated_rows: r.get::<_, i64>(3) as u64, partitioned_by: r.get(4), engine: None, ..Default::default() },
        );
    }
    let oids: Vec<u32> = tables.keys().copied().collect();
    // Partition oid → (parent oid, partition name).
    let mut partitions: BTreeMap<u32, (u32, String)> = BTreeMap::new();
    for r in conn
        .client
        .query(
            "SELECT i.inhparent, c.relname::text, pg_get_expr(c.relpartbound, c.oid), c.oid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = ANY($1) AND c.relispartition ORDER BY c.relname",
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        if let Some(t) = tables.get_mut(&r.get::<_, u32>(0)) {
            t.partitions.push((r.get(1), r.get(2)));
            partitions.insert(r.get(3), (r.get(0), r.get(1)));
        }
    }

    // Columns.
    for r in conn
        .client
        .query(
            "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid), \
                    a.attidentity::text, a.attgenerated::text, col_description(a.attrelid, a.attnum), \
                    coalesce(et.typtype, t.typtype)::text, coalesce(etn.nspname, tn.nspname)::text = $2, \
                    pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace \
             LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' LEFT JOIN pg_namespace etn ON etn.oid = et.typnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum",
            &[&oids, schema],
        )
        .await
        .map_err(q)?
    {
        let Some(t) = tables.get_mut(&r.get::<_, u32>(0)) else { continue };
        let name: String = r.get(1);
        let ty: String = r.get(2);
        let default: Option<String> = r.get(4);
        let identity = !r.get::<_, String>(5).is_empty();
        let generated = r.get::<_, String>(6) == "s";
        let typtype: String = r.get(8);
        let user_type: bool = r.get(9);
        let serial_seq: Option<String> = r.get(10);
        let serial = !identity && serial_seq.is_some() && default.as_deref().is_some_and(|d| d.starts_with("nextval("));
        let data_type = if typtype == "c" && user_type {
            DataType::Unsupported { name: format!("{ty} (a composite type)") }
        } else {
            DataType::Native { name: ty.clone(), user_type: user_type && matches!(typtype.as_str(), "e" | "d") }
        };
        let mut c = Column::new(name, data_type, ty);
        c.nullable = r.get(3);
        c.comment = r.get(7);
        c.auto_increment = identity || serial;
        if generated {
            c.generated = default.clone();
        } else if !c.auto_increment {
            c.default = default.map(DefaultValue::Native);
        }
        if c.auto_increment {
            if let Some(seq) = serial_seq {
                // The identity restarts past the source sequence's next value.
                let next: Option<i64> = conn
                    .client
                    .query_one(&format!("SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {seq}"), &[])
                    .await
                    .ok()
                    .map(|r| r.get(0));
                t.auto_increment = next.map(|n| n.max(1) as u64);
            }
        }
        t.columns.push(c);
    }

    // Constraints.
    let mut objects = Vec::new();
    for r in conn
        .client
        .query(
            "SELECT c.conrelid, c.conname::text, c.contype::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), \
                    f.relname::text, fn.nspname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o), \
                    c.confdeltype::text, c.confupdtype::text, pg_get_constraintdef(c.oid) \
             FROM pg_constraint c LEFT JOIN pg_class f ON f.oid = c.confrelid LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace \
             WHERE c.conrelid = ANY($1) ORDER BY c.conrelid, c.conname",
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        let Some(t) = tables.get_mut(&r.get::<_, u32>(0)) else { continue };
        let name: String = r.get(1);
        let columns: Vec<String> = r.get(3);
        let def: String = r.get(9);
        match r.get::<_, String>(2).as_str() {
            "p" => t.primary_key = Some(Key { name, columns }),
            "u" => {
                t.indexes.push(Index {
                    name: name.clone(),
                    columns: columns.iter().map(|c| IndexColumn { name: c.clone(), prefix: None, descending: false }).collect(),
                    unique: true,
                    kind: IndexKind::BTree,
                    comment: None,
                    filter: None, include: vec![],
                });
                t.unique_keys.push(Key { name, columns });
            }
            "f" => {
                let ref_schema: Option<String> = r.get(5);
                t.foreign_keys.push(ForeignKey {
                    name,
                    columns,
                    ref_schema: ref_schema.filter(|s| s != &src.schema),
                    ref_table: r.get::<_, Option<String>>(4).unwrap_or_default(),
                    ref_columns: r.get(6),
                    on_delete: fk_action(&r.get::<_, String>(7)),
                    on_update: fk_action(&r.get::<_, String>(8)),
                    not_valid: false,
                });
            }
            "c" => {
                let body = def.trim_end_matches(" NOT VALID");
                let expr = body.strip_prefix("CHECK ").unwrap_or(body);
                t.checks.push(Check { name, expression: expr.to_string(), not_valid: false });
            }
            _ => objects.push(SourceObject {
                kind: ObjectKind::Constraint,
                name,
                table: Some(t.name.clone()),
                sql: format!("ALTER TABLE {} ADD CONSTRAINT … {def}", t.name),
            }),
        }
    }

    // Indexes that back no constraint.
    for r in conn
        .client
        .query(
            &format!("{INDEX_ROWS} NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) ORDER BY i.indrelid, ic.relname"),
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        let Some(t) = tables.get_mut(&r.get::<_, u32>(0)) else { continue };
        match index_of_row(&r) {
            Ok(index) => {
                if index.unique {
                    t.unique_keys.push(Key { name: index.name.clone(), columns: index.columns.iter().map(|c| c.name.clone()).collect() });
                }
                t.indexes.push(index);
            }
            // Expression, partial or non-btree index: recreated by hand (its SQL is in the assessment).
            Err((name, sql)) => objects.push(SourceObject { kind: ObjectKind::Index, name, table: Some(t.name.clone()), sql }),
        }
    }

    // Indexes and foreign keys defined on a partition itself (not inherited from the parent):
    // created on the target's partition after the load, or listed.
    let part_oids: Vec<u32> = partitions.keys().copied().collect();
    let mut part_objects: BTreeMap<u32, PartitionObjects> = BTreeMap::new();
    for r in conn
        .client
        .query(
            &format!("{INDEX_ROWS} NOT EXISTS (SELECT 1 FROM pg_inherits ii WHERE ii.inhrelid = i.indexrelid) ORDER BY i.indrelid, ic.relname"),
            &[&part_oids],
        )
        .await
        .map_err(q)?
    {
        let oid: u32 = r.get(0);
        let Some((parent, pname)) = partitions.get(&oid) else { continue };
        let Some(t) = tables.get(parent) else { continue };
        match index_of_row(&r) {
            Ok(index) => part_objects.entry(oid).or_insert_with(|| PartitionObjects { partition: pname.clone(), ..Default::default() }).indexes.push(index),
            Err((name, sql)) => objects.push(SourceObject { kind: ObjectKind::Index, name, table: Some(format!("{} partition {pname}", t.name)), sql }),
        }
    }
    for r in conn
        .client
        .query(
            "SELECT c.conrelid, c.conname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), \
                    f.relname::text, fn.nspname::text, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o), \
                    c.confdeltype::text, c.confupdtype::text \
             FROM pg_constraint c JOIN pg_class f ON f.oid = c.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace \
             WHERE c.conrelid = ANY($1) AND c.contype = 'f' AND c.conparentid = 0 ORDER BY c.conrelid, c.conname",
            &[&part_oids],
        )
        .await
        .map_err(q)?
    {
        let oid: u32 = r.get(0);
        let Some((_, pname)) = partitions.get(&oid) else { continue };
        let ref_schema: String = r.get(4);
        part_objects.entry(oid).or_insert_with(|| PartitionObjects { partition: pname.clone(), ..Default::default() }).foreign_keys.push(ForeignKey {
            name: r.get(1),
            columns: r.get(2),
            ref_schema: Some(ref_schema).filter(|s| s != &src.schema),
            ref_table: r.get(3),
            ref_columns: r.get(5),
            on_delete: fk_action(&r.get::<_, String>(6)),
            on_update: fk_action(&r.get::<_, String>(7)),
            not_valid: false,
        });
    }
    for (oid, po) in part_objects {
        if let Some(t) = partitions.get(&oid).and_then(|(parent, _)| tables.get_mut(parent)) {
            t.partition_objects.push(po);
        }
    }

    // Enum and domain types of the schema.
    let mut types = Vec::new();
    for r in conn
        .client
        .query(
            "SELECT t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             JOIN pg_enum e ON e.enumtypid = t.oid WHERE n.nspname = $1 GROUP BY t.typname ORDER BY 1",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        types.push(UserType { name: r.get(0), kind: UserTypeKind::Enum { values: r.get(1) } });
    }
    for r in conn
        .client
        .query(
            "SELECT t.typname::text, format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault, \
                    ARRAY(SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c WHERE c.contypid = t.oid ORDER BY c.conname) \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typtype = 'd' ORDER BY 1",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        let checks: Vec<String> = r.get(4);
        types.push(UserType {
            name: r.get(0),
            kind: UserTypeKind::Domain {
                base: r.get(1),
                not_null: r.get(2),
                default: r.get(3),
                // `CHECK ((VALUE >= 1901) AND (VALUE <= 2155))`: the expression is everything after
                // CHECK, parentheses and all (stripping them blindly broke `a AND b` and `IN (…)`).
                checks: checks
                    .iter()
                    .filter_map(|c| c.strip_prefix("CHECK ").map(|x| strip_outer_parens(x.trim_end_matches(" NOT VALID")).to_string()))
                    .collect(),
            },
        });
    }

    // What ferry does not create as tables: listed with its SQL, views, routines, triggers and
    // rules to be created on the target after the load. Their definitions are read with the
    // search path on this schema, so names in it print unqualified and resolve in the target
    // schema, whatever it is called (reset below: column types above print qualified).
    conn.batch(&format!("SET search_path = {}", ferry_target_postgres::quote_ident(schema))).await.map_err(source_error)?;
    for r in conn
        .client
        .query(
            "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'matview' ELSE 'sequence' END, c.relname::text, \
                    CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) ELSE '' END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND (c.relkind IN ('v', 'm') OR (c.relkind = 'S' AND NOT EXISTS \
                   (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0))) ORDER BY 2",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        let kind: String = r.get(0);
        let name: String = r.get(1);
        let body: String = r.get(2);
        let (kind, sql) = match kind.as_str() {
            "view" => (ObjectKind::View, format!("CREATE VIEW {} AS {body}", ferry_target_postgres::quote_ident(&name))),
            "matview" => (ObjectKind::View, format!("CREATE MATERIALIZED VIEW {} AS {body}", ferry_target_postgres::quote_ident(&name))),
            _ => continue,
        };
        objects.push(SourceObject { kind, name, table: None, sql });
    }
    // Views' output columns, for `verify --objects`.
    let mut view_columns: Vec<(String, Vec<Column>)> = Vec::new();
    for r in conn
        .client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), t.typtype IN ('e', 'd') AND tn.nspname = $1 \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('v', 'm') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        let (view, name, ty): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let column = Column::new(name, DataType::Native { name: ty.clone(), user_type: r.get(3) }, ty);
        match view_columns.last_mut() {
            Some((v, cols)) if *v == view => cols.push(column),
            _ => view_columns.push((view, vec![column])),
        }
    }
    // Free sequences (no column owns them; defaults may call them): created on the target.
    let mut sequences = Vec::new();
    for r in conn
        .client
        .query(
            "SELECT s.sequencename::text, format_type(q.seqtypid, NULL), s.start_value, s.increment_by, s.min_value, s.max_value, s.cache_size, s.cycle, s.last_value \
             FROM pg_sequences s JOIN pg_class c ON c.relname = s.sequencename JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname \
             JOIN pg_sequence q ON q.seqrelid = c.oid \
             WHERE s.schemaname = $1 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0) \
             ORDER BY 1",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        sequences.push(Sequence {
            name: r.get(0),
            data_type: r.get(1),
            start: r.get(2),
            increment: r.get(3),
            min: r.get(4),
            max: r.get(5),
            cache: r.get(6),
            cycle: r.get(7),
            last_value: r.get(8),
        });
    }
    // Inheritance (not partitions) and rules: listed, with their SQL.
    for r in conn
        .client
        .query(
            "SELECT c.relname::text, p.relname::text, pn.nspname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
             JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = ANY($1) AND NOT c.relispartition ORDER BY 1, 2",
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        let (child, parent, pschema): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        objects.push(SourceObject {
            kind: ObjectKind::Inheritance,
            name: format!("{child} INHERITS {parent}"),
            table: Some(child.clone()),
            sql: format!(
                "ALTER TABLE {} INHERIT {}",
                ferry_target_postgres::quote_ident(&child),
                if pschema == *schema { ferry_target_postgres::quote_ident(&parent) } else { format!("{}.{}", ferry_target_postgres::quote_ident(&pschema), ferry_target_postgres::quote_ident(&parent)) }
            ),
        });
    }
    for r in conn
        .client
        .query(
            "SELECT r.rulename::text, c.relname::text, pg_get_ruledef(r.oid, true) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND r.rulename <> '_RETURN' ORDER BY 2, 1",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        objects.push(SourceObject { kind: ObjectKind::Rule, name: r.get(0), table: Some(r.get(1)), sql: r.get(2) });
    }
    for r in conn
        .client
        .query(
            "SELECT p.proname::text, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.prokind IN ('f', 'p', 'w') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('i', 'e')) ORDER BY 1",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        let (name, def): (String, String) = (r.get(0), r.get(1));
        objects.push(SourceObject { kind: ObjectKind::Function, sql: unqualified_name(&def, schema), name, table: None });
    }
    // Row-level security: the tables that enable it, then their policies (a target without them
    // would show every row to every role).
    for r in conn
        .client
        .query("SELECT c.relname::text, c.relforcerowsecurity FROM pg_class c WHERE c.oid = ANY($1) AND c.relrowsecurity ORDER BY 1", &[&oids])
        .await
        .map_err(q)?
    {
        let (table, force): (String, bool) = (r.get(0), r.get(1));
        let t = ferry_target_postgres::quote_ident(&table);
        let sql = if force {
            format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
        } else {
            format!("ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        };
        objects.push(SourceObject { kind: ObjectKind::Policy, name: "enabled".into(), table: Some(table), sql });
    }
    for r in conn
        .client
        .query(
            "SELECT p.polname::text, c.relname::text, p.polpermissive, p.polcmd::text, \
                    ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END FROM unnest(p.polroles) r), \
                    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) \
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.oid = ANY($1) ORDER BY 2, 1",
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        let (name, table, permissive, cmd, roles): (String, String, bool, String, Vec<String>) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let (using, check): (Option<String>, Option<String>) = (r.get(5), r.get(6));
        let cmd = match cmd.as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        let mut sql = format!(
            "CREATE POLICY {} ON {} AS {} FOR {cmd} TO {}",
            ferry_target_postgres::quote_ident(&name),
            ferry_target_postgres::quote_ident(&table),
            if permissive { "PERMISSIVE" } else { "RESTRICTIVE" },
            roles.join(", ")
        );
        sql.extend(using.map(|u| format!(" USING ({u})")));
        sql.extend(check.map(|c| format!(" WITH CHECK ({c})")));
        objects.push(SourceObject { kind: ObjectKind::Policy, name, table: Some(table), sql });
    }
    // Extended statistics: the planner's, made again (ANALYZE fills them).
    for r in conn
        .client
        .query(
            "SELECT s.stxname::text, c.relname::text, pg_get_statisticsobjdef(s.oid) FROM pg_statistic_ext s JOIN pg_class c ON c.oid = s.stxrelid \
             WHERE c.oid = ANY($1) ORDER BY 2, 1",
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        let def: String = r.get(2);
        objects.push(SourceObject { kind: ObjectKind::Statistics, name: r.get(0), table: Some(r.get(1)), sql: unqualified_name(&def, schema) });
    }
    // Aggregates (pg_get_functiondef refuses them): listed with the CREATE AGGREGATE that makes
    // them again, not dropped silently.
    for r in conn
        .client
        .query(
            "SELECT p.proname::text, pg_get_function_identity_arguments(p.oid), a.aggtransfn::regproc::text, format_type(a.aggtranstype, NULL), \
                    CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regproc::text END, CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regproc::text END, \
                    a.agginitval, a.aggkind::text \
             FROM pg_proc p JOIN pg_aggregate a ON a.aggfnoid = p.oid JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.prokind = 'a' ORDER BY 1, 2",
            &[schema],
        )
        .await
        .map_err(q)?
    {
        let (name, args): (String, String) = (r.get(0), r.get(1));
        objects.push(SourceObject {
            kind: ObjectKind::Function,
            name: format!("{name}({args}) aggregate"),
            table: None,
            sql: aggregate_sql(&name, &args, r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), &r.get::<_, String>(7)),
        });
    }
    for r in conn
        .client
        .query(
            "SELECT tg.tgname::text, c.relname::text, pg_get_triggerdef(tg.oid, true) FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid \
             WHERE c.oid = ANY($1) AND NOT tg.tgisinternal ORDER BY 1",
            &[&oids],
        )
        .await
        .map_err(q)?
    {
        objects.push(SourceObject { kind: ObjectKind::Trigger, name: r.get(0), table: Some(r.get(1)), sql: r.get(2) });
    }

    // The schema's other objects ferry does not make: listed with the SQL that makes them, so
    // nothing of the schema is dropped in silence.
    let others = [
        (
            ObjectKind::Type,
            "SELECT t.typname::text, 'CREATE TYPE ' || quote_ident(t.typname) || ' AS (' || \
                    string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) || ')' \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c' \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND t.typtype = 'c' GROUP BY t.typname",
        ),
        (
            ObjectKind::Type,
            "SELECT t.typname::text, 'CREATE TYPE ' || quote_ident(t.typname) || ' AS RANGE (SUBTYPE = ' || format_type(r.rngsubtype, NULL) || \
                    CASE WHEN r.rngsubdiff <> 0 THEN ', SUBTYPE_DIFF = ' || r.rngsubdiff::regproc::text ELSE '' END || ')' \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_range r ON r.rngtypid = t.oid WHERE n.nspname = $1",
        ),
        (
            ObjectKind::Type,
            "SELECT t.typname::text, '-- base type ' || quote_ident(t.typname) || ': made by its input and output functions (' || \
                    t.typinput::regproc::text || ', ' || t.typoutput::regproc::text || '), usually an extension''s: install it on the target' \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = $1 AND t.typtype = 'b' AND t.typelem = 0 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')",
        ),
        (
            ObjectKind::ForeignTable,
            "SELECT c.relname::text, 'CREATE FOREIGN TABLE ' || quote_ident(c.relname) || ' (' || \
                    (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) \
                     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) || ') SERVER ' || quote_ident(s.srvname) || \
                    coalesce(' OPTIONS (' || (SELECT string_agg(split_part(o, '=', 1) || ' ' || quote_literal(substr(o, strpos(o, '=') + 1)), ', ') \
                     FROM unnest(ft.ftoptions) o) || ')', '') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_foreign_table ft ON ft.ftrelid = c.oid \
             JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE n.nspname = $1 AND c.relkind = 'f'",
        ),
        (
            ObjectKind::Operator,
            "SELECT o.oprname::text || '(' || coalesce(format_type(o.oprleft, NULL), 'NONE') || ', ' || coalesce(format_type(o.oprright, NULL), 'NONE') || ')', \
                    'CREATE OPERATOR ' || o.oprname || ' (FUNCTION = ' || o.oprcode::regproc::text || \
                    CASE WHEN o.oprleft <> 0 THEN ', LEFTARG = ' || format_type(o.oprleft, NULL) ELSE '' END || \
                    CASE WHEN o.oprright <> 0 THEN ', RIGHTARG = ' || format_type(o.oprright, NULL) ELSE '' END || ')' \
             FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace \
             WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = o.oid AND d.deptype = 'e')",
        ),
        (
            ObjectKind::Operator,
            "SELECT 'class ' || c.opcname::text || ' (' || am.amname::text || ')', \
                    '-- operator class ' || quote_ident(c.opcname) || ' USING ' || am.amname || ' for ' || format_type(c.opcintype, NULL) || ': recreate it with CREATE OPERATOR CLASS' \
             FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am am ON am.oid = c.opcmethod \
             WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')",
        ),
        (
            ObjectKind::Collation,
            "SELECT c.collname::text, 'CREATE COLLATION ' || quote_ident(c.collname) || ' (PROVIDER = ' || \
                    CASE c.collprovider WHEN 'i' THEN 'icu' WHEN 'c' THEN 'libc' ELSE 'libc' END || \
                    ', LOCALE = ' || quote_literal(coalesce(to_jsonb(c)->>'colllocale', to_jsonb(c)->>'colliculocale', c.collcollate, '')) || \
                    CASE WHEN NOT c.collisdeterministic THEN ', DETERMINISTIC = false' ELSE '' END || ')' \
             FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace WHERE n.nspname = $1",
        ),
        (
            ObjectKind::TextSearch,
            "SELECT 'configuration ' || c.cfgname::text, 'CREATE TEXT SEARCH CONFIGURATION ' || quote_ident(c.cfgname) || ' (PARSER = ' || p.prsname::text || \
                    '); -- then its mappings (ALTER TEXT SEARCH CONFIGURATION … ADD MAPPING)' \
             FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace JOIN pg_ts_parser p ON p.oid = c.cfgparser WHERE n.nspname = $1",
        ),
        (
            ObjectKind::TextSearch,
            "SELECT 'dictionary ' || d.dictname::text, 'CREATE TEXT SEARCH DICTIONARY ' || quote_ident(d.dictname) || ' (TEMPLATE = ' || t.tmplname::text || \
                    coalesce(', ' || d.dictinitoption, '') || ')' \
             FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace JOIN pg_ts_template t ON t.oid = d.dicttemplate WHERE n.nspname = $1",
        ),
        (
            ObjectKind::Conversion,
            "SELECT c.conname::text, 'CREATE ' || CASE WHEN c.condefault THEN 'DEFAULT ' ELSE '' END || 'CONVERSION ' || quote_ident(c.conname) || \
                    ' FOR ' || quote_literal(pg_encoding_to_char(c.conforencoding)) || ' TO ' || quote_literal(pg_encoding_to_char(c.contoencoding)) || \
                    ' FROM ' || c.conproc::regproc::text \
             FROM pg_conversion c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1",
        ),
    ];
    for (kind, sql) in others {
        let mut rows = conn.client.query(sql, &[schema]).await.map_err(q)?;
        rows.sort_by_key(|r| r.get::<_, String>(0));
        for r in rows {
            objects.push(SourceObject { kind, name: r.get(0), table: None, sql: r.get(1) });
        }
    }

    // PostgreSQL's own types reach PostgreSQL unchanged: there is nothing to ask of the data.
    conn.batch("RESET search_path").await.map_err(source_error)?;
    Ok(Schema {
        name: src.schema.clone(),
        server_version: version,
        tables: tables.into_values().collect(),
        objects,
        types,
        sequences,
        probes: vec![],
        native_objects: true,
        view_columns,
    })
}

/// `((a > 0))` → `a > 0`; `(a > 0) AND (b < 1)` stays whole: a pair is stripped only when the
/// first parenthesis closes at the very end.
fn strip_outer_parens(mut e: &str) -> &str {
    loop {
        let t = e.trim();
        if !(t.starts_with('(') && t.ends_with(')')) {
            return t;
        }
        let (mut depth, mut quoted) = (0i32, false);
        for (i, ch) in t.char_indices() {
            match ch {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => {
                    depth -= 1;
                    if depth == 0 && i != t.len() - 1 {
                        return t;
                    }
                }
                _ => {}
            }
        }
        e = &t[1..t.len() - 1];
    }
}

/// A definition whose own name the catalog qualifies whatever the search path (a routine's,
/// `pg_get_functiondef`; extended statistics', `pg_get_statisticsobjdef`) with that schema
/// removed, so it is created in the target schema.
fn unqualified_name(def: &str, schema: &str) -> String {
    for head in ["CREATE OR REPLACE FUNCTION ", "CREATE OR REPLACE PROCEDURE ", "CREATE STATISTICS "] {
        for prefix in [format!("{}.", ferry_target_postgres::quote_ident(schema)), format!("{schema}.")] {
            if let Some(rest) = def.strip_prefix(&format!("{head}{prefix}")) {
                return format!("{head}{rest}");
            }
        }
    }
    def.to_string()
}

/// `CREATE AGGREGATE` for an aggregate as the catalog holds it (its support functions as
/// `regproc` prints them, qualified where not on the search path).
#[allow(clippy::too_many_arguments)]
fn aggregate_sql(
    name: &str,
    args: &str,
    sfunc: String,
    stype: String,
    finalfunc: Option<String>,
    combinefunc: Option<String>,
    initcond: Option<String>,
    kind: &str,
) -> String {
    let mut opts = vec![format!("SFUNC = {sfunc}"), format!("STYPE = {stype}")];
    opts.extend(finalfunc.map(|f| format!("FINALFUNC = {f}")));
    opts.extend(combinefunc.map(|f| format!("COMBINEFUNC = {f}")));
    opts.extend(initcond.map(|i| format!("INITCOND = {}", ferry_target_postgres::quote_literal(&i))));
    if kind == "h" {
        opts.push("HYPOTHETICAL".into());
    }
    format!("CREATE AGGREGATE {}({args}) ({})", ferry_target_postgres::quote_ident(name), opts.join(", "))
}

#[cfg(test)]
mod name_tests {
    use super::unqualified_name;

    #[test]
    fn a_definition_loses_the_schema_of_its_own_name_only() {
        assert_eq!(
            unqualified_name("CREATE OR REPLACE FUNCTION app.f(x integer)\n RETURNS int AS $$ SELECT app.g() $$", "app"),
            "CREATE OR REPLACE FUNCTION f(x integer)\n RETURNS int AS $$ SELECT app.g() $$"
        );
        assert_eq!(unqualified_name("CREATE STATISTICS \"My App\".s ON a, b FROM t", "My App"), "CREATE STATISTICS s ON a, b FROM t");
        assert_eq!(unqualified_name("CREATE VIEW v AS SELECT 1", "app"), "CREATE VIEW v AS SELECT 1");
    }
}

#[cfg(test)]
mod paren_tests {
    #[test]
    fn only_enclosing_parentheses_go() {
        assert_eq!(super::strip_outer_parens("((VALUE > 0))"), "VALUE > 0");
        assert_eq!(super::strip_outer_parens("((VALUE >= 1901) AND (VALUE <= 2155))"), "(VALUE >= 1901) AND (VALUE <= 2155)");
        assert_eq!(super::strip_outer_parens("(VALUE = ANY (ARRAY['G'::text, ')'::text]))"), "VALUE = ANY (ARRAY['G'::text, ')'::text])");
    }
}
