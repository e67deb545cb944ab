//! Decoding Kafka records into a source's rows: formats (`JSON`, `TEXT`,
//! `BYTES`, `CSV`, `AVRO` through a schema registry) for keys and values,
//! the included metadata columns, and envelopes (`NONE`, `UPSERT`,
//! `DEBEZIUM` in JSON or Avro).
//!
//! A record that cannot be decoded becomes an error value, never a panic
//! and never a silently dropped record: for `NONE` the error is appended to
//! the source's errors; for `UPSERT` and `DEBEZIUM` it becomes the key's
//! value until a later record for the key replaces it. A record that cannot
//! be decoded *yet* (the schema registry does not answer) is a [`Stall`]:
//! the source retries it instead of storing an error for a good record.

use std::sync::Arc;

use apache_avro::Schema;
use sqlparser::ast::ObjectName;

use crate::expr::EvalError;
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, RowPacker, ScalarType, jsonb};
use crate::sql::source::{CreateKafkaSourceStatement, Envelope, Format, IncludeKind};
use crate::storage::avro::{self, AvroError, AvroSchema, ConfluentAvroDecoder};
use crate::storage::durable::{SourceChange, SourceValue};
use crate::storage::registry::SchemaLookup;

mod metadata;

pub use metadata::KafkaHeader;
use metadata::MetadataColumn;

/// Decoding a record could not finish for a reason outside the record (the
/// schema registry could not be reached): the source stalls, reports this,
/// and reads the record again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall(pub String);

/// A decoding result: the record's value or its error, or a stall.
type Decoded<T> = Result<Result<T, EvalError>, Stall>;

/// Finds the writer schemas of a registry connection (by its name).
pub type LookupResolver<'a> = &'a dyn Fn(&ObjectName) -> Option<Arc<dyn SchemaLookup>>;

/// A Kafka record, borrowed from the consumer.
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecord<'a> {
    /// The key, if the record has one.
    pub key: Option<&'a [u8]>,
    /// The value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record's timestamp, milliseconds since the epoch.
    pub timestamp: Option<i64>,
    /// The record's headers, in order (empty unless the source
    /// [reads headers](SourceDecoder::reads_headers)).
    pub headers: &'a [KafkaHeader<'a>],
}

/// An upsert key (encoded, and its columns), or the key under which an
/// error is kept and the error.
type UpsertKey = Result<(Vec<u8>, Vec<Datum>), (Vec<u8>, EvalError)>;

/// The upsert key of every record without a key (`ENVELOPE UPSERT`): as in
/// Materialize, such a record is an error the source keeps (reads of the
/// source fail) until a record with a NULL key and a NULL value retracts
/// it; a later NULL-key record with a value replaces the error with its
/// own. The other encoded keys start with 0 (decoded), 1 (undecodable) or
/// 2 (raw bytes), so this one cannot collide with them.
const NULL_UPSERT_KEY: &[u8] = &[3];

/// Names a record's key or value in a decoding error (`value at
/// partition 0 offset 7`); written only when there is an error.
struct At<'a>(&'static str, &'a KafkaRecord<'a>);

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at partition {} offset {}",
            self.0, self.1.partition, self.1.offset
        )
    }
}

/// Why a source definition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionError {
    /// A construct not implemented yet (SQLSTATE 0A000).
    Unsupported(String),
    /// A definition that makes no sense (SQLSTATE 42P16).
    Invalid(String),
}

/// Decodes one format.
#[derive(Debug, Clone)]
struct FormatDecoder {
    format: Format,
    /// For Avro: the reader schema and the writer schemas seen so far
    /// (shared by the clones of a source's decoder).
    avro: Option<Arc<ConfluentAvroDecoder>>,
}

impl FormatDecoder {
    fn new(format: Format, lookups: LookupResolver) -> Result<FormatDecoder, DefinitionError> {
        let avro = match &format {
            Format::Avro {
                connection,
                schema: Some(schema),
            } => {
                let reader = AvroSchema::parse(schema).map_err(DefinitionError::Invalid)?;
                Some(Arc::new(ConfluentAvroDecoder::new(
                    Arc::new(reader),
                    lookups(connection),
                )))
            }
            _ => None,
        };
        Ok(FormatDecoder { format, avro })
    }

    /// The columns the format produces; `key` names a key's single column.
    fn columns(&self, key: bool) -> Result<Vec<ColumnDesc>, DefinitionError> {
        let one = |name: &str, typ: ScalarType| {
            Ok(vec![ColumnDesc {
                name: if key { "key".into() } else { name.into() },
                typ,
                nullable: true,
            }])
        };
        match &self.format {
            Format::Json => one("data", ScalarType::Jsonb),
            Format::Text => one("text", ScalarType::Text),
            Format::Bytes => one("data", ScalarType::Bytea),
            Format::Csv { columns, .. } => Ok(columns
                .iter()
                .map(|c| ColumnDesc {
                    name: c.clone(),
                    typ: ScalarType::Text,
                    nullable: true,
                })
                .collect()),
            Format::Avro { .. } => match &self.avro {
                Some(avro) => avro
                    .reader
                    .columns_of(&avro.reader.schema, if key { "key" } else { "data" })
                    .map_err(|e| {
                        DefinitionError::Invalid(format!(
                            "the Avro {} schema: {e}",
                            if key { "key" } else { "value" }
                        ))
                    }),
                None => Err(DefinitionError::Invalid(format!(
                    "the {} schema is unknown: the schema registry has no subject for it",
                    if key { "key" } else { "value" }
                ))),
            },
        }
    }

    /// Decodes Confluent-framed Avro into a value of the reader schema.
    fn decode_avro(
        &self,
        bytes: &[u8],
        what: &dyn std::fmt::Display,
    ) -> Decoded<apache_avro::types::Value> {
        let Some(avro) = &self.avro else {
            return Ok(Err(EvalError::Decode(format!(
                "Avro: {what}: the schema is unknown"
            ))));
        };
        match avro.decode(bytes) {
            Ok(v) => Ok(Ok(v)),
            Err(AvroError::Record(e)) => Ok(Err(EvalError::Decode(format!("Avro: {what}: {e}")))),
            Err(AvroError::Transient(e)) => Err(Stall(format!("Avro: {what}: {e}"))),
        }
    }

    /// Decodes `bytes` into the format's columns.
    fn decode(&self, bytes: &[u8], what: &dyn std::fmt::Display) -> Decoded<Vec<Datum>> {
        if let (Format::Avro { .. }, Some(avro)) = (&self.format, &self.avro) {
            return Ok(self.decode_avro(bytes, what)?.and_then(|value| {
                avro.reader
                    .datums_of(value, &avro.reader.schema)
                    .map_err(|e| EvalError::Decode(format!("Avro: {what}: {e}")))
            }));
        }
        Ok(self.decode_plain(bytes, what))
    }

    /// Decodes the formats that need nothing but the bytes.
    fn decode_plain(
        &self,
        bytes: &[u8],
        what: &dyn std::fmt::Display,
    ) -> Result<Vec<Datum>, EvalError> {
        match &self.format {
            Format::Bytes => Ok(vec![Datum::Bytes(bytes.to_vec())]),
            Format::Text => std::str::from_utf8(bytes)
                .map(|s| vec![Datum::String(s.to_string())])
                .map_err(|e| EvalError::Decode(format!("Text: {what} is not valid UTF-8: {e}"))),
            Format::Json => {
                let text = std::str::from_utf8(bytes).map_err(|e| {
                    EvalError::Decode(format!("JSON: {what} is not valid UTF-8: {e}"))
                })?;
                crate::repr::strconv::canonical_jsonb(text)
                    .map(|j| vec![Datum::Jsonb(j)])
                    .map_err(|e| EvalError::Decode(format!("JSON: {what}: {}", e.message)))
            }
            Format::Csv {
                columns, delimiter, ..
            } => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .delimiter(*delimiter)
                    .flexible(true)
                    .from_reader(bytes);
                let mut record = csv::ByteRecord::new();
                match reader.read_byte_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(EvalError::Decode(format!(
                            "CSV: {what} is empty, expected {} columns",
                            columns.len()
                        )));
                    }
                    Err(e) => return Err(EvalError::Decode(format!("CSV: {what}: {e}"))),
                }
                if record.len() != columns.len() {
                    return Err(EvalError::Decode(format!(
                        "CSV: {what} has {} columns, expected {}",
                        record.len(),
                        columns.len()
                    )));
                }
                record
                    .iter()
                    .map(|f| {
                        std::str::from_utf8(f)
                            .map(|s| Datum::String(s.to_string()))
                            .map_err(|e| {
                                EvalError::Decode(format!("CSV: {what} is not valid UTF-8: {e}"))
                            })
                    })
                    .collect()
            }
            Format::Avro { .. } => Err(EvalError::Decode(format!(
                "Avro: {what}: the schema is unknown"
            ))),
        }
    }
}

/// Turns Kafka records into changes of a source's contents.
#[derive(Debug, Clone)]
pub struct SourceDecoder {
    key: Option<FormatDecoder>,
    value: FormatDecoder,
    /// Whether the key's columns lead the output row.
    key_in_output: bool,
    /// Metadata columns after the value's, in `INCLUDE` order.
    metadata: Vec<MetadataColumn>,
    envelope: Envelope,
    desc: RelationDesc,
    /// Value columns in the output (fills `NULL`s for an inline error).
    value_arity: usize,
    /// Key columns in the output (fills `NULL`s for a record without a key).
    key_arity: usize,
    /// `ENVELOPE DEBEZIUM` with Avro: the row schema inside the envelope's
    /// `before` and `after`.
    debezium_row: Option<Arc<Schema>>,
}

/// Whether a source needs its key decoded: for its output (`INCLUDE KEY`,
/// `UPSERT`) or as the identity of rows (`DEBEZIUM`).
pub fn key_needed(stmt: &CreateKafkaSourceStatement) -> bool {
    stmt.include.iter().any(|(k, _)| *k == IncludeKind::Key)
        || !matches!(stmt.envelope, Envelope::None)
}

impl SourceDecoder {
    /// Plans the decoding of a source (its columns; an Avro source decodes
    /// nothing until it gets its registry through
    /// [`SourceDecoder::with_registries`]).
    pub fn new(stmt: &CreateKafkaSourceStatement) -> Result<SourceDecoder, DefinitionError> {
        SourceDecoder::with_registries(stmt, &|_| None)
    }

    /// Plans the decoding of a source whose Avro formats look writer
    /// schemas up in the registries `lookups` finds.
    pub fn with_registries(
        stmt: &CreateKafkaSourceStatement,
        lookups: LookupResolver,
    ) -> Result<SourceDecoder, DefinitionError> {
        let include_key = stmt
            .include
            .iter()
            .find(|(k, _)| *k == IncludeKind::Key)
            .map(|(_, alias)| alias.clone());
        let upsert = matches!(stmt.envelope, Envelope::Upsert { .. });
        let key_in_output = include_key.is_some() || upsert;
        let key = match &stmt.key_format {
            // An Avro key without a schema (the registry had no key subject
            // and nothing needs the key's columns) is not decoded: a
            // Debezium source then keys rows on the key's bytes.
            Some(Format::Avro { schema: None, .. }) if !key_in_output => None,
            Some(format) => Some(FormatDecoder::new(format.clone(), lookups)?),
            None => None,
        };
        let value = FormatDecoder::new(stmt.value_format.clone(), lookups)?;
        let debezium = matches!(stmt.envelope, Envelope::Debezium);
        let debezium_row = match (&stmt.value_format, &value.avro) {
            _ if !debezium => None,
            (Format::Json, _) => None,
            (Format::Avro { .. }, Some(avro)) => Some(Arc::new(
                avro::debezium_row_schema(&avro.reader)
                    .map_err(DefinitionError::Invalid)?
                    .clone(),
            )),
            _ => {
                return Err(DefinitionError::Unsupported(format!(
                    "ENVELOPE DEBEZIUM with FORMAT {}",
                    stmt.value_format
                )));
            }
        };
        let mut columns = Vec::new();
        let mut key_arity = 0;
        if key_in_output {
            let Some(key) = &key else {
                return Err(DefinitionError::Invalid(
                    "INCLUDE KEY and ENVELOPE UPSERT need a KEY FORMAT".into(),
                ));
            };
            let mut key_columns = key.columns(true)?;
            if let Some(Some(alias)) = &include_key {
                if key_columns.len() != 1 {
                    return Err(DefinitionError::Invalid(
                        "INCLUDE KEY AS names a single-column key only".into(),
                    ));
                }
                key_columns[0].name = alias.clone();
            }
            if upsert {
                for c in &mut key_columns {
                    c.nullable = false;
                }
            }
            key_arity = key_columns.len();
            columns.extend(key_columns);
        }
        let value_columns = match (&debezium_row, &value.avro) {
            (Some(row), Some(avro)) => avro
                .reader
                .columns_of(row, "data")
                .map_err(|e| DefinitionError::Invalid(format!("the Debezium row schema: {e}")))?,
            _ => value.columns(false)?,
        };
        let value_arity = value_columns.len();
        columns.extend(value_columns);
        let mut metadata = Vec::new();
        for (column, desc) in metadata::metadata_columns(stmt)? {
            metadata.push(column);
            columns.push(desc);
        }
        if let Envelope::Upsert {
            inline_errors: Some(name),
        } = &stmt.envelope
        {
            columns.push(ColumnDesc {
                name: name.clone(),
                typ: ScalarType::Text,
                nullable: true,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &columns {
            if !seen.insert(c.name.clone()) {
                return Err(DefinitionError::Invalid(format!(
                    "column \"{}\" specified more than once (rename one with AS)",
                    c.name
                )));
            }
        }
        Ok(SourceDecoder {
            key,
            value,
            key_in_output,
            metadata,
            envelope: stmt.envelope.clone(),
            desc: RelationDesc { columns },
            value_arity,
            key_arity,
            debezium_row,
        })
    }

    /// The source's columns.
    pub fn desc(&self) -> &RelationDesc {
        &self.desc
    }

    /// Whether the source reads its records' headers (`INCLUDE HEADER`):
    /// the reader collects them only then.
    pub fn reads_headers(&self) -> bool {
        metadata::reads_headers(&self.metadata)
    }

    fn metadata(&self, record: &KafkaRecord) -> Result<Vec<Datum>, EvalError> {
        metadata::metadata_datums(&self.metadata, record)
    }

    fn where_(record: &KafkaRecord) -> String {
        format!("partition {} offset {}", record.partition, record.offset)
    }

    /// Decodes the key into its columns (`None` for a missing key, or
    /// when the key is not decoded).
    fn key_datums(&self, record: &KafkaRecord) -> Decoded<Option<Vec<Datum>>> {
        let Some(key) = &self.key else {
            return Ok(Ok(None));
        };
        match record.key {
            Some(bytes) => Ok(key.decode(bytes, &At("key", record))?.map(Some)),
            None => Ok(Ok(None)),
        }
    }

    /// The change one record makes, or a [`Stall`] when the record cannot
    /// be decoded yet.
    pub fn decode(&self, record: &KafkaRecord) -> Result<SourceChange, Stall> {
        Ok(self.decode_with_transaction(record)?.0)
    }

    /// For a source over Debezium's transaction topic (JSON or Avro): an
    /// `END` record's transaction id and its event count for `collection`;
    /// `None` for `BEGIN` records and records that do not decode (they
    /// carry no boundary to wait for). A [`Stall`] when the record cannot
    /// be decoded yet (the schema registry does not answer).
    pub fn transaction_end(
        &self,
        bytes: &[u8],
        collection: &str,
    ) -> Result<Option<(String, u64)>, Stall> {
        if !matches!(self.value.format, Format::Avro { .. }) {
            return Ok(super::kafka_txn::parse_end(bytes, collection));
        }
        Ok(
            match self.value.decode_avro(bytes, &"transaction record")? {
                Ok(value) => avro::transaction_end(value, collection),
                Err(_) => None,
            },
        )
    }

    /// [`SourceDecoder::decode_with_transaction`] for a record the source
    /// read from its partition, where `first_read` says that it is the
    /// first record the source reads from that partition (it had no
    /// committed offset for it, and read nothing from it since).
    ///
    /// With `FORMAT CSV WITH HEADER (names)` that record is the
    /// partition's header line, as in Materialize, which treats the first
    /// line of each object it decodes as the header: it is checked
    /// against the declared names and never ingested as a row. A header
    /// that does not match (other names, another column count, not CSV)
    /// is a decode error of the source, which reading the source shows.
    /// Every partition carries its own header, because a partition is
    /// what one writer appends to in order; the source's other
    /// partitions are not affected by one partition's bad header. Whether
    /// a record is the first read is decided by the committed offsets, so
    /// a restart never takes a data row for a header: the header's offset
    /// is committed with the batch it ends, and a partition with a
    /// committed offset has no header left to read.
    pub fn decode_in_partition(
        &self,
        record: &KafkaRecord,
        first_read: bool,
    ) -> Result<(SourceChange, Option<String>), Stall> {
        if first_read && let Some(change) = self.csv_header(record) {
            return Ok((change, None));
        }
        self.decode_with_transaction(record)
    }

    /// The change a `CSV WITH HEADER` source's header record makes:
    /// nothing when it names the declared columns, else a decode error.
    /// `None` for other formats.
    fn csv_header(&self, record: &KafkaRecord) -> Option<SourceChange> {
        let Format::Csv {
            columns,
            header: true,
            ..
        } = &self.value.format
        else {
            return None;
        };
        let at = At("header", record);
        let problem = match record.value {
            None => Some(EvalError::Decode(format!(
                "CSV: {at} is empty, expected the header ({})",
                columns.join(", ")
            ))),
            Some(bytes) => match self.value.decode_plain(bytes, &at) {
                Err(e) => Some(e),
                Ok(names) => names
                    .iter()
                    .zip(columns)
                    .enumerate()
                    .find(|(_, (actual, expected))| {
                        !matches!(actual, Datum::String(a) if a == *expected)
                    })
                    .map(|(i, (actual, expected))| {
                        let actual = match actual {
                            Datum::String(a) => a.as_str(),
                            _ => "",
                        };
                        EvalError::Decode(format!(
                            "CSV: {at} does not match the source's columns: \
                             column {} is \"{actual}\", expected \"{expected}\"",
                            i + 1
                        ))
                    }),
            },
        };
        Some(match problem {
            None => SourceChange::Nothing,
            Some(e) => SourceChange::Append(Err(e), 1),
        })
    }

    /// [`SourceDecoder::decode`], and the id of the source transaction
    /// the record belongs to: the `transaction.id` of a Debezium event
    /// (JSON or Avro), `None` for events without one and other envelopes.
    pub fn decode_with_transaction(
        &self,
        record: &KafkaRecord,
    ) -> Result<(SourceChange, Option<String>), Stall> {
        Ok(match &self.envelope {
            Envelope::None => (SourceChange::Append(self.decode_append(record)?, 1), None),
            Envelope::Upsert { inline_errors } => {
                (self.decode_upsert(record, inline_errors.is_some())?, None)
            }
            Envelope::Debezium => self.decode_debezium(record)?,
        })
    }

    fn value_datums(&self, record: &KafkaRecord) -> Decoded<Vec<Datum>> {
        match record.value {
            Some(bytes) => self.value.decode(bytes, &At("value", record)),
            None => Ok(Ok(vec![Datum::Null; self.value_arity])),
        }
    }

    fn decode_append(&self, record: &KafkaRecord) -> Result<SourceValue, Stall> {
        if let Some(row) = self.json_value_row(record) {
            return Ok(Ok(row));
        }
        let mut datums = Vec::with_capacity(self.desc.columns.len());
        if self.key_in_output {
            match self.key_datums(record)? {
                Ok(Some(k)) => datums.extend(k),
                Ok(None) => datums.extend(std::iter::repeat_n(Datum::Null, self.key_arity)),
                Err(e) => return Ok(Err(e)),
            }
        }
        match self.value_datums(record)? {
            Ok(v) => datums.extend(v),
            Err(e) => return Ok(Err(e)),
        }
        match self.metadata(record) {
            Ok(m) => datums.extend(m),
            Err(e) => return Ok(Err(e)),
        }
        Ok(Ok(Row::new(datums)))
    }

    /// The row of a record whose row is its JSON value alone (no key or
    /// metadata columns), the common shape of event sources, with the
    /// value's canonical text written straight into the row: no `Datum`
    /// vectors and no `String` per record. `None` for other sources and
    /// for values [`jsonb::canonical_fast`] leaves to the full parser
    /// (which [`Self::decode_plain`] runs, deciding errors).
    fn json_value_row(&self, record: &KafkaRecord) -> Option<Row> {
        if self.key_in_output
            || !self.metadata.is_empty()
            || !matches!(self.value.format, Format::Json)
        {
            return None;
        }
        let text = std::str::from_utf8(record.value?).ok()?;
        jsonb::canonical_fast_with(text, |canonical| {
            let mut row = RowPacker::with_capacity(RowPacker::jsonb_len(canonical));
            row.push_jsonb(canonical);
            row.finish()
        })
    }

    /// The upsert key: the decoded key, encoded; an undecodable key keys
    /// on its bytes (so a later good record for the same bytes heals it).
    /// A record without a key is an error kept under [`NULL_UPSERT_KEY`],
    /// the one key all such records share.
    fn upsert_key(&self, record: &KafkaRecord) -> Result<UpsertKey, Stall> {
        let Some(bytes) = record.key else {
            return Ok(Err((
                NULL_UPSERT_KEY.to_vec(),
                EvalError::Decode(format!(
                    "record with a NULL key at {} in an UPSERT source; to retract this \
                     error, produce a record with a NULL key and a NULL value",
                    Self::where_(record)
                )),
            )));
        };
        Ok(match self.key_datums(record)? {
            Ok(Some(datums)) => {
                let mut key = vec![0u8];
                key.extend(Row::new(datums.clone()).encode());
                Ok((key, datums))
            }
            // No key format: the key's bytes are the key.
            Ok(None) => {
                let mut key = vec![2u8];
                key.extend_from_slice(bytes);
                Ok((key, Vec::new()))
            }
            Err(e) => {
                let mut key = vec![1u8];
                key.extend_from_slice(bytes);
                Err((key, e))
            }
        })
    }

    fn decode_upsert(&self, record: &KafkaRecord, inline: bool) -> Result<SourceChange, Stall> {
        let (key, key_datums) = match self.upsert_key(record)? {
            Ok(k) => k,
            // An undecodable or NULL key: the error is the key's value
            // until a tombstone for the same key (for a NULL key, a record
            // with a NULL key and a NULL value) retracts it.
            Err((key, e)) => {
                return Ok(SourceChange::Upsert {
                    key,
                    value: record.value.map(|_| Err(e)),
                });
            }
        };
        let Some(_) = record.value else {
            return Ok(SourceChange::Upsert { key, value: None });
        };
        // A header that cannot be decoded is the key's error even with
        // inline errors, which are for the value's decoding errors only.
        let value = match (self.value_datums(record)?, self.metadata(record)) {
            (Err(e), _) if !inline => Err(e),
            (_, Err(e)) => Err(e),
            (Ok(v), Ok(metadata)) => {
                let mut datums = key_datums;
                datums.extend(v);
                datums.extend(metadata);
                if inline {
                    datums.push(Datum::Null);
                }
                Ok(Row::new(datums))
            }
            (Err(e), Ok(metadata)) => {
                let mut datums = key_datums;
                datums.extend(std::iter::repeat_n(Datum::Null, self.value_arity));
                datums.extend(metadata);
                datums.push(Datum::String(e.to_string()));
                Ok(Row::new(datums))
            }
        };
        Ok(SourceChange::Upsert {
            key,
            value: Some(value),
        })
    }

    /// Parses a Debezium event (JSON, or Avro with the envelope schema).
    fn debezium_event(&self, bytes: &[u8], at: &str) -> Decoded<DebeziumEvent> {
        let (Some(row), Some(avro)) = (&self.debezium_row, &self.value.avro) else {
            return Ok(parse_debezium(bytes, at));
        };
        let value = match self.value.decode_avro(bytes, &format!("value at {at}"))? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        Ok(debezium_avro_event(&avro.reader, row, value, at))
    }

    fn decode_debezium(
        &self,
        record: &KafkaRecord,
    ) -> Result<(SourceChange, Option<String>), Stall> {
        // A tombstone follows a delete so that compaction can drop the key;
        // the delete itself already removed the row.
        let Some(bytes) = record.value else {
            return Ok((SourceChange::Nothing, None));
        };
        let at = Self::where_(record);
        let mut event = match self.debezium_event(bytes, &at)? {
            Ok(e) => e,
            Err(e) => {
                return Ok((
                    match self.upsert_key(record)? {
                        Ok((key, _)) => SourceChange::Upsert {
                            key,
                            value: Some(Err(e)),
                        },
                        Err(_) => SourceChange::Append(Err(e), 1),
                    },
                    None,
                ));
            }
        };
        let transaction = event.transaction.take();
        Ok((self.debezium_change(record, &at, event)?, transaction))
    }

    /// The change a parsed Debezium event makes.
    fn debezium_change(
        &self,
        record: &KafkaRecord,
        at: &str,
        event: DebeziumEvent,
    ) -> Result<SourceChange, Stall> {
        let key_datums = if self.key_in_output {
            match self.key_datums(record)? {
                Ok(Some(k)) => Some(k),
                Ok(None) => Some(vec![Datum::Null]),
                Err(e) => return Ok(SourceChange::Append(Err(e), 1)),
            }
        } else {
            None
        };
        let row = |image: &[Datum]| -> SourceValue {
            let mut datums = key_datums.clone().unwrap_or_default();
            datums.extend_from_slice(image);
            datums.extend(self.metadata(record)?);
            Ok(Row::new(datums))
        };
        let after = match event.op.as_str() {
            "c" | "r" | "u" => match &event.after {
                Some(a) => Some(row(a)),
                None => Some(Err(EvalError::Decode(format!(
                    "Debezium: event at {at} with op \"{}\" has no \"after\" record",
                    event.op
                )))),
            },
            "d" => None,
            "t" => {
                return Ok(SourceChange::Append(
                    Err(EvalError::Decode(format!(
                        "Debezium: truncate event at {at}: TRUNCATE is not supported"
                    ))),
                    1,
                ));
            }
            other => Some(Err(EvalError::Decode(format!(
                "Debezium: event at {at} has unknown op \"{other}\""
            )))),
        };
        Ok(match (record.key, self.upsert_key(record)?) {
            (Some(_), Ok((key, _))) => SourceChange::Upsert { key, value: after },
            (Some(_), Err((key, e))) => SourceChange::Upsert {
                key,
                value: Some(Err(e)),
            },
            // A table without a primary key: Debezium sends no key, and the
            // `before` image (REPLICA IDENTITY FULL) says what to retract.
            (None, _) => {
                let mut changes = Vec::new();
                if matches!(event.op.as_str(), "u" | "d") {
                    match &event.before {
                        Some(b) => changes.push((row(b), -1)),
                        _ => changes.push((
                            Err(EvalError::Decode(format!(
                                "Debezium: {} event at {at} without a key has no \"before\" record",
                                event.op
                            ))),
                            1,
                        )),
                    }
                }
                if let Some(a) = after {
                    changes.push((a, 1));
                }
                SourceChange::Many(changes)
            }
        })
    }
}

/// The parts of a Debezium event Freshet uses: the operation and the row
/// images as the source's value columns (`None` when absent or null).
#[derive(Debug)]
struct DebeziumEvent {
    op: String,
    before: Option<Vec<Datum>>,
    after: Option<Vec<Datum>>,
    /// `transaction.id`, when the connector provides transaction metadata.
    transaction: Option<String>,
}

/// The parts of a Debezium event decoded with the envelope's Avro schema;
/// the images become the columns of the `row` schema.
fn debezium_avro_event(
    reader: &AvroSchema,
    row: &Schema,
    value: apache_avro::types::Value,
    at: &str,
) -> Result<DebeziumEvent, EvalError> {
    let parts = avro::debezium_parts(value)
        .map_err(|e| EvalError::Decode(format!("Debezium: value at {at}: {e}")))?;
    let image = |v: Option<apache_avro::types::Value>| {
        v.map(|v| reader.datums_of(v, row))
            .transpose()
            .map_err(|e| EvalError::Decode(format!("Debezium: {at}: {e}")))
    };
    Ok(DebeziumEvent {
        op: parts.op,
        before: image(parts.before)?,
        after: image(parts.after)?,
        transaction: parts.transaction,
    })
}

/// The fields of a Debezium JSON event Freshet reads; values stay raw text.
#[derive(serde::Deserialize)]
struct DebeziumJson<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    op: Option<String>,
    #[serde(borrow, default)]
    before: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    after: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    transaction: Option<DebeziumTransactionJson<'a>>,
}

/// The `transaction` block of a Debezium event (`total_order` and
/// `data_collection_order` are not needed to group events).
#[derive(serde::Deserialize)]
struct DebeziumTransactionJson<'a> {
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
}

/// A JSON string's text, or another JSON value's text (an id written as a
/// number); `None` for `null`.
pub(crate) fn json_id(raw: &serde_json::value::RawValue) -> Option<String> {
    match raw.get() {
        "null" => None,
        text if text.starts_with('"') => serde_json::from_str::<String>(text).ok(),
        text => Some(text.to_string()),
    }
}

/// Parses a Debezium event from the JSON converter, with or without the
/// `{"schema": ..., "payload": ...}` wrapping. The images are kept as raw
/// text and parsed once, by the jsonb canonicaliser.
fn parse_debezium(bytes: &[u8], at: &str) -> Result<DebeziumEvent, EvalError> {
    let not_json = |e: serde_json::Error| {
        EvalError::Decode(format!("Debezium: value at {at} is not a JSON object: {e}"))
    };
    let mut event: DebeziumJson<'_> = serde_json::from_slice(bytes).map_err(not_json)?;
    if let (Some(_), Some(payload)) = (event.schema, event.payload) {
        event = serde_json::from_str(payload.get()).map_err(not_json)?;
    }
    let Some(op) = event.op else {
        return Err(EvalError::Decode(format!(
            "Debezium: value at {at} has no \"op\" field"
        )));
    };
    // An image is a JSON object, kept whole as the `jsonb` column `data`.
    let image = |raw: Option<&serde_json::value::RawValue>| match raw
        .map(|r| r.get())
        .filter(|text| text.starts_with('{'))
    {
        Some(text) => crate::repr::strconv::canonical_jsonb(text)
            .map(|j| Some(vec![Datum::Jsonb(j)]))
            .map_err(|e| EvalError::Decode(format!("Debezium: {at}: {}", e.message))),
        None => Ok(None),
    };
    Ok(DebeziumEvent {
        op,
        before: image(event.before)?,
        after: image(event.after)?,
        transaction: event.transaction.and_then(|t| t.id).and_then(json_id),
    })
}

#[cfg(test)]
mod tests;
