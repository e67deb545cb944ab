//! `encode(bytea, format)`, `decode(text, format)` (PostgreSQL's `hex`,
//! `base64` and `escape` formats, ported from its `encode.c` with its
//! errors), and `convert_to(text, encoding)` / `convert_from(bytea,
//! encoding)` between Freshet's text (UTF-8, the server encoding) and
//! `UTF8`, `LATIN1` or `SQL_ASCII` bytes. PostgreSQL's other encodings
//! are refused with `0A000`; names that are no encoding at all with
//! PostgreSQL's `22023`. The `bytea` text format's parsers are shared with
//! `repr/strconv.rs`.

use std::fmt::Write as _;

use crate::repr::strconv::{check_text, parse_escaped_bytes, parse_hex_bytes};
use crate::repr::{ParseError, SqlState};

use super::EvalError;

fn invalid_parameter(message: String) -> EvalError {
    EvalError::Parse {
        code: SqlState::INVALID_PARAMETER_VALUE,
        message,
    }
}

/// `encode(bytes, format)`.
pub fn encode(bytes: &[u8], format: &str) -> Result<String, EvalError> {
    Ok(match format.to_ascii_lowercase().as_str() {
        "hex" => {
            let mut out = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out
        }
        "base64" => base64_encode(bytes),
        "escape" => {
            // PostgreSQL's `esc_encode`: NUL and bytes with the high bit as
            // `\ooo`, a backslash doubled.
            let mut out = String::with_capacity(bytes.len());
            for &b in bytes {
                match b {
                    b'\\' => out.push_str("\\\\"),
                    0 | 0x80..=0xff => {
                        let _ = write!(out, "\\{b:03o}");
                    }
                    b => out.push(char::from(b)),
                }
            }
            out
        }
        _ => {
            return Err(invalid_parameter(format!(
                "unrecognized encoding: \"{format}\""
            )));
        }
    })
}

/// `decode(text, format)`.
pub fn decode(text: &str, format: &str) -> Result<Vec<u8>, EvalError> {
    match format.to_ascii_lowercase().as_str() {
        "hex" => Ok(parse_hex_bytes(text)?),
        "base64" => base64_decode(text),
        "escape" => Ok(parse_escaped_bytes(text)?),
        _ => Err(invalid_parameter(format!(
            "unrecognized encoding: \"{format}\""
        ))),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// PostgreSQL's `pg_base64_encode`: padded, a line break after every 76
/// characters.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 57 + 4);
    let mut line = 0;
    let digit = |v: u32| char::from(BASE64[(v & 0x3f) as usize]);
    let mut buf: u32 = 0;
    let mut pos: i32 = 2;
    for &b in bytes {
        buf |= u32::from(b) << (pos << 3);
        pos -= 1;
        if pos < 0 {
            for shift in [18, 12, 6, 0] {
                out.push(digit(buf >> shift));
            }
            line += 4;
            pos = 2;
            buf = 0;
        }
        if line >= 76 {
            out.push('\n');
            line = 0;
        }
    }
    if pos != 2 {
        out.push(digit(buf >> 18));
        out.push(digit(buf >> 12));
        out.push(if pos == 0 { digit(buf >> 6) } else { '=' });
        out.push('=');
    }
    out
}

/// PostgreSQL's `pg_base64_decode`: whitespace skipped, `=` padding.
fn base64_decode(text: &str) -> Result<Vec<u8>, EvalError> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buf: u32 = 0;
    let mut pos = 0;
    let mut end = 0;
    for c in text.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        let b = if c == '=' {
            if end == 0 {
                end = match pos {
                    2 => 1,
                    3 => 2,
                    _ => {
                        return Err(invalid_parameter(
                            "unexpected \"=\" while decoding base64 sequence".into(),
                        ));
                    }
                };
            }
            0
        } else {
            let b = u8::try_from(c)
                .ok()
                .and_then(|c| BASE64.iter().position(|d| *d == c))
                .ok_or_else(|| {
                    invalid_parameter(format!(
                        "invalid symbol \"{c}\" found while decoding base64 sequence"
                    ))
                })?;
            b as u32
        };
        buf = (buf << 6) + b;
        pos += 1;
        if pos == 4 {
            out.push((buf >> 16) as u8);
            if end == 0 || end > 1 {
                out.push((buf >> 8) as u8);
            }
            if end == 0 || end > 2 {
                out.push(buf as u8);
            }
            buf = 0;
            pos = 0;
        }
    }
    if pos != 0 {
        return Err(invalid_parameter("invalid base64 end sequence".into()));
    }
    Ok(out)
}

/// The encodings `convert_to`/`convert_from` handle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Latin1,
    SqlAscii,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF8",
            Encoding::Latin1 => "LATIN1",
            Encoding::SqlAscii => "SQL_ASCII",
        }
    }
}

/// PostgreSQL's encoding names (`pg_enc2name_tbl` and the aliases of
/// `pg_encname_tbl`), compared as its `clean_encoding_name` does: letters
/// and digits only, lower case.
fn lookup_encoding(name: &str, role: &str) -> Result<Encoding, EvalError> {
    let clean: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match clean.as_str() {
        "utf8" | "unicode" => return Ok(Encoding::Utf8),
        "latin1" | "iso88591" => return Ok(Encoding::Latin1),
        "sqlascii" => return Ok(Encoding::SqlAscii),
        _ => {}
    }
    let known = matches!(
        clean.as_str(),
        "abc"
            | "alt"
            | "big5"
            | "cp1250"
            | "cp1251"
            | "cp1252"
            | "cp1253"
            | "cp1254"
            | "cp1255"
            | "cp1256"
            | "cp1257"
            | "cp1258"
            | "cp866"
            | "cp874"
            | "cp932"
            | "cp936"
            | "cp949"
            | "eucjis2004"
            | "euccn"
            | "eucjp"
            | "euckr"
            | "euctw"
            | "gb18030"
            | "gbk"
            | "iso885910"
            | "iso885913"
            | "iso885914"
            | "iso885915"
            | "iso885916"
            | "iso88592"
            | "iso88593"
            | "iso88594"
            | "iso88595"
            | "iso88596"
            | "iso88597"
            | "iso88598"
            | "iso88599"
            | "johab"
            | "koi8"
            | "koi8r"
            | "koi8u"
            | "latin10"
            | "latin2"
            | "latin3"
            | "latin4"
            | "latin5"
            | "latin6"
            | "latin7"
            | "latin8"
            | "latin9"
            | "mskanji"
            | "muleinternal"
            | "shiftjis"
            | "shiftjis2004"
            | "sjis"
            | "tcvn"
            | "tcvn5712"
            | "uhc"
            | "vscii"
            | "win"
            | "win1250"
            | "win1251"
            | "win1252"
            | "win1253"
            | "win1254"
            | "win1255"
            | "win1256"
            | "win1257"
            | "win1258"
            | "win866"
            | "win874"
            | "win932"
            | "win936"
            | "win949"
            | "win950"
            | "windows1250"
            | "windows1251"
            | "windows1252"
            | "windows1253"
            | "windows1254"
            | "windows1255"
            | "windows1256"
            | "windows1257"
            | "windows1258"
            | "windows866"
            | "windows874"
            | "windows932"
            | "windows936"
            | "windows949"
            | "windows950"
    );
    if known {
        Err(EvalError::Unsupported(format!(
            "conversion with encoding \"{name}\" (only UTF8, LATIN1 and SQL_ASCII)"
        )))
    } else {
        Err(invalid_parameter(format!(
            "invalid {role} encoding name \"{name}\""
        )))
    }
}

/// `convert_to(text, encoding)`: the text's bytes in `encoding`.
pub fn convert_to(text: &str, encoding: &str) -> Result<Vec<u8>, EvalError> {
    match lookup_encoding(encoding, "destination")? {
        Encoding::Utf8 | Encoding::SqlAscii => Ok(text.as_bytes().to_vec()),
        Encoding::Latin1 => text
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| {
                    let mut utf8 = [0u8; 4];
                    let bytes = c.encode_utf8(&mut utf8).as_bytes();
                    let shown: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
                    EvalError::Parse {
                        code: SqlState(*b"22P05"),
                        message: format!(
                            "character with byte sequence {} in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"",
                            shown.join(" ")
                        ),
                    }
                })
            })
            .collect(),
    }
}

/// `convert_from(bytes, encoding)`: `bytes` read in `encoding`, as text
/// (which must be valid UTF-8 without NUL, as PostgreSQL checks).
pub fn convert_from(bytes: &[u8], encoding: &str) -> Result<String, EvalError> {
    let encoding = lookup_encoding(encoding, "source")?;
    match encoding {
        Encoding::Utf8 | Encoding::SqlAscii => Ok(check_text(bytes)?.to_owned()),
        Encoding::Latin1 => {
            if bytes.contains(&0) {
                return Err(ParseError::new(
                    SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                    format!(
                        "invalid byte sequence for encoding \"{}\": 0x00",
                        encoding.name()
                    ),
                )
                .into());
            }
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_with_postgres_line_breaks() {
        for n in [0, 1, 2, 3, 56, 57, 58, 200] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let text = base64_encode(&bytes);
            assert!(text.lines().all(|l| l.len() <= 76), "{text}");
            assert_eq!(base64_decode(&text).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"\xde\xad\xbe\xef"), "3q2+7w==");
        assert_eq!(base64_decode("YW=j").unwrap(), b"a");
    }

    #[test]
    fn escape_round_trips() {
        let bytes = b"\x00\x01\\\x7f\x80\xffA";
        let text = encode(bytes, "escape").unwrap();
        assert_eq!(text, "\\000\u{1}\\\\\u{7f}\\200\\377A");
        assert_eq!(decode(&text, "escape").unwrap(), bytes);
    }
}
