//! *Monotonic* plans: plans whose output only ever grows (every update is
//! an insertion), because the relations they read are append-only (a
//! Kafka source with `ENVELOPE NONE`, the `COUNTER` load generator) and
//! their operators never retract what they produced.
//!
//! A `GROUP BY` over such an input whose aggregates all *fold* (`min`,
//! `max`, `bool_and`, `bool_or`, and the accumulable `count` and `sum`)
//! needs only one running value per group and aggregate: a new row can
//! move a group's `min` one way only, and no row ever leaves the group.
//! `compute::monotonic` renders it so, as Materialize renders reductions
//! and top-k over monotonic inputs, instead of keeping every input value of
//! a group and re-reading them all whenever the group changes.
//!
//! Which relations are append-only is the catalog's knowledge; the
//! coordinator passes it to the worker with each dataflow
//! (`compute::worker::Command::CreateDataflow::append_only`).

use super::AggregateExpr;
use super::aggregate::{AggregateFunc, accumulable_slots};
use super::relation::{GlobalId, JoinKind, RelationExpr};
use super::temporal::TemporalFilter;

impl RelationExpr {
    /// Whether every update of this plan's output is an insertion, given
    /// that the relations for which `append_only` is true only ever grow.
    ///
    /// Conservative: only operators that turn insertions into insertions
    /// qualify (map/filter/project without temporal filters, table
    /// functions, unions, inner joins, constants without retractions).
    /// Aggregates, `DISTINCT`, top-k, windows and outer or anti joins
    /// revise their output as their input grows, so they are not.
    pub fn is_monotonic(&self, append_only: &dyn Fn(GlobalId) -> bool) -> bool {
        match self {
            RelationExpr::Get { id, .. } => append_only(*id),
            RelationExpr::Constant { rows, .. } => rows.iter().all(|(_, d)| *d > 0),
            // A temporal filter's upper bound retracts rows as time passes.
            RelationExpr::Mfp {
                input, predicates, ..
            } => {
                matches!(TemporalFilter::extract(predicates), Ok(None))
                    && input.is_monotonic(append_only)
            }
            RelationExpr::FlatMap { input, .. } => input.is_monotonic(append_only),
            RelationExpr::Union { inputs } => inputs.iter().all(|i| i.is_monotonic(append_only)),
            RelationExpr::Join {
                kind: JoinKind::Inner,
                left,
                right,
                ..
            } => left.is_monotonic(append_only) && right.is_monotonic(append_only),
            _ => false,
        }
    }
}

impl AggregateExpr {
    /// Whether the aggregate can be kept as one running value per group
    /// over an input that only grows: `min`, `max`, `bool_and`, `bool_or`
    /// (with or without `DISTINCT`, which changes nothing for them), and
    /// the accumulable aggregates (`count`, `sum` of integers, ...).
    pub fn folds_monotonically(&self) -> bool {
        match self.func {
            AggregateFunc::Min
            | AggregateFunc::Max
            | AggregateFunc::BoolAnd
            | AggregateFunc::BoolOr => true,
            _ => accumulable_slots(std::slice::from_ref(self)).is_some(),
        }
    }
}

/// Whether a `GROUP BY` with `aggregates` over a monotonic input is
/// rendered as a monotonic reduction: every aggregate folds, and not all
/// are accumulable (those have their own rendering, whose accumulators a
/// view keeps as its arrangement: `compute::accumulate`).
pub fn reduces_monotonically(aggregates: &[AggregateExpr]) -> bool {
    aggregates.iter().all(AggregateExpr::folds_monotonically)
        && accumulable_slots(aggregates).is_none()
}
