//! Maps mysql_async errors to ferry's error kinds, with advice the user can act on.

use ferry_model::{ErrorKind, SourceError};

pub fn map_error(e: mysql_async::Error) -> SourceError {
    match &e {
        mysql_async::Error::Server(s) => {
            let (kind, hint) = match s.code {
                1045 => (ErrorKind::Authentication, "check the user name and password of the source URL"),
                1044 | 1142 | 1143 | 1370 => (
                    ErrorKind::Privilege,
                    "grant the source user SELECT on the database (and SHOW VIEW, TRIGGER for the assessment)",
                ),
                // "Access denied; you need (at least one of) the X privilege(s)": the server names X.
                1227 => (
                    ErrorKind::Privilege,
                    "grant the source user the privilege the message names (migrate and verify need RELOAD for a consistent snapshot; sync needs REPLICATION SLAVE and REPLICATION CLIENT / BINLOG MONITOR)",
                ),
                1049 => (ErrorKind::NotFound, "check the database name in the source URL"),
                1236 => (
                    ErrorKind::Definite,
                    "the binlog position ferry needs is no longer on the source (purged?): keep binlogs longer, then `ferry migrate --if-exists drop` and `ferry sync` again",
                ),
                1146 | 1054 => (ErrorKind::NotFound, "the table changed while ferry ran; run again"),
                // The server still holds a replica connection with our id (a killed run's, until it
                // notices): retried; if another job uses the id, give this one its own --server-id.
                4052 => (ErrorKind::Transient, "another replica connection uses ferry's server_id; if it is not ferry's own earlier run, pass --server-id"),
                1205 | 1213 | 1040 | 1053 | 1927 | 2006 | 2013 => (ErrorKind::Transient, ""),
                _ => (ErrorKind::Definite, ""),
            };
            let mut msg = format!("MySQL error {} ({}): {}", s.code, s.state, s.message);
            if !hint.is_empty() {
                msg.push_str(&format!(" — {hint}"));
            }
            SourceError::new(kind, msg)
        }
        mysql_async::Error::Io(io) => {
            let text = io.to_string();
            let kind =
                if text.contains("refused") || text.contains("lookup") || text.contains("resolve") { ErrorKind::Unreachable } else { ErrorKind::Transient };
            SourceError::new(kind, format!("cannot reach the MySQL server: {text}"))
        }
        mysql_async::Error::Url(u) => SourceError::new(ErrorKind::Definite, format!("bad MySQL URL: {u}")),
        mysql_async::Error::Driver(d) => SourceError::new(ErrorKind::Transient, format!("MySQL driver: {d}")),
        mysql_async::Error::Other(o) => SourceError::new(ErrorKind::Definite, format!("MySQL: {o}")),
    }
}
