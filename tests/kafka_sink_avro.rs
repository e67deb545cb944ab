//! Avro Kafka sinks end to end (`FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY`): against a
//! tansu broker (no transactions) or librdkafka's mock cluster (transactions) and the schema
//! registry stand-in (`tests/support/registry.rs`). Messages are read back with rdkafka and
//! decoded as a Confluent consumer does: the schema id after the magic byte, the writer
//! schema fetched from the registry by that id, the datum read with apache-avro.
//!
//! * [`avro_sinks_follow_a_table_and_a_view`]: upsert and Debezium sinks on a table and a
//!   `GROUP BY` view describe them after the snapshot and after inserts, updates and
//!   deletes; the subjects and schemas in the registry.
//! * [`avro_sink_types_round_trip`]: a column of every type, and NULLs, decode to the values
//!   written; the `AVRO ... FULLNAME` options; what `CREATE SINK` refuses (a registry that
//!   cannot be reached, a connection of the wrong kind, bad fullnames).
//! * [`avro_sink_restart_without_transactions`]: `kill -9` mid-stream, and the registry down
//!   when the server comes back: the sinks stall, then catch up when it answers again.
//! * [`avro_sink_restart_with_transactions_is_exactly_once`]: `kill -9` mid-stream against
//!   the mock cluster: no timestamp lost or written twice.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::types::Value;
use num_bigint::BigInt;
use support::kafka::{Broker, TopicMessage, read_topic, wait_for_messages};
use support::registry::{SchemaRegistry, decode, row_schema, row_texts};
use support::{TestServer, exec, poll_until, sqlstate, text_rows, try_text_rows};

/// How long a test waits for data to show.
const WAIT: Duration = Duration::from_secs(60);

/// The rows an Avro upsert topic holds: the last value per key. Each key must be the key
/// columns (`key_fields`, positions in the row) of its value.
fn upsert_rows(
    registry: &SchemaRegistry,
    messages: &[TopicMessage],
    key_fields: &[usize],
) -> Result<support::Rows, String> {
    let mut latest: BTreeMap<Vec<Option<String>>, Option<Vec<Option<String>>>> = BTreeMap::new();
    for m in messages {
        let key = decode(
            registry,
            m.key.as_deref().ok_or("an upsert message without a key")?,
        )?;
        let key_row = row_texts(&key.value, row_schema(&key.schema));
        let value = match &m.value {
            None => None,
            Some(v) => {
                let d = decode(registry, v)?;
                let row = row_texts(&d.value, row_schema(&d.schema));
                let expected_key: Vec<_> = key_fields.iter().map(|i| row[*i].clone()).collect();
                if expected_key != key_row {
                    return Err(format!("key {key_row:?} with value {row:?}"));
                }
                Some(row)
            }
        };
        latest.insert(key_row, value);
    }
    let mut rows: support::Rows = latest.into_values().flatten().collect();
    rows.sort();
    Ok(rows)
}

/// Replays an Avro Debezium topic strictly: every `before` must be a row the replay holds.
fn debezium_rows(
    registry: &SchemaRegistry,
    messages: &[TopicMessage],
) -> Result<support::Rows, String> {
    let mut rows: BTreeMap<Vec<Option<String>>, i64> = BTreeMap::new();
    for m in messages {
        let d = decode(
            registry,
            m.value.as_deref().ok_or("a message without a value")?,
        )?;
        let row_schema = row_schema(&d.schema);
        let Value::Record(fields) = &d.value else {
            return Err(format!("not a record: {:?}", d.value));
        };
        for (name, value) in fields {
            let Value::Union(_, inner) = value else {
                return Err(format!("{name} is not a union"));
            };
            if matches!(**inner, Value::Null) {
                continue;
            }
            let row = row_texts(inner, row_schema);
            match name.as_str() {
                "before" => {
                    let n = rows.entry(row.clone()).or_default();
                    *n -= 1;
                    if *n < 0 {
                        return Err(format!("{m:?} deletes {row:?}, which is not there"));
                    }
                    if *n == 0 {
                        rows.remove(&row);
                    }
                }
                "after" => *rows.entry(row).or_default() += 1,
                other => return Err(format!("an envelope field {other}")),
            }
        }
    }
    let mut out = Vec::new();
    for (row, n) in rows {
        out.extend((0..n).map(|_| row.clone()));
    }
    out.sort();
    Ok(out)
}

/// Checks that each partition's messages come in timestamp order, each timestamp's
/// together: no timestamp is written twice.
fn check_timestamps(messages: &[TopicMessage]) -> Result<(), String> {
    let mut per_partition: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    for m in messages {
        let runs = per_partition.entry(m.partition).or_default();
        if runs.last() != Some(&m.ts) {
            if runs.contains(&m.ts) || runs.last().is_some_and(|l| *l > m.ts) {
                return Err(format!(
                    "timestamp {} after {:?} in partition {}",
                    m.ts, runs, m.partition
                ));
            }
            runs.push(m.ts);
        }
    }
    Ok(())
}

/// How a topic is read: upsert (with the key's positions in the row) or Debezium.
#[derive(Clone, Copy)]
enum Read<'a> {
    Upsert(&'a [usize]),
    Debezium,
}

/// Waits until `topic`, read back and decoded, describes the rows `sql` returns.
async fn wait_for_sink(
    c: &tokio_postgres::Client,
    bootstrap: &str,
    registry: &SchemaRegistry,
    topic: &str,
    read: Read<'_>,
    sql: &str,
) -> Vec<TopicMessage> {
    poll_until(&format!("topic {topic} to hold `{sql}`"), WAIT, || async {
        let mut expected = try_text_rows(c, sql).await?;
        expected.sort();
        let (b, t) = (bootstrap.to_string(), topic.to_string());
        let messages = tokio::task::spawn_blocking(move || read_topic(&b, &t))
            .await
            .map_err(|e| e.to_string())??;
        let got = match read {
            Read::Upsert(key) => upsert_rows(registry, &messages, key)?,
            Read::Debezium => debezium_rows(registry, &messages)?,
        };
        if got == expected {
            Ok(messages)
        } else {
            Err(format!("topic: {got:?}\nview: {expected:?}"))
        }
    })
    .await
}

/// Every message of `messages` names the schemas registered under `<topic>-key` and
/// `<topic>-value` (the latest, and only, versions).
fn check_schema_ids(registry: &SchemaRegistry, topic: &str, messages: &[TopicMessage]) {
    let value_versions = registry.versions(&format!("{topic}-value"));
    assert_eq!(value_versions.len(), 1, "{topic}-value: {value_versions:?}");
    let key_versions = registry.versions(&format!("{topic}-key"));
    for m in messages {
        if let Some(v) = &m.value {
            assert_eq!(
                decode(registry, v).unwrap().id,
                value_versions[0],
                "{topic}"
            );
        }
        if let Some(k) = &m.key {
            assert_eq!(key_versions.len(), 1, "{topic}-key: {key_versions:?}");
            assert_eq!(decode(registry, k).unwrap().id, key_versions[0], "{topic}");
        }
    }
}

const ORDERS: &str =
    "CREATE TABLE orders (id int, item text, qty int, price numeric(10,2), at timestamp)";
const ORDERS_SQL: &str =
    "SELECT id, item, qty, price, (extract(epoch from at) * 1000)::bigint FROM orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_sinks_follow_a_table_and_a_view() {
    let broker = Broker::start("avro-sink").await;
    let registry = SchemaRegistry::start().await;
    let server = TestServer::start("kafka-avro-sink").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            ORDERS,
            "INSERT INTO orders VALUES (1, 'apple', 3, 1.50, '2024-01-02 03:04:05.678'), \
             (2, 'pear', 5, 0.75, NULL), (3, 'plum', 1, 2.00, NULL)",
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT item, sum(qty) AS qty, count(*) AS n FROM orders GROUP BY item",
            "CREATE SINK totals_upsert FROM totals INTO KAFKA CONNECTION kafka \
             (TOPIC 'totals', TOPIC PARTITION COUNT 3) KEY (item) \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE UPSERT",
            "CREATE SINK totals_dbz FROM totals INTO KAFKA CONNECTION kafka \
             (TOPIC 'totals-dbz') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM",
            "CREATE SINK orders_upsert FROM orders INTO KAFKA CONNECTION kafka \
             (TOPIC 'orders-upsert') KEY (id) NOT ENFORCED \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE UPSERT",
            "CREATE SINK orders_dbz FROM orders INTO KAFKA CONNECTION kafka \
             (TOPIC 'orders-dbz', TOPIC PARTITION COUNT 2) KEY (id) NOT ENFORCED \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM",
        ],
    )
    .await;
    let addr = broker.address();
    let totals_sql = "SELECT item, qty, n FROM totals";
    let check_all = || async {
        let sinks = [
            ("totals", Read::Upsert(&[0]), totals_sql),
            ("totals-dbz", Read::Debezium, totals_sql),
            ("orders-upsert", Read::Upsert(&[0]), ORDERS_SQL),
            ("orders-dbz", Read::Debezium, ORDERS_SQL),
        ];
        for (topic, read, sql) in sinks {
            let messages = wait_for_sink(&c, &addr, &registry, topic, read, sql).await;
            check_timestamps(&messages).unwrap_or_else(|e| panic!("{topic}: {e}"));
            check_schema_ids(&registry, topic, &messages);
        }
    };
    // The snapshot.
    check_all().await;
    // The schemas: Materialize's record names, a key of the KEY columns, no key subject
    // without KEY.
    let schema = |subject: &str| -> serde_json::Value {
        let id = *registry
            .versions(subject)
            .last()
            .expect("a registered subject");
        serde_json::from_str(&registry.schema_by_id(id).unwrap()).unwrap()
    };
    assert_eq!(
        schema("orders-upsert-key"),
        serde_json::json!({"type": "record", "name": "row", "fields": [
            {"name": "id", "type": ["null", "int"]}]})
    );
    let value = schema("orders-upsert-value");
    assert_eq!(value["name"], "envelope");
    assert_eq!(
        value["fields"][3]["type"],
        serde_json::json!(["null", {"type": "bytes", "logicalType": "decimal",
                                    "precision": 10, "scale": 2}])
    );
    let dbz = schema("totals-dbz-value");
    assert_eq!(dbz["fields"][0]["name"], "before");
    assert_eq!(dbz["fields"][0]["type"][1]["name"], "row");
    assert_eq!(dbz["fields"][1]["type"], serde_json::json!(["null", "row"]));
    assert!(registry.versions("totals-dbz-key").is_empty());
    // Inserts, updates and deletes, each statement at its own timestamp.
    for i in 4..40 {
        exec(
            &c,
            &[&format!(
                "INSERT INTO orders VALUES ({i}, 'item{}', {i}, {i}.25, '2024-02-0{} 10:00:00')",
                i % 4,
                1 + i % 9
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
    let messages = read_topic(&addr, "orders-dbz").unwrap();
    assert!(
        messages.iter().any(|m| {
            let d = decode(&registry, m.value.as_ref().unwrap()).unwrap();
            let Value::Record(fields) = d.value else {
                return false;
            };
            fields.iter().all(|(_, v)| matches!(v, Value::Union(1, _)))
        }),
        "no update events"
    );
    exec(&c, &["DELETE FROM orders WHERE id < 20"]).await;
    check_all().await;
    // Deleted keys are tombstones in the upsert topic.
    let messages = read_topic(&addr, "orders-upsert").unwrap();
    assert!(messages.iter().any(|m| m.value.is_none()), "no tombstones");
    let statuses = text_rows(&c, "SHOW SINKS").await;
    assert!(
        statuses.iter().all(|r| r[2].as_deref() == Some("running")),
        "{statuses:?}"
    );
    // The registry connection is a dependency of the sinks.
    let e = c
        .batch_execute("DROP CONNECTION csr")
        .await
        .expect_err("sinks use the connection");
    assert_eq!(sqlstate(&e).as_deref(), Some("2BP01"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_sink_types_round_trip() {
    let broker = Broker::start("avro-sink-types").await;
    let registry = SchemaRegistry::start().await;
    let server = TestServer::start("kafka-avro-sink-types").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            "CREATE TABLE every (id int, b boolean, s smallint, l bigint, r real, \
             d double precision, n numeric(10,2), u numeric, t text, v varchar(5), c char(3), \
             by bytea, dt date, tm time, ts timestamp, tz timestamptz, iv interval, j jsonb, \
             uu uuid)",
            "INSERT INTO every VALUES (1, true, -2, 1099511627776, 1.5, -2.25, 123.4, 0.000123, \
             'héllo', 'ab', 'xy', '\\x00ff07', '2024-01-02', '04:05:06.000007', \
             '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901+00', \
             '1 year 2 mons 3 days 04:05:06.000007', '{\"b\": [1, 2.50], \"a\": null}', \
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
            "INSERT INTO every (id) VALUES (2)",
            "CREATE SINK every_sink FROM every INTO KAFKA CONNECTION kafka (TOPIC 'every') \
             KEY (id) NOT ENFORCED FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             (AVRO KEY FULLNAME 'com.acme.every_key', AVRO VALUE FULLNAME 'com.acme.every') \
             ENVELOPE UPSERT",
        ],
    )
    .await;
    let addr = broker.address();
    let messages = poll_until("two messages in topic every", WAIT, || async {
        let a = addr.clone();
        let messages = tokio::task::spawn_blocking(move || read_topic(&a, "every"))
            .await
            .map_err(|e| e.to_string())??;
        if messages.len() == 2 {
            Ok(messages)
        } else {
            Err(format!("{} messages", messages.len()))
        }
    })
    .await;
    let record = |id: i32| -> Vec<(String, Value)> {
        let m = messages
            .iter()
            .find(|m| {
                let key = decode(&registry, m.key.as_ref().unwrap()).unwrap();
                key.value
                    == Value::Record(vec![(
                        "id".into(),
                        Value::Union(1, Box::new(Value::Int(id))),
                    )])
            })
            .unwrap_or_else(|| panic!("no message for id {id}"));
        let d = decode(&registry, m.value.as_ref().unwrap()).unwrap();
        let Schema::Record(schema) = &d.schema else {
            panic!("not a record schema")
        };
        assert_eq!(schema.name.fullname(None), "com.acme.every");
        let Value::Record(fields) = d.value else {
            panic!("not a record")
        };
        fields
            .into_iter()
            .map(|(name, v)| match v {
                Value::Union(1, inner) => (name, *inner),
                Value::Union(0, _) => (name, Value::Null),
                other => panic!("{name}: not a nullable union: {other:?}"),
            })
            .collect()
    };
    let key_schema: serde_json::Value = serde_json::from_str(
        &registry
            .schema_by_id(registry.versions("every-key")[0])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(key_schema["name"], "com.acme.every_key");
    let decimal = |v: &Value| match v {
        Value::Decimal(d) => BigInt::from_signed_bytes_be(&Vec::<u8>::try_from(d).unwrap()),
        other => panic!("not a decimal: {other:?}"),
    };
    let row = record(1);
    let get = |name: &str| row.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let char_text = text_rows(&c, "SELECT c, j FROM every WHERE id = 1").await;
    let mut interval = 14i32.to_le_bytes().to_vec();
    interval.extend(3i32.to_le_bytes());
    interval.extend(14_706_000_007i64.to_le_bytes());
    let expected = [
        ("id", Value::Int(1)),
        ("b", Value::Boolean(true)),
        ("s", Value::Int(-2)),
        ("l", Value::Long(1_099_511_627_776)),
        ("r", Value::Float(1.5)),
        ("d", Value::Double(-2.25)),
        ("t", Value::String("héllo".into())),
        ("v", Value::String("ab".into())),
        ("c", Value::String(char_text[0][0].clone().unwrap())),
        ("by", Value::Bytes(vec![0, 255, 7])),
        ("dt", Value::Date(19_724)),
        ("tm", Value::TimeMicros(14_706_000_007)),
        ("ts", Value::TimestampMicros(1_704_164_645_678_901)),
        ("tz", Value::TimestampMicros(1_704_164_645_678_901)),
        ("iv", Value::Fixed(16, interval)),
        ("j", Value::String(char_text[0][1].clone().unwrap())),
        (
            "uu",
            Value::Uuid(uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap()),
        ),
    ];
    for (name, value) in expected {
        assert_eq!(get(name), value, "column {name}");
    }
    // numeric(10,2) at scale 2; numeric at scale 39.
    assert_eq!(decimal(&get("n")), BigInt::from(12_340));
    assert_eq!(
        decimal(&get("u")),
        BigInt::from(123) * BigInt::from(10u8).pow(33)
    );
    // The row of NULLs.
    for (name, value) in record(2) {
        if name != "id" {
            assert_eq!(value, Value::Null, "column {name}");
        }
    }

    // What CREATE SINK refuses.
    for (sql, code) in [
        // A Kafka connection where the registry's belongs.
        (
            "CREATE SINK s FROM every INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION kafka ENVELOPE DEBEZIUM",
            "42809",
        ),
        // Not an Avro fullname.
        (
            "CREATE SINK s FROM every INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             (AVRO VALUE FULLNAME 'a-b') ENVELOPE DEBEZIUM",
            "22023",
        ),
        // A key fullname without a value fullname, or without a key.
        (
            "CREATE SINK s FROM every INTO KAFKA CONNECTION kafka (TOPIC 'x') KEY (id) \
             NOT ENFORCED FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             (AVRO KEY FULLNAME 'k') ENVELOPE UPSERT",
            "22023",
        ),
        (
            "CREATE SINK s FROM every INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             (AVRO KEY FULLNAME 'k', AVRO VALUE FULLNAME 'v') ENVELOPE DEBEZIUM",
            "22023",
        ),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e).as_deref(), Some(code), "{sql}: {e:?}");
    }
    // A registry that cannot be reached: a connection error, and no sink.
    registry.set_down(true);
    let e = c
        .batch_execute(
            "CREATE SINK s FROM every INTO KAFKA CONNECTION kafka (TOPIC 'down') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM",
        )
        .await
        .expect_err("the registry is down");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    assert!(
        support::message(&e).contains("schema registry"),
        "{}",
        support::message(&e)
    );
    registry.set_down(false);
    let sinks = text_rows(&c, "SHOW SINKS").await;
    assert_eq!(sinks.len(), 1, "{sinks:?}");
}

/// Kills the server with `kill -9` while a writer changes the table the Avro sinks read,
/// restarts it (with the registry down first, if `registry_outage`), and checks the topics
/// against the table. `transactional`: no timestamp may be lost or written twice.
async fn avro_sink_restart(
    name: &str,
    bootstrap: &str,
    extra_options: &str,
    transactional: bool,
    registry_outage: bool,
) {
    let registry = SchemaRegistry::start().await;
    let mut server = TestServer::start(name).await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &format!("CREATE CONNECTION kafka TO KAFKA (BROKER '{bootstrap}'{extra_options})"),
            &registry.connection_sql(),
            ORDERS,
            "INSERT INTO orders VALUES (1, 'apple', 3, 1.50, NULL), (2, 'pear', 5, 0.75, NULL)",
            "CREATE SINK upsert FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'orders-upsert') \
             KEY (id) NOT ENFORCED \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE UPSERT",
            "CREATE SINK dbz FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'orders-dbz') \
             KEY (id) NOT ENFORCED \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM",
        ],
    )
    .await;
    let (upsert, dbz) = (Read::Upsert(&[0]), Read::Debezium);
    wait_for_sink(
        &c,
        bootstrap,
        &registry,
        "orders-upsert",
        upsert,
        ORDERS_SQL,
    )
    .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = support::write_orders(server.connect().await, stop.clone(), 1000);
    // Let the sinks write a while, then kill the server mid-stream.
    wait_for_messages(bootstrap, "orders-dbz", 2, 61, WAIT).await;
    drop(c);
    server.kill9();
    let written = writer.await.expect("the writer");
    assert!(written > 0);
    if registry_outage {
        registry.set_down(true);
    }
    server.restart().await;
    let c = server.connect().await;
    if registry_outage {
        // The sinks register their schemas again before they write: they stall, and say
        // why, until the registry answers.
        poll_until("the sinks to stall on the registry", WAIT, || async {
            let rows = try_text_rows(&c, "SHOW SINKS").await?;
            let stalled = rows.iter().all(|r| {
                r[2].as_deref()
                    .is_some_and(|s| s.starts_with("stalled") && s.contains("schema registry"))
            });
            if stalled {
                Ok(())
            } else {
                Err(format!("{rows:?}"))
            }
        })
        .await;
        registry.set_down(false);
    }
    // More changes after the restart.
    let writer = support::write_orders(server.connect().await, stop.clone(), 1_000_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.expect("the writer");
    let upsert_messages = wait_for_sink(
        &c,
        bootstrap,
        &registry,
        "orders-upsert",
        upsert,
        ORDERS_SQL,
    )
    .await;
    // Debezium is replayed strictly: a lost or repeated message fails the replay.
    let dbz_messages = wait_for_sink(&c, bootstrap, &registry, "orders-dbz", dbz, ORDERS_SQL).await;
    // Registering again after the restart found the same schemas: one version each.
    for (topic, messages) in [
        ("orders-upsert", &upsert_messages),
        ("orders-dbz", &dbz_messages),
    ] {
        check_schema_ids(&registry, topic, messages);
        if transactional {
            check_timestamps(messages).unwrap_or_else(|e| panic!("{topic}: {e}"));
        }
    }
    poll_until("the sinks to run", WAIT, || async {
        let rows = try_text_rows(&c, "SHOW SINKS").await?;
        if rows.iter().all(|r| r[2].as_deref() == Some("running")) && rows.len() == 2 {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
}

/// Brokers without transactions (tansu): after a `kill -9` mid-stream, and a registry that
/// is down when the server comes back, the topics again describe the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_sink_restart_without_transactions() {
    let broker = Broker::start("avro-sink-restart").await;
    avro_sink_restart(
        "kafka-avro-sink-restart",
        &broker.address(),
        "",
        false,
        true,
    )
    .await;
}

/// The transactional path, against librdkafka's mock cluster in this test process: a
/// `kill -9` mid-stream loses and repeats no timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_sink_restart_with_transactions_is_exactly_once() {
    let mock = rdkafka::mocking::MockCluster::new(1).expect("starting the mock cluster");
    // The mock cluster does not implement CreateTopics: create the topics here.
    for (topic, partitions) in [("orders-upsert", 2), ("orders-dbz", 2), ("progress", 1)] {
        mock.create_topic(topic, partitions, 1)
            .expect("creating a mock topic");
    }
    let bootstrap = mock.bootstrap_servers();
    avro_sink_restart(
        "kafka-avro-sink-txn",
        &bootstrap,
        ", PROGRESS TOPIC = 'progress'",
        true,
        false,
    )
    .await;
}
