//! Renders [`RelationExpr::Recursive`] (`WITH RECURSIVE`) as a differential
//! iterative scope: a `Variable` that starts as the base term and is set to
//! `base + f(r)` (`UNION ALL`) or `distinct(base + f(r))` (`UNION`) until
//! no more changes circulate, as in Materialize's `WITH MUTUALLY
//! RECURSIVE`. Updates of the inputs flow through the same loop, so a
//! maintained view stays the fixpoint.
//!
//! The parts of the recursive term that do not read the work table are
//! rendered outside the loop by [`render`] and enter it; inside, only the
//! linear operators that lowering allows there are rendered here (maps,
//! filters, projections, unions, inner joins, table functions).
//!
//! A recursion that has not converged after [`RECURSION_LIMIT`] iterations
//! (PostgreSQL's would run forever) stops there: the rows beyond the limit
//! become an error of the query instead of looping the worker forever.

use differential_dataflow::operators::iterate::Variable;
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::Scope;
use timely::dataflow::operators::OkErr;
use timely::order::Product;

use crate::expr::{EvalError, JoinKind, RelationExpr};
use crate::repr::{Datum, Diff, Row, Timestamp};

use super::render::{
    ErrCollection, Imports, KeyExprs, Mfp, OkCollection, render, split_results, table_func,
};

/// The number of iterations after which a recursive query that still
/// changes fails.
pub const RECURSION_LIMIT: u64 = 10_000;

/// Time inside the loop: the outer time and the iteration.
type Inner = Product<Timestamp, u64>;
/// Rows inside the loop.
type InnerOks<'i> = VecCollection<'i, Inner, Row, Diff>;
/// Errors inside the loop.
type InnerErrs<'i> = VecCollection<'i, Inner, EvalError, Diff>;

/// Renders `WITH RECURSIVE name AS (base UNION [ALL] recursive)`.
pub fn render_recursive<'s>(
    scope: Scope<'s, Timestamp>,
    name: &str,
    base: &RelationExpr,
    recursive: &RelationExpr,
    distinct: bool,
    imports: &mut Imports<'_>,
) -> Result<(OkCollection<'s>, ErrCollection<'s>), String> {
    let (base_oks, base_errs) = render(scope, base, imports)?;
    // The subexpressions that do not read the work table, rendered outside
    // the loop in the order `render_step` meets them.
    let mut invariant = Vec::new();
    render_invariant(scope, recursive, name, imports, &mut invariant)?;
    let (oks, errs) = scope.iterative::<u64, _, _>(|inner| {
        let step = Product::new(Default::default(), 1);
        let (variable, r) = Variable::new_from(base_oks.clone().enter(inner), step);
        let mut invariant = invariant.into_iter();
        let (f_oks, f_errs) = render_step(inner, recursive, name, &r, &mut invariant)?;
        let sum = base_oks.enter(inner).concat(f_oks);
        let result = if distinct {
            sum.map(|row| (row.into_key(), ()))
                .reduce(|_k, vals: &[(&(), Diff)], out: &mut Vec<((), Diff)>| {
                    if vals.iter().any(|(_, d)| *d > 0) {
                        out.push(((), 1));
                    }
                })
                .map(|(row, ())| row.into_data())
        } else {
            sum.consolidate()
        };
        // Changes at the limit's iteration and beyond leave the loop as
        // errors, and the variable stops changing.
        let (kept, beyond) = result
            .inner
            .ok_err::<Vec<_>, _, Vec<_>, _, _>(|(row, t, d)| {
                if t.inner < RECURSION_LIMIT {
                    Ok((row, t, d))
                } else {
                    Err((EvalError::RecursionLimit(RECURSION_LIMIT), t, d))
                }
            });
        let kept = kept.as_collection();
        variable.set(kept.clone());
        let errs = f_errs.concat(beyond.as_collection());
        Ok::<_, String>((kept.leave(scope), errs.leave(scope)))
    })?;
    // Each row beyond the limit is one error: report it once.
    let errs = errs
        .map(|e| (e, ()))
        .reduce(|_k, vals: &[(&(), Diff)], out: &mut Vec<((), Diff)>| {
            if vals.iter().any(|(_, d)| *d != 0) {
                out.push(((), 1));
            }
        })
        .map(|(e, ())| e);
    Ok((oks, base_errs.concat(errs)))
}

/// Renders, outside the loop, each maximal subexpression of `expr` that
/// does not read the work table `name`, in the order [`render_step`]
/// visits them.
fn render_invariant<'s>(
    scope: Scope<'s, Timestamp>,
    expr: &RelationExpr,
    name: &str,
    imports: &mut Imports<'_>,
    out: &mut Vec<(OkCollection<'s>, ErrCollection<'s>)>,
) -> Result<(), String> {
    if expr.work_table_reads(name) == 0 {
        out.push(render(scope, expr, imports)?);
        return Ok(());
    }
    for child in expr.children() {
        render_invariant(scope, child, name, imports, out)?;
    }
    Ok(())
}

/// Renders the recursive term inside the loop, reading the work table as
/// `r`.
fn render_step<'s, 'i>(
    inner: Scope<'i, Inner>,
    expr: &RelationExpr,
    name: &str,
    r: &InnerOks<'i>,
    invariant: &mut impl Iterator<Item = (OkCollection<'s>, ErrCollection<'s>)>,
) -> Result<(InnerOks<'i>, InnerErrs<'i>), String> {
    if expr.work_table_reads(name) == 0 {
        let (oks, errs) = invariant
            .next()
            .ok_or_else(|| "a recursive term's invariant part was not rendered".to_string())?;
        return Ok((oks.enter(inner), errs.enter(inner)));
    }
    Ok(match expr {
        RelationExpr::WorkTable { .. } => {
            let none = r.clone().flat_map(|_| None::<EvalError>);
            (r.clone(), none)
        }
        RelationExpr::Mfp {
            input,
            exprs,
            predicates,
            projection,
        } => {
            let (oks, errs) = render_step(inner, input, name, r, invariant)?;
            let mfp = Mfp {
                exprs: exprs.clone(),
                predicates: predicates.clone(),
                projection: projection.clone(),
            };
            let (oks, new_errs) = split_results(oks.flat_map(move |row| mfp.apply(row)));
            (oks, errs.concat(new_errs))
        }
        RelationExpr::Union { inputs } => {
            let mut oks_all = Vec::new();
            let mut errs_all = Vec::new();
            for i in inputs {
                let (o, e) = render_step(inner, i, name, r, invariant)?;
                oks_all.push(o);
                errs_all.push(e);
            }
            (
                differential_dataflow::collection::concatenate(inner, oks_all),
                differential_dataflow::collection::concatenate(inner, errs_all),
            )
        }
        RelationExpr::FlatMap { input, func, exprs } => {
            let (oks, errs) = render_step(inner, input, name, r, invariant)?;
            let (func, exprs) = (func.clone(), exprs.clone());
            let (oks, new_errs) =
                split_results(oks.flat_map(move |row| table_func(&func, &exprs, row)));
            (oks, errs.concat(new_errs))
        }
        RelationExpr::Join {
            left,
            right,
            kind: JoinKind::Inner,
            left_keys,
            right_keys,
            null_equal,
            filter,
            ..
        } => {
            let (lo, le) = render_step(inner, left, name, r, invariant)?;
            let (ro, re) = render_step(inner, right, name, r, invariant)?;
            let null_equal = *null_equal;
            let keyed = |side: InnerOks<'i>, keys: KeyExprs| {
                split_results(side.flat_map(move |row| match keys.eval(&row) {
                    Ok(k) if !null_equal && k.iter().any(|d| d.is_null()) => None,
                    Ok(k) => Some(Ok((k, row))),
                    Err(e) => Some(Err(e)),
                }))
            };
            let (lk, lke) = keyed(lo, KeyExprs::new(left_keys.clone()));
            let (rk, rke) = keyed(ro, KeyExprs::new(right_keys.clone()));
            let joined = lk.join_core(rk.arrange_by_key(), |_k, l: &Row, r: &Row| {
                Some(l.concat(r))
            });
            let filter = filter.clone();
            let (oks, filter_errs) = split_results(joined.flat_map(move |row| match &filter {
                None => Some(Ok(row)),
                Some(f) => match f.eval(&row.unpack()) {
                    Ok(Datum::Bool(true)) => Some(Ok(row)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                },
            }));
            let errs = differential_dataflow::collection::concatenate(
                inner,
                vec![le, re, lke, rke, filter_errs],
            );
            (oks, errs)
        }
        other => {
            let mut plan = String::new();
            other.explain(0, &mut plan);
            return Err(format!(
                "cannot render this in the recursive term of {name}: {plan}"
            ));
        }
    })
}
