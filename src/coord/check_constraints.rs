//! `CHECK` constraints of tables.
//!
//! `CREATE TABLE` declares them as column constraints
//! (`price numeric CHECK (price > 0)`) or table constraints
//! (`CONSTRAINT c CHECK (a < b)`); `ALTER TABLE … ADD` adds them
//! (`super::alter_table`). Each gets PostgreSQL's name: `t_price_check`
//! when the condition reads one column, `t_check` otherwise, numbered
//! (`t_price_check1`) while the name is taken by a constraint in the
//! table's schema.
//!
//! The condition is planned as `SELECT (condition) FROM t` is (the same
//! planner, analyzer and lowering as any query's select list,
//! [`super::sequence::plan_select_analyzed`]) into a [`ScalarExpr`] over
//! the table's row, and evaluated on every row a statement writes
//! ([`CoordState::check_rows`], from `dml.rs::write`: `INSERT`,
//! `INSERT … SELECT`, `UPDATE`, `ON CONFLICT DO UPDATE`), in name order
//! as PostgreSQL does. A row whose condition is false fails with `23514`;
//! NULL passes. Subqueries, aggregates, window functions and
//! set-returning functions are PostgreSQL's errors.

use std::ops::ControlFlow;

use datafusion_expr::LogicalPlan;
use sqlparser::ast::{
    BinaryOperator, ColumnOption, CreateTable, Expr, TableConstraint, UnaryOperator, Value,
};

use super::CoordState;
use super::constraints::ident;
use super::error::AdapterError;
use crate::catalog::{Catalog, CatalogItem, CheckConstraint, QualifiedName};
use crate::expr::{GlobalId, ScalarExpr};
use crate::repr::{Datum, Row, ScalarType, SqlState};
use crate::sql::PlanError;

/// A `CHECK` constraint as declared, before it has a name.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredCheck {
    /// The name given with `CONSTRAINT name`, if any.
    pub name: Option<String>,
    /// The condition.
    pub expr: Expr,
    /// `NOT VALID` (of `ALTER TABLE … ADD`): existing rows are not
    /// checked.
    pub not_valid: bool,
}

/// The `CHECK` constraints `ct` declares, in PostgreSQL's order: column
/// constraints first, column by column, then table constraints.
pub(crate) fn declared_checks(ct: &CreateTable) -> Vec<DeclaredCheck> {
    let mut out = Vec::new();
    for c in &ct.columns {
        for opt in &c.options {
            if let ColumnOption::Check(check) = &opt.option {
                out.push(DeclaredCheck {
                    name: opt.name.as_ref().or(check.name.as_ref()).map(ident),
                    expr: (*check.expr).clone(),
                    not_valid: false,
                });
            }
        }
    }
    for constraint in &ct.constraints {
        if let TableConstraint::Check(check) = constraint {
            out.push(DeclaredCheck {
                name: check.name.as_ref().map(ident),
                expr: (*check.expr).clone(),
                not_valid: false,
            });
        }
    }
    out
}

fn error(code: SqlState, message: &str) -> AdapterError {
    AdapterError::Variable {
        code,
        message: message.to_string(),
    }
}

/// Plans `expr` as the condition of a `CHECK` constraint of `table` (which
/// must be in `catalog`): the condition over the table's row, and the
/// columns it reads (in the order they first appear, as PostgreSQL's
/// `conkey` lists them).
pub(crate) fn plan_check(
    catalog: &Catalog,
    table: &CatalogItem,
    expr: &Expr,
) -> Result<(ScalarExpr, Vec<usize>), AdapterError> {
    if let ControlFlow::Break(e) = sqlparser::ast::visit_expressions(expr, refused) {
        return Err(e);
    }
    let relation = QualifiedName {
        schema: table.schema.clone(),
        item: table.name.clone(),
    }
    .to_object_name();
    let plan = super::sequence::plan_select_analyzed(
        catalog,
        &format!("SELECT ({expr}) FROM {relation}"),
    )?;
    let LogicalPlan::Projection(p) = &plan else {
        return Err(PlanError::Unsupported("this CHECK condition".into()).into());
    };
    refuse_plan_nodes(&p.input)?;
    if p.expr.len() != 1 || p.input.schema().fields().len() != table.desc.arity() {
        return Err(PlanError::Unsupported("this CHECK condition".into()).into());
    }
    let field = p.schema.field(0);
    match field.data_type() {
        datafusion_common::arrow::datatypes::DataType::Boolean
        | datafusion_common::arrow::datatypes::DataType::Null => {}
        _ => {
            let name = ScalarType::from_field(field).map_or_else(|e| e, |t| t.name());
            return Err(error(
                SqlState::DATATYPE_MISMATCH,
                &format!("argument of CHECK must be type boolean, not type {name}"),
            ));
        }
    }
    let lowered = crate::sql::lower::lower_expr(&p.expr[0], p.input.schema())?;
    let mut columns = Vec::new();
    lowered.clone().visit_mut(&mut |e| {
        if let ScalarExpr::Column(c) = e
            && !columns.contains(c)
        {
            columns.push(*c);
        }
    });
    Ok((lowered, columns))
}

/// PostgreSQL's error for what a `CHECK` condition may not hold, if `e`
/// is one: a subquery, or a call of an aggregate, window or set-returning
/// function (by PostgreSQL's catalog of them).
fn refused(e: &Expr) -> ControlFlow<AdapterError> {
    match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            ControlFlow::Break(error(
                SqlState::FEATURE_NOT_SUPPORTED,
                "cannot use subquery in check constraint",
            ))
        }
        Expr::Function(f) => {
            let name = match f.name.0.as_slice() {
                [n] => n.as_ident().map(|i| i.value.to_lowercase()),
                [s, n]
                    if s.as_ident()
                        .is_some_and(|s| s.value.eq_ignore_ascii_case("pg_catalog")) =>
                {
                    n.as_ident().map(|i| i.value.to_lowercase())
                }
                _ => None,
            };
            let procs = || {
                crate::catalog::pg_proc::PROCS
                    .iter()
                    .filter(|p| Some(p.name) == name.as_deref())
            };
            if f.over.is_some() || procs().any(|p| p.kind == "w") {
                ControlFlow::Break(error(
                    SqlState::WINDOWING_ERROR,
                    "window functions are not allowed in check constraints",
                ))
            } else if procs().any(|p| p.kind == "a") {
                ControlFlow::Break(error(
                    SqlState::GROUPING_ERROR,
                    "aggregate functions are not allowed in check constraints",
                ))
            } else if procs().any(|p| p.retset) {
                ControlFlow::Break(error(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    "set-returning functions are not allowed in check constraints",
                ))
            } else {
                ControlFlow::Continue(())
            }
        }
        _ => ControlFlow::Continue(()),
    }
}

/// The same errors, found as the nodes they plan to under the select
/// list (for what the names above miss).
fn refuse_plan_nodes(plan: &LogicalPlan) -> Result<(), AdapterError> {
    match plan {
        LogicalPlan::Aggregate(_) => Err(error(
            SqlState::GROUPING_ERROR,
            "aggregate functions are not allowed in check constraints",
        )),
        LogicalPlan::Window(_) => Err(error(
            SqlState::WINDOWING_ERROR,
            "window functions are not allowed in check constraints",
        )),
        LogicalPlan::Unnest(_) => Err(error(
            SqlState::FEATURE_NOT_SUPPORTED,
            "set-returning functions are not allowed in check constraints",
        )),
        LogicalPlan::TableScan(_) => Ok(()),
        LogicalPlan::SubqueryAlias(s) => refuse_plan_nodes(&s.input),
        other => {
            for input in other.inputs() {
                refuse_plan_nodes(input)?;
            }
            match other {
                LogicalPlan::Projection(_) | LogicalPlan::Filter(_) => Ok(()),
                _ => Err(PlanError::Unsupported("this CHECK condition".into()).into()),
            }
        }
    }
}

/// The condition as `pg_get_constraintdef` prints it, where that is a
/// matter of parentheses: each operator's application in its own
/// (`CHECK (((a > 0) AND (b > 0)))`). PostgreSQL also prints the casts
/// it inferred (`(0)::numeric`), which this does not.
pub(crate) fn definition(expr: &Expr) -> String {
    format!("CHECK ({})", deparse(expr))
}

fn deparse(expr: &Expr) -> String {
    match expr {
        Expr::Nested(e) => deparse(e),
        // PostgreSQL's grammar makes `a AND b AND c` one AND of three.
        Expr::BinaryOp { left, op, right }
            if matches!(op, BinaryOperator::And | BinaryOperator::Or) =>
        {
            let mut operands = vec![deparse(right)];
            let mut rest = &**left;
            loop {
                match rest {
                    Expr::Nested(e) => rest = e,
                    Expr::BinaryOp {
                        left: l,
                        op: o,
                        right: r,
                    } if o == op => {
                        operands.push(deparse(r));
                        rest = l;
                    }
                    other => {
                        operands.push(deparse(other));
                        break;
                    }
                }
            }
            operands.reverse();
            format!("({})", operands.join(&format!(" {op} ")))
        }
        Expr::BinaryOp { left, op, right } => {
            format!("({} {op} {})", deparse(left), deparse(right))
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => format!("(NOT {})", deparse(expr)),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let (e, l, h) = (deparse(expr), deparse(low), deparse(high));
            if *negated {
                format!("(({e} < {l}) OR ({e} > {h}))")
            } else {
                format!("(({e} >= {l}) AND ({e} <= {h}))")
            }
        }
        // PostgreSQL folds the sign into the constant, which it prints
        // with its type.
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } if matches!(&**expr, Expr::Value(v) if matches!(v.value, Value::Number(..))) => {
            let text = format!("-{expr}");
            format!("'{text}'::{}", number_type(&text))
        }
        Expr::Value(v) if matches!(v.value, Value::Number(..)) => {
            let text = v.to_string();
            match number_type(&text) {
                "integer" | "numeric" => text,
                t => format!("'{text}'::{t}"),
            }
        }
        Expr::IsNull(e) => format!("({} IS NULL)", deparse(e)),
        Expr::IsNotNull(e) => format!("({} IS NOT NULL)", deparse(e)),
        other => other.to_string(),
    }
}

/// The type PostgreSQL gives a numeric constant.
fn number_type(text: &str) -> &'static str {
    if text.parse::<i32>().is_ok() {
        "integer"
    } else if text.parse::<i64>().is_ok() {
        "bigint"
    } else {
        "numeric"
    }
}

/// PostgreSQL's name for a new `CHECK` constraint of `table` whose
/// condition reads `columns`: `table_col_check` for one column, else
/// `table_check`, numbered while `taken`.
pub(crate) fn default_name(table: &str, columns: &[&str], taken: &dyn Fn(&str) -> bool) -> String {
    let name2 = match columns {
        [one] => *one,
        _ => "",
    };
    let mut pass = 0;
    loop {
        let label = if pass == 0 {
            "check".to_string()
        } else {
            format!("check{pass}")
        };
        let name = super::constraints::make_object_name(table, name2, &label);
        if !taken(&name) {
            return name;
        }
        pass += 1;
    }
}

/// Whether a constraint of a table in `schema` other than `table` has the
/// name `name` (PostgreSQL chooses constraint names unique in their
/// schema).
pub(crate) fn constraint_name_in_schema(
    catalog: &Catalog,
    schema: &str,
    table: GlobalId,
    name: &str,
) -> bool {
    let in_schema = |t: GlobalId| t != table && catalog.get(t).is_some_and(|t| t.schema == schema);
    catalog
        .all_unique_constraints()
        .any(|(t, k)| k.name == name && in_schema(t))
        || catalog
            .all_checks()
            .any(|(t, c)| c.name == name && in_schema(t))
        || super::foreign_keys::name_in_schema(catalog, schema, table, name)
}

/// Names, plans and gives ids (from `next_id`) to the `declared` checks
/// of table `table` (in the catalog already), which has the checks
/// `existing` and the keys `keys` besides.
pub(crate) fn build_checks(
    state: &mut CoordState,
    table: &CatalogItem,
    declared: &[DeclaredCheck],
    existing: &[CheckConstraint],
    keys: &[&str],
    next_id: &mut dyn FnMut(&mut CoordState) -> GlobalId,
) -> Result<Vec<CheckConstraint>, AdapterError> {
    let mut out: Vec<CheckConstraint> = Vec::new();
    for check in declared {
        let (expr, columns) = plan_check(&state.catalog, table, &check.expr)?;
        let name = match &check.name {
            Some(n) => {
                if out.iter().chain(existing).any(|c| c.name == *n) {
                    return Err(error(
                        SqlState::DUPLICATE_OBJECT,
                        &format!("check constraint \"{n}\" already exists"),
                    ));
                }
                n.clone()
            }
            None => {
                let names: Vec<&str> = columns
                    .iter()
                    .map(|&c| table.desc.columns[c].name.as_str())
                    .collect();
                default_name(&table.name, &names, &|n| {
                    out.iter().chain(existing).any(|c| c.name == n)
                        || keys.contains(&n)
                        || constraint_name_in_schema(&state.catalog, &table.schema, table.id, n)
                })
            }
        };
        out.push(CheckConstraint {
            name,
            id: next_id(state),
            expr,
            definition: definition(&check.expr),
            pretty_definition: format!("CHECK ({})", check.expr),
            columns,
            validated: !check.not_valid,
        });
    }
    Ok(out)
}

/// The `CHECK` constraints of a `CREATE TABLE`: `table` is the new table,
/// not yet in the catalog; it is there while its checks are planned.
/// `keys` are its `PRIMARY KEY` and `UNIQUE` constraints' names (a check
/// may not have one of them).
pub(crate) fn create_table_checks(
    state: &mut CoordState,
    ct: &CreateTable,
    table: &CatalogItem,
    keys: &[&str],
    replay: bool,
) -> Result<Vec<CheckConstraint>, AdapterError> {
    let declared = declared_checks(ct);
    if declared.is_empty() {
        return Ok(Vec::new());
    }
    state.catalog.insert(table.clone());
    // The ids that come next (during replay, those that followed the
    // statement's).
    let mut next_id = |state: &mut CoordState| {
        let forced = replay.then_some(GlobalId(state.next_id));
        state.allocate_id(forced)
    };
    let checks = build_checks(state, table, &declared, &[], &[], &mut next_id);
    state.catalog.remove(table.id);
    let checks = checks?;
    if let Some(c) = checks.iter().find(|c| keys.contains(&c.name.as_str())) {
        return Err(error(
            SqlState::DUPLICATE_OBJECT,
            &format!(
                "constraint \"{}\" for relation \"{}\" already exists",
                c.name, table.name
            ),
        ));
    }
    Ok(checks)
}

/// Whether `row` satisfies `check` (true or NULL).
pub(crate) fn holds(check: &CheckConstraint, row: &[Datum]) -> Result<bool, AdapterError> {
    let value = if check.expr.is_constant() || !has_moment(&check.expr) {
        check.expr.eval(row)?
    } else {
        let mut e = check.expr.clone();
        e.resolve_unmaterializable(
            super::sequence::statement_time(),
            super::sequence::statement_start(),
        );
        e.eval(row)?
    };
    Ok(value != Datum::Bool(false))
}

/// Whether `expr` reads the moment of its statement (`now()`).
fn has_moment(expr: &ScalarExpr) -> bool {
    let mut found = false;
    expr.clone().visit_mut(&mut |e| {
        if matches!(e, ScalarExpr::Unmaterializable(_)) {
            found = true;
        }
    });
    found
}

/// A row's values as PostgreSQL's `DETAIL: Failing row contains (…)`
/// lists them: text output, `null`, each cut to 64 bytes and `...`.
pub(crate) fn failing_row(row: &[Datum]) -> String {
    let values: Vec<String> = row
        .iter()
        .map(|d| {
            let mut s = crate::repr::strconv::format(d).unwrap_or_else(|| "null".into());
            if s.len() > 64 {
                let mut n = 64;
                while !s.is_char_boundary(n) {
                    n -= 1;
                }
                s.truncate(n);
                s.push_str("...");
            }
            s
        })
        .collect();
    format!("Failing row contains ({}).", values.join(", "))
}

impl CoordState {
    /// Checks every row `updates` add against its table's `CHECK`
    /// constraints: PostgreSQL's `23514` for the first row whose
    /// condition is false.
    pub(crate) fn check_rows(&self, updates: &[(GlobalId, Row, i64)]) -> Result<(), AdapterError> {
        for (table, row, diff) in updates {
            if *diff <= 0 {
                continue;
            }
            let checks = self.catalog.checks(*table);
            if checks.is_empty() {
                continue;
            }
            let datums: Vec<Datum> = row.iter().collect();
            for check in checks {
                if !holds(check, &datums)? {
                    let name = self.catalog.get(*table).map_or("", |t| t.name.as_str());
                    return Err(AdapterError::Constraint {
                        code: SqlState::CHECK_VIOLATION,
                        message: format!(
                            "new row for relation \"{name}\" violates check constraint \"{}\"",
                            check.name
                        ),
                        detail: Some(failing_row(&datums)),
                        hint: None,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_postgresql() {
        let free = |_: &str| false;
        assert_eq!(default_name("t", &["price"], &free), "t_price_check");
        assert_eq!(default_name("t", &["a", "b"], &free), "t_check");
        assert_eq!(default_name("t", &[], &free), "t_check");
        let taken = |n: &str| n == "t_a_check" || n == "t_a_check1";
        assert_eq!(default_name("t", &["a"], &taken), "t_a_check2");
    }

    #[test]
    fn failing_rows_are_cut_as_postgresql_cuts_them() {
        let long = "x".repeat(100);
        let row = [Datum::Int32(1), Datum::Null, Datum::String(long)];
        assert_eq!(
            failing_row(&row),
            format!("Failing row contains (1, null, {}...).", "x".repeat(64))
        );
    }

    #[test]
    fn definitions_parenthesize_operators() {
        let e = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
            .try_with_sql("a > 0 AND NOT (b IS NULL) AND a > -6 AND a < 3000000000")
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| e.to_string());
        let Ok(e) = e else {
            panic!("{e:?}");
        };
        assert_eq!(
            definition(&e),
            "CHECK (((a > 0) AND (NOT (b IS NULL)) AND (a > '-6'::integer) AND (a < '3000000000'::bigint)))"
        );
    }
}
