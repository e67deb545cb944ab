//! `INTERVAL '…'` literals read by PostgreSQL's interval input.
//!
//! DataFusion reads the text of an interval literal with Arrow's parser,
//! which knows `1 day 2 hours` but not PostgreSQL's other forms: a time of
//! day (`1 day 02:00`), SQL year-month (`1-2`), ISO 8601 (`P1Y2M3DT4H`),
//! `@ … ago`; and it spreads fractions differently (`1.5 weeks` is
//! `7 days 84:00:00` there, `10 days 12:00:00` in PostgreSQL). A cast of
//! the text (`'…'::interval`) is read by Freshet's own input, which is
//! PostgreSQL's `DecodeInterval`.
//!
//! [`rewrite`] reads each literal without field qualifiers with that input
//! when the statement is planned and gives DataFusion the exact value as
//! `INTERVAL 'M months D days U microseconds'`, which Arrow reads without
//! loss (it stays a literal, where a window frame or a temporal filter
//! needs one). Text that does not parse, or whose microseconds Arrow's
//! nanoseconds cannot hold, becomes a cast, which fails (or answers) as
//! PostgreSQL does. A literal with fields (`INTERVAL '1 2' DAY TO HOUR`) or
//! a precision becomes a cast to `interval` with them (refused for now
//! with `0A000`), except a whole number with one field (`INTERVAL '2'
//! HOUR`), read as that many of the field.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType as SqlType, DateTimeField, Expr as SqlExpr, Interval, IntervalFields,
    Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use crate::repr::strconv;

/// Rewrites the interval literals of `statement` (see the module
/// documentation).
pub fn rewrite(statement: &mut Statement) {
    struct Literals;
    impl VisitorMut for Literals {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut SqlExpr) -> ControlFlow<()> {
            if let Some(new) = rewritten(e) {
                *e = new;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Literals);
}

/// What the literal `e` becomes, or `None` to leave it as it is.
fn rewritten(e: &SqlExpr) -> Option<SqlExpr> {
    let SqlExpr::Interval(interval) = e else {
        return None;
    };
    let SqlExpr::Value(ValueWithSpan {
        value: Value::SingleQuotedString(text),
        ..
    }) = interval.value.as_ref()
    else {
        return None;
    };
    let cast = |fields: Option<IntervalFields>, precision: Option<u64>| SqlExpr::Cast {
        kind: CastKind::Cast,
        expr: interval.value.clone(),
        data_type: SqlType::Interval { fields, precision },
        array: false,
        format: None,
    };
    use DateTimeField as F;
    // One field over a whole number is that many of the field (a fraction
    // is not: PostgreSQL drops what falls below the field, so
    // `INTERVAL '1.5' HOUR` is one hour).
    let digits = text.trim().trim_start_matches(['+', '-']);
    let whole_number = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    // Nothing is below seconds: a fraction of them is kept.
    let decimal = digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    let one_field = match (&interval.leading_field, &interval.last_field) {
        _ if interval.leading_precision.is_some()
            || interval.fractional_seconds_precision.is_some() =>
        {
            None
        }
        (Some(F::Year), None) => Some("years"),
        (Some(F::Month), None) => Some("months"),
        (Some(F::Day), None) => Some("days"),
        (Some(F::Hour), None) => Some("hours"),
        (Some(F::Minute), None) => Some("minutes"),
        (Some(F::Second), None) => Some("seconds"),
        _ => None,
    };
    let unqualified = interval.leading_field.is_none()
        && interval.leading_precision.is_none()
        && interval.last_field.is_none()
        && interval.fractional_seconds_precision.is_none();
    let input = match one_field {
        Some(unit) if whole_number || (unit == "seconds" && decimal) => {
            Some(format!("{} {unit}", text.trim()))
        }
        _ if unqualified => Some(text.clone()),
        _ => None,
    };
    if let Some(input) = input {
        return Some(match strconv::parse_interval(&input) {
            Ok(value) if value.micros.checked_mul(1000).is_some() => SqlExpr::Interval(Interval {
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
            }),
            _ if unqualified => cast(None, None),
            // A whole number of a field out of range: DataFusion's error.
            _ => return None,
        });
    }
    let fields = match (&interval.leading_field, &interval.last_field) {
        (None, None) => None,
        (Some(F::Year), None) => Some(IntervalFields::Year),
        (Some(F::Month), None) => Some(IntervalFields::Month),
        (Some(F::Day), None) => Some(IntervalFields::Day),
        (Some(F::Hour), None) => Some(IntervalFields::Hour),
        (Some(F::Minute), None) => Some(IntervalFields::Minute),
        (Some(F::Second), None) => Some(IntervalFields::Second),
        (Some(F::Year), Some(F::Month)) => Some(IntervalFields::YearToMonth),
        (Some(F::Day), Some(F::Hour)) => Some(IntervalFields::DayToHour),
        (Some(F::Day), Some(F::Minute)) => Some(IntervalFields::DayToMinute),
        (Some(F::Day), Some(F::Second)) => Some(IntervalFields::DayToSecond),
        (Some(F::Hour), Some(F::Minute)) => Some(IntervalFields::HourToMinute),
        (Some(F::Hour), Some(F::Second)) => Some(IntervalFields::HourToSecond),
        (Some(F::Minute), Some(F::Second)) => Some(IntervalFields::MinuteToSecond),
        _ => return None,
    };
    // `SECOND(p)` is the seconds' precision.
    let precision = interval.fractional_seconds_precision.or(
        match (&interval.leading_field, &interval.last_field) {
            (Some(F::Second), None) => interval.leading_precision,
            _ => None,
        },
    );
    Some(cast(fields, precision))
}
