//! `ferry pause` / `ferry resume` while `ferry sync` streams: a paused table's changes are held
//! in order (not dropped) while the other tables keep streaming, through a SIGKILL of sync; the
//! page, the JSON status, the metrics and `ferry status` show it paused with the changes held;
//! a reload and a cutover are refused while it is paused; resume applies what was held and the
//! target verifies equal with an unbroken sync log chain. Also from PostgreSQL, with a truncate
//! and a table without a key held, and a source DDL statement on a paused table. And `ferry
//! exclude` / `ferry include`: a table skipped on purpose, said everywhere, brought back by an
//! online reload under writes; the page's buttons ask the same.

mod common;
use common::*;

fn held(dst: &str, table: &str) -> i64 {
    psql(dst, &format!("SELECT coalesce(max(held), -1) FROM ferry.table_controls WHERE table_name = '{table}' AND status = 'paused'")).trim().parse().unwrap()
}

/// The full load is done and the sync streams (its state committed): requests can be taken.
fn wait_streaming(dst: &str) {
    wait_until("the sync to stream", || psql_try(dst, "SELECT count(*) FROM ferry.sync_state").map(|c| c.trim() == "1").unwrap_or(false));
}

/// `ferry sync` with its page on a free port, once the full load put `rows` rows in `table`
/// (schema-qualified) and the sync streams.
fn sync_with_page(src: &str, dst: &str, table: &str, rows: u64) -> (String, std::process::Child) {
    let addr = format!("127.0.0.1:{}", free_port());
    let sync = spawn_sync_with(&["--source", src, "--target", dst, "--batch-rows", "50", "--http", &addr]);
    wait_until("the full load", || psql_try(dst, &format!("SELECT count(*) FROM {table}")).map(|c| c.trim() == rows.to_string()).unwrap_or(false));
    wait_streaming(dst);
    wait_until("the page", || std::net::TcpStream::connect(&addr).is_ok());
    (addr, sync)
}

fn status(addr: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(addr, "/status.json")).unwrap()
}

fn unbroken_chain(dst: &str) {
    let chain = psql(dst, "SELECT count(*) FILTER (WHERE prev IS NOT NULL AND from_position <> prev) FROM (SELECT *, lag(to_position) OVER (ORDER BY id) AS prev FROM ferry.sync_log) l");
    assert_eq!(chain.trim(), "0", "every batch started where the previous one ended");
}

/// The sync stopped, then run until caught up: verify equal, the log chain unbroken, nothing held.
fn caught_up_and_equal(mut sync: std::process::Child, src: &str, dst: &str) {
    let _ = sync.kill();
    let _ = sync.wait();
    let r = ferry(&["sync", "--source", src, "--target", dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--source", src, "--target", dst]);
    unbroken_chain(dst);
    no_holds_left(dst);
}

fn no_holds_left(dst: &str) {
    assert_eq!(psql(dst, "SELECT count(*) FROM ferry.table_controls").trim(), "0");
    assert_eq!(psql(dst, "SELECT count(*) FROM pg_tables WHERE schemaname = 'ferry' AND tablename LIKE 'hold\\_%'").trim(), "0", "the hold tables are gone");
}

#[test]
fn paused_table_holds_its_changes_in_order_through_a_sigkill_and_resume_applies_them_equal() {
    let db = unique("pause");
    let src = fresh_mysql(&db);
    // `u` is a second unique key: rows trade its values inside transactions below, so the held
    // changes are kept in source order and their replay must go through the same states.
    mysql(
        Some(&db),
        "CREATE TABLE t (id INT PRIMARY KEY, u INT NOT NULL UNIQUE, v INT NOT NULL, note VARCHAR(40));
         INSERT INTO t SELECT seq, seq, 0, CONCAT('n', seq) FROM seq_1_to_3000;
         CREATE TABLE other (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO other SELECT seq, 0 FROM seq_1_to_10;",
    );
    let dst = fresh_pg(&db);
    let q = format!("\"{db}\"");
    let spawn = |addr: &str| spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "50", "--http", addr]);
    let (addr, mut sync) = sync_with_page(&src, &dst, &format!("{q}.t"), 3000);

    let r = ferry(&["pause", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stdout.contains("paused"), "{}", r.all());
    let frozen = psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t"));

    let w_db = db.clone();
    let writer = Writer::start(move |i| {
        let a = (i * 7919) % 3000 + 1;
        let sql = match i % 5 {
            0 => format!("UPDATE t SET v = v + 1, note = 'upd {i}' WHERE id = {a};"),
            // Rows above 1000 only: the rows trading `u` are never deleted.
            1 => format!("DELETE FROM t WHERE id = {};", 3000 - i % 2000),
            2 => format!("INSERT INTO t VALUES ({}, {}, {i}, 'new') ON DUPLICATE KEY UPDATE v = v + 1;", 10000 + i, 10000 + i),
            // Two rows trade their `u` values in one transaction.
            3 => {
                let (x, y) = (i % 100 + 1, (i * 3) % 100 + 101);
                format!(
                    "START TRANSACTION; SELECT u INTO @ux FROM t WHERE id = {x}; SELECT u INTO @uy FROM t WHERE id = {y}; \
                     UPDATE t SET u = -1 WHERE id = {x}; UPDATE t SET u = @ux WHERE id = {y}; UPDATE t SET u = @uy WHERE id = {x}; COMMIT;"
                )
            }
            _ => format!("UPDATE other SET v = v + 1 WHERE id = {};", i % 10 + 1),
        };
        mysql(Some(&w_db), &sql);
    });

    // The other table streams; the paused one holds.
    let other_sum = |dst: &str| psql(dst, &format!("SELECT sum(v) FROM {q}.other")).trim().parse::<i64>().unwrap();
    wait_until("changes held and the other table streaming", || held(&dst, "t") >= 300 && other_sum(&dst) >= 50);
    assert_eq!(psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t")), frozen, "a paused table is left as it was");
    let s = status(&addr);
    assert_eq!(s["tables"]["t"]["state"], "paused", "{}", s["tables"]["t"]);
    assert!(s["tables"]["t"]["held"].as_u64().unwrap() > 0, "{}", s["tables"]["t"]);
    assert_eq!(s["tables"]["other"]["state"], "streaming");
    assert_eq!(s["state"], "tables held back");
    let metrics = http_get(&addr, "/metrics");
    assert!(
        metrics.contains("ferry_sync_table_held_changes{table=\"t\"} ") && !metrics.contains("ferry_sync_table_held_changes{table=\"t\"} 0\n"),
        "{metrics}"
    );
    let st = ferry(&["status", "--target", &dst]);
    assert!(st.stdout.contains("paused (") && st.stdout.contains("changes held)"), "{}", st.all());

    // What cannot run while it is paused says so.
    let r = ferry(&["reload", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.stderr.contains("paused"), "{}", r.all());
    let r = ferry(&["cutover", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0, "{}", r.all());
    assert!(r.all().contains("tables held back (t paused)"), "{}", r.all());

    // Killed while paused: what was held stays held, and the restarted sync goes on holding.
    sync.kill().unwrap();
    sync.wait().unwrap();
    let before = held(&dst, "t");
    let addr = format!("127.0.0.1:{}", free_port());
    let sync = spawn(&addr);
    wait_until("more changes held after the restart", || held(&dst, "t") >= before + 100);
    wait_until("the page to show it paused", || std::net::TcpStream::connect(&addr).is_ok() && status(&addr)["tables"]["t"]["state"] == "paused");
    assert_eq!(psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t")), frozen, "still as it was");

    let r = ferry(&["resume", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stdout.contains("resumed"), "{}", r.all());
    wait_until("the page to show it streaming", || status(&addr)["tables"]["t"]["state"] == "streaming");
    assert_ne!(psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t")), frozen, "the held changes were applied");

    writer.stop();
    caught_up_and_equal(sync, &src, &dst);
}

/// From PostgreSQL: a truncate and a table without a key are held too (the truncate in order
/// with the rows before and after it), and rows trading a unique value are replayed in order;
/// every table ends equal after resume.
#[test]
fn paused_postgresql_tables_hold_a_truncate_and_keyless_inserts_in_order() {
    let db = unique("pause_pg");
    let src_db = format!("{db}_src");
    let src = fresh_pg(&src_db);
    psql(
        &src,
        "CREATE SCHEMA app;
         CREATE TABLE app.p (id int PRIMARY KEY, v int NOT NULL);
         CREATE TABLE app.k (at int, what text); ALTER TABLE app.k REPLICA IDENTITY FULL;
         CREATE TABLE app.o (id int PRIMARY KEY, v int NOT NULL);
         CREATE TABLE app.s (id int PRIMARY KEY, u int NOT NULL UNIQUE);
         INSERT INTO app.s VALUES (1, 1), (2, 2), (3, 3);
         INSERT INTO app.p SELECT g, 0 FROM generate_series(1, 500) g;
         INSERT INTO app.k SELECT g, 'k' || g FROM generate_series(1, 20) g;
         INSERT INTO app.o VALUES (1, 0);",
    );
    let dst = fresh_pg(&db);
    let source = format!("{}/{src_db}?schema=app", pg_base());
    let sync = spawn_sync_with(&["--source", &source, "--target", &dst, "--batch-rows", "40"]);
    wait_until("the full load", || psql_try(&dst, "SELECT count(*) FROM app.p").map(|c| c.trim() == "500").unwrap_or(false));
    wait_streaming(&dst);
    for t in ["p", "k", "s"] {
        let r = ferry(&["pause", t, "--wait", "--source", &source, "--target", &dst]);
        assert_eq!(r.status, 0, "{}", r.all());
    }
    psql(
        &src,
        "UPDATE app.p SET v = 1 WHERE id <= 100;
         DELETE FROM app.p WHERE id > 450;
         INSERT INTO app.k VALUES (21, 'before the truncate');
         BEGIN; TRUNCATE app.p; INSERT INTO app.p SELECT g, 2 FROM generate_series(1, 50) g; COMMIT;
         UPDATE app.p SET v = 3 WHERE id <= 10;
         DELETE FROM app.p WHERE id = 50;
         INSERT INTO app.k SELECT g, 'after' FROM generate_series(22, 60) g;
         BEGIN; UPDATE app.s SET u = -1 WHERE id = 1; UPDATE app.s SET u = 1 WHERE id = 2; UPDATE app.s SET u = 2 WHERE id = 1; COMMIT;
         BEGIN; UPDATE app.s SET u = -3 WHERE id = 3; UPDATE app.s SET u = 3 WHERE id = 1; UPDATE app.s SET u = 2 WHERE id = 3; COMMIT;
         UPDATE app.o SET v = 1;",
    );
    // The stream is in commit order: once the last change is on the target, all others are held.
    wait_until("the marker", || psql(&dst, "SELECT v FROM app.o").trim() == "1");
    assert_eq!(psql(&dst, "SELECT count(*), sum(v) FROM app.p").trim(), "500\t0", "the paused table is left as it was");
    assert_eq!(psql(&dst, "SELECT count(*) FROM app.k").trim(), "20");
    assert!(held(&dst, "p") > 0 && held(&dst, "k") > 0);
    for t in ["p", "k", "s"] {
        let r = ferry(&["resume", t, "--wait", "--source", &source, "--target", &dst]);
        assert_eq!(r.status, 0, "{}", r.all());
    }
    assert_eq!(psql(&dst, "SELECT count(*), sum(v) FROM app.p").trim(), "49\t108");
    assert_eq!(psql(&dst, "SELECT count(*) FROM app.k").trim(), "60");
    // Rows that traded a unique value: applied at once they conflict, so replayed in order.
    assert_eq!(psql(&dst, "SELECT string_agg(id || '=' || u, ' ' ORDER BY id) FROM app.s").trim(), "1=3 2=1 3=2");
    caught_up_and_equal(sync, &source, &dst);

    // Exclude and include from PostgreSQL: the include's reload reads each chunk in a
    // temporary slot's snapshot, at that slot's exact position.
    let mut sync = spawn_sync_with(&["--source", &source, "--target", &dst, "--batch-rows", "40"]);
    let r = ferry(&["exclude", "o", "--wait", "--source", &source, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    psql(&src, "UPDATE app.o SET v = 2; INSERT INTO app.o VALUES (2, 2); UPDATE app.s SET u = 4 WHERE id = 3;");
    wait_until("the other tables streaming", || psql(&dst, "SELECT u FROM app.s WHERE id = 3").trim() == "4");
    assert_eq!(psql(&dst, "SELECT count(*), sum(v) FROM app.o").trim(), "1\t1", "an excluded table takes no change");
    let r = ferry(&["include", "o", "--wait", "--source", &source, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, "SELECT count(*), sum(v) FROM app.o").trim(), "2\t4", "the reload brought what it missed");
    assert_eq!(psql(&src, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%chunk%'").trim(), "0", "the chunks' temporary slots are gone");
    let _ = sync.kill();
    let _ = sync.wait();
    verify_equal(&["--source", &source, "--target", &dst]);
}

/// A source DDL statement on a paused table: what was held is applied first and the table
/// streams again (its rows take the new shape with it); a resume of a table not paused, and a
/// pause of a table ferry does not know, say so.
#[test]
fn ddl_on_a_paused_table_applies_what_was_held_and_resumes_it() {
    let db = unique("pause_ddl");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t SELECT seq, 0 FROM seq_1_to_100;");
    let dst = fresh_pg(&db);
    let q = format!("\"{db}\"");
    let r = ferry(&["pause", "nope", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("table nope is not among the planned tables"), "{}", r.all());
    let mut sync = spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "20"]);
    wait_until("the full load", || psql_try(&dst, &format!("SELECT count(*) FROM {q}.t")).map(|c| c.trim() == "100").unwrap_or(false));
    wait_streaming(&dst);
    let r = ferry(&["resume", "t", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("is not paused"), "{}", r.all());
    let r = ferry(&["pause", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(Some(&db), "UPDATE t SET v = 1 WHERE id <= 50; DELETE FROM t WHERE id > 90; INSERT INTO t VALUES (200, 5);");
    wait_until("changes held", || held(&dst, "t") >= 61);
    mysql(Some(&db), "ALTER TABLE t ADD COLUMN w INT NOT NULL DEFAULT 7; INSERT INTO t VALUES (201, 6, 8); UPDATE t SET w = 9 WHERE id = 1;");
    wait_until("the table to stream again", || {
        psql(&dst, "SELECT count(*) FROM ferry.table_controls").trim() == "0" && psql(&dst, &format!("SELECT w FROM {q}.t WHERE id = 1")).trim() == "9"
    });
    assert_eq!(psql(&dst, &format!("SELECT count(*), sum(v), sum(w) FROM {q}.t")).trim(), "92\t61\t647");
    assert_eq!(psql(&dst, "SELECT status FROM ferry.sync_tables WHERE table_name = 't'").trim(), "streaming");
    let _ = sync.kill();
    let _ = sync.wait();
    let r = ferry(&["sync", "--source", &src, "--target", &dst, "--until-caught-up", "--quiet"]);
    assert_eq!(r.status, 0, "{}", r.all());
    verify_equal(&["--source", &src, "--target", &dst]);
    no_holds_left(&dst);
}

/// The page's buttons: pause, resume, reload, exclude and include a table through
/// `POST /tables/{table}/{action}` (what the buttons send), taken up by the running sync like
/// the commands; a request without the page's header (another site's form, say) is refused, and
/// so is an unknown table.
#[test]
fn page_buttons_pause_resume_reload_exclude_and_include_a_table_and_a_forged_request_is_refused() {
    let db = unique("pause_page");
    let src = fresh_mysql(&db);
    mysql(Some(&db), "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t SELECT seq, 0 FROM seq_1_to_200;");
    let dst = fresh_pg(&db);
    let q = format!("\"{db}\"");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut sync = spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "20", "--http", &addr]);
    wait_until("the full load", || psql_try(&dst, &format!("SELECT count(*) FROM {q}.t")).map(|c| c.trim() == "200").unwrap_or(false));
    wait_streaming(&dst);
    wait_until("the page", || std::net::TcpStream::connect(&addr).is_ok());
    let button = [("x-ferry-action", "1")];
    let (code, body) = http_post(&addr, "/tables/t/pause", &[]);
    assert_eq!(code, 403, "{body}");
    assert_eq!(psql(&dst, "SELECT count(*) FROM ferry.table_controls").trim(), "0", "a forged request asks nothing");
    let (code, body) = http_post(&addr, "/tables/nope/pause", &button);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("table nope is not among the planned tables"), "{body}");
    let (code, body) = http_post(&addr, "/tables/t/resume", &button);
    assert_eq!((code, body.contains("is not paused")), (409, true), "{body}");

    let (code, body) = http_post(&addr, "/tables/t/pause", &button);
    assert_eq!(code, 200, "{body}");
    wait_until("the page to show it paused", || status(&addr)["tables"]["t"]["state"] == "paused");
    mysql(Some(&db), "UPDATE t SET v = 1 WHERE id <= 10;");
    wait_until("changes held", || held(&dst, "t") >= 10);
    assert_eq!(psql(&dst, &format!("SELECT sum(v) FROM {q}.t")).trim(), "0");
    let (code, body) = http_post(&addr, "/tables/t/resume", &button);
    assert_eq!(code, 200, "{body}");
    wait_until("the held changes applied", || psql(&dst, &format!("SELECT sum(v) FROM {q}.t")).trim() == "10");
    wait_until("the page to show it streaming", || status(&addr)["tables"]["t"]["state"] == "streaming");

    psql(&dst, &format!("UPDATE {q}.t SET v = -1 WHERE id = 100"));
    let (code, body) = http_post(&addr, "/tables/t/reload", &button);
    assert_eq!(code, 200, "{body}");
    wait_until("the reload", || psql(&dst, "SELECT status FROM ferry.reloads WHERE table_name = 't'").trim() == "done");
    assert_eq!(psql(&dst, &format!("SELECT v FROM {q}.t WHERE id = 100")).trim(), "0", "the reload put the row right");

    let (code, body) = http_post(&addr, "/tables/t/exclude", &button);
    assert_eq!(code, 200, "{body}");
    wait_until("the page to show it excluded", || status(&addr)["tables"]["t"]["state"] == "excluded");
    mysql(Some(&db), "UPDATE t SET v = 2 WHERE id <= 5;");
    let (code, body) = http_post(&addr, "/tables/t/include", &button);
    assert_eq!(code, 200, "{body}");
    wait_until("the include's reload", || {
        psql(&dst, "SELECT count(*) FROM ferry.table_controls").trim() == "0"
            && psql(&dst, "SELECT status FROM ferry.reloads WHERE table_name = 't'").trim() == "done"
    });
    assert_eq!(psql(&dst, &format!("SELECT sum(v) FROM {q}.t")).trim(), "15", "what it missed while excluded came with the reload");
    let _ = sync.kill();
    let _ = sync.wait();
    verify_equal(&["--source", &src, "--target", &dst]);
}

/// `ferry exclude` skips a table's changes on purpose while the others stream — said on the
/// page, in `ferry status`, and by cutover, which refuses; its source DDL still applies, so its
/// shape follows the source — and `ferry include` streams it again with an online reload, so it
/// ends equal, all under a writer and through a SIGKILL of sync while it is excluded.
#[test]
fn excluded_table_is_skipped_said_and_included_again_by_an_online_reload_under_writes() {
    let db = unique("exclude");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40));
         INSERT INTO t SELECT seq, 0, CONCAT('n', seq) FROM seq_1_to_20000;
         CREATE TABLE other (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO other SELECT seq, 0 FROM seq_1_to_10;",
    );
    let dst = fresh_pg(&db);
    let q = format!("\"{db}\"");
    let spawn = |addr: &str| spawn_sync_with(&["--source", &src, "--target", &dst, "--batch-rows", "50", "--http", addr]);
    let (addr, mut sync) = sync_with_page(&src, &dst, &format!("{q}.t"), 20000);
    let r = ferry(&["exclude", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stdout.contains("excluded"), "{}", r.all());

    let w_db = db.clone();
    let writer = Writer::start(move |i| {
        let a = (i * 7919) % 20000 + 1;
        let sql = match i % 4 {
            0 => format!("UPDATE t SET v = v + 1, note = 'upd {i}' WHERE id = {a};"),
            1 => format!("DELETE FROM t WHERE id = {};", 20000 - i % 20000),
            2 => format!("INSERT INTO t (id, v, note) VALUES ({}, {i}, 'new') ON DUPLICATE KEY UPDATE v = v + 1;", 30000 + i),
            _ => format!("UPDATE other SET v = v + 1 WHERE id = {};", i % 10 + 1),
        };
        mysql(Some(&w_db), &sql);
    });
    let other_sum = |dst: &str| psql(dst, &format!("SELECT sum(v) FROM {q}.other")).trim().parse::<i64>().unwrap();
    // Its shape still follows the source while it is out.
    mysql(Some(&db), "ALTER TABLE t ADD COLUMN w INT NOT NULL DEFAULT 3;");
    wait_until("the DDL on the excluded table", || {
        psql(&dst, &format!("SELECT count(*) FROM information_schema.columns WHERE table_schema = '{db}' AND table_name = 't' AND column_name = 'w'")).trim()
            == "1"
    });
    let frozen = psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t"));
    let seen = other_sum(&dst);
    wait_until("the other table streaming", || other_sum(&dst) >= seen + 30);
    assert_eq!(psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t")), frozen, "an excluded table takes no change");
    let s = status(&addr);
    assert_eq!(s["tables"]["t"]["state"], "excluded", "{}", s["tables"]["t"]);
    assert_eq!(s["state"], "tables held back");
    assert!(ferry(&["status", "--target", &dst]).stdout.contains("excluded"));

    // What makes no sense while it is out says so.
    let r = ferry(&["pause", "t", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("excluded from the sync: `ferry include` it first"), "{}", r.all());
    let r = ferry(&["reload", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("`ferry include` it (which reloads it)"), "{}", r.all());
    let r = ferry(&["cutover", "--source", &src, "--target", &dst]);
    assert_ne!(r.status, 0);
    assert!(r.all().contains("tables held back (t excluded)"), "{}", r.all());

    // Killed while it is out: the restarted sync keeps it out.
    sync.kill().unwrap();
    sync.wait().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let sync = spawn(&addr);
    wait_until("the page again", || std::net::TcpStream::connect(&addr).is_ok() && status(&addr)["tables"]["t"]["state"] == "excluded");
    let seen = other_sum(&dst);
    wait_until("the other table streaming after the restart", || other_sum(&dst) >= seen + 30);
    assert_eq!(psql(&dst, &format!("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {q}.t t")), frozen, "still out after the restart");

    let r = ferry(&["include", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert!(r.stdout.contains("included") && r.stdout.contains("reload brought"), "{}", r.all());
    wait_until("the page to show it streaming", || status(&addr)["tables"]["t"]["state"] == "streaming");

    writer.stop();
    caught_up_and_equal(sync, &src, &dst);
}

/// A source rename of an excluded table keeps it excluded under its new name: none of its rows
/// slip in before `ferry include`, which then brings them by its reload.
#[test]
fn an_excluded_table_stays_excluded_when_the_source_renames_it() {
    let db = unique("exclude_rename");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO t SELECT seq, 0 FROM seq_1_to_100;
         CREATE TABLE other (id INT PRIMARY KEY, v INT NOT NULL); INSERT INTO other VALUES (1, 0);",
    );
    let dst = fresh_pg(&db);
    let q = format!("\"{db}\"");
    let (_, mut sync) = sync_with_page(&src, &dst, &format!("{q}.t"), 100);
    let r = ferry(&["exclude", "t", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    mysql(Some(&db), "RENAME TABLE t TO t2; UPDATE t2 SET v = 1 WHERE id <= 10; UPDATE other SET v = 1;");
    wait_until("the marker after the rename", || psql(&dst, &format!("SELECT v FROM {q}.other")).trim() == "1");
    assert_eq!(psql(&dst, &format!("SELECT sum(v) FROM {q}.t2")).trim(), "0", "still excluded under its new name");
    assert_eq!(psql(&dst, "SELECT table_name, status FROM ferry.table_controls").trim(), "t2\texcluded");
    let r = ferry(&["include", "t2", "--wait", "--source", &src, "--target", &dst]);
    assert_eq!(r.status, 0, "{}", r.all());
    assert_eq!(psql(&dst, &format!("SELECT sum(v) FROM {q}.t2")).trim(), "10");
    let _ = sync.kill();
    let _ = sync.wait();
    verify_equal(&["--source", &src, "--target", &dst]);
}
