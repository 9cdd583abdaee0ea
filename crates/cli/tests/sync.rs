//! `ferry sync` under fire: a bounded write generator (inserts, updates, deletes on several
//! tables, multi-row transactions, a key-less append-only table) runs while ferry is killed with
//! SIGKILL at random points and restarted. At the end the target verifies equal to the source
//! and `ferry.sync_log` shows every applied batch starting exactly where the previous one ended
//! (no source transaction applied twice, none skipped).

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigkill_during_sync_loses_and_repeats_nothing() {
    let db = unique("sync_kill");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE account (id INT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance DECIMAL(12,2) NOT NULL, updated DATETIME(6));
         CREATE TABLE entry (id BIGINT AUTO_INCREMENT PRIMARY KEY, account_id INT NOT NULL, amount DECIMAL(12,2), note TEXT, doc JSON);
         CREATE TABLE audit (at DATETIME(6), what VARCHAR(100));
         INSERT INTO account SELECT seq, CONCAT('owner ', seq), 1000, NOW(6) FROM seq_1_to_200;",
    );
    let dst = fresh_pg(&db);
    let start_sync = || {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["sync", "--source", &src, "--target", &dst, "--quiet", "--batch-rows", "50"])
            .env_remove("FERRY_SOURCE_URL")
            .env_remove("FERRY_TARGET_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry sync")
    };
    // The generator: 300 transactions of 1–5 statements each, over all three tables.
    let gen_db = db.clone();
    let generator = std::thread::spawn(move || {
        for i in 0..300u32 {
            let a = i % 200 + 1;
            let b = (i * 7) % 200 + 1;
            let sql = match i % 5 {
                0 => format!("BEGIN; UPDATE account SET balance = balance - 5, updated = NOW(6) WHERE id = {a}; UPDATE account SET balance = balance + 5 WHERE id = {b}; INSERT INTO entry (account_id, amount, note, doc) VALUES ({a}, -5, 'transfer {i}', JSON_OBJECT('to', {b})), ({b}, 5, NULL, NULL); COMMIT;"),
                1 => format!("INSERT INTO audit VALUES (NOW(6), 'tick {i}');"),
                2 => format!("BEGIN; DELETE FROM entry WHERE account_id = {a} ORDER BY id LIMIT 1; INSERT INTO account VALUES ({}, 'new {i}', 0, NULL); COMMIT;", 1000 + i),
                3 => format!("UPDATE account SET id = id + 100000 WHERE id = {};", 1000 + i - 1),
                _ => format!("BEGIN; UPDATE entry SET note = CONCAT(IFNULL(note, ''), '+') WHERE account_id = {b}; DELETE FROM account WHERE id = {} ; COMMIT;", 100000 + 1000 + i - 2),
            };
            mysql(Some(&gen_db), &sql);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    // Kill and restart ferry at pseudo-random moments while the generator runs.
    let mut seed = std::process::id() as u64;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !generator.is_finished() && Instant::now() < deadline {
        let mut child = start_sync();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(300 + (seed >> 33) % 1200));
        child.kill().expect("SIGKILL ferry");
        child.wait().unwrap();
        kills += 1;
    }
    generator.join().unwrap();
    assert!(kills >= 2, "ferry was killed {kills} times");
    // Catch up, then prove equality and the unbroken chain of applied batches.
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);
    let chain = psql(
        &dst,
        "SELECT count(*) FILTER (WHERE prev_file IS NOT NULL AND (from_file, from_pos) <> (prev_file, prev_pos)), count(*), sum(transactions) \
         FROM (SELECT *, lag(to_file) OVER w AS prev_file, lag(to_pos) OVER w AS prev_pos FROM ferry.sync_log WINDOW w AS (ORDER BY id)) l",
    );
    let parts: Vec<&str> = chain.trim().split('\t').collect();
    assert_eq!(parts[0], "0", "a batch did not start where the previous one ended: {chain}");
    assert!(parts[1].parse::<u32>().unwrap() > 1, "batches: {chain}");
    let audit = psql(&dst, &format!("SELECT count(*) FROM \"{db}\".audit"));
    assert_eq!(audit.trim(), "60", "the key-less append-only table got each insert exactly once");
}

/// Continuous migration: `ferry migrate`, writes on the source, then `ferry sync` starts from
/// the migrate's snapshot (no second load) and brings exactly the later writes. DDL ferry does not
/// translate stops only its table, visibly; TRUNCATE is applied.
#[test]
fn sync_after_migrate_streams_from_its_snapshot_and_stops_only_a_table_with_ddl() {
    let db = unique("sync_after");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(20)); CREATE TABLE b (id INT PRIMARY KEY, w INT);
         INSERT INTO a VALUES (1, 'x'), (2, 'y'); INSERT INTO b VALUES (1, 10);",
    );
    let dst = fresh_pg(&db);
    migrate_ok(&["--source", &src, "--target", &dst, "--quiet"]);
    mysql(Some(&db), "INSERT INTO a VALUES (3, 'after migrate'); UPDATE b SET w = 11 WHERE id = 1; DELETE FROM a WHERE id = 1;");
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(!r.stderr.contains("full load"), "sync must start from the migrate's snapshot, not load again:\n{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);
    let st = |dst: &str| -> serde_json::Value {
        let s = ferry(&["status", "--target", dst, "--json"]);
        serde_json::from_str::<serde_json::Value>(&s.stdout).unwrap()[0]["tables"].clone()
    };
    let tables = st(&dst);
    assert_eq!((tables[0]["table"].as_str(), tables[0]["full_load_rows"].as_i64(), tables[0]["inserts"].as_i64(), tables[0]["deletes"].as_i64()), (Some("a"), Some(2), Some(1), Some(1)));

    mysql(Some(&db), "ALTER TABLE a ADD COLUMN z INT; INSERT INTO a VALUES (4, 'new', 1); TRUNCATE b; INSERT INTO b VALUES (7, 70);");
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"]);
    assert_eq!(r.status, 1, "a stopped table makes sync exit 1:\n{}", r.all());
    assert!(r.stderr.contains("table a stopped") && r.stderr.contains("ALTER TABLE"), "{}", r.all());
    let tables = st(&dst);
    assert_eq!(tables[0]["status"], "stopped");
    assert!(tables[0]["last_error"].as_str().unwrap().contains("ferry migrate"), "says what to do: {}", tables[0]);
    assert_eq!(tables[1]["status"], "streaming");
    assert_eq!(psql(&dst, &format!("SELECT id, w FROM \"{db}\".b")), "7\t70\n", "TRUNCATE and the later insert arrived");
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM \"{db}\".a WHERE id = 4")), "0\n", "nothing applied to the stopped table");
}
