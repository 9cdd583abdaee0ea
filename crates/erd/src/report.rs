//! `ferry report --html`: one self-contained page (no script, no external file, no font or image
//! fetched) for reading: a summary on top (tables, rows, time, equal or not, action items by
//! kind), charts of rows and load time per table, then the details — assessment, last migrate,
//! last verify — in collapsible sections with SQL in scrollable code blocks, and the ER diagram
//! with zoom levels (CSS only: radio buttons, no script).
//!
//! Guarantees, kept by [`html`]: every number in the summary is read from the same JSON reports
//! `--json` prints (the elements carry `id="sum-…"` so a test can compare them); nothing is
//! wider than the page (tables and code scroll inside their own box, long words wrap), so the
//! page reads at 1400 px and below. Reports arrive as JSON so this crate needs none of the
//! engines.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub struct ReportInput {
    pub title: String,
    /// The plan's assessment (`ferry plan --json`'s `assessment`).
    pub assessment: Value,
    /// When, and the last `ferry migrate --json` report.
    pub migrate: Option<(String, Value)>,
    /// When, and the last `ferry verify --json` report.
    pub verify: Option<(String, Value)>,
    /// The diagram as SVG (Graphviz), or why there is none.
    pub svg: Option<String>,
    pub svg_error: Option<String>,
    /// The same diagram in Mermaid, shown when there is no SVG.
    pub mermaid: String,
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn arr(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// A table of `rows` (JSON objects) with the given (header, key) columns, in its own scrolling
/// box.
fn table(out: &mut String, rows: &[Value], cols: &[(&str, &str)]) {
    out.push_str("<div class=\"scroll\"><table><thead><tr>");
    for (h, _) in cols {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for (_, k) in cols {
            let v = r.get(*k).map(text).unwrap_or_default();
            let class = if matches!(r.get(*k), Some(Value::Number(_))) { format!("{} n", esc(k)) } else { esc(k) };
            let _ = write!(out, "<td class=\"{class}\">{}</td>", esc(&v));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// The SVG element alone (without the XML prolog and DOCTYPE `dot` writes).
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg)
}

/// The diagram's own width in CSS pixels (Graphviz writes `width="1234pt"`).
fn svg_width_px(svg: &str) -> Option<f64> {
    let open = &svg[svg.find("<svg")?..];
    let open = &open[..open.find('>')?];
    let w = open.split("width=\"").nth(1)?.split('"').next()?;
    let (n, unit) = w.find(|c: char| !(c.is_ascii_digit() || c == '.')).map(|i| (&w[..i], &w[i..])).unwrap_or((w, ""));
    let n: f64 = n.parse().ok()?;
    Some(if unit == "pt" { n * 4.0 / 3.0 } else { n })
}

/// What an action item is about, for the summary: `view`, `trigger`, `procedure`… from its
/// object (`view actor_info`), `citus` from its message, else `column or index` / `table`.
fn kind(item: &Value) -> String {
    let object = item.get("object").and_then(Value::as_str).unwrap_or_default();
    let message = item.get("message").and_then(Value::as_str).unwrap_or_default();
    if message.starts_with("citus:") {
        return "citus".into();
    }
    if let Some((word, _)) = object.split_once(' ') {
        if word.chars().all(|c| c.is_ascii_lowercase()) && !word.is_empty() {
            return word.to_string();
        }
    }
    if object.contains('.') {
        "column or index".into()
    } else {
        "table".into()
    }
}

/// A horizontal bar chart (inline SVG) of `(label, value)`, largest first, at most 25 bars.
fn bar_chart(out: &mut String, id: &str, title: &str, unit: &str, mut bars: Vec<(String, f64)>) {
    bars.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shown = bars.len().min(25);
    let rest = bars.len() - shown;
    bars.truncate(shown);
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    let (w, label_w, row_h) = (640.0, 190.0, 18.0);
    let h = row_h * bars.len() as f64 + 28.0;
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption>\n<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\n",
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 4.0 + row_h * i as f64;
        let bw = if max > 0.0 { (w - label_w - 90.0) * v / max } else { 0.0 };
        let short: String = if label.chars().count() > 26 { label.chars().take(25).chain(['…']).collect() } else { label.clone() };
        let value = if unit == "s" { format!("{v:.2} s") } else { format!("{}", *v as u64) };
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{}\" class=\"bar\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{}\" class=\"val\">{}</text>",
            label_w - 6.0,
            y + 12.5,
            esc(&short),
            row_h - 4.0,
            esc(label),
            esc(&value),
            label_w + bw + 4.0,
            y + 12.5,
            esc(&value)
        );
    }
    if rest > 0 {
        let _ = writeln!(out, "<text x=\"{label_w}\" y=\"{}\" class=\"lbl\">and {rest} smaller</text>", h - 8.0);
    }
    out.push_str("</svg></figure>\n");
}

const STYLE: &str = "\
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #dde1e6; --soft: #f3f5f8; --ok: #17702f; --bad: #b3261e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1280px; color: var(--fg); line-height: 1.4; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
p, li, td, th, summary { overflow-wrap: anywhere; }
.sub { color: var(--muted); margin: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; margin: 1.25rem 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; background: #fff; min-width: 0; }
.card .k { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 1.6rem; font-weight: 650; display: block; }
.card ul { margin: .25rem 0 0; padding-left: 1.1rem; font-size: .85rem; }
.ok { color: var(--ok); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; } .warn { color: var(--warn); font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; min-width: 0; }
figure.chart figcaption { font-weight: 600; font-size: .9rem; margin-bottom: .25rem; }
figure.chart svg { width: 100%; height: auto; display: block; }
figure.chart .bar { fill: #7a9cc6; } figure.chart .lbl, figure.chart .val { font-size: 11px; fill: #333; }
details { border: 1px solid var(--line); border-radius: 6px; margin: .5rem 0; padding: .25rem .75rem; }
details > summary { cursor: pointer; font-weight: 600; padding: .25rem 0; }
details details { border: 0; border-top: 1px solid var(--line); border-radius: 0; margin: 0; padding: .25rem 0; }
details details > summary { font-weight: normal; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.severity { font-weight: 600; }
pre { background: #f6f8fa; padding: .75rem; overflow: auto; max-height: 24rem; max-width: 100%; font-size: .8rem; border-radius: 6px; }
code { font-family: ui-monospace, monospace; }
.sev-action { color: var(--bad); } .sev-warning { color: var(--warn); } .sev-info { color: var(--muted); }
.zoom { margin: .5rem 0; font-size: .85rem; }
.zoom input { margin-left: .75rem; }
.erd-view { overflow: auto; max-width: 100%; max-height: 80vh; border: 1px solid var(--line); border-radius: 6px; resize: vertical; }
.erd-view svg { display: block; height: auto; }
#z-fit:checked ~ .erd-view svg { width: 100%; max-width: 100%; }
";

pub fn html(r: &ReportInput) -> String {
    let a = &r.assessment;
    let items = arr(a, "items");
    let tables = arr(a, "tables");
    let count = |sev: &str| items.iter().filter(|i| i.get("severity").and_then(Value::as_str) == Some(sev)).count();
    let (actions, warnings, notes) = (count("action"), count("warning"), count("info"));
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for i in items.iter().filter(|i| i.get("severity").and_then(Value::as_str) == Some("action")) {
        *kinds.entry(kind(i)).or_default() += 1;
    }

    let mut s = String::new();
    let zoom_css = r.svg.as_deref().and_then(svg_width_px).map(|w| {
        format!(
            "#z-100:checked ~ .erd-view svg {{ width: {w:.0}px; max-width: none; }}\n#z-200:checked ~ .erd-view svg {{ width: {:.0}px; max-width: none; }}\n",
            w * 2.0
        )
    });
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{STYLE}{}</style>\n</head>\n<body>\n<header><h1>{}</h1>\n<p class=\"sub\">Source {} ({}) → schema <b>{}</b></p></header>",
        esc(&r.title),
        zoom_css.unwrap_or_default(),
        esc(&r.title),
        esc(&text(a.get("source").unwrap_or(&Value::Null))),
        esc(&text(a.get("source_server").unwrap_or(&Value::Null))),
        esc(&text(a.get("target_schema").unwrap_or(&Value::Null))),
    );

    // Summary.
    s.push_str("<section id=\"summary\" class=\"cards\">\n");
    let _ = writeln!(s, "<div class=\"card\"><span class=\"k\">Tables</span><span class=\"v\" id=\"sum-tables\">{}</span></div>", tables.len());
    match &r.migrate {
        Some((at, m)) => {
            let ok = m.get("ok").and_then(Value::as_bool).unwrap_or(false);
            let _ = write!(
                s,
                "<div class=\"card\"><span class=\"k\">Rows loaded</span><span class=\"v\" id=\"sum-rows\">{}</span><span class=\"{}\">{}</span></div>\n\
                 <div class=\"card\"><span class=\"k\">Migrate time</span><span class=\"v\"><span id=\"sum-seconds\">{:.2}</span> s</span><span class=\"sub\">{}</span></div>\n",
                m.get("total_rows").and_then(Value::as_u64).unwrap_or(0),
                if ok { "ok" } else { "bad" },
                if ok { "migrate complete" } else { "migrate with failures" },
                num(m, "seconds"),
                esc(at)
            );
        }
        None => s.push_str(
            "<div class=\"card\"><span class=\"k\">Rows loaded</span><span class=\"v\" id=\"sum-rows\">—</span><span class=\"sub\">no migrate yet</span></div>\n",
        ),
    }
    let (verify_class, verify_word) = match &r.verify {
        Some((_, v)) if v.get("equal").and_then(Value::as_bool) == Some(true) => ("ok", "equal"),
        Some(_) => ("bad", "differs"),
        None => ("warn", "not run"),
    };
    let _ = writeln!(s, "<div class=\"card\"><span class=\"k\">Verify</span><span class=\"v {verify_class}\" id=\"sum-verify\">{verify_word}</span></div>");
    let _ = write!(s, "<div class=\"card\"><span class=\"k\">Action items</span><span class=\"v\" id=\"sum-actions\">{actions}</span><ul id=\"sum-kinds\">");
    for (k, n) in &kinds {
        let _ = write!(s, "<li><span class=\"kind\">{}</span>: <span class=\"kn\">{n}</span></li>", esc(k));
    }
    let _ = writeln!(
        s,
        "</ul></div>\n<div class=\"card\"><span class=\"k\">Warnings · notes</span><span class=\"v\"><span id=\"sum-warnings\">{warnings}</span> · <span id=\"sum-notes\">{notes}</span></span></div>\n</section>"
    );

    // Charts: where a picture says more than a table.
    let loaded = r.migrate.as_ref().map(|(_, m)| arr(m, "tables")).unwrap_or_default();
    let label = |t: &Value| t.get("target").and_then(Value::as_str).unwrap_or_default().to_string();
    let (row_bars, chart_title): (Vec<(String, f64)>, &str) = if loaded.is_empty() {
        (tables.iter().map(|t| (label(t), num(t, "estimated_rows"))).collect(), "Rows per table (source estimate)")
    } else {
        (loaded.iter().map(|t| (label(t), num(t, "rows"))).collect(), "Rows per table (loaded)")
    };
    if !row_bars.is_empty() {
        s.push_str("<section id=\"charts\" class=\"charts\">\n");
        bar_chart(&mut s, "chart-rows", chart_title, "rows", row_bars);
        if !loaded.is_empty() {
            bar_chart(
                &mut s,
                "chart-seconds",
                "Time per table (load + keys and indexes)",
                "s",
                loaded.iter().map(|t| (label(t), num(t, "seconds") + num(t, "post_load_seconds"))).collect(),
            );
        }
        s.push_str("</section>\n");
    }

    // Assessment.
    let _ = writeln!(s, "<section id=\"assessment\"><h2>Assessment</h2>\n<p>{actions} action items, {warnings} warnings, {notes} notes.</p>");
    let _ = writeln!(s, "<details><summary>Tables ({})</summary>", tables.len());
    table(
        &mut s,
        &tables,
        &[
            ("source table", "source"),
            ("target table", "target"),
            ("columns", "columns"),
            ("rows (estimate)", "estimated_rows"),
            ("primary key", "primary_key"),
            ("indexes", "indexes"),
            ("foreign keys", "foreign_keys"),
        ],
    );
    s.push_str("</details>\n");
    // Views, triggers, routines: how many of each kind were converted (as AWS SCT reports it).
    let code = arr(a, "code");
    if !code.is_empty() {
        s.push_str("<div id=\"code-objects\"><h3>Code objects</h3>\n");
        table(&mut s, &code, &[("kind", "kind"), ("converted", "converted"), ("with warnings", "with_warnings"), ("not converted", "not_converted")]);
        s.push_str("</div>\n");
    }
    for (sev, title, open) in
        [("action", "Action items: a person must port these", true), ("warning", "Warnings: converted, behaviour differs", false), ("info", "Notes", false)]
    {
        let these: Vec<&Value> = items.iter().filter(|i| i.get("severity").and_then(Value::as_str) == Some(sev)).collect();
        if these.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<details class=\"sev-{sev}-group\"{}><summary class=\"sev-{sev}\">{title} ({})</summary>",
            if open { " open" } else { "" },
            these.len()
        );
        for i in these {
            let object = text(i.get("object").unwrap_or(&Value::Null));
            let message = text(i.get("message").unwrap_or(&Value::Null));
            match i.get("sql").and_then(Value::as_str) {
                Some(sql) => {
                    let _ =
                        writeln!(s, "<details><summary><b>{}</b> — {}</summary><pre><code>{}</code></pre></details>", esc(&object), esc(&message), esc(sql));
                }
                None => {
                    let _ = writeln!(s, "<p><b>{}</b> — {}</p>", esc(&object), esc(&message));
                }
            }
        }
        s.push_str("</details>\n");
    }
    s.push_str("</section>\n");

    // Migrate.
    s.push_str("<section id=\"migrate\"><h2>Last migrate</h2>\n");
    match &r.migrate {
        None => s.push_str("<p>No <code>ferry migrate</code> has run into this schema.</p>\n"),
        Some((at, m)) => {
            let ok = m.get("ok").and_then(Value::as_bool).unwrap_or(false);
            let _ = writeln!(
                s,
                "<p>{}: <span class=\"{}\">{}</span> — {} rows in {} s ({} rows/s).</p>",
                esc(at),
                if ok { "ok" } else { "bad" },
                if ok { "complete" } else { "with failures" },
                esc(&text(m.get("total_rows").unwrap_or(&Value::Null))),
                esc(&text(m.get("seconds").unwrap_or(&Value::Null))),
                esc(&text(m.get("rows_per_second").unwrap_or(&Value::Null)))
            );
            let structure = arr(m, "structure");
            if !structure.is_empty() {
                let _ = write!(s, "<p class=\"bad\">{} planned object(s) missing or different on the target:</p><ul>", structure.len());
                for p in &structure {
                    let _ = write!(s, "<li>{}</li>", esc(&text(p)));
                }
                s.push_str("</ul>\n");
            }
            let tables = arr(m, "tables");
            let _ = writeln!(s, "<details{}><summary>Per table ({})</summary>", if ok { "" } else { " open" }, tables.len());
            table(
                &mut s,
                &tables,
                &[
                    ("table", "target"),
                    ("rows", "rows"),
                    ("bytes", "bytes"),
                    ("load s", "seconds"),
                    ("keys and indexes s", "post_load_seconds"),
                    ("zero dates → NULL", "zero_dates_nulled"),
                    ("zero dates → -infinity", "zero_dates_infinity"),
                    ("error", "error"),
                ],
            );
            s.push_str("</details>\n");
            let failures: Vec<(String, Value)> =
                tables.iter().flat_map(|t| arr(t, "failures").into_iter().map(move |f| (text(t.get("target").unwrap_or(&Value::Null)), f))).collect();
            if !failures.is_empty() {
                let _ = writeln!(s, "<details open><summary class=\"bad\">Failed steps ({})</summary>", failures.len());
                for (t, f) in &failures {
                    let _ = writeln!(
                        s,
                        "<p><b>{}</b>: {}</p><pre><code>{}</code></pre>",
                        esc(t),
                        esc(&text(f.get("error").unwrap_or(&Value::Null))),
                        esc(&text(f.get("statement").unwrap_or(&Value::Null)))
                    );
                }
                s.push_str("</details>\n");
            }
        }
    }
    s.push_str("</section>\n<section id=\"verify\"><h2>Last verify</h2>\n");
    match &r.verify {
        None => s.push_str("<p>No <code>ferry verify</code> has run on this schema.</p>\n"),
        Some((at, v)) => {
            let equal = v.get("equal").and_then(Value::as_bool).unwrap_or(false);
            let _ = writeln!(
                s,
                "<p>{}: <span class=\"{}\">{}</span> — {} rows compared in {} s.</p>",
                esc(at),
                if equal { "ok" } else { "bad" },
                if equal { "target equals source" } else { "differences found" },
                esc(&text(v.get("rows_compared").unwrap_or(&Value::Null))),
                esc(&text(v.get("seconds").unwrap_or(&Value::Null)))
            );
            let tables = arr(v, "tables");
            let _ = writeln!(s, "<details{}><summary>Per table ({})</summary>", if equal { "" } else { " open" }, tables.len());
            table(
                &mut s,
                &tables,
                &[
                    ("table", "target"),
                    ("status", "status"),
                    ("source rows", "source_rows"),
                    ("target rows", "target_rows"),
                    ("missing", "missing"),
                    ("extra", "extra"),
                    ("changed", "changed"),
                ],
            );
            s.push_str("</details>\n");
            // `--objects`: each view and call, run on both sides.
            let objects = arr(v, "objects");
            if !objects.is_empty() {
                let all_equal = objects.iter().all(|o| o.get("equal").and_then(Value::as_bool) == Some(true));
                let _ = writeln!(
                    s,
                    "<details id=\"verify-objects\"{}><summary>Views and calls ({})</summary>",
                    if all_equal { "" } else { " open" },
                    objects.len()
                );
                table(
                    &mut s,
                    &objects,
                    &[("object", "object"), ("equal", "equal"), ("source rows", "source_rows"), ("target rows", "target_rows"), ("detail", "detail")],
                );
                s.push_str("</details>\n");
            }
        }
    }
    s.push_str("</section>\n<section id=\"erd\" class=\"erd\"><h2>Entity-relationship diagram</h2>\n");
    match &r.svg {
        Some(svg) => {
            // The radios precede the view as its siblings, so `#z-…:checked ~ .erd-view` sizes it.
            s.push_str(
                "<div class=\"zoom\">zoom:<input type=\"radio\" name=\"zoom\" id=\"z-fit\" checked><label for=\"z-fit\">fit to page</label>\
                 <input type=\"radio\" name=\"zoom\" id=\"z-100\"><label for=\"z-100\">100%</label>\
                 <input type=\"radio\" name=\"zoom\" id=\"z-200\"><label for=\"z-200\">200%</label>\n<div class=\"erd-view\">",
            );
            s.push_str(inline_svg(svg));
            s.push_str("</div></div>\n");
        }
        None => {
            let _ = writeln!(s, "<p class=\"bad\">{}</p>\n<pre>{}</pre>", esc(r.svg_error.as_deref().unwrap_or("no diagram")), esc(&r.mermaid));
        }
    }
    s.push_str("</section>\n</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(migrate: Option<Value>) -> String {
        html(&ReportInput {
            title: "a <b>".into(),
            assessment: serde_json::json!({"source": "s", "items": [
                {"severity": "action", "object": "view v", "message": "port <it>", "sql": "SELECT 1"},
                {"severity": "action", "object": "trigger t", "message": "port"},
                {"severity": "action", "object": "view w", "message": "port"},
                {"severity": "warning", "object": "t.c", "message": "w"}
            ], "tables": [{"source": "t", "target": "t", "estimated_rows": 5}],
               "code": [{"kind": "view", "converted": 3, "with_warnings": 1, "not_converted": 2}]}),
            migrate: migrate.map(|m| ("then".to_string(), m)),
            verify: Some((
                "now".into(),
                serde_json::json!({"equal": true, "tables": [], "rows_compared": 3, "seconds": 0.5,
                    "objects": [{"object": "view v", "equal": true, "source_rows": 2, "target_rows": 2}]}),
            )),
            svg: Some("<?xml version=\"1.0\"?><!DOCTYPE svg><svg width=\"300pt\" height=\"100pt\"><g/></svg>".into()),
            svg_error: None,
            mermaid: String::new(),
        })
    }

    #[test]
    fn escapes_and_inlines() {
        let page = page(None);
        assert!(page.contains("<title>a &lt;b&gt;</title>"));
        assert!(page.contains("port &lt;it&gt;"));
        assert!(page.contains("<svg width=\"300pt\" height=\"100pt\"><g/></svg>") && !page.contains("<?xml"));
        assert!(page.contains("target equals source"));
        assert!(page.contains("<pre><code>SELECT 1</code></pre>"), "SQL in a code block");
        assert!(
            page.contains(
                "<td class=\"kind\">view</td><td class=\"converted n\">3</td><td class=\"with_warnings n\">1</td><td class=\"not_converted n\">2</td>"
            ),
            "the per-kind conversion counts"
        );
        assert!(
            page.contains("<details id=\"verify-objects\"><summary>Views and calls (1)</summary>") && page.contains("<td class=\"object\">view v</td>"),
            "verify --objects in the report"
        );
        assert!(!page.contains("<script"));
    }

    #[test]
    fn summary_counts_action_items_by_kind_and_reads_the_migrate_report() {
        let p = page(Some(
            serde_json::json!({"ok": true, "total_rows": 1234, "seconds": 2.5, "tables": [{"target": "t", "rows": 1234, "seconds": 2.0, "post_load_seconds": 0.5}]}),
        ));
        assert!(p.contains("id=\"sum-actions\">3<"), "{p}");
        assert!(p.contains("<span class=\"kind\">view</span>: <span class=\"kn\">2</span>"));
        assert!(p.contains("<span class=\"kind\">trigger</span>: <span class=\"kn\">1</span>"));
        assert!(p.contains("id=\"sum-rows\">1234<") && p.contains("id=\"sum-seconds\">2.50<") && p.contains("id=\"sum-verify\">equal<"));
        assert!(p.contains("id=\"chart-rows\"") && p.contains("id=\"chart-seconds\""));
        // The zoom levels know the diagram's own size (300 pt = 400 px).
        assert!(p.contains("#z-100:checked ~ .erd-view svg { width: 400px;") && p.contains("width: 800px;"));
    }
}
