//! Catalog relations that are always empty: `pg_policy`, `pg_constraint`,
//! `pg_inherits`, `pg_publication`, ... describe features Freshet does not
//! have (`catalog::system`). psql's `\d name` queries read them with
//! subqueries DataFusion cannot decorrelate (`oid = any (pol.polroles)`,
//! `EXISTS (...)` in a select list); knowing that the relations are empty,
//! [`rewrite`] answers those parts before the analyzer runs, exactly:
//!
//! * a scan of such a relation becomes an empty relation of its columns,
//!   which DataFusion's optimizer propagates (a projection, filter, inner
//!   join, ... of nothing is nothing), taking the subqueries above it away;
//! * over a plan that has no rows, `EXISTS` is false (`NOT EXISTS` true),
//!   `x IN (...)` false (`NOT IN` true, whatever `x` is), and a scalar
//!   subquery NULL.

use datafusion_common::ScalarValue;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_expr::expr::{Exists, InSubquery};
use datafusion_expr::logical_plan::{EmptyRelation, JoinType};
use datafusion_expr::{Expr, LogicalPlan, lit};

use super::PlanError;
use super::plan::CatalogTableSource;

/// Replaces scans of always-empty catalog relations, and the subqueries
/// over no rows (see the module docs).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = &node
            && let Some(source) = scan.source.downcast_ref::<CatalogTableSource>()
            && source.item.always_empty
            && scan.filters.is_empty()
        {
            return Ok(Transformed::yes(LogicalPlan::EmptyRelation(
                EmptyRelation {
                    produce_one_row: false,
                    schema: scan.projected_schema.clone(),
                },
            )));
        }
        node.map_expressions(|e| e.transform_up(answer_subquery))
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

fn answer_subquery(e: Expr) -> datafusion_common::Result<Transformed<Expr>> {
    Ok(match &e {
        Expr::Exists(Exists { subquery, negated }) if has_no_rows(&subquery.subquery) => {
            Transformed::yes(lit(*negated))
        }
        Expr::InSubquery(InSubquery {
            subquery, negated, ..
        }) if has_no_rows(&subquery.subquery) => Transformed::yes(lit(*negated)),
        Expr::ScalarSubquery(subquery) if has_no_rows(&subquery.subquery) => {
            let (_, field) = subquery.subquery.schema().qualified_field(0);
            Transformed::yes(Expr::Literal(
                ScalarValue::try_from(field.data_type())?,
                None,
            ))
        }
        _ => Transformed::no(e),
    })
}

/// Whether `plan` certainly has no rows.
fn has_no_rows(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::EmptyRelation(e) => !e.produce_one_row,
        LogicalPlan::Projection(p) => has_no_rows(&p.input),
        LogicalPlan::Filter(f) => has_no_rows(&f.input),
        LogicalPlan::Sort(s) => has_no_rows(&s.input),
        LogicalPlan::Limit(l) => has_no_rows(&l.input),
        LogicalPlan::SubqueryAlias(a) => has_no_rows(&a.input),
        LogicalPlan::Distinct(d) => has_no_rows(d.input()),
        LogicalPlan::Aggregate(a) => !a.group_expr.is_empty() && has_no_rows(&a.input),
        LogicalPlan::Join(j) => match j.join_type {
            JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi => {
                has_no_rows(&j.left) || has_no_rows(&j.right)
            }
            JoinType::Left | JoinType::LeftAnti | JoinType::LeftMark => has_no_rows(&j.left),
            JoinType::Right | JoinType::RightAnti | JoinType::RightMark => has_no_rows(&j.right),
            JoinType::Full => has_no_rows(&j.left) && has_no_rows(&j.right),
        },
        _ => false,
    }
}
