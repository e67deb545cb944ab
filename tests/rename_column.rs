//! `ALTER ... RENAME COLUMN` across `kill -9`, where
//! `sql-tests/rename_column.slt` cannot look:
//!
//! * [`column_renames_survive_kill_9`]: the renamed columns of a table, a
//!   view and a materialized view, and everything that reads or constrains
//!   them (views, a materialized view, indexes, keys, foreign keys on both
//!   sides, `CHECK` constraints, defaults, a `serial` column, comments, an
//!   owned sequence), come back after `kill -9` as they were before it,
//!   interleaved with renames of the objects themselves; a second rename
//!   after the restart and a second restart too. A default set where the
//!   `CREATE TABLE` drew from a sequence (which rewrites the table's
//!   record without that `DEFAULT`) keeps the record's renames. A
//!   primary key's index (and so the constraint) and a `serial` column's
//!   sequence, which the table's record makes, renamed, come back renamed.

mod support;

use support::{TestServer, expect_rows, sqlstate, text_rows};

/// The answers that must hold before and after each restart.
async fn check(c: &tokio_postgres::Client, what: &str, pkey: &str, sequence: &str) {
    assert_eq!(
        text_rows(c, "SELECT a, b FROM v ORDER BY a").await,
        expect_rows(&[&["1", "x"], &["2", "y"]]),
        "{what}: the view keeps its column names"
    );
    assert_eq!(
        text_rows(c, "SELECT * FROM vs ORDER BY 1").await,
        expect_rows(&[&["1", "x", "1", "7"], &["2", "y", "2", "7"]]),
        "{what}: SELECT * keeps its columns"
    );
    assert_eq!(
        text_rows(c, "SELECT * FROM mv").await,
        expect_rows(&[&["2"]]),
        "{what}: the materialized view"
    );
    assert_eq!(
        text_rows(
            c,
            "SELECT attname FROM pg_attribute WHERE attrelid = 't2'::regclass AND attnum > 0 ORDER BY attnum"
        )
        .await,
        expect_rows(&[&["a2"], &["b2"], &["id2"], &["e2"]]),
        "{what}: the table's columns"
    );
    assert_eq!(
        text_rows(
            c,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid IN ('t2'::regclass, 'c'::regclass) ORDER BY conname"
        )
        .await,
        expect_rows(&[
            &["c_ref_fkey", "FOREIGN KEY (ref2) REFERENCES t2(a2)"],
            &["t_b_check", "CHECK ((length(b2) < 5))"],
            &["t_e_pos", "CHECK ((e2 > 0))"],
            &[pkey, "PRIMARY KEY (a2)"],
        ]),
        "{what}: the constraints name the new columns and keep their names"
    );
    assert_eq!(
        text_rows(
            c,
            "SELECT col_description('t2'::regclass, 1), pg_get_serial_sequence('t2', 'id2'), \
             pg_get_serial_sequence('t2', 'e2')"
        )
        .await,
        expect_rows(&[&["the key", sequence, "public.owned"]]),
        "{what}: the comment and the sequences stay with their columns"
    );
    assert_eq!(
        text_rows(c, "SELECT va FROM vv ORDER BY 1").await,
        expect_rows(&[&["1"], &["2"]]),
        "{what}: the view's renamed column"
    );
    assert_eq!(
        text_rows(c, "SELECT n * 10 FROM over_mv").await,
        expect_rows(&[&["20"]]),
        "{what}: a view over the materialized view's renamed column"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_renames_survive_kill_9() {
    let mut server = TestServer::start("rename-column").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE t (a int PRIMARY KEY, b text CHECK (length(b) < 5), id serial, e int DEFAULT 7);
         INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y');
         CREATE VIEW v AS SELECT a, t.b FROM t;
         CREATE VIEW vs AS SELECT * FROM t;
         CREATE MATERIALIZED VIEW mv AS SELECT count(*) AS n FROM t WHERE length(b) = 1;
         CREATE VIEW vv AS SELECT a FROM t;
         CREATE VIEW over_mv AS SELECT n FROM mv;
         CREATE INDEX t_b ON t (b);
         CREATE TABLE c (ref int REFERENCES t (a));
         COMMENT ON COLUMN t.a IS 'the key';
         ALTER TABLE t ADD CONSTRAINT t_e_pos CHECK (e > 0);
         CREATE SEQUENCE owned OWNED BY t.e;
         ALTER TABLE t RENAME COLUMN a TO a2;
         ALTER TABLE t RENAME TO t2;
         ALTER TABLE t2 RENAME COLUMN b TO b2;
         ALTER TABLE t2 RENAME id TO id2;
         ALTER TABLE t2 RENAME COLUMN e TO e2;
         ALTER TABLE c RENAME COLUMN ref TO ref2;
         ALTER VIEW vv RENAME COLUMN a TO va;
         ALTER MATERIALIZED VIEW mv RENAME COLUMN n TO n2;",
    )
    .await
    .expect("objects and renames");
    check(&c, "before the restart", "t_pkey", "public.t_id_seq").await;
    drop(c);
    server.kill9();
    server.restart().await;

    let c = server.connect().await;
    check(&c, "after the restart", "t_pkey", "public.t_id_seq").await;
    // Constraints and defaults are enforced by the new names.
    let e = c
        .batch_execute("INSERT INTO t2 (a2, b2) VALUES (1, 'z')")
        .await
        .expect_err("a repeated key");
    assert_eq!(sqlstate(&e).as_deref(), Some("23505"));
    let e = c
        .batch_execute("INSERT INTO t2 (a2, b2) VALUES (3, 'long text')")
        .await
        .expect_err("a failed check");
    assert_eq!(sqlstate(&e).as_deref(), Some("23514"));
    let e = c
        .batch_execute("INSERT INTO c (ref2) VALUES (9)")
        .await
        .expect_err("a missing key");
    assert_eq!(sqlstate(&e).as_deref(), Some("23503"));
    // Renamed again after the restart (records written from a replayed
    // catalog), and restarted again.
    c.batch_execute(
        "ALTER MATERIALIZED VIEW mv RENAME COLUMN n2 TO n;
         ALTER TABLE t2 RENAME COLUMN a2 TO a3;
         ALTER TABLE t2 RENAME COLUMN a3 TO a2;
         INSERT INTO t2 (a2, b2) VALUES (3, 'zz');
         DELETE FROM t2 WHERE a2 = 3;
         CREATE SEQUENCE q;
         CREATE TABLE d (x int DEFAULT nextval('q'), y int CHECK (y > 0));
         ALTER TABLE d RENAME COLUMN y TO y2;
         ALTER TABLE d RENAME TO d2;
         ALTER TABLE d2 ALTER COLUMN x SET DEFAULT 5;
         ALTER INDEX t_pkey RENAME TO t_pk1;
         ALTER TABLE t2 RENAME COLUMN b2 TO b3;
         ALTER INDEX t_pk1 RENAME TO t_pk;
         ALTER TABLE t2 RENAME COLUMN b3 TO b2;
         ALTER SEQUENCE t_id_seq RENAME TO t_ids;",
    )
    .await
    .expect("renames after the restart");
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    check(&c, "after the second restart", "t_pk", "public.t_ids").await;
    assert_eq!(
        text_rows(&c, "SELECT a2, id2, e2 FROM t2 ORDER BY a2").await,
        expect_rows(&[&["1", "1", "7"], &["2", "2", "7"]]),
        "the table's rows"
    );
    let e = c
        .batch_execute("INSERT INTO t2 (a2, b2) VALUES (1, 'z')")
        .await
        .expect_err("a repeated key, through the renamed constraint");
    assert_eq!(sqlstate(&e).as_deref(), Some("23505"));
    c.batch_execute("INSERT INTO t2 (a2, b2) VALUES (7, 'z')")
        .await
        .expect("the serial column draws from its renamed sequence");
    assert_eq!(
        text_rows(&c, "SELECT id2 > 3 FROM t2 WHERE a2 = 7").await,
        expect_rows(&[&["t"]]),
        "the sequence goes on past what it gave before (3; a restart skips the values written ahead)"
    );
    c.batch_execute("INSERT INTO d2 (y2) VALUES (1)")
        .await
        .expect("INSERT with the default set after the renames");
    assert_eq!(
        text_rows(
            &c,
            "SELECT conname, pg_get_constraintdef(oid), (SELECT x FROM d2) FROM pg_constraint \
             WHERE conrelid = 'd2'::regclass"
        )
        .await,
        expect_rows(&[&["d_y_check", "CHECK ((y2 > 0))", "5"]]),
        "the check keeps the name the CREATE TABLE gave it"
    );
}
