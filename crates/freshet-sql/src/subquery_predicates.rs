//! Subquery predicates where DataFusion does not turn them into joins:
//! `EXISTS (Q)`, `x [NOT] IN (Q)` and `x op ANY | SOME | ALL (Q)` in a
//! select list, or under `OR`, `NOT` or `CASE` in a `WHERE` clause.
//!
//! DataFusion decorrelates such predicates only as the `AND`ed conditions of
//! a filter (semi and anti joins), and under `OR` into "mark" joins whose
//! mark is never NULL, which is not PostgreSQL's `IN`. [`rewrite`] turns
//! each of them, before the analyzer runs, into comparisons of aggregated
//! scalar subqueries that count rows of `Q`, which DataFusion decorrelates
//! into left joins (with its handling of `count` over no rows), and whose
//! correlation by other conditions than equalities `subquery_domain`
//! handles. With `c` the column of `Q` and `#(cond)` the number of rows of
//! `Q` where `cond` is true:
//!
//! * `EXISTS (Q)` is `#(true) > 0`;
//! * `x op ANY (Q)` (and `x IN (Q)`, which is `x = ANY (Q)`) is `CASE WHEN
//!   #(x op c) > 0 THEN true WHEN #((x op c) IS NULL) > 0 THEN NULL ELSE
//!   false END`: true when some row compares true, else NULL when some row
//!   compares NULL, else false (so false over no rows);
//! * `x op ALL (Q)` is `CASE WHEN #(x op' c) > 0 THEN false WHEN #((x op c)
//!   IS NULL) > 0 THEN NULL ELSE true END`, `op'` being the negation of `op`
//!   (so true over no rows);
//!
//! which is PostgreSQL's three-valued logic (its manual, section 9.23). The
//! NULL count is left out when neither `x` nor `c` can be NULL. `x` moves
//! into the subquery as outer references; where `Q` is a projection
//! (optionally `DISTINCT`, which no count compared with 0 depends on) of a
//! filter, the comparison joins that filter, so the counted plan has one
//! correlated filter, the form `subquery_domain` and DataFusion decorrelate.
//!
//! The conditions of a filter that are themselves `[NOT] EXISTS` or
//! `[NOT] IN` are left to DataFusion's semi and anti joins. `EXISTS` of an
//! aggregate without `GROUP BY` is true (it has one row); other predicates
//! over such an aggregate of correlated rows are refused (`0A000`), since
//! decorrelated the aggregate over no rows would have no row to count.

use std::ops::Not;
use std::sync::Arc;

use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{
    DFSchema, ExprSchema, Result as DfResult, ScalarValue, Spans, not_impl_err,
};
use datafusion_expr::expr::{BinaryExpr, Exists, InSubquery, SetComparison, SetQuantifier};
use datafusion_expr::expr_rewriter::NamePreserver;
use datafusion_expr::logical_plan::{Distinct, Filter, Subquery};
use datafusion_expr::utils::{conjunction, split_conjunction_owned};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Operator, lit, when};

use super::PlanError;

/// Rewrites the subquery predicates of `plan` that DataFusion does not
/// decorrelate (see the module documentation).
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan, PlanError> {
    plan.transform_up_with_subqueries(|node| {
        let [input] = node.inputs()[..] else {
            return Ok(Transformed::no(node));
        };
        let outer = input.schema().clone();
        match node {
            LogicalPlan::Projection(_) => {
                let preserver = NamePreserver::new(&node);
                node.map_expressions(|e| {
                    let saved = preserver.save(&e);
                    rewrite_expr(e, &outer).map(|t| t.update_data(|e| saved.restore(e)))
                })
            }
            LogicalPlan::Filter(filter) => {
                if !filter.predicate.exists(|e| Ok(is_predicate(e)))? {
                    return Ok(Transformed::no(LogicalPlan::Filter(filter)));
                }
                let mut changed = false;
                let mut conjuncts = Vec::new();
                for c in split_conjunction_owned(filter.predicate) {
                    if is_join_condition(&c) && !join_misses_aggregate_row(&c) {
                        conjuncts.push(c);
                        continue;
                    }
                    let t = rewrite_expr(c, &outer)?;
                    changed |= t.transformed;
                    conjuncts.push(t.data);
                }
                let predicate = conjunction(conjuncts).unwrap_or_else(|| lit(true));
                let rebuilt = LogicalPlan::Filter(Filter::try_new(predicate, filter.input)?);
                Ok(if changed {
                    Transformed::yes(rebuilt)
                } else {
                    Transformed::no(rebuilt)
                })
            }
            other => Ok(Transformed::no(other)),
        }
    })
    .map(|t| t.data)
    .map_err(PlanError::from_datafusion)
}

/// Whether `e` is a subquery predicate this module rewrites.
fn is_predicate(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_)
    )
}

/// A condition of a filter that DataFusion turns into a semi or anti join.
fn is_join_condition(e: &Expr) -> bool {
    match e {
        Expr::Exists(_) | Expr::InSubquery(_) => true,
        Expr::Not(inner) => matches!(inner.as_ref(), Expr::Exists(_) | Expr::InSubquery(_)),
        _ => false,
    }
}

fn rewrite_expr(e: Expr, outer: &DFSchema) -> DfResult<Transformed<Expr>> {
    e.transform_up(|e| match e {
        // An aggregate without GROUP BY has one row.
        Expr::Exists(Exists { subquery, negated })
            if ungrouped_aggregate(subquery.subquery.as_ref()) =>
        {
            Ok(Transformed::yes(lit(!negated)))
        }
        Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_)
            if correlated_aggregate(&e) =>
        {
            not_impl_err!("EXISTS, IN, ANY or ALL over a correlated aggregate without GROUP BY")
        }
        Expr::Exists(Exists { subquery, negated }) => {
            let rows = count(subquery.subquery.as_ref().clone(), &subquery.spans)?;
            Ok(Transformed::yes(if negated {
                rows.eq(lit(0i64))
            } else {
                rows.gt(lit(0i64))
            }))
        }
        Expr::InSubquery(InSubquery {
            expr,
            subquery,
            negated,
        }) => {
            let any = quantified(*expr, &subquery, Operator::Eq, SetQuantifier::Any, outer)?;
            Ok(Transformed::yes(if negated { any.not() } else { any }))
        }
        Expr::SetComparison(SetComparison {
            expr,
            subquery,
            op,
            quantifier,
        }) => Ok(Transformed::yes(quantified(
            *expr, &subquery, op, quantifier, outer,
        )?)),
        other => Ok(Transformed::no(other)),
    })
}

/// Whether `plan` is (a projection of) an aggregate without `GROUP BY`,
/// which has exactly one row.
fn ungrouped_aggregate(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => ungrouped_aggregate(&p.input),
        LogicalPlan::SubqueryAlias(a) => ungrouped_aggregate(&a.input),
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        _ => false,
    }
}

/// Whether the subquery of `e` has an aggregate without `GROUP BY` over
/// correlated rows: decorrelated, its one row over no input would be no row
/// at all, which counting its rows would miss.
fn correlated_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Exists(x) => reads_correlated_aggregate(&x.subquery.subquery),
        Expr::InSubquery(x) => reads_correlated_aggregate(&x.subquery.subquery),
        Expr::SetComparison(x) => reads_correlated_aggregate(&x.subquery.subquery),
        _ => false,
    }
}

fn reads_correlated_aggregate(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(matches!(node, LogicalPlan::Aggregate(a)
            if a.group_expr.is_empty() && super::subquery_domain::mentions_outer(&a.input)))
    })
    .unwrap_or(true)
}

/// Whether a condition DataFusion would make a semi or anti join of reads
/// an aggregate without `GROUP BY`, whose one row the join would miss where
/// the aggregate's input is correlated (`x IN` is left to the join: no row
/// and a NULL row both fail the filter).
fn join_misses_aggregate_row(e: &Expr) -> bool {
    let exists = |x: &Exists| {
        ungrouped_aggregate(&x.subquery.subquery)
            || reads_correlated_aggregate(&x.subquery.subquery)
    };
    match e {
        Expr::Exists(x) => exists(x),
        Expr::InSubquery(x) if x.negated => reads_correlated_aggregate(&x.subquery.subquery),
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Exists(x) => exists(x),
            Expr::InSubquery(x) => reads_correlated_aggregate(&x.subquery.subquery),
            _ => false,
        },
        _ => false,
    }
}

/// `x op ANY (Q)` or `x op ALL (Q)` as counts (see the module docs).
fn quantified(
    x: Expr,
    subquery: &Subquery,
    op: Operator,
    quantifier: SetQuantifier,
    outer: &DFSchema,
) -> DfResult<Expr> {
    // Decorrelated, `x`'s outer columns and the subquery's own would have
    // the same qualified names where the subquery reads a relation by the
    // name of `x`'s, and the comparison would read one of them twice: the
    // subquery is then read under an alias of its own.
    let aliased;
    let plan = if reads_a_relation_named_as(&x, subquery.subquery.as_ref()) {
        aliased = LogicalPlanBuilder::from(subquery.subquery.as_ref().clone())
            .alias("__freshet_quantified")?
            .build()?;
        &aliased
    } else {
        subquery.subquery.as_ref()
    };
    let x = to_outer_reference(x, outer)?;
    let column_nullable = plan
        .schema()
        .fields()
        .first()
        .is_none_or(|f| f.is_nullable());
    let may_be_null = column_nullable || x.nullable(outer).unwrap_or(true);
    let compare = |op: Operator| {
        let x = x.clone();
        move |c: Expr| Expr::BinaryExpr(BinaryExpr::new(Box::new(x.clone()), op, Box::new(c)))
    };
    let spans = &subquery.spans;
    let null_count = |cmp: &dyn Fn(Expr) -> Expr| -> DfResult<Option<Expr>> {
        if !may_be_null {
            return Ok(None);
        }
        let rows = count(rows_where(plan, |c| cmp(c).is_null())?, spans)?;
        Ok(Some(rows.gt(lit(0i64))))
    };
    let null = Expr::Literal(ScalarValue::Boolean(None), None);
    let (decided, decision, nulls) = match quantifier {
        SetQuantifier::Any => {
            let cmp = compare(op);
            let decided = count(rows_where(plan, &cmp)?, spans)?.gt(lit(0i64));
            (decided, true, null_count(&cmp)?)
        }
        SetQuantifier::All => {
            let negated = op.negate();
            let cmp = compare(op);
            let refuted = match negated {
                Some(n) => rows_where(plan, compare(n))?,
                None => rows_where(plan, |c| cmp(c).not())?,
            };
            let decided = count(refuted, spans)?.gt(lit(0i64));
            (decided, false, null_count(&cmp)?)
        }
    };
    let mut case = when(decided, lit(decision));
    let mut case = match nulls {
        Some(n) => case.when(n, null),
        None => case,
    };
    case.otherwise(lit(!decision))
}

/// The rows of the one-column subquery `plan` where `condition` (of its
/// column) holds, as a filter merged into the subquery's own where the
/// subquery projects a filter.
fn rows_where(plan: &LogicalPlan, condition: impl Fn(Expr) -> Expr) -> DfResult<LogicalPlan> {
    let mut node = plan;
    // No count compared with 0 depends on duplicates.
    while let LogicalPlan::Distinct(Distinct::All(input)) = node {
        node = input.as_ref();
    }
    if let LogicalPlan::Projection(p) = node
        && let Some(first) = p.expr.first()
    {
        let value = super::lower::strip_alias(first).clone();
        let cond = condition(value);
        return Ok(match p.input.as_ref() {
            LogicalPlan::Filter(f) => LogicalPlan::Filter(Filter::try_new(
                f.predicate.clone().and(cond),
                f.input.clone(),
            )?),
            input => LogicalPlanBuilder::from(input.clone())
                .filter(cond)?
                .build()?,
        });
    }
    let column = Expr::Column(datafusion_common::Column::from(
        plan.schema().qualified_field(0),
    ));
    LogicalPlanBuilder::from(plan.clone())
        .filter(condition(column))?
        .build()
}

/// `(SELECT count(*) FROM plan)`.
fn count(plan: LogicalPlan, spans: &Spans) -> DfResult<Expr> {
    let counted = LogicalPlanBuilder::from(plan)
        .aggregate(
            Vec::<Expr>::new(),
            vec![datafusion_functions_aggregate::count::count_all()],
        )?
        .build()?;
    let outer_ref_columns = counted.all_out_ref_exprs();
    Ok(Expr::ScalarSubquery(Subquery {
        subquery: Arc::new(counted),
        outer_ref_columns,
        spans: spans.clone(),
    }))
}

/// Whether the value the subquery `plan` compares `x` with reads a column
/// of a relation by the name of one that `x`'s columns belong to (`sal >
/// ALL (SELECT sal FROM t ...)` over `t`).
fn reads_a_relation_named_as(x: &Expr, plan: &LogicalPlan) -> bool {
    let outer: Vec<&datafusion_common::TableReference> = x
        .column_refs()
        .into_iter()
        .filter_map(|c| c.relation.as_ref())
        .collect();
    let mut node = plan;
    while let LogicalPlan::Distinct(Distinct::All(input)) = node {
        node = input.as_ref();
    }
    let inner: Vec<datafusion_common::TableReference> = match node {
        LogicalPlan::Projection(p) => p.expr.first().map_or_else(Vec::new, |e| {
            e.column_refs()
                .into_iter()
                .filter_map(|c| c.relation.clone())
                .collect()
        }),
        _ => node
            .schema()
            .iter()
            .next()
            .and_then(|(q, _)| q.cloned())
            .into_iter()
            .collect(),
    };
    inner.iter().any(|q| outer.contains(&q))
}

/// `e` with its columns (of the `outer` schema) read as outer references,
/// for use inside a subquery.
fn to_outer_reference(e: Expr, outer: &DFSchema) -> DfResult<Expr> {
    e.transform_up(|e| match e {
        Expr::Column(c) => {
            let field = outer.field_from_column(&c)?;
            Ok(Transformed::yes(Expr::OuterReferenceColumn(
                Arc::clone(field),
                c,
            )))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}
