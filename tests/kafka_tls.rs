//! Kafka connections over TLS: `SECURITY PROTOCOL = 'SSL'` with `SSL CERTIFICATE AUTHORITY`,
//! and mutual TLS with `SSL CERTIFICATE` and `SSL KEY = SECRET ...`, against a real tansu
//! broker that clients reach only through a TLS-terminating proxy (`tests/support/tls.rs`:
//! tansu 0.6 cannot serve TLS itself). librdkafka does the real handshake and verifies the
//! broker's certificate and host name.
//!
//! * [`tls_source_and_sink`]: a source reads and a sink writes over TLS; a connection that
//!   trusts another CA, or that speaks plaintext to the TLS port, is refused when created.
//! * [`mutual_tls_needs_the_client_certificate`]: with client certificates required, a
//!   connection without one is refused, and one with the certificate and its key (a
//!   secret) reads the topic.

mod support;

use std::time::Duration;

use support::kafka::{Broker, produce, read_topic_with};
use support::tls::{ClientAuth, fixture_text};
use support::{TestServer, exec, expect_rows, message, poll_until, sqlstate, wait_for_rows};

/// How long a test waits for a sink's messages.
const WAIT: Duration = Duration::from_secs(60);

/// Creates connection `name` with `options` and expects the broker check to refuse it.
async fn refused(c: &tokio_postgres::Client, name: &str, options: &str) -> String {
    let e = c
        .batch_execute(&format!("CREATE CONNECTION {name} TO KAFKA ({options})"))
        .await
        .expect_err("the connection is refused");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    message(&e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_source_and_sink() {
    let broker = Broker::start_tls("tls", ClientAuth::None).await;
    broker.create_topic("events", 2).await;
    let server = TestServer::start("kafka-tls").await;
    let c = server.connect().await;
    let addr = broker.address();

    // Trusting another CA: the broker's certificate does not verify.
    let e = refused(
        &c,
        "wrong_ca",
        &format!(
            "BROKER '{addr}', SECURITY PROTOCOL = 'SSL', SSL CERTIFICATE AUTHORITY = '{}'",
            fixture_text("other-ca.pem")
        ),
    )
    .await;
    assert!(e.contains("certificate verify failed"), "{e}");
    // Plaintext to the TLS port.
    refused(&c, "plain", &format!("BROKER '{addr}'")).await;

    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE events FROM KAFKA CONNECTION kafka (TOPIC 'events') FORMAT TEXT \
             INCLUDE PARTITION",
        ],
    )
    .await;
    let producer = broker.producer();
    produce(
        &producer,
        "events",
        &[
            (0, None, Some(b"a".as_slice())),
            (1, None, Some(b"b".as_slice())),
            (0, None, Some(b"c".as_slice())),
        ],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT text, partition FROM events ORDER BY text",
        &expect_rows(&[&["a", "0"], &["b", "1"], &["c", "0"]]),
    )
    .await;

    exec(
        &c,
        &[
            "CREATE MATERIALIZED VIEW per_partition AS \
             SELECT partition, count(*) AS n FROM events GROUP BY partition",
            "CREATE SINK counts FROM per_partition INTO KAFKA CONNECTION kafka \
             (TOPIC 'counts') KEY (partition) FORMAT JSON ENVELOPE UPSERT",
        ],
    )
    .await;
    let values = poll_until("the sink's messages over TLS", WAIT, || async {
        let mut values: Vec<String> = read_topic_with(broker.config(), "counts")?
            .into_iter()
            .filter_map(|m| m.value.map(|v| String::from_utf8_lossy(&v).into_owned()))
            .collect();
        values.sort();
        if values.len() == 2 {
            Ok(values)
        } else {
            Err(format!("{values:?}"))
        }
    })
    .await;
    assert_eq!(
        values,
        [r#"{"partition":0,"n":2}"#, r#"{"partition":1,"n":1}"#],
        "the sink's upserts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let broker = Broker::start_tls("mtls", ClientAuth::Required).await;
    broker.create_topic("lines", 1).await;
    let server = TestServer::start("kafka-mtls").await;
    let c = server.connect().await;
    let addr = broker.address();

    // The CA alone is not enough: the proxy ends the handshake without a client certificate.
    refused(
        &c,
        "no_cert",
        &format!(
            "BROKER '{addr}', SECURITY PROTOCOL = 'SSL', SSL CERTIFICATE AUTHORITY = '{}'",
            fixture_text("ca.pem")
        ),
    )
    .await;

    exec(
        &c,
        &[
            &broker.connection_sql(),
            "CREATE SOURCE lines FROM KAFKA CONNECTION kafka (TOPIC 'lines') FORMAT TEXT",
        ],
    )
    .await;
    produce(
        &broker.producer(),
        "lines",
        &[
            (0, None, Some(b"one".as_slice())),
            (0, None, Some(b"two".as_slice())),
        ],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT text FROM lines ORDER BY text",
        &expect_rows(&[&["one"], &["two"]]),
    )
    .await;
    // The key is a secret: SHOW CREATE CONNECTION names it and does not print it.
    let shown = support::text_rows(&c, "SHOW CREATE CONNECTION kafka").await;
    let sql = shown[0][1].clone().unwrap_or_default();
    assert!(sql.contains("SECRET"), "{sql}");
    assert!(!sql.contains("PRIVATE KEY"), "{sql}");
}
