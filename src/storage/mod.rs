//! Storage: the durable store ([`durable`]) that holds the catalog, table
//! contents and source offsets, Kafka sources ([`kafka`] spreads a source's
//! partitions over readers, [`kafka_reader`] reads them,
//! [`kafka_snapshot`] measures how far a source is through its snapshot,
//! [`kafka_watermarks`] finds the offsets a source needs that the brokers
//! no longer hold, [`kafka_txn`]
//! groups Debezium events by transaction, [`decode`] turns records into
//! rows, [`avro`] and [`registry`] handle Avro through a Confluent Schema
//! Registry), Kafka sinks ([`sink`]: encoding and state, [`avro_sink`]:
//! their Avro format;
//! [`kafka_sink`]: the producer thread), and the built-in load generators
//! ([`loadgen`]).

pub mod avro;
pub mod avro_sink;
pub mod decode;
pub mod durable;
pub mod kafka;
pub mod kafka_reader;
pub mod kafka_sink;
pub mod kafka_snapshot;
pub mod kafka_txn;
pub mod kafka_watermarks;
pub mod loadgen;
pub mod registry;
pub mod sink;
