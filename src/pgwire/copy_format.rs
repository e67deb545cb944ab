//! The data formats of `COPY`: PostgreSQL's text, CSV and binary formats,
//! read ([`CopyDecoder`], for `COPY ... FROM STDIN`) and written
//! ([`CopyEncoder`], for `COPY ... TO STDOUT`), as PostgreSQL's
//! `copyfromparse.c` and `copyto.c` do, with their errors (22P04
//! `bad_copy_file_format` and the types' input errors) and their
//! `CONTEXT` lines (`COPY t, line 2, column a: "zz"`).
//!
//! The decoder takes the client's CopyData messages as they come, turns
//! every complete record into a row at once and keeps only the incomplete
//! rest, so a large COPY holds its rows, not its text. The first error
//! stops decoding; the rest of the data is read and dropped, and the error
//! is reported when the client ends the copy, as PostgreSQL does.

use bytes::{BufMut, BytesMut};

use crate::coord::copy::CopyInTarget;
use crate::repr::{Datum, RelationDesc, Row, ScalarType, SqlState, strconv};
use crate::sql::copy::{CopyFormat, CopyHeader, CopyOptions};

use super::codec;

/// The signature that starts PostgreSQL's binary COPY format.
const BINARY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// How much of a line or value an error's context shows (PostgreSQL's
/// `MAX_COPY_DATA_DISPLAY`).
const MAX_DISPLAY: usize = 100;

/// An error in a COPY's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyError {
    /// The SQLSTATE.
    pub code: SqlState,
    /// The message.
    pub message: String,
    /// PostgreSQL's hint, if it gives one.
    pub hint: Option<String>,
    /// Where: `COPY t, line 2, column a: "zz"`.
    pub context: String,
}

/// A value for an error's context: at most [`MAX_DISPLAY`] bytes (cut at
/// a character boundary), then `...`.
fn display(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_DISPLAY {
        return text.into_owned();
    }
    let mut end = MAX_DISPLAY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The end-of-line style of a text or CSV COPY, fixed by its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    Nl,
    Cr,
    CrNl,
}

/// A record found in the buffer.
enum Scan {
    /// Bytes `start..end` are a record; the next starts at `next`.
    /// `embedded`: line ends inside its quoted CSV fields (PostgreSQL's
    /// line numbers count them).
    Record {
        end: usize,
        next: usize,
        embedded: u64,
    },
    /// Bytes up to `end` are a last record, then the end-of-data marker.
    EndMarker { end: usize },
    /// More data is needed. `resume`: where the scan of the buffer's
    /// first record stopped (the offset from the record's start, whether
    /// it was inside a quoted CSV field, the line ends counted so far), so
    /// that the next chunk's scan goes on from there instead of rescanning
    /// a long record from its start.
    Incomplete { resume: Option<Resume> },
}

/// Where an incomplete record's scan stopped: see [`Scan::Incomplete`].
#[derive(Debug, Clone, Copy)]
struct Resume {
    offset: usize,
    in_quote: bool,
    embedded: u64,
}

/// Decodes a `COPY ... FROM STDIN`'s data into rows of its columns.
pub struct CopyDecoder {
    target: CopyInTarget,
    /// Received bytes not yet decoded.
    buf: Vec<u8>,
    /// The records decoded so far (PostgreSQL's line numbers count them).
    line: u64,
    eol: Option<Eol>,
    /// The header line is still to come.
    header: bool,
    /// Binary: the file header has been read.
    binary_started: bool,
    /// The end-of-data marker (or binary trailer) was seen.
    ended: bool,
    /// Where the scan of the incomplete record at the buffer's start
    /// stopped.
    resume: Option<Resume>,
    /// The bytes of data received so far, and the most the session allows
    /// (`max_copy_from_size`).
    received: u64,
    rows: Vec<Row>,
    error: Option<CopyError>,
}

impl CopyDecoder {
    /// A decoder for `target`'s data.
    pub fn new(target: CopyInTarget) -> CopyDecoder {
        let header = target.options.header != CopyHeader::None;
        CopyDecoder {
            target,
            buf: Vec::new(),
            line: 0,
            eol: None,
            header,
            binary_started: false,
            ended: false,
            resume: None,
            received: 0,
            rows: Vec::new(),
            error: None,
        }
    }

    /// The copy's target.
    pub fn target(&self) -> &CopyInTarget {
        &self.target
    }

    /// Takes the next CopyData message.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.ended {
            if self.target.options.format == CopyFormat::Binary && !data.is_empty() {
                self.error = Some(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    "received copy data after EOF marker".into(),
                    None,
                ));
            }
            // Text and CSV ignore what follows `\.`, as PostgreSQL does.
            return;
        }
        // The rows are kept until CopyDone (they are written together, at
        // one timestamp), so the session bounds the data one COPY takes,
        // as Materialize does.
        self.received += data.len() as u64;
        if self.received > self.target.max_size {
            self.error = Some(self.error_at(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "COPY FROM STDIN data exceeds max_copy_from_size ({} bytes)",
                    self.target.max_size
                ),
                Some(
                    "Raise the limit with SET max_copy_from_size, or split the data \
                     into several COPY statements.",
                ),
            ));
            self.buf = Vec::new();
            self.rows = Vec::new();
            return;
        }
        self.buf.extend_from_slice(data);
        if let Err(e) = self.decode(false) {
            self.error = Some(e);
            self.buf = Vec::new();
        }
    }

    /// The end of the data (CopyDone): the rows, or the first error.
    pub fn finish(mut self) -> Result<(CopyInTarget, Vec<Row>), CopyError> {
        if self.error.is_none()
            && !self.ended
            && let Err(e) = self.decode(true)
        {
            self.error = Some(e);
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.target, self.rows)),
        }
    }

    fn context(&self) -> String {
        format!("COPY {}, line {}", self.target.table_name, self.line)
    }

    fn error_at(&self, code: SqlState, message: String, hint: Option<&str>) -> CopyError {
        CopyError {
            code,
            message,
            hint: hint.map(str::to_string),
            context: self.context(),
        }
    }

    /// Decodes every complete record in the buffer (and, at `eof`, the
    /// incomplete rest).
    fn decode(&mut self, eof: bool) -> Result<(), CopyError> {
        if self.target.options.format == CopyFormat::Binary {
            return self.decode_binary(eof);
        }
        let mut pos = 0;
        while !self.ended {
            let scan = self.scan(pos, eof)?;
            let (end, next, embedded) = match scan {
                Scan::Incomplete { resume } => {
                    self.resume = resume;
                    break;
                }
                Scan::Record {
                    end,
                    next,
                    embedded,
                } => (end, next, embedded),
                Scan::EndMarker { end } => {
                    self.ended = true;
                    (end, self.buf.len(), 0)
                }
            };
            // At the end marker, a line with no data before `\.` is no
            // record.
            if !(self.ended && end == pos) {
                self.line += 1 + embedded;
                let record = self.buf[pos..end].to_vec();
                self.record(&record)?;
            }
            pos = next;
            if pos >= self.buf.len() && eof {
                break;
            }
        }
        if self.ended {
            self.buf = Vec::new();
        } else {
            self.buf.drain(..pos);
        }
        Ok(())
    }

    /// Finds the record starting at `start`.
    fn scan(&mut self, start: usize, eof: bool) -> Result<Scan, CopyError> {
        let csv = self.target.options.format == CopyFormat::Csv;
        let (quote, escape) = (self.target.options.quote, self.target.options.escape);
        let resume = self.resume.take();
        let buf = &self.buf;
        let len = buf.len();
        if start >= len {
            return Ok(Scan::Incomplete { resume: None });
        }
        let (mut i, mut in_quote, mut embedded) = match resume {
            Some(r) => (start + r.offset, r.in_quote, r.embedded),
            None => (start, false, 0),
        };
        let incomplete = |i: usize, in_quote: bool, embedded: u64| {
            Ok(Scan::Incomplete {
                resume: Some(Resume {
                    offset: i - start,
                    in_quote,
                    embedded,
                }),
            })
        };
        // PostgreSQL counts these line ends inside quotes (a `\r` while the
        // style is not yet known).
        let counted = if self.eol == Some(Eol::Nl) {
            b'\n'
        } else {
            b'\r'
        };
        while i < len {
            let c = buf[i];
            if csv && in_quote {
                if c == counted {
                    embedded += 1;
                }
                if c == escape && escape != quote {
                    if i + 1 >= len && !eof {
                        return incomplete(i, in_quote, embedded);
                    }
                    if i + 1 < len && (buf[i + 1] == quote || buf[i + 1] == escape) {
                        i += 2;
                        continue;
                    }
                }
                if c == quote {
                    in_quote = false;
                }
                i += 1;
                continue;
            }
            if csv && c == quote {
                in_quote = true;
                i += 1;
                continue;
            }
            if c == b'\\' && (!csv || i == start) {
                // `\.`: the end-of-data marker (in CSV, alone on a line).
                if i + 1 >= len && !eof {
                    return incomplete(i, in_quote, embedded);
                }
                if i + 1 < len && buf[i + 1] == b'.' {
                    if i + 2 >= len && !eof {
                        return incomplete(i, in_quote, embedded);
                    }
                    match buf.get(i + 2) {
                        None | Some(b'\n') | Some(b'\r') => {
                            return Ok(Scan::EndMarker { end: i });
                        }
                        Some(_) if !csv => {
                            self.line += 1;
                            return Err(self.error_at(
                                SqlState::BAD_COPY_FILE_FORMAT,
                                "end-of-copy marker corrupt".into(),
                                None,
                            ));
                        }
                        Some(_) => {}
                    }
                }
                if !csv {
                    // A backslash escapes the next byte, a newline too.
                    i += 2;
                    continue;
                }
            }
            if c == b'\n' || c == b'\r' {
                let (what, hint) = if c == b'\n' {
                    (
                        "literal newline found in data",
                        if csv {
                            "Use quoted CSV field to represent newline."
                        } else {
                            "Use \"\\n\" to represent newline."
                        },
                    )
                } else {
                    (
                        "literal carriage return found in data",
                        if csv {
                            "Use quoted CSV field to represent carriage return."
                        } else {
                            "Use \"\\r\" to represent carriage return."
                        },
                    )
                };
                let follows_nl = buf.get(i + 1) == Some(&b'\n');
                if c == b'\r' && i + 1 >= len && !eof {
                    return incomplete(i, in_quote, embedded);
                }
                let eol = match (self.eol, c) {
                    (None, b'\n') => Eol::Nl,
                    (None, _) if follows_nl => Eol::CrNl,
                    (None, _) => Eol::Cr,
                    (Some(e), _) => e,
                };
                let ok = match (eol, c) {
                    (Eol::Nl, b'\n') | (Eol::Cr, b'\r') => Some(i + 1),
                    (Eol::CrNl, b'\r') if follows_nl => Some(i + 2),
                    _ => None,
                };
                let Some(next) = ok else {
                    self.line += 1;
                    return Err(self.error_at(
                        SqlState::BAD_COPY_FILE_FORMAT,
                        what.into(),
                        Some(hint),
                    ));
                };
                self.eol = Some(eol);
                return Ok(Scan::Record {
                    end: i,
                    next,
                    embedded,
                });
            }
            i += 1;
        }
        if eof {
            Ok(Scan::Record {
                end: len,
                next: len,
                embedded,
            })
        } else {
            incomplete(i, in_quote, embedded)
        }
    }

    /// Decodes one record (a line, without its end) into a row.
    fn record(&mut self, record: &[u8]) -> Result<(), CopyError> {
        let line_context = || {
            format!(
                "COPY {}, line {}: \"{}\"",
                self.target.table_name,
                self.line,
                display(record)
            )
        };
        let fields = match self.target.options.format {
            CopyFormat::Csv => split_csv(record, &self.target.options, &self.target.force_null),
            _ => split_text(record, &self.target.options),
        }
        .map_err(|(code, message)| CopyError {
            code,
            message,
            hint: None,
            context: line_context(),
        })?;
        if self.header {
            self.header = false;
            if self.target.options.header == CopyHeader::Match {
                self.match_header(&fields).map_err(|message| CopyError {
                    code: SqlState::BAD_COPY_FILE_FORMAT,
                    message,
                    hint: None,
                    context: line_context(),
                })?;
            }
            return Ok(());
        }
        let columns = &self.target.columns;
        if fields.len() > columns.len() {
            return Err(CopyError {
                code: SqlState::BAD_COPY_FILE_FORMAT,
                message: "extra data after last expected column".into(),
                hint: None,
                context: line_context(),
            });
        }
        if fields.len() < columns.len() {
            return Err(CopyError {
                code: SqlState::BAD_COPY_FILE_FORMAT,
                message: format!("missing data for column \"{}\"", columns[fields.len()].0),
                hint: None,
                context: line_context(),
            });
        }
        let mut datums = Vec::with_capacity(fields.len());
        for (i, field) in fields.into_iter().enumerate() {
            let (name, typ) = &columns[i];
            let field = match field {
                // FORCE_NOT_NULL: the NULL text is that text.
                None if self.target.force_not_null[i] => {
                    Some(self.target.options.null.as_bytes().to_vec())
                }
                f => f,
            };
            let Some(bytes) = field else {
                datums.push(Datum::Null);
                continue;
            };
            let text = strconv::check_text(&bytes).map_err(|e| CopyError {
                code: e.code,
                message: e.message,
                hint: None,
                context: line_context(),
            })?;
            let datum = strconv::parse(text, typ).map_err(|e| CopyError {
                code: e.code,
                message: e.message,
                hint: None,
                context: format!(
                    "COPY {}, line {}, column {name}: \"{}\"",
                    self.target.table_name,
                    self.line,
                    display(&bytes)
                ),
            })?;
            datums.push(datum);
        }
        self.rows.push(Row::new(datums));
        Ok(())
    }

    /// `HEADER MATCH`: the header line names the columns, in order.
    fn match_header(&self, fields: &[Option<Vec<u8>>]) -> Result<(), String> {
        let columns = &self.target.columns;
        if fields.len() != columns.len() {
            return Err(format!(
                "wrong number of fields in header line: got {}, expected {}",
                fields.len(),
                columns.len()
            ));
        }
        for (i, (field, (name, _))) in fields.iter().zip(columns).enumerate() {
            match field {
                None => {
                    return Err(format!(
                        "column name mismatch in header line field {}: got null value (\"{}\"), expected \"{name}\"",
                        i + 1,
                        self.target.options.null
                    ));
                }
                Some(f) if f.as_slice() != name.as_bytes() => {
                    return Err(format!(
                        "column name mismatch in header line field {}: got \"{}\", expected \"{name}\"",
                        i + 1,
                        String::from_utf8_lossy(f)
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Decodes the binary format's complete tuples.
    fn decode_binary(&mut self, eof: bool) -> Result<(), CopyError> {
        let mut pos = 0;
        let eof_error = |d: &CopyDecoder| {
            d.error_at(
                SqlState::BAD_COPY_FILE_FORMAT,
                "unexpected EOF in COPY data".into(),
                None,
            )
        };
        if !self.binary_started {
            let need = BINARY_SIGNATURE.len() + 8;
            if self.buf.len() < need {
                if !eof {
                    return Ok(());
                }
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    if self.buf.len() < BINARY_SIGNATURE.len()
                        || &self.buf[..BINARY_SIGNATURE.len()] != BINARY_SIGNATURE
                    {
                        "COPY file signature not recognized".into()
                    } else {
                        "invalid COPY file header (missing flags)".into()
                    },
                    None,
                ));
            }
            if &self.buf[..BINARY_SIGNATURE.len()] != BINARY_SIGNATURE {
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    "COPY file signature not recognized".into(),
                    None,
                ));
            }
            let at = BINARY_SIGNATURE.len();
            let flags = be_i32(&self.buf[at..at + 4]);
            if flags & (1 << 16) != 0 {
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    "invalid COPY file header (WITH OIDS)".into(),
                    None,
                ));
            }
            if (flags & !(1 << 16)) >> 16 != 0 {
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    "unrecognized critical flags in COPY file header".into(),
                    None,
                ));
            }
            let extension = be_i32(&self.buf[at + 4..at + 8]);
            let Ok(extension) = usize::try_from(extension) else {
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    "invalid COPY file header (missing length)".into(),
                    None,
                ));
            };
            if self.buf.len() < need + extension {
                if !eof {
                    return Ok(());
                }
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    "invalid COPY file header (wrong length)".into(),
                    None,
                ));
            }
            self.binary_started = true;
            pos = need + extension;
        }
        let columns = self.target.columns.len();
        loop {
            if pos == self.buf.len() {
                break;
            }
            let Some(tuple_end) = binary_tuple_end(&self.buf[pos..], columns) else {
                if eof {
                    self.line += 1;
                    return Err(eof_error(self));
                }
                break;
            };
            self.line += 1;
            let count = be_i16(&self.buf[pos..pos + 2]);
            if count == -1 {
                self.ended = true;
                if pos + 2 != self.buf.len() {
                    return Err(self.error_at(
                        SqlState::BAD_COPY_FILE_FORMAT,
                        "received copy data after EOF marker".into(),
                        None,
                    ));
                }
                pos += 2;
                break;
            }
            if usize::try_from(count).ok() != Some(columns) {
                return Err(self.error_at(
                    SqlState::BAD_COPY_FILE_FORMAT,
                    format!("row field count is {count}, expected {columns}"),
                    None,
                ));
            }
            let tuple = self.buf[pos + 2..pos + tuple_end].to_vec();
            self.binary_tuple(&tuple)?;
            pos += tuple_end;
        }
        self.buf.drain(..pos);
        Ok(())
    }

    /// Decodes one binary tuple's fields (after its field count).
    fn binary_tuple(&mut self, mut tuple: &[u8]) -> Result<(), CopyError> {
        let mut datums = Vec::with_capacity(self.target.columns.len());
        for (name, typ) in &self.target.columns {
            let context = || {
                format!(
                    "COPY {}, line {}, column {name}",
                    self.target.table_name, self.line
                )
            };
            let len = be_i32(&tuple[..4]);
            tuple = &tuple[4..];
            if len == -1 {
                datums.push(Datum::Null);
                continue;
            }
            let len = usize::try_from(len).map_err(|_| CopyError {
                code: SqlState::BAD_COPY_FILE_FORMAT,
                message: "invalid field size".into(),
                hint: None,
                context: context(),
            })?;
            let datum = decode_binary_value(&tuple[..len], typ).map_err(|e| CopyError {
                code: e.code,
                message: e.message,
                hint: None,
                context: context(),
            })?;
            tuple = &tuple[len..];
            datums.push(datum);
        }
        self.rows.push(Row::new(datums));
        Ok(())
    }
}

/// A binary value of `typ`, checked as PostgreSQL's receive functions do.
fn decode_binary_value(bytes: &[u8], typ: &ScalarType) -> Result<Datum, strconv::ParseError> {
    codec::decode_binary(bytes, typ)
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The length of the binary tuple at the start of `buf` (its field count
/// included), if it is all there. A trailer (-1) is two bytes; a tuple
/// whose field count is wrong is its count alone (the caller reports it);
/// an invalid field size ends the tuple there (the decoder reports it).
fn binary_tuple_end(buf: &[u8], columns: usize) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    let count = be_i16(buf);
    if count == -1 || usize::try_from(count).ok() != Some(columns) {
        return Some(2);
    }
    let mut pos = 2;
    for _ in 0..columns {
        if buf.len() < pos + 4 {
            return None;
        }
        let len = be_i32(&buf[pos..]);
        pos += 4;
        if len < -1 {
            return Some(pos);
        }
        if len > 0 {
            pos += len as usize;
            if buf.len() < pos {
                return None;
            }
        }
    }
    Some(pos)
}

type FieldError = (SqlState, String);

/// Splits a text-format line into its fields: backslash escapes undone,
/// `None` for a field whose raw text is the NULL text.
fn split_text(line: &[u8], options: &CopyOptions) -> Result<Vec<Option<Vec<u8>>>, FieldError> {
    let delimiter = options.delimiter;
    let null = options.null.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        let mut value = Vec::new();
        let mut ended_by_delimiter = false;
        while i < line.len() {
            let c = line[i];
            i += 1;
            if c == delimiter {
                ended_by_delimiter = true;
                break;
            }
            if c != b'\\' {
                value.push(c);
                continue;
            }
            let Some(&e) = line.get(i) else {
                break;
            };
            i += 1;
            match e {
                b'0'..=b'7' => {
                    let mut v = u32::from(e - b'0');
                    for _ in 0..2 {
                        match line.get(i) {
                            Some(&d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    value.push((v & 0o377) as u8);
                }
                b'x' => match line.get(i).and_then(|&d| (d as char).to_digit(16)) {
                    Some(h) => {
                        i += 1;
                        let mut v = h;
                        if let Some(l) = line.get(i).and_then(|&d| (d as char).to_digit(16)) {
                            v = v * 16 + l;
                            i += 1;
                        }
                        value.push(v as u8);
                    }
                    None => value.push(b'x'),
                },
                b'b' => value.push(0x08),
                b'f' => value.push(0x0c),
                b'n' => value.push(b'\n'),
                b'r' => value.push(b'\r'),
                b't' => value.push(b'\t'),
                b'v' => value.push(0x0b),
                other => value.push(other),
            }
        }
        let raw_end = if ended_by_delimiter { i - 1 } else { i };
        if &line[start..raw_end] == null {
            fields.push(None);
        } else {
            fields.push(Some(value));
        }
        if !ended_by_delimiter {
            return Ok(fields);
        }
    }
}

/// Splits a CSV record into its fields: quotes removed, `None` for an
/// unquoted field that is the NULL text (and, with `FORCE_NULL`, a
/// quoted one).
fn split_csv(
    record: &[u8],
    options: &CopyOptions,
    force_null: &[bool],
) -> Result<Vec<Option<Vec<u8>>>, FieldError> {
    let (delimiter, quote, escape) = (options.delimiter, options.quote, options.escape);
    let null = options.null.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut value = Vec::new();
        let mut saw_quote = false;
        let mut ended_by_delimiter = false;
        'field: while i < record.len() {
            let c = record[i];
            i += 1;
            if c == delimiter {
                ended_by_delimiter = true;
                break;
            }
            if c != quote {
                value.push(c);
                continue;
            }
            saw_quote = true;
            loop {
                let Some(&q) = record.get(i) else {
                    return Err((
                        SqlState::BAD_COPY_FILE_FORMAT,
                        "unterminated CSV quoted field".into(),
                    ));
                };
                i += 1;
                if q == escape
                    && let Some(&next) = record.get(i)
                    && (next == quote || next == escape)
                {
                    value.push(next);
                    i += 1;
                    continue;
                }
                if q == quote {
                    continue 'field;
                }
                value.push(q);
            }
        }
        let n = fields.len();
        let is_null = value == null && (!saw_quote || force_null.get(n).copied().unwrap_or(false));
        fields.push(if is_null { None } else { Some(value) });
        if !ended_by_delimiter {
            return Ok(fields);
        }
    }
}

/// Writes rows in a `COPY ... TO STDOUT`'s format.
pub struct CopyEncoder<'a> {
    options: &'a CopyOptions,
    desc: &'a RelationDesc,
    /// Per column: `FORCE_QUOTE` names it.
    force_quote: Vec<bool>,
}

impl<'a> CopyEncoder<'a> {
    /// An encoder of `desc`'s rows.
    pub fn new(options: &'a CopyOptions, desc: &'a RelationDesc) -> CopyEncoder<'a> {
        CopyEncoder {
            options,
            desc,
            force_quote: desc
                .columns
                .iter()
                .map(|c| options.force_quote.contains(&c.name))
                .collect(),
        }
    }

    /// The wire format code (0 text, 1 binary).
    pub fn format_code(&self) -> i8 {
        i8::from(self.options.format == CopyFormat::Binary)
    }

    /// What precedes the rows: the binary header, or the header line.
    pub fn start(&self) -> Option<Vec<u8>> {
        match self.options.format {
            CopyFormat::Binary => {
                let mut out = BINARY_SIGNATURE.to_vec();
                out.extend_from_slice(&0i32.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
                Some(out)
            }
            _ if self.options.header == CopyHeader::None => None,
            format => {
                let single = self.desc.arity() == 1;
                let mut out = Vec::new();
                for (i, c) in self.desc.columns.iter().enumerate() {
                    if i > 0 {
                        out.push(self.options.delimiter);
                    }
                    if format == CopyFormat::Csv {
                        self.csv_value(&mut out, &c.name, false, single);
                    } else {
                        self.text_value(&mut out, &c.name);
                    }
                }
                out.push(b'\n');
                Some(out)
            }
        }
    }

    /// What follows the rows: the binary trailer.
    pub fn end(&self) -> Option<Vec<u8>> {
        (self.options.format == CopyFormat::Binary).then(|| (-1i16).to_be_bytes().to_vec())
    }

    /// One row.
    pub fn row(&self, row: &Row) -> Vec<u8> {
        let mut out = Vec::new();
        if self.options.format == CopyFormat::Binary {
            let mut buf = BytesMut::new();
            buf.put_i16(row.len() as i16);
            for (i, d) in row.iter().enumerate() {
                if d.is_null() {
                    buf.put_i32(-1);
                    continue;
                }
                let mut value = Vec::new();
                codec::encode_binary_as(&d, self.desc.columns.get(i).map(|c| &c.typ), &mut value);
                buf.put_i32(value.len() as i32);
                buf.put_slice(&value);
            }
            return buf.to_vec();
        }
        let single = row.len() == 1;
        for (i, d) in row.iter().enumerate() {
            if i > 0 {
                out.push(self.options.delimiter);
            }
            match super::server::text_value(&d, self.desc.columns.get(i).map(|c| &c.typ)) {
                None => out.extend_from_slice(self.options.null.as_bytes()),
                Some(s) if self.options.format == CopyFormat::Csv => {
                    let force = self.force_quote.get(i).copied().unwrap_or(false);
                    self.csv_value(&mut out, &s, force, single);
                }
                Some(s) => self.text_value(&mut out, &s),
            }
        }
        out.push(b'\n');
        out
    }

    /// PostgreSQL's `CopyAttributeOutText`.
    fn text_value(&self, out: &mut Vec<u8>, s: &str) {
        let delimiter = self.options.delimiter;
        for &c in s.as_bytes() {
            let escaped = match c {
                0x08 => Some(b'b'),
                0x0c => Some(b'f'),
                b'\n' => Some(b'n'),
                b'\r' => Some(b'r'),
                b'\t' => Some(b't'),
                0x0b => Some(b'v'),
                b'\\' => Some(b'\\'),
                c if c == delimiter => Some(c),
                _ => None,
            };
            match escaped {
                Some(e) => {
                    out.push(b'\\');
                    out.push(e);
                }
                None => out.push(c),
            }
        }
    }

    /// PostgreSQL's `CopyAttributeOutCSV`.
    fn csv_value(&self, out: &mut Vec<u8>, s: &str, force: bool, single: bool) {
        let o = self.options;
        let quote_it = force
            || s == o.null
            || (single && s == "\\.")
            || s.bytes()
                .any(|c| c == o.delimiter || c == o.quote || c == b'\n' || c == b'\r');
        if !quote_it {
            out.extend_from_slice(s.as_bytes());
            return;
        }
        out.push(o.quote);
        for &c in s.as_bytes() {
            if c == o.quote || c == o.escape {
                out.push(o.escape);
            }
            out.push(c);
        }
        out.push(o.quote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::copy::CopyColumns;

    fn target(
        format: CopyFormat,
        header: CopyHeader,
        columns: &[(&str, ScalarType)],
    ) -> CopyInTarget {
        let options = CopyOptions {
            format,
            header,
            delimiter: if format == CopyFormat::Csv {
                b','
            } else {
                b'\t'
            },
            null: if format == CopyFormat::Csv {
                String::new()
            } else {
                "\\N".into()
            },
            ..CopyOptions::default()
        };
        CopyInTarget {
            table: crate::expr::GlobalId(1),
            table_name: "t".into(),
            table_desc: RelationDesc::default(),
            columns: columns
                .iter()
                .map(|(n, t)| ((*n).to_string(), t.clone()))
                .collect(),
            positions: (0..columns.len()).collect(),
            force_not_null: vec![false; columns.len()],
            force_null: vec![false; columns.len()],
            options,
            max_size: u64::MAX,
        }
    }

    /// The data one byte per message: a record's scan resumes where the
    /// previous message's stopped (inside quotes, after a backslash, at a
    /// `\r` whose `\n` is still to come) and decodes as one message does.
    #[test]
    fn byte_by_byte_messages_decode_as_one() {
        let cases: Vec<(CopyInTarget, &[u8])> = vec![
            (
                target(
                    CopyFormat::Text,
                    CopyHeader::None,
                    &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
                ),
                b"1\tx\\ty\\101\\\n\r\n\\N\t\\N\r\n3\t\r\n\\.\r\n",
            ),
            (
                target(
                    CopyFormat::Csv,
                    CopyHeader::Match,
                    &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
                ),
                b"a,b\n1,\"x,\"\"y\"\"\nz\n\n\"\n2,\n3,\"\"\n\\.\n",
            ),
        ];
        for (t, data) in cases {
            let whole = decode(t.clone(), &[data]).expect("decodes");
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            let split = decode(t.clone(), &bytes).expect("decodes byte by byte");
            assert_eq!(text_of(&split), text_of(&whole));
            assert_eq!(whole.len(), 3);
        }
        // Line numbers in errors count the quoted line ends of a record
        // that arrived in pieces (once the first line has fixed the line
        // end style; PostgreSQL 15 says line 5 here).
        let t = target(
            CopyFormat::Csv,
            CopyHeader::None,
            &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
        );
        let data: &[u8] = b"0,x\n1,\"a\nb\nc\"\nzz,d\n";
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        let e = decode(t, &bytes).expect_err("bad integer");
        assert_eq!(e.context, "COPY t, line 5, column a: \"zz\"");
    }

    /// More data than `max_copy_from_size` fails the copy, keeping no rows.
    #[test]
    fn data_beyond_the_size_limit_fails() {
        let mut t = target(
            CopyFormat::Text,
            CopyHeader::None,
            &[("a", ScalarType::Int32)],
        );
        t.max_size = 8;
        assert_eq!(
            decode(t.clone(), &[b"1\n2\n", b"3\n4\n"])
                .expect("fits")
                .len(),
            4
        );
        let mut d = CopyDecoder::new(t);
        d.feed(b"1\n2\n3\n");
        d.feed(b"4\n5\n");
        assert!(d.rows.is_empty() && d.buf.is_empty());
        let e = d.finish().expect_err("too large");
        assert_eq!(e.code, SqlState::PROGRAM_LIMIT_EXCEEDED);
        assert_eq!(
            e.message,
            "COPY FROM STDIN data exceeds max_copy_from_size (8 bytes)"
        );
    }

    fn decode(t: CopyInTarget, chunks: &[&[u8]]) -> Result<Vec<Row>, CopyError> {
        let mut d = CopyDecoder::new(t);
        for c in chunks {
            d.feed(c);
        }
        d.finish().map(|(_, rows)| rows)
    }

    fn text_of(rows: &[Row]) -> Vec<Vec<Option<String>>> {
        rows.iter()
            .map(|r| r.iter().map(|d| strconv::format(&d)).collect())
            .collect()
    }

    #[test]
    fn text_escapes_nulls_and_chunk_boundaries() {
        let t = target(
            CopyFormat::Text,
            CopyHeader::None,
            &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
        );
        let data: &[u8] = b"1\tx\\ty\\101\\x41\\q\\\\\n\\N\t\\N\n3\t\n\\.\nignored";
        // Every split of the data into two messages decodes the same.
        for cut in 0..data.len() {
            let rows = decode(t.clone(), &[&data[..cut], &data[cut..]]).expect("decodes");
            assert_eq!(
                text_of(&rows),
                vec![
                    vec![Some("1".into()), Some("x\tyAAq\\".into())],
                    vec![None, None],
                    vec![Some("3".into()), Some(String::new())],
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn text_errors_carry_postgresqls_context() {
        let t = target(
            CopyFormat::Text,
            CopyHeader::None,
            &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
        );
        let e = decode(t.clone(), &[b"1\tx\nzz\ty\n"]).expect_err("bad integer");
        assert_eq!(e.code, SqlState::INVALID_TEXT_REPRESENTATION);
        assert_eq!(e.context, "COPY t, line 2, column a: \"zz\"");
        let e = decode(t.clone(), &[b"1\n"]).expect_err("short line");
        assert_eq!(e.message, "missing data for column \"b\"");
        assert_eq!(e.context, "COPY t, line 1: \"1\"");
        let e = decode(t.clone(), &[b"1\tx\ty\n"]).expect_err("long line");
        assert_eq!(e.message, "extra data after last expected column");
        let e = decode(t.clone(), &[b"1\tx\r\n2\ty\n"]).expect_err("mixed line ends");
        assert_eq!(e.message, "literal newline found in data");
        assert_eq!(e.context, "COPY t, line 2");
        let e = decode(t.clone(), &[b"1\t\\xff\n"]).expect_err("invalid UTF-8");
        assert_eq!(e.code, SqlState::CHARACTER_NOT_IN_REPERTOIRE);
        let e = decode(t, &[b"1\ta\\.b\n"]).expect_err("corrupt marker");
        assert_eq!(e.message, "end-of-copy marker corrupt");
    }

    #[test]
    fn csv_quotes_nulls_and_headers() {
        let mut t = target(
            CopyFormat::Csv,
            CopyHeader::Match,
            &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
        );
        let data: &[u8] = b"a,b\r\n1,\"x,\"\"y\"\"\r\nz\"\r\n2,\r\n3,\"\"\r\n\\.\r\n";
        for cut in 0..data.len() {
            let rows = decode(t.clone(), &[&data[..cut], &data[cut..]]).expect("decodes");
            assert_eq!(
                text_of(&rows),
                vec![
                    vec![Some("1".into()), Some("x,\"y\"\r\nz".into())],
                    vec![Some("2".into()), None],
                    vec![Some("3".into()), Some(String::new())],
                ],
                "cut at {cut}"
            );
        }
        let e = decode(t.clone(), &[b"a,c\n"]).expect_err("header mismatch");
        assert_eq!(
            e.message,
            "column name mismatch in header line field 2: got \"c\", expected \"b\""
        );
        t.options.header = CopyHeader::None;
        let e = decode(t.clone(), &[b"1,\"x\n"]).expect_err("open quote");
        assert_eq!(e.message, "unterminated CSV quoted field");
        t.force_null = vec![false, true];
        let rows = decode(t, &[b"1,\"\"\n"]).expect("decodes");
        assert_eq!(text_of(&rows), vec![vec![Some("1".into()), None]]);
    }

    #[test]
    fn binary_round_trips_through_the_encoder() {
        let columns = [
            ("a", ScalarType::Int64),
            ("b", ScalarType::Text),
            ("c", ScalarType::Float64),
        ];
        let t = target(CopyFormat::Binary, CopyHeader::None, &columns);
        let desc = RelationDesc {
            columns: columns
                .iter()
                .map(|(n, typ)| crate::repr::ColumnDesc {
                    name: (*n).into(),
                    typ: typ.clone(),
                    nullable: true,
                })
                .collect(),
        };
        let rows = vec![
            Row::new(vec![
                Datum::Int64(-5),
                Datum::String("é\\\n".into()),
                Datum::Null,
            ]),
            Row::new(vec![Datum::Null, Datum::String(String::new()), Datum::Null]),
        ];
        let enc = CopyEncoder::new(&t.options, &desc);
        let mut data = enc.start().expect("a header");
        for r in &rows {
            data.extend(enc.row(r));
        }
        data.extend(enc.end().expect("a trailer"));
        for cut in 0..data.len() {
            let got = decode(t.clone(), &[&data[..cut], &data[cut..]]).expect("decodes");
            assert_eq!(got, rows, "cut at {cut}");
        }
        let e = decode(t.clone(), &[&data[..data.len() - 3]]).expect_err("cut short");
        assert_eq!(e.message, "unexpected EOF in COPY data");
        let e = decode(t, &[b"PGCOPY\n"]).expect_err("no header");
        assert_eq!(e.message, "COPY file signature not recognized");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A fixed pseudo-random sequence (an LCG), biased towards the
        // bytes the formats give meaning to.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u32
        };
        let special = b"\\\t\n\r,\".N0x\xffPGCOPY\0";
        for format in [CopyFormat::Text, CopyFormat::Csv, CopyFormat::Binary] {
            for _ in 0..2000 {
                let mut t = target(
                    format,
                    CopyHeader::None,
                    &[("a", ScalarType::Int32), ("b", ScalarType::Text)],
                );
                if next() % 4 == 0 {
                    t.options.header = CopyHeader::Match;
                }
                let len = (next() % 40) as usize;
                let mut data: Vec<u8> = if format == CopyFormat::Binary && next() % 2 == 0 {
                    let mut d = BINARY_SIGNATURE.to_vec();
                    d.extend_from_slice(&[0; 8]);
                    d
                } else {
                    Vec::new()
                };
                for _ in 0..len {
                    let r = next();
                    data.push(if r % 3 == 0 {
                        special[(r as usize / 3) % special.len()]
                    } else {
                        r as u8
                    });
                }
                let cut = (next() as usize) % (data.len() + 1);
                // Any outcome but a panic.
                let _ = decode(t, &[&data[..cut], &data[cut..]]);
            }
        }
    }

    #[test]
    fn csv_output_quotes_as_postgresql() {
        let options = CopyOptions {
            format: CopyFormat::Csv,
            delimiter: b',',
            null: String::new(),
            header: CopyHeader::Present,
            force_quote: CopyColumns::Some(vec!["f".into()]),
            ..CopyOptions::default()
        };
        let desc = RelationDesc {
            columns: ["a", "b", "c", "f"]
                .iter()
                .map(|n| crate::repr::ColumnDesc {
                    name: (*n).into(),
                    typ: ScalarType::Text,
                    nullable: true,
                })
                .collect(),
        };
        let enc = CopyEncoder::new(&options, &desc);
        assert_eq!(enc.start(), Some(b"a,b,c,f\n".to_vec()));
        let row = Row::new(vec![
            Datum::String("x,y".into()),
            Datum::String(String::new()),
            Datum::Null,
            Datum::String("q\"".into()),
        ]);
        assert_eq!(enc.row(&row), b"\"x,y\",\"\",,\"q\"\"\"\n".to_vec());
    }
}
