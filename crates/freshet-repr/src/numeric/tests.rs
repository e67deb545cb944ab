//! Unit tests of [`Numeric`]: the two forms, exact arithmetic, rounding
//! and the row format's encodings.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::*;

fn n(text: &str) -> Numeric {
    text.parse().expect("a numeric")
}

fn hash(v: &Numeric) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// A wide value of `digits` nines (scale 0).
fn nines(digits: usize) -> Numeric {
    n(&"9".repeat(digits))
}

#[test]
fn compact_bytes_round_trip_and_scale_check() {
    for text in [
        "0",
        "-0.00",
        "1.50",
        "-12345.678",
        "79228162514264337593543950335",
    ] {
        let v = n(text);
        assert!(v.is_compact(), "{text}");
        let bytes = v.to_bytes().expect("compact");
        assert!(Numeric::bytes_are_valid(&bytes));
        let back = Numeric::from_bytes(bytes);
        assert_eq!(back, v);
        assert_eq!(back.scale(), v.scale(), "{text} keeps its scale");
    }
    let mut bytes = n("1.5").to_bytes().expect("compact");
    bytes[2] = 29;
    assert!(!Numeric::bytes_are_valid(&bytes));
    assert!(!Numeric::bytes_are_valid(&bytes[..2]));
}

#[test]
fn the_form_follows_the_value() {
    assert!(n("79228162514264337593543950335").is_compact());
    assert!(!n("79228162514264337593543950336").is_compact());
    assert!(n("0.0000000000000000000000000001").is_compact());
    assert!(!n("0.00000000000000000000000000010").is_compact());
    // A wide result that fits again is compact again.
    let back = n("79228162514264337593543950336")
        .checked_sub(&Numeric::ONE)
        .expect("fits");
    assert!(back.is_compact());
    assert_eq!(back.to_string(), "79228162514264337593543950335");
    assert!(
        n("1.500000000000000000000000000000")
            .normalize()
            .is_compact()
    );
}

#[test]
fn wide_bytes_round_trip_and_are_canonical() {
    for text in [
        "79228162514264337593543950336",
        "-79228162514264337593543950336",
        "1.50000000000000000000000000000000000000",
        "-0.00000000000000000000000000000000000001",
        "123456789012345678901234567890123456789012345678901234567890.0123456789",
    ] {
        let v = n(text);
        let NumericEncoding::Wide(bytes) = v.encoding() else {
            panic!("{text} is wide");
        };
        let back = Numeric::from_wide_bytes(&bytes).expect("valid");
        assert_eq!(back.to_string(), text);
    }
    // A compact value's bytes in the wide layout are refused: one
    // encoding per value.
    let NumericEncoding::Wide(mut bytes) = n("79228162514264337593543950336").encoding() else {
        panic!("wide");
    };
    assert!(Numeric::from_wide_bytes(&bytes[..3]).is_none());
    bytes.push(0);
    assert!(
        Numeric::from_wide_bytes(&bytes).is_none(),
        "trailing zero byte"
    );
    assert!(
        Numeric::from_wide_bytes(&[0, 0, 0, 1]).is_none(),
        "compact value"
    );
    assert!(
        Numeric::from_wide_bytes(&[0, 0, 2, 1]).is_none(),
        "sign byte"
    );
    assert!(
        Numeric::from_wide_bytes(&[0xe9, 0x03, 0, 1]).is_none(),
        "scale 1001"
    );
}

#[test]
fn equal_values_compare_and_hash_alike_across_forms() {
    let small = n("1.5");
    let wide = n("1.5000000000000000000000000000000000000000");
    assert!(small.is_compact() && !wide.is_compact());
    assert_eq!(small, wide);
    assert_eq!(hash(&small), hash(&wide));
    assert_eq!(hash(&n("-0.00")), hash(&Numeric::ZERO));
    let big = n("123456789012345678901234567890");
    assert!(big > n("79228162514264337593543950335"));
    assert!(-big.clone() < n("-79228162514264337593543950335"));
    assert_eq!(big, n("123456789012345678901234567890.000"));
    assert_eq!(hash(&big), hash(&n("123456789012345678901234567890.000")));
    assert_ne!(hash(&big), hash(&n("123456789012345678901234567891")));
    assert!(n("1e-40") > Numeric::ZERO && n("-1e-40") < n("-0.00"));
}

#[test]
fn arithmetic_is_exact_or_none_at_the_limits() {
    let max = n(&format!("1{}", "0".repeat(1000)));
    assert_eq!(max.integer_digits(), 1001);
    assert!(max.clone().checked_add(&n("0.1")).is_none());
    assert!(max.clone().checked_sub(&Numeric::ONE).is_some());
    assert!(nines(1000).checked_add(&Numeric::ONE).is_some());
    assert!(nines(1000).checked_add(&n("2")).is_none());
    assert!(nines(600).checked_mul(&nines(400)).is_some());
    assert!(nines(600).checked_mul(&nines(401)).is_none());
    let tiny = n(&format!("0.{}1", "0".repeat(999)));
    assert_eq!(tiny.scale(), 1000);
    assert!(tiny.clone().checked_mul(&n("0.1")).is_none());
    assert!("0.1e-1000".parse::<Numeric>().is_err());
    // Exact where the compact form would round.
    assert_eq!(
        n("1234567890123456789012345678.9")
            .checked_add(&n("0.01"))
            .map(|s| s.to_string()),
        Some("1234567890123456789012345678.91".into())
    );
    assert_eq!(
        n("0.000000000000001")
            .checked_mul(&n("0.00000000000001"))
            .map(|s| s.to_string()),
        Some("0.00000000000000000000000000001".into())
    );
    assert_eq!(
        n("12345678901234567890123456789")
            .checked_mul(&Numeric::TEN)
            .map(|s| s.to_string()),
        Some("123456789012345678901234567890".into())
    );
    assert_eq!(n("0.00").checked_add(&n("1.5")), Some(n("1.5")));
}

#[test]
fn division_rounds_half_away_to_the_scale() {
    let q = |a: &str, b: &str, s| n(a).checked_div_to_scale(&n(b), s).map(|q| q.to_string());
    assert_eq!(q("1", "3", 20).as_deref(), Some("0.33333333333333333333"));
    assert_eq!(q("2", "3", 2).as_deref(), Some("0.67"));
    assert_eq!(q("-2", "3", 2).as_deref(), Some("-0.67"));
    assert_eq!(q("1", "8", 2).as_deref(), Some("0.13"));
    assert_eq!(q("-1", "8", 2).as_deref(), Some("-0.13"));
    assert_eq!(q("1", "0", 2), None);
    assert_eq!(
        q("123456789012345678901234567890123456789", "7", 3).as_deref(),
        Some("17636684144620811271604938270017636684.143")
    );
    assert_eq!(
        q("1", "3", 40).as_deref(),
        Some("0.3333333333333333333333333333333333333333")
    );
    assert_eq!(
        n("-7.5")
            .checked_div_trunc(&n("2"))
            .map(|q| q.to_string())
            .as_deref(),
        Some("-3")
    );
}

#[test]
fn rounding_rules() {
    let r = |text: &str, rule| n(text).round_dp_with(0, rule).to_string();
    assert_eq!(r("2.5", NumericRounding::HalfAwayFromZero), "3");
    assert_eq!(r("-2.5", NumericRounding::HalfAwayFromZero), "-3");
    assert_eq!(r("2.5", NumericRounding::HalfEven), "2");
    assert_eq!(r("-2.7", NumericRounding::ToZero), "-2");
    assert_eq!(r("-2.1", NumericRounding::Down), "-3");
    assert_eq!(r("2.1", NumericRounding::Up), "3");
    assert_eq!(n("-0.5").signum(), Numeric::NEGATIVE_ONE);
    assert_eq!(n("0.000").signum(), Numeric::ZERO);
    let w = "123456789012345678901234567890.5";
    assert_eq!(
        r(w, NumericRounding::HalfAwayFromZero),
        "123456789012345678901234567891"
    );
    assert_eq!(
        r(w, NumericRounding::HalfEven),
        "123456789012345678901234567890"
    );
    assert_eq!(
        r(&format!("-{w}"), NumericRounding::Down),
        "-123456789012345678901234567891"
    );
    assert_eq!(
        r(&format!("-{w}"), NumericRounding::ToZero),
        "-123456789012345678901234567890"
    );
    // Rounding at the limit stays within it.
    let at_limit = format!("{}.5", "9".repeat(1000));
    assert_eq!(
        r(&at_limit, NumericRounding::HalfAwayFromZero),
        format!("1{}", "0".repeat(1000))
    );
    let mut padded = n("1.5");
    padded.rescale(40);
    assert_eq!(padded.to_string(), format!("1.5{}", "0".repeat(39)));
    padded.rescale(1);
    assert!(padded.is_compact());
    assert_eq!(
        n("-123456789012345678901234567890.75").fract().to_string(),
        "-0.75"
    );
}

#[test]
fn conversions() {
    let big = n("123456789012345678901234567890.5");
    assert_eq!(big.to_i64(), None);
    assert_eq!(big.to_f64(), Some(1.2345678901234568e29));
    assert_eq!(n("1.90000000000000000000000000000000").to_i64(), Some(1));
    assert_eq!(
        Numeric::try_from_i128_with_scale(1, Numeric::MAX_SCALE + 1),
        None
    );
    assert_eq!(
        Numeric::try_from_i128_with_scale(Numeric::MAX_MANTISSA as i128 + 1, 0)
            .map(|v| v.is_compact()),
        Some(false)
    );
    assert_eq!(n("1.5").with_scale(Numeric::MAX_SCALE + 1), None);
    assert_eq!(n("15").with_scale(1), Some(n("1.5")));
    let json = serde_json::to_string(&big).expect("serializes");
    assert_eq!(serde_json::from_str::<Numeric>(&json).expect("reads"), big);
}
