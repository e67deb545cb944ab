//! Unit tests of the Avro sink format: the generated schemas (Materialize's
//! shapes and type mapping), and rows written, framed, enveloped and read
//! back with apache-avro.

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use serde_json::json;

use super::*;
use crate::repr::{ColumnDesc, Interval, OrdF32, OrdF64};

fn column(name: &str, typ: ScalarType, nullable: bool) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        typ,
        nullable,
    }
}

/// A relation with a column of every type.
fn every_type() -> RelationDesc {
    RelationDesc {
        columns: vec![
            column("id", ScalarType::Int32, false),
            column("b", ScalarType::Bool, true),
            column("s", ScalarType::Int16, true),
            column("l", ScalarType::Int64, true),
            column("r", ScalarType::Float32, true),
            column("d", ScalarType::Float64, true),
            column(
                "n",
                ScalarType::Numeric {
                    precision: Some(10),
                    scale: Some(2),
                },
                true,
            ),
            column(
                "u",
                ScalarType::Numeric {
                    precision: None,
                    scale: None,
                },
                true,
            ),
            column("t", ScalarType::Text, true),
            column("v", ScalarType::VarChar(Some(5)), true),
            column("c", ScalarType::Char(Some(3)), true),
            column("by", ScalarType::Bytea, true),
            column("dt", ScalarType::Date, true),
            column("tm", ScalarType::Time(None), true),
            column("ts", ScalarType::Timestamp(None), true),
            column("tz", ScalarType::TimestampTz(None), true),
            column("i1", ScalarType::INTERVAL, true),
            column("i2", ScalarType::INTERVAL, false),
            column("j", ScalarType::Jsonb, true),
            column("uu", ScalarType::Uuid, true),
        ],
    }
}

fn nullable(t: serde_json::Value) -> serde_json::Value {
    json!(["null", t])
}

#[test]
fn upsert_value_and_key_schemas_follow_materialize() {
    let schemas = sink_schemas(&every_type(), Some(&[0, 8]), false, None, None).unwrap();
    let value: serde_json::Value = serde_json::from_str(&schemas.value).unwrap();
    let interval = json!({"type": "fixed", "size": 16, "name": INTERVAL_TYPE_NAME});
    let expected_types = [
        json!("int"),
        nullable(json!("boolean")),
        nullable(json!("int")),
        nullable(json!("long")),
        nullable(json!("float")),
        nullable(json!("double")),
        nullable(json!({"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2})),
        nullable(json!({"type": "bytes", "logicalType": "decimal", "precision": 81, "scale": 39})),
        nullable(json!("string")),
        nullable(json!("string")),
        nullable(json!("string")),
        nullable(json!("bytes")),
        nullable(json!({"type": "int", "logicalType": "date"})),
        nullable(json!({"type": "long", "logicalType": "time-micros"})),
        nullable(json!({"type": "long", "logicalType": "timestamp-micros"})),
        nullable(json!({"type": "long", "logicalType": "timestamp-micros"})),
        // The named type is defined once, then referred to by name.
        nullable(interval),
        json!(INTERVAL_TYPE_NAME),
        nullable(json!({"type": "string", "connect.name": "io.debezium.data.Json"})),
        nullable(json!({"type": "string", "logicalType": "uuid"})),
    ];
    assert_eq!(value["type"], "record");
    assert_eq!(value["name"], "envelope");
    let fields = value["fields"].as_array().unwrap();
    assert_eq!(fields.len(), expected_types.len());
    for ((field, column), expected) in fields.iter().zip(&every_type().columns).zip(expected_types)
    {
        assert_eq!(field["name"], column.name.as_str());
        assert_eq!(field["type"], expected, "column {}", column.name);
    }
    // The value schema is the row record; both parse.
    assert_eq!(schemas.row, schemas.value);
    Schema::parse_str(&schemas.value).unwrap();
    let (key, key_columns) = schemas.key.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&key).unwrap(),
        json!({"type": "record", "name": "row", "fields": [
            {"name": "id", "type": "int"},
            {"name": "t", "type": ["null", "string"]},
        ]})
    );
    assert_eq!(
        key_columns.iter().map(|c| c.index).collect::<Vec<_>>(),
        [0, 8]
    );
}

#[test]
fn debezium_envelope_holds_the_row_record_twice() {
    let desc = RelationDesc {
        columns: vec![
            column("a", ScalarType::Int64, false),
            column("i", ScalarType::INTERVAL, true),
        ],
    };
    let schemas = sink_schemas(&desc, None, true, None, Some("com.acme.env")).unwrap();
    assert!(schemas.key.is_none());
    let row = json!({"type": "record", "name": "row", "fields": [
        {"name": "a", "type": "long"},
        {"name": "i", "type": ["null", {"type": "fixed", "size": 16, "name": INTERVAL_TYPE_NAME}]},
    ]});
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&schemas.value).unwrap(),
        json!({"type": "record", "name": "com.acme.env", "fields": [
            {"name": "before", "type": ["null", row]},
            {"name": "after", "type": ["null", "row"]},
        ]})
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&schemas.row).unwrap(),
        row
    );
    Schema::parse_str(&schemas.value).unwrap();
}

#[test]
fn names_are_made_valid_and_unique() {
    let desc = RelationDesc {
        columns: vec![
            column("col-a", ScalarType::Int32, false),
            column("col@a", ScalarType::Int32, false),
            column("1st", ScalarType::Int32, false),
            column("ünï", ScalarType::Int32, false),
            column("col_a", ScalarType::Int32, false),
        ],
    };
    let schemas = sink_schemas(&desc, None, false, None, None).unwrap();
    let names: Vec<&str> = schemas.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["col_a", "col_a1", "_1st", "_n_", "col_a2"]);
    Schema::parse_str(&schemas.value).unwrap();
    for bad in ["", "a..b", "1a", "a-b", "a.1b"] {
        assert!(
            sink_schemas(&desc, None, false, None, Some(bad)).is_err(),
            "{bad:?}"
        );
    }
    assert!(check_fullname("com.acme._x1").is_ok());
}

fn read_back(schema: &str, bytes: &[u8]) -> Value {
    let schema = Schema::parse_str(schema).unwrap();
    let mut rest = bytes;
    // With the schema as reader schema too: apache-avro's resolution checks
    // a decimal's length against its precision.
    let value = GenericDatumReader::builder(&schema)
        .reader_schema(&schema)
        .build()
        .unwrap()
        .read_value(&mut rest)
        .unwrap();
    assert!(rest.is_empty());
    value
}

fn unscaled(value: &Value) -> BigInt {
    match value {
        Value::Decimal(d) => BigInt::from_signed_bytes_be(&Vec::<u8>::try_from(d).unwrap()),
        other => panic!("not a decimal: {other:?}"),
    }
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    let Value::Record(fields) = record else {
        panic!("not a record: {record:?}")
    };
    let value = &fields.iter().find(|(n, _)| n == name).unwrap().1;
    match value {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

#[test]
fn every_type_round_trips_through_apache_avro() {
    let desc = every_type();
    let schemas = sink_schemas(&desc, Some(&[0]), false, None, None).unwrap();
    let value_schema = schemas.value.clone();
    let encoder = AvroEncoder::new(
        schemas,
        SchemaIds {
            key: Some(1),
            value: 2,
        },
    )
    .unwrap();
    let uuid = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let iv = Interval {
        months: 14,
        days: -3,
        micros: 4_000_001,
    };
    let row = Row::new(vec![
        Datum::Int32(7),
        Datum::Bool(true),
        Datum::Int16(-2),
        Datum::Int64(1 << 40),
        Datum::Float32(OrdF32(1.5)),
        Datum::Float64(OrdF64(-2.25)),
        Datum::Numeric("-12.5".parse().unwrap()),
        Datum::Numeric("12345678901234567.000001".parse().unwrap()),
        Datum::String("héllo".into()),
        Datum::String("ab".into()),
        Datum::String("xyz".into()),
        Datum::Bytes(vec![0, 255, 7]),
        Datum::Date(19_000),
        Datum::Time(3_600_000_001),
        Datum::Timestamp(1_700_000_000_123_456),
        Datum::TimestampTz(-1),
        Datum::Interval(iv),
        Datum::Interval(iv),
        Datum::Jsonb(r#"{"a":[1,2.5]}"#.into()),
        Datum::Uuid(uuid),
    ]);
    let nulls = Row::new(
        (0..desc.columns.len())
            .map(|i| match i {
                0 => Datum::Int32(8),
                17 => Datum::Interval(iv),
                _ => Datum::Null,
            })
            .collect(),
    );
    let rows = encoder.rows([&row, &nulls].into_iter()).unwrap();
    let v = read_back(&value_schema, &rows[0]);
    assert_eq!(field(&v, "id"), &Value::Int(7));
    assert_eq!(field(&v, "b"), &Value::Boolean(true));
    assert_eq!(field(&v, "s"), &Value::Int(-2));
    assert_eq!(field(&v, "l"), &Value::Long(1 << 40));
    assert_eq!(field(&v, "r"), &Value::Float(1.5));
    assert_eq!(field(&v, "d"), &Value::Double(-2.25));
    // numeric(10,2): scale 2, so -12.5 is -1250.
    assert_eq!(unscaled(field(&v, "n")), BigInt::from(-1250));
    // numeric: scale 39.
    assert_eq!(
        unscaled(field(&v, "u")),
        BigInt::from(12_345_678_901_234_567_000_001i128) * BigInt::from(10u8).pow(33)
    );
    assert_eq!(field(&v, "t"), &Value::String("héllo".into()));
    assert_eq!(field(&v, "c"), &Value::String("xyz".into()));
    assert_eq!(field(&v, "by"), &Value::Bytes(vec![0, 255, 7]));
    assert_eq!(field(&v, "dt"), &Value::Date(19_000));
    assert_eq!(field(&v, "tm"), &Value::TimeMicros(3_600_000_001));
    assert_eq!(
        field(&v, "ts"),
        &Value::TimestampMicros(1_700_000_000_123_456)
    );
    assert_eq!(field(&v, "tz"), &Value::TimestampMicros(-1));
    let mut interval = 14i32.to_le_bytes().to_vec();
    interval.extend((-3i32).to_le_bytes());
    interval.extend(4_000_001i64.to_le_bytes());
    assert_eq!(field(&v, "i1"), &Value::Fixed(16, interval.clone()));
    assert_eq!(field(&v, "i2"), &Value::Fixed(16, interval));
    assert_eq!(field(&v, "j"), &Value::String(r#"{"a":[1,2.5]}"#.into()));
    assert_eq!(field(&v, "uu"), &Value::Uuid(uuid));
    // NULLs are the null branch of their union.
    let v = read_back(&value_schema, &rows[1]);
    let Value::Record(fields) = &v else { panic!() };
    for (name, value) in fields {
        if !["id", "i2"].contains(&name.as_str()) {
            assert_eq!(value, &Value::Union(0, Box::new(Value::Null)), "{name}");
        }
    }
    // The framed upsert value and key: magic byte, id, datum.
    let message = encoder.upsert_message(&rows[0]);
    assert_eq!(message[..5], [0, 0, 0, 0, 2]);
    assert_eq!(encoder.upsert_row(&message).unwrap(), rows[0]);
    let key = encoder.keys([&row].into_iter()).unwrap().remove(0);
    let key_message = encoder.key_message(&key);
    assert_eq!(key_message[..5], [0, 0, 0, 0, 1]);
    assert_eq!(encoder.key_datum(&key_message).unwrap(), key);
    // Another schema id, or no framing, is not this sink's message.
    let mut other = message.clone();
    other[4] = 3;
    assert!(encoder.upsert_row(&other).is_err());
    assert!(encoder.upsert_row(&rows[0]).is_err());
    assert!(encoder.upsert_row(&message[..message.len() - 1]).is_err());
}

#[test]
fn debezium_messages_wrap_rows_and_unwrap_to_the_same_bytes() {
    let desc = RelationDesc {
        columns: vec![
            column("a", ScalarType::Int64, false),
            column(
                "n",
                ScalarType::Numeric {
                    precision: None,
                    scale: None,
                },
                true,
            ),
        ],
    };
    let schemas = sink_schemas(&desc, None, true, None, None).unwrap();
    let envelope = schemas.value.clone();
    let encoder = AvroEncoder::new(
        schemas,
        SchemaIds {
            key: None,
            value: 9,
        },
    )
    .unwrap();
    let rows = encoder
        .rows(
            [
                &Row::new(vec![
                    Datum::Int64(1),
                    Datum::Numeric("0.1".parse().unwrap()),
                ]),
                &Row::new(vec![Datum::Int64(2), Datum::Null]),
            ]
            .into_iter(),
        )
        .unwrap();
    for (before, after) in [
        (Some(&rows[0]), Some(&rows[1])),
        (None, Some(&rows[1])),
        (Some(&rows[0]), None),
    ] {
        let message = encoder
            .debezium_message(before.map(|b| b.as_slice()), after.map(|a| a.as_slice()))
            .unwrap();
        assert_eq!(message[..5], [0, 0, 0, 0, 9]);
        let v = read_back(&envelope, &message[5..]);
        let side = |name: &str| {
            let Value::Record(fields) = &v else { panic!() };
            fields.iter().find(|(n, _)| n == name).unwrap().1.clone()
        };
        assert_eq!(
            matches!(side("before"), Value::Union(1, _)),
            before.is_some()
        );
        assert_eq!(matches!(side("after"), Value::Union(1, _)), after.is_some());
        assert_eq!(
            encoder.debezium_rows(&message).unwrap(),
            (before.cloned(), after.cloned())
        );
    }
}

/// A value-only encoder for `desc`'s rows (schema id 1).
fn value_encoder(desc: &RelationDesc) -> AvroEncoder {
    let schemas = sink_schemas(desc, None, false, None, None).unwrap();
    AvroEncoder::new(
        schemas,
        SchemaIds {
            key: None,
            value: 1,
        },
    )
    .unwrap()
}

#[test]
fn values_a_column_cannot_hold_are_errors() {
    let desc = RelationDesc {
        columns: vec![
            column("a", ScalarType::Int32, false),
            column("b", ScalarType::Int16, true),
        ],
    };
    let encoder = value_encoder(&desc);
    let encode = |datums: Vec<Datum>| encoder.rows([&Row::new(datums)].into_iter());
    let e = encode(vec![Datum::Null, Datum::Null]).unwrap_err();
    assert!(e.contains("\"a\"") && e.contains("NULL"), "{e}");
    let e = encode(vec![Datum::Int64(1 << 40), Datum::Null]).unwrap_err();
    assert!(e.contains("\"a\""), "{e}");
    let e = encode(vec![Datum::Int32(1), Datum::String("x".into())]).unwrap_err();
    assert!(e.contains("\"b\""), "{e}");
    // Integers of another width are the same value.
    assert!(encode(vec![Datum::Int64(5), Datum::Int32(3)]).is_ok());
}

#[test]
fn numeric_nan_is_an_error_not_bytes() {
    let desc = RelationDesc {
        columns: vec![column(
            "n",
            ScalarType::Numeric {
                precision: Some(10),
                scale: Some(2),
            },
            true,
        )],
    };
    let encoder = value_encoder(&desc);
    let encode = |datums: Vec<Datum>| encoder.rows([&Row::new(datums)].into_iter());
    let e = encode(vec![Datum::NumericNaN]).unwrap_err();
    assert!(e.contains("\"n\"") && e.contains("NaN"), "{e}");
    assert!(encode(vec![Datum::Numeric("1.25".parse().unwrap())]).is_ok());
}

#[test]
fn wide_numerics_fill_the_decimal_or_are_refused() {
    let wide: crate::repr::Numeric = "123456789012345678901234567890123456789012.5"
        .parse()
        .unwrap();
    let bytes = decimal_bytes(&wide, 81, 39).unwrap();
    assert_eq!(bytes.len(), decimal_width(81));
    assert_eq!(
        BigInt::from_signed_bytes_be(&bytes).to_string(),
        format!(
            "1234567890123456789012345678901234567890125{}",
            "0".repeat(38)
        )
    );
    let n = |t: &str| t.parse::<crate::repr::Numeric>().unwrap();
    // 43 integer digits: more than decimal(81, 39) holds.
    let e = decimal_bytes(&n(&format!("1{}", "0".repeat(42))), 81, 39).unwrap_err();
    assert!(e.contains("precision"), "{e}");
    // 40 digits after the point: more than its scale, and not rounded.
    let e = decimal_bytes(&n(&format!("0.{}1", "0".repeat(39))), 81, 39).unwrap_err();
    assert!(e.contains("scale"), "{e}");
    // Trailing zeros past the scale are no digits.
    assert!(decimal_bytes(&n(&format!("1.{}", "0".repeat(45))), 81, 39).is_ok());
    // numeric(50, 10).
    let v = n("1234567890123456789012345678901234567890.0123456789");
    let bytes = decimal_bytes(&v, 50, 10).unwrap();
    assert_eq!(bytes.len(), decimal_width(50));
    assert_eq!(
        crate::storage::avro::decimal_from_bytes(&bytes, 10).unwrap(),
        v
    );
}

#[test]
fn decimal_widths_hold_their_precision() {
    assert_eq!(decimal_width(10), 5);
    assert_eq!(decimal_width(38), 16);
    assert_eq!(decimal_width(39), 17);
    assert_eq!(decimal_width(81), 34);
    let minus_one = twos_complement(&BigInt::from(-1), 3);
    assert_eq!(minus_one, [0xff, 0xff, 0xff]);
    assert_eq!(twos_complement(&BigInt::from(256), 1), [1, 0]);
}
