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
/// [`Broker::start_tls`], only through a [`TlsProxy`]; with [`Broker::start_sasl`], it
/// requires SASL (SCRAM) authentication.
pub struct Broker {
    child: Child,
    /// The port clients connect to (the broker's own, or its TLS proxy's).
    port: u16,
    tls: Option<(ClientAuth, TlsProxy)>,
    /// The user this harness's own clients ([`Broker::config`]) authenticate as.
    sasl: Option<SaslUser>,
    _scratch: ScratchDir,
}

/// A SCRAM mechanism, as tansu stores credentials for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scram {
    Sha256,
    Sha512,
}

impl Scram {
    /// The mechanism's SASL name (`sasl.mechanisms`, `SASL MECHANISMS`).
    pub fn name(self) -> &'static str {
        match self {
            Scram::Sha256 => "SCRAM-SHA-256",
            Scram::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Its name for `tansu user create --mechanism`.
    fn tansu_name(self) -> &'static str {
        match self {
            Scram::Sha256 => "scram256",
            Scram::Sha512 => "scram512",
        }
    }
}

/// A user a SASL broker knows: name, password and the mechanism its credential is for.
#[derive(Debug, Clone)]
pub struct SaslUser {
    pub name: String,
    pub password: String,
    pub mechanism: Scram,
}

impl SaslUser {
    pub fn new(name: &str, password: &str, mechanism: Scram) -> SaslUser {
        SaslUser {
            name: name.to_string(),
            password: password.to_string(),
            mechanism,
        }
    }
}

impl Broker {
    pub async fn start(name: &str) -> Broker {
        let port = free_port();
        Self::spawn(name, port, port).await
    }

    /// A broker that requires SASL authentication (`tansu broker --authentication`), over
    /// TLS (through a [`TlsProxy`]) when `tls` is given, knowing `users`; this harness's
    /// own clients authenticate as the first.
    ///
    /// tansu keeps SCRAM credentials only in its SQL storage engines (the object-store
    /// engine behind `memory://` answers every credential lookup with "no such user"), and
    /// a broker that requires authentication refuses `AlterUserScramCredentials` before a
    /// client has authenticated, so the users are created first through a broker without
    /// authentication on the same SQLite file, which then stops; the broker that requires
    /// authentication starts on that file. The tansu binary needs the `libsql` feature.
    pub async fn start_sasl(name: &str, users: &[SaslUser], tls: Option<ClientAuth>) -> Broker {
        assert!(!users.is_empty(), "a SASL broker needs a user");
        let scratch = ScratchDir::create(&format!("tansu-{name}"));
        let setup_port = free_port();
        let mut setup = launch(&scratch, "setup", (setup_port, setup_port), SQLITE, false);
        wait_for_listener(setup_port).await;
        for user in users {
            let out = Command::new(tansu_binary())
                .arg("user")
                .arg("create")
                .arg("--broker")
                .arg(format!("tcp://127.0.0.1:{setup_port}"))
                .arg("--mechanism")
                .arg(user.mechanism.tansu_name())
                .arg(&user.name)
                .arg(&user.password)
                .current_dir(&scratch.path)
                .output()
                .expect("running `tansu user create`");
            assert!(
                out.status.success(),
                "`tansu user create {}`: {}\n{}",
                user.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = setup.kill();
        let _ = setup.wait();

        let listen = free_port();
        let advertised = if tls.is_some() { free_port() } else { listen };
        let child = launch(&scratch, "broker", (listen, advertised), SQLITE, true);
        let mut broker = Broker {
            child,
            port: advertised,
            tls: None,
            sasl: Some(users[0].clone()),
            _scratch: scratch,
        };
        wait_for_listener(listen).await;
        if let Some(auth) = tls {
            let proxy = TlsProxy::start(advertised, format!("127.0.0.1:{listen}"), auth).await;
            broker.tls = Some((auth, proxy));
        }
        broker
    }

    /// A broker on SQLite storage (`tansu.db` in its directory), whose topics
    /// [`Broker::add_partitions`] can grow. The tansu binary needs the `libsql` feature.
    pub async fn start_sqlite(name: &str) -> Broker {
        let scratch = ScratchDir::create(&format!("tansu-{name}"));
        let port = free_port();
        let child = launch(&scratch, "broker", (port, port), SQLITE, false);
        let broker = Broker {
            child,
            port,
            tls: None,
            sasl: None,
            _scratch: scratch,
        };
        wait_for_listener(port).await;
        broker
    }

    /// Stops the broker (`kill -9`), as a broker that crashes or a network that fails.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a stopped broker from [`Broker::start_sqlite`] again, on the same port and
    /// storage, and waits until it accepts connections.
    pub async fn start_again(&mut self) {
        assert!(
            self.tls.is_none() && self.sasl.is_none(),
            "only a plain SQLite broker restarts"
        );
        self.child = launch(
            &self._scratch,
            "broker-again",
            (self.port, self.port),
            SQLITE,
            false,
        );
        wait_for_listener(self.port).await;
    }

    /// Grows `topic` to `partitions` partitions, as `kafka-topics.sh --alter --partitions`
    /// (a `CreatePartitions` request) does on a Kafka cluster. tansu 0.6 has no handler for
    /// `CreatePartitions` (nor has librdkafka's mock cluster), so this writes what tansu's
    /// own topic creation writes (`tansu-storage` `lite.rs`, `create_topic`) into the
    /// broker's SQLite storage, with the `sqlite3` shell, while the broker runs: the
    /// topic's partition count, which tansu reads for every `Metadata` request, and a
    /// `topition` and a `watermark` row per new partition, which produce and fetch use.
    /// Only for a broker from [`Broker::start_sqlite`].
    pub fn add_partitions(&self, topic: &str, partitions: i32) {
        assert!(
            !topic.contains('\''),
            "a topic name without quotes: {topic}"
        );
        let mut sql =
            format!("BEGIN; UPDATE topic SET partitions = {partitions} WHERE name = '{topic}';");
        sql.push_str(&format!(
            "INSERT INTO topition (topic, partition) \
             SELECT t.id, n.p FROM topic t, (WITH RECURSIVE n(p) AS \
             (SELECT 0 UNION ALL SELECT p + 1 FROM n WHERE p + 1 < {partitions}) SELECT p FROM n) n \
             WHERE t.name = '{topic}' AND NOT EXISTS \
             (SELECT 1 FROM topition tp WHERE tp.topic = t.id AND tp.partition = n.p);\
             INSERT INTO watermark (topition) \
             SELECT tp.id FROM topition tp JOIN topic t ON tp.topic = t.id \
             WHERE t.name = '{topic}' AND NOT EXISTS \
             (SELECT 1 FROM watermark w WHERE w.topition = tp.id);\
             COMMIT;\
             SELECT count(*) FROM topition tp JOIN topic t ON tp.topic = t.id \
             WHERE t.name = '{topic}';"
        ));
        let out = Command::new("sqlite3")
            .arg("-cmd")
            .arg(".timeout 10000")
            .arg("tansu.db")
            .arg(&sql)
            .current_dir(&self._scratch.path)
            .output()
            .unwrap_or_else(|e| {
                panic!("running sqlite3 (the `sqlite3` package; see scripts/test): {e}")
            });
        assert!(
            out.status.success(),
            "adding partitions to {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            partitions.to_string(),
            "{topic}'s partitions after growing it"
        );
    }

    /// Runs `sql` with the `sqlite3` shell on the storage of a broker from
    /// [`Broker::start_sqlite`], while the broker runs (as [`Broker::add_partitions`] does);
    /// returns what it printed.
    fn sqlite(&self, sql: &str) -> String {
        let out = Command::new("sqlite3")
            .arg("-cmd")
            .arg(".timeout 10000")
            .arg("tansu.db")
            .arg(sql)
            .current_dir(&self._scratch.path)
            .output()
            .unwrap_or_else(|e| {
                panic!("running sqlite3 (the `sqlite3` package; see scripts/test): {e}")
            });
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The SQL expression for the id of `topic`'s `partition` in tansu's storage.
    fn topition(topic: &str, partition: i32) -> String {
        assert!(
            !topic.contains('\''),
            "a topic name without quotes: {topic}"
        );
        format!(
            "(SELECT tp.id FROM topition tp JOIN topic t ON tp.topic = t.id \
             WHERE t.name = '{topic}' AND tp.partition = {partition})"
        )
    }

    /// Deletes the records of `topic`'s `partition` before `offset`, as retention or a
    /// `DeleteRecords` request (`kafka-delete-records.sh`) does on a Kafka cluster: the
    /// partition's low watermark becomes `offset`. tansu 0.6 answers `DeleteRecords` with a
    /// `todo!()` panic (in both its storage engines) and has no retention, and librdkafka's
    /// mock cluster has no `DeleteRecords` either, so this deletes the rows from the
    /// broker's SQLite storage; tansu answers `ListOffsets` for the earliest offset with
    /// the first row left. Only for a broker from [`Broker::start_sqlite`].
    pub fn delete_records_before(&self, topic: &str, partition: i32, offset: i64) {
        let tp = Self::topition(topic, partition);
        let left = self.sqlite(&format!(
            "BEGIN; DELETE FROM header WHERE topition = {tp} AND offset_id < {offset};\
             DELETE FROM record WHERE topition = {tp} AND offset_id < {offset};\
             UPDATE watermark SET low = {offset} WHERE topition = {tp};\
             COMMIT; SELECT min(offset_id) FROM record WHERE topition = {tp};"
        ));
        assert_eq!(
            left,
            offset.to_string(),
            "{topic}/{partition}'s first offset left"
        );
    }

    /// Empties `topic`'s `partition` and starts its offsets at 0 again, as deleting and
    /// recreating the topic does on a Kafka cluster, but in one step, with the topic never
    /// missing from the metadata (so that a consumer that runs meanwhile sees only the
    /// offsets go back). tansu answers 0 for both watermarks of an empty partition, as Kafka
    /// does for a new one. Only for a broker from [`Broker::start_sqlite`].
    pub fn reset_partition(&self, topic: &str, partition: i32) {
        let tp = Self::topition(topic, partition);
        let high = self.sqlite(&format!(
            "BEGIN; DELETE FROM header WHERE topition = {tp};\
             DELETE FROM record WHERE topition = {tp};\
             UPDATE watermark SET low = 0, high = 0 WHERE topition = {tp};\
             COMMIT; SELECT high FROM watermark WHERE topition = {tp};"
        ));
        assert_eq!(
            high, "0",
            "{topic}/{partition}'s high watermark after the reset"
        );
    }

    /// Deletes `topic` (a `DeleteTopics` request, as `kafka-topics.sh --delete` makes).
    /// tansu 0.6 deletes every topic of the broker with it (its `topic_delete_by.sql`
    /// selects topics by cluster only), so this is for a broker with no other topic, and
    /// refuses (panics) on a broker with others: a test must not rely on deleting one topic
    /// of several. A test that needs a topic gone uses a topic of a unique name, or a broker
    /// of its own (docs/ARCHITECTURE.md, "tansu's gaps").
    pub async fn delete_topic(&self, name: &str) {
        let config = self.config();
        let topics = tokio::task::spawn_blocking(move || {
            let client: rdkafka::consumer::BaseConsumer =
                config.create().expect("creating a consumer");
            let metadata =
                rdkafka::consumer::Consumer::fetch_metadata(&client, None, Duration::from_secs(10))
                    .expect("listing the broker's topics");
            metadata
                .topics()
                .iter()
                .map(|t| t.name().to_string())
                .collect::<Vec<_>>()
        })
        .await
        .expect("listing the broker's topics");
        let others: Vec<&String> = topics
            .iter()
            .filter(|t| *t != name && !t.starts_with("__"))
            .collect();
        assert!(
            others.is_empty(),
            "deleting topic {name}: tansu 0.6's DeleteTopics would delete every topic of the \
             broker, also {others:?}; give the test a broker of its own or unique topic names"
        );
        let admin: AdminClient<DefaultClientContext> =
            self.config().create().expect("creating an admin client");
        let results = admin
            .delete_topics(
                &[name],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("deleting a topic");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("deleting topic {t}: {e}"));
        }
    }

    /// Makes the records of `topic`'s `partition` one committed Kafka transaction: marks
    /// them transactional (producer id 7, epoch 0) and appends the transaction's commit
    /// marker, a control record that takes an offset and that no consumer returns. This is
    /// what tansu's own `EndTxn` handling writes (`tansu-storage` `lite.rs`, `end_in_tx`);
    /// but tansu 0.6 does not answer librdkafka's `EndTxn`, and librdkafka's mock cluster
    /// implements transactions without writing markers, so neither can make a consumer meet
    /// one. Returns the partition's high watermark after the marker. Only for a broker from
    /// [`Broker::start_sqlite`].
    pub fn commit_marker(&self, topic: &str, partition: i32) -> i64 {
        let tp = Self::topition(topic, partition);
        // The control record's key: version 0, type 1 (commit); its value: version 0,
        // coordinator epoch 0. Batch attributes: transactional (0x10), control (0x20).
        let high = self.sqlite(&format!(
            "BEGIN; UPDATE record SET attributes = 16, producer_id = 7, producer_epoch = 0 \
             WHERE topition = {tp} AND (attributes IS NULL OR attributes & 32 = 0);\
             INSERT INTO record (topition, offset_id, attributes, producer_id, producer_epoch, \
             timestamp, k, v) SELECT {tp}, w.high, 48, 7, 0, \
             (SELECT max(timestamp) FROM record WHERE topition = {tp}), \
             X'00000001', X'000000000000' FROM watermark w WHERE w.topition = {tp};\
             UPDATE watermark SET high = high + 1 WHERE topition = {tp};\
             COMMIT; SELECT high FROM watermark WHERE topition = {tp};"
        ));
        high.parse()
            .unwrap_or_else(|e| panic!("{topic}/{partition}'s high watermark {high:?}: {e}"))
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

    /// Starts tansu (in-memory storage) listening on `port` and advertising `advertised`;
    /// waits until it accepts connections.
    async fn spawn(name: &str, port: u16, advertised: u16) -> Broker {
        let scratch = ScratchDir::create(&format!("tansu-{name}"));
        let child = launch(&scratch, "tansu", (port, advertised), MEMORY, false);
        let broker = Broker {
            child,
            port: advertised,
            tls: None,
            sasl: None,
            _scratch: scratch,
        };
        wait_for_listener(port).await;
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

    /// A client configuration for this broker (over TLS for a TLS broker; authenticated
    /// as its first user for a SASL broker).
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.address());
        if let Some(user) = &self.sasl {
            c.set(
                "security.protocol",
                if self.tls.is_some() {
                    "SASL_SSL"
                } else {
                    "SASL_PLAINTEXT"
                },
            );
            c.set("sasl.mechanisms", user.mechanism.name());
            c.set("sasl.username", &user.name);
            c.set("sasl.password", &user.password);
        }
        if let Some((auth, _)) = &self.tls {
            if self.sasl.is_none() {
                c.set("security.protocol", "SSL");
            }
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

/// In-memory storage for a broker.
const MEMORY: &str = "memory://tansu/";
/// SQLite storage (`tansu.db` in the broker's directory), which keeps SCRAM credentials.
const SQLITE: &str = "sqlite://tansu.db";

/// Starts tansu in `scratch` (its log in `<log>.log`) on `storage`, listening on `port` and
/// advertising `advertised`, requiring SASL authentication if `authentication`.
fn launch(
    scratch: &ScratchDir,
    log: &str,
    (port, advertised): (u16, u16),
    storage: &str,
    authentication: bool,
) -> Child {
    let log = std::fs::File::create(scratch.path.join(format!("{log}.log")))
        .expect("creating the broker log");
    let mut command = Command::new(tansu_binary());
    command
        .arg("broker")
        .arg("--storage-engine")
        .arg(storage)
        .arg("--listener-url")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://127.0.0.1:{advertised}"));
    if authentication {
        command.arg("--authentication");
    }
    command
        .current_dir(&scratch.path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("cloning a file handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "starting the tansu broker ({}): {e}; install it with \
                 `cargo install tansu --version 0.6.0 --features dynostore,libsql --locked` \
                 (see scripts/test)",
                tansu_binary().display()
            )
        })
}

/// Waits until a broker accepts connections on `port`.
async fn wait_for_listener(port: u16) {
    poll_until("the broker to accept connections", STARTUP, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
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
