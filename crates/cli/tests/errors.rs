//! Bad input: every case ends in a clear error that names what and where, a non-zero exit code,
//! and nothing half-written left unexplained.

mod common;
use common::*;

fn assert_fails(r: &Ferry, needles: &[&str]) {
    assert_ne!(r.status, 0, "expected failure:\n{}", r.all());
    for n in needles {
        assert!(r.all().contains(n), "output lacks {n:?}:\n{}", r.all());
    }
}

#[test]
fn unreachable_servers_are_named_and_passwords_hidden() {
    let dst = fresh_pg(&unique("unreach"));
    let r = ferry(&["migrate", "--source", "mysql://root:Sup3rSecret@127.0.0.1:1/shop", "--target", &dst]);
    assert_fails(&r, &["cannot reach the MySQL server", "127.0.0.1:1", "`shop`"]);
    assert!(!r.all().contains("Sup3rSecret"), "password printed:\n{}", r.all());

    let db = unique("unreach_src");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY);");
    let r = ferry(&["migrate", "--source", &src, "--target", "postgres://postgres:Sup3rSecret@127.0.0.1:1/app"]);
    assert_fails(&r, &["PostgreSQL target 127.0.0.1:1", "\"app\""]);
    assert!(!r.all().contains("Sup3rSecret"));
}

#[test]
fn bad_credentials() {
    let db = unique("creds");
    let src = fresh_mysql(&db);
    mysql(None, &format!("CREATE USER IF NOT EXISTS 'ferry_creds'@'%' IDENTIFIED BY 'right'; GRANT SELECT ON `{db}`.* TO 'ferry_creds'@'%';"));
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY);");
    let bad = src.replace("root@", "ferry_creds:wrong@");
    let r = ferry(&["plan", "--source", &bad]);
    assert_fails(&r, &["Access denied", "check the user name and password"]);
    assert!(!r.all().contains(":wrong@"));
    // The password may also come from the environment instead of the URL.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["plan", "--source", &src.replace("root@", "ferry_creds@")])
        .env("FERRY_SOURCE_PASSWORD", "right")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let dst = fresh_pg(&db).replace("postgres@", "no_such_role@");
    let r = ferry(&["migrate", "--source", &src, "--target", &dst]);
    assert_fails(&r, &["role \"no_such_role\" does not exist"]);
}

#[test]
fn missing_source_privileges() {
    let db = unique("priv_src");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE secret (id INT PRIMARY KEY, v INT); INSERT INTO secret VALUES (1, 2);");
    // No privilege at all: the database is invisible.
    mysql(None, "CREATE USER IF NOT EXISTS 'ferry_none'@'%'; CREATE USER IF NOT EXISTS 'ferry_ins'@'%';");
    let r = ferry(&["plan", "--source", &src.replace("root@", "ferry_none@")]);
    assert_fails(&r, &["Access denied for user 'ferry_none'", &format!("`{db}`"), "grant the source user SELECT"]);
    // INSERT but no SELECT: the table is listed, reading it is refused.
    mysql(None, &format!("GRANT INSERT ON `{db}`.* TO 'ferry_ins'@'%';"));
    let dst = fresh_pg(&db);
    let r = ferry(&["migrate", "--source", &src.replace("root@", "ferry_ins@"), "--target", &dst, "--schema", "s"]);
    assert_fails(&r, &["SELECT command denied", "secret", "grant the source user SELECT", "FAILED (table is empty)"]);
}

#[test]
fn missing_target_privileges() {
    let db = unique("priv_dst");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY);");
    let dst = fresh_pg(&db);
    psql(&dst, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_weak') THEN CREATE ROLE ferry_weak LOGIN; END IF; END $$;");
    let weak = dst.replace("postgres@", "ferry_weak@");
    let r = ferry(&["migrate", "--source", &src, "--target", &weak, "--schema", "s"]);
    assert_fails(&r, &["permission denied", "grant the target user CREATE", "nothing was created"]);
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 's'").trim(), "0");
}

#[test]
fn unknown_table_or_column_in_a_rule() {
    let db = unique("rules");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY);");
    let cfg = write_config(&db, "[tables.nope]\nrename = \"x\"\n[tables.t.columns.ghost]\ntype = \"text\"\n");
    let r = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_fails(&r, &["[tables.\"nope\"]", "[tables.\"t\".columns.\"ghost\"]", "nothing was written"]);
    let cfg = write_config(&format!("{db}_2"), "[rules]\ninclude = [\"zz%\"]\n");
    let r = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_fails(&r, &["no table of source database", "zz%"]);
    let cfg = write_config(&format!("{db}_3"), "[rules]\nincluded = [\"t\"]\n");
    let r = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src]);
    assert_fails(&r, &["unknown field", "included"]);
}

#[test]
fn unsupported_type_needs_an_override() {
    let db = unique("unsupported");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE hosts (id INT PRIMARY KEY, addr INET6); INSERT INTO hosts VALUES (1, '2001:db8::1'), (2, '::ffff:10.0.0.1');");
    let dst = fresh_pg(&db);
    let r = ferry(&["migrate", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_fails(&r, &["`hosts`.`addr`", "inet6", "type = \""]);
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 's'").trim(), "0", "nothing written");
    let cfg = write_config(&db, "[tables.hosts.columns.addr]\ntype = \"inet\"\n");
    migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--schema", "s", "--quiet"]);
    assert_eq!(psql(&dst, "SELECT addr FROM s.hosts ORDER BY id"), "2001:db8::1\n::ffff:10.0.0.1\n");
}

#[test]
fn zero_date_under_error_policy_names_table_column_and_key() {
    let db = unique("zero_err");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "SET SESSION sql_mode = '';
         CREATE TABLE good (id INT PRIMARY KEY); INSERT INTO good VALUES (1), (2);
         CREATE TABLE events (id INT PRIMARY KEY, happened DATETIME NULL);
         INSERT INTO events VALUES (1, '2020-01-01'), (7, '0000-00-00 00:00:00');",
    );
    let dst = fresh_pg(&db);
    let r = ferry(&["migrate", "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_eq!(r.status, 1, "{}", r.all());
    assert_fails(&r, &["table `events`, column `happened`, key (id)=(7)", "zero_dates", "FAILED (table is empty)", "--if-exists drop"]);
    assert_eq!(psql(&dst, "SELECT (SELECT count(*) FROM s.events), (SELECT count(*) FROM s.good)").trim(), "0\t2", "failed table empty, others loaded");
    // A NOT NULL column under the null policy: the plan saw the zero date, so the column loses
    // its NOT NULL (said in the plan) instead of failing.
    mysql(Some(&db), "SET SESSION sql_mode = ''; CREATE TABLE strict_ (id INT PRIMARY KEY, d DATE NOT NULL); INSERT INTO strict_ VALUES (3, '0000-00-00');");
    let cfg = write_config(&db, "[rules]\nzero_dates = \"null\"\ninclude = [\"strict_\"]\n");
    let r = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--schema", "s2"]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT d IS NULL FROM s2.strict_").trim(), "t");
}

#[test]
fn identifier_collisions_are_refused_until_renamed() {
    let db = unique("collide");
    let src = fresh_mysql(&db);
    let long = "x".repeat(63);
    // MariaDB column names ignore case, so the column collision comes from the 63-byte cut:
    // 33 characters, 65 bytes.
    let wide = "é".repeat(32);
    mysql(Some(&db), &format!("CREATE TABLE `Foo` (id INT PRIMARY KEY, `{wide}1` INT, `{wide}2` INT); CREATE TABLE `foo` (id INT PRIMARY KEY);"));
    mysql(Some(&db), &format!("CREATE TABLE `{long}a` (id INT PRIMARY KEY); CREATE TABLE `{long}b` (id INT PRIMARY KEY);"));
    let r = ferry(&["plan", "--source", &src]);
    assert_fails(&r, &["tables `Foo`, `foo` all become \"foo\"", &format!("columns `{wide}1`, `{wide}2` all become"), &format!("`{long}a`, `{long}b`")]);
    let cfg = write_config(
        &db,
        &format!("[tables.Foo]\nrename = \"foo_upper\"\n[tables.Foo.columns.\"{wide}2\"]\nrename = \"second\"\n[tables.{long}b]\nrename = \"long_b\"\n"),
    );
    let dst = fresh_pg(&db);
    migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--schema", "s", "--quiet"]);
    assert_eq!(
        psql(&dst, "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 's'::regnamespace AND relkind = 'r'").trim(),
        format!("foo,foo_upper,long_b,{}", "x".repeat(63))
    );
}

#[test]
fn values_postgres_cannot_hold_are_refused_with_their_key() {
    let db = unique("badvalues");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "SET SESSION sql_mode = '';
         CREATE TABLE nul (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO nul VALUES (1, 'ok'), (2, CONCAT('a', CHAR(0), 'b'));
         CREATE TABLE badenum (id INT PRIMARY KEY, e ENUM('a','b')); INSERT INTO badenum VALUES (5, 'zzz');
         CREATE TABLE flags (id INT PRIMARY KEY, f TINYINT(1)); INSERT INTO flags VALUES (1, 0), (9, 2);",
    );
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[rules]\ntinyint1 = \"boolean\"\n");
    let r = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_fails(
        &r,
        &[
            "table `nul`, column `v`, key (id)=(2): contains a NUL character",
            "table `badenum`, column `e`, key (id)=(5)",
            "not one of the ENUM's values",
            "table `flags`, column `f`, key (id)=(9): value 2 is not 0 or 1",
        ],
    );
    assert_eq!(psql(&dst, "SELECT (SELECT count(*) FROM s.nul) + (SELECT count(*) FROM s.badenum) + (SELECT count(*) FROM s.flags)").trim(), "0");
}

#[test]
fn a_schema_creation_error_names_the_object_and_shows_the_statement() {
    let db = unique("ddlerr");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE good (id INT PRIMARY KEY); CREATE TABLE bad (id INT PRIMARY KEY, v INT);");
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[tables.bad.columns.v]\ntype = \"no_such_type\"\n");
    let r = ferry(&["migrate", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--schema", "s"]);
    assert_fails(&r, &["creating table \"s\".\"bad\" (source `bad`)", "nothing was created", "CREATE TABLE \"s\".\"bad\"", "no_such_type"]);
    assert_eq!(psql(&dst, "SELECT count(*) FROM pg_namespace WHERE nspname = 's'").trim(), "0", "nothing was created");
}
