//! The metadata columns of a Kafka source, after its value's (`INCLUDE
//! PARTITION, OFFSET, TIMESTAMP, HEADER 'key' AS name [BYTES], HEADERS`):
//! their descriptions, and their values for one record.
//!
//! A header column follows Materialize: the value of the *last* header with
//! the key (keys compare exactly), as `text` or, with `BYTES`, as `bytea`;
//! a header whose value is not UTF-8 makes the record a decode error like
//! any other. A record without the header gives `NULL` (Materialize makes
//! that an error when the record has other headers, and `NULL` when it has
//! none; Freshet gives `NULL` in both cases, so that one producer that
//! leaves a header out does not make the whole source unreadable).
//!
//! `INCLUDE HEADERS` is all of a record's headers in one column. Materialize
//! types it `list` of `record(key text, value bytea)`; Freshet has neither
//! lists nor records, so the column is `jsonb`: an array with one object per
//! header, in the record's order, `{"key": <text>, "value": <hex>}`, where
//! the value is its bytes in lowercase hex (JSON has no bytes) and a null
//! value is JSON `null`. Duplicate keys stay separate elements. The value's
//! bytes come back with `decode(h->>'value', 'hex')`, its text with
//! `convert_from(decode(h->>'value', 'hex'), 'UTF8')`. A record without
//! headers has `[]`. A header whose key is not UTF-8 (rdkafka cannot return
//! such a key) makes the record a decode error, rather than a header that
//! silently goes missing.

use std::fmt::Write;

use super::{DefinitionError, KafkaRecord, SourceDecoder};
use crate::expr::EvalError;
use crate::repr::{ColumnDesc, Datum, ScalarType};
use crate::sql::source::{CreateKafkaSourceStatement, IncludeKind};

/// One header of a Kafka record, borrowed from the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaHeader<'a> {
    /// The header's key; `None` when it is not UTF-8 (rdkafka returns no
    /// such key).
    pub key: Option<&'a str>,
    /// The header's value; `None` for a null value.
    pub value: Option<&'a [u8]>,
}

/// A metadata column (`INCLUDE KEY` is not one: the key's columns lead the
/// row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MetadataColumn {
    /// The partition (`int4`).
    Partition,
    /// The offset (`int8`).
    Offset,
    /// The record's timestamp (`timestamp`, `NULL` when the record has none).
    Timestamp,
    /// The last header named `key`: `text`, or `bytea` with `bytes`.
    Header { key: String, bytes: bool },
    /// All headers, in order, as a `jsonb` array of `{"key", "value"}`
    /// objects.
    Headers,
}

/// The metadata columns of a source, in `INCLUDE` order, with their
/// descriptions.
pub(super) fn metadata_columns(
    stmt: &CreateKafkaSourceStatement,
) -> Result<Vec<(MetadataColumn, ColumnDesc)>, DefinitionError> {
    let mut out = Vec::new();
    for (kind, alias) in &stmt.include {
        let (column, name, typ, nullable) = match kind {
            IncludeKind::Key => continue,
            IncludeKind::Partition => (
                MetadataColumn::Partition,
                "partition",
                ScalarType::Int32,
                false,
            ),
            IncludeKind::Offset => (MetadataColumn::Offset, "offset", ScalarType::Int64, false),
            IncludeKind::Timestamp => (
                MetadataColumn::Timestamp,
                "timestamp",
                ScalarType::Timestamp(None),
                true,
            ),
            IncludeKind::Header { key, bytes } => (
                MetadataColumn::Header {
                    key: key.clone(),
                    bytes: *bytes,
                },
                "header",
                if *bytes {
                    ScalarType::Bytea
                } else {
                    ScalarType::Text
                },
                true,
            ),
            IncludeKind::Headers => (MetadataColumn::Headers, "headers", ScalarType::Jsonb, false),
        };
        out.push((
            column,
            ColumnDesc {
                name: alias.clone().unwrap_or_else(|| name.to_string()),
                typ,
                nullable,
            },
        ));
    }
    Ok(out)
}

/// Whether any of `columns` reads the record's headers.
pub(super) fn reads_headers(columns: &[MetadataColumn]) -> bool {
    columns
        .iter()
        .any(|c| matches!(c, MetadataColumn::Header { .. } | MetadataColumn::Headers))
}

/// The values of `columns` for `record`, or the record's decode error (a
/// header that is not UTF-8).
pub(super) fn metadata_datums(
    columns: &[MetadataColumn],
    record: &KafkaRecord,
) -> Result<Vec<Datum>, EvalError> {
    columns
        .iter()
        .map(|column| match column {
            MetadataColumn::Partition => Ok(Datum::Int32(record.partition)),
            MetadataColumn::Offset => Ok(Datum::Int64(record.offset)),
            MetadataColumn::Timestamp => Ok(record
                .timestamp
                .map(|ms| Datum::Timestamp(ms.saturating_mul(1000)))
                .unwrap_or(Datum::Null)),
            MetadataColumn::Header { key, bytes } => header_datum(record, key, *bytes),
            MetadataColumn::Headers => headers_datum(record),
        })
        .collect()
}

/// The value of the last header named `key`.
fn header_datum(record: &KafkaRecord, key: &str, bytes: bool) -> Result<Datum, EvalError> {
    let Some(value) = record
        .headers
        .iter()
        .rev()
        .find(|h| h.key == Some(key))
        .and_then(|h| h.value)
    else {
        return Ok(Datum::Null);
    };
    if bytes {
        return Ok(Datum::Bytes(value.to_vec()));
    }
    std::str::from_utf8(value)
        .map(|s| Datum::String(s.to_string()))
        .map_err(|e| {
            EvalError::Decode(format!(
                "header \"{key}\" at {} is not valid UTF-8: {e}",
                SourceDecoder::where_(record)
            ))
        })
}

/// All headers of `record` as a `jsonb` array (see the module's comment).
fn headers_datum(record: &KafkaRecord) -> Result<Datum, EvalError> {
    let mut text = String::from("[");
    for (i, header) in record.headers.iter().enumerate() {
        let Some(key) = header.key else {
            return Err(EvalError::Decode(format!(
                "header {} at {} has a key that is not valid UTF-8",
                i + 1,
                SourceDecoder::where_(record)
            )));
        };
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str("{\"key\": ");
        text.push_str(&serde_json::Value::from(key).to_string());
        text.push_str(", \"value\": ");
        match header.value {
            None => text.push_str("null"),
            Some(bytes) => {
                text.push('"');
                for b in bytes {
                    // Writing to a `String` cannot fail.
                    let _ = write!(text, "{b:02x}");
                }
                text.push('"');
            }
        }
        text.push('}');
    }
    text.push(']');
    crate::repr::strconv::canonical_jsonb(&text)
        .map(Datum::Jsonb)
        .map_err(|e| {
            EvalError::Decode(format!(
                "headers at {}: {}",
                SourceDecoder::where_(record),
                e.message
            ))
        })
}
