//! Schemas in the style of popular open-source applications, migrated as their users would: the
//! first run must work, and every change of meaning must be said. Each test is named after the
//! pattern it pins (issue 15, section 0).

mod common;
use common::*;

/// `ferry plan --json` for `args`: the assessment items.
fn plan_items(args: &[&str]) -> Vec<serde_json::Value> {
    let mut full = vec!["plan", "--json"];
    full.extend_from_slice(args);
    let r = ferry(&full);
    assert_eq!(r.status, 0, "ferry plan failed:\n{}", r.all());
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["assessment"]["items"].as_array().unwrap().clone()
}

fn actions(items: &[serde_json::Value]) -> Vec<String> {
    items.iter().filter(|i| i["severity"] == "action").map(|i| format!("{}: {}", i["object"], i["message"])).collect()
}

/// A Laravel/WordPress-style schema: `bigint unsigned` keys and foreign keys, zero-date defaults
/// and values in NOT NULL columns, a BINARY default, prefix indexes on BLOB/TEXT columns.
const APP_SCHEMA: &str = "SET SESSION sql_mode = '';
CREATE TABLE users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(191) NOT NULL,
  created_at TIMESTAMP NULL DEFAULT NULL,
  UNIQUE KEY users_email_unique (email)
) ENGINE=InnoDB;
CREATE TABLE posts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  parent_id BIGINT UNSIGNED NULL,
  views BIGINT UNSIGNED NOT NULL DEFAULT 0,
  post_date DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
  post_day DATE NOT NULL DEFAULT '0000-00-00',
  content LONGTEXT NOT NULL,
  token BINARY(4) NOT NULL DEFAULT '',
  flags BIT(16) NOT NULL DEFAULT b'0',
  slug BLOB,
  KEY posts_slug (slug(60)),
  KEY posts_content (content(100)),
  CONSTRAINT posts_user_id_foreign FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT posts_parent_foreign FOREIGN KEY (parent_id) REFERENCES posts (id)
) ENGINE=InnoDB;
INSERT INTO users (name, email, created_at) VALUES ('ann', 'ann@example.org', '2024-01-02 03:04:05'), ('bob', 'bob@example.org', NULL);
INSERT INTO posts (user_id, views, post_date, post_day, content, token, slug) VALUES
  (1, 18446744073709551, '2024-05-06 07:08:09', '2024-05-06', REPEAT('long text ', 1000), 'abcd', 'hello'),
  (2, 0, DEFAULT, DEFAULT, 'draft', DEFAULT, CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024)));
UPDATE posts SET parent_id = 1 WHERE id = 2;";

#[test]
fn application_schema_migrates_on_the_first_try_with_zero_dates_as_minus_infinity() {
    let db = unique("appschema");
    let src = fresh_mysql(&db);
    mysql(Some(&db), APP_SCHEMA);
    let dst = fresh_pg(&db);

    // The default rule (zero_dates = "error") predicts the failure in the plan, with the remedy.
    let items = plan_items(&["--source", &src]);
    let acts = actions(&items);
    assert!(acts.iter().any(|a| a.contains("posts.post_date") && a.contains("1 rows hold zero or partial dates") && a.contains("-infinity")), "{acts:#?}");
    assert!(acts.iter().any(|a| a.contains("posts.post_day") && a.contains("zero-date default")), "{acts:#?}");

    let cfg = write_config(&db, "[target]\nschema = \"app\"\n[rules]\nzero_dates = \"-infinity\"\n");
    let cfg = cfg.to_str().unwrap();
    let items = plan_items(&["--config", cfg, "--source", &src]);
    assert_eq!(actions(&items), Vec::<String>::new(), "no action item the plan could have avoided");
    let r = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert!(!r.all().contains("FAILED"), "{}", r.all());

    // bigint unsigned: keys and the columns referencing them are bigint, the FK exists.
    assert_eq!(
        psql(&dst, "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'posts' AND column_name IN ('id', 'user_id', 'parent_id', 'views')").trim(),
        "id bigint, user_id bigint, parent_id bigint, views bigint"
    );
    assert_eq!(
        psql(
            &dst,
            "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'app.posts'::regclass AND contype = 'f' AND convalidated"
        )
        .trim(),
        "posts_parent_foreign,posts_user_id_foreign"
    );
    // Zero dates: values and defaults are -infinity, NOT NULL kept, inserts omitting them work.
    assert_eq!(psql(&dst, "SELECT post_date, post_day FROM app.posts WHERE id = 2"), "-infinity\t-infinity\n");
    assert_eq!(
        psql(&dst, "SELECT string_agg(column_name || ' ' || is_nullable || ' ' || coalesce(column_default, '-'), '; ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'posts' AND column_name IN ('post_date', 'post_day', 'token')").trim(),
        "post_date NO '-infinity'::timestamp without time zone; post_day NO '-infinity'::date; token NO '\\x00000000'::bytea"
    );
    psql(&dst, "INSERT INTO app.posts (user_id, content) VALUES (1, 'inserted by the ported application')");
    assert_eq!(psql(&dst, "SELECT post_date, encode(token, 'hex') FROM app.posts WHERE content LIKE 'inserted%'"), "-infinity\t00000000\n");
    psql(&dst, "DELETE FROM app.posts WHERE content LIKE 'inserted%'");
    // Prefix indexes index the prefix: a 4 kB random BLOB fits.
    let defs =
        psql(&dst, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'posts' AND indexname LIKE 'posts_posts%' ORDER BY indexname");
    assert!(defs.contains("\"substring\"(slug, 1, 60)") || defs.contains("SUBSTRING(slug FROM 1 FOR 60)"), "{defs}");
    assert!(defs.contains("\"left\"(content, 100)") || defs.contains("left(content, 100)"), "{defs}");

    let report = verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(hash_mismatches(&report), Vec::<String>::new());

    // Through sync the same rule holds, counted.
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(Some(&db), "SET SESSION sql_mode = ''; INSERT INTO posts (user_id, content) VALUES (2, 'another draft');");
    let r = ferry(&["sync", "--config", cfg, "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT post_date FROM app.posts WHERE content = 'another draft'").trim(), "-infinity");
    let st: serde_json::Value = serde_json::from_str(&ferry(&["status", "--config", cfg, "--target", &dst, "--json"]).stdout).unwrap();
    let posts = st[0]["tables"].as_array().unwrap().iter().find(|t| t["table"] == "posts").unwrap().clone();
    assert_eq!(posts["zero_dates_infinity"], 2, "post_date and post_day of the streamed row: {posts}");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

#[test]
fn zero_dates_null_rule_drops_not_null_where_the_data_or_default_needs_it() {
    let db = unique("appnull");
    let src = fresh_mysql(&db);
    mysql(Some(&db), APP_SCHEMA);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"app\"\n[rules]\nzero_dates = \"null\"\n[tables.posts.columns.token]\ndefault = false\n");
    let cfg = cfg.to_str().unwrap();
    let items = plan_items(&["--config", cfg, "--source", &src]);
    let warned: Vec<String> =
        items.iter().filter(|i| i["message"].as_str().unwrap().starts_with("NOT NULL dropped")).map(|i| i["object"].to_string()).collect();
    assert_eq!(warned, ["\"posts.post_date\"", "\"posts.post_day\""], "{items:#?}");
    let r = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let posts = report["tables"].as_array().unwrap().iter().find(|t| t["target"] == "posts").unwrap();
    assert_eq!(posts["zero_dates_nulled"], 2, "counted");
    assert_eq!(psql(&dst, "SELECT post_date IS NULL, post_day IS NULL FROM app.posts WHERE id = 2"), "t\tt\n");
    assert_eq!(
        psql(&dst, "SELECT coalesce(column_default, '-') FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'posts' AND column_name = 'token'").trim(),
        "-",
        "default = false drops the default"
    );
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

#[test]
fn zero_dates_in_a_text_override_pass_as_written() {
    let db = unique("apptext");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "SET SESSION sql_mode = '';
         CREATE TABLE ev (id INT PRIMARY KEY, at DATETIME(3) NOT NULL, d DATE NOT NULL);
         INSERT INTO ev VALUES (1, '0000-00-00 00:00:00', '0000-00-00'), (2, '2024-01-02 03:04:05.678', '2024-01-02');",
    );
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"s\"\n[tables.ev.columns.at]\ntype = \"text\"\n[tables.ev.columns.d]\ntype = \"varchar(10)\"\n");
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(psql(&dst, "SELECT at, d FROM s.ev ORDER BY id"), "0000-00-00 00:00:00.000\t0000-00-00\n2024-01-02 03:04:05.678\t2024-01-02\n");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

#[test]
fn bigint_unsigned_above_bigint_stays_numeric_and_says_so() {
    let db = unique("appbig");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE c (id INT PRIMARY KEY, n BIGINT UNSIGNED, small BIGINT UNSIGNED); INSERT INTO c VALUES (1, 18446744073709551615, 5);");
    let items = plan_items(&["--source", &src]);
    let msg = |o: &str| items.iter().find(|i| i["object"] == o).map(|i| i["message"].as_str().unwrap().to_string()).unwrap_or_default();
    assert!(msg("c.n").contains("numeric(20,0)"), "{items:#?}");
    assert!(msg("c.small").contains("→ bigint: every stored value fits"), "{items:#?}");
    let dst = fresh_pg(&db);
    migrate_ok(&["--source", &src, "--target", &dst, "--schema", "s", "--quiet"]);
    assert_eq!(psql(&dst, "SELECT n, small, pg_typeof(small) FROM s.c"), "18446744073709551615\t5\tbigint\n");
    verify_equal(&["--source", &src, "--target", &dst, "--schema", "s"]);
}

#[test]
fn unique_prefix_index_is_an_action_item_with_its_sql() {
    let db = unique("appuprefix");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE w (id INT PRIMARY KEY, title VARBINARY(255), UNIQUE KEY w_title (title(20)));");
    let items = plan_items(&["--source", &src]);
    let item = items.iter().find(|i| i["severity"] == "action" && i["object"].as_str().unwrap().contains("w_title")).unwrap_or_else(|| panic!("{items:#?}"));
    assert!(item["sql"].as_str().unwrap().contains("CREATE UNIQUE INDEX"), "{item}");
    assert!(item["sql"].as_str().unwrap().contains("substring(\"title\" from 1 for 20)"), "{item}");
}

#[test]
fn tables_with_more_than_100_columns_verify_repair_and_cut_over() {
    let db = unique("appwide");
    let src = fresh_mysql(&db);
    let cols: Vec<String> = (0..130).map(|i| format!("c{i} INT{}", if i % 2 == 0 { " NOT NULL DEFAULT 0" } else { "" })).collect();
    mysql(Some(&db), &format!("CREATE TABLE wide (id INT PRIMARY KEY, {}); INSERT INTO wide (id, c1, c129) VALUES (1, 5, 7), (2, NULL, 8);", cols.join(", ")));
    let dst = fresh_pg(&db);
    let sync = ferry(&["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up", "--quiet"]);
    assert_eq!(sync.status, 0, "{}", sync.all());
    verify_equal(&["--source", &src, "--target", &dst, "--schema", "s"]);
    psql(&dst, "UPDATE s.wide SET c129 = 99 WHERE id = 2");
    let (status, _) = verify_json(&["--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(status, 1, "a change in the 130th column is seen");
    let r = ferry(&["verify", "--source", &src, "--target", &dst, "--schema", "s", "--repair"]);
    assert_eq!(r.status, 0, "{}", r.all());
    let c = ferry(&["cutover", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(c.status, 0, "{}", c.all());
}

#[test]
fn cutover_is_recorded_only_when_its_final_verify_holds() {
    let db = unique("appcut");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1), (2, 2);");
    let dst = fresh_pg(&db);
    let sync = ferry(&["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up", "--quiet"]);
    assert_eq!(sync.status, 0, "{}", sync.all());
    // A difference the stream will not fix (written on the target only).
    psql(&dst, "UPDATE s.t SET v = 42 WHERE id = 2");
    let c = ferry(&["cutover", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(c.status, 1, "{}", c.all());
    assert!(c.all().contains("not cut over"), "{}", c.all());
    let s = ferry(&["status", "--source", &src, "--target", &dst, "--schema", "s", "--json"]);
    assert!(!s.stdout.contains("cut over"), "not recorded:\n{}", s.stdout);
    // Fixed, cutover runs again and is recorded.
    psql(&dst, "UPDATE s.t SET v = 2 WHERE id = 2");
    let c = ferry(&["cutover", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(c.status, 0, "{}", c.all());
    let s = ferry(&["status", "--source", &src, "--target", &dst, "--schema", "s", "--json"]);
    assert!(s.stdout.contains("cut over"), "{}", s.stdout);
}

#[test]
fn verify_is_equal_only_when_the_planned_structure_is_there_too() {
    let db = unique("appstruct");
    let src = fresh_mysql(&db);
    mysql(Some(&db), APP_SCHEMA);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"app\"\n[rules]\nzero_dates = \"-infinity\"\n");
    let cfg = cfg.to_str().unwrap();
    let r = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["structure"], serde_json::json!([]), "migrate checked the structure");
    let d = ferry(&["diff", &src, &dst, "--config", cfg, "--b-schema", "app"]);
    assert_eq!(d.status, 0, "diff right after migrate finds nothing:\n{}", d.all());
    // The data stays equal, but a foreign key, an index and a default go missing.
    psql(
        &dst,
        "ALTER TABLE app.posts DROP CONSTRAINT posts_user_id_foreign; DROP INDEX app.posts_posts_slug; ALTER TABLE app.posts ALTER COLUMN token DROP DEFAULT",
    );
    let (status, report) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(status, 1, "{report:#}");
    assert_eq!(report["equal"], false);
    let structure: Vec<String> = report["structure"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert!(structure.iter().any(|s| s.starts_with("missing foreign key posts.posts_user_id_foreign")), "{structure:#?}");
    assert!(structure.iter().any(|s| s.starts_with("missing index posts.")), "{structure:#?}");
    assert!(structure.iter().any(|s| s.contains("column posts.token default")), "{structure:#?}");
    assert!(report["tables"].as_array().unwrap().iter().all(|t| t["status"] == "equal"), "the rows are equal: {report:#}");
}

#[test]
fn plan_lists_every_bad_enum_column_and_every_non_transactional_table_at_once() {
    let db = unique("appenum");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "SET SESSION sql_mode = '';
         CREATE TABLE a (id INT PRIMARY KEY, e ENUM('x','y'), f ENUM('p','q')) ENGINE=InnoDB;
         INSERT INTO a VALUES (1, 'zzz', 'p'), (2, 'x', 'nope');
         CREATE TABLE legacy (id INT PRIMARY KEY) ENGINE=MyISAM;",
    );
    let items = plan_items(&["--source", &src]);
    let acts = actions(&items);
    assert!(acts.iter().any(|a| a.contains("a.e") && a.contains("1 rows hold MySQL's invalid ENUM value")), "{acts:#?}");
    assert!(acts.iter().any(|a| a.contains("a.f") && a.contains("invalid ENUM value")), "both columns in one run: {acts:#?}");
    assert!(items.iter().any(|i| i["object"] == "legacy" && i["message"].as_str().unwrap().contains("not transactional")), "{items:#?}");
    let dst = fresh_pg(&db);
    let check = ferry(&["sync", "--source", &src, "--target", &dst, "--check"]);
    assert!(check.all().contains("not transactional") && check.all().contains("legacy (MyISAM)"), "{}", check.all());
    // The load marks it too.
    let cfg = write_config(&db, "[target]\nschema = \"m\"\n[rules]\ninclude = [\"legacy\"]\n");
    let r = migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert!(r.all().contains("read outside the snapshot: MyISAM"), "{}", r.all());
}

#[test]
fn json_with_duplicate_keys_or_nul_is_refused_with_its_key_or_kept_by_rule() {
    let db = unique("appjson");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        r#"CREATE TABLE j (id INT PRIMARY KEY, doc JSON);
           INSERT INTO j VALUES (1, '{"a": 1}'), (2, '{"a": 1, "a": 2}');
           CREATE TABLE n (id INT PRIMARY KEY, doc JSON);
           INSERT INTO n VALUES (7, '{"s": "x\\u0000y"}');"#,
    );
    let dst = fresh_pg(&db);
    let r = ferry(&["migrate", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(r.status, 1, "{}", r.all());
    assert!(r.all().contains("table `j`, column `doc`, key (id)=(2)") && r.all().contains("\"a\" twice"), "{}", r.all());
    assert!(r.all().contains("table `n`, column `doc`, key (id)=(7)") && r.all().contains("NUL"), "{}", r.all());
    let cfg = write_config(&db, "[target]\nschema = \"s2\"\n[rules]\njson_duplicate_keys = \"last\"\n[tables.n.columns.doc]\ntype = \"json\"\n");
    let cfg = cfg.to_str().unwrap();
    let r = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let j = report["tables"].as_array().unwrap().iter().find(|t| t["target"] == "j").unwrap();
    assert_eq!(j["json_duplicate_keys"], 1, "counted");
    assert_eq!(psql(&dst, "SELECT doc->>'a' FROM s2.j WHERE id = 2").trim(), "2");
    assert!(psql(&dst, "SELECT doc::text FROM s2.n").contains("\\u0000"), "json keeps the text");
}

#[test]
fn legacy_charset_text_is_decoded_from_its_stored_bytes_in_load_verify_and_sync() {
    let db = unique("appgbk");
    let src = fresh_mysql(&db);
    // 0xC4E3 0xBAC3 = 你好 in gbk; 0xA380 is a gbk code MariaDB's table has no Unicode for.
    mysql(
        Some(&db),
        "CREATE TABLE g (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET gbk);
         INSERT INTO g VALUES (1, X'C4E3BAC3'), (2, 'plain');",
    );
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT v FROM s.g ORDER BY id"), "你好\nplain\n");
    verify_equal(&["--source", &src, "--target", &dst, "--schema", "s"]);
    // Through the binlog, decoded the same way.
    mysql(Some(&db), "INSERT INTO g VALUES (3, X'C4E3'); UPDATE g SET v = X'BAC3' WHERE id = 2;");
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT v FROM s.g ORDER BY id"), "你好\n好\n你\n");
    verify_equal(&["--source", &src, "--target", &dst, "--schema", "s"]);
    // A target value that went through a lossy conversion is seen: verify compares the stored bytes.
    psql(&dst, "UPDATE s.g SET v = '?' WHERE id = 3");
    let (status, _) = verify_json(&["--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(status, 1);
    // 0xA380: MariaDB's gbk table has no character for it (its own conversion gives '?'); ferry
    // decodes the stored bytes (GB18030's U+E5C5), and verify, which cannot confirm that value
    // through the server, reports it rather than calling it equal.
    mysql(Some(&db), "CREATE TABLE pua (id INT PRIMARY KEY, v VARCHAR(20) CHARACTER SET gbk); INSERT INTO pua VALUES (9, X'41A380');");
    assert_eq!(mysql(Some(&db), "SELECT HEX(CONVERT(v USING utf8mb4)) FROM pua").trim(), "413F", "the server's conversion is lossy");
    let dst2 = fresh_pg(&format!("{db}_b"));
    let cfg = write_config(&format!("{db}_b"), "[target]\nschema = \"s\"\n[rules]\ninclude = [\"pua\"]\n");
    migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst2, "--quiet"]);
    assert_eq!(psql(&dst2, "SELECT v FROM s.pua").trim(), "A\u{e5c5}");
    let (status, report) = verify_json(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst2]);
    assert_eq!(status, 1, "a value the server cannot convert is never EQUAL through its conversion: {report:#}");
}

#[test]
fn small_words_report_status_pipe_mermaid_collations_are_right() {
    let db = unique("appwords");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(18,0), name VARCHAR(20) COLLATE utf8mb4_general_ci); INSERT INTO t VALUES (1, 5, 'a');",
    );
    // The collation warning names its columns.
    let items = plan_items(&["--source", &src]);
    let coll = items.iter().find(|i| i["object"] == "collations").unwrap_or_else(|| panic!("{items:#?}"));
    assert!(coll["message"].as_str().unwrap().contains("utf8mb4_general_ci: t.name"), "{coll}");
    let dst = fresh_pg(&db);
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    // The report shows the sync's full load as the last migrate.
    let html = std::env::temp_dir().join(format!("{db}.html"));
    let r = ferry(&["report", "--source", &src, "--target", &dst, "--schema", "s", "--html", html.to_str().unwrap()]);
    assert_eq!(r.status, 0, "{}", r.all());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("No <code>ferry migrate</code> has run"), "the sync's full load is a migrate");
    // A closed pipe ends `ferry status` quietly: the reader is gone before ferry writes a byte
    // (`true` reads nothing), so the first write meets a closed pipe.
    let out =
        std::process::Command::new("sh").arg("-c").arg(format!("'{}' status --target '{dst}' --json | true", env!("CARGO_BIN_EXE_ferry"))).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    // Mermaid keeps the type whole (in the comment where its alphabet has no room).
    let m = ferry(&["erd", &dst, "--schema", "s"]);
    assert!(m.stdout.contains("numeric amount \"numeric(18,0)\""), "{}", m.stdout);
}

#[test]
fn varbinary_holding_utf8_text_is_hinted_and_becomes_text_by_rule() {
    let db = unique("appvarbin");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE page (id INT PRIMARY KEY, title VARBINARY(255) NOT NULL, blob_data BLOB);
         INSERT INTO page VALUES (1, 'Main_Page', X'00FF'), (2, 'Café_Ünïcode', NULL);
         ANALYZE TABLE page;",
    );
    let items = plan_items(&["--source", &src]);
    let msg = |o: &str| items.iter().find(|i| i["object"] == o).map(|i| i["message"].as_str().unwrap().to_string()).unwrap_or_default();
    assert!(msg("page.title").contains("every stored value is UTF-8 text"), "{items:#?}");
    assert!(msg("page.blob_data").is_empty(), "real bytes get no hint: {items:#?}");
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"w\"\n[rules]\nutf8_binary = \"text\"\n");
    let cfg = cfg.to_str().unwrap();
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    assert_eq!(psql(&dst, "SELECT pg_typeof(title), pg_typeof(blob_data) FROM w.page LIMIT 1").trim(), "text\tbytea");
    assert_eq!(psql(&dst, "SELECT title FROM w.page ORDER BY id"), "Main_Page\nCafé_Ünïcode\n");
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
}

#[test]
fn text_in_a_charset_ferry_has_no_table_for_is_refused_unless_plain() {
    let db = unique("apparm");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET armscii8); INSERT INTO a VALUES (1, 'plain'), (2, X'B2B3');");
    let dst = fresh_pg(&db);
    let r = ferry(&["migrate", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(r.status, 1, "{}", r.all());
    assert!(r.all().contains("table `a`, column `v`, key (id)=(2)") && r.all().contains("armscii8"), "{}", r.all());
    mysql(Some(&db), "DELETE FROM a WHERE id = 2;");
    migrate_ok(&["--source", &src, "--target", &dst, "--schema", "s", "--if-exists", "drop", "--quiet"]);
    assert_eq!(psql(&dst, "SELECT v FROM s.a").trim(), "plain");
}
