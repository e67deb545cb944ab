//! Comparisons of a literal with a column are written column first.
//!
//! DataFusion's filter push-down merges the comparisons of a `WHERE` that
//! read one column (`simplify_predicates`) and replaces equalities that
//! differ as expressions by `false`: `s = '1' AND '1' = s` became an
//! empty result. [`ColumnFirst`] rewrites `literal op column` as `column
//! op' literal` (`'1' = s` as `s = '1'`, `5 < a` as `a > 5`), the same
//! comparison, which that merge then reads as the same predicate.

use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::Transformed;
use datafusion_common::{DFSchema, Result as DfResult};
use datafusion_expr::expr_rewriter::FunctionRewrite;
use datafusion_expr::{BinaryExpr, Expr, Operator};

/// Writes `literal op column` comparisons as `column op' literal`.
#[derive(Debug)]
pub struct ColumnFirst;

impl FunctionRewrite for ColumnFirst {
    fn name(&self) -> &str {
        "freshet_column_first"
    }

    fn rewrite(
        &self,
        expr: Expr,
        _schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> DfResult<Transformed<Expr>> {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
            return Ok(Transformed::no(expr));
        };
        let swapped = match op {
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq => op.swap(),
            _ => None,
        };
        let Some(swapped) = swapped else {
            return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                left,
                op,
                right,
            })));
        };
        if matches!(left.as_ref(), Expr::Literal(..)) && matches!(right.as_ref(), Expr::Column(_)) {
            return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: right,
                op: swapped,
                right: left,
            })));
        }
        Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
            left,
            op,
            right,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_expr::{col, lit};

    fn rewritten(e: Expr) -> Expr {
        ColumnFirst
            .rewrite(e, &DFSchema::empty(), &ConfigOptions::default())
            .expect("rewrites")
            .data
    }

    #[test]
    fn literal_first_comparisons_turn_around() {
        assert_eq!(rewritten(lit("1").eq(col("s"))), col("s").eq(lit("1")));
        assert_eq!(rewritten(lit(5).lt(col("a"))), col("a").gt(lit(5)));
        assert_eq!(rewritten(lit(5).gt_eq(col("a"))), col("a").lt_eq(lit(5)));
        assert_eq!(rewritten(lit(5).not_eq(col("a"))), col("a").not_eq(lit(5)));
        // Already column first, or not a comparison: unchanged.
        assert_eq!(rewritten(col("a").lt(lit(5))), col("a").lt(lit(5)));
        assert_eq!(rewritten(lit(5) + col("a")), lit(5) + col("a"));
    }
}
