//! Aggregate functions, evaluated over all the values of one group.
//!
//! A group arrives as distinct values with their multiplicities (what a
//! differential `reduce` presents), so `count(*)` over a million copies of one
//! row is one multiplication, not a million additions.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::repr::{Datum, Diff};

use super::EvalError;
use super::func::{self, BinaryFunc};
use super::scalar::ScalarExpr;

/// An aggregate function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AggregateFunc {
    /// `count(*)`.
    CountStar,
    /// `count(x)`: non-null values.
    Count,
    /// `sum(x)`.
    Sum,
    /// `avg(x)`.
    Avg,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `bool_and(x)`.
    BoolAnd,
    /// `bool_or(x)`.
    BoolOr,
    /// `string_agg(x, delimiter)`: the delimiter is the second input column.
    StringAgg,
}

/// An aggregate call: `func([DISTINCT] expr)`.
#[derive(Clone, Debug)]
pub struct AggregateExpr {
    /// The function.
    pub func: AggregateFunc,
    /// The argument(s), evaluated on each input row; `string_agg` has two.
    pub exprs: Vec<ScalarExpr>,
    /// `DISTINCT`: each distinct value counts once.
    pub distinct: bool,
    /// `FILTER (WHERE ...)`: rows where this is not true are skipped.
    pub filter: Option<ScalarExpr>,
    /// The SQL type of the result, as planned: sums are computed in it.
    pub output_type: crate::repr::ScalarType,
}

impl AggregateExpr {
    /// Evaluates the aggregate over a group: `values` are the aggregate's
    /// inputs (`Datum::Null` where `FILTER` rejected the row, tagged `false`)
    /// with multiplicities, sorted.
    pub fn eval<'a>(
        &self,
        values: impl Iterator<Item = (&'a [Datum], Diff)>,
    ) -> Result<Datum, EvalError> {
        let mut values: Vec<(&[Datum], Diff)> = values.filter(|(_, d)| *d != 0).collect();
        if values.iter().any(|(_, d)| *d < 0) {
            return Err(EvalError::NegativeMultiplicity("an aggregate input".into()));
        }
        if self.distinct {
            values.sort_by(|a, b| a.0.cmp(b.0));
            values.dedup_by(|a, b| a.0 == b.0);
            values.iter_mut().for_each(|v| v.1 = 1);
        }
        let first = |v: &[Datum]| v.first().cloned().unwrap_or(Datum::Null);
        let non_null = values.iter().filter(|(v, _)| !first(v).is_null());
        match self.func {
            AggregateFunc::CountStar => Ok(Datum::Int64(values.iter().map(|(_, d)| *d).sum())),
            AggregateFunc::Count => Ok(Datum::Int64(non_null.map(|(_, d)| *d).sum())),
            AggregateFunc::Sum => {
                let mut acc: Option<Datum> = None;
                for (v, d) in non_null {
                    let term = multiply(first(v), *d, &self.output_type)?;
                    acc = Some(match acc {
                        None => term,
                        Some(a) => BinaryFunc::Add.eval(a, term)?,
                    });
                }
                Ok(acc.unwrap_or(Datum::Null))
            }
            AggregateFunc::Avg => {
                let mut sum = Decimal::ZERO;
                let mut fsum = 0f64;
                let mut float = false;
                let mut n: i64 = 0;
                for (v, d) in non_null {
                    n += d;
                    match first(v) {
                        Datum::Float32(f) => {
                            float = true;
                            fsum += f.0 as f64 * *d as f64
                        }
                        Datum::Float64(f) => {
                            float = true;
                            fsum += f.0 * *d as f64
                        }
                        other => {
                            let x = match func::cast(
                                other,
                                &crate::repr::ScalarType::Numeric {
                                    precision: None,
                                    scale: None,
                                },
                            )? {
                                Datum::Numeric(x) => x,
                                _ => Decimal::ZERO,
                            };
                            sum = x
                                .checked_mul(Decimal::from(*d))
                                .and_then(|t| sum.checked_add(t))
                                .ok_or(EvalError::NumericOverflow)?;
                        }
                    }
                }
                if n == 0 {
                    return Ok(Datum::Null);
                }
                let avg = if float {
                    Datum::f64(fsum / n as f64)
                } else {
                    BinaryFunc::Div.eval(Datum::Numeric(sum), Datum::Numeric(Decimal::from(n)))?
                };
                func::cast(avg, &self.output_type)
            }
            AggregateFunc::Min | AggregateFunc::Max => {
                let mut best: Option<Datum> = None;
                for (v, _) in non_null {
                    let v = first(v);
                    best = Some(match best {
                        None => v,
                        Some(b) => {
                            let ord = func::compare(&v, &b)?;
                            let take = match self.func {
                                AggregateFunc::Min => ord == Ordering::Less,
                                _ => ord == Ordering::Greater,
                            };
                            if take { v } else { b }
                        }
                    });
                }
                Ok(best.unwrap_or(Datum::Null))
            }
            AggregateFunc::BoolAnd | AggregateFunc::BoolOr => {
                let mut result: Option<bool> = None;
                for (v, _) in non_null {
                    let b = first(v) == Datum::Bool(true);
                    result = Some(match (result, self.func == AggregateFunc::BoolAnd) {
                        (None, _) => b,
                        (Some(r), true) => r && b,
                        (Some(r), false) => r || b,
                    });
                }
                Ok(result.map(Datum::Bool).unwrap_or(Datum::Null))
            }
            AggregateFunc::StringAgg => {
                // Without ORDER BY in the aggregate, PostgreSQL's order is
                // unspecified; Freshet uses value order, so that one-shot and
                // maintained results agree.
                let mut sorted: Vec<&(&[Datum], Diff)> = non_null.collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let mut out: Option<String> = None;
                for (v, d) in sorted {
                    let s = crate::repr::strconv::format(&first(v)).unwrap_or_default();
                    let delim = v
                        .get(1)
                        .and_then(crate::repr::strconv::format)
                        .unwrap_or_default();
                    for _ in 0..*d {
                        match &mut out {
                            None => out = Some(s.clone()),
                            Some(o) => {
                                o.push_str(&delim);
                                o.push_str(&s);
                            }
                        }
                    }
                }
                Ok(out.map(Datum::String).unwrap_or(Datum::Null))
            }
        }
    }
}

/// `v * n` for a sum term, in the sum's output type.
fn multiply(v: Datum, n: Diff, output: &crate::repr::ScalarType) -> Result<Datum, EvalError> {
    let v = func::cast(v, output)?;
    if n == 1 {
        return Ok(v);
    }
    let n = func::cast(Datum::Int64(n), output)?;
    BinaryFunc::Mul.eval(v, n)
}
