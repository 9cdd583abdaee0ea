//! `ferry verify --objects`: every view the source's converter made, and every view of a
//! PostgreSQL source, is read on both sides and its rows compared by canonical text
//! ([`verify_objects`]).
//!
//! Guarantees and why:
//! - **Equal means the same rows.** Each side computes the canonical text of every column in its
//!   own SQL, by the rules tables are compared with ([`crate::canon_for`], chosen from the
//!   source column's type and the type PostgreSQL gave the view's column), so a value that
//!   converted differently shows. Decimals are compared without their scale: a view's
//!   arithmetic may carry a different scale on each side for the same number.
//! - **Order counts where the view orders.** A view whose query ends in ORDER BY is compared as
//!   a sequence (rows fetched in the view's order); other views as multisets, first by count and
//!   order-independent hash, rows fetched only when those differ.
//! - **An undefined order is not a difference.** A column aggregating values in no defined
//!   order (`GROUP_CONCAT` without ORDER BY, `ViewCheck::unordered_lists`) is compared as the
//!   sorted list of its parts on both sides: the rows are fetched for such views.
//! - **Calls** (`[checks] calls`) run on both sides; their results are equal when their texts
//!   are, or both are the same number, or a boolean and MySQL's 0/1 for it ([`same_value`]).
//! - **Bounded.** Rows are fetched for at most [`ROW_LIMIT`] rows a side; beyond that a
//!   difference is reported by count and hash alone.

use crate::{canon_for, VerifyError};
use ferry_model::canonical::{json_canonical, Canon, ColumnText, ZeroAs};
use ferry_model::{ChunkRange, Table, VerifySource};
use ferry_plan::Plan;
use ferry_target_postgres::ddl::PgType;
use ferry_target_postgres::verify as pgv;
use ferry_target_postgres::{quote_ident, PgTarget};
use serde::Serialize;
use std::collections::BTreeMap;

/// Rows a side fetched at most to show which rows differ (or to compare an ordered view).
pub const ROW_LIMIT: u64 = 200_000;
/// Differing rows shown per view.
const SAMPLES: usize = 5;

/// One converted view, compared.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectVerify {
    /// `view film_list`.
    pub object: String,
    /// Its qualified name on the target.
    pub target: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub equal: bool,
    /// Why it is not equal, in a sentence (missing view, other columns, row differences, order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A few differing rows: `source only: …` / `target only: …` (columns joined by ` | `).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<String>,
}

/// Compares every converted view of the plan, and every call `[checks]` lists, on both sides
/// (see the module note).
pub async fn verify_objects<S: VerifySource>(source: &S, target: &PgTarget, plan: &Plan, postgis: bool) -> Result<Vec<ObjectVerify>, VerifyError> {
    let mut out = views(source, target, plan, postgis).await?;
    for call in &plan.inputs.config.checks.calls {
        let mut r = ObjectVerify {
            object: format!("call {call}"),
            target: plan.target_schema.clone(),
            source_rows: 1,
            target_rows: 1,
            equal: false,
            detail: None,
            samples: vec![],
        };
        let a = source.evaluate(call).await?;
        match target.evaluate(&plan.target_schema, call).await {
            Ok(b) => {
                r.equal = same_value(a.as_deref(), b.as_deref());
                if !r.equal {
                    r.detail = Some(format!("source {}, target {}", a.as_deref().unwrap_or("NULL"), b.as_deref().unwrap_or("NULL")));
                }
            }
            Err(e) => r.detail = Some(format!("the target refused it: {e}")),
        }
        out.push(r);
    }
    Ok(out)
}

/// One call's results alike: the same text, the same number (`0.00` and `0`), or a boolean and
/// MySQL's number for it.
pub fn same_value(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else { return a.is_none() && b.is_none() };
    let number = |s: &str| s.trim().parse::<f64>().is_ok().then(|| ferry_model::canonical::normalize_decimal(s));
    let boolean = |s: &str| match s {
        "t" | "true" => Some("1"),
        "f" | "false" => Some("0"),
        _ => None,
    };
    a == b || (number(a).is_some() && number(a) == number(b)) || boolean(b).is_some_and(|x| number(a).as_deref() == Some(x))
}

/// The views to compare: the converted ones, and a PostgreSQL source's own (the same view on
/// both sides, compared as a multiset: its text on the target is PostgreSQL's again).
fn view_checks(plan: &Plan) -> Vec<(String, String, ferry_model::ViewCheck)> {
    let mut out: Vec<(String, String, ferry_model::ViewCheck)> =
        plan.objects.iter().filter(|o| !o.statements.is_empty()).filter_map(|o| o.view.clone().map(|v| (o.label(), o.name.clone(), v))).collect();
    let schema = &plan.inputs.schema;
    for o in schema.objects.iter().filter(|o| o.kind == ferry_model::ObjectKind::View && o.native(schema)) {
        let Some((_, columns)) = schema.view_columns.iter().find(|(v, _)| *v == o.name) else { continue };
        let check = ferry_model::ViewCheck {
            target: o.name.clone(),
            target_columns: columns.iter().map(|c| c.name.clone()).collect(),
            columns: columns.clone(),
            ordered: false,
            unordered_lists: vec![],
        };
        out.push((format!("view {}", o.name), o.name.clone(), check));
    }
    out
}

async fn views<S: VerifySource>(source: &S, target: &PgTarget, plan: &Plan, postgis: bool) -> Result<Vec<ObjectVerify>, VerifyError> {
    let mut out = Vec::new();
    for (label, source_name, check) in view_checks(plan) {
        let check = &check;
        let qualified = format!("{}.{}", quote_ident(&plan.target_schema), quote_ident(&check.target));
        let mut r = ObjectVerify { object: label, target: qualified.clone(), source_rows: 0, target_rows: 0, equal: false, detail: None, samples: vec![] };
        let Some(columns) = target.relation_columns(&qualified).await? else {
            r.detail = Some("missing on the target (see the migrate report for why it was not created)".into());
            out.push(r);
            continue;
        };
        if columns.len() != check.columns.len() {
            r.detail = Some(format!("{} columns on the target, {} on the source", columns.len(), check.columns.len()));
            out.push(r);
            continue;
        }
        let canons: Vec<Canon> = check
            .columns
            .iter()
            .zip(&columns)
            .map(|(c, (_, ty))| match canon_for(&c.data_type, &PgType::parse_known(ty).unwrap_or_else(|| PgType::Custom(ty.clone())), ZeroAs::Kept, postgis) {
                Canon::Decimal { .. } => Canon::Decimal { scale: None },
                other => other,
            })
            .collect();
        let src: Vec<ColumnText> = check
            .columns
            .iter()
            .zip(&canons)
            .map(|(c, canon)| ColumnText { sql: source.canonical_expr(c, *canon), nullable: true, json: *canon == Canon::Json })
            .collect();
        let tgt: Vec<ColumnText> = columns.iter().zip(&canons).map(|((name, _), canon)| pgv::canonical_expr(&quote_ident(name), *canon, true)).collect();
        let table = Table { name: source_name, columns: check.columns.clone(), ..Default::default() };
        let (sc, sh) = source.chunk_hash(&table, &src, &ChunkRange::All).await?;
        let (tc, th) = target.chunk_hash(&qualified, &tgt, "").await?;
        (r.source_rows, r.target_rows) = (sc, tc);
        let same_set = sc == tc && sh == th;
        if same_set && (!check.ordered || sc <= 1) && check.unordered_lists.is_empty() {
            r.equal = true;
            out.push(r);
            continue;
        }
        if sc > ROW_LIMIT || tc > ROW_LIMIT {
            r.equal = same_set && check.unordered_lists.is_empty();
            r.detail = Some(if same_set {
                format!("the same rows; their order was not compared (more than {ROW_LIMIT} rows)")
            } else {
                format!("different rows (count and hash differ; more than {ROW_LIMIT} rows, so none are listed)")
            });
            out.push(r);
            continue;
        }
        let exprs: Vec<String> = src.iter().map(|e| e.sql.clone()).collect();
        let a = rows_text(source.canonical_rows(&table, &exprs, &ChunkRange::All).await?, &canons, &check.unordered_lists);
        let b = rows_text(target.canonical_rows(&qualified, &tgt, "").await?, &canons, &check.unordered_lists);
        compare_rows(&mut r, &a, &b, check.ordered);
        out.push(r);
    }
    Ok(out)
}

/// Rows as one text each (columns joined by ` | `, NULL as `NULL`), JSON canonicalised, the
/// parts of an unordered list sorted.
fn rows_text(rows: Vec<Vec<Option<String>>>, canons: &[Canon], unordered: &[(usize, String)]) -> Vec<String> {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .zip(canons)
                .enumerate()
                .map(|(i, (v, c))| match v {
                    None => "NULL".to_string(),
                    Some(s) if *c == Canon::Json => json_canonical(&s),
                    Some(s) => match unordered.iter().find(|(at, _)| *at == i) {
                        Some((_, sep)) if !sep.is_empty() => {
                            let mut parts: Vec<&str> = s.split(sep.as_str()).collect();
                            parts.sort_unstable();
                            parts.join(sep)
                        }
                        _ => s,
                    },
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// Multiset difference of the two sides, then (ordered views) the first position where the
/// sequences part.
fn compare_rows(r: &mut ObjectVerify, a: &[String], b: &[String], ordered: bool) {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for x in a {
        *counts.entry(x).or_default() += 1;
    }
    for x in b {
        *counts.entry(x).or_default() -= 1;
    }
    let (mut only_source, mut only_target) = (0i64, 0i64);
    for (row, n) in &counts {
        if *n > 0 {
            only_source += n;
            if r.samples.len() < SAMPLES {
                r.samples.push(format!("source only: {row}"));
            }
        } else if *n < 0 {
            only_target -= n;
            if r.samples.len() < SAMPLES {
                r.samples.push(format!("target only: {row}"));
            }
        }
    }
    if only_source > 0 || only_target > 0 {
        r.detail = Some(format!("{only_source} row(s) only on the source, {only_target} only on the target"));
        return;
    }
    if ordered {
        if let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) {
            r.detail = Some(format!("the same rows in a different order (from row {}: source `{}`, target `{}`)", at + 1, a[at], b[at]));
            return;
        }
    }
    r.equal = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ObjectVerify {
        ObjectVerify { object: "view v".into(), target: "\"s\".\"v\"".into(), source_rows: 0, target_rows: 0, equal: false, detail: None, samples: vec![] }
    }

    fn rows(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn call_results_compare_as_values() {
        assert!(same_value(Some("0.00"), Some("0.00")));
        assert!(same_value(Some("2.50"), Some("2.5")));
        assert!(same_value(Some("1"), Some("t")), "MySQL's BOOLEAN is a number");
        assert!(same_value(None, None));
        assert!(!same_value(Some("1"), None));
        assert!(!same_value(Some("0"), Some("t")));
        assert!(!same_value(Some("abc"), Some("abd")));
    }

    #[test]
    fn an_unordered_list_compares_by_its_parts() {
        let row = |s: &str| vec![Some("1".to_string()), Some(s.to_string())];
        let unordered = vec![(1, ", ".to_string())];
        let canons = [Canon::Integer, Canon::Text];
        assert_eq!(rows_text(vec![row("b, a, c")], &canons, &unordered), rows_text(vec![row("c, b, a")], &canons, &unordered));
        assert_ne!(rows_text(vec![row("b, a")], &canons, &unordered), rows_text(vec![row("a, b, b")], &canons, &unordered));
        assert_ne!(rows_text(vec![row("b, a")], &canons, &[]), rows_text(vec![row("a, b")], &canons, &[]), "only the listed columns");
    }

    #[test]
    fn a_view_compares_as_a_multiset_unless_it_orders() {
        let mut r = report();
        compare_rows(&mut r, &rows(&["a", "b", "b"]), &rows(&["b", "a", "b"]), false);
        assert!(r.equal, "the same rows in another order are equal for an unordered view");

        let mut r = report();
        compare_rows(&mut r, &rows(&["a", "b"]), &rows(&["b", "a"]), true);
        assert!(!r.equal);
        assert!(r.detail.unwrap().starts_with("the same rows in a different order (from row 1"));

        let mut r = report();
        compare_rows(&mut r, &rows(&["a", "b", "b"]), &rows(&["a", "b", "c"]), false);
        assert!(!r.equal, "a duplicate is a difference");
        assert_eq!(r.detail.as_deref(), Some("1 row(s) only on the source, 1 only on the target"));
        assert_eq!(r.samples, vec!["source only: b".to_string(), "target only: c".to_string()]);
    }
}
