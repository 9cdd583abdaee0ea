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

/// Runs `ferry init` into a fresh file; returns (the file's text, the JSON it printed).
fn init(name: &str, args: &[&str]) -> (std::path::PathBuf, String, serde_json::Value) {
    let path = std::env::temp_dir().join(format!("{name}-ferry.toml"));
    let _ = std::fs::remove_file(&path);
    let mut full = vec!["init", "-o", path.to_str().unwrap(), "--json"];
    full.extend_from_slice(args);
    let r = ferry(&full);
    assert_eq!(r.status, 0, "ferry init failed:\n{}", r.all());
    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("init --json printed no JSON ({e}):\n{}", r.all()));
    // The file parses back to the config ferry says it wrote.
    let parsed: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("the written file does not parse: {e}\n{text}"));
    let parsed = serde_json::to_value(parsed).unwrap();
    for section in ["source", "target", "rules", "migrate"] {
        for (k, v) in parsed[section].as_object().unwrap() {
            if json["config"][section][k].is_object() {
                continue;
            }
            assert_eq!(&json["config"][section][k], v, "{section}.{k} in the file differs from the config:\n{text}");
        }
    }
    (path, text, json)
}

/// `ferry init` on Sakila writes a commented config (every table with its row estimate, every
/// rule with its choices, no password) that `plan` and `migrate` take unchanged; `init` refuses
/// to overwrite a file without --force.
#[test]
fn init_on_sakila_writes_a_config_that_plans_and_migrates_unchanged() {
    let db = unique("init_sakila");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);
    // A password in the target URL (the test server trusts loopback, so any password works).
    let with_pw = dst.replacen("://postgres@", "://postgres:s3cret-pw@", 1);
    assert_ne!(with_pw, dst, "the test URL has the postgres user: {dst}");
    let (path, text, json) = init(&db, &["--source", &src, "--target", &with_pw]);
    assert!(!text.contains("s3cret-pw"), "the password was written:\n{text}");
    assert!(text.contains("FERRY_TARGET_PASSWORD"), "{text}");
    for part in ["[source]", "[rules]", "zero_dates = \"error\"", "| null | -infinity", "[migrate]", "# [hooks]", "rental", "~"] {
        assert!(text.contains(part), "the file lacks {part:?}:\n{text}");
    }
    assert_eq!(json["tables"].as_array().unwrap().len(), 16);
    for t in json["tables"].as_array().unwrap() {
        assert!(text.contains(&format!(".\"{}\"  ~", t["target"].as_str().unwrap())), "table {} is not listed:\n{text}", t["source"]);
    }
    let again = ferry(&["init", "--source", &src, "-o", path.to_str().unwrap()]);
    assert_ne!(again.status, 0);
    assert!(again.stderr.contains("--force"), "{}", again.all());

    let config = path.to_str().unwrap();
    let plan = ferry(&["plan", "--config", config]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    migrate_ok(&["--config", config, "--quiet"]);
    verify_equal(&["--config", config]);
}

/// `ferry init` on a schema of the type families, with data the defaults would refuse (zero
/// dates in NOT NULL columns and defaults, MySQL's invalid ENUM value): the written config sets
/// the overrides that keep the data, says why, and migrates unchanged; other flagged columns are
/// commented overrides pre-filled with their planned type.
#[test]
fn init_on_the_type_families_writes_the_overrides_the_data_needs() {
    let db = unique("init_types");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "SET SESSION sql_mode = '';
         CREATE TABLE t (
           id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
           flag TINYINT(1) NOT NULL DEFAULT 0,
           small SMALLINT UNSIGNED, big BIGINT UNSIGNED,
           price DECIMAL(12,3), ratio DOUBLE,
           born DATE, seen DATETIME(3) NOT NULL DEFAULT '0000-00-00 00:00:00.000', took TIME,
           name VARCHAR(40), body TEXT, raw VARBINARY(16), doc JSON,
           mood ENUM('ok','bad') NOT NULL, tags SET('a','b'), bits BIT(4)
         );
         INSERT INTO t (flag, small, big, price, ratio, born, seen, took, name, body, raw, doc, mood, tags, bits) VALUES
           (1, 65535, 18446744073709551615, 123456789.125, 1.5e300, '2020-02-29', '2021-01-01 10:00:00.125', '838:59:59', 'a', 'long text', x'00ff', '{\"a\": 1}', 'ok', 'a,b', b'1010'),
           (0, 0, 0, -1.5, -0.0, '0000-00-00', '0000-00-00 00:00:00', '-01:00:00', 'b', '', 'text', '[1, 2]', '', '', b'0000');",
    );
    let dst = fresh_pg(&db);
    let (path, text, json) = init(&db, &["--source", &src, "--target", &dst]);
    let flagged = json["flagged"].as_array().unwrap();
    let active = |col: &str| flagged.iter().find(|f| f["column"] == col).and_then(|f| f["active"].as_str()).map(str::to_string);
    assert!(active("born").is_some_and(|w| w.contains("zero dates")), "{text}");
    assert!(active("seen").is_some(), "{text}");
    assert!(active("mood").is_some_and(|w| w.contains("invalid ENUM")), "{text}");
    assert!(text.contains("[tables.t.columns.born]\nzero_dates = \"-infinity\""), "{text}");
    assert!(text.contains("[tables.t.columns.mood]\ntype = \"text\""), "{text}");
    assert!(flagged.iter().any(|f| f["active"].is_null()), "some flagged columns are commented overrides: {text}");
    assert!(text.contains("# [tables.t.columns."), "{text}");

    let config = path.to_str().unwrap();
    migrate_ok(&["--config", config, "--quiet"]);
    verify_equal(&["--config", config]);
    assert_eq!(psql(&dst, &format!("SELECT born, seen, mood FROM \"{db}\".t WHERE id = 2")).trim_end_matches('\n'), "-infinity\t-infinity\t");
}

/// `ferry init --citus` on Sakila suggests reference tables for the small lookup tables and a
/// distribution the plan accepts: no Citus refusal in the plan, each table left local says why.
#[test]
fn init_citus_suggestion_is_accepted_by_the_plan() {
    let db = unique("init_citus");
    let src = load_sakila(&db);
    let (path, text, json) = init(&db, &["--source", &src, "--citus"]);
    let citus = &json["config"]["target"]["citus"];
    let reference: Vec<&str> = citus["reference"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for t in ["country", "city", "language", "category"] {
        assert!(reference.contains(&t), "{t} is a small lookup table: {text}");
    }
    assert!(!citus["distributed"].as_object().unwrap().is_empty(), "something is distributed: {text}");
    let plan = ferry(&["plan", "--config", path.to_str().unwrap(), "--json"]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let refused: Vec<&serde_json::Value> = p["assessment"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["severity"] == "action" && i["message"].as_str().unwrap().starts_with("citus:") && !i["message"].as_str().unwrap().contains(" became "))
        .collect();
    // The suggestion for Sakila: customer, rental and payment by customer_id, keys extended
    // on the target, FK actions Citus cannot run downgraded (each an action item).
    assert_eq!(citus["distributed"]["rental"]["column"], "customer_id", "{text}");
    assert_eq!(citus["distributed"]["payment"]["extend_key"], true, "{text}");
    assert!(text.contains("downgrade_fk_actions = true"), "{text}");
    assert!(refused.is_empty(), "the plan refuses the suggestion: {refused:?}\n{text}");
    for n in json["citus_notes"].as_array().into_iter().flatten() {
        assert!(text.contains(n.as_str().unwrap()), "the note {n} is in the file");
    }
}
