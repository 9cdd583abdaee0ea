//! A live SQL Server as a source: `mssql://user@host:1433/database?schema=dbo` over TDS
//! (tiberius), schema from `sys.*` ([`catalog`]), parallel snapshot reads ([`read`]) and verify
//! hashes over texts SQL Server computes ([`verify`]).
//!
//! Guarantees and why:
//! - **Consistent reads where SQL Server allows them** ([`MsSource::open_snapshot`]): each
//!   reader holds one `SNAPSHOT` transaction when the database allows snapshot isolation, so a
//!   table is read at one instant. SQL Server has no snapshot shared between connections: with
//!   several readers the tables may stand at slightly different instants, and the position
//!   says `consistent: false` with why; one reader (`--workers 1`) reads everything at one instant.
//!   Without snapshot isolation the readers read committed rows and the preflight says how to
//!   allow it (`ALTER DATABASE … SET ALLOW_SNAPSHOT_ISOLATION ON`).
//! - **Keys chunk by range** ([`MsSource::plan_chunks`]): disjoint `lo < k <= hi` ranges
//!   covering the key span for an integer key; for a uniqueidentifier, text, date-time or
//!   decimal key, bounds SQL Server sampled in its own order and compares itself
//!   ([`MsSource::keyset_chunks`]) — never ferry's or PostgreSQL's order, which would skip rows.
//!   Other tables are read whole.
//! - **Read-only**: nothing is written to the source.

pub mod catalog;
pub mod cdc;
pub mod conn;
pub mod read;
pub mod verify;

use conn::{map_error, quote_ident, MsClient, MsUrl};
use ferry_model::{
    split_int_range, ChunkRange, DataType, ErrorKind, Probe, RowSender, Schema, SnapshotPosition, SnapshotReader, Source, SourceError, Table, TableSelection,
};
use tiberius::{ColumnData, Row};

/// The kind positions and state name a live SQL Server by.
pub const KIND: &str = "mssql";

/// A live SQL Server database (one source schema).
pub struct MsSource {
    pub(crate) url: MsUrl,
    /// The source schema read.
    pub(crate) schema: String,
    /// The full load that starts a sync: its snapshot carries the CDC position read before the
    /// first table is scanned ([`cdc`]).
    sync_load: bool,
    /// The user's cell rules: date-time columns overridden to text are read as SQL Server's
    /// own text of them (`Column::stored_as = "text"`).
    rules: ferry_model::CellRules,
    /// Idle connections, reused by verify and the catalog queries.
    idle: tokio::sync::Mutex<Vec<MsClient>>,
}

fn definite(msg: impl Into<String>) -> SourceError {
    SourceError::new(ErrorKind::Definite, msg.into())
}

/// Every row of `sql` with `@P1` = `param`.
pub(crate) async fn query(client: &mut MsClient, sql: &str, param: &str) -> Result<Vec<Row>, SourceError> {
    let stream = client.query(sql, &[&param]).await.map_err(map_error)?;
    stream.into_first_result().await.map_err(map_error)
}

pub(crate) fn text(r: &Row, i: usize) -> Option<String> {
    match r.cells().nth(i).map(|(_, c)| c) {
        Some(ColumnData::String(s)) => s.as_ref().map(|s| s.to_string()),
        _ => None,
    }
}

pub(crate) fn int(r: &Row, i: usize) -> Option<i64> {
    match r.cells().nth(i).map(|(_, c)| c) {
        Some(ColumnData::U8(v)) => v.map(i64::from),
        Some(ColumnData::I16(v)) => v.map(i64::from),
        Some(ColumnData::I32(v)) => v.map(i64::from),
        Some(ColumnData::I64(v)) => *v,
        Some(ColumnData::Bit(v)) => v.map(i64::from),
        Some(ColumnData::Numeric(n)) => n.map(|n| (n.value() / 10i128.pow(n.scale() as u32)) as i64),
        _ => None,
    }
}

fn flag(r: &Row, i: usize) -> bool {
    int(r, i).unwrap_or(0) != 0
}

impl MsSource {
    /// Connects to `url` and checks that the schema exists. Errors name host and database.
    pub async fn connect(url: &str) -> Result<Self, SourceError> {
        Self::connect_with(url, ferry_model::CellRules::default()).await
    }

    /// [`MsSource::connect`] under the user's cell rules.
    pub async fn connect_with(url: &str, rules: ferry_model::CellRules) -> Result<Self, SourceError> {
        let url = MsUrl::parse(url)?;
        if url.schemas.len() > 1 {
            return Err(definite(format!(
                "{}: one source schema per run (got {}); migrate each into its own target schema: ?schema={} with [target] schema = \"…\"",
                url.describe(),
                url.schemas.join(", "),
                url.schemas[0]
            )));
        }
        let schema = url.schemas[0].clone();
        let source = MsSource { url, schema, sync_load: false, rules, idle: tokio::sync::Mutex::new(Vec::new()) };
        let mut c = source.client().await?;
        let found = query(&mut c, "SELECT name FROM sys.schemas WHERE name = @P1", &source.schema).await?;
        if found.is_empty() {
            return Err(SourceError::new(ErrorKind::NotFound, format!("{}: no schema [{}]", source.url.describe(), source.schema)));
        }
        source.give_back(c).await;
        Ok(source)
    }

    /// An idle connection or a new one.
    pub(crate) async fn client(&self) -> Result<MsClient, SourceError> {
        if let Some(c) = self.idle.lock().await.pop() {
            return Ok(c);
        }
        self.url.connect().await
    }

    pub(crate) async fn give_back(&self, c: MsClient) {
        let mut idle = self.idle.lock().await;
        if idle.len() < 4 {
            idle.push(c);
        }
    }

    /// The same source, for the full load that starts a sync.
    pub(crate) fn for_sync_load(&self) -> MsSource {
        MsSource { url: self.url.clone(), schema: self.schema.clone(), sync_load: true, rules: self.rules.clone(), idle: tokio::sync::Mutex::new(Vec::new()) }
    }

    /// The target schema name SCT would choose: `<database>_<schema>`, lower-cased.
    pub fn default_schema_name(&self) -> String {
        format!("{}_{}", self.url.database, self.schema).to_lowercase()
    }

    /// Ranges of a table whose key is no integer (a uniqueidentifier, text, a date-time): every
    /// `rows_per_chunk`-th key in SQL Server's own order (`ROW_NUMBER() OVER (ORDER BY key)`),
    /// so the ranges are disjoint and cover every row in the order the reader's `>`/`<=` use —
    /// a uniqueidentifier sorts by its last byte group first, never as its text does.
    async fn keyset_chunks(&self, table: &Table, key: &ferry_model::Column, rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        let k = quote_ident(&key.name);
        let sql = format!(
            "SELECT CONVERT(nvarchar(4000), b.k{style}) FROM (SELECT {k} AS k, ROW_NUMBER() OVER (ORDER BY {k}) AS rn FROM {}.{}) b WHERE b.rn % {} = 0 ORDER BY b.k",
            quote_ident(&self.schema),
            quote_ident(&table.name),
            rows_per_chunk.max(1),
            style = if key.data_type.is_temporal() { ", 121" } else { "" },
        );
        let mut c = self.client().await?;
        let rows = c
            .simple_query(sql)
            .await
            .map_err(map_error)?
            .into_first_result()
            .await
            .map_err(|e| map_error(e).context(format!("sampling the keys of {}", table.name)))?;
        self.give_back(c).await;
        let bounds: Vec<String> = rows.iter().filter_map(|r| text(r, 0)).collect();
        let mut out = Vec::with_capacity(bounds.len() + 1);
        let mut lo = None;
        for b in bounds {
            out.push(ChunkRange::Keyset { column: key.name.clone(), lo: lo.clone(), hi: Some(b.clone()) });
            lo = Some(b);
        }
        out.push(ChunkRange::Keyset { column: key.name.clone(), lo, hi: None });
        Ok(out)
    }

    /// Whether the database allows SNAPSHOT isolation.
    async fn snapshot_allowed(&self, c: &mut MsClient) -> Result<bool, SourceError> {
        let rows = query(c, "SELECT CAST(snapshot_isolation_state AS int) FROM sys.databases WHERE name = @P1", &self.url.database).await?;
        Ok(rows.first().and_then(|r| int(r, 0)) == Some(1))
    }

    async fn server_version(c: &mut MsClient) -> Result<String, SourceError> {
        let rows = c
            .simple_query("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), CAST(SERVERPROPERTY('Edition') AS nvarchar(128)), @@VERSION")
            .await
            .map_err(map_error)?
            .into_first_result()
            .await
            .map_err(map_error)?;
        let r = rows.first();
        let version = r.and_then(|r| text(r, 0)).unwrap_or_default();
        let full = r.and_then(|r| text(r, 2)).unwrap_or_default();
        let product = if full.to_ascii_lowercase().contains("babelfish") { "SQL Server (Babelfish)" } else { "SQL Server" };
        Ok(format!("{product} {version}").trim().to_string())
    }
}

impl Source for MsSource {
    type Reader = MsReader;

    async fn introspect(&self, select: TableSelection<'_>) -> Result<Schema, SourceError> {
        use catalog::*;
        let mut c = self.client().await?;
        let s = &self.schema;
        let ctx = |what: &'static str| move |e: SourceError| e.context(format!("reading the catalog ({what})"));
        let tables = query(&mut c, TABLES, s).await.map_err(ctx("sys.tables"))?;
        let mut tables: Vec<TableRow> =
            tables.iter().map(|r| TableRow { name: text(r, 0).unwrap_or_default(), comment: text(r, 1), rows: int(r, 2).unwrap_or(0) }).collect();
        let columns = query(&mut c, COLUMNS, s).await.map_err(ctx("sys.columns"))?;
        let mut columns: Vec<ColumnRow> = columns
            .iter()
            .map(|r| ColumnRow {
                table: text(r, 0).unwrap_or_default(),
                name: text(r, 1).unwrap_or_default(),
                base_type: text(r, 2).unwrap_or_default(),
                alias: text(r, 3),
                max_length: int(r, 4).unwrap_or(0) as i16,
                precision: int(r, 5).unwrap_or(0) as u8,
                scale: int(r, 6).unwrap_or(0) as u8,
                nullable: flag(r, 7),
                identity: flag(r, 8).then(|| (int(r, 9).unwrap_or(1), int(r, 10).unwrap_or(1), int(r, 11))),
                computed: text(r, 12).map(|d| (d, flag(r, 13))),
                default: text(r, 14),
                collation: text(r, 15),
                comment: text(r, 16),
            })
            .collect();
        let indexes = query(&mut c, INDEXES, s).await.map_err(ctx("sys.indexes"))?;
        let mut indexes: Vec<IndexRow> = indexes
            .iter()
            .map(|r| IndexRow {
                table: text(r, 0).unwrap_or_default(),
                name: text(r, 1).unwrap_or_default(),
                primary: flag(r, 2),
                unique_constraint: flag(r, 3),
                unique: flag(r, 4),
                type_desc: text(r, 5).unwrap_or_default(),
                filter: text(r, 6),
                column: text(r, 7).unwrap_or_default(),
                included: flag(r, 8),
                descending: flag(r, 9),
            })
            .collect();
        let fks = query(&mut c, FOREIGN_KEYS, s).await.map_err(ctx("sys.foreign_keys"))?;
        let mut fks: Vec<FkRow> = fks
            .iter()
            .map(|r| FkRow {
                table: text(r, 0).unwrap_or_default(),
                name: text(r, 1).unwrap_or_default(),
                ref_schema: text(r, 2).unwrap_or_default(),
                ref_table: text(r, 3).unwrap_or_default(),
                column: text(r, 4).unwrap_or_default(),
                ref_column: text(r, 5).unwrap_or_default(),
                on_delete: text(r, 6).unwrap_or_default(),
                on_update: text(r, 7).unwrap_or_default(),
                not_trusted: flag(r, 8),
                disabled: flag(r, 9),
            })
            .collect();
        let checks = query(&mut c, CHECKS, s).await.map_err(ctx("sys.check_constraints"))?;
        let mut checks: Vec<CheckRow> = checks
            .iter()
            .map(|r| CheckRow {
                table: text(r, 0).unwrap_or_default(),
                name: text(r, 1).unwrap_or_default(),
                definition: text(r, 2).unwrap_or_default(),
                not_trusted: flag(r, 3),
                disabled: flag(r, 4),
            })
            .collect();
        let modules = query(&mut c, MODULES, s).await.map_err(ctx("sys.sql_modules"))?;
        let modules = modules
            .iter()
            .map(|r| ModuleRow { name: text(r, 0).unwrap_or_default(), kind: text(r, 1).unwrap_or_default(), definition: text(r, 2), table: text(r, 3) })
            .collect();
        let names = query(&mut c, NAMES, s).await.map_err(ctx("INFORMATION_SCHEMA.COLUMNS"))?;
        let names = Names::new(names.iter().map(|r| (text(r, 0).unwrap_or_default(), text(r, 1).unwrap_or_default())));
        names.fix(&mut tables, &mut columns, &mut indexes, &mut fks, &mut checks);
        let version = Self::server_version(&mut c).await?;
        let sequences = match query(&mut c, SEQUENCES, s).await {
            Ok(rows) => rows
                .iter()
                .map(|r| {
                    let t = |i| text(r, i).unwrap_or_default();
                    sequence_of(&SequenceRow {
                        name: t(0),
                        ty: t(1),
                        start: t(2),
                        increment: t(3),
                        min: t(4),
                        max: t(5),
                        cache: int(r, 6).unwrap_or(1),
                        cycle: int(r, 7) == Some(1),
                        current: t(8),
                    })
                })
                .collect(),
            // Babelfish has sequences but no sys.sequences: said, not guessed.
            // Before SQL Server 2012 there are no sequences (208: invalid object name).
            Err(e) if version.contains("Babelfish") || e.kind == ErrorKind::NotFound => {
                tracing::warn!("{}: sys.sequences cannot be read ({e}): free sequences are not carried over", self.url.describe());
                Vec::new()
            }
            Err(e) => return Err(e.context("reading the catalog (sys.sequences)")),
        };
        self.give_back(c).await;
        let mut schema =
            schema_of(&self.default_schema_name(), &self.schema, &version, tables, columns, indexes, fks, checks, modules, &names, select).map_err(definite)?;
        schema.sequences = sequences;
        for t in &mut schema.tables {
            for c in &mut t.columns {
                let temporal = matches!(c.data_type, DataType::DateTime { .. } | DataType::DateTimeOffset { .. } | DataType::Time { .. });
                let rule = self.rules.for_column(&t.name, &c.name);
                if temporal && rule.read_as_text {
                    c.stored_as = Some("text".into());
                }
                if c.source_type == "sql_variant" && rule.read_as_json {
                    c.data_type = DataType::Json;
                    c.stored_as = Some(read::VARIANT_JSON.into());
                }
            }
            // keep_offset: a companion column with the offset each value was written with.
            let mut i = 0;
            while i < t.columns.len() {
                let c = &t.columns[i];
                if matches!(c.data_type, DataType::DateTimeOffset { .. }) && self.rules.for_column(&t.name, &c.name).keep_offset {
                    let name = format!("{}_offset", c.name);
                    if t.column(&name).is_some() {
                        return Err(definite(format!("table {}: keep_offset on {} needs a column {name}, which the table has already", t.name, c.name)));
                    }
                    let mut o = ferry_model::Column::new(name, DataType::Int { bytes: 2, unsigned: false, display_width: None }, "smallint");
                    o.nullable = c.nullable;
                    o.stored_as = Some(format!("{}{}", read::TZ_OFFSET, c.name));
                    o.comment = Some(format!("minutes east of UTC that {} was written with (SQL Server datetimeoffset)", c.name));
                    t.columns.insert(i + 1, o);
                    i += 1;
                }
                i += 1;
            }
        }
        Ok(schema)
    }

    /// A SQL Server TIME is a time of day (nothing to count); `BeyondMicroseconds` counts the
    /// values whose 100 ns digit is not zero.
    async fn probe(&self, table: &str, column: &str, probe: Probe) -> Result<u64, SourceError> {
        if probe != Probe::BeyondMicroseconds {
            return Ok(0);
        }
        let c = quote_ident(column);
        let sql = format!("SELECT COUNT_BIG(*) FROM {}.{} WHERE DATEPART(nanosecond, {c}) % 1000 <> 0", quote_ident(&self.schema), quote_ident(table));
        let mut client = self.client().await?;
        let rows =
            client.simple_query(sql).await.map_err(map_error)?.into_first_result().await.map_err(|e| map_error(e).context(format!("probing table {table}")))?;
        self.give_back(client).await;
        Ok(rows.first().and_then(|r| int(r, 0)).unwrap_or(0).max(0) as u64)
    }

    async fn plan_chunks(&self, table: &Table, rows_per_chunk: u64) -> Result<Vec<ChunkRange>, SourceError> {
        let key = table.primary_key.as_ref().filter(|k| k.columns.len() == 1).and_then(|k| table.column(&k.columns[0]));
        let parts = table.estimated_rows.div_ceil(rows_per_chunk.max(1)).max(1);
        // No estimate (statistics not gathered yet): the key sample itself tells.
        if let Some(k) = key.filter(|k| read::keyset_type(k).is_some() && (parts > 1 || table.estimated_rows == 0)) {
            return self.keyset_chunks(table, k, rows_per_chunk).await;
        }
        let Some(key) = key.filter(|_| parts > 1) else {
            return Ok(vec![ChunkRange::All]);
        };
        if !matches!(key.data_type, DataType::Int { .. }) {
            return Ok(vec![ChunkRange::All]);
        }
        let q = quote_ident(&key.name);
        let sql = format!("SELECT CAST(MIN({q}) AS bigint), CAST(MAX({q}) AS bigint) FROM {}.{}", quote_ident(&self.schema), quote_ident(&table.name));
        let mut c = self.client().await?;
        let rows = c.simple_query(sql).await.map_err(map_error)?.into_first_result().await.map_err(map_error)?;
        self.give_back(c).await;
        match rows.first().map(|r| (int(r, 0), int(r, 1))) {
            Some((Some(lo), Some(hi))) => Ok(split_int_range(&key.name, lo as i128, hi as i128, parts)),
            _ => Ok(vec![ChunkRange::All]),
        }
    }

    async fn open_snapshot(&self, readers: usize) -> Result<(Vec<MsReader>, SnapshotPosition), SourceError> {
        let mut first = self.url.connect().await?;
        let snapshot = self.snapshot_allowed(&mut first).await?;
        // A sync's load: the CDC position before any reader reads.
        let start = if self.sync_load {
            Some(MsSource::max_lsn(&mut first).await?.ok_or_else(|| definite("change data capture is not enabled on the source database"))?)
        } else {
            None
        };
        let mut clients = vec![first];
        for _ in 1..readers.max(1) {
            clients.push(self.url.connect().await?);
        }
        let level = if snapshot { "SNAPSHOT" } else { "READ COMMITTED" };
        let mut out = Vec::new();
        for mut c in clients {
            c.simple_query(format!("SET TRANSACTION ISOLATION LEVEL {level}; BEGIN TRANSACTION"))
                .await
                .map_err(map_error)?
                .into_results()
                .await
                .map_err(map_error)?;
            out.push(MsReader { client: Box::new(c), schema: self.schema.clone() });
        }
        let (consistent, note) = match (snapshot, out.len()) {
            (true, 1) => (true, "one reader in one SNAPSHOT transaction".to_string()),
            (true, n) => (false, format!("{n} readers, each in its own SNAPSHOT transaction (SQL Server shares no snapshot between connections): tables may stand at slightly different instants; --workers 1 reads one instant")),
            (false, _) => (
                false,
                format!("the database does not allow snapshot isolation: rows are read committed while the application writes; allow it with ALTER DATABASE [{}] SET ALLOW_SNAPSHOT_ISOLATION ON", self.url.database),
            ),
        };
        if let Some(lsn) = start {
            // Every change after the position is replayed over the load and applied by key, so
            // readers that stand at later instants still end in one state (see `cdc`).
            let note = format!("{note}; changes from LSN {} on are replayed over the load (applied by key)", cdc::position(&lsn).text);
            return Ok((out, SnapshotPosition { position: Some(cdc::position(&lsn)), gtid: None, consistent: true, note: Some(note), readers: None }));
        }
        Ok((out, SnapshotPosition { position: None, gtid: None, consistent, note: Some(note), readers: None }))
    }
}

/// One reader connection, in its own transaction.
pub struct MsReader {
    // Boxed: a TDS client is large, and readers travel in an enum with the other sources'.
    client: Box<MsClient>,
    schema: String,
}

impl SnapshotReader for MsReader {
    async fn read(&mut self, table: &Table, range: &ChunkRange, tx: RowSender) -> Result<u64, SourceError> {
        let sql = read::select_sql(&self.schema, table, &read::range_condition(table, range)?);
        read::stream_rows(&mut self.client, table, &sql, &tx).await
    }
}
