//! The clock that temporal filters need: time passes for views even when
//! nothing is written.
//!
//! Inputs advance only when written (`Command::Write` moves every input to
//! `ts + 1`), and reads happen at the last write's timestamp. A view with a
//! temporal filter (`mz_now()` in `WHERE`/`HAVING`) holds updates at future
//! times (a row's expiry); they take effect only when the frontier passes
//! them. So, while any such dataflow is installed, the coordinator ticks
//! like Materialize's table advancement: every [`TICK`] it writes nothing
//! at a new timestamp (the wall clock's millisecond), which advances every
//! input, hence every dataflow's frontier and every SUBSCRIBE; and a read
//! that depends on time (it calls `mz_now()`, or a temporal dataflow
//! exists) first advances time to now, so that it sees exactly the rows
//! valid at its read timestamp.

use std::sync::Arc;
use std::time::Duration;

use crate::compute::Command;
use crate::expr::RelationExpr;
use crate::repr::Timestamp;

use super::{CoordState, Coordinator};

/// How often time advances while temporal dataflows exist (Materialize
/// advances its tables once a second).
pub const TICK: Duration = Duration::from_secs(1);

/// Milliseconds since the Unix epoch, now.
fn wall_clock_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Timestamp)
        .unwrap_or(0)
}

impl Coordinator {
    /// Advances every input to the wall clock's current millisecond (an
    /// empty write) when that is later than the last write, and returns
    /// the read timestamp: now, or the last write if that is later.
    pub(crate) fn advance_to_now(&self, state: &mut CoordState) -> Timestamp {
        if wall_clock_ms() > state.oracle.read_ts() {
            let ts = state.oracle.write_ts();
            self.compute.send(Command::Write {
                updates: Vec::new(),
                errors: Vec::new(),
                ts,
                worker: 0,
            });
        }
        state.oracle.read_ts()
    }

    /// The timestamp to read `expr` at: the current time when the answer
    /// depends on it (the plan calls `mz_now()`, or it reads a collection
    /// while a temporal dataflow is installed), else the last write's
    /// timestamp. (`INSERT ... VALUES` reads nothing and does not advance
    /// time.)
    pub(crate) fn read_ts_for(&self, state: &mut CoordState, expr: &RelationExpr) -> Timestamp {
        let reads_collections = || {
            let mut ids = Vec::new();
            expr.depends_on(&mut ids);
            !ids.is_empty()
        };
        if (self.compute.has_temporal() && reads_collections()) || expr.calls_mz_now() {
            self.advance_to_now(state)
        } else {
            state.oracle.read_ts()
        }
    }

    /// Starts the task that advances time every [`TICK`] while temporal
    /// dataflows are installed.
    pub(crate) fn start_clock(self: &Arc<Self>) {
        let coord = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(coord) = coord.upgrade() else {
                    return;
                };
                if coord.compute.has_temporal() {
                    let mut state = coord.state.lock().await;
                    coord.advance_to_now(&mut state);
                }
            }
        });
    }
}
