//! The first ten minutes: `migrate --schema-only` / `--data-only`, SQL hooks, `ferry init`.

mod common;
use common::*;

fn count(url: &str, sql: &str) -> i64 {
    psql(url, sql).trim().parse().unwrap_or_else(|_| panic!("not a number from {sql}"))
}

/// `--schema-only` then `--data-only` leave the target as one whole migrate does: `ferry diff`
/// between the two schemas finds nothing, both verify equal, identities continue alike; the
/// schema-only step creates keys, indexes and foreign keys but no row; a second data-only
/// refuses tables holding rows unless `--if-exists truncate`.
#[test]
fn schema_only_then_data_only_equals_one_migrate() {
    let db = unique("split");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);
    migrate_ok(&["--source", &src, "--target", &dst, "--schema", "whole", "--quiet"]);

    let r = migrate_ok(&["--source", &src, "--target", &dst, "--schema", "split", "--schema-only", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["scope"], "schema-only");
    assert_eq!(report["total_rows"], 0);
    assert_eq!(count(&dst, "SELECT count(*) FROM split.rental"), 0);
    let fks = "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = '%s'::regnamespace";
    let ixs = "SELECT count(*) FROM pg_indexes WHERE schemaname = '%s'";
    assert_eq!(count(&dst, &fks.replace("%s", "split")), count(&dst, &fks.replace("%s", "whole")), "schema-only builds every foreign key");
    assert_eq!(count(&dst, &ixs.replace("%s", "split")), count(&dst, &ixs.replace("%s", "whole")), "schema-only builds every index");

    let r = migrate_ok(&["--source", &src, "--target", &dst, "--schema", "split", "--data-only", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["scope"], "data-only");
    assert_eq!(report["ok"], true, "{}", r.all());

    let d = ferry(&["diff", &dst, &dst, "--a-schema", "whole", "--b-schema", "split", "--strict-names"]);
    assert_eq!(d.status, 0, "schema-only + data-only differs from one migrate:\n{}", d.all());
    verify_equal(&["--source", &src, "--target", &dst, "--schema", "split"]);
    let next = |schema: &str| psql(&dst, &format!("INSERT INTO {schema}.actor (first_name, last_name) VALUES ('A', 'B') RETURNING actor_id"));
    assert_eq!(next("whole"), next("split"), "identities continue past the loaded ids alike");

    let again = ferry(&["migrate", "--source", &src, "--target", &dst, "--schema", "split", "--data-only"]);
    assert_ne!(again.status, 0);
    assert!(again.stderr.contains("already hold rows") && again.stderr.contains("--if-exists truncate"), "{}", again.all());
    psql(&dst, "DELETE FROM split.actor WHERE first_name = 'A' AND last_name = 'B'");
    migrate_ok(&["--source", &src, "--target", &dst, "--schema", "split", "--data-only", "--if-exists", "truncate", "--quiet"]);
    verify_equal(&["--source", &src, "--target", &dst, "--schema", "split"]);
}

/// `--data-only` checks the existing tables against the plan first and writes nothing when
/// they cannot take the rows: every problem listed at once.
#[test]
fn data_only_refuses_tables_that_differ_from_the_plan_naming_each_problem() {
    let db = unique("dataonly_bad");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10)); CREATE TABLE b (id INT PRIMARY KEY); INSERT INTO a VALUES (1, 'x');");
    let dst = fresh_pg(&db);
    psql(&dst, &format!("CREATE SCHEMA \"{db}\"; CREATE TABLE \"{db}\".a (id bigint PRIMARY KEY, must text NOT NULL);"));
    let r = ferry(&["migrate", "--source", &src, "--target", &dst, "--data-only"]);
    assert_ne!(r.status, 0);
    for part in [
        "nothing was written",
        "table \"b\" does not exist",
        "table \"a\" has no column \"v\"",
        "\"a\".\"id\" is bigint on the target, the plan loads integer",
        "\"a\".\"must\" is NOT NULL without a default",
    ] {
        assert!(r.stderr.contains(part), "missing {part:?} in:\n{}", r.all());
    }
    assert_eq!(count(&dst, &format!("SELECT count(*) FROM \"{db}\".a")), 0);
}

/// Each `[hooks]` stage runs at its moment, each file in its own transaction, with its time in
/// the report; a failing hook is rolled back whole and stops the run before its stage's work.
#[test]
fn hooks_run_at_each_stage_in_their_own_transaction() {
    let db = unique("hooks");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE p (id INT PRIMARY KEY); CREATE TABLE c (id INT PRIMARY KEY, p_id INT, KEY (p_id), FOREIGN KEY (p_id) REFERENCES p (id)); INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (10, 1), (11, 2);");
    let dst = fresh_pg(&db);
    psql(&dst, "CREATE TABLE public.hook_log (stage text, tables int, rows_in_c int, indexes int, fks int)");
    let dir = std::env::temp_dir().join(format!("{db}-hooks"));
    std::fs::create_dir_all(&dir).unwrap();
    // What each stage sees: the schema's tables, the rows of c, its indexes and foreign keys.
    let probe = |stage: &str| {
        format!(
            "INSERT INTO public.hook_log SELECT '{stage}', \
               (SELECT count(*) FROM pg_tables WHERE schemaname = '{db}'), \
               (SELECT CASE WHEN to_regclass('\"{db}\".c') IS NULL THEN -1 ELSE (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM \"{db}\".c', false, true, '')))[1]::text::int END), \
               (SELECT count(*) FROM pg_indexes WHERE schemaname = '{db}'), \
               (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = (SELECT oid FROM pg_namespace WHERE nspname = '{db}'));\n"
        )
    };
    for stage in ["before_schema", "after_schema", "before_data", "after_data"] {
        std::fs::write(dir.join(format!("{stage}.sql")), probe(stage)).unwrap();
    }
    std::fs::write(dir.join("second.sql"), "INSERT INTO public.hook_log (stage) VALUES ('after_data 2');").unwrap();
    let config = dir.join("ferry.toml");
    std::fs::write(
        &config,
        "[hooks]\nbefore_schema = \"before_schema.sql\"\nafter_schema = \"after_schema.sql\"\nbefore_data = \"before_data.sql\"\nafter_data = [\"after_data.sql\", \"second.sql\"]\n",
    )
    .unwrap();
    let r = migrate_ok(&["--config", config.to_str().unwrap(), "--source", &src, "--target", &dst, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let hooks = report["hooks"].as_array().unwrap();
    let stages: Vec<&str> = hooks.iter().map(|h| h["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["before_schema", "after_schema", "before_data", "after_data", "after_data"]);
    assert!(hooks.iter().all(|h| h["seconds"].as_f64().is_some() && h.get("error").is_none()), "{hooks:?}");
    let log = psql(&dst, "SELECT stage, tables, rows_in_c, indexes, fks FROM public.hook_log ORDER BY ctid");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "before_schema\t0\t-1\t0\t0", "before_schema: nothing exists yet");
    assert_eq!(lines[1], "after_schema\t2\t0\t0\t0", "after_schema: tables, empty, no index yet");
    assert_eq!(lines[2], "before_data\t2\t0\t0\t0");
    assert!(lines[3].starts_with("after_data\t2\t2\t") && lines[3].ends_with("\t1"), "after_data: rows, keys and the foreign key: {}", lines[3]);
    assert_eq!(lines[4], "after_data 2\t\t\t\t");

    // A failing hook: its own insert rolled back, nothing after it ran, the error names it.
    std::fs::write(dir.join("before_data.sql"), "INSERT INTO public.hook_log (stage) VALUES ('half');\nSELECT no_such_function();\n").unwrap();
    psql(&dst, "TRUNCATE public.hook_log");
    let r = ferry(&["migrate", "--config", config.to_str().unwrap(), "--source", &src, "--target", &dst, "--if-exists", "drop"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("hook before_data (before_data.sql) failed and was rolled back") && r.stderr.contains("no_such_function"), "{}", r.all());
    let log = psql(&dst, "SELECT stage FROM public.hook_log ORDER BY ctid");
    assert_eq!(log.lines().collect::<Vec<_>>(), ["before_schema", "after_schema"], "the failed file left nothing and later stages did not run");
    assert_eq!(count(&dst, &format!("SELECT count(*) FROM \"{db}\".c")), 0, "no row loaded after a failed before_data hook");

    // A missing hook file stops the run before anything is written.
    std::fs::remove_file(dir.join("second.sql")).unwrap();
    let r = ferry(&["migrate", "--config", config.to_str().unwrap(), "--source", &src, "--target", &dst, "--if-exists", "drop"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("[hooks] after_data: cannot read") && r.stderr.contains("second.sql"), "{}", r.all());
    let _ = std::fs::remove_dir_all(dir);
}
