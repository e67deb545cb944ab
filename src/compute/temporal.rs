//! The rendering of a map/filter/project with a temporal filter
//! ([`crate::expr::temporal`]): each update `(row, t, diff)` that passes the
//! plain predicates becomes `(row', max(t, lower), diff)` and, with an upper
//! bound, `(row', max(t, upper), -diff)`, as Materialize's `MfpPlan` does.
//!
//! Updates at future times are ordinary in differential dataflow: they
//! wait in the operators downstream (an arrangement keeps them in its
//! batcher) until the frontier passes them, which the coordinator's clock
//! ticks make happen as wall-clock time passes (`coord/clock.rs`).

use differential_dataflow::AsCollection;
use timely::dataflow::operators::vec::Map;

use crate::expr::temporal::TemporalFilter;
use crate::expr::{EvalError, ScalarExpr};
use crate::repr::{Datum, Diff, Row, RowPacker, Timestamp};

use super::render::{ErrCollection, OkCollection, split};

/// A map/filter/project whose predicates include comparisons with
/// `mz_now()`.
#[derive(Clone, Debug)]
pub struct TemporalMfp {
    /// Expressions appended to each row.
    exprs: Vec<ScalarExpr>,
    /// The plain predicates and the temporal bounds, over the extended row.
    filter: TemporalFilter,
    /// The output columns of the extended row.
    projection: Vec<usize>,
}

impl TemporalMfp {
    /// The temporal form of a map/filter/project: `Ok(None)` when its
    /// predicates do not call `mz_now()`, an error when they call it in a
    /// way that cannot be maintained (the coordinator refuses such plans
    /// before they reach a worker).
    pub fn new(
        exprs: &[ScalarExpr],
        predicates: &[ScalarExpr],
        projection: &[usize],
    ) -> Result<Option<TemporalMfp>, String> {
        match TemporalFilter::extract(predicates) {
            Ok(None) => Ok(None),
            Ok(Some(filter)) => Ok(Some(TemporalMfp {
                exprs: exprs.to_vec(),
                filter,
                projection: projection.to_vec(),
            })),
            Err(p) => Err(format!("unsupported temporal predicate {p}")),
        }
    }

    /// The updates one input update becomes: none, an error at `t`, or the
    /// row's insertion and (with an upper bound) its retraction.
    fn evaluate(
        &self,
        row: &Row,
        t: Timestamp,
    ) -> Result<Option<(Row, Timestamp, Option<Timestamp>)>, EvalError> {
        let mut datums = row.unpack();
        for e in &self.exprs {
            let d = e.eval(&datums)?;
            datums.push(d);
        }
        for p in &self.filter.predicates {
            if p.eval(&datums)? != Datum::Bool(true) {
                return Ok(None);
            }
        }
        let Some((from, until)) = self.filter.interval(&datums, t)? else {
            return Ok(None);
        };
        let mut out = RowPacker::new();
        for c in &self.projection {
            match datums.get(*c) {
                Some(d) => out.push(d),
                None => {
                    return Err(EvalError::Internal(format!(
                        "projection of missing column {c}"
                    )));
                }
            }
        }
        Ok(Some((out.finish(), from, until)))
    }

    /// Applies the map/filter/project with its temporal bounds to `oks`,
    /// adding evaluation errors (at the input update's time) to `errs`.
    pub fn render<'s>(
        self,
        oks: OkCollection<'s>,
        errs: ErrCollection<'s>,
    ) -> (OkCollection<'s>, ErrCollection<'s>) {
        let results = oks
            .inner
            .flat_map(move |(row, t, diff)| {
                let mut out: Vec<(Result<Row, EvalError>, Timestamp, Diff)> = Vec::new();
                match self.evaluate(&row, t) {
                    Err(e) => out.push((Err(e), t, diff)),
                    Ok(None) => {}
                    Ok(Some((row, from, until))) => {
                        if let Some(until) = until {
                            out.push((Ok(row.clone()), until, -diff));
                        }
                        out.push((Ok(row), from, diff));
                    }
                }
                out
            })
            .as_collection();
        split(results, errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::func::{BinaryFunc, UnaryFunc};
    use crate::expr::scalar::UnmaterializableFunc;

    fn now() -> ScalarExpr {
        ScalarExpr::Unmaterializable(UnmaterializableFunc::MzNow)
    }

    #[test]
    fn evaluates_bounds_and_projects() {
        // WHERE mz_now() < #0 + 10 (as mz_timestamp), projecting #1.
        let upper = ScalarExpr::Column(0)
            .call_binary(ScalarExpr::Literal(Datum::Int64(10)), BinaryFunc::Add)
            .call_unary(UnaryFunc::MzTimestamp);
        let mfp = TemporalMfp::new(&[], &[now().call_binary(upper, BinaryFunc::Lt)], &[1])
            .unwrap()
            .unwrap();
        let row = Row::new(vec![Datum::Int64(100), Datum::Int32(7)]);
        let (out, from, until) = mfp.evaluate(&row, 50).unwrap().unwrap();
        assert_eq!(out, Row::new(vec![Datum::Int32(7)]));
        assert_eq!((from, until), (50, Some(110)));
        // Arriving after its upper bound: never present.
        assert_eq!(mfp.evaluate(&row, 120), Ok(None));
        // A bound that cannot be converted is the row's error.
        let bad = Row::new(vec![Datum::Int64(-100), Datum::Int32(7)]);
        assert!(mfp.evaluate(&bad, 50).is_err());
    }
}
