//! Grouping a Debezium source's events by source transaction, so that a
//! transaction becomes visible at one Freshet timestamp.
//!
//! A reader pushes each decoded record into a [`TransactionBuffer`] with
//! the record's `transaction.id`, and takes out what may be committed.
//! Released records keep each partition's order; a held record holds back
//! every later record of its partition, so the offset a batch commits for
//! a partition is that of its first held record (or the position after
//! the last read one): what is held is never committed, and a crash
//! re-reads it.
//!
//! * [`Grouping::Metadata`] (`TRANSACTION METADATA`): a transaction's
//!   events are held until its `END` record (from the transaction topic)
//!   has arrived and so have as many events as it counts for the source's
//!   collection, all at the front of their partitions; then they are
//!   released together, into one batch.
//! * [`Grouping::Runs`] (any Debezium source): without the `END` record the
//!   size of a transaction is unknown, so a partition's trailing run of
//!   events of one transaction is held until an event of another
//!   transaction (or of none) follows it, or the partition has been quiet
//!   for a while: a poll never splits a run that arrives without pauses.
//! * [`Grouping::None`]: everything is released at once.
//!
//! With [`Grouping::Metadata`], the `END` records read and not yet released
//! are durable state: each batch commits, with its data, the transaction
//! topic's offsets and the changes to the pending `END`s
//! ([`TransactionBuffer::durable_changes`]), and a restart resumes the
//! topic there with the pending ones ([`TransactionBuffer::resume`]). An
//! `END` is dropped once its transaction is released, so the buffer holds
//! only transactions still open or pending, never the topic's history.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::durable::{SourceChange, TransactionProgress};

/// The most records [`Grouping::Runs`] holds back in one partition: a
/// longer run is released (and so split) rather than kept in memory.
const MAX_RUN: usize = 100_000;

/// How events are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// No grouping.
    None,
    /// Do not split runs of one transaction; release a held run once its
    /// partition has been quiet for `idle`.
    Runs {
        /// How long a partition must be quiet before its run is released.
        idle: Duration,
    },
    /// Hold transactions until their `END` record says they are complete.
    Metadata,
}

/// A decoded record waiting in the buffer.
#[derive(Debug)]
pub struct HeldRecord {
    /// Its change.
    pub change: SourceChange,
    /// Its `transaction.id`, if any.
    pub transaction: Option<String>,
    /// Its offset.
    pub offset: i64,
    /// Bytes of its key and value (for statistics).
    pub bytes: u64,
    /// Whether it failed to decode (for statistics).
    pub decode_error: bool,
}

/// Records read and not yet released, per partition.
///
/// # Invariants
///
/// Each partition's queue is in offset order, and only a prefix of it is
/// ever released.
#[derive(Debug)]
pub struct TransactionBuffer {
    grouping: Grouping,
    queues: BTreeMap<i32, VecDeque<HeldRecord>>,
    last_arrival: BTreeMap<i32, Instant>,
    /// Event counts for the source's collection from `END` records, by
    /// transaction id, until the transaction is released.
    ends: HashMap<String, PendingEnd>,
    /// `END`s read since the last [`durable_changes`](Self::durable_changes),
    /// in the order read (some may be released already).
    fresh_ends: Vec<String>,
    /// Durable `END`s released since the last `durable_changes`.
    released_ends: Vec<String>,
    /// Held events per transaction id.
    arrived: HashMap<String, u64>,
    /// Bytes of the held records' keys and values.
    held_bytes: u64,
}

/// An `END` record waiting for its transaction's events.
#[derive(Debug, Clone, Copy)]
struct PendingEnd {
    /// Its event count for the source's collection.
    count: u64,
    /// Whether the durable store has it (committed as pending).
    durable: bool,
}

impl TransactionBuffer {
    /// An empty buffer.
    pub fn new(grouping: Grouping) -> TransactionBuffer {
        TransactionBuffer {
            grouping,
            queues: BTreeMap::new(),
            last_arrival: BTreeMap::new(),
            ends: HashMap::new(),
            fresh_ends: Vec::new(),
            released_ends: Vec::new(),
            arrived: HashMap::new(),
            held_bytes: 0,
        }
    }

    /// A buffer that starts with the `END` records a previous run left
    /// pending (durable already). With a grouping other than
    /// [`Grouping::Metadata`] (a failed source no longer groups, see
    /// [`kafka_reader`](super::kafka_reader)), they are dropped: the first
    /// [`durable_changes`](Self::durable_changes) removes them from the
    /// store.
    pub fn resume(grouping: Grouping, pending: impl IntoIterator<Item = (String, u64)>) -> Self {
        let mut buffer = TransactionBuffer::new(grouping);
        if grouping != Grouping::Metadata {
            buffer.released_ends = pending.into_iter().map(|(id, _)| id).collect();
            return buffer;
        }
        buffer.ends = pending
            .into_iter()
            .map(|(id, count)| {
                (
                    id,
                    PendingEnd {
                        count,
                        durable: true,
                    },
                )
            })
            .collect();
        buffer
    }

    /// Adds a record read from `partition`.
    pub fn push(&mut self, partition: i32, record: HeldRecord, now: Instant) {
        let queue = self.queues.entry(partition).or_default();
        debug_assert!(queue.back().is_none_or(|r| r.offset < record.offset));
        if let Some(t) = &record.transaction {
            *self.arrived.entry(t.clone()).or_default() += 1;
        }
        self.held_bytes += record.bytes;
        queue.push_back(record);
        self.last_arrival.insert(partition, now);
    }

    /// Records an `END` record: transaction `id` has `count` events in the
    /// source's collection.
    pub fn end(&mut self, id: String, count: u64) {
        // Without grouping by `END`s, nothing would ever release it.
        if self.grouping != Grouping::Metadata {
            return;
        }
        // Most transactions of a database may not touch this collection:
        // remembering them would grow without bound.
        if (count > 0 || self.arrived.contains_key(&id)) && !self.ends.contains_key(&id) {
            self.fresh_ends.push(id.clone());
            self.ends.insert(
                id,
                PendingEnd {
                    count,
                    durable: false,
                },
            );
        }
    }

    /// Records held.
    pub fn held(&self) -> usize {
        self.queues.values().map(|q| q.len()).sum()
    }

    /// Bytes of the held records' keys and values.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// `END` records waiting for (some of) their transactions' events.
    pub fn pending_ends(&self) -> usize {
        self.ends.len()
    }

    /// The changes to the pending `END`s since the last call, for the
    /// batch about to commit, with the transaction topic's `offsets`: the
    /// `END`s read since and still pending, and the durable ones released
    /// since. They count as durable from now on: if the batch fails to
    /// commit, its reader's attempt ends and the next one starts from what
    /// the store has.
    pub fn durable_changes(&mut self, offsets: Vec<(i32, i64)>) -> TransactionProgress {
        let mut add_pending = Vec::new();
        for id in self.fresh_ends.drain(..) {
            if let Some(end) = self.ends.get_mut(&id)
                && !end.durable
            {
                end.durable = true;
                add_pending.push((id, end.count));
            }
        }
        TransactionProgress {
            offsets,
            add_pending,
            remove_pending: std::mem::take(&mut self.released_ends),
        }
    }

    /// The offset of the first held record of `partition`.
    pub fn first_held(&self, partition: i32) -> Option<i64> {
        self.queues
            .get(&partition)
            .and_then(|q| q.front())
            .map(|r| r.offset)
    }

    /// Takes out the records that may be committed now, in partition
    /// order (the order within each partition kept).
    pub fn release(&mut self, now: Instant) -> Vec<(i32, HeldRecord)> {
        let mut out = Vec::new();
        match self.grouping {
            Grouping::None => {
                for (p, q) in &mut self.queues {
                    out.extend(q.drain(..).map(|r| (*p, r)));
                }
            }
            Grouping::Runs { idle } => {
                for (p, q) in &mut self.queues {
                    let quiet = self
                        .last_arrival
                        .get(p)
                        .is_none_or(|t| now.duration_since(*t) >= idle);
                    let run = match q.back().and_then(|r| r.transaction.as_ref()) {
                        Some(t) if !quiet => q
                            .iter()
                            .rev()
                            .take_while(|r| r.transaction.as_ref() == Some(t))
                            .count(),
                        _ => 0,
                    };
                    let hold = if run >= MAX_RUN { 0 } else { run };
                    let n = q.len() - hold;
                    out.extend(q.drain(..n).map(|r| (*p, r)));
                }
            }
            Grouping::Metadata => self.release_complete(&mut out),
        }
        for (_, r) in &out {
            self.held_bytes -= r.bytes;
            if let Some(t) = &r.transaction
                && let Some(n) = self.arrived.get_mut(t)
            {
                *n -= 1;
                if *n == 0 {
                    self.arrived.remove(t);
                }
            }
        }
        out
    }

    /// [`Grouping::Metadata`]: releases leading records without a
    /// transaction, and complete transactions whose events all lead their
    /// partitions, until nothing more can go.
    fn release_complete(&mut self, out: &mut Vec<(i32, HeldRecord)>) {
        loop {
            let mut progress = false;
            for (p, q) in &mut self.queues {
                while q.front().is_some_and(|r| r.transaction.is_none()) {
                    out.extend(q.pop_front().map(|r| (*p, r)));
                    progress = true;
                }
            }
            let fronts: BTreeSet<String> = self
                .queues
                .values()
                .filter_map(|q| q.front().and_then(|r| r.transaction.clone()))
                .collect();
            for t in fronts {
                let Some(expected) = self.ends.get(&t).map(|e| e.count) else {
                    continue;
                };
                let arrived = self.arrived.get(&t).copied().unwrap_or(0);
                let leading: u64 = self
                    .queues
                    .values()
                    .map(|q| {
                        q.iter()
                            .take_while(|r| r.transaction.as_ref() == Some(&t))
                            .count() as u64
                    })
                    .sum();
                if arrived < expected || leading != arrived {
                    continue;
                }
                for (p, q) in &mut self.queues {
                    while q
                        .front()
                        .is_some_and(|r| r.transaction.as_ref() == Some(&t))
                    {
                        out.extend(q.pop_front().map(|r| (*p, r)));
                    }
                }
                if self.ends.remove(&t).is_some_and(|e| e.durable) {
                    self.released_ends.push(t);
                }
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }
}

/// The fields of a Debezium transaction topic record Freshet reads.
#[derive(serde::Deserialize)]
struct TransactionJson<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    status: Option<String>,
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    data_collections: Option<Vec<DataCollectionJson>>,
}

#[derive(serde::Deserialize)]
struct DataCollectionJson {
    data_collection: String,
    event_count: u64,
}

/// Parses a record of Debezium's transaction topic (JSON converter, with
/// or without the `schema`/`payload` wrapping): for an `END` record, the
/// transaction id and its event count for `collection` (0 when the
/// transaction did not touch it); `None` for `BEGIN` and anything else.
pub fn parse_end(bytes: &[u8], collection: &str) -> Option<(String, u64)> {
    let mut record: TransactionJson<'_> = serde_json::from_slice(bytes).ok()?;
    if let (Some(_), Some(payload)) = (record.schema, record.payload) {
        record = serde_json::from_str(payload.get()).ok()?;
    }
    if record.status.as_deref() != Some("END") {
        return None;
    }
    let id = super::decode::json_id(record.id?)?;
    let count = record
        .data_collections
        .unwrap_or_default()
        .iter()
        .filter(|c| c.data_collection == collection)
        .map(|c| c.event_count)
        .sum();
    Some((id, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, transaction: Option<&str>) -> HeldRecord {
        HeldRecord {
            change: SourceChange::Nothing,
            transaction: transaction.map(str::to_string),
            offset,
            bytes: 10,
            decode_error: false,
        }
    }

    fn offsets(out: &[(i32, HeldRecord)]) -> Vec<(i32, i64)> {
        out.iter().map(|(p, r)| (*p, r.offset)).collect()
    }

    #[test]
    fn metadata_releases_a_transaction_whole_once_its_end_and_events_are_in() {
        let now = Instant::now();
        let mut b = TransactionBuffer::new(Grouping::Metadata);
        b.push(0, record(0, None), now);
        b.push(0, record(1, Some("t1")), now);
        b.push(1, record(0, Some("t1")), now);
        b.push(0, record(2, None), now);
        // Released: the leading record without a transaction; t1 waits for its END.
        assert_eq!(offsets(&b.release(now)), [(0, 0)]);
        assert_eq!(b.first_held(0), Some(1));
        // The END counts 3 events; two have arrived.
        b.end("t1".into(), 3);
        assert!(b.release(now).is_empty());
        b.push(1, record(1, Some("t1")), now);
        // A transaction that does not touch the collection is not remembered.
        b.end("t0".into(), 0);
        assert_eq!(offsets(&b.release(now)), [(0, 1), (1, 0), (1, 1), (0, 2)]);
        assert_eq!(b.held(), 0);
        assert!(b.ends.is_empty() && b.arrived.is_empty());
        assert_eq!(b.first_held(0), None);
    }

    /// Transaction topic offsets for [`TransactionBuffer::durable_changes`].
    fn at(offset: i64) -> Vec<(i32, i64)> {
        vec![(0, offset)]
    }

    /// The pending `END`s are durable state: each batch commits the ones
    /// read since the last and drops the released ones; a resumed buffer
    /// starts with them, and its size is that of the open transactions,
    /// not of the topic's history.
    #[test]
    fn metadata_commits_pending_ends_and_drops_released_ones() {
        let now = Instant::now();
        let mut b = TransactionBuffer::new(Grouping::Metadata);
        // t1's END before its events; t2 complete within one batch; t0
        // touches only other collections.
        b.end("t1".into(), 2);
        b.end("t0".into(), 0);
        b.push(0, record(0, Some("t2")), now);
        b.end("t2".into(), 1);
        assert_eq!(offsets(&b.release(now)), [(0, 0)]);
        assert_eq!(
            b.durable_changes(at(3)),
            TransactionProgress {
                offsets: at(3),
                add_pending: vec![("t1".into(), 2)],
                remove_pending: vec![],
            }
        );
        assert_eq!(b.pending_ends(), 1);
        // An END read again (after a new attempt) is not added twice.
        b.end("t1".into(), 2);
        b.push(0, record(1, Some("t1")), now);
        assert!(b.release(now).is_empty());
        assert_eq!((b.held(), b.held_bytes()), (1, 10));
        assert_eq!(b.durable_changes(vec![]), TransactionProgress::default());
        // The store has t1 pending; a restart resumes with it, and t1's
        // events, read again from the first held offset, release it.
        let mut r = TransactionBuffer::resume(Grouping::Metadata, [("t1".to_string(), 2)]);
        r.push(0, record(1, Some("t1")), now);
        r.push(1, record(0, Some("t1")), now);
        assert_eq!(offsets(&r.release(now)), [(0, 1), (1, 0)]);
        assert_eq!((r.pending_ends(), r.held(), r.held_bytes()), (0, 0, 0));
        assert_eq!(
            r.durable_changes(at(4)),
            TransactionProgress {
                offsets: at(4),
                add_pending: vec![],
                remove_pending: vec!["t1".into()],
            }
        );
        // Many transactions later, only the open one is kept.
        for i in 0..1000i64 {
            let t = format!("x{i}");
            r.push(0, record(2 + i, Some(&t)), now);
            r.end(t, 1);
            if i % 100 == 0 {
                r.release(now);
                r.durable_changes(at(5 + i));
            }
        }
        r.end("open".into(), 5);
        r.release(now);
        r.durable_changes(at(2000));
        assert_eq!((r.pending_ends(), r.held()), (1, 0));
        assert_eq!(r.ends.keys().collect::<Vec<_>>(), ["open"]);
        assert!(r.arrived.is_empty() && r.fresh_ends.is_empty() && r.released_ends.is_empty());
    }

    /// A failed source resumes without grouping: the pending `END`s are
    /// dropped from the store, records are released at once, and `END`s
    /// read later are not remembered.
    #[test]
    fn without_metadata_grouping_pending_ends_are_dropped() {
        let now = Instant::now();
        let mut b = TransactionBuffer::resume(Grouping::None, [("t1".to_string(), 2)]);
        assert_eq!(b.pending_ends(), 0);
        b.push(0, record(4, Some("t1")), now);
        b.end("t2".into(), 1);
        b.push(0, record(5, Some("t2")), now);
        assert_eq!(offsets(&b.release(now)), [(0, 4), (0, 5)]);
        assert_eq!((b.pending_ends(), b.held()), (0, 0));
        assert_eq!(
            b.durable_changes(at(7)),
            TransactionProgress {
                offsets: at(7),
                add_pending: vec![],
                remove_pending: vec!["t1".into()],
            }
        );
        assert_eq!(b.durable_changes(vec![]), TransactionProgress::default());
    }

    #[test]
    fn metadata_keeps_partition_order_behind_an_incomplete_transaction() {
        let now = Instant::now();
        let mut b = TransactionBuffer::new(Grouping::Metadata);
        b.push(0, record(0, Some("t1")), now);
        b.push(0, record(1, Some("t2")), now);
        b.end("t2".into(), 1);
        // t2 is complete, but behind t1 in its partition.
        assert!(b.release(now).is_empty());
        b.end("t1".into(), 1);
        assert_eq!(offsets(&b.release(now)), [(0, 0), (0, 1)]);
    }

    #[test]
    fn runs_hold_the_trailing_run_until_another_transaction_or_quiet() {
        let t0 = Instant::now();
        let idle = Duration::from_millis(100);
        let mut b = TransactionBuffer::new(Grouping::Runs { idle });
        b.push(0, record(0, Some("a")), t0);
        b.push(0, record(1, Some("b")), t0);
        b.push(0, record(2, Some("b")), t0);
        b.push(1, record(0, None), t0);
        assert_eq!(offsets(&b.release(t0)), [(0, 0), (1, 0)]);
        assert_eq!(b.first_held(0), Some(1));
        b.push(0, record(3, Some("c")), t0);
        assert_eq!(offsets(&b.release(t0)), [(0, 1), (0, 2)]);
        // Quiet for `idle`: the last run goes too.
        assert_eq!(offsets(&b.release(t0 + idle)), [(0, 3)]);
    }

    #[test]
    fn parses_end_records_with_and_without_the_schema_wrapping() {
        let end = r#"{"status":"END","id":"571:34120944","ts_ms":1580390884335,"event_count":3,
            "data_collections":[{"data_collection":"inventory.orders","event_count":2},
                                {"data_collection":"inventory.customers","event_count":1}]}"#;
        assert_eq!(
            parse_end(end.as_bytes(), "inventory.orders"),
            Some(("571:34120944".into(), 2))
        );
        assert_eq!(
            parse_end(end.as_bytes(), "inventory.products"),
            Some(("571:34120944".into(), 0))
        );
        let wrapped = format!(r#"{{"schema":{{"type":"struct"}},"payload":{end}}}"#);
        assert_eq!(
            parse_end(wrapped.as_bytes(), "inventory.customers"),
            Some(("571:34120944".into(), 1))
        );
        let begin =
            r#"{"status":"BEGIN","id":"571:34120944","event_count":null,"data_collections":null}"#;
        assert_eq!(parse_end(begin.as_bytes(), "inventory.orders"), None);
        assert_eq!(parse_end(b"not json", "inventory.orders"), None);
    }
}
