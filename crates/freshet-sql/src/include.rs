//! The `INCLUDE` list of `CREATE SOURCE ... FROM KAFKA`: the metadata
//! columns a Kafka source adds after its value's (Materialize's syntax):
//! `KEY`, `PARTITION`, `OFFSET`, `TIMESTAMP` (each `[AS name]`), `HEADER
//! 'key' AS name [BYTES]` (one header's value), and `HEADERS` (all of them,
//! parsed so that it can be refused with a pointer to `HEADER`).
//!
//! The list prints back ([`include_sql`]) to SQL that parses to the same
//! list, as the rest of the statement does.

use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::source::{ident_text, parse_word, quote_ident, quote_literal, word_is};

/// A metadata column a Kafka source can include.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeKind {
    /// The message key.
    Key,
    /// The partition.
    Partition,
    /// The offset.
    Offset,
    /// The message timestamp.
    Timestamp,
    /// All headers (refused: Materialize makes them a `list` of records).
    Headers,
    /// `HEADER 'key' AS name [BYTES]`: the value of the last header named
    /// `key`, as `text` (UTF-8) or, with `BYTES`, as `bytea`.
    Header {
        /// The header's key.
        key: String,
        /// `BYTES`: the raw value instead of UTF-8 text.
        bytes: bool,
    },
}

impl IncludeKind {
    /// The keyword, which is also the column's default name (lower-cased)
    /// for every kind but `HEADER`, whose name is always given.
    pub fn keyword(&self) -> &'static str {
        match self {
            IncludeKind::Key => "KEY",
            IncludeKind::Partition => "PARTITION",
            IncludeKind::Offset => "OFFSET",
            IncludeKind::Timestamp => "TIMESTAMP",
            IncludeKind::Headers => "HEADERS",
            IncludeKind::Header { .. } => "HEADER",
        }
    }
}

/// Parses the items after `INCLUDE`: `KEY | PARTITION | OFFSET | TIMESTAMP
/// | HEADERS [AS name]` and `HEADER 'key' AS name [BYTES]`, separated by
/// commas. Every kind but `HEADER` may be given once.
pub(crate) fn parse_include(
    parser: &mut Parser,
) -> Result<Vec<(IncludeKind, Option<String>)>, ParserError> {
    let mut include: Vec<(IncludeKind, Option<String>)> = Vec::new();
    loop {
        let t = parser.next_token().token;
        let kind = if word_is(&t, "KEY") {
            IncludeKind::Key
        } else if word_is(&t, "PARTITION") {
            IncludeKind::Partition
        } else if word_is(&t, "OFFSET") {
            IncludeKind::Offset
        } else if word_is(&t, "TIMESTAMP") {
            IncludeKind::Timestamp
        } else if word_is(&t, "HEADERS") {
            IncludeKind::Headers
        } else if word_is(&t, "HEADER") {
            let key = match parser.next_token().token {
                Token::SingleQuotedString(s) => s,
                other => {
                    return Err(ParserError::ParserError(format!(
                        "Expected: the header's key as a string literal, found: {other}"
                    )));
                }
            };
            if !parser.parse_keyword(Keyword::AS) {
                return Err(ParserError::ParserError(format!(
                    "Expected: AS after HEADER {}, found: {}",
                    quote_literal(&key),
                    parser.peek_token().token
                )));
            }
            let alias = ident_text(parser)?;
            let bytes = parse_word(parser, "BYTES");
            include.push((IncludeKind::Header { key, bytes }, Some(alias)));
            if !parser.consume_token(&Token::Comma) {
                break;
            }
            continue;
        } else {
            return Err(ParserError::ParserError(format!(
                "Expected: KEY, PARTITION, OFFSET, TIMESTAMP, HEADER or HEADERS, found: {t}"
            )));
        };
        let alias = if parser.parse_keyword(Keyword::AS) {
            Some(ident_text(parser)?)
        } else {
            None
        };
        if include.iter().any(|(k, _)| *k == kind) {
            return Err(ParserError::ParserError(format!(
                "INCLUDE {} given twice",
                kind.keyword()
            )));
        }
        include.push((kind, alias));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    Ok(include)
}

/// The SQL of an `INCLUDE` list (without the `INCLUDE` keyword).
pub(crate) fn include_sql(include: &[(IncludeKind, Option<String>)]) -> String {
    let items: Vec<String> = include
        .iter()
        .map(|(kind, alias)| {
            let mut item = kind.keyword().to_string();
            if let IncludeKind::Header { key, .. } = kind {
                item.push(' ');
                item.push_str(&quote_literal(key));
            }
            if let Some(a) = alias {
                item.push_str(" AS ");
                item.push_str(&quote_ident(a));
            }
            if let IncludeKind::Header { bytes: true, .. } = kind {
                item.push_str(" BYTES");
            }
            item
        })
        .collect();
    items.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::sql::parse::{FreshetStatement, parse_statements};

    use super::*;

    fn include_of(sql: &str) -> Vec<(IncludeKind, Option<String>)> {
        match parse_statements(sql).unwrap().remove(0) {
            FreshetStatement::CreateKafkaSource(s) => s.include,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_items_parse_and_print_back() {
        let sql = "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON \
                   INCLUDE HEADER 'client_id' AS client_id, PARTITION, \
                   HEADER 'it''s raw' AS \"Raw\" BYTES, OFFSET AS o";
        let include = include_of(sql);
        assert_eq!(
            include,
            vec![
                (
                    IncludeKind::Header {
                        key: "client_id".into(),
                        bytes: false
                    },
                    Some("client_id".into())
                ),
                (IncludeKind::Partition, None),
                (
                    IncludeKind::Header {
                        key: "it's raw".into(),
                        bytes: true
                    },
                    Some("Raw".into())
                ),
                (IncludeKind::Offset, Some("o".into())),
            ]
        );
        let printed = include_sql(&include);
        assert_eq!(
            printed,
            "HEADER 'client_id' AS \"client_id\", PARTITION, \
             HEADER 'it''s raw' AS \"Raw\" BYTES, OFFSET AS \"o\""
        );
        // The statement's stored text parses back to the same list.
        let stored = match parse_statements(sql).unwrap().remove(0) {
            FreshetStatement::CreateKafkaSource(s) => s.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(stored.contains(&printed), "{stored}");
        assert_eq!(include_of(&stored), include);
    }

    /// Materialize documents `VALUE DECODING ERRORS = INLINE`; the
    /// parenthesised form with an alias parses too.
    #[test]
    fn upsert_inline_errors_both_forms() {
        use crate::sql::source::Envelope;
        for (options, alias) in [
            ("VALUE DECODING ERRORS = INLINE", "error"),
            ("VALUE DECODING ERRORS = (INLINE)", "error"),
            ("VALUE DECODING ERRORS = (INLINE AS bad)", "bad"),
        ] {
            let sql = format!(
                "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
                 KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT ({options})"
            );
            match parse_statements(&sql).unwrap().remove(0) {
                FreshetStatement::CreateKafkaSource(s) => match &s.envelope {
                    Envelope::Upsert { inline_errors } => {
                        assert_eq!(inline_errors.as_deref(), Some(alias), "{sql}")
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn header_needs_a_string_key_and_a_name() {
        for (sql, expected) in [
            (
                "INCLUDE HEADER client_id AS c",
                "syntax error at or near \"client_id\"",
            ),
            ("INCLUDE HEADER 'client_id'", "syntax error at end of input"),
            (
                "INCLUDE HEADER 'client_id' BYTES",
                "syntax error at or near \"BYTES\"",
            ),
            ("INCLUDE KEY, KEY AS k", "INCLUDE KEY given twice"),
        ] {
            let sql =
                format!("CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON {sql}");
            let e = parse_statements(&sql).unwrap_err().to_string();
            assert!(e.contains(expected), "{sql}: {e}");
        }
        // The same header may be included twice, under two names.
        let include = include_of(
            "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON \
             INCLUDE HEADER 'h' AS a, HEADER 'h' AS b BYTES",
        );
        assert_eq!(include.len(), 2);
    }
}
