//! [`RelationExpr`]: the relational IR that `compute` renders into a
//! differential dataflow. It is what `EXPLAIN` shows as the dataflow plan.

use std::fmt;

use crate::repr::{Datum, Diff, Row};

use super::window::WindowExpr;
use super::{AggregateExpr, ScalarExpr};

/// The identifier of a catalog item or a transient dataflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlobalId(pub u64);

impl GlobalId {
    /// Whether this is a system item (an introspection relation): ids from
    /// 2^61 up to the transient ids at 2^62.
    pub fn is_system(&self) -> bool {
        (1 << 61..1 << 62).contains(&self.0)
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}", self.0)
    }
}

/// The kind of a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinKind {
    /// Matching pairs.
    Inner,
    /// Matching pairs, and unmatched left rows padded with nulls.
    LeftOuter,
    /// Matching pairs, and unmatched right rows padded with nulls.
    RightOuter,
    /// Both of the above.
    FullOuter,
    /// Left rows with at least one match (each once).
    LeftSemi,
    /// Left rows with no match.
    LeftAnti,
}

/// One key of an `ORDER BY`.
#[derive(Clone, Debug)]
pub struct SortKey {
    /// The value to order by.
    pub expr: ScalarExpr,
    /// `ASC` (or `DESC`).
    pub asc: bool,
    /// `NULLS FIRST` (or `NULLS LAST`).
    pub nulls_first: bool,
}

/// A relational expression: a multiset of rows, changing over time.
#[derive(Clone, Debug)]
pub enum RelationExpr {
    /// The contents of a catalog item (a table, source, or materialized view).
    Get {
        /// The item.
        id: GlobalId,
        /// Its name, for `EXPLAIN`.
        name: String,
    },
    /// Constant rows.
    Constant {
        /// The rows and their multiplicities.
        rows: Vec<(Row, Diff)>,
        /// The number of columns.
        arity: usize,
    },
    /// Fused map, filter and project: append `exprs` (each may read the
    /// previous ones), keep rows where every predicate is true, then keep the
    /// `projection` columns.
    Mfp {
        /// The input.
        input: Box<RelationExpr>,
        /// Expressions appended to each row, in order.
        exprs: Vec<ScalarExpr>,
        /// Predicates over the extended row.
        predicates: Vec<ScalarExpr>,
        /// The output columns of the extended row.
        projection: Vec<usize>,
    },
    /// A join of two inputs on equal keys, then a filter.
    Join {
        /// The left input.
        left: Box<RelationExpr>,
        /// The right input.
        right: Box<RelationExpr>,
        /// The join kind.
        kind: JoinKind,
        /// Key expressions over left rows.
        left_keys: Vec<ScalarExpr>,
        /// Key expressions over right rows.
        right_keys: Vec<ScalarExpr>,
        /// Whether NULL keys match each other (`IS NOT DISTINCT FROM`).
        null_equal: bool,
        /// A further condition over the concatenated row.
        filter: Option<ScalarExpr>,
        /// The number of left columns.
        left_arity: usize,
        /// The number of right columns.
        right_arity: usize,
    },
    /// Grouping and aggregation.
    Reduce {
        /// The input.
        input: Box<RelationExpr>,
        /// The grouping key expressions.
        group_key: Vec<ScalarExpr>,
        /// The aggregates.
        aggregates: Vec<AggregateExpr>,
        /// Without `GROUP BY`, an empty input still produces one row.
        global: bool,
    },
    /// Distinct rows.
    Distinct {
        /// The input.
        input: Box<RelationExpr>,
    },
    /// The multiset sum of the inputs (`UNION ALL`).
    Union {
        /// The inputs.
        inputs: Vec<RelationExpr>,
    },
    /// The first `limit` rows after `offset`, in `order_by` order.
    TopK {
        /// The input.
        input: Box<RelationExpr>,
        /// The order.
        order_by: Vec<SortKey>,
        /// The number of rows to keep, if limited.
        limit: Option<usize>,
        /// The number of rows to skip.
        offset: usize,
    },
    /// `DISTINCT ON (key)`: one row per value of `key`, the first in
    /// `order_by` order (ties broken by the rows themselves).
    DistinctOn {
        /// The input.
        input: Box<RelationExpr>,
        /// The `DISTINCT ON` expressions.
        key: Vec<ScalarExpr>,
        /// The order that picks each group's row.
        order_by: Vec<SortKey>,
    },
    /// Window functions: every input row, extended with the value of each
    /// function over the row's partition (`partition_by`; one partition
    /// when empty) in `order_by` order.
    Window {
        /// The input.
        input: Box<RelationExpr>,
        /// The `PARTITION BY` expressions.
        partition_by: Vec<ScalarExpr>,
        /// The `ORDER BY` of the window.
        order_by: Vec<SortKey>,
        /// The functions, one output column each.
        funcs: Vec<WindowExpr>,
    },
    /// `WITH RECURSIVE name AS (base UNION [ALL] recursive)`: the fixpoint
    /// of `r = base + recursive(r)` (`UNION ALL`) or `r = distinct(base +
    /// recursive(r))` (`UNION`), where `recursive` reads `r` through
    /// [`RelationExpr::WorkTable`] `name` exactly once and is linear in it.
    Recursive {
        /// The CTE's name, which its [`RelationExpr::WorkTable`] reads.
        name: String,
        /// The non-recursive term.
        base: Box<RelationExpr>,
        /// The recursive term.
        recursive: Box<RelationExpr>,
        /// `UNION` (rather than `UNION ALL`).
        distinct: bool,
    },
    /// The contents of the innermost enclosing [`RelationExpr::Recursive`]
    /// called `name`, inside its recursive term.
    WorkTable {
        /// The CTE's name.
        name: String,
    },
    /// Each input row followed by each row a table function produces from it.
    FlatMap {
        /// The input.
        input: Box<RelationExpr>,
        /// The function.
        func: TableFunc,
        /// The function's arguments, over the input row.
        exprs: Vec<ScalarExpr>,
    },
    /// A scalar subquery's result, checked to have at most one row per
    /// value of `key` (the correlation columns; none when uncorrelated).
    ///
    /// Produces the input unchanged, with an error for each key that has
    /// more than one row.
    CheckSingleRow {
        /// The input.
        input: Box<RelationExpr>,
        /// The key expressions.
        key: Vec<ScalarExpr>,
    },
}

/// A function from values to rows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TableFunc {
    /// `generate_series(start, stop[, step])` over integers, `numeric` or
    /// timestamps (`expr::series`), its arguments cast to one form's types.
    GenerateSeries,
    /// `unnest(a, b, ...)`: one row per position up to the longest array,
    /// each array's element there (or NULL); a NULL array counts as empty
    /// (`expr::array::unnest_rows`).
    Unnest,
    /// `unnest` on the right of `LEFT JOIN LATERAL ... ON true`: as
    /// [`TableFunc::Unnest`], except that a row whose arrays give no
    /// element is kept, followed by NULLs.
    UnnestOuter,
    /// A `jsonb` set-returning function (`jsonb_array_elements`,
    /// `jsonb_each`, ...) of one `jsonb` argument.
    Jsonb(super::jsonb::JsonbTableFunc),
    /// `regexp_matches(s, pattern[, flags])`: a `text[]` per match
    /// ([`super::regex::regexp_matches`]).
    RegexpMatches,
    /// `f(...) WITH ORDINALITY`: the function's rows, each followed by its
    /// position (`bigint`, from 1).
    WithOrdinality(Box<TableFunc>),
    /// The function on the right of `LEFT JOIN LATERAL ... ON true`: its
    /// rows, or, when it gives none, one row of `width` NULLs.
    Outer {
        /// The function.
        func: Box<TableFunc>,
        /// The number of columns it produces.
        width: usize,
    },
}

impl RelationExpr {
    /// A fused map/filter/project over `input`.
    pub fn mfp(
        input: RelationExpr,
        exprs: Vec<ScalarExpr>,
        predicates: Vec<ScalarExpr>,
        projection: Vec<usize>,
    ) -> RelationExpr {
        RelationExpr::Mfp {
            input: Box::new(input),
            exprs,
            predicates,
            projection,
        }
    }

    /// The single row with no columns.
    pub fn unit() -> RelationExpr {
        RelationExpr::Constant {
            rows: vec![(Row::empty(), 1)],
            arity: 0,
        }
    }

    /// The expression's inputs.
    pub fn children(&self) -> Vec<&RelationExpr> {
        match self {
            RelationExpr::Get { .. }
            | RelationExpr::Constant { .. }
            | RelationExpr::WorkTable { .. } => vec![],
            RelationExpr::Mfp { input, .. }
            | RelationExpr::Reduce { input, .. }
            | RelationExpr::Distinct { input }
            | RelationExpr::TopK { input, .. }
            | RelationExpr::DistinctOn { input, .. }
            | RelationExpr::Window { input, .. }
            | RelationExpr::FlatMap { input, .. }
            | RelationExpr::CheckSingleRow { input, .. } => vec![input],
            RelationExpr::Join { left, right, .. } => vec![left, right],
            RelationExpr::Union { inputs } => inputs.iter().collect(),
            RelationExpr::Recursive {
                base, recursive, ..
            } => vec![base, recursive],
        }
    }

    /// Calls `f` on every scalar expression of this plan and its inputs
    /// (each top-level expression once; see [`ScalarExpr::visit_mut`] for
    /// the expressions under them).
    pub fn visit_scalars_mut(&mut self, f: &mut dyn FnMut(&mut ScalarExpr)) {
        let aggregate = |a: &mut crate::expr::AggregateExpr, f: &mut dyn FnMut(&mut ScalarExpr)| {
            a.exprs.iter_mut().for_each(&mut *f);
            if let Some(filter) = &mut a.filter {
                f(filter);
            }
        };
        match self {
            RelationExpr::Get { .. }
            | RelationExpr::Constant { .. }
            | RelationExpr::WorkTable { .. }
            | RelationExpr::Distinct { .. }
            | RelationExpr::Union { .. }
            | RelationExpr::Recursive { .. } => {}
            RelationExpr::Mfp {
                exprs, predicates, ..
            } => {
                exprs.iter_mut().for_each(&mut *f);
                predicates.iter_mut().for_each(&mut *f);
            }
            RelationExpr::Join {
                left_keys,
                right_keys,
                filter,
                ..
            } => {
                left_keys.iter_mut().for_each(&mut *f);
                right_keys.iter_mut().for_each(&mut *f);
                if let Some(filter) = filter {
                    f(filter);
                }
            }
            RelationExpr::Reduce {
                group_key,
                aggregates,
                ..
            } => {
                group_key.iter_mut().for_each(&mut *f);
                aggregates.iter_mut().for_each(|a| aggregate(a, f));
            }
            RelationExpr::TopK { order_by, .. } => {
                order_by.iter_mut().for_each(|k| f(&mut k.expr));
            }
            RelationExpr::DistinctOn { key, order_by, .. } => {
                key.iter_mut().for_each(&mut *f);
                order_by.iter_mut().for_each(|k| f(&mut k.expr));
            }
            RelationExpr::Window {
                partition_by,
                order_by,
                funcs,
                ..
            } => {
                partition_by.iter_mut().for_each(&mut *f);
                order_by.iter_mut().for_each(|k| f(&mut k.expr));
                for w in funcs {
                    w.exprs.iter_mut().for_each(&mut *f);
                    if let crate::expr::window::WindowFunc::Aggregate(a) = &mut w.func {
                        aggregate(a, f);
                    }
                }
            }
            RelationExpr::FlatMap { exprs, .. } => exprs.iter_mut().for_each(&mut *f),
            RelationExpr::CheckSingleRow { key, .. } => key.iter_mut().for_each(&mut *f),
        }
        for child in self.children_mut() {
            child.visit_scalars_mut(f);
        }
    }

    /// The expression's inputs, mutably.
    pub fn children_mut(&mut self) -> Vec<&mut RelationExpr> {
        match self {
            RelationExpr::Get { .. }
            | RelationExpr::Constant { .. }
            | RelationExpr::WorkTable { .. } => vec![],
            RelationExpr::Mfp { input, .. }
            | RelationExpr::Reduce { input, .. }
            | RelationExpr::Distinct { input }
            | RelationExpr::TopK { input, .. }
            | RelationExpr::DistinctOn { input, .. }
            | RelationExpr::Window { input, .. }
            | RelationExpr::FlatMap { input, .. }
            | RelationExpr::CheckSingleRow { input, .. } => vec![input],
            RelationExpr::Join { left, right, .. } => vec![left, right],
            RelationExpr::Union { inputs } => inputs.iter_mut().collect(),
            RelationExpr::Recursive {
                base, recursive, ..
            } => vec![base, recursive],
        }
    }

    /// Replaces `now()` and its kin everywhere in the plan by their values
    /// for a one-shot query or a DML statement whose transaction began at
    /// `transaction` and which itself began at `statement`.
    pub fn resolve_unmaterializable(&mut self, transaction: i64, statement: i64) {
        self.visit_scalars_mut(&mut |e| e.resolve_unmaterializable(transaction, statement));
    }

    /// Replaces every read of a catalog relation (`pg_catalog.pg_class` and
    /// the like, see `catalog::system`) by its current rows, which
    /// `rows(id)` gives with their arity (`None` for other items).
    pub fn resolve_catalog_relations(
        &mut self,
        rows: &dyn Fn(GlobalId) -> Option<(Vec<Row>, usize)>,
    ) {
        if let RelationExpr::Get { id, .. } = self
            && let Some((rows, arity)) = rows(*id)
        {
            *self = RelationExpr::Constant {
                rows: rows.into_iter().map(|r| (r, 1)).collect(),
                arity,
            };
            return;
        }
        for child in self.children_mut() {
            child.resolve_catalog_relations(rows);
        }
    }

    /// How many times this expression reads the work table `name` (of the
    /// recursive query it is part of).
    pub fn work_table_reads(&self, name: &str) -> usize {
        match self {
            RelationExpr::WorkTable { name: n } => usize::from(n == name),
            // An inner recursive query of the same name shadows it.
            RelationExpr::Recursive {
                name: n,
                base,
                recursive,
                ..
            } if n == name => base.work_table_reads(name),
            other => other
                .children()
                .iter()
                .map(|c| c.work_table_reads(name))
                .sum(),
        }
    }

    /// The items this expression reads.
    pub fn depends_on(&self, out: &mut Vec<GlobalId>) {
        match self {
            RelationExpr::Get { id, .. } => {
                if !out.contains(id) {
                    out.push(*id)
                }
            }
            RelationExpr::Constant { .. } | RelationExpr::WorkTable { .. } => {}
            RelationExpr::Recursive {
                base, recursive, ..
            } => {
                base.depends_on(out);
                recursive.depends_on(out);
            }
            RelationExpr::Mfp { input, .. }
            | RelationExpr::Reduce { input, .. }
            | RelationExpr::Distinct { input }
            | RelationExpr::TopK { input, .. }
            | RelationExpr::DistinctOn { input, .. }
            | RelationExpr::Window { input, .. }
            | RelationExpr::FlatMap { input, .. }
            | RelationExpr::CheckSingleRow { input, .. } => input.depends_on(out),
            RelationExpr::Join { left, right, .. } => {
                left.depends_on(out);
                right.depends_on(out);
            }
            RelationExpr::Union { inputs } => inputs.iter().for_each(|i| i.depends_on(out)),
        }
    }

    /// Writes the plan as an indented tree, for `EXPLAIN`.
    pub fn explain(&self, depth: usize, out: &mut String) {
        self.explain_with(depth, out, &|_| false);
    }

    /// [`RelationExpr::explain`], marking the `GROUP BY`s that are
    /// rendered as monotonic reductions when the relations for which
    /// `append_only` is true only ever grow.
    pub fn explain_with(
        &self,
        depth: usize,
        out: &mut String,
        append_only: &dyn Fn(GlobalId) -> bool,
    ) {
        let pad = "  ".repeat(depth);
        let list = |es: &[ScalarExpr]| {
            es.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            RelationExpr::Get { id, name } => out.push_str(&format!("{pad}Get {name} ({id})\n")),
            RelationExpr::Constant { rows, .. } => {
                out.push_str(&format!("{pad}Constant ({} rows)\n", rows.len()))
            }
            RelationExpr::Mfp {
                input,
                exprs,
                predicates,
                projection,
            } => {
                out.push_str(&format!("{pad}Map/Filter/Project\n"));
                if !exprs.is_empty() {
                    out.push_str(&format!("{pad}  map: {}\n", list(exprs)));
                }
                if !predicates.is_empty() {
                    out.push_str(&format!("{pad}  filter: {}\n", list(predicates)));
                }
                if let Ok(Some(t)) = super::temporal::TemporalFilter::extract(predicates) {
                    out.push_str(&format!("{pad}  temporal filter: {}\n", t.describe()));
                }
                out.push_str(&format!("{pad}  project: {projection:?}\n"));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::Join {
                left,
                right,
                kind,
                left_keys,
                right_keys,
                filter,
                ..
            } => {
                out.push_str(&format!(
                    "{pad}Join {kind:?} on ({}) = ({})",
                    list(left_keys),
                    list(right_keys)
                ));
                if let Some(f) = filter {
                    out.push_str(&format!(" filter {f}"));
                }
                out.push('\n');
                left.explain_with(depth + 1, out, append_only);
                right.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::Reduce {
                input,
                group_key,
                aggregates,
                ..
            } => {
                let aggs = aggregates
                    .iter()
                    .map(|a| {
                        format!(
                            "{:?}({}{})",
                            a.func,
                            if a.distinct { "DISTINCT " } else { "" },
                            list(&a.exprs)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let monotonic = super::monotonic::reduces_monotonically(aggregates)
                    && input.is_monotonic(append_only);
                out.push_str(&format!(
                    "{pad}Reduce group_by=[{}] aggregates=[{aggs}]{}\n",
                    list(group_key),
                    if monotonic { " monotonic" } else { "" }
                ));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::Distinct { input } => {
                out.push_str(&format!("{pad}Distinct\n"));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::Union { inputs } => {
                out.push_str(&format!("{pad}Union\n"));
                inputs
                    .iter()
                    .for_each(|i| i.explain_with(depth + 1, out, append_only));
            }
            RelationExpr::TopK {
                input,
                order_by,
                limit,
                offset,
            } => {
                out.push_str(&format!(
                    "{pad}TopK order_by=[{}] limit={limit:?} offset={offset}\n",
                    sort_list(order_by)
                ));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::DistinctOn {
                input,
                key,
                order_by,
            } => {
                out.push_str(&format!(
                    "{pad}DistinctOn key=[{}] order_by=[{}]\n",
                    list(key),
                    sort_list(order_by)
                ));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::Window {
                input,
                partition_by,
                order_by,
                funcs,
            } => {
                let funcs = funcs
                    .iter()
                    .map(|f| format!("{}({})", f.name(), list(&f.exprs)))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push_str(&format!(
                    "{pad}Window partition_by=[{}] order_by=[{}] funcs=[{funcs}]\n",
                    list(partition_by),
                    sort_list(order_by)
                ));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::Recursive {
                name,
                base,
                recursive,
                distinct,
            } => {
                let union = if *distinct { "UNION" } else { "UNION ALL" };
                out.push_str(&format!("{pad}Recursive {name} ({union})\n"));
                base.explain_with(depth + 1, out, append_only);
                recursive.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::WorkTable { name } => {
                out.push_str(&format!("{pad}WorkTable {name}\n"));
            }
            RelationExpr::FlatMap { input, func, exprs } => {
                out.push_str(&format!("{pad}FlatMap {func:?}({})\n", list(exprs)));
                input.explain_with(depth + 1, out, append_only);
            }
            RelationExpr::CheckSingleRow { input, key } => {
                out.push_str(&format!("{pad}CheckSingleRow key=[{}]\n", list(key)));
                input.explain_with(depth + 1, out, append_only);
            }
        }
    }
}

/// Writes sort keys as `expr ASC|DESC`, for `EXPLAIN`.
fn sort_list(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| format!("{} {}", k.expr, if k.asc { "ASC" } else { "DESC" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares rows by sort keys, with PostgreSQL's NULL placement.
pub fn compare_by_keys(keys: &[SortKey], a: &[Datum], b: &[Datum]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for k in keys {
        let x = k.expr.eval(a).unwrap_or(Datum::Null);
        let y = k.expr.eval(b).unwrap_or(Datum::Null);
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = super::func::compare(&x, &y).unwrap_or_else(|_| x.cmp(&y));
                if k.asc { o } else { o.reverse() }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}
