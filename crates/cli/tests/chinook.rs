//! Chinook from MySQL and from SQLite against the hand-made PostgreSQL reference conversion: same tables and
//! columns (with the snake_case identifier rule), same row counts, and equal values in every
//! column through PostgreSQL's text form, except the three columns where the MySQL script's own
//! data differ (`../shared/datasets/README.md`): there ferry must equal the MySQL source.

mod common;
use common::*;
use std::collections::BTreeMap;

/// (table, column) in the reference naming → (MySQL table, MySQL key column, MySQL column).
const MYSQL_DIFFERS: [(&str, &str, (&str, &str, &str)); 3] = [
    ("customer", "city", ("Customer", "CustomerId", "City")),
    ("invoice", "billing_city", ("Invoice", "InvoiceId", "BillingCity")),
    ("track", "name", ("Track", "TrackId", "Name")),
];

fn columns(url: &str) -> Vec<(String, String)> {
    psql(url, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name")
        .lines()
        .map(|l| {
            let (t, c) = l.split_once('\t').unwrap();
            (t.to_string(), c.to_string())
        })
        .collect()
}

fn pk_columns(url: &str, table: &str) -> Vec<String> {
    psql(
        url,
        &format!(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = 'public.{table}'::regclass AND i.indisprimary ORDER BY a.attnum"
        ),
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Every row as key → column values (text form; NULL as None), one query per column set.
fn rows(url: &str, table: &str, cols: &[String], key: &[String]) -> BTreeMap<String, Vec<Option<String>>> {
    let sel: Vec<String> = cols.iter().map(|c| format!("CASE WHEN \"{c}\" IS NULL THEN 'N' ELSE 'V' || \"{c}\"::text END")).collect();
    let k: Vec<String> = key.iter().map(|c| format!("\"{c}\"::text")).collect();
    let sql = format!("SELECT json_build_array({}, json_build_array({}))::text FROM public.\"{table}\"", k.join(" || ',' || "), sel.join(", "));
    psql(url, &sql)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let key = v[0].as_str().unwrap().to_string();
            let vals = v[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let s = x.as_str().unwrap();
                    if s == "N" {
                        None
                    } else {
                        Some(s[1..].to_string())
                    }
                })
                .collect();
            (key, vals)
        })
        .collect()
}

/// Loads the PostgreSQL reference conversion into its own database.
fn load_reference(db: &str) -> String {
    let reference = fresh_pg(&format!("{db}_ref"));
    let script = std::fs::read_to_string(shared_datasets().join("chinook/Chinook_PostgreSql.sql")).unwrap();
    let script = script.replace("DROP DATABASE IF EXISTS chinook;", "").replace("CREATE DATABASE chinook;", "").replace("\\c chinook;", "");
    psql(&reference, &script);
    reference
}

/// Compares a migrated Chinook with the reference: same tables, columns, keys and row keys;
/// returns the columns whose values differ, with how many rows do.
fn columns_differing_from_reference(dst: &str, reference: &str) -> BTreeMap<String, usize> {
    let ours = columns(dst);
    let theirs = columns(reference);
    assert_eq!(ours, theirs, "tables and columns must match the reference");
    let tables: Vec<String> = {
        let mut t: Vec<String> = ours.iter().map(|(t, _)| t.clone()).collect();
        t.dedup();
        t
    };
    assert_eq!(tables.len(), 11);
    let mut differing = BTreeMap::new();
    for t in &tables {
        let cols: Vec<String> = ours.iter().filter(|(tt, _)| tt == t).map(|(_, c)| c.clone()).collect();
        let key = pk_columns(reference, t);
        assert_eq!(pk_columns(dst, t), key, "primary key of {t}");
        let a = rows(dst, t, &cols, &key);
        let b = rows(reference, t, &cols, &key);
        assert_eq!(a.len(), b.len(), "row count of {t}");
        assert!(!a.is_empty());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "keys of {t}");
        for (i, c) in cols.iter().enumerate() {
            let diffs = a.iter().filter(|(k, v)| v[i] != b[*k][i]).count();
            if diffs > 0 {
                let first = a.iter().find(|(k, v)| v[i] != b[*k][i]).map(|(k, v)| (k.clone(), v[i].clone(), b[k][i].clone()));
                eprintln!("{t}.{c}: {diffs} rows differ from the reference, e.g. {first:?}");
                differing.insert(format!("{t}.{c}"), diffs);
            }
        }
    }
    differing
}

/// `table.column` of the target as key → upper-case hex of its UTF-8 text.
fn target_hex(dst: &str, t: &str, c: &str) -> BTreeMap<String, String> {
    let key = pk_columns(dst, t)[0].clone();
    psql(dst, &format!("SELECT \"{key}\", upper(encode(convert_to(\"{c}\", 'UTF8'), 'hex')) FROM public.\"{t}\""))
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn chinook_from_mysql_equals_the_postgres_reference() {
    let db = unique("chinook");
    let src = load_chinook_mysql(&db);
    let reference = load_reference(&db);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n[rules]\nidentifiers = \"snake_case\"\n");
    migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--quiet"]);
    // Through the same snake_case renames, verify finds every table equal.
    let report = verify_equal(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"].as_array().unwrap().len(), 11);
    assert_eq!(hash_mismatches(&report), Vec::<String>::new(), "equal on the chunk hashes alone");

    let differing = columns_differing_from_reference(&dst, &reference);
    // Exactly the three known columns differ from the reference…
    let expected: Vec<String> = MYSQL_DIFFERS.iter().map(|(t, c, _)| format!("{t}.{c}")).collect();
    assert_eq!(differing.keys().cloned().collect::<Vec<_>>(), expected);
    // …and there ferry equals the MySQL source, byte for byte.
    for (t, c, (mt, mk, mc)) in MYSQL_DIFFERS {
        let source: BTreeMap<String, String> = mysql(Some(&db), &format!("SELECT `{mk}`, HEX(`{mc}`) FROM `{mt}`"))
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(source, target_hex(&dst, t, c), "{t}.{c} must equal the MySQL source");
    }
    assert!(differing["customer.city"] >= 1 && differing["track.name"] >= 1);
}

#[test]
fn chinook_from_sqlite_equals_the_postgres_reference() {
    let db = unique("chinook_sqlite");
    let file = shared_datasets().join("chinook/Chinook_Sqlite.sqlite");
    let src = format!("sqlite://{}", file.display());
    let reference = load_reference(&db);
    let dst = fresh_pg(&db);
    let cfg = write_config(&db, "[target]\nschema = \"public\"\n[rules]\nidentifiers = \"snake_case\"\n");
    let plan = ferry(&["plan", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    eprintln!("{}", plan.stdout);
    migrate_ok(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst, "--quiet"]);
    let report = verify_equal(&["--config", cfg.to_str().unwrap(), "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"].as_array().unwrap().len(), 11);
    assert_eq!(hash_mismatches(&report), Vec::<String>::new(), "equal on the chunk hashes alone");

    let differing = columns_differing_from_reference(&dst, &reference);
    // The file holds `'Edinburgh '` with its trailing space, as the MySQL script does; its
    // backslashes in `Track.Name` survive (no string escapes in SQLite).
    assert_eq!(differing.keys().map(String::as_str).collect::<Vec<_>>(), ["customer.city", "invoice.billing_city"]);
    // Where the SQLite file's data differ from the reference script, ferry equals the file.
    let conn = rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    for tc in differing.keys() {
        let (t, c) = tc.split_once('.').unwrap();
        let (st, sc) = (camel(t), camel(c));
        let key = pk_columns(&dst, t)[0].clone();
        let mut q = conn.prepare(&format!("SELECT \"{}\", upper(hex(\"{sc}\")) FROM \"{st}\"", camel(&key))).unwrap();
        let source: BTreeMap<String, String> = q
            .query_map([], |r| Ok((r.get::<_, i64>(0)?.to_string(), r.get::<_, Option<String>>(1)?.unwrap_or_default())))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let target: BTreeMap<String, String> = target_hex(&dst, t, c);
        assert_eq!(source, target, "{tc} must equal the SQLite file");
    }
}

/// `billing_city` → `BillingCity` (the file's naming).
/// The reference in its own database, a fresh target, the snake_case-into-`public` config,
/// and `ferry plan` of `src` (checked to succeed).
fn plan_into_public(db: &str, src: &str) -> (String, String, String, Ferry) {
    let reference = load_reference(db);
    let dst = fresh_pg(db);
    let cfg = write_config(db, "[target]\nschema = \"public\"\n[rules]\nidentifiers = \"snake_case\"\n").to_str().unwrap().to_string();
    let plan = ferry(&["plan", "--config", &cfg, "--source", src, "--target", &dst]);
    assert_eq!(plan.status, 0, "{}", plan.all());
    (reference, dst, cfg, plan)
}

fn camel(snake: &str) -> String {
    snake.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// Chinook's SQL Server script through `mssql-script:` (no server): plan prints DDL and
/// assessment, migrate loads it, verify proves every table from the script's own literals, and
/// every column's values equal the PostgreSQL reference conversion — but where the SQL Server
/// script itself holds other data than the reference, which is then shown to be the script's.
#[test]
fn chinook_from_the_sql_server_script_equals_the_postgres_reference() {
    let db = unique("chinook_mssql");
    let file = shared_datasets().join("chinook/Chinook_SqlServer.sql");
    let src = format!("mssql-script:{}", file.display());
    let (reference, dst, cfg, plan) = plan_into_public(&db, &src);
    let cfg = cfg.as_str();
    assert!(
        plan.stdout.contains("CREATE TABLE \"public\".\"invoice_line\"") && plan.stdout.contains("Assessment: Chinook (SQL Server (T-SQL script))"),
        "{}",
        plan.stdout
    );
    migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst, "--quiet"]);
    let report = verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"].as_array().unwrap().len(), 11);
    // Verify is not blind: a changed value on the target is found.
    psql(&dst, "UPDATE public.invoice SET total = total + 0.01 WHERE invoice_id = 5");
    let (status, r) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(status, 1, "{r:#}");
    psql(&dst, "UPDATE public.invoice SET total = total - 0.01 WHERE invoice_id = 5");

    let differing = columns_differing_from_reference(&dst, &reference);
    // The script holds `N'Edinburgh '` with its trailing space, as the MySQL script and the
    // SQLite file do; everything else equals the reference.
    assert_eq!(differing.keys().map(String::as_str).collect::<Vec<_>>(), ["customer.city", "invoice.billing_city"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("N'Edinburgh '"));
    assert_eq!(psql(&dst, "SELECT count(*) FROM public.customer WHERE city = 'Edinburgh '").trim(), "1", "ferry equals the script");
}

/// Chinook loaded into a live SQL Server (FERRY_TEST_MSSQL_URL; Babelfish stands in here) from
/// its own script, then read over TDS: plan, migrate, verify (blind to nothing: a changed value
/// is found and repaired), every column equal to the PostgreSQL reference but where the SQL
/// Server data themselves differ (as through the script), and `ferry diff` sees no change.
#[test]
fn chinook_over_tds_equals_the_postgres_reference() {
    let Some(server) = mssql_server() else { return };
    let db = unique("chinook_tds");
    let src = fresh_mssql(&server, &db);
    let script = std::fs::read_to_string(shared_datasets().join("chinook/Chinook_SqlServer.sql")).unwrap();
    // The script drops and creates its own database: run what follows `USE [Chinook]` in ours.
    let body = &script[script.find("USE [Chinook];").unwrap() + "USE [Chinook];".len()..];
    tsql(&src, body);
    let (reference, dst, cfg, plan) = plan_into_public(&db, &src);
    let cfg = cfg.as_str();
    assert!(plan.stdout.contains("CREATE TABLE \"public\".\"invoice_line\"") && plan.stdout.contains("Assessment: "), "{}", plan.stdout);
    assert!(plan.stdout.contains("(SQL Server"), "the assessment names the server: {}", plan.stdout);
    let out = migrate_ok(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert!(out.all().contains("SNAPSHOT"), "the report says how the readers read: {}", out.all());
    if let Some(pw) = mssql_password(&server) {
        assert!(!out.all().contains(&format!(":{pw}@")), "no password printed: {}", out.all());
    }
    let report = verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(report["tables"].as_array().unwrap().len(), 11);
    // Verify is not blind, and repair puts the source's rows back.
    psql(&dst, "UPDATE public.invoice SET total = total + 0.01 WHERE invoice_id = 5; UPDATE public.employee SET hire_date = hire_date + interval '1 ms' WHERE employee_id = 2; DELETE FROM public.invoice_line WHERE invoice_line_id = 7; UPDATE public.customer SET city = 'X' WHERE customer_id = 3");
    let (status, r) = verify_json(&["--config", cfg, "--source", &src, "--target", &dst]);
    assert_eq!(status, 1, "{r:#}");
    let repair = ferry(&["verify", "--repair", "--config", cfg, "--source", &src, "--target", &dst]);
    assert!(repair.status == 0 || repair.status == 1, "{}", repair.all());
    verify_equal(&["--config", cfg, "--source", &src, "--target", &dst]);

    let differing = columns_differing_from_reference(&dst, &reference);
    assert_eq!(differing.keys().map(String::as_str).collect::<Vec<_>>(), ["customer.city", "invoice.billing_city"]);
    assert_eq!(psql(&dst, "SELECT count(*) FROM public.customer WHERE city = 'Edinburgh '").trim(), "1", "ferry equals the server's data");

    let diff = ferry(&["diff", "--config", cfg, &src, &dst]);
    assert_eq!(diff.status, 0, "{}", diff.all());
    assert!(diff.stdout.contains("No differences") && diff.stdout.contains("sql server as postgresql"), "{}", diff.stdout);
}
