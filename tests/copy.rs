//! `COPY ... FROM STDIN` and `COPY ... TO STDOUT` against a real Freshet
//! server:
//!
//! * [`copy_scripts_match_postgresql`]: the psql scripts in
//!   `tests/fixtures/copy/` (text and CSV formats, options, errors and
//!   their CONTEXT lines, transaction blocks, psql's `\copy`) print what
//!   they print against PostgreSQL 15 (the `.out` files, written by
//!   `scripts/copy_expect.sh` from a real PostgreSQL).
//! * [`copy_in_feeds_views_and_survives_kill_9`]: rows copied in through
//!   the extended protocol (tokio-postgres), in the text and binary
//!   formats, reach a materialized view made before them, which agrees
//!   with the same query run one-shot; a COPY with a bad row writes
//!   nothing; the rows are back after `kill -9`.
//! * [`copy_out_formats_round_trip`]: binary and CSV `COPY TO STDOUT`
//!   output copied back in gives the same rows.
//! * [`copy_out_in_a_transaction_reads_its_writes`]: `COPY (query) TO
//!   STDOUT` and `COPY table TO STDOUT` in a transaction block see the
//!   block's writes (`INSERT`, `COPY FROM`, `DELETE`), and not after
//!   `ROLLBACK`.
//! * [`statements_after_copy_in_one_query_run_after_it`]: a simple
//!   query's statements after its `COPY ... FROM STDIN` run once the data
//!   is in.
//! * The session's `max_copy_from_size` bounds one copy's data, and a
//!   long CSV record sent in many small messages is decoded once
//!   ([`copy_beyond_max_copy_from_size_fails_and_writes_nothing`]).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bytes::Bytes;
use futures::{SinkExt, StreamExt, pin_mut};
use support::TestServer;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
use tokio_postgres::types::Type;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/copy")
}

/// psql's output without the `LINE n:` and caret lines that point into
/// a statement (Freshet's errors carry no position).
fn normalized(output: &str) -> String {
    output
        .lines()
        .filter(|l| !l.starts_with("LINE ") && l.trim() != "^")
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `psql` against `server` with `args`, `stdin` as its input, in the
/// fixtures' directory; returns its standard output and error together.
fn psql(server: &TestServer, args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "freshet",
            "-d",
            "freshet",
        ])
        .args(["-p", &server.port().to_string()])
        .args(args)
        .current_dir(fixtures())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql is installed (scripts/test installs postgresql-client)");
    child
        .stdin
        .take()
        .expect("psql's stdin")
        .write_all(stdin)
        .expect("writing psql's input");
    let out = child.wait_with_output().expect("psql runs");
    // Results (stdout), then errors (stderr).
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a script through `sh -c 'psql ... 2>&1'` so that errors and
/// results interleave as in the expected output.
fn psql_script(server: &TestServer, script: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "psql -X -q -h 127.0.0.1 -U freshet -d freshet -p {} -f - < '{}' 2>&1",
            server.port(),
            script.display()
        ))
        .current_dir(fixtures())
        .output()
        .expect("psql is installed (scripts/test installs postgresql-client)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_scripts_match_postgresql() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/fixtures/copy")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 2, "the COPY scripts: {scripts:?}");
    for script in scripts {
        let name = script.file_stem().expect("a name").to_string_lossy();
        let server = TestServer::start(&format!("copy-{name}")).await;
        let expected = std::fs::read_to_string(script.with_extension("out"))
            .expect("the script's expected output (scripts/copy_expect.sh)");
        let got = psql_script(&server, &script);
        let (expected, got) = (normalized(&expected), normalized(&got));
        if expected != got {
            let diff: Vec<String> = expected
                .lines()
                .zip(got.lines())
                .enumerate()
                .filter(|(_, (e, g))| e != g)
                .take(5)
                .map(|(i, (e, g))| format!("line {}:\n  PostgreSQL: {e}\n  Freshet:    {g}", i + 1))
                .collect();
            panic!(
                "{name}: Freshet's output differs from PostgreSQL's\n{}\n--- Freshet's whole output:\n{got}",
                diff.join("\n")
            );
        }
    }
}

/// The text-format lines of rows `from..to` of the test table
/// `(id bigint, grp int, label text, amount numeric(10,2))`.
fn text_rows(from: i64, to: i64) -> String {
    let mut out = String::new();
    for i in from..to {
        let label = match i % 4 {
            0 => "plain".to_string(),
            1 => format!("tab\\there {i}"),
            2 => "\\N".to_string(),
            _ => format!("é\\\\{i}"),
        };
        out.push_str(&format!(
            "{i}\t{}\t{label}\t{}.{:02}\n",
            i % 7,
            i / 3,
            i % 100
        ));
    }
    out
}

/// A `numeric` with two decimal places, in PostgreSQL's binary form
/// (base-10000 digits), for the binary COPY.
#[derive(Debug)]
struct Cents(i64);

impl tokio_postgres::types::ToSql for Cents {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        let (whole, frac) = (self.0.unsigned_abs() / 100, self.0.unsigned_abs() % 100);
        let mut digits = Vec::new();
        let mut w = whole;
        while w > 0 {
            digits.insert(0, (w % 10000) as i16);
            w /= 10000;
        }
        let weight = digits.len() as i16 - 1;
        digits.push((frac * 100) as i16);
        out.put_i16(digits.len() as i16);
        out.put_i16(weight);
        out.put_u16(if self.0 < 0 { 0x4000 } else { 0 });
        out.put_i16(2);
        for d in digits {
            out.put_i16(d);
        }
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    tokio_postgres::types::to_sql_checked!();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_feeds_views_and_survives_kill_9() {
    let mut server = TestServer::start("copy-in").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE m (id bigint PRIMARY KEY, grp int NOT NULL, label text, amount numeric(10,2));
         CREATE MATERIALIZED VIEW per_grp AS
           SELECT grp, count(*) AS n, count(label) AS labelled, sum(amount) AS total, max(id) AS top
           FROM m GROUP BY grp",
    )
    .await
    .expect("the table and its view");
    let query = "SELECT grp, count(*) AS n, count(label) AS labelled, sum(amount)::text AS total, max(id) AS top FROM m GROUP BY grp ORDER BY grp";
    let view = "SELECT grp, n, labelled, total::text, top FROM per_grp ORDER BY grp";

    // Text format, sent in many small messages that cut lines apart.
    let data = text_rows(0, 5000);
    let sink = c
        .copy_in("COPY m FROM STDIN")
        .await
        .expect("COPY FROM STDIN starts");
    pin_mut!(sink);
    for chunk in data.as_bytes().chunks(997) {
        sink.send(Bytes::copy_from_slice(chunk))
            .await
            .expect("sending COPY data");
    }
    assert_eq!(sink.finish().await.expect("COPY ends"), 5000);

    // Binary format, with a column list (label stays NULL: no default).
    let sink = c
        .copy_in("COPY m (amount, id, grp) FROM STDIN (FORMAT binary)")
        .await
        .expect("binary COPY starts");
    let writer = BinaryCopyInWriter::new(sink, &[Type::NUMERIC, Type::INT8, Type::INT4]);
    pin_mut!(writer);
    for i in 5000..6000i64 {
        let amount = (i % 10 != 0).then_some(Cents(i * 3));
        writer
            .as_mut()
            .write(&[&amount, &i, &((i % 7) as i32)])
            .await
            .expect("writing a binary row");
    }
    assert_eq!(writer.finish().await.expect("binary COPY ends"), 1000);

    let count = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<_, Option<String>>(i)
                            .ok()
                            .flatten()
                            .or_else(|| r.try_get::<_, i64>(i).ok().map(|v| v.to_string()))
                            .or_else(|| r.try_get::<_, i32>(i).ok().map(|v| v.to_string()))
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let one_shot = count(c.query(query, &[]).await.expect("the query"));
    assert_eq!(one_shot.len(), 7, "{one_shot:?}");
    assert_eq!(
        count(c.query(view, &[]).await.expect("the view")),
        one_shot,
        "the maintained view agrees with the one-shot query"
    );
    let totals = c
        .query_one(
            "SELECT count(*), count(label), count(amount), sum(id) FROM m",
            &[],
        )
        .await
        .expect("totals");
    // 6000 rows; labels: a quarter of the text rows are NULL, the binary
    // rows have none; amounts: every tenth binary row is NULL.
    assert_eq!(totals.get::<_, i64>(0), 6000);
    assert_eq!(totals.get::<_, i64>(1), 3750);
    assert_eq!(totals.get::<_, i64>(2), 5900);
    assert_eq!(
        c.query_one("SELECT label FROM m WHERE id = 1", &[])
            .await
            .expect("row 1")
            .get::<_, String>(0),
        "tab\there 1"
    );

    // A bad row (a duplicate key) anywhere refuses the whole COPY.
    let sink = c
        .copy_in("COPY m (id, grp) FROM STDIN (FORMAT csv)")
        .await
        .expect("COPY starts");
    pin_mut!(sink);
    sink.send(Bytes::from_static(b"7000,1\n7001,1\n17,1\n"))
        .await
        .expect("sending");
    let err = sink.finish().await.expect_err("a duplicate key");
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "23505", "{db:?}");
    let sink = c
        .copy_in("COPY m (id, grp) FROM STDIN")
        .await
        .expect("COPY starts");
    pin_mut!(sink);
    sink.send(Bytes::from_static(b"7000\t1\n7001\tx\n"))
        .await
        .expect("sending");
    let err = sink.finish().await.expect_err("a bad integer");
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "22P02");
    assert_eq!(db.where_(), Some("COPY m, line 2, column grp: \"x\""));
    assert_eq!(
        c.query_one("SELECT count(*) FROM m WHERE id >= 7000", &[])
            .await
            .expect("count")
            .get::<_, i64>(0),
        0,
        "nothing of a refused COPY is written"
    );
    drop(c);

    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        count(c.query(view, &[]).await.expect("the view after restart")),
        one_shot,
        "the copied rows and the view are back after kill -9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_out_formats_round_trip() {
    let server = TestServer::start("copy-out").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE src (i int, t text, d date, j jsonb, a text[]);
         INSERT INTO src VALUES
           (1, 'a,b \"q\"', '2024-02-29', '{\"x\": 1}', ARRAY['p', NULL]),
           (2, NULL, NULL, NULL, NULL),
           (3, E'line\\nbreak\\\\', '1999-12-31', '[]', '{}');
         CREATE TABLE dst_bin (i int, t text, d date, j jsonb, a text[]);
         CREATE TABLE dst_csv (i int, t text, d date, j jsonb, a text[]);",
    )
    .await
    .expect("tables");

    // Binary out: tokio-postgres's decoder reads it; copied back in as
    // it came, it gives the same rows.
    let types = [
        Type::INT4,
        Type::TEXT,
        Type::DATE,
        Type::JSONB,
        Type::TEXT_ARRAY,
    ];
    let sql = "COPY (SELECT * FROM src ORDER BY i) TO STDOUT (FORMAT binary)";
    let rows = BinaryCopyOutStream::new(c.copy_out(sql).await.expect("binary COPY TO"), &types);
    pin_mut!(rows);
    let mut seen = Vec::new();
    while let Some(row) = rows.next().await {
        let row = row.expect("a binary row");
        let i: i32 = row.get(0);
        let t: Option<String> = row.get(1);
        let a: Option<Vec<Option<String>>> = row.get(4);
        seen.push((i, t, a));
    }
    assert_eq!(
        seen,
        vec![
            (
                1,
                Some("a,b \"q\"".to_string()),
                Some(vec![Some("p".to_string()), None])
            ),
            (2, None, None),
            (3, Some("line\nbreak\\".to_string()), Some(vec![])),
        ]
    );
    let raw: Vec<u8> = c
        .copy_out(sql)
        .await
        .expect("binary COPY TO")
        .map(|b| b.expect("binary data").to_vec())
        .collect::<Vec<_>>()
        .await
        .concat();
    let sink = c
        .copy_in("COPY dst_bin FROM STDIN WITH BINARY")
        .await
        .expect("binary COPY FROM");
    pin_mut!(sink);
    sink.send(Bytes::from(raw)).await.expect("sending");
    assert_eq!(sink.finish().await.expect("binary COPY FROM ends"), 3);

    // CSV out with a header, then CSV in with HEADER MATCH.
    let out = c
        .copy_out("COPY src TO STDOUT (FORMAT csv, HEADER)")
        .await
        .expect("CSV COPY TO");
    let chunks: Vec<Bytes> = out.map(|b| b.expect("CSV data")).collect::<Vec<_>>().await;
    let csv: Vec<u8> = chunks.concat();
    assert!(
        csv.starts_with(b"i,t,d,j,a\n"),
        "{}",
        String::from_utf8_lossy(&csv)
    );
    let sink = c
        .copy_in("COPY dst_csv FROM STDIN (FORMAT csv, HEADER match)")
        .await
        .expect("CSV COPY FROM");
    pin_mut!(sink);
    sink.send(Bytes::from(csv)).await.expect("sending");
    assert_eq!(sink.finish().await.expect("CSV COPY FROM ends"), 3);

    for dst in ["dst_bin", "dst_csv"] {
        let differ = c
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM (SELECT i, t, d, j::text, a::text FROM src EXCEPT ALL SELECT i, t, d, j::text, a::text FROM {dst}) x)
                          + (SELECT count(*) FROM (SELECT i, t, d, j::text, a::text FROM {dst} EXCEPT ALL SELECT i, t, d, j::text, a::text FROM src) y)"
                ),
                &[],
            )
            .await
            .expect("comparison");
        assert_eq!(differ.get::<_, i64>(0), 0, "{dst} holds src's rows");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_after_copy_in_one_query_run_after_it() {
    let server = TestServer::start("copy-multi").await;
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (a int)")
        .await
        .expect("table");
    // psql sends `-c`'s text as one simple query and the COPY data from
    // its standard input.
    let out = psql(
        &server,
        &[
            "-c",
            "COPY t FROM STDIN; INSERT INTO t SELECT sum(a) FROM t; SELECT a FROM t ORDER BY a",
        ],
        b"1\n2\n",
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["a", "---", "1", "2", "3", "(3", "rows)"],
        "{out}"
    );
    let out = psql(
        &server,
        &["-c", "COPY t FROM STDIN; INSERT INTO t VALUES (100)"],
        b"x\n",
    );
    assert!(
        out.contains("invalid input syntax for type integer: \"x\""),
        "{out}"
    );
    assert_eq!(
        c.query_one("SELECT count(*) FROM t", &[])
            .await
            .expect("count")
            .get::<_, i64>(0),
        3,
        "a failed COPY skips the query's later statements"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_beyond_max_copy_from_size_fails_and_writes_nothing() {
    let server = TestServer::start("copy-limit").await;
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (a int, b text)")
        .await
        .expect("table");
    assert_eq!(
        c.query_one("SHOW max_copy_from_size", &[])
            .await
            .expect("show")
            .get::<_, String>(0),
        "1073741824",
        "Materialize's default, 1 GiB"
    );
    let e = c
        .batch_execute("SET max_copy_from_size = 0")
        .await
        .expect_err("0 bytes");
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE)
    );
    c.batch_execute("SET max_copy_from_size = 1000")
        .await
        .expect("a small limit");

    let copy = async |data: &[u8]| {
        let sink = c
            .copy_in("COPY t FROM STDIN (FORMAT csv)")
            .await
            .expect("COPY starts");
        pin_mut!(sink);
        for chunk in data.chunks(100) {
            sink.send(Bytes::copy_from_slice(chunk))
                .await
                .expect("sending COPY data");
        }
        sink.finish().await
    };
    // 999 bytes fit.
    let fits = format!("1,\"{}\"\n", "x".repeat(994));
    assert_eq!(fits.len(), 999);
    assert_eq!(copy(fits.as_bytes()).await.expect("fits"), 1);
    // 1001 do not: nothing is written, and the session goes on.
    let over = format!("2,\"{}\"\n", "y".repeat(996));
    assert_eq!(over.len(), 1001);
    let e = copy(over.as_bytes()).await.expect_err("too large");
    let db = e.as_db_error().expect("a server error");
    assert_eq!(
        db.code(),
        &tokio_postgres::error::SqlState::PROGRAM_LIMIT_EXCEEDED
    );
    assert_eq!(
        db.message(),
        "COPY FROM STDIN data exceeds max_copy_from_size (1000 bytes)"
    );
    assert_eq!(
        c.query_one("SELECT count(*), max(a) FROM t", &[])
            .await
            .expect("count")
            .get::<_, i64>(0),
        1
    );

    // A 4 MB quoted field in 100-byte messages: each message's bytes are
    // scanned once, not the whole record again for every message (40 000
    // messages; rescanning would read about 80 GB).
    c.batch_execute("RESET max_copy_from_size")
        .await
        .expect("reset");
    let long = format!("3,\"{}\"\n", "z\n".repeat(2_000_000));
    assert_eq!(copy(long.as_bytes()).await.expect("a long record"), 1);
    let row = c
        .query_one("SELECT length(b), count(*) OVER () FROM t WHERE a = 3", &[])
        .await
        .expect("the long row");
    assert_eq!(row.get::<_, i32>(0), 4_000_000);
}
/// The text a `COPY ... TO STDOUT` sends.
async fn copied_out(c: &tokio_postgres::Client, sql: &str) -> String {
    let chunks: Vec<Bytes> = c
        .copy_out(sql)
        .await
        .expect("COPY TO")
        .map(|b| b.expect("COPY data"))
        .collect::<Vec<_>>()
        .await;
    String::from_utf8(chunks.concat()).expect("text COPY output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_out_in_a_transaction_reads_its_writes() {
    let server = TestServer::start("copy-txn").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE t (i int, s text);
         INSERT INTO t VALUES (1, 'committed'), (2, 'gone');
         BEGIN;
         INSERT INTO t VALUES (3, 'inserted');
         DELETE FROM t WHERE i = 2;",
    )
    .await
    .expect("a transaction that writes");
    let sink = c
        .copy_in("COPY t FROM STDIN")
        .await
        .expect("COPY FROM in the transaction");
    pin_mut!(sink);
    sink.send(Bytes::from_static(b"4\tcopied\n"))
        .await
        .expect("sending");
    assert_eq!(sink.finish().await.expect("COPY FROM ends"), 1);
    assert_eq!(
        copied_out(&c, "COPY (SELECT i, s FROM t ORDER BY i) TO STDOUT").await,
        "1\tcommitted\n3\tinserted\n4\tcopied\n"
    );
    let mut table: Vec<String> = copied_out(&c, "COPY t TO STDOUT")
        .await
        .lines()
        .map(str::to_string)
        .collect();
    table.sort();
    assert_eq!(table, ["1\tcommitted", "3\tinserted", "4\tcopied"]);
    c.batch_execute("ROLLBACK").await.expect("ROLLBACK");
    assert_eq!(
        copied_out(&c, "COPY (SELECT i, s FROM t ORDER BY i) TO STDOUT").await,
        "1\tcommitted\n2\tgone\n"
    );
}
