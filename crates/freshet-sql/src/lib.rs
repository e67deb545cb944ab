//! The SQL layer: parsing statements (with Freshet's extensions to
//! sqlparser's grammar), planning queries with DataFusion's planner and
//! optimizer, and lowering DataFusion's logical plan into [`crate::expr`].
//!
//! * [`parse`]: statement splitting and Freshet-specific statements
//!   (`CREATE SOURCE ... FROM LOAD GENERATOR`, `SHOW ...`); [`subscribe`]:
//!   `SUBSCRIBE` and its output clauses.
//! * [`plan`]: DataFusion planning against the catalog.
//! * [`lower`]: DataFusion `LogicalPlan` → [`crate::expr::RelationExpr`];
//!   [`lower_window`] lowers window functions and `DISTINCT ON`,
//!   [`lower_recursive`] `WITH RECURSIVE`, [`lower_not_in`] `NOT IN`
//!   subqueries that may produce NULL, [`lower_grouping`] `GROUPING SETS`,
//!   `ROLLUP` and `CUBE`; [`scalar_subquery`] makes correlated scalar
//!   subqueries that are not aggregated decorrelatable;
//!   [`subquery_outer_refs`] subqueries that read the outer row outside
//!   their filters; [`values_subqueries`] subqueries in a `VALUES`
//!   list; [`empty_relations`]
//!   answers reads of the always-empty catalog relations; [`bpchar`] where
//!   `char(n)` values lose their padding (conversions to `text`,
//!   comparisons); [`select_subqueries`] `EXISTS`/`IN (subquery)` in a
//!   select list; [`outer_aggregates`] aggregates of an outer query's
//!   columns inside a subquery, and [`where_aggregates`] those in a
//!   subquery's `WHERE`.
//! * [`constant_errors`]: the errors PostgreSQL raises while folding
//!   constants (`SELECT 1/0 FROM t WHERE false`).
//! * [`casts`]: which casts exist (PostgreSQL's `pg_cast`), and
//!   `nullif`'s result type; [`assignment_casts`]: which values a column
//!   takes (`INSERT`, `UPDATE`, `DEFAULT`), and `42804` for the others.
//! * [`temporal`]: `mz_now()`, planned as a `bigint` compared with values
//!   converted to milliseconds.
//! * [`jsonb`]: the `jsonb` (and `json`) operators, functions and
//!   aggregates; [`json`]: what PostgreSQL refuses of `json` while planning;
//!   [`whole_row`]: whole-row references as the argument of `row_to_json`,
//!   `to_json` and `to_jsonb`;
//!   [`jsonb_table`]: the `jsonb` set-returning functions in `FROM`;
//!   [`generate_series`]: PostgreSQL's choice among `generate_series`'s
//!   forms; [`unnest_ordinality`]: arrays built from lateral columns in
//!   `FROM` calls, and `unnest(...) WITH ORDINALITY`.
//! * [`empty_array`]: `ARRAY[]` outside a cast fails as in PostgreSQL;
//!   [`array_subquery`]: `ARRAY(subquery)`.
//! * [`pg_compat`]: `OPERATOR(pg_catalog.~)`, `pg_catalog.f()` and
//!   `COLLATE "default"`, as psql writes them, become plain SQL.
//! * [`literals`]: numeric literals in exponent notation;
//!   [`interval_literals`]: `INTERVAL '…'` read by PostgreSQL's input;
//!   [`date_arith`]: `date ± integer` and `date - date`; [`values`]:
//!   PostgreSQL's type resolution of `VALUES` columns; [`float_compare`]
//!   and [`float_unify`]: floating point beside `numeric` in comparisons,
//!   `CASE`, `UNION` and `VALUES`; [`output_names`]:
//!   output columns that share a name; [`pg_funcs`]: the function library
//!   under PostgreSQL's names, and `pg_typeof`; [`integer_args`]: calls
//!   with a number wider than PostgreSQL's `integer` parameter
//!   (`substr(text, bigint)`) do not exist; [`sequence_funcs`]:
//!   `nextval` and the other sequence functions; [`sequence_options`]:
//!   sequence options in any order; [`identity_syntax`]: `OVERRIDING ...
//!   VALUE` and `ALTER COLUMN ... ADD GENERATED ... AS IDENTITY`.
//! * [`window_funcs`]: the window functions the planner resolves;
//!   [`aggregate_funcs`]: `sum` and `avg` with PostgreSQL's result types.
//!
//! It depends on [`freshet_expr`] and [`freshet_repr`] among Freshet's
//! crates; the catalog implements its [`plan::Resolver`].

#![forbid(unsafe_code)]

// The modules were `crate::sql` when they were part of the `freshet`
// crate, and still name themselves, `expr` and `repr` so (not every
// alias is used in every build).
#[allow(unused_imports)]
use crate as sql;
#[allow(unused_imports)]
use freshet_expr as expr;
#[allow(unused_imports)]
use freshet_repr as repr;

pub mod aggregate_filter;
pub mod aggregate_funcs;
pub mod aggregate_row;
pub mod array;
pub mod array_subquery;
pub mod assignment_casts;
pub mod bitwise;
pub mod bpchar;
pub mod casts;
pub mod column_aliases;
pub mod comparison_order;
pub mod constant_errors;
pub mod copy;
pub mod date_arith;
pub mod date_trunc;
pub mod debezium;
pub mod empty_array;
pub mod empty_relations;
pub mod error;
pub mod explain;
pub mod float4;
pub mod float_compare;
pub mod float_unify;
pub mod formatting;
pub mod generate_series;
pub mod identity_syntax;
pub mod include;
pub mod integer_args;
pub mod interval_literals;
pub mod json;
pub mod jsonb;
pub mod jsonb_keys;
pub mod jsonb_table;
pub mod lateral_top_k;
pub mod literals;
pub mod lower;
pub mod lower_grouping;
pub mod lower_not_in;
pub mod lower_recursive;
pub mod lower_window;
pub mod negative_literals;
pub mod numeric_math;
pub mod outer_aggregates;
pub mod outer_levels;
pub mod output_names;
pub mod parse;
pub mod pg_compat;
pub mod pg_funcs;
pub mod pg_rewrite;
pub mod pg_scalar;
pub mod pg_syntax;
pub mod plan;
pub mod rename;
pub mod rounding;
pub mod row_compare;
pub mod row_constructor;
pub mod row_in_subquery;
pub mod scalar_subquery;
pub mod select_srf;
pub mod select_subqueries;
pub mod sequence_funcs;
pub mod sequence_options;
pub mod set_op_types;
pub mod set_ops_all;
pub mod sink;
pub mod source;
pub mod subquery_domain;
pub mod subquery_outer_refs;
pub mod subquery_predicates;
pub mod subquery_top_k;
pub mod subscribe;
pub mod temporal;
pub mod timezone;
pub mod types;
pub mod unknown_literals;
pub mod unnest;
pub mod unnest_ordinality;
pub mod values;
pub mod values_subqueries;
pub mod where_aggregates;
pub mod whole_row;
pub mod window_funcs;

pub use error::PlanError;
