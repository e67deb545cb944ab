//! A tansu Kafka broker per test (or benchmark), and producing records to it.
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

/// A tansu broker process on a free port.
pub struct Broker {
    child: Child,
    port: u16,
    _scratch: ScratchDir,
}

impl Broker {
    pub async fn start(name: &str) -> Broker {
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

    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.address());
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
