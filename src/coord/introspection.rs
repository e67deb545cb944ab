//! Introspection relations: system relations whose rows the coordinator
//! refreshes, queryable (and subscribable) like any source.
//!
//! `mz_internal.mz_source_statistics` (named with its schema: `mz_internal`
//! is not on the search path, as in Materialize) has one
//! row per Kafka source and partition: the reader (and timely worker) that
//! reads the partition, how far the source has read, the
//! partition's high watermark and the lag between them, records, bytes and
//! decode errors since the server started, the source's status, the
//! timestamp of its last ingested batch, the size of its upsert state, and
//! what its readers hold back to keep Debezium transactions together
//! (records and bytes held, and, with `TRANSACTION METADATA`, the `END`
//! records read whose transactions are not ingested yet): source-wide
//! values, repeated on each of its rows.
//!
//! Its last three columns tell how far a source is through its snapshot,
//! the records its topic held when the source was created (see
//! `storage/kafka_snapshot.rs`), with Materialize's names:
//! `snapshot_records_known` and `snapshot_records_staged` are per
//! partition (the partition's snapshot offsets, and how many of them are
//! committed: offsets passed from where the source starts, at most the
//! known ones, so a compacted topic's gaps count as records; 0 and 0 for a
//! partition added after the source was created; on the row without a
//! partition, before the readers report, the source's totals), and
//! `snapshot_committed` is source-wide: true once every partition of the
//! snapshot is committed up to its creation-time end. All three are NULL
//! for a source created before snapshots were recorded; while a source's
//! bounds are not taken yet (the brokers did not answer at `CREATE
//! SOURCE`), the counts are NULL and `snapshot_committed` is false.
//!
//! `mz_internal.mz_sink_statuses` has one row per Kafka sink, with
//! Materialize's status vocabulary (`starting`, `running`, `stalled`,
//! `failed`): its status and the error behind it (a broker that cannot be
//! reached, credentials the brokers refused, a change the format cannot
//! encode), whether it writes with Kafka transactions, the last timestamp
//! it wrote and the messages written since the server started.
//!
//! Rows are replaced once a second, at a normal write timestamp, so reads
//! of them are consistent with everything else.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{CatalogItem, ItemKind};
use crate::compute::Command;
use crate::expr::GlobalId;
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType};
use crate::storage::kafka_snapshot::PartitionProgress;

use super::{CoordState, Coordinator};

/// The name of the source statistics relation.
pub const SOURCE_STATISTICS: &str = "mz_source_statistics";

/// Its id (system ids start at 2^61; user ids are far below, transient
/// dataflows at 2^62).
pub const SOURCE_STATISTICS_ID: GlobalId = GlobalId(1 << 61);

/// The name of the sink status relation.
pub const SINK_STATUSES: &str = "mz_sink_statuses";

/// Its id.
pub const SINK_STATUSES_ID: GlobalId = GlobalId((1 << 61) + 1);

/// How often the statistics are refreshed.
const REFRESH: Duration = Duration::from_secs(1);

fn col(name: &str, typ: ScalarType, nullable: bool) -> ColumnDesc {
    ColumnDesc {
        name: name.to_string(),
        typ,
        nullable,
    }
}

fn sink_statuses_desc() -> RelationDesc {
    RelationDesc {
        columns: vec![
            col("name", ScalarType::Text, false),
            col("type", ScalarType::Text, false),
            col("status", ScalarType::Text, false),
            col("error", ScalarType::Text, true),
            col("transactional", ScalarType::Bool, true),
            col("last_written_ts", ScalarType::Int64, true),
            col("messages", ScalarType::Int64, false),
        ],
    }
}

fn desc() -> RelationDesc {
    RelationDesc {
        columns: vec![
            col("source", ScalarType::Text, false),
            col("partition", ScalarType::Int32, true),
            col("next_offset", ScalarType::Int64, true),
            col("high_watermark", ScalarType::Int64, true),
            col("lag", ScalarType::Int64, true),
            col("records", ScalarType::Int64, false),
            col("bytes", ScalarType::Int64, false),
            col("decode_errors", ScalarType::Int64, false),
            col("status", ScalarType::Text, false),
            col("error", ScalarType::Text, true),
            col("last_ingest_ts", ScalarType::Int64, true),
            col("upsert_keys", ScalarType::Int64, false),
            col("upsert_bytes", ScalarType::Int64, false),
            col("worker", ScalarType::Int32, true),
            col("held_records", ScalarType::Int64, false),
            col("held_bytes", ScalarType::Int64, false),
            col("pending_transactions", ScalarType::Int64, false),
            col("snapshot_records_known", ScalarType::Int64, true),
            col("snapshot_records_staged", ScalarType::Int64, true),
            col("snapshot_committed", ScalarType::Bool, true),
        ],
    }
}

impl Coordinator {
    /// Adds the introspection relations to the catalog and the workers.
    pub(crate) fn install_introspection(&self, state: &mut CoordState) {
        for (id, name, desc) in [
            (SOURCE_STATISTICS_ID, SOURCE_STATISTICS, desc()),
            (SINK_STATUSES_ID, SINK_STATUSES, sink_statuses_desc()),
        ] {
            self.compute.send(Command::CreateInput { id });
            state.catalog.insert(CatalogItem {
                id,
                name: name.to_string(),
                schema: crate::catalog::SYSTEM_SCHEMA.to_string(),
                kind: ItemKind::Source,
                desc,
                create_sql: String::new(),
                depends_on: vec![],
                plan: None,
                table_columns: vec![],
                index: None,
                owned_by: None,
            });
        }
    }

    /// Starts the task that refreshes the introspection relations.
    pub(crate) fn start_introspection(self: &Arc<Self>) {
        let coord = self.clone();
        tokio::spawn(async move {
            // Per relation, its rows as last written.
            let mut current: [(GlobalId, Vec<Row>); 2] = [
                (SOURCE_STATISTICS_ID, Vec::new()),
                (SINK_STATUSES_ID, Vec::new()),
            ];
            let mut interval = tokio::time::interval(REFRESH);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let mut state = coord.state.lock().await;
                let mut updates: Vec<(GlobalId, Row, i64)> = Vec::new();
                for (id, rows) in &mut current {
                    let mut next = match *id {
                        SOURCE_STATISTICS_ID => source_statistics(&state),
                        _ => sink_statuses(&state),
                    };
                    next.sort();
                    if next == *rows {
                        continue;
                    }
                    updates.extend(rows.drain(..).map(|r| (*id, r, -1)));
                    updates.extend(next.iter().map(|r| (*id, r.clone(), 1)));
                    *rows = next;
                }
                if updates.is_empty() {
                    continue;
                }
                let ts = state.oracle.write_ts();
                coord.compute.send(Command::Write {
                    updates,
                    errors: Vec::new(),
                    ts,
                    worker: 0,
                });
            }
        });
    }
}

/// The rows of `mz_source_statistics` now.
fn source_statistics(state: &CoordState) -> Vec<Row> {
    let mut rows = Vec::new();
    for (id, source) in &state.kafka_sources {
        let Some(item) = state.catalog.get(*id) else {
            continue;
        };
        let Ok(status) = source.control.status.lock() else {
            continue;
        };
        let (status_text, error) = (status.status(), status.error());
        let held = status.held();
        let snapshot = status.snapshot_progress();
        let int = |v: Option<i64>| v.map_or(Datum::Null, Datum::Int64);
        let common = |partition: Datum,
                      worker: Option<usize>,
                      next: Option<i64>,
                      high: Option<i64>,
                      records: u64,
                      bytes: u64,
                      errors: u64,
                      progress: PartitionProgress| {
            Row::new(vec![
                Datum::String(item.name.clone()),
                partition,
                int(next),
                int(high),
                int(next.zip(high).map(|(n, h)| (h - n).max(0))),
                Datum::Int64(records as i64),
                Datum::Int64(bytes as i64),
                Datum::Int64(errors as i64),
                Datum::String(status_text.to_string()),
                error
                    .as_ref()
                    .map_or(Datum::Null, |e| Datum::String(e.clone())),
                if status.last_ingest_ts == 0 {
                    Datum::Null
                } else {
                    Datum::Int64(status.last_ingest_ts as i64)
                },
                Datum::Int64(status.upsert_keys),
                Datum::Int64(status.upsert_bytes),
                worker.map_or(Datum::Null, |w| Datum::Int32(w as i32)),
                Datum::Int64(held.records as i64),
                Datum::Int64(held.bytes as i64),
                Datum::Int64(held.pending_ends as i64),
                int(progress.known),
                int(progress.staged),
                snapshot.committed.map_or(Datum::Null, Datum::Bool),
            ])
        };
        if status.partitions.is_empty() {
            let total = snapshot.total();
            rows.push(common(Datum::Null, None, None, None, 0, 0, 0, total));
        }
        for (p, s) in &status.partitions {
            rows.push(common(
                Datum::Int32(*p),
                Some(s.reader),
                Some(s.next_offset),
                s.high_watermark,
                s.records,
                s.bytes,
                s.decode_errors,
                snapshot.partition(*p),
            ));
        }
    }
    rows
}

/// The rows of `mz_sink_statuses` now.
fn sink_statuses(state: &CoordState) -> Vec<Row> {
    let mut rows = Vec::new();
    for (id, sink) in &state.sinks {
        let Some(item) = state.catalog.get(*id) else {
            continue;
        };
        let Ok(status) = sink.control.status.lock() else {
            continue;
        };
        rows.push(Row::new(vec![
            Datum::String(item.name.clone()),
            Datum::String("kafka".to_string()),
            // Before its thread reports, a sink is starting.
            Datum::String(match status.status {
                "" => "starting".to_string(),
                s => s.to_string(),
            }),
            status
                .error
                .as_ref()
                .map_or(Datum::Null, |e| Datum::String(e.clone())),
            status.transactional.map_or(Datum::Null, Datum::Bool),
            status
                .timestamp
                .map_or(Datum::Null, |ts| Datum::Int64(ts as i64)),
            Datum::Int64(status.messages as i64),
        ]));
    }
    rows
}
