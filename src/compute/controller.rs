//! [`ComputeController`]: the coordinator's handle on the timely workers.
//! It sends every command to every worker in one order; a write's data goes
//! to the one worker it is addressed to, the others get its timestamp.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::Thread;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::expr::{EvalError, GlobalId};
use crate::repr::{Diff, Row, Timestamp};

use super::progress::Progress;
use super::worker::{Command, PeekResult, WorkerSubscribeBatch, run_worker};

/// Broadcasts commands to every worker and gathers their replies.
pub struct ComputeController {
    senders: Vec<Mutex<Sender<Command>>>,
    threads: Arc<Mutex<Vec<Option<Thread>>>>,
    workers: usize,
    next_subscribe: std::sync::atomic::AtomicU64,
    /// The installed dataflows with temporal filters, for which time must
    /// pass even without writes (`coord/clock.rs`).
    temporal: Mutex<std::collections::BTreeSet<GlobalId>>,
    /// How far the workers' dataflows have got with the writes sent.
    progress: Arc<Progress>,
    _guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
}

/// Updates of a subscribe that are complete: all updates at times before
/// `upper`, sorted by time.
#[derive(Debug)]
pub struct SubscribeUpdate {
    /// `(row, time, diff)`, in time order.
    pub updates: Vec<(Row, Timestamp, Diff)>,
    /// Every later update has a time at or after this; `None` when the
    /// subscribed collection will never change again.
    pub upper: Option<Timestamp>,
}

impl ComputeController {
    /// Starts `workers` timely worker threads.
    pub fn start(workers: usize) -> Result<ComputeController, String> {
        let workers = workers.max(1);
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = std::sync::mpsc::channel();
            senders.push(Mutex::new(tx));
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(Mutex::new(receivers));
        let threads: Arc<Mutex<Vec<Option<Thread>>>> = Arc::new(Mutex::new(vec![None; workers]));
        let threads_for_workers = threads.clone();
        let progress = Arc::new(Progress::new(workers));
        let progress_for_workers = progress.clone();
        let guards = timely::execute(timely::Config::process(workers), move |worker| {
            let index = worker.index();
            if let Ok(mut t) = threads_for_workers.lock() {
                t[index] = Some(std::thread::current());
            }
            let rx = receivers.lock().ok().and_then(|mut r| r[index].take());
            if let Some(rx) = rx {
                run_worker(worker, rx, &progress_for_workers);
            }
        })?;
        Ok(ComputeController {
            senders,
            threads,
            workers,
            next_subscribe: std::sync::atomic::AtomicU64::new(1),
            temporal: Mutex::new(Default::default()),
            progress,
            _guards: Mutex::new(Some(guards)),
        })
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether a dataflow with a temporal filter is installed.
    pub fn has_temporal(&self) -> bool {
        self.temporal.lock().is_ok_and(|t| !t.is_empty())
    }

    /// How far the workers' dataflows have got with the writes sent.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Sends `command` to every worker, in order, and wakes them.
    pub fn send(&self, command: Command) {
        match &command {
            Command::Write { ts, .. } => self.progress.sending(*ts),
            Command::CreateDataflow { id, plan, .. } if plan.calls_mz_now() => {
                if let Ok(mut t) = self.temporal.lock() {
                    t.insert(*id);
                }
            }
            Command::Drop { id } => {
                if let Ok(mut t) = self.temporal.lock() {
                    t.remove(id);
                }
            }
            _ => {}
        }
        // Only the addressed worker applies a write's updates: the others
        // get the timestamp alone, not a copy of the data.
        let (target, others) = match &command {
            Command::Write { ts, worker, .. } => (
                worker % self.workers,
                Command::Write {
                    updates: Vec::new(),
                    errors: Vec::new(),
                    ts: *ts,
                    worker: *worker,
                },
            ),
            other => (0, other.clone()),
        };
        let mut command = Some(command);
        for (i, s) in self.senders.iter().enumerate() {
            let c = if i == target {
                command.take()
            } else {
                Some(others.clone())
            };
            if let (Ok(s), Some(c)) = (s.lock(), c) {
                let _ = s.send(c);
            }
        }
        if let Ok(threads) = self.threads.lock() {
            for t in threads.iter().flatten() {
                t.unpark();
            }
        }
    }

    /// Reads arrangement `id` at `ts` (only `key`'s rows, if given).
    pub async fn peek(
        &self,
        id: GlobalId,
        ts: Timestamp,
        key: Option<Row>,
    ) -> Result<Vec<(Row, Diff)>, EvalError> {
        self.start_peek(id, ts, key).wait().await
    }

    /// Sends a peek and returns a handle to wait for its result. Sending
    /// it before any later write holds compaction back at `ts`, so the
    /// coordinator sends peeks while it still holds the lock under which it
    /// chose `ts`.
    pub fn start_peek(&self, id: GlobalId, ts: Timestamp, key: Option<Row>) -> PendingPeek {
        let (tx, rx) = unbounded_channel::<(usize, PeekResult)>();
        self.send(Command::Peek {
            id,
            ts,
            key,
            reply: tx,
        });
        PendingPeek {
            rx,
            workers: self.workers,
        }
    }
}

/// A peek sent to the workers, not yet answered.
pub struct PendingPeek {
    rx: UnboundedReceiver<(usize, PeekResult)>,
    workers: usize,
}

impl PendingPeek {
    /// Waits for every worker's shard and merges them.
    pub async fn wait(mut self) -> Result<Vec<(Row, Diff)>, EvalError> {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        let mut failure = None;
        for _ in 0..self.workers {
            match self.rx.recv().await {
                Some((_, Ok(mut shard))) => {
                    rows.append(&mut shard.rows);
                    errors.append(&mut shard.errors);
                }
                Some((_, Err(e))) => failure = Some(e),
                None => return Err(EvalError::Internal("compute worker stopped".into())),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        differential_dataflow::consolidation::consolidate(&mut errors);
        if let Some((e, _)) = errors.into_iter().find(|(_, d)| *d > 0) {
            return Err(e);
        }
        if self.workers > 1 {
            differential_dataflow::consolidation::consolidate(&mut rows);
        }
        Ok(rows)
    }
}

impl ComputeController {
    /// Starts a subscribe to arrangement `id`; returns its id (for
    /// [`ComputeController::drop_subscribe`]) and a stream of complete
    /// updates.
    pub fn subscribe(
        &self,
        id: GlobalId,
        as_of: Timestamp,
        snapshot: bool,
    ) -> (u64, SubscribeStream) {
        let subscribe_id = self
            .next_subscribe
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = unbounded_channel();
        self.send(Command::Subscribe {
            subscribe_id,
            id,
            as_of,
            snapshot,
            reply: tx,
        });
        (
            subscribe_id,
            SubscribeStream {
                rx,
                uppers: vec![Some(as_of); self.workers],
                pending: Vec::new(),
                emitted: None,
            },
        )
    }

    /// Stops a subscribe.
    pub fn drop_subscribe(&self, subscribe_id: u64) {
        self.send(Command::DropSubscribe { subscribe_id });
    }

    /// Stops the workers.
    pub fn shutdown(&self) {
        self.send(Command::Shutdown);
    }
}

/// Merges the subscribe batches of all workers into complete timestamps.
pub struct SubscribeStream {
    rx: UnboundedReceiver<WorkerSubscribeBatch>,
    uppers: Vec<Option<Timestamp>>,
    pending: Vec<(Row, Timestamp, Diff)>,
    emitted: Option<Option<Timestamp>>,
}

impl SubscribeStream {
    /// Waits for the next advance of the frontier common to all workers and
    /// returns the updates it completes. `Err` if the view hit an error;
    /// `Ok(None)` once nothing more will come.
    pub async fn next(&mut self) -> Result<Option<SubscribeUpdate>, EvalError> {
        loop {
            if self.emitted == Some(None) {
                return Ok(None);
            }
            let batch = match self.rx.recv().await {
                Some(b) => b,
                None => return Ok(None),
            };
            let mut updates = batch.updates?;
            self.pending.append(&mut updates);
            self.uppers[batch.worker] = batch.upper;
            // The common frontier: the least worker frontier (`None` is
            // the empty frontier, beyond every time).
            let upper = self
                .uppers
                .iter()
                .fold(None, |acc: Option<Option<Timestamp>>, u| {
                    Some(match (acc, u) {
                        (None, u) => *u,
                        (Some(None), u) => *u,
                        (Some(Some(a)), None) => Some(a),
                        (Some(Some(a)), Some(b)) => Some(a.min(*b)),
                    })
                });
            let upper = upper.unwrap_or(None);
            if self.emitted == Some(upper) {
                continue;
            }
            let (mut ready, rest): (Vec<_>, Vec<_>) = self
                .pending
                .drain(..)
                .partition(|(_, t, _)| upper.is_none_or(|u| *t < u));
            self.pending = rest;
            ready.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
            // Consolidate equal (row, time) pairs.
            let mut consolidated: Vec<(Row, Timestamp, Diff)> = Vec::with_capacity(ready.len());
            for (r, t, d) in ready {
                match consolidated.last_mut() {
                    Some(last) if last.0 == r && last.1 == t => last.2 += d,
                    _ => consolidated.push((r, t, d)),
                }
            }
            consolidated.retain(|u| u.2 != 0);
            self.emitted = Some(upper);
            return Ok(Some(SubscribeUpdate {
                updates: consolidated,
                upper,
            }));
        }
    }
}
