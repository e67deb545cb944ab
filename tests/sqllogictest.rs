//! SQL logic test harness for Freshet (a `harness = false` test target).
//!
//! Every `sql-tests/**/*.slt` file is run against a freshly started `freshet` server (fresh
//! data directory, fresh port), once per mode:
//!
//! * `simple` — the `postgres` engine of `sqllogictest-engines` (simple query protocol, text
//!   results), records exactly as written;
//! * `extended` — the `postgres-extended` engine (extended protocol, binary results), records
//!   exactly as written;
//! * `incremental` — the oracle for incremental view maintenance: every plain query is turned into
//!   `CREATE MATERIALIZED VIEW slt_inc_N AS <query>`, created as early as possible (normally before
//!   the data it reads is inserted), and the query record is answered by `SELECT * FROM slt_inc_N`,
//!   compared with the same expected rows as a multiset.
//!
//! `main` prints one `PASS`/`FAIL <file> <mode>` line per run (with sqllogictest's error display
//! and the server's log tail on failure) and exits non-zero if any run failed.
//! Environment: `SLT_FILTER` (substring of the file path), `SLT_MODES` (comma-separated modes),
//! `SLT_RECORD_TIMEOUT_SECS`, `SLT_VERBOSE`, `SLT_KEEP_DATA`. Positional arguments (as passed by
//! `cargo test -- <filter>`) are further path-substring filters. See `sql-tests/README.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{IsTerminal, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqllogictest::{
    AsyncDB, Condition, Connection, Control, DBOutput, DefaultColumnType, Location, MakeConnection,
    QueryExpect, Record, RecordOutput, Runner, SortMode, StatementExpect, TestError, TestErrorKind,
    default_validator,
};
use sqllogictest_engines::postgres::{Extended, Postgres, PostgresConfig, Simple};
use tokio_postgres::config::SslMode;

/// Path of the server binary under test, provided by Cargo to integration tests.
const SERVER_BIN: &str = env!("CARGO_BIN_EXE_freshet");
/// Directory (relative to the crate root) that holds the `.slt` files.
const TEST_DIR: &str = "sql-tests";
/// Number of dataflow workers the server is started with.
const SERVER_WORKERS: &str = "2";
/// How long the server may take, after being spawned, to accept TCP connections, and again to
/// complete a PostgreSQL session startup.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval between readiness probes while the server starts.
const STARTUP_POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Default bound on the time a single record may take (override: `SLT_RECORD_TIMEOUT_SECS`).
const DEFAULT_RECORD_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on closing the client connections at the end of a run.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Number of server log lines printed with a failure.
const LOG_TAIL_LINES: usize = 50;
/// User name sent in the startup message.
const PG_USER: &str = "freshet";
/// Database name sent in the startup message.
const PG_DBNAME: &str = "freshet";
/// Marker comment that keeps a query out of incremental mode (it then runs as written).
const NOT_INCREMENTAL_MARKER: &str = "-- not-incremental";
/// sqllogictest's marker for volatile parts of expected output (see `default_validator`).
const IGNORE_MARKER: &str = "<slt:ignore>";
/// Labels in force for `skipif`/`onlyif` in the `incremental` mode: the mode label the harness
/// adds and the engine name of the `postgres` engine it uses.
const INCREMENTAL_LABELS: [&str; 2] = ["incremental", "postgres"];

/// A parsed sqllogictest record with the default column type letters (`I`, `T`, `R`, `?`).
type Rec = Record<DefaultColumnType>;

/// One of the three ways a file is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Simple query protocol, records as written.
    Simple,
    /// Extended query protocol with binary results, records as written.
    Extended,
    /// Queries answered by materialized views created before the data arrives.
    Incremental,
}

impl Mode {
    /// All modes, in the order they run for each file.
    const ALL: [Mode; 3] = [Mode::Simple, Mode::Extended, Mode::Incremental];

    /// The mode's name as used in `SLT_MODES`, in output, and as a `skipif`/`onlyif` label.
    fn name(self) -> &'static str {
        match self {
            Mode::Simple => "simple",
            Mode::Extended => "extended",
            Mode::Incremental => "incremental",
        }
    }

    /// Parses a mode name (case-insensitive).
    fn parse(name: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.name().eq_ignore_ascii_case(name))
    }
}

/// Settings taken from the environment and the command line.
struct Options {
    /// `SLT_FILTER`: a file runs only if its path contains this.
    env_filter: Option<String>,
    /// Positional arguments: a file runs only if its path contains one of them (if any given).
    arg_filters: Vec<String>,
    /// `SLT_MODES`: the modes to run, in canonical order.
    modes: Vec<Mode>,
    /// `SLT_RECORD_TIMEOUT_SECS`: bound on each record (and each view DDL statement).
    record_timeout: Duration,
    /// `SLT_VERBOSE`: print why each non-incrementalised query fell back to its original SQL.
    verbose: bool,
    /// `SLT_KEEP_DATA`: keep each run's scratch directory (data dir and server log).
    keep_data: bool,
    /// Colour sqllogictest's diffs (stdout is a terminal and `NO_COLOR` is unset).
    colorize: bool,
    /// `--list`: print the runs instead of executing them.
    list_only: bool,
    /// `--ignored`: libtest's "run only ignored tests"; nothing here is ignored, so run nothing.
    ignored_only: bool,
}

impl Options {
    /// Reads the options; fails on an unknown mode in `SLT_MODES` or a bad timeout.
    fn from_env_and_args() -> anyhow::Result<Options> {
        let env_filter = std::env::var("SLT_FILTER").ok().filter(|f| !f.is_empty());
        let modes = match std::env::var("SLT_MODES") {
            Ok(list) if !list.trim().is_empty() => {
                let mut wanted = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let mode = Mode::parse(name).with_context(|| {
                        format!("SLT_MODES: unknown mode {name:?} (expected simple, extended, incremental)")
                    })?;
                    wanted.push(mode);
                }
                Mode::ALL
                    .into_iter()
                    .filter(|m| wanted.contains(m))
                    .collect()
            }
            _ => Mode::ALL.to_vec(),
        };
        let record_timeout = match std::env::var("SLT_RECORD_TIMEOUT_SECS") {
            Ok(secs) => Duration::from_secs(
                secs.trim()
                    .parse()
                    .with_context(|| format!("SLT_RECORD_TIMEOUT_SECS: not a number: {secs:?}"))?,
            ),
            Err(_) => DEFAULT_RECORD_TIMEOUT,
        };
        let flag = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");

        // libtest-style arguments: positional filters; a few flags; flags that take a value
        // have it skipped so that it is not mistaken for a filter.
        let mut arg_filters = Vec::new();
        let mut list_only = false;
        let mut ignored_only = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" => list_only = true,
                "--ignored" => ignored_only = true,
                "--test-threads" | "--format" | "--color" | "--logfile" | "--skip" | "-Z" => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                a => arg_filters.push(a.to_string()),
            }
        }

        Ok(Options {
            env_filter,
            arg_filters,
            modes,
            record_timeout,
            verbose: flag("SLT_VERBOSE"),
            keep_data: flag("SLT_KEEP_DATA"),
            colorize: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            list_only,
            ignored_only,
        })
    }

    /// Whether the file at `path` (relative to the crate root) is selected by the filters.
    fn selects(&self, path: &str) -> bool {
        self.env_filter.as_deref().is_none_or(|f| path.contains(f))
            && (self.arg_filters.is_empty()
                || self.arg_filters.iter().any(|f| path.contains(f.as_str())))
    }
}

fn main() -> ExitCode {
    let opts = match Options::from_env_and_args() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("sqllogictest: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Relative paths keep file names in error locations short (`sql-tests/x.slt:12`).
    if let Err(e) = std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")) {
        eprintln!("sqllogictest: cannot enter the crate directory: {e}");
        return ExitCode::FAILURE;
    }
    let files = match find_slt_files(Path::new(TEST_DIR)) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("sqllogictest: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let files: Vec<String> = files.into_iter().filter(|f| opts.selects(f)).collect();

    if opts.list_only {
        for file in &files {
            for mode in &opts.modes {
                println!("{file}::{}: test", mode.name());
            }
        }
        return ExitCode::SUCCESS;
    }
    if opts.ignored_only || files.is_empty() || opts.modes.is_empty() {
        println!("sqllogictest: no files selected under {TEST_DIR}/");
        println!("0 passed, 0 failed");
        return ExitCode::SUCCESS;
    }

    println!(
        "running {} sqllogictest runs ({} files x {} modes)",
        files.len() * opts.modes.len(),
        files.len(),
        opts.modes.len()
    );
    let mut passed = 0usize;
    let mut failed: Vec<String> = Vec::new();
    for file in &files {
        let records = sqllogictest::parse_file::<DefaultColumnType>(file);
        for &mode in &opts.modes {
            let started = Instant::now();
            let outcome = match &records {
                Ok(records) => run_file_in_mode(file, mode, records.clone(), &opts),
                Err(e) => Err(e.to_string()),
            };
            let elapsed = started.elapsed().as_secs_f64();
            match outcome {
                Ok(report) => {
                    passed += 1;
                    println!(
                        "PASS {file} {} ({elapsed:.2}s){}",
                        mode.name(),
                        report.summary(file, &opts)
                    );
                }
                Err(message) => {
                    failed.push(format!("{file} {}", mode.name()));
                    println!("FAIL {file} {} ({elapsed:.2}s)", mode.name());
                    println!("{}", indent(message.trim_end()));
                }
            }
            let _ = std::io::stdout().flush();
        }
    }

    println!();
    if !failed.is_empty() {
        println!("failures:");
        for run in &failed {
            println!("    {run}");
        }
        println!();
    }
    println!("{passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Lists the `.slt` files under `dir` recursively, as sorted `/`-separated paths.
fn find_slt_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    if !dir.exists() {
        return Ok(files);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "slt") {
                let path = path
                    .to_str()
                    .with_context(|| format!("non-UTF-8 path {}", path.display()))?;
                files.push(path.replace('\\', "/"));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Indents every line of `text` by four spaces (for failure details under a FAIL line).
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// What a successful run has to tell besides "PASS".
#[derive(Default)]
struct RunReport {
    /// Set for the `incremental` mode only.
    incremental: Option<IncrementalStats>,
}

impl RunReport {
    /// The text appended to the PASS line of `file` (empty unless the run was incremental).
    fn summary(&self, file: &str, opts: &Options) -> String {
        match &self.incremental {
            Some(stats) => stats.summary(file, opts.verbose),
            None => String::new(),
        }
    }
}

/// Counts of how the incremental queries of a file were answered.
#[derive(Default)]
struct IncrementalStats {
    /// Queries eligible for incremental mode (reached before any `halt`).
    total: usize,
    /// Queries answered through their materialized view (or whose expected error it produced).
    incrementalised: usize,
    /// Queries that ran their original SQL instead: location and reason.
    fallbacks: Vec<(String, String)>,
}

impl IncrementalStats {
    /// One-line summary for `file`; with `verbose`, one further line per fallback with its
    /// reason. Fallback locations in `file` itself are shown as `line N`.
    fn summary(&self, file: &str, verbose: bool) -> String {
        let own_prefix = format!("{file}:");
        let short = |location: &str| match location.strip_prefix(&own_prefix) {
            Some(line) => format!("line {line}"),
            None => location.to_string(),
        };
        let mut out = format!(
            ": {}/{} queries ran incrementally",
            self.incrementalised, self.total
        );
        if !self.fallbacks.is_empty() {
            const SHOWN: usize = 8;
            let locations: Vec<String> = self
                .fallbacks
                .iter()
                .take(SHOWN)
                .map(|(location, _)| short(location))
                .collect();
            let more = if self.fallbacks.len() > SHOWN {
                ", ..."
            } else {
                ""
            };
            let _ = write!(
                out,
                ", {} not incrementalised ({}{more})",
                self.fallbacks.len(),
                locations.join(", ")
            );
            if verbose {
                for (location, reason) in &self.fallbacks {
                    let _ = write!(
                        out,
                        "\n    {}: {}",
                        short(location),
                        reason.trim().replace('\n', " ")
                    );
                }
            }
        }
        out
    }
}

/// Why a run failed.
enum Failure {
    /// A record did not produce what the file expects (sqllogictest's own error, with diff).
    Test(TestError),
    /// Anything else: a timeout, a panic, a failed harness statement.
    Harness(String),
}

impl Failure {
    /// Renders the failure for the terminal.
    fn render(&self, colorize: bool) -> String {
        match self {
            Failure::Test(e) => e.display(colorize).to_string(),
            Failure::Harness(message) => message.clone(),
        }
    }
}

impl From<TestError> for Failure {
    fn from(e: TestError) -> Self {
        Failure::Test(e)
    }
}

/// Runs one file in one mode against its own fresh server; `Err` holds the printable failure,
/// including the server's log tail.
fn run_file_in_mode(
    file: &str,
    mode: Mode,
    records: Vec<Rec>,
    opts: &Options,
) -> Result<RunReport, String> {
    let mut server = Server::start(&format!("{file}-{}", mode.name()), opts.keep_data)
        .map_err(|e| format!("could not start the server: {e:#}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("could not build a tokio runtime: {e}"))?;

    let config = pg_config(server.port);
    set_current_record(None);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            wait_until_accepting_sessions(&mut server, &config).await?;
            match mode {
                Mode::Extended => run_with_engine::<Extended>(mode, config, records, opts).await,
                Mode::Simple | Mode::Incremental => {
                    run_with_engine::<Simple>(mode, config, records, opts).await
                }
            }
        })
    }));
    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);

    let mut result = match outcome {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(failure)) => Err(failure.render(opts.colorize)),
        Err(panic) => Err(format!(
            "the harness panicked: {}\nat {}",
            panic_message(panic.as_ref()),
            current_record().unwrap_or_else(|| "(no record running)".to_string())
        )),
    };
    if let Some(status) = server.exit_status() {
        let crashed = format!("the freshet server exited during the run ({status})");
        result = Err(match result {
            Ok(_) => crashed,
            Err(message) => format!("{message}\n{crashed}"),
        });
    }
    result.map_err(|message| format!("{message}\n{}", server.log_tail_section()))
}

/// Extracts the message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Client configuration for the server listening on 127.0.0.1:`port`.
fn pg_config(port: u16) -> PostgresConfig {
    let mut config = PostgresConfig::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(PG_USER)
        .dbname(PG_DBNAME)
        .application_name("sqllogictest")
        .ssl_mode(SslMode::Disable)
        .connect_timeout(Duration::from_secs(10));
    config
}

/// Second readiness stage, after the port accepts TCP: polls until a PostgreSQL session can be
/// established (startup handshake up to ReadyForQuery), so that a server that binds its port
/// before it can serve sessions does not fail the first record.
async fn wait_until_accepting_sessions(
    server: &mut Server,
    config: &PostgresConfig,
) -> Result<(), Failure> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let error = match config.connect(tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                drop(client);
                let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, connection).await;
                return Ok(());
            }
            Err(e) => DbError::from(e),
        };
        if server.exit_status().is_some() || Instant::now() >= deadline {
            return Err(Failure::Harness(format!(
                "could not open a session on 127.0.0.1:{}: {error}",
                server.port
            )));
        }
        tokio::time::sleep(STARTUP_POLL_INTERVAL).await;
    }
}

/// Runs `records` in `mode` with the Postgres engine of protocol `P` (`Simple` or `Extended`),
/// then closes the connections.
async fn run_with_engine<P>(
    mode: Mode,
    config: PostgresConfig,
    records: Vec<Rec>,
    opts: &Options,
) -> Result<RunReport, Failure>
where
    P: Send + Sync + 'static,
    Postgres<P>: AsyncDB<ColumnType = DefaultColumnType, Error = tokio_postgres::Error>,
{
    let mut runner = Runner::new(move || {
        let config = config.clone();
        async move {
            Postgres::<P>::connect(config)
                .await
                .map(FreshetDb)
                .map_err(DbError::from)
        }
    });
    runner.add_label(mode.name());
    let timeout = opts.record_timeout;
    let result = match mode {
        Mode::Incremental => run_incremental(&mut runner, records, timeout)
            .await
            .map(|stats| RunReport {
                incremental: Some(stats),
            }),
        Mode::Simple | Mode::Extended => run_as_written(&mut runner, records, timeout)
            .await
            .map(|()| RunReport::default()),
    };
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, runner.shutdown_async()).await;
    result
}

/// A `sqllogictest-engines` Postgres engine whose errors display the server's message.
///
/// `tokio_postgres::Error`'s `Display` is only "db error" for server errors (the message is in
/// its `source()`), and sqllogictest matches `error <regex>` against `Display`; this wrapper
/// changes nothing but the error type (see [`DbError`]).
struct FreshetDb<P>(Postgres<P>);

/// A client error with its whole cause chain in `Display`, e.g.
/// `db error: ERROR: division by zero` (plus `DETAIL:`/`HINT:` lines when the server sends them),
/// and the SQLSTATE for `error (XXXXX)` expectations.
#[derive(Debug)]
struct DbError {
    message: String,
    sqlstate: Option<String>,
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        DbError {
            message,
            sqlstate: error.code().map(|state| state.code().to_string()),
        }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

#[async_trait::async_trait]
impl<P> AsyncDB for FreshetDb<P>
where
    P: Send + Sync + 'static,
    Postgres<P>: AsyncDB<ColumnType = DefaultColumnType, Error = tokio_postgres::Error>,
{
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        AsyncDB::run(&mut self.0, sql).await.map_err(DbError::from)
    }

    async fn shutdown(&mut self) {
        AsyncDB::shutdown(&mut self.0).await
    }

    fn engine_name(&self) -> &str {
        AsyncDB::engine_name(&self.0)
    }

    async fn sleep(duration: Duration) {
        <Postgres<P> as AsyncDB>::sleep(duration).await
    }

    async fn run_command(command: std::process::Command) -> std::io::Result<std::process::Output> {
        <Postgres<P> as AsyncDB>::run_command(command).await
    }

    fn error_sql_state(error: &DbError) -> Option<String> {
        error.sqlstate.clone()
    }
}

/// Runs the records one by one, stopping at the first failure or at a `halt` record
/// (what `Runner::run_multi_async` does, plus the per-record timeout).
async fn run_as_written<D, M>(
    runner: &mut Runner<D, M>,
    records: Vec<Rec>,
    timeout: Duration,
) -> Result<(), Failure>
where
    D: AsyncDB<ColumnType = DefaultColumnType>,
    M: MakeConnection<Conn = D>,
{
    for record in records {
        if matches!(record, Record::Halt { .. }) {
            break;
        }
        run_record(runner, record, timeout).await??;
    }
    Ok(())
}

/// Runs one record through the runner (conditions, substitution, connections, retries and result
/// checking are the runner's), bounded by `timeout`. The outer `Err` is a timeout; the inner
/// result is the runner's verdict.
async fn run_record<D, M>(
    runner: &mut Runner<D, M>,
    record: Rec,
    timeout: Duration,
) -> Result<Result<RecordOutput<DefaultColumnType>, TestError>, Failure>
where
    D: AsyncDB<ColumnType = DefaultColumnType>,
    M: MakeConnection<Conn = D>,
{
    let mut current = record_location(&record)
        .map_or_else(|| "(unknown location)".to_string(), |l| format_location(&l));
    if let Some(sql) = record_sql(&record) {
        let _ = write!(current, "\n[SQL] {sql}");
    }
    set_current_record(Some(current.clone()));
    tokio::time::timeout(timeout, runner.run_async(record))
        .await
        .map_err(|_| {
            Failure::Harness(format!(
                "timed out after {}s at {current}",
                timeout.as_secs()
            ))
        })
}

/// Location and SQL of the record being run, for reporting a panic (e.g. the extended engine's
/// `todo!()` on a result type it cannot decode) at the record that caused it.
static CURRENT_RECORD: Mutex<Option<String>> = Mutex::new(None);

/// Records which record is running (`None` between runs).
fn set_current_record(record: Option<String>) {
    *CURRENT_RECORD
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = record;
}

/// The record that was running, as set by [`set_current_record`].
fn current_record() -> Option<String> {
    CURRENT_RECORD
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The source location of a record, if it has one.
fn record_location(record: &Rec) -> Option<Location> {
    match record {
        Record::Statement { loc, .. }
        | Record::Query { loc, .. }
        | Record::System { loc, .. }
        | Record::Let { loc, .. }
        | Record::Sleep { loc, .. }
        | Record::Include { loc, .. }
        | Record::Subtest { loc, .. }
        | Record::Halt { loc }
        | Record::HashThreshold { loc, .. } => Some(loc.clone()),
        _ => None,
    }
}

/// The SQL text of a statement, query or let record.
fn record_sql(record: &Rec) -> Option<&str> {
    match record {
        Record::Statement { sql, .. } | Record::Query { sql, .. } | Record::Let { sql, .. } => {
            Some(sql)
        }
        _ => None,
    }
}

/// `file:line` of a location (without the include chain that `Location`'s `Display` adds).
fn format_location(location: &Location) -> String {
    format!("{}:{}", location.file(), location.line())
}

/// The first keyword of `sql`, upper-cased, skipping whitespace, comments and opening parentheses.
fn leading_keyword(sql: &str) -> String {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix('(') {
            rest = after;
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Whether a query record's SQL is eligible for incremental mode: a SELECT/WITH/VALUES/TABLE
/// query without the `-- not-incremental` marker.
fn is_incremental_sql(sql: &str) -> bool {
    !sql.to_ascii_lowercase().contains(NOT_INCREMENTAL_MARKER)
        && matches!(
            leading_keyword(sql).as_str(),
            "SELECT" | "WITH" | "VALUES" | "TABLE"
        )
}

/// Whether `record` is a `statement` record whose SQL is a DROP.
fn is_drop_statement(record: &Rec) -> bool {
    matches!(record, Record::Statement { sql, .. } if leading_keyword(sql) == "DROP")
}

/// Whether the runner would skip a record with these `skipif`/`onlyif` conditions, given the
/// labels in force (the runner's labels plus the engine name).
fn is_skipped(conditions: &[Condition], labels: &[&str]) -> bool {
    conditions.iter().any(|condition| match condition {
        Condition::OnlyIf { label } => !labels.contains(&label.as_str()),
        Condition::SkipIf { label } => labels.contains(&label.as_str()),
    })
}

/// How a successful `statement` record changes the explicit-transaction state:
/// `Some(true)` opens one, `Some(false)` ends it.
fn transaction_effect(record: &Rec) -> Option<bool> {
    let Record::Statement { sql, expected, .. } = record else {
        return None;
    };
    if matches!(expected, StatementExpect::Error(_)) {
        return None;
    }
    match leading_keyword(sql).as_str() {
        "BEGIN" | "START" => Some(true),
        // `ROLLBACK TO [SAVEPOINT] name` stays in the transaction.
        "ROLLBACK" if rolls_back_to_savepoint(sql) => None,
        "COMMIT" | "ROLLBACK" | "END" | "ABORT" => Some(false),
        _ => None,
    }
}

/// Whether a statement that starts with `ROLLBACK` is `ROLLBACK TO ...`.
fn rolls_back_to_savepoint(sql: &str) -> bool {
    sql.split_whitespace()
        .skip_while(|w| !w.eq_ignore_ascii_case("ROLLBACK"))
        .skip(1)
        .find(|w| !w.eq_ignore_ascii_case("WORK") && !w.eq_ignore_ascii_case("TRANSACTION"))
        .is_some_and(|w| w.eq_ignore_ascii_case("TO"))
}

/// Whether running `record` may change database state (so that a view that failed to be
/// created may succeed afterwards). Only such records are preceded by view-creation attempts.
fn may_change_state(record: &Rec) -> bool {
    matches!(
        record,
        Record::Statement { .. }
            | Record::Query { .. }
            | Record::System { .. }
            | Record::Let { .. }
            | Record::Sleep { .. }
    )
}

/// Validator for incrementalised queries: sqllogictest's `default_validator` applied to the
/// rows sorted on both sides, i.e. a multiset comparison (a view has no order). With
/// `<slt:ignore>` markers the expected text is a pattern, so it is left to the default as is.
fn multiset_validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    if expected.iter().any(|line| line.contains(IGNORE_MARKER)) {
        return default_validator(normalizer, actual, expected);
    }
    let mut actual_lines: Vec<String> = actual
        .iter()
        .map(|row| row.iter().map(normalizer).collect::<Vec<_>>().join(" "))
        .collect();
    actual_lines.sort();
    let actual_rows: Vec<Vec<String>> = actual_lines.into_iter().map(|line| vec![line]).collect();
    let mut expected_lines: Vec<String> = expected.iter().map(normalizer).collect();
    expected_lines.sort();
    default_validator(normalizer, &actual_rows, &expected_lines)
}

/// Validator for the other records of incremental mode: the harness's own `slt_inc_*` views
/// must not show up in what the file observes (say, `SHOW MATERIALIZED VIEWS`), so rows that
/// name one are dropped before `default_validator` compares.
fn hide_harness_views_validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    let visible: Vec<Vec<String>> = actual
        .iter()
        .filter(|row| !row.iter().any(|c| c.starts_with("slt_inc_")))
        .cloned()
        .collect();
    default_validator(normalizer, &visible, expected)
}

/// A query record of the file that incremental mode answers from a materialized view.
struct IncrementalQuery {
    /// Index of the query record in the file's record list.
    index: usize,
    /// The view is `slt_inc_<number>`; numbers count from 1 in file order.
    number: usize,
    /// The record's SQL, connection, conditions and location (used for the view DDL).
    sql: String,
    connection: Connection,
    conditions: Vec<Condition>,
    loc: Location,
    /// `query error` records create their view at the record itself, never early.
    expects_error: bool,
    /// Whether the view currently exists.
    created: bool,
    /// The error of the latest failed CREATE, for the fallback report.
    last_create_error: Option<String>,
}

impl IncrementalQuery {
    /// The view's name.
    fn view_name(&self) -> String {
        format!("slt_inc_{}", self.number)
    }

    /// The statement that creates the view.
    fn create_sql(&self) -> String {
        format!(
            "CREATE MATERIALIZED VIEW {} AS {}",
            self.view_name(),
            self.sql
        )
    }

    /// The query that reads the view in place of the original SQL.
    fn select_sql(&self) -> String {
        format!("SELECT * FROM {}", self.view_name())
    }

    /// A `statement` record running `sql` at this query's location, connection and conditions.
    fn statement(&self, sql: String, expected: StatementExpect) -> Rec {
        Record::Statement {
            loc: self.loc.clone(),
            conditions: self.conditions.clone(),
            connection: self.connection.clone(),
            sql,
            expected,
            retry: None,
        }
    }
}

/// Finds the incremental queries of a file: `query` records before the first `halt` whose SQL is
/// eligible and which the incremental runner would not skip.
fn find_incremental_queries(records: &[Rec]) -> Vec<IncrementalQuery> {
    let mut queries = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match record {
            Record::Halt { .. } => break,
            Record::Query {
                loc,
                conditions,
                connection,
                sql,
                expected,
                ..
            } if is_incremental_sql(sql) && !is_skipped(conditions, &INCREMENTAL_LABELS) => {
                queries.push(IncrementalQuery {
                    index,
                    number: queries.len() + 1,
                    sql: sql.clone(),
                    connection: connection.clone(),
                    conditions: conditions.clone(),
                    loc: loc.clone(),
                    expects_error: matches!(expected, QueryExpect::Error(_)),
                    created: false,
                    last_create_error: None,
                });
            }
            _ => {}
        }
    }
    queries
}

/// The message of a runner error without location and SQL when it wraps a database error.
fn error_text(error: &TestError) -> String {
    match error.kind() {
        TestErrorKind::Fail { err, .. } => err.to_string(),
        other => other.to_string(),
    }
}

/// The `incremental` mode: runs the file with every incremental query answered by its
/// materialized view (see the module docs and `sql-tests/README.md` for the rules).
async fn run_incremental<D, M>(
    runner: &mut Runner<D, M>,
    records: Vec<Rec>,
    timeout: Duration,
) -> Result<IncrementalStats, Failure>
where
    D: AsyncDB<ColumnType = DefaultColumnType>,
    M: MakeConnection<Conn = D>,
{
    runner.with_validator(hide_harness_views_validator);
    let mut queries = find_incremental_queries(&records);
    let position: HashMap<usize, usize> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.index, i))
        .collect();
    let mut stats = IncrementalStats {
        total: queries.len(),
        ..IncrementalStats::default()
    };
    // Database state may have changed since the last round of view-creation attempts.
    let mut dirty = true;
    // Inside an explicit transaction no view DDL is attempted: a failing CREATE would abort it.
    let mut in_transaction = false;
    // The sort mode set by `control sortmode`, which applies to records without their own.
    let mut control_sort_mode: Option<SortMode> = None;

    for (index, record) in records.into_iter().enumerate() {
        match &record {
            Record::Halt { .. } => break,
            Record::Control(Control::SortMode(mode)) => control_sort_mode = Some(*mode),
            _ => {}
        }

        if is_drop_statement(&record) {
            drop_views(runner, &mut queries, &record, timeout).await?;
            run_record(runner, record, timeout).await??;
            dirty = true;
            continue;
        }

        if dirty && !in_transaction && may_change_state(&record) {
            create_pending_views(runner, &mut queries, index, timeout).await?;
            dirty = false;
        }

        if let Some(&i) = position.get(&index) {
            let query = &mut queries[i];
            let context = QueryContext {
                in_transaction,
                control_sort_mode,
                timeout,
            };
            run_incremental_query(runner, query, record, context, &mut stats).await?;
            continue;
        }

        let effect = transaction_effect(&record);
        let changes_state = may_change_state(&record);
        run_record(runner, record, timeout).await??;
        dirty |= changes_state;
        if let Some(open) = effect {
            in_transaction = open;
        }
    }
    Ok(stats)
}

/// Tries to create the view of every eligible query at or after record `index` that does not
/// have one yet (except `query error` records). A failed CREATE is remembered and retried later.
async fn create_pending_views<D, M>(
    runner: &mut Runner<D, M>,
    queries: &mut [IncrementalQuery],
    index: usize,
    timeout: Duration,
) -> Result<(), Failure>
where
    D: AsyncDB<ColumnType = DefaultColumnType>,
    M: MakeConnection<Conn = D>,
{
    for query in queries
        .iter_mut()
        .filter(|q| q.index >= index && !q.created && !q.expects_error)
    {
        let create = query.statement(query.create_sql(), StatementExpect::Ok);
        match run_record(runner, create, timeout).await? {
            Ok(RecordOutput::Nothing) => {}
            Ok(_) => {
                query.created = true;
                query.last_create_error = None;
            }
            Err(error) => query.last_create_error = Some(error_text(&error)),
        }
    }
    Ok(())
}

/// Drops every incremental view created so far (before a DROP statement of the file, which the
/// views might otherwise block). Views of queries still ahead are re-created later.
async fn drop_views<D, M>(
    runner: &mut Runner<D, M>,
    queries: &mut [IncrementalQuery],
    drop_record: &Rec,
    timeout: Duration,
) -> Result<(), Failure>
where
    D: AsyncDB<ColumnType = DefaultColumnType>,
    M: MakeConnection<Conn = D>,
{
    let Record::Statement {
        loc, connection, ..
    } = drop_record
    else {
        return Ok(());
    };
    for query in queries.iter_mut().filter(|q| q.created) {
        let drop = Record::Statement {
            loc: loc.clone(),
            conditions: Vec::new(),
            connection: connection.clone(),
            sql: format!(
                "DROP MATERIALIZED VIEW IF EXISTS {} CASCADE",
                query.view_name()
            ),
            expected: StatementExpect::Ok,
            retry: None,
        };
        run_record(runner, drop, timeout).await??;
        query.created = false;
    }
    Ok(())
}

/// State of the incremental run that the handling of one query record needs.
#[derive(Clone, Copy)]
struct QueryContext {
    /// Whether an explicit transaction is open.
    in_transaction: bool,
    /// The sort mode set by `control sortmode`, if any.
    control_sort_mode: Option<SortMode>,
    /// Per-record timeout.
    timeout: Duration,
}

/// Runs one incremental query record: from its view if there is one, by CREATE-then-SELECT for
/// `query error` records, or else as written (counted as not incrementalised).
async fn run_incremental_query<D, M>(
    runner: &mut Runner<D, M>,
    query: &mut IncrementalQuery,
    record: Rec,
    context: QueryContext,
    stats: &mut IncrementalStats,
) -> Result<(), Failure>
where
    D: AsyncDB<ColumnType = DefaultColumnType>,
    M: MakeConnection<Conn = D>,
{
    let timeout = context.timeout;
    let Record::Query {
        loc,
        conditions,
        connection,
        expected,
        retry,
        ..
    } = &record
    else {
        unreachable!("incremental queries are query records");
    };
    let location = format_location(loc);

    match expected {
        QueryExpect::Error(expected_error) => {
            if context.in_transaction {
                stats
                    .fallbacks
                    .push((location, "inside an explicit transaction".to_string()));
                run_record(runner, record, timeout).await??;
                return Ok(());
            }
            let create = query.statement(
                query.create_sql(),
                StatementExpect::Error(expected_error.clone()),
            );
            match run_record(runner, create, timeout).await? {
                // The CREATE failed with the expected error.
                Ok(_) => {}
                // The CREATE succeeded: the expected error must then come from reading the view.
                Err(error) if matches!(error.kind(), TestErrorKind::Ok { .. }) => {
                    query.created = true;
                    let select = Record::Query {
                        loc: loc.clone(),
                        conditions: conditions.clone(),
                        connection: connection.clone(),
                        sql: query.select_sql(),
                        expected: QueryExpect::Error(expected_error.clone()),
                        retry: retry.clone(),
                    };
                    run_record(runner, select, timeout).await??;
                }
                // The CREATE failed, but not with the expected error.
                Err(error) => return Err(Failure::Test(error)),
            }
            stats.incrementalised += 1;
        }
        QueryExpect::Results {
            types,
            sort_mode,
            result_mode,
            label,
            results,
        } => {
            if !query.created {
                let reason = if context.in_transaction {
                    "inside an explicit transaction".to_string()
                } else {
                    query
                        .last_create_error
                        .clone()
                        .unwrap_or_else(|| "view was never attempted".to_string())
                };
                stats.fallbacks.push((location, reason));
                run_record(runner, record, timeout).await??;
                return Ok(());
            }
            // A view has no order: compare as a multiset. `valuesort` results are already listed
            // sorted value by value, so that mode is kept; any other mode becomes `rowsort`.
            let forced_sort_mode = match sort_mode.or(context.control_sort_mode) {
                Some(SortMode::ValueSort) => SortMode::ValueSort,
                _ => SortMode::RowSort,
            };
            let mut results = results.clone();
            if !results.iter().any(|line| line.contains(IGNORE_MARKER)) {
                // Only for a readable diff; the multiset validator sorts both sides anyway.
                results.sort();
            }
            let select = Record::Query {
                loc: loc.clone(),
                conditions: conditions.clone(),
                connection: connection.clone(),
                sql: query.select_sql(),
                expected: QueryExpect::Results {
                    types: types.clone(),
                    sort_mode: Some(forced_sort_mode),
                    result_mode: *result_mode,
                    label: label.clone(),
                    results,
                },
                retry: retry.clone(),
            };
            runner.with_validator(multiset_validator);
            let outcome = run_record(runner, select, timeout).await;
            runner.with_validator(hide_harness_views_validator);
            outcome??;
            stats.incrementalised += 1;
        }
    }
    Ok(())
}

/// A scratch directory under the system temp dir, removed on drop (unless kept for debugging).
struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    /// Creates a fresh, empty directory whose name contains `hint` (sanitised).
    fn create(hint: &str, keep: bool) -> anyhow::Result<ScratchDir> {
        static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
        let hint: String = hint
            .trim_start_matches(TEST_DIR)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!(
            "freshet-slt-{}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            hint.trim_matches('_')
        );
        let path = std::env::temp_dir().join(name);
        if path.exists() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("removing stale {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path, keep })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.keep {
            println!("    (kept {})", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A running `freshet` server child process; killed (and its scratch directory removed) on drop,
/// including during a panic.
struct Server {
    child: Child,
    /// Port on 127.0.0.1 the server listens on.
    port: u16,
    /// File receiving the server's stdout and stderr.
    log_path: PathBuf,
    /// Holds the data directory and the log; declared after `child` so it is removed after the
    /// child is killed.
    _scratch: ScratchDir,
}

impl Server {
    /// Starts `freshet --listen 127.0.0.1:<free port> --data-dir <fresh dir> --workers 2` and
    /// waits until the port accepts TCP connections. On failure the error includes the log tail.
    fn start(hint: &str, keep_data: bool) -> anyhow::Result<Server> {
        let scratch = ScratchDir::create(hint, keep_data)?;
        let data_dir = scratch.path.join("data");
        fs::create_dir(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let log_path = scratch.path.join("server.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let port = free_port()?;

        let mut command = Command::new(SERVER_BIN);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--workers")
            .arg(SERVER_WORKERS)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if std::env::var_os("RUST_BACKTRACE").is_none() {
            command.env("RUST_BACKTRACE", "1");
        }
        let child = command
            .spawn()
            .with_context(|| format!("spawning {SERVER_BIN}"))?;

        let mut server = Server {
            child,
            port,
            log_path,
            _scratch: scratch,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Polls the port until it accepts a TCP connection, failing early if the child exits.
    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                bail!(
                    "freshet exited during startup ({status})\n{}",
                    self.log_tail_section()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(250)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "freshet did not accept connections on {address} within {}s\n{}",
                    STARTUP_TIMEOUT.as_secs(),
                    self.log_tail_section()
                );
            }
            std::thread::sleep(STARTUP_POLL_INTERVAL);
        }
    }

    /// The child's exit status if it has exited.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last [`LOG_TAIL_LINES`] lines of the server's output, with a header line.
    fn log_tail_section(&self) -> String {
        let log =
            fs::read(&self.log_path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        match log {
            Ok(text) if text.trim().is_empty() => {
                format!("--- server log {} is empty ---", self.log_path.display())
            }
            Ok(text) => {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                format!(
                    "--- server log (last {} of {} lines of {}) ---\n{}\n--- end of server log ---",
                    tail.len(),
                    lines.len(),
                    self.log_path.display(),
                    tail.join("\n")
                )
            }
            Err(e) => format!(
                "--- server log {} unreadable: {e} ---",
                self.log_path.display()
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, release it).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
