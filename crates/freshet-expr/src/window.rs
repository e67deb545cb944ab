//! Window functions (`f(…) OVER (PARTITION BY … ORDER BY … frame)`),
//! evaluated over all the rows of one partition.
//!
//! A partition arrives as distinct rows with their multiplicities (what a
//! differential `reduce` keyed by the partition key presents). It is put in
//! `ORDER BY` order, with ties broken by the rows themselves, so every
//! evaluation of the same partition — a one-shot query or a maintained view
//! recomputing a changed partition — numbers its rows the same way; PostgreSQL
//! leaves the order among peers unspecified. Each row then comes out extended
//! with the value of each window function.
//!
//! Frames follow PostgreSQL: `ROWS` frames count rows, `GROUPS` frames count
//! peer groups (rows equal in `ORDER BY`), `RANGE` frames extend to the
//! current row's peers and, with an offset, to the rows whose `ORDER BY`
//! value is within the offset of the current row's.

use std::cmp::Ordering;

use crate::repr::{Datum, Diff, Row, RowPacker, ScalarType, SqlState};

use super::EvalError;
use super::aggregate::AggregateExpr;
use super::func;
use super::relation::SortKey;
use super::scalar::ScalarExpr;

mod frame_aggregate;

/// A window function.
#[derive(Clone, Debug)]
pub enum WindowFunc {
    /// `row_number()`: the row's position in its partition, from 1.
    RowNumber,
    /// `rank()`: the position of the row's first peer, from 1.
    Rank,
    /// `dense_rank()`: the number of peer groups up to the row's.
    DenseRank,
    /// `percent_rank()`: `(rank - 1) / (rows - 1)`, 0 for a single row.
    PercentRank,
    /// `cume_dist()`: the fraction of rows up to the row's last peer.
    CumeDist,
    /// `ntile(buckets)`: the bucket, from 1, when the partition is split
    /// into `buckets` parts as equal as possible (the first ones larger).
    Ntile,
    /// `lag(value [, offset [, default]])`: `value` at the row `offset`
    /// rows before (the arguments are `exprs` of the [`WindowExpr`]).
    Lag,
    /// `lead(value [, offset [, default]])`: `value` at the row `offset`
    /// rows after.
    Lead,
    /// `first_value(value)`: `value` at the frame's first row.
    FirstValue,
    /// `last_value(value)`: `value` at the frame's last row.
    LastValue,
    /// `nth_value(value, n)`: `value` at the frame's `n`th row.
    NthValue,
    /// An aggregate over the frame's rows (its arguments and `FILTER` are
    /// the aggregate's own).
    Aggregate(AggregateExpr),
}

/// The unit of a frame's extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameUnits {
    /// `ROWS`: bounds count rows.
    Rows,
    /// `RANGE`: `CURRENT ROW` includes the row's peers; offsets
    /// ([`FrameBound::RangePreceding`], [`FrameBound::RangeFollowing`]) are
    /// distances in the (single) `ORDER BY` value.
    Range,
    /// `GROUPS`: bounds count peer groups.
    Groups,
}

/// The offset of a `RANGE` frame bound, in the type of the `ORDER BY`
/// value it moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeOffset {
    /// For integer values.
    Int(i64),
    /// For `numeric` values.
    Numeric(crate::repr::Numeric),
    /// For `real` and `double precision` values: the bits of the `f64`.
    Float(u64),
    /// For dates, times, timestamps and intervals.
    Interval(crate::repr::Interval),
}

/// One end of a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameBound {
    /// `UNBOUNDED PRECEDING`: the partition's first row.
    UnboundedPreceding,
    /// `n PRECEDING` (`ROWS` and `GROUPS`).
    Preceding(u64),
    /// `CURRENT ROW` (with its peers under `RANGE`).
    CurrentRow,
    /// `n FOLLOWING` (`ROWS` and `GROUPS`).
    Following(u64),
    /// `UNBOUNDED FOLLOWING`: the partition's last row.
    UnboundedFollowing,
    /// `offset PRECEDING` under `RANGE`.
    RangePreceding(RangeOffset),
    /// `offset FOLLOWING` under `RANGE`.
    RangeFollowing(RangeOffset),
}

/// A window frame: the rows, relative to the current one, that frame-aware
/// functions (`first_value`, `last_value`, `nth_value`, aggregates) see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowFrame {
    /// `ROWS`, `RANGE` or `GROUPS`.
    pub units: FrameUnits,
    /// The frame's start.
    pub start: FrameBound,
    /// The frame's end.
    pub end: FrameBound,
}

impl WindowFrame {
    /// PostgreSQL's default frame: `RANGE BETWEEN UNBOUNDED PRECEDING AND
    /// CURRENT ROW` (the whole partition when there is no `ORDER BY`, since
    /// then every row is a peer).
    pub fn default_frame() -> WindowFrame {
        WindowFrame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: FrameBound::CurrentRow,
        }
    }

    /// The half-open range of positions in the frame of the row at `i`, in
    /// a partition of `n` rows whose peer groups `peers` gives.
    fn bounds(&self, i: usize, n: usize, peers: &Peers) -> Result<(usize, usize), EvalError> {
        let (peer_start, peer_end) = (peers.start[i], peers.end[i]);
        let clamp = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let group = peers.group[i];
        let groups = peers.group_bounds.len();
        let lo = match (self.start.clone(), self.units) {
            (FrameBound::UnboundedPreceding, _) => 0,
            (FrameBound::Preceding(k), FrameUnits::Groups) => {
                peers.group_bounds[group.saturating_sub(clamp(k))].0
            }
            (FrameBound::Preceding(k), _) => i.saturating_sub(clamp(k)),
            (FrameBound::CurrentRow, FrameUnits::Rows) => i,
            (FrameBound::CurrentRow, _) => peer_start,
            (FrameBound::Following(k), FrameUnits::Groups) => {
                match group.checked_add(clamp(k)).filter(|g| *g < groups) {
                    Some(g) => peers.group_bounds[g].0,
                    None => n,
                }
            }
            (FrameBound::Following(k), _) => i.saturating_add(clamp(k)).min(n),
            (FrameBound::UnboundedFollowing, _) => n,
            (FrameBound::RangePreceding(o), _) => peers.range_bound(i, o, true, true)?,
            (FrameBound::RangeFollowing(o), _) => peers.range_bound(i, o, false, true)?,
        };
        let hi = match (self.end.clone(), self.units) {
            (FrameBound::UnboundedPreceding, _) => 0,
            (FrameBound::Preceding(k), FrameUnits::Groups) => match group.checked_sub(clamp(k)) {
                Some(g) => peers.group_bounds[g].1,
                None => 0,
            },
            (FrameBound::Preceding(k), _) => (i + 1).saturating_sub(clamp(k)),
            (FrameBound::CurrentRow, FrameUnits::Rows) => i + 1,
            (FrameBound::CurrentRow, _) => peer_end,
            (FrameBound::Following(k), FrameUnits::Groups) => {
                match group.checked_add(clamp(k)).filter(|g| *g < groups) {
                    Some(g) => peers.group_bounds[g].1,
                    None => n,
                }
            }
            (FrameBound::Following(k), _) => i.saturating_add(clamp(k)).saturating_add(1).min(n),
            (FrameBound::UnboundedFollowing, _) => n,
            (FrameBound::RangePreceding(o), _) => peers.range_bound(i, o, true, false)?,
            (FrameBound::RangeFollowing(o), _) => peers.range_bound(i, o, false, false)?,
        };
        Ok((lo, hi.max(lo)))
    }
}

/// A window function call: the function, its arguments over the input row,
/// its frame and its result type.
#[derive(Clone, Debug)]
pub struct WindowExpr {
    /// The function.
    pub func: WindowFunc,
    /// The arguments (empty for aggregates, whose arguments are in
    /// [`WindowFunc::Aggregate`]).
    pub exprs: Vec<ScalarExpr>,
    /// The frame.
    pub frame: WindowFrame,
    /// The SQL type of the result.
    pub output_type: ScalarType,
}

impl WindowExpr {
    /// The function's name, for `EXPLAIN`.
    pub fn name(&self) -> String {
        match &self.func {
            WindowFunc::RowNumber => "row_number".into(),
            WindowFunc::Rank => "rank".into(),
            WindowFunc::DenseRank => "dense_rank".into(),
            WindowFunc::PercentRank => "percent_rank".into(),
            WindowFunc::CumeDist => "cume_dist".into(),
            WindowFunc::Ntile => "ntile".into(),
            WindowFunc::Lag => "lag".into(),
            WindowFunc::Lead => "lead".into(),
            WindowFunc::FirstValue => "first_value".into(),
            WindowFunc::LastValue => "last_value".into(),
            WindowFunc::NthValue => "nth_value".into(),
            WindowFunc::Aggregate(a) => format!("{:?}", a.func).to_lowercase(),
        }
    }
}

/// The peer group (rows equal in `ORDER BY`) of each position: its first
/// position and the position after its last; and what `GROUPS` and
/// `RANGE` offsets need.
struct Peers {
    start: Vec<usize>,
    end: Vec<usize>,
    /// The index of each position's peer group.
    group: Vec<usize>,
    /// Each peer group's first position and the position after its last.
    group_bounds: Vec<(usize, usize)>,
    /// The first `ORDER BY` value of each position (empty without one).
    keys: Vec<Datum>,
    /// Whether the first `ORDER BY` key is ascending.
    asc: bool,
}

/// A value of the `ORDER BY` key, or a target of a `RANGE` offset, as
/// compared by a `RANGE` frame: integers exactly (no overflow), dates as
/// timestamps.
enum RangeValue {
    Int(i128),
    Other(Datum),
}

impl RangeValue {
    fn of(d: &Datum) -> RangeValue {
        match d {
            Datum::Int16(v) => RangeValue::Int(i128::from(*v)),
            Datum::Int32(v) => RangeValue::Int(i128::from(*v)),
            Datum::Int64(v) => RangeValue::Int(i128::from(*v)),
            Datum::Date(days) => {
                RangeValue::Other(Datum::Timestamp(i64::from(*days) * 86_400_000_000))
            }
            other => RangeValue::Other(other.clone()),
        }
    }

    fn cmp(&self, other: &RangeValue) -> Result<Ordering, EvalError> {
        match (self, other) {
            (RangeValue::Int(a), RangeValue::Int(b)) => Ok(a.cmp(b)),
            (RangeValue::Other(a), RangeValue::Other(b)) => func::compare(a, b),
            _ => Err(EvalError::Internal("RANGE offset of another type".into())),
        }
    }

    /// `self + offset` (`self - offset` when `subtract`).
    fn shift(&self, offset: RangeOffset, subtract: bool) -> Result<RangeValue, EvalError> {
        let op = if subtract {
            func::BinaryFunc::Sub
        } else {
            func::BinaryFunc::Add
        };
        Ok(match (self, offset) {
            (RangeValue::Int(v), RangeOffset::Int(o)) => RangeValue::Int(if subtract {
                v - i128::from(o)
            } else {
                v + i128::from(o)
            }),
            // Beyond the range of floats the target is infinite, as in
            // PostgreSQL's `in_range` for floats.
            (RangeValue::Other(Datum::Float32(v)), RangeOffset::Float(o)) => {
                let (v, o) = (v.0 as f64, f64::from_bits(o));
                RangeValue::Other(Datum::f64(if subtract { v - o } else { v + o }))
            }
            (RangeValue::Other(Datum::Float64(v)), RangeOffset::Float(o)) => {
                let o = f64::from_bits(o);
                RangeValue::Other(Datum::f64(if subtract { v.0 - o } else { v.0 + o }))
            }
            // A `NaN` row's target is `NaN`, which (equal to itself,
            // above every other value) bounds the frame as PostgreSQL's
            // `in_range_numeric_numeric` does.
            (
                RangeValue::Other(v @ (Datum::Numeric(_) | Datum::NumericNaN)),
                RangeOffset::Numeric(o),
            ) => RangeValue::Other(op.eval(v.clone(), Datum::Numeric(o))?),
            (
                RangeValue::Other(
                    v @ (Datum::Timestamp(_)
                    | Datum::TimestampTz(_)
                    | Datum::Time(_)
                    | Datum::Interval(_)),
                ),
                RangeOffset::Interval(o),
            ) => RangeValue::Other(op.eval(v.clone(), Datum::Interval(o))?),
            _ => {
                return Err(EvalError::Unsupported(
                    "RANGE offset of this type for this ORDER BY type".into(),
                ));
            }
        })
    }
}

impl Peers {
    /// A `RANGE` frame's start (`start`) or end position for the row at
    /// `i`, `offset` before (`preceding`) or after it in `ORDER BY` order.
    /// A NULL value's frame is its peers (the other NULLs), as in
    /// PostgreSQL; NULLs are outside every other row's offset bounds.
    fn range_bound(
        &self,
        i: usize,
        offset: RangeOffset,
        preceding: bool,
        start: bool,
    ) -> Result<usize, EvalError> {
        let Some(v) = self.keys.get(i) else {
            return Ok(if start { self.start[i] } else { self.end[i] });
        };
        if v.is_null() {
            return Ok(if start { self.start[i] } else { self.end[i] });
        }
        // The non-NULL positions, which are contiguous.
        let n = self.keys.len();
        let first = self.keys.iter().position(|k| !k.is_null()).unwrap_or(n);
        let last = self.keys[first..]
            .iter()
            .position(|k| k.is_null())
            .map_or(n, |p| first + p);
        // Backwards in `ORDER BY` order is towards smaller values when
        // ascending.
        let target = RangeValue::of(v).shift(offset, preceding == self.asc)?;
        // Position of the first row at or after (`start`), or after
        // (end), the target in `ORDER BY` order.
        let mut lo = first;
        let mut hi = last;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut ord = RangeValue::of(&self.keys[mid]).cmp(&target)?;
            if !self.asc {
                ord = ord.reverse();
            }
            let before = if start {
                ord == Ordering::Less
            } else {
                ord != Ordering::Greater
            };
            if before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

/// Compares precomputed `ORDER BY` values, with PostgreSQL's NULL placement.
fn compare_keys(keys: &[SortKey], a: &[Datum], b: &[Datum]) -> Ordering {
    for ((k, x), y) in keys.iter().zip(a).zip(b) {
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if k.nulls_first => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if k.nulls_first => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let o = func::compare(x, y).unwrap_or_else(|_| x.cmp(y));
                if k.asc { o } else { o.reverse() }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// A partition's rows in window order: each row once per unit of its
/// multiplicity, with its unpacked columns and its `ORDER BY` values.
pub struct OrderedPartition<'a> {
    /// The distinct rows: the packed row, its columns, its `ORDER BY` values.
    rows: Vec<(&'a Row, Vec<Datum>, Vec<Datum>)>,
    /// Index into `rows` of each position, in order.
    order: Vec<usize>,
}

impl<'a> OrderedPartition<'a> {
    /// Orders a partition's distinct rows (with multiplicities) by
    /// `order_by`, then by the rows themselves.
    pub fn new(
        rows: &[(&'a Row, Diff)],
        order_by: &[SortKey],
    ) -> Result<OrderedPartition<'a>, EvalError> {
        let mut distinct = Vec::with_capacity(rows.len());
        let mut counts = Vec::with_capacity(rows.len());
        for (row, diff) in rows {
            if *diff < 0 {
                return Err(EvalError::NegativeMultiplicity("a window partition".into()));
            }
            if *diff == 0 {
                continue;
            }
            let datums = row.unpack();
            let keys = order_by
                .iter()
                .map(|k| k.expr.eval(&datums))
                .collect::<Result<Vec<_>, _>>()?;
            distinct.push((*row, datums, keys));
            counts.push(*diff);
        }
        let mut indices: Vec<usize> = (0..distinct.len()).collect();
        indices.sort_by(|&a, &b| {
            compare_keys(order_by, &distinct[a].2, &distinct[b].2)
                .then_with(|| distinct[a].0.cmp(distinct[b].0))
        });
        let mut order = Vec::new();
        for i in indices {
            let n = usize::try_from(counts[i]).map_err(|_| {
                EvalError::Internal("window partition multiplicity out of range".into())
            })?;
            order.extend(std::iter::repeat_n(i, n));
        }
        Ok(OrderedPartition {
            rows: distinct,
            order,
        })
    }

    /// The number of rows, counting multiplicity.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the partition has no rows.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The first row in window order, if any (`DISTINCT ON`'s pick).
    pub fn first(&self) -> Option<&'a Row> {
        self.order.first().map(|&i| self.rows[i].0)
    }

    fn columns(&self, position: usize) -> &[Datum] {
        &self.rows[self.order[position]].1
    }

    fn peers(&self, order_by: &[SortKey]) -> Peers {
        let n = self.len();
        let mut start = vec![0; n];
        let mut end = vec![n; n];
        let mut group = vec![0; n];
        let mut group_bounds = Vec::new();
        let mut group_start = 0;
        for i in 1..=n {
            let boundary = i == n
                || compare_keys(
                    order_by,
                    &self.rows[self.order[i - 1]].2,
                    &self.rows[self.order[i]].2,
                ) != Ordering::Equal;
            if boundary {
                for p in group_start..i {
                    start[p] = group_start;
                    end[p] = i;
                    group[p] = group_bounds.len();
                }
                group_bounds.push((group_start, i));
                group_start = i;
            }
        }
        let keys = if order_by.is_empty() {
            vec![]
        } else {
            (0..n)
                .map(|i| {
                    self.rows[self.order[i]]
                        .2
                        .first()
                        .cloned()
                        .unwrap_or(Datum::Null)
                })
                .collect()
        };
        Peers {
            start,
            end,
            group,
            group_bounds,
            keys,
            asc: order_by.first().is_none_or(|k| k.asc),
        }
    }
}

/// Evaluates the window functions `funcs` over one partition, ordered by
/// `order_by`: each row of the partition (once per unit of multiplicity),
/// extended with the functions' values.
pub fn eval_partition(
    rows: &[(&Row, Diff)],
    order_by: &[SortKey],
    funcs: &[WindowExpr],
) -> Result<Vec<Row>, EvalError> {
    let partition = OrderedPartition::new(rows, order_by)?;
    let peers = partition.peers(order_by);
    let columns = funcs
        .iter()
        .map(|f| eval_func(f, &partition, &peers))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(partition.len());
    for (i, &r) in partition.order.iter().enumerate() {
        let mut row = RowPacker::from_row(partition.rows[r].0);
        for column in &columns {
            row.push(&column[i]);
        }
        out.push(row.finish());
    }
    Ok(out)
}

/// An `int8` window argument (an offset or position); `None` when NULL.
fn int_arg(
    expr: Option<&ScalarExpr>,
    row: &[Datum],
    default: i64,
) -> Result<Option<i64>, EvalError> {
    let Some(expr) = expr else {
        return Ok(Some(default));
    };
    match func::cast(expr.eval(row)?, &ScalarType::Int64)? {
        Datum::Int64(v) => Ok(Some(v)),
        Datum::Null => Ok(None),
        other => Err(EvalError::Internal(format!(
            "window function offset is {}",
            func::datum_type_name(&other)
        ))),
    }
}

/// The values of one window function for every position of `partition`.
fn eval_func(
    f: &WindowExpr,
    partition: &OrderedPartition<'_>,
    peers: &Peers,
) -> Result<Vec<Datum>, EvalError> {
    let n = partition.len();
    let mut out = Vec::with_capacity(n);
    let value_at = |position: usize| -> Result<Datum, EvalError> {
        let v = match f.exprs.first() {
            Some(e) => e.eval(partition.columns(position))?,
            None => Datum::Null,
        };
        func::cast(v, &f.output_type)
    };
    match &f.func {
        WindowFunc::RowNumber => {
            out.extend((1..=n as i64).map(Datum::Int64));
        }
        WindowFunc::Rank => {
            out.extend((0..n).map(|i| Datum::Int64(peers.start[i] as i64 + 1)));
        }
        WindowFunc::DenseRank => {
            let mut rank = 0;
            for i in 0..n {
                if peers.start[i] == i {
                    rank += 1;
                }
                out.push(Datum::Int64(rank));
            }
        }
        WindowFunc::PercentRank => {
            out.extend((0..n).map(|i| {
                Datum::f64(if n > 1 {
                    peers.start[i] as f64 / (n - 1) as f64
                } else {
                    0.0
                })
            }));
        }
        WindowFunc::CumeDist => {
            out.extend((0..n).map(|i| Datum::f64(peers.end[i] as f64 / n as f64)));
        }
        WindowFunc::Ntile => {
            // PostgreSQL reads the bucket count on the partition's first row.
            let buckets = match n {
                0 => None,
                _ => int_arg(f.exprs.first(), partition.columns(0), 1)?,
            };
            match buckets {
                None => out.extend((0..n).map(|_| Datum::Null)),
                Some(b) if b <= 0 => {
                    return Err(EvalError::Parse {
                        code: SqlState(*b"22014"),
                        message: "argument of ntile must be greater than zero".into(),
                    });
                }
                Some(b) => {
                    let b = usize::try_from(b).unwrap_or(usize::MAX);
                    let (size, larger) = (n / b, n % b);
                    let mut bucket: i32 = 1;
                    let mut left = size + usize::from(larger > 0);
                    for _ in 0..n {
                        if left == 0 {
                            bucket += 1;
                            left = size + usize::from((bucket as usize) <= larger);
                        }
                        out.push(Datum::Int32(bucket));
                        left = left.saturating_sub(1);
                    }
                }
            }
        }
        WindowFunc::Lag | WindowFunc::Lead => {
            for i in 0..n {
                let row = partition.columns(i);
                let Some(offset) = int_arg(f.exprs.get(1), row, 1)? else {
                    out.push(Datum::Null);
                    continue;
                };
                let offset = if matches!(f.func, WindowFunc::Lag) {
                    offset.checked_neg()
                } else {
                    Some(offset)
                };
                let target = offset
                    .and_then(|o| i64::try_from(i).ok()?.checked_add(o))
                    .filter(|t| (0..n as i64).contains(t));
                out.push(match target {
                    Some(t) => value_at(t as usize)?,
                    None => match f.exprs.get(2) {
                        Some(default) => func::cast(default.eval(row)?, &f.output_type)?,
                        None => Datum::Null,
                    },
                });
            }
        }
        WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
            for i in 0..n {
                let (lo, hi) = f.frame.bounds(i, n, peers)?;
                let target = match f.func {
                    WindowFunc::FirstValue => (lo < hi).then_some(lo),
                    WindowFunc::LastValue => (lo < hi).then(|| hi - 1),
                    _ => {
                        let Some(nth) = int_arg(f.exprs.get(1), partition.columns(i), 1)? else {
                            out.push(Datum::Null);
                            continue;
                        };
                        if nth <= 0 {
                            return Err(EvalError::Parse {
                                code: SqlState(*b"22016"),
                                message: "argument of nth_value must be greater than zero".into(),
                            });
                        }
                        usize::try_from(nth - 1)
                            .ok()
                            .and_then(|k| lo.checked_add(k))
                            .filter(|t| *t < hi)
                    }
                };
                out.push(match target {
                    Some(t) => value_at(t)?,
                    None => Datum::Null,
                });
            }
        }
        WindowFunc::Aggregate(agg) => {
            // Each position's aggregate inputs, `None` where FILTER rejects
            // the row.
            let mut inputs: Vec<Option<Vec<Datum>>> = Vec::with_capacity(n);
            for i in 0..n {
                let row = partition.columns(i);
                let pass = match &agg.filter {
                    None => true,
                    Some(filter) => filter.eval(row)? == Datum::Bool(true),
                };
                inputs.push(if pass {
                    Some(
                        agg.exprs
                            .iter()
                            .map(|e| e.eval(row))
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                } else {
                    None
                });
            }
            let frames: Vec<(usize, usize)> = (0..n)
                .map(|i| f.frame.bounds(i, n, peers))
                .collect::<Result<_, _>>()?;
            out = frame_aggregate::aggregate_frames(agg, &inputs, &frames)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::aggregate::AggregateFunc;

    fn rows(values: &[(Option<i32>, i32)]) -> Vec<Row> {
        values
            .iter()
            .map(|(a, b)| {
                Row::new(vec![
                    a.map(Datum::Int32).unwrap_or(Datum::Null),
                    Datum::Int32(*b),
                ])
            })
            .collect()
    }

    fn order_by_first(asc: bool, nulls_first: bool) -> Vec<SortKey> {
        vec![SortKey {
            expr: ScalarExpr::Column(0),
            asc,
            nulls_first,
        }]
    }

    fn call(func: WindowFunc, exprs: Vec<ScalarExpr>, frame: WindowFrame) -> WindowExpr {
        WindowExpr {
            func,
            exprs,
            frame,
            output_type: ScalarType::Int64,
        }
    }

    /// Evaluates one function and returns (first column, second column,
    /// window value) per output row, in window order.
    fn eval(input: &[Row], order_by: &[SortKey], f: WindowExpr) -> Vec<(Datum, Datum, Datum)> {
        let with_diffs: Vec<(&Row, Diff)> = input.iter().map(|r| (r, 1)).collect();
        eval_partition(&with_diffs, order_by, &[f])
            .unwrap()
            .into_iter()
            .map(|r| {
                let d = r.unpack();
                (d[0].clone(), d[1].clone(), d[2].clone())
            })
            .collect()
    }

    fn third(v: Vec<(Datum, Datum, Datum)>) -> Vec<Option<i64>> {
        v.into_iter()
            .map(|(_, _, d)| match d {
                Datum::Int64(x) => Some(x),
                Datum::Int32(x) => Some(x as i64),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ranks_with_ties() {
        let input = rows(&[(Some(2), 1), (Some(1), 2), (Some(2), 3), (Some(3), 4)]);
        let order = order_by_first(true, false);
        let frame = WindowFrame::default_frame();
        let rn = third(eval(
            &input,
            &order,
            call(WindowFunc::RowNumber, vec![], frame.clone()),
        ));
        assert_eq!(rn, vec![Some(1), Some(2), Some(3), Some(4)]);
        let rank = third(eval(
            &input,
            &order,
            call(WindowFunc::Rank, vec![], frame.clone()),
        ));
        assert_eq!(rank, vec![Some(1), Some(2), Some(2), Some(4)]);
        let dense = third(eval(
            &input,
            &order,
            call(WindowFunc::DenseRank, vec![], frame.clone()),
        ));
        assert_eq!(dense, vec![Some(1), Some(2), Some(2), Some(3)]);
    }

    #[test]
    fn distribution_functions() {
        let input = rows(&[
            (Some(1), 1),
            (Some(2), 2),
            (Some(2), 3),
            (Some(3), 4),
            (Some(4), 5),
        ]);
        let order = order_by_first(true, false);
        let frame = WindowFrame::default_frame();
        let ntile = |k: i32| {
            call(
                WindowFunc::Ntile,
                vec![ScalarExpr::Literal(Datum::Int32(k))],
                frame.clone(),
            )
        };
        let buckets = third(eval(&input, &order, ntile(2)));
        assert_eq!(buckets, vec![Some(1), Some(1), Some(1), Some(2), Some(2)]);
        let buckets = third(eval(&input, &order, ntile(7)));
        assert_eq!(buckets, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
        let percent = eval(
            &input,
            &order,
            call(WindowFunc::PercentRank, vec![], frame.clone()),
        );
        let percent: Vec<Datum> = percent.into_iter().map(|(_, _, d)| d).collect();
        assert_eq!(percent[1], Datum::f64(0.25));
        assert_eq!(percent[2], Datum::f64(0.25));
        let cume = eval(
            &input,
            &order,
            call(WindowFunc::CumeDist, vec![], frame.clone()),
        );
        assert_eq!(cume[1].2, Datum::f64(0.6));
        let with_diffs: Vec<(&Row, Diff)> = input.iter().map(|r| (r, 1)).collect();
        assert!(eval_partition(&with_diffs, &order, &[ntile(0)]).is_err());
    }

    #[test]
    fn ties_break_on_the_row() {
        // (2, 3) sorts after (2, 1) whatever order the rows arrive in.
        let a = rows(&[(Some(2), 3), (Some(2), 1)]);
        let b = rows(&[(Some(2), 1), (Some(2), 3)]);
        let order = order_by_first(true, false);
        let f = call(WindowFunc::RowNumber, vec![], WindowFrame::default_frame());
        assert_eq!(eval(&a, &order, f.clone()), eval(&b, &order, f));
    }

    #[test]
    fn nulls_first_and_last() {
        let input = rows(&[(None, 1), (Some(1), 2)]);
        let f = call(WindowFunc::RowNumber, vec![], WindowFrame::default_frame());
        let last = eval(&input, &order_by_first(true, false), f.clone());
        assert_eq!(last[1].0, Datum::Null);
        let first = eval(&input, &order_by_first(true, true), f);
        assert_eq!(first[0].0, Datum::Null);
    }

    #[test]
    fn lag_and_lead_with_offset_and_default() {
        let input = rows(&[(Some(1), 10), (Some(2), 20), (Some(3), 30)]);
        let order = order_by_first(true, false);
        let frame = WindowFrame::default_frame();
        let lag = call(
            WindowFunc::Lag,
            vec![
                ScalarExpr::Column(1),
                ScalarExpr::Literal(Datum::Int32(2)),
                ScalarExpr::Literal(Datum::Int32(-1)),
            ],
            frame.clone(),
        );
        assert_eq!(
            third(eval(&input, &order, lag)),
            vec![Some(-1), Some(-1), Some(10)]
        );
        let lead = call(WindowFunc::Lead, vec![ScalarExpr::Column(1)], frame.clone());
        assert_eq!(
            third(eval(&input, &order, lead)),
            vec![Some(20), Some(30), None]
        );
    }

    #[test]
    fn sum_over_default_frame_includes_peers() {
        let input = rows(&[(Some(1), 1), (Some(2), 10), (Some(2), 100), (Some(3), 1000)]);
        let order = order_by_first(true, false);
        let sum = |frame| {
            call(
                WindowFunc::Aggregate(AggregateExpr {
                    func: AggregateFunc::Sum,
                    exprs: vec![ScalarExpr::Column(1)],
                    input_type: Some(ScalarType::Int64),
                    distinct: false,
                    filter: None,
                    output_type: ScalarType::Int64,
                }),
                vec![],
                frame,
            )
        };
        let running = third(eval(&input, &order, sum(WindowFrame::default_frame())));
        assert_eq!(running, vec![Some(1), Some(111), Some(111), Some(1111)]);
        let rows_frame = WindowFrame {
            units: FrameUnits::Rows,
            start: FrameBound::Preceding(1),
            end: FrameBound::CurrentRow,
        };
        let moving = third(eval(&input, &order, sum(rows_frame)));
        assert_eq!(moving, vec![Some(1), Some(11), Some(110), Some(1100)]);
        let whole = WindowFrame {
            units: FrameUnits::Rows,
            start: FrameBound::UnboundedPreceding,
            end: FrameBound::UnboundedFollowing,
        };
        assert_eq!(third(eval(&input, &[], sum(whole))), vec![Some(1111); 4]);
    }

    #[test]
    fn frame_values() {
        let input = rows(&[(Some(1), 10), (Some(2), 20), (Some(3), 30)]);
        let order = order_by_first(true, false);
        let frame = WindowFrame::default_frame();
        let last = call(
            WindowFunc::LastValue,
            vec![ScalarExpr::Column(1)],
            frame.clone(),
        );
        assert_eq!(
            third(eval(&input, &order, last)),
            vec![Some(10), Some(20), Some(30)]
        );
        let nth = call(
            WindowFunc::NthValue,
            vec![ScalarExpr::Column(1), ScalarExpr::Literal(Datum::Int32(2))],
            frame.clone(),
        );
        assert_eq!(
            third(eval(&input, &order, nth)),
            vec![None, Some(20), Some(20)]
        );
        let zero = call(
            WindowFunc::NthValue,
            vec![ScalarExpr::Column(1), ScalarExpr::Literal(Datum::Int32(0))],
            frame.clone(),
        );
        let with_diffs: Vec<(&Row, Diff)> = input.iter().map(|r| (r, 1)).collect();
        assert!(eval_partition(&with_diffs, &order, &[zero]).is_err());
    }

    #[test]
    fn multiplicities_are_rows() {
        let input = rows(&[(Some(1), 1)]);
        let with_diffs: Vec<(&Row, Diff)> = vec![(&input[0], 3)];
        let f = call(WindowFunc::RowNumber, vec![], WindowFrame::default_frame());
        let out = eval_partition(&with_diffs, &[], &[f]).unwrap();
        assert_eq!(out.len(), 3);
        let negative: Vec<(&Row, Diff)> = vec![(&input[0], -1)];
        assert!(eval_partition(&negative, &[], &[]).is_err());
    }
}
