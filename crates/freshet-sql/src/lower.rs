//! Lowering DataFusion's optimized [`LogicalPlan`] into Freshet's
//! [`RelationExpr`], and DataFusion [`Expr`]s into [`ScalarExpr`]s.
//!
//! A construct without a lowering fails with `0A000` naming it: never a
//! wrong answer.

use std::sync::Arc;

use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::expr::{
    AggregateFunction, Alias, Case, Cast, InList, Like, ScalarFunction, TryCast,
};
use datafusion_expr::logical_plan::{Distinct, FetchType, JoinType, SkipType};
use datafusion_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, TableSource};

use crate::expr::func::{BinaryFunc, ExternalFunc, UnaryFunc, VariadicFunc, scalar_to_datum};
use crate::expr::relation::TableFunc;
use crate::expr::scalar::UnmaterializableFunc;
use crate::expr::{AggregateExpr, AggregateFunc, JoinKind, RelationExpr, ScalarExpr, SortKey};
use crate::repr::{Datum, Row, ScalarType};

use super::PlanError;
use super::plan::{CatalogTableSource, TableFunctionSource};

/// The part of a one-shot query applied to its result rows, outside the
/// dataflow: ordering, offset, limit and a final projection.
#[derive(Clone, Debug, Default)]
pub struct Finishing {
    /// The order of the output rows.
    pub order_by: Vec<SortKey>,
    /// Rows to skip.
    pub offset: usize,
    /// Rows to return, if limited.
    pub limit: Option<usize>,
    /// Expressions over the dataflow's rows that form the output rows, if
    /// not the rows themselves.
    pub project: Option<Vec<ScalarExpr>>,
}

/// Lowers a plan for a one-shot query: the top ORDER BY/LIMIT become a
/// [`Finishing`], the rest a dataflow.
pub fn lower_query(plan: &LogicalPlan) -> Result<(RelationExpr, Finishing), PlanError> {
    let mut finishing = Finishing::default();
    let mut plan = plan;
    // Peel Projection? → Limit? → Sort? off the top.
    let mut project = None;
    if let LogicalPlan::Projection(p) = plan
        && matches!(
            p.input.as_ref(),
            LogicalPlan::Sort(_) | LogicalPlan::Limit(_)
        )
    {
        let schema = p.input.schema();
        project = Some(
            p.expr
                .iter()
                .map(|e| lower_expr(e, schema))
                .collect::<Result<Vec<_>, _>>()?,
        );
        plan = p.input.as_ref();
    }
    if let LogicalPlan::Limit(l) = plan {
        finishing.offset = skip_of(l)?;
        finishing.limit = fetch_of(l)?;
        plan = l.input.as_ref();
    }
    if let LogicalPlan::Sort(s) = plan {
        let schema = s.input.schema();
        finishing.order_by = sort_keys(&s.expr, schema)?;
        if let Some(f) = s.fetch {
            finishing.limit = Some(finishing.limit.map_or(f, |l| l.min(f)));
        }
        plan = s.input.as_ref();
    }
    if project.is_none()
        && finishing.order_by.is_empty()
        && let LogicalPlan::Distinct(Distinct::On(on)) = plan
    {
        // DISTINCT ON carries the query's ORDER BY: the result rows are in
        // that order, then projected.
        let (rows, order_by, select) = super::lower_window::lower_distinct_on_parts(on)?;
        finishing.order_by = order_by;
        finishing.project = Some(select);
        return Ok((rows, finishing));
    }
    finishing.project = project;
    Ok((lower(plan)?, finishing))
}

fn skip_of(l: &datafusion_expr::logical_plan::Limit) -> Result<usize, PlanError> {
    match l.get_skip_type() {
        Ok(SkipType::Literal(n)) => Ok(n),
        Ok(SkipType::UnsupportedExpr) | Err(_) => match l.skip.as_deref() {
            Some(e) => Ok(constant_count(e, "OFFSET")?.unwrap_or(0)),
            None => Ok(0),
        },
    }
}

fn fetch_of(l: &datafusion_expr::logical_plan::Limit) -> Result<Option<usize>, PlanError> {
    match l.get_fetch_type() {
        Ok(FetchType::Literal(n)) => Ok(n),
        Ok(FetchType::UnsupportedExpr) | Err(_) => match l.fetch.as_deref() {
            Some(e) => constant_count(e, "LIMIT"),
            None => Ok(None),
        },
    }
}

/// The value of a `LIMIT` or `OFFSET` (`clause`) expression, which must be
/// a constant (`LIMIT 2 + 3`, `LIMIT -1`, `LIMIT NULL`): `None` for NULL
/// (no limit), PostgreSQL's error (2201W, 2201X) for a negative count.
fn constant_count(e: &Expr, clause: &str) -> Result<Option<usize>, PlanError> {
    let not_constant = || PlanError::Unsupported(format!("non-constant {clause}"));
    let lowered = lower_expr(e, &DFSchema::empty()).map_err(|_| not_constant())?;
    let value = lowered.eval(&[]).map_err(|err| {
        if err.code() == crate::repr::SqlState::INTERNAL_ERROR {
            not_constant()
        } else {
            PlanError::from_eval(err)
        }
    })?;
    let n = match value {
        Datum::Null => return Ok(None),
        Datum::Int64(n) => n,
        Datum::Int32(n) => i64::from(n),
        Datum::Int16(n) => i64::from(n),
        _ => return Err(not_constant()),
    };
    if n < 0 {
        let code = if clause == "LIMIT" {
            crate::repr::SqlState::INVALID_ROW_COUNT_IN_LIMIT_CLAUSE
        } else {
            crate::repr::SqlState::INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE
        };
        return Err(PlanError::ConstantEvaluation {
            code,
            message: format!("{clause} must not be negative"),
        });
    }
    usize::try_from(n).map(Some).map_err(|_| not_constant())
}

pub(super) fn sort_keys(
    exprs: &[datafusion_expr::SortExpr],
    schema: &DFSchema,
) -> Result<Vec<SortKey>, PlanError> {
    exprs
        .iter()
        .map(|s| {
            super::json::check_key(&s.expr, schema, true)?;
            Ok(SortKey {
                expr: lower_expr(&s.expr, schema)?,
                asc: s.asc,
                nulls_first: s.nulls_first,
            })
        })
        .collect()
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Unsupported(what.into()))
}

/// Lowers a plan into a dataflow plan (ORDER BY without LIMIT is dropped:
/// a maintained relation has no order).
pub fn lower(plan: &LogicalPlan) -> Result<RelationExpr, PlanError> {
    Ok(match plan {
        LogicalPlan::Projection(p) => {
            let input = lower(&p.input)?;
            let schema = p.input.schema();
            let arity = schema.fields().len();
            // Column references are projected, not evaluated; a projection
            // that keeps every column in order is no operator at all.
            let mut exprs = Vec::new();
            let mut projection = Vec::with_capacity(p.expr.len());
            for e in &p.expr {
                match lower_expr(e, schema)? {
                    ScalarExpr::Column(c) => projection.push(c),
                    other => {
                        projection.push(arity + exprs.len());
                        exprs.push(other);
                    }
                }
            }
            if exprs.is_empty() && projection.iter().copied().eq(0..arity) {
                input
            } else {
                RelationExpr::mfp(input, exprs, vec![], projection)
            }
        }
        LogicalPlan::Filter(f) => {
            let input = lower(&f.input)?;
            let schema = f.input.schema();
            let arity = schema.fields().len();
            let predicate = lower_expr(&f.predicate, schema)?;
            RelationExpr::mfp(
                input,
                vec![],
                predicate.into_conjuncts(),
                (0..arity).collect(),
            )
        }
        LogicalPlan::TableScan(scan) => {
            if let Some(f) = scan.source.downcast_ref::<TableFunctionSource>() {
                return super::jsonb_table::lower_constant_scan(f, scan.projection.as_ref());
            }
            if let Some(work) = scan.source.downcast_ref::<super::plan::WorkTableSource>() {
                return super::lower_recursive::lower_work_table_scan(scan, work);
            }
            let Some(source) = scan.source.downcast_ref::<CatalogTableSource>() else {
                return Err(PlanError::Internal(format!(
                    "unknown table source for {}",
                    scan.table_name
                )));
            };
            let base = match &source.item.view {
                Some(view) => view.clone(),
                None => RelationExpr::Get {
                    id: source.item.id,
                    name: source.item.name.clone(),
                },
            };
            let arity = source.item.desc.arity();
            let projection = scan
                .projection
                .clone()
                .unwrap_or_else(|| (0..arity).collect());
            let mut expr = base;
            if !scan.filters.is_empty() {
                let full =
                    DFSchema::try_from_qualified_schema(scan.table_name.clone(), &source.schema())
                        .map_err(PlanError::from_datafusion)?;
                let preds = scan
                    .filters
                    .iter()
                    .map(|f| lower_expr(f, &full))
                    .collect::<Result<Vec<_>, _>>()?;
                expr = RelationExpr::mfp(expr, vec![], preds, (0..arity).collect());
            }
            if projection != (0..arity).collect::<Vec<_>>() {
                expr = RelationExpr::mfp(expr, vec![], vec![], projection);
            }
            if let Some(fetch) = scan.fetch {
                expr = RelationExpr::TopK {
                    input: Box::new(expr),
                    order_by: vec![],
                    limit: Some(fetch),
                    offset: 0,
                };
            }
            expr
        }
        LogicalPlan::SubqueryAlias(a) => lower(&a.input)?,
        LogicalPlan::Subquery(s) => lower(&s.subquery)?,
        LogicalPlan::EmptyRelation(e) => {
            if e.produce_one_row {
                RelationExpr::Constant {
                    rows: vec![(Row::empty(), 1)],
                    arity: 0,
                }
            } else {
                RelationExpr::Constant {
                    rows: vec![],
                    arity: e.schema.fields().len(),
                }
            }
        }
        LogicalPlan::Values(v) => {
            let empty = DFSchema::empty();
            let arity = v.schema.fields().len();
            let mut constant_rows = Vec::new();
            let mut all_constant = true;
            let mut rows = Vec::new();
            for row in &v.values {
                let exprs = row
                    .iter()
                    .map(|e| lower_expr(e, &empty))
                    .collect::<Result<Vec<_>, _>>()?;
                if exprs.iter().all(|e| matches!(e, ScalarExpr::Literal(_))) {
                    constant_rows.push((
                        Row::new(
                            exprs
                                .iter()
                                .map(|e| match e {
                                    ScalarExpr::Literal(d) => d.clone(),
                                    _ => Datum::Null,
                                })
                                .collect(),
                        ),
                        1,
                    ));
                } else {
                    all_constant = false;
                }
                rows.push(exprs);
            }
            if all_constant {
                RelationExpr::Constant {
                    rows: constant_rows,
                    arity,
                }
            } else {
                // Expressions that may fail at runtime (say 1/0) are evaluated
                // in the dataflow, so their errors surface like any other.
                RelationExpr::Union {
                    inputs: rows
                        .into_iter()
                        .map(|exprs| {
                            RelationExpr::mfp(
                                RelationExpr::unit(),
                                exprs,
                                vec![],
                                (0..arity).collect(),
                            )
                        })
                        .collect(),
                }
            }
        }
        LogicalPlan::Union(u) => {
            let mut inputs = Vec::new();
            for i in &u.inputs {
                inputs.push(lower(i)?);
            }
            RelationExpr::Union { inputs }
        }
        LogicalPlan::Distinct(Distinct::All(input)) => {
            super::json::check_distinct(input.schema())?;
            super::jsonb_keys::distinct(lower(input)?, input.schema())
        }
        LogicalPlan::Distinct(Distinct::On(on)) => super::lower_window::lower_distinct_on(on)?,
        LogicalPlan::Sort(s) => {
            // A view drops an ORDER BY without LIMIT, but PostgreSQL
            // still needs its keys to be orderable.
            for key in &s.expr {
                super::json::check_key(&key.expr, s.input.schema(), true)?;
            }
            let input = lower(&s.input)?;
            match s.fetch {
                None => input,
                Some(fetch) => RelationExpr::TopK {
                    input: Box::new(input),
                    order_by: sort_keys(&s.expr, s.input.schema())?,
                    limit: Some(fetch),
                    offset: 0,
                },
            }
        }
        LogicalPlan::Limit(l) => {
            let offset = skip_of(l)?;
            let limit = fetch_of(l)?;
            let (input, order_by) = match l.input.as_ref() {
                LogicalPlan::Sort(s) => (lower(&s.input)?, sort_keys(&s.expr, s.input.schema())?),
                LogicalPlan::Distinct(Distinct::On(on)) => {
                    return super::lower_window::lower_distinct_on_limit(on, offset, limit);
                }
                other => (lower(other)?, vec![]),
            };
            RelationExpr::TopK {
                input: Box::new(input),
                order_by,
                limit,
                offset,
            }
        }
        LogicalPlan::Aggregate(a) => lower_aggregate(a)?,
        LogicalPlan::Join(j) => lower_join(j)?.hoist_temporal_join_filter(),
        LogicalPlan::Unnest(u) => super::unnest::lower_unnest(u, lower(&u.input)?)?,
        LogicalPlan::Window(w) => super::lower_window::lower_window(w)?,
        LogicalPlan::RecursiveQuery(r) => super::lower_recursive::lower_recursive_query(r)?,
        LogicalPlan::Repartition(r) => lower(&r.input)?,
        LogicalPlan::Extension(e) => return unsupported(format!("plan node {}", e.node.name())),
        other => return unsupported(format!("{} in a query", other.display())),
    })
}

fn lower_aggregate(
    a: &datafusion_expr::logical_plan::Aggregate,
) -> Result<RelationExpr, PlanError> {
    let schema = a.input.schema();
    let input = lower(&a.input)?;
    if let [Expr::GroupingSet(sets)] = a.group_expr.as_slice() {
        for key in sets.distinct_expr() {
            super::json::check_key(key, schema, false)?;
        }
        return super::lower_grouping::lower_grouping_sets(a, sets, input);
    }
    let mut group_key = Vec::new();
    let mut is_jsonb = Vec::new();
    for g in &a.group_expr {
        if matches!(g, Expr::GroupingSet(_)) {
            return unsupported("GROUPING SETS, ROLLUP and CUBE mixed with other GROUP BY items");
        }
        super::json::check_key(g, schema, false)?;
        group_key.push(lower_expr(g, schema)?);
        is_jsonb.push(super::jsonb_keys::is_jsonb(g, schema));
    }
    let aggregates = lower_aggregates(a, a.group_expr.len())?;
    let global = group_key.is_empty();
    Ok(super::jsonb_keys::reduce(
        input, group_key, &is_jsonb, aggregates, global,
    ))
}

/// Lowers the aggregate expressions of `a`, whose output columns start at
/// `first_field` of its schema.
pub(super) fn lower_aggregates(
    a: &datafusion_expr::logical_plan::Aggregate,
    first_field: usize,
) -> Result<Vec<AggregateExpr>, PlanError> {
    let schema = a.input.schema();
    let mut aggregates = Vec::new();
    let out_fields = a.schema.fields();
    for (i, e) in a.aggr_expr.iter().enumerate() {
        let e = strip_alias(e);
        let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
            return unsupported(format!("aggregate expression {e}"));
        };
        let name = func.name().to_lowercase();
        // The aggregates whose result depends on the order of the values;
        // any other ignores an ORDER BY, as PostgreSQL allows.
        let ordered = matches!(
            name.as_str(),
            "array_agg"
                | "jsonb_agg"
                | "jsonb_object_agg"
                | "json_agg"
                | "json_object_agg"
                | "string_agg"
        );
        if params.distinct
            && params
                .order_by
                .iter()
                .any(|s| !params.args.contains(&s.expr))
        {
            return Err(PlanError::InvalidColumnReference(
                "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list"
                    .into(),
            ));
        }
        let args = params
            .args
            .iter()
            .map(|x| {
                let lowered = lower_expr(x, schema)?;
                // `string_agg` takes `text`; the others keep `char` values.
                Ok(if name == "string_agg" {
                    super::bpchar::text_arg(x, lowered, schema)
                } else if name == "count" && params.distinct {
                    // Equal `jsonb` values count once.
                    super::jsonb_keys::key_arg(x, lowered, schema)
                } else {
                    lowered
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        let order = || {
            params
                .order_by
                .iter()
                .map(|s| (s.asc, s.nulls_first))
                .collect()
        };
        let agg_func = if name == "array_agg" {
            // As `ARRAY[...]` (`sql/array.rs`): an array would hold the
            // OIDs as `bigint`s.
            if let Some(a) = params.args.first()
                && let Ok((_, f)) = a.to_field(schema)
                && ScalarType::from_field(&f).ok() == Some(ScalarType::RegType)
            {
                return Err(PlanError::Unsupported("arrays of regtype".into()));
            }
            super::array::array_agg_func(params)?
        } else if name == "jsonb_agg" {
            AggregateFunc::JsonbAgg { order: order() }
        } else if name == "jsonb_object_agg" {
            AggregateFunc::JsonbObjectAgg { order: order() }
        } else if name == "json_agg" {
            AggregateFunc::JsonAgg { order: order() }
        } else if name == "json_object_agg" {
            AggregateFunc::JsonObjectAgg { order: order() }
        } else if name == "string_agg" {
            AggregateFunc::StringAgg { order: order() }
        } else {
            aggregate_func(func.name(), &params.args, params.distinct)?
        };
        let exprs = if agg_func == AggregateFunc::CountStar {
            vec![]
        } else if ordered {
            // The ORDER BY keys follow the value.
            let mut exprs = args;
            for s in &params.order_by {
                exprs.push(lower_expr(&s.expr, schema)?);
            }
            exprs
        } else {
            args
        };
        let filter = params
            .filter
            .as_ref()
            .map(|f| lower_expr(f, schema))
            .transpose()?;
        let field = &out_fields[first_field + i];
        let output_type = ScalarType::from_field(field).map_err(PlanError::Unsupported)?;
        aggregates.push(AggregateExpr {
            func: agg_func,
            input_type: aggregate_input_type(&params.args, schema),
            exprs,
            distinct: params.distinct,
            filter,
            output_type,
        });
    }
    Ok(aggregates)
}

/// A row value `(a, b)` (DataFusion's `struct(a, b)`) as the array of its
/// fields (`jsonb` ones as their grouping keys): a value that is never NULL
/// and equal where the fields are (NULL fields equal, as `DISTINCT` has
/// them), which is what `count([DISTINCT] (a, b))` needs (PostgreSQL counts
/// `(NULL, NULL)` too, a row that is not a NULL value). No row value
/// reaches a result: a column of a row type is refused where the output's
/// types are read. Fields that are arrays or rows are refused (`0A000`).
fn row_value(args: &[Expr], schema: &DFSchema) -> Result<ScalarExpr, PlanError> {
    use datafusion_common::arrow::datatypes::DataType;
    let mut fields = Vec::with_capacity(args.len());
    for field in args {
        if matches!(
            field.get_type(schema),
            Ok(DataType::List(_) | DataType::Struct(_))
        ) {
            return unsupported("a row value with array or row fields");
        }
        let lowered = lower_expr(field, schema)?;
        fields.push(super::jsonb_keys::key_arg(field, lowered, schema));
    }
    Ok(ScalarExpr::CallVariadic {
        func: VariadicFunc::Array(crate::expr::array::ArrayFunc::Construct),
        exprs: fields,
    })
}

/// The SQL type of an aggregate's (first) argument over rows of `schema`.
pub(super) fn aggregate_input_type(args: &[Expr], schema: &DFSchema) -> Option<ScalarType> {
    let t = args.first()?.get_type(schema).ok()?;
    ScalarType::from_arrow(&t).ok()
}

/// The aggregate function DataFusion's `name` called with `args` is.
pub(super) fn aggregate_func(
    name: &str,
    args: &[Expr],
    distinct: bool,
) -> Result<AggregateFunc, PlanError> {
    let name = name.to_lowercase();
    let is_star = args.is_empty()
        || (name == "count"
            && args.len() == 1
            && matches!(&args[0], Expr::Literal(v, _) if !v.is_null()));
    Ok(match name.as_str() {
        "count" if is_star && !distinct => AggregateFunc::CountStar,
        "count" => AggregateFunc::Count,
        "sum" => AggregateFunc::Sum,
        "avg" => AggregateFunc::Avg,
        "min" => AggregateFunc::Min,
        "max" => AggregateFunc::Max,
        "bool_and" => AggregateFunc::BoolAnd,
        "bool_or" => AggregateFunc::BoolOr,
        "string_agg" => AggregateFunc::StringAgg { order: vec![] },
        "every" => AggregateFunc::BoolAnd,
        "variance" | "var_samp" | "stddev" | "stddev_samp" | "var_pop" | "stddev_pop" => {
            AggregateFunc::Stat(crate::expr::aggregate_stats::Stat {
                sample: !name.ends_with("_pop"),
                stddev: name.starts_with("stddev"),
            })
        }
        other if crate::expr::aggregate_stats::Regr::from_name(other).is_some() => {
            AggregateFunc::Regr(
                crate::expr::aggregate_stats::Regr::from_name(other)
                    .unwrap_or(crate::expr::aggregate_stats::Regr::Count),
            )
        }
        "bit_and" => AggregateFunc::Bit(crate::expr::aggregate_stats::BitOp::And),
        "bit_or" => AggregateFunc::Bit(crate::expr::aggregate_stats::BitOp::Or),
        "bit_xor" => AggregateFunc::Bit(crate::expr::aggregate_stats::BitOp::Xor),
        // Read only for a group of one row, whose value any of `min` and
        // `max` is (`sql/scalar_subquery.rs`).
        super::scalar_subquery::SINGLE_VALUE => AggregateFunc::Min,
        other => return unsupported(format!("aggregate function {other}")),
    })
}

fn lower_join(j: &datafusion_expr::logical_plan::Join) -> Result<RelationExpr, PlanError> {
    if j.null_aware {
        return super::lower_not_in::lower_null_aware_anti_join(j);
    }
    let (mut left_plan, mut right_plan) = (&j.left, &j.right);
    let (kind, swap) = match j.join_type {
        JoinType::Inner => (JoinKind::Inner, false),
        JoinType::Left => (JoinKind::LeftOuter, false),
        JoinType::Right => (JoinKind::RightOuter, false),
        JoinType::Full => (JoinKind::FullOuter, false),
        JoinType::LeftSemi => (JoinKind::LeftSemi, false),
        JoinType::LeftAnti => (JoinKind::LeftAnti, false),
        JoinType::RightSemi => (JoinKind::LeftSemi, true),
        JoinType::RightAnti => (JoinKind::LeftAnti, true),
        JoinType::LeftMark | JoinType::RightMark => {
            return unsupported("EXISTS or IN subqueries under OR");
        }
    };
    let mut on = j.on.clone();
    if swap {
        std::mem::swap(&mut left_plan, &mut right_plan);
        on = on.into_iter().map(|(l, r)| (r, l)).collect();
    }
    let left_schema = left_plan.schema();
    let right_schema = right_plan.schema();
    let left_arity = left_schema.fields().len();
    let right_arity = right_schema.fields().len();
    let mut left_keys = Vec::new();
    let mut right_keys = Vec::new();
    for (l, r) in &on {
        super::json::check_join_key(
            l,
            left_schema,
            r,
            right_schema,
            j.null_equality == datafusion_common::NullEquality::NullEqualsNull,
        )?;
        // `char` keys compare without their padding (`char(3)` and
        // `char(5)` values can be equal).
        // `jsonb` keys compare by value (`1` and `1.0` are equal).
        let left = super::jsonb_keys::key_arg(l, lower_expr(l, left_schema)?, left_schema);
        let right = super::jsonb_keys::key_arg(r, lower_expr(r, right_schema)?, right_schema);
        left_keys.push(super::bpchar::text_arg(l, left, left_schema));
        right_keys.push(super::bpchar::text_arg(r, right, right_schema));
    }
    if matches!(kind, JoinKind::LeftSemi | JoinKind::LeftAnti)
        && j.filter.is_none()
        && super::set_ops_all::is_marked(right_plan)
        && let Some(lowered) = super::set_ops_all::lower_marked_join(
            right_plan,
            lower(left_plan)?,
            lower(right_plan)?,
            &left_keys,
            &right_keys,
            &left_schema
                .fields()
                .iter()
                .map(|f| crate::repr::ScalarType::from_arrow(f.data_type()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PlanError::Unsupported)?,
            right_arity,
        )
    {
        return lowered;
    }
    if let Some(lateral) = super::jsonb_table::lower_lateral_join(j, kind)? {
        return Ok(lateral);
    }
    if super::unnest::is_lateral(right_plan) {
        return super::unnest::lower_lateral_join(j, kind, lower(left_plan)?, left_schema);
    }
    let joined = left_schema
        .join(right_schema)
        .map_err(PlanError::from_datafusion)?;
    let filter = j
        .filter
        .as_ref()
        .map(|f| lower_expr(f, &joined))
        .transpose()?;
    let mut right = lower(right_plan)?;
    // A scalar subquery that DataFusion turned into this join must yield at
    // most one row (per correlation key), or the query fails.
    if let LogicalPlan::SubqueryAlias(alias) = right_plan.as_ref()
        && alias.alias.table().starts_with("__scalar_sq")
    {
        right = RelationExpr::CheckSingleRow {
            input: Box::new(right),
            key: right_keys.clone(),
        };
    }
    Ok(RelationExpr::Join {
        left: Box::new(lower(left_plan)?),
        right: Box::new(right),
        kind,
        left_keys,
        right_keys,
        null_equal: j.null_equality == datafusion_common::NullEquality::NullEqualsNull,
        filter,
        left_arity,
        right_arity,
    })
}

pub(super) fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(Alias { expr, .. }) => strip_alias(expr),
        other => other,
    }
}

/// Lowers a DataFusion expression over `schema` into a [`ScalarExpr`].
pub fn lower_expr(e: &Expr, schema: &DFSchema) -> Result<ScalarExpr, PlanError> {
    let lower = |x: &Expr| lower_expr(x, schema);
    Ok(match e {
        Expr::Alias(Alias { expr, .. }) => lower(expr)?,
        Expr::Column(c) => {
            let i = schema.index_of_column(c).map_err(|_| {
                // One of the columns Freshet's subquery rewrites add,
                // lost by a shape they do not handle.
                if c.name.starts_with("__freshet_") {
                    PlanError::Unsupported("this form of correlated subquery".into())
                } else {
                    PlanError::UnknownColumn(format!("\"{}\"", c.name))
                }
            })?;
            ScalarExpr::Column(i)
        }
        Expr::Literal(v, _) => ScalarExpr::Literal(literal(v)?),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let Some(symbol) = match op {
                Operator::Eq | Operator::IsDistinctFrom | Operator::IsNotDistinctFrom => Some("="),
                Operator::NotEq => Some("<>"),
                Operator::Lt => Some("<"),
                Operator::LtEq => Some("<="),
                Operator::Gt => Some(">"),
                Operator::GtEq => Some(">="),
                _ => None,
            } {
                super::json::check_comparison(symbol, left, right, schema)?;
            }
            let func = match op {
                Operator::Eq => BinaryFunc::Eq,
                Operator::NotEq => BinaryFunc::NotEq,
                Operator::Lt => BinaryFunc::Lt,
                Operator::LtEq => BinaryFunc::LtEq,
                Operator::Gt => BinaryFunc::Gt,
                Operator::GtEq => BinaryFunc::GtEq,
                Operator::Plus => BinaryFunc::Add,
                Operator::Minus => BinaryFunc::Sub,
                Operator::Multiply => BinaryFunc::Mul,
                Operator::Divide => BinaryFunc::Div,
                Operator::Modulo => BinaryFunc::Mod,
                Operator::And => BinaryFunc::And,
                Operator::Or => BinaryFunc::Or,
                Operator::IsDistinctFrom => BinaryFunc::IsDistinctFrom,
                Operator::IsNotDistinctFrom => BinaryFunc::IsNotDistinctFrom,
                Operator::StringConcat => BinaryFunc::Concat,
                Operator::LikeMatch => BinaryFunc::Like {
                    negated: false,
                    case_insensitive: false,
                    escape: '\\',
                },
                Operator::ILikeMatch => BinaryFunc::Like {
                    negated: false,
                    case_insensitive: true,
                    escape: '\\',
                },
                Operator::NotLikeMatch => BinaryFunc::Like {
                    negated: true,
                    case_insensitive: false,
                    escape: '\\',
                },
                Operator::NotILikeMatch => BinaryFunc::Like {
                    negated: true,
                    case_insensitive: true,
                    escape: '\\',
                },
                Operator::RegexMatch => BinaryFunc::RegexMatch {
                    negated: false,
                    case_insensitive: false,
                },
                Operator::RegexIMatch => BinaryFunc::RegexMatch {
                    negated: false,
                    case_insensitive: true,
                },
                Operator::RegexNotMatch => BinaryFunc::RegexMatch {
                    negated: true,
                    case_insensitive: false,
                },
                Operator::RegexNotIMatch => BinaryFunc::RegexMatch {
                    negated: true,
                    case_insensitive: true,
                },
                // PostgreSQL's `&`, `|` and `#` on integers
                // (`sql::bitwise`), and the bit operations DataFusion
                // computes `GROUPING()` with from a grouping set's id.
                Operator::BitwiseAnd => BinaryFunc::BitAnd,
                Operator::BitwiseOr => BinaryFunc::BitOr,
                Operator::BitwiseXor => BinaryFunc::BitXor,
                Operator::BitwiseShiftLeft => BinaryFunc::ShiftLeft,
                Operator::BitwiseShiftRight => BinaryFunc::ShiftRight,
                other => return unsupported(format!("operator {other}")),
            };
            let (l, r) =
                super::bpchar::operands(op, (left, lower(left)?), (right, lower(right)?), schema);
            l.call_binary(r, func)
        }
        Expr::Like(Like {
            negated,
            expr,
            pattern,
            escape_char,
            case_insensitive,
        }) => lower(expr)?.call_binary(
            lower(pattern)?,
            BinaryFunc::Like {
                negated: *negated,
                case_insensitive: *case_insensitive,
                escape: escape_char.unwrap_or('\\'),
            },
        ),
        Expr::Not(x) => lower(x)?.call_unary(UnaryFunc::Not),
        Expr::IsNull(x) => lower(x)?.call_unary(UnaryFunc::IsNull),
        Expr::IsNotNull(x) => lower(x)?.call_unary(UnaryFunc::IsNotNull),
        Expr::IsTrue(x) => lower(x)?.call_unary(UnaryFunc::IsTrue),
        Expr::IsFalse(x) => lower(x)?.call_unary(UnaryFunc::IsFalse),
        Expr::IsNotTrue(x) => lower(x)?.call_unary(UnaryFunc::IsNotTrue),
        Expr::IsNotFalse(x) => lower(x)?.call_unary(UnaryFunc::IsNotFalse),
        Expr::IsUnknown(x) => lower(x)?.call_unary(UnaryFunc::IsNull),
        Expr::IsNotUnknown(x) => lower(x)?.call_unary(UnaryFunc::IsNotNull),
        Expr::Negative(x) => lower(x)?.call_unary(UnaryFunc::Neg),
        Expr::Between(b) => {
            let x = lower(&b.expr)?;
            let both = x
                .clone()
                .call_binary(lower(&b.low)?, BinaryFunc::GtEq)
                .call_binary(
                    x.call_binary(lower(&b.high)?, BinaryFunc::LtEq),
                    BinaryFunc::And,
                );
            if b.negated {
                both.call_unary(UnaryFunc::Not)
            } else {
                both
            }
        }
        Expr::Case(Case {
            expr,
            when_then_expr,
            else_expr,
        }) => {
            let operand = expr
                .as_ref()
                .map(|x| Ok::<_, PlanError>((x, lower(x)?)))
                .transpose()?;
            let mut result = match else_expr {
                Some(x) => super::bpchar::branch(e, x, lower(x)?, schema),
                None => ScalarExpr::null(),
            };
            for (when, then) in when_then_expr.iter().rev() {
                let mut cond = lower(when)?;
                if let Some((x, op)) = &operand {
                    let (l, r) = super::bpchar::operands(
                        &Operator::Eq,
                        (x, op.clone()),
                        (when, cond),
                        schema,
                    );
                    cond = l.call_binary(r, BinaryFunc::Eq);
                }
                result = ScalarExpr::If {
                    cond: Box::new(cond),
                    then: Box::new(super::bpchar::branch(e, then, lower(then)?, schema)),
                    els: Box::new(result),
                };
            }
            result
        }
        Expr::Cast(Cast { expr, field }) => {
            let to = ScalarType::from_field(field).map_err(PlanError::Unsupported)?;
            if let Some(moment) = relative_datetime_constant(expr, &to) {
                return Ok(moment.cast(to));
            }
            let from = expr
                .to_field(schema)
                .ok()
                .and_then(|(_, f)| ScalarType::from_field(&f).ok());
            super::casts::check_cast(from.as_ref(), &to)?;
            if from == Some(ScalarType::RegType) && (to.is_string() || to == ScalarType::Name) {
                // A `regtype` (an OID) as text is its type's name.
                lower(expr)?.call_unary(UnaryFunc::RegTypeToText).cast(to)
            } else if super::unknown_literals::is_untyped_string(expr) {
                // PostgreSQL converts an untyped literal while planning, so
                // one that does not convert is an error even where it is
                // never evaluated (`coalesce(1, 'x')`).
                let cast = lower(expr)?.cast(to);
                if let Err(e) = cast.eval(&[]) {
                    return Err(PlanError::InvalidLiteral {
                        code: e.code(),
                        message: e.to_string(),
                    });
                }
                cast
            } else if matches!(
                to,
                ScalarType::Bytea | ScalarType::Json | ScalarType::Jsonb | ScalarType::Uuid
            ) {
                // PostgreSQL has no cast from `char(n)` to these: it
                // converts the padded text through the type's input.
                lower(expr)?.cast(to)
            } else {
                // From `char(n)`: without its padding, which a cast to
                // `char(m)` pads again.
                super::bpchar::text_arg(expr, lower(expr)?, schema).cast(to)
            }
        }
        Expr::TryCast(TryCast { .. }) => return unsupported("TRY_CAST"),
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            // `x IN (a, b)` is `x = a OR x = b`, with `char`'s comparison.
            for item in list {
                super::json::check_comparison("=", expr, item, schema)?;
            }
            let x = lower(expr)?;
            let mut exprs = vec![x.clone()];
            for item in list {
                let (l, r) = super::bpchar::operands(
                    &Operator::Eq,
                    (expr, x.clone()),
                    (item, lower(item)?),
                    schema,
                );
                exprs[0] = l;
                exprs.push(r);
            }
            ScalarExpr::CallVariadic {
                func: VariadicFunc::InList { negated: *negated },
                exprs,
            }
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) => {
            let name = func.name().to_lowercase();
            if let Some(typeof_call) = super::pg_funcs::lower_call(&name, args, schema) {
                return typeof_call;
            }
            if let Some(jsonb_call) = super::jsonb::lower_call(&name, args, schema) {
                return jsonb_call;
            }
            if let Some(array_call) = super::array_subquery::lower_call(&name, args, schema) {
                return array_call;
            }
            if name == "struct" {
                return row_value(args, schema);
            }
            let lowered = args.iter().map(lower).collect::<Result<Vec<_>, _>>()?;
            // The arguments as a function taking `text` sees them.
            let text_args = if super::bpchar::keeps_padding(&name) {
                lowered.clone()
            } else {
                args.iter()
                    .zip(&lowered)
                    .map(|(a, l)| super::bpchar::text_arg(a, l.clone(), schema))
                    .collect()
            };
            // The values of `coalesce`, `greatest`, `least` and `nullif`
            // converted to the result's type (`sql/bpchar.rs`).
            let branches = || -> Vec<ScalarExpr> {
                args.iter()
                    .zip(&lowered)
                    .map(|(a, l)| super::bpchar::branch(e, a, l.clone(), schema))
                    .collect()
            };
            let unary = |f: UnaryFunc, mut a: Vec<ScalarExpr>| -> Option<ScalarExpr> {
                (a.len() == 1).then(|| a.remove(0).call_unary(f))
            };
            let native = match name.as_str() {
                super::jsonb::JSONB_GET | super::jsonb::JSONB_GET_TEXT if lowered.len() == 2 => {
                    let mut args = lowered.clone().into_iter();
                    match (args.next(), args.next()) {
                        (Some(a), Some(b)) => Some(a.call_binary(
                            b,
                            BinaryFunc::JsonbGet {
                                text: name == super::jsonb::JSONB_GET_TEXT,
                            },
                        )),
                        _ => None,
                    }
                }
                super::scalar_subquery::ROWS_THEN_VALUE if lowered.len() == 2 => {
                    let mut args = lowered.clone().into_iter();
                    match (args.next(), args.next()) {
                        (Some(rows), Some(value)) => {
                            Some(rows.call_binary(value, BinaryFunc::SubqueryValue))
                        }
                        _ => None,
                    }
                }
                // `substring(x FROM pattern [FOR escape])` (`sql/pg_scalar.rs`).
                "substring"
                    if super::pg_scalar::is_regex_substring(
                        &args
                            .iter()
                            .map(|a| {
                                a.get_type(schema)
                                    .unwrap_or(datafusion_common::arrow::datatypes::DataType::Null)
                            })
                            .collect::<Vec<_>>(),
                    ) =>
                {
                    Some(ScalarExpr::CallVariadic {
                        func: crate::expr::func::VariadicFunc::Regex(if text_args.len() == 2 {
                            crate::expr::regex::RegexFunc::Substring
                        } else {
                            crate::expr::regex::RegexFunc::SubstringSimilar
                        }),
                        exprs: text_args.clone(),
                    })
                }
                // The `numeric` versions (`sql/numeric_math.rs`).
                "sqrt" | "exp" | "ln" | "log" | "log10" | "power" | "pow" | "factorial"
                    if matches!(
                        e.get_type(schema),
                        Ok(
                            datafusion_common::arrow::datatypes::DataType::Decimal128(..)
                                | datafusion_common::arrow::datatypes::DataType::Decimal256(..)
                        )
                    ) =>
                {
                    super::numeric_math::lower_call(&name, &lowered)
                }
                // DataFusion's `power` gives NaN or infinity where
                // PostgreSQL raises an error.
                "power" | "pow"
                    if lowered.len() == 2
                        && matches!(
                            e.get_type(schema),
                            Ok(datafusion_common::arrow::datatypes::DataType::Float64)
                        ) =>
                {
                    Some(ScalarExpr::CallVariadic {
                        func: crate::expr::func::VariadicFunc::Pg(
                            crate::expr::pg_scalar::PgFunc::Power,
                        ),
                        exprs: lowered.clone(),
                    })
                }
                // DataFusion's `sqrt`, `ln`, `log10` and `exp` give NaN,
                // infinity or zero where PostgreSQL raises an error, and its
                // `cbrt` differs from the C library's in the last digit.
                "sqrt" | "ln" | "log" | "log10" | "exp" | "cbrt"
                    if lowered.len() == 1
                        && matches!(
                            e.get_type(schema),
                            Ok(datafusion_common::arrow::datatypes::DataType::Float64)
                        ) =>
                {
                    use crate::expr::pg_scalar::FloatMathFunc;
                    let f = match name.as_str() {
                        "sqrt" => FloatMathFunc::Sqrt,
                        "ln" => FloatMathFunc::Ln,
                        "exp" => FloatMathFunc::Exp,
                        "cbrt" => FloatMathFunc::Cbrt,
                        _ => FloatMathFunc::Log10,
                    };
                    Some(ScalarExpr::CallVariadic {
                        func: crate::expr::func::VariadicFunc::Pg(
                            crate::expr::pg_scalar::PgFunc::FloatMath(f),
                        ),
                        exprs: lowered.clone(),
                    })
                }
                "coalesce" => Some(ScalarExpr::CallVariadic {
                    func: VariadicFunc::Coalesce,
                    exprs: branches(),
                }),
                "greatest" => Some(ScalarExpr::CallVariadic {
                    func: VariadicFunc::Greatest,
                    exprs: branches(),
                }),
                "least" => Some(ScalarExpr::CallVariadic {
                    func: VariadicFunc::Least,
                    exprs: branches(),
                }),
                // A `char` result: `a = b` compares as `char` (or as `text`
                // with a `text`), not the padded values.
                "nullif" if lowered.len() == 2 && super::bpchar::is_char(e, schema) => {
                    let (l, r) = super::bpchar::operands(
                        &Operator::Eq,
                        (&args[0], lowered[0].clone()),
                        (&args[1], lowered[1].clone()),
                        schema,
                    );
                    Some(ScalarExpr::If {
                        cond: Box::new(l.call_binary(r, BinaryFunc::Eq)),
                        then: Box::new(ScalarExpr::null()),
                        els: Box::new(lowered[0].clone()),
                    })
                }
                "nullif" if lowered.len() == 2 => Some(ScalarExpr::CallVariadic {
                    func: VariadicFunc::NullIf,
                    exprs: branches(),
                }),
                "concat" => Some(ScalarExpr::CallVariadic {
                    func: VariadicFunc::Concat,
                    exprs: lowered.clone(),
                }),
                "lower" => unary(UnaryFunc::Lower, text_args.clone()),
                "upper" => unary(UnaryFunc::Upper, text_args.clone()),
                "abs" => unary(UnaryFunc::Abs, lowered.clone()),
                "character_length" | "char_length" | "length" => {
                    unary(UnaryFunc::CharLength, text_args.clone())
                }
                "now" => Some(ScalarExpr::Unmaterializable(UnmaterializableFunc::Now)),
                "current_date" => Some(ScalarExpr::Unmaterializable(
                    UnmaterializableFunc::CurrentDate,
                )),
                // PostgreSQL's is a `timetz`, which Freshet does not have.
                "current_time" => return unsupported("current_time"),
                other => super::temporal::lower_call(other, &lowered)
                    .or_else(|| super::array::lower_call(other, lowered.clone()))
                    .or_else(|| super::date_arith::lower_call(other, &lowered))
                    .or_else(|| super::bitwise::lower_call(other, &lowered))
                    .or_else(|| super::timezone::lower_call(other, &lowered))
                    .or_else(|| super::formatting::lower_call(other, &lowered))
                    .or_else(|| super::rounding::lower_call(other, &lowered))
                    .or_else(|| super::date_trunc::lower_call(other, &lowered))
                    .or_else(|| super::values::lower_call(other, &lowered))
                    .or_else(|| super::pg_scalar::lower_call(other, &lowered))
                    .or_else(|| super::sequence_funcs::lower_call(other, &lowered)),
            };
            match native {
                Some(n) => n,
                None => {
                    let arg_types = args
                        .iter()
                        .map(|a| a.get_type(schema))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(PlanError::from_datafusion)?;
                    let return_type = e.get_type(schema).map_err(PlanError::from_datafusion)?;
                    if func.signature().volatility == datafusion_expr::Volatility::Volatile {
                        return unsupported(format!("volatile function {name}"));
                    }
                    ScalarExpr::External(Arc::new(ExternalFunc {
                        udf: func.clone(),
                        args: text_args,
                        arg_types,
                        return_type,
                    }))
                }
            }
        }
        Expr::ScalarSubquery(_) => return unsupported("this form of scalar subquery"),
        Expr::Exists(_) => return unsupported("EXISTS (subquery) outside WHERE"),
        Expr::InSubquery(_) => return unsupported("IN and NOT IN (subquery) outside WHERE"),
        // A correlated subquery DataFusion could not decorrelate: it reads
        // the outer row outside the equalities of its WHERE clause.
        Expr::OuterReferenceColumn(_, c) => {
            return unsupported(format!(
                "a subquery that reads the outer column {c} outside its WHERE clause"
            ));
        }
        Expr::Placeholder(p) => {
            return Err(match p.id.strip_prefix('$').and_then(|n| n.parse().ok()) {
                Some(n) => PlanError::UndefinedParameter(n),
                None => PlanError::InvalidParameter(format!("there is no parameter {}", p.id)),
            });
        }
        Expr::AggregateFunction(_) => return unsupported("aggregate function in this position"),
        Expr::WindowFunction(_) => return unsupported("window functions"),
        Expr::SimilarTo(Like {
            negated,
            expr,
            pattern,
            escape_char,
            case_insensitive: false,
        }) => {
            let matches = ScalarExpr::CallVariadic {
                func: VariadicFunc::Regex(crate::expr::regex::RegexFunc::SimilarTo {
                    escape: *escape_char,
                }),
                exprs: vec![lower(expr)?, lower(pattern)?],
            };
            if *negated {
                matches.call_unary(UnaryFunc::Not)
            } else {
                matches
            }
        }
        Expr::SimilarTo(_) => return unsupported("case-insensitive SIMILAR TO"),
        other => return unsupported(format!("expression {other}")),
    })
}

fn literal(v: &ScalarValue) -> Result<Datum, PlanError> {
    scalar_to_datum(v).map_err(PlanError::from_eval)
}

/// Builds a `generate_series` flat map: used when the planner meets the
/// table function in FROM.
pub fn generate_series(input: RelationExpr, args: Vec<ScalarExpr>) -> RelationExpr {
    RelationExpr::FlatMap {
        input: Box::new(input),
        func: TableFunc::GenerateSeries,
        exprs: args,
    }
}

/// A constant `'now'`, `'today'`, `'tomorrow'` or `'yesterday'` cast to a
/// date/time type: the moment the transaction began, as `now()` is (a
/// one-shot query reads it; a maintained view refuses it, as Materialize
/// does `now()`). PostgreSQL reads such a constant once, when the
/// statement is parsed. `time` reads only `now`.
fn relative_datetime_constant(expr: &Expr, to: &ScalarType) -> Option<ScalarExpr> {
    let Expr::Literal(ScalarValue::Utf8(Some(text)), _) = expr else {
        return None;
    };
    let special = crate::repr::strconv::relative_datetime(text)?;
    let fits = match to {
        ScalarType::Date | ScalarType::Timestamp(_) | ScalarType::TimestampTz(_) => true,
        ScalarType::Time(_) => special.day_offset().is_none(),
        _ => false,
    };
    fits.then_some(ScalarExpr::Unmaterializable(
        UnmaterializableFunc::DateTimeInput(special),
    ))
}
