//! A PostgreSQL 15 `pg_dump` restores into Freshet through `psql -v
//! ON_ERROR_STOP=1`, the way users migrate, and the restored database
//! behaves as PostgreSQL's does.
//!
//! The fixtures in `tests/fixtures/pg_dump` are made by its
//! `regenerate.sh` from a real PostgreSQL 15 database (`source.sql`:
//! serial, bigserial and identity columns, sequences with options, keys,
//! checks, foreign keys with `ON DELETE CASCADE | SET NULL`, indexes,
//! defaults, views over views, comments, a second schema, every type
//! Freshet has, NULLs and awkward strings): `inserts.sql` (`pg_dump
//! --inserts`, with owners), `column_inserts.sql` (`pg_dump
//! --column-inserts --no-owner`) and `expected.out`, what `verify.sql`
//! printed in the source database. Each test restores one dump with the
//! real `psql`, runs `verify.sql` the same way and requires PostgreSQL's
//! output line for line: the rows, sequence states and comments restored,
//! the values the next `INSERT`s get, an `ON DELETE CASCADE`. Then
//! constraint violations must still be refused with PostgreSQL's
//! SQLSTATEs.
//!
//! * [`inserts_dump_restores`]: the plain `--inserts` dump (and an
//!   `INSERT ... OVERRIDING SYSTEM VALUE` with parameters afterwards).
//! * [`copy_dump_restores_and_survives_kill_9`]: `pg_dump`'s default
//!   output (`copy.sql`), whose data is `COPY ... FROM stdin` blocks, and
//!   then `kill -9` and a restart.
//! * [`column_inserts_dump_survives_kill_9`]: the `--column-inserts
//!   --no-owner` dump, then `kill -9` and a restart before the checks:
//!   the restored schema replays.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{TestServer, sqlstate};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pg_dump")
        .join(name)
}

/// Runs `psql -X -v ON_ERROR_STOP=1 -f file` against `server`; panics
/// unless it succeeds with nothing on its standard error. Returns its
/// standard output.
fn psql_file(server: &TestServer, file: &str) -> String {
    let path = fixture(file);
    let output = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-P", "pager=off"])
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .args(["-p", &server.port().to_string()])
        .arg("-f")
        .arg(&path)
        .output()
        .expect("psql is installed (scripts/test installs postgresql-client)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && stderr.is_empty(),
        "psql -f {} failed:\n{stderr}\n{}",
        path.display(),
        server.log_tail(40)
    );
    stdout
}

/// `verify.sql`'s output must be PostgreSQL's, line for line.
fn check_verify_output(server: &TestServer) {
    let expected = std::fs::read_to_string(fixture("expected.out")).expect("expected.out");
    let actual = psql_file(server, "verify.sql");
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(a, e, "verify.sql output line {} differs", i + 1);
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "verify.sql output has a different number of lines"
    );
}

/// Constraint violations on the restored tables fail as in PostgreSQL
/// (after `verify.sql`: customer 1 and its orders are gone).
async fn check_constraints_hold(server: &TestServer) {
    let c = server.connect().await;
    for (sql, code) in [
        // UNIQUE (email).
        (
            "INSERT INTO public.customers (email, name) VALUES ('bob@example.com', 'Dup')",
            "23505",
        ),
        // The primary key the dump added with ALTER TABLE ONLY.
        (
            "INSERT INTO public.customers (id, email, name) VALUES (2, 'x@example.com', 'x')",
            "23505",
        ),
        // UNIQUE (title, price).
        (
            "INSERT INTO public.products (title, price) VALUES ('Widget', 9.99)",
            "23505",
        ),
        // CHECK (email LIKE '%@%'), written back as `~~` by pg_dump.
        (
            "INSERT INTO public.customers (email, name) VALUES ('nowhere', 'x')",
            "23514",
        ),
        // CHECK (status IN (...)), written back as `= ANY (ARRAY[...])`.
        (
            "INSERT INTO public.orders (customer_id, status) VALUES (2, 'lost')",
            "23514",
        ),
        (
            "INSERT INTO public.order_lines (order_id, sku, quantity) VALUES (3, 510, 0)",
            "23514",
        ),
        // FOREIGN KEYs.
        (
            "INSERT INTO public.orders (customer_id) VALUES (99)",
            "23503",
        ),
        ("DELETE FROM public.products WHERE sku = 530", "23503"),
        // GENERATED ALWAYS AS IDENTITY, added by ALTER TABLE.
        (
            "INSERT INTO public.products (sku, title, price) VALUES (1, 'x', 1)",
            "428C9",
        ),
        // NOT NULL.
        (
            "INSERT INTO public.customers (email) VALUES ('y@example.com')",
            "23502",
        ),
    ] {
        let e = c
            .simple_query(sql)
            .await
            .expect_err(&format!("{sql} should fail"));
        assert_eq!(sqlstate(&e).as_deref(), Some(code), "{sql}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_dump_restores() {
    let server = TestServer::start("pg-dump-inserts").await;
    psql_file(&server, "inserts.sql");
    check_verify_output(&server);
    check_constraints_hold(&server).await;
    // `OVERRIDING SYSTEM VALUE` through the extended protocol, with
    // parameters (as a driver replaying the data would send it).
    let c = server.connect().await;
    let rows = c
        .query(
            "INSERT INTO public.products (sku, title, price) OVERRIDING SYSTEM VALUE \
             VALUES ($1, $2, 1) RETURNING sku, title",
            &[&77i64, &"bound"],
        )
        .await
        .expect("INSERT ... OVERRIDING SYSTEM VALUE with parameters");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), 77);
    assert_eq!(rows[0].get::<_, &str>(1), "bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_dump_restores_and_survives_kill_9() {
    let mut server = TestServer::start("pg-dump-copy").await;
    psql_file(&server, "copy.sql");
    server.kill9();
    server.restart().await;
    check_verify_output(&server);
    check_constraints_hold(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_inserts_dump_survives_kill_9() {
    let mut server = TestServer::start("pg-dump-column-inserts").await;
    psql_file(&server, "column_inserts.sql");
    server.kill9();
    server.restart().await;
    check_verify_output(&server);
    check_constraints_hold(&server).await;
}
