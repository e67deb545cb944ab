//! Kafka sources end to end, against a real Kafka-protocol broker.
//!
//! Each test starts its own `tansu` broker (in-memory storage) on a free port and its own
//! Freshet server, creates topics and produces records with `rdkafka`, and reads the results
//! over the PostgreSQL wire protocol:
//!
//! * [`json_source_with_metadata_and_view`]: `FORMAT JSON INCLUDE PARTITION, OFFSET, TIMESTAMP`
//!   over a 3-partition topic; a `GROUP BY` materialized view created before the data agrees
//!   with the same query run one-shot and with the totals the test computed.
//! * [`text_bytes_csv_formats`]: `TEXT`, `BYTES`, `CSV WITH n COLUMNS` and `INCLUDE KEY`.
//! * [`csv_header_per_partition_across_restart`]: `CSV WITH HEADER (names)` checks and skips
//!   each partition's header record, also across a `kill -9`; a mismatched header is a decode
//!   error.
//! * [`upsert_updates_deletes_and_tombstones`]: `KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE
//!   UPSERT`: the last value per key wins, a null value deletes; compared with a model.
//! * [`debezium_json_postgres_and_mysql`]: Debezium change events as the JSON converter writes
//!   them for the PostgreSQL connector (with the `schema`/`payload` wrapping) and the MySQL
//!   connector (without), with snapshot reads, inserts, updates, deletes and tombstones.
//! * [`decode_errors_are_visible_and_isolated`]: a malformed record makes reads of its source
//!   fail with a decode error, leaves other sources alone, and (in an upsert source) heals when
//!   the key gets a good value.
//! * [`upsert_null_key_is_an_error_until_retracted`]: in an `ENVELOPE UPSERT` source a record
//!   with a NULL key makes reads fail with a decode error (as in Materialize); a later NULL-key
//!   record replaces the error, a NULL key with a NULL value retracts it (from any partition),
//!   and the other keys are neither lost nor duplicated meanwhile.
//! * [`all_headers_column_across_restart`]: `INCLUDE HEADERS [AS name]` in `ENVELOPE NONE` and
//!   `ENVELOPE UPSERT` sources: a `jsonb` array of `{"key", "value"}` (the value in hex) per
//!   record, in order, with duplicate keys and null values kept and `[]` for no headers;
//!   unpacked with `jsonb_array_elements` and `decode`; a maintained view over it; the same
//!   after a `kill -9` and restart.
//! * [`restart_mid_stream_is_exactly_once`]: `kill -9` while records stream in; after the
//!   restart every record is there once (counted by partition and offset).
//! * [`inline_decoding_errors_and_start_offset`]: `VALUE DECODING ERRORS = (INLINE AS bad)`
//!   keeps an undecodable upsert value as a row with the error in `bad` until the key gets a
//!   good value; `START OFFSET (2, 1)` starts each partition where it says.
//! * [`connection_validation_and_status`]: an unreachable broker is refused at `CREATE
//!   CONNECTION` (SQLSTATE 08000) unless `VALIDATE = false`; such a source reports it in `SHOW
//!   SOURCES`.
//! * [`broker_outage_is_retried_and_shown`]: the broker goes away and comes back (on SQLite
//!   storage, so it keeps its topics): a source and a sink report `stalled` with the reason
//!   while it is away (the sink within seconds of a write it cannot deliver) (`SHOW SOURCES`, `SHOW SINKS`, `mz_internal.mz_sink_statuses`), retry
//!   with backoff, and resume once it is back, the source with every record once and the
//!   sink with what changed meanwhile.
//! * [`snapshot_progress_is_stored_with_the_source`]: the snapshot columns of
//!   `mz_source_statistics` (`snapshot_records_known`, `snapshot_records_staged`,
//!   `snapshot_committed`) over a backlog (with and without `START OFFSET`), untouched by later records and a partition
//!   added later; a topic that appears after the source; the same after `kill -9` and a
//!   restart with the broker down.
//!
//! The broker and producing to it are in `tests/support/kafka.rs`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::kafka::{Broker, HeaderRecord, Record, produce, produce_with_headers, read_topic};
use support::{
    TestServer, exec, expect_rows, free_port, message, poll_until, sqlstate, text_rows,
    try_text_rows, wait_for_rows,
};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_source_with_metadata_and_view() {
    let broker = Broker::start("json").await;
    broker.create_topic("purchases", 3).await;
    let server = TestServer::start("kafka-json").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE purchases FROM KAFKA CONNECTION kafka (TOPIC 'purchases') \
             FORMAT JSON INCLUDE PARTITION, OFFSET, TIMESTAMP AS kafka_ts",
            // Created before any data arrives: maintained incrementally.
            "CREATE MATERIALIZED VIEW spend AS \
             SELECT (data->>'user_id')::bigint AS user_id, sum((data->>'amount')::numeric) AS total, \
                    count(*) AS n \
             FROM purchases GROUP BY 1",
        ],
    )
    .await;
    let columns = text_rows(&c, "SHOW COLUMNS FROM purchases").await;
    let names: Vec<&str> = columns.iter().filter_map(|r| r[0].as_deref()).collect();
    assert_eq!(names, ["data", "partition", "offset", "kafka_ts"]);

    let producer = broker.producer();
    let mut totals: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut payloads = Vec::new();
    for i in 0..300i64 {
        let user = i % 7;
        let amount = i * 3 % 101;
        let e = totals.entry(user).or_default();
        e.0 += amount;
        e.1 += 1;
        payloads.push((
            (i % 3) as i32,
            format!(r#"{{"user_id": {user}, "amount": {amount}, "note": "purchase {i}"}}"#),
        ));
    }
    let records: Vec<Record<'_>> = payloads
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "purchases", &records).await;

    let expected: support::Rows = totals
        .iter()
        .map(|(u, (t, n))| {
            vec![
                Some(u.to_string()),
                Some(t.to_string()),
                Some(n.to_string()),
            ]
        })
        .collect();
    wait_for_rows(
        &c,
        "SELECT user_id, total, n FROM spend ORDER BY user_id",
        &expected,
    )
    .await;
    // The oracle: the same query, one-shot, over the source.
    let one_shot = text_rows(
        &c,
        "SELECT (data->>'user_id')::bigint, sum((data->>'amount')::numeric), count(*) \
         FROM purchases GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(one_shot, expected, "one-shot query vs maintained view");
    // Metadata: every (partition, offset) once, offsets 0..100 in each partition.
    let meta = text_rows(
        &c,
        "SELECT partition, count(*), min(\"offset\"), max(\"offset\"), count(DISTINCT \"offset\"), \
                count(kafka_ts) FROM purchases GROUP BY partition ORDER BY partition",
    )
    .await;
    assert_eq!(
        meta,
        expect_rows(&[
            &["0", "100", "0", "99", "100", "100"],
            &["1", "100", "0", "99", "100", "100"],
            &["2", "100", "0", "99", "100", "100"],
        ])
    );
    // Introspection: per partition, everything read, no lag, bytes as produced.
    let mut bytes = [0usize; 3];
    for (p, v) in &payloads {
        bytes[*p as usize] += v.len();
    }
    let stats: Vec<[String; 8]> = (0..3)
        .map(|p| {
            [
                "purchases".to_string(),
                p.to_string(),
                "100".into(),
                "100".into(),
                "0".into(),
                "100".into(),
                bytes[p].to_string(),
                "0".into(),
            ]
        })
        .collect();
    let stats: Vec<Vec<&str>> = stats
        .iter()
        .map(|r| r.iter().map(|s| s.as_str()).collect())
        .collect();
    let stats: Vec<&[&str]> = stats.iter().map(|r| r.as_slice()).collect();
    wait_for_rows(
        &c,
        "SELECT source, partition, next_offset, high_watermark, lag, records, bytes, decode_errors \
         FROM mz_internal.mz_source_statistics ORDER BY partition",
        &expect_rows(&stats),
    )
    .await;
    let sources = text_rows(&c, "SHOW SOURCES").await;
    assert_eq!(
        sources,
        expect_rows(&[&["purchases", "kafka", "running"]]),
        "SHOW SOURCES"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_bytes_csv_formats() {
    let broker = Broker::start("formats").await;
    for t in ["lines", "blobs", "csv"] {
        broker.create_topic(t, 1).await;
    }
    let server = TestServer::start("kafka-formats").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE lines FROM KAFKA CONNECTION kafka (TOPIC 'lines') \
             KEY FORMAT TEXT VALUE FORMAT TEXT INCLUDE KEY AS k",
            "CREATE SOURCE blobs FROM KAFKA CONNECTION kafka (TOPIC 'blobs') FORMAT BYTES",
            "CREATE SOURCE csv FROM KAFKA CONNECTION kafka (TOPIC 'csv') FORMAT CSV WITH 3 COLUMNS",
            "CREATE MATERIALIZED VIEW csv_typed AS \
             SELECT column1 AS name, column2::int AS qty, column3 AS note FROM csv",
        ],
    )
    .await;
    let producer = broker.producer();
    produce(
        &producer,
        "lines",
        &[
            (0, Some(b"a"), Some("héllo wörld".as_bytes())),
            (0, None, Some(b"no key")),
            (0, Some(b"c"), Some(b"")),
        ],
    )
    .await;
    produce(&producer, "blobs", &[(0, None, Some(&[0u8, 1, 2, 255]))]).await;
    produce(
        &producer,
        "csv",
        &[
            (0, None, Some(b"apple,3,\"red, round\"")),
            (0, None, Some(b"pear,5,")),
        ],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT k, text FROM lines ORDER BY text",
        &expect_rows(&[&["c", ""], &["a", "héllo wörld"], &["NULL", "no key"]]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT data FROM blobs",
        &expect_rows(&[&["\\x000102ff"]]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT name, qty, note FROM csv_typed ORDER BY name",
        &expect_rows(&[&["apple", "3", "red, round"], &["pear", "5", ""]]),
    )
    .await;
}

/// `CSV WITH HEADER (names)`: the first record of each partition is its header, checked
/// against the names and not ingested; after a `kill -9` and restart no later record is taken
/// for a header (one that looks like the header is data); a header that does not match is a
/// decode error that reads of the source show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_header_per_partition_across_restart() {
    let broker = Broker::start("csvheader").await;
    broker.create_topic("fruit", 2).await;
    broker.create_topic("misnamed", 1).await;
    let mut server = TestServer::start("kafka-csvheader").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE fruit FROM KAFKA CONNECTION kafka (TOPIC 'fruit') \
             FORMAT CSV WITH HEADER (name, qty) INCLUDE PARTITION",
            "CREATE SOURCE misnamed FROM KAFKA CONNECTION kafka (TOPIC 'misnamed') \
             FORMAT CSV WITH HEADER (name, qty)",
        ],
    )
    .await;
    let producer = broker.producer();
    produce(
        &producer,
        "fruit",
        &[
            (0, None, Some(b"name,qty")),
            (1, None, Some(b"name,qty")),
            (0, None, Some(b"apple,3")),
            (1, None, Some(b"pear,5")),
        ],
    )
    .await;
    produce(
        &producer,
        "misnamed",
        &[(0, None, Some(b"name,quantity")), (0, None, Some(b"fig,1"))],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT name, qty, partition FROM fruit ORDER BY name",
        &expect_rows(&[&["apple", "3", "0"], &["pear", "5", "1"]]),
    )
    .await;
    let e = poll_until("the misnamed header to be reported", WAIT, || async {
        match c.simple_query("SELECT * FROM misnamed").await {
            Err(e) if message(&e).contains("Decode error") => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let msg = message(&e);
    assert!(
        msg.contains("header at partition 0 offset 0 does not match the source's columns")
            && msg.contains("column 2 is \"quantity\", expected \"qty\""),
        "{msg}"
    );
    assert_eq!(sqlstate(&e).as_deref(), Some("22000"), "{msg}");

    // After a crash, the partitions resume after their headers: a record that looks like a
    // header is data now, and nothing is ingested twice.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    produce(
        &producer,
        "fruit",
        &[(0, None, Some(b"name,qty")), (1, None, Some(b"plum,7"))],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT name, qty, partition FROM fruit ORDER BY name",
        &expect_rows(&[
            &["apple", "3", "0"],
            &["name", "qty", "0"],
            &["pear", "5", "1"],
            &["plum", "7", "1"],
        ]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_updates_deletes_and_tombstones() {
    let broker = Broker::start("upsert").await;
    broker.create_topic("customers", 2).await;
    let server = TestServer::start("kafka-upsert").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE customers FROM KAFKA CONNECTION kafka (TOPIC 'customers') \
             KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT",
            "CREATE MATERIALIZED VIEW by_city AS \
             SELECT data->>'city' AS city, count(*) AS n FROM customers GROUP BY 1",
        ],
    )
    .await;
    let producer = broker.producer();
    // A model of the topic's upsert semantics.
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let cities = ["Oslo", "Lima", "Pune"];
    let mut records: Vec<(i32, String, Option<String>)> = Vec::new();
    for i in 0..200 {
        let key = format!("c{}", i % 37);
        // Every fifth record deletes its key (a tombstone); the others set a new value.
        let value = (i % 5 != 4).then(|| format!(r#"{{"city": "{}", "v": {i}}}"#, cities[i % 3]));
        match &value {
            Some(v) => model.insert(key.clone(), v.clone()),
            None => model.remove(&key),
        };
        // Records of one key go to one partition, as a key-hashing producer would.
        let partition = (key.len() % 2) as i32;
        records.push((partition, key, value));
    }
    let borrowed: Vec<Record<'_>> = records
        .iter()
        .map(|(p, k, v)| (*p, Some(k.as_bytes()), v.as_ref().map(|v| v.as_bytes())))
        .collect();
    produce(&producer, "customers", &borrowed).await;

    let mut by_city: BTreeMap<String, i64> = BTreeMap::new();
    for v in model.values() {
        let json: serde_json::Value = serde_json::from_str(v).unwrap();
        *by_city
            .entry(json["city"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let expected: support::Rows = by_city
        .iter()
        .map(|(c, n)| vec![Some(c.clone()), Some(n.to_string())])
        .collect();
    // Wait on the exact contents: the partitions are read by different readers, and a
    // coarse aggregate such as `by_city` can match the model while a partition still lags.
    let expected_keys: support::Rows = model
        .iter()
        .map(|(k, v)| {
            let json: serde_json::Value = serde_json::from_str(v).unwrap();
            vec![Some(k.clone()), Some(json["v"].to_string())]
        })
        .collect();
    wait_for_rows(
        &c,
        "SELECT key, data->>'v' FROM customers ORDER BY key",
        &expected_keys,
    )
    .await;
    let view = text_rows(&c, "SELECT city, n FROM by_city ORDER BY city").await;
    assert_eq!(view, expected, "the maintained view vs the model");
    // The upsert state's size is reported.
    let keys_sql = "SELECT upsert_keys, upsert_bytes > 0 FROM mz_internal.mz_source_statistics \
                    WHERE source = 'customers' GROUP BY 1, 2";
    wait_for_rows(
        &c,
        keys_sql,
        &expect_rows(&[&[&model.len().to_string(), "t"]]),
    )
    .await;
}

/// A Debezium event as the JSON converter writes it.
fn debezium_event(
    connector: &str,
    op: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    ts_ms: i64,
    wrapped: bool,
) -> String {
    let source = if connector == "postgresql" {
        serde_json::json!({
            "version": "2.5.0.Final", "connector": "postgresql", "name": "dbserver1",
            "ts_ms": ts_ms, "snapshot": if op == "r" { "true" } else { "false" },
            "db": "inventory", "sequence": "[null,\"34120944\"]", "schema": "public",
            "table": "orders", "txId": 780, "lsn": 34120944, "xmin": null
        })
    } else {
        serde_json::json!({
            "version": "2.5.0.Final", "connector": "mysql", "name": "dbserver1",
            "ts_ms": ts_ms, "snapshot": if op == "r" { "true" } else { "false" },
            "db": "inventory", "sequence": null, "table": "orders", "server_id": 223344,
            "gtid": null, "file": "mysql-bin.000003", "pos": 154, "row": 0, "thread": 7,
            "query": null
        })
    };
    let payload = serde_json::json!({
        "before": before, "after": after, "source": source, "op": op,
        "ts_ms": ts_ms + 5, "transaction": null
    });
    if wrapped {
        serde_json::json!({
            "schema": {
                "type": "struct", "optional": false,
                "name": "dbserver1.inventory.orders.Envelope", "version": 1,
                "fields": [
                    {"type": "struct", "optional": true, "field": "before",
                     "name": "dbserver1.inventory.orders.Value",
                     "fields": [{"type": "int32", "optional": false, "field": "id"},
                                {"type": "string", "optional": true, "field": "item"},
                                {"type": "int32", "optional": true, "field": "qty"}]},
                    {"type": "struct", "optional": true, "field": "after",
                     "name": "dbserver1.inventory.orders.Value",
                     "fields": [{"type": "int32", "optional": false, "field": "id"},
                                {"type": "string", "optional": true, "field": "item"},
                                {"type": "int32", "optional": true, "field": "qty"}]},
                    {"type": "struct", "optional": false, "field": "source",
                     "name": "io.debezium.connector.postgresql.Source", "fields": []},
                    {"type": "string", "optional": false, "field": "op"},
                    {"type": "int64", "optional": true, "field": "ts_ms"}
                ]
            },
            "payload": payload
        })
        .to_string()
    } else {
        payload.to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debezium_json_postgres_and_mysql() {
    let broker = Broker::start("debezium").await;
    broker.create_topic("pg.inventory.orders", 1).await;
    broker.create_topic("my.inventory.orders", 1).await;
    let server = TestServer::start("kafka-debezium").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE pg_orders FROM KAFKA CONNECTION kafka (TOPIC 'pg.inventory.orders') \
             KEY FORMAT JSON VALUE FORMAT JSON ENVELOPE DEBEZIUM",
            "CREATE SOURCE my_orders FROM KAFKA CONNECTION kafka (TOPIC 'my.inventory.orders') \
             FORMAT JSON ENVELOPE DEBEZIUM",
            "CREATE MATERIALIZED VIEW pg_totals AS \
             SELECT data->>'item' AS item, sum((data->>'qty')::int) AS qty FROM pg_orders GROUP BY 1",
        ],
    )
    .await;
    let row =
        |id: i64, item: &str, qty: i64| serde_json::json!({"id": id, "item": item, "qty": qty});
    for (topic, connector, wrapped) in [
        ("pg.inventory.orders", "postgresql", true),
        ("my.inventory.orders", "mysql", false),
    ] {
        let key = |id: i64| {
            if wrapped {
                serde_json::json!({"schema": {"type": "struct", "fields": [{"type": "int32", "field": "id"}]},
                                   "payload": {"id": id}})
                    .to_string()
            } else {
                serde_json::json!({"id": id}).to_string()
            }
        };
        let events: Vec<(String, Option<String>)> = vec![
            // Snapshot.
            (
                key(1),
                Some(debezium_event(
                    connector,
                    "r",
                    None,
                    Some(row(1, "apple", 3)),
                    1000,
                    wrapped,
                )),
            ),
            (
                key(2),
                Some(debezium_event(
                    connector,
                    "r",
                    None,
                    Some(row(2, "pear", 5)),
                    1000,
                    wrapped,
                )),
            ),
            // Streaming changes.
            (
                key(3),
                Some(debezium_event(
                    connector,
                    "c",
                    None,
                    Some(row(3, "plum", 7)),
                    2000,
                    wrapped,
                )),
            ),
            (
                key(1),
                Some(debezium_event(
                    connector,
                    "u",
                    Some(row(1, "apple", 3)),
                    Some(row(1, "apple", 4)),
                    3000,
                    wrapped,
                )),
            ),
            (
                key(2),
                Some(debezium_event(
                    connector,
                    "d",
                    Some(row(2, "pear", 5)),
                    None,
                    4000,
                    wrapped,
                )),
            ),
            // The tombstone that follows a delete.
            (key(2), None),
            // A redelivered event (Debezium is at-least-once): no double count.
            (
                key(3),
                Some(debezium_event(
                    connector,
                    "c",
                    None,
                    Some(row(3, "plum", 7)),
                    2000,
                    wrapped,
                )),
            ),
        ];
        let borrowed: Vec<Record<'_>> = events
            .iter()
            .map(|(k, v)| (0, Some(k.as_bytes()), v.as_ref().map(|v| v.as_bytes())))
            .collect();
        produce(&broker.producer(), topic, &borrowed).await;
    }
    let expected = expect_rows(&[&["1", "apple", "4"], &["3", "plum", "7"]]);
    for source in ["pg_orders", "my_orders"] {
        wait_for_rows(
            &c,
            &format!("SELECT data->>'id', data->>'item', data->>'qty' FROM {source} ORDER BY 1"),
            &expected,
        )
        .await;
    }
    wait_for_rows(
        &c,
        "SELECT item, qty FROM pg_totals ORDER BY item",
        &expect_rows(&[&["apple", "4"], &["plum", "7"]]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_errors_are_visible_and_isolated() {
    let broker = Broker::start("errors").await;
    broker.create_topic("events", 1).await;
    broker.create_topic("good", 1).await;
    broker.create_topic("kv", 1).await;
    let server = TestServer::start("kafka-errors").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT JSON",
            "CREATE SOURCE good FROM KAFKA CONNECTION kafka (TOPIC 'good') FORMAT JSON",
            "CREATE SOURCE kv FROM KAFKA CONNECTION kafka (TOPIC 'kv') \
             KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT",
            "CREATE MATERIALIZED VIEW events_n AS SELECT count(*) AS n FROM events",
        ],
    )
    .await;
    let producer = broker.producer();
    produce(
        &producer,
        "events",
        &[
            (0, None, Some(b"{\"a\": 1}")),
            (0, None, Some(b"{broken")),
            (0, None, Some(b"{\"a\": 2}")),
        ],
    )
    .await;
    produce(&producer, "good", &[(0, None, Some(b"{\"ok\": true}"))]).await;
    produce(
        &producer,
        "kv",
        &[
            (0, Some(b"x"), Some(b"{\"v\": 1}")),
            (0, Some(b"y"), Some(b"not json")),
        ],
    )
    .await;

    // The malformed record makes reads of the source (and of views over it) fail.
    for sql in ["SELECT * FROM events", "SELECT n FROM events_n"] {
        let e = poll_until(
            &format!("`{sql}` to fail with a decode error"),
            WAIT,
            || async {
                match c.simple_query(sql).await {
                    Err(e) if message(&e).contains("Decode error") => Ok(e),
                    Err(e) => Err(format!("other error: {e:?}")),
                    Ok(_) => Err("no error yet".into()),
                }
            },
        )
        .await;
        let msg = message(&e);
        assert!(msg.contains("partition 0 offset 1"), "{msg}");
        assert_eq!(sqlstate(&e).as_deref(), Some("22000"), "{msg}");
    }
    // Other sources are unaffected.
    wait_for_rows(
        &c,
        "SELECT data->>'ok' FROM good",
        &expect_rows(&[&["true"]]),
    )
    .await;
    // The upsert source errors while key y has a bad value ...
    poll_until(
        "the upsert source to report the bad value",
        WAIT,
        || async {
            match c.simple_query("SELECT key FROM kv").await {
                Err(e) if message(&e).contains("Decode error") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    // ... and heals when y gets a good value.
    produce(&producer, "kv", &[(0, Some(b"y"), Some(b"{\"v\": 2}"))]).await;
    wait_for_rows(
        &c,
        "SELECT key, data->>'v' FROM kv ORDER BY key",
        &expect_rows(&[&["x", "1"], &["y", "2"]]),
    )
    .await;
    // The server keeps serving.
    assert_eq!(text_rows(&c, "SELECT 1").await, expect_rows(&[&["1"]]));
}

/// Waits until reads of `sql` fail with a decode error whose message contains `part`, and
/// checks its SQLSTATE.
async fn wait_for_decode_error(c: &tokio_postgres::Client, sql: &str, part: &str) {
    let e = poll_until(
        &format!("`{sql}` to fail with a decode error naming {part:?}"),
        WAIT,
        || async {
            match c.simple_query(sql).await {
                Err(e) if message(&e).contains(part) => Ok(e),
                Err(e) => Err(format!("other error: {}", message(&e))),
                Ok(_) => Err("no error yet".into()),
            }
        },
    )
    .await;
    let msg = message(&e);
    assert!(msg.contains("Decode error"), "{msg}");
    assert_eq!(sqlstate(&e).as_deref(), Some("22000"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_null_key_is_an_error_until_retracted() {
    let broker = Broker::start("null-key").await;
    broker.create_topic("kv", 2).await;
    let server = TestServer::start("kafka-null-key").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE kv FROM KAFKA CONNECTION kafka (TOPIC 'kv') \
             KEY FORMAT TEXT VALUE FORMAT TEXT ENVELOPE UPSERT",
            "CREATE MATERIALIZED VIEW kv_n AS SELECT count(*) AS n FROM kv",
        ],
    )
    .await;
    let producer = broker.producer();
    produce(
        &producer,
        "kv",
        &[
            (0, Some(b"k1"), Some(b"v1")),
            (0, None, Some(b"orphan")),
            (1, Some(b"k2"), Some(b"v2")),
        ],
    )
    .await;
    for sql in ["SELECT key FROM kv", "SELECT n FROM kv_n"] {
        wait_for_decode_error(&c, sql, "NULL key at partition 0 offset 1").await;
    }
    // Updates of other keys go on under the error; a second NULL-key record replaces it.
    produce(
        &producer,
        "kv",
        &[
            (1, Some(b"k1"), Some(b"v3")),
            (0, None, Some(b"orphan again")),
        ],
    )
    .await;
    wait_for_decode_error(&c, "SELECT key FROM kv", "NULL key at partition 0 offset 2").await;
    // A NULL key with a NULL value retracts the error, whichever partition it is in.
    produce(&producer, "kv", &[(1, None, None)]).await;
    let expected = expect_rows(&[&["k1", "v3"], &["k2", "v2"]]);
    wait_for_rows(&c, "SELECT key, text FROM kv ORDER BY key", &expected).await;
    wait_for_rows(&c, "SELECT n FROM kv_n", &expect_rows(&[&["2"]])).await;
    // A second retraction changes nothing, and later records count once.
    produce(
        &producer,
        "kv",
        &[(0, None, None), (0, Some(b"k3"), Some(b"v4"))],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT key, text FROM kv ORDER BY key",
        &expect_rows(&[&["k1", "v3"], &["k2", "v2"], &["k3", "v4"]]),
    )
    .await;
    wait_for_rows(&c, "SELECT n FROM kv_n", &expect_rows(&[&["3"]])).await;
}

/// A record on partition 0 with headers (`None`: a null value).
fn with_headers<'a>(
    key: Option<&'a str>,
    value: &'a str,
    headers: &[(&'a str, Option<&'a [u8]>)],
) -> HeaderRecord<'a> {
    HeaderRecord {
        key: key.map(str::as_bytes),
        value: Some(value.as_bytes()),
        headers: headers.to_vec(),
        ..Default::default()
    }
}

/// The rows of `h` and `kv` in [`all_headers_column_across_restart`], the elements of `h`'s
/// arrays unpacked, and the view over `h` against the same query run one-shot.
async fn check_all_headers(c: &tokio_postgres::Client, h: &[&[&str]], kv: &[&[&str]]) {
    wait_for_rows(
        c,
        "SELECT text, headers, \"offset\" FROM h ORDER BY \"offset\"",
        &expect_rows(h),
    )
    .await;
    wait_for_rows(c, "SELECT key, hs FROM kv ORDER BY key", &expect_rows(kv)).await;
    let one_shot = text_rows(
        c,
        "SELECT \"offset\", jsonb_array_length(headers) FROM h ORDER BY 1",
    )
    .await;
    wait_for_rows(c, "SELECT \"offset\", n FROM h_n ORDER BY 1", &one_shot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_headers_column_across_restart() {
    let broker = Broker::start("all-headers").await;
    broker.create_topic("events", 1).await;
    broker.create_topic("kv", 1).await;
    let mut server = TestServer::start("kafka-all-headers").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE h FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT \
             INCLUDE HEADERS, OFFSET",
            "CREATE SOURCE kv FROM KAFKA CONNECTION kafka (TOPIC 'kv') \
             KEY FORMAT TEXT VALUE FORMAT TEXT INCLUDE HEADERS AS hs ENVELOPE UPSERT",
            "CREATE MATERIALIZED VIEW h_n AS \
             SELECT \"offset\", jsonb_array_length(headers) AS n FROM h",
        ],
    )
    .await;
    assert_eq!(
        text_rows(&c, "SHOW COLUMNS FROM h").await,
        expect_rows(&[
            &["text", "t", "text"],
            &["headers", "f", "jsonb"],
            &["offset", "f", "bigint"],
        ])
    );
    let producer = broker.producer();
    produce_with_headers(
        &producer,
        "events",
        &[
            with_headers(None, "none", &[]),
            with_headers(
                None,
                "several",
                &[
                    ("trace", Some(b"t1")),
                    ("client", Some(b"\xff\x00")),
                    ("empty", Some(b"")),
                ],
            ),
            with_headers(
                None,
                "duplicates",
                &[("k", Some(b"1")), ("k", Some(b"2")), ("K", Some(b"3"))],
            ),
            with_headers(None, "null value", &[("k", None), ("x", Some(b"y"))]),
        ],
    )
    .await;
    produce_with_headers(
        &producer,
        "kv",
        &[
            with_headers(Some("k1"), "a", &[("v", Some(b"1"))]),
            with_headers(Some("k2"), "b", &[]),
            with_headers(Some("k1"), "c", &[("v", Some(b"2")), ("v", Some(b"3"))]),
        ],
    )
    .await;
    // The values are hex: "t1" is 7431, "1" is 31, "y" is 79.
    let h_rows: Vec<&[&str]> = vec![
        &["none", "[]", "0"],
        &[
            "several",
            r#"[{"key": "trace", "value": "7431"}, {"key": "client", "value": "ff00"}, {"key": "empty", "value": ""}]"#,
            "1",
        ],
        &[
            "duplicates",
            r#"[{"key": "k", "value": "31"}, {"key": "k", "value": "32"}, {"key": "K", "value": "33"}]"#,
            "2",
        ],
        &[
            "null value",
            r#"[{"key": "k", "value": null}, {"key": "x", "value": "79"}]"#,
            "3",
        ],
    ];
    let kv_rows: [&[&str]; 2] = [
        &[
            "k1",
            r#"[{"key": "v", "value": "32"}, {"key": "v", "value": "33"}]"#,
        ],
        &["k2", "[]"],
    ];
    check_all_headers(&c, &h_rows, &kv_rows).await;
    // The documented way to unpack the array: one row per header, the value back as text.
    assert_eq!(
        text_rows(
            &c,
            "SELECT h.\"offset\", e.value->>'key', \
                    convert_from(decode(e.value->>'value', 'hex'), 'UTF8') \
             FROM h, jsonb_array_elements(h.headers) AS e \
             WHERE e.value->>'key' IN ('k', 'trace') ORDER BY 1, 3",
        )
        .await,
        expect_rows(&[
            &["1", "trace", "t1"],
            &["2", "k", "1"],
            &["2", "k", "2"],
            &["3", "k", "NULL"],
        ])
    );

    // After a restart the stored statements replay with the column, and new records get it.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_all_headers(&c, &h_rows, &kv_rows).await;
    produce_with_headers(
        &producer,
        "events",
        &[with_headers(None, "after", &[("a", Some(b"b"))])],
    )
    .await;
    let mut after = h_rows.clone();
    after.push(&["after", r#"[{"key": "a", "value": "62"}]"#, "4"]);
    check_all_headers(&c, &after, &kv_rows).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_stream_is_exactly_once() {
    let broker = Broker::start("restart").await;
    broker.create_topic("stream", 2).await;
    broker.create_topic("state", 1).await;
    let mut server = TestServer::start("kafka-restart").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE stream FROM KAFKA CONNECTION kafka (TOPIC 'stream') \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
            "CREATE SOURCE state FROM KAFKA CONNECTION kafka (TOPIC 'state') \
             KEY FORMAT TEXT VALUE FORMAT TEXT ENVELOPE UPSERT",
        ],
    )
    .await;
    let producer = broker.producer();
    let batch = |from: usize, to: usize| -> Vec<(i32, String)> {
        (from..to)
            .map(|i| ((i % 2) as i32, format!("record {i}")))
            .collect()
    };
    let first = batch(0, 2000);
    let refs: Vec<Record<'_>> = first
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "stream", &refs).await;
    let state_records: Vec<(String, String)> = (0..500)
        .map(|i| (format!("k{}", i % 50), format!("v{i}")))
        .collect();
    let refs: Vec<Record<'_>> = state_records
        .iter()
        .map(|(k, v)| (0, Some(k.as_bytes()), Some(v.as_bytes())))
        .collect();
    produce(&producer, "state", &refs).await;
    // Wait until some, but typically not all, of the stream is in; then kill the server while
    // more records arrive.
    poll_until("ingestion to start", WAIT, || async {
        let rows = try_text_rows(&c, "SELECT count(*) FROM stream").await?;
        match rows[0][0].as_deref() {
            Some("0") | None => Err("nothing yet".into()),
            _ => Ok(()),
        }
    })
    .await;
    let second = batch(2000, 4000);
    let producing = {
        let producer = producer.clone();
        let second = second.clone();
        tokio::spawn(async move {
            let refs: Vec<Record<'_>> = second
                .iter()
                .map(|(p, v)| (*p, None, Some(v.as_bytes())))
                .collect();
            produce(&producer, "stream", &refs).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(c);
    server.kill9();
    producing.await.expect("producing the second half");
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(
        &c,
        "SELECT count(*), count(DISTINCT partition::text || ':' || \"offset\"::text), count(DISTINCT text) FROM stream",
        &expect_rows(&[&["4000", "4000", "4000"]]),
    )
    .await;
    let expected_state: support::Rows = (0..50)
        .map(|k| {
            let last = (0..500).filter(|i| i % 50 == k).max().unwrap();
            vec![Some(format!("k{k}")), Some(format!("v{last}"))]
        })
        .collect();
    let mut expected_state = expected_state;
    expected_state.sort();
    wait_for_rows(
        &c,
        "SELECT key, text FROM state ORDER BY key",
        &expected_state,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_validation_and_status() {
    let server = TestServer::start("kafka-validation").await;
    let c = server.connect().await;
    // Nothing listens on this port.
    let dead = format!("127.0.0.1:{}", free_port());
    let e = c
        .batch_execute(&format!("CREATE CONNECTION k TO KAFKA (BROKER '{dead}')"))
        .await
        .expect_err("an unreachable broker is refused");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    exec(
        &c,
        &[
            "CREATE SECRET pw AS 'hunter2'",
            &format!(
                "CREATE CONNECTION k TO KAFKA (BROKER '{dead}', SASL MECHANISMS = 'PLAIN', \
                 SASL USERNAME = 'u', SASL PASSWORD = SECRET pw, SECURITY PROTOCOL = 'SASL_PLAINTEXT') \
                 WITH (VALIDATE = false)"
            ),
            "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT TEXT",
        ],
    )
    .await;
    poll_until("the source to report the broker problem", WAIT, || async {
        let rows = try_text_rows(&c, "SHOW SOURCES").await?;
        match rows.first().and_then(|r| r[2].clone()) {
            Some(s) if s.starts_with("stalled") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // The secret cannot go while a connection uses it.
    let e = c
        .batch_execute("DROP SECRET pw")
        .await
        .expect_err("secret in use");
    assert_eq!(sqlstate(&e).as_deref(), Some("2BP01"), "{e:?}");
    exec(&c, &["DROP CONNECTION k CASCADE", "DROP SECRET pw"]).await;
    assert_eq!(text_rows(&c, "SHOW SOURCES").await, expect_rows(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_decoding_errors_and_start_offset() {
    let broker = Broker::start("inline").await;
    broker.create_topic("kv", 1).await;
    broker.create_topic("log", 2).await;
    let producer = broker.producer();
    produce(
        &producer,
        "log",
        &[
            (0, None, Some(b"p0-a")),
            (0, None, Some(b"p0-b")),
            (0, None, Some(b"p0-c")),
            (1, None, Some(b"p1-a")),
            (1, None, Some(b"p1-b")),
        ],
    )
    .await;
    let server = TestServer::start("kafka-inline").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE kv FROM KAFKA CONNECTION kafka (TOPIC 'kv') \
             KEY FORMAT TEXT VALUE FORMAT JSON \
             ENVELOPE UPSERT (VALUE DECODING ERRORS = (INLINE AS bad))",
            // Partition 0 from offset 2, partition 1 from offset 1.
            "CREATE SOURCE log FROM KAFKA CONNECTION kafka (TOPIC 'log', START OFFSET (2, 1)) \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
        ],
    )
    .await;
    produce(
        &producer,
        "kv",
        &[
            (0, Some(b"a"), Some(b"{\"v\": 1}")),
            (0, Some(b"b"), Some(b"{oops")),
            (0, Some(b"c"), Some(b"{\"v\": 3}")),
        ],
    )
    .await;
    // The bad value is a row with the error in its column, not a source error.
    poll_until("the inline error row", WAIT, || async {
        let rows = try_text_rows(
            &c,
            "SELECT key, data->>'v', bad IS NOT NULL FROM kv ORDER BY key",
        )
        .await?;
        let want = expect_rows(&[&["a", "1", "f"], &["b", "NULL", "t"], &["c", "3", "f"]]);
        if rows == want {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
    let bad = text_rows(&c, "SELECT bad FROM kv WHERE key = 'b'").await;
    let msg = bad[0][0].clone().unwrap_or_default();
    assert!(
        msg.contains("Decode error") && msg.contains("offset 1"),
        "{msg}"
    );
    // A good value for the key replaces the error row.
    produce(&producer, "kv", &[(0, Some(b"b"), Some(b"{\"v\": 2}"))]).await;
    wait_for_rows(
        &c,
        "SELECT key, data->>'v', bad FROM kv ORDER BY key",
        &expect_rows(&[
            &["a", "1", "NULL"],
            &["b", "2", "NULL"],
            &["c", "3", "NULL"],
        ]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT partition, \"offset\", text FROM log ORDER BY 1, 2",
        &expect_rows(&[&["0", "2", "p0-c"], &["1", "1", "p1-b"]]),
    )
    .await;
}

/// The status column of `SHOW SOURCES` or `SHOW SINKS` for `name`.
async fn shown_status(
    c: &tokio_postgres::Client,
    show: &str,
    name: &str,
) -> Result<String, String> {
    let rows = try_text_rows(c, show).await?;
    rows.iter()
        .find(|r| r[0].as_deref() == Some(name))
        .and_then(|r| r[2].clone())
        .ok_or_else(|| format!("no {name} in {show}: {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_is_retried_and_shown() {
    let mut broker = Broker::start_sqlite("outage").await;
    broker.create_topic("events", 2).await;
    let server = TestServer::start("kafka-outage").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
            "CREATE TABLE t (k int, v int)",
            "CREATE SINK t_out FROM t INTO KAFKA CONNECTION kafka (TOPIC 't-out') \
             KEY (k) NOT ENFORCED FORMAT JSON ENVELOPE UPSERT",
            "INSERT INTO t VALUES (1, 10)",
        ],
    )
    .await;
    let payloads: Vec<(i32, String)> = (0..10).map(|i| (i % 2, format!("before {i}"))).collect();
    let records: Vec<Record<'_>> = payloads
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&broker.producer(), "events", &records).await;
    wait_for_rows(&c, "SELECT count(*) FROM events", &expect_rows(&[&["10"]])).await;
    poll_until("the sink to run", WAIT, || async {
        match shown_status(&c, "SHOW SINKS", "t_out").await? {
            s if s == "running" => Ok(()),
            s => Err(s),
        }
    })
    .await;

    // The broker goes away: both report it, with librdkafka's reason.
    broker.stop();
    exec(
        &c,
        &[
            "INSERT INTO t VALUES (2, 20)",
            "UPDATE t SET v = 11 WHERE k = 1",
        ],
    )
    .await;
    let source = poll_until("the source to report the outage", WAIT, || async {
        match shown_status(&c, "SHOW SOURCES", "events").await? {
            s if s.starts_with("stalled: ") => Ok(s),
            s => Err(s),
        }
    })
    .await;
    eprintln!("source while the broker is away: {source}");
    assert!(
        [
            "Connection refused",
            "transport failure",
            "brokers are down"
        ]
        .iter()
        .any(|reason| source.contains(reason)),
        "{source}"
    );
    // The sink shows the stall as soon as its write cannot be delivered (not only when
    // librdkafka gives up on the messages after `message.timeout.ms`, 60 s), with the
    // brokers' reason.
    let sink = poll_until(
        "the sink to report the outage",
        Duration::from_secs(15),
        || async {
            match shown_status(&c, "SHOW SINKS", "t_out").await? {
                s if s.starts_with("stalled: cannot deliver to the Kafka brokers: ") => Ok(s),
                s => Err(s),
            }
        },
    )
    .await;
    eprintln!("sink while the broker is away: {sink}");
    assert!(
        [
            "Connection refused",
            "transport failure",
            "brokers are down",
            "Disconnected"
        ]
        .iter()
        .any(|reason| sink.contains(reason)),
        "{sink}"
    );
    let statuses = poll_until(
        "mz_sink_statuses to show the outage",
        Duration::from_secs(5),
        || async {
            let rows = try_text_rows(
                &c,
                "SELECT name, type, status, error IS NOT NULL, transactional \
             FROM mz_internal.mz_sink_statuses",
            )
            .await?;
            match rows.first().and_then(|r| r[2].as_deref()) {
                Some("stalled") => Ok(rows),
                _ => Err(format!("{rows:?}")),
            }
        },
    )
    .await;
    // tansu has no transactions: the sink writes with an idempotent producer.
    assert_eq!(
        statuses,
        expect_rows(&[&["t_out", "kafka", "stalled", "t", "f"]])
    );

    // It comes back: both resume on their own, the source without losing or repeating a
    // record, the sink with the changes made meanwhile.
    broker.start_again().await;
    let payloads: Vec<(i32, String)> = (10..20).map(|i| (i % 2, format!("after {i}"))).collect();
    let records: Vec<Record<'_>> = payloads
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&broker.producer(), "events", &records).await;
    wait_for_rows(
        &c,
        "SELECT count(*), count(DISTINCT partition::text || ':' || \"offset\"::text), \
         count(DISTINCT text) FROM events",
        &expect_rows(&[&["20", "20", "20"]]),
    )
    .await;
    for (show, name) in [("SHOW SOURCES", "events"), ("SHOW SINKS", "t_out")] {
        poll_until("the status to be running again", WAIT, || async {
            match shown_status(&c, show, name).await? {
                s if s == "running" => Ok(()),
                s => Err(s),
            }
        })
        .await;
    }
    let address = broker.address();
    let latest = poll_until("the sink's topic to catch up", WAIT, || async {
        let a = address.clone();
        let messages = tokio::task::spawn_blocking(move || read_topic(&a, "t-out"))
            .await
            .map_err(|e| e.to_string())??;
        // The last value per key.
        let mut latest: BTreeMap<String, Option<String>> = BTreeMap::new();
        for m in messages {
            let key = String::from_utf8_lossy(&m.key.unwrap_or_default()).into_owned();
            let value = m.value.map(|v| String::from_utf8_lossy(&v).into_owned());
            latest.insert(key, value);
        }
        if latest.len() == 2 && latest.values().all(|v| v.is_some()) {
            Ok(latest)
        } else {
            Err(format!("{latest:?}"))
        }
    })
    .await;
    let values: Vec<serde_json::Value> = latest
        .values()
        .map(|v| serde_json::from_str(v.as_deref().unwrap_or("null")).expect("a JSON value"))
        .collect();
    assert!(
        values.contains(&serde_json::json!({"k": 1, "v": 11}))
            && values.contains(&serde_json::json!({"k": 2, "v": 20})),
        "{latest:?}"
    );
}

/// The snapshot columns of `mz_internal.mz_source_statistics` for the sources of
/// [`snapshot_progress_is_stored_with_the_source`].
const SNAPSHOT_SQL: &str = "SELECT source, partition, snapshot_records_known, \
     snapshot_records_staged, snapshot_committed FROM mz_internal.mz_source_statistics \
     ORDER BY source, partition";

/// A source's snapshot is the records its topic held when it was created, from where it
/// starts (`START OFFSET` here) to each partition's high watermark then: per partition,
/// `snapshot_records_known` is that many and `snapshot_records_staged` reaches it, and then
/// `snapshot_committed` is true. Records produced later, and a partition added later, do not
/// change what is known. A source over a topic that does not exist yet has no snapshot
/// bounds (NULL, not committed) until the topic appears, and then an empty snapshot. The
/// bounds are stored with the source: after a `kill -9` and a restart with the broker down,
/// every figure is the same, from the durable store alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_progress_is_stored_with_the_source() {
    let mut broker = Broker::start_sqlite("snapshot").await;
    broker.create_topic("backlog", 3).await;
    let producer = broker.producer();
    // 300, 200 and 100 records in partitions 0, 1 and 2.
    let backlog: Vec<(i32, String)> = (0..600)
        .map(|i| {
            (
                if i < 300 {
                    0
                } else if i < 500 {
                    1
                } else {
                    2
                },
                format!("r{i}"),
            )
        })
        .collect();
    let refs: Vec<Record<'_>> = backlog
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "backlog", &refs).await;
    let mut server = TestServer::start("kafka-snapshot").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE backlog FROM KAFKA CONNECTION kafka (TOPIC 'backlog') FORMAT TEXT",
            // From offsets 250, 0 and 100: 50, 200 and 0 records.
            "CREATE SOURCE tail FROM KAFKA CONNECTION kafka \
             (TOPIC 'backlog', START OFFSET (250, 0, 100)) FORMAT TEXT",
            "CREATE SOURCE later FROM KAFKA CONNECTION kafka (TOPIC 'later') FORMAT TEXT",
        ],
    )
    .await;
    let done = expect_rows(&[
        &["backlog", "0", "300", "300", "t"],
        &["backlog", "1", "200", "200", "t"],
        &["backlog", "2", "100", "100", "t"],
        &["later", "NULL", "NULL", "NULL", "f"],
        &["tail", "0", "50", "50", "t"],
        &["tail", "1", "200", "200", "t"],
        &["tail", "2", "0", "0", "t"],
    ]);
    wait_for_rows(&c, SNAPSHOT_SQL, &done).await;
    assert_eq!(
        text_rows(
            &c,
            "SELECT count(*) FROM backlog UNION ALL SELECT count(*) FROM tail"
        )
        .await,
        expect_rows(&[&["600"], &["250"]])
    );

    // Records produced after the sources were created, into old partitions and into a
    // partition added since, are ingested but are not part of the snapshot.
    broker.add_partitions("backlog", 4);
    let more: Vec<Record<'_>> = [0, 1, 3, 3]
        .iter()
        .map(|p| (*p, None, Some(&b"new"[..])))
        .collect();
    // A new producer: one made before the topic grew would not know partition 3.
    produce(&broker.producer(), "backlog", &more).await;
    wait_for_rows(
        &c,
        "SELECT (SELECT count(*) FROM backlog), (SELECT count(*) FROM tail)",
        &expect_rows(&[&["604", "254"]]),
    )
    .await;
    // The topic of `later` appears, empty: its snapshot is taken then, and is empty.
    broker.create_topic("later", 1).await;
    let mut after = done.clone();
    after.insert(
        3,
        expect_rows(&[&["backlog", "3", "0", "0", "t"]]).remove(0),
    );
    after[4] = expect_rows(&[&["later", "0", "0", "0", "t"]]).remove(0);
    after.insert(8, expect_rows(&[&["tail", "3", "0", "0", "t"]]).remove(0));
    wait_for_rows(&c, SNAPSHOT_SQL, &after).await;
    produce(
        &broker.producer(),
        "later",
        &[(0, None, Some(&b"late"[..]))],
    )
    .await;
    wait_for_rows(&c, "SELECT count(*) FROM later", &expect_rows(&[&["1"]])).await;
    assert_eq!(text_rows(&c, SNAPSHOT_SQL).await, after);

    // After a `kill -9`, with the broker down, the figures come from the durable store.
    drop(c);
    server.kill9();
    broker.stop();
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(&c, SNAPSHOT_SQL, &after).await;
    // And once the broker is back, the sources go on with it.
    broker.start_again().await;
    produce(
        &broker.producer(),
        "backlog",
        &[(2, None, Some(&b"newer"[..]))],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT (SELECT count(*) FROM backlog), (SELECT count(*) FROM tail)",
        &expect_rows(&[&["605", "255"]]),
    )
    .await;
    assert_eq!(text_rows(&c, SNAPSHOT_SQL).await, after);
}
