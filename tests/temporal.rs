//! Temporal filters (`mz_now()` in `WHERE`) as time passes, end to end: rows enter and leave
//! materialized views and SUBSCRIBE output at the times their bounds say, without any write
//! moving time forward, and after a restart.
//!
//! * [`rows_expire_and_start_as_time_passes`]: a sliding window drops a row at exactly its upper
//!   bound (the SUBSCRIBE retraction's `mz_timestamp`), a `mz_now() >= start` view picks a row up
//!   once its start has passed; every read is checked against its own read timestamp.
//! * [`temporal_view_survives_restart`]: after `kill -9` and a restart the view is rebuilt and
//!   still expires its rows.
//!
//! Every wait is bounded ([`support::poll_until`], deadlines on subscribe reads); nothing sleeps
//! to synchronise.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use support::{SubscribeLines, TestServer};

/// How long a row that should expire (or start) within a few seconds may take to do so.
const WAIT: Duration = Duration::from_secs(20);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// A `timestamptz` literal for `ms` milliseconds since the epoch.
fn tstz(ms: u64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ms as i64).expect("a valid time");
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.3f+00"))
}

/// The `content` values of `relation`, and the read timestamp (`mz_now()`) they are as of,
/// read atomically in one query.
async fn contents_at(c: &Client, relation: &str) -> Result<(Vec<String>, u64), String> {
    let rows = c
        .query(
            &format!("SELECT content, mz_now()::text FROM {relation} UNION ALL SELECT NULL, mz_now()::text"),
            &[],
        )
        .await
        .map_err(|e| format!("reading {relation}: {e}"))?;
    let mut contents = Vec::new();
    let mut ts = None;
    for r in rows {
        let content: Option<String> = r.get(0);
        let at: String = r.get(1);
        ts = Some(
            at.parse::<u64>()
                .map_err(|e| format!("mz_now() {at:?}: {e}"))?,
        );
        contents.extend(content);
    }
    contents.sort();
    Ok((contents, ts.ok_or("no row at all")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_expire_and_start_as_time_passes() {
    let server = TestServer::start("temporal").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE events (content text, event_ts timestamptz);
         CREATE MATERIALIZED VIEW recent AS
             SELECT content, event_ts FROM events WHERE mz_now() <= event_ts + INTERVAL '2 seconds';
         CREATE MATERIALIZED VIEW started AS
             SELECT content FROM events WHERE mz_now() >= event_ts;",
    )
    .await
    .expect("setting up");

    let explain: String = c
        .query_one(
            "EXPLAIN SELECT content FROM events WHERE mz_now() <= event_ts + INTERVAL '2 seconds'",
            &[],
        )
        .await
        .expect("EXPLAIN")
        .get(1);
    assert!(
        explain.contains("temporal filter: mz_now() in [update time, "),
        "EXPLAIN should show the temporal filter: {explain}"
    );

    let sub_conn = server.connect().await;
    let mut sub =
        SubscribeLines::start(&sub_conn, "COPY (SUBSCRIBE recent) TO STDOUT", false).await;
    let query_conn = server.connect().await;
    let mut query_sub = SubscribeLines::start(
        &query_conn,
        "COPY (SUBSCRIBE (SELECT content FROM events WHERE mz_now() < event_ts + INTERVAL '2 seconds')) TO STDOUT",
        false,
    )
    .await;

    // `short` is in `recent` from now until 2 s after its time (inclusive): until
    // `short_ms + 2001`, exclusive. `later` starts 1.5 s from now; `long` stays for an hour.
    let base = now_ms();
    let short_ms = base + 2_000;
    let later_ms = base + 1_500;
    let long_ms = base + 3_600_000;
    c.execute(
        &format!(
            "INSERT INTO events VALUES ('short', {}), ('later', {}), ('long', {})",
            tstz(short_ms),
            tstz(later_ms),
            tstz(long_ms)
        ),
        &[],
    )
    .await
    .expect("INSERT");

    // The SUBSCRIBE of the view: the insertion, then the retraction at the upper bound exactly,
    // with no write in between to move time.
    let lines = sub
        .read_until(WAIT, "the retraction of 'short'", |lines| {
            lines
                .iter()
                .any(|l| l.diff == Some(-1) && l.values[0].as_deref() == Some("short"))
        })
        .await;
    let inserted = lines
        .iter()
        .find(|l| l.diff == Some(1) && l.values[0].as_deref() == Some("short"))
        .unwrap_or_else(|| panic!("no insertion of 'short' before its retraction: {lines:#?}"));
    let retracted = lines
        .iter()
        .find(|l| l.diff == Some(-1) && l.values[0].as_deref() == Some("short"))
        .expect("found above");
    assert_eq!(
        retracted.ts,
        short_ms + 2_001,
        "'short' must leave at its upper bound: {lines:#?}"
    );
    assert!(inserted.ts < retracted.ts, "{lines:#?}");
    assert!(
        !lines
            .iter()
            .any(|l| l.diff == Some(-1) && l.values[0].as_deref() == Some("long")),
        "'long' must stay: {lines:#?}"
    );

    // The SUBSCRIBE of a query (a transient dataflow): `<` makes the bound exclusive.
    let lines = query_sub
        .read_until(WAIT, "the retraction of 'short' by the query", |lines| {
            lines
                .iter()
                .any(|l| l.diff == Some(-1) && l.values[0].as_deref() == Some("short"))
        })
        .await;
    let retracted = lines
        .iter()
        .find(|l| l.diff == Some(-1) && l.values[0].as_deref() == Some("short"))
        .expect("found above");
    assert_eq!(retracted.ts, short_ms + 2_000, "{lines:#?}");

    // Reads of the views agree with their read timestamps, and eventually see both changes.
    support::poll_until(
        "'short' gone from recent and 'later' in started",
        WAIT,
        || async {
            let (recent, at) = contents_at(&c, "recent").await?;
            let expected: Vec<String> = [
                ("later", later_ms + 2_001),
                ("long", long_ms + 2_001),
                ("short", short_ms + 2_001),
            ]
            .iter()
            .filter(|(_, upper)| at < *upper)
            .map(|(name, _)| name.to_string())
            .collect();
            if recent != expected {
                panic!("recent at {at} is {recent:?}, expected {expected:?}");
            }
            let (started, at) = contents_at(&c, "started").await?;
            let expected: Vec<String> =
                [("later", later_ms), ("long", long_ms), ("short", short_ms)]
                    .iter()
                    .filter(|(_, start)| at >= *start)
                    .map(|(name, _)| name.to_string())
                    .collect();
            if started != expected {
                panic!("started at {at} is {started:?}, expected {expected:?}");
            }
            if recent.contains(&"short".to_string()) || !started.contains(&"later".to_string()) {
                return Err(format!("at {at}: recent {recent:?}, started {started:?}"));
            }
            Ok(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_view_survives_restart() {
    let mut server = TestServer::start("temporal_restart").await;
    let c = server.connect().await;
    let soon_ms = now_ms() + 3_000;
    let later_ms = now_ms() + 3_600_000;
    c.batch_execute(&format!(
        "CREATE TABLE t (content text, valid_until timestamptz);
         CREATE MATERIALIZED VIEW valid AS SELECT content FROM t WHERE mz_now() < valid_until;
         INSERT INTO t VALUES ('soon', {}), ('later', {});",
        tstz(soon_ms),
        tstz(later_ms)
    ))
    .await
    .expect("setting up");
    let (before, at) = contents_at(&c, "valid").await.expect("reading valid");
    if at < soon_ms {
        assert_eq!(before, vec!["later".to_string(), "soon".to_string()]);
    }
    drop(c);

    server.kill9();
    server.restart().await;
    let c = server.connect().await;
    support::poll_until("'soon' expired after the restart", WAIT, || async {
        let (rows, at) = contents_at(&c, "valid").await?;
        let expected: Vec<String> = [("later", later_ms), ("soon", soon_ms)]
            .iter()
            .filter(|(_, until)| at < *until)
            .map(|(name, _)| name.to_string())
            .collect();
        if rows != expected {
            panic!("valid at {at} is {rows:?}, expected {expected:?}");
        }
        if at < soon_ms {
            return Err(format!("at {at}: {rows:?}"));
        }
        Ok(())
    })
    .await;
}
