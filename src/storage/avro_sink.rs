//! Avro for Kafka sinks (`FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY`), as
//! Materialize writes it: the key and value schemas generated from the
//! relation ([`sink_schemas`]), rows as Avro datums ([`AvroEncoder`]), and
//! the Confluent wire format around them (magic byte 0, the schema's
//! registry id as 4 big-endian bytes, the Avro binary datum).
//!
//! # Schemas
//!
//! The value of an `ENVELOPE UPSERT` message is a record (named `envelope`
//! unless `AVRO VALUE FULLNAME` says otherwise) with a field per column, in
//! order; an `ENVELOPE DEBEZIUM` value is a record `envelope` with the
//! fields `before` and `after`, each `["null", row]`, where `row` is that
//! record of the columns. The key is a record (`row` unless `AVRO KEY
//! FULLNAME` says otherwise) of the `KEY` columns. Column names that are
//! not Avro names are adjusted as Materialize does: other characters than
//! ASCII letters, digits and `_` become `_`, a leading digit gets a `_`
//! before it, and a name taken already gets the smallest number after it
//! that makes it unique.
//!
//! Types map as in Materialize's documentation: `boolean`; `smallint` and
//! `integer` → `int`; `bigint` → `long`; `real` → `float`; `double
//! precision` → `double`; `numeric(p,s)` → `bytes` with logical type
//! `decimal` (precision `p`, scale `s`; an unconstrained `numeric` is
//! written at Materialize's precision 81 and scale 39, which holds every
//! value exactly); `text`, `varchar` and `char` → `string`; `bytea` →
//! `bytes`; `date` → `int` `date`; `time` → `long` `time-micros`;
//! `timestamp` and `timestamptz` → `long` `timestamp-micros`; `uuid` →
//! `string` `uuid`; `jsonb` → `string` with `"connect.name":
//! "io.debezium.data.Json"`; `interval` → `fixed` 16 named
//! `com.materialize.sink.interval` (months as a 4-byte, days as a 4-byte
//! and microseconds as an 8-byte little-endian integer). A nullable column
//! is the union `["null", T]`.
//!
//! # Encoding
//!
//! Datums are written with apache-avro. A sink keeps rows and keys as bare
//! datums (what [`crate::storage::sink::SinkState`] compares with what it
//! reads back); the framing and the Debezium envelope are added when a
//! message is made, and taken off when one is read back.

use std::collections::BTreeSet;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use num_bigint::BigInt;
use serde_json::json;

use super::registry::{RegistryClient, RegistryConfig, RegistryError};
use super::sink::RowEncoder;
use crate::repr::{Datum, RelationDesc, Row, ScalarType, strconv};

/// The name Materialize gives the `fixed` type of `interval` columns.
pub const INTERVAL_TYPE_NAME: &str = "com.materialize.sink.interval";
/// The precision of an unconstrained `numeric` column (Materialize's).
pub const UNCONSTRAINED_NUMERIC_PRECISION: u32 = 81;
/// The scale of an unconstrained `numeric` column (Materialize's).
pub const UNCONSTRAINED_NUMERIC_SCALE: u32 = 39;
/// The record name of the value schema by default.
pub const DEFAULT_VALUE_FULLNAME: &str = "envelope";
/// The record name of the key schema (and of the Debezium row) by default.
pub const DEFAULT_KEY_FULLNAME: &str = "row";

/// One column as the Avro schemas see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroColumn {
    /// The column's position in the relation.
    pub index: usize,
    /// The field name (a valid Avro name).
    pub name: String,
    /// The SQL type.
    pub typ: ScalarType,
    /// Whether the field is a `["null", T]` union.
    pub nullable: bool,
}

/// A sink's generated schemas: the JSON text registered with the schema
/// registry, and the columns each record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroSinkSchemas {
    /// The key schema and its columns, if the sink has a `KEY`.
    pub key: Option<(String, Vec<AvroColumn>)>,
    /// The value schema: the row record, or the Debezium envelope.
    pub value: String,
    /// The row record alone (for Debezium, what `before` and `after` hold;
    /// for upsert, the value schema itself).
    pub row: String,
    /// The columns of the row record.
    pub columns: Vec<AvroColumn>,
    /// Whether the value is a Debezium envelope.
    pub debezium: bool,
}

/// The row encodings of a Debezium message: `before` and `after`.
pub type DebeziumRows = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The registry ids of a sink's schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaIds {
    /// The key schema's id, if the sink has a key.
    pub key: Option<i32>,
    /// The value schema's id.
    pub value: i32,
}

/// Checks that `name` is an Avro fullname: dot-separated parts, each a
/// letter or `_` followed by letters, digits and `_`.
pub fn check_fullname(name: &str) -> Result<(), String> {
    let valid_part = |p: &str| {
        let mut chars = p.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if name.split('.').all(valid_part) {
        Ok(())
    } else {
        Err(format!("\"{name}\" is not a valid Avro fullname"))
    }
}

/// `name` made a valid Avro name, as Materialize does it.
fn valid_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        out.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// The columns `indexes` of `desc` with valid, unique field names.
fn avro_columns(desc: &RelationDesc, indexes: impl Iterator<Item = usize>) -> Vec<AvroColumn> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for index in indexes {
        let column = &desc.columns[index];
        let stem = valid_name(&column.name);
        let mut name = stem.clone();
        let mut n = 1;
        while !taken.insert(name.clone()) {
            name = format!("{stem}{n}");
            n += 1;
        }
        out.push(AvroColumn {
            index,
            name,
            typ: column.typ.clone(),
            nullable: column.nullable,
        });
    }
    out
}

/// The precision and scale of a `numeric` column's Avro decimal.
pub fn decimal_precision_scale(precision: Option<u8>, scale: Option<u8>) -> (u32, u32) {
    match precision {
        Some(p) => (u32::from(p), u32::from(scale.unwrap_or(0))),
        None => (UNCONSTRAINED_NUMERIC_PRECISION, UNCONSTRAINED_NUMERIC_SCALE),
    }
}

/// Named types already defined in the schema being built: Avro defines a
/// name once and refers to it by name afterwards.
#[derive(Default)]
struct TypeNamer {
    interval_defined: bool,
}

fn field_type(typ: &ScalarType, nullable: bool, namer: &mut TypeNamer) -> serde_json::Value {
    let t = match typ {
        ScalarType::Bool => json!("boolean"),
        ScalarType::Int16 | ScalarType::Int32 => json!("int"),
        ScalarType::Int64 | ScalarType::RegType => json!("long"),
        ScalarType::Float32 => json!("float"),
        ScalarType::Float64 => json!("double"),
        ScalarType::Numeric { precision, scale } => {
            let (p, s) = decimal_precision_scale(*precision, *scale);
            json!({"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s})
        }
        ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_) | ScalarType::Name => {
            json!("string")
        }
        ScalarType::Bytea => json!("bytes"),
        ScalarType::Date => json!({"type": "int", "logicalType": "date"}),
        ScalarType::Time(_) => json!({"type": "long", "logicalType": "time-micros"}),
        ScalarType::Timestamp(_) | ScalarType::TimestampTz(_) => {
            json!({"type": "long", "logicalType": "timestamp-micros"})
        }
        ScalarType::Interval { .. } => {
            if namer.interval_defined {
                json!(INTERVAL_TYPE_NAME)
            } else {
                namer.interval_defined = true;
                json!({"type": "fixed", "size": 16, "name": INTERVAL_TYPE_NAME})
            }
        }
        ScalarType::Jsonb | ScalarType::Json => {
            json!({"type": "string", "connect.name": "io.debezium.data.Json"})
        }
        ScalarType::Uuid => json!({"type": "string", "logicalType": "uuid"}),
        // Elements may be NULL.
        ScalarType::Array(elem) => json!({"type": "array", "items": field_type(elem, true, namer)}),
    };
    if nullable { json!(["null", t]) } else { t }
}

fn record_json(name: &str, columns: &[AvroColumn], namer: &mut TypeNamer) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": field_type(&c.typ, c.nullable, namer)}))
        .collect();
    json!({"type": "record", "name": name, "fields": fields})
}

/// The schemas of a sink writing `desc`, keyed by the columns `key`, as
/// Materialize generates them (see the module documentation). The
/// fullnames default to `row` (key) and `envelope` (value); a name that is
/// not an Avro fullname is an error.
pub fn sink_schemas(
    desc: &RelationDesc,
    key: Option<&[usize]>,
    debezium: bool,
    key_fullname: Option<&str>,
    value_fullname: Option<&str>,
) -> Result<AvroSinkSchemas, String> {
    let key_name = key_fullname.unwrap_or(DEFAULT_KEY_FULLNAME);
    let value_name = value_fullname.unwrap_or(DEFAULT_VALUE_FULLNAME);
    check_fullname(key_name)?;
    check_fullname(value_name)?;
    let columns = avro_columns(desc, 0..desc.columns.len());
    let key = key.map(|k| {
        let key_columns = avro_columns(desc, k.iter().copied());
        let schema = record_json(key_name, &key_columns, &mut TypeNamer::default());
        (schema.to_string(), key_columns)
    });
    let (value, row) = if debezium {
        let row = record_json(DEFAULT_KEY_FULLNAME, &columns, &mut TypeNamer::default());
        let envelope = json!({
            "type": "record",
            "name": value_name,
            "fields": [
                {"name": "before", "type": ["null", row]},
                {"name": "after", "type": ["null", DEFAULT_KEY_FULLNAME]},
            ],
        });
        (envelope.to_string(), row.to_string())
    } else {
        let value = record_json(value_name, &columns, &mut TypeNamer::default()).to_string();
        (value.clone(), value)
    };
    Ok(AvroSinkSchemas {
        key,
        value,
        row,
        columns,
        debezium,
    })
}

/// What a sink's thread needs to write Avro: the schemas, where to
/// register them, and their ids if `CREATE SINK` registered them already.
#[derive(Debug, Clone)]
pub struct AvroSinkSpec {
    /// The relation the sink writes.
    pub desc: RelationDesc,
    /// The key columns.
    pub key: Option<Vec<usize>>,
    /// The generated schemas.
    pub schemas: AvroSinkSchemas,
    /// The schema registry.
    pub registry: RegistryConfig,
    /// The schemas' ids, if already registered.
    pub ids: Option<SchemaIds>,
}

impl AvroSinkSpec {
    /// The row encoder, registering the schemas (under `<topic>-key` and
    /// `<topic>-value`) unless their ids are known.
    pub fn encoder(&self, topic: &str) -> Result<RowEncoder, String> {
        let ids = match self.ids {
            Some(ids) => ids,
            None => register(
                &RegistryClient::new(self.registry.clone()),
                topic,
                &self.schemas,
            )
            .map_err(|e| format!("registering the sink's Avro schemas: {e}"))?,
        };
        let avro = AvroEncoder::new(self.schemas.clone(), ids)?;
        Ok(RowEncoder::avro(&self.desc, self.key.clone(), avro))
    }
}

/// Registers `schemas` for a sink writing to `topic`: the key schema under
/// `<topic>-key`, the value schema under `<topic>-value` (the topic name
/// strategy, as Materialize does). Registering is idempotent: the same
/// schema keeps its id.
pub fn register(
    client: &RegistryClient,
    topic: &str,
    schemas: &AvroSinkSchemas,
) -> Result<SchemaIds, RegistryError> {
    let key = match &schemas.key {
        Some((schema, _)) => Some(client.register(&format!("{topic}-key"), schema)?),
        None => None,
    };
    let value = client.register(&format!("{topic}-value"), &schemas.value)?;
    Ok(SchemaIds { key, value })
}

/// Two's complement, big-endian, sign-extended to at least `width` bytes.
fn twos_complement(value: &BigInt, width: usize) -> Vec<u8> {
    let bytes = value.to_signed_bytes_be();
    if bytes.len() >= width {
        return bytes;
    }
    let fill = if value.sign() == num_bigint::Sign::Minus {
        0xff
    } else {
        0
    };
    let mut out = vec![fill; width - bytes.len()];
    out.extend_from_slice(&bytes);
    out
}

/// The fewest bytes whose two's complement holds every `precision`-digit
/// number: what readers that check a decimal's length against its
/// precision (apache-avro's schema resolution) expect.
fn decimal_width(precision: u32) -> usize {
    (1..=64usize)
        .find(|n| {
            let max_digits = ((8 * *n - 1) as f64 * std::f64::consts::LOG10_2).floor();
            max_digits >= f64::from(precision)
        })
        .unwrap_or(64)
}

/// A `numeric` as the unscaled bytes of an Avro decimal of `precision`
/// and `scale`. Values of a numeric(p,s) column fit its decimal; a value of
/// an unconstrained column (decimal(81, 39)) with more digits than the
/// decimal holds, either side of the point, is an error rather than a
/// rounded number.
fn decimal_bytes(d: &crate::repr::Numeric, precision: u32, scale: u32) -> Result<Vec<u8>, String> {
    let (mantissa, own_scale) = d.to_big_parts();
    let unscaled = if own_scale <= scale {
        mantissa * BigInt::from(10u8).pow(scale - own_scale)
    } else {
        let unit = BigInt::from(10u8).pow(own_scale - scale);
        if (&mantissa % &unit).sign() != num_bigint::Sign::NoSign {
            return Err(format!(
                "numeric value {d} has more than {scale} digits after the point, the Avro decimal's scale"
            ));
        }
        mantissa / unit
    };
    if unscaled.magnitude().to_string().len() > precision as usize {
        return Err(format!(
            "numeric value {d} has more than {precision} digits, the Avro decimal's precision"
        ));
    }
    Ok(twos_complement(&unscaled, decimal_width(precision)))
}

fn integer(datum: &Datum) -> Option<i64> {
    match datum {
        Datum::Int16(v) => Some(i64::from(*v)),
        Datum::Int32(v) => Some(i64::from(*v)),
        Datum::Int64(v) => Some(*v),
        _ => None,
    }
}

/// `datum`, in a column of type `column`, as an Avro value. A datum of
/// another type than its column's is an error, except where the value is
/// the same (integers of another width, floats, integers in a `numeric`).
fn datum_value(datum: &Datum, column: &AvroColumn) -> Result<Value, String> {
    if datum.is_null() {
        return if column.nullable {
            Ok(Value::Union(0, Box::new(Value::Null)))
        } else {
            Err(format!(
                "column \"{}\" holds a NULL, but its type says it cannot",
                column.name
            ))
        };
    }
    let mismatch = || {
        format!(
            "column \"{}\" of type {} holds {}",
            column.name,
            column.typ.name(),
            strconv::format(datum).unwrap_or_default()
        )
    };
    let value = match (&column.typ, datum) {
        (ScalarType::Bool, Datum::Bool(b)) => Value::Boolean(*b),
        (ScalarType::Int16 | ScalarType::Int32, d) => Value::Int(
            integer(d)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(mismatch)?,
        ),
        (ScalarType::Int64 | ScalarType::RegType, d) => {
            Value::Long(integer(d).ok_or_else(mismatch)?)
        }
        (ScalarType::Float32, Datum::Float32(f)) => Value::Float(f.0),
        (ScalarType::Float64, Datum::Float64(f)) => Value::Double(f.0),
        (ScalarType::Float64, Datum::Float32(f)) => Value::Double(f64::from(f.0)),
        (ScalarType::Numeric { precision, scale }, d) => {
            let decimal = match d {
                Datum::Numeric(n) => n.clone(),
                // Avro's decimal is an unscaled integer: it has no `NaN`.
                Datum::NumericNaN => {
                    return Err(format!(
                        "column \"{}\" holds the numeric NaN, which an Avro decimal cannot represent",
                        column.name
                    ));
                }
                other => crate::repr::Numeric::from(integer(other).ok_or_else(mismatch)?),
            };
            let (p, s) = decimal_precision_scale(*precision, *scale);
            Value::Decimal(apache_avro::Decimal::from(decimal_bytes(&decimal, p, s)?))
        }
        (ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_) | ScalarType::Name, d) => {
            Value::String(strconv::format(d).unwrap_or_default())
        }
        (ScalarType::Bytea, Datum::Bytes(b)) => Value::Bytes(b.clone()),
        (ScalarType::Date, Datum::Date(d)) => Value::Date(*d),
        (ScalarType::Time(_), Datum::Time(t)) => Value::TimeMicros(*t),
        (
            ScalarType::Timestamp(_) | ScalarType::TimestampTz(_),
            Datum::Timestamp(t) | Datum::TimestampTz(t),
        ) => Value::TimestampMicros(*t),
        (ScalarType::Interval { .. }, Datum::Interval(iv)) => {
            let mut bytes = Vec::with_capacity(16);
            bytes.extend_from_slice(&iv.months.to_le_bytes());
            bytes.extend_from_slice(&iv.days.to_le_bytes());
            bytes.extend_from_slice(&iv.micros.to_le_bytes());
            Value::Fixed(16, bytes)
        }
        (ScalarType::Jsonb, Datum::Jsonb(text)) | (ScalarType::Json, Datum::Json(text)) => {
            Value::String(text.clone())
        }
        (ScalarType::Uuid, Datum::Uuid(u)) => Value::Uuid(*u),
        (ScalarType::Array(elem), Datum::Array(elements)) => {
            let element = AvroColumn {
                index: column.index,
                name: column.name.clone(),
                typ: (**elem).clone(),
                nullable: true,
            };
            Value::Array(
                elements
                    .iter()
                    .map(|e| datum_value(e, &element))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        _ => return Err(mismatch()),
    };
    Ok(if column.nullable {
        Value::Union(1, Box::new(value))
    } else {
        value
    })
}

/// Writes `value` with `schema`.
fn write(schema: &Schema, value: Value) -> Result<Vec<u8>, String> {
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(|e| format!("encoding Avro: {e}"))
}

/// Reads one datum of `schema` that is all of `bytes`.
fn read(schema: &Schema, bytes: &[u8]) -> Result<Value, String> {
    let mut rest = bytes;
    let value = GenericDatumReader::builder(schema)
        .build()
        .and_then(|r| r.read_value(&mut rest))
        .map_err(|e| format!("a message that is not Avro of this sink's schema: {e}"))?;
    if !rest.is_empty() {
        return Err(format!(
            "a message with {} bytes after its Avro datum",
            rest.len()
        ));
    }
    Ok(value)
}

/// Writes a sink's rows and keys as Avro datums and frames them as
/// messages.
///
/// # Invariants
///
/// The parsed schemas are those of `schemas`, and `ids` are their registry
/// ids.
#[derive(Debug)]
pub struct AvroEncoder {
    schemas: AvroSinkSchemas,
    key_schema: Option<Schema>,
    value_schema: Schema,
    row_schema: Schema,
    ids: SchemaIds,
}

impl AvroEncoder {
    /// An encoder for `schemas`, registered with the ids `ids`.
    pub fn new(schemas: AvroSinkSchemas, ids: SchemaIds) -> Result<AvroEncoder, String> {
        let parse = |text: &str| {
            Schema::parse_str(text).map_err(|e| format!("invalid generated Avro schema: {e}"))
        };
        let key_schema = schemas
            .key
            .as_ref()
            .map(|(text, _)| parse(text))
            .transpose()?;
        let value_schema = parse(&schemas.value)?;
        let row_schema = parse(&schemas.row)?;
        Ok(AvroEncoder {
            schemas,
            key_schema,
            value_schema,
            row_schema,
            ids,
        })
    }

    /// The records of `columns` of `rows`, written with `schema`.
    fn records<'a>(
        schema: &Schema,
        columns: &[AvroColumn],
        rows: impl Iterator<Item = &'a Row>,
    ) -> Result<Vec<Vec<u8>>, String> {
        let writer = GenericDatumWriter::builder(schema)
            .build()
            .map_err(|e| format!("encoding Avro: {e}"))?;
        rows.map(|row| {
            let fields = columns
                .iter()
                .map(|c| {
                    let datum = row.get(c.index).unwrap_or(Datum::Null);
                    Ok((c.name.clone(), datum_value(&datum, c)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            writer
                .write_value_to_vec(Value::Record(fields))
                .map_err(|e| format!("encoding Avro: {e}"))
        })
        .collect()
    }

    /// The row datums of `rows`.
    pub fn rows<'a>(&self, rows: impl Iterator<Item = &'a Row>) -> Result<Vec<Vec<u8>>, String> {
        Self::records(&self.row_schema, &self.schemas.columns, rows)
    }

    /// The key datums of `rows` (empty keys without `KEY`).
    pub fn keys<'a>(&self, rows: impl Iterator<Item = &'a Row>) -> Result<Vec<Vec<u8>>, String> {
        match (&self.key_schema, &self.schemas.key) {
            (Some(schema), Some((_, columns))) => Self::records(schema, columns, rows),
            _ => Ok(rows.map(|_| Vec::new()).collect()),
        }
    }

    fn frame(id: i32, datum: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + datum.len());
        out.push(0);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(datum);
        out
    }

    /// `message` without its Confluent framing; an error for a message not
    /// in the wire format, or written with another schema than `id`.
    fn unframe(id: i32, message: &[u8]) -> Result<&[u8], String> {
        let (&magic, rest) = message
            .split_first()
            .ok_or("an empty message, not Avro in the Confluent wire format")?;
        if magic != 0 || rest.len() < 4 {
            return Err("a message that is not Avro in the Confluent wire format".into());
        }
        let (written, datum) = rest.split_at(4);
        let written = i32::from_be_bytes([written[0], written[1], written[2], written[3]]);
        if written != id {
            return Err(format!(
                "a message written with schema id {written}, not this sink's {id}"
            ));
        }
        Ok(datum)
    }

    /// A message key: `key` (a key datum) framed.
    pub fn key_message(&self, key: &[u8]) -> Vec<u8> {
        Self::frame(self.ids.key.unwrap_or_default(), key)
    }

    /// The key datum of a message key, checked against the key schema.
    pub fn key_datum(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let datum = Self::unframe(self.ids.key.unwrap_or_default(), message)?;
        if let Some(schema) = &self.key_schema {
            read(schema, datum)?;
        }
        Ok(datum.to_vec())
    }

    /// An upsert message value: `row` (a row datum) framed.
    pub fn upsert_message(&self, row: &[u8]) -> Vec<u8> {
        Self::frame(self.ids.value, row)
    }

    /// The row datum of an upsert message value, checked against the
    /// value schema.
    pub fn upsert_row(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let datum = Self::unframe(self.ids.value, message)?;
        read(&self.row_schema, datum)?;
        Ok(datum.to_vec())
    }

    /// A Debezium message value with the row datums `before` and `after`.
    ///
    /// Every row datum a sink holds was written by [`AvroEncoder::rows`] or
    /// re-written by [`AvroEncoder::debezium_rows`] from a value that
    /// decoded with the row schema, so it decodes again; an error here is a
    /// bug.
    pub fn debezium_message(
        &self,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) -> Result<Vec<u8>, String> {
        let side = |row: Option<&[u8]>| -> Result<Value, String> {
            Ok(match row {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(bytes) => Value::Union(1, Box::new(read(&self.row_schema, bytes)?)),
            })
        };
        let envelope = Value::Record(vec![
            ("before".to_string(), side(before)?),
            ("after".to_string(), side(after)?),
        ]);
        Ok(Self::frame(
            self.ids.value,
            &write(&self.value_schema, envelope)?,
        ))
    }

    /// The row datums of a Debezium message value: `before` and `after`.
    pub fn debezium_rows(&self, message: &[u8]) -> Result<DebeziumRows, String> {
        let datum = Self::unframe(self.ids.value, message)?;
        let Value::Record(fields) = read(&self.value_schema, datum)? else {
            return Err("a Debezium message that is not a record".into());
        };
        let mut sides = [None, None];
        for (name, value) in fields {
            let slot = match name.as_str() {
                "before" => 0,
                "after" => 1,
                _ => continue,
            };
            sides[slot] = match value {
                Value::Union(_, inner) if matches!(*inner, Value::Null) => None,
                Value::Union(_, inner) => Some(write(&self.row_schema, *inner)?),
                other => return Err(format!("a Debezium message whose \"{name}\" is {other:?}")),
            };
        }
        let [before, after] = sides;
        Ok((before, after))
    }
}

#[cfg(test)]
mod tests;
