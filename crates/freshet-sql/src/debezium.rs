//! `ENVELOPE DEBEZIUM (TRANSACTION METADATA (SOURCE tx, COLLECTION 'c'))`:
//! Materialize's (older, documented) option that groups a Debezium source's
//! events by source transaction, with the transaction boundaries read from
//! another source over Debezium's transaction topic (`<server>.transaction`).
//! Parsing and printing back; the grouping itself is in
//! `storage/kafka_txn.rs`.

use std::fmt;

use sqlparser::ast::ObjectName;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::source::{expect_word, quote_literal};

/// `TRANSACTION METADATA (SOURCE tx, COLLECTION 'c')`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    /// The source over the transaction topic.
    pub source: ObjectName,
    /// The `data_collection` of this source's events in the `END` records
    /// (for the PostgreSQL connector, `schema.table`, as the connector
    /// names it).
    pub collection: String,
}

/// Parses the optional `(TRANSACTION METADATA (...))` after `ENVELOPE
/// DEBEZIUM`.
pub fn parse_debezium_options(
    parser: &mut Parser,
) -> Result<Option<TransactionMetadata>, ParserError> {
    if !parser.consume_token(&Token::LParen) {
        return Ok(None);
    }
    expect_word(parser, "TRANSACTION")?;
    expect_word(parser, "METADATA")?;
    parser.expect_token(&Token::LParen)?;
    let mut source = None;
    let mut collection = None;
    loop {
        let t = parser.next_token();
        let word = match &t.token {
            Token::Word(w) => w.value.to_uppercase(),
            other => {
                return Err(ParserError::ParserError(format!(
                    "Expected: SOURCE or COLLECTION, found: {other}"
                )));
            }
        };
        let _ = parser.consume_token(&Token::Eq);
        match word.as_str() {
            "SOURCE" if source.is_none() => source = Some(parser.parse_object_name(false)?),
            "COLLECTION" if collection.is_none() => {
                collection = Some(parser.parse_literal_string()?)
            }
            "SOURCE" | "COLLECTION" => {
                return Err(ParserError::ParserError(format!(
                    "TRANSACTION METADATA option {word} given twice"
                )));
            }
            other => {
                return Err(ParserError::ParserError(format!(
                    "unrecognized TRANSACTION METADATA option {other}"
                )));
            }
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    parser.expect_token(&Token::RParen)?;
    match (source, collection) {
        (Some(source), Some(collection)) => Ok(Some(TransactionMetadata { source, collection })),
        _ => Err(ParserError::ParserError(
            "TRANSACTION METADATA needs SOURCE and COLLECTION".into(),
        )),
    }
}

impl fmt::Display for TransactionMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(TRANSACTION METADATA (SOURCE {}, COLLECTION {}))",
            self.source,
            quote_literal(&self.collection)
        )
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;

    use super::*;

    fn parse(sql: &str) -> Result<Option<TransactionMetadata>, ParserError> {
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(sql)?;
        parse_debezium_options(&mut parser)
    }

    #[test]
    fn parses_and_prints_back() {
        let m =
            parse("(TRANSACTION METADATA (SOURCE tx, COLLECTION 'dbserver1.inventory.orders'))")
                .unwrap()
                .unwrap();
        assert_eq!(m.source.to_string(), "tx");
        assert_eq!(m.collection, "dbserver1.inventory.orders");
        assert_eq!(parse(&m.to_string()).unwrap(), Some(m));
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn refuses_incomplete_or_repeated_options() {
        assert!(parse("(TRANSACTION METADATA (SOURCE tx))").is_err());
        assert!(parse("(TRANSACTION METADATA (SOURCE tx, SOURCE ty, COLLECTION 'c'))").is_err());
        assert!(parse("(TRANSACTION METADATA (SOURCE tx, COLLECTION 'c', TOPIC 't'))").is_err());
    }
}
