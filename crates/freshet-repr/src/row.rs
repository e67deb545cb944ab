//! [`Row`]: a tuple of [`Datum`]s packed into bytes, the unit of data in every
//! collection and arrangement.
//!
//! Arrangements sort, compare, hash, clone and merge rows far more often than
//! expressions read them, so a row is one short byte string (inline up to
//! [`INLINE_BYTES`] bytes, as Materialize's `Row` is) rather than a vector of
//! enums with a heap allocation per string: cloning a row of small values
//! copies a few machine words, and comparing two rows is a `memcmp`.
//! Expressions unpack the values they read ([`Row::unpack_into`]).
//!
//! # Layout
//!
//! Byte 0 holds flags ([`SEMANTIC`]); then each datum as a tag byte and its
//! payload (see [`tag`]). Every datum's encoding is self-delimiting, so no
//! encoding is a prefix of another, and comparing two rows byte by byte is
//! the same as comparing their datums' encodings one by one.
//!
//! # Equality and order
//!
//! PostgreSQL calls some different bit patterns equal: `1.0 = 1.00`
//! (numeric), `-0 = 0` and `NaN = NaN` (floats), `'1 month' = '30 days'`
//! (interval). Their encodings keep what the user wrote (so `1.00` still
//! prints as `1.00`), and a row holding any of them is flagged
//! [`SEMANTIC`].
//!
//! A row is data by default, and two data rows are equal when they are
//! the same bytes: what they print is then the same too. (Were `-0` and
//! `0` one row, a collection holding both would be consolidated to one
//! of them, counted twice: a view over `VALUES (0.0), (-0.0)` would
//! print `-0` twice.) Where rows meet by SQL's equality — join, group,
//! `DISTINCT`, index and unique keys — they are built as *keys*
//! ([`Row::into_key`], flag [`KEY`]): two key rows compare their semantic
//! datums by value and the rest by bytes. Any other pair (data with data,
//! or data with key) compares its bytes, flags byte first, so every data
//! row sorts before every semantic key row; the order is total and
//! consistent with equality and hashing — all an arrangement needs. A
//! row built from a key (a group's output, [`Row::concat`],
//! [`RowPacker::from_row`]) is data again. The order is not SQL's
//! `ORDER BY` order (integers are little-endian); sorting for users goes
//! through `ORDER BY` keys, never through `Row`'s `Ord`.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

use super::{Datum, Interval, Numeric, NumericEncoding, OrdF32, OrdF64};

/// Bytes a row keeps inline before it allocates.
pub const INLINE_BYTES: usize = 24;

/// Flag (byte 0): the row holds a datum whose equality is not its bytes'.
pub const SEMANTIC: u8 = 1;

/// Flag (byte 0): the row is a key, whose [`SEMANTIC`] datums compare by
/// value (set only together with [`SEMANTIC`]; see [`Row::into_key`]).
pub const KEY: u8 = 2;

/// Datum tags.
pub mod tag {
    /// `NULL`.
    pub const NULL: u8 = 0;
    /// `false`.
    pub const FALSE: u8 = 1;
    /// `true`.
    pub const TRUE: u8 = 2;
    /// `smallint`, 2 bytes little-endian.
    pub const INT16: u8 = 3;
    /// `integer`, 4 bytes.
    pub const INT32: u8 = 4;
    /// `bigint` that fits in 1 byte.
    pub const INT64_1: u8 = 5;
    /// `bigint` that fits in 2 bytes (and not in 1).
    pub const INT64_2: u8 = 6;
    /// `bigint` that fits in 4 bytes (and not in 2).
    pub const INT64_4: u8 = 7;
    /// Any other `bigint`, 8 bytes.
    pub const INT64_8: u8 = 8;
    /// `real`, 4 bytes (IEEE bits).
    pub const FLOAT32: u8 = 9;
    /// `double precision`, 8 bytes.
    pub const FLOAT64: u8 = 10;
    /// `numeric` in the compact form, 16 bytes (`Numeric::to_bytes`):
    /// every value with a mantissa below 2^96 and a scale of at most 28,
    /// as every older build wrote them.
    pub const NUMERIC: u8 = 11;
    /// `text` up to 255 bytes: 1 length byte, then UTF-8.
    pub const STRING_SHORT: u8 = 12;
    /// Longer `text`: 4 length bytes, then UTF-8.
    pub const STRING_LONG: u8 = 13;
    /// `bytea` up to 255 bytes.
    pub const BYTES_SHORT: u8 = 14;
    /// Longer `bytea`.
    pub const BYTES_LONG: u8 = 15;
    /// `date`, 4 bytes.
    pub const DATE: u8 = 16;
    /// `time`, 8 bytes.
    pub const TIME: u8 = 17;
    /// `timestamp`, 8 bytes.
    pub const TIMESTAMP: u8 = 18;
    /// `timestamptz`, 8 bytes.
    pub const TIMESTAMPTZ: u8 = 19;
    /// `interval`: months (4), days (4), microseconds (8).
    pub const INTERVAL: u8 = 20;
    /// `jsonb` text up to 255 bytes.
    pub const JSONB_SHORT: u8 = 21;
    /// Longer `jsonb` text.
    pub const JSONB_LONG: u8 = 22;
    /// `uuid`, 16 bytes.
    pub const UUID: u8 = 23;
    /// A one-dimensional array none of whose elements is a float, numeric
    /// or interval: 4 length bytes, then the elements' encodings (never
    /// arrays themselves).
    pub const ARRAY: u8 = 24;
    /// An array with some float, numeric or interval element, laid out as
    /// [`ARRAY`]; compared and hashed element by element.
    pub const ARRAY_SEMANTIC: u8 = 25;
    /// `numeric`'s `NaN`, no payload. Its tag is above [`NUMERIC`]'s, so
    /// the byte order of the two (which [`super::Row`]'s order falls back on
    /// for datums of different tags) keeps `NaN` above every finite
    /// `numeric`, as PostgreSQL orders them.
    pub const NUMERIC_NAN: u8 = 26;
    /// `json` text (the input as written) up to 255 bytes.
    pub const JSON_SHORT: u8 = 27;
    /// Longer `json` text.
    pub const JSON_LONG: u8 = 28;
    /// `numeric` that needs the wide form (`numeric::NumericEncoding`): 4
    /// length bytes, then the scale, sign and magnitude. Never a value the
    /// [`NUMERIC`] encoding can hold, so each value has one encoding. Its
    /// tag is above [`NUMERIC_NAN`]'s: key rows compare the two numeric
    /// tags by value and `NaN` above both ([`super::Row`]'s `cmp_datum`).
    pub const NUMERIC_WIDE: u8 = 29;
}

/// A tuple of values, packed.
///
/// # Invariants
///
/// `data` is a flags byte followed by well-formed datum encodings (see the
/// module docs): built only by [`Row::pack`] and its kin, or checked by
/// [`Row::decode`]. The [`SEMANTIC`] flag is set exactly when some datum is
/// a float, numeric (`NaN` included) or interval, or an array holding one (tagged
/// [`tag::ARRAY_SEMANTIC`], exactly then). [`KEY`] is set only with
/// [`SEMANTIC`].
pub struct Row {
    data: SmallVec<[u8; INLINE_BYTES]>,
}

// Not derived: `SmallVec`'s `Clone` copies element by element through its
// iterator, one byte per step, where `from_slice` is one `memcpy`. Rows are
// cloned per record (an input's readers each get a copy, a finished group
// starts from its key's), and the byte loop was 4 % of the `kafka` bench's
// samples (docs/benchmarks.md, `kafka`, session 9).
impl Clone for Row {
    #[inline]
    fn clone(&self) -> Row {
        Row {
            data: SmallVec::from_slice(&self.data),
        }
    }

    #[inline]
    fn clone_from(&mut self, source: &Row) {
        self.data.clear();
        self.data.extend_from_slice(&source.data);
    }
}

// A row is four machine words: the inline bytes and a length.
const _: () = assert!(std::mem::size_of::<Row>() == 32);

impl Default for Row {
    #[inline]
    fn default() -> Row {
        Row::empty()
    }
}

impl Row {
    /// A row of the given values.
    pub fn new(datums: Vec<Datum>) -> Row {
        Row::pack(&datums)
    }

    /// A row of the given values.
    #[inline]
    pub fn pack<'a>(datums: impl IntoIterator<Item = &'a Datum>) -> Row {
        let mut packer = RowPacker::new();
        for d in datums {
            packer.push(d);
        }
        packer.finish()
    }

    /// The row with no columns.
    #[inline]
    pub fn empty() -> Row {
        let mut data = SmallVec::new();
        data.push(0);
        Row { data }
    }

    /// The number of values.
    #[inline]
    pub fn len(&self) -> usize {
        self.spans().count()
    }

    /// Whether the row has no values.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.len() == 1
    }

    /// The values, unpacked.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = Datum> + '_ {
        self.spans().map(|s| read_datum(&self.data[s.start..s.end]))
    }

    /// The value at `index`, unpacked.
    #[inline]
    pub fn get(&self, index: usize) -> Option<Datum> {
        self.spans()
            .nth(index)
            .map(|s| read_datum(&self.data[s.start..s.end]))
    }

    /// The values, unpacked into a new vector.
    #[inline]
    pub fn unpack(&self) -> Vec<Datum> {
        self.iter().collect()
    }

    /// The values, unpacked onto the end of `out` (which keeps its
    /// allocation across rows).
    #[inline]
    pub fn unpack_into(&self, out: &mut Vec<Datum>) {
        out.extend(self.iter());
    }

    /// This row followed by `other`'s values, as data (not a key).
    pub fn concat(&self, other: &Row) -> Row {
        let mut data = SmallVec::with_capacity(self.data.len() + other.data.len() - 1);
        data.push((self.data[0] | other.data[0]) & SEMANTIC);
        data.extend_from_slice(&self.data[1..]);
        data.extend_from_slice(&other.data[1..]);
        Row { data }
    }

    /// The values at `columns`, in that order (copied as bytes).
    ///
    /// # Panics
    ///
    /// If a column is out of range: plans only name columns their input has.
    #[inline]
    pub fn project(&self, columns: &[usize]) -> Row {
        self.try_project(columns)
            .expect("projected columns within the row")
    }

    /// The values at `columns`, in that order; `None` if a column is out of
    /// range.
    #[inline]
    pub fn try_project(&self, columns: &[usize]) -> Option<Row> {
        self.columns().project(columns)
    }

    /// The row's columns, located once, to read or copy several of them
    /// without scanning the row again for each.
    #[inline]
    pub fn columns(&self) -> RowColumns<'_> {
        RowColumns {
            data: &self.data,
            spans: self.spans().collect(),
        }
    }

    /// The packed bytes (flags included): the durable encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.data.to_vec()
    }

    /// Bytes used by this row (inline or on the heap).
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// Checks and adopts bytes written by [`Row::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Row, RowDecodeError> {
        let (&flags, rest) = bytes.split_first().ok_or(RowDecodeError("empty row"))?;
        if flags & !(SEMANTIC | KEY) != 0 {
            return Err(RowDecodeError("unknown row flags"));
        }
        let semantic = check_datums(rest, true)?;
        if semantic != (flags & SEMANTIC != 0) || flags == KEY {
            return Err(RowDecodeError("row flags do not match its values"));
        }
        Ok(Row {
            data: SmallVec::from_slice(bytes),
        })
    }

    #[inline]
    fn semantic(&self) -> bool {
        self.data[0] & SEMANTIC != 0
    }

    /// This row as a key: its floats, numerics and intervals then equal
    /// the other keys' that SQL's `=` calls equal (`-0` and `0`, `1.0` and
    /// `1.00`), whatever their bits. Rows matched by SQL's equality — join,
    /// group, `DISTINCT`, index and unique keys — must be built as keys;
    /// a row without such datums is the same as a key or as data.
    #[inline]
    pub fn into_key(mut self) -> Row {
        if self.semantic() {
            self.data[0] |= KEY;
        }
        self
    }

    /// This row as data (see [`Row::into_key`]): equal to another only
    /// when their values have the same bits.
    #[inline]
    pub fn into_data(mut self) -> Row {
        self.data[0] &= SEMANTIC;
        self
    }

    /// Whether the row is a key with semantic datums ([`Row::into_key`]).
    #[inline]
    fn compares_by_value(&self) -> bool {
        self.data[0] & KEY != 0
    }

    /// The byte range of each datum.
    #[inline]
    fn spans(&self) -> Spans<'_> {
        Spans {
            data: &self.data,
            at: 1,
        }
    }
}

/// Checks a sequence of datum encodings (a row's, or an array's elements,
/// where arrays may not nest): each complete, text UTF-8, numeric scales in
/// range, an array's tag saying whether it holds a semantic element.
/// Returns whether some datum is semantic.
fn check_datums(mut rest: &[u8], arrays_allowed: bool) -> Result<bool, RowDecodeError> {
    let mut semantic = false;
    while !rest.is_empty() {
        let len = datum_len(rest).ok_or(RowDecodeError("truncated datum"))?;
        let d = &rest[..len];
        match d[0] {
            tag::STRING_SHORT
            | tag::STRING_LONG
            | tag::JSONB_SHORT
            | tag::JSONB_LONG
            | tag::JSON_SHORT
            | tag::JSON_LONG => {
                std::str::from_utf8(payload(d)).map_err(|_| RowDecodeError("text is not UTF-8"))?;
            }
            tag::NUMERIC if !Numeric::bytes_are_valid(&d[1..]) => {
                return Err(RowDecodeError("numeric scale out of range"));
            }
            tag::NUMERIC_WIDE if Numeric::from_wide_bytes(payload(d)).is_none() => {
                return Err(RowDecodeError("malformed wide numeric"));
            }
            tag::ARRAY | tag::ARRAY_SEMANTIC => {
                if !arrays_allowed {
                    return Err(RowDecodeError("array nested in an array"));
                }
                let inner = check_datums(payload(d), false)?;
                if inner != (d[0] == tag::ARRAY_SEMANTIC) {
                    return Err(RowDecodeError("array tag does not match its elements"));
                }
            }
            _ => {}
        }
        semantic |= is_semantic_tag(d[0]);
        rest = &rest[len..];
    }
    Ok(semantic)
}

/// A row's columns, located ([`Row::columns`]).
pub struct RowColumns<'a> {
    data: &'a [u8],
    spans: SmallVec<[Span; 16]>,
}

impl RowColumns<'_> {
    /// The number of columns.
    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the row has no columns.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The value at `index`, unpacked; `None` if out of range.
    #[inline]
    pub fn get(&self, index: usize) -> Option<Datum> {
        let s = self.spans.get(index)?;
        Some(read_datum(&self.data[s.start..s.end]))
    }

    /// Whether the value at `index` is `NULL`; `None` if out of range.
    #[inline]
    pub fn is_null(&self, index: usize) -> Option<bool> {
        let s = self.spans.get(index)?;
        Some(self.data[s.start] == tag::NULL)
    }

    /// The stored text of the `jsonb` value at `index`, borrowed:
    /// `Some(None)` for `NULL`, `None` if out of range or of another type.
    /// Nothing is unpacked or copied.
    #[inline]
    pub fn jsonb_bytes(&self, index: usize) -> Option<Option<&[u8]>> {
        let s = self.spans.get(index)?;
        let d = &self.data[s.start..s.end];
        match d[0] {
            tag::NULL => Some(None),
            tag::JSONB_SHORT | tag::JSONB_LONG => Some(Some(payload(d))),
            _ => None,
        }
    }

    /// Appends the value at `index` to `packer`, copying its bytes; `None`
    /// if out of range.
    #[inline]
    pub fn push_to(&self, index: usize, packer: &mut RowPacker) -> Option<()> {
        let s = self.spans.get(index)?;
        let bytes = &self.data[s.start..s.end];
        if is_semantic_tag(bytes[0]) {
            packer.data[0] |= SEMANTIC;
        }
        packer.data.extend_from_slice(bytes);
        Some(())
    }

    /// The values at `columns`, in that order (copied as bytes); `None` if
    /// a column is out of range.
    #[inline]
    pub fn project(&self, columns: &[usize]) -> Option<Row> {
        let mut data = SmallVec::new();
        data.push(0);
        let mut semantic = false;
        for c in columns {
            let s = self.spans.get(*c)?;
            let bytes = &self.data[s.start..s.end];
            semantic |= is_semantic_tag(bytes[0]);
            data.extend_from_slice(bytes);
        }
        if semantic {
            data[0] = SEMANTIC;
        }
        Some(Row { data })
    }
}

/// A [`Row::decode`] failure: the bytes are not a packed row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed row: {0}")]
pub struct RowDecodeError(&'static str);

/// Builds a row one datum at a time.
#[derive(Debug)]
pub struct RowPacker {
    data: SmallVec<[u8; INLINE_BYTES]>,
}

impl Default for RowPacker {
    #[inline]
    fn default() -> RowPacker {
        RowPacker::new()
    }
}

impl RowPacker {
    /// An empty packer.
    #[inline]
    pub fn new() -> RowPacker {
        let mut data = SmallVec::new();
        data.push(0);
        RowPacker { data }
    }

    /// An empty packer with room for `bytes` bytes of values (a row packed
    /// whole at once then allocates once, at the size it needs).
    #[inline]
    pub fn with_capacity(bytes: usize) -> RowPacker {
        let mut data = SmallVec::with_capacity(bytes + 1);
        data.push(0);
        RowPacker { data }
    }

    /// The bytes [`RowPacker::push_jsonb`] takes for `text`.
    pub fn jsonb_len(text: &str) -> usize {
        if text.len() <= usize::from(u8::MAX) {
            2 + text.len()
        } else {
            5 + text.len()
        }
    }

    /// Appends a `jsonb` value given as its canonical text, as `push` of
    /// [`Datum::Jsonb`] with that text does, without the `String`.
    pub fn push_jsonb(&mut self, text: &str) {
        push_var(
            &mut self.data,
            tag::JSONB_SHORT,
            tag::JSONB_LONG,
            text.as_bytes(),
        );
    }

    /// A packer that starts with `row`'s values (building data, also
    /// from a key).
    #[inline]
    pub fn from_row(row: &Row) -> RowPacker {
        let mut data = SmallVec::from_slice(&row.data);
        data[0] &= SEMANTIC;
        RowPacker { data }
    }

    /// Appends a value.
    #[inline]
    pub fn push(&mut self, datum: &Datum) {
        let data = &mut self.data;
        match datum {
            Datum::Null => data.push(tag::NULL),
            Datum::Bool(false) => data.push(tag::FALSE),
            Datum::Bool(true) => data.push(tag::TRUE),
            Datum::Int16(v) => push_fixed(data, tag::INT16, &v.to_le_bytes()),
            Datum::Int32(v) => push_fixed(data, tag::INT32, &v.to_le_bytes()),
            Datum::Int64(v) => {
                let v = *v;
                if let Ok(v) = i8::try_from(v) {
                    push_fixed(data, tag::INT64_1, &v.to_le_bytes())
                } else if let Ok(v) = i16::try_from(v) {
                    push_fixed(data, tag::INT64_2, &v.to_le_bytes())
                } else if let Ok(v) = i32::try_from(v) {
                    push_fixed(data, tag::INT64_4, &v.to_le_bytes())
                } else {
                    push_fixed(data, tag::INT64_8, &v.to_le_bytes())
                }
            }
            Datum::Float32(v) => {
                data[0] = SEMANTIC;
                push_fixed(data, tag::FLOAT32, &v.0.to_bits().to_le_bytes())
            }
            Datum::Float64(v) => {
                data[0] = SEMANTIC;
                push_fixed(data, tag::FLOAT64, &v.0.to_bits().to_le_bytes())
            }
            Datum::Numeric(v) => {
                data[0] = SEMANTIC;
                match v.encoding() {
                    NumericEncoding::Compact(bytes) => push_fixed(data, tag::NUMERIC, &bytes),
                    NumericEncoding::Wide(bytes) => {
                        data.push(tag::NUMERIC_WIDE);
                        // At most a few hundred bytes (1000 digits each
                        // side of the point).
                        data.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                        data.extend_from_slice(&bytes);
                    }
                }
            }
            Datum::NumericNaN => {
                data[0] = SEMANTIC;
                data.push(tag::NUMERIC_NAN)
            }
            Datum::String(s) => push_var(data, tag::STRING_SHORT, tag::STRING_LONG, s.as_bytes()),
            Datum::Bytes(b) => push_var(data, tag::BYTES_SHORT, tag::BYTES_LONG, b),
            Datum::Date(v) => push_fixed(data, tag::DATE, &v.to_le_bytes()),
            Datum::Time(v) => push_fixed(data, tag::TIME, &v.to_le_bytes()),
            Datum::Timestamp(v) => push_fixed(data, tag::TIMESTAMP, &v.to_le_bytes()),
            Datum::TimestampTz(v) => push_fixed(data, tag::TIMESTAMPTZ, &v.to_le_bytes()),
            Datum::Interval(v) => {
                data[0] = SEMANTIC;
                data.push(tag::INTERVAL);
                data.extend_from_slice(&v.months.to_le_bytes());
                data.extend_from_slice(&v.days.to_le_bytes());
                data.extend_from_slice(&v.micros.to_le_bytes());
            }
            Datum::Jsonb(s) => push_var(data, tag::JSONB_SHORT, tag::JSONB_LONG, s.as_bytes()),
            Datum::Uuid(u) => push_fixed(data, tag::UUID, u.as_bytes()),
            Datum::Json(s) => push_var(data, tag::JSON_SHORT, tag::JSON_LONG, s.as_bytes()),
            Datum::Array(elements) => {
                // The elements as a row of their own: its flags byte says
                // whether one of them is semantic.
                debug_assert!(
                    !elements.iter().any(|e| matches!(e, Datum::Array(_))),
                    "arrays do not nest"
                );
                let inner = Row::pack(elements);
                let semantic = inner.semantic();
                if semantic {
                    data[0] = SEMANTIC;
                }
                let t = if semantic {
                    tag::ARRAY_SEMANTIC
                } else {
                    tag::ARRAY
                };
                data.push(t);
                // Values are far below 4 GiB: a row is one value in memory.
                data.extend_from_slice(&((inner.data.len() - 1) as u32).to_le_bytes());
                data.extend_from_slice(&inner.data[1..]);
            }
        }
    }

    /// Appends the datum at `index` of `row`, copying its bytes.
    ///
    /// # Panics
    ///
    /// If `row` has no such column.
    #[inline]
    pub fn push_from(&mut self, row: &Row, index: usize) {
        let span = row.spans().nth(index).expect("column within the row");
        let bytes = &row.data[span.start..span.end];
        if is_semantic_tag(bytes[0]) {
            self.data[0] |= SEMANTIC;
        }
        self.data.extend_from_slice(bytes);
    }

    /// The row.
    #[inline]
    pub fn finish(self) -> Row {
        Row { data: self.data }
    }
}

#[inline]
fn push_fixed(data: &mut SmallVec<[u8; INLINE_BYTES]>, tag: u8, bytes: &[u8]) {
    data.push(tag);
    data.extend_from_slice(bytes);
}

#[inline]
fn push_var(data: &mut SmallVec<[u8; INLINE_BYTES]>, short: u8, long: u8, bytes: &[u8]) {
    if let Ok(len) = u8::try_from(bytes.len()) {
        data.push(short);
        data.push(len);
    } else {
        data.push(long);
        // Values are far below 4 GiB: a row is one value in memory.
        data.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    }
    data.extend_from_slice(bytes);
}

#[inline]
fn is_semantic_tag(tag: u8) -> bool {
    matches!(
        tag,
        tag::FLOAT32
            | tag::FLOAT64
            | tag::NUMERIC
            | tag::NUMERIC_WIDE
            | tag::NUMERIC_NAN
            | tag::INTERVAL
            | tag::ARRAY_SEMANTIC
    )
}

/// The length of the datum encoding at the start of `bytes` (tag
/// included), if it is complete.
#[inline]
fn datum_len(bytes: &[u8]) -> Option<usize> {
    let fixed = |n: usize| (bytes.len() > n).then_some(1 + n);
    match *bytes.first()? {
        tag::NULL | tag::FALSE | tag::TRUE | tag::NUMERIC_NAN => Some(1),
        tag::INT64_1 => fixed(1),
        tag::INT16 | tag::INT64_2 => fixed(2),
        tag::INT32 | tag::INT64_4 | tag::FLOAT32 | tag::DATE => fixed(4),
        tag::INT64_8 | tag::FLOAT64 | tag::TIME | tag::TIMESTAMP | tag::TIMESTAMPTZ => fixed(8),
        tag::NUMERIC | tag::INTERVAL | tag::UUID => fixed(16),
        tag::STRING_SHORT | tag::BYTES_SHORT | tag::JSONB_SHORT | tag::JSON_SHORT => {
            let len = *bytes.get(1)? as usize;
            (bytes.len() >= 2 + len).then_some(2 + len)
        }
        tag::STRING_LONG
        | tag::BYTES_LONG
        | tag::JSONB_LONG
        | tag::JSON_LONG
        | tag::ARRAY
        | tag::ARRAY_SEMANTIC
        | tag::NUMERIC_WIDE => {
            let len = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
            let end = len.checked_add(5)?;
            (bytes.len() >= end).then_some(end)
        }
        _ => None,
    }
}

/// The payload of a variable-length datum encoding.
#[inline]
fn payload(d: &[u8]) -> &[u8] {
    match d[0] {
        tag::STRING_SHORT | tag::BYTES_SHORT | tag::JSONB_SHORT | tag::JSON_SHORT => &d[2..],
        _ => &d[5..],
    }
}

#[inline]
fn array<const N: usize>(d: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&d[1..1 + N]);
    out
}

#[inline]
fn text(d: &[u8]) -> String {
    // The row invariant: text payloads were written from `str`s, or checked
    // by `Row::decode`.
    String::from_utf8(payload(d).to_vec()).unwrap_or_default()
}

/// Reads one datum encoding (`d` is exactly one, tag included).
#[inline]
fn read_datum(d: &[u8]) -> Datum {
    match d[0] {
        tag::NULL => Datum::Null,
        tag::FALSE => Datum::Bool(false),
        tag::TRUE => Datum::Bool(true),
        tag::INT16 => Datum::Int16(i16::from_le_bytes(array(d))),
        tag::INT32 => Datum::Int32(i32::from_le_bytes(array(d))),
        tag::INT64_1 => Datum::Int64(i8::from_le_bytes(array(d)) as i64),
        tag::INT64_2 => Datum::Int64(i16::from_le_bytes(array(d)) as i64),
        tag::INT64_4 => Datum::Int64(i32::from_le_bytes(array(d)) as i64),
        tag::INT64_8 => Datum::Int64(i64::from_le_bytes(array(d))),
        tag::FLOAT32 => Datum::Float32(OrdF32(f32::from_bits(u32::from_le_bytes(array(d))))),
        tag::FLOAT64 => Datum::Float64(OrdF64(f64::from_bits(u64::from_le_bytes(array(d))))),
        tag::NUMERIC => Datum::Numeric(Numeric::from_bytes(array(d))),
        // The row invariant: checked by `Row::decode` or written by `push`.
        tag::NUMERIC_WIDE => Datum::Numeric(read_wide(d)),
        tag::NUMERIC_NAN => Datum::NumericNaN,
        tag::STRING_SHORT | tag::STRING_LONG => Datum::String(text(d)),
        tag::BYTES_SHORT | tag::BYTES_LONG => Datum::Bytes(payload(d).to_vec()),
        tag::DATE => Datum::Date(i32::from_le_bytes(array(d))),
        tag::TIME => Datum::Time(i64::from_le_bytes(array(d))),
        tag::TIMESTAMP => Datum::Timestamp(i64::from_le_bytes(array(d))),
        tag::TIMESTAMPTZ => Datum::TimestampTz(i64::from_le_bytes(array(d))),
        tag::INTERVAL => Datum::Interval(read_interval(d)),
        tag::JSONB_SHORT | tag::JSONB_LONG => Datum::Jsonb(text(d)),
        tag::JSON_SHORT | tag::JSON_LONG => Datum::Json(text(d)),
        tag::ARRAY | tag::ARRAY_SEMANTIC => Datum::Array(
            element_spans(d)
                .map(|s| read_datum(&payload(d)[s.start..s.end]))
                .collect(),
        ),
        _ => Datum::Uuid(uuid::Uuid::from_bytes(array(d))),
    }
}

/// The value of a [`tag::NUMERIC_WIDE`] encoding (well formed by the row
/// invariant; zero otherwise, never a panic).
#[inline]
fn read_wide(d: &[u8]) -> Numeric {
    Numeric::from_wide_bytes(payload(d)).unwrap_or_default()
}

/// The value of a [`tag::NUMERIC`] or [`tag::NUMERIC_WIDE`] encoding.
#[inline]
fn read_numeric(d: &[u8]) -> Numeric {
    if d[0] == tag::NUMERIC {
        Numeric::from_bytes(array(d))
    } else {
        read_wide(d)
    }
}

/// The spans of an array encoding's elements, within its payload.
#[inline]
fn element_spans(d: &[u8]) -> Spans<'_> {
    Spans {
        data: payload(d),
        at: 0,
    }
}

#[inline]
fn read_interval(d: &[u8]) -> Interval {
    let b: [u8; 16] = array(d);
    Interval {
        months: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        days: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        micros: i64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// The datum spans of a row.
struct Spans<'a> {
    data: &'a [u8],
    at: usize,
}

impl Iterator for Spans<'_> {
    type Item = Span;
    #[inline]
    fn next(&mut self) -> Option<Span> {
        if self.at >= self.data.len() {
            return None;
        }
        // The row invariant: every encoding is complete.
        let len = datum_len(&self.data[self.at..]).unwrap_or(self.data.len() - self.at);
        let span = Span {
            start: self.at,
            end: self.at + len,
        };
        self.at = span.end;
        Some(span)
    }
}

/// Lexicographic byte order, eight bytes at a time: rows are short, and a
/// `memcmp` call costs more than the comparison itself (a fifth of a
/// `GROUP BY` benchmark's profile went to `Row::cmp` and `memcmp`).
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let (mut x, mut y) = (&a[..n], &b[..n]);
    while x.len() >= 8 {
        let (xh, xt) = x.split_at(8);
        let (yh, yt) = y.split_at(8);
        let (xv, yv) = (
            u64::from_be_bytes(xh.try_into().unwrap_or_default()),
            u64::from_be_bytes(yh.try_into().unwrap_or_default()),
        );
        if xv != yv {
            return xv.cmp(&yv);
        }
        (x, y) = (xt, yt);
    }
    for (p, q) in x.iter().zip(y) {
        if p != q {
            return p.cmp(q);
        }
    }
    a.len().cmp(&b.len())
}

/// Compares two datum encodings of two [`KEY`] rows: floats, numerics and
/// intervals of the same type by value, everything else by bytes (a finite
/// `numeric` against `NaN` too: [`tag::NUMERIC_NAN`] is the greater tag).
#[inline]
fn cmp_datum(a: &[u8], b: &[u8]) -> Ordering {
    // The two forms of `numeric` are one type: by value, and `NaN` above
    // both (its tag is between theirs).
    let numeric = |t: u8| t == tag::NUMERIC || t == tag::NUMERIC_WIDE;
    if a[0] != b[0] {
        return match (a[0], b[0]) {
            (x, y) if numeric(x) && numeric(y) => read_numeric(a).cmp(&read_numeric(b)),
            (tag::NUMERIC_NAN, y) if numeric(y) => Ordering::Greater,
            (x, tag::NUMERIC_NAN) if numeric(x) => Ordering::Less,
            _ => cmp_bytes(a, b),
        };
    }
    if is_semantic_tag(a[0]) {
        match a[0] {
            tag::FLOAT32 => OrdF32(f32::from_bits(u32::from_le_bytes(array(a))))
                .cmp(&OrdF32(f32::from_bits(u32::from_le_bytes(array(b))))),
            tag::FLOAT64 => OrdF64(f64::from_bits(u64::from_le_bytes(array(a))))
                .cmp(&OrdF64(f64::from_bits(u64::from_le_bytes(array(b))))),
            tag::NUMERIC => Numeric::from_bytes(array(a)).cmp(&Numeric::from_bytes(array(b))),
            tag::NUMERIC_WIDE => read_wide(a).cmp(&read_wide(b)),
            tag::NUMERIC_NAN => Ordering::Equal,
            tag::ARRAY_SEMANTIC => {
                // Element by element (elements are never arrays), then the
                // shorter array first.
                let (pa, pb) = (payload(a), payload(b));
                let mut x = element_spans(a);
                let mut y = element_spans(b);
                loop {
                    match (x.next(), y.next()) {
                        (None, None) => return Ordering::Equal,
                        (None, Some(_)) => return Ordering::Less,
                        (Some(_), None) => return Ordering::Greater,
                        (Some(p), Some(q)) => {
                            let ord = cmp_datum(&pa[p.start..p.end], &pb[q.start..q.end]);
                            if ord != Ordering::Equal {
                                return ord;
                            }
                        }
                    }
                }
            }
            _ => read_interval(a).cmp(&read_interval(b)),
        }
    } else {
        cmp_bytes(a, b)
    }
}

impl PartialEq for Row {
    #[inline]
    fn eq(&self, other: &Row) -> bool {
        if self.compares_by_value() && other.compares_by_value() {
            self.cmp(other) == Ordering::Equal
        } else {
            self.data.len() == other.data.len() && cmp_bytes(&self.data, &other.data).is_eq()
        }
    }
}

impl Eq for Row {}

impl PartialOrd for Row {
    #[inline]
    fn partial_cmp(&self, other: &Row) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Row {
    #[inline]
    fn cmp(&self, other: &Row) -> Ordering {
        if !self.compares_by_value() || !other.compares_by_value() {
            return cmp_bytes(&self.data, &other.data);
        }
        let mut a = self.spans();
        let mut b = other.spans();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let ord = cmp_datum(&self.data[x.start..x.end], &other.data[y.start..y.end]);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
            }
        }
    }
}

impl Hash for Row {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        if !self.compares_by_value() {
            self.data.hash(state);
            return;
        }
        // Equal rows must hash alike: semantic datums hash their value.
        for s in self.spans() {
            hash_datum(&self.data[s.start..s.end], state);
        }
    }
}

/// Hashes one datum encoding of a [`KEY`] row, consistently with
/// [`cmp_datum`].
fn hash_datum<H: Hasher>(d: &[u8], state: &mut H) {
    match d[0] {
        tag::FLOAT32 => OrdF32(f32::from_bits(u32::from_le_bytes(array(d)))).hash(state),
        tag::FLOAT64 => OrdF64(f64::from_bits(u64::from_le_bytes(array(d)))).hash(state),
        // One hash for both forms (`Numeric`'s is by value).
        tag::NUMERIC => Numeric::from_bytes(array(d)).hash(state),
        tag::NUMERIC_WIDE => read_wide(d).hash(state),
        tag::INTERVAL => read_interval(d).hash(state),
        tag::ARRAY_SEMANTIC => {
            tag::ARRAY_SEMANTIC.hash(state);
            let p = payload(d);
            let mut n = 0usize;
            for s in element_spans(d) {
                hash_datum(&p[s.start..s.end], state);
                n += 1;
            }
            n.hash(state);
        }
        _ => d.hash(state),
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.data)
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        let bytes: Vec<u8> = serde_bytes_vec(deserializer)?;
        Row::decode(&bytes).map_err(serde::de::Error::custom)
    }
}

/// Reads a byte string, whether the format stores it as bytes or as a
/// sequence.
fn serde_bytes_vec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a packed row")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_bytes(Visitor)
}

impl FromIterator<Datum> for Row {
    fn from_iter<I: IntoIterator<Item = Datum>>(iter: I) -> Row {
        let mut packer = RowPacker::new();
        for d in iter {
            packer.push(&d);
        }
        packer.finish()
    }
}

#[cfg(test)]
mod tests;
