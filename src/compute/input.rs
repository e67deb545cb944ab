//! Input collections (tables, sources, introspection relations) and how
//! dataflows read them.
//!
//! An input is not arranged. Each worker keeps its share of the input's
//! current contents as a multiset ([`InputContents`]), and every dataflow
//! that reads the input gets input sessions of its own ([`InputReader`]):
//! when it is built they are loaded with the contents, and every later
//! write goes to each of them. This is what Materialize does with persist
//! shards: an arrangement of a table is only kept when someone asks for one
//! (an index); without it, a write appends its rows to a log that is sorted
//! and merged into the contents in bulk, instead of going through a trace's
//! batches and merges.
//!
//! Reads of an input itself (`SELECT * FROM t`) are answered from the
//! contents at once: the worker applies commands in order, so when it sees
//! a peek it has applied exactly the writes sent before it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use differential_dataflow::AsCollection;
use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::Scope;
use timely::dataflow::operators::vec::ToStream;

use crate::expr::{EvalError, GlobalId};
use crate::repr::{Diff, Row, Timestamp};

use super::render::{ErrCollection, OkCollection};

/// Updates an input's contents buffer before they are merged in, at least.
/// Writes usually come in batches far larger than this, so it only matters
/// for small tables.
const MIN_PENDING: usize = 4096;

/// A row of an input's contents with its multiplicity, and the row's hash,
/// which orders the contents ([`by_hash`]).
type Entry = (u64, Row, Diff);

/// The hash that orders the contents: equal rows hash alike ([`Row`]'s
/// `Hash` agrees with its `Eq`).
fn row_hash(row: &Row) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    row.hash(&mut h);
    h.finish()
}

/// The order of the contents: by hash, then by row. Any total order
/// consistent with equality serves to sort and merge the contents; this
/// one compares two integers almost always (the row only breaks ties of
/// the hash, i.e. equal rows and collisions), where comparing the rows
/// themselves was most of the cost of keeping a table (a fifth of the
/// `groupby` bench's time, sorting the log).
fn by_hash(a: &Entry, b: &Entry) -> Ordering {
    a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1))
}

/// One worker's share of an input's contents now.
///
/// Writes go to a log (`pending`), which is consolidated and merged into
/// the sorted `rows` once it holds half as many updates as `rows` has rows:
/// each update is sorted once, with the updates written around it, and
/// merged a bounded number of times, and no write touches memory at random.
/// (A hash map from row to multiplicity, the previous form, costs a cache
/// miss or two per update once the table outgrows the cache; this was a
/// quarter of a maintained `GROUP BY`'s time in the `groupby` bench.)
/// Both are ordered by [`by_hash`], not by row: reads sort what they
/// return.
///
/// An input that has only ever grown (an append-only source, a table only
/// inserted into) is not merged at all: its rows stay in the log in write
/// order, so appending costs a push and no sorting, until its first
/// retraction (`retracted`) merges the log and the rule above applies from
/// then on.
///
/// # Invariants
///
/// `rows` is sorted by [`by_hash`], its rows are distinct, no multiplicity
/// is zero, and each entry's hash is its row's [`row_hash`]; `pending` is
/// in write order, holds rows with their hashes (0 while `retracted` is
/// false: hashed when first needed) and may hold anything else. The
/// contents are `rows` plus `pending`. While `retracted` is false, `rows`
/// is empty. `spare` is empty (its allocation is reused by
/// the next merge, so a large table does not fault in fresh pages for
/// every merge).
#[derive(Default)]
pub struct InputContents {
    rows: Vec<Entry>,
    pending: Vec<Entry>,
    spare: Vec<Entry>,
    retracted: bool,
    errs: BTreeMap<EvalError, Diff>,
}

impl InputContents {
    /// Adds `diff` copies of `row`.
    pub fn update_row(&mut self, row: Row, diff: Diff) {
        if diff == 0 {
            return;
        }
        if diff < 0 && !self.retracted {
            // The first retraction: from now on the log is merged, by hash.
            self.retracted = true;
            for entry in &mut self.pending {
                entry.0 = row_hash(&entry.1);
            }
        }
        // An append-only log is never sorted: its rows are hashed only if
        // it ever needs them (hashing a 200-byte row is most of appending it).
        let hash = if self.retracted { row_hash(&row) } else { 0 };
        self.pending.push((hash, row, diff));
        if self.retracted && self.pending.len() >= (self.rows.len() / 2).max(MIN_PENDING) {
            self.merge_pending();
        }
    }

    /// Consolidates the log and merges it into `rows`.
    fn merge_pending(&mut self) {
        consolidate_entries(&mut self.pending);
        let mut out = std::mem::take(&mut self.spare);
        out.reserve(self.rows.len() + self.pending.len());
        merge_into(self.rows.drain(..), self.pending.drain(..), &mut out);
        self.spare = std::mem::replace(&mut self.rows, out);
        debug_assert!(self.spare.is_empty());
        debug_assert!(
            self.rows
                .windows(2)
                .all(|w| by_hash(&w[0], &w[1]) == Ordering::Less)
        );
    }

    /// The rows and their multiplicities, sorted by row, consolidated.
    fn consolidated_rows(&self) -> Vec<(Row, Diff)> {
        let mut pending = self.pending.clone();
        if !self.retracted {
            for entry in &mut pending {
                entry.0 = row_hash(&entry.1);
            }
        }
        consolidate_entries(&mut pending);
        let mut merged = Vec::with_capacity(self.rows.len() + pending.len());
        merge_into(self.rows.iter().cloned(), pending.into_iter(), &mut merged);
        let mut rows: Vec<(Row, Diff)> = merged.into_iter().map(|(_, r, d)| (r, d)).collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    /// Every row with its multiplicity (repeated rows not added up).
    fn unconsolidated(&self) -> impl Iterator<Item = (&Row, Diff)> {
        self.rows
            .iter()
            .chain(&self.pending)
            .map(|(_, r, d)| (r, *d))
    }

    /// Adds `diff` copies of `err`.
    pub fn update_err(&mut self, err: EvalError, diff: Diff) {
        let count = self.errs.entry(err.clone()).or_insert(0);
        *count += diff;
        if *count == 0 {
            self.errs.remove(&err);
        }
    }

    /// The contents, for a peek.
    pub fn read(&self) -> super::worker::PeekShard {
        super::worker::PeekShard {
            rows: self.consolidated_rows(),
            errors: self.errs.iter().map(|(e, d)| (e.clone(), *d)).collect(),
        }
    }
}

/// Sorts `entries` by [`by_hash`] and adds up the multiplicities of equal
/// rows, dropping those that cancel out.
fn consolidate_entries(entries: &mut Vec<Entry>) {
    entries.sort_unstable_by(by_hash);
    let mut kept = 0;
    for i in 0..entries.len() {
        if kept > 0 && {
            let (a, b) = (&entries[kept - 1], &entries[i]);
            a.0 == b.0 && a.1 == b.1
        } {
            entries[kept - 1].2 += entries[i].2;
        } else {
            if kept > 0 && entries[kept - 1].2 == 0 {
                kept -= 1;
            }
            entries.swap(kept, i);
            kept += 1;
        }
    }
    if kept > 0 && entries[kept - 1].2 == 0 {
        kept -= 1;
    }
    entries.truncate(kept);
}

/// Merges two lists sorted by [`by_hash`] with distinct rows onto `out`,
/// adding the multiplicities of a row in both and dropping those that
/// cancel out.
fn merge_into(
    a: impl Iterator<Item = Entry>,
    b: impl Iterator<Item = Entry>,
    out: &mut Vec<Entry>,
) {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => by_hash(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return,
        };
        match order {
            Ordering::Less => out.extend(a.next()),
            Ordering::Greater => out.extend(b.next()),
            Ordering::Equal => {
                if let (Some((h, row, x)), Some((_, _, y))) = (a.next(), b.next())
                    && x + y != 0
                {
                    out.push((h, row, x + y));
                }
            }
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
    /// The updates since the earliest time a transaction still reads at
    /// (a read hold, `Command::ReadHold`), with their times: the contents
    /// at an earlier time are the contents minus the later updates. Empty
    /// while no read hold exists.
    pub history: History,
}

/// The updates of an input after some time, kept while a read hold needs
/// the input's contents as of that time.
#[derive(Default)]
pub struct History {
    rows: Vec<(Row, Timestamp, Diff)>,
    errs: Vec<(EvalError, Timestamp, Diff)>,
}

impl History {
    /// Forgets the updates at or before `since` (every read is at or after
    /// it), or every update if no read needs them (`None`).
    pub fn forget_through(&mut self, since: Option<Timestamp>) {
        match since {
            Some(since) => {
                self.rows.retain(|(_, t, _)| *t > since);
                self.errs.retain(|(_, t, _)| *t > since);
            }
            None => {
                self.rows = Vec::new();
                self.errs = Vec::new();
            }
        }
    }

    fn after(&self, as_of: Timestamp) -> impl Iterator<Item = &(Row, Timestamp, Diff)> {
        self.rows.iter().filter(move |(_, t, _)| *t > as_of)
    }

    fn errs_after(&self, as_of: Timestamp) -> impl Iterator<Item = &(EvalError, Timestamp, Diff)> {
        self.errs.iter().filter(move |(_, t, _)| *t > as_of)
    }
}

impl InputState {
    /// Applies a row update at `time`: to the contents, to every reader,
    /// and to the history if `keep_history` (a read hold exists).
    pub fn update_row(&mut self, row: Row, time: Timestamp, diff: Diff, keep_history: bool) {
        for r in &mut self.readers {
            r.rows.update(row.clone(), diff);
        }
        if keep_history {
            self.history.rows.push((row.clone(), time, diff));
        }
        self.contents.update_row(row, diff);
    }

    /// Applies an error update at `time`, as [`InputState::update_row`].
    pub fn update_err(&mut self, err: EvalError, time: Timestamp, diff: Diff, keep_history: bool) {
        for r in &mut self.readers {
            r.errs.update(err.clone(), diff);
        }
        if keep_history {
            self.history.errs.push((err.clone(), time, diff));
        }
        self.contents.update_err(err, diff);
    }

    /// The contents at `as_of`, for a peek: the contents now without the
    /// updates after `as_of` (which a read hold kept).
    pub fn read_at(&self, as_of: Timestamp) -> super::worker::PeekShard {
        let mut shard = self.contents.read();
        let mut later = self.history.after(as_of).peekable();
        let mut later_errs = self.history.errs_after(as_of).peekable();
        if later.peek().is_none() && later_errs.peek().is_none() {
            return shard;
        }
        shard.rows.extend(later.map(|(r, _, d)| (r.clone(), -d)));
        differential_dataflow::consolidation::consolidate(&mut shard.rows);
        shard
            .errors
            .extend(later_errs.map(|(e, _, d)| (e.clone(), -d)));
        differential_dataflow::consolidation::consolidate(&mut shard.errors);
        shard
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
        // Unconsolidated: the dataflow adds up repeated rows itself, and the
        // log of an append-only input is not worth sorting here.
        // Reading as of an earlier time (a transaction's snapshot): the
        // updates since come out of the contents at `as_of` and go back
        // in at their own times.
        let as_of = self.as_of;
        let later = input.history.after(as_of);
        let snapshot: Vec<_> = input
            .contents
            .unconsolidated()
            .map(|(r, d)| (r.clone(), as_of, d))
            .chain(later.flat_map(|(r, t, d)| [(r.clone(), as_of, -d), (r.clone(), *t, *d)]))
            .collect();
        let oks = oks.concat(snapshot.to_stream(scope).as_collection());
        let later_errs = input.history.errs_after(as_of);
        let err_snapshot: Vec<_> = input
            .contents
            .errs
            .iter()
            .map(|(e, d)| (e.clone(), as_of, *d))
            .chain(later_errs.flat_map(|(e, t, d)| [(e.clone(), as_of, -d), (e.clone(), *t, *d)]))
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

    /// A dataflow built after writes sees them (loaded at `as_of`), sees
    /// later writes, and its frontier follows the input's time.
    #[test]
    fn reader_loads_contents_and_follows_writes() {
        timely::execute_directly(|worker| {
            let id = GlobalId(1);
            let mut inputs = BTreeMap::new();
            let mut state = InputState::default();
            let row = |v: i64| Row::new(vec![Datum::Int64(v)]);
            state.update_row(row(1), 0, 1, false);
            state.update_row(row(2), 0, 2, false);
            state.update_row(row(2), 0, -1, false);
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
            input.update_row(row(3), 12, 1, false);
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

    /// While a read hold keeps the history, the contents can be read as of
    /// an earlier time, by a peek and by a dataflow built later; releasing
    /// the hold forgets the history.
    #[test]
    fn history_reads_the_contents_as_of_an_earlier_time() {
        timely::execute_directly(|worker| {
            let id = GlobalId(1);
            let row = |v: i64| Row::new(vec![Datum::Int64(v)]);
            let mut state = InputState::default();
            state.update_row(row(1), 3, 1, false);
            state.update_row(row(2), 3, 1, false);
            // A hold at 3; later writes are kept.
            state.update_row(row(1), 5, -1, true);
            state.update_row(row(3), 7, 1, true);
            state.update_err(EvalError::DivisionByZero, 7, 1, true);
            let rows = |shard: super::super::worker::PeekShard| (shard.rows, shard.errors.len());
            assert_eq!(rows(state.read_at(3)), (vec![(row(1), 1), (row(2), 1)], 0));
            assert_eq!(rows(state.read_at(5)), (vec![(row(2), 1)], 0));
            assert_eq!(rows(state.read_at(7)), (vec![(row(2), 1), (row(3), 1)], 1));
            let mut inputs = BTreeMap::new();
            inputs.insert(id, state);
            let mut reads = InputReads {
                inputs: &inputs,
                as_of: 4,
                now: 8,
                owner: ReaderOwner::Dataflow(GlobalId(2)),
                created: Vec::new(),
            };
            let (probe, seen) = worker.dataflow::<Timestamp, _, _>(|scope| {
                let (oks, _errs) = reads.read(scope, id).unwrap();
                let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
                let sink = seen.clone();
                let (probe, _) = oks
                    .consolidate()
                    .inspect(move |(r, t, d)| sink.borrow_mut().push((r.clone(), *t, *d)))
                    .probe();
                (probe, seen)
            });
            drop(reads);
            while probe.less_than(&8) {
                worker.step();
            }
            let mut seen = seen.borrow().clone();
            seen.sort();
            // At 4: rows 1 and 2; row 1 goes at 5; row 3 comes at 7.
            assert_eq!(
                seen,
                vec![
                    (row(1), 4, 1),
                    (row(1), 5, -1),
                    (row(2), 4, 1),
                    (row(3), 7, 1)
                ]
            );
            let state = inputs.get_mut(&id).unwrap();
            state.history.forget_through(Some(5));
            assert_eq!(rows(state.read_at(5)), (vec![(row(2), 1)], 0));
            state.history.forget_through(None);
            assert_eq!(state.history.rows.len() + state.history.errs.len(), 0);
        });
    }

    /// The contents are the sum of every update, read before, between and
    /// after the merges of the log (small tables never merge it), with rows
    /// that cancel out gone.
    #[test]
    fn contents_match_a_model() {
        let mut contents = InputContents::default();
        let mut model: BTreeMap<Row, Diff> = BTreeMap::new();
        let mut seed: u64 = 7;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for step in 0..40_000 {
            let row = Row::new(vec![Datum::Int64(next(3000) as i64), Datum::Null]);
            // Mostly inserts, and deletes of rows that may or may not be there.
            let diff = [1, 1, 2, -1, -1][next(5) as usize];
            contents.update_row(row.clone(), diff);
            *model.entry(row).or_default() += diff;
            if step % 9973 == 0 || step == 39_999 {
                model.retain(|_, d| *d != 0);
                let got = contents.read().rows;
                let want: Vec<(Row, Diff)> = model.iter().map(|(r, d)| (r.clone(), *d)).collect();
                assert_eq!(got, want, "after {} updates", step + 1);
            }
        }
        // The log was merged (at least once) and the rows stay consolidated.
        assert!(!contents.rows.is_empty());
        assert!(contents.rows.iter().all(|(_, _, d)| *d != 0));
    }

    /// Consolidating and merging tell rows apart by the row where their
    /// hashes collide (forced here: every entry gets hash 0 or 1).
    #[test]
    fn colliding_hashes_keep_rows_apart() {
        let row = |k: i64| Row::new(vec![Datum::Int64(k)]);
        let mut a: Vec<Entry> = vec![
            (1, row(3), 1),
            (0, row(2), 1),
            (0, row(1), 2),
            (0, row(2), -1),
            (1, row(4), 1),
            (0, row(1), -1),
        ];
        consolidate_entries(&mut a);
        assert_eq!(a, vec![(0, row(1), 1), (1, row(3), 1), (1, row(4), 1)]);
        let mut b: Vec<Entry> = vec![(0, row(0), 5), (0, row(1), -1), (1, row(4), 2)];
        consolidate_entries(&mut b);
        let mut out = Vec::new();
        merge_into(a.into_iter(), b.into_iter(), &mut out);
        assert_eq!(out, vec![(0, row(0), 5), (1, row(3), 1), (1, row(4), 3)]);
    }

    /// An input that only grows keeps its log unmerged, and reads add up
    /// its repeated rows; its first retraction merges the log.
    #[test]
    fn append_only_contents_merge_at_the_first_retraction() {
        let mut contents = InputContents::default();
        let row = |k: i64| Row::new(vec![Datum::Int64(k)]);
        for i in 0..3 * MIN_PENDING as i64 {
            contents.update_row(row(i % 10), 1);
        }
        assert!(contents.rows.is_empty(), "an append-only log is not merged");
        assert_eq!(contents.pending.len(), 3 * MIN_PENDING);
        let per_key = (3 * MIN_PENDING / 10) as Diff;
        let expected =
            |k: i64, extra: Diff| per_key + Diff::from(((3 * MIN_PENDING) % 10) as i64 > k) + extra;
        let got = contents.read().rows;
        let want: Vec<(Row, Diff)> = (0..10).map(|k| (row(k), expected(k, 0))).collect();
        assert_eq!(got, want);
        contents.update_row(row(3), -1);
        assert_eq!(contents.rows.len(), 10, "the retraction merged the log");
        assert!(contents.pending.is_empty());
        let got = contents.read().rows;
        let want: Vec<(Row, Diff)> = (0..10)
            .map(|k| (row(k), expected(k, if k == 3 { -1 } else { 0 })))
            .collect();
        assert_eq!(got, want);
    }
}
