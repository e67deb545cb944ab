//! The durable store, on redb (see `docs/design/durable-store.md`).
//!
//! One redb file holds:
//!
//! * `catalog`: item id → the item's `CREATE` statement and name;
//! * `table_rows`: (table id, encoded row) → multiplicity;
//! * `offsets`: load generator id → ticks produced;
//! * `loadgen_clocks`: load generator id → the JSON of when its runs of
//!   ticks started (`storage::loadgen::ClockSegment`s), so that a restart
//!   replays each tick at the time it had;
//! * `source_log`: (source id, entry number) → an append-only source's
//!   updates (rows and decode errors), a batch's in one or more entries of
//!   at most 256 KiB each (see `log_entries`);
//! * `upsert_state`: (source id, encoded key) → the key's current value (a
//!   row or an error): an upsert or Debezium source's whole contents, one
//!   entry per key, and the state its next record is applied against;
//! * `kafka_offsets`: (source id, partition) → the next offset to read;
//! * `txn_offsets`: (source id, partition) → the next offset to read in
//!   the Debezium transaction topic of a source with `TRANSACTION
//!   METADATA`;
//! * `txn_pending`: (source id, transaction id) → the event count of an
//!   `END` record read from that topic whose transaction has not been
//!   ingested yet (see `storage/kafka_txn.rs`);
//! * `source_snapshots`: source id → the JSON of a Kafka source's
//!   [`SnapshotBounds`], written with its catalog record at `CREATE
//!   SOURCE`: the offsets of each partition its snapshot spans (absent for
//!   a source created before snapshots were recorded);
//! * `meta`: counters such as the next item id, and whether the store's
//!   schemas were set up (`schemas`: the `public` schema a new store
//!   starts with was created, so its absence means it was dropped).
//!
//! A [`Commit`] is applied in one write transaction, fsynced before
//! `commit` returns (redb's `Durability::Immediate`): a statement is
//! acknowledged only after its commit, and a crash leaves each commit wholly
//! there or wholly absent. Ingested rows and the offset that produced them
//! go into the same commit, which is what exactly-once ingestion needs.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::expr::{EvalError, GlobalId};
use crate::repr::{Diff, Row};
use crate::storage::loadgen::ClockSegment;

const CATALOG: TableDefinition<u64, &[u8]> = TableDefinition::new("catalog");
const TABLE_ROWS: TableDefinition<(u64, &[u8]), i64> = TableDefinition::new("table_rows");
const OFFSETS: TableDefinition<u64, u64> = TableDefinition::new("offsets");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SOURCE_LOG: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("source_log");
const UPSERT_STATE: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("upsert_state");
const KAFKA_OFFSETS: TableDefinition<(u64, i32), i64> = TableDefinition::new("kafka_offsets");
const TXN_OFFSETS: TableDefinition<(u64, i32), i64> = TableDefinition::new("txn_offsets");
const TXN_PENDING: TableDefinition<(u64, &str), u64> = TableDefinition::new("txn_pending");
const SOURCE_SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("source_snapshots");
const LOADGEN_CLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("loadgen_clocks");
const SEQUENCES: TableDefinition<u64, &[u8]> = TableDefinition::new("sequences");

/// A sequence's durable value: where it resumes after a restart (its
/// `last_value` and `is_called`). Written ahead of the values handed out
/// (`coord::sequence_objects`), so no value is handed out twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequenceValue {
    /// The last value (or, when not called, the next).
    pub last_value: i64,
    /// Whether `last_value` was handed out.
    pub is_called: bool,
}

/// A source's value for a key or record: a row, or the error decoding it.
pub type SourceValue = Result<Row, EvalError>;

/// The largest log buffer a thread keeps between batches (see
/// [`DurableStore::commit_ingest`]).
const MAX_KEPT_LOG_BUFFER: usize = 16 << 20;

thread_local! {
    /// The buffer a thread encodes its ingested batches' log entries in.
    static LOG_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The appended changes of a batch (`Append` and `Many`, in order), encoded
/// as the `Vec<(SourceValue, Diff)>` that [`DurableStore::source_snapshot`]
/// reads back, without collecting them first.
struct Appended<'a>(&'a [SourceChange]);

impl Appended<'_> {
    fn iter(&self) -> impl Iterator<Item = (&SourceValue, &Diff)> {
        self.0.iter().flat_map(|c| {
            let (one, many) = match c {
                SourceChange::Append(v, d) => (Some((v, d)), &[][..]),
                SourceChange::Many(changes) => (None, changes.as_slice()),
                SourceChange::Nothing | SourceChange::Upsert { .. } => (None, &[][..]),
            };
            one.into_iter().chain(many.iter().map(|(v, d)| (v, d)))
        })
    }

    fn len(&self) -> usize {
        self.iter().count()
    }
}

/// redb's page cache. redb keeps every page a commit writes in this cache
/// until it is full (its default is 1 GiB), and an append-only source's log
/// is written once and read only when the server starts. With the default,
/// the first gigabyte of ingested data was held twice (in the workers and
/// in the cache), and every batch's pages were fresh memory, zeroed and
/// faulted in page by page: about a sixth of a source reader's time in the
/// `kafka` bench (docs/benchmarks.md, session 8). Once the cache is full,
/// written pages are dropped and their memory is reused. The cost: an
/// `UPSERT` source's state lookups miss more often (+5 % CPU with 2M keys).
const CACHE_BYTES: usize = 32 << 20;

/// The most bytes of one log entry (see [`log_entries`]).
const LOG_ENTRY_BYTES: usize = (256 << 10) - 512;

/// Encodes `appended` into `bytes` as one or more log entries, each the
/// bincode encoding of a `Vec<(SourceValue, Diff)>` (a count, then the
/// elements) of at most [`LOG_ENTRY_BYTES`] unless a single element is
/// larger; returns the entries, in order.
///
/// redb stores a value in a leaf of a power-of-two number of pages and
/// zero-fills and writes the whole leaf, so a 2.1 MB batch cost a 4 MiB
/// leaf: twice the bytes zeroed, faulted in and written. Entries just
/// under a power of two waste at most one element each.
fn log_entries<'b>(
    appended: &Appended<'_>,
    bytes: &'b mut Vec<u8>,
) -> Result<Vec<&'b [u8]>, StorageError> {
    // Entry boundaries in `bytes`, and each entry's element count.
    let mut bounds: Vec<(usize, usize, u64)> = Vec::new();
    let mut start = 0;
    let mut count = 0u64;
    bytes.extend_from_slice(&0u64.to_le_bytes());
    for element in appended.iter() {
        let before = bytes.len();
        bincode::serialize_into(&mut *bytes, &element).map_err(err)?;
        if bytes.len() - start > LOG_ENTRY_BYTES && count > 0 {
            // Close the entry before this element and start the next with it.
            let encoded = bytes[before..].to_vec();
            bytes.truncate(before);
            bounds.push((start, before, count));
            start = before;
            bytes.extend_from_slice(&0u64.to_le_bytes());
            bytes.extend_from_slice(&encoded);
            count = 0;
        }
        count += 1;
    }
    bounds.push((start, bytes.len(), count));
    for (start, _, count) in &bounds {
        bytes[*start..*start + 8].copy_from_slice(&count.to_le_bytes());
    }
    let bytes: &'b [u8] = bytes;
    Ok(bounds.iter().map(|(s, e, _)| &bytes[*s..*e]).collect())
}

impl serde::Serialize for Appended<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for element in self.iter() {
            seq.serialize_element(&element)?;
        }
        seq.end()
    }
}

/// A change an ingested record makes to its source's contents.
#[derive(Debug, Clone)]
pub enum SourceChange {
    /// Append a row or an error with a multiplicity (envelope `NONE`).
    Append(SourceValue, Diff),
    /// Several appends (a keyless Debezium update: retract `before`, add
    /// `after`).
    Many(Vec<(SourceValue, Diff)>),
    /// Nothing (a Debezium tombstone).
    Nothing,
    /// Set (or, with `None`, delete) the value of a key (envelopes `UPSERT`
    /// and `DEBEZIUM`).
    Upsert {
        /// The encoded key.
        key: Vec<u8>,
        /// The new value.
        value: Option<SourceValue>,
    },
}

/// One batch of ingested records, committed atomically with the offsets
/// after them.
#[derive(Debug, Default)]
pub struct IngestBatch {
    /// The source.
    pub source: GlobalId,
    /// The changes, in the order the records were read.
    pub changes: Vec<SourceChange>,
    /// The next offset to read, per partition.
    pub offsets: Vec<(i32, i64)>,
    /// `TRANSACTION METADATA`: the transaction topic's progress.
    pub transactions: TransactionProgress,
}

/// How far a source with `TRANSACTION METADATA` has read its transaction
/// topic, committed with the data: the topic's next offsets, and the `END`
/// records read up to them whose transactions are not ingested yet. Every
/// `END` before those offsets is either pending here or was ingested, so a
/// restart resumes the topic there, with these pending, and neither loses
/// nor re-reads an `END`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TransactionProgress {
    /// The next offset to read, per transaction topic partition (changed
    /// ones only).
    pub offsets: Vec<(i32, i64)>,
    /// `END` records now pending: transaction id and event count.
    pub add_pending: Vec<(String, u64)>,
    /// Transactions no longer pending (ingested in this batch).
    pub remove_pending: Vec<String>,
}

impl TransactionProgress {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty() && self.add_pending.is_empty() && self.remove_pending.is_empty()
    }
}

/// What committing an ingested batch did.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    /// The changes to the source's contents (for upserts, each key's old
    /// value retracted and its new value added).
    pub changes: Vec<(SourceValue, Diff)>,
    /// The change in the number of keys in the upsert state.
    pub keys_delta: i64,
    /// The change in the bytes of the upsert state (keys and values).
    pub bytes_delta: i64,
}

/// A source's contents, read back at start-up.
#[derive(Debug, Default)]
pub struct SourceSnapshot {
    /// Rows and errors with multiplicities.
    pub updates: Vec<(SourceValue, Diff)>,
    /// The next offset per partition.
    pub offsets: Vec<(i32, i64)>,
    /// The transaction topic's next offset per partition (`TRANSACTION
    /// METADATA`).
    pub transaction_offsets: Vec<(i32, i64)>,
    /// The pending `END` records: transaction id and event count.
    pub pending_ends: Vec<(String, u64)>,
    /// The source's snapshot, as recorded at `CREATE SOURCE` (`None` for a
    /// source created before snapshots were recorded).
    pub snapshot_bounds: Option<SnapshotBounds>,
}

/// What a Kafka source's snapshot is: the records its topic held when the
/// source was created, from where the source starts reading each partition
/// (`START OFFSET`, `START TIMESTAMP` or the partition's beginning) to the
/// partition's high watermark then. Stored as JSON in `source_snapshots`,
/// so later versions can add fields (with serde defaults) and still read
/// what this one wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SnapshotBounds {
    /// The brokers could not be asked when the source was created (they
    /// did not answer, or the topic did not exist yet): the bounds are
    /// taken, and stored, when they first answer.
    Pending,
    /// The partitions of the topic when the snapshot was taken.
    Known(Vec<PartitionBounds>),
}

/// The offsets one partition's snapshot spans: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionBounds {
    /// The partition.
    pub partition: i32,
    /// The first offset the source reads.
    pub start: i64,
    /// The partition's high watermark (the offset after its last record).
    pub end: i64,
}

/// An error of the durable store.
#[derive(Debug, thiserror::Error)]
#[error("durable store: {0}")]
pub struct StorageError(String);

fn err(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

/// A catalog record: what is needed to recreate an item after a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CatalogRecord {
    /// The item's name.
    pub name: String,
    /// The statement that created it.
    pub create_sql: String,
}

/// Changes applied atomically by [`DurableStore::commit`].
#[derive(Debug, Default)]
pub struct Commit {
    /// Catalog items to write.
    pub put_items: Vec<(GlobalId, CatalogRecord)>,
    /// Catalog items to delete (with their table rows and offsets).
    pub delete_items: Vec<GlobalId>,
    /// Row multiplicity changes.
    pub row_updates: Vec<(GlobalId, Row, Diff)>,
    /// New source offsets.
    pub offsets: Vec<(GlobalId, u64)>,
    /// The next item id, if it changed.
    pub next_id: Option<u64>,
    /// Records that the initial schemas were created.
    pub schemas_initialized: bool,
    /// Kafka sources' snapshots to record (see [`SnapshotBounds`]).
    pub snapshot_bounds: Vec<(GlobalId, SnapshotBounds)>,
    /// Load generators' clocks to record (each replaces the stored one).
    pub loadgen_clocks: Vec<(GlobalId, Vec<ClockSegment>)>,
    /// Sequences' values to record (each replaces the stored one).
    pub sequence_values: Vec<(GlobalId, SequenceValue)>,
}

impl Commit {
    /// Whether the commit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.put_items.is_empty()
            && self.delete_items.is_empty()
            && self.row_updates.is_empty()
            && self.offsets.is_empty()
            && self.next_id.is_none()
            && !self.schemas_initialized
            && self.snapshot_bounds.is_empty()
            && self.loadgen_clocks.is_empty()
            && self.sequence_values.is_empty()
    }
}

/// Everything in the store, read at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Catalog items in id order.
    pub items: Vec<(GlobalId, CatalogRecord)>,
    /// Table rows with multiplicities.
    pub rows: Vec<(GlobalId, Row, Diff)>,
    /// Source offsets.
    pub offsets: Vec<(GlobalId, u64)>,
    /// Load generators' clocks (absent for one a store from before clocks
    /// were recorded holds).
    pub loadgen_clocks: Vec<(GlobalId, Vec<ClockSegment>)>,
    /// Sequences' values (absent for a sequence never advanced).
    pub sequence_values: Vec<(GlobalId, SequenceValue)>,
    /// The next item id.
    pub next_id: u64,
    /// Whether the initial schemas were created.
    pub schemas_initialized: bool,
}

/// The durable store.
pub struct DurableStore {
    db: Database,
}

impl DurableStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<DurableStore, StorageError> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(dir.join("freshet.redb"))
            .map_err(err)?;
        let store = DurableStore { db };
        // Create the tables so that reads find them.
        store.commit(Commit::default())?;
        Ok(store)
    }

    /// Applies `commit` atomically and durably.
    pub fn commit(&self, commit: Commit) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut catalog = txn.open_table(CATALOG).map_err(err)?;
            let mut rows = txn.open_table(TABLE_ROWS).map_err(err)?;
            let mut offsets = txn.open_table(OFFSETS).map_err(err)?;
            let mut meta = txn.open_table(META).map_err(err)?;
            // Created here so that reads find them.
            txn.open_table(SOURCE_LOG).map_err(err)?;
            txn.open_table(UPSERT_STATE).map_err(err)?;
            txn.open_table(KAFKA_OFFSETS).map_err(err)?;
            txn.open_table(TXN_OFFSETS).map_err(err)?;
            txn.open_table(TXN_PENDING).map_err(err)?;
            let mut snapshots = txn.open_table(SOURCE_SNAPSHOTS).map_err(err)?;
            let mut clocks = txn.open_table(LOADGEN_CLOCKS).map_err(err)?;
            let mut sequences = txn.open_table(SEQUENCES).map_err(err)?;
            for (id, record) in &commit.put_items {
                let bytes = serde_json::to_vec(record).map_err(err)?;
                catalog.insert(id.0, bytes.as_slice()).map_err(err)?;
            }
            for id in &commit.delete_items {
                catalog.remove(id.0).map_err(err)?;
                offsets.remove(id.0).map_err(err)?;
                snapshots.remove(id.0).map_err(err)?;
                clocks.remove(id.0).map_err(err)?;
                sequences.remove(id.0).map_err(err)?;
                let mut log = txn.open_table(SOURCE_LOG).map_err(err)?;
                log.retain_in((id.0, 0)..=(id.0, u64::MAX), |_, _| false)
                    .map_err(err)?;
                let mut upsert = txn.open_table(UPSERT_STATE).map_err(err)?;
                upsert
                    .retain_in((id.0, &[][..])..(id.0 + 1, &[][..]), |_, _| false)
                    .map_err(err)?;
                let mut kafka = txn.open_table(KAFKA_OFFSETS).map_err(err)?;
                kafka
                    .retain_in((id.0, i32::MIN)..=(id.0, i32::MAX), |_, _| false)
                    .map_err(err)?;
                let mut txn_offsets = txn.open_table(TXN_OFFSETS).map_err(err)?;
                txn_offsets
                    .retain_in((id.0, i32::MIN)..=(id.0, i32::MAX), |_, _| false)
                    .map_err(err)?;
                let mut pending = txn.open_table(TXN_PENDING).map_err(err)?;
                pending
                    .retain_in((id.0, "")..(id.0 + 1, ""), |_, _| false)
                    .map_err(err)?;
                let keys: Vec<Vec<u8>> = rows
                    .range((id.0, &[][..])..(id.0 + 1, &[][..]))
                    .map_err(err)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value().1.to_vec()))
                    .collect();
                for k in keys {
                    rows.remove((id.0, k.as_slice())).map_err(err)?;
                }
            }
            // In key order, consolidated: a bulk write (a large `INSERT` or
            // `COPY`) then walks the B-tree once from left to right instead
            // of jumping to a random leaf for every row, which kept redb
            // reading pages back through its cache.
            let mut updates: Vec<(u64, Vec<u8>, Diff)> = commit
                .row_updates
                .iter()
                .map(|(id, row, diff)| (id.0, row.encode(), *diff))
                .collect();
            updates.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let mut i = 0;
            while i < updates.len() {
                let (id, key) = (updates[i].0, &updates[i].1);
                let mut diff = 0;
                let mut j = i;
                while j < updates.len() && updates[j].0 == id && &updates[j].1 == key {
                    diff += updates[j].2;
                    j += 1;
                }
                if diff != 0 {
                    // One B-tree operation for a row that is not stored yet
                    // (the usual case for an insert): the insert returns
                    // the count it replaced.
                    let old = rows
                        .insert((id, key.as_slice()), diff)
                        .map_err(err)?
                        .map(|v| v.value());
                    if let Some(old) = old {
                        let new = old + diff;
                        if new == 0 {
                            rows.remove((id, key.as_slice())).map_err(err)?;
                        } else {
                            rows.insert((id, key.as_slice()), new).map_err(err)?;
                        }
                    }
                }
                i = j;
            }
            for (id, offset) in &commit.offsets {
                offsets.insert(id.0, *offset).map_err(err)?;
            }
            for (id, clock) in &commit.loadgen_clocks {
                let bytes = serde_json::to_vec(clock).map_err(err)?;
                clocks.insert(id.0, bytes.as_slice()).map_err(err)?;
            }
            for (id, value) in &commit.sequence_values {
                let bytes = serde_json::to_vec(value).map_err(err)?;
                sequences.insert(id.0, bytes.as_slice()).map_err(err)?;
            }
            for (id, bounds) in &commit.snapshot_bounds {
                let bytes = serde_json::to_vec(bounds).map_err(err)?;
                snapshots.insert(id.0, bytes.as_slice()).map_err(err)?;
            }
            if commit.schemas_initialized {
                meta.insert("schemas", 1).map_err(err)?;
            }
            if let Some(next) = commit.next_id {
                meta.insert("next_id", next).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    /// Applies an ingested batch and its offsets atomically and durably, and
    /// says what that changed.
    pub fn commit_ingest(&self, batch: IngestBatch) -> Result<IngestOutcome, StorageError> {
        let id = batch.source.0;
        let mut out = Vec::new();
        let (mut keys_delta, mut bytes_delta) = (0i64, 0i64);
        let txn = self.db.begin_write().map_err(err)?;
        {
            // The appended changes go into the log as one bincode-encoded
            // `Vec<(SourceValue, Diff)>`, written straight from the batch
            // into a buffer the thread reuses: a fresh, growing buffer per
            // batch cost a copy per doubling and page faults on every batch.
            let appended = Appended(&batch.changes);
            if appended.len() > 0 {
                let mut log = txn.open_table(SOURCE_LOG).map_err(err)?;
                let next = log
                    .range((id, 0)..=(id, u64::MAX))
                    .map_err(err)?
                    .next_back()
                    .transpose()
                    .map_err(err)?
                    .map(|(k, _)| k.value().1 + 1)
                    .unwrap_or(0);
                LOG_BUFFER.with_borrow_mut(|bytes| -> Result<(), StorageError> {
                    // Cleared, not freed: its capacity is what earlier
                    // batches needed, so encoding rarely grows it.
                    bytes.clear();
                    for (entry, chunk) in (next..).zip(log_entries(&appended, bytes)?) {
                        log.insert((id, entry), chunk).map_err(err)?;
                    }
                    // A buffer grown by an unusually large batch is not kept.
                    if bytes.capacity() > MAX_KEPT_LOG_BUFFER {
                        *bytes = Vec::new();
                    }
                    Ok(())
                })?;
            }
            out.reserve(appended.len());
            let mut upsert = txn.open_table(UPSERT_STATE).map_err(err)?;
            for change in batch.changes {
                match change {
                    SourceChange::Append(v, d) => out.push((v, d)),
                    SourceChange::Many(changes) => out.extend(changes),
                    SourceChange::Nothing => {}
                    SourceChange::Upsert { key, value } => {
                        let (old, old_len) = match upsert.get((id, key.as_slice())).map_err(err)? {
                            Some(v) => (
                                Some(bincode::deserialize::<SourceValue>(v.value()).map_err(err)?),
                                v.value().len() as i64,
                            ),
                            None => (None, 0),
                        };
                        if old == value {
                            continue;
                        }
                        let key_len = key.len() as i64;
                        if old.is_some() {
                            keys_delta -= 1;
                            bytes_delta -= key_len + old_len;
                        }
                        match &value {
                            Some(v) => {
                                let bytes = bincode::serialize(v).map_err(err)?;
                                upsert
                                    .insert((id, key.as_slice()), bytes.as_slice())
                                    .map_err(err)?;
                                keys_delta += 1;
                                bytes_delta += key_len + bytes.len() as i64;
                            }
                            None => {
                                upsert.remove((id, key.as_slice())).map_err(err)?;
                            }
                        }
                        if let Some(old) = old {
                            out.push((old, -1));
                        }
                        if let Some(new) = value {
                            out.push((new, 1));
                        }
                    }
                }
            }
            let mut offsets = txn.open_table(KAFKA_OFFSETS).map_err(err)?;
            for (partition, offset) in &batch.offsets {
                offsets.insert((id, *partition), *offset).map_err(err)?;
            }
            let progress = &batch.transactions;
            if !progress.is_empty() {
                let mut offsets = txn.open_table(TXN_OFFSETS).map_err(err)?;
                for (partition, offset) in &progress.offsets {
                    offsets.insert((id, *partition), *offset).map_err(err)?;
                }
                let mut pending = txn.open_table(TXN_PENDING).map_err(err)?;
                for t in &progress.remove_pending {
                    pending.remove((id, t.as_str())).map_err(err)?;
                }
                for (t, count) in &progress.add_pending {
                    pending.insert((id, t.as_str()), *count).map_err(err)?;
                }
            }
        }
        txn.commit().map_err(err)?;
        Ok(IngestOutcome {
            changes: out,
            keys_delta,
            bytes_delta,
        })
    }

    /// Reads a source's contents and offsets.
    pub fn source_snapshot(&self, source: GlobalId) -> Result<SourceSnapshot, StorageError> {
        let id = source.0;
        let txn = self.db.begin_read().map_err(err)?;
        let mut snap = SourceSnapshot::default();
        let log = txn.open_table(SOURCE_LOG).map_err(err)?;
        for entry in log.range((id, 0)..=(id, u64::MAX)).map_err(err)? {
            let (_, v) = entry.map_err(err)?;
            let batch: Vec<(SourceValue, Diff)> = bincode::deserialize(v.value()).map_err(err)?;
            snap.updates.extend(batch);
        }
        let upsert = txn.open_table(UPSERT_STATE).map_err(err)?;
        for entry in upsert
            .range((id, &[][..])..(id + 1, &[][..]))
            .map_err(err)?
        {
            let (_, v) = entry.map_err(err)?;
            let value: SourceValue = bincode::deserialize(v.value()).map_err(err)?;
            snap.updates.push((value, 1));
        }
        let offsets = txn.open_table(KAFKA_OFFSETS).map_err(err)?;
        for entry in offsets
            .range((id, i32::MIN)..=(id, i32::MAX))
            .map_err(err)?
        {
            let (k, v) = entry.map_err(err)?;
            snap.offsets.push((k.value().1, v.value()));
        }
        let offsets = txn.open_table(TXN_OFFSETS).map_err(err)?;
        for entry in offsets
            .range((id, i32::MIN)..=(id, i32::MAX))
            .map_err(err)?
        {
            let (k, v) = entry.map_err(err)?;
            snap.transaction_offsets.push((k.value().1, v.value()));
        }
        let pending = txn.open_table(TXN_PENDING).map_err(err)?;
        for entry in pending.range((id, "")..(id + 1, "")).map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            snap.pending_ends.push((k.value().1.to_string(), v.value()));
        }
        let snapshots = txn.open_table(SOURCE_SNAPSHOTS).map_err(err)?;
        if let Some(v) = snapshots.get(id).map_err(err)? {
            // Statistics only: a record this version cannot read leaves the
            // snapshot unknown rather than the server unable to start.
            match serde_json::from_slice(v.value()) {
                Ok(bounds) => snap.snapshot_bounds = Some(bounds),
                Err(e) => tracing::warn!("source {source}: unreadable snapshot bounds: {e}"),
            }
        }
        Ok(snap)
    }

    /// The number of keys and the bytes of an upsert source's state.
    pub fn upsert_state_size(&self, source: GlobalId) -> Result<(u64, u64), StorageError> {
        let id = source.0;
        let txn = self.db.begin_read().map_err(err)?;
        let upsert = txn.open_table(UPSERT_STATE).map_err(err)?;
        let (mut keys, mut bytes) = (0u64, 0u64);
        for entry in upsert
            .range((id, &[][..])..(id + 1, &[][..]))
            .map_err(err)?
        {
            let (k, v) = entry.map_err(err)?;
            keys += 1;
            bytes += (k.value().1.len() + v.value().len()) as u64;
        }
        Ok((keys, bytes))
    }

    /// The catalog records alone, in id order (a rename rewrites the names
    /// in them without reading every table's rows).
    pub fn catalog_records(&self) -> Result<Vec<(GlobalId, CatalogRecord)>, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let catalog = txn.open_table(CATALOG).map_err(err)?;
        let mut out = Vec::new();
        for entry in catalog.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let record: CatalogRecord = serde_json::from_slice(v.value()).map_err(err)?;
            out.push((GlobalId(k.value()), record));
        }
        Ok(out)
    }

    /// Reads everything in the store.
    pub fn snapshot(&self) -> Result<Snapshot, StorageError> {
        let txn = self.db.begin_read().map_err(err)?;
        let mut snap = Snapshot::default();
        let catalog = txn.open_table(CATALOG).map_err(err)?;
        for entry in catalog.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let record: CatalogRecord = serde_json::from_slice(v.value()).map_err(err)?;
            snap.items.push((GlobalId(k.value()), record));
        }
        let rows = txn.open_table(TABLE_ROWS).map_err(err)?;
        for entry in rows.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let (id, bytes) = k.value();
            let row = Row::decode(bytes).map_err(err)?;
            snap.rows.push((GlobalId(id), row, v.value()));
        }
        let offsets = txn.open_table(OFFSETS).map_err(err)?;
        for entry in offsets.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            snap.offsets.push((GlobalId(k.value()), v.value()));
        }
        let clocks = txn.open_table(LOADGEN_CLOCKS).map_err(err)?;
        for entry in clocks.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let clock = serde_json::from_slice(v.value()).map_err(err)?;
            snap.loadgen_clocks.push((GlobalId(k.value()), clock));
        }
        // A store from before sequences has no such table.
        match txn.open_table(SEQUENCES) {
            Ok(sequences) => {
                for entry in sequences.iter().map_err(err)? {
                    let (k, v) = entry.map_err(err)?;
                    let value = serde_json::from_slice(v.value()).map_err(err)?;
                    snap.sequence_values.push((GlobalId(k.value()), value));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(err(e)),
        }
        let meta = txn.open_table(META).map_err(err)?;
        snap.next_id = meta
            .get("next_id")
            .map_err(err)?
            .map(|v| v.value())
            .unwrap_or(1);
        snap.schemas_initialized = meta.get("schemas").map_err(err)?.is_some();
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::Datum;

    fn value(i: i64) -> SourceValue {
        Ok(Row::new(vec![
            Datum::Int64(i),
            Datum::String(format!("r{i}")),
        ]))
    }

    #[test]
    fn appended_changes_encode_as_the_log_entry_they_replace() {
        let changes = vec![
            SourceChange::Append(value(1), 1),
            SourceChange::Nothing,
            SourceChange::Many(vec![(value(2), -1), (Err(EvalError::DivisionByZero), 1)]),
            SourceChange::Upsert {
                key: b"k".to_vec(),
                value: Some(value(9)),
            },
            SourceChange::Append(value(3), 2),
        ];
        let collected: Vec<(SourceValue, Diff)> = vec![
            (value(1), 1),
            (value(2), -1),
            (Err(EvalError::DivisionByZero), 1),
            (value(3), 2),
        ];
        let appended = Appended(&changes);
        assert_eq!(appended.len(), 4);
        let bytes = bincode::serialize(&appended).unwrap();
        assert_eq!(bytes, bincode::serialize(&collected).unwrap());
        assert_eq!(
            bincode::serialized_size(&appended).unwrap(),
            bytes.len() as u64
        );
        let back: Vec<(SourceValue, Diff)> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, collected);
    }

    /// Table rows' multiplicities: changes to one row within a commit and
    /// across commits add up, a row whose count reaches 0 is removed, and
    /// rows of two tables stay apart.
    #[test]
    fn table_row_counts_add_up_within_and_across_commits() {
        let dir = std::env::temp_dir().join(format!("freshet-durable-rows-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DurableStore::open(&dir).unwrap();
        let row = |i: i64| value(i).unwrap();
        let (a, b) = (GlobalId(3), GlobalId(4));
        let commit = |updates: Vec<(GlobalId, Row, Diff)>| {
            store
                .commit(Commit {
                    row_updates: updates,
                    ..Default::default()
                })
                .unwrap()
        };
        commit(vec![
            (a, row(2), 1),
            (b, row(1), 1),
            (a, row(1), 1),
            (a, row(2), 1),
            (a, row(3), 1),
            (a, row(3), -1),
        ]);
        let rows = |store: &DurableStore| store.snapshot().unwrap().rows;
        assert_eq!(
            rows(&store),
            vec![(a, row(1), 1), (a, row(2), 2), (b, row(1), 1)]
        );
        commit(vec![(a, row(2), -1), (a, row(1), -1), (b, row(1), 2)]);
        assert_eq!(rows(&store), vec![(a, row(2), 1), (b, row(1), 3)]);
        drop(store);
        let store = DurableStore::open(&dir).unwrap();
        assert_eq!(rows(&store), vec![(a, row(2), 1), (b, row(1), 3)]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ingested_batches_read_back_with_their_offsets() {
        let dir = std::env::temp_dir().join(format!("freshet-durable-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DurableStore::open(&dir).unwrap();
        let source = GlobalId(7);
        for (batch, offset) in [(0i64, 2i64), (2, 4)] {
            let outcome = store
                .commit_ingest(IngestBatch {
                    source,
                    changes: vec![
                        SourceChange::Append(value(batch), 1),
                        SourceChange::Append(value(batch + 1), 1),
                    ],
                    offsets: vec![(0, offset)],
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(
                outcome.changes,
                vec![(value(batch), 1), (value(batch + 1), 1)]
            );
        }
        let snap = store.source_snapshot(source).unwrap();
        assert_eq!(
            snap.updates,
            (0..4).map(|i| (value(i), 1)).collect::<Vec<_>>()
        );
        assert_eq!(snap.offsets, vec![(0, 4)]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A load generator's clock reads back after a reopen, a later commit
    /// replaces it, and dropping the source removes it.
    #[test]
    fn loadgen_clock_round_trip() {
        let dir =
            std::env::temp_dir().join(format!("freshet-durable-clock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let segment = |first_tick, micros| ClockSegment { first_tick, micros };
        let (source, other) = (GlobalId(3), GlobalId(4));
        {
            let store = DurableStore::open(&dir).unwrap();
            for clock in [vec![segment(1, 10)], vec![segment(1, 10), segment(7, 99)]] {
                store
                    .commit(Commit {
                        loadgen_clocks: vec![(source, clock), (other, vec![segment(1, 5)])],
                        ..Default::default()
                    })
                    .unwrap();
            }
        }
        let store = DurableStore::open(&dir).unwrap();
        assert_eq!(
            store.snapshot().unwrap().loadgen_clocks,
            vec![
                (source, vec![segment(1, 10), segment(7, 99)]),
                (other, vec![segment(1, 5)])
            ]
        );
        store
            .commit(Commit {
                delete_items: vec![other],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            store.snapshot().unwrap().loadgen_clocks,
            vec![(source, vec![segment(1, 10), segment(7, 99)])]
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A source's transaction topic progress commits with its batches and
    /// reads back: the offsets, and the pending `END`s as added and
    /// removed; dropping the source removes them.
    #[test]
    fn transaction_progress_commits_with_the_batch() {
        let dir = std::env::temp_dir().join(format!("freshet-durable-txn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DurableStore::open(&dir).unwrap();
        let (source, other) = (GlobalId(5), GlobalId(6));
        let progress =
            |offsets: Vec<(i32, i64)>, add: &[(&str, u64)], remove: &[&str]| TransactionProgress {
                offsets,
                add_pending: add.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
                remove_pending: remove.iter().map(|t| t.to_string()).collect(),
            };
        for (id, p) in [
            (
                source,
                progress(vec![(0, 3), (1, 1)], &[("a", 2), ("b", 1)], &[]),
            ),
            (other, progress(vec![(0, 9)], &[("z", 4)], &[])),
            (source, progress(vec![(0, 5)], &[("c", 7)], &["a"])),
        ] {
            store
                .commit_ingest(IngestBatch {
                    source: id,
                    changes: vec![SourceChange::Append(value(1), 1)],
                    offsets: vec![(0, 1)],
                    transactions: p,
                })
                .unwrap();
        }
        let snap = store.source_snapshot(source).unwrap();
        assert_eq!(snap.transaction_offsets, vec![(0, 5), (1, 1)]);
        assert_eq!(
            snap.pending_ends,
            vec![("b".to_string(), 1), ("c".to_string(), 7)]
        );
        store
            .commit(Commit {
                delete_items: vec![source],
                ..Default::default()
            })
            .unwrap();
        let snap = store.source_snapshot(source).unwrap();
        assert!(snap.transaction_offsets.is_empty() && snap.pending_ends.is_empty());
        let snap = store.source_snapshot(other).unwrap();
        assert_eq!(snap.transaction_offsets, vec![(0, 9)]);
        assert_eq!(snap.pending_ends, vec![("z".to_string(), 4)]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A source's snapshot bounds commit with it, read back with its
    /// contents and go when it is dropped; a store written before the
    /// `source_snapshots` table existed opens, and its sources have none.
    #[test]
    fn snapshot_bounds_are_stored_with_the_source() {
        let dir = std::env::temp_dir().join(format!("freshet-durable-snap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A store as an older version left it: its tables, no `source_snapshots`.
        {
            let db = Database::create(dir.join("freshet.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut catalog = txn.open_table(CATALOG).unwrap();
                let record = serde_json::to_vec(&CatalogRecord {
                    name: "old".into(),
                    create_sql: "CREATE SOURCE old ...".into(),
                })
                .unwrap();
                catalog.insert(4, record.as_slice()).unwrap();
                let mut offsets = txn.open_table(KAFKA_OFFSETS).unwrap();
                offsets.insert((4, 0), 17).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = DurableStore::open(&dir).unwrap();
        assert_eq!(store.snapshot().unwrap().items.len(), 1);
        let old = store.source_snapshot(GlobalId(4)).unwrap();
        assert_eq!((old.offsets, old.snapshot_bounds), (vec![(0, 17)], None));

        let (known, pending) = (GlobalId(8), GlobalId(9));
        let bounds = SnapshotBounds::Known(vec![
            PartitionBounds {
                partition: 0,
                start: 0,
                end: 300,
            },
            PartitionBounds {
                partition: 1,
                start: 5,
                end: 5,
            },
        ]);
        store
            .commit(Commit {
                snapshot_bounds: vec![(known, bounds.clone()), (pending, SnapshotBounds::Pending)],
                ..Default::default()
            })
            .unwrap();
        drop(store);
        let store = DurableStore::open(&dir).unwrap();
        let read = |id| store.source_snapshot(id).unwrap().snapshot_bounds;
        assert_eq!(read(known), Some(bounds.clone()));
        assert_eq!(read(pending), Some(SnapshotBounds::Pending));
        // Taken later: the pending bounds are replaced.
        store
            .commit(Commit {
                snapshot_bounds: vec![(pending, bounds.clone())],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(read(pending), Some(bounds.clone()));
        store
            .commit(Commit {
                delete_items: vec![known],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(read(known), None);
        assert_eq!(read(pending), Some(bounds));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A batch larger than one log entry is split into entries that each
    /// decode as a `Vec<(SourceValue, Diff)>`, stay under the entry size
    /// (but for an element larger than it, alone in its entry), and
    /// together hold the batch's changes in order; a store reads them back
    /// in order, after and before other batches' entries.
    #[test]
    fn large_batches_split_into_log_entries() {
        let big = |i: i64| -> SourceValue {
            Ok(Row::new(vec![
                Datum::Int64(i),
                Datum::String("x".repeat(LOG_ENTRY_BYTES + 10)),
            ]))
        };
        let mut changes: Vec<SourceChange> = Vec::new();
        let mut collected: Vec<(SourceValue, Diff)> = Vec::new();
        for i in 0..20_000i64 {
            let (v, d) = match i {
                // An element larger than an entry, first and in the middle.
                0 | 10_000 => (big(i), 1),
                _ if i % 97 == 0 => (Err(EvalError::DivisionByZero), -1),
                _ => (value(i), 1 + i % 3),
            };
            if i % 500 == 7 {
                changes.push(SourceChange::Nothing);
                changes.push(SourceChange::Many(vec![(v.clone(), d), (value(-i), -d)]));
                collected.push((v, d));
                collected.push((value(-i), -d));
            } else {
                changes.push(SourceChange::Append(v.clone(), d));
                collected.push((v, d));
            }
        }
        let appended = Appended(&changes);
        let mut bytes = Vec::new();
        let entries = log_entries(&appended, &mut bytes).unwrap();
        assert!(entries.len() > 4, "{} entries", entries.len());
        let mut back: Vec<(SourceValue, Diff)> = Vec::new();
        for entry in &entries {
            let part: Vec<(SourceValue, Diff)> = bincode::deserialize(entry).unwrap();
            assert!(!part.is_empty());
            assert!(
                entry.len() <= LOG_ENTRY_BYTES || part.len() == 1,
                "an entry of {} bytes with {} elements",
                entry.len(),
                part.len()
            );
            back.extend(part);
        }
        assert_eq!(back, collected);
        // A small batch is one entry, encoded as before.
        let small = [SourceChange::Append(value(1), 1)];
        let mut bytes = Vec::new();
        let entries = log_entries(&Appended(&small), &mut bytes).unwrap();
        assert_eq!(
            entries,
            vec![bincode::serialize(&Appended(&small)).unwrap().as_slice()]
        );

        let dir = std::env::temp_dir().join(format!(
            "freshet-durable-entries-test-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DurableStore::open(&dir).unwrap();
        let source = GlobalId(3);
        let first = vec![SourceChange::Append(value(-1), 1)];
        let last = vec![SourceChange::Append(value(-2), 1)];
        for (batch, offset) in [(first, 1), (changes, 2), (last, 3)] {
            store
                .commit_ingest(IngestBatch {
                    source,
                    changes: batch,
                    offsets: vec![(0, offset)],
                    ..Default::default()
                })
                .unwrap();
        }
        let snap = store.source_snapshot(source).unwrap();
        let mut want = vec![(value(-1), 1)];
        want.extend(collected);
        want.push((value(-2), 1));
        assert_eq!(snap.updates, want);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
