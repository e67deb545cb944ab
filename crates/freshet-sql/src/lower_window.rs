//! Lowering DataFusion's window plans (`LogicalPlan::Window`) and
//! `DISTINCT ON` into [`RelationExpr::Window`] and
//! [`RelationExpr::DistinctOn`].
//!
//! A `Window` node appends one column per window expression to its input's
//! rows. Expressions that share `PARTITION BY` and `ORDER BY` become one
//! [`RelationExpr::Window`]; a different window stacks another one on top,
//! each appending its columns after the previous ones, so the columns come
//! out in the plan's order.

use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::expr::{WindowFunction, WindowFunctionDefinition};
use datafusion_expr::logical_plan::{DistinctOn, Window};
use datafusion_expr::{Expr, ExprSchemable, WindowFrameBound, WindowFrameUnits};

use crate::expr::func::scalar_to_datum;
use crate::expr::window::{
    FrameBound, FrameUnits, RangeOffset, WindowExpr, WindowFrame, WindowFunc,
};
use crate::expr::{AggregateExpr, RelationExpr, ScalarExpr, SortKey};
use crate::repr::{Datum, ScalarType};

use super::PlanError;
use super::lower::{aggregate_func, lower, lower_expr, sort_keys, strip_alias};

fn unsupported<T>(what: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError::Unsupported(what.into()))
}

/// Lowers a `Window` node.
pub fn lower_window(w: &Window) -> Result<RelationExpr, PlanError> {
    let schema = w.input.schema();
    let input_arity = schema.fields().len();
    let mut expr = lower(&w.input)?;
    // The (PARTITION BY, ORDER BY) of the node being built, and its functions.
    let mut current: Option<(&[Expr], &[datafusion_expr::SortExpr])> = None;
    let mut funcs = Vec::new();
    let mut partition_by = Vec::new();
    let mut order_by = Vec::new();
    for (i, e) in w.window_expr.iter().enumerate() {
        let Expr::WindowFunction(wf) = strip_alias(e) else {
            return unsupported(format!("window expression {e}"));
        };
        let params = &wf.params;
        let window = (params.partition_by.as_slice(), params.order_by.as_slice());
        if current != Some(window) {
            if current.is_some() {
                expr = RelationExpr::Window {
                    input: Box::new(expr),
                    partition_by: std::mem::take(&mut partition_by),
                    order_by: std::mem::take(&mut order_by),
                    funcs: std::mem::take(&mut funcs),
                };
            }
            partition_by = params
                .partition_by
                .iter()
                .map(|p| {
                    let lowered = lower_expr(p, schema)?;
                    Ok(super::jsonb_keys::key_arg(p, lowered, schema))
                })
                .collect::<Result<Vec<_>, _>>()?;
            order_by = sort_keys(&params.order_by, schema)?;
            current = Some(window);
        }
        let field = &w.schema.fields()[input_arity + i];
        let output_type = ScalarType::from_field(field).map_err(PlanError::Unsupported)?;
        funcs.push(lower_window_func(wf, schema, output_type)?);
    }
    if funcs.is_empty() {
        return Ok(expr);
    }
    Ok(RelationExpr::Window {
        input: Box::new(expr),
        partition_by,
        order_by,
        funcs,
    })
}

/// Lowers one window function call over rows of `schema`.
fn lower_window_func(
    wf: &WindowFunction,
    schema: &DFSchema,
    output_type: ScalarType,
) -> Result<WindowExpr, PlanError> {
    let params = &wf.params;
    let name = wf.fun.name().to_lowercase();
    if params.distinct {
        return unsupported(format!("DISTINCT in window function {name}"));
    }
    if params.null_treatment.is_some() {
        return unsupported(format!(
            "IGNORE NULLS or RESPECT NULLS in window function {name}"
        ));
    }
    // `count(*) OVER (…)` keeps its `*`, which counts rows.
    #[allow(deprecated)]
    let star = matches!(params.args.as_slice(), [Expr::Wildcard { .. }]);
    let arg_exprs = if star { &[][..] } else { &params.args[..] };
    let args = arg_exprs
        .iter()
        .map(|a| lower_expr(a, schema))
        .collect::<Result<Vec<_>, _>>()?;
    let frame = lower_frame(&params.window_frame, &params.order_by, schema)?;
    let (func, exprs) = match &wf.fun {
        WindowFunctionDefinition::AggregateUDF(udaf) => {
            let agg = aggregate_func(udaf.name(), arg_exprs, false)?;
            let filter = params
                .filter
                .as_ref()
                .map(|f| lower_expr(f, schema))
                .transpose()?;
            let exprs = if agg == crate::expr::AggregateFunc::CountStar {
                vec![]
            } else {
                args
            };
            let agg = AggregateExpr {
                func: agg,
                input_type: super::lower::aggregate_input_type(arg_exprs, schema),
                exprs,
                distinct: false,
                filter,
                output_type: output_type.clone(),
            };
            (WindowFunc::Aggregate(agg), vec![])
        }
        WindowFunctionDefinition::WindowUDF(_) => {
            if params.filter.is_some() {
                return unsupported(format!("FILTER in non-aggregate window function {name}"));
            }
            let func = match name.as_str() {
                "row_number" => WindowFunc::RowNumber,
                "rank" => WindowFunc::Rank,
                "dense_rank" => WindowFunc::DenseRank,
                "percent_rank" => WindowFunc::PercentRank,
                "cume_dist" => WindowFunc::CumeDist,
                "ntile" => WindowFunc::Ntile,
                "lag" => WindowFunc::Lag,
                "lead" => WindowFunc::Lead,
                "first_value" => WindowFunc::FirstValue,
                "last_value" => WindowFunc::LastValue,
                "nth_value" => WindowFunc::NthValue,
                other => return unsupported(format!("window function {other}")),
            };
            (func, args)
        }
    };
    Ok(WindowExpr {
        func,
        exprs,
        frame,
        output_type,
    })
}

/// Lowers a frame: `ROWS` and `GROUPS` with any bounds, `RANGE` with
/// offsets in the type of its one `ORDER BY` value (numbers by numbers,
/// dates, times, timestamps and intervals by intervals).
fn lower_frame(
    frame: &datafusion_expr::WindowFrame,
    order_by: &[datafusion_expr::SortExpr],
    schema: &DFSchema,
) -> Result<WindowFrame, PlanError> {
    let units = match frame.units {
        WindowFrameUnits::Rows => FrameUnits::Rows,
        WindowFrameUnits::Range => FrameUnits::Range,
        WindowFrameUnits::Groups => FrameUnits::Groups,
    };
    let negative = || {
        PlanError::InvalidParameter("frame starting or ending offset must not be negative".into())
    };
    let count = |v: &ScalarValue| -> Result<u64, PlanError> {
        match v {
            ScalarValue::UInt64(Some(n)) => Ok(*n),
            other => other.to_string().parse::<u64>().map_err(|_| negative()),
        }
    };
    let bound = |b: &WindowFrameBound| -> Result<FrameBound, PlanError> {
        let (v, preceding) = match b {
            WindowFrameBound::CurrentRow => return Ok(FrameBound::CurrentRow),
            WindowFrameBound::Preceding(v) => (v, true),
            WindowFrameBound::Following(v) => (v, false),
        };
        Ok(match (v.is_null(), preceding, units) {
            (true, true, _) => FrameBound::UnboundedPreceding,
            (true, false, _) => FrameBound::UnboundedFollowing,
            (false, _, FrameUnits::Range) => {
                let offset = range_offset(v, order_by, schema)?;
                if preceding {
                    FrameBound::RangePreceding(offset)
                } else {
                    FrameBound::RangeFollowing(offset)
                }
            }
            (false, true, _) => FrameBound::Preceding(count(v)?),
            (false, false, _) => FrameBound::Following(count(v)?),
        })
    };
    Ok(WindowFrame {
        units,
        start: bound(&frame.start_bound)?,
        end: bound(&frame.end_bound)?,
    })
}

/// The offset `v` of a `RANGE` frame bound, in the type of the frame's one
/// `ORDER BY` value.
fn range_offset(
    v: &ScalarValue,
    order_by: &[datafusion_expr::SortExpr],
    schema: &DFSchema,
) -> Result<RangeOffset, PlanError> {
    let [key] = order_by else {
        return Err(PlanError::Windowing(
            "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column".into(),
        ));
    };
    let key_type = key
        .expr
        .get_type(schema)
        .ok()
        .and_then(|t| ScalarType::from_arrow(&t).ok());
    let offset = match v {
        ScalarValue::UInt64(Some(n)) => Datum::Int64(i64::try_from(*n).unwrap_or(i64::MAX)),
        other => scalar_to_datum(other).map_err(PlanError::from_eval)?,
    };
    let negative = || {
        PlanError::InvalidPrecedingFollowing(
            "invalid preceding or following size in window function".into(),
        )
    };
    use ScalarType as T;
    let as_int = |d: &Datum| match d {
        Datum::Int16(x) => Some(i64::from(*x)),
        Datum::Int32(x) => Some(i64::from(*x)),
        Datum::Int64(x) => Some(*x),
        _ => None,
    };
    let unsupported_types = || {
        let offset_type = ScalarType::from_arrow(&v.data_type())
            .map_or_else(|_| v.data_type().to_string(), |t| t.name());
        // PostgreSQL names the offset's type only for an ORDER BY type
        // that takes some offset.
        let ranged = matches!(
            key_type,
            Some(
                T::Int16
                    | T::Int32
                    | T::Int64
                    | T::Numeric { .. }
                    | T::Float32
                    | T::Float64
                    | T::Date
                    | T::Time(_)
                    | T::Timestamp(_)
                    | T::TimestampTz(_)
                    | T::Interval { .. }
            )
        );
        let key_type = key_type
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |t| t.name());
        PlanError::NotImplemented(if ranged {
            format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {key_type} and offset type {offset_type}"
            )
        } else {
            format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {key_type}"
            )
        })
    };
    let offset = match (&key_type, &offset) {
        (Some(T::Int16 | T::Int32 | T::Int64), d) if as_int(d).is_some() => {
            RangeOffset::Int(as_int(d).unwrap_or_default())
        }
        (Some(T::Numeric { .. }), Datum::Numeric(x)) => RangeOffset::Numeric(x.to_owned()),
        // PostgreSQL's `in_range_numeric_numeric` refuses a `NaN` offset
        // as it refuses a negative one.
        (Some(T::Numeric { .. }), Datum::NumericNaN) => return Err(negative()),
        (Some(T::Numeric { .. }), d) if as_int(d).is_some() => {
            RangeOffset::Numeric(as_int(d).unwrap_or_default().into())
        }
        (Some(T::Float32 | T::Float64), Datum::Float64(x)) => RangeOffset::Float(x.0.to_bits()),
        (Some(T::Float32 | T::Float64), Datum::Float32(x)) => {
            RangeOffset::Float((x.0 as f64).to_bits())
        }
        (Some(T::Float32 | T::Float64), d) if as_int(d).is_some() => {
            RangeOffset::Float((as_int(d).unwrap_or_default() as f64).to_bits())
        }
        (
            Some(T::Date | T::Time(_) | T::Timestamp(_) | T::TimestampTz(_) | T::Interval { .. }),
            Datum::Interval(i),
        ) => RangeOffset::Interval(i.to_owned()),
        _ => return Err(unsupported_types()),
    };
    let is_negative = match &offset {
        RangeOffset::Int(x) => *x < 0,
        RangeOffset::Numeric(x) => x.is_sign_negative() && !x.is_zero(),
        RangeOffset::Float(bits) => f64::from_bits(*bits) < 0.0 || f64::from_bits(*bits).is_nan(),
        RangeOffset::Interval(i) => i.months < 0 || i.days < 0 || i.micros < 0,
    };
    if is_negative {
        return Err(negative());
    }
    Ok(offset)
}

/// Lowers `DISTINCT ON` into the rows it keeps (rows of its input), the
/// order of its `ORDER BY` over them, and the `SELECT` list over them.
pub fn lower_distinct_on_parts(
    on: &DistinctOn,
) -> Result<(RelationExpr, Vec<SortKey>, Vec<ScalarExpr>), PlanError> {
    let schema = on.input.schema();
    let input = lower(&on.input)?;
    let key = on
        .on_expr
        .iter()
        .map(|e| {
            super::json::check_key(e, schema, false)?;
            let lowered = lower_expr(e, schema)?;
            Ok(super::jsonb_keys::key_arg(e, lowered, schema))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let order_by = match &on.sort_expr {
        Some(s) => sort_keys(s, schema)?,
        None => vec![],
    };
    let select = on
        .select_expr
        .iter()
        .map(|e| lower_expr(e, schema))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = RelationExpr::DistinctOn {
        input: Box::new(input),
        key,
        order_by: order_by.clone(),
    };
    Ok((rows, order_by, select))
}

/// Lowers `DISTINCT ON` inside a query: the kept rows, projected to the
/// `SELECT` list.
pub fn lower_distinct_on(on: &DistinctOn) -> Result<RelationExpr, PlanError> {
    let (rows, _order_by, select) = lower_distinct_on_parts(on)?;
    Ok(project_select(
        rows,
        select,
        on.input.schema().fields().len(),
    ))
}

/// Lowers `DISTINCT ON … ORDER BY … LIMIT/OFFSET` inside a query: the
/// limit applies in the `ORDER BY` order, which is over the rows before
/// the `SELECT` list.
pub fn lower_distinct_on_limit(
    on: &DistinctOn,
    offset: usize,
    limit: Option<usize>,
) -> Result<RelationExpr, PlanError> {
    let (rows, order_by, select) = lower_distinct_on_parts(on)?;
    let limited = RelationExpr::TopK {
        input: Box::new(rows),
        order_by,
        limit,
        offset,
    };
    Ok(project_select(
        limited,
        select,
        on.input.schema().fields().len(),
    ))
}

/// Projects rows of `arity` columns to the `SELECT` list `select`.
fn project_select(rows: RelationExpr, select: Vec<ScalarExpr>, arity: usize) -> RelationExpr {
    let mut exprs = Vec::new();
    let mut projection = Vec::with_capacity(select.len());
    for e in select {
        match e {
            ScalarExpr::Column(c) => projection.push(c),
            other => {
                projection.push(arity + exprs.len());
                exprs.push(other);
            }
        }
    }
    RelationExpr::mfp(rows, exprs, vec![], projection)
}
