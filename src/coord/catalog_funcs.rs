//! PostgreSQL's catalog functions, which clients call next to the catalog
//! relations (`catalog::system`): `pg_table_is_visible`,
//! `pg_get_userbyid`, `format_type`, `pg_get_viewdef`, `pg_get_indexdef`,
//! `pg_get_expr`, `pg_get_function_result`, `pg_get_function_arguments`,
//! `pg_function_is_visible`, `current_schemas`, `to_regtype`, the
//! `has_*_privilege` family, `to_regclass`, the `pg_*_is_visible`
//! functions, `pg_tablespace_location`, `pg_get_triggerdef` (NULL: there
//! are no triggers), `pg_partition_ancestors` (no rows: there are no
//! partitions), and the `regclass`, `regtype`,
//! `regnamespace`, `regproc` and `oid` casts.
//!
//! Like the session functions (`session_funcs`), they are replaced before
//! planning, in a one-shot query, by plain SQL that gives their value with
//! the catalog and search path of that moment: `pg_table_is_visible(x)`
//! becomes `x IN (<the visible relations' OIDs>)`, `format_type(t, m)` a
//! `CASE` over the types. A view has no moment to take them from, so
//! `session_funcs::refuse_in_view` refuses them there.
//!
//! What Freshet does not have answers as an empty catalog would: no
//! comments but those `COMMENT ON` made on relations and columns (and
//! PostgreSQL's own on the built-in types and functions), no publications,
//! every privilege granted (there are no roles yet), sizes unknown (NULL).
//! A `'name'::regclass` literal is the named relation's OID (a `bigint`),
//! so that it compares with OID columns; any other `x::regclass` is the
//! relation's name, as PostgreSQL prints a `regclass`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, ObjectName, TableAlias, TableAliasColumnDef, TableFactor, Value,
    VisitMut, VisitorMut,
};

use super::AdapterError;
use crate::catalog::names::PartialName;
use crate::catalog::system;
use crate::catalog::{Catalog, ItemKind, SearchPath};
use crate::repr::types::IntervalFields;
use crate::sql::PlanError;

/// The functions replaced here, by the name they are called with (a
/// `pg_catalog.` prefix is allowed).
const FUNCTIONS: &[&str] = &[
    "pg_table_is_visible",
    "pg_type_is_visible",
    "pg_get_userbyid",
    "format_type",
    "pg_get_expr",
    "pg_get_indexdef",
    "pg_get_viewdef",
    "pg_get_constraintdef",
    "pg_get_statisticsobjdef_columns",
    "pg_get_partkeydef",
    "pg_get_serial_sequence",
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_encoding_to_char",
    "pg_relation_is_publishable",
    "pg_table_size",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_indexes_size",
    "pg_size_pretty",
    "to_regtype",
    "current_schemas",
    "has_table_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "has_column_privilege",
    "has_any_column_privilege",
    "has_function_privilege",
    "pg_has_role",
    "pg_function_is_visible",
    "pg_collation_is_visible",
    "pg_conversion_is_visible",
    "pg_operator_is_visible",
    "pg_opclass_is_visible",
    "to_regclass",
    "pg_tablespace_location",
    "pg_get_function_result",
    "pg_get_function_arguments",
    "pg_get_function_identity_arguments",
    "pg_get_function_sqlbody",
    "pg_get_triggerdef",
    "pg_partition_ancestors",
];

/// The catalog function `f` calls, if it calls one.
pub fn catalog_function(f: &Function) -> Option<String> {
    let name = match f.name.0.as_slice() {
        [part] => part.as_ident()?.value.to_lowercase(),
        [schema, part] if schema.as_ident()?.value.eq_ignore_ascii_case("pg_catalog") => {
            part.as_ident()?.value.to_lowercase()
        }
        _ => return None,
    };
    FUNCTIONS.contains(&name.as_str()).then_some(name)
}

/// The catalog cast `e` is, if it is one: the target type's name.
pub fn catalog_cast(e: &Expr) -> Option<&'static str> {
    let Expr::Cast { data_type, .. } = e else {
        return None;
    };
    let name = match data_type {
        DataType::Regclass => "regclass".to_string(),
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
                .collect();
            match parts.as_slice() {
                [n] => n.clone(),
                [schema, n] if schema == "pg_catalog" => n.clone(),
                _ => return None,
            }
        }
        _ => return None,
    };
    ["regclass", "regtype", "regnamespace", "regproc", "oid"]
        .into_iter()
        .find(|n| *n == name)
}

/// Replaces the catalog functions and casts in `stmt`, with the values
/// `catalog` and `path` give; with `None` (describing a statement's
/// columns, where only types matter) by values of the same types.
pub fn substitute(
    stmt: &mut sqlparser::ast::Statement,
    values: Option<(&Catalog, &SearchPath)>,
) -> Result<(), AdapterError> {
    super::catalog_vectors::rewrite(stmt);
    match stmt.visit(&mut Rewrite { values }) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Every field list an interval type may have.
const INTERVAL_FIELDS: [IntervalFields; 13] = {
    use IntervalFields as F;
    [
        F::Year,
        F::Month,
        F::Day,
        F::Hour,
        F::Minute,
        F::Second,
        F::YearToMonth,
        F::DayToHour,
        F::DayToMinute,
        F::DayToSecond,
        F::HourToMinute,
        F::HourToSecond,
        F::MinuteToSecond,
    ]
};

/// The rows of `pg_partition_ancestors(x)`: none (its `regclass`es are
/// OIDs, `bigint`s, as a `'name'::regclass` literal is).
const NO_ANCESTORS: &str = "unnest(CAST(ARRAY[] AS bigint[]))";

struct Rewrite<'a> {
    values: Option<(&'a Catalog, &'a SearchPath)>,
}

fn parse(sql: &str) -> Result<Expr, AdapterError> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| PlanError::Internal(format!("catalog function rewrite: {e}")).into())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `CASE (x) WHEN k THEN v ... ELSE otherwise END`, or just `otherwise`
/// when there are no cases.
fn case(x: &str, cases: &[(i64, String)], otherwise: &str) -> String {
    if cases.is_empty() {
        return otherwise.to_string();
    }
    let mut sql = format!("CASE ({x})");
    for (k, v) in cases {
        sql.push_str(&format!(" WHEN {k} THEN {v}"));
    }
    sql.push_str(&format!(" ELSE {otherwise} END"));
    sql
}

impl Rewrite<'_> {
    fn call(&self, name: &str, f: &Function) -> Result<Option<Expr>, AdapterError> {
        let args: Vec<String> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => {
                let mut args = Vec::new();
                for arg in &list.args {
                    match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e.to_string()),
                        _ => return Ok(None),
                    }
                }
                args
            }
            FunctionArguments::Subquery(_) => return Ok(None),
        };
        let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| "NULL".into());
        let catalog = self.values;
        let sql = match (name, args.len()) {
            ("pg_table_is_visible", 1) => {
                let oids = catalog
                    .map(|(c, p)| system::visible_relation_oids(c, p))
                    .unwrap_or_default();
                if oids.is_empty() {
                    format!("(({0}) <> ({0}))", arg(0))
                } else {
                    let list: Vec<String> = oids.iter().map(i64::to_string).collect();
                    format!("(({}) IN ({}))", arg(0), list.join(", "))
                }
            }
            ("pg_type_is_visible", 1) => format!("(({0}) = ({0}))", arg(0)),
            // Every function, collation, conversion, operator and operator
            // class is in `pg_catalog`, which is always searched.
            (
                "pg_function_is_visible"
                | "pg_collation_is_visible"
                | "pg_conversion_is_visible"
                | "pg_operator_is_visible"
                | "pg_opclass_is_visible",
                1,
            ) => format!("(({0}) = ({0}))", arg(0)),
            // `to_regclass('name')`: the relation's OID, as a `'name'::regclass`
            // literal is, or NULL where there is none.
            ("to_regclass", 1) => {
                let Some(Expr::Value(v)) = f_arg(f) else {
                    return Ok(None);
                };
                let Value::SingleQuotedString(name) = &v.value else {
                    return Ok(None);
                };
                match self.relation_oid(name) {
                    Ok(Some(oid)) => format!("CAST({oid} AS bigint)"),
                    Ok(None) | Err(_) => "NULL::bigint".to_string(),
                }
            }
            ("pg_get_function_result", 1) => {
                let cases: Vec<(i64, String)> = crate::catalog::pg_proc::PROCS
                    .iter()
                    .map(|p| (p.oid, quote(p.result)))
                    .collect();
                case(&arg(0), &cases, "NULL::text")
            }
            // Built-in functions have no defaults, so their identity
            // arguments are their arguments.
            ("pg_get_function_arguments" | "pg_get_function_identity_arguments", 1) => {
                let cases: Vec<(i64, String)> = crate::catalog::pg_proc::PROCS
                    .iter()
                    .map(|p| (p.oid, quote(p.arguments)))
                    .collect();
                case(&arg(0), &cases, "NULL::text")
            }
            ("pg_get_userbyid", 1) => format!(
                "CASE WHEN ({0}) = {1} THEN {2} ELSE 'unknown (OID=' || ({0}) || ')' END",
                arg(0),
                system::OWNER_OID,
                quote(system::OWNER_NAME)
            ),
            ("format_type", 2) => format_type(&arg(0), &arg(1)),
            ("pg_get_expr", 2 | 3) => format!("CAST(({}) AS text)", arg(0)),
            ("pg_get_indexdef", 1 | 3) => {
                // With a column number: 0 is the whole definition, `k` the
                // text of the `k`-th key.
                let column = if args.len() == 3 { arg(1) } else { "0".into() };
                let defs: Vec<(i64, String)> = catalog
                    .map(|(c, _)| {
                        c.items()
                            .filter_map(|i| {
                                let def = system::index_definition(c, i)?;
                                let keys: Vec<(i64, String)> = i
                                    .index
                                    .as_ref()?
                                    .key_text
                                    .iter()
                                    .enumerate()
                                    .map(|(k, text)| (k as i64 + 1, quote(text)))
                                    .chain([(0, quote(&def))])
                                    .collect();
                                Some((system::item_oid(i.id), case(&column, &keys, "NULL::text")))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                case(&arg(0), &defs, "NULL::text")
            }
            // `pg_get_viewdef('name')`: PostgreSQL's older form, with the
            // view's name.
            ("pg_get_viewdef", 1 | 2)
                if matches!(
                    f_arg(f),
                    Some(Expr::Value(v)) if matches!(v.value, Value::SingleQuotedString(_))
                ) =>
            {
                let Some(Expr::Value(v)) = f_arg(f) else {
                    return Ok(None);
                };
                let Value::SingleQuotedString(name) = &v.value else {
                    return Ok(None);
                };
                let oid = self
                    .relation_oid(name)?
                    .ok_or_else(|| PlanError::UnknownItem {
                        kind: "relation",
                        name: name.clone(),
                    })?;
                let mut call = f.clone();
                if let FunctionArguments::List(list) = &mut call.args {
                    list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                        Value::Number(oid.to_string(), false),
                    )));
                }
                return self.call("pg_get_viewdef", &call);
            }
            ("pg_get_viewdef", 1 | 2) => {
                let defs: Vec<(i64, String)> = catalog
                    .map(|(c, _)| {
                        c.items()
                            .filter(|i| {
                                matches!(i.kind, ItemKind::View | ItemKind::MaterializedView)
                            })
                            .filter_map(|i| {
                                let def = system::view_definition(i)?;
                                Some((system::item_oid(i.id), quote(&def)))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                case(&arg(0), &defs, "NULL::text")
            }
            ("obj_description", 2) if arg(1) == "'pg_proc'" => {
                let cases: Vec<(i64, String)> = crate::catalog::pg_proc::PROCS
                    .iter()
                    .filter_map(|p| Some((p.oid, quote(p.description?))))
                    .collect();
                case(&arg(0), &cases, "NULL::text")
            }
            // Comments on relations, schemas and constraints (`COMMENT
            // ON`, `coord::comment`); without a catalog name, any.
            ("obj_description", 1) | ("obj_description", 2)
                if args.len() == 1
                    || ["'pg_class'", "'pg_namespace'", "'pg_constraint'"]
                        .contains(&arg(1).as_str()) =>
            {
                use crate::catalog::CommentClass;
                let wanted = match (args.len(), arg(1).as_str()) {
                    (1, _) => None,
                    (_, "'pg_namespace'") => Some(CommentClass::Namespace),
                    (_, "'pg_constraint'") => Some(CommentClass::Constraint),
                    _ => Some(CommentClass::Relation),
                };
                let cases: Vec<(i64, String)> = catalog
                    .map(|(c, _)| {
                        c.comments()
                            .filter(|(class, _, sub, _)| {
                                *sub == 0 && wanted.is_none_or(|w| w == *class)
                            })
                            .filter_map(|(class, id, _, comment)| {
                                let (_, oid) = system::comment_oids(c, class, id)?;
                                Some((oid, quote(&comment.text)))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                case(&arg(0), &cases, "NULL::text")
            }
            ("col_description", 2) => {
                let cases: Vec<String> = catalog
                    .map(|(c, _)| {
                        c.comments()
                            .filter(|(_, _, sub, _)| *sub > 0)
                            .map(|(_, id, sub, comment)| {
                                format!(
                                    " WHEN ({}) = {} AND ({}) = {sub} THEN {}",
                                    arg(0),
                                    system::item_oid(id),
                                    arg(1),
                                    quote(&comment.text)
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if cases.is_empty() {
                    "NULL::text".to_string()
                } else {
                    format!("CASE{} ELSE NULL::text END", cases.concat())
                }
            }
            ("obj_description", 2) if arg(1) == "'pg_type'" => {
                let cases: Vec<(i64, String)> = system::TYPE_DESCRIPTIONS
                    .iter()
                    .map(|(oid, d)| (*oid, quote(d)))
                    .collect();
                case(&arg(0), &cases, "NULL::text")
            }
            ("pg_get_serial_sequence", 2) if self.values.is_some() => {
                // Arguments that are not literals give NULL: SQLAlchemy's
                // reflection casts the result `::regclass::oid`, which
                // Freshet has only for a literal name.
                match self.serial_sequence(f)? {
                    Some(Some(name)) => format!("CAST({} AS text)", quote(&name)),
                    Some(None) | None => "NULL::text".to_string(),
                }
            }
            ("pg_get_constraintdef", 1 | 2) => {
                let defs: Vec<(i64, String)> = catalog
                    .map(|(c, _)| {
                        system::constraint_definitions(c)
                            .into_iter()
                            .map(|(oid, plain, pretty)| {
                                let def = if args.len() == 2 && plain != pretty {
                                    format!(
                                        "CASE WHEN ({}) THEN {} ELSE {} END",
                                        arg(1),
                                        quote(&pretty),
                                        quote(&plain)
                                    )
                                } else {
                                    quote(&plain)
                                };
                                (oid, def)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                case(&arg(0), &defs, "NULL::text")
            }
            (
                "pg_get_statisticsobjdef_columns"
                | "pg_get_partkeydef"
                | "pg_get_serial_sequence"
                | "pg_get_function_sqlbody"
                | "pg_get_triggerdef"
                | "obj_description"
                | "col_description"
                | "shobj_description",
                1..=3,
            ) => "NULL::text".to_string(),
            ("pg_encoding_to_char", 1) => {
                format!("CASE WHEN ({}) = 6 THEN 'UTF8' ELSE '' END", arg(0))
            }
            ("pg_relation_is_publishable", 1) => "false".to_string(),
            // Freshet has no partitioned tables, so no relation has
            // ancestors, and a relation that is not a partition gives no
            // rows in PostgreSQL either (not even itself).
            ("pg_partition_ancestors", 1) => NO_ANCESTORS.to_string(),
            // PostgreSQL's two tablespaces are in its data directory,
            // which it shows as the empty location.
            ("pg_tablespace_location", 1) => {
                format!("CASE WHEN ({}) IS NULL THEN NULL::text ELSE '' END", arg(0))
            }
            (
                "pg_table_size" | "pg_relation_size" | "pg_total_relation_size" | "pg_indexes_size",
                1 | 2,
            ) => "NULL::bigint".to_string(),
            ("pg_size_pretty", 1) => size_pretty(&arg(0)),
            ("to_regtype", 1) => {
                // The type's OID, or NULL for an unknown name (where a
                // `regtype` cast fails); both PostgreSQL's internal names
                // (`int4`, `_int4`) and `format_type`'s are accepted.
                let mut sql = format!("CASE lower(trim(CAST(({}) AS text)))", arg(0));
                for (oid, name) in system::type_names() {
                    sql.push_str(&format!(" WHEN {} THEN {oid}", quote(&name)));
                }
                for (oid, name) in system::internal_type_names() {
                    sql.push_str(&format!(" WHEN {} THEN {oid}", quote(&name)));
                }
                sql.push_str(" ELSE NULL::bigint END");
                sql
            }
            ("current_schemas", 1) => {
                let Some(Expr::Value(v)) = f_arg(f) else {
                    return Ok(None);
                };
                let implicit = match v.value {
                    Value::Boolean(b) => b,
                    _ => return Ok(None),
                };
                let mut schemas: Vec<String> = Vec::new();
                if implicit {
                    schemas.push(system::PG_CATALOG.to_string());
                }
                if let Some((c, p)) = catalog {
                    schemas.extend(p.schemas.iter().filter(|s| c.schema_exists(s)).cloned());
                }
                let list: Vec<String> = schemas.iter().map(|s| quote(s)).collect();
                format!("CAST(ARRAY[{}] AS text[])", list.join(", "))
            }
            (
                "has_table_privilege"
                | "has_schema_privilege"
                | "has_database_privilege"
                | "has_column_privilege"
                | "has_any_column_privilege"
                | "has_function_privilege"
                | "pg_has_role",
                2..=4,
            ) => "true".to_string(),
            _ => return Ok(None),
        };
        parse(&sql).map(Some)
    }

    fn cast(&self, target: &str, e: &Expr) -> Result<Option<Expr>, AdapterError> {
        let Expr::Cast { expr: inner, .. } = e else {
            return Ok(None);
        };
        let literal = string_literal(inner);
        let x = inner.to_string();
        let sql = match (target, literal) {
            ("oid", _) => format!("CAST(({x}) AS bigint)"),
            // Describing: only the type matters.
            ("regclass", Some(name))
                if self.values.is_none() && name.trim().parse::<i64>().is_err() =>
            {
                return parse("0::bigint").map(Some);
            }
            ("regclass", Some(name)) => match self.relation_oid(&name)? {
                Some(oid) => oid.to_string(),
                None => {
                    return Err(PlanError::UnknownItem {
                        kind: "relation",
                        name,
                    }
                    .into());
                }
            },
            ("regclass", None) => {
                let names: Vec<(i64, String)> = self
                    .values
                    .map(|(c, _)| system::relation_names(c))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(oid, name)| (oid, quote(&name)))
                    .collect();
                case(&x, &names, &format!("CAST(({x}) AS text)"))
            }
            // A `regtype` value: the type's OID, which prints as its name.
            ("regtype", Some(name)) => match crate::repr::types::regtype_oid(&name) {
                Some(oid) => format!("CAST({oid} AS regtype)"),
                None => {
                    return Err(PlanError::UnknownType(name).into());
                }
            },
            ("regtype", None) => format!("CAST(({x}) AS regtype)"),
            // A function's name (`-` for 0, as PostgreSQL prints an
            // invalid `regproc`).
            ("regproc", _) => {
                let mut names: Vec<(i64, String)> = crate::catalog::pg_proc::PROCS
                    .iter()
                    .map(|p| (p.oid, quote(p.name)))
                    .collect();
                names.push((0, "'-'".into()));
                case(&x, &names, &format!("CAST(({x}) AS text)"))
            }
            // A schema's name: its OID, as a `'name'::regclass` literal is.
            ("regnamespace", Some(name)) if name.trim().parse::<i64>().is_err() => {
                let Some((catalog, _)) = self.values else {
                    return parse("0::bigint").map(Some);
                };
                let partial = parse_relation_name(&name)?;
                match (&partial.schema, system::schema_oid(catalog, &partial.item)) {
                    (None, Some(oid)) => oid.to_string(),
                    (None, None) => return Err(PlanError::UnknownSchema(partial.item).into()),
                    (Some(_), _) => {
                        return Err(
                            PlanError::Syntax(format!("invalid name syntax: \"{name}\"")).into(),
                        );
                    }
                }
            }
            ("regnamespace", _) => {
                let names: Vec<(i64, String)> = self
                    .values
                    .map(|(c, _)| {
                        let mut names = c.schema_names();
                        names.push(system::PG_CATALOG.into());
                        names.push(system::INFORMATION_SCHEMA.into());
                        names
                            .into_iter()
                            .filter_map(|n| Some((system::schema_oid(c, &n)?, quote(&n))))
                            .collect()
                    })
                    .unwrap_or_default();
                case(&x, &names, &format!("CAST(({x}) AS text)"))
            }
            _ => return Ok(None),
        };
        parse(&sql).map(Some)
    }
}

impl Rewrite<'_> {
    /// `pg_get_serial_sequence('table', 'column')`: the qualified name of
    /// the sequence the column owns (`serial` or identity), if it owns
    /// one. The table name is read as SQL (lower-cased unless quoted); the
    /// column's is taken as it is. `None` where the arguments are not
    /// literals.
    fn serial_sequence(&self, f: &Function) -> Result<Option<Option<String>>, AdapterError> {
        let Some((catalog, path)) = self.values else {
            return Ok(Some(None));
        };
        let FunctionArguments::List(list) = &f.args else {
            return Ok(None);
        };
        let literal = |i: usize| match list.args.get(i) {
            Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        let (Some(table), Some(column)) = (literal(0), literal(1)) else {
            return Ok(None);
        };
        let item = resolve_relation_text(catalog, path, &table)?;
        let position = item
            .desc
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| {
                PlanError::UnknownColumn(format!("\"{column}\" of relation \"{}\"", item.name))
            })?;
        Ok(Some(
            catalog
                .sequence_of_column(item.id, position)
                .and_then(|id| catalog.get(id))
                .map(|seq| {
                    format!(
                        "{}.{}",
                        crate::expr::string_format::quote_ident(&seq.schema),
                        crate::expr::string_format::quote_ident(&seq.name)
                    )
                }),
        ))
    }

    /// The OID of the relation `regclass` input `name` names (a number is
    /// an OID already); `None` if there is no such relation. When
    /// describing (no catalog), 0.
    fn relation_oid(&self, name: &str) -> Result<Option<i64>, AdapterError> {
        if let Ok(oid) = name.trim().parse::<i64>() {
            return Ok(Some(oid));
        }
        let Some((catalog, path)) = self.values else {
            return Ok(Some(0));
        };
        let partial = parse_relation_name(name)?;
        Ok(match &partial.schema {
            Some(schema) if system::is_catalog_schema(schema) => {
                system::lookup(schema, &partial.item).map(|r| system::catalog_relation_oid(r.id))
            }
            _ => catalog
                .resolve_partial(path, &partial)?
                .map(|item| system::item_oid(item.id))
                .or_else(|| {
                    partial
                        .schema
                        .is_none()
                        .then(|| system::lookup(system::PG_CATALOG, &partial.item))
                        .flatten()
                        .map(|r| system::catalog_relation_oid(r.id))
                }),
        })
    }
}

/// The first argument of `f`, if it is a plain expression.
fn f_arg(f: &Function) -> Option<&Expr> {
    match &f.args {
        FunctionArguments::List(list) => match list.args.first()? {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        },
        _ => None,
    }
}

/// A relation name as `regclass` input reads it: `name` or
/// `schema.name`, each part folded unless double-quoted.
/// The user relation a `regclass` input names (`'t'`, `'s.t'`,
/// `'"T"'`) through `path`, or PostgreSQL's 42P01.
pub(crate) fn resolve_relation_text<'a>(
    catalog: &'a Catalog,
    path: &SearchPath,
    text: &str,
) -> Result<&'a crate::catalog::CatalogItem, AdapterError> {
    let partial = parse_relation_name(text)?;
    Ok(catalog
        .resolve_partial(path, &partial)?
        .ok_or_else(|| PlanError::UnknownItem {
            kind: "relation",
            name: text.to_string(),
        })?)
}

pub(crate) fn parse_relation_name(text: &str) -> Result<PartialName, AdapterError> {
    let name = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_object_name(false))
        .map_err(|_| PlanError::Syntax(format!("invalid name syntax: \"{text}\"")))?;
    Ok(PartialName::from_object_name(&name)?)
}

/// `pg_size_pretty(bytes)`: PostgreSQL's algorithm (`dbsize.c`): bytes
/// below 10 kB, then kB, MB, GB below 20 of the next unit, else TB, each
/// rounded half away from zero.
fn size_pretty(x: &str) -> String {
    let x = format!("CAST(({x}) AS bigint)");
    let half_rounded = |y: &str| format!("((({y}) + CASE WHEN ({y}) < 0 THEN -1 ELSE 1 END) / 2)");
    let mut sql =
        format!("CASE WHEN {x} IS NULL THEN NULL::text WHEN abs({x}) < 10240 THEN {x} || ' bytes'");
    let mut scaled = format!("({x} / 512)");
    for unit in ["kB", "MB", "GB"] {
        sql.push_str(&format!(
            " WHEN abs({scaled}) < 20479 THEN {} || ' {unit}'",
            half_rounded(&scaled)
        ));
        scaled = format!("({scaled} / 1024)");
    }
    sql.push_str(&format!(" ELSE {} || ' TB' END", half_rounded(&scaled)));
    sql
}

/// `format_type(t, m)`: the name of type OID `t` with type modifier `m`
/// (NULL or -1 for none), `???` for an unknown OID, NULL for a NULL OID.
fn format_type(t: &str, m: &str) -> String {
    let mut sql = format!("CASE ({t})");
    let with_mod = |name: &str, body: String| {
        format!("CASE WHEN ({m}) IS NULL OR ({m}) < 0 THEN '{name}' ELSE {body} END")
    };
    for (oid, name) in system::type_names() {
        let value = match oid {
            1700 => with_mod(
                "numeric",
                format!(
                    "'numeric(' || ((({m}) - 4) / 65536) || ',' || ((({m}) - 4) % 65536) || ')'"
                ),
            ),
            1043 => with_mod(
                "character varying",
                format!("'character varying(' || (({m}) - 4) || ')'"),
            ),
            1042 => with_mod("bpchar", format!("'character(' || (({m}) - 4) || ')'")),
            // A date/time type's modifier is its precision; an interval's
            // also has the (always full) field range in its upper half.
            1083 | 1114 | 1184 => {
                // `time without time zone` → `time(p) without time zone`.
                let (head, tail) = name.split_once(' ').unwrap_or((&name, ""));
                with_mod(&name, format!("'{head}(' || (({m}) % 65536) || ') {tail}'"))
            }
            // An interval's has its fields (PostgreSQL's `INTERVAL_RANGE`,
            // `INTERVAL_FULL_RANGE` for all) in the upper half, its
            // precision (`0xFFFF` for none) in the lower.
            1186 => {
                let mut fields = format!("CASE ({m}) / 65536");
                for f in INTERVAL_FIELDS {
                    fields.push_str(&format!(
                        " WHEN {} THEN ' {}'",
                        system::interval_range(Some(f)),
                        f.name()
                    ));
                }
                fields.push_str(" ELSE '' END");
                with_mod(
                    "interval",
                    format!(
                        "'interval' || {fields} || CASE WHEN ({m}) % 65536 = 65535 THEN '' \
                         ELSE '(' || (({m}) % 65536) || ')' END"
                    ),
                )
            }
            _ => quote(&name),
        };
        sql.push_str(&format!(" WHEN {oid} THEN {value}"));
    }
    sql.push_str(" ELSE '???' END");
    format!("CASE WHEN ({t}) IS NULL THEN NULL::text ELSE {sql} END")
}

/// `e` without the parentheses around it.
fn unnested(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}

/// `e`'s operand, if `e` is a cast to `target` (`regclass`, `oid`, `text`).
fn cast_to<'e>(e: &'e Expr, target: &str) -> Option<&'e Expr> {
    let e = unnested(e);
    match e {
        Expr::Cast {
            expr,
            data_type: DataType::Text,
            ..
        } if target == "text" => Some(expr),
        Expr::Cast { expr, .. } if catalog_cast(e) == Some(target) => Some(expr),
        _ => None,
    }
}

impl Rewrite<'_> {
    /// SQLAlchemy's reflection of identity columns: the OID of the
    /// sequence a column owns, as
    /// `pg_get_serial_sequence(attrelid::regclass::text, attname)::regclass::oid`
    /// (a relation's OID and a column's name that are not literals).
    /// Freshet's `regclass` of a name that is not a literal is not an OID
    /// (see the module's documentation), so the whole expression becomes
    /// a `CASE` over the owned sequences: `CASE WHEN (rel) = t AND (col) =
    /// 'c' THEN seq ... END`.
    fn owned_sequence_oid(&self, e: &Expr) -> Option<String> {
        let call = cast_to(cast_to(e, "oid")?, "regclass")?;
        let Expr::Function(f) = unnested(call) else {
            return None;
        };
        if catalog_function(f).as_deref() != Some("pg_get_serial_sequence") {
            return None;
        }
        let FunctionArguments::List(list) = &f.args else {
            return None;
        };
        let [
            FunctionArg::Unnamed(FunctionArgExpr::Expr(table)),
            FunctionArg::Unnamed(FunctionArgExpr::Expr(column)),
        ] = list.args.as_slice()
        else {
            return None;
        };
        let relation = cast_to(cast_to(table, "text")?, "regclass")?;
        let cases: Vec<String> = self
            .values
            .map(|(catalog, _)| {
                catalog
                    .sequences()
                    .filter_map(|(id, def)| {
                        let (table, position) = def.owned_by?;
                        let name = &catalog.get(table)?.desc.columns.get(position)?.name;
                        Some(format!(
                            "WHEN ({relation}) = {} AND ({column}) = {} THEN CAST({} AS bigint)",
                            system::item_oid(table),
                            quote(name),
                            system::item_oid(id)
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(if cases.is_empty() {
            "NULL::bigint".to_string()
        } else {
            format!("CASE {} ELSE NULL::bigint END", cases.join(" "))
        })
    }
}

/// The operand of `x::regclass` where `x` is not a string literal.
fn regclass_operand(e: &Expr) -> Option<&Expr> {
    match unnested(e) {
        c @ Expr::Cast { expr, .. }
            if catalog_cast(c) == Some("regclass") && !regclass_literal(c) =>
        {
            Some(expr)
        }
        _ => None,
    }
}

/// Whether `e` is `'name'::regclass`, a [`string_literal`] cast.
fn regclass_literal(e: &Expr) -> bool {
    match unnested(e) {
        c @ Expr::Cast { expr, .. } if catalog_cast(c) == Some("regclass") => {
            string_literal(expr).is_some()
        }
        _ => false,
    }
}

/// A string literal, possibly typed `text` (as a bound parameter's value
/// is: `CAST('t' AS text)::regclass` names a relation as well).
fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        Expr::Cast {
            expr,
            data_type: DataType::Text | DataType::Varchar(_),
            ..
        } => string_literal(expr),
        _ => None,
    }
}

impl VisitorMut for Rewrite<'_> {
    type Break = AdapterError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<AdapterError> {
        if let Some(sql) = self.owned_sequence_oid(expr) {
            match parse(&sql) {
                Ok(r) => *expr = Expr::Nested(Box::new(r)),
                Err(e) => return ControlFlow::Break(e),
            }
        }
        // `x::regclass = 'name'::regclass` (and `<>`, `<`, ...): the literal
        // becomes the relation's OID and `x::regclass` would become its name;
        // PostgreSQL compares the OIDs, so the other side is `x` as an OID.
        if let Expr::BinaryOp { left, op, right } = expr
            && matches!(
                op,
                BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
            )
        {
            let as_oid = |x: &Expr| parse(&format!("CAST(({x}) AS bigint)"));
            let result = if let Some(x) = regclass_operand(left)
                && regclass_literal(right)
            {
                as_oid(x).map(|r| **left = Expr::Nested(Box::new(r)))
            } else if let Some(x) = regclass_operand(right)
                && regclass_literal(left)
            {
                as_oid(x).map(|r| **right = Expr::Nested(Box::new(r)))
            } else {
                Ok(())
            };
            if let Err(e) = result {
                return ControlFlow::Break(e);
            }
        }
        ControlFlow::Continue(())
    }

    /// `FROM pg_partition_ancestors(x) [WITH ORDINALITY] [AS a(relid,
    /// depth)]` (psql's `\d` of a partition's triggers): the empty
    /// `unnest`, with PostgreSQL's column name `relid`.
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<AdapterError> {
        let is_ancestors = |name: &ObjectName| {
            super::session_funcs::names_catalog_object(name, "pg_partition_ancestors")
        };
        let (alias, with_ordinality) = match factor {
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                with_ordinality,
                ..
            } if is_ancestors(name) && args.args.len() == 1 => (alias.take(), *with_ordinality),
            TableFactor::Function {
                name,
                args,
                alias,
                with_ordinality,
                ..
            } if is_ancestors(name) && args.len() == 1 => (alias.take(), *with_ordinality),
            _ => return ControlFlow::Continue(()),
        };
        let mut alias = alias.unwrap_or_else(|| TableAlias {
            explicit: true,
            name: Ident::new("pg_partition_ancestors"),
            columns: vec![],
            at: None,
        });
        if alias.columns.is_empty() {
            alias.columns.push(TableAliasColumnDef::from_name("relid"));
        }
        let array = match parse("CAST(ARRAY[] AS bigint[])") {
            Ok(array) => array,
            Err(e) => return ControlFlow::Break(e),
        };
        *factor = TableFactor::UNNEST {
            alias: Some(alias),
            array_exprs: vec![array],
            with_offset: false,
            with_offset_alias: None,
            with_ordinality,
        };
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<AdapterError> {
        let replacement = match expr {
            Expr::Function(f) => match catalog_function(f) {
                Some(name) => self.call(&name, f),
                None => Ok(None),
            },
            Expr::Cast {
                kind: CastKind::DoubleColon | CastKind::Cast,
                ..
            } => match catalog_cast(expr) {
                Some(target) => self.cast(target, expr),
                None => Ok(None),
            },
            _ => Ok(None),
        };
        match replacement {
            Ok(Some(r)) => *expr = Expr::Nested(Box::new(r)),
            Ok(None) => {}
            Err(e) => return ControlFlow::Break(e),
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_pretty_parses() {
        parse(&size_pretty("12345")).expect("parses");
    }

    #[test]
    fn format_type_names_types_with_their_modifiers() {
        let sql = format_type("1043", "14");
        assert!(sql.contains("'character varying('"), "{sql}");
        parse(&sql).expect("parses");
    }
}
