//! T-SQL expressions of computed columns, CHECK constraints and filtered indexes in
//! PostgreSQL's SQL, where the translation is certain ([`to_postgres`]).
//!
//! Guarantees and why: only a known set is translated — column references (to standard
//! double-quoted source names, which the plan renames), numbers, strings (`N'…'` too),
//! arithmetic, comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `IN`, `LIKE`, `BETWEEN`, `CASE`,
//! and a table of functions with the same meaning (`ISNULL` → `coalesce`, `LEN(x)` →
//! `length(rtrim(x))`, `DATALENGTH` → `octet_length`, `GETDATE()` → `now()`…). `+` becomes `||`
//! between strings and stays `+` between numbers; a mix, a `bit` column in arithmetic, or any
//! other construct answers None, and the caller keeps what it did before (values copied, the
//! check created with its identifiers only and listed when PostgreSQL refuses it). A `bit`
//! column compared with 0 or 1 is compared with false or true (it is a boolean on the target).

use ferry_model::{DataType, Table};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// Functions whose PostgreSQL counterpart means the same: T-SQL name → (PostgreSQL text before
/// the arguments, after them).
fn function(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "isnull" => ("coalesce(", ")"),
        "coalesce" => ("coalesce(", ")"),
        "nullif" => ("nullif(", ")"),
        "upper" => ("upper(", ")"),
        "lower" => ("lower(", ")"),
        "ltrim" => ("ltrim(", ")"),
        "rtrim" => ("rtrim(", ")"),
        "trim" => ("btrim(", ")"),
        // LEN ignores trailing spaces.
        "len" => ("length(rtrim(", "))"),
        "datalength" => ("octet_length(", ")"),
        "abs" => ("abs(", ")"),
        "round" => ("round(", ")"),
        "floor" => ("floor(", ")"),
        "ceiling" => ("ceil(", ")"),
        "sign" => ("sign(", ")"),
        "power" => ("power(", ")"),
        "sqrt" => ("sqrt(", ")"),
        "left" => ("left(", ")"),
        "right" => ("right(", ")"),
        "substring" => ("substring(", ")"),
        "replace" => ("replace(", ")"),
        "reverse" => ("reverse(", ")"),
        "getdate" | "sysdatetime" | "current_timestamp" => ("now(", ")"),
        "getutcdate" | "sysutcdatetime" => ("(now() AT TIME ZONE 'UTC'", ")"),
        "newid" => ("gen_random_uuid(", ")"),
        _ => return None,
    })
}

/// Keywords that mean the same in both dialects.
const KEYWORDS: &[&str] = &["and", "or", "not", "is", "null", "in", "like", "between", "case", "when", "then", "else", "end", "escape"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Number,
    Bit,
    Other,
}

fn kind_of(t: &DataType) -> Kind {
    match t {
        DataType::Bool => Kind::Bit,
        t if t.is_textual() => Kind::Text,
        DataType::Int { .. } | DataType::Decimal { .. } | DataType::Float { .. } | DataType::Double { .. } | DataType::Money { .. } => Kind::Number,
        _ => Kind::Other,
    }
}

/// Functions whose value changes from call to call: a generated column cannot use them.
const VOLATILE: &[&str] = &["getdate", "sysdatetime", "current_timestamp", "getutcdate", "sysutcdatetime", "newid"];

/// `expr` (T-SQL, as `sys.computed_columns` / `sys.check_constraints` store it) in PostgreSQL's
/// SQL with standard-quoted source column names, or None where it is not certain.
pub fn to_postgres(expr: &str, table: &Table) -> Option<String> {
    translate(expr, table, false)
}

/// [`to_postgres`] for a generated column, which PostgreSQL computes only from immutable
/// functions: None when the expression reads the clock or makes a GUID.
pub fn to_postgres_immutable(expr: &str, table: &Table) -> Option<String> {
    translate(expr, table, true)
}

fn translate(expr: &str, table: &Table, immutable: bool) -> Option<String> {
    let tokens = Tokenizer::new(&MsSqlDialect {}, expr).tokenize().ok()?;
    let tokens: Vec<Token> =
        tokens.into_iter().filter(|t| !matches!(t, Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab))).collect();
    let column = |w: &sqlparser::tokenizer::Word| table.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&w.value));
    // What `+` means: the kinds of every operand the expression names.
    let mut kinds = Vec::new();
    for t in &tokens {
        match t {
            Token::Word(w) => {
                if let Some(c) = column(w) {
                    kinds.push(kind_of(&c.data_type));
                }
            }
            Token::SingleQuotedString(_) | Token::NationalStringLiteral(_) => kinds.push(Kind::Text),
            Token::Number(..) => kinds.push(Kind::Number),
            _ => {}
        }
    }
    let has_plus = tokens.iter().any(|t| matches!(t, Token::Plus));
    let text_plus = kinds.contains(&Kind::Text);
    let arithmetic = tokens.iter().any(|t| matches!(t, Token::Plus | Token::Minus | Token::Mul | Token::Div | Token::Mod));
    if has_plus && text_plus && kinds.iter().any(|k| matches!(k, Kind::Number | Kind::Other)) {
        // `'#' + CAST(n AS varchar)`-style mixes need casts this translation does not write.
        return None;
    }
    if arithmetic && kinds.contains(&Kind::Bit) {
        return None;
    }
    let mut out = String::new();
    let mut closers: Vec<&'static str> = Vec::new();
    let mut depth_of_fn: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let push = |out: &mut String, s: &str| {
        if !out.is_empty() && !out.ends_with('(') && !s.starts_with(')') && !s.starts_with(',') {
            out.push(' ');
        }
        out.push_str(s);
    };
    while i < tokens.len() {
        let t = &tokens[i];
        match t {
            Token::Word(w) => {
                let lower = w.value.to_ascii_lowercase();
                let next_is_paren = matches!(tokens.get(i + 1), Some(Token::LParen));
                if let Some(c) = column(w) {
                    push(&mut out, &format!("\"{}\"", c.name.replace('"', "\"\"")));
                    // A bit column compared with 0/1 compares with a boolean.
                    if c.data_type == DataType::Bool {
                        let (op, mut j) = (tokens.get(i + 1), i + 2);
                        if matches!(op, Some(Token::Eq | Token::Neq)) {
                            let mut parens = 0;
                            while matches!(tokens.get(j), Some(Token::LParen)) {
                                parens += 1;
                                j += 1;
                            }
                            if let Some(Token::Number(n, _)) = tokens.get(j) {
                                let b = match n.as_str() {
                                    "0" => "false",
                                    "1" => "true",
                                    _ => return None,
                                };
                                for _ in 0..parens {
                                    if !matches!(tokens.get(j + 1), Some(Token::RParen)) {
                                        return None;
                                    }
                                    j += 1;
                                }
                                push(&mut out, if matches!(op, Some(Token::Eq)) { "=" } else { "<>" });
                                push(&mut out, b);
                                i = j + 1;
                                continue;
                            }
                        }
                    }
                } else if w.quote_style.is_some() {
                    return None; // a quoted name that is no column of the table
                } else if next_is_paren {
                    if immutable && VOLATILE.contains(&lower.as_str()) {
                        return None;
                    }
                    let (open, close) = function(&lower)?;
                    push(&mut out, open);
                    closers.push(close);
                    depth += 1;
                    depth_of_fn.push(depth);
                    i += 2;
                    continue;
                } else if lower == "current_timestamp" && !immutable {
                    push(&mut out, "now()");
                } else if KEYWORDS.contains(&lower.as_str()) {
                    push(&mut out, &lower.to_ascii_uppercase());
                } else {
                    return None;
                }
            }
            Token::Number(n, _) => push(&mut out, n),
            Token::SingleQuotedString(s) | Token::NationalStringLiteral(s) => push(&mut out, &format!("'{}'", s.replace('\'', "''"))),
            Token::LParen => {
                depth += 1;
                push(&mut out, "(");
            }
            Token::RParen => {
                if depth_of_fn.last() == Some(&depth) {
                    depth_of_fn.pop();
                    let close = closers.pop()?;
                    out.push_str(close);
                } else {
                    out.push(')');
                }
                depth = depth.checked_sub(1)?;
            }
            Token::Comma => out.push(','),
            Token::Plus => push(&mut out, if text_plus { "||" } else { "+" }),
            Token::Minus => push(&mut out, "-"),
            Token::Mul => push(&mut out, "*"),
            Token::Div => push(&mut out, "/"),
            Token::Mod => push(&mut out, "%"),
            Token::Eq => push(&mut out, "="),
            Token::Neq => push(&mut out, "<>"),
            Token::Lt => push(&mut out, "<"),
            Token::Gt => push(&mut out, ">"),
            Token::LtEq => push(&mut out, "<="),
            Token::GtEq => push(&mut out, ">="),
            Token::Whitespace(_) => {}
            _ => return None,
        }
        i += 1;
    }
    (depth == 0 && closers.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::Column;

    fn table() -> Table {
        let c = |n: &str, t: DataType| Column::new(n, t, "x");
        Table {
            name: "Line".into(),
            columns: vec![
                c("Qty", DataType::Int { bytes: 4, unsigned: false, display_width: None }),
                c("Price", DataType::Money { bytes: 8 }),
                c("First", DataType::Varchar { len: 20 }),
                c("Last", DataType::Varchar { len: 20 }),
                c("Active", DataType::Bool),
                c("Placed", DataType::DateTime { fsp: 3 }),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn what_sql_server_stores_becomes_postgresql_or_nothing() {
        let t = table();
        let pg = |e: &str| to_postgres(e, &t);
        assert_eq!(pg("([Qty]*[Price])").as_deref(), Some("(\"Qty\" * \"Price\")"));
        assert_eq!(pg("([First]+N' '+[Last])").as_deref(), Some("(\"First\" || ' ' || \"Last\")"));
        assert_eq!(pg("([Qty]>(0))").as_deref(), Some("(\"Qty\" > (0))"));
        assert_eq!(pg("(len([First])>(0) AND [Last] IS NOT NULL)").as_deref(), Some("(length(rtrim(\"First\")) > (0) AND \"Last\" IS NOT NULL)"));
        assert_eq!(pg("(isnull([Qty],(0)))").as_deref(), Some("(coalesce(\"Qty\", (0)))"));
        assert_eq!(pg("([Active]=(1))").as_deref(), Some("(\"Active\" = true)"), "a bit compared with 1 is a boolean comparison");
        assert_eq!(pg("([Placed]<=getdate())").as_deref(), Some("(\"Placed\" <= now())"));
        assert_eq!(pg("(case when [Qty]>(10) then N'bulk' else N'single' end)").as_deref(), Some("(CASE WHEN \"Qty\" > (10) THEN 'bulk' ELSE 'single' END)"));
        assert_eq!(pg("([First] like N'A%')").as_deref(), Some("(\"First\" LIKE 'A%')"));
        // Not certain: left as they were.
        assert_eq!(pg("([First]+CONVERT([varchar](10),[Qty]))"), None);
        assert_eq!(pg("(charindex(N'x',[First])>(0))"), None, "argument order differs");
        assert_eq!(pg("([Active]+(1))"), None);
        assert_eq!(pg("([Nope]>(0))"), None, "a name that is no column");
        assert_eq!(pg("(dbo.f([Qty]))"), None);
        assert_eq!(to_postgres_immutable("(datediff(day,[Placed],getdate()))", &t), None);
        assert_eq!(to_postgres_immutable("([Placed]<getdate())", &t), None, "a generated column cannot read the clock");
        assert!(to_postgres_immutable("(upper([First]))", &t).is_some());
    }
}
