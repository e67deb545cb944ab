//! PostgreSQL's number templates: `to_char(integer | bigint | real |
//! double precision | numeric, text)` and `to_number(text, text)`
//! (PostgreSQL 15's `formatting.c`, its `NUM_*` half).
//!
//! A template is a list of keywords (`9 0 . , D G S PL MI SG PR FM TH th V
//! EEEE RN rn L B C SP`, found left to right, the first of PostgreSQL's
//! keyword order that matches) and literal characters (`"…"` quoted text,
//! `\"` a quote). The value is first printed as a digit string with as
//! many fraction digits as the template has after its decimal point
//! (rounded: half away from zero for `numeric`, as C's `printf` for
//! floats, which keep at most 15 or 6 significant digits), then the
//! template is walked once, copying a digit, a blank or a sign for each
//! keyword exactly as `NUM_processor` does. A value with more integer
//! digits than the template has becomes `#`s. The locale is C: `D` is
//! `.`, `G` is `,`, `L` is a blank.

use crate::repr::{Numeric, NumericRounding};

use super::error::EvalError;
use crate::repr::{Datum, SqlState};

/// A template keyword (PostgreSQL's `NUM_poz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Comma,
    Dec,
    Zero,
    Nine,
    B,
    C,
    D,
    Eeee,
    Fm,
    G,
    L,
    Mi,
    Pl,
    Pr,
    RnUpper,
    RnLower,
    Sg,
    Sp,
    S,
    ThUpper,
    ThLower,
    V,
}

/// PostgreSQL's keyword table in its order: the first entry that
/// prefixes the rest of the template wins (`SG` before `S`).
const KEYWORDS: &[(&str, Key)] = &[
    (",", Key::Comma),
    (".", Key::Dec),
    ("0", Key::Zero),
    ("9", Key::Nine),
    ("B", Key::B),
    ("C", Key::C),
    ("D", Key::D),
    ("EEEE", Key::Eeee),
    ("FM", Key::Fm),
    ("G", Key::G),
    ("L", Key::L),
    ("MI", Key::Mi),
    ("PL", Key::Pl),
    ("PR", Key::Pr),
    ("RN", Key::RnUpper),
    ("SG", Key::Sg),
    ("SP", Key::Sp),
    ("S", Key::S),
    ("TH", Key::ThUpper),
    ("V", Key::V),
    ("b", Key::B),
    ("c", Key::C),
    ("d", Key::D),
    ("eeee", Key::Eeee),
    ("fm", Key::Fm),
    ("g", Key::G),
    ("l", Key::L),
    ("mi", Key::Mi),
    ("pl", Key::Pl),
    ("pr", Key::Pr),
    ("rn", Key::RnLower),
    ("sg", Key::Sg),
    ("sp", Key::Sp),
    ("s", Key::S),
    ("th", Key::ThLower),
    ("v", Key::V),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Key(Key),
    Char(String),
}

const F_DECIMAL: u32 = 1 << 1;
const F_LDECIMAL: u32 = 1 << 2;
const F_ZERO: u32 = 1 << 3;
const F_BLANK: u32 = 1 << 4;
const F_FILLMODE: u32 = 1 << 5;
const F_LSIGN: u32 = 1 << 6;
const F_BRACKET: u32 = 1 << 7;
const F_MINUS: u32 = 1 << 8;
const F_PLUS: u32 = 1 << 9;
const F_ROMAN: u32 = 1 << 10;
const F_MULTI: u32 = 1 << 11;
const F_EEEE: u32 = 1 << 14;

const LSIGN_PRE: i8 = -1;
const LSIGN_POST: i8 = 1;

/// What the template says about the number (PostgreSQL's `NUMDesc`).
#[derive(Debug, Clone, Default)]
struct NumDesc {
    /// Digit positions before the decimal point.
    pre: i32,
    /// Digit positions after it.
    post: i32,
    lsign: i8,
    flag: u32,
    pre_lsign_num: i32,
    /// Digit positions after `V`.
    multi: i32,
    zero_start: i32,
    zero_end: i32,
}

impl NumDesc {
    fn has(&self, f: u32) -> bool {
        self.flag & f != 0
    }
}

fn syntax(message: &str) -> EvalError {
    EvalError::Parse {
        code: SqlState::SYNTAX_ERROR,
        message: message.into(),
    }
}

/// `NUMDesc_prepare`: records one keyword, refusing PostgreSQL's
/// impossible combinations.
fn prepare(num: &mut NumDesc, key: Key) -> Result<(), EvalError> {
    if num.has(F_EEEE) && key != Key::Eeee {
        return Err(syntax("\"EEEE\" must be the last pattern used"));
    }
    match key {
        Key::Nine => {
            if num.has(F_BRACKET) {
                return Err(syntax("\"9\" must be ahead of \"PR\""));
            }
            if num.has(F_MULTI) {
                num.multi += 1;
            } else if num.has(F_DECIMAL) {
                num.post += 1;
            } else {
                num.pre += 1;
            }
        }
        Key::Zero => {
            if num.has(F_BRACKET) {
                return Err(syntax("\"0\" must be ahead of \"PR\""));
            }
            if !num.has(F_ZERO) && !num.has(F_DECIMAL) {
                num.flag |= F_ZERO;
                num.zero_start = num.pre + 1;
            }
            if num.has(F_DECIMAL) {
                num.post += 1;
            } else {
                num.pre += 1;
            }
            num.zero_end = num.pre + num.post;
        }
        Key::B => {
            if num.pre == 0 && num.post == 0 && !num.has(F_ZERO) {
                num.flag |= F_BLANK;
            }
        }
        Key::D | Key::Dec => {
            if key == Key::D {
                num.flag |= F_LDECIMAL;
            }
            if num.has(F_DECIMAL) {
                return Err(syntax("multiple decimal points"));
            }
            if num.has(F_MULTI) {
                return Err(syntax("cannot use \"V\" and decimal point together"));
            }
            num.flag |= F_DECIMAL;
        }
        Key::Fm => num.flag |= F_FILLMODE,
        Key::S => {
            if num.has(F_LSIGN) {
                return Err(syntax("cannot use \"S\" twice"));
            }
            if num.has(F_PLUS) || num.has(F_MINUS) || num.has(F_BRACKET) {
                return Err(syntax(
                    "cannot use \"S\" and \"PL\"/\"MI\"/\"SG\"/\"PR\" together",
                ));
            }
            if !num.has(F_DECIMAL) {
                num.lsign = LSIGN_PRE;
                num.pre_lsign_num = num.pre;
                num.flag |= F_LSIGN;
            } else if num.lsign == 0 {
                num.lsign = LSIGN_POST;
                num.flag |= F_LSIGN;
            }
        }
        Key::Mi => {
            if num.has(F_LSIGN) {
                return Err(syntax("cannot use \"S\" and \"MI\" together"));
            }
            num.flag |= F_MINUS;
        }
        Key::Pl => {
            if num.has(F_LSIGN) {
                return Err(syntax("cannot use \"S\" and \"PL\" together"));
            }
            num.flag |= F_PLUS;
        }
        Key::Sg => {
            if num.has(F_LSIGN) {
                return Err(syntax("cannot use \"S\" and \"SG\" together"));
            }
            num.flag |= F_MINUS | F_PLUS;
        }
        Key::Pr => {
            if num.has(F_LSIGN) || num.has(F_PLUS) || num.has(F_MINUS) {
                return Err(syntax(
                    "cannot use \"PR\" and \"S\"/\"PL\"/\"MI\"/\"SG\" together",
                ));
            }
            num.flag |= F_BRACKET;
        }
        Key::RnUpper | Key::RnLower => num.flag |= F_ROMAN,
        Key::V => {
            if num.has(F_DECIMAL) {
                return Err(syntax("cannot use \"V\" and decimal point together"));
            }
            num.flag |= F_MULTI;
        }
        Key::Eeee => {
            if num.has(F_EEEE) {
                return Err(syntax("cannot use \"EEEE\" twice"));
            }
            if num.flag
                & (F_BLANK
                    | F_FILLMODE
                    | F_LSIGN
                    | F_BRACKET
                    | F_MINUS
                    | F_PLUS
                    | F_ROMAN
                    | F_MULTI)
                != 0
            {
                return Err(EvalError::Parse {
                    code: SqlState::SYNTAX_ERROR,
                    message: "\"EEEE\" is incompatible with other formats".into(),
                });
            }
            num.flag |= F_EEEE;
        }
        Key::Comma | Key::C | Key::G | Key::L | Key::Sp | Key::ThUpper | Key::ThLower => {}
    }
    Ok(())
}

/// `parse_format` for numbers.
fn parse_template(template: &str) -> Result<(Vec<Node>, NumDesc), EvalError> {
    let mut nodes = Vec::new();
    let mut num = NumDesc::default();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        let key = if (' '..'~').contains(&c) && c != ' ' {
            KEYWORDS.iter().find(|(k, _)| rest.starts_with(k))
        } else {
            None
        };
        if let Some((k, key)) = key {
            prepare(&mut num, *key)?;
            nodes.push(Node::Key(*key));
            rest = &rest[k.len()..];
        } else if c == '"' {
            rest = &rest[1..];
            let mut chars = rest.chars();
            loop {
                match chars.next() {
                    None => break,
                    Some('"') => break,
                    Some('\\') => {
                        let next = chars.clone().next();
                        match next {
                            Some(n) => {
                                chars.next();
                                nodes.push(Node::Char(n.to_string()));
                            }
                            None => nodes.push(Node::Char("\\".into())),
                        }
                    }
                    Some(ch) => nodes.push(Node::Char(ch.to_string())),
                }
            }
            rest = chars.as_str();
        } else {
            let mut r = &rest[c.len_utf8()..];
            let mut ch = c;
            if c == '\\' && r.starts_with('"') {
                ch = '"';
                r = &r[1..];
            }
            nodes.push(Node::Char(ch.to_string()));
            rest = r;
        }
    }
    Ok((nodes, num))
}

/// `get_th`: the ordinal suffix of a digit string.
fn ordinal_suffix(number: &[u8], upper: bool) -> Result<&'static str, EvalError> {
    let len = number.len();
    let last = number.last().copied().unwrap_or(0);
    if !last.is_ascii_digit() {
        return Err(EvalError::Parse {
            code: SqlState::INVALID_TEXT_REPRESENTATION,
            message: format!("\"{}\" is not a number", String::from_utf8_lossy(number)),
        });
    }
    let teen = len > 1 && number[len - 2] == b'1';
    let suffix = match (teen, last) {
        (false, b'1') => "st",
        (false, b'2') => "nd",
        (false, b'3') => "rd",
        _ => "th",
    };
    Ok(if upper {
        match suffix {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        suffix
    })
}

/// `int_to_roman`: upper case, `#`s outside 1..=3999.
fn int_to_roman(number: i32) -> String {
    const RM1: [&str; 9] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"];
    const RM10: [&str; 9] = ["X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"];
    const RM100: [&str; 9] = ["C", "CC", "CCC", "CD", "D", "DC", "DCC", "DCCC", "CM"];
    if !(1..=3999).contains(&number) {
        return "#".repeat(15);
    }
    let digits = number.to_string();
    let mut out = String::new();
    let mut len = digits.len();
    for d in digits.bytes() {
        let n = usize::from(d - b'0');
        if n > 0 {
            match len {
                4 => out.push_str(&"M".repeat(n)),
                3 => out.push_str(RM100[n - 1]),
                2 => out.push_str(RM10[n - 1]),
                _ => out.push_str(RM1[n - 1]),
            }
        }
        len -= 1;
    }
    out
}

/// The `#` string of a value with too many integer digits.
fn overflow_fill(num: &NumDesc) -> Vec<u8> {
    let len = (num.pre + num.post + 1).max(0) as usize;
    let mut s = vec![b'#'; len];
    if let Some(c) = s.get_mut(num.pre.max(0) as usize) {
        *c = b'.';
    }
    s
}

/// `get_last_relevant_decnum`: the index of the last non-zero digit after
/// the point, or of the point itself.
fn last_relevant_decnum(number: &[u8]) -> Option<usize> {
    let point = number.iter().position(|&c| c == b'.')?;
    let mut result = point;
    for (i, &c) in number.iter().enumerate().skip(point + 1) {
        if c != b'0' {
            result = i;
        }
    }
    Some(result)
}

/// `NUM_processor` writing text (the to_char direction).
struct ToChar<'a> {
    num: &'a mut NumDesc,
    sign: u8,
    sign_wrote: bool,
    num_count: i32,
    num_in: bool,
    num_curr: i32,
    out_pre_spaces: i32,
    number: Vec<u8>,
    number_p: usize,
    last_relevant: Option<usize>,
    out: Vec<u8>,
}

impl ToChar<'_> {
    fn at(&self, i: usize) -> u8 {
        self.number.get(i).copied().unwrap_or(0)
    }

    fn relevant_is_point(&self) -> bool {
        self.last_relevant.is_some_and(|i| self.at(i) == b'.')
    }

    fn predec_space(&self) -> bool {
        !self.num.has(F_ZERO) && self.number_p == 0 && self.at(0) == b'0' && self.num.post != 0
    }

    fn push_sign_text(&mut self) {
        self.out.push(if self.sign == b'-' { b'-' } else { b'+' });
    }

    /// `NUM_numpart_to_char`.
    fn numpart(&mut self, key: Key) {
        if self.num.has(F_ROMAN) {
            return;
        }
        self.num_in = false;
        let fill = self.num.has(F_FILLMODE);
        if !self.sign_wrote
            && (self.num_curr >= self.out_pre_spaces
                || (self.num.has(F_ZERO) && self.num.zero_start == self.num_curr))
            && (!self.predec_space() || self.relevant_is_point())
        {
            if self.num.has(F_LSIGN) {
                if self.num.lsign == LSIGN_PRE {
                    self.push_sign_text();
                    self.sign_wrote = true;
                }
            } else if self.num.has(F_BRACKET) {
                self.out.push(if self.sign == b'+' { b' ' } else { b'<' });
                self.sign_wrote = true;
            } else if self.sign == b'+' {
                if !fill {
                    self.out.push(b' ');
                }
                self.sign_wrote = true;
            } else if self.sign == b'-' {
                self.out.push(b'-');
                self.sign_wrote = true;
            }
        }

        if matches!(key, Key::Nine | Key::Zero | Key::D | Key::Dec) {
            let zero = self.num.has(F_ZERO);
            if self.num_curr < self.out_pre_spaces && (self.num.zero_start > self.num_curr || !zero)
            {
                if !fill {
                    self.out.push(b' ');
                }
            } else if zero
                && self.num_curr < self.out_pre_spaces
                && self.num.zero_start <= self.num_curr
            {
                self.out.push(b'0');
                self.num_in = true;
            } else {
                if self.at(self.number_p) == b'.' {
                    if !self.relevant_is_point() || fill {
                        self.out.push(b'.');
                    }
                } else if self
                    .last_relevant
                    .is_some_and(|lr| self.number_p > lr && key != Key::Zero)
                {
                } else if self.predec_space() {
                    if !fill {
                        self.out.push(b' ');
                    } else if self.relevant_is_point() {
                        self.out.push(b'0');
                    }
                } else {
                    self.out.push(self.at(self.number_p));
                    self.num_in = true;
                }
                if self.at(self.number_p) != 0 {
                    self.number_p += 1;
                }
            }

            let mut end = self.num_count
                + i32::from(self.out_pre_spaces != 0)
                + i32::from(self.num.has(F_DECIMAL));
            if self.last_relevant == Some(self.number_p) {
                end = self.num_curr;
            }
            if self.num_curr + 1 == end {
                if self.sign_wrote && self.num.has(F_BRACKET) {
                    self.out.push(if self.sign == b'+' { b' ' } else { b'>' });
                } else if self.num.has(F_LSIGN) && self.num.lsign == LSIGN_POST {
                    self.push_sign_text();
                }
            }
        }
        self.num_curr += 1;
    }
}

/// `NUM_processor(..., is_to_char = true)`.
fn process_to_char(
    nodes: &[Node],
    num: &mut NumDesc,
    number: Vec<u8>,
    out_pre_spaces: i32,
    sign: u8,
) -> Result<String, EvalError> {
    if num.zero_start != 0 {
        num.zero_start -= 1;
    }
    if num.has(F_EEEE) {
        return Ok(String::from_utf8_lossy(&number).into_owned());
    }
    let mut out_pre_spaces = out_pre_spaces;
    let mut sign = sign;
    if num.has(F_ROMAN) {
        num.lsign = 0;
        num.pre_lsign_num = 0;
        num.post = 0;
        num.pre = 0;
        out_pre_spaces = 0;
        sign = 0;
        num.flag = F_ROMAN | (num.flag & F_FILLMODE);
    }
    let sign_wrote;
    if num.has(F_PLUS) || num.has(F_MINUS) {
        sign_wrote = !num.has(F_PLUS) || num.has(F_MINUS);
    } else {
        if sign != b'-' && num.has(F_FILLMODE) {
            num.flag &= !F_BRACKET;
        }
        sign_wrote = sign == b'+' && num.has(F_FILLMODE) && !num.has(F_LSIGN);
        if num.lsign == LSIGN_PRE && num.pre == num.pre_lsign_num {
            num.lsign = LSIGN_POST;
        }
    }
    let mut num_count = num.post + num.pre - 1;
    let mut last_relevant = None;
    if num.has(F_FILLMODE) && num.has(F_DECIMAL) {
        last_relevant = last_relevant_decnum(&number);
        if let Some(lr) = last_relevant
            && num.zero_end > out_pre_spaces
            && !number.is_empty()
        {
            let last_zero = (number.len() - 1).min((num.zero_end - out_pre_spaces) as usize);
            if lr < last_zero {
                last_relevant = Some(last_zero);
            }
        }
    }
    if !sign_wrote && out_pre_spaces == 0 {
        num_count += 1;
    }
    let fill = num.has(F_FILLMODE);
    let roman = num.has(F_ROMAN);
    let decimal = num.has(F_DECIMAL);
    let mut p = ToChar {
        num,
        sign,
        sign_wrote,
        num_count,
        num_in: false,
        num_curr: 0,
        out_pre_spaces,
        number,
        number_p: 0,
        last_relevant,
        out: Vec::new(),
    };
    for node in nodes {
        let key = match node {
            Node::Char(c) => {
                p.out.extend_from_slice(c.as_bytes());
                continue;
            }
            Node::Key(k) => *k,
        };
        match key {
            Key::Nine | Key::Zero | Key::Dec | Key::D => p.numpart(key),
            Key::Comma | Key::G => {
                if !p.num_in {
                    if !fill {
                        p.out.push(b' ');
                    }
                } else {
                    p.out.push(b',');
                }
            }
            Key::L => p.out.push(b' '),
            Key::RnUpper | Key::RnLower => {
                let mut s = String::from_utf8_lossy(&p.number[p.number_p.min(p.number.len())..])
                    .into_owned();
                if key == Key::RnLower {
                    s = s.to_ascii_lowercase();
                }
                if fill {
                    p.out.extend_from_slice(s.as_bytes());
                } else {
                    p.out.extend_from_slice(format!("{s:>15}").as_bytes());
                }
            }
            Key::ThUpper | Key::ThLower => {
                if roman || p.at(0) == b'#' || p.sign == b'-' || decimal {
                    continue;
                }
                let suffix = ordinal_suffix(&p.number, key == Key::ThUpper)?;
                p.out.extend_from_slice(suffix.as_bytes());
            }
            Key::Mi => {
                if p.sign == b'-' {
                    p.out.push(b'-');
                } else if !fill {
                    p.out.push(b' ');
                }
            }
            Key::Pl => {
                if p.sign == b'+' {
                    p.out.push(b'+');
                } else if !fill {
                    p.out.push(b' ');
                }
            }
            Key::Sg => p.out.push(p.sign),
            Key::B | Key::C | Key::Eeee | Key::Fm | Key::Pr | Key::Sp | Key::S | Key::V => {}
        }
    }
    // PostgreSQL's result ends at a NUL written for a missing digit or sign.
    let mut out = p.out;
    if let Some(end) = out.iter().position(|&c| c == 0) {
        out.truncate(end);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// C's `%+.*e` (at least two exponent digits), with PostgreSQL's own
/// `snprintf` spelling of NaN and infinities.
fn c_sci(value: f64, digits: usize) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "+Infinity"
        } else {
            "-Infinity"
        }
        .into();
    }
    let s = format!("{value:+.digits$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (exp_sign, exp_digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{exp_sign}{exp_digits:0>2}")
}

/// C's `%.*f`, with PostgreSQL's spellings of NaN and infinities.
fn c_fixed(value: f64, digits: usize) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    format!("{value:.digits$}")
}

/// The digits of `|d|` rounded half away from zero to `places` fraction
/// digits (any number of them, beyond a `Numeric`'s 28), as text with
/// exactly that many; and whether `d` was negative and did not round to 0.
fn numeric_digits(d: &Numeric, places: i32) -> (bool, String) {
    let mantissa = d.to_big_parts().0.magnitude().to_string();
    let scale = d.scale() as i32;
    // Integer and fraction digit strings.
    let (mut int_part, mut frac): (Vec<u8>, Vec<u8>) = if mantissa.len() as i32 > scale {
        let split = mantissa.len() - scale as usize;
        (
            mantissa.as_bytes()[..split].to_vec(),
            mantissa.as_bytes()[split..].to_vec(),
        )
    } else {
        let mut f = vec![b'0'; (scale as usize) - mantissa.len()];
        f.extend_from_slice(mantissa.as_bytes());
        (vec![b'0'], f)
    };
    let places_u = places.max(0) as usize;
    if frac.len() > places_u {
        let round_up = frac[places_u] >= b'5';
        frac.truncate(places_u);
        if round_up {
            let mut carry = true;
            for c in frac.iter_mut().rev().chain(int_part.iter_mut().rev()) {
                if *c == b'9' {
                    *c = b'0';
                } else {
                    *c += 1;
                    carry = false;
                    break;
                }
            }
            if carry {
                int_part.insert(0, b'1');
            }
        }
    }
    frac.resize(places_u, b'0');
    // Strip leading zeros of the integer part, keeping one.
    let nonzero = int_part.iter().position(|&c| c != b'0');
    let int_part = match nonzero {
        Some(i) => int_part[i..].to_vec(),
        None => vec![b'0'],
    };
    let is_zero = int_part == b"0" && frac.iter().all(|&c| c == b'0');
    let mut s = String::from_utf8_lossy(&int_part).into_owned();
    if places_u > 0 {
        s.push('.');
        s.push_str(&String::from_utf8_lossy(&frac));
    }
    (d.is_sign_negative() && !is_zero, s)
}

/// `numeric_out_sci`: `d` as `m.mmm e±XX` with `places` digits after the
/// point, rounded half away from zero (and not renormalised: 9.999 to two
/// places is `10.00e+00`, as in PostgreSQL).
fn numeric_sci(d: &Numeric, places: i32) -> String {
    let (m, _) = d.to_big_parts();
    let mantissa = m.magnitude().to_string();
    let exponent = if d.is_zero() {
        0
    } else {
        mantissa.len() as i32 - 1 - d.scale() as i32
    };
    // The significand: the digits with the point after the first one.
    // The mantissa (at most 2001 digits) and a scale of one fewer than
    // its digits always make a value.
    let significand = Numeric::from_big_parts(
        num_bigint::BigInt::from(m.magnitude().clone()),
        (mantissa.len() as u32)
            .saturating_sub(1)
            .min(Numeric::MAX_SCALE),
    )
    .unwrap_or(Numeric::ZERO);
    let (_, digits) = if d.is_zero() {
        numeric_digits(&Numeric::ZERO, places)
    } else {
        numeric_digits(&significand, places)
    };
    let sign = if d.is_sign_negative() && !d.is_zero() {
        "-"
    } else {
        ""
    };
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{digits}e{exp_sign}{:02}", exponent.unsigned_abs())
}

fn pow10_i64(n: i32) -> Option<i64> {
    10i64.checked_pow(u32::try_from(n).ok()?)
}

/// The digit string, leading blanks and sign of an integer (`int4_to_char`
/// / `int8_to_char`, after any `V` scaling).
fn integer_number(orgnum: String, num: &NumDesc) -> (Vec<u8>, i32, u8) {
    let (sign, digits) = match orgnum.strip_prefix('-') {
        Some(d) => (b'-', d.to_string()),
        None => (b'+', orgnum),
    };
    let pre_len = digits.len() as i32;
    let mut number = digits.into_bytes();
    if num.post > 0 {
        number.push(b'.');
        number.extend(std::iter::repeat_n(b'0', num.post as usize));
    }
    if pre_len < num.pre {
        (number, num.pre - pre_len, sign)
    } else if pre_len > num.pre {
        (overflow_fill(num), 0, sign)
    } else {
        (number, 0, sign)
    }
}

/// The digit string, leading blanks and sign of a fixed-point number
/// already printed (`-` first if negative).
fn fixed_number(orgnum: String, num: &NumDesc) -> (Vec<u8>, i32, u8) {
    let (sign, digits) = match orgnum.strip_prefix('-') {
        Some(d) => (b'-', d.to_string()),
        None => (b'+', orgnum),
    };
    let pre_len = digits.find('.').unwrap_or(digits.len()) as i32;
    if pre_len < num.pre {
        (digits.into_bytes(), num.pre - pre_len, sign)
    } else if pre_len > num.pre {
        (overflow_fill(num), 0, sign)
    } else {
        (digits.into_bytes(), 0, sign)
    }
}

/// A float's `#` string for `EEEE` of NaN or an infinity.
fn eeee_fill(num: &NumDesc) -> Vec<u8> {
    let mut s = vec![b'#'; (num.pre + num.post + 6).max(0) as usize];
    if let Some(c) = s.first_mut() {
        *c = b' ';
    }
    if let Some(c) = s.get_mut((num.pre + 1) as usize) {
        *c = b'.';
    }
    s
}

fn out_of_range(type_name: &str) -> EvalError {
    EvalError::OutOfRange(type_name.into())
}

/// `float4_to_char` / `float8_to_char` (`max_digits` is `FLT_DIG` or
/// `DBL_DIG`).
fn float_number(
    value: f64,
    num: &mut NumDesc,
    max_digits: i32,
    is_real: bool,
) -> (Vec<u8>, i32, u8) {
    if num.has(F_ROMAN) {
        let r = value.round_ties_even();
        let int = if r.is_nan() || !(-2147483648.0..2147483648.0).contains(&r) {
            i32::MAX
        } else {
            r as i32
        };
        return (int_to_roman(int).into_bytes(), 0, 0);
    }
    if num.has(F_EEEE) {
        if !value.is_finite() {
            return (eeee_fill(num), 0, 0);
        }
        let mut s = c_sci(value, num.post.max(0) as usize);
        if s.starts_with('+') {
            s.replace_range(0..1, " ");
        }
        return (s.into_bytes(), 0, 0);
    }
    let mut val = value;
    if num.has(F_MULTI) {
        let multi = 10f64.powi(num.multi);
        val = if is_real {
            f64::from(value as f32 * multi as f32)
        } else {
            value * multi
        };
        num.pre += num.multi;
    }
    let pre_len = c_fixed(val.abs(), 0).len() as i32;
    if pre_len >= max_digits {
        num.post = 0;
    } else if pre_len + num.post > max_digits {
        num.post = max_digits - pre_len;
    }
    fixed_number(c_fixed(val, num.post.max(0) as usize), num)
}

/// `to_char` of a number.
pub fn to_char(value: &Datum, template: &str) -> Result<Datum, EvalError> {
    if template.is_empty() {
        return Ok(Datum::String(String::new()));
    }
    let (nodes, mut num) = parse_template(template)?;
    let (number, out_pre_spaces, sign) = match value {
        Datum::Int16(v) => int4_number(i32::from(*v), &mut num),
        Datum::Int32(v) => int4_number(*v, &mut num),
        Datum::Int64(v) => int8_number(*v, &mut num)?,
        Datum::Float32(v) => float_number(f64::from(v.0), &mut num, 6, true),
        Datum::Float64(v) => float_number(v.0, &mut num, 15, false),
        Datum::Numeric(d) => numeric_number(d, &mut num)?,
        Datum::NumericNaN => numeric_nan_number(&mut num)?,
        other => {
            return Err(EvalError::Internal(format!(
                "to_char of a number applied to {other:?}"
            )));
        }
    };
    let text = process_to_char(&nodes, &mut num, number, out_pre_spaces, sign)?;
    Ok(Datum::String(text))
}

fn int4_number(value: i32, num: &mut NumDesc) -> (Vec<u8>, i32, u8) {
    if num.has(F_ROMAN) {
        return (int_to_roman(value).into_bytes(), 0, 0);
    }
    if num.has(F_EEEE) {
        let mut s = c_sci(f64::from(value), num.post.max(0) as usize);
        if s.starts_with('+') {
            s.replace_range(0..1, " ");
        }
        return (s.into_bytes(), 0, 0);
    }
    let orgnum = if num.has(F_MULTI) {
        // PostgreSQL multiplies in 32 bits, wrapping, by a power of ten
        // converted to `int32` (x86 makes a too large one `INT_MIN`).
        let factor = i32::try_from(pow10_i64(num.multi).unwrap_or(i64::MAX)).unwrap_or(i32::MIN);
        num.pre += num.multi;
        value.wrapping_mul(factor).to_string()
    } else {
        value.to_string()
    };
    integer_number(orgnum, num)
}

fn int8_number(value: i64, num: &mut NumDesc) -> Result<(Vec<u8>, i32, u8), EvalError> {
    if num.has(F_ROMAN) {
        // PostgreSQL 15 converts to `integer` first.
        let v = i32::try_from(value).map_err(|_| out_of_range("integer"))?;
        return Ok((int_to_roman(v).into_bytes(), 0, 0));
    }
    if num.has(F_EEEE) {
        let s = numeric_sci(&Numeric::from(value), num.post);
        let s = if s.starts_with('-') {
            s
        } else {
            format!(" {s}")
        };
        return Ok((s.into_bytes(), 0, 0));
    }
    let mut value = value;
    if num.has(F_MULTI) {
        let factor = pow10_i64(num.multi).ok_or_else(|| out_of_range("bigint"))?;
        value = value
            .checked_mul(factor)
            .ok_or_else(|| out_of_range("bigint"))?;
        num.pre += num.multi;
    }
    Ok(integer_number(value.to_string(), num))
}

/// `numeric`'s `NaN`, as PostgreSQL's `numeric_to_char` handles it: no
/// Roman numeral (the integer conversion fails), `#`s for `EEEE`, else the
/// text `NaN` laid out as digits are.
fn numeric_nan_number(num: &mut NumDesc) -> Result<(Vec<u8>, i32, u8), EvalError> {
    if num.has(F_ROMAN) {
        return Err(EvalError::Parse {
            code: crate::repr::SqlState::FEATURE_NOT_SUPPORTED,
            message: "cannot convert NaN to integer".into(),
        });
    }
    if num.has(F_EEEE) {
        return Ok((eeee_fill(num), 0, 0));
    }
    if num.has(F_MULTI) {
        num.pre += num.multi;
    }
    Ok(fixed_number("NaN".into(), num))
}

fn numeric_number(d: &Numeric, num: &mut NumDesc) -> Result<(Vec<u8>, i32, u8), EvalError> {
    if num.has(F_ROMAN) {
        // PostgreSQL 15 rounds to an `integer` first, which may overflow.
        let rounded = d
            .clone()
            .round_dp_with(0, NumericRounding::HalfAwayFromZero);
        let v = rounded.to_i32().ok_or_else(|| out_of_range("integer"))?;
        return Ok((int_to_roman(v).into_bytes(), 0, 0));
    }
    if num.has(F_EEEE) {
        let s = numeric_sci(d, num.post);
        let s = if s.starts_with('-') {
            s
        } else {
            format!(" {s}")
        };
        return Ok((s.into_bytes(), 0, 0));
    }
    if num.has(F_MULTI) {
        // `x * 10^multi` rounded to an integer: round `x` to `multi`
        // places, then move the point.
        let (negative, digits) = numeric_digits(d, num.multi);
        num.pre += num.multi;
        let shifted: String = digits.chars().filter(|c| *c != '.').collect();
        let trimmed = shifted.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        let orgnum = if negative {
            format!("-{trimmed}")
        } else {
            trimmed.to_string()
        };
        return Ok(fixed_number(orgnum, num));
    }
    let (negative, digits) = numeric_digits(d, num.post);
    let orgnum = if negative {
        format!("-{digits}")
    } else {
        digits
    };
    Ok(fixed_number(orgnum, num))
}

/// `to_number(text, text)`: reads `text` with the template into a
/// `numeric` whose scale is the number of fraction digits read.
pub fn to_number(input: &str, template: &str) -> Result<Datum, EvalError> {
    if template.is_empty() {
        return Ok(Datum::Null);
    }
    let (nodes, mut num) = parse_template(template)?;
    if num.has(F_EEEE) {
        return Err(unsupported_input("EEEE"));
    }
    if num.has(F_ROMAN) {
        return Err(unsupported_input("RN"));
    }
    let mut r = FromChar {
        num: &num,
        input: input.as_bytes(),
        p: 0,
        number: vec![b' '],
        read_pre: 0,
        read_post: 0,
        read_dec: false,
    };
    for node in &nodes {
        if r.p >= r.input.len() {
            break;
        }
        let key = match node {
            Node::Char(_) => {
                r.p += utf8_len(r.input[r.p]);
                continue;
            }
            Node::Key(k) => *k,
        };
        let fill = num.has(F_FILLMODE);
        match key {
            Key::Nine | Key::Zero | Key::Dec | Key::D => r.numpart(key),
            Key::Comma => {
                if fill || r.input[r.p] != b',' {
                    continue;
                }
            }
            Key::G => {
                if fill || r.input[r.p] != b',' {
                    continue;
                }
            }
            Key::L => {
                r.eat_non_data(1);
                continue;
            }
            Key::ThUpper | Key::ThLower => {
                if r.number[0] == b'#' || num.has(F_DECIMAL) {
                    continue;
                }
                r.eat_non_data(2);
                continue;
            }
            Key::Mi | Key::Pl | Key::Sg => {
                let c = r.input[r.p];
                let takes = match key {
                    Key::Mi => c == b'-',
                    Key::Pl => c == b'+',
                    _ => c == b'-' || c == b'+',
                };
                if takes {
                    r.number[0] = c;
                } else {
                    r.eat_non_data(1);
                    continue;
                }
            }
            _ => continue,
        }
        r.p += 1;
    }
    let read_post = r.read_post;
    let mut number = r.number;
    if number.last() == Some(&b'.') {
        number.pop();
    }
    num.post = read_post;
    let text = String::from_utf8_lossy(&number).into_owned();
    let value = crate::repr::strconv::parse_numeric(&text)?;
    let value = if num.has(F_MULTI) {
        // PostgreSQL 15 multiplies by `power(10, -multi)`, which it
        // computes to 16 places (0 when `multi` > 16), so the result has
        // 16 more places than the value read.
        let multi = num.multi as u32;
        let scale = value.scale() + 16;
        if scale > Numeric::MAX_SCALE {
            return Err(EvalError::Unsupported(
                "to_number with more than 12 fraction digits and \"V\"".into(),
            ));
        }
        let mut out = if multi > 16 {
            Numeric::ZERO
        } else {
            let shifted = value.scale() + multi;
            value
                .with_scale(shifted)
                .ok_or(EvalError::NumericOverflow)?
        };
        out.rescale(scale);
        if out.scale() != scale {
            return Err(EvalError::Unsupported(
                "to_number with \"V\" of a value this large".into(),
            ));
        }
        out
    } else {
        value
    };
    Ok(Datum::Numeric(value))
}

fn unsupported_input(what: &str) -> EvalError {
    EvalError::Parse {
        code: SqlState::FEATURE_NOT_SUPPORTED,
        message: format!("\"{what}\" not supported for input"),
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// `NUM_processor` reading text (the to_number direction).
struct FromChar<'a> {
    num: &'a NumDesc,
    input: &'a [u8],
    p: usize,
    /// The sign (or a blank) followed by the digits and point read.
    number: Vec<u8>,
    read_pre: i32,
    read_post: i32,
    read_dec: bool,
}

impl FromChar<'_> {
    fn at(&self, i: usize) -> u8 {
        self.input.get(i).copied().unwrap_or(0)
    }

    fn done(&self) -> bool {
        self.p >= self.input.len()
    }

    /// `NUM_eat_non_data_chars`.
    fn eat_non_data(&mut self, n: usize) {
        for _ in 0..n {
            if self.done() || b"0123456789.,+-".contains(&self.input[self.p]) {
                break;
            }
            self.p += utf8_len(self.input[self.p]);
        }
    }

    /// `NUM_numpart_from_char`.
    fn numpart(&mut self, key: Key) {
        if self.done() {
            return;
        }
        if self.input[self.p] == b' ' {
            self.p += 1;
        }
        if self.done() {
            return;
        }
        let num = self.num;
        if self.number[0] == b' '
            && matches!(key, Key::Zero | Key::Nine)
            && self.read_pre + self.read_post == 0
        {
            let c = self.input[self.p];
            if num.has(F_LSIGN) && num.lsign == LSIGN_PRE {
                if c == b'-' || c == b'+' {
                    self.p += 1;
                    self.number[0] = c;
                }
            } else if c == b'-' || (num.has(F_BRACKET) && c == b'<') {
                self.number[0] = b'-';
                self.p += 1;
            } else if c == b'+' {
                self.number[0] = b'+';
                self.p += 1;
            }
        }
        if self.done() {
            return;
        }
        let mut isread = false;
        let c = self.input[self.p];
        if c.is_ascii_digit() {
            if self.read_dec && self.read_post == num.post {
                return;
            }
            self.number.push(c);
            if self.read_dec {
                self.read_post += 1;
            } else {
                self.read_pre += 1;
            }
            isread = true;
        } else if num.has(F_DECIMAL) && !self.read_dec && c == b'.' {
            self.number.push(b'.');
            self.read_dec = true;
            isread = true;
        }
        if self.done() {
            return;
        }
        if self.number[0] == b' ' && self.read_pre + self.read_post > 0 {
            if num.has(F_LSIGN)
                && isread
                && self.p + 1 < self.input.len()
                && !self.at(self.p + 1).is_ascii_digit()
            {
                let next = self.at(self.p + 1);
                if next == b'-' || next == b'+' {
                    self.p += 1;
                    self.number[0] = next;
                }
            } else if !isread
                && !num.has(F_LSIGN)
                && (num.has(F_PLUS) || num.has(F_MINUS))
                && (c == b'-' || c == b'+')
            {
                self.number[0] = c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(value: Datum, template: &str) -> String {
        match to_char(&value, template) {
            Ok(Datum::String(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn to_char_matches_postgres() {
        assert_eq!(fmt(Datum::Int32(-12), "9999"), "  -12");
        assert_eq!(fmt(Datum::Int32(12345), "999"), " ###");
        assert_eq!(fmt(Datum::Int32(3999), "RN"), "      MMMCMXCIX");
        assert_eq!(fmt(Datum::f64(0.5), "FM0.00"), "0.50");
        assert_eq!(fmt(Datum::Int32(0), "9.99"), "  .00");
        assert_eq!(fmt(Datum::Int32(0), "FM9.99"), "0.");
        assert_eq!(fmt(Datum::f64(f64::NAN), "9999"), "  NaN");
    }
}
