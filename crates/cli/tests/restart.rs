//! `ferry sync` recovers by itself when either server restarts under it. The test starts its
//! own private MariaDB and PostgreSQL (restarting the shared ones would break the tests running
//! beside it), keeps a writer going, restarts MariaDB, then PostgreSQL, and checks that the one
//! `ferry sync` process — never restarted — catches up and the target verifies equal.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private server pair from scripts/servers.sh, stopped on drop.
struct Servers {
    dir: String,
    mysql_port: String,
    pg_url: String,
}

impl Servers {
    fn start() -> Servers {
        let out = Command::new("bash")
            .arg("-c")
            .arg(
                "set -e; source scripts/servers.sh; FERRY_SERVERS_DIR=$(mktemp -d /tmp/ferry-restart.XXXXXX); export FERRY_SERVERS_DIR; \
                 ferry_start_postgres; ferry_start_mariadb; echo \"$FERRY_SERVERS_DIR $FERRY_MYSQL_PORT $FERRY_TEST_PG_URL\"",
            )
            .current_dir(repo_root())
            .stderr(Stdio::inherit())
            .output()
            .expect("bash");
        assert!(out.status.success(), "private servers did not start");
        let text = String::from_utf8(out.stdout).unwrap();
        let parts: Vec<&str> = text.split_whitespace().collect();
        Servers { dir: parts[0].into(), mysql_port: parts[1].into(), pg_url: parts[2].into() }
    }

    fn run(&self, function: &str) {
        let ok = Command::new("bash")
            .arg("-c")
            .arg(format!("set -e; source scripts/servers.sh; {function}"))
            .env("FERRY_SERVERS_DIR", &self.dir)
            .env("FERRY_MYSQL_PORT", &self.mysql_port)
            .current_dir(repo_root())
            .status()
            .expect("bash")
            .success();
        assert!(ok, "{function} failed");
    }

    /// SQL on the private MariaDB; Err while it is down.
    fn mysql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-h127.0.0.1", "-P", &self.mysql_port, "-N", "-B", db, "-e", sql])
            .output()
            .expect("mariadb client");
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.run("ferry_servers_down");
    }
}

#[test]
fn sync_recovers_by_itself_from_source_and_target_restarts() {
    let s = Servers::start();
    let db = "restarts";
    s.mysql("mysql", &format!("CREATE DATABASE {db}")).unwrap();
    s.mysql(db, "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL, at DATETIME(6)); INSERT INTO t SELECT seq, 0, NOW(6) FROM seq_1_to_100").unwrap();
    let src = format!("mysql://root@127.0.0.1:{}/{db}", s.mysql_port);
    let base = &s.pg_url[..s.pg_url.rfind('/').unwrap()];
    psql(&s.pg_url, &format!("CREATE DATABASE {db}"));
    let dst = format!("{base}/{db}");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let log = std::env::temp_dir().join(format!("ferry-restart-{}.log", std::process::id()));
    let mut sync = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sync", "--source", &src, "--target", &dst, "--quiet", "--batch-rows", "50", "--metrics-addr", &metrics_addr])
        .env_remove("FERRY_SOURCE_URL")
        .env_remove("FERRY_TARGET_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("ferry sync");

    // The writer retries each transaction until the source takes it; it counts what committed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (wstop, port) = (stop.clone(), s.mysql_port.clone());
    let writer = std::thread::spawn(move || {
        let w = Servers { dir: String::new(), mysql_port: port, pg_url: String::new() };
        let mut i = 0u32;
        while !wstop.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let sql =
                format!("BEGIN; UPDATE t SET n = n + 1, at = NOW(6) WHERE id = {}; INSERT INTO t VALUES ({}, {i}, NOW(6)); COMMIT;", i % 100 + 1, 1000 + i);
            // A commit whose answer was lost in the restart is not written twice.
            while w.mysql("restarts", &sql).is_err() {
                std::thread::sleep(Duration::from_millis(200));
                if w.mysql("restarts", &format!("SELECT 1 FROM t WHERE id = {}", 1000 + i)).is_ok_and(|r| !r.trim().is_empty()) {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::mem::forget(w); // not the owner of the servers
        i
    });
    let target_count = || count_try(&dst, "SELECT count(*) FROM restarts.t");
    let wait_for_rows = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let before = target_count().unwrap_or(0);
        while target_count().unwrap_or(0) <= before + 20 {
            assert!(Instant::now() < deadline, "sync made no progress after {what}:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    wait_for_rows("the start");
    s.run("ferry_restart_mariadb");
    wait_for_rows("the MariaDB restart");
    s.run("ferry_restart_postgres");
    wait_for_rows("the PostgreSQL restart");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    // The same process catches up with everything written.
    let expected = 100 + written as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while target_count().unwrap_or(0) < expected {
        assert!(Instant::now() < deadline, "sync did not catch up: {:?} of {expected}", target_count());
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(sync.try_wait().unwrap().is_none(), "ferry sync exited instead of recovering:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    // Let the last batch's position commit, then read the metrics, stop it and verify.
    std::thread::sleep(Duration::from_millis(500));
    let metrics = scrape(&metrics_addr);
    let value = |name: &str| -> f64 {
        metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{name} in\n{metrics}"))
    };
    assert!(value("ferry_sync_retries_total ") >= 2.0, "both restarts were retried:\n{metrics}");
    // What this process applied, as the state schema counts it (the full load's rows are not changes).
    let status = ferry(&["status", "--target", &dst, "--json"]);
    let st: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let inserts = st[0]["tables"][0]["inserts"].as_f64().unwrap();
    assert!(inserts > 0.0);
    assert_eq!(value("ferry_sync_table_changes_total{table=\"t\",op=\"insert\"} "), inserts, "{metrics}");
    assert!(value("ferry_sync_lag_seconds ") < 30.0, "{metrics}");
    sync.kill().unwrap();
    sync.wait().unwrap();
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log_text.contains("retrying from the committed position"), "the restarts were seen and retried:\n{log_text}");
    let _ = std::fs::remove_file(&log);
}

fn count_try(url: &str, sql: &str) -> Option<u64> {
    let out = Command::new("psql").args(["-X", "-q", "-t", "-A", url, "-c", sql]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// GET /metrics over plain HTTP/1.1.
fn scrape(addr: &str) -> String {
    http_get(addr, "/metrics")
}

#[test]
fn sync_that_gives_up_on_a_server_that_stays_down_says_so_and_how_to_resume() {
    let s = Servers::start();
    let db = "givesup";
    s.mysql("mysql", &format!("CREATE DATABASE {db}")).unwrap();
    s.mysql(db, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)").unwrap();
    let src = format!("mysql://root@127.0.0.1:{}/{db}", s.mysql_port);
    let base = &s.pg_url[..s.pg_url.rfind('/').unwrap()];
    psql(&s.pg_url, &format!("CREATE DATABASE {db}"));
    let dst = format!("{base}/{db}");
    let sync = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sync", "--source", &src, "--target", &dst, "--quiet", "--retry-for", "3"])
        .env_remove("FERRY_SOURCE_URL")
        .env_remove("FERRY_TARGET_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry sync");
    // Progress, not time: the full load is in and the sync streams.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ferry(&["status", "--target", &dst, "--json"]).stdout.contains("\"streaming\"") {
        assert!(Instant::now() < deadline, "sync never started streaming");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.run("kill $(cat \"$FERRY_SERVERS_DIR/mysql.pid\")");
    let out = sync.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("gave up after retrying for") && err.contains("resumes from the last committed transaction"), "{err}");
}
