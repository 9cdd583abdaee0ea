//! What differs between MySQL and MariaDB versions, as capabilities rather than `if` branches
//! spread over the code.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    pub mariadb: bool,
    pub major: u32,
    pub minor: u32,
    pub version: String,
}

impl Dialect {
    pub fn from_version(v: &str) -> Dialect {
        let mariadb = v.to_ascii_lowercase().contains("mariadb");
        let mut nums = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
        let major = nums.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let minor = nums.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        Dialect { mariadb, major, minor, version: v.to_string() }
    }

    pub fn product(&self) -> String {
        let v = self.version.split('-').next().unwrap_or(&self.version);
        format!("{} {v}", if self.mariadb { "MariaDB" } else { "MySQL" })
    }

    /// MariaDB ≥ 10.2.7 reports `COLUMN_DEFAULT` as SQL: strings quoted, `NULL` spelled out,
    /// expressions bare. MySQL reports literals unquoted and flags expressions in `EXTRA`.
    pub fn quoted_defaults(&self) -> bool {
        self.mariadb && (self.major, self.minor) >= (10, 2)
    }

    /// MariaDB's JSON is LONGTEXT with a `json_valid()` CHECK; MySQL has a native JSON type.
    pub fn json_is_checked_longtext(&self) -> bool {
        self.mariadb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        let d = Dialect::from_version("10.11.6-MariaDB-0+deb12u1-log");
        assert!(d.mariadb && d.major == 10 && d.minor == 11 && d.quoted_defaults());
        assert_eq!(d.product(), "MariaDB 10.11.6");
        let m = Dialect::from_version("8.0.36");
        assert!(!m.mariadb && m.major == 8 && !m.quoted_defaults());
    }
}
