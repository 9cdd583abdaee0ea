//! The catalog a URL names, for `ferry diff` and `ferry erd`: a PostgreSQL schema as it is, or a
//! source database as it is or — when compared with PostgreSQL — as ferry's plan would convert
//! it (the plan comes back too, so the caller can normalise its texts against a live server).

use ferry_model::catalog::Catalog;
use ferry_model::{Source, SourceError};
use ferry_plan::{Config, Plan};
use ferry_target_postgres::PgTarget;

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("connecting to {url}: {error}")]
    Target { url: String, error: ferry_target_postgres::TargetError },
    #[error(transparent)]
    Planning(#[from] ferry_load::PlanningError),
}

/// The two catalogs `ferry diff a b` compares. A non-PostgreSQL side compared with PostgreSQL is
/// converted by the plan first, and its target schema is the other side's default schema; its
/// types, defaults and checks are then printed by that live PostgreSQL, so only real
/// differences remain.
pub async fn both_sides(a: &str, b: &str, a_schema: Option<&str>, b_schema: Option<&str>, config: &Config) -> Result<(Catalog, Catalog), CatalogError> {
    let (pa, pb) = (crate::is_postgres(a), crate::is_postgres(b));
    let ca = if pa { None } else { Some(catalog_of(a, None, pb, config).await?) };
    let cb = if pb { None } else { Some(catalog_of(b, None, pa, config).await?) };
    let sa = ca.as_ref().and_then(|c| c.1.as_ref().map(|p| p.target_schema.clone()));
    let sb = cb.as_ref().and_then(|c| c.1.as_ref().map(|p| p.target_schema.clone()));
    let mut ca = match ca {
        Some(c) => c,
        None => catalog_of(a, a_schema.or(sb.as_deref()), false, config).await?,
    };
    let mut cb = match cb {
        Some(c) => c,
        None => catalog_of(b, b_schema.or(sa.as_deref()), false, config).await?,
    };
    for (side, other) in [(&mut ca, b), (&mut cb, a)] {
        if let (Some(plan), true) = (&side.1, crate::is_postgres(other)) {
            let t = PgTarget::connect(other).await.map_err(|error| CatalogError::Target { url: ferry_model::redact_url(other), error })?;
            ferry_verify::structure::normalise_defaults(&t, plan, &mut side.0)
                .await
                .map_err(|error| CatalogError::Target { url: ferry_model::redact_url(other), error })?;
        }
    }
    Ok((ca.0, cb.0))
}

/// The catalog of `url` (schema `schema` of a PostgreSQL database, else the configured target
/// schema, else `public`), filtered by the config's include/exclude; a non-PostgreSQL source as
/// converted by the plan when `as_postgres`, with that plan.
pub async fn catalog_of(url: &str, schema: Option<&str>, as_postgres: bool, config: &Config) -> Result<(Catalog, Option<Plan>), CatalogError> {
    if crate::is_postgres(url) {
        let schema = schema.map(str::to_string).or_else(|| config.target.schema.clone()).unwrap_or_else(|| "public".into());
        let target_error = |error| CatalogError::Target { url: ferry_model::redact_url(url), error };
        let t = PgTarget::connect(url).await.map_err(target_error)?;
        let mut cat = t.read_catalog(&schema).await.map_err(target_error)?;
        let select = ferry_plan::select_tables(config);
        cat.tables.retain(|t| select(&t.name));
        return Ok((cat, None));
    }
    let source = crate::connect(url).await?;
    let result = if as_postgres {
        let plan = ferry_load::make_plan(&source, config, false).await?;
        (ferry_plan::catalog::from_plan(&plan), Some(plan))
    } else {
        let select = ferry_plan::select_tables(config);
        (ferry_plan::catalog::from_source(&source.introspect(&select).await?), None)
    };
    source.close().await;
    Ok(result)
}
