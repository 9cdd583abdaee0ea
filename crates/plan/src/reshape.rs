//! `[reshape]` resolved against the landing plan: every mapping of the config becomes SQL over
//! the landing tables ([`ferry_target_postgres::reshape::Reshape`]), with every name checked here
//! and every expression checked by the target before a row moves
//! (`PgTarget::reshape_check`).
//!
//! What [`plan_reshape`] guarantees: every table, column, lookup and source a mapping names
//! exists (or the plan fails with a message naming the config entry); names it derives (the word
//! rule of `[[reshape.schemas]]`) never collide silently — two tables or columns that would get
//! one name are a plan error; each target table knows every landing table whose changes reach
//! it (its parts' `deps`: the driving table by key, a `table` lookup by its match column), which
//! is what makes sync's refresh exact; a value map without `else` and a lookup without a match
//! are checks that stop the load, not NULLs.

use crate::build::TablePlan;
use crate::config::{ColumnDetail, ColumnMapping, MappingConfig, ReshapeConfig};
use crate::naming::{like, snake_case};
use ferry_target_postgres::ident::truncate_ident;
use ferry_target_postgres::reshape::{Check, Dep, IdFill, Part, Pivot, Reshape, ReshapeColumn, ReshapeFk, ReshapeTable};
use ferry_target_postgres::{quote_ident, quote_literal};
use std::collections::{BTreeMap, HashSet};

/// A landing table as the mappings see it.
struct Landing<'a> {
    plan: &'a TablePlan,
}

impl<'a> Landing<'a> {
    fn name(&self) -> &str {
        &self.plan.target.name
    }
    fn source(&self) -> &str {
        &self.plan.source_name
    }
    /// A column by landing or source name → its landing name.
    fn column(&self, name: &str) -> Option<String> {
        let t = &self.plan.target;
        if let Some(c) = t.columns.iter().find(|c| c.name == name) {
            return Some(c.name.clone());
        }
        self.plan.converter.columns.iter().enumerate().find_map(|(i, conv)| {
            let src = self.plan.source.columns.get(conv.source_index)?;
            (src.name == name || src.name.eq_ignore_ascii_case(name)).then(|| t.columns[i].name.clone())
        })
    }
    /// The key sync applies by (landing names), as `cdc` computes it.
    fn key(&self) -> Vec<String> {
        let conv = &self.plan.converter;
        conv.key
            .iter()
            .filter_map(|k| conv.columns.iter().position(|c| c.source_index == k.source_index))
            .map(|i| self.plan.target.columns[i].name.clone())
            .collect()
    }
    fn type_of(&self, column: &str) -> String {
        self.plan.target.columns.iter().find(|c| c.name == column).map(|c| c.ty.to_string()).unwrap_or_else(|| "text".into())
    }
    /// The part's dependency on its own rows.
    fn driving_dep(&self) -> Dep {
        let key = self.key();
        let on: Vec<String> = key.iter().map(|k| format!("s.{}", quote_ident(k))).collect();
        Dep { table: self.name().to_string(), key: key.clone(), affected: format!("({}) IN (SELECT {} FROM {{keys}})", on.join(", "), cols(&key)) }
    }
}

fn cols(names: &[String]) -> String {
    names.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

fn col_ref(c: &str) -> String {
    format!("s.{}", quote_ident(c))
}

/// `schema.table` → (schema, table), each cut to 63 bytes.
fn split_into(into: &str, what: &str, problems: &mut Vec<String>) -> Option<(String, String)> {
    match into.split_once('.') {
        Some((s, t)) if !s.is_empty() && !t.is_empty() => Some((truncate_ident(s), truncate_ident(t))),
        _ => {
            problems.push(format!("{what}: into = \"{into}\" must name a schema and a table (\"schema.table\")"));
            None
        }
    }
}

/// The word rule: snake_case, then each word replaced by `words` (case-insensitive).
pub fn readable(name: &str, words: &BTreeMap<String, String>) -> String {
    let snake = snake_case(name);
    let parts: Vec<String> = snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| words.iter().find(|(k, _)| k.eq_ignore_ascii_case(w)).map(|(_, v)| v.clone()).unwrap_or_else(|| w.to_string()))
        .collect();
    truncate_ident(&parts.join("_"))
}

struct LookupInfo {
    qualified: String,
    schema: String,
    table: String,
    sources: Vec<String>,
}

/// Resolves `[reshape]` over the landing tables of `landing` (the plan's target schema).
/// Problems are added to `problems`; None when there is nothing to reshape.
pub fn plan_reshape(cfg: &ReshapeConfig, tables: &[TablePlan], landing: &str, problems: &mut Vec<String>) -> Option<Reshape> {
    let find = |name: &str| -> Option<Landing> {
        tables
            .iter()
            .find(|t| t.source_name == name || t.target.name == name)
            .or_else(|| tables.iter().find(|t| t.source_name.eq_ignore_ascii_case(name)))
            .map(|plan| Landing { plan })
    };
    let known = || {
        let mut v: Vec<&str> = tables.iter().map(|t| t.source_name.as_str()).collect();
        v.sort();
        v.join(", ")
    };
    let mut out: Vec<ReshapeTable> = Vec::new();
    let mut used: HashSet<String> = HashSet::new();

    // Merged lookups first: the tables that use them refer to their ids.
    let mut lookups: BTreeMap<String, LookupInfo> = BTreeMap::new();
    for (lname, lc) in &cfg.lookups {
        let what = format!("[reshape.lookups.{lname}]");
        let Some((schema, table)) = split_into(&lc.into, &what, problems) else { continue };
        if lc.sources.is_empty() {
            problems.push(format!("{what} has no source table: add [reshape.lookups.{lname}.sources.<source table>] with `id` and `name`"));
            continue;
        }
        let qualified = format!("{schema}.{table}");
        let mut t = ReshapeTable {
            schema: schema.clone(),
            name: table.clone(),
            columns: [
                ("id", "bigint", "the merged id (stable: ferry.reshape_ids)"),
                ("kind", "text", "which lookup"),
                ("source_table", "text", "the source table"),
                ("original_id", "text", "the id in the source table"),
                ("name", "text", ""),
                ("description", "text", ""),
            ]
            .iter()
            .map(|(n, ty, c)| ReshapeColumn { name: n.to_string(), type_: Some(ty.to_string()), comment: format!("ferry: {c}") })
            .collect(),
            primary_key: vec!["id".into()],
            unique: vec![vec!["source_table".into(), "original_id".into()]],
            refresh_key: vec!["source_table".into(), "original_id".into()],
            lookup: true,
            ..Default::default()
        };
        let mut sources = Vec::new();
        let mut names_comment = Vec::new();
        let mut desc_comment = Vec::new();
        for (sname, src) in &lc.sources {
            let Some(l) = find(sname) else {
                problems.push(format!("{what}: source table \"{sname}\" is not among the migrated tables ({})", known()));
                continue;
            };
            let Some(id) = l.column(&src.id) else {
                problems.push(format!("{what}: source table \"{sname}\" has no column \"{}\" (id)", src.id));
                continue;
            };
            used.insert(l.name().to_string());
            let source = l.source().to_string();
            let original = format!("({})::text", col_ref(&id));
            let id_expr = id_lookup(&qualified, &source, &col_ref(&id));
            t.parts.push(Part {
                mapping: format!("lookups.{lname}.sources.{sname}"),
                from: l.name().to_string(),
                source_key: l.key(),
                exprs: vec![
                    id_expr,
                    quote_literal(src.kind.as_deref().unwrap_or(&source)),
                    quote_literal(&source),
                    original.clone(),
                    src.name.clone(),
                    src.description.clone().unwrap_or_else(|| "NULL".into()),
                ],
                filter: None,
                key_exprs: vec![quote_literal(&source), original],
                ids: vec![IdFill { lookup: qualified.clone(), source_table: source.clone(), original: col_ref(&id) }],
                checks: Vec::new(),
                deps: vec![l.driving_dep()],
            });
            names_comment.push(format!("{source}: {}", src.name));
            desc_comment.push(format!("{source}: {}", src.description.as_deref().unwrap_or("NULL")));
            sources.push(source);
        }
        t.columns[4].comment = format!("ferry: {}", names_comment.join("; "));
        t.columns[5].comment = format!("ferry: {}", desc_comment.join("; "));
        t.comment = format!("ferry: merged lookup of {} (landing schema {landing}); ids kept in ferry.reshape_ids", sources.join(", "));
        lookups.insert(lname.clone(), LookupInfo { qualified, schema, table, sources });
        out.push(t);
    }

    // Explicit mappings, in config order of their names.
    for (mname, mc) in &cfg.tables {
        used.insert(find(&mc.from).map(|l| l.name().to_string()).unwrap_or_default());
        let Some((t, part)) = plan_mapping(mname, mc, &find, &known, &lookups, landing, problems) else { continue };
        merge_into(&mut out, t, part, problems);
    }

    // Pivots.
    let mut pivots = Vec::new();
    for (pname, pc) in &cfg.pivots {
        let what = format!("[reshape.pivots.{pname}]");
        let Some(l) = find(&pc.from) else {
            problems.push(format!("{what}: from = \"{}\" is not among the migrated tables ({})", pc.from, known()));
            continue;
        };
        used.insert(l.name().to_string());
        let mut col = |c: &str, role: &str| {
            let r = l.column(c);
            if r.is_none() {
                problems.push(format!("{what}: {role} = \"{c}\": table \"{}\" has no such column", l.source()));
            }
            r
        };
        let entity: Vec<Option<String>> = pc.entity.iter().map(|c| col(c, "entity")).collect();
        let form = pc.form.as_deref().map(|c| col(c, "form"));
        let (attribute, value) = (col(&pc.attribute, "attribute"), col(&pc.value, "value"));
        let (Some(attribute), Some(value)) = (attribute, value) else { continue };
        if entity.iter().any(Option::is_none) || matches!(form, Some(None)) {
            continue;
        }
        let entity: Vec<(String, String)> = entity.into_iter().flatten().map(|c| (c.clone(), l.type_of(&c))).collect();
        let single = pc.form.is_none() || pc.jsonb;
        let (schema, table) = if single {
            match split_into(&pc.into, &what, problems) {
                Some(x) => x,
                None => continue,
            }
        } else if pc.into.contains('.') {
            problems
                .push(format!("{what}: with `form`, into = \"{}\" names the schema of the form tables (no table name); use `prefix` for their names", pc.into));
            continue;
        } else {
            (truncate_ident(&pc.into), String::new())
        };
        for (reserved, why) in [("document", "the jsonb column"), ("form", "the form column")] {
            if pc.jsonb && entity.iter().any(|(c, _)| c == reserved) {
                problems.push(format!("{what}: entity column \"{reserved}\" collides with {why} of a jsonb pivot; rename it on the landing ([tables.\"{}\".columns.\"{reserved}\"] rename)", l.source()));
            }
        }
        pivots.push(Pivot {
            mapping: pname.clone(),
            from: l.name().to_string(),
            source_key: l.key(),
            entity,
            group: form.flatten(),
            attribute,
            value: value.clone(),
            value_type: l.type_of(&value),
            schema,
            prefix: pc.prefix.clone(),
            table,
            jsonb: pc.jsonb,
            filter: pc.where_.clone(),
        });
    }

    // Whole tables by pattern, every column by the word rule.
    for rule in &cfg.schemas {
        for plan in tables {
            if used.contains(&plan.target.name) || !rule.tables.iter().any(|p| like(p, &plan.source_name)) {
                continue;
            }
            used.insert(plan.target.name.clone());
            let l = Landing { plan };
            let mut base = plan.source_name.as_str();
            if let Some(p) = &rule.strip_prefix {
                if base.len() > p.len() && base[..p.len()].eq_ignore_ascii_case(p) {
                    base = &base[p.len()..];
                }
            }
            let into = format!("{}.{}", rule.schema, readable(base, &cfg.words));
            let columns: Vec<(String, ColumnMapping)> =
                plan.target.columns.iter().map(|c| (readable(&c.name, &cfg.words), ColumnMapping::Expr(quote_ident(&c.name)))).collect();
            let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for ((n, _), c) in columns.iter().zip(&plan.target.columns) {
                seen.entry(n).or_default().push(&c.name);
            }
            let mut clash = false;
            for (n, from) in seen.iter().filter(|(_, v)| v.len() > 1) {
                clash = true;
                problems.push(format!(
                    "[[reshape.schemas]] {}: columns {} of table \"{}\" all become \"{n}\" after the word rule; map the table with a [reshape.tables] entry",
                    rule.schema,
                    from.join(", "),
                    l.source()
                ));
            }
            if clash {
                continue;
            }
            let mc = MappingConfig { into: Some(into.clone()), from: plan.source_name.clone(), where_: None, key: Vec::new(), columns };
            if out.iter().any(|t| t.label() == into) {
                let others: Vec<String> =
                    out.iter().find(|t| t.label() == into).map(|t| t.parts.iter().map(|p| p.mapping.clone()).collect()).unwrap_or_default();
                problems.push(format!(
                    "[[reshape.schemas]] {}: table \"{}\" becomes {into} after the name rule, which {} already fills; map one of them with a [reshape.tables] entry",
                    rule.schema,
                    l.source(),
                    others.join(", ")
                ));
                continue;
            }
            let Some((mut t, part)) = plan_mapping(&format!("schemas.{}.{}", rule.schema, plan.source_name), &mc, &find, &known, &lookups, landing, problems)
            else {
                continue;
            };
            // The landing's foreign keys between tables the same rules move come along.
            for fk in &plan.target.foreign_keys {
                let Some(rt) = tables.iter().find(|r| r.target.name == fk.ref_table) else { continue };
                if !rule.tables.iter().any(|p| like(p, &rt.source_name))
                    || cfg.tables.values().any(|m| find(&m.from).map(|x| x.name() == rt.target.name).unwrap_or(false))
                {
                    continue;
                }
                let mut rbase = rt.source_name.as_str();
                if let Some(p) = &rule.strip_prefix {
                    if rbase.len() > p.len() && rbase[..p.len()].eq_ignore_ascii_case(p) {
                        rbase = &rbase[p.len()..];
                    }
                }
                t.foreign_keys.push(ReshapeFk {
                    columns: fk.columns.iter().map(|c| readable(c, &cfg.words)).collect(),
                    ref_schema: rule.schema.clone(),
                    ref_table: readable(rbase, &cfg.words),
                    ref_columns: fk.ref_columns.iter().map(|c| readable(c, &cfg.words)).collect(),
                });
            }
            merge_into(&mut out, t, part, problems);
        }
    }

    // Referenced tables before the tables referencing them (lookups are first already).
    let mut ordered: Vec<ReshapeTable> = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let pos = rest
            .iter()
            .position(|t| {
                t.foreign_keys.iter().all(|fk| {
                    format!("{}.{}", fk.ref_schema, fk.ref_table) == t.label() || !rest.iter().any(|o| o.schema == fk.ref_schema && o.name == fk.ref_table)
                })
            })
            .unwrap_or(0);
        ordered.push(rest.remove(pos));
    }
    if ordered.is_empty() && pivots.is_empty() {
        return None;
    }
    Some(Reshape { landing: landing.to_string(), tables: ordered, pivots, comments: cfg.comments })
}

/// The id a merged lookup gave `code` of `source`.
fn id_lookup(lookup: &str, source: &str, code: &str) -> String {
    format!(
        "(SELECT m.id FROM ferry.reshape_ids m WHERE m.lookup = {} AND m.source_table = {} AND m.original_id = ({code})::text)",
        quote_literal(lookup),
        quote_literal(source)
    )
}

/// Adds `part` to the table it fills: a new table, or one another mapping fills too (same
/// columns and key required).
fn merge_into(out: &mut Vec<ReshapeTable>, t: ReshapeTable, part: Part, problems: &mut Vec<String>) {
    if let Some(existing) = out.iter_mut().find(|o| o.schema == t.schema && o.name == t.name) {
        let names = |x: &ReshapeTable| x.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        if existing.lookup || names(existing) != names(&t) || existing.primary_key != t.primary_key {
            problems.push(format!(
                "mappings {} and {} both fill {} but with different columns or keys ({} / key {}; {} / key {}): several source tables into one target table need the same columns, in the same order, and the same key (with a discriminator column in it)",
                existing.parts.iter().map(|p| p.mapping.clone()).collect::<Vec<_>>().join(", "),
                part.mapping,
                t.label(),
                names(existing).join(", "),
                existing.primary_key.join(", "),
                names(&t).join(", "),
                t.primary_key.join(", ")
            ));
            return;
        }
        for (c, n) in existing.columns.iter_mut().zip(&t.columns) {
            c.comment = format!("{}; {}", c.comment, n.comment.trim_start_matches("ferry: "));
        }
        existing.comment = format!("{}; {}", existing.comment, t.comment.trim_start_matches("ferry: "));
        existing.foreign_keys.extend(t.foreign_keys);
        existing.parts.push(part);
    } else {
        let mut t = t;
        t.parts = vec![part];
        out.push(t);
    }
}

/// One `[reshape.tables]` mapping → its table (without parts) and its part.
fn plan_mapping<'a>(
    mname: &str,
    mc: &MappingConfig,
    find: &dyn Fn(&str) -> Option<Landing<'a>>,
    known: &dyn Fn() -> String,
    lookups: &BTreeMap<String, LookupInfo>,
    landing: &str,
    problems: &mut Vec<String>,
) -> Option<(ReshapeTable, Part)> {
    let what = format!("[reshape.tables.\"{mname}\"]");
    let into = mc.into.as_deref().unwrap_or(mname);
    let (schema, table) = split_into(into, &what, problems)?;
    let Some(l) = find(&mc.from) else {
        problems.push(format!("{what}: from = \"{}\" is not among the migrated tables ({})", mc.from, known()));
        return None;
    };
    let before = problems.len();
    let mut columns = Vec::new();
    let mut exprs = Vec::new();
    let mut checks = Vec::new();
    let mut deps = vec![l.driving_dep()];
    let mut fks = Vec::new();
    let src = l.source().to_string();
    let entries: Vec<(String, ColumnMapping)> = if mc.columns.is_empty() {
        l.plan.target.columns.iter().map(|c| (c.name.clone(), ColumnMapping::Expr(quote_ident(&c.name)))).collect()
    } else {
        mc.columns.clone()
    };
    for (cname, cm) in &entries {
        let cw = format!("{what} column \"{cname}\"");
        let mut need = |c: &Option<String>, role: &str| -> Option<String> {
            let Some(c) = c else {
                problems.push(format!("{cw}: give `{role}`"));
                return None;
            };
            let r = l.column(c);
            if r.is_none() {
                problems.push(format!("{cw}: {role} = \"{c}\": table \"{src}\" has no such column"));
            }
            r
        };
        let (expr, type_, note) = match cm {
            ColumnMapping::Expr(e) => (e.clone(), None, e.clone()),
            ColumnMapping::Detail(d) => {
                let ColumnDetail { expr, column, type_, map, else_, lookup, source, table: ltable, match_, value } = &**d;
                if let Some(e) = expr {
                    (e.clone(), type_.clone(), e.clone())
                } else if let Some(map) = map {
                    let Some(c) = need(column, "column") else { continue };
                    let code = format!("({})::text", col_ref(&c));
                    let whens: Vec<String> = map.iter().map(|(k, v)| format!("WHEN {} THEN {}", quote_literal(k), quote_literal(v))).collect();
                    let keys: Vec<String> = map.keys().map(|k| quote_literal(k)).collect();
                    let other = match else_.as_deref().unwrap_or("error") {
                        "null" => "NULL".to_string(),
                        "keep" => code.clone(),
                        "error" => {
                            checks.push(Check {
                                column: cname.clone(),
                                bad: format!("{} IS NOT NULL AND {code} NOT IN ({})", col_ref(&c), keys.join(", ")),
                                what: format!("value of {c} not in the map (add it, or else = \"null\" / \"keep\")"),
                            });
                            "NULL".to_string()
                        }
                        other => {
                            problems.push(format!("{cw}: else = \"{other}\": use \"error\", \"null\" or \"keep\""));
                            continue;
                        }
                    };
                    (
                        format!("CASE {code} {} ELSE {other} END", whens.join(" ")),
                        type_.clone(),
                        format!("{c} mapped {}", map.iter().map(|(k, v)| format!("{k} → {v}")).collect::<Vec<_>>().join(", ")),
                    )
                } else if let Some(lname) = lookup {
                    let Some(info) = lookups.get(lname) else {
                        problems.push(format!(
                            "{cw}: lookup = \"{lname}\" names no [reshape.lookups.{lname}] (lookups: {})",
                            lookups.keys().cloned().collect::<Vec<_>>().join(", ")
                        ));
                        continue;
                    };
                    let Some(c) = need(column, "column") else { continue };
                    let source = match source {
                        Some(s) => match info.sources.iter().find(|x| *x == s || x.eq_ignore_ascii_case(s)) {
                            Some(x) => x.clone(),
                            None => {
                                problems.push(format!("{cw}: source = \"{s}\" is not a source table of lookup {lname} ({})", info.sources.join(", ")));
                                continue;
                            }
                        },
                        None if info.sources.len() == 1 => info.sources[0].clone(),
                        None => {
                            problems.push(format!("{cw}: lookup {lname} merges {}: say which with `source`", info.sources.join(", ")));
                            continue;
                        }
                    };
                    let e = id_lookup(&info.qualified, &source, &col_ref(&c));
                    checks.push(Check {
                        column: cname.clone(),
                        bad: format!("{} IS NOT NULL AND {e} IS NULL", col_ref(&c)),
                        what: format!("code in {c} has no row in {source} (lookup {lname})"),
                    });
                    fks.push(ReshapeFk {
                        columns: vec![cname.clone()],
                        ref_schema: info.schema.clone(),
                        ref_table: info.table.clone(),
                        ref_columns: vec!["id".into()],
                    });
                    (e, type_.clone().or_else(|| Some("bigint".into())), format!("{c} → id of {source} in {}", info.qualified))
                } else if let Some(tname) = ltable {
                    let Some(c) = need(column, "column") else { continue };
                    let Some(lt) = find(tname) else {
                        problems.push(format!("{cw}: table = \"{tname}\" is not among the migrated tables ({})", known()));
                        continue;
                    };
                    let (Some(m), Some(v)) = (match_.as_deref().and_then(|m| lt.column(m)), value.as_deref().and_then(|v| lt.column(v))) else {
                        problems.push(format!("{cw}: give match and value, columns of table \"{}\"", lt.source()));
                        continue;
                    };
                    let lq = format!("{}.{}", quote_ident(landing), quote_ident(lt.name()));
                    let e = format!("(SELECT l.{} FROM {lq} l WHERE l.{} = {})", quote_ident(&v), quote_ident(&m), col_ref(&c));
                    checks.push(Check {
                        column: cname.clone(),
                        bad: format!("{} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {lq} l WHERE l.{} = {})", col_ref(&c), quote_ident(&m), col_ref(&c)),
                        what: format!("no row of {} has {m} = this {c}", lt.source()),
                    });
                    let lkey = lt.key();
                    let on: Vec<String> = lkey.iter().map(|k| format!("l.{}", quote_ident(k))).collect();
                    deps.push(Dep {
                        table: lt.name().to_string(),
                        key: lkey.clone(),
                        affected: format!(
                            "{} IN (SELECT l.{} FROM {lq} l WHERE ({}) IN (SELECT {} FROM {{keys}}))",
                            col_ref(&c),
                            quote_ident(&m),
                            on.join(", "),
                            cols(&lkey)
                        ),
                    });
                    (e, type_.clone(), format!("{v} of the {} row whose {m} = {c}", lt.source()))
                } else {
                    problems.push(format!("{cw}: give expr, or column with map, lookup or table"));
                    continue;
                }
            }
        };
        columns.push(ReshapeColumn { name: truncate_ident(cname), type_, comment: format!("ferry: {src}: {note}") });
        exprs.push(expr);
    }
    let mut seen = HashSet::new();
    for c in &columns {
        if !seen.insert(c.name.clone()) {
            problems.push(format!("{what}: column \"{}\" is given twice", c.name));
        }
    }
    // The key: given, or the columns that copy the landing key.
    let key: Vec<String> = if !mc.key.is_empty() {
        for k in &mc.key {
            if !columns.iter().any(|c| &c.name == k) {
                problems.push(format!("{what}: key column \"{k}\" is not one of its columns"));
            }
        }
        mc.key.clone()
    } else {
        let lkey = l.key();
        let copies: Vec<Option<String>> = lkey
            .iter()
            .map(|k| {
                columns.iter().zip(&exprs).find(|(_, e)| {
                    let e = e.trim();
                    e == k || e == quote_ident(k) || e == col_ref(k) || e == format!("s.{k}")
                })
            })
            .map(|x| x.map(|(c, _)| c.name.clone()))
            .collect();
        if lkey.is_empty() || copies.iter().any(Option::is_none) {
            problems.push(format!(
                "{what}: no column copies the key of \"{src}\" ({}): say which target columns identify a row, key = [\"…\"]",
                if lkey.is_empty() { "it has none".to_string() } else { lkey.join(", ") }
            ));
            Vec::new()
        } else {
            copies.into_iter().flatten().collect()
        }
    };
    if problems.len() > before {
        return None;
    }
    let key_exprs: Vec<String> = key.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).map(|i| exprs[i].clone()).collect();
    let comment = match &mc.where_ {
        Some(w) => format!("ferry: from {src} (landing {landing}.{}) where {w}", l.name()),
        None => format!("ferry: from {src} (landing {landing}.{})", l.name()),
    };
    let t = ReshapeTable { schema, name: table, columns, primary_key: key.clone(), refresh_key: key, foreign_keys: fks, comment, ..Default::default() };
    let part = Part {
        mapping: mname.to_string(),
        from: l.name().to_string(),
        source_key: l.key(),
        exprs,
        filter: mc.where_.clone(),
        key_exprs,
        ids: Vec::new(),
        checks,
        deps,
    };
    Some((t, part))
}

/// The mappings as `ferry plan` shows them: per target table its key, each part's source,
/// filter and column expressions; per pivot its shape.
pub fn render(r: &Reshape) -> String {
    use std::fmt::Write;
    let mut s = format!("-- reshape: {} target table(s), {} pivot(s), from landing schema \"{}\"\n", r.tables.len(), r.pivots.len(), r.landing);
    for t in &r.tables {
        let _ = writeln!(s, "\n{}{} (key {})", t.label(), if t.lookup { " — merged lookup" } else { "" }, t.primary_key.join(", "));
        for p in &t.parts {
            let _ = writeln!(s, "  from {} (mapping {}){}", p.from, p.mapping, p.filter.as_ref().map(|f| format!(" where {f}")).unwrap_or_default());
            for (c, e) in t.columns.iter().zip(&p.exprs) {
                let _ = writeln!(s, "    {:<24} = {e}{}", c.name, c.type_.as_ref().map(|t| format!("  ::{t}")).unwrap_or_default());
            }
            for c in &p.checks {
                let _ = writeln!(s, "    check {}: refused when {}", c.column, c.what);
            }
        }
        for fk in &t.foreign_keys {
            let _ = writeln!(s, "  foreign key ({}) → {}.{} ({})", fk.columns.join(", "), fk.ref_schema, fk.ref_table, fk.ref_columns.join(", "));
        }
    }
    for p in &r.pivots {
        let shape = match (&p.group, p.jsonb) {
            (_, true) => format!("{}.{}: one jsonb document per entity", p.schema, p.table),
            (Some(g), false) => format!("{}.{}<{g}>: one table per {g}, one column per {}", p.schema, p.prefix, p.attribute),
            (None, false) => format!("{}.{}: one column per {}", p.schema, p.table, p.attribute),
        };
        let entity: Vec<&str> = p.entity.iter().map(|(c, _)| c.as_str()).collect();
        let _ = writeln!(s, "\npivot {} from {} (entity {}; value {} {}): {shape}", p.mapping, p.from, entity.join(", "), p.value, p.value_type);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_rule_reads_abbreviations() {
        let words: BTreeMap<String, String> =
            [("cust", "customer"), ("nm", "name"), ("dt", "date")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(readable("CustNm", &words), "customer_name");
        assert_eq!(readable("cust_birth_dt", &words), "customer_birth_date");
        assert_eq!(readable("Plain", &words), "plain");
    }
}
