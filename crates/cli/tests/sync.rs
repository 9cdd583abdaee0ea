//! `ferry sync` under fire: a bounded write generator (inserts, updates, deletes on several
//! tables, multi-row transactions, a key-less append-only table) runs while ferry is killed with
//! SIGKILL at random points and restarted. At the end the target verifies equal to the source
//! and `ferry.sync_log` shows every applied batch starting exactly where the previous one ended
//! (no source transaction applied twice, none skipped).

mod common;
use common::*;
use std::time::Duration;

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
    let start_sync = || spawn_sync(&src, &dst, "50");
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
    let kills = sigkill_while(&generator, start_sync, 300, 1200);
    generator.join().unwrap();
    assert!(kills >= 2, "ferry was killed {kills} times");
    // Catch up, then prove equality and the unbroken chain of applied batches.
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);
    let chain = psql(
        &dst,
        "SELECT count(*) FILTER (WHERE prev IS NOT NULL AND from_position <> prev), count(*), sum(transactions) \
         FROM (SELECT *, lag(to_position) OVER (ORDER BY id) AS prev FROM ferry.sync_log) l",
    );
    let parts: Vec<&str> = chain.trim().split('\t').collect();
    assert_eq!(parts[0], "0", "a batch did not start where the previous one ended: {chain}");
    assert!(parts[1].parse::<u32>().unwrap() > 1, "batches: {chain}");
    let audit = psql(&dst, &format!("SELECT count(*) FROM \"{db}\".audit"));
    assert_eq!(audit.trim(), "60", "the key-less append-only table got each insert exactly once");
}

/// Continuous migration: `ferry migrate`, writes on the source, then `ferry sync` starts from
/// the migrate's snapshot (no second load) and brings exactly the later writes. DDL ferry does not
/// translate (a primary key change) stops only its table, visibly; TRUNCATE is applied.
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
    assert_eq!(
        (tables[0]["table"].as_str(), tables[0]["full_load_rows"].as_i64(), tables[0]["inserts"].as_i64(), tables[0]["deletes"].as_i64()),
        (Some("a"), Some(2), Some(1), Some(1))
    );

    mysql(Some(&db), "ALTER TABLE a DROP PRIMARY KEY; INSERT INTO a VALUES (4, 'new'); TRUNCATE b; INSERT INTO b VALUES (7, 70);");
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

/// Schema changes on the source arrive in the target while writes continue: ADD / DROP /
/// RENAME / MODIFY COLUMN, an enum gaining a label, CREATE TABLE (then rows in it), RENAME
/// TABLE, DROP TABLE, TRUNCATE — and the target verifies equal, with no table stopped. A sync
/// killed and restarted after the DDL decodes the later rows by the changed shapes.
#[test]
fn source_ddl_arrives_while_writes_continue() {
    let db = unique("sync_ddl");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(30) NOT NULL, qty INT NOT NULL DEFAULT 0, extra TEXT, KEY i_name (name));
         CREATE TABLE feed (id BIGINT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50));
         CREATE TABLE old_name (id INT PRIMARY KEY, v INT);
         CREATE TABLE gone (id INT PRIMARY KEY);
         INSERT INTO item (name, qty, extra) SELECT CONCAT('item ', seq), seq, 'x' FROM seq_1_to_50;
         INSERT INTO old_name VALUES (1, 1); INSERT INTO gone VALUES (1);",
    );
    let dst = fresh_pg(&db);
    let spawn = || spawn_sync(&src, &dst, "20");
    let mut child = spawn();
    // Writes on columns no DDL touches, all the way through.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (wdb, wstop) = (db.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let mut i = 0;
        while !wstop.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            mysql(Some(&wdb), &format!("BEGIN; INSERT INTO feed (msg) VALUES ('m{i}'); UPDATE item SET qty = qty + 1 WHERE id = {}; COMMIT;", i % 50 + 1));
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    let step = |sql: &str| {
        mysql(Some(&db), sql);
        std::thread::sleep(Duration::from_millis(300));
    };
    std::thread::sleep(Duration::from_secs(2));
    step("ALTER TABLE item ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'n' AFTER name, ADD COLUMN flag INT NOT NULL");
    step("UPDATE item SET note = CONCAT('note ', id), flag = id % 3 WHERE id <= 10");
    step("ALTER TABLE item RENAME COLUMN name TO title");
    step("ALTER TABLE item DROP COLUMN extra");
    step("ALTER TABLE item MODIFY qty BIGINT NOT NULL DEFAULT 0");
    step("CREATE TABLE fresh (id INT PRIMARY KEY, kind ENUM('a','b') NOT NULL, at DATETIME(3) DEFAULT NULL, UNIQUE KEY u_at (at))");
    step("INSERT INTO fresh VALUES (1, 'a', '2024-01-02 03:04:05.678'), (2, 'b', NULL)");
    // Restart mid-way: the later rows decode by the stored (changed) shapes.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = spawn();
    step("ALTER TABLE fresh MODIFY kind ENUM('a','b','c') NOT NULL");
    step("INSERT INTO fresh VALUES (3, 'c', NOW(3)); UPDATE item SET title = CONCAT(title, '!') WHERE id = 2");
    step("RENAME TABLE old_name TO new_name");
    step("INSERT INTO new_name VALUES (2, 2)");
    step("DROP TABLE gone");
    step("TRUNCATE feed");
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"]);
    assert_eq!(r.status, 0, "no table may stop:\n{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);
    assert_eq!(psql(&dst, &format!("SELECT title, note, flag, qty > 0 FROM \"{db}\".item WHERE id = 2")), "item 2!\tnote 2\t2\tt\n");
    assert_eq!(
        psql(&dst, &format!("SELECT count(*) FROM \"{db}\".item WHERE note = 'n' AND flag = 0")),
        "40\n",
        "existing rows got the default and MySQL's implicit 0"
    );
    assert_eq!(psql(&dst, &format!("SELECT string_agg(kind::text, ',' ORDER BY id) FROM \"{db}\".fresh")), "a,b,c\n");
    assert_eq!(psql(&dst, &format!("SELECT to_regclass('\"{db}\".gone') IS NULL, to_regclass('\"{db}\".old_name') IS NULL")), "t\tt\n");
    let status = ferry(&["status", "--target", &dst, "--json"]);
    let st: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let tables = st[0]["tables"].as_array().unwrap();
    let t = |n: &str| tables.iter().find(|t| t["table"] == n).unwrap_or_else(|| panic!("{n} in {}", status.stdout)).clone();
    assert_eq!(t("item")["ddl"], 4, "{}", t("item"));
    assert!(t("item")["last_ddl"].as_str().unwrap().contains("applied"));
    assert_eq!(t("fresh")["status"], "streaming");
    assert_eq!(t("fresh")["inserts"], 3);
    assert_eq!(t("new_name")["full_load_rows"], 1, "counters follow the rename");
    assert_eq!(t("gone")["status"], "dropped");
    assert!(tables.iter().all(|t| t["status"] != "stopped"), "{tables:?}");
}

/// Rows trading unique values inside one batch (a swap through a temporary value in one
/// transaction, a value freed by one row and taken by another in the next): the folded apply
/// would insert a row while the other still holds its value; ferry replays that table's
/// changes in source order instead, and nothing stops.
#[test]
fn unique_values_traded_inside_a_batch_apply_in_source_order() {
    let db = unique("sync_unique");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE person (id INT PRIMARY KEY, email VARCHAR(40) NOT NULL, UNIQUE KEY u_email (email));
         INSERT INTO person VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x');",
    );
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(
        Some(&db),
        "BEGIN; UPDATE person SET email = 'tmp' WHERE id = 1; UPDATE person SET email = 'a@x' WHERE id = 2; UPDATE person SET email = 'b@x' WHERE id = 1; COMMIT;
         UPDATE person SET email = 'c2@x' WHERE id = 3; INSERT INTO person VALUES (4, 'c@x');
         DELETE FROM person WHERE id = 4; UPDATE person SET email = 'c@x' WHERE id = 3;",
    );
    let r = ferry_with_env(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"], &[("FERRY_LOG", "ferry_target_postgres=info")]);
    assert_eq!(r.status, 0, "no table may stop:\n{}", r.all());
    assert!(r.stderr.contains("replaying its"), "the folded apply conflicted and the fallback ran:\n{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT id, email FROM \"{db}\".person ORDER BY id")), "1\tb@x\n2\ta@x\n3\tc@x\n");
    verify_equal(&["--source", &src, "--target", &dst]);
}

/// `ferry sync --check` tries what sync does, so privileges granted through a role count, and a
/// user without them gets a FAIL naming the GRANT to run and what the server said.
#[test]
fn preflight_checks_replication_privileges_as_the_server_sees_them() {
    let db = unique("sync_pre");
    fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY)");
    let (plain, via_role, role) = (format!("{db}_plain"), format!("{db}_role"), format!("{db}_r"));
    mysql(
        None,
        &format!(
            "CREATE USER '{plain}'@'%'; GRANT SELECT ON `{db}`.* TO '{plain}'@'%';
             CREATE ROLE '{role}'; GRANT REPLICATION SLAVE, BINLOG MONITOR, RELOAD ON *.* TO '{role}'; GRANT SELECT ON `{db}`.* TO '{role}';
             CREATE USER '{via_role}'@'%'; GRANT '{role}' TO '{via_role}'@'%'; SET DEFAULT ROLE '{role}' FOR '{via_role}'@'%';"
        ),
    );
    let dst = fresh_pg(&db);
    let url = |user: &str| format!("mysql://{user}@127.0.0.1:{}/{db}", mysql_port());
    let r = ferry(&["sync", "--check", "--source", &url(&plain), "--target", &dst]);
    assert_ne!(r.status, 0, "{}", r.all());
    let line = r.stdout.lines().find(|l| l.contains("replication privileges")).unwrap_or_else(|| panic!("{}", r.all()));
    assert!(line.starts_with("FAIL") && line.contains("GRANT REPLICATION SLAVE") && line.contains("the server said"), "{line}");
    assert!(r.stdout.lines().any(|l| l.starts_with("ok") && l.contains("binlog_format=ROW")), "{}", r.all());
    let r = ferry(&["sync", "--check", "--source", &url(&via_role), "--target", &dst]);
    assert_eq!(r.status, 0, "privileges through a default role count:\n{}", r.all());
    mysql(None, &format!("DROP USER '{plain}'@'%'; DROP USER '{via_role}'@'%'; DROP ROLE '{role}';"));
}

/// `ferry cutover`: applies what is left, sets every identity past every id the source handed
/// out (also ids of deleted rows), validates the constraints, records the final position, and
/// verifies; afterwards the application can insert with default ids, and sync refuses to run on.
#[test]
fn cutover_finishes_the_sync_and_leaves_identities_and_keys_ready() {
    let db = unique("cutover");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE parent (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL);
         CREATE TABLE child (id BIGINT AUTO_INCREMENT PRIMARY KEY, parent_id INT NOT NULL, v INT, FOREIGN KEY (parent_id) REFERENCES parent (id));
         INSERT INTO parent (name) SELECT CONCAT('p', seq) FROM seq_1_to_20;
         INSERT INTO child (parent_id, v) SELECT 1 + seq % 20, seq FROM seq_1_to_100;",
    );
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    // After the full load: ids the sync applies advance nothing on the target; deleted rows'
    // ids must not come back.
    mysql(Some(&db), "INSERT INTO parent (name) SELECT CONCAT('q', seq) FROM seq_1_to_30; DELETE FROM parent WHERE id > 45; INSERT INTO child (parent_id, v) VALUES (45, 1);");
    let next_parent: i64 =
        mysql(Some(&db), &format!("SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'parent'"))
            .trim()
            .parse()
            .unwrap();
    let c = ferry(&["cutover", "--source", &src, "--target", &dst]);
    assert_eq!(c.status, 0, "{}", c.all());
    assert!(c.stdout.contains("target equals source") && c.stdout.contains("identities set past the source's ids: 2"), "{}", c.stdout);
    assert!(c.stdout.contains("point the application at the target"), "{}", c.stdout);
    let s = format!("\"{db}\"");
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM pg_constraint WHERE connamespace = '{s}'::regnamespace AND NOT convalidated")), "0\n");
    let id: i64 = psql(&dst, &format!("INSERT INTO {s}.parent (name) VALUES ('app') RETURNING id")).trim().parse().unwrap();
    assert!(id >= next_parent, "new id {id} reuses an id the source handed out (next was {next_parent})");
    psql(&dst, &format!("INSERT INTO {s}.child (parent_id, v) VALUES ({id}, 0)"));
    let st = ferry(&["status", "--target", &dst, "--json"]);
    assert!(st.stdout.contains("\"cut over\""), "{}", st.stdout);
    let again = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"]);
    assert_ne!(again.status, 0);
    assert!(again.stderr.contains("was cut over"), "{}", again.all());
}

#[test]
fn an_undecodable_binlog_row_stops_only_its_table_and_excluding_it_lets_sync_run_on() {
    let db = unique("sync_undecodable");
    let src = fresh_mysql(&db);
    // armscii8 has no decoding table in ferry: plain ASCII passes, an Armenian letter cannot.
    mysql(
        Some(&db),
        "CREATE TABLE odd (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET armscii8); CREATE TABLE ok (id INT PRIMARY KEY); INSERT INTO odd VALUES (1, 'a');",
    );
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(Some(&db), "INSERT INTO odd VALUES (2, 'b'); INSERT INTO ok VALUES (1); BEGIN; INSERT INTO ok VALUES (2); UPDATE odd SET v = X'B2B3' WHERE id = 1; INSERT INTO ok VALUES (3); COMMIT;");
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 1, "a stopped table makes the run exit 1:\n{}", r.all());
    assert!(r.all().contains("table odd stopped") && r.all().contains("armscii8"), "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM {db}.ok")).trim(), "3", "the other table kept applying, the mixed transaction included");
    let status = ferry(&["status", "--target", &dst, "--json"]);
    let st: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let odd = st[0]["tables"].as_array().unwrap().iter().find(|t| t["table"] == "odd").unwrap().clone();
    assert_eq!(odd["status"], "stopped", "{odd}");
    assert!(odd["last_error"].as_str().unwrap().contains("armscii8"), "{odd}");
    // Excluded, the sync runs on (exit 0) and keeps streaming the rest.
    mysql(Some(&db), "INSERT INTO ok VALUES (4); INSERT INTO odd VALUES (3, 'd');");
    let cfg = write_config(&db, "[rules]\nexclude = [\"odd\"]\n");
    let r = ferry(&["sync", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM {db}.ok")).trim(), "4");
}

#[test]
fn a_table_excluded_after_sync_started_stops_streaming() {
    let db = unique("sync_exclude_later");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE kept (id INT PRIMARY KEY); CREATE TABLE dropped_later (id INT PRIMARY KEY); INSERT INTO kept VALUES (1); INSERT INTO dropped_later VALUES (1);");
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(Some(&db), "INSERT INTO kept VALUES (2); INSERT INTO dropped_later VALUES (2);");
    let cfg = write_config(&db, "[rules]\nexclude = [\"dropped_later\"]\n");
    let r = ferry(&["sync", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM {db}.kept")).trim(), "2");
    assert_eq!(
        psql(&dst, &format!("SELECT count(*) FROM {db}.dropped_later")).trim(),
        "1",
        "the excluded table's changes are no longer applied (sync's stored model of the source is filtered by today's rules)"
    );
}

#[test]
fn a_large_event_reopens_the_binlog_stream_and_loses_nothing() {
    let db = unique("sync_large_event");
    let src = fresh_mysql(&db);
    // A 40 MB value: its binlog event is above the size whose read buffer the stream releases.
    mysql(None, "SET GLOBAL max_allowed_packet = 268435456");
    mysql(Some(&db), "CREATE TABLE w (id INT PRIMARY KEY, v LONGBLOB); INSERT INTO w VALUES (1, 'small');");
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(
        Some(&db),
        "INSERT INTO w VALUES (2, REPEAT('x', 40 * 1048576)); INSERT INTO w VALUES (3, 'after'); UPDATE w SET v = 'changed' WHERE id = 1; INSERT INTO w VALUES (4, REPEAT('y', 40 * 1048576)); DELETE FROM w WHERE id = 3;",
    );
    let r = ferry_with_env(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"], &[("FERRY_LOG", "ferry_cdc=debug")]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stderr.contains("change stream reopened"), "the large event's stream was reopened:\n{}", r.stderr);
    assert_eq!(
        psql(&dst, &format!("SELECT string_agg(id || ':' || length(v), ',' ORDER BY id) FROM {db}.w")).trim(),
        "1:7,2:41943040,4:41943040",
        "every change before, between and after the large events applied once"
    );
    verify_equal(&["--source", &src, "--target", &dst]);
}

/// A finished migrate whose schema was dropped by hand cannot start a sync from its snapshot
/// (streaming into missing tables would skip every row they held): sync loads again, says why,
/// and the target ends equal.
#[test]
fn sync_after_a_migrated_schema_was_dropped_by_hand_loads_again_instead_of_skipping_its_rows() {
    let db = unique("sync_dropped");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_100;");
    let dst = fresh_pg(&db);
    migrate_ok(&["--source", &src, "--target", &dst]);
    psql(&dst, &format!("DROP SCHEMA \"{db}\" CASCADE"));
    mysql(Some(&db), "INSERT INTO t VALUES (101, 'after');");
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stderr.contains("is no longer on the target (1 of its tables are missing"), "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM \"{db}\".t")).trim(), "101");
    verify_equal(&["--source", &src, "--target", &dst]);
}
