//! `json` text: checking input and finding values in it, keeping every
//! byte of what the user wrote.
//!
//! PostgreSQL's `json` type stores its input verbatim (key order, duplicate
//! keys, whitespace) once it is valid JSON, and its operators return slices
//! of that text: `'{"a" :  [1, 2]}'::json -> 'a'` is `[1, 2]` as written.
//! A [`Datum::Json`](super::Datum::Json) is that text, checked by
//! [`validate`]; the functions here scan it without building a document
//! and without recursion (PostgreSQL accepts deep nesting), so they only
//! ever see valid JSON.

use super::SqlState;
use super::jsonb::{at_token_end, skip_ws};
use super::strconv::ParseError;

/// SQLSTATE `22P05` (`untranslatable_character`).
const UNTRANSLATABLE_CHARACTER: SqlState = SqlState(*b"22P05");

fn syntax_error() -> ParseError {
    ParseError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        "invalid input syntax for type json",
    )
}

/// What the validator expects next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value.
    Value,
    /// A value or `]` (just after `[`).
    ValueOrEnd,
    /// A key or `}` (just after `{`).
    KeyOrEnd,
    /// A key (after a `,` in an object).
    Key,
    /// `,` or the end of the innermost container (after a value).
    Next,
}

/// Checks that `text` is one JSON value (with surrounding whitespace), as
/// PostgreSQL's `json` input does; else `22P02 invalid input syntax for
/// type json`.
pub fn validate(text: &str) -> Result<(), ParseError> {
    let b = text.as_bytes();
    let mut pos = 0;
    // The open containers, innermost last: `{` or `[`.
    let mut stack: Vec<u8> = Vec::new();
    let mut expect = Expect::Value;
    loop {
        pos = skip_ws(b, pos);
        let c = *b.get(pos).ok_or_else(syntax_error)?;
        match expect {
            Expect::ValueOrEnd | Expect::Value => {
                if expect == Expect::ValueOrEnd && c == b']' {
                    stack.pop();
                    pos += 1;
                    expect = Expect::Next;
                } else {
                    match c {
                        b'{' => {
                            stack.push(b'{');
                            pos += 1;
                            expect = Expect::KeyOrEnd;
                            continue;
                        }
                        b'[' => {
                            stack.push(b'[');
                            pos += 1;
                            expect = Expect::ValueOrEnd;
                            continue;
                        }
                        b'"' => pos = string_end(b, pos)?,
                        _ => pos = scalar_end(b, pos)?,
                    }
                    expect = Expect::Next;
                }
            }
            Expect::KeyOrEnd | Expect::Key => {
                if expect == Expect::KeyOrEnd && c == b'}' {
                    stack.pop();
                    pos += 1;
                    expect = Expect::Next;
                } else if c == b'"' {
                    pos = skip_ws(b, string_end(b, pos)?);
                    if b.get(pos) != Some(&b':') {
                        return Err(syntax_error());
                    }
                    pos += 1;
                    expect = Expect::Value;
                    continue;
                } else {
                    return Err(syntax_error());
                }
            }
            Expect::Next => match (stack.last(), c) {
                (Some(b'['), b',') => {
                    pos += 1;
                    expect = Expect::Value;
                    continue;
                }
                (Some(b'{'), b',') => {
                    pos += 1;
                    expect = Expect::Key;
                    continue;
                }
                (Some(b'['), b']') | (Some(b'{'), b'}') => {
                    stack.pop();
                    pos += 1;
                }
                _ => return Err(syntax_error()),
            },
        }
        // A value just ended.
        if stack.is_empty() {
            return if skip_ws(b, pos) == b.len() {
                Ok(())
            } else {
                Err(syntax_error())
            };
        }
    }
}

/// The position after the string starting (with its quote) at `pos`.
fn string_end(b: &[u8], mut pos: usize) -> Result<usize, ParseError> {
    pos += 1;
    loop {
        match *b.get(pos).ok_or_else(syntax_error)? {
            b'"' => return Ok(pos + 1),
            b'\\' => match *b.get(pos + 1).ok_or_else(syntax_error)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                b'u' => {
                    let hex = b.get(pos + 2..pos + 6).ok_or_else(syntax_error)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(syntax_error());
                    }
                    pos += 6;
                }
                _ => return Err(syntax_error()),
            },
            c if c < 0x20 => return Err(syntax_error()),
            _ => pos += 1,
        }
    }
}

/// The position after the number or keyword starting at `pos`.
fn scalar_end(b: &[u8], pos: usize) -> Result<usize, ParseError> {
    for word in [&b"true"[..], b"false", b"null"] {
        if b[pos..].starts_with(word) {
            let end = pos + word.len();
            return if at_token_end(b, end) {
                Ok(end)
            } else {
                Err(syntax_error())
            };
        }
    }
    let digits = |mut p: usize| {
        let start = p;
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        (p > start).then_some(p)
    };
    let mut p = pos;
    if b.get(p) == Some(&b'-') {
        p += 1;
    }
    p = match b.get(p) {
        Some(b'0') => p + 1,
        Some(b'1'..=b'9') => digits(p).ok_or_else(syntax_error)?,
        _ => return Err(syntax_error()),
    };
    if b.get(p) == Some(&b'.') {
        p = digits(p + 1).ok_or_else(syntax_error)?;
    }
    if matches!(b.get(p), Some(b'e' | b'E')) {
        p += 1;
        if matches!(b.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        p = digits(p).ok_or_else(syntax_error)?;
    }
    if at_token_end(b, p) {
        Ok(p)
    } else {
        Err(syntax_error())
    }
}

/// The position after the (valid) value starting at `pos`.
fn value_end(b: &[u8], pos: usize) -> usize {
    match b.get(pos) {
        Some(b'"') => string_end(b, pos).unwrap_or(b.len()),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut p = pos;
            while p < b.len() {
                match b[p] {
                    b'"' => {
                        p = string_end(b, p).unwrap_or(b.len());
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return p + 1;
                        }
                    }
                    _ => {}
                }
                p += 1;
            }
            b.len()
        }
        _ => {
            let mut p = pos;
            while !at_token_end(b, p) {
                p += 1;
            }
            p
        }
    }
}

/// The JSON type of a value, as `json_typeof` names it.
pub fn type_name(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// The value's text without the whitespace around it.
pub fn trimmed(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\n', '\r'])
}

/// An object's members as written (duplicates and order kept): each key's
/// text (quotes and escapes included) and value's text; `None` if the
/// value is not an object.
pub fn members(text: &str) -> Option<Vec<(&str, &str)>> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    if b.get(pos) != Some(&b'{') {
        return None;
    }
    let mut out = Vec::new();
    pos = skip_ws(b, pos + 1);
    while b.get(pos) == Some(&b'"') {
        let key_end = value_end(b, pos);
        let key = &text[pos..key_end];
        // Past the `:`.
        let start = skip_ws(b, skip_ws(b, key_end) + 1);
        let end = value_end(b, start);
        out.push((key, &text[start..end]));
        pos = skip_ws(b, end);
        if b.get(pos) == Some(&b',') {
            pos = skip_ws(b, pos + 1);
        }
    }
    Some(out)
}

/// An array's elements as written; `None` if the value is not an array.
pub fn elements(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut pos = skip_ws(b, 0);
    if b.get(pos) != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    pos = skip_ws(b, pos + 1);
    while pos < b.len() && b[pos] != b']' {
        let end = value_end(b, pos);
        out.push(&text[pos..end]);
        pos = skip_ws(b, end);
        if b.get(pos) == Some(&b',') {
            pos = skip_ws(b, pos + 1);
        }
    }
    Some(out)
}

/// A JSON string's characters (its text, quotes included), unescaped;
/// `\u0000` is PostgreSQL's `22P05`, as text cannot hold it.
pub fn string_value(raw: &str) -> Result<String, ParseError> {
    if raw.contains("\\u0000") {
        return Err(ParseError::new(
            UNTRANSLATABLE_CHARACTER,
            "unsupported Unicode escape sequence",
        ));
    }
    super::jsonb::string_value(raw)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            ParseError::new(
                UNTRANSLATABLE_CHARACTER,
                "unsupported Unicode escape sequence",
            )
        })
}

/// The member `key` of an object (the last one, where the key repeats, as
/// PostgreSQL's `->` finds it); `None` if missing or not an object.
pub fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    members(text)?
        .into_iter()
        .rev()
        .find(|(k, _)| string_value(k).is_ok_and(|k| k == key))
        .map(|(_, v)| v)
}

/// Element `index` of an array (negative from the end); `None` if missing
/// or not an array.
pub fn element(text: &str, index: i64) -> Option<&str> {
    let items = elements(text)?;
    let i = if index < 0 {
        i64::try_from(items.len()).ok()? + index
    } else {
        index
    };
    items.get(usize::try_from(i).ok()?).copied()
}

/// The value at `path` (keys of objects, subscripts of arrays, as
/// `#>` follows them); `None` where a step is missing or NULL.
pub fn get_path<'a>(text: &'a str, path: &[Option<&str>]) -> Option<&'a str> {
    let mut current = trimmed(text);
    for step in path {
        let step = (*step)?;
        current = match current.as_bytes().first() {
            Some(b'{') => member(current, step)?,
            Some(b'[') => element(current, super::jsonb::value::path_index(step)?)?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_as_postgresql() {
        for ok in [
            "1",
            " {\"b\":1,\"a\":2, \"a\":3} ",
            "[1, [2, {\"x\": [true, false, null]}], \"s\\n\\u00e9\"]",
            "-0.5e+10",
            "\"\\u0000\"",
            "[]",
            "{}",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "x",
            "01",
            "1.",
            ".1",
            "-",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1",
            "1 2",
            "\"\\x\"",
            "\"a\nb\"",
            "truex",
            "{1:2}",
            "]",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn finds_values_as_written() {
        let doc = " {\"a\" : [1, {\"x\" :  2} ], \"a\": 3, \"b\\\"\": \"s\" } ";
        assert_eq!(member(doc, "a"), Some("3"));
        assert_eq!(member(doc, "b\""), Some("\"s\""));
        assert_eq!(member(doc, "z"), None);
        assert_eq!(
            members(doc).unwrap(),
            vec![
                ("\"a\"", "[1, {\"x\" :  2} ]"),
                ("\"a\"", "3"),
                ("\"b\\\"\"", "\"s\"")
            ]
        );
        let arr = "[1, {\"x\" :  2} ]";
        assert_eq!(element(arr, 1), Some("{\"x\" :  2}"));
        assert_eq!(element(arr, -2), Some("1"));
        assert_eq!(element(arr, 2), None);
        assert_eq!(elements("[ ]").unwrap(), Vec::<&str>::new());
        assert_eq!(get_path(doc, &[Some("b\"")]), Some("\"s\""));
        assert_eq!(get_path(doc, &[]), Some(trimmed(doc)));
        assert_eq!(type_name(" [1]"), "array");
    }
}
