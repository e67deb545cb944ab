//! `GROUP BY` with accumulable aggregates only (`count`, `sum` of integers,
//! without `DISTINCT`): rendered, kept as a view, and read.
//!
//! Each input row becomes its group key with the aggregates' accumulators
//! ([`Accums`]) as its *difference*, so differential sums a group's rows by
//! consolidating: no operator re-reads a group when one of its rows changes.
//!
//! A materialized view that is such a `GROUP BY` (no `HAVING`, no
//! projection after it, not a global aggregate, not an index) keeps the
//! arrangement of those accumulators, keyed by group key, as *its*
//! arrangement ([`ArrangedRows::Accumulated`]), instead of turning them into
//! rows with `count_total` and arranging the rows again: the view's rows are
//! made when they are read ([`read_accumulated`] for peeks, [`import`] for
//! dataflows and subscribes that read the view). This is the arrangement
//! `count_total` would keep anyway, so the view costs one arrangement of
//! `(group key, accumulators)` instead of two arrangements and the
//! operator between them. A group whose accumulators cannot be finished
//! (a sum out of `bigint`'s range, more deletes than inserts) is an error
//! of the view, reported by every read that sees the group.
//!
//! [`ArrangedRows::Accumulated`]: super::render::ArrangedRows::Accumulated

use differential_dataflow::VecCollection;
use differential_dataflow::difference::{IsZero, Semigroup};
use differential_dataflow::operators::CountTotal;
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, cursor_list};
use differential_dataflow::trace::implementations::KeySpine;
use timely::dataflow::Scope;
use timely::progress::Antichain;

use differential_dataflow::AsCollection;
use differential_dataflow::difference::Multiply;
use smallvec::SmallVec;
use timely::dataflow::operators::OkErr;

use crate::expr::aggregate::{
    AccumSlot, Accums, NARROW_LANES, accumulable_slots, accumulate, finish_accums,
};
use crate::expr::func::{BinaryFunc, UnaryFunc};
use crate::expr::{AggregateExpr, EvalError, RelationExpr, ScalarExpr};
use crate::repr::{Datum, Diff, Row, RowColumns, RowPacker, ScalarType, Timestamp, jsonb};

use super::render::{ErrCollection, Imports, OkCollection, ReduceInput, render, split_results};

/// An arrangement of accumulators by group key (values empty; the
/// accumulators are the differences).
pub type AccumSpine = KeySpine<Row, Timestamp, Accums>;
/// A shared handle to an [`AccumSpine`].
pub type AccumTrace = TraceAgent<AccumSpine>;

/// A collection of group keys whose differences are their accumulators.
pub type AccumCollection<'s> = VecCollection<'s, Timestamp, Row, Accums>;

/// An accumulable `GROUP BY`, rendered up to its accumulators.
pub struct Accumulated<'s> {
    /// Group keys with the accumulators as differences.
    pub accums: AccumCollection<'s>,
    /// The input's errors and those of evaluating keys and arguments.
    pub errs: ErrCollection<'s>,
    /// The accumulator layout.
    pub slots: Vec<AccumSlot>,
}

/// Turns input rows into group keys with accumulators as differences;
/// rows whose key or arguments fail to evaluate become errors.
///
/// One operator with two outputs does it all (evaluate, split off the
/// errors, multiply the accumulators by the row's multiplicity): every
/// operator a record passes costs a buffer push and a hand-over, and this
/// is once per input update.
pub(super) fn accumulate_input<'s>(
    oks: OkCollection<'s>,
    errs: ErrCollection<'s>,
    input: ReduceInput,
    aggregates: Vec<AggregateExpr>,
    slots: Vec<AccumSlot>,
) -> (AccumCollection<'s>, ErrCollection<'s>) {
    let eval = AccumEval::new(input, aggregates, slots);
    let (accumulated, input_errs) =
        oks.inner
            .ok_err::<Vec<_>, _, Vec<_>, _, _>(move |(row, t, diff)| match eval.eval(&row) {
                Ok((key, acc)) => {
                    let acc = if diff == 1 { acc } else { acc.multiply(&diff) };
                    Ok((key, t, acc))
                }
                Err(e) => Err((e, t, diff)),
            });
    (
        accumulated.as_collection(),
        errs.concat(input_errs.as_collection()),
    )
}

/// Evaluates an input row's group key and accumulators.
///
/// The common shapes are read straight off the packed row, where the
/// general path unpacks the row (copying every value, a `jsonb` document
/// included), packs the key again and collects the arguments in a vector:
/// group keys and aggregate arguments that are column references (the
/// key's bytes are copied, the arguments read in place), or integer casts
/// of a `jsonb` column's member, `(data->>'k')::bigint` (the member is
/// found in the stored text and its digits read there), without
/// `FILTER`s. A row the direct path cannot read as it expects (a column
/// missing, a non-integer sum argument, a member that is not a plain
/// integer: a string, a fraction, too many digits) takes the general path,
/// so both give the same results and errors.
struct AccumEval {
    input: ReduceInput,
    aggregates: Vec<AggregateExpr>,
    slots: Vec<AccumSlot>,
    direct: Option<DirectEval>,
}

/// [`AccumEval`]'s direct path: the key's values (and their columns when
/// all are columns, copied as one projection), and each aggregate's
/// argument (`None` for `count(*)`).
struct DirectEval {
    key: Vec<DirectValue>,
    key_columns: Option<Vec<usize>>,
    args: Vec<Option<DirectValue>>,
}

/// A value the direct path reads off a packed row.
#[derive(Debug, Clone, PartialEq)]
enum DirectValue {
    /// A column.
    Column(usize),
    /// `(column->>'key')::to`, `to` an integer type: the member's text,
    /// when it is a plain integer or JSON `null`, read straight off the
    /// stored `jsonb` text.
    JsonbMemberInt {
        column: usize,
        key: String,
        to: ScalarType,
    },
}

impl DirectValue {
    /// The direct form of `expr`, if it has one.
    fn of(expr: &ScalarExpr) -> Option<DirectValue> {
        match expr {
            ScalarExpr::Column(c) => Some(DirectValue::Column(*c)),
            ScalarExpr::CallUnary {
                func:
                    UnaryFunc::Cast(to @ (ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64)),
                expr,
            } => match &**expr {
                ScalarExpr::CallBinary {
                    func: BinaryFunc::JsonbGet { text: true },
                    left,
                    right,
                } => match (&**left, &**right) {
                    (ScalarExpr::Column(c), ScalarExpr::Literal(Datum::String(k))) => {
                        Some(DirectValue::JsonbMemberInt {
                            column: *c,
                            key: k.clone(),
                            to: to.clone(),
                        })
                    }
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    /// The value in `columns`; `None` where the general path must decide.
    fn eval(&self, columns: &RowColumns<'_>) -> Option<Datum> {
        match self {
            DirectValue::Column(c) => columns.get(*c),
            DirectValue::JsonbMemberInt { column, key, to } => {
                // `->>` of NULL, of a document without the member (or not
                // an object) and of JSON `null` is NULL, and so is its cast.
                let Some(doc) = columns.jsonb_bytes(*column)? else {
                    return Some(Datum::Null);
                };
                let Some(raw) = jsonb::member_bytes(doc, key).ok()? else {
                    return Some(Datum::Null);
                };
                if raw == b"null" {
                    return Some(Datum::Null);
                }
                let v = jsonb::small_integer(raw)?;
                Some(match to {
                    ScalarType::Int16 => Datum::Int16(i16::try_from(v).ok()?),
                    ScalarType::Int32 => Datum::Int32(i32::try_from(v).ok()?),
                    _ => Datum::Int64(v),
                })
            }
        }
    }

    /// Whether the value in `columns` is NULL; `None` where the general
    /// path must decide.
    fn is_null(&self, columns: &RowColumns<'_>) -> Option<bool> {
        match self {
            DirectValue::Column(c) => columns.is_null(*c),
            other => other.eval(columns).map(|d| d.is_null()),
        }
    }
}

impl AccumEval {
    fn new(input: ReduceInput, aggregates: Vec<AggregateExpr>, slots: Vec<AccumSlot>) -> AccumEval {
        let args: Option<Vec<Option<DirectValue>>> = slots
            .iter()
            .zip(&aggregates)
            .map(
                |(slot, agg)| match (slot, agg.filter.as_ref(), agg.exprs.as_slice()) {
                    (_, Some(_), _) => None,
                    (AccumSlot::CountStar, None, []) => Some(None),
                    (AccumSlot::CountStar, None, _) => None,
                    (_, None, [e]) => DirectValue::of(e).map(Some),
                    _ => None,
                },
            )
            .collect();
        let key: Option<Vec<DirectValue>> = input.group_key().iter().map(DirectValue::of).collect();
        let direct = match (key, args) {
            (Some(key), Some(args)) if slots.len() == aggregates.len() => Some(DirectEval {
                key_columns: input.key_columns().map(<[usize]>::to_vec),
                key,
                args,
            }),
            _ => None,
        };
        AccumEval {
            input,
            aggregates,
            slots,
            direct,
        }
    }

    fn eval(&self, row: &Row) -> Result<(Row, Accums), EvalError> {
        if let Some(direct) = &self.direct
            && let Some(done) = self.eval_direct(direct, row)
        {
            return Ok(done);
        }
        self.eval_general(row)
    }

    /// The general path: unpack the row and evaluate the expressions.
    fn eval_general(&self, row: &Row) -> Result<(Row, Accums), EvalError> {
        let (key, vals) = self.input.eval(row)?;
        accumulate(&self.slots, &self.aggregates, &vals).map(|a| (key, a))
    }

    /// The direct path; `None` where the row needs the general one. The
    /// lanes are laid out as [`accumulate`] lays them out.
    fn eval_direct(&self, direct: &DirectEval, row: &Row) -> Option<(Row, Accums)> {
        let columns = row.columns();
        let key = match &direct.key_columns {
            Some(key_columns) => columns.project(key_columns)?,
            None => {
                let mut key = RowPacker::new();
                for value in &direct.key {
                    match value {
                        DirectValue::Column(c) => columns.push_to(*c, &mut key)?,
                        other => key.push(&other.eval(&columns)?),
                    }
                }
                key.finish()
            }
        }
        .into_key();
        let mut lanes: SmallVec<[i64; NARROW_LANES]> = SmallVec::new();
        lanes.push(1);
        for (slot, arg) in self.slots.iter().zip(&direct.args) {
            match (slot, arg) {
                (AccumSlot::CountStar, _) => lanes.push(1),
                (AccumSlot::Count, Some(v)) => lanes.push(!v.is_null(&columns)? as i64),
                (AccumSlot::Stat(_), Some(v)) => {
                    // The count, the value and its square (which fits: the
                    // slot takes `smallint`s and `integer`s only).
                    let v = match v.eval(&columns)? {
                        Datum::Null => None,
                        Datum::Int16(v) => Some(v as i64),
                        Datum::Int32(v) => Some(v as i64),
                        _ => return None,
                    };
                    lanes.push(v.is_some() as i64);
                    lanes.push(v.unwrap_or(0));
                    lanes.push(v.map_or(0, |v| v * v));
                }
                (_, Some(v)) => {
                    let v = match v.eval(&columns)? {
                        Datum::Null => None,
                        Datum::Int16(v) => Some(v as i64),
                        Datum::Int32(v) => Some(v as i64),
                        Datum::Int64(v) => Some(v),
                        _ => return None,
                    };
                    lanes.push(v.unwrap_or(0));
                    lanes.push(v.is_some() as i64);
                }
                (_, None) => return None,
            }
        }
        let acc = match <[i64; NARROW_LANES]>::try_from(&lanes[..]) {
            Ok(narrow) => Accums::Narrow(narrow),
            Err(_) if lanes.len() < NARROW_LANES => {
                let mut narrow = [0; NARROW_LANES];
                narrow[..lanes.len()].copy_from_slice(&lanes);
                Accums::Narrow(narrow)
            }
            Err(_) => Accums::from_lanes(&lanes.iter().map(|v| *v as i128).collect::<Vec<_>>()),
        };
        Some((key, acc))
    }
}

/// Renders `expr` up to its accumulators if it is a `GROUP BY` with
/// accumulable aggregates only (and not a global aggregate, whose empty
/// group still has a row); `None` for any other plan, before rendering
/// anything.
pub fn render_accumulated<'s>(
    scope: Scope<'s, Timestamp>,
    expr: &RelationExpr,
    imports: &mut Imports<'_>,
) -> Option<Result<Accumulated<'s>, String>> {
    let RelationExpr::Reduce {
        input,
        group_key,
        aggregates,
        global: false,
    } = expr
    else {
        return None;
    };
    let slots = accumulable_slots(aggregates)?;
    Some(render(scope, input, imports).map(|(oks, errs)| {
        let reduce_input = ReduceInput::new(group_key.clone(), aggregates.clone());
        let (accums, errs) =
            accumulate_input(oks, errs, reduce_input, aggregates.clone(), slots.clone());
        Accumulated {
            accums,
            errs,
            slots,
        }
    }))
}

/// A group's row: its key, then each aggregate's value.
pub fn finish_group(key: &Row, slots: &[AccumSlot], accums: &Accums) -> Result<Row, EvalError> {
    let mut row = RowPacker::from_row(key);
    for d in finish_accums(slots, accums)? {
        row.push(&d);
    }
    Ok(row.finish())
}

/// The row of an aggregate without `GROUP BY` over `rows` (with their
/// multiplicities), as its dataflow ([`render_reduce`] of a global
/// aggregate) would give it at one time, for a one-shot read whose rows
/// were read from an arrangement; `None` unless every aggregate is
/// accumulable. A row whose arguments fail to evaluate is the result's
/// error, as it would be the peek's.
///
/// [`render_reduce`]: super::render
pub fn global_aggregate(
    rows: &[(Row, Diff)],
    aggregates: &[AggregateExpr],
) -> Option<Result<Row, EvalError>> {
    let slots = accumulable_slots(aggregates)?;
    let eval = AccumEval::new(
        ReduceInput::new(Vec::new(), aggregates.to_vec()),
        aggregates.to_vec(),
        slots.clone(),
    );
    let mut total = Accums::default();
    for (row, diff) in rows {
        let acc = match eval.eval(row) {
            Ok((_key, acc)) => acc,
            Err(e) => return Some(Err(e)),
        };
        if *diff == 1 {
            total.plus_equals(&acc);
        } else {
            total.plus_equals(&acc.multiply(diff));
        }
    }
    // Accumulators that add up to nothing are no group, and the aggregate
    // over no input has its default row.
    Some(match total.is_zero() {
        true => Ok(super::render::global_default(aggregates)),
        false => finish_group(&Row::empty(), &slots, &total),
    })
}

/// Rows from accumulators that change: `count_total` reports each group's
/// old accumulators retracted and its new ones added, and each becomes the
/// group's row (or the error finishing it gives).
pub(super) fn finish_changes<'s>(
    changes: VecCollection<'s, Timestamp, (Row, Accums), Diff>,
    slots: Vec<AccumSlot>,
    errs: ErrCollection<'s>,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let finished = changes.map(move |(key, acc)| finish_group(&key, &slots, &acc));
    let (oks, finish_errs) = split_results(finished);
    (oks, errs.concat(finish_errs))
}

/// Reads a view kept as accumulators into `scope` as rows. With
/// `consolidate`, the rows are consolidated: accumulators can change
/// without changing the row (a filtered-out row still counts in slot 0),
/// and readers such as SUBSCRIBE must not see a row retracted and added
/// back. A dataflow whose output is arranged needs no such step (its
/// arrangement, and every operator on the way, adds the two up), and
/// without it a one-shot query over the view does not sort all of the
/// view's rows first.
pub fn import<'s>(
    scope: Scope<'s, Timestamp>,
    trace: &mut AccumTrace,
    slots: &[AccumSlot],
    consolidate: bool,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let changes = trace.import(scope).count_total_core::<Diff>();
    let finished = {
        let slots = slots.to_vec();
        changes.map(move |(key, acc)| finish_group(&key, &slots, &acc))
    };
    let (oks, errs) = split_results(finished);
    if consolidate {
        (oks.consolidate(), errs)
    } else {
        (oks, errs)
    }
}

/// The rows of a view kept as accumulators, at `ts`: every group whose
/// accumulators are not all zero. With `key` (a whole row, as peeks of a
/// view without an index give it), only that row, looked up by its first
/// `key_arity` columns (the group key). The first group that cannot be
/// finished is the read's error.
pub fn read_accumulated(
    trace: &mut AccumTrace,
    slots: &[AccumSlot],
    key_arity: usize,
    ts: Timestamp,
    key: Option<&Row>,
) -> Result<Vec<(Row, Diff)>, EvalError> {
    let group = match key {
        None => None,
        Some(row) => match row.unpack().get(..key_arity) {
            Some(prefix) => Some(Row::pack(prefix).into_key()),
            // Shorter than the group key: no group's row.
            None => return Ok(Vec::new()),
        },
    };
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let Some(batches) = trace.batches_through(upper.borrow()) else {
        return Ok(Vec::new());
    };
    let (mut cursor, storage) = cursor_list(batches);
    if let Some(g) = &group {
        cursor.seek_key(&storage, g);
    }
    let mut out = Vec::new();
    while cursor.key_valid(&storage) {
        let k: &Row = cursor.key(&storage);
        if let Some(g) = &group
            && k != g
        {
            break;
        }
        let mut acc = Accums::default();
        cursor.map_times(&storage, |t, d| {
            if *t <= ts {
                acc.plus_equals(d);
            }
        });
        if !acc.is_zero() {
            let row = finish_group(k, slots, &acc)?;
            if key.is_none_or(|want| *want == row) {
                out.push((row, 1));
            }
        }
        cursor.step_key(&storage);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use differential_dataflow::difference::Abelian;
    use differential_dataflow::input::Input;

    use super::*;
    use crate::expr::AggregateFunc;

    /// `(c->>'k')::<integer>` of a `jsonb` column, as a `GROUP BY` key and
    /// as `count`/`sum` arguments.
    fn member_int(column: usize, key: &str, to: ScalarType) -> ScalarExpr {
        ScalarExpr::CallUnary {
            func: UnaryFunc::Cast(to),
            expr: Box::new(ScalarExpr::CallBinary {
                func: BinaryFunc::JsonbGet { text: true },
                left: Box::new(ScalarExpr::Column(column)),
                right: Box::new(ScalarExpr::Literal(Datum::String(key.into()))),
            }),
        }
    }

    /// An aggregate of `func` over `expr`, with its input type `input`.
    fn agg(func: AggregateFunc, expr: Option<ScalarExpr>, input: ScalarType) -> AggregateExpr {
        let output_type = match func {
            AggregateFunc::Sum if input == ScalarType::Int64 => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            AggregateFunc::Avg => ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            AggregateFunc::Sum => ScalarType::Int64,
            _ => ScalarType::Int64,
        };
        AggregateExpr {
            func,
            input_type: expr.as_ref().map(|_| input),
            exprs: expr.into_iter().collect(),
            distinct: false,
            filter: None,
            output_type,
        }
    }

    /// Oracle: the direct path over `jsonb` members gives exactly what the
    /// general path gives (the same key and accumulators, or it leaves the
    /// row to the general path, which then decides its value or error),
    /// over documents whose members are every kind of JSON value, integers
    /// at and past each type's range, and rows with other columns around
    /// the document. Plain integer members must take the direct path.
    #[test]
    fn direct_jsonb_members_agree_with_the_general_path() {
        let values = [
            "0",
            "7",
            "-7",
            "42",
            "-128",
            "127",
            "32767",
            "32768",
            "-32768",
            "-32769",
            "2147483647",
            "2147483648",
            "-2147483649",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "1.5",
            "1e2",
            "-0.0",
            "0.1e1",
            "\"12\"",
            "\" 12 \"",
            "\"x\"",
            "\"\"",
            "true",
            "false",
            "null",
            "[1]",
            "{\"a\": 1}",
        ];
        let mut docs: Vec<Option<String>> = vec![None];
        for v in values {
            for w in ["3", "null", "\"9\""] {
                docs.push(Some(format!(r#"{{"k": {v}, "a": {w}, "s": {v}}}"#)));
                docs.push(Some(format!(r#"{{"a": {v}, "k": {w}, "s": {w}}}"#)));
            }
            docs.push(Some(format!(r#"{{"a": {v}}}"#)));
            docs.push(Some(format!("[{v}]")));
            docs.push(Some(v.to_string()));
            docs.push(Some(format!(
                r#"{{"k\u0041": 1, "kA": {v}, "k": {v}, "a": {v}}}"#
            )));
        }
        let docs: Vec<Datum> = docs
            .into_iter()
            .map(|d| match d {
                None => Datum::Null,
                Some(text) => Datum::Jsonb(
                    crate::repr::strconv::canonical_jsonb(&text)
                        .unwrap_or_else(|e| panic!("{text}: {e:?}")),
                ),
            })
            .collect();
        let shapes: Vec<(Vec<ScalarExpr>, Vec<AggregateExpr>)> = vec![
            (
                vec![member_int(0, "k", ScalarType::Int64)],
                vec![
                    agg(AggregateFunc::CountStar, None, ScalarType::Int64),
                    agg(
                        AggregateFunc::Sum,
                        Some(member_int(0, "a", ScalarType::Int64)),
                        ScalarType::Int64,
                    ),
                ],
            ),
            (
                vec![
                    ScalarExpr::Column(1),
                    member_int(0, "kA", ScalarType::Int32),
                ],
                vec![
                    agg(
                        AggregateFunc::Count,
                        Some(member_int(0, "s", ScalarType::Int16)),
                        ScalarType::Int16,
                    ),
                    agg(
                        AggregateFunc::Sum,
                        Some(member_int(0, "s", ScalarType::Int32)),
                        ScalarType::Int32,
                    ),
                    agg(
                        AggregateFunc::Avg,
                        Some(member_int(0, "k", ScalarType::Int16)),
                        ScalarType::Int16,
                    ),
                    agg(
                        AggregateFunc::Count,
                        Some(ScalarExpr::Column(1)),
                        ScalarType::Text,
                    ),
                    agg(
                        AggregateFunc::Stat(crate::expr::aggregate_stats::Stat {
                            sample: true,
                            stddev: false,
                        }),
                        Some(member_int(0, "k", ScalarType::Int32)),
                        ScalarType::Int32,
                    ),
                ],
            ),
        ];
        let mut direct_rows = 0;
        for (key, aggs) in shapes {
            let slots = accumulable_slots(&aggs).expect("accumulable");
            let eval = AccumEval::new(
                ReduceInput::new(key.clone(), aggs.clone()),
                aggs.clone(),
                slots,
            );
            let direct = eval.direct.as_ref().expect("a direct form");
            for doc in &docs {
                for other in [Datum::Null, Datum::String("x".into())] {
                    let row = Row::new(vec![doc.clone(), other]);
                    let general = eval.eval_general(&row);
                    match eval.eval_direct(direct, &row) {
                        Some(done) => {
                            direct_rows += 1;
                            assert_eq!(Ok(done), general, "{row:?} with {key:?}");
                        }
                        None => assert_eq!(eval.eval(&row), general),
                    }
                }
            }
        }
        assert!(
            direct_rows > docs.len(),
            "the direct path was taken {direct_rows} times"
        );
        // The direct path reads plain integers; the general path is left
        // what it must decide (strings, fractions, big numbers).
        let aggs = vec![agg(AggregateFunc::CountStar, None, ScalarType::Int64)];
        let eval = AccumEval::new(
            ReduceInput::new(vec![member_int(0, "k", ScalarType::Int64)], aggs.clone()),
            aggs,
            vec![AccumSlot::CountStar],
        );
        let direct = eval.direct.as_ref().expect("a direct form");
        let doc = |text: &str| {
            Row::new(vec![Datum::Jsonb(
                crate::repr::strconv::canonical_jsonb(text).unwrap(),
            )])
        };
        assert!(eval.eval_direct(direct, &doc(r#"{"k": -17}"#)).is_some());
        assert!(eval.eval_direct(direct, &doc(r#"{"k": null}"#)).is_some());
        assert!(eval.eval_direct(direct, &doc(r#"{"j": 1}"#)).is_some());
        assert!(eval.eval_direct(direct, &doc(r#"{"k": "17"}"#)).is_none());
        assert!(eval.eval_direct(direct, &doc(r#"{"k": 1.5}"#)).is_none());
        assert!(
            eval.eval_direct(direct, &doc(r#"{"k": 9223372036854775807}"#))
                .is_none()
        );
    }

    /// A view kept as accumulators reads back as rows: at each time, with
    /// and without a key, after compaction; groups that cancel out vanish,
    /// and a group that cannot be finished is the read's error.
    #[test]
    fn read_accumulated_finishes_groups() {
        timely::execute_directly(|worker| {
            // count(*), sum(x): slot 0 (rows), the count, the sum and its
            // non-null count.
            let slots = vec![AccumSlot::CountStar, AccumSlot::SumInt];
            let acc = |v: i128| Accums::from_lanes(&[1, 1, v, 1]);
            let retract = |v: i128| {
                let mut a = acc(v);
                a.negate();
                a
            };
            let key = |k: i64| Row::new(vec![Datum::Int64(k)]);
            let row = |k: i64, n: i64, s: i64| {
                Row::new(vec![Datum::Int64(k), Datum::Int64(n), Datum::Int64(s)])
            };
            let (mut input, mut trace) = worker.dataflow::<Timestamp, _, _>(|scope| {
                let (input, accums) = scope.new_collection::<Row, Accums>();
                (input, accums.arrange_by_self().trace)
            });
            input.update(key(1), acc(5));
            input.update(key(1), acc(7));
            input.update(key(2), acc(3));
            input.advance_to(1);
            input.update(key(2), retract(3));
            input.update(key(3), acc(i64::MAX as i128));
            input.advance_to(2);
            input.update(key(3), acc(1));
            input.advance_to(3);
            input.flush();
            while {
                let mut upper = Antichain::new();
                trace.read_upper(&mut upper);
                upper.less_equal(&2)
            } {
                worker.step();
            }
            let mut read = |ts, key: Option<&Row>| {
                let mut rows = read_accumulated(&mut trace, &slots, 1, ts, key)?;
                rows.sort();
                Ok::<_, EvalError>(rows)
            };
            assert_eq!(
                read(0, None),
                Ok(vec![(row(1, 2, 12), 1), (row(2, 1, 3), 1)])
            );
            assert_eq!(
                read(1, None),
                Ok(vec![(row(1, 2, 12), 1), (row(3, 1, i64::MAX), 1)])
            );
            assert_eq!(read(1, Some(&row(1, 2, 12))), Ok(vec![(row(1, 2, 12), 1)]));
            // The right group, but not its row; a group that is not there.
            assert_eq!(read(1, Some(&row(1, 2, 13))), Ok(vec![]));
            assert_eq!(read(1, Some(&row(2, 1, 3))), Ok(vec![]));
            assert_eq!(read(2, None), Err(EvalError::OutOfRange("bigint".into())));
            // Group 1 alone can still be read at 2.
            assert_eq!(read(2, Some(&row(1, 2, 12))), Ok(vec![(row(1, 2, 12), 1)]));
        });
    }

    /// A dataflow reading a view kept as accumulators gets each group's row
    /// changes, consolidated: accumulators that change without changing the
    /// row (a row the FILTER rejects still counts in slot 0) change nothing.
    #[test]
    fn import_reports_row_changes_only() {
        timely::execute_directly(|worker| {
            // count(*) FILTER (...): slot 0 (rows), the filtered count.
            let slots = vec![AccumSlot::CountStar];
            let acc = |rows: i128, passed: i128| Accums::from_lanes(&[rows, passed]);
            let key = |k: i64| Row::new(vec![Datum::Int64(k)]);
            let row = |k: i64, n: i64| Row::new(vec![Datum::Int64(k), Datum::Int64(n)]);
            let (mut input, mut trace) = worker.dataflow::<Timestamp, _, _>(|scope| {
                let (input, accums) = scope.new_collection::<Row, Accums>();
                (input, accums.arrange_by_self().trace)
            });
            let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let sink = seen.clone();
            let probe = worker.dataflow::<Timestamp, _, _>(|scope| {
                let (oks, errs) = import(scope, &mut trace, &slots, true);
                errs.inspect(|e| panic!("unexpected error {e:?}"));
                oks.inspect(move |(r, t, d)| sink.borrow_mut().push((r.clone(), *t, *d)))
                    .probe()
                    .0
            });
            // Unconsolidated (for dataflows whose output is arranged): the
            // rejected row's retraction and re-addition both come through,
            // and add up to the same changes.
            let raw = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let raw_sink = raw.clone();
            let raw_probe = worker.dataflow::<Timestamp, _, _>(|scope| {
                let (oks, _errs) = import(scope, &mut trace, &slots, false);
                oks.inspect(move |(r, t, d)| raw_sink.borrow_mut().push((r.clone(), *t, *d)))
                    .probe()
                    .0
            });
            input.update(key(1), acc(1, 1));
            input.advance_to(1);
            // A rejected row: the group's row stays (1, 1).
            input.update(key(1), acc(1, 0));
            input.advance_to(2);
            input.update(key(1), acc(1, 1));
            input.advance_to(3);
            input.flush();
            while probe.less_than(&3) || raw_probe.less_than(&3) {
                worker.step();
            }
            let mut seen = seen.borrow().clone();
            seen.sort();
            assert_eq!(
                seen,
                vec![(row(1, 1), 0, 1), (row(1, 1), 2, -1), (row(1, 2), 2, 1)]
            );
            let mut raw = raw.borrow().clone();
            raw.sort();
            assert!(raw.contains(&(row(1, 1), 1, -1)), "{raw:?}");
            differential_dataflow::consolidation::consolidate_updates(&mut raw);
            assert_eq!(raw, seen);
        });
    }
}
