//! ferry's state schema written by the previous release (before versioned state, positions as a
//! binlog file and offset or a bare LSN) is upgraded in place by the next run, and its sync
//! resumes exactly where the old state says it stood: nothing lost, nothing applied twice.

mod common;
use common::*;

/// The previous release's state schema, frozen (see the file's header).
const STATE_V1: &str = include_str!("fixtures/state-v1.sql");

/// Rewrites the target's state for `schema` into the previous release's form: its tables as
/// that release created them, the sync position as (file, pos), one sync_log row ending there,
/// and the load's snapshot position as bare text. `file_pos` turns ferry's position text into
/// the old columns.
fn downgrade_state(dst: &str, schema: &str, file_pos: impl Fn(&str) -> (String, u64)) -> String {
    let row = psql(
        dst,
        &format!(
            "SELECT position, source, transactions, coalesce(source_model, ''), coalesce(probes, '') FROM ferry.sync_state WHERE target_schema = '{schema}'"
        ),
    );
    let f: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    let (position, source, transactions, model, probes) = (f[0].to_string(), f[1], f[2], f[3], f[4]);
    let tables = psql(dst, &format!("SELECT table_name, full_load_rows, inserts, updates, deletes FROM ferry.sync_tables WHERE target_schema = '{schema}'"));
    let chunks = psql(dst, &format!("SELECT table_name, chunk_id, rows, bytes FROM ferry.load_chunks WHERE target_schema = '{schema}'"));
    let (file, pos) = file_pos(&position);
    let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut sql = format!("DROP SCHEMA ferry CASCADE;\n{STATE_V1}\n");
    sql += &format!(
        "INSERT INTO ferry.sync_state (target_schema, source, file, pos, transactions, source_model, probes) VALUES ({}, {}, {}, {pos}, {transactions}, {}, {});\n",
        lit(schema),
        lit(source),
        lit(&file),
        if model.is_empty() { "NULL".into() } else { lit(model) },
        if probes.is_empty() { "NULL".into() } else { lit(probes) },
    );
    sql += &format!(
        "INSERT INTO ferry.sync_log (target_schema, from_file, from_pos, to_file, to_pos, transactions, rows) VALUES ({}, {}, 4, {}, {pos}, 1, 1);\n",
        lit(schema),
        lit(&file),
        lit(&file)
    );
    for t in tables.lines() {
        let c: Vec<&str> = t.split('\t').collect();
        sql += &format!(
            "INSERT INTO ferry.sync_tables (target_schema, table_name, full_load_rows, inserts, updates, deletes) VALUES ({}, {}, {}, {}, {}, {});\n",
            lit(schema),
            lit(c[0]),
            c[1],
            c[2],
            c[3],
            c[4]
        );
    }
    for t in chunks.lines() {
        let c: Vec<&str> = t.split('\t').collect();
        sql += &format!("INSERT INTO ferry.load_chunks VALUES ({}, {}, {}, {}, {});\n", lit(schema), lit(c[0]), c[1], c[2], c[3]);
    }
    sql += &format!(
        "INSERT INTO ferry.load_runs (target_schema, source, status, snapshot, chunk_plan) VALUES ({}, {}, 'done', {}::jsonb, '[]');\n",
        lit(schema),
        lit(source),
        lit(&format!("{{\"position\": \"{position}\", \"gtid\": null, \"consistent\": true, \"note\": null}}"))
    );
    psql(dst, &sql);
    assert_eq!(psql(dst, "SELECT to_regclass('ferry.state_version') IS NULL"), "t\n", "the old state has no version table");
    position
}

/// After the upgrade: the state is at the current version, the position carries its kind, the
/// resumed sync's first log row starts where the old state's ended, and inserts were counted once.
fn assert_upgraded(dst: &str, schema: &str, old_position: &str, kind: &str, inserts_before: i64) {
    assert_eq!(psql(dst, "SELECT max(version) FROM ferry.state_version"), "6\n");
    assert_eq!(psql(dst, "SELECT to_regclass('ferry.quarantine') IS NOT NULL"), "t\n", "V5 added the quarantine table");
    assert_eq!(psql(dst, "SELECT to_regclass('ferry.table_controls') IS NOT NULL"), "t\n", "V6 added the table controls");
    assert_eq!(psql(dst, &format!("SELECT position_kind FROM ferry.sync_state WHERE target_schema = '{schema}'")), format!("{kind}\n"));
    let first = psql(dst, &format!("SELECT from_position, to_position FROM ferry.sync_log WHERE target_schema = '{schema}' ORDER BY id"));
    let rows: Vec<&str> = first.lines().collect();
    assert!(rows.len() >= 2, "the migrated log row and the resumed sync's: {first}");
    assert_eq!(rows[0].split('\t').nth(1), Some(old_position), "the old log row was converted to the position text ferry printed: {first}");
    assert_eq!(rows[1].split('\t').next(), Some(old_position), "the resumed sync started exactly at the old position: {first}");
    let st = ferry(&["status", "--target", dst, "--schema", schema, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap_or_else(|e| panic!("{e}: {}", st.all()));
    let t = v[0]["tables"].as_array().unwrap().iter().find(|t| t["table"] == "t").expect("table t in status").clone();
    assert_eq!(t["inserts"].as_i64(), Some(inserts_before + 5), "each new insert counted once: {t}");
}

#[test]
fn previous_release_state_is_upgraded_in_place_and_mysql_sync_resumes() {
    let db = unique("state_up_my");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_10;");
    let dst = fresh_pg(&db);
    let sync = || ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    let r = sync();
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(Some(&db), "INSERT INTO t SELECT seq, 'second' FROM seq_11_to_15;");
    let r = sync();
    assert_eq!(r.status, 0, "{}", r.all());
    let position = downgrade_state(&dst, &db, |p| {
        let (file, pos) = p.rsplit_once(':').expect("file:pos");
        (file.to_string(), pos.parse().unwrap())
    });
    mysql(Some(&db), "INSERT INTO t SELECT seq, 'third' FROM seq_16_to_20; UPDATE t SET v = 'changed' WHERE id = 3;");
    let r = sync();
    assert_eq!(r.status, 0, "the upgraded state resumes: {}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM \"{db}\".t")), "20\t1\n");
    assert_upgraded(&dst, &db, &position, "mysql", 5);
    verify_equal(&["--source", &src, "--target", &dst]);
}

#[test]
fn previous_release_state_is_upgraded_in_place_and_postgresql_sync_resumes() {
    let db = unique("state_up_pg");
    let src_db = format!("{db}_src");
    let src = fresh_pg(&src_db);
    psql(&src, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(1, 10) g;");
    let dst = fresh_pg(&db);
    let source = pg_source(&src_db, "app");
    let sync = || ferry(&["sync", "--source", &source, "--target", &dst, "--schema", "app", "--until-caught-up", "--quiet"]);
    let r = sync();
    assert_eq!(r.status, 0, "{}", r.all());
    psql(&src, "INSERT INTO app.t SELECT g, 'second' FROM generate_series(11, 15) g;");
    let r = sync();
    assert_eq!(r.status, 0, "{}", r.all());
    // The previous release stored an LSN as an empty file and the LSN's value.
    let position = downgrade_state(&dst, "app", |p| {
        let (hi, lo) = p.split_once('/').expect("X/Y");
        (String::new(), (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap())
    });
    psql(&src, "INSERT INTO app.t SELECT g, 'third' FROM generate_series(16, 20) g; UPDATE app.t SET v = 'changed' WHERE id = 3;");
    let r = sync();
    assert_eq!(r.status, 0, "the upgraded state resumes: {}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM app.t"), "20\t1\n");
    assert_upgraded(&dst, "app", &position, "postgres", 5);
    verify_equal(&["--source", &source, "--target", &dst, "--schema", "app"]);
    let c = ferry(&["cutover", "--source", &source, "--target", &dst, "--schema", "app"]);
    assert_eq!(c.status, 0, "cutover after the upgrade: {}", c.all());
}

#[test]
fn state_of_a_newer_ferry_is_refused_not_rewritten() {
    let db = unique("state_newer");
    let dst = fresh_pg(&db);
    psql(&dst, &format!("{STATE_V1}\nCREATE TABLE ferry.state_version (version integer NOT NULL, note text NOT NULL, at timestamptz NOT NULL DEFAULT now()); INSERT INTO ferry.state_version VALUES (99, 'from the future');"));
    let r = ferry(&["status", "--target", &dst]);
    assert_eq!(r.status, 2, "{}", r.all());
    assert!(r.stderr.contains("version 99") && r.stderr.contains("newer ferry"), "{}", r.stderr);
    assert_eq!(psql(&dst, "SELECT count(*) FROM ferry.state_version"), "1\n", "nothing written");
}

/// Runs that meet a target without ferry's state at the same moment all start: one creates the
/// state, the others wait for it and find it made (they once ran the upgrade a second time and
/// failed with "column … already exists").
#[test]
fn concurrent_first_runs_create_the_state_once_and_all_succeed() {
    let db = unique("state_race");
    let src = fresh_pg(&format!("{db}_src"));
    psql(&src, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    let dst = fresh_pg(&db);
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let (src, dst) = (src.clone(), dst.clone());
            std::thread::spawn(move || ferry(&["migrate", "--schema-only", "--source", &src, "--target", &dst, "--schema", &format!("s{i}"), "--quiet"]))
        })
        .collect();
    for r in runs {
        let r = r.join().unwrap();
        assert_eq!(r.status, 0, "{}", r.all());
    }
    assert_eq!(psql(&dst, "SELECT count(*), count(DISTINCT version) FROM ferry.state_version"), "6\t6\n", "each version recorded once");
}
