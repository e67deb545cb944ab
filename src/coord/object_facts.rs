//! What a source, sink or connection is, read from the coordinator's
//! parsed definitions: one answer for `SHOW SOURCES` / `SHOW CONNECTIONS`
//! and for `mz_catalog`'s `mz_sources`, `mz_sinks` and `mz_connections`
//! (through [`ObjectFacts`]), so the two never disagree and neither reads
//! the stored `CREATE` text again.

use crate::catalog::CatalogItem;
use crate::catalog::system::{ObjectFacts, SinkFacts, SourceFacts};
use crate::expr::GlobalId;
use crate::sql::sink::{CreateSinkStatement, SinkEnvelope, SinkFormat};
use crate::sql::source::{ConnectionKind, CreateKafkaSourceStatement, Envelope, Format};

use super::CoordState;

/// Materialize's name of a Kafka message format.
fn format_name(format: &Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Text => "text",
        Format::Bytes => "bytes",
        Format::Csv { .. } => "csv",
        Format::Avro { .. } => "avro",
    }
}

/// A Kafka source's facts, from its definition.
pub fn kafka_source_facts(stmt: &CreateKafkaSourceStatement) -> SourceFacts {
    SourceFacts {
        source_type: "kafka",
        envelope: Some(match stmt.envelope {
            Envelope::None => "none",
            Envelope::Upsert { .. } => "upsert",
            Envelope::Debezium => "debezium",
        }),
        key_format: stmt.key_format.as_ref().map(format_name),
        value_format: Some(format_name(&stmt.value_format)),
    }
}

/// A Kafka sink's facts, from its definition. Without `KEY` it writes no
/// keys, so it has no key format (Materialize's `NULL`).
pub fn sink_facts(stmt: &CreateSinkStatement) -> SinkFacts {
    let format = match stmt.format {
        SinkFormat::Json => "json",
        SinkFormat::Avro { .. } => "avro",
    };
    SinkFacts {
        envelope: match stmt.envelope {
            SinkEnvelope::Upsert => "upsert",
            SinkEnvelope::Debezium => "debezium",
        },
        key_format: stmt.key.as_ref().map(|_| format),
        value_format: format,
    }
}

/// The facts of a load generator's own collection and of its subsources.
const LOAD_GENERATOR: SourceFacts = SourceFacts {
    source_type: "load-generator",
    envelope: None,
    key_format: None,
    value_format: None,
};

/// A subsource's facts: what it holds is told by the source that owns it.
const SUBSOURCE: SourceFacts = SourceFacts {
    source_type: "subsource",
    envelope: None,
    key_format: None,
    value_format: None,
};

impl ObjectFacts for CoordState {
    fn source(&self, item: &CatalogItem) -> Option<SourceFacts> {
        if item.owned_by.is_some() {
            return Some(SUBSOURCE);
        }
        if let Some(k) = self.kafka_sources.get(&item.id) {
            return Some(kafka_source_facts(&k.statement));
        }
        if self.sources.contains_key(&item.id) {
            return Some(LOAD_GENERATOR);
        }
        None
    }

    fn sink(&self, id: GlobalId) -> Option<SinkFacts> {
        self.sinks.get(&id).map(|s| sink_facts(&s.statement))
    }

    fn connection_type(&self, id: GlobalId) -> Option<&'static str> {
        self.connections.get(&id).map(|c| match c.kind {
            ConnectionKind::Kafka => "kafka",
            ConnectionKind::SchemaRegistry => "confluent-schema-registry",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::{FreshetStatement, parse_statements};

    fn parse_one(sql: &str) -> FreshetStatement {
        let mut stmts = parse_statements(sql).expect("parses");
        assert_eq!(stmts.len(), 1);
        stmts.remove(0)
    }

    fn kafka_source(sql: &str) -> SourceFacts {
        match parse_one(sql) {
            FreshetStatement::CreateKafkaSource(k) => kafka_source_facts(&k),
            other => panic!("not a Kafka source: {other:?}"),
        }
    }

    #[test]
    fn kafka_sources_report_formats_and_envelope() {
        assert_eq!(
            kafka_source("CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON"),
            SourceFacts {
                source_type: "kafka",
                envelope: Some("none"),
                // A bare `FORMAT` is the key's too (Materialize).
                key_format: Some("json"),
                value_format: Some("json"),
            }
        );
        // CSV cannot decode any key: the key is not decoded.
        assert_eq!(
            kafka_source(
                "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT CSV WITH 2 COLUMNS"
            )
            .key_format,
            None
        );
        assert_eq!(
            kafka_source(
                "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
                 KEY FORMAT TEXT VALUE FORMAT BYTES ENVELOPE UPSERT"
            ),
            SourceFacts {
                source_type: "kafka",
                envelope: Some("upsert"),
                key_format: Some("text"),
                value_format: Some("bytes"),
            }
        );
        let debezium = kafka_source(
            "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION r ENVELOPE DEBEZIUM",
        );
        assert_eq!(debezium.envelope, Some("debezium"));
        assert_eq!(debezium.value_format, Some("avro"));
    }

    #[test]
    fn sinks_have_a_key_format_only_with_a_key() {
        let sink = |sql: &str| match parse_one(sql) {
            FreshetStatement::CreateSink(s) => sink_facts(&s),
            other => panic!("not a sink: {other:?}"),
        };
        assert_eq!(
            sink(
                "CREATE SINK k FROM t INTO KAFKA CONNECTION c (TOPIC 'o') FORMAT JSON ENVELOPE DEBEZIUM"
            ),
            SinkFacts {
                envelope: "debezium",
                key_format: None,
                value_format: "json",
            }
        );
        assert_eq!(
            sink(
                "CREATE SINK k FROM t INTO KAFKA CONNECTION c (TOPIC 'o') KEY (a) \
                 FORMAT JSON ENVELOPE UPSERT"
            ),
            SinkFacts {
                envelope: "upsert",
                key_format: Some("json"),
                value_format: "json",
            }
        );
    }
}
