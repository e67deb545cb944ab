//! The `freshet` server binary.

use std::path::PathBuf;

use clap::Parser;

/// jemalloc: differential dataflow allocates and frees many small rows;
/// glibc malloc spends a third of the time in its own bookkeeping there.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freshet: a streaming SQL database with incrementally maintained views,
/// served over the PostgreSQL wire protocol.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The address to listen on for PostgreSQL clients.
    #[arg(long, default_value = "127.0.0.1:6875")]
    listen: String,
    /// The directory holding the durable store.
    #[arg(long, default_value = "./freshet-data")]
    data_dir: PathBuf,
    /// The number of timely worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

/// glibc's `mallopt` parameters (`malloc.h`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc_malloc {
    /// `M_TRIM_THRESHOLD`: free memory at the heap's top beyond which `free`
    /// hands it back to the kernel.
    pub const TRIM_THRESHOLD: i32 = -1;
    /// `M_MMAP_THRESHOLD`: allocations from this size on get their own
    /// mapping.
    pub const MMAP_THRESHOLD: i32 = -3;
    unsafe extern "C" {
        pub fn mallopt(param: i32, value: i32) -> i32;
    }
}

/// Keeps glibc malloc from handing memory back to the kernel after every
/// fetch. Rust code allocates through jemalloc, but librdkafka (C) uses
/// glibc's malloc: each fetch response's buffer and each message's
/// operation were allocated at the top of its heap, freed, trimmed away and
/// allocated again, so every fetch paid page faults on fresh, zeroed pages
/// (3 % of a source's CPU in the `kafka` bench, docs/benchmarks.md, session
/// 9). Up to 64 MiB of freed memory stay at each heap's top instead, and
/// buffers up to 32 MiB (librdkafka's fetch responses) come from the heap.
fn tune_glibc_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; it is called before any
    // other thread exists. A refused value leaves glibc's default.
    unsafe {
        glibc_malloc::mallopt(glibc_malloc::MMAP_THRESHOLD, 32 << 20);
        glibc_malloc::mallopt(glibc_malloc::TRIM_THRESHOLD, 64 << 20);
    }
}

fn main() -> anyhow::Result<()> {
    tune_glibc_malloc();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    freshet::sql::plan::install_panic_hook();
    let args = Args::parse();
    // Planning recurses over a statement's expressions (DataFusion's SQL
    // planner and optimizer); catalog functions expand into deep `CASE`
    // expressions, whose planning overflowed tokio's default 2 MiB worker
    // stack in debug builds.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build()?;
    runtime.block_on(async move {
        let coord = freshet::coord::Coordinator::start(&args.data_dir, args.workers)
            .await
            .map_err(|e| anyhow::anyhow!("starting: {e}"))?;
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        tracing::info!(
            "freshet listening on {} (data dir {}, {} workers)",
            listener.local_addr()?,
            args.data_dir.display(),
            args.workers
        );
        freshet::pgwire::serve(listener, coord).await?;
        Ok(())
    })
}
