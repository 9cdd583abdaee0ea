//! Source DDL during sync. Guarantee: a statement changes ferry's model of the source and the
//! target together, committed with the statement's position, or stops only the table it names
//! ([`DdlContext::apply`]). Why: the model is rebuilt under the same rules (type map, renames,
//! include/exclude), the old and new target tables become in-place statements
//! (`ferry_target_postgres::alter`) queued in the batch, and the batch commits them with its
//! position and the new model; a statement that cannot be translated or applied stops its table
//! with the reason, and the stream learns each table's new shape before decoding further rows.

use crate::batch::Batch;
use ferry_model::cdc::SchemaChange;
use ferry_model::AlterOp;
use ferry_plan::{Plan, TablePlan};
use ferry_target_postgres::apply::SchemaDdl;
use std::collections::HashSet;

/// What the stream must learn after a DDL.
pub(crate) enum StreamChange {
    Set(Box<ferry_model::Table>),
    Forget(String),
}

/// Applies one source DDL statement to ferry's model of the source (the plan, rebuilt under the
/// same rules) and queues its translation for the target in the batch, which commits it with
/// the statement's position.
pub(crate) struct DdlContext<'a> {
    pub(crate) plan: &'a mut Plan,
    pub(crate) batch: &'a mut Batch,
    pub(crate) stopped: &'a mut HashSet<String>,
}

impl DdlContext<'_> {
    pub(crate) fn apply(&mut self, table: Option<String>, statement: &str, change: SchemaChange) -> Vec<StreamChange> {
        let short: String = statement.chars().take(200).collect();
        let Some(name) = table else {
            // A statement on the source database naming no table ferry could find: said, not dropped.
            if let SchemaChange::Unsupported(why) = &change {
                tracing::warn!("source DDL not understood and not tied to a table (no table stopped): `{short}` ({why})");
            }
            return vec![];
        };
        let synced = self.plan.table(&name).cloned();
        if self.stopped.contains(&name) {
            return vec![];
        }
        let selected = ferry_plan::select_tables(&self.plan.inputs.config)(&name);
        match (synced, change) {
            (None, SchemaChange::CreateTable(t)) if selected => self.create(*t, &short),
            (None, SchemaChange::RenameTable { .. }) | (None, SchemaChange::CreateTable(_)) | (None, SchemaChange::Unsupported(_)) if selected => {
                self.batch
                    .not_synced
                    .push((name, format!("appeared on the source (`{short}`) in a form ferry cannot create: run `ferry migrate` for it and restart sync")));
                vec![]
            }
            (None, _) => vec![],
            (Some(tp), SchemaChange::Truncate) => {
                self.batch.truncate.insert(name);
                self.batch.ddl.push(tp.target.name.clone());
                vec![]
            }
            (Some(tp), SchemaChange::NoRowChange(what)) => {
                self.batch.schema_ddl.push(SchemaDdl { table: tp.target.name.clone(), note: format!("`{short}`: not applied ({what})"), ..Default::default() });
                vec![]
            }
            (Some(tp), SchemaChange::Unsupported(why)) => self.stop(&tp, format!("source ran DDL ferry cannot translate: `{short}` ({why})")),
            (Some(tp), SchemaChange::CreateTable(_)) => {
                self.batch.schema_ddl.push(SchemaDdl {
                    table: tp.target.name.clone(),
                    note: format!("`{short}`: not applied (the table exists)"),
                    ..Default::default()
                });
                vec![]
            }
            (Some(tp), SchemaChange::DropTable) => {
                let mut model = self.plan.inputs.schema.clone();
                model.tables.retain(|t| t.name != name);
                match self.plan.rebuilt(model) {
                    Ok(p) => *self.plan = p,
                    Err(e) => return self.stop(&tp, format!("`{short}`: {e}")),
                }
                let mut statements = tp.target.drop_on_update_trigger_sql(&tp.target.qualified());
                statements.insert(0, format!("DROP TABLE IF EXISTS {}", tp.target.qualified()));
                self.batch.schema_ddl.push(SchemaDdl {
                    table: tp.target.name.clone(),
                    note: format!("`{short}`: applied"),
                    statements,
                    dropped: true,
                    ..Default::default()
                });
                vec![StreamChange::Forget(name)]
            }
            (Some(tp), SchemaChange::RenameTable { to }) => {
                if !ferry_plan::select_tables(&self.plan.inputs.config)(&to) {
                    return self
                        .stop(&tp, format!("`{short}`: renamed to `{to}`, which the rules do not select; the target table keeps the rows up to the rename"));
                }
                let mut t = tp.source.clone();
                t.name = to.clone();
                self.replace(&tp, t, vec![], &short, vec![StreamChange::Forget(name)])
            }
            (Some(tp), SchemaChange::Alter(ops)) => match tp.source.altered(&ops) {
                Ok(t) => {
                    let renames: Vec<(String, String)> = ops
                        .iter()
                        .filter_map(|op| match op {
                            AlterOp::RenameColumn { from, to } => Some((from.clone(), to.clone())),
                            AlterOp::ModifyColumn { name, column, .. } if &column.name != name => Some((name.clone(), column.name.clone())),
                            _ => None,
                        })
                        .collect();
                    self.replace(&tp, t, renames, &short, vec![])
                }
                Err(e) => self.stop(&tp, format!("`{short}`: {e}")),
            },
        }
    }

    fn stop(&mut self, tp: &TablePlan, msg: String) -> Vec<StreamChange> {
        self.batch
            .stops
            .push((tp.target.name.clone(), format!("{msg} — bring the table over again with `ferry migrate` (or change the target by hand) and restart sync")));
        self.stopped.insert(tp.source.name.clone());
        vec![StreamChange::Forget(tp.source.name.clone())]
    }

    /// The table `tp` becomes `t` (altered or renamed); `renames`: source column renames.
    fn replace(&mut self, tp: &TablePlan, t: ferry_model::Table, renames: Vec<(String, String)>, short: &str, mut out: Vec<StreamChange>) -> Vec<StreamChange> {
        let mut model = self.plan.inputs.schema.clone();
        let Some(slot) = model.tables.iter_mut().find(|x| x.name == tp.source.name) else { return vec![] };
        *slot = t.clone();
        let new_plan = match self.plan.rebuilt(model) {
            Ok(p) => p,
            Err(e) => return self.stop(tp, format!("`{short}`: {}", e.problems.join("; "))),
        };
        let Some(ntp) = new_plan.table(&t.name) else { return self.stop(tp, format!("`{short}`: the table left the plan")) };
        let target_renames: Vec<(String, String)> =
            renames.iter().filter_map(|(from, to)| Some((tp.target_column_of(from)?.to_string(), ntp.target_column_of(to)?.to_string()))).collect();
        match ferry_target_postgres::alter::alter_table_sql(&tp.target, &ntp.target, &target_renames, &self.plan.enums, &new_plan.enums) {
            Ok(statements) => {
                self.batch.schema_ddl.push(SchemaDdl {
                    table: tp.target.name.clone(),
                    note: format!("`{short}`: applied"),
                    rename_to: (ntp.target.name != tp.target.name).then(|| ntp.target.name.clone()),
                    statements,
                    ..Default::default()
                });
                *self.plan = new_plan;
                out.push(StreamChange::Set(Box::new(t)));
                out
            }
            Err(e) => self.stop(tp, format!("`{short}`: {e}")),
        }
    }

    fn create(&mut self, t: ferry_model::Table, short: &str) -> Vec<StreamChange> {
        let mut model = self.plan.inputs.schema.clone();
        model.tables.push(t.clone());
        let new_plan = match self.plan.rebuilt(model) {
            Ok(p) => p,
            Err(e) => {
                self.batch.not_synced.push((t.name.clone(), format!("created on the source (`{short}`) but the plan refuses it: {}", e.problems.join("; "))));
                return vec![];
            }
        };
        let Some(ntp) = new_plan.table(&t.name) else { return vec![] };
        let mut statements: Vec<String> = Vec::new();
        for c in &ntp.target.columns {
            if let ferry_target_postgres::ddl::PgType::Named { name, .. } = &c.ty {
                if !self.plan.enums.iter().any(|e| &e.name == name) {
                    statements.extend(new_plan.enums.iter().filter(|e| &e.name == name).map(|e| e.create_sql()));
                }
            }
        }
        statements.push(ntp.target.create_sql());
        statements.extend(new_plan.post_load(ntp));
        self.batch.schema_ddl.push(SchemaDdl {
            table: ntp.target.name.clone(),
            note: format!("`{short}`: applied"),
            statements,
            created: true,
            ..Default::default()
        });
        *self.plan = new_plan;
        vec![StreamChange::Set(Box::new(t))]
    }
}
