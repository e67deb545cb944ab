//! The window functions DataFusion's planner may resolve (`row_number`,
//! `rank`, `dense_rank`, `percent_rank`, `cume_dist`, `ntile`, `lag`,
//! `lead`, `first_value`, `last_value`, `nth_value`), as planning-only [`WindowUDF`]s: they give each call its
//! argument coercion and result type. Freshet never asks them to evaluate;
//! `lower` turns each call into an [`crate::expr::window::WindowExpr`].

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{Result as DfResult, not_impl_err, plan_err};
use datafusion_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion_expr::type_coercion::binary::comparison_coercion;
use datafusion_expr::{PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl};

/// The shape of a window function's arguments and result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    /// No arguments, a `bigint` result (`row_number`, `rank`, `dense_rank`).
    Ranking,
    /// No arguments, a `double precision` result (`percent_rank`,
    /// `cume_dist`).
    Fraction,
    /// `(buckets)`, an `integer` result (`ntile`).
    Ntile,
    /// `(value [, offset [, default]])`, the value's type (`lag`, `lead`).
    Offset,
    /// `(value)`, the value's type (`first_value`, `last_value`).
    Value,
    /// `(value, n)`, the value's type (`nth_value`).
    Nth,
}

/// A window function known to the planner.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PlanningWindowFunc {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl WindowUDFImpl for PlanningWindowFunc {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> DfResult<Box<dyn PartitionEvaluator>> {
        not_impl_err!("window function {} is evaluated by Freshet", self.name)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let name = self.name;
        match (self.kind, arg_types) {
            (Kind::Ranking | Kind::Fraction, []) => Ok(vec![]),
            (Kind::Ntile, [_]) => Ok(vec![DataType::Int64]),
            (Kind::Value, [t]) => Ok(vec![t.clone()]),
            (Kind::Nth, [t, _]) => Ok(vec![t.clone(), DataType::Int64]),
            (Kind::Offset, [t]) => Ok(vec![t.clone()]),
            (Kind::Offset, [t, _]) => Ok(vec![t.clone(), DataType::Int64]),
            (Kind::Offset, [t, _, d]) => {
                // PostgreSQL resolves the value and the default to a common
                // type (`anycompatible`).
                let common = if d.is_null() || d == t {
                    Some(t.clone())
                } else {
                    // Mixed numeric types meet in `numeric` without a type
                    // modifier (Freshet's Decimal128(38, 10)), as in
                    // PostgreSQL.
                    comparison_coercion(t, d).map(|c| match c {
                        DataType::Decimal32(..)
                        | DataType::Decimal64(..)
                        | DataType::Decimal128(..)
                        | DataType::Decimal256(..) => DataType::Decimal128(38, 10),
                        other => other,
                    })
                };
                match common {
                    Some(c) => Ok(vec![c.clone(), DataType::Int64, c]),
                    None => plan_err!(
                        "function {name}({t}, bigint, {d}) does not exist: the value and the default have no common type"
                    ),
                }
            }
            _ => plan_err!(
                "function {name} does not take {} argument(s)",
                arg_types.len()
            ),
        }
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        let name = field_args.name();
        match (self.kind, field_args.get_input_field(0)) {
            (Kind::Ranking, _) => Ok(Arc::new(Field::new(name, DataType::Int64, false))),
            (Kind::Fraction, _) => Ok(Arc::new(Field::new(name, DataType::Float64, false))),
            (Kind::Ntile, _) => Ok(Arc::new(Field::new(name, DataType::Int32, true))),
            // The value's field, metadata included, so `varchar(n)` or
            // `jsonb` come out as what went in.
            (_, Some(value)) => Ok(Arc::new(
                value.as_ref().clone().with_name(name).with_nullable(true),
            )),
            (_, None) => plan_err!("function {} needs an argument", self.name),
        }
    }
}

/// The window functions by name.
pub fn window_functions() -> HashMap<String, Arc<WindowUDF>> {
    let functions = [
        ("row_number", Kind::Ranking),
        ("rank", Kind::Ranking),
        ("dense_rank", Kind::Ranking),
        ("percent_rank", Kind::Fraction),
        ("cume_dist", Kind::Fraction),
        ("ntile", Kind::Ntile),
        ("lag", Kind::Offset),
        ("lead", Kind::Offset),
        ("first_value", Kind::Value),
        ("last_value", Kind::Value),
        ("nth_value", Kind::Nth),
    ];
    functions
        .into_iter()
        .map(|(name, kind)| {
            let signature = match kind {
                Kind::Ranking | Kind::Fraction => Signature::nullary(Volatility::Immutable),
                _ => Signature::user_defined(Volatility::Immutable),
            };
            let udf = WindowUDF::new_from_impl(PlanningWindowFunc {
                name,
                kind,
                signature,
            });
            (name.to_string(), Arc::new(udf))
        })
        .collect()
}
