//! `json_build_object`, `json_build_array` and `to_json`, as PostgreSQL's
//! `json` type prints them.
//!
//! Their text differs from the `jsonb` builders': members keep their order
//! and duplicates, are written `"key" : value`, arrays have no spaces
//! (`[1,2]`), and a `json` argument is embedded as written. The value is
//! that exact text, a [`Datum::Json`].

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
                // PostgreSQL 15's `json_build_object` reports 22023 here.
                return Err(EvalError::Jsonb {
                    code: SqlState::INVALID_PARAMETER_VALUE,
                    message: format!("argument {} cannot be null", 2 * i + 1),
                });
            }
            k => key_text(k)?,
        };
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&key);
        out.push_str(" : ");
        out.push_str(&to_json(&pair[1]));
    }
    out.push('}');
    Ok(Datum::Json(out))
}

/// `row_to_json(t)` of a whole row, given as column names and values
/// (`k1, v1, ...`, from `crate::sql::whole_row`): PostgreSQL's compact
/// text for a record, `{"a":1,"b":"x"}`.
pub fn build_row(args: &[Datum]) -> Result<Datum, EvalError> {
    let mut out = String::from("{");
    for (i, pair) in args.chunks(2).enumerate() {
        let [key, value] = pair else {
            return Err(EvalError::Internal(
                "row_to_json of a row without a value for each column".into(),
            ));
        };
        let Datum::String(key) = key else {
            return Err(EvalError::Internal(format!(
                "row_to_json column name {key:?}"
            )));
        };
        if i > 0 {
            out.push(',');
        }
        out.push_str(&JsonbValue::String(key.clone()).to_text());
        out.push(':');
        out.push_str(&to_json(value));
    }
    out.push('}');
    Ok(Datum::Json(out))
}

/// An object key from a non-NULL value, as a JSON string: its text
/// output (`true`/`false` for booleans, as its `to_json`); PostgreSQL's
/// error for an array or JSON value.
pub(crate) fn key_text(k: &Datum) -> Result<String, EvalError> {
    match k {
        Datum::Array(_) | Datum::Jsonb(_) | Datum::Json(_) => Err(EvalError::InvalidParameter(
            "key value must be scalar, not array, composite, or json".into(),
        )),
        Datum::Bool(b) => Ok(format!("\"{b}\"")),
        k => Ok(JsonbValue::String(strconv::format(k).unwrap_or_default()).to_text()),
    }
}

/// `json_build_array(v1, ...)`: PostgreSQL's text for the array (items
/// separated by `, `, unlike an array value's `to_json`).
pub fn build_array(args: &[Datum]) -> Datum {
    let items: Vec<String> = args.iter().map(to_json).collect();
    Datum::Json(format!("[{}]", items.join(", ")))
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
        Datum::Jsonb(s) | Datum::Json(s) => s.clone(),
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
            Datum::Json(r#"{"a" : 1, "b" : "x\"y", "c" : null, "g" : [1,2], "2" : true}"#.into())
        );
        assert_eq!(build_object(&[]).unwrap(), Datum::Json("{}".into()));
        assert!(build_object(&[Datum::Null, Datum::Int32(1)]).is_err());
        assert!(build_object(&[Datum::Int32(1)]).is_err());
    }

    #[test]
    fn rows_print_as_postgresql_row_to_json() {
        let got = build_row(&[
            Datum::String("a".into()),
            Datum::Int32(1),
            Datum::String("B \"x\"".into()),
            Datum::Null,
            Datum::String("j".into()),
            Datum::Json("{\"k\" :  1}".into()),
            Datum::String("e".into()),
            Datum::Array(vec![Datum::Int32(1), Datum::Null]),
        ])
        .unwrap();
        assert_eq!(
            got,
            Datum::Json(r#"{"a":1,"B \"x\"":null,"j":{"k" :  1},"e":[1,null]}"#.into())
        );
        assert!(build_row(&[Datum::String("a".into())]).is_err());
    }
}
