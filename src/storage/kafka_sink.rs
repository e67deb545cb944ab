//! The thread of a Kafka sink: writes each timestamp's changes to the topic
//! exactly once, across broker failures and restarts.
//!
//! The protocol (`docs/design/kafka-sink.md` has the argument): every write
//! is one Kafka transaction holding a batch of whole timestamps' messages
//! and a progress record (`freshet-sink-<id>` in the connection's progress
//! topic) naming the last timestamp written. A session (the thread's unit of
//! retry) starts with `init_transactions`, which fences any earlier producer
//! of the sink and aborts its open transaction, reads the progress record,
//! reads the topic back (`read_committed`) from where the sink started
//! writing, and writes, in one transaction, exactly the messages that take
//! the topic from what it holds to the sink's current contents. Freshet
//! keeps no history across restarts, so this read-back-and-diff, not a
//! replay from the last timestamp, is what resumes a sink.
//!
//! Brokers without transactions (found by committing a probe transaction)
//! get an idempotent producer and the same read-back-and-diff at every
//! session start: a crash can leave part of one batch in the topic, and the
//! next session writes what is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::kafka::client_config;
use super::sink::{
    Envelope, RowEncoder, SinkEncoding, SinkMessage, SinkState, TopicReader, partition_for,
};
use crate::expr::GlobalId;
use crate::repr::{Diff, Row, Timestamp};

/// The header every message carries: the timestamp of its change.
pub const TIMESTAMP_HEADER: &str = "freshet-timestamp";
/// The most changes one transaction collects before it is written.
const MAX_BATCH_CHANGES: usize = 50_000;
/// How long a commit, a flush or `init_transactions` may take.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a write may wait for its messages' deliveries before the sink
/// shows itself stalled, when the brokers reported an error since the last
/// delivery (a healthy but slow flush is not a stall).
const STALL_AFTER: Duration = Duration::from_secs(1);
/// How long reading a topic back may take.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the check of the brokers that starts `CREATE SINK` and every
/// session may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that the brokers answer and accept the connection's credentials,
/// before anything else asks them: the error names the cause (a refused
/// connection, a failed TLS handshake, or the SASL user and mechanism the
/// brokers refused, at once), which the sink's status then shows, where the
/// first request's own error only said "broker transport failure" after its
/// timeout.
fn reach_brokers(options: &BTreeMap<String, String>) -> Result<(), String> {
    super::kafka::validate(options, CONNECT_TIMEOUT)
}

/// The transactional id of sink `id`: stable, so a restarted sink fences its
/// predecessor.
pub fn transactional_id(id: GlobalId) -> String {
    format!("freshet-sink-{id}")
}

/// The key of sink `id`'s records in the progress topic.
pub fn progress_key(id: GlobalId) -> String {
    format!("freshet-sink-{id}")
}

/// A sink's progress record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The last timestamp written; `None` before the first.
    pub timestamp: Option<Timestamp>,
    /// Per partition, the offset where the sink's messages start: the
    /// topic's end when the sink first wrote. Read-back starts here, so
    /// older messages (a topic that existed before) are not the sink's.
    pub start_offsets: BTreeMap<i32, i64>,
}

/// What the coordinator feeds a sink: its input's changes, one timestamp at
/// a time, in order, starting with the snapshot.
#[derive(Debug)]
pub enum SinkInput {
    /// The changes at `ts` (maybe none).
    Updates {
        /// The timestamp.
        ts: Timestamp,
        /// The changes.
        changes: Vec<(Row, Diff)>,
    },
    /// The input failed (an error in the view): the sink stops.
    Failed(String),
}

/// A sink's status, shared between its thread and the coordinator.
#[derive(Debug, Clone, Default)]
pub struct SinkStatus {
    /// `starting`, `running`, `stalled`, `failed` or `dropped`.
    pub status: &'static str,
    /// The last error, while stalled or failed.
    pub error: Option<String>,
    /// Whether the broker supports transactions, once known.
    pub transactional: Option<bool>,
    /// The last timestamp written.
    pub timestamp: Option<Timestamp>,
    /// Messages written since the server started.
    pub messages: u64,
}

/// Controls a running sink thread.
#[derive(Debug, Default)]
pub struct SinkControl {
    /// Set to stop the thread.
    pub cancelled: AtomicBool,
    /// The status.
    pub status: Mutex<SinkStatus>,
}

impl SinkControl {
    fn set_status(&self, status: &'static str, error: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            if let Some(e) = &error {
                tracing::warn!("Kafka sink: {e}");
            }
            s.status = status;
            s.error = error;
        }
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// What a sink thread needs.
pub struct SinkParams {
    /// The sink.
    pub id: GlobalId,
    /// Resolved librdkafka options of its connection.
    pub options: BTreeMap<String, String>,
    /// The topic.
    pub topic: String,
    /// Partitions of the topic, if the sink creates it (else the broker's
    /// default).
    pub partition_count: Option<i32>,
    /// Replication factor of the topic, if the sink creates it.
    pub replication_factor: Option<i32>,
    /// The connection's progress topic.
    pub progress_topic: String,
    /// How rows are encoded.
    pub encoding: SinkEncoding,
    /// The envelope.
    pub envelope: Envelope,
    /// Whether the broker supports transactions, if already known (checked
    /// at `CREATE SINK`).
    pub transactional: Option<bool>,
}

/// Starts a sink's thread, which reads `input` until cancelled.
pub fn spawn(
    params: SinkParams,
    control: Arc<SinkControl>,
    input: Receiver<SinkInput>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("kafka-sink-{}", params.id))
        .spawn(move || run(params, control, input))
        .expect("spawning a sink thread")
}

/// The sink's contents and how far its input has been applied: kept across
/// sessions.
struct Core {
    encoder: RowEncoder,
    state: SinkState,
    /// The last timestamp applied to `state`.
    applied: Option<Timestamp>,
    transactional: Option<bool>,
}

/// How a session ended without an error.
enum End {
    Cancelled,
    /// The input failed (an error in the view) or a change could not be
    /// encoded: the sink stops, as it cannot skip a change.
    InputFailed(String),
}

fn run(params: SinkParams, control: Arc<SinkControl>, input: Receiver<SinkInput>) {
    control.set_status("starting", None);
    let mut core: Option<Core> = None;
    let mut backoff = Duration::from_millis(100);
    while !control.cancelled() {
        // The encoder first (for Avro, the schemas are registered): a
        // registry that cannot be reached stalls the sink like a broker.
        let result = match core.as_mut() {
            Some(core) => session(&params, &control, core, &input),
            None => params.encoding.encoder(&params.topic).and_then(|encoder| {
                let core = core.insert(Core {
                    state: SinkState::new(params.envelope, encoder.keyed(), encoder.codec()),
                    encoder,
                    applied: None,
                    transactional: params.transactional,
                });
                session(&params, &control, core, &input)
            }),
        };
        match result {
            Ok(End::Cancelled) => return,
            Ok(End::InputFailed(e)) => {
                control.set_status("failed", Some(e));
                return;
            }
            Err(e) => {
                control.set_status("stalled", Some(e));
                let deadline = Instant::now() + backoff;
                while Instant::now() < deadline {
                    if control.cancelled() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Counts failed deliveries (what an idempotent producer reports instead
/// of a failed commit), and keeps what tells a stalled write from a slow
/// one: the brokers' last error and the last successful delivery.
#[derive(Default)]
struct SinkContext {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The last client error (a refused connection, all brokers down) and
    /// when it came.
    client_error: Mutex<Option<(Instant, String)>>,
    /// When a message was last delivered.
    delivered: Mutex<Option<Instant>>,
}

impl SinkContext {
    /// The brokers' last error, if it came after the last delivery: the
    /// producer cannot deliver now.
    fn undelivered_because(&self) -> Option<String> {
        let error = self.client_error.lock().ok()?.clone()?;
        let delivered = self.delivered.lock().ok().and_then(|d| *d);
        match delivered {
            Some(d) if d >= error.0 => None,
            _ => Some(error.1),
        }
    }
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let reason = if reason.is_empty() {
            error.to_string()
        } else {
            reason.to_string()
        };
        tracing::debug!("Kafka sink producer: {reason}");
        if let Ok(mut e) = self.client_error.lock() {
            *e = Some((Instant::now(), reason));
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
            Ok(_) => {
                if let Ok(mut d) = self.delivered.lock() {
                    *d = Some(Instant::now());
                }
            }
        }
    }
}

type SinkProducer = ThreadedProducer<SinkContext>;

fn producer(
    options: &BTreeMap<String, String>,
    transactional_id: Option<&str>,
) -> Result<SinkProducer, String> {
    let mut config = client_config(options);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    if let Some(id) = transactional_id {
        config
            .set("transactional.id", id)
            .set("transaction.timeout.ms", "60000");
    }
    config
        .create_with_context(SinkContext::default())
        .map_err(|e| format!("creating the Kafka producer: {e}"))
}

/// Whether `e` says the broker does not implement transactions (tansu
/// answers `init_transactions` but not `EndTxn`).
fn is_unsupported(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(t) => {
            t.code() == RDKafkaErrorCode::UnsupportedFeature
                || t.code() == RDKafkaErrorCode::UnsupportedVersion
                || t.to_string().contains("not supported by broker")
        }
        _ => false,
    }
}

/// Commits a transaction holding one record without a value (key
/// `freshet-probe`, a tombstone in the compacted progress topic): `Ok(true)`
/// if the broker supports transactions, `Ok(false)` if it does not. The
/// producer's transactions are initialized.
fn probe(producer: &SinkProducer, progress_topic: &str) -> Result<bool, String> {
    producer
        .begin_transaction()
        .map_err(|e| format!("beginning a Kafka transaction: {e}"))?;
    send(
        producer,
        BaseRecord::<[u8], [u8]>::to(progress_topic)
            .key(b"freshet-probe".as_slice())
            .partition(0),
    )?;
    match producer.commit_transaction(KAFKA_TIMEOUT) {
        Ok(()) => Ok(true),
        Err(e) if is_unsupported(&e) => Ok(false),
        Err(e) => Err(format!("committing a Kafka transaction: {e}")),
    }
}

/// Checks a new sink against its brokers: creates its topics if they are
/// missing and finds out whether the brokers support transactions.
pub fn check(
    options: &BTreeMap<String, String>,
    topic: &str,
    partition_count: Option<i32>,
    replication_factor: Option<i32>,
    progress_topic: &str,
) -> Result<bool, String> {
    reach_brokers(options)?;
    ensure_topics(
        options,
        topic,
        partition_count,
        replication_factor,
        progress_topic,
    )?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let id = format!("freshet-sink-probe-{}-{nonce}", std::process::id());
    let p = producer(options, Some(&id))?;
    p.init_transactions(KAFKA_TIMEOUT)
        .map_err(|e| format!("initializing Kafka transactions: {e}"))?;
    probe(&p, progress_topic)
}

fn send(producer: &SinkProducer, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), String> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(format!("producing to Kafka: {e}")),
        }
    }
}

/// The partitions of `topic`; `None` if it does not exist.
fn topic_partitions(consumer: &BaseConsumer, topic: &str) -> Result<Option<Vec<i32>>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("fetching metadata of topic \"{topic}\": {e}"))?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    if t.error().is_some() || t.partitions().is_empty() {
        return Ok(None);
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort();
    Ok(Some(ids))
}

/// Creates the sink's topic (with the given or the broker's default
/// partitions and replication) and the progress topic (one partition,
/// compacted, no retention limit, as Materialize does) where missing.
fn ensure_topics(
    options: &BTreeMap<String, String>,
    topic: &str,
    partition_count: Option<i32>,
    replication_factor: Option<i32>,
    progress_topic: &str,
) -> Result<(), String> {
    let consumer: BaseConsumer = client_config(options)
        .create()
        .map_err(|e| format!("invalid Kafka configuration: {e}"))?;
    let mut missing = Vec::new();
    let replication = TopicReplication::Fixed(replication_factor.unwrap_or(-1));
    if topic_partitions(&consumer, topic)?.is_none() {
        missing.push(NewTopic::new(
            topic,
            partition_count.unwrap_or(-1),
            replication,
        ));
    }
    if topic_partitions(&consumer, progress_topic)?.is_none() {
        missing.push(
            NewTopic::new(progress_topic, 1, TopicReplication::Fixed(-1))
                .set("cleanup.policy", "compact")
                .set("retention.ms", "-1")
                .set("retention.bytes", "-1"),
        );
    }
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = client_config(options)
        .create()
        .map_err(|e| format!("invalid Kafka configuration: {e}"))?;
    let results = futures::executor::block_on(
        admin.create_topics(
            &missing,
            &AdminOptions::new()
                .request_timeout(Some(Duration::from_secs(10)))
                .operation_timeout(Some(Duration::from_secs(10))),
        ),
    )
    .map_err(|e| format!("creating Kafka topics: {e}"))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(format!("creating topic \"{t}\": {e}")),
        }
    }
    Ok(())
}

/// Reads `topic` (committed messages only, if `committed`) from `start`
/// (per partition; the log start where absent) to its end as of the call,
/// calling `f` with each message. Returns the end offsets.
///
/// Without transactions every message counts: a broker that does not
/// implement them (tansu) still marks the probe's batch transactional, and
/// `read_committed` would wait for a commit marker that never comes.
fn read_to_end(
    options: &BTreeMap<String, String>,
    group: &str,
    topic: &str,
    start: &BTreeMap<i32, i64>,
    committed: bool,
    mut f: impl FnMut(&BorrowedMessage<'_>) -> Result<(), String>,
) -> Result<BTreeMap<i32, i64>, String> {
    let mut config = client_config(options);
    config
        .set("group.id", group)
        .set(
            "isolation.level",
            if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| format!("creating the Kafka consumer: {e}"))?;
    let Some(parts) = topic_partitions(&consumer, topic)? else {
        return Err(format!("topic \"{topic}\" does not exist"));
    };
    let mut ends = BTreeMap::new();
    let mut remaining = BTreeSet::new();
    let mut tpl = TopicPartitionList::new();
    for p in parts {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| format!("fetching offsets of topic \"{topic}\": {e}"))?;
        ends.insert(p, high);
        if high == 0 {
            continue;
        }
        let from = start.get(&p).copied().unwrap_or(low).max(low);
        tpl.add_partition_offset(topic, p, Offset::Offset(from))
            .map_err(|e| e.to_string())?;
        remaining.insert(p);
    }
    if remaining.is_empty() {
        return Ok(ends);
    }
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assigning partitions: {e}"))?;
    // The end is where librdkafka reports it (the last stable offset, under
    // `read_committed`), not the high watermark fetched above: some brokers
    // (tansu 0.6) report a watermark inside the last batch.
    let deadline = Instant::now() + READ_BACK_TIMEOUT;
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "reading topic \"{topic}\" back took longer than {READ_BACK_TIMEOUT:?}"
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                remaining.remove(&p);
            }
            Some(Err(e)) => return Err(format!("reading topic \"{topic}\" back: {e}")),
            Some(Ok(m)) => {
                f(&m)?;
                let e = ends.entry(m.partition()).or_default();
                *e = (*e).max(m.offset() + 1);
            }
        }
    }
    Ok(ends)
}

/// The end offset of every partition of `topic`.
fn end_offsets(
    options: &BTreeMap<String, String>,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, String> {
    let consumer: BaseConsumer = client_config(options)
        .create()
        .map_err(|e| format!("invalid Kafka configuration: {e}"))?;
    let parts = topic_partitions(&consumer, topic)?
        .ok_or_else(|| format!("topic \"{topic}\" does not exist"))?;
    let mut ends = BTreeMap::new();
    for p in parts {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(|e| format!("fetching offsets of topic \"{topic}\": {e}"))?;
        ends.insert(p, high);
    }
    Ok(ends)
}

/// The sink's last progress record, if it ever wrote one.
fn read_progress(params: &SinkParams, committed: bool) -> Result<Option<Progress>, String> {
    let key = progress_key(params.id);
    let mut last = None;
    read_to_end(
        &params.options,
        &transactional_id(params.id),
        &params.progress_topic,
        &BTreeMap::new(),
        committed,
        |m| {
            if m.key() == Some(key.as_bytes())
                && let Some(payload) = m.payload()
            {
                last = Some(
                    serde_json::from_slice::<Progress>(payload)
                        .map_err(|e| format!("an unreadable progress record for {key}: {e}"))?,
                );
            }
            Ok(())
        },
    )?;
    Ok(last)
}

/// One connection to the brokers, from `init_transactions` to the first
/// error.
fn session(
    params: &SinkParams,
    control: &SinkControl,
    core: &mut Core,
    input: &Receiver<SinkInput>,
) -> Result<End, String> {
    reach_brokers(&params.options)?;
    ensure_topics(
        &params.options,
        &params.topic,
        params.partition_count,
        params.replication_factor,
        &params.progress_topic,
    )?;
    // Fences earlier producers of this sink (and aborts their open
    // transaction) before anything is read back.
    let txn_id = transactional_id(params.id);
    let mut producer = match core.transactional {
        Some(false) => producer(&params.options, None)?,
        _ => {
            let p = producer(&params.options, Some(&txn_id))?;
            p.init_transactions(KAFKA_TIMEOUT)
                .map_err(|e| format!("initializing Kafka transactions: {e}"))?;
            p
        }
    };
    if core.transactional.is_none() {
        let supported = probe(&producer, &params.progress_topic)?;
        core.transactional = Some(supported);
        if supported {
            // The probe left the producer between transactions; a fresh
            // one keeps the state simple.
            producer = self::producer(&params.options, Some(&txn_id))?;
            producer
                .init_transactions(KAFKA_TIMEOUT)
                .map_err(|e| format!("initializing Kafka transactions: {e}"))?;
        } else {
            producer = self::producer(&params.options, None)?;
        }
    }
    let transactional = core.transactional == Some(true);
    if let Ok(mut s) = control.status.lock() {
        s.transactional = Some(transactional);
    }
    let progress = read_progress(params, transactional)?;
    // The sink's contents: wait for the snapshot.
    while core.applied.is_none() {
        match next_input(control, input)? {
            Some(SinkInput::Updates { ts, changes }) => {
                if let Err(e) = apply(core, ts, &changes) {
                    return Ok(End::InputFailed(e));
                }
            }
            Some(SinkInput::Failed(e)) => return Ok(End::InputFailed(e)),
            None => return Ok(End::Cancelled),
        }
    }
    let writer = Writer {
        params,
        control,
        producer: &producer,
        transactional,
        partitions: {
            let consumer: BaseConsumer = client_config(&params.options)
                .create()
                .map_err(|e| format!("invalid Kafka configuration: {e}"))?;
            topic_partitions(&consumer, &params.topic)?
                .ok_or_else(|| format!("topic \"{}\" does not exist", params.topic))?
                .len() as i32
        },
    };
    // A sink that never wrote records where its messages start, before
    // writing any (without transactions, messages could otherwise land
    // before a progress record says they are the sink's).
    let progress = match progress {
        Some(p) => p,
        None => {
            let begun = Progress {
                timestamp: None,
                start_offsets: end_offsets(&params.options, &params.topic)?,
            };
            writer.write(&[], &begun)?;
            begun
        }
    };
    // Bring the topic from what it holds to the sink's contents.
    let mut reader = TopicReader::new(params.envelope, core.encoder.keyed(), core.encoder.codec());
    read_to_end(
        &params.options,
        &txn_id,
        &params.topic,
        &progress.start_offsets,
        transactional,
        |m| {
            reader.apply(m.key(), m.payload()).map_err(|e| {
                format!(
                    "topic \"{}\" holds {e} at partition {} offset {}, which this sink did not \
                     write",
                    params.topic,
                    m.partition(),
                    m.offset()
                )
            })
        },
    )?;
    let topic = reader.groups;
    let mut progress_now = Progress {
        timestamp: core.applied,
        start_offsets: progress.start_offsets.clone(),
    };
    let messages = match core.state.resync(&topic) {
        Ok(m) => m,
        Err(e) => return Ok(End::InputFailed(e)),
    };
    let Some(ts) = core.applied else {
        return Ok(End::Cancelled);
    };
    if !messages.is_empty() || progress.timestamp != Some(ts) {
        if progress
            .timestamp
            .is_some_and(|last| last >= ts && !messages.is_empty())
        {
            tracing::warn!(
                "Kafka sink {}: catching up at timestamp {ts}, not after the last one written",
                params.id
            );
        }
        writer.write(&[(ts, messages)], &progress_now)?;
        record_written(control, ts, &[]);
    }
    control.set_status("running", None);
    loop {
        let Some(first) = next_input(control, input)? else {
            return Ok(End::Cancelled);
        };
        // A batch of whole timestamps, as many as are waiting.
        let mut batch: Vec<(Timestamp, Vec<SinkMessage>)> = Vec::new();
        let mut changes_in_batch = 0;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                SinkInput::Updates { ts, changes } => {
                    changes_in_batch += changes.len();
                    match apply(core, ts, &changes) {
                        Ok(messages) => batch.push((ts, messages)),
                        Err(e) => return Ok(End::InputFailed(e)),
                    }
                }
                SinkInput::Failed(e) => return Ok(End::InputFailed(e)),
            }
            if changes_in_batch < MAX_BATCH_CHANGES {
                next = input.try_recv().ok();
            }
        }
        let Some(ts) = core.applied else {
            continue;
        };
        progress_now.timestamp = Some(ts);
        writer.write(&batch, &progress_now)?;
        record_written(control, ts, &batch);
    }
}

fn record_written(control: &SinkControl, ts: Timestamp, batch: &[(Timestamp, Vec<SinkMessage>)]) {
    if let Ok(mut s) = control.status.lock() {
        s.timestamp = Some(ts);
        s.messages += batch.iter().map(|(_, m)| m.len() as u64).sum::<u64>();
    }
}

/// Waits for the next input, checking for cancellation; `None` when
/// cancelled.
fn next_input(
    control: &SinkControl,
    input: &Receiver<SinkInput>,
) -> Result<Option<SinkInput>, String> {
    loop {
        if control.cancelled() {
            return Ok(None);
        }
        match input.recv_timeout(Duration::from_millis(100)) {
            Ok(i) => return Ok(Some(i)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

/// Applies one timestamp's changes to the sink's contents. An error (a row
/// the format cannot encode) stops the sink: it cannot skip a change.
fn apply(
    core: &mut Core,
    ts: Timestamp,
    changes: &[(Row, Diff)],
) -> Result<Vec<SinkMessage>, String> {
    let encoded = core
        .encoder
        .encode(changes)
        .map_err(|e| format!("encoding a change at timestamp {ts}: {e}"))?;
    core.applied = Some(ts);
    core.state.apply(&encoded)
}

struct Writer<'a> {
    params: &'a SinkParams,
    control: &'a SinkControl,
    producer: &'a SinkProducer,
    transactional: bool,
    partitions: i32,
}

impl Writer<'_> {
    /// Writes `batch` and `progress` together: in one transaction, or (without
    /// transactions) flushed, with every delivery confirmed.
    fn write(
        &self,
        batch: &[(Timestamp, Vec<SinkMessage>)],
        progress: &Progress,
    ) -> Result<(), String> {
        if self.transactional {
            self.producer
                .begin_transaction()
                .map_err(|e| format!("beginning a Kafka transaction: {e}"))?;
        }
        let result = self.produce(batch, progress).and_then(|()| {
            self.await_deliveries()?;
            if self.transactional {
                self.producer
                    .commit_transaction(KAFKA_TIMEOUT)
                    .map_err(|e| format!("committing a Kafka transaction: {e}"))
            } else {
                self.producer
                    .flush(KAFKA_TIMEOUT)
                    .map_err(|e| format!("flushing Kafka messages: {e}"))?;
                let context = self.producer.context();
                if context.failed.load(Ordering::SeqCst) > 0 {
                    let last = context
                        .last_error
                        .lock()
                        .ok()
                        .and_then(|l| l.clone())
                        .unwrap_or_default();
                    return Err(format!("a Kafka message was not delivered: {last}"));
                }
                Ok(())
            }
        });
        if result.is_err() && self.transactional {
            // The next session's `init_transactions` aborts it anyway.
            let _ = self.producer.abort_transaction(Duration::from_secs(5));
        }
        result
    }

    /// Waits until the messages sent are delivered, up to [`KAFKA_TIMEOUT`]
    /// (librdkafka's `message.timeout.ms`, after which it fails them and
    /// the session starts over). While they cannot be delivered (the brokers
    /// reported an error and nothing was delivered since, for
    /// [`STALL_AFTER`]) the sink shows itself `stalled` with the brokers'
    /// error, and `running` again once they are delivered: librdkafka keeps
    /// retrying the same messages, in order and (idempotent producer) without
    /// duplicates, so a short outage neither loses nor repeats output.
    fn await_deliveries(&self) -> Result<(), String> {
        let started = Instant::now();
        let mut stalled: Option<String> = None;
        loop {
            match self.producer.flush(Duration::from_millis(250)) {
                Ok(()) => break,
                Err(e) if started.elapsed() >= KAFKA_TIMEOUT => {
                    return Err(format!("flushing Kafka messages: {e}"));
                }
                Err(_) => {}
            }
            if self.control.cancelled() {
                return Err("the sink was dropped while writing".into());
            }
            if started.elapsed() >= STALL_AFTER
                && let Some(reason) = self.producer.context().undelivered_because()
                && stalled.as_ref() != Some(&reason)
            {
                self.control.set_status(
                    "stalled",
                    Some(format!("cannot deliver to the Kafka brokers: {reason}")),
                );
                stalled = Some(reason);
            }
        }
        if stalled.is_some() {
            self.control.set_status("running", None);
        }
        Ok(())
    }

    fn produce(
        &self,
        batch: &[(Timestamp, Vec<SinkMessage>)],
        progress: &Progress,
    ) -> Result<(), String> {
        let topic = self.params.topic.as_str();
        for (ts, messages) in batch {
            let ts_text = ts.to_string();
            for m in messages {
                let headers = OwnedHeaders::new().insert(Header {
                    key: TIMESTAMP_HEADER,
                    value: Some(ts_text.as_bytes()),
                });
                let mut record = BaseRecord::<[u8], [u8]>::to(topic)
                    .partition(partition_for(&m.partition_by, self.partitions))
                    .headers(headers);
                if let Some(k) = &m.key {
                    record = record.key(k.as_slice());
                }
                if let Some(v) = &m.value {
                    record = record.payload(v.as_slice());
                }
                send(self.producer, record)?;
            }
        }
        let key = progress_key(self.params.id);
        let value = serde_json::to_vec(progress).map_err(|e| e.to_string())?;
        send(
            self.producer,
            BaseRecord::<[u8], [u8]>::to(&self.params.progress_topic)
                .key(key.as_bytes())
                .payload(value.as_slice())
                .partition(0),
        )
    }
}
