//! `ARRAY(subquery)`: an array of the subquery's values (in its `ORDER BY`
//! order), empty (not NULL) when it has no rows. psql's `\d` queries use it
//! (`array(select rolname from pg_roles where ... order by 1)`,
//! `array(select 'toast.' || x from unnest(tc.reloptions) x)`); DataFusion
//! does not know it, so [`rewrite`] replaces it before planning:
//!
//! * over `unnest(a) [AS] x` alone (no `WHERE`, `ORDER BY`, ...), with a
//!   value computed from `x` alone, it is a map over the array's elements:
//!   `__freshet_array_map(a, e)`, where `e` reads the element through
//!   `__freshet_array_element(a)`; it is lowered to
//!   [`ScalarExpr::ArrayMap`], evaluated row by row (DataFusion cannot
//!   decorrelate a subquery over an outer row's array);
//! * otherwise, a simple `SELECT e FROM ... [WHERE ...] [ORDER BY ...]`
//!   becomes `__freshet_array_or_empty((SELECT array_agg(e ORDER BY ...)
//!   FROM ... WHERE ...))`, an aggregate subquery that DataFusion plans
//!   (and decorrelates) like any other, with `'{}'` for no rows.
//!
//! Other forms (`DISTINCT`, `GROUP BY`, `LIMIT`, set operations) fail with
//! `0A000`.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, Result as DfResult, not_impl_err, plan_err};
use datafusion_expr::expr::ScalarFunction;
use datafusion_expr::{
    ColumnarValue, Expr as DfExpr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, OrderByKind, Query,
    SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut, VisitorMut,
};

use super::PlanError;
use crate::expr::ScalarExpr;
use crate::repr::{Datum, ScalarType};

/// `coalesce(x, '{}')` for an array `x` of any type.
pub const ARRAY_OR_EMPTY: &str = "__freshet_array_or_empty";
/// `array_map(a, e)`: `e` of each element of `a`.
pub const ARRAY_MAP: &str = "__freshet_array_map";
/// The element `e` of [`ARRAY_MAP`] is computed from.
pub const ARRAY_ELEMENT: &str = "__freshet_array_element";
/// The column the element is, while a map's body is lowered.
const ELEMENT_COLUMN: &str = "__freshet_element";

/// Rewrites every `ARRAY(subquery)` of `statement` (see the module docs).
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    match statement.visit(&mut Rewrite) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = PlanError;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<PlanError> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let is_array = match f.name.0.as_slice() {
            [part] => part
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("array")),
            _ => false,
        };
        let FunctionArguments::Subquery(query) = &f.args else {
            return ControlFlow::Continue(());
        };
        if !is_array {
            return ControlFlow::Continue(());
        }
        match rewrite_array(query) {
            Ok(new) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn parse(sql: &str) -> Result<Expr, PlanError> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| PlanError::Internal(format!("ARRAY(subquery) rewrite: {e}")))
}

fn unsupported(what: &str) -> PlanError {
    PlanError::Unsupported(format!("ARRAY(subquery) with {what}"))
}

fn rewrite_array(query: &Query) -> Result<Expr, PlanError> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(unsupported("a set operation or VALUES"));
    };
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(unsupported("LIMIT, OFFSET or FETCH"));
    }
    if select.distinct.is_some() {
        return Err(unsupported("DISTINCT"));
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        || select.having.is_some()
    {
        return Err(unsupported("GROUP BY or HAVING"));
    }
    let (value, alias) = match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(e)] => (e.clone(), None),
        [SelectItem::ExprWithAlias { expr, alias }] => (expr.clone(), Some(alias.value.clone())),
        _ => {
            return Err(PlanError::Syntax(
                "subquery must return only one column".into(),
            ));
        }
    };
    if query.with.is_none()
        && query.order_by.is_none()
        && select.selection.is_none()
        && let Some((array, column)) = unnest_source(select)
    {
        let mut body = value;
        let element = parse(&format!("{ARRAY_ELEMENT}({array})"))?;
        let _ = body.visit(&mut ReplaceColumn {
            column: &column,
            with: &element,
        });
        return parse(&format!("{ARRAY_MAP}({array}, {body})"));
    }
    let mut order = Vec::new();
    if let Some(order_by) = &query.order_by {
        let OrderByKind::Expressions(keys) = &order_by.kind else {
            return Err(unsupported("ORDER BY ALL"));
        };
        for key in keys {
            let mut key = key.clone();
            let positional =
                matches!(&key.expr, Expr::Value(v) if v.value == Value::Number("1".into(), false));
            let by_alias = matches!(&key.expr, Expr::Identifier(i) if alias.as_deref() == Some(i.value.as_str()));
            if positional || by_alias {
                key.expr = value.clone();
            } else if matches!(&key.expr, Expr::Value(_)) {
                return Err(unsupported("this ORDER BY position"));
            }
            order.push(key.to_string());
        }
    }
    let order = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };
    let mut aggregated = query.clone();
    aggregated.order_by = None;
    if let SetExpr::Select(s) = aggregated.body.as_mut() {
        s.projection = vec![SelectItem::UnnamedExpr(parse(&format!(
            "array_agg({value}{order})"
        ))?)];
    }
    parse(&format!("{ARRAY_OR_EMPTY}(({aggregated}))"))
}

/// The array and the column name of a `FROM unnest(a) [AS] x` that is the
/// select's only source.
fn unnest_source(select: &sqlparser::ast::Select) -> Option<(Expr, String)> {
    let [from] = select.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let is_unnest = |name: &sqlparser::ast::ObjectName| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
            .collect();
        matches!(parts.as_slice(), [n] if n == "unnest")
            || matches!(parts.as_slice(), [s, n] if s == "pg_catalog" && n == "unnest")
    };
    let single = |args: &[FunctionArg]| match args {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e.clone()),
        _ => None,
    };
    let (array, alias) = match &from.relation {
        TableFactor::Table {
            name,
            args: Some(args),
            alias,
            with_ordinality: false,
            ..
        } if is_unnest(name) => (single(&args.args)?, alias),
        TableFactor::Function {
            name, args, alias, ..
        } if is_unnest(name) => (single(args)?, alias),
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } => match array_exprs.as_slice() {
            [a] => (a.clone(), alias),
            _ => return None,
        },
        _ => return None,
    };
    let column = match alias {
        Some(a) => match a.columns.as_slice() {
            [] => a.name.value.clone(),
            [c] => c.name.value.clone(),
            _ => return None,
        },
        None => "unnest".to_string(),
    };
    Some((array, column))
}

/// Replaces references to the unnested column (`x` or `x.x`).
struct ReplaceColumn<'a> {
    column: &'a str,
    with: &'a Expr,
}

impl VisitorMut for ReplaceColumn<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let hit = match expr {
            Expr::Identifier(i) => i.value == self.column,
            Expr::CompoundIdentifier(parts) => {
                matches!(parts.as_slice(), [t, c] if t.value == self.column && c.value == self.column)
            }
            _ => false,
        };
        if hit {
            *expr = self.with.clone();
        }
        ControlFlow::Continue(())
    }
}

/// The planning-only functions of this module.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Marker {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for Marker {
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
        match (self.name, arg_types) {
            (ARRAY_OR_EMPTY, [t]) => Ok(t.clone()),
            (ARRAY_ELEMENT, [DataType::List(f) | DataType::LargeList(f)]) => {
                Ok(f.data_type().clone())
            }
            // `unnest(NULL)`: PostgreSQL cannot type it either.
            (ARRAY_ELEMENT, _) => plan_err!("could not determine polymorphic type"),
            (ARRAY_MAP, [_, t]) => Ok(DataType::List(Arc::new(Field::new(
                "item",
                t.clone(),
                true,
            )))),
            _ => plan_err!("{} called with {} arguments", self.name, arg_types.len()),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        not_impl_err!("{} is evaluated by Freshet", self.name)
    }
}

/// The functions this module adds, for the planner's registry.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [ARRAY_OR_EMPTY, ARRAY_MAP, ARRAY_ELEMENT]
        .into_iter()
        .map(|name| {
            Arc::new(ScalarUDF::new_from_impl(Marker {
                name,
                signature: Signature::user_defined(Volatility::Immutable),
            }))
        })
        .collect()
}

/// Lowers this module's functions over rows of `schema`; `None` for other
/// functions.
pub fn lower_call(
    name: &str,
    args: &[DfExpr],
    schema: &DFSchema,
) -> Option<Result<ScalarExpr, PlanError>> {
    match (name, args) {
        (ARRAY_OR_EMPTY, [x]) => {
            Some(
                super::lower::lower_expr(x, schema).map(|x| ScalarExpr::CallVariadic {
                    func: crate::expr::func::VariadicFunc::Coalesce,
                    exprs: vec![x, ScalarExpr::Literal(Datum::Array(Vec::new()))],
                }),
            )
        }
        (ARRAY_MAP, [array, body]) => Some(lower_map(array, body, schema)),
        (ARRAY_ELEMENT, _) => Some(Err(PlanError::Internal(format!(
            "{ARRAY_ELEMENT} outside {ARRAY_MAP}"
        )))),
        _ => None,
    }
}

fn lower_map(array: &DfExpr, body: &DfExpr, schema: &DFSchema) -> Result<ScalarExpr, PlanError> {
    let array_type = array.get_type(schema).map_err(PlanError::from_datafusion)?;
    let element_type = match &array_type {
        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
        other => {
            return Err(PlanError::Internal(format!("{ARRAY_MAP} over {other}")));
        }
    };
    let element = DfExpr::Column(datafusion_common::Column::new_unqualified(ELEMENT_COLUMN));
    let local = body
        .clone()
        .transform_up(|e| match &e {
            DfExpr::ScalarFunction(ScalarFunction { func, .. }) if func.name() == ARRAY_ELEMENT => {
                Ok(Transformed::yes(element.clone()))
            }
            _ => Ok(Transformed::no(e)),
        })
        .map_err(PlanError::from_datafusion)?
        .data;
    if local
        .column_refs()
        .iter()
        .any(|c| c.name != ELEMENT_COLUMN || c.relation.is_some())
    {
        return Err(PlanError::Unsupported(
            "ARRAY(SELECT ... FROM unnest(...)) whose value reads columns other than the element"
                .into(),
        ));
    }
    let element_schema = DFSchema::from_unqualified_fields(
        vec![Field::new(ELEMENT_COLUMN, element_type, true)].into(),
        Default::default(),
    )
    .map_err(PlanError::from_datafusion)?;
    let body = super::lower::lower_expr(&local, &element_schema)?;
    let array = super::lower::lower_expr(array, schema)?;
    // Checked here so that a type mismatch is a planning error.
    ScalarType::from_arrow(&array_type).map_err(PlanError::Unsupported)?;
    Ok(ScalarExpr::ArrayMap {
        array: Box::new(array),
        body: Box::new(body),
    })
}
