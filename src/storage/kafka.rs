//! Reading Kafka topics: the librdkafka client configuration of a
//! connection, connection validation, and the ingestion thread of a source.
//!
//! A source's thread assigns itself every partition of its topic (checking
//! for new ones every few seconds), starting each at the offset the durable
//! store recorded (else `START OFFSET`, `START TIMESTAMP`, or the
//! beginning). It reads records in batches, decodes them, and hands each
//! batch, with the offsets after it, to a callback that commits both in one
//! durable transaction before the data becomes visible: a restart resumes
//! exactly after the last committed record.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::decode::{KafkaRecord, SourceDecoder, Stall};
use super::durable::{IngestBatch, SourceChange};
use crate::expr::GlobalId;

/// The most records in one batch.
const MAX_BATCH_RECORDS: usize = 100_000;
/// The longest a batch collects records once it has one.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(5);
/// How often partitions and high watermarks are refreshed.
const METADATA_INTERVAL: Duration = Duration::from_secs(2);

/// Builds a librdkafka client configuration from resolved connection
/// options (`BROKER` → `bootstrap.servers`, ...).
pub fn client_config(options: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (k, v) in options {
        config.set(k, v);
    }
    // Quieter and bounded retries for a missing broker.
    config.set("socket.timeout.ms", "10000");
    config.set("log_level", "3");
    config
}

/// Checks that the brokers answer: fetches cluster metadata.
pub fn validate(options: &BTreeMap<String, String>, timeout: Duration) -> Result<(), String> {
    let consumer: BaseConsumer = client_config(options)
        .create()
        .map_err(|e| format!("invalid Kafka configuration: {e}"))?;
    consumer
        .fetch_metadata(None, timeout)
        .map(|_| ())
        .map_err(|e| format!("cannot reach the Kafka brokers: {e}"))
}

/// Per-partition statistics of a source.
#[derive(Debug, Clone, Default)]
pub struct PartitionStats {
    /// The next offset to read.
    pub next_offset: i64,
    /// The high watermark (the offset after the last record), when known.
    pub high_watermark: Option<i64>,
    /// Records ingested since the server started.
    pub records: u64,
    /// Bytes of keys and values ingested since the server started.
    pub bytes: u64,
    /// Records that failed to decode since the server started.
    pub decode_errors: u64,
}

/// A source's status, shared between its thread and the coordinator.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// `starting`, `running`, `stalled` or `dropped`.
    pub status: &'static str,
    /// The last error (a broker problem), if the source is stalled.
    pub error: Option<String>,
    /// Statistics per partition.
    pub partitions: BTreeMap<i32, PartitionStats>,
    /// The Freshet timestamp of the source's last ingested batch (0 before
    /// the first). Sources never hold reads back (all inputs advance
    /// together); how far behind a source is shows as its offset lag.
    pub last_ingest_ts: u64,
    /// Keys in the upsert state (upsert and Debezium sources).
    pub upsert_keys: i64,
    /// Bytes of the upsert state's keys and values, as stored.
    pub upsert_bytes: i64,
}

/// Controls a running source thread.
#[derive(Debug, Default)]
pub struct IngestControl {
    /// Set to stop the thread.
    pub cancelled: AtomicBool,
    /// Held while a batch is committed: whoever drops the source takes it
    /// after setting `cancelled`, so no batch commits after the drop.
    pub commit_lock: Mutex<()>,
    /// The status.
    pub status: Mutex<SourceStatus>,
}

impl IngestControl {
    fn set_status(&self, status: &'static str, error: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            if let Some(e) = &error {
                tracing::warn!("Kafka source: {e}");
            }
            s.status = status;
            s.error = error;
        }
    }
}

/// What a source thread needs.
pub struct IngestParams {
    /// The source.
    pub id: GlobalId,
    /// Resolved librdkafka options of its connection.
    pub options: BTreeMap<String, String>,
    /// The topic.
    pub topic: String,
    /// `START OFFSET` per partition.
    pub start_offsets: Vec<i64>,
    /// `START TIMESTAMP` (ms; negative: relative to now).
    pub start_timestamp: Option<i64>,
    /// Offsets recorded in the durable store.
    pub resume: BTreeMap<i32, i64>,
    /// The decoder.
    pub decoder: SourceDecoder,
}

/// Commits a batch and makes it visible: `Ok(false)` when the source is
/// gone, `Err` when the commit failed (the thread then re-reads from the
/// last committed offsets).
pub type DeliverResult = Result<bool, String>;

/// Starts a source's thread; `deliver` is called with each batch.
pub fn spawn(
    params: IngestParams,
    control: Arc<IngestControl>,
    deliver: impl FnMut(IngestBatch) -> DeliverResult + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("kafka-source-{}", params.id))
        .spawn(move || run(params, control, deliver))
        .expect("spawning a source thread")
}

fn run(
    params: IngestParams,
    control: Arc<IngestControl>,
    mut deliver: impl FnMut(IngestBatch) -> DeliverResult,
) {
    control.set_status("starting", None);
    let mut backoff = Duration::from_millis(100);
    // Offsets to resume from: what the store recorded, updated as batches
    // commit; partitions without one start per the source's options.
    let mut next: BTreeMap<i32, i64> = params.resume.clone();
    while !control.cancelled.load(Ordering::SeqCst) {
        let before = next.clone();
        match ingest(&params, &control, &mut next, &mut deliver) {
            Ok(()) => return,
            Err(e) => {
                // A connection that delivered data before failing starts
                // the backoff over.
                if next != before {
                    backoff = Duration::from_millis(100);
                }
                control.set_status("stalled", Some(e));
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

/// Where a partition without a recorded offset starts.
fn start_offset(
    consumer: &BaseConsumer,
    params: &IngestParams,
    partition: i32,
) -> Result<Offset, String> {
    if let Some(o) = params.start_offsets.get(partition as usize) {
        return Ok(Offset::Offset(*o));
    }
    if let Some(ts) = params.start_timestamp {
        let ts = if ts < 0 {
            chrono::Utc::now().timestamp_millis() + ts
        } else {
            ts
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&params.topic, partition, Offset::Offset(ts))
            .map_err(|e| e.to_string())?;
        let found = consumer
            .offsets_for_times(tpl, Duration::from_secs(10))
            .map_err(|e| format!("looking up START TIMESTAMP: {e}"))?;
        if let Some(elem) = found.find_partition(&params.topic, partition) {
            return Ok(match elem.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::End,
            });
        }
        return Ok(Offset::End);
    }
    Ok(Offset::Beginning)
}

/// The partitions of the topic.
fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
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

/// Assigns every known partition at its next offset.
fn assign(
    consumer: &BaseConsumer,
    params: &IngestParams,
    next: &BTreeMap<i32, i64>,
    parts: &[i32],
) -> Result<(), String> {
    let mut tpl = TopicPartitionList::new();
    for p in parts {
        let offset = match next.get(p) {
            Some(o) => Offset::Offset(*o),
            None => start_offset(consumer, params, *p)?,
        };
        tpl.add_partition_offset(&params.topic, *p, offset)
            .map_err(|e| e.to_string())?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assigning partitions: {e}"))
}

/// Reads until cancelled (`Ok`) or a broker problem (`Err`, retried).
fn ingest(
    params: &IngestParams,
    control: &IngestControl,
    next: &mut BTreeMap<i32, i64>,
    deliver: &mut impl FnMut(IngestBatch) -> DeliverResult,
) -> Result<(), String> {
    let mut config = client_config(&params.options);
    config
        .set("group.id", format!("freshet-source-{}", params.id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| format!("creating the Kafka consumer: {e}"))?;
    let mut parts = partitions(&consumer, &params.topic)?;
    assign(&consumer, params, next, &parts)?;
    refresh_watermarks(&consumer, params, control, &parts);
    control.set_status("running", None);
    let mut last_metadata = Instant::now();
    loop {
        if control.cancelled.load(Ordering::SeqCst) {
            return Ok(());
        }
        if last_metadata.elapsed() >= METADATA_INTERVAL {
            last_metadata = Instant::now();
            let now = partitions(&consumer, &params.topic)?;
            if now != parts {
                parts = now;
                assign(&consumer, params, next, &parts)?;
            }
            refresh_watermarks(&consumer, params, control, &parts);
        }
        let mut batch = IngestBatch {
            source: params.id,
            ..Default::default()
        };
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        let mut stats: BTreeMap<i32, PartitionStats> = BTreeMap::new();
        let mut started: Option<Instant> = None;
        while batch.changes.len() < MAX_BATCH_RECORDS {
            let timeout = match started {
                None => Duration::from_millis(100),
                Some(s) => match MAX_BATCH_WAIT.checked_sub(s.elapsed()) {
                    Some(left) => left,
                    None => break,
                },
            };
            let Some(message) = consumer.poll(timeout) else {
                if started.is_some() {
                    break;
                }
                if control.cancelled.load(Ordering::SeqCst)
                    || last_metadata.elapsed() >= METADATA_INTERVAL
                {
                    break;
                }
                continue;
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    // librdkafka retries broker connections itself; report
                    // the problem and keep polling.
                    control.set_status("stalled", Some(format!("Kafka: {e}")));
                    if started.is_some() {
                        break;
                    }
                    continue;
                }
            };
            started.get_or_insert_with(Instant::now);
            let record = KafkaRecord {
                key: message.key(),
                value: message.payload(),
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp().to_millis(),
            };
            // A record that cannot be decoded yet (the schema registry
            // does not answer) ends this attempt: the batch so far is
            // dropped uncommitted and read again after the backoff.
            let change = params.decoder.decode(&record).map_err(|Stall(e)| e)?;
            let s = stats.entry(record.partition).or_default();
            s.records += 1;
            s.bytes +=
                (record.key.map_or(0, |k| k.len()) + record.value.map_or(0, |v| v.len())) as u64;
            if change_has_error(&change) {
                s.decode_errors += 1;
            }
            batch.changes.push(change);
            offsets.insert(record.partition, record.offset + 1);
        }
        if offsets.is_empty() {
            continue;
        }
        batch.offsets = offsets.iter().map(|(p, o)| (*p, *o)).collect();
        if !deliver(batch)? {
            return Ok(());
        }
        next.extend(offsets.iter().map(|(p, o)| (*p, *o)));
        if let Ok(mut status) = control.status.lock() {
            if status.status != "running" {
                status.status = "running";
                status.error = None;
            }
            for (p, s) in stats {
                let e = status.partitions.entry(p).or_default();
                e.records += s.records;
                e.bytes += s.bytes;
                e.decode_errors += s.decode_errors;
            }
            for (p, o) in &offsets {
                let e = status.partitions.entry(*p).or_default();
                e.next_offset = *o;
                if e.high_watermark.is_some_and(|h| h < *o) {
                    e.high_watermark = Some(*o);
                }
            }
        }
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

fn refresh_watermarks(
    consumer: &BaseConsumer,
    params: &IngestParams,
    control: &IngestControl,
    parts: &[i32],
) {
    let mut marks = Vec::new();
    for p in parts {
        if let Ok((_, high)) = consumer.fetch_watermarks(&params.topic, *p, Duration::from_secs(2))
        {
            marks.push((*p, high));
        }
    }
    if let Ok(mut status) = control.status.lock() {
        for (p, high) in marks {
            let e = status.partitions.entry(p).or_default();
            e.high_watermark = Some(high);
            if e.next_offset == 0 {
                e.next_offset = params.resume.get(&p).copied().unwrap_or(0);
            }
        }
    }
}
