//! Cancel requests (PostgreSQL's CancelRequest, which psql sends on Ctrl-C and drivers send
//! from `cancel()`), against a real Freshet server:
//!
//! * [`cancel_stops_waiting_statements`]: `pg_sleep` (simple and extended protocol), `COPY
//!   (SUBSCRIBE ...) TO STDOUT`, a SUBSCRIBE streamed through the extended protocol and a FETCH
//!   waiting on a subscribe cursor each stop with 57014; the connection keeps serving, and a
//!   cancelled statement fails its transaction block as any error does.
//! * [`cancel_needs_the_key_and_a_running_statement`]: a request with the wrong secret key
//!   stops nothing, and one sent while the connection is idle does not stop the next statement.
//! * [`statement_timeout_stops_statements_but_not_a_subscribe_stream`]: the setting
//!   `statement_timeout` stops each statement that runs longer (57014), but not a SUBSCRIBE's
//!   stream.

mod support;

use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_postgres::{Client, NoTls};

use support::{TestServer, exec, expect_rows, message, sqlstate, text_rows};

/// How long a cancelled statement may take to stop; far more than it needs.
const WAIT: Duration = Duration::from_secs(30);
/// How long the tests let a statement run before cancelling it.
const RUNNING: Duration = Duration::from_millis(300);

/// Sends a cancel request for `client`'s running statement, with the key the server gave it,
/// as a driver's `cancel()` does.
async fn cancel(server: &TestServer, client: &Client) {
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .expect("connect for the cancel request");
    client
        .cancel_token()
        .cancel_query_raw(socket, NoTls)
        .await
        .expect("send the cancel request");
}

/// Cancels `client`'s running statement after [`RUNNING`].
async fn cancel_soon(server: &TestServer, client: &Client) {
    tokio::time::sleep(RUNNING).await;
    cancel(server, client).await;
}

/// Asserts that `result` is the cancellation error.
fn assert_cancelled<T: std::fmt::Debug>(what: &str, result: Result<T, tokio_postgres::Error>) {
    let e = result.expect_err(what);
    assert_eq!(sqlstate(&e).as_deref(), Some("57014"), "{what}: {e:?}");
    assert_eq!(
        message(&e),
        "canceling statement due to user request",
        "{what}"
    );
}

/// Runs `f` with a deadline: a statement that ignores its cancel request fails the test here
/// rather than hanging it.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not stopped within {WAIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_waiting_statements() {
    let server = TestServer::start("cancel_stops").await;
    let c = server.connect().await;
    exec(&c, &["CREATE TABLE t (x int)", "INSERT INTO t VALUES (1)"]).await;

    // pg_sleep, through the simple and the extended protocol.
    let (result, ()) = within("pg_sleep", async {
        tokio::join!(
            c.simple_query("SELECT pg_sleep(600)"),
            cancel_soon(&server, &c)
        )
    })
    .await;
    assert_cancelled("simple pg_sleep", result);
    let (result, ()) = within("extended pg_sleep", async {
        tokio::join!(
            c.query("SELECT pg_sleep(600)", &[]),
            cancel_soon(&server, &c)
        )
    })
    .await;
    assert_cancelled("extended pg_sleep", result);
    assert_eq!(text_rows(&c, "SELECT 1").await, expect_rows(&[&["1"]]));

    // COPY (SUBSCRIBE ...) TO STDOUT, as psql runs it: the snapshot comes, then the stream
    // waits for changes until the cancel stops it.
    let copy = c
        .copy_out("COPY (SUBSCRIBE t) TO STDOUT")
        .await
        .expect("start the COPY");
    let mut copy = Box::pin(copy);
    let first = within("the snapshot", copy.next()).await;
    assert!(
        matches!(first, Some(Ok(ref line)) if line.ends_with(b"\t1\t1\n")),
        "{first:?}"
    );
    let (rest, ()) = within("COPY (SUBSCRIBE)", async {
        tokio::join!(copy.next(), cancel_soon(&server, &c))
    })
    .await;
    assert_cancelled(
        "COPY (SUBSCRIBE)",
        rest.expect("the COPY ends with an error"),
    );
    drop(copy);
    assert_eq!(
        text_rows(&c, "SELECT x FROM t").await,
        expect_rows(&[&["1"]])
    );

    // SUBSCRIBE through the extended protocol, read row by row.
    let rows = c
        .query_raw("SUBSCRIBE t", std::iter::empty::<i32>())
        .await
        .expect("start the SUBSCRIBE");
    let mut rows = Box::pin(rows);
    let first = within("the snapshot row", rows.next()).await;
    let first = first.expect("a row").expect("the snapshot row");
    assert_eq!(first.get::<_, i32>(2), 1);
    let (rest, ()) = within("extended SUBSCRIBE", async {
        tokio::join!(rows.next(), cancel_soon(&server, &c))
    })
    .await;
    assert_cancelled(
        "extended SUBSCRIBE",
        rest.expect("the SUBSCRIBE ends with an error"),
    );
    drop(rows);

    // FETCH without a timeout waits for the subscribe's next change; cancelled, it fails the
    // transaction block, which ROLLBACK ends.
    exec(&c, &["BEGIN", "DECLARE cur CURSOR FOR SUBSCRIBE t"]).await;
    let snapshot = c.simple_query("FETCH ALL cur").await.expect("the snapshot");
    assert!(!snapshot.is_empty());
    let (result, ()) = within("FETCH", async {
        tokio::join!(c.simple_query("FETCH ALL cur"), cancel_soon(&server, &c))
    })
    .await;
    assert_cancelled("FETCH", result);
    let e = c
        .simple_query("SELECT 1")
        .await
        .expect_err("a failed transaction");
    assert_eq!(sqlstate(&e).as_deref(), Some("25P02"), "{e:?}");
    exec(&c, &["ROLLBACK"]).await;
    assert_eq!(
        text_rows(&c, "SELECT x FROM t").await,
        expect_rows(&[&["1"]])
    );
}

/// Sends a CancelRequest by hand: the server's port, a process id and a secret key.
async fn raw_cancel(port: u16, pid: i32, secret: i32) {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect for the cancel request");
    let mut packet = Vec::with_capacity(16);
    packet.extend_from_slice(&16i32.to_be_bytes());
    packet.extend_from_slice(&80_877_102i32.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(&secret.to_be_bytes());
    socket
        .write_all(&packet)
        .await
        .expect("send the cancel request");
    let _ = socket.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_needs_the_key_and_a_running_statement() {
    let server = TestServer::start("cancel_key").await;
    let c = server.connect().await;
    let pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pg_backend_pid")
        .get(0);

    // The right process id with wrong secret keys: the sleep runs to its end. (The right key is
    // the client's own, which tokio-postgres does not show; the test above uses it.)
    let wrong_keys = async {
        tokio::time::sleep(RUNNING).await;
        for secret in [0, 1, -1, 12345] {
            raw_cancel(server.port(), pid, secret).await;
        }
    };
    let (result, ()) = within("a sleep with wrong keys", async {
        tokio::join!(c.simple_query("SELECT pg_sleep(1.5)"), wrong_keys)
    })
    .await;
    result.expect("a wrong key cancels nothing");

    // A request while the connection is idle is forgotten once the next statement starts.
    cancel(&server, &c).await;
    tokio::time::sleep(RUNNING).await;
    c.simple_query("SELECT pg_sleep(0.5)")
        .await
        .expect("an idle connection's cancel does not stop the next statement");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_statements_but_not_a_subscribe_stream() {
    let server = TestServer::start("statement_timeout").await;
    let c = server.connect().await;
    exec(
        &c,
        &[
            "CREATE TABLE t (x int)",
            "INSERT INTO t VALUES (1)",
            "SET statement_timeout = '250ms'",
        ],
    )
    .await;
    assert_eq!(
        text_rows(&c, "SHOW statement_timeout").await,
        expect_rows(&[&["250ms"]])
    );

    // PostgreSQL 13 and later time each statement of a simple query on its own.
    c.simple_query("SELECT pg_sleep(0.15); SELECT pg_sleep(0.15)")
        .await
        .expect("two statements, each within the timeout");
    for sql in ["SELECT pg_sleep(600)", "SELECT 1; SELECT pg_sleep(600)"] {
        let e = within(sql, c.simple_query(sql))
            .await
            .expect_err("past the timeout");
        assert_eq!(sqlstate(&e).as_deref(), Some("57014"), "{sql}: {e:?}");
        assert_eq!(message(&e), "canceling statement due to statement timeout");
    }
    let e = within("extended", c.query("SELECT pg_sleep(600)", &[]))
        .await
        .expect_err("past the timeout");
    assert_eq!(message(&e), "canceling statement due to statement timeout");

    // A SUBSCRIBE runs until its client leaves it, as in Materialize: the timeout does not end
    // its stream. A change long after the timeout still arrives.
    let copy = c
        .copy_out("COPY (SUBSCRIBE t) TO STDOUT")
        .await
        .expect("start the COPY");
    let mut copy = Box::pin(copy);
    let first = within("the snapshot", copy.next()).await;
    assert!(matches!(first, Some(Ok(_))), "{first:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let writer = server.connect().await;
    exec(&writer, &["INSERT INTO t VALUES (2)"]).await;
    let next = within("a change after the timeout", copy.next()).await;
    assert!(
        matches!(next, Some(Ok(ref line)) if line.ends_with(b"\t1\t2\n")),
        "{next:?}"
    );
    let (rest, ()) = within("COPY (SUBSCRIBE)", async {
        tokio::join!(copy.next(), cancel_soon(&server, &c))
    })
    .await;
    assert_cancelled(
        "COPY (SUBSCRIBE)",
        rest.expect("the COPY ends with an error"),
    );
    drop(copy);

    // 0 turns it off; a bad value is refused.
    exec(&c, &["SET statement_timeout = 0"]).await;
    c.simple_query("SELECT pg_sleep(0.4)")
        .await
        .expect("no timeout");
    let e = c
        .simple_query("SET statement_timeout = 'soon'")
        .await
        .expect_err("not a duration");
    assert_eq!(sqlstate(&e).as_deref(), Some("22023"), "{e:?}");
}
