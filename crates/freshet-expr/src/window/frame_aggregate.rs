//! Aggregates as window functions: an aggregate's value over each row's
//! frame. Frames that all start at the partition's first row (the default
//! frame, `ROWS UNBOUNDED PRECEDING`, …) share one running accumulator, so a
//! partition costs linear rather than quadratic time for the aggregates
//! whose state is small; the others are evaluated per distinct frame.

use std::cmp::Ordering;

use crate::expr::EvalError;
use crate::expr::aggregate::AggregateExpr;
use crate::expr::func;
use crate::repr::{Datum, Diff, ScalarType};

/// An aggregate's value over each frame: `inputs` are the aggregate's
/// arguments at each position (`None` where `FILTER` rejects the row),
/// `frames` each row's half-open frame.
pub(super) fn aggregate_frames(
    agg: &AggregateExpr,
    inputs: &[Option<Vec<Datum>>],
    frames: &[(usize, usize)],
) -> Result<Vec<Datum>, EvalError> {
    // Frames that all start at the partition's first row end at positions
    // that never decrease: one running accumulator serves every row, in
    // linear rather than quadratic time.
    if frames.iter().all(|(lo, _)| *lo == 0)
        && frames.windows(2).all(|w| w[0].1 <= w[1].1)
        && let Some(mut running) = Running::new(agg)
    {
        let mut added = 0;
        let mut out = Vec::with_capacity(frames.len());
        for &(_, hi) in frames {
            for input in inputs[added..hi].iter().flatten() {
                running.add(input, &agg.output_type)?;
            }
            added = added.max(hi);
            out.push(running.value());
        }
        return Ok(out);
    }
    aggregate_frames_generic(agg, inputs, frames)
}

/// [`aggregate_frames`] by evaluating the aggregate over each frame.
fn aggregate_frames_generic(
    agg: &AggregateExpr,
    inputs: &[Option<Vec<Datum>>],
    frames: &[(usize, usize)],
) -> Result<Vec<Datum>, EvalError> {
    let mut out = Vec::with_capacity(frames.len());
    // Rows with the same frame (peers under RANGE, every row of a
    // whole-partition frame) share one evaluation.
    let mut last: Option<((usize, usize), Datum)> = None;
    for &bounds in frames {
        let value = match &last {
            Some((b, v)) if *b == bounds => v.clone(),
            _ => {
                let values = inputs[bounds.0..bounds.1]
                    .iter()
                    .filter_map(|v| v.as_deref().map(|v| (v, 1 as Diff)));
                agg.eval(values)?
            }
        };
        out.push(value.clone());
        last = Some((bounds, value));
    }
    Ok(out)
}

/// The running state of an aggregate over a growing frame, for the
/// aggregates whose state is small: the same additions and comparisons, in
/// the same order, as [`AggregateExpr::eval`] makes.
enum Running {
    CountStar(i64),
    Count(i64),
    Sum(Option<Datum>),
    Min(Option<Datum>),
    Max(Option<Datum>),
    BoolAnd(Option<bool>),
    BoolOr(Option<bool>),
}

impl Running {
    fn new(agg: &AggregateExpr) -> Option<Running> {
        use crate::expr::aggregate::AggregateFunc as F;
        if agg.distinct {
            return None;
        }
        Some(match agg.func {
            F::CountStar => Running::CountStar(0),
            F::Count => Running::Count(0),
            F::Sum => Running::Sum(None),
            F::Min => Running::Min(None),
            F::Max => Running::Max(None),
            F::BoolAnd => Running::BoolAnd(None),
            F::BoolOr => Running::BoolOr(None),
            F::Avg
            | F::Stat(_)
            | F::Bit(_)
            | F::Regr(_)
            | F::StringAgg { .. }
            | F::ArrayAgg { .. }
            | F::JsonbAgg { .. }
            | F::JsonbObjectAgg { .. }
            | F::JsonAgg { .. }
            | F::JsonObjectAgg { .. } => return None,
        })
    }

    fn add(&mut self, input: &[Datum], output_type: &ScalarType) -> Result<(), EvalError> {
        let v = input.first().cloned().unwrap_or(Datum::Null);
        if let Running::CountStar(n) = self {
            *n += 1;
            return Ok(());
        }
        if v.is_null() {
            return Ok(());
        }
        match self {
            Running::CountStar(_) => {}
            Running::Count(n) => *n += 1,
            Running::Sum(acc) => {
                let term = func::cast(v, output_type)?;
                *acc = Some(match acc.take() {
                    None => term,
                    Some(a) => func::BinaryFunc::Add.eval(a, term)?,
                });
            }
            Running::Min(best) | Running::Max(best) => {
                let take = match best {
                    None => true,
                    Some(b) => {
                        let ord = func::compare(&v, b)?;
                        if matches!(self, Running::Min(_)) {
                            ord == Ordering::Less
                        } else {
                            ord == Ordering::Greater
                        }
                    }
                };
                if take && let Running::Min(best) | Running::Max(best) = self {
                    *best = Some(v);
                }
            }
            Running::BoolAnd(acc) => *acc = Some(acc.unwrap_or(true) && v == Datum::Bool(true)),
            Running::BoolOr(acc) => *acc = Some(acc.unwrap_or(false) || v == Datum::Bool(true)),
        }
        Ok(())
    }

    fn value(&self) -> Datum {
        match self {
            Running::CountStar(n) | Running::Count(n) => Datum::Int64(*n),
            Running::Sum(acc) | Running::Min(acc) | Running::Max(acc) => {
                acc.clone().unwrap_or(Datum::Null)
            }
            Running::BoolAnd(acc) | Running::BoolOr(acc) => {
                acc.map(Datum::Bool).unwrap_or(Datum::Null)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::ScalarExpr;

    /// The running accumulators agree with evaluating each frame, on
    /// pseudo-random partitions with NULLs and FILTER, over every frame
    /// that starts at the partition's first row.
    #[test]
    fn running_aggregates_match_per_frame_evaluation() {
        use crate::expr::aggregate::AggregateFunc as F;
        let mut seed: u64 = 7;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        for _ in 0..200 {
            let n = (next() % 12) as usize;
            let inputs: Vec<Option<Vec<Datum>>> = (0..n)
                .map(|_| match next() % 5 {
                    0 => None,
                    1 => Some(vec![Datum::Null]),
                    _ => Some(vec![Datum::Int32((next() % 21 - 10) as i32)]),
                })
                .collect();
            let bools: Vec<Option<Vec<Datum>>> = inputs
                .iter()
                .map(|v| {
                    v.as_ref().map(|v| match &v[0] {
                        Datum::Int32(x) => vec![Datum::Bool(*x > 0)],
                        _ => vec![Datum::Null],
                    })
                })
                .collect();
            // Ends that never decrease, as every supported frame's do.
            let mut hi = 0;
            let frames: Vec<(usize, usize)> = (0..n)
                .map(|_| {
                    hi = (hi + (next() % 3) as usize).min(n);
                    (0, hi)
                })
                .collect();
            for func in [
                F::CountStar,
                F::Count,
                F::Sum,
                F::Min,
                F::Max,
                F::BoolAnd,
                F::BoolOr,
            ] {
                let agg = AggregateExpr {
                    func: func.clone(),
                    exprs: vec![ScalarExpr::Column(0)],
                    input_type: Some(ScalarType::Int64),
                    distinct: false,
                    filter: None,
                    output_type: ScalarType::Int64,
                };
                let inputs = if matches!(func, F::BoolAnd | F::BoolOr) {
                    &bools
                } else {
                    &inputs
                };
                assert_eq!(
                    aggregate_frames(&agg, inputs, &frames).unwrap(),
                    aggregate_frames_generic(&agg, inputs, &frames).unwrap(),
                    "{func:?} over {inputs:?} in {frames:?}"
                );
            }
        }
    }
}
