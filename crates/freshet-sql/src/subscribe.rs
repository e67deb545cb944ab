//! `SUBSCRIBE`: the statement and its grammar, Materialize's:
//!
//! ```text
//! SUBSCRIBE [TO] obj | (query)
//!   [ENVELOPE UPSERT (KEY (col, ...)) | ENVELOPE DEBEZIUM (KEY (col, ...))
//!    | WITHIN TIMESTAMP ORDER BY col [ASC | DESC] [NULLS FIRST | LAST], ...]
//!   [WITH (SNAPSHOT [= bool], PROGRESS [= bool])]
//!   [AS OF [AT LEAST] expr]
//!   [UP TO expr]
//! ```
//!
//! The clauses may come in any order. Their timestamps stay expressions
//! here: the coordinator evaluates them (`coord/subscribe.rs`), and also
//! resolves the output clause's column names against the relation.

use sqlparser::ast::{Expr, Ident, ObjectName, OrderByExpr, Query};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// A `SUBSCRIBE` statement.
#[derive(Debug, Clone)]
pub struct SubscribeStatement {
    /// What to subscribe to.
    pub relation: SubscribeRelation,
    /// Emit the contents at the start (default true).
    pub snapshot: bool,
    /// Emit progress rows (default false).
    pub progress: bool,
    /// `AS OF [AT LEAST] expr`: the first timestamp.
    pub as_of: Option<Box<AsOf>>,
    /// `UP TO expr`: the timestamp at which the subscribe ends (exclusive).
    pub up_to: Option<Box<Expr>>,
    /// How updates are presented.
    pub output: SubscribeOutput,
}

/// What a SUBSCRIBE reads.
#[derive(Debug, Clone)]
pub enum SubscribeRelation {
    /// A named object.
    Name(ObjectName),
    /// A query.
    Query(Box<Query>),
}

/// `AS OF [AT LEAST] expr`.
#[derive(Debug, Clone)]
pub struct AsOf {
    /// The timestamp, an expression without columns.
    pub expr: Expr,
    /// `AT LEAST`: start at the timestamp or, if it is no longer readable,
    /// at the earliest one that is.
    pub at_least: bool,
}

/// How a SUBSCRIBE presents its updates.
#[derive(Debug, Clone, Default)]
pub enum SubscribeOutput {
    /// One row per change: `mz_diff`, then the relation's columns.
    #[default]
    Diffs,
    /// As [`SubscribeOutput::Diffs`], the rows of each timestamp in this
    /// order (the columns may include `mz_diff`).
    WithinTimestampOrderBy(Vec<OrderByExpr>),
    /// One row per key and timestamp: `mz_state` (`upsert`, `delete` or
    /// `key_violation`), the key columns, then the others.
    EnvelopeUpsert(Vec<Ident>),
    /// As [`SubscribeOutput::EnvelopeUpsert`], with the value columns both
    /// before (`before_*`) and after (`after_*`) the change; `mz_state`
    /// is `insert`, `upsert`, `delete` or `key_violation`.
    EnvelopeDebezium(Vec<Ident>),
}

/// Parses a `SUBSCRIBE` after the `SUBSCRIBE` keyword.
pub fn parse_subscribe(parser: &mut Parser) -> Result<SubscribeStatement, ParserError> {
    let _ = parser.parse_keyword(Keyword::TO);
    let relation = if parser.consume_token(&Token::LParen) {
        let q = parser.parse_query()?;
        parser.expect_token(&Token::RParen)?;
        SubscribeRelation::Query(q)
    } else {
        SubscribeRelation::Name(parser.parse_object_name(false)?)
    };
    let mut s = SubscribeStatement {
        relation,
        snapshot: true,
        progress: false,
        as_of: None,
        up_to: None,
        output: SubscribeOutput::Diffs,
    };
    let mut output_given = false;
    let once = |given: &mut bool, clause: &str| {
        if std::mem::replace(given, true) {
            Err(ParserError::ParserError(format!(
                "{clause} given more than once, or with another output clause"
            )))
        } else {
            Ok(())
        }
    };
    let (mut options_given, mut as_of_given, mut up_to_given) = (false, false, false);
    loop {
        if parser.parse_keyword(Keyword::WITH) {
            once(&mut options_given, "WITH")?;
            parse_options(parser, &mut s)?;
        } else if parser.parse_keywords(&[Keyword::AS, Keyword::OF]) {
            once(&mut as_of_given, "AS OF")?;
            let at_least = parser.parse_keywords(&[Keyword::AT, Keyword::LEAST]);
            s.as_of = Some(Box::new(AsOf {
                expr: parser.parse_expr()?,
                at_least,
            }));
        } else if parse_words(parser, &["UP", "TO"]) {
            once(&mut up_to_given, "UP TO")?;
            s.up_to = Some(Box::new(parser.parse_expr()?));
        } else if parse_words(parser, &["ENVELOPE"]) {
            once(&mut output_given, "ENVELOPE")?;
            let debezium = if parse_words(parser, &["DEBEZIUM"]) {
                true
            } else if parse_words(parser, &["UPSERT"]) {
                false
            } else {
                return parser.expected("UPSERT or DEBEZIUM", parser.peek_token());
            };
            parser.expect_token(&Token::LParen)?;
            parser.expect_keyword(Keyword::KEY)?;
            parser.expect_token(&Token::LParen)?;
            let key = parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            parser.expect_token(&Token::RParen)?;
            s.output = if debezium {
                SubscribeOutput::EnvelopeDebezium(key)
            } else {
                SubscribeOutput::EnvelopeUpsert(key)
            };
        } else if parser.parse_keywords(&[Keyword::WITHIN, Keyword::TIMESTAMP]) {
            once(&mut output_given, "WITHIN TIMESTAMP ORDER BY")?;
            parser.expect_keywords(&[Keyword::ORDER, Keyword::BY])?;
            let order_by = parser.parse_comma_separated(|p| p.parse_order_by_expr())?;
            s.output = SubscribeOutput::WithinTimestampOrderBy(order_by);
        } else {
            break;
        }
    }
    Ok(s)
}

/// Consumes `words` (keywords sqlparser may not know) if they come next.
fn parse_words(parser: &mut Parser, words: &[&str]) -> bool {
    let next = words.iter().enumerate().all(|(i, w)| {
        matches!(&parser.peek_nth_token(i).token, Token::Word(t) if t.quote_style.is_none() && t.value.eq_ignore_ascii_case(w))
    });
    if next {
        for _ in words {
            parser.next_token();
        }
    }
    next
}

/// `(SNAPSHOT [=] bool, PROGRESS [=] bool)`, after `WITH`.
fn parse_options(parser: &mut Parser, s: &mut SubscribeStatement) -> Result<(), ParserError> {
    parser.expect_token(&Token::LParen)?;
    loop {
        let name = parser.parse_identifier()?.value.to_uppercase();
        let value = if parser.consume_token(&Token::Eq)
            || matches!(parser.peek_token().token, Token::Word(_))
        {
            match parser.next_token().token {
                Token::Word(w) => match w.value.to_lowercase().as_str() {
                    "true" | "on" => true,
                    "false" | "off" => false,
                    other => {
                        return Err(ParserError::ParserError(format!(
                            "invalid value for {name}: {other}"
                        )));
                    }
                },
                other => {
                    return Err(ParserError::ParserError(format!(
                        "invalid value for {name}: {other}"
                    )));
                }
            }
        } else {
            true
        };
        match name.as_str() {
            "SNAPSHOT" => s.snapshot = value,
            "PROGRESS" => s.progress = value,
            other => {
                return Err(ParserError::ParserError(format!(
                    "unrecognized SUBSCRIBE option {other}"
                )));
            }
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;

    fn parse(sql: &str) -> Result<SubscribeStatement, ParserError> {
        let dialect = PostgreSqlDialect {};
        let mut parser = Parser::new(&dialect).try_with_sql(sql)?;
        let s = parse_subscribe(&mut parser)?;
        parser.expect_token(&Token::EOF)?;
        Ok(s)
    }

    #[test]
    fn clauses_parse_in_any_order() {
        let s = parse("t UP TO 20 ENVELOPE UPSERT (KEY (a, b)) AS OF AT LEAST 10 WITH (PROGRESS)")
            .unwrap();
        assert!(s.progress && s.snapshot);
        let as_of = s.as_of.unwrap();
        assert!(as_of.at_least);
        assert_eq!(as_of.expr.to_string(), "10");
        assert_eq!(s.up_to.unwrap().to_string(), "20");
        let SubscribeOutput::EnvelopeUpsert(key) = s.output else {
            panic!("not an upsert envelope");
        };
        assert_eq!(key.len(), 2);

        let s = parse("TO (SELECT 1 AS x) WITHIN TIMESTAMP ORDER BY x DESC, mz_diff").unwrap();
        let SubscribeOutput::WithinTimestampOrderBy(order) = s.output else {
            panic!("not ordered");
        };
        assert_eq!(order.len(), 2);
        assert!(matches!(
            parse("t ENVELOPE DEBEZIUM (KEY (a))").unwrap().output,
            SubscribeOutput::EnvelopeDebezium(_)
        ));
    }

    #[test]
    fn a_clause_given_twice_is_refused() {
        assert!(parse("t AS OF 1 AS OF 2").is_err());
        assert!(parse("t ENVELOPE UPSERT (KEY (a)) WITHIN TIMESTAMP ORDER BY a").is_err());
        assert!(parse("t ENVELOPE UPSERT (a)").is_err());
        assert!(parse("t WITH (FOO)").is_err());
    }
}
