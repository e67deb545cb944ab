//! Which plans may be maintained (materialized views, indexes,
//! `SUBSCRIBE`): no `now()` or its kin outside temporal filters, no
//! sequence function, and no read of a catalog relation or a sequence.
//!
//! This is the coordinator's check, not the IR's: knowing which relations
//! are catalog relations takes the catalog (`catalog::system`), which the
//! `freshet-expr` crate cannot name.

use crate::catalog::Catalog;
use crate::catalog::system::is_catalog_relation;
use crate::expr::RelationExpr;
use crate::expr::ScalarExpr;
use crate::expr::func::VariadicFunc;
use crate::expr::scalar::UnmaterializableFunc;
use crate::expr::temporal::TemporalError;
use crate::sql::PlanError;

/// Refuses a plan that calls `now()` or its kin, or reads a catalog
/// relation, where it would be maintained (`what`: "materialized view",
/// "index", ...), as Materialize does for `now()`. (Catalog relations are
/// computed when a one-shot query reads them; a maintained view would not
/// follow catalog changes.)
pub fn check_materializable(
    plan: &RelationExpr,
    what: &str,
    catalog: &Catalog,
) -> Result<(), PlanError> {
    let mut catalog_read = None;
    find_catalog_read(plan, catalog, &mut catalog_read);
    if let Some(name) = catalog_read {
        return Err(PlanError::Unsupported(format!("reading {name} in {what}")));
    }
    let mut sequence_call = None;
    plan.clone().visit_scalars_mut(&mut |e| {
        e.visit_mut(&mut |x| {
            if let ScalarExpr::CallVariadic {
                func: VariadicFunc::Sequence(f),
                ..
            } = x
            {
                sequence_call.get_or_insert(*f);
            }
        })
    });
    if let Some(f) = sequence_call {
        return Err(PlanError::Unsupported(format!(
            "calling {}() in {what}",
            f.name()
        )));
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

fn find_catalog_read(plan: &RelationExpr, catalog: &Catalog, found: &mut Option<String>) {
    match plan {
        // A sequence's values change outside of time, like the catalog's.
        RelationExpr::Get { id, name }
            if is_catalog_relation(*id) || catalog.sequence(*id).is_some() =>
        {
            found.get_or_insert_with(|| name.clone());
        }
        other => {
            for child in other.children() {
                find_catalog_read(child, catalog, found);
            }
        }
    }
}
