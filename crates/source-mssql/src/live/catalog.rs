//! A live SQL Server's schema from its `sys.*` catalog views (not INFORMATION_SCHEMA, which
//! misses identities outside `dbo` and foreign keys onto unique indexes), as the neutral model.
//!
//! Guarantees and why:
//! - **Catalog rows in, model out, nothing in between**: the queries ([`QUERIES`]) only read;
//!   [`schema_of`] turns their rows into tables, so the mapping is unit-tested on recorded rows
//!   (`tests::catalog_rows_become_the_model`) and the live server only supplies them.
//! - **Nothing dropped unmentioned**: a type ferry cannot read is `Unsupported`, which the plan
//!   refuses naming the column until a type override or an exclude decides ([`column_type`]); views, procedures, functions, triggers, synonyms and table types
//!   are listed with their T-SQL; an untrusted or disabled foreign key or check is created
//!   `NOT VALID` or listed, and said so.
//! - **`sql_variant` never reaches the driver raw** (tiberius 0.12 panics on it): identity
//!   values come from `IDENT_SEED`/`IDENT_INCR`/`IDENT_CURRENT` and extended properties are
//!   cast to nvarchar server-side.

use crate::script::{default_value, standard_quoting};
use ferry_model::{Check, Column, DataType, DefaultValue, FkAction, ForeignKey, Index, IndexColumn, IndexKind, Key, ObjectKind, Schema, SourceObject, Table};

/// One row of [`COLUMNS`].
#[derive(Debug, Clone, Default)]
pub struct ColumnRow {
    pub table: String,
    pub name: String,
    /// The system type (an alias type's base type).
    pub base_type: String,
    /// The type's own name where it is an alias type (`Name`, `Flag`).
    pub alias: Option<String>,
    /// Bytes (-1: max).
    pub max_length: i16,
    pub precision: u8,
    pub scale: u8,
    pub nullable: bool,
    /// Seed, increment and `IDENT_CURRENT` (the last value handed out, or the seed when none
    /// was: the next value is taken past it either way, so no value the application saw returns).
    pub identity: Option<(i64, i64, Option<i64>)>,
    /// Computed column definition and whether it is persisted.
    pub computed: Option<(String, bool)>,
    pub default: Option<String>,
    pub collation: Option<String>,
    pub comment: Option<String>,
}

/// One row of [`INDEXES`]: one column of one index or key.
#[derive(Debug, Clone, Default)]
pub struct IndexRow {
    pub table: String,
    pub name: String,
    pub primary: bool,
    pub unique_constraint: bool,
    pub unique: bool,
    /// `CLUSTERED`, `NONCLUSTERED`, `CLUSTERED COLUMNSTORE`, `XML`, `SPATIAL`, …
    pub type_desc: String,
    pub filter: Option<String>,
    pub column: String,
    pub included: bool,
    pub descending: bool,
}

/// One row of [`FOREIGN_KEYS`]: one column pair of one foreign key.
#[derive(Debug, Clone, Default)]
pub struct FkRow {
    pub table: String,
    pub name: String,
    pub ref_schema: String,
    pub ref_table: String,
    pub column: String,
    pub ref_column: String,
    /// `NO_ACTION`, `CASCADE`, `SET_NULL`, `SET_DEFAULT`.
    pub on_delete: String,
    pub on_update: String,
    pub not_trusted: bool,
    pub disabled: bool,
}

/// One row of [`CHECKS`].
#[derive(Debug, Clone, Default)]
pub struct CheckRow {
    pub table: String,
    pub name: String,
    pub definition: String,
    pub not_trusted: bool,
    pub disabled: bool,
}

/// One row of [`TABLES`].
#[derive(Debug, Clone, Default)]
pub struct TableRow {
    pub name: String,
    pub comment: Option<String>,
    pub rows: i64,
}

/// One row of [`MODULES`]: a view, routine, trigger, synonym or table type.
#[derive(Debug, Clone, Default)]
pub struct ModuleRow {
    pub name: String,
    /// `sys.objects.type` (`V`, `P`, `FN`, `IF`, `TF`, `TR`, `SN`) or `TT` for a table type.
    pub kind: String,
    pub definition: Option<String>,
    pub table: Option<String>,
}

/// The catalog queries, each with `@P1` = the source schema. Names are returned as stored.
pub const TABLES: &str = "SELECT t.name, CAST(ep.value AS nvarchar(max)) AS comment, \
     CAST(COALESCE((SELECT SUM(p.rows) FROM sys.partitions p WHERE p.object_id = t.object_id AND p.index_id IN (0, 1)), 0) AS bigint) AS row_estimate \
     FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id \
     LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = t.object_id AND ep.minor_id = 0 AND ep.name = 'MS_Description' \
     WHERE s.name = @P1 AND t.is_ms_shipped = 0 ORDER BY t.name";

pub const COLUMNS: &str = "SELECT t.name AS tbl, c.name, \
     CASE WHEN ut.is_user_defined = 0 THEN ut.name ELSE bt.name END AS base_type, \
     CASE WHEN ut.is_user_defined = 1 THEN ut.name END AS alias, \
     c.max_length, c.precision, c.scale, c.is_nullable, c.is_identity, \
     CAST(IDENT_SEED(QUOTENAME(s.name) + '.' + QUOTENAME(t.name)) AS bigint) AS seed, \
     CAST(IDENT_INCR(QUOTENAME(s.name) + '.' + QUOTENAME(t.name)) AS bigint) AS incr, \
     CAST(IDENT_CURRENT(QUOTENAME(s.name) + '.' + QUOTENAME(t.name)) AS bigint) AS last_value, \
     cc.definition AS computed, CAST(COALESCE(cc.is_persisted, 0) AS bit) AS persisted, dc.definition AS default_def, c.collation_name, \
     CAST(ep.value AS nvarchar(max)) AS comment \
     FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id \
     JOIN sys.columns c ON c.object_id = t.object_id \
     JOIN sys.types ut ON ut.user_type_id = c.user_type_id \
     LEFT JOIN sys.types bt ON bt.user_type_id = ut.system_type_id \
     LEFT JOIN sys.computed_columns cc ON cc.object_id = c.object_id AND cc.column_id = c.column_id \
     LEFT JOIN sys.default_constraints dc ON dc.object_id = c.default_object_id \
     LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id AND ep.name = 'MS_Description' \
     WHERE s.name = @P1 AND t.is_ms_shipped = 0 ORDER BY t.name, c.column_id";

pub const INDEXES: &str = "SELECT t.name AS tbl, i.name, i.is_primary_key, i.is_unique_constraint, i.is_unique, i.type_desc, \
     CASE WHEN i.has_filter = 1 THEN i.filter_definition END AS filter, c.name AS col, ic.is_included_column, ic.is_descending_key \
     FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id \
     JOIN sys.indexes i ON i.object_id = t.object_id \
     JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
     JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
     WHERE s.name = @P1 AND t.is_ms_shipped = 0 AND i.type > 0 AND i.is_hypothetical = 0 \
     ORDER BY t.name, i.index_id, ic.is_included_column, ic.key_ordinal, ic.index_column_id";

pub const FOREIGN_KEYS: &str = "SELECT t.name AS tbl, fk.name, rs.name AS ref_schema, rt.name AS ref_table, pc.name AS col, rc.name AS ref_col, \
     fk.delete_referential_action_desc, fk.update_referential_action_desc, fk.is_not_trusted, fk.is_disabled \
     FROM sys.foreign_keys fk JOIN sys.tables t ON t.object_id = fk.parent_object_id JOIN sys.schemas s ON s.schema_id = t.schema_id \
     JOIN sys.tables rt ON rt.object_id = fk.referenced_object_id JOIN sys.schemas rs ON rs.schema_id = rt.schema_id \
     JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id \
     JOIN sys.columns pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id \
     JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id \
     WHERE s.name = @P1 ORDER BY t.name, fk.name, fkc.constraint_column_id";

pub const CHECKS: &str = "SELECT t.name AS tbl, ck.name, ck.definition, ck.is_not_trusted, ck.is_disabled \
     FROM sys.check_constraints ck JOIN sys.tables t ON t.object_id = ck.parent_object_id JOIN sys.schemas s ON s.schema_id = t.schema_id \
     WHERE s.name = @P1 ORDER BY t.name, ck.name";

pub const MODULES: &str = "SELECT o.name, RTRIM(o.type) AS kind, m.definition, pt.name AS tbl \
     FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id \
     LEFT JOIN sys.sql_modules m ON m.object_id = o.object_id \
     LEFT JOIN sys.objects pt ON pt.object_id = o.parent_object_id AND o.type = 'TR' \
     WHERE s.name = @P1 AND o.is_ms_shipped = 0 AND o.type IN ('V', 'P', 'FN', 'IF', 'TF', 'TR') \
     UNION ALL SELECT sn.name, 'SN', 'CREATE SYNONYM ' + QUOTENAME(sn.name) + ' FOR ' + sn.base_object_name, NULL \
     FROM sys.synonyms sn JOIN sys.schemas s ON s.schema_id = sn.schema_id WHERE s.name = @P1 \
     UNION ALL SELECT tt.name, 'TT', NULL, NULL FROM sys.table_types tt JOIN sys.schemas s ON s.schema_id = tt.schema_id WHERE s.name = @P1 \
     ORDER BY 2, 1";

/// Table and column names as INFORMATION_SCHEMA spells them. On SQL Server they are the
/// catalog's own; Babelfish (the TDS stand-in ferry's tests use) lower-cases names in `sys.*` and
/// keeps the original spelling only here, so [`Names::fix`] restores it.
pub const NAMES: &str = "SELECT TABLE_NAME, COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = @P1";

/// Original spellings of table and column names, by lower-cased name.
#[derive(Debug, Default)]
pub struct Names {
    tables: std::collections::HashMap<String, String>,
    columns: std::collections::HashMap<(String, String), String>,
}

impl Names {
    pub fn new(rows: impl IntoIterator<Item = (String, String)>) -> Names {
        let mut n = Names::default();
        for (t, c) in rows {
            n.columns.insert((t.to_lowercase(), c.to_lowercase()), c);
            n.tables.insert(t.to_lowercase(), t);
        }
        n
    }

    /// A catalog table name in its original spelling (unchanged unless the catalog lower-cased it).
    pub fn table(&self, t: &str) -> String {
        match self.tables.get(&t.to_lowercase()) {
            Some(orig) if t == t.to_lowercase() => orig.clone(),
            _ => t.to_string(),
        }
    }

    pub fn column(&self, t: &str, c: &str) -> String {
        match self.columns.get(&(t.to_lowercase(), c.to_lowercase())) {
            Some(orig) if c == c.to_lowercase() => orig.clone(),
            _ => c.to_string(),
        }
    }

    /// Restores the original spelling of every table and column name in the catalog rows.
    pub fn fix(&self, tables: &mut [TableRow], columns: &mut [ColumnRow], indexes: &mut [IndexRow], fks: &mut [FkRow], checks: &mut [CheckRow]) {
        for t in tables {
            t.name = self.table(&t.name);
        }
        for c in columns {
            c.name = self.column(&c.table, &c.name);
            c.table = self.table(&c.table);
        }
        for i in indexes {
            i.column = self.column(&i.table, &i.column);
            i.table = self.table(&i.table);
        }
        for f in fks {
            f.column = self.column(&f.table, &f.column);
            f.ref_column = self.column(&f.ref_table, &f.ref_column);
            f.table = self.table(&f.table);
            f.ref_table = self.table(&f.ref_table);
        }
        for c in checks {
            c.table = self.table(&c.table);
        }
    }
}

/// Sequences of the schema (SQL Server 2012+): bounds read as decimal text (a `decimal(38,0)`
/// sequence may exceed a bigint; [`sequence_of`] clamps it).
pub const SEQUENCES: &str = "SELECT sq.name, TYPE_NAME(sq.system_type_id), CONVERT(varchar(40), sq.start_value), CONVERT(varchar(40), sq.increment), \
     CONVERT(varchar(40), sq.minimum_value), CONVERT(varchar(40), sq.maximum_value), CAST(sq.cache_size AS bigint), CAST(sq.is_cycling AS int), \
     CONVERT(varchar(40), sq.current_value) FROM sys.sequences sq JOIN sys.schemas s ON s.schema_id = sq.schema_id WHERE s.name = @P1 ORDER BY sq.name";

/// One row of [`SEQUENCES`] (numbers as SQL Server's decimal text).
#[derive(Debug, Clone, Default)]
pub struct SequenceRow {
    pub name: String,
    pub ty: String,
    pub start: String,
    pub increment: String,
    pub min: String,
    pub max: String,
    pub cache: i64,
    pub cycle: bool,
    pub current: String,
}

/// One row of [`SEQUENCES`] as the model's sequence: `tinyint`/`smallint` → smallint, `int` →
/// integer, the rest bigint (bounds clamped to it). The last value is `current_value` (SQL
/// Server gives the start value for a sequence never called: the target then continues one
/// step past it, never handing out a value the source did).
pub fn sequence_of(r: &SequenceRow) -> ferry_model::Sequence {
    let SequenceRow { name, ty, start, increment, min, max, cache, cycle, current } = r;
    let (cache, cycle) = (*cache, *cycle);
    let n = |s: &str| -> i64 { s.trim().split('.').next().unwrap_or("0").parse::<i128>().unwrap_or(0).clamp(i64::MIN as i128, i64::MAX as i128) as i64 };
    let data_type = match ty.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" => "smallint",
        "int" => "integer",
        _ => "bigint",
    };
    ferry_model::Sequence {
        name: name.to_string(),
        data_type: data_type.into(),
        start: n(start),
        increment: n(increment),
        min: n(min),
        max: n(max),
        cache: cache.max(1),
        cycle,
        last_value: Some(n(current)),
    }
}

/// The neutral type of a column, and its T-SQL spelling.
pub fn column_type(base: &str, max_length: i16, precision: u8, scale: u8) -> Result<(DataType, String), String> {
    let base = base.to_ascii_lowercase();
    let sized = |chars: i64| if max_length < 0 { format!("{base}(max)") } else { format!("{base}({chars})") };
    let n = max_length as i64;
    let max = 2_147_483_647;
    let t = match base.as_str() {
        "bit" => (DataType::Bool, base.clone()),
        "tinyint" => (DataType::Int { bytes: 1, unsigned: true, display_width: None }, base.clone()),
        "smallint" => (DataType::Int { bytes: 2, unsigned: false, display_width: None }, base.clone()),
        "int" => (DataType::Int { bytes: 4, unsigned: false, display_width: None }, base.clone()),
        "bigint" => (DataType::Int { bytes: 8, unsigned: false, display_width: None }, base.clone()),
        "decimal" | "numeric" => {
            (DataType::Decimal { precision: precision as u32, scale: scale as u32, unsigned: false }, format!("{base}({precision}, {scale})"))
        }
        "money" => (DataType::Money { bytes: 8 }, base.clone()),
        "smallmoney" => (DataType::Money { bytes: 4 }, base.clone()),
        "real" => (DataType::Float { unsigned: false }, base.clone()),
        "float" => (DataType::Double { unsigned: false }, base.clone()),
        "char" | "varchar" | "nchar" | "nvarchar" => {
            let chars = if base.starts_with('n') { n / 2 } else { n };
            let ty = match (max_length < 0, base.ends_with("char") && !base.contains("var")) {
                (true, _) => DataType::Text { max_bytes: max },
                (false, true) => DataType::Char { len: chars as u32 },
                (false, false) => DataType::Varchar { len: chars as u32 },
            };
            (ty, sized(chars))
        }
        "text" | "ntext" => (DataType::Text { max_bytes: max }, base.clone()),
        "sysname" => (DataType::Varchar { len: 128 }, base.clone()),
        "binary" => (DataType::Binary { len: n as u32 }, sized(n)),
        "varbinary" if max_length < 0 => (DataType::Blob { max_bytes: max }, sized(n)),
        "varbinary" => (DataType::Varbinary { len: n as u32 }, sized(n)),
        "image" => (DataType::Blob { max_bytes: max }, base.clone()),
        "timestamp" | "rowversion" => (DataType::Binary { len: 8 }, "rowversion".into()),
        "date" => (DataType::Date, base.clone()),
        "time" => (DataType::Time { fsp: scale.min(7) }, format!("time({scale})")),
        "datetime" => (DataType::DateTime { fsp: 3 }, base.clone()),
        "smalldatetime" => (DataType::DateTime { fsp: 0 }, base.clone()),
        "datetime2" => (DataType::DateTime { fsp: scale.min(7) }, format!("datetime2({scale})")),
        "datetimeoffset" => (DataType::DateTimeOffset { fsp: scale.min(7) }, format!("datetimeoffset({scale})")),
        "uniqueidentifier" => (DataType::Uuid, base.clone()),
        "xml" => (DataType::Xml, base.clone()),
        // Read through their own text or binary forms (read::select_expr), never raw.
        "hierarchyid" | "sql_variant" => (DataType::Text { max_bytes: max }, base.clone()),
        "geometry" | "geography" => (DataType::Blob { max_bytes: max }, base.clone()),
        // A CLR type, cursor…: the plan refuses the column naming it, until a type override
        // (or an exclude) says what to do.
        other => (DataType::Unsupported { name: other.to_string() }, other.to_string()),
    };
    Ok(t)
}

/// A column's `DEFAULT` definition (`((0))`, `(getdate())`, `(N'x')`) in the model.
pub fn default_of(definition: &str) -> DefaultValue {
    // `(NEXT VALUE FOR [dbo].[seq])`: the sequence, created on the target (the plan qualifies it).
    let bare = definition.trim().trim_start_matches('(').trim_end_matches(')').trim();
    if let Some(rest) = bare.strip_prefix("NEXT VALUE FOR ").or_else(|| bare.strip_prefix("next value for ")) {
        let seq = rest.rsplit('.').next().unwrap_or(rest).trim().trim_start_matches('[').trim_end_matches(']').replace("]]", "]");
        return DefaultValue::Native(format!("nextval('{}'::regclass)", seq.replace('\'', "''")));
    }
    let parsed = sqlparser::parser::Parser::new(&sqlparser::dialect::MsSqlDialect {}).try_with_sql(definition).and_then(|mut p| p.parse_expr());
    match parsed {
        Ok(e) => match default_value(&e) {
            // `CONVERT(date, getdate())`, `CAST(getdate() AS date)`: today.
            DefaultValue::Expression(x) if is_today(&x) => DefaultValue::CurrentDate,
            DefaultValue::Expression(x) => DefaultValue::Expression(x),
            d => d,
        },
        Err(_) => DefaultValue::Expression(definition.to_string()),
    }
}

fn is_today(e: &str) -> bool {
    let e = e.to_ascii_lowercase().replace([' ', '[', ']'], "");
    ["convert(date,getdate())", "cast(getdate()asdate)", "convert(date,sysdatetime())", "cast(sysdatetime()asdate)"].iter().any(|t| e.contains(t))
}

fn fk_action(desc: &str) -> FkAction {
    match desc {
        "CASCADE" => FkAction::Cascade,
        "SET_NULL" => FkAction::SetNull,
        "SET_DEFAULT" => FkAction::SetDefault,
        _ => FkAction::NoAction,
    }
}

/// The T-SQL comparison a filtered index's definition makes, in standard quoting (`([Status]=(1))`
/// → `("Status"=(1))`), or None where it uses T-SQL PostgreSQL does not have.
pub fn filter_of(definition: &str) -> String {
    standard_quoting(definition)
}

/// Rows of every catalog query → the schema `name` (tables in `TABLES` order).
#[allow(clippy::too_many_arguments)]
pub fn schema_of(
    name: &str,
    source_schema: &str,
    server_version: &str,
    tables: Vec<TableRow>,
    columns: Vec<ColumnRow>,
    indexes: Vec<IndexRow>,
    fks: Vec<FkRow>,
    checks: Vec<CheckRow>,
    modules: Vec<ModuleRow>,
    names: &Names,
    select: &dyn Fn(&str) -> bool,
) -> Result<Schema, String> {
    let mut out: Vec<Table> = Vec::new();
    let mut objects: Vec<SourceObject> = Vec::new();
    let listed = |objects: &mut Vec<SourceObject>, kind: ObjectKind, name: String, table: Option<String>, sql: String| {
        objects.push(SourceObject { kind, name, table, sql })
    };
    for tr in tables.iter().filter(|t| select(&t.name)) {
        out.push(Table { name: tr.name.clone(), comment: tr.comment.clone(), estimated_rows: tr.rows.max(0) as u64, ..Default::default() });
    }
    let find = |out: &mut Vec<Table>, t: &str| out.iter().position(|x| x.name == t);
    for c in columns {
        let Some(ti) = find(&mut out, &c.table) else { continue };
        let (data_type, source_type) =
            column_type(&c.base_type, c.max_length, c.precision, c.scale).map_err(|e| format!("column {}.{}: {e}", c.table, c.name))?;
        let mut col = Column::new(c.name.clone(), data_type, source_type);
        col.nullable = c.nullable;
        col.comment = c.comment.clone();
        col.case_insensitive = c.collation.as_deref().map(str::to_ascii_uppercase).is_some_and(|x| x.contains("_CI_") || x.ends_with("_CI"));
        col.collation = c.collation.clone();
        if let Some(d) = &c.default {
            col.default = Some(default_of(d));
        }
        if let Some((seed, incr, last)) = c.identity {
            col.auto_increment = true;
            // Past the last value handed out (IDENT_CURRENT), or the seed when none is known.
            let next = match last {
                Some(l) => l + incr,
                None => seed,
            };
            out[ti].auto_increment = Some(next.max(1) as u64);
        }
        if let Some((def, persisted)) = &c.computed {
            col.generated = Some(format!("{def}{}", if *persisted { " PERSISTED" } else { "" }));
        }
        let base = c.base_type.to_ascii_lowercase();
        if base == "geometry" || base == "geography" {
            col.profile_note =
                Some(format!("{base} read as WKB (STAsBinary) into bytea: its SRID is not kept; install PostGIS and override the type to keep it"));
        }
        if let Some(alias) = &c.alias {
            let note = format!("alias type {alias} → its base type {}", col.source_type);
            col.profile_note = Some(match col.profile_note.take() {
                Some(n) => format!("{n}; {note}"),
                None => note,
            });
        }
        out[ti].columns.push(col);
    }
    // Computed columns: computed by the target where the expression translates.
    for t in &mut out {
        let translated: Vec<Option<String>> =
            t.columns.iter().map(|c| c.generated.as_deref().and_then(|g| crate::expr::to_postgres_immutable(g.trim_end_matches(" PERSISTED"), t))).collect();
        for (c, pg) in t.columns.iter_mut().zip(translated) {
            c.generated_postgres = pg;
        }
    }
    // Keys and indexes: rows arrive per index, key columns (by ordinal) before included ones.
    for group in indexes.chunk_by(|a, b| a.table == b.table && a.name == b.name) {
        let first = &group[0];
        let Some(ti) = find(&mut out, &first.table) else { continue };
        let t = &mut out[ti];
        let key_cols: Vec<&IndexRow> = group.iter().filter(|r| !r.included).collect();
        let include: Vec<String> = group.iter().filter(|r| r.included).map(|r| r.column.clone()).collect();
        let obj = format!("index {} on {}", first.name, first.table);
        let key = Key { name: first.name.clone(), columns: key_cols.iter().map(|r| r.column.clone()).collect() };
        if first.primary {
            t.primary_key = Some(key);
            continue;
        }
        // A UNIQUE constraint, or a unique index over plain columns without filter, identifies
        // rows as a key does (the index itself is created below, as the model keeps keys).
        if first.unique && first.filter.is_none() {
            t.unique_keys.push(key);
        }
        if !first.type_desc.contains("CLUSTERED") || first.type_desc.contains("COLUMNSTORE") {
            listed(
                &mut objects,
                ObjectKind::Statement,
                obj.clone(),
                Some(first.table.clone()),
                format!("-- a {} index: not created on the target; recreate it as PostgreSQL offers (GIN, GiST, BRIN)", first.type_desc),
            );
            continue;
        }
        t.indexes.push(Index {
            name: first.name.clone(),
            columns: key_cols.iter().map(|r| IndexColumn { name: r.column.clone(), prefix: None, descending: r.descending }).collect(),
            unique: first.unique,
            kind: IndexKind::BTree,
            comment: None,
            include,
            filter: first.filter.as_deref().map(|f| crate::expr::to_postgres(f, t).unwrap_or_else(|| filter_of(f))),
        });
    }
    for group in fks.chunk_by(|a, b| a.table == b.table && a.name == b.name) {
        let first = &group[0];
        let Some(ti) = find(&mut out, &first.table) else { continue };
        out[ti].foreign_keys.push(ForeignKey {
            name: first.name.clone(),
            columns: group.iter().map(|r| r.column.clone()).collect(),
            ref_schema: (first.ref_schema != source_schema).then(|| first.ref_schema.clone()),
            ref_table: first.ref_table.clone(),
            ref_columns: group.iter().map(|r| r.ref_column.clone()).collect(),
            on_delete: fk_action(&first.on_delete),
            on_update: fk_action(&first.on_update),
            not_valid: first.not_trusted || first.disabled,
        });
    }
    for c in checks {
        let Some(ti) = find(&mut out, &c.table) else { continue };
        // Translated where certain; else identifiers only (PostgreSQL may refuse it: listed).
        let expression = crate::expr::to_postgres(&c.definition, &out[ti]).unwrap_or_else(|| standard_quoting(&c.definition));
        out[ti].checks.push(Check { name: c.name.clone(), expression, not_valid: c.not_trusted || c.disabled });
    }
    for mut m in modules {
        m.name = names.table(&m.name);
        m.table = m.table.map(|t| names.table(&t));
        let kind = match m.kind.as_str() {
            "V" => ObjectKind::View,
            "P" => ObjectKind::Procedure,
            "FN" | "IF" | "TF" => ObjectKind::Function,
            "TR" => ObjectKind::Trigger,
            "TT" => ObjectKind::Type,
            _ => ObjectKind::Statement,
        };
        let sql = m.definition.clone().unwrap_or_else(|| match m.kind.as_str() {
            "TT" => format!("-- user-defined table type {}: recreate it as a composite type or a temporary table", m.name),
            _ => format!("-- {} {}: its definition is encrypted or not visible to this login", m.kind, m.name),
        });
        let name = if m.kind == "SN" { format!("synonym {}", m.name) } else { m.name.clone() };
        listed(&mut objects, kind, name, m.table.clone(), sql);
    }
    Ok(Schema {
        name: name.to_string(),
        server_version: server_version.to_string(),
        tables: out,
        objects,
        // A TIME is a time of day; no zero dates, no invalid enums; 100 ns digits, yes.
        probes: vec![ferry_model::Probe::OutsideDay, ferry_model::Probe::BeyondMicroseconds],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(table: &str, name: &str, base: &str, max_length: i16) -> ColumnRow {
        ColumnRow { table: table.into(), name: name.into(), base_type: base.into(), max_length, nullable: true, ..Default::default() }
    }

    /// Rows as SQL Server returns them for
    /// `CREATE TABLE Sales.Orders (OrderID int IDENTITY(100, 5) PRIMARY KEY, Qty int CHECK (Qty > 0),
    ///  Price money, Total AS (Qty * Price) PERSISTED, Status tinyint DEFAULT ((1)), Note nvarchar(200),
    ///  CustomerID int, Placed datetime2(7) DEFAULT (sysdatetime()), Code Name /* alias of nvarchar(50) */)`,
    /// an untrusted foreign key, a filtered index with INCLUDE, and MS_Description comments.
    #[test]
    fn catalog_rows_become_the_model() {
        let tables = vec![
            TableRow { name: "Orders".into(), comment: Some("one row per order".into()), rows: 42 },
            TableRow { name: "Customers".into(), comment: None, rows: 7 },
        ];
        let mut id = column("Orders", "OrderID", "int", 4);
        id.nullable = false;
        id.identity = Some((100, 5, Some(310)));
        let mut qty = column("Orders", "Qty", "int", 4);
        qty.comment = Some("units".into());
        let mut total = column("Orders", "Total", "money", 8);
        total.computed = Some(("([Qty]*[Price])".into(), true));
        let mut status = column("Orders", "Status", "tinyint", 1);
        status.default = Some("((1))".into());
        let mut note = column("Orders", "Note", "nvarchar", 400);
        note.collation = Some("SQL_Latin1_General_CP1_CI_AS".into());
        let mut placed = column("Orders", "Placed", "datetime2", 8);
        placed.scale = 7;
        placed.default = Some("(sysdatetime())".into());
        let mut code = column("Orders", "Code", "nvarchar", 100);
        code.alias = Some("Name".into());
        let mut cid = column("Customers", "CustomerID", "int", 4);
        cid.nullable = false;
        let columns = vec![id, qty, column("Orders", "Price", "money", 8), total, status, note, column("Orders", "CustomerID", "int", 4), placed, code, cid];
        let ix = |name: &str, col: &str, included: bool| IndexRow {
            table: "Orders".into(),
            name: name.into(),
            type_desc: "NONCLUSTERED".into(),
            filter: (name == "IX_Open").then(|| "([Status]=(1))".into()),
            column: col.into(),
            included,
            ..Default::default()
        };
        let pk = IndexRow {
            table: "Orders".into(),
            name: "PK_Orders".into(),
            primary: true,
            unique: true,
            type_desc: "CLUSTERED".into(),
            column: "OrderID".into(),
            ..Default::default()
        };
        let cpk = IndexRow {
            table: "Customers".into(),
            name: "PK_Customers".into(),
            primary: true,
            unique: true,
            type_desc: "CLUSTERED".into(),
            column: "CustomerID".into(),
            ..Default::default()
        };
        let mut by_customer = ix("IX_Customer", "CustomerID", false);
        by_customer.descending = true;
        let indexes = vec![cpk, pk, ix("IX_Open", "Placed", false), ix("IX_Open", "Note", true), ix("IX_Open", "Qty", true), by_customer];
        let fks = vec![FkRow {
            table: "Orders".into(),
            name: "FK_Orders_Customers".into(),
            ref_schema: "Sales".into(),
            ref_table: "Customers".into(),
            column: "CustomerID".into(),
            ref_column: "CustomerID".into(),
            on_delete: "CASCADE".into(),
            on_update: "NO_ACTION".into(),
            not_trusted: true,
            disabled: false,
        }];
        let checks = vec![CheckRow { table: "Orders".into(), name: "CK_Qty".into(), definition: "([Qty]>(0))".into(), not_trusted: false, disabled: false }];
        let modules = vec![
            ModuleRow {
                name: "OpenOrders".into(),
                kind: "V".into(),
                definition: Some("CREATE VIEW OpenOrders AS SELECT * FROM Orders WHERE Status = 1".into()),
                table: None,
            },
            ModuleRow { name: "trg_Orders".into(), kind: "TR".into(), definition: None, table: Some("Orders".into()) },
            ModuleRow { name: "OrderLines".into(), kind: "TT".into(), definition: None, table: None },
        ];
        let s = schema_of("shop_sales", "Sales", "SQL Server 16.0", tables, columns, indexes, fks, checks, modules, &Names::default(), &|_| true).unwrap();
        assert_eq!(s.name, "shop_sales");
        let o = s.table("Orders").unwrap();
        assert_eq!(o.comment.as_deref(), Some("one row per order"));
        assert_eq!(o.estimated_rows, 42);
        // Identity continues past the last value handed out.
        assert!(o.column("OrderID").unwrap().auto_increment);
        assert_eq!(o.auto_increment, Some(315));
        assert_eq!(o.column("Qty").unwrap().comment.as_deref(), Some("units"));
        assert_eq!(o.column("Price").unwrap().data_type, DataType::Money { bytes: 8 });
        assert_eq!(o.column("Total").unwrap().generated.as_deref(), Some("([Qty]*[Price]) PERSISTED"));
        assert_eq!(o.column("Total").unwrap().generated_postgres.as_deref(), Some("(\"Qty\" * \"Price\")"), "computed by the target");
        assert_eq!(o.column("Status").unwrap().default, Some(DefaultValue::Literal("1".into())));
        assert_eq!(o.column("Status").unwrap().data_type, DataType::Int { bytes: 1, unsigned: true, display_width: None });
        let note = o.column("Note").unwrap();
        assert_eq!((note.data_type.clone(), note.source_type.as_str(), note.case_insensitive), (DataType::Varchar { len: 200 }, "nvarchar(200)", true));
        assert_eq!(o.column("Placed").unwrap().data_type, DataType::DateTime { fsp: 7 });
        assert_eq!(o.column("Placed").unwrap().default, Some(DefaultValue::CurrentTimestamp));
        assert!(o.column("Code").unwrap().profile_note.as_deref().unwrap().contains("alias type Name"));
        assert_eq!(o.primary_key.as_ref().unwrap().columns, ["OrderID"]);
        let open = o.indexes.iter().find(|i| i.name == "IX_Open").unwrap();
        assert_eq!(open.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Placed"]);
        assert_eq!(open.include, ["Note", "Qty"]);
        assert_eq!(open.filter.as_deref(), Some("(\"Status\" = (1))"));
        assert!(o.indexes.iter().find(|i| i.name == "IX_Customer").unwrap().columns[0].descending);
        assert!(o.unique_keys.is_empty() && o.indexes.len() == 2, "the primary key is not an index too");
        let fk = &o.foreign_keys[0];
        assert_eq!((fk.ref_table.as_str(), fk.on_delete, fk.not_valid, fk.ref_schema.clone()), ("Customers", FkAction::Cascade, true, None));
        assert_eq!(o.checks[0].expression, "(\"Qty\" > (0))");
        assert!(!o.checks[0].not_valid);
        let kinds: Vec<(ObjectKind, &str)> = s.objects.iter().map(|x| (x.kind, x.name.as_str())).collect();
        assert_eq!(kinds, [(ObjectKind::View, "OpenOrders"), (ObjectKind::Trigger, "trg_Orders"), (ObjectKind::Type, "OrderLines")]);
        assert!(s.objects[1].sql.contains("encrypted or not visible"), "a module without a definition says why");
    }

    #[test]
    fn types_follow_the_catalog_lengths() {
        assert_eq!(column_type("nvarchar", -1, 0, 0).unwrap(), (DataType::Text { max_bytes: 2_147_483_647 }, "nvarchar(max)".into()));
        assert_eq!(column_type("nchar", 20, 0, 0).unwrap().0, DataType::Char { len: 10 }, "max_length is bytes: halved for n-types");
        assert_eq!(column_type("varchar", 20, 0, 0).unwrap().0, DataType::Varchar { len: 20 });
        assert_eq!(column_type("varbinary", -1, 0, 0).unwrap().0, DataType::Blob { max_bytes: 2_147_483_647 });
        assert_eq!(column_type("time", 5, 16, 3).unwrap().0, DataType::Time { fsp: 3 }, "scale is the fractional-second digits");
        assert_eq!(column_type("datetimeoffset", 10, 34, 7).unwrap().0, DataType::DateTimeOffset { fsp: 7 });
        assert_eq!(column_type("timestamp", 8, 0, 0).unwrap().0, DataType::Binary { len: 8 });
        assert_eq!(column_type("decimal", 9, 10, 2).unwrap(), (DataType::Decimal { precision: 10, scale: 2, unsigned: false }, "decimal(10, 2)".into()));
        assert_eq!(column_type("myclrtype", 0, 0, 0).unwrap().0, DataType::Unsupported { name: "myclrtype".into() }, "the plan names it");
    }

    #[test]
    fn defaults_translate_a_known_set_and_keep_the_rest() {
        assert_eq!(default_of("((0))"), DefaultValue::Literal("0".into()));
        assert_eq!(default_of("(N'x')"), DefaultValue::Literal("x".into()));
        assert_eq!(default_of("(getdate())"), DefaultValue::CurrentTimestamp);
        assert_eq!(default_of("(newsequentialid())"), DefaultValue::NewUuid);
        assert_eq!(default_of("(CONVERT([date],getdate()))"), DefaultValue::CurrentDate);
        assert!(matches!(default_of("(suser_sname())"), DefaultValue::Expression(_)));
        assert_eq!(default_of("(NEXT VALUE FOR [dbo].[OrderNo])"), DefaultValue::Native("nextval('OrderNo'::regclass)".into()));
        let row = |ty: &str, min: &str, max: &str, current: &str| SequenceRow {
            name: "OrderNo".into(),
            ty: ty.into(),
            start: "1".into(),
            increment: "1".into(),
            min: min.into(),
            max: max.into(),
            cache: 50,
            cycle: false,
            current: current.into(),
        };
        let nines = "9".repeat(38);
        let q = sequence_of(&row("decimal", &format!("-{nines}"), &nines, "41"));
        assert_eq!((q.data_type.as_str(), q.min, q.max, q.last_value), ("bigint", i64::MIN, i64::MAX, Some(41)));
        assert_eq!(sequence_of(&row("int", "-2147483648", "2147483647", "100")).data_type, "integer");
    }
}
