//! `INTERVAL '…'` literals read by PostgreSQL's interval input.
//!
//! DataFusion reads the text of an interval literal with Arrow's parser,
//! which knows `1 day 2 hours` but not PostgreSQL's other forms: a time of
//! day (`1 day 02:00`), SQL year-month (`1-2`), ISO 8601 (`P1Y2M3DT4H5M6S`),
//! `@ … ago`; and it spreads fractions differently (`1.5 weeks` is
//! `7 days 84:00:00` there, `10 days 12:00:00` in PostgreSQL). It also
//! ignores a literal's fields and precision. A cast of the text
//! (`'…'::interval`) is read by Freshet's own input, which is PostgreSQL's
//! `DecodeInterval`.
//!
//! [`rewrite`] reads each literal with that input when the statement is
//! planned and gives DataFusion the exact value as `INTERVAL 'M months D
//! days U microseconds'`, which Arrow reads without loss (it stays a
//! literal, where a window frame or a temporal filter needs one). The
//! literals are `INTERVAL '…'` with or without fields and precision
//! (`INTERVAL '1 2' DAY TO HOUR`, `INTERVAL '1.5' SECOND(0)`), `INTERVAL(p)
//! '…'`, and a string constant cast to an interval type with fields
//! (`'1:30'::interval minute to second`). As in PostgreSQL's `interval_in`
//! with a type modifier, a number without a unit is the last field, what
//! lies below the last field is dropped and the seconds are rounded to the
//! precision (`repr::strconv::parse_interval_typed`). Text that does not
//! parse is PostgreSQL's error when the statement is planned. A value
//! whose microseconds Arrow's nanoseconds cannot hold becomes a cast, which
//! answers as PostgreSQL does.
//!
//! `INTERVAL(p) '…'` is made `CAST('…' AS INTERVAL(p))` in the tokens
//! ([`precision_literal_tokens`]), as sqlparser would drop the precision.
//!
//! A minus sign before such a literal (`-INTERVAL '-2 days'`) is folded
//! into the value here: DataFusion would put it before the text, which
//! negates only the first unit of `'0 months -2 days 0 microseconds'`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType as SqlType, DateTimeField, Expr as SqlExpr, Interval, IntervalFields,
    Statement, TypedString, UnaryOperator, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};

use crate::repr::types::IntervalFields as Fields;
use crate::repr::{self, strconv};

use super::PlanError;

/// Rewrites the interval literals of `statement` (see the module
/// documentation).
pub fn rewrite(statement: &mut Statement) -> Result<(), PlanError> {
    struct Literals;
    impl VisitorMut for Literals {
        type Break = PlanError;
        fn post_visit_expr(&mut self, e: &mut SqlExpr) -> ControlFlow<PlanError> {
            match rewritten(e) {
                Ok(Some(new)) => *e = new,
                Ok(None) => {}
                Err(err) => return ControlFlow::Break(err),
            }
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Literals) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The text of a string constant.
fn string_constant(e: &SqlExpr) -> Option<&str> {
    match e {
        SqlExpr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) => Some(text),
        _ => None,
    }
}

/// What `e` becomes, or `None` to leave it as it is.
fn rewritten(e: &SqlExpr) -> Result<Option<SqlExpr>, PlanError> {
    match e {
        SqlExpr::Interval(interval) => {
            let Some(text) = string_constant(&interval.value) else {
                return Ok(None);
            };
            let Some((fields, precision)) = qualifier(interval)? else {
                return Ok(None);
            };
            literal(text, fields, precision)
        }
        // `INTERVAL(2) '1.239 seconds'`.
        SqlExpr::TypedString(TypedString {
            data_type: SqlType::Interval { fields, precision },
            value:
                ValueWithSpan {
                    value: Value::SingleQuotedString(text),
                    ..
                },
            ..
        }) => literal(text, fields.as_ref().map(from_sql_fields), *precision),
        // `'1:30'::interval minute to second`: PostgreSQL reads the
        // constant with the type's fields. (Without fields the cast reads
        // it as `interval_in` does already, and `interval(p)` rounds it.)
        SqlExpr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type:
                SqlType::Interval {
                    fields: Some(fields),
                    precision,
                },
            array: false,
            format: None,
        } => match string_constant(expr) {
            Some(text) => literal(text, Some(from_sql_fields(fields)), *precision),
            None => Ok(None),
        },
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => Ok(negated(expr)),
        _ => Ok(None),
    }
}

/// The fields and seconds' precision of an `INTERVAL '…'` literal (a
/// field PostgreSQL does not have, such as `WEEK`, is its syntax error). A
/// precision of other fields than seconds (`HOUR(2)`) is
/// PostgreSQL's syntax error.
#[allow(clippy::type_complexity)]
fn qualifier(interval: &Interval) -> Result<Option<(Option<Fields>, Option<u64>)>, PlanError> {
    use DateTimeField as F;
    let fields = match (&interval.leading_field, &interval.last_field) {
        (None, None) => None,
        (Some(F::Year), None) => Some(Fields::Year),
        (Some(F::Month), None) => Some(Fields::Month),
        (Some(F::Day), None) => Some(Fields::Day),
        (Some(F::Hour), None) => Some(Fields::Hour),
        (Some(F::Minute), None) => Some(Fields::Minute),
        (Some(F::Second), None) => Some(Fields::Second),
        (Some(F::Year), Some(F::Month)) => Some(Fields::YearToMonth),
        (Some(F::Day), Some(F::Hour)) => Some(Fields::DayToHour),
        (Some(F::Day), Some(F::Minute)) => Some(Fields::DayToMinute),
        (Some(F::Day), Some(F::Second)) => Some(Fields::DayToSecond),
        (Some(F::Hour), Some(F::Minute)) => Some(Fields::HourToMinute),
        (Some(F::Hour), Some(F::Second)) => Some(Fields::HourToSecond),
        (Some(F::Minute), Some(F::Second)) => Some(Fields::MinuteToSecond),
        // A field PostgreSQL's grammar lacks (`WEEK`, `MILLISECOND`, ...) or
        // a range it lacks (`YEAR TO DAY`) is its syntax error there, except
        // that in a select list it reads the word as the column's alias
        // (`SELECT INTERVAL '1' WEEK` is one second, named `week`): refused
        // everywhere rather than read as the field (`7 days`).
        (leading, last) => {
            let word = match (leading, last) {
                (Some(l), _) if !is_pg_field(l) => l.to_string(),
                (_, Some(l)) | (Some(l), None) => l.to_string(),
                (None, None) => String::new(),
            };
            return Err(PlanError::Syntax(format!(
                "syntax error at or near \"{}\"",
                word.to_uppercase()
            )));
        }
    };
    // `SECOND(p)` is the seconds' precision; PostgreSQL has no other
    // leading precision, nor a second one (`SECOND(2, 3)`).
    let precision = match (&interval.leading_field, &interval.last_field) {
        (Some(F::Second), None) if interval.fractional_seconds_precision.is_none() => {
            interval.leading_precision
        }
        _ if interval.leading_precision.is_some() => {
            return Err(PlanError::Syntax("syntax error at or near \"(\"".into()));
        }
        _ => interval.fractional_seconds_precision,
    };
    Ok(Some((fields, precision)))
}

/// Whether PostgreSQL's grammar has `field` as an interval field.
fn is_pg_field(field: &DateTimeField) -> bool {
    use DateTimeField as F;
    matches!(
        field,
        F::Year | F::Month | F::Day | F::Hour | F::Minute | F::Second
    )
}

/// The fields sqlparser read, as Freshet's type keeps them.
pub(crate) fn from_sql_fields(fields: &IntervalFields) -> Fields {
    match fields {
        IntervalFields::Year => Fields::Year,
        IntervalFields::Month => Fields::Month,
        IntervalFields::Day => Fields::Day,
        IntervalFields::Hour => Fields::Hour,
        IntervalFields::Minute => Fields::Minute,
        IntervalFields::Second => Fields::Second,
        IntervalFields::YearToMonth => Fields::YearToMonth,
        IntervalFields::DayToHour => Fields::DayToHour,
        IntervalFields::DayToMinute => Fields::DayToMinute,
        IntervalFields::DayToSecond => Fields::DayToSecond,
        IntervalFields::HourToMinute => Fields::HourToMinute,
        IntervalFields::HourToSecond => Fields::HourToSecond,
        IntervalFields::MinuteToSecond => Fields::MinuteToSecond,
    }
}

/// The literal `text` of type `interval <fields>(<precision>)` as an exact
/// literal, PostgreSQL's error, or (for a value Arrow cannot hold) a cast.
fn literal(
    text: &str,
    fields: Option<Fields>,
    precision: Option<u64>,
) -> Result<Option<SqlExpr>, PlanError> {
    // Beyond 6 it is 6, as PostgreSQL reduces it (with a warning).
    let precision = precision.map(|p| p.min(6) as u8);
    let value = strconv::parse_interval_typed(text, fields, precision).map_err(|e| {
        PlanError::InvalidLiteral {
            code: e.code,
            message: e.message,
        }
    })?;
    if let Some(exact) = exact(value) {
        return Ok(Some(exact));
    }
    Ok(Some(SqlExpr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(SqlExpr::Value(
            Value::SingleQuotedString(text.to_owned()).into(),
        )),
        data_type: SqlType::Interval {
            fields: fields.map(to_sql_fields),
            precision: precision.map(u64::from),
        },
        array: false,
        format: None,
    }))
}

fn to_sql_fields(fields: Fields) -> IntervalFields {
    match fields {
        Fields::Year => IntervalFields::Year,
        Fields::Month => IntervalFields::Month,
        Fields::Day => IntervalFields::Day,
        Fields::Hour => IntervalFields::Hour,
        Fields::Minute => IntervalFields::Minute,
        Fields::Second => IntervalFields::Second,
        Fields::YearToMonth => IntervalFields::YearToMonth,
        Fields::DayToHour => IntervalFields::DayToHour,
        Fields::DayToMinute => IntervalFields::DayToMinute,
        Fields::DayToSecond => IntervalFields::DayToSecond,
        Fields::HourToMinute => IntervalFields::HourToMinute,
        Fields::HourToSecond => IntervalFields::HourToSecond,
        Fields::MinuteToSecond => IntervalFields::MinuteToSecond,
    }
}

/// `value` as the literal Arrow reads exactly, if its nanoseconds fit.
fn exact(value: repr::Interval) -> Option<SqlExpr> {
    value.micros.checked_mul(1000)?;
    Some(SqlExpr::Interval(Interval {
        value: Box::new(SqlExpr::Value(
            Value::SingleQuotedString(format!(
                "{} months {} days {} microseconds",
                value.months, value.days, value.micros
            ))
            .into(),
        )),
        leading_field: None,
        leading_precision: None,
        last_field: None,
        fractional_seconds_precision: None,
    }))
}

/// `-operand` where `operand` is an exact interval literal (made by
/// [`literal`], which ran first on the operand): the negated literal, or
/// where a field of it has no negation (`i32::MIN` months) the operand in
/// parentheses, so that the negation is evaluated and fails as
/// PostgreSQL's `interval out of range`.
fn negated(operand: &SqlExpr) -> Option<SqlExpr> {
    let SqlExpr::Interval(interval) = operand else {
        return None;
    };
    let text = string_constant(&interval.value)?;
    if interval.leading_field.is_some() || interval.fractional_seconds_precision.is_some() {
        return None;
    }
    let value = strconv::parse_interval(text).ok()?;
    let negation = (|| {
        Some(repr::Interval {
            months: value.months.checked_neg()?,
            days: value.days.checked_neg()?,
            micros: value.micros.checked_neg()?,
        })
    })();
    Some(
        negation
            .and_then(exact)
            .unwrap_or_else(|| SqlExpr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: Box::new(SqlExpr::Nested(Box::new(operand.clone()))),
            }),
    )
}

/// Turns the tokens `INTERVAL ( p ) '…'` into `CAST ( '…' AS INTERVAL ( p )
/// )`, which means the same in PostgreSQL: sqlparser reads `INTERVAL(p)`
/// as a type and then the literal without it, losing the precision.
pub fn precision_literal_tokens(tokens: &mut Vec<TokenWithSpan>) {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    // Back to front, so that earlier indexes stay valid.
    for w in significant.windows(5).rev() {
        let [interval, open, number, close, text] = [w[0], w[1], w[2], w[3], w[4]];
        let is_interval = matches!(&tokens[interval].token, Token::Word(word)
            if word.quote_style.is_none() && word.keyword == Keyword::INTERVAL);
        let (Token::Number(p, _), Token::SingleQuotedString(s)) =
            (&tokens[number].token, &tokens[text].token)
        else {
            continue;
        };
        if !is_interval
            || tokens[open].token != Token::LParen
            || tokens[close].token != Token::RParen
        {
            continue;
        }
        let span = tokens[interval].span;
        let (p, s) = (p.clone(), s.clone());
        let cast = [
            Token::make_keyword("CAST"),
            Token::LParen,
            Token::SingleQuotedString(s),
            Token::Whitespace(Whitespace::Space),
            Token::make_keyword("AS"),
            Token::Whitespace(Whitespace::Space),
            Token::make_keyword("INTERVAL"),
            Token::LParen,
            Token::Number(p, false),
            Token::RParen,
            Token::RParen,
        ];
        tokens.splice(
            interval..=text,
            cast.into_iter().map(|token| TokenWithSpan { token, span }),
        );
    }
}
