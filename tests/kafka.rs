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
//! * [`upsert_updates_deletes_and_tombstones`]: `KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE
//!   UPSERT`: the last value per key wins, a null value deletes; compared with a model.
//! * [`debezium_json_postgres_and_mysql`]: Debezium change events as the JSON converter writes
//!   them for the PostgreSQL connector (with the `schema`/`payload` wrapping) and the MySQL
//!   connector (without), with snapshot reads, inserts, updates, deletes and tombstones.
//! * [`decode_errors_are_visible_and_isolated`]: a malformed record makes reads of its source
//!   fail with a decode error, leaves other sources alone, and (in an upsert source) heals when
//!   the key gets a good value.
//! * [`restart_mid_stream_is_exactly_once`]: `kill -9` while records stream in; after the
//!   restart every record is there once (counted by partition and offset).
//! * [`connection_validation_and_status`]: an unreachable broker is refused at `CREATE
//!   CONNECTION` (SQLSTATE 08000) unless `VALIDATE = false`; such a source reports it in `SHOW
//!   SOURCES`.
//! * [`sink_upsert_and_debezium_follow_a_table`]: upsert and Debezium (keyed and keyless)
//!   sinks, read back with rdkafka, describe the table (and a `GROUP BY` view) after the
//!   snapshot and after inserts, updates and deletes; the JSON encoding; what `CREATE SINK`
//!   refuses; `DROP SINK`.
//! * [`sink_restart_without_transactions`]: `kill -9` mid-stream against tansu (no
//!   transactions): after the restart the topics again describe the table.
//! * [`sink_restart_with_transactions_is_exactly_once`]: the same against librdkafka's mock
//!   cluster (in the test process), which implements transactions: a strict Debezium replay
//!   and the `freshet-timestamp` headers show no lost and no repeated timestamp.
//!
//! The broker binary is found through `FRESHET_TANSU`, then `~/.cache/freshet-tools/bin/tansu`
//! (where `.ci/run` installs it), then `PATH`.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{
    ScratchDir, TestServer, expect_rows, free_port, message, poll_until, sqlstate, text_rows,
    try_text_rows,
};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

/// The tansu binary.
fn tansu_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FRESHET_TANSU") {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cache/freshet-tools/bin/tansu");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("tansu")
}

/// A tansu broker process on a free port.
struct Broker {
    child: Child,
    port: u16,
    _scratch: ScratchDir,
}

impl Broker {
    async fn start(name: &str) -> Broker {
        let scratch = ScratchDir::create(&format!("tansu-{name}"));
        let log =
            std::fs::File::create(scratch.path.join("tansu.log")).expect("creating the broker log");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_binary())
            .arg("broker")
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .current_dir(&scratch.path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning a file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting the tansu broker ({}): {e}; install it with \
                     `cargo install tansu --version 0.6.0 --features dynostore --locked` \
                     (see .ci/run)",
                    tansu_binary().display()
                )
            });
        let broker = Broker {
            child,
            port,
            _scratch: scratch,
        };
        poll_until("the broker to accept connections", WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        broker
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.address());
        c
    }

    async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            self.config().create().expect("creating an admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics(
                &[topic],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("creating a topic");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    fn producer(&self) -> FutureProducer {
        self.config()
            .set("linger.ms", "0")
            .set("message.timeout.ms", "30000")
            .create()
            .expect("creating a producer")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A record to produce: partition, key, value.
type Record<'a> = (i32, Option<&'a [u8]>, Option<&'a [u8]>);

/// Produces `records` in order and waits for each acknowledgement.
async fn produce(producer: &FutureProducer, topic: &str, records: &[Record<'_>]) {
    for (partition, key, value) in records {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).partition(*partition);
        if let Some(k) = key {
            record = record.key(*k);
        }
        if let Some(v) = value {
            record = record.payload(*v);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("producing to {topic}: {e}"));
    }
}

/// Runs `sql` statements one by one.
async fn exec(client: &tokio_postgres::Client, statements: &[&str]) {
    for sql in statements {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("`{sql}`: {e:?}"));
    }
}

/// Polls `sql` until it returns `expected`.
async fn wait_for_rows(client: &tokio_postgres::Client, sql: &str, expected: &support::Rows) {
    poll_until(&format!("`{sql}` to return {expected:?}"), WAIT, || async {
        let rows = try_text_rows(client, sql).await?;
        if &rows == expected {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_source_with_metadata_and_view() {
    let broker = Broker::start("json").await;
    broker.create_topic("purchases", 3).await;
    let server = TestServer::start("kafka-json").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &format!("CREATE CONNECTION kafka TO KAFKA (BROKER '{}')", broker.address()),
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
            &format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}')",
                broker.address()
            ),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_updates_deletes_and_tombstones() {
    let broker = Broker::start("upsert").await;
    broker.create_topic("customers", 2).await;
    let server = TestServer::start("kafka-upsert").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}')",
                broker.address()
            ),
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
    wait_for_rows(&c, "SELECT city, n FROM by_city ORDER BY city", &expected).await;
    let keys = text_rows(&c, "SELECT key, data->>'v' FROM customers ORDER BY key").await;
    let expected_keys: support::Rows = model
        .iter()
        .map(|(k, v)| {
            let json: serde_json::Value = serde_json::from_str(v).unwrap();
            vec![Some(k.clone()), Some(json["v"].to_string())]
        })
        .collect();
    assert_eq!(keys, expected_keys, "upsert source contents vs the model");
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
            &format!("CREATE CONNECTION kafka TO KAFKA (BROKER '{}')", broker.address()),
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
            &format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}')",
                broker.address()
            ),
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
            &format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}')",
                broker.address()
            ),
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

// ---------------------------------------------------------------------------------------------
// Sinks
// ---------------------------------------------------------------------------------------------

/// One message read back from a sink's topic.
#[derive(Debug, Clone)]
struct SinkRecord {
    partition: i32,
    key: Option<serde_json::Value>,
    value: Option<serde_json::Value>,
    /// The `freshet-timestamp` header.
    ts: u64,
}

/// Reads every committed message of `topic` (all partitions, from the start to the current
/// end), in offset order per partition.
fn read_topic(bootstrap: &str, topic: &str) -> Result<Vec<SinkRecord>, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "freshet-test-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .set("log_level", "3")
        .create()
        .map_err(|e| e.to_string())?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic} has no partitions"));
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut remaining = std::collections::BTreeSet::new();
    for p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *p, Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        // tansu 0.6 reports a high watermark inside the last batch: read to the end of
        // file, as librdkafka reports it.
        if high > 0 {
            tpl.add_partition_offset(topic, *p, rdkafka::Offset::Offset(low))
                .map_err(|e| e.to_string())?;
            remaining.insert(*p);
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return Ok(out);
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !remaining.is_empty() {
        if std::time::Instant::now() > deadline {
            return Err(format!("reading {topic}: timed out; {} read", out.len()));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                remaining.remove(&p);
            }
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(m)) => {
                let parse = |b: Option<&[u8]>| {
                    b.map(|b| serde_json::from_slice::<serde_json::Value>(b).expect("JSON"))
                };
                let ts = m
                    .headers()
                    .and_then(|h| {
                        h.iter()
                            .find(|h| h.key == "freshet-timestamp")
                            .and_then(|h| h.value)
                            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    })
                    .expect("a freshet-timestamp header");
                out.push(SinkRecord {
                    partition: m.partition(),
                    key: parse(m.key()),
                    value: parse(m.payload()),
                    ts,
                });
            }
        }
    }
    Ok(out)
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
            &format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}')",
                broker.address()
            ),
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
        (
            "CREATE SINK s FROM orders INTO KAFKA CONNECTION kafka (TOPIC 'x') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION kafka ENVELOPE DEBEZIUM",
            "0A000",
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

/// Writes to `orders` until `stop` is set: inserts, updates and deletes, one statement (one
/// timestamp) at a time. Errors (the server being killed) end it.
fn write_orders(
    server_conn: support::Conn,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut n = 0;
        for i in 1000.. {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let sql = match i % 3 {
                0 => format!("UPDATE orders SET qty = qty + 1 WHERE id = {}", i - 1),
                1 => format!(
                    "INSERT INTO orders VALUES ({i}, 'w{}', {i}, 1.00, NULL)",
                    i % 5
                ),
                _ => format!("DELETE FROM orders WHERE id = {}", i - 10),
            };
            if server_conn.batch_execute(&sql).await.is_err() {
                break;
            }
            n += 1;
        }
        n
    })
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
    let writer = write_orders(server.connect().await, stop.clone());
    // Let the sinks write a while, then kill the server mid-stream.
    poll_until("the sink to write some changes", WAIT, || async {
        let b = bootstrap.to_string();
        let n = tokio::task::spawn_blocking(move || {
            use rdkafka::consumer::{BaseConsumer, Consumer};
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &b)
                .create()
                .map_err(|e| e.to_string())?;
            let mut n = 0;
            for p in 0..2 {
                n += consumer
                    .fetch_watermarks("orders-dbz", p, Duration::from_secs(10))
                    .map(|(_, high)| high)
                    .unwrap_or(0);
            }
            Ok::<i64, String>(n)
        })
        .await
        .map_err(|e| e.to_string())??;
        if n > 60 {
            Ok(())
        } else {
            Err(format!("{n} messages"))
        }
    })
    .await;
    drop(c);
    server.kill9();
    let written = writer.await.expect("the writer");
    assert!(written > 0);
    server.restart().await;
    let c = server.connect().await;
    // More changes after the restart.
    let writer = write_orders(server.connect().await, stop.clone());
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
