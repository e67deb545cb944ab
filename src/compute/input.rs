//! Input collections (tables, sources, introspection relations) and how
//! dataflows read them.
//!
//! An input is not arranged. Each worker keeps its share of the input's
//! current contents as a multiset ([`InputContents`]: a hash map from row to
//! multiplicity, and, while the input has only ever grown, a plain list of
//! the rows appended), and every dataflow that reads the input gets input
//! sessions of its own ([`InputReader`]): when it is built they are loaded
//! with the contents, and every later write goes to each of them. This is
//! what Materialize does with persist shards: an arrangement of a table is
//! only kept when someone asks for one (an index); without it, a write costs
//! a hash-map update per row instead of sorting and merging it into a
//! trace, and the memory is one entry per distinct row.
//!
//! Reads of an input itself (`SELECT * FROM t`) are answered from the
//! contents at once: the worker applies commands in order, so when it sees
//! a peek it has applied exactly the writes sent before it.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

use differential_dataflow::AsCollection;
use differential_dataflow::input::{Input, InputSession};
use rustc_hash::FxHashMap;
use timely::dataflow::Scope;
use timely::dataflow::operators::vec::ToStream;

use crate::expr::{EvalError, GlobalId};
use crate::repr::{Diff, Row, Timestamp};

use super::render::{ErrCollection, OkCollection};

/// One worker's share of an input's contents now.
///
/// # Invariants
///
/// The contents are the multiset sum of `rows` and `appended`. `appended`
/// holds only positive multiplicities, and is empty once `retracted` is
/// set: an input that has only ever grown (an append-only source, a table
/// that was only inserted into) costs a push per row instead of hashing
/// and comparing every row, and its first retraction moves the list into
/// the map for good.
#[derive(Default)]
pub struct InputContents {
    rows: FxHashMap<Row, Diff>,
    appended: Vec<(Row, Diff)>,
    retracted: bool,
    errs: BTreeMap<EvalError, Diff>,
}

impl InputContents {
    /// Adds `diff` copies of `row`.
    pub fn update_row(&mut self, row: Row, diff: Diff) {
        if !self.retracted {
            if diff > 0 {
                self.appended.push((row, diff));
                return;
            }
            if diff == 0 {
                return;
            }
            self.retracted = true;
            for (r, d) in std::mem::take(&mut self.appended) {
                *self.rows.entry(r).or_insert(0) += d;
            }
        }
        match self.rows.entry(row) {
            Entry::Occupied(mut e) => {
                *e.get_mut() += diff;
                if *e.get() == 0 {
                    e.remove();
                }
            }
            Entry::Vacant(e) => {
                if diff != 0 {
                    e.insert(diff);
                }
            }
        }
    }

    /// Adds `diff` copies of `err`.
    pub fn update_err(&mut self, err: EvalError, diff: Diff) {
        let count = self.errs.entry(err.clone()).or_insert(0);
        *count += diff;
        if *count == 0 {
            self.errs.remove(&err);
        }
    }

    /// The rows with their multiplicities; a row may come more than once
    /// (the multiplicities add up).
    pub fn rows(&self) -> impl Iterator<Item = (&Row, Diff)> {
        debug_assert!(!self.retracted || self.appended.is_empty());
        self.rows
            .iter()
            .chain(self.appended.iter().map(|(r, d)| (r, d)))
            .map(|(r, d)| (r, *d))
    }

    /// The contents, for a peek (the controller adds up repeated rows).
    pub fn read(&self) -> super::worker::PeekShard {
        super::worker::PeekShard {
            rows: self.rows().map(|(r, d)| (r.clone(), d)).collect(),
            errors: self.errs.iter().map(|(e, d)| (e.clone(), *d)).collect(),
        }
    }
}

/// Who owns an input reader: dropped with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderOwner {
    /// A dataflow (a view, an index, a transient query).
    Dataflow(GlobalId),
    /// A subscribe's dataflow.
    Subscribe(u64),
}

/// The sessions through which one dataflow reads one input.
pub struct InputReader {
    /// The input.
    pub id: GlobalId,
    /// The dataflow it feeds.
    pub owner: ReaderOwner,
    /// Row updates.
    pub rows: InputSession<Timestamp, Row, Diff>,
    /// Error updates.
    pub errs: InputSession<Timestamp, EvalError, Diff>,
}

impl InputReader {
    /// Moves the reader's time to `t` (no earlier than its current time).
    pub fn advance_to(&mut self, t: Timestamp) {
        self.rows.advance_to(t);
        self.errs.advance_to(t);
    }

    /// Sends buffered updates into the dataflow.
    pub fn flush(&mut self) {
        self.rows.flush();
        self.errs.flush();
    }
}

/// An input as a worker keeps it.
#[derive(Default)]
pub struct InputState {
    /// This worker's share of the contents.
    pub contents: InputContents,
    /// The dataflows reading it.
    pub readers: Vec<InputReader>,
}

impl InputState {
    /// Applies a row update: to the contents and to every reader.
    pub fn update_row(&mut self, row: Row, diff: Diff) {
        for r in &mut self.readers {
            r.rows.update(row.clone(), diff);
        }
        self.contents.update_row(row, diff);
    }

    /// Applies an error update: to the contents and to every reader.
    pub fn update_err(&mut self, err: EvalError, diff: Diff) {
        for r in &mut self.readers {
            r.errs.update(err.clone(), diff);
        }
        self.contents.update_err(err, diff);
    }
}

/// The inputs a dataflow being built may read, and the readers it created.
pub struct InputReads<'a> {
    /// The contents of every input, by id.
    pub inputs: &'a BTreeMap<GlobalId, InputState>,
    /// The time the contents are at (the last write's).
    pub as_of: Timestamp,
    /// The time every input is at now (new readers start there).
    pub now: Timestamp,
    /// The owner of the readers created.
    pub owner: ReaderOwner,
    /// Readers created while building, for the worker to register.
    pub created: Vec<InputReader>,
}

impl InputReads<'_> {
    /// Reads input `id` into `scope` through new sessions loaded with its
    /// contents; `None` if there is no such input.
    pub fn read<'s>(
        &mut self,
        scope: Scope<'s, Timestamp>,
        id: GlobalId,
    ) -> Option<(OkCollection<'s>, ErrCollection<'s>)> {
        let input = self.inputs.get(&id)?;
        let (rows, oks) = scope.new_collection::<Row, Diff>();
        let (errs, err_collection) = scope.new_collection::<EvalError, Diff>();
        // The contents enter through a constant source, not the sessions:
        // data sent into an input while its dataflow is being built is
        // counted as produced but never arrives, and holds the dataflow's
        // frontier back for good.
        let snapshot: Vec<_> = input
            .contents
            .rows()
            .map(|(r, d)| (r.clone(), self.as_of, d))
            .collect();
        let oks = oks.concat(snapshot.to_stream(scope).as_collection());
        let err_snapshot: Vec<_> = input
            .contents
            .errs
            .iter()
            .map(|(e, d)| (e.clone(), self.as_of, *d))
            .collect();
        let err_collection = err_collection.concat(err_snapshot.to_stream(scope).as_collection());
        let mut reader = InputReader {
            id,
            owner: self.owner,
            rows,
            errs,
        };
        reader.advance_to(self.now);
        reader.flush();
        self.created.push(reader);
        Some((oks, err_collection))
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::trace::TraceReader;
    use timely::progress::Antichain;

    use super::*;
    use crate::repr::Datum;

    /// The contents are the multiset sum of the updates, while the input
    /// only grows (a list), after its first retraction (a map), and
    /// across the switch.
    #[test]
    fn contents_are_the_sum_of_the_updates() {
        let row = |v: i64| Row::new(vec![Datum::Int64(v)]);
        let sum = |c: &InputContents| {
            let mut m: BTreeMap<Row, Diff> = BTreeMap::new();
            for (r, d) in c.rows() {
                *m.entry(r.clone()).or_insert(0) += d;
            }
            m.retain(|_, d| *d != 0);
            m
        };
        let mut contents = InputContents::default();
        let mut model: BTreeMap<Row, Diff> = BTreeMap::new();
        let updates = [
            (1, 1),
            (2, 1),
            (1, 1),
            (3, 2),
            (9, 0),
            (1, -1),
            (2, -1),
            (4, 1),
            (3, -2),
            (1, 1),
        ];
        for (i, (v, d)) in updates.into_iter().enumerate() {
            contents.update_row(row(v), d);
            *model.entry(row(v)).or_insert(0) += d;
            model.retain(|_, d| *d != 0);
            assert_eq!(sum(&contents), model, "after update {i}");
            assert_eq!(contents.appended.is_empty(), i >= 5, "after update {i}");
        }
        let peek: i64 = contents.read().rows.iter().map(|(_, d)| d).sum();
        assert_eq!(peek, model.values().sum::<i64>());
    }

    /// A dataflow built after writes sees them (loaded at `as_of`), sees
    /// later writes, and its frontier follows the input's time.
    #[test]
    fn reader_loads_contents_and_follows_writes() {
        timely::execute_directly(|worker| {
            let id = GlobalId(1);
            let mut inputs = BTreeMap::new();
            let mut state = InputState::default();
            let row = |v: i64| Row::new(vec![Datum::Int64(v)]);
            state.update_row(row(1), 1);
            state.update_row(row(2), 2);
            state.update_row(row(2), -1);
            inputs.insert(id, state);
            let mut reads = InputReads {
                inputs: &inputs,
                as_of: 9,
                now: 10,
                owner: ReaderOwner::Dataflow(GlobalId(2)),
                created: Vec::new(),
            };
            let mut trace = worker.dataflow::<Timestamp, _, _>(|scope| {
                let (oks, _errs) = reads.read(scope, id).unwrap();
                oks.arrange_by_self().trace
            });
            let created = std::mem::take(&mut reads.created);
            assert_eq!(created.len(), 1);
            let input = inputs.get_mut(&id).unwrap();
            input.readers.extend(created);
            let upper = |trace: &mut _| {
                let mut u = Antichain::new();
                TraceReader::read_upper(trace, &mut u);
                u.first().copied()
            };
            for _ in 0..10 {
                worker.step();
            }
            assert_eq!(upper(&mut trace), Some(10));
            for r in &mut input.readers {
                r.advance_to(12);
            }
            input.update_row(row(3), 1);
            for r in &mut input.readers {
                r.advance_to(13);
                r.flush();
            }
            for _ in 0..10 {
                worker.step();
            }
            assert_eq!(upper(&mut trace), Some(13));
            assert_eq!(input.contents.read().rows.len(), 3);
        });
    }
}
