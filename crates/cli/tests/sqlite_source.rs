//! SQLite as a source on a generated "chaos" file: each odd case ends in the documented type
//! (said in the plan), or a clear error naming table, column and row — and verify agrees with
//! what was stored, derived by SQLite itself, not by ferry's reader.

mod common;
use common::*;
use rusqlite::Connection;
use std::path::PathBuf;

fn sqlite_file(name: &str, sql: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("{name}.db"));
    let _ = std::fs::remove_file(&p);
    let conn = Connection::open(&p).unwrap();
    conn.execute_batch(sql).unwrap();
    p
}

fn url(p: &std::path::Path) -> String {
    format!("sqlite://{}", p.display())
}

const CHAOS: &str = r#"
CREATE TABLE mixed (
    id INTEGER PRIMARY KEY,
    n INTEGER,
    v VARCHAR(20),
    d_iso DATE,
    d_unix DATETIME,
    d_ms TIMESTAMP,
    d_julian DATE,
    d_zoned DATETIME,
    price NUMERIC(10,2),
    flag BOOLEAN,
    doc JSON,
    untyped,
    bad TEXT,
    nul TEXT,
    raw BLOB,
    name TEXT COLLATE NOCASE CHECK (length(name) > 0),
    kind TEXT CHECK (typeof(kind) = 'text'),
    twice INTEGER GENERATED ALWAYS AS (n * 2) VIRTUAL
);
INSERT INTO mixed (id, n, v, d_iso, d_unix, d_ms, d_julian, d_zoned, price, flag, doc, untyped, bad, nul, raw, name, kind) VALUES
 (1, 1, 'short', '2020-02-29', 86401, 1700000000123, 2451545.0, '2020-01-01 10:00:00+02:00', 0.99, 1, '{"b": 1, "a": [1, 2]}', 1, 'fine', 'fine', x'00ff', 'Ann', 'a'),
 (2, 2, 'a string of forty characters, exactly!!', '1999-12-31', 0, 0, 2440587.5, '2020-06-01T00:00:00Z', 5, 0, '[]', 2.5, 'ok', 'ok', NULL, 'bob', 'b'),
 (3, 'toto', NULL, NULL, NULL, NULL, NULL, NULL, 12.30, NULL, NULL, 'x', CAST(x'ff41' AS TEXT), CAST(x'610062' AS TEXT), 'text in a blob', 'Cy', 'c');
CREATE INDEX mixed_partial ON mixed (n) WHERE n > 1;
CREATE INDEX mixed_expr ON mixed (lower(name));
CREATE UNIQUE INDEX mixed_v ON mixed (v);

CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT NOT NULL DEFAULT 'none');
INSERT INTO counted (label) VALUES ('a'), ('b'), ('c'), ('d');
DELETE FROM counted WHERE id > 2;

CREATE TABLE pairs (a TEXT, b INTEGER, note TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
INSERT INTO pairs VALUES ('x', 1, 'first'), ('x', 2, NULL), ('y', 1, 'third');

CREATE TABLE nokey (t TEXT, n REAL);
INSERT INTO nokey VALUES ('same', 1.5), ('same', 1.5), (NULL, 0.1);

CREATE VIEW named AS SELECT id, name FROM mixed;
CREATE TRIGGER counted_touch AFTER INSERT ON counted BEGIN UPDATE counted SET label = label WHERE id = NEW.id; END;
"#;

fn column_type(dst: &str, schema: &str, table: &str, column: &str) -> String {
    psql(
        dst,
        &format!(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = '\"{schema}\".\"{table}\"'::regclass AND a.attname = '{column}'"
        ),
    )
    .trim()
    .to_string()
}

#[test]
fn every_odd_sqlite_cell_ends_in_the_documented_type_and_verify_agrees() {
    let name = unique("sqlite_chaos");
    let file = sqlite_file(&name, CHAOS);
    let src = url(&file);
    let dst = fresh_pg(&name);
    let plan = ferry(&["plan", "--source", &src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    let text = plan.stdout.clone();
    for said in [
        "'toto'",
        "up to 39 characters → text",
        "NUL or bytes that are not UTF-8, first at rowid 3",
        "unix times in seconds",
        "unix times in milliseconds",
        "julian day numbers",
        "carry a time zone",
        "view named",
        "trigger counted_touch",
        "index mixed_partial",
        "index mixed_expr",
        "typeof(",
        "case-insensitive",
    ] {
        assert!(text.contains(said), "the plan should say {said:?}:\n{text}");
    }

    let m = migrate_ok(&["--source", &src, "--target", &dst, "--quiet", "--json"]);
    // The report says how the readers shared the file (a rollback-journal file: shared locks).
    let report: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert!(report["snapshot"]["readers"].as_str().is_some_and(|r| r.contains("shared locks")), "{report}");
    let schema = std::path::Path::new(&file).file_stem().unwrap().to_string_lossy().to_string();
    let types: Vec<(&str, &str)> = vec![
        ("n", "text"),
        ("v", "text"),
        ("d_iso", "date"),
        ("d_unix", "timestamp(0) with time zone"),
        ("d_ms", "timestamp(3) with time zone"),
        ("d_julian", "timestamp(3) without time zone"),
        ("d_zoned", "timestamp(0) with time zone"),
        ("price", "numeric(10,2)"),
        ("flag", "boolean"),
        ("doc", "jsonb"),
        ("untyped", "text"),
        ("bad", "bytea"),
        ("nul", "bytea"),
        ("raw", "bytea"),
    ];
    for (c, want) in types {
        assert_eq!(column_type(&dst, &schema, "mixed", c), want, "type of mixed.{c}");
    }
    let q = |sql: &str| psql(&dst, &format!("SET TIME ZONE 'UTC'; {sql}")).trim().to_string();
    assert_eq!(
        q(&format!("SELECT n, d_unix, d_ms, d_julian, d_zoned, price FROM \"{schema}\".mixed WHERE id = 1")),
        "1\t1970-01-02 00:00:01+00\t2023-11-14 22:13:20.123+00\t2000-01-01 12:00:00\t2020-01-01 08:00:00+00\t0.99"
    );
    assert_eq!(
        q(&format!("SELECT n, encode(bad, 'hex'), encode(nul, 'hex'), convert_from(raw, 'UTF8'), untyped FROM \"{schema}\".mixed WHERE id = 3")),
        "toto\tff41\t610062\ttext in a blob\tx"
    );
    assert_eq!(q(&format!("SELECT untyped FROM \"{schema}\".mixed WHERE id = 2")), "2.5");
    assert_eq!(q(&format!("SELECT count(*) FROM \"{schema}\".pairs")), "3");
    assert_eq!(q(&format!("SELECT count(*) FROM \"{schema}\".nokey")), "3");
    assert_eq!(q(&format!("SELECT twice FROM \"{schema}\".mixed WHERE id = 1")), "2", "generated column computed on the target");

    let report = verify_equal(&["--source", &src, "--target", &dst]);
    assert_eq!(report["tables"].as_array().unwrap().len(), 4);
    assert_eq!(hash_mismatches(&report), Vec::<String>::new(), "equal on the chunk hashes alone");

    // Verify is not blind: a changed cell on the target is found, by key.
    psql(&dst, &format!("UPDATE \"{schema}\".mixed SET d_ms = d_ms + interval '1 millisecond' WHERE id = 1"));
    let (status, report) = verify_json(&["--source", &src, "--target", &dst]);
    assert_ne!(status, 0, "{report}");
    assert!(report.to_string().contains("d_ms"), "{report}");

    // AUTOINCREMENT continues past sqlite_sequence (4), not past the largest id left (2).
    assert_eq!(q(&format!("INSERT INTO \"{schema}\".counted (label) VALUES ('e') RETURNING id")).lines().next().unwrap(), "5");
}

#[test]
fn a_bad_cell_under_a_type_override_stops_its_table_naming_column_and_row() {
    let name = unique("sqlite_bad");
    let file = sqlite_file(&name, "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT); INSERT INTO t VALUES (1, 'ok'), (7, CAST(x'c328' AS TEXT));");
    let dst = fresh_pg(&name);
    let cfg = write_config(&name, "[target]\nschema = \"app\"\n[tables.\"t\".columns.\"s\"]\ntype = \"text\"\n");
    let r = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &url(&file), "--target", &dst, "--quiet"]);
    assert_ne!(r.status, 0, "{}", r.all());
    let all = r.all();
    assert!(all.contains("table `t`, column `s`, key (id)=(7)"), "the error must name table, column and row:\n{all}");
    assert!(all.contains("not UTF-8"), "and say what is wrong:\n{all}");
}

#[test]
fn a_150_mb_blob_table_loads_in_less_memory_than_its_data_and_the_source_file_is_untouched() {
    let name = unique("sqlite_blobs");
    let file = sqlite_file(&name, "CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB NOT NULL);");
    {
        let conn = Connection::open(&file).unwrap();
        let chunk = vec![0xabu8; 2 << 20];
        let mut st = conn.prepare("INSERT INTO b (data) VALUES (?1)").unwrap();
        for _ in 0..75 {
            st.execute([&chunk]).unwrap();
        }
    }
    let before = std::fs::read(&file).unwrap();
    let dst = fresh_pg(&name);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["migrate", "--source", &url(&file), "--target", &dst, "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The high-water mark of the child's resident memory, read until it exits.
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kb) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok()) {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "{:?}",
        child.stderr.take().map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            s
        })
    );
    let schema = file.file_stem().unwrap().to_string_lossy().to_string();
    assert_eq!(psql(&dst, &format!("SELECT count(*), sum(length(data)) FROM \"{schema}\".b")).trim(), format!("75\t{}", 75u64 * (2 << 20)));
    // 150 MB went through in less memory than that: the reader never holds the table (about
    // 100 MB whether the table holds 50 or 150 MB, on a loaded machine too: batches end at 1 MB
    // and the encoder sends each full piece at once).
    assert!(peak_kb < 140 * 1024, "peak resident memory {peak_kb} kB for a 150 MB table");
    assert_eq!(std::fs::read(&file).unwrap(), before, "migrate must not write to the source file");
}

const SYNCED: &str = r#"
PRAGMA journal_mode = WAL;
CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, note TEXT, data BLOB, seen DATETIME);
CREATE TABLE tags (owner TEXT NOT NULL, tag TEXT NOT NULL, weight REAL, PRIMARY KEY (owner, tag)) WITHOUT ROWID;
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 300)
INSERT INTO acct SELECT n, n * 10, 'note ' || n, randomblob(n % 7), datetime('2024-01-01', '+' || n || ' minutes') FROM s;
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100)
INSERT INTO tags SELECT 'o' || (n % 10), 't' || n, n / 3.0 FROM s;
"#;

/// Changes the file like an application: inserts, updates (of keys too), deletes, in small
/// transactions, on both tables.
fn write_like_an_application(file: PathBuf, ops: u64) {
    let conn = Connection::open(&file).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    for i in 0..ops {
        let id = 1 + next() % 400;
        let sql = match i % 6 {
            0 => format!("INSERT OR REPLACE INTO acct VALUES ({id}, {}, 'w{i}', randomblob(3), datetime('now'))", next() % 1000),
            1 => format!("UPDATE acct SET balance = balance + 1, note = note || '+' WHERE id = {id}"),
            2 => format!("DELETE FROM acct WHERE id = {id}"),
            3 => format!("UPDATE OR IGNORE acct SET id = id + 1000 WHERE id = {id}"),
            4 => format!("INSERT OR REPLACE INTO tags VALUES ('o{}', 't{}', {}.5)", next() % 10, next() % 150, next() % 100),
            _ => format!(
                "BEGIN; DELETE FROM tags WHERE owner = 'o{}' AND tag = 't{}'; UPDATE tags SET weight = weight * 2 WHERE owner = 'o{}'; COMMIT",
                next() % 10,
                next() % 150,
                next() % 10
            ),
        };
        conn.execute_batch(&sql).unwrap();
        if i % 20 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

#[test]
fn sqlite_sync_by_triggers_survives_sigkills_drains_its_log_and_cutover_leaves_nothing_behind() {
    let name = unique("sqlite_sync");
    let file = sqlite_file(&name, SYNCED);
    let src = url(&file);
    let dst = fresh_pg(&name);
    // Without --setup, sync says what to do.
    let r = ferry(&["sync", "--until-caught-up", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.all().contains("ferry sync --setup"), "{}", r.all());

    let r = ferry(&["sync", "--setup", "--until-caught-up", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.all().contains("triggers on 2 tables installed"), "{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);

    let writer = {
        let file = file.clone();
        std::thread::spawn(move || write_like_an_application(file, 3000))
    };
    let kills = sigkill_while(&writer, || spawn_sync(&src, &dst, "40"), 200, 700);
    writer.join().unwrap();
    let r = ferry(&["sync", "--until-caught-up", "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(r.status, 0, "after {kills} kills: {}", r.all());
    let report = verify_equal(&["--source", &src, "--target", &dst]);
    assert_eq!(report["tables"].as_array().unwrap().len(), 2);

    // The log holds nothing the target has committed.
    let conn = Connection::open(&file).unwrap();
    let left: i64 = conn.query_row("SELECT count(*) FROM _ferry_changes", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0, "the change log is drained once applied");
    drop(conn);

    let c = ferry(&["cutover", "--source", &src, "--target", &dst]);
    assert_eq!(c.status, 0, "{}", c.all());
    let conn = Connection::open(&file).unwrap();
    let leftovers: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_ferry%' ESCAPE '\\'", [], |r| r.get(0)).unwrap();
    assert_eq!(leftovers, 0, "cutover removes every trigger and the log table");
    eprintln!("{kills} SIGKILLs of ferry sync");
}

#[test]
fn sqlite_type_families_arrive_the_same_by_load_and_by_sync() {
    let name = unique("sqlite_families");
    // Without the unique index on `v` (the copies below repeat its values) and the table without
    // a key (its changes cannot be captured: it would stop, failing the run).
    let chaos = CHAOS
        .replace("CREATE UNIQUE INDEX mixed_v ON mixed (v);", "")
        .replace("CREATE TABLE nokey (t TEXT, n REAL);", "")
        .replace("INSERT INTO nokey VALUES ('same', 1.5), ('same', 1.5), (NULL, 0.1);", "");
    let file = sqlite_file(&name, &chaos);
    let src = url(&file);
    let dst = fresh_pg(&name);
    let r = ferry(&["sync", "--setup", "--until-caught-up", "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    // The same cells again, written after the load: they arrive by the change stream.
    let cols = "n, v, d_iso, d_unix, d_ms, d_julian, d_zoned, price, flag, doc, untyped, bad, nul, raw, name, kind";
    let conn = Connection::open(&file).unwrap();
    // Schema changes in the file follow to the target: an index, an added and a renamed column.
    conn.execute_batch("CREATE INDEX mixed_price ON mixed (price); ALTER TABLE mixed ADD COLUMN extra TEXT; ALTER TABLE counted RENAME COLUMN label TO title;")
        .unwrap();
    conn.execute_batch(&format!("UPDATE counted SET title = 'renamed' WHERE id = 1; INSERT INTO mixed (id, {cols}) SELECT id + 100, {cols} FROM mixed WHERE id <= 3; DELETE FROM mixed WHERE id = 2;")).unwrap();
    drop(conn);
    let r = ferry(&["sync", "--until-caught-up", "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    let schema = file.file_stem().unwrap().to_string_lossy().to_string();
    let status = ferry(&["status", "--source", &src, "--target", &dst]).all();
    assert!(status.contains("RENAME COLUMN label TO title`: applied") && status.contains("ADD COLUMN extra, CREATE INDEX mixed_price`: applied"), "{status}");
    let row = |id: i64| psql(&dst, &format!("SET TIME ZONE 'UTC'; SELECT ({cols}, twice)::text FROM \"{schema}\".mixed WHERE id = {id}")).trim().to_string();
    for id in [1, 3] {
        let loaded = row(id);
        assert!(!loaded.is_empty(), "row {id} was loaded");
        assert_eq!(row(id + 100), loaded, "row {} (by sync) equals row {id} (by load)", id + 100);
    }
    assert_eq!(row(2), "", "the delete arrived");
    assert!(!row(102).is_empty());
    assert_eq!(psql(&dst, &format!("SELECT title FROM \"{schema}\".counted WHERE id = 1")).trim(), "renamed");
    assert_eq!(column_type(&dst, &schema, "mixed", "extra"), "text");
    verify_equal(&["--source", &src, "--target", &dst]);
}

#[test]
fn verify_bisects_a_large_sqlite_range_down_to_the_changed_row() {
    let name = unique("sqlite_bisect");
    let file = sqlite_file(
        &name,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL, s TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO t SELECT i, i / 7.0, 'row ' || i FROM n;",
    );
    let src = url(&file);
    let dst = fresh_pg(&name);
    migrate_ok(&["--source", &src, "--target", &dst, "--quiet"]);
    verify_equal(&["--source", &src, "--target", &dst]);
    let schema = file.file_stem().unwrap().to_string_lossy().to_string();
    psql(&dst, &format!("UPDATE \"{schema}\".t SET s = 'changed' WHERE id = 12345"));
    let (status, report) = verify_json(&["--source", &src, "--target", &dst]);
    assert_ne!(status, 0);
    let t = &report["tables"][0];
    assert!(t["bisections"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(t["changed"], 1, "{report}");
    assert!(t["sample_changed"].to_string().contains("12345"), "{report}");
}

#[test]
fn nocase_columns_become_citext_by_the_rule_and_compare_as_the_source_did() {
    let name = unique("sqlite_citext");
    let file = sqlite_file(
        &name,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(80) COLLATE NOCASE NOT NULL UNIQUE, code TEXT);
         INSERT INTO users VALUES (1, 'Ann@Example.com', 'A'), (2, 'bob@example.com', 'b');",
    );
    let src = url(&file);
    let dst = fresh_pg(&name);
    let cfg = write_config(&name, "[rules]\ncase_insensitive = \"citext\"\n");
    let plan = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert!(plan.stdout.contains("CREATE EXTENSION IF NOT EXISTS \"citext\"") && plan.stdout.contains("→ citext"), "{}", plan.all());
    migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--quiet"]);
    let schema = file.file_stem().unwrap().to_string_lossy().to_string();
    assert_eq!(column_type(&dst, &schema, "users", "email"), "citext");
    assert_eq!(column_type(&dst, &schema, "users", "code"), "text", "only the NOCASE column");
    // The unique key compares as SQLite's did: another case of the same address is a duplicate.
    let dup = psql_try(&dst, &format!("INSERT INTO \"{schema}\".users VALUES (3, 'ann@example.COM', 'c')"));
    assert!(dup.is_err_and(|e| e.contains("duplicate key")));
    verify_equal(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
}

const RULED: &str = r#"
CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, d DATETIME, created INTEGER, s TEXT, doc JSON);
INSERT INTO t VALUES
 (1, 5, '2020-01-01 10:00:00', 1700000000, 'ok', '{"a": 1}'),
 (2, 'toto', 'soon', 1700000001, CAST(x'ff41' AS TEXT), 'not json'),
 (3, 7, 86400, 0, CAST(x'610062' AS TEXT), '[]');
"#;

const RULES: &str = r#"
[rules]
odd_cells = "quarantine"
[tables."t".columns."s"]
invalid_text = "replace"
[tables."t".columns."created"]
date_form = "unixepoch"
[tables."t".columns."d"]
date_form = "iso"
"#;

/// `ferry.quarantine` as sorted `column|class|raw|written|via` lines.
fn quarantine(dst: &str, schema: &str) -> Vec<String> {
    let out = psql(
        dst,
        &format!(
            "SELECT column_name || '|' || storage_class || '|' || raw_value || '|' || coalesce(written, 'NULL') || '|' || via FROM ferry.quarantine \
             WHERE target_schema = '{schema}' ORDER BY 1"
        ),
    );
    let mut lines: Vec<String> = out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect();
    lines.sort();
    lines
}

#[test]
fn odd_cells_by_rule_are_quarantined_dates_forced_and_bad_text_replaced_counted_and_verified() {
    let name = unique("sqlite_rules");
    let file = sqlite_file(&name, RULED);
    let src = url(&file);
    let dst = fresh_pg(&name);
    let schema = file.file_stem().unwrap().to_string_lossy().to_string();
    let cfg = write_config(&name, RULES);
    let cfg = cfg.to_str().unwrap();
    let plan = ferry(&["plan", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    for said in ["1 cells (e.g. 'toto') are not what the declared type holds", "NOT NULL dropped", "U+FFFD", "date_form = \"unixepoch\"", "date_form = \"iso\""]
    {
        assert!(plan.stdout.contains(said), "the plan should say {said:?}:\n{}", plan.stdout);
    }

    // The load: declared types kept, odd cells NULL and listed, bad text replaced and listed.
    let m = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(report["tables"][0]["quarantined"], 6, "{report}");
    for (c, want) in [("n", "integer"), ("d", "timestamp(0) without time zone"), ("created", "timestamp(0) with time zone"), ("s", "text"), ("doc", "jsonb")] {
        assert_eq!(column_type(&dst, &schema, "t", c), want, "type of t.{c}");
    }
    let q = |sql: &str| psql(&dst, &format!("SET TIME ZONE 'UTC'; {sql}")).trim().to_string();
    assert_eq!(
        q(&format!("SELECT id, coalesce(n::text, 'NULL'), coalesce(d::text, 'NULL'), created, s, coalesce(doc::text, 'NULL') FROM \"{schema}\".t ORDER BY id")),
        "1\t5\t2020-01-01 10:00:00\t2023-11-14 22:13:20+00\tok\t{\"a\": 1}\n\
         2\tNULL\tNULL\t2023-11-14 22:13:21+00\t\u{FFFD}A\tNULL\n\
         3\t7\tNULL\t1970-01-01 00:00:00+00\ta\u{FFFD}b\t[]"
    );
    assert_eq!(
        quarantine(&dst, &schema),
        vec![
            "doc|text|not json|NULL|load",
            "d|integer|86400|NULL|load",
            "d|text|soon|NULL|load",
            "n|text|toto|NULL|load",
            "s|text|X'610062'|a\u{FFFD}b|load",
            "s|text|X'FF41'|\u{FFFD}A|load",
        ]
    );
    assert_eq!(q(&format!("SELECT row_key FROM ferry.quarantine WHERE target_schema = '{schema}' AND column_name = 'n'")), "[\"2\"]");

    // Verify: equal, the set-aside cells found on the source by its own SQL and listed.
    let report = verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"][0]["quarantine"]["source_cells"], 6, "{report}");
    // A quarantine entry lost, or a value changed where a cell was set aside: found.
    psql(&dst, &format!("DELETE FROM ferry.quarantine WHERE target_schema = '{schema}' AND column_name = 'n'"));
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_ne!(status, 0, "{report}");
    assert_eq!(report["tables"][0]["quarantine"]["unlisted"][0], "n [\"2\"]: toto", "the lost entry, named by column and row: {report}");
    // Listed under another row: found too (the row key is part of what is compared).
    psql(
        &dst,
        &format!(
            "INSERT INTO ferry.quarantine (target_schema, table_name, column_name, row_key, storage_class, raw_value, reason, via) \
             VALUES ('{schema}', 't', 'n', '[\"3\"]', 'text', 'toto', 'misplaced', 'load')"
        ),
    );
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_ne!(status, 0, "{report}");
    assert!(report["tables"][0]["quarantine"]["stale"].to_string().contains("toto"), "{report}");
    psql(
        &dst,
        &format!(
            "UPDATE ferry.quarantine SET row_key = '[\"2\"]', reason = 'restored' WHERE target_schema = '{schema}' AND column_name = 'n'; \
             UPDATE \"{schema}\".t SET n = 0 WHERE id = 2"
        ),
    );
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_ne!(status, 0, "{report}");
    assert!(report.to_string().contains("\"n\""), "the changed cell is named: {report}");
    psql(&dst, &format!("UPDATE \"{schema}\".t SET n = NULL WHERE id = 2"));
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);

    // Sync under the same rules: a new odd cell is set aside by the stream, an odd cell made
    // good loses its entry, a deleted row takes its entries along.
    let r = ferry(&["sync", "--setup", "--until-caught-up", "--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    let conn = Connection::open(&file).unwrap();
    conn.execute_batch("INSERT INTO t VALUES (4, 'again', '2021-02-03', 5, 'fine', '{}'); UPDATE t SET n = 2 WHERE id = 2; DELETE FROM t WHERE id = 3;")
        .unwrap();
    drop(conn);
    let r = ferry(&["sync", "--until-caught-up", "--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(
        quarantine(&dst, &schema),
        vec!["doc|text|not json|NULL|sync", "d|text|soon|NULL|sync", "n|text|again|NULL|sync", "s|text|X'FF41'|\u{FFFD}A|sync"],
        "row 2 written again by sync keeps its other set-aside cells, row 3's are gone, row 4's are new"
    );
    assert_eq!(q(&format!("SELECT coalesce(n::text, 'NULL') FROM \"{schema}\".t WHERE id = 4")), "NULL");
    let report = verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"][0]["quarantine"]["source_cells"], 4, "{report}");
}

/// A table without a key has its set-aside cells listed (named `row #n`: such a table loads as
/// one chunk and is not synced) and checked by verify, which compares them without a row key
/// (verify once returned before the check for keyless tables).
#[test]
fn set_aside_cells_of_a_keyless_table_are_each_listed_and_verified() {
    let name = unique("sqlite_rules_nokey");
    let file =
        sqlite_file(&name, "CREATE TABLE k (n INTEGER, note TEXT); INSERT INTO k VALUES ('a', 'x'), (1, 'y'), ('b', 'z'), ('c', 'w'), (2, 'v'), ('d', 'u');");
    let src = url(&file);
    let dst = fresh_pg(&name);
    let schema = file.file_stem().unwrap().to_string_lossy().to_string();
    let cfg = write_config(&name, "[rules]\nodd_cells = \"quarantine\"\n");
    let cfg = cfg.to_str().unwrap();
    let m = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet", "--json", "--chunk-rows", "2"]);
    let report: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert_eq!(report["tables"][0]["quarantined"], 4, "{report}");
    assert_eq!(column_type(&dst, &schema, "k", "n"), "integer");
    let listed = psql(
        &dst,
        &format!("SELECT string_agg(raw_value, ',' ORDER BY raw_value), count(DISTINCT row_key) FROM ferry.quarantine WHERE target_schema = '{schema}'"),
    );
    assert_eq!(listed.trim(), "a,b,c,d\t4", "one entry per set-aside cell");
    let report = verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"][0]["quarantine"]["source_cells"], 4, "{report}");
    psql(&dst, &format!("DELETE FROM ferry.quarantine WHERE target_schema = '{schema}' AND raw_value = 'c'"));
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_ne!(status, 0, "a lost entry of a keyless table is found: {report}");
}

/// `ferry reload` from SQLite while sync streams and an application writes to the file: each
/// chunk read in one read transaction, placed at the change log's sequence in it; a tampered
/// target is put right and verify is equal.
#[test]
fn sqlite_reload_under_a_writer_puts_a_tampered_table_right() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let name = unique("sqlite_reload");
    let file = sqlite_file(
        &name,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT);
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 12000) INSERT INTO t SELECT n, 0, 'n' || n FROM s;",
    );
    let src = url(&file);
    let dst = fresh_pg(&name);
    let r = ferry(&["sync", "--setup", "--until-caught-up", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    let q = format!("\"{}\"", file.file_stem().unwrap().to_string_lossy());
    let mut sync = spawn_sync(&src, &dst, "50");
    psql(&dst, &format!("UPDATE {q}.t SET v = -1 WHERE id % 100 = 0; DELETE FROM {q}.t WHERE id % 97 = 0; INSERT INTO {q}.t VALUES (100001, 7, 'extra');"));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (w_file, w_stop) = (file.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let conn = Connection::open(&w_file).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
        let mut i = 0u64;
        while !w_stop.load(Ordering::Relaxed) {
            let a = (i * 7919) % 12000 + 1;
            conn.execute_batch(&format!(
                "BEGIN; UPDATE t SET v = v + 1 WHERE id = {a}; DELETE FROM t WHERE id = {}; INSERT OR REPLACE INTO t VALUES ({}, {i}, 'new'); COMMIT;",
                12000 - i % 12000,
                20000 + i
            ))
            .unwrap();
            i += 1;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let r = ferry(&["reload", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stdout.contains("reloaded"), "{}", r.all());
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let _ = sync.kill();
    let _ = sync.wait();
    let r = ferry(&["sync", "--until-caught-up", "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT count(*) FROM {q}.t WHERE id = 100001 OR v = -1")).trim(), "0", "the tampered rows are right");
    verify_equal(&["--source", &src, "--target", &dst]);
}

/// A table that sets cells aside cannot be reloaded yet; `ferry include` of it (which reloads)
/// used to bring it back streaming while its reload then failed — the rows it missed while
/// excluded never came. Now include is refused with why and the table stays excluded.
#[test]
fn include_of_a_table_that_cannot_reload_is_refused_and_it_stays_excluded() {
    let name = unique("sqlite_include_refused");
    let file = sqlite_file(&name, RULED);
    let src = url(&file);
    let dst = fresh_pg(&name);
    let cfg = write_config(&name, RULES);
    let cfg = cfg.to_str().unwrap();
    let r = ferry(&["sync", "--setup", "--until-caught-up", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    let mut sync = spawn_sync_with(&["--config", cfg, "--source", &src, "--target", &dst]);
    let r = ferry(&["exclude", "t", "--wait", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    let r = ferry(&["include", "t", "--wait", "--config", cfg, "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.stderr.contains("sets cells aside") && r.stderr.contains("an included table is reloaded"), "{}", r.all());
    assert_eq!(psql(&dst, "SELECT status FROM ferry.table_controls WHERE table_name = 't'").trim(), "excluded");
    assert_eq!(psql(&dst, "SELECT count(*) FROM ferry.reloads").trim(), "0", "no reload was asked");
    let _ = sync.kill();
    let _ = sync.wait();
}
