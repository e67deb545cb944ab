//! PostgreSQL's choice among the forms of `generate_series`: `(integer,
//! integer [, integer])`, the same over `bigint` and `numeric`, and
//! `(timestamp, timestamp, interval)` and `(timestamptz, timestamptz,
//! interval)`. The form decides the result column's type, so it is chosen
//! when the planner asks for the function's table source
//! (`plan.rs::get_table_function_source`), from the arguments as written;
//! the arguments are then cast to the form's types when they are lowered
//! (`jsonb_table.rs`), and `expr::series` computes the rows.
//!
//! The planner gives the table source the arguments planned over the
//! columns before the call, where their types are not known; so
//! [`SeriesArgsPlanner`] plans them first over the outer scopes, where
//! columns carry their types, chooses the form, and casts each argument as
//! written to its parameter's type.
//!
//! The choice follows PostgreSQL's function resolution
//! (`func_select_candidate`) over exactly these candidates: the forms every
//! argument converts to implicitly, then those with the most exact matches,
//! then those with the most preferred types (`timestamptz`, `interval`),
//! then the type categories of the untyped literals (`'3'`, `NULL`), then
//! the type of the typed arguments for the untyped ones. So `(1, '3')` is
//! `integer`, `(1, 2::bigint)` `bigint`, `(1, 2, 0.5)` `numeric`, `(date,
//! date, interval)` `timestamptz`; `(smallint, smallint)` and `('1', '3')`
//! are ambiguous (`42725`), and `(double precision, integer)` or text
//! columns match no form (`42883`), as in PostgreSQL.

use datafusion_common::{DFSchema, DataFusionError, Result as DfResult, ScalarValue};
use datafusion_expr::planner::{RelationPlanner, RelationPlannerContext, RelationPlanning};
use datafusion_expr::{Expr, ExprSchemable};
use sqlparser::ast::{
    CastKind, Expr as SqlExpr, FunctionArg, FunctionArgExpr, ObjectNamePart, TableFactor,
};

use crate::repr::ScalarType;

use super::PlanError;

/// The types of the parameters of one form of `generate_series`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    Int32,
    Int64,
    Numeric,
    Timestamp,
    TimestampTz,
    Interval,
}

/// The forms of `generate_series` with `arity` arguments.
fn candidates(arity: usize) -> Vec<Vec<Param>> {
    use Param::*;
    match arity {
        2 => vec![vec![Int32; 2], vec![Int64; 2], vec![Numeric; 2]],
        3 => vec![
            vec![Int32; 3],
            vec![Int64; 3],
            vec![Numeric; 3],
            vec![Timestamp, Timestamp, Interval],
            vec![TimestampTz, TimestampTz, Interval],
        ],
        _ => vec![],
    }
}

/// The type of an argument as function resolution sees it.
#[derive(Clone, Debug, PartialEq)]
enum Arg {
    /// An untyped literal (a string or `NULL`): PostgreSQL's `unknown`.
    Unknown,
    /// A value of this type.
    Typed(ScalarType),
}

impl Arg {
    fn name(&self) -> String {
        match self {
            Arg::Unknown => "unknown".into(),
            Arg::Typed(t) => t.regtype_name(),
        }
    }
}

/// PostgreSQL's type category (`pg_type.typcategory`) of the types that
/// matter here: `N` numbers, `D` date/time, `T` intervals.
fn category(t: &ScalarType) -> Option<char> {
    match t {
        ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 | ScalarType::Numeric { .. } => {
            Some('N')
        }
        ScalarType::Date | ScalarType::Timestamp(_) | ScalarType::TimestampTz(_) => Some('D'),
        ScalarType::Interval { .. } => Some('T'),
        _ => None,
    }
}

impl Param {
    fn scalar_type(self) -> ScalarType {
        match self {
            Param::Int32 => ScalarType::Int32,
            Param::Int64 => ScalarType::Int64,
            Param::Numeric => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            Param::Timestamp => ScalarType::Timestamp(None),
            Param::TimestampTz => ScalarType::TimestampTz(None),
            Param::Interval => ScalarType::INTERVAL,
        }
    }

    fn category(self) -> char {
        category(&self.scalar_type()).unwrap_or('X')
    }

    /// Whether the type is its category's preferred type (numbers'
    /// preferred `double precision` is no parameter here).
    fn preferred(self) -> bool {
        matches!(self, Param::TimestampTz | Param::Interval)
    }

    /// Whether `arg` is exactly this type.
    fn exact(self, arg: &Arg) -> bool {
        match arg {
            Arg::Unknown => false,
            Arg::Typed(t) => t.without_modifier() == self.scalar_type(),
        }
    }

    /// Whether `arg` converts to this type implicitly (PostgreSQL's
    /// `pg_cast` entries of context `i`).
    fn accepts(self, arg: &Arg) -> bool {
        let Arg::Typed(t) = arg else { return true };
        match t {
            ScalarType::Int16 | ScalarType::Int32 => {
                matches!(self, Param::Int32 | Param::Int64 | Param::Numeric)
            }
            ScalarType::Int64 => matches!(self, Param::Int64 | Param::Numeric),
            ScalarType::Numeric { .. } => self == Param::Numeric,
            ScalarType::Date | ScalarType::Timestamp(_) => {
                matches!(self, Param::Timestamp | Param::TimestampTz)
            }
            ScalarType::TimestampTz(_) => self == Param::TimestampTz,
            ScalarType::Interval { .. } => self == Param::Interval,
            _ => false,
        }
    }
}

/// The type of argument `e` (planned over `schema`), `unknown` for an
/// untyped literal.
fn arg_type(e: &Expr, schema: &DFSchema) -> Result<Arg, PlanError> {
    if let Expr::Literal(
        ScalarValue::Utf8(_)
        | ScalarValue::Utf8View(_)
        | ScalarValue::LargeUtf8(_)
        | ScalarValue::Null,
        _,
    ) = e
    {
        return Ok(Arg::Unknown);
    }
    // A parameter of no known type (`$1` at Parse) is PostgreSQL's
    // `unknown` too.
    if let Expr::Placeholder(p) = e
        && p.field.is_none()
    {
        return Ok(Arg::Unknown);
    }
    // An argument cast by `SeriesArgsPlanner` may read columns `schema`
    // does not have; its type is the cast's.
    if let Expr::Cast(cast) = e {
        return ScalarType::from_field(&cast.field)
            .map(Arg::Typed)
            .map_err(PlanError::Unsupported);
    }
    // The field carries the exact type where the Arrow type loses it.
    let (_, field) = e.to_field(schema).map_err(PlanError::from_datafusion)?;
    let t = ScalarType::from_field(&field).map_err(PlanError::Unsupported)?;
    Ok(Arg::Typed(t))
}

/// The form of `generate_series` PostgreSQL calls for `args` (planned over
/// `schema`): the type of its result, and the types its arguments are cast
/// to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesForm {
    /// The result column's type (and that of `start` and `stop`).
    pub output: ScalarType,
    /// The types of the arguments, in order.
    pub params: Vec<ScalarType>,
}

/// Chooses the form of `generate_series` for `args` (see the module
/// documentation).
pub fn resolve(args: &[Expr], schema: &DFSchema) -> Result<SeriesForm, PlanError> {
    let types = args
        .iter()
        .map(|a| arg_type(a, schema))
        .collect::<Result<Vec<_>, _>>()?;
    let signature = || {
        format!(
            "generate_series({})",
            types.iter().map(Arg::name).collect::<Vec<_>>().join(", ")
        )
    };
    let chosen = choose(&types).map_err(|ambiguous| {
        if ambiguous {
            PlanError::AmbiguousFunction(signature())
        } else {
            PlanError::UnknownFunction(signature())
        }
    })?;
    Ok(SeriesForm {
        output: chosen[0].scalar_type(),
        params: chosen.iter().map(|p| p.scalar_type()).collect(),
    })
}

/// The one candidate PostgreSQL chooses for arguments of `types`; `Err(true)`
/// where several remain, `Err(false)` where none accepts them.
fn choose(types: &[Arg]) -> Result<Vec<Param>, bool> {
    let mut remaining: Vec<Vec<Param>> = candidates(types.len())
        .into_iter()
        .filter(|c| c.iter().zip(types).all(|(p, a)| p.accepts(a)))
        .collect();
    if remaining.is_empty() {
        return Err(false);
    }
    // Keeps the candidates with the highest score, if any has one.
    fn keep_best(remaining: &mut Vec<Vec<Param>>, score: impl Fn(&[Param]) -> usize) {
        let best = remaining.iter().map(|c| score(c)).max().unwrap_or(0);
        remaining.retain(|c| score(c) == best);
    }
    // The most exact matches.
    keep_best(&mut remaining, |c| {
        c.iter().zip(types).filter(|(p, a)| p.exact(a)).count()
    });
    if remaining.len() == 1 {
        return Ok(remaining.remove(0));
    }
    // The most exact matches or preferred types of the argument's category.
    keep_best(&mut remaining, |c| {
        c.iter()
            .zip(types)
            .filter(|(p, a)| match a {
                Arg::Unknown => false,
                Arg::Typed(t) => p.exact(a) || (p.preferred() && category(t) == Some(p.category())),
            })
            .count()
    });
    if remaining.len() == 1 {
        return Ok(remaining.remove(0));
    }
    let unknown: Vec<usize> = (0..types.len())
        .filter(|i| types[*i] == Arg::Unknown)
        .collect();
    if unknown.is_empty() {
        return Err(true);
    }
    // Each untyped argument's category: the one all candidates share
    // there (no candidate takes a string); then its preferred type where
    // a candidate takes it.
    let mut filtered = remaining.clone();
    for &i in &unknown {
        let first = remaining[0][i].category();
        if remaining.iter().any(|c| c[i].category() != first) {
            return Err(true);
        }
        if remaining.iter().any(|c| c[i].preferred()) {
            filtered.retain(|c| c[i].preferred());
        }
    }
    if filtered.len() == 1 {
        return Ok(filtered.remove(0));
    }
    if !filtered.is_empty() {
        remaining = filtered;
    }
    // The untyped arguments read as the one type of the typed ones.
    let typed: Vec<&Arg> = types.iter().filter(|a| **a != Arg::Unknown).collect();
    if let Some(first) = typed.first()
        && typed.iter().all(|a| a == first)
    {
        let fits: Vec<Vec<Param>> = remaining
            .iter()
            .filter(|c| unknown.iter().all(|i| c[*i].accepts(first)))
            .cloned()
            .collect();
        if fits.len() == 1 {
            return Ok(fits.into_iter().next().unwrap_or_default());
        }
    }
    Err(true)
}

/// Casts the arguments of a `generate_series` call in `FROM` to the types
/// of the form PostgreSQL chooses for them (see the module
/// documentation); other relations pass unchanged.
#[derive(Debug)]
pub struct SeriesArgsPlanner;

impl RelationPlanner for SeriesArgsPlanner {
    fn plan_relation(
        &self,
        mut relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> DfResult<RelationPlanning> {
        let args = match &mut relation {
            TableFactor::Function { name, args, .. } => match name.0.as_slice() {
                [ObjectNamePart::Identifier(ident)]
                    if is_series(&context.normalize_ident(ident.clone())) =>
                {
                    args
                }
                _ => return Ok(RelationPlanning::Original(Box::new(relation))),
            },
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let mut exprs: Vec<&mut SqlExpr> = Vec::new();
        for arg in args.iter_mut() {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e),
                // Left to the planner, which refuses them.
                _ => return Ok(RelationPlanning::Original(Box::new(relation))),
            }
        }
        // Over no columns of its own, a column is an outer reference,
        // which carries its type.
        let planned = exprs
            .iter()
            .map(|e| context.sql_expr_to_logical_expr((**e).clone(), &DFSchema::empty()))
            .collect::<DfResult<Vec<_>>>()?;
        let form = resolve(&planned, &DFSchema::empty())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        for (e, t) in exprs.into_iter().zip(&form.params) {
            let data_type = sql_type(t).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let inner = std::mem::replace(e, SqlExpr::value(sqlparser::ast::Value::Null));
            *e = SqlExpr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(SqlExpr::Nested(Box::new(inner))),
                data_type,
                array: false,
                format: None,
            };
        }
        Ok(RelationPlanning::Original(Box::new(relation)))
    }
}

/// Whether `name` is `generate_series`, with or without `WITH
/// ORDINALITY` (`jsonb_table::mark_lateral` marks that in the name).
fn is_series(name: &str) -> bool {
    let name = name
        .strip_suffix(super::jsonb_table::WITH_ORDINALITY)
        .unwrap_or(name);
    name == "generate_series"
}

/// The SQL type for a parameter type.
fn sql_type(t: &ScalarType) -> Result<sqlparser::ast::DataType, PlanError> {
    let name = match t {
        ScalarType::Int32 => "integer",
        ScalarType::Int64 => "bigint",
        ScalarType::Numeric { .. } => "numeric",
        ScalarType::Timestamp(_) => "timestamp",
        ScalarType::TimestampTz(_) => "timestamptz",
        ScalarType::Interval { .. } => "interval",
        other => {
            return Err(PlanError::Internal(format!(
                "generate_series over {other:?}"
            )));
        }
    };
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(name)
        .and_then(|mut p| p.parse_data_type())
        .map_err(|e| PlanError::Internal(format!("the type {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(t: ScalarType) -> Arg {
        Arg::Typed(t)
    }

    fn output(types: &[Arg]) -> Result<Param, bool> {
        choose(types).map(|c| c[0])
    }

    #[test]
    fn forms_are_chosen_as_postgresql_chooses_them() {
        use ScalarType as T;
        let numeric = T::Numeric {
            precision: None,
            scale: None,
        };
        let u = || Arg::Unknown;
        assert_eq!(output(&[typed(T::Int32), u()]), Ok(Param::Int32));
        assert_eq!(output(&[u(), typed(T::Int32)]), Ok(Param::Int32));
        assert_eq!(
            output(&[typed(T::Int32), typed(T::Int64)]),
            Ok(Param::Int64)
        );
        assert_eq!(
            output(&[typed(T::Int16), typed(T::Int64), typed(T::Int32)]),
            Ok(Param::Int64)
        );
        assert_eq!(
            output(&[typed(T::Int32), typed(T::Int32), typed(numeric.clone())]),
            Ok(Param::Numeric)
        );
        assert_eq!(
            output(&[typed(T::Int16), typed(T::Int32)]),
            Ok(Param::Int32)
        );
        assert_eq!(
            output(&[u(), u(), typed(T::INTERVAL)]),
            Ok(Param::TimestampTz)
        );
        assert_eq!(
            output(&[typed(T::Date), u(), typed(T::INTERVAL)]),
            Ok(Param::TimestampTz)
        );
        assert_eq!(
            output(&[typed(T::Timestamp(None)), u(), u()]),
            Ok(Param::Timestamp)
        );
        assert_eq!(
            output(&[
                typed(T::TimestampTz(None)),
                typed(T::Timestamp(None)),
                typed(T::INTERVAL)
            ]),
            Ok(Param::TimestampTz)
        );
        // Ambiguous, as in PostgreSQL.
        assert_eq!(output(&[u(), u()]), Err(true));
        assert_eq!(output(&[u(), u(), u()]), Err(true));
        assert_eq!(output(&[typed(T::Int16), typed(T::Int16)]), Err(true));
        // No such function.
        assert_eq!(output(&[typed(T::Float64), typed(T::Int32)]), Err(false));
        assert_eq!(output(&[typed(T::Text), typed(T::Int32)]), Err(false));
        assert_eq!(
            output(&[typed(T::Timestamp(None)), typed(T::Timestamp(None))]),
            Err(false)
        );
        assert_eq!(output(&[typed(T::Int32)]), Err(false));
    }
}
