//! What `pragma table_xinfo` does not tell, read from the table's `CREATE TABLE` text: each
//! column's `COLLATE`, `AUTOINCREMENT`, generated expression and CHECKs, and the table's
//! CHECK constraints. [`table_def`] splits the definition at its top-level commas with a small
//! lexer that knows SQLite's four identifier quotings (`"x"`, `[x]`, `` `x` ``, bare) and its
//! string literals, so nothing inside a literal or a parenthesis is mistaken for structure;
//! [`standard_expr`] rewrites an expression's identifiers into standard double quotes (bare names
//! of the table's columns included, with their exact case), the model's expression form.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword: its name (unquoted) and whether it was quoted.
    Word(String, bool),
    Str,
    Open,
    Close,
    Comma,
    Other,
}

fn lex(s: &str) -> Vec<(Tok, usize, usize)> {
    let b: Vec<char> = s.chars().collect();
    let byte_at: Vec<usize> = s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len())).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let closing = match c {
            '"' => Some('"'),
            '`' => Some('`'),
            '[' => Some(']'),
            '\'' => Some('\''),
            _ => None,
        };
        let tok = if let Some(close) = closing {
            let mut name = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == close {
                    if close != ']' && b.get(i + 1) == Some(&close) {
                        name.push(close);
                        i += 2;
                        continue;
                    }
                    break;
                }
                name.push(b[i]);
                i += 1;
            }
            i += 1;
            if c == '\'' {
                Tok::Str
            } else {
                Tok::Word(name, true)
            }
        } else if c == '-' && b.get(i + 1) == Some(&'-') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$') {
                i += 1;
            }
            Tok::Word(b[start..i].iter().collect(), false)
        } else {
            i += 1;
            match c {
                '(' => Tok::Open,
                ')' => Tok::Close,
                ',' => Tok::Comma,
                c if c.is_whitespace() => continue,
                _ => Tok::Other,
            }
        };
        out.push((tok, byte_at[start], byte_at[i.min(b.len())]));
    }
    out
}

/// One column definition's extras.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub collate: Option<String>,
    pub autoincrement: bool,
    /// The generated expression, in SQLite's SQL.
    pub generated: Option<String>,
    pub checks: Vec<String>,
}

/// A table's column extras and its table-level CHECKs (name, expression in SQLite's SQL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableDef {
    pub columns: Vec<ColumnDef>,
    pub checks: Vec<(Option<String>, String)>,
}

fn is_kw(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Word(w, false) if w.eq_ignore_ascii_case(kw))
}

/// The text inside the parenthesis opening at token `open`, and the index after its close.
fn group<'a>(sql: &'a str, toks: &[(Tok, usize, usize)], open: usize) -> Option<(&'a str, usize)> {
    let mut depth = 0;
    for (j, (t, _, end)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some((&sql[toks[open].2..*end - 1], j + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits a `CREATE TABLE` text into its column definitions and table constraints.
pub fn table_def(sql: &str) -> Option<TableDef> {
    let toks = lex(sql);
    let open = toks.iter().position(|(t, _, _)| *t == Tok::Open)?;
    let (body, _) = group(sql, &toks, open)?;
    let body_toks = lex(body);
    // Top-level parts.
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (t, s, e) in &body_toks {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => depth -= 1,
            Tok::Comma if depth == 0 => {
                parts.push((from, *s));
                from = *e;
            }
            _ => {}
        }
    }
    parts.push((from, body.len()));
    let mut def = TableDef::default();
    for (s, e) in parts {
        let text = &body[s..e];
        let t = lex(text);
        let Some((first, _, _)) = t.first() else { continue };
        let constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"].iter().any(|k| is_kw(first, k));
        if constraint {
            let name = match (&t.first(), t.get(1)) {
                (Some((f, _, _)), Some((Tok::Word(n, _), _, _))) if is_kw(f, "CONSTRAINT") => Some(n.clone()),
                _ => None,
            };
            if let Some(k) = t.iter().position(|(x, _, _)| is_kw(x, "CHECK")) {
                if let Some((expr, _)) = group(text, &t, k + 1) {
                    def.checks.push((name, expr.trim().to_string()));
                }
            }
            continue;
        }
        let Tok::Word(name, _) = first else { continue };
        let mut c = ColumnDef { name: name.clone(), ..Default::default() };
        let mut k = 1;
        while k < t.len() {
            let tok = &t[k].0;
            if is_kw(tok, "COLLATE") {
                if let Some((Tok::Word(n, _), _, _)) = t.get(k + 1) {
                    c.collate = Some(n.clone());
                }
            } else if is_kw(tok, "AUTOINCREMENT") {
                c.autoincrement = true;
            } else if is_kw(tok, "CHECK") && t.get(k + 1).is_some_and(|x| x.0 == Tok::Open) {
                if let Some((expr, next)) = group(text, &t, k + 1) {
                    c.checks.push(expr.trim().to_string());
                    k = next;
                    continue;
                }
            } else if is_kw(tok, "AS") && t.get(k + 1).is_some_and(|x| x.0 == Tok::Open) {
                if let Some((expr, next)) = group(text, &t, k + 1) {
                    c.generated = Some(expr.trim().to_string());
                    k = next;
                    continue;
                }
            } else if *tok == Tok::Open {
                // A type's arguments or a DEFAULT (expression): skip the group.
                if let Some((_, next)) = group(text, &t, k) {
                    k = next;
                    continue;
                }
            }
            k += 1;
        }
        def.columns.push(c);
    }
    Some(def)
}

/// `expr` (SQLite SQL) with every identifier in standard double quotes: quoted ones re-quoted,
/// names of `columns` (SQLite compares them case-insensitively, quoted or bare) spelled as the
/// column is, bare names of `columns` quoted with the column's own spelling. Literals untouched.
pub fn standard_expr(expr: &str, columns: &[String]) -> String {
    let mut out = String::with_capacity(expr.len() + 8);
    let mut last = 0;
    for (t, s, e) in lex(expr) {
        let name = match &t {
            Tok::Word(n, true) => Some(columns.iter().find(|c| c.eq_ignore_ascii_case(n)).cloned().unwrap_or_else(|| n.clone())),
            Tok::Word(n, false) => columns.iter().find(|c| c.eq_ignore_ascii_case(n)).cloned(),
            _ => None,
        };
        if let Some(n) = name {
            out.push_str(&expr[last..s]);
            out.push_str(&format!("\"{}\"", n.replace('"', "\"\"")));
            last = e;
        }
    }
    out.push_str(&expr[last..]);
    out
}

/// Functions and keywords a CHECK may use and still mean the same on PostgreSQL; one calling
/// anything else (`typeof`, `glob`, `julianday`…) is reported for porting instead of created.
pub fn portable_check(expr: &str, columns: &[String]) -> bool {
    const OK: &[&str] = &[
        "AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE", "LENGTH", "LOWER", "UPPER", "TRIM", "ABS", "COALESCE", "TRUE", "FALSE", "CASE", "WHEN",
        "THEN", "ELSE", "END",
    ];
    let toks = lex(expr);
    toks.iter().enumerate().all(|(i, (t, _, _))| match t {
        Tok::Word(_, true) => true,
        Tok::Word(w, false) => {
            w.chars().next().is_some_and(|c| c.is_ascii_digit())
                || columns.iter().any(|c| c.eq_ignore_ascii_case(w)) && toks.get(i + 1).is_none_or(|n| n.0 != Tok::Open)
                || OK.iter().any(|k| k.eq_ignore_ascii_case(w))
        }
        Tok::Other => true,
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_extras_and_checks_are_read_from_the_definition() {
        let sql = "CREATE TABLE [t] ( [id] INTEGER PRIMARY KEY AUTOINCREMENT, \"name\" TEXT COLLATE NOCASE NOT NULL CHECK (length(name) > 0), \
                   qty DECIMAL(10, 2) DEFAULT (0) CHECK(qty >= 0), total AS (qty * 2) STORED, note TEXT DEFAULT 'a, (b)', \
                   CONSTRAINT qty_small CHECK ([qty] < 1000), UNIQUE (name), CHECK (note <> 'x,y') )";
        let d = table_def(sql).unwrap();
        let names: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "qty", "total", "note"]);
        assert!(d.columns[0].autoincrement);
        assert_eq!(d.columns[1].collate.as_deref(), Some("NOCASE"));
        assert_eq!(d.columns[1].checks, ["length(name) > 0"]);
        assert_eq!(d.columns[2].checks, ["qty >= 0"]);
        assert_eq!(d.columns[3].generated.as_deref(), Some("qty * 2"));
        assert_eq!(d.checks, [(Some("qty_small".into()), "[qty] < 1000".into()), (None, "note <> 'x,y'".into())]);
    }

    #[test]
    fn expressions_get_standard_quotes_and_literals_stay() {
        let cols = vec!["Qty".to_string(), "Note".to_string()];
        assert_eq!(standard_expr("[qty] > 0 AND note <> 'qty' AND `Note` IS NOT NULL", &cols), "\"Qty\" > 0 AND \"Note\" <> 'qty' AND \"Note\" IS NOT NULL");
        assert!(portable_check("qty > 0 AND length(note) < 10", &cols));
        assert!(!portable_check("typeof(qty) = 'integer'", &cols));
        assert!(!portable_check("note GLOB 'a*'", &cols));
    }
}
