//! `unnest` in `FROM` beyond what DataFusion's planner does: arrays built
//! from the columns before the call (`FROM t, unnest(ARRAY[t.a, 7])`), and
//! `unnest(...) WITH ORDINALITY`.
//!
//! DataFusion plans the elements of `ARRAY[...]` in a fresh scope, where
//! the columns of the `FROM` items before a lateral call do not resolve
//! (`42703`). [`rewrite_from_arrays`] turns each `ARRAY[...]` in the
//! arguments of a function in `FROM` into a call of the constructor under
//! a marker name ([`CONSTRUCT`]), whose arguments resolve as any
//! function's do.
//!
//! DataFusion refuses `WITH ORDINALITY` on `unnest`.
//! [`UnnestOrdinalityPlanner`] plans it as Freshet's own table function,
//! the flat map `TableFunc::WithOrdinality(TableFunc::Unnest)` that
//! `jsonb_table.rs` joins laterally: the arrays' elements (several arrays
//! zipped to the longest, as PostgreSQL does), then their position, a
//! `bigint` from 1. Its columns are named as PostgreSQL names them (the
//! alias, else `unnest`, then `ordinality`); several arrays are all named
//! `unnest`, which a relation here cannot be, so their internal names carry
//! `output_names`' mark (`SELECT *` shows PostgreSQL's names; a view of
//! them fails as PostgreSQL's does, a name given twice).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, Schema};
use datafusion_common::tree_node::{Transformed, TreeNode};
use datafusion_common::{DFSchema, DataFusionError, Result as DfResult};
use datafusion_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlanBuilder};
use sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, Statement, TableAliasColumnDef, TableFactor,
    VisitMut, VisitorMut,
};

use crate::expr::relation::TableFunc;
use crate::repr::ScalarType;

use super::PlanError;
use super::plan::TableFunctionSource;

/// The name under which [`rewrite_from_arrays`] calls the array
/// constructor.
pub const CONSTRUCT: &str = "freshet_array_construct";

/// Rewrites each non-empty `ARRAY[...]` in the arguments of a function in
/// `FROM` (`unnest`'s included) into a call of [`CONSTRUCT`].
pub fn rewrite_from_arrays(statement: &mut Statement) {
    struct Arrays;
    impl VisitorMut for Arrays {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut SqlExpr) -> ControlFlow<()> {
            if let SqlExpr::Array(array) = e
                && !array.elem.is_empty()
            {
                let args = std::mem::take(&mut array.elem)
                    .into_iter()
                    .map(|x| FunctionArg::Unnamed(FunctionArgExpr::Expr(x)))
                    .collect();
                *e = SqlExpr::Function(super::pg_rewrite::call(CONSTRUCT, args));
            }
            ControlFlow::Continue(())
        }
    }
    struct FromItems;
    impl VisitorMut for FromItems {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::UNNEST { array_exprs, .. } => {
                    for e in array_exprs {
                        let _ = e.visit(&mut Arrays);
                    }
                }
                TableFactor::Function { args, .. } => {
                    for a in args {
                        let _ = a.visit(&mut Arrays);
                    }
                }
                TableFactor::Table {
                    args: Some(args), ..
                } => {
                    for a in &mut args.args {
                        let _ = a.visit(&mut Arrays);
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut FromItems);
}

/// Plans `unnest(...) WITH ORDINALITY` (see the module documentation);
/// other relations pass unchanged.
#[derive(Debug)]
pub struct UnnestOrdinalityPlanner;

impl RelationPlanner for UnnestOrdinalityPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> DfResult<RelationPlanning> {
        let TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_offset_alias: None,
            with_ordinality: true,
        } = relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let external = |e: PlanError| DataFusionError::External(Box::new(e));
        // Over no columns of its own, a column is an outer reference, which
        // carries its type; as an argument of the table function it is the
        // column of the relations before the call, as a lateral call's
        // arguments are.
        let mut args = Vec::new();
        let mut fields = Vec::new();
        let arrays = array_exprs.len();
        for (i, e) in array_exprs.into_iter().enumerate() {
            let planned = context.sql_expr_to_logical_expr(e, &DFSchema::empty())?;
            let (_, field) = planned.to_field(&DFSchema::empty())?;
            let element = match field.data_type() {
                DataType::List(element) => ScalarType::from_field(element)
                    .map_err(|e| external(PlanError::Unsupported(e)))?,
                // An untyped NULL or string.
                DataType::Null | DataType::Utf8 if matches!(planned, Expr::Literal(..)) => {
                    return Err(external(PlanError::AmbiguousFunction(
                        "unnest(unknown)".into(),
                    )));
                }
                _ => {
                    let name = ScalarType::from_field(&field)
                        .map_or_else(|_| field.data_type().to_string(), |t| t.name());
                    return Err(external(PlanError::UnknownFunction(format!(
                        "unnest({name})"
                    ))));
                }
            };
            // Several arrays are all named `unnest`, which a relation here
            // cannot: each name is made unique by `output_names`' mark, which
            // comes off when the output columns are named (so `SELECT *`
            // shows `unnest, unnest, ordinality`), and no name resolves
            // `unnest` to one of them.
            let name = if arrays == 1 {
                "unnest".to_string()
            } else {
                format!("unnest{}{}", super::output_names::MARK, i + 1)
            };
            fields.push(element.to_field(&name, true));
            args.push(
                planned
                    .transform(|x| {
                        Ok(match x {
                            Expr::OuterReferenceColumn(_, c) => Transformed::yes(Expr::Column(c)),
                            other => Transformed::no(other),
                        })
                    })
                    .map(|t| t.data)?,
            );
        }
        fields.push(Field::new("ordinality", DataType::Int64, false));
        // Named as PostgreSQL names them: the alias's column names, then,
        // for one array, the alias itself, else `unnest`; then `ordinality`.
        let mut alias = alias;
        if let Some(a) = &mut alias
            && a.columns.len() <= arrays
        {
            if arrays == 1 && a.columns.is_empty() {
                a.columns
                    .push(TableAliasColumnDef::from_name(a.name.value.clone()));
            }
            for field in &fields[a.columns.len()..] {
                a.columns.push(TableAliasColumnDef::from_name(field.name()));
            }
        }
        let source = TableFunctionSource::new(
            TableFunc::WithOrdinality(Box::new(TableFunc::Unnest)),
            args,
            Arc::new(Schema::new(fields)),
        );
        let plan = LogicalPlanBuilder::scan("unnest", Arc::new(source), None)?.build()?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}
