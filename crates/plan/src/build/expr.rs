//! Expressions carried from the source: its user types and free sequences re-qualified into the
//! target schema, and check expressions' column references mapped to target names — text the
//! source already gave in the model's form (standard double-quoted identifiers), rewritten
//! without parsing the rest.

use ferry_model::{Schema, UserTypeKind};
use ferry_target_postgres::ddl::{PgSequence, PgType};
use ferry_target_postgres::ident::{quote_ident, quote_literal};

/// The enum and domain types of a PostgreSQL source, and how a type or expression naming them
/// reads in the target schema.
pub(super) struct UserTypes {
    names: Vec<(String, bool)>,
    target_schema: String,
}

impl UserTypes {
    pub(super) fn new(schema: &Schema, target_schema: &str) -> Self {
        UserTypes {
            names: schema.types.iter().map(|t| (t.name.clone(), matches!(t.kind, UserTypeKind::Enum { .. }))).collect(),
            target_schema: target_schema.to_string(),
        }
    }

    /// `mood` → the enum type (binary COPY sends its label as text); `posint` and arrays →
    /// the qualified name, loaded in the text format.
    pub(super) fn pg_type(&self, name: &str) -> PgType {
        let base = name.trim_end_matches("[]");
        match self.names.iter().find(|(n, _)| n == base) {
            Some((_, true)) if base == name => PgType::Named { schema: self.target_schema.clone(), name: base.to_string() },
            Some(_) => PgType::Custom(format!("{}{}", quote_ident_q(&self.target_schema, base), &name[base.len()..])),
            None => PgType::Custom(name.to_string()),
        }
    }

    pub(super) fn qualify_type(&self, ty: &str) -> String {
        match self.pg_type(ty) {
            PgType::Custom(s) => s,
            other => other.to_string(),
        }
    }

    /// `'x'::mood` → `'x'::"target"."mood"` for the source's user types.
    pub(super) fn qualify_casts(&self, expr: &str) -> String {
        let mut out = expr.to_string();
        for (n, _) in &self.names {
            let pat = format!("::{n}");
            let mut result = String::new();
            let mut rest = out.as_str();
            while let Some(i) = rest.find(&pat) {
                let after = &rest[i + pat.len()..];
                let boundary = after.chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                result.push_str(&rest[..i]);
                if boundary {
                    result.push_str("::");
                    result.push_str(&quote_ident_q(&self.target_schema, n));
                } else {
                    result.push_str(&pat);
                }
                rest = after;
            }
            result.push_str(rest);
            out = result;
        }
        out
    }
}

/// `nextval('t_id_seq'::regclass)` → `nextval('"app"."t_id_seq"'::regclass)`: a PostgreSQL
/// source's defaults name its free sequences as seen from the source schema; on the target the
/// name must carry the target schema (a regclass literal is resolved when the table is created).
pub(super) fn qualify_sequences(expr: &str, sequences: &[PgSequence]) -> String {
    let mut out = expr.to_string();
    for q in sequences {
        let target = format!("{}::regclass", quote_literal(&q.qualified()));
        for seen in [format!("'{}'::regclass", q.name().replace('\'', "''")), format!("'\"{}\"'::regclass", q.name().replace('"', "\"\"").replace('\'', "''"))]
        {
            out = out.replace(&seen, &target);
        }
    }
    out
}

pub(super) fn quote_ident_q(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Replaces the double-quoted column references of a model expression (see
/// `ferry_model::Check`) with the mapped, quoted target names; string literals are left alone.
pub(super) fn translate_expression(expr: &str, col: &dyn Fn(&str) -> String) -> String {
    ferry_model::sqltext::rewrite_identifiers(expr, ferry_model::sqltext::STANDARD, &|name| quote_ident(&col(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_expressions_get_target_identifiers() {
        let f = |c: &str| c.to_lowercase();
        assert_eq!(
            translate_expression("\"Qty\" > 0 and \"Qty\" < \"MaxQty\" and note <> '\"Qty\"'", &f),
            "\"qty\" > 0 and \"qty\" < \"maxqty\" and note <> '\"Qty\"'"
        );
    }
}
