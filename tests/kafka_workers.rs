//! Kafka sources read by several readers: a server with `--workers 2` reads partition `p`
//! of a topic with reader (and timely worker) `p mod 2`, each reader with its own consumer,
//! decoder and commits.
//!
//! * [`partitions_spread_over_two_readers`]: a 4-partition append-only topic; counts and sums
//!   per partition agree with what was produced, a view maintained from before the data
//!   agrees with the one-shot query, and `mz_source_statistics` shows each partition read by
//!   reader `p mod 2`, both readers with records.
//! * [`upsert_over_partitions_matches_model`]: a keyed `ENVELOPE UPSERT` topic over 3
//!   partitions (each key in one partition, as Kafka's key hashing puts it) with updates and
//!   deletes, compared with a model of the topic, then more records for the same keys.
//! * [`restart_with_two_readers_is_exactly_once`]: `kill -9` while records stream into a
//!   3-partition topic and an upsert topic; after the restart every (partition, offset) is
//!   there exactly once and the upsert source matches the model.
//! * [`partitions_added_later_are_read`]: a topic grows from 1 to 4 partitions while two
//!   sources read it (one with `START OFFSET` for partition 0): the new partitions are read
//!   from their first record, by reader `p mod 2`, and after `kill -9` every record of
//!   every partition is there once. The broker runs on SQLite storage, which
//!   `Broker::add_partitions` edits (tansu 0.6 cannot add partitions itself).
//! * [`monotonic_max_over_two_readers`]: `min`/`max`/`count` per group over an append-only
//!   4-partition topic, maintained by the monotonic reduction (`EXPLAIN` says so) with the
//!   groups spread over both workers, agree with a model while records stream in, also a
//!   group's new maximum and an older, smaller value in one batch; after `kill -9` the view
//!   is rebuilt from the stored records; a record whose value does not cast is the view's
//!   error.
//!
//! These tests live apart from `tests/kafka.rs` (which keeps the single-topic behaviours) so
//! that each file stays readable; they use the same broker support (`tests/support/kafka.rs`).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::kafka::{Broker, Record, produce};
use support::{TestServer, exec, expect_rows, poll_until, text_rows, try_text_rows, wait_for_rows};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

/// The partition a key goes to, as a key-hashing producer would put it: the same key always
/// in the same partition.
fn partition_of(key: &str, partitions: i32) -> i32 {
    let hash = key
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    (hash % partitions as u32) as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_spread_over_two_readers() {
    let broker = Broker::start("workers-spread").await;
    broker.create_topic("events", 4).await;
    let server = TestServer::start_with_workers("kafka-workers-spread", 2).await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') \
             FORMAT JSON INCLUDE PARTITION, OFFSET",
            "CREATE MATERIALIZED VIEW per_partition AS \
             SELECT partition, count(*) AS n, sum((data->>'amount')::bigint) AS total \
             FROM events GROUP BY partition",
        ],
    )
    .await;
    let producer = broker.producer();
    // Uneven partitions, so that a record counted in the wrong partition shows.
    let mut expected: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    let mut payloads = Vec::new();
    for i in 0..1000i64 {
        let partition = [0, 1, 2, 3, 3, 1, 2][(i % 7) as usize];
        let amount = i * 13 % 97;
        let e = expected.entry(partition).or_default();
        e.0 += 1;
        e.1 += amount;
        payloads.push((partition, format!(r#"{{"amount": {amount}, "i": {i}}}"#)));
    }
    let records: Vec<Record<'_>> = payloads
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "events", &records).await;

    let expected_rows: support::Rows = expected
        .iter()
        .map(|(p, (n, t))| {
            vec![
                Some(p.to_string()),
                Some(n.to_string()),
                Some(t.to_string()),
            ]
        })
        .collect();
    wait_for_rows(
        &c,
        "SELECT partition, n, total FROM per_partition ORDER BY partition",
        &expected_rows,
    )
    .await;
    let one_shot = text_rows(
        &c,
        "SELECT partition, count(*), sum((data->>'amount')::bigint) FROM events \
         GROUP BY partition ORDER BY partition",
    )
    .await;
    assert_eq!(one_shot, expected_rows, "one-shot query vs maintained view");
    // Every (partition, offset) once.
    let distinct = text_rows(
        &c,
        "SELECT count(*), count(DISTINCT partition::text || ':' || \"offset\"::text), \
                count(DISTINCT (data->>'i')) FROM events",
    )
    .await;
    assert_eq!(distinct, expect_rows(&[&["1000", "1000", "1000"]]));
    // Partition p is read by reader p mod 2, and each reader ingested its partitions' records.
    let stats: support::Rows = expected
        .iter()
        .map(|(p, (n, _))| {
            vec![
                Some(p.to_string()),
                Some((p % 2).to_string()),
                Some(n.to_string()),
                Some(n.to_string()),
            ]
        })
        .collect();
    wait_for_rows(
        &c,
        "SELECT partition, worker, next_offset, records FROM mz_internal.mz_source_statistics \
         WHERE source = 'events' ORDER BY partition",
        &stats,
    )
    .await;
    let per_worker = text_rows(
        &c,
        "SELECT worker, sum(records) FROM mz_internal.mz_source_statistics WHERE source = 'events' \
         GROUP BY worker ORDER BY worker",
    )
    .await;
    let reader_records = |w: i32| -> i64 {
        expected
            .iter()
            .filter(|(p, _)| *p % 2 == w)
            .map(|(_, (n, _))| n)
            .sum()
    };
    assert_eq!(
        per_worker,
        vec![
            vec![Some("0".into()), Some(reader_records(0).to_string())],
            vec![Some("1".into()), Some(reader_records(1).to_string())],
        ],
        "records per reader"
    );
    assert_eq!(
        text_rows(&c, "SHOW SOURCES").await,
        expect_rows(&[&["events", "kafka", "running"]])
    );
}

/// Produces `count` upsert records (from `first` on) for keys `k0..k{keys}` over
/// `partitions` partitions and applies them to `model`: every sixth record deletes its key.
fn upsert_records(
    first: usize,
    count: usize,
    keys: usize,
    partitions: i32,
    model: &mut BTreeMap<String, i64>,
) -> Vec<(i32, String, Option<String>)> {
    let mut out = Vec::new();
    for i in first..first + count {
        let key = format!("k{}", (i * 7) % keys);
        let value = (i % 6 != 5).then(|| format!(r#"{{"v": {i}}}"#));
        match &value {
            Some(_) => model.insert(key.clone(), i as i64),
            None => model.remove(&key),
        };
        out.push((partition_of(&key, partitions), key, value));
    }
    out
}

async fn produce_upserts(broker: &Broker, topic: &str, records: &[(i32, String, Option<String>)]) {
    let borrowed: Vec<Record<'_>> = records
        .iter()
        .map(|(p, k, v)| (*p, Some(k.as_bytes()), v.as_ref().map(|v| v.as_bytes())))
        .collect();
    produce(&broker.producer(), topic, &borrowed).await;
}

fn model_rows(model: &BTreeMap<String, i64>) -> support::Rows {
    let mut rows: support::Rows = model
        .iter()
        .map(|(k, v)| vec![Some(k.clone()), Some(v.to_string())])
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_over_partitions_matches_model() {
    let broker = Broker::start("workers-upsert").await;
    broker.create_topic("accounts", 3).await;
    let server = TestServer::start_with_workers("kafka-workers-upsert", 2).await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE accounts FROM KAFKA CONNECTION kafka (TOPIC 'accounts') \
             KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT",
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT count(*) AS n, sum((data->>'v')::bigint) AS total FROM accounts",
        ],
    )
    .await;
    let mut model = BTreeMap::new();
    let first = upsert_records(0, 600, 61, 3, &mut model);
    assert!(
        (0..3).all(|p| first.iter().any(|r| r.0 == p)),
        "every partition gets keys"
    );
    produce_upserts(&broker, "accounts", &first).await;
    let totals = |model: &BTreeMap<String, i64>| {
        vec![vec![
            Some(model.len().to_string()),
            Some(model.values().sum::<i64>().to_string()),
        ]]
    };
    wait_for_rows(
        &c,
        "SELECT key, (data->>'v')::bigint FROM accounts ORDER BY key",
        &model_rows(&model),
    )
    .await;
    assert_eq!(
        text_rows(&c, "SELECT n, total FROM totals").await,
        totals(&model),
        "the maintained view vs the model"
    );
    // More updates and deletes of the same keys: the old values are retracted exactly.
    // (The exact contents are what is waited on: a coarse aggregate can match the model
    // while a partition still lags.)
    let second = upsert_records(600, 400, 61, 3, &mut model);
    produce_upserts(&broker, "accounts", &second).await;
    wait_for_rows(
        &c,
        "SELECT key, (data->>'v')::bigint FROM accounts ORDER BY key",
        &model_rows(&model),
    )
    .await;
    assert_eq!(
        text_rows(&c, "SELECT n, total FROM totals").await,
        totals(&model),
        "the maintained view vs the model after the second round"
    );
    wait_for_rows(
        &c,
        "SELECT count(DISTINCT worker), sum(upsert_keys)::bigint / count(*) FROM mz_internal.mz_source_statistics \
         WHERE source = 'accounts'",
        &expect_rows(&[&["2", &model.len().to_string()]]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_two_readers_is_exactly_once() {
    let broker = Broker::start("workers-restart").await;
    broker.create_topic("stream", 3).await;
    broker.create_topic("state", 3).await;
    let mut server = TestServer::start_with_workers("kafka-workers-restart", 2).await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE stream FROM KAFKA CONNECTION kafka (TOPIC 'stream') \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
            "CREATE SOURCE state FROM KAFKA CONNECTION kafka (TOPIC 'state') \
             KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT",
        ],
    )
    .await;
    let producer = broker.producer();
    let batch = |from: usize, to: usize| -> Vec<(i32, String)> {
        (from..to)
            .map(|i| ((i % 3) as i32, format!("record {i}")))
            .collect()
    };
    let first = batch(0, 3000);
    let refs: Vec<Record<'_>> = first
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "stream", &refs).await;
    let mut model = BTreeMap::new();
    let state_first = upsert_records(0, 600, 50, 3, &mut model);
    produce_upserts(&broker, "state", &state_first).await;
    // Kill the server once some, typically not all, of the stream is in, while more records
    // arrive in both topics.
    poll_until("ingestion to start", WAIT, || async {
        let rows = try_text_rows(&c, "SELECT count(*) FROM stream").await?;
        match rows[0][0].as_deref() {
            Some("0") | None => Err("nothing yet".into()),
            _ => Ok(()),
        }
    })
    .await;
    let second = batch(3000, 6000);
    let state_second = upsert_records(600, 600, 50, 3, &mut model);
    let producing = {
        let producer = producer.clone();
        let second = second.clone();
        let state_second = state_second.clone();
        tokio::spawn(async move {
            let refs: Vec<Record<'_>> = second
                .iter()
                .map(|(p, v)| (*p, None, Some(v.as_bytes())))
                .collect();
            produce(&producer, "stream", &refs).await;
            let refs: Vec<Record<'_>> = state_second
                .iter()
                .map(|(p, k, v)| (*p, Some(k.as_bytes()), v.as_ref().map(|v| v.as_bytes())))
                .collect();
            produce(&producer, "state", &refs).await;
        })
    };
    // Let the readers be busy when the kill comes: wait for the count to move past what the
    // first wait saw (or to be complete already), rather than for a fixed time.
    let seen = text_rows(&c, "SELECT count(*) FROM stream").await[0][0]
        .clone()
        .unwrap_or_default();
    poll_until("ingestion to move on", WAIT, || async {
        let rows = try_text_rows(&c, "SELECT count(*) FROM stream").await?;
        let now = rows[0][0].as_deref();
        if now != Some(seen.as_str()) || now == Some("6000") {
            Ok(())
        } else {
            Err(format!("still {seen}"))
        }
    })
    .await;
    drop(c);
    server.kill9();
    producing.await.expect("producing the second half");
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(
        &c,
        "SELECT count(*), count(DISTINCT partition::text || ':' || \"offset\"::text), \
                count(DISTINCT text) FROM stream",
        &expect_rows(&[&["6000", "6000", "6000"]]),
    )
    .await;
    let per_partition = text_rows(
        &c,
        "SELECT partition, count(*), min(\"offset\"), max(\"offset\") FROM stream \
         GROUP BY partition ORDER BY partition",
    )
    .await;
    assert_eq!(
        per_partition,
        expect_rows(&[
            &["0", "2000", "0", "1999"],
            &["1", "2000", "0", "1999"],
            &["2", "2000", "0", "1999"],
        ])
    );
    wait_for_rows(
        &c,
        "SELECT key, (data->>'v')::bigint FROM state ORDER BY key",
        &model_rows(&model),
    )
    .await;
}

/// `(partition, next record number)` → the records `p{partition} r{n}` for `n` in
/// `from..to`, all in `partition`.
fn numbered(partition: i32, from: usize, to: usize) -> Vec<(i32, String)> {
    (from..to)
        .map(|n| (partition, format!("p{partition} r{n}")))
        .collect()
}

async fn produce_text(broker: &Broker, topic: &str, records: &[(i32, String)]) {
    // A new producer each time: a producer keeps its own topic metadata (refreshed only
    // every few minutes), so one made before a topic grew would not know the new
    // partitions.
    let refs: Vec<Record<'_>> = records
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&broker.producer(), topic, &refs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_later_are_read() {
    let broker = Broker::start_sqlite("workers-grow").await;
    broker.create_topic("grow", 1).await;
    let mut server = TestServer::start_with_workers("kafka-workers-grow", 2).await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE grow FROM KAFKA CONNECTION kafka (TOPIC 'grow') \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
            // START OFFSET names partition 0 only: partitions added later are read from
            // their beginning, as in Materialize.
            "CREATE SOURCE grow_from FROM KAFKA CONNECTION kafka (TOPIC 'grow', START OFFSET (2)) \
             FORMAT TEXT INCLUDE PARTITION, OFFSET",
            "CREATE MATERIALIZED VIEW grow_counts AS SELECT partition, count(*) AS n, \
             min(\"offset\") AS lo, max(\"offset\") AS hi FROM grow GROUP BY partition",
        ],
    )
    .await;
    produce_text(&broker, "grow", &numbered(0, 0, 5)).await;
    wait_for_rows(
        &c,
        "SELECT partition, n, lo, hi FROM grow_counts ORDER BY partition",
        &expect_rows(&[&["0", "5", "0", "4"]]),
    )
    .await;

    // The topic grows to 4 partitions while the sources run; records go to the new ones at
    // once (before any reader can have seen them) and to the old one.
    broker.add_partitions("grow", 4);
    let mut records = numbered(1, 0, 3);
    records.extend(numbered(2, 0, 4));
    records.extend(numbered(3, 0, 2));
    records.extend(numbered(0, 5, 6));
    produce_text(&broker, "grow", &records).await;
    wait_for_rows(
        &c,
        "SELECT partition, n, lo, hi FROM grow_counts ORDER BY partition",
        &expect_rows(&[
            &["0", "6", "0", "5"],
            &["1", "3", "0", "2"],
            &["2", "4", "0", "3"],
            &["3", "2", "0", "1"],
        ]),
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT partition, count(*), min(\"offset\") FROM grow_from \
         GROUP BY partition ORDER BY partition",
        &expect_rows(&[
            &["0", "4", "2"],
            &["1", "3", "0"],
            &["2", "4", "0"],
            &["3", "2", "0"],
        ]),
    )
    .await;
    // Each new partition is read by reader (and worker) p mod 2, and its statistics show.
    wait_for_rows(
        &c,
        "SELECT partition, worker, next_offset, records FROM mz_internal.mz_source_statistics \
         WHERE source = 'grow' ORDER BY partition",
        &expect_rows(&[
            &["0", "0", "6", "6"],
            &["1", "1", "3", "3"],
            &["2", "0", "4", "4"],
            &["3", "1", "2", "2"],
        ]),
    )
    .await;

    // The new partitions' offsets are committed with their data: after `kill -9` and
    // records produced while the server is down, every record is there exactly once.
    drop(c);
    server.kill9();
    let mut records = numbered(1, 3, 5);
    records.extend(numbered(3, 2, 3));
    produce_text(&broker, "grow", &records).await;
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(
        &c,
        "SELECT partition, n, lo, hi FROM grow_counts ORDER BY partition",
        &expect_rows(&[
            &["0", "6", "0", "5"],
            &["1", "5", "0", "4"],
            &["2", "4", "0", "3"],
            &["3", "3", "0", "2"],
        ]),
    )
    .await;
    let all = "SELECT count(*), count(DISTINCT partition::text || ':' || \"offset\"::text), \
               count(DISTINCT text) FROM";
    wait_for_rows(
        &c,
        &format!("{all} grow"),
        &expect_rows(&[&["18", "18", "18"]]),
    )
    .await;
    wait_for_rows(
        &c,
        &format!("{all} grow_from"),
        &expect_rows(&[&["16", "16", "16"]]),
    )
    .await;
}

/// The rows `SELECT g, max(v), min(v), count(*) ... GROUP BY g` has over `records`
/// (`(g, v)`), ordered by `g`.
fn max_min_rows(records: &[(i64, i64)]) -> support::Rows {
    let mut groups: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for (g, v) in records {
        let e = groups.entry(*g).or_insert((*v, *v, 0));
        e.0 = e.0.max(*v);
        e.1 = e.1.min(*v);
        e.2 += 1;
    }
    groups
        .iter()
        .map(|(g, (mx, mn, n))| [g, mx, mn, n].iter().map(|x| Some(x.to_string())).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monotonic_max_over_two_readers() {
    let broker = Broker::start("workers-monotonic").await;
    broker.create_topic("lat", 4).await;
    let mut server = TestServer::start_with_workers("kafka-workers-monotonic", 2).await;
    let c = server.connect().await;
    let view_sql = "SELECT (data->>'g')::bigint AS g, max((data->>'v')::bigint) AS mx, \
                    min((data->>'v')::bigint) AS mn, count(*) AS n FROM lat GROUP BY 1";
    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE lat FROM KAFKA CONNECTION kafka (TOPIC 'lat') FORMAT JSON",
            &format!("CREATE MATERIALIZED VIEW m AS {view_sql}"),
        ],
    )
    .await;
    let explain = text_rows(&c, &format!("EXPLAIN {view_sql}")).await;
    let explain: Vec<String> = explain.into_iter().flatten().flatten().collect();
    assert!(
        explain
            .iter()
            .any(|l| l.contains("Reduce") && l.contains("monotonic")),
        "EXPLAIN should show a monotonic reduction: {explain:#?}"
    );
    let producer = broker.producer();
    let mut sent: Vec<(i64, i64)> = Vec::new();
    // Three rounds, so that groups get new maxima (and minima) after their first values,
    // in different batches and timestamps; each record of a round goes to partition
    // `i % 4`, so both readers (and workers) feed every group.
    for round in 0..3i64 {
        let batch: Vec<(i32, i64, i64)> = (0..600i64)
            .map(|i| {
                let g = i % 41;
                let v = (i * 7919 + round * 104_729) % 10_007 - 5_000 + round * 1_000;
                ((i % 4) as i32, g, v)
            })
            .collect();
        let payloads: Vec<(i32, String)> = batch
            .iter()
            .map(|(p, g, v)| (*p, format!(r#"{{"g": {g}, "v": {v}}}"#)))
            .collect();
        let records: Vec<Record<'_>> = payloads
            .iter()
            .map(|(p, v)| (*p, None, Some(v.as_bytes())))
            .collect();
        produce(&producer, "lat", &records).await;
        sent.extend(batch.iter().map(|(_, g, v)| (*g, *v)));
        let expected = max_min_rows(&sent);
        wait_for_rows(&c, "SELECT g, mx, mn, n FROM m ORDER BY g", &expected).await;
        assert_eq!(
            text_rows(&c, &format!("{view_sql} ORDER BY g")).await,
            expected,
            "one-shot query vs maintained view, round {round}"
        );
    }
    // A new maximum and a smaller value of one group in one batch, in one partition (one
    // reader, one timestamp).
    let same_batch = [
        (0, r#"{"g": 3, "v": 1000000}"#),
        (0, r#"{"g": 3, "v": -1}"#),
    ];
    let records: Vec<Record<'_>> = same_batch
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "lat", &records).await;
    sent.extend([(3, 1_000_000), (3, -1)]);
    let expected = max_min_rows(&sent);
    wait_for_rows(&c, "SELECT g, mx, mn, n FROM m ORDER BY g", &expected).await;

    // The state is rebuilt from the stored records after a crash.
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(&c, "SELECT g, mx, mn, n FROM m ORDER BY g", &expected).await;

    // A value that does not cast is the view's error, as on the general path.
    let bad = [(1, r#"{"g": 5, "v": "many"}"#)];
    let records: Vec<Record<'_>> = bad
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "lat", &records).await;
    poll_until("the view to report the bad value", WAIT, || async {
        match c.simple_query("SELECT g, mx, mn, n FROM m").await {
            Err(e) if support::message(&e).contains("invalid input syntax for type bigint") => {
                Ok(())
            }
            Err(e) => Err(format!("another error: {e:?}")),
            Ok(_) => Err("rows, no error yet".into()),
        }
    })
    .await;
}
