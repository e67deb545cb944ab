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

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    freshet::sql::plan::install_panic_hook();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
