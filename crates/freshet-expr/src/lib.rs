//! Freshet's own expression and relation IR, lowered from DataFusion's logical
//! plan and interpreted identically by one-shot SELECTs and maintained views.
//!
//! * [`scalar`]: row-at-a-time scalar expressions ([`ScalarExpr`]) and their
//!   evaluation with PostgreSQL semantics (overflow is an error, NULL follows
//!   three-valued logic).
//! * [`func`]: the built-in functions scalar expressions call.
//! * [`jsonb`]: the `jsonb` operators, functions and aggregates beyond
//!   `->`/`->>`.
//! * [`aggregate`]: aggregate functions and their evaluation over a group.
//! * [`window`]: window functions and their evaluation over a partition.
//! * [`temporal`]: `mz_now()` and temporal filters: the bounds in time that
//!   comparisons with `mz_now()` put on each row.
//! * [`monotonic`]: which plans only ever grow (over append-only inputs),
//!   and which aggregates fold over them.
//! * [`series`]: the values of `generate_series`.
//! * [`sequence`]: `nextval` and the other sequence functions, which call
//!   into the coordinator's sequences.
//! * [`relation`]: the relational IR ([`RelationExpr`]) that `compute` renders
//!   into differential dataflow.
//!
//! It depends only on [`freshet_repr`] among Freshet's crates.

#![forbid(unsafe_code)]

// The modules were `crate::expr` when they were part of the `freshet`
// crate, and still name themselves and `repr` so (not every
// alias is used in every build).
#[allow(unused_imports)]
use crate as expr;
#[allow(unused_imports)]
use freshet_repr as repr;

pub mod aggregate;
pub mod aggregate_stats;
pub mod array;
pub mod bitwise;
pub mod bytea_encoding;
pub mod date_trunc;
pub mod datetime_format;
pub mod error;
pub mod extract;
pub mod func;
pub mod json;
pub mod json_text;
pub mod jsonb;
pub mod monotonic;
pub mod number_format;
pub mod numeric_funcs;
pub mod numeric_math;
pub mod pg_datetime;
pub mod pg_scalar;
pub mod regex;
pub mod relation;
pub mod rounding;
pub mod scalar;
pub mod sequence;
pub mod series;
pub mod string_format;
pub mod temporal;
pub mod window;

pub use aggregate::{AggregateExpr, AggregateFunc};
pub use error::EvalError;
pub use relation::{GlobalId, JoinKind, RelationExpr, SortKey};
pub use scalar::ScalarExpr;
