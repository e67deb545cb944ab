//! The `jsonb` operators and functions beyond `->`/`->>`
//! ([`JsonbFunc`]), the conversion of any value to `jsonb` ([`to_jsonb`]),
//! and the `jsonb` aggregates ([`jsonb_agg`], [`jsonb_object_agg`]), with
//! PostgreSQL 15's results and errors.
//!
//! Paths (`#>`, `#>>`, `jsonb_extract_path`) and `jsonb_typeof` read the
//! stored text as `->` does; the rest work on a parsed document
//! ([`crate::repr::jsonb::value`]).

use std::cmp::Ordering;

use crate::repr::jsonb::value::{self, JsonbError, JsonbValue, PathEdit};
use crate::repr::{Datum, Diff, jsonb, strconv};

use super::EvalError;

/// A `jsonb` operator or function Freshet evaluates itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JsonbFunc {
    /// `doc #> path` / `doc #>> path` (`text`), the path a `text[]`; or
    /// `jsonb_extract_path[_text](doc, VARIADIC steps)` (`variadic`: the
    /// steps are the arguments after `doc`).
    GetPath {
        /// The result as text (`#>>`).
        text: bool,
        /// The steps are separate arguments.
        variadic: bool,
    },
    /// `a @> b`.
    Contains,
    /// `a <@ b`.
    ContainedBy,
    /// `doc ? key`.
    Exists,
    /// `doc ?| keys`.
    ExistsAny,
    /// `doc ?& keys`.
    ExistsAll,
    /// `a || b` on `jsonb`.
    Concat,
    /// `doc - key` (`text`).
    DeleteKey,
    /// `doc - index` (`integer`).
    DeleteIndex,
    /// `doc - keys` (`text[]`).
    DeleteKeys,
    /// `doc #- path`.
    DeletePath,
    /// `jsonb_typeof(doc)`.
    TypeOf,
    /// `jsonb_array_length(doc)`.
    ArrayLength,
    /// `jsonb_build_object(k1, v1, ...)`.
    BuildObject,
    /// `jsonb_build_array(v1, ...)`.
    BuildArray,
    /// `json_build_object(k1, v1, ...)`: `json`'s text, as `text`
    /// ([`super::json_text`]).
    JsonBuildObject,
    /// `to_jsonb(x)`.
    ToJsonb,
    /// `to_json(x)`: `json`'s text, as `text` ([`super::json_text`]).
    ToJson,
    /// `json_build_array(v1, ...)`: `json`'s text, as `text`.
    JsonBuildArray,
    /// `row_to_json(t)` (and `to_json(t)`) of a whole row, called with the
    /// row's column names and values (`crate::sql::whole_row`).
    RowToJson,
    /// The `json` function evaluated as the `jsonb` one it holds
    /// (`json_typeof` is [`JsonbFunc::TypeOf`]), named as `json`'s.
    Json(Box<JsonbFunc>),
    /// `jsonb_strip_nulls(doc)`.
    StripNulls,
    /// `jsonb_pretty(doc)`.
    Pretty,
    /// `jsonb_insert(doc, path, value [, insert_after])`.
    Insert,
    /// `jsonb_set(doc, path, value [, create_missing])`.
    Set,
}

impl From<JsonbError> for EvalError {
    fn from(e: JsonbError) -> EvalError {
        EvalError::Jsonb {
            code: e.code,
            message: e.message,
        }
    }
}

fn invalid(message: impl Into<String>) -> EvalError {
    JsonbError::invalid(message).into()
}

fn internal(what: &str, d: &Datum) -> EvalError {
    EvalError::Internal(format!("{what} applied to unexpected value {d:?}"))
}

/// The stored text of a `jsonb` argument.
fn doc_text<'a>(d: &'a Datum, what: &str) -> Result<&'a str, EvalError> {
    match d {
        Datum::Jsonb(s) => Ok(s),
        other => Err(internal(what, other)),
    }
}

/// A `jsonb` argument, parsed.
fn doc(d: &Datum, what: &str) -> Result<JsonbValue, EvalError> {
    Ok(JsonbValue::parse(doc_text(d, what)?)?)
}

/// The elements of a `text[]` argument (`None` for NULL elements).
fn text_array<'a>(d: &'a Datum, what: &str) -> Result<Vec<Option<&'a str>>, EvalError> {
    match d {
        Datum::Array(items) => items
            .iter()
            .map(|i| match i {
                Datum::Null => Ok(None),
                Datum::String(s) => Ok(Some(s.as_str())),
                other => Err(internal(what, other)),
            })
            .collect(),
        other => Err(internal(what, other)),
    }
}

fn jsonb(v: &JsonbValue) -> Datum {
    Datum::Jsonb(v.to_text())
}

/// A stored value found by a path, as `jsonb` or (`text`) as `->>` gives it.
fn found(raw: &str, text: bool) -> Result<Datum, EvalError> {
    let stored = |_| EvalError::Internal("stored jsonb does not parse".into());
    Ok(match raw.as_bytes().first() {
        Some(b'n') if text => Datum::Null,
        Some(b'"') if text => Datum::String(jsonb::string_value(raw).map_err(stored)?.into_owned()),
        _ if text => Datum::String(raw.to_string()),
        _ => Datum::Jsonb(raw.to_string()),
    })
}

impl JsonbFunc {
    /// The SQL spelling, for `EXPLAIN`.
    pub fn name(&self) -> &'static str {
        match self {
            JsonbFunc::GetPath {
                text: false,
                variadic: false,
            } => "#>",
            JsonbFunc::GetPath {
                text: true,
                variadic: false,
            } => "#>>",
            JsonbFunc::GetPath {
                text: false,
                variadic: true,
            } => "jsonb_extract_path",
            JsonbFunc::GetPath {
                text: true,
                variadic: true,
            } => "jsonb_extract_path_text",
            JsonbFunc::Contains => "@>",
            JsonbFunc::ContainedBy => "<@",
            JsonbFunc::Exists => "?",
            JsonbFunc::ExistsAny => "?|",
            JsonbFunc::ExistsAll => "?&",
            JsonbFunc::Concat => "||",
            JsonbFunc::DeleteKey | JsonbFunc::DeleteIndex | JsonbFunc::DeleteKeys => "-",
            JsonbFunc::DeletePath => "#-",
            JsonbFunc::TypeOf => "jsonb_typeof",
            JsonbFunc::ArrayLength => "jsonb_array_length",
            JsonbFunc::BuildObject => "jsonb_build_object",
            JsonbFunc::BuildArray => "jsonb_build_array",
            JsonbFunc::JsonBuildObject => "json_build_object",
            JsonbFunc::ToJsonb => "to_jsonb",
            JsonbFunc::ToJson => "to_json",
            JsonbFunc::JsonBuildArray => "json_build_array",
            JsonbFunc::RowToJson => "row_to_json",
            JsonbFunc::Json(inner) => match inner.as_ref() {
                JsonbFunc::TypeOf => "json_typeof",
                JsonbFunc::ArrayLength => "json_array_length",
                JsonbFunc::GetPath {
                    text: false,
                    variadic: true,
                } => "json_extract_path",
                JsonbFunc::GetPath {
                    text: true,
                    variadic: true,
                } => "json_extract_path_text",
                other => other.name(),
            },
            JsonbFunc::StripNulls => "jsonb_strip_nulls",
            JsonbFunc::Pretty => "jsonb_pretty",
            JsonbFunc::Set => "jsonb_set",
            JsonbFunc::Insert => "jsonb_insert",
        }
    }

    /// Applies the function to evaluated arguments. All but the builders
    /// are strict: a NULL argument gives NULL.
    pub fn eval(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        match self {
            JsonbFunc::Json(inner) => return inner.eval(args),
            JsonbFunc::BuildObject => return build_object(&args),
            JsonbFunc::JsonBuildObject => return super::json_text::build_object(&args),
            JsonbFunc::JsonBuildArray => return Ok(super::json_text::build_array(&args)),
            JsonbFunc::RowToJson => return super::json_text::build_row(&args),
            JsonbFunc::BuildArray => {
                let items = args.iter().map(to_jsonb).collect::<Result<Vec<_>, _>>()?;
                return Ok(jsonb(&JsonbValue::Array(items)));
            }
            _ => {}
        }
        if args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        let name = self.name();
        let arg = |i: usize| args.get(i).unwrap_or(&Datum::Null);
        match self {
            JsonbFunc::GetPath { text, variadic } => {
                let path = if *variadic {
                    args.iter()
                        .skip(1)
                        .map(|d| match d {
                            Datum::String(s) => Ok(Some(s.as_str())),
                            other => Err(internal(name, other)),
                        })
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    text_array(arg(1), name)?
                };
                if let Datum::Json(doc) = arg(0) {
                    return super::json::get_path(doc, &path, *text);
                }
                let stored = |_| EvalError::Internal("stored jsonb does not parse".into());
                match value::get_path(doc_text(arg(0), name)?, &path).map_err(stored)? {
                    Some(raw) => found(raw, *text),
                    None => Ok(Datum::Null),
                }
            }
            JsonbFunc::Contains => Ok(Datum::Bool(value::contains(
                &doc(arg(0), name)?,
                &doc(arg(1), name)?,
            ))),
            JsonbFunc::ContainedBy => Ok(Datum::Bool(value::contains(
                &doc(arg(1), name)?,
                &doc(arg(0), name)?,
            ))),
            JsonbFunc::Exists => match arg(1) {
                Datum::String(key) => Ok(Datum::Bool(value::exists(&doc(arg(0), name)?, key))),
                other => Err(internal(name, other)),
            },
            JsonbFunc::ExistsAny | JsonbFunc::ExistsAll => {
                let d = doc(arg(0), name)?;
                let keys = text_array(arg(1), name)?;
                let mut present = keys.iter().flatten().map(|k| value::exists(&d, k));
                Ok(Datum::Bool(if *self == JsonbFunc::ExistsAny {
                    present.any(|p| p)
                } else {
                    present.all(|p| p)
                }))
            }
            JsonbFunc::Concat => Ok(jsonb(&value::concat(
                doc(arg(0), name)?,
                doc(arg(1), name)?,
            ))),
            JsonbFunc::DeleteKey => match arg(1) {
                Datum::String(key) => Ok(jsonb(&value::delete_keys(
                    doc(arg(0), name)?,
                    &[Some(key.as_str())],
                )?)),
                other => Err(internal(name, other)),
            },
            JsonbFunc::DeleteKeys => {
                let keys = text_array(arg(1), name)?;
                Ok(jsonb(&value::delete_keys(doc(arg(0), name)?, &keys)?))
            }
            JsonbFunc::DeleteIndex => {
                let index = match arg(1) {
                    Datum::Int16(i) => i64::from(*i),
                    Datum::Int32(i) => i64::from(*i),
                    Datum::Int64(i) => *i,
                    other => return Err(internal(name, other)),
                };
                Ok(jsonb(&value::delete_index(doc(arg(0), name)?, index)?))
            }
            JsonbFunc::DeletePath => {
                let path = text_array(arg(1), name)?;
                Ok(jsonb(&value::set_path(
                    doc(arg(0), name)?,
                    &path,
                    &PathEdit::Delete,
                )?))
            }
            JsonbFunc::TypeOf => match arg(0) {
                Datum::Json(doc) => Ok(Datum::String(crate::repr::json::type_name(doc).into())),
                d => Ok(Datum::String(
                    crate::repr::json::type_name(doc_text(d, name)?).into(),
                )),
            },
            JsonbFunc::ArrayLength if matches!(arg(0), Datum::Json(_)) => match arg(0) {
                Datum::Json(doc) => super::json::array_length(doc),
                _ => Err(EvalError::Internal("unreachable".into())),
            },
            JsonbFunc::ArrayLength => match doc(arg(0), name)? {
                JsonbValue::Array(items) => i32::try_from(items.len())
                    .map(Datum::Int32)
                    .map_err(|_| EvalError::OutOfRange("integer".into())),
                JsonbValue::Object(_) => Err(invalid("cannot get array length of a non-array")),
                _ => Err(invalid("cannot get array length of a scalar")),
            },
            JsonbFunc::ToJsonb => Ok(jsonb(&to_jsonb(arg(0))?)),
            JsonbFunc::ToJson => Ok(Datum::Json(super::json_text::to_json(arg(0)))),
            JsonbFunc::StripNulls => Ok(jsonb(&value::strip_nulls(doc(arg(0), name)?))),
            JsonbFunc::Pretty => Ok(Datum::String(doc(arg(0), name)?.to_pretty())),
            JsonbFunc::Set => {
                let path = text_array(arg(1), name)?;
                let create_missing = match args.get(3) {
                    None => true,
                    Some(Datum::Bool(b)) => *b,
                    Some(other) => return Err(internal(name, other)),
                };
                let edit = PathEdit::Set {
                    value: doc(arg(2), name)?,
                    create_missing,
                };
                Ok(jsonb(&value::set_path(doc(arg(0), name)?, &path, &edit)?))
            }
            JsonbFunc::Insert => {
                let path = text_array(arg(1), name)?;
                let after = match args.get(3) {
                    None => false,
                    Some(Datum::Bool(b)) => *b,
                    Some(other) => return Err(internal(name, other)),
                };
                let edit = PathEdit::Insert {
                    value: doc(arg(2), name)?,
                    after,
                };
                Ok(jsonb(&value::set_path(doc(arg(0), name)?, &path, &edit)?))
            }
            JsonbFunc::BuildObject
            | JsonbFunc::BuildArray
            | JsonbFunc::JsonBuildObject
            | JsonbFunc::JsonBuildArray
            | JsonbFunc::RowToJson
            | JsonbFunc::Json(_) => Err(EvalError::Internal("unreachable builder".into())),
        }
    }
}

/// A `jsonb` set-returning function of one `jsonb` argument.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JsonbTableFunc {
    /// `jsonb_array_elements(doc)` (`value jsonb`) or
    /// `jsonb_array_elements_text(doc)` (`value text`, `text`).
    ArrayElements {
        /// Elements as text, as `->>` gives them.
        text: bool,
    },
    /// `jsonb_each(doc)` (`key text, value jsonb`) or `jsonb_each_text(doc)`
    /// (`key text, value text`, `text`).
    Each {
        /// Values as text, as `->>` gives them.
        text: bool,
    },
    /// `jsonb_object_keys(doc)` (one `text` column).
    ObjectKeys,
    /// The `json` version of one of the others (`json_each`,
    /// `json_array_elements_text`, ...): values are `json`, in the
    /// document's order with duplicate keys kept
    /// ([`super::json::table_rows`]).
    Json(Box<JsonbTableFunc>),
}

impl JsonbTableFunc {
    /// The function's name.
    pub fn name(&self) -> &'static str {
        match self {
            JsonbTableFunc::ArrayElements { text: false } => "jsonb_array_elements",
            JsonbTableFunc::ArrayElements { text: true } => "jsonb_array_elements_text",
            JsonbTableFunc::Each { text: false } => "jsonb_each",
            JsonbTableFunc::Each { text: true } => "jsonb_each_text",
            JsonbTableFunc::ObjectKeys => "jsonb_object_keys",
            JsonbTableFunc::Json(inner) => match **inner {
                JsonbTableFunc::ArrayElements { text: false } => "json_array_elements",
                JsonbTableFunc::ArrayElements { text: true } => "json_array_elements_text",
                JsonbTableFunc::Each { text: false } => "json_each",
                JsonbTableFunc::Each { text: true } => "json_each_text",
                _ => "json_object_keys",
            },
        }
    }

    /// The function's rows for the document `d` (none for NULL), or
    /// PostgreSQL's error for a document of the wrong shape. Objects give
    /// their members in key order, as PostgreSQL stores them.
    pub fn rows(&self, d: &Datum) -> Result<Vec<Vec<Datum>>, EvalError> {
        if d.is_null() {
            return Ok(vec![]);
        }
        if let JsonbTableFunc::Json(_) = self {
            return match d {
                Datum::Json(doc) => super::json::table_rows(doc, self.name()),
                other => Err(internal(self.name(), other)),
            };
        }
        let value = |v: &JsonbValue, text: bool| -> Result<Datum, EvalError> {
            if text {
                Ok(match v {
                    JsonbValue::Null => Datum::Null,
                    JsonbValue::String(s) => Datum::String(s.clone()),
                    other => Datum::String(other.to_text()),
                })
            } else {
                Ok(jsonb(v))
            }
        };
        let parsed = doc(d, self.name())?;
        match (self, parsed) {
            (JsonbTableFunc::ArrayElements { text }, JsonbValue::Array(items)) => {
                items.iter().map(|i| Ok(vec![value(i, *text)?])).collect()
            }
            (JsonbTableFunc::ArrayElements { .. }, JsonbValue::Object(_)) => {
                Err(invalid("cannot extract elements from an object"))
            }
            (JsonbTableFunc::ArrayElements { .. }, _) => {
                Err(invalid("cannot extract elements from a scalar"))
            }
            (JsonbTableFunc::Each { text }, JsonbValue::Object(pairs)) => pairs
                .iter()
                .map(|(k, v)| Ok(vec![Datum::String(k.clone()), value(v, *text)?]))
                .collect(),
            (JsonbTableFunc::Each { .. }, _) => Err(invalid(format!(
                "cannot call {} on a non-object",
                self.name()
            ))),
            (JsonbTableFunc::ObjectKeys, JsonbValue::Object(pairs)) => Ok(pairs
                .into_iter()
                .map(|(k, _)| vec![Datum::String(k)])
                .collect()),
            (JsonbTableFunc::ObjectKeys, JsonbValue::Array(_)) => {
                Err(invalid("cannot call jsonb_object_keys on an array"))
            }
            (JsonbTableFunc::ObjectKeys, _) => {
                Err(invalid("cannot call jsonb_object_keys on a scalar"))
            }
            (JsonbTableFunc::Json(_), _) => Err(EvalError::Internal("unreachable".into())),
        }
    }

    /// The output columns: names and types.
    pub fn columns(&self) -> Vec<(&'static str, crate::repr::ScalarType)> {
        use crate::repr::ScalarType as T;
        match self {
            JsonbTableFunc::ArrayElements { text: false } => vec![("value", T::Jsonb)],
            JsonbTableFunc::ArrayElements { text: true } => vec![("value", T::Text)],
            JsonbTableFunc::Each { text: false } => vec![("key", T::Text), ("value", T::Jsonb)],
            JsonbTableFunc::Each { text: true } => vec![("key", T::Text), ("value", T::Text)],
            JsonbTableFunc::ObjectKeys => vec![("jsonb_object_keys", T::Text)],
            JsonbTableFunc::Json(inner) => match **inner {
                JsonbTableFunc::ObjectKeys => vec![("json_object_keys", T::Text)],
                ref other => other
                    .columns()
                    .into_iter()
                    .map(|(n, t)| (n, if t == T::Jsonb { T::Json } else { t }))
                    .collect(),
            },
        }
    }

    /// The function called `name`, if it is one of these.
    pub fn from_name(name: &str) -> Option<JsonbTableFunc> {
        Some(match name {
            "jsonb_array_elements" => JsonbTableFunc::ArrayElements { text: false },
            "jsonb_array_elements_text" => JsonbTableFunc::ArrayElements { text: true },
            "jsonb_each" => JsonbTableFunc::Each { text: false },
            "jsonb_each_text" => JsonbTableFunc::Each { text: true },
            "jsonb_object_keys" => JsonbTableFunc::ObjectKeys,
            other => {
                let rest = other.strip_prefix("json_")?;
                let inner = JsonbTableFunc::from_name(&format!("jsonb_{rest}"))?;
                JsonbTableFunc::Json(Box::new(inner))
            }
        })
    }
}

/// An object key from a value: its text output (`true`/`false` for
/// booleans), as PostgreSQL's `jsonb_build_object` and
/// `jsonb_object_agg` make it.
fn key_text(d: &Datum, null_message: impl FnOnce() -> String) -> Result<String, EvalError> {
    match d {
        Datum::Null => Err(invalid(null_message())),
        Datum::Bool(b) => Ok(if *b { "true" } else { "false" }.into()),
        Datum::Array(_) | Datum::Jsonb(_) | Datum::Json(_) => Err(invalid(
            "key value must be scalar, not array, composite, or json",
        )),
        other => Ok(strconv::format(other).unwrap_or_default()),
    }
}

fn build_object(args: &[Datum]) -> Result<Datum, EvalError> {
    if !args.len().is_multiple_of(2) {
        return Err(invalid("argument list must have even number of elements"));
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for (i, pair) in args.chunks(2).enumerate() {
        let (Some(k), Some(v)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let key = key_text(k, || {
            format!("argument {}: key must not be null", 2 * i + 1)
        })?;
        pairs.push((key, to_jsonb(v)?));
    }
    Ok(jsonb(&JsonbValue::Object(value::normalize_object(pairs))))
}

/// A number from its text (any form JSON allows), as `jsonb` stores it.
fn number(text: &str) -> Result<JsonbValue, EvalError> {
    Ok(JsonbValue::parse(&strconv::canonical_jsonb(text)?)?)
}

/// PostgreSQL's JSON form of a timestamp: ISO 8601 with a `T`, and the
/// offset as `+HH:MM`.
pub(crate) fn json_timestamp(text: String) -> String {
    let mut s = text.replacen(' ', "T", 1);
    if let Some(pos) = s.rfind(['+', '-'])
        && pos > 10
        && s.get(pos + 1..)
            .is_some_and(|z| z.len() >= 2 && !z.contains(':'))
    {
        let zone_end = s
            .get(pos + 1..)
            .and_then(|z| z.find(' '))
            .map_or(s.len(), |e| pos + 1 + e);
        if zone_end == pos + 3 {
            s.insert_str(zone_end, ":00");
        }
    }
    s
}

/// `to_jsonb(x)`: numbers (finite ones) as numbers, booleans, NULL as
/// `null`, arrays as arrays, `jsonb` as itself, anything else as the
/// string of its text output (dates and times in ISO 8601 form).
pub fn to_jsonb(d: &Datum) -> Result<JsonbValue, EvalError> {
    let text = |d: &Datum| strconv::format(d).unwrap_or_default();
    Ok(match d {
        Datum::Null => JsonbValue::Null,
        Datum::Bool(b) => JsonbValue::Bool(*b),
        Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_) => JsonbValue::Number(text(d)),
        Datum::Float32(f) if f.0.is_finite() => number(&text(d))?,
        Datum::Float64(f) if f.0.is_finite() => number(&text(d))?,
        Datum::Numeric(_) => number(&text(d))?,
        Datum::String(s) => JsonbValue::String(s.clone()),
        Datum::Timestamp(_) | Datum::TimestampTz(_) => JsonbValue::String(json_timestamp(text(d))),
        Datum::Jsonb(s) => JsonbValue::parse(s)?,
        Datum::Json(s) => JsonbValue::parse(&strconv::canonical_jsonb(s)?)?,
        Datum::Array(items) => {
            JsonbValue::Array(items.iter().map(to_jsonb).collect::<Result<_, _>>()?)
        }
        _ => JsonbValue::String(text(d)),
    })
}

/// `jsonb_agg(x [ORDER BY ...])` over a group: the aggregate's inputs in
/// [`super::array::sort_aggregate_inputs`]'s order, each converted as
/// [`to_jsonb`] does; NULL for no rows.
pub fn jsonb_agg(values: &[(&[Datum], Diff)], order: &[(bool, bool)]) -> Result<Datum, EvalError> {
    if values.is_empty() {
        return Ok(Datum::Null);
    }
    let mut items = Vec::new();
    for (v, d) in super::array::sort_aggregate_inputs(values, order, 1) {
        let item = to_jsonb(v.first().unwrap_or(&Datum::Null))?;
        for _ in 0..*d {
            items.push(item.clone());
        }
    }
    Ok(jsonb(&JsonbValue::Array(items)))
}

/// `jsonb_object_agg(key, value [ORDER BY ...])` over a group: one member
/// per input (of duplicate keys the last wins); NULL for no rows.
pub fn jsonb_object_agg(
    values: &[(&[Datum], Diff)],
    order: &[(bool, bool)],
) -> Result<Datum, EvalError> {
    if values.is_empty() {
        return Ok(Datum::Null);
    }
    let mut pairs = Vec::new();
    for (v, _) in super::array::sort_aggregate_inputs(values, order, 2) {
        let key = key_text(v.first().unwrap_or(&Datum::Null), || {
            "field name must not be null".into()
        })?;
        pairs.push((key, to_jsonb(v.get(1).unwrap_or(&Datum::Null))?));
    }
    Ok(jsonb(&JsonbValue::Object(value::normalize_object(pairs))))
}

/// Compares two stored documents with PostgreSQL's `jsonb` ordering; equal
/// text is equal without parsing.
pub fn compare(a: &str, b: &str) -> Result<Ordering, EvalError> {
    if a == b {
        return Ok(Ordering::Equal);
    }
    Ok(value::compare(
        &JsonbValue::parse(a)?,
        &JsonbValue::parse(b)?,
    ))
}

/// A cast of a `jsonb` value to `boolean` or a number type, as PostgreSQL
/// casts them (`'1.5'::jsonb::int` is 2): the value must be a JSON boolean
/// or number respectively (else `22023`, "cannot cast jsonb string to type
/// integer"); a number converts as its `numeric` would, a `real` or
/// `double precision` from its digits. `None` for other target types.
pub fn cast_to_scalar(doc: &str, to: &crate::repr::ScalarType) -> Option<Result<Datum, EvalError>> {
    use crate::repr::ScalarType as T;
    let text = doc.trim();
    let kind = crate::repr::json::type_name(text);
    let wrong = || {
        Err(EvalError::InvalidParameter(format!(
            "cannot cast jsonb {kind} to type {}",
            to.name()
        )))
    };
    Some(match to {
        T::Bool => match text {
            "true" => Ok(Datum::Bool(true)),
            "false" => Ok(Datum::Bool(false)),
            _ => wrong(),
        },
        T::Float32 | T::Float64 if kind == "number" => strconv::parse(text, to).map_err(Into::into),
        T::Int16 | T::Int32 | T::Int64 | T::Numeric { .. } if kind == "number" => {
            let numeric = T::Numeric {
                precision: None,
                scale: None,
            };
            strconv::parse(text, &numeric)
                .map_err(EvalError::from)
                .and_then(|n| super::func::cast(n, to))
        }
        T::Float32 | T::Float64 | T::Int16 | T::Int32 | T::Int64 | T::Numeric { .. } => wrong(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::OrdF64;

    fn j(text: &str) -> Datum {
        Datum::Jsonb(strconv::canonical_jsonb(text).expect("valid"))
    }

    fn text(d: Result<Datum, EvalError>) -> String {
        match d {
            Ok(Datum::Jsonb(s)) | Ok(Datum::String(s)) => s,
            other => format!("{other:?}"),
        }
    }

    /// Expected answers from PostgreSQL 15.
    #[test]
    fn to_jsonb_is_postgres() {
        for (d, want) in [
            (Datum::Int32(1), "1"),
            (Datum::String("a\"b\\c".into()), r#""a\"b\\c""#),
            (Datum::Bool(true), "true"),
            (Datum::Float64(OrdF64(1.5)), "1.5"),
            (Datum::Float64(OrdF64(f64::INFINITY)), r#""Infinity""#),
            (Datum::Float64(OrdF64(1e20)), "100000000000000000000"),
            (
                Datum::Array(vec![Datum::Int32(1), Datum::Null]),
                "[1, null]",
            ),
            (
                Datum::Timestamp(1_577_934_245_500_000),
                r#""2020-01-02T03:04:05.5""#,
            ),
            (
                Datum::TimestampTz(1_577_934_245_000_000),
                r#""2020-01-02T03:04:05+00:00""#,
            ),
            (Datum::Date(18263), r#""2020-01-02""#),
            (Datum::Bytes(vec![1, 2]), r#""\\x0102""#),
        ] {
            assert_eq!(
                to_jsonb(&d).map(|v| v.to_text()),
                Ok(want.to_string()),
                "{d:?}"
            );
        }
    }

    #[test]
    fn builders_and_errors() {
        let build = |args: Vec<Datum>| text(JsonbFunc::BuildObject.eval(args));
        assert_eq!(
            build(vec![
                Datum::String("b".into()),
                Datum::Int32(1),
                Datum::Bool(true),
                Datum::Null,
                Datum::Int32(3),
                j("{\"z\": 1}"),
            ]),
            r#"{"3": {"z": 1}, "b": 1, "true": null}"#
        );
        assert_eq!(
            JsonbFunc::BuildObject
                .eval(vec![Datum::Null, Datum::Int32(1)])
                .map_err(|e| (e.code().as_str().to_string(), e.to_string())),
            Err(("22023".into(), "argument 1: key must not be null".into()))
        );
        assert_eq!(
            JsonbFunc::ArrayLength
                .eval(vec![j("1")])
                .map_err(|e| e.to_string()),
            Err("cannot get array length of a scalar".into())
        );
        assert_eq!(text(JsonbFunc::TypeOf.eval(vec![j("1.5")])), "number");
        assert_eq!(
            JsonbFunc::Contains.eval(vec![j("[1]"), Datum::Null]),
            Ok(Datum::Null)
        );
    }

    /// Expected answers from PostgreSQL 15.
    #[test]
    fn set_returning_functions() {
        let rows = |f: JsonbTableFunc, d: &str| {
            f.rows(&j(d))
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            r.iter()
                                .map(|d| strconv::format(d).unwrap_or_else(|| "NULL".into()))
                                .collect::<Vec<_>>()
                                .join("|")
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            rows(
                JsonbTableFunc::ArrayElements { text: true },
                r#"[1,"a",null,{"b":2}]"#
            ),
            Ok(vec![
                "1".into(),
                "a".into(),
                "NULL".into(),
                r#"{"b": 2}"#.into()
            ])
        );
        assert_eq!(
            rows(JsonbTableFunc::Each { text: false }, r#"{"b":1,"a":"x"}"#),
            Ok(vec![r#"a|"x""#.into(), "b|1".into()])
        );
        assert_eq!(
            rows(JsonbTableFunc::ArrayElements { text: false }, r#"{"a":1}"#),
            Err("cannot extract elements from an object".into())
        );
        assert_eq!(
            rows(JsonbTableFunc::Each { text: true }, "1"),
            Err("cannot call jsonb_each_text on a non-object".into())
        );
        assert_eq!(
            rows(JsonbTableFunc::ObjectKeys, "[1]"),
            Err("cannot call jsonb_object_keys on an array".into())
        );
        assert_eq!(JsonbTableFunc::ObjectKeys.rows(&Datum::Null), Ok(vec![]));
    }

    #[test]
    fn paths_and_aggregates() {
        let path = |d: &str, steps: &[&str], as_text: bool| {
            text(
                JsonbFunc::GetPath {
                    text: as_text,
                    variadic: false,
                }
                .eval(vec![
                    j(d),
                    Datum::Array(steps.iter().map(|s| Datum::String(s.to_string())).collect()),
                ]),
            )
        };
        assert_eq!(
            path(r#"{"a":{"b":["x"]}}"#, &["a", "b", "0"], false),
            r#""x""#
        );
        assert_eq!(path(r#"{"a":{"b":["x"]}}"#, &["a", "b", "0"], true), "x");
        assert_eq!(path(r#""s""#, &[], true), "s");
        let rows: Vec<Vec<Datum>> = vec![
            vec![Datum::Int32(3)],
            vec![Datum::Null],
            vec![Datum::Int32(1)],
        ];
        let values: Vec<(&[Datum], Diff)> = rows.iter().map(|r| (r.as_slice(), 1)).collect();
        assert_eq!(text(jsonb_agg(&values, &[])), "[1, 3, null]");
        let pairs: Vec<Vec<Datum>> = vec![
            vec![Datum::String("b".into()), Datum::Null],
            vec![Datum::String("a".into()), Datum::Int32(1)],
        ];
        let values: Vec<(&[Datum], Diff)> = pairs.iter().map(|r| (r.as_slice(), 1)).collect();
        assert_eq!(
            text(jsonb_object_agg(&values, &[])),
            r#"{"a": 1, "b": null}"#
        );
    }
}
