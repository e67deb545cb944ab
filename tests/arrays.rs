//! Arrays end to end, where `sql-tests/arrays.slt` cannot reach:
//!
//! * [`array_columns_survive_a_restart`]: array columns (with NULL and
//!   empty arrays, NULL elements, text that needs quoting, numerics) and
//!   views over `unnest` and `array_agg` come back after `kill -9`, since
//!   rows are stored packed, and the views go on being maintained.
//! * [`array_parameters_and_results_in_binary`]: arrays as binary
//!   parameters and binary results, decoded by a PostgreSQL driver
//!   (`tokio-postgres`), including an empty array whose element type only
//!   the column's type tells.
//! * [`unnest_with_ordinality_names_columns_like_postgres`]: the output
//!   names of `unnest` of several arrays `WITH ORDINALITY`, which the
//!   `.slt` files do not compare.

mod support;

use support::{TestServer, expect_rows, text_rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn array_columns_survive_a_restart() {
    let mut server = TestServer::start("arrays-restart").await;
    let c = server.connect().await;
    c.batch_execute(
        r#"CREATE TABLE t (id int, a int[], s text[], n numeric[]);
           INSERT INTO t VALUES (1, ARRAY[1, NULL, 3], ARRAY['a b', 'x"y', NULL], ARRAY[1.50, 2]);
           INSERT INTO t VALUES (2, '{}', '{}', NULL), (3, NULL, NULL, '{}');
           CREATE MATERIALIZED VIEW elements AS SELECT id, x FROM t, unnest(t.a) AS x;
           CREATE MATERIALIZED VIEW gathered AS SELECT array_agg(x) AS xs FROM t, unnest(t.a) AS x;"#,
    )
    .await
    .expect("tables and views with arrays");
    let table = "SELECT id, a, s, n FROM t ORDER BY id";
    let expected_table = expect_rows(&[
        &["1", "{1,NULL,3}", r#"{"a b","x\"y",NULL}"#, "{1.50,2}"],
        &["2", "{}", "{}", "NULL"],
        &["3", "NULL", "NULL", "{}"],
    ]);
    assert_eq!(text_rows(&c, table).await, expected_table, "before restart");
    let elements = "SELECT id, x FROM elements ORDER BY id, x";
    let expected_elements = expect_rows(&[&["1", "1"], &["1", "3"], &["1", "NULL"]]);
    assert_eq!(text_rows(&c, elements).await, expected_elements);
    assert_eq!(
        text_rows(&c, "SELECT xs FROM gathered").await,
        expect_rows(&[&["{1,3,NULL}"]])
    );
    drop(c);
    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    assert_eq!(text_rows(&c, table).await, expected_table, "after restart");
    assert_eq!(text_rows(&c, elements).await, expected_elements);
    c.batch_execute("UPDATE t SET a = ARRAY[7] WHERE id = 2; DELETE FROM t WHERE id = 1")
        .await
        .expect("writes after the restart");
    assert_eq!(
        text_rows(&c, elements).await,
        expect_rows(&[&["2", "7"]]),
        "the view is maintained after the restart"
    );
    assert_eq!(
        text_rows(&c, "SELECT xs FROM gathered").await,
        expect_rows(&[&["{7}"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn array_parameters_and_results_in_binary() {
    let server = TestServer::start("arrays-binary").await;
    let c = server.connect().await;
    let ints: Vec<Option<i32>> = vec![Some(1), None, Some(-3)];
    let words: Vec<Option<String>> = vec![Some("a b".into()), Some(String::new()), None];
    let row = c
        .query_one(
            "SELECT $1::int[] AS a, $2::text[] AS s, cardinality($1::int[]) AS n",
            &[&ints, &words],
        )
        .await
        .expect("array parameters in binary");
    assert_eq!(row.get::<_, Vec<Option<i32>>>(0), ints);
    assert_eq!(row.get::<_, Vec<Option<String>>>(1), words);
    assert_eq!(row.get::<_, i32>(2), 3);

    c.batch_execute(
        "CREATE TABLE b (f float8[], d date[], e text[]); \
         INSERT INTO b VALUES (ARRAY[1.5, NULL], ARRAY['2024-02-29'::date], '{}')",
    )
    .await
    .expect("a table of arrays");
    let row = c
        .query_one("SELECT f, d, e FROM b", &[])
        .await
        .expect("binary results");
    assert_eq!(row.get::<_, Vec<Option<f64>>>(0), vec![Some(1.5), None]);
    assert_eq!(
        row.get::<_, Vec<chrono::NaiveDate>>(1),
        vec![chrono::NaiveDate::from_ymd_opt(2024, 2, 29).expect("a date")]
    );
    // The empty array's element type comes from the column.
    assert_eq!(row.get::<_, Vec<String>>(2), Vec::<String>::new());
    assert_eq!(
        row.columns()[2].type_(),
        &tokio_postgres::types::Type::TEXT_ARRAY
    );
}

/// `unnest` of several arrays `WITH ORDINALITY` names its columns as
/// PostgreSQL 15 does: `unnest` for each array (names of an alias list
/// first), then `ordinality`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unnest_with_ordinality_names_columns_like_postgres() {
    let server = TestServer::start("unnest-ordinality-names").await;
    let c = server.connect().await;
    for (sql, want) in [
        (
            "SELECT * FROM unnest(ARRAY[1, 2], ARRAY['a']) WITH ORDINALITY",
            &["unnest", "unnest", "ordinality"][..],
        ),
        (
            "SELECT * FROM unnest(ARRAY[1, 2], ARRAY['a']) WITH ORDINALITY AS u",
            &["unnest", "unnest", "ordinality"],
        ),
        (
            "SELECT * FROM unnest(ARRAY[1, 2], ARRAY['a']) WITH ORDINALITY AS u(x)",
            &["x", "unnest", "ordinality"],
        ),
        (
            "SELECT * FROM unnest(ARRAY[1, 2], ARRAY['a']) WITH ORDINALITY AS u(x, y, n)",
            &["x", "y", "n"],
        ),
        (
            "SELECT * FROM unnest(ARRAY[1, 2]) WITH ORDINALITY AS u",
            &["u", "ordinality"],
        ),
    ] {
        let row = c
            .query_one(&format!("{sql} LIMIT 1"), &[])
            .await
            .expect(sql);
        assert_eq!(
            row.columns().iter().map(|c| c.name()).collect::<Vec<_>>(),
            want,
            "{sql}"
        );
    }
}
