//! From a source schema and the user's rules to a PostgreSQL plan: target tables, the value
//! conversions every row goes through, and the assessment a user reads before migrating.
//! Building a plan reads nothing and writes nothing: data probes are asked for
//! ([`probes_needed`]) and their answers passed in.

pub mod assessment;
pub mod build;
pub mod catalog;
pub mod citus;
pub mod config;
pub mod convert;
pub mod init;
pub mod naming;
pub mod objects;
pub mod reshape;
pub mod typemap;

pub use assessment::{Assessment, Item, Severity};
pub use build::{build, non_transactional, probes_needed, select_tables, Plan, PlanError, PlanInput, PlanInputs, ProbeAnswers, TablePlan};
pub use config::Config;
pub use convert::{ConversionStats, RowConverter};
