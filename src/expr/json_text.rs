//! `json_build_object`, `json_build_array` and `to_json`, as PostgreSQL's
//! `json` type prints them.
//!
//! Freshet has no `json` type (only `jsonb`), but clients send
//! `json_build_object` in catalog queries (SQLAlchemy's column
//! reflection), and its text differs from `jsonb_build_object`'s: members
//! keep their order and duplicates, are written `"key" : value`, and
//! arrays have no spaces (`[1,2]`). The value is that exact text, typed
//! `text`.

use crate::repr::jsonb::value::JsonbValue;
use crate::repr::{Datum, SqlState, strconv};

use super::EvalError;

/// `json_build_object(k1, v1, ...)`: PostgreSQL's text for the object.
pub fn build_object(args: &[Datum]) -> Result<Datum, EvalError> {
    if !args.len().is_multiple_of(2) {
        return Err(EvalError::InvalidParameter(
            "argument list must have even number of elements".into(),
        ));
    }
    let mut out = String::from("{");
    for (i, pair) in args.chunks(2).enumerate() {
        let key = match &pair[0] {
            Datum::Null => {
                return Err(EvalError::Jsonb {
                    code: SqlState::NULL_VALUE_NOT_ALLOWED,
                    message: format!("argument {} cannot be null", 2 * i + 1),
                });
            }
            Datum::Array(_) | Datum::Jsonb(_) => {
                return Err(EvalError::InvalidParameter(
                    "key value must be scalar, not array, composite, or json".into(),
                ));
            }
            k => strconv::format(k).unwrap_or_default(),
        };
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&JsonbValue::String(key).to_text());
        out.push_str(" : ");
        out.push_str(&to_json(&pair[1]));
    }
    out.push('}');
    Ok(Datum::String(out))
}

/// `json_build_array(v1, ...)`: PostgreSQL's text for the array (items
/// separated by `, `, unlike an array value's `to_json`).
pub fn build_array(args: &[Datum]) -> Datum {
    let items: Vec<String> = args.iter().map(to_json).collect();
    Datum::String(format!("[{}]", items.join(", ")))
}

/// PostgreSQL's `to_json(x)` text: numbers (finite ones) and booleans as
/// themselves, NULL as `null`, arrays as `[a,b]`, `jsonb` as its text,
/// timestamps in ISO 8601, anything else as the string of its text output.
pub fn to_json(d: &Datum) -> String {
    let text = |d: &Datum| strconv::format(d).unwrap_or_default();
    let string = |s: String| JsonbValue::String(s).to_text();
    match d {
        Datum::Null => "null".into(),
        Datum::Bool(b) => b.to_string(),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => text(d),
        Datum::Float32(f) if f.0.is_finite() => text(d),
        Datum::Float64(f) if f.0.is_finite() => text(d),
        Datum::Numeric(_) => {
            let t = text(d);
            if t.bytes().any(|b| b.is_ascii_digit()) {
                t
            } else {
                // NaN and the infinities are not JSON numbers.
                string(t)
            }
        }
        Datum::Jsonb(s) => s.clone(),
        Datum::Timestamp(_) | Datum::TimestampTz(_) => {
            string(super::jsonb::json_timestamp(text(d)))
        }
        Datum::Array(items) => {
            let items: Vec<String> = items.iter().map(to_json).collect();
            format!("[{}]", items.join(","))
        }
        _ => string(text(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_print_as_postgresql_json() {
        let got = build_object(&[
            Datum::String("a".into()),
            Datum::Int32(1),
            Datum::String("b".into()),
            Datum::String("x\"y".into()),
            Datum::String("c".into()),
            Datum::Null,
            Datum::String("g".into()),
            Datum::Array(vec![Datum::Int32(1), Datum::Int32(2)]),
            Datum::Int32(2),
            Datum::Bool(true),
        ])
        .unwrap();
        assert_eq!(
            got,
            Datum::String(r#"{"a" : 1, "b" : "x\"y", "c" : null, "g" : [1,2], "2" : true}"#.into())
        );
        assert_eq!(build_object(&[]).unwrap(), Datum::String("{}".into()));
        assert!(build_object(&[Datum::Null, Datum::Int32(1)]).is_err());
        assert!(build_object(&[Datum::Int32(1)]).is_err());
    }
}
