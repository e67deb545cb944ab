//! Renders a [`RelationExpr`] into differential dataflow operators.
//!
//! Every rendered collection is a pair: the rows (`oks`) and, in parallel,
//! the errors that evaluating expressions on rows produced (`errs`). A
//! division by zero on one row becomes one error in `errs`, so reading the
//! view reports it instead of crashing or silently dropping the row.

use std::collections::BTreeMap;

use differential_dataflow::AsCollection;
use differential_dataflow::VecCollection;
use differential_dataflow::operators::CountTotal;
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::ValSpine;
use timely::dataflow::Scope;
use timely::dataflow::operators::OkErr;
use timely::dataflow::operators::vec::Map as _;
use timely::dataflow::operators::vec::ToStream;

use crate::expr::relation::{TableFunc, compare_by_keys};
use crate::expr::{
    AggregateExpr, AggregateFunc, EvalError, GlobalId, JoinKind, RelationExpr, ScalarExpr,
};
use crate::repr::{Datum, Diff, Row, RowPacker, Timestamp};

use super::accumulate::AccumTrace;
use super::input::InputReads;
use crate::expr::aggregate::AccumSlot;

/// The rows of a collection in a dataflow.
pub type OkCollection<'s> = VecCollection<'s, Timestamp, Row, Diff>;
/// The errors of a collection in a dataflow.
pub type ErrCollection<'s> = VecCollection<'s, Timestamp, EvalError, Diff>;
/// An arrangement of rows: `(key, value)` pairs.
pub type RowSpine = ValSpine<Row, Row, Timestamp, Diff>;
/// An arrangement of errors.
pub type ErrSpine = ValSpine<EvalError, (), Timestamp, Diff>;
/// A shared handle to an arrangement of rows.
pub type RowTrace = TraceAgent<RowSpine>;
/// A shared handle to an arrangement of errors.
pub type ErrTrace = TraceAgent<ErrSpine>;

/// The rows of an arranged collection.
#[derive(Clone)]
pub enum ArrangedRows {
    /// The rows themselves: keyed by the whole row (values empty) when the
    /// collection has no index key, else keyed by the key evaluated on the
    /// row, with the row as value.
    Rows(RowTrace),
    /// A `GROUP BY` of accumulable aggregates, kept as each group's
    /// accumulators (see [`super::accumulate`]): a group's row is its key
    /// followed by the aggregates' values, made when read.
    Accumulated {
        /// Group key → accumulators (as the difference).
        trace: AccumTrace,
        /// The accumulator layout.
        slots: Vec<AccumSlot>,
        /// The number of group key columns (the row's first columns).
        key_arity: usize,
    },
}

/// An arranged collection that later dataflows can import.
#[derive(Clone)]
pub struct ArrangedTraces {
    /// The rows.
    pub oks: ArrangedRows,
    /// The errors.
    pub errs: ErrTrace,
    /// The key expressions of an index.
    pub key: Option<Vec<ScalarExpr>>,
}

/// What a dataflow being rendered can read: other dataflows' arrangements,
/// and inputs (read through sessions of its own).
pub struct Imports<'a> {
    /// Arrangements, by the id of the dataflow that maintains them.
    pub arranged: BTreeMap<GlobalId, ArrangedTraces>,
    /// Inputs.
    pub inputs: InputReads<'a>,
    /// Whether the rows of views kept as accumulators are consolidated
    /// when read ([`super::accumulate::import`]): needed where updates
    /// leave the dataflow as they come (SUBSCRIBE), not where the output
    /// is arranged.
    pub consolidate_accumulated: bool,
    /// The relations read here that only ever grow (append-only sources,
    /// and materialized views that are monotonic over them): a `GROUP BY`
    /// of `min`/`max` over a plan that is monotonic over them is rendered
    /// by [`super::monotonic`].
    pub append_only: std::collections::BTreeSet<GlobalId>,
}

/// Renders `expr` in `scope`, reading the arrangements and inputs in
/// `imports`.
pub fn render<'s>(
    scope: Scope<'s, Timestamp>,
    expr: &RelationExpr,
    imports: &mut Imports<'_>,
) -> Result<(OkCollection<'s>, ErrCollection<'s>), String> {
    Ok(match expr {
        RelationExpr::Get { id, name } => {
            if let Some(read) = imports.inputs.read(scope, *id) {
                return Ok(read);
            }
            let traces = imports
                .arranged
                .get_mut(id)
                .ok_or_else(|| format!("collection {name} ({id}) is not installed"))?;
            let key_is_row = traces.key.is_none();
            let errs = traces
                .errs
                .import(scope)
                .as_collection(|k: &EvalError, _v: &()| k.clone());
            match &mut traces.oks {
                ArrangedRows::Rows(trace) => {
                    let oks = trace.import(scope).as_collection(move |k: &Row, v: &Row| {
                        if key_is_row { k.clone() } else { v.clone() }
                    });
                    (oks, errs)
                }
                ArrangedRows::Accumulated { trace, slots, .. } => {
                    let (oks, finish_errs) = super::accumulate::import(
                        scope,
                        trace,
                        slots,
                        imports.consolidate_accumulated,
                    );
                    (oks, errs.concat(finish_errs))
                }
            }
        }
        RelationExpr::Constant { rows, .. } => {
            // Constants enter on worker 0 only; every worker renders the plan.
            let rows: &[(Row, Diff)] = if scope.index() == 0 { rows } else { &[] };
            let oks = rows
                .iter()
                .map(|(r, d)| (r.clone(), 0 as Timestamp, *d))
                .collect::<Vec<_>>()
                .to_stream(scope)
                .as_collection();
            (oks, empty_errs(scope))
        }
        RelationExpr::Mfp {
            input,
            exprs,
            predicates,
            projection,
        } => {
            let (oks, errs) = render(scope, input, imports)?;
            if let Some(temporal) =
                super::temporal::TemporalMfp::new(exprs, predicates, projection)?
            {
                return Ok(temporal.render(oks, errs));
            }
            let mfp = Mfp {
                exprs: exprs.clone(),
                predicates: predicates.clone(),
                projection: projection.clone(),
            };
            let oks = once_per_copy(oks, mfp.is_volatile());
            let results = oks.flat_map(move |row| mfp.apply(row));
            split(results, errs)
        }
        RelationExpr::Join {
            left,
            right,
            kind,
            left_keys,
            right_keys,
            null_equal,
            filter,
            left_arity,
            right_arity,
        } => {
            let (lo, le) = render(scope, left, imports)?;
            let (ro, re) = render(scope, right, imports)?;
            render_join(
                lo,
                ro,
                le.concat(re),
                *kind,
                left_keys.clone(),
                right_keys.clone(),
                *null_equal,
                filter.clone(),
                *left_arity,
                *right_arity,
            )
        }
        RelationExpr::Reduce {
            input,
            group_key,
            aggregates,
            global,
        } => {
            let monotonic = crate::expr::monotonic::reduces_monotonically(aggregates)
                && input.is_monotonic(&|id| imports.append_only.contains(&id));
            let (oks, errs) = render(scope, input, imports)?;
            render_reduce(
                scope,
                oks,
                errs,
                group_key.clone(),
                aggregates.clone(),
                *global,
                monotonic,
            )
        }
        RelationExpr::Distinct { input } => {
            let (oks, errs) = render(scope, input, imports)?;
            // Rows meet as keys (`-0` is `0`); each distinct row comes
            // out as one of its spellings.
            let oks = oks
                .map(|r| (r.into_key(), ()))
                .reduce(|_k, vals, out: &mut Vec<((), Diff)>| {
                    if vals.iter().any(|(_, d)| *d > 0) {
                        out.push(((), 1));
                    }
                })
                .map(|(r, ())| r.into_data());
            (oks, errs)
        }
        RelationExpr::Union { inputs } => {
            let mut oks_all = Vec::new();
            let mut errs_all = Vec::new();
            for i in inputs {
                let (o, e) = render(scope, i, imports)?;
                oks_all.push(o);
                errs_all.push(e);
            }
            (
                differential_dataflow::collection::concatenate(scope, oks_all),
                differential_dataflow::collection::concatenate(scope, errs_all),
            )
        }
        RelationExpr::TopK {
            input,
            order_by,
            limit,
            offset,
        } => {
            let (oks, errs) = render(scope, input, imports)?;
            let order_by = order_by.clone();
            let (limit, offset) = (*limit, *offset);
            let oks = oks
                .map(|r| ((), r))
                .reduce(
                    move |_k, vals: &[(&Row, Diff)], out: &mut Vec<(Row, Diff)>| {
                        let rows: Vec<(&Row, Diff)> = vals
                            .iter()
                            .filter(|(_, d)| *d > 0)
                            .map(|(r, d)| (*r, *d))
                            .collect();
                        // ORDER BY compares values: unpack each row once.
                        let mut rows: Vec<(Vec<Datum>, &Row, Diff)> =
                            rows.into_iter().map(|(r, d)| (r.unpack(), r, d)).collect();
                        rows.sort_by(|a, b| {
                            compare_by_keys(&order_by, &a.0, &b.0).then(a.1.cmp(b.1))
                        });
                        let mut skip = offset as i64;
                        let mut take = limit.map(|l| l as i64).unwrap_or(i64::MAX);
                        for (_, r, d) in rows {
                            let skipped = skip.min(d);
                            skip -= skipped;
                            let n = (d - skipped).min(take);
                            if n > 0 {
                                out.push((r.clone(), n));
                                take -= n;
                            }
                            if take == 0 {
                                break;
                            }
                        }
                    },
                )
                .map(|((), r)| r);
            (oks, errs)
        }
        RelationExpr::DistinctOn {
            input,
            key,
            order_by,
        } => {
            let (oks, errs) = render(scope, input, imports)?;
            super::window::render_distinct_on(oks, errs, key.clone(), order_by.clone())
        }
        RelationExpr::Window {
            input,
            partition_by,
            order_by,
            funcs,
        } => {
            let (oks, errs) = render(scope, input, imports)?;
            super::window::render_window(
                oks,
                errs,
                partition_by.clone(),
                order_by.clone(),
                funcs.clone(),
            )
        }
        RelationExpr::Recursive {
            name,
            base,
            recursive,
            distinct,
        } => super::recursive::render_recursive(scope, name, base, recursive, *distinct, imports)?,
        RelationExpr::WorkTable { name } => {
            return Err(format!(
                "the work table of {name} is read outside its recursive query"
            ));
        }
        RelationExpr::FlatMap { input, func, exprs } => {
            let (oks, errs) = render(scope, input, imports)?;
            let oks = once_per_copy(oks, exprs.iter().any(ScalarExpr::is_volatile));
            let func = func.clone();
            let exprs = exprs.clone();
            let results = oks.flat_map(move |row| table_func(&func, &exprs, row));
            split(results, errs)
        }
        RelationExpr::CheckSingleRow { input, key } => {
            let (oks, errs) = render(scope, input, imports)?;
            let oks = once_per_copy(oks, key.iter().any(ScalarExpr::is_volatile));
            let key = key.clone();
            let keyed = oks.map(move |r| {
                // A key that fails to evaluate fails the join it feeds too.
                let datums = r.unpack();
                let k: Row = key
                    .iter()
                    .map(|e| e.eval(&datums).unwrap_or(Datum::Null))
                    .collect();
                (k.into_key(), r)
            });
            let checked = keyed
                .reduce(
                    |_k, vals: &[(&Row, Diff)], out: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                        let n: Diff = vals.iter().map(|(_, d)| *d).sum();
                        if n > 1 {
                            out.push((Err(EvalError::MultipleRowsFromSubquery), 1));
                        } else {
                            for (r, d) in vals {
                                out.push((Ok((*r).clone()), *d));
                            }
                        }
                    },
                )
                .map(|(_k, r)| r);
            split(checked, errs)
        }
    })
}

/// An empty error collection.
fn empty_errs<'s>(scope: Scope<'s, Timestamp>) -> ErrCollection<'s> {
    Vec::<(EvalError, Timestamp, Diff)>::new()
        .to_stream(scope)
        .as_collection()
}

/// `oks` with every update of a row split into copies of multiplicity ±1,
/// after consolidation, when an operator is about to evaluate `volatile`
/// expressions (`random()`, `clock_timestamp()`) on it; `oks` itself
/// otherwise.
///
/// PostgreSQL evaluates such a function once per row. A dataflow evaluates
/// expressions once per *update*, and a table's contents arrive as updates
/// that need not be consolidated (an insert and a later delete of one row
/// are two updates at the read time): evaluated on each, the insertion and
/// the retraction get different values, and whatever is downstream sees a
/// value retracted that was never inserted (an aggregate's "invalid
/// negative multiplicity"). Consolidated first, each remaining row is
/// evaluated once per copy, so a row stored twice gets two values, as in
/// PostgreSQL. Such expressions are refused in maintained plans
/// ([`crate::coord::materializable::check_materializable`]); a one-shot plan reads one
/// time, where every multiplicity is positive.
fn once_per_copy(oks: OkCollection<'_>, volatile: bool) -> OkCollection<'_> {
    if !volatile {
        return oks;
    }
    oks.consolidate()
        .inner
        .flat_map(|(row, t, d): (Row, Timestamp, Diff)| {
            let sign = d.signum();
            (0..d.unsigned_abs()).map(move |_| (row.clone(), t, sign))
        })
        .as_collection()
}

/// Splits results into rows and errors, adding the errors to `errs`.
pub(super) fn split<'s>(
    results: VecCollection<'s, Timestamp, Result<Row, EvalError>, Diff>,
    errs: ErrCollection<'s>,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let (oks, new_errs) = split_results(results);
    (oks, errs.concat(new_errs))
}

/// Splits a collection of results into its values and its errors with one
/// two-output operator (timely's `ok_err`): each record moves to one side;
/// none is cloned, as consuming the collection twice would (a tee copies
/// every record).
/// Generic over the timestamp, so that iterative scopes (`WITH RECURSIVE`)
/// use it too.
pub fn split_results<'s, T, D>(
    results: VecCollection<'s, T, Result<D, EvalError>, Diff>,
) -> (
    VecCollection<'s, T, D, Diff>,
    VecCollection<'s, T, EvalError, Diff>,
)
where
    T: timely::progress::Timestamp,
    D: Clone + 'static,
{
    let (oks, errs) = results
        .inner
        .ok_err::<Vec<_>, _, Vec<_>, _, _>(|(r, t, d)| match r {
            Ok(v) => Ok((v, t, d)),
            Err(e) => Err((e, t, d)),
        });
    (oks.as_collection(), errs.as_collection())
}

/// A fused map/filter/project, applied row by row.
#[derive(Clone)]
pub struct Mfp {
    /// Expressions appended to the row.
    pub exprs: Vec<ScalarExpr>,
    /// Predicates that must all be true.
    pub predicates: Vec<ScalarExpr>,
    /// The output columns.
    pub projection: Vec<usize>,
}

impl Mfp {
    /// Whether an expression or predicate is volatile
    /// ([`ScalarExpr::is_volatile`]).
    pub fn is_volatile(&self) -> bool {
        self.exprs
            .iter()
            .chain(&self.predicates)
            .any(ScalarExpr::is_volatile)
    }

    /// Applies the map/filter/project to one row: `None` if filtered out.
    pub fn apply(&self, row: Row) -> Option<Result<Row, EvalError>> {
        if self.exprs.is_empty() && self.predicates.is_empty() {
            // A projection of every column in order (a plan's projection
            // over a whole input) is the row itself.
            if self.projection.iter().enumerate().all(|(i, c)| i == *c)
                && row.len() == self.projection.len()
            {
                return Some(Ok(row));
            }
            // A projection alone copies bytes.
            return Some(
                row.try_project(&self.projection)
                    .ok_or_else(|| EvalError::Internal("projection of a missing column".into())),
            );
        }
        let mut datums = row.unpack();
        for e in &self.exprs {
            match e.eval(&datums) {
                Ok(d) => datums.push(d),
                Err(e) => return Some(Err(e)),
            }
        }
        for p in &self.predicates {
            match p.eval(&datums) {
                Ok(Datum::Bool(true)) => {}
                Ok(_) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
        let mut out = RowPacker::new();
        for c in &self.projection {
            match datums.get(*c) {
                Some(d) => out.push(d),
                None => {
                    return Some(Err(EvalError::Internal(format!(
                        "projection of missing column {c}"
                    ))));
                }
            }
        }
        Some(Ok(out.finish()))
    }
}

/// Evaluates key expressions; `None` if a key is NULL and NULLs never match.
fn eval_key(keys: &KeyExprs, row: &Row, null_equal: bool) -> Option<Result<Row, EvalError>> {
    match keys.eval(row) {
        Ok(key) if !null_equal && key.iter().any(|d| d.is_null()) => None,
        result => Some(result),
    }
}

/// Expressions that build a row (a join or group key, built as a key:
/// [`Row::into_key`]) from an input row. When all of them are column
/// references the key's bytes are copied out of the input row, which is
/// not unpacked.
#[derive(Clone)]
pub(super) struct KeyExprs {
    exprs: Vec<ScalarExpr>,
    columns: Option<Vec<usize>>,
}

impl KeyExprs {
    pub(super) fn new(exprs: Vec<ScalarExpr>) -> KeyExprs {
        let columns = exprs
            .iter()
            .map(|e| match e {
                ScalarExpr::Column(c) => Some(*c),
                _ => None,
            })
            .collect();
        KeyExprs { exprs, columns }
    }

    pub(super) fn eval(&self, row: &Row) -> Result<Row, EvalError> {
        if let Some(columns) = &self.columns {
            return row
                .try_project(columns)
                .map(Row::into_key)
                .ok_or_else(|| EvalError::Internal("key of a missing column".into()));
        }
        self.eval_unpacked(&row.unpack())
    }

    fn eval_unpacked(&self, datums: &[Datum]) -> Result<Row, EvalError> {
        let mut out = RowPacker::new();
        for e in &self.exprs {
            out.push(&e.eval(datums)?);
        }
        Ok(out.finish().into_key())
    }
}

#[allow(clippy::too_many_arguments)]
fn render_join<'s>(
    left: OkCollection<'s>,
    right: OkCollection<'s>,
    errs: ErrCollection<'s>,
    kind: JoinKind,
    left_keys: Vec<ScalarExpr>,
    right_keys: Vec<ScalarExpr>,
    null_equal: bool,
    filter: Option<ScalarExpr>,
    left_arity: usize,
    right_arity: usize,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let left = once_per_copy(left, left_keys.iter().any(ScalarExpr::is_volatile));
    let right = once_per_copy(right, right_keys.iter().any(ScalarExpr::is_volatile));
    let (left_keys, right_keys) = (KeyExprs::new(left_keys), KeyExprs::new(right_keys));
    let lk = left
        .clone()
        .flat_map(move |r| eval_key(&left_keys, &r, null_equal).map(|k| k.map(|k| (k, r))));
    let rk = right
        .clone()
        .flat_map(move |r| eval_key(&right_keys, &r, null_equal).map(|k| k.map(|k| (k, r))));
    let (lk, left_key_errs) = split_results(lk);
    let (rk, right_key_errs) = split_results(rk);
    let key_errs = left_key_errs.concat(right_key_errs);
    let joined = lk.join_core(rk.arrange_by_key(), |_k, l: &Row, r: &Row| {
        Some(l.concat(r))
    });
    let joined = match filter {
        None => joined.map(Ok),
        Some(f) => once_per_copy(joined, f.is_volatile()).flat_map(move |row| {
            match f.eval(&row.unpack()) {
                Ok(Datum::Bool(true)) => Some(Ok(row)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        }),
    };
    let (matched, errs) = split(joined, errs.concat(key_errs));

    // Rows of `side` that have at least one match, with their multiplicity.
    let with_match = |side: OkCollection<'s>, columns: std::ops::Range<usize>| {
        let keys = matched
            .clone()
            .map(move |r| r.project(&columns.clone().collect::<Vec<_>>()))
            .map(|r| (r, ()))
            .reduce(|_k, _v, out: &mut Vec<((), Diff)>| out.push(((), 1)))
            .map(|(r, ())| r);
        side.map(|r| (r, ())).semijoin(keys).map(|(r, ())| r)
    };
    let nulls = |n: usize| Row::new(vec![Datum::Null; n]);
    let oks = match kind {
        JoinKind::Inner => matched,
        JoinKind::LeftSemi => with_match(left, 0..left_arity),
        JoinKind::LeftAnti => {
            let semi = with_match(left.clone(), 0..left_arity);
            left.concat(semi.negate())
        }
        JoinKind::LeftOuter | JoinKind::RightOuter | JoinKind::FullOuter => {
            let mut parts = vec![matched.clone()];
            if matches!(kind, JoinKind::LeftOuter | JoinKind::FullOuter) {
                let semi = with_match(left.clone(), 0..left_arity);
                let pad = nulls(right_arity);
                parts.push(left.concat(semi.negate()).map(move |r| r.concat(&pad)));
            }
            if matches!(kind, JoinKind::RightOuter | JoinKind::FullOuter) {
                let semi = with_match(right.clone(), left_arity..left_arity + right_arity);
                let pad = nulls(left_arity);
                parts.push(right.concat(semi.negate()).map(move |r| pad.concat(&r)));
            }
            let scope = parts[0].scope();
            differential_dataflow::collection::concatenate(scope, parts)
        }
    };
    (oks, errs)
}

/// What a reduce reads from each input row: the group key, and for each
/// aggregate a flag (its `FILTER` passed) followed by its arguments.
pub(super) struct ReduceInput {
    group_key: KeyExprs,
    aggregates: Vec<AggregateExpr>,
}

impl ReduceInput {
    pub(super) fn new(group_key: Vec<ScalarExpr>, aggregates: Vec<AggregateExpr>) -> ReduceInput {
        ReduceInput {
            group_key: KeyExprs::new(group_key),
            aggregates,
        }
    }

    /// The group key's expressions.
    pub(super) fn group_key(&self) -> &[ScalarExpr] {
        &self.group_key.exprs
    }

    /// The group key's input columns, when every key expression is a
    /// column reference.
    pub(super) fn key_columns(&self) -> Option<&[usize]> {
        self.group_key.columns.as_deref()
    }

    /// The group key and the aggregates' inputs of `row`.
    pub(super) fn eval(&self, row: &Row) -> Result<(Row, Vec<Datum>), EvalError> {
        let datums = row.unpack();
        let key = self.group_key.eval_unpacked(&datums)?;
        let mut vals = Vec::new();
        for a in &self.aggregates {
            let pass = match &a.filter {
                None => true,
                Some(f) => f.eval(&datums)? == Datum::Bool(true),
            };
            vals.push(Datum::Bool(pass));
            // A row the FILTER rejects is not evaluated (PostgreSQL: no
            // `1 / x` error for a row `FILTER (WHERE x <> 0)` skips).
            for e in &a.exprs {
                vals.push(if pass { e.eval(&datums)? } else { Datum::Null });
            }
        }
        Ok((key, vals))
    }
}

fn render_reduce<'s>(
    scope: Scope<'s, Timestamp>,
    oks: OkCollection<'s>,
    errs: ErrCollection<'s>,
    group_key: Vec<ScalarExpr>,
    aggregates: Vec<AggregateExpr>,
    global: bool,
    monotonic: bool,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let oks = once_per_copy(
        oks,
        group_key.iter().any(ScalarExpr::is_volatile)
            || aggregates.iter().any(AggregateExpr::is_volatile),
    );
    let input = ReduceInput::new(group_key, aggregates.clone());
    let aggs = aggregates.clone();
    if let Some(slots) = crate::expr::aggregate::accumulable_slots(&aggregates) {
        // count/sum: the aggregates' accumulators ride along as the
        // difference and are summed per group by `count_total`.
        let (accums, errs) = super::accumulate::accumulate_input(
            oks,
            errs,
            input,
            aggregates.clone(),
            slots.clone(),
        );
        let changes = accums.count_total_core::<Diff>();
        let (oks, errs) = super::accumulate::finish_changes(changes, slots, errs);
        return with_global_default(scope, oks, errs, &aggregates, global);
    }
    if monotonic {
        // min/max (and folds) over an input that only grows: one running
        // value per group and aggregate.
        let (oks, errs) =
            super::monotonic::render_monotonic_reduce(oks, errs, input, aggregates.clone());
        return with_global_default(scope, oks, errs, &aggregates, global);
    }
    let keyed = oks.map(move |row| {
        let (key, vals) = input.eval(&row)?;
        Ok((key, Row::pack(&vals)))
    });
    let (keyed, input_errs) = split_results(keyed);
    let reduced = keyed
        .reduce(
            move |key: &Row,
                  vals: &[(&Row, Diff)],
                  out: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                out.push((aggregate_group(key, vals, &aggs), 1));
            },
        )
        .map(|(_k, r)| r);
    let (oks, errs) = split(reduced, errs.concat(input_errs));
    with_global_default(scope, oks, errs, &aggregates, global)
}

/// For an aggregate without `GROUP BY` (`global`), adds the row it has over
/// no input (counts 0, the rest NULL) while the input is empty.
fn with_global_default<'s>(
    scope: Scope<'s, Timestamp>,
    mut oks: OkCollection<'s>,
    errs: ErrCollection<'s>,
    aggregates: &[AggregateExpr],
    global: bool,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    if global {
        // An aggregate without GROUP BY has one row even over no input.
        let default = global_default(aggregates);
        let default_for_map = default.clone();
        let retract = oks.clone().map(move |_| default_for_map.clone()).negate();
        let defaults = if scope.index() == 0 {
            vec![(default, 0 as Timestamp, 1 as Diff)]
        } else {
            vec![]
        };
        let constant = defaults.to_stream(scope).as_collection();
        oks = differential_dataflow::collection::concatenate(scope, vec![oks, constant, retract]);
    }
    (oks, errs)
}

/// The row of an aggregate without `GROUP BY` over no input: counts 0,
/// the rest NULL.
pub(super) fn global_default(aggregates: &[AggregateExpr]) -> Row {
    Row::new(
        aggregates
            .iter()
            .map(|a| match a.func {
                AggregateFunc::Count | AggregateFunc::CountStar => Datum::Int64(0),
                _ => Datum::Null,
            })
            .collect(),
    )
}

/// Computes a group's output row: the key, then each aggregate.
fn aggregate_group(
    key: &Row,
    vals: &[(&Row, Diff)],
    aggs: &[AggregateExpr],
) -> Result<Row, EvalError> {
    let mut out = RowPacker::from_row(key);
    let vals: Vec<(Vec<Datum>, Diff)> = vals.iter().map(|(r, d)| (r.unpack(), *d)).collect();
    let mut offset = 0;
    for a in aggs {
        let width = a.exprs.len();
        let start = offset + 1;
        let values = vals.iter().filter_map(|(row, d)| {
            let slice = row.get(start..start + width)?;
            (row.get(offset) == Some(&Datum::Bool(true))).then_some((slice, *d))
        });
        out.push(&a.eval(values)?);
        offset += 1 + width;
    }
    Ok(out.finish())
}

/// Applies a table function to one row.
pub(super) fn table_func(
    func: &TableFunc,
    exprs: &[ScalarExpr],
    row: Row,
) -> Vec<Result<Row, EvalError>> {
    let datums = row.unpack();
    let args = match exprs
        .iter()
        .map(|e| e.eval(&datums))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(a) => a,
        Err(e) => return vec![Err(e)],
    };
    match func {
        TableFunc::GenerateSeries => match crate::expr::series::generate_series(&args) {
            Ok(values) => values
                .into_iter()
                .map(|v| Ok(row.concat(&Row::new(vec![v]))))
                .collect(),
            Err(e) => vec![Err(e)],
        },
        TableFunc::Unnest => crate::expr::array::unnest_rows(&args, &row),
        TableFunc::RegexpMatches => match crate::expr::regex::regexp_matches(&args) {
            Ok(arrays) => arrays
                .into_iter()
                .map(|a| Ok(row.concat(&Row::new(vec![a]))))
                .collect(),
            Err(e) => vec![Err(e)],
        },
        TableFunc::UnnestOuter => crate::expr::array::unnest_rows_outer(&args, &row),
        TableFunc::Jsonb(f) => match f.rows(args.first().unwrap_or(&Datum::Null)) {
            Ok(rows) => rows
                .into_iter()
                .map(|r| Ok(row.concat(&Row::new(r))))
                .collect(),
            Err(e) => vec![Err(e)],
        },
        TableFunc::WithOrdinality(inner) => {
            let mut position = 0i64;
            table_func(inner, exprs, row)
                .into_iter()
                .map(|r| {
                    r.map(|r| {
                        position += 1;
                        r.concat(&Row::new(vec![Datum::Int64(position)]))
                    })
                })
                .collect()
        }
        TableFunc::Outer { func, width } => {
            let rows = table_func(func, exprs, row.clone());
            if rows.is_empty() {
                vec![Ok(row.concat(&Row::new(vec![Datum::Null; *width])))]
            } else {
                rows
            }
        }
    }
}
