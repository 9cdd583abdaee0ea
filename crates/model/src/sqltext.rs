//! Rewriting the quoted identifiers of SQL text without parsing it: the one lexer the model's
//! expression form needs (sources rewrite their own quoting into it, the plan maps its column
//! references to target names). Guarantee: text inside string literals is never touched, and an
//! identifier's doubled delimiter (`a``b`, `"a""b"`) is read as one character
//! ([`rewrite_identifiers`]).

/// How a dialect quotes: its identifier delimiter and whether a backslash escapes the next
/// character inside string literals (MySQL by default; standard SQL and PostgreSQL do not).
#[derive(Debug, Clone, Copy)]
pub struct Quoting {
    pub identifier: char,
    pub backslash_escapes: bool,
}

/// Standard SQL: `"identifier"`, `'literal'` with `''`.
pub const STANDARD: Quoting = Quoting { identifier: '"', backslash_escapes: false };

/// `expr` with each identifier quoted by `q.identifier` replaced by `f(name)`, literals and the
/// rest as they are.
pub fn rewrite_identifiers(expr: &str, q: Quoting, f: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            out.push(c);
            while let Some(x) = chars.next() {
                out.push(x);
                if x == '\\' && q.backslash_escapes {
                    if let Some(y) = chars.next() {
                        out.push(y);
                    }
                } else if x == '\'' {
                    if chars.peek() == Some(&'\'') {
                        out.push(chars.next().unwrap());
                    } else {
                        break;
                    }
                }
            }
        } else if c == q.identifier {
            let mut name = String::new();
            while let Some(x) = chars.next() {
                if x == q.identifier {
                    if chars.peek() == Some(&q.identifier) {
                        name.push(chars.next().unwrap());
                        continue;
                    }
                    break;
                }
                name.push(x);
            }
            out.push_str(&f(&name));
        } else {
            out.push(c);
        }
    }
    out
}

/// `name` as a standard double-quoted identifier.
pub fn standard_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_left_alone_and_doubled_delimiters_read_once() {
        let mysql = Quoting { identifier: '`', backslash_escapes: true };
        assert_eq!(rewrite_identifiers("`Qty` > 0 and `a``b` <> 'it''s `x`'", mysql, &standard_identifier), "\"Qty\" > 0 and \"a`b\" <> 'it''s `x`'");
        assert_eq!(rewrite_identifiers("`q\"` = 'a\\'b `c`'", mysql, &standard_identifier), "\"q\"\"\" = 'a\\'b `c`'");
        assert_eq!(rewrite_identifiers("\"Qty\" > 0 and note <> '\"Qty\"'", STANDARD, &|n| n.to_lowercase()), "qty > 0 and note <> '\"Qty\"'");
    }
}
