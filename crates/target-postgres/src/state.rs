//! ferry's state in the target (schema `ferry`): which load is running for which target schema,
//! its chunk plan, and every chunk already loaded; and the sync state (`crate::apply`).
//! A new load of a schema forgets that schema's sync: its position belongs to the old data.
//!
//! A chunk's rows and its row in `ferry.load_chunks` are committed in one transaction
//! ([`PgTarget::copy_chunk`]): after a crash a chunk is either fully loaded and recorded, or
//! neither. `--resume` reloads exactly the unrecorded chunks, so none is lost or loaded twice.
//! The chunk plan is stored when the run starts, so a resumed run uses the same boundaries.

use crate::conn::PgTarget;
use crate::error::TargetError;
use crate::ident::quote_literal;
use std::collections::HashSet;

pub const STATE_SCHEMA: &str = "ferry";

/// ferry's state schema, version by version: `MIGRATIONS[i]` takes the schema from version `i`
/// to `i + 1`, in one transaction with the new version number ([`PgTarget::ensure_state`]).
/// Version 1 is what releases before versioned state wrote (no `ferry.state_version` table):
/// its statements are idempotent, so they also complete the tables of any earlier release, and
/// a schema found without a version table is taken through every migration from the first.
/// A migration never edits an earlier one: what changes is a new entry at the end.
const MIGRATIONS: &[(&str, &str)] = &[
    ("the state tables of releases before versioned state", V1),
    ("positions owned by their source: kind, text and order key instead of binlog file and offset", V2),
    ("the final hop's id map of merged lookup tables and names of pivoted forms and attributes", V3),
    ("online reloads of one table of a running sync", V4),
    ("cells set aside by a column's rule instead of stopping the table", V5),
    ("pause, resume, exclude and include requests for one table of a running sync, and the changes held for a paused one", V6),
];

/// `table_controls`: `ferry pause` / `resume` / `exclude` / `include` requests and the paused or
/// excluded tables of a sync (`crate::controls`); a paused table's changes go, in source order,
/// to its hold table in schema `ferry` (`crate::hold`).
const V6: &str = "
CREATE TABLE ferry.table_controls (
    target_schema text NOT NULL,
    table_name text NOT NULL,
    status text NOT NULL CHECK (status IN ('pausing', 'paused', 'resuming', 'excluding', 'excluded', 'including', 'failed')),
    hold_table text,
    key_columns text[],
    held bigint NOT NULL DEFAULT 0,
    error text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    since timestamptz,
    PRIMARY KEY (target_schema, table_name)
);
";

/// `quarantine`: each cell a source set aside (`Value::Quarantined`), by target table, column
/// and row key: the raw cell as stored, why, and what the target column got. A later write of
/// the same row replaces its entry (`crate::quarantine`).
const V5: &str = "
CREATE TABLE ferry.quarantine (
    target_schema text NOT NULL,
    table_name text NOT NULL,
    column_name text NOT NULL,
    row_key text NOT NULL,
    storage_class text NOT NULL,
    raw_value text NOT NULL,
    reason text NOT NULL,
    written text,
    via text NOT NULL CHECK (via IN ('load', 'sync')),
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, table_name, column_name, row_key)
);
";

/// `reloads`: `ferry reload` requests and their progress (`crate::sync_state`).
const V4: &str = "
CREATE TABLE ferry.reloads (
    target_schema text NOT NULL,
    table_name text NOT NULL,
    filter text,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    chunk_plan text,
    chunks_done integer NOT NULL DEFAULT 0,
    rows bigint NOT NULL DEFAULT 0,
    error text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (target_schema, table_name)
);
";

/// `reshape_ids`: a merged lookup's ids, never reused (`crate::reshape`). `reshape_names`: the
/// table of each pivoted form and the column of each attribute, in the order they appeared.
const V3: &str = "
CREATE TABLE ferry.reshape_ids (
    lookup text NOT NULL,
    source_table text NOT NULL,
    original_id text NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (lookup, source_table, original_id)
);
CREATE TABLE ferry.reshape_names (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pivot text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('table', 'column')),
    form text NOT NULL,
    original text NOT NULL,
    name text NOT NULL,
    UNIQUE (pivot, kind, form, original)
);
";

/// The state schema version this ferry writes.
pub const STATE_VERSION: i32 = MIGRATIONS.len() as i32;

const V1: &str = "
CREATE SCHEMA IF NOT EXISTS ferry;
CREATE TABLE IF NOT EXISTS ferry.load_runs (
    target_schema text PRIMARY KEY,
    source text NOT NULL,
    status text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    snapshot jsonb,
    chunk_plan jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry.load_chunks (
    target_schema text NOT NULL,
    table_name text NOT NULL,
    chunk_id integer NOT NULL,
    rows bigint NOT NULL,
    bytes bigint NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, table_name, chunk_id)
);
CREATE TABLE IF NOT EXISTS ferry.reports (
    target_schema text NOT NULL,
    kind text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    body jsonb NOT NULL,
    PRIMARY KEY (target_schema, kind)
);
CREATE TABLE IF NOT EXISTS ferry.sync_state (
    target_schema text PRIMARY KEY,
    source text NOT NULL,
    file text NOT NULL,
    pos bigint NOT NULL,
    transactions bigint NOT NULL DEFAULT 0,
    source_time timestamptz,
    applied_at timestamptz,
    heartbeat_at timestamptz,
    lag_seconds double precision,
    status text NOT NULL DEFAULT 'streaming',
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ferry.sync_tables (
    target_schema text NOT NULL,
    table_name text NOT NULL,
    full_load_rows bigint NOT NULL DEFAULT 0,
    inserts bigint NOT NULL DEFAULT 0,
    updates bigint NOT NULL DEFAULT 0,
    deletes bigint NOT NULL DEFAULT 0,
    ddl bigint NOT NULL DEFAULT 0,
    errors bigint NOT NULL DEFAULT 0,
    zero_dates_nulled bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'streaming',
    last_error text,
    PRIMARY KEY (target_schema, table_name)
);
CREATE TABLE IF NOT EXISTS ferry.sync_log (
    id bigserial PRIMARY KEY,
    target_schema text NOT NULL,
    from_file text NOT NULL,
    from_pos bigint NOT NULL,
    to_file text NOT NULL,
    to_pos bigint NOT NULL,
    transactions integer NOT NULL,
    rows integer NOT NULL,
    source_time timestamptz,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE ferry.sync_tables ADD COLUMN IF NOT EXISTS zero_dates_nulled bigint NOT NULL DEFAULT 0;
ALTER TABLE ferry.sync_tables ADD COLUMN IF NOT EXISTS last_ddl text;
ALTER TABLE ferry.sync_tables ADD COLUMN IF NOT EXISTS zero_dates_infinity bigint NOT NULL DEFAULT 0;
ALTER TABLE ferry.sync_tables ADD COLUMN IF NOT EXISTS json_duplicate_keys bigint NOT NULL DEFAULT 0;
ALTER TABLE ferry.sync_state ADD COLUMN IF NOT EXISTS source_model text;
ALTER TABLE ferry.sync_state ADD COLUMN IF NOT EXISTS probes text;
ALTER TABLE ferry.sync_state ADD COLUMN IF NOT EXISTS source_backlog_bytes bigint;";

/// Positions were a binlog file and offset (PostgreSQL: an empty file and the LSN). The text each
/// becomes is what ferry printed for it; its kind and order key stay NULL until the sync's next
/// commit, the source reading the text back meanwhile (`CdcSource::parse_position`).
const V2: &str = "
ALTER TABLE ferry.sync_state ADD COLUMN position text, ADD COLUMN position_kind text, ADD COLUMN position_order bytea;
UPDATE ferry.sync_state SET position = CASE WHEN file = '' THEN upper(to_hex(pos >> 32)) || '/' || upper(to_hex(pos & 4294967295)) ELSE file || ':' || pos END;
ALTER TABLE ferry.sync_state ALTER COLUMN position SET NOT NULL, DROP COLUMN file, DROP COLUMN pos;
ALTER TABLE ferry.sync_log ADD COLUMN from_position text, ADD COLUMN to_position text;
UPDATE ferry.sync_log SET
    from_position = CASE WHEN from_file = '' THEN upper(to_hex(from_pos >> 32)) || '/' || upper(to_hex(from_pos & 4294967295)) ELSE from_file || ':' || from_pos END,
    to_position = CASE WHEN to_file = '' THEN upper(to_hex(to_pos >> 32)) || '/' || upper(to_hex(to_pos & 4294967295)) ELSE to_file || ':' || to_pos END;
ALTER TABLE ferry.sync_log ALTER COLUMN from_position SET NOT NULL, ALTER COLUMN to_position SET NOT NULL,
    DROP COLUMN from_file, DROP COLUMN from_pos, DROP COLUMN to_file, DROP COLUMN to_pos;";

/// The advisory lock class under which the state schema is created or upgraded (`'ferS'`).
const STATE_LOCK_CLASS: i32 = 0x6665_7253;

/// Declares a state enum stored as text in ferry's state tables (and shown as that text).
macro_rules! state_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The text stored in the state tables.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Reads a stored text; an unknown one (a newer ferry's) is an error naming it.
            pub fn parse(text: &str) -> Result<Self, TargetError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(TargetError::new(ferry_model::ErrorKind::Definite, format!("ferry's state holds {} {other:?}, which this ferry does not know (written by a newer one?)", stringify!($name)))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_enum! {
    /// A load run of a target schema (`ferry.load_runs.status`).
    LoadState { Loading = "loading", Done = "done" }
}

state_enum! {
    /// A schema's sync (`ferry.sync_state.status`).
    SyncState { Streaming = "streaming", CutOver = "cut over" }
}

state_enum! {
    /// One table of a sync (`ferry.sync_tables.status`).
    TableState {
        Streaming = "streaming",
        /// A definite error stopped it (`last_error` says which and what to do).
        Stopped = "stopped",
        /// Created on the source after the plan; not part of this sync.
        NotSynced = "not synced",
        /// Dropped on the source (and on the target).
        Dropped = "dropped",
        /// `ferry pause`: its changes are held in order (`ferry.table_controls`) until `ferry resume`.
        Paused = "paused",
        /// `ferry exclude`: not streamed until `ferry include` (which reloads it).
        Excluded = "excluded",
    }
}

pub struct Run {
    pub status: LoadState,
    /// The snapshot position stored when the load started reading (JSON text), if any.
    pub snapshot: Option<String>,
    /// The chunk plan as stored (JSON text; bounds may exceed 64 bits).
    pub chunk_plan: String,
}

impl PgTarget {
    /// Creates ferry's state schema or upgrades it in place to [`STATE_VERSION`], whatever
    /// release wrote it; concurrent first runs wait for each other (an advisory lock). A schema
    /// written by a newer ferry is refused, not rewritten.
    pub async fn ensure_state(&self) -> Result<(), TargetError> {
        let found = self.state_version().await?;
        if found == Some(STATE_VERSION) {
            return Ok(());
        }
        // The lock is taken before the transaction starts: a transaction's start is where the
        // server catches up on catalog changes other sessions committed, so one that waited for
        // a concurrent upgrade sees its tables (taken inside, the wait ends with a stale catalog
        // cache and the upgrade runs twice: "column … already exists").
        self.client.execute("SELECT pg_advisory_lock($1, 0)", &[&STATE_LOCK_CLASS]).await?;
        let result = async {
            self.batch("BEGIN").await?;
            match self.upgrade_state().await {
                Ok(()) => self.batch("COMMIT").await,
                Err(e) => {
                    let _ = self.batch("ROLLBACK").await;
                    Err(e)
                }
            }
        }
        .await;
        let _ = self.client.execute("SELECT pg_advisory_unlock($1, 0)", &[&STATE_LOCK_CLASS]).await;
        result.map_err(|e| match found {
            None => e.context("creating ferry's state schema \"ferry\" (nothing was created)"),
            Some(_) => e,
        })
    }

    /// [`PgTarget::ensure_state`] inside the caller's transaction (a check that rolls back
    /// creates the state tables it needs and leaves nothing).
    pub async fn ensure_state_in_transaction(&self) -> Result<(), TargetError> {
        if self.state_version().await? == Some(STATE_VERSION) {
            return Ok(());
        }
        self.upgrade_state().await
    }

    /// The state schema's version: None without one, 0 for a schema of releases before versioning.
    pub async fn state_version(&self) -> Result<Option<i32>, TargetError> {
        let row = self
            .client
            .query_one(
                "SELECT to_regclass('ferry.state_version') IS NOT NULL, to_regclass('ferry.load_runs') IS NOT NULL OR to_regclass('ferry.sync_state') IS NOT NULL",
                &[],
            )
            .await?;
        let (versioned, tables): (bool, bool) = (row.get(0), row.get(1));
        if !versioned {
            return Ok(tables.then_some(0));
        }
        let v = self.client.query_opt("SELECT max(version) FROM ferry.state_version", &[]).await?;
        Ok(Some(v.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0)))
    }

    async fn upgrade_state(&self) -> Result<(), TargetError> {
        self.client.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&STATE_LOCK_CLASS]).await?;
        let from = self.state_version().await?.unwrap_or(0);
        if from > STATE_VERSION {
            return Err(TargetError::new(
                ferry_model::ErrorKind::Definite,
                format!("ferry's state schema \"ferry\" is at version {from}, written by a newer ferry than this one (version {STATE_VERSION}): run that ferry, or a newer one"),
            ));
        }
        self.batch("CREATE SCHEMA IF NOT EXISTS ferry; CREATE TABLE IF NOT EXISTS ferry.state_version (version integer NOT NULL, note text NOT NULL, at timestamptz NOT NULL DEFAULT now())")
            .await?;
        for (i, (note, sql)) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
            let to = i as i32 + 1;
            self.batch(sql).await.map_err(|e| e.context(format!("bringing ferry's state schema \"ferry\" to version {to} ({note}); nothing was changed")))?;
            self.client.execute("INSERT INTO ferry.state_version (version, note) VALUES ($1, $2)", &[&to, note]).await?;
        }
        Ok(())
    }

    /// Keeps the last report of `kind` (`migrate`, `verify`) for `schema` (for `ferry report`).
    pub async fn save_report(&self, schema: &str, kind: &str, json: &str) -> Result<(), TargetError> {
        self.client
            .execute(
                "INSERT INTO ferry.reports (target_schema, kind, body) VALUES ($1, $2, $3::text::jsonb)                  ON CONFLICT (target_schema, kind) DO UPDATE SET at = now(), body = EXCLUDED.body",
                &[&schema, &kind, &json],
            )
            .await?;
        Ok(())
    }

    /// The last report of `kind` for `schema`: when (text) and the JSON.
    pub async fn last_report(&self, schema: &str, kind: &str) -> Result<Option<(String, String)>, TargetError> {
        let row = self
            .client
            .query_opt(
                "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"'), body::text FROM ferry.reports WHERE target_schema = $1 AND kind = $2",
                &[&schema, &kind],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Starts a fresh run for `schema`: forgets earlier chunks and stores the chunk plan.
    pub async fn start_run(&self, schema: &str, source: &str, chunk_plan: &str) -> Result<(), TargetError> {
        let sql = format!(
            "BEGIN; DELETE FROM ferry.load_chunks WHERE target_schema = {s}; DELETE FROM ferry.quarantine WHERE target_schema = {s}; \
             DELETE FROM ferry.sync_state WHERE target_schema = {s}; DELETE FROM ferry.sync_tables WHERE target_schema = {s}; \
             DELETE FROM ferry.sync_log WHERE target_schema = {s}; \
             INSERT INTO ferry.load_runs (target_schema, source, status, chunk_plan) VALUES ({s}, {src}, 'loading', {plan}::jsonb) \
             ON CONFLICT (target_schema) DO UPDATE SET source = EXCLUDED.source, status = 'loading', started_at = now(), \
             finished_at = NULL, snapshot = NULL, chunk_plan = EXCLUDED.chunk_plan; COMMIT;",
            s = quote_literal(schema),
            src = quote_literal(source),
            plan = quote_literal(chunk_plan)
        );
        self.exec(&sql).await
    }

    pub async fn set_run_snapshot(&self, schema: &str, snapshot: &serde_json::Value) -> Result<(), TargetError> {
        self.client.execute("UPDATE ferry.load_runs SET snapshot = $2::text::jsonb WHERE target_schema = $1", &[&schema, &snapshot.to_string()]).await?;
        Ok(())
    }

    pub async fn set_run_status(&self, schema: &str, status: LoadState) -> Result<(), TargetError> {
        self.client
            .execute(
                "UPDATE ferry.load_runs SET status = $2, finished_at = CASE WHEN $2 = 'done' THEN now() END WHERE target_schema = $1",
                &[&schema, &status.as_str()],
            )
            .await?;
        Ok(())
    }

    pub async fn load_run(&self, schema: &str) -> Result<Option<Run>, TargetError> {
        let row = self.client.query_opt("SELECT status, chunk_plan::text, snapshot::text FROM ferry.load_runs WHERE target_schema = $1", &[&schema]).await?;
        row.map(|r| Ok(Run { status: LoadState::parse(r.get(0))?, chunk_plan: r.get(1), snapshot: r.get(2) })).transpose()
    }

    /// (table, chunk id) → (rows, bytes) of every chunk recorded for `schema`.
    pub async fn done_chunks(&self, schema: &str) -> Result<Vec<(String, i32, i64, i64)>, TargetError> {
        let rows = self.client.query("SELECT table_name, chunk_id, rows, bytes FROM ferry.load_chunks WHERE target_schema = $1", &[&schema]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    /// Runs a COPY for one chunk and records the chunk, and the cells its encoder set aside, in
    /// the same transaction.
    pub async fn copy_chunk(
        &self,
        copy_sql: &str,
        rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
        chunk: ChunkRecord<'_>,
    ) -> Result<u64, TargetError> {
        let ChunkRecord { schema, table, chunk_id, bytes, quarantine } = chunk;
        self.batch("BEGIN").await?;
        let result = async {
            let rows = self.copy_in(copy_sql, rx).await?;
            // The rows' encoder has finished (the COPY data ended): its set-aside cells are all here.
            let set_aside = std::mem::take(&mut *quarantine.lock().expect("quarantine list"));
            self.write_quarantine(schema, &set_aside, "load").await?;
            let b = bytes.load(std::sync::atomic::Ordering::Relaxed) as i64;
            self.client
                .execute(
                    "INSERT INTO ferry.load_chunks (target_schema, table_name, chunk_id, rows, bytes) VALUES ($1, $2, $3, $4, $5)",
                    &[&schema, &table, &chunk_id, &(rows as i64), &b],
                )
                .await?;
            self.batch("COMMIT").await?;
            Ok::<u64, TargetError>(rows)
        }
        .await;
        if result.is_err() {
            let _ = self.batch("ROLLBACK").await;
        }
        result
    }
}

/// What [`PgTarget::copy_chunk`] records with a chunk's rows: which chunk, the bytes the COPY
/// sent (counted while it runs) and the cells its encoder set aside (filled while it runs).
pub struct ChunkRecord<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    pub chunk_id: i32,
    pub bytes: &'a std::sync::atomic::AtomicU64,
    pub quarantine: &'a std::sync::Mutex<Vec<crate::quarantine::QuarantineRow>>,
}

/// The set of (table, chunk id) in `done`.
pub fn done_set(done: &[(String, i32, i64, i64)]) -> HashSet<(String, i32)> {
    done.iter().map(|(t, c, _, _)| (t.clone(), *c)).collect()
}

/// The advisory lock class of ferry's sync jobs (`'fery'`); the object id is the target schema.
const SYNC_LOCK_CLASS: i32 = 0x6665_7279;

impl PgTarget {
    /// Takes the session-level advisory lock that one sync of `schema` holds for its lifetime, so
    /// a second `ferry sync` of the same schema refuses at once (naming the first) instead of
    /// fighting it for the source's replica id. A holder that just died is waited for briefly
    /// (the server notices a killed client's connection within moments).
    /// Whether a `ferry sync` of `schema` holds its lock now (it is applying changes). Asked on
    /// this connection, which must not hold the lock itself.
    pub async fn sync_running(&self, schema: &str) -> Result<bool, TargetError> {
        let got: bool =
            self.client.query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&SYNC_LOCK_CLASS, &schema]).await.map_err(TargetError::from)?.get(0);
        if got {
            self.client.execute("SELECT pg_advisory_unlock($1, hashtext($2))", &[&SYNC_LOCK_CLASS, &schema]).await.map_err(TargetError::from)?;
        }
        Ok(!got)
    }

    pub async fn lock_sync(&self, schema: &str) -> Result<(), TargetError> {
        self.batch("SET application_name = 'ferry sync'").await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let got: bool =
                self.client.query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&SYNC_LOCK_CLASS, &schema]).await.map_err(TargetError::from)?.get(0);
            if got {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                let holder = self
                    .client
                    .query_opt(
                        "SELECT a.pid, coalesce(host(a.client_addr), 'local socket'), a.backend_start::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = ($1::int4)::bigint AND l.objsubid = 2 \
                         AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)",
                        &[&SYNC_LOCK_CLASS, &schema],
                    )
                    .await
                    .map_err(TargetError::from)?
                    .map(|r| format!(" (target backend pid {}, client {}, connected since {})", r.get::<_, i32>(0), r.get::<_, String>(1), r.get::<_, String>(2)))
                    .unwrap_or_default();
                return Err(TargetError::new(
                    ferry_model::ErrorKind::Definite,
                    format!("another `ferry sync` of schema \"{schema}\" is running{holder}; stop it first (two syncs of one schema would fight over the source's replica id and position)"),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

/// Keeps a report for `ferry report` (`kind`: `migrate`, `verify`) on a connection of its own; a
/// failure to store it is logged as a warning, never the run's failure.
pub async fn keep_report(target_url: &str, schema: &str, kind: &str, json: &str) {
    let stored = async {
        let t = PgTarget::connect(target_url).await?;
        t.ensure_state().await?;
        t.save_report(schema, kind, json).await
    };
    if let Err(e) = stored.await {
        tracing::warn!("the {kind} report was not stored for `ferry report`: {e}");
    }
}
