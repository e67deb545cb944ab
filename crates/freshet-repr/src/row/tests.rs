//! Tests of the packed row: round trips, PostgreSQL equality, a total order
//! consistent with equality and hashing, and no panic on malformed bytes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::*;
use crate::repr::Interval;

fn every_variant() -> Vec<Datum> {
    vec![
        Datum::Null,
        Datum::Bool(true),
        Datum::Bool(false),
        Datum::Int16(-3),
        Datum::Int32(i32::MIN),
        Datum::Int64(i64::MAX),
        Datum::Int64(-1),
        Datum::Int64(300),
        Datum::Int64(-70_000),
        Datum::f32(1.5),
        Datum::f64(f64::INFINITY),
        Datum::Numeric("123.4500".parse().unwrap()),
        Datum::Numeric("-123456789012345678901234567890.5".parse().unwrap()),
        Datum::NumericNaN,
        Datum::String("héllo".into()),
        Datum::String("x".repeat(300)),
        Datum::Bytes(vec![0, 255]),
        Datum::Bytes(vec![7; 256]),
        Datum::Date(-1),
        Datum::Time(3_600_000_000),
        Datum::Timestamp(1),
        Datum::TimestampTz(-1),
        Datum::Interval(Interval {
            months: 1,
            days: 2,
            micros: 3,
        }),
        Datum::Jsonb("{\"a\":1}".into()),
        Datum::Uuid(uuid::Uuid::from_u128(7)),
        Datum::Array(vec![]),
        Datum::Array(vec![Datum::Int32(1), Datum::Null, Datum::Int32(3)]),
        Datum::Array(vec![
            Datum::String("x".repeat(300)),
            Datum::String("é".into()),
        ]),
        Datum::Array(vec![Datum::Numeric("1.50".parse().unwrap()), Datum::Null]),
        Datum::Array(vec![Datum::f64(2.5)]),
        Datum::Array(vec![Datum::NumericNaN, Datum::Numeric(1.into())]),
    ]
}

fn hash_of(row: &Row) -> u64 {
    let mut h = DefaultHasher::new();
    row.hash(&mut h);
    h.finish()
}

#[test]
fn pack_round_trips_every_variant() {
    let datums = every_variant();
    let row = Row::new(datums.clone());
    assert_eq!(row.unpack(), datums);
    assert_eq!(row.len(), datums.len());
    for (i, d) in datums.iter().enumerate() {
        assert_eq!(row.get(i).as_ref(), Some(d));
    }
    assert_eq!(row.get(datums.len()), None);
    assert_eq!(Row::decode(&row.encode()).unwrap(), row);
    let bytes = bincode::serialize(&row).unwrap();
    assert_eq!(bincode::deserialize::<Row>(&bytes).unwrap(), row);
}

#[test]
fn int64_uses_the_narrowest_width() {
    for (v, len) in [(0i64, 3), (-128, 3), (128, 4), (40_000, 6), (1 << 40, 10)] {
        let row = Row::new(vec![Datum::Int64(v)]);
        assert_eq!(row.byte_len(), len, "{v}");
        assert_eq!(row.unpack(), vec![Datum::Int64(v)]);
    }
    // Small rows stay inline.
    assert!(
        !Row::new(vec![Datum::Int64(1), Datum::Int64(1 << 40)])
            .data
            .spilled()
    );
}

#[test]
fn postgres_equality_across_encodings() {
    let pairs = [
        (
            Datum::Numeric("1.0".parse().unwrap()),
            Datum::Numeric("1.00".parse().unwrap()),
        ),
        (Datum::f64(-0.0), Datum::f64(0.0)),
        (Datum::f64(f64::NAN), Datum::f64(-f64::NAN)),
        (Datum::f32(-0.0), Datum::f32(0.0)),
        (
            Datum::Interval(Interval {
                months: 1,
                days: 0,
                micros: 0,
            }),
            Datum::Interval(Interval {
                months: 0,
                days: 30,
                micros: 0,
            }),
        ),
        (
            Datum::Array(vec![
                Datum::Int32(7),
                Datum::Numeric("1.0".parse().unwrap()),
                Datum::Null,
            ]),
            Datum::Array(vec![
                Datum::Int32(7),
                Datum::Numeric("1.00".parse().unwrap()),
                Datum::Null,
            ]),
        ),
        (
            Datum::Array(vec![Datum::f64(-0.0)]),
            Datum::Array(vec![Datum::f64(0.0)]),
        ),
        // One value, one compact and one wide (a scale past 28).
        (
            Datum::Numeric("1.5".parse().unwrap()),
            Datum::Numeric(format!("1.5{}", "0".repeat(40)).parse().unwrap()),
        ),
        (
            Datum::Array(vec![Datum::Numeric("-2".parse().unwrap())]),
            Datum::Array(vec![Datum::Numeric(
                format!("-2.{}", "0".repeat(30)).parse().unwrap(),
            )]),
        ),
    ];
    for (a, b) in pairs {
        let (ra, rb) = (
            Row::new(vec![Datum::Int64(1), a.clone(), Datum::String("z".into())]),
            Row::new(vec![Datum::Int64(1), b.clone(), Datum::String("z".into())]),
        );
        assert_ne!(ra.encode(), rb.encode(), "{a:?} and {b:?} keep their bits");
        // As data, rows that print differently are different rows.
        assert_ne!(ra, rb, "{a:?} and {b:?} as data");
        let (ka, kb) = (ra.clone().into_key(), rb.clone().into_key());
        assert_eq!(ka, kb, "{a:?} = {b:?}");
        assert_eq!(ka.cmp(&kb), Ordering::Equal);
        assert_eq!(hash_of(&ka), hash_of(&kb));
        assert_ne!(ka, ra, "a key is not data");
        assert_eq!(ka.clone().into_data(), ra);
        assert_eq!(RowPacker::from_row(&ka).finish(), ra);
        assert_eq!(ka.concat(&Row::empty()), ra);
        assert_eq!(Row::decode(&ka.encode()), Ok(ka.clone()));
        // What the user wrote comes back.
        assert_eq!(ka.get(1), Some(a));
    }
    let one = Row::new(vec![Datum::Numeric("1".parse().unwrap())]).into_key();
    let two = Row::new(vec![Datum::Numeric("2.0".parse().unwrap())]).into_key();
    assert!(one < two);
    // Rows without semantic datums are the same as keys and as data.
    let plain = Row::new(vec![Datum::Int32(1), Datum::String("a".into())]);
    assert_eq!(plain.clone().into_key().encode(), plain.encode());
}

#[test]
fn numeric_nan_equals_itself_and_sorts_above_every_numeric() {
    let nan = Row::new(vec![Datum::NumericNaN, Datum::Int32(1)]).into_key();
    let big: Numeric = format!("9{}", "0".repeat(999)).parse().unwrap();
    let max = Row::new(vec![Datum::Numeric(big.clone()), Datum::Int32(2)]).into_key();
    let min = Row::new(vec![Datum::Numeric(-big.clone()), Datum::Int32(0)]).into_key();
    let one = Row::new(vec![Datum::Numeric(Numeric::ONE), Datum::Int32(1)]).into_key();
    assert!(nan > max && max > one && one > min);
    assert!(one < nan && min < nan);
    assert_eq!(
        nan,
        Row::new(vec![Datum::NumericNaN, Datum::Int32(1)]).into_key()
    );
    assert!(Datum::NumericNaN > Datum::Numeric(big.clone()));
    let arrays =
        |d: Datum| Row::new(vec![Datum::Array(vec![Datum::Numeric(1.into()), d])]).into_key();
    assert!(arrays(Datum::NumericNaN) > arrays(Datum::Numeric(big)));
    assert_eq!(Row::decode(&nan.encode()), Ok(nan));
}

/// Many small rows, plain and semantic, mixed.
fn sample_rows() -> Vec<Row> {
    let values = [
        Datum::Null,
        Datum::Int64(0),
        Datum::Int64(1),
        Datum::Int64(-1),
        Datum::Int64(1000),
        Datum::String(String::new()),
        Datum::String("a".into()),
        Datum::String("ab".into()),
        Datum::f64(0.0),
        Datum::f64(-0.0),
        Datum::f64(2.5),
        Datum::Numeric("1.0".parse().unwrap()),
        Datum::Numeric("1".parse().unwrap()),
        Datum::Numeric("-3.5".parse().unwrap()),
        Datum::NumericNaN,
        Datum::Array(vec![]),
        Datum::Array(vec![Datum::Null]),
        Datum::Array(vec![Datum::Int64(1)]),
        Datum::Array(vec![Datum::Int64(1), Datum::Int64(0)]),
        Datum::Array(vec![Datum::Numeric("1.0".parse().unwrap())]),
        Datum::Array(vec![Datum::Numeric("1".parse().unwrap())]),
        Datum::Array(vec![Datum::Numeric("1".parse().unwrap()), Datum::Null]),
        Datum::Array(vec![Datum::f64(-0.0), Datum::f64(2.5)]),
        Datum::Array(vec![Datum::NumericNaN]),
    ];
    let mut rows = vec![Row::empty()];
    for a in &values {
        rows.push(Row::new(vec![a.clone()]));
        for b in &values {
            rows.push(Row::new(vec![a.clone(), b.clone()]));
        }
    }
    // The same rows as keys, among the data rows.
    let keys: Vec<Row> = rows.iter().map(|r| r.clone().into_key()).collect();
    rows.extend(keys);
    rows
}

#[test]
fn order_is_total_and_consistent_with_equality_and_hash() {
    let rows = sample_rows();
    for a in &rows {
        for b in &rows {
            let ab = a.cmp(b);
            assert_eq!(ab, b.cmp(a).reverse(), "antisymmetry {a:?} {b:?}");
            assert_eq!(ab == Ordering::Equal, a == b);
            if a == b {
                assert_eq!(hash_of(a), hash_of(b), "{a:?} {b:?}");
            }
        }
    }
    // Transitivity: sorting then checking every pair in order.
    let mut sorted = rows.clone();
    sorted.sort();
    for i in 0..sorted.len() {
        for j in i + 1..sorted.len() {
            assert_ne!(sorted[i].cmp(&sorted[j]), Ordering::Greater);
        }
    }
}

#[test]
fn project_and_concat_match_their_unpacked_meaning() {
    let datums = every_variant();
    let row = Row::new(datums.clone());
    let columns = [11, 0, 12, 12, 22];
    let projected = row.project(&columns);
    let expected: Vec<Datum> = columns.iter().map(|c| datums[*c].clone()).collect();
    assert_eq!(projected.unpack(), expected);
    assert_eq!(projected, Row::new(expected));
    let plain = row.project(&[0, 4]);
    assert_eq!(plain.data[0], 0, "no semantic datum, no flag");
    let both = plain.concat(&projected);
    let mut joined = plain.unpack();
    joined.extend(projected.unpack());
    assert_eq!(both, Row::new(joined));
    assert_eq!(both.data[0], SEMANTIC);
    let mut packer = RowPacker::new();
    packer.push_from(&row, 12);
    packer.push(&Datum::Int32(5));
    assert_eq!(
        packer.finish().unpack(),
        vec![datums[12].clone(), Datum::Int32(5)]
    );
}

#[test]
fn numerics_keep_the_compact_encoding_and_widen_only_when_needed() {
    let n = |t: &str| Datum::Numeric(t.parse().unwrap());
    // The compact encoding is the one older builds wrote, byte for byte.
    let small = Row::new(vec![n("1.50")]).encode();
    assert_eq!(small[1], tag::NUMERIC);
    assert_eq!(small.len(), 2 + Numeric::BYTES);
    let mut old = vec![SEMANTIC, tag::NUMERIC];
    old.extend_from_slice(&rust_decimal::Decimal::new(150, 2).serialize());
    assert_eq!(small, old);
    assert_eq!(Row::decode(&old).unwrap().unpack(), vec![n("1.50")]);
    for text in [
        "79228162514264337593543950336",
        "-1234567890123456789012345678901234567890.0123456789",
        "0.00000000000000000000000000000000000001",
    ] {
        let row = Row::new(vec![n(text), Datum::Int32(7)]);
        let bytes = row.encode();
        assert_eq!(bytes[1], tag::NUMERIC_WIDE, "{text}");
        let back = Row::decode(&bytes).unwrap();
        assert_eq!(back.encode(), bytes, "{text}: one encoding");
        assert_eq!(back.unpack(), vec![n(text), Datum::Int32(7)]);
        assert_eq!(
            back.get(0).map(|d| format!("{d:?}")),
            Some(format!("{:?}", n(text)))
        );
    }
    // Keys: by value across the two tags, in order, with equal hashes.
    let key = |d: Datum| Row::new(vec![d, Datum::Int32(1)]).into_key();
    let compact = key(n("-2"));
    let wide = key(n(&format!("-2.{}", "0".repeat(30))));
    assert_eq!(compact, wide);
    assert_eq!(hash_of(&compact), hash_of(&wide));
    let mut sorted = [
        key(n("79228162514264337593543950336")),
        key(Datum::NumericNaN),
        key(n("0.5")),
        key(n("-79228162514264337593543950336")),
        key(n(&format!("0.5{}", "0".repeat(30)))),
        key(n("79228162514264337593543950335")),
    ];
    sorted.sort();
    let printed: Vec<String> = sorted
        .iter()
        .map(|r| match r.get(0) {
            Some(Datum::Numeric(v)) => v.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        printed[..],
        [
            "-79228162514264337593543950336".to_string(),
            "0.5".into(),
            format!("0.5{}", "0".repeat(30)),
            "79228162514264337593543950335".into(),
            "79228162514264337593543950336".into(),
            "Some(NumericNaN)".into(),
        ]
    );
    assert_eq!(sorted[1], sorted[2]);
    // A malformed wide payload is refused: a compact value in the wide
    // layout, a trailing zero byte, a truncated length.
    let mut compact_as_wide = vec![SEMANTIC, tag::NUMERIC_WIDE, 4, 0, 0, 0, 0, 0, 0, 1];
    assert!(Row::decode(&compact_as_wide).is_err());
    compact_as_wide[9] = 0;
    assert!(Row::decode(&compact_as_wide).is_err());
    let good = Row::new(vec![n("79228162514264337593543950336")]).encode();
    assert!(Row::decode(&good).is_ok());
    assert!(Row::decode(&good[..good.len() - 1]).is_err());
    let mut trailing = good.clone();
    trailing.push(0);
    trailing[2] += 1;
    assert!(Row::decode(&trailing).is_err());
}

#[test]
fn decode_refuses_malformed_bytes_without_panicking() {
    let good = Row::new(every_variant()).encode();
    assert!(Row::decode(&[]).is_err());
    assert!(Row::decode(&[2]).is_err(), "unknown flag");
    assert!(Row::decode(&[0, 99]).is_err(), "unknown tag");
    assert!(
        Row::decode(&[0, tag::STRING_SHORT, 2, 0xff, 0xfe]).is_err(),
        "not UTF-8"
    );
    assert!(
        Row::decode(&[0, tag::FLOAT64, 0, 0, 0, 0, 0, 0, 0, 0]).is_err(),
        "flag missing"
    );
    // Arrays: complete, not nested, tagged semantic exactly when an
    // element is.
    let ints = Row::new(vec![Datum::Array(vec![Datum::Int32(1)])]).encode();
    assert_eq!(ints[1], tag::ARRAY);
    assert!(Row::decode(&ints).is_ok());
    assert!(Row::decode(&ints[..ints.len() - 1]).is_err(), "truncated");
    let mut wrong_tag = ints.clone();
    wrong_tag[1] = tag::ARRAY_SEMANTIC;
    wrong_tag[0] = SEMANTIC;
    assert!(
        Row::decode(&wrong_tag).is_err(),
        "semantic tag, plain elements"
    );
    let floats = Row::new(vec![Datum::Array(vec![Datum::f64(1.0)])]).encode();
    assert_eq!(floats[..2], [SEMANTIC, tag::ARRAY_SEMANTIC]);
    let mut plain_tag = floats.clone();
    plain_tag[1] = tag::ARRAY;
    assert!(Row::decode(&plain_tag).is_err(), "plain tag, float element");
    let nested = [&[0, tag::ARRAY, 6, 0, 0, 0][..], &ints[1..]].concat();
    assert!(Row::decode(&nested).is_err(), "nested array");
    assert!(
        Row::decode(&[0, tag::ARRAY, 4, 0, 0, 0, tag::STRING_SHORT, 2, 0xff, 0xfe]).is_err(),
        "element not UTF-8"
    );
    assert!(
        Row::decode(&[0, tag::ARRAY, 0xff, 0xff, 0xff, 0xff]).is_err(),
        "length beyond the row"
    );
    assert!(
        Row::decode(&[0, tag::ARRAY, 1, 0, 0, 0, 99]).is_err(),
        "unknown element tag"
    );
    // Every truncation and single-byte corruption either decodes to a row
    // whose values can be read, or is refused.
    for cut in 0..good.len() {
        if let Ok(row) = Row::decode(&good[..cut]) {
            let _ = row.unpack();
        }
    }
    for i in 0..good.len() {
        for v in [0u8, 1, 5, 12, 13, 0x7f, 0xff] {
            let mut bytes = good.clone();
            bytes[i] = v;
            if let Ok(row) = Row::decode(&bytes) {
                let _ = (row.unpack(), hash_of(&row), row.cmp(&Row::empty()));
            }
        }
    }
}
