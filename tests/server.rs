//! End-to-end tests of the `freshet` server binary over the PostgreSQL wire protocol.
//!
//! Every test starts its own server (`freshet --listen 127.0.0.1:<free port> --data-dir <temp dir>
//! --workers 2`) through [`support::TestServer`] and talks to it with `tokio-postgres`:
//!
//! * [`restart_after_kill_9_keeps_everything`]: tables, views, materialized views, indexes and a
//!   `COUNTER` load generator survive `kill -9`; the source resumes exactly once; an acknowledged
//!   `INSERT` followed at once by `kill -9` is not lost.
//! * [`restart_after_multi_statement_ddl`]: the same for DDL and DML sent together in one
//!   simple-protocol query string.
//! * [`restart_keeps_schemas`]: schemas, objects in them, and views whose definitions resolved
//!   names through a `search_path` survive `kill -9` and mean the same objects afterwards; a
//!   dropped schema (`public` included) stays dropped.
//! * [`subscribe_copy_streams_updates_in_timestamp_order`]: `COPY (SUBSCRIBE ...) TO STDOUT`
//!   streams the snapshot, then the changes, in timestamp order, with `SNAPSHOT = false` and
//!   `PROGRESS = true`.
//! * [`subscribe_disconnect_leaves_nothing_behind`]: a client that goes away in the middle of a
//!   `SUBSCRIBE` is cleaned up (its server-side socket is released) and the server stays healthy.
//! * [`extended_protocol_parameters_all_types`]: binary parameters and binary results for the
//!   common scalar types, through prepared statements.
//! * [`insert_select_parameters_take_their_columns_types`]: `INSERT ... SELECT $1` types the
//!   parameter as its column, as PostgreSQL infers it.
//! * [`index_lookup_is_a_point_lookup`]: `EXPLAIN` shows an index lookup, and the lookup answers.
//! * [`errors_have_sqlstate`]: PostgreSQL's SQLSTATEs for common errors; the connection survives.
//! * [`errors_have_hints`]: PostgreSQL's DETAIL and HINT fields on errors that have them.
//! * [`detached_serial_sequence_survives_kill_9`]: a `serial` column's sequence taken from its
//!   table by `ALTER SEQUENCE ... OWNED BY` outlives the table, across `kill -9`.
//! * [`drop_index_cascade_survives_kill_9`]: `DROP INDEX ... CASCADE` drops the foreign keys that
//!   reference the index, durably.
//! * [`schema_and_constraint_comments_survive_kill_9`]: `COMMENT ON SCHEMA` and `COMMENT ON
//!   CONSTRAINT` survive `kill -9`, and go with what they are on.
//! * [`auction_demo_from_readme`]: the SQL of README.md's demo, run as written.
//! * [`numeric_nan_over_the_wire`]: numeric's NaN in binary results and parameters, byte for
//!   byte as PostgreSQL's `numeric_send`; a binary Infinity is refused.
//! * [`prepared_statements_replan_after_ddl`]: a prepared statement's kept plan answers every
//!   parameter value; after DDL it is planned again, and fails with PostgreSQL's 0A000 where
//!   its result columns changed.
//! * [`prepared_generate_series_parameters`]: parameters of `generate_series` get the types of
//!   its form, and each execution its values.
//! * [`unique_keys_survive_kill_9`]: PRIMARY KEY and UNIQUE constraints, their indexes and the
//!   keys already written are back after `kill -9`; ids of later items do not collide with the
//!   constraints' indexes.
//! * [`foreign_keys_survive_kill_9`]: FOREIGN KEY constraints are back after `kill -9` and
//!   enforced against the rows written before it; one dropped by `DROP TABLE … CASCADE` stays
//!   dropped.
//! * [`concurrent_update_fails_the_later_commit`]: a transaction that removed or replaced rows
//!   of a table another session has changed since fails at COMMIT with 40001 and writes
//!   nothing; one whose tables nobody else changed commits.
//! * [`materialize_explain_forms`]: Materialize's `EXPLAIN ... PLAN FOR` and `EXPLAIN
//!   MATERIALIZED VIEW` forms, one column each, named as Materialize's.
//!
//! Nothing here sleeps to synchronise: every wait is [`support::poll_until`] (or a read with a
//! deadline) on an observable condition. When a test fails, the server's log tail is printed.
//! Set `FRESHET_TEST_KEEP=1` to keep the scratch directories (data dir and server log).
//!
//! Types: the tests use `chrono` and `rust_decimal` values as parameters and results. Both are
//! dependencies of Freshet, and `Cargo.lock` shows that the `postgres-types` feature
//! `with-chrono-0_4` and the `rust_decimal` feature `tokio-pg` are enabled in this build (through
//! `sqllogictest-engines`, a dev-dependency). `interval` has no mapping in those features, so the
//! test defines its own binary `ToSql`/`FromSql` ([`PgInterval`]).

use std::error::Error as StdError;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures::StreamExt;
use rust_decimal::Decimal;
use tokio::time::Instant;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use support::raw_numeric::RawNumeric;
use support::{
    Rows, SubscribeLine, SubscribeLines, TestServer, expect_rows, poll_for, poll_until, sqlstate,
    text_rows,
};

/// How long the server may take to notice that the client of an idle SUBSCRIBE went away (it
/// checks the connection at least once a second).
const IDLE_DISCONNECT_WAIT: Duration = Duration::from_secs(10);

/// How long a test waits for a condition that should come about quickly (a few ticks of a load
/// generator, a streamed change) before it fails.
const WAIT: Duration = Duration::from_secs(30);

// -------------------------------------------------------------------------------------------
// 1. Durability across kill -9.

/// Creates a table, a view, a materialized view with an index and a `COUNTER` source, reads
/// everything, kills the server with SIGKILL, restarts it on the same data directory and checks
/// that everything answers as before, that an acknowledged INSERT issued just before the kill is
/// there, and that the counter resumed exactly once (no gap, no duplicate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_kill_9_keeps_everything() {
    let mut server = TestServer::start("restart").await;
    let c = server.connect().await;
    // One statement per query string, as psql sends them (a multi-statement string is covered by
    // `restart_after_multi_statement_ddl`).
    for sql in [
        "CREATE TABLE t (id int NOT NULL, name text, score double precision)",
        "INSERT INTO t VALUES (1, 'one', 1.5), (2, 'two', 2.5), (3, 'three', NULL), (3, 'three', NULL)",
        "INSERT INTO t VALUES (5, 'gone', 0)",
        "UPDATE t SET score = 9.5 WHERE id = 1",
        "DELETE FROM t WHERE id = 5",
        "CREATE VIEW v AS SELECT id, upper(name) AS shout FROM t WHERE id >= 2",
        "CREATE MATERIALIZED VIEW mv AS SELECT id, count(*) AS n, max(score) AS best FROM t GROUP BY id",
        "CREATE INDEX mv_id_idx ON mv (id)",
        "CREATE SOURCE c FROM LOAD GENERATOR COUNTER (TICK INTERVAL '10ms')",
    ] {
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("`{sql}`: {e:?}"));
    }

    let table_sql = "SELECT id, name, score FROM t ORDER BY id, name";
    let view_sql = "SELECT id, shout FROM v ORDER BY id";
    let mv_sql = "SELECT id, n, best FROM mv ORDER BY id";
    let lookup_sql = "SELECT id, n, best FROM mv WHERE id = 3";
    let counter_sql = "SELECT count(*), count(DISTINCT counter), min(counter), max(counter) FROM c";

    let table_before = expect_rows(&[
        &["1", "one", "9.5"],
        &["2", "two", "2.5"],
        &["3", "three", "NULL"],
        &["3", "three", "NULL"],
    ]);
    let view_before = expect_rows(&[&["2", "TWO"], &["3", "THREE"], &["3", "THREE"]]);
    let mv_before = expect_rows(&[&["1", "1", "9.5"], &["2", "1", "2.5"], &["3", "2", "NULL"]]);
    let lookup_expected = expect_rows(&[&["3", "2", "NULL"]]);
    assert_eq!(
        text_rows(&c, table_sql).await,
        table_before,
        "table before restart"
    );
    assert_eq!(
        text_rows(&c, view_sql).await,
        view_before,
        "view before restart"
    );
    assert_eq!(
        text_rows(&c, mv_sql).await,
        mv_before,
        "materialized view before restart"
    );
    assert_eq!(
        text_rows(&c, lookup_sql).await,
        lookup_expected,
        "index lookup before restart"
    );

    let counter_before = poll_until("the counter source to pass 20 rows", WAIT, || {
        let c = &*c;
        async move {
            let stats = counter_stats(c, counter_sql).await?;
            if stats.count > 20 {
                Ok(stats)
            } else {
                Err(format!("{stats:?}"))
            }
        }
    })
    .await;
    counter_before.assert_exact("before the restart");

    // An acknowledged write, immediately followed by kill -9.
    c.execute("INSERT INTO t VALUES (4, 'last words', 4.5)", &[])
        .await
        .expect("INSERT just before kill -9");
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;

    let mut table_after = table_before.clone();
    table_after.push(expect_rows(&[&["4", "last words", "4.5"]]).remove(0));
    let mut view_after = view_before.clone();
    view_after.push(expect_rows(&[&["4", "LAST WORDS"]]).remove(0));
    let mut mv_after = mv_before.clone();
    mv_after.push(expect_rows(&[&["4", "1", "4.5"]]).remove(0));
    assert_eq!(
        text_rows(&c, table_sql).await,
        table_after,
        "table after restart"
    );
    assert_eq!(
        text_rows(&c, view_sql).await,
        view_after,
        "view after restart"
    );
    assert_eq!(
        text_rows(&c, mv_sql).await,
        mv_after,
        "materialized view after restart"
    );
    assert_eq!(
        text_rows(&c, lookup_sql).await,
        lookup_expected,
        "index lookup after restart"
    );
    assert_eq!(
        text_rows(&c, "SELECT id, n, best FROM mv WHERE id = 4").await,
        expect_rows(&[&["4", "1", "4.5"]]),
        "index lookup of the row inserted just before kill -9"
    );
    let explain = explain_text(&c, lookup_sql).await;
    assert!(
        explain.contains("index lookup"),
        "after the restart the index should serve point lookups again; EXPLAIN said:\n{explain}"
    );

    // The counter resumed where it was: nothing lost, nothing produced twice.
    let resumed = counter_stats(&c, counter_sql)
        .await
        .expect("counter after restart");
    resumed.assert_exact("right after the restart");
    assert!(
        resumed.max >= counter_before.max,
        "the counter went back after the restart: {counter_before:?} before, {resumed:?} after"
    );
    let grown = poll_until(
        "the counter source to keep growing after the restart",
        WAIT,
        || {
            let c = &*c;
            async move {
                let stats = counter_stats(c, counter_sql).await?;
                if stats.max > resumed.max + 5 {
                    Ok(stats)
                } else {
                    Err(format!("{stats:?}"))
                }
            }
        },
    )
    .await;
    grown.assert_exact("after growing again");

    // The restarted server still takes writes that maintain the views.
    c.execute("DELETE FROM t WHERE id = 3", &[])
        .await
        .expect("DELETE after restart");
    assert_eq!(
        text_rows(&c, lookup_sql).await,
        Rows::new(),
        "index lookup after deleting the key"
    );
}

/// DDL and DML sent together in one simple-protocol query string (as `batch_execute` or
/// `psql -c 'CREATE ...; INSERT ...'` send them) must be just as durable: after `kill -9` the
/// server restarts with the objects and their rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_multi_statement_ddl() {
    let mut server = TestServer::start("restart-multi").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE a (x int, y text);
         INSERT INTO a VALUES (1, 'one'), (2, 'two');
         CREATE MATERIALIZED VIEW a_mv AS SELECT count(*) AS n, sum(x) AS total FROM a;
         CREATE INDEX a_x_idx ON a (x);",
    )
    .await
    .expect("one query string with several statements");
    let before = text_rows(&c, "SELECT n, total FROM a_mv").await;
    assert_eq!(before, expect_rows(&[&["2", "3"]]));
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SELECT x, y FROM a ORDER BY x").await,
        expect_rows(&[&["1", "one"], &["2", "two"]]),
        "table after restart"
    );
    assert_eq!(
        text_rows(&c, "SELECT n, total FROM a_mv").await,
        before,
        "MV after restart"
    );
    assert_eq!(
        text_rows(&c, "SELECT y FROM a WHERE x = 2").await,
        expect_rows(&[&["two"]]),
        "index lookup after restart"
    );
}

/// Schemas and what is in them survive `kill -9`. Views created under `search_path = s, public`
/// read `s.t` through the bare name `t`: after the restart (whose sessions have the default
/// path, `public`, where another `t` exists) they still read `s.t`, because their stored
/// definitions name their objects qualified. A dropped schema stays dropped, `public` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_schemas() {
    let mut server = TestServer::start("restart-schemas").await;
    let c = server.connect().await;
    c.batch_execute(
        r#"CREATE SCHEMA s;
         CREATE SCHEMA "Mixed Case";
         CREATE SCHEMA gone;
         CREATE TABLE s.t (k int, v text);
         CREATE TABLE public.t (k int, v text);
         CREATE TABLE "Mixed Case"."Odd" (x int);
         CREATE TABLE gone.t (a int);
         DROP SCHEMA gone CASCADE;
         INSERT INTO s.t VALUES (1, 's one'), (2, 's two');
         INSERT INTO public.t VALUES (1, 'public one');
         INSERT INTO "Mixed Case"."Odd" VALUES (7);
         SET search_path = s, public;
         CREATE VIEW v AS SELECT k, v FROM t;
         CREATE MATERIALIZED VIEW mv AS SELECT t.k, t.v, p.v AS pv FROM t JOIN public.t p ON t.k = p.k;
         CREATE INDEX t_k ON t (k);
         RESET search_path;"#,
    )
    .await
    .expect("schemas and objects in them");
    let view = expect_rows(&[&["1", "s one"], &["2", "s two"]]);
    let mv = expect_rows(&[&["1", "s one", "public one"]]);
    assert_eq!(text_rows(&c, "SELECT * FROM s.v ORDER BY k").await, view);
    assert_eq!(text_rows(&c, "SELECT * FROM s.mv").await, mv);
    c.batch_execute("INSERT INTO public.t VALUES (2, 'public two')")
        .await
        .expect("INSERT just before kill -9");
    drop(c);
    server.kill9();
    server.restart().await;

    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SHOW SCHEMAS").await,
        expect_rows(&[&["Mixed Case"], &["mz_internal"], &["public"], &["s"]]),
        "schemas after restart"
    );
    assert_eq!(
        text_rows(&c, "SHOW search_path").await,
        expect_rows(&[&["public"]])
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM s.v ORDER BY k").await,
        view,
        "the view in s still reads s.t"
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM s.mv ORDER BY k").await,
        expect_rows(&[&["1", "s one", "public one"], &["2", "s two", "public two"]]),
        "the materialized view in s, with the row inserted just before kill -9"
    );
    assert_eq!(
        text_rows(&c, "SELECT v FROM t").await,
        expect_rows(&[&["public one"], &["public two"]]),
        "bare t is public.t under the default path"
    );
    assert_eq!(
        text_rows(&c, r#"SELECT x FROM "Mixed Case"."Odd""#).await,
        expect_rows(&[&["7"]])
    );
    assert_eq!(
        text_rows(&c, "SHOW INDEXES FROM s").await,
        expect_rows(&[&["t_k", "t", "default", "{k}"]])
    );
    // A query's relation in a schema that does not exist is a relation
    // that does not exist, as in PostgreSQL.
    let gone = c.simple_query("SELECT * FROM gone.t").await.unwrap_err();
    assert_eq!(sqlstate(&gone).as_deref(), Some("42P01"), "{gone}");
    // The restarted server maintains the views in s.
    c.batch_execute("UPDATE s.t SET v = 'S TWO' WHERE k = 2; DELETE FROM s.t WHERE k = 1")
        .await
        .expect("writes after restart");
    assert_eq!(
        text_rows(&c, "SELECT * FROM s.mv").await,
        expect_rows(&[&["2", "S TWO", "public two"]])
    );

    // SUBSCRIBE resolves through the session's search_path.
    let sub = server.connect().await;
    sub.batch_execute("SET search_path = s")
        .await
        .expect("SET search_path");
    let mut lines = SubscribeLines::start(&sub, "COPY (SUBSCRIBE mv) TO STDOUT", false).await;
    let snapshot = lines.read_n(1, WAIT, "the snapshot of s.mv").await;
    let row = |k: &str, v: &str| {
        vec![
            Some(k.to_string()),
            Some(v.into()),
            Some("public two".into()),
        ]
    };
    assert_eq!(
        (snapshot[0].diff, snapshot[0].values.clone()),
        (Some(1), row("2", "S TWO"))
    );
    c.batch_execute("UPDATE s.t SET v = 's 2' WHERE k = 2")
        .await
        .expect("UPDATE under a subscribe");
    let mut changes: Vec<(Option<i64>, Vec<Option<String>>)> = lines
        .read_n(2, WAIT, "the update of s.mv")
        .await
        .into_iter()
        .map(|l| (l.diff, l.values))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![(Some(-1), row("2", "S TWO")), (Some(1), row("2", "s 2"))]
    );
    drop(lines);
    drop(sub);

    // A dropped public stays dropped; s keeps its objects.
    c.batch_execute("DROP SCHEMA public CASCADE")
        .await
        .expect("DROP SCHEMA public CASCADE");
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SHOW SCHEMAS").await,
        expect_rows(&[&["Mixed Case"], &["mz_internal"], &["s"]]),
        "public stays dropped"
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM s.v").await,
        expect_rows(&[&["2", "s 2"]])
    );
    let none = c.simple_query("CREATE TABLE x (a int)").await.unwrap_err();
    assert_eq!(sqlstate(&none).as_deref(), Some("3F000"), "{none}");
}

/// `ALTER ... RENAME TO` rewrites the stored definitions of the renamed
/// objects and of what depends on them in one durable commit: after kill -9,
/// renamed tables, views, materialized views, indexes and a renamed schema
/// come back with their new names, and their dependents (stored naming the
/// old names before the rename) still read them. A running SUBSCRIBE keeps
/// running across the rename of what it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_renames() {
    let mut server = TestServer::start("restart-renames").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE SCHEMA s;
         CREATE TABLE s.t (k int, v text);
         INSERT INTO s.t VALUES (1, 'one'), (2, 'two');
         CREATE VIEW s.v AS SELECT t.k, v FROM s.t;
         CREATE MATERIALIZED VIEW public.mv AS SELECT count(*) AS n FROM s.v;
         CREATE VIEW public.over_mv AS SELECT n * 10 AS n10 FROM mv;
         CREATE INDEX t_k ON s.t (k);
         CREATE TABLE p (k int PRIMARY KEY);
         CREATE TABLE c (k int REFERENCES p (k));
         CREATE INDEX ON c (k);",
    )
    .await
    .expect("objects to rename");
    let sub = server.connect().await;
    let mut lines = SubscribeLines::start(&sub, "COPY (SUBSCRIBE mv) TO STDOUT", false).await;
    let snapshot = lines.read_n(1, WAIT, "the snapshot of mv").await;
    assert_eq!(snapshot[0].values, vec![Some("2".to_string())]);
    c.batch_execute(
        "ALTER TABLE s.t RENAME TO t2;
         ALTER VIEW s.v RENAME TO v2;
         ALTER MATERIALIZED VIEW mv RENAME TO mv2;
         ALTER INDEX s.t_k RENAME TO t2_k;
         ALTER SCHEMA s RENAME TO s2;
         INSERT INTO s2.t2 VALUES (3, 'three');
         ALTER TABLE p RENAME TO p2;
         ALTER TABLE c RENAME TO c2;
         CREATE TABLE p (z int);
         ALTER TABLE p RENAME TO p3;
         INSERT INTO p2 VALUES (1);",
    )
    .await
    .expect("renames");
    // The subscribe sees the insert through the renamed objects.
    let mut changes: Vec<(Option<i64>, Vec<Option<String>>)> = lines
        .read_n(2, WAIT, "the count after the renames")
        .await
        .into_iter()
        .map(|l| (l.diff, l.values))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            (Some(-1), vec![Some("2".into())]),
            (Some(1), vec![Some("3".into())])
        ]
    );
    drop(lines);
    drop(sub);
    drop(c);
    server.kill9();
    server.restart().await;

    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SHOW SCHEMAS").await,
        expect_rows(&[&["mz_internal"], &["public"], &["s2"]]),
        "the renamed schema after restart"
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM s2.v2 ORDER BY k").await,
        expect_rows(&[&["1", "one"], &["2", "two"], &["3", "three"]]),
        "the renamed view reads the renamed table"
    );
    c.batch_execute("INSERT INTO s2.t2 VALUES (4, 'four')")
        .await
        .expect("INSERT after restart");
    assert_eq!(
        text_rows(&c, "SELECT n FROM mv2").await,
        expect_rows(&[&["4"]]),
        "the renamed materialized view is maintained"
    );
    assert_eq!(
        text_rows(&c, "SELECT n10 FROM over_mv").await,
        expect_rows(&[&["40"]])
    );
    assert_eq!(
        text_rows(&c, "SHOW INDEXES FROM s2").await,
        expect_rows(&[&["t2_k", "t2", "default", "{k}"]])
    );
    assert_eq!(
        text_rows(&c, "SELECT v FROM s2.t2 WHERE k = 3").await,
        expect_rows(&[&["three"]])
    );
    let create = text_rows(&c, "SHOW CREATE VIEW s2.v2").await;
    assert_eq!(
        create[0][1].as_deref(),
        Some("CREATE VIEW s2.v2 AS SELECT t.k, v FROM s2.t2 AS t"),
        "the stored definition names the new names"
    );
    // Names derived from a table's name when it was created stay (as in
    // PostgreSQL), and a later table that took a renamed one's old name
    // is another table.
    assert_eq!(
        text_rows(
            &c,
            "SELECT conname FROM pg_constraint WHERE conrelid IN ('p2'::regclass, 'c2'::regclass) ORDER BY 1"
        )
        .await,
        expect_rows(&[&["c_k_fkey"], &["p_pkey"]])
    );
    assert_eq!(
        text_rows(
            &c,
            "SELECT indexname FROM pg_indexes WHERE tablename = 'c2'"
        )
        .await,
        expect_rows(&[&["c_k_idx"]])
    );
    assert_eq!(
        text_rows(
            &c,
            "SELECT relname FROM pg_class WHERE relname LIKE 'p%' AND relkind = 'r' ORDER BY 1"
        )
        .await,
        expect_rows(&[&["p2"], &["p3"]])
    );
    c.batch_execute("INSERT INTO c2 VALUES (1)")
        .await
        .expect("the foreign key to the renamed table holds");
    let missing = c
        .simple_query("INSERT INTO c2 VALUES (2)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&missing).as_deref(), Some("23503"), "{missing}");
    for old in [
        "SELECT * FROM s2.t",
        "SELECT * FROM mv",
        "SELECT * FROM s.t2",
    ] {
        assert!(c.simple_query(old).await.is_err(), "{old} is gone");
    }
}

/// `count(*)`, `count(DISTINCT counter)`, `min(counter)`, `max(counter)` of a COUNTER source.
#[derive(Debug, Clone, Copy)]
struct CounterStats {
    count: i64,
    distinct: i64,
    min: i64,
    max: i64,
}

impl CounterStats {
    /// Asserts that the rows are exactly `1..=max`: no gap and no duplicate.
    fn assert_exact(&self, when: &str) {
        assert!(
            self.count == self.distinct && self.min == 1 && self.max == self.count,
            "{when}: the counter's rows are not exactly 1..=max(counter) without duplicates: {self:?}"
        );
    }
}

/// Runs `sql` (the counter statistics query) and parses its one row.
async fn counter_stats(c: &tokio_postgres::Client, sql: &str) -> Result<CounterStats, String> {
    let rows = support::try_text_rows(c, sql).await?;
    let row = rows.first().ok_or("no row")?;
    let num = |i: usize| -> Result<i64, String> {
        row.get(i)
            .cloned()
            .flatten()
            .unwrap_or_else(|| "0".into())
            .parse()
            .map_err(|e| format!("column {i} of {row:?}: {e}"))
    };
    Ok(CounterStats {
        count: num(0)?,
        distinct: num(1)?,
        min: num(2)?,
        max: num(3)?,
    })
}

/// The text of `EXPLAIN <query>` (all columns of all rows, joined by newlines).
async fn explain_text(c: &tokio_postgres::Client, query: &str) -> String {
    text_rows(c, &format!("EXPLAIN {query}"))
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

// -------------------------------------------------------------------------------------------
// 2. COPY (SUBSCRIBE ...) TO STDOUT.

/// Streams a materialized view through `COPY (SUBSCRIBE mv) TO STDOUT`: the snapshot first, then
/// INSERT / UPDATE / DELETE as +1/-1 lines with non-decreasing `mz_timestamp`s, an UPDATE's
/// retraction and insertion at one timestamp. Then `SNAPSHOT = false` and `PROGRESS = true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_copy_streams_updates_in_timestamp_order() {
    let server = TestServer::start("subscribe").await;
    let writer = server.connect().await;
    writer
        .batch_execute(
            "CREATE TABLE items (id int, qty int);
             INSERT INTO items VALUES (1, 10), (2, 20), (3, 30);
             CREATE MATERIALIZED VIEW big AS SELECT id, qty * 2 AS dbl FROM items WHERE qty > 5;",
        )
        .await
        .expect("setting up");

    // --- The snapshot, then the changes.
    let sub_conn = server.connect().await;
    let mut sub = SubscribeLines::start(&sub_conn, "COPY (SUBSCRIBE big) TO STDOUT", false).await;
    let snapshot = sub.read_n(3, WAIT, "the snapshot of big").await;
    for line in &snapshot {
        assert_eq!(line.diff, Some(1), "snapshot line {line:?}");
        assert_eq!(
            line.values.len(),
            2,
            "snapshot line {line:?} should have id and dbl"
        );
    }
    assert!(
        snapshot.iter().all(|l| l.ts == snapshot[0].ts),
        "the snapshot should be at one timestamp: {snapshot:?}"
    );
    let mut snapshot_rows: Vec<_> = snapshot.iter().map(|l| l.values.clone()).collect();
    snapshot_rows.sort();
    assert_eq!(
        snapshot_rows,
        expect_rows(&[&["1", "20"], &["2", "40"], &["3", "60"]])
    );

    writer
        .execute("INSERT INTO items VALUES (4, 40)", &[])
        .await
        .expect("INSERT");
    writer
        .execute("UPDATE items SET qty = 11 WHERE id = 1", &[])
        .await
        .expect("UPDATE");
    // Filtered out by the view: must produce no line at all.
    writer
        .execute("INSERT INTO items VALUES (5, 1)", &[])
        .await
        .expect("INSERT filtered row");
    writer
        .execute("DELETE FROM items WHERE id = 2", &[])
        .await
        .expect("DELETE");

    let changes = sub.read_n(4, WAIT, "the INSERT, UPDATE and DELETE").await;
    let all: Vec<&SubscribeLine> = snapshot.iter().chain(changes.iter()).collect();
    for pair in all.windows(2) {
        assert!(
            pair[0].ts <= pair[1].ts,
            "mz_timestamp went backwards: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let insert = find_line(&changes, 1, &["4", "80"]);
    let update_out = find_line(&changes, -1, &["1", "20"]);
    let update_in = find_line(&changes, 1, &["1", "22"]);
    let delete = find_line(&changes, -1, &["2", "40"]);
    assert_eq!(
        update_out.ts, update_in.ts,
        "an UPDATE's retraction and insertion must share a timestamp: {changes:?}"
    );
    assert!(
        snapshot[0].ts < insert.ts && insert.ts < update_in.ts && update_in.ts < delete.ts,
        "each write should be at a later timestamp than the one before: snapshot at {}, {changes:?}",
        snapshot[0].ts
    );
    assert!(
        !changes
            .iter()
            .any(|l| l.values.first() == Some(&Some("5".into()))),
        "a row filtered out by the view was streamed: {changes:?}"
    );
    drop(sub);
    drop(sub_conn);

    // --- SNAPSHOT = false: only what happens after the subscribe started.
    let sub_conn = server.connect().await;
    let mut sub = SubscribeLines::start(
        &sub_conn,
        "COPY (SUBSCRIBE big WITH (SNAPSHOT = false)) TO STDOUT",
        false,
    )
    .await;
    writer
        .execute("INSERT INTO items VALUES (6, 60)", &[])
        .await
        .expect("INSERT");
    let first = sub
        .read_n(1, WAIT, "the first line without a snapshot")
        .await;
    assert_eq!(
        (first[0].diff, first[0].values.clone()),
        (Some(1), expect_rows(&[&["6", "120"]]).remove(0)),
        "with SNAPSHOT = false the first line must be the new row, not the existing ones"
    );
    drop(sub);
    drop(sub_conn);

    // --- PROGRESS = true: progress lines (mz_progressed = t) that bound later timestamps.
    let sub_conn = server.connect().await;
    let mut sub = SubscribeLines::start(
        &sub_conn,
        "COPY (SUBSCRIBE big WITH (PROGRESS = true)) TO STDOUT",
        true,
    )
    .await;
    // Current contents of big: (1,22) (3,60) (4,80) (6,120).
    let mut lines = sub
        .read_until(WAIT, "the snapshot and a progress line after it", |lines| {
            lines.iter().filter(|l| !l.progressed).count() >= 4
                && lines.last().is_some_and(|l| l.progressed)
        })
        .await;
    writer
        .execute("INSERT INTO items VALUES (7, 70)", &[])
        .await
        .expect("INSERT");
    let more = sub
        .read_until(WAIT, "the new row and a progress line past it", |lines| {
            let data = lines
                .iter()
                .position(|l| !l.progressed && l.values[0].as_deref() == Some("7"));
            data.is_some_and(|i| {
                lines[i + 1..]
                    .iter()
                    .any(|p| p.progressed && p.ts > lines[i].ts)
            })
        })
        .await;
    lines.extend(more);
    let data: Vec<&SubscribeLine> = lines.iter().filter(|l| !l.progressed).collect();
    let mut snapshot_rows: Vec<_> = data.iter().take(4).map(|l| l.values.clone()).collect();
    snapshot_rows.sort();
    assert_eq!(
        snapshot_rows,
        expect_rows(&[&["1", "22"], &["3", "60"], &["4", "80"], &["6", "120"]]),
        "snapshot with PROGRESS = true"
    );
    assert!(data.iter().all(|l| l.diff == Some(1)), "{data:?}");
    let mut frontier = 0u64;
    for line in &lines {
        if line.progressed {
            assert!(
                line.diff.is_none() && line.values.iter().all(Option::is_none),
                "a progress line has NULL mz_diff and columns: {line:?}"
            );
            assert!(line.ts >= frontier, "progress went backwards: {lines:?}");
            frontier = line.ts;
        } else {
            assert!(
                line.ts >= frontier,
                "a row at {} came after progress to {frontier}: {lines:?}",
                line.ts
            );
        }
    }
}

/// The line of `lines` with `mz_diff` = `diff` and the given column values; panics if none.
fn find_line<'a>(lines: &'a [SubscribeLine], diff: i64, values: &[&str]) -> &'a SubscribeLine {
    let want = expect_rows(&[values]).remove(0);
    lines
        .iter()
        .find(|l| l.diff == Some(diff) && l.values == want)
        .unwrap_or_else(|| panic!("no line with mz_diff {diff} and {values:?} in {lines:#?}"))
}

// -------------------------------------------------------------------------------------------
// 3. Client disconnects during SUBSCRIBE.

/// Starts subscribes, drops their connections, and checks that the server releases them (on
/// Linux: the server process no longer holds the connection's socket) and stays healthy: queries
/// and new subscribes work.
///
/// Two cases: a plain `SUBSCRIBE` of a relation that then stays idle (no update will ever flow to
/// reveal the broken connection: the server must notice the disconnect on its own, as Materialize
/// and PostgreSQL do), and a `COPY (SUBSCRIBE (query))` (a transient dataflow) of a relation that
/// keeps changing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_disconnect_leaves_nothing_behind() {
    let server = TestServer::start("disconnect").await;
    let control = server.connect().await;
    control
        .batch_execute(
            "CREATE TABLE idle_t (x int);
             INSERT INTO idle_t VALUES (1);
             CREATE TABLE busy_t (x int);
             INSERT INTO busy_t VALUES (1);",
        )
        .await
        .expect("setting up");
    let mut problems: Vec<String> = Vec::new();

    // --- Idle: a plain SUBSCRIBE (simple protocol), then the client vanishes.
    let (idle_conn, idle_port) = server.connect_with_local_port().await;
    let mut stream = Box::pin(
        idle_conn
            .simple_query_raw("SUBSCRIBE idle_t")
            .await
            .expect("SUBSCRIBE idle_t"),
    );
    let deadline = Instant::now() + WAIT;
    let first_row = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("no snapshot row from SUBSCRIBE idle_t within {WAIT:?}"),
            Ok(None) => panic!("SUBSCRIBE idle_t ended before its snapshot"),
            Ok(Some(Err(e))) => panic!("SUBSCRIBE idle_t failed: {e}"),
            Ok(Some(Ok(SimpleQueryMessage::Row(row)))) => break row,
            Ok(Some(Ok(_))) => continue,
        }
    };
    let cols: Vec<&str> = first_row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(cols, ["mz_timestamp", "mz_diff", "x"], "SUBSCRIBE columns");
    assert_eq!(
        (first_row.get(1), first_row.get(2)),
        (Some("1"), Some("1")),
        "snapshot row"
    );
    let idle_socket = server.socket_of_client(idle_port);
    drop(stream);
    drop(idle_conn); // closes the socket
    if let Some(inode) = idle_socket {
        let released = poll_for(
            "the server to release an idle SUBSCRIBE's connection",
            IDLE_DISCONNECT_WAIT,
            || {
                let held = server.holds_socket(inode);
                async move {
                    if held {
                        Err("the server still holds the socket".to_string())
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await;
        if let Err(e) = released {
            problems.push(format!(
                "idle `SUBSCRIBE idle_t` whose client disconnected was not cleaned up: {e}"
            ));
        }
    }

    // --- Busy: a subscribe of a query (transient dataflow) whose input keeps changing.
    let (busy_conn, busy_port) = server.connect_with_local_port().await;
    let mut sub = SubscribeLines::start(
        &busy_conn,
        "COPY (SUBSCRIBE (SELECT count(*) AS n, sum(x) AS total FROM busy_t)) TO STDOUT",
        false,
    )
    .await;
    let snap = sub.read_n(1, WAIT, "the snapshot of the count").await;
    assert_eq!(
        snap[0].values,
        expect_rows(&[&["1", "1"]]).remove(0),
        "{snap:?}"
    );
    let busy_socket = server.socket_of_client(busy_port);
    drop(sub);
    drop(busy_conn);
    let mut next_x = 2;
    let released = poll_for(
        "the server to release a busy SUBSCRIBE's connection",
        WAIT,
        || {
            // Each probe makes the subscribed query change, so the server has something to send.
            let x = next_x;
            next_x += 1;
            let held = busy_socket.is_some_and(|inode| server.holds_socket(inode));
            let control = &*control;
            async move {
                control
                    .batch_execute(&format!("INSERT INTO busy_t VALUES ({x})"))
                    .await
                    .map_err(|e| format!("INSERT failed: {e:?}"))?;
                if held {
                    Err("the server still holds the socket".to_string())
                } else {
                    Ok(())
                }
            }
        },
    )
    .await;
    if let Err(e) = released {
        problems.push(format!(
            "a SUBSCRIBE of a changing query whose client disconnected was not cleaned up: {e}"
        ));
    }

    // --- The server is healthy: queries, writes and new subscribes work.
    let n_rows = text_rows(&control, "SELECT count(*) FROM busy_t").await;
    assert_eq!(n_rows.len(), 1, "SELECT count(*) FROM busy_t: {n_rows:?}");
    for _ in 0..3 {
        let conn = server.connect().await;
        let mut sub = SubscribeLines::start(
            &conn,
            "COPY (SUBSCRIBE (SELECT count(*) AS n FROM busy_t)) TO STDOUT",
            false,
        )
        .await;
        let snap = sub.read_n(1, WAIT, "a new subscribe's snapshot").await;
        let before: i64 = snap[0].values[0]
            .as_deref()
            .unwrap_or("0")
            .parse()
            .expect("count");
        control
            .execute("INSERT INTO busy_t VALUES (0)", &[])
            .await
            .expect("INSERT");
        let change = sub.read_n(2, WAIT, "a new subscribe's update").await;
        let mut got: Vec<(Option<i64>, Option<String>)> = change
            .iter()
            .map(|l| (l.diff, l.values[0].clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (Some(-1), Some(before.to_string())),
                (Some(1), Some((before + 1).to_string()))
            ],
            "a new subscribe after the disconnects"
        );
    }
    let idle_after = text_rows(&control, "SELECT x FROM idle_t").await;
    assert_eq!(idle_after, expect_rows(&[&["1"]]));
    control
        .execute("DROP TABLE idle_t", &[])
        .await
        .expect("DROP TABLE idle_t");

    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
}

// -------------------------------------------------------------------------------------------
// 4. Extended protocol: binary parameters and results for every common type.

/// PostgreSQL's `interval` in its binary form (microseconds, days, months): `tokio-postgres` has
/// no mapping for it in the features this build enables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PgInterval {
    months: i32,
    days: i32,
    micros: i64,
}

impl ToSql for PgInterval {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_ty: &Type, mut raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        if raw.len() != 16 {
            return Err(format!("interval: expected 16 bytes, got {}", raw.len()).into());
        }
        let micros = raw.get_i64();
        let days = raw.get_i32();
        let months = raw.get_i32();
        Ok(PgInterval {
            months,
            days,
            micros,
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// One row of the `all_types` table.
#[derive(Debug, Clone)]
struct AllTypes {
    id: i32,
    b: bool,
    s: i16,
    i: i32,
    l: i64,
    r: f32,
    d: f64,
    n: Decimal,
    t: String,
    vc: String,
    dt: NaiveDate,
    tm: NaiveTime,
    ts: NaiveDateTime,
    tz: DateTime<Utc>,
    iv: PgInterval,
    /// The PostgreSQL text form of each column after `id`, as `col::text` gives it.
    text: [&'static str; 14],
}

impl AllTypes {
    /// The row as statement parameters, in column order.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id, &self.b, &self.s, &self.i, &self.l, &self.r, &self.d, &self.n, &self.t,
            &self.vc, &self.dt, &self.tm, &self.ts, &self.tz, &self.iv,
        ]
    }
}

/// The columns of `all_types` after `id`, and their wire types.
const ALL_TYPES_COLUMNS: [(&str, Type); 14] = [
    ("b", Type::BOOL),
    ("s", Type::INT2),
    ("i", Type::INT4),
    ("l", Type::INT8),
    ("r", Type::FLOAT4),
    ("d", Type::FLOAT8),
    ("n", Type::NUMERIC),
    ("t", Type::TEXT),
    ("vc", Type::VARCHAR),
    ("dt", Type::DATE),
    ("tm", Type::TIME),
    ("ts", Type::TIMESTAMP),
    ("tz", Type::TIMESTAMPTZ),
    ("iv", Type::INTERVAL),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn time(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
    NaiveTime::from_hms_micro_opt(h, m, s, micro).expect("valid time")
}

/// The two non-NULL sample rows.
fn sample_rows() -> [AllTypes; 2] {
    [
        AllTypes {
            id: 1,
            b: true,
            s: -12,
            i: 123_456,
            l: 9_007_199_254_740_993,
            r: 1.5,
            d: -2.25,
            n: Decimal::new(12_345, 2),
            t: "héllo\twörld".into(),
            vc: "short".into(),
            dt: date(2024, 2, 29),
            tm: time(13, 45, 30, 123_456),
            ts: date(2024, 2, 29).and_time(time(23, 59, 59, 500_000)),
            tz: date(2024, 3, 1).and_time(time(12, 0, 0, 0)).and_utc(),
            iv: PgInterval {
                months: 14,
                days: 3,
                micros: 14_706_789_000,
            },
            text: [
                "true",
                "-12",
                "123456",
                "9007199254740993",
                "1.5",
                "-2.25",
                "123.45",
                "héllo\twörld",
                "short",
                "2024-02-29",
                "13:45:30.123456",
                "2024-02-29 23:59:59.5",
                "2024-03-01 12:00:00+00",
                "1 year 2 mons 3 days 04:05:06.789",
            ],
        },
        AllTypes {
            id: 2,
            b: false,
            s: i16::MAX,
            i: i32::MIN,
            l: i64::MIN,
            r: 0.25,
            d: 1e100,
            n: Decimal::new(-9_999_999_999, 2),
            t: String::new(),
            vc: "tenchars!!".into(),
            dt: date(1999, 12, 31),
            tm: time(0, 0, 0, 0),
            ts: date(1970, 1, 1).and_time(time(0, 0, 0, 0)),
            tz: date(1999, 12, 31)
                .and_time(time(23, 59, 59, 999_999))
                .and_utc(),
            iv: PgInterval {
                months: 0,
                days: -1,
                micros: 1_000_000,
            },
            text: [
                "false",
                "32767",
                "-2147483648",
                "-9223372036854775808",
                "0.25",
                "1e+100",
                "-99999999.99",
                "",
                "tenchars!!",
                "1999-12-31",
                "00:00:00",
                "1970-01-01 00:00:00",
                "1999-12-31 23:59:59.999999+00",
                "-1 days +00:00:01",
            ],
        },
    ]
}

/// Compares column `idx` of `row`, read as `T` (binary result format), with `expected`.
fn check_value<'a, T>(
    row: &'a tokio_postgres::Row,
    idx: usize,
    expected: &T,
    what: &str,
    problems: &mut Vec<String>,
) where
    T: FromSql<'a> + PartialEq + std::fmt::Debug,
{
    match row.try_get::<_, T>(idx) {
        Ok(v) if v == *expected => {}
        Ok(v) => problems.push(format!("{what}: got {v:?}, expected {expected:?}")),
        Err(e) => problems.push(format!(
            "{what}: cannot read column {idx} (type {}) as {}: {e}",
            row.columns()[idx].type_(),
            std::any::type_name::<T>()
        )),
    }
}

/// Checks every column of a row read back with `SELECT b, s, ... FROM all_types`.
fn check_all_types_row(row: &tokio_postgres::Row, e: &AllTypes, problems: &mut Vec<String>) {
    let what = |c: &str| format!("row {} column {c} (binary result)", e.id);
    check_value(row, 0, &e.b, &what("b"), problems);
    check_value(row, 1, &e.s, &what("s"), problems);
    check_value(row, 2, &e.i, &what("i"), problems);
    check_value(row, 3, &e.l, &what("l"), problems);
    check_value(row, 4, &e.r, &what("r"), problems);
    check_value(row, 5, &e.d, &what("d"), problems);
    check_value(row, 6, &e.n, &what("n"), problems);
    check_value(row, 7, &e.t, &what("t"), problems);
    check_value(row, 8, &e.vc, &what("vc"), problems);
    check_value(row, 9, &e.dt, &what("dt"), problems);
    check_value(row, 10, &e.tm, &what("tm"), problems);
    check_value(row, 11, &e.ts, &what("ts"), problems);
    check_value(row, 12, &e.tz, &what("tz"), problems);
    check_value(row, 13, &e.iv, &what("iv"), problems);
    if let Ok(n) = row.try_get::<_, Decimal>(6)
        && n.scale() != 2
    {
        problems.push(format!(
            "row {}: numeric(10,2) value {n} has scale {}, not 2",
            e.id,
            n.scale()
        ));
    }
}

/// Prepared statements with binary parameters and results: INSERT with `$1..$15` (untyped, as
/// PostgreSQL infers them from the target columns, and with explicit casts), NULL parameters,
/// `SELECT ... WHERE col = $1` for every column, `col::text` forms, and `SELECT $1::int + 1`.
/// Collects every mismatch and reports them together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_parameters_all_types() {
    let server = TestServer::start("types").await;
    let c = server.connect().await;
    c.batch_execute(
        "SET TIME ZONE 'UTC';
         CREATE TABLE all_types (
            id integer NOT NULL, b boolean, s smallint, i integer, l bigint, r real,
            d double precision, n numeric(10,2), t text, vc varchar(10), dt date, tm time,
            ts timestamp, tz timestamptz, iv interval);",
    )
    .await
    .expect("creating all_types");
    let [row1, row2] = sample_rows();
    let mut problems: Vec<String> = Vec::new();

    // Untyped parameters: PostgreSQL infers each one's type from its target column.
    let placeholders: Vec<String> = (1..=15).map(|i| format!("${i}")).collect();
    let untyped_sql = format!("INSERT INTO all_types VALUES ({})", placeholders.join(", "));
    let casts = [
        "integer",
        "boolean",
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "numeric(10,2)",
        "text",
        "varchar(10)",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
    ];
    let cast_sql = format!(
        "INSERT INTO all_types VALUES ({})",
        casts
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::{t}", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let expected_param_types: Vec<Type> = std::iter::once(Type::INT4)
        .chain(ALL_TYPES_COLUMNS.iter().map(|(_, t)| t.clone()))
        .collect();
    let mut row1_inserted = false;
    match c.prepare(&untyped_sql).await {
        Err(e) => problems.push(format!("preparing `{untyped_sql}` failed: {e}")),
        Ok(stmt) => {
            if stmt.params() != expected_param_types.as_slice() {
                problems.push(format!(
                    "`{untyped_sql}`: parameter types {:?}, expected the target columns' types {:?}",
                    stmt.params(),
                    expected_param_types
                ));
            }
            match c.execute(&stmt, &row1.params()).await {
                Ok(1) => row1_inserted = true,
                Ok(n) => problems.push(format!("`{untyped_sql}` reported {n} rows")),
                Err(e) => problems.push(format!("`{untyped_sql}` failed: {e:?}")),
            }
        }
    }

    // Explicitly typed parameters.
    let mut cast_stmt = c
        .prepare(&cast_sql)
        .await
        .expect("preparing the INSERT with casts");
    assert_eq!(
        cast_stmt.params(),
        expected_param_types.as_slice(),
        "`{cast_sql}` parameter types"
    );
    if let Err(e) = c.execute(&cast_stmt, &row2.params()).await {
        problems.push(format!("`{cast_sql}` failed: {e:?}"));
        // Go on with the varchar(10) column bound as text (the INSERT assigns it to
        // varchar(10)), so that the other types are still checked.
        let fallback_sql = cast_sql.replace("$10::varchar(10)", "$10::text");
        cast_stmt = c
            .prepare(&fallback_sql)
            .await
            .expect("preparing the fallback INSERT");
        c.execute(&cast_stmt, &row2.params())
            .await
            .unwrap_or_else(|e| panic!("`{fallback_sql}` failed too: {e:?}\n{problems:#?}"));
    }
    if !row1_inserted {
        c.execute(&cast_stmt, &row1.params())
            .await
            .expect("INSERT row 1 with casts");
    }
    // A row of NULLs, bound as NULL parameters of each type.
    let id3 = 3i32;
    let null_params: Vec<Box<dyn ToSql + Sync>> = vec![
        Box::new(id3),
        Box::new(None::<bool>),
        Box::new(None::<i16>),
        Box::new(None::<i32>),
        Box::new(None::<i64>),
        Box::new(None::<f32>),
        Box::new(None::<f64>),
        Box::new(None::<Decimal>),
        Box::new(None::<String>),
        Box::new(None::<String>),
        Box::new(None::<NaiveDate>),
        Box::new(None::<NaiveTime>),
        Box::new(None::<NaiveDateTime>),
        Box::new(None::<DateTime<Utc>>),
        Box::new(None::<PgInterval>),
    ];
    let null_refs: Vec<&(dyn ToSql + Sync)> = null_params.iter().map(|p| p.as_ref()).collect();
    c.execute(&cast_stmt, &null_refs)
        .await
        .expect("INSERT a row of NULL parameters");

    // Binary results.
    let columns: Vec<&str> = ALL_TYPES_COLUMNS.iter().map(|(c, _)| *c).collect();
    let select = c
        .prepare(&format!(
            "SELECT {} FROM all_types WHERE id = $1",
            columns.join(", ")
        ))
        .await
        .expect("preparing SELECT ... WHERE id = $1");
    let result_types: Vec<Type> = select.columns().iter().map(|c| c.type_().clone()).collect();
    let want_types: Vec<Type> = ALL_TYPES_COLUMNS.iter().map(|(_, t)| t.clone()).collect();
    if result_types != want_types {
        problems.push(format!(
            "result column types {result_types:?}, expected {want_types:?}"
        ));
    }
    for expected in [&row1, &row2] {
        let rows = c
            .query(&select, &[&expected.id])
            .await
            .expect("SELECT row by id");
        assert_eq!(rows.len(), 1, "rows with id {}", expected.id);
        check_all_types_row(&rows[0], expected, &mut problems);
    }
    let rows = c
        .query(&select, &[&id3])
        .await
        .expect("SELECT the NULL row");
    assert_eq!(rows.len(), 1, "rows with id 3");
    for (i, (col, _)) in ALL_TYPES_COLUMNS.iter().enumerate() {
        if !null_of_any_type(&rows[0], i) {
            problems.push(format!("row 3 column {col} should be NULL"));
        }
    }

    // Text forms, as PostgreSQL prints them.
    let text_select = format!(
        "SELECT {} FROM all_types WHERE id = $1",
        columns
            .iter()
            .map(|c| format!("{c}::text"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for expected in [&row1, &row2] {
        match c.query_one(&text_select, &[&expected.id]).await {
            Err(e) => problems.push(format!("`{text_select}` failed: {e}")),
            Ok(row) => {
                for (i, (col, _)) in ALL_TYPES_COLUMNS.iter().enumerate() {
                    match row.try_get::<_, Option<String>>(i) {
                        Ok(Some(got)) if got == expected.text[i] => {}
                        other => problems.push(format!(
                            "row {} {col}::text: got {other:?}, expected {:?}",
                            expected.id, expected.text[i]
                        )),
                    }
                }
            }
        }
    }

    // WHERE col = $1, with the parameter's type inferred from the column.
    let params2 = row2.params();
    for (i, (col, _)) in ALL_TYPES_COLUMNS.iter().enumerate() {
        let sql = format!("SELECT id FROM all_types WHERE {col} = $1 ORDER BY id");
        match c.query(&sql, &[params2[i + 1]]).await {
            Err(e) => problems.push(format!("`{sql}` with row 2's {col} failed: {e:?}")),
            Ok(rows) => {
                let ids: Vec<Result<i32, String>> = rows
                    .iter()
                    .map(|r| r.try_get(0).map_err(|e| e.to_string()))
                    .collect();
                if ids != vec![Ok(2)] {
                    problems.push(format!(
                        "`{sql}` with row 2's {col}: ids {ids:?}, expected [2]"
                    ));
                }
            }
        }
    }

    // Parameters in expressions.
    match c.query_one("SELECT $1::int + 1", &[&41i32]).await {
        Err(e) => problems.push(format!("SELECT $1::int + 1 failed: {e}")),
        Ok(row) => check_value(
            &row,
            0,
            &42i32,
            "SELECT $1::int + 1 (an integer in PostgreSQL)",
            &mut problems,
        ),
    }
    match c
        .query_one(
            "SELECT $1::text || '!', $2::numeric * 2",
            &[&"hi", &Decimal::new(15, 1)],
        )
        .await
    {
        Err(e) => problems.push(format!(
            "SELECT $1::text || '!', $2::numeric * 2 failed: {e}"
        )),
        Ok(row) => {
            check_value(
                &row,
                0,
                &"hi!".to_string(),
                "$1::text || '!'",
                &mut problems,
            );
            check_value(
                &row,
                1,
                &Decimal::new(30, 1),
                "$2::numeric * 2",
                &mut problems,
            );
        }
    }

    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// An `INSERT ... SELECT` of bare parameters types them as their columns,
/// as PostgreSQL infers them, so they meet the column's assignment rules
/// (a parameter typed `text` would be 42804 for an integer column), and a
/// value typed otherwise is 42804 over the extended protocol too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_select_parameters_take_their_columns_types() {
    let server = TestServer::start("insert-select-params").await;
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE ps (a int, b boolean)")
        .await
        .expect("table");
    let insert = c
        .prepare("INSERT INTO ps SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM ps)")
        .await
        .expect("prepare INSERT ... SELECT");
    assert_eq!(insert.params(), &[Type::INT4, Type::BOOL]);
    assert_eq!(
        c.execute(&insert, &[&5i32, &true]).await.expect("insert"),
        1
    );
    assert_eq!(
        c.execute(&insert, &[&6i32, &false]).await.expect("insert"),
        0
    );
    assert_eq!(
        text_rows(&c, "SELECT a::text, b::text FROM ps").await,
        expect_rows(&[&["5", "true"]])
    );
    let e = c
        .execute("INSERT INTO ps (a) VALUES ($1::boolean)", &[&true])
        .await
        .expect_err("a boolean for an integer column");
    assert_eq!(sqlstate(&e).as_deref(), Some("42804"), "{e}");
}

/// Whether column `idx` of `row` is NULL, whatever its type.
fn null_of_any_type(row: &tokio_postgres::Row, idx: usize) -> bool {
    /// Accepts any type and says whether the value is NULL.
    struct AnyNull(bool);
    impl<'a> FromSql<'a> for AnyNull {
        fn from_sql(_: &Type, _: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
            Ok(AnyNull(false))
        }
        fn from_sql_null(_: &Type) -> Result<Self, Box<dyn StdError + Sync + Send>> {
            Ok(AnyNull(true))
        }
        fn accepts(_: &Type) -> bool {
            true
        }
    }
    row.try_get::<_, AnyNull>(idx).is_ok_and(|v| v.0)
}

// -------------------------------------------------------------------------------------------
// 5. Index point lookups.

/// An index on a materialized view's key column serves `WHERE k = <constant>` as a point lookup
/// (`EXPLAIN` says `index lookup`), and the lookup answers with the right row, also through the
/// extended protocol and after the key's row changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_lookup_is_a_point_lookup() {
    let server = TestServer::start("index").await;
    let c = server.connect().await;
    let mut setup =
        String::from("CREATE TABLE kv (k int NOT NULL, v text);\nINSERT INTO kv VALUES ");
    setup.push_str(
        &(1..=10)
            .map(|k| format!("({k}, 'v{k}')"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    setup.push_str(
        ";\nCREATE MATERIALIZED VIEW mv AS SELECT k, v, length(v) AS len FROM kv;
         CREATE INDEX mv_k_idx ON mv (k);",
    );
    c.batch_execute(&setup).await.expect("setting up");

    let explain = explain_text(&c, "SELECT * FROM mv WHERE k = 3").await;
    assert!(
        explain.contains("index lookup"),
        "EXPLAIN SELECT * FROM mv WHERE k = 3 should show an index lookup:\n{explain}"
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM mv WHERE k = 3").await,
        expect_rows(&[&["3", "v3", "2"]])
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM mv WHERE k = 10").await,
        expect_rows(&[&["10", "v10", "3"]])
    );
    assert_eq!(
        text_rows(&c, "SELECT * FROM mv WHERE k = 42").await,
        Rows::new(),
        "absent key"
    );

    let row = c
        .query_one("SELECT k, v, len FROM mv WHERE k = $1", &[&3i32])
        .await
        .expect("point lookup through the extended protocol");
    assert_eq!(
        (
            row.get::<_, i32>(0),
            row.get::<_, String>(1),
            row.get::<_, i32>(2)
        ),
        (3, "v3".to_string(), 2)
    );

    c.execute("UPDATE kv SET v = 'three' WHERE k = 3", &[])
        .await
        .expect("UPDATE");
    assert_eq!(
        text_rows(&c, "SELECT * FROM mv WHERE k = 3").await,
        expect_rows(&[&["3", "three", "5"]]),
        "the lookup after an UPDATE"
    );
}

// -------------------------------------------------------------------------------------------
// 6. SQLSTATEs.

/// Each error carries PostgreSQL's SQLSTATE, through both the simple and the extended protocol,
/// and the connection keeps working after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_sqlstate() {
    let server = TestServer::start("errors").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE nums (i int, z int, s smallint, l bigint);
         INSERT INTO nums VALUES (2147483647, 0, 32767, 9223372036854775807);",
    )
    .await
    .expect("setting up");
    let cases: &[(&str, &str)] = &[
        ("SELECT 1 / 0", "22012"),
        ("SELECT i / z FROM nums", "22012"),
        ("SELECT i % z FROM nums", "22012"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELEC 1", "42601"),
        ("SELECT (1", "42601"),
        ("SELECT 2147483647::int + 1", "22003"),
        ("SELECT i + 1 FROM nums", "22003"),
        ("SELECT i * 2 FROM nums", "22003"),
        ("SELECT s + s FROM nums", "22003"),
        ("SELECT l + 1 FROM nums", "22003"),
        ("SELECT 9223372036854775807::bigint + 1", "22003"),
        ("INSERT INTO nums VALUES (2147483648, 0, 0, 0)", "22003"),
    ];
    let mut problems = Vec::new();
    for (sql, code) in cases {
        let simple = c.simple_query(sql).await;
        match &simple {
            Ok(_) => problems.push(format!(
                "simple protocol: `{sql}` succeeded, expected {code}"
            )),
            Err(e) if sqlstate(e).as_deref() != Some(*code) => problems.push(format!(
                "simple protocol: `{sql}` failed with {:?} ({}), expected {code}",
                sqlstate(e),
                support::message(e)
            )),
            Err(_) => {}
        }
        let extended = c.query(*sql, &[]).await;
        match &extended {
            Ok(_) => problems.push(format!(
                "extended protocol: `{sql}` succeeded, expected {code}"
            )),
            Err(e) if sqlstate(e).as_deref() != Some(*code) => problems.push(format!(
                "extended protocol: `{sql}` failed with {:?} ({}), expected {code}",
                sqlstate(e),
                support::message(e)
            )),
            Err(_) => {}
        }
        // The connection still works, in both protocols.
        assert_eq!(
            text_rows(&c, "SELECT 1").await,
            expect_rows(&[&["1"]]),
            "after `{sql}`"
        );
        let one: i32 = c
            .query_one("SELECT 1::int", &[])
            .await
            .expect("SELECT 1 after an error")
            .get(0);
        assert_eq!(one, 1, "after `{sql}`");
    }
    // Nothing was written by the failed INSERT.
    assert_eq!(
        text_rows(&c, "SELECT count(*) FROM nums").await,
        expect_rows(&[&["1"]])
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Errors carry PostgreSQL's DETAIL and HINT fields, as PostgreSQL 15 sends them for the same
/// statements (each expected triple was taken from PostgreSQL 15 running the same script), through
/// both the simple and the extended protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_hints() {
    let server = TestServer::start("hints").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE p (a int PRIMARY KEY, b int);
         CREATE VIEW v AS SELECT * FROM p;
         CREATE VIEW v2 AS SELECT * FROM v;
         CREATE TABLE c (x int REFERENCES p);
         CREATE SEQUENCE s;
         CREATE TABLE u (a int DEFAULT nextval('s'));
         CREATE TABLE idt (a int GENERATED ALWAYS AS IDENTITY);
         CREATE SCHEMA sch;
         CREATE TABLE sch.t1 (a int);",
    )
    .await
    .expect("setting up");
    const CASCADE: &str = "Use DROP ... CASCADE to drop the dependent objects too.";
    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        (
            "DROP TABLE p",
            "2BP01",
            Some(
                "view v depends on table p\nview v2 depends on view v\nconstraint c_x_fkey on table c depends on table p",
            ),
            Some(CASCADE),
        ),
        (
            "DROP VIEW v",
            "2BP01",
            Some("view v2 depends on view v"),
            Some(CASCADE),
        ),
        (
            "DROP SEQUENCE s",
            "2BP01",
            Some("default value for column a of table u depends on sequence s"),
            Some(CASCADE),
        ),
        (
            "DROP SEQUENCE idt_a_seq",
            "2BP01",
            None,
            Some("You can drop column a of table idt instead."),
        ),
        (
            "DROP INDEX p_pkey",
            "2BP01",
            None,
            Some("You can drop constraint p_pkey on table p instead."),
        ),
        (
            "DROP SCHEMA sch",
            "2BP01",
            Some("table sch.t1 depends on schema sch"),
            Some(CASCADE),
        ),
        (
            "DROP TABLE v2",
            "42809",
            None,
            Some("Use DROP VIEW to remove a view."),
        ),
        (
            "DROP INDEX p",
            "42809",
            None,
            Some("Use DROP TABLE to remove a table."),
        ),
        (
            "TRUNCATE p",
            "0A000",
            Some("Table \"c\" references \"p\"."),
            Some("Truncate table \"c\" at the same time, or use TRUNCATE ... CASCADE."),
        ),
        (
            "INSERT INTO idt VALUES (1)",
            "428C9",
            Some("Column \"a\" is an identity column defined as GENERATED ALWAYS."),
            Some("Use OVERRIDING SYSTEM VALUE to override."),
        ),
        (
            "SELECT no_such_function(1)",
            "42883",
            None,
            Some(
                "No function matches the given name and argument types. You might need to add explicit type casts.",
            ),
        ),
        (
            "SELECT 1 + 'a'::text",
            "42883",
            None,
            Some(
                "No operator matches the given name and argument types. You might need to add explicit type casts.",
            ),
        ),
        (
            "SELECT sum(NULL)",
            "42725",
            None,
            Some(
                "Could not choose a best candidate function. You might need to add explicit type casts.",
            ),
        ),
        (
            "INSERT INTO p VALUES (true)",
            "42804",
            None,
            Some("You will need to rewrite or cast the expression."),
        ),
        (
            "UPDATE p SET b = 1 > 0",
            "42804",
            None,
            Some("You will need to rewrite or cast the expression."),
        ),
        ("SELECT * FROM no_such_table", "42P01", None, None),
    ];
    let mut problems = Vec::new();
    for &(sql, code, detail, hint) in cases {
        let simple = c.simple_query(sql).await.map(|_| ());
        let extended = c.query(sql, &[]).await.map(|_| ());
        for (protocol, result) in [("simple", simple), ("extended", extended)] {
            let Err(e) = result else {
                problems.push(format!("{protocol}: `{sql}` succeeded"));
                continue;
            };
            let Some(db) = e.as_db_error() else {
                problems.push(format!("{protocol}: `{sql}`: {e:?}"));
                continue;
            };
            let got = (db.code().code(), db.detail(), db.hint());
            if got != (code, detail, hint) {
                problems.push(format!(
                    "{protocol}: `{sql}` gave {got:?}, expected {:?}",
                    (code, detail, hint)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Comments on schemas and constraints survive `kill -9`, and go with a dropped schema or table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_constraint_comments_survive_kill_9() {
    let mut server = TestServer::start("comments-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE SCHEMA s1;
         CREATE TABLE s1.t (a int PRIMARY KEY CHECK (a > 0));
         COMMENT ON SCHEMA s1 IS 'first';
         COMMENT ON SCHEMA public IS 'standard';
         COMMENT ON CONSTRAINT t_pkey ON s1.t IS 'the key';
         COMMENT ON CONSTRAINT t_a_check ON s1.t IS 'positive';
         COMMENT ON INDEX s1.t_pkey IS 'the index';",
    )
    .await
    .expect("setup");
    let descriptions = "SELECT c.relname || ': ' || d.description FROM pg_description d \
         JOIN pg_class c ON c.oid = d.classoid ORDER BY 1";
    let before = text_rows(&c, descriptions).await;
    assert_eq!(
        before,
        expect_rows(&[
            &["pg_class: the index"],
            &["pg_constraint: positive"],
            &["pg_constraint: the key"],
            &["pg_namespace: first"],
            &["pg_namespace: standard"],
        ])
    );
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(text_rows(&c, descriptions).await, before);
    c.batch_execute("DROP SCHEMA s1 CASCADE")
        .await
        .expect("drop");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, descriptions).await,
        expect_rows(&[&["pg_namespace: standard"]])
    );
}

/// A `serial` column's sequence that `ALTER SEQUENCE ... OWNED BY NONE` took from its table
/// survives the table's `DROP` and then `kill -9`, keeping its value; one owned by another table
/// goes with that table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_serial_sequence_survives_kill_9() {
    let mut server = TestServer::start("serial-owned-by").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE t (id serial, v text);
         CREATE TABLE u (id serial);
         CREATE TABLE w (x int);
         INSERT INTO t (v) VALUES ('a'), ('b');
         ALTER SEQUENCE t_id_seq OWNED BY NONE;
         ALTER SEQUENCE u_id_seq OWNED BY w.x;
         DROP TABLE t;
         DROP TABLE u;",
    )
    .await
    .expect("setup");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    // Values are never handed out twice; a crash may skip some (PostgreSQL's write-ahead of 32).
    assert_eq!(
        text_rows(
            &c,
            "SELECT nextval('t_id_seq') BETWEEN 3 AND 35, nextval('u_id_seq')"
        )
        .await,
        expect_rows(&[&["t", "1"]])
    );
    c.batch_execute("DROP TABLE w").await.expect("drop w");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(
            &c,
            "SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY 1"
        )
        .await,
        expect_rows(&[&["t_id_seq"]])
    );
}

/// `DROP INDEX ... CASCADE` of a unique index that foreign keys reference (one declared in a
/// `CREATE TABLE`, one added by `ALTER TABLE`) drops them, and they stay dropped after `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_index_cascade_survives_kill_9() {
    let mut server = TestServer::start("drop-index-cascade").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE p (a int PRIMARY KEY, b int);
         CREATE UNIQUE INDEX ui ON p (b);
         CREATE TABLE c (x int REFERENCES p (b));
         CREATE TABLE c2 (y int);
         ALTER TABLE c2 ADD CONSTRAINT c2_y_fkey FOREIGN KEY (y) REFERENCES p (b);
         DROP INDEX ui CASCADE;",
    )
    .await
    .expect("setup");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    c.batch_execute("INSERT INTO c VALUES (99); INSERT INTO c2 VALUES (99); INSERT INTO p VALUES (1, 5), (2, 5)")
        .await
        .expect("no foreign key or unique index is left");
    assert_eq!(
        text_rows(&c, "SELECT conname FROM pg_constraint ORDER BY 1").await,
        expect_rows(&[&["p_pkey"]])
    );
}

// -------------------------------------------------------------------------------------------
// 7. The README's demo.

/// The statements of the first ```sql block of README.md (comments removed), in order.
fn readme_demo_statements() -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```sql\n")
        .expect("README.md has a ```sql block")
        + "```sql\n".len();
    let len = readme[start..]
        .find("```")
        .expect("the ```sql block is closed");
    let without_comments: String = readme[start..start + len]
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Runs the README's demo as written (simple protocol, like `psql`; the final
/// `COPY (SUBSCRIBE ...)` through COPY OUT), then checks that `winning_bids` keeps growing and
/// that a lookup on its index key returns at most one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auction_demo_from_readme() {
    let server = TestServer::start("readme").await;
    let c = server.connect().await;
    let statements = readme_demo_statements();
    assert!(
        statements.iter().any(|s| s.contains("winning_bids")),
        "the README demo no longer builds winning_bids: {statements:?}"
    );
    let mut subscribe_conns = Vec::new();
    for sql in &statements {
        let upper = sql.to_uppercase();
        if upper.starts_with("COPY (SUBSCRIBE") {
            let conn = server.connect().await;
            let mut sub = SubscribeLines::start(&conn, sql, false).await;
            let lines = sub
                .read_n(3, WAIT, &format!("three lines of `{sql}`"))
                .await;
            for pair in lines.windows(2) {
                assert!(
                    pair[0].ts <= pair[1].ts,
                    "timestamps went backwards: {lines:?}"
                );
            }
            for line in &lines {
                assert!(matches!(line.diff, Some(1) | Some(-1)), "{line:?}");
                assert_eq!(line.values.len(), 3, "auction_id, top, bids: {line:?}");
            }
            subscribe_conns.push((conn, sub));
            continue;
        }
        let result = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("README statement `{sql}` failed: {e:?}"));
        let text: Vec<String> = result
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL"))
                        .collect::<Vec<_>>()
                        .join(" | "),
                ),
                _ => None,
            })
            .collect();
        if upper.starts_with("SHOW SOURCES") {
            assert!(
                text.iter().any(|r| r.contains("auction")),
                "SHOW SOURCES: {text:?}"
            );
        }
        if upper.starts_with("EXPLAIN") {
            let plan = text.join("\n");
            assert!(
                plan.contains("index lookup"),
                "`{sql}` should use the index:\n{plan}"
            );
        }
        if upper.starts_with("SELECT") {
            assert!(
                text.len() <= 1,
                "`{sql}` returned more than one row: {text:?}"
            );
        }
    }
    drop(subscribe_conns);

    assert_eq!(
        text_rows(&c, "SELECT user_id, note FROM watchlist").await,
        expect_rows(&[&["1", "big spender"]])
    );
    let count_sql = "SELECT count(*), max(auction_id) FROM winning_bids";
    let parse = |rows: Rows| -> Result<(i64, i64), String> {
        let row = rows.first().ok_or("no row")?;
        let n = |i: usize| {
            row[i]
                .as_deref()
                .unwrap_or("0")
                .parse::<i64>()
                .map_err(|e| e.to_string())
        };
        Ok((n(0)?, n(1)?))
    };
    let (first_count, _) = poll_until("winning_bids to have rows", WAIT, || {
        let c = &*c;
        async move {
            let (n, max) = parse(support::try_text_rows(c, count_sql).await?)?;
            if n > 0 {
                Ok((n, max))
            } else {
                Err(format!("{n} rows"))
            }
        }
    })
    .await;
    let (grown, max_id) = poll_until("winning_bids to grow", WAIT, || {
        let c = &*c;
        async move {
            let (n, max) = parse(support::try_text_rows(c, count_sql).await?)?;
            if n >= first_count + 3 {
                Ok((n, max))
            } else {
                Err(format!("{n} rows (first {first_count})"))
            }
        }
    })
    .await;
    assert!(grown > first_count);

    let lookup = c
        .prepare("SELECT auction_id, top, bids FROM winning_bids WHERE auction_id = $1")
        .await
        .expect("preparing the lookup");
    let mut found = 0;
    for id in 1..=max_id + 2 {
        let rows = c.query(&lookup, &[&id]).await.expect("index lookup");
        assert!(
            rows.len() <= 1,
            "auction_id = {id}: {} rows from a key lookup",
            rows.len()
        );
        if let Some(row) = rows.first() {
            found += 1;
            assert_eq!(row.get::<_, i64>(0), id);
            assert!(
                row.get::<_, i64>(2) >= 1,
                "auction {id} has a row but no bids"
            );
        }
        let text = text_rows(
            &c,
            &format!("SELECT * FROM winning_bids WHERE auction_id = {id}"),
        )
        .await;
        assert!(
            text.len() <= 1,
            "auction_id = {id} (simple protocol): {text:?}"
        );
    }
    assert!(
        found > 0,
        "no auction id in 1..={max_id} was found through the index"
    );
}

/// The auction generator's times follow the wall clock, as Materialize's do: an auction ends
/// 10 s after it appears and takes bids only until then, so Materialize's demo view of won
/// auctions (`mz_now() >= end_time`) fills in as auctions end. After `kill -9` the rows produced
/// before come back with the same times, and new ones carry the new wall-clock time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auction_times_follow_the_wall_clock_across_restarts() {
    let mut server = TestServer::start("auction-clock").await;
    let c = server.connect().await;
    let created = epoch_secs(&c, "SELECT extract(epoch FROM now())").await;
    for sql in [
        "CREATE SOURCE a FROM LOAD GENERATOR AUCTION (TICK INTERVAL '50ms') FOR ALL TABLES",
        // Materialize's quickstart view: the winning bid of each auction that has ended.
        "CREATE MATERIALIZED VIEW won AS \
         SELECT DISTINCT ON (auctions.id) bids.*, auctions.item, auctions.seller \
         FROM auctions, bids \
         WHERE auctions.id = bids.auction_id AND bids.bid_time < auctions.end_time \
           AND mz_now() >= auctions.end_time \
         ORDER BY auctions.id, bids.bid_time DESC, bids.amount, bids.buyer",
    ] {
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("`{sql}`: {e:?}"));
    }
    poll_until("60 auctions", WAIT, || {
        let c = &*c;
        async move {
            let n = support::try_text_rows(c, "SELECT count(*) FROM auctions").await?;
            match n[0][0].as_deref().map(str::parse::<i64>) {
                Some(Ok(n)) if n >= 60 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    // Auctions start at the source's creation, not at a fixed date.
    let first_start = epoch_secs(
        &c,
        "SELECT extract(epoch FROM min(end_time) - interval '10 seconds') FROM auctions",
    )
    .await;
    let now = epoch_secs(&c, "SELECT extract(epoch FROM now())").await;
    assert!(
        (created - 1.0..=now).contains(&first_start),
        "the first auction started at {first_start}, the source was created at {created}, now is {now}"
    );
    // Auction n starts one tick interval after auction n - 1.
    assert_eq!(
        text_rows(
            &c,
            "SELECT count(*) FROM auctions a JOIN auctions b ON b.id = a.id + 1 \
             WHERE b.end_time - a.end_time <> interval '50 milliseconds'"
        )
        .await,
        expect_rows(&[&["0"]])
    );
    // Every bid is placed while its auction is open.
    let late_bids = "SELECT count(*) FROM bids b JOIN auctions a ON a.id = b.auction_id \
                     WHERE b.bid_time >= a.end_time OR b.bid_time < a.end_time - interval '10 seconds'";
    assert_eq!(text_rows(&c, late_bids).await, expect_rows(&[&["0"]]));
    // Won auctions appear as they end, and only once they have.
    poll_until("an auction to be won", WAIT, || {
        let c = &*c;
        async move {
            let n = support::try_text_rows(c, "SELECT count(*) FROM won").await?;
            match n[0][0].as_deref() {
                Some("0") | None => Err("none yet".to_string()),
                Some(_) => Ok(()),
            }
        }
    })
    .await;
    assert_eq!(
        text_rows(
            &c,
            "SELECT count(*) FROM won w JOIN auctions a ON a.id = w.auction_id \
             WHERE a.end_time > now()"
        )
        .await,
        expect_rows(&[&["0"]]),
        "an auction that has not ended yet is in the won view"
    );

    let before_sql = "SELECT id, seller, item, end_time FROM auctions WHERE id <= 40 ORDER BY id";
    let bids_sql =
        "SELECT id, buyer, auction_id, amount, bid_time FROM bids WHERE id <= 120 ORDER BY id";
    let auctions_before = text_rows(&c, before_sql).await;
    let bids_before = text_rows(&c, bids_sql).await;
    assert_eq!(auctions_before.len(), 40);
    assert_eq!(bids_before.len(), 120);
    drop(c);
    server.kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart().await;
    let c = server.connect().await;
    let restarted = epoch_secs(&c, "SELECT extract(epoch FROM now())").await;
    assert_eq!(
        text_rows(&c, before_sql).await,
        auctions_before,
        "auctions after the restart"
    );
    assert_eq!(
        text_rows(&c, bids_sql).await,
        bids_before,
        "bids after the restart"
    );
    // New auctions start after the restart, at the wall clock, not where the run before it
    // would have put them.
    let max_before = epoch_secs(&c, "SELECT max(id) FROM auctions").await;
    poll_until("new auctions after the restart", WAIT, || {
        let c = &*c;
        async move {
            let n = support::try_text_rows(c, "SELECT max(id) FROM auctions").await?;
            match n[0][0].as_deref().map(str::parse::<f64>) {
                Some(Ok(n)) if n >= max_before + 5.0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let newest_start = epoch_secs(
        &c,
        "SELECT extract(epoch FROM max(end_time) - interval '10 seconds') FROM auctions",
    )
    .await;
    assert!(
        newest_start >= restarted - 1.0,
        "the newest auction started at {newest_start}, before the restart at {restarted}"
    );
    assert_eq!(text_rows(&c, late_bids).await, expect_rows(&[&["0"]]));
}

/// The one number `sql` returns.
async fn epoch_secs(c: &tokio_postgres::Client, sql: &str) -> f64 {
    let rows = text_rows(c, sql).await;
    rows[0][0]
        .as_deref()
        .unwrap_or_else(|| panic!("`{sql}` returned NULL"))
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
}

// -------------------------------------------------------------------------------------------

mod support;

/// `current_user`, `session_user`, `user` and `current_role` are the start-up `user` of each
/// connection, in the simple and the extended protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_user_is_the_startup_user() {
    let server = TestServer::start("session-user").await;
    for user in ["alice", "Bob Smith"] {
        let c = server.connect_as(user).await;
        let sql = "SELECT current_user, session_user, user, current_role";
        assert_eq!(
            text_rows(&c, sql).await,
            expect_rows(&[&[user, user, user, user]]),
            "simple protocol"
        );
        let row = c.query_one(sql, &[]).await.expect("extended protocol");
        let names: Vec<String> = (0..4).map(|i| row.get(i)).collect();
        assert_eq!(names, vec![user; 4], "extended protocol");
        assert_eq!(
            row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
            ["current_user", "session_user", "user", "current_role"]
        );
    }
}

/// Output columns are named as PostgreSQL 15 names them: a cast of a column is named after the
/// column, a cast of a value with no name of its own after the type (the outer one for nested
/// casts), in the simple and the extended protocol and for a view's columns.
/// Asserts the column names `sql`'s result has, over the extended and the simple protocol.
async fn assert_column_names(c: &tokio_postgres::Client, sql: &str, want: &[&str]) {
    let row = c.query_one(sql, &[]).await.expect("extended protocol");
    assert_eq!(
        row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
        want
    );
    let messages = c.simple_query(sql).await.expect("simple protocol");
    let Some(SimpleQueryMessage::Row(row)) = messages
        .iter()
        .find(|m| matches!(m, SimpleQueryMessage::Row(_)))
    else {
        panic!("no row");
    };
    assert_eq!(
        row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
        want
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cast_columns_are_named_like_postgres() {
    let server = TestServer::start("cast-names").await;
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (a int, b text); INSERT INTO t VALUES (1, '2')")
        .await
        .unwrap();
    let sql = "SELECT a::text, CAST(a AS bigint), '1'::int, '1'::numeric, (a + 1)::text, \
               '1'::int4::text, a::int::text, (-a)::int, -a::int, '{1}'::int[], \
               1::double precision, 'x'::varchar(3), DATE '2024-01-01', 1, coalesce(a, 1)::text \
               FROM t";
    let want = [
        "a", "a", "int4", "numeric", "text", "text", "a", "int4", "?column?", "int4", "float8",
        "varchar", "date", "?column?", "coalesce",
    ];
    assert_column_names(&c, sql, &want).await;
    // Two columns of one name, and the names of a view.
    c.batch_execute("CREATE VIEW v AS SELECT '1'::int, a::text FROM t")
        .await
        .unwrap();
    let row = c.query_one("SELECT '1'::int, '2'::int", &[]).await.unwrap();
    assert_eq!(
        row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
        ["int4", "int4"]
    );
    // Functions Freshet rewrites before planning keep their names.
    let row = c
        .query_one(
            "SELECT localtimestamp, localtime, transaction_timestamp()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
        ["localtimestamp", "localtime", "transaction_timestamp"]
    );
    let row = c.query_one("SELECT * FROM v", &[]).await.unwrap();
    assert_eq!(
        row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
        ["int4", "a"]
    );
}

/// An unaliased `CASE` is named `case`, also where no cast is beside it in the select list, in
/// the simple and the extended protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_columns_are_named_case() {
    let server = TestServer::start("case-names").await;
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let sql = "SELECT CASE WHEN a > 0 THEN 1 END, 2, CASE a WHEN 1 THEN 'x' END FROM t";
    let want = ["case", "?column?", "case"];
    assert_column_names(&c, sql, &want).await;
}

// -------------------------------------------------------------------------------------------
// numeric NaN over the wire.

/// `numeric_send('NaN')` in PostgreSQL 15: no digits, weight 0, sign word `0xC000`, scale 0.
const NUMERIC_NAN_BYTES: [u8; 8] = [0, 0, 0, 0, 0xC0, 0, 0, 0];
/// `numeric_send(1.5)`: two base-10000 digits (1, 5000), scale 1.
const NUMERIC_1_5_BYTES: [u8; 12] = [0, 2, 0, 0, 0, 0, 0, 1, 0, 1, 0x13, 0x88];

/// numeric's NaN in binary results (a table, an ORDER BY, a materialized view's aggregates) and
/// as a binary parameter, byte for byte as PostgreSQL sends and reads it; a binary Infinity
/// parameter is refused with 0A000; the text protocol prints `NaN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_nan_over_the_wire() {
    let server = TestServer::start("numeric-nan").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE nan_t (id int, n numeric);
         CREATE MATERIALIZED VIEW nan_mv AS SELECT max(n) AS m, sum(n) AS s, min(n) AS l FROM nan_t;
         INSERT INTO nan_t VALUES (1, 'NaN'), (2, 1.5);",
    )
    .await
    .expect("setting up");
    let nan = RawNumeric(NUMERIC_NAN_BYTES.to_vec());
    let one_and_a_half = RawNumeric(NUMERIC_1_5_BYTES.to_vec());

    // Binary results, NaN sorting last.
    let rows = c
        .query("SELECT id, n FROM nan_t ORDER BY n", &[])
        .await
        .expect("extended protocol");
    let got: Vec<(i32, RawNumeric)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [(2, one_and_a_half.clone()), (1, nan.clone())]);
    // Reads of a view wait for its inputs to be complete at the read's timestamp.
    let row = c
        .query_one("SELECT m, s, l FROM nan_mv", &[])
        .await
        .expect("reading the view");
    let got: (RawNumeric, RawNumeric, RawNumeric) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        got,
        (nan.clone(), nan.clone(), one_and_a_half),
        "max, sum and min of the view"
    );

    // Binary parameters.
    let row = c
        .query_one(
            "SELECT $1::numeric::text, $1::numeric = 'NaN'::numeric",
            &[&nan],
        )
        .await
        .expect("NaN parameter");
    let (text, eq): (String, bool) = (row.get(0), row.get(1));
    assert_eq!((text.as_str(), eq), ("NaN", true));
    c.execute("INSERT INTO nan_t VALUES (3, $1)", &[&nan])
        .await
        .expect("inserting a NaN parameter");
    let row = c
        .query_one("SELECT count(*) FROM nan_t WHERE n = $1", &[&nan])
        .await
        .expect("NaN parameter in a filter");
    assert_eq!(row.get::<_, i64>(0), 2);
    let infinity = RawNumeric(vec![0, 0, 0, 0, 0xD0, 0, 0, 0]);
    let e = c
        .query_one("SELECT $1::numeric::text", &[&infinity])
        .await
        .expect_err("an Infinity parameter");
    assert_eq!(sqlstate(&e).as_deref(), Some("0A000"), "{e}");

    // Text results.
    assert_eq!(
        text_rows(&c, "SELECT n, n::float8 FROM nan_t WHERE id = 3").await,
        expect_rows(&[&["NaN", "NaN"]])
    );
}

// -------------------------------------------------------------------------------------------
// 8. Prepared statements keep their plan.

/// The values of a one-column `int` result.
fn ints(rows: &[tokio_postgres::Row]) -> Vec<Option<i32>> {
    rows.iter().map(|r| r.get::<_, Option<i32>>(0)).collect()
}

/// A statement prepared once and executed many times binds each execution's parameters into the
/// plan made when it was prepared (`coord::prepared`): every value gets its own answer, NULL
/// included. After DDL that changes what it reads (or a new `search_path`) it is planned again,
/// as in PostgreSQL: it answers from the new objects where its columns are the same, and fails
/// with `cached plan must not change result type` (0A000) where they changed, never with rows
/// its RowDescription does not describe. `now()` is read at each execution, and the
/// transaction rules still apply.
/// `generate_series` with parameters: each gets the type of the form
/// PostgreSQL chooses (`integer`, `numeric`), and each execution its own
/// values, although the arguments sit in the table function's source,
/// where neither DataFusion's parameter types nor a kept plan's binding
/// reach (the results are PostgreSQL's for the same calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_generate_series_parameters() {
    let server = TestServer::start("prepared_series").await;
    let c = server.connect().await;
    let series = c
        .prepare("SELECT g FROM generate_series(1, $1) AS g ORDER BY g")
        .await
        .expect("prepare the integer series");
    assert_eq!(series.params(), &[Type::INT4]);
    for n in [3i32, 1, 0] {
        let rows = c.query(&series, &[&n]).await.expect("integer series");
        let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(got, (1..=n).collect::<Vec<_>>(), "n = {n}");
    }
    let numeric = c
        .prepare("SELECT generate_series($1, 2, 0.5) ORDER BY 1")
        .await
        .expect("prepare the numeric series");
    assert_eq!(numeric.params(), &[Type::NUMERIC]);
    let start: Decimal = "1.0".parse().expect("a decimal");
    let rows = c.query(&numeric, &[&start]).await.expect("numeric series");
    let got: Vec<String> = rows
        .iter()
        .map(|r| r.get::<_, Decimal>(0).to_string())
        .collect();
    assert_eq!(got, ["1.0", "1.5", "2.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_replan_after_ddl() {
    let server = TestServer::start("prepared").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE t (k int NOT NULL, v int);
         INSERT INTO t SELECT x, x * 10 FROM generate_series(1, 100) AS x;
         CREATE INDEX t_k ON t (k);",
    )
    .await
    .expect("setting up");
    let point = c
        .prepare("SELECT v FROM t WHERE k = $1")
        .await
        .expect("prepare the point lookup");
    for k in [1i32, 50, 100, 7, 1, 101, -3] {
        let expected = if (1..=100).contains(&k) {
            vec![Some(k * 10)]
        } else {
            vec![]
        };
        let rows = c.query(&point, &[&k]).await.expect("point lookup");
        assert_eq!(ints(&rows), expected, "k = {k}");
    }
    let rows = c.query(&point, &[&None::<i32>]).await.expect("a NULL key");
    assert_eq!(ints(&rows), vec![], "k = NULL");
    let range = c
        .prepare("SELECT k FROM t WHERE k > $1 AND k <= $2 ORDER BY k DESC LIMIT 3")
        .await
        .expect("prepare the range");
    for (lo, hi, limit, expected) in [
        (5i32, 8i32, 3, vec![8, 7, 6]),
        (90, 100, 3, vec![100, 99, 98]),
        (8, 5, 3, vec![]),
    ] {
        let rows = c.query(&range, &[&lo, &hi]).await.expect("range");
        assert_eq!(
            ints(&rows),
            expected.into_iter().map(Some).collect::<Vec<_>>(),
            "{lo} < k <= {hi} limit {limit}"
        );
    }

    // `now()` is the moment of each execution, not of the Parse.
    let clock = c
        .prepare("SELECT CAST(now() AS text) FROM t WHERE k = $1")
        .await
        .expect("prepare now()");
    let first: String = c.query_one(&clock, &[&1i32]).await.expect("now()").get(0);
    poll_until("now() of a later execution", WAIT, || async {
        let later: String = c
            .query_one(&clock, &[&1i32])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if later != first {
            Ok(())
        } else {
            Err(format!("still {later}"))
        }
    })
    .await;

    // In a failed transaction, as any query; in one that has written, it
    // reads the transaction's writes.
    c.batch_execute("BEGIN").await.expect("BEGIN");
    assert!(c.batch_execute("SELECT 1 / 0").await.is_err());
    let e = c
        .query(&point, &[&1i32])
        .await
        .expect_err("in a failed transaction");
    assert_eq!(sqlstate(&e).as_deref(), Some("25P02"), "{e}");
    c.batch_execute("ROLLBACK").await.expect("ROLLBACK");
    c.batch_execute("BEGIN; INSERT INTO t VALUES (1000, 0)")
        .await
        .expect("BEGIN and INSERT");
    assert_eq!(
        ints(&c.query(&point, &[&1000i32]).await.expect("after a write")),
        vec![Some(0)]
    );
    c.batch_execute("ROLLBACK").await.expect("ROLLBACK");
    assert_eq!(
        ints(&c.query(&point, &[&1000i32]).await.expect("after ROLLBACK")),
        Vec::<Option<i32>>::new()
    );
    assert_eq!(
        ints(&c.query(&point, &[&2i32]).await.expect("after ROLLBACK")),
        vec![Some(20)]
    );

    // `SELECT *` names every column: any change of them changes its result.
    let star = c
        .prepare("SELECT * FROM t WHERE k = $1")
        .await
        .expect("prepare SELECT *");
    let changed = |e: tokio_postgres::Error, what: &str| {
        assert_eq!(sqlstate(&e).as_deref(), Some("0A000"), "{what}: {e}");
        assert_eq!(
            support::message(&e),
            "cached plan must not change result type",
            "{what}"
        );
    };

    // The same columns again: the new table's rows.
    c.batch_execute(
        "DROP TABLE t; CREATE TABLE t (k int NOT NULL, v int); INSERT INTO t VALUES (1, 11);",
    )
    .await
    .expect("recreate t");
    assert_eq!(
        ints(&c.query(&point, &[&1i32]).await.expect("same columns")),
        vec![Some(11)]
    );
    assert_eq!(
        ints(&c.query(&point, &[&2i32]).await.expect("same columns")),
        vec![]
    );
    let row = c.query_one(&star, &[&1i32]).await.expect("SELECT * again");
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (1, 11));

    // A key of another type: `point`'s result is the same type, so it still answers (its
    // parameter stays an `int4`, as PostgreSQL keeps it); `star`'s first column changed.
    c.batch_execute(
        "DROP TABLE t; CREATE TABLE t (k bigint NOT NULL, v int);
         INSERT INTO t VALUES (5000000000, 1), (1, 2);",
    )
    .await
    .expect("recreate t with a bigint key");
    for _ in 0..2 {
        assert_eq!(
            ints(&c.query(&point, &[&1i32]).await.expect("bigint key")),
            vec![Some(2)]
        );
        changed(
            c.query(&star, &[&1i32]).await.expect_err("bigint key"),
            "bigint key",
        );
    }

    // Another type of `v`: both changed, every time, and the connection goes on.
    c.batch_execute(
        "DROP TABLE t; CREATE TABLE t (k int NOT NULL, v text); INSERT INTO t VALUES (1, 'x');",
    )
    .await
    .expect("recreate t with a text v");
    for _ in 0..2 {
        changed(
            c.query(&point, &[&1i32]).await.expect_err("text v"),
            "text v",
        );
        changed(
            c.query(&star, &[&1i32]).await.expect_err("text v"),
            "text v",
        );
        assert_eq!(text_rows(&c, "SELECT 1").await, expect_rows(&[&["1"]]));
    }

    // `v` renamed: `point` no longer plans, `star`'s column has another name.
    c.batch_execute(
        "DROP TABLE t; CREATE TABLE t (k int NOT NULL, w int); INSERT INTO t VALUES (1, 5);",
    )
    .await
    .expect("recreate t with w");
    let e = c.query(&point, &[&1i32]).await.expect_err("no column v");
    assert_eq!(sqlstate(&e).as_deref(), Some("42703"), "{e}");
    changed(c.query(&star, &[&1i32]).await.expect_err("w"), "w");

    // A view of the same name and columns.
    c.batch_execute(
        "DROP TABLE t; CREATE TABLE u (k int, v int); INSERT INTO u VALUES (1, 99), (2, 98);
         CREATE VIEW t AS SELECT k, v FROM u;",
    )
    .await
    .expect("a view named t");
    assert_eq!(
        ints(&c.query(&point, &[&1i32]).await.expect("the view")),
        vec![Some(99)]
    );
    assert_eq!(
        ints(&c.query(&point, &[&2i32]).await.expect("the view")),
        vec![Some(98)]
    );
    let row = c
        .query_one(&star, &[&2i32])
        .await
        .expect("SELECT * of the view");
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (2, 98));

    // Another search path resolves `t` elsewhere.
    c.batch_execute(
        "CREATE SCHEMA other; CREATE TABLE other.t (k int, v int); INSERT INTO other.t VALUES (1, 7);
         SET search_path = other;",
    )
    .await
    .expect("another schema");
    assert_eq!(
        ints(&c.query(&point, &[&1i32]).await.expect("other.t")),
        vec![Some(7)]
    );
    c.batch_execute("SET search_path = public")
        .await
        .expect("SET");
    assert_eq!(
        ints(&c.query(&point, &[&1i32]).await.expect("public.t")),
        vec![Some(99)]
    );

    // Gone: the planning error.
    c.batch_execute("DROP VIEW t").await.expect("DROP VIEW");
    let e = c.query(&point, &[&1i32]).await.expect_err("no t");
    assert_eq!(sqlstate(&e).as_deref(), Some("42P01"), "{e}");
}

/// PRIMARY KEY and UNIQUE constraints survive `kill -9`: after the restart they still refuse
/// the keys written before it (and written in a transaction committed before it), free keys
/// deleted before it, serve point reads through their indexes, and an item created after the
/// restart gets an id of its own (the constraints' indexes took ids the table's record stands
/// for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_keys_survive_kill_9() {
    let mut server = TestServer::start("unique-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE acct (id bigint PRIMARY KEY, email text UNIQUE, n int); \
         INSERT INTO acct VALUES (1, 'a', 0), (2, 'b', 0), (3, 'c', 0); \
         DELETE FROM acct WHERE id = 3; \
         BEGIN; INSERT INTO acct VALUES (4, 'd', 0); COMMIT;",
    )
    .await
    .expect("setup");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    for (sql, constraint) in [
        ("INSERT INTO acct VALUES (1, 'x', 0)", "acct_pkey"),
        ("INSERT INTO acct VALUES (4, 'x', 0)", "acct_pkey"),
        ("INSERT INTO acct VALUES (5, 'b', 0)", "acct_email_key"),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e:?}"));
        assert_eq!(db.code().code(), "23505", "{sql}: {db:?}");
        assert!(db.message().contains(constraint), "{sql}: {db:?}");
    }
    c.batch_execute("INSERT INTO acct VALUES (3, 'c', 1); CREATE TABLE later (x int); INSERT INTO later VALUES (1)")
        .await
        .expect("a key deleted before the restart is free; a new table");
    assert_eq!(
        text_rows(&c, "SELECT id::text, email FROM acct ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("a".into())],
            vec![Some("2".into()), Some("b".into())],
            vec![Some("3".into()), Some("c".into())],
            vec![Some("4".into()), Some("d".into())],
        ]
    );
    assert_eq!(
        text_rows(&c, "SELECT x::text FROM later").await,
        vec![vec![Some("1".into())]]
    );
    let explain = explain_text(&c, "SELECT email FROM acct WHERE id = 2").await;
    assert!(
        explain.contains("index lookup") && explain.contains("acct_pkey"),
        "a point read should use the primary key's index; EXPLAIN said:\n{explain}"
    );
}

/// Sequences after `kill -9`: no value is handed out twice (the sequence
/// resumes past what it wrote ahead, as PostgreSQL's does after a crash),
/// `setval` is kept exactly, and a `serial` table's sequence and default
/// come back with the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_survive_kill_9() {
    let mut server = TestServer::start("sequence-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE SEQUENCE s; \
         CREATE SEQUENCE exact START 7; \
         CREATE TABLE t (id serial PRIMARY KEY, name text); \
         INSERT INTO t (name) SELECT 'n' || g FROM generate_series(1, 40) g; \
         SELECT nextval('s'), nextval('s'), nextval('s'); \
         SELECT setval('exact', 500, false);",
    )
    .await
    .expect("setup");
    let before: i64 = c
        .query_one("SELECT nextval('s')", &[])
        .await
        .expect("nextval")
        .get(0);
    assert_eq!(before, 4);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    let after: i64 = c
        .query_one("SELECT nextval('s')", &[])
        .await
        .expect("nextval after the restart")
        .get(0);
    assert!(
        after > before,
        "nextval gave {after} again after a restart (had given {before})"
    );
    let exact: i64 = c
        .query_one("SELECT nextval('exact')", &[])
        .await
        .expect("nextval of a set sequence")
        .get(0);
    assert_eq!(exact, 500, "setval(.., false) is written at once");
    // The table's sequence and default are back; new ids are past the old.
    c.batch_execute("INSERT INTO t (name) VALUES ('after')")
        .await
        .expect("insert after the restart");
    let rows = text_rows(
        &c,
        "SELECT count(*)::text, count(DISTINCT id)::text, (max(id) > 40)::text FROM t",
    )
    .await;
    assert_eq!(
        rows,
        vec![vec![
            Some("41".into()),
            Some("41".into()),
            Some("true".into())
        ]]
    );
    assert_eq!(
        text_rows(&c, "SELECT pg_get_serial_sequence('t', 'id')").await,
        vec![vec![Some("public.t_id_seq".into())]]
    );
    // Dropping the table drops its sequence, also across a restart.
    c.batch_execute("DROP TABLE t").await.expect("drop");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    let e = c
        .batch_execute("SELECT nextval('t_id_seq')")
        .await
        .expect_err("the sequence went with its table");
    assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("42P01"));
    c.batch_execute("CREATE TABLE t (id serial, name text); INSERT INTO t (name) VALUES ('new')")
        .await
        .expect("a new table of the same name");
    assert_eq!(
        text_rows(&c, "SELECT id::text FROM t").await,
        vec![vec![Some("1".into())]]
    );
}

/// `ALTER SEQUENCE` survives `kill -9`: the definition (the last one, of several), the value
/// `RESTART` set, `OWNED BY`, and the altered sequence of a `serial` column are all back; so are
/// defaults changed by `ALTER TABLE ... SET | DROP DEFAULT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_sequences_survive_kill_9() {
    let mut server = TestServer::start("alter-sequence-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE SEQUENCE s; \
         SELECT nextval('s'), nextval('s'); \
         ALTER SEQUENCE s INCREMENT BY 10; \
         ALTER SEQUENCE s AS integer MAXVALUE 1000 RESTART WITH 500; \
         CREATE TABLE t (id serial, o int, name text); \
         ALTER SEQUENCE t_id_seq RESTART 100 INCREMENT 2; \
         INSERT INTO t (name) VALUES ('a'); \
         CREATE SEQUENCE owned; \
         ALTER SEQUENCE owned OWNED BY t.o; \
         CREATE SEQUENCE free OWNED BY t.o; \
         ALTER SEQUENCE free OWNED BY NONE; \
         CREATE SEQUENCE q START 5; \
         CREATE TABLE d (a bigint, b int DEFAULT 1, c text); \
         ALTER TABLE d ALTER COLUMN b SET DEFAULT 2, ALTER COLUMN c SET DEFAULT 'x'; \
         ALTER TABLE d ALTER COLUMN c DROP DEFAULT, ALTER COLUMN a SET DEFAULT nextval('q');",
    )
    .await
    .expect("setup");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(
            &c,
            "SELECT seqtypid::regtype::text, seqincrement::text, seqmax::text \
             FROM pg_sequence WHERE seqrelid = 's'::regclass"
        )
        .await,
        vec![vec![
            Some("integer".into()),
            Some("10".into()),
            Some("1000".into())
        ]]
    );
    assert_eq!(
        text_rows(&c, "SELECT nextval('s')::text, nextval('s')::text").await,
        vec![vec![Some("500".into()), Some("510".into())]]
    );
    c.batch_execute("INSERT INTO t (name) VALUES ('b')")
        .await
        .expect("insert after the restart");
    // The defaults as altered.
    c.batch_execute("INSERT INTO d DEFAULT VALUES")
        .await
        .expect("insert defaults after the restart");
    assert_eq!(
        text_rows(&c, "SELECT a::text, b::text, c FROM d").await,
        vec![vec![Some("5".into()), Some("2".into()), None]]
    );
    // Past the values written ahead before the crash, by the altered step.
    assert_eq!(
        text_rows(
            &c,
            "SELECT min(id)::text, (max(id) > 100 AND max(id) % 2 = 0)::text FROM t"
        )
        .await,
        vec![vec![Some("100".into()), Some("true".into())]]
    );
    // `owned` goes with the table; `free` does not.
    c.batch_execute("DROP TABLE t").await.expect("drop");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    let e = c
        .batch_execute("SELECT nextval('owned')")
        .await
        .expect_err("the owned sequence went with its table");
    assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("42P01"));
    assert_eq!(
        text_rows(&c, "SELECT nextval('free')::text").await,
        vec![vec![Some("1".into())]]
    );
}

/// Defaults and sequences that depend on each other survive `kill -9`: a `serial` column's
/// default replaced by `ALTER TABLE ... SET DEFAULT`, a `serial` sequence dropped with `CASCADE`
/// (its table's record makes it again at replay) and its name taken by a new sequence, a
/// `CREATE TABLE` default whose sequence was dropped with `CASCADE`, and a default that drew from
/// a sequence dropped after the default was replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_defaults_survive_kill_9() {
    let mut server = TestServer::start("sequence-defaults-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE SEQUENCE q; \
         CREATE TABLE d (a bigint DEFAULT nextval('q'), b int DEFAULT 4); \
         DROP SEQUENCE q CASCADE; \
         CREATE TABLE sr (id serial, v text); \
         ALTER TABLE sr ALTER COLUMN id SET DEFAULT nextval('sr_id_seq') + 100; \
         INSERT INTO sr (v) VALUES ('a'); \
         CREATE TABLE sr2 (id serial, n serial); \
         DROP SEQUENCE sr2_id_seq CASCADE; \
         CREATE SEQUENCE sr2_id_seq START 50; \
         CREATE SEQUENCE p; \
         CREATE TABLE e (a bigint, b int); \
         ALTER TABLE e ALTER COLUMN a SET DEFAULT nextval('p'); \
         ALTER TABLE e ALTER COLUMN a SET DEFAULT 3; \
         DROP SEQUENCE p;",
    )
    .await
    .expect("setup");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    c.batch_execute(
        "INSERT INTO d DEFAULT VALUES; INSERT INTO sr (v) VALUES ('b'); \
         INSERT INTO sr2 (id) VALUES (7); INSERT INTO e (b) VALUES (1)",
    )
    .await
    .expect("inserts after the restart");
    assert_eq!(
        text_rows(&c, "SELECT a::text, b::text FROM d").await,
        vec![vec![None, Some("4".into())]]
    );
    assert_eq!(
        text_rows(&c, "SELECT (id > 101)::text FROM sr WHERE v = 'b'").await,
        vec![vec![Some("true".into())]]
    );
    assert_eq!(
        text_rows(
            &c,
            "SELECT id::text, n::text, nextval('sr2_id_seq')::text FROM sr2"
        )
        .await,
        vec![vec![Some("7".into()), Some("1".into()), Some("50".into())]]
    );
    assert_eq!(
        text_rows(&c, "SELECT a::text, b::text FROM e").await,
        vec![vec![Some("3".into()), Some("1".into())]]
    );
    let e = c
        .batch_execute("INSERT INTO sr2 (n) VALUES (1)")
        .await
        .expect_err("sr2.id has no default");
    assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("23502"));
    // The record of the dropped sequence goes with its table; the new
    // sequence of that name stays.
    c.batch_execute("DROP TABLE sr2; CREATE TABLE later (x serial)")
        .await
        .expect("drop");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SELECT (nextval('sr2_id_seq') > 50)::text").await,
        vec![vec![Some("true".into())]]
    );
    c.batch_execute("INSERT INTO later DEFAULT VALUES")
        .await
        .expect("insert into a table created after the first restart");
}

/// `CREATE UNIQUE INDEX` survives `kill -9`: after the restart the indexes still refuse a key
/// written before the crash (by `INSERT` and by `COPY`), one dropped before the crash stays
/// dropped, and one dropped after a restart stays dropped across the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_indexes_survive_kill_9() {
    let mut server = TestServer::start("unique-index-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE u (id int, email text, a int, b int); \
         INSERT INTO u VALUES (1, 'x', 1, 1), (2, 'y', 1, 2); \
         CREATE UNIQUE INDEX u_email ON u (email); \
         CREATE UNIQUE INDEX u_a_b ON u (a, b); \
         CREATE UNIQUE INDEX u_id ON u (id); \
         DROP INDEX u_a_b; \
         CREATE TABLE later (x int)",
    )
    .await
    .expect("setup");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    let e = c
        .batch_execute("INSERT INTO u VALUES (3, 'x', 5, 5)")
        .await
        .expect_err("u_email is enforced after the restart");
    let db = e.as_db_error().expect("a database error");
    assert_eq!(
        (db.code().code(), db.message()),
        (
            "23505",
            "duplicate key value violates unique constraint \"u_email\""
        )
    );
    let sink = c.copy_in("COPY u FROM STDIN").await.expect("COPY starts");
    futures::pin_mut!(sink);
    futures::SinkExt::send(&mut sink, bytes::Bytes::from_static(b"2\tz\t7\t7\n"))
        .await
        .expect("sending COPY data");
    let e = sink
        .finish()
        .await
        .expect_err("u_id refuses the copied row");
    assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("23505"));
    c.batch_execute("INSERT INTO u VALUES (3, 'z', 1, 1); INSERT INTO later VALUES (1)")
        .await
        .expect("u_a_b was dropped before the crash");
    c.batch_execute("DROP INDEX u_email").await.expect("drop");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    c.batch_execute("INSERT INTO u VALUES (4, 'x', 8, 8)")
        .await
        .expect("u_email was dropped");
    let e = c
        .batch_execute("INSERT INTO u VALUES (4, 'w', 9, 9)")
        .await
        .expect_err("u_id is still enforced");
    assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("23505"));
    assert_eq!(
        text_rows(&c, "SELECT count(*)::text FROM u").await,
        vec![vec![Some("4".into())]]
    );
}

/// `CHECK` constraints survive `kill -9`: after the restart they keep their names and still
/// refuse a row whose condition is false, and an item created after the restart gets an id of
/// its own (the constraints took ids the table's record stands for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_constraints_survive_kill_9() {
    let mut server = TestServer::start("check-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE item (id int PRIMARY KEY, price numeric CHECK (price > 0), \
         lo int, hi int, CHECK (lo < hi), CONSTRAINT small CHECK (hi < 100)); \
         INSERT INTO item VALUES (1, 5, 1, 2);",
    )
    .await
    .expect("setup");
    let before = text_rows(
        &c,
        "SELECT conname, oid::text FROM pg_constraint WHERE contype = 'c' ORDER BY conname",
    )
    .await;
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    for (sql, constraint) in [
        ("INSERT INTO item VALUES (2, -5, 1, 2)", "item_price_check"),
        ("INSERT INTO item VALUES (2, 5, 3, 2)", "item_check"),
        ("UPDATE item SET hi = 100", "small"),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e:?}"));
        assert_eq!(db.code().code(), "23514", "{sql}: {db:?}");
        assert_eq!(
            db.message(),
            format!("new row for relation \"item\" violates check constraint \"{constraint}\""),
            "{sql}"
        );
    }
    let after = text_rows(
        &c,
        "SELECT conname, oid::text FROM pg_constraint WHERE contype = 'c' ORDER BY conname",
    )
    .await;
    assert_eq!(before, after);
    assert_eq!(after.len(), 3);
    c.batch_execute("CREATE TABLE later (x int CHECK (x > 0)); INSERT INTO later VALUES (1)")
        .await
        .expect("a new table after the restart");
    let oids = text_rows(&c, "SELECT oid::text FROM pg_constraint UNION ALL SELECT oid::text FROM pg_class WHERE relname = 'later'").await;
    let mut distinct = oids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(oids.len(), distinct.len(), "OIDs repeat: {oids:?}");
    assert_eq!(
        text_rows(&c, "SELECT id::text, price::text FROM item").await,
        vec![vec![Some("1".into()), Some("5".into())]]
    );
}

/// Constraints `ALTER TABLE` adds and drops, and `SET NOT NULL`, survive `kill -9`: each
/// operation's record replays after the table, keys added before the restart are enforced
/// against the rows written before it, dropped constraints stay dropped, and dropping the
/// table drops its records (the next restart replays without them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_constraints_survive_kill_9() {
    let mut server = TestServer::start("alter-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE acct (id int PRIMARY KEY, email text, n int CHECK (n >= 0), m int); \
         INSERT INTO acct VALUES (1, 'a', 0, 1), (2, 'b', 0, 1); \
         CREATE TABLE other (x int); \
         ALTER TABLE acct ADD UNIQUE (email), ADD CONSTRAINT small CHECK (n < 10); \
         ALTER TABLE acct DROP CONSTRAINT acct_n_check, DROP CONSTRAINT acct_pkey; \
         ALTER TABLE acct ADD CONSTRAINT gone CHECK (m > 0); \
         ALTER TABLE acct DROP CONSTRAINT gone; \
         ALTER TABLE acct ALTER COLUMN m SET NOT NULL; \
         INSERT INTO acct VALUES (3, 'c', 5, 1);",
    )
    .await
    .expect("setup");
    let constraints = "SELECT conname, contype, oid::text FROM pg_constraint ORDER BY conname";
    let before = text_rows(&c, constraints).await;
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(text_rows(&c, constraints).await, before);
    for (sql, code, constraint) in [
        (
            "INSERT INTO acct VALUES (4, 'b', 0, 1)",
            "23505",
            "acct_email_key",
        ),
        ("INSERT INTO acct VALUES (4, 'd', 10, 1)", "23514", "small"),
        (
            "INSERT INTO acct VALUES (4, 'd', 0, NULL)",
            "23502",
            "\"m\"",
        ),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e:?}"));
        assert_eq!(db.code().code(), code, "{sql}: {db:?}");
        assert!(db.message().contains(constraint), "{sql}: {db:?}");
    }
    c.batch_execute("INSERT INTO acct VALUES (1, 'z', -1, 0); CREATE TABLE later (y int UNIQUE)")
        .await
        .expect("the dropped key and checks do not hold; a new table");
    c.batch_execute("DROP TABLE acct").await.expect("drop");
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SELECT conname FROM pg_constraint ORDER BY conname").await,
        vec![vec![Some("later_y_key".into())]]
    );
}

/// `FOREIGN KEY` constraints survive `kill -9`: those of a `CREATE TABLE` and one `ALTER
/// TABLE` added (referencing a table created after the referencing one) keep their names and
/// OIDs and are enforced against the rows written before the restart (a referenced key is
/// counted again); a constraint that `DROP TABLE … CASCADE` dropped with its referenced table
/// stays dropped, also after a table of that name is created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_keys_survive_kill_9() {
    let mut server = TestServer::start("fk-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE p (id int PRIMARY KEY); \
         CREATE TABLE c (id int, pid int REFERENCES p ON DELETE CASCADE, qid int); \
         CREATE TABLE gone (id int PRIMARY KEY); \
         CREATE TABLE g (gid int REFERENCES gone); \
         CREATE TABLE q (id int PRIMARY KEY); \
         ALTER TABLE c ADD CONSTRAINT c_q FOREIGN KEY (qid) REFERENCES q; \
         INSERT INTO p VALUES (1), (2); INSERT INTO q VALUES (7); \
         INSERT INTO c VALUES (1, 1, 7), (2, 2, NULL); \
         DROP TABLE gone CASCADE; CREATE TABLE gone (id int PRIMARY KEY);",
    )
    .await
    .expect("setup");
    let constraints = "SELECT conname, oid::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' ORDER BY conname";
    let before = text_rows(&c, constraints).await;
    assert_eq!(before.len(), 2, "{before:?}");
    for _ in 0..2 {
        server.kill9();
        server.restart().await;
    }
    let c = server.connect().await;
    assert_eq!(text_rows(&c, constraints).await, before);
    for (sql, constraint) in [
        ("INSERT INTO c VALUES (3, 5, NULL)", "c_pid_fkey"),
        ("INSERT INTO c VALUES (3, 1, 8)", "c_q"),
        ("DELETE FROM q", "c_q"),
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e:?}"));
        assert_eq!(db.code().code(), "23503", "{sql}: {db:?}");
        assert!(db.message().contains(constraint), "{sql}: {db:?}");
    }
    c.batch_execute("DELETE FROM p WHERE id = 1; INSERT INTO g VALUES (42)")
        .await
        .expect("the cascade; the dropped constraint does not hold");
    assert_eq!(
        text_rows(&c, "SELECT id::text FROM c").await,
        vec![vec![Some("2".into())]]
    );
}

/// Commits `client`'s transaction and expects it to fail with 40001.
async fn commit_fails_to_serialize(client: &tokio_postgres::Client) {
    let e = client
        .batch_execute("COMMIT")
        .await
        .expect_err("a serialization failure");
    assert_eq!(sqlstate(&e), Some("40001".to_string()), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_update_fails_the_later_commit() {
    let server = TestServer::start("concurrent-update").await;
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL);
         CREATE TABLE audit (note text);
         INSERT INTO acct VALUES (1, 100), (2, 200);",
    )
    .await
    .expect("tables");
    // `a` updates row 1; `b` deletes it and commits first. `a`'s update
    // was computed from the row `b` removed: its COMMIT fails (40001)
    // rather than writing a retraction of a row that is gone.
    a.batch_execute("BEGIN; UPDATE acct SET balance = balance + 1 WHERE id = 1")
        .await
        .expect("a's update");
    b.batch_execute("DELETE FROM acct WHERE id = 1")
        .await
        .expect("b's delete");
    commit_fails_to_serialize(&a).await;
    assert_eq!(
        text_rows(&a, "SELECT id, balance FROM acct ORDER BY id").await,
        expect_rows(&[&["2", "200"]]),
        "nothing of a's transaction was written, and the session is out of it"
    );

    // The same with an update on each side: the later commit fails.
    a.batch_execute("BEGIN; UPDATE acct SET balance = balance - 5 WHERE id = 2")
        .await
        .expect("a's update");
    b.batch_execute("UPDATE acct SET balance = balance * 2 WHERE id = 2")
        .await
        .expect("b's update");
    commit_fails_to_serialize(&a).await;
    assert_eq!(
        text_rows(&a, "SELECT id, balance FROM acct ORDER BY id").await,
        expect_rows(&[&["2", "400"]])
    );

    // No conflict: another table changed meanwhile, or this one only got
    // inserts from the transaction.
    a.batch_execute("BEGIN; UPDATE acct SET balance = balance - 5 WHERE id = 2")
        .await
        .expect("a's update");
    b.batch_execute("INSERT INTO audit VALUES ('unrelated')")
        .await
        .expect("b's insert");
    a.batch_execute("COMMIT").await.expect("a commits");
    a.batch_execute("BEGIN; INSERT INTO acct VALUES (3, 30)")
        .await
        .expect("a's insert");
    b.batch_execute("INSERT INTO acct VALUES (4, 40)")
        .await
        .expect("b's insert");
    a.batch_execute("COMMIT")
        .await
        .expect("inserts do not conflict");
    assert_eq!(
        text_rows(&a, "SELECT id, balance FROM acct ORDER BY id").await,
        expect_rows(&[&["2", "395"], &["3", "30"], &["4", "40"]])
    );
    let total = text_rows(&b, "SELECT sum(balance), count(*) FROM acct").await;
    assert_eq!(total, expect_rows(&[&["465", "3"]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_reads_one_snapshot() {
    let server = TestServer::start("txn-snapshot").await;
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TABLE items (id int, qty int);
         CREATE TABLE other (x int);
         INSERT INTO items VALUES (1, 10), (2, 20);
         INSERT INTO other VALUES (1);
         CREATE MATERIALIZED VIEW totals AS SELECT sum(qty) AS total, count(*) AS n FROM items;
         CREATE INDEX items_id ON items (id);",
    )
    .await
    .expect("setup");
    // Every read of the transaction happens at the snapshot its first read
    // chose: a table read directly, through a materialized view, through
    // an index lookup, and in a query that needs a dataflow (a join).
    a.batch_execute("BEGIN").await.expect("begin");
    let reads = [
        "SELECT count(*)::text, sum(qty)::text FROM items",
        "SELECT total::text, n::text FROM totals",
        "SELECT qty::text, id::text FROM items WHERE id = 2",
        "SELECT count(*)::text, max(i.qty)::text FROM items i JOIN other o ON o.x <= i.id",
    ];
    let mut before = Vec::new();
    for q in reads {
        before.push(text_rows(&a, q).await);
    }
    assert_eq!(before[0], expect_rows(&[&["2", "30"]]));
    // Another session changes every kind of thing read, and commits.
    b.batch_execute(
        "INSERT INTO items VALUES (3, 30);
         UPDATE items SET qty = 25 WHERE id = 2;
         DELETE FROM items WHERE id = 1;
         INSERT INTO other VALUES (0);",
    )
    .await
    .expect("b's writes");
    assert_eq!(
        text_rows(&b, reads[0]).await,
        expect_rows(&[&["2", "55"]]),
        "b sees its commits"
    );
    for (q, rows) in reads.iter().zip(&before) {
        assert_eq!(
            &text_rows(&a, q).await,
            rows,
            "a still reads its snapshot: {q}"
        );
    }
    // A view and an index created after the snapshot hold nothing from
    // before they were created; reads through them are computed as of the
    // snapshot all the same.
    b.batch_execute(
        "CREATE MATERIALIZED VIEW big AS SELECT id, qty FROM items WHERE qty >= 10;
         CREATE INDEX items_qty ON items (qty);",
    )
    .await
    .expect("b's ddl");
    assert_eq!(
        text_rows(&a, "SELECT id, qty FROM big ORDER BY id").await,
        expect_rows(&[&["1", "10"], &["2", "20"]])
    );
    assert_eq!(
        text_rows(&a, "SELECT id FROM items WHERE qty = 10").await,
        expect_rows(&[&["1"]])
    );
    assert_eq!(
        text_rows(&b, "SELECT id, qty FROM big ORDER BY id").await,
        expect_rows(&[&["2", "25"], &["3", "30"]])
    );
    // A prepared statement reads the snapshot too.
    let stmt = a
        .prepare("SELECT count(*)::text FROM items WHERE qty > $1")
        .await
        .expect("prepare");
    let rows = a.query(&stmt, &[&0i32]).await.expect("prepared read");
    assert_eq!(rows[0].get::<_, String>(0), "2");
    // The transaction's own writes are seen on top of the snapshot.
    a.batch_execute("INSERT INTO other VALUES (5)")
        .await
        .expect("a's insert");
    assert_eq!(
        text_rows(&a, "SELECT count(*)::text FROM other").await,
        expect_rows(&[&["2"]]),
        "the snapshot's row and a's own, not b's"
    );
    a.batch_execute("ROLLBACK").await.expect("rollback");
    // After the transaction, reads are at the latest time again.
    for q in &reads[..2] {
        assert_eq!(text_rows(&a, q).await, text_rows(&b, q).await, "{q}");
    }
    assert_eq!(text_rows(&a, reads[1]).await, expect_rows(&[&["55", "2"]]));

    // A read-only transaction always commits, however much changed.
    a.batch_execute("BEGIN; SELECT * FROM items")
        .await
        .expect("read");
    b.batch_execute("INSERT INTO items VALUES (4, 40)")
        .await
        .expect("b");
    a.batch_execute("COMMIT").await.expect("read-only commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_that_read_stale_rows_fails_to_commit() {
    let server = TestServer::start("txn-stale-read").await;
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TABLE doctors (name text, on_call bool);
         CREATE TABLE log (note text);
         CREATE TABLE unrelated (x int);
         INSERT INTO doctors VALUES ('alice', true), ('bob', true);",
    )
    .await
    .expect("setup");
    // Write skew: each transaction checks that another doctor is on call
    // and takes itself off. Under snapshot isolation both would commit and
    // leave nobody on call; serializably, the later commit fails.
    a.batch_execute("BEGIN").await.expect("a begin");
    b.batch_execute("BEGIN").await.expect("b begin");
    for (c, who) in [(&a, "alice"), (&b, "bob")] {
        assert_eq!(
            text_rows(c, "SELECT count(*)::text FROM doctors WHERE on_call").await,
            expect_rows(&[&["2"]])
        );
        c.batch_execute(&format!(
            "UPDATE doctors SET on_call = false WHERE name = '{who}'"
        ))
        .await
        .expect("update");
    }
    a.batch_execute("COMMIT")
        .await
        .expect("the first commit wins");
    commit_fails_to_serialize(&b).await;
    assert_eq!(
        text_rows(&a, "SELECT name FROM doctors WHERE on_call").await,
        expect_rows(&[&["bob"]])
    );

    // A transaction that read a table and writes another fails if the
    // table it read changed after its snapshot (here it only inserts).
    a.batch_execute("BEGIN; INSERT INTO log SELECT name FROM doctors WHERE on_call")
        .await
        .expect("a copies");
    b.batch_execute("UPDATE doctors SET on_call = true")
        .await
        .expect("b");
    commit_fails_to_serialize(&a).await;
    assert_eq!(
        text_rows(&a, "SELECT count(*)::text FROM log").await,
        expect_rows(&[&["0"]])
    );

    // Changes to tables it did not read, or before its first read, are
    // no conflict.
    a.batch_execute("BEGIN").await.expect("begin");
    b.batch_execute("INSERT INTO doctors VALUES ('carol', false)")
        .await
        .expect("before");
    a.batch_execute("INSERT INTO log SELECT name FROM doctors WHERE on_call")
        .await
        .expect("a copies");
    b.batch_execute("INSERT INTO unrelated VALUES (1)")
        .await
        .expect("unrelated");
    a.batch_execute("COMMIT").await.expect("no conflict");
    assert_eq!(
        text_rows(&a, "SELECT count(*)::text FROM log").await,
        expect_rows(&[&["2"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_session_timeout_ends_the_connection() {
    let server = TestServer::start("idle-in-txn").await;
    let other = server.connect().await;
    assert_eq!(
        text_rows(&other, "SHOW idle_in_transaction_session_timeout").await,
        expect_rows(&[&["2min"]]),
        "Materialize's default"
    );
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(server.port())
        .user("freshet")
        .dbname("freshet")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let ended = tokio::spawn(connection);
    client
        .batch_execute(
            "SET idle_in_transaction_session_timeout = '300ms';
             CREATE TABLE t (x int); INSERT INTO t VALUES (1);",
        )
        .await
        .expect("setup");
    // Idle outside a transaction: the timeout does not apply.
    tokio::time::sleep(Duration::from_millis(800)).await;
    client
        .batch_execute("SELECT 1")
        .await
        .expect("still connected");
    // Inside one, pauses shorter than the timeout are fine.
    client
        .batch_execute("BEGIN; SELECT * FROM t")
        .await
        .expect("begin");
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        client.batch_execute("SELECT * FROM t").await.expect("busy");
    }
    // Idle longer than it: the server ends the connection with FATAL 25P03.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client
        .batch_execute("SELECT 1")
        .await
        .expect_err("the connection was ended");
    let end = ended
        .await
        .expect("connection task")
        .expect_err("ended by the server's error");
    let db = end.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "25P03", "{db:?}");
    assert_eq!(db.severity(), "FATAL");
    assert_eq!(
        db.message(),
        "terminating connection due to idle-in-transaction timeout"
    );
    // The server goes on serving, and 0 turns the timeout off.
    other
        .batch_execute("SET idle_in_transaction_session_timeout = 0; BEGIN; SELECT * FROM t")
        .await
        .expect("other");
    tokio::time::sleep(Duration::from_millis(500)).await;
    other.batch_execute("COMMIT").await.expect("not ended");
}

/// Materialize's `EXPLAIN` forms: `[RAW | OPTIMIZED | PHYSICAL] PLAN [WITH (...)] [AS TEXT] FOR`
/// a query, a `CREATE MATERIALIZED VIEW` or an existing view, and `EXPLAIN MATERIALIZED VIEW
/// name`, each one text column named as Materialize names it; `EXPLAIN ANALYZE` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialize_explain_forms() {
    let server = TestServer::start("explain_forms").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE ex (a int, b int);
         CREATE VIEW ex_v AS SELECT a, b FROM ex WHERE a > 1;
         CREATE MATERIALIZED VIEW ex_mv AS SELECT a, count(*) AS n FROM ex GROUP BY a;",
    )
    .await
    .expect("setting up");
    for (sql, column, wanted) in [
        (
            "EXPLAIN RAW PLAN FOR SELECT a FROM ex WHERE a > 1",
            "Raw Plan",
            "Filter: ex.a >",
        ),
        (
            "EXPLAIN OPTIMIZED PLAN WITH (arity) AS TEXT FOR SELECT a FROM ex WHERE a > 1",
            "Optimized Plan",
            "TableScan: ex projection=[a]",
        ),
        (
            "EXPLAIN PHYSICAL PLAN FOR SELECT a FROM ex WHERE a > 1",
            "Physical Plan",
            "Peek: read of ex",
        ),
        (
            "EXPLAIN PLAN FOR CREATE MATERIALIZED VIEW ex_mv2 AS SELECT b, sum(a) FROM ex GROUP BY b",
            "Optimized Plan",
            "Aggregate: groupBy=[[ex.b]]",
        ),
        (
            "EXPLAIN MATERIALIZED VIEW ex_mv",
            "Optimized Plan",
            "Aggregate: groupBy=[[ex.a]]",
        ),
        (
            "EXPLAIN PHYSICAL PLAN FOR MATERIALIZED VIEW ex_mv",
            "Physical Plan",
            "Reduce group_by=[#0]",
        ),
        (
            "EXPLAIN VIEW ex_v",
            "Optimized Plan",
            "Filter: public.ex.a >",
        ),
    ] {
        let stmt = c
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let names: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, [column], "{sql}");
        let rows = text_rows(&c, sql).await;
        let text = rows[0][0].clone().unwrap_or_default();
        assert!(text.contains(wanted), "{sql}: {text}");
    }
    // The materialized view's plan is maintained, not a one-shot read.
    let physical = text_rows(&c, "EXPLAIN PHYSICAL PLAN FOR MATERIALIZED VIEW ex_mv").await;
    assert!(!physical[0][0].clone().unwrap_or_default().contains("Peek"));
    for (sql, code) in [
        ("EXPLAIN VIEW ex_mv", "42809"),
        ("EXPLAIN MATERIALIZED VIEW nope", "42P01"),
        ("EXPLAIN ANALYZE SELECT a FROM ex", "0A000"),
    ] {
        let e = c.simple_query(sql).await.expect_err(sql);
        assert_eq!(support::sqlstate(&e).as_deref(), Some(code), "{sql}: {e:?}");
    }
}
