//! The `jsonb` set-returning functions in `FROM` (`jsonb_array_elements`,
//! `jsonb_array_elements_text`, `jsonb_each`, `jsonb_each_text`,
//! `jsonb_object_keys`), over constants or, laterally, over the columns of
//! the relations before them: `FROM t, jsonb_array_elements(t.data->'items')
//! AS e`.
//!
//! DataFusion resolves the arguments of a table function in `FROM` only
//! against outer queries, so [`mark_lateral`] makes these calls `LATERAL`
//! before planning: their arguments then resolve against the `FROM` items
//! before them, and the function becomes a table scan
//! ([`super::plan::TableFunctionSource`]) cross-joined with them.
//! [`lower_lateral_join`] lowers that join to a flat map over its left
//! input ([`crate::expr::RelationExpr::FlatMap`]), which maintained views
//! render like `unnest`.

use std::sync::Arc;

use datafusion_common::DFSchema;
use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion_optimizer::analyzer::type_coercion::TypeCoercionRewriter;
use sqlparser::ast::{
    Ident, ObjectName, Statement, TableAlias, TableAliasColumnDef, TableFactor, VisitMut,
    VisitorMut,
};

use crate::expr::jsonb::JsonbTableFunc;
use crate::expr::relation::TableFunc;
use crate::expr::{JoinKind, RelationExpr, ScalarExpr};
use crate::repr::ScalarType;
use crate::repr::types::{json_arrow_type, jsonb_arrow_type};

use super::PlanError;
use super::plan::TableFunctionSource;

/// The suffix [`mark_lateral`] gives the name of a function called `WITH
/// ORDINALITY` (DataFusion's planner drops the clause), which
/// `plan.rs` reads back.
pub const WITH_ORDINALITY: &str = "__with_ordinality";

/// Makes the calls of the `jsonb` set-returning functions and
/// `generate_series` in `FROM` `LATERAL` (PostgreSQL's functions in `FROM`
/// always are), carrying `WITH ORDINALITY` in the name.
pub fn mark_lateral(statement: &mut Statement) {
    struct Mark;
    impl VisitorMut for Mark {
        type Break = ();
        fn pre_visit_table_factor(
            &mut self,
            factor: &mut TableFactor,
        ) -> std::ops::ControlFlow<()> {
            let (name, args, alias, with_ordinality) = match factor {
                TableFactor::Table {
                    name,
                    alias,
                    args: Some(args),
                    with_ordinality,
                    ..
                } => (name, args.args.clone(), alias, *with_ordinality),
                // Written `LATERAL f(...)`.
                TableFactor::Function {
                    name,
                    args,
                    alias,
                    with_ordinality,
                    ..
                } => (name, args.clone(), alias, *with_ordinality),
                _ => return std::ops::ControlFlow::Continue(()),
            };
            let function = name.to_string().to_lowercase();
            if name.0.len() != 1 || !is_lateral_function(&function) {
                return std::ops::ControlFlow::Continue(());
            }
            let mut name = name.clone();
            let mut alias = alias.clone();
            if with_ordinality {
                name = ObjectName::from(vec![Ident::new(format!("{function}{WITH_ORDINALITY}"))]);
                // Named as PostgreSQL names them: the relation after the
                // function, `generate_series`'s column after the
                // relation's alias.
                let alias = alias.get_or_insert_with(|| TableAlias {
                    explicit: true,
                    name: Ident::new(&function),
                    columns: vec![],
                    at: None,
                });
                if alias.columns.is_empty() && is_scalar_function(&function) {
                    alias.columns = vec![
                        TableAliasColumnDef::from_name(alias.name.value.clone()),
                        TableAliasColumnDef::from_name("ordinality"),
                    ];
                } else if alias.columns.len() == 1 && is_scalar_function(&function) {
                    // `AS s(x)`: PostgreSQL names the columns it is not
                    // given after the function's own.
                    alias
                        .columns
                        .push(TableAliasColumnDef::from_name("ordinality"));
                }
            } else if let Some(alias) = &mut alias
                && alias.columns.is_empty()
                && is_scalar_function(&function)
            {
                // As `pg_compat` does for the plain form.
                alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            }
            *factor = TableFactor::Function {
                lateral: true,
                name,
                args,
                with_ordinality: false,
                alias,
            };
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Mark);
}

/// Whether `name` returns a set of one unnamed column, which an alias
/// names (`generate_series`, `regexp_matches`, `json_object_keys`).
fn is_scalar_function(name: &str) -> bool {
    matches!(
        name,
        "generate_series" | "regexp_matches" | "jsonb_object_keys" | "json_object_keys"
    )
}

/// Whether `name` is a set-returning function this module joins
/// laterally: the `jsonb` ones and `generate_series`.
fn is_lateral_function(name: &str) -> bool {
    name == "generate_series"
        || name == "regexp_matches"
        || JsonbTableFunc::from_name(name).is_some()
}

/// The table source of a `jsonb` set-returning function called `name`
/// with `args`; `None` for other names.
pub fn table_source(name: &str, args: Vec<Expr>) -> Option<Result<TableFunctionSource, PlanError>> {
    let func = JsonbTableFunc::from_name(name)?;
    if args.len() != 1 {
        return Some(Err(PlanError::UnknownFunction(format!(
            "{name} with {} arguments",
            args.len()
        ))));
    }
    let fields: Vec<Field> = func
        .columns()
        .into_iter()
        .map(|(n, t)| Field::new(n, t.to_arrow(), true))
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Some(Ok(TableFunctionSource::new(
        TableFunc::Jsonb(func),
        args,
        schema,
    )))
}

/// Lowers the argument of a `jsonb` set-returning function over rows of
/// `schema`: a `jsonb` value, or an untyped literal read as `jsonb`;
/// anything else is `42883`, as in PostgreSQL.
pub fn lower_arg(
    func: &JsonbTableFunc,
    arg: &Expr,
    schema: &DFSchema,
) -> Result<ScalarExpr, PlanError> {
    let untyped = matches!(
        arg,
        Expr::Literal(
            datafusion_common::ScalarValue::Utf8(_) | datafusion_common::ScalarValue::Null,
            _
        )
    );
    let t = arg.get_type(schema).map_err(PlanError::from_datafusion)?;
    let lowered = super::lower::lower_expr(arg, schema)?;
    // The `json` functions take `json`, the others `jsonb`.
    let (want, want_arrow) = match func {
        JsonbTableFunc::Json(_) => (ScalarType::Json, json_arrow_type()),
        _ => (ScalarType::Jsonb, jsonb_arrow_type()),
    };
    if untyped {
        return Ok(lowered.cast(want));
    }
    if t != want_arrow {
        let name = ScalarType::from_arrow(&t).map_or_else(|_| format!("{t}"), |t| t.name());
        return Err(PlanError::UnknownFunction(format!(
            "{}({name})",
            func.name()
        )));
    }
    Ok(lowered)
}

/// Whether `func` is one this module joins laterally.
fn is_lateral(func: &TableFunc) -> bool {
    match func {
        TableFunc::Jsonb(_) | TableFunc::GenerateSeries | TableFunc::RegexpMatches => true,
        // `unnest(...) WITH ORDINALITY` (`unnest_ordinality.rs`); plain
        // `unnest` is DataFusion's `Unnest` (`unnest.rs`).
        TableFunc::WithOrdinality(inner) => **inner == TableFunc::Unnest || is_lateral(inner),
        _ => false,
    }
}

/// The arguments of a call of `func` with `args`, lowered over rows of
/// `schema`, and the number of columns the function produces.
fn lower_args(
    func: &TableFunc,
    args: &[Expr],
    schema: &DFSchema,
) -> Result<(Vec<ScalarExpr>, usize), PlanError> {
    // The arguments sit in the table source, where the analyzer's type
    // coercion does not reach them (`x * 10` for a `bigint` x): coerce
    // them here, as it would.
    let coerced = args
        .iter()
        .map(|a| {
            a.clone()
                .rewrite(&mut TypeCoercionRewriter::new(schema))
                .map(|t| t.data)
                .map_err(PlanError::from_datafusion)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let original = args;
    let args = coerced.as_slice();
    Ok(match func {
        TableFunc::Jsonb(func) => (
            args.iter()
                .map(|a| lower_arg(func, a, schema))
                .collect::<Result<Vec<_>, _>>()?,
            func.columns().len(),
        ),
        // Each argument cast to its type in the form PostgreSQL chooses
        // (chosen again, from the arguments as written, as the planner
        // chose it for the column's type).
        TableFunc::GenerateSeries => {
            let form = super::generate_series::resolve(original, schema)?;
            (
                args.iter()
                    .zip(form.params)
                    .map(|(a, t)| super::lower::lower_expr(a, schema).map(|e| e.cast(t)))
                    .collect::<Result<Vec<_>, _>>()?,
                1,
            )
        }
        // The string, the pattern and the flags as `text`.
        TableFunc::RegexpMatches => (
            args.iter()
                .map(|a| {
                    let t = a.get_type(schema).map_err(PlanError::from_datafusion)?;
                    if !matches!(
                        t,
                        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
                    ) {
                        let types: Vec<String> = args
                            .iter()
                            .map(|a| {
                                a.get_type(schema).map_or_else(
                                    |_| "unknown".into(),
                                    |t| {
                                        ScalarType::from_arrow(&t)
                                            .map_or_else(|_| format!("{t}"), |t| t.name())
                                    },
                                )
                            })
                            .collect();
                        return Err(PlanError::UnknownFunction(format!(
                            "regexp_matches({})",
                            types.join(", ")
                        )));
                    }
                    let lowered = super::lower::lower_expr(a, schema)?;
                    Ok(super::bpchar::text_arg(a, lowered, schema))
                })
                .collect::<Result<Vec<_>, _>>()?,
            1,
        ),
        // The arrays as they are (`unnest_ordinality.rs` checked that they
        // are arrays); one column per array.
        TableFunc::Unnest => (
            args.iter()
                .map(|a| super::lower::lower_expr(a, schema))
                .collect::<Result<Vec<_>, _>>()?,
            args.len(),
        ),
        TableFunc::WithOrdinality(inner) => {
            let (args, width) = lower_args(inner, original, schema)?;
            (args, width + 1)
        }
        _ => return Err(PlanError::Unsupported("this table function".into())),
    })
}

/// Lowers a scan of a table function over constants (`FROM
/// jsonb_each('{"a": 1}')`, `FROM generate_series(1, 3)`): a flat map
/// over the one empty row, keeping the scan's `projection` of the
/// function's columns.
pub fn lower_constant_scan(
    source: &TableFunctionSource,
    projection: Option<&Vec<usize>>,
) -> Result<RelationExpr, PlanError> {
    let (args, width) = lower_args(&source.func, &source.args, &DFSchema::empty())?;
    let flat = RelationExpr::FlatMap {
        input: Box::new(RelationExpr::unit()),
        func: source.func.clone(),
        exprs: args,
    };
    Ok(match projection {
        Some(p) if *p != (0..width).collect::<Vec<_>>() => {
            RelationExpr::mfp(flat, vec![], vec![], p.clone())
        }
        _ => flat,
    })
}

/// The `jsonb` table function scanned by `plan` (under aliases, column
/// renames and filters), if any.
fn table_function(plan: &LogicalPlan) -> Option<&TableFunctionSource> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => table_function(&a.input),
        LogicalPlan::Projection(p) => table_function(&p.input),
        LogicalPlan::Filter(f) => table_function(&f.input),
        LogicalPlan::TableScan(scan) => {
            let source = scan.source.downcast_ref::<TableFunctionSource>()?;
            is_lateral(&source.func).then_some(source)
        }
        _ => None,
    }
}

/// Lowers the right side of a lateral join over a `jsonb` table function:
/// the `left` rows (of `left_schema`) each followed by the rows `plan`
/// gives for them.
fn lower_right(
    plan: &LogicalPlan,
    left: RelationExpr,
    left_schema: &DFSchema,
) -> Result<RelationExpr, PlanError> {
    let left_arity = left_schema.fields().len();
    let combined = |inner: &DFSchema| -> Result<DFSchema, PlanError> {
        left_schema
            .join(inner)
            .map_err(|_| PlanError::Unsupported("this lateral table function".into()))
    };
    Ok(match plan {
        LogicalPlan::SubqueryAlias(a) => lower_right(&a.input, left, left_schema)?,
        LogicalPlan::Projection(p) => {
            let input = lower_right(&p.input, left, left_schema)?;
            let schema = combined(p.input.schema())?;
            let arity = left_arity + p.input.schema().fields().len();
            let mut exprs = Vec::new();
            let mut projection: Vec<usize> = (0..left_arity).collect();
            for e in &p.expr {
                match super::lower::lower_expr(e, &schema)? {
                    ScalarExpr::Column(c) => projection.push(c),
                    other => {
                        projection.push(arity + exprs.len());
                        exprs.push(other);
                    }
                }
            }
            RelationExpr::mfp(input, exprs, vec![], projection)
        }
        LogicalPlan::Filter(f) => {
            let input = lower_right(&f.input, left, left_schema)?;
            let schema = combined(f.input.schema())?;
            let arity = left_arity + f.input.schema().fields().len();
            let predicate = super::lower::lower_expr(&f.predicate, &schema)?;
            RelationExpr::mfp(input, vec![], vec![predicate], (0..arity).collect())
        }
        LogicalPlan::TableScan(scan) => {
            let Some(source) = scan.source.downcast_ref::<TableFunctionSource>() else {
                return Err(PlanError::Unsupported("this lateral table function".into()));
            };
            let (args, width) = lower_args(&source.func, &source.args, left_schema)?;
            let flat = RelationExpr::FlatMap {
                input: Box::new(left),
                func: source.func.clone(),
                exprs: args,
            };
            let right_columns: Vec<usize> = match &scan.projection {
                Some(p) => p.clone(),
                None => (0..width).collect(),
            };
            let projection = (0..left_arity)
                .chain(right_columns.iter().map(|c| left_arity + c))
                .collect();
            RelationExpr::mfp(flat, vec![], vec![], projection)
        }
        _ => return Err(PlanError::Unsupported("this lateral table function".into())),
    })
}

/// Turns the flat map of a lowered lateral function (under projections of
/// its columns only) into its outer form; `false` if there is none.
fn make_outer(expr: &mut RelationExpr) -> bool {
    match expr {
        RelationExpr::Mfp {
            input,
            exprs,
            predicates,
            ..
        } if exprs.is_empty() && predicates.is_empty() => make_outer(input),
        RelationExpr::FlatMap { func, exprs, .. } => match width(func, exprs.len()) {
            Some(width) => {
                *func = TableFunc::Outer {
                    func: Box::new(func.clone()),
                    width,
                };
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// The number of columns `func` produces when called with `args`
/// arguments, for the functions of this module.
fn width(func: &TableFunc, args: usize) -> Option<usize> {
    match func {
        TableFunc::Jsonb(f) => Some(f.columns().len()),
        TableFunc::GenerateSeries | TableFunc::RegexpMatches => Some(1),
        // One column per array.
        TableFunc::Unnest => Some(args),
        TableFunc::WithOrdinality(inner) => width(inner, args).map(|w| w + 1),
        _ => None,
    }
}

/// Whether an expression reads a column.
fn reads_columns(e: &Expr) -> bool {
    let mut found = false;
    let _ = e.apply(|x| {
        found |= matches!(x, Expr::Column(_) | Expr::OuterReferenceColumn(..));
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Whether a plan joins a `jsonb` table function whose argument reads the
/// columns before it (the optimizer must then keep those columns: it does
/// not see the argument).
pub fn has_lateral_call(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        if let LogicalPlan::Join(j) = p
            && let Some(source) = table_function(&j.right)
            && source.args.iter().any(reads_columns)
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Lowers a join whose right side is a `jsonb` table function over the
/// left side's columns: each left row followed by the function's rows for
/// it, then the join's condition. `None` if the right side is not such a
/// call.
pub fn lower_lateral_join(
    j: &datafusion_expr::logical_plan::Join,
    kind: JoinKind,
) -> Result<Option<RelationExpr>, PlanError> {
    let Some(source) = table_function(&j.right) else {
        return Ok(None);
    };
    if !source.args.iter().any(reads_columns) {
        return Ok(None);
    }
    // `LEFT JOIN LATERAL f(...) ON true`: a left row for which the
    // function gives nothing is kept with NULLs. A condition, or a filter
    // or computed column inside the subquery, would have to be applied
    // before that padding.
    let on_true = j.on.is_empty()
        && j.filter.as_ref().is_none_or(|f| {
            matches!(
                f,
                Expr::Literal(datafusion_common::ScalarValue::Boolean(Some(true)), _)
            )
        });
    let outer = kind == JoinKind::LeftOuter && on_true;
    let refuse = || {
        let name = match &source.func {
            TableFunc::Jsonb(func) => func.name(),
            TableFunc::GenerateSeries => "generate_series",
            TableFunc::RegexpMatches => "regexp_matches",
            TableFunc::WithOrdinality(_) => "a table function WITH ORDINALITY",
            _ => "a table function",
        };
        Err(PlanError::Unsupported(format!(
            "{name} on the right of an outer join other than LEFT JOIN LATERAL ... ON true"
        )))
    };
    if kind != JoinKind::Inner && !outer {
        return refuse();
    }
    let left_schema = j.left.schema();
    let mut joined = lower_right(&j.right, super::lower::lower(&j.left)?, left_schema)?;
    if outer && !make_outer(&mut joined) {
        return refuse();
    }
    let schema = j.schema.as_ref();
    let mut predicates = Vec::new();
    for (l, r) in &j.on {
        predicates.push(super::lower::lower_expr(l, schema)?.call_binary(
            super::lower::lower_expr(r, schema)?,
            crate::expr::func::BinaryFunc::Eq,
        ));
    }
    if let Some(f) = &j.filter {
        predicates.push(super::lower::lower_expr(f, schema)?);
    }
    Ok(Some(if predicates.is_empty() {
        joined
    } else {
        let arity = schema.fields().len();
        RelationExpr::mfp(joined, vec![], predicates, (0..arity).collect())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_in_from_become_lateral() {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statements = sqlparser::parser::Parser::parse_sql(
            &dialect,
            "SELECT e.value FROM t, jsonb_array_elements(t.doc) AS e, other(t.x)",
        )
        .expect("parses");
        let mut statement = statements.remove(0);
        mark_lateral(&mut statement);
        let text = statement.to_string();
        assert!(
            text.contains("LATERAL jsonb_array_elements(t.doc) AS e"),
            "{text}"
        );
        assert!(!text.contains("LATERAL other"), "{text}");
    }
}
