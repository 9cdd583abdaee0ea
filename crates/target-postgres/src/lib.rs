//! PostgreSQL as ferry's target: the target DDL model and its rendering ([`ddl`]), the COPY text
//! encoder ([`copy_text`], pure functions over bytes), and the connection that runs DDL and COPY
//! ([`conn`]). Identifiers are always quoted.

pub mod alter;
pub mod apply;
pub mod catalog;
pub mod conn;
pub mod controls;
pub mod copy_binary;
pub mod copy_text;
pub mod ddl;
pub mod error;
pub mod hold;
pub mod ident;
pub mod quarantine;
pub mod reshape;
pub mod state;
pub mod sync_state;
pub mod tls;
pub mod verify;

pub use conn::PgTarget;
pub use error::TargetError;
pub use ident::{qualified, quote_ident, quote_literal};
