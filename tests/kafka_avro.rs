//! Kafka sources in Avro, end to end, against a real Kafka-protocol broker (a `tansu` per test,
//! `tests/support/kafka.rs`) and a Confluent Schema Registry stand-in
//! (`tests/support/registry.rs`).
//!
//! Records are in the Confluent wire format:
//!
//! * [`avro_typed_columns_from_the_registry`]: the latest `<topic>-value` schema gives typed
//!   columns, stored as `SEED VALUE SCHEMA` in the definition; a view agrees with one-shot.
//! * [`avro_schema_evolution_and_decode_errors`]: records of an older and a newer writer
//!   schema read through one reader schema; an unknown schema id, a datum that does not
//!   decode and a wrong magic byte are decode errors of the source.
//! * [`avro_debezium_postgres`]: Debezium's PostgreSQL envelope in Avro (`before`/`after`,
//!   `source`, `op` r/c/u/d, `ts_ms`, `transaction`, tombstones, a redelivery).
//! * [`avro_debezium_transaction_metadata`]: `TRANSACTION METADATA` with an Avro transaction
//!   topic: a transaction's events show only with its `END`, together.
//! * [`avro_upsert_with_avro_key`]: `ENVELOPE UPSERT` with a record key, against a model.
//! * [`avro_restart_without_the_registry`]: basic authentication with a secret; after `kill
//!   -9` with the registry down, the source's columns and rows are back without asking the
//!   registry; a new record stalls the source until the registry answers again.
//! * [`avro_registry_connection_validation`]: an unreachable registry is refused (08000).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::kafka::{Broker, Record, produce};
use support::{
    TestServer, exec, expect_rows, free_port, message, poll_until, sqlstate, text_rows,
    try_text_rows, wait_for_rows,
};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

/// A value schema with one field of each type Freshet maps.
const TYPES_SCHEMA: &str = r#"{
  "type": "record", "name": "Reading", "namespace": "test.avro",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "ok", "type": "boolean"},
    {"name": "n", "type": "int"},
    {"name": "ratio", "type": "float"},
    {"name": "score", "type": "double"},
    {"name": "label", "type": ["null", "string"], "default": null},
    {"name": "raw", "type": "bytes"},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "point", "type": {"type": "record", "name": "Point", "fields": [
      {"name": "x", "type": "int"}, {"name": "y", "type": "int"}]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}}
  ]
}"#;

fn reading(id: i64, label: Option<&str>) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    use support::registry::{branch, null, record};
    record(vec![
        ("id", Value::Long(id)),
        ("ok", Value::Boolean(id % 2 == 0)),
        ("n", Value::Int(-(id as i32))),
        ("ratio", Value::Float(0.5)),
        ("score", Value::Double(id as f64 * 1.25)),
        (
            "label",
            label.map_or_else(null, |l| branch(1, Value::String(l.into()))),
        ),
        ("raw", Value::Bytes(vec![0xde, 0xad, id as u8])),
        ("color", Value::Enum(1, "GREEN".into())),
        (
            "price",
            Value::Decimal(apache_avro::Decimal::from(java_bytes(12345 * id as i32))),
        ),
        ("day", Value::Date(19_723)),
        ("at", Value::TimeMicros(45_296_500_000)),
        ("ts", Value::TimestampMillis(1_704_067_200_000 + id)),
        (
            "uid",
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
        ),
        (
            "point",
            record(vec![("x", Value::Int(1)), ("y", Value::Int(id as i32))]),
        ),
        (
            "tags",
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_typed_columns_from_the_registry() {
    let broker = Broker::start("avro-types").await;
    broker.create_topic("readings", 1).await;
    let registry = support::registry::SchemaRegistry::start().await;
    let id = registry.register("readings-value", TYPES_SCHEMA);
    let server = TestServer::start("kafka-avro-types").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            "CREATE SOURCE readings FROM KAFKA CONNECTION kafka (TOPIC 'readings') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr",
            // Maintained from the start, as records arrive.
            "CREATE MATERIALIZED VIEW by_color AS \
             SELECT color, count(*) AS n, sum(price) AS total FROM readings GROUP BY color",
        ],
    )
    .await;
    assert_eq!(
        text_rows(&c, "SHOW COLUMNS FROM readings").await,
        expect_rows(&[
            &["id", "f", "bigint"],
            &["ok", "f", "boolean"],
            &["n", "f", "integer"],
            &["ratio", "f", "real"],
            &["score", "f", "double precision"],
            &["label", "t", "text"],
            &["raw", "f", "bytea"],
            &["color", "f", "text"],
            &["price", "f", "numeric(10,2)"],
            &["day", "f", "date"],
            &["at", "f", "time without time zone"],
            &["ts", "f", "timestamp without time zone"],
            &["uid", "f", "uuid"],
            &["point", "f", "jsonb"],
            &["tags", "f", "jsonb"],
        ])
    );
    // The stored definition carries the schema it was created with.
    let create = text_rows(&c, "SHOW CREATE SOURCE readings").await;
    let create_sql = create[0][1].clone().unwrap();
    assert!(
        create_sql.contains("SEED VALUE SCHEMA '{") && create_sql.contains("\"Reading\""),
        "{create_sql}"
    );

    let values: Vec<Vec<u8>> = (1..=3)
        .map(|i| {
            support::registry::confluent_avro(id, TYPES_SCHEMA, reading(i, (i != 2).then_some("x")))
        })
        .collect();
    let records: Vec<Record<'_>> = values.iter().map(|v| (0, None, Some(&v[..]))).collect();
    produce(&broker.producer(), "readings", &records).await;
    wait_for_rows(
        &c,
        "SELECT id, ok, n, ratio, score, label, raw, color, price, day, at, ts, uid, point, tags \
         FROM readings ORDER BY id",
        &expect_rows(&[
            &[
                "1",
                "f",
                "-1",
                "0.5",
                "1.25",
                "x",
                "\\xdead01",
                "GREEN",
                "123.45",
                "2024-01-01",
                "12:34:56.5",
                "2024-01-01 00:00:00.001",
                "67e55044-10b1-426f-9247-bb680e5fe0c8",
                "{\"x\": 1, \"y\": 1}",
                "[\"a\", \"b\"]",
            ],
            &[
                "2",
                "t",
                "-2",
                "0.5",
                "2.5",
                "NULL",
                "\\xdead02",
                "GREEN",
                "246.90",
                "2024-01-01",
                "12:34:56.5",
                "2024-01-01 00:00:00.002",
                "67e55044-10b1-426f-9247-bb680e5fe0c8",
                "{\"x\": 1, \"y\": 2}",
                "[\"a\", \"b\"]",
            ],
            &[
                "3",
                "f",
                "-3",
                "0.5",
                "3.75",
                "x",
                "\\xdead03",
                "GREEN",
                "370.35",
                "2024-01-01",
                "12:34:56.5",
                "2024-01-01 00:00:00.003",
                "67e55044-10b1-426f-9247-bb680e5fe0c8",
                "{\"x\": 1, \"y\": 3}",
                "[\"a\", \"b\"]",
            ],
        ]),
    )
    .await;
    // The view, maintained incrementally, agrees with the query run one-shot.
    let expected = expect_rows(&[&["GREEN", "3", "740.70"]]);
    wait_for_rows(&c, "SELECT color, n, total FROM by_color", &expected).await;
    assert_eq!(
        text_rows(
            &c,
            "SELECT color, count(*), sum(price) FROM readings GROUP BY color"
        )
        .await,
        expected
    );
    // Typed columns work in expressions without casts.
    assert_eq!(
        text_rows(
            &c,
            "SELECT id, point->>'y' FROM readings WHERE price > 200 AND ok AND label IS NULL"
        )
        .await,
        expect_rows(&[&["2", "2"]])
    );
}

/// A user record as first registered.
const USER_V1: &str = r#"{"type": "record", "name": "User", "namespace": "test.avro", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "legacy", "type": "int", "default": 0}]}"#;
/// v2, the reader schema: `legacy` removed, `email` added with a default.
const USER_V2: &str = r#"{"type": "record", "name": "User", "namespace": "test.avro", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": null}]}"#;
/// v3, registered after the source: adds `plan` (the reader ignores it).
const USER_V3: &str = r#"{"type": "record", "name": "User", "namespace": "test.avro", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": null},
    {"name": "plan", "type": "string", "default": "free"}]}"#;

fn user(version: u8, id: i64, name: &str) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    use support::registry::{branch, record};
    let mut fields = vec![
        ("id", Value::Long(id)),
        ("name", Value::String(name.into())),
    ];
    match version {
        1 => fields.push(("legacy", Value::Int(7))),
        _ => fields.push((
            "email",
            branch(1, Value::String(format!("{name}@example.com"))),
        )),
    }
    if version == 3 {
        fields.push(("plan", Value::String("pro".into())));
    }
    record(fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_schema_evolution_and_decode_errors() {
    use support::registry::confluent_avro;
    let broker = Broker::start("avro-evolution").await;
    broker.create_topic("users", 1).await;
    broker.create_topic("other", 1).await;
    let registry = support::registry::SchemaRegistry::start().await;
    let v1 = registry.register("users-value", USER_V1);
    let v2 = registry.register("users-value", USER_V2);
    let other = registry.register("other-value", USER_V2);
    let server = TestServer::start("kafka-avro-evolution").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            "CREATE SOURCE users FROM KAFKA CONNECTION kafka (TOPIC 'users') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr INCLUDE OFFSET",
            "CREATE SOURCE other FROM KAFKA CONNECTION kafka (TOPIC 'other') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr",
        ],
    )
    .await;
    let names: Vec<Option<String>> = text_rows(&c, "SHOW COLUMNS FROM users")
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(
        names,
        ["id", "name", "email", "offset"].map(|n| Some(n.to_string()))
    );
    // A newer writer schema registered after the source was created.
    let v3 = registry.register("users-value", USER_V3);
    let values = [
        confluent_avro(v1, USER_V1, user(1, 1, "ann")),
        confluent_avro(v2, USER_V2, user(2, 2, "bob")),
        confluent_avro(v3, USER_V3, user(3, 3, "cy")),
    ];
    let records: Vec<Record<'_>> = values.iter().map(|v| (0, None, Some(&v[..]))).collect();
    produce(&broker.producer(), "users", &records).await;
    wait_for_rows(
        &c,
        "SELECT id, name, email, \"offset\" FROM users ORDER BY id",
        &expect_rows(&[
            &["1", "ann", "NULL", "0"],
            &["2", "bob", "bob@example.com", "1"],
            &["3", "cy", "cy@example.com", "2"],
        ]),
    )
    .await;

    // An unknown schema id, garbage, and a wrong magic byte: each an error of the source.
    let mut unknown_id = confluent_avro(other, USER_V2, user(2, 4, "dee"));
    unknown_id[1..5].copy_from_slice(&999i32.to_be_bytes());
    let garbage = [0u8, 0, 0, 0, other as u8, 0xff, 0xff, 0xff];
    produce(
        &broker.producer(),
        "other",
        &[
            (
                0,
                None,
                Some(&confluent_avro(other, USER_V2, user(2, 5, "eve"))[..]),
            ),
            (0, None, Some(&unknown_id[..])),
        ],
    )
    .await;
    let e = poll_until("the unknown schema id to fail reads", WAIT, || async {
        match c.simple_query("SELECT * FROM other").await {
            Err(e) if message(&e).contains("Decode error") => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let msg = message(&e);
    assert!(
        msg.contains("unknown schema id 999") && msg.contains("partition 0 offset 1"),
        "{msg}"
    );
    assert_eq!(sqlstate(&e).as_deref(), Some("22000"), "{msg}");
    produce(
        &broker.producer(),
        "users",
        &[
            (0, None, Some(&garbage[..])),
            (0, None, Some(b"{\"json\": 1}")),
        ],
    )
    .await;
    poll_until("both bad user records to be reported", WAIT, || async {
        match c.simple_query("SELECT count(*) FROM users").await {
            Err(e) if message(&e).contains("Decode error") => {
                let m = message(&e);
                if m.contains("undecodable Avro datum") || m.contains("magic byte 0x7b") {
                    Ok(())
                } else {
                    Err(m)
                }
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // The server and the registry's other subjects are fine; nothing was skipped.
    let status = text_rows(&c, "SHOW SOURCES").await;
    assert!(
        status.iter().all(|r| r[2].as_deref() == Some("running")),
        "{status:?}"
    );
    assert!(
        registry
            .requests()
            .contains(&"/schemas/ids/999".to_string()),
        "{:?}",
        registry.requests()
    );
}

/// The key schema Debezium's Avro converter registers for `dbserver1.inventory.orders`
/// (`<topic>-key`): the primary key's columns.
const DEBEZIUM_KEY: &str = r#"{"type": "record", "name": "Key",
  "namespace": "dbserver1.inventory.orders",
  "fields": [{"name": "id", "type": "int"}],
  "connect.name": "dbserver1.inventory.orders.Key"}"#;

/// The value schema Debezium's PostgreSQL connector (2.5) registers through the Avro
/// converter: the `Envelope` with `before`/`after` images of the row record `Value`, the
/// connector's `source` block, `op`, `ts_ms` and `transaction`. `price` is a NUMERIC(10,2)
/// column (Connect's `Decimal`).
const DEBEZIUM_ENVELOPE: &str = r#"{
  "type": "record", "name": "Envelope", "namespace": "dbserver1.inventory.orders",
  "fields": [
    {"name": "before", "type": ["null", {
      "type": "record", "name": "Value",
      "fields": [
        {"name": "id", "type": "int"},
        {"name": "item", "type": ["null", "string"], "default": null},
        {"name": "qty", "type": ["null", "int"], "default": null},
        {"name": "price", "type": ["null", {"type": "bytes", "scale": 2, "precision": 10,
          "connect.version": 1,
          "connect.parameters": {"scale": "2", "connect.decimal.precision": "10"},
          "connect.name": "org.apache.kafka.connect.data.Decimal",
          "logicalType": "decimal"}], "default": null}
      ],
      "connect.name": "dbserver1.inventory.orders.Value"}], "default": null},
    {"name": "after", "type": ["null", "Value"], "default": null},
    {"name": "source", "type": {
      "type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql",
      "fields": [
        {"name": "version", "type": "string"},
        {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ts_ms", "type": "long"},
        {"name": "snapshot", "type": [{"type": "string", "connect.version": 1,
          "connect.parameters": {"allowed": "true,last,false,incremental"},
          "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"],
          "default": "false"},
        {"name": "db", "type": "string"},
        {"name": "sequence", "type": ["null", "string"], "default": null},
        {"name": "schema", "type": "string"},
        {"name": "table", "type": "string"},
        {"name": "txId", "type": ["null", "long"], "default": null},
        {"name": "lsn", "type": ["null", "long"], "default": null},
        {"name": "xmin", "type": ["null", "long"], "default": null}
      ],
      "connect.name": "io.debezium.connector.postgresql.Source"}},
    {"name": "op", "type": "string"},
    {"name": "ts_ms", "type": ["null", "long"], "default": null},
    {"name": "transaction", "type": ["null", {
      "type": "record", "name": "block", "namespace": "event",
      "fields": [
        {"name": "id", "type": "string"},
        {"name": "total_order", "type": "long"},
        {"name": "data_collection_order", "type": "long"}
      ],
      "connect.version": 1, "connect.name": "event.block"}], "default": null}
  ],
  "connect.version": 1, "connect.name": "dbserver1.inventory.orders.Envelope"
}"#;

/// An `orders` row: id, item, qty, price in cents.
type OrderRow = (i32, &'static str, i32, i32);

/// The unscaled value of a decimal as Java's `BigInteger.toByteArray()` writes it (and so
/// Debezium): the shortest two's complement, big-endian.
fn java_bytes(unscaled: i32) -> Vec<u8> {
    let bytes = unscaled.to_be_bytes();
    let mut start = 0;
    while start < 3
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    bytes[start..].to_vec()
}

/// A Debezium change event for `orders`, as the PostgreSQL connector writes it; `transaction`
/// is the `transaction` block's id and the event's position in the transaction (both
/// overall and in `orders`, the only table the tests' transactions touch).
fn debezium_avro_event(
    op: &str,
    before: Option<OrderRow>,
    after: Option<OrderRow>,
    ts_ms: i64,
    transaction: Option<(&str, i64)>,
) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    use support::registry::{branch, null, record};
    let image = |row: Option<OrderRow>| match row {
        None => null(),
        Some((id, item, qty, cents)) => branch(
            1,
            record(vec![
                ("id", Value::Int(id)),
                ("item", branch(1, Value::String(item.into()))),
                ("qty", branch(1, Value::Int(qty))),
                (
                    "price",
                    branch(
                        1,
                        Value::Decimal(apache_avro::Decimal::from(java_bytes(cents))),
                    ),
                ),
            ]),
        ),
    };
    let lsn = 34_120_944 + ts_ms;
    record(vec![
        ("before", image(before)),
        ("after", image(after)),
        (
            "source",
            record(vec![
                ("version", Value::String("2.5.0.Final".into())),
                ("connector", Value::String("postgresql".into())),
                ("name", Value::String("dbserver1".into())),
                ("ts_ms", Value::Long(ts_ms)),
                (
                    "snapshot",
                    Value::Union(
                        0,
                        Box::new(Value::String(
                            if op == "r" { "true" } else { "false" }.into(),
                        )),
                    ),
                ),
                ("db", Value::String("inventory".into())),
                (
                    "sequence",
                    branch(1, Value::String(format!("[null,\"{lsn}\"]"))),
                ),
                ("schema", Value::String("inventory".into())),
                ("table", Value::String("orders".into())),
                ("txId", branch(1, Value::Long(780))),
                ("lsn", branch(1, Value::Long(lsn))),
                ("xmin", null()),
            ]),
        ),
        ("op", Value::String(op.into())),
        ("ts_ms", branch(1, Value::Long(ts_ms + 5))),
        (
            "transaction",
            match transaction {
                None => null(),
                Some((id, order)) => branch(
                    1,
                    record(vec![
                        ("id", Value::String(id.into())),
                        ("total_order", Value::Long(order)),
                        ("data_collection_order", Value::Long(order)),
                    ]),
                ),
            },
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_debezium_postgres() {
    use support::registry::{confluent_avro, record};
    let topic = "dbserver1.inventory.orders";
    let broker = Broker::start("avro-debezium").await;
    broker.create_topic(topic, 1).await;
    let registry = support::registry::SchemaRegistry::start().await;
    let key_id = registry.register(&format!("{topic}-key"), DEBEZIUM_KEY);
    let value_id = registry.register(&format!("{topic}-value"), DEBEZIUM_ENVELOPE);
    let server = TestServer::start("kafka-avro-debezium").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            &format!(
                "CREATE SOURCE orders FROM KAFKA CONNECTION kafka (TOPIC '{topic}') \
                 FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM"
            ),
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT item, sum(qty) AS qty, sum(price * qty) AS value FROM orders GROUP BY item",
        ],
    )
    .await;
    // The columns are the row record's, not the envelope's.
    assert_eq!(
        text_rows(&c, "SHOW COLUMNS FROM orders").await,
        expect_rows(&[
            &["id", "f", "integer"],
            &["item", "t", "text"],
            &["qty", "t", "integer"],
            &["price", "t", "numeric(10,2)"],
        ])
    );
    let key = |id: i32| {
        confluent_avro(
            key_id,
            DEBEZIUM_KEY,
            record(vec![("id", apache_avro::types::Value::Int(id))]),
        )
    };
    let event = |op, before, after, ts| {
        Some(confluent_avro(
            value_id,
            DEBEZIUM_ENVELOPE,
            debezium_avro_event(op, before, after, ts, None),
        ))
    };
    let events: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        // The snapshot.
        (key(1), event("r", None, Some((1, "apple", 3, 150)), 1000)),
        (key(2), event("r", None, Some((2, "pear", 5, 99)), 1000)),
        // Streaming changes.
        (key(3), event("c", None, Some((3, "plum", 7, 25)), 2000)),
        (
            key(1),
            event(
                "u",
                Some((1, "apple", 3, 150)),
                Some((1, "apple", 4, 150)),
                3000,
            ),
        ),
        (key(2), event("d", Some((2, "pear", 5, 99)), None, 4000)),
        // The tombstone that follows a delete.
        (key(2), None),
        // A redelivered event (Debezium is at-least-once): no double count.
        (key(3), event("c", None, Some((3, "plum", 7, 25)), 2000)),
    ];
    let records: Vec<Record<'_>> = events
        .iter()
        .map(|(k, v)| (0, Some(&k[..]), v.as_deref()))
        .collect();
    produce(&broker.producer(), topic, &records).await;
    wait_for_rows(
        &c,
        "SELECT id, item, qty, price FROM orders ORDER BY id",
        &expect_rows(&[&["1", "apple", "4", "1.50"], &["3", "plum", "7", "0.25"]]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT item, qty, value FROM totals ORDER BY item",
        &expect_rows(&[&["apple", "4", "6.00"], &["plum", "7", "1.75"]]),
    )
    .await;
    // Deleting the last row of a key through a second update and delete.
    let more: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        (
            key(3),
            event(
                "u",
                Some((3, "plum", 7, 25)),
                Some((3, "plum", 8, 30)),
                5000,
            ),
        ),
        (key(1), event("d", Some((1, "apple", 4, 150)), None, 6000)),
        (key(1), None),
    ];
    let records: Vec<Record<'_>> = more
        .iter()
        .map(|(k, v)| (0, Some(&k[..]), v.as_deref()))
        .collect();
    produce(&broker.producer(), topic, &records).await;
    wait_for_rows(
        &c,
        "SELECT item, qty, value FROM totals ORDER BY item",
        &expect_rows(&[&["plum", "8", "2.40"]]),
    )
    .await;
}

/// The value schema of Debezium's transaction topic (`<server>.transaction`) through the
/// Avro converter: a `BEGIN` and an `END` record per transaction, the `END` counting its
/// events per table.
const DEBEZIUM_TRANSACTION: &str = r#"{
  "type": "record", "name": "TransactionMetadataValue", "namespace": "io.debezium.connector.common",
  "fields": [
    {"name": "status", "type": "string"},
    {"name": "id", "type": "string"},
    {"name": "event_count", "type": ["null", "long"], "default": null},
    {"name": "data_collections", "type": ["null", {"type": "array", "items": {
      "type": "record", "name": "ConnectDefault", "namespace": "io.confluent.connect.avro",
      "fields": [
        {"name": "data_collection", "type": "string"},
        {"name": "event_count", "type": "long"}
      ]}}], "default": null},
    {"name": "ts_ms", "type": "long"}
  ],
  "connect.version": 1, "connect.name": "io.debezium.connector.common.TransactionMetadataValue"
}"#;

/// A record of the transaction topic: `BEGIN`, or `END` with `orders` events in
/// `inventory.orders`.
fn transaction_record(status: &str, id: &str, orders: Option<i64>) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    use support::registry::{branch, null, record};
    let (count, collections) = match orders {
        None => (null(), null()),
        Some(n) => (
            branch(1, Value::Long(n)),
            branch(
                1,
                Value::Array(vec![record(vec![
                    ("data_collection", Value::String("inventory.orders".into())),
                    ("event_count", Value::Long(n)),
                ])]),
            ),
        ),
    };
    record(vec![
        ("status", Value::String(status.into())),
        ("id", Value::String(id.into())),
        ("event_count", count),
        ("data_collections", collections),
        ("ts_ms", Value::Long(1_700_000_000_000)),
    ])
}

/// `ENVELOPE DEBEZIUM (TRANSACTION METADATA …)` with Avro events and an Avro transaction
/// topic: a transaction's events stay invisible until its `END` is read, then show together;
/// events outside transactions show at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_debezium_transaction_metadata() {
    use support::registry::{confluent_avro, record};
    let topic = "dbserver1.inventory.orders";
    let tx_topic = "dbserver1.transaction";
    let broker = Broker::start("avro-debezium-tx").await;
    broker.create_topic(topic, 2).await;
    broker.create_topic(tx_topic, 1).await;
    let registry = support::registry::SchemaRegistry::start().await;
    let key_id = registry.register(&format!("{topic}-key"), DEBEZIUM_KEY);
    let value_id = registry.register(&format!("{topic}-value"), DEBEZIUM_ENVELOPE);
    let tx_id = registry.register(&format!("{tx_topic}-value"), DEBEZIUM_TRANSACTION);
    let server = TestServer::start("kafka-avro-debezium-tx").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            &format!(
                "CREATE SOURCE tx FROM KAFKA CONNECTION kafka (TOPIC '{tx_topic}') \
                 FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr"
            ),
            &format!(
                "CREATE SOURCE orders FROM KAFKA CONNECTION kafka (TOPIC '{topic}') \
                 FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
                 ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx, COLLECTION 'inventory.orders'))"
            ),
        ],
    )
    .await;
    let key = |id: i32| {
        confluent_avro(
            key_id,
            DEBEZIUM_KEY,
            record(vec![("id", apache_avro::types::Value::Int(id))]),
        )
    };
    let event = |op, before, after, ts, transaction| {
        confluent_avro(
            value_id,
            DEBEZIUM_ENVELOPE,
            debezium_avro_event(op, before, after, ts, transaction),
        )
    };
    let tx_record = |status, id, orders| {
        confluent_avro(
            tx_id,
            DEBEZIUM_TRANSACTION,
            transaction_record(status, id, orders),
        )
    };
    let producer = broker.producer();
    // Transaction 571 inserts two orders; its END is not written yet.
    let begin = tx_record("BEGIN", "571:34120944", None);
    produce(&producer, tx_topic, &[(0, None, Some(&begin[..]))]).await;
    let (k1, k2, k3) = (key(1), key(2), key(3));
    let first = event(
        "c",
        None,
        Some((1, "apple", 3, 150)),
        1000,
        Some(("571:34120944", 1)),
    );
    let second = event(
        "c",
        None,
        Some((2, "pear", 5, 99)),
        1000,
        Some(("571:34120944", 2)),
    );
    // A snapshot read outside any transaction, produced after them into the other partition
    // (a held event holds back the rest of its own partition).
    let outside = event("r", None, Some((3, "plum", 7, 25)), 900, None);
    produce(
        &producer,
        topic,
        &[
            (0, Some(&k1[..]), Some(&first[..])),
            (0, Some(&k2[..]), Some(&second[..])),
            (1, Some(&k3[..]), Some(&outside[..])),
        ],
    )
    .await;
    // The event outside the transaction shows; once it has, the reader has fetched past the
    // transaction's events (one broker answers for both partitions), which must not show
    // without their END.
    let query = "SELECT id, item FROM orders ORDER BY id";
    wait_for_rows(&c, query, &expect_rows(&[&["3", "plum"]])).await;
    for _ in 0..5 {
        assert_eq!(
            text_rows(&c, query).await,
            expect_rows(&[&["3", "plum"]]),
            "an incomplete transaction became visible"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its END (two events in inventory.orders) releases both events together.
    let end = tx_record("END", "571:34120944", Some(2));
    produce(&producer, tx_topic, &[(0, None, Some(&end[..]))]).await;
    wait_for_rows(
        &c,
        query,
        &expect_rows(&[&["1", "apple"], &["2", "pear"], &["3", "plum"]]),
    )
    .await;
}

const ACCOUNT_KEY: &str = r#"{"type": "record", "name": "AccountKey", "namespace": "test.avro",
  "fields": [{"name": "region", "type": "string"}, {"name": "account", "type": "long"}]}"#;
const ACCOUNT_VALUE: &str = r#"{"type": "record", "name": "Account", "namespace": "test.avro",
  "fields": [{"name": "owner", "type": "string"}, {"name": "balance", "type": "long"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_upsert_with_avro_key() {
    use apache_avro::types::Value;
    use support::registry::{confluent_avro, record};
    let broker = Broker::start("avro-upsert").await;
    broker.create_topic("accounts", 2).await;
    let registry = support::registry::SchemaRegistry::start().await;
    let key_id = registry.register("accounts-key", ACCOUNT_KEY);
    let value_id = registry.register("accounts-value", ACCOUNT_VALUE);
    let server = TestServer::start("kafka-avro-upsert").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            &registry.connection_sql(),
            "CREATE SOURCE accounts FROM KAFKA CONNECTION kafka (TOPIC 'accounts') \
             KEY FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             VALUE FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             ENVELOPE UPSERT",
            "CREATE MATERIALIZED VIEW by_region AS \
             SELECT region, count(*) AS n, sum(balance) AS total FROM accounts GROUP BY region",
        ],
    )
    .await;
    assert_eq!(
        text_rows(&c, "SHOW COLUMNS FROM accounts").await,
        expect_rows(&[
            &["region", "f", "text"],
            &["account", "f", "bigint"],
            &["owner", "f", "text"],
            &["balance", "f", "bigint"],
        ])
    );
    // A model of upsert semantics: the last value per key; a null value deletes it.
    let regions = ["eu", "us"];
    let mut model: BTreeMap<(String, i64), (String, i64)> = BTreeMap::new();
    let mut records: Vec<(i32, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for i in 0..120i64 {
        let region = regions[(i % 2) as usize];
        let account = i % 11;
        let key = confluent_avro(
            key_id,
            ACCOUNT_KEY,
            record(vec![
                ("region", Value::String(region.into())),
                ("account", Value::Long(account)),
            ]),
        );
        let value = (i % 7 != 6).then(|| {
            let owner = format!("owner{}", i % 5);
            model.insert((region.into(), account), (owner.clone(), i * 10));
            confluent_avro(
                value_id,
                ACCOUNT_VALUE,
                record(vec![
                    ("owner", Value::String(owner)),
                    ("balance", Value::Long(i * 10)),
                ]),
            )
        });
        if value.is_none() {
            model.remove(&(region.to_string(), account));
        }
        // One partition per key, as a key-hashing producer would.
        records.push(((i % 2) as i32, key, value));
    }
    let borrowed: Vec<Record<'_>> = records
        .iter()
        .map(|(p, k, v)| (*p, Some(&k[..]), v.as_deref()))
        .collect();
    produce(&broker.producer(), "accounts", &borrowed).await;
    let expected: support::Rows = model
        .iter()
        .map(|((r, a), (o, b))| {
            vec![
                Some(r.clone()),
                Some(a.to_string()),
                Some(o.clone()),
                Some(b.to_string()),
            ]
        })
        .collect();
    wait_for_rows(
        &c,
        "SELECT region, account, owner, balance FROM accounts ORDER BY region, account",
        &expected,
    )
    .await;
    let mut per_region: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for ((r, _), (_, b)) in &model {
        let e = per_region.entry(r.clone()).or_default();
        e.0 += 1;
        e.1 += b;
    }
    let expected: support::Rows = per_region
        .iter()
        .map(|(r, (n, t))| vec![Some(r.clone()), Some(n.to_string()), Some(t.to_string())])
        .collect();
    wait_for_rows(
        &c,
        "SELECT region, n, total FROM by_region ORDER BY region",
        &expected,
    )
    .await;
    // The source depends on its registry connection.
    let e = c
        .batch_execute("DROP CONNECTION csr")
        .await
        .expect_err("the connection is in use");
    assert_eq!(sqlstate(&e).as_deref(), Some("2BP01"), "{e:?}");
    exec(&c, &["DROP CONNECTION csr CASCADE"]).await;
    assert_eq!(text_rows(&c, "SHOW SOURCES").await, expect_rows(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_restart_without_the_registry() {
    use support::registry::confluent_avro;
    let broker = Broker::start("avro-restart").await;
    broker.create_topic("users", 1).await;
    let registry = support::registry::SchemaRegistry::start().await;
    registry.require_auth("freshet", "s3cret");
    let v2 = registry.register("users-value", USER_V2);
    let mut server = TestServer::start("kafka-avro-restart").await;
    let c = server.connect().await;
    // Wrong credentials are refused at creation.
    let e = c
        .batch_execute(&format!(
            "CREATE CONNECTION bad TO CONFLUENT SCHEMA REGISTRY (URL '{}', USERNAME 'freshet', \
             PASSWORD 'wrong')",
            registry.url()
        ))
        .await
        .expect_err("wrong credentials");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SECRET csr_password AS 's3cret'",
            &format!(
                "CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (URL '{}', \
                 USERNAME = 'freshet', PASSWORD = SECRET csr_password)",
                registry.url()
            ),
            "CREATE SOURCE users FROM KAFKA CONNECTION kafka (TOPIC 'users') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr",
        ],
    )
    .await;
    let first = [
        confluent_avro(v2, USER_V2, user(2, 1, "ann")),
        confluent_avro(v2, USER_V2, user(2, 2, "bob")),
    ];
    let records: Vec<Record<'_>> = first.iter().map(|v| (0, None, Some(&v[..]))).collect();
    produce(&broker.producer(), "users", &records).await;
    wait_for_rows(
        &c,
        "SELECT id, name FROM users ORDER BY id",
        &expect_rows(&[&["1", "ann"], &["2", "bob"]]),
    )
    .await;

    // The registry goes down; the server is killed and comes back.
    registry.set_down(true);
    let before_restart = registry.requests().len();
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    // The columns and the stored rows need no registry.
    assert_eq!(
        text_rows(&c, "SHOW COLUMNS FROM users").await,
        expect_rows(&[
            &["id", "f", "bigint"],
            &["name", "f", "text"],
            &["email", "t", "text"],
        ])
    );
    wait_for_rows(
        &c,
        "SELECT id, name, email FROM users ORDER BY id",
        &expect_rows(&[
            &["1", "ann", "ann@example.com"],
            &["2", "bob", "bob@example.com"],
        ]),
    )
    .await;
    let asked: Vec<String> = registry.requests()[before_restart..].to_vec();
    assert!(
        asked.iter().all(|p| !p.starts_with("/subjects")),
        "the restarted server asked for subjects: {asked:?}"
    );
    // A new record needs its writer schema: while the registry is down the source stalls
    // (the record is retried, not turned into an error) ...
    let third = confluent_avro(v2, USER_V2, user(2, 3, "cy"));
    produce(&broker.producer(), "users", &[(0, None, Some(&third[..]))]).await;
    poll_until("the source to stall on the registry", WAIT, || async {
        let rows = try_text_rows(&c, "SHOW SOURCES").await?;
        match rows.first().and_then(|r| r[2].clone()) {
            Some(s) if s.starts_with("stalled") && s.contains("schema registry") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        text_rows(&c, "SELECT count(*) FROM users").await,
        expect_rows(&[&["2"]])
    );
    // ... and reads it once the registry is back.
    registry.set_down(false);
    wait_for_rows(
        &c,
        "SELECT id, name FROM users ORDER BY id",
        &expect_rows(&[&["1", "ann"], &["2", "bob"], &["3", "cy"]]),
    )
    .await;
    poll_until("the source to run again", WAIT, || async {
        let rows = try_text_rows(&c, "SHOW SOURCES").await?;
        match rows.first().and_then(|r| r[2].clone()) {
            Some(s) if s == "running" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_registry_connection_validation() {
    let server = TestServer::start("kafka-avro-validation").await;
    let c = server.connect().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let e = c
        .batch_execute(&format!(
            "CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (URL '{dead}')"
        ))
        .await
        .expect_err("an unreachable registry is refused");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    assert!(message(&e).contains("schema registry"), "{e:?}");
    let e = c
        .batch_execute("CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (USERNAME 'u')")
        .await
        .expect_err("no URL");
    assert!(message(&e).contains("URL"), "{e:?}");
    exec(
        &c,
        &[
            &format!(
                "CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (URL '{dead}') \
                 WITH (VALIDATE = false)"
            ),
            &format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}') WITH (VALIDATE = false)",
                dead.trim_start_matches("http://")
            ),
        ],
    )
    .await;
    // A source cannot be created without its schema.
    let e = c
        .batch_execute(
            "CREATE SOURCE s FROM KAFKA CONNECTION kafka (TOPIC 't') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr",
        )
        .await
        .expect_err("the registry is unreachable");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    // A Kafka connection is not a registry connection.
    let e = c
        .batch_execute(
            "CREATE SOURCE s FROM KAFKA CONNECTION kafka (TOPIC 't') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION kafka",
        )
        .await
        .expect_err("wrong connection type");
    assert_eq!(sqlstate(&e).as_deref(), Some("42809"), "{e:?}");
}
