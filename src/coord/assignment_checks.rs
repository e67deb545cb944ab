//! The types of the values DML stores into columns, checked against the
//! columns' as PostgreSQL checks them while planning
//! ([`crate::sql::assignment_casts`]): `INSERT`'s `VALUES` items or query
//! columns, `UPDATE`'s and `ON CONFLICT DO UPDATE`'s `SET` values. A value
//! of a type without an assignment cast to its column's is `42804`,
//! whatever the rows (`INSERT ... SELECT true WHERE false` too); an
//! untyped literal (`'abc'`, `NULL`, `DEFAULT`) is read by the column's
//! type instead.
//!
//! PostgreSQL types the items of an `INSERT`'s own `VALUES` list one by
//! one (`VALUES (1), ('2'), (now()::text)` into a `text` column is three
//! assignments, not a column resolved to one type first), so a multi-row
//! list is checked item by item before it is planned: items whose type
//! their form decides (numbers, `TRUE`) from the syntax, the others by
//! planning their row alone. Any other source (one row, a query) is
//! checked on its planned columns; there, an untyped literal is one only
//! as an item of the query's own select list (`INSERT ... SELECT '1'`),
//! as in PostgreSQL, where a subquery's or a `UNION`'s makes it `text`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_common::DFSchema;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_expr::expr::Cast;
use datafusion_expr::{Expr, LogicalPlan, Projection};
use sqlparser::ast::{
    Expr as SqlExpr, GroupByExpr, OrderBy, OrderByKind, Query, SelectItem, SetExpr, Value,
    ValueWithSpan,
};

use crate::catalog::{Catalog, CatalogItem, SearchPath};
use crate::repr::ScalarType;
use crate::sql::assignment_casts::{Assigned, check_assignment, is_unknown_literal, literal_type};
use crate::sql::plan::plan_statement;

use super::AdapterError;
use crate::sql::PlanError;

/// Checks the items of an `INSERT`'s multi-row `VALUES` list against the
/// columns at `positions` of `table`, row by row, before the list is
/// planned (where DataFusion would unify each column to one type first).
/// A row with more items than columns is left to the planner's error.
///
/// An item that is not of its column's type, for a column that is not of
/// a number type (whose mixes `float_unify` types), is then cast to the
/// column's type without modifiers (the value's conversion, which
/// PostgreSQL's assignment shares with the explicit cast; the modifiers
/// are applied as the row is stored): DataFusion could not unify `(1),
/// (true)` for a `text` column, which PostgreSQL stores as `1` and `true`.
pub(super) fn check_values_rows(
    catalog: &Catalog,
    path: &SearchPath,
    source: &mut Query,
    table: &CatalogItem,
    positions: &[usize],
) -> Result<(), AdapterError> {
    let SetExpr::Values(values) = source.body.as_mut() else {
        return Ok(());
    };
    if values.rows.len() < 2 {
        return Ok(());
    }
    let opaque = |e: &SqlExpr| !is_unknown_literal(e) && literal_type(e).is_none();
    // The items whose type only planning tells, each planned once, all in
    // one select list (they read no columns).
    let mut planned: BTreeMap<String, usize> = BTreeMap::new();
    let mut items: Vec<String> = Vec::new();
    for row in values.rows.iter().filter(|r| r.len() <= positions.len()) {
        for e in row.iter().filter(|e| opaque(e)) {
            let text = format!("({e})");
            if !planned.contains_key(&text) {
                planned.insert(text.clone(), items.len());
                items.push(text);
            }
        }
    }
    let types = if items.is_empty() {
        Vec::new()
    } else {
        // Named, since the planner refuses two items of one name.
        let list: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS \"__item_{i}\""))
            .collect();
        let statement = super::dml_sql::parse_one(&format!("SELECT {}", list.join(", ")))?;
        column_types(plan_statement(&catalog.scope(path), statement)?.schema())
    };
    // The columns with an item of a known type.
    let mut typed = vec![false; positions.len()];
    for row in &mut values.rows {
        if row.len() > positions.len() {
            continue;
        }
        for (j, (e, &p)) in row.iter_mut().zip(positions).enumerate() {
            let typ = if is_unknown_literal(e) {
                None
            } else if let Some(t) = literal_type(e) {
                Some(t)
            } else {
                planned
                    .get(&format!("({e})"))
                    .and_then(|&i| types.get(i).cloned().flatten())
            };
            check_column(table, p, typ.as_ref())?;
            if let (Some(typ), Some(column)) = (&typ, table.desc.columns.get(p)) {
                typed[j] = true;
                if let Some(to) = unifying_cast(typ, &column.typ) {
                    *e = super::dml_sql::parse_expr(&format!("CAST(({e}) AS {to})"))?;
                }
            }
        }
    }
    // A string literal beside typed items is read by the column's type
    // before planning too (`('2020-01-01'), (now())` for a `timestamp`
    // column), as PostgreSQL reads it, where DataFusion would take it
    // for text.
    for row in &mut values.rows {
        for (j, (e, &p)) in row.iter_mut().zip(positions).enumerate() {
            if let Some(column) = table.desc.columns.get(p)
                && typed[j]
                && is_unknown_literal(e)
                && !matches!(
                    e,
                    SqlExpr::Identifier(_)
                        | SqlExpr::Value(ValueWithSpan {
                            value: Value::Null,
                            ..
                        })
                )
                && let Some(to) = unifying_cast(&ScalarType::Text, &column.typ)
            {
                *e = super::dml_sql::parse_expr(&format!("CAST(({e}) AS {to})"))?;
            }
        }
    }
    Ok(())
}

/// The type (its name) an item of type `from` for a column of type `to`
/// is cast to before a multi-row `VALUES` list is planned, if any: the
/// column's type without modifiers (`text` for the string types), where
/// it differs from the item's and is not a number type.
fn unifying_cast(from: &ScalarType, to: &ScalarType) -> Option<String> {
    let is_string = |t: &ScalarType| t.is_string() || *t == ScalarType::Name;
    if to.is_number() || from.regtype_name() == to.regtype_name() {
        return None;
    }
    if is_string(to) {
        // A `char(n)` loses its padding on the way (`needs_unpadding`).
        return (!is_string(from) || needs_unpadding(from, to)).then(|| "text".to_string());
    }
    Some(to.regtype_name())
}

/// Which columns of an `INSERT`'s source are untyped literals, noted
/// before it is planned: the items of a one-row `VALUES` list, or of a
/// plain `SELECT`'s select list up to a wildcard (in parentheses or not),
/// except where `DISTINCT`, or `GROUP BY` or `ORDER BY` naming the column
/// by position, resolves it to `text` first (as PostgreSQL does); no
/// column of another query. `None` for a multi-row `VALUES` list, checked
/// before planning instead ([`check_values_rows`]).
pub(super) fn unknown_columns(source: &Query) -> Option<Vec<bool>> {
    fn positions<'a>(exprs: impl Iterator<Item = &'a SqlExpr>) -> Vec<usize> {
        exprs
            .filter_map(|e| match literal_type(e) {
                Some(ScalarType::Int32) => e.to_string().parse::<usize>().ok(),
                _ => None,
            })
            .collect()
    }
    fn of(body: &SetExpr, order_by: Option<&OrderBy>) -> Option<Vec<bool>> {
        match body {
            SetExpr::Values(values) => match values.rows.as_slice() {
                [row] => Some(row.iter().map(is_unknown_literal).collect()),
                _ => None,
            },
            SetExpr::Select(select) => {
                if select.distinct.is_some() {
                    return Some(Vec::new());
                }
                let mut unknown: Vec<bool> = select
                    .projection
                    .iter()
                    .map_while(|item| match item {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                            Some(is_unknown_literal(e))
                        }
                        _ => None,
                    })
                    .collect();
                let mut resolved = Vec::new();
                if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
                    resolved.extend(positions(exprs.iter()));
                }
                if let Some(OrderByKind::Expressions(exprs)) = order_by.map(|o| &o.kind) {
                    resolved.extend(positions(exprs.iter().map(|o| &o.expr)));
                }
                for k in resolved {
                    if let Some(u) = k.checked_sub(1).and_then(|j| unknown.get_mut(j)) {
                        *u = false;
                    }
                }
                Some(unknown)
            }
            SetExpr::Query(q) if q.with.is_none() => of(q.body.as_ref(), q.order_by.as_ref()),
            _ => Some(Vec::new()),
        }
    }
    of(source.body.as_ref(), source.order_by.as_ref())
}

/// Checks the columns of an `INSERT`'s planned source (`schema`) against
/// the columns at `positions` of `table`; `unknown` is the source's
/// [`unknown_columns`] (`None`: already checked).
///
/// Returns the source's columns of type `char(n)` bound for a `text` or
/// `varchar` column ([`needs_unpadding`]), for [`unpad_columns`].
pub(super) fn check_insert_source(
    unknown: Option<&[bool]>,
    schema: &DFSchema,
    table: &CatalogItem,
    positions: &[usize],
) -> Result<Vec<usize>, AdapterError> {
    let Some(unknown) = unknown else {
        return Ok(Vec::new());
    };
    let mut unpad = Vec::new();
    for (j, (typ, &p)) in column_types(schema).iter().zip(positions).enumerate() {
        let typ = if unknown.get(j) == Some(&true) {
            None
        } else {
            typ.as_ref()
        };
        check_column(table, p, typ)?;
        if let (Some(typ), Some(column)) = (typ, table.desc.columns.get(p))
            && needs_unpadding(typ, &column.typ)
        {
            unpad.push(j);
        }
    }
    Ok(unpad)
}

/// Whether a value of type `from` stored into a column of type `to` loses
/// its padding: a `char(n)` value into a `text`, `varchar` or `name`
/// column, which PostgreSQL converts as it converts `char(n)` to `text`.
pub(super) fn needs_unpadding(from: &ScalarType, to: &ScalarType) -> bool {
    matches!(from, ScalarType::Char(_))
        && matches!(
            to,
            ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Name
        )
}

/// `plan` with its columns `columns` converted from `char(n)` to `text`
/// (the lowering removes the padding), the others as they are.
pub(super) fn unpad_columns(
    plan: LogicalPlan,
    columns: &[usize],
) -> Result<LogicalPlan, AdapterError> {
    if columns.is_empty() {
        return Ok(plan);
    }
    let schema = plan.schema().clone();
    let exprs = (0..schema.fields().len())
        .map(|i| {
            let column = Expr::Column(datafusion_common::Column::from(schema.qualified_field(i)));
            if columns.contains(&i) {
                unpadded(column).alias(schema.field(i).name())
            } else {
                column
            }
        })
        .collect::<Vec<_>>();
    Ok(LogicalPlan::Projection(
        Projection::try_new(exprs, Arc::new(plan)).map_err(PlanError::from_datafusion)?,
    ))
}

/// `e` (of type `char(n)`) converted to `text`: an explicit cast, which
/// the lowering makes remove the padding.
pub(super) fn unpadded(e: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), DataType::Utf8))
}

/// Checks the new values of an `UPDATE`'s (or `ON CONFLICT DO UPDATE`'s)
/// assigned columns: `assigned` holds, for each column of `table` that
/// `SET` assigns, its value as written and the type it planned to.
pub(super) fn check_set_values<'a>(
    table: &CatalogItem,
    assigned: impl IntoIterator<Item = (usize, &'a SqlExpr, Option<ScalarType>)>,
) -> Result<(), AdapterError> {
    for (p, value, typ) in assigned {
        let typ = if is_unknown_literal(value) { None } else { typ };
        check_column(table, p, typ.as_ref())?;
    }
    Ok(())
}

/// The SQL types of a planned relation's columns; `None` for a column
/// Freshet has no type for. A column DataFusion typed as its `Null` type
/// is `text`, as PostgreSQL resolves an untyped `NULL` that is not itself
/// the value (`SELECT NULL UNION SELECT NULL`, `CASE ... THEN NULL END`);
/// the callers skip the untyped literals themselves first.
pub(super) fn column_types(schema: &DFSchema) -> Vec<Option<ScalarType>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_null() {
                Some(ScalarType::Text)
            } else {
                ScalarType::from_field(f).ok()
            }
        })
        .collect()
}

/// Checks a value of type `typ` (`None`: read by the column's type) for
/// column `p` of `table`.
fn check_column(
    table: &CatalogItem,
    p: usize,
    typ: Option<&ScalarType>,
) -> Result<(), AdapterError> {
    let Some(column) = table.desc.columns.get(p) else {
        return Ok(());
    };
    check_assignment(typ, &column.typ, &column.name, Assigned::Expression)?;
    Ok(())
}
