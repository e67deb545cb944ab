//! The PostgreSQL wire protocol front end.
//!
//! * [`server`]: connection handling, simple and extended query protocols.
//! * [`codec`]: PostgreSQL's binary formats.

pub mod codec;
pub mod server;

pub use server::serve;
