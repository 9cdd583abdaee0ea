//! Introspection + probes + plan, for any source.

use ferry_model::Source;
use ferry_plan::Plan;

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    #[error(transparent)]
    Source(#[from] ferry_model::SourceError),
    #[error(transparent)]
    Plan(#[from] ferry_plan::PlanError),
}

/// Introspects the selected tables, runs the data probes the type map needs, and builds the
/// plan. Reads the source only.
pub async fn make_plan<S: Source>(source: &S, config: &ferry_plan::Config, postgis: bool) -> Result<Plan, PlanningError> {
    let select = ferry_plan::select_tables(config);
    let schema = source.introspect(&select).await?;
    let mut answers = ferry_plan::ProbeAnswers::new();
    let mut by_table: std::collections::BTreeMap<String, Vec<(String, ferry_model::Probe)>> = Default::default();
    for (table, column, probe) in ferry_plan::probes_needed(&schema, config) {
        by_table.entry(table).or_default().push((column, probe));
    }
    for (table, probes) in by_table {
        let counts = source.probe_table(&table, &probes).await?;
        for ((column, probe), n) in probes.into_iter().zip(counts) {
            answers.insert((table.clone(), column, probe), n);
        }
    }
    let mut plan = ferry_plan::build(ferry_plan::PlanInput { schema: &schema, config, probes: &answers, postgis })?;
    // The source's views, triggers and routines in PostgreSQL, under the plan's names.
    let converted = source.convert_objects(&plan.inputs.schema, &plan.names());
    plan.attach_objects(converted);
    Ok(plan)
}
