//! One-dimensional arrays: PostgreSQL's comparison of arrays, the array
//! functions and operators ([`ArrayFunc`]), `unnest` ([`unnest_rows`]),
//! `array_agg` ([`array_agg`]), and the bridge to Arrow lists (DataFusion's
//! representation of arrays).

use std::cmp::Ordering;

use datafusion_common::ScalarValue;
use datafusion_common::arrow::array::Array as _;
use datafusion_common::arrow::datatypes::DataType;

use crate::repr::{Datum, Diff, Row, SqlState, strconv};

use super::EvalError;
use super::func::{self, BinaryFunc};

/// PostgreSQL's `array_cmp` for one-dimensional arrays: element by element
/// (a NULL element equals a NULL and sorts after every other value), then
/// the shorter array first. So `ARRAY[1, NULL] = ARRAY[1, NULL]` is true.
pub fn compare_arrays(a: &[Datum], b: &[Datum]) -> Result<Ordering, EvalError> {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => func::compare(x, y)?,
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(a.len().cmp(&b.len()))
}

/// The array functions and operators Freshet evaluates itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ArrayFunc {
    /// `ARRAY[a, b, ...]`.
    Construct,
    /// `a[i]`: NULL where `i` is out of range.
    Subscript,
    /// `a[lo:hi]` (either bound may be missing: `has_lower`/`has_upper`
    /// say which arguments follow the array).
    Slice {
        /// The lower bound is given (as the second argument).
        has_lower: bool,
        /// The upper bound is given (as the last argument).
        has_upper: bool,
    },
    /// `array_length(a, dim)`.
    Length,
    /// `cardinality(a)`.
    Cardinality,
    /// `array_dims(a)`: `[1:n]` as `text`.
    Dims,
    /// The subscripts of `a`'s dimension `dim` (`a, dim, reverse, lower`):
    /// `generate_subscripts(a, dim[, reverse])` is `unnest` of this array
    /// (with `lower` 1), so that it zips with other `unnest` calls in a
    /// select list as PostgreSQL's set-returning functions do; `lower` 0
    /// numbers the catalog's `int2vector`/`oidvector` columns from 0, as
    /// PostgreSQL does.
    Subscripts,
    /// `array_to_string(a, delimiter[, null_string])`.
    ToString,
    /// `string_to_array(s, delimiter[, null_string])`.
    StringToArray,
    /// `array_position(a, x)`.
    Position,
    /// `array_positions(a, x)`: every position of `x` (as `IS NOT
    /// DISTINCT FROM`).
    Positions,
    /// `array_remove(a, x)`: `a` without the elements equal to `x`.
    Remove,
    /// `array_replace(a, x, y)`: `a` with each element equal to `x` made `y`.
    Replace,
    /// `array_fill(x, dims[, lower_bounds])`, of one dimension.
    Fill,
    /// `array_append(a, x)`.
    Append,
    /// `array_prepend(x, a)`.
    Prepend,
    /// `array_cat(a, b)` and `a || b` on arrays.
    Cat,
    /// `a @> b` (and `b <@ a`): every element of `b` is equal to one of
    /// `a`'s. A NULL element is equal to nothing, as in PostgreSQL.
    Contains,
    /// `a && b`: an element of `a` is equal to one of `b`'s.
    Overlap,
    /// `x <op> ANY (a)` (`all: false`) or `x <op> ALL (a)` (`all: true`).
    Quantified {
        /// The comparison.
        op: BinaryFunc,
        /// `ALL` rather than `ANY`.
        all: bool,
    },
}

impl ArrayFunc {
    /// The SQL spelling, for `EXPLAIN`.
    pub fn name(&self) -> String {
        match self {
            ArrayFunc::Construct => "array".into(),
            ArrayFunc::Subscript => "subscript".into(),
            ArrayFunc::Slice { .. } => "slice".into(),
            ArrayFunc::Length => "array_length".into(),
            ArrayFunc::Cardinality => "cardinality".into(),
            ArrayFunc::Dims => "array_dims".into(),
            ArrayFunc::Subscripts => "generate_subscripts".into(),
            ArrayFunc::ToString => "array_to_string".into(),
            ArrayFunc::StringToArray => "string_to_array".into(),
            ArrayFunc::Position => "array_position".into(),
            ArrayFunc::Positions => "array_positions".into(),
            ArrayFunc::Remove => "array_remove".into(),
            ArrayFunc::Replace => "array_replace".into(),
            ArrayFunc::Fill => "array_fill".into(),
            ArrayFunc::Append => "array_append".into(),
            ArrayFunc::Prepend => "array_prepend".into(),
            ArrayFunc::Cat => "array_cat".into(),
            ArrayFunc::Contains => "@>".into(),
            ArrayFunc::Overlap => "&&".into(),
            ArrayFunc::Quantified { op, all } => {
                format!("{} {}", op.symbol(), if *all { "ALL" } else { "ANY" })
            }
        }
    }

    /// Applies the function to evaluated arguments.
    pub fn eval(&self, mut args: Vec<Datum>) -> Result<Datum, EvalError> {
        let arity = |n: std::ops::RangeInclusive<usize>, args: &[Datum]| {
            if n.contains(&args.len()) {
                Ok(())
            } else {
                Err(EvalError::Internal(format!(
                    "{} called with {} arguments",
                    self.name(),
                    args.len()
                )))
            }
        };
        match self {
            ArrayFunc::Construct => {
                if args.iter().any(|a| matches!(a, Datum::Array(_))) {
                    return Err(multidimensional());
                }
                Ok(Datum::Array(args))
            }
            ArrayFunc::Subscript => {
                arity(2..=2, &args)?;
                let index = args.pop().unwrap_or_default();
                let array = args.pop().unwrap_or_default();
                let (Datum::Array(elements), Some(i)) = (array, as_index(&index)?) else {
                    return Ok(Datum::Null);
                };
                Ok(usize::try_from(i - 1)
                    .ok()
                    .and_then(|i| elements.into_iter().nth(i))
                    .unwrap_or(Datum::Null))
            }
            ArrayFunc::Slice {
                has_lower,
                has_upper,
            } => {
                let mut it = args.into_iter();
                let array = it.next().unwrap_or_default();
                let lower = if *has_lower {
                    match as_index(&it.next().unwrap_or_default())? {
                        Some(i) => Some(i),
                        None => return Ok(Datum::Null),
                    }
                } else {
                    None
                };
                let upper = if *has_upper {
                    match as_index(&it.next().unwrap_or_default())? {
                        Some(i) => Some(i),
                        None => return Ok(Datum::Null),
                    }
                } else {
                    None
                };
                let Datum::Array(elements) = array else {
                    return Ok(Datum::Null);
                };
                let n = elements.len() as i64;
                let lo = lower.unwrap_or(1).max(1);
                let hi = upper.unwrap_or(n).min(n);
                if lo > hi {
                    return Ok(Datum::Array(vec![]));
                }
                Ok(Datum::Array(
                    elements
                        .into_iter()
                        .skip((lo - 1) as usize)
                        .take((hi - lo + 1) as usize)
                        .collect(),
                ))
            }
            ArrayFunc::Length => {
                arity(2..=2, &args)?;
                let (Datum::Array(elements), Some(dim)) = (&args[0], as_index(&args[1])?) else {
                    return Ok(Datum::Null);
                };
                // An empty array has no dimensions at all.
                if dim != 1 || elements.is_empty() {
                    return Ok(Datum::Null);
                }
                Ok(Datum::Int32(elements.len() as i32))
            }
            ArrayFunc::Cardinality => {
                arity(1..=1, &args)?;
                match &args[0] {
                    Datum::Array(elements) => Ok(Datum::Int32(elements.len() as i32)),
                    _ => Ok(Datum::Null),
                }
            }
            // Freshet's arrays have one dimension, from 1; an empty one
            // has none (NULL).
            ArrayFunc::Dims => {
                arity(1..=1, &args)?;
                match &args[0] {
                    Datum::Array(elements) if !elements.is_empty() => {
                        Ok(Datum::String(format!("[1:{}]", elements.len())))
                    }
                    _ => Ok(Datum::Null),
                }
            }
            ArrayFunc::Subscripts => {
                arity(4..=4, &args)?;
                let (Datum::Array(elements), Some(dim), Some(lower)) =
                    (&args[0], as_index(&args[1])?, as_index(&args[3])?)
                else {
                    return Ok(Datum::Null);
                };
                // A missing dimension (and an empty array, which has
                // none) has no subscripts: no rows.
                if dim != 1 || elements.is_empty() {
                    return Ok(Datum::Array(Vec::new()));
                }
                let n = elements.len() as i64;
                let mut subscripts: Vec<Datum> =
                    (lower..lower + n).map(|i| Datum::Int32(i as i32)).collect();
                if matches!(args[2], Datum::Bool(true)) {
                    subscripts.reverse();
                }
                Ok(Datum::Array(subscripts))
            }
            ArrayFunc::ToString => {
                arity(2..=3, &args)?;
                let (Datum::Array(elements), Datum::String(delimiter)) = (&args[0], &args[1])
                else {
                    return Ok(Datum::Null);
                };
                let null_string = match args.get(2) {
                    Some(Datum::String(s)) => Some(s.as_str()),
                    _ => None,
                };
                let mut out = String::new();
                let mut first = true;
                for e in elements {
                    let text = match strconv::format(e) {
                        Some(t) => t,
                        None => match null_string {
                            Some(n) => n.to_string(),
                            None => continue,
                        },
                    };
                    if !first {
                        out.push_str(delimiter);
                    }
                    first = false;
                    out.push_str(&text);
                }
                Ok(Datum::String(out))
            }
            ArrayFunc::StringToArray => {
                arity(2..=3, &args)?;
                let Datum::String(s) = &args[0] else {
                    return Ok(Datum::Null);
                };
                let null_string = match args.get(2) {
                    Some(Datum::String(n)) => Some(n.as_str()),
                    _ => None,
                };
                if s.is_empty() {
                    return Ok(Datum::Array(vec![]));
                }
                let parts: Vec<&str> = match &args[1] {
                    // A NULL delimiter splits into characters.
                    Datum::Null => s
                        .char_indices()
                        .map(|(i, c)| &s[i..i + c.len_utf8()])
                        .collect(),
                    Datum::String(d) if d.is_empty() => vec![s.as_str()],
                    Datum::String(d) => s.split(d.as_str()).collect(),
                    other => return Err(unexpected("string_to_array", other)),
                };
                Ok(Datum::Array(
                    parts
                        .into_iter()
                        .map(|p| {
                            if Some(p) == null_string {
                                Datum::Null
                            } else {
                                Datum::String(p.to_string())
                            }
                        })
                        .collect(),
                ))
            }
            ArrayFunc::Position => {
                arity(2..=3, &args)?;
                // `array_position(a, x, start)`: from `start` (1-based).
                let start = match args.get(2) {
                    None => 1,
                    Some(Datum::Null) => {
                        return Err(EvalError::Parse {
                            code: SqlState::NULL_VALUE_NOT_ALLOWED,
                            message: "initial position must not be null".into(),
                        });
                    }
                    Some(d) => as_index(d)?.unwrap_or(1),
                };
                let Datum::Array(elements) = &args[0] else {
                    return Ok(Datum::Null);
                };
                let skip = usize::try_from(start.max(1) - 1).unwrap_or(usize::MAX);
                for (i, e) in elements.iter().enumerate().skip(skip) {
                    if not_distinct(e, &args[1])? {
                        return Ok(Datum::Int32(i as i32 + 1));
                    }
                }
                Ok(Datum::Null)
            }
            ArrayFunc::Positions => {
                arity(2..=2, &args)?;
                let Datum::Array(elements) = &args[0] else {
                    return Ok(Datum::Null);
                };
                let mut out = Vec::new();
                for (i, e) in elements.iter().enumerate() {
                    if not_distinct(e, &args[1])? {
                        out.push(Datum::Int32(i as i32 + 1));
                    }
                }
                Ok(Datum::Array(out))
            }
            ArrayFunc::Remove | ArrayFunc::Replace => {
                arity(
                    if *self == ArrayFunc::Remove {
                        2..=2
                    } else {
                        3..=3
                    },
                    &args,
                )?;
                let replacement = (args.len() == 3).then(|| args.pop().unwrap_or_default());
                let x = args.pop().unwrap_or_default();
                let Datum::Array(elements) = args.pop().unwrap_or_default() else {
                    return Ok(Datum::Null);
                };
                let mut out = Vec::with_capacity(elements.len());
                for e in elements {
                    if !not_distinct(&e, &x)? {
                        out.push(e);
                    } else if let Some(r) = &replacement {
                        out.push(r.clone());
                    }
                }
                Ok(Datum::Array(out))
            }
            ArrayFunc::Fill => {
                arity(2..=3, &args)?;
                let null_bounds = || EvalError::Parse {
                    code: SqlState::NULL_VALUE_NOT_ALLOWED,
                    message: "dimension array or low bound array cannot be null".into(),
                };
                let ints = |d: &Datum| -> Result<Vec<i64>, EvalError> {
                    let Datum::Array(items) = d else {
                        return Err(null_bounds());
                    };
                    items
                        .iter()
                        .map(|i| {
                            as_index(i)?.ok_or_else(|| EvalError::Parse {
                                code: SqlState::NULL_VALUE_NOT_ALLOWED,
                                message: "dimension values cannot be null".into(),
                            })
                        })
                        .collect()
                };
                let dims = ints(&args[1])?;
                if let Some(bounds) = args.get(2) {
                    let bounds = ints(bounds)?;
                    if bounds.len() != dims.len() {
                        return Err(EvalError::Parse {
                            code: SqlState(*b"2202E"),
                            message: "wrong number of array subscripts".into(),
                        });
                    }
                    if bounds.iter().any(|b| *b != 1) {
                        return Err(EvalError::Unsupported(
                            "arrays with a lower bound other than 1".into(),
                        ));
                    }
                }
                match dims.as_slice() {
                    [] => Ok(Datum::Array(vec![])),
                    [n] if (0..=134_217_727).contains(n) => {
                        Ok(Datum::Array(vec![args[0].clone(); *n as usize]))
                    }
                    [_] => Err(EvalError::Parse {
                        code: SqlState(*b"54000"),
                        message: "array size exceeds the maximum allowed (134217727)".into(),
                    }),
                    _ => Err(multidimensional()),
                }
            }
            ArrayFunc::Append | ArrayFunc::Prepend => {
                arity(2..=2, &args)?;
                let (array, x) = if *self == ArrayFunc::Append {
                    (args.swap_remove(0), args.pop().unwrap_or_default())
                } else {
                    let x = args.swap_remove(0);
                    (args.pop().unwrap_or_default(), x)
                };
                if matches!(x, Datum::Array(_)) {
                    return Err(multidimensional());
                }
                let mut elements = match array {
                    Datum::Array(e) => e,
                    Datum::Null => vec![],
                    other => return Err(unexpected(&self.name(), &other)),
                };
                if *self == ArrayFunc::Append {
                    elements.push(x);
                } else {
                    elements.insert(0, x);
                }
                Ok(Datum::Array(elements))
            }
            ArrayFunc::Cat => {
                arity(2..=2, &args)?;
                let b = args.pop().unwrap_or_default();
                let a = args.pop().unwrap_or_default();
                Ok(match (a, b) {
                    (Datum::Null, Datum::Null) => Datum::Null,
                    (Datum::Array(a), Datum::Null) => Datum::Array(a),
                    (Datum::Null, Datum::Array(b)) => Datum::Array(b),
                    (Datum::Array(mut a), Datum::Array(b)) => {
                        a.extend(b);
                        Datum::Array(a)
                    }
                    (other, _) => return Err(unexpected("array_cat", &other)),
                })
            }
            ArrayFunc::Contains | ArrayFunc::Overlap => {
                arity(2..=2, &args)?;
                let (Datum::Array(a), Datum::Array(b)) = (&args[0], &args[1]) else {
                    return Ok(Datum::Null);
                };
                let found = |x: &Datum| -> Result<bool, EvalError> {
                    if x.is_null() {
                        return Ok(false);
                    }
                    for y in a {
                        if !y.is_null()
                            && BinaryFunc::Eq.eval(x.clone(), y.clone())? == Datum::Bool(true)
                        {
                            return Ok(true);
                        }
                    }
                    Ok(false)
                };
                let mut out = *self == ArrayFunc::Contains;
                for x in b {
                    if found(x)? != out {
                        out = !out;
                        break;
                    }
                }
                Ok(Datum::Bool(out))
            }
            ArrayFunc::Quantified { op, all } => {
                arity(2..=2, &args)?;
                let Datum::Array(elements) = &args[1] else {
                    return Ok(Datum::Null);
                };
                // Over no elements, ANY is false and ALL true, whatever
                // the left operand.
                if elements.is_empty() {
                    return Ok(Datum::Bool(*all));
                }
                let x = &args[0];
                if x.is_null() {
                    return Ok(Datum::Null);
                }
                let mut saw_null = false;
                for e in elements {
                    match op.eval(x.clone(), e.clone())? {
                        Datum::Bool(b) if b != *all => return Ok(Datum::Bool(b)),
                        Datum::Bool(_) => {}
                        _ => saw_null = true,
                    }
                }
                Ok(if saw_null {
                    Datum::Null
                } else {
                    Datum::Bool(*all)
                })
            }
        }
    }
}

/// `a IS NOT DISTINCT FROM b` of two elements (a NULL finds a NULL).
fn not_distinct(a: &Datum, b: &Datum) -> Result<bool, EvalError> {
    Ok(match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => func::compare(a, b)? == Ordering::Equal,
        _ => false,
    })
}

fn multidimensional() -> EvalError {
    EvalError::Unsupported("multidimensional arrays".into())
}

fn unexpected(what: &str, d: &Datum) -> EvalError {
    EvalError::Internal(format!("{what} applied to unexpected value {d:?}"))
}

/// A subscript's value; `None` for NULL.
fn as_index(d: &Datum) -> Result<Option<i64>, EvalError> {
    Ok(match d {
        Datum::Null => None,
        Datum::Int16(v) => Some(*v as i64),
        Datum::Int32(v) => Some(*v as i64),
        Datum::Int64(v) => Some(*v),
        other => return Err(unexpected("array subscript", other)),
    })
}

/// `unnest(a, b, ...)` on one input row: the row followed by the `i`-th
/// element of each array, for each `i` up to the longest array's length
/// (shorter arrays padded with NULL), as PostgreSQL runs several
/// set-returning functions side by side. A NULL array counts as empty, so
/// `unnest(NULL)` and `unnest('{}')` produce no rows.
pub fn unnest_rows(args: &[Datum], row: &Row) -> Vec<Result<Row, EvalError>> {
    let mut len = 0;
    for a in args {
        match a {
            Datum::Array(elements) => len = len.max(elements.len()),
            Datum::Null => {}
            other => return vec![Err(unexpected("unnest", other))],
        }
    }
    (0..len)
        .map(|i| {
            let tail: Vec<Datum> = args
                .iter()
                .map(|a| match a {
                    Datum::Array(elements) => elements.get(i).cloned().unwrap_or(Datum::Null),
                    _ => Datum::Null,
                })
                .collect();
            Ok(row.concat(&Row::new(tail)))
        })
        .collect()
}

/// [`unnest_rows`], keeping a row whose arrays give no element: it is
/// followed by NULLs (`LEFT JOIN LATERAL unnest(...) ON true`).
pub fn unnest_rows_outer(args: &[Datum], row: &Row) -> Vec<Result<Row, EvalError>> {
    let rows = unnest_rows(args, row);
    if rows.is_empty() {
        vec![Ok(row.concat(&Row::new(vec![Datum::Null; args.len()])))]
    } else {
        rows
    }
}

/// The inputs of an aggregate with `ORDER BY` in the order its result
/// lists them: each row holds the aggregate's `values` arguments, then its
/// `ORDER BY` keys (`order` holds each key's `ASC`, `NULLS FIRST`); rows
/// equal in the keys (or without keys) follow in value order, so that
/// one-shot and maintained results agree where PostgreSQL leaves the order
/// unspecified.
pub fn sort_aggregate_inputs<'a>(
    values: &'a [(&'a [Datum], Diff)],
    order: &[(bool, bool)],
    arguments: usize,
) -> Vec<&'a (&'a [Datum], Diff)> {
    let mut sorted: Vec<&(&[Datum], Diff)> = values.iter().collect();
    let cmp_nullable = |x: &Datum, y: &Datum, asc: bool, nulls_first: bool| -> Ordering {
        match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if nulls_first => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if nulls_first => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let o = func::compare(x, y).unwrap_or_else(|_| x.cmp(y));
                if asc { o } else { o.reverse() }
            }
        }
    };
    sorted.sort_by(|(a, _), (b, _)| {
        for (k, (asc, nulls_first)) in order.iter().enumerate() {
            let x = a.get(k + arguments).unwrap_or(&Datum::Null);
            let y = b.get(k + arguments).unwrap_or(&Datum::Null);
            let o = cmp_nullable(x, y, *asc, *nulls_first);
            if o != Ordering::Equal {
                return o;
            }
        }
        for k in 0..arguments {
            let x = a.get(k).unwrap_or(&Datum::Null);
            let y = b.get(k).unwrap_or(&Datum::Null);
            let o = cmp_nullable(x, y, true, false);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    sorted
}

/// `array_agg(x [ORDER BY k1, k2, ...])` over a group: each input is `[x,
/// k1, k2, ...]` with its multiplicity; `order` gives each key's
/// (`ASC`, `NULLS FIRST`). NULL values are kept; no input is NULL.
///
/// A group's values reach the aggregate in no meaningful order, so the
/// result is made deterministic: by the `ORDER BY` keys, then (for ties and
/// without `ORDER BY`) by the values themselves, ascending with NULLs last.
/// One-shot queries and maintained views compute the same array.
pub fn array_agg(values: &[(&[Datum], Diff)], order: &[(bool, bool)]) -> Result<Datum, EvalError> {
    if values.is_empty() {
        return Ok(Datum::Null);
    }
    let sorted = sort_aggregate_inputs(values, order, 1);
    let mut out = Vec::new();
    for (v, d) in sorted {
        let x = v.first().cloned().unwrap_or(Datum::Null);
        if matches!(x, Datum::Array(_)) {
            return Err(multidimensional());
        }
        for _ in 0..*d {
            out.push(x.clone());
        }
    }
    Ok(Datum::Array(out))
}

/// An array as an Arrow list scalar of type `t` (for a DataFusion function).
pub fn list_scalar(elements: &[Datum], t: &DataType) -> Result<ScalarValue, EvalError> {
    let elem_type = match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().clone()
        }
        // The caller casts the list to `t` afterwards.
        _ => DataType::Utf8,
    };
    let values = elements
        .iter()
        .map(|e| func::datum_to_scalar(e, &elem_type))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, &elem_type,
    )))
}

/// An Arrow list scalar (not NULL) as an array.
pub fn list_datum(s: &ScalarValue) -> Result<Datum, EvalError> {
    let values = match s {
        ScalarValue::List(a) => a.value(0),
        ScalarValue::LargeList(a) => a.value(0),
        ScalarValue::FixedSizeList(a) => a.value(0),
        other => return Err(EvalError::Internal(format!("{other:?} is not a list"))),
    };
    let mut out = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        let v = ScalarValue::try_from_array(&values, i)
            .map_err(|e| EvalError::Internal(e.to_string()))?;
        let d = func::scalar_to_datum(&v)?;
        if matches!(d, Datum::Array(_)) {
            return Err(multidimensional());
        }
        out.push(d);
    }
    Ok(Datum::Array(out))
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

    #[test]
    fn comparison_follows_postgres() {
        let cmp = |a: Datum, b: Datum| func::compare(&a, &b).unwrap();
        assert_eq!(
            cmp(ints(&[Some(1), None]), ints(&[Some(1), None])),
            Ordering::Equal
        );
        assert_eq!(
            cmp(ints(&[Some(1), None]), ints(&[Some(1), Some(9)])),
            Ordering::Greater
        );
        assert_eq!(cmp(ints(&[]), ints(&[Some(1)])), Ordering::Less);
        assert_eq!(
            cmp(ints(&[Some(1), Some(2)]), ints(&[Some(1)])),
            Ordering::Greater
        );
        assert_eq!(
            cmp(ints(&[Some(2)]), ints(&[Some(1), Some(5)])),
            Ordering::Greater
        );
    }

    #[test]
    fn functions() {
        let a = ints(&[Some(10), None, Some(30)]);
        let sub = |i: i32| {
            ArrayFunc::Subscript
                .eval(vec![a.clone(), Datum::Int32(i)])
                .unwrap()
        };
        assert_eq!(sub(1), Datum::Int32(10));
        assert_eq!(sub(2), Datum::Null);
        assert_eq!(sub(0), Datum::Null);
        assert_eq!(sub(4), Datum::Null);
        assert_eq!(
            ArrayFunc::Length
                .eval(vec![ints(&[]), Datum::Int32(1)])
                .unwrap(),
            Datum::Null
        );
        assert_eq!(
            ArrayFunc::Length
                .eval(vec![a.clone(), Datum::Int32(1)])
                .unwrap(),
            Datum::Int32(3)
        );
        assert_eq!(
            ArrayFunc::Cardinality.eval(vec![ints(&[])]).unwrap(),
            Datum::Int32(0)
        );
        assert_eq!(
            ArrayFunc::ToString
                .eval(vec![a.clone(), Datum::String(",".into())])
                .unwrap(),
            Datum::String("10,30".into())
        );
        assert_eq!(
            ArrayFunc::ToString
                .eval(vec![
                    a.clone(),
                    Datum::String("-".into()),
                    Datum::String("*".into())
                ])
                .unwrap(),
            Datum::String("10-*-30".into())
        );
        let any = |op: BinaryFunc, all: bool, x: Datum, arr: Datum| {
            ArrayFunc::Quantified { op, all }
                .eval(vec![x, arr])
                .unwrap()
        };
        assert_eq!(
            any(BinaryFunc::Eq, false, Datum::Int32(30), a.clone()),
            Datum::Bool(true)
        );
        assert_eq!(
            any(BinaryFunc::Eq, false, Datum::Int32(5), a.clone()),
            Datum::Null
        );
        assert_eq!(
            any(BinaryFunc::Eq, false, Datum::Int32(5), ints(&[Some(1)])),
            Datum::Bool(false)
        );
        assert_eq!(
            any(BinaryFunc::NotEq, true, Datum::Null, ints(&[])),
            Datum::Bool(true)
        );
        assert_eq!(
            any(BinaryFunc::NotEq, true, Datum::Int32(10), a.clone()),
            Datum::Bool(false)
        );
    }

    #[test]
    fn unnest_zips_and_skips_null() {
        let row = Row::new(vec![Datum::Int32(7)]);
        let out = unnest_rows(&[ints(&[Some(1), Some(2)]), ints(&[Some(3)])], &row);
        let out: Vec<Row> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            out,
            vec![
                Row::new(vec![Datum::Int32(7), Datum::Int32(1), Datum::Int32(3)]),
                Row::new(vec![Datum::Int32(7), Datum::Int32(2), Datum::Null]),
            ]
        );
        assert!(unnest_rows(&[Datum::Null], &row).is_empty());
        assert!(unnest_rows(&[ints(&[])], &row).is_empty());
    }

    #[test]
    fn arrow_lists_round_trip() {
        let a = ints(&[Some(1), None, Some(3)]);
        let t = crate::repr::ScalarType::Array(Box::new(crate::repr::ScalarType::Int32)).to_arrow();
        let s = func::datum_to_scalar(&a, &t).unwrap();
        assert_eq!(s.data_type(), t);
        assert_eq!(func::scalar_to_datum(&s).unwrap(), a);
        let empty = ints(&[]);
        let s = func::datum_to_scalar(&empty, &t).unwrap();
        assert_eq!(func::scalar_to_datum(&s).unwrap(), empty);
    }
}
