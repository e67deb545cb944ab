//! Kafka connections with SASL authentication against a tansu broker that requires it
//! (`tansu broker --authentication`: SCRAM-SHA-256 and SCRAM-SHA-512; tansu 0.6 offers no
//! PLAIN), with the password in a secret:
//!
//! * [`scram_source_and_sink`]: `SECURITY PROTOCOL SASL_PLAINTEXT` with SCRAM-SHA-256 and
//!   SCRAM-SHA-512: a JSON source feeds a view, a sink writes it back through a SASL
//!   connection; the password shows nowhere (`SHOW CREATE CONNECTION`, the catalog, the
//!   server log).
//! * [`authentication_failures`]: a wrong password, an unknown user, a mechanism the
//!   broker does not offer and no SASL at all are refused when the connection is created
//!   (`08000`, with the reason); with `VALIDATE = false` the source reports the
//!   authentication failure as its status, and `CREATE SINK` is refused at once naming the
//!   user and mechanism; `ALTER SECRET` with the right password makes new sources and sinks
//!   on the same connection work, and the stalled source after a restart; a sink whose
//!   secret goes wrong reports the refused credentials after a restart (`SHOW SINKS`,
//!   `mz_internal.mz_sink_statuses`) and recovers when it is right again.
//! * [`sasl_over_tls`]: `SASL_SSL` through the TLS proxy in front of tansu
//!   (`tests/support/tls.rs`).

mod support;

use std::time::Duration;

use support::kafka::{Broker, SaslUser, Scram, produce, read_topic_with};
use support::tls::{ClientAuth, fixture_text};
use support::{
    TestServer, exec, expect_rows, message, poll_until, sqlstate, text_rows, try_text_rows,
    wait_for_rows,
};

/// How long a test waits for data (or a status) to show.
const WAIT: Duration = Duration::from_secs(60);

/// The passwords the brokers know (and that must not leak).
const ALICE_PASSWORD: &str = "alice-Pa55-word";
const BOB_PASSWORD: &str = "bob-Pa55-word";

fn users() -> Vec<SaslUser> {
    vec![
        SaslUser::new("alice", ALICE_PASSWORD, Scram::Sha256),
        SaslUser::new("bob", BOB_PASSWORD, Scram::Sha512),
    ]
}

/// `CREATE CONNECTION name` to `addr` with SASL over `protocol`, as `user` with `mechanism`
/// and the password in secret `secret`; `extra` options are appended.
fn sasl_connection(
    name: &str,
    addr: &str,
    protocol: &str,
    (mechanism, user, secret): (&str, &str, &str),
    extra: &str,
) -> String {
    format!(
        "CREATE CONNECTION {name} TO KAFKA (BROKER '{addr}', SECURITY PROTOCOL = {protocol}, \
         SASL MECHANISMS = {mechanism}, SASL USERNAME = '{user}', SASL PASSWORD = SECRET {secret}{extra})"
    )
}

/// Creates a connection with `sql` and expects the broker check to refuse it; returns the
/// message.
async fn refused(c: &tokio_postgres::Client, sql: &str) -> String {
    let e = c
        .batch_execute(sql)
        .await
        .expect_err("the connection is refused");
    assert_eq!(sqlstate(&e).as_deref(), Some("08000"), "{e:?}");
    let m = message(&e);
    eprintln!("refused: {m}");
    assert!(
        !m.contains("Pa55"),
        "the password leaks into the error: {m}"
    );
    m
}

/// The status column of source `name` in `SHOW SOURCES`.
async fn source_status(c: &tokio_postgres::Client, name: &str) -> Result<String, String> {
    let rows = try_text_rows(c, "SHOW SOURCES").await?;
    rows.iter()
        .find(|r| r[0].as_deref() == Some(name))
        .and_then(|r| r[2].clone())
        .ok_or_else(|| format!("no source {name}: {rows:?}"))
}

/// Every text value a client can read about the catalog: `SHOW` output and the system
/// relations.
async fn catalog_text(c: &tokio_postgres::Client) -> String {
    let mut all = String::new();
    for sql in [
        "SHOW CONNECTIONS",
        "SHOW SECRETS",
        "SHOW SOURCES",
        "SHOW SINKS",
        "SHOW CREATE CONNECTION k256",
        "SHOW CREATE CONNECTION k512",
        "SHOW CREATE SOURCE events",
        "SHOW CREATE SINK totals_out",
        "SELECT * FROM mz_internal.mz_source_statistics",
        "SELECT * FROM pg_catalog.pg_class",
        "SELECT * FROM pg_catalog.pg_namespace",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM information_schema.views",
        "SELECT * FROM pg_catalog.pg_settings",
    ] {
        for row in text_rows(c, sql).await {
            for v in row.into_iter().flatten() {
                all.push_str(&v);
                all.push('\n');
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_source_and_sink() {
    let broker = Broker::start_sasl("sasl", &users(), None).await;
    broker.create_topic("events", 2).await;
    let server = TestServer::start("kafka-sasl").await;
    let c = server.connect().await;
    let addr = broker.address();
    exec(
        &c,
        &[
            &format!("CREATE SECRET alice_pw AS '{ALICE_PASSWORD}'"),
            &format!("CREATE SECRET bob_pw AS '{BOB_PASSWORD}'"),
            &sasl_connection(
                "k256",
                &addr,
                "'SASL_PLAINTEXT'",
                ("'SCRAM-SHA-256'", "alice", "alice_pw"),
                "",
            ),
            // Words fold to lower case: the protocol and mechanism are upper-cased, as in
            // Materialize.
            &sasl_connection(
                "k512",
                &addr,
                "sasl_plaintext",
                ("'scram-sha-512'", "bob", "bob_pw"),
                "",
            ),
            "CREATE SOURCE events FROM KAFKA CONNECTION k256 (TOPIC 'events') FORMAT JSON",
            "CREATE SOURCE events_512 FROM KAFKA CONNECTION k512 (TOPIC 'events') FORMAT JSON",
            "CREATE MATERIALIZED VIEW totals AS \
             SELECT data->>'name' AS name, sum((data->>'n')::int) AS total, count(*) AS events \
             FROM events GROUP BY 1",
            "CREATE SINK totals_out FROM totals INTO KAFKA CONNECTION k512 \
             (TOPIC 'totals') KEY (name) FORMAT JSON ENVELOPE UPSERT",
        ],
    )
    .await;

    let producer = broker.producer();
    let payloads: Vec<(i32, String)> = (0..40)
        .map(|i| {
            let name = ["ann", "ben", "cy"][i % 3];
            ((i % 2) as i32, format!(r#"{{"name": "{name}", "n": {i}}}"#))
        })
        .collect();
    let records: Vec<_> = payloads
        .iter()
        .map(|(p, v)| (*p, None, Some(v.as_bytes())))
        .collect();
    produce(&producer, "events", &records).await;

    // The oracle: the sums computed here.
    let mut expected = Vec::new();
    for (k, name) in ["ann", "ben", "cy"].iter().enumerate() {
        let ns: Vec<usize> = (0..40).filter(|i| i % 3 == k).collect();
        expected.push(vec![
            Some(name.to_string()),
            Some(ns.iter().sum::<usize>().to_string()),
            Some(ns.len().to_string()),
        ]);
    }
    wait_for_rows(
        &c,
        "SELECT name, total, events FROM totals ORDER BY name",
        &expected,
    )
    .await;
    // The SCRAM-SHA-512 connection reads the same topic.
    wait_for_rows(
        &c,
        "SELECT count(*) FROM events_512",
        &expect_rows(&[&["40"]]),
    )
    .await;
    assert_eq!(source_status(&c, "events").await.as_deref(), Ok("running"));

    // The sink wrote the view through the SASL connection.
    let values = poll_until("the sink's messages", WAIT, || async {
        let mut latest = std::collections::BTreeMap::new();
        for m in read_topic_with(broker.config(), "totals")? {
            let key = String::from_utf8_lossy(&m.key.unwrap_or_default()).into_owned();
            latest.insert(
                key,
                m.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
            );
        }
        let values: Vec<String> = latest.into_values().flatten().collect();
        let want: Vec<String> = expected
            .iter()
            .map(|r| {
                format!(
                    r#"{{"name":"{}","total":{},"events":{}}}"#,
                    r[0].as_deref().unwrap_or_default(),
                    r[1].as_deref().unwrap_or_default(),
                    r[2].as_deref().unwrap_or_default()
                )
            })
            .collect();
        if values == want {
            Ok(values)
        } else {
            Err(format!("{values:?}, want {want:?}"))
        }
    })
    .await;
    assert_eq!(values.len(), 3);

    // The connection names its secret; the password shows nowhere a client can read, nor
    // in the server's log.
    let shown = text_rows(&c, "SHOW CREATE CONNECTION k256").await;
    let sql = shown[0][1].clone().unwrap_or_default();
    assert!(sql.contains("SASL PASSWORD = SECRET"), "{sql}");
    assert!(sql.contains("alice_pw"), "{sql}");
    let catalog = catalog_text(&c).await;
    for password in [ALICE_PASSWORD, BOB_PASSWORD] {
        assert!(!catalog.contains(password), "{password} in:\n{catalog}");
    }
    let log = server.log_tail(usize::MAX);
    for password in [ALICE_PASSWORD, BOB_PASSWORD] {
        assert!(
            !log.contains(password),
            "{password} in the server log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures() {
    let broker = Broker::start_sasl("sasl-fail", &users(), None).await;
    broker.create_topic("lines", 1).await;
    let mut server = TestServer::start("kafka-sasl-fail").await;
    let c = server.connect().await;
    let addr = broker.address();
    exec(
        &c,
        &[
            &format!("CREATE SECRET alice_pw AS '{ALICE_PASSWORD}'"),
            "CREATE SECRET wrong_pw AS 'wrong-Pa55'",
        ],
    )
    .await;

    // A wrong password, and a user the broker does not know.
    let wrong = |name: &str, user: &str, secret: &str| {
        sasl_connection(
            name,
            &addr,
            "'SASL_PLAINTEXT'",
            ("'SCRAM-SHA-256'", user, secret),
            "",
        )
    };
    for (user, secret) in [("alice", "wrong_pw"), ("mallory", "alice_pw")] {
        let e = refused(&c, &wrong("bad", user, secret)).await;
        assert!(e.contains("authentication failed"), "{user}: {e}");
        assert!(e.contains("SCRAM-SHA-256"), "{user}: {e}");
    }
    // alice's credential is for SCRAM-SHA-256 only.
    let e = refused(
        &c,
        &sasl_connection(
            "bad",
            &addr,
            "'SASL_PLAINTEXT'",
            ("'SCRAM-SHA-512'", "alice", "alice_pw"),
            "",
        ),
    )
    .await;
    assert!(e.contains("authentication failed"), "{e}");
    // PLAIN: tansu does not offer it.
    let e = refused(
        &c,
        &sasl_connection(
            "bad",
            &addr,
            "'SASL_PLAINTEXT'",
            ("'PLAIN'", "alice", "alice_pw"),
            "",
        ),
    )
    .await;
    assert!(e.contains("PLAIN"), "{e}");
    // No SASL at all.
    refused(
        &c,
        &format!("CREATE CONNECTION bad TO KAFKA (BROKER '{addr}')"),
    )
    .await;
    // The options are checked before the broker is asked.
    let e = c
        .batch_execute(&format!(
            "CREATE CONNECTION bad TO KAFKA (BROKER '{addr}', SECURITY PROTOCOL SASL_PLAINTEXT, \
             SASL MECHANISMS 'SCRAM-SHA-256', SASL PASSWORD = SECRET alice_pw)"
        ))
        .await
        .expect_err("no user name");
    assert_eq!(sqlstate(&e).as_deref(), Some("42P16"), "{e:?}");
    assert_eq!(message(&e), "SASL USERNAME must be specified");

    // Not validated: the source reports the failure as its status, and the server stays up.
    exec(
        &c,
        &[
            &format!(
                "{} WITH (VALIDATE = false)",
                wrong("k", "alice", "wrong_pw")
            ),
            "CREATE SOURCE stalled FROM KAFKA CONNECTION k (TOPIC 'lines') FORMAT TEXT",
        ],
    )
    .await;
    let status = poll_until("the source to report the failure", WAIT, || async {
        match source_status(&c, "stalled").await? {
            s if s.starts_with("stalled") => Ok(s),
            other => Err(other),
        }
    })
    .await;
    assert!(status.contains("authentication failed"), "{status}");
    assert!(!status.contains("Pa55"), "{status}");
    // A sink on that connection is refused at once, for the same reason (it used to wait
    // out a metadata timeout and say "broker transport failure").
    exec(&c, &["CREATE TABLE t (k int, v int)"]).await;
    let sink_sql = "CREATE SINK t_out FROM t INTO KAFKA CONNECTION k (TOPIC 't-out') \
                    KEY (k) NOT ENFORCED FORMAT JSON ENVELOPE UPSERT";
    let started = std::time::Instant::now();
    let e = refused(&c, sink_sql).await;
    assert!(
        e.contains("SASL authentication failed for user \"alice\" with mechanism SCRAM-SHA-256"),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the sink took {:?} to be refused",
        started.elapsed()
    );

    produce(
        &broker.producer(),
        "lines",
        &[
            (0, None, Some(b"one".as_slice())),
            (0, None, Some(b"two".as_slice())),
        ],
    )
    .await;
    // The right password: what resolves the secret from now on uses it (a new source on the
    // same connection), as in Materialize; the running source keeps the value it started
    // with.
    exec(
        &c,
        &[
            &format!("ALTER SECRET wrong_pw AS '{ALICE_PASSWORD}'"),
            "CREATE SOURCE fixed FROM KAFKA CONNECTION k (TOPIC 'lines') FORMAT TEXT",
        ],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT text FROM fixed ORDER BY text",
        &expect_rows(&[&["one"], &["two"]]),
    )
    .await;
    assert!(
        source_status(&c, "stalled")
            .await
            .is_ok_and(|s| s.starts_with("stalled")),
        "the running source keeps its old password"
    );
    // With the right password, a sink on the connection works.
    exec(&c, &[sink_sql, "INSERT INTO t VALUES (1, 10)"]).await;
    poll_until("the sink to run", WAIT, || async {
        match sink_status(&c, "t_out").await? {
            (s, _) if s == "running" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // ALTER SECRET checks what it alters.
    let e = c
        .batch_execute("ALTER SECRET nope AS 'x'")
        .await
        .expect_err("no such secret");
    // Freshet's code for a missing catalog object, as `DROP SECRET` has it.
    assert_eq!(sqlstate(&e).as_deref(), Some("42P01"), "{e:?}");
    exec(&c, &["ALTER SECRET IF EXISTS nope AS 'x'"]).await;
    let e = c
        .batch_execute("ALTER SECRET k AS 'x'")
        .await
        .expect_err("not a secret");
    assert_eq!(sqlstate(&e).as_deref(), Some("42809"), "{e:?}");

    // After a restart, the stalled source starts with the stored (altered) secret.
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    wait_for_rows(
        &c,
        "SELECT text FROM stalled ORDER BY text",
        &expect_rows(&[&["one"], &["two"]]),
    )
    .await;

    // The secret goes wrong again (the broker would refuse a changed password the same
    // way): after a restart, the sink's status names the refused user and mechanism, in
    // `SHOW SINKS` and in `mz_internal.mz_sink_statuses`, and the sink recovers once the
    // secret is right again.
    exec(&c, &["ALTER SECRET wrong_pw AS 'wrong-again-Pa55'"]).await;
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    let (status, error) = poll_until("the sink to report the failure", WAIT, || async {
        match sink_status(&c, "t_out").await? {
            (s, Some(e)) if s == "stalled" => Ok((s, e)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(status, "stalled");
    assert!(
        error.starts_with(
            "SASL authentication failed for user \"alice\" with mechanism SCRAM-SHA-256"
        ),
        "{error}"
    );
    assert!(!error.contains("Pa55"), "{error}");
    // (librdkafka's reason, after the user and mechanism, names timings that differ
    // between retries.)
    let shown = text_rows(&c, "SHOW SINKS").await;
    let expected_start =
        "stalled: SASL authentication failed for user \"alice\" with mechanism SCRAM-SHA-256";
    assert!(
        shown.len() == 1
            && shown[0].len() == 3
            && shown[0][0].as_deref() == Some("t_out")
            && shown[0][1].as_deref() == Some("kafka")
            && shown[0][2]
                .as_deref()
                .is_some_and(|s| s.starts_with(expected_start)),
        "SHOW SINKS: {shown:?}"
    );
    // (A running sink keeps the secret it started with, as a source does: the restart
    // picks up the right one.)
    exec(
        &c,
        &[&format!("ALTER SECRET wrong_pw AS '{ALICE_PASSWORD}'")],
    )
    .await;
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    exec(&c, &["INSERT INTO t VALUES (2, 20)"]).await;
    poll_until("the sink to recover", WAIT, || async {
        match sink_status(&c, "t_out").await? {
            (s, None) if s == "running" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let log = server.log_tail(usize::MAX);
    for password in [ALICE_PASSWORD, "wrong-Pa55", "wrong-again-Pa55"] {
        assert!(
            !log.contains(password),
            "the password in the server log:\n{log}"
        );
    }
}

/// The status and error of sink `name` in `mz_internal.mz_sink_statuses`.
async fn sink_status(
    c: &tokio_postgres::Client,
    name: &str,
) -> Result<(String, Option<String>), String> {
    let rows = try_text_rows(
        c,
        &format!("SELECT status, error FROM mz_internal.mz_sink_statuses WHERE name = '{name}'"),
    )
    .await?;
    match rows.as_slice() {
        [row] => Ok((row[0].clone().unwrap_or_default(), row[1].clone())),
        other => Err(format!("no single row for sink {name}: {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_over_tls() {
    let broker = Broker::start_sasl("sasl-tls", &users(), Some(ClientAuth::None)).await;
    broker.create_topic("lines", 1).await;
    let server = TestServer::start("kafka-sasl-tls").await;
    let c = server.connect().await;
    let addr = broker.address();
    let ca = format!(", SSL CERTIFICATE AUTHORITY = '{}'", fixture_text("ca.pem"));
    exec(&c, &[&format!("CREATE SECRET bob_pw AS '{BOB_PASSWORD}'")]).await;
    // SASL without TLS, to the TLS port.
    refused(
        &c,
        &sasl_connection(
            "bad",
            &addr,
            "'SASL_PLAINTEXT'",
            ("'SCRAM-SHA-512'", "bob", "bob_pw"),
            "",
        ),
    )
    .await;
    // SECURITY PROTOCOL defaults to SASL_SSL with SASL options (Materialize).
    exec(
        &c,
        &[
            &format!(
                "CREATE CONNECTION k TO KAFKA (BROKER '{addr}', SASL MECHANISMS = 'SCRAM-SHA-512', \
                 SASL USERNAME = 'bob', SASL PASSWORD = SECRET bob_pw{ca})"
            ),
            "CREATE SOURCE lines FROM KAFKA CONNECTION k (TOPIC 'lines') FORMAT TEXT",
            "CREATE MATERIALIZED VIEW n AS SELECT count(*) AS n FROM lines",
            "CREATE SINK n_out FROM n INTO KAFKA CONNECTION k (TOPIC 'n') \
             FORMAT JSON ENVELOPE DEBEZIUM",
        ],
    )
    .await;
    produce(
        &broker.producer(),
        "lines",
        &[
            (0, None, Some(b"a".as_slice())),
            (0, None, Some(b"b".as_slice())),
        ],
    )
    .await;
    wait_for_rows(
        &c,
        "SELECT text FROM lines ORDER BY text",
        &expect_rows(&[&["a"], &["b"]]),
    )
    .await;
    poll_until("the sink's last message", WAIT, || async {
        let values: Vec<String> = read_topic_with(broker.config(), "n")?
            .into_iter()
            .filter_map(|m| m.value.map(|v| String::from_utf8_lossy(&v).into_owned()))
            .collect();
        match values.last() {
            Some(v) if v.contains(r#""after":{"n":2}"#) => Ok(()),
            _ => Err(format!("{values:?}")),
        }
    })
    .await;
}
