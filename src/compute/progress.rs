//! [`Progress`]: how far the timely workers' dataflows have got with the
//! writes sent to them, for whoever decides when to write next.
//!
//! A Kafka source's reader uses it to coalesce: while the dataflows are
//! still working on earlier writes, a new batch would only queue behind
//! them, so the reader keeps reading into the batch it holds and commits
//! and timestamps it once the dataflows have caught up (or the batch is
//! full). Under load that turns many small batches — each a durable commit
//! and a timestamp the dataflows pay for — into fewer larger ones, without
//! delaying anything when the workers keep up.
//!
//! The signal is each worker's *frontier*: the least upper of its installed
//! arrangements and subscriptions (its inputs' time when it has none), which
//! the worker publishes whenever it changes, before it parks. The dataflows
//! have caught up when every worker's frontier has passed the last write
//! timestamp sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::repr::Timestamp;

/// The workers' progress against the writes sent to them.
///
/// # Invariants
///
/// Both the time after the last write sent and each worker's frontier
/// only grow.
#[derive(Debug)]
pub struct Progress {
    /// The time after the last write sent to the workers (`ts + 1`; 0
    /// before the first).
    sent: AtomicU64,
    /// Per worker, the frontier it last published.
    frontiers: Mutex<Vec<Timestamp>>,
    /// Notified whenever a worker publishes a new frontier.
    advanced: Condvar,
}

impl Progress {
    /// Progress of `workers` workers that have seen no write.
    pub fn new(workers: usize) -> Progress {
        Progress {
            sent: AtomicU64::new(0),
            frontiers: Mutex::new(vec![0; workers.max(1)]),
            advanced: Condvar::new(),
        }
    }

    /// Records that a write at `ts` is being sent (before it is sent, so
    /// that nobody sees the workers caught up without it).
    pub fn sending(&self, ts: Timestamp) {
        self.sent.fetch_max(ts.saturating_add(1), Ordering::SeqCst);
    }

    /// Worker `worker`'s dataflows have done everything before `frontier`.
    pub fn publish(&self, worker: usize, frontier: Timestamp) {
        let Ok(mut frontiers) = self.frontiers.lock() else {
            return;
        };
        if let Some(f) = frontiers.get_mut(worker)
            && frontier > *f
        {
            *f = frontier;
            drop(frontiers);
            self.advanced.notify_all();
        }
    }

    /// Whether every worker's dataflows are done with every write sent.
    pub fn caught_up(&self) -> bool {
        match self.frontiers.lock() {
            Ok(frontiers) => self.caught_up_with(&frontiers),
            // A worker panicked: nobody is catching up, do not wait.
            Err(_) => true,
        }
    }

    /// Waits up to `timeout` for the dataflows to catch up with every write
    /// sent so far; returns whether they have.
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut frontiers) = self.frontiers.lock() else {
            return true;
        };
        loop {
            if self.caught_up_with(&frontiers) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            frontiers = match self.advanced.wait_timeout(frontiers, left) {
                Ok((f, _)) => f,
                Err(_) => return true,
            };
        }
    }

    fn caught_up_with(&self, frontiers: &[Timestamp]) -> bool {
        let sent = self.sent.load(Ordering::SeqCst);
        frontiers.iter().all(|f| *f >= sent)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn caught_up_once_every_worker_passes_the_last_write() {
        let p = Progress::new(2);
        assert!(p.caught_up(), "nothing sent yet");
        p.sending(10);
        assert!(!p.caught_up());
        p.publish(0, 11);
        assert!(!p.caught_up(), "worker 1 is still at 0");
        p.publish(1, 11);
        assert!(p.caught_up());
        // Frontiers never go back.
        p.publish(1, 5);
        assert!(p.caught_up());
        p.sending(12);
        assert!(!p.wait_caught_up(Duration::from_millis(1)));
    }

    #[test]
    fn a_waiter_wakes_when_the_frontier_passes() {
        let p = Arc::new(Progress::new(1));
        p.sending(7);
        let worker = {
            let p = p.clone();
            std::thread::spawn(move || p.publish(0, 8))
        };
        assert!(p.wait_caught_up(Duration::from_secs(10)));
        worker.join().unwrap();
    }
}
