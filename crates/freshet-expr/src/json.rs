//! The `json` operators, set-returning functions and aggregates, with
//! PostgreSQL 15's results: values found in a `json` document are slices
//! of its text as written ([`crate::repr::json`]), and the aggregates
//! print their results as PostgreSQL's `json_agg` and `json_object_agg`
//! do.
//!
//! `json` shares its functions' definitions with `jsonb`
//! ([`super::jsonb::JsonbFunc`], [`super::jsonb::JsonbTableFunc`]), which
//! call in here when the argument is a [`Datum::Json`].

use crate::repr::{Datum, Diff, json};

use super::EvalError;
use super::json_text::to_json;

fn invalid(message: impl Into<String>) -> EvalError {
    EvalError::InvalidParameter(message.into())
}

/// A value found in a document: `json` (its text as written), or, as
/// `->>` gives it (`text`), a string's characters, NULL for `null`, else
/// the text.
pub fn found(raw: &str, text: bool) -> Result<Datum, EvalError> {
    Ok(match raw.as_bytes().first() {
        Some(b'n') if text => Datum::Null,
        Some(b'"') if text => Datum::String(json::string_value(raw)?),
        _ if text => Datum::String(raw.to_string()),
        _ => Datum::Json(raw.to_string()),
    })
}

/// `json -> key` / `json ->> key`: an object's member (the last of equal
/// keys, as PostgreSQL finds it) or an array's element (negative from the
/// end); NULL where there is none.
pub fn get(doc: &str, key: &Datum, text: bool) -> Result<Datum, EvalError> {
    let raw = match key {
        Datum::String(k) => json::member(doc, k),
        Datum::Int16(i) => json::element(doc, i64::from(*i)),
        Datum::Int32(i) => json::element(doc, i64::from(*i)),
        Datum::Int64(i) => json::element(doc, *i),
        _ => None,
    };
    match raw {
        Some(raw) => found(raw, text),
        None => Ok(Datum::Null),
    }
}

/// `json #> path` / `json #>> path` and `json_extract_path[_text]`.
pub fn get_path(doc: &str, path: &[Option<&str>], text: bool) -> Result<Datum, EvalError> {
    match json::get_path(doc, path) {
        Some(raw) => found(raw, text),
        None => Ok(Datum::Null),
    }
}

/// `json_array_length(doc)`.
pub fn array_length(doc: &str) -> Result<Datum, EvalError> {
    match json::elements(doc) {
        Some(items) => i32::try_from(items.len())
            .map(Datum::Int32)
            .map_err(|_| EvalError::OutOfRange("integer".into())),
        None if json::type_name(doc) == "object" => {
            Err(invalid("cannot get array length of a non-array"))
        }
        None => Err(invalid("cannot get array length of a scalar")),
    }
}

/// The rows of `json_array_elements[_text]` (`text`), `json_each[_text]`
/// (`each`, `text`) or `json_object_keys` (`keys`) of `doc`, in the
/// document's order, duplicate keys kept.
pub fn table_rows(doc: &str, name: &str) -> Result<Vec<Vec<Datum>>, EvalError> {
    let kind = json::type_name(doc);
    let text = name.ends_with("_text");
    match name {
        "json_array_elements" | "json_array_elements_text" => match json::elements(doc) {
            Some(items) => items.iter().map(|i| Ok(vec![found(i, text)?])).collect(),
            None if kind == "object" => Err(invalid(format!("cannot call {name} on a non-array"))),
            None => Err(invalid(format!("cannot call {name} on a scalar"))),
        },
        "json_each" | "json_each_text" => match json::members(doc) {
            Some(members) => members
                .iter()
                .map(|(k, v)| Ok(vec![Datum::String(json::string_value(k)?), found(v, text)?]))
                .collect(),
            None if kind == "array" => Err(invalid("cannot deconstruct an array as an object")),
            None => Err(invalid("cannot deconstruct a scalar")),
        },
        "json_object_keys" => match json::members(doc) {
            Some(members) => members
                .iter()
                .map(|(k, _)| Ok(vec![Datum::String(json::string_value(k)?)]))
                .collect(),
            None if kind == "array" => Err(invalid("cannot call json_object_keys on an array")),
            None => Err(invalid("cannot call json_object_keys on a scalar")),
        },
        other => Err(EvalError::Internal(format!(
            "unknown json table function {other}"
        ))),
    }
}

/// `json_agg(x [ORDER BY ...])` over a group: each input as `to_json`
/// writes it, `[a, b]`; NULL for no rows.
pub fn json_agg(values: &[(&[Datum], Diff)], order: &[(bool, bool)]) -> Result<Datum, EvalError> {
    if values.is_empty() {
        return Ok(Datum::Null);
    }
    let mut items = Vec::new();
    for (v, d) in super::array::sort_aggregate_inputs(values, order, 1) {
        let item = to_json(v.first().unwrap_or(&Datum::Null));
        for _ in 0..*d {
            items.push(item.clone());
        }
    }
    Ok(Datum::Json(format!("[{}]", items.join(", "))))
}

/// `json_object_agg(key, value [ORDER BY ...])` over a group: every
/// input a member, duplicate keys kept, `{ "k" : v, ... }`; NULL for no
/// rows.
pub fn json_object_agg(
    values: &[(&[Datum], Diff)],
    order: &[(bool, bool)],
) -> Result<Datum, EvalError> {
    if values.is_empty() {
        return Ok(Datum::Null);
    }
    let mut members = Vec::new();
    for (v, d) in super::array::sort_aggregate_inputs(values, order, 2) {
        let key = match v.first().unwrap_or(&Datum::Null) {
            Datum::Null => return Err(invalid("field name must not be null")),
            k => super::json_text::key_text(k)?,
        };
        let member = format!("{key} : {}", to_json(v.get(1).unwrap_or(&Datum::Null)));
        for _ in 0..*d {
            members.push(member.clone());
        }
    }
    Ok(Datum::Json(format!("{{ {} }}", members.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_return_text_as_written() {
        let doc = r#"{"a" : [1, {"x" :  2}], "a": "s\n", "n": null}"#;
        let s = |v: &str| Datum::String(v.into());
        assert_eq!(
            get(doc, &s("a"), false).unwrap(),
            Datum::Json(r#""s\n""#.into())
        );
        assert_eq!(get(doc, &s("a"), true).unwrap(), s("s\n"));
        assert_eq!(get(doc, &s("n"), true).unwrap(), Datum::Null);
        assert_eq!(
            get(doc, &s("n"), false).unwrap(),
            Datum::Json("null".into())
        );
        assert_eq!(
            get("[1, {\"x\" :  2}]", &Datum::Int32(-1), false).unwrap(),
            Datum::Json("{\"x\" :  2}".into())
        );
        assert_eq!(array_length(" [1, [2, 3]] ").unwrap(), Datum::Int32(2));
        assert!(array_length("{}").is_err());
        assert_eq!(
            table_rows(r#"{"b":1, "b":[2]}"#, "json_each_text").unwrap(),
            vec![vec![s("b"), s("1")], vec![s("b"), s("[2]")]]
        );
    }

    #[test]
    fn aggregates_print_as_postgresql() {
        let rows: Vec<Vec<Datum>> = vec![
            vec![Datum::String("a".into()), Datum::Int32(1)],
            vec![Datum::String("b".into()), Datum::Null],
        ];
        let values: Vec<(&[Datum], Diff)> = rows.iter().map(|r| (r.as_slice(), 1)).collect();
        assert_eq!(
            json_object_agg(&values, &[]).unwrap(),
            Datum::Json(r#"{ "a" : 1, "b" : null }"#.into())
        );
        let items: Vec<(&[Datum], Diff)> = rows.iter().map(|r| (&r[1..], 2)).collect();
        assert_eq!(
            json_agg(&items, &[]).unwrap(),
            Datum::Json("[1, 1, null, null]".into())
        );
    }
}
