//! `CREATE SINK ... INTO KAFKA` (Materialize's syntax): the statement, its
//! parser, and its `Display`, which prints SQL that parses back to the same
//! statement (what the catalog stores and replays at start-up).

use std::fmt;

use sqlparser::ast::ObjectName;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::source::{
    OptionValue, expect_word, ident_text, parse_option_list, parse_word, quote_ident,
    quote_literal, word_is,
};

/// How a sink's messages are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkFormat {
    /// `FORMAT JSON`.
    Json,
    /// `FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION c [(AVRO KEY
    /// FULLNAME 'k', AVRO VALUE FULLNAME 'v')]`.
    Avro {
        /// The registry connection.
        connection: ObjectName,
        /// `AVRO KEY FULLNAME`: the key schema's record name (`row` by
        /// default).
        key_fullname: Option<String>,
        /// `AVRO VALUE FULLNAME`: the value schema's record name
        /// (`envelope` by default).
        value_fullname: Option<String>,
    },
}

/// How a sink turns changes into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkEnvelope {
    /// `ENVELOPE UPSERT`: the new value per key; a null value (tombstone)
    /// for a deleted key.
    Upsert,
    /// `ENVELOPE DEBEZIUM`: `{"before": ..., "after": ...}`.
    Debezium,
}

/// `CREATE SINK [IF NOT EXISTS] name FROM item INTO KAFKA CONNECTION c
/// (TOPIC 't' [, TOPIC PARTITION COUNT n] [, TOPIC REPLICATION FACTOR n])
/// [KEY (col, ...) [NOT ENFORCED]] FORMAT f ENVELOPE UPSERT | DEBEZIUM`.
#[derive(Debug, Clone)]
pub struct CreateSinkStatement {
    /// The sink's name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The table, source or materialized view it writes out.
    pub from: ObjectName,
    /// The Kafka connection.
    pub connection: ObjectName,
    /// The topic.
    pub topic: String,
    /// `TOPIC PARTITION COUNT`: partitions of a topic the sink creates.
    pub partition_count: Option<i32>,
    /// `TOPIC REPLICATION FACTOR`: replication of a topic the sink creates.
    pub replication_factor: Option<i32>,
    /// `KEY (...)`: the key columns (names as folded).
    pub key: Option<Vec<String>>,
    /// `NOT ENFORCED`: the key is not checked to be unique.
    pub key_not_enforced: bool,
    /// The format.
    pub format: SinkFormat,
    /// The envelope.
    pub envelope: SinkEnvelope,
}

fn parse_int_option(name: &str, value: OptionValue) -> Result<i32, ParserError> {
    match value {
        OptionValue::Value(v) => v
            .parse::<i32>()
            .ok()
            .filter(|n| *n > 0 || *n == -1)
            .ok_or_else(|| ParserError::ParserError(format!("invalid {name} {v}"))),
        other => Err(ParserError::ParserError(format!("invalid {name} {other}"))),
    }
}

/// Parses what follows `CREATE SINK`.
pub fn parse_create_sink(parser: &mut Parser) -> Result<CreateSinkStatement, ParserError> {
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    if parser.parse_keyword(Keyword::IN) {
        return Err(ParserError::ParserError(
            "IN CLUSTER is not supported: Freshet has one cluster".into(),
        ));
    }
    parser.expect_keyword(Keyword::FROM)?;
    let from = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::INTO)?;
    expect_word(parser, "KAFKA")?;
    expect_word(parser, "CONNECTION")?;
    let connection = parser.parse_object_name(false)?;
    let mut topic = None;
    let mut partition_count = None;
    let mut replication_factor = None;
    for (option, value) in parse_option_list(parser)? {
        match (option.as_str(), value) {
            ("TOPIC", OptionValue::Value(t)) => topic = Some(t),
            ("TOPIC PARTITION COUNT", v) => {
                partition_count = Some(parse_int_option("TOPIC PARTITION COUNT", v)?)
            }
            ("TOPIC REPLICATION FACTOR", v) => {
                replication_factor = Some(parse_int_option("TOPIC REPLICATION FACTOR", v)?)
            }
            (other, _) => {
                return Err(ParserError::ParserError(format!(
                    "unrecognized Kafka sink option {other}"
                )));
            }
        }
    }
    let Some(topic) = topic else {
        return Err(ParserError::ParserError(
            "Kafka sinks need a TOPIC option".into(),
        ));
    };
    let mut key = None;
    let mut key_not_enforced = false;
    if parse_word(parser, "KEY") {
        if word_is(&parser.peek_token().token, "FORMAT") {
            return Err(ParserError::ParserError(
                "KEY FORMAT ... VALUE FORMAT is not supported for sinks: use FORMAT".into(),
            ));
        }
        parser.expect_token(&Token::LParen)?;
        let mut columns = Vec::new();
        loop {
            columns.push(ident_text(parser)?);
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
        key_not_enforced = parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
        key = Some(columns);
    }
    expect_word(parser, "FORMAT")?;
    let t = parser.next_token().token;
    let format = if word_is(&t, "JSON") {
        SinkFormat::Json
    } else if word_is(&t, "AVRO") {
        parser.expect_keyword(Keyword::USING)?;
        expect_word(parser, "CONFLUENT")?;
        expect_word(parser, "SCHEMA")?;
        expect_word(parser, "REGISTRY")?;
        expect_word(parser, "CONNECTION")?;
        let connection = parser.parse_object_name(false)?;
        let mut key_fullname = None;
        let mut value_fullname = None;
        if parser.peek_token().token == Token::LParen {
            for (option, value) in parse_option_list(parser)? {
                let target = match option.as_str() {
                    "AVRO KEY FULLNAME" => &mut key_fullname,
                    "AVRO VALUE FULLNAME" => &mut value_fullname,
                    "NULL DEFAULTS"
                    | "DOC ON"
                    | "KEY COMPATIBILITY LEVEL"
                    | "VALUE COMPATIBILITY LEVEL" => {
                        return Err(ParserError::ParserError(format!(
                            "the Avro sink option {option} is not supported"
                        )));
                    }
                    other => {
                        return Err(ParserError::ParserError(format!(
                            "unrecognized Avro sink option {other}"
                        )));
                    }
                };
                match value {
                    OptionValue::Value(v) => *target = Some(v),
                    other => {
                        return Err(ParserError::ParserError(format!(
                            "invalid {option} {other}"
                        )));
                    }
                }
            }
        }
        SinkFormat::Avro {
            connection,
            key_fullname,
            value_fullname,
        }
    } else {
        return Err(ParserError::ParserError(format!(
            "Expected: JSON or AVRO, found: {t}"
        )));
    };
    if !parse_word(parser, "ENVELOPE") {
        return Err(ParserError::ParserError(
            "ENVELOPE [DEBEZIUM | UPSERT] clause is required".into(),
        ));
    }
    let t = parser.next_token().token;
    let envelope = if word_is(&t, "UPSERT") {
        SinkEnvelope::Upsert
    } else if word_is(&t, "DEBEZIUM") {
        SinkEnvelope::Debezium
    } else {
        return Err(ParserError::ParserError(format!(
            "Expected: UPSERT or DEBEZIUM, found: {t}"
        )));
    };
    Ok(CreateSinkStatement {
        name,
        if_not_exists,
        from,
        connection,
        topic,
        partition_count,
        replication_factor,
        key,
        key_not_enforced,
        format,
        envelope,
    })
}

impl fmt::Display for CreateSinkStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE SINK {}{} FROM {} INTO KAFKA CONNECTION {} (TOPIC {}",
            if self.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            self.name,
            self.from,
            self.connection,
            quote_literal(&self.topic)
        )?;
        if let Some(n) = self.partition_count {
            write!(
                f,
                ", TOPIC PARTITION COUNT {}",
                quote_literal(&n.to_string())
            )?;
        }
        if let Some(n) = self.replication_factor {
            write!(
                f,
                ", TOPIC REPLICATION FACTOR {}",
                quote_literal(&n.to_string())
            )?;
        }
        write!(f, ")")?;
        if let Some(key) = &self.key {
            let columns: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
            write!(f, " KEY ({})", columns.join(", "))?;
            if self.key_not_enforced {
                write!(f, " NOT ENFORCED")?;
            }
        }
        match &self.format {
            SinkFormat::Json => write!(f, " FORMAT JSON")?,
            SinkFormat::Avro {
                connection,
                key_fullname,
                value_fullname,
            } => {
                write!(
                    f,
                    " FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION {connection}"
                )?;
                let options: Vec<String> = [
                    ("AVRO KEY FULLNAME", key_fullname),
                    ("AVRO VALUE FULLNAME", value_fullname),
                ]
                .into_iter()
                .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name} {}", quote_literal(v))))
                .collect();
                if !options.is_empty() {
                    write!(f, " ({})", options.join(", "))?;
                }
            }
        }
        match self.envelope {
            SinkEnvelope::Upsert => write!(f, " ENVELOPE UPSERT"),
            SinkEnvelope::Debezium => write!(f, " ENVELOPE DEBEZIUM"),
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;

    use super::*;

    fn parse(sql: &str) -> Result<CreateSinkStatement, ParserError> {
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(sql)?;
        expect_word(&mut parser, "CREATE")?;
        expect_word(&mut parser, "SINK")?;
        parse_create_sink(&mut parser)
    }

    #[test]
    fn prints_back_to_itself() {
        for sql in [
            "CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC 't') KEY (\"a\", \"B\") \
             FORMAT JSON ENVELOPE UPSERT",
            "CREATE SINK IF NOT EXISTS s FROM v INTO KAFKA CONNECTION k (TOPIC 't', \
             TOPIC PARTITION COUNT '3', TOPIC REPLICATION FACTOR '-1') KEY (\"a\") NOT ENFORCED \
             FORMAT JSON ENVELOPE DEBEZIUM",
            "CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC 't') FORMAT AVRO USING \
             CONFLUENT SCHEMA REGISTRY CONNECTION csr ENVELOPE DEBEZIUM",
            "CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC 't') KEY (\"a\") FORMAT AVRO \
             USING CONFLUENT SCHEMA REGISTRY CONNECTION csr (AVRO KEY FULLNAME 'com.x.k', \
             AVRO VALUE FULLNAME 'com.x.v') ENVELOPE UPSERT",
        ] {
            let stmt = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(stmt.to_string(), sql);
        }
    }

    #[test]
    fn folds_names_and_needs_topic_and_envelope() {
        let stmt = parse(
            "CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC = 'x') KEY (Id) FORMAT JSON \
             ENVELOPE UPSERT",
        )
        .unwrap();
        assert_eq!(stmt.key, Some(vec!["id".to_string()]));
        assert!(parse("CREATE SINK s FROM v INTO KAFKA CONNECTION k () FORMAT JSON").is_err());
        let stmt = parse(
            "CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC 't') FORMAT AVRO USING \
             CONFLUENT SCHEMA REGISTRY CONNECTION csr (AVRO VALUE FULLNAME = 'v') ENVELOPE \
             DEBEZIUM",
        )
        .unwrap();
        assert!(matches!(
            stmt.format,
            SinkFormat::Avro { key_fullname: None, value_fullname: Some(ref v), .. } if v == "v"
        ));
        assert!(
            parse(
                "CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC 't') FORMAT AVRO USING \
                 CONFLUENT SCHEMA REGISTRY CONNECTION csr (KEY COMPATIBILITY LEVEL 'NONE') \
                 ENVELOPE DEBEZIUM"
            )
            .unwrap_err()
            .to_string()
            .contains("not supported")
        );
        assert!(
            parse("CREATE SINK s FROM v INTO KAFKA CONNECTION k (TOPIC 't') FORMAT JSON")
                .unwrap_err()
                .to_string()
                .contains("ENVELOPE")
        );
    }
}
