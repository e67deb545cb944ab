//! Planning a one-shot read: a *fast path* reads an existing arrangement
//! directly (a point lookup when an index's key is pinned by the query's
//! equality predicates) and applies the remaining map/filter/project in the
//! coordinator, with the same evaluation code a dataflow would run; an
//! aggregate without `GROUP BY` over a materialized view, with accumulable
//! aggregates only, is such a read followed by the aggregate, also in the
//! coordinator ([`GlobalAggregate`]); everything else gets a transient
//! dataflow.

use crate::catalog::{Catalog, ItemKind};
use crate::compute::render::Mfp;
use crate::expr::func::BinaryFunc;
use crate::expr::{AggregateExpr, EvalError, GlobalId, RelationExpr, ScalarExpr};
use crate::repr::{Datum, Row};

/// How a one-shot read is answered.
pub enum PeekPlan {
    /// Read an arrangement, then apply map/filter/project stages.
    Fast {
        /// The arrangement to read.
        id: GlobalId,
        /// The index key to look up, instead of a full read.
        key: Option<Row>,
        /// The stages, innermost first.
        stages: Vec<Mfp>,
        /// A global aggregate over the stages' rows, computed in the
        /// coordinator (see [`GlobalAggregate`]).
        then: Option<GlobalAggregate>,
    },
    /// Build a transient dataflow.
    Dataflow(RelationExpr),
}

/// An aggregate without `GROUP BY` whose aggregates are all accumulable
/// (`count`, `sum`/`avg` of integers, ...), over a materialized view's
/// rows: the coordinator reads the view as a fast peek does and adds the
/// rows' accumulators up itself
/// ([`global_aggregate`](crate::compute::accumulate::global_aggregate)),
/// where a transient dataflow would import the view's whole trace and
/// emit each group's row once per time it changed at in the trace's
/// unmerged batches (for `SELECT sum(n) FROM v` over a view of 10 000
/// groups under ingest, polled every 100 ms, that dataflow was a tenth of
/// the `kafka` bench's samples: docs/benchmarks.md, `kafka`, session 10).
pub struct GlobalAggregate {
    /// The aggregates.
    pub aggregates: Vec<AggregateExpr>,
    /// Map/filter/project stages over the aggregate's row, innermost
    /// first.
    pub post: Vec<Mfp>,
}

impl GlobalAggregate {
    /// The aggregate's row over `rows`, through the stages after it.
    pub fn apply(&self, rows: &[(Row, i64)]) -> Result<Vec<(Row, i64)>, EvalError> {
        let row = crate::compute::accumulate::global_aggregate(rows, &self.aggregates)
            .unwrap_or_else(|| {
                Err(EvalError::Internal(
                    "global aggregate in the coordinator is not accumulable".into(),
                ))
            })?;
        apply_stages(vec![(row, 1)], &self.post)
    }
}

/// The map/filter/project stages from `expr` down (outermost first), and
/// the expression below them.
fn mfp_chain(mut expr: &RelationExpr) -> (Vec<Mfp>, &RelationExpr) {
    let mut stages = Vec::new();
    while let RelationExpr::Mfp {
        input,
        exprs,
        predicates,
        projection,
    } = expr
    {
        stages.push(Mfp {
            exprs: exprs.clone(),
            predicates: predicates.clone(),
            projection: projection.clone(),
        });
        expr = input;
    }
    (stages, expr)
}

impl PeekPlan {
    /// Chooses how to answer `expr`, with the indexes for which
    /// `readable` holds (those whose arrangement reaches back to the read
    /// timestamp).
    pub fn new(
        expr: RelationExpr,
        catalog: &Catalog,
        readable: &dyn Fn(GlobalId) -> bool,
    ) -> PeekPlan {
        if let Some(plan) = Self::global_aggregate(&expr, catalog) {
            return plan;
        }
        // Collect the Mfp chain down to a Get.
        let (mut stages, base) = mfp_chain(&expr);
        let RelationExpr::Get { id, .. } = base else {
            return PeekPlan::Dataflow(expr);
        };
        let id = *id;
        stages.reverse();
        let (id, key) = match find_index_lookup(id, &stages, catalog, readable) {
            Some((index, key)) => (index, Some(key)),
            None => (id, None),
        };
        PeekPlan::Fast {
            id,
            key,
            stages,
            then: None,
        }
    }

    /// The plan of a [`GlobalAggregate`] over a materialized view, if
    /// `expr` is one (map/filter/project stages above and below allowed).
    /// Only over a materialized view: a table's or source's rows would all
    /// be copied to the coordinator, where a dataflow sends one row.
    fn global_aggregate(expr: &RelationExpr, catalog: &Catalog) -> Option<PeekPlan> {
        let (mut post, reduce) = mfp_chain(expr);
        let RelationExpr::Reduce {
            input,
            group_key,
            aggregates,
            global: true,
        } = reduce
        else {
            return None;
        };
        if !group_key.is_empty() {
            return None;
        }
        crate::expr::aggregate::accumulable_slots(aggregates)?;
        let (mut stages, base) = mfp_chain(input);
        let RelationExpr::Get { id, .. } = base else {
            return None;
        };
        if catalog.get(*id)?.kind != ItemKind::MaterializedView {
            return None;
        }
        stages.reverse();
        post.reverse();
        Some(PeekPlan::Fast {
            id: *id,
            key: None,
            stages,
            then: Some(GlobalAggregate {
                aggregates: aggregates.clone(),
                post,
            }),
        })
    }
}

/// Splits `expr` into the plan below its outermost map/filter/project
/// stages that call a sequence function (`nextval(...)`), and those stages
/// (innermost first), which the coordinator applies to the plan's rows:
/// sequence functions are evaluated only in the coordinator
/// (`coord::sequence_objects`). A call anywhere else stays in the plan,
/// where evaluating it is an error.
pub fn sequence_stages(expr: RelationExpr) -> (RelationExpr, Vec<Mfp>) {
    let calls = |m: &Mfp| {
        m.exprs
            .iter()
            .chain(&m.predicates)
            .any(super::sequence_objects::calls_sequence)
    };
    let (stages, _) = mfp_chain(&expr);
    // The stages down to the innermost one that calls a sequence function.
    let Some(last) = stages.iter().rposition(calls) else {
        return (expr, Vec::new());
    };
    let mut peeled = stages[..=last].to_vec();
    peeled.reverse();
    let mut below = expr;
    for _ in 0..=last {
        let RelationExpr::Mfp { input, .. } = below else {
            unreachable!("mfp_chain found a stage here");
        };
        below = *input;
    }
    (below, peeled)
}

/// Applies the stages to peeked rows.
pub fn apply_stages(rows: Vec<(Row, i64)>, stages: &[Mfp]) -> Result<Vec<(Row, i64)>, EvalError> {
    let mut out = Vec::with_capacity(rows.len());
    // A volatile expression is evaluated once per copy of a row (see
    // `render::once_per_copy`); the peeked rows are consolidated.
    let rows: Vec<(Row, i64)> = if stages.iter().any(Mfp::is_volatile) {
        rows.into_iter()
            .flat_map(|(row, diff)| {
                let sign = diff.signum();
                (0..diff.unsigned_abs()).map(move |_| (row.clone(), sign))
            })
            .collect()
    } else {
        rows
    };
    'rows: for (row, diff) in rows {
        let mut row = row;
        for stage in stages {
            match stage.apply(row) {
                None => continue 'rows,
                Some(Ok(r)) => row = r,
                Some(Err(e)) => return Err(e),
            }
        }
        out.push((row, diff));
    }
    Ok(out)
}

/// Finds an index on `id` whose key columns are all pinned to constants by
/// equality predicates in `stages`; returns the index and the key to look up.
fn find_index_lookup(
    id: GlobalId,
    stages: &[Mfp],
    catalog: &Catalog,
    readable: &dyn Fn(GlobalId) -> bool,
) -> Option<(GlobalId, Row)> {
    // `origin[c]`: the base column that column `c` of the current stage's
    // input is, if it is one.
    let arity = catalog.get(id)?.desc.arity();
    let mut origin: Vec<Option<usize>> = (0..arity).map(Some).collect();
    // (base column, value, the type the column was cast to before the
    // comparison, if it was).
    let mut pinned: Vec<(usize, Datum, Option<crate::repr::ScalarType>)> = Vec::new();
    for stage in stages {
        let mut extended = origin.clone();
        for e in &stage.exprs {
            extended.push(match e {
                ScalarExpr::Column(c) => extended.get(*c).copied().flatten(),
                _ => None,
            });
        }
        for p in &stage.predicates {
            if let ScalarExpr::CallBinary {
                func: BinaryFunc::Eq,
                left,
                right,
            } = p
            {
                // `col = constant`, or `CAST(col AS t) = constant` where the
                // planner widened the column to the constant's type.
                let column_of = |e: &ScalarExpr| match e {
                    ScalarExpr::Column(c) => Some((*c, None)),
                    ScalarExpr::CallUnary {
                        func: crate::expr::func::UnaryFunc::Cast(t),
                        expr,
                    } => match expr.as_ref() {
                        ScalarExpr::Column(c) => Some((*c, Some(t.clone()))),
                        _ => None,
                    },
                    _ => None,
                };
                let ((col, cast), value) = match (column_of(left), column_of(right)) {
                    (Some(c), None) if right.is_constant() => (c, right.as_ref()),
                    (None, Some(c)) if left.is_constant() => (c, left.as_ref()),
                    _ => continue,
                };
                if let (Some(Some(base)), Ok(d)) = (extended.get(col), value.eval(&[]))
                    && !d.is_null()
                {
                    pinned.push((*base, d, cast));
                }
            }
        }
        origin = stage
            .projection
            .iter()
            .map(|c| extended.get(*c).copied().flatten())
            .collect();
    }
    if pinned.is_empty() {
        return None;
    }
    for index in catalog.indexes_on(id) {
        if !readable(index.id) {
            continue;
        }
        let info = index.index.as_ref()?;
        let mut key = Vec::new();
        for k in &info.key {
            let ScalarExpr::Column(c) = k else { break };
            let Some((_, d, cast)) = pinned.iter().find(|(base, _, _)| base == c) else {
                break;
            };
            // The key's datum must have the column's type for the lookup
            // to find it; where the column was cast for the comparison, the
            // value must survive the round trip (2.5 is no integer key).
            let typ = &index.desc.columns.get(*c)?.typ;
            // An index on `jsonb` holds the stored text, which equal
            // values (`1`, `1.0`) need not share.
            if *typ == crate::repr::ScalarType::Jsonb {
                break;
            }
            let Ok(k) = crate::expr::func::cast(d.clone(), typ) else {
                break;
            };
            if let Some(t) = cast {
                match crate::expr::func::cast(k.clone(), t) {
                    Ok(back)
                        if crate::expr::func::compare(&back, d).ok()
                            == Some(std::cmp::Ordering::Equal) => {}
                    _ => break,
                }
            }
            key.push(k);
        }
        if key.len() == info.key.len() {
            return Some((index.id, Row::new(key)));
        }
    }
    None
}
