//! A tansu Kafka broker per test (or benchmark), producing records to it, and reading a
//! sink's topic back ([`read_topic`]).
//!
//! The broker binary is found through `FRESHET_TANSU`, then
//! `~/.cache/freshet-tools/bin/tansu` (where `scripts/test` installs it), then `PATH`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::tls::{ClientAuth, TlsProxy, fixture, fixture_text};
use super::{ScratchDir, free_port, poll_until};

/// How long the broker may take to start.
const STARTUP: Duration = Duration::from_secs(60);

/// The tansu binary.
pub fn tansu_binary() -> PathBuf {
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

/// A tansu broker process on a free port, reached either directly or, with
/// [`Broker::start_tls`], only through a [`TlsProxy`].
pub struct Broker {
    child: Child,
    /// The port clients connect to (the broker's own, or its TLS proxy's).
    port: u16,
    tls: Option<(ClientAuth, TlsProxy)>,
    _scratch: ScratchDir,
}

impl Broker {
    pub async fn start(name: &str) -> Broker {
        let port = free_port();
        Self::spawn(name, port, port).await
    }

    /// A broker that clients reach only over TLS: it advertises the port of a [`TlsProxy`]
    /// in front of it, so every client connection (bootstrap and metadata-directed alike)
    /// goes through the proxy.
    pub async fn start_tls(name: &str, auth: ClientAuth) -> Broker {
        let listen = free_port();
        let advertised = free_port();
        let mut broker = Self::spawn(name, listen, advertised).await;
        let proxy = TlsProxy::start(advertised, format!("127.0.0.1:{listen}"), auth).await;
        broker.tls = Some((auth, proxy));
        broker
    }

    /// Starts tansu listening on `port` and advertising `advertised`; waits until it
    /// accepts connections.
    async fn spawn(name: &str, port: u16, advertised: u16) -> Broker {
        let scratch = ScratchDir::create(&format!("tansu-{name}"));
        let log =
            std::fs::File::create(scratch.path.join("tansu.log")).expect("creating the broker log");
        let child = Command::new(tansu_binary())
            .arg("broker")
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{advertised}"))
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
            port: advertised,
            tls: None,
            _scratch: scratch,
        };
        poll_until("the broker to accept connections", STARTUP, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `CREATE CONNECTION kafka` to this broker: for a TLS broker, with the CA (and, for
    /// mutual TLS, the client certificate and a secret `kafka_key` with its key, which this
    /// statement creates first).
    pub fn connection_sql(&self) -> String {
        let plain = format!("BROKER '{}'", self.address());
        match &self.tls {
            None => format!("CREATE CONNECTION kafka TO KAFKA ({plain})"),
            Some((ClientAuth::None, _)) => format!(
                "CREATE CONNECTION kafka TO KAFKA ({plain}, SECURITY PROTOCOL = 'SSL', \
                 SSL CERTIFICATE AUTHORITY = '{}')",
                fixture_text("ca.pem")
            ),
            Some((ClientAuth::Required, _)) => format!(
                "CREATE SECRET kafka_key AS '{}'; \
                 CREATE CONNECTION kafka TO KAFKA ({plain}, SECURITY PROTOCOL = 'SSL', \
                 SSL CERTIFICATE AUTHORITY = '{}', SSL CERTIFICATE = '{}', \
                 SSL KEY = SECRET kafka_key)",
                fixture_text("client-key.pem"),
                fixture_text("ca.pem"),
                fixture_text("client.pem")
            ),
        }
    }

    /// A client configuration for this broker (over TLS for a TLS broker).
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.address());
        if let Some((auth, _)) = &self.tls {
            c.set("security.protocol", "SSL");
            c.set("ssl.ca.location", fixture("ca.pem").display().to_string());
            if *auth == ClientAuth::Required {
                c.set(
                    "ssl.certificate.location",
                    fixture("client.pem").display().to_string(),
                );
                c.set(
                    "ssl.key.location",
                    fixture("client-key.pem").display().to_string(),
                );
            }
        }
        c
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
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

    pub fn producer(&self) -> FutureProducer {
        self.config()
            .set("linger.ms", "0")
            .set("message.timeout.ms", "30000")
            .create()
            .expect("creating a producer")
    }
}

impl Broker {
    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A record to produce: partition, key, value.
pub type Record<'a> = (i32, Option<&'a [u8]>, Option<&'a [u8]>);

/// Produces `records` in order and waits for each acknowledgement.
pub async fn produce(producer: &FutureProducer, topic: &str, records: &[Record<'_>]) {
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

/// A record to produce with headers (in order, repeats allowed) and, optionally, an explicit
/// timestamp (milliseconds since the epoch; else the producer's clock).
#[derive(Debug, Clone, Default)]
pub struct HeaderRecord<'a> {
    pub partition: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    pub timestamp: Option<i64>,
}

/// Produces `records` (with their headers and timestamps) in order and waits for each
/// acknowledgement.
pub async fn produce_with_headers(
    producer: &FutureProducer,
    topic: &str,
    records: &[HeaderRecord<'_>],
) {
    use rdkafka::message::{Header, OwnedHeaders};
    for r in records {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).partition(r.partition);
        if let Some(k) = r.key {
            record = record.key(k);
        }
        if let Some(v) = r.value {
            record = record.payload(v);
        }
        if let Some(ts) = r.timestamp {
            record = record.timestamp(ts);
        }
        if !r.headers.is_empty() {
            let headers = r
                .headers
                .iter()
                .fold(OwnedHeaders::new(), |h, (key, value)| {
                    h.insert(Header { key, value: *value })
                });
            record = record.headers(headers);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("producing to {topic}: {e}"));
    }
}

/// One message read back from a sink's topic.
#[derive(Debug, Clone)]
pub struct TopicMessage {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The `freshet-timestamp` header.
    pub ts: u64,
}

/// Reads every committed message of `topic` (all partitions, from the start to the current
/// end), in offset order per partition.
pub fn read_topic(bootstrap: &str, topic: &str) -> Result<Vec<TopicMessage>, String> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    read_topic_with(config, topic)
}

/// [`read_topic`] with a client configuration of the caller's (e.g. [`Broker::config`]).
pub fn read_topic_with(mut config: ClientConfig, topic: &str) -> Result<Vec<TopicMessage>, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = config
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
                let ts = m
                    .headers()
                    .and_then(|h| {
                        h.iter()
                            .find(|h| h.key == "freshet-timestamp")
                            .and_then(|h| h.value)
                            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    })
                    .expect("a freshet-timestamp header");
                out.push(TopicMessage {
                    partition: m.partition(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    ts,
                });
            }
        }
    }
    Ok(out)
}

/// Waits until `topic`'s partitions `0..partitions` hold at least
/// `at_least` messages in all (the sum of their high watermarks).
pub async fn wait_for_messages(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    at_least: i64,
    timeout: Duration,
) {
    poll_until("the sink to write some changes", timeout, || async {
        let (b, t) = (bootstrap.to_string(), topic.to_string());
        let n = tokio::task::spawn_blocking(move || {
            let t = t.as_str();
            use rdkafka::consumer::{BaseConsumer, Consumer};
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &b)
                .create()
                .map_err(|e| e.to_string())?;
            let mut n = 0;
            for p in 0..partitions {
                n += consumer
                    .fetch_watermarks(t, p, Duration::from_secs(10))
                    .map(|(_, high)| high)
                    .unwrap_or(0);
            }
            Ok::<i64, String>(n)
        })
        .await
        .map_err(|e| e.to_string())??;
        if n >= at_least {
            Ok(())
        } else {
            Err(format!("{n} messages in {topic}"))
        }
    })
    .await;
}
