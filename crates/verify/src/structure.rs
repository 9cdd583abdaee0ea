//! The structure half of "equal": every object the plan promised — tables, columns with their
//! types, nullability and defaults, primary keys, unique keys, foreign keys, checks, indexes
//! (those of single partitions too), enum types, sequences — exists on the target as planned.
//! Data equal but a foreign key missing is not a finished migration: `migrate` is not OK and
//! `verify` is not EQUAL while [`unmet_structure`] lists anything. The comparison is `ferry
//! diff`'s (generated names ignored, expressions normalised), against the plan's own catalog.

use ferry_plan::Plan;
use ferry_target_postgres::{PgTarget, TargetError};

/// What the plan promised that the target lacks or holds differently, one line each.
pub async fn unmet_structure(target: &PgTarget, plan: &Plan) -> Result<Vec<String>, TargetError> {
    let expected = ferry_plan::catalog::from_plan(plan);
    let actual = target.read_catalog(&plan.target_schema).await?;
    let mut out = ferry_diff::unmet(&expected, &actual);
    for t in &plan.tables {
        out.extend(target.missing_partition_objects(&t.target).await?);
    }
    Ok(out)
}
