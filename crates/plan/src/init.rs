//! `ferry init`: a complete, commented `ferry.toml` written from what the source holds, so that
//! `ferry plan --config ferry.toml` is the next command.
//!
//! Guarantees, kept by [`write`]:
//! - **What is written is what runs**: the text parses back to exactly the [`Config`] returned
//!   beside it ([`write`] checks this itself and refuses to return a file that would not).
//! - **Runs unchanged**: every setting is at its default, except where the default would stop
//!   the load on data the probes saw — a column holding zero dates, or a NOT NULL column whose
//!   default is a zero date, gets `zero_dates = "-infinity"` (keeps every row distinguishable and
//!   NOT NULL); a column holding MySQL's invalid ENUM value `''` gets `type = "text"` (keeps the
//!   value). Each such override is active and says why; every other column the assessment flags
//!   is a commented override pre-filled with its planned type, to edit.
//! - **No secret on disk**: a password in a URL is left out of the file (and the file says how
//!   to pass it: FERRY_SOURCE_PASSWORD / FERRY_TARGET_PASSWORD).
//! - **A Citus suggestion the plan accepts** ([`suggest_citus`]): small lookup tables become
//!   reference tables, the largest tables are distributed by a column they share and colocated;
//!   each table the Citus rules refuse is left local, with the refusal as a comment, until the
//!   plan has no refusal.

use crate::assessment::Severity;
use crate::build::identifier_case;
use crate::config::{CitusConfig, ColumnRule, Config, DistributedTable, ZeroDatePolicy};
use crate::Plan;
use ferry_model::{DefaultValue, Probe};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What `ferry init` was given.
pub struct InitInput<'a> {
    /// The plan made from the source under the default rules.
    pub plan: &'a Plan,
    /// Source and target URLs as the user gave them (passwords are removed here).
    pub source_url: &'a str,
    pub target_url: Option<&'a str>,
    /// Suggest a `[target.citus]` distribution.
    pub citus: bool,
}

/// A column the assessment says something about.
#[derive(Debug, Clone, Serialize)]
pub struct Flagged {
    pub table: String,
    pub column: String,
    pub planned_type: String,
    /// (severity, message) of each assessment item on the column.
    pub items: Vec<(Severity, String)>,
    /// The override written active, and why; None: written commented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
}

/// One table of the source.
#[derive(Debug, Clone, Serialize)]
pub struct InitTable {
    pub source: String,
    pub target: String,
    pub estimated_rows: u64,
}

/// `ferry init`'s result: the config, the file's text, and the facts it was written from.
#[derive(Debug, Clone, Serialize)]
pub struct Init {
    pub config: Config,
    #[serde(skip)]
    pub text: String,
    pub tables: Vec<InitTable>,
    pub flagged: Vec<Flagged>,
    /// Tables the Citus suggestion left local, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub citus_notes: Vec<String>,
    /// Passwords found in the URLs and left out.
    pub passwords_left_out: Vec<String>,
}

/// A URL with any password removed (user-info, query parameter or DSN keyword); Some(url) when
/// one was there.
pub fn without_password(url: &str) -> (String, bool) {
    let red = ferry_model::redact_url(url);
    if red == url {
        return (url.to_string(), false);
    }
    let out = if red.contains("://") {
        let (head, query) = match red.split_once('?') {
            Some((h, q)) => (h.replacen(":***@", "@", 1), Some(q)),
            None => (red.replacen(":***@", "@", 1), None),
        };
        match query.map(|q| q.split('&').filter(|p| !p.ends_with("=***")).collect::<Vec<_>>().join("&")) {
            Some(q) if !q.is_empty() => format!("{head}?{q}"),
            _ => head,
        }
    } else {
        red.split_whitespace().filter(|p| !p.ends_with("=***")).collect::<Vec<_>>().join(" ")
    };
    (out, true)
}

/// A TOML key: bare when it can be, else a quoted string.
fn key(k: &str) -> String {
    if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        k.to_string()
    } else {
        toml_str(k)
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(v: &[String]) -> String {
    format!("[{}]", v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", "))
}

/// Writes the config for `input`. Err: the generated text would not parse back to the config
/// (a bug, said as such).
pub fn write(input: &InitInput) -> Result<Init, String> {
    let plan = input.plan;
    let schema = &plan.inputs.schema;
    let probes = &plan.inputs.probes;
    let mut config = Config::default();
    let mut passwords_left_out = Vec::new();
    let (src, had) = without_password(input.source_url);
    if had {
        passwords_left_out.push("source".to_string());
    }
    config.source.url = Some(src);
    if let Some(t) = input.target_url {
        let (t, had) = without_password(t);
        if had {
            passwords_left_out.push("target".to_string());
        }
        config.target.url = Some(t);
    }
    config.target.schema = Some(plan.target_schema.clone());
    let ident = identifier_case(&plan.inputs.config, schema);
    config.rules.identifiers = Some(ident);

    // Columns the assessment talks about, and the overrides the data needs.
    let mut flagged: Vec<Flagged> = Vec::new();
    for t in &plan.tables {
        for c in &t.source.columns {
            let obj = format!("{}.{}", t.source.name, c.name);
            let items: Vec<(Severity, String)> = plan.assessment.items.iter().filter(|i| i.object == obj).map(|i| (i.severity, i.message.clone())).collect();
            let zero_rows = probes.get(&(t.source.name.clone(), c.name.clone(), Probe::ZeroDates)).copied().unwrap_or(0);
            let zero_default = c.data_type.is_temporal() && !c.nullable && matches!(c.default, Some(DefaultValue::ZeroDate(_)));
            let invalid_enum = probes.get(&(t.source.name.clone(), c.name.clone(), Probe::InvalidEnum)).copied().unwrap_or(0);
            let beyond_micro = probes.get(&(t.source.name.clone(), c.name.clone(), Probe::BeyondMicroseconds)).copied().unwrap_or(0);
            let mut active = None;
            if beyond_micro > 0 {
                let rule = config.tables.entry(t.source.name.clone()).or_default().columns.entry(c.name.clone()).or_default();
                rule.type_ = Some("text".into());
                active = Some(format!(
                    "{beyond_micro} rows hold a 100 ns digit PostgreSQL's {} cannot keep: text keeps every digit; round the values on the source and remove this to get the time type",
                    if matches!(c.data_type, ferry_model::DataType::Time { .. }) { "time" } else { "timestamp" }
                ));
            } else if invalid_enum > 0 {
                let rule = config.tables.entry(t.source.name.clone()).or_default().columns.entry(c.name.clone()).or_default();
                rule.type_ = Some("text".into());
                active = Some(format!(
                    "{invalid_enum} rows hold MySQL's invalid ENUM value '' (no enum type can hold it): text keeps it; fix the data and remove this to get the enum type"
                ));
            } else if c.data_type.is_temporal() && (zero_rows > 0 || zero_default) {
                let rule = config.tables.entry(t.source.name.clone()).or_default().columns.entry(c.name.clone()).or_default();
                rule.zero_dates = Some(ZeroDatePolicy::NegInfinity);
                let why = if zero_rows > 0 { format!("{zero_rows} rows hold zero dates") } else { "its NOT NULL column's default is a zero date".into() };
                active = Some(format!(
                    "{why}: zero_dates = \"error\" (the default) would stop the table; \"-infinity\" keeps every row and NOT NULL (\"null\" drops NOT NULL)"
                ));
            }
            if items.is_empty() && active.is_none() {
                continue;
            }
            let planned_type =
                t.target_column_of(&c.name).and_then(|n| t.target.columns.iter().find(|pc| pc.name == n)).map(|pc| pc.ty.to_string()).unwrap_or_default();
            flagged.push(Flagged { table: t.source.name.clone(), column: c.name.clone(), planned_type, items, active });
        }
    }

    let mut citus_notes = Vec::new();
    if input.citus {
        let (cfg, notes) = suggest_citus(plan);
        config.target.citus = Some(cfg);
        citus_notes = notes;
    }

    let tables: Vec<InitTable> = plan
        .tables
        .iter()
        .map(|t| InitTable { source: t.source.name.clone(), target: t.target.name.clone(), estimated_rows: t.source.estimated_rows })
        .collect();
    let text = render(&config, plan, &tables, &flagged, &citus_notes, &passwords_left_out);
    let back = Config::from_toml(&text).map_err(|e| format!("ferry init wrote a file that does not parse ({e}); this is a bug in ferry"))?;
    let same = serde_json::to_value(&back).ok() == serde_json::to_value(&config).ok();
    if !same {
        return Err("ferry init wrote a file that parses to another config; this is a bug in ferry".into());
    }
    Ok(Init { config, text, tables, flagged, citus_notes, passwords_left_out })
}

fn render(config: &Config, plan: &Plan, tables: &[InitTable], flagged: &[Flagged], citus_notes: &[String], passwords: &[String]) -> String {
    let schema = &plan.inputs.schema;
    let mut s = String::new();
    let total: u64 = tables.iter().map(|t| t.estimated_rows).sum();
    let _ = writeln!(
        s,
        "# ferry.toml, written by `ferry init` from {} ({}).",
        ferry_model::redact_url(config.source.url.as_deref().unwrap_or_default()),
        schema.server_version
    );
    let _ = writeln!(s, "# {} tables, about {total} rows. Next: `ferry plan --config ferry.toml`, then `ferry migrate --config ferry.toml`.", tables.len());
    let _ = writeln!(s, "# Every setting is at its default unless a comment says why; commented lines show the other choices.");
    if !passwords.is_empty() {
        let _ = writeln!(
            s,
            "# Passwords are never written here: set {}.",
            passwords.iter().map(|p| format!("FERRY_{}_PASSWORD", p.to_uppercase())).collect::<Vec<_>>().join(" and ")
        );
    }
    let _ = writeln!(s, "\n[source]\nurl = {}", toml_str(config.source.url.as_deref().unwrap_or_default()));
    let _ = writeln!(s, "\n[target]");
    match &config.target.url {
        Some(u) => {
            let _ = writeln!(s, "url = {}", toml_str(u));
        }
        None => {
            let _ = writeln!(s, "# url = \"postgres://user@host:5432/database\"   # or --target / FERRY_TARGET_URL");
        }
    }
    let _ = writeln!(s, "# The PostgreSQL schema the tables go to.\nschema = {}", toml_str(config.target.schema.as_deref().unwrap_or_default()));
    if let Some(c) = &config.target.citus {
        let _ = writeln!(s, "\n# Citus: reference tables are copied to every node; distributed tables are sharded by a column and");
        let _ = writeln!(s, "# colocated so their joins stay on one node. Tables in neither list stay on the coordinator.");
        for n in citus_notes {
            let _ = writeln!(s, "#   {n}");
        }
        let _ = writeln!(s, "[target.citus]\nreference = {}", toml_list(&c.reference));
        if c.downgrade_fk_actions {
            let _ = writeln!(s, "# Foreign-key actions Citus cannot run on a key holding the distribution column (ON UPDATE CASCADE,");
            let _ = writeln!(s, "# ON DELETE SET NULL …) become NO ACTION on the target; `ferry plan` lists each as an action item.");
            let _ = writeln!(s, "downgrade_fk_actions = true");
        }
        let _ = writeln!(s, "[target.citus.distributed]");
        if c.distributed.values().any(|d| d.extend_key) {
            let _ = writeln!(s, "# extend_key: the distribution column is added to the table's keys on the target only.");
        }
        for (t, d) in &c.distributed {
            let colo = d.colocate_with.as_ref().map(|c| format!(", colocate_with = {}", toml_str(c))).unwrap_or_default();
            let ext = if d.extend_key { ", extend_key = true" } else { "" };
            let _ = writeln!(s, "{} = {{ column = {}{colo}{ext} }}", key(t), toml_str(&d.column));
        }
    }
    let r = &config.rules;
    let count_probe = |p: Probe| plan.inputs.probes.iter().filter(|((_, _, q), n)| *q == p && **n > 0).count();
    let ci = plan.tables.iter().flat_map(|t| &t.source.columns).filter(|c| c.case_insensitive && c.data_type.is_textual()).count();
    let _ = writeln!(s, "\n[rules]");
    let _ = writeln!(s, "# Tables to migrate: SQL LIKE patterns (% any run, _ one character), source names.");
    let _ = writeln!(s, "include = {}\nexclude = {}", toml_list(&r.include), toml_list(&r.exclude));
    let ident_label = label(&r.identifiers.unwrap_or_default());
    let _ = writeln!(s, "# How names change: lower | snake_case (CustomerId → customer_id) | preserve (kept, quoted).");
    let _ = writeln!(s, "identifiers = {}", toml_str(&ident_label));
    let _ = writeln!(
        s,
        "# Zero dates (0000-00-00): error (the table stops, naming the key) | null | -infinity. Columns seen with some: {}.",
        count_probe(Probe::ZeroDates)
    );
    let _ = writeln!(s, "zero_dates = {}", toml_str(r.zero_dates.label()));
    let _ = writeln!(s, "# ENUM columns: type (a PostgreSQL enum type) | check (text with a CHECK of the values).");
    let _ = writeln!(s, "enums = {}", toml_str(&label(&r.enums)));
    let _ = writeln!(s, "# tinyint(1): auto (boolean when every stored value is 0 or 1, probed) | boolean | smallint.");
    let _ = writeln!(s, "tinyint1 = {}", toml_str(&label(&r.tinyint1)));
    let _ = writeln!(s, "# JSON objects with a key twice: error | last (jsonb's meaning, counted).");
    let _ = writeln!(s, "json_duplicate_keys = {}", toml_str(&label(&r.json_duplicate_keys)));
    let _ = writeln!(s, "# Binary columns whose every value is UTF-8 text: bytea | text. Columns that could be text: {}.", {
        let binary_cols = plan
            .tables
            .iter()
            .flat_map(|t| t.source.columns.iter().map(move |c| (t, c)))
            .filter(|(t, c)| plan.inputs.probes.get(&(t.source.name.clone(), c.name.clone(), Probe::NotUtf8Text)) == Some(&0));
        binary_cols.count()
    });
    let _ = writeln!(s, "utf8_binary = {}", toml_str(&label(&r.utf8_binary)));
    let _ = writeln!(
        s,
        "# Case-insensitive text columns (MySQL *_ci, SQL Server *_CI_*, SQLite NOCASE): keep (compared case-sensitively) | citext. This source has {ci}."
    );
    let _ = writeln!(s, "case_insensitive = {}", toml_str(&label(&r.case_insensitive)));
    let m = &config.migrate;
    let _ = writeln!(s, "\n[migrate]\n# Planned tables that already exist in the target: fail | drop | truncate.");
    let _ = writeln!(s, "if_exists = {}", toml_str(&label(&m.if_exists)));
    let _ = writeln!(s, "# Reader/writer lanes at once, and rows per chunk of a table split by key ranges.");
    let _ = writeln!(s, "workers = {}\nchunk_rows = {}", m.workers, m.chunk_rows);
    let _ = writeln!(s, "# COPY format: auto (binary where every column allows it) | text.\nformat = {}", toml_str(&label(&m.format)));
    let _ = writeln!(s, "\n# SQL files run on the target around a migrate, each in its own transaction (paths from this file's folder):");
    let _ = writeln!(s, "# [hooks]\n# before_schema = \"hooks/before_schema.sql\"   # before the schema is created");
    let _ = writeln!(s, "# after_schema = \"hooks/after_schema.sql\"     # tables exist, empty, no indexes yet");
    let _ = writeln!(s, "# before_data = \"hooks/before_data.sql\"       # before the first row is read");
    let _ = writeln!(s, "# after_data = [\"hooks/grants.sql\"]           # rows, keys, indexes and foreign keys are in");

    let _ = writeln!(s, "\n# Tables ({}), with the rows the source estimates. Rename a table or a column:", tables.len());
    let _ = writeln!(s, "#   [tables.{}]\n#   rename = \"new_name\"", key(tables.first().map(|t| t.source.as_str()).unwrap_or("orders")));
    let width = tables.iter().map(|t| t.source.len()).max().unwrap_or(0);
    for t in tables {
        let _ = writeln!(s, "#   {:<width$} → \"{}\".\"{}\"  ~{} rows", t.source, plan.target_schema, t.target, t.estimated_rows);
    }

    let active: Vec<&Flagged> = flagged.iter().filter(|f| f.active.is_some()).collect();
    if !active.is_empty() {
        let _ = writeln!(s, "\n# Overrides the data needs: without them the load would stop on rows the probes saw.");
        for f in &active {
            let _ = writeln!(s, "\n# {}.{} ({}) — {}", f.table, f.column, f.planned_type, f.active.as_deref().unwrap_or_default());
            let _ = writeln!(s, "[tables.{}.columns.{}]", key(&f.table), key(&f.column));
            let rule = config.tables.get(&f.table).and_then(|t| t.columns.get(&f.column));
            if let Some(ColumnRule { type_: Some(ty), .. }) = rule {
                let _ = writeln!(s, "type = {}", toml_str(ty));
            }
            if let Some(ColumnRule { zero_dates: Some(z), .. }) = rule {
                let _ = writeln!(s, "zero_dates = {}", toml_str(z.label()));
            }
        }
    }
    let commented: Vec<&Flagged> = flagged.iter().filter(|f| f.active.is_none()).collect();
    if !commented.is_empty() {
        let _ = writeln!(s, "\n# Columns the assessment flags, as commented overrides pre-filled with the planned type");
        let _ = writeln!(s, "# (`ferry plan` explains each; uncomment and edit to change one).");
        for f in &commented {
            let _ = writeln!(s, "\n# {}.{}:", f.table, f.column);
            for (sev, msg) in &f.items {
                let sev = match sev {
                    Severity::Info => "note",
                    Severity::Warning => "warning",
                    Severity::Action => "action",
                };
                let _ = writeln!(s, "#   {sev}: {}", msg.replace('\n', " "));
            }
            let _ = writeln!(s, "# [tables.{}.columns.{}]\n# type = {}", key(&f.table), key(&f.column), toml_str(&f.planned_type));
        }
    }
    s
}

/// The snake_case label serde gives a rule's value.
fn label<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Tables of at most this many estimated rows (and not among the big ones) are lookup-table
/// candidates for reference tables.
const REFERENCE_MAX_ROWS: u64 = 10_000;

/// A key or unique index of `t` (source names) lacks `col`: distributing by it needs `extend_key`.
fn needs_extending(t: &crate::TablePlan, col: &str) -> bool {
    t.source.primary_key.iter().chain(t.source.unique_keys.iter()).any(|k| !k.columns.iter().any(|c| c == col))
        || t.source.indexes.iter().filter(|i| i.unique).any(|i| !i.columns.iter().any(|c| c.name == col))
}

/// A `[target.citus]` the plan accepts, and a note per table it had to leave local.
pub fn suggest_citus(plan: &Plan) -> (CitusConfig, Vec<String>) {
    let rows = |n: &str| plan.tables.iter().find(|t| t.source.name == n).map(|t| t.source.estimated_rows).unwrap_or(0);
    let largest = plan.tables.iter().map(|t| t.source.estimated_rows).max().unwrap_or(0);
    // Row estimates are rough (InnoDB's can be off by half): "big" is relative to the largest.
    let big_min = (largest / 4).max(1);
    let big: Vec<&crate::TablePlan> = plan.tables.iter().filter(|t| t.source.estimated_rows >= big_min).collect();
    let big_rows = |col: &str| big.iter().filter(|b| b.source.column_index(col).is_some()).map(|b| b.source.estimated_rows).sum::<u64>();
    // The column the big tables share: a single-column foreign key of one of them, present (by
    // name) in the most big tables; ties go to the column whose tables hold the most rows.
    let mut candidates: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for t in &big {
        for fk in t.source.foreign_keys.iter().filter(|f| f.columns.len() == 1) {
            let col = fk.columns[0].clone();
            let n = big.iter().filter(|b| b.source.column_index(&col).is_some()).count();
            candidates.insert((col, fk.ref_table.clone(), fk.ref_columns[0].clone()), n);
        }
    }
    // Each way to distribute is tried through the Citus rules; the one that keeps the most rows
    // distributed wins (ties: the earlier, i.e. the more widely shared column).
    let mut ways: Vec<CitusConfig> = Vec::new();
    let mut shared: Vec<((String, String, String), usize)> = candidates.into_iter().filter(|(_, n)| *n >= 2).collect();
    shared.sort_by_key(|((col, ref_table, _), n)| std::cmp::Reverse((*n, big_rows(col), rows(ref_table))));
    for ((col, root, root_col), _) in &shared {
        // Tables distributed by a column outside their keys get it added on the target
        // (extend_key), and FK actions Citus cannot run become NO ACTION (said by the plan).
        let mut cfg = CitusConfig { downgrade_fk_actions: true, ..Default::default() };
        let extend_key = plan.tables.iter().find(|t| &t.source.name == root).is_some_and(|t| needs_extending(t, root_col));
        cfg.distributed.insert(root.clone(), DistributedTable { column: root_col.clone(), colocate_with: None, extend_key, ..Default::default() });
        for t in big.iter().filter(|t| t.source.column_index(col).is_some() && &t.source.name != root) {
            let extend_key = needs_extending(t, col);
            cfg.distributed
                .insert(t.source.name.clone(), DistributedTable { column: col.clone(), colocate_with: Some(root.clone()), extend_key, ..Default::default() });
        }
        ways.push(cfg);
    }
    // Each big table by its single-column primary key.
    let mut by_key = CitusConfig { downgrade_fk_actions: true, ..Default::default() };
    for t in &big {
        if let Some(pk) = t.source.primary_key.as_ref().filter(|k| k.columns.len() == 1) {
            let extend_key = needs_extending(t, &pk.columns[0]);
            by_key
                .distributed
                .insert(t.source.name.clone(), DistributedTable { column: pk.columns[0].clone(), colocate_with: None, extend_key, ..Default::default() });
        }
    }
    ways.push(by_key);
    let mut best: Option<(u64, CitusConfig, Vec<String>)> = None;
    for way in ways {
        let (cfg, notes) = settle(plan, way, big_min);
        let score: u64 = cfg.distributed.keys().map(|n| rows(n)).sum();
        if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            best = Some((score, cfg, notes));
        }
    }
    let (_, cfg, notes) = best.expect("at least one way is tried");
    (cfg, notes)
}

/// One way to distribute made acceptable: small tables become reference tables (those that
/// reference only reference tables), and whatever the Citus rules refuse is left local, noted.
fn settle(plan: &Plan, mut cfg: CitusConfig, big_min: u64) -> (CitusConfig, Vec<String>) {
    let mut reference: BTreeSet<String> = plan
        .tables
        .iter()
        .filter(|t| t.source.estimated_rows <= REFERENCE_MAX_ROWS && !cfg.distributed.contains_key(&t.source.name))
        .filter(|t| {
            // Small tables, and bigger ones a distributed table references (a distributed table
            // cannot reference a local one).
            t.source.estimated_rows < big_min
                || plan
                    .tables
                    .iter()
                    .any(|d| cfg.distributed.contains_key(&d.source.name) && d.source.foreign_keys.iter().any(|f| f.ref_table == t.source.name))
        })
        .map(|t| t.source.name.clone())
        .collect();
    let mut notes = Vec::new();
    // Reference tables may only reference reference tables.
    loop {
        let out: Vec<String> = reference
            .iter()
            .filter(|n| {
                plan.tables
                    .iter()
                    .find(|t| &t.source.name == *n)
                    .is_some_and(|t| t.source.foreign_keys.iter().any(|f| f.ref_table != t.source.name && !reference.contains(&f.ref_table)))
            })
            .cloned()
            .collect();
        if out.is_empty() {
            break;
        }
        for n in out {
            notes.push(format!("{n}: small, but it references a table that is not a reference table, so it stays local"));
            reference.remove(&n);
        }
    }
    cfg.reference = reference.into_iter().collect();
    // What the Citus rules still refuse stays local, until nothing is refused.
    for _ in 0..plan.tables.len() + 1 {
        let mut trial = plan.clone();
        let _ = crate::citus::classify(&mut trial, &cfg);
        let refused: Vec<(String, String)> = trial
            .citus
            .as_ref()
            .map(|c| {
                c.tables
                    .iter()
                    .filter_map(|ct| {
                        let source = |target: &str| plan.tables.iter().find(|t| t.target.name == target).map(|t| t.source.name.clone()).unwrap_or_default();
                        let why = ct.problems.join("; ");
                        (!ct.problems.is_empty()).then(|| match ct.role {
                            // A local table refused for its key to a distributed table: that
                            // table stays local instead.
                            crate::citus::CitusRole::Local => {
                                let t = plan.tables.iter().find(|t| t.target.name == ct.table);
                                let to = t
                                    .and_then(|t| t.target.foreign_keys.iter().find(|fk| cfg.distributed.contains_key(&source(&fk.ref_table))))
                                    .map(|fk| source(&fk.ref_table))
                                    .unwrap_or_default();
                                (to, format!("{} references it from a local table ({why})", ct.table))
                            }
                            _ => (source(&ct.table), why),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if refused.is_empty() {
            break;
        }
        for (name, why) in refused {
            let role = if cfg.reference.contains(&name) { "reference" } else { "distributed" };
            notes.push(format!("{name}: suggested as {role}, left local — {why}"));
            cfg.reference.retain(|n| n != &name);
            cfg.distributed.remove(&name);
        }
        let names: Vec<String> = cfg.distributed.keys().cloned().collect();
        for d in cfg.distributed.values_mut() {
            if d.colocate_with.as_ref().is_some_and(|c| !names.contains(c)) {
                d.colocate_with = None;
            }
        }
    }
    (cfg, notes)
}

/// A table rule with one column rule (for tests).
#[cfg(test)]
fn rule_with(col: &str, r: ColumnRule) -> crate::config::TableRule {
    let mut t = crate::config::TableRule::default();
    t.columns.insert(col.into(), r);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_every_url_form() {
        assert_eq!(without_password("mysql://root:s3cret@h:3306/db"), ("mysql://root@h:3306/db".into(), true));
        assert_eq!(without_password("postgres://u@h/db?sslmode=require&password=s3cret"), ("postgres://u@h/db?sslmode=require".into(), true));
        assert_eq!(without_password("postgres://u@h/db?password=x"), ("postgres://u@h/db".into(), true));
        assert_eq!(without_password("host=h user=u password='a b' dbname=d"), ("host=h user=u dbname=d".into(), true));
        assert_eq!(without_password("sqlite:///tmp/a.db"), ("sqlite:///tmp/a.db".into(), false));
    }

    #[test]
    fn keys_are_quoted_only_when_they_must_be() {
        assert_eq!(key("film_actor"), "film_actor");
        assert_eq!(key("Order Details"), "\"Order Details\"");
        assert_eq!(key("a.b"), "\"a.b\"");
        let mut c = Config::default();
        c.tables.insert("Order Details".into(), rule_with("Unit.Price", ColumnRule { type_: Some("text".into()), ..Default::default() }));
        let text = format!("[tables.{}.columns.{}]\ntype = \"text\"\n", key("Order Details"), key("Unit.Price"));
        let back = Config::from_toml(&text).unwrap();
        assert_eq!(back.tables["Order Details"].columns["Unit.Price"].type_.as_deref(), Some("text"));
    }
}
