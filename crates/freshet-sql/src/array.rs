//! Arrays in DataFusion's planner, and their lowering.
//!
//! DataFusion represents an array as an Arrow `List`. Its own array
//! functions (`datafusion-functions-nested`) differ from PostgreSQL's in
//! NULL handling and in what an empty array is, so Freshet plans the array
//! constructs as calls of marker functions ([`ArrayUdf`]) that it lowers to
//! its own evaluation ([`crate::expr::array::ArrayFunc`]); DataFusion never
//! runs them:
//!
//! * `ARRAY[a, b]` ([`ArrayPlanner::plan_array_literal`]), `a[i]` and
//!   `a[i:j]` ([`ArrayPlanner::plan_field_access`]), `a || b`, `a @> b`, `a <@ b`
//!   and `a && b` on arrays ([`ArrayPlanner::plan_binary_op`]);
//! * `x <op> ANY (array)` and `x <op> ALL (array)`: the SQL text is
//!   rewritten to marker calls before DataFusion plans it
//!   ([`rewrite_quantified`]), since DataFusion plans them with its own
//!   array functions;
//! * the functions `array_length`, `cardinality`, `array_to_string`,
//!   `string_to_array`, `array_position`, `array_positions`,
//!   `array_remove`, `array_replace`, `array_fill`, `array_append`,
//!   `array_prepend`, `array_cat` ([`functions`]).
//!
//! `unnest` is DataFusion's `Unnest` plan node, lowered in
//! [`super::unnest`]; here its column in FROM gets PostgreSQL's name.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field};
use datafusion_common::{DFSchema, Result as DfResult, ScalarValue, not_impl_err, plan_err};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, RawFieldAccessExpr};
use datafusion_expr::type_coercion::binary::{comparison_coercion, type_union_resolution};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, GetFieldAccess, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::BinaryOperator;

use crate::expr::ScalarExpr;
use crate::expr::array::ArrayFunc;
use crate::expr::func::{BinaryFunc, VariadicFunc};
use crate::repr::ScalarType;

use super::PlanError;

/// The prefix of the marker functions' names (PostgreSQL names the
/// columns they compute `?column?`, as `plan::column_name` does for it).
const PREFIX: &str = "freshet_array_";

/// What a marker function computes: the function, and how DataFusion types
/// its arguments and result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// `ARRAY[...]`: the arguments coerced to one type, a list of it.
    Construct,
    /// `a[i]`, `a[i:j]`: a list and integers; the element type, or the list.
    Subscript { slice: bool },
    /// `array_length(a, dim)`, `cardinality(a)`: `integer`.
    Length { args: usize },
    /// `array_dims(a)`: `text`.
    Dims,
    /// `freshet_array_subscripts(a, dim, reverse, lower)`: `integer[]`
    /// ([`ArrayFunc::Subscripts`]).
    Subscripts,
    /// `array_to_string(a, delim[, null])`: `text`.
    ToString,
    /// `string_to_array(s, delim[, null])`: `text[]`.
    StringToArray,
    /// `array_position(a, x[, start])`: `integer`.
    Position,
    /// `array_positions(a, x)`: `integer[]`.
    Positions,
    /// `array_remove(a, x)`, `array_replace(a, x, y)`: the array.
    RemoveReplace { replace: bool },
    /// `array_fill(x, dims[, lower_bounds])`: an array of `x`'s type.
    Fill,
    /// `array_append(a, x)`, `array_prepend(x, a)`, `array_cat(a, b)`.
    Combine(ArrayFunc),
    /// `x <op> ANY/ALL (a)`: `boolean`.
    Quantified { op: BinaryFunc, all: bool },
    /// `a @> b`, `a <@ b` and `a && b`: two arrays of one element type,
    /// `boolean`.
    Containment,
}

/// A marker function for an array construct.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayUdf {
    name: String,
    kind: Kind,
    signature: Signature,
}

fn udf(name: &str, kind: Kind) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(ArrayUdf {
        name: name.to_string(),
        kind,
        signature: Signature::user_defined(Volatility::Immutable),
    }))
}

fn list_of(elem: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", elem, true)))
}

fn element_of(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || *t == DataType::Null
}

/// The array argument's type: a list (a NULL literal counts as a list of
/// its partner's or of text).
fn expect_list(name: &str, t: &DataType) -> DfResult<DataType> {
    match t {
        DataType::Null => Ok(list_of(DataType::Utf8)),
        t if element_of(t).is_some() => {
            Ok(list_of(element_of(t).cloned().unwrap_or(DataType::Null)))
        }
        other => {
            plan_err!("function {name}({other}) does not exist: its argument must be an array")
        }
    }
}

impl ScalarUDFImpl for ArrayUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let name = self.name.as_str();
        let count = |n: std::ops::RangeInclusive<usize>| -> DfResult<()> {
            if n.contains(&arg_types.len()) {
                Ok(())
            } else {
                plan_err!(
                    "function {name} does not take {} arguments",
                    arg_types.len()
                )
            }
        };
        match &self.kind {
            Kind::Construct => {
                let common = type_union_resolution(arg_types).ok_or_else(|| {
                    datafusion_common::DataFusionError::Plan(format!(
                        "ARRAY types {} cannot be matched",
                        arg_types
                            .iter()
                            .map(|t| t.to_string())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ))
                })?;
                Ok(vec![unconstrained(common); arg_types.len()])
            }
            Kind::Subscript { slice } => {
                count(if *slice { 3..=3 } else { 2..=2 })?;
                let list = match &arg_types[0] {
                    t if element_of(t).is_some() => t.clone(),
                    DataType::Null => list_of(DataType::Utf8),
                    other => {
                        return plan_err!(
                            "cannot subscript type {other} because it does not support subscripting"
                        );
                    }
                };
                for t in &arg_types[1..] {
                    if !is_integer(t) {
                        return plan_err!("array subscript must have type integer");
                    }
                }
                let mut out = vec![list];
                out.extend(std::iter::repeat_n(DataType::Int64, arg_types.len() - 1));
                Ok(out)
            }
            Kind::Dims => {
                count(1..=1)?;
                Ok(vec![expect_list(name, &arg_types[0])?])
            }
            Kind::Length { args } => {
                count(*args..=*args)?;
                let mut out = vec![expect_list(name, &arg_types[0])?];
                if *args == 2 {
                    if !is_integer(&arg_types[1]) {
                        return plan_err!("function {name} takes an integer dimension");
                    }
                    out.push(DataType::Int64);
                }
                Ok(out)
            }
            Kind::Subscripts => {
                count(4..=4)?;
                let list = expect_list(name, &arg_types[0])?;
                for t in [&arg_types[1], &arg_types[3]] {
                    if !is_integer(t) {
                        return plan_err!(
                            "function generate_subscripts takes an integer dimension"
                        );
                    }
                }
                if !matches!(arg_types[2], DataType::Boolean | DataType::Null) {
                    return plan_err!("function generate_subscripts takes a boolean reverse flag");
                }
                Ok(vec![
                    list,
                    DataType::Int64,
                    DataType::Boolean,
                    DataType::Int64,
                ])
            }
            Kind::ToString => {
                count(2..=3)?;
                let mut out = vec![expect_list(name, &arg_types[0])?];
                out.extend(std::iter::repeat_n(DataType::Utf8, arg_types.len() - 1));
                Ok(out)
            }
            Kind::StringToArray => {
                count(2..=3)?;
                Ok(vec![DataType::Utf8; arg_types.len()])
            }
            Kind::Position if arg_types.len() == 3 => {
                let list = expect_list(name, &arg_types[0])?;
                let elem = unify(name, element_of(&list), &arg_types[1])?;
                if !is_integer(&arg_types[2]) {
                    return plan_err!("function {name} takes an integer start position");
                }
                Ok(vec![list_of(elem.clone()), elem, DataType::Int64])
            }
            Kind::RemoveReplace { replace } => {
                count(if *replace { 3..=3 } else { 2..=2 })?;
                let list = expect_list(name, &arg_types[0])?;
                let mut elem = unify(name, element_of(&list), &arg_types[1])?;
                if *replace {
                    elem = unify(name, Some(&elem), &arg_types[2])?;
                }
                let mut out = vec![list_of(elem.clone()), elem.clone()];
                if *replace {
                    out.push(elem);
                }
                Ok(out)
            }
            Kind::Fill => {
                count(2..=3)?;
                if element_of(&arg_types[0]).is_some() {
                    return not_impl_err!("multidimensional arrays");
                }
                let mut out = vec![match &arg_types[0] {
                    DataType::Null => DataType::Utf8,
                    t => unconstrained(t.clone()),
                }];
                for t in &arg_types[1..] {
                    match t {
                        DataType::Null => {}
                        t if element_of(t).is_some_and(is_integer) => {}
                        other => {
                            return plan_err!(
                                "function {name} takes integer arrays of dimensions, not {other}"
                            );
                        }
                    }
                    out.push(list_of(DataType::Int64));
                }
                Ok(out)
            }
            Kind::Position | Kind::Positions | Kind::Combine(ArrayFunc::Append) => {
                count(2..=2)?;
                let list = expect_list(name, &arg_types[0])?;
                let elem = unify(name, element_of(&list), &arg_types[1])?;
                Ok(vec![list_of(elem.clone()), elem])
            }
            Kind::Combine(ArrayFunc::Prepend) => {
                count(2..=2)?;
                let list = expect_list(name, &arg_types[1])?;
                let elem = unify(name, element_of(&list), &arg_types[0])?;
                Ok(vec![elem.clone(), list_of(elem)])
            }
            Kind::Combine(_) | Kind::Containment => {
                count(2..=2)?;
                let a = expect_list(name, &arg_types[0])?;
                let b = expect_list(name, &arg_types[1])?;
                let elem = unify(
                    name,
                    element_of(&a),
                    element_of(&b).unwrap_or(&DataType::Null),
                )?;
                Ok(vec![list_of(elem.clone()), list_of(elem)])
            }
            Kind::Quantified { .. } => {
                count(2..=2)?;
                let list = match &arg_types[1] {
                    t if element_of(t).is_some() => t.clone(),
                    // `x = ANY ('{1,2}')`: text read as an array of `x`'s
                    // type.
                    DataType::Null | DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                        list_of(arg_types[0].clone())
                    }
                    other => {
                        return plan_err!(
                            "op ANY/ALL (array) requires array on right side, not {other}"
                        );
                    }
                };
                let elem = unify(name, element_of(&list), &arg_types[0])?;
                Ok(vec![elem.clone(), list_of(elem)])
            }
        }
    }

    /// As [`ScalarUDFImpl::return_type`], except that `ARRAY[...]` of
    /// `regtype` values is refused: its elements are OIDs that only the
    /// `regtype` type shows as names, and arrays do not carry it through
    /// their output, casts and subscripts (the array would read as
    /// `bigint[]` of OIDs).
    fn return_field_from_args(
        &self,
        args: datafusion_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion_common::arrow::datatypes::FieldRef> {
        if matches!(self.kind, Kind::Construct)
            && args
                .arg_fields
                .iter()
                .any(|f| ScalarType::from_field(f).ok() == Some(ScalarType::RegType))
        {
            return not_impl_err!("arrays of regtype not supported");
        }
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&types)?,
            true,
        )))
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match &self.kind {
            Kind::Construct => {
                let elem = arg_types.first().cloned().unwrap_or(DataType::Null);
                if element_of(&elem).is_some() {
                    return not_impl_err!("multidimensional arrays");
                }
                list_of(elem)
            }
            Kind::Subscript { slice: true } => arg_types
                .first()
                .cloned()
                .unwrap_or(list_of(DataType::Utf8)),
            Kind::Subscript { slice: false } => arg_types
                .first()
                .and_then(element_of)
                .cloned()
                .unwrap_or(DataType::Utf8),
            Kind::Length { .. } | Kind::Position => DataType::Int32,
            Kind::Subscripts => list_of(DataType::Int32),
            Kind::Positions => list_of(DataType::Int32),
            Kind::RemoveReplace { .. } => arg_types
                .first()
                .cloned()
                .unwrap_or(list_of(DataType::Utf8)),
            Kind::Fill => list_of(arg_types.first().cloned().unwrap_or(DataType::Utf8)),
            Kind::ToString | Kind::Dims => DataType::Utf8,
            Kind::StringToArray => list_of(DataType::Utf8),
            Kind::Combine(ArrayFunc::Prepend) => {
                arg_types.get(1).cloned().unwrap_or(list_of(DataType::Utf8))
            }
            Kind::Combine(_) => arg_types
                .first()
                .cloned()
                .unwrap_or(list_of(DataType::Utf8)),
            Kind::Quantified { .. } | Kind::Containment => DataType::Boolean,
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

/// `numeric` without a type modifier where the common type of several
/// numerics is one: DataFusion would give `ARRAY[1.5, 2.25]` the type
/// `numeric(3,2)` and print `1.50`, where PostgreSQL keeps each value's
/// scale.
fn unconstrained(t: DataType) -> DataType {
    match t {
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => crate::repr::ScalarType::Numeric {
            precision: None,
            scale: None,
        }
        .to_arrow(),
        other => other,
    }
}

/// The common type of an array's elements and a value (PostgreSQL
/// resolves `anyelement` and `anyarray` together).
fn unify(name: &str, elem: Option<&DataType>, other: &DataType) -> DfResult<DataType> {
    let elem = elem.cloned().unwrap_or(DataType::Null);
    if element_of(other).is_some() {
        return not_impl_err!("multidimensional arrays");
    }
    match (&elem, other) {
        (DataType::Null, t) | (t, DataType::Null) => Ok(t.clone()),
        (a, b) => comparison_coercion(a, b).map(unconstrained).ok_or_else(|| {
            datafusion_common::DataFusionError::Plan(format!(
                "function {name} does not exist for element type {a} and {b}"
            ))
        }),
    }
}

/// The array functions PostgreSQL users call by name, as marker functions
/// for the planner's function registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        udf("array_length", Kind::Length { args: 2 }),
        udf("cardinality", Kind::Length { args: 1 }),
        udf("array_dims", Kind::Dims),
        udf("array_to_string", Kind::ToString),
        udf("string_to_array", Kind::StringToArray),
        udf("array_position", Kind::Position),
        udf("array_positions", Kind::Positions),
        udf("array_remove", Kind::RemoveReplace { replace: false }),
        udf("array_replace", Kind::RemoveReplace { replace: true }),
        udf("array_fill", Kind::Fill),
        udf("array_append", Kind::Combine(ArrayFunc::Append)),
        udf("array_prepend", Kind::Combine(ArrayFunc::Prepend)),
        udf("array_cat", Kind::Combine(ArrayFunc::Cat)),
        udf(SUBSCRIPTS, Kind::Subscripts),
    ]
}

/// The constructor `ARRAY[...]` plans to, to be called by another name
/// (`unnest_ordinality::CONSTRUCT`).
pub fn constructor() -> Arc<ScalarUDF> {
    udf("array", Kind::Construct)
}

/// The marker function `generate_subscripts` is rewritten to (see
/// [`ArrayFunc::Subscripts`]).
pub const SUBSCRIPTS: &str = "freshet_array_subscripts";

/// Plans `ARRAY[...]`, subscripts and `||` on arrays.
#[derive(Debug, Default)]
pub struct ArrayPlanner;

impl ExprPlanner for ArrayPlanner {
    fn plan_array_literal(
        &self,
        exprs: Vec<Expr>,
        _schema: &DFSchema,
    ) -> DfResult<PlannerResult<Vec<Expr>>> {
        if exprs.is_empty() {
            // `ARRAY[]`: an empty array, typed by the cast PostgreSQL
            // requires around it.
            return Ok(PlannerResult::Planned(Expr::Literal(
                ScalarValue::List(ScalarValue::new_list_nullable(&[], &DataType::Utf8)),
                None,
            )));
        }
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf("array", Kind::Construct), exprs),
        )))
    }

    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        _schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawFieldAccessExpr>> {
        match expr.field_access {
            GetFieldAccess::ListIndex { key } => Ok(PlannerResult::Planned(Expr::ScalarFunction(
                ScalarFunction::new_udf(
                    udf(
                        &format!("{PREFIX}subscript"),
                        Kind::Subscript { slice: false },
                    ),
                    vec![expr.expr, *key],
                ),
            ))),
            GetFieldAccess::ListRange {
                start,
                stop,
                stride,
            } => {
                if !matches!(
                    stride.as_ref(),
                    Expr::Literal(ScalarValue::Int64(Some(1)), _)
                ) {
                    return not_impl_err!("array slices with a stride");
                }
                Ok(PlannerResult::Planned(Expr::ScalarFunction(
                    ScalarFunction::new_udf(
                        udf(&format!("{PREFIX}slice"), Kind::Subscript { slice: true }),
                        vec![expr.expr, *start, *stop],
                    ),
                )))
            }
            other => Ok(PlannerResult::Original(RawFieldAccessExpr {
                field_access: other,
                expr: expr.expr,
            })),
        }
    }

    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let list_type = |e: &Expr| e.get_type(schema).ok().filter(|t| element_of(t).is_some());
        let mut expr = expr;
        // A string literal next to an array is an array literal, as
        // PostgreSQL resolves an `unknown` operand: `a = '{1,2}'`.
        match (list_type(&expr.left), list_type(&expr.right)) {
            (Some(t), None) if is_string_literal(&expr.right) => {
                expr.right = Expr::Cast(Cast::new(Box::new(expr.right), t));
            }
            (None, Some(t)) if is_string_literal(&expr.left) => {
                expr.left = Expr::Cast(Cast::new(Box::new(expr.left), t));
            }
            _ => {}
        }
        let is_list = |e: &Expr| list_type(e).is_some();
        let (l, r) = (is_list(&expr.left), is_list(&expr.right));
        // `@>`, `<@` and `&&` of two arrays (`<@` is `@>` reversed).
        let containment = match expr.op {
            BinaryOperator::AtArrow => Some(("contains", false)),
            BinaryOperator::ArrowAt => Some(("contains", true)),
            BinaryOperator::PGOverlap => Some(("overlap", false)),
            _ => None,
        };
        if let Some((name, reversed)) = containment {
            if !(l && r) {
                return Ok(PlannerResult::Original(expr));
            }
            let args = if reversed {
                vec![expr.right, expr.left]
            } else {
                vec![expr.left, expr.right]
            };
            return Ok(PlannerResult::Planned(Expr::ScalarFunction(
                ScalarFunction::new_udf(udf(&format!("{PREFIX}{name}"), Kind::Containment), args),
            )));
        }
        if expr.op != BinaryOperator::StringConcat {
            return Ok(PlannerResult::Original(expr));
        }
        let kind = match (l, r) {
            (true, true) => ArrayFunc::Cat,
            (true, false) => ArrayFunc::Append,
            (false, true) => ArrayFunc::Prepend,
            (false, false) => return Ok(PlannerResult::Original(expr)),
        };
        let name = match kind {
            ArrayFunc::Cat => "array_cat",
            ArrayFunc::Append => "array_append",
            _ => "array_prepend",
        };
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(
                udf(&format!("{PREFIX}{name}"), Kind::Combine(kind)),
                vec![expr.left, expr.right],
            ),
        )))
    }
}

fn is_string_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal(
            ScalarValue::Utf8(Some(_))
                | ScalarValue::Utf8View(Some(_))
                | ScalarValue::LargeUtf8(Some(_)),
            _
        )
    )
}

/// The marker function for `x <op> ANY/ALL (array)`.
fn quantified_name(op: &BinaryOperator, all: bool) -> Option<String> {
    let op = match op {
        BinaryOperator::Eq => "eq",
        BinaryOperator::NotEq => "ne",
        BinaryOperator::Lt => "lt",
        BinaryOperator::LtEq => "le",
        BinaryOperator::Gt => "gt",
        BinaryOperator::GtEq => "ge",
        _ => return None,
    };
    Some(format!("{PREFIX}{}_{op}", if all { "all" } else { "any" }))
}

/// Every `x <op> ANY/ALL (a)` marker function, for the function registry
/// (the rewritten SQL calls them by name).
pub fn quantified_functions() -> Vec<Arc<ScalarUDF>> {
    let mut out = Vec::new();
    for (op, func) in [
        (BinaryOperator::Eq, BinaryFunc::Eq),
        (BinaryOperator::NotEq, BinaryFunc::NotEq),
        (BinaryOperator::Lt, BinaryFunc::Lt),
        (BinaryOperator::LtEq, BinaryFunc::LtEq),
        (BinaryOperator::Gt, BinaryFunc::Gt),
        (BinaryOperator::GtEq, BinaryFunc::GtEq),
    ] {
        for all in [false, true] {
            if let Some(name) = quantified_name(&op, all) {
                out.push(udf(
                    &name,
                    Kind::Quantified {
                        op: func.clone(),
                        all,
                    },
                ));
            }
        }
    }
    out
}

/// Rewrites `x <op> ANY (e)` and `x <op> ALL (e)` where `e` is not a
/// subquery into calls of the marker functions (DataFusion would plan them
/// with its own array functions), and names the column of `unnest` in FROM
/// ([`name_unnest_column`]).
///
/// It also refuses `unnest` inside `CASE` and `COALESCE`, as PostgreSQL
/// does (DataFusion would unnest first and then evaluate the condition).
pub fn rewrite_quantified(statement: &mut sqlparser::ast::Statement) -> Result<(), PlanError> {
    use sqlparser::ast::{
        Expr as SqlExpr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
        FunctionArguments, Ident, ObjectName, VisitMut, VisitorMut,
    };
    /// The enclosing `CASE`/`COALESCE` expressions, innermost last.
    #[derive(Default)]
    struct Rewrite {
        conditional: Vec<&'static str>,
    }
    fn conditional_kind(e: &SqlExpr) -> Option<&'static str> {
        match e {
            SqlExpr::Case { .. } => Some("CASE"),
            SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("coalesce") => {
                Some("COALESCE")
            }
            _ => None,
        }
    }
    impl VisitorMut for Rewrite {
        type Break = &'static str;
        fn pre_visit_expr(&mut self, e: &mut SqlExpr) -> std::ops::ControlFlow<&'static str> {
            if let SqlExpr::Function(f) = e
                && f.name.to_string().eq_ignore_ascii_case("unnest")
                && let Some(inside) = self.conditional.last()
            {
                return std::ops::ControlFlow::Break(inside);
            }
            if let Some(kind) = conditional_kind(e) {
                self.conditional.push(kind);
            }
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(
            &mut self,
            factor: &mut sqlparser::ast::TableFactor,
        ) -> std::ops::ControlFlow<&'static str> {
            name_unnest_column(factor);
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &mut SqlExpr) -> std::ops::ControlFlow<&'static str> {
            if conditional_kind(e).is_some() {
                self.conditional.pop();
            }
            let (left, op, right, all) = match e {
                SqlExpr::AnyOp {
                    left,
                    compare_op,
                    right,
                    ..
                } => (left, compare_op, right, false),
                SqlExpr::AllOp {
                    left,
                    compare_op,
                    right,
                } => (left, compare_op, right, true),
                _ => return std::ops::ControlFlow::Continue(()),
            };
            if matches!(right.as_ref(), SqlExpr::Subquery(_)) {
                return std::ops::ControlFlow::Continue(());
            }
            let Some(name) = quantified_name(op, all) else {
                return std::ops::ControlFlow::Continue(());
            };
            // `x = ANY (a)` parses with the parentheses as a nested
            // expression.
            let mut array = right.as_ref().clone();
            while let SqlExpr::Nested(inner) = array {
                array = *inner;
            }
            let arg = |x: SqlExpr| FunctionArg::Unnamed(FunctionArgExpr::Expr(x));
            *e = SqlExpr::Function(Function {
                name: ObjectName::from(vec![Ident::new(name)]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![arg(left.as_ref().clone()), arg(array)],
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
            std::ops::ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Rewrite::default()) {
        std::ops::ControlFlow::Break(inside) => Err(PlanError::Unsupported(format!(
            "set-returning functions in {inside}"
        ))),
        std::ops::ControlFlow::Continue(()) => Ok(()),
    }
}

/// Lowers a call of an array marker function (`None` if `name` is not
/// one).
pub fn lower_call(name: &str, args: Vec<ScalarExpr>) -> Option<ScalarExpr> {
    let func = match name {
        "array" => ArrayFunc::Construct,
        "array_length" => ArrayFunc::Length,
        "cardinality" => ArrayFunc::Cardinality,
        "array_dims" => ArrayFunc::Dims,
        "array_to_string" => ArrayFunc::ToString,
        "string_to_array" => ArrayFunc::StringToArray,
        "array_position" => ArrayFunc::Position,
        "array_positions" => ArrayFunc::Positions,
        "array_remove" => ArrayFunc::Remove,
        "array_replace" => ArrayFunc::Replace,
        "array_fill" => ArrayFunc::Fill,
        "array_append" => ArrayFunc::Append,
        "array_prepend" => ArrayFunc::Prepend,
        "array_cat" => ArrayFunc::Cat,
        other => {
            let rest = other.strip_prefix(PREFIX)?;
            match rest {
                "subscript" => ArrayFunc::Subscript,
                "subscripts" => ArrayFunc::Subscripts,
                "slice" => ArrayFunc::Slice {
                    has_lower: true,
                    has_upper: true,
                },
                "array_append" => ArrayFunc::Append,
                "array_prepend" => ArrayFunc::Prepend,
                "array_cat" => ArrayFunc::Cat,
                "contains" => ArrayFunc::Contains,
                "overlap" => ArrayFunc::Overlap,
                q => {
                    let (quantifier, op) = q.split_once('_')?;
                    let all = match quantifier {
                        "any" => false,
                        "all" => true,
                        _ => return None,
                    };
                    let op = match op {
                        "eq" => BinaryFunc::Eq,
                        "ne" => BinaryFunc::NotEq,
                        "lt" => BinaryFunc::Lt,
                        "le" => BinaryFunc::LtEq,
                        "gt" => BinaryFunc::Gt,
                        "ge" => BinaryFunc::GtEq,
                        _ => return None,
                    };
                    ArrayFunc::Quantified { op, all }
                }
            }
        }
    };
    Some(ScalarExpr::CallVariadic {
        func: VariadicFunc::Array(func),
        exprs: args,
    })
}

/// `array_agg`'s function: refused over arrays (the result would be
/// multidimensional), with `DISTINCT` and an `ORDER BY` other than the
/// value (as PostgreSQL requires), and with the order of its `ORDER BY`.
pub fn array_agg_func(
    params: &datafusion_expr::expr::AggregateFunctionParams,
) -> Result<crate::expr::AggregateFunc, PlanError> {
    if params.distinct
        && params
            .order_by
            .iter()
            .any(|s| params.args.first() != Some(&s.expr))
    {
        return Err(PlanError::Planning(
            "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list"
                .into(),
        ));
    }
    Ok(crate::expr::AggregateFunc::ArrayAgg {
        order: params
            .order_by
            .iter()
            .map(|s| (s.asc, s.nulls_first))
            .collect(),
    })
}

/// Whether `name` is one call, `f(...)`: its first parenthesis closes at
/// its end (`f(a) = g(b)` is not).
pub fn call_spans_all(name: &str) -> bool {
    let Some(open) = name.find('(') else {
        return false;
    };
    let mut depth = 0usize;
    for (i, c) in name.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i == name.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// PostgreSQL's names for the output columns of array constructs, from
/// the names DataFusion gives them: `unnest(...)` is `unnest`,
/// `array_agg(x ORDER BY y)` is `array_agg`, `a[1]` is `a`.
pub fn column_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("unnest(") || lower.starts_with("__unnest_placeholder(") {
        return Some("unnest".into());
    }
    if lower.starts_with("array_agg(") {
        return Some("array_agg".into());
    }
    let rest = name.strip_prefix(&format!("{PREFIX}subscript("))?;
    let (array, _) = rest.split_once(',')?;
    let column = array.rsplit('.').next()?;
    let is_ident = !column.is_empty() && column.chars().all(|c| c.is_alphanumeric() || c == '_');
    Some(if is_ident {
        column.to_string()
    } else {
        "?column?".to_string()
    })
}

/// Names the column of `unnest(a)` in FROM as PostgreSQL does: after the
/// alias (`unnest(a) AS x` has a column `x`) or `unnest` without one, so
/// `FROM t, unnest(t.a) AS x WHERE x > 1` reads the elements as `x`.
fn name_unnest_column(factor: &mut sqlparser::ast::TableFactor) {
    use sqlparser::ast::{
        FunctionArg, FunctionArgExpr, Ident, TableAlias, TableAliasColumnDef, TableFactor,
    };
    // `LATERAL unnest(...)` parses as a table function; it is the same
    // `UNNEST` (which is lateral anyway).
    if let TableFactor::Function {
        name,
        args,
        alias,
        with_ordinality,
        ..
    } = factor
        && name.to_string().eq_ignore_ascii_case("unnest")
    {
        let exprs: Option<Vec<sqlparser::ast::Expr>> = args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect();
        if let Some(array_exprs) = exprs {
            *factor = TableFactor::UNNEST {
                alias: alias.take(),
                array_exprs,
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: *with_ordinality,
            };
        }
    }
    let TableFactor::UNNEST {
        alias, array_exprs, ..
    } = factor
    else {
        return;
    };
    if array_exprs.len() != 1 {
        return;
    }
    match alias {
        None => {
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::new("unnest"),
                columns: vec![TableAliasColumnDef::from_name("unnest")],
                at: None,
            })
        }
        Some(a) if a.columns.is_empty() => {
            a.columns = vec![TableAliasColumnDef {
                name: a.name.clone(),
                data_type: None,
            }]
        }
        Some(_) => {}
    }
}
