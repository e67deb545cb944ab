//! Storage: the durable store ([`durable`]) that holds the catalog, table
//! contents and source offsets, and the built-in load generators
//! ([`loadgen`]).

pub mod durable;
pub mod loadgen;
