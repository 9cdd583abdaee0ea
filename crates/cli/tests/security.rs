//! Secrets and exclusive jobs (issue 15, section B): no password in any output or state table,
//! whatever URL form carried it; a second sync of one schema refuses at once.

mod common;
use common::*;

#[test]
fn passwords_in_any_url_form_are_never_printed_or_stored() {
    let db = unique("sec_pw");
    let src = fresh_mysql(&db);
    mysql(
        None,
        &format!("CREATE USER IF NOT EXISTS 'ferry_pw'@'%' IDENTIFIED BY 'MySecretM1'; GRANT ALL ON `{db}`.* TO 'ferry_pw'@'%'; GRANT RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'ferry_pw'@'%';"),
    );
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');");
    let src = src.replace("root@", "ferry_pw:MySecretM1@");
    // The test server trusts local connections, so a password in the query is accepted and unused.
    let dst = format!("{}?password=PgSecretQ2", fresh_pg(&db));
    let mut outputs = Vec::new();
    for args in [
        vec!["migrate", "--source", &src, "--target", &dst, "--schema", "s"],
        vec!["verify", "--source", &src, "--target", &dst, "--schema", "s"],
        vec!["sync", "--source", &src, "--target", &dst, "--schema", "s", "--until-caught-up"],
        vec!["status", "--source", &src, "--target", &dst, "--schema", "s"],
        vec!["status", "--source", &src, "--target", &dst, "--schema", "s", "--json"],
        vec!["migrate", "--source", &src, "--target", "postgres://postgres:PgSecretU3@127.0.0.1:1/app", "--schema", "s"],
    ] {
        let r = ferry(&args);
        outputs.push(r.all());
    }
    let state = psql(
        &dst.replace("?password=PgSecretQ2", ""),
        "SELECT row_to_json(r)::text FROM ferry.load_runs r UNION ALL SELECT row_to_json(s)::text FROM ferry.sync_state s UNION ALL SELECT row_to_json(p)::text FROM ferry.reports p",
    );
    assert!(state.contains("ferry_pw"), "the state names the source: {state}");
    for secret in ["MySecretM1", "PgSecretQ2", "PgSecretU3"] {
        for o in &outputs {
            assert!(!o.contains(secret), "{secret} printed:\n{o}");
        }
        assert!(!state.contains(secret), "{secret} stored:\n{state}");
    }
}

#[test]
fn a_second_sync_of_one_schema_refuses_at_once_naming_the_first() {
    let db = unique("sec_lock");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
    let dst = fresh_pg(&db);
    // The first sync's messages go to a file, so a failure below can show them.
    let log_path = std::env::temp_dir().join(format!("{db}-first-sync.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sync", "--source", &src, "--target", &dst, "--batch-rows", "1000"])
        .env_remove("FERRY_SOURCE_URL")
        .env_remove("FERRY_TARGET_URL")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("ferry sync");
    let first_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // Wait for progress, not time: the first sync has loaded and is streaming.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let s = ferry(&["status", "--source", &src, "--target", &dst, "--json"]);
        if s.status == 0 && s.stdout.contains("\"streaming\"") {
            break;
        }
        if let Some(code) = first.try_wait().unwrap() {
            panic!("the first sync exited ({code}) before streaming:\n{}", first_log());
        }
        assert!(std::time::Instant::now() < deadline, "the first sync never started streaming:\n{}\nits output:\n{}", s.all(), first_log());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let started = std::time::Instant::now();
    let second = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_ne!(second.status, 0, "{}", second.all());
    assert!(second.all().contains("another `ferry sync` of schema") && second.all().contains("pid"), "{}", second.all());
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "refused at once");
    // Once the first is gone, a sync runs again.
    let again = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(again.status, 0, "{}", again.all());
}
