//! Reading a live PostgreSQL schema from `pg_catalog` into the canonical [`Catalog`] that
//! `ferry diff` compares and `ferry erd` draws.
//!
//! Canonical forms: types as `format_type` prints them with the schema's own qualifier removed;
//! defaults through [`canonical_default`]; identity columns and serial columns (a `nextval`
//! default on a sequence the column owns) are `identity` with no default; unique indexes without
//! predicate or expressions count as unique constraints (both enforce the same thing); indexes
//! backing a constraint are not listed again; sequences owned by a column are the column's.

use crate::conn::PgTarget;
use crate::error::TargetError;
use ferry_model::catalog::*;

impl PgTarget {
    /// For a Citus plan, before anything is written: what stops the target from taking
    /// distributed and reference tables (no `citus` extension in this database, or no node in
    /// `pg_dist_node` that can hold shards), with what to do; None when it is ready.
    pub async fn citus_not_ready(&self) -> Result<Option<String>, TargetError> {
        let has: bool = self.client.query_one("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')", &[]).await?.get(0);
        if !has {
            return Ok(Some(
                "the target database has no `citus` extension, but the config has [target.citus]: run `CREATE EXTENSION citus` in it (the server needs shared_preload_libraries = 'citus') and add the workers with citus_add_node, or remove [target.citus]".into(),
            ));
        }
        let nodes: i64 =
            self.client.query_one("SELECT count(*) FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND shouldhaveshards", &[]).await?.get(0);
        if nodes == 0 {
            return Ok(Some(
                "the Citus target has no active node that can hold shards (pg_dist_node): add the workers with `SELECT citus_add_node('host', port)` on the coordinator".into(),
            ));
        }
        Ok(None)
    }

    pub async fn read_catalog(&self, schema: &str) -> Result<Catalog, TargetError> {
        let mut cat = Catalog { engine: "postgresql".into(), schema: schema.to_string(), ..Default::default() };
        let tables = self
            .client
            .query(
                "SELECT c.oid, c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname",
                &[&schema],
            )
            .await?;
        let oids: Vec<u32> = tables.iter().map(|r| r.get(0)).collect();
        for r in &tables {
            cat.tables.push(CatalogTable { name: r.get(1), comment: r.get(2), ..Default::default() });
        }
        let at = |oid: u32| oids.iter().position(|o| *o == oid);
        let columns = self
            .client
            .query(
                "SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid), \
                        a.attidentity <> '' OR EXISTS (SELECT 1 FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid AND s.relkind = 'S' \
                                                       WHERE dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype IN ('a', 'i')) \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum",
                &[&oids],
            )
            .await?;
        for r in &columns {
            let Some(i) = at(r.get(0)) else { continue };
            let identity: bool = r.get(5);
            let default: Option<String> = r.get(4);
            cat.tables[i].columns.push(CatalogColumn {
                name: r.get(1),
                ty: unqualify_type(&r.get::<_, String>(2), schema),
                nullable: r.get(3),
                default: if identity { None } else { default.map(|d| canonical_default(&d)) },
                identity,
            });
        }
        let constraints = self
            .client
            .query(
                "SELECT c.conrelid, c.conname, c.contype::text, \
                        ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o), \
                        f.relname::text, \
                        ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o), \
                        c.confdeltype::text, c.confupdtype::text, pg_get_constraintdef(c.oid) \
                 FROM pg_constraint c LEFT JOIN pg_class f ON f.oid = c.confrelid \
                 WHERE c.conrelid = ANY($1) AND c.contype IN ('p', 'u', 'f', 'c') ORDER BY c.conrelid, c.conname",
                &[&oids],
            )
            .await?;
        for r in &constraints {
            let Some(i) = at(r.get(0)) else { continue };
            let t = &mut cat.tables[i];
            let name: String = r.get(1);
            let columns: Vec<String> = r.get(3);
            match r.get::<_, String>(2).as_str() {
                "p" => t.primary_key = Some(Constraint { name, columns }),
                "u" => t.uniques.push(Constraint { name, columns }),
                "f" => t.foreign_keys.push(CatalogForeignKey {
                    name,
                    columns,
                    ref_table: r.get::<_, Option<String>>(4).unwrap_or_default(),
                    ref_columns: r.get(5),
                    on_delete: fk_action(&r.get::<_, String>(6)),
                    on_update: fk_action(&r.get::<_, String>(7)),
                }),
                _ => {
                    let def: String = r.get(8);
                    let body = def.trim_start_matches("CHECK ").trim_end_matches(" NOT VALID");
                    t.checks.push(CatalogCheck { name, expression: canonical_check(body) });
                }
            }
        }
        let indexes = self
            .client
            .query(
                "SELECT i.indrelid, ic.relname, i.indisunique, am.amname::text, \
                        ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k), \
                        pg_get_expr(i.indpred, i.indrelid), i.indexprs IS NOT NULL \
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
                 WHERE i.indrelid = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) \
                 ORDER BY i.indrelid, ic.relname",
                &[&oids],
            )
            .await?;
        for r in &indexes {
            let Some(i) = at(r.get(0)) else { continue };
            let parts: Vec<String> = r.get(4);
            let columns: Vec<String> = parts.iter().map(|p| index_part(p)).collect();
            let predicate: Option<String> = r.get::<_, Option<String>>(5).map(|p| canonical_check(&p));
            let unique: bool = r.get(2);
            let has_exprs: bool = r.get(6);
            let t = &mut cat.tables[i];
            if unique && predicate.is_none() && !has_exprs {
                t.uniques.push(Constraint { name: r.get(1), columns });
            } else {
                t.indexes.push(CatalogIndex { name: r.get(1), columns, unique, method: r.get(3), predicate });
            }
        }
        // Definitions printed with the search path on the schema: its own names unqualified, so
        // one schema's views compare equal to the same views of another.
        self.batch(&format!("SET search_path = {}, public", crate::ident::quote_ident(schema))).await?;
        let views = self
            .client
            .query(
                "SELECT c.relname, pg_get_viewdef(c.oid, true) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('v', 'm') ORDER BY 1",
                &[&schema],
            )
            .await;
        self.batch("RESET search_path").await?;
        for r in views? {
            cat.views.push(CatalogView {
                name: r.get(0),
                definition: canonical_expression(&r.get::<_, String>(1)).trim_end_matches(';').to_string(),
                create: None,
                promised: false,
            });
        }
        for r in self
            .client
            .query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'S' \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0) ORDER BY 1",
                &[&schema],
            )
            .await?
        {
            cat.sequences.push(r.get(0));
        }
        for r in self
            .client
            .query(
                "SELECT t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 JOIN pg_enum e ON e.enumtypid = t.oid WHERE n.nspname = $1 GROUP BY t.typname ORDER BY 1",
                &[&schema],
            )
            .await?
        {
            cat.enums.push(CatalogEnum { name: r.get(0), values: r.get(1) });
        }
        Ok(cat)
    }
}

fn fk_action(code: &str) -> String {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
    .to_string()
}

/// A type without the schema's own qualifier: `"app"."mood"` / `app.mood` → `mood`.
pub fn unqualify_type(ty: &str, schema: &str) -> String {
    let quoted = format!("{}.", crate::ident::quote_ident(schema));
    let plain = format!("{schema}.");
    let t = ty.strip_prefix(&quoted).or_else(|| ty.strip_prefix(&plain)).unwrap_or(ty);
    unquote(t)
}

/// An identifier without its double quotes (`"AlbumId"` → `AlbumId`); other text unchanged.
pub fn unquote(s: &str) -> String {
    // `"mood"[]`: the array suffix stays, the element's quotes go.
    if let Some(base) = s.strip_suffix("[]") {
        return format!("{}[]", unquote(base));
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') && !s[1..s.len() - 1].contains('"') {
        return s[1..s.len() - 1].to_string();
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return s[1..s.len() - 1].replace("\"\"", "\"");
    }
    s.to_string()
}

/// An index part: a column name (unquoted, case kept) or a canonical expression.
pub fn index_part(p: &str) -> String {
    let p = p.trim();
    let plain = p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    let quoted = p.starts_with('"') && p.ends_with('"') && p.len() >= 2 && !p[1..p.len() - 1].contains('"');
    if plain || quoted {
        unquote(p)
    } else {
        canonical_check(p)
    }
}

/// A CHECK or predicate expression: canonical text without redundant outer parentheses and
/// without casts of numeric literals (`(0)::numeric` → `0`).
pub fn canonical_check(e: &str) -> String {
    let mut c = canonical_expression(e);
    loop {
        let stripped = strip_outer_parens(&c);
        if stripped == c {
            break;
        }
        c = stripped;
    }
    // `(0)::numeric` and `0::numeric` → `0`.
    let mut out = String::with_capacity(c.len());
    let mut rest = c.as_str();
    while let Some(pos) = rest.find("::") {
        let (head, tail) = rest.split_at(pos);
        let ty_len = tail[2..].find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).map(|n| n + 2).unwrap_or(tail.len());
        let trimmed = head.trim_end_matches(')');
        let num_start = trimmed.rfind(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '-')).map(|i| i + 1).unwrap_or(0);
        let number = &trimmed[num_start..];
        if !number.is_empty() && number.parse::<f64>().is_ok() {
            let opened = head.len() - trimmed.len();
            let before = &trimmed[..num_start];
            let before = if opened > 0 && before.ends_with('(') { &before[..before.len() - 1] } else { before };
            out.push_str(before);
            out.push_str(number);
            if opened > 1 {
                out.push_str(&")".repeat(opened - 1));
            }
        } else {
            out.push_str(head);
            out.push_str(&tail[..ty_len]);
        }
        rest = &tail[ty_len..];
    }
    out.push_str(rest);
    out
}

fn strip_outer_parens(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'(' || b[b.len() - 1] != b')' {
        return s.to_string();
    }
    let mut depth = 0;
    let mut in_str = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\'' => in_str = !in_str,
            b'(' if !in_str => depth += 1,
            b')' if !in_str => {
                depth -= 1;
                if depth == 0 && i != b.len() - 1 {
                    return s.to_string();
                }
            }
            _ => {}
        }
    }
    s[1..s.len() - 1].to_string()
}

impl PgTarget {
    /// The indexes and foreign keys of single partitions that `t` plans and the target lacks
    /// (the catalog compares parents only).
    pub async fn missing_partition_objects(&self, t: &crate::ddl::PgTable) -> Result<Vec<String>, TargetError> {
        let mut out = Vec::new();
        for (p, ix) in &t.partition_indexes {
            let n: i64 = self
                .client
                .query_one(
                    "SELECT count(*) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND ic.relname = $3",
                    &[&t.schema, p, &ix.name],
                )
                .await?
                .get(0);
            if n == 0 {
                out.push(format!("missing index {}.{p}.{} ({})", t.name, ix.name, ix.elements.join(", ")));
            }
        }
        for (p, fk) in &t.partition_foreign_keys {
            let n: i64 = self
                .client
                .query_one(
                    "SELECT count(*) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND c.relname = $2 AND k.conname = $3 AND k.contype = 'f'",
                    &[&t.schema, p, &fk.name],
                )
                .await?
                .get(0);
            if n == 0 {
                out.push(format!("missing foreign key {}.{p}.{} ({}) → {}", t.name, fk.name, fk.columns.join(", "), fk.ref_table));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(unqualify_type("\"Shop\".\"mood\"", "Shop"), "mood");
        assert_eq!(unqualify_type("sakila.mpaa_rating", "sakila"), "mpaa_rating");
        assert_eq!(unqualify_type("character varying(20)", "x"), "character varying(20)");
        assert_eq!(index_part("\"AlbumId\""), "AlbumId");
        assert_eq!(index_part("lower((email)::text)"), "lower((email)::text)");
        assert_eq!(canonical_check("((amount > (0)::numeric))"), "amount > 0");
        assert_eq!(canonical_check("(rating IN ('G', 'PG'))"), "rating in ('G', 'PG')");
        assert_eq!(canonical_check("(a > 0) AND (b > 0)"), "(a > 0) and (b > 0)");
    }
}
