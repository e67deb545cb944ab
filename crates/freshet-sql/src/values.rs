//! PostgreSQL's type resolution for the columns of a multi-row `VALUES`
//! list, where DataFusion's is stricter:
//!
//! * a string literal is of type `unknown` and takes the column's type
//!   from the other rows: `VALUES (ARRAY[1]), ('{2}')` is an `integer[]`
//!   column. DataFusion has no `unknown` type and fails to unify `List` and
//!   `Utf8`; the literal is wrapped in the marker [`UNKNOWN`], typed
//!   `Null`, which DataFusion skips when it unifies the rows and then casts
//!   to the column's type.
//! * DataFusion insists that the rows of a column agree on their Arrow field
//!   metadata, where Freshet keeps the type modifiers of `varchar(n)`,
//!   `char(n)` and `numeric(p, s)`: a `NULL` beside the only typed cast of
//!   a column becomes a `NULL` of that type, and where the rows disagree,
//!   the casts are widened to the type without modifier (`numeric`,
//!   `text`), as PostgreSQL drops a modifier its rows do not share.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{Result as DfResult, not_impl_err};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, SetExpr, Statement, Value,
    VisitMut, VisitorMut,
};

use crate::expr::ScalarExpr;
use crate::repr::ScalarType;

/// The marker for a string literal of a `VALUES` column typed by its other
/// rows.
pub const UNKNOWN: &str = "freshet_unknown_literal";

/// Resolves the column types of the multi-row `VALUES` lists of
/// `statement` as PostgreSQL does (see the module documentation).
pub fn rewrite_values(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewrite);
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn rewrite_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Values(values) if values.rows.len() > 1 => {
            let width = values.rows.iter().map(|r| r.len()).max().unwrap_or(0);
            for j in 0..width {
                let mut column: Vec<&mut Expr> = values
                    .rows
                    .iter_mut()
                    .filter_map(|r| r.get_mut(j))
                    .collect();
                resolve_unknown_literals(&mut column);
                resolve_modifiers(&mut column);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left);
            rewrite_set_expr(right);
        }
        _ => {}
    }
}

fn is_string_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)))
}

fn is_null(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Null))
}

/// Whether `e` is evidently an array: `ARRAY[...]` or a cast to an array
/// type.
fn is_array(e: &Expr) -> bool {
    match e {
        Expr::Array(_) => true,
        Expr::Cast { data_type, .. } => matches!(data_type, SqlType::Array(_)),
        Expr::Nested(inner) => is_array(inner),
        _ => false,
    }
}

/// String literals beside arrays take the arrays' type.
fn resolve_unknown_literals(column: &mut [&mut Expr]) {
    if !column.iter().any(|e| is_array(e)) {
        return;
    }
    for e in column.iter_mut() {
        if is_string_literal(e) {
            let literal = std::mem::replace(&mut **e, Expr::value(Value::Null));
            **e = call(UNKNOWN, literal);
        }
    }
}

/// The type of a cast whose Arrow field carries Freshet's type metadata.
fn modified_cast_type(e: &Expr) -> Option<(SqlType, ScalarType)> {
    let Expr::Cast { data_type, .. } = e else {
        return None;
    };
    let typ = super::types::scalar_type_from_sql(data_type).ok()?;
    let carries_metadata = !typ.to_field("", true).metadata().is_empty();
    carries_metadata.then(|| (data_type.clone(), typ))
}

/// Casts to types with modifiers (see the module documentation).
fn resolve_modifiers(column: &mut [&mut Expr]) {
    let typed: Vec<(SqlType, ScalarType)> = column
        .iter()
        .filter_map(|e| modified_cast_type(e))
        .collect();
    let Some((sql_type, first)) = typed.first().cloned() else {
        return;
    };
    let all_same = typed.iter().all(|(_, t)| *t == first);
    let others_null = column
        .iter()
        .all(|e| is_null(e) || modified_cast_type(e).is_some());
    if all_same && others_null {
        for e in column.iter_mut() {
            if is_null(e) {
                **e = cast(Expr::value(Value::Null), sql_type.clone());
            }
        }
        return;
    }
    for e in column.iter_mut() {
        if modified_cast_type(e).is_some() {
            let inner = std::mem::replace(&mut **e, Expr::value(Value::Null));
            **e = call(WITHOUT_MODIFIER, inner);
        }
    }
}

/// A call of the function `name` with the one argument `arg`.
pub(super) fn call(name: &str, arg: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn cast(e: Expr, data_type: SqlType) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(Expr::Nested(Box::new(e))),
        data_type,
        array: false,
        format: None,
    }
}

/// The marker for a value whose type modifier the column drops: the same
/// value, typed without Freshet's field metadata.
pub const WITHOUT_MODIFIER: &str = "freshet_without_modifier";

/// An identity function that keeps its argument's field: the planner
/// names a call of it after the function, not after the cast inside, so
/// `avg(freshet_same(x::real))` no longer collides with `avg(x)`
/// ([`super::output_names`]).
pub const SAME: &str = "freshet_same";

/// An identity function around a `VALUES` item whose type decides its
/// column's (see [`super::float_unify`]): it marks where the item ends and
/// the cast DataFusion adds to the column's type begins.
pub const ITEM: &str = "freshet_values_item";

/// The [`UNKNOWN`], [`WITHOUT_MODIFIER`], [`SAME`] and [`ITEM`] marker
/// functions.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ValuesMarker {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for ValuesMarker {
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
        Ok(match (self.name, arg_types) {
            // Untyped: the VALUES list casts it to its column's type.
            (UNKNOWN, _) => DataType::Null,
            (_, [t]) => t.clone(),
            _ => DataType::Null,
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        match (self.name, args.arg_fields) {
            (SAME | ITEM, [field]) => Ok(field.clone()),
            _ => {
                let types = args
                    .arg_fields
                    .iter()
                    .map(|f| f.data_type().clone())
                    .collect::<Vec<_>>();
                Ok(Arc::new(Field::new(
                    self.name,
                    self.return_type(&types)?,
                    true,
                )))
            }
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet, not DataFusion", self.name)
    }
}

/// The marker functions, for the planner's function registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [UNKNOWN, WITHOUT_MODIFIER, SAME, ITEM]
        .into_iter()
        .map(|name| {
            Arc::new(ScalarUDF::new_from_impl(ValuesMarker {
                name,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// Lowers a call of a marker: its argument (the cast around an unknown
/// literal converts it).
pub fn lower_call(name: &str, args: &[ScalarExpr]) -> Option<ScalarExpr> {
    match (name, args) {
        (UNKNOWN | WITHOUT_MODIFIER | SAME | ITEM, [arg]) => Some(arg.clone()),
        _ => None,
    }
}
