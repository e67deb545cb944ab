//! The SQL layer: parsing statements (with Freshet's extensions to
//! sqlparser's grammar), planning queries with DataFusion's planner and
//! optimizer, and lowering DataFusion's logical plan into [`crate::expr`].
//!
//! * [`parse`]: statement splitting and Freshet-specific statements
//!   (`SUBSCRIBE`, `CREATE SOURCE ... FROM LOAD GENERATOR`, `SHOW ...`).
//! * [`plan`]: DataFusion planning against the catalog.
//! * [`lower`]: DataFusion `LogicalPlan` → [`crate::expr::RelationExpr`].

pub mod array;
pub mod debezium;
pub mod error;
pub mod include;
pub mod jsonb;
pub mod lower;
pub mod parse;
pub mod plan;
pub mod sink;
pub mod source;
pub mod types;
pub mod unnest;

pub use error::PlanError;
