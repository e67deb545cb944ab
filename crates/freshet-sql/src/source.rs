//! Statements for external data (Materialize's syntax): `CREATE SECRET`,
//! `CREATE CONNECTION ... TO KAFKA | CONFLUENT SCHEMA REGISTRY`, and
//! `CREATE SOURCE ... FROM KAFKA CONNECTION ...`.
//!
//! Each statement prints back (`Display`) to SQL that parses to the same
//! statement: that text is what the catalog stores and replays.

use std::fmt;

use sqlparser::ast::ObjectName;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// `CREATE SECRET [IF NOT EXISTS] name AS 'value'`. Its `Debug` leaves the
/// value out.
#[derive(Clone)]
pub struct CreateSecretStatement {
    /// The secret's name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The secret.
    pub value: String,
}

/// `ALTER SECRET [IF EXISTS] name AS 'value'`: later uses of the secret
/// (new connections, sources and sinks, and every one after a restart)
/// get the new value; running sources and sinks keep the one they started
/// with, as in Materialize. Its `Debug` leaves the value out.
#[derive(Clone)]
pub struct AlterSecretStatement {
    /// The secret's name.
    pub name: ObjectName,
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// The new value.
    pub value: String,
}

impl fmt::Debug for CreateSecretStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateSecretStatement")
            .field("name", &self.name)
            .field("if_not_exists", &self.if_not_exists)
            .field("value", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for AlterSecretStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlterSecretStatement")
            .field("name", &self.name)
            .field("if_exists", &self.if_exists)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// A connection option's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// A string (or number, kept as written).
    Value(String),
    /// `SECRET name`.
    Secret(ObjectName),
    /// `( 'a', 'b', ... )`.
    List(Vec<String>),
}

/// What a connection connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// `TO KAFKA`.
    Kafka,
    /// `TO CONFLUENT SCHEMA REGISTRY`.
    SchemaRegistry,
}

/// `CREATE CONNECTION [IF NOT EXISTS] name TO KAFKA | CONFLUENT SCHEMA
/// REGISTRY (option [=] value, ...) [WITH (VALIDATE = bool)]`.
#[derive(Debug, Clone)]
pub struct CreateConnectionStatement {
    /// The connection's name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// What it connects to.
    pub kind: ConnectionKind,
    /// Options, names upper-cased with single spaces (`SASL USERNAME`).
    pub options: Vec<(String, OptionValue)>,
    /// `WITH (VALIDATE = false)` turns the check at creation off.
    pub validate: bool,
}

/// A message format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `JSON`: one `jsonb` column.
    Json,
    /// `TEXT`: one `text` column.
    Text,
    /// `BYTES`: one `bytea` column.
    Bytes,
    /// `CSV WITH n COLUMNS` (`column1` ...) or `CSV WITH HEADER (names)`.
    Csv {
        /// The column names.
        columns: Vec<String>,
        /// Whether they were given as a header list.
        header: bool,
        /// The field delimiter.
        delimiter: u8,
    },
    /// `AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION c [SEED [KEY
    /// SCHEMA 'k'] [VALUE SCHEMA 'v']]`.
    Avro {
        /// The registry connection.
        connection: ObjectName,
        /// The reader schema (Avro JSON) of this key or value: fetched from
        /// the registry when the source is created and kept in the stored
        /// statement (`SEED KEY SCHEMA` / `SEED VALUE SCHEMA`, like
        /// Materialize's purification), so the columns never depend on
        /// the registry again. `None` before that, and for a key whose
        /// subject the registry does not have.
        schema: Option<String>,
    },
}

impl Format {
    /// The SQL for this format as the key's (`key`) or the value's format:
    /// an Avro format's seed says which one it is.
    pub fn to_sql(&self, key: bool) -> String {
        match self {
            Format::Avro {
                connection,
                schema: Some(schema),
            } => format!(
                "AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION {connection} SEED {} SCHEMA {}",
                if key { "KEY" } else { "VALUE" },
                quote_literal(schema)
            ),
            other => other.to_string(),
        }
    }
}

/// The `SEED` clause after an Avro format: key and value schemas.
#[derive(Debug, Default)]
struct AvroSeed {
    key: Option<String>,
    value: Option<String>,
}

/// How records change the source's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// Every record is a new row.
    None,
    /// The last value per key is the row; a null value deletes it.
    Upsert {
        /// `VALUE DECODING ERRORS = INLINE [AS name]`: undecodable values
        /// become rows with this error column instead of errors.
        inline_errors: Option<String>,
    },
    /// Debezium change events (`before`/`after`/`op`).
    Debezium,
}

pub use super::include::IncludeKind;

/// `CREATE SOURCE [IF NOT EXISTS] name FROM KAFKA CONNECTION c (TOPIC 't'
/// [, START OFFSET (o, ...)] [, START TIMESTAMP ms]) [KEY FORMAT f VALUE
/// FORMAT f | FORMAT f] [INCLUDE ...] [ENVELOPE NONE | UPSERT | DEBEZIUM
/// [(TRANSACTION METADATA (...))]]`.
#[derive(Debug, Clone)]
pub struct CreateKafkaSourceStatement {
    /// The source's name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The Kafka connection.
    pub connection: ObjectName,
    /// The topic.
    pub topic: String,
    /// `START OFFSET`: the first offset to read, per partition (0, 1, ...).
    pub start_offsets: Vec<i64>,
    /// `START TIMESTAMP`: milliseconds since the epoch, or (when negative)
    /// relative to now.
    pub start_timestamp: Option<i64>,
    /// The key's format, if the key is decoded.
    pub key_format: Option<Format>,
    /// The value's format.
    pub value_format: Format,
    /// Included metadata columns, with their `AS` names.
    pub include: Vec<(IncludeKind, Option<String>)>,
    /// The envelope.
    pub envelope: Envelope,
    /// `ENVELOPE DEBEZIUM (TRANSACTION METADATA (...))`.
    pub transaction_metadata: Option<super::debezium::TransactionMetadata>,
}

pub(crate) fn word_is(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.value.eq_ignore_ascii_case(w))
}

pub(crate) fn expect_word(parser: &mut Parser, w: &str) -> Result<(), ParserError> {
    let t = parser.next_token();
    if word_is(&t.token, w) {
        Ok(())
    } else {
        Err(ParserError::ParserError(format!(
            "Expected: {w}, found: {}",
            t.token
        )))
    }
}

pub(crate) fn parse_word(parser: &mut Parser, w: &str) -> bool {
    if word_is(&parser.peek_token().token, w) {
        parser.next_token();
        true
    } else {
        false
    }
}

pub(crate) fn ident_text(parser: &mut Parser) -> Result<String, ParserError> {
    let i = parser.parse_identifier()?;
    Ok(if i.quote_style.is_some() {
        i.value
    } else {
        i.value.to_lowercase()
    })
}

/// Parses `name AS 'value'` after `CREATE SECRET`.
pub fn parse_create_secret(parser: &mut Parser) -> Result<CreateSecretStatement, ParserError> {
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::AS)?;
    let value = parser.parse_literal_string()?;
    Ok(CreateSecretStatement {
        name,
        if_not_exists,
        value,
    })
}

/// Parses `[IF EXISTS] name AS 'value'` after `ALTER SECRET`.
pub fn parse_alter_secret(parser: &mut Parser) -> Result<AlterSecretStatement, ParserError> {
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    if !parser.parse_keyword(Keyword::AS) {
        return Err(ParserError::ParserError(format!(
            "Expected: AS or RENAME TO (ALTER SECRET ... OWNER TO is not supported), found: {}",
            parser.peek_token().token
        )));
    }
    let value = parser.parse_literal_string()?;
    Ok(AlterSecretStatement {
        name,
        if_exists,
        value,
    })
}

/// Parses a string, a (possibly negative) number or a word.
fn parse_scalar(parser: &mut Parser) -> Result<String, ParserError> {
    let negative = parser.consume_token(&Token::Minus);
    match parser.next_token().token {
        Token::SingleQuotedString(s) if !negative => Ok(s),
        Token::Number(n, _) => Ok(if negative { format!("-{n}") } else { n }),
        Token::Word(w) if !negative => Ok(w.value),
        other => Err(ParserError::ParserError(format!(
            "Expected: option value, found: {other}"
        ))),
    }
}

/// Option names that end where they are complete, so that a bare word
/// after them is their value.
const WORD_VALUED: [&str; 2] = ["SECURITY PROTOCOL", "SASL MECHANISMS"];

/// Parses `( NAME WORDS [=] value, ... )`.
pub(crate) fn parse_option_list(
    parser: &mut Parser,
) -> Result<Vec<(String, OptionValue)>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut options = Vec::new();
    loop {
        let mut words = Vec::new();
        while let Token::Word(w) = &parser.peek_token().token {
            if w.value.eq_ignore_ascii_case("SECRET") && !words.is_empty() {
                break;
            }
            words.push(w.value.to_uppercase());
            parser.next_token();
            // Options whose value may be a bare word without `=`
            // (`SECURITY PROTOCOL SASL_SSL`, as Materialize allows).
            if WORD_VALUED.contains(&words.join(" ").as_str()) {
                break;
            }
        }
        if words.is_empty() {
            return Err(ParserError::ParserError(format!(
                "Expected: option name, found: {}",
                parser.peek_token().token
            )));
        }
        let _ = parser.consume_token(&Token::Eq);
        let value = if parse_word(parser, "SECRET") {
            OptionValue::Secret(parser.parse_object_name(false)?)
        } else if parser.consume_token(&Token::LParen) {
            let mut items = Vec::new();
            loop {
                items.push(parse_scalar(parser)?);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
            OptionValue::List(items)
        } else {
            OptionValue::Value(parse_scalar(parser)?)
        };
        options.push((words.join(" "), value));
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(options)
}

/// Parses what follows `CREATE CONNECTION`.
pub fn parse_create_connection(
    parser: &mut Parser,
) -> Result<CreateConnectionStatement, ParserError> {
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    parser.expect_keyword(Keyword::TO)?;
    let kind = if parse_word(parser, "KAFKA") {
        ConnectionKind::Kafka
    } else if parse_word(parser, "CONFLUENT") {
        expect_word(parser, "SCHEMA")?;
        expect_word(parser, "REGISTRY")?;
        ConnectionKind::SchemaRegistry
    } else {
        return Err(ParserError::ParserError(format!(
            "Expected: KAFKA or CONFLUENT SCHEMA REGISTRY, found: {}",
            parser.peek_token().token
        )));
    };
    let options = parse_option_list(parser)?;
    let mut validate = true;
    if parser.parse_keyword(Keyword::WITH) {
        for (name, value) in parse_option_list(parser)? {
            match (name.as_str(), value) {
                ("VALIDATE", OptionValue::Value(v)) => {
                    validate = match v.to_lowercase().as_str() {
                        "true" | "on" | "1" => true,
                        "false" | "off" | "0" => false,
                        _ => {
                            return Err(ParserError::ParserError(format!(
                                "invalid VALIDATE value: {v}"
                            )));
                        }
                    }
                }
                (other, _) => {
                    return Err(ParserError::ParserError(format!(
                        "unrecognized connection option {other}"
                    )));
                }
            }
        }
    }
    Ok(CreateConnectionStatement {
        name,
        if_not_exists,
        kind,
        options,
        validate,
    })
}

/// Parses `SEED [KEY SCHEMA 'k'] [VALUE SCHEMA 'v']`, if present.
fn parse_avro_seed(parser: &mut Parser) -> Result<AvroSeed, ParserError> {
    let mut seed = AvroSeed::default();
    if !parse_word(parser, "SEED") {
        return Ok(seed);
    }
    if parse_word(parser, "KEY") {
        expect_word(parser, "SCHEMA")?;
        seed.key = Some(parser.parse_literal_string()?);
    }
    // `KEY FORMAT AVRO ... SEED KEY SCHEMA 'k' VALUE FORMAT ...`: `VALUE`
    // then starts the value's format, not a seed.
    let value_seed = matches!(
        (parser.peek_nth_token(0).token, parser.peek_nth_token(1).token),
        (a, b) if word_is(&a, "VALUE") && word_is(&b, "SCHEMA")
    );
    if value_seed {
        parser.next_token();
        parser.next_token();
        seed.value = Some(parser.parse_literal_string()?);
    }
    if seed.key.is_none() && seed.value.is_none() {
        return Err(ParserError::ParserError(format!(
            "Expected: KEY SCHEMA or VALUE SCHEMA after SEED, found: {}",
            parser.peek_token().token
        )));
    }
    Ok(seed)
}

/// Parses a format; an Avro format's `SEED` clause is returned beside it
/// (the caller knows whether the format is the key's, the value's or both).
fn parse_format(parser: &mut Parser) -> Result<(Format, AvroSeed), ParserError> {
    let format = parse_format_only(parser)?;
    let seed = if matches!(format, Format::Avro { .. }) {
        parse_avro_seed(parser)?
    } else {
        AvroSeed::default()
    };
    Ok((format, seed))
}

/// Gives an Avro format its seed schema.
fn with_schema(format: Format, seed: Option<String>) -> Format {
    match format {
        Format::Avro { connection, .. } => Format::Avro {
            connection,
            schema: seed,
        },
        other => other,
    }
}

fn parse_format_only(parser: &mut Parser) -> Result<Format, ParserError> {
    let t = parser.next_token().token;
    if word_is(&t, "JSON") {
        Ok(Format::Json)
    } else if word_is(&t, "TEXT") {
        Ok(Format::Text)
    } else if word_is(&t, "BYTES") {
        Ok(Format::Bytes)
    } else if word_is(&t, "CSV") {
        parser.expect_keyword(Keyword::WITH)?;
        let (columns, header) = if parse_word(parser, "HEADER") {
            parser.expect_token(&Token::LParen)?;
            let mut names = Vec::new();
            loop {
                names.push(ident_text(parser)?);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
            (names, true)
        } else {
            let n = parser.parse_literal_uint()?;
            expect_word(parser, "COLUMNS")?;
            if n == 0 || n > 1600 {
                return Err(ParserError::ParserError(format!(
                    "CSV WITH {n} COLUMNS: the column count must be between 1 and 1600"
                )));
            }
            ((1..=n).map(|i| format!("column{i}")).collect(), false)
        };
        let mut delimiter = b',';
        if parser.parse_keyword(Keyword::DELIMITED) {
            parser.expect_keyword(Keyword::BY)?;
            let d = parser.parse_literal_string()?;
            match d.as_bytes() {
                [b] if d.is_ascii() => delimiter = *b,
                _ => {
                    return Err(ParserError::ParserError(
                        "CSV delimiter must be one ASCII character".into(),
                    ));
                }
            }
        }
        Ok(Format::Csv {
            columns,
            header,
            delimiter,
        })
    } else if word_is(&t, "AVRO") {
        parser.expect_keyword(Keyword::USING)?;
        expect_word(parser, "CONFLUENT")?;
        expect_word(parser, "SCHEMA")?;
        expect_word(parser, "REGISTRY")?;
        expect_word(parser, "CONNECTION")?;
        let connection = parser.parse_object_name(false)?;
        Ok(Format::Avro {
            connection,
            schema: None,
        })
    } else if word_is(&t, "PROTOBUF") || word_is(&t, "REGEX") {
        Err(ParserError::ParserError(format!(
            "FORMAT {t} is not supported"
        )))
    } else {
        Err(ParserError::ParserError(format!(
            "Expected: JSON, TEXT, BYTES, CSV or AVRO, found: {t}"
        )))
    }
}

/// Parses what follows `CREATE SOURCE [IF NOT EXISTS] name FROM KAFKA`.
pub fn parse_kafka_source(
    parser: &mut Parser,
    name: ObjectName,
    if_not_exists: bool,
) -> Result<CreateKafkaSourceStatement, ParserError> {
    expect_word(parser, "CONNECTION")?;
    let connection = parser.parse_object_name(false)?;
    let mut topic = None;
    let mut start_offsets = Vec::new();
    let mut start_timestamp = None;
    for (name, value) in parse_option_list(parser)? {
        match (name.as_str(), value) {
            ("TOPIC", OptionValue::Value(t)) => topic = Some(t),
            ("START OFFSET", OptionValue::List(l)) => {
                start_offsets = l
                    .iter()
                    .map(|o| {
                        // A negative entry parses: `CREATE SOURCE` refuses it
                        // with Materialize's message.
                        o.parse::<i64>().ok().ok_or_else(|| {
                            ParserError::ParserError(format!("invalid START OFFSET {o}"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            ("START TIMESTAMP", OptionValue::Value(v)) => {
                start_timestamp = Some(v.parse::<i64>().map_err(|_| {
                    ParserError::ParserError(format!("invalid START TIMESTAMP {v}"))
                })?);
            }
            (other, _) => {
                return Err(ParserError::ParserError(format!(
                    "unrecognized Kafka source option {other}"
                )));
            }
        }
    }
    let Some(topic) = topic else {
        return Err(ParserError::ParserError(
            "Kafka sources need a TOPIC option".into(),
        ));
    };
    let mut key_format = None;
    let value_format;
    if parse_word(parser, "KEY") {
        expect_word(parser, "FORMAT")?;
        let (f, seed) = parse_format(parser)?;
        key_format = Some(with_schema(f, seed.key));
        expect_word(parser, "VALUE")?;
        expect_word(parser, "FORMAT")?;
        let (f, seed) = parse_format(parser)?;
        value_format = with_schema(f, seed.value);
    } else if parse_word(parser, "FORMAT") {
        let (f, seed) = parse_format(parser)?;
        // Like Materialize: `FORMAT f` applies to the key too, for the
        // formats that can decode any key.
        if matches!(
            f,
            Format::Json | Format::Text | Format::Bytes | Format::Avro { .. }
        ) {
            key_format = Some(with_schema(f.clone(), seed.key));
        }
        value_format = with_schema(f, seed.value);
    } else {
        value_format = Format::Bytes;
        key_format = Some(Format::Bytes);
    }
    let include = if parser.parse_keyword(Keyword::INCLUDE) {
        super::include::parse_include(parser)?
    } else {
        Vec::new()
    };
    let mut envelope = Envelope::None;
    let mut transaction_metadata = None;
    if parse_word(parser, "ENVELOPE") {
        let t = parser.next_token().token;
        envelope = if word_is(&t, "NONE") {
            Envelope::None
        } else if word_is(&t, "UPSERT") {
            let mut inline_errors = None;
            if parser.consume_token(&Token::LParen) {
                expect_word(parser, "VALUE")?;
                expect_word(parser, "DECODING")?;
                expect_word(parser, "ERRORS")?;
                let _ = parser.consume_token(&Token::Eq);
                // `= INLINE` and `= (INLINE [AS name])` both parse.
                let inner = parser.consume_token(&Token::LParen);
                expect_word(parser, "INLINE")?;
                let alias = if parser.parse_keyword(Keyword::AS) {
                    ident_text(parser)?
                } else {
                    "error".to_string()
                };
                if inner {
                    parser.expect_token(&Token::RParen)?;
                }
                parser.expect_token(&Token::RParen)?;
                inline_errors = Some(alias);
            }
            Envelope::Upsert { inline_errors }
        } else if word_is(&t, "DEBEZIUM") {
            transaction_metadata = super::debezium::parse_debezium_options(parser)?;
            Envelope::Debezium
        } else {
            return Err(ParserError::ParserError(format!(
                "Expected: NONE, UPSERT or DEBEZIUM, found: {t}"
            )));
        };
    }
    Ok(CreateKafkaSourceStatement {
        name,
        if_not_exists,
        connection,
        topic,
        start_offsets,
        start_timestamp,
        key_format,
        value_format,
        include,
        envelope,
        transaction_metadata,
    })
}

/// Quotes a string as an SQL literal.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl fmt::Display for CreateSecretStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE SECRET {}{} AS {}",
            if self.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            self.name,
            quote_literal(&self.value)
        )
    }
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Value(v) => write!(f, "{}", quote_literal(v)),
            OptionValue::Secret(s) => write!(f, "SECRET {s}"),
            OptionValue::List(l) => {
                let items: Vec<String> = l.iter().map(|s| quote_literal(s)).collect();
                write!(f, "({})", items.join(", "))
            }
        }
    }
}

impl fmt::Display for CreateConnectionStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE CONNECTION {}{} TO {} (",
            if self.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            self.name,
            match self.kind {
                ConnectionKind::Kafka => "KAFKA",
                ConnectionKind::SchemaRegistry => "CONFLUENT SCHEMA REGISTRY",
            }
        )?;
        for (i, (name, value)) in self.options.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{name} = {value}")?;
        }
        write!(f, ")")?;
        if !self.validate {
            write!(f, " WITH (VALIDATE = false)")?;
        }
        Ok(())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Json => write!(f, "JSON"),
            Format::Text => write!(f, "TEXT"),
            Format::Bytes => write!(f, "BYTES"),
            Format::Csv {
                columns,
                header,
                delimiter,
            } => {
                if *header {
                    let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                    write!(f, "CSV WITH HEADER ({})", names.join(", "))?;
                } else {
                    write!(f, "CSV WITH {} COLUMNS", columns.len())?;
                }
                if *delimiter != b',' {
                    write!(
                        f,
                        " DELIMITED BY {}",
                        quote_literal(&(*delimiter as char).to_string())
                    )?;
                }
                Ok(())
            }
            Format::Avro { connection, .. } => {
                write!(
                    f,
                    "AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION {connection}"
                )
            }
        }
    }
}

impl fmt::Display for CreateKafkaSourceStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE SOURCE {}{} FROM KAFKA CONNECTION {} (TOPIC {}",
            if self.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            self.name,
            self.connection,
            quote_literal(&self.topic)
        )?;
        if !self.start_offsets.is_empty() {
            let o: Vec<String> = self
                .start_offsets
                .iter()
                .map(|o| quote_literal(&o.to_string()))
                .collect();
            write!(f, ", START OFFSET ({})", o.join(", "))?;
        }
        if let Some(t) = self.start_timestamp {
            write!(f, ", START TIMESTAMP {}", quote_literal(&t.to_string()))?;
        }
        write!(f, ")")?;
        match &self.key_format {
            Some(k) => write!(
                f,
                " KEY FORMAT {} VALUE FORMAT {}",
                k.to_sql(true),
                self.value_format.to_sql(false)
            )?,
            None => write!(f, " FORMAT {}", self.value_format.to_sql(false))?,
        }
        if !self.include.is_empty() {
            write!(f, " INCLUDE {}", super::include::include_sql(&self.include))?;
        }
        match &self.envelope {
            Envelope::None => write!(f, " ENVELOPE NONE"),
            Envelope::Upsert {
                inline_errors: None,
            } => write!(f, " ENVELOPE UPSERT"),
            Envelope::Upsert {
                inline_errors: Some(a),
            } => write!(
                f,
                " ENVELOPE UPSERT (VALUE DECODING ERRORS = (INLINE AS {}))",
                quote_ident(a)
            ),
            Envelope::Debezium => match &self.transaction_metadata {
                Some(m) => write!(f, " ENVELOPE DEBEZIUM {m}"),
                None => write!(f, " ENVELOPE DEBEZIUM"),
            },
        }
    }
}
