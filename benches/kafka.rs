//! Benchmark: JSON events from Kafka into a maintained `GROUP BY` view, end to
//! end (issue #3, part 10). A reproducible benchmark, not a timed test: it
//! prints figures and fails only if an answer is wrong.
//!
//! ```sh
//! cargo bench --bench kafka                 # full run (a few minutes)
//! cargo test --bench kafka                  # quick correctness run (small sizes)
//! cargo bench --bench kafka -- --events 500000 --seconds 5 --workers 2
//! ```
//!
//! Each run starts a `tansu` broker (in-memory storage, as the Kafka tests do;
//! or librdkafka's mock cluster, see *Brokers* below)
//! and a `freshet` server process (`--workers 1` unless `--workers` says
//! otherwise), both on free ports.
//!
//! **Throughput**, per event size (~200 B and ~1 KB JSON objects): `N` events
//! (default 1 000 000 and 300 000) are produced into a 2-partition topic
//! first; then
//! `CREATE SOURCE … FORMAT JSON` and
//! `CREATE MATERIALIZED VIEW v AS SELECT (data->>'user_id')::bigint AS user_id,
//! count(*) AS n, sum((data->>'amount')::bigint) AS total FROM events GROUP BY 1`
//! are created, and the clock runs until `SELECT sum(n) FROM v` (asked every
//! 100 ms) equals `N`.
//! `--agg max` makes the view's `total` a `max` instead of a `sum` (a
//! monotonic reduction over the append-only source instead of the
//! accumulators; the answer is checked likewise).
//! Reported: events/s (wall clock), events per CPU-second of the Freshet
//! process (user + system time from `/proc`, i.e. per core), Freshet's peak
//! RSS, and the broker's CPU time over the same interval. The answer is then
//! checked against the totals computed while producing.
//!
//! **Latency**, at a fixed rate of 10 000 events/s and at half the maximum
//! rate measured above (200 B events): a view `SELECT (data->>'g')::bigint AS
//! g, max((data->>'sent_us')::bigint) AS sent FROM lat GROUP BY 1` over 100 000
//! groups is read with `COPY (SUBSCRIBE lat_v WITH (SNAPSHOT = false)) TO
//! STDOUT`; every event carries the wall-clock time it was handed to the
//! producer, and each inserted row of the subscription gives `arrival − sent`
//! for the newest event of its group in that timestamp (with 100 000 groups,
//! two events of one group rarely share a timestamp, so nearly every event is
//! measured). Reported: p50, p99 and max over `S` seconds (default 10) after a
//! 1-second warm-up, and the number of events measured.
//! A *baseline* precedes each rate: a bare librdkafka consumer in the bench
//! process, with the settings of Freshet's source readers, reads a topic of
//! its own, fed by the same producer at the same rate for the same time,
//! and reports its own produce-to-poll latency. That is what the producer,
//! the broker and the client library take before Freshet could see an
//! event; the difference is Freshet's share (tansu 0.6 answers every fetch
//! only after the consumer's whole `fetch.wait.max.ms`, data or not, so its
//! share is large). It runs alone, not alongside Freshet, so that the
//! broker serves one consumer's fetches in each run, as it would Freshet's
//! alone (on 2 cores, a second consumer made tansu busier and both slower);
//! `--baseline alongside` runs it on Freshet's topic during Freshet's run,
//! as sessions 4–6 did. The baseline consumer sends nothing but its
//! fetches; Freshet's readers also ask for the topic's partitions and their
//! high watermarks every 2 s (from a thread next to each reader, so the
//! reader itself never waits for them). `--fetch-wait-ms N` gives the connection
//! `FETCH WAIT MAX MS = N` (and the baseline the same wait); without it,
//! Freshet's default (`kafka_reader::FETCH_WAIT_MS`).
//! Each sample is also split at the subscription row's `mz_timestamp` (the
//! wall-clock millisecond Freshet gave the batch after committing it):
//! produce → timestamp and timestamp → arrival. Freshet's and the broker's
//! CPU over each latency run are printed, and, after the runs, what the
//! idle sources cost for a few seconds (their readers keep fetching).
//! The producer of the latency runs lingers 2 ms (`--linger-ms`); options
//! `--rates 10000,80000` set the latency runs' rates instead of 10 000/s
//! and half the measured maximum, and `--events 0` skips the throughput
//! runs (with `--rates`).
//!
//! **UPSERT state** (`--upsert-keys K`, default 10 000 000; 0 skips it): `K`
//! keys with ~100 B JSON values, then a new value for every 10th key and a
//! delete for every 50th, ingested through `ENVELOPE UPSERT`; reported: the
//! ingest rate, the state size Freshet reports (`mz_source_statistics`) and
//! Freshet's resident memory per live key (see [`upsert_state`]).
//!
//! **Brokers** (`--broker tansu|mock|both`): tansu by default; `mock` runs
//! everything against librdkafka's built-in mock cluster instead (one
//! broker, `rdkafka::mocking::MockCluster`, a thread in the bench process;
//! the sink tests use it for Kafka transactions), and `both` runs the whole
//! bench against tansu and then against the mock, so that both brokers'
//! figures come from one session. The mock answers a fetch as soon as it has
//! data and waits `fetch.wait.max.ms` only when it has none, as a Kafka
//! broker does, where tansu 0.6 holds every fetch for the whole wait; its
//! CPU is its `rdk:mock` thread's. It keeps only the newest 5 MiB (and
//! 100 000 message sets) of each partition in memory, so the throughput and
//! `UPSERT` runs, which produce their backlog first, are not run against it:
//! its latency runs take `--rates`, or with `both` the rates of tansu's
//! runs (10 000/s and half of tansu's measured maximum).
//!
//! The broker, the producer and Freshet share the machine; the broker's CPU
//! share is printed so that the figures can be read with it in mind.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use support::TestServer;
use support::kafka::Broker as Tansu;

/// Run configuration.
#[derive(Debug, Clone)]
struct Config {
    full: bool,
    /// Events for the ~200 B throughput run (the ~1 KB run uses 30 %).
    events: u64,
    /// Seconds measured at each latency rate.
    seconds: u64,
    /// Timely workers of the Freshet server.
    workers: usize,
    /// Keys of the `UPSERT` state run (0 skips it).
    upsert_keys: u64,
    /// The latency runs' rates, if given (`--rates 10000,80000`); else
    /// 10 000 events/s (1 000 in the quick run) and half the measured
    /// maximum.
    rates: Option<Vec<u64>>,
    /// The latency runs' producer's `linger.ms`.
    linger_ms: u32,
    /// The connection's `FETCH WAIT MAX MS` (and the baseline consumer's
    /// `fetch.wait.max.ms`); `None` leaves Freshet's default.
    fetch_wait_ms: Option<u32>,
    /// Whether the baseline consumer runs alongside Freshet
    /// (`--baseline alongside`) instead of alone, in a run of its own just
    /// before Freshet's (the default).
    baseline_alongside: bool,
    /// The throughput view's aggregate of `amount` (`--agg sum|max`):
    /// `sum` (accumulable) by default; `max` makes the view a monotonic
    /// reduction over the append-only source.
    agg: &'static str,
    /// The brokers to run against, in order (`--broker tansu|mock|both`;
    /// tansu by default).
    brokers: Vec<BrokerKind>,
}

/// A Kafka-protocol broker the bench can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BrokerKind {
    /// `tansu` (in-memory storage), a process of its own: the default, and
    /// the tests' broker.
    Tansu,
    /// librdkafka's built-in mock cluster (`rdkafka::mocking::MockCluster`,
    /// one broker), a thread in the bench process.
    Mock,
}

/// The broker of a run.
enum Broker {
    Tansu(Tansu),
    Mock(rdkafka::mocking::MockCluster<'static, DefaultProducerContext>),
}

impl Broker {
    async fn start(kind: BrokerKind) -> anyhow::Result<Broker> {
        Ok(match kind {
            BrokerKind::Tansu => Broker::Tansu(Tansu::start("bench").await),
            BrokerKind::Mock => Broker::Mock(
                rdkafka::mocking::MockCluster::new(1)
                    .map_err(|e| anyhow!("starting librdkafka's mock cluster: {e}"))?,
            ),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Broker::Tansu(_) => "tansu (in-memory storage, its own process)",
            Broker::Mock(_) => {
                "librdkafka's mock cluster (1 broker, a thread in the bench process)"
            }
        }
    }

    fn address(&self) -> String {
        match self {
            Broker::Tansu(b) => b.address(),
            Broker::Mock(m) => m.bootstrap_servers(),
        }
    }

    fn config(&self) -> rdkafka::ClientConfig {
        match self {
            Broker::Tansu(b) => b.config(),
            Broker::Mock(m) => {
                let mut c = rdkafka::ClientConfig::new();
                c.set("bootstrap.servers", m.bootstrap_servers());
                c
            }
        }
    }

    fn connection_sql(&self) -> String {
        match self {
            Broker::Tansu(b) => b.connection_sql(),
            Broker::Mock(_) => format!(
                "CREATE CONNECTION kafka TO KAFKA (BROKER '{}')",
                self.address()
            ),
        }
    }

    async fn create_topic(&self, name: &str, partitions: i32) {
        match self {
            Broker::Tansu(b) => b.create_topic(name, partitions).await,
            // The mock cluster does not implement CreateTopics.
            Broker::Mock(m) => m
                .create_topic(name, partitions, 1)
                .unwrap_or_else(|e| panic!("creating mock topic {name}: {e}")),
        }
    }

    /// The broker's CPU seconds so far (and, for tansu, its peak RSS):
    /// tansu's process, or the mock cluster's thread (`rdk:mock`) in this
    /// process.
    fn usage(&self) -> anyhow::Result<(f64, u64)> {
        match self {
            Broker::Tansu(b) => process_usage(b.pid()),
            Broker::Mock(_) => Ok((threads_cpu("rdk:mock")?, 0)),
        }
    }
}

/// User + system CPU seconds of this process's threads named `name`.
fn threads_cpu(name: &str) -> anyhow::Result<f64> {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        ticks += fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    }
    Ok(ticks as f64 / clock_ticks() as f64)
}

impl Config {
    /// The fetch wait of Freshet's readers in this run.
    fn fetch_wait_ms(&self) -> u32 {
        self.fetch_wait_ms
            .unwrap_or(freshet::storage::kafka_reader::FETCH_WAIT_MS)
    }

    fn from_args(args: &[String]) -> anyhow::Result<Config> {
        let full = args.iter().any(|a| a == "--bench");
        let mut cfg = Config {
            full,
            events: if full { 1_000_000 } else { 5_000 },
            seconds: if full { 10 } else { 1 },
            workers: 1,
            upsert_keys: if full { 10_000_000 } else { 5_000 },
            rates: None,
            linger_ms: 2,
            fetch_wait_ms: None,
            baseline_alongside: false,
            agg: "sum",
            brokers: vec![BrokerKind::Tansu],
        };
        let mut i = 0;
        while i < args.len() {
            let value = || {
                args.get(i + 1)
                    .ok_or_else(|| anyhow!("{} needs a value", args[i]))
            };
            match args[i].as_str() {
                "--events" => {
                    cfg.events = value()?.parse()?;
                    i += 1;
                }
                "--seconds" => {
                    cfg.seconds = value()?.parse()?;
                    i += 1;
                }
                "--workers" => {
                    cfg.workers = value()?.parse()?;
                    i += 1;
                }
                "--upsert-keys" => {
                    cfg.upsert_keys = value()?.parse()?;
                    i += 1;
                }
                "--linger-ms" => {
                    cfg.linger_ms = value()?.parse()?;
                    i += 1;
                }
                "--fetch-wait-ms" => {
                    cfg.fetch_wait_ms = Some(value()?.parse()?);
                    i += 1;
                }
                "--baseline" => {
                    cfg.baseline_alongside = match value()?.as_str() {
                        "alone" => false,
                        "alongside" => true,
                        other => bail!("--baseline is alone or alongside, not {other}"),
                    };
                    i += 1;
                }
                "--agg" => {
                    cfg.agg = match value()?.as_str() {
                        "sum" => "sum",
                        "max" => "max",
                        other => bail!("--agg is sum or max, not {other}"),
                    };
                    i += 1;
                }
                "--broker" => {
                    cfg.brokers = match value()?.as_str() {
                        "tansu" => vec![BrokerKind::Tansu],
                        "mock" => vec![BrokerKind::Mock],
                        "both" => vec![BrokerKind::Tansu, BrokerKind::Mock],
                        other => bail!("--broker is tansu, mock or both, not {other}"),
                    };
                    i += 1;
                }
                "--rates" => {
                    let rates = value()?
                        .split(',')
                        .map(|r| r.trim().parse::<u64>())
                        .collect::<Result<Vec<_>, _>>()?;
                    cfg.rates = Some(rates);
                    i += 1;
                }
                _ => {}
            }
            i += 1;
        }
        Ok(cfg)
    }
}

/// User + system CPU seconds and peak RSS (bytes) of a process.
fn process_usage(pid: u32) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after ")".
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok((ticks as f64 / clock_ticks() as f64, hwm_kb * 1024))
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn producer(broker: &Broker) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    producer_lingering(broker, 2)
}

/// A producer that waits up to `linger_ms` to fill a batch.
fn producer_lingering(
    broker: &Broker,
    linger_ms: u32,
) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(broker
        .config()
        .set("linger.ms", linger_ms.to_string())
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "60000")
        .create()?)
}

/// An event of about `size` bytes.
fn event(i: u64, size: usize) -> (i64, i64, String) {
    let user = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44) as i64 % 10_000;
    let amount = (i % 997) as i64;
    let mut s = format!(
        r#"{{"user_id": {user}, "amount": {amount}, "event_id": {i}, "kind": "purchase", "currency": "EUR", "note": ""#
    );
    while s.len() + 3 < size {
        s.push('x');
    }
    s.push_str("\"}");
    (user, amount, s)
}

async fn exec(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<()> {
    client
        .batch_execute(sql)
        .await
        .with_context(|| format!("`{sql}`"))
}

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<Option<String>> {
    let rows = support::try_text_rows(client, sql)
        .await
        .map_err(|e| anyhow!(e))?;
    Ok(rows.first().and_then(|r| r.first().cloned()).flatten())
}

/// A Freshet server (`cfg.workers` workers), a client, and the connection
/// `kafka` to `broker`.
async fn server_with_connection(
    name: &str,
    cfg: &Config,
    broker: &Broker,
) -> anyhow::Result<(TestServer, support::Conn)> {
    let server = TestServer::start_with_workers(name, cfg.workers).await;
    let c = server.connect().await;
    let mut sql = broker.connection_sql();
    if let Some(ms) = cfg.fetch_wait_ms {
        sql = sql.replacen(
            "TO KAFKA (",
            &format!("TO KAFKA (FETCH WAIT MAX MS = {ms}, "),
            1,
        );
    }
    exec(&c, &sql).await?;
    Ok((server, c))
}

/// How often the throughput run asks whether the view is complete.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Figures of one throughput run.
struct Throughput {
    events_per_sec: f64,
}

async fn throughput(
    cfg: &Config,
    broker: &Broker,
    size: usize,
    events: u64,
) -> anyhow::Result<Throughput> {
    let topic = format!("events_{size}");
    broker.create_topic(&topic, 2).await;
    // Produce everything first, computing the expected answer.
    let mut expected: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let p = producer(broker)?;
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..events {
        let (user, amount, payload) = event(i, size);
        bytes += payload.len();
        let e = expected.entry(user).or_default();
        e.0 += 1;
        // Amounts are not negative: the max of a group starts from 0.
        e.1 = match cfg.agg {
            "max" => e.1.max(amount),
            _ => e.1 + amount,
        };
        let record: BaseRecord<'_, [u8], str> = BaseRecord::to(&topic)
            .payload(payload.as_str())
            .partition((i % 2) as i32);
        send_record(&p, record)?;
    }
    p.flush(Duration::from_secs(120))?;
    let produce_secs = started.elapsed().as_secs_f64();
    println!(
        "kafka: produced {events} events of ~{} B ({:.1} MB) in {produce_secs:.2}s",
        bytes / events.max(1) as usize,
        bytes as f64 / 1e6
    );

    let (server, c) = server_with_connection(&format!("bench-{size}"), cfg, broker).await?;
    let (cpu0, _) = process_usage(server.pid())?;
    let (broker_cpu0, _) = broker.usage()?;
    let t0 = Instant::now();
    exec(
        &c,
        &format!("CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC '{topic}') FORMAT JSON"),
    )
    .await?;
    exec(
        &c,
        &format!(
            "CREATE MATERIALIZED VIEW v AS SELECT (data->>'user_id')::bigint AS user_id, \
             count(*) AS n, {}((data->>'amount')::bigint) AS total FROM events GROUP BY 1",
            cfg.agg
        ),
    )
    .await?;
    let target = events.to_string();
    loop {
        if scalar(&c, "SELECT sum(n) FROM v").await?.as_deref() == Some(target.as_str()) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(1800) {
            bail!("the view did not reach {events} events in 30 minutes");
        }
        // Each poll is a transient dataflow over the view's 10 000 rows,
        // work for Freshet that is not ingestion: polled every 20 ms, they
        // took about a third of Freshet's CPU (docs/benchmarks.md, session 5).
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let (cpu1, rss) = process_usage(server.pid())?;
    let (broker_cpu1, _) = broker.usage()?;
    // Check the answer.
    let rows = support::try_text_rows(&c, "SELECT user_id, n, total FROM v ORDER BY user_id")
        .await
        .map_err(|e| anyhow!(e))?;
    let got: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|r| {
            let f = |i: usize| r[i].as_deref().unwrap_or("0").parse::<i64>().unwrap_or(-1);
            (f(0), f(1), f(2))
        })
        .collect();
    let want: Vec<(i64, i64, i64)> = expected.iter().map(|(u, (n, t))| (*u, *n, *t)).collect();
    if got != want {
        bail!(
            "wrong answer for {size} B events: {} groups, expected {}",
            got.len(),
            want.len()
        );
    }
    let cpu = cpu1 - cpu0;
    let per_sec = events as f64 / secs;
    println!(
        "kafka: ~{size} B events ({} view): {events} in {secs:.2}s = {:.0} events/s wall; Freshet CPU {cpu:.2}s = {:.0} events per CPU-second (per core); peak RSS {:.0} MiB; broker CPU {:.2}s ({:.0}% of the interval); workers {}",
        cfg.agg,
        per_sec,
        events as f64 / cpu.max(1e-9),
        rss as f64 / (1024.0 * 1024.0),
        broker_cpu1 - broker_cpu0,
        100.0 * (broker_cpu1 - broker_cpu0) / secs,
        cfg.workers
    );
    Ok(Throughput {
        events_per_sec: per_sec,
    })
}

/// Resident memory (bytes) of a process now.
fn rss_now(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kb * 1024)
}

/// Sends one record, waiting while the producer's queue is full.
fn send_record<K, P>(
    p: &ThreadedProducer<DefaultProducerContext>,
    mut record: BaseRecord<'_, K, P>,
) -> anyhow::Result<()>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => bail!("producing: {e}"),
        }
    }
}

/// The `UPSERT` state run: `K` keys (text, `key-<i>`) with ~100 B JSON
/// values into a 2-partition topic, then a new value for every 10th key
/// and a delete (null value) for every 50th, all produced before the
/// source is created. Reported: the time and Freshet CPU to ingest it all,
/// the source's state size as Freshet reports it (`upsert_keys`,
/// `upsert_bytes` in `mz_source_statistics`), Freshet's resident memory
/// with the state loaded and its peak, both per live key. A global
/// `count`/`sum` view checks the answer against the generator's.
async fn upsert_state(cfg: &Config, broker: &Broker) -> anyhow::Result<()> {
    let keys = cfg.upsert_keys;
    let topic = "upsert_state";
    broker.create_topic(topic, 2).await;
    let p = producer(broker)?;
    let value = |i: u64, version: u64| {
        format!(
            r#"{{"id": {i}, "v": {}, "version": {version}, "pad": "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}}"#,
            (i * 7 + version * 13) % 1000
        )
    };
    let started = Instant::now();
    let mut bytes = 0u64;
    for i in 0..keys {
        let key = format!("key-{i}");
        let v = value(i, 0);
        bytes += (key.len() + v.len()) as u64;
        send_record(
            &p,
            BaseRecord::to(topic)
                .key(key.as_str())
                .payload(v.as_str())
                .partition((i % 2) as i32),
        )?;
    }
    let mut live: u64 = keys;
    let mut sum: i64 = (0..keys).map(|i| ((i * 7) % 1000) as i64).sum();
    let mut changes = 0u64;
    for i in (0..keys).step_by(10) {
        let key = format!("key-{i}");
        let v = value(i, 1);
        send_record(
            &p,
            BaseRecord::to(topic)
                .key(key.as_str())
                .payload(v.as_str())
                .partition((i % 2) as i32),
        )?;
        sum += ((i * 7 + 13) % 1000) as i64 - ((i * 7) % 1000) as i64;
        changes += 1;
    }
    for i in (0..keys).step_by(50) {
        let key = format!("key-{i}");
        send_record(
            &p,
            BaseRecord::<'_, str, str>::to(topic)
                .key(key.as_str())
                .partition((i % 2) as i32),
        )?;
        // Every 50th key is also a 10th: its current value is version 1.
        sum -= ((i * 7 + 13) % 1000) as i64;
        live -= 1;
        changes += 1;
    }
    p.flush(Duration::from_secs(300))?;
    println!(
        "kafka: upsert: produced {keys} keys ({:.1} MB of keys and values) and {changes} updates and deletes in {:.1}s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let (server, c) = server_with_connection("bench-upsert", cfg, broker).await?;
    let rss_before = rss_now(server.pid())?;
    let (cpu0, _) = process_usage(server.pid())?;
    let t0 = Instant::now();
    exec(
        &c,
        &format!(
            "CREATE SOURCE u FROM KAFKA CONNECTION kafka (TOPIC '{topic}') \
             KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT"
        ),
    )
    .await?;
    exec(
        &c,
        "CREATE MATERIALIZED VIEW uv AS SELECT count(*) AS n, sum((data->>'v')::bigint) AS s FROM u",
    )
    .await?;
    let want = format!("{live} {sum}");
    let total = keys + changes;
    loop {
        // Every record is in once the offsets read reach the end of both partitions.
        let read = scalar(
            &c,
            "SELECT sum(next_offset) FROM mz_internal.mz_source_statistics WHERE source = 'u'",
        )
        .await?;
        if read.as_deref() == Some(total.to_string().as_str()) {
            break;
        }
        if t0.elapsed() > Duration::from_secs(3600) {
            bail!("the upsert source did not read {total} records in an hour");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = loop {
        let rows = support::try_text_rows(&c, "SELECT n, s FROM uv")
            .await
            .map_err(|e| anyhow!(e))?;
        let got = rows
            .first()
            .map(|r| {
                r.iter()
                    .map(|v| v.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        if got == want || t0.elapsed() > Duration::from_secs(3600) {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let secs = t0.elapsed().as_secs_f64();
    let (cpu1, peak) = process_usage(server.pid())?;
    if got != want {
        bail!("upsert: the view has (n, s) = {got}, expected {want}");
    }
    let rss = rss_now(server.pid())?;
    let state = support::try_text_rows(
        &c,
        "SELECT max(upsert_keys), max(upsert_bytes) FROM mz_internal.mz_source_statistics WHERE source = 'u'",
    )
    .await
    .map_err(|e| anyhow!(e))?;
    let field =
        |i: usize| -> String { state.first().and_then(|r| r[i].clone()).unwrap_or_default() };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "kafka: upsert: {total} records ({live} live keys) in {secs:.1}s = {:.0} records/s wall, Freshet CPU {:.1}s; state as reported: {} keys, {:.1} MiB (upsert_bytes {}); Freshet RSS {:.0} MiB with the state loaded ({:.0} MiB before the source, {:.0} B per live key), peak {:.0} MiB; workers {}",
        total as f64 / secs,
        cpu1 - cpu0,
        field(0),
        field(1).parse::<f64>().unwrap_or(f64::NAN) / (1024.0 * 1024.0),
        field(1),
        mib(rss),
        mib(rss_before),
        (rss.saturating_sub(rss_before)) as f64 / live.max(1) as f64,
        mib(peak),
        cfg.workers
    );
    Ok(())
}

/// The `"sent_us"` field of a latency event's JSON payload.
fn sent_us_of(payload: &[u8]) -> Option<i64> {
    const FIELD: &[u8] = b"\"sent_us\": ";
    let at = payload.windows(FIELD.len()).position(|w| w == FIELD)? + FIELD.len();
    let digits = payload[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&payload[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// The baseline of a latency run: a bare librdkafka consumer with the
/// settings of Freshet's source readers (`fetch.wait.max.ms` =
/// `kafka_reader::FETCH_WAIT_MS`, no consumer group coordination, partitions assigned from the start), reading
/// the same topic at the same time as Freshet. Its produce-to-poll latency
/// is what the producer, the broker and the client library add before
/// Freshet sees an event; the difference to the SUBSCRIBE latency is
/// Freshet's share. Returns `arrival − sent` (µs) of each event sent at or
/// after `measure_from`, once `expected` events have arrived.
fn baseline_consumer(
    config: rdkafka::ClientConfig,
    fetch_wait_ms: u32,
    topic: &str,
    partitions: i32,
    expected: u64,
    measure_from: i64,
    deadline: Instant,
) -> anyhow::Result<Vec<i64>> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", format!("bench-baseline-{topic}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut latencies = Vec::new();
    let mut seen = 0u64;
    while seen < expected {
        if Instant::now() > deadline {
            bail!("the baseline consumer of {topic} saw {seen} of {expected} events in time");
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let arrival = now_us();
        seen += 1;
        if let Some(sent) = message.payload().and_then(sent_us_of)
            && sent >= measure_from
        {
            latencies.push(arrival - sent);
        }
    }
    Ok(latencies)
}

/// Starts the producer thread of a latency run: `total_events` events at
/// `rate` per second into `topic`'s 2 partitions, paced per 200 µs. Returns
/// it (joined: the number sent) and the newest `sent_us` of all events,
/// published once every event is acknowledged by the broker (0 until then).
fn start_producer(
    cfg: &Config,
    broker: &Broker,
    topic: &str,
    rate: u64,
    total_events: u64,
) -> anyhow::Result<(
    std::thread::JoinHandle<anyhow::Result<u64>>,
    std::sync::Arc<std::sync::atomic::AtomicI64>,
)> {
    let p = producer_lingering(broker, cfg.linger_ms)?;
    let topic_owned = topic.to_string();
    let newest_sent = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let newest_for_producer = newest_sent.clone();
    let producing = std::thread::spawn(move || -> anyhow::Result<u64> {
        let start = Instant::now();
        let mut sent = 0u64;
        let mut newest = 0i64;
        while sent < total_events {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due.min(total_events) {
                let sent_us = now_us();
                newest = newest.max(sent_us);
                let payload = format!(
                    r#"{{"g": {}, "sent_us": {}, "user_id": {}, "amount": {}, "kind": "purchase", "currency": "EUR", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#,
                    sent % 100_000,
                    sent_us,
                    sent % 10_000,
                    sent % 997
                );
                let record: BaseRecord<'_, [u8], str> = BaseRecord::to(&topic_owned)
                    .payload(payload.as_str())
                    .partition((sent % 2) as i32);
                if let Err((e, _)) = p.send(record) {
                    bail!("producing: {e}");
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        p.flush(Duration::from_secs(60))?;
        newest_for_producer.store(newest, std::sync::atomic::Ordering::SeqCst);
        Ok(sent)
    });
    Ok((producing, newest_sent))
}

/// The baseline of a latency run measured alone, just before Freshet's
/// run at the same rate: the same producer into a topic of its own
/// (`<topic>_base`), read by the baseline consumer only. Freshet's server
/// runs (its earlier sources idle, as in its own run) but does not read
/// this topic, so the broker serves one consumer's fetches, as it does in
/// Freshet's run. Returns the baseline's samples (µs).
async fn baseline_alone(
    cfg: &Config,
    broker: &Broker,
    server: &TestServer,
    topic: &str,
    rate: u64,
) -> anyhow::Result<Vec<i64>> {
    let topic = format!("{topic}_base");
    broker.create_topic(&topic, 2).await;
    let warmup = Duration::from_secs(1);
    let total = warmup + Duration::from_secs(cfg.seconds);
    let total_events = rate * total.as_secs();
    let (broker_cpu0, _) = broker.usage()?;
    let (cpu0, _) = process_usage(server.pid())?;
    let t0 = Instant::now();
    let (producing, _) = start_producer(cfg, broker, &topic, rate, total_events)?;
    let measure_from = now_us() + warmup.as_micros() as i64;
    let deadline = Instant::now() + total + Duration::from_secs(60);
    let config = broker.config();
    let fetch_wait_ms = cfg.fetch_wait_ms();
    let samples = tokio::task::spawn_blocking(move || {
        baseline_consumer(
            config,
            fetch_wait_ms,
            &topic,
            2,
            total_events,
            measure_from,
            deadline,
        )
    })
    .await??;
    producing
        .join()
        .map_err(|_| anyhow!("the producer thread panicked"))??;
    let secs = t0.elapsed().as_secs_f64();
    let (broker_cpu1, _) = broker.usage()?;
    let (cpu1, _) = process_usage(server.pid())?;
    println!(
        "kafka: baseline alone at {rate} events/s: over its {secs:.1}s, broker CPU {:.2}s ({:.0}%), Freshet (idle sources) CPU {:.2}s",
        broker_cpu1 - broker_cpu0,
        100.0 * (broker_cpu1 - broker_cpu0) / secs,
        cpu1 - cpu0,
    );
    Ok(samples)
}

/// The `p`-quantile of sorted latencies (µs), in milliseconds.
fn quantile_ms(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Produces at `rate` events/s for `seconds` (after a 1 s warm-up) and
/// measures produce-to-SUBSCRIBE latency.
async fn latency(
    cfg: &Config,
    broker: &Broker,
    server: &TestServer,
    c: &tokio_postgres::Client,
    topic: &str,
    rate: u64,
) -> anyhow::Result<()> {
    let base_alone = match cfg.baseline_alongside {
        true => Vec::new(),
        false => baseline_alone(cfg, broker, server, topic, rate).await?,
    };
    broker.create_topic(topic, 2).await;
    let view = format!("{topic}_v");
    exec(
        c,
        &format!("CREATE SOURCE {topic} FROM KAFKA CONNECTION kafka (TOPIC '{topic}') FORMAT JSON"),
    )
    .await?;
    exec(
        c,
        &format!(
            "CREATE MATERIALIZED VIEW {view} AS SELECT (data->>'g')::bigint AS g, \
             max((data->>'sent_us')::bigint) AS sent FROM {topic} GROUP BY 1"
        ),
    )
    .await?;
    // The subscription has a connection of its own: a connection streaming
    // COPY data answers no other query until the COPY ends.
    let subscriber = server.connect().await;
    let copy = subscriber
        .copy_out(&format!(
            "COPY (SUBSCRIBE {view} WITH (SNAPSHOT = false)) TO STDOUT"
        ))
        .await?;
    let warmup = Duration::from_secs(1);
    let total = warmup + Duration::from_secs(cfg.seconds);
    let (cpu0, _) = process_usage(server.pid())?;
    let (broker_cpu0, _) = broker.usage()?;
    let t0 = Instant::now();
    let total_events = rate * total.as_secs();
    let (producing, newest_sent) = start_producer(cfg, broker, topic, rate, total_events)?;
    let measure_from = now_us() + warmup.as_micros() as i64;
    let deadline = Instant::now() + total + Duration::from_secs(60);
    let baseline = cfg.baseline_alongside.then(|| {
        let config = broker.config();
        let topic = topic.to_string();
        let fetch_wait_ms = cfg.fetch_wait_ms();
        std::thread::spawn(move || {
            baseline_consumer(
                config,
                fetch_wait_ms,
                &topic,
                2,
                total_events,
                measure_from,
                deadline,
            )
        })
    });
    let mut latencies: Vec<i64> = Vec::new();
    // The two halves of each sample, split at the row's `mz_timestamp`
    // (the wall-clock millisecond at which Freshet gave the batch its
    // timestamp, after its durable commit): produce → timestamp (producer,
    // broker, reader, commit) and timestamp → arrival (dataflow, SUBSCRIBE,
    // client). Millisecond resolution, and a timestamp may run ahead of
    // the clock when batches come faster than one per millisecond.
    let mut to_timestamp: Vec<i64> = Vec::new();
    let mut from_timestamp: Vec<i64> = Vec::new();
    let mut last_sent_seen = 0i64;
    // The distinct timestamps of the measured rows: about the number of
    // source batches the dataflow saw (each is committed and timestamped
    // on its own).
    let mut stamps: std::collections::BTreeSet<i64> = Default::default();
    let mut lines = copy.boxed();
    let mut buffer = Vec::new();
    let mut groups_seen = 0u64;
    loop {
        match tokio::time::timeout(Duration::from_millis(500), lines.next()).await {
            Ok(Some(chunk)) => {
                let arrival = now_us();
                buffer.extend_from_slice(&chunk?);
                while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line);
                    let fields: Vec<&str> = text.trim_end().split('\t').collect();
                    // mz_timestamp, mz_diff, g, sent
                    if fields.len() == 4 && fields[1] == "1" {
                        let sent: i64 = fields[3].parse().unwrap_or(0);
                        groups_seen += 1;
                        last_sent_seen = last_sent_seen.max(sent);
                        if sent >= measure_from {
                            latencies.push(arrival - sent);
                            if let Ok(ts_ms) = fields[0].parse::<i64>() {
                                stamps.insert(ts_ms);
                                to_timestamp.push(ts_ms * 1000 - sent);
                                from_timestamp.push(arrival - ts_ms * 1000);
                            }
                        }
                    }
                }
            }
            Ok(None) => bail!("the subscription ended"),
            Err(_) => {}
        }
        // Everything produced has arrived once the newest event has. (Not
        // by asking the view for its newest `sent` after every chunk: each
        // such peek is a transient dataflow over the view's 100 000 groups,
        // and once the producer was done, a backlog of thousands of
        // one-timestamp chunks could not be read within the deadline, in
        // a debug build even at 10 000 events/s.)
        let newest = newest_sent.load(std::sync::atomic::Ordering::SeqCst);
        if newest > 0 && last_sent_seen >= newest {
            break;
        }
        if Instant::now() > deadline {
            // What is known, for whoever looks into it: did the producer
            // finish, how far did the subscription get, and where are the
            // view and the source?
            let newest = scalar(c, &format!("SELECT max(sent) FROM {view}")).await;
            let in_source = scalar(c, &format!("SELECT count(*) FROM {topic}")).await;
            bail!(
                "the latency run at {rate}/s did not finish in time: producer finished: {}, \
                 subscription rows {groups_seen}, newest sent seen {last_sent_seen}, \
                 view's newest {newest:?}, source rows {in_source:?}",
                producing.is_finished()
            );
        }
    }
    let run_secs = t0.elapsed().as_secs_f64();
    let (cpu1, _) = process_usage(server.pid())?;
    let (broker_cpu1, _) = broker.usage()?;
    let sent = producing
        .join()
        .map_err(|_| anyhow!("the producer thread panicked"))??;
    // The newest event may have come in a batch before the other
    // partition's last one: wait for the source to have every event.
    let in_view = loop {
        let n = scalar(c, &format!("SELECT count(*) FROM {topic}")).await?;
        if n == Some(sent.to_string()) || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if in_view != Some(sent.to_string()) {
        bail!("latency run at {rate}/s: produced {sent}, the source has {in_view:?}");
    }
    let (mut base, how) = match baseline {
        Some(b) => (
            b.join()
                .map_err(|_| anyhow!("the baseline consumer panicked"))??,
            "alongside Freshet",
        ),
        None => (base_alone, "alone, just before"),
    };
    base.sort_unstable();
    latencies.sort_unstable();
    let pct = |p: f64| quantile_ms(&latencies, p);
    println!(
        "kafka: latency at {rate} events/s for {}s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events measured, {} subscription rows, {sent} produced)",
        cfg.seconds,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        latencies.len(),
        groups_seen
    );
    println!(
        "kafka: latency at {rate} events/s: over the run's {run_secs:.1}s, Freshet CPU {:.2}s ({:.0}%), broker CPU {:.2}s ({:.0}%)",
        cpu1 - cpu0,
        100.0 * (cpu1 - cpu0) / run_secs,
        broker_cpu1 - broker_cpu0,
        100.0 * (broker_cpu1 - broker_cpu0) / run_secs,
    );
    to_timestamp.sort_unstable();
    from_timestamp.sort_unstable();
    println!(
        "kafka: latency at {rate} events/s split at the row's timestamp: produce to timestamp p50 {:.1} ms, p99 {:.1} ms; timestamp to arrival p50 {:.1} ms, p99 {:.1} ms; {:.0} timestamps/s",
        quantile_ms(&to_timestamp, 0.5),
        quantile_ms(&to_timestamp, 0.99),
        quantile_ms(&from_timestamp, 0.5),
        quantile_ms(&from_timestamp, 0.99),
        stamps.len() as f64 / cfg.seconds as f64,
    );
    println!(
        "kafka: baseline at {rate} events/s (a bare rdkafka consumer, Freshet's reader settings, {how}): produce to poll p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events measured)",
        quantile_ms(&base, 0.5),
        quantile_ms(&base, 0.99),
        quantile_ms(&base, 1.0),
        base.len()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = Config::from_args(&args)?;
    if !cfg.full {
        println!("kafka: not run by `cargo bench` (no --bench): a quick correctness run");
    }
    // The latency rates of a broker's runs: `--rates`, else 10 000/s and
    // half the maximum measured on the first broker with a throughput run
    // (tansu, with `--broker both`), so that both brokers run at the same
    // rates.
    let mut rates = cfg.rates.clone();
    for kind in cfg.brokers.clone() {
        let broker = Broker::start(kind).await?;
        println!("kafka: === broker: {} ===", broker.name());
        rates = Some(run(&cfg, &broker, rates).await?);
    }
    Ok(())
}

/// Every run of the bench against `broker`, at the latency `rates` if
/// given; returns the latency rates it ran at. The mock cluster keeps only
/// 5 MiB (and 100 000 message sets) per partition and drops its oldest
/// records beyond that (librdkafka's `rdkafka_mock.c`), so the throughput
/// and `UPSERT` runs, which produce their whole backlog before Freshet
/// reads it, run only against tansu; the latency runs are read as they are
/// produced.
async fn run(cfg: &Config, broker: &Broker, rates: Option<Vec<u64>>) -> anyhow::Result<Vec<u64>> {
    let mock = matches!(broker, Broker::Mock(_));
    let mut cfg = cfg.clone();
    cfg.rates = rates;
    if mock {
        if cfg.rates.is_none() {
            bail!(
                "the mock cluster has no throughput run (it keeps 5 MiB per partition): \
                 --broker mock needs --rates"
            );
        }
        cfg.events = 0;
        cfg.upsert_keys = 0;
    }
    // `--events 0` skips the throughput runs (with `--rates`).
    let small = match cfg.events {
        0 => None,
        n => Some(throughput(&cfg, broker, 200, n).await?),
    };
    if cfg.events > 0 {
        throughput(&cfg, broker, 1000, (cfg.events * 3 / 10).max(1)).await?;
    }

    let (server, c) = server_with_connection("bench-latency", &cfg, broker).await?;
    let runs: Vec<(String, u64)> = match (&cfg.rates, &small) {
        (Some(rates), _) => rates
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("lat_{i}"), *r))
            .collect(),
        (None, Some(small)) => vec![
            (
                "lat_fixed".to_string(),
                if cfg.full { 10_000 } else { 1_000 },
            ),
            (
                "lat_half".to_string(),
                ((small.events_per_sec / 2.0) as u64).max(1),
            ),
        ],
        (None, None) => bail!("--events 0 needs --rates"),
    };
    let sources = runs.len();
    let ran: Vec<u64> = runs.iter().map(|(_, rate)| *rate).collect();
    for (topic, rate) in runs {
        latency(&cfg, broker, &server, &c, &topic, rate).await?;
    }
    // What idle sources cost: their readers keep fetching from the broker.
    let (cpu0, _) = process_usage(server.pid())?;
    let (broker_cpu0, _) = broker.usage()?;
    let idle = Duration::from_secs(if cfg.full { 5 } else { 1 });
    tokio::time::sleep(idle).await;
    let (cpu1, _) = process_usage(server.pid())?;
    let (broker_cpu1, _) = broker.usage()?;
    println!(
        "kafka: {sources} idle sources for {}s: Freshet CPU {:.2}s, broker CPU {:.2}s",
        idle.as_secs(),
        cpu1 - cpu0,
        broker_cpu1 - broker_cpu0
    );
    drop(c);
    drop(server);
    if cfg.upsert_keys > 0 {
        upsert_state(&cfg, broker).await?;
    }
    Ok(ran)
}
