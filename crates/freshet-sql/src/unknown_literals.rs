//! Untyped string literals (PostgreSQL's `unknown`) as operands of
//! arithmetic and of the numeric functions.
//!
//! PostgreSQL reads `numeric_col / '2'` as `numeric / numeric`: an operand
//! of type `unknown` takes the other operand's type. DataFusion types a
//! string literal as text and has no arithmetic on text, so
//! [`UnknownLiteralPlanner`] casts such a literal to the other operand's
//! type when that is a number (`int_col + '1.5'` then fails as
//! PostgreSQL's `integer` input does, `22P02`).
//!
//! A function call sees only its argument types, where a string literal
//! and a `text` column look alike: the numeric functions
//! ([`NUMERIC_FUNCTIONS`]) read a string argument as `unknown` in their
//! `coerce_types` ([`resolve`]), and [`UnknownLiteralCheck`], in the
//! analyzer, refuses a call whose string argument is not an untyped
//! literal, as PostgreSQL does (`power(numeric, text)` does not exist,
//! `42883`).

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion_expr::expr::{Cast, ScalarFunction};
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{Expr, ExprSchemable};
use sqlparser::ast::BinaryOperator;

use super::PlanError;

/// Whether `e` is an untyped string literal.
pub fn is_untyped_string(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal(
            ScalarValue::Utf8(_) | ScalarValue::Utf8View(_) | ScalarValue::LargeUtf8(_),
            _
        )
    )
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_number(t: &DataType) -> bool {
    t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(..))
}

/// Casts an untyped string literal operand of an arithmetic operator to
/// the other operand's type, when that is a number.
#[derive(Debug, Default)]
pub struct UnknownLiteralPlanner;

impl ExprPlanner for UnknownLiteralPlanner {
    fn plan_binary_op(
        &self,
        mut expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        use BinaryOperator as B;
        if !matches!(
            expr.op,
            B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo | B::PGExp
        ) {
            return Ok(PlannerResult::Original(expr));
        }
        let cast = |e: Expr, t: DataType| Expr::Cast(Cast::new(Box::new(e), t));
        match (
            is_untyped_string(&expr.left),
            is_untyped_string(&expr.right),
        ) {
            (true, false) => {
                if let Ok(t) = expr.right.get_type(schema)
                    && is_number(&t)
                {
                    expr.left = cast(expr.left, t);
                }
            }
            (false, true) => {
                if let Ok(t) = expr.left.get_type(schema)
                    && is_number(&t)
                {
                    expr.right = cast(expr.right, t);
                }
            }
            _ => {}
        }
        Ok(PlannerResult::Original(expr))
    }
}

/// The numeric functions whose string arguments [`resolve`] reads as
/// `unknown` (each function's `coerce_types` calls it).
pub const NUMERIC_FUNCTIONS: &[&str] = &[
    "sqrt",
    "exp",
    "ln",
    "log",
    "log10",
    "power",
    "pow",
    "factorial",
    "round",
    "trunc",
    "ceil",
    "ceiling",
    "floor",
    "mod",
    "div",
    "sign",
    "gcd",
    "lcm",
    "scale",
    "min_scale",
    "trim_scale",
    "width_bucket",
];

/// The argument types of a call of a numeric function with each string
/// argument read as `unknown`: it takes the type of the first number
/// among the other arguments (PostgreSQL's choice where one candidate
/// matches that type exactly), else `default`. `places` is the position
/// of an `integer` parameter (`round(x, places)`), which a string there
/// becomes.
pub fn resolve(arg_types: &[DataType], default: DataType, places: Option<usize>) -> Vec<DataType> {
    let known = arg_types
        .iter()
        .enumerate()
        .find(|(i, t)| Some(*i) != places && is_number(t))
        .map(|(_, t)| t.clone())
        .unwrap_or(default);
    arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            t if !is_string(t) => t.clone(),
            _ if Some(i) == places => DataType::Int32,
            _ => known.clone(),
        })
        .collect()
}

/// Refuses a call of a [`NUMERIC_FUNCTIONS`] function whose argument is a
/// string that is not an untyped literal (a `text` column or expression),
/// which `coerce_types` converts as if it were one: PostgreSQL has no such
/// function (`42883`). An analyzer rewrite, so it sees the arguments as
/// written, before type coercion casts them.
#[derive(Debug)]
pub struct UnknownLiteralCheck;

impl FunctionRewrite for UnknownLiteralCheck {
    fn name(&self) -> &str {
        "freshet_unknown_literal_check"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        // `width_bucket(operand, thresholds)` takes any type.
        if let Expr::ScalarFunction(ScalarFunction { func, args }) = &expr
            && NUMERIC_FUNCTIONS.contains(&func.name())
            && !(func.name() == "width_bucket" && args.len() == 2)
        {
            let mut refused = false;
            let mut types = Vec::with_capacity(args.len());
            for a in args {
                // A type that cannot be derived here is left to the
                // coercion that follows, which reports it.
                let Ok(t) = a.get_type(schema) else {
                    return Ok(Transformed::no(expr));
                };
                if is_untyped_string(a) {
                    types.push(DataType::Null);
                } else {
                    refused |= is_string(&t);
                    types.push(t);
                }
            }
            if refused {
                return Err(PlanError::no_function(func.name(), &types));
            }
        }
        Ok(Transformed::no(expr))
    }
}

/// Refuses a comparison of a string that is not an untyped literal (a
/// `text` column, `'1'::text`, `data->>'k'`) with a value of another type
/// (`integer`, `numeric`, `date`, ...), and such a string `IN` a list of
/// them: PostgreSQL has no implicit cast between them and no such operator
/// (`operator does not exist: text = integer`, `42883`), where DataFusion
/// would cast one side. An untyped literal on either side takes the other
/// side's type, as PostgreSQL's `unknown` does. An analyzer rewrite, so
/// it sees the operands as written, before type coercion casts them.
#[derive(Debug)]
pub struct TextComparisonCheck;

impl TextComparisonCheck {
    /// The PostgreSQL name of `e`'s type, when `e` is a typed string or a
    /// typed non-string (`None` for untyped literals, NULL, or a type that
    /// cannot be derived here).
    fn operand(e: &Expr, schema: &DFSchema) -> Option<(bool, String)> {
        if is_untyped_string(e) || matches!(e, Expr::Literal(ScalarValue::Null, _)) {
            return None;
        }
        let (_, field) = e.to_field(schema).ok()?;
        if matches!(field.data_type(), DataType::Null) {
            return None;
        }
        let name = crate::repr::ScalarType::from_field(&field)
            .map(|t| t.without_modifier().name())
            .unwrap_or_else(|_| field.data_type().to_string());
        Some((is_string(field.data_type()), name))
    }

    fn check(left: &Expr, op: &str, right: &Expr, schema: &DFSchema) -> DfResult<()> {
        if let (Some((l_string, l)), Some((r_string, r))) =
            (Self::operand(left, schema), Self::operand(right, schema))
            && l_string != r_string
        {
            return Err(datafusion_common::DataFusionError::External(Box::new(
                PlanError::UndefinedOperator(format!("{l} {op} {r}")),
            )));
        }
        Ok(())
    }
}

impl FunctionRewrite for TextComparisonCheck {
    fn name(&self) -> &str {
        "freshet_text_comparison_check"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        use datafusion_expr::Operator as O;
        match &expr {
            Expr::BinaryExpr(datafusion_expr::BinaryExpr { left, op, right })
                if matches!(op, O::Eq | O::NotEq | O::Lt | O::LtEq | O::Gt | O::GtEq) =>
            {
                let op = if *op == O::NotEq {
                    "<>".to_string()
                } else {
                    op.to_string()
                };
                Self::check(left, &op, right, schema)?;
            }
            Expr::InList(datafusion_expr::expr::InList { expr: x, list, .. }) => {
                for item in list {
                    Self::check(x, "=", item, schema)?;
                }
            }
            _ => {}
        }
        Ok(Transformed::no(expr))
    }
}
