//! The live page of a running sync (`ferry sync --http`), seen the way a user sees it: in
//! headless Chromium, while a writer changes rows. The numbers on screen grow (read twice from
//! the DOM), a stopped table shows its error, and the page, `/status.json` and `/metrics` show
//! the same numbers for the same moment. A screenshot is saved under the test's output.

mod common;
use common::*;
use std::time::Duration;

/// The page's DOM after it ran for a moment (its events arrive every second).
fn dom(addr: &str, profile: &std::path::Path, screenshot: Option<&std::path::Path>) -> String {
    let mut args: Vec<String> = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,700", "--timeout=10000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    match screenshot {
        Some(p) => args.push(format!("--screenshot={}", p.display())),
        None => args.push("--dump-dom".into()),
    }
    args.push(format!("http://{addr}/"));
    let out = std::process::Command::new(chromium()).args(&args).output().expect("chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of cell `class` in the row of `table` in a dumped DOM.
fn cell(dom: &str, table: &str, class: &str) -> Option<String> {
    let row = dom.split(&format!("data-table=\"{table}\"")).nth(1)?.split("</tr>").next()?;
    let td = row.split(&format!("class=\"{class}\">")).nth(1)?.split("</td>").next()?;
    Some(td.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
}

fn number(s: &str) -> u64 {
    s.chars().filter(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap_or(0)
}

/// The account table's updates in the page's event stream, view after view, until one is
/// larger than the first (progress, not a number of seconds; at most 60 views).
fn sse_updates_until_they_grow(addr: &str) -> Vec<u64> {
    use std::io::{BufRead, BufReader, Write};
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.write_all(b"GET /events HTTP/1.1\r\nHost: ferry\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut updates = Vec::new();
    for line in BufReader::new(sock).lines() {
        let line = line.expect("the event stream");
        if let Some(data) = line.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            updates.push(v["tables"]["account"]["updates"].as_u64().unwrap());
            if updates.len() >= 60 || updates.last() > updates.first() {
                break;
            }
        }
    }
    updates
}

fn status(addr: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(addr, "/status.json")).unwrap()
}

#[test]
fn live_page_shows_numbers_growing_while_writes_happen_a_stopped_tables_error_and_the_same_numbers_as_json_and_metrics() {
    let db = unique("page");
    let src = fresh_mysql(&db);
    mysql(
        Some(&db),
        "CREATE TABLE account (id INT PRIMARY KEY, balance INT NOT NULL);
         CREATE TABLE note (id INT PRIMARY KEY, txt VARCHAR(40));
         INSERT INTO account SELECT seq, 0 FROM seq_1_to_500; INSERT INTO note SELECT seq, 'n' FROM seq_1_to_50;",
    );
    let dst = fresh_pg(&db);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut sync = spawn_sync_with(&["--source", &src, "--target", &dst, "--http", &addr, "--batch-rows", "20"]);
    wait_until("the page to answer", || std::net::TcpStream::connect(&addr).is_ok());
    wait_until("the full load", || status(&addr)["tables"]["account"]["full_load_rows"] == 500 && status(&addr)["state"] == "streaming");

    // A writer that keeps updating while the page is read.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (w_db, w_stop) = (db.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let mut i = 0u32;
        while !w_stop.load(std::sync::atomic::Ordering::Relaxed) {
            mysql(Some(&w_db), &format!("UPDATE account SET balance = balance + 1 WHERE id = {};", i % 500 + 1));
            i += 1;
        }
        i
    });
    let profile = std::env::temp_dir().join(format!("{db}-chromium"));
    wait_until("updates to arrive", || status(&addr)["tables"]["account"]["updates"].as_u64().unwrap_or(0) >= 10);
    let first = dom(&addr, &profile, None);
    let seen_first = number(&cell(&first, "account", "updates").unwrap_or_else(|| panic!("the page shows the account table:\n{first}")));
    assert!(seen_first >= 10, "{seen_first}");
    assert_eq!(cell(&first, "account", "full-load").as_deref(), Some("500 (100%)"), "{first}");
    // The row's buttons (their requests are tested in pause.rs).
    let actions = first.split("data-table=\"account\"").nth(1).and_then(|r| r.split("</tr>").next()).unwrap_or_default();
    assert!(actions.contains("data-action=\"pause\"") && actions.contains("data-action=\"reload\""), "{first}");
    // Progress, not time: the target has applied more since the first read.
    wait_until("more updates", || status(&addr)["tables"]["account"]["updates"].as_u64().unwrap_or(0) >= seen_first + 20);
    let second = dom(&addr, &profile, None);
    let seen_second = number(&cell(&second, "account", "updates").unwrap());
    // The page's live updates: its event stream delivers views, a second apart, the numbers in
    // them moving with the writes.
    let updates = sse_updates_until_they_grow(&addr);
    assert!(updates[0] >= seen_second && updates.last() > updates.first(), "the stream's numbers grow: {updates:?}");
    assert!(seen_second > seen_first, "the number on screen grew: {seen_first} then {seen_second}");

    // A change ferry cannot apply stops its table; the page shows it with the error.
    mysql(Some(&db), "ALTER TABLE note DROP PRIMARY KEY, ADD PRIMARY KEY (id, txt);");
    wait_until("the table to stop", || status(&addr)["tables"]["note"]["state"] == "stopped");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    let _ = std::fs::remove_file(&shot);
    dom(&addr, &profile, Some(&shot));
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot at {}", shot.display());
    let third = dom(&addr, &profile, None);
    assert_eq!(cell(&third, "note", "state").as_deref(), Some("stopped"), "{third}");
    assert!(cell(&third, "note", "error").unwrap_or_default().contains("primary key"), "the error is on the page: {third}");
    assert!(third.contains("stopped tables"), "the overall state says so");

    // The same moment in every reader: once the writer stops and sync is idle, the JSON status
    // and the metrics hold the same numbers (the page renders that same JSON).
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().unwrap();
    wait_until("every update applied", || status(&addr)["tables"]["account"]["updates"].as_u64() == Some(writes as u64));
    let json = status(&addr);
    let metrics = http_get(&addr, "/metrics");
    let metric = |line: &str| {
        metrics.lines().find(|l| l.starts_with(line)).and_then(|l| l.rsplit(' ').next()).unwrap_or_else(|| panic!("{line} in {metrics}")).to_string()
    };
    assert_eq!(metric("ferry_sync_transactions_total "), json["transactions"].to_string());
    assert_eq!(metric("ferry_sync_table_changes_total{table=\"account\",op=\"update\"}"), json["tables"]["account"]["updates"].to_string());
    assert_eq!(metric("ferry_sync_table_full_load_rows{table=\"account\"}"), "500");
    assert_eq!(metric("ferry_sync_table_stopped{table=\"note\"}"), "1");
    // Lag in bytes: the binlog after the committed position, read from the source every few
    // seconds (other databases of the shared test server write too, so only its presence is
    // compared here).
    wait_until("the binlog backlog", || status(&addr)["backlog_bytes"].is_u64());
    let what = status(&addr)["backlog_what"].as_str().unwrap_or_default().to_string();
    assert!(what.starts_with("of binlog not applied yet (binlogs "), "{what}");
    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.lines().any(|l| l.strip_prefix("ferry_sync_backlog_bytes ").is_some_and(|n| n.parse::<u64>().is_ok())), "{metrics}");
    let page = http_get(&addr, "/");
    assert!(!page.contains("src=") && !page.contains("<link") && !page.contains("http://") && !page.contains("https://"), "self-contained");
    let _ = sync.kill();
    let _ = sync.wait();

    // With no sync running, `ferry status --http` serves the same page from the state tables.
    let addr2 = format!("127.0.0.1:{}", free_port());
    let mut st = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["status", "--target", &dst, "--http", &addr2])
        .env_remove("FERRY_TARGET_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the status page", || std::net::TcpStream::connect(&addr2).is_ok() && status(&addr2)["tables"]["account"]["updates"].as_u64().is_some());
    let stored = status(&addr2);
    assert_eq!(stored["tables"]["account"]["updates"].as_u64(), Some(writes as u64), "{stored}");
    assert_eq!(stored["tables"]["note"]["state"], "stopped");
    let page = dom(&addr2, &profile, None);
    assert_eq!(cell(&page, "account", "updates").map(|c| number(&c)), Some(writes as u64), "{page}");
    let _ = st.kill();
    let _ = st.wait();
}
