//! The compute layer: timely workers that render [`RelationExpr`]s into
//! differential dataflows, maintain their arrangements, and answer peeks and
//! subscribes.
//!
//! * [`controller`]: the coordinator's handle on the workers; broadcasts
//!   [`Command`]s, gathers replies.
//! * [`worker`]: the loop each timely worker runs.
//! * [`progress`]: how far the workers' dataflows have got with the writes
//!   sent to them (Kafka readers coalesce batches while they lag).
//! * [`render`]: `RelationExpr` → differential operators.
//! * [`accumulate`]: `GROUP BY` with `count`/`sum` only, kept as a view's
//!   accumulators and read back as rows.
//! * [`monotonic`]: `GROUP BY` of `min`/`max` (and other folds) over an
//!   input that only grows, one running value per group.
//! * [`window`]: the rendering of window functions and `DISTINCT ON`.
//! * [`recursive`]: the rendering of `WITH RECURSIVE` as an iterative scope.
//! * [`temporal`]: the rendering of temporal filters (`mz_now()` bounds).
//!
//! [`RelationExpr`]: crate::expr::RelationExpr

pub mod accumulate;
pub mod controller;
pub mod input;
pub mod monotonic;
pub mod progress;
pub mod recursive;
pub mod render;
pub mod temporal;
pub mod window;
pub mod worker;

pub use controller::{ComputeController, SubscribeUpdate};
pub use worker::Command;
