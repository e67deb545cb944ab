//! Wide `numeric` values (past the compact form's 96-bit mantissa and 28
//! digits of scale) against a real Freshet server:
//!
//! * [`wide_numerics_survive_kill_9_and_are_deleted_by_value`]: rows with
//!   wide values, beside compact ones equal to them by value, come back
//!   after `kill -9` (their row encoding, tag `NUMERIC_WIDE`, is what the
//!   durable store keys them by); `DELETE` and `UPDATE` find them after the
//!   restart, a materialized view's sum over them stays right, and the
//!   deletes are durable across a second restart.
//! * [`wide_numerics_over_the_wire`]: binary results and parameters are
//!   PostgreSQL 15's `numeric_send` bytes; `COPY TO STDOUT` in the text,
//!   CSV and binary formats prints every digit, and binary `COPY` output
//!   copies back in to the same values.

mod support;

use futures::{StreamExt, pin_mut};
use support::raw_numeric::RawNumeric;
use support::{TestServer, expect_rows, sqlstate, text_rows};
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
use tokio_postgres::types::{ToSql, Type};

/// Hex digits as bytes.
fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

const WIDE: &str = "123456789012345678901234567890.5";
/// PostgreSQL 15: `SELECT numeric_send('123456789012345678901234567890.5')`.
const WIDE_BYTES: &str = "0009000700000001000c0d801ed204d2162e23340d801ed21388";
const TINY: &str = "-0.00000000000000000000000000000000000001";
/// `numeric_send('-0.00000000000000000000000000000000000001')`.
const TINY_BYTES: &str = "0001fff6400000260064";
/// 1.5 with 40 digits after the point: equal to 1.5.
const LONG_ONE_AND_A_HALF: &str = "1.5000000000000000000000000000000000000000";
/// `numeric_send('1.5000000000000000000000000000000000000000')`.
const LONG_ONE_AND_A_HALF_BYTES: &str = "000200000000002800011388";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_numerics_survive_kill_9_and_are_deleted_by_value() {
    let mut server = TestServer::start("numeric-wide-restart").await;
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE TABLE w (id int, n numeric, m numeric(50,10));
         CREATE INDEX w_n ON w (n);
         CREATE MATERIALIZED VIEW w_sum AS SELECT sum(n)::text AS s, count(*) AS c FROM w;
         INSERT INTO w VALUES
           (1, 1.5, 1),
           (2, {WIDE}, '1234567890123456789012345678901234567890.0123456789'),
           (3, {LONG_ONE_AND_A_HALF}, 0),
           (4, {TINY}, 2);"
    ))
    .await
    .expect("setup");
    let all = "SELECT id, n::text, m::text FROM w ORDER BY id";
    let before = expect_rows(&[
        &["1", "1.5", "1.0000000000"],
        &[
            "2",
            WIDE,
            "1234567890123456789012345678901234567890.0123456789",
        ],
        &["3", LONG_ONE_AND_A_HALF, "0.0000000000"],
        &["4", TINY, "2.0000000000"],
    ]);
    assert_eq!(text_rows(&c, all).await, before, "before the restart");

    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(text_rows(&c, all).await, before, "after the restart");
    assert_eq!(
        text_rows(&c, "SELECT id FROM w WHERE n = 1.50 ORDER BY id").await,
        expect_rows(&[&["1"], &["3"]]),
        "the index finds compact and wide values equal by value"
    );
    // The rows restored from disk are found by their values.
    let deleted = c
        .execute(&format!("DELETE FROM w WHERE n = {WIDE}"), &[])
        .await
        .expect("delete the wide row");
    assert_eq!(deleted, 1);
    let updated = c
        .execute("UPDATE w SET n = n * 2 WHERE id = 3", &[])
        .await
        .expect("update a wide row");
    assert_eq!(updated, 1);
    let deleted = c
        .execute("DELETE FROM w WHERE id = 4", &[])
        .await
        .expect("delete another wide row");
    assert_eq!(deleted, 1);
    let doubled = format!("3.{}", "0".repeat(40));
    let after = expect_rows(&[
        &["1", "1.5", "1.0000000000"],
        &["3", &doubled, "0.0000000000"],
    ]);
    let sum = format!("4.5{}", "0".repeat(39));
    assert_eq!(text_rows(&c, all).await, after, "after the deletes");
    assert_eq!(
        text_rows(&c, "SELECT s, c FROM w_sum").await,
        expect_rows(&[&[&sum, "2"]]),
        "the view's sum"
    );

    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(text_rows(&c, all).await, after, "the deletes are durable");
    assert_eq!(
        text_rows(&c, "SELECT s, c FROM w_sum").await,
        expect_rows(&[&[&sum, "2"]]),
        "the view's sum after the second restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_numerics_over_the_wire() {
    let server = TestServer::start("numeric-wide-wire").await;
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE TABLE ww (id int, n numeric);
         INSERT INTO ww VALUES (1, {WIDE}), (2, {TINY}), (3, {LONG_ONE_AND_A_HALF}), (4, 2.5);"
    ))
    .await
    .expect("setup");
    let (wide, tiny, long) = (
        RawNumeric(hex(WIDE_BYTES)),
        RawNumeric(hex(TINY_BYTES)),
        RawNumeric(hex(LONG_ONE_AND_A_HALF_BYTES)),
    );

    // Binary results: PostgreSQL's bytes.
    let rows = c
        .query("SELECT id, n FROM ww WHERE id < 4 ORDER BY id", &[])
        .await
        .expect("binary results");
    let got: Vec<(i32, RawNumeric)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        [(1, wide.clone()), (2, tiny.clone()), (3, long.clone())]
    );

    // Binary parameters.
    let row = c
        .query_one(
            "SELECT $1::numeric::text, $2::numeric::text, $1::numeric + $3::numeric",
            &[&wide, &tiny, &long],
        )
        .await
        .expect("binary parameters");
    let (w, t, sum): (String, String, RawNumeric) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((w.as_str(), t.as_str()), (WIDE, TINY));
    // 123456789012345678901234567892.0000…0 (40 digits after the point).
    let sum_text = c
        .query_one("SELECT $1::numeric::text", &[&sum])
        .await
        .expect("the sum back as a parameter");
    assert_eq!(
        sum_text.get::<_, String>(0),
        format!("123456789012345678901234567892.{}", "0".repeat(40))
    );
    // A binary value past Freshet's limit (10000^251 = 10^1004) is 22003.
    let huge = RawNumeric(vec![0, 1, 0, 251, 0, 0, 0, 0, 0, 1]);
    let e = c
        .query_one("SELECT $1::numeric::text", &[&huge])
        .await
        .expect_err("beyond the limit");
    assert_eq!(sqlstate(&e).as_deref(), Some("22003"), "{e}");

    // COPY TO STDOUT, text and CSV.
    for (sql, want) in [
        (
            "COPY (SELECT id, n FROM ww ORDER BY id) TO STDOUT",
            format!("1\t{WIDE}\n2\t{TINY}\n3\t{LONG_ONE_AND_A_HALF}\n4\t2.5\n"),
        ),
        (
            "COPY (SELECT id, n FROM ww ORDER BY id) TO STDOUT (FORMAT csv)",
            format!("1,{WIDE}\n2,{TINY}\n3,{LONG_ONE_AND_A_HALF}\n4,2.5\n"),
        ),
    ] {
        let stream = c.copy_out(sql).await.expect("copy out");
        pin_mut!(stream);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("copy data"));
        }
        assert_eq!(String::from_utf8(out).expect("utf-8"), want, "{sql}");
    }

    // Binary COPY out, then in again: the same values.
    let stream = c
        .copy_out("COPY ww TO STDOUT (FORMAT binary)")
        .await
        .expect("binary copy out");
    let rows = BinaryCopyOutStream::new(stream, &[Type::INT4, Type::NUMERIC]);
    pin_mut!(rows);
    let mut copied: Vec<(i32, RawNumeric)> = Vec::new();
    while let Some(row) = rows.next().await {
        let row = row.expect("a binary row");
        copied.push((row.get(0), row.get(1)));
    }
    copied.sort_by_key(|(id, _)| *id);
    assert_eq!(&copied[..3], &[(1, wide), (2, tiny), (3, long)]);
    c.batch_execute("CREATE TABLE ww2 (id int, n numeric)")
        .await
        .expect("second table");
    let sink = c
        .copy_in("COPY ww2 FROM STDIN (FORMAT binary)")
        .await
        .expect("binary copy in");
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::NUMERIC]);
    pin_mut!(writer);
    for (id, n) in &copied {
        writer
            .as_mut()
            .write(&[id as &(dyn ToSql + Sync), n])
            .await
            .expect("a binary row in");
    }
    writer.finish().await.expect("copy in finishes");
    assert_eq!(
        text_rows(
            &c,
            "SELECT a.id, b.n::text FROM ww a JOIN ww2 b ON a.id = b.id AND a.n = b.n ORDER BY 1"
        )
        .await,
        expect_rows(&[
            &["1", WIDE],
            &["2", TINY],
            &["3", LONG_ONE_AND_A_HALF],
            &["4", "2.5"]
        ])
    );
}
