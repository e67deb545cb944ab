//! The SQL that Freshet writes for a DML statement (`coord::dml`): an
//! `UPDATE` or `DELETE` becomes the query of the rows it changes, a
//! `RETURNING` clause a query over the target table, an `UPDATE`'s `SET`
//! list the new row's expressions, checked as PostgreSQL checks them. The
//! queries are planned as any other, so they resolve names, types and
//! subqueries as a `SELECT` does.

use datafusion_expr::LogicalPlan;
use sqlparser::ast::{
    AssignmentTarget, Delete, Expr as SqlExpr, FromTable, Ident, Insert, ObjectName, SelectItem,
    Statement, TableFactor, TableObject, TableWithJoins, Update, UpdateTableFromKind, Value,
};

use crate::catalog::names::PartialName;
use crate::catalog::{Catalog, CatalogItem, ItemKind, SearchPath};
use crate::repr::{Datum, RelationDesc};
use crate::sql::PlanError;
use crate::sql::parse::FreshetStatement;

use super::AdapterError;

/// The target relation of a DML statement, as written: its name and alias.
pub(super) struct Target {
    /// The table's name.
    pub(super) name: ObjectName,
    /// Its alias.
    pub(super) alias: Option<Ident>,
}

impl Target {
    /// The target of an `UPDATE` or `DELETE`: a table, without joins.
    pub(super) fn of(relation: &TableWithJoins, statement: &str) -> Result<Target, AdapterError> {
        match &relation.relation {
            TableFactor::Table {
                name, alias, args, ..
            } if relation.joins.is_empty() && args.is_none() => Ok(Target {
                name: name.clone(),
                alias: alias.as_ref().map(|a| a.name.clone()),
            }),
            other => {
                Err(PlanError::Unsupported(format!("{statement} of {other} with joins")).into())
            }
        }
    }

    /// The target of an `INSERT`.
    pub(super) fn of_insert(insert: &Insert) -> Result<Target, AdapterError> {
        match &insert.table {
            TableObject::TableName(name) => Ok(Target {
                name: name.clone(),
                alias: insert.table_alias.as_ref().map(|a| a.alias.clone()),
            }),
            other => Err(PlanError::Unsupported(format!("INSERT INTO {other}")).into()),
        }
    }

    /// The target of a `DELETE` and its `USING` list.
    pub(super) fn of_delete(
        delete: &Delete,
    ) -> Result<(Target, Vec<TableWithJoins>), AdapterError> {
        if !delete.tables.is_empty() {
            return Err(PlanError::Syntax("syntax error at or near \"FROM\"".into()).into());
        }
        if delete.limit.is_some() || !delete.order_by.is_empty() {
            return Err(PlanError::Syntax("DELETE with ORDER BY or LIMIT".into()).into());
        }
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
        let [relation] = from.as_slice() else {
            return Err(PlanError::Unsupported("DELETE of several tables".into()).into());
        };
        Ok((
            Target::of(relation, "DELETE")?,
            delete.using.clone().unwrap_or_default(),
        ))
    }

    /// The relation as a `FROM` item: `name [AS alias]`.
    pub(super) fn relation(&self) -> String {
        match &self.alias {
            Some(a) => format!("{} AS {a}", self.name),
            None => self.name.to_string(),
        }
    }

    /// A column of the target, qualified as the statement names the table.
    pub(super) fn column(&self, name: &str) -> String {
        let column = Ident::with_quote('"', name);
        match &self.alias {
            Some(a) => format!("{a}.{column}"),
            None => format!("{}.{column}", self.name),
        }
    }

    /// The catalog table it names.
    pub(super) fn table(
        &self,
        catalog: &Catalog,
        path: &SearchPath,
    ) -> Result<CatalogItem, AdapterError> {
        let name = PartialName::from_object_name(&self.name)?;
        // A DML statement's target is read as a query's relations are: in
        // a schema that does not exist, it is a relation that does not
        // exist (PostgreSQL's 42P01; `TRUNCATE` says 3F000 first).
        let found = match catalog.resolve_partial(path, &name) {
            Err(PlanError::UnknownSchema(_)) => None,
            other => other?,
        };
        let Some(item) = found else {
            return Err(PlanError::UnknownItem {
                kind: "relation",
                name: match &name.schema {
                    Some(schema) => format!("{schema}.{}", name.item),
                    None => name.item.clone(),
                },
            }
            .into());
        };
        if item.kind != ItemKind::Table {
            return Err(PlanError::WrongObjectType(format!(
                "cannot modify {} \"{}\"",
                item.kind.name(),
                item.name
            ))
            .into());
        }
        Ok(item.clone())
    }
}

/// Parses SQL that Freshet generated into its one statement.
pub(super) fn parse_one(sql: &str) -> Result<Statement, AdapterError> {
    crate::sql::parse::parse_statements(sql)?
        .into_iter()
        .next()
        .and_then(|s| match s {
            FreshetStatement::Sql(s) => Some(*s),
            _ => None,
        })
        .ok_or_else(|| PlanError::Internal(format!("generated SQL did not parse: {sql}")).into())
}

/// A column name as PostgreSQL folds it: unquoted names in lower case.
pub(super) fn fold(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// `SELECT <items> FROM <target>`: the query whose rows, over the affected
/// rows in place of the table's, are a `RETURNING` clause's.
pub(super) fn returning_query(
    target: &Target,
    items: &[SelectItem],
) -> Result<Statement, AdapterError> {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    parse_one(&format!(
        "SELECT {} FROM {}",
        items.join(", "),
        target.relation()
    ))
}

/// A `RETURNING` clause: the statement's target, the items, and the other
/// relations the statement reads (`UPDATE … FROM`, `DELETE … USING`).
pub(super) struct Returning<'a> {
    /// The statement's target.
    pub(super) target: Target,
    /// The items.
    pub(super) items: &'a [SelectItem],
    /// The `FROM` or `USING` list.
    pub(super) from: Vec<TableWithJoins>,
}

/// The `RETURNING` clause of a DML statement that has one.
pub(super) fn returning_of(stmt: &Statement) -> Result<Option<Returning<'_>>, AdapterError> {
    Ok(match stmt {
        Statement::Insert(insert) => match &insert.returning {
            Some(items) => Some(Returning {
                target: Target::of_insert(insert)?,
                items,
                from: Vec::new(),
            }),
            None => None,
        },
        Statement::Update(update) => match &update.returning {
            Some(items) => Some(Returning {
                target: Target::of(&update.table, "UPDATE")?,
                items,
                from: update_from(update),
            }),
            None => None,
        },
        Statement::Delete(delete) => match &delete.returning {
            Some(items) => {
                let (target, using) = Target::of_delete(delete)?;
                Some(Returning {
                    target,
                    items,
                    from: using,
                })
            }
            None => None,
        },
        _ => None,
    })
}

/// How a `RETURNING` clause is computed.
pub(super) enum ReturningPlan {
    /// A query over the target table, whose rows are replaced by the
    /// affected rows.
    Target(LogicalPlan),
    /// Expressions over each affected row followed by the columns
    /// `from_columns` of the `FROM` or `USING` row it was paired with:
    /// the clause of an `UPDATE … FROM` or `DELETE … USING` (PostgreSQL's
    /// `RETURNING t.*, u.x`; its `*` is the columns of all of them).
    Joined {
        /// The items.
        exprs: Vec<crate::expr::ScalarExpr>,
        /// The columns of the `FROM` or `USING` list they read, as SQL.
        from_columns: Vec<String>,
    },
}

impl ReturningPlan {
    /// The `FROM` or `USING` columns the statement computes for the
    /// clause, if it reads them.
    pub(super) fn list_columns(&self) -> Option<&[String]> {
        match self {
            ReturningPlan::Target(_) => None,
            ReturningPlan::Joined { from_columns, .. } => Some(from_columns),
        }
    }
}

impl Returning<'_> {
    /// The clause's plan and columns. With a `FROM` or `USING` list, its
    /// items read the target's columns and the list's (unless they have a
    /// subquery: then they read the target's only, and a column of the
    /// list is `0A000`).
    pub(super) fn plan(
        &self,
        catalog: &Catalog,
        path: &SearchPath,
    ) -> Result<(ReturningPlan, RelationDesc), AdapterError> {
        self.plan_as(catalog, path, true)
    }

    /// [`Returning::plan`]; with `lower` false, the items of a
    /// [`ReturningPlan::Joined`] are not lowered (Describe, whose
    /// parameters have no values yet, needs the columns only).
    fn plan_as(
        &self,
        catalog: &Catalog,
        path: &SearchPath,
        lower: bool,
    ) -> Result<(ReturningPlan, RelationDesc), AdapterError> {
        if !self.from.is_empty()
            && let Some(joined) = self.plan_joined(catalog, path, lower)?
        {
            return Ok(joined);
        }
        let reads_others = !self.from.is_empty();
        if reads_others
            && self
                .items
                .iter()
                .any(|i| matches!(i, SelectItem::Wildcard(_)))
        {
            return Err(PlanError::Unsupported(
                "RETURNING * with a subquery in UPDATE … FROM or DELETE … USING".into(),
            )
            .into());
        }
        let query = returning_query(&self.target, self.items)?;
        let aliased = crate::sql::plan::explicit_aliases(&query);
        let plan =
            crate::sql::plan::plan_query(&catalog.scope(path), query).map_err(|e| match e {
                PlanError::UnknownColumn(_) | PlanError::MissingFromEntry { .. }
                    if reads_others =>
                {
                    PlanError::Unsupported(
                        "RETURNING of a column of the FROM or USING list with a subquery".into(),
                    )
                }
                e => e,
            })?;
        let desc = crate::sql::plan::plan_desc_with(&plan, &aliased)?;
        Ok((ReturningPlan::Target(plan), desc))
    }

    /// The clause as expressions over the target's row and the `FROM` or
    /// `USING` list's: `SELECT <items> FROM target, from…`, planned (so
    /// names resolve, and are ambiguous, as in PostgreSQL) but not
    /// optimized (its input keeps every column). `None` if an item has a
    /// subquery.
    fn plan_joined(
        &self,
        catalog: &Catalog,
        path: &SearchPath,
        lower: bool,
    ) -> Result<Option<(ReturningPlan, RelationDesc)>, AdapterError> {
        let items: Vec<String> = self.items.iter().map(ToString::to_string).collect();
        let from: Vec<String> = self.from.iter().map(ToString::to_string).collect();
        let query = parse_one(&format!(
            "SELECT {} FROM {}, {}",
            items.join(", "),
            self.target.relation(),
            from.join(", ")
        ))?;
        let aliased = crate::sql::plan::explicit_aliases(&query);
        let plan = super::sequence::plan_analyzed(catalog, path, query)?;
        let LogicalPlan::Projection(projection) = &plan else {
            return Ok(None);
        };
        let schema = projection.input.schema();
        let arity = self.target.table(catalog, path)?.desc.arity();
        if projection.expr.iter().any(has_subquery) {
            return Ok(None);
        }
        let mut exprs = Vec::with_capacity(projection.expr.len());
        if lower {
            for e in &projection.expr {
                exprs.push(crate::sql::lower::lower_expr(e, schema)?);
            }
        }
        let mut from_columns = Vec::new();
        for i in arity..schema.fields().len() {
            let (qualifier, field) = schema.qualified_field(i);
            let Some(qualifier) = qualifier else {
                return Ok(None);
            };
            from_columns.push(format!(
                "{}.{}",
                qualifier.to_quoted_string(),
                Ident::with_quote('"', field.name())
            ));
        }
        let desc = crate::sql::plan::plan_desc_with(&plan, &aliased)?;
        Ok(Some((
            ReturningPlan::Joined {
                exprs,
                from_columns,
            },
            desc,
        )))
    }
}

/// Whether `e` has a subquery.
pub(super) fn has_subquery(e: &datafusion_expr::Expr) -> bool {
    use datafusion_common::tree_node::TreeNode;
    use datafusion_expr::Expr;
    e.exists(|x| {
        Ok(matches!(
            x,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
        ))
    })
    .unwrap_or(true)
}

/// The columns a DML statement's `RETURNING` clause returns (`None` for a
/// statement without one), for Describe.
pub fn returning_desc(
    catalog: &Catalog,
    path: &SearchPath,
    stmt: &Statement,
) -> Result<Option<RelationDesc>, AdapterError> {
    let Some(returning) = returning_of(stmt)? else {
        return Ok(None);
    };
    returning.target.table(catalog, path)?;
    Ok(Some(returning.plan_as(catalog, path, false)?.1))
}

/// What an `UPDATE`'s `SET` list assigns.
pub(super) struct Assignments {
    /// The value of each column of the table that the list assigns
    /// (`None` for the others).
    pub(super) values: Vec<Option<SqlExpr>>,
    /// The columns set to a volatile `DEFAULT`: their values above are
    /// placeholders, and each updated row gets its own value of the
    /// default (PostgreSQL evaluates it for each row).
    pub(super) per_row_defaults: Vec<usize>,
    /// The assigned columns in the order the list names them (the order
    /// PostgreSQL checks their values' types in).
    pub(super) order: Vec<usize>,
}

/// The `SET` list of an `UPDATE`, checked as PostgreSQL checks it: unknown
/// columns are `42703`, a column assigned twice `42601`. `DEFAULT` is the
/// column's default, a bare parameter is typed as its column.
pub(super) fn assignments(
    table: &CatalogItem,
    update: &Update,
) -> Result<Assignments, AdapterError> {
    let mut pairs: Vec<(&ObjectName, &SqlExpr)> = Vec::new();
    for a in &update.assignments {
        match &a.target {
            AssignmentTarget::ColumnName(name) => pairs.push((name, &a.value)),
            AssignmentTarget::Tuple(names) => {
                let values = match &a.value {
                    SqlExpr::Tuple(values) => values,
                    _ => {
                        return Err(PlanError::Unsupported(
                            "a column list assigned from a subquery or row value".into(),
                        )
                        .into());
                    }
                };
                if values.len() != names.len() {
                    return Err(PlanError::Syntax(
                        "number of columns does not match number of values".into(),
                    )
                    .into());
                }
                pairs.extend(names.iter().zip(values));
            }
        }
    }
    let mut out: Vec<Option<SqlExpr>> = vec![None; table.desc.arity()];
    let mut per_row_defaults = Vec::new();
    let mut order = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        let Some(first) = name.0.first().and_then(|p| p.as_ident()) else {
            return Err(PlanError::Syntax("empty column name".into()).into());
        };
        let column = fold(first);
        let Some(p) = table.desc.columns.iter().position(|c| c.name == column) else {
            return Err(PlanError::UnknownColumn(format!(
                "\"{column}\" of relation \"{}\"",
                table.name
            ))
            .into());
        };
        if name.0.len() > 1 {
            return Err(PlanError::Unsupported(format!(
                "assignment to a field of column \"{column}\""
            ))
            .into());
        }
        if out[p].is_some() {
            return Err(PlanError::Syntax(format!(
                "multiple assignments to same column \"{column}\""
            ))
            .into());
        }
        let typ = &table.desc.columns[p].typ;
        let value = match value {
            SqlExpr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") =>
            {
                if default_is_volatile(table, p) {
                    per_row_defaults.push(p);
                }
                default_literal(table, p)?
            }
            // Typed as its column, as PostgreSQL infers it (the value
            // itself is cast to the column's type below as any other).
            SqlExpr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                parse_expr(&format!("CAST({value} AS {})", typ.name()))?
            }
            other => other.clone(),
        };
        out[p] = Some(value);
        order.push(p);
    }
    Ok(Assignments {
        values: out,
        per_row_defaults,
        order,
    })
}

/// Parses an expression Freshet generated.
pub(super) fn parse_expr(sql: &str) -> Result<SqlExpr, AdapterError> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| PlanError::Internal(format!("generated expression {sql}: {e}")).into())
}

/// Whether the default of column `p` of `table` is volatile (`random()`,
/// `nextval()`, `clock_timestamp()`): PostgreSQL evaluates it for each
/// row, so it cannot be written into a statement's SQL as one literal.
pub(super) fn default_is_volatile(table: &CatalogItem, p: usize) -> bool {
    table
        .table_columns
        .get(p)
        .and_then(|c| c.default.as_ref())
        .is_some_and(crate::expr::ScalarExpr::is_volatile)
}

/// `DEFAULT` for column `p` of `table` in generated SQL: the default
/// (evaluated now) as a literal of the column's type, `NULL` for a column
/// without one. A volatile default is a typed `NULL` here, a placeholder
/// the caller fills for each row ([`default_is_volatile`]).
pub(super) fn default_literal(table: &CatalogItem, p: usize) -> Result<SqlExpr, AdapterError> {
    let typ = table.desc.columns[p].typ.name();
    let default = table.table_columns.get(p).and_then(|c| c.default.as_ref());
    let datum = match default {
        Some(e) if !e.is_volatile() => super::dml::resolved_default(e).eval(&[])?,
        _ => Datum::Null,
    };
    parse_expr(&datum_literal(&datum, &typ))
}

/// `datum` as an SQL literal of type `typ` (a type's name).
pub(super) fn datum_literal(datum: &Datum, typ: &str) -> String {
    match crate::repr::strconv::format(datum) {
        None => format!("CAST(NULL AS {typ})"),
        Some(text) => format!("CAST('{}' AS {typ})", text.replace('\'', "''")),
    }
}

/// The `FROM` list of an `UPDATE`.
pub(super) fn update_from(update: &Update) -> Vec<TableWithJoins> {
    match &update.from {
        Some(UpdateTableFromKind::BeforeSet(f) | UpdateTableFromKind::AfterSet(f)) => f.clone(),
        None => Vec::new(),
    }
}

/// `SELECT <target row>, <from columns> FROM target, from… WHERE
/// selection`: each target row of a `DELETE … USING` with each row of the
/// `USING` list it joins (the columns of it that `RETURNING` reads).
pub(super) fn delete_join_query(
    target: &Target,
    table: &CatalogItem,
    from: &[TableWithJoins],
    selection: Option<&SqlExpr>,
    from_columns: &[String],
) -> String {
    let mut items: Vec<String> = table
        .desc
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS \"__old_{i}\"", target.column(&c.name)))
        .collect();
    for (i, c) in from_columns.iter().enumerate() {
        items.push(format!("{c} AS \"__from_{i}\""));
    }
    format!(
        "SELECT {}{}",
        items.join(", "),
        from_where(target, from, selection)
    )
}

/// `FROM target[, from…]` and the `WHERE` clause, as SQL.
pub(super) fn from_where(
    target: &Target,
    from: &[TableWithJoins],
    selection: Option<&SqlExpr>,
) -> String {
    let mut sql = format!(" FROM {}", target.relation());
    for f in from {
        sql.push_str(&format!(", {f}"));
    }
    if let Some(s) = selection {
        sql.push_str(&format!(" WHERE {s}"));
    }
    sql
}

/// `SELECT target.* FROM target WHERE EXISTS (SELECT 1 FROM from WHERE
/// selection)` (or `WHERE selection` without `from`): each target row
/// that a statement with this `FROM`/`USING` list changes, once.
pub(super) fn target_rows_query(
    target: &Target,
    table: &CatalogItem,
    from: &[TableWithJoins],
    selection: Option<&SqlExpr>,
) -> String {
    let columns: Vec<String> = table
        .desc
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS \"__old_{i}\"", target.column(&c.name)))
        .collect();
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), target.relation());
    if from.is_empty() {
        if let Some(s) = selection {
            sql.push_str(&format!(" WHERE {s}"));
        }
    } else {
        let from: Vec<String> = from.iter().map(ToString::to_string).collect();
        sql.push_str(&format!(" WHERE EXISTS (SELECT 1 FROM {}", from.join(", ")));
        if let Some(s) = selection {
            sql.push_str(&format!(" WHERE {s}"));
        }
        sql.push(')');
    }
    sql
}

/// The query an `UPDATE` or `DELETE` reads, for Describe (which takes the
/// parameters' types from its plan): its target rows, and an `UPDATE`'s
/// new rows.
pub fn dml_query(
    catalog: &Catalog,
    path: &SearchPath,
    stmt: &Statement,
) -> Result<Statement, AdapterError> {
    match stmt {
        Statement::Update(update) => {
            let target = Target::of(&update.table, "UPDATE")?;
            let table = target.table(catalog, path)?;
            let assigned = assignments(&table, update)?;
            parse_one(&update_query(
                &target,
                &table,
                &assigned.values,
                &update_from(update),
                update.selection.as_ref(),
                &[],
            ))
        }
        Statement::Delete(delete) => {
            let (target, using) = Target::of_delete(delete)?;
            let table = target.table(catalog, path)?;
            parse_one(&target_rows_query(
                &target,
                &table,
                &using,
                delete.selection.as_ref(),
            ))
        }
        _ => Err(PlanError::Internal("not an UPDATE or DELETE".into()).into()),
    }
}

/// The types of the parameters that an `UPDATE`'s `SET` list assigns
/// whole (`SET c = $1`): their columns' types, as PostgreSQL infers them.
/// Pairs of the parameter's number (from 1) and its type.
pub fn assigned_parameter_types(
    catalog: &Catalog,
    path: &SearchPath,
    stmt: &Statement,
) -> Vec<(usize, crate::repr::ScalarType)> {
    let Statement::Update(update) = stmt else {
        return Vec::new();
    };
    let Ok(table) = Target::of(&update.table, "UPDATE").and_then(|t| t.table(catalog, path)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in &update.assignments {
        let (AssignmentTarget::ColumnName(name), SqlExpr::Value(v)) = (&a.target, &a.value) else {
            continue;
        };
        let Value::Placeholder(p) = &v.value else {
            continue;
        };
        let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let Some(column) = name.0.first().and_then(|p| p.as_ident()).map(fold) else {
            continue;
        };
        if let Some(c) = table.desc.columns.iter().find(|c| c.name == column)
            && n >= 1
        {
            out.push((n, c.typ.clone()));
        }
    }
    out
}

/// `SELECT <old row>, <new row>, <from columns> FROM target, from… WHERE
/// selection`; `from_columns` are columns of the `FROM` list (as SQL) that
/// a `RETURNING` clause reads.
pub(super) fn update_query(
    target: &Target,
    table: &CatalogItem,
    assigned: &[Option<SqlExpr>],
    from: &[TableWithJoins],
    selection: Option<&SqlExpr>,
    from_columns: &[String],
) -> String {
    let mut items: Vec<String> = table
        .desc
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS \"__old_{i}\"", target.column(&c.name)))
        .collect();
    for (i, (c, value)) in table.desc.columns.iter().zip(assigned).enumerate() {
        items.push(match value {
            Some(v) => format!("({v}) AS \"__new_{i}\""),
            None => format!("{} AS \"__new_{i}\"", target.column(&c.name)),
        });
    }
    for (i, c) in from_columns.iter().enumerate() {
        items.push(format!("{c} AS \"__from_{i}\""));
    }
    format!(
        "SELECT {}{}",
        items.join(", "),
        from_where(target, from, selection)
    )
}

/// `DEFAULT` as an item of an `INSERT`'s `VALUES` list: the column's
/// default (evaluated now, as for an omitted column), written as a literal
/// of the column's type; `NULL` for a column without one.
///
/// A volatile default (`random()`, `nextval()`) is evaluated for each row,
/// as for an omitted column: its item is a placeholder, and each row of
/// the list gets one more item, its position in the list, so the caller
/// finds the row again in the query's result (which a peek returns in no
/// particular order). Returns, for each row of the list, the columns
/// whose default the caller evaluates (`None` when there are none, and no
/// item was added).
pub(super) fn default_items(
    source: &mut sqlparser::ast::Query,
    table: &CatalogItem,
    positions: &[usize],
) -> Result<Option<Vec<Vec<usize>>>, AdapterError> {
    use sqlparser::ast::SetExpr;
    let SetExpr::Values(values) = source.body.as_mut() else {
        return Ok(None);
    };
    let mut per_row = Vec::with_capacity(values.rows.len());
    for row in &mut values.rows {
        let mut defaults = Vec::new();
        for (j, item) in row.iter_mut().enumerate() {
            let SqlExpr::Identifier(ident) = item else {
                continue;
            };
            if ident.quote_style.is_some() || !ident.value.eq_ignore_ascii_case("default") {
                continue;
            }
            let Some(&p) = positions.get(j) else {
                continue;
            };
            if default_is_volatile(table, p) {
                defaults.push(p);
            }
            *item = default_literal(table, p)?;
        }
        per_row.push(defaults);
    }
    if per_row.iter().all(Vec::is_empty) {
        return Ok(None);
    }
    for (i, row) in values.rows.iter_mut().enumerate() {
        row.push(parse_expr(&format!("CAST({i} AS bigint)"))?);
    }
    Ok(Some(per_row))
}
