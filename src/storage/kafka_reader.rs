//! One reader of a Kafka source: a thread with its own consumer and decoder
//! that reads the partitions the source's [`spawn`](super::kafka::spawn)
//! gave it (`p mod readers = reader`), each from the offset the durable
//! store recorded (else `START OFFSET`, `START TIMESTAMP`, or the
//! beginning). It reads records in
//! batches, decodes them, and hands each batch, with its partitions'
//! offsets after it, to the source's `deliver`, which commits both in one
//! durable transaction before the data becomes visible: a restart resumes
//! each partition exactly after its last committed record.
//!
//! Every few seconds a [`MetadataWatch`] thread next to the reader asks the
//! brokers for the topic's partitions (partitions added later are assigned
//! when the reader sees the new list) and its partitions' high watermarks.
//! Those are synchronous requests, and a broker may queue them behind the
//! reader's fetch: made by the reader itself, they stopped it from taking
//! records for 10–20 ms every two seconds (docs/benchmarks.md, `kafka`,
//! session 11).
//!
//! Decoded records pass through a [`TransactionBuffer`] that may hold some
//! back to keep a Debezium source transaction together (see
//! [`kafka_txn`](super::kafka_txn)); a partition's committed offset then
//! stops at its first held record. With `TRANSACTION METADATA` the same
//! consumer also reads the transaction topic for the `END` records, from
//! the offsets committed with the data (its beginning at first), and the
//! `END`s read whose transactions are not ingested yet are committed as
//! pending with them.
//!
//! # Offsets that are gone
//!
//! Records deleted before the source read them (retention, compaction,
//! `DeleteRecords`), and offsets that went back (a topic deleted and
//! recreated), take away the offset a partition is read from next: see
//! [`kafka_watermarks`](super::kafka_watermarks) for how they are found,
//! in the source's topic and in its `TRANSACTION METADATA` topic. The
//! source is then broken: a definite error
//! ([`EvalError::Source`](crate::expr::EvalError::Source), naming the
//! topic, the partition, the offset wanted and the watermark) is
//! committed into the source's data, so that reads of the source and of
//! every view over it fail until it is dropped, and the source's status is
//! `failed` with that error (`SHOW SOURCES`,
//! `mz_internal.mz_source_statistics`). A partition without a start offset
//! (a new source reading from the beginning) just starts at its low
//! watermark. The consumer runs with `auto.offset.reset = error`, so an
//! offset that is deleted while the reader runs ends the attempt (librdkafka
//! would otherwise jump to the partition's end and skip everything
//! silently), and the next attempt finds it as above.
//!
//! The error is committed in the same durable transaction that moves the
//! partition's offset past the loss
//! (`LostOffset::resume_at`),
//! and the readers then go on reading every partition. Stopping the
//! source would bring nothing back, would freeze the other partitions (and
//! their lag) for nothing, and would leave the offset where it was lost,
//! so every restart would find the loss again and commit the error once
//! more; this way the error is recorded exactly once, and other sources
//! are not touched. The source stays failed: its reads fail while the
//! error is in its data, which is for as long as the source exists. Since
//! nobody can read it again, a failed source no longer keeps Debezium
//! transactions together ([`Grouping::None`]): with an `END` record lost,
//! its transaction's events, and every later event of their partitions,
//! would otherwise be held in memory for ever.
//!
//! # A start offset past the end
//!
//! A `START OFFSET` past its partition's high watermark names records that
//! do not exist yet. Materialize reads such a partition from there once
//! records reach it (its consumer, reset to the earliest offset when the
//! brokers answer `OFFSET_OUT_OF_RANGE`, skips the records before the
//! start offset), and so does Freshet, without the out-of-range fetch: the
//! reader leaves the partition unassigned (`kafka_reader/start.rs`,
//! `Reader::find_waiting`) until the partition's
//! high watermark, which its metadata thread fetches every
//! [`METADATA_INTERVAL`], reaches the start offset, and then assigns it at
//! that offset (a fetch at the high watermark waits for the next record).
//! Meanwhile the source is `stalled`, its error naming the partition, the
//! start offset and the high watermark (`SHOW SOURCES`,
//! `mz_internal.mz_source_statistics`), so that a mistyped offset does not
//! look like a quiet topic. `START OFFSET` with more entries than the topic
//! has partitions, and negative entries, are refused at `CREATE SOURCE`, as
//! in Materialize. When the brokers do not tell the partitions within
//! `CREATE SOURCE`'s wait for them (a source created while they are
//! unreachable), the first reader checks the entries once it has the
//! topic's metadata, and too many is the source's definite error, as
//! above (`Reader::check_start_offsets`).
//!
//! # Transaction markers
//!
//! A topic written with Kafka transactions has a control record (the commit
//! or abort marker) after each transaction in each partition, which the
//! consumer never returns, so the offset after the last record read stays
//! short of the high watermark. Each batch's offsets therefore advance to
//! the consumer's position (librdkafka's, past the markers and aborted
//! records it has skipped, never past a record it has not returned), and
//! an idle reader closes a batch when the position moved: lag reaches 0 and
//! the snapshot is committed. The offsets still commit with the data that
//! precedes them, so a restart resumes after the marker and nothing is
//! read twice or lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedHeaders, Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::decode::{KafkaHeader, KafkaRecord, Stall};
use super::durable::{IngestBatch, SourceChange};
use super::kafka::{
    Deliver, ErrorRecorder, HeldStats, IngestControl, IngestParams, PartitionStats,
    TransactionResume, client_config, reader_of,
};
use super::kafka_txn::{Grouping, HeldRecord, TransactionBuffer};
use super::kafka_watermarks::went_back;
use crate::expr::EvalError;

mod lost;
mod start;

use lost::went_back_error;

/// The most records in one batch.
const MAX_BATCH_RECORDS: usize = 100_000;
/// The most bytes of keys and values in one batch (a batch may pass it by
/// its last record). A batch's log entry is about this large, and redb
/// writes it through a buffer of the next power of two; jemalloc hands
/// allocations of 8 MiB and more back to the kernel when they are freed,
/// so larger batches took fresh, zeroed pages (a page fault every 4 KiB)
/// every time, which was a tenth of the reader's time.
const MAX_BATCH_BYTES: u64 = 2 << 20;
/// The longest a batch collects records once it has one (it closes sooner
/// when no more are waiting).
const MAX_BATCH_WAIT: Duration = Duration::from_millis(5);
/// The longest a batch is held back, collecting more records, while the
/// dataflows are still busy with earlier writes (see [`Reader::hold`]).
/// Only a dataflow whose frontier never advanced would make a batch wait
/// this long without the workers being busy.
const MAX_LAG_WAIT: Duration = Duration::from_millis(50);
/// How often partitions and high watermarks are refreshed (by the
/// reader's [`MetadataWatch`] thread).
const METADATA_INTERVAL: Duration = Duration::from_secs(2);
/// How long a reader waits for the topic's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a probe for offsets that went back waits for the brokers'
/// answer (see [`probe_went_back`]).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// librdkafka's `fetch.wait.max.ms` for source readers: how long a broker
/// may hold a fetch that has no new data. A Kafka broker answers as soon as
/// data arrives, so this only sets how often an idle reader asks again;
/// tansu 0.6 (the tests' and benchmark's broker) answers every fetch only
/// after this whole wait, data or not, so a record waits 1.5 times it on
/// average. At 10 ms that was most of the latency (docs/benchmarks.md,
/// `kafka`, session 6); 2 ms costs an idle source's reader about 500
/// fetches per second. A connection's `FETCH WAIT MAX MS` replaces it.
pub const FETCH_WAIT_MS: u32 = 2;

/// A reader's consumer: it keeps librdkafka's reason for a failed broker
/// connection, which the reader's status names.
pub(crate) type ReaderConsumer = BaseConsumer<ErrorRecorder>;

/// Runs reader `reader` of a source until the source is cancelled,
/// retrying broker problems with exponential backoff.
pub(crate) fn run(
    params: IngestParams,
    reader: usize,
    control: Arc<IngestControl>,
    deliver: Deliver,
) {
    control.set_status(reader, "starting", None);
    let mut backoff = Duration::from_millis(100);
    // Offsets to resume from: what the store recorded, updated as batches
    // commit; partitions without one start per the source's options.
    let mut next: BTreeMap<i32, i64> = params.resume.clone();
    // Likewise the transaction topic's offsets and pending `END`s.
    let mut committed = params.resume_transactions.clone();
    let reader = Reader {
        params: &params,
        reader,
        control: &control,
        deliver: &*deliver,
    };
    while !control.cancelled.load(Ordering::SeqCst) {
        let before = (next.clone(), committed.offsets.clone());
        match reader.ingest(&mut next, &mut committed) {
            Ok(()) => return,
            Err(e) => {
                // A connection that delivered data before failing starts
                // the backoff over.
                if (&next, &committed.offsets) != (&before.0, &before.1) {
                    backoff = Duration::from_millis(100);
                }
                control.set_status(reader.reader, "stalled", Some(e));
                let deadline = Instant::now() + backoff;
                while Instant::now() < deadline {
                    if control.cancelled.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Where a reader's consumer is, within one attempt.
#[derive(Debug, Default)]
struct Positions {
    /// The source topic's partitions the reader owns.
    parts: Vec<i32>,
    /// The transaction topic's partitions (`TRANSACTION METADATA`).
    transaction_parts: Vec<i32>,
    /// Per source partition, the offset after the last record read.
    read: BTreeMap<i32, i64>,
    /// Per transaction topic partition, the offset after the last record
    /// read.
    transaction_read: BTreeMap<i32, i64>,
    /// Partitions left unassigned until records reach their `START
    /// OFFSET` (partition → start offset; see "A start offset past the
    /// end" above).
    waiting: BTreeMap<i32, i64>,
}

/// What a reader's metadata thread found, for the reader to pick up between
/// batches; and the signal that stops the thread.
#[derive(Default)]
struct MetadataWatch {
    state: Mutex<WatchState>,
    stopped: Condvar,
}

#[derive(Default)]
struct WatchState {
    /// The topic's partitions the reader owns, or why they could not be
    /// fetched, not yet taken by the reader.
    news: Option<Result<Vec<i32>, String>>,
    /// The offsets the reader has committed, of the source's topic and of
    /// its transaction topic, which the thread compares with the high
    /// watermarks it fetches.
    committed: (BTreeMap<i32, i64>, BTreeMap<i32, i64>),
    /// Set when the reader's attempt ends.
    stopped: bool,
}

impl MetadataWatch {
    /// Waits `interval`, or until stopped; whether the thread should go on.
    fn sleep(&self, interval: Duration) -> bool {
        let Ok(state) = self.state.lock() else {
            return false;
        };
        match self
            .stopped
            .wait_timeout_while(state, interval, |s| !s.stopped)
        {
            Ok((state, _)) => !state.stopped,
            Err(_) => false,
        }
    }

    /// Stops the thread (at its next wait; a request in flight completes).
    fn stop(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.stopped = true;
        }
        self.stopped.notify_all();
    }

    /// Publishes the partitions found (or the error).
    fn publish(&self, parts: Result<Vec<i32>, String>) {
        if let Ok(mut state) = self.state.lock() {
            state.news = Some(parts);
        }
    }

    /// Records the offsets the reader has committed, of the source's topic
    /// (`data`) and of its transaction topic (`transactions`).
    fn note_committed(&self, data: &BTreeMap<i32, i64>, transactions: &BTreeMap<i32, i64>) {
        if let Ok(mut state) = self.state.lock() {
            state.committed.0.clone_from(data);
            state.committed.1.clone_from(transactions);
        }
    }

    /// The offsets last recorded by [`note_committed`](Self::note_committed).
    fn committed(&self) -> (BTreeMap<i32, i64>, BTreeMap<i32, i64>) {
        self.state
            .lock()
            .map(|s| s.committed.clone())
            .unwrap_or_default()
    }

    /// Whether there is something to take.
    fn has_news(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.news.is_some())
    }

    /// Takes what was published since the last take.
    fn take(&self) -> Option<Result<Vec<i32>, String>> {
        self.state.lock().ok().and_then(|mut s| s.news.take())
    }
}

/// Stops a [`MetadataWatch`] when dropped.
struct StopOnDrop<'a>(&'a MetadataWatch);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Where a partition without a recorded offset starts: its `START OFFSET`
/// (given per partition, 0, 1, ...); else, with `START TIMESTAMP`, the first
/// offset whose record's timestamp is at or after it, as `offset_for_time`
/// finds it (a negative timestamp is that many milliseconds before
/// `now_ms`, as in Materialize; no such record: the partition's end); else
/// the partition's beginning.
pub(crate) fn resolve_start_offset(
    start_offsets: &[i64],
    start_timestamp: Option<i64>,
    partition: i32,
    now_ms: i64,
    offset_for_time: impl FnOnce(i64) -> Result<Option<i64>, String>,
) -> Result<Offset, String> {
    if let Some(o) = usize::try_from(partition)
        .ok()
        .and_then(|p| start_offsets.get(p))
    {
        return Ok(Offset::Offset(*o));
    }
    let Some(ts) = start_timestamp else {
        return Ok(Offset::Beginning);
    };
    let ts = if ts < 0 {
        now_ms.saturating_add(ts)
    } else {
        ts
    };
    Ok(match offset_for_time(ts)? {
        Some(o) => Offset::Offset(o),
        None => Offset::End,
    })
}

/// The headers of a message, in order. rdkafka's `Headers::try_get` panics
/// on a key that is not UTF-8; such a header cannot be the one an `INCLUDE
/// HEADER` names (its key is a UTF-8 string), but `INCLUDE HEADERS` must
/// not lose it, so it stays in place with no key (and no value, which
/// rdkafka does not return either) instead of ending the reader's thread.
fn message_headers(headers: &BorrowedHeaders) -> Vec<KafkaHeader<'_>> {
    (0..headers.count())
        .filter_map(|i| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| headers.try_get(i))) {
                Ok(Some(h)) => Some(KafkaHeader {
                    key: Some(h.key),
                    value: h.value,
                }),
                Ok(None) => None,
                Err(_) => Some(KafkaHeader {
                    key: None,
                    value: None,
                }),
            }
        })
        .collect()
}

/// The partitions of `topic`, in order, asking for up to `timeout`.
pub(crate) fn topic_partitions(
    consumer: &ReaderConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("fetching metadata of topic \"{topic}\": {e}"))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(format!("topic \"{topic}\" does not exist"));
    };
    if let Some(e) = t.error() {
        return Err(format!(
            "topic \"{topic}\": {}",
            rdkafka::error::RDKafkaErrorCode::from(e)
        ));
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort();
    Ok(ids)
}

/// The first offset of `topic`'s `partition` whose timestamp is at least
/// `ts` (milliseconds), as the brokers answer `START TIMESTAMP`'s lookup
/// (`None`: no such record).
pub(crate) fn offset_for_time(
    consumer: &ReaderConsumer,
    topic: &str,
    partition: i32,
    ts: i64,
    timeout: Duration,
) -> Result<Option<i64>, String> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(ts))
        .map_err(|e| e.to_string())?;
    let found = consumer
        .offsets_for_times(tpl, timeout)
        .map_err(|e| format!("looking up START TIMESTAMP: {e}"))?;
    Ok(found
        .find_partition(topic, partition)
        .and_then(|elem| match elem.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }))
}

/// A reader's fixed context.
struct Reader<'a> {
    params: &'a IngestParams,
    reader: usize,
    control: &'a IngestControl,
    deliver: &'a (dyn Fn(usize, IngestBatch) -> super::kafka::DeliverResult + Send + Sync),
}

impl Reader<'_> {
    /// Where a partition without a recorded offset starts (see
    /// [`resolve_start_offset`]), asking the brokers for the offset of
    /// `START TIMESTAMP`.
    fn start_offset(&self, consumer: &ReaderConsumer, partition: i32) -> Result<Offset, String> {
        let params = self.params;
        resolve_start_offset(
            &params.start_offsets,
            params.start_timestamp,
            partition,
            chrono::Utc::now().timestamp_millis(),
            |ts| {
                offset_for_time(
                    consumer,
                    &params.topic,
                    partition,
                    ts,
                    Duration::from_secs(10),
                )
            },
        )
    }

    /// The partitions of the source's topic this reader owns.
    fn partitions(&self, consumer: &ReaderConsumer) -> Result<Vec<i32>, String> {
        let mut ids = topic_partitions(consumer, &self.params.topic, METADATA_TIMEOUT)?;
        ids.retain(|p| reader_of(*p, self.params.readers) == self.reader);
        Ok(ids)
    }

    /// Assigns the reader's partitions, each after its last record read in
    /// this attempt, else at its committed offset, else where the source
    /// starts (but not those waiting for their `START OFFSET`); and the
    /// transaction topic's partitions likewise, a partition without a
    /// committed offset from its beginning.
    fn assign(
        &self,
        consumer: &ReaderConsumer,
        next: &BTreeMap<i32, i64>,
        committed: &TransactionResume,
        positions: &Positions,
    ) -> Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        for p in positions
            .parts
            .iter()
            .filter(|p| !positions.waiting.contains_key(p))
        {
            let offset = match positions.read.get(p).or(next.get(p)) {
                Some(o) => Offset::Offset(*o),
                None => self.start_offset(consumer, *p)?,
            };
            tpl.add_partition_offset(&self.params.topic, *p, offset)
                .map_err(|e| e.to_string())?;
        }
        if let Some(t) = &self.params.transactions {
            for p in &positions.transaction_parts {
                let offset = positions
                    .transaction_read
                    .get(p)
                    .or(committed.offsets.get(p))
                    .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                tpl.add_partition_offset(&t.topic, *p, offset)
                    .map_err(|e| e.to_string())?;
            }
        }
        consumer
            .assign(&tpl)
            .map_err(|e| format!("assigning partitions: {e}"))
    }

    /// Moves the read positions of the partitions the reader has read or
    /// committed up to the consumer's positions, which pass the transaction
    /// markers and aborted records librdkafka skipped (see "Transaction
    /// markers" above); whether any moved. A partition not read yet is
    /// left alone, so that its first record is still known as the first
    /// (`CSV WITH HEADER`).
    fn advance_past_markers(
        &self,
        consumer: &ReaderConsumer,
        next: &BTreeMap<i32, i64>,
        committed: &TransactionResume,
        positions: &mut Positions,
    ) -> bool {
        let Ok(tpl) = consumer.position() else {
            return false;
        };
        let mut moved = false;
        let mut advance =
            |read: &mut BTreeMap<i32, i64>, done: &BTreeMap<i32, i64>, topic: &str| {
                for elem in tpl.elements_for_topic(topic) {
                    let (p, Offset::Offset(o)) = (elem.partition(), elem.offset()) else {
                        continue;
                    };
                    let Some(at) = read.get(&p).or(done.get(&p)).copied() else {
                        continue;
                    };
                    if o > at {
                        read.insert(p, o);
                        moved = true;
                    }
                }
            };
        advance(&mut positions.read, next, &self.params.topic);
        if let Some(t) = &self.params.transactions {
            advance(
                &mut positions.transaction_read,
                &committed.offsets,
                &t.topic,
            );
        }
        moved
    }

    /// The configuration of the reader's consumer.
    fn consumer_config(&self) -> ClientConfig {
        let params = self.params;
        let mut config = client_config(&params.options);
        config
            .set("group.id", format!("freshet-source-{}", params.id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // An offset the brokers no longer hold is an error event, not a
            // silent jump to the partition's end (librdkafka's default).
            .set("auto.offset.reset", "error");
        // The connection's `FETCH WAIT MAX MS`, if it has one, is already set.
        if !params.options.contains_key("fetch.wait.max.ms") {
            config.set("fetch.wait.max.ms", FETCH_WAIT_MS.to_string());
        }
        config
    }

    /// Reads until cancelled (`Ok`) or a broker problem (`Err`, retried).
    fn ingest(
        &self,
        next: &mut BTreeMap<i32, i64>,
        committed: &mut TransactionResume,
    ) -> Result<(), String> {
        let params = self.params;
        let consumer: ReaderConsumer = self
            .consumer_config()
            .create_with_context(ErrorRecorder::default())
            .map_err(|e| format!("creating the Kafka consumer: {e}"))?;
        self.read(&consumer, next, committed).map_err(|e| {
            // A failed authentication is the reason whatever request
            // failed (librdkafka retries it forever): say so. The errors
            // queued since the last poll are taken first.
            for _ in 0..100 {
                match consumer.poll(Duration::ZERO) {
                    Some(Err(e)) => consumer.context().note(&e),
                    Some(Ok(_)) => {}
                    None => break,
                }
            }
            match consumer.context().authentication_failure(&params.options) {
                Some(failure) => format!("{failure} ({e})"),
                None => format!("{e}{}", consumer.context().reason()),
            }
        })
    }

    /// Reads with `consumer` until cancelled (`Ok`) or a broker problem
    /// (`Err`), with a [`MetadataWatch`] thread refreshing the partitions
    /// and their high watermarks meanwhile.
    fn read(
        &self,
        consumer: &ReaderConsumer,
        next: &mut BTreeMap<i32, i64>,
        committed: &mut TransactionResume,
    ) -> Result<(), String> {
        let params = self.params;
        let mut positions = Positions {
            parts: self.partitions(consumer)?,
            transaction_parts: match &params.transactions {
                Some(t) => topic_partitions(consumer, &t.topic, METADATA_TIMEOUT)?,
                None => Vec::new(),
            },
            ..Default::default()
        };
        if self.check_start_offsets(consumer)?.is_none() {
            return Ok(());
        }
        if self
            .commit_lost(consumer, next, committed, &mut positions)?
            .is_none()
        {
            return Ok(());
        }
        self.find_waiting(consumer, next, &mut positions)?;
        self.assign(consumer, next, committed, &positions)?;
        self.refresh_watermarks(consumer, &positions.parts);
        let watch = MetadataWatch::default();
        watch.note_committed(next, &committed.offsets);
        let transaction_parts = positions.transaction_parts.clone();
        std::thread::scope(|scope| {
            let watcher = std::thread::Builder::new()
                .name(format!("kafka-meta-{}-{}", self.params.id, self.reader))
                .spawn_scoped(scope, || {
                    self.watch_metadata(consumer, &watch, &transaction_parts)
                });
            if let Err(e) = watcher {
                return Err(format!("starting the metadata thread: {e}"));
            }
            // Stopped however the loop ends (a panic too: the scope waits
            // for the thread).
            let _stop = StopOnDrop(&watch);
            self.read_batches(consumer, next, committed, &mut positions, &watch)
        })
    }

    /// Refreshes the topic's partitions and the reader's partitions' high
    /// watermarks every [`METADATA_INTERVAL`] until `watch` is stopped,
    /// publishing the partitions (or the error fetching them) in `watch`.
    ///
    /// A transaction topic (`TRANSACTION METADATA`) that gained partitions
    /// since `transaction_parts` were assigned is published as an error:
    /// the new partitions may hold the `END` records of held transactions,
    /// and the next attempt reads the new ones from their beginning (and
    /// the others from their committed offsets). So is a high watermark,
    /// of the source's topic or of its transaction topic, below the offset
    /// the reader had committed before it was fetched: the partition's
    /// offsets went back, and the next attempt commits the source's
    /// definite error (see [`kafka_watermarks`](super::kafka_watermarks)).
    fn watch_metadata(
        &self,
        consumer: &ReaderConsumer,
        watch: &MetadataWatch,
        transaction_parts: &[i32],
    ) {
        // The committed offsets of the previous round, and the suspicions
        // probed already in this attempt (see `confirm_went_back`).
        let mut previous = (BTreeMap::new(), BTreeMap::new());
        let mut probed = BTreeSet::new();
        while watch.sleep(METADATA_INTERVAL) {
            // Taken before the watermarks are fetched: a healthy broker's
            // high watermark is never below an offset read before it.
            let (data_committed, transaction_committed) = watch.committed();
            let mut parts = self.partitions(consumer);
            if let (Ok(_), Some(t)) = (&parts, &self.params.transactions)
                && let Ok(now) = topic_partitions(consumer, &t.topic, METADATA_TIMEOUT)
                && now != transaction_parts
            {
                parts = Err(format!(
                    "the transaction topic \"{}\" now has {} partitions: reading them all again",
                    t.topic,
                    now.len()
                ));
            }
            if let Ok(now) = &parts {
                let high = self.refresh_watermarks(consumer, now);
                let topic = &self.params.topic;
                let suspects = went_back(&data_committed, &high);
                if let Some(went) =
                    self.confirm_went_back(topic, suspects, &previous.0, &mut probed)
                {
                    parts = Err(went_back_error(topic, went));
                }
            }
            if let (Ok(_), Some(t)) = (&parts, &self.params.transactions) {
                let high = transaction_committed
                    .keys()
                    .filter_map(|p| {
                        let (_, high) = consumer
                            .fetch_watermarks(&t.topic, *p, Duration::from_secs(2))
                            .ok()?;
                        Some((*p, high))
                    })
                    .collect();
                let suspects = went_back(&transaction_committed, &high);
                if let Some(went) =
                    self.confirm_went_back(&t.topic, suspects, &previous.1, &mut probed)
                {
                    parts = Err(went_back_error(&t.topic, went));
                }
            }
            previous = (data_committed, transaction_committed);
            watch.publish(parts);
        }
    }

    /// The reader's loop: reads batches and delivers them until cancelled
    /// (`Ok`) or a broker problem (`Err`).
    fn read_batches(
        &self,
        consumer: &ReaderConsumer,
        next: &mut BTreeMap<i32, i64>,
        committed: &mut TransactionResume,
        positions: &mut Positions,
        watch: &MetadataWatch,
    ) -> Result<(), String> {
        let (params, control) = (self.params, self.control);
        control.set_status(self.reader, "running", None);
        // Records read in this attempt and not committed yet; a new
        // attempt starts from the committed offsets, so it starts with no
        // records, and with the `END`s committed as pending.
        // A failed source is never read again: its transactions need not
        // be kept together (see "Offsets that are gone" above).
        let failed = control.status.lock().is_ok_and(|s| !s.definite.is_empty());
        let grouping = match failed {
            true => Grouping::None,
            false => params.grouping,
        };
        let mut buffer = TransactionBuffer::resume(
            grouping,
            committed.pending.iter().map(|(t, n)| (t.clone(), *n)),
        );
        // What this attempt last published of the buffer (nothing yet).
        let mut published: Option<HeldStats> = None;
        let pending_ends = buffer.pending_ends() as u64;
        self.publish_held(
            &mut published,
            HeldStats {
                pending_ends,
                ..Default::default()
            },
        );
        loop {
            if control.cancelled.load(Ordering::SeqCst) {
                return Ok(());
            }
            // The partitions the watch thread found, if they changed.
            if let Some(now) = watch.take() {
                let now = now?;
                if now != positions.parts {
                    positions.parts = now;
                    match self.commit_lost(consumer, next, committed, positions)? {
                        None => return Ok(()),
                        // Records read of a partition whose offset moved
                        // may be held: the attempt starts again from what
                        // is committed.
                        Some(true) => {
                            return Err("a partition's offset was lost: reading again from the \
                                 committed offsets"
                                .into());
                        }
                        Some(false) => {}
                    }
                    self.find_waiting(consumer, next, positions)?;
                    self.assign(consumer, next, committed, positions)?;
                }
            }
            // Partitions whose records have reached their START OFFSET.
            if !positions.waiting.is_empty() && self.take_started(positions) {
                self.assign(consumer, next, committed, positions)?;
            }
            let mut started: Option<Instant> = None;
            // When the batch last started taking what librdkafka holds.
            let mut draining: Option<Instant> = None;
            let mut polled = 0;
            let mut batch_bytes = 0u64;
            while polled < MAX_BATCH_RECORDS && batch_bytes < MAX_BATCH_BYTES {
                // Once a batch has a record, it takes only what librdkafka
                // already holds: waiting for more would add its wait to
                // every record's latency. Under load, records pile up while
                // the previous batch commits, so batches grow by themselves.
                // (The clock is read every 64 records: reading it per
                // record was 3 % of the reader's time.)
                let timeout = match draining {
                    None => Duration::from_millis(100),
                    Some(s) if polled % 64 == 0 && s.elapsed() >= MAX_BATCH_WAIT => break,
                    Some(_) => Duration::ZERO,
                };
                let Some(message) = consumer.poll(timeout) else {
                    // While the dataflows are busy with earlier writes, the
                    // batch waits for them and then takes what arrived.
                    if let Some(s) = started
                        && self.hold(s)
                    {
                        draining = Some(Instant::now());
                        continue;
                    }
                    // Held records may be due for release.
                    if started.is_some() || buffer.held() > 0 {
                        break;
                    }
                    if control.cancelled.load(Ordering::SeqCst)
                        || watch.has_news()
                        || self.advance_past_markers(consumer, next, committed, positions)
                    {
                        break;
                    }
                    continue;
                };
                let message = match message {
                    Ok(m) => m,
                    Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset) => {
                        // The offset to fetch is not on the brokers: the
                        // next attempt finds which partition's records
                        // are gone (or retries, if none is).
                        return Err(format!("Kafka: {e}"));
                    }
                    Err(e) => {
                        // librdkafka retries broker connections itself;
                        // report the problem and keep polling.
                        consumer.context().note(&e);
                        let problem = consumer
                            .context()
                            .authentication_failure(&params.options)
                            .unwrap_or_else(|| {
                                format!("Kafka: {e}{}", consumer.context().reason())
                            });
                        control.set_status(self.reader, "stalled", Some(problem));
                        if started.is_some() {
                            break;
                        }
                        continue;
                    }
                };
                let batch_start = *started.get_or_insert_with(Instant::now);
                draining.get_or_insert(batch_start);
                if let Some(t) = &params.transactions
                    && message.topic() == t.topic
                {
                    positions
                        .transaction_read
                        .insert(message.partition(), message.offset() + 1);
                    // An END that cannot be decoded yet ends this attempt,
                    // as a data record does.
                    let end = match message.payload() {
                        Some(b) => t
                            .decoder
                            .transaction_end(b, &t.collection)
                            .map_err(|Stall(e)| e)?,
                        None => None,
                    };
                    if let Some((id, count)) = end {
                        buffer.end(id, count);
                    }
                    continue;
                }
                // A record before the partition's position was read
                // already (a broker can send records again, as tansu does
                // when asked for a deleted offset): skipped, so that
                // nothing counts twice.
                let at = positions.read.get(&message.partition());
                if at
                    .or(next.get(&message.partition()))
                    .is_some_and(|at| message.offset() < *at)
                {
                    continue;
                }
                polled += 1;
                let headers = match params.decoder.reads_headers() {
                    true => message.headers().map(message_headers).unwrap_or_default(),
                    false => Vec::new(),
                };
                let record = KafkaRecord {
                    key: message.key(),
                    value: message.payload(),
                    partition: message.partition(),
                    offset: message.offset(),
                    timestamp: message.timestamp().to_millis(),
                    headers: &headers,
                };
                // A record that cannot be decoded yet (the schema registry
                // does not answer) ends this attempt: what was read is
                // dropped uncommitted and read again after the backoff.
                // The first record read from a partition without a
                // committed offset is its header, for `CSV WITH HEADER`.
                let first_read = !next.contains_key(&record.partition)
                    && !positions.read.contains_key(&record.partition);
                let (change, transaction) = params
                    .decoder
                    .decode_in_partition(&record, first_read)
                    .map_err(|Stall(e)| e)?;
                let bytes = (record.key.map_or(0, |k| k.len())
                    + record.value.map_or(0, |v| v.len())) as u64;
                batch_bytes += bytes;
                let held = HeldRecord {
                    decode_error: change_has_error(&change),
                    change,
                    transaction,
                    offset: record.offset,
                    bytes,
                };
                // Arrival times only group Debezium runs; elsewhere the
                // batch's start serves and saves a clock read per record.
                let arrival = match params.grouping {
                    Grouping::Runs { .. } => Instant::now(),
                    _ => batch_start,
                };
                buffer.push(record.partition, held, arrival);
                positions.read.insert(record.partition, record.offset + 1);
            }
            self.advance_past_markers(consumer, next, committed, positions);
            let mut batch = IngestBatch {
                source: params.id,
                ..Default::default()
            };
            let mut stats: BTreeMap<i32, PartitionStats> = BTreeMap::new();
            let now = Instant::now();
            let mut released = buffer.release(now);
            // Held transactions that lost their END (only something read
            // can show one): the source fails and releases what it held.
            let lost_ends = match started {
                Some(_) => self.lost_ends(&mut buffer, &positions.transaction_parts),
                None => Vec::new(),
            };
            if !lost_ends.is_empty() {
                released.extend(buffer.release(now));
            }
            for message in &lost_ends {
                batch.changes.push(SourceChange::Append(
                    Err(EvalError::Source(message.clone())),
                    1,
                ));
            }
            for (p, r) in released {
                let s = stats.entry(p).or_default();
                s.records += 1;
                s.bytes += r.bytes;
                s.decode_errors += u64::from(r.decode_error);
                batch.changes.push(r.change);
            }
            // A partition's offset advances to its first held record, so
            // that what is held is read again after a crash.
            let offsets: BTreeMap<i32, i64> = positions
                .read
                .iter()
                .map(|(p, o)| (*p, buffer.first_held(*p).unwrap_or(*o)))
                .filter(|(p, o)| next.get(p) != Some(o))
                .collect();
            // The transaction topic's offsets (`TRANSACTION METADATA`)
            // commit with the pending `END`s read up to them.
            let transaction_offsets: Vec<(i32, i64)> = positions
                .transaction_read
                .iter()
                .filter(|(p, o)| committed.offsets.get(p) != Some(o))
                .map(|(p, o)| (*p, *o))
                .collect();
            batch.transactions = buffer.durable_changes(transaction_offsets);
            let held = HeldStats {
                records: buffer.held() as u64,
                bytes: buffer.held_bytes(),
                pending_ends: buffer.pending_ends() as u64,
            };
            if offsets.is_empty() && batch.changes.is_empty() && batch.transactions.is_empty() {
                self.publish_held(&mut published, held);
                continue;
            }
            batch.offsets = offsets.iter().map(|(p, o)| (*p, *o)).collect();
            let progress = batch.transactions.clone();
            if !(self.deliver)(self.reader, batch)? {
                return Ok(());
            }
            next.extend(offsets.iter().map(|(p, o)| (*p, *o)));
            committed.apply(progress);
            watch.note_committed(next, &committed.offsets);
            self.record_delivery(stats, &offsets);
            self.publish_held(&mut published, held);
            if !lost_ends.is_empty()
                && let Ok(mut status) = control.status.lock()
            {
                status.definite.extend(lost_ends);
            }
        }
    }

    /// Whether a batch started at `started`, with nothing more waiting in
    /// librdkafka, should keep collecting instead of being delivered now:
    /// while the dataflows are still busy with writes before the newest
    /// (this source's previous batches, or anything else), a new write
    /// would only queue behind two or more others, each with its own
    /// durable commit and its own timestamp, and the dataflows' costs per
    /// timestamp would keep them behind. So the batch waits until they are
    /// ready (up to [`MAX_LAG_WAIT`] from its start) and then takes what
    /// has arrived meanwhile: one commit and one timestamp for all of it.
    /// One write in progress does not hold a batch back, so its commit
    /// overlaps that write's processing; when the dataflows keep up,
    /// nothing waits.
    fn hold(&self, started: Instant) -> bool {
        if (self.params.ready)(Duration::ZERO) {
            return false;
        }
        let left = MAX_LAG_WAIT.saturating_sub(started.elapsed());
        if left.is_zero() {
            return false;
        }
        (self.params.ready)(left);
        true
    }

    /// Updates the reader's status and its partitions' statistics after a
    /// delivered batch.
    fn record_delivery(&self, stats: BTreeMap<i32, PartitionStats>, offsets: &BTreeMap<i32, i64>) {
        let Ok(mut status) = self.control.status.lock() else {
            return;
        };
        if let Some(r) = status.readers.get_mut(self.reader)
            && r.status != "running"
        {
            r.status = "running";
            r.error = None;
        }
        for (p, s) in stats {
            let e = status.partitions.entry(p).or_default();
            e.reader = self.reader;
            e.records += s.records;
            e.bytes += s.bytes;
            e.decode_errors += s.decode_errors;
        }
        for (p, o) in offsets {
            let e = status.partitions.entry(*p).or_default();
            e.next_offset = *o;
            if e.high_watermark.is_some_and(|h| h < *o) {
                e.high_watermark = Some(*o);
            }
        }
    }

    /// Publishes what the reader's [`TransactionBuffer`] holds, if it
    /// changed since `published`.
    fn publish_held(&self, published: &mut Option<HeldStats>, now: HeldStats) {
        if *published == Some(now) {
            return;
        }
        if let Ok(mut status) = self.control.status.lock() {
            if status.held.len() <= self.reader {
                status.held.resize(self.reader + 1, HeldStats::default());
            }
            status.held[self.reader] = now;
            *published = Some(now);
        }
    }

    /// Fetches the high watermarks of the reader's partitions, shows them
    /// and returns them (those the brokers answered).
    fn refresh_watermarks(&self, consumer: &ReaderConsumer, parts: &[i32]) -> BTreeMap<i32, i64> {
        let mut marks = BTreeMap::new();
        for p in parts {
            if let Ok((_, high)) =
                consumer.fetch_watermarks(&self.params.topic, *p, Duration::from_secs(2))
            {
                marks.insert(*p, high);
            }
        }
        if let Ok(mut status) = self.control.status.lock() {
            for (&p, &high) in &marks {
                let e = status.partitions.entry(p).or_default();
                e.reader = self.reader;
                e.high_watermark = Some(high);
                if e.next_offset == 0 {
                    e.next_offset = self.params.resume.get(&p).copied().unwrap_or(0);
                }
            }
        }
        marks
    }
}

fn change_has_error(change: &SourceChange) -> bool {
    match change {
        SourceChange::Append(v, _) => v.is_err(),
        SourceChange::Many(v) => v.iter().any(|(v, _)| v.is_err()),
        SourceChange::Upsert { value, .. } => matches!(value, Some(Err(_))),
        SourceChange::Nothing => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_watch_hands_over_the_latest_news_once() {
        let watch = MetadataWatch::default();
        assert!(!watch.has_news());
        assert_eq!(watch.take(), None);
        watch.publish(Ok(vec![0, 2]));
        // A newer refresh replaces one not yet taken.
        watch.publish(Ok(vec![0, 2, 4]));
        assert!(watch.has_news());
        assert_eq!(watch.take(), Some(Ok(vec![0, 2, 4])));
        assert!(!watch.has_news());
        assert_eq!(watch.take(), None);
        watch.publish(Err("topic \"t\" does not exist".into()));
        assert_eq!(watch.take(), Some(Err("topic \"t\" does not exist".into())));
    }

    #[test]
    fn a_stopped_metadata_watch_ends_its_thread_at_once() {
        let watch = MetadataWatch::default();
        let started = Instant::now();
        std::thread::scope(|scope| {
            let sleeper = scope.spawn(|| {
                let mut rounds = 0;
                while watch.sleep(Duration::from_secs(60)) {
                    rounds += 1;
                }
                rounds
            });
            std::thread::sleep(Duration::from_millis(20));
            drop(StopOnDrop(&watch));
            assert_eq!(sleeper.join().unwrap(), 0, "stopped before a round");
        });
        assert!(started.elapsed() < Duration::from_secs(30));
        // Stopped stays stopped.
        assert!(!watch.sleep(Duration::from_secs(60)));
    }

    /// A partition whose records have the timestamps `times` (offset =
    /// index): the first offset at or after `ts`, as a broker answers.
    fn lookup(times: &[i64]) -> impl Fn(i64) -> Result<Option<i64>, String> + '_ {
        |ts| Ok(times.iter().position(|t| *t >= ts).map(|o| o as i64))
    }

    #[test]
    fn start_timestamp_resolves_to_the_first_record_at_or_after_it() {
        let times = [1_000, 2_000, 2_000, 3_000];
        let start = |ts| resolve_start_offset(&[], Some(ts), 0, 10_000, lookup(&times));
        assert_eq!(start(0), Ok(Offset::Offset(0)));
        assert_eq!(start(1_500), Ok(Offset::Offset(1)));
        assert_eq!(start(2_000), Ok(Offset::Offset(1)));
        assert_eq!(start(3_000), Ok(Offset::Offset(3)));
        // No record that late: the partition's end.
        assert_eq!(start(3_001), Ok(Offset::End));
        // Negative: relative to now (10 000 ms): -8 500 ms is 1 500.
        assert_eq!(start(-8_500), Ok(Offset::Offset(1)));
        assert_eq!(start(-7_000), Ok(Offset::Offset(3)));
        assert_eq!(start(-1), Ok(Offset::End));
    }

    #[test]
    fn start_offset_wins_and_the_default_is_the_beginning() {
        let asked = std::cell::Cell::new(false);
        let never = |_| {
            asked.set(true);
            Ok(Some(99))
        };
        // START OFFSET covers partitions 0 and 1; 2 falls back to the
        // timestamp.
        assert_eq!(
            resolve_start_offset(&[5, 6], Some(1), 1, 0, never),
            Ok(Offset::Offset(6))
        );
        assert!(!asked.get(), "START OFFSET needs no lookup");
        assert_eq!(
            resolve_start_offset(&[5, 6], Some(1), 2, 0, |ts| Ok(Some(ts + 40))),
            Ok(Offset::Offset(41))
        );
        assert_eq!(
            resolve_start_offset(&[], None, 0, 0, never),
            Ok(Offset::Beginning)
        );
        assert!(!asked.get());
        // A failed lookup is the attempt's error (retried with backoff).
        assert_eq!(
            resolve_start_offset(&[], Some(1), 0, 0, |_| Err("timed out".into())),
            Err("timed out".to_string())
        );
    }
}
