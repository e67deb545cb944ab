//! Unit tests of the Avro → `Datum` conversion, schema resolution through
//! the Confluent framing, and Avro sources' decoding (upsert, Debezium).

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::{Decimal, Schema};

use super::*;
use crate::sql::parse::{FreshetStatement, parse_statements};
use crate::sql::source::quote_literal;
use crate::storage::decode::{KafkaRecord, SourceDecoder};
use crate::storage::durable::SourceChange;

/// Writer schemas by id; ids in `down` answer as if the registry were
/// unreachable.
#[derive(Debug, Default)]
struct MapLookup {
    schemas: HashMap<i32, String>,
    down: bool,
}

impl SchemaLookup for MapLookup {
    fn schema_by_id(&self, id: i32) -> Result<String, RegistryError> {
        if self.down {
            return Err(RegistryError::Unavailable("connection refused".into()));
        }
        self.schemas
            .get(&id)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("Schema {id} not found")))
    }
}

/// Confluent framing: magic byte, schema id, Avro datum.
fn frame(id: i32, schema: &str, value: Value) -> Vec<u8> {
    let schema = Schema::parse_str(schema).unwrap();
    let datum = GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap();
    let mut out = vec![0];
    out.extend(id.to_be_bytes());
    out.extend(datum);
    out
}

fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn some(branch: u32, v: Value) -> Value {
    Value::Union(branch, Box::new(v))
}

fn null() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

const ALL_TYPES: &str = r#"{
  "type": "record", "name": "AllTypes", "namespace": "test",
  "fields": [
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": ["null", "long"]},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "s", "type": "string"},
    {"name": "raw", "type": "bytes"},
    {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "ts_us", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "nested", "type": {"type": "record", "name": "Point", "fields": [
        {"name": "x", "type": "int"}, {"name": "label", "type": ["null", "string"]}]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "long"}},
    {"name": "either", "type": ["null", "int", "string"]},
    {"name": "again", "type": ["null", "test.Point"]}
  ]
}"#;

fn all_types_value() -> Value {
    record(vec![
        ("b", Value::Boolean(true)),
        ("i", Value::Int(-7)),
        ("l", some(1, Value::Long(1 << 40))),
        ("f", Value::Float(1.5)),
        ("d", Value::Double(-0.25)),
        ("s", Value::String("héllo".into())),
        ("raw", Value::Bytes(vec![0, 1, 255])),
        ("fx", Value::Fixed(4, vec![1, 2, 3, 4])),
        ("e", Value::Enum(1, "GREEN".into())),
        (
            "amount",
            Value::Decimal(Decimal::from(&(-12345i32).to_be_bytes())),
        ),
        ("day", Value::Date(19_723)),
        ("t_ms", Value::TimeMillis(3_723_004)),
        ("t_us", Value::TimeMicros(1_000_001)),
        ("ts_ms", Value::TimestampMillis(1_700_000_000_123)),
        ("ts_us", null()),
        (
            "id",
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
        ),
        (
            "nested",
            record(vec![
                ("x", Value::Int(3)),
                ("label", some(1, Value::String("p".into()))),
            ]),
        ),
        (
            "tags",
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
        ),
        (
            "attrs",
            Value::Map(HashMap::from([("k".to_string(), Value::Long(2))])),
        ),
        ("either", some(2, Value::String("two".into()))),
        ("again", null()),
    ])
}

#[test]
fn columns_follow_the_schema() {
    let schema = AvroSchema::parse(ALL_TYPES).unwrap();
    let columns = schema.columns_of(&schema.schema, "data").unwrap();
    let described: Vec<(String, String, bool)> = columns
        .iter()
        .map(|c| (c.name.clone(), c.typ.name(), c.nullable))
        .collect();
    let expected = [
        ("b", "boolean", false),
        ("i", "integer", false),
        ("l", "bigint", true),
        ("f", "real", false),
        ("d", "double precision", false),
        ("s", "text", false),
        ("raw", "bytea", false),
        ("fx", "bytea", false),
        ("e", "text", false),
        ("amount", "numeric(10,2)", false),
        ("day", "date", false),
        ("t_ms", "time without time zone", false),
        ("t_us", "time without time zone", false),
        ("ts_ms", "timestamp without time zone", false),
        ("ts_us", "timestamp without time zone", true),
        ("id", "uuid", false),
        ("nested", "jsonb", false),
        ("tags", "jsonb", false),
        ("attrs", "jsonb", false),
        ("either", "jsonb", true),
        ("again", "jsonb", true),
    ];
    let expected: Vec<(String, String, bool)> = expected
        .iter()
        .map(|(n, t, null)| (n.to_string(), t.to_string(), *null))
        .collect();
    assert_eq!(described, expected);
    // A schema that is not a record is one column.
    let long = AvroSchema::parse(r#""long""#).unwrap();
    let c = long.columns_of(&long.schema, "key").unwrap();
    assert_eq!((c[0].name.as_str(), &c[0].typ), ("key", &ScalarType::Int64));
    // Unsupported shapes are refused with the field's name.
    let bad = AvroSchema::parse(
        r#"{"type": "record", "name": "R", "fields": [{"name": "n", "type": "null"}]}"#,
    )
    .unwrap();
    let e = bad.columns_of(&bad.schema, "data").unwrap_err();
    assert!(e.contains("field \"n\""), "{e}");
}

#[test]
fn values_become_datums() {
    let lookup = MapLookup {
        schemas: HashMap::from([(1, ALL_TYPES.to_string())]),
        down: false,
    };
    let reader = Arc::new(AvroSchema::parse(ALL_TYPES).unwrap());
    let decoder = ConfluentAvroDecoder::new(reader.clone(), Some(Arc::new(lookup)));
    let value = decoder
        .decode(&frame(1, ALL_TYPES, all_types_value()))
        .unwrap();
    let datums = reader.datums_of(value, &reader.schema).unwrap();
    assert_eq!(
        datums,
        vec![
            Datum::Bool(true),
            Datum::Int32(-7),
            Datum::Int64(1 << 40),
            Datum::f32(1.5),
            Datum::f64(-0.25),
            Datum::String("héllo".into()),
            Datum::Bytes(vec![0, 1, 255]),
            Datum::Bytes(vec![1, 2, 3, 4]),
            Datum::String("GREEN".into()),
            Datum::Numeric("-123.45".parse().unwrap()),
            Datum::Date(19_723),
            Datum::Time(3_723_004_000),
            Datum::Time(1_000_001),
            Datum::Timestamp(1_700_000_000_123_000),
            Datum::Null,
            Datum::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".parse().unwrap()),
            Datum::Jsonb(r#"{"x": 3, "label": "p"}"#.into()),
            Datum::Jsonb(r#"["a", "b"]"#.into()),
            Datum::Jsonb(r#"{"k": 2}"#.into()),
            Datum::Jsonb(r#""two""#.into()),
            Datum::Null,
        ]
    );
}

#[test]
fn decimals_from_twos_complement() {
    let d = |bytes: &[u8], scale| decimal_from_bytes(bytes, scale).unwrap().to_string();
    assert_eq!(d(&[0x30, 0x39], 2), "123.45");
    assert_eq!(d(&[0xcf, 0xc7], 2), "-123.45");
    assert_eq!(d(&[0xff, 0xff, 0xff, 0xff], 0), "-1");
    assert_eq!(d(&[], 0), "0");
    // Sign extension beyond 16 bytes is fine, and so are wide values, up
    // to Freshet's 1000 digits.
    assert_eq!(d(&[0; 20], 3), "0.000");
    assert_eq!(
        d(&[0x7f; 20], 0),
        num_bigint::BigInt::from_signed_bytes_be(&[0x7f; 20]).to_string()
    );
    // 2^96, one past the compact form's mantissa.
    assert_eq!(
        d(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2),
        "792281625142643375935439503.36"
    );
    assert!(decimal_from_bytes(&[0x7f; 500], 0).is_err());
}

const V1: &str = r#"{"type": "record", "name": "User", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "legacy", "type": "int"}]}"#;
/// v1 with `legacy` removed and `email` added (with a default).
const V2: &str = r#"{"type": "record", "name": "User", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": null}]}"#;

#[test]
fn evolution_resolves_against_the_reader_schema() {
    let lookup = MapLookup {
        schemas: HashMap::from([(1, V1.to_string()), (2, V2.to_string())]),
        down: false,
    };
    let reader = Arc::new(AvroSchema::parse(V2).unwrap());
    let decoder = ConfluentAvroDecoder::new(reader.clone(), Some(Arc::new(lookup)));
    let old = frame(
        1,
        V1,
        record(vec![
            ("id", Value::Long(1)),
            ("name", Value::String("ann".into())),
            ("legacy", Value::Int(9)),
        ]),
    );
    let new = frame(
        2,
        V2,
        record(vec![
            ("id", Value::Long(2)),
            ("name", Value::String("bob".into())),
            ("email", some(1, Value::String("b@x".into()))),
        ]),
    );
    let rows: Vec<Vec<Datum>> = [old, new]
        .iter()
        .map(|bytes| {
            reader
                .datums_of(decoder.decode(bytes).unwrap(), &reader.schema)
                .unwrap()
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![Datum::Int64(1), Datum::String("ann".into()), Datum::Null],
            vec![
                Datum::Int64(2),
                Datum::String("bob".into()),
                Datum::String("b@x".into())
            ],
        ]
    );
}

#[test]
fn bad_records_are_record_errors_and_outages_are_transient() {
    let reader = Arc::new(AvroSchema::parse(V1).unwrap());
    let lookup = MapLookup {
        schemas: HashMap::from([(1, V1.to_string()), (5, r#""string""#.to_string())]),
        down: false,
    };
    let decoder = ConfluentAvroDecoder::new(reader.clone(), Some(Arc::new(lookup)));
    let good = frame(
        1,
        V1,
        record(vec![
            ("id", Value::Long(1)),
            ("name", Value::String("ann".into())),
            ("legacy", Value::Int(9)),
        ]),
    );
    let record_error = |bytes: &[u8]| match decoder.decode(bytes) {
        Err(AvroError::Record(e)) => e,
        other => panic!("{other:?}"),
    };
    assert!(record_error(&[7, 0, 0, 0, 1]).contains("magic byte 0x07"));
    assert!(record_error(&[0, 0]).contains("too short"));
    let mut unknown = good.clone();
    unknown[4] = 99;
    assert!(record_error(&unknown).contains("unknown schema id 99"));
    // A truncated datum, and bytes after a complete one.
    assert!(record_error(&good[..good.len() - 2]).contains("undecodable"));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(record_error(&trailing).contains("1 bytes left"));
    // A writer schema that cannot be resolved to the reader's.
    let mut string = vec![0, 0, 0, 0, 5];
    string.extend([2, b'x']);
    assert!(record_error(&string).contains("schema 5"));

    let down = ConfluentAvroDecoder::new(
        reader,
        Some(Arc::new(MapLookup {
            down: true,
            ..Default::default()
        })),
    );
    assert!(matches!(down.decode(&good), Err(AvroError::Transient(_))));
}

fn source(sql: &str, lookup: MapLookup) -> SourceDecoder {
    let lookup: Arc<dyn SchemaLookup> = Arc::new(lookup);
    match parse_statements(sql).unwrap().remove(0) {
        FreshetStatement::CreateKafkaSource(s) => {
            // The seeds print back and parse to the same statement.
            let again = match parse_statements(&s.to_string()).unwrap().remove(0) {
                FreshetStatement::CreateKafkaSource(again) => again,
                other => panic!("{other:?}"),
            };
            assert_eq!(again.to_string(), s.to_string());
            assert_eq!(again.key_format, s.key_format);
            assert_eq!(again.value_format, s.value_format);
            SourceDecoder::with_registries(&s, &|_| Some(lookup.clone())).unwrap()
        }
        other => panic!("{other:?}"),
    }
}

fn rec<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> KafkaRecord<'a> {
    KafkaRecord {
        key,
        value,
        partition: 0,
        offset: 3,
        timestamp: None,
        headers: &[],
    }
}

const KEY: &str =
    r#"{"type": "record", "name": "Key", "fields": [{"name": "id", "type": "long"}]}"#;

const PROFILE: &str = r#"{"type": "record", "name": "Profile", "fields": [
    {"name": "name", "type": "string"},
    {"name": "score", "type": ["null", "double"], "default": null}]}"#;

#[test]
fn upsert_with_avro_key_and_value() {
    let d = source(
        &format!(
            "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
             FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr \
             SEED KEY SCHEMA {} VALUE SCHEMA {} ENVELOPE UPSERT",
            quote_literal(KEY),
            quote_literal(PROFILE)
        ),
        MapLookup {
            schemas: HashMap::from([(1, KEY.to_string()), (2, PROFILE.to_string())]),
            down: false,
        },
    );
    let described: Vec<(&str, bool)> = d
        .desc()
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.nullable))
        .collect();
    assert_eq!(described, [("id", false), ("name", false), ("score", true)]);
    let key = frame(1, KEY, record(vec![("id", Value::Long(7))]));
    let value = frame(
        2,
        PROFILE,
        record(vec![
            ("name", Value::String("ann".into())),
            ("score", some(1, Value::Double(2.5))),
        ]),
    );
    let SourceChange::Upsert { key: k1, value } = d.decode(&rec(Some(&key), Some(&value))).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        value,
        Some(Ok(crate::repr::Row::new(vec![
            Datum::Int64(7),
            Datum::String("ann".into()),
            Datum::f64(2.5)
        ])))
    );
    // A tombstone deletes the same key.
    let SourceChange::Upsert { key: k2, value } = d.decode(&rec(Some(&key), None)).unwrap() else {
        panic!()
    };
    assert_eq!((k1, value), (k2, None));
    // Garbage in the value is the key's error.
    assert!(matches!(
        d.decode(&rec(Some(&key), Some(b"garbage"))).unwrap(),
        SourceChange::Upsert {
            value: Some(Err(_)),
            ..
        }
    ));
}

const ROW: &str = r#"{"type": "record", "name": "Value", "namespace": "pg.public.orders", "fields": [
    {"name": "id", "type": "int"},
    {"name": "item", "type": ["null", "string"], "default": null}]}"#;

/// Debezium's envelope around `ROW` (the `source` block cut short: the
/// end-to-end test has the whole PostgreSQL connector block).
fn envelope() -> String {
    format!(
        r#"{{"type": "record", "name": "Envelope", "namespace": "pg.public.orders", "fields": [
          {{"name": "before", "type": ["null", {ROW}], "default": null}},
          {{"name": "after", "type": ["null", "Value"], "default": null}},
          {{"name": "source", "type": {{"type": "record", "name": "Source",
             "namespace": "io.debezium.connector.postgresql",
             "fields": [{{"name": "connector", "type": "string"}}]}}}},
          {{"name": "op", "type": "string"}},
          {{"name": "ts_ms", "type": ["null", "long"], "default": null}}]}}"#
    )
}

fn debezium_event(op: &str, before: Option<(i32, &str)>, after: Option<(i32, &str)>) -> Value {
    let image = |r: Option<(i32, &str)>| match r {
        None => null(),
        Some((id, item)) => some(
            1,
            record(vec![
                ("id", Value::Int(id)),
                ("item", some(1, Value::String(item.into()))),
            ]),
        ),
    };
    record(vec![
        ("before", image(before)),
        ("after", image(after)),
        (
            "source",
            record(vec![("connector", Value::String("postgresql".into()))]),
        ),
        ("op", Value::String(op.into())),
        ("ts_ms", some(1, Value::Long(1))),
    ])
}

#[test]
fn debezium_avro_columns_are_the_row_fields() {
    let pk = r#"{"type": "record", "name": "Key", "fields": [{"name": "id", "type": "int"}]}"#;
    let envelope = envelope();
    let d = source(
        &format!(
            "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
             KEY FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr SEED KEY SCHEMA {} \
             VALUE FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr SEED VALUE SCHEMA {} \
             ENVELOPE DEBEZIUM",
            quote_literal(pk),
            quote_literal(&envelope)
        ),
        MapLookup {
            schemas: HashMap::from([(1, pk.to_string()), (2, envelope.clone())]),
            down: false,
        },
    );
    let names: Vec<&str> = d.desc().columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "item"]);
    let key = frame(1, pk, record(vec![("id", Value::Int(1))]));
    let create = frame(2, &envelope, debezium_event("c", None, Some((1, "apple"))));
    match d.decode(&rec(Some(&key), Some(&create))).unwrap() {
        SourceChange::Upsert {
            value: Some(Ok(row)),
            ..
        } => assert_eq!(
            row.unpack(),
            vec![Datum::Int32(1), Datum::String("apple".into())]
        ),
        other => panic!("{other:?}"),
    }
    let delete = frame(2, &envelope, debezium_event("d", Some((1, "apple")), None));
    assert!(matches!(
        d.decode(&rec(Some(&key), Some(&delete))).unwrap(),
        SourceChange::Upsert { value: None, .. }
    ));
    assert!(matches!(
        d.decode(&rec(Some(&key), None)).unwrap(),
        SourceChange::Nothing
    ));
    // Without a key (no primary key): `before` is retracted.
    let update = frame(
        2,
        &envelope,
        debezium_event("u", Some((1, "apple")), Some((1, "pear"))),
    );
    match d.decode(&rec(None, Some(&update))).unwrap() {
        SourceChange::Many(changes) => assert_eq!(
            changes,
            vec![
                (
                    Ok(crate::repr::Row::new(vec![
                        Datum::Int32(1),
                        Datum::String("apple".into())
                    ])),
                    -1
                ),
                (
                    Ok(crate::repr::Row::new(vec![
                        Datum::Int32(1),
                        Datum::String("pear".into())
                    ])),
                    1
                ),
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn debezium_needs_an_envelope_schema() {
    let sql = format!(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
         FORMAT AVRO USING CONFLUENT SCHEMA REGISTRY CONNECTION csr SEED VALUE SCHEMA {} \
         ENVELOPE DEBEZIUM",
        quote_literal(V1)
    );
    let FreshetStatement::CreateKafkaSource(s) = parse_statements(&sql).unwrap().remove(0) else {
        panic!()
    };
    match SourceDecoder::new(&s) {
        Err(crate::storage::decode::DefinitionError::Invalid(m)) => {
            assert!(m.contains("no \"before\" field"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn debezium_parts_carry_the_transaction_id() {
    let block = |id: &str| {
        some(
            1,
            record(vec![
                ("id", Value::String(id.into())),
                ("total_order", Value::Long(1)),
                ("data_collection_order", Value::Long(1)),
            ]),
        )
    };
    let event = |transaction: Value| {
        record(vec![
            ("before", null()),
            ("after", null()),
            ("op", Value::String("c".into())),
            ("transaction", transaction),
        ])
    };
    let parts = debezium_parts(event(block("571:34120944"))).unwrap();
    assert_eq!(parts.op, "c");
    assert_eq!(parts.transaction.as_deref(), Some("571:34120944"));
    assert_eq!(debezium_parts(event(null())).unwrap().transaction, None);
}

#[test]
fn transaction_end_counts_the_collection_events() {
    let collection = |name: &str, n: i64| {
        record(vec![
            ("data_collection", Value::String(name.into())),
            ("event_count", Value::Long(n)),
        ])
    };
    let tx = |status: &str, collections: Value| {
        record(vec![
            ("status", Value::String(status.into())),
            ("id", Value::String("571".into())),
            ("event_count", some(1, Value::Long(5))),
            ("data_collections", collections),
            ("ts_ms", Value::Long(0)),
        ])
    };
    let both = some(
        1,
        Value::Array(vec![
            collection("inventory.orders", 2),
            collection("inventory.customers", 3),
        ]),
    );
    assert_eq!(
        transaction_end(tx("END", both.clone()), "inventory.orders"),
        Some(("571".to_string(), 2))
    );
    // A transaction that did not touch the collection counts 0 events for it.
    assert_eq!(
        transaction_end(tx("END", both.clone()), "inventory.items"),
        Some(("571".to_string(), 0))
    );
    assert_eq!(
        transaction_end(tx("BEGIN", null()), "inventory.orders"),
        None
    );
    assert_eq!(transaction_end(Value::Null, "inventory.orders"), None);
}
