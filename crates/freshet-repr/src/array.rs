//! PostgreSQL's text format of one-dimensional arrays (`array_out` and
//! `array_in`): `{1,2,NULL}`, `{"a b","x\"y"}`.
//!
//! Freshet's arrays have one dimension and lower bound 1: input with nested
//! braces (a multidimensional array) or other bounds is refused with
//! `0A000`; the dimension decoration `[1:n]=` is accepted when it agrees
//! with the elements. Malformed input is `22P02 malformed array literal`,
//! an element that does not parse its type's own error.

use super::strconv::{self, ParseError};
use super::{Datum, ScalarType, SqlState};

/// Prints an array's elements in PostgreSQL's text format.
///
/// An element is double-quoted when it is empty, reads as `NULL`, or holds
/// a character that delimits or quotes (`{`, `}`, `,`, `"`, `\`) or
/// whitespace; inside quotes, `"` and `\` are escaped with `\`.
pub fn format_array(elements: &[Datum]) -> String {
    let mut out = String::from("{");
    for (i, e) in elements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match strconv::format(e) {
            None => out.push_str("NULL"),
            Some(text) => push_element(&mut out, &text),
        }
    }
    out.push('}');
    out
}

fn push_element(out: &mut String, text: &str) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text
            .bytes()
            .any(|b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || is_array_space(b));
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// PostgreSQL's `array_isspace`: the C locale's white space.
fn is_array_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

fn malformed(text: &str, detail: &str) -> ParseError {
    // PostgreSQL sends the detail separately; Freshet's errors have one
    // message, so it follows the main text.
    ParseError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{text}\" ({detail})"),
    )
}

fn multidimensional() -> ParseError {
    ParseError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        "multidimensional arrays are not supported",
    )
}

/// Parses PostgreSQL's text form of an array of `elem` (each element with
/// `elem`'s input function and type modifier).
pub fn parse_array(text: &str, elem: &ScalarType) -> Result<Datum, ParseError> {
    if matches!(elem, ScalarType::Array(_)) {
        return Err(multidimensional());
    }
    let b = text.as_bytes();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < b.len() && is_array_space(b[*i]) {
            *i += 1;
        }
    };
    skip_space(&mut i);
    // Optional dimension decoration: `[lo:hi]=` (or `[hi]=`).
    let mut declared: Option<i64> = None;
    if b.get(i) == Some(&b'[') {
        let close = text[i..]
            .find(']')
            .map(|p| p + i)
            .ok_or_else(|| malformed(text, "Missing \"]\" in array dimensions."))?;
        let inside = &text[i + 1..close];
        let (lo, hi) = match inside.split_once(':') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => ("1", inside.trim()),
        };
        let parse_bound = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| malformed(text, "Array dimension is not an integer."))
        };
        let (lo, hi) = (parse_bound(lo)?, parse_bound(hi)?);
        if hi < lo - 1 {
            return Err(ParseError::new(
                SqlState::INVALID_TEXT_REPRESENTATION,
                "upper bound cannot be less than lower bound",
            ));
        }
        i = close + 1;
        if b.get(i) == Some(&b'[') {
            return Err(multidimensional());
        }
        if b.get(i) != Some(&b'=') {
            return Err(malformed(text, "Missing \"=\" after array dimensions."));
        }
        i += 1;
        skip_space(&mut i);
        if lo != 1 {
            return Err(ParseError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "array lower bounds other than 1 are not supported",
            ));
        }
        declared = Some(hi - lo + 1);
    }
    if b.get(i) != Some(&b'{') {
        return Err(malformed(
            text,
            "Array value must start with \"{\" or dimension information.",
        ));
    }
    i += 1;
    let mut elements = Vec::new();
    skip_space(&mut i);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            skip_space(&mut i);
            let (value, quoted_or_escaped, next) = read_element(text, i)?;
            i = next;
            let datum = if !quoted_or_escaped && value.eq_ignore_ascii_case("NULL") {
                Datum::Null
            } else {
                strconv::parse(&value, elem)?
            };
            elements.push(datum);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                Some(b'{') => return Err(multidimensional()),
                Some(_) => return Err(malformed(text, "Unexpected array element.")),
                None => return Err(malformed(text, "Unexpected end of input.")),
            }
        }
    }
    skip_space(&mut i);
    if i < b.len() {
        return Err(malformed(text, "Junk after closing right brace."));
    }
    if let Some(n) = declared
        && n != elements.len() as i64
    {
        return Err(malformed(
            text,
            "Specified array dimensions do not match array contents.",
        ));
    }
    Ok(Datum::Array(elements))
}

/// Reads one element starting at byte `i` (after white space): a quoted
/// string, or unquoted text up to `,` or `}` with trailing white space
/// dropped; `\` escapes the next character in both. Returns the element's
/// text, whether any of it was quoted or escaped (so it is not `NULL`), and
/// the position of the delimiter after it.
fn read_element(text: &str, mut i: usize) -> Result<(String, bool, usize), ParseError> {
    let b = text.as_bytes();
    let mut value = String::new();
    let mut special = false;
    match b.get(i) {
        Some(b'{') => return Err(multidimensional()),
        Some(b'"') => {
            special = true;
            i += 1;
            let start = i;
            let mut chunk_start = start;
            loop {
                match b.get(i) {
                    None => return Err(malformed(text, "Unexpected end of input.")),
                    Some(b'\\') => {
                        value.push_str(&text[chunk_start..i]);
                        i += 1;
                        let Some(c) = text[i..].chars().next() else {
                            return Err(malformed(text, "Unexpected end of input."));
                        };
                        value.push(c);
                        i += c.len_utf8();
                        chunk_start = i;
                    }
                    Some(b'"') => {
                        value.push_str(&text[chunk_start..i]);
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            while i < b.len() && is_array_space(b[i]) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b',' | b'}') | None) {
                return Err(malformed(text, "Incorrectly quoted array element."));
            }
        }
        _ => {
            // Unquoted: up to the delimiter; escaped characters are kept
            // (white space included), trailing unescaped white space is not.
            let mut keep = 0; // length of `value` that must be kept
            loop {
                match b.get(i) {
                    None => return Err(malformed(text, "Unexpected end of input.")),
                    Some(b',' | b'}') => break,
                    Some(b'"') => return Err(malformed(text, "Unexpected \"\"\" character.")),
                    Some(b'{') => return Err(malformed(text, "Unexpected \"{\" character.")),
                    Some(b'\\') => {
                        special = true;
                        i += 1;
                        let Some(c) = text[i..].chars().next() else {
                            return Err(malformed(text, "Unexpected end of input."));
                        };
                        value.push(c);
                        i += c.len_utf8();
                        keep = value.len();
                    }
                    Some(_) => {
                        let Some(c) = text[i..].chars().next() else {
                            return Err(malformed(text, "Unexpected end of input."));
                        };
                        value.push(c);
                        i += c.len_utf8();
                        if !(c.is_ascii() && is_array_space(c as u8)) {
                            keep = value.len();
                        }
                    }
                }
            }
            value.truncate(keep);
            if value.is_empty() && !special {
                let c = b.get(i).map(|c| *c as char).unwrap_or(',');
                return Err(malformed(text, &format!("Unexpected \"{c}\" character.")));
            }
        }
    }
    Ok((value, special, i))
}

/// Applies the element type's modifier (`varchar(n)[]`, `numeric(p,s)[]`)
/// to each element.
pub fn apply_element_typmod(elements: Vec<Datum>, elem: &ScalarType) -> Result<Datum, ParseError> {
    elements
        .into_iter()
        .map(|e| strconv::apply_typmod(e, elem))
        .collect::<Result<Vec<_>, _>>()
        .map(Datum::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[Option<i32>]) -> Datum {
        Datum::Array(
            v.iter()
                .map(|x| x.map_or(Datum::Null, Datum::Int32))
                .collect(),
        )
    }

    fn texts(v: &[Option<&str>]) -> Datum {
        Datum::Array(
            v.iter()
                .map(|x| x.map_or(Datum::Null, |s| Datum::String(s.into())))
                .collect(),
        )
    }

    #[test]
    fn formats_like_postgres() {
        assert_eq!(format_array(&[]), "{}");
        let Datum::Array(e) = ints(&[Some(1), Some(-2), None]) else {
            unreachable!()
        };
        assert_eq!(format_array(&e), "{1,-2,NULL}");
        let Datum::Array(e) = texts(&[
            Some("a b"),
            Some("x\"y"),
            Some(""),
            Some("null"),
            Some("back\\slash"),
            Some("{}"),
            Some("plain"),
            None,
        ]) else {
            unreachable!()
        };
        assert_eq!(
            format_array(&e),
            r#"{"a b","x\"y","","null","back\\slash","{}",plain,NULL}"#
        );
        assert_eq!(
            format_array(&[Datum::Bool(true), Datum::Bool(false)]),
            "{t,f}"
        );
    }

    #[test]
    fn parses_like_postgres() {
        let int = ScalarType::Int32;
        assert_eq!(parse_array("{}", &int).unwrap(), ints(&[]));
        assert_eq!(parse_array("  { }  ", &int).unwrap(), ints(&[]));
        assert_eq!(
            parse_array("{1, 2 ,NULL,null}", &int).unwrap(),
            ints(&[Some(1), Some(2), None, None])
        );
        assert_eq!(
            parse_array("[1:2]={1,2}", &int).unwrap(),
            ints(&[Some(1), Some(2)])
        );
        let text = ScalarType::Text;
        assert_eq!(
            parse_array(r#"{"a b","x\"y", c d ,"NULL",\NULL,"",e\ }"#, &text).unwrap(),
            texts(&[
                Some("a b"),
                Some("x\"y"),
                Some("c d"),
                Some("NULL"),
                Some("NULL"),
                Some(""),
                Some("e "),
            ])
        );
        assert_eq!(
            parse_array("{héllo,wörld}", &text).unwrap(),
            texts(&[Some("héllo"), Some("wörld")])
        );
    }

    #[test]
    fn round_trips_through_text() {
        let text = ScalarType::Text;
        let odd = texts(&[
            Some(" lead"),
            Some("trail "),
            Some("a,b"),
            Some("\\"),
            Some("\""),
            Some("NULL"),
            Some(""),
            Some("{x}"),
            None,
        ]);
        let Datum::Array(e) = &odd else {
            unreachable!()
        };
        assert_eq!(parse_array(&format_array(e), &text).unwrap(), odd);
    }

    #[test]
    fn refuses_malformed_input() {
        let int = ScalarType::Int32;
        for bad in [
            "",
            "1,2",
            "{1,2",
            "{1,,2}",
            "{,}",
            "{1}x",
            "{1 2}",
            "{\"1\"x}",
            "[1:3]={1,2}",
            "[1:2{1,2}",
            "{\"1}",
            "{1\\",
            "{a\"b}",
        ] {
            let e = parse_array(bad, &int).unwrap_err();
            assert_eq!(e.code, SqlState::INVALID_TEXT_REPRESENTATION, "{bad}: {e}");
        }
        let e = parse_array("{a}", &int).unwrap_err();
        assert_eq!(e.message, "invalid input syntax for type integer: \"a\"");
        for multi in ["{{1,2},{3,4}}", "[1:1][1:1]={{1}}", "{1,{2}}"] {
            let e = parse_array(multi, &int).unwrap_err();
            assert_eq!(e.code, SqlState::FEATURE_NOT_SUPPORTED, "{multi}: {e}");
        }
        let e = parse_array("[0:1]={1,2}", &int).unwrap_err();
        assert_eq!(e.code, SqlState::FEATURE_NOT_SUPPORTED);
    }
}
