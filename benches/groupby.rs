//! Benchmark: a maintained `GROUP BY key` with `count(*)` and `sum(v)`, in
//! Freshet and in a hand-written differential-dataflow program, fed the same
//! update stream in the same run (issue #2, part 14).
//!
//! This is a reproducible benchmark, not a timed test: it prints figures and
//! fails only if a variant computes a wrong answer.
//!
//! ```sh
//! cargo bench --bench groupby                       # 1M keys, 10M updates, 1 and 2 workers
//! cargo test --bench groupby                        # 2k keys, 20k updates: a quick correctness run
//! FRESHET_BENCH_KEYS=100000 FRESHET_BENCH_UPDATES=1000000 cargo bench --bench groupby
//! cargo bench --bench groupby -- --keys 100000 --updates 1000000 --workers 1
//! ```
//!
//! # The workload
//!
//! `K` keys (default 1 000 000) and `U` updates in total (default
//! 10 000 000), generated deterministically from a seed:
//!
//! * first `K` inserts, one row `(k, v)` per key (keys in a pseudo-random
//!   permutation, `v` uniform in `0..1_000_000`);
//! * then `(U - K) / 2` *replacements*: a uniformly random key's current row
//!   `(k, v_old)` is retracted (diff −1) and `(k, v_new)` inserted (diff +1).
//!   A replacement counts as **2 updates**, so `U` counts `(row, diff)` pairs.
//!
//! The stream is cut into batches of `B` updates (default 100 000; a
//! replacement is never split), one timestamp per batch. At most `I` batches
//! (default 2) are in flight: the driver sends batch `i` only once batch
//! `i - I` is complete in the view. Both variants have the same shape: one
//! driver thread generates the batches (and, for Freshet, builds the `Row`s)
//! and hands them to the timely workers; the workers do the maintenance.
//!
//! The generator also computes the expected answer: every key has exactly one
//! live row, so the view must have `K` rows, `Σ n = K` (the number of live
//! rows), `Σ s = Σ v_k`, and a checksum over `(k, n, s)` per key must match.
//! `FRESHET_BENCH_TAMPER=1` drops the last update from what is fed (not from
//! what is expected), which must make every variant's check fail.
//!
//! # The variants
//!
//! * `freshet`: the view is defined in SQL through the public library API
//!   (`Coordinator::start`, `Coordinator::execute` with statements from
//!   `sql::parse::parse_statements`):
//!   `CREATE TABLE t (k bigint NOT NULL, v bigint NOT NULL)` and
//!   `CREATE MATERIALIZED VIEW m AS SELECT k, count(*) AS n, sum(v) AS s FROM t GROUP BY k`.
//!   The data then takes the path table writes take *inside* Freshet:
//!   `coord.compute.send(Command::Write { updates, ts })`, with `ts` from the
//!   coordinator's timestamp oracle and the table's `GlobalId` from the
//!   catalog. This measures the maintained dataflow as Freshet renders it from
//!   SQL (table arrangement, reduce, the view's arrangement, error
//!   collections, the worker loop and compaction). It does **not** measure the
//!   wire protocol, SQL parsing/planning of `INSERT`s, constraint checks, or
//!   durable (fsynced) commits of the rows. Batch completion is observed with
//!   a peek of `m` at the batch's timestamp for a key that does not exist
//!   (cheap: it waits for the view's frontier and seeks once); the final
//!   answer is read with a full peek of `m` at the last write timestamp.
//! * `dd-reduce` (the reference for the ratio): hand-written differential
//!   dataflow over `(u64, i64)` records with `i64` diffs:
//!   `input.arrange_by_key().reduce_abelian("Reduce", |k, vals, out| out.push(((Σd, Σv·d), 1)), ..)`,
//!   i.e. exactly what `Collection::reduce` does, keeping the output
//!   arrangement so the result can be read like a view. `reduce` is the fair
//!   baseline because it is the operator Freshet renders `GROUP BY` with and
//!   the idiomatic general-purpose DD aggregation: an input arrangement by
//!   key and an output arrangement, group logic re-run for each changed key.
//! * `dd-count_total` (for information): `explode` each record into its key
//!   with the diff `(1, v)` and `count_total`, whose output
//!   `(k, (n, s))` is arranged by key so it can be read the same way. This is
//!   the cheapest way DD maintains a sum (an abelian aggregation with no
//!   values in the input arrangement); it shows what a specialised plan for
//!   `count`/`sum` could reach.
//!
//! Two more variants, not run by default (`--variants`), take Freshet's
//! overheads apart:
//!
//! * `dd-rows`: `dd-reduce`'s plan over Freshet's `Row` (`Vec<Datum>`):
//!   rows `[k, v]` keyed as `[k] -> [v]`, reduced to `[n, s]`. The gap to
//!   `dd-reduce` is the cost of the data representation alone.
//! * `dd-freshet-plan`: native `(u64, i64)` records in the shape of the plan
//!   Freshet builds: the table arranged in its own dataflow, imported by the
//!   view's dataflow, reduced (input and output arrangements), and the result
//!   arranged again as the view. The gap to `dd-reduce` is the cost of the
//!   plan's two extra arrangements alone.
//!
//! Each variant runs in its own child process (this binary re-executed with
//! `--child VARIANT WORKERS`), so peak RSS (`VmHWM` from `/proc/self/status`,
//! read when the last batch is complete, before the final full read) belongs
//! to that variant alone. Times are wall-clock from the first generated
//! batch until the last batch is complete; CPU time is the process's user +
//! system time over the same span (it includes the driver thread).
//!
//! # Options (arguments after `--`, or environment variables)
//!
//! | argument | environment | default |
//! |---|---|---|
//! | `--keys N` | `FRESHET_BENCH_KEYS` | 1 000 000 (2 000 without `--bench`) |
//! | `--updates N` | `FRESHET_BENCH_UPDATES` | 10 000 000 (20 000 without `--bench`) |
//! | `--batch N` | `FRESHET_BENCH_BATCH` | 100 000 (2 000 without `--bench`) |
//! | `--inflight N` | `FRESHET_BENCH_INFLIGHT` | 2 |
//! | `--workers 1,2` | `FRESHET_BENCH_WORKERS` | `1,2` |
//! | `--variants a,b` | `FRESHET_BENCH_VARIANTS` | `dd-reduce,dd-count_total,freshet` (also: `dd-rows`, `dd-freshet-plan`) |
//! | `--seed N` | `FRESHET_BENCH_SEED` | 42 |
//! | `--repeat N` | `FRESHET_BENCH_REPEAT` | 1 (the median wall time is reported) |
//! | | `FRESHET_BENCH_TAMPER=1` | off |
//! | | `FRESHET_BENCH_EXPLAIN=1` (print Freshet's plan) | off |
//! | | `FRESHET_BENCH_TRACE=1` (print progress per batch) | off |

/// The allocator the `freshet` binary uses, so that the in-process variants
/// measure what the server runs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::collections::VecDeque;
use std::process::{Command as Process, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

const VALUE_RANGE: u64 = 1_000_000;

// ---------------------------------------------------------------------------
// Configuration

#[derive(Clone, Debug)]
struct Config {
    keys: u64,
    updates: u64,
    batch: u64,
    inflight: usize,
    workers: Vec<usize>,
    variants: Vec<String>,
    seed: u64,
    repeat: usize,
    tamper: bool,
}

/// Every variant; the default run is the first three.
const VARIANTS: &[&str] = &[
    "dd-reduce",
    "dd-count_total",
    "freshet",
    "dd-rows",
    "dd-freshet-plan",
];
const DEFAULT_VARIANTS: &str = "dd-reduce,dd-count_total,freshet";

impl Config {
    /// `full`: the issue's sizes by default (`cargo bench` passes `--bench`);
    /// otherwise (`cargo test --all-targets` runs benches as tests) small
    /// sizes, so the run is a quick check that every variant is correct.
    fn from_env_and_args(args: &[String], full: bool) -> anyhow::Result<Config> {
        fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
            match std::env::var(name) {
                Ok(v) => parse_count(&v).with_context(|| format!("{name}={v}")),
                Err(_) => Ok(default),
            }
        }
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        };
        let (keys, updates, batch) = if full {
            (1_000_000, 10_000_000, 100_000)
        } else {
            (2_000, 20_000, 2_000)
        };
        let mut cfg = Config {
            keys: env_u64("FRESHET_BENCH_KEYS", keys)?,
            updates: env_u64("FRESHET_BENCH_UPDATES", updates)?,
            batch: env_u64("FRESHET_BENCH_BATCH", batch)?,
            inflight: env_u64("FRESHET_BENCH_INFLIGHT", 2)? as usize,
            workers: Vec::new(),
            variants: list(
                &std::env::var("FRESHET_BENCH_VARIANTS")
                    .unwrap_or_else(|_| DEFAULT_VARIANTS.into()),
            ),
            seed: env_u64("FRESHET_BENCH_SEED", 42)?,
            repeat: env_u64("FRESHET_BENCH_REPEAT", 1)? as usize,
            tamper: std::env::var("FRESHET_BENCH_TAMPER").is_ok_and(|v| v != "0" && !v.is_empty()),
        };
        let mut workers = std::env::var("FRESHET_BENCH_WORKERS").unwrap_or_else(|_| "1,2".into());
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].as_str();
            let mut value = || -> anyhow::Result<String> {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| anyhow!("{flag} needs a value"))
            };
            match flag {
                "--keys" => cfg.keys = parse_count(&value()?)?,
                "--updates" => cfg.updates = parse_count(&value()?)?,
                "--batch" => cfg.batch = parse_count(&value()?)?,
                "--inflight" => cfg.inflight = parse_count(&value()?)? as usize,
                "--workers" => workers = value()?,
                "--variants" => cfg.variants = list(&value()?),
                "--seed" => cfg.seed = parse_count(&value()?)?,
                "--repeat" => cfg.repeat = parse_count(&value()?)? as usize,
                "--tamper" => cfg.tamper = true,
                // `cargo bench` passes `--bench`; libtest-style filters are ignored.
                _ => {}
            }
            i += 1;
        }
        cfg.workers = list(&workers)
            .iter()
            .map(|w| {
                w.parse::<usize>()
                    .with_context(|| format!("worker count {w}"))
            })
            .collect::<anyhow::Result<_>>()?;
        if cfg.keys == 0 || cfg.batch < 2 || cfg.inflight == 0 || cfg.repeat == 0 {
            bail!("keys, inflight and repeat must be positive and batch at least 2");
        }
        if cfg.updates < cfg.keys {
            bail!(
                "updates ({}) must be at least keys ({})",
                cfg.updates,
                cfg.keys
            );
        }
        for v in &cfg.variants {
            if !VARIANTS.contains(&v.as_str()) {
                bail!("unknown variant {v}; known: {}", VARIANTS.join(", "));
            }
        }
        Ok(cfg)
    }

    /// Arguments that make a child use exactly this configuration.
    fn child_args(&self) -> Vec<String> {
        let mut a = vec![
            "--keys".to_string(),
            self.keys.to_string(),
            "--updates".into(),
            self.updates.to_string(),
            "--batch".into(),
            self.batch.to_string(),
            "--inflight".into(),
            self.inflight.to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ];
        if self.tamper {
            a.push("--tamper".into());
        }
        a
    }
}

/// Parses `1000000`, `1_000_000`, `1M`, `100k`.
fn parse_count(s: &str) -> anyhow::Result<u64> {
    let s = s.trim().replace('_', "");
    let (digits, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('m' | 'M') => (&s[..s.len() - 1], 1_000_000),
        _ => (&s[..], 1),
    };
    Ok(digits
        .parse::<u64>()
        .with_context(|| format!("not a count: {s}"))?
        * mult)
}

// ---------------------------------------------------------------------------
// The update stream

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The per-key term of the result checksum.
fn key_checksum(k: u64, n: i64, s: i64) -> u64 {
    mix64(
        k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (n as u64).rotate_left(17)
            ^ (s as u64).rotate_left(41),
    )
}

/// What the view must contain at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Summary {
    /// Rows in the view (one per live key).
    rows: u64,
    /// `Σ n`: live rows of `t`.
    sum_n: i64,
    /// `Σ s`.
    sum_s: i64,
    /// Wrapping sum of `key_checksum(k, n, s)` over the view's rows.
    checksum: u64,
    /// Rows whose multiplicity is not 1 (must be 0).
    bad_multiplicity: u64,
}

impl Summary {
    fn add_row(&mut self, k: u64, n: i64, s: i64, mult: i64) {
        self.rows += 1;
        self.sum_n += n * mult;
        self.sum_s += s * mult;
        self.checksum = self.checksum.wrapping_add(key_checksum(k, n, s));
        if mult != 1 {
            self.bad_multiplicity += 1;
        }
    }

    fn merge(&mut self, other: &Summary) {
        self.rows += other.rows;
        self.sum_n += other.sum_n;
        self.sum_s += other.sum_s;
        self.checksum = self.checksum.wrapping_add(other.checksum);
        self.bad_multiplicity += other.bad_multiplicity;
    }
}

/// One update: `(key, value, diff)`.
type Update = (u64, i64, i64);

/// Produces the stream batch by batch and tracks the expected result.
struct Generator {
    keys: u64,
    batch: u64,
    inserts_left: u64,
    next_insert: u64,
    stride: u64,
    replacements_left: u64,
    values: Vec<i64>,
    rng: Rng,
    tamper: bool,
}

impl Generator {
    fn new(cfg: &Config) -> Generator {
        // Insert keys in a pseudo-random order: i * stride mod K, stride
        // coprime with K, so sorting is not handed pre-sorted input.
        let mut stride = 1_000_003 % cfg.keys.max(2);
        while gcd(stride, cfg.keys) != 1 {
            stride += 1;
        }
        Generator {
            keys: cfg.keys,
            batch: cfg.batch - cfg.batch % 2,
            inserts_left: cfg.keys,
            next_insert: 0,
            stride,
            replacements_left: (cfg.updates - cfg.keys) / 2,
            values: vec![0; cfg.keys as usize],
            rng: Rng(cfg.seed),
            tamper: cfg.tamper,
        }
    }

    /// The number of updates the whole stream has.
    fn total_updates(cfg: &Config) -> u64 {
        cfg.keys + (cfg.updates - cfg.keys) / 2 * 2
    }

    /// The number of batches the whole stream has.
    fn total_batches(cfg: &Config) -> u64 {
        let mut n = 0;
        let b = cfg.batch - cfg.batch % 2;
        let mut left = Self::total_updates(cfg);
        // Inserts fill batches; a replacement pair never straddles two.
        let mut inserts = cfg.keys;
        while left > 0 {
            let mut room = b;
            let i = inserts.min(room);
            inserts -= i;
            room -= i;
            left -= i;
            let pairs = (room / 2).min(left / 2);
            left -= pairs * 2;
            if i == 0 && pairs == 0 {
                break;
            }
            n += 1;
        }
        n
    }

    /// Fills `out` with the next batch; `false` when the stream is over.
    fn next_batch(&mut self, out: &mut Vec<Update>) -> bool {
        out.clear();
        while (out.len() as u64) < self.batch && self.inserts_left > 0 {
            let k = (self.next_insert * self.stride) % self.keys;
            let v = (self.rng.next() % VALUE_RANGE) as i64;
            self.values[k as usize] = v;
            out.push((k, v, 1));
            self.next_insert += 1;
            self.inserts_left -= 1;
        }
        while (out.len() as u64) + 2 <= self.batch && self.replacements_left > 0 {
            let k = self.rng.next() % self.keys;
            let v = (self.rng.next() % VALUE_RANGE) as i64;
            let old = std::mem::replace(&mut self.values[k as usize], v);
            out.push((k, old, -1));
            out.push((k, v, 1));
            self.replacements_left -= 1;
        }
        if self.tamper && self.inserts_left == 0 && self.replacements_left == 0 && !out.is_empty() {
            // Feed one update less than expected: the check must fail.
            out.pop();
            self.tamper = false;
        }
        !out.is_empty()
    }

    /// The expected result, once the stream is over.
    fn expected(&self) -> Summary {
        let mut s = Summary::default();
        for (k, v) in self.values.iter().enumerate() {
            s.add_row(k as u64, 1, *v, 1);
        }
        s
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

// ---------------------------------------------------------------------------
// Measurements

/// What a child reports.
#[derive(Debug, Clone, Default)]
struct Measurement {
    variant: String,
    workers: usize,
    updates: u64,
    batches: u64,
    wall: f64,
    cpu: f64,
    hwm_kib: u64,
    hwm_after_verify_kib: u64,
    verify: f64,
    ok: bool,
    got: String,
    expected: String,
}

impl Measurement {
    fn to_line(&self) -> String {
        format!(
            "RESULT variant={} workers={} updates={} batches={} wall={:.6} cpu={:.3} hwm_kib={} hwm_after_verify_kib={} verify={:.6} ok={} got={} expected={}",
            self.variant,
            self.workers,
            self.updates,
            self.batches,
            self.wall,
            self.cpu,
            self.hwm_kib,
            self.hwm_after_verify_kib,
            self.verify,
            self.ok,
            self.got,
            self.expected
        )
    }

    fn from_line(line: &str) -> Option<Measurement> {
        let rest = line.strip_prefix("RESULT ")?;
        let mut m = Measurement::default();
        for field in rest.split(' ') {
            let (k, v) = field.split_once('=')?;
            match k {
                "variant" => m.variant = v.to_string(),
                "workers" => m.workers = v.parse().ok()?,
                "updates" => m.updates = v.parse().ok()?,
                "batches" => m.batches = v.parse().ok()?,
                "wall" => m.wall = v.parse().ok()?,
                "cpu" => m.cpu = v.parse().ok()?,
                "hwm_kib" => m.hwm_kib = v.parse().ok()?,
                "hwm_after_verify_kib" => m.hwm_after_verify_kib = v.parse().ok()?,
                "verify" => m.verify = v.parse().ok()?,
                "ok" => m.ok = v == "true",
                "got" => m.got = v.to_string(),
                "expected" => m.expected = v.to_string(),
                _ => {}
            }
        }
        Some(m)
    }
}

fn summary_text(s: &Summary) -> String {
    format!(
        "rows:{},sum_n:{},sum_s:{},checksum:{:016x},bad_mult:{}",
        s.rows, s.sum_n, s.sum_s, s.checksum, s.bad_multiplicity
    )
}

/// Peak resident set size so far, in KiB (`VmHWM`).
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (USER_HZ = 100 on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------
// Variant (a): Freshet

fn run_freshet(cfg: &Config, workers: usize) -> anyhow::Result<Measurement> {
    use freshet::compute::Command;
    use freshet::coord::{Coordinator, ExecuteResponse, Session};
    use freshet::expr::GlobalId;
    use freshet::repr::{Datum, Diff, Row};
    use freshet::sql::parse::parse_statements;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir =
            std::env::temp_dir().join(format!("freshet-bench-groupby-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let coord = Coordinator::start(&dir, workers).await?;
        let mut session = Session::default();
        let ddl = [
            "CREATE TABLE t (k bigint NOT NULL, v bigint NOT NULL)",
            "CREATE MATERIALIZED VIEW m AS SELECT k, count(*) AS n, sum(v) AS s FROM t GROUP BY k",
        ];
        for sql in ddl {
            for stmt in parse_statements(sql)? {
                coord.execute(&mut session, stmt, sql).await?;
            }
        }
        if std::env::var("FRESHET_BENCH_EXPLAIN").is_ok() {
            let sql = "EXPLAIN SELECT k, count(*) AS n, sum(v) AS s FROM t GROUP BY k";
            for stmt in parse_statements(sql)? {
                if let ExecuteResponse::Rows { rows, .. } =
                    coord.execute(&mut session, stmt, sql).await?
                {
                    for r in rows {
                        for d in r.iter() {
                            if let Datum::String(s) = d {
                                eprintln!("{s}");
                            }
                        }
                    }
                }
            }
        }
        let (table, view): (GlobalId, GlobalId) = {
            let state = coord.state.lock().await;
            let id = |name: &str| {
                state
                    .catalog
                    .items()
                    .find(|i| i.name == name)
                    .map(|i| i.id)
                    .ok_or_else(|| anyhow!("{name} is not in the catalog"))
            };
            (id("t")?, id("m")?)
        };
        // A key no row has: `Null` sorts before every bigint, so the peek
        // seeks once, finds nothing, and returns once `ts` is complete.
        let absent = Row::new(vec![Datum::Null]);

        let trace = std::env::var("FRESHET_BENCH_TRACE").is_ok();
        let mut generator = Generator::new(cfg);
        let mut batch: Vec<Update> = Vec::with_capacity(cfg.batch as usize);
        let mut in_flight: VecDeque<u64> = VecDeque::new();
        let mut last_ts = None;
        let (mut updates, mut batches) = (0u64, 0u64);
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        while generator.next_batch(&mut batch) {
            let rows: Vec<(GlobalId, Row, Diff)> = batch
                .iter()
                .map(|&(k, v, d)| {
                    (
                        table,
                        Row::new(vec![Datum::Int64(k as i64), Datum::Int64(v)]),
                        d,
                    )
                })
                .collect();
            updates += rows.len() as u64;
            batches += 1;
            let ts = coord.state.lock().await.oracle.write_ts();
            coord.compute.send(Command::Write {
                updates: rows,
                errors: Vec::new(),
                ts,
                worker: 0,
            });
            in_flight.push_back(ts);
            last_ts = Some(ts);
            while in_flight.len() > cfg.inflight {
                let t = in_flight.pop_front().unwrap_or_default();
                coord.compute.peek(view, t, Some(absent.clone())).await?;
                if trace {
                    eprintln!(
                        "freshet: batch {} complete at {:.3} s, VmHWM {} MiB",
                        batches as usize - in_flight.len(),
                        start.elapsed().as_secs_f64(),
                        vm_hwm_kib() / 1024
                    );
                }
            }
        }
        let last_ts = last_ts.ok_or_else(|| anyhow!("empty stream"))?;
        coord
            .compute
            .peek(view, last_ts, Some(absent.clone()))
            .await?;
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let hwm_kib = vm_hwm_kib();

        // The answer: a full read of the view at the last write timestamp.
        let verify_start = Instant::now();
        let rows = coord.compute.peek(view, last_ts, None).await?;
        let mut got = Summary::default();
        for (row, mult) in &rows {
            let int = |d: &Datum| -> anyhow::Result<i64> {
                match d {
                    Datum::Int64(x) => Ok(*x),
                    Datum::Numeric(x) => Ok(x.to_string().parse()?),
                    other => bail!("unexpected datum {other:?}"),
                }
            };
            let datums = row.unpack();
            let [k, n, s] = &datums[..] else {
                bail!("unexpected row {row:?}");
            };
            got.add_row(int(k)? as u64, int(n)?, int(s)?, *mult);
        }
        drop(rows);
        let verify = verify_start.elapsed().as_secs_f64();
        let expected = generator.expected();
        coord.compute.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Measurement {
            variant: "freshet".into(),
            workers,
            updates,
            batches,
            wall,
            cpu,
            hwm_kib,
            hwm_after_verify_kib: vm_hwm_kib(),
            verify,
            ok: got == expected,
            got: summary_text(&got),
            expected: summary_text(&expected),
        })
    })
}

// ---------------------------------------------------------------------------
// Variant (b): hand-written differential dataflow

type DdTime = u64;
type DdDiff = i64;
type OutSpine =
    differential_dataflow::trace::implementations::ValSpine<u64, (i64, i64), DdTime, DdDiff>;
type RowSpine = differential_dataflow::trace::implementations::ValSpine<
    freshet::repr::Row,
    freshet::repr::Row,
    DdTime,
    DdDiff,
>;

/// The reduce logic of the hand-written program: `(count, sum)` per key.
fn count_sum(_k: &u64, vals: &[(&i64, DdDiff)], out: &mut Vec<((i64, i64), DdDiff)>) {
    let (mut n, mut s) = (0i64, 0i64);
    for (v, d) in vals {
        n += d;
        s += **v * d;
    }
    if n != 0 {
        out.push(((n, s), 1));
    }
}

/// Reduces `(k, v)` by key to `(k, (n, s))`, keeping the output arrangement:
/// what `Collection::reduce` does (it then drops the arrangement).
fn reduce_count_sum<'s>(
    records: differential_dataflow::VecCollection<'s, DdTime, (u64, i64), DdDiff>,
) -> differential_dataflow::operators::arrange::Arranged<
    's,
    differential_dataflow::operators::arrange::TraceAgent<OutSpine>,
> {
    use differential_dataflow::trace::implementations::ValBuilder;
    records
        .arrange_by_key_named("Arrange: Reduce")
        .reduce_abelian::<_, ValBuilder<u64, (i64, i64), DdTime, DdDiff>, OutSpine, _, _>(
            "Reduce",
            count_sum,
            |vec, key: &u64, upds| {
                vec.clear();
                vec.extend(upds.drain(..).map(|(v, t, r)| ((*key, v), t, r)));
            },
        )
}

/// Sets both compaction frontiers of a trace.
fn compact_to<Tr>(trace: &mut Tr, frontier: DdTime)
where
    Tr: differential_dataflow::trace::TraceReader<Time = DdTime>,
{
    let f = timely::progress::Antichain::from_elem(frontier);
    trace.set_logical_compaction(f.borrow());
    trace.set_physical_compaction(f.borrow());
}

/// Reads a `(k, (n, s))` arrangement (this worker's shard).
fn read_native(
    trace: &mut differential_dataflow::operators::arrange::TraceAgent<OutSpine>,
) -> Summary {
    use differential_dataflow::trace::TraceReader;
    use differential_dataflow::trace::cursor::{Cursor, cursor_list};
    let mut upper = timely::progress::Antichain::new();
    trace.read_upper(&mut upper);
    let mut part = Summary::default();
    if let Some(batches) = trace.batches_through(upper.borrow()) {
        let (mut cursor, storage) = cursor_list(batches);
        while cursor.key_valid(&storage) {
            let k = *cursor.key(&storage);
            while cursor.val_valid(&storage) {
                let (n, s) = *cursor.val(&storage);
                let mut mult: DdDiff = 0;
                cursor.map_times(&storage, |_t, d| mult += *d);
                if mult != 0 {
                    part.add_row(k, n, s, mult);
                }
                cursor.step_val(&storage);
            }
            cursor.step_key(&storage);
        }
    }
    part
}

/// Reads a `[k] -> [n, s]` arrangement (this worker's shard).
fn read_rows(
    trace: &mut differential_dataflow::operators::arrange::TraceAgent<RowSpine>,
) -> Summary {
    use differential_dataflow::trace::TraceReader;
    use differential_dataflow::trace::cursor::{Cursor, cursor_list};
    use freshet::repr::Datum;
    let int = |d: &Datum| match d {
        Datum::Int64(x) => *x,
        _ => i64::MIN,
    };
    let mut upper = timely::progress::Antichain::new();
    trace.read_upper(&mut upper);
    let mut part = Summary::default();
    if let Some(batches) = trace.batches_through(upper.borrow()) {
        let (mut cursor, storage) = cursor_list(batches);
        while cursor.key_valid(&storage) {
            let k = int(&cursor.key(&storage).get(0).unwrap_or_default()) as u64;
            while cursor.val_valid(&storage) {
                let v = cursor.val(&storage);
                let (n, s) = (
                    int(&v.get(0).unwrap_or_default()),
                    int(&v.get(1).unwrap_or_default()),
                );
                let mut mult: DdDiff = 0;
                cursor.map_times(&storage, |_t, d| mult += *d);
                if mult != 0 {
                    part.add_row(k, n, s, mult);
                }
                cursor.step_val(&storage);
            }
            cursor.step_key(&storage);
        }
    }
    part
}

/// One timely worker's loop. Worker 0 feeds each batch from `rx` into
/// `input` at its own timestamp (batch `i` at time `i`) and reports how many
/// batches are complete on `done`; every worker steps until the output is
/// complete, compacting its traces (`compact`) to the latest complete time.
fn drive_worker<D: differential_dataflow::Data>(
    worker: &mut timely::worker::Worker,
    mut input: Option<differential_dataflow::input::InputSession<DdTime, D, DdDiff>>,
    rx: Option<mpsc::Receiver<Vec<Update>>>,
    done: Option<mpsc::Sender<u64>>,
    probe: &timely::dataflow::operators::probe::Handle<DdTime>,
    mut compact: impl FnMut(DdTime),
    make: impl Fn(u64, i64) -> D,
) {
    if rx.is_none() {
        input = None; // only worker 0 feeds data
    }
    if let Some(d) = &done {
        let _ = d.send(0); // ready
    }
    let mut fed: DdTime = 0;
    let mut reported: Option<DdTime> = Some(0);
    loop {
        if let (Some(rx), Some(inp)) = (&rx, input.as_mut()) {
            loop {
                match rx.try_recv() {
                    Ok(batch) => {
                        for (k, v, d) in batch {
                            inp.update(make(k, v), d);
                        }
                        fed += 1;
                        inp.advance_to(fed);
                        inp.flush();
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        input = None;
                        break;
                    }
                }
            }
        }
        worker.step_or_park(Some(Duration::from_millis(1)));
        let frontier = probe.with_frontier(|f| f.first().copied());
        if frontier != reported {
            reported = frontier;
            // Keep no history: reads only happen at the latest time.
            if let Some(t) = frontier {
                compact(t.saturating_sub(1));
            }
            if let Some(d) = &done {
                let _ = d.send(frontier.unwrap_or(DdTime::MAX).min(fed));
            }
        }
        if frontier.is_none() {
            break;
        }
    }
}

fn run_dd(cfg: &Config, workers: usize, variant: &str) -> anyhow::Result<Measurement> {
    use differential_dataflow::input::Input;
    use differential_dataflow::operators::CountTotal;
    use freshet::repr::{Datum, Row};
    use timely::dataflow::operators::Probe;

    // Driver → worker 0: batches. Worker 0 → driver: batches completed.
    let (batch_tx, batch_rx) = mpsc::channel::<Vec<Update>>();
    let (done_tx, done_rx) = mpsc::channel::<u64>();
    let batch_rx = Arc::new(Mutex::new(Some(batch_rx)));
    let done_tx = Arc::new(Mutex::new(Some(done_tx)));
    let worker0 = Arc::new(Mutex::new(None::<std::thread::Thread>));
    let partials = Arc::new(Mutex::new(Vec::<Summary>::new()));

    let guards = {
        let (batch_rx, done_tx, worker0, partials) = (
            batch_rx.clone(),
            done_tx.clone(),
            worker0.clone(),
            partials.clone(),
        );
        let variant = variant.to_string();
        timely::execute(timely::Config::process(workers), move |worker| {
            let (rx, done) = if worker.index() == 0 {
                *worker0.lock().unwrap() = Some(std::thread::current());
                (
                    batch_rx.lock().unwrap().take(),
                    done_tx.lock().unwrap().take(),
                )
            } else {
                (None, None)
            };
            let part = match variant.as_str() {
                "dd-reduce" | "dd-count_total" => {
                    let count_total = variant == "dd-count_total";
                    let (input, probe, mut trace) = worker.dataflow::<DdTime, _, _>(|scope| {
                        let (input, records) = scope.new_collection::<(u64, i64), DdDiff>();
                        let arranged = if count_total {
                            records
                                .explode(|(k, v)| Some((k, (1i64, v))))
                                .count_total_core::<DdDiff>()
                                .arrange_by_key()
                        } else {
                            reduce_count_sum(records)
                        };
                        let (probe, _) = arranged.stream.probe();
                        (input, probe, arranged.trace)
                    });
                    drive_worker(worker, Some(input), rx, done, &probe, |t| compact_to(&mut trace, t), |k, v| (k, v));
                    read_native(&mut trace)
                }
                "dd-freshet-plan" => {
                    // Freshet's plan shape with native types: the table is
                    // arranged in its own dataflow; the view's dataflow
                    // imports it, reduces (2 arrangements) and arranges the
                    // result again.
                    let (input, mut table) = worker.dataflow::<DdTime, _, _>(|scope| {
                        let (input, records) = scope.new_collection::<(u64, i64), DdDiff>();
                        (input, records.map(|r| (r, ())).arrange_by_key().trace)
                    });
                    let (probe, mut trace) = worker.dataflow::<DdTime, _, _>(|scope| {
                        let rows = table.import(scope).as_collection(|r: &(u64, i64), _: &()| *r);
                        let view = reduce_count_sum(rows)
                            .as_collection(|k: &u64, v: &(i64, i64)| (*k, *v))
                            .map(|(k, (n, s))| (k, (n, s)))
                            .arrange_by_key();
                        let (probe, _) = view.stream.probe();
                        (probe, view.trace)
                    });
                    drive_worker(
                        worker,
                        Some(input),
                        rx,
                        done,
                        &probe,
                        |t| {
                            compact_to(&mut trace, t);
                            compact_to(&mut table, t);
                        },
                        |k, v| (k, v),
                    );
                    read_native(&mut trace)
                }
                "dd-rows" => {
                    // The reference plan over Freshet's `Row`s: the table's
                    // rows `[k, v]`, keyed by `[k]`, reduced to `[n, s]`.
                    let (input, probe, mut trace) = worker.dataflow::<DdTime, _, _>(|scope| {
                        let (input, records) = scope.new_collection::<Row, DdDiff>();
                        let reduced = records
                            .map(|r: Row| (r.project(&[0]), r.project(&[1])))
                            .arrange_by_key_named("Arrange: Reduce")
                            .reduce_abelian::<_, differential_dataflow::trace::implementations::ValBuilder<Row, Row, DdTime, DdDiff>, RowSpine, _, _>(
                                "Reduce",
                                |_k: &Row, vals: &[(&Row, DdDiff)], out: &mut Vec<(Row, DdDiff)>| {
                                    let (mut n, mut s) = (0i64, 0i64);
                                    for (v, d) in vals {
                                        n += d;
                                        if let Some(Datum::Int64(x)) = v.get(0) {
                                            s += x * d;
                                        }
                                    }
                                    if n != 0 {
                                        out.push((Row::new(vec![Datum::Int64(n), Datum::Int64(s)]), 1));
                                    }
                                },
                                |vec, key: &Row, upds| {
                                    vec.clear();
                                    vec.extend(upds.drain(..).map(|(v, t, r)| ((key.clone(), v), t, r)));
                                },
                            );
                        let (probe, _) = reduced.stream.probe();
                        (input, probe, reduced.trace)
                    });
                    drive_worker(
                        worker,
                        Some(input),
                        rx,
                        done,
                        &probe,
                        |t| compact_to(&mut trace, t),
                        |k, v| Row::new(vec![Datum::Int64(k as i64), Datum::Int64(v)]),
                    );
                    read_rows(&mut trace)
                }
                other => panic!("unknown variant {other}"),
            };
            partials.lock().unwrap().push(part);
        })
        .map_err(|e| anyhow!("timely: {e}"))?
    };

    // Wait for the dataflows to be built before starting the clock.
    done_rx.recv().context("worker 0 stopped")?;
    let wake = || {
        if let Some(t) = worker0.lock().unwrap().as_ref() {
            t.unpark();
        }
    };
    let trace = std::env::var("FRESHET_BENCH_TRACE").is_ok();
    let mut generator = Generator::new(cfg);
    let mut batch: Vec<Update> = Vec::with_capacity(cfg.batch as usize);
    let (mut updates, mut batches, mut completed) = (0u64, 0u64, 0u64);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    while generator.next_batch(&mut batch) {
        updates += batch.len() as u64;
        batches += 1;
        batch_tx.send(std::mem::replace(
            &mut batch,
            Vec::with_capacity(cfg.batch as usize),
        ))?;
        wake();
        while batches - completed > cfg.inflight as u64 {
            completed = done_rx.recv().context("worker 0 stopped")?;
            if trace {
                eprintln!(
                    "{variant}: {completed} batches complete at {:.3} s, VmHWM {} MiB",
                    start.elapsed().as_secs_f64(),
                    vm_hwm_kib() / 1024
                );
            }
        }
    }
    while completed < batches {
        completed = done_rx.recv().context("worker 0 stopped")?;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let hwm_kib = vm_hwm_kib();
    let verify_start = Instant::now();
    drop(batch_tx);
    wake();
    guards.join();
    let mut got = Summary::default();
    for p in partials.lock().unwrap().iter() {
        got.merge(p);
    }
    let verify = verify_start.elapsed().as_secs_f64();
    let expected = generator.expected();
    Ok(Measurement {
        variant: variant.into(),
        workers,
        updates,
        batches,
        wall,
        cpu,
        hwm_kib,
        hwm_after_verify_kib: vm_hwm_kib(),
        verify,
        ok: got == expected,
        got: summary_text(&got),
        expected: summary_text(&expected),
    })
}

// ---------------------------------------------------------------------------
// The driver

fn run_child(cfg: &Config, variant: &str, workers: usize) -> anyhow::Result<()> {
    let m = match variant {
        "freshet" => run_freshet(cfg, workers)?,
        "dd-reduce" | "dd-count_total" | "dd-rows" | "dd-freshet-plan" => {
            run_dd(cfg, workers, variant)?
        }
        other => bail!("unknown variant {other}"),
    };
    println!("{}", m.to_line());
    if !m.ok {
        eprintln!(
            "CHECK FAILED for {variant} with {workers} worker(s):\n  got      {}\n  expected {}",
            m.got, m.expected
        );
        std::process::exit(2);
    }
    Ok(())
}

fn spawn_child(cfg: &Config, variant: &str, workers: usize) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe()?;
    let output = Process::new(exe)
        .arg("--child")
        .arg(variant)
        .arg(workers.to_string())
        .args(cfg.child_args())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let m = stdout.lines().find_map(Measurement::from_line);
    match m {
        Some(m) => Ok(m),
        None => bail!(
            "{variant} with {workers} worker(s) reported nothing ({}); output:\n{stdout}",
            output.status
        ),
    }
}

fn fmt_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else {
        format!("{:.0}k", x / 1e3)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let variant = args
            .get(1)
            .ok_or_else(|| anyhow!("--child VARIANT WORKERS"))?
            .clone();
        let workers: usize = args
            .get(2)
            .ok_or_else(|| anyhow!("--child VARIANT WORKERS"))?
            .parse()?;
        let cfg = Config::from_env_and_args(&args[3..], true)?;
        return run_child(&cfg, &variant, workers);
    }
    let full = args.iter().any(|a| a == "--bench");
    let cfg = Config::from_env_and_args(&args, full)?;
    if !full {
        println!("groupby: not run by `cargo bench` (no --bench): a quick correctness run");
    }
    let total = Generator::total_updates(&cfg);
    println!(
        "groupby: {} keys, {} updates ({} inserts + {} replacements × 2), {} batches of ≤{} updates, ≤{} in flight, seed {}{}",
        cfg.keys,
        total,
        cfg.keys,
        (cfg.updates - cfg.keys) / 2,
        Generator::total_batches(&cfg),
        cfg.batch - cfg.batch % 2,
        cfg.inflight,
        cfg.seed,
        if cfg.tamper {
            " (TAMPERED: checks must fail)"
        } else {
            ""
        }
    );
    // The generator alone, for reference: both variants pay it on the driver thread.
    {
        let mut g = Generator::new(&cfg);
        let mut b = Vec::with_capacity(cfg.batch as usize);
        let t = Instant::now();
        let mut n = 0u64;
        while g.next_batch(&mut b) {
            n += b.len() as u64;
        }
        println!(
            "generator alone: {:.3} s for {n} updates",
            t.elapsed().as_secs_f64()
        );
    }

    let mut results: Vec<Measurement> = Vec::new();
    let mut failed = false;
    for &w in &cfg.workers {
        for variant in &cfg.variants {
            let mut runs = Vec::new();
            for r in 0..cfg.repeat {
                eprintln!(
                    "running {variant} with {w} worker(s), run {}/{}...",
                    r + 1,
                    cfg.repeat
                );
                let m = spawn_child(&cfg, variant, w)?;
                eprintln!("  {}", m.to_line());
                if !m.ok {
                    failed = true;
                }
                runs.push(m);
            }
            runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
            results.push(runs[runs.len() / 2].clone());
        }
    }

    println!();
    println!(
        "| variant | workers | updates | wall s | updates/s | updates/s per worker | CPU s | updates per CPU-s | peak RSS MiB | check |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for m in &results {
        let rate = m.updates as f64 / m.wall;
        println!(
            "| {} | {} | {} | {:.2} | {} | {} | {:.1} | {} | {:.0} | {} |",
            m.variant,
            m.workers,
            m.updates,
            m.wall,
            fmt_rate(rate),
            fmt_rate(rate / m.workers as f64),
            m.cpu,
            fmt_rate(m.updates as f64 / m.cpu.max(1e-9)),
            m.hwm_kib as f64 / 1024.0,
            if m.ok { "ok" } else { "FAILED" }
        );
    }
    println!();
    for &w in &cfg.workers {
        let find = |v: &str| results.iter().find(|m| m.variant == v && m.workers == w);
        let plural = if w == 1 { "" } else { "s" };
        let ratio = |a: &Measurement, b: &Measurement| {
            println!(
                "ratio {} / {} ({w} worker{plural}): throughput {:.3}×, CPU per update {:.2}×, peak RSS {:.2}×",
                a.variant,
                b.variant,
                b.wall / a.wall,
                (a.cpu / a.updates as f64) / (b.cpu / b.updates as f64).max(1e-12),
                a.hwm_kib as f64 / b.hwm_kib.max(1) as f64
            )
        };
        if let Some(base) = find("dd-reduce") {
            for v in ["freshet", "dd-count_total", "dd-rows", "dd-freshet-plan"] {
                if let Some(m) = find(v) {
                    ratio(m, base);
                }
            }
        }
        if let (Some(f), Some(b)) = (find("freshet"), find("dd-count_total")) {
            ratio(f, b);
        }
    }
    if failed {
        bail!("a variant computed a wrong answer");
    }
    Ok(())
}
