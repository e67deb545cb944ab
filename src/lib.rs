//! Freshet: a streaming SQL database. It maintains SQL views over changing
//! data incrementally, with differential dataflow, and serves them over the
//! PostgreSQL wire protocol.
//!
//! Modules in the order a statement travels through them:
//!
//! * [`pgwire`]: the PostgreSQL wire protocol front end (sessions, encodings).
//! * [`coord`]: the coordinator: sequences statements, assigns timestamps,
//!   owns the catalog and durable state.
//! * [`sql`] (crate `freshet-sql`): parsing, planning with DataFusion, and
//!   lowering to [`expr`].
//! * [`expr`] (crate `freshet-expr`): Freshet's scalar and relational IR and its evaluator.
//! * [`compute`]: timely workers rendering the IR into differential dataflow.
//! * [`storage`]: the durable store, and sources (load generators).
//! * [`catalog`]: schemas, the items in them (tables, views, indexes,
//!   sources, ...), and name resolution through the `search_path`.
//! * [`repr`] (crate `freshet-repr`): values, rows, types.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod compute;
pub mod coord;
pub mod pgwire;
pub mod storage;

// The lower layers are crates of their own (crates/), compiled apart from
// this one; their old paths (`crate::repr::Row`, `freshet::sql::...`) stay.
pub use freshet_expr as expr;
pub use freshet_repr as repr;
pub use freshet_sql as sql;
