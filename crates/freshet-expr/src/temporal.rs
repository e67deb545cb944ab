//! `mz_now()` and temporal filters, as Materialize defines them.
//!
//! `mz_now()` is the logical timestamp a query reads at: milliseconds since
//! the Unix epoch (Materialize's `mz_timestamp`, here a `bigint`). The
//! planner compares it only with values converted by
//! [`UnaryFunc::MzTimestamp`](super::func::UnaryFunc::MzTimestamp)
//! (`sql/temporal.rs`), so a comparison means the same in a one-shot query,
//! where `mz_now()` is a literal (the read timestamp), and in a maintained
//! plan, where it is a *temporal filter*.
//!
//! In a maintained plan (materialized view, index, SUBSCRIBE), `mz_now()`
//! may only appear in the predicates of a map/filter/project (`WHERE`,
//! `HAVING`), each of the form `mz_now() <op> expr` (or mirrored) with `<op>`
//! one of `=`, `<`, `<=`, `>`, `>=` and `expr` not calling `mz_now()`. Such a
//! predicate does not drop rows: it bounds the times at which each row is
//! present. A row that passes the other predicates, arriving at time `t`,
//! is present from `max(t, lower)` until `upper` (exclusive), where `lower`
//! is the greatest lower bound and `upper` the least upper bound its
//! predicates give ([`TemporalFilter`]); `compute/temporal.rs` turns the
//! update into an insertion at `max(t, lower)` and a retraction at
//! `max(t, upper)`. A NULL bound means the comparison is never true: the
//! row is never present. An error evaluating a bound is the row's error, at
//! `t`.

use crate::repr::{Datum, NumericRounding, Timestamp};

use super::func::BinaryFunc;
#[cfg(test)]
use super::func::UnaryFunc;
use super::scalar::UnmaterializableFunc;
use super::{EvalError, RelationExpr, ScalarExpr};

/// Milliseconds in a day.
const MILLIS_PER_DAY: i64 = 86_400_000;

/// Converts a value compared with `mz_now()` to an `mz_timestamp`
/// (milliseconds since the Unix epoch, as `bigint`), as Materialize's casts
/// to `mz_timestamp` do: timestamps (without a zone: UTC) truncated to the
/// millisecond, dates at midnight UTC, integers as they are, numerics
/// rounded, text as an integer or a `timestamptz`. Values before the epoch
/// are out of range.
pub fn to_mz_timestamp(d: Datum) -> Result<Datum, EvalError> {
    let range = || EvalError::OutOfRange("mz_timestamp".into());
    let millis = match d {
        Datum::Null => return Ok(Datum::Null),
        Datum::Int16(v) => i64::from(v),
        Datum::Int32(v) => i64::from(v),
        Datum::Int64(v) => v,
        Datum::Numeric(n) => n
            .round_dp_with(0, NumericRounding::HalfAwayFromZero)
            .to_i64()
            .ok_or_else(range)?,
        Datum::NumericNaN => return Err(range()),
        Datum::Timestamp(micros) | Datum::TimestampTz(micros) => micros.div_euclid(1000),
        Datum::Date(days) => i64::from(days) * MILLIS_PER_DAY,
        Datum::String(s) => {
            let text = s.trim();
            match text.parse::<i64>() {
                Ok(v) => v,
                Err(_) => crate::repr::strconv::parse_timestamptz(text)
                    .map_err(|_| EvalError::Parse {
                        code: crate::repr::SqlState::INVALID_DATETIME_FORMAT,
                        message: format!("invalid input syntax for type mz_timestamp: \"{s}\""),
                    })?
                    .div_euclid(1000),
            }
        }
        other => {
            return Err(EvalError::Internal(format!(
                "no conversion of {other:?} to mz_timestamp"
            )));
        }
    };
    if millis < 0 {
        return Err(range());
    }
    Ok(Datum::Int64(millis))
}

/// An `mz_timestamp` (milliseconds) as a `timestamptz` (microseconds), for
/// `mz_now()::timestamptz`.
pub fn to_timestamptz(d: Datum) -> Result<Datum, EvalError> {
    match d {
        Datum::Null => Ok(Datum::Null),
        Datum::Int64(ms) => ms
            .checked_mul(1000)
            .map(Datum::TimestampTz)
            .ok_or_else(|| EvalError::OutOfRange("timestamp".into())),
        other => Err(EvalError::Internal(format!(
            "{other:?} is not an mz_timestamp"
        ))),
    }
}

/// The predicates of a map/filter/project split into plain predicates and
/// the temporal bounds its comparisons with `mz_now()` give.
#[derive(Clone, Debug, Default)]
pub struct TemporalFilter {
    /// Predicates that do not call `mz_now()`.
    pub predicates: Vec<ScalarExpr>,
    /// Lower bounds (inclusive): the row is present from the greatest.
    pub lower: Vec<ScalarExpr>,
    /// Upper bounds (exclusive): the row is present until the least.
    pub upper: Vec<ScalarExpr>,
}

impl TemporalFilter {
    /// Splits `predicates`: `Ok(None)` when none calls `mz_now()`, an error
    /// naming the first predicate that calls it in a way that cannot bound
    /// rows in time.
    pub fn extract(predicates: &[ScalarExpr]) -> Result<Option<TemporalFilter>, ScalarExpr> {
        if !predicates.iter().any(calls_mz_now) {
            return Ok(None);
        }
        let mut out = TemporalFilter::default();
        for p in predicates {
            if !calls_mz_now(p) {
                out.predicates.push(p.clone());
                continue;
            }
            let Some((func, bound)) = comparison_with_mz_now(p) else {
                return Err(p.clone());
            };
            let plus_one = |e: ScalarExpr| {
                e.call_binary(ScalarExpr::Literal(Datum::Int64(1)), BinaryFunc::Add)
            };
            match func {
                BinaryFunc::Eq => {
                    out.lower.push(bound.clone());
                    out.upper.push(plus_one(bound));
                }
                BinaryFunc::Lt => out.upper.push(bound),
                BinaryFunc::LtEq => out.upper.push(plus_one(bound)),
                BinaryFunc::Gt => out.lower.push(plus_one(bound)),
                BinaryFunc::GtEq => out.lower.push(bound),
                _ => return Err(p.clone()),
            }
        }
        Ok(Some(out))
    }

    /// The interval of times at which a row is present, given the time `t`
    /// its update happened at: `Ok(None)` when it is never present (a NULL
    /// bound, or an empty interval), else `(from, until)`, `until`
    /// exclusive (`None`: for ever).
    pub fn interval(
        &self,
        datums: &[Datum],
        t: Timestamp,
    ) -> Result<Option<(Timestamp, Option<Timestamp>)>, EvalError> {
        let mut null = false;
        let mut from = t;
        for e in &self.lower {
            match e.eval(datums)? {
                Datum::Int64(v) => from = from.max(millis(v)),
                Datum::Null => null = true,
                other => return Err(not_a_timestamp(&other)),
            }
        }
        let mut until: Option<Timestamp> = None;
        for e in &self.upper {
            match e.eval(datums)? {
                Datum::Int64(v) => {
                    let v = millis(v).max(from);
                    until = Some(until.map_or(v, |u| u.min(v)));
                }
                Datum::Null => null = true,
                other => return Err(not_a_timestamp(&other)),
            }
        }
        if null || until == Some(from) {
            return Ok(None);
        }
        Ok(Some((from, until)))
    }

    /// The bounds, as `EXPLAIN` shows them.
    pub fn describe(&self) -> String {
        let list = |es: &[ScalarExpr]| {
            es.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let lower = match self.lower.len() {
            0 => "update time".to_string(),
            _ => format!("greatest(update time, {})", list(&self.lower)),
        };
        let upper = match self.upper.len() {
            0 => "for ever".to_string(),
            1 => list(&self.upper),
            _ => format!("least({})", list(&self.upper)),
        };
        format!("mz_now() in [{lower}, {upper})")
    }
}

/// An `mz_timestamp` as a timestamp: negative values (only reachable
/// through `bound + 1` arithmetic on converted values, which are never
/// negative) count as the epoch.
fn millis(v: i64) -> Timestamp {
    Timestamp::try_from(v).unwrap_or(0)
}

fn not_a_timestamp(d: &Datum) -> EvalError {
    EvalError::Internal(format!("temporal bound {d:?} is not an mz_timestamp"))
}

/// Whether `e` calls `mz_now()` anywhere.
pub fn calls_mz_now(e: &ScalarExpr) -> bool {
    let mut found = false;
    e.clone().visit_mut(&mut |x| {
        if matches!(x, ScalarExpr::Unmaterializable(UnmaterializableFunc::MzNow)) {
            found = true;
        }
    });
    found
}

/// `mz_now() <op> bound` (or mirrored, with `<op>` flipped) where `bound`
/// does not call `mz_now()`: the operator as seen from `mz_now()`, and the
/// bound.
fn comparison_with_mz_now(p: &ScalarExpr) -> Option<(BinaryFunc, ScalarExpr)> {
    let ScalarExpr::CallBinary { func, left, right } = p else {
        return None;
    };
    let is_now =
        |e: &ScalarExpr| matches!(e, ScalarExpr::Unmaterializable(UnmaterializableFunc::MzNow));
    let (func, bound) = if is_now(left) && !calls_mz_now(right) {
        (func.clone(), (**right).clone())
    } else if is_now(right) && !calls_mz_now(left) {
        let flipped = match func {
            BinaryFunc::Lt => BinaryFunc::Gt,
            BinaryFunc::LtEq => BinaryFunc::GtEq,
            BinaryFunc::Gt => BinaryFunc::Lt,
            BinaryFunc::GtEq => BinaryFunc::LtEq,
            other => other.clone(),
        };
        (flipped, (**left).clone())
    } else {
        return None;
    };
    matches!(
        func,
        BinaryFunc::Eq | BinaryFunc::Lt | BinaryFunc::LtEq | BinaryFunc::Gt | BinaryFunc::GtEq
    )
    .then_some((func, bound))
}

impl RelationExpr {
    /// Whether the plan calls `mz_now()` anywhere.
    pub fn calls_mz_now(&self) -> bool {
        let mut found = false;
        self.clone()
            .visit_scalars_mut(&mut |e| found |= calls_mz_now(e));
        found
    }

    /// Replaces `mz_now()` by `ts`, the timestamp a one-shot query or DML
    /// statement reads at.
    pub fn resolve_mz_now(&mut self, ts: Timestamp) {
        let value = Datum::Int64(i64::try_from(ts).unwrap_or(i64::MAX));
        self.visit_scalars_mut(&mut |e| {
            e.visit_mut(&mut |x| {
                if matches!(x, ScalarExpr::Unmaterializable(UnmaterializableFunc::MzNow)) {
                    *x = ScalarExpr::Literal(value.clone());
                }
            })
        });
    }

    /// Moves the comparisons with `mz_now()` of an inner join's condition
    /// into a filter over the join (the same rows), where they are a
    /// temporal filter; other plans are returned as they are.
    pub fn hoist_temporal_join_filter(mut self) -> RelationExpr {
        let RelationExpr::Join {
            kind: super::JoinKind::Inner,
            filter,
            left_arity,
            right_arity,
            ..
        } = &mut self
        else {
            return self;
        };
        let Some(condition) = filter.take_if(|f| calls_mz_now(f)) else {
            return self;
        };
        let (temporal, plain): (Vec<_>, Vec<_>) = condition
            .into_conjuncts()
            .into_iter()
            .partition(calls_mz_now);
        *filter = plain
            .into_iter()
            .reduce(|a, b| a.call_binary(b, BinaryFunc::And));
        let arity = *left_arity + *right_arity;
        RelationExpr::mfp(self, vec![], temporal, (0..arity).collect())
    }

    /// Checks that every `mz_now()` of a plan to be maintained is part of
    /// a temporal filter, and returns the plan with those predicates
    /// replaced by `true`, so that any call to `now()` or its kin left is
    /// one that cannot be maintained.
    pub fn without_temporal_filters(&self, what: &str) -> Result<RelationExpr, TemporalError> {
        let mut plan = self.clone();
        strip_temporal(&mut plan, what)?;
        Ok(plan)
    }
}

/// A use of `mz_now()` that a maintained plan cannot have, reported as the
/// planner's error of the same name (`coord::materializable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemporalError {
    /// A form of temporal filter that is not implemented (the message says
    /// which).
    NotImplemented(String),
    /// A use of `mz_now()` that is not supported in a maintained plan.
    Unsupported(String),
}

fn strip_temporal(plan: &mut RelationExpr, what: &str) -> Result<(), TemporalError> {
    match plan {
        RelationExpr::Mfp { predicates, .. } => {
            if let Err(p) = TemporalFilter::extract(predicates) {
                return Err(TemporalError::NotImplemented(format!(
                    "unsupported temporal predicate in {what}: mz_now() must be compared \
                     with =, <, <=, >, or >= to an expression that does not call it, in a \
                     conjunction (AND) of WHERE or HAVING conditions; found {p}"
                )));
            }
            for p in predicates.iter_mut() {
                if calls_mz_now(p) {
                    *p = ScalarExpr::Literal(Datum::Bool(true));
                }
            }
        }
        // An outer join's condition decides which rows are padded with
        // NULLs, which a bound in time cannot express.
        RelationExpr::Join {
            filter: Some(f), ..
        } if calls_mz_now(f) => {
            return Err(TemporalError::NotImplemented(format!(
                "unsupported temporal predicate in {what}: mz_now() in the ON condition of \
                 an outer join; found {f}"
            )));
        }
        // The recursive term is rendered in an iterative scope, whose
        // times are not the dataflow's: it has no temporal filters.
        RelationExpr::Recursive { recursive, .. } if recursive.calls_mz_now() => {
            return Err(TemporalError::Unsupported(format!(
                "mz_now() in the recursive term of WITH RECURSIVE in {what}"
            )));
        }
        _ => {}
    }
    for child in plan.children_mut() {
        strip_temporal(child, what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> ScalarExpr {
        ScalarExpr::Unmaterializable(UnmaterializableFunc::MzNow)
    }

    fn col(c: usize) -> ScalarExpr {
        ScalarExpr::Column(c).call_unary(UnaryFunc::MzTimestamp)
    }

    #[test]
    fn conversions_follow_materialize() {
        assert_eq!(
            to_mz_timestamp(Datum::Timestamp(1_500_999)),
            Ok(Datum::Int64(1_500))
        );
        assert_eq!(
            to_mz_timestamp(Datum::Date(1)),
            Ok(Datum::Int64(86_400_000))
        );
        assert_eq!(to_mz_timestamp(Datum::Int32(7)), Ok(Datum::Int64(7)));
        assert_eq!(
            to_mz_timestamp(Datum::Numeric("2.5".parse().unwrap())),
            Ok(Datum::Int64(3))
        );
        assert_eq!(
            to_mz_timestamp(Datum::String("1970-01-01 00:00:01+00".into())),
            Ok(Datum::Int64(1000))
        );
        assert_eq!(
            to_mz_timestamp(Datum::String("42".into())),
            Ok(Datum::Int64(42))
        );
        assert!(to_mz_timestamp(Datum::Int64(-1)).is_err());
        assert!(to_mz_timestamp(Datum::TimestampTz(-1)).is_err());
        assert_eq!(to_mz_timestamp(Datum::Null), Ok(Datum::Null));
    }

    #[test]
    fn bounds_from_comparisons() {
        // mz_now() >= #0 AND #1 > mz_now() AND #2 = 1
        let preds = vec![
            now().call_binary(col(0), BinaryFunc::GtEq),
            col(1).call_binary(now(), BinaryFunc::Gt),
            ScalarExpr::Column(2).call_binary(ScalarExpr::Literal(Datum::Int32(1)), BinaryFunc::Eq),
        ];
        let f = TemporalFilter::extract(&preds).unwrap().unwrap();
        assert_eq!(f.predicates.len(), 1);
        assert_eq!((f.lower.len(), f.upper.len()), (1, 1));
        let row = |a: i64, b: Datum| vec![Datum::Int64(a), b, Datum::Int32(1)];
        // Present from 10 until 20.
        assert_eq!(
            f.interval(&row(10, Datum::Int64(20)), 5),
            Ok(Some((10, Some(20))))
        );
        // The update's own time is later than the lower bound.
        assert_eq!(
            f.interval(&row(10, Datum::Int64(20)), 15),
            Ok(Some((15, Some(20))))
        );
        // Already expired.
        assert_eq!(f.interval(&row(10, Datum::Int64(20)), 25), Ok(None));
        // A NULL bound: never present.
        assert_eq!(f.interval(&row(10, Datum::Null), 5), Ok(None));
    }

    #[test]
    fn equality_and_inclusive_upper() {
        let f = TemporalFilter::extract(&[now().call_binary(col(0), BinaryFunc::Eq)])
            .unwrap()
            .unwrap();
        assert_eq!(f.interval(&[Datum::Int64(7)], 1), Ok(Some((7, Some(8)))));
        let f = TemporalFilter::extract(&[now().call_binary(col(0), BinaryFunc::LtEq)])
            .unwrap()
            .unwrap();
        assert_eq!(f.interval(&[Datum::Int64(7)], 1), Ok(Some((1, Some(8)))));
    }

    #[test]
    fn other_uses_are_refused() {
        let ne = now().call_binary(col(0), BinaryFunc::NotEq);
        assert!(TemporalFilter::extract(&[ne]).is_err());
        let or = now()
            .call_binary(col(0), BinaryFunc::Lt)
            .call_binary(ScalarExpr::Literal(Datum::Bool(true)), BinaryFunc::Or);
        assert!(TemporalFilter::extract(&[or]).is_err());
        let both = now().call_binary(now(), BinaryFunc::Lt);
        assert!(TemporalFilter::extract(&[both]).is_err());
        assert!(
            TemporalFilter::extract(&[ScalarExpr::Literal(Datum::Bool(true))])
                .unwrap()
                .is_none()
        );
    }
}
