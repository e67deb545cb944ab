//! Which plans may be maintained (materialized views, indexes,
//! `SUBSCRIBE`): no `now()` or its kin outside temporal filters, and no
//! read of a catalog relation.
//!
//! This is the coordinator's check, not the IR's: knowing which relations
//! are catalog relations takes the catalog (`catalog::system`), which the
//! `freshet-expr` crate cannot name.

use crate::catalog::system::is_catalog_relation;
use crate::expr::RelationExpr;
use crate::expr::ScalarExpr;
use crate::expr::scalar::UnmaterializableFunc;
use crate::expr::temporal::TemporalError;
use crate::sql::PlanError;

/// Refuses a plan that calls `now()` or its kin, or reads a catalog
/// relation, where it would be maintained (`what`: "materialized view",
/// "index", ...), as Materialize does for `now()`. (Catalog relations are
/// computed when a one-shot query reads them; a maintained view would not
/// follow catalog changes.)
pub fn check_materializable(plan: &RelationExpr, what: &str) -> Result<(), PlanError> {
    let mut catalog_read = None;
    find_catalog_read(plan, &mut catalog_read);
    if let Some(name) = catalog_read {
        return Err(PlanError::Unsupported(format!("reading {name} in {what}")));
    }
    let mut found = None;
    // Temporal filters are the one maintained use of `mz_now()`.
    plan.without_temporal_filters(what)
        .map_err(|e| match e {
            TemporalError::NotImplemented(m) => PlanError::NotImplemented(m),
            TemporalError::Unsupported(m) => PlanError::Unsupported(m),
        })?
        .visit_scalars_mut(&mut |e| {
            e.visit_mut(&mut |x| {
                if let ScalarExpr::Unmaterializable(f) = x {
                    found.get_or_insert(*f);
                }
            })
        });
    match found {
        Some(func) if func.is_random() => Err(PlanError::Unsupported(format!(
            "calling {} in {what} (it is not deterministic)",
            func.describe()
        ))),
        Some(func @ UnmaterializableFunc::DateTimeInput(_)) => {
            Err(PlanError::Unsupported(format!(
                "the date/time input {} in {what} (its value depends on when it is read)",
                func.describe()
            )))
        }
        Some(func) => Err(PlanError::Unsupported(format!(
            "calling {} in {what}",
            func.describe()
        ))),
        None => Ok(()),
    }
}

fn find_catalog_read(plan: &RelationExpr, found: &mut Option<String>) {
    match plan {
        RelationExpr::Get { id, name } if is_catalog_relation(*id) => {
            found.get_or_insert_with(|| name.clone());
        }
        other => {
            for child in other.children() {
                find_catalog_read(child, found);
            }
        }
    }
}
