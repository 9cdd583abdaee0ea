//! `ferry report --html`: one self-contained page (no script, no external file) with the
//! plan's assessment, the last migrate and verify summaries, and the ER diagram as inline SVG.
//! Reports arrive as JSON so this crate needs none of the engines.

use serde_json::Value;
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

/// A table of `rows` (JSON objects) with the given (header, key) columns.
fn table(out: &mut String, rows: &[Value], cols: &[(&str, &str)]) {
    out.push_str("<table><thead><tr>");
    for (h, _) in cols {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for (_, k) in cols {
            let v = r.get(*k).map(text).unwrap_or_default();
            let _ = write!(out, "<td class=\"{}\">{}</td>", esc(k), esc(&v));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// The SVG element alone (without the XML prolog and DOCTYPE `dot` writes).
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg)
}

pub fn html(r: &ReportInput) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n\
         body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; }}\n\
         h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }}\n\
         table {{ border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }}\n\
         th, td {{ border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }}\n\
         th {{ background: #f3f5f8; }}\n\
         td.severity {{ font-weight: 600; }}\n\
         .ok {{ color: #17702f; font-weight: 600; }} .bad {{ color: #b3261e; font-weight: 600; }}\n\
         .erd svg {{ max-width: 100%; height: auto; border: 1px solid #ddd; }}\n\
         pre {{ background: #f6f8fa; padding: .75rem; overflow: auto; }}\n\
         </style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&r.title),
        esc(&r.title)
    );
    // Assessment.
    let a = &r.assessment;
    let items = a.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    let count = |sev: &str| items.iter().filter(|i| i.get("severity").and_then(Value::as_str) == Some(sev)).count();
    let _ = write!(
        s,
        "<section id=\"assessment\"><h2>Assessment</h2>\n<p>Source {} ({}) → schema <b>{}</b>: {} action items, {} warnings, {} notes.</p>\n",
        esc(&text(a.get("source").unwrap_or(&Value::Null))),
        esc(&text(a.get("source_server").unwrap_or(&Value::Null))),
        esc(&text(a.get("target_schema").unwrap_or(&Value::Null))),
        count("action"),
        count("warning"),
        count("info")
    );
    table(
        &mut s,
        a.get("tables").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]),
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
    let mut ordered = items.clone();
    ordered.sort_by_key(|i| match i.get("severity").and_then(Value::as_str) {
        Some("action") => 0,
        Some("warning") => 1,
        _ => 2,
    });
    table(&mut s, &ordered, &[("severity", "severity"), ("object", "object"), ("what", "message"), ("SQL", "sql")]);
    s.push_str("</section>\n");
    // Migrate.
    s.push_str("<section id=\"migrate\"><h2>Last migrate</h2>\n");
    match &r.migrate {
        None => s.push_str("<p>No <code>ferry migrate</code> has run into this schema.</p>\n"),
        Some((at, m)) => {
            let ok = m.get("ok").and_then(Value::as_bool).unwrap_or(false);
            let _ = write!(
                s,
                "<p>{}: <span class=\"{}\">{}</span> — {} rows in {} s ({} rows/s).</p>",
                esc(at),
                if ok { "ok" } else { "bad" },
                if ok { "complete" } else { "with failures" },
                esc(&text(m.get("total_rows").unwrap_or(&Value::Null))),
                esc(&text(m.get("seconds").unwrap_or(&Value::Null))),
                esc(&text(m.get("rows_per_second").unwrap_or(&Value::Null)))
            );
            table(
                &mut s,
                m.get("tables").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]),
                &[
                    ("table", "target"),
                    ("rows", "rows"),
                    ("bytes", "bytes"),
                    ("seconds", "seconds"),
                    ("zero dates → NULL", "zero_dates_nulled"),
                    ("zero dates → -infinity", "zero_dates_infinity"),
                    ("error", "error"),
                ],
            );
        }
    }
    s.push_str("</section>\n<section id=\"verify\"><h2>Last verify</h2>\n");
    match &r.verify {
        None => s.push_str("<p>No <code>ferry verify</code> has run on this schema.</p>\n"),
        Some((at, v)) => {
            let equal = v.get("equal").and_then(Value::as_bool).unwrap_or(false);
            let _ = write!(
                s,
                "<p>{}: <span class=\"{}\">{}</span> — {} rows compared in {} s.</p>",
                esc(at),
                if equal { "ok" } else { "bad" },
                if equal { "target equals source" } else { "differences found" },
                esc(&text(v.get("rows_compared").unwrap_or(&Value::Null))),
                esc(&text(v.get("seconds").unwrap_or(&Value::Null)))
            );
            table(
                &mut s,
                v.get("tables").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]),
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
        }
    }
    s.push_str("</section>\n<section id=\"erd\" class=\"erd\"><h2>Entity-relationship diagram</h2>\n");
    match &r.svg {
        Some(svg) => {
            s.push_str(inline_svg(svg));
            s.push('\n');
        }
        None => {
            let _ = write!(s, "<p class=\"bad\">{}</p>\n<pre>{}</pre>\n", esc(r.svg_error.as_deref().unwrap_or("no diagram")), esc(&r.mermaid));
        }
    }
    s.push_str("</section>\n</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_inlines() {
        let page = html(&ReportInput {
            title: "a <b>".into(),
            assessment: serde_json::json!({"source": "s", "items": [{"severity": "action", "object": "v", "message": "port <it>"}], "tables": []}),
            migrate: None,
            verify: Some(("now".into(), serde_json::json!({"equal": true, "tables": [], "rows_compared": 3, "seconds": 0.5}))),
            svg: Some("<?xml version=\"1.0\"?><!DOCTYPE svg><svg><g/></svg>".into()),
            svg_error: None,
            mermaid: String::new(),
        });
        assert!(page.contains("<title>a &lt;b&gt;</title>"));
        assert!(page.contains("port &lt;it&gt;"));
        assert!(page.contains("<svg><g/></svg>") && !page.contains("<?xml"));
        assert!(page.contains("target equals source"));
        assert!(!page.contains("<script"));
    }
}
