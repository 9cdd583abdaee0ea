//! Identifier rules: case folding (lower, snake_case, preserve), the 63-byte limit, LIKE-style
//! table patterns, and collision detection. A collision is never resolved silently for tables
//! and columns (the user must rename); generated index names get a numeric suffix.

use crate::config::IdentifierCase;
use ferry_target_postgres::ident::truncate_ident;

/// `CustomerId` → `customer_id`, `HTTPServer` → `http_server`, `already_snake` unchanged.
pub fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' || c == '-' {
            if !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).map(|n| n.is_lowercase()).unwrap_or(false);
            if (prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

pub fn apply_case(case: IdentifierCase, s: &str) -> String {
    match case {
        IdentifierCase::Lower => s.to_lowercase(),
        IdentifierCase::SnakeCase => snake_case(s),
        IdentifierCase::Preserve => s.to_string(),
    }
}

/// Target name for a source identifier: explicit rename wins (used as written), else the case rule;
/// then cut to 63 bytes.
pub fn target_name(case: IdentifierCase, source: &str, rename: Option<&str>) -> String {
    truncate_ident(&match rename {
        Some(r) => r.to_string(),
        None => apply_case(case, source),
    })
}

pub use ferry_model::like;

/// Makes generated names unique by appending `_2`, `_3`… (cutting to 63 bytes first).
pub struct NameAllocator {
    used: std::collections::HashSet<String>,
}

impl NameAllocator {
    pub fn new() -> Self {
        NameAllocator { used: Default::default() }
    }
    pub fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }
    pub fn allocate(&mut self, wanted: &str) -> String {
        let base = truncate_ident(wanted);
        if self.used.insert(base.clone()) {
            return base;
        }
        for n in 2.. {
            let suffix = format!("_{n}");
            let cut = truncate_ident(&base[..base.len().min(63 - suffix.len())]);
            let candidate = format!("{cut}{suffix}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
        }
        unreachable!()
    }
}

impl Default for NameAllocator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_like_pgloader() {
        assert_eq!(snake_case("InvoiceLineId"), "invoice_line_id");
        assert_eq!(snake_case("BillingPostalCode"), "billing_postal_code");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("customer_id"), "customer_id");
        assert_eq!(snake_case("Address2"), "address2");
        assert_eq!(snake_case("PlaylistTrack"), "playlist_track");
        assert_eq!(snake_case("Media Type"), "media_type");
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", "anything"));
        assert!(like("film%", "film_actor"));
        assert!(like("FILM_", "films"));
        assert!(!like("film_", "film"));
        assert!(like("tmp\\_%", "tmp_x"));
        assert!(!like("tmp\\_%", "tmpx"));
    }

    #[test]
    fn allocator_suffixes_collisions() {
        let mut a = NameAllocator::new();
        assert_eq!(a.allocate("idx"), "idx");
        assert_eq!(a.allocate("idx"), "idx_2");
        let long = "x".repeat(70);
        let first = a.allocate(&long);
        let second = a.allocate(&long);
        assert_eq!(first.len(), 63);
        assert!(second.len() <= 63 && second.ends_with("_2"));
    }
}
