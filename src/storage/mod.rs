//! Storage: the durable store ([`durable`]) that holds the catalog, table
//! contents and source offsets, Kafka sources ([`kafka`] reads, [`decode`]
//! turns records into rows, [`avro`] and [`registry`] handle Avro through a
//! Confluent Schema Registry), Kafka sinks ([`sink`]: encoding and state,
//! [`avro_sink`]: their Avro format;
//! [`kafka_sink`]: the producer thread), and the built-in load generators
//! ([`loadgen`]).

pub mod avro;
pub mod avro_sink;
pub mod decode;
pub mod durable;
pub mod kafka;
pub mod kafka_sink;
pub mod loadgen;
pub mod registry;
pub mod sink;
