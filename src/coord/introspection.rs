//! Introspection relations: system relations whose rows the coordinator
//! refreshes, queryable (and subscribable) like any source.
//!
//! `mz_internal.mz_source_statistics` (named with its schema: `mz_internal`
//! is not on the search path, as in Materialize) has one
//! row per Kafka source and partition: the reader (and timely worker) that
//! reads the partition, how far the source has read, the
//! partition's high watermark and the lag between them, records, bytes and
//! decode errors since the server started, the source's status, the
//! timestamp of its last ingested batch, and the size of its upsert state.
//! Rows are replaced once a second, at a normal write timestamp, so reads
//! of them are consistent with everything else.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{CatalogItem, ItemKind};
use crate::compute::Command;
use crate::expr::GlobalId;
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType};

use super::{CoordState, Coordinator};

/// The name of the source statistics relation.
pub const SOURCE_STATISTICS: &str = "mz_source_statistics";

/// Its id (system ids start at 2^61; user ids are far below, transient
/// dataflows at 2^62).
pub const SOURCE_STATISTICS_ID: GlobalId = GlobalId(1 << 61);

/// How often the statistics are refreshed.
const REFRESH: Duration = Duration::from_secs(1);

fn desc() -> RelationDesc {
    let col = |name: &str, typ: ScalarType, nullable: bool| ColumnDesc {
        name: name.to_string(),
        typ,
        nullable,
    };
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
        ],
    }
}

impl Coordinator {
    /// Adds the introspection relations to the catalog and the workers.
    pub(crate) fn install_introspection(&self, state: &mut CoordState) {
        self.compute.send(Command::CreateInput {
            id: SOURCE_STATISTICS_ID,
        });
        state.catalog.insert(CatalogItem {
            id: SOURCE_STATISTICS_ID,
            name: SOURCE_STATISTICS.to_string(),
            schema: crate::catalog::SYSTEM_SCHEMA.to_string(),
            kind: ItemKind::Source,
            desc: desc(),
            create_sql: String::new(),
            depends_on: vec![],
            plan: None,
            table_columns: vec![],
            index: None,
            owned_by: None,
        });
    }

    /// Starts the task that refreshes the introspection relations.
    pub(crate) fn start_introspection(self: &Arc<Self>) {
        let coord = self.clone();
        tokio::spawn(async move {
            let mut current: Vec<Row> = Vec::new();
            let mut interval = tokio::time::interval(REFRESH);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let mut state = coord.state.lock().await;
                let mut next = source_statistics(&state);
                next.sort();
                if next == current {
                    continue;
                }
                let mut updates: Vec<(GlobalId, Row, i64)> = current
                    .drain(..)
                    .map(|r| (SOURCE_STATISTICS_ID, r, -1))
                    .collect();
                updates.extend(next.iter().map(|r| (SOURCE_STATISTICS_ID, r.clone(), 1)));
                current = next;
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
        let common = |partition: Datum,
                      worker: Option<usize>,
                      next: Option<i64>,
                      high: Option<i64>,
                      records: u64,
                      bytes: u64,
                      errors: u64| {
            let int = |v: Option<i64>| v.map_or(Datum::Null, Datum::Int64);
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
            ])
        };
        if status.partitions.is_empty() {
            rows.push(common(Datum::Null, None, None, None, 0, 0, 0));
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
            ));
        }
    }
    rows
}
