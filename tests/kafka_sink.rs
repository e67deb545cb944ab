//! Kafka sinks end to end: `CREATE SINK ... INTO KAFKA` against a real Kafka-protocol broker
//! (a `tansu` per test, `tests/support/kafka.rs`, which has no transactions) and against
//! librdkafka's mock cluster (which has), with the topics read back by rdkafka and compared
//! with the view:
//!
//! * [`sink_upsert_and_debezium_follow_a_table`]: upsert and Debezium (keyed and keyless)
//!   sinks, read back with rdkafka, describe the table (and a `GROUP BY` view) after the
//!   snapshot and after inserts, updates and deletes; the JSON encoding; what `CREATE SINK`
//!   refuses; `DROP SINK`.
//! * [`sink_restart_without_transactions`]: `kill -9` mid-stream against tansu (no
//!   transactions): after the restart the topics again describe the table.
//! * [`sink_restart_with_transactions_is_exactly_once`]: the same against librdkafka's mock
//!   cluster (in the test process), which implements transactions: a strict Debezium replay
//!   and the `freshet-timestamp` headers show no lost and no repeated timestamp.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::kafka::{Broker, wait_for_messages};
use support::{TestServer, exec, expect_rows, poll_until, sqlstate, text_rows, try_text_rows};

/// How long a test waits for data to show.
const WAIT: Duration = Duration::from_secs(60);

/// One message read back from a sink's topic.
#[derive(Debug, Clone)]
struct SinkRecord {
    partition: i32,
    key: Option<serde_json::Value>,
    value: Option<serde_json::Value>,
    /// The `freshet-timestamp` header.
    ts: u64,
}

/// Reads every committed message of `topic`, its keys and values parsed as JSON.
fn read_topic(bootstrap: &str, topic: &str) -> Result<Vec<SinkRecord>, String> {
    let parse = |b: Option<Vec<u8>>| {
        b.map(|b| serde_json::from_slice::<serde_json::Value>(&b).expect("JSON"))
    };
    Ok(support::kafka::read_topic(bootstrap, topic)?
        .into_iter()
        .map(|m| SinkRecord {
            partition: m.partition,
            key: parse(m.key),
            value: parse(m.value),
            ts: m.ts,
        })
        .collect())
}

/// A JSON value as the simple query protocol prints the same SQL value.
fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(if *b { "t" } else { "f" }.into()),
        other => Some(other.to_string()),
    }
}

/// A row object as text values, in `columns` order.
fn row_text(row: &serde_json::Value, columns: &[&str]) -> Vec<Option<String>> {
    columns.iter().map(|c| json_text(&row[*c])).collect()
}

/// The rows an upsert topic holds: the last value per key.
fn upsert_rows(records: &[SinkRecord], columns: &[&str]) -> support::Rows {
    let mut latest: BTreeMap<String, Option<serde_json::Value>> = BTreeMap::new();
    for r in records {
        let key = r
            .key
            .as_ref()
            .expect("upsert messages have keys")
            .to_string();
        latest.insert(key, r.value.clone());
    }
    let mut rows: support::Rows = latest
        .values()
        .flatten()
        .map(|v| row_text(v, columns))
        .collect();
    rows.sort();
    rows
}

/// Replays a Debezium topic strictly: every `before` must be a row the replay holds (else a
/// message was lost or repeated). Returns the rows, or what went wrong.
fn debezium_rows(records: &[SinkRecord], columns: &[&str]) -> Result<support::Rows, String> {
    let mut rows: BTreeMap<Vec<Option<String>>, i64> = BTreeMap::new();
    for r in records {
        let value = r
            .value
            .as_ref()
            .ok_or("a Debezium message without a value")?;
        if !value["before"].is_null() {
            let before = row_text(&value["before"], columns);
            let n = rows.entry(before.clone()).or_default();
            *n -= 1;
            if *n < 0 {
                return Err(format!("{r:?} deletes {before:?}, which is not there"));
            }
            if *n == 0 {
                rows.remove(&before);
            }
        }
        if !value["after"].is_null() {
            *rows.entry(row_text(&value["after"], columns)).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for (row, n) in rows {
        out.extend((0..n).map(|_| row.clone()));
    }
    out.sort();
    Ok(out)
}

/// Checks that each partition's messages come in timestamp order and that the messages of one
/// timestamp are together: no timestamp is written twice.
fn check_timestamps(records: &[SinkRecord]) -> Result<(), String> {
    let mut per_partition: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    for r in records {
        let runs = per_partition.entry(r.partition).or_default();
        if runs.last() != Some(&r.ts) {
            if runs.contains(&r.ts) {
                return Err(format!(
                    "timestamp {} appears twice in partition {}",
                    r.ts, r.partition
                ));
            }
            if runs.last().is_some_and(|l| *l > r.ts) {
                return Err(format!(
                    "timestamp {} after {:?} in partition {}",
                    r.ts,
                    runs.last(),
                    r.partition
                ));
            }
            runs.push(r.ts);
        }
    }
    Ok(())
}

/// Waits until `topic`, read back, describes the rows `sql` returns (sorted).
async fn wait_for_sink(
    c: &tokio_postgres::Client,
    bootstrap: &str,
    topic: &str,
    upsert: bool,
    columns: &[&str],
    sql: &str,
) -> Vec<SinkRecord> {
    poll_until(&format!("topic {topic} to hold `{sql}`"), WAIT, || async {
        let mut expected = try_text_rows(c, sql).await?;
        expected.sort();
        let (b, t) = (bootstrap.to_string(), topic.to_string());
        let records = tokio::task::spawn_blocking(move || read_topic(&b, &t))
            .await
            .map_err(|e| e.to_string())??;
        let got = if upsert {
            upsert_rows(&records, columns)
        } else {
            debezium_rows(&records, columns)?
        };
        if got == expected {
            Ok(records)
        } else {
            Err(format!("topic: {got:?}\nview: {expected:?}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_upsert_and_debezium_follow_a_table() {
    let broker = Broker::start("sink").await;
    let server = TestServer::start("kafka-sink").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE TABLE orders (id int, item text, qty int, price numeric(10,2), at timestamp)",
            "INSERT INTO orders VALUES (1, 'apple', 3, 1.50, '2024-01-02 03:04:05.678'), \
             (2, 'pear', 5, 0.75, NULL), (3, 'plum', 1, 2.00, NULL)",
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT item, sum(qty) AS qty, count(*) AS n FROM orders GROUP BY item",
            // The key of a GROUP BY is known to be unique.
            "CREATE SINK totals_sink FROM totals INTO KAFKA CONNECTION kafka \
             (TOPIC 'totals', TOPIC PARTITION COUNT 3) KEY (item) FORMAT JSON ENVELOPE UPSERT",
            "CREATE SINK orders_upsert FROM orders INTO KAFKA CONNECTION kafka \
             (TOPIC 'orders-upsert') KEY (id) NOT ENFORCED FORMAT JSON ENVELOPE UPSERT",
            "CREATE SINK orders_dbz FROM orders INTO KAFKA CONNECTION kafka \
             (TOPIC 'orders-dbz', TOPIC PARTITION COUNT 2) KEY (id) NOT ENFORCED \
             FORMAT JSON ENVELOPE DEBEZIUM",
            "CREATE SINK orders_dbz_nokey FROM orders INTO KAFKA CONNECTION kafka \
             (TOPIC 'orders-dbz-nokey', TOPIC PARTITION COUNT 2) FORMAT JSON ENVELOPE DEBEZIUM",
        ],
    )
    .await;
    let addr = broker.address();
    let order_columns = ["id", "item", "qty", "price", "at"];
    let orders_sql =
        "SELECT id, item, qty, price, (extract(epoch from at) * 1000)::bigint FROM orders";
    let check_all = || async {
        wait_for_sink(
            &c,
            &addr,
            "totals",
            true,
            &["item", "qty", "n"],
            "SELECT item, qty, n FROM totals",
        )
        .await;
        for (topic, upsert) in [
            ("orders-upsert", true),
            ("orders-dbz", false),
            ("orders-dbz-nokey", false),
        ] {
            let records = wait_for_sink(&c, &addr, topic, upsert, &order_columns, orders_sql).await;
            check_timestamps(&records).unwrap_or_else(|e| panic!("{topic}: {e}"));
        }
    };
    // The snapshot.
    check_all().await;
    // The JSON encoding: numbers, numeric as a string, timestamps as epoch milliseconds.
    let records = read_topic(&addr, "orders-upsert").unwrap();
    let apple = records
        .iter()
        .find(|r| r.key == Some(serde_json::json!({"id": 1})))
        .expect("the row with id 1");
    assert_eq!(
        apple.value,
        Some(
            serde_json::json!({"id": 1, "item": "apple", "qty": 3, "price": "1.50",
                                "at": "1704164645678"})
        )
    );
    // Inserts, updates and deletes, each statement at its own timestamp.
    for i in 4..40 {
        exec(
            &c,
            &[&format!(
                "INSERT INTO orders VALUES ({i}, 'item{}', {i}, {i}.25, NULL)",
                i % 4
            )],
        )
        .await;
        if i % 3 == 0 {
            exec(
                &c,
                &[&format!(
                    "UPDATE orders SET qty = qty + 1 WHERE id = {}",
                    i - 2
                )],
            )
            .await;
        }
        if i % 5 == 0 {
            exec(&c, &[&format!("DELETE FROM orders WHERE id = {}", i - 3)]).await;
        }
    }
    exec(&c, &["UPDATE orders SET item = 'fig' WHERE id % 7 = 0"]).await;
    check_all().await;
    // An update of a keyed Debezium sink is one message with both sides.
    let records = read_topic(&addr, "orders-dbz").unwrap();
    assert!(
        records.iter().any(|r| {
            let v = r.value.as_ref().unwrap();
            !v["before"].is_null() && !v["after"].is_null()
        }),
        "no update events"
    );
    exec(&c, &["DELETE FROM orders WHERE id < 20"]).await;
    check_all().await;
    assert_eq!(
        text_rows(&c, "SHOW SINKS").await,
        expect_rows(&[
            &["orders_dbz", "kafka", "running"],
            &["orders_dbz_nokey", "kafka", "running"],
            &["orders_upsert", "kafka", "running"],
            &["totals_sink", "kafka", "running"],
        ])
    );

    // What CREATE SINK refuses.
    exec(&c, &["CREATE VIEW plain AS SELECT id FROM orders"]).await;
    for (sql, code) in [
        // UPSERT needs a key ...
        (
            "CREATE SINK s FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT JSON ENVELOPE UPSERT",
            "42P16",
        ),
        // ... that is unique, or declared NOT ENFORCED.
        (
            "CREATE SINK s FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'x') KEY (id) \
             FORMAT JSON ENVELOPE UPSERT",
            "42P16",
        ),
        (
            "CREATE SINK s FROM totals INTO KAFKA CONNECTION kafka (TOPIC 'x') KEY (nope) \
             FORMAT JSON ENVELOPE UPSERT",
            "42703",
        ),
        // An Avro sink needs a schema registry connection (tests/kafka_sink_avro.rs).
        (
            "CREATE SINK s FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION kafka ENVELOPE DEBEZIUM",
            "42809",
        ),
        (
            "CREATE SINK s FROM plain INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT JSON ENVELOPE DEBEZIUM",
            "42809",
        ),
        (
            "CREATE SINK orders_dbz FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT JSON ENVELOPE DEBEZIUM",
            "42P07",
        ),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e).as_deref(), Some(code), "{sql}: {e:?}");
    }
    // A sink holds its input: DROP needs CASCADE, and DROP SINK stops it.
    let e = c
        .batch_execute("DROP TABLE orders")
        .await
        .expect_err("dependent sinks");
    assert_eq!(sqlstate(&e).as_deref(), Some("2BP01"), "{e:?}");
    exec(
        &c,
        &[
            "DROP SINK orders_upsert",
            "DROP SINK IF EXISTS orders_upsert",
        ],
    )
    .await;
    let before = read_topic(&addr, "orders-upsert").unwrap().len();
    exec(&c, &["INSERT INTO orders VALUES (100, 'late', 1, 1, NULL)"]).await;
    wait_for_sink(&c, &addr, "orders-dbz", false, &order_columns, orders_sql).await;
    assert_eq!(
        read_topic(&addr, "orders-upsert").unwrap().len(),
        before,
        "a dropped sink wrote"
    );
    exec(&c, &["DROP TABLE orders CASCADE"]).await;
    assert_eq!(text_rows(&c, "SHOW SINKS").await, expect_rows(&[]));
}

/// Kills the server with `kill -9` while a writer changes the table the sinks read, restarts
/// it, and checks the topics against the table. `transactional` says whether the broker
/// supports transactions: then no timestamp is lost or written twice.
async fn sink_restart(name: &str, bootstrap: &str, extra_options: &str, transactional: bool) {
    let mut server = TestServer::start(name).await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &format!("CREATE CONNECTION kafka TO KAFKA (BROKER '{bootstrap}'{extra_options})"),
            "CREATE TABLE orders (id int, item text, qty int, price numeric(10,2), at timestamp)",
            "INSERT INTO orders VALUES (1, 'apple', 3, 1.50, NULL), (2, 'pear', 5, 0.75, NULL)",
            "CREATE SINK upsert FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'orders-upsert') \
             KEY (id) NOT ENFORCED FORMAT JSON ENVELOPE UPSERT",
            "CREATE SINK dbz FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'orders-dbz') \
             KEY (id) NOT ENFORCED FORMAT JSON ENVELOPE DEBEZIUM",
        ],
    )
    .await;
    let columns = ["id", "item", "qty", "price"];
    let sql = "SELECT id, item, qty, price FROM orders";
    wait_for_sink(&c, bootstrap, "orders-upsert", true, &columns, sql).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = support::write_orders(server.connect().await, stop.clone(), 1000);
    // Let the sinks write a while, then kill the server mid-stream.
    wait_for_messages(bootstrap, "orders-dbz", 2, 61, WAIT).await;
    drop(c);
    server.kill9();
    let written = writer.await.expect("the writer");
    assert!(written > 0);
    server.restart().await;
    let c = server.connect().await;
    // More changes after the restart.
    let writer = support::write_orders(server.connect().await, stop.clone(), 1_000_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.expect("the writer");
    let upsert = wait_for_sink(&c, bootstrap, "orders-upsert", true, &columns, sql).await;
    // Debezium is replayed strictly: a lost or repeated message fails the replay.
    let dbz = wait_for_sink(&c, bootstrap, "orders-dbz", false, &columns, sql).await;
    if transactional {
        for (topic, records) in [("orders-upsert", &upsert), ("orders-dbz", &dbz)] {
            check_timestamps(records).unwrap_or_else(|e| panic!("{topic}: {e}"));
        }
    }
    assert_eq!(
        text_rows(&c, "SHOW SINKS").await,
        expect_rows(&[
            &["dbz", "kafka", "running"],
            &["upsert", "kafka", "running"]
        ])
    );
}

/// The fallback for brokers without transactions (tansu): after a `kill -9` mid-stream the
/// topics again describe the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_restart_without_transactions() {
    let broker = Broker::start("sink-restart").await;
    sink_restart("kafka-sink-restart", &broker.address(), "", false).await;
}

/// The transactional path, against librdkafka's mock cluster (which implements
/// transactions) running in this test process; the server reaches its TCP listeners like a
/// real broker's. A `kill -9` mid-stream loses and repeats no timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_restart_with_transactions_is_exactly_once() {
    let mock = rdkafka::mocking::MockCluster::new(1).expect("starting the mock cluster");
    // The mock cluster does not implement CreateTopics: create the topics here.
    for (topic, partitions) in [("orders-upsert", 2), ("orders-dbz", 2), ("progress", 1)] {
        mock.create_topic(topic, partitions, 1)
            .expect("creating a mock topic");
    }
    let bootstrap = mock.bootstrap_servers();
    sink_restart(
        "kafka-sink-txn",
        &bootstrap,
        ", PROGRESS TOPIC = 'progress'",
        true,
    )
    .await;
}
