//! Unit tests of the plain formats, metadata columns and envelopes.

use super::*;
use crate::sql::parse::{FreshetStatement, parse_statements};

fn decoder(sql: &str) -> SourceDecoder {
    match parse_statements(sql).unwrap().remove(0) {
        FreshetStatement::CreateKafkaSource(s) => SourceDecoder::new(&s).unwrap(),
        other => panic!("{other:?}"),
    }
}

impl SourceDecoder {
    fn decode_now(&self, record: &KafkaRecord) -> SourceChange {
        self.decode(record).expect("no stall")
    }
}

fn rec<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> KafkaRecord<'a> {
    KafkaRecord {
        key,
        value,
        partition: 2,
        offset: 7,
        timestamp: Some(1_700_000_000_123),
        headers: &[],
    }
}

#[test]
fn json_with_metadata() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON \
         INCLUDE PARTITION, OFFSET AS o, TIMESTAMP AS ts",
    );
    let names: Vec<&str> = d.desc().columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["data", "partition", "o", "ts"]);
    match d.decode_now(&rec(None, Some(br#"{"b": 1, "a": [1.50]}"#))) {
        SourceChange::Append(Ok(row), 1) => assert_eq!(
            row.unpack(),
            vec![
                Datum::Jsonb(r#"{"a": [1.50], "b": 1}"#.into()),
                Datum::Int32(2),
                Datum::Int64(7),
                Datum::Timestamp(1_700_000_000_123_000),
            ]
        ),
        other => panic!("{other:?}"),
    }
    match d.decode_now(&rec(None, Some(b"{not json"))) {
        SourceChange::Append(Err(EvalError::Decode(m)), 1) => {
            assert!(m.contains("partition 2 offset 7"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

/// A source whose row is its JSON value alone writes the canonical text
/// straight into the row; the row, and the errors of values the fast
/// canonicalizer leaves to the full parser, are those of the general path
/// (`Row::new` of the `jsonb` datum).
#[test]
fn json_value_alone() {
    let d = decoder("CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON");
    let values: [&[u8]; 10] = [
        br#"{"b": 1, "a": [1, 2], "user_id": 17, "amount": -3}"#,
        br#"  {"k":"v","k":"w"}  "#,
        br#"{"esc": "a\"b", "f": 1.50, "e": 1e2}"#,
        br#""a string""#,
        b"null",
        br#"{"long": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
        b"{not json",
        b"[1, 2",
        br#"{"nul": "\u0000"}"#,
        b"\xff\xfe",
    ];
    for value in values {
        let text = std::str::from_utf8(value);
        let want = match text {
            Ok(t) => crate::repr::strconv::canonical_jsonb(t)
                .map(|j| Row::new(vec![Datum::Jsonb(j)]))
                .map_err(|e| e.message),
            Err(_) => Err("not UTF-8".into()),
        };
        match (d.decode_now(&rec(None, Some(value))), want) {
            (SourceChange::Append(Ok(row), 1), Ok(want)) => assert_eq!(row, want, "{text:?}"),
            (SourceChange::Append(Err(EvalError::Decode(m)), 1), Err(e)) => {
                assert!(m.contains("partition 2 offset 7"), "{m}");
                assert!(m.contains(&e) || e == "not UTF-8", "{m} / {e}");
            }
            (got, want) => panic!("{text:?}: {got:?}, expected {want:?}"),
        }
    }
    // A tombstone is a row of NULL, as before.
    match d.decode_now(&rec(None, None)) {
        SourceChange::Append(Ok(row), 1) => assert_eq!(row.unpack(), vec![Datum::Null]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn upsert_text_key() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
         KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT",
    );
    let names: Vec<&str> = d.desc().columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["key", "data"]);
    let SourceChange::Upsert { key: k1, value } = d.decode_now(&rec(Some(b"a"), Some(b"1"))) else {
        panic!()
    };
    assert_eq!(
        value,
        Some(Ok(Row::new(vec![
            Datum::String("a".into()),
            Datum::Jsonb("1".into())
        ])))
    );
    let SourceChange::Upsert { key: k2, value } = d.decode_now(&rec(Some(b"a"), None)) else {
        panic!()
    };
    assert_eq!((k1, value), (k2, None));
    assert!(matches!(
        d.decode_now(&rec(None, Some(b"1"))),
        SourceChange::Upsert {
            value: Some(Err(_)),
            ..
        }
    ));
}

#[test]
fn csv_columns() {
    let d =
        decoder("CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT CSV WITH 2 COLUMNS");
    match d.decode_now(&rec(None, Some(b"a,\"b,c\""))) {
        SourceChange::Append(Ok(row), 1) => assert_eq!(
            row.unpack(),
            vec![Datum::String("a".into()), Datum::String("b,c".into())]
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        d.decode_now(&rec(None, Some(b"a,b,c"))),
        SourceChange::Append(Err(_), 1)
    ));
}

#[test]
fn csv_header_is_checked_and_not_ingested() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT CSV WITH HEADER (name, qty)",
    );
    let first = |value: &[u8]| {
        d.decode_in_partition(&rec(None, Some(value)), true)
            .unwrap()
            .0
    };
    assert!(matches!(first(b"name,qty"), SourceChange::Nothing));
    let SourceChange::Append(Err(e), 1) = first(b"name,quantity") else {
        panic!("a mismatched header is an error")
    };
    assert_eq!(
        e.to_string(),
        "Decode error: CSV: header at partition 2 offset 7 does not match the source's \
         columns: column 2 is \"quantity\", expected \"qty\""
    );
    assert!(matches!(first(b"name"), SourceChange::Append(Err(_), 1)));
    // A later record is data, even when it looks like the header.
    match d
        .decode_in_partition(&rec(None, Some(b"name,qty")), false)
        .unwrap()
        .0
    {
        SourceChange::Append(Ok(row), 1) => assert_eq!(
            row.unpack(),
            vec![Datum::String("name".into()), Datum::String("qty".into())]
        ),
        other => panic!("{other:?}"),
    }
    // Without HEADER, the first record is data.
    let n =
        decoder("CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT CSV WITH 2 COLUMNS");
    assert!(matches!(
        n.decode_in_partition(&rec(None, Some(b"a,b")), true)
            .unwrap()
            .0,
        SourceChange::Append(Ok(_), 1)
    ));
}

#[test]
fn debezium_json() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
         KEY FORMAT JSON VALUE FORMAT JSON ENVELOPE DEBEZIUM",
    );
    let key: &[u8] = br#"{"id": 1}"#;
    let create = br#"{"schema": {"type": "struct"}, "payload": {"before": null, "after": {"id": 1, "x": "a"}, "source": {"connector": "postgresql"}, "op": "c", "ts_ms": 1}}"#;
    match d.decode_now(&rec(Some(key), Some(create))) {
        SourceChange::Upsert {
            value: Some(Ok(row)),
            ..
        } => assert_eq!(
            row.unpack(),
            vec![Datum::Jsonb(r#"{"x": "a", "id": 1}"#.into())]
        ),
        other => panic!("{other:?}"),
    }
    let delete =
        br#"{"before": {"id": 1, "x": "a"}, "after": null, "source": {}, "op": "d", "ts_ms": 2}"#;
    assert!(matches!(
        d.decode_now(&rec(Some(key), Some(delete))),
        SourceChange::Upsert { value: None, .. }
    ));
    assert!(matches!(
        d.decode_now(&rec(Some(key), None)),
        SourceChange::Nothing
    ));
    let no_after = br#"{"before": null, "after": null, "op": "u"}"#;
    assert!(matches!(
        d.decode_now(&rec(Some(key), Some(no_after))),
        SourceChange::Upsert {
            value: Some(Err(_)),
            ..
        }
    ));
}

fn headers_rec<'a>(
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [KafkaHeader<'a>],
) -> KafkaRecord<'a> {
    KafkaRecord {
        headers,
        ..rec(key, value)
    }
}

fn header<'a>(key: &'a str, value: Option<&'a [u8]>) -> KafkaHeader<'a> {
    KafkaHeader {
        key: Some(key),
        value,
    }
}

#[test]
fn header_columns_take_the_last_value() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT TEXT \
         INCLUDE HEADER 'client_id' AS client_id, OFFSET, HEADER 'raw' AS raw BYTES",
    );
    assert!(d.reads_headers());
    let columns: Vec<(&str, ScalarType, bool)> = d
        .desc()
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.typ.clone(), c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("text", ScalarType::Text, true),
            ("client_id", ScalarType::Text, true),
            ("offset", ScalarType::Int64, false),
            ("raw", ScalarType::Bytea, true),
        ]
    );
    let row = |headers: &[KafkaHeader]| match d.decode_now(&headers_rec(None, Some(b"v"), headers))
    {
        SourceChange::Append(Ok(row), 1) => row.unpack(),
        other => panic!("{other:?}"),
    };
    let text = |s: &str| Datum::String(s.into());
    // The last of repeated keys wins; keys compare exactly; `BYTES` keeps
    // bytes that are not UTF-8.
    assert_eq!(
        row(&[
            header("client_id", Some(b"1")),
            header("raw", Some(b"\xff\x00")),
            header("Client_Id", Some(b"other")),
            header("client_id", Some(b"2")),
        ]),
        vec![
            text("v"),
            text("2"),
            Datum::Int64(7),
            Datum::Bytes(vec![0xff, 0]),
        ]
    );
    // Missing headers, a null value, and no headers at all are NULL.
    assert_eq!(
        row(&[header("client_id", None), header("other", Some(b"x"))]),
        vec![text("v"), Datum::Null, Datum::Int64(7), Datum::Null]
    );
    assert_eq!(
        row(&[]),
        vec![text("v"), Datum::Null, Datum::Int64(7), Datum::Null]
    );
    // A null value after a value is the last value.
    assert_eq!(
        row(&[header("raw", Some(b"x")), header("raw", None)])[3],
        Datum::Null
    );
}

#[test]
fn header_that_is_not_utf8_is_a_decode_error() {
    let bad = [header("client_id", Some(b"\xff"))];
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT TEXT \
         INCLUDE HEADER 'client_id' AS client_id",
    );
    match d.decode_now(&headers_rec(None, Some(b"v"), &bad)) {
        SourceChange::Append(Err(EvalError::Decode(m)), 1) => assert!(
            m.contains("header \"client_id\" at partition 2 offset 7 is not valid UTF-8"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // Upsert: the error is the key's value, also with inline errors
    // (which are for the value's decoding errors).
    for envelope in [
        "ENVELOPE UPSERT",
        "ENVELOPE UPSERT (VALUE DECODING ERRORS = (INLINE))",
    ] {
        let d = decoder(&format!(
            "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
             KEY FORMAT TEXT VALUE FORMAT TEXT INCLUDE HEADER 'client_id' AS c {envelope}"
        ));
        match d.decode_now(&headers_rec(Some(b"k"), Some(b"v"), &bad)) {
            SourceChange::Upsert {
                value: Some(Err(EvalError::Decode(m))),
                ..
            } => assert!(m.contains("not valid UTF-8"), "{m}"),
            other => panic!("{envelope}: {other:?}"),
        }
        let good = [header("client_id", Some(b"42"))];
        match d.decode_now(&headers_rec(Some(b"k"), Some(b"v"), &good)) {
            SourceChange::Upsert {
                value: Some(Ok(row)),
                ..
            } => assert_eq!(row.unpack()[2], Datum::String("42".into())),
            other => panic!("{envelope}: {other:?}"),
        }
    }
}

#[test]
fn header_in_debezium_rows() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
         KEY FORMAT JSON VALUE FORMAT JSON INCLUDE HEADER 'h' AS h ENVELOPE DEBEZIUM",
    );
    let create = br#"{"before": null, "after": {"id": 1}, "op": "c"}"#;
    let headers = [header("h", Some(b"x"))];
    match d.decode_now(&headers_rec(Some(br#"{"id": 1}"#), Some(create), &headers)) {
        SourceChange::Upsert {
            value: Some(Ok(row)),
            ..
        } => assert_eq!(
            row.unpack(),
            vec![
                Datum::Jsonb(r#"{"id": 1}"#.into()),
                Datum::String("x".into())
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn all_headers_are_a_jsonb_array_in_order() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT TEXT \
         INCLUDE HEADERS, OFFSET",
    );
    assert!(d.reads_headers());
    let columns: Vec<(&str, ScalarType, bool)> = d
        .desc()
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.typ.clone(), c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("text", ScalarType::Text, true),
            ("headers", ScalarType::Jsonb, false),
            ("offset", ScalarType::Int64, false),
        ]
    );
    let renamed = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT TEXT INCLUDE HEADERS AS h",
    );
    assert_eq!(renamed.desc().columns[1].name, "h");
    let decode = |headers: &[KafkaHeader]| d.decode_now(&headers_rec(None, Some(b"v"), headers));
    let row = |headers: &[KafkaHeader]| match decode(headers) {
        SourceChange::Append(Ok(row), 1) => row.unpack(),
        other => panic!("{other:?}"),
    };
    let jsonb = |s: &str| Datum::Jsonb(s.into());
    assert_eq!(
        row(&[]),
        vec![Datum::String("v".into()), jsonb("[]"), Datum::Int64(7)]
    );
    // Order, duplicate keys, null values, bytes that are not UTF-8, and keys
    // that JSON must escape all survive.
    let all = row(&[
        header("b", Some(b"2")),
        header("a", Some(b"\xff\x00")),
        header("b", None),
        header("q\"k", Some(b"")),
    ]);
    let expected = jsonb(
        r#"[{"key": "b", "value": "32"}, {"key": "a", "value": "ff00"}, {"key": "b", "value": null}, {"key": "q\"k", "value": ""}]"#,
    );
    assert_eq!(all[1], expected);
    // A header whose key is not UTF-8 is a decode error, not a lost header.
    match decode(&[
        header("a", Some(b"1")),
        KafkaHeader {
            key: None,
            value: None,
        },
    ]) {
        SourceChange::Append(Err(EvalError::Decode(m)), 1) => {
            assert!(m.contains("header 2 at partition 2 offset 7"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // Sources without header columns do not ask the reader for headers.
    assert!(
        !decoder("CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') FORMAT JSON").reads_headers()
    );
}

#[test]
fn null_key_in_upsert_is_a_retractable_error() {
    let d = decoder(
        "CREATE SOURCE s FROM KAFKA CONNECTION k (TOPIC 't') \
         KEY FORMAT TEXT VALUE FORMAT TEXT ENVELOPE UPSERT",
    );
    let null_key = match d.decode_now(&rec(None, Some(b"v"))) {
        SourceChange::Upsert {
            key,
            value: Some(Err(EvalError::Decode(m))),
        } => {
            assert!(
                m.contains("NULL key at partition 2 offset 7") && m.contains("to retract"),
                "{m}"
            );
            key
        }
        other => panic!("{other:?}"),
    };
    // A NULL key and a NULL value deletes the error.
    match d.decode_now(&rec(None, None)) {
        SourceChange::Upsert { key, value: None } => assert_eq!(key, null_key),
        other => panic!("{other:?}"),
    }
    // No real key shares the NULL key's slot: not an empty one, not one
    // whose bytes are those of the slot.
    for bytes in [&b""[..], &null_key[..]] {
        match d.decode_now(&rec(Some(bytes), Some(b"v"))) {
            SourceChange::Upsert {
                key,
                value: Some(Ok(_)),
            } => assert_ne!(key, null_key),
            other => panic!("{other:?}"),
        }
    }
}
