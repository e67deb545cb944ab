//! Kafka source offsets that the brokers do not hand out one by one, end to end against a
//! real Kafka-protocol broker (a `tansu` on SQLite storage per test):
//!
//! * [`deleted_records_are_a_definite_error`]: records deleted (retention, compaction,
//!   `DeleteRecords`) before the source read them. Resuming after a restart, or starting at a
//!   `START OFFSET`, below the partition's low watermark makes the source `failed` (`SHOW
//!   SOURCES`, `mz_internal.mz_source_statistics`) and reads of it and of views over it fail
//!   with a source error naming the partition, the offset wanted and the earliest available,
//!   also after another restart; the source's other partitions and other sources go on. A
//!   source without a start offset on the same topic starts at the low watermark.
//! * [`a_recreated_topic_is_a_definite_error`]: a topic deleted and created again while the
//!   server is down, whose partition now ends below the offset the source had read up to
//!   (its offsets went back), is the same definite error, naming the offset wanted and the
//!   high watermark; the source reads on from the new topic's end, without counting its
//!   records with the old ones.
//! * [`offsets_that_go_back_while_the_source_runs_are_a_definite_error`]: the same while the
//!   source runs, found by the reader's metadata thread (tansu answers a fetch past the end
//!   with nothing, so only the high watermark shows it).
//! * [`deleted_transaction_metadata_is_a_definite_error`]: records of a `TRANSACTION
//!   METADATA` topic deleted before the source read them are a definite error too (the `END`
//!   of a transaction among them is gone, so the transaction cannot be assembled), and the
//!   failed source does not wedge on the transaction it can never complete.
//! * [`a_new_source_whose_transaction_ends_are_gone_fails`]: a new source with `TRANSACTION
//!   METADATA` whose transaction topic lost, to retention, the `END` records of transactions
//!   still in the data topic fails naming the first such transaction (found once a later
//!   transaction's `END` is read) instead of holding its events for ever.
//! * [`a_start_offset_past_the_end_waits_for_its_records`]: a `START OFFSET` past the
//!   partition's end is read from once records reach it, as in Materialize; meanwhile the
//!   source is `stalled` saying why. Too many `START OFFSET` entries and negative ones are
//!   refused with Materialize's errors.
//! * [`too_many_start_offsets_found_by_the_reader_fail_the_source`]: too many `START OFFSET`
//!   entries for a source created while the broker is down (so `CREATE SOURCE` cannot count
//!   the partitions) make the source fail with the same error once the reader gets the
//!   topic's metadata, once, also after a restart.
//! * [`transaction_markers_do_not_leave_lag`]: a partition written by a Kafka transaction
//!   ends with a commit marker that no consumer returns; the source's committed offsets pass
//!   it, so lag reaches 0 and `snapshot_committed` becomes true, and a restart neither loses
//!   nor repeats a record.
//! * [`an_offset_out_of_range_is_not_skipped_silently`]: a fetch that the broker answers
//!   with `OFFSET_OUT_OF_RANGE` (what a Kafka broker answers once the offset a running
//!   reader fetches next was deleted) ends the reader's attempt, which shows as `stalled`,
//!   and the next attempt reads on from the committed offsets; librdkafka's default
//!   (`auto.offset.reset = latest`) jumped to the partition's end, skipping what was there.
//!   Against librdkafka's mock cluster, whose injected request errors make that answer
//!   (tansu answers such a fetch with the records from its earliest offset on).
//!
//! tansu 0.6 can do neither (its `DeleteRecords` is a `todo!()`, and it does not answer
//! librdkafka's `EndTxn`), nor can librdkafka's mock cluster (no `DeleteRecords`; its
//! transactions write no markers): the broker's SQLite storage is changed the way tansu's own
//! code would (`Broker::delete_records_before`, `Broker::commit_marker`).

mod support;

use std::time::Duration;

use support::kafka::{Broker, Record, produce};
use support::{
    TestServer, exec, expect_rows, message, poll_until, sqlstate, text_rows, try_text_rows,
    wait_for_rows,
};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

/// `n` records `{prefix}{i}` for `partition`.
fn records(partition: i32, prefix: &str, n: usize) -> Vec<(i32, String)> {
    (0..n)
        .map(|i| (partition, format!("{prefix}{i}")))
        .collect()
}

async fn produce_all(broker: &Broker, topic: &str, records: &[(i32, String)]) {
    let refs: Vec<Record<'_>> = records
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&broker.producer(), topic, &refs).await;
}

/// Waits until reads of `sql` fail with a message containing every one of `parts`, and
/// checks the SQLSTATE (22000, as decode errors).
async fn wait_for_error(c: &tokio_postgres::Client, sql: &str, parts: &[&str]) {
    let e = poll_until(&format!("`{sql}` to fail with {parts:?}"), WAIT, || async {
        match c.simple_query(sql).await {
            Err(e) if parts.iter().all(|p| message(&e).contains(p)) => Ok(e),
            Err(e) => Err(format!("other error: {}", message(&e))),
            Ok(_) => Err("no error yet".into()),
        }
    })
    .await;
    let msg = message(&e);
    assert!(msg.starts_with("Source error: "), "{msg}");
    assert_eq!(sqlstate(&e).as_deref(), Some("22000"), "{msg}");
}

/// The `SHOW SOURCES` status of `name`.
async fn shown_status(c: &tokio_postgres::Client, name: &str) -> Result<String, String> {
    let rows = try_text_rows(c, "SHOW SOURCES").await?;
    rows.iter()
        .find(|r| r[0].as_deref() == Some(name))
        .and_then(|r| r[2].clone())
        .ok_or_else(|| format!("no {name} in SHOW SOURCES: {rows:?}"))
}

/// The error of partition 0 of topic `topic`, which the source needed from `wanted` and the
/// brokers hold from `earliest`.
fn gone(topic: &str, wanted: i64, earliest: i64) -> String {
    format!(
        "partition 0 of topic \"{topic}\": the source needs offset {wanted}, but the earliest \
         offset the brokers hold is {earliest}: records {wanted} to {} were deleted",
        earliest - 1
    )
}

/// Checks that source `name` is failed with `error` in `SHOW SOURCES` and in
/// `mz_source_statistics`, and that reads of `sql` fail with it.
async fn check_failed(c: &tokio_postgres::Client, name: &str, error: &str, sql: &[&str]) {
    for sql in sql {
        wait_for_error(c, sql, &[error]).await;
    }
    poll_until(&format!("{name} to be failed"), WAIT, || async {
        match shown_status(c, name).await? {
            s if s.starts_with("failed: ") && s.contains(error) => Ok(()),
            s => Err(s),
        }
    })
    .await;
    let statistics = format!(
        "SELECT DISTINCT status, strpos(error, '{}') > 0 \
         FROM mz_internal.mz_source_statistics WHERE source = '{name}'",
        error.replace('\'', "''")
    );
    wait_for_rows(c, &statistics, &expect_rows(&[&["failed", "t"]])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_records_are_a_definite_error() {
    let broker = Broker::start_sqlite("deleted").await;
    broker.create_topic("events", 2).await;
    broker.create_topic("other", 1).await;
    produce_all(&broker, "events", &records(0, "a", 5)).await;
    produce_all(&broker, "events", &records(1, "b", 3)).await;
    produce_all(&broker, "other", &records(0, "o", 2)).await;
    let mut server = TestServer::start("kafka-deleted").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT",
            "CREATE MATERIALIZED VIEW events_n AS SELECT count(*) AS n FROM events",
            "CREATE SOURCE other FROM KAFKA CONNECTION kafka (TOPIC 'other') FORMAT TEXT",
        ],
    )
    .await;
    wait_for_rows(&c, "SELECT n FROM events_n", &expect_rows(&[&["8"]])).await;

    // While the server is down, partition 0 gets offsets 5 to 9, and retention deletes
    // everything before 8: offsets 5, 6 and 7 were never read and never will be.
    drop(c);
    server.kill9();
    produce_all(&broker, "events", &records(0, "late", 5)).await;
    broker.delete_records_before("events", 0, 8);
    server.restart().await;
    let c = server.connect().await;
    let error = gone("events", 5, 8);
    check_failed(
        &c,
        "events",
        &error,
        &["SELECT * FROM events", "SELECT n FROM events_n"],
    )
    .await;
    // The source goes on reading (partition 0 from offset 8, and partition 1), so its
    // offsets stay true; it stays failed.
    produce_all(&broker, "events", &records(1, "c", 2)).await;
    wait_for_rows(
        &c,
        "SELECT partition, next_offset, lag, status FROM mz_internal.mz_source_statistics \
         WHERE source = 'events' ORDER BY partition",
        &expect_rows(&[&["0", "10", "0", "failed"], &["1", "5", "0", "failed"]]),
    )
    .await;
    // Other sources are not touched.
    wait_for_rows(&c, "SELECT count(*) FROM other", &expect_rows(&[&["2"]])).await;
    assert_eq!(
        shown_status(&c, "other").await.as_deref(),
        Ok("running"),
        "{:?}",
        text_rows(&c, "SHOW SOURCES").await
    );

    // `START OFFSET` below the low watermark is the same error; a source without a start
    // offset starts at the low watermark.
    broker.create_topic("old", 1).await;
    produce_all(&broker, "old", &records(0, "x", 6)).await;
    broker.delete_records_before("old", 0, 3);
    exec(
        &c,
        &[
            "CREATE SOURCE old_tail FROM KAFKA CONNECTION kafka \
             (TOPIC 'old', START OFFSET (2)) FORMAT TEXT",
            "CREATE SOURCE old_all FROM KAFKA CONNECTION kafka (TOPIC 'old') FORMAT TEXT",
            "CREATE SOURCE old_late FROM KAFKA CONNECTION kafka \
             (TOPIC 'old', START OFFSET (4)) FORMAT TEXT",
        ],
    )
    .await;
    check_failed(
        &c,
        "old_tail",
        &gone("old", 2, 3),
        &["SELECT * FROM old_tail"],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT (SELECT string_agg(text, ',' ORDER BY text) FROM old_all), \
         (SELECT string_agg(text, ',' ORDER BY text) FROM old_late)",
        &expect_rows(&[&["x3,x4,x5", "x4,x5"]]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT source, status, lag, snapshot_committed FROM mz_internal.mz_source_statistics \
         WHERE source IN ('old_all', 'old_late') ORDER BY source",
        &expect_rows(&[
            &["old_all", "running", "0", "t"],
            &["old_late", "running", "0", "t"],
        ]),
    )
    .await;

    // After another restart the error is still there, once (the offset it was committed
    // with is past the gap, so it is not found again), and the source is failed again.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_failed(
        &c,
        "events",
        &error,
        &["SELECT * FROM events", "SELECT n FROM events_n"],
    )
    .await;
    let shown = shown_status(&c, "events").await.unwrap();
    assert_eq!(
        shown.matches("the source needs offset").count(),
        1,
        "{shown}"
    );
    check_failed(
        &c,
        "old_tail",
        &gone("old", 2, 3),
        &["SELECT * FROM old_tail"],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT (SELECT count(*) FROM old_all), (SELECT count(*) FROM other)",
        &expect_rows(&[&["3", "2"]]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_markers_do_not_leave_lag() {
    let broker = Broker::start_sqlite("markers").await;
    broker.create_topic("txn", 2).await;
    produce_all(&broker, "txn", &records(0, "a", 3)).await;
    produce_all(&broker, "txn", &records(1, "b", 2)).await;
    // Offsets 0-2 and a marker at 3; 0-1 and a marker at 2.
    assert_eq!(broker.commit_marker("txn", 0), 4);
    assert_eq!(broker.commit_marker("txn", 1), 3);
    let mut server = TestServer::start("kafka-markers").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE txn FROM KAFKA CONNECTION kafka (TOPIC 'txn') \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
            "CREATE MATERIALIZED VIEW txn_n AS SELECT count(*) AS n FROM txn",
        ],
    )
    .await;
    const STATISTICS: &str = "SELECT partition, next_offset, high_watermark, lag, \
         snapshot_records_known, snapshot_records_staged, snapshot_committed \
         FROM mz_internal.mz_source_statistics WHERE source = 'txn' ORDER BY partition";
    wait_for_rows(
        &c,
        STATISTICS,
        &expect_rows(&[
            &["0", "4", "4", "0", "4", "4", "t"],
            &["1", "3", "3", "0", "3", "3", "t"],
        ]),
    )
    .await;
    wait_for_rows(&c, "SELECT n FROM txn_n", &expect_rows(&[&["5"]])).await;

    // A second transaction while the source runs: offsets 4-5 and a marker at 6.
    produce_all(&broker, "txn", &records(0, "c", 2)).await;
    wait_for_rows(&c, "SELECT n FROM txn_n", &expect_rows(&[&["7"]])).await;
    assert_eq!(broker.commit_marker("txn", 0), 7);
    wait_for_rows(
        &c,
        "SELECT partition, next_offset, lag FROM mz_internal.mz_source_statistics \
         WHERE source = 'txn' ORDER BY partition",
        &expect_rows(&[&["0", "7", "0"], &["1", "3", "0"]]),
    )
    .await;

    // After a `kill -9` the source resumes after the markers: nothing twice, nothing lost.
    drop(c);
    server.kill9();
    produce_all(&broker, "txn", &records(1, "d", 1)).await;
    server.restart().await;
    let c = server.connect().await;
    let all = "SELECT partition, \"offset\", text FROM txn ORDER BY partition, \"offset\"";
    let expected = expect_rows(&[
        &["0", "0", "a0"],
        &["0", "1", "a1"],
        &["0", "2", "a2"],
        &["0", "4", "c0"],
        &["0", "5", "c1"],
        &["1", "0", "b0"],
        &["1", "1", "b1"],
        &["1", "3", "d0"],
    ]);
    wait_for_rows(&c, all, &expected).await;
    wait_for_rows(
        &c,
        "SELECT partition, next_offset, lag, snapshot_committed \
         FROM mz_internal.mz_source_statistics WHERE source = 'txn' ORDER BY partition",
        &expect_rows(&[&["0", "7", "0", "t"], &["1", "4", "0", "t"]]),
    )
    .await;
    assert_eq!(
        text_rows(&c, "SELECT n FROM txn_n").await,
        expect_rows(&[&["8"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_out_of_range_is_not_skipped_silently() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    let mock = rdkafka::mocking::MockCluster::new(1).expect("starting the mock cluster");
    // The mock cluster does not implement CreateTopics: create the topic here.
    mock.create_topic("events", 1, 1)
        .expect("creating a mock topic");
    let bootstrap = mock.bootstrap_servers();
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .create()
        .expect("creating a producer");
    let produce_values = |prefix: &'static str| {
        let producer = producer.clone();
        async move {
            let values = records(0, prefix, 5);
            let refs: Vec<Record<'_>> = values
                .iter()
                .map(|(p, v)| (*p, None, Some(v.as_bytes())))
                .collect();
            produce(&producer, "events", &refs).await;
        }
    };
    produce_values("a").await;
    let mut server = TestServer::start("kafka-out-of-range").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &format!("CREATE CONNECTION kafka TO KAFKA (BROKER '{bootstrap}')"),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT",
        ],
    )
    .await;
    wait_for_rows(&c, "SELECT count(*) FROM events", &expect_rows(&[&["5"]])).await;
    // Offsets 5-9 arrive while the server is down, and the first fetch after the restart
    // (from the committed offset 5; nothing else fetches from the mock) is answered with
    // OFFSET_OUT_OF_RANGE.
    drop(c);
    server.kill9();
    produce_values("b").await;
    mock.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE],
    );
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(
        &c,
        "SELECT count(*), count(DISTINCT text) FROM events",
        &expect_rows(&[&["10", "10"]]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT next_offset, lag, status FROM mz_internal.mz_source_statistics \
         WHERE source = 'events'",
        &expect_rows(&[&["10", "0", "running"]]),
    )
    .await;
}

/// The error of partition 0 of topic `topic`, which the source needed from `wanted` while
/// its high watermark is `high`.
fn went_back(topic: &str, wanted: i64, high: i64) -> String {
    format!(
        "partition 0 of topic \"{topic}\": the source needs offset {wanted}, but the high \
         watermark is {high}: the partition's offsets went back (the topic was deleted and \
         recreated"
    )
}

/// `SELECT … FROM mz_internal.mz_source_statistics` of source `name`: next offset, lag and
/// status per partition.
fn offsets_of(name: &str) -> String {
    format!(
        "SELECT partition, next_offset, lag, status FROM mz_internal.mz_source_statistics \
         WHERE source = '{name}' ORDER BY partition"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_topic_is_a_definite_error() {
    // The broker has no other topic: tansu 0.6 deletes them all (see `Broker::delete_topic`).
    let broker = Broker::start_sqlite("recreated").await;
    broker.create_topic("events", 1).await;
    produce_all(&broker, "events", &records(0, "a", 5)).await;
    let mut server = TestServer::start("kafka-recreated").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT",
            "CREATE MATERIALIZED VIEW events_n AS SELECT count(*) AS n FROM events",
        ],
    )
    .await;
    wait_for_rows(&c, "SELECT n FROM events_n", &expect_rows(&[&["5"]])).await;

    // While the server is down, the topic is deleted and created again, and gets two
    // records: offsets 0 and 1, where the source had read up to offset 4. Reading on from
    // offset 5 would skip them, reading from 0 would count them with the old five.
    drop(c);
    server.kill9();
    broker.delete_topic("events").await;
    broker.create_topic("events", 1).await;
    produce_all(&broker, "events", &records(0, "new", 2)).await;
    server.restart().await;
    let c = server.connect().await;
    let error = went_back("events", 5, 2);
    check_failed(
        &c,
        "events",
        &error,
        &["SELECT * FROM events", "SELECT n FROM events_n"],
    )
    .await;
    // The source reads on after the new topic's end: its offsets and lag stay true.
    produce_all(&broker, "events", &records(0, "newer", 1)).await;
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "3", "0", "failed"]]),
    )
    .await;

    // After another restart the error is still there, once.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_failed(
        &c,
        "events",
        &error,
        &["SELECT * FROM events", "SELECT n FROM events_n"],
    )
    .await;
    let shown = shown_status(&c, "events").await.unwrap();
    assert_eq!(
        shown.matches("the source needs offset").count(),
        1,
        "{shown}"
    );
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "3", "0", "failed"]]),
    )
    .await;
}

/// Offsets that go back while the source runs (the partition is emptied and starts again
/// at 0 without the topic ever missing, so only the high watermark shows it): tansu answers
/// the reader's fetch from offset 5 with nothing, and the reader's metadata thread finds the
/// high watermark below the committed offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_that_go_back_while_the_source_runs_are_a_definite_error() {
    let broker = Broker::start_sqlite("went-back").await;
    broker.create_topic("events", 1).await;
    produce_all(&broker, "events", &records(0, "a", 5)).await;
    let server = TestServer::start("kafka-went-back").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT",
            "CREATE MATERIALIZED VIEW events_n AS SELECT count(*) AS n FROM events",
        ],
    )
    .await;
    wait_for_rows(&c, "SELECT n FROM events_n", &expect_rows(&[&["5"]])).await;
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "5", "0", "running"]]),
    )
    .await;

    broker.reset_partition("events", 0);
    let error = went_back("events", 5, 0);
    check_failed(
        &c,
        "events",
        &error,
        &["SELECT * FROM events", "SELECT n FROM events_n"],
    )
    .await;
    // The source reads the partition from its new beginning on; nothing shows.
    produce_all(&broker, "events", &records(0, "b", 2)).await;
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "2", "0", "failed"]]),
    )
    .await;
    wait_for_error(&c, "SELECT n FROM events_n", &[error.as_str()]).await;
}

/// A Debezium change event of the PostgreSQL connector in transaction `tx` (JSON converter
/// without schemas): account `id` gets balance `balance`.
fn debezium_event(tx: &str, id: i64, balance: i64) -> String {
    serde_json::json!({
        "before": null, "after": {"id": id, "balance": balance},
        "source": {
            "version": "2.5.0.Final", "connector": "postgresql", "name": "dbserver1",
            "ts_ms": 1700000000000i64 + id, "snapshot": "false", "db": "bank",
            "sequence": format!("[null,\"{id}\"]"), "schema": "public", "table": "accounts",
            "txId": id, "lsn": id, "xmin": null
        },
        "op": "c", "ts_ms": 1700000000005i64 + id,
        "transaction": {"id": tx, "total_order": 1, "data_collection_order": 1},
    })
    .to_string()
}

/// The `BEGIN` and `END` records of transaction `tx`, with one event in `public.accounts`.
fn debezium_transaction(tx: &str) -> [String; 2] {
    [
        serde_json::json!({
            "status": "BEGIN", "id": tx, "ts_ms": 1700000000000i64,
            "event_count": null, "data_collections": null
        })
        .to_string(),
        serde_json::json!({
            "status": "END", "id": tx, "ts_ms": 1700000000000i64, "event_count": 1,
            "data_collections": [{"data_collection": "public.accounts", "event_count": 1}]
        })
        .to_string(),
    ]
}

/// The transaction topic of a source with `TRANSACTION METADATA`: its records deleted before
/// the source read them are a definite error as a data partition's are. The `END` of a
/// transaction among them is gone, so that transaction can never be made visible whole
/// (held, its events and every later event of their partition would wait for ever); the
/// failed source no longer holds anything back, so it does not wedge either: its lag
/// reaches 0 and nothing stays held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_transaction_metadata_is_a_definite_error() {
    let broker = Broker::start_sqlite("deleted-txn").await;
    broker.create_topic("dbserver1.public.accounts", 1).await;
    broker.create_topic("dbserver1.transaction", 1).await;
    let transaction = |tx: &str| {
        let [begin, end] = debezium_transaction(tx);
        vec![(0, begin), (0, end)]
    };
    // Transaction 1: its event at offset 0, its BEGIN and END at 0 and 1.
    produce_all(
        &broker,
        "dbserver1.public.accounts",
        &[(0, debezium_event("1:10", 1, 100))],
    )
    .await;
    produce_all(&broker, "dbserver1.transaction", &transaction("1:10")).await;
    let mut server = TestServer::start("kafka-deleted-txn").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE tx FROM KAFKA CONNECTION kafka (TOPIC 'dbserver1.transaction') \
             FORMAT JSON",
            "CREATE SOURCE ledger FROM KAFKA CONNECTION kafka \
             (TOPIC 'dbserver1.public.accounts') FORMAT JSON \
             ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx, COLLECTION 'public.accounts'))",
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT count(*) AS n, sum((data->>'balance')::bigint) AS total FROM ledger",
        ],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT n, total FROM totals",
        &expect_rows(&[&["1", "100"]]),
    )
    .await;
    const HELD: &str = "SELECT next_offset, lag, held_records, pending_transactions, status \
         FROM mz_internal.mz_source_statistics WHERE source = 'ledger'";
    wait_for_rows(&c, HELD, &expect_rows(&[&["1", "0", "0", "0", "running"]])).await;

    // While the server is down, transactions 2 (BEGIN and END at 2 and 3) and 3 (at 4 and
    // 5) commit, and retention deletes the transaction topic's records before offset 4:
    // transaction 2's END is gone.
    drop(c);
    server.kill9();
    produce_all(
        &broker,
        "dbserver1.public.accounts",
        &[
            (0, debezium_event("2:20", 2, 200)),
            (0, debezium_event("3:30", 3, 300)),
        ],
    )
    .await;
    produce_all(&broker, "dbserver1.transaction", &transaction("2:20")).await;
    produce_all(&broker, "dbserver1.transaction", &transaction("3:30")).await;
    broker.delete_records_before("dbserver1.transaction", 0, 4);
    server.restart().await;
    let c = server.connect().await;
    let gone_ends = format!(
        "{} (by retention, compaction or DeleteRecords) before the source read them; it is \
         the source's TRANSACTION METADATA topic, so the source's transactions cannot be \
         assembled exactly",
        gone("dbserver1.transaction", 2, 4)
    );
    check_failed(
        &c,
        "ledger",
        &gone_ends,
        &["SELECT * FROM ledger", "SELECT n FROM totals"],
    )
    .await;
    // The plain source over the transaction topic had read as far: it fails as any source.
    check_failed(
        &c,
        "tx",
        &gone("dbserver1.transaction", 2, 4),
        &["SELECT * FROM tx"],
    )
    .await;
    wait_for_rows(&c, HELD, &expect_rows(&[&["3", "0", "0", "0", "failed"]])).await;

    // After another restart: the same, with the error once.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_failed(
        &c,
        "ledger",
        &gone_ends,
        &["SELECT * FROM ledger", "SELECT n FROM totals"],
    )
    .await;
    let shown = shown_status(&c, "ledger").await.unwrap();
    assert_eq!(
        shown.matches("the source needs offset").count(),
        1,
        "{shown}"
    );
    produce_all(
        &broker,
        "dbserver1.public.accounts",
        &[(0, debezium_event("4:40", 4, 400))],
    )
    .await;
    wait_for_rows(&c, HELD, &expect_rows(&[&["4", "0", "0", "0", "failed"]])).await;
}

/// A new source with `TRANSACTION METADATA` reads the transaction topic from its low
/// watermark; retention has already deleted the `END` records of transactions whose events
/// are still in the data topic. The first of them, at the front of the data partition, is
/// found once the `END` of a later transaction is read (Debezium writes transactions in commit
/// order): the source fails with an error naming the transaction and both topics, instead of
/// holding those events, and every later one, for ever; it stops holding, so its lag reaches 0
/// and nothing stays held, also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_source_whose_transaction_ends_are_gone_fails() {
    let broker = Broker::start_sqlite("ends-gone").await;
    broker.create_topic("dbserver1.public.accounts", 1).await;
    broker.create_topic("dbserver1.transaction", 1).await;
    // Transactions 1, 2 and 3, one event each (offsets 0, 1 and 2), their BEGIN and END
    // records at 0-1, 2-3 and 4-5; retention deleted the transaction topic's records before
    // offset 4: the ENDs of 1 and 2 are gone.
    for (i, tx) in ["1:10", "2:20", "3:30"].into_iter().enumerate() {
        let i = i as i64 + 1;
        produce_all(
            &broker,
            "dbserver1.public.accounts",
            &[(0, debezium_event(tx, i, 100 * i))],
        )
        .await;
        let [begin, end] = debezium_transaction(tx);
        produce_all(&broker, "dbserver1.transaction", &[(0, begin), (0, end)]).await;
    }
    broker.delete_records_before("dbserver1.transaction", 0, 4);
    let mut server = TestServer::start("kafka-ends-gone").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE tx FROM KAFKA CONNECTION kafka (TOPIC 'dbserver1.transaction') \
             FORMAT JSON",
            "CREATE SOURCE ledger FROM KAFKA CONNECTION kafka \
             (TOPIC 'dbserver1.public.accounts') FORMAT JSON \
             ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx, COLLECTION 'public.accounts'))",
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT count(*) AS n, sum((data->>'balance')::bigint) AS total FROM ledger",
        ],
    )
    .await;
    let error = "partition 0 of topic \"dbserver1.public.accounts\": the events at offset 0 \
         belong to transaction \"1:10\", whose END record is not in the TRANSACTION METADATA \
         topic \"dbserver1.transaction\" although the END of the later transaction \"3:30\" \
         is: it was deleted (by retention, compaction or DeleteRecords) before the source read \
         it, so the source's transactions cannot be assembled exactly";
    check_failed(
        &c,
        "ledger",
        error,
        &["SELECT * FROM ledger", "SELECT n FROM totals"],
    )
    .await;
    const HELD: &str = "SELECT next_offset, lag, held_records, pending_transactions, status \
         FROM mz_internal.mz_source_statistics WHERE source = 'ledger'";
    wait_for_rows(&c, HELD, &expect_rows(&[&["3", "0", "0", "0", "failed"]])).await;
    // The transaction topic's own source starts at its low watermark, as any new source.
    wait_for_rows(&c, "SELECT count(*) FROM tx", &expect_rows(&[&["2"]])).await;
    assert_eq!(shown_status(&c, "tx").await.as_deref(), Ok("running"));

    // After a restart: still failed, with the error once, and events go on being read.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_failed(&c, "ledger", error, &["SELECT n FROM totals"]).await;
    let shown = shown_status(&c, "ledger").await.unwrap();
    assert_eq!(shown.matches("whose END record").count(), 1, "{shown}");
    produce_all(
        &broker,
        "dbserver1.public.accounts",
        &[(0, debezium_event("4:40", 4, 400))],
    )
    .await;
    wait_for_rows(&c, HELD, &expect_rows(&[&["4", "0", "0", "0", "failed"]])).await;
}

/// Checks that source `name` is `stalled` with `error` in `SHOW SOURCES` and in
/// `mz_source_statistics` (for each of its two partitions).
async fn check_stalled(c: &tokio_postgres::Client, name: &str, error: &str) {
    poll_until(&format!("{name} to be stalled"), WAIT, || async {
        match shown_status(c, name).await? {
            s if s == format!("stalled: {error}") => Ok(()),
            s => Err(s),
        }
    })
    .await;
    wait_for_rows(
        c,
        &format!(
            "SELECT partition, status, error = '{}' \
             FROM mz_internal.mz_source_statistics WHERE source = '{name}' ORDER BY partition",
            error.replace('\'', "''")
        ),
        &expect_rows(&[&["0", "stalled", "t"], &["1", "stalled", "t"]]),
    )
    .await;
}

/// `START OFFSET` past a partition's high watermark: as in Materialize, the source reads the
/// partition from that offset once records reach it (records before it are never ingested);
/// meanwhile the source is `stalled`, saying why nothing comes from the partition, also after
/// a restart. `START OFFSET` with more entries than the topic has partitions, or a negative
/// entry, is refused with Materialize's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_offset_past_the_end_waits_for_its_records() {
    let broker = Broker::start_sqlite("past-end").await;
    broker.create_topic("events", 2).await;
    produce_all(&broker, "events", &records(0, "a", 3)).await;
    produce_all(&broker, "events", &records(1, "b", 2)).await;
    let mut server = TestServer::start("kafka-past-end").await;
    let c = server.connect().await;
    exec(&c, &[&broker.connection_sql()]).await;
    for (offsets, error) in [
        (
            "1, 2, 3",
            "START OFFSET specified more partitions (3) than topic (events) contains (2)",
        ),
        ("0, -1", "START OFFSET must be a nonnegative integer"),
    ] {
        let sql = format!(
            "CREATE SOURCE bad FROM KAFKA CONNECTION kafka \
             (TOPIC 'events', START OFFSET ({offsets})) FORMAT TEXT"
        );
        let e = c.batch_execute(&sql).await.expect_err(&sql);
        assert_eq!(message(&e), error, "{sql}");
        assert_eq!(sqlstate(&e).as_deref(), Some("22023"), "{sql}");
    }
    exec(
        &c,
        &[
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka \
             (TOPIC 'events', START OFFSET (5, 1)) FORMAT TEXT INCLUDE PARTITION, OFFSET",
            "CREATE MATERIALIZED VIEW events_n AS SELECT count(*) AS n FROM events",
        ],
    )
    .await;
    let all = "SELECT partition, \"offset\", text FROM events ORDER BY partition, \"offset\"";
    wait_for_rows(&c, all, &expect_rows(&[&["1", "1", "b1"]])).await;
    let waiting = |high: i64| {
        format!(
            "partition 0 of topic \"events\": START OFFSET 5 is past the partition's end (its \
             high watermark is {high}): the source reads the partition from offset 5 once \
             records reach it"
        )
    };
    check_stalled(&c, "events", &waiting(3)).await;
    // One record more (offset 3) is not ingested: it is before the start offset.
    produce_all(&broker, "events", &records(0, "c", 1)).await;
    produce_all(&broker, "events", &records(1, "c", 1)).await;
    wait_for_rows(
        &c,
        all,
        &expect_rows(&[&["1", "1", "b1"], &["1", "2", "c0"]]),
    )
    .await;
    check_stalled(&c, "events", &waiting(4)).await;

    // After a restart the source still waits (and says why).
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_stalled(&c, "events", &waiting(4)).await;

    // Offsets 4 to 6: the source reads partition 0 from offset 5 and runs.
    produce_all(&broker, "events", &records(0, "d", 3)).await;
    wait_for_rows(
        &c,
        all,
        &expect_rows(&[
            &["0", "5", "d1"],
            &["0", "6", "d2"],
            &["1", "1", "b1"],
            &["1", "2", "c0"],
        ]),
    )
    .await;
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "7", "0", "running"], &["1", "3", "0", "running"]]),
    )
    .await;
    assert_eq!(shown_status(&c, "events").await.as_deref(), Ok("running"));
    assert_eq!(
        text_rows(&c, "SELECT n FROM events_n").await,
        expect_rows(&[&["4"]])
    );
}

/// `START OFFSET` with more entries than the topic has partitions, for a source created while
/// the broker is down: `CREATE SOURCE` cannot count the partitions (it waits 5 s for the
/// brokers, then leaves the snapshot for later), so the source's first reader checks the
/// entries once it gets the topic's metadata. Too many is the source's definite error, the
/// one `CREATE SOURCE` gives: reads of the source and of a view over it fail with it, and the
/// source is `failed`; the partitions that exist are still read. After a restart it is there
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_start_offsets_found_by_the_reader_fail_the_source() {
    let mut broker = Broker::start_sqlite("too-many").await;
    broker.create_topic("events", 2).await;
    produce_all(&broker, "events", &records(0, "a", 2)).await;
    produce_all(&broker, "events", &records(1, "b", 3)).await;
    let mut server = TestServer::start("kafka-too-many").await;
    let c = server.connect().await;
    exec(&c, &[&broker.connection_sql()]).await;
    broker.stop();
    exec(
        &c,
        &[
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka \
             (TOPIC 'events', START OFFSET (1, 0, 4)) FORMAT TEXT",
            "CREATE MATERIALIZED VIEW events_n AS SELECT count(*) AS n FROM events",
        ],
    )
    .await;
    broker.start_again().await;
    let error = "START OFFSET specified more partitions (3) than topic (events) contains (2)";
    let reads = ["SELECT * FROM events", "SELECT n FROM events_n"];
    check_failed(&c, "events", error, &reads).await;
    // Partition 0 from offset 1, partition 1 from offset 0.
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "2", "0", "failed"], &["1", "3", "0", "failed"]]),
    )
    .await;

    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_failed(&c, "events", error, &reads).await;
    produce_all(&broker, "events", &records(1, "c", 1)).await;
    wait_for_rows(
        &c,
        &offsets_of("events"),
        &expect_rows(&[&["0", "2", "0", "failed"], &["1", "4", "0", "failed"]]),
    )
    .await;
    let shown = shown_status(&c, "events").await.unwrap();
    assert_eq!(
        shown.matches("START OFFSET specified").count(),
        1,
        "{shown}"
    );
}
