//! SQL hooks: the user's own files run on the target at four stages of a migrate
//! (`[hooks]` in the config: before_schema, after_schema, before_data, after_data).
//!
//! Guarantees, kept by [`run_stage`]:
//! - **Each file in its own transaction**: `BEGIN`, the file, `COMMIT`; a failing file is rolled
//!   back whole, so the target never holds half a hook.
//! - **Nothing after a failed hook runs**: a before_schema, after_schema or before_data hook that
//!   fails stops the migrate before its stage's work ([`crate::LoadError::Hook`] names the stage,
//!   the file and the server's error); an after_data hook that fails is a failure in the report
//!   (the data is loaded; `ok` is false).
//! - **Reported with timing**: every file that ran is a [`HookRun`] in the report.
//!
//! When each stage runs: before_schema before the schema is created; after_schema once the
//! planned tables exist, empty and without indexes (the schema-only run builds its keys and
//! indexes after it); before_data before the first row is read; after_data once every row is
//! loaded and every key, index and foreign key is built. `--schema-only` runs the first two,
//! `--data-only` the last two, a whole migrate all four; `--resume` runs the data stages again
//! (they surround the data phase it finishes), not the schema stages.

use ferry_target_postgres::PgTarget;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    BeforeSchema,
    AfterSchema,
    BeforeData,
    AfterData,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::BeforeSchema => "before_schema",
            Stage::AfterSchema => "after_schema",
            Stage::BeforeData => "before_data",
            Stage::AfterData => "after_data",
        }
    }
}

/// One SQL file to run at one stage (read by the caller, so a missing file stops the run
/// before anything is written).
#[derive(Debug, Clone)]
pub struct Hook {
    pub stage: Stage,
    /// The file as the user named it (for messages and the report).
    pub file: String,
    pub sql: String,
}

/// A hook that ran.
#[derive(Debug, Clone, Serialize)]
pub struct HookRun {
    pub stage: Stage,
    pub file: String,
    pub seconds: f64,
    /// The server's error; the file was rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs the hooks of `stage` in the order given, each in its own transaction, stopping at the
/// first that fails. Returns every run (the failed one last, with its error).
pub async fn run_stage(target: &PgTarget, hooks: &[Hook], stage: Stage) -> Vec<HookRun> {
    let mut runs = Vec::new();
    for h in hooks.iter().filter(|h| h.stage == stage) {
        let started = Instant::now();
        let result = async {
            target.batch("BEGIN").await?;
            if let Err(e) = target.batch(&h.sql).await {
                let _ = target.batch("ROLLBACK").await;
                return Err(e);
            }
            target.batch("COMMIT").await
        }
        .await;
        let error = result.err().map(|e| e.message);
        let failed = error.is_some();
        runs.push(HookRun { stage, file: h.file.clone(), seconds: started.elapsed().as_secs_f64(), error });
        if failed {
            break;
        }
    }
    runs
}

/// The first failed run, as the error that stops the migrate.
pub fn failure(runs: &[HookRun]) -> Option<crate::LoadError> {
    runs.iter().find_map(|r| r.error.as_ref().map(|e| crate::LoadError::Hook { stage: r.stage.label(), file: r.file.clone(), error: e.clone() }))
}
