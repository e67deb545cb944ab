//! One reader of a Kafka source: a thread with its own consumer and decoder
//! that reads the partitions the source's [`spawn`](super::kafka::spawn)
//! gave it (`p mod readers = reader`), checking for new ones every few
//! seconds, each from the offset the durable store recorded (else `START
//! OFFSET`, `START TIMESTAMP`, or the beginning). It reads records in
//! batches, decodes them, and hands each batch, with its partitions'
//! offsets after it, to the source's `deliver`, which commits both in one
//! durable transaction before the data becomes visible: a restart resumes
//! each partition exactly after its last committed record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::decode::{KafkaRecord, Stall};
use super::durable::{IngestBatch, SourceChange};
use super::kafka::{
    Deliver, IngestControl, IngestParams, PartitionStats, client_config, reader_of,
};

/// The most records in one batch.
const MAX_BATCH_RECORDS: usize = 100_000;
/// The longest a batch collects records once it has one.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(5);
/// How often partitions and high watermarks are refreshed.
const METADATA_INTERVAL: Duration = Duration::from_secs(2);

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
    let reader = Reader {
        params: &params,
        reader,
        control: &control,
        deliver: &*deliver,
    };
    while !control.cancelled.load(Ordering::SeqCst) {
        let before = next.clone();
        match reader.ingest(&mut next) {
            Ok(()) => return,
            Err(e) => {
                // A connection that delivered data before failing starts
                // the backoff over.
                if next != before {
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

/// A reader's fixed context.
struct Reader<'a> {
    params: &'a IngestParams,
    reader: usize,
    control: &'a IngestControl,
    deliver: &'a (dyn Fn(usize, IngestBatch) -> super::kafka::DeliverResult + Send + Sync),
}

impl Reader<'_> {
    /// Where a partition without a recorded offset starts.
    fn start_offset(&self, consumer: &BaseConsumer, partition: i32) -> Result<Offset, String> {
        let params = self.params;
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

    /// The partitions of the topic this reader owns.
    fn partitions(&self, consumer: &BaseConsumer) -> Result<Vec<i32>, String> {
        let topic = &self.params.topic;
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
        let mut ids: Vec<i32> = t
            .partitions()
            .iter()
            .map(|p| p.id())
            .filter(|p| reader_of(*p, self.params.readers) == self.reader)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Assigns the reader's partitions, each at its next offset.
    fn assign(
        &self,
        consumer: &BaseConsumer,
        next: &BTreeMap<i32, i64>,
        parts: &[i32],
    ) -> Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        for p in parts {
            let offset = match next.get(p) {
                Some(o) => Offset::Offset(*o),
                None => self.start_offset(consumer, *p)?,
            };
            tpl.add_partition_offset(&self.params.topic, *p, offset)
                .map_err(|e| e.to_string())?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| format!("assigning partitions: {e}"))
    }

    /// Reads until cancelled (`Ok`) or a broker problem (`Err`, retried).
    fn ingest(&self, next: &mut BTreeMap<i32, i64>) -> Result<(), String> {
        let (params, control) = (self.params, self.control);
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
        let mut parts = self.partitions(&consumer)?;
        self.assign(&consumer, next, &parts)?;
        self.refresh_watermarks(&consumer, &parts);
        control.set_status(self.reader, "running", None);
        let mut last_metadata = Instant::now();
        loop {
            if control.cancelled.load(Ordering::SeqCst) {
                return Ok(());
            }
            if last_metadata.elapsed() >= METADATA_INTERVAL {
                last_metadata = Instant::now();
                let now = self.partitions(&consumer)?;
                if now != parts {
                    parts = now;
                    self.assign(&consumer, next, &parts)?;
                }
                self.refresh_watermarks(&consumer, &parts);
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
                        // librdkafka retries broker connections itself;
                        // report the problem and keep polling.
                        control.set_status(self.reader, "stalled", Some(format!("Kafka: {e}")));
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
                s.bytes += (record.key.map_or(0, |k| k.len()) + record.value.map_or(0, |v| v.len()))
                    as u64;
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
            if !(self.deliver)(self.reader, batch)? {
                return Ok(());
            }
            next.extend(offsets.iter().map(|(p, o)| (*p, *o)));
            self.record_delivery(stats, &offsets);
        }
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

    /// Fetches the high watermarks of the reader's partitions.
    fn refresh_watermarks(&self, consumer: &BaseConsumer, parts: &[i32]) {
        let mut marks = Vec::new();
        for p in parts {
            if let Ok((_, high)) =
                consumer.fetch_watermarks(&self.params.topic, *p, Duration::from_secs(2))
            {
                marks.push((*p, high));
            }
        }
        if let Ok(mut status) = self.control.status.lock() {
            for (p, high) in marks {
                let e = status.partitions.entry(p).or_default();
                e.reader = self.reader;
                e.high_watermark = Some(high);
                if e.next_offset == 0 {
                    e.next_offset = self.params.resume.get(&p).copied().unwrap_or(0);
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
