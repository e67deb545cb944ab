//! `COPY`: the statement's syntax (PostgreSQL's, with both its option
//! list and the pre-9.0 keyword options psql's `\copy` still sends) and
//! its options, checked as PostgreSQL's `ProcessCopyOptions` checks them.
//!
//! `COPY t [(cols)] FROM STDIN`, `COPY t [(cols)] | (query) TO STDOUT` and
//! Materialize's `COPY (SUBSCRIBE ...) TO STDOUT`, each `[[WITH] (option
//! [value], ...)]`. The data's formats are the server's
//! (`pgwire/copy_format.rs`).

use sqlparser::ast::{ObjectName, Query};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

use super::PlanError;
use super::parse::SubscribeStatement;

/// A parsed `COPY`.
#[derive(Debug, Clone)]
pub struct CopyStatement {
    /// What is copied.
    pub relation: CopyRelation,
    /// `FROM` (into the table) or `TO` (out of it).
    pub direction: CopyDirection,
    /// `STDIN`/`STDOUT`, or a server-side file or program (refused).
    pub endpoint: CopyEndpoint,
    /// The options, as written, in order.
    pub options: Vec<CopyOption>,
    /// `COPY ... FROM ... WHERE condition` was given (refused).
    pub has_where: bool,
}

/// What a `COPY` reads or writes.
#[derive(Debug, Clone)]
pub enum CopyRelation {
    /// `t [(cols)]`.
    Table {
        /// The table.
        name: ObjectName,
        /// The columns, folded as identifiers are; empty for all.
        columns: Vec<String>,
    },
    /// `(query)`.
    Query(Box<Query>),
    /// `(SUBSCRIBE ...)`.
    Subscribe(SubscribeStatement),
}

/// The direction of a `COPY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyDirection {
    /// `COPY ... FROM`.
    From,
    /// `COPY ... TO`.
    To,
}

/// Where a `COPY`'s data comes from or goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyEndpoint {
    /// `STDIN` or `STDOUT` (PostgreSQL takes either word in either
    /// direction): the client.
    Client,
    /// `'file'`: a file on the server.
    File(String),
    /// `PROGRAM 'command'`.
    Program,
}

/// One option as written: `name [value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOption {
    /// The option's name, lower case (`format`, `delimiter`, `force_quote`).
    pub name: String,
    /// Its value.
    pub value: CopyOptionValue,
}

/// An option's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOptionValue {
    /// None given (`HEADER`, `FREEZE`).
    None,
    /// A word or a string (`csv`, `'|'`, `true`, `match`, `1`).
    Text(String),
    /// `*` (`FORCE_QUOTE *`).
    Star,
    /// A parenthesized column list, folded as identifiers are.
    Columns(Vec<String>),
}

/// The data format of a `COPY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyFormat {
    /// PostgreSQL's text format: tab-separated, backslash escapes, `\N`.
    #[default]
    Text,
    /// CSV.
    Csv,
    /// PostgreSQL's binary format.
    Binary,
}

/// `HEADER`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyHeader {
    /// No header line.
    #[default]
    None,
    /// A header line: written by `TO`, skipped by `FROM`.
    Present,
    /// `FROM` checks that the header line names the columns.
    Match,
}

/// Which columns `FORCE_QUOTE`, `FORCE_NOT_NULL` and `FORCE_NULL` name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CopyColumns {
    /// None.
    #[default]
    None,
    /// `*`: every column.
    All,
    /// These columns.
    Some(Vec<String>),
}

impl CopyColumns {
    /// Whether `column` is among them.
    pub fn contains(&self, column: &str) -> bool {
        match self {
            CopyColumns::None => false,
            CopyColumns::All => true,
            CopyColumns::Some(cols) => cols.iter().any(|c| c == column),
        }
    }

    /// The columns named, for checking that they exist.
    pub fn named(&self) -> &[String] {
        match self {
            CopyColumns::Some(cols) => cols,
            _ => &[],
        }
    }
}

/// A `COPY`'s options, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// The format.
    pub format: CopyFormat,
    /// The field delimiter (a tab for text, a comma for CSV).
    pub delimiter: u8,
    /// The text of a NULL (`\N` for text, the empty string for CSV).
    pub null: String,
    /// The header line.
    pub header: CopyHeader,
    /// CSV's quote character.
    pub quote: u8,
    /// CSV's escape character (the quote by default).
    pub escape: u8,
    /// CSV output: columns whose non-NULL values are always quoted.
    pub force_quote: CopyColumns,
    /// CSV input: columns whose unquoted NULL text is not NULL.
    pub force_not_null: CopyColumns,
    /// CSV input: columns whose quoted NULL text is NULL too.
    pub force_null: CopyColumns,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            format: CopyFormat::Text,
            delimiter: b'\t',
            null: "\\N".into(),
            header: CopyHeader::None,
            quote: b'"',
            escape: b'"',
            force_quote: CopyColumns::None,
            force_not_null: CopyColumns::None,
            force_null: CopyColumns::None,
        }
    }
}

fn unsupported(message: &str) -> PlanError {
    PlanError::NotImplemented(message.into())
}

fn invalid(message: String) -> PlanError {
    PlanError::InvalidParameter(message)
}

/// A single one-byte character, or PostgreSQL's error for `what`.
fn one_byte(value: &CopyOptionValue, what: &str) -> Result<u8, PlanError> {
    match value {
        CopyOptionValue::Text(s) if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(unsupported(&format!(
            "COPY {what} must be a single one-byte character"
        ))),
    }
}

/// A Boolean option's value (PostgreSQL's `defGetBoolean`).
fn boolean(value: &CopyOptionValue) -> Option<bool> {
    match value {
        CopyOptionValue::None => Some(true),
        CopyOptionValue::Text(s) => match s.to_lowercase().as_str() {
            "true" | "on" | "1" => Some(true),
            "false" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl CopyStatement {
    /// The options, checked and with their defaults, as PostgreSQL's
    /// `ProcessCopyOptions` does it (its messages, SQLSTATEs and order).
    pub fn options(&self) -> Result<CopyOptions, PlanError> {
        let from = self.direction == CopyDirection::From;
        let mut format = None;
        let mut delimiter = None;
        let mut null = None;
        let mut header = None;
        let mut quote = None;
        let mut escape = None;
        let mut force_quote = None;
        let mut force_not_null = None;
        let mut force_null = None;
        let redundant = || PlanError::Syntax("conflicting or redundant options".into());
        for option in &self.options {
            let value = &option.value;
            let text = match value {
                CopyOptionValue::Text(s) => Some(s.clone()),
                _ => None,
            };
            match option.name.as_str() {
                "format" => {
                    if format.is_some() {
                        return Err(redundant());
                    }
                    let name = text.clone().unwrap_or_default().to_lowercase();
                    format = Some(match name.as_str() {
                        "text" => CopyFormat::Text,
                        "csv" => CopyFormat::Csv,
                        "binary" => CopyFormat::Binary,
                        _ => {
                            return Err(invalid(format!(
                                "COPY format \"{}\" not recognized",
                                text.unwrap_or_default()
                            )));
                        }
                    });
                }
                "freeze" => {
                    if boolean(value) == Some(true) {
                        return Err(unsupported("COPY FREEZE"));
                    }
                }
                "delimiter" => {
                    if delimiter.is_some() {
                        return Err(redundant());
                    }
                    delimiter = Some(value.clone());
                }
                "null" => {
                    if null.is_some() {
                        return Err(redundant());
                    }
                    null = Some(text.unwrap_or_default());
                }
                "header" => {
                    if header.is_some() {
                        return Err(redundant());
                    }
                    header = Some(match (boolean(value), &text) {
                        (Some(true), _) => CopyHeader::Present,
                        (Some(false), _) => CopyHeader::None,
                        (None, Some(t)) if t.eq_ignore_ascii_case("match") => {
                            if !from {
                                return Err(unsupported(
                                    "cannot use \"match\" with HEADER in COPY TO",
                                ));
                            }
                            CopyHeader::Match
                        }
                        _ => {
                            return Err(PlanError::Syntax(
                                "header requires a Boolean value or \"match\"".into(),
                            ));
                        }
                    });
                }
                "quote" => {
                    if quote.is_some() {
                        return Err(redundant());
                    }
                    quote = Some(value.clone());
                }
                "escape" => {
                    if escape.is_some() {
                        return Err(redundant());
                    }
                    escape = Some(value.clone());
                }
                "force_quote" | "force_not_null" | "force_null" => {
                    let slot = match option.name.as_str() {
                        "force_quote" => &mut force_quote,
                        "force_not_null" => &mut force_not_null,
                        _ => &mut force_null,
                    };
                    if slot.is_some() {
                        return Err(redundant());
                    }
                    *slot = Some(match value {
                        CopyOptionValue::Star if option.name == "force_quote" => CopyColumns::All,
                        CopyOptionValue::Columns(c) => CopyColumns::Some(c.clone()),
                        _ => {
                            return Err(PlanError::Syntax(format!(
                                "argument to option \"{}\" must be a list of column names",
                                option.name
                            )));
                        }
                    });
                }
                "encoding" => {
                    let name = text
                        .unwrap_or_default()
                        .to_lowercase()
                        .replace(['-', '_'], "");
                    if name != "utf8" && name != "unicode" {
                        return Err(unsupported(
                            "COPY ENCODING other than UTF8 (the only client encoding Freshet has)",
                        ));
                    }
                }
                other => {
                    return Err(PlanError::Syntax(format!(
                        "option \"{other}\" not recognized"
                    )));
                }
            }
        }
        let format = format.unwrap_or_default();
        let csv = format == CopyFormat::Csv;
        let binary = format == CopyFormat::Binary;
        if binary && delimiter.is_some() {
            return Err(PlanError::Syntax(
                "cannot specify DELIMITER in BINARY mode".into(),
            ));
        }
        if binary && null.is_some() {
            return Err(PlanError::Syntax(
                "cannot specify NULL in BINARY mode".into(),
            ));
        }
        let delimiter = match &delimiter {
            Some(v) => one_byte(v, "delimiter")?,
            None if csv => b',',
            None => b'\t',
        };
        let null = null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() });
        if delimiter == b'\n' || delimiter == b'\r' {
            return Err(invalid(
                "COPY delimiter cannot be newline or carriage return".into(),
            ));
        }
        if null.contains(['\n', '\r']) {
            return Err(invalid(
                "COPY null representation cannot use newline or carriage return".into(),
            ));
        }
        if !csv && b"\\.abcdefghijklmnopqrstuvwxyz0123456789".contains(&delimiter) {
            return Err(invalid(format!(
                "COPY delimiter cannot be \"{}\"",
                delimiter as char
            )));
        }
        let header = header.unwrap_or_default();
        if binary && header != CopyHeader::None {
            return Err(unsupported("cannot specify HEADER in BINARY mode"));
        }
        if !csv && quote.is_some() {
            return Err(unsupported("COPY quote available only in CSV mode"));
        }
        let quote = match &quote {
            Some(v) => one_byte(v, "quote")?,
            None => b'"',
        };
        if csv && delimiter == quote {
            return Err(invalid("COPY delimiter and quote must be different".into()));
        }
        if !csv && escape.is_some() {
            return Err(unsupported("COPY escape available only in CSV mode"));
        }
        let escape = match &escape {
            Some(v) => one_byte(v, "escape")?,
            None => quote,
        };
        let force_quote = force_quote.unwrap_or_default();
        if !csv && force_quote != CopyColumns::None {
            return Err(unsupported("COPY force quote available only in CSV mode"));
        }
        if force_quote != CopyColumns::None && from {
            return Err(unsupported("COPY force quote only available using COPY TO"));
        }
        let force_not_null = force_not_null.unwrap_or_default();
        if !csv && force_not_null != CopyColumns::None {
            return Err(unsupported(
                "COPY force not null available only in CSV mode",
            ));
        }
        if force_not_null != CopyColumns::None && !from {
            return Err(unsupported(
                "COPY force not null only available using COPY FROM",
            ));
        }
        let force_null = force_null.unwrap_or_default();
        if !csv && force_null != CopyColumns::None {
            return Err(unsupported("COPY force null available only in CSV mode"));
        }
        if force_null != CopyColumns::None && !from {
            return Err(unsupported(
                "COPY force null only available using COPY FROM",
            ));
        }
        if null.as_bytes().contains(&delimiter) {
            return Err(invalid(
                "COPY delimiter must not appear in the NULL specification".into(),
            ));
        }
        if csv && null.as_bytes().contains(&quote) {
            return Err(unsupported(
                "CSV quote character must not appear in the NULL specification",
            ));
        }
        Ok(CopyOptions {
            format,
            delimiter,
            null,
            header,
            quote,
            escape,
            force_quote,
            force_not_null,
            force_null,
        })
    }
}

/// An identifier as PostgreSQL folds it.
fn folded(ident: sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_lowercase()
    }
}

fn word_is(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.value.eq_ignore_ascii_case(w))
}

/// A parenthesized column list.
fn column_list(parser: &mut Parser) -> Result<Vec<String>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut cols = Vec::new();
    loop {
        cols.push(folded(parser.parse_identifier()?));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(cols)
}

/// A string literal (`'x'`, `E'\t'`).
fn string(parser: &mut Parser) -> Result<String, ParserError> {
    parser.parse_literal_string()
}

/// Parses a `COPY` after the `COPY` keyword. `subscribe` parses
/// `SUBSCRIBE ...` after that keyword.
pub fn parse_copy(
    parser: &mut Parser,
    subscribe: impl FnOnce(&mut Parser) -> Result<SubscribeStatement, ParserError>,
) -> Result<CopyStatement, ParserError> {
    let relation = if parser.consume_token(&Token::LParen) {
        let r = if word_is(&parser.peek_token().token, "SUBSCRIBE") {
            parser.next_token();
            CopyRelation::Subscribe(subscribe(parser)?)
        } else {
            CopyRelation::Query(parser.parse_query()?)
        };
        parser.expect_token(&Token::RParen)?;
        r
    } else {
        let name = parser.parse_object_name(false)?;
        let columns = if parser.peek_token().token == Token::LParen {
            column_list(parser)?
        } else {
            Vec::new()
        };
        CopyRelation::Table { name, columns }
    };
    let direction = if parser.parse_keyword(Keyword::FROM) {
        if !matches!(relation, CopyRelation::Table { .. }) {
            return Err(ParserError::ParserError(
                "syntax error at or near \"FROM\"".into(),
            ));
        }
        CopyDirection::From
    } else if parser.parse_keyword(Keyword::TO) {
        CopyDirection::To
    } else {
        return parser.expected("FROM or TO", parser.peek_token());
    };
    let endpoint = if parser.parse_keyword(Keyword::STDIN) || parser.parse_keyword(Keyword::STDOUT)
    {
        CopyEndpoint::Client
    } else if parser.parse_keyword(Keyword::PROGRAM) {
        string(parser)?;
        CopyEndpoint::Program
    } else {
        CopyEndpoint::File(string(parser)?)
    };
    let mut options = Vec::new();
    let with = parser.parse_keyword(Keyword::WITH);
    if parser.peek_token().token == Token::LParen {
        parser.next_token();
        loop {
            options.push(option(parser)?);
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
    } else {
        legacy_options(parser, &mut options)?;
        if with && options.is_empty() {
            return parser.expected("(", parser.peek_token());
        }
    }
    let has_where = parser.parse_keyword(Keyword::WHERE);
    if has_where {
        parser.parse_expr()?;
    }
    Ok(CopyStatement {
        relation,
        direction,
        endpoint,
        options,
        has_where,
    })
}

/// One `name [value]` of the parenthesized option list.
fn option(parser: &mut Parser) -> Result<CopyOption, ParserError> {
    let name = match parser.next_token().token {
        Token::Word(w) => w.value.to_lowercase(),
        other => {
            return Err(ParserError::ParserError(format!(
                "syntax error at or near \"{other}\""
            )));
        }
    };
    let value = match parser.peek_token().token {
        Token::Comma | Token::RParen => CopyOptionValue::None,
        Token::Mul => {
            parser.next_token();
            CopyOptionValue::Star
        }
        Token::LParen => CopyOptionValue::Columns(column_list(parser)?),
        Token::Number(n, _) => {
            parser.next_token();
            CopyOptionValue::Text(n)
        }
        Token::Minus => {
            parser.next_token();
            match parser.next_token().token {
                Token::Number(n, _) => CopyOptionValue::Text(format!("-{n}")),
                other => {
                    return Err(ParserError::ParserError(format!(
                        "syntax error at or near \"{other}\""
                    )));
                }
            }
        }
        Token::Word(w) => {
            parser.next_token();
            CopyOptionValue::Text(w.value)
        }
        _ => CopyOptionValue::Text(string(parser)?),
    };
    Ok(CopyOption { name, value })
}

/// The pre-9.0 options: `[BINARY] [DELIMITER [AS] 'c'] [NULL [AS] 'n']
/// [CSV [HEADER] [QUOTE [AS] 'q'] [ESCAPE [AS] 'e'] [FORCE QUOTE cols | *]
/// [FORCE NOT NULL cols]]`, as psql's `\copy ... csv header` sends them.
fn legacy_options(parser: &mut Parser, options: &mut Vec<CopyOption>) -> Result<(), ParserError> {
    let mut push = |name: &str, value: CopyOptionValue| {
        options.push(CopyOption {
            name: name.into(),
            value,
        })
    };
    loop {
        let t = parser.peek_token().token;
        if word_is(&t, "BINARY") {
            parser.next_token();
            push("format", CopyOptionValue::Text("binary".into()));
        } else if word_is(&t, "CSV") {
            parser.next_token();
            push("format", CopyOptionValue::Text("csv".into()));
        } else if word_is(&t, "HEADER") {
            parser.next_token();
            push("header", CopyOptionValue::None);
        } else if word_is(&t, "DELIMITER")
            || word_is(&t, "NULL")
            || word_is(&t, "QUOTE")
            || word_is(&t, "ESCAPE")
        {
            parser.next_token();
            let _ = parser.parse_keyword(Keyword::AS);
            let name = match t {
                Token::Word(w) => w.value.to_lowercase(),
                _ => unreachable!("matched a word"),
            };
            push(&name, CopyOptionValue::Text(string(parser)?));
        } else if word_is(&t, "FORCE") {
            parser.next_token();
            if parser.parse_keyword(Keyword::QUOTE) {
                if parser.consume_token(&Token::Mul) {
                    push("force_quote", CopyOptionValue::Star);
                } else {
                    push(
                        "force_quote",
                        CopyOptionValue::Columns(bare_columns(parser)?),
                    );
                }
            } else {
                parser.expect_keywords(&[Keyword::NOT, Keyword::NULL])?;
                push(
                    "force_not_null",
                    CopyOptionValue::Columns(bare_columns(parser)?),
                );
            }
        } else {
            return Ok(());
        }
    }
}

/// `a, b` (the legacy options' column lists have no parentheses).
fn bare_columns(parser: &mut Parser) -> Result<Vec<String>, ParserError> {
    let mut cols = Vec::new();
    loop {
        cols.push(folded(parser.parse_identifier()?));
        if !parser.consume_token(&Token::Comma) {
            return Ok(cols);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;

    fn parse(sql: &str) -> CopyStatement {
        let mut parser = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .expect("tokenizes");
        assert!(parser.parse_keyword(Keyword::COPY));
        parse_copy(&mut parser, |_| {
            Err(ParserError::ParserError("no subscribe here".into()))
        })
        .expect("parses")
    }

    #[test]
    fn legacy_options_are_the_option_list() {
        let legacy = parse("COPY t FROM STDIN WITH CSV HEADER DELIMITER AS ';' NULL 'x'")
            .options()
            .expect("valid");
        let list = parse("COPY t FROM STDIN (FORMAT csv, HEADER, DELIMITER ';', NULL 'x')")
            .options()
            .expect("valid");
        assert_eq!(legacy, list);
        assert_eq!(legacy.format, CopyFormat::Csv);
        assert_eq!(legacy.delimiter, b';');
        assert_eq!(legacy.header, CopyHeader::Present);
        assert_eq!(legacy.quote, b'"');
    }

    #[test]
    fn defaults_follow_the_format() {
        let text = parse("COPY t TO STDOUT").options().expect("valid");
        assert_eq!((text.delimiter, text.null.as_str()), (b'\t', "\\N"));
        let csv = parse("COPY t (a, \"B\") FROM STDIN (FORMAT 'csv', ESCAPE '\\')")
            .options()
            .expect("valid");
        assert_eq!((csv.delimiter, csv.null.as_str()), (b',', ""));
        assert_eq!((csv.quote, csv.escape), (b'"', b'\\'));
    }

    #[test]
    fn checks_are_postgresqls() {
        let err = |sql: &str| parse(sql).options().expect_err("invalid").to_string();
        assert_eq!(
            err("COPY t FROM STDIN (FORMAT csv, FORMAT text)"),
            "conflicting or redundant options"
        );
        assert_eq!(
            err("COPY t FROM STDIN (DELIMITER 'a')"),
            "COPY delimiter cannot be \"a\""
        );
        assert_eq!(
            err("COPY t FROM STDIN (QUOTE '''')"),
            "COPY quote available only in CSV mode"
        );
        assert_eq!(
            err("COPY t FROM STDIN (FORMAT csv, FORCE_QUOTE *)"),
            "COPY force quote only available using COPY TO"
        );
        assert_eq!(
            err("COPY t TO STDOUT (HEADER match)"),
            "cannot use \"match\" with HEADER in COPY TO"
        );
        assert_eq!(
            err("COPY t FROM STDIN (bogus 1)"),
            "option \"bogus\" not recognized"
        );
    }
}
