//! The dialect-neutral heart of ferry: the schema model every source introspects into, the neutral
//! [`Value`] every source reads into, the canonical text form used to compare values across
//! engines, and the [`Source`] trait every source implements. This crate knows no database.

pub mod canonical;
pub mod error;
pub mod schema;
pub mod source;
pub mod value;

pub use error::{ErrorKind, SourceError};
pub use schema::*;
pub use source::{Probe, RowBatch, RowSender, Source, TableSelection};
pub use value::{Date, DateTime, Row, Value};
