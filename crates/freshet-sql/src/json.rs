//! Planning rules of the `json` type that PostgreSQL enforces while
//! planning: `json` has no equality or ordering (`json = json` is `42883`,
//! as are `IN` lists of it, and grouping, `DISTINCT` and `ORDER BY` of
//! it), and it converts only to and from `jsonb` and
//! the string types (`'1'::json::int` is `42846`, [`super::casts`]). The operators and
//! functions on `json` are planned with the `jsonb` ones
//! ([`super::jsonb`]).
//!
//! DataFusion's type coercion would cast a `json` operand to text to
//! compare it with text (`json_col = 'x'`, `CASE json_col WHEN ...`), so
//! the comparisons are refused before it runs, by [`JsonOperatorCheck`]
//! in the analyzer, where each operand still has the type it was written
//! with.

use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion_common::{DFSchema, DataFusionError, Result as DfResult};
use datafusion_expr::expr::{
    AggregateFunction, Between, BinaryExpr, Case, Cast, InList, InSubquery, Like, ScalarFunction,
    SetComparison, WindowFunction,
};
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::logical_plan::Union;
use datafusion_expr::{
    Expr, ExprSchemable, LogicalPlan, Operator, SortExpr, WindowFunctionDefinition,
};

use crate::repr::{ScalarType, SqlState};

use super::PlanError;

/// The SQL type of `e`, if Freshet has one for it.
fn scalar_type(e: &Expr, schema: &DFSchema) -> Option<ScalarType> {
    e.to_field(schema)
        .ok()
        .and_then(|(_, f)| ScalarType::from_field(&f).ok())
}

/// A comparison `left op right` (`op` as PostgreSQL spells it: `=`, `<`,
/// ...) where an operand is `json`: PostgreSQL has no such operator.
pub fn check_comparison(
    op: &str,
    left: &Expr,
    right: &Expr,
    schema: &DFSchema,
) -> Result<(), PlanError> {
    check_operands(op, operand(left, schema), operand(right, schema))
}

/// An operand's type for [`check_operands`]: `None` for PostgreSQL's
/// `unknown` (an untyped literal) or a type Freshet does not know.
fn operand(e: &Expr, schema: &DFSchema) -> Option<ScalarType> {
    let untyped = super::unknown_literals::is_untyped_string(e)
        || matches!(e, Expr::Literal(datafusion_common::ScalarValue::Null, _));
    if untyped {
        None
    } else {
        scalar_type(e, schema)
    }
}

/// [`check_comparison`] of operands of the types `left` and `right`.
fn check_operands(
    op: &str,
    left: Option<ScalarType>,
    right: Option<ScalarType>,
) -> Result<(), PlanError> {
    if left != Some(ScalarType::Json) && right != Some(ScalarType::Json) {
        return Ok(());
    }
    let name = |t: Option<ScalarType>| t.map_or_else(|| "unknown".into(), |t| t.name());
    Err(PlanError::UndefinedOperator(format!(
        "{} {op} {}",
        name(left),
        name(right)
    )))
}

/// The first column's type of a subquery compared with a value.
fn subquery_type(plan: &datafusion_expr::LogicalPlan) -> Option<ScalarType> {
    let field = plan.schema().fields().first()?.clone();
    ScalarType::from_field(&field).ok()
}

/// PostgreSQL's spelling of a comparison operator.
fn comparison_symbol(op: &Operator) -> Option<&'static str> {
    Some(match op {
        Operator::Eq | Operator::IsDistinctFrom | Operator::IsNotDistinctFrom => "=",
        Operator::NotEq => "<>",
        Operator::Lt => "<",
        Operator::LtEq => "<=",
        Operator::Gt => ">",
        Operator::GtEq => ">=",
        Operator::LikeMatch => "~~",
        Operator::NotLikeMatch => "!~~",
        Operator::ILikeMatch => "~~*",
        Operator::NotILikeMatch => "!~~*",
        Operator::RegexMatch => "~",
        Operator::RegexIMatch => "~*",
        Operator::RegexNotMatch => "!~",
        Operator::RegexNotIMatch => "!~*",
        _ => return None,
    })
}

/// The operator of a `x <op> ANY/ALL (array)` marker call
/// ([`super::array::rewrite_quantified`]).
fn quantified_symbol(name: &str) -> Option<&'static str> {
    let op = name
        .strip_prefix("freshet_array_any_")
        .or_else(|| name.strip_prefix("freshet_array_all_"))?;
    Some(match op {
        "eq" => "=",
        "ne" => "<>",
        "lt" => "<",
        "le" => "<=",
        "gt" => ">",
        "ge" => ">=",
        _ => return None,
    })
}

/// Refuses, in DataFusion's analyzer and before its type coercion, every
/// use of a `json` value that compares or orders it: comparison and
/// pattern operators, `BETWEEN`, `IN`, `= ANY`, `CASE x WHEN`, `nullif`,
/// `greatest` and `least`, `DISTINCT` and `ORDER BY` inside aggregates,
/// `min` and `max`, and window partitions and orderings. PostgreSQL has
/// no operator for any of them (`42883`); type coercion would otherwise
/// compare the `json` value's text.
#[derive(Debug)]
pub struct JsonOperatorCheck;

impl FunctionRewrite for JsonOperatorCheck {
    fn name(&self) -> &str {
        "freshet_json_operator_check"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        check_expr(&expr, schema).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Transformed::no(expr))
    }
}

/// Keeps the type of a `CASE` whose results are all `json` (or all
/// `jsonb`), apart from untyped NULLs: DataFusion's type coercion unifies
/// them as text (the dictionary-encoded text they travel as), where
/// PostgreSQL's `CASE` is of the results' type. The `CASE` is cast back
/// to it, so that clients decode it as JSON (SQLAlchemy's reflection of
/// identity columns reads `CASE WHEN ... THEN (SELECT json_build_object(...))
/// ELSE NULL END`).
#[derive(Debug)]
pub struct JsonCaseType;

impl FunctionRewrite for JsonCaseType {
    fn name(&self) -> &str {
        "freshet_json_case_type"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::Case(Case {
            when_then_expr,
            else_expr,
            ..
        }) = &expr
        else {
            return Ok(Transformed::no(expr));
        };
        let results = else_expr
            .iter()
            .map(|e| e.as_ref())
            .chain(when_then_expr.iter().map(|(_, then)| then.as_ref()))
            .filter(|e| !matches!(e, Expr::Literal(v, _) if v.is_null()));
        let mut field = None;
        for result in results {
            let Ok((_, f)) = result.to_field(schema) else {
                return Ok(Transformed::no(expr));
            };
            let typ = ScalarType::from_field(&f).ok();
            if !matches!(typ, Some(ScalarType::Json | ScalarType::Jsonb)) {
                return Ok(Transformed::no(expr));
            }
            match &field {
                None => field = Some((typ, f)),
                Some((t, _)) if *t == typ => {}
                Some(_) => return Ok(Transformed::no(expr)),
            }
        }
        match field {
            Some((_, f)) => Ok(Transformed::yes(Expr::Cast(Cast::new_from_field(
                Box::new(expr),
                f,
            )))),
            None => Ok(Transformed::no(expr)),
        }
    }
}

/// Functions of text only (as DataFusion names them after planning).
/// PostgreSQL converts neither `json` nor `jsonb` to text implicitly, so
/// `upper(j)` or `length(j)` does not exist there (`42883`); DataFusion's
/// string functions would take the dictionary-encoded text they travel
/// as. (`concat`, `format` and `||` take any type, in PostgreSQL too.)
const TEXT_FUNCTIONS: &[&str] = &[
    "ascii",
    "bit_length",
    "btrim",
    "char_length",
    "character_length",
    "initcap",
    "left",
    "length",
    "levenshtein",
    "lower",
    "lpad",
    "ltrim",
    "octet_length",
    "overlay",
    "regexp_count",
    "regexp_like",
    "regexp_match",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "string_to_array",
    "strpos",
    "substr",
    "substring",
    "translate",
    "upper",
];

/// The [`JsonOperatorCheck`] of one expression node (its operands are
/// checked on their own).
fn check_expr(e: &Expr, schema: &DFSchema) -> Result<(), PlanError> {
    let is_json = |e: &Expr| scalar_type(e, schema) == Some(ScalarType::Json);
    let is_json_or_jsonb = |e: &Expr| {
        matches!(
            scalar_type(e, schema),
            Some(ScalarType::Json | ScalarType::Jsonb)
        )
    };
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let Some(symbol) = comparison_symbol(op) {
                check_comparison(symbol, left, right, schema)?;
            }
        }
        Expr::Like(Like {
            negated,
            expr,
            pattern,
            case_insensitive,
            ..
        }) => {
            let symbol = match (negated, case_insensitive) {
                (false, false) => "~~",
                (true, false) => "!~~",
                (false, true) => "~~*",
                (true, true) => "!~~*",
            };
            check_comparison(symbol, expr, pattern, schema)?;
        }
        Expr::SimilarTo(Like {
            negated,
            expr,
            pattern,
            ..
        }) => check_comparison(if *negated { "!~" } else { "~" }, expr, pattern, schema)?,
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let (low_op, high_op) = if *negated { ("<", ">") } else { (">=", "<=") };
            check_comparison(low_op, expr, low, schema)?;
            check_comparison(high_op, expr, high, schema)?;
        }
        Expr::Case(Case {
            expr,
            when_then_expr,
            else_expr,
        }) => {
            if let Some(operand) = expr {
                for (when, _) in when_then_expr {
                    check_comparison("=", operand, when, schema)?;
                }
            }
            // PostgreSQL resolves the ELSE result first.
            let results = else_expr
                .iter()
                .map(|e| e.as_ref())
                .chain(when_then_expr.iter().map(|(_, then)| then.as_ref()));
            check_common_type("CASE", results, schema)?;
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            for item in list {
                check_comparison(if *negated { "<>" } else { "=" }, expr, item, schema)?;
            }
        }
        Expr::InSubquery(InSubquery { expr, subquery, .. }) => {
            check_operands(
                "=",
                operand(expr, schema),
                subquery_type(&subquery.subquery),
            )?;
        }
        Expr::SetComparison(SetComparison {
            expr, subquery, op, ..
        }) => {
            if let Some(symbol) = comparison_symbol(op) {
                check_operands(
                    symbol,
                    operand(expr, schema),
                    subquery_type(&subquery.subquery),
                )?;
            }
        }
        Expr::ScalarFunction(ScalarFunction { func, args }) => match func.name() {
            "greatest" | "least" if args.iter().any(is_json) => {
                let name = func.name().to_uppercase();
                check_common_type(&name, args.iter(), schema)?;
                return Err(PlanError::MissingComparison("json".into()));
            }
            "coalesce" => check_common_type("COALESCE", args.iter(), schema)?,
            name if TEXT_FUNCTIONS.contains(&name) && args.iter().any(is_json_or_jsonb) => {
                let types: Vec<String> = args
                    .iter()
                    .map(|a| operand(a, schema).map_or_else(|| "unknown".into(), |t| t.name()))
                    .collect();
                return Err(PlanError::UnknownFunction(format!(
                    "{name}({})",
                    types.join(", ")
                )));
            }
            "nullif" if args.len() == 2 => check_comparison("=", &args[0], &args[1], schema)?,
            name => {
                if let Some(symbol) = quantified_symbol(name)
                    && let [left, array] = args.as_slice()
                {
                    let element = match array.to_field(schema) {
                        Ok((_, f)) => match ScalarType::from_field(&f) {
                            Ok(ScalarType::Array(element)) => Some(*element),
                            _ => None,
                        },
                        Err(_) => None,
                    };
                    check_operands(symbol, operand(left, schema), element)?;
                }
            }
        },
        Expr::AggregateFunction(AggregateFunction { func, params }) => {
            check_aggregate(
                func.name(),
                &params.args,
                params.distinct,
                &params.order_by,
                schema,
            )?;
        }
        Expr::WindowFunction(w) => {
            let WindowFunction { fun, params } = w.as_ref();
            if let WindowFunctionDefinition::AggregateUDF(f) = fun {
                check_aggregate(f.name(), &params.args, params.distinct, &[], schema)?;
            }
            for p in &params.partition_by {
                check_key(p, schema, false)?;
            }
            for s in &params.order_by {
                check_key(&s.expr, schema, true)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The values of a `CASE`, `coalesce`, `greatest` or `least` (`what`)
/// must have one type; `json` converts implicitly to no other type, and
/// none to it, so `json` among other types is `42804`, named as
/// PostgreSQL names the first two types that differ. (DataFusion would
/// convert the `json` values to text.) Untyped literals and NULL take the
/// others' type.
fn check_common_type<'a>(
    what: &str,
    values: impl Iterator<Item = &'a Expr>,
    schema: &DFSchema,
) -> Result<(), PlanError> {
    let types: Vec<ScalarType> = values.filter_map(|v| operand(v, schema)).collect();
    check_types_match(what, &types)
}

/// [`check_common_type`] of values of the types `types` (untyped ones
/// left out).
fn check_types_match(what: &str, types: &[ScalarType]) -> Result<(), PlanError> {
    if !types.contains(&ScalarType::Json) {
        return Ok(());
    }
    let Some(first) = types.first() else {
        return Ok(());
    };
    let json_pair = |a: &ScalarType, b: &ScalarType| {
        matches!(
            (a, b),
            (ScalarType::Json, ScalarType::Jsonb) | (ScalarType::Jsonb, ScalarType::Json)
        )
    };
    match types.iter().find(|t| *t != first) {
        // `jsonb` converts to `json` (and back) by assignment only: the
        // first type is chosen and the other does not convert to it.
        Some(other) if json_pair(first, other) => Err(PlanError::InvalidLiteral {
            code: SqlState::CANNOT_COERCE,
            message: format!(
                "{} could not convert type {} to {}",
                if what == "CASE" { "CASE/WHEN" } else { what },
                other.name(),
                first.name()
            ),
        }),
        Some(other) => Err(PlanError::TypeMismatch(format!(
            "{what} types {} and {} cannot be matched",
            first.name(),
            other.name()
        ))),
        None => Ok(()),
    }
}

/// The `UNION`s of `plan` (and of its subqueries): a column that is
/// `json` in one input must be `json` (or an untyped literal) in all, as
/// [`check_common_type`] requires of `CASE`. Checked before DataFusion's
/// type coercion, which would convert the `json` values to text.
pub fn check_unions(plan: &LogicalPlan) -> Result<(), PlanError> {
    let mut result = Ok(());
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Union(u) = node
            && let Err(e) = check_union(u)
        {
            result = Err(e);
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    result
}

fn check_union(u: &Union) -> Result<(), PlanError> {
    for i in 0..u.schema.fields().len() {
        let types: Vec<ScalarType> = u
            .inputs
            .iter()
            .filter_map(|input| union_column_type(input, i))
            .collect();
        check_types_match("UNION", &types)?;
    }
    Ok(())
}

/// The type of column `i` of a `UNION` input; `None` for an untyped
/// literal (`SELECT 'x'`), which takes the other inputs' type.
fn union_column_type(plan: &LogicalPlan, i: usize) -> Option<ScalarType> {
    if let LogicalPlan::Projection(p) = plan
        && let Some(e) = p.expr.get(i)
    {
        let e = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            e => e,
        };
        if super::unknown_literals::is_untyped_string(e)
            || matches!(e, Expr::Literal(datafusion_common::ScalarValue::Null, _))
        {
            return None;
        }
    }
    let field = plan.schema().fields().get(i)?.clone();
    ScalarType::from_field(&field).ok()
}

/// An aggregate call over `json` arguments: `DISTINCT` needs equality,
/// `ORDER BY` ordering; and `min` and `max` have no `json`, `jsonb`,
/// `boolean`, `bytea` or `uuid` version.
fn check_aggregate(
    name: &str,
    args: &[Expr],
    distinct: bool,
    order_by: &[SortExpr],
    schema: &DFSchema,
) -> Result<(), PlanError> {
    if matches!(name, "min" | "max")
        && let [arg] = args
        && let Some(
            t @ (ScalarType::Json
            | ScalarType::Jsonb
            | ScalarType::Bool
            | ScalarType::Bytea
            | ScalarType::Uuid),
        ) = scalar_type(arg, schema)
    {
        // PostgreSQL 15 has no `min` or `max` of these types (`bool_and`
        // and `bool_or` are the boolean ones).
        return Err(PlanError::UnknownFunction(format!("{name}({})", t.name())));
    }
    if distinct {
        for a in args {
            check_key(a, schema, false)?;
        }
    }
    for s in order_by {
        check_key(&s.expr, schema, true)?;
    }
    Ok(())
}

/// A join key pair (`USING`, or the rows `INTERSECT ALL` and `EXCEPT ALL`
/// match, which compare NULLs as equal: `set_operation`): `json` has no
/// equality.
pub fn check_join_key(
    left: &Expr,
    left_schema: &DFSchema,
    right: &Expr,
    right_schema: &DFSchema,
    set_operation: bool,
) -> Result<(), PlanError> {
    let l = scalar_type(left, left_schema);
    let r = scalar_type(right, right_schema);
    if set_operation && (l == Some(ScalarType::Json) || r == Some(ScalarType::Json)) {
        return Err(PlanError::MissingOperator(
            "equality operator for type json".into(),
        ));
    }
    check_operands("=", l, r)
}

/// A `GROUP BY` key (`ordering: false`) or `ORDER BY` key (`true`): `json`
/// has neither equality nor ordering.
pub fn check_key(e: &Expr, schema: &DFSchema, ordering: bool) -> Result<(), PlanError> {
    if scalar_type(e, schema) != Some(ScalarType::Json) {
        return Ok(());
    }
    let which = if ordering { "ordering" } else { "equality" };
    Err(PlanError::MissingOperator(format!(
        "{which} operator for type json"
    )))
}

/// `SELECT DISTINCT` (or `UNION`) over rows of `schema`: every column is
/// compared, so none may be `json`.
pub fn check_distinct(schema: &DFSchema) -> Result<(), PlanError> {
    for field in schema.fields() {
        if ScalarType::from_field(field).ok() == Some(ScalarType::Json) {
            return Err(PlanError::MissingOperator(
                "equality operator for type json".into(),
            ));
        }
    }
    Ok(())
}
