//! Lowering `x NOT IN (SELECT y ...)` when `x` or `y` may be NULL.
//!
//! DataFusion decorrelates such a predicate into a *null-aware* left anti
//! join: its first equi-key pair is `x = y`, any further pairs and the
//! residual filter are the subquery's correlation predicates. PostgreSQL's
//! three-valued `NOT IN` keeps a left row `l` iff its subquery result
//! `S(l)` (the right rows that satisfy the correlation predicates) is empty,
//! or `x` is not NULL, no row of `S(l)` has `y = x`, and none has a NULL `y`.
//!
//! That is a union of plain anti joins, so no operator of its own is needed:
//!
//! ```text
//!   ((L where x IS NOT NULL) anti R on (x, c) = (y, c'))  anti (R where y IS NULL) on c = c'
//! ∪  (L where x IS NULL)                                   anti R on c = c'
//! ```
//!
//! where `c = c'` are the correlation keys (none for an uncorrelated
//! subquery: the anti join then asks whether the right side has any row at
//! all). Without a residual filter, the right side of each anti join is
//! first reduced to its distinct keys, so an uncorrelated subquery costs a
//! single-row "is it empty" / "has it a NULL" signal, not a cross product.

use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, NullEquality, Result as DfResult};
use datafusion_expr::expr::InSubquery;
use datafusion_expr::logical_plan::{Filter, Join, JoinType, Subquery};
use datafusion_expr::utils::{conjunction, split_conjunction_owned};
use datafusion_expr::{BinaryExpr, Expr, LogicalPlan, Operator, cast};

use crate::expr::func::UnaryFunc;
use crate::expr::{JoinKind, RelationExpr, ScalarExpr};

use super::PlanError;
use super::lower::{lower, lower_expr};

fn unsupported<T>(what: &str) -> Result<T, PlanError> {
    Err(PlanError::Unsupported(format!(
        "NOT IN with a subquery that may produce NULL, {what}"
    )))
}

/// Lowers a null-aware anti join (DataFusion's plan for `NOT IN` with a
/// subquery whose column or whose left operand may be NULL).
pub(super) fn lower_null_aware_anti_join(j: &Join) -> Result<RelationExpr, PlanError> {
    if j.join_type != JoinType::LeftAnti {
        return unsupported(&format!("as a {} join", j.join_type));
    }
    if j.null_equality != NullEquality::NullEqualsNothing {
        return unsupported("correlated by IS NOT DISTINCT FROM");
    }
    let (left_schema, right_schema) = (j.left.schema(), j.right.schema());
    // The `x = y` pair comes first, and `y` is the subquery's first column;
    // anything else is a shape this lowering does not know how to read.
    let Some((x, y)) = j.on.first() else {
        return unsupported("without an equality on its column");
    };
    let in_column = match y {
        Expr::Column(c) => right_schema.index_of_column(c).ok(),
        _ => None,
    };
    if in_column != Some(0) {
        return unsupported("in this form");
    }
    if let Some(f) = &j.filter
        && f.column_refs()
            .iter()
            .any(|c| right_schema.index_of_column(c).ok() == Some(0))
    {
        return unsupported("in this form");
    }
    let left_arity = left_schema.fields().len();
    let right_arity = right_schema.fields().len();
    // `jsonb` keys compare by value (`sql/jsonb_keys.rs`).
    let key = |e: &Expr, schema: &DFSchema| {
        lower_expr(e, schema).map(|k| super::jsonb_keys::key_arg(e, k, schema))
    };
    let x = key(x, left_schema)?;
    let y = key(y, right_schema)?;
    let mut corr_left = Vec::new();
    let mut corr_right = Vec::new();
    for (l, r) in &j.on[1..] {
        corr_left.push(key(l, left_schema)?);
        corr_right.push(key(r, right_schema)?);
    }
    let joined = left_schema
        .join(right_schema)
        .map_err(PlanError::from_datafusion)?;
    let filter = j
        .filter
        .as_ref()
        .map(|f| lower_expr(f, &joined))
        .transpose()?;

    let left = lower(&j.left)?;
    let right = lower(&j.right)?;
    let all_left = (0..left_arity).collect::<Vec<_>>();
    let all_right = (0..right_arity).collect::<Vec<_>>();
    let where_left =
        |pred: ScalarExpr| RelationExpr::mfp(left.clone(), vec![], vec![pred], all_left.clone());
    let anti = AntiJoin {
        left_arity,
        right_arity,
        filter,
    };

    let mut in_left = vec![x.clone()];
    in_left.extend(corr_left.iter().cloned());
    let mut in_right = vec![y.clone()];
    in_right.extend(corr_right.iter().cloned());
    let unmatched = anti.build(
        where_left(x.clone().call_unary(UnaryFunc::IsNotNull)),
        right.clone(),
        in_left,
        in_right,
    );
    let right_nulls = RelationExpr::mfp(
        right.clone(),
        vec![],
        vec![y.call_unary(UnaryFunc::IsNull)],
        all_right,
    );
    let not_null_x = anti.build(
        unmatched,
        right_nulls,
        corr_left.clone(),
        corr_right.clone(),
    );
    let null_x = anti.build(
        where_left(x.call_unary(UnaryFunc::IsNull)),
        right,
        corr_left,
        corr_right,
    );
    Ok(RelationExpr::Union {
        inputs: vec![not_null_x, null_x],
    })
}

/// What the anti joins of one `NOT IN` share.
struct AntiJoin {
    left_arity: usize,
    right_arity: usize,
    filter: Option<ScalarExpr>,
}

impl AntiJoin {
    /// `left` rows with no `right` row whose keys equal theirs (NULL equals
    /// nothing) and that passes the filter.
    fn build(
        &self,
        left: RelationExpr,
        right: RelationExpr,
        left_keys: Vec<ScalarExpr>,
        right_keys: Vec<ScalarExpr>,
    ) -> RelationExpr {
        let (right, right_keys, right_arity) = if self.filter.is_some() {
            (right, right_keys, self.right_arity)
        } else {
            // Only whether a key occurs matters: keep each key once.
            let k = right_keys.len();
            let keys = RelationExpr::Distinct {
                input: Box::new(RelationExpr::mfp(
                    right,
                    right_keys,
                    vec![],
                    (self.right_arity..self.right_arity + k).collect(),
                )),
            };
            (keys, (0..k).map(ScalarExpr::Column).collect(), k)
        };
        RelationExpr::Join {
            left: Box::new(left),
            right: Box::new(right),
            kind: JoinKind::LeftAnti,
            left_keys,
            right_keys,
            null_equal: false,
            filter: self.filter.clone(),
            left_arity: self.left_arity,
            right_arity,
        }
    }
}

/// Keeps the correlation of `x NOT IN (SELECT y FROM r WHERE y = x)`
/// visible to [`lower_null_aware_anti_join`]: DataFusion's join keys are
/// the pair `x = y` and the correlation's pairs, and a correlation pair
/// equal to `x = y` is merged into it, which makes the subquery read as
/// uncorrelated (a NULL `x` would then be compared with every row of `r`
/// instead of with none). The outer side of such a correlation equality
/// becomes a cast to its own type (run before DataFusion's analyzer), a
/// join key of its own with the same values.
pub fn keep_correlation_keys(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|e| {
            e.transform_up(|x| match x {
                Expr::InSubquery(InSubquery {
                    expr,
                    subquery,
                    negated: true,
                }) => {
                    let Expr::Column(outer) = expr.as_ref() else {
                        return Ok(Transformed::no(Expr::InSubquery(InSubquery {
                            expr,
                            subquery,
                            negated: true,
                        })));
                    };
                    let inner = subquery
                        .subquery
                        .as_ref()
                        .clone()
                        .transform_up(|n| distinguish_correlation(n, outer))?;
                    Ok(Transformed::new(
                        Expr::InSubquery(InSubquery {
                            expr: expr.clone(),
                            subquery: Subquery {
                                subquery: Arc::new(inner.data),
                                ..subquery
                            },
                            negated: true,
                        }),
                        inner.transformed,
                        TreeNodeRecursion::Continue,
                    ))
                }
                x => Ok(Transformed::no(x)),
            })
        })
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

/// In a `Filter` of the subquery, `inner = outer_ref(x)` (either way
/// round) becomes `inner = CAST(outer_ref(x) AS <its type>)`.
fn distinguish_correlation(node: LogicalPlan, x: &Column) -> DfResult<Transformed<LogicalPlan>> {
    let LogicalPlan::Filter(filter) = node else {
        return Ok(Transformed::no(node));
    };
    let mut changed = false;
    let conjuncts = split_conjunction_owned(filter.predicate.clone())
        .into_iter()
        .map(|c| match c {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => {
                let wrap = |e: Box<Expr>, changed: &mut bool| match *e {
                    Expr::OuterReferenceColumn(field, c) if c == *x => {
                        *changed = true;
                        let t = field.data_type().clone();
                        Box::new(cast(Expr::OuterReferenceColumn(field, c), t))
                    }
                    e => Box::new(e),
                };
                let left = wrap(left, &mut changed);
                let right = wrap(right, &mut changed);
                Expr::BinaryExpr(BinaryExpr {
                    left,
                    op: Operator::Eq,
                    right,
                })
            }
            c => c,
        })
        .collect::<Vec<_>>();
    if !changed {
        return Ok(Transformed::no(LogicalPlan::Filter(filter)));
    }
    let predicate = conjunction(conjuncts).unwrap_or(filter.predicate.clone());
    let filter = Filter::try_new(predicate, filter.input)?;
    Ok(Transformed::yes(LogicalPlan::Filter(filter)))
}
