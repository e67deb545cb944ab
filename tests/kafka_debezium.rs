//! Debezium sources and source transactions, with events as Debezium's PostgreSQL connector
//! writes them (JSON converter) when `provide.transaction.metadata` is on: data events carry
//! `transaction: {id, total_order, data_collection_order}`, and the `dbserver1.transaction`
//! topic has a `BEGIN` and an `END` record per transaction, the `END` counting its events per
//! data collection.
//!
//! * [`transaction_metadata_makes_transfers_atomic`]: `ENVELOPE DEBEZIUM (TRANSACTION
//!   METADATA (SOURCE tx, COLLECTION 'public.accounts'))`; transfers between accounts whose
//!   events span two partitions and several polls. A reader polling all along never sees the
//!   total balance change, and the final balances match a model.
//! * [`incomplete_transaction_waits_for_its_end`]: a transaction's events without their `END`
//!   stay invisible (while a later event of another partition shows), survive a `kill -9`
//!   uncommitted, and show, whole and once, when the `END` arrives after the restart.
//! * [`transaction_topic_with_several_partitions`]: the transaction topic has two partitions
//!   (and grows a third while the source runs): `END` records in any of them, in any order,
//!   release their transactions whole, in the order of the data partitions.
//! * [`runs_of_a_transaction_are_not_split`]: without `TRANSACTION METADATA`, the events of a
//!   transaction that arrive in one partition without pauses become visible together.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use support::kafka::{Broker, produce};
use support::{TestServer, exec, expect_rows, poll_until, try_text_rows, wait_for_rows};

/// How long a test waits for ingested data to show.
const WAIT: Duration = Duration::from_secs(60);

/// The PostgreSQL connector's `source` block.
fn source_block(tx_id: Option<i64>, lsn: i64, snapshot: bool) -> serde_json::Value {
    serde_json::json!({
        "version": "2.5.0.Final", "connector": "postgresql", "name": "dbserver1",
        "ts_ms": 1700000000000i64 + lsn, "snapshot": if snapshot { "true" } else { "false" },
        "db": "bank", "sequence": format!("[null,\"{lsn}\"]"), "schema": "public",
        "table": "accounts", "txId": tx_id, "lsn": lsn, "xmin": null
    })
}

/// A data event for account `id`: `before`/`after` balances, in transaction `tx` (its id,
/// the event's position in the transaction, and in the collection) or, for a snapshot
/// read, in none.
fn account_event(
    id: i64,
    before: Option<i64>,
    after: Option<i64>,
    tx: Option<(&str, i64)>,
    lsn: i64,
) -> String {
    let image = |b: Option<i64>| b.map(|b| serde_json::json!({"id": id, "balance": b}));
    let op = match (before, after, tx) {
        (None, Some(_), None) => "r",
        (None, Some(_), Some(_)) => "c",
        (Some(_), Some(_), _) => "u",
        _ => "d",
    };
    let tx_id = tx.map(|(t, _)| t.split(':').next().unwrap().parse::<i64>().unwrap());
    serde_json::json!({
        "before": image(before), "after": image(after),
        "source": source_block(tx_id, lsn, tx.is_none()),
        "op": op, "ts_ms": 1700000000005i64 + lsn,
        "transaction": tx.map(|(t, order)| serde_json::json!({
            "id": t, "total_order": order, "data_collection_order": order
        })),
    })
    .to_string()
}

fn account_key(id: i64) -> String {
    serde_json::json!({"id": id}).to_string()
}

/// The `BEGIN` record of a transaction.
fn begin_record(tx: &str) -> String {
    serde_json::json!({
        "status": "BEGIN", "id": tx, "ts_ms": 1700000000000i64,
        "event_count": null, "data_collections": null
    })
    .to_string()
}

/// The `END` record of a transaction with `events` events in `public.accounts` (and, to
/// check that only this source's collection counts, one in `public.audit`), wrapped as the
/// JSON converter does with schemas enabled.
fn end_record(tx: &str, events: i64) -> String {
    serde_json::json!({
        "schema": {"type": "struct", "optional": false,
                   "name": "io.debezium.connector.common.TransactionMetadataValue",
                   "fields": [{"type": "string", "optional": false, "field": "status"},
                              {"type": "string", "optional": false, "field": "id"}]},
        "payload": {
            "status": "END", "id": tx, "ts_ms": 1700000000000i64, "event_count": events + 1,
            "data_collections": [
                {"data_collection": "public.accounts", "event_count": events},
                {"data_collection": "public.audit", "event_count": 1}
            ]
        }
    })
    .to_string()
}

/// Produces one record to `topic`.
async fn send(producer: &FutureProducer, topic: &str, partition: i32, key: &str, value: &str) {
    produce(
        producer,
        topic,
        &[(partition, Some(key.as_bytes()), Some(value.as_bytes()))],
    )
    .await;
}

/// A task that reads `sql` until stopped and keeps every answer that is not `expected`.
struct Watcher {
    reads: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<support::Rows>>,
}

impl Watcher {
    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// Waits until the watcher has read more than `min_reads` times, stops it and asserts that
    /// every answer it read was the expected one.
    async fn finish(self, min_reads: usize, what: &str) {
        let reads = self.reads.clone();
        poll_until("the watcher to read", WAIT, || async {
            match reads.load(Ordering::SeqCst) {
                n if n > min_reads => Ok(()),
                n => Err(format!("{what}: {n} reads")),
            }
        })
        .await;
        self.stop.store(true, Ordering::SeqCst);
        let violations = self.task.await.expect("the watcher");
        assert!(
            violations.is_empty(),
            "{what}: partial transactions were visible: {violations:?}"
        );
    }
}

/// Starts a [`Watcher`] of `sql` (one row: account count, total balance).
fn watch_invariant(
    client: support::Conn,
    sql: &'static str,
    expected: Vec<Option<String>>,
) -> Watcher {
    let reads = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let task = {
        let (reads, stop) = (reads.clone(), stop.clone());
        tokio::spawn(async move {
            let mut violations = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(rows) = try_text_rows(&client, sql).await {
                    reads.fetch_add(1, Ordering::SeqCst);
                    if rows != vec![expected.clone()] {
                        violations.push(rows);
                    }
                }
            }
            violations
        })
    };
    Watcher { reads, stop, task }
}

async fn setup(broker: &Broker, c: &tokio_postgres::Client, partitions: i32, metadata: bool) {
    setup_with(broker, c, partitions, 1, metadata).await;
}

async fn setup_with(
    broker: &Broker,
    c: &tokio_postgres::Client,
    partitions: i32,
    transaction_partitions: i32,
    metadata: bool,
) {
    broker
        .create_topic("dbserver1.public.accounts", partitions)
        .await;
    broker
        .create_topic("dbserver1.transaction", transaction_partitions)
        .await;
    let envelope = if metadata {
        "ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx, COLLECTION 'public.accounts'))"
    } else {
        "ENVELOPE DEBEZIUM"
    };
    exec(
        c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE tx FROM KAFKA CONNECTION kafka (TOPIC 'dbserver1.transaction') \
             FORMAT JSON",
            &format!(
                "CREATE SOURCE accounts FROM KAFKA CONNECTION kafka \
                 (TOPIC 'dbserver1.public.accounts') KEY FORMAT JSON VALUE FORMAT JSON {envelope}"
            ),
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT count(*) AS n, sum((data->>'balance')::bigint) AS total FROM accounts",
        ],
    )
    .await;
}

/// The snapshot: `accounts` accounts with 1000 each, account `id` in partition
/// `id mod partitions`.
async fn snapshot(producer: &FutureProducer, accounts: i64, partitions: i32) {
    for id in 0..accounts {
        let event = account_event(id, None, Some(1000), None, id);
        send(
            producer,
            "dbserver1.public.accounts",
            (id % partitions as i64) as i32,
            &account_key(id),
            &event,
        )
        .await;
    }
}

fn balances_rows(model: &BTreeMap<i64, i64>) -> support::Rows {
    model
        .iter()
        .map(|(id, b)| vec![Some(id.to_string()), Some(b.to_string())])
        .collect()
}

const BALANCES: &str =
    "SELECT (data->>'id')::bigint, (data->>'balance')::bigint FROM accounts ORDER BY 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_metadata_makes_transfers_atomic() {
    let broker = Broker::start("dbz-tx").await;
    let server = TestServer::start_with_workers("kafka-dbz-tx", 2).await;
    let c = server.connect().await;
    setup(&broker, &c, 2, true).await;
    let producer = broker.producer();
    let accounts = 10i64;
    snapshot(&producer, accounts, 2).await;
    let mut model: BTreeMap<i64, i64> = (0..accounts).map(|id| (id, 1000)).collect();
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;

    let expected = vec![
        Some(accounts.to_string()),
        Some((accounts * 1000).to_string()),
    ];
    let mut watchers = Vec::new();
    for sql in [
        "SELECT n, total FROM totals",
        "SELECT count(*), sum((data->>'balance')::bigint) FROM accounts",
    ] {
        watchers.push(watch_invariant(
            server.connect().await,
            sql,
            expected.clone(),
        ));
    }
    let produced_events = Arc::new(AtomicUsize::new(0));
    let mut lsn = 1000;
    for i in 0..25i64 {
        // Three accounts: `from` pays `to` and `fee`; they are spread over both partitions.
        let (from, to, fee) = (i % accounts, (i * 3 + 1) % accounts, (i * 7 + 2) % accounts);
        if from == to || to == fee || from == fee {
            continue;
        }
        let amount = 10 + i;
        let tx = format!("{}:{}", 800 + i, lsn);
        send(
            &producer,
            "dbserver1.transaction",
            0,
            &format!(r#"{{"id":"{tx}"}}"#),
            &begin_record(&tx),
        )
        .await;
        let moves = [(from, -amount - 1), (to, amount), (fee, 1)];
        for (order, (id, delta)) in moves.iter().enumerate() {
            let before = model[id];
            let after = before + delta;
            model.insert(*id, after);
            lsn += 8;
            let event = account_event(
                *id,
                Some(before),
                Some(after),
                Some((&tx, order as i64 + 1)),
                lsn,
            );
            send(
                &producer,
                "dbserver1.public.accounts",
                (*id % 2) as i32,
                &account_key(*id),
                &event,
            )
            .await;
            produced_events.fetch_add(1, Ordering::SeqCst);
            // Let the reader poll between the events of a transaction: this shapes the
            // workload (a transaction split across polls); nothing waits on it.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        send(
            &producer,
            "dbserver1.transaction",
            0,
            &format!(r#"{{"id":"{tx}"}}"#),
            &end_record(&tx, moves.len() as i64),
        )
        .await;
    }
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;
    for w in watchers {
        w.finish(20, "the transfers").await;
    }
    assert!(produced_events.load(Ordering::SeqCst) > 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_transaction_waits_for_its_end() {
    let broker = Broker::start("dbz-incomplete").await;
    let mut server = TestServer::start_with_workers("kafka-dbz-incomplete", 2).await;
    let c = server.connect().await;
    setup(&broker, &c, 3, true).await;
    // The transaction source must be a JSON or Avro Kafka source, and cannot go while used.
    for (sql, code) in [
        (
            "CREATE SOURCE bad FROM KAFKA CONNECTION kafka (TOPIC 'dbserver1.public.accounts') \
             KEY FORMAT JSON VALUE FORMAT JSON \
             ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE totals, COLLECTION 'public.accounts'))",
            "42809",
        ),
        (
            "CREATE SOURCE bad FROM KAFKA CONNECTION kafka (TOPIC 'dbserver1.public.accounts') \
             KEY FORMAT TEXT VALUE FORMAT TEXT \
             ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx, COLLECTION 'public.accounts'))",
            "0A000",
        ),
        (
            "CREATE SOURCE bad FROM KAFKA CONNECTION kafka (TOPIC 'dbserver1.public.accounts') \
             FORMAT JSON ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx))",
            "42601",
        ),
        ("DROP SOURCE tx", "2BP01"),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        assert_eq!(support::sqlstate(&e).as_deref(), Some(code), "{sql}: {e:?}");
    }
    let producer = broker.producer();
    snapshot(&producer, 6, 3).await;
    let mut model: BTreeMap<i64, i64> = (0..6).map(|id| (id, 1000)).collect();
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;

    // Transaction 900 moves 100 from account 0 (partition 0) to account 1 (partition 1);
    // its END is not there yet.
    let tx = "900:5000";
    send(
        &producer,
        "dbserver1.transaction",
        0,
        r#"{"id":"900:5000"}"#,
        &begin_record(tx),
    )
    .await;
    let debit = account_event(0, Some(1000), Some(900), Some((tx, 1)), 5000);
    let credit = account_event(1, Some(1000), Some(1100), Some((tx, 2)), 5008);
    send(
        &producer,
        "dbserver1.public.accounts",
        0,
        &account_key(0),
        &debit,
    )
    .await;
    send(
        &producer,
        "dbserver1.public.accounts",
        1,
        &account_key(1),
        &credit,
    )
    .await;
    // A later event outside any transaction, in partition 2: once it shows, the reader has
    // fetched past the transaction's events (one broker answers for all partitions).
    let marker = account_event(6, None, Some(5), None, 5016);
    send(
        &producer,
        "dbserver1.public.accounts",
        2,
        &account_key(6),
        &marker,
    )
    .await;
    model.insert(6, 5);
    let without_tx = balances_rows(&model);
    wait_for_rows(&c, BALANCES, &without_tx).await;
    // And the transaction stays invisible for as long as its END is missing: watched for a
    // while (a negative check needs a window), every read must be the state before it.
    for _ in 0..25 {
        let rows = try_text_rows(&c, BALANCES).await.expect("reading balances");
        assert_eq!(rows, without_tx, "an incomplete transaction became visible");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // The held events were never committed: after kill -9 they are read again.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(&c, BALANCES, &without_tx).await;
    send(
        &producer,
        "dbserver1.transaction",
        0,
        r#"{"id":"900:5000"}"#,
        &end_record(tx, 2),
    )
    .await;
    model.insert(0, 900);
    model.insert(1, 1100);
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;
    wait_for_rows(
        &c,
        "SELECT n, total FROM totals",
        &expect_rows(&[&["7", "6005"]]),
    )
    .await;
}

/// Sends transaction `tx`'s `BEGIN` to transaction topic partition `tx_partition`, then its
/// moves (account, delta) as update events, updating `model`; its `END` is left to the caller.
async fn transfer(
    producer: &FutureProducer,
    tx: &str,
    tx_partition: i32,
    moves: &[(i64, i64)],
    model: &mut BTreeMap<i64, i64>,
    lsn: &mut i64,
) {
    let key = format!(r#"{{"id":"{tx}"}}"#);
    send(
        producer,
        "dbserver1.transaction",
        tx_partition,
        &key,
        &begin_record(tx),
    )
    .await;
    for (order, (id, delta)) in moves.iter().enumerate() {
        let before = model[id];
        model.insert(*id, before + delta);
        *lsn += 8;
        let event = account_event(
            *id,
            Some(before),
            Some(before + delta),
            Some((tx, order as i64 + 1)),
            *lsn,
        );
        send(
            producer,
            "dbserver1.public.accounts",
            (*id % 2) as i32,
            &account_key(*id),
            &event,
        )
        .await;
    }
}

/// Checks for a while that `sql` keeps answering `rows` (a negative check needs a window).
async fn stays(c: &tokio_postgres::Client, sql: &str, rows: &support::Rows, what: &str) {
    for _ in 0..25 {
        let now = try_text_rows(c, sql).await.expect("reading");
        assert_eq!(&now, rows, "{what}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_topic_with_several_partitions() {
    // On SQLite storage, so that the transaction topic can grow.
    let broker = Broker::start_sqlite("dbz-txparts").await;
    let server = TestServer::start_with_workers("kafka-dbz-txparts", 2).await;
    let c = server.connect().await;
    setup_with(&broker, &c, 2, 2, true).await;
    let producer = broker.producer();
    snapshot(&producer, 4, 2).await;
    let mut model: BTreeMap<i64, i64> = (0..4).map(|id| (id, 1000)).collect();
    let mut lsn = 100;
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;
    let before = balances_rows(&model);

    // Transaction a (boundaries in transaction partition 1) moves 100 from account 0
    // (partition 0) to account 1 (partition 1); b (boundaries in partition 0) follows it in
    // both data partitions. b's END comes first: b is complete but behind a, so neither
    // shows; a's END releases both.
    let (a, b) = ("901:6000", "902:6100");
    transfer(
        &producer,
        a,
        1,
        &[(0, -100), (1, 100)],
        &mut model,
        &mut lsn,
    )
    .await;
    transfer(&producer, b, 0, &[(1, -30), (0, 30)], &mut model, &mut lsn).await;
    send(
        &producer,
        "dbserver1.transaction",
        0,
        &format!(r#"{{"id":"{b}"}}"#),
        &end_record(b, 2),
    )
    .await;
    stays(&c, BALANCES, &before, "a transaction showed before a's END").await;
    send(
        &producer,
        "dbserver1.transaction",
        1,
        &format!(r#"{{"id":"{a}"}}"#),
        &end_record(a, 2),
    )
    .await;
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;

    // The transaction topic grows a partition while the source runs; a transaction whose
    // boundaries are there shows once its END is read.
    broker.add_partitions("dbserver1.transaction", 3);
    // A new producer: one keeps its topic metadata for minutes and would not know partition 2.
    let producer = broker.producer();
    let settled = balances_rows(&model);
    let cc = "903:6200";
    transfer(&producer, cc, 2, &[(2, -5), (3, 5)], &mut model, &mut lsn).await;
    stays(&c, BALANCES, &settled, "c showed before its END").await;
    send(
        &producer,
        "dbserver1.transaction",
        2,
        &format!(r#"{{"id":"{cc}"}}"#),
        &end_record(cc, 2),
    )
    .await;
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;
    wait_for_rows(
        &c,
        "SELECT n, total FROM totals",
        &expect_rows(&[&["4", "4000"]]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_a_transaction_are_not_split() {
    let broker = Broker::start("dbz-runs").await;
    let server = TestServer::start_with_workers("kafka-dbz-runs", 2).await;
    let c = server.connect().await;
    setup(&broker, &c, 1, false).await;
    let producer = broker.producer();
    let accounts = 6i64;
    snapshot(&producer, accounts, 1).await;
    let mut model: BTreeMap<i64, i64> = (0..accounts).map(|id| (id, 1000)).collect();
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;
    let watcher = watch_invariant(
        server.connect().await,
        "SELECT n, total FROM totals",
        vec![
            Some(accounts.to_string()),
            Some((accounts * 1000).to_string()),
        ],
    );
    let mut lsn = 2000;
    for i in 0..20i64 {
        let (from, to) = (i % accounts, (i + 1) % accounts);
        let tx = format!("{}:{}", 700 + i, lsn);
        for (order, (id, delta)) in [(from, -5), (to, 5)].iter().enumerate() {
            let before = model[id];
            model.insert(*id, before + delta);
            lsn += 8;
            let event = account_event(
                *id,
                Some(before),
                Some(before + delta),
                Some((&tx, order as i64 + 1)),
                lsn,
            );
            send(
                &producer,
                "dbserver1.public.accounts",
                0,
                &account_key(*id),
                &event,
            )
            .await;
            // Several polls within the transaction, no pause long enough to end a run.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    wait_for_rows(&c, BALANCES, &balances_rows(&model)).await;
    watcher.finish(20, "a transaction was split").await;
    poll_until("the source to be running", WAIT, || async {
        let rows = try_text_rows(&c, "SHOW SOURCES").await?;
        if rows.iter().all(|r| r[2].as_deref() == Some("running")) {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
}

/// Produces `records` to `topic` all at once (each partition's records keep their order) and
/// waits for every acknowledgement.
async fn produce_all(producer: &FutureProducer, topic: &str, records: &[(i32, String)]) {
    use rdkafka::producer::FutureRecord;
    let mut deliveries = Vec::new();
    for (partition, value) in records {
        let record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(*partition)
            .payload(value.as_bytes());
        match producer.send_result(record) {
            Ok(d) => deliveries.push(d),
            Err((e, _)) => panic!("producing to {topic}: {e}"),
        }
    }
    for d in deliveries {
        match d.await {
            Ok(Ok(_)) => {}
            other => panic!("producing to {topic}: {other:?}"),
        }
    }
}

/// A record for one partition: its partition and its JSON text.
type Keyed = (i32, String);

/// A ledger of transfers for [`transaction_metadata_resumes_after_kill9`]: accounts
/// `0..ACCOUNTS`, account `id` in partition `id mod 2`, events without keys (a table without a
/// primary key), so that an event applied twice or lost shows in the rows.
struct Ledger {
    model: BTreeMap<i64, i64>,
    lsn: i64,
    next_tx: i64,
}

impl Ledger {
    const ACCOUNTS: i64 = 10;

    fn new() -> Ledger {
        Ledger {
            model: (0..Self::ACCOUNTS).map(|id| (id, 1000)).collect(),
            lsn: 10_000,
            next_tx: 1,
        }
    }

    /// The next transaction id.
    fn tx_id(&mut self) -> String {
        self.next_tx += 1;
        format!("{}:{}", 10_000 + self.next_tx, self.lsn)
    }

    /// The data event (partition, value) moving `delta` into account `id` in `tx`.
    fn event(&mut self, tx: &str, order: i64, id: i64, delta: i64) -> (i32, String) {
        let before = self.model[&id];
        self.model.insert(id, before + delta);
        self.lsn += 8;
        let event = account_event(
            id,
            Some(before),
            Some(before + delta),
            Some((tx, order)),
            self.lsn,
        );
        ((id % 2) as i32, event)
    }

    /// `n` transfers from an even account (partition 0) to an odd one (partition 1): their
    /// data events and their transaction topic records (`BEGIN`, `END`).
    fn transfers(&mut self, n: i64) -> (Vec<Keyed>, Vec<Keyed>) {
        let (mut data, mut meta) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let i = self.next_tx;
            let tx = self.tx_id();
            let (from, to, amount) = (2 * (i % 5), 2 * ((i * 3 + 1) % 5) + 1, 1 + i % 7);
            meta.push((0, begin_record(&tx)));
            data.push(self.event(&tx, 1, from, -amount));
            data.push(self.event(&tx, 2, to, amount));
            meta.push((0, end_record(&tx, 2)));
        }
        (data, meta)
    }
}

/// `(held_records, pending_transactions)` of source `ledger` is `want`.
async fn wait_held(c: &tokio_postgres::Client, want: (i64, i64)) {
    wait_for_rows(
        c,
        "SELECT max(held_records), max(pending_transactions) \
         FROM mz_internal.mz_source_statistics WHERE source = 'ledger'",
        &vec![vec![Some(want.0.to_string()), Some(want.1.to_string())]],
    )
    .await;
}

/// With `TRANSACTION METADATA`, the transaction topic's offsets and the `END` records whose
/// transactions are not ingested yet are committed with the data: after `kill -9` the source
/// resumes the topic where it was, holds only the open transactions (not the topic's history:
/// `held_records` and `pending_transactions` in `mz_source_statistics`), releases a
/// transaction whose `END` was read before the restart once its events arrive, and neither
/// loses nor repeats an event (the source has no key: an event applied twice shows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_metadata_resumes_after_kill9() {
    let broker = Broker::start("dbz-resume").await;
    let mut server = TestServer::start_with_workers("kafka-dbz-resume", 2).await;
    let c = server.connect().await;
    broker.create_topic("dbserver1.public.accounts", 2).await;
    broker.create_topic("dbserver1.transaction", 1).await;
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
    const LEDGER: &str =
        "SELECT (data->>'id')::bigint, (data->>'balance')::bigint FROM ledger ORDER BY 1";
    let producer = broker.producer();
    let mut ledger = Ledger::new();
    let snapshot: Vec<(i32, String)> = (0..Ledger::ACCOUNTS)
        .map(|id| {
            (
                (id % 2) as i32,
                account_event(id, None, Some(1000), None, id),
            )
        })
        .collect();
    produce_all(&producer, "dbserver1.public.accounts", &snapshot).await;
    wait_for_rows(&c, LEDGER, &balances_rows(&ledger.model)).await;
    let invariant = vec![
        Some(Ledger::ACCOUNTS.to_string()),
        Some((Ledger::ACCOUNTS * 1000).to_string()),
    ];
    let watch = |conn: support::Conn| {
        watch_invariant(conn, "SELECT n, total FROM totals", invariant.clone())
    };

    // A history of 300 transactions, each produced whole.
    let watcher = watch(server.connect().await);
    for _ in 0..6 {
        let (data, meta) = ledger.transfers(50);
        produce_all(&producer, "dbserver1.public.accounts", &data).await;
        produce_all(&producer, "dbserver1.transaction", &meta).await;
    }
    wait_for_rows(&c, LEDGER, &balances_rows(&ledger.model)).await;
    watcher.finish(5, "history").await;
    wait_held(&c, (0, 0)).await;

    // Transaction e: its END is read before any of its events; h: its END and one of its two
    // events are read. Both survive kill -9: the source resumes with exactly these two
    // pending (not the 300 before them) and h's first event held again.
    let visible = balances_rows(&ledger.model);
    let e = ledger.tx_id();
    let h = ledger.tx_id();
    produce_all(
        &producer,
        "dbserver1.transaction",
        &[
            (0, begin_record(&e)),
            (0, end_record(&e, 2)),
            (0, begin_record(&h)),
        ],
    )
    .await;
    let h_first = ledger.event(&h, 1, 0, -40);
    produce_all(&producer, "dbserver1.public.accounts", &[h_first]).await;
    produce_all(
        &producer,
        "dbserver1.transaction",
        &[(0, end_record(&h, 2))],
    )
    .await;
    wait_held(&c, (1, 2)).await;
    stays(&c, LEDGER, &visible, "h showed with one of its events").await;
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    wait_held(&c, (1, 2)).await;
    stays(&c, LEDGER, &visible, "h showed after the restart").await;
    let h_second = ledger.event(&h, 2, 1, 40);
    produce_all(&producer, "dbserver1.public.accounts", &[h_second]).await;
    wait_for_rows(&c, LEDGER, &balances_rows(&ledger.model)).await;
    wait_held(&c, (0, 1)).await;
    let e_events = vec![ledger.event(&e, 1, 2, -7), ledger.event(&e, 2, 3, 7)];
    produce_all(&producer, "dbserver1.public.accounts", &e_events).await;
    wait_for_rows(&c, LEDGER, &balances_rows(&ledger.model)).await;
    wait_held(&c, (0, 0)).await;

    // kill -9 while transactions stream in, produced one at a time: whatever was committed
    // before the kill, the rest arrives after the restart, each transaction whole and once.
    let (data, meta) = ledger.transfers(200);
    let streamed = Arc::new(AtomicUsize::new(0));
    let stream = {
        let (producer, streamed) = (producer.clone(), streamed.clone());
        tokio::spawn(async move {
            for (i, (d, m)) in data.chunks(2).zip(meta.chunks(2)).enumerate() {
                produce_all(&producer, "dbserver1.transaction", &m[..1]).await;
                produce_all(&producer, "dbserver1.public.accounts", d).await;
                produce_all(&producer, "dbserver1.transaction", &m[1..]).await;
                streamed.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    let watcher = watch(server.connect().await);
    // The watcher must have read while the stream ran, whatever the speed of either.
    poll_until("60 transactions produced, 6 reads", WAIT, || async {
        match (streamed.load(Ordering::SeqCst), watcher.reads()) {
            (n, r) if n >= 60 && r > 5 => Ok(()),
            (n, r) => Err(format!("{n} produced, {r} reads")),
        }
    })
    .await;
    drop(c);
    server.kill9();
    watcher.finish(5, "before the kill").await;
    let produced_at_kill = streamed.load(Ordering::SeqCst);
    assert!(
        produced_at_kill < 200,
        "the kill came after the stream ended"
    );
    server.restart().await;
    let c = server.connect().await;
    let watcher = watch(server.connect().await);
    stream.await.expect("the producer");
    wait_for_rows(&c, LEDGER, &balances_rows(&ledger.model)).await;
    watcher.finish(5, "after the restart").await;
    wait_for_rows(&c, "SELECT n, total FROM totals", &vec![invariant.clone()]).await;
    wait_held(&c, (0, 0)).await;
}
