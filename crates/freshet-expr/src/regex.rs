//! PostgreSQL's POSIX regular expression match operators (`~`, `~*`, `!~`
//! and `!~*`), its flags, and `regexp_split_to_array`.
//!
//! Patterns are compiled with the `regex` crate, whose syntax covers what
//! these operators are used for (classes, anchors, alternation,
//! repetition); PostgreSQL's back-references and look-around are not
//! supported by it and fail as invalid patterns (`2201B`), never as a
//! wrong answer. The operand is usually a constant, so each thread keeps
//! the patterns it compiled last.

use std::cell::RefCell;

use regex::{Regex, RegexBuilder};

use super::error::EvalError;
use crate::repr::{Datum, SqlState};

/// How many compiled patterns each thread keeps.
const CACHE_SIZE: usize = 8;

/// How a pattern is compiled: PostgreSQL's flags (`regexp_replace(s, p,
/// r, 'gi')`) as `regex` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RegexOptions {
    /// `i` (and `~*`): case-insensitive.
    pub case_insensitive: bool,
    /// `n`, `m`, `p`: `.` and bracket expressions do not match a newline.
    pub newline_sensitive_dot: bool,
    /// `n`, `m`, `w`: `^` and `$` match at newlines.
    pub multi_line: bool,
    /// `x`: expanded syntax (white space and `#` comments ignored).
    pub expanded: bool,
    /// `q`: the pattern is a literal string.
    pub literal: bool,
    /// `g`: every match, not only the first (not an option of the pattern;
    /// the functions that take it read it here).
    pub global: bool,
}

/// Parses PostgreSQL's regular expression flags for `func` (named in the
/// errors). `g` is refused unless `allow_global`.
pub fn parse_flags(flags: &str, func: &str, allow_global: bool) -> Result<RegexOptions, EvalError> {
    let mut o = RegexOptions::default();
    for c in flags.chars() {
        match c {
            'g' if allow_global => o.global = true,
            'g' => {
                return Err(EvalError::Parse {
                    code: SqlState::INVALID_PARAMETER_VALUE,
                    message: format!("{func}() does not support the \"global\" option"),
                });
            }
            'i' => o.case_insensitive = true,
            'c' => o.case_insensitive = false,
            'n' | 'm' => {
                o.newline_sensitive_dot = true;
                o.multi_line = true;
            }
            's' => {
                o.newline_sensitive_dot = false;
                o.multi_line = false;
            }
            'p' => {
                o.newline_sensitive_dot = true;
                o.multi_line = false;
            }
            'w' => {
                o.newline_sensitive_dot = false;
                o.multi_line = true;
            }
            'x' => o.expanded = true,
            't' => o.expanded = false,
            'q' => o.literal = true,
            // Basic and extended (POSIX) syntax differ from the advanced
            // one `regex` approximates.
            'b' | 'e' => {
                return Err(EvalError::Unsupported(format!(
                    "regular expression option \"{c}\" (basic or extended syntax)"
                )));
            }
            other => {
                return Err(EvalError::Parse {
                    code: SqlState::INVALID_PARAMETER_VALUE,
                    message: format!("invalid regular expression option: \"{other}\""),
                });
            }
        }
    }
    Ok(o)
}

thread_local! {
    static CACHE: RefCell<Vec<(String, RegexOptions, Regex)>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with `pattern` compiled with `options` (from the thread's
/// cache when it compiled it lately).
pub fn with_regex<T>(
    pattern: &str,
    options: RegexOptions,
    f: impl FnOnce(&Regex) -> T,
) -> Result<T, EvalError> {
    let options = RegexOptions {
        global: false,
        ..options
    };
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(pos) = cache
            .iter()
            .position(|(p, o, _)| *o == options && p == pattern)
        {
            // Most recently used first.
            let entry = cache.remove(pos);
            let out = f(&entry.2);
            cache.insert(0, entry);
            return Ok(out);
        }
        let source = if options.literal {
            regex::escape(pattern)
        } else {
            pattern.to_string()
        };
        // PostgreSQL's default is not newline-sensitive: `.` matches a
        // newline, `^` and `$` only the ends of the string.
        let regex = RegexBuilder::new(&source)
            .case_insensitive(options.case_insensitive)
            .dot_matches_new_line(!options.newline_sensitive_dot)
            .multi_line(options.multi_line)
            .ignore_whitespace(options.expanded)
            .build()
            .map_err(|e| EvalError::Parse {
                code: SqlState::INVALID_REGULAR_EXPRESSION,
                message: format!(
                    "invalid regular expression: {}",
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("syntax error")
                        .trim()
                ),
            })?;
        let out = f(&regex);
        cache.insert(0, (pattern.to_string(), options, regex));
        cache.truncate(CACHE_SIZE);
        Ok(out)
    })
}

/// Whether `s` matches `pattern` anywhere (`~`; `~*` when
/// `case_insensitive`).
pub fn is_match(s: &str, pattern: &str, case_insensitive: bool) -> Result<bool, EvalError> {
    let options = RegexOptions {
        case_insensitive,
        ..RegexOptions::default()
    };
    with_regex(pattern, options, |re| re.is_match(s))
}

/// `regexp_split_to_array(s, pattern, flags)`: the pieces of `s` between
/// the matches, where (as PostgreSQL's `setup_regexp_matches` with
/// `ignore_degenerate`) a match that is empty at the start of the string
/// or right after the previous match, or starts at the end, separates
/// nothing.
pub fn split(s: &str, pattern: &str, flags: &str, func: &str) -> Result<Vec<String>, EvalError> {
    let options = parse_flags(flags, func, false)?;
    with_regex(pattern, options, |re| {
        let mut pieces = Vec::new();
        let mut prev_end = 0;
        let mut start = 0;
        while start <= s.len() {
            let Some(m) = re.find_at(s, start) else {
                break;
            };
            if m.start() < s.len() && m.end() > prev_end {
                pieces.push(s[prev_end..m.start()].to_string());
                prev_end = m.end();
            }
            start = m.end();
            if m.start() == m.end() {
                // Past one character, or past the end.
                match s[start..].chars().next() {
                    Some(c) => start += c.len_utf8(),
                    None => break,
                }
            }
        }
        pieces.push(s[prev_end..].to_string());
        pieces
    })
}

/// The matches of `re` in `s` from byte `start` as PostgreSQL's
/// `setup_regexp_matches` finds them: each search starts at the end of the
/// previous match, one character further when that match was empty.
/// Each match is its groups' byte ranges (group 0 the whole match).
fn all_matches(re: &Regex, s: &str, mut start: usize) -> Vec<Vec<Option<(usize, usize)>>> {
    let mut out = Vec::new();
    while start <= s.len() {
        let Some(caps) = re.captures_at(s, start) else {
            break;
        };
        let groups: Vec<_> = caps
            .iter()
            .map(|m| m.map(|m| (m.start(), m.end())))
            .collect();
        let Some(Some((so, eo))) = groups.first().copied() else {
            break;
        };
        out.push(groups);
        start = eo;
        if so == eo {
            match s[start..].chars().next() {
                Some(c) => start += c.len_utf8(),
                None => break,
            }
        }
    }
    out
}

fn text_arg(d: &Datum) -> Result<&str, EvalError> {
    match d {
        Datum::String(s) => Ok(s),
        other => Err(EvalError::Internal(format!("regexp argument {other:?}"))),
    }
}

fn int_arg(d: &Datum) -> Result<i64, EvalError> {
    match d {
        Datum::Int16(v) => Ok(i64::from(*v)),
        Datum::Int32(v) => Ok(i64::from(*v)),
        Datum::Int64(v) => Ok(*v),
        other => Err(EvalError::Internal(format!("regexp argument {other:?}"))),
    }
}

/// PostgreSQL's error for a bad `start` or `n` parameter.
fn invalid_parameter(name: &str, v: i64) -> EvalError {
    EvalError::Parse {
        code: SqlState::INVALID_PARAMETER_VALUE,
        message: format!("invalid value for parameter \"{name}\": {v}"),
    }
}

/// The byte offset of the 1-based character position `start` in `s`
/// (`s.len()` past the end); `start` must be positive.
fn byte_offset(s: &str, start: i64) -> Result<usize, EvalError> {
    if start <= 0 {
        return Err(invalid_parameter("start", start));
    }
    Ok(s.char_indices()
        .nth((start - 1) as usize)
        .map_or(s.len(), |(i, _)| i))
}

/// `regexp_match(s, pattern[, flags])`: the first match's groups (or the
/// whole match when there are none), NULL without a match.
pub fn regexp_match(args: &[Datum]) -> Result<Datum, EvalError> {
    let s = text_arg(&args[0])?;
    let flags = args.get(2).map(text_arg).transpose()?.unwrap_or("");
    let options = parse_flags(flags, "regexp_match", false)?;
    with_regex(text_arg(&args[1])?, options, |re| {
        let Some(caps) = re.captures(s) else {
            return Datum::Null;
        };
        let groups: Vec<Datum> = if caps.len() == 1 {
            vec![Datum::String(caps[0].to_string())]
        } else {
            caps.iter()
                .skip(1)
                .map(|m| m.map_or(Datum::Null, |m| Datum::String(m.as_str().to_string())))
                .collect()
        };
        Datum::Array(groups)
    })
}

/// The `text[]` of one match: its groups (NULL where a group took no
/// part), or the whole match when the pattern has none.
fn match_array(s: &str, groups: &[Option<(usize, usize)>]) -> Datum {
    let text = |g: &Option<(usize, usize)>| {
        g.map_or(Datum::Null, |(so, eo)| Datum::String(s[so..eo].to_string()))
    };
    Datum::Array(if groups.len() == 1 {
        vec![text(&groups[0])]
    } else {
        groups.iter().skip(1).map(text).collect()
    })
}

/// `regexp_matches(s, pattern[, flags])`, set-returning: the `text[]` of
/// the first match (with `g`, of every match), as [`regexp_match`] builds
/// it; no row without a match or for a NULL argument.
pub fn regexp_matches(args: &[Datum]) -> Result<Vec<Datum>, EvalError> {
    if args.iter().any(Datum::is_null) {
        return Ok(vec![]);
    }
    let s = text_arg(&args[0])?;
    let flags = args.get(2).map(text_arg).transpose()?.unwrap_or("");
    let options = parse_flags(flags, "regexp_matches", true)?;
    with_regex(text_arg(&args[1])?, options, |re| {
        let mut matches = all_matches(re, s, 0);
        if !options.global {
            matches.truncate(1);
        }
        matches.iter().map(|g| match_array(s, g)).collect()
    })
}

/// `regexp_like(s, pattern[, flags])`.
pub fn regexp_like(args: &[Datum]) -> Result<Datum, EvalError> {
    let s = text_arg(&args[0])?;
    let flags = args.get(2).map(text_arg).transpose()?.unwrap_or("");
    let options = parse_flags(flags, "regexp_like", false)?;
    with_regex(text_arg(&args[1])?, options, |re| {
        Datum::Bool(re.is_match(s))
    })
}

/// `regexp_count(s, pattern[, start[, flags]])`.
pub fn regexp_count(args: &[Datum]) -> Result<Datum, EvalError> {
    let s = text_arg(&args[0])?;
    let start = args.get(2).map(int_arg).transpose()?.unwrap_or(1);
    let start = byte_offset(s, start)?;
    let flags = args.get(3).map(text_arg).transpose()?.unwrap_or("");
    let options = parse_flags(flags, "regexp_count", false)?;
    with_regex(text_arg(&args[1])?, options, |re| {
        Datum::Int32(all_matches(re, s, start).len() as i32)
    })
}

/// Appends `replacement` for one match, with PostgreSQL's escapes: `\1`
/// to `\9` a group (nothing if it did not take part), `\&` the whole match,
/// `\\` a backslash; any other backslash is itself.
fn append_replacement(out: &mut String, s: &str, groups: &[Option<(usize, usize)>], r: &str) {
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(d @ '1'..='9') => {
                chars.next();
                let idx = d as usize - '0' as usize;
                if let Some(Some((so, eo))) = groups.get(idx) {
                    out.push_str(&s[*so..*eo]);
                }
            }
            Some('&') => {
                chars.next();
                if let Some(Some((so, eo))) = groups.first() {
                    out.push_str(&s[*so..*eo]);
                }
            }
            Some('\\') => {
                chars.next();
                out.push('\\');
            }
            _ => out.push('\\'),
        }
    }
}

/// `regexp_replace(s, pattern, replacement[, flags])` and PostgreSQL 15's
/// `regexp_replace(s, pattern, replacement, start[, n[, flags]])`: the
/// first match replaced (`g`: all; `n`: the `n`th, 0 for all) from the
/// character position `start`.
pub fn regexp_replace(args: &[Datum]) -> Result<Datum, EvalError> {
    let s = text_arg(&args[0])?;
    let replacement = text_arg(&args[2])?;
    let (start, n, flags) = match args.get(3) {
        None => (1, None, ""),
        Some(Datum::String(f)) => (1, None, f.as_str()),
        Some(start) => (
            int_arg(start)?,
            args.get(4).map(int_arg).transpose()?,
            args.get(5).map(text_arg).transpose()?.unwrap_or(""),
        ),
    };
    let start_byte = byte_offset(s, start)?;
    if let Some(n) = n
        && n < 0
    {
        return Err(invalid_parameter("n", n));
    }
    // With `n`, PostgreSQL accepts `g` and ignores it.
    let options = parse_flags(flags, "regexp_replace", true)?;
    // Which matches to replace: the `n`th (1-based), or all (0).
    let nth = match n {
        Some(n) => n as usize,
        None if options.global => 0,
        None => 1,
    };
    with_regex(text_arg(&args[1])?, options, |re| {
        let matches = all_matches(re, s, start_byte);
        let mut out = String::with_capacity(s.len());
        let mut copied = 0;
        for (i, groups) in matches.iter().enumerate() {
            if nth != 0 && i + 1 != nth {
                continue;
            }
            let Some(Some((so, eo))) = groups.first().copied() else {
                continue;
            };
            out.push_str(&s[copied..so]);
            append_replacement(&mut out, s, groups, replacement);
            copied = eo;
        }
        out.push_str(&s[copied..]);
        Datum::String(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_postgresql() {
        assert!(is_match("pg_toast", "^pg_", false).unwrap());
        assert!(!is_match("public", "^pg_", false).unwrap());
        assert!(is_match("ABC", "b", true).unwrap());
        assert!(!is_match("ABC", "b", false).unwrap());
        assert!(is_match("watchlist", "^(watchlist)$", false).unwrap());
        assert!(is_match("a\nb", "a.b", false).unwrap());
        let err = is_match("a", "(", false).unwrap_err();
        assert!(matches!(err, EvalError::Parse { .. }), "{err:?}");
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    fn sp(s: &str, p: &str) -> Vec<String> {
        split(s, p, "", "regexp_split_to_array").unwrap()
    }

    #[test]
    fn splits_like_postgresql() {
        assert_eq!(sp("a,b,,c", ","), ["a", "b", "", "c"]);
        assert_eq!(sp("abc", ""), ["a", "b", "c"]);
        assert_eq!(sp("héllo", ""), ["h", "é", "l", "l", "o"]);
        assert_eq!(
            sp("hello world", "\\s*"),
            ["h", "e", "l", "l", "o", "w", "o", "r", "l", "d"]
        );
        assert_eq!(sp(",a,", ","), ["", "a", ""]);
        assert_eq!(sp("", ","), [""]);
        assert!(split("a", ",", "g", "regexp_split_to_array").is_err());
        assert_eq!(split("aXbxc", "x", "i", "f").unwrap(), ["a", "b", "c"]);
    }
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    fn t(v: &str) -> Datum {
        Datum::String(v.into())
    }

    #[test]
    fn replaces_like_postgresql() {
        let r = |a: Vec<Datum>| regexp_replace(&a).unwrap();
        assert_eq!(
            r(vec![t("abc"), t("(b)"), t("[\\1\\&\\\\\\x]")]),
            t("a[bb\\\\x]c")
        );
        assert_eq!(
            r(vec![
                t("aaa"),
                t("a"),
                t("b"),
                Datum::Int32(1),
                Datum::Int32(2)
            ]),
            t("aba")
        );
        assert_eq!(r(vec![t("aaa"), t("a"), t("b"), Datum::Int32(2)]), t("aba"));
        assert_eq!(r(vec![t("aAa"), t("a"), t("b"), t("gi")]), t("bbb"));
        assert_eq!(r(vec![t("baaa"), t("a*"), t("-"), t("g")]), t("-b--"));
        assert_eq!(
            regexp_count(&[t("baaa"), t("a*")]).unwrap(),
            Datum::Int32(3)
        );
        assert!(regexp_replace(&[t("a"), t("a"), t("b"), Datum::Int32(0)]).is_err());
    }
}

/// `regexp_substr(s, pattern[, start[, n[, flags[, subexpr]]]])`
/// (PostgreSQL 15): the `n`th match from `start` (or its group
/// `subexpr`), NULL without one.
pub fn regexp_substr(args: &[Datum]) -> Result<Datum, EvalError> {
    let found = nth_match(args, "regexp_substr", 4, 5)?;
    Ok(match found {
        Some((s, so, eo)) => Datum::String(s[so..eo].to_string()),
        None => Datum::Null,
    })
}

/// `regexp_instr(s, pattern[, start[, n[, endoption[, flags[,
/// subexpr]]]]])` (PostgreSQL 15): the character position where the
/// `n`th match (or its group `subexpr`) starts, or just after it ends
/// (`endoption` 1); 0 without one.
pub fn regexp_instr(args: &[Datum]) -> Result<Datum, EvalError> {
    let endoption = args.get(4).map(int_arg).transpose()?.unwrap_or(0);
    if endoption != 0 && endoption != 1 {
        return Err(invalid_parameter("endoption", endoption));
    }
    let found = nth_match(args, "regexp_instr", 5, 6)?;
    Ok(Datum::Int32(match found {
        Some((s, so, eo)) => {
            let at = if endoption == 1 { eo } else { so };
            s[..at].chars().count() as i32 + 1
        }
        None => 0,
    }))
}

/// The string and byte range of the match `regexp_substr` and
/// `regexp_instr` look for; `flags_at` and `subexpr_at` are the argument
/// positions of their `flags` and `subexpr`.
fn nth_match<'a>(
    args: &'a [Datum],
    func: &str,
    flags_at: usize,
    subexpr_at: usize,
) -> Result<Option<(&'a str, usize, usize)>, EvalError> {
    let s = text_arg(&args[0])?;
    let start = args.get(2).map(int_arg).transpose()?.unwrap_or(1);
    let start = byte_offset(s, start)?;
    let n = args.get(3).map(int_arg).transpose()?.unwrap_or(1);
    if n <= 0 {
        return Err(invalid_parameter("n", n));
    }
    let flags = args.get(flags_at).map(text_arg).transpose()?.unwrap_or("");
    let options = parse_flags(flags, func, false)?;
    let subexpr = args.get(subexpr_at).map(int_arg).transpose()?.unwrap_or(0);
    if subexpr < 0 {
        return Err(invalid_parameter("subexpr", subexpr));
    }
    with_regex(text_arg(&args[1])?, options, |re| {
        let matches = all_matches(re, s, start);
        let groups = matches.get((n - 1) as usize)?;
        let (so, eo) = (*groups.get(subexpr as usize)?)?;
        Some((s, so, eo))
    })
}

/// PostgreSQL's `similar_to_escape`: a `SIMILAR TO` pattern as a regular
/// expression anchored at both ends (`%` any string, `_` any character,
/// `(` a non-capturing group, the escape character quoting the next one;
/// `.`, `^`, `$` and `\` literal). With escape-double-quote separators
/// (`a#"b#"c`), the middle part is the regular expression's first
/// subexpression, which `substring` returns; PostgreSQL matches the part
/// before it as little as possible, so its quantifiers are made lazy here.
pub fn similar_to_regex(pattern: &str, escape: Option<char>) -> Result<String, EvalError> {
    let mut out = String::from("^(?:");
    let mut after_escape = false;
    let mut in_class = false;
    let mut nquotes = 0;
    let has_separators = escape.is_some_and(|e| pattern.contains(&format!("{e}\"")) && e != '"');
    for c in pattern.chars() {
        let lazy = has_separators && nquotes == 0;
        if after_escape {
            if c == '"' && !in_class {
                match nquotes {
                    0 => out.push_str("){1,1}?("),
                    1 => out.push_str("){1,1}(?:"),
                    _ => {
                        return Err(EvalError::Parse {
                            code: SqlState(*b"2200C"),
                            message: "SQL regular expression may not contain more than two \
                                      escape-double-quote separators"
                                .into(),
                        });
                    }
                }
                nquotes += 1;
            } else {
                out.push('\\');
                out.push(c);
            }
            after_escape = false;
        } else if Some(c) == escape {
            after_escape = true;
        } else if in_class {
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
            if c == ']' {
                in_class = false;
            }
        } else {
            match c {
                '[' => {
                    out.push('[');
                    in_class = true;
                }
                '%' => out.push_str(if lazy { ".*?" } else { ".*" }),
                '_' => out.push('.'),
                '(' => out.push_str("(?:"),
                '*' | '+' | '?' | '}' if lazy => {
                    out.push(c);
                    out.push('?');
                }
                '\\' | '.' | '^' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// PostgreSQL's `textregexsubstr` (`substring(s FROM pattern)`): the part
/// of the first match that the first parenthesized subexpression matched
/// (NULL if it took no part), or the whole match without one; NULL without
/// a match.
pub fn substring(s: &str, pattern: &str) -> Result<Datum, EvalError> {
    with_regex(pattern, RegexOptions::default(), |re| {
        let Some(caps) = re.captures(s) else {
            return Datum::Null;
        };
        let m = if caps.len() > 1 {
            caps.get(1)
        } else {
            caps.get(0)
        };
        m.map_or(Datum::Null, |m| Datum::String(m.as_str().to_string()))
    })
}

/// The escape character of an `ESCAPE` string (`None`: the default, `\`;
/// an empty string: no escape character).
fn similar_escape(escape: Option<&str>) -> Result<Option<char>, EvalError> {
    Ok(match escape {
        None => Some('\\'),
        Some(e) => {
            let mut chars = e.chars();
            match (chars.next(), chars.next()) {
                (None, _) => None,
                (Some(c), None) => Some(c),
                _ => {
                    return Err(EvalError::Parse {
                        code: SqlState::INVALID_ESCAPE_SEQUENCE,
                        message: "invalid escape string".into(),
                    });
                }
            }
        }
    })
}

/// `s SIMILAR TO pattern [ESCAPE escape]`; `escape` is the escape
/// string (`None`: the default, `\`).
pub fn similar_to(s: &str, pattern: &str, escape: Option<&str>) -> Result<bool, EvalError> {
    let escape = similar_escape(escape)?;
    let regex = similar_to_regex(pattern, escape)?;
    with_regex(&regex, RegexOptions::default(), |re| re.is_match(s))
}

/// The functions of this module called as `VariadicFunc::Regex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegexFunc {
    /// `s SIMILAR TO pattern [ESCAPE c]` (arguments: `s`, `pattern`).
    SimilarTo {
        /// The escape character (`\` when none is given).
        escape: Option<char>,
    },
    /// [`regexp_substr`].
    RegexpSubstr,
    /// [`regexp_instr`].
    RegexpInstr,
    /// `substring(s FROM pattern)`: [`substring`].
    Substring,
    /// `substring(s FROM pattern FOR escape)` and `substring(s SIMILAR
    /// pattern ESCAPE escape)`: [`substring`] of the `SIMILAR TO` pattern.
    SubstringSimilar,
}

impl RegexFunc {
    /// Applies the function (strict).
    pub fn eval(&self, args: Vec<Datum>) -> Result<Datum, EvalError> {
        if args.iter().any(Datum::is_null) {
            return Ok(Datum::Null);
        }
        match self {
            RegexFunc::SimilarTo { escape } => {
                let s = text_arg(&args[0])?;
                let pattern = text_arg(&args[1])?;
                let escape = escape.map(String::from);
                Ok(Datum::Bool(similar_to(
                    s,
                    pattern,
                    Some(escape.as_deref().unwrap_or("\\")),
                )?))
            }
            RegexFunc::RegexpSubstr => regexp_substr(&args),
            RegexFunc::RegexpInstr => regexp_instr(&args),
            RegexFunc::Substring => substring(text_arg(&args[0])?, text_arg(&args[1])?),
            RegexFunc::SubstringSimilar => {
                let escape = similar_escape(Some(text_arg(&args[2])?))?;
                let regex = similar_to_regex(text_arg(&args[1])?, escape)?;
                substring(text_arg(&args[0])?, &regex)
            }
        }
    }
}
