//! `ferry diff`, `ferry erd` and `ferry report` on Sakila and Chinook, against golden files in
//! tests/golden/ (regenerate with FERRY_UPDATE_GOLDEN=1 and review the change). Database names
//! are per test run; outputs show them as `<db>`.

mod common;
use common::*;

fn golden_db(name: &str, actual: &str, db: &str) {
    golden(name, &actual.replace(db, "<db>"));
}

fn pg_db_url(name: &str) -> String {
    format!("{}/{name}", pg_base())
}

/// Loads the reference PostgreSQL Chinook into a fresh database (schema public).
fn load_chinook_postgres(db: &str) -> String {
    let url = fresh_pg(db);
    let text = chinook_pg_script();
    let path = std::env::temp_dir().join(format!("{db}.sql"));
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-f", path.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_file(path);
    url
}

fn apply_sql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(sql.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "applying the fix-up script failed: {}\n{sql}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sakila_diff_after_migrate_finds_changes_and_its_script_fixes_them() {
    let db = unique("diff_sakila");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);
    migrate_ok(&["--source", &src, "--target", &dst, "--quiet"]);
    // A fresh migrate is what the plan says, Sakila's 7 views included (converted from MySQL).
    let only_views = |args: &[&str]| {
        let mut a = vec!["diff", &src, &dst, "--json"];
        a.extend_from_slice(args);
        let r = ferry(&a);
        let d: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.all()));
        let counts = (d["missing"].as_array().unwrap().len(), d["unexpected"].as_array().unwrap().len(), d["changed"].as_array().unwrap().len());
        assert_eq!(counts, (0, 0, 0), "{d:#}");
    };
    only_views(&[]);

    // Drift on the target: a dropped column and index, a changed type, nullability and default,
    // a removed foreign key, an extra table, column and index.
    let s = format!("\"{db}\"");
    let ix = psql(&dst, &format!("SELECT indexname FROM pg_indexes WHERE schemaname = '{db}' AND tablename = 'actor' AND indexdef LIKE '%(last_name)%'"));
    let fk = psql(
        &dst,
        &format!("SELECT conname FROM pg_constraint WHERE conrelid = '{s}.payment'::regclass AND contype = 'f' AND confrelid = '{s}.rental'::regclass"),
    );
    psql(
        &dst,
        &format!(
            "DROP VIEW {s}.actor_info, {s}.film_list, {s}.nicer_but_slower_film_list; \
             ALTER TABLE {s}.actor DROP COLUMN last_update; DROP INDEX {s}.\"{}\"; \
             ALTER TABLE {s}.film ALTER COLUMN title TYPE text, ALTER COLUMN rental_rate SET DEFAULT 9.99; \
             ALTER TABLE {s}.customer ALTER COLUMN email SET NOT NULL; \
             ALTER TABLE {s}.payment DROP CONSTRAINT \"{}\"; \
             CREATE TABLE {s}.extra (id integer PRIMARY KEY); ALTER TABLE {s}.store ADD COLUMN note text; \
             CREATE INDEX extra_idx ON {s}.city (city, country_id); DROP VIEW {s}.staff_list;",
            ix.trim(),
            fk.trim()
        ),
    );
    let text = ferry(&["diff", &src, &dst]);
    assert_eq!(text.status, 1, "{}", text.all());
    golden_db("sakila-diff.txt", &text.stdout, &db);
    let json = ferry(&["diff", &src, &dst, "--json"]);
    golden_db("sakila-diff.json", &json.stdout, &db);
    let keep = ferry(&["diff", &src, &dst, "--sql"]);
    golden_db("sakila-fixup.sql", &keep.stdout, &db);
    let drop = ferry(&["diff", &src, &dst, "--sql", "--allow-drop"]);
    golden_db("sakila-fixup-drop.sql", &drop.stdout, &db);
    apply_sql(&dst, &drop.stdout);
    only_views(&[]);

    // --strict-names: the same key under another name is a change, and the script renames it.
    let pk = psql(&dst, &format!("SELECT conname FROM pg_constraint WHERE conrelid = '{s}.language'::regclass AND contype = 'p'"));
    psql(&dst, &format!("ALTER TABLE {s}.language RENAME CONSTRAINT \"{}\" TO pk_language", pk.trim()));
    only_views(&[]);
    let strict = ferry(&["diff", &src, &dst, "--strict-names"]);
    assert_eq!(strict.status, 1);
    assert!(strict.stdout.contains("primary key language.language_pkey name: A language_pkey | B pk_language"), "{}", strict.stdout);
    apply_sql(&dst, &ferry(&["diff", &src, &dst, "--strict-names", "--sql"]).stdout);
    only_views(&["--strict-names"]);
}

#[test]
fn chinook_mysql_against_the_reference_postgresql_shows_only_real_differences() {
    let db = unique("diff_chinook");
    let src = load_chinook_mysql(&db);
    let reference = load_chinook_postgres(&format!("{db}_ref"));
    let cfg = write_config(&format!("{db}.toml"), "[rules]\nidentifiers = \"snake_case\"\n");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            vec!["diff".into(), src.clone(), reference.clone(), "--b-schema".into(), "public".into(), "--config".into(), cfg.to_str().unwrap().into()];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        ferry(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let text = run(&[]);
    assert_eq!(text.status, 1, "{}", text.all());
    golden_db("chinook-diff.txt", &text.stdout, &db);
    golden_db("chinook-diff.json", &run(&["--json"]).stdout, &db);
    let sql = run(&["--sql"]);
    golden_db("chinook-fixup.sql", &sql.stdout, &db);
    // The HTML report before any migrate: the plan's assessment and diagram (the SVG itself is
    // Graphviz's layout, checked by the Chromium test, not pinned here).
    let page = std::env::temp_dir().join(format!("{db}.html"));
    let r = ferry(&["report", "--config", cfg.to_str().unwrap(), "--source", &src, "--target", &fresh_pg(&db), "--html", page.to_str().unwrap()]);
    assert_eq!(r.status, 0, "{}", r.all());
    let html = std::fs::read_to_string(&page).unwrap();
    let (head, rest) = html.split_once("<svg").expect("an inline SVG");
    let tail = rest.rsplit_once("</svg>").expect("a closed SVG").1;
    golden_db("chinook-report.html", &format!("{head}<svg><!-- Graphviz layout --></svg>{tail}"), &db);
    apply_sql(&reference, &sql.stdout);
    assert_eq!(run(&[]).status, 0, "the script converges");
}

#[test]
fn erd_of_sakila_and_chinook() {
    let db = unique("erd");
    let src = load_sakila(&db);
    let mermaid = ferry(&["erd", &src, "--tables", "film,actor", "--depth", "1"]);
    assert_eq!(mermaid.status, 0, "{}", mermaid.all());
    golden_db("sakila-erd.mmd", &mermaid.stdout, &db);
    let dot = ferry(&["erd", &src, "--tables", "film,actor", "--depth", "1", "--format", "dot"]);
    golden_db("sakila-erd.dot", &dot.stdout, &db);
    let svg = ferry(&["erd", &src, "--tables", "payment", "--format", "svg"]);
    assert_eq!(svg.status, 0, "{}", svg.all());
    assert!(svg.stdout.contains("<svg") && svg.stdout.contains("payment_id"), "{}", &svg.stdout[..svg.stdout.len().min(300)]);

    let reference = load_chinook_postgres(&format!("{db}_ref"));
    let ch = ferry(&["erd", &reference, "--schema", "public", "--tables", "invoice%", "--depth", "1"]);
    assert_eq!(ch.status, 0, "{}", ch.all());
    golden_db("chinook-erd.mmd", &ch.stdout, &db);
    let ch_dot = ferry(&["erd", &reference, "--schema", "public", "--tables", "invoice%", "--depth", "1", "--format", "dot"]);
    golden_db("chinook-erd.dot", &ch_dot.stdout, &db);
    // Without declared keys, relations are inferred from names and drawn dashed.
    psql(&reference, "ALTER TABLE invoice_line DROP CONSTRAINT invoice_line_track_id_fkey");
    let inferred = ferry(&["erd", &reference, "--schema", "public", "--tables", "invoice_line", "--depth", "1"]);
    assert!(inferred.stdout.contains("track ||..o{ invoice_line : \"inferred: track_id\""), "{}", inferred.stdout);
    let none = ferry(&["erd", &reference, "--schema", "public", "--tables", "nope%"]);
    assert_eq!(none.status, 2);
    assert!(none.stderr.contains("no table"), "{}", none.stderr);
    let _ = pg_db_url;
}

/// `ferry report --html`: after migrate and verify, one self-contained page with a summary on
/// top, charts, collapsible details and the zoomable diagram; headless Chromium at 1400 px renders
/// it without console errors, nothing overflows the page horizontally (measured in the DOM), the
/// summary's numbers are the JSON reports' numbers, and the diagram's table headers are visible
/// in a screenshot.
#[test]
fn html_report_renders_in_chromium_with_the_diagram_visible() {
    let db = unique("report");
    let src = load_sakila(&db);
    let dst = fresh_pg(&db);
    let m = migrate_ok(&["--source", &src, "--target", &dst, "--json"]);
    let migrate: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    let verify = verify_equal(&["--source", &src, "--target", &dst]);
    let plan = ferry(&["plan", "--source", &src, "--target", &dst, "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let page = std::env::temp_dir().join(format!("{db}.html"));
    let r = ferry(&["report", "--source", &src, "--target", &dst, "--html", page.to_str().unwrap()]);
    assert_eq!(r.status, 0, "{}", r.all());
    let html = std::fs::read_to_string(&page).unwrap();
    for part in [
        "id=\"summary\"",
        "id=\"assessment\"",
        "Last migrate",
        "complete",
        "target equals source",
        "<svg",
        "film_actor",
        "<details",
        "id=\"chart-rows\"",
        "id=\"z-200\"",
    ] {
        assert!(html.contains(part), "the page lacks {part}");
    }
    // Self-contained: no script, and nothing the page would fetch (the SVG's own xmlns/DTD
    // identifiers are names, not fetched).
    assert!(!html.contains("<script"), "no script");
    for fetch in ["src=", "<link", "@import", "url("] {
        assert!(!html.contains(fetch), "the page fetches something ({fetch})");
    }

    let chromium = chromium();
    let profile = std::env::temp_dir().join(format!("{db}-chromium"));
    let shot = std::env::temp_dir().join(format!("{db}.png"));
    // A copy of the page with a probe script (the page itself has none) that measures, after
    // layout at 1400 px, whether anything sticks out of the page horizontally, and reads the
    // summary as rendered.
    let probe = std::env::temp_dir().join(format!("{db}-probe.html"));
    let script = r#"<script>
      const W = document.documentElement.clientWidth;
      const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
      const out = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > W + 1 && !scrolls(e)).map(e => e.tagName + '.' + e.className).slice(0, 10);
      const res = { clientWidth: W, scrollWidth: document.documentElement.scrollWidth, overflowing: out,
        rows: document.getElementById('sum-rows').textContent, actions: document.getElementById('sum-actions').textContent,
        verify: document.getElementById('sum-verify').textContent, tables: document.getElementById('sum-tables').textContent,
        warnings: document.getElementById('sum-warnings').textContent };
      const pre = document.createElement('pre'); pre.id = 'probe-result'; pre.textContent = JSON.stringify(res); document.body.appendChild(pre);
    </script>"#;
    std::fs::write(&probe, html.replace("</body>", &format!("{script}</body>"))).unwrap();
    let run = |url: &str, extra: &[String]| {
        let mut args: Vec<String> =
            ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"].iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend_from_slice(extra);
        args.push(url.to_string());
        std::process::Command::new(chromium).args(&args).output().expect("chromium")
    };
    let dom = run(&format!("file://{}", probe.display()), &["--window-size=1400,1000".into(), "--virtual-time-budget=5000".into(), "--dump-dom".into()]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom_text.contains("<svg"), "the rendered DOM has the diagram");
    let result = dom_text.split("<pre id=\"probe-result\">").nth(1).and_then(|r| r.split("</pre>").next()).expect("the probe ran");
    let result: serde_json::Value = serde_json::from_str(&result.replace("&quot;", "\"").replace("&amp;", "&")).unwrap();
    assert_eq!(result["clientWidth"], 1400, "{result}");
    assert!(result["scrollWidth"].as_u64().unwrap() <= 1400, "the page scrolls horizontally: {result}");
    assert!(result["overflowing"].as_array().unwrap().is_empty(), "elements stick out of the page: {result}");
    // The summary says what the JSON reports say.
    assert_eq!(result["rows"].as_str().unwrap(), migrate["total_rows"].to_string());
    assert_eq!(result["verify"], if verify["equal"] == true { "equal" } else { "differs" });
    let items = plan["assessment"]["items"].as_array().unwrap();
    let n = |sev: &str| items.iter().filter(|i| i["severity"] == sev).count().to_string();
    assert_eq!(result["actions"].as_str().unwrap(), n("action"));
    assert_eq!(result["warnings"].as_str().unwrap(), n("warning"));
    assert_eq!(result["tables"].as_str().unwrap(), plan["assessment"]["tables"].as_array().unwrap().len().to_string());

    let out = run(&format!("file://{}", page.display()), &[format!("--screenshot={}", shot.display()), "--window-size=1400,6000".into()]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // Pixels of the diagram's table headers (#2f6fb3) in the screenshot.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).expect("screenshot written")));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, 1400, "screenshot at 1400 px");
    let px = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("screenshot colour type {other:?}"),
    };
    let header = buf[..info.buffer_size()]
        .chunks(px)
        .filter(|p| (p[0] as i32 - 0x2f).abs() < 12 && (p[1] as i32 - 0x6f).abs() < 12 && (p[2] as i32 - 0xb3).abs() < 12)
        .count();
    assert!(header > 2000, "the diagram is visible: {header} header pixels in the screenshot");
    let keep = std::env::var_os("FERRY_KEEP_SCREENSHOT").map(std::path::PathBuf::from);
    if let Some(k) = keep {
        std::fs::copy(&shot, k).unwrap();
    }
    let _ = std::fs::remove_dir_all(profile);
}
