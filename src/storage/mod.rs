//! Storage: the durable store ([`durable`]) that holds the catalog, table
//! contents and source offsets, and the built-in load generators
//! ([`loadgen`]).

pub mod decode;
pub mod durable;
pub mod kafka;
pub mod loadgen;
