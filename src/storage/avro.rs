//! Avro in the Confluent wire format: the columns a reader schema gives a
//! source, the conversion of decoded Avro values to [`Datum`]s, and the
//! per-record decoding (framing, writer schema by id, schema resolution).
//!
//! # Types
//!
//! A record schema's fields become columns (a `["null", T]` union makes a
//! nullable column), as in Materialize: `boolean`, `int` → `integer`,
//! `long` → `bigint`, `float` → `real`, `double` → `double precision`,
//! `string` and `enum` → `text`, `bytes` and `fixed` → `bytea`, `decimal(p,
//! s)` → `numeric(p,s)`, `date`, `time-millis`/`time-micros` → `time`,
//! `timestamp-*` and `local-timestamp-*` → `timestamp` (without time zone,
//! like Materialize), `uuid`, `duration` → `interval`. Records, arrays, maps
//! and unions of several non-null types become `jsonb` (Materialize has
//! record, list and map types and splits such unions into one column per
//! variant; Freshet has neither yet).
//!
//! # Errors
//!
//! A record that cannot be decoded (no magic byte, an unknown schema id, a
//! datum that does not match its schema) is an [`AvroError::Record`]: the
//! record's error, which the source keeps. A registry that cannot be
//! reached is an [`AvroError::Transient`]: the record is fine, so the
//! source stalls and retries it rather than storing an error forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Name, ResolvedSchema, SchemaKind};
use apache_avro::types::Value;

use super::registry::{RegistryError, SchemaLookup};
use crate::repr::{ColumnDesc, Datum, Interval, ScalarType, strconv};

/// How long an unknown schema id is remembered as unknown before the
/// registry is asked again.
const NOT_FOUND_TTL: Duration = Duration::from_secs(10);

/// Why an Avro record did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvroError {
    /// The record is bad (or its schema is): its own error.
    Record(String),
    /// The registry could not be asked: retry the record later.
    Transient(String),
}

/// A parsed Avro schema and its named types (what `Ref`s point to).
///
/// # Invariants
///
/// `resolution` is `schema` with every `bytes`-backed `decimal` read as
/// plain `bytes`, and otherwise the same shape: values read with it walk
/// `schema` in step (see [`AvroSchema::parse`] for why).
#[derive(Debug)]
pub struct AvroSchema {
    /// The schema.
    pub schema: Schema,
    /// What records are read and resolved with.
    resolution: Schema,
    /// Named types by full name.
    names: HashMap<Name, Schema>,
}

/// Removes `"logicalType": "decimal"` from `bytes` types, in place.
fn decimals_as_bytes(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("bytes")
                && map.get("logicalType").and_then(|t| t.as_str()) == Some("decimal")
            {
                map.remove("logicalType");
            }
            for v in map.values_mut() {
                decimals_as_bytes(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(decimals_as_bytes),
        _ => {}
    }
}

fn kind(schema: &Schema) -> String {
    format!("{:?}", SchemaKind::from(schema)).to_lowercase()
}

impl AvroSchema {
    /// Parses an Avro schema from its JSON text.
    ///
    /// Records are read with a copy in which `bytes`-backed decimals are
    /// plain `bytes`: apache-avro's schema resolution refuses a decimal
    /// whose two's complement bytes are shorter than its precision could
    /// need, which is how Java writers (Debezium's included) encode every
    /// small value. The conversion to `numeric` reads the bytes itself.
    pub fn parse(text: &str) -> Result<AvroSchema, String> {
        let schema = Schema::parse_str(text).map_err(|e| format!("invalid Avro schema: {e}"))?;
        let mut json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid Avro schema: {e}"))?;
        decimals_as_bytes(&mut json);
        let resolution = Schema::parse(&json).map_err(|e| format!("invalid Avro schema: {e}"))?;
        let names = ResolvedSchema::try_from(&schema)
            .map_err(|e| format!("invalid Avro schema: {e}"))?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        Ok(AvroSchema {
            schema,
            resolution,
            names,
        })
    }

    /// `schema`, with a reference to a named type replaced by the type.
    fn deref<'a>(&'a self, schema: &'a Schema) -> &'a Schema {
        let mut s = schema;
        // References do not chain, but a bound keeps a bad schema from
        // looping.
        for _ in 0..8 {
            match s {
                Schema::Ref { name } => match self.names.get(name) {
                    Some(named) => s = named,
                    None => return s,
                },
                _ => return s,
            }
        }
        s
    }

    /// The columns of a value of `schema`: a record's fields, or one column
    /// named `single` for any other type.
    pub fn columns_of(&self, schema: &Schema, single: &str) -> Result<Vec<ColumnDesc>, String> {
        match self.deref(schema) {
            Schema::Record(record) => {
                if record.fields.is_empty() {
                    return Err(format!(
                        "Avro record \"{}\" has no fields",
                        record.name.name()
                    ));
                }
                record
                    .fields
                    .iter()
                    .map(|f| {
                        let (typ, nullable) = self
                            .column_type(&f.schema)
                            .map_err(|e| format!("field \"{}\": {e}", f.name))?;
                        Ok(ColumnDesc {
                            name: f.name.clone(),
                            typ,
                            nullable,
                        })
                    })
                    .collect()
            }
            other => {
                let (typ, nullable) = self.column_type(other)?;
                Ok(vec![ColumnDesc {
                    name: single.to_string(),
                    typ,
                    nullable,
                }])
            }
        }
    }

    /// The SQL type of a field of type `schema`, and whether it is nullable.
    pub fn column_type(&self, schema: &Schema) -> Result<(ScalarType, bool), String> {
        let schema = self.deref(schema);
        Ok(match schema {
            Schema::Union(u) => {
                let nullable = u.is_nullable();
                let mut non_null = u.variants().iter().filter(|v| !matches!(v, Schema::Null));
                match (non_null.next(), non_null.next()) {
                    (None, _) => return Err("a union of only null is not supported".into()),
                    (Some(one), None) => (self.column_type(one)?.0, nullable),
                    (Some(_), Some(_)) => (ScalarType::Jsonb, true),
                }
            }
            Schema::Null => return Err("null outside a union is not supported".into()),
            Schema::Boolean => (ScalarType::Bool, false),
            Schema::Int => (ScalarType::Int32, false),
            Schema::Long => (ScalarType::Int64, false),
            Schema::Float => (ScalarType::Float32, false),
            Schema::Double => (ScalarType::Float64, false),
            Schema::Bytes | Schema::Fixed(_) => (ScalarType::Bytea, false),
            Schema::String | Schema::Enum(_) => (ScalarType::Text, false),
            Schema::Decimal(d) => {
                if d.scale > d.precision {
                    return Err(format!(
                        "decimal scale {} is larger than its precision {}",
                        d.scale, d.precision
                    ));
                }
                // numeric(p,s) as far as a type modifier goes (255
                // digits); wider decimals are unconstrained `numeric`.
                let typ = match (u8::try_from(d.precision), u8::try_from(d.scale)) {
                    (Ok(p @ 1..), Ok(s)) => ScalarType::Numeric {
                        precision: Some(p),
                        scale: Some(s),
                    },
                    _ => ScalarType::Numeric {
                        precision: None,
                        scale: None,
                    },
                };
                (typ, false)
            }
            Schema::BigDecimal => (
                ScalarType::Numeric {
                    precision: None,
                    scale: None,
                },
                false,
            ),
            Schema::Uuid(_) => (ScalarType::Uuid, false),
            Schema::Date => (ScalarType::Date, false),
            Schema::TimeMillis | Schema::TimeMicros => (ScalarType::Time(None), false),
            Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => (ScalarType::Timestamp(None), false),
            Schema::Duration(_) => (ScalarType::INTERVAL, false),
            Schema::Record(_) | Schema::Array(_) | Schema::Map(_) => (ScalarType::Jsonb, false),
            Schema::Ref { name } => return Err(format!("unknown Avro type \"{name}\"")),
        })
    }

    /// The datums of a value of `schema`: one per field of a record, or one.
    pub fn datums_of(&self, value: Value, schema: &Schema) -> Result<Vec<Datum>, String> {
        match (self.deref(schema), value) {
            (Schema::Record(record), Value::Record(fields)) => {
                if fields.len() != record.fields.len() {
                    return Err(format!(
                        "record has {} fields, its schema {}",
                        fields.len(),
                        record.fields.len()
                    ));
                }
                fields
                    .into_iter()
                    .zip(&record.fields)
                    .map(|((name, v), f)| {
                        self.datum(v, &f.schema)
                            .map_err(|e| format!("field \"{name}\": {e}"))
                    })
                    .collect()
            }
            (s, v) => Ok(vec![self.datum(v, s)?]),
        }
    }

    /// Converts one value of `schema` (after resolution to it).
    pub fn datum(&self, value: Value, schema: &Schema) -> Result<Datum, String> {
        let schema = self.deref(schema);
        Ok(match (schema, value) {
            (Schema::Union(u), Value::Union(i, inner)) => {
                let variant = u
                    .variants()
                    .get(i as usize)
                    .ok_or_else(|| format!("union branch {i} does not exist"))?;
                if matches!(*inner, Value::Null) {
                    return Ok(Datum::Null);
                }
                let non_null = u
                    .variants()
                    .iter()
                    .filter(|v| !matches!(v, Schema::Null))
                    .count();
                if non_null > 1 {
                    // A union of several types is a `jsonb` column.
                    Datum::Jsonb(self.jsonb(&inner, variant)?)
                } else {
                    self.datum(*inner, variant)?
                }
            }
            (Schema::Boolean, Value::Boolean(b)) => Datum::Bool(b),
            (Schema::Int, Value::Int(i)) => Datum::Int32(i),
            (Schema::Long, Value::Long(l)) => Datum::Int64(l),
            (Schema::Float, Value::Float(f)) => Datum::f32(f),
            (Schema::Double, Value::Double(d)) => Datum::f64(d),
            (Schema::Bytes, Value::Bytes(b)) | (Schema::Fixed(_), Value::Fixed(_, b)) => {
                Datum::Bytes(b)
            }
            (Schema::String, Value::String(s)) | (Schema::Enum(_), Value::Enum(_, s)) => {
                Datum::String(s)
            }
            (Schema::Decimal(d), Value::Decimal(v)) => {
                let bytes = <Vec<u8>>::try_from(&v).map_err(|e| e.to_string())?;
                Datum::Numeric(decimal_from_bytes(&bytes, d.scale)?)
            }
            // Read with the `resolution` schema (see `AvroSchema::parse`).
            (Schema::Decimal(d), Value::Bytes(bytes)) => {
                Datum::Numeric(decimal_from_bytes(&bytes, d.scale)?)
            }
            (Schema::BigDecimal, Value::BigDecimal(b)) => {
                Datum::Numeric(strconv::parse_numeric(&b.to_string()).map_err(|e| e.message)?)
            }
            (Schema::Uuid(_), Value::Uuid(u)) => Datum::Uuid(u),
            (Schema::Date, Value::Date(d)) => Datum::Date(d),
            (Schema::TimeMillis, Value::TimeMillis(ms)) => Datum::Time(i64::from(ms) * 1000),
            (Schema::TimeMicros, Value::TimeMicros(us)) => Datum::Time(us),
            (Schema::TimestampMillis, Value::TimestampMillis(ms))
            | (Schema::LocalTimestampMillis, Value::LocalTimestampMillis(ms)) => Datum::Timestamp(
                ms.checked_mul(1000)
                    .ok_or_else(|| format!("timestamp {ms} ms is out of range"))?,
            ),
            (Schema::TimestampMicros, Value::TimestampMicros(us))
            | (Schema::LocalTimestampMicros, Value::LocalTimestampMicros(us)) => {
                Datum::Timestamp(us)
            }
            (Schema::TimestampNanos, Value::TimestampNanos(ns))
            | (Schema::LocalTimestampNanos, Value::LocalTimestampNanos(ns)) => {
                Datum::Timestamp(ns.div_euclid(1000))
            }
            (Schema::Duration(_), Value::Duration(d)) => {
                let months = u32::from(d.months());
                Datum::Interval(Interval {
                    months: i32::try_from(months)
                        .map_err(|_| format!("duration of {months} months is out of range"))?,
                    days: i32::try_from(u32::from(d.days()))
                        .map_err(|_| "duration is out of range".to_string())?,
                    micros: i64::from(u32::from(d.millis())) * 1000,
                })
            }
            (Schema::Record(_) | Schema::Array(_) | Schema::Map(_), v) => {
                Datum::Jsonb(self.jsonb(&v, schema)?)
            }
            (s, v) => {
                return Err(format!(
                    "a {} value where the schema has {}",
                    value_kind(&v),
                    kind(s)
                ));
            }
        })
    }

    /// A value as canonical `jsonb` text.
    fn jsonb(&self, value: &Value, schema: &Schema) -> Result<String, String> {
        let json = self.json(value, schema)?;
        strconv::canonical_jsonb(&json.to_string()).map_err(|e| e.message)
    }

    /// A value as JSON: records and maps as objects, arrays as arrays,
    /// scalars as PostgreSQL's `to_jsonb` prints them.
    fn json(&self, value: &Value, schema: &Schema) -> Result<serde_json::Value, String> {
        use serde_json::Value as J;
        let schema = self.deref(schema);
        Ok(match (schema, value) {
            (_, Value::Null) => J::Null,
            (Schema::Union(u), Value::Union(i, inner)) => {
                let variant = u
                    .variants()
                    .get(*i as usize)
                    .ok_or_else(|| format!("union branch {i} does not exist"))?;
                self.json(inner, variant)?
            }
            (Schema::Record(record), Value::Record(fields)) => {
                let mut map = serde_json::Map::new();
                for ((name, v), f) in fields.iter().zip(&record.fields) {
                    map.insert(name.clone(), self.json(v, &f.schema)?);
                }
                J::Object(map)
            }
            (Schema::Array(a), Value::Array(items)) => J::Array(
                items
                    .iter()
                    .map(|v| self.json(v, &a.items))
                    .collect::<Result<_, _>>()?,
            ),
            (Schema::Map(m), Value::Map(entries)) => {
                // Sorted: canonical_jsonb orders keys anyway, but a stable
                // input order keeps duplicates impossible to reorder.
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = serde_json::Map::new();
                for (k, v) in sorted {
                    map.insert(k.clone(), self.json(v, &m.types)?);
                }
                J::Object(map)
            }
            (s, v) => scalar_json(self.datum(v.clone(), s)?),
        })
    }
}

/// A scalar datum as JSON, the way PostgreSQL's `to_jsonb` writes it.
fn scalar_json(datum: Datum) -> serde_json::Value {
    use serde_json::Value as J;
    match datum {
        Datum::Null => J::Null,
        Datum::Bool(b) => J::Bool(b),
        Datum::Int16(i) => J::from(i),
        Datum::Int32(i) => J::from(i),
        Datum::Int64(i) => J::from(i),
        Datum::Float32(f) if f.0.is_finite() => J::from(f64::from(f.0)),
        Datum::Float64(f) if f.0.is_finite() => J::from(f.0),
        Datum::Numeric(d) => {
            let text = strconv::format_numeric(&d);
            serde_json::from_str(&text).unwrap_or(J::String(text))
        }
        Datum::String(s) => J::String(s),
        Datum::Jsonb(text) => serde_json::from_str(&text).unwrap_or(J::String(text)),
        Datum::Timestamp(_) | Datum::TimestampTz(_) => J::String(
            strconv::format(&datum)
                .unwrap_or_default()
                .replacen(' ', "T", 1),
        ),
        other => J::String(strconv::format(&other).unwrap_or_default()),
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Fixed(..) => "fixed",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Record(_) => "record",
        Value::Date(_) => "date",
        Value::Decimal(_) | Value::BigDecimal(_) => "decimal",
        Value::TimeMillis(_) | Value::TimeMicros(_) => "time",
        _ => "timestamp, duration or uuid",
    }
}

/// A decimal from the big-endian two's complement bytes of its unscaled
/// value.
pub(crate) fn decimal_from_bytes(
    bytes: &[u8],
    scale: usize,
) -> Result<crate::repr::Numeric, String> {
    // Beyond 1000 digits each side of the point is beyond any Numeric; a
    // longer message is refused before it is read as a number.
    if bytes.len() > 1024 {
        return Err("decimal value out of range for numeric".into());
    }
    let unscaled = num_bigint::BigInt::from_signed_bytes_be(bytes);
    let scale = u32::try_from(scale).map_err(|_| "decimal scale out of range".to_string())?;
    crate::repr::Numeric::from_big_parts(unscaled, scale)
        .ok_or_else(|| "decimal value out of range for numeric".to_string())
}

/// A writer schema in the cache: parsed, or why it cannot be used.
#[derive(Debug)]
enum CachedWriter {
    Schema(Arc<AvroSchema>),
    /// The registry does not know the id (asked at that instant).
    NotFound(String, Instant),
    /// The registry's schema does not parse: final.
    Invalid(String),
}

/// Decodes Confluent-framed Avro against a reader schema, fetching writer
/// schemas by id (once each).
#[derive(Debug)]
pub struct ConfluentAvroDecoder {
    /// The reader schema: what the columns were derived from.
    pub reader: Arc<AvroSchema>,
    lookup: Option<Arc<dyn SchemaLookup>>,
    writers: Mutex<HashMap<i32, CachedWriter>>,
}

/// The schema id and the Avro datum of a Confluent-framed record.
pub fn split_confluent_frame(bytes: &[u8]) -> Result<(i32, &[u8]), String> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [magic, ..] if *magic != 0 => Err(format!(
            "wrong magic byte {magic:#04x}: not Confluent-framed Avro (expected 0x00)"
        )),
        _ => Err(format!(
            "{} bytes are too short for the Confluent wire format (magic byte and schema id)",
            bytes.len()
        )),
    }
}

impl ConfluentAvroDecoder {
    /// A decoder for `reader`; writer schemas come from `lookup`.
    pub fn new(reader: Arc<AvroSchema>, lookup: Option<Arc<dyn SchemaLookup>>) -> Self {
        ConfluentAvroDecoder {
            reader,
            lookup,
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// The writer schema with `id`, from the cache or the registry.
    fn writer(&self, id: i32) -> Result<Arc<AvroSchema>, AvroError> {
        let mut writers = self
            .writers
            .lock()
            .map_err(|_| AvroError::Transient("the schema cache is poisoned".into()))?;
        match writers.get(&id) {
            Some(CachedWriter::Schema(s)) => return Ok(s.clone()),
            Some(CachedWriter::Invalid(e)) => return Err(AvroError::Record(e.clone())),
            Some(CachedWriter::NotFound(e, at)) if at.elapsed() < NOT_FOUND_TTL => {
                return Err(AvroError::Record(e.clone()));
            }
            _ => {}
        }
        let Some(lookup) = &self.lookup else {
            return Err(AvroError::Transient(
                "no schema registry to look writer schemas up in".into(),
            ));
        };
        // The lock is held across the request: one thread decodes a
        // source, and a second request for the same id would be wasted.
        let entry = match lookup.schema_by_id(id) {
            Ok(text) => match AvroSchema::parse(&text) {
                Ok(s) => CachedWriter::Schema(Arc::new(s)),
                Err(e) => CachedWriter::Invalid(format!("writer schema {id}: {e}")),
            },
            Err(RegistryError::NotFound(m)) => {
                CachedWriter::NotFound(format!("unknown schema id {id}: {m}"), Instant::now())
            }
            Err(e) => return Err(AvroError::Transient(e.to_string())),
        };
        let result = match &entry {
            CachedWriter::Schema(s) => Ok(s.clone()),
            CachedWriter::NotFound(e, _) | CachedWriter::Invalid(e) => {
                Err(AvroError::Record(e.clone()))
            }
        };
        writers.insert(id, entry);
        result
    }

    /// Decodes one framed record into a value of the reader schema.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, AvroError> {
        let (id, mut datum) = split_confluent_frame(bytes).map_err(AvroError::Record)?;
        let writer = self.writer(id)?;
        let reader = GenericDatumReader::builder(&writer.resolution)
            .reader_schema(&self.reader.resolution)
            .build()
            .map_err(|e| AvroError::Record(format!("schema {id}: {e}")))?;
        let value = reader
            .read_value(&mut datum)
            .map_err(|e| AvroError::Record(format!("undecodable Avro datum (schema {id}): {e}")))?;
        if !datum.is_empty() {
            return Err(AvroError::Record(format!(
                "{} bytes left after the Avro datum (schema {id})",
                datum.len()
            )));
        }
        Ok(value)
    }
}

/// Debezium's envelope: the row schema inside `before`/`after`.
pub fn debezium_row_schema(envelope: &AvroSchema) -> Result<&Schema, String> {
    let Schema::Record(record) = envelope.deref(&envelope.schema) else {
        return Err("the value schema is not a Debezium envelope (not a record)".into());
    };
    for required in ["before", "after", "op"] {
        if !record.lookup.contains_key(required) {
            return Err(format!(
                "the value schema is not a Debezium envelope: it has no \"{required}\" field"
            ));
        }
    }
    let after = &record.fields[record.lookup["after"]].schema;
    let row = match envelope.deref(after) {
        Schema::Union(u) => u.variants().iter().find(|v| !matches!(v, Schema::Null)),
        other => Some(other),
    };
    match row.map(|r| envelope.deref(r)) {
        Some(r) if matches!(r, Schema::Record(_)) => Ok(r),
        _ => Err("the Debezium envelope's \"after\" field is not a nullable record".into()),
    }
}

/// The parts of a Debezium event in Avro that Freshet reads.
#[derive(Debug)]
pub struct DebeziumParts {
    /// `op`: `c`, `r`, `u`, `d` or `t`.
    pub op: String,
    /// The `before` image, a value of the row schema (`None` when null).
    pub before: Option<Value>,
    /// The `after` image (`None` when null).
    pub after: Option<Value>,
    /// The `transaction` block's `id` (`None` outside a transaction, or
    /// when the connector does not provide transaction metadata).
    pub transaction: Option<String>,
}

/// A union's value, or `None` for null.
fn non_null(v: Value) -> Option<Value> {
    match v {
        Value::Union(_, inner) => match *inner {
            Value::Null => None,
            other => Some(other),
        },
        Value::Null => None,
        other => Some(other),
    }
}

/// Splits a Debezium event in Avro into its parts.
pub fn debezium_parts(value: Value) -> Result<DebeziumParts, String> {
    let Value::Record(fields) = value else {
        return Err("the Debezium event is not a record".into());
    };
    let mut op = None;
    let mut before = None;
    let mut after = None;
    let mut transaction = None;
    for (name, v) in fields {
        match name.as_str() {
            "op" => {
                op = match non_null(v) {
                    Some(Value::String(s)) => Some(s),
                    _ => None,
                }
            }
            "before" => before = non_null(v),
            "after" => after = non_null(v),
            "transaction" => {
                if let Some(Value::Record(block)) = non_null(v) {
                    transaction = block.into_iter().find_map(|(n, v)| match (n.as_str(), v) {
                        ("id", Value::String(id)) => Some(id),
                        _ => None,
                    });
                }
            }
            _ => {}
        }
    }
    let op = op.ok_or("the Debezium event has no \"op\"")?;
    Ok(DebeziumParts {
        op,
        before,
        after,
        transaction,
    })
}

/// Reads a record of Debezium's transaction topic in Avro: for an `END`
/// record, the transaction id and its event count for `collection` (0 when
/// the transaction did not touch it); `None` for `BEGIN` and anything else.
pub fn transaction_end(value: Value, collection: &str) -> Option<(String, u64)> {
    let Value::Record(fields) = value else {
        return None;
    };
    let mut status = None;
    let mut id = None;
    let mut count = 0u64;
    for (name, v) in fields {
        match (name.as_str(), non_null(v)) {
            ("status", Some(Value::String(s))) => status = Some(s),
            ("id", Some(Value::String(s))) => id = Some(s),
            ("data_collections", Some(Value::Array(items))) => {
                for item in items {
                    let Some(Value::Record(parts)) = non_null(item) else {
                        continue;
                    };
                    let mut name = None;
                    let mut events = 0u64;
                    for (n, v) in parts {
                        match (n.as_str(), non_null(v)) {
                            ("data_collection", Some(Value::String(c))) => name = Some(c),
                            ("event_count", Some(Value::Long(n))) => {
                                events = u64::try_from(n).unwrap_or(0)
                            }
                            ("event_count", Some(Value::Int(n))) => {
                                events = u64::try_from(n).unwrap_or(0)
                            }
                            _ => {}
                        }
                    }
                    if name.as_deref() == Some(collection) {
                        count += events;
                    }
                }
            }
            _ => {}
        }
    }
    (status.as_deref() == Some("END")).then_some(())?;
    Some((id?, count))
}

#[cfg(test)]
mod tests;
