//! Reading Kafka topics: the librdkafka client configuration of a
//! connection, connection validation, and the readers of a source.
//!
//! A source is read by one reader per timely worker (`--workers N`): reader
//! `i` owns the partitions `p` with `p mod N = i`, and is its own thread with
//! its own consumer and decoder ([`reader`](super::kafka_reader)). Its
//! batches commit its partitions' next offsets with their data in one
//! durable transaction, and their rows go to timely worker `i`, so reading,
//! decoding and feeding the dataflows are spread over the workers. Status
//! and statistics are shared per source ([`SourceStatus`]): each reader
//! reports its own state and its own partitions, and the source's status is
//! the worst of its readers'.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::decode::SourceDecoder;
use super::durable::{IngestBatch, SnapshotBounds, TransactionProgress};
use super::kafka_reader;
use super::kafka_txn::Grouping;
use crate::expr::GlobalId;

/// The largest `fetch.wait.max.ms` librdkafka accepts (a connection's
/// `FETCH WAIT MAX MS`).
pub const MAX_FETCH_WAIT_MS: u32 = 300_000;

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

/// Checks that the brokers answer: fetches cluster metadata. The error
/// names librdkafka's reason for the last failed broker connection (a
/// refused connection, a failed TLS handshake or authentication), which
/// the metadata request's own error ("broker transport failure") does not.
/// A failed authentication ends the check at once (librdkafka would retry
/// it until the timeout).
pub fn validate(options: &BTreeMap<String, String>, timeout: Duration) -> Result<(), String> {
    let consumer: BaseConsumer<ErrorRecorder> = client_config(options)
        .create_with_context(ErrorRecorder::default())
        .map_err(|e| format!("invalid Kafka configuration: {e}"))?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let e = match consumer.fetch_metadata(None, left.min(Duration::from_millis(500))) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // Error events reach the context only when the client is polled.
        let _ = consumer.poll(Duration::ZERO);
        if let Some(failure) = consumer.context().authentication_failure(options) {
            return Err(failure);
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!(
                "cannot reach the Kafka brokers: {e}{}",
                consumer.context().reason()
            ));
        }
    }
}

/// A client context that keeps the reason of the last client error: a
/// refused connection, a failed TLS handshake or authentication, which
/// librdkafka's errors on requests ("broker transport failure") do not
/// name.
#[derive(Default)]
pub(crate) struct ErrorRecorder {
    last: Mutex<Option<String>>,
    /// The reason of the last failed SASL authentication, if any.
    authentication: Mutex<Option<String>>,
}

impl ErrorRecorder {
    /// `": <reason>"` for the last client error, or nothing.
    pub(crate) fn reason(&self) -> String {
        match self.last.lock().ok().and_then(|l| l.clone()) {
            Some(r) => format!(": {r}"),
            None => String::new(),
        }
    }

    /// The error to report when the brokers refused the connection's SASL
    /// credentials (a wrong password, an unknown user, a mechanism the
    /// broker does not offer), naming the user and mechanism (never the
    /// password); `None` if they did not.
    pub(crate) fn authentication_failure(
        &self,
        options: &BTreeMap<String, String>,
    ) -> Option<String> {
        let reason = self.authentication.lock().ok()?.clone()?;
        Some(format!(
            "SASL authentication failed for user \"{}\" with mechanism {}: {reason}",
            options.get("sasl.username").map_or("", String::as_str),
            options.get("sasl.mechanisms").map_or("", String::as_str),
        ))
    }

    /// Notes an error a consumer's `poll` returned (an event without
    /// librdkafka's text): for an authentication failure, librdkafka's last
    /// logged reason, which says what failed, is kept if there is one.
    pub(crate) fn note(&self, error: &KafkaError) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::Authentication) {
            return;
        }
        let reason = self
            .last
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| error.to_string());
        if let Ok(mut a) = self.authentication.lock() {
            *a = Some(reason);
        }
    }

    /// Keeps `reason` as the last client error, unless it only says that
    /// the brokers are down (librdkafka's "1/1 brokers are down" follows
    /// the failure of each broker connection) and the failure's own reason
    /// (a refused connection, a failed TLS handshake) is already kept.
    fn record(&self, reason: String) {
        if let Ok(mut last) = self.last.lock() {
            if last.is_some() && reason.contains("brokers are down") {
                return;
            }
            *last = Some(reason);
        }
    }
}

impl ClientContext for ErrorRecorder {
    fn log(&self, level: RDKafkaLogLevel, _fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            // Without librdkafka's thread name (`[thrd:...]: `).
            let log_message = match log_message.strip_prefix("[thrd:") {
                Some(rest) => rest.split_once("]: ").map_or(log_message, |(_, m)| m),
                None => log_message,
            };
            if log_message.contains("SASL authentication error")
                && let Ok(mut a) = self.authentication.lock()
            {
                *a = Some(log_message.to_string());
            }
            self.record(log_message.to_string());
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = if reason.is_empty() {
            error.to_string()
        } else {
            reason.to_string()
        };
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication)
            && let Ok(mut a) = self.authentication.lock()
        {
            *a = Some(reason.clone());
        }
        self.record(reason);
    }
}

impl ConsumerContext for ErrorRecorder {}

/// The reader (and timely worker) that owns `partition` among `readers`.
pub fn reader_of(partition: i32, readers: usize) -> usize {
    partition.rem_euclid(readers.max(1) as i32) as usize
}

/// Per-partition statistics of a source.
#[derive(Debug, Clone, Default)]
pub struct PartitionStats {
    /// The reader (and timely worker) that reads the partition.
    pub reader: usize,
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

/// The state of one reader of a source.
#[derive(Debug, Clone, Default)]
pub struct ReaderStatus {
    /// `starting`, `running` or `stalled`.
    pub status: &'static str,
    /// The last error (a broker problem), if the reader is stalled.
    pub error: Option<String>,
}

/// A source's status, shared between its readers and the coordinator.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// One entry per reader.
    pub readers: Vec<ReaderStatus>,
    /// Set once the source is dropped.
    pub dropped: bool,
    /// Statistics per partition (each written by the partition's reader).
    pub partitions: BTreeMap<i32, PartitionStats>,
    /// The Freshet timestamp of the source's last ingested batch (0 before
    /// the first). Sources never hold reads back (all inputs advance
    /// together); how far behind a source is shows as its offset lag.
    pub last_ingest_ts: u64,
    /// Keys in the upsert state (upsert and Debezium sources).
    pub upsert_keys: i64,
    /// Bytes of the upsert state's keys and values, as stored.
    pub upsert_bytes: i64,
    /// What each reader holds back to keep Debezium transactions together.
    pub held: Vec<HeldStats>,
    /// The source's snapshot (see [`kafka_snapshot`](super::kafka_snapshot));
    /// `None` for a source created before snapshots were recorded.
    pub snapshot: Option<SnapshotBounds>,
    /// The source's definite errors, which it keeps until it is dropped
    /// (the [`EvalError::Source`](crate::expr::EvalError::Source) errors in
    /// its data): why records it should have read are gone (see
    /// [`kafka_watermarks`](super::kafka_watermarks)).
    pub definite: BTreeSet<String>,
    /// Partitions whose `START OFFSET` is past their end, by partition:
    /// why nothing is read from them yet (see "A start offset past the
    /// end" in [`kafka_reader`](super::kafka_reader)). The source is
    /// `stalled` while there is one.
    pub waiting: BTreeMap<i32, String>,
}

/// What a reader's transaction buffer holds (see
/// [`kafka_txn`](super::kafka_txn)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldStats {
    /// Records read and held, not yet committed.
    pub records: u64,
    /// Bytes of their keys and values.
    pub bytes: u64,
    /// `END` records of transactions not yet ingested (`TRANSACTION
    /// METADATA`).
    pub pending_ends: u64,
}

impl SourceStatus {
    /// How far the source is through its snapshot, by the committed next
    /// offsets of its partitions.
    pub fn snapshot_progress(&self) -> super::kafka_snapshot::Progress {
        let committed: BTreeMap<i32, i64> = self
            .partitions
            .iter()
            .map(|(p, s)| (*p, s.next_offset))
            .collect();
        super::kafka_snapshot::progress(self.snapshot.as_ref(), &committed)
    }

    /// The sum of the readers' [`HeldStats`].
    pub fn held(&self) -> HeldStats {
        self.held
            .iter()
            .fold(HeldStats::default(), |a, h| HeldStats {
                records: a.records + h.records,
                bytes: a.bytes + h.bytes,
                pending_ends: a.pending_ends + h.pending_ends,
            })
    }
}

/// What a source with `TRANSACTION METADATA` has committed of its
/// transaction topic: where to resume it, and the `END` records read before
/// that whose transactions are not ingested yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionResume {
    /// The next offset per transaction topic partition.
    pub offsets: BTreeMap<i32, i64>,
    /// Pending `END`s: transaction id → event count.
    pub pending: HashMap<String, u64>,
}

impl TransactionResume {
    /// Applies a committed batch's progress.
    pub fn apply(&mut self, progress: TransactionProgress) {
        self.offsets.extend(progress.offsets);
        for t in &progress.remove_pending {
            self.pending.remove(t);
        }
        self.pending.extend(progress.add_pending);
    }
}

impl SourceStatus {
    /// The source's status: `dropped`, else `failed` if it has a definite
    /// error, else `stalled` if any reader is or a partition waits for its
    /// `START OFFSET`, else `starting` if any reader is (or none has
    /// reported), else `running`.
    pub fn status(&self) -> &'static str {
        let any = |s: &str| self.readers.iter().any(|r| r.status == s);
        if self.dropped {
            "dropped"
        } else if !self.definite.is_empty() {
            "failed"
        } else if any("stalled") || !self.waiting.is_empty() {
            "stalled"
        } else if self.readers.is_empty() || any("starting") || any("") {
            "starting"
        } else {
            "running"
        }
    }

    /// The definite errors (by partition), then the distinct errors of the
    /// stalled readers, then why partitions wait for their `START OFFSET`,
    /// joined by `; `.
    pub fn error(&self) -> Option<String> {
        let mut errors: Vec<&str> = self
            .readers
            .iter()
            .filter(|r| r.status == "stalled")
            .filter_map(|r| r.error.as_deref())
            .collect();
        errors.sort_unstable();
        errors.dedup();
        let definite = self.definite.iter().map(String::as_str);
        let waiting = self.waiting.values().map(String::as_str);
        let errors: Vec<&str> = definite.chain(errors).chain(waiting).collect();
        (!errors.is_empty()).then(|| errors.join("; "))
    }
}

/// Controls the running readers of a source.
#[derive(Debug, Default)]
pub struct IngestControl {
    /// Set to stop the readers.
    pub cancelled: AtomicBool,
    /// Held while a batch is committed: whoever drops the source takes it
    /// after setting `cancelled`, so no batch commits after the drop.
    pub commit_lock: Mutex<()>,
    /// Held by a reader from its batch's commit until the batch has its
    /// timestamp, so that the source's batches take timestamps in the
    /// order they committed. Upsert retractions are computed against the
    /// state as committed; were two readers' batches touching one key
    /// (a producer that does not partition by key) timestamped in the
    /// other order, the view would briefly retract a value before adding
    /// it.
    pub order_lock: Mutex<()>,
    /// The status.
    pub status: Mutex<SourceStatus>,
}

impl IngestControl {
    /// Sets reader `reader`'s status.
    pub(crate) fn set_status(&self, reader: usize, status: &'static str, error: Option<String>) {
        if let Ok(mut s) = self.status.lock() {
            if let Some(e) = &error {
                tracing::warn!("Kafka source reader {reader}: {e}");
            }
            if s.readers.len() <= reader {
                s.readers.resize(reader + 1, ReaderStatus::default());
            }
            s.readers[reader] = ReaderStatus { status, error };
        }
    }
}

/// What a source's readers need.
#[derive(Clone)]
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
    /// The transaction topic's progress recorded in the durable store
    /// (`TRANSACTION METADATA`).
    pub resume_transactions: TransactionResume,
    /// The decoder (each reader gets a clone).
    pub decoder: SourceDecoder,
    /// The number of readers: the number of timely workers (1 for a
    /// source with `TRANSACTION METADATA`, whose transactions may span
    /// partitions).
    pub readers: usize,
    /// How events are grouped by source transaction.
    pub grouping: Grouping,
    /// `TRANSACTION METADATA`: the transaction topic, read by the same
    /// consumer (from `resume_transactions`), and the collection to count.
    pub transactions: Option<TransactionTopic>,
    /// Whether the dataflows are ready for another write (waiting up to
    /// the given time for it): while they are not, a reader keeps adding to
    /// the batch it holds instead of delivering it.
    pub ready: Ready,
}

/// Waits up to the given time for the dataflows to be ready for another
/// write — done with every write sent except perhaps the newest — and
/// returns whether they are; `Duration::ZERO` only asks. (The compute
/// layer's `Progress`, seen from storage.)
pub type Ready = Arc<dyn Fn(Duration) -> bool + Send + Sync>;

/// The transaction topic of a source with `TRANSACTION METADATA`.
#[derive(Debug, Clone)]
pub struct TransactionTopic {
    /// The topic (on the source's connection).
    pub topic: String,
    /// The source's `data_collection` in the `END` records.
    pub collection: String,
    /// The transaction source's decoder (its topic's records are JSON or
    /// Avro, whatever the data source's format).
    pub decoder: SourceDecoder,
}

/// Commits a batch and makes it visible: `Ok(false)` when the source is
/// gone, `Err` when the commit failed (the reader then re-reads from its
/// last committed offsets).
pub type DeliverResult = Result<bool, String>;

/// Commits and delivers the batches of reader `reader` (the first
/// argument); shared by a source's readers.
pub type Deliver = Arc<dyn Fn(usize, IngestBatch) -> DeliverResult + Send + Sync>;

/// Starts a source's readers, one thread each; `deliver` is called with
/// each batch and the index of the reader that read it.
pub fn spawn(
    params: IngestParams,
    control: Arc<IngestControl>,
    deliver: Deliver,
) -> Vec<std::thread::JoinHandle<()>> {
    let readers = params.readers.max(1);
    if let Ok(mut s) = control.status.lock() {
        s.readers = vec![
            ReaderStatus {
                status: "starting",
                error: None,
            };
            readers
        ];
    }
    (0..readers)
        .map(|reader| {
            let mut params = params.clone();
            params.readers = readers;
            params
                .resume
                .retain(|p, _| reader_of(*p, readers) == reader);
            let control = control.clone();
            let deliver = deliver.clone();
            std::thread::Builder::new()
                .name(format!("kafka-source-{}-{reader}", params.id))
                .spawn(move || kafka_reader::run(params, reader, control, deliver))
                .expect("spawning a source reader thread")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_map_to_readers_round_robin() {
        let owners: Vec<usize> = (0..6).map(|p| reader_of(p, 2)).collect();
        assert_eq!(owners, [0, 1, 0, 1, 0, 1]);
        assert!((0..10).all(|p| reader_of(p, 1) == 0));
        // Zero readers is treated as one rather than dividing by zero.
        assert_eq!(reader_of(5, 0), 0);
    }

    #[test]
    fn a_broker_failure_keeps_its_reason_over_all_brokers_down() {
        let r = ErrorRecorder::default();
        r.record("1/1 brokers are down".into());
        assert_eq!(r.reason(), ": 1/1 brokers are down");
        r.record("SSL handshake failed: certificate verify failed".into());
        r.record("1/1 brokers are down".into());
        assert_eq!(
            r.reason(),
            ": SSL handshake failed: certificate verify failed"
        );
        r.record("Connect to ipv4#127.0.0.1:9 failed: Connection refused".into());
        assert_eq!(
            r.reason(),
            ": Connect to ipv4#127.0.0.1:9 failed: Connection refused"
        );
    }

    #[test]
    fn source_status_is_the_worst_of_its_readers() {
        let reader = |status, error: Option<&str>| ReaderStatus {
            status,
            error: error.map(str::to_string),
        };
        let mut s = SourceStatus::default();
        assert_eq!(s.status(), "starting");
        s.readers = vec![reader("running", None), reader("starting", None)];
        assert_eq!((s.status(), s.error()), ("starting", None));
        s.readers[1] = reader("running", None);
        assert_eq!(s.status(), "running");
        s.readers = vec![
            reader("stalled", Some("broker down")),
            reader("stalled", Some("broker down")),
        ];
        assert_eq!(
            (s.status(), s.error().as_deref()),
            ("stalled", Some("broker down"))
        );
        s.readers[0] = reader("running", None);
        s.readers.push(reader("stalled", Some("topic gone")));
        assert_eq!(s.error().as_deref(), Some("broker down; topic gone"));
        // A partition waiting for its START OFFSET stalls a running source.
        s.readers = vec![reader("running", None)];
        s.waiting.insert(3, "partition 3 waits".into());
        assert_eq!(
            (s.status(), s.error().as_deref()),
            ("stalled", Some("partition 3 waits"))
        );
        s.readers.push(reader("stalled", Some("broker down")));
        assert_eq!(s.error().as_deref(), Some("broker down; partition 3 waits"));
        s.readers.push(reader("stalled", Some("topic gone")));
        s.waiting.clear();
        // A definite error outranks the stalled readers and comes first.
        s.definite.insert("records gone".into());
        assert_eq!(
            (s.status(), s.error().as_deref()),
            ("failed", Some("records gone; broker down; topic gone"))
        );
        s.dropped = true;
        assert_eq!(s.status(), "dropped");
    }
}
