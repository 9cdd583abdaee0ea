//! `ferry reload` while `ferry sync` streams: a table reloaded whole and a `--where` subset of
//! it, with a writer updating, deleting and inserting its rows all along and the target tampered
//! with before; a SIGKILL in the middle of a reload; at the end verify is equal and the sync log
//! chain is unbroken (no batch applied twice or skipped).

mod common;
use common::*;

fn reload_state(dst: &str) -> (String, i64) {
    let s = psql(dst, "SELECT status, chunks_done FROM ferry.reloads");
    let mut p = s.trim().split('\t');
    (p.next().unwrap_or_default().to_string(), p.next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

#[test]
fn reload_whole_and_where_subset_under_a_writer_and_a_sigkill_ends_equal_with_an_unbroken_chain() {
    let db = unique("reload");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40));
         INSERT INTO t SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_60000;
         CREATE TABLE other (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO other SELECT seq, 0 FROM seq_1_to_10;",
    );
    let dst = fresh_pg(&db);
    let q = format!("\"{db}\"");
    let spawn = || spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "50"]);
    let mut sync = spawn();
    wait_until("the full load", || psql_try(&dst, &format!("SELECT count(*) FROM {q}.t")).map(|c| c.trim() == "60000").unwrap_or(false));

    // The target goes wrong where the reload must put it right.
    psql(&dst, &format!("UPDATE {q}.t SET v = -1 WHERE id % 100 = 0; DELETE FROM {q}.t WHERE id % 97 = 0; INSERT INTO {q}.t VALUES (100001, 7, 'extra'), (5, 5, 'x') ON CONFLICT (id) DO UPDATE SET note = 'wrong';"));

    let w_db = db.clone();
    let writer = Writer::start(move |i| {
        let a = (i * 7919) % 60000 + 1;
        let sql = match i % 4 {
            0 => format!("UPDATE t SET v = v + 1 WHERE id = {a};"),
            1 => format!("DELETE FROM t WHERE id = {};", 60000 - i % 60000),
            2 => format!("INSERT INTO t VALUES ({}, {i}, 'new') ON DUPLICATE KEY UPDATE v = v + 1;", 70000 + i),
            _ => format!("UPDATE other SET v = v + 1 WHERE id = {};", i % 10 + 1),
        };
        mysql(Some(&w_db), &sql);
    });

    // A subset: rows with id <= 30000.
    let r = ferry(&["reload", "t", "--where", "id <= 30000", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stdout.contains("reloaded"), "{}", r.all());
    let wrong_low = psql(&dst, &format!("SELECT count(*) FROM {q}.t WHERE id <= 30000 AND (v = -1 OR note = 'wrong')"));
    assert_eq!(wrong_low.trim(), "0", "the subset was put right");
    let still_wrong = psql(&dst, &format!("SELECT count(*) FROM {q}.t WHERE id > 30000 AND id <= 60000 AND v = -1"));
    assert_ne!(still_wrong.trim(), "0", "the rest was left as it was");

    // The whole table, killed in the middle.
    let r = ferry(&["reload", "t", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    wait_until("the reload to be half way", || {
        let (status, done) = reload_state(&dst);
        status == "done" || done >= 3
    });
    let (status_at_kill, done_at_kill) = reload_state(&dst);
    sync.kill().unwrap();
    sync.wait().unwrap();
    // What the killed run had recorded stays: the restarted sync goes on from there.
    let done_after_kill = reload_state(&dst).1;
    assert!(done_after_kill >= done_at_kill, "{done_after_kill} < {done_at_kill}");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut sync = spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "50", "--http", &addr]);
    wait_until("the reload to finish after the restart", || reload_state(&dst).0 == "done");
    // The page saw it as a reload and shows the table streaming again.
    wait_until("the page to show it", || {
        std::net::TcpStream::connect(&addr).is_ok() && {
            let v: serde_json::Value = serde_json::from_str(&http_get(&addr, "/status.json")).unwrap();
            v["tables"]["t"]["state"] == "streaming" && v["tables"]["t"]["reload"].is_null()
        }
    });
    // Resumed, not started over: the rows reloaded add up to one pass over the table (60,000
    // rows, give or take the writer's), plus at most the chunk in flight at the kill — a
    // reload begun again would have re-read the 3 or more chunks done before it.
    let rows: i64 = psql(&dst, "SELECT rows FROM ferry.reloads").trim().parse().unwrap();
    if status_at_kill == "running" {
        assert!(rows < 60_000 + 5_000 + 2_500, "the reload started over after the kill: {rows} rows reloaded");
    }

    writer.stop();
    let _ = sync.kill();
    let _ = sync.wait();
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM {q}.t WHERE id = 100001")).trim(), "0", "a row the source never had is gone");
    verify_equal(&["--source", &src, "--target", &dst]);
    let chain = psql(&dst, "SELECT count(*) FILTER (WHERE prev IS NOT NULL AND from_position <> prev) FROM (SELECT *, lag(to_position) OVER (ORDER BY id) AS prev FROM ferry.sync_log) l");
    assert_eq!(chain.trim(), "0", "every batch started where the previous one ended");
}

/// A source that cannot reload online says so; the request is recorded as failed with why.
#[test]
fn reload_without_a_running_sync_is_refused_with_what_to_do() {
    let db = unique("reload_nosync");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
    let dst = fresh_pg(&db);
    let r = ferry(&["reload", "t", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("has no sync: a reload runs inside `ferry sync`"), "{}", r.all());
    let r = ferry(&["reload", "nope", "--source", &src, "--target", &dst]);
    assert!(r.stderr.contains("table nope is not among the planned tables"), "{}", r.all());
}

fn status(addr: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(addr, "/status.json")).unwrap()
}

/// Continuous verify (`ferry sync --verify-every`): three passes under a steady writer report no
/// difference (each chunk is compared at the very position the target committed, so a change in
/// flight is never one), and a row changed on the target behind ferry's back is reported by the
/// next pass, with its key.
#[test]
fn continuous_verify_reports_an_injected_difference_and_no_false_alarm_under_writes() {
    let db = unique("cverify");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t SELECT seq, 0 FROM seq_1_to_12000;");
    let dst = fresh_pg(&db);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut sync = spawn_sync_with(&["--source", &src, "--target", &dst, "--http", &addr, "--verify-every", "1s", "--batch-rows", "20"]);
    wait_until("the page", || std::net::TcpStream::connect(&addr).is_ok());
    let w_db = db.clone();
    let writer = Writer::start(move |i| {
        // Rows 1..=6000 only: the injected difference below is never written over.
        mysql(Some(&w_db), &format!("UPDATE t SET v = v + 1 WHERE id = {};", (i * 7919) % 6000 + 1));
    });
    let passes = |s: &serde_json::Value| s["tables"]["t"]["verify_passes"].as_u64().unwrap_or(0);
    wait_until("three passes", || passes(&status(&addr)) >= 3);
    let s = status(&addr);
    assert_eq!(s["tables"]["t"]["verify_differences_total"], 0, "no pass found a difference under writes: {}", s["tables"]["t"]);
    assert!(s["tables"]["t"]["updates"].as_u64().unwrap() > 0, "the writer ran during the passes");
    let q = format!("\"{db}\"");
    psql(&dst, &format!("UPDATE {q}.t SET v = -5 WHERE id = 9000"));
    let after = passes(&status(&addr));
    wait_until("a pass after the injection", || passes(&status(&addr)) >= after + 2);
    let s = status(&addr);
    assert_eq!(s["tables"]["t"]["verify_differences"], 2, "one row differs (each way): {}", s["tables"]["t"]);
    assert!(s["tables"]["t"]["verify_samples"].to_string().contains("9000"), "{}", s["tables"]["t"]);
    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.contains("ferry_sync_table_verify_differences{table=\"t\"} 2"), "{metrics}");
    writer.stop();
    let _ = sync.kill();
    let _ = sync.wait();
}

/// From PostgreSQL: each chunk is read in the snapshot of a temporary replication slot, at that
/// slot's exact position, so the same guarantee holds — a `--where` subset and the whole table
/// reloaded under a writer that updates, deletes and inserts, a tampered target put right, verify
/// equal, the chain unbroken, no temporary slot left behind; and continuous verify, by the same
/// chunks, finds no difference under the writer once the target is right.
#[test]
fn postgresql_reload_and_continuous_verify_read_each_chunk_at_a_temporary_slots_position() {
    let db = unique("reload_pg");
    let src_db = format!("{db}_src");
    let src = fresh_pg(&src_db);
    psql(
        &src,
        "CREATE SCHEMA app;
         CREATE TABLE app.t (id int PRIMARY KEY, v int NOT NULL, note text);
         INSERT INTO app.t SELECT g, 0, 'n' || g FROM generate_series(1, 30000) g;
         CREATE TABLE app.other (id int PRIMARY KEY, v int NOT NULL); INSERT INTO app.other SELECT g, 0 FROM generate_series(1, 10) g;",
    );
    let dst = fresh_pg(&db);
    let source = format!("{}/{src_db}?schema=app", pg_base());
    let addr = format!("127.0.0.1:{}", free_port());
    let mut sync = spawn_sync_with(&["--source", &source, "--target", &dst, "--batch-rows", "50", "--http", &addr, "--verify-every", "1s"]);
    wait_until("the full load", || psql_try(&dst, "SELECT count(*) FROM app.t").map(|c| c.trim() == "30000").unwrap_or(false));
    wait_until("the sync to stream", || psql_try(&dst, "SELECT count(*) FROM ferry.sync_state").map(|c| c.trim() == "1").unwrap_or(false));
    psql(&dst, "UPDATE app.t SET v = -1 WHERE id % 100 = 0; DELETE FROM app.t WHERE id % 97 = 0; INSERT INTO app.t VALUES (100001, 7, 'extra');");

    let w_src = src.clone();
    let writer = Writer::start(move |i| {
        let a = (i * 7919) % 30000 + 1;
        psql(
            &w_src,
            &format!(
                "UPDATE app.t SET v = v + 1 WHERE id = {a}; DELETE FROM app.t WHERE id = {}; \
                 INSERT INTO app.t VALUES ({}, {i}, 'new') ON CONFLICT (id) DO UPDATE SET v = app.t.v + 1; UPDATE app.other SET v = v + 1 WHERE id = {};",
                30000 - i % 30000,
                40000 + i,
                i % 10 + 1
            ),
        );
    });
    let r = ferry(&["reload", "t", "--where", "id <= 15000", "--wait", "--source", &source, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM app.t WHERE id <= 15000 AND v = -1").trim(), "0", "the subset was put right");
    assert_ne!(psql(&dst, "SELECT count(*) FROM app.t WHERE id > 15000 AND id <= 30000 AND v = -1").trim(), "0", "the rest was left as it was");
    let r = ferry(&["reload", "t", "--wait", "--source", &source, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*) FROM app.t WHERE id = 100001").trim(), "0", "a row the source never had is gone");

    // Two whole passes after the reload: none finds a difference while the writer runs.
    let passes = || status(&addr)["tables"]["t"]["verify_passes"].as_u64().unwrap_or(0);
    let after = passes();
    wait_until("two verify passes after the reload", || passes() >= after + 2);
    let s = status(&addr);
    assert_eq!(s["tables"]["t"]["verify_differences"], 0, "{}", s["tables"]["t"]);

    writer.stop();
    let _ = sync.kill();
    let _ = sync.wait();
    let r = ferry(&["sync", "--source", &source, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--source", &source, "--target", &dst]);
    let chain = psql(&dst, "SELECT count(*) FILTER (WHERE prev IS NOT NULL AND from_position <> prev) FROM (SELECT *, lag(to_position) OVER (ORDER BY id) AS prev FROM ferry.sync_log) l");
    assert_eq!(chain.trim(), "0", "every batch started where the previous one ended");
    assert_eq!(psql(&src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%chunk%'").trim(), "0", "no temporary slot is left");
}

/// `ferry verify` against a target a running `ferry sync` keeps changing: under a steady writer
/// it is equal (a change in flight is compared again once the sync has applied past it), and a
/// row changed on the target behind ferry's back is the one difference it reports.
#[test]
fn verify_against_a_syncing_target_reports_only_what_persists() {
    let db = unique("verify_live");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t SELECT seq, 0 FROM seq_1_to_20000;");
    let dst = fresh_pg(&db);
    let mut sync = spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "20"]);
    let q = format!("\"{db}\"");
    wait_until("the full load", || psql_try(&dst, &format!("SELECT count(*) FROM {q}.t")).map(|c| c.trim() == "20000").unwrap_or(false));
    wait_until("the sync to stream", || psql_try(&dst, "SELECT count(*) FROM ferry.sync_state").map(|c| c.trim() == "1").unwrap_or(false));
    let w_db = db.clone();
    let writer = Writer::start(move |i| {
        // Rows 1..=10000 only: the injected difference below is never written over.
        mysql(Some(&w_db), &format!("UPDATE t SET v = v + 1 WHERE id IN ({}, {});", (i * 7919) % 10000 + 1, (i * 104729) % 10000 + 1));
    });
    // The writer is under way before verify starts.
    wait_until("changes applied", || psql(&dst, &format!("SELECT sum(v) FROM {q}.t")).trim().parse::<i64>().unwrap_or(0) >= 100);
    let args = ["verify", "--source", &src, "--target", &dst, "--json", "--chunk-rows", "2000"];
    let r = ferry(&args);
    assert_eq!(r.status, 0, "equal under writes: {}", r.all());
    psql(&dst, &format!("UPDATE {q}.t SET v = -5 WHERE id = 15000"));
    let r = ferry(&args);
    assert_eq!(r.status, 1, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let t = &v["tables"][0];
    assert_eq!((t["changed"].as_u64(), t["missing"].as_u64(), t["extra"].as_u64()), (Some(1), Some(0), Some(0)), "only the injected row: {t}");
    assert_eq!(t["sample_changed"][0][0], "15000", "{t}");
    writer.stop();
    let _ = sync.kill();
    let _ = sync.wait();
}
