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
        SourceChange::Append(Err(_), 1)
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
