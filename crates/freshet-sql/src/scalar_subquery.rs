//! Correlated scalar subqueries that are not aggregated:
//!
//! ```sql
//! SELECT a.attname,
//!   (SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum)
//! FROM pg_attribute a
//! ```
//!
//! PostgreSQL evaluates the subquery for each outer row: no row is NULL,
//! one row is its value, more than one fails with `21000` ("more than one
//! row returned by a subquery used as an expression"). DataFusion
//! decorrelates only subqueries that are aggregated (at most one row per
//! correlation key), so [`rewrite`] turns such a subquery `(P)`, before the
//! analyzer runs, into two aggregated ones over the same `P`:
//!
//! ```text
//! rows_then_value((SELECT count(*) FROM (P)), (SELECT single_value(x) FROM (P)))
//! ```
//!
//! which DataFusion decorrelates into two left joins on the correlation
//! keys. `single_value` ([`SINGLE_VALUE`]) is lowered to `min`: it is read
//! only when the group has exactly one row, where it is that row's value.
//! `rows_then_value` ([`ROWS_THEN_VALUE`]) is lowered to
//! [`BinaryFunc::SubqueryValue`](crate::expr::BinaryFunc::SubqueryValue),
//! which fails when the count is above one. The check runs *after* the
//! join, on the outer row, so (as in PostgreSQL) only an outer row whose
//! subquery has several rows fails the query, not a correlation key that no
//! outer row asks for. Both parts are ordinary joins and reductions, so a
//! materialized view over such a query is maintained like any other.
//!
//! DataFusion moves only equalities between inner and outer columns out
//! of a subquery, so first (see `substitute_outer_columns` and
//! `hoist_outer_conditions`): an outer column that a filter equates with
//! an inner expression is replaced by it in the filter's other
//! comparisons; conditions on the outer row alone become `CASE WHEN
//! condition THEN <subquery> END`; and correlation keys whose inner
//! columns share a name are renamed, as DataFusion would join on only one
//! of them. Subqueries correlated otherwise stay `0A000`.
//!
//! An uncorrelated subquery that may have several rows (one that is
//! uncorrelated from the start, or once its conditions on the outer row
//! are out) is rewritten the same way, so that its row count is checked on
//! the outer rows that read it: PostgreSQL fails only when an outer row
//! evaluates it, and none does over an empty outer relation or where the
//! `CASE` condition is false.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DataFusionError, Result as DfResult, not_impl_err, plan_err};
use datafusion_expr::expr::{BinaryExpr, Case, ScalarFunction};
use datafusion_expr::expr_rewriter::{NamePreserver, strip_outer_reference};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::logical_plan::{Aggregate, Filter, Subquery};
use datafusion_expr::utils::{conjunction, split_conjunction};
use datafusion_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Expr, LogicalPlan,
    LogicalPlanBuilder, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, lit,
};

use super::PlanError;
use super::outer_levels::has_subquery;

/// The aggregate whose value is read only for a group of one row.
pub const SINGLE_VALUE: &str = "__freshet_single_value";
/// The function that checks a subquery's row count and gives its value.
pub const ROWS_THEN_VALUE: &str = "__freshet_rows_then_value";

/// Rewrites every correlated scalar subquery of `plan` that DataFusion
/// would refuse for not being aggregated (see the module docs).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = names.save(&e);
            e.transform_up(rewrite_expr)
                .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

fn rewrite_expr(e: Expr) -> DfResult<Transformed<Expr>> {
    let Expr::ScalarSubquery(sq) = &e else {
        return Ok(Transformed::no(e));
    };
    // An uncorrelated subquery of at most one row needs no check; one that
    // may have several is checked on the outer row too, as below: in
    // PostgreSQL it fails only when some outer row evaluates it (none does
    // over an empty outer relation).
    if sq.outer_ref_columns.is_empty() && is_single_row(&sq.subquery) {
        return Ok(Transformed::no(e));
    }
    let substituted = substitute_outer_columns(sq.subquery.as_ref().clone())?;
    if is_single_row(&substituted.data) {
        if !substituted.transformed {
            return Ok(Transformed::no(e));
        }
        return Ok(Transformed::yes(Expr::ScalarSubquery(Subquery {
            subquery: Arc::new(substituted.data),
            outer_ref_columns: sq.outer_ref_columns.clone(),
            spans: sq.spans.clone(),
        })));
    }
    if sq.subquery.schema().fields().len() != 1 {
        // DataFusion reports a subquery of several columns itself.
        return Ok(Transformed::no(e));
    }
    let (inner, conditions) = hoist_outer_conditions(substituted.data)?;
    let outer_ref_columns = inner.all_out_ref_exprs();
    let spans = sq.spans.clone();
    // Uncorrelated once the conditions are out, the subquery is still
    // checked on the outer row: only an outer row where the conditions
    // hold evaluates it in PostgreSQL (`CASE WHEN t.b IS NULL THEN ...`
    // over rows none of which has a NULL `b` does not fail).
    let value = {
        let (qualifier, field) = inner.schema().qualified_field(0);
        let column = Expr::Column(datafusion_common::Column::new(
            qualifier.cloned(),
            field.name(),
        ));
        let aggregated = |aggregate: Expr| -> DfResult<Expr> {
            let plan = LogicalPlanBuilder::from(inner.clone())
                .aggregate(Vec::<Expr>::new(), vec![aggregate])?
                .build()?;
            Ok(Expr::ScalarSubquery(Subquery {
                subquery: Arc::new(plan),
                outer_ref_columns: outer_ref_columns.clone(),
                spans: spans.clone(),
            }))
        };
        let count = aggregated(
            datafusion_functions_aggregate::count::count(lit(1)).alias("__freshet_subquery_rows"),
        )?;
        let single = aggregated(
            single_value()
                .call(vec![column])
                .alias("__freshet_subquery_value"),
        )?;
        Expr::ScalarFunction(ScalarFunction::new_udf(
            rows_then_value(),
            vec![count, single],
        ))
    };
    Ok(Transformed::yes(match conjunction(conditions) {
        // No row where the conditions do not hold: NULL.
        Some(condition) => Expr::Case(Case {
            expr: None,
            when_then_expr: vec![(Box::new(condition), Box::new(value))],
            else_expr: None,
        }),
        None => value,
    }))
}

/// Whether `e` is a comparison of two values.
pub(super) fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
    )
}

/// Prepares the filters of a correlated subquery for DataFusion's
/// decorrelation, which moves only equalities between inner and outer
/// columns out of a subquery:
///
/// * An outer column that a filter equates with an expression of the
///   subquery's own columns (`c.oid = a.attcollation`) is replaced by that
///   expression where another comparison of the same filter compares it
///   (`a.attcollation <> t.typcollation` becomes `c.oid <> t.typcollation`):
///   the rows that pass the filter are the same, since the two are equal
///   there.
/// * When the inner sides of two such equalities are columns of the same
///   name (`c.oid = a.attcollation AND t.oid = a.atttypid`), DataFusion's
///   decorrelation keeps only one of them as a join key, and joins on the
///   wrong column; the inner sides are given unique names first, in a
///   projection under the filter (and the filter's columns are restored
///   above it).
fn substitute_outer_columns(plan: LogicalPlan) -> DfResult<Transformed<LogicalPlan>> {
    let mut keys = 0;
    plan.transform_up(|node| {
        let LogicalPlan::Filter(filter) = &node else {
            return Ok(Transformed::no(node));
        };
        let conjuncts = split_conjunction(&filter.predicate);
        // (outer column, inner expression, index of the equality)
        let mut equal: Vec<(Expr, Expr, usize)> = Vec::new();
        for (i, c) in conjuncts.iter().enumerate() {
            if let Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) = c
            {
                for (outer, inner) in [(left, right), (right, left)] {
                    if matches!(outer.as_ref(), Expr::OuterReferenceColumn(..))
                        && !inner.contains_outer()
                        && !has_subquery(inner)
                    {
                        equal.push((outer.as_ref().clone(), inner.as_ref().clone(), i));
                    }
                }
            }
        }
        if equal.is_empty() {
            return Ok(Transformed::no(node));
        }
        let mut changed = false;
        let mut rewritten: Vec<Expr> = Vec::new();
        for (i, c) in conjuncts.iter().enumerate() {
            let is_key = equal.iter().any(|(_, _, k)| *k == i);
            let replaced = match c {
                Expr::BinaryExpr(BinaryExpr { left, op, right })
                    if is_comparison(*op) && !is_key =>
                {
                    let replace = |side: &Expr| {
                        equal
                            .iter()
                            .find(|(o, _, _)| o == side)
                            .map(|(_, inner, _)| inner.clone())
                    };
                    match (replace(left), replace(right)) {
                        (None, None) => None,
                        (l, r) => Some(Expr::BinaryExpr(BinaryExpr {
                            left: Box::new(l.unwrap_or_else(|| left.as_ref().clone())),
                            op: *op,
                            right: Box::new(r.unwrap_or_else(|| right.as_ref().clone())),
                        })),
                    }
                }
                _ => None,
            };
            changed |= replaced.is_some();
            rewritten.push(replaced.unwrap_or_else(|| (*c).clone()));
        }
        let mut names: Vec<String> = equal
            .iter()
            .map(|(_, inner, _)| match inner {
                Expr::Column(c) => c.name.clone(),
                other => other.schema_name().to_string(),
            })
            .collect();
        names.sort();
        let colliding = names.windows(2).any(|w| w[0] == w[1]);
        if !changed && !colliding {
            return Ok(Transformed::no(node));
        }
        let input = filter.input.as_ref().clone();
        if !colliding {
            let predicate = conjunction(rewritten).unwrap_or_else(|| lit(true));
            return Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                predicate,
                Arc::new(input),
            )?)));
        }
        // Name each equality's inner side `__freshet_key_<n>`.
        let columns: Vec<Expr> = input
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let mut keyed = columns.clone();
        for (_, inner, i) in &equal {
            let name = format!("__freshet_key_{keys}");
            keys += 1;
            keyed.push(inner.clone().alias(&name));
            let key = Expr::Column(datafusion_common::Column::new_unqualified(name));
            if let Expr::BinaryExpr(BinaryExpr { left, right, .. }) = &mut rewritten[*i] {
                for side in [left, right] {
                    if side.as_ref() == inner {
                        **side = key.clone();
                    }
                }
            }
        }
        let predicate = conjunction(rewritten).unwrap_or_else(|| lit(true));
        let plan = LogicalPlanBuilder::from(input)
            .project(keyed)?
            .filter(predicate)?
            .project(columns)?
            .build()?;
        Ok(Transformed::yes(plan))
    })
}

/// Takes out of the filters on top of a subquery (under its projections
/// and aliases) the conditions on the outer row alone (`a.atthasdef`):
/// where one of them does not hold, the subquery has no row, so its value
/// is NULL; where they all hold, it is the subquery without them.
/// DataFusion cannot move such a condition out of a subquery itself. The
/// conditions are returned over the outer row's columns.
fn hoist_outer_conditions(plan: LogicalPlan) -> DfResult<(LogicalPlan, Vec<Expr>)> {
    let mut conditions = Vec::new();
    let plan = hoist(plan, &mut conditions)?;
    Ok((plan, conditions))
}

fn hoist(plan: LogicalPlan, out: &mut Vec<Expr>) -> DfResult<LogicalPlan> {
    match plan {
        LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => {
            let inputs: Vec<LogicalPlan> = plan.inputs().into_iter().cloned().collect();
            let mut hoisted = Vec::new();
            for input in inputs {
                hoisted.push(hoist(input, out)?);
            }
            if out.is_empty() {
                return Ok(plan);
            }
            plan.with_new_exprs(plan.expressions(), hoisted)
        }
        LogicalPlan::Filter(filter) => {
            let (outer, kept): (Vec<Expr>, Vec<Expr>) = split_conjunction(&filter.predicate)
                .into_iter()
                .cloned()
                .partition(|c| {
                    c.contains_outer() && c.column_refs().is_empty() && !has_subquery(c)
                });
            let input = hoist(filter.input.as_ref().clone(), out)?;
            out.extend(outer.into_iter().map(strip_outer_reference));
            match conjunction(kept) {
                Some(predicate) => Ok(LogicalPlan::Filter(Filter::try_new(
                    predicate,
                    Arc::new(input),
                )?)),
                None => Ok(input),
            }
        }
        other => Ok(other),
    }
}

/// Whether DataFusion accepts `plan` as a correlated scalar subquery as it
/// is: aggregated without `GROUP BY` columns outside the correlation (see
/// its `check_subquery_expr`), or known to return at most one row.
///
/// A `GROUP BY` of columns other than those equated with outer values has
/// a row per group for one outer row, which DataFusion refuses
/// (PostgreSQL fails only when an outer row sees more than one group):
/// such a subquery is not single-row, and is counted as any other.
fn is_single_row(plan: &LogicalPlan) -> bool {
    let aggregated = |a: &Aggregate| !a.aggr_expr.is_empty() && groups_by_correlation(a);
    match strip(plan) {
        LogicalPlan::Aggregate(a) => aggregated(a),
        LogicalPlan::Filter(Filter { input, .. }) => match input.as_ref() {
            LogicalPlan::Aggregate(a) => aggregated(a),
            _ => plan.max_rows().is_some_and(|n| n <= 1),
        },
        _ => plan.max_rows().is_some_and(|n| n <= 1),
    }
}

/// Whether every `GROUP BY` column of `a` is an inner column that a filter
/// under it equates with an outer value (so one outer row sees at most one
/// group); true without `GROUP BY`.
fn groups_by_correlation(a: &Aggregate) -> bool {
    if a.group_expr.is_empty() {
        return true;
    }
    let mut equated: Vec<datafusion_common::Column> = Vec::new();
    let mut node = a.input.as_ref();
    loop {
        match node {
            LogicalPlan::Projection(p) => node = p.input.as_ref(),
            LogicalPlan::SubqueryAlias(s) => node = s.input.as_ref(),
            LogicalPlan::Filter(f) => {
                for c in split_conjunction(&f.predicate) {
                    if let Expr::BinaryExpr(BinaryExpr {
                        left,
                        op: Operator::Eq,
                        right,
                    }) = c
                    {
                        for (inner, outer) in [(left, right), (right, left)] {
                            if let (Expr::Column(column), Expr::OuterReferenceColumn(..)) =
                                (inner.as_ref(), outer.as_ref())
                            {
                                equated.push(column.clone());
                            }
                        }
                    }
                }
                node = f.input.as_ref();
            }
            _ => break,
        }
    }
    a.group_expr
        .iter()
        .all(|g| matches!(g, Expr::Column(c) if equated.contains(c)))
}

fn strip(plan: &LogicalPlan) -> &LogicalPlan {
    match plan {
        LogicalPlan::Projection(p) => strip(&p.input),
        LogicalPlan::SubqueryAlias(a) => strip(&a.input),
        other => other,
    }
}

/// `__freshet_single_value(x)`, for planning: the type of `x`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SingleValue {
    signature: Signature,
}

impl AggregateUDFImpl for SingleValue {
    fn name(&self) -> &str {
        SINGLE_VALUE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [t] => Ok(t.clone()),
            _ => plan_err!("{SINGLE_VALUE} takes one argument"),
        }
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        not_impl_err!("{SINGLE_VALUE} is evaluated by Freshet")
    }
}

pub(super) fn single_value() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(SingleValue {
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

/// `__freshet_rows_then_value(n, x)`, for planning: the type of `x`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RowsThenValue {
    signature: Signature,
}

impl ScalarUDFImpl for RowsThenValue {
    fn name(&self) -> &str {
        ROWS_THEN_VALUE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [_, t] => Ok(t.clone()),
            _ => plan_err!("{ROWS_THEN_VALUE} takes two arguments"),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(DataFusionError::NotImplemented(format!(
            "{ROWS_THEN_VALUE} is evaluated by Freshet"
        )))
    }
}

fn rows_then_value() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(RowsThenValue {
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}
