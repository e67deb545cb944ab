//! Lowering `GROUP BY GROUPING SETS (...)`, `ROLLUP (...)` and `CUBE (...)`.
//!
//! An aggregate over grouping sets is the union of one aggregate per set,
//! each grouping by the set's expressions and giving NULL for the grouping
//! expressions outside it; no operator of its own is needed. DataFusion's
//! plan adds an internal column `__grouping_id` after the grouping
//! expressions: bit `n - 1 - i` is set when the `i`-th of the `n` distinct
//! grouping expressions is absent from the row's set, and the bits above `n`
//! count earlier occurrences of the same set (so that `GROUPING SETS ((a),
//! (a))` yields each group twice, as in PostgreSQL). `GROUPING(...)` is
//! resolved by DataFusion's analyzer into masks and shifts of that column.

use datafusion_common::ScalarValue;
use datafusion_common::arrow::datatypes::DataType;
use datafusion_expr::logical_plan::Aggregate;
use datafusion_expr::{Expr, GroupingSet};

use crate::expr::func::scalar_to_datum;
use crate::expr::{RelationExpr, ScalarExpr};
use crate::repr::Datum;

use super::PlanError;
use super::lower::{lower_aggregates, lower_expr};

/// The most grouping sets one `GROUP BY` may expand into: each is an
/// aggregate of its own in the dataflow.
const MAX_GROUPING_SETS: usize = 256;

/// Lowers an aggregate whose `GROUP BY` is the grouping sets `sets`, over
/// the already lowered `input`.
pub(super) fn lower_grouping_sets(
    a: &Aggregate,
    sets: &GroupingSet,
    input: RelationExpr,
) -> Result<RelationExpr, PlanError> {
    let schema = a.input.schema();
    let distinct = sets.distinct_expr();
    let n = distinct.len();
    let expanded: Vec<Vec<&Expr>> = match sets {
        GroupingSet::Rollup(exprs) => (0..=exprs.len())
            .rev()
            .map(|k| exprs[..k].iter().collect())
            .collect(),
        GroupingSet::Cube(exprs) => {
            if exprs.len() > 8 {
                return too_many();
            }
            (0..1usize << exprs.len())
                .map(|bits| {
                    exprs
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| bits & (1 << i) == 0)
                        .map(|(_, e)| e)
                        .collect()
                })
                .collect()
        }
        GroupingSet::GroupingSets(sets) => sets.iter().map(|s| s.iter().collect()).collect(),
    };
    if expanded.len() > MAX_GROUPING_SETS {
        return too_many();
    }
    let id_field = &a.schema.fields()[n];
    let aggregates = lower_aggregates(a, n + 1)?;
    let lowered = distinct
        .iter()
        .map(|e| lower_expr(e, schema))
        .collect::<Result<Vec<_>, _>>()?;
    let is_jsonb: Vec<bool> = distinct
        .iter()
        .map(|e| super::jsonb_keys::is_jsonb(e, schema))
        .collect();
    let mut masks_seen: Vec<u64> = Vec::new();
    let mut inputs = Vec::new();
    for set in &expanded {
        // Which distinct expressions the set groups by, in their order.
        let present: Vec<usize> = (0..n).filter(|i| set.contains(&distinct[*i])).collect();
        let mask = (0..n)
            .filter(|i| !present.contains(i))
            .fold(0u64, |m, i| m | 1 << (n - 1 - i));
        let ordinal = masks_seen.iter().filter(|m| **m == mask).count() as u64;
        masks_seen.push(mask);
        let id = ordinal
            .checked_shl(n as u32)
            .map(|o| o | mask)
            .ok_or_else(|| PlanError::Unsupported("this many grouping expressions".into()))?;
        let reduce = super::jsonb_keys::reduce(
            input.clone(),
            present.iter().map(|i| lowered[*i].clone()).collect(),
            &present.iter().map(|i| is_jsonb[*i]).collect::<Vec<_>>(),
            aggregates.clone(),
            present.is_empty(),
        );
        // The set's keys, then the aggregates; widened to all the grouping
        // expressions (NULL where absent), the id, then the aggregates.
        let k = present.len();
        let width = k + aggregates.len();
        let mut exprs = Vec::new();
        let mut projection = Vec::new();
        for i in 0..n {
            match present.iter().position(|p| *p == i) {
                Some(p) => projection.push(p),
                None => {
                    projection.push(width + exprs.len());
                    exprs.push(ScalarExpr::null());
                }
            }
        }
        projection.push(width + exprs.len());
        exprs.push(ScalarExpr::Literal(grouping_id(id, id_field.data_type())?));
        projection.extend(k..width);
        inputs.push(RelationExpr::mfp(reduce, exprs, vec![], projection));
    }
    Ok(RelationExpr::Union { inputs })
}

fn too_many<T>() -> Result<T, PlanError> {
    Err(PlanError::Unsupported(format!(
        "more than {MAX_GROUPING_SETS} grouping sets"
    )))
}

/// The `__grouping_id` value `id` in the column's (unsigned) type, as the
/// literals `GROUPING()` compares it with are lowered.
fn grouping_id(id: u64, ty: &DataType) -> Result<Datum, PlanError> {
    use DataType as T;
    let narrow = || PlanError::Internal(format!("grouping id {id} does not fit {ty}"));
    let value = match ty {
        T::UInt8 => ScalarValue::UInt8(Some(u8::try_from(id).map_err(|_| narrow())?)),
        T::UInt16 => ScalarValue::UInt16(Some(u16::try_from(id).map_err(|_| narrow())?)),
        T::UInt32 => ScalarValue::UInt32(Some(u32::try_from(id).map_err(|_| narrow())?)),
        T::UInt64 => ScalarValue::UInt64(Some(id)),
        other => {
            return Err(PlanError::Internal(format!(
                "unexpected grouping id type {other}"
            )));
        }
    };
    scalar_to_datum(&value).map_err(PlanError::from_eval)
}
