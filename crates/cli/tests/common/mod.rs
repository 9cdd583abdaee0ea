//! Test harness: every test gets its own MariaDB database and its own PostgreSQL database on the
//! throwaway servers `scripts/test` starts (FERRY_TEST_MYSQL_URL / FERRY_TEST_PG_URL), so tests
//! run in parallel. SQL scripts go through the `mariadb` client, which understands DELIMITER.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the integration tests through ./scripts/test, which starts throwaway servers"))
}

pub fn mysql_port() -> String {
    let url = env_url("FERRY_TEST_MYSQL_URL");
    url.rsplit(':').next().unwrap().trim_end_matches('/').to_string()
}

pub fn pg_base() -> String {
    let url = env_url("FERRY_TEST_PG_URL");
    url[..url.rfind('/').unwrap()].to_string()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn shared_datasets() -> PathBuf {
    repo_root().join("../shared/datasets")
}

/// A unique lower-case name for this test's databases.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Runs SQL through the `mariadb` client as root; panics with its output on failure.
pub fn mysql(db: Option<&str>, sql: &str) -> String {
    let out = mysql_try(db, sql, "root");
    assert!(out.status.success(), "mariadb failed: {}\nSQL: {}", String::from_utf8_lossy(&out.stderr), &sql[..sql.len().min(500)]);
    String::from_utf8(out.stdout).unwrap()
}

pub fn mysql_try(db: Option<&str>, sql: &str, user: &str) -> Output {
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "-u", user, "-h", "127.0.0.1", "-P", &mysql_port(), "-N", "-B", "--default-character-set=utf8mb4"]);
    if let Some(db) = db {
        cmd.arg(db);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("mariadb client");
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Creates an empty MariaDB database and returns ferry's source URL for it.
pub fn fresh_mysql(name: &str) -> String {
    mysql(None, &format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4;"));
    format!("mysql://root@127.0.0.1:{}/{name}", mysql_port())
}

/// ferry's source URL for schema `schema` of PostgreSQL database `db` on the test server.
pub fn pg_source(db: &str, schema: &str) -> String {
    format!("{}/{db}?schema={schema}", pg_base())
}

/// The reference Chinook script (PostgreSQL) without its database statements, for `psql`.
pub fn chinook_pg_script() -> String {
    let text = std::fs::read_to_string(shared_datasets().join("chinook/Chinook_PostgreSql.sql")).unwrap();
    text.lines().filter(|l| !l.starts_with("DROP DATABASE") && !l.starts_with("CREATE DATABASE") && !l.starts_with("\\c")).collect::<Vec<_>>().join("\n")
}

/// Creates an empty PostgreSQL database and returns its URL.
pub fn fresh_pg(name: &str) -> String {
    psql(&env_url("FERRY_TEST_PG_URL"), &format!("DROP DATABASE IF EXISTS \"{name}\"; CREATE DATABASE \"{name}\";"));
    format!("{}/{name}", pg_base())
}

pub fn psql(url: &str, sql: &str) -> String {
    match psql_try(url, sql) {
        Ok(out) => out,
        Err(e) => panic!("psql failed: {e}\nSQL: {}", &sql[..sql.len().min(500)]),
    }
}

/// `psql` that returns the error text instead of failing the test.
pub fn psql_try(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\t", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(sql.as_bytes())?;
            c.wait_with_output()
        })
        .expect("psql");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap())
}

/// Loads the Sakila sample into a new MariaDB database `db`, with the MySQL-5.7-only GEOMETRY
/// column uncommented (MariaDB skips `/*!50705 … */`).
pub fn load_sakila(db: &str) -> String {
    let dir = repo_root().join("examples/sakila");
    let url = fresh_mysql(db);
    for f in ["sakila-mysql-schema.sql", "sakila-mysql-data.sql"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let text = enable_versioned_comments(&text)
            .replace("DROP SCHEMA IF EXISTS sakila;", "")
            .replace("CREATE SCHEMA sakila;", "")
            .replace("USE sakila;", &format!("USE `{db}`;"))
            .replace("sakila.", &format!("`{db}`."));
        mysql(Some(db), &text);
    }
    url
}

/// `/*!50705 X*/` → `X`.
pub fn enable_versioned_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/*!50705 ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 9..];
        let end = after.find("*/").unwrap();
        out.push_str(&after[..end]);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Loads the MySQL Chinook script into `db`.
pub fn load_chinook_mysql(db: &str) -> String {
    let text = std::fs::read_to_string(shared_datasets().join("chinook/Chinook_MySql.sql")).unwrap();
    let text = text.replace("DROP DATABASE IF EXISTS `Chinook`;", "").replace("CREATE DATABASE `Chinook`;", "").replace("USE `Chinook`;", "");
    let url = fresh_mysql(db);
    mysql(Some(db), &text);
    url
}

pub struct Ferry {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ferry {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn ferry(args: &[&str]) -> Ferry {
    ferry_with_env(args, &[])
}

/// `ferry` with extra environment variables (e.g. FERRY_LOG).
pub fn ferry_with_env(args: &[&str], env: &[(&str, &str)]) -> Ferry {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("FERRY_SOURCE_URL")
        .env_remove("FERRY_TARGET_URL")
        .output()
        .expect("run ferry");
    Ferry {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ferry migrate` that must succeed.
pub fn migrate_ok(args: &[&str]) -> Ferry {
    let mut full = vec!["migrate"];
    full.extend_from_slice(args);
    let r = ferry(&full);
    assert_eq!(r.status, 0, "ferry migrate failed:\n{}", r.all());
    r
}

pub fn write_config(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// `ferry verify --json` with `args`; returns the exit status and the parsed report.
pub fn verify_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut full = vec!["verify", "--json"];
    full.extend_from_slice(args);
    let r = ferry(&full);
    let report = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("verify printed no JSON report ({e}):\n{}", r.all()));
    (r.status, report)
}

/// `ferry verify` that must report every table equal.
pub fn verify_equal(args: &[&str]) -> serde_json::Value {
    let (status, report) = verify_json(args);
    assert_eq!(status, 0, "verify found differences:\n{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report["equal"], true);
    report
}

/// Tables whose chunk hashes disagreed although their rows are equal (found equal only by the
/// row-level comparison): the two sides' canonical SQL texts differ for them.
pub fn hash_mismatches(report: &serde_json::Value) -> Vec<String> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["bisections"].as_u64().unwrap_or(0) > 0 || t["rows_diffed"].as_u64().unwrap_or(0) > 0)
        .map(|t| t["target"].as_str().unwrap().to_string())
        .collect()
}

/// Compares `actual` (server versions and row estimates masked) with `tests/golden/<name>`;
/// `FERRY_UPDATE_GOLDEN=1` rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let actual = without_estimates(&without_versions(actual));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("FERRY_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("golden file {} missing: run with FERRY_UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "output differs from tests/golden/{name} (FERRY_UPDATE_GOLDEN=1 rewrites it)");
}

/// The assessment's `est. rows` column masked: InnoDB's estimates are samples (274 one run,
/// 275 the next), not part of what a golden file pins.
pub fn without_estimates(text: &str) -> String {
    let mut out = Vec::new();
    let mut end: Option<usize> = None;
    for line in text.split('\n') {
        if let Some(i) = line.find("est. rows") {
            end = Some(i + "est. rows".len());
            out.push(line.to_string());
            continue;
        }
        match end {
            Some(e) if line.is_empty() => {
                let _ = e;
                end = None;
                out.push(String::new());
            }
            Some(e) if line.is_ascii() && line.len() >= e && line.as_bytes()[e - 1].is_ascii_digit() => {
                let b = line.as_bytes();
                let mut start = e;
                while start > 0 && b[start - 1].is_ascii_digit() {
                    start -= 1;
                }
                out.push(format!("{}{}~{}", &line[..start], " ".repeat(e - start - 1), &line[e..]));
            }
            _ => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

/// Output with the server versions replaced by `<version>` (golden files outlive point releases).
pub fn without_versions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("MariaDB ").or_else(|| rest.find("PostgreSQL 1")) {
        let word = if rest[i..].starts_with("MariaDB ") { "MariaDB " } else { "PostgreSQL " };
        out.push_str(&rest[..i + word.len()]);
        let after = &rest[i + word.len()..];
        let n = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+' || c == '~')).unwrap_or(after.len());
        if after[..n].starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str("<version>");
        } else {
            out.push_str(&after[..n]);
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

/// SIGKILLs processes from `spawn` at pseudo-random moments (seeded by the process id) until
/// `work` finishes or a minute passes; returns how many were killed.
pub fn sigkill_while<T>(work: &std::thread::JoinHandle<T>, spawn: impl Fn() -> std::process::Child, min_ms: u64, spread_ms: u64) -> u32 {
    use std::time::{Duration, Instant};
    let mut seed = std::process::id() as u64;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !work.is_finished() && Instant::now() < deadline {
        let mut child = spawn();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(min_ms + (seed >> 33) % spread_ms));
        child.kill().expect("SIGKILL ferry");
        child.wait().unwrap();
        kills += 1;
    }
    kills
}

/// `ferry sync` in the background (quiet), batches of at most `batch_rows` changes.
pub fn spawn_sync(src: &str, dst: &str, batch_rows: &str) -> std::process::Child {
    spawn_sync_with(&["--source", src, "--target", dst, "--batch-rows", batch_rows])
}

/// `ferry sync ARGS --quiet` in the background.
pub fn spawn_sync_with(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("sync")
        .args(args)
        .arg("--quiet")
        .env_remove("FERRY_SOURCE_URL")
        .env_remove("FERRY_TARGET_URL")
        .stdout(std::process::Stdio::null())
        .stderr(match std::env::var("FERRY_TEST_SYNC_LOG") {
            // Debugging: every background sync's log appended to this file.
            Ok(path) => std::fs::OpenOptions::new().create(true).append(true).open(path).expect("FERRY_TEST_SYNC_LOG").into(),
            Err(_) => std::process::Stdio::null(),
        })
        .spawn()
        .expect("ferry sync")
}

/// `GET path` from a ferry HTTP endpoint; the body of a 200 answer.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    sock.write_all(format!("GET {path} HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut text = String::new();
    sock.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// `POST path` to a ferry HTTP endpoint with `headers`: the status code and the body.
pub fn http_post(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    sock.write_all(format!("POST {path} HTTP/1.1\r\nHost: ferry\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n").as_bytes()).unwrap();
    let mut text = String::new();
    sock.read_to_string(&mut text).unwrap();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's Chromium, which `./scripts/test` installs.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is not installed: ./scripts/test installs it (apt-get install chromium)")
}

/// Waits (up to 3 minutes, then fails naming `what`) until `ok` holds: tests wait for progress,
/// not for a number of seconds.
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A writer on a thread of its own: `write(i)` for i = 0, 1, 2, … until [`Writer::stop`].
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    pub fn start(mut write: impl FnMut(u32) + Send + 'static) -> Writer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0u32;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                write(i);
                i += 1;
            }
        });
        Writer { stop, thread }
    }

    /// Stops it after the write under way, and fails the test if a write failed.
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the writer failed");
    }
}

/// The live SQL Server (or Babelfish) the SQL Server tests run against, when
/// FERRY_TEST_MSSQL_URL is set (`mssql://user:password@host:1433/master?encrypt=off`); None
/// otherwise, and those tests say they were skipped.
pub fn mssql_server() -> Option<String> {
    let url = std::env::var("FERRY_TEST_MSSQL_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: FERRY_TEST_MSSQL_URL is not set (see README: tests against a live SQL Server)");
    }
    url
}

/// The password in a test server URL, if it has one.
pub fn mssql_password(server: &str) -> Option<String> {
    let userinfo = server.split_once("://")?.1.split_once('@')?.0;
    userinfo.split_once(':').map(|(_, p)| p.to_string()).filter(|p| !p.is_empty())
}

/// `server` with `database` as its path (query kept).
pub fn mssql_url(server: &str, database: &str) -> String {
    let (base, query) = server.split_once('?').map(|(b, q)| (b, format!("?{q}"))).unwrap_or((server, String::new()));
    let base = base.trim_end_matches('/');
    let host = match base.rfind('/') {
        Some(i) if i > "mssql://".len() => &base[..i],
        _ => base,
    };
    format!("{host}/{database}{query}")
}

/// Runs a T-SQL script (GO-separated batches) on `url`; Err names the failing batch.
pub fn tsql_try(url: &str, script: &str) -> Result<Vec<Vec<String>>, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let u = ferry_source_mssql::live::conn::MsUrl::parse(url).map_err(|e| e.message)?;
        let mut c = u.connect().await.map_err(|e| e.message)?;
        let mut rows = Vec::new();
        for b in &ferry_source_mssql::script::batches(script) {
            let results = c.simple_query(b.as_str()).await.map_err(|e| format!("{e} in: {b}"))?.into_results().await.map_err(|e| format!("{e} in: {b}"))?;
            for r in results.into_iter().flatten() {
                rows.push(r.into_iter().map(|cell| format!("{cell:?}")).collect());
            }
        }
        Ok(rows)
    })
}

pub fn tsql(url: &str, script: &str) -> Vec<Vec<String>> {
    tsql_try(url, script).unwrap_or_else(|e| panic!("T-SQL failed: {e}"))
}

/// A new, empty database on the SQL Server test server; its URL.
pub fn fresh_mssql(server: &str, name: &str) -> String {
    // Babelfish refuses concurrent CREATE DATABASE now and then (a catalog lock): tried again.
    let script = format!("IF DB_ID(N'{name}') IS NOT NULL DROP DATABASE [{name}]\nGO\nCREATE DATABASE [{name}]\nGO\n");
    let mut last = String::new();
    for _ in 0..5 {
        match tsql_try(&mssql_url(server, "master"), &script) {
            Ok(_) => return mssql_url(server, name),
            Err(e) => last = e,
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("creating database {name}: {last}")
}
