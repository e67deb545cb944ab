//! [`Progress`]: how far the timely workers' dataflows have got with the
//! writes sent to them, for whoever decides when to write next.
//!
//! A Kafka source's reader uses it to coalesce: while the dataflows are
//! still working on writes older than the newest one, a new batch would
//! only queue behind two or more writes, so the reader keeps reading into
//! the batch it holds and commits and timestamps it once the dataflows are
//! *ready* for it (or the batch is full). Under load that turns many small
//! batches — each a durable commit and a timestamp the dataflows pay for —
//! into about one per write the dataflows process, without delaying
//! anything when the workers keep up. One write may be in progress: a
//! batch delivered then is committed while the dataflows work on that
//! write, and is waiting for them when they are done.
//!
//! The signal is each worker's *frontier*: the least upper of its installed
//! arrangements and subscriptions (its inputs' time when it has none), which
//! the worker publishes whenever it changes, before it parks. The dataflows
//! are ready when every worker's frontier has passed the timestamp of the
//! write before the newest one sent.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::repr::Timestamp;

/// The workers' progress against the writes sent to them.
///
/// # Invariants
///
/// The times after the last two writes sent and each worker's frontier
/// only grow, and the first of the two is before the second.
#[derive(Debug)]
pub struct Progress {
    /// The times after the write before the newest and after the newest
    /// one sent to the workers (`ts + 1`; 0 before there was one).
    sent: Mutex<(Timestamp, Timestamp)>,
    /// Per worker, the frontier it last published.
    frontiers: Mutex<Vec<Timestamp>>,
    /// Notified whenever a worker publishes a new frontier.
    advanced: Condvar,
}

impl Progress {
    /// Progress of `workers` workers that have seen no write.
    pub fn new(workers: usize) -> Progress {
        Progress {
            sent: Mutex::new((0, 0)),
            frontiers: Mutex::new(vec![0; workers.max(1)]),
            advanced: Condvar::new(),
        }
    }

    /// Records that a write at `ts` is being sent (before it is sent, so
    /// that nobody sees the workers caught up without it).
    pub fn sending(&self, ts: Timestamp) {
        let after = ts.saturating_add(1);
        if let Ok(mut sent) = self.sent.lock()
            && after > sent.1
        {
            *sent = (sent.1, after);
        }
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

    /// Whether every worker's dataflows are ready for another write: done
    /// with every write sent except perhaps the newest.
    pub fn ready(&self) -> bool {
        match self.frontiers.lock() {
            Ok(frontiers) => self.ready_with(&frontiers),
            // A worker panicked: nobody is catching up, do not wait.
            Err(_) => true,
        }
    }

    /// Waits up to `timeout` for the dataflows to be [`ready`](Self::ready)
    /// for another write; returns whether they are.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut frontiers) = self.frontiers.lock() else {
            return true;
        };
        loop {
            if self.ready_with(&frontiers) {
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

    fn ready_with(&self, frontiers: &[Timestamp]) -> bool {
        let Ok(sent) = self.sent.lock() else {
            return true;
        };
        frontiers.iter().all(|f| *f >= sent.0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn ready_once_every_worker_passes_the_write_before_the_newest() {
        let p = Progress::new(2);
        assert!(p.ready(), "nothing sent yet");
        p.sending(10);
        assert!(p.ready(), "one write may be in progress");
        p.sending(12);
        assert!(!p.ready(), "10 is not done");
        p.publish(0, 11);
        assert!(!p.ready(), "worker 1 is still at 0");
        p.publish(1, 11);
        assert!(p.ready(), "only the newest write, 12, is in progress");
        // Frontiers never go back, and an older write changes nothing.
        p.publish(1, 5);
        p.sending(9);
        assert!(p.ready());
        p.sending(15);
        assert!(!p.wait_ready(Duration::from_millis(1)));
    }

    #[test]
    fn a_waiter_wakes_when_the_frontier_passes() {
        let p = Arc::new(Progress::new(1));
        p.sending(7);
        p.sending(8);
        let worker = {
            let p = p.clone();
            std::thread::spawn(move || p.publish(0, 8))
        };
        assert!(p.wait_ready(Duration::from_secs(10)));
        worker.join().unwrap();
    }
}
