//! `GROUP BY` over a monotonic input (one that only grows: see
//! [`crate::expr::monotonic`]) whose aggregates all fold: `min`, `max`,
//! `bool_and`, `bool_or`, `count` and integer `sum`/`avg`.
//!
//! Differential's general `reduce` keeps every input value of a group in
//! its input arrangement and re-reads the whole group at every timestamp
//! it changes. Over an input that only grows, a group's `max` can only be
//! replaced by a larger new value, so one running value per group and
//! aggregate is enough: this operator keeps, per group, the accumulators
//! of the accumulable aggregates ([`Accums`]) and the current extremum of
//! the others. Input updates are exchanged by group key, held until the
//! input frontier passes their timestamp (timestamps are totally
//! ordered), and each complete timestamp is applied at once: a group
//! whose row changed emits the retraction of its old row and its new row,
//! nothing otherwise. Materialize renders reductions and top-k over
//! monotonic inputs likewise.
//!
//! Errors: a row whose key or arguments fail to evaluate is an error of
//! the view, as on the general path; so is a retraction, which an
//! append-only input never delivers (an internal error names it instead
//! of a panic or a silently wrong extremum). The state is not durable:
//! after a restart, the sources' stored contents are replayed into the
//! dataflow and the state rebuilds from them.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

use differential_dataflow::AsCollection;
use differential_dataflow::Hashable;
use differential_dataflow::difference::{Multiply, Semigroup};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, OkErr};

use crate::expr::aggregate::{AccumSlot, Accums, accumulable_slots, accumulate, finish_accums};
use crate::expr::{AggregateExpr, AggregateFunc, EvalError};
use crate::repr::{Datum, Diff, Row, RowPacker, Timestamp};

use super::render::{ErrCollection, OkCollection, ReduceInput, split_results};

/// A group's key and its aggregates' inputs (as [`ReduceInput::eval`]
/// lays them out), with the update's time and multiplicity.
type KeyedUpdate = ((Row, Row), Timestamp, Diff);

/// Renders `GROUP BY` with `aggregates` (all of which fold, see
/// [`AggregateExpr::folds_monotonically`]) over `oks`, which must only
/// grow. The output is the group rows (key, then the aggregates), as the
/// general path's.
pub(super) fn render_monotonic_reduce<'s>(
    oks: OkCollection<'s>,
    errs: ErrCollection<'s>,
    input: ReduceInput,
    aggregates: Vec<AggregateExpr>,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let (keyed, input_errs) = oks
        .inner
        .ok_err::<Vec<_>, _, Vec<_>, _, _>(move |(row, t, diff)| match input.eval(&row) {
            Ok((key, vals)) => Ok(((key, Row::pack(&vals)), t, diff)),
            Err(e) => Err((e, t, diff)),
        });
    let mut groups = Groups::new(aggregates);
    let exchange = Exchange::new(|update: &KeyedUpdate| (update.0).0.hashed());
    let results = keyed.unary_frontier(exchange, "MonotonicReduce", move |_capability, _info| {
        // The updates of each time not yet complete, and a capability for
        // the earliest of them.
        let mut pending: BTreeMap<Timestamp, Vec<(Row, Row, Diff)>> = BTreeMap::new();
        let mut held: Option<Capability<Timestamp>> = None;
        move |(input, frontier), output| {
            input.for_each(|capability, data| {
                if let Some(c) = capability.retain_least(0)
                    && held.as_ref().is_none_or(|h| c.time() < h.time())
                {
                    held = Some(c);
                }
                for ((key, vals), t, diff) in data.drain(..) {
                    pending.entry(t).or_default().push((key, vals, diff));
                }
            });
            // Apply each time the input frontier has passed, in order.
            while let Some(entry) = pending.first_entry() {
                let t = *entry.key();
                if frontier.less_equal(&t) {
                    break;
                }
                let Some(capability) = held.as_ref().filter(|h| *h.time() <= t) else {
                    break;
                };
                let capability = capability.delayed(&t);
                let updates = entry.remove();
                let mut session = output.session(&capability);
                groups.apply(updates, &mut |result, diff| session.give((result, t, diff)));
            }
            match pending.keys().next() {
                Some(t) => {
                    if let Some(h) = held.as_mut()
                        && h.time() < t
                    {
                        h.downgrade(t);
                    }
                }
                None => held = None,
            }
        }
    });
    let (oks, apply_errs) = split_results(results.as_collection());
    (
        oks,
        errs.concat(input_errs.as_collection()).concat(apply_errs),
    )
}

/// Where an aggregate's value comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// The `i`-th accumulable aggregate, finished from the accumulators.
    Accum(usize),
    /// The `i`-th folded value (`min`, `max`, `bool_and`, `bool_or`).
    Fold(usize),
}

/// One folded aggregate: its function and where its `FILTER` flag and
/// argument are among the aggregates' inputs.
#[derive(Clone, Debug)]
struct Fold {
    func: AggregateFunc,
    offset: usize,
}

/// One group's running aggregates.
struct Group {
    /// The accumulators of the accumulable aggregates (slot 0 counts rows).
    accums: Accums,
    /// The folded values (`None`: no non-NULL value that passed the
    /// `FILTER` yet).
    folds: SmallVec<[Option<Datum>; 2]>,
    /// Whether the group has been changed at the time being applied.
    touched: bool,
}

/// The state of one worker's share of the groups.
struct Groups {
    sources: Vec<Source>,
    /// The accumulable aggregates, their accumulator layout, and where
    /// each one's inputs are.
    accum_aggs: Vec<AggregateExpr>,
    accum_slots: Vec<AccumSlot>,
    accum_inputs: Vec<std::ops::Range<usize>>,
    folds: Vec<Fold>,
    groups: FxHashMap<Row, Group>,
}

impl Groups {
    fn new(aggregates: Vec<AggregateExpr>) -> Groups {
        let mut out = Groups {
            sources: Vec::new(),
            accum_aggs: Vec::new(),
            accum_slots: Vec::new(),
            accum_inputs: Vec::new(),
            folds: Vec::new(),
            groups: FxHashMap::default(),
        };
        let mut offset = 0;
        for a in aggregates {
            let width = 1 + a.exprs.len();
            match accumulable_slots(std::slice::from_ref(&a)) {
                Some(slots) => {
                    out.sources.push(Source::Accum(out.accum_aggs.len()));
                    out.accum_slots.extend(slots);
                    out.accum_inputs.push(offset..offset + width);
                    out.accum_aggs.push(a);
                }
                _ => {
                    out.sources.push(Source::Fold(out.folds.len()));
                    out.folds.push(Fold {
                        func: a.func,
                        offset,
                    });
                }
            }
            offset += width;
        }
        out
    }

    /// Applies one complete time's updates, reporting each changed group's
    /// old row (diff -1) and new row (diff 1), and errors, to `emit`.
    fn apply(
        &mut self,
        mut updates: Vec<(Row, Row, Diff)>,
        emit: &mut dyn FnMut(Result<Row, EvalError>, Diff),
    ) {
        if updates.iter().any(|(_, _, d)| *d < 0) {
            // A row inserted and deleted within the time cancels out; a
            // retraction that remains is a bug upstream.
            differential_dataflow::consolidation::consolidate_updates(&mut updates);
        }
        let mut touched: Vec<(Row, Option<Result<Row, EvalError>>)> = Vec::new();
        let mut datums = Vec::new();
        for (key, vals, diff) in updates {
            if diff < 0 {
                emit(
                    Err(EvalError::Internal(
                        "a retraction reached a monotonic GROUP BY, whose input is append-only"
                            .into(),
                    )),
                    1,
                );
                continue;
            }
            datums.clear();
            vals.unpack_into(&mut datums);
            let accums = match self.accumulators(&datums, diff) {
                Ok(a) => a,
                Err(e) => {
                    emit(Err(e), diff);
                    continue;
                }
            };
            let group = match self.groups.entry(key) {
                Entry::Occupied(o) => {
                    if !o.get().touched {
                        let old = finish(
                            o.key(),
                            o.get(),
                            &self.sources,
                            &self.accum_slots,
                            !self.accum_aggs.is_empty(),
                        );
                        touched.push((o.key().clone(), Some(old)));
                    }
                    o.into_mut()
                }
                Entry::Vacant(v) => {
                    touched.push((v.key().clone(), None));
                    v.insert(Group {
                        accums: Accums::default(),
                        folds: SmallVec::from_elem(None, self.folds.len()),
                        touched: false,
                    })
                }
            };
            group.touched = true;
            // Decided before anything changes, so that a row whose
            // comparison fails changes nothing (a new group has nothing to
            // compare with, so it cannot be left empty).
            let replacements = match fold_row(&self.folds, &group.folds, &datums) {
                Ok(r) => r,
                Err(e) => {
                    emit(Err(e), diff);
                    continue;
                }
            };
            if let Some(accums) = accums {
                group.accums.plus_equals(&accums);
            }
            for (i, value) in replacements {
                group.folds[i] = Some(value);
            }
        }
        for (key, old) in touched {
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            group.touched = false;
            let new = finish(
                &key,
                group,
                &self.sources,
                &self.accum_slots,
                !self.accum_aggs.is_empty(),
            );
            if old.as_ref() != Some(&new) {
                if let Some(old) = old {
                    emit(old, -1);
                }
                emit(new, 1);
            }
        }
    }

    /// The accumulators an input row (its aggregates' inputs, `diff`
    /// copies) adds to its group, if there are accumulable aggregates.
    fn accumulators(&self, datums: &[Datum], diff: Diff) -> Result<Option<Accums>, EvalError> {
        if self.accum_aggs.is_empty() {
            return Ok(None);
        }
        let inputs: Vec<Datum> = self
            .accum_inputs
            .iter()
            .flat_map(|r| datums.get(r.clone()).unwrap_or(&[]).iter().cloned())
            .collect();
        let acc = accumulate(&self.accum_slots, &self.accum_aggs, &inputs)?;
        Ok(Some(if diff == 1 { acc } else { acc.multiply(&diff) }))
    }
}

/// The folded values an input row (its aggregates' inputs) replaces in a
/// group whose folded values are `current`: `min`/`max` where the row's
/// value passes its `FILTER`, is not NULL and is beyond the current
/// extremum ([`AggregateFunc::replaces_extremum`], as the general path
/// decides), `bool_and`/`bool_or` where the result changes.
fn fold_row(
    folds: &[Fold],
    current: &[Option<Datum>],
    datums: &[Datum],
) -> Result<SmallVec<[(usize, Datum); 2]>, EvalError> {
    let mut out = SmallVec::new();
    for (i, fold) in folds.iter().enumerate() {
        let pass = datums.get(fold.offset) == Some(&Datum::Bool(true));
        let value = datums.get(fold.offset + 1).unwrap_or(&Datum::Null);
        if !pass || value.is_null() {
            continue;
        }
        let replacement = match (&fold.func, &current[i]) {
            (AggregateFunc::BoolAnd | AggregateFunc::BoolOr, current) => {
                let b = *value == Datum::Bool(true);
                let folded = match (current, fold.func == AggregateFunc::BoolAnd) {
                    (None, _) => b,
                    (Some(c), true) => *c == Datum::Bool(true) && b,
                    (Some(c), false) => *c == Datum::Bool(true) || b,
                };
                Some(Datum::Bool(folded)).filter(|d| current.as_ref() != Some(d))
            }
            (_, None) => Some(value.clone()),
            (func, Some(best)) => func.replaces_extremum(value, best)?.then(|| value.clone()),
        };
        if let Some(r) = replacement {
            out.push((i, r));
        }
    }
    Ok(out)
}

/// A group's row: its key, then each aggregate's value.
fn finish(
    key: &Row,
    group: &Group,
    sources: &[Source],
    accum_slots: &[AccumSlot],
    has_accums: bool,
) -> Result<Row, EvalError> {
    let accumulated = if has_accums {
        finish_accums(accum_slots, &group.accums)?
    } else {
        Vec::new()
    };
    let mut out = RowPacker::from_row(key);
    for source in sources {
        match source {
            Source::Accum(i) => out.push(accumulated.get(*i).unwrap_or(&Datum::Null)),
            Source::Fold(i) => out.push(group.folds[*i].as_ref().unwrap_or(&Datum::Null)),
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::expr::ScalarExpr;
    use crate::repr::ScalarType;

    /// An aggregate of column 0 (`bigint`, or `boolean` for
    /// `bool_and`/`bool_or`), filtered by column 1 if `filtered`.
    fn agg(func: AggregateFunc, filtered: bool) -> AggregateExpr {
        let typ = match func {
            AggregateFunc::BoolAnd | AggregateFunc::BoolOr => ScalarType::Bool,
            _ => ScalarType::Int64,
        };
        AggregateExpr {
            input_type: Some(typ.clone()),
            exprs: if func == AggregateFunc::CountStar {
                vec![]
            } else {
                vec![ScalarExpr::Column(0)]
            },
            func,
            distinct: false,
            filter: filtered.then(|| ScalarExpr::Column(1)),
            output_type: typ,
        }
    }

    /// The aggregates of the tests, and each one's inputs for a value `v`
    /// (NULL when `None`) that passes the filters when `pass`.
    fn aggregates() -> Vec<AggregateExpr> {
        vec![
            agg(AggregateFunc::Min, false),
            agg(AggregateFunc::Max, false),
            agg(AggregateFunc::Max, true),
            agg(AggregateFunc::CountStar, false),
            agg(AggregateFunc::Count, true),
            agg(AggregateFunc::Sum, false),
            agg(AggregateFunc::BoolOr, false),
            agg(AggregateFunc::BoolAnd, false),
        ]
    }

    fn vals(aggs: &[AggregateExpr], v: Option<i64>, pass: bool) -> Row {
        let mut out = Vec::new();
        for a in aggs {
            out.push(Datum::Bool(a.filter.is_none() || pass));
            for _ in &a.exprs {
                out.push(match (v, &a.output_type) {
                    (None, _) => Datum::Null,
                    (Some(v), ScalarType::Bool) => Datum::Bool(v % 3 != 0),
                    (Some(v), _) => Datum::Int64(v),
                });
            }
        }
        Row::new(out)
    }

    /// Adds emitted updates to `view`, dropping what cancels out.
    fn absorb(
        view: &mut Vec<(Result<Row, EvalError>, Diff)>,
        out: Vec<(Result<Row, EvalError>, Diff)>,
    ) {
        for (r, d) in out {
            match view.iter_mut().find(|(x, _)| *x == r) {
                Some(entry) => entry.1 += d,
                None => view.push((r, d)),
            }
        }
        view.retain(|(_, d)| *d != 0);
    }

    /// An oracle test: after every time, the rows the operator has emitted
    /// add up to the general path's answer over all the rows so far.
    #[test]
    fn matches_general_path_at_every_time() {
        let aggs = aggregates();
        let mut groups = Groups::new(aggs.clone());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut all: BTreeMap<Row, Vec<(Row, Diff)>> = BTreeMap::new();
        let mut view: Vec<(Result<Row, EvalError>, Diff)> = Vec::new();
        for _time in 0..200 {
            let mut updates = Vec::new();
            for _ in 0..next(6) {
                let key = Row::new(vec![Datum::Int64(next(5) as i64)]);
                let v = (next(8) != 0).then(|| next(1000) as i64 - 500);
                let row = vals(&aggs, v, next(2) == 0);
                let diff = 1 + next(2) as Diff;
                all.entry(key.clone())
                    .or_default()
                    .push((row.clone(), diff));
                updates.push((key, row, diff));
            }
            let mut out = Vec::new();
            groups.apply(updates, &mut |r, d| out.push((r, d)));
            // Each changed group retracts its old row and adds its new one.
            assert!(out.iter().all(|(_, d)| d.abs() == 1), "{out:?}");
            absorb(&mut view, out);
            let mut expected: Vec<(Result<Row, EvalError>, Diff)> = Vec::new();
            for (key, rows) in &all {
                let unpacked: Vec<(Vec<Datum>, Diff)> =
                    rows.iter().map(|(r, d)| (r.unpack(), *d)).collect();
                let mut packer = RowPacker::from_row(key);
                let mut offset = 0;
                for a in &aggs {
                    let width = a.exprs.len();
                    let values = unpacked.iter().filter_map(|(row, d)| {
                        (row[offset] == Datum::Bool(true))
                            .then_some((&row[offset + 1..offset + 1 + width], *d))
                    });
                    packer.push(&a.eval(values).unwrap());
                    offset += 1 + width;
                }
                expected.push((Ok(packer.finish()), 1));
            }
            let sort = |v: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")))
            };
            sort(&mut view);
            sort(&mut expected);
            assert_eq!(view, expected);
        }
    }

    /// A retraction is a bug upstream: an internal error, not a panic and
    /// not a changed extremum; a row inserted and retracted within one
    /// time cancels out.
    #[test]
    fn retractions_are_internal_errors() {
        let aggs = vec![agg(AggregateFunc::Max, false)];
        let mut groups = Groups::new(aggs.clone());
        let key = Row::new(vec![Datum::Int64(1)]);
        let mut run = |updates: Vec<(Row, Row, Diff)>| {
            let mut out = Vec::new();
            groups.apply(updates, &mut |r, d| out.push((r, d)));
            out
        };
        let row = |v: i64| Row::new(vec![Datum::Int64(1), Datum::Int64(v)]);
        assert_eq!(
            run(vec![(key.clone(), vals(&aggs, Some(5), true), 1)]),
            vec![(Ok(row(5)), 1)]
        );
        // Inserted and retracted at one time: nothing.
        assert_eq!(
            run(vec![
                (key.clone(), vals(&aggs, Some(9), true), 1),
                (key.clone(), vals(&aggs, Some(9), true), -1),
            ]),
            vec![]
        );
        let out = run(vec![(key.clone(), vals(&aggs, Some(5), true), -1)]);
        assert!(
            matches!(&out[..], [(Err(EvalError::Internal(m)), 1)] if m.contains("retraction")),
            "{out:?}"
        );
        // The group is as it was.
        assert_eq!(
            run(vec![(key.clone(), vals(&aggs, Some(7), true), 1)]),
            vec![(Ok(row(5)), -1), (Ok(row(7)), 1)]
        );
        // A smaller value changes nothing, so nothing is emitted.
        assert_eq!(run(vec![(key, vals(&aggs, Some(6), true), 1)]), vec![]);
    }
}
