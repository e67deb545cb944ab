//! PostgreSQL's `format(fmt, args...)`, `quote_ident`, `quote_literal`
//! and `quote_nullable`, ported from `varlena.c` and `ruleutils.c` so
//! that identifiers, literals, padding and errors match PostgreSQL 15.
//! Arguments arrive as their values; each is printed with its type's
//! output function (`repr::strconv::format`), as PostgreSQL does.

use crate::repr::strconv;
use crate::repr::{Datum, SqlState};

use super::EvalError;

/// The keywords PostgreSQL 15 quotes as identifiers: all but the
/// unreserved ones (`pg_get_keywords() WHERE catcode <> 'U'`), sorted.
const QUOTED_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Whether PostgreSQL's `quote_identifier` quotes `ident`: unless it is a
/// lower-case name that is not a quoted keyword.
pub fn needs_quotes(ident: &str) -> bool {
    let mut chars = ident.chars();
    let plain = matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && QUOTED_KEYWORDS.binary_search(&ident).is_err();
    !plain
}

/// PostgreSQL's `quote_identifier`: `ident` unchanged when it is a lower-case
/// name that is not a quoted keyword, else in double quotes (inner double
/// quotes doubled).
pub fn quote_ident(ident: &str) -> String {
    if !needs_quotes(ident) {
        return ident.to_string();
    }
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// PostgreSQL's `quote_literal_cstr`: in single quotes (inner quotes
/// doubled), as an `E''` string with doubled backslashes when there is one.
pub fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// The text form of a non-NULL argument (its type's output function).
pub fn output(d: &Datum) -> String {
    strconv::format(d).unwrap_or_default()
}

fn invalid(message: impl Into<String>) -> EvalError {
    EvalError::Parse {
        code: SqlState::INVALID_PARAMETER_VALUE,
        message: message.into(),
    }
}

fn out_of_range() -> EvalError {
    EvalError::Parse {
        code: SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        message: "number is out of range".into(),
    }
}

fn unterminated() -> EvalError {
    invalid("unterminated format() type specifier")
}

/// The digits at `chars[*i..]` as a number (`None` when there are none),
/// advancing `*i` past them.
fn parse_digits(chars: &[char], i: &mut usize) -> Result<Option<i32>, EvalError> {
    let mut n: Option<i32> = None;
    while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
        let v = n
            .unwrap_or(0)
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as i32))
            .ok_or_else(out_of_range)?;
        n = Some(v);
        *i += 1;
        if *i >= chars.len() {
            return Err(unterminated());
        }
    }
    Ok(n)
}

/// One `%...` specifier: argument position, width position, flags, width.
struct Spec {
    /// The argument's position (1-based), when given as `n$`.
    argpos: Option<usize>,
    /// `*` (`Some(None)`: the next argument) or `*n$`.
    widthpos: Option<Option<usize>>,
    left: bool,
    width: usize,
}

/// `text_format_parse_format`: parses the specifier after a `%` from
/// `chars[*i..]`, leaving `*i` at the conversion character.
fn parse_spec(chars: &[char], i: &mut usize) -> Result<Spec, EvalError> {
    let mut spec = Spec {
        argpos: None,
        widthpos: None,
        left: false,
        width: 0,
    };
    let position = |n: i32| -> Result<usize, EvalError> {
        if n == 0 {
            Err(invalid(
                "format specifies argument 0, but arguments are numbered from 1",
            ))
        } else {
            Ok(n as usize)
        }
    };
    if let Some(n) = parse_digits(chars, i)? {
        if chars[*i] != '$' {
            // Just a width and the conversion.
            spec.width = n as usize;
            return Ok(spec);
        }
        spec.argpos = Some(position(n)?);
        *i += 1;
        if *i >= chars.len() {
            return Err(unterminated());
        }
    }
    while chars[*i] == '-' {
        spec.left = true;
        *i += 1;
        if *i >= chars.len() {
            return Err(unterminated());
        }
    }
    if chars[*i] == '*' {
        *i += 1;
        if *i >= chars.len() {
            return Err(unterminated());
        }
        match parse_digits(chars, i)? {
            Some(n) => {
                if chars[*i] != '$' {
                    return Err(invalid("width argument position must be ended by \"$\""));
                }
                spec.widthpos = Some(Some(position(n)?));
                *i += 1;
                if *i >= chars.len() {
                    return Err(unterminated());
                }
            }
            None => spec.widthpos = Some(None),
        }
    } else if let Some(n) = parse_digits(chars, i)? {
        spec.width = n as usize;
    }
    Ok(spec)
}

/// Appends `s` padded with spaces to `width` characters.
fn append_padded(out: &mut String, s: &str, left: bool, width: usize) {
    let len = s.chars().count();
    let pad = width.saturating_sub(len);
    if !left {
        out.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(s);
    if left {
        out.extend(std::iter::repeat_n(' ', pad));
    }
}

/// `format(fmt, args...)`: `args[0]` is the format (NULL gives NULL), the
/// rest the values (any of them NULL).
pub fn format(args: &[Datum]) -> Result<Datum, EvalError> {
    let fmt = match args.first() {
        None | Some(Datum::Null) => return Ok(Datum::Null),
        Some(Datum::String(s)) => s,
        Some(other) => return Err(EvalError::Internal(format!("format of {other:?}"))),
    };
    let chars: Vec<char> = fmt.chars().collect();
    let too_few = || invalid("too few arguments for format()");
    let mut out = String::new();
    // The next argument to use (args[0] is the format).
    let mut arg = 1usize;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i >= chars.len() {
            return Err(unterminated());
        }
        if chars[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        let mut spec = parse_spec(&chars, &mut i)?;
        let conversion = chars[i];
        if !matches!(conversion, 's' | 'I' | 'L') {
            return Err(invalid(format!(
                "unrecognized format() type specifier \"{conversion}\""
            )));
        }
        if let Some(widthpos) = spec.widthpos {
            if let Some(p) = widthpos {
                arg = p;
            }
            let value = args.get(arg).ok_or_else(too_few)?;
            let width: i64 = match value {
                Datum::Null => 0,
                Datum::Int16(v) => i64::from(*v),
                Datum::Int32(v) => i64::from(*v),
                other => {
                    let text = output(other);
                    text.trim().parse::<i32>().map(i64::from).map_err(|_| {
                        if text.trim().parse::<i64>().is_ok() {
                            EvalError::Parse {
                                code: SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                                message: format!(
                                    "value \"{text}\" is out of range for type integer"
                                ),
                            }
                        } else {
                            EvalError::Parse {
                                code: SqlState::INVALID_TEXT_REPRESENTATION,
                                message: format!(
                                    "invalid input syntax for type integer: \"{text}\""
                                ),
                            }
                        }
                    })?
                }
            };
            if width < 0 {
                spec.left = true;
                if width == i64::from(i32::MIN) {
                    return Err(out_of_range());
                }
            }
            spec.width = width.unsigned_abs() as usize;
            arg += 1;
        }
        if let Some(p) = spec.argpos {
            arg = p;
        }
        let value = args.get(arg).ok_or_else(too_few)?;
        arg += 1;
        let text = match (value, conversion) {
            (Datum::Null, 'L') => "NULL".to_string(),
            (Datum::Null, 'I') => {
                return Err(EvalError::Parse {
                    code: SqlState::NULL_VALUE_NOT_ALLOWED,
                    message: "null values cannot be formatted as an SQL identifier".into(),
                });
            }
            (Datum::Null, _) => String::new(),
            (v, 'I') => quote_ident(&output(v)),
            (v, 'L') => quote_literal(&output(v)),
            (v, _) => output(v),
        };
        append_padded(&mut out, &text, spec.left, spec.width);
        i += 1;
    }
    Ok(Datum::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Datum {
        Datum::String(v.into())
    }

    fn fmt(args: Vec<Datum>) -> Result<String, String> {
        match format(&args) {
            Ok(Datum::String(s)) => Ok(s),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn keywords_are_sorted() {
        assert!(QUOTED_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quoting_matches_postgres() {
        assert_eq!(quote_ident("foo"), "foo");
        assert_eq!(quote_ident("Foo"), "\"Foo\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("name"), "name");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("1a"), "\"1a\"");
        assert_eq!(quote_literal("O'Reilly"), "'O''Reilly'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn format_specifiers() {
        assert_eq!(
            fmt(vec![s("%s|%s"), Datum::Int32(1), Datum::Null]),
            Ok("1|".into())
        );
        assert_eq!(
            fmt(vec![s("%2$s %1$s %s"), s("a"), s("b")]),
            Ok("b a b".into())
        );
        assert_eq!(fmt(vec![s("%1$s %s"), s("a"), s("b")]), Ok("a b".into()));
        assert_eq!(
            fmt(vec![
                s("|%-*s|%*s|"),
                Datum::Int32(3),
                s("a"),
                Datum::Int32(-3),
                s("b")
            ]),
            Ok("|a  |b  |".into())
        );
        assert_eq!(
            fmt(vec![s("%3$*1$s"), Datum::Int32(4), Datum::Null, s("x")]),
            Ok("   x".into())
        );
        assert_eq!(
            fmt(vec![s("%L %I"), Datum::Null, s("A")]),
            Ok("NULL \"A\"".into())
        );
        assert_eq!(
            fmt(vec![s("50%")]),
            Err("unterminated format() type specifier".into())
        );
        assert_eq!(
            fmt(vec![s("%0$s"), s("a")]),
            Err("format specifies argument 0, but arguments are numbered from 1".into())
        );
        assert_eq!(fmt(vec![Datum::Null, s("a")]), Err("Null".into()));
    }
}
