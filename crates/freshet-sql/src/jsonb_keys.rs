//! `jsonb` values as grouping, deduplication and join keys.
//!
//! A `jsonb` datum is its canonical text, which keeps each number's scale
//! as PostgreSQL's output does (`'1.0'::jsonb` prints `1.0`). Yet `jsonb`
//! `=` finds `1` and `1.0` equal, and PostgreSQL groups, deduplicates
//! (`DISTINCT`, `UNION`), joins and partitions `jsonb` by that equality.
//! Keys built from the raw text would put equal values apart, so the
//! lowering keys on [`UnaryFunc::JsonbGroupKey`] (the text with numbers
//! written without trailing fraction zeros) wherever a `jsonb` value is a
//! key: join keys, `GROUP BY`, `DISTINCT`, `DISTINCT ON`, `PARTITION BY`
//! and `count(DISTINCT …)`.
//!
//! Where the key is also an output column (`GROUP BY j` selecting `j`,
//! `DISTINCT`), the group prints one of its own values, as PostgreSQL does
//! (which one depends there on the input order): here the shortest (the
//! fewest trailing zeros), whatever the order, so a view and a one-shot
//! query agree. It is a hidden `min` of the value, whose `jsonb`
//! comparison ties exactly within a group and breaks ties by length,
//! projected in the key's place.

use datafusion_common::DFSchema;
use datafusion_expr::{Expr, ExprSchemable};

use crate::expr::func::UnaryFunc;
use crate::expr::{AggregateExpr, AggregateFunc, RelationExpr, ScalarExpr};
use crate::repr::ScalarType;

/// Whether `e` is a `jsonb` expression over rows of `schema`.
pub fn is_jsonb(e: &Expr, schema: &DFSchema) -> bool {
    e.to_field(schema)
        .ok()
        .and_then(|(_, field)| ScalarType::from_field(&field).ok())
        .is_some_and(|t| t == ScalarType::Jsonb)
}

/// `lowered` (the lowering of `e`) as a key: its grouping key if `e` is
/// `jsonb`, else unchanged.
pub fn key_arg(e: &Expr, lowered: ScalarExpr, schema: &DFSchema) -> ScalarExpr {
    if is_jsonb(e, schema) {
        key(lowered)
    } else {
        lowered
    }
}

/// The grouping key of a `jsonb` expression.
pub fn key(e: ScalarExpr) -> ScalarExpr {
    e.call_unary(UnaryFunc::JsonbGroupKey)
}

/// A `Reduce` of `input` by `group_key` computing `aggregates`, where the
/// key expressions at `jsonb` positions (`is_jsonb[i]`) are the values to
/// group: they are grouped by their [`key`] and each group outputs one of
/// its values in the key's place. The output columns are the keys and
/// then the aggregates, as a plain `Reduce`'s.
pub fn reduce(
    input: RelationExpr,
    mut group_key: Vec<ScalarExpr>,
    is_jsonb: &[bool],
    mut aggregates: Vec<AggregateExpr>,
    global: bool,
) -> RelationExpr {
    let keys = group_key.len();
    let aggs = aggregates.len();
    let mut projection: Vec<usize> = (0..keys + aggs).collect();
    for (i, _) in is_jsonb.iter().enumerate().filter(|(_, j)| **j) {
        let value = group_key[i].clone();
        group_key[i] = key(value.clone());
        projection[i] = keys + aggregates.len();
        aggregates.push(AggregateExpr {
            func: AggregateFunc::Min,
            exprs: vec![value],
            input_type: Some(ScalarType::Jsonb),
            distinct: false,
            filter: None,
            output_type: ScalarType::Jsonb,
        });
    }
    let hidden = aggregates.len() > aggs;
    let reduce = RelationExpr::Reduce {
        input: Box::new(input),
        group_key,
        aggregates,
        global,
    };
    if hidden {
        RelationExpr::mfp(reduce, vec![], vec![], projection)
    } else {
        reduce
    }
}

/// `SELECT DISTINCT` over `input`, whose columns are `schema`'s: a plain
/// `Distinct`, or a [`reduce`] by all columns when some are `jsonb`.
pub fn distinct(input: RelationExpr, schema: &DFSchema) -> RelationExpr {
    let is_jsonb: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| ScalarType::from_field(f).is_ok_and(|t| t == ScalarType::Jsonb))
        .collect();
    if !is_jsonb.contains(&true) {
        return RelationExpr::Distinct {
            input: Box::new(input),
        };
    }
    let group_key = (0..is_jsonb.len()).map(ScalarExpr::Column).collect();
    reduce(input, group_key, &is_jsonb, vec![], false)
}
