use super::*;
use crate::repr::strconv::canonical_jsonb_full;

/// The fast path agrees with the full parser wherever it answers.
fn agrees(text: &str) -> bool {
    let fast = canonical_fast(text);
    let full = canonical_jsonb_full(text);
    if let Some(out) = &fast {
        assert_eq!(
            Ok(out),
            full.as_ref().map_err(|e| &e.message),
            "input {text:?}"
        );
    }
    fast.is_some()
}

#[test]
fn fast_canonical_text_is_the_full_parsers() {
    let taken = [
        r#"{"user_id": 17, "amount": 3, "event_id": 9, "kind": "purchase", "note": "xx"}"#,
        r#"{"b":1,"a":2}"#,
        r#"{ "a" : [ 1 , { "d" : null , "c" : true } , [] , {} ] , "aa" : false }"#,
        r#"{"a": 1, "a": 2, "b": {"a": 3, "a": 4}}"#,
        r#"{"x": 1, "b": 2, "a": 3, "b": 5}"#,
        "[1, -2, 0, 340282366920938463463374607431768211456]",
        "\t\n\r 7 ",
        r#""é ü € 𝄞""#,
        "true",
        "null",
        "[]",
        "{}",
        r#"{"ab": 1, "b": 2, "": 3, "ba": 4}"#,
    ];
    for text in taken {
        assert!(agrees(text), "the fast path should take {text:?}");
    }
    // Left to the full parser: escapes, non-integers, -0, and every error.
    let left = [
        r#"{"a": "x\ny"}"#,
        r#"{"a\"b": 1}"#,
        r#""\u00e9""#,
        "1.50",
        "1e2",
        "-0",
        "[1, -0]",
        "01",
        "1x",
        "[1,]",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"a": tru}"#,
        "nulls",
        "",
        "  ",
        "[1] 2",
        "\"a\u{1}\"",
        r#"{"a": 1"#,
        "[",
        "-",
        "{1: 2}",
    ];
    for text in left {
        assert!(!agrees(text), "the fast path should leave {text:?}");
    }
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(!agrees(&deep));
}

/// Documents built from a small grammar with a fixed-seed generator: the
/// fast path, where it answers, prints what the full parser prints.
#[test]
fn fast_canonical_text_agrees_on_generated_documents() {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    fn doc(next: &mut dyn FnMut(u64) -> u64, depth: usize, out: &mut String) {
        let ws = [" ", "", "\n", "  "];
        out.push_str(ws[next(4) as usize]);
        match if depth > 3 { next(5) } else { next(7) } {
            0 => out.push_str(["true", "false", "null"][next(3) as usize]),
            1 => out.push_str(&(next(2000) as i64 - 1000).to_string()),
            2 => out.push_str(["1.5", "-0", "2e3", "0"][next(4) as usize]),
            3 | 4 => {
                let s = ["\"\"", "\"a\"", "\"b c\"", "\"q\\\"\"", "\"ü\""][next(5) as usize];
                out.push_str(s);
            }
            5 => {
                out.push('[');
                for i in 0..next(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    doc(next, depth + 1, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..next(5) {
                    if i > 0 {
                        out.push_str([",", " , "][next(2) as usize]);
                    }
                    let k = ["a", "b", "aa", "ab", "ba", "", "key", "b"][next(8) as usize];
                    out.push_str(&format!("\"{k}\""));
                    out.push_str([":", " : "][next(2) as usize]);
                    doc(next, depth + 1, out);
                }
                out.push('}');
            }
        }
        out.push_str(ws[next(4) as usize]);
    }
    let mut taken = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        doc(&mut next, 0, &mut text);
        if agrees(&text) {
            taken += 1;
        }
    }
    // Most generated documents have no escapes and no non-integers.
    assert!(taken > 5_000, "the fast path took only {taken}");
}

#[test]
fn members_and_elements_are_found_in_stored_text() {
    let doc = canonical_jsonb_full(
        r#"{"user_id": 42, "amount": 7, "s": "x\"y", "n": null, "o": {"a": [1, "}"]}, "e\nk": 1}"#,
    )
    .unwrap();
    assert_eq!(member(&doc, "user_id"), Ok(Some("42")));
    assert_eq!(member(&doc, "amount"), Ok(Some("7")));
    assert_eq!(member(&doc, "s"), Ok(Some(r#""x\"y""#)));
    assert_eq!(member(&doc, "n"), Ok(Some("null")));
    assert_eq!(member(&doc, "o"), Ok(Some(r#"{"a": [1, "}"]}"#)));
    assert_eq!(member(&doc, "e\nk"), Ok(Some("1")));
    assert_eq!(member(&doc, "missing"), Ok(None));
    assert_eq!(member("[1]", "a"), Ok(None));
    assert_eq!(member("{}", "a"), Ok(None));
    // Not canonical (a function's output): whitespace is allowed.
    assert_eq!(member(r#"{"a":1,"b" : [2]}"#, "b"), Ok(Some("[2]")));
    assert_eq!(member(r#"{"a": 1"#, "b"), Err(MalformedJsonb));
    // Strings are skipped a quote or backslash at a time: an escaped
    // backslash before the closing quote, and strings cut off in an escape
    // or before their quote.
    assert_eq!(
        member(r#"{"a": "x\\", "b": "\\\"", "c": 3}"#, "c"),
        Ok(Some("3"))
    );
    assert_eq!(member(r#"{"a": "x\"#, "b"), Err(MalformedJsonb));
    assert_eq!(member(r#"{"a": "x"#, "b"), Err(MalformedJsonb));
    // A control character in a string is the full parser's to reject.
    assert_eq!(canonical_fast("{\"a\": \"x\ty\"}"), None);
    assert_eq!(canonical_fast("[\"x\u{1}\"]"), None);
    assert_eq!(
        canonical_fast(r#"{"b": "long string without escapes", "a": 1}"#).as_deref(),
        Some(r#"{"a": 1, "b": "long string without escapes"}"#)
    );

    let arr = r#"[1, "a,]", {"b": [2]}, null]"#;
    assert_eq!(element(arr, 0), Ok(Some("1")));
    assert_eq!(element(arr, 1), Ok(Some(r#""a,]""#)));
    assert_eq!(element(arr, 2), Ok(Some(r#"{"b": [2]}"#)));
    assert_eq!(element(arr, -1), Ok(Some("null")));
    assert_eq!(element(arr, -4), Ok(Some("1")));
    assert_eq!(element(arr, -5), Ok(None));
    assert_eq!(element(arr, 4), Ok(None));
    assert_eq!(element("[]", 0), Ok(None));
    assert_eq!(element("{}", 0), Ok(None));

    assert_eq!(string_value(r#""plain""#).as_deref(), Ok("plain"));
    assert_eq!(string_value(r#""x\"y\u00e9""#).as_deref(), Ok("x\"yé"));
    assert_eq!(string_value("7"), Err(MalformedJsonb));
}

#[test]
fn group_keys_are_equal_for_equal_values() {
    for (text, key) in [
        ("1", "1"),
        ("1.0", "1"),
        ("1.50", "1.5"),
        ("-0.0", "0"),
        ("0.000", "0"),
        ("-1.10", "-1.1"),
        ("100", "100"),
        ("10.01", "10.01"),
        (
            r#"[1.0, 2, "1.0", {"a": -0.0}]"#,
            r#"[1, 2, "1.0", {"a": 0}]"#,
        ),
        (r#"{"a\".0": 3.00}"#, r#"{"a\".0": 3}"#),
        (r#""2.0""#, r#""2.0""#),
    ] {
        assert_eq!(group_key(text), key, "{text}");
    }
    assert!(matches!(group_key("[1, 2]"), std::borrow::Cow::Borrowed(_)));
}
