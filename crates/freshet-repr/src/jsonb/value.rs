//! Parsed `jsonb` documents, for the operators and functions that compare,
//! search or rebuild whole documents (`@>`, `?`, `||`, `-`, `jsonb_set`,
//! ordering, ...), with PostgreSQL 15's semantics.
//!
//! `->`, `->>` and paths (`#>`, `#>>`) stay on the stored text
//! ([`super::member`], [`super::element`], [`get_path`]); everything here
//! parses the canonical text into a [`JsonbValue`] and prints the result
//! back as canonical text ([`JsonbValue::to_text`]), so parsing and then
//! printing a stored document gives its text unchanged.
//!
//! The functions recurse over the document, so a document nested deeper
//! than [`TREE_MAX_DEPTH`] is refused with PostgreSQL's `54001 stack depth
//! limit exceeded` rather than risking the thread's stack.

use std::cmp::Ordering;

use super::{MalformedJsonb, skip_ws, string_value};
use crate::repr::SqlState;

/// The deepest nesting these functions take (the stored text may be up to
/// 10000 deep, [`crate::repr::strconv::canonical_jsonb`]'s limit).
pub const TREE_MAX_DEPTH: usize = 1000;

/// A JSON value.
///
/// # Invariants
///
/// * `Number` holds PostgreSQL `numeric` output text (`1.50`, `-3`, no
///   exponent), as the canonical text does.
/// * `Object` keys are unique and in `jsonb` order: shorter first, then
///   bytewise ([`normalize_object`] establishes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonbValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as `numeric` text.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<JsonbValue>),
    /// An object.
    Object(Vec<(String, JsonbValue)>),
}

/// An error of a `jsonb` operator or function, with PostgreSQL's SQLSTATE
/// and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsonbError {
    /// The SQLSTATE.
    pub code: SqlState,
    /// PostgreSQL's message.
    pub message: String,
}

impl JsonbError {
    /// An error with `code` and `message`.
    pub fn new(code: SqlState, message: impl Into<String>) -> JsonbError {
        JsonbError {
            code,
            message: message.into(),
        }
    }

    /// `22023 invalid_parameter_value`, PostgreSQL's code for a document
    /// of the wrong shape.
    pub fn invalid(message: impl Into<String>) -> JsonbError {
        JsonbError::new(SqlState::INVALID_PARAMETER_VALUE, message)
    }
}

impl From<MalformedJsonb> for JsonbError {
    fn from(_: MalformedJsonb) -> JsonbError {
        JsonbError::new(SqlState::INTERNAL_ERROR, "stored jsonb does not parse")
    }
}

fn too_deep() -> JsonbError {
    JsonbError::new(SqlState(*b"54001"), "stack depth limit exceeded")
}

/// `a` before `b` in `jsonb` key order: shorter first, then bytewise.
pub fn key_order(a: &str, b: &str) -> Ordering {
    (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes()))
}

/// Puts object members in `jsonb` order, the last of duplicate keys
/// winning (as PostgreSQL builds objects).
pub fn normalize_object(mut pairs: Vec<(String, JsonbValue)>) -> Vec<(String, JsonbValue)> {
    if pairs
        .windows(2)
        .all(|w| key_order(&w[0].0, &w[1].0) == Ordering::Less)
    {
        return pairs;
    }
    // Stable: duplicates stay in input order, so the last ends its run.
    pairs.sort_by(|a, b| key_order(&a.0, &b.0));
    let mut unique: Vec<(String, JsonbValue)> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        if unique.last().is_some_and(|last| last.0 == pair.0) {
            unique.pop();
        }
        unique.push(pair);
    }
    unique
}

/// Parses stored text into a tree.
struct TreeParser<'a> {
    text: &'a str,
    pos: usize,
}

impl TreeParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.text.as_bytes(), self.pos);
    }

    fn expect(&mut self, b: u8) -> Result<(), JsonbError> {
        self.skip_ws();
        if self.peek() != Some(b) {
            return Err(MalformedJsonb.into());
        }
        self.pos += 1;
        Ok(())
    }

    /// A string token at its opening quote, unescaped.
    fn string(&mut self) -> Result<String, JsonbError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            match bytes.get(i) {
                None => return Err(MalformedJsonb.into()),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        let raw = self.text.get(start..=i).ok_or(MalformedJsonb)?;
        if escaped {
            Ok(string_value(raw)?.into_owned())
        } else {
            Ok(raw.get(1..raw.len() - 1).unwrap_or("").to_string())
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonbValue, JsonbError> {
        if depth > TREE_MAX_DEPTH {
            return Err(too_deep());
        }
        self.skip_ws();
        match self.peek().ok_or(MalformedJsonb)? {
            b'{' => {
                self.pos += 1;
                let mut pairs = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(JsonbValue::Object(pairs));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(MalformedJsonb.into());
                    }
                    let key = self.string()?;
                    self.expect(b':')?;
                    let value = self.value(depth + 1)?;
                    pairs.push((key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(JsonbValue::Object(normalize_object(pairs)));
                        }
                        _ => return Err(MalformedJsonb.into()),
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(JsonbValue::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(JsonbValue::Array(items));
                        }
                        _ => return Err(MalformedJsonb.into()),
                    }
                }
            }
            b'"' => Ok(JsonbValue::String(self.string()?)),
            _ => {
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                let token = self.text.get(start..self.pos).ok_or(MalformedJsonb)?;
                Ok(match token {
                    "null" => JsonbValue::Null,
                    "true" => JsonbValue::Bool(true),
                    "false" => JsonbValue::Bool(false),
                    t if t.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
                        JsonbValue::Number(t.to_string())
                    }
                    _ => return Err(MalformedJsonb.into()),
                })
            }
        }
    }
}

impl JsonbValue {
    /// Parses stored (canonical) `jsonb` text.
    pub fn parse(text: &str) -> Result<JsonbValue, JsonbError> {
        let mut p = TreeParser { text, pos: 0 };
        let v = p.value(0)?;
        p.skip_ws();
        if p.pos != text.len() {
            return Err(MalformedJsonb.into());
        }
        Ok(v)
    }

    /// The canonical text, as PostgreSQL's `jsonb` output prints it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            JsonbValue::Null => out.push_str("null"),
            JsonbValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonbValue::Number(n) => out.push_str(n),
            JsonbValue::String(s) => crate::repr::strconv::write_json_string(s, out),
            JsonbValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            JsonbValue::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    crate::repr::strconv::write_json_string(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    /// `jsonb_pretty`: four spaces of indentation per level, each member
    /// and element on its own line, as PostgreSQL's `JsonbToCStringIndent`.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        self.write_pretty(0, &mut out);
        out
    }

    fn write_pretty(&self, level: usize, out: &mut String) {
        let indent = |out: &mut String, level: usize| {
            for _ in 0..level {
                out.push_str("    ");
            }
        };
        match self {
            JsonbValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    indent(out, level + 1);
                    item.write_pretty(level + 1, out);
                }
                out.push('\n');
                indent(out, level);
                out.push(']');
            }
            JsonbValue::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    indent(out, level + 1);
                    crate::repr::strconv::write_json_string(key, out);
                    out.push_str(": ");
                    value.write_pretty(level + 1, out);
                }
                out.push('\n');
                indent(out, level);
                out.push('}');
            }
            scalar => scalar.write(out),
        }
    }

    /// Whether this is neither an array nor an object.
    pub fn is_scalar(&self) -> bool {
        !matches!(self, JsonbValue::Array(_) | JsonbValue::Object(_))
    }

    /// `jsonb_typeof`.
    pub fn type_name(&self) -> &'static str {
        match self {
            JsonbValue::Null => "null",
            JsonbValue::Bool(_) => "boolean",
            JsonbValue::Number(_) => "number",
            JsonbValue::String(_) => "string",
            JsonbValue::Array(_) => "array",
            JsonbValue::Object(_) => "object",
        }
    }

    /// The value of member `key`, if this is an object that has one.
    pub fn get(&self, key: &str) -> Option<&JsonbValue> {
        match self {
            JsonbValue::Object(pairs) => pairs
                .binary_search_by(|(k, _)| key_order(k, key))
                .ok()
                .and_then(|i| pairs.get(i))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// PostgreSQL's type order of `jsonb` values (`jbvNull` ... `jbvObject`).
    fn type_rank(&self) -> u8 {
        match self {
            JsonbValue::Null => 0,
            JsonbValue::String(_) => 1,
            JsonbValue::Number(_) => 2,
            JsonbValue::Bool(_) => 3,
            JsonbValue::Array(_) => 0x10,
            JsonbValue::Object(_) => 0x11,
        }
    }
}

/// Compares `numeric` texts (no exponent) by value, exactly.
pub fn compare_numbers(a: &str, b: &str) -> Ordering {
    /// Sign, integer digits without leading zeros, fraction digits
    /// without trailing zeros; zero is positive.
    fn split(s: &str) -> (bool, &str, &str) {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        (neg && !(int.is_empty() && frac.is_empty()), int, frac)
    }
    let (an, ai, af) = split(a);
    let (bn, bi, bf) = split(b);
    if an != bn {
        return if an {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let magnitude = ai
        .len()
        .cmp(&bi.len())
        .then_with(|| ai.cmp(bi))
        .then_with(|| af.cmp(bf));
    if an { magnitude.reverse() } else { magnitude }
}

/// PostgreSQL's `jsonb` ordering (`compareJsonbContainers`): Object >
/// Array > Boolean > Number > String > Null; objects by member count, then
/// member by member (keys in storage order, then values); arrays by length,
/// then element by element. A top-level scalar sorts below any array but an
/// empty one (PostgreSQL stores it as a one-element "raw scalar" array).
pub fn compare(a: &JsonbValue, b: &JsonbValue) -> Ordering {
    match (a.is_scalar(), b.is_scalar()) {
        (true, false) => match b {
            JsonbValue::Array(items) if items.is_empty() => Ordering::Greater,
            _ => Ordering::Less,
        },
        (false, true) => compare(b, a).reverse(),
        _ => compare_values(a, b),
    }
}

fn compare_values(a: &JsonbValue, b: &JsonbValue) -> Ordering {
    use JsonbValue as J;
    match (a, b) {
        (J::Null, J::Null) => Ordering::Equal,
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        (J::Number(x), J::Number(y)) => compare_numbers(x, y),
        (J::String(x), J::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (J::Array(x), J::Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(p, q)| compare_values(p, q))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        (J::Object(x), J::Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|((kp, vp), (kq, vq))| {
                    kp.as_bytes()
                        .cmp(kq.as_bytes())
                        .then_with(|| compare_values(vp, vq))
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        _ => a.type_rank().cmp(&b.type_rank()),
    }
}

/// Equality of two scalars (numbers by value).
fn scalar_eq(a: &JsonbValue, b: &JsonbValue) -> bool {
    match (a, b) {
        (JsonbValue::Number(x), JsonbValue::Number(y)) => compare_numbers(x, y) == Ordering::Equal,
        (x, y) if x.is_scalar() && y.is_scalar() => x == y,
        _ => false,
    }
}

/// `a @> b` (PostgreSQL's `JsonbDeepContains`): every member of an object
/// `b` is in `a` with a contained value; every element of an array `b` is
/// contained in some element of `a`. At the top level, an array may
/// contain a scalar (`'["a"]' @> '"a"'`), but not the other way round.
pub fn contains(a: &JsonbValue, b: &JsonbValue) -> bool {
    let is_object = |v: &JsonbValue| matches!(v, JsonbValue::Object(_));
    if is_object(a) != is_object(b) {
        return false;
    }
    if is_object(a) {
        return deep_contains(a, b);
    }
    // Top-level scalars are one-element arrays.
    let as_array = |v: &JsonbValue| -> (Vec<JsonbValue>, bool) {
        match v {
            JsonbValue::Array(items) => (items.clone(), false),
            scalar => (vec![scalar.clone()], true),
        }
    };
    let (a_items, a_raw) = as_array(a);
    let (b_items, b_raw) = as_array(b);
    if a_raw && !b_raw {
        return false;
    }
    array_contains(&a_items, &b_items)
}

fn deep_contains(a: &JsonbValue, b: &JsonbValue) -> bool {
    match (a, b) {
        (JsonbValue::Object(ap), JsonbValue::Object(bp)) => {
            if ap.len() < bp.len() {
                return false;
            }
            bp.iter().all(|(key, bv)| match a.get(key) {
                None => false,
                Some(av) if bv.is_scalar() => scalar_eq(av, bv),
                Some(av) => same_kind(av, bv) && deep_contains(av, bv),
            })
        }
        (JsonbValue::Array(ai), JsonbValue::Array(bi)) => array_contains(ai, bi),
        _ => scalar_eq(a, b),
    }
}

fn same_kind(a: &JsonbValue, b: &JsonbValue) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn array_contains(a: &[JsonbValue], b: &[JsonbValue]) -> bool {
    b.iter().all(|bv| {
        if bv.is_scalar() {
            a.iter().any(|av| scalar_eq(av, bv))
        } else {
            a.iter()
                .any(|av| same_kind(av, bv) && deep_contains(av, bv))
        }
    })
}

/// `doc ? key`: an object with member `key`, an array with the string
/// element `key`, or the string `key` itself.
pub fn exists(doc: &JsonbValue, key: &str) -> bool {
    match doc {
        JsonbValue::Object(_) => doc.get(key).is_some(),
        JsonbValue::Array(items) => items
            .iter()
            .any(|i| matches!(i, JsonbValue::String(s) if s == key)),
        JsonbValue::String(s) => s == key,
        _ => false,
    }
}

/// `a || b`: two objects merge (`b`'s members win); otherwise the result is
/// an array of `a`'s elements (or `a`) followed by `b`'s (or `b`).
pub fn concat(a: JsonbValue, b: JsonbValue) -> JsonbValue {
    match (a, b) {
        (JsonbValue::Object(mut x), JsonbValue::Object(y)) => {
            x.extend(y);
            JsonbValue::Object(normalize_object(x))
        }
        (a, b) => {
            let elements = |v: JsonbValue| match v {
                JsonbValue::Array(items) => items,
                other => vec![other],
            };
            let mut items = elements(a);
            items.extend(elements(b));
            JsonbValue::Array(items)
        }
    }
}

fn cannot_delete_from_scalar() -> JsonbError {
    JsonbError::invalid("cannot delete from scalar")
}

/// `doc - key` for each of `keys` (NULL keys ignored): the object without
/// those members, or the array without the string elements equal to one.
pub fn delete_keys(doc: JsonbValue, keys: &[Option<&str>]) -> Result<JsonbValue, JsonbError> {
    let hit = |k: &str| keys.contains(&Some(k));
    match doc {
        JsonbValue::Object(pairs) => Ok(JsonbValue::Object(
            pairs.into_iter().filter(|(k, _)| !hit(k)).collect(),
        )),
        JsonbValue::Array(items) => Ok(JsonbValue::Array(
            items
                .into_iter()
                .filter(|i| !matches!(i, JsonbValue::String(s) if hit(s)))
                .collect(),
        )),
        _ => Err(cannot_delete_from_scalar()),
    }
}

/// `doc - index`: the array without the element at `index` (from the end
/// if negative; unchanged if out of range).
pub fn delete_index(doc: JsonbValue, index: i64) -> Result<JsonbValue, JsonbError> {
    match doc {
        JsonbValue::Array(mut items) => {
            let n = items.len() as i64;
            let i = if index < 0 { n + index } else { index };
            if (0..n).contains(&i) {
                items.remove(i as usize);
            }
            Ok(JsonbValue::Array(items))
        }
        JsonbValue::Object(_) => Err(JsonbError::invalid(
            "cannot delete from object using integer index",
        )),
        _ => Err(cannot_delete_from_scalar()),
    }
}

/// PostgreSQL's reading of an array subscript in a path (`strtoint`):
/// optional leading whitespace and sign, digits to the end, within
/// `integer`'s range.
pub fn path_index(step: &str) -> Option<i64> {
    let t = step.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = t.strip_prefix('+').unwrap_or(t).parse().ok()?;
    i32::try_from(v).ok().map(i64::from)
}

/// `doc #> path` on stored text: the text of the value at `path` (object
/// keys, or array subscripts as text); `None` where a step is missing, is
/// NULL, or does not apply.
pub fn get_path<'a>(
    doc: &'a str,
    path: &[Option<&str>],
) -> Result<Option<&'a str>, MalformedJsonb> {
    let mut current = doc;
    for step in path {
        let Some(step) = step else {
            return Ok(None);
        };
        let first = current.as_bytes().get(skip_ws(current.as_bytes(), 0));
        let next = match first {
            Some(b'{') => super::member(current, step)?,
            Some(b'[') => match path_index(step) {
                Some(i) => super::element(current, i)?,
                None => None,
            },
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// `jsonb_strip_nulls`: the document without object members whose value is
/// `null`, at every depth (array elements stay).
pub fn strip_nulls(doc: JsonbValue) -> JsonbValue {
    match doc {
        JsonbValue::Object(pairs) => JsonbValue::Object(
            pairs
                .into_iter()
                .filter(|(_, v)| *v != JsonbValue::Null)
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        JsonbValue::Array(items) => JsonbValue::Array(items.into_iter().map(strip_nulls).collect()),
        scalar => scalar,
    }
}

/// What [`set_path`] does at the end of the path.
#[derive(Clone, Debug)]
pub enum PathEdit {
    /// `jsonb_set(doc, path, value, create_missing)`: replace the value
    /// there, or add it where missing if `create_missing`.
    Set {
        /// The new value.
        value: JsonbValue,
        /// Add a missing last step.
        create_missing: bool,
    },
    /// `doc #- path`: delete the member or element there.
    Delete,
    /// `jsonb_insert(doc, path, value, insert_after)`: insert the value
    /// before (or after) the array element there, or as the object member
    /// there, which must not exist yet.
    Insert {
        /// The new value.
        value: JsonbValue,
        /// After the element rather than before it.
        after: bool,
    },
}

/// `jsonb_set` and `#-` (PostgreSQL's `setPath`): applies `edit` at `path`
/// (keys of objects, subscripts of arrays; a missing or scalar step before
/// the last leaves the document unchanged). The root must be a container.
pub fn set_path(
    doc: JsonbValue,
    path: &[Option<&str>],
    edit: &PathEdit,
) -> Result<JsonbValue, JsonbError> {
    if doc.is_scalar() {
        return Err(JsonbError::invalid(match edit {
            PathEdit::Set { .. } | PathEdit::Insert { .. } => "cannot set path in scalar",
            PathEdit::Delete => "cannot delete path in scalar",
        }));
    }
    let empty = match &doc {
        JsonbValue::Array(items) => items.is_empty(),
        JsonbValue::Object(pairs) => pairs.is_empty(),
        _ => false,
    };
    // PostgreSQL's `#-` returns an empty container before it reads the
    // path (`'{}' #- '{NULL}'` is `{}`).
    if path.is_empty() || (empty && matches!(edit, PathEdit::Delete)) {
        return Ok(doc);
    }
    set_path_at(doc, path, 0, edit)
}

fn set_path_at(
    doc: JsonbValue,
    path: &[Option<&str>],
    level: usize,
    edit: &PathEdit,
) -> Result<JsonbValue, JsonbError> {
    if doc.is_scalar() || level >= path.len() {
        return Ok(doc);
    }
    let Some(step) = path.get(level).copied().flatten() else {
        return Err(JsonbError::new(
            SqlState::NULL_VALUE_NOT_ALLOWED,
            format!("path element at position {} is null", level + 1),
        ));
    };
    let last = level + 1 == path.len();
    match doc {
        JsonbValue::Object(mut pairs) => {
            match pairs.binary_search_by(|(k, _)| key_order(k, step)) {
                Ok(i) => {
                    if last {
                        match edit {
                            PathEdit::Delete => {
                                pairs.remove(i);
                            }
                            PathEdit::Set { value, .. } => {
                                if let Some(p) = pairs.get_mut(i) {
                                    p.1 = value.clone();
                                }
                            }
                            PathEdit::Insert { .. } => {
                                return Err(JsonbError::new(
                                    SqlState::INVALID_PARAMETER_VALUE,
                                    "cannot replace existing key",
                                ));
                            }
                        }
                    } else if let Some(p) = pairs.get_mut(i) {
                        let inner = std::mem::replace(&mut p.1, JsonbValue::Null);
                        p.1 = set_path_at(inner, path, level + 1, edit)?;
                    }
                }
                Err(i) => {
                    if let (
                        true,
                        PathEdit::Set {
                            value,
                            create_missing: true,
                        }
                        | PathEdit::Insert { value, .. },
                    ) = (last, edit)
                    {
                        pairs.insert(i, (step.to_string(), value.clone()));
                    }
                }
            }
            Ok(JsonbValue::Object(pairs))
        }
        JsonbValue::Array(mut items) => {
            let Some(index) = path_index(step) else {
                return Err(JsonbError::new(
                    SqlState::INVALID_TEXT_REPRESENTATION,
                    format!(
                        "path element at position {} is not an integer: \"{step}\"",
                        level + 1
                    ),
                ));
            };
            let n = items.len() as i64;
            // Before the first element (`None`), at one, or past the end.
            let position = if index < 0 {
                if -index > n { None } else { Some(n + index) }
            } else {
                Some(index)
            };
            let create = matches!(
                edit,
                PathEdit::Set {
                    create_missing: true,
                    ..
                } | PathEdit::Insert { .. }
            );
            match position {
                Some(i) if i < n => {
                    let i = i as usize;
                    if last {
                        match edit {
                            PathEdit::Delete => {
                                items.remove(i);
                            }
                            PathEdit::Set { value, .. } => {
                                if let Some(slot) = items.get_mut(i) {
                                    *slot = value.clone();
                                }
                            }
                            PathEdit::Insert { value, after } => {
                                items.insert(i + usize::from(*after), value.clone());
                            }
                        }
                    } else if let Some(slot) = items.get_mut(i) {
                        let inner = std::mem::replace(slot, JsonbValue::Null);
                        *slot = set_path_at(inner, path, level + 1, edit)?;
                    }
                }
                position => {
                    if let (
                        true,
                        true,
                        PathEdit::Set { value, .. } | PathEdit::Insert { value, .. },
                    ) = (last, create, edit)
                    {
                        if position.is_none() || n == 0 {
                            items.insert(0, value.clone());
                        } else {
                            items.push(value.clone());
                        }
                    }
                }
            }
            Ok(JsonbValue::Array(items))
        }
        scalar => Ok(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::strconv::canonical_jsonb;

    fn v(text: &str) -> JsonbValue {
        JsonbValue::parse(&canonical_jsonb(text).expect("valid json")).expect("parses")
    }

    #[test]
    fn parse_and_print_round_trip() {
        for text in [
            r#"{"a": [1, 2.50, {"c": "x\ny\"z"}], "bb": null, "ccc": true}"#,
            "[]",
            "{}",
            "-0.001",
            r#""é \\ \u0001""#,
            "[[[]], {}]",
        ] {
            let canonical = canonical_jsonb(text).expect("valid");
            assert_eq!(
                JsonbValue::parse(&canonical).map(|v| v.to_text()),
                Ok(canonical)
            );
        }
    }

    #[test]
    fn deep_documents_are_refused() {
        let deep = format!(
            "{}{}",
            "[".repeat(TREE_MAX_DEPTH + 2),
            "]".repeat(TREE_MAX_DEPTH + 2)
        );
        assert_eq!(
            JsonbValue::parse(&deep).map_err(|e| e.code.as_str().to_string()),
            Err("54001".to_string())
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        use Ordering::*;
        for (a, b, want) in [
            ("1", "1.0", Equal),
            ("-1", "1", Less),
            ("0", "-0.0", Equal),
            ("10", "9.99", Greater),
            ("0.45", "0.5", Less),
            ("-0.45", "-0.5", Greater),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567891",
                Less,
            ),
        ] {
            assert_eq!(compare_numbers(a, b), want, "{a} vs {b}");
        }
    }

    /// Expected answers from PostgreSQL 15.
    #[test]
    fn ordering_is_postgres() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1", Equal),
            ("[]", "null", Less),
            ("{}", "[]", Greater),
            ("true", "1", Greater),
            ("1", r#""a""#, Greater),
            (r#""a""#, "null", Greater),
            ("[1, 2]", "[3]", Greater),
            (r#"{"b": 1}"#, r#"{"aa": 1}"#, Greater),
            (r#"{"a": 2}"#, r#"{"a": 1, "b": 0}"#, Less),
            ("1", "[0]", Less),
            (r#""b""#, r#""ab""#, Greater),
            ("[[]]", "[1]", Greater),
            (r#"{"a": [1]}"#, r#"{"a": 2}"#, Greater),
        ] {
            assert_eq!(compare(&v(a), &v(b)), want, "{a} vs {b}");
        }
    }

    /// Expected answers from PostgreSQL 15.
    #[test]
    fn containment_is_postgres() {
        for (a, b, want) in [
            (r#"{"a":1,"b":[1,2]}"#, r#"{"b":[2]}"#, true),
            ("[1,[2,3]]", "[[3]]", true),
            (r#"["foo"]"#, r#""foo""#, true),
            (r#""foo""#, r#"["foo"]"#, false),
            ("[1,1]", "[1]", true),
            ("[]", "[]", true),
            ("{}", "{}", true),
            ("[1]", "[[1]]", false),
            ("1", "1.0", true),
            (r#"{"a":{"b":1}}"#, r#"{"a":1}"#, false),
            (r#"{"a":1}"#, "[]", false),
        ] {
            assert_eq!(contains(&v(a), &v(b)), want, "{a} @> {b}");
        }
    }

    #[test]
    fn existence_concatenation_deletion() {
        assert!(exists(&v(r#"{"a":1}"#), "a"));
        assert!(exists(&v(r#"["a","b"]"#), "b"));
        assert!(exists(&v(r#""a""#), "a"));
        assert!(!exists(&v("[1]"), "1"));
        let cat = |a: &str, b: &str| concat(v(a), v(b)).to_text();
        assert_eq!(cat(r#"{"a":1,"b":2}"#, r#"{"a":3}"#), r#"{"a": 3, "b": 2}"#);
        assert_eq!(cat("[1]", "2"), "[1, 2]");
        assert_eq!(cat("1", "[2]"), "[1, 2]");
        assert_eq!(cat(r#"{"a":1}"#, "[2]"), r#"[{"a": 1}, 2]"#);
        assert_eq!(cat("1", "2"), "[1, 2]");
        assert_eq!(
            delete_keys(v(r#"["a","b","a"]"#), &[Some("a")]).map(|d| d.to_text()),
            Ok(r#"["b"]"#.to_string())
        );
        assert_eq!(
            delete_keys(v(r#"{"a":1,"b":2,"c":3}"#), &[Some("a"), None, Some("c")])
                .map(|d| d.to_text()),
            Ok(r#"{"b": 2}"#.to_string())
        );
        assert_eq!(
            delete_keys(v("1"), &[Some("a")]).map_err(|e| e.message),
            Err("cannot delete from scalar".to_string())
        );
        let del = |d: &str, i: i64| delete_index(v(d), i).map(|d| d.to_text());
        assert_eq!(del("[1,2,3]", 1), Ok("[1, 3]".to_string()));
        assert_eq!(del("[1,2,3]", -1), Ok("[1, 2]".to_string()));
        assert_eq!(del("[1,2,3]", 5), Ok("[1, 2, 3]".to_string()));
        assert_eq!(
            del(r#"{"a":1}"#, 0).map_err(|e| e.message),
            Err("cannot delete from object using integer index".to_string())
        );
    }

    #[test]
    fn paths_on_text() {
        let doc = canonical_jsonb(r#"{"a":{"b":[1,2,{"c":"x"}]}}"#).expect("valid");
        assert_eq!(
            get_path(&doc, &[Some("a"), Some("b"), Some("2")]),
            Ok(Some(r#"{"c": "x"}"#))
        );
        assert_eq!(
            get_path(&doc, &[Some("a"), Some("b"), Some("-1"), Some("c")]),
            Ok(Some(r#""x""#))
        );
        assert_eq!(get_path(&doc, &[]), Ok(Some(doc.as_str())));
        assert_eq!(get_path(&doc, &[Some("a"), None]), Ok(None));
        assert_eq!(get_path(&doc, &[Some("a"), Some("b"), Some("x")]), Ok(None));
        for (step, want) in [
            (" 1", Some(1)),
            ("+1", Some(1)),
            ("1 ", None),
            ("", None),
            ("-2", Some(-2)),
            ("99999999999", None),
        ] {
            assert_eq!(path_index(step), want, "{step:?}");
        }
    }

    #[test]
    fn pretty_and_strip_nulls() {
        assert_eq!(
            v(r#"{"a":1,"b":[1,{"c":[]},{}],"d":{}}"#).to_pretty(),
            "{\n    \"a\": 1,\n    \"b\": [\n        1,\n        {\n            \"c\": [\n            ]\n        },\n        {\n        }\n    ],\n    \"d\": {\n    }\n}"
        );
        assert_eq!(v("[]").to_pretty(), "[\n]");
        assert_eq!(v("1").to_pretty(), "1");
        assert_eq!(
            strip_nulls(v(
                r#"{"a":null,"b":[null,{"c":null,"d":1}],"e":{"f":null}}"#
            ))
            .to_text(),
            r#"{"b": [null, {"d": 1}], "e": {}}"#
        );
    }

    /// Expected answers from PostgreSQL 15.
    #[test]
    fn set_and_delete_paths() {
        let set = |d: &str, path: &[Option<&str>], value: &str, create_missing: bool| {
            set_path(
                v(d),
                path,
                &PathEdit::Set {
                    value: v(value),
                    create_missing,
                },
            )
            .map(|d| d.to_text())
            .map_err(|e| (e.code.as_str().to_string(), e.message))
        };
        let ok = |s: &str| Ok(s.to_string());
        assert_eq!(
            set(r#"{"a":[1,2]}"#, &[Some("a"), Some("0")], r#""x""#, true),
            ok(r#"{"a": ["x", 2]}"#)
        );
        assert_eq!(
            set(r#"{"a":1}"#, &[Some("b")], "2", true),
            ok(r#"{"a": 1, "b": 2}"#)
        );
        assert_eq!(
            set(r#"{"a":1}"#, &[Some("b")], "2", false),
            ok(r#"{"a": 1}"#)
        );
        assert_eq!(set("[1,2]", &[Some("5")], "3", true), ok("[1, 2, 3]"));
        assert_eq!(set("[1,2]", &[Some("-5")], "3", true), ok("[3, 1, 2]"));
        assert_eq!(
            set(r#"{"a":1}"#, &[Some("b"), Some("c")], "2", true),
            ok(r#"{"a": 1}"#)
        );
        assert_eq!(set(r#"{"a":1}"#, &[], "2", true), ok(r#"{"a": 1}"#));
        assert_eq!(
            set("[1]", &[Some("x")], "2", true),
            Err((
                "22P02".into(),
                "path element at position 1 is not an integer: \"x\"".into()
            ))
        );
        assert_eq!(
            set("1", &[Some("a")], "2", true),
            Err(("22023".into(), "cannot set path in scalar".into()))
        );
        assert_eq!(
            set(r#"{"a":1}"#, &[None], "2", true),
            Err(("22004".into(), "path element at position 1 is null".into()))
        );
        let del = |d: &str, path: &[Option<&str>]| {
            set_path(v(d), path, &PathEdit::Delete)
                .map(|d| d.to_text())
                .map_err(|e| (e.code.as_str().to_string(), e.message))
        };
        assert_eq!(
            del(r#"{"a":[1,2]}"#, &[Some("a"), Some("0")]),
            ok(r#"{"a": [2]}"#)
        );
        assert_eq!(del("[1,2]", &[Some("-1")]), ok("[1]"));
        assert_eq!(del("{}", &[None]), ok("{}"));
        assert_eq!(set("[]", &[Some("-1")], "1", true), ok("[1]"));
    }
}
