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
pub async fn make_plan<S: Source>(
    source: &S,
    config: &ferry_plan::Config,
    postgis: bool,
) -> Result<Plan, PlanningError> {
    let select = ferry_plan::select_tables(config);
    let schema = source.introspect(&select).await?;
    let mut answers = ferry_plan::ProbeAnswers::new();
    for (table, column, probe) in ferry_plan::probes_needed(&schema, config) {
        let n = source.probe(&table, &column, probe).await?;
        answers.insert((table, column, probe), n);
    }
    Ok(ferry_plan::build(ferry_plan::PlanInput { schema: &schema, config, probes: &answers, postgis })?)
}
