//! Storage: the durable store ([`durable`]) that holds the catalog, table
//! contents and source offsets, the built-in load generators
//! ([`loadgen`]), Kafka sources ([`kafka`]) and Kafka sinks ([`sink`]:
//! encoding and state; [`kafka_sink`]: the producer thread).

pub mod decode;
pub mod durable;
pub mod kafka;
pub mod kafka_sink;
pub mod loadgen;
pub mod sink;
