//! The PostgreSQL wire protocol front end.
//!
//! * [`server`]: connection handling, simple and extended query protocols.
//! * [`codec`]: PostgreSQL's binary formats.
//! * [`copy_format`]: `COPY`'s text, CSV and binary data formats;
//!   `copy_in`: the copy-in sub-protocol of `COPY ... FROM STDIN`.

pub mod codec;
pub mod copy_format;
mod copy_in;
pub mod idle;
pub mod server;

pub use server::serve;
