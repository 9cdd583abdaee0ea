//! The `ferry` binary: parses flags and the config file, builds a validated plan and hands it to
//! the engines. No business logic lives here.

mod args;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, Common};
use clap::Parser;
use ferry_load::{make_plan, migrate, CopyFormat, MigrateOptions, ProgressMode};
use ferry_model::cdc::CdcSource;
use ferry_plan::Config;
use ferry_sources::AnySource;
use ferry_target_postgres::controls::Control;
use ferry_target_postgres::state::keep_report;
use ferry_target_postgres::PgTarget;
use std::process::ExitCode;
use std::sync::Arc;

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
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "warn,tiberius=off".into()))
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
    if ferry_sources::registered(&url).is_none() {
        return Err(ferry_sources::unknown_scheme(&url).into());
    }
    Ok(with_password(&url, std::env::var("FERRY_SOURCE_PASSWORD").ok().as_deref()))
}

fn target_url(config: &Config) -> Option<String> {
    config.target.url.as_ref().map(|u| with_password(u, std::env::var("FERRY_TARGET_PASSWORD").ok().as_deref()))
}

/// Connects to the source, finds the target (and whether it has PostGIS), and makes the plan:
/// what `migrate` and `verify` both start from.
async fn open_plan(config: &Config) -> Result<(Arc<AnySource>, String, bool, Arc<ferry_plan::Plan>)> {
    let turl = target_url(config).context("no target: give --target postgres://user@host:port/database, FERRY_TARGET_URL, or [target] url in the config")?;
    let source = ferry_sources::connect_with(&source_url(config)?, config.cell_rules()).await?;
    let target = PgTarget::connect(&turl).await?;
    let postgis = target.has_extension("postgis").await?;
    drop(target);
    let plan = Arc::new(make_plan(&source, config, postgis).await?);
    Ok((Arc::new(source), turl, postgis, plan))
}

fn progress(quiet: bool) -> ProgressMode {
    if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "ferry", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { source, target, schema, output, force, citus, json } => {
            let to_stdout = output.as_os_str() == "-";
            if to_stdout && json {
                bail!("--json prints to standard output: write the config to a file with -o");
            }
            if !to_stdout && output.exists() && !force {
                bail!("{} exists; choose another file with -o, or replace it with --force", output.display());
            }
            let mut config = Config::default();
            config.source.url = Some(source.clone());
            config.target.url = target.clone();
            config.target.schema = schema;
            let src = ferry_sources::connect_with(&source_url(&config)?, config.cell_rules()).await?;
            let postgis = match target_url(&config) {
                Some(url) => PgTarget::connect(&url).await?.has_extension("postgis").await?,
                None => false,
            };
            let plan = make_plan(&src, &config, postgis).await?;
            src.close().await;
            let init = ferry_plan::init::write(&ferry_plan::init::InitInput { plan: &plan, source_url: &source, target_url: target.as_deref(), citus })
                .map_err(|e| anyhow::anyhow!(e))?;
            if to_stdout {
                print!("{}", init.text);
            } else {
                std::fs::write(&output, &init.text).with_context(|| format!("writing {}", output.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&init)?);
            } else {
                let active = init.flagged.iter().filter(|f| f.active.is_some()).count();
                let shown = if to_stdout { "the config above".to_string() } else { output.display().to_string() };
                eprintln!(
                    "wrote {shown}: {} tables, {active} override(s) the data needs, {} flagged column(s) as commented overrides{}",
                    init.tables.len(),
                    init.flagged.len() - active,
                    if citus { format!(", a Citus distribution ({} table(s) left local)", init.citus_notes.len()) } else { String::new() }
                );
                if !init.passwords_left_out.is_empty() {
                    eprintln!(
                        "the password was left out of the file: set {}",
                        init.passwords_left_out.iter().map(|p| format!("FERRY_{}_PASSWORD", p.to_uppercase())).collect::<Vec<_>>().join(" and ")
                    );
                }
                if !to_stdout {
                    eprintln!("next: ferry plan --config {}", output.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { common, json } => {
            let config = load_config(&common)?;
            let source = ferry_sources::connect_with(&source_url(&config)?, config.cell_rules()).await?;
            let postgis = match target_url(&config) {
                Some(url) => PgTarget::connect(&url).await?.has_extension("postgis").await?,
                None => false,
            };
            let plan = make_plan(&source, &config, postgis).await?;
            // The mappings run on the target's landing tables (created for the check where
            // missing, with a sample of source rows where empty) in a transaction that is
            // rolled back: checked, and previewed on a few rows.
            let mut check: Option<Result<Vec<ferry_target_postgres::reshape::Sample>, String>> = None;
            if let (Some(_), Some(url)) = (&plan.reshape, target_url(&config)) {
                let target = PgTarget::connect(&url).await?;
                check = Some(ferry_load::check_reshape(Some(&source), &target, &plan, 3).await.map_err(|e| e.to_string()));
            }
            source.close().await;
            if json {
                let out = serde_json::json!({
                    "source_database": plan.source_database,
                    "target_schema": plan.target_schema,
                    "ddl": plan.ddl_script(),
                    "assessment": plan.assessment,
                    "tables": plan.tables,
                    "enums": plan.enums,
                    "reshape": plan.reshape,
                    "reshape_preview": check.as_ref().and_then(|c| c.as_ref().ok()),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{}", plan.ddl_script());
                println!("{}", plan.assessment.render_text());
                if let Some(r) = &plan.reshape {
                    println!("{}", ferry_plan::reshape::render(r));
                }
                if let Some(Ok(samples)) = &check {
                    println!("-- reshape preview: a few landing rows as stored, and what each mapping makes of them");
                    for s in samples {
                        println!("\n{} ← {} (mapping {})", s.table, s.from, s.mapping);
                        for b in &s.before {
                            println!("  before: {b}");
                        }
                        for a in &s.after {
                            println!("  after:  {a}");
                        }
                    }
                }
            }
            match check {
                Some(Ok(_)) => eprintln!("reshape check: every mapping ran on the target (rolled back)"),
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                None => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { common, until_caught_up, server_id, batch_rows, quiet, json, check, setup, http, verify_every, warn_backlog_mb, retry_for } => {
            let config = load_config(&common)?;
            let (source, turl, _, plan) = open_plan(&config).await?;
            let cdc = Arc::new(source.cdc(ferry_cdc::start::job_id(&turl, &plan.target_schema), server_id)?);
            if setup {
                let tables: Vec<ferry_model::Table> = plan.tables.iter().map(|t| t.source.clone()).collect();
                match cdc.setup(&tables).await? {
                    Some(done) if !quiet && !json => eprintln!("{done}"),
                    Some(_) => {}
                    None if !quiet && !json => eprintln!("this source needs no setup for sync"),
                    None => {}
                }
            }
            if let Some(code) = preflight_report(&*cdc, check).await? {
                return Ok(code);
            }
            let label = ferry_model::redact_url(&source_url(&config)?);
            let mut sync = ferry_cdc::SyncOptions {
                until_caught_up,
                warn_backlog_bytes: warn_backlog_mb << 20,
                retry_for: std::time::Duration::from_secs(retry_for),
                verify_every,
                ..Default::default()
            };
            if let Some(b) = batch_rows {
                sync.batch_rows = b.max(1);
            }
            let talk = !quiet && !json;
            let mut observer: Option<Arc<dyn ferry_progress::Observer>> = None;
            if let Some(addr) = &http {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("--http {addr}: cannot listen there"))?;
                let monitor = Arc::new(ferry_cdc::Monitor::default());
                let actions = page_actions(turl.clone(), plan.target_schema.clone(), plan.tables.iter().map(|t| t.target.name.clone()).collect());
                tokio::spawn(ferry_monitor::serve_with_actions(monitor.clone(), listener, Some(actions)));
                sync.monitor = Some(monitor.clone());
                observer = Some(monitor);
                if talk {
                    eprintln!("live status at http://{addr}/ (metrics at /metrics)");
                }
            }
            let say = |m: String| {
                if talk {
                    eprintln!("{m}")
                }
            };
            let job = ferry_cdc::start::SyncJob {
                target_url: &turl,
                plan: plan.clone(),
                label: &label,
                migrate: MigrateOptions {
                    progress: progress(!talk),
                    hooks: read_hooks(&config, common.config.as_deref())?,
                    observer,
                    ..migrate_options(&config)
                },
                sync,
                say: &say,
            };
            let report = tokio::select! {
                r = ferry_cdc::start::run(cdc, &job) => r?,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("stopped; the next `ferry sync` resumes from the last committed transaction");
                    return Ok(ExitCode::SUCCESS);
                }
            };
            let r = &report.sync;
            if json {
                println!("{}", serde_json::to_string_pretty(r)?);
            } else if !quiet {
                println!("applied {} transactions ({} row changes) in {} batches; position {}", r.transactions, r.rows, r.batches, r.position);
            }
            for (t, e) in &r.stopped {
                eprintln!("table {t} stopped: {e}");
            }
            // Tables an earlier run stopped stay stopped: say so every time.
            if !report.stopped_earlier.is_empty() {
                eprintln!("tables stopped earlier (see `ferry status`): {}", report.stopped_earlier.join(", "));
            }
            Ok(if r.stopped.is_empty() && report.stopped_earlier.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Cutover { common, read_only_source, timeout, server_id, json } => {
            let config = load_config(&common)?;
            let (source, turl, postgis, plan) = open_plan(&config).await?;
            if read_only_source && !source.capabilities().read_only {
                bail!("--read-only-source: ferry cannot make a {} source read-only; stop the application's writes before cutover", source.registered().name);
            }
            let cdc = Arc::new(source.cdc(ferry_cdc::start::job_id(&turl, &plan.target_schema), server_id)?);
            let say = |m: String| {
                if !json {
                    eprintln!("{m}")
                }
            };
            let opts = ferry_cdc::cutover::CutoverOptions {
                read_only_source,
                timeout: std::time::Duration::from_secs(timeout),
                verify: verify_options(&config, &turl, postgis, false, ProgressMode::Quiet),
            };
            let report = ferry_cdc::cutover::run(cdc, source, &turl, plan.clone(), &opts, &say).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text(&ferry_model::redact_url(&turl)));
            }
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Reload { table, common, filter, wait } => {
            let config = load_config(&common)?;
            let (source, turl, _, plan) = open_plan(&config).await?;
            drop(source);
            let t = plan
                .tables
                .iter()
                .find(|t| t.target.name == table || t.source_name == table)
                .with_context(|| format!("table {table} is not among the planned tables of schema \"{}\"", plan.target_schema))?;
            let target = PgTarget::connect(&turl).await?;
            target.ensure_state().await?;
            if target.sync_position(&plan.target_schema).await?.is_none() {
                anyhow::bail!("schema \"{}\" has no sync: a reload runs inside `ferry sync`; start it first", plan.target_schema);
            }
            if let Some(f) = &filter {
                // The condition must make sense on the table before the sync takes it up.
                target.batch(&format!("EXPLAIN SELECT 1 FROM {} WHERE ({f})", t.target.qualified())).await.with_context(|| format!("--where {f}"))?;
            }
            target.request_reload(&plan.target_schema, &t.target.name, filter.as_deref()).await?;
            eprintln!("reload of {} requested; the running `ferry sync` takes it up", t.target.qualified());
            if !wait {
                return Ok(ExitCode::SUCCESS);
            }
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                let Some(st) = target.reload_status(&plan.target_schema, &t.target.name).await? else { continue };
                match st.status.as_str() {
                    "done" => {
                        println!("reloaded {}: {} rows in {} chunks", t.target.qualified(), st.rows, st.chunks_done);
                        return Ok(ExitCode::SUCCESS);
                    }
                    "failed" => {
                        eprintln!("reload of {} failed: {}", t.target.qualified(), st.error.unwrap_or_default());
                        return Ok(ExitCode::FAILURE);
                    }
                    _ => {}
                }
            }
        }
        Command::Pause { table, common, wait } => control_command(&common, &table, Control::Pause, wait).await,
        Command::Resume { table, common, wait } => control_command(&common, &table, Control::Resume, wait).await,
        Command::Exclude { table, common, wait } => control_command(&common, &table, Control::Exclude, wait).await,
        Command::Include { table, common, wait } => control_command(&common, &table, Control::Include, wait).await,
        Command::Run { file, common, dry_run, sample, json } => {
            let config = load_config(&common)?;
            let turl = target_url(&config).context("no target: give --target postgres://…")?;
            let sql = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let target = PgTarget::connect(&turl).await?;
            let report = ferry_load::script::run_script(&target, &file.display().to_string(), &sql, dry_run, sample).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Status { common, json, http } => {
            let config = load_config(&common)?;
            let turl = target_url(&config).context("no target: give --target postgres://…")?;
            let target = PgTarget::connect(&turl).await?;
            target.ensure_state().await?;
            if let Some(addr) = &http {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("--http {addr}: cannot listen there"))?;
                let monitor = Arc::new(ferry_cdc::Monitor::default());
                tokio::spawn(ferry_monitor::serve(monitor.clone(), listener));
                eprintln!("status page at http://{addr}/ (from the state tables; Ctrl-C stops)");
                loop {
                    let all = target.sync_statuses(config.target.schema.as_deref()).await?;
                    if let Some(st) = all.first() {
                        monitor.replace(ferry_cdc::status_view(st));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                    }
                }
            }
            let all = target.sync_statuses(config.target.schema.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                println!("no sync has started in this target");
            } else {
                for st in &all {
                    print!("{}", st.render_text());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { a, b, config, a_schema, b_schema, strict_names, json, sql, allow_drop } => {
            let config = config_file(&config)?;
            let (ca, cb) = ferry_sources::catalog::both_sides(&a, &b, a_schema.as_deref(), b_schema.as_deref(), &config).await?;
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
            let (cat, _) = ferry_sources::catalog::catalog_of(&url, schema.as_deref(), false, &config).await?;
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
        Command::Verify { common, json, repair, objects, chunk_rows, workers, quiet } => {
            let mut config = load_config(&common)?;
            config.migrate.workers = workers.unwrap_or(config.migrate.workers);
            config.migrate.chunk_rows = chunk_rows.unwrap_or(config.migrate.chunk_rows);
            let (source, turl, postgis, plan) = open_plan(&config).await?;
            let mut opts = verify_options(&config, &turl, postgis, repair, progress(quiet || json));
            opts.live = live_sync(&source, &turl, &plan.target_schema).await?;
            opts.objects = objects;
            if opts.live.is_some() && !json {
                eprintln!("a `ferry sync` is applying changes to schema \"{}\": a table that differs is compared again once the sync has applied the source past the comparison, and only rows that differ every time are reported", plan.target_schema);
            }
            let report = ferry_verify::verify(source, &turl, plan.clone(), &opts).await?;
            keep_report(&turl, &plan.target_schema, "verify", &serde_json::to_string(&report)?).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if !quiet || !report.equal {
                print!("{}", report.render_text());
            }
            Ok(if report.equal { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Migrate { common, json, quiet, if_exists, workers, resume, chunk_rows, format, schema_only, data_only } => {
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
            let scope = match (schema_only, data_only) {
                (true, _) => ferry_load::Scope::SchemaOnly,
                (_, true) => ferry_load::Scope::DataOnly,
                _ => ferry_load::Scope::All,
            };
            let hooks = read_hooks(&config, common.config.as_deref())?;
            let opts = MigrateOptions { progress: progress(quiet), resume, scope, hooks, ..migrate_options(&config) };
            let label = ferry_model::redact_url(&source_url(&config)?);
            let report = migrate(source, &label, &turl, plan.clone(), &opts).await?;
            keep_report(&turl, &plan.target_schema, "migrate", &serde_json::to_string(&report)?).await;
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

/// Prints the preflight checks (always with `--check`, else only when one fails); Some(exit
/// code) when the command ends here.
async fn preflight_report<C: CdcSource>(cdc: &C, check: bool) -> Result<Option<ExitCode>> {
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

/// The `[hooks]` files, read now (relative paths from the config file's folder), so a missing
/// one stops the run before anything is written.
fn read_hooks(config: &Config, config_path: Option<&std::path::Path>) -> Result<Vec<ferry_load::hooks::Hook>> {
    use ferry_load::hooks::{Hook, Stage};
    let base = config_path.and_then(|p| p.parent()).map(std::path::Path::to_path_buf).unwrap_or_default();
    let h = &config.hooks;
    let mut out = Vec::new();
    for (stage, files) in
        [(Stage::BeforeSchema, &h.before_schema), (Stage::AfterSchema, &h.after_schema), (Stage::BeforeData, &h.before_data), (Stage::AfterData, &h.after_data)]
    {
        for file in files {
            let path = base.join(file);
            let sql = std::fs::read_to_string(&path).with_context(|| format!("[hooks] {}: cannot read {}", stage.label(), path.display()))?;
            out.push(Hook { stage, file: file.clone(), sql });
        }
    }
    Ok(out)
}

/// The load options the config asks for.
fn migrate_options(config: &Config) -> MigrateOptions {
    MigrateOptions {
        if_exists: config.migrate.if_exists,
        workers: config.migrate.workers,
        progress: ProgressMode::Auto,
        resume: false,
        chunk_rows: config.migrate.chunk_rows,
        format: match config.migrate.format {
            ferry_plan::config::CopyFormatConfig::Auto => CopyFormat::Auto,
            ferry_plan::config::CopyFormatConfig::Text => CopyFormat::Text,
        },
        ..MigrateOptions::default()
    }
}

/// A running sync of `schema`, for verify to tell a change in flight from a difference: its
/// source's log position on demand. None: no sync holds the schema's lock now.
async fn live_sync(source: &Arc<AnySource>, turl: &str, schema: &str) -> Result<Option<ferry_verify::LiveSync>> {
    let target = PgTarget::connect(turl).await?;
    if target.sync_position(schema).await.ok().flatten().is_none() || !target.sync_running(schema).await? {
        return Ok(None);
    }
    let cdc = Arc::new(source.cdc(ferry_cdc::start::job_id(turl, schema), None)?);
    Ok(Some(ferry_verify::LiveSync {
        source_position: Arc::new(move || {
            let cdc = cdc.clone();
            Box::pin(async move { cdc.current_position().await })
        }),
        rounds: 3,
        wait: std::time::Duration::from_secs(60),
    }))
}

/// The verify options the config asks for.
fn verify_options(config: &Config, turl: &str, postgis: bool, repair: bool, progress: ProgressMode) -> ferry_verify::VerifyOptions {
    ferry_verify::VerifyOptions {
        target_url: turl.to_string(),
        workers: config.migrate.workers,
        chunk_rows: config.migrate.chunk_rows,
        repair,
        postgis,
        zero_dates: config.rules.zero_dates,
        progress,
        live: None,
        objects: false,
    }
}

fn config_file(path: &Option<std::path::PathBuf>) -> Result<Config> {
    load_config(&Common { config: path.clone(), source: None, target: None, schema: None })
}

/// The live page's buttons: each writes the request `ferry reload` / `pause` / `resume` would
/// (the running sync takes it up between batches) and says what it asked, or why not.
fn page_actions(turl: String, schema: String, tables: Vec<String>) -> ferry_monitor::Actions {
    use ferry_monitor::Action;
    Arc::new(move |table: String, action: Action| {
        let (turl, schema, known) = (turl.clone(), schema.clone(), tables.contains(&table));
        Box::pin(async move {
            if !known {
                return Err(format!("table {table} is not among the planned tables of schema \"{schema}\""));
            }
            let target = PgTarget::connect(&turl).await.map_err(|e| e.to_string())?;
            let control = match action {
                Action::Reload => {
                    target.request_reload(&schema, &table, None).await.map_err(|e| e.to_string())?;
                    return Ok(format!("reload of {table} requested; the sync takes it up between two batches"));
                }
                Action::Pause => Control::Pause,
                Action::Resume => Control::Resume,
                Action::Exclude => Control::Exclude,
                Action::Include => Control::Include,
            };
            target.request_control(&schema, &table, control).await.map_err(|e| e.to_string())??;
            Ok(format!("{} of {table} requested; the sync takes it up between two batches", control.as_str()))
        })
    })
}

/// `ferry pause` / `resume` / `exclude` / `include`: a request the running sync takes up between
/// two batches (`ferry_cdc`'s `controls` module); `--wait` follows it to its end.
async fn control_command(common: &Common, table: &str, asked: Control, wait: bool) -> Result<ExitCode> {
    let config = load_config(common)?;
    let (source, turl, _, plan) = open_plan(&config).await?;
    drop(source);
    let schema = &plan.target_schema;
    let t = plan
        .tables
        .iter()
        .find(|t| t.target.name == table || t.source_name == table)
        .with_context(|| format!("table {table} is not among the planned tables of schema \"{schema}\""))?;
    let (name, q) = (&t.target.name, t.target.qualified());
    let target = PgTarget::connect(&turl).await?;
    target.ensure_state().await?;
    if target.sync_position(schema).await?.is_none() {
        anyhow::bail!("schema \"{schema}\" has no sync: pause, resume, exclude and include act inside `ferry sync`; start it first");
    }
    let what = asked.as_str();
    if let Err(why) = target.request_control(schema, name, asked).await? {
        anyhow::bail!("{why}");
    }
    eprintln!("{what} of {q} requested; the running `ferry sync` takes it up between two batches");
    if !wait {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let c = target.table_control(schema, name).await?;
        let (status, error) = c.map(|c| (c.status, c.error)).unwrap_or_default();
        match (asked, status.as_str()) {
            (Control::Pause, "paused") => {
                println!("paused {q}: its changes are held until `ferry resume`");
                return Ok(ExitCode::SUCCESS);
            }
            (Control::Exclude, "excluded") => {
                println!("excluded {q}: its changes are skipped until `ferry include`");
                return Ok(ExitCode::SUCCESS);
            }
            (Control::Pause | Control::Exclude, "failed") | (Control::Include, "excluded") if error.is_some() => {
                eprintln!("{what} of {q} refused: {}", error.unwrap_or_default());
                return Ok(ExitCode::FAILURE);
            }
            (Control::Pause | Control::Exclude, "") => {
                eprintln!("the {what} of {q} was withdrawn");
                return Ok(ExitCode::FAILURE);
            }
            (Control::Resume, "") => {
                println!("resumed {q}: the changes held for it are applied; it streams again");
                return Ok(ExitCode::SUCCESS);
            }
            (Control::Include, "") => match target.reload_status(schema, name).await?.map(|r| (r.status, r.rows, r.error)) {
                Some((s, rows, _)) if s == "done" => {
                    println!("included {q}: it streams again, and its reload brought {rows} rows");
                    return Ok(ExitCode::SUCCESS);
                }
                Some((s, _, e)) if s == "failed" => {
                    eprintln!("included {q}, but its reload failed: {}", e.unwrap_or_default());
                    return Ok(ExitCode::FAILURE);
                }
                _ => {}
            },
            _ => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::with_password;

    #[test]
    fn password_from_environment_is_url_encoded() {
        assert_eq!(with_password("mysql://root@h:1/db", Some("p@ss word")), "mysql://root:p%40ss%20word@h:1/db");
        assert_eq!(with_password("mysql://root:x@h/db", Some("y")), "mysql://root:x@h/db");
        assert_eq!(with_password("mysql://root@h/db", None), "mysql://root@h/db");
    }
}
