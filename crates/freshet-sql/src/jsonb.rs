//! `jsonb` operators and functions in DataFusion's planner: `->` and `->>`
//! become calls of two marker functions, which Freshet lowers to its own
//! evaluation ([`crate::expr::func::BinaryFunc::JsonbGet`]); the other
//! operators (`#>`, `#>>`, `#-`, `@>`, `<@`, `?`, `?|`, `?&`, `||`, `-`)
//! become marker calls too, and they and the `jsonb_*` functions lower to
//! [`crate::expr::jsonb::JsonbFunc`] ([`lower_call`]), with PostgreSQL's
//! argument types checked there. DataFusion never runs any of them.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::DataType;
use datafusion_common::{DFSchema, Result as DfResult, ScalarValue, not_impl_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use sqlparser::ast::BinaryOperator;

use crate::expr::ScalarExpr;
use crate::expr::func::VariadicFunc;
use crate::expr::jsonb::JsonbFunc;
use crate::repr::ScalarType;
use crate::repr::types::{json_arrow_type, jsonb_arrow_type};

use super::PlanError;

/// The name of the marker function for `->`.
pub const JSONB_GET: &str = "freshet_jsonb_get";
/// The name of the marker function for `->>`.
pub const JSONB_GET_TEXT: &str = "freshet_jsonb_get_text";

/// `jsonb -> key` (`text: false`) or `jsonb ->> key` (`text: true`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonbGet {
    text: bool,
    signature: Signature,
}

impl JsonbGet {
    fn new(text: bool) -> Self {
        JsonbGet {
            text,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonbGet {
    fn name(&self) -> &str {
        if self.text { JSONB_GET_TEXT } else { JSONB_GET }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.text {
            DataType::Utf8
        } else if arg_types.first() == Some(&json_arrow_type()) {
            // `json -> key` is `json`.
            json_arrow_type()
        } else {
            jsonb_arrow_type()
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name())
    }
}

/// Plans `->`, `->>` and the other `jsonb` operators.
#[derive(Debug, Default)]
pub struct JsonbPlanner;

impl ExprPlanner for JsonbPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let text = match expr.op {
            BinaryOperator::Arrow => false,
            BinaryOperator::LongArrow => true,
            _ => return Ok(plan_jsonb_operator(expr, _schema)),
        };
        let udf = Arc::new(ScalarUDF::new_from_impl(JsonbGet::new(text)));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf, vec![expr.left, expr.right]),
        )))
    }
}

// ---------------------------------------------------------------------------
// The other jsonb operators and the jsonb functions.
// ---------------------------------------------------------------------------

/// The prefix of the marker functions of the other `jsonb` operators
/// (`#>`, `@>`, `?`, `||`, `-`, ...): the operator's symbol follows.
pub const JSONB_OPERATOR_PREFIX: &str = "freshet_jsonb_op ";

/// A `jsonb` operator or function as DataFusion's planner sees it: a name
/// and a result type. Arguments are not coerced; [`lower_call`] checks
/// them and lowers the call to [`crate::expr::jsonb::JsonbFunc`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonbCall {
    name: String,
    return_type: DataType,
    signature: Signature,
}

impl JsonbCall {
    fn udf(name: String, return_type: DataType) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(JsonbCall {
            name,
            return_type,
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    }
}

impl ScalarUDFImpl for JsonbCall {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name())
    }
}

/// What a function's parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    /// `jsonb` (or an untyped literal, read as `jsonb`).
    Jsonb,
    /// `json` (or an untyped literal, read as `json`).
    Json,
    /// `text` (or an untyped literal).
    Text,
    /// `text[]` (or an untyped literal, read as `text[]`).
    TextArray,
    /// `boolean`.
    Bool,
    /// Any value (an untyped literal is `text`).
    Any,
}

/// A `jsonb` function: its name, parameters (the last repeated if
/// `variadic`), result type and evaluation.
struct FunctionDef {
    name: &'static str,
    params: &'static [Param],
    /// Optional trailing parameters.
    optional: usize,
    variadic: bool,
    result: fn() -> DataType,
    func: JsonbFunc,
}

fn text_type() -> DataType {
    DataType::Utf8
}

fn int_type() -> DataType {
    DataType::Int32
}

/// The `jsonb` and `json` functions PostgreSQL 15 has that Freshet
/// evaluates. The `json` versions share the `jsonb` evaluation, which
/// reads a `json` argument as written (`crate::expr::json`).
const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef {
        name: "json_typeof",
        params: &[Param::Json],
        optional: 0,
        variadic: false,
        result: text_type,
        func: JsonbFunc::TypeOf,
    },
    FunctionDef {
        name: "json_array_length",
        params: &[Param::Json],
        optional: 0,
        variadic: false,
        result: int_type,
        func: JsonbFunc::ArrayLength,
    },
    FunctionDef {
        name: "json_extract_path",
        params: &[Param::Json, Param::Text],
        optional: 0,
        variadic: true,
        result: json_arrow_type,
        func: JsonbFunc::GetPath {
            text: false,
            variadic: true,
        },
    },
    FunctionDef {
        name: "json_extract_path_text",
        params: &[Param::Json, Param::Text],
        optional: 0,
        variadic: true,
        result: text_type,
        func: JsonbFunc::GetPath {
            text: true,
            variadic: true,
        },
    },
    FunctionDef {
        name: "jsonb_typeof",
        params: &[Param::Jsonb],
        optional: 0,
        variadic: false,
        result: text_type,
        func: JsonbFunc::TypeOf,
    },
    FunctionDef {
        name: "jsonb_array_length",
        params: &[Param::Jsonb],
        optional: 0,
        variadic: false,
        result: int_type,
        func: JsonbFunc::ArrayLength,
    },
    FunctionDef {
        name: "jsonb_build_object",
        params: &[Param::Any],
        optional: 1,
        variadic: true,
        result: jsonb_arrow_type,
        func: JsonbFunc::BuildObject,
    },
    FunctionDef {
        name: "json_build_object",
        params: &[Param::Any],
        optional: 1,
        variadic: true,
        result: json_arrow_type,
        func: JsonbFunc::JsonBuildObject,
    },
    FunctionDef {
        name: "jsonb_build_array",
        params: &[Param::Any],
        optional: 1,
        variadic: true,
        result: jsonb_arrow_type,
        func: JsonbFunc::BuildArray,
    },
    FunctionDef {
        name: "to_jsonb",
        params: &[Param::Any],
        optional: 0,
        variadic: false,
        result: jsonb_arrow_type,
        func: JsonbFunc::ToJsonb,
    },
    FunctionDef {
        name: "to_json",
        params: &[Param::Any],
        optional: 0,
        variadic: false,
        result: json_arrow_type,
        func: JsonbFunc::ToJson,
    },
    FunctionDef {
        name: super::whole_row::ROW_TO_JSON,
        params: &[Param::Any],
        optional: 0,
        variadic: true,
        result: json_arrow_type,
        func: JsonbFunc::RowToJson,
    },
    FunctionDef {
        name: "json_build_array",
        params: &[Param::Any],
        optional: 1,
        variadic: true,
        result: json_arrow_type,
        func: JsonbFunc::JsonBuildArray,
    },
    FunctionDef {
        name: "jsonb_strip_nulls",
        params: &[Param::Jsonb],
        optional: 0,
        variadic: false,
        result: jsonb_arrow_type,
        func: JsonbFunc::StripNulls,
    },
    FunctionDef {
        name: "jsonb_pretty",
        params: &[Param::Jsonb],
        optional: 0,
        variadic: false,
        result: text_type,
        func: JsonbFunc::Pretty,
    },
    FunctionDef {
        name: "jsonb_extract_path",
        params: &[Param::Jsonb, Param::Text],
        optional: 0,
        variadic: true,
        result: jsonb_arrow_type,
        func: JsonbFunc::GetPath {
            text: false,
            variadic: true,
        },
    },
    FunctionDef {
        name: "jsonb_extract_path_text",
        params: &[Param::Jsonb, Param::Text],
        optional: 0,
        variadic: true,
        result: text_type,
        func: JsonbFunc::GetPath {
            text: true,
            variadic: true,
        },
    },
    FunctionDef {
        name: "jsonb_set",
        params: &[Param::Jsonb, Param::TextArray, Param::Jsonb, Param::Bool],
        optional: 1,
        variadic: false,
        result: jsonb_arrow_type,
        func: JsonbFunc::Set,
    },
    FunctionDef {
        name: "jsonb_insert",
        params: &[Param::Jsonb, Param::TextArray, Param::Jsonb, Param::Bool],
        optional: 1,
        variadic: false,
        result: jsonb_arrow_type,
        func: JsonbFunc::Insert,
    },
];

/// The `jsonb` functions, for the planner's registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    FUNCTIONS
        .iter()
        .map(|f| JsonbCall::udf(f.name.to_string(), (f.result)()))
        .collect()
}

/// The marker function of `op` with result type `return_type`.
fn operator(op: &str, return_type: DataType, left: Expr, right: Expr) -> Expr {
    let udf = JsonbCall::udf(format!("{JSONB_OPERATOR_PREFIX}{op}"), return_type);
    Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![left, right]))
}

/// Whether `e` is an untyped literal (a string or NULL), which PostgreSQL
/// resolves to the type the operator or function needs.
fn is_untyped(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Literal(
            ScalarValue::Utf8(_)
                | ScalarValue::Utf8View(_)
                | ScalarValue::LargeUtf8(_)
                | ScalarValue::Null,
            _
        )
    )
}

fn is_jsonb(e: &Expr, schema: &DFSchema) -> bool {
    e.get_type(schema).is_ok_and(|t| t == jsonb_arrow_type())
}

/// Whether `e` is of type `json`.
pub fn is_json(e: &Expr, schema: &DFSchema) -> bool {
    e.get_type(schema).is_ok_and(|t| t == json_arrow_type())
}

/// Plans the `jsonb` operators other than `->`/`->>` as marker calls, when
/// an operand is `jsonb`; anything else is left to the other planners.
fn plan_jsonb_operator(expr: RawBinaryExpr, schema: &DFSchema) -> PlannerResult<RawBinaryExpr> {
    use BinaryOperator as B;
    let left = is_jsonb(&expr.left, schema);
    let right = is_jsonb(&expr.right, schema);
    let (symbol, return_type) = match &expr.op {
        // `json` has only the path operators.
        B::HashArrow if is_json(&expr.left, schema) => ("#>", json_arrow_type()),
        B::HashLongArrow if is_json(&expr.left, schema) => ("#>>", DataType::Utf8),
        B::HashArrow if left => ("#>", jsonb_arrow_type()),
        B::HashLongArrow if left => ("#>>", DataType::Utf8),
        B::HashMinus if left => ("#-", jsonb_arrow_type()),
        B::Question if left => ("?", DataType::Boolean),
        B::QuestionPipe if left => ("?|", DataType::Boolean),
        B::QuestionAnd if left => ("?&", DataType::Boolean),
        B::AtArrow if left || right => ("@>", DataType::Boolean),
        B::ArrowAt if left || right => ("<@", DataType::Boolean),
        // `jsonb || text` is text concatenation in PostgreSQL; only
        // `jsonb || jsonb` (or an untyped literal) is jsonb's.
        B::StringConcat
            if (left && (right || is_untyped(&expr.right)))
                || (right && is_untyped(&expr.left)) =>
        {
            ("||", jsonb_arrow_type())
        }
        B::Minus if left => ("-", jsonb_arrow_type()),
        _ => return PlannerResult::Original(expr),
    };
    PlannerResult::Planned(operator(symbol, return_type, expr.left, expr.right))
}

/// The PostgreSQL name of an argument's type, for messages (`unknown` for
/// an untyped literal).
fn type_name(e: &Expr, schema: &DFSchema) -> String {
    if is_untyped(e) {
        return "unknown".into();
    }
    e.to_field(schema)
        .ok()
        .and_then(|(_, f)| ScalarType::from_field(&f).ok())
        .map_or_else(|| "unknown".into(), |t| t.name())
}

/// Lowers one argument for a parameter of kind `param`; `None` if the
/// argument's type does not fit.
fn lower_arg(arg: &Expr, param: Param, schema: &DFSchema) -> Option<Result<ScalarExpr, PlanError>> {
    let lowered = || super::lower::lower_expr(arg, schema);
    let t = arg.get_type(schema).ok()?;
    let is_text = matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    );
    let fits = match param {
        Param::Any => true,
        Param::Jsonb => t == jsonb_arrow_type() || is_untyped(arg),
        Param::Json => t == json_arrow_type() || is_untyped(arg),
        Param::Text => is_text,
        Param::TextArray => {
            is_untyped(arg)
                || matches!(&t, DataType::List(f) | DataType::LargeList(f)
                    if matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
        }
        Param::Bool => matches!(t, DataType::Boolean | DataType::Null),
    };
    if !fits {
        return None;
    }
    Some(lowered().map(|e| match param {
        Param::Jsonb if is_untyped(arg) => e.cast(ScalarType::Jsonb),
        Param::Json if is_untyped(arg) => e.cast(ScalarType::Json),
        Param::TextArray if is_untyped(arg) => {
            e.cast(ScalarType::Array(Box::new(ScalarType::Text)))
        }
        _ => e,
    }))
}

fn call(func: JsonbFunc, exprs: Vec<ScalarExpr>) -> ScalarExpr {
    ScalarExpr::CallVariadic {
        func: VariadicFunc::Jsonb(func),
        exprs,
    }
}

/// Lowers a call of a `jsonb` function or of an operator's marker over rows
/// of `schema`; `None` for other functions. Arguments of the wrong types
/// fail as PostgreSQL's do: `42883` (no such function or operator).
pub fn lower_call(
    name: &str,
    args: &[Expr],
    schema: &DFSchema,
) -> Option<Result<ScalarExpr, PlanError>> {
    if let Some(op) = name.strip_prefix(JSONB_OPERATOR_PREFIX) {
        return Some(lower_operator(op, args, schema));
    }
    let def = FUNCTIONS.iter().find(|f| f.name == name)?;
    let signature = || {
        let types: Vec<String> = args.iter().map(|a| type_name(a, schema)).collect();
        PlanError::UnknownFunction(format!("{name}({})", types.join(", ")))
    };
    let required = def.params.len() - def.optional;
    if args.len() < required || (!def.variadic && args.len() > def.params.len()) {
        return Some(Err(signature()));
    }
    if matches!(def.func, JsonbFunc::ToJsonb | JsonbFunc::ToJson)
        && args.first().is_some_and(is_untyped)
    {
        return Some(Err(PlanError::TypeMismatch(
            "could not determine polymorphic type because input has type \"unknown\"".into(),
        )));
    }
    let mut exprs = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let param = def
            .params
            .get(i)
            .or(def.params.last())
            .copied()
            .unwrap_or(Param::Any);
        match lower_arg(arg, param, schema) {
            Some(Ok(e)) => exprs.push(e),
            Some(Err(e)) => return Some(Err(e)),
            None => return Some(Err(signature())),
        }
    }
    // A `json` function that shares a `jsonb` one's evaluation keeps its
    // own name for `EXPLAIN`.
    let func = if def.name.starts_with("json_") && def.func.name() != def.name {
        JsonbFunc::Json(Box::new(def.func.clone()))
    } else {
        def.func.clone()
    };
    Some(Ok(call(func, exprs)))
}

fn lower_operator(op: &str, args: &[Expr], schema: &DFSchema) -> Result<ScalarExpr, PlanError> {
    let [left, right] = args else {
        return Err(PlanError::Internal(format!(
            "jsonb operator {op} without two operands"
        )));
    };
    let undefined = || {
        PlanError::UndefinedOperator(format!(
            "{} {op} {}",
            type_name(left, schema),
            type_name(right, schema)
        ))
    };
    let right_type = right.get_type(schema).map_err(PlanError::from_datafusion)?;
    let (func, right_param) = match op {
        "#>" => (
            JsonbFunc::GetPath {
                text: false,
                variadic: false,
            },
            Param::TextArray,
        ),
        "#>>" => (
            JsonbFunc::GetPath {
                text: true,
                variadic: false,
            },
            Param::TextArray,
        ),
        "#-" => (JsonbFunc::DeletePath, Param::TextArray),
        "?" => (JsonbFunc::Exists, Param::Text),
        "?|" => (JsonbFunc::ExistsAny, Param::TextArray),
        "?&" => (JsonbFunc::ExistsAll, Param::TextArray),
        "@>" => (JsonbFunc::Contains, Param::Jsonb),
        "<@" => (JsonbFunc::ContainedBy, Param::Jsonb),
        "||" => (JsonbFunc::Concat, Param::Jsonb),
        "-" => match right_type {
            DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                let l = lower_arg(left, Param::Jsonb, schema).ok_or_else(undefined)??;
                let r = super::lower::lower_expr(right, schema)?;
                return Ok(call(JsonbFunc::DeleteIndex, vec![l, r]));
            }
            DataType::List(_) | DataType::LargeList(_) => (JsonbFunc::DeleteKeys, Param::TextArray),
            _ => (JsonbFunc::DeleteKey, Param::Text),
        },
        other => {
            return Err(PlanError::Internal(format!(
                "unknown jsonb operator {other}"
            )));
        }
    };
    // `#>` and `#>>` take `json` too.
    let left_param = if is_json(left, schema) && matches!(op, "#>" | "#>>") {
        Param::Json
    } else {
        Param::Jsonb
    };
    let l = lower_arg(left, left_param, schema).ok_or_else(undefined)??;
    // An untyped literal on the right of `?` or `-` is text.
    let r = lower_arg(right, right_param, schema).ok_or_else(undefined)??;
    Ok(call(func, vec![l, r]))
}

/// `jsonb_agg(x)` or `jsonb_object_agg(key, value)` for planning: the
/// result is `jsonb` (`json` for `json_agg` and `json_object_agg`);
/// Freshet evaluates the aggregate ([`crate::expr::jsonb::jsonb_agg`],
/// [`crate::expr::json::json_agg`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonbAggregate {
    name: &'static str,
    arity: usize,
    signature: Signature,
}

impl datafusion_expr::AggregateUDFImpl for JsonbAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        if arg_types.len() != self.arity {
            let types = arg_types
                .iter()
                .map(|t| ScalarType::from_arrow(t).map_or_else(|_| t.to_string(), |t| t.name()))
                .collect::<Vec<_>>();
            return Err(datafusion_common::DataFusionError::External(Box::new(
                PlanError::UnknownFunction(format!("{}({})", self.name, types.join(", "))),
            )));
        }
        Ok(if self.name.starts_with("jsonb") {
            jsonb_arrow_type()
        } else {
            json_arrow_type()
        })
    }

    fn accumulator(
        &self,
        _args: datafusion_expr::function::AccumulatorArgs,
    ) -> DfResult<Box<dyn datafusion_expr::Accumulator>> {
        not_impl_err!("aggregate {} is evaluated by Freshet", self.name)
    }
}

/// `jsonb_agg` and `jsonb_object_agg`, for the planner's registry.
pub fn aggregate_functions() -> Vec<Arc<datafusion_expr::AggregateUDF>> {
    [
        ("jsonb_agg", 1),
        ("jsonb_object_agg", 2),
        ("json_agg", 1),
        ("json_object_agg", 2),
    ]
    .into_iter()
    .map(|(name, arity)| {
        Arc::new(datafusion_expr::AggregateUDF::new_from_impl(
            JsonbAggregate {
                name,
                arity,
                signature: Signature::user_defined(Volatility::Immutable),
            },
        ))
    })
    .collect()
}
