//! Quoting. Every identifier ferry writes goes through [`quote_ident`], so names that are
//! keywords, mixed case or contain quotes are always safe.

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// A standard-conforming string literal (`E''` is never needed: backslashes are literal).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// PostgreSQL's identifier limit (NAMEDATALEN - 1) in bytes.
pub const MAX_IDENT_BYTES: usize = 63;

/// Cuts `name` to at most 63 bytes on a character boundary.
pub fn truncate_ident(name: &str) -> String {
    if name.len() <= MAX_IDENT_BYTES {
        return name.to_string();
    }
    let mut end = MAX_IDENT_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(qualified("s", "T"), "\"s\".\"T\"");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let long = "é".repeat(40); // 80 bytes
        let t = truncate_ident(&long);
        assert!(t.len() <= 63 && t.len() == 62);
    }
}
