//! The plan as the statements `migrate` runs, in its order: before the load (schema, types,
//! sequences, bare tables), after the data (indexes, keys, checks, identities, triggers,
//! comments), foreign keys last.

use super::{Plan, TablePlan};
use ferry_target_postgres::ddl::*;

/// `CREATE EXTENSION IF NOT EXISTS` for an extension the plan's types need.
pub fn create_extension_sql(name: &str) -> String {
    format!("CREATE EXTENSION IF NOT EXISTS {}", ferry_target_postgres::ident::quote_ident(name))
}

impl Plan {
    /// Everything `migrate` will run, in order, as one script (the `ferry plan` output).
    pub fn ddl_script(&self) -> String {
        let mut s = String::new();
        s.push_str("-- ferry plan: DDL in the order `ferry migrate` runs it\n\n-- 1. before the load\n");
        for e in &self.extensions {
            s.push_str(&format!("{};\n", create_extension_sql(e)));
        }
        s.push_str(&format!("{};\n", create_schema_sql(&self.target_schema)));
        for e in &self.enums {
            s.push_str(&format!("{};\n", e.create_sql()));
        }
        for d in &self.domains {
            s.push_str(&format!("{};\n", d.create_sql()));
        }
        for q in &self.sequences {
            s.push_str(&format!("{};\n", q.create_sql()));
            if let Some(v) = q.setval_sql() {
                s.push_str(&format!("{v};\n"));
            }
        }
        for t in &self.tables {
            s.push_str(&format!("\n{};\n", t.target.create_sql()));
        }
        if let Some(c) = &self.citus {
            s.push_str("\n-- Citus: reference and distributed tables, before the load\n");
            for stmt in &c.statements {
                s.push_str(&format!("{stmt};\n"));
            }
        }
        s.push_str("\n-- 2. COPY of every table\n");
        for t in &self.tables {
            s.push_str(&format!("-- {}\n", t.copy_sql(t.binary.is_some())));
        }
        s.push_str("\n-- 3. after the load: keys, indexes, constraints, sequences, triggers, comments\n");
        for t in &self.tables {
            for stmt in self.post_load(t) {
                s.push_str(&format!("{stmt};\n"));
            }
        }
        for t in &self.tables {
            for fk in t.target.foreign_key_steps() {
                s.push_str(&format!("{};\n", fk.add));
                if let Some(v) = fk.validate {
                    s.push_str(&format!("{v};\n"));
                }
            }
        }
        s
    }

    /// Per-table statements after the load, except foreign keys (which need every table's keys).
    pub fn post_load(&self, t: &TablePlan) -> Vec<String> {
        let mut out = self.index_builds(t);
        out.extend(self.after_indexes(t));
        out
    }

    /// Index builds of a table after its load; they may run concurrently with each other.
    pub fn index_builds(&self, t: &TablePlan) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((index, _)) = t.target.primary_key_index_sql() {
            out.push(index);
        }
        for ix in &t.target.indexes {
            out.push(t.target.index_sql(ix));
        }
        out.extend(t.target.partition_index_sql());
        out
    }

    /// What follows a table's index builds, in order: the primary key adopting its index,
    /// checks, identity restarts, triggers, comments, statistics.
    pub fn after_indexes(&self, t: &TablePlan) -> Vec<String> {
        let mut out = Vec::new();
        match t.target.primary_key_index_sql() {
            Some((_, attach)) => out.push(attach),
            None => out.extend(t.target.primary_key_sql()),
        }
        for c in &t.target.checks {
            out.push(t.target.check_sql(c));
            if !c.not_valid {
                out.push(t.target.validate_sql(&c.name));
            }
        }
        out.extend(t.target.restart_identity_sql(t.auto_increment_floor));
        out.extend(t.target.on_update_trigger_sql());
        out.extend(t.target.comment_sql());
        out.push(format!("ANALYZE {}", t.target.qualified()));
        out
    }
}
