//! `jsonb` text on the per-record path: writing JSON input as canonical
//! `jsonb` text in one pass, and finding an object's member or an array's
//! element in stored text without building the document.
//!
//! A `jsonb` datum is its canonical text (PostgreSQL's `jsonb` output, see
//! [`canonical_jsonb`](super::strconv::canonical_jsonb)). Every JSON record a
//! source ingests is canonicalized, and every `->`/`->>` reads the text, so
//! both run once per record and per expression. [`canonical_fast`] copies
//! the input's bytes straight to the output, reordering object members in
//! place, for the documents most events are (no escapes in strings,
//! integers without fraction or exponent); anything else it leaves to the
//! full parser, which also decides every error. [`member`] and
//! [`element`] scan the text for one value and return it as a slice.

use std::cmp::Ordering;

/// Object nesting beyond which [`canonical_fast`] leaves the document to
/// the full parser (which enforces PostgreSQL's limit).
const FAST_MAX_DEPTH: usize = 64;

/// Integer digits beyond which [`canonical_fast`] leaves a number to the
/// full parser (which enforces `numeric`'s limits).
const FAST_MAX_DIGITS: usize = 1000;

/// One object member written to the output: `"key": value` spans
/// `start..end`, the key's characters `key_start..key_end`.
#[derive(Clone, Copy)]
struct Member {
    start: usize,
    key_start: usize,
    key_end: usize,
    end: usize,
}

/// Writes JSON text as canonical `jsonb` text in one pass.
struct Canonicalizer<'a> {
    input: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    /// Members of the objects being written, innermost last.
    members: Vec<Member>,
    /// An object's members in `jsonb` order, while they are reordered.
    sorted: Vec<Member>,
    /// An object's members as written, while they are reordered.
    written: Vec<u8>,
}

/// The buffers a [`Canonicalizer`] works in besides its output, kept per
/// thread from one document to the next: a source reader canonicalizes
/// every record, and allocating them anew was a handful of allocations per
/// record.
#[derive(Default)]
struct Scratch {
    /// The output, for [`canonical_fast_with`].
    out: Vec<u8>,
    members: Vec<Member>,
    sorted: Vec<Member>,
    written: Vec<u8>,
}

/// Scratch capacity (bytes of `written` or `out`) beyond which it is not kept: one
/// huge document should not pin its size for the thread's lifetime.
const SCRATCH_MAX_BYTES: usize = 1 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// The canonical `jsonb` text of `text`, exactly as
/// [`canonical_jsonb`](super::strconv::canonical_jsonb) prints it, when
/// `text` is valid JSON whose strings have no escapes and whose numbers
/// are integers other than `-0` (nested at most [`FAST_MAX_DEPTH`] deep);
/// otherwise `None`, and the caller runs the full parser, which also
/// reports errors. Object keys are ordered shorter first, then bytewise,
/// and of duplicate keys the last wins.
pub fn canonical_fast(text: &str) -> Option<String> {
    canonical_fast_with(text, str::to_owned)
}

/// [`canonical_fast`], handing the canonical text to `f` instead of
/// returning it: the text is written in a buffer the thread reuses, so a
/// caller that copies it elsewhere (a source reader, into the record's
/// row) allocates nothing for it.
pub fn canonical_fast_with<R>(text: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    SCRATCH.with(|scratch| {
        // Not re-entered; should it be, the inner call works without.
        let mut fresh = Scratch::default();
        let mut borrowed = scratch.try_borrow_mut();
        let scratch = match &mut borrowed {
            Ok(s) => &mut **s,
            Err(_) => &mut fresh,
        };
        let mut out = std::mem::take(&mut scratch.out);
        out.clear();
        out.reserve(text.len() + 16);
        let mut c = Canonicalizer {
            input: text.as_bytes(),
            pos: 0,
            out,
            members: std::mem::take(&mut scratch.members),
            sorted: std::mem::take(&mut scratch.sorted),
            written: std::mem::take(&mut scratch.written),
        };
        let done = c.value(0).is_some() && {
            c.skip_ws();
            c.pos == c.input.len()
        };
        // The output is slices of the input cut at ASCII bytes, so UTF-8.
        let result = done
            .then(|| std::str::from_utf8(&c.out).ok().map(f))
            .flatten();
        c.members.clear();
        scratch.members = c.members;
        scratch.sorted = c.sorted;
        if c.written.capacity() <= SCRATCH_MAX_BYTES {
            scratch.written = c.written;
        }
        if c.out.capacity() <= SCRATCH_MAX_BYTES {
            scratch.out = c.out;
        }
        result
    })
}

/// The position after the JSON whitespace at `pos` in `text`.
pub(crate) fn skip_ws(text: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = text.get(pos) {
        pos += 1;
    }
    pos
}

/// Whether a keyword or number token ends at `pos` in `text` (PostgreSQL's
/// lexer reads them up to a delimiter).
pub(crate) fn at_token_end(text: &[u8], pos: usize) -> bool {
    matches!(
        text.get(pos),
        None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}' | b':')
    )
}

impl Canonicalizer<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.input, self.pos);
    }

    fn at_token_end(&self) -> bool {
        at_token_end(self.input, self.pos)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.keyword(b"true"),
            b'f' => self.keyword(b"false"),
            b'n' => self.keyword(b"null"),
            _ => None,
        }
    }

    fn keyword(&mut self, word: &[u8]) -> Option<()> {
        if !self.input.get(self.pos..)?.starts_with(word) {
            return None;
        }
        self.pos += word.len();
        if !self.at_token_end() {
            return None;
        }
        self.out.extend_from_slice(word);
        Some(())
    }

    /// An integer, copied: its canonical text is itself, except `-0`.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
            _ => return None,
        }
        let text = self.input.get(start..self.pos)?;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E'))
            || !self.at_token_end()
            || text == b"-0"
            || text.len() > FAST_MAX_DIGITS
        {
            return None;
        }
        self.out.extend_from_slice(text);
        Some(())
    }

    /// A string without escapes, copied; returns where its characters
    /// are in the output.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.pos + 1;
        // The closing quote, unless an escape comes first (memchr: many
        // bytes per step, where a byte loop was a third of this function).
        let len = memchr::memchr2(b'"', b'\\', self.input.get(start..)?)?;
        let end = start + len;
        if self.input.get(end) != Some(&b'"') {
            return None;
        }
        // A control character must be escaped: the full parser reports it.
        // (No early exit, so that the check runs many bytes per step.)
        if self
            .input
            .get(start..end)?
            .iter()
            .fold(false, |bad, &b| bad | (b < 0x20))
        {
            return None;
        }
        self.out.push(b'"');
        let key_start = self.out.len();
        self.out.extend_from_slice(self.input.get(start..end)?);
        let key_end = self.out.len();
        self.out.push(b'"');
        self.pos = end + 1;
        Some((key_start, key_end))
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > FAST_MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.out.push(b'[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.out.push(b']');
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.out.extend_from_slice(b", ");
                }
                b']' => {
                    self.pos += 1;
                    self.out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > FAST_MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let open = self.out.len();
        self.out.push(b'{');
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.out.push(b'}');
            return Some(());
        }
        let base = self.members.len();
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return None;
            }
            let start = self.out.len();
            let (key_start, key_end) = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return None;
            }
            self.pos += 1;
            self.out.extend_from_slice(b": ");
            self.value(depth)?;
            self.members.push(Member {
                start,
                key_start,
                key_end,
                end: self.out.len(),
            });
            self.skip_ws();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.out.extend_from_slice(b", ");
                }
                b'}' => {
                    self.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.order_members(open + 1, base);
        self.members.truncate(base);
        self.out.push(b'}');
        Some(())
    }

    /// Puts the members `self.members[base..]`, written from `from` on, in
    /// `jsonb` order, the last of duplicate keys winning.
    fn order_members(&mut self, from: usize, base: usize) {
        let members = self.members.get(base..).unwrap_or(&[]);
        let out = &self.out;
        let key = |m: &Member| {
            let k = out.get(m.key_start..m.key_end).unwrap_or(&[]);
            (k.len(), k)
        };
        if members
            .windows(2)
            .all(|w| key(&w[0]).cmp(&key(&w[1])) == Ordering::Less)
        {
            return;
        }
        let sorted = &mut self.sorted;
        sorted.clear();
        sorted.extend_from_slice(members);
        // Stable: duplicates stay in input order, so the last ends its run.
        sorted.sort_by(|a, b| key(a).cmp(&key(b)));
        let written = &mut self.written;
        written.clear();
        written.extend_from_slice(self.out.get(from..).unwrap_or(&[]));
        self.out.truncate(from);
        let key = |m: &Member| {
            let k = written
                .get(m.key_start - from..m.key_end - from)
                .unwrap_or(&[]);
            (k.len(), k)
        };
        let mut first = true;
        for (i, m) in sorted.iter().enumerate() {
            if sorted.get(i + 1).is_some_and(|next| key(next) == key(m)) {
                continue;
            }
            if !first {
                self.out.extend_from_slice(b", ");
            }
            first = false;
            self.out
                .extend_from_slice(written.get(m.start - from..m.end - from).unwrap_or(&[]));
        }
    }
}

/// Stored `jsonb` text that is not JSON (a bug: it was checked on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedJsonb;

/// Scans stored `jsonb` text (any valid JSON; canonical text has no
/// whitespace but the separators' spaces).
struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.text, self.pos);
    }

    fn expect(&mut self, b: u8) -> Result<(), MalformedJsonb> {
        self.skip_ws();
        if self.peek() != Some(b) {
            return Err(MalformedJsonb);
        }
        self.pos += 1;
        Ok(())
    }

    /// Skips a string (at its opening quote); returns its text between
    /// the quotes, escapes included.
    fn string(&mut self) -> Result<&'a [u8], MalformedJsonb> {
        let start = self.pos + 1;
        let mut i = start;
        // To the next quote or backslash at a time (memchr: many bytes per
        // step; skipping strings byte by byte was most of `member_bytes`).
        loop {
            let rest = self.text.get(i..).ok_or(MalformedJsonb)?;
            i += memchr::memchr2(b'"', b'\\', rest).ok_or(MalformedJsonb)?;
            match self.text.get(i) {
                Some(b'"') => break,
                _ => i += 2,
            }
        }
        self.pos = i + 1;
        self.text.get(start..i).ok_or(MalformedJsonb)
    }

    /// Skips one value; returns its text.
    fn value(&mut self) -> Result<&'a [u8], MalformedJsonb> {
        self.skip_ws();
        let start = self.pos;
        match self.peek().ok_or(MalformedJsonb)? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek().ok_or(MalformedJsonb)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(MalformedJsonb);
                }
            }
        }
        self.text.get(start..self.pos).ok_or(MalformedJsonb)
    }

    /// After a member or element: `true` if another follows, `false` at
    /// the container's `close`.
    fn next(&mut self, close: u8) -> Result<bool, MalformedJsonb> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => Ok(false),
            _ => Err(MalformedJsonb),
        }
    }
}

fn as_str(bytes: &[u8]) -> Result<&str, MalformedJsonb> {
    std::str::from_utf8(bytes).map_err(|_| MalformedJsonb)
}

/// The text of member `key` of the object `doc` (the first, should a
/// non-canonical text repeat it); `None` if `doc` is not an object or has
/// no such member.
pub fn member<'a>(doc: &'a str, key: &str) -> Result<Option<&'a str>, MalformedJsonb> {
    match member_bytes(doc.as_bytes(), key)? {
        Some(value) => as_str(value).map(Some),
        None => Ok(None),
    }
}

/// [`member`] over the stored bytes (a packed row's `jsonb` payload, not
/// checked as UTF-8): the member's text as bytes.
pub fn member_bytes<'a>(doc: &'a [u8], key: &str) -> Result<Option<&'a [u8]>, MalformedJsonb> {
    let mut s = Scanner { text: doc, pos: 0 };
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return Ok(None);
    }
    s.pos += 1;
    s.skip_ws();
    if s.peek() == Some(b'}') {
        return Ok(None);
    }
    loop {
        s.skip_ws();
        if s.peek() != Some(b'"') {
            return Err(MalformedJsonb);
        }
        let raw = s.string()?;
        s.expect(b':')?;
        let value = s.value()?;
        let matches = if raw.contains(&b'\\') {
            string_value(&format!("\"{}\"", as_str(raw)?))? == key
        } else {
            raw == key.as_bytes()
        };
        if matches {
            return Ok(Some(value));
        }
        if !s.next(b'}')? {
            return Ok(None);
        }
    }
}

/// The text of element `index` of the array `doc` (from the end if
/// negative); `None` if `doc` is not an array or has no such element.
pub fn element(doc: &str, index: i64) -> Result<Option<&str>, MalformedJsonb> {
    let mut s = Scanner {
        text: doc.as_bytes(),
        pos: 0,
    };
    s.skip_ws();
    if s.peek() != Some(b'[') {
        return Ok(None);
    }
    s.pos += 1;
    s.skip_ws();
    if s.peek() == Some(b']') {
        return Ok(None);
    }
    let mut items = Vec::new();
    loop {
        let value = s.value()?;
        if index >= 0 && items.len() as i64 == index {
            return as_str(value).map(Some);
        }
        items.push(value);
        if !s.next(b']')? {
            break;
        }
    }
    if index >= 0 {
        return Ok(None);
    }
    let i = items.len() as i64 + index;
    match usize::try_from(i).ok().and_then(|i| items.get(i)) {
        Some(v) => as_str(v).map(Some),
        None => Ok(None),
    }
}

/// The value of a JSON number's text that is an integer of at most 18
/// digits (`-?[0-9]{1,18}`, so it fits in `bigint` whatever the digits):
/// what PostgreSQL's integer input makes of the same text. `None` for any
/// other text (larger integers, fractions, exponents, other values), which
/// callers leave to the general conversion.
pub fn small_integer(text: &[u8]) -> Option<i64> {
    let (neg, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// The characters of a JSON string's text (quotes included), unescaped.
pub fn string_value(raw: &str) -> Result<std::borrow::Cow<'_, str>, MalformedJsonb> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or(MalformedJsonb)?;
    if !inner.contains('\\') {
        return Ok(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw)
        .map(std::borrow::Cow::Owned)
        .map_err(|_| MalformedJsonb)
}

/// The grouping key of stored `jsonb` text: the text with every number
/// written without trailing fraction zeros (`1.50` as `1.5`, `1.0` and
/// `-0.0` as `1` and `0`), so values that `jsonb` `=` finds equal
/// (`1` and `1.0`, `[1.0]` and `[1.00]`) have equal keys. PostgreSQL
/// groups, deduplicates and joins `jsonb` by that equality, while the
/// stored text keeps each number's scale (its output prints `1.0`), so
/// GROUP BY, DISTINCT, join keys and the like compare this key instead
/// of the text. Borrows `text` when it has no number to rewrite.
pub fn group_key(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    // Canonical numbers have no exponent, so only a fraction (or a `-0`)
    // can make two equal numbers print differently.
    if !bytes.contains(&b'.') && !text.contains("-0") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut copied = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b'"' => {
                // Skip the string, escapes included.
                pos += 1;
                while pos < bytes.len() && bytes[pos] != b'"' {
                    pos += if bytes[pos] == b'\\' { 2 } else { 1 };
                }
                pos += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = pos;
                while pos < bytes.len() && matches!(bytes[pos], b'-' | b'+' | b'.' | b'0'..=b'9') {
                    pos += 1;
                }
                let number = &text[start..pos];
                let key = number_key(number);
                if key != number {
                    out.push_str(&text[copied..start]);
                    out.push_str(&key);
                    copied = pos;
                }
            }
            _ => pos += 1,
        }
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

/// A `numeric` text without trailing fraction zeros, and zero unsigned.
fn number_key(number: &str) -> std::borrow::Cow<'_, str> {
    let (neg, body) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let frac = frac.trim_end_matches('0');
    let zero = frac.is_empty() && int.bytes().all(|b| b == b'0');
    if zero {
        return std::borrow::Cow::Borrowed("0");
    }
    let mut out = String::with_capacity(number.len());
    if neg {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if out == number {
        std::borrow::Cow::Borrowed(number)
    } else {
        std::borrow::Cow::Owned(out)
    }
}

pub mod value;

#[cfg(test)]
mod tests;
