//! End-to-end tests of `SUBSCRIBE`'s output clauses, as Materialize documents them
//! (<https://materialize.com/docs/sql/subscribe/>), over the wire:
//!
//! * [`envelopes_and_within_timestamp_order`]: `ENVELOPE UPSERT (KEY (...))`, `ENVELOPE
//!   DEBEZIUM (KEY (...))` (with `PROGRESS`) and `WITHIN TIMESTAMP ORDER BY`, read through
//!   cursors while another session inserts, updates and deletes: the column names, one row per
//!   key and timestamp with the right `mz_state`, key violations, and the order within a
//!   timestamp.
//! * [`up_to_ends_the_subscribe`]: `UP TO` ends a `COPY (SUBSCRIBE ...) TO STDOUT` once every
//!   earlier timestamp has been sent, and sends nothing at or after it; `AS OF t UP TO t` is
//!   empty.
//! * [`subscribe_clause_errors`]: the errors of bad keys, orderings and timestamps, with their
//!   SQLSTATEs.
//! * [`subscribe_over_the_extended_protocol`]: a prepared SUBSCRIBE is described with its
//!   output columns before it runs, and sends its rows in the formats Bind asked for.
//!
//! Nothing sleeps to synchronise except where wall-clock time is the subject (`UP TO` a
//! moment in the future): reads wait on observable conditions, with deadlines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::time::Instant;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use support::raw_numeric::RawNumeric;
use support::{Rows, TestServer, exec, expect_rows, sqlstate};

mod support;

/// How long a test waits for output it expects.
const WAIT: Duration = Duration::from_secs(30);

/// Output rows of a cursor, with the column names.
struct Fetched {
    columns: Vec<String>,
    rows: Rows,
}

/// Fetches from `cursor` until `n` rows have come (or the deadline passes, which fails the test);
/// more than `n` fails too.
async fn fetch_n(client: &Client, cursor: &str, n: usize) -> Fetched {
    let fetched = fetch_until(client, cursor, |rows| rows.len() >= n).await;
    assert_eq!(
        fetched.rows.len(),
        n,
        "more rows than expected from {cursor}"
    );
    fetched
}

/// Fetches from `cursor` until `done` holds for the rows so far (or the deadline passes, which
/// fails the test).
async fn fetch_until(client: &Client, cursor: &str, done: impl Fn(&Rows) -> bool) -> Fetched {
    let deadline = Instant::now() + WAIT;
    let mut fetched = Fetched {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    while !done(&fetched.rows) {
        assert!(
            Instant::now() < deadline,
            "waiting for rows from cursor {cursor}; got {:#?}",
            fetched.rows
        );
        let messages = client
            .simple_query(&format!("FETCH ALL {cursor} WITH (timeout = '1s')"))
            .await
            .unwrap_or_else(|e| panic!("FETCH from {cursor}: {e:?}"));
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(columns) => {
                    fetched.columns = columns.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => fetched.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => {}
            }
        }
    }
    fetched
}

/// `mz_timestamp` of an output row.
fn ts(row: &[Option<String>]) -> u64 {
    row[0]
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("bad mz_timestamp in {row:?}"))
}

/// The rows without `mz_timestamp`, checking that each group of `sizes` rows shares a timestamp
/// and that the groups' timestamps increase.
fn by_timestamp(rows: &Rows, sizes: &[usize]) -> Rows {
    assert_eq!(rows.len(), sizes.iter().sum::<usize>(), "{rows:#?}");
    let mut at = 0;
    let mut last = 0;
    for size in sizes {
        let group = &rows[at..at + size];
        let t = ts(&group[0]);
        assert!(
            t > last,
            "timestamps must increase from one write to the next: {rows:#?}"
        );
        assert!(
            group.iter().all(|r| ts(r) == t),
            "one write's rows must share a timestamp: {rows:#?}"
        );
        last = t;
        at += size;
    }
    rows.iter().map(|r| r[1..].to_vec()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_and_within_timestamp_order() {
    let server = TestServer::start("subscribe_envelopes").await;
    let writer = server.connect().await;
    exec(
        &writer,
        &[
            "CREATE TABLE kv (k int, v text, w int)",
            "INSERT INTO kv VALUES (2, 'b', 20), (1, 'a', 10)",
        ],
    )
    .await;
    let reader = server.connect().await;
    exec(
        &reader,
        &[
            "BEGIN",
            "DECLARE up CURSOR FOR SUBSCRIBE kv ENVELOPE UPSERT (KEY (k))",
            "DECLARE dbz CURSOR FOR SUBSCRIBE (SELECT k, v, w FROM kv) \
             ENVELOPE DEBEZIUM (KEY (k)) WITH (PROGRESS)",
            "DECLARE ord CURSOR FOR SUBSCRIBE kv WITHIN TIMESTAMP ORDER BY mz_diff DESC, k DESC",
        ],
    )
    .await;
    // Each write's changes, in turn: an update of a value, a delete, and an insert of two rows
    // with one key (a key violation) beside a new key.
    exec(&writer, &["UPDATE kv SET v = 'c' WHERE k = 1"]).await;
    exec(&writer, &["DELETE FROM kv WHERE k = 2"]).await;
    exec(
        &writer,
        &["INSERT INTO kv VALUES (3, 'y', 2), (4, 'z', 3), (3, 'x', 1)"],
    )
    .await;

    let up = fetch_n(&reader, "up", 6).await;
    assert_eq!(up.columns, ["mz_timestamp", "mz_state", "k", "v", "w"]);
    assert_eq!(
        by_timestamp(&up.rows, &[2, 1, 1, 2]),
        expect_rows(&[
            &["upsert", "1", "a", "10"],
            &["upsert", "2", "b", "20"],
            &["upsert", "1", "c", "10"],
            &["delete", "2", "NULL", "NULL"],
            &["key_violation", "3", "NULL", "NULL"],
            &["upsert", "4", "z", "3"],
        ]),
        "ENVELOPE UPSERT"
    );

    // With PROGRESS, progress rows come between the data; they are NULL past mz_progressed.
    let dbz = fetch_until(&reader, "dbz", |rows| {
        rows.iter().filter(|r| r[1].as_deref() == Some("f")).count() >= 6
    })
    .await;
    assert_eq!(
        dbz.columns,
        [
            "mz_timestamp",
            "mz_progressed",
            "mz_state",
            "k",
            "before_v",
            "before_w",
            "after_v",
            "after_w"
        ]
    );
    let (progress, data): (Rows, Rows) = dbz
        .rows
        .into_iter()
        .partition(|r| r[1].as_deref() == Some("t"));
    assert!(
        progress.iter().all(|r| r[2..].iter().all(Option::is_none)),
        "progress rows are NULL past mz_progressed: {progress:#?}"
    );
    let first_data = data.iter().map(|r| ts(r)).min().expect("data rows");
    assert!(
        progress.iter().all(|r| ts(r) >= first_data),
        "no progress row before the subscribe's first timestamp {first_data}: {progress:#?}"
    );
    let data: Rows = data
        .into_iter()
        .map(|mut r| {
            r.remove(1);
            r
        })
        .collect();
    assert_eq!(
        by_timestamp(&data, &[2, 1, 1, 2]),
        expect_rows(&[
            &["insert", "1", "NULL", "NULL", "a", "10"],
            &["insert", "2", "NULL", "NULL", "b", "20"],
            &["upsert", "1", "a", "10", "c", "10"],
            &["delete", "2", "b", "20", "NULL", "NULL"],
            &["key_violation", "3", "NULL", "NULL", "NULL", "NULL"],
            &["insert", "4", "NULL", "NULL", "z", "3"],
        ]),
        "ENVELOPE DEBEZIUM"
    );

    // Insertions before retractions, then the key descending; rows that tie stay in row order.
    let ord = fetch_n(&reader, "ord", 8).await;
    assert_eq!(ord.columns, ["mz_timestamp", "mz_diff", "k", "v", "w"]);
    assert_eq!(
        by_timestamp(&ord.rows, &[2, 2, 1, 3]),
        expect_rows(&[
            &["1", "2", "b", "20"],
            &["1", "1", "a", "10"],
            &["1", "1", "c", "10"],
            &["-1", "1", "a", "10"],
            &["-1", "2", "b", "20"],
            &["1", "4", "z", "3"],
            &["1", "3", "x", "1"],
            &["1", "3", "y", "2"],
        ]),
        "WITHIN TIMESTAMP ORDER BY mz_diff DESC, k DESC"
    );
    exec(&reader, &["COMMIT"]).await;
}

/// Milliseconds since the Unix epoch: Freshet's timestamps are the wall clock's milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Runs a `COPY (SUBSCRIBE ...) TO STDOUT` to its end and returns its lines, split into fields.
async fn copy_to_end(client: &Client, sql: &str) -> Vec<Vec<String>> {
    let stream = client
        .copy_out(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e:?}"));
    let mut stream = Box::pin(stream);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("`{sql}`: {e:?}")));
    }
    String::from_utf8(bytes)
        .expect("UTF-8 output")
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_ends_the_subscribe() {
    let server = TestServer::start("subscribe_up_to").await;
    let writer = server.connect().await;
    exec(
        &writer,
        &["CREATE TABLE t (x int)", "INSERT INTO t VALUES (1)"],
    )
    .await;

    // The last write's timestamp is the earliest readable one: `AS OF` it and `UP TO` the next
    // millisecond is exactly the snapshot; `UP TO` itself is nothing. Both end at once.
    let reader = server.connect().await;
    exec(&reader, &["BEGIN", "DECLARE c CURSOR FOR SUBSCRIBE t"]).await;
    let snapshot_ts = ts(&fetch_n(&reader, "c", 1).await.rows[0]);
    exec(&reader, &["COMMIT"]).await;
    let lines = copy_to_end(
        &reader,
        &format!(
            "COPY (SUBSCRIBE t AS OF {snapshot_ts} UP TO {}) TO STDOUT",
            snapshot_ts + 1
        ),
    )
    .await;
    assert_eq!(
        lines,
        [[snapshot_ts.to_string(), "1".into(), "1".into()]],
        "AS OF t UP TO t + 1"
    );
    let lines = copy_to_end(
        &reader,
        &format!("COPY (SUBSCRIBE t AS OF {snapshot_ts} UP TO {snapshot_ts}) TO STDOUT"),
    )
    .await;
    assert!(lines.is_empty(), "AS OF t UP TO t sends nothing: {lines:?}");

    // UP TO a moment a few seconds ahead: a write before it is sent, a write after it is not,
    // and that later write ends the COPY.
    let up_to = now_ms() + 3_000;
    let sql = format!("COPY (SUBSCRIBE t WITH (PROGRESS) UP TO {up_to}) TO STDOUT");
    let copy_client = server.connect().await;
    let copy = tokio::spawn(async move { copy_to_end(&copy_client, &sql).await });
    exec(&writer, &["INSERT INTO t VALUES (2)"]).await;
    while now_ms() <= up_to {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec(&writer, &["INSERT INTO t VALUES (3)"]).await;
    let lines = tokio::time::timeout(WAIT, copy)
        .await
        .expect("the COPY ends once a write passes UP TO")
        .expect("the COPY task");
    let data: Vec<&Vec<String>> = lines.iter().filter(|l| l[1] == "f").collect();
    let values: Vec<&str> = data.iter().map(|l| l[3].as_str()).collect();
    assert_eq!(
        values,
        ["1", "2"],
        "rows before UP TO, and none after: {lines:?}"
    );
    for line in &lines {
        let t: u64 = line[0].parse().expect("mz_timestamp");
        assert!(
            t <= up_to,
            "nothing at or after UP TO but the last progress: {lines:?}"
        );
    }
    assert_eq!(
        lines.last().map(|l| (l[0].clone(), l[1].clone())),
        Some((up_to.to_string(), "t".to_string())),
        "the last line is progress to UP TO: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_clause_errors() {
    let server = TestServer::start("subscribe_errors").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            "CREATE TABLE kv (k int, v text)",
            "INSERT INTO kv VALUES (1, 'a')",
        ],
    )
    .await;
    let cases: &[(&str, &str)] = &[
        ("SUBSCRIBE kv ENVELOPE UPSERT (KEY (nope))", "42703"),
        ("SUBSCRIBE kv ENVELOPE DEBEZIUM (KEY (k, k))", "42P10"),
        ("SUBSCRIBE kv ENVELOPE UPSERT (KEY (k + 1))", "42601"),
        (
            "SUBSCRIBE kv ENVELOPE UPSERT (KEY (k)) ENVELOPE UPSERT (KEY (k))",
            "42601",
        ),
        (
            "SUBSCRIBE kv ENVELOPE UPSERT (KEY (k)) WITHIN TIMESTAMP ORDER BY k",
            "42601",
        ),
        ("SUBSCRIBE kv WITHIN TIMESTAMP ORDER BY k + 1", "0A000"),
        ("SUBSCRIBE kv WITHIN TIMESTAMP ORDER BY 4", "42P10"),
        ("SUBSCRIBE kv WITHIN TIMESTAMP ORDER BY nope", "42703"),
        ("SUBSCRIBE kv AS OF 1", "22023"),
        ("SUBSCRIBE kv AS OF AT LEAST 1 UP TO 2", "22023"),
        ("SUBSCRIBE kv AS OF NULL::bigint", "22023"),
        ("SUBSCRIBE kv AS OF -5", "22023"),
        ("SUBSCRIBE kv UP TO 'soon'", "22023"),
        ("SUBSCRIBE kv UP TO k", "42703"),
        ("SUBSCRIBE kv UP TO true", "42804"),
        // `now()` is the statement's time, a day after this bound.
        (
            "SUBSCRIBE kv AS OF AT LEAST 0 UP TO now() - INTERVAL '1 day'",
            "22023",
        ),
        ("SUBSCRIBE kv AS OF mz_now()", "0A000"),
    ];
    let mut problems = Vec::new();
    for (sql, code) in cases {
        match c.simple_query(sql).await {
            Ok(_) => problems.push(format!("`{sql}` succeeded, expected {code}")),
            Err(e) if sqlstate(&e).as_deref() == Some(*code) => {}
            Err(e) => problems.push(format!("`{sql}`: expected {code}, got {e:?}")),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The session is fine afterwards.
    let rows = support::text_rows(&c, "SELECT count(*) FROM kv").await;
    assert_eq!(rows, expect_rows(&[&["1"]]));
}

/// The value of a non-negative integral `numeric` in PostgreSQL's binary form: a count of
/// base-10000 digits, the first digit's weight, the sign, the display scale, then the digits.
fn numeric_integer(raw: &RawNumeric) -> u64 {
    let word = |i: usize| u16::from_be_bytes([raw.0[2 * i], raw.0[2 * i + 1]]);
    let (digits, weight, sign) = (word(0) as usize, word(1) as i16, word(2));
    assert_eq!(sign, 0, "a non-negative numeric: {raw:?}");
    let mut value = 0u64;
    for place in 0..=weight {
        let digit = if (place as usize) < digits {
            u64::from(word(4 + place as usize))
        } else {
            0
        };
        value = value * 10_000 + digit;
    }
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_over_the_extended_protocol() {
    let server = TestServer::start("subscribe_extended").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            "CREATE TABLE t (k int, v text)",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
            "BEGIN",
            "DECLARE c CURSOR FOR SUBSCRIBE t",
        ],
    )
    .await;
    let at = ts(&fetch_n(&c, "c", 2).await.rows[0]);
    exec(&c, &["COMMIT"]).await;

    // Describe tells the columns before Execute, as for a query; the rows then come in the
    // formats Bind asked for (tokio-postgres asks for binary).
    let plain = c
        .prepare(&format!("SUBSCRIBE t AS OF {at} UP TO {}", at + 1))
        .await
        .expect("prepare a plain SUBSCRIBE");
    let columns = |s: &tokio_postgres::Statement| -> Vec<(String, Type)> {
        s.columns()
            .iter()
            .map(|c| (c.name().to_string(), c.type_().clone()))
            .collect()
    };
    let named = |cols: &[(&str, Type)]| -> Vec<(String, Type)> {
        cols.iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect()
    };
    assert_eq!(
        columns(&plain),
        named(&[
            ("mz_timestamp", Type::NUMERIC),
            ("mz_diff", Type::INT8),
            ("k", Type::INT4),
            ("v", Type::TEXT),
        ])
    );
    let mut got: Vec<(u64, i64, i32, String)> = c
        .query(&plain, &[])
        .await
        .expect("run the plain SUBSCRIBE")
        .iter()
        .map(|r| (numeric_integer(&r.get(0)), r.get(1), r.get(2), r.get(3)))
        .collect();
    got.sort();
    assert_eq!(got, [(at, 1, 1, "a".into()), (at, 1, 2, "b".into())]);

    // A query, with progress and an envelope: the output clause shapes the description. Progress
    // comes first at AS OF, and last at UP TO.
    let upsert = c
        .prepare(&format!(
            "SUBSCRIBE (SELECT v, k * 2 AS kk FROM t) WITH (PROGRESS) \
             ENVELOPE UPSERT (KEY (kk)) AS OF {at} UP TO {}",
            at + 1
        ))
        .await
        .expect("prepare an envelope SUBSCRIBE");
    assert_eq!(
        columns(&upsert),
        named(&[
            ("mz_timestamp", Type::NUMERIC),
            ("mz_progressed", Type::BOOL),
            ("mz_state", Type::TEXT),
            ("kk", Type::INT4),
            ("v", Type::TEXT),
        ])
    );
    type UpsertRow = (u64, bool, Option<String>, Option<i32>, Option<String>);
    let got: Vec<UpsertRow> = c
        .query(&upsert, &[])
        .await
        .expect("run the envelope SUBSCRIBE")
        .iter()
        .map(|r| {
            let t = numeric_integer(&r.get(0));
            (t, r.get(1), r.get(2), r.get(3), r.get(4))
        })
        .collect();
    let upserted = |kk: i32, v: &str| (at, false, Some("upsert".into()), Some(kk), Some(v.into()));
    assert_eq!(
        got,
        [
            (at, true, None, None, None),
            upserted(2, "a"),
            upserted(4, "b"),
            (at + 1, true, None, None, None)
        ]
    );

    // Errors in the relation or the output clause come at Parse, as a query's do.
    for (sql, code) in [
        ("SUBSCRIBE nope", "42P01"),
        ("SUBSCRIBE t ENVELOPE UPSERT (KEY (nope))", "42703"),
        ("SUBSCRIBE (SELECT nope FROM t)", "42703"),
    ] {
        let e = c.prepare(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e).as_deref(), Some(code), "{sql}: {e:?}");
    }
}
