//! `unnest` in plans: DataFusion's `Unnest` node lowered to a flat map
//! ([`lower_unnest`]), and a lateral `FROM t, unnest(t.a)` — a join with a
//! correlated subquery, which DataFusion does not decorrelate — lowered to
//! a flat map over the join's left input ([`lower_lateral_join`]).

use datafusion_common::DFSchema;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_expr::{Expr, LogicalPlan};

use crate::expr::func::BinaryFunc;
use crate::expr::relation::TableFunc;
use crate::expr::{RelationExpr, ScalarExpr};

use super::PlanError;

/// Lowers DataFusion's `Unnest` over an already lowered `input` (whose
/// columns are `unnest.input`'s): a flat map appends the elements of the
/// unnested columns, and a projection puts each in its column's place.
///
/// DataFusion zips several unnested lists to the longest, as PostgreSQL
/// does for several set-returning functions in one select list; a NULL
/// list counts as empty either way (`expr::array::unnest_rows`). Struct
/// columns and deeper unnesting (which need nested arrays) are refused.
pub fn lower_unnest(
    unnest: &datafusion_expr::logical_plan::Unnest,
    input: RelationExpr,
) -> Result<RelationExpr, PlanError> {
    if !unnest.struct_type_columns.is_empty() {
        return Err(PlanError::Unsupported("unnest of a record".into()));
    }
    let arity = unnest.input.schema().fields().len();
    let mut list_columns: Vec<usize> = Vec::new();
    for (index, list) in &unnest.list_type_columns {
        if list.depth != 1 || list_columns.contains(index) {
            return Err(PlanError::Unsupported("unnest of nested arrays".into()));
        }
        list_columns.push(*index);
    }
    // An unnested column that is not a list (a NULL literal) has no rows.
    let mut exprs: Vec<ScalarExpr> = list_columns
        .iter()
        .map(|c| ScalarExpr::Column(*c))
        .collect();
    for c in &unnest.exec_columns {
        let index = unnest
            .input
            .schema()
            .index_of_column(c)
            .map_err(PlanError::from_datafusion)?;
        if !list_columns.contains(&index) {
            if unnest.input.schema().field(index).data_type() != &DataType::Null {
                return Err(PlanError::Unsupported(format!("unnest of {c}")));
            }
            exprs.push(ScalarExpr::Column(index));
        }
    }
    let projection = unnest
        .dependency_indices
        .iter()
        .map(|d| match list_columns.iter().position(|c| c == d) {
            Some(j) => arity + j,
            None => *d,
        })
        .collect();
    let flat = RelationExpr::FlatMap {
        input: Box::new(input),
        func: TableFunc::Unnest,
        exprs,
    };
    Ok(RelationExpr::mfp(flat, vec![], vec![], projection))
}

/// Lowers the right side of a lateral join — a subquery over the left
/// side's columns, such as `unnest(t.a)` in `FROM t, unnest(t.a)` — as
/// an operator over the `left` relation itself: its result rows are the
/// left row followed by the subquery's row for it, the rows of an inner
/// join without condition. `None` where the subquery is not of a shape
/// that allows it (then the join is refused).
///
/// The shape is what DataFusion plans for a table function over outer
/// columns: projections, filters and `Unnest` over the one-row empty
/// relation, outer references standing for the left columns.
pub fn lower_lateral(
    subquery: &LogicalPlan,
    left: RelationExpr,
    left_schema: &DFSchema,
) -> Result<Option<RelationExpr>, PlanError> {
    let left_arity = left_schema.fields().len();
    // The subquery's schema, with the left columns in front.
    let combined = |inner: &DFSchema| -> Result<DFSchema, PlanError> {
        left_schema
            .join(inner)
            .map_err(|_| PlanError::Unsupported("this lateral subquery".into()))
    };
    let outer_to_columns = |e: &Expr| -> Result<Expr, PlanError> {
        e.clone()
            .transform(|x| {
                Ok(match x {
                    Expr::OuterReferenceColumn(_, c) => Transformed::yes(Expr::Column(c)),
                    other => Transformed::no(other),
                })
            })
            .map(|t| t.data)
            .map_err(PlanError::from_datafusion)
    };
    Ok(Some(match subquery {
        LogicalPlan::SubqueryAlias(a) => match lower_lateral(&a.input, left, left_schema)? {
            Some(r) => r,
            None => return Ok(None),
        },
        LogicalPlan::Subquery(s) => match lower_lateral(&s.subquery, left, left_schema)? {
            Some(r) => r,
            None => return Ok(None),
        },
        LogicalPlan::EmptyRelation(e) if e.produce_one_row => left,
        LogicalPlan::Projection(p) => {
            let Some(input) = lower_lateral(&p.input, left, left_schema)? else {
                return Ok(None);
            };
            let schema = combined(p.input.schema())?;
            let arity = left_arity + p.input.schema().fields().len();
            let mut exprs = Vec::new();
            let mut projection: Vec<usize> = (0..left_arity).collect();
            for e in &p.expr {
                match super::lower::lower_expr(&outer_to_columns(e)?, &schema)? {
                    ScalarExpr::Column(c) => projection.push(c),
                    other => {
                        projection.push(arity + exprs.len());
                        exprs.push(other);
                    }
                }
            }
            RelationExpr::mfp(input, exprs, vec![], projection)
        }
        LogicalPlan::Filter(f) => {
            let Some(input) = lower_lateral(&f.input, left, left_schema)? else {
                return Ok(None);
            };
            let schema = combined(f.input.schema())?;
            let arity = left_arity + f.input.schema().fields().len();
            let predicate = super::lower::lower_expr(&outer_to_columns(&f.predicate)?, &schema)?;
            RelationExpr::mfp(input, vec![], vec![predicate], (0..arity).collect())
        }
        LogicalPlan::Unnest(u) => {
            let Some(input) = lower_lateral(&u.input, left, left_schema)? else {
                return Ok(None);
            };
            // The unnest's columns come after the left ones.
            let shifted = lower_unnest(u, input)?;
            shift_unnest(shifted, left_arity)
        }
        _ => return Ok(None),
    }))
}

/// Adjusts a lowered `Unnest` whose input carries `by` extra leading
/// columns: column references move up by `by`, and those leading columns
/// are kept in front.
fn shift_unnest(lowered: RelationExpr, by: usize) -> RelationExpr {
    let RelationExpr::Mfp {
        input, projection, ..
    } = lowered
    else {
        return lowered;
    };
    let RelationExpr::FlatMap { input, func, exprs } = *input else {
        return RelationExpr::Mfp {
            input,
            exprs: vec![],
            predicates: vec![],
            projection,
        };
    };
    let exprs = exprs
        .into_iter()
        .map(|mut e| {
            e.permute(&|c| c + by);
            e
        })
        .collect();
    let projection = (0..by)
        .chain(projection.into_iter().map(|c| c + by))
        .collect();
    RelationExpr::mfp(
        RelationExpr::FlatMap { input, func, exprs },
        vec![],
        vec![],
        projection,
    )
}

/// Whether a join's right side is a lateral subquery (one that reads the
/// left side's columns).
pub fn is_lateral(right: &LogicalPlan) -> bool {
    match right {
        LogicalPlan::SubqueryAlias(a) => is_lateral(&a.input),
        // Where the optimizer pushed a filter or projection onto it.
        LogicalPlan::Filter(f) => is_lateral(&f.input),
        LogicalPlan::Projection(p) => is_lateral(&p.input),
        LogicalPlan::Subquery(s) => !s.outer_ref_columns.is_empty(),
        _ => false,
    }
}

/// Lowers a join with a lateral right side: an inner join (`FROM t,
/// unnest(t.a)`, `JOIN LATERAL ... ON cond`) is the left rows each followed
/// by the subquery's rows for it, then the join's condition. Outer lateral
/// joins are refused.
pub fn lower_lateral_join(
    j: &datafusion_expr::logical_plan::Join,
    kind: crate::expr::JoinKind,
    left: RelationExpr,
    left_schema: &DFSchema,
) -> Result<RelationExpr, PlanError> {
    let outer = match kind {
        crate::expr::JoinKind::Inner => false,
        // `LEFT JOIN LATERAL unnest(...) ON true`: a left row whose arrays
        // give nothing is kept with NULLs. A condition, or a filter inside
        // the subquery, would have to be applied before that padding.
        crate::expr::JoinKind::LeftOuter
            if j.on.is_empty()
                && j.filter.as_ref().is_none_or(|f| {
                    matches!(
                        f,
                        Expr::Literal(datafusion_common::ScalarValue::Boolean(Some(true)), _)
                    )
                })
                && !has_filter(&j.right) =>
        {
            true
        }
        _ => {
            return Err(PlanError::Unsupported(
                "outer lateral joins other than LEFT JOIN LATERAL unnest(...) ON true".into(),
            ));
        }
    };
    let Some(mut joined) = lower_lateral(&j.right, left, left_schema)? else {
        return Err(PlanError::Unsupported("this lateral subquery".into()));
    };
    if outer && !make_outer(&mut joined) {
        return Err(PlanError::Unsupported("this outer lateral subquery".into()));
    }
    if outer {
        return Ok(joined);
    }
    let schema = j.schema.as_ref();
    let arity = schema.fields().len();
    let mut predicates = Vec::new();
    for (l, r) in &j.on {
        predicates.push(
            super::lower::lower_expr(l, schema)?
                .call_binary(super::lower::lower_expr(r, schema)?, BinaryFunc::Eq),
        );
    }
    if let Some(f) = &j.filter {
        predicates.push(super::lower::lower_expr(f, schema)?);
    }
    Ok(if predicates.is_empty() {
        joined
    } else {
        RelationExpr::mfp(joined, vec![], predicates, (0..arity).collect())
    })
}

/// Whether a plan holds a join with a lateral right side that unnests
/// (`FROM t, unnest(t.a)`).
pub fn has_lateral_join(plan: &LogicalPlan) -> bool {
    use datafusion_common::tree_node::TreeNodeRecursion;
    let unnests = |p: &LogicalPlan| {
        let mut found = false;
        let _ = p.apply(|q| {
            found |= matches!(q, LogicalPlan::Unnest(_));
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        });
        found
    };
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::Join(j) = p
            && is_lateral(&j.right)
            && unnests(&j.right)
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether a plan has a `Filter` node.
fn has_filter(plan: &LogicalPlan) -> bool {
    use datafusion_common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply(|p| {
        found |= matches!(p, LogicalPlan::Filter(_));
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Turns the lateral unnest of a lowered lateral subquery (the first flat
/// map under its projections) into its outer form; `false` if there is
/// none.
fn make_outer(expr: &mut RelationExpr) -> bool {
    match expr {
        RelationExpr::Mfp {
            input, predicates, ..
        } if predicates.is_empty() => make_outer(input),
        RelationExpr::FlatMap { func, .. } if *func == TableFunc::Unnest => {
            *func = TableFunc::UnnestOuter;
            true
        }
        _ => false,
    }
}
