//! The `ferry` binary: parses flags and the config file, builds a validated plan and hands it to
//! the engines. No business logic lives here.

mod args;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, Common};
use clap::Parser;
use ferry_load::{make_plan, migrate, CopyFormat, MigrateOptions, ProgressMode};
use ferry_plan::Config;
use ferry_source_mysql::MySqlSource;
use ferry_target_postgres::PgTarget;
use std::process::ExitCode;
use std::sync::Arc;

/// The replica id ferry registers as unless told otherwise: derived from the target database and
/// schema (FNV-1a), so one sync job keeps its id across restarts and two jobs reading the same
/// source (into different schemas or targets) do not collide; kept in 2^20..2^31, clear of the
/// small ids servers are usually given.
fn default_server_id(target_url: &str, schema: &str) -> u32 {
    let key = format!("{}|{schema}", ferry_model::redact_url(target_url));
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    (1 << 20) + h % ((1 << 31) - (1 << 20))
}

// Rows are many small allocations (one per value); mimalloc handles that pattern well.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `ferry status --json | head`: a closed pipe ends the process quietly, as for any Unix
    // filter, instead of a panic in println! (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Reads the config file (if any) and lets flags and environment variables override it.
fn load_config(c: &Common) -> Result<Config> {
    let mut config = match &c.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
            Config::from_toml(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(u) = &c.source {
        config.source.url = Some(u.clone());
    }
    if let Some(u) = &c.target {
        config.target.url = Some(u.clone());
    }
    if let Some(s) = &c.schema {
        config.target.schema = Some(s.clone());
    }
    Ok(config)
}

/// Puts a password from the environment into a URL that has none.
fn with_password(url: &str, password: Option<&str>) -> String {
    let Some(pw) = password else { return url.to_string() };
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else { return url.to_string() };
    if rest[..at].contains(':') {
        return url.to_string();
    }
    let enc: String =
        pw.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    format!("{}{}:{enc}{}", &url[..scheme_end + 3], &rest[..at], &rest[at..])
}

fn source_url(config: &Config) -> Result<String> {
    let url = config.source.url.clone().context("no source: give --source mysql://user@host:port/database, FERRY_SOURCE_URL, or [source] url in the config")?;
    if !url.starts_with("mysql://") && !url.starts_with("mariadb://") && !is_postgres(&url) {
        bail!("source {}: give a mysql:// (MySQL, MariaDB) or postgres://…?schema=… (PostgreSQL) URL", ferry_model::redact_url(&url));
    }
    let url = url.replacen("mariadb://", "mysql://", 1);
    Ok(with_password(&url, std::env::var("FERRY_SOURCE_PASSWORD").ok().as_deref()))
}

fn target_url(config: &Config) -> Option<String> {
    config.target.url.as_ref().map(|u| with_password(u, std::env::var("FERRY_TARGET_PASSWORD").ok().as_deref()))
}

/// Connects to the source, finds the target (and whether it has PostGIS), and makes the plan:
/// what `migrate` and `verify` both start from.
async fn open_plan(config: &Config) -> Result<(Src, String, bool, Arc<ferry_plan::Plan>)> {
    let turl = target_url(config).context("no target: give --target postgres://user@host:port/database, FERRY_TARGET_URL, or [target] url in the config")?;
    let source = connect_source(&source_url(config)?).await?;
    let target = PgTarget::connect(&turl).await?;
    let postgis = target.has_extension("postgis").await?;
    drop(target);
    let plan = Arc::new(on_source!(&source, s => make_plan(&**s, config, postgis).await)?);
    Ok((source, turl, postgis, plan))
}

/// A source of either engine; the engines are generic over it.
enum Src {
    MySql(Arc<MySqlSource>),
    Postgres(Arc<ferry_source_postgres::PgSource>),
}

/// Runs `$body` with `$s` bound to the source's `Arc`, whatever its engine.
macro_rules! on_source {
    ($src:expr, $s:ident => $body:expr) => {
        match $src {
            Src::MySql($s) => $body,
            Src::Postgres($s) => $body,
        }
    };
}
use on_source;

async fn connect_source(url: &str) -> Result<Src> {
    if is_postgres(url) {
        Ok(Src::Postgres(Arc::new(ferry_source_postgres::PgSource::connect(url).await?)))
    } else {
        Ok(Src::MySql(Arc::new(MySqlSource::connect(url).await?)))
    }
}

/// Starts the sync of `plan`'s schema at a full load's snapshot position: a finished load's (the
/// continuous-migration case: `ferry migrate`, then `ferry sync`), else after a full load now.
/// A load a killed run left half done is redone from scratch, not resumed: a resumed load reads
/// its remaining chunks in a later snapshot, so no single binlog position fits all its rows.
async fn start_sync(
    config: &Config,
    source: &Arc<MySqlSource>,
    label: &str,
    turl: &str,
    target: &PgTarget,
    plan: &Arc<ferry_plan::Plan>,
    quiet: bool,
) -> Result<()> {
    let schema = &plan.target_schema;
    let run = target.load_run(schema).await?;
    let snapshot: ferry_model::SnapshotPosition = match run.as_ref().filter(|r| r.status == "done").and_then(|r| r.snapshot.clone()) {
        Some(json) => serde_json::from_str(&json).context("reading the stored snapshot position")?,
        None => {
            let interrupted = run.as_ref().is_some_and(|r| r.status != "done");
            if !quiet {
                eprintln!(
                    "full load of {} tables into schema \"{schema}\"{}, then streaming changes",
                    plan.tables.len(),
                    if interrupted { " (again from scratch: the earlier load did not finish)" } else { "" }
                );
            }
            let opts = MigrateOptions {
                // The tables of an unfinished load of this schema are ferry's own: replace them.
                if_exists: if interrupted { ferry_plan::config::IfExists::Drop } else { config.migrate.if_exists },
                workers: config.migrate.workers,
                progress: if quiet { ProgressMode::Quiet } else { ProgressMode::Auto },
                resume: false,
                chunk_rows: config.migrate.chunk_rows,
                format: CopyFormat::Auto,
            };
            let report = migrate(source.clone(), label, turl, plan.clone(), &opts).await?;
            // `ferry report` shows the sync's full load as the migrate it is.
            save_report(turl, schema, "migrate", &serde_json::to_string(&report)?).await;
            if !report.ok {
                print!("{}", report.render_text());
                bail!("the full load failed; sync not started");
            }
            report.snapshot
        }
    };
    if !snapshot.consistent {
        let note = snapshot.note.unwrap_or_default();
        if note.starts_with("resumed load") {
            bail!(
                "the full load was resumed ({note}), so no single source position fits all its rows; sync needs a load in one snapshot: run `ferry migrate --if-exists drop` (without --resume), then `ferry sync`"
            );
        }
        bail!("the full load's snapshot was not consistent ({note}); sync needs one position for every table: grant RELOAD and run `ferry migrate --if-exists drop`");
    }
    let pos = snapshot
        .position
        .as_deref()
        .and_then(ferry_model::cdc::LogPosition::parse)
        .context("the source reported no binlog position for the snapshot (is log_bin on?)")?;
    let mut loaded: std::collections::BTreeMap<String, i64> = plan.tables.iter().map(|t| (t.target.name.clone(), 0)).collect();
    for (table, _, rows, _) in target.done_chunks(schema).await? {
        *loaded.entry(table).or_default() += rows;
    }
    target.start_sync(schema, label, &pos, &loaded.into_iter().collect::<Vec<_>>()).await?;
    Ok(())
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Plan { common, json } => {
            let config = load_config(&common)?;
            let source = connect_source(&source_url(&config)?).await?;
            let postgis = match target_url(&config) {
                Some(url) => PgTarget::connect(&url).await?.has_extension("postgis").await?,
                None => false,
            };
            let plan = on_source!(&source, s => make_plan(&**s, &config, postgis).await)?;
            if json {
                let out = serde_json::json!({
                    "source_database": plan.source_database,
                    "target_schema": plan.target_schema,
                    "ddl": plan.ddl_script(),
                    "assessment": plan.assessment,
                    "tables": plan.tables,
                    "enums": plan.enums,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{}", plan.ddl_script());
                println!("{}", plan.assessment.render_text());
            }
            if let Src::MySql(s) = source {
                if let Ok(s) = Arc::try_unwrap(s) {
                    s.disconnect().await;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { common, until_caught_up, server_id, batch_rows, quiet, json, check, metrics_addr, warn_backlog_mb, retry_for } => {
            let config = load_config(&common)?;
            let (source, turl, _, plan) = open_plan(&config).await?;
            let job = default_server_id(&turl, &plan.target_schema);
            let label = ferry_model::redact_url(&source_url(&config)?);
            let run = SyncRun {
                turl: turl.clone(),
                plan: plan.clone(),
                until_caught_up,
                batch_rows,
                quiet,
                json,
                metrics_addr,
                warn_backlog_bytes: warn_backlog_mb << 20,
                retry_for,
                lock: Default::default(),
            };
            match source {
                Src::MySql(source) => {
                    let cdc = ferry_source_mysql::binlog::MySqlCdc { source: source.clone(), server_id: server_id.unwrap_or(job) };
                    match run.prepare(&cdc, check).await? {
                        Prepared::Ended(code) => return Ok(code),
                        Prepared::Start(target) => start_sync(&config, &source, &label, &turl, &target, &plan, quiet || json).await?,
                        Prepared::Running => {}
                    }
                    run.run(Arc::new(cdc)).await
                }
                Src::Postgres(source) => {
                    let cdc = ferry_source_postgres::cdc::PgCdc { source: source.clone(), slot: ferry_source_postgres::cdc::slot_name(job) };
                    match run.prepare(&cdc, check).await? {
                        Prepared::Ended(code) => return Ok(code),
                        Prepared::Start(target) => start_sync_postgres(&config, &cdc, &label, &turl, &target, &plan, quiet || json).await?,
                        Prepared::Running => {}
                    }
                    run.run(Arc::new(cdc)).await
                }
            }
        }
        Command::Cutover { common, read_only_source, timeout, server_id, json } => {
            let config = load_config(&common)?;
            let (source, turl, postgis, plan) = open_plan(&config).await?;
            let schema = plan.target_schema.clone();
            let target = PgTarget::connect(&turl).await?;
            target.ensure_state().await?;
            if target.sync_position(&schema).await?.is_none() {
                bail!("schema \"{schema}\" has no sync to cut over: run `ferry sync` first");
            }
            if target.sync_state_status(&schema).await?.as_deref() == Some("cut over") {
                bail!("schema \"{schema}\" was already cut over");
            }
            drop(target);
            let say = |m: String| {
                if !json {
                    eprintln!("{m}")
                }
            };
            let job = default_server_id(&turl, &schema);
            let (at, slot_dropped) = match &source {
                Src::MySql(s) => {
                    if read_only_source {
                        s.set_read_only().await?;
                        say("source set read-only (SET GLOBAL read_only = ON)".into());
                    }
                    let cdc = ferry_source_mysql::binlog::MySqlCdc { source: s.clone(), server_id: server_id.unwrap_or(job) };
                    (catch_up(Arc::new(cdc), &turl, &plan, timeout, true, &say).await?, None)
                }
                Src::Postgres(s) => {
                    if read_only_source {
                        bail!("--read-only-source is for MySQL sources; stop the application's writes to PostgreSQL before cutover");
                    }
                    let cdc = Arc::new(ferry_source_postgres::cdc::PgCdc { source: s.clone(), slot: ferry_source_postgres::cdc::slot_name(job) });
                    let at = catch_up(cdc.clone(), &turl, &plan, timeout, false, &say).await?;
                    (at, Some(cdc))
                }
            };
            say("2/4 setting identities past the source's ids and validating constraints".into());
            let fin = ferry_cdc::cutover::finalize(&turl, &plan, &at).await?;
            // Free sequences (PostgreSQL sources) continue past the source's.
            if let Src::Postgres(s) = &source {
                let names: Vec<String> = plan.sequences.iter().map(|q| q.name().to_string()).collect();
                let values = s.sequence_values(&names).await?;
                let carried = ferry_cdc::cutover::carry_sequences(&turl, &plan, &values).await?;
                if !carried.is_empty() {
                    say(format!("sequences set past the source's: {}", carried.join(", ")));
                }
            }
            say(format!("3/4 caught up to {at}; verifying"));
            let vopts = ferry_verify::VerifyOptions {
                target_url: turl.clone(),
                workers: config.migrate.workers,
                chunk_rows: config.migrate.chunk_rows,
                repair: false,
                postgis,
                zero_dates: config.rules.zero_dates,
                progress: ProgressMode::Quiet,
            };
            let report = on_source!(source, s => ferry_verify::verify(s, &turl, plan.clone(), &vopts).await)?;
            save_report(&turl, &schema, "verify", &serde_json::to_string(&report)?).await;
            let ok = report.equal && fin.constraint_failures.is_empty();
            // Only a cutover that holds is recorded (and a PostgreSQL source's slot dropped):
            // otherwise sync can go on and cutover can run again.
            if ok {
                ferry_cdc::cutover::record(&turl, &schema, &at).await?;
                if let Some(cdc) = &slot_dropped {
                    cdc.drop_slot().await?;
                    say(format!("replication slot and publication {} dropped on the source", cdc.slot));
                }
            }
            let slot_dropped = slot_dropped.filter(|_| ok);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "schema": schema, "position": at.to_string(), "source_read_only": read_only_source,
                        "slot_dropped": slot_dropped.as_ref().map(|c| c.slot.clone()),
                        "finalize": fin, "verify_equal": report.equal, "ok": ok,
                    }))?
                );
            } else {
                println!("cutover of schema \"{schema}\" at {at}:");
                println!("  identities set past the source's ids: {}", fin.identities.len());
                println!("  constraints validated: {}", fin.constraints_validated.len());
                for (t, c, e) in &fin.constraint_failures {
                    println!("  constraint {t}.{c} FAILED validation: {e}");
                }
                if let Some(cdc) = &slot_dropped {
                    println!("  replication slot {} and its publication dropped", cdc.slot);
                }
                println!("  verify: {}", if report.equal { "target equals source" } else { "DIFFERENCES (below)" });
                if !report.equal {
                    print!("{}", report.render_text());
                }
                if !ok {
                    println!("\nnot cut over: fix what is listed above, then run `ferry cutover` again (sync can continue meanwhile)");
                }
                if ok {
                    println!(
                        "\n4/4 next: point the application at the target ({}, schema \"{schema}\"){}; the source is no longer synced.",
                        ferry_model::redact_url(&turl),
                        if read_only_source { "; the source stays read-only" } else { "; keep the application stopped on the source" }
                    );
                }
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Status { common, json } => {
            let config = load_config(&common)?;
            let turl = target_url(&config).context("no target: give --target postgres://…")?;
            let target = PgTarget::connect(&turl).await?;
            target.ensure_state().await?;
            let schemas: Vec<String> = match &config.target.schema {
                Some(s) => vec![s.clone()],
                None => target.client.query("SELECT target_schema FROM ferry.sync_state ORDER BY 1", &[]).await?.iter().map(|r| r.get(0)).collect(),
            };
            let mut all = Vec::new();
            for s in schemas {
                if let Some(st) = target.sync_status(&s).await? {
                    all.push(st);
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no sync has started in this target");
            } else {
                for st in &all {
                    println!(
                        "schema \"{}\" from {}: {} at {}, {} transactions applied, lag {}{}",
                        st.target_schema,
                        st.source,
                        st.status,
                        st.position,
                        st.transactions,
                        st.lag_seconds.map(|l| format!("{l:.1} s")).unwrap_or_else(|| "-".into()),
                        st.source_backlog_bytes.map(|b| format!(", source keeps {:.1} MB of WAL for it", b as f64 / 1048576.0)).unwrap_or_default()
                    );
                    println!(
                        "  {:<30} {:>12} {:>10} {:>10} {:>10} {:>5} {:>6} {:>9}  status",
                        "table", "full load", "inserts", "updates", "deletes", "ddl", "errors", "zero→NULL"
                    );
                    for t in &st.tables {
                        println!(
                            "  {:<30} {:>12} {:>10} {:>10} {:>10} {:>5} {:>6} {:>9}  {}{}",
                            t.table,
                            t.full_load_rows,
                            t.inserts,
                            t.updates,
                            t.deletes,
                            t.ddl,
                            t.errors,
                            t.zero_dates_nulled,
                            t.status,
                            t.last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                        );
                        if let Some(d) = &t.last_ddl {
                            println!("  {:<30} last DDL {d}", "");
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { a, b, config, a_schema, b_schema, strict_names, json, sql, allow_drop } => {
            let config = config_file(&config)?;
            let (pa, pb) = (is_postgres(&a), is_postgres(&b));
            // A MySQL side compared with PostgreSQL is converted first; its schema names the other side's default.
            let ca = if pa { None } else { Some(catalog_of(&a, None, pb, &config).await?) };
            let cb = if pb { None } else { Some(catalog_of(&b, None, pa, &config).await?) };
            let sa = ca.as_ref().and_then(|c| c.1.as_ref().map(|p| p.target_schema.clone()));
            let sb = cb.as_ref().and_then(|c| c.1.as_ref().map(|p| p.target_schema.clone()));
            let mut ca = match ca {
                Some(c) => c,
                None => catalog_of(&a, a_schema.as_deref().or(sb.as_deref()), false, &config).await?,
            };
            let mut cb = match cb {
                Some(c) => c,
                None => catalog_of(&b, b_schema.as_deref().or(sa.as_deref()), false, &config).await?,
            };
            // A side converted by the plan, compared with a live PostgreSQL: its types, defaults
            // and checks as that PostgreSQL prints them, so only real differences remain.
            for (side, other) in [(&mut ca, &b), (&mut cb, &a)] {
                if let (Some(plan), true) = (&side.1, is_postgres(other)) {
                    let t = PgTarget::connect(other).await?;
                    ferry_verify::structure::normalise_defaults(&t, plan, &mut side.0).await?;
                }
            }
            let (ca, cb) = (ca.0, cb.0);
            let d = ferry_diff::diff(&ca, &cb, &ferry_diff::DiffOptions { strict_names });
            if sql {
                print!("{}", d.fixup_sql(&ca, &cb, allow_drop).map_err(|e| anyhow::anyhow!("{e}"))?);
            } else if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{}", d.render_text());
            }
            Ok(if d.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Erd { url, schema, tables, depth, format, no_infer, output, config } => {
            let config = config_file(&config)?;
            let (cat, _) = catalog_of(&url, schema.as_deref(), false, &config).await?;
            let diagram = ferry_erd::select(&cat, &ferry_erd::ErdOptions { tables, depth, infer: !no_infer });
            if diagram.tables.is_empty() {
                bail!("no table of {} `{}` matches --tables", cat.engine, cat.schema);
            }
            let text = match format {
                args::ErdFormat::Mermaid => diagram.mermaid(),
                args::ErdFormat::Dot => diagram.dot(),
                args::ErdFormat::Svg => ferry_erd::svg(&diagram.dot()).map_err(|e| anyhow::anyhow!(e))?,
            };
            match output {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { common, html } => {
            let config = load_config(&common)?;
            let (_source, turl, _, plan) = open_plan(&config).await?;
            let target = PgTarget::connect(&turl).await?;
            target.ensure_state().await?;
            let schema = &plan.target_schema;
            let migrate = target.last_report(schema, "migrate").await?;
            let verify = target.last_report(schema, "verify").await?;
            let mut cat = target.read_catalog(schema).await?;
            if cat.tables.is_empty() {
                // Not migrated yet: draw the plan.
                cat = ferry_plan::catalog::from_plan(&plan);
            }
            let diagram = ferry_erd::select(&cat, &ferry_erd::ErdOptions::default());
            let svg = ferry_erd::svg(&diagram.dot());
            let page = ferry_erd::report::html(&ferry_erd::report::ReportInput {
                title: format!("ferry: {} → {}", plan.source_database, schema),
                assessment: serde_json::to_value(&plan.assessment)?,
                migrate: migrate.map(|(at, j)| (at, serde_json::from_str(&j).unwrap_or_default())),
                verify: verify.map(|(at, j)| (at, serde_json::from_str(&j).unwrap_or_default())),
                svg: svg.as_ref().ok().cloned(),
                svg_error: svg.err(),
                mermaid: diagram.mermaid(),
            });
            std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
            eprintln!("wrote {}", html.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { common, json, repair, chunk_rows, workers, quiet } => {
            let config = load_config(&common)?;
            let (source, turl, postgis, plan) = open_plan(&config).await?;
            let opts = ferry_verify::VerifyOptions {
                target_url: turl.clone(),
                workers: workers.unwrap_or(config.migrate.workers),
                chunk_rows: chunk_rows.unwrap_or(config.migrate.chunk_rows),
                repair,
                postgis,
                zero_dates: config.rules.zero_dates,
                progress: if quiet || json { ProgressMode::Quiet } else { ProgressMode::Auto },
            };
            let report = on_source!(source, s => ferry_verify::verify(s, &turl, plan.clone(), &opts).await)?;
            save_report(&turl, &plan.target_schema, "verify", &serde_json::to_string(&report)?).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !quiet || !report.equal {
                print!("{}", report.render_text());
            }
            Ok(if report.equal { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Migrate { common, json, quiet, if_exists, workers, resume, chunk_rows, format } => {
            let mut config = load_config(&common)?;
            if let Some(i) = if_exists {
                config.migrate.if_exists = i.into();
            }
            if let Some(w) = workers {
                config.migrate.workers = w;
            }
            if let Some(c) = chunk_rows {
                config.migrate.chunk_rows = c;
            }
            if let Some(f) = format {
                config.migrate.format = match f {
                    args::FormatArg::Auto => ferry_plan::config::CopyFormatConfig::Auto,
                    args::FormatArg::Text => ferry_plan::config::CopyFormatConfig::Text,
                };
            }
            let (source, turl, _, plan) = open_plan(&config).await?;
            if !quiet && !json {
                eprintln!(
                    "migrating {} tables from {} to {} schema \"{}\"",
                    plan.tables.len(),
                    ferry_model::redact_url(&source_url(&config)?),
                    ferry_model::redact_url(&turl),
                    plan.target_schema
                );
            }
            let opts = MigrateOptions {
                if_exists: config.migrate.if_exists,
                workers: config.migrate.workers,
                progress: if quiet { ProgressMode::Quiet } else { ProgressMode::Auto },
                resume,
                chunk_rows: config.migrate.chunk_rows,
                format: match config.migrate.format {
                    ferry_plan::config::CopyFormatConfig::Auto => CopyFormat::Auto,
                    ferry_plan::config::CopyFormatConfig::Text => CopyFormat::Text,
                },
            };
            let label = ferry_model::redact_url(&source_url(&config)?);
            let report = on_source!(&source, s => migrate(s.clone(), &label, &turl, plan.clone(), &opts).await)?;
            save_report(&turl, &plan.target_schema, "migrate", &serde_json::to_string(&report)?).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !quiet || !report.ok {
                print!("{}", report.render_text());
                let a = &plan.assessment;
                let actions = a.count(ferry_plan::Severity::Action);
                let warnings = a.count(ferry_plan::Severity::Warning);
                if actions + warnings > 0 {
                    println!("\nassessment: {actions} action items, {warnings} warnings — `ferry plan` lists them");
                }
            }
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// Cutover step 1: applies every change up to the source's end of log as of now.
/// `exact`: the committed position must reach the stop point (MySQL: every binlog event ends in
/// a commit ferry sees); a PostgreSQL slot skips WAL of other tables, so there the stream's own
/// end at the stop point is the proof.
async fn catch_up<C: ferry_model::cdc::CdcSource + 'static>(
    cdc: Arc<C>,
    turl: &str,
    plan: &Arc<ferry_plan::Plan>,
    timeout: u64,
    exact: bool,
    say: &dyn Fn(String),
) -> Result<ferry_model::cdc::LogPosition> {
    let stop_at = cdc.current_position().await?;
    say(format!("1/4 applying every change up to {stop_at}"));
    let opts = ferry_cdc::SyncOptions { until_caught_up: true, retry_for: std::time::Duration::from_secs(timeout), ..Default::default() };
    let synced = tokio::time::timeout(std::time::Duration::from_secs(timeout), ferry_cdc::sync(cdc, turl, plan.clone(), &opts))
        .await
        .map_err(|_| anyhow::anyhow!("catching up took longer than --timeout {timeout}s; nothing was finalised: run `ferry cutover` again"))??;
    if !synced.stopped.is_empty() {
        for (t, e) in &synced.stopped {
            eprintln!("table {t} stopped: {e}");
        }
        bail!("{} table(s) stopped during sync: fix them (see above) before cutting over", synced.stopped.len());
    }
    let target = PgTarget::connect(turl).await?;
    let at = target.sync_position(&plan.target_schema).await?.context("sync position")?;
    if exact && at < stop_at {
        bail!("sync reached {at}, not the cutover point {stop_at}; run `ferry cutover` again");
    }
    Ok(at)
}

/// Prints the preflight checks (always with `--check`, else only when one fails); Some(exit
/// code) when the command ends here.
async fn preflight_report<C: ferry_model::cdc::CdcSource>(cdc: &C, check: bool) -> Result<Option<ExitCode>> {
    let checks = cdc.preflight().await?;
    let failed = checks.iter().filter(|c| !c.ok && !c.warning_only).count();
    if check || failed > 0 {
        for c in &checks {
            let mark = if c.ok {
                "ok  "
            } else if c.warning_only {
                "warn"
            } else {
                "FAIL"
            };
            println!("{mark} {:<26} {}", c.name, c.detail);
        }
        if failed > 0 {
            bail!("{failed} preflight check(s) failed; sync cannot start");
        }
        if check {
            return Ok(Some(ExitCode::SUCCESS));
        }
    }
    Ok(None)
}

/// The streaming part of `ferry sync`, whatever the source.
struct SyncRun {
    turl: String,
    plan: Arc<ferry_plan::Plan>,
    until_caught_up: bool,
    batch_rows: Option<usize>,
    quiet: bool,
    json: bool,
    metrics_addr: Option<String>,
    warn_backlog_bytes: u64,
    retry_for: u64,
    /// The session holding the schema's sync lock (`PgTarget::lock_sync`) while this run lasts.
    lock: std::sync::Mutex<Option<PgTarget>>,
}

/// What `ferry sync` does after its preflight.
enum Prepared {
    /// `--check`: the checks were printed.
    Ended(ExitCode),
    /// The schema has no sync yet: the full load starts it (on this target connection).
    Start(PgTarget),
    /// A sync of the schema exists: streaming resumes.
    Running,
}

impl SyncRun {
    /// Preflight, then the target's state schema.
    async fn prepare<C: ferry_model::cdc::CdcSource>(&self, cdc: &C, check: bool) -> Result<Prepared> {
        if let Some(code) = preflight_report(cdc, check).await? {
            return Ok(Prepared::Ended(code));
        }
        let target = PgTarget::connect(&self.turl).await?;
        target.ensure_state().await?;
        // Held on its own session until this process ends.
        let lock = PgTarget::connect(&self.turl).await?;
        lock.lock_sync(&self.plan.target_schema).await?;
        *self.lock.lock().unwrap() = Some(lock);
        Ok(if target.sync_position(&self.plan.target_schema).await?.is_none() { Prepared::Start(target) } else { Prepared::Running })
    }

    async fn run<C: ferry_model::cdc::CdcSource + 'static>(self, cdc: Arc<C>) -> Result<ExitCode> {
        let mut opts = ferry_cdc::SyncOptions {
            until_caught_up: self.until_caught_up,
            warn_backlog_bytes: self.warn_backlog_bytes,
            retry_for: std::time::Duration::from_secs(self.retry_for),
            ..Default::default()
        };
        if let Some(b) = self.batch_rows {
            opts.batch_rows = b.max(1);
        }
        if let Some(addr) = &self.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("--metrics-addr {addr}: cannot listen there"))?;
            let metrics = Arc::new(ferry_cdc::Metrics::default());
            tokio::spawn(metrics.clone().serve(listener));
            opts.metrics = Some(metrics);
            if !self.quiet && !self.json {
                eprintln!("metrics at http://{addr}/metrics");
            }
        }
        if !self.quiet && !self.json && !self.until_caught_up {
            eprintln!("streaming changes into schema \"{}\" (Ctrl-C stops; the next run resumes)", self.plan.target_schema);
        }
        let run = ferry_cdc::sync(cdc, &self.turl, self.plan.clone(), &opts);
        let report = tokio::select! {
            r = run => r?,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopped; the next `ferry sync` resumes from the last committed transaction");
                return Ok(ExitCode::SUCCESS);
            }
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else if !self.quiet {
            println!("applied {} transactions ({} row changes) in {} batches; position {}", report.transactions, report.rows, report.batches, report.position);
        }
        for (t, e) in &report.stopped {
            eprintln!("table {t} stopped: {e}");
        }
        // Tables an earlier run stopped stay stopped: say so every time.
        let earlier: Vec<String> = PgTarget::connect(&self.turl)
            .await?
            .stopped_sync_tables(&self.plan.target_schema)
            .await?
            .into_iter()
            .filter(|t| !report.stopped.iter().any(|(s, _)| s == t))
            // A stopped table the rules now exclude is no longer this sync's.
            .filter(|t| self.plan.tables.iter().any(|p| p.target.name == *t))
            .collect();
        if !earlier.is_empty() {
            eprintln!("tables stopped earlier (see `ferry status`): {}", earlier.join(", "));
        }
        Ok(if report.stopped.is_empty() && earlier.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }
}

/// Starts the sync of a PostgreSQL source: its publication, then a full load in the snapshot
/// the new replication slot exports, so streaming starts exactly where the loaded data ends. An
/// earlier migrate of the schema cannot be reused (no slot was created at its snapshot): the
/// tables are loaded again.
async fn start_sync_postgres(
    config: &Config,
    cdc: &ferry_source_postgres::cdc::PgCdc,
    label: &str,
    turl: &str,
    target: &PgTarget,
    plan: &Arc<ferry_plan::Plan>,
    quiet: bool,
) -> Result<()> {
    let schema = &plan.target_schema;
    let earlier = target.load_run(schema).await?.is_some();
    if !quiet {
        eprintln!(
            "full load of {} tables into schema \"{schema}\" in the snapshot of replication slot {}, then streaming changes",
            plan.tables.len(),
            cdc.slot
        );
    }
    let tables: Vec<ferry_model::Table> = plan.tables.iter().map(|t| t.source.clone()).collect();
    cdc.create_publication(&tables).await?;
    let source = Arc::new(ferry_source_postgres::PgSource::connect(&source_url(config)?).await?.with_slot(cdc.slot.clone()));
    let opts = MigrateOptions {
        if_exists: if earlier { ferry_plan::config::IfExists::Drop } else { config.migrate.if_exists },
        workers: config.migrate.workers,
        progress: if quiet { ProgressMode::Quiet } else { ProgressMode::Auto },
        resume: false,
        chunk_rows: config.migrate.chunk_rows,
        format: CopyFormat::Auto,
    };
    let report = migrate(source, label, turl, plan.clone(), &opts).await?;
    save_report(turl, &plan.target_schema, "migrate", &serde_json::to_string(&report)?).await;
    if !report.ok {
        print!("{}", report.render_text());
        bail!("the full load failed; sync not started");
    }
    let pos = report.snapshot.position.as_deref().and_then(ferry_model::cdc::LogPosition::parse).context("the slot reported no position")?;
    let mut loaded: std::collections::BTreeMap<String, i64> = plan.tables.iter().map(|t| (t.target.name.clone(), 0)).collect();
    for (table, _, rows, _) in target.done_chunks(schema).await? {
        *loaded.entry(table).or_default() += rows;
    }
    target.start_sync(schema, label, &pos, &loaded.into_iter().collect::<Vec<_>>()).await?;
    Ok(())
}

/// Keeps a report for `ferry report`; a failure to store it is a warning, not the run's failure.
async fn save_report(turl: &str, schema: &str, kind: &str, json: &str) {
    let stored = async {
        let t = PgTarget::connect(turl).await?;
        t.ensure_state().await?;
        t.save_report(schema, kind, json).await
    };
    if let Err(e) = stored.await {
        tracing::warn!("the {kind} report was not stored for `ferry report`: {e}");
    }
}

/// A database URL's engine.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The canonical catalog of `url`: a PostgreSQL schema as it is; a MySQL database as ferry
/// would convert it when `as_postgres` (the other side is PostgreSQL), else as it is. Also
/// returns the target schema a converted MySQL side would land in.
/// The catalog of `url`, and the plan it was converted by (`as_postgres`, a MySQL side).
async fn catalog_of(url: &str, schema: Option<&str>, as_postgres: bool, config: &Config) -> Result<(ferry_model::catalog::Catalog, Option<ferry_plan::Plan>)> {
    if is_postgres(url) {
        let schema = schema.map(str::to_string).or_else(|| config.target.schema.clone()).unwrap_or_else(|| "public".into());
        let t = PgTarget::connect(url).await.with_context(|| format!("connecting to {}", ferry_model::redact_url(url)))?;
        let mut cat = t.read_catalog(&schema).await?;
        let (inc, exc) = (&config.rules.include, &config.rules.exclude);
        cat.tables.retain(|t| inc.iter().any(|p| ferry_erd::like(p, &t.name)) && !exc.iter().any(|p| ferry_erd::like(p, &t.name)));
        return Ok((cat, None));
    }
    if !url.starts_with("mysql://") && !url.starts_with("mariadb://") {
        bail!("{}: give a mysql://… or postgres://… URL", ferry_model::redact_url(url));
    }
    let source = MySqlSource::connect(url).await?;
    use ferry_model::Source;
    let result = if as_postgres {
        let plan = make_plan(&source, config, false).await?;
        (ferry_plan::catalog::from_plan(&plan), Some(plan))
    } else {
        let select = ferry_plan::select_tables(config);
        (ferry_plan::catalog::from_source(&source.introspect(&select).await?), None)
    };
    source.disconnect().await;
    Ok(result)
}

fn config_file(path: &Option<std::path::PathBuf>) -> Result<Config> {
    load_config(&Common { config: path.clone(), source: None, target: None, schema: None })
}

#[cfg(test)]
mod tests {
    use super::with_password;

    #[test]
    fn default_server_ids_differ_per_job_and_stay_per_job() {
        let a = super::default_server_id("postgres://u:secret@h/db", "s1");
        assert_eq!(a, super::default_server_id("postgres://u:other@h/db", "s1"), "the password is not part of the job");
        assert_ne!(a, super::default_server_id("postgres://u@h/db", "s2"));
        assert!((1 << 20..1 << 31).contains(&a));
    }

    #[test]
    fn password_from_environment_is_url_encoded() {
        assert_eq!(with_password("mysql://root@h:1/db", Some("p@ss word")), "mysql://root:p%40ss%20word@h:1/db");
        assert_eq!(with_password("mysql://root:x@h/db", Some("y")), "mysql://root:x@h/db");
        assert_eq!(with_password("mysql://root@h/db", None), "mysql://root@h/db");
    }
}
