//! Renders window functions and `DISTINCT ON`: both are a `reduce` keyed by
//! the partition (or `DISTINCT ON`) key whose output is computed from the
//! group's whole contents, as in Materialize. When a row changes, only its
//! partition is recomputed; the evaluation itself is
//! [`crate::expr::window`], the same code for one-shot queries and
//! maintained views.

use differential_dataflow::consolidation::consolidate;

use crate::expr::window::{OrderedPartition, WindowExpr, eval_partition};
use crate::expr::{EvalError, ScalarExpr, SortKey};
use crate::repr::{Diff, Row};

use super::render::{ErrCollection, KeyExprs, OkCollection, split, split_results};

/// Renders `RelationExpr::Window`: each row of `oks`, extended with the
/// value of each of `funcs` over its partition.
pub fn render_window<'s>(
    oks: OkCollection<'s>,
    errs: ErrCollection<'s>,
    partition_by: Vec<ScalarExpr>,
    order_by: Vec<SortKey>,
    funcs: Vec<WindowExpr>,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let (keyed, key_errs) = keyed_by(oks, partition_by);
    let results = keyed
        .reduce(
            move |_key: &Row,
                  rows: &[(&Row, Diff)],
                  out: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                match eval_partition(rows, &order_by, &funcs) {
                    Ok(extended) => {
                        out.extend(extended.into_iter().map(|r| (Ok(r), 1)));
                        consolidate(out);
                    }
                    // The partition's rows are unknown without it: one
                    // error stands for the partition.
                    Err(e) => out.push((Err(e), 1)),
                }
            },
        )
        .map(|(_key, r)| r);
    split(results, errs.concat(key_errs))
}

/// Renders `RelationExpr::DistinctOn`: for each value of `key`, the first
/// row in `order_by` order (ties broken by the rows themselves).
pub fn render_distinct_on<'s>(
    oks: OkCollection<'s>,
    errs: ErrCollection<'s>,
    key: Vec<ScalarExpr>,
    order_by: Vec<SortKey>,
) -> (OkCollection<'s>, ErrCollection<'s>) {
    let (keyed, key_errs) = keyed_by(oks, key);
    let results = keyed
        .reduce(
            move |_key: &Row,
                  rows: &[(&Row, Diff)],
                  out: &mut Vec<(Result<Row, EvalError>, Diff)>| {
                match OrderedPartition::new(rows, &order_by) {
                    Ok(group) => {
                        if let Some(first) = group.first() {
                            out.push((Ok(first.clone()), 1));
                        }
                    }
                    Err(e) => out.push((Err(e), 1)),
                }
            },
        )
        .map(|(_key, r)| r);
    split(results, errs.concat(key_errs))
}

/// Pairs each row with its key; rows whose key fails to evaluate become
/// errors.
fn keyed_by<'s>(
    oks: OkCollection<'s>,
    key: Vec<ScalarExpr>,
) -> (
    differential_dataflow::VecCollection<'s, crate::repr::Timestamp, (Row, Row), Diff>,
    ErrCollection<'s>,
) {
    let key = KeyExprs::new(key);
    split_results(oks.map(move |row| key.eval(&row).map(|k| (k, row))))
}
