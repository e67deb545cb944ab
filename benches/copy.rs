//! Benchmark: bulk loading and unloading through `COPY`, Freshet against
//! PostgreSQL measured in the same run. A reproducible benchmark, not a
//! timed test: it prints figures and fails only if an answer is wrong.
//!
//! ```sh
//! cargo bench --bench copy -- --pg "host=127.0.0.1 port=15433 user=postgres dbname=postgres"
//! cargo bench --bench copy -- --rows 2000000 --workers 2
//! cargo test --bench copy     # quick correctness run (small sizes, no PostgreSQL)
//! ```
//!
//! `N` rows (default 1 000 000; `--rows`) of
//! `(id bigint, name text, v numeric(10,2), ts timestamp)`, about 47 bytes
//! each in COPY's text format, are generated in the bench process. Each
//! target (Freshet, a `freshet` server process on a free port with
//! `--workers 1` unless `--workers` says otherwise, and, given `--pg DSN`,
//! a PostgreSQL server as the baseline) runs, timed one after the other
//! from the client's side:
//!
//! 1. `COPY pk FROM STDIN` into a table with a `PRIMARY KEY`, the data sent
//!    in 64 KiB CopyData messages (psql's `\copy` sends 8 KiB ones);
//! 2. the same into a table without keys (`nokey`);
//! 3. `INSERT INTO nokey2 SELECT * FROM pk`: the write path without the
//!    decoding;
//! 4. `COPY pk TO STDOUT`: every byte read by the client.
//!
//! Reported per step: seconds, rows/s and, with a baseline, Freshet's time
//! over PostgreSQL's (lower is better for Freshet); and Freshet's peak RSS.
//! Checked: each table's `count(*)` and `sum(id)`, and that `COPY TO`'s
//! output holds exactly the lines that were copied in (sorted, as neither
//! server promises an order).
//!
//! A throwaway PostgreSQL 15 for the baseline (as root; see
//! `../shared/CRATES.md`):
//! `runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D /tmp/pgb` and
//! `runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgb -o "-c port=15433" start`.
//! The baseline runs with PostgreSQL's defaults (`fsync` on, as Freshet's
//! commits are).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use futures::{SinkExt, StreamExt, pin_mut};
use support::TestServer;
use tokio_postgres::{Client, NoTls};

/// Run configuration.
struct Config {
    full: bool,
    rows: u64,
    workers: usize,
    pg: Option<String>,
}

impl Config {
    fn from_args(args: &[String]) -> anyhow::Result<Config> {
        let full = args.iter().any(|a| a == "--bench");
        let mut cfg = Config {
            full,
            rows: if full { 1_000_000 } else { 20_000 },
            workers: 1,
            pg: None,
        };
        let mut i = 0;
        while i < args.len() {
            let value = || {
                args.get(i + 1)
                    .cloned()
                    .ok_or_else(|| anyhow!("{} needs a value", args[i]))
            };
            match args[i].as_str() {
                "--rows" => {
                    cfg.rows = value()?.parse()?;
                    i += 1;
                }
                "--workers" => {
                    cfg.workers = value()?.parse()?;
                    i += 1;
                }
                "--pg" => {
                    cfg.pg = Some(value()?);
                    i += 1;
                }
                _ => {}
            }
            i += 1;
        }
        Ok(cfg)
    }
}

/// The data: `rows` lines of COPY text, and the expected `sum(id)`.
fn data(rows: u64) -> (Vec<u8>, i128) {
    let mut out = Vec::with_capacity(rows as usize * 48);
    let mut sum = 0i128;
    for i in 0..rows {
        // Distinct ids, not in key order; a spread of values and days.
        let id = ((i % 1000) * (rows / 1000 + 1) + i / 1000) as i64;
        sum += id as i128;
        let cents = (i * 7919) % 100_000;
        out.extend_from_slice(
            format!(
                "{id}\tname-{i}\t{}.{:02}\t2024-{:02}-{:02} {:02}:{:02}:{:02}\n",
                cents / 100,
                cents % 100,
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 60,
                (i / 60) % 60
            )
            .as_bytes(),
        );
    }
    (out, sum)
}

/// One target's timings, in seconds, per step.
#[derive(Default)]
struct Timings {
    steps: Vec<(&'static str, f64)>,
}

const STEPS: [&str; 4] = [
    "COPY FROM STDIN, primary key",
    "COPY FROM STDIN, no key",
    "INSERT ... SELECT, no key",
    "COPY TO STDOUT",
];

async fn copy_in(c: &Client, table: &str, data: &[u8]) -> anyhow::Result<u64> {
    let sink = c
        .copy_in(&format!("COPY {table} FROM STDIN"))
        .await
        .context("COPY FROM STDIN starts")?;
    pin_mut!(sink);
    for chunk in data.chunks(64 * 1024) {
        sink.send(Bytes::copy_from_slice(chunk)).await?;
    }
    Ok(sink.finish().await?)
}

async fn check_table(c: &Client, table: &str, rows: u64, sum: i128) -> anyhow::Result<()> {
    let got = support::try_text_rows(c, &format!("SELECT count(*), sum(id) FROM {table}"))
        .await
        .map_err(|e| anyhow!(e))?;
    let want = vec![vec![Some(rows.to_string()), Some(sum.to_string())]];
    if got != want {
        bail!("{table}: count and sum {got:?}, expected {want:?}");
    }
    Ok(())
}

/// Runs the steps against a server; checks every answer.
async fn run(c: &Client, data: &[u8], rows: u64, sum: i128) -> anyhow::Result<Timings> {
    let mut t = Timings::default();
    c.batch_execute(
        "DROP TABLE IF EXISTS pk, nokey, nokey2;
         CREATE TABLE pk (id bigint PRIMARY KEY, name text, v numeric(10,2), ts timestamp);
         CREATE TABLE nokey (id bigint, name text, v numeric(10,2), ts timestamp);
         CREATE TABLE nokey2 (id bigint, name text, v numeric(10,2), ts timestamp);",
    )
    .await?;
    for (step, table) in [(STEPS[0], "pk"), (STEPS[1], "nokey")] {
        let start = Instant::now();
        let n = copy_in(c, table, data).await?;
        t.steps.push((step, start.elapsed().as_secs_f64()));
        if n != rows {
            bail!("COPY into {table} reported {n} rows, expected {rows}");
        }
        check_table(c, table, rows, sum).await?;
    }
    let start = Instant::now();
    let n = c
        .execute("INSERT INTO nokey2 SELECT * FROM pk", &[])
        .await?;
    t.steps.push((STEPS[2], start.elapsed().as_secs_f64()));
    if n != rows {
        bail!("INSERT ... SELECT reported {n} rows, expected {rows}");
    }
    check_table(c, "nokey2", rows, sum).await?;

    let start = Instant::now();
    let stream = c.copy_out("COPY pk TO STDOUT").await?;
    pin_mut!(stream);
    let mut out = Vec::with_capacity(data.len());
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    t.steps.push((STEPS[3], start.elapsed().as_secs_f64()));
    let mut got: Vec<&[u8]> = out.split(|b| *b == b'\n').collect();
    let mut want: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        bail!("COPY pk TO STDOUT does not give back the lines copied in");
    }
    Ok(t)
}

fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = Config::from_args(&args)?;
    if !cfg.full {
        println!("copy: not run by `cargo bench` (no --bench): a quick correctness run");
    }
    let (data, sum) = data(cfg.rows);
    println!(
        "copy: {} rows, {:.1} MB of COPY text",
        cfg.rows,
        data.len() as f64 / 1e6
    );

    let baseline = match &cfg.pg {
        Some(dsn) => {
            let (client, conn) = tokio_postgres::connect(dsn, NoTls)
                .await
                .with_context(|| format!("connecting to PostgreSQL at `{dsn}`"))?;
            tokio::spawn(conn);
            let version = support::try_text_rows(&client, "SHOW server_version")
                .await
                .map_err(|e| anyhow!(e))?;
            println!("copy: baseline PostgreSQL {:?}", version[0][0]);
            let t = run(&client, &data, cfg.rows, sum).await?;
            client.batch_execute("DROP TABLE pk, nokey, nokey2").await?;
            Some(t)
        }
        None => None,
    };

    let server = TestServer::start_with_workers("bench-copy", cfg.workers).await;
    let c = server.connect().await;
    let before = peak_rss_mib(server.pid());
    let freshet = run(&c, &data, cfg.rows, sum).await?;
    let after = peak_rss_mib(server.pid());

    println!(
        "copy: {:<32} {:>10} {:>12} {:>10} {:>12} {:>8}",
        "step", "Freshet s", "rows/s", "PG s", "rows/s", "ratio"
    );
    for (i, (step, secs)) in freshet.steps.iter().enumerate() {
        let rate = cfg.rows as f64 / secs;
        match &baseline {
            Some(b) => {
                let pg = b.steps[i].1;
                println!(
                    "copy: {step:<32} {secs:>10.3} {rate:>12.0} {pg:>10.3} {:>12.0} {:>7.2}x",
                    cfg.rows as f64 / pg,
                    secs / pg
                );
            }
            None => println!("copy: {step:<32} {secs:>10.3} {rate:>12.0}"),
        }
    }
    println!(
        "copy: Freshet ({} worker(s)) peak RSS {before} MiB before the steps, {after} MiB after",
        cfg.workers
    );
    Ok(())
}
