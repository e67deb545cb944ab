//! Lowering `WITH RECURSIVE` (DataFusion's `RecursiveQuery` and the scans
//! of its work table) into [`RelationExpr::Recursive`] and
//! [`RelationExpr::WorkTable`].
//!
//! PostgreSQL evaluates a recursive query with a working table: the base
//! term's rows, then the recursive term over the rows the previous step
//! added, until a step adds none. When the recursive term reads the work
//! table once and is linear in it (no aggregates, no `DISTINCT`, no outer
//! joins, no negation over it — which PostgreSQL forbids anyway), that
//! result is the fixpoint of `r = base + f(r)` (`UNION ALL`) or
//! `r = distinct(base + f(r))` (`UNION`), which a differential dataflow
//! maintains with `iterate`. Recursive terms outside that shape are
//! refused, so the fixpoint never differs from PostgreSQL's answer.

use datafusion_common::DFSchema;
use datafusion_expr::logical_plan::{RecursiveQuery, TableScan};

use crate::expr::{JoinKind, RelationExpr};

use super::PlanError;
use super::lower::{lower, lower_expr};
use super::plan::WorkTableSource;

/// Lowers a scan of a recursive CTE's work table (with the filters and
/// projection the optimizer pushed into it).
pub fn lower_work_table_scan(
    scan: &TableScan,
    work: &WorkTableSource,
) -> Result<RelationExpr, PlanError> {
    let schema = datafusion_expr::TableSource::schema(work);
    let arity = schema.fields().len();
    let mut expr = RelationExpr::WorkTable {
        name: work.name.clone(),
    };
    if !scan.filters.is_empty() {
        let full = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &schema)
            .map_err(PlanError::from_datafusion)?;
        let predicates = scan
            .filters
            .iter()
            .map(|f| lower_expr(f, &full))
            .collect::<Result<Vec<_>, _>>()?;
        expr = RelationExpr::mfp(expr, vec![], predicates, (0..arity).collect());
    }
    if let Some(projection) = &scan.projection
        && *projection != (0..arity).collect::<Vec<_>>()
    {
        expr = RelationExpr::mfp(expr, vec![], vec![], projection.clone());
    }
    if scan.fetch.is_some() {
        return Err(PlanError::Unsupported(
            "LIMIT in the recursive term of WITH RECURSIVE".into(),
        ));
    }
    Ok(expr)
}

/// Lowers a `RecursiveQuery`.
pub fn lower_recursive_query(r: &RecursiveQuery) -> Result<RelationExpr, PlanError> {
    let base = lower(&r.static_term)?;
    let recursive = lower(&r.recursive_term)?;
    let name = &r.name;
    if base.work_table_reads(name) > 0 {
        return Err(PlanError::InvalidRecursion(format!(
            "recursive reference to query \"{name}\" must not appear within its non-recursive term"
        )));
    }
    if recursive.work_table_reads(name) > 1 {
        return Err(PlanError::InvalidRecursion(format!(
            "recursive reference to query \"{name}\" must not appear more than once"
        )));
    }
    check_linear(&recursive, name)?;
    Ok(RelationExpr::Recursive {
        name: name.clone(),
        base: Box::new(base),
        recursive: Box::new(recursive),
        distinct: r.is_distinct,
    })
}

/// Checks that every operator between the recursive term's output and its
/// read of the work table is linear: maps, filters, projections, unions,
/// inner joins and table functions.
fn check_linear(expr: &RelationExpr, name: &str) -> Result<(), PlanError> {
    if expr.work_table_reads(name) == 0 {
        return Ok(());
    }
    if let RelationExpr::Reduce { aggregates, .. } = expr
        && !aggregates.is_empty()
    {
        return Err(PlanError::InvalidRecursion(
            "aggregate functions are not allowed in a recursive query's recursive term".into(),
        ));
    }
    let what = match expr {
        RelationExpr::WorkTable { .. }
        | RelationExpr::Mfp { .. }
        | RelationExpr::Union { .. }
        | RelationExpr::FlatMap { .. }
        | RelationExpr::Join {
            kind: JoinKind::Inner,
            ..
        } => None,
        RelationExpr::Join { .. } => Some("an outer, semi or anti join"),
        RelationExpr::Reduce { .. } => Some("aggregation or GROUP BY"),
        RelationExpr::Distinct { .. } => Some("DISTINCT"),
        RelationExpr::TopK { .. } => Some("ORDER BY, LIMIT or OFFSET"),
        RelationExpr::DistinctOn { .. } => Some("DISTINCT ON"),
        RelationExpr::Window { .. } => Some("window functions"),
        RelationExpr::CheckSingleRow { .. } => Some("a scalar subquery"),
        RelationExpr::Recursive { .. } => Some("a nested recursive query"),
        RelationExpr::Get { .. } | RelationExpr::Constant { .. } => None,
    };
    if let Some(what) = what {
        return Err(PlanError::Unsupported(format!(
            "{what} over the recursive reference to \"{name}\" in WITH RECURSIVE"
        )));
    }
    expr.children()
        .into_iter()
        .try_for_each(|c| check_linear(c, name))
}
