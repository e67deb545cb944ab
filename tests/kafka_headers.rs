//! Kafka source metadata end to end: `INCLUDE HEADER` against a real Kafka-protocol broker
//! (a `tansu` per test), and `START TIMESTAMP` against librdkafka's mock cluster.
//!
//! * [`header_columns_in_append_and_upsert_sources`]: `INCLUDE HEADER 'k' AS name [BYTES]`
//!   with `PARTITION` and `OFFSET`, in `ENVELOPE NONE` and `ENVELOPE UPSERT` sources: the last
//!   of repeated headers, `NULL` for a missing one, `bytea` with `BYTES`; a maintained view
//!   agrees with the one-shot query; a header that is not UTF-8 makes reads of its source fail
//!   with a decode error; all of it again after a `kill -9` and restart, which replays the
//!   stored statements. (`INCLUDE HEADERS`, all of them, is in `tests/kafka.rs`.)
//! * [`start_timestamp_after_every_record_starts_at_the_end`]: `START TIMESTAMP` relative to
//!   now, later than every record in the topic, starts at the partition's end (Materialize:
//!   "If no such offset exists for a partition, the partition's end offset will be used"),
//!   and the relative time is stored as the absolute time it meant at creation.
//!   The mock cluster answers every ListOffsets by timestamp with -1 (librdkafka 2.12.1,
//!   `src/rdkafka_mock_handlers.c`: `else /* FIXME: by timestamp */ Offset = -1;`), and tansu's
//!   answer is wrong, so this is the one case of `START TIMESTAMP` a test broker answers
//!   correctly; the test checks that the mock still cannot look up by timestamp, so that it
//!   fails once it can, and the cut-off between records is unit-tested in
//!   `src/storage/kafka_reader.rs`.

mod support;

use std::time::Duration;

use rdkafka::ClientConfig;
use support::kafka::{Broker, HeaderRecord, produce_with_headers};
use support::{
    TestServer, exec, expect_rows, message, poll_until, sqlstate, text_rows, wait_for_rows,
};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

/// A record on partition 0 with a value and headers.
fn record<'a>(
    key: Option<&'a str>,
    value: &'a str,
    headers: &[(&'a str, &'a [u8])],
) -> HeaderRecord<'a> {
    HeaderRecord {
        key: key.map(str::as_bytes),
        value: Some(value.as_bytes()),
        headers: headers.iter().map(|(k, v)| (*k, Some(*v))).collect(),
        ..Default::default()
    }
}

/// The rows of the append-only source `h` and of the upsert source `kv`, and the view over
/// `h` against the same query run one-shot.
async fn check_header_sources(c: &tokio_postgres::Client, h_rows: &[&[&str]], kv: &[&[&str]]) {
    let expected = expect_rows(h_rows);
    wait_for_rows(
        c,
        "SELECT text, client_id, raw, partition, \"offset\" FROM h ORDER BY \"offset\"",
        &expected,
    )
    .await;
    wait_for_rows(
        c,
        "SELECT key, text, client_id FROM kv ORDER BY key",
        &expect_rows(kv),
    )
    .await;
    let one_shot = text_rows(
        c,
        "SELECT client_id, count(*) FROM h GROUP BY client_id ORDER BY client_id",
    )
    .await;
    wait_for_rows(
        c,
        "SELECT client_id, n FROM per_client ORDER BY client_id",
        &one_shot,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_columns_in_append_and_upsert_sources() {
    let broker = Broker::start("headers").await;
    for topic in ["events", "kv", "bad"] {
        broker.create_topic(topic, 1).await;
    }
    let mut server = TestServer::start("kafka-headers").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE h FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT \
             INCLUDE HEADER 'client_id' AS client_id, HEADER 'raw' AS raw BYTES, PARTITION, \
             OFFSET",
            "CREATE SOURCE kv FROM KAFKA CONNECTION kafka (TOPIC 'kv') \
             KEY FORMAT TEXT VALUE FORMAT TEXT INCLUDE HEADER 'client_id' AS client_id \
             ENVELOPE UPSERT",
            "CREATE SOURCE bad FROM KAFKA CONNECTION kafka (TOPIC 'bad') FORMAT TEXT \
             INCLUDE HEADER 'client_id' AS client_id",
            "CREATE MATERIALIZED VIEW per_client AS \
             SELECT client_id, count(*) AS n FROM h GROUP BY client_id",
        ],
    )
    .await;
    assert_eq!(
        text_rows(&c, "SHOW COLUMNS FROM h").await,
        expect_rows(&[
            &["text", "t", "text"],
            &["client_id", "t", "text"],
            &["raw", "t", "bytea"],
            &["partition", "f", "integer"],
            &["offset", "f", "bigint"],
        ])
    );

    let producer = broker.producer();
    produce_with_headers(
        &producer,
        "events",
        &[
            record(None, "a", &[("client_id", b"1"), ("raw", b"\xff\x00")]),
            // The last of repeated headers wins; keys compare exactly.
            record(
                None,
                "b",
                &[
                    ("client_id", b"1"),
                    ("client_id", b"2"),
                    ("Client_Id", b"3"),
                ],
            ),
            record(None, "c", &[]),
            HeaderRecord {
                value: Some(b"d"),
                headers: vec![("client_id", None), ("raw", Some(b"r"))],
                ..Default::default()
            },
        ],
    )
    .await;
    produce_with_headers(
        &producer,
        "kv",
        &[
            record(Some("k1"), "v1", &[("client_id", b"a")]),
            record(Some("k2"), "v2", &[("client_id", b"b")]),
            record(Some("k1"), "v3", &[("client_id", b"c")]),
        ],
    )
    .await;
    produce_with_headers(
        &producer,
        "bad",
        &[record(None, "x", &[("client_id", b"\xc3\x28")])],
    )
    .await;
    let h_rows: Vec<&[&str]> = vec![
        &["a", "1", "\\xff00", "0", "0"],
        &["b", "2", "NULL", "0", "1"],
        &["c", "NULL", "NULL", "0", "2"],
        &["d", "NULL", "\\x72", "0", "3"],
    ];
    let kv_rows: [&[&str]; 2] = [&["k1", "v3", "c"], &["k2", "v2", "b"]];
    check_header_sources(&c, &h_rows, &kv_rows).await;
    expect_bad_header(&c).await;

    // After a restart the stored statements replay, with their header columns.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check_header_sources(&c, &h_rows, &kv_rows).await;
    expect_bad_header(&c).await;
    produce_with_headers(
        &producer,
        "events",
        &[record(None, "e", &[("client_id", b"2")])],
    )
    .await;
    let mut after = h_rows.clone();
    after.push(&["e", "2", "NULL", "0", "4"]);
    check_header_sources(&c, &after, &kv_rows).await;
}

/// Reads of the source `bad`, whose record has a `client_id` header that is not UTF-8, fail
/// with a decode error that names the header and the record.
async fn expect_bad_header(c: &tokio_postgres::Client) {
    let e = poll_until(
        "reads of `bad` to fail with a decode error",
        WAIT,
        || async {
            match c.simple_query("SELECT * FROM bad").await {
                Err(e) if message(&e).contains("Decode error") => Ok(e),
                Err(e) => Err(format!("other error: {e:?}")),
                Ok(_) => Err("no error yet".into()),
            }
        },
    )
    .await;
    let msg = message(&e);
    assert!(
        msg.contains("header \"client_id\" at partition 0 offset 0 is not valid UTF-8"),
        "{msg}"
    );
    assert_eq!(sqlstate(&e).as_deref(), Some("22000"), "{msg}");
}

/// `START TIMESTAMP -10000` (ten seconds ago) on a topic whose records are a minute and half
/// a minute old: no record is that late, so the source starts at the partition's end and
/// reads only what is produced after it started. A source without `START TIMESTAMP` on the
/// same topic reads the old records, so their absence means something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_timestamp_after_every_record_starts_at_the_end() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Offset, TopicPartitionList};

    let mock = rdkafka::mocking::MockCluster::new(1).expect("starting the mock cluster");
    // The mock cluster does not implement CreateTopics: create the topic here.
    mock.create_topic("events", 1, 1)
        .expect("creating a mock topic");
    let bootstrap = mock.bootstrap_servers();
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .create()
        .expect("creating a producer");
    let now = chrono::Utc::now().timestamp_millis();
    let early = |value: &'static str, age_ms: i64| HeaderRecord {
        value: Some(value.as_bytes()),
        timestamp: Some(now - age_ms),
        ..Default::default()
    };
    produce_with_headers(
        &producer,
        "events",
        &[early("early-1", 60_000), early("early-2", 30_000)],
    )
    .await;

    // The mock cannot look up offsets by timestamp: a time between the two records, which a
    // broker answers with offset 1, gets the end (-1). Should this change, this test can check
    // the cut-off between records too.
    let bootstrap_for_lookup = bootstrap.clone();
    let found = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap_for_lookup)
            .set("group.id", "freshet-test-lookup")
            .create()
            .expect("creating a consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("events", 0, Offset::Offset(now - 45_000))
            .expect("a partition");
        let found = consumer
            .offsets_for_times(tpl, Duration::from_secs(10))
            .expect("looking up offsets by timestamp");
        found
            .find_partition("events", 0)
            .expect("the partition")
            .offset()
    })
    .await
    .expect("the lookup");
    assert_eq!(
        found,
        Offset::End,
        "the mock cluster now looks offsets up by timestamp"
    );

    let server = TestServer::start("kafka-start-ts").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &format!("CREATE CONNECTION kafka TO KAFKA (BROKER '{bootstrap}')"),
            "CREATE SOURCE recent FROM KAFKA CONNECTION kafka \
             (TOPIC 'events', START TIMESTAMP -10000) FORMAT TEXT INCLUDE OFFSET",
            "CREATE SOURCE everything FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT",
        ],
    )
    .await;
    // The relative time was fixed when the source was created: the stored
    // statement names an absolute time ten seconds before that.
    let created = text_rows(&c, "SHOW CREATE SOURCE recent").await;
    let stored = created[0][1].clone().unwrap_or_default();
    let start: i64 = stored
        .split("START TIMESTAMP ")
        .nth(1)
        .map(|rest| rest.trim_start_matches('\''))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no absolute START TIMESTAMP in {stored}"));
    let after = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - 10_000..=after - 10_000).contains(&start),
        "START TIMESTAMP {start} is not ten seconds before creation ({now}..{after})"
    );
    wait_for_rows(
        &c,
        "SELECT text FROM everything ORDER BY text",
        &expect_rows(&[&["early-1"], &["early-2"]]),
    )
    .await;
    // librdkafka resolves the end of the partition after the reader assigns it, so a record
    // produced right after the source starts may still fall before it: produce until one
    // arrives.
    let mut produced = 0;
    poll_until("a record produced after the start to arrive", WAIT, || {
        produced += 1;
        let value = format!("late-{produced}");
        let producer = &producer;
        let c = &c;
        async move {
            produce_with_headers(
                producer,
                "events",
                &[HeaderRecord {
                    value: Some(value.as_bytes()),
                    ..Default::default()
                }],
            )
            .await;
            let rows = text_rows(c, "SELECT count(*) FROM recent").await;
            if rows == expect_rows(&[&["0"]]) {
                Err("nothing yet".into())
            } else {
                Ok(())
            }
        }
    })
    .await;
    let rows = text_rows(
        &c,
        "SELECT count(*) FILTER (WHERE text LIKE 'early%'), min(\"offset\") >= 2 FROM recent",
    )
    .await;
    assert_eq!(rows, expect_rows(&[&["0", "t"]]), "{rows:?}");
}
