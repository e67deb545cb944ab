//! PostgreSQL's system catalog (`pg_catalog`) and the SQL standard's
//! `information_schema`, as relations computed from Freshet's catalog.
//!
//! `psql`'s `\d` commands, drivers (JDBC's `DatabaseMetaData`, SQLAlchemy's
//! inspector) and BI tools learn what a database holds by querying these
//! relations, so Freshet answers them with PostgreSQL's names, columns and
//! conventions: `pg_class`, `pg_namespace`, `pg_attribute`, `pg_type`,
//! `pg_index`, `pg_database`, `pg_proc`, `pg_language`, the `pg_tables`/`pg_views`/`pg_matviews`/
//! `pg_indexes` views, `information_schema`'s views (in
//! [`information_schema`]), `pg_tablespace` (PostgreSQL's two), and the relations
//! `psql` reads that describe features Freshet does not have
//! (policies, publications, inheritance, enums, role
//! memberships, extensions, event triggers, foreign data, large objects),
//! which are empty; and Materialize's `mz_catalog` (in [`mz_catalog`]).
//!
//! The rows are computed when a one-shot query reads them, from the catalog
//! and the session's search path at that moment (the coordinator replaces
//! each read by [`rows`]), so they are always current. A maintained view
//! could not follow catalog changes, so materialized views, indexes and
//! `SUBSCRIBE` refuse them (`coord::materializable`).
//!
//! Conventions:
//! * OIDs are `bigint` (PostgreSQL's `oid` is an unsigned 4-byte integer;
//!   Freshet has no such type). A user item's OID is 16384 plus its id, as
//!   PostgreSQL's user OIDs start at 16384; a type's OID is PostgreSQL's.
//! * `name` and `"char"` columns are `text`; `int2vector` columns are the
//!   space-separated text PostgreSQL prints for them.
//! * Every object is owned by the role `freshet` (OID 10): Freshet has no
//!   roles yet.
//! * Sources (and their subsources) are relations of kind `r`, as
//!   Materialize's `pg_class` shows them.

use crate::expr::string_format::quote_ident;
use crate::expr::{GlobalId, ScalarExpr};
use crate::repr::types::IntervalFields;
use crate::repr::{ColumnDesc, Datum, RelationDesc, Row, ScalarType};

use super::{Catalog, CatalogItem, CommentClass, ItemKind, SYSTEM_SCHEMA, SearchPath};

mod information_schema;
mod mz_catalog;

pub use mz_catalog::{NoFacts, ObjectFacts, REPLICA_NAME, SinkFacts, SourceFacts, object_type};

use information_schema::{
    info_check_constraints, info_columns, info_constraint_column_usage,
    info_constraint_table_usage, info_key_column_usage, info_referential_constraints,
    info_schemata, info_sequences, info_table_constraints, info_tables, info_views,
};

/// The schema of PostgreSQL's system catalog.
pub const PG_CATALOG: &str = "pg_catalog";
/// The SQL standard's schema of catalog views.
pub const INFORMATION_SCHEMA: &str = "information_schema";
/// Materialize's system catalog (`mz_catalog`).
pub const MZ_CATALOG: &str = "mz_catalog";
/// The cluster every dataflow runs on (Freshet has one).
pub const CLUSTER_NAME: &str = "default";
/// The role that owns everything.
pub const OWNER_NAME: &str = "freshet";
/// Its OID (PostgreSQL's bootstrap superuser's).
pub const OWNER_OID: i64 = 10;
/// The OID of `pg_catalog`.
const PG_CATALOG_OID: i64 = 11;
/// The OID of `information_schema` (as in a PostgreSQL 15 cluster).
const INFORMATION_SCHEMA_OID: i64 = 13_000;
/// The OID of Freshet's system schema.
const SYSTEM_SCHEMA_OID: i64 = 14_000;
/// The OID of `mz_catalog`.
const MZ_CATALOG_OID: i64 = 14_002;
/// The OID of the current database.
const DATABASE_OID: i64 = 16_383;
/// OIDs of the catalog relations themselves: this plus their position in
/// [`RELATIONS`].
const RELATION_OID_BASE: i64 = 12_000;
/// The OID of the access method of Freshet's indexes (`pg_am`).
const ARRANGEMENT_AM_OID: i64 = 14_001;
/// PostgreSQL's "default" collation, which text columns have.
const DEFAULT_COLLATION_OID: i64 = 100;
/// The first id of the catalog relations: inside the system range of
/// [`GlobalId::is_system`], above the introspection relations.
const FIRST_ID: u64 = (1 << 61) + (1 << 20);

/// Whether `id` names a catalog relation (see [`rows`]).
pub fn is_catalog_relation(id: GlobalId) -> bool {
    (FIRST_ID..FIRST_ID + RELATIONS.len() as u64).contains(&id.0)
}

/// Column types of the catalog relations.
#[derive(Clone, Copy)]
enum T {
    Oid,
    Text,
    Bool,
    I16,
    I32,
    I64,
    F32,
    TextArray,
    OidArray,
    I16Array,
    TimestampTz,
    Bytea,
}

impl T {
    fn scalar(self) -> ScalarType {
        match self {
            T::Oid => ScalarType::Int64,
            T::Text => ScalarType::Text,
            T::Bool => ScalarType::Bool,
            T::I16 => ScalarType::Int16,
            T::I32 => ScalarType::Int32,
            T::I64 => ScalarType::Int64,
            T::F32 => ScalarType::Float32,
            T::TextArray => ScalarType::Array(Box::new(ScalarType::Text)),
            T::OidArray => ScalarType::Array(Box::new(ScalarType::Int64)),
            T::I16Array => ScalarType::Array(Box::new(ScalarType::Int16)),
            T::TimestampTz => ScalarType::TimestampTz(None),
            T::Bytea => ScalarType::Bytea,
        }
    }
}

/// What the rows of a relation are computed from.
struct Context<'a> {
    catalog: &'a Catalog,
    path: &'a SearchPath,
    /// What the coordinator knows of sources, sinks and connections
    /// beyond their catalog records.
    facts: &'a dyn ObjectFacts,
}

/// A catalog relation.
struct Relation {
    schema: &'static str,
    name: &'static str,
    columns: &'static [(&'static str, T)],
    rows: fn(&Context) -> Vec<Vec<Datum>>,
}

fn none(_: &Context) -> Vec<Vec<Datum>> {
    Vec::new()
}

/// The catalog relations. A relation's id (and OID) follows from its
/// position, so new ones go at the end.
static RELATIONS: &[Relation] = &[
    Relation {
        schema: PG_CATALOG,
        name: "pg_namespace",
        columns: &[
            ("oid", T::Oid),
            ("nspname", T::Text),
            ("nspowner", T::Oid),
            ("nspacl", T::TextArray),
        ],
        rows: pg_namespace,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_class",
        columns: &[
            ("oid", T::Oid),
            ("relname", T::Text),
            ("relnamespace", T::Oid),
            ("reltype", T::Oid),
            ("reloftype", T::Oid),
            ("relowner", T::Oid),
            ("relam", T::Oid),
            ("relfilenode", T::Oid),
            ("reltablespace", T::Oid),
            ("relpages", T::I32),
            ("reltuples", T::F32),
            ("relallvisible", T::I32),
            ("reltoastrelid", T::Oid),
            ("relhasindex", T::Bool),
            ("relisshared", T::Bool),
            ("relpersistence", T::Text),
            ("relkind", T::Text),
            ("relnatts", T::I16),
            ("relchecks", T::I16),
            ("relhasrules", T::Bool),
            ("relhastriggers", T::Bool),
            ("relhassubclass", T::Bool),
            ("relrowsecurity", T::Bool),
            ("relforcerowsecurity", T::Bool),
            ("relispopulated", T::Bool),
            ("relreplident", T::Text),
            ("relispartition", T::Bool),
            ("relrewrite", T::Oid),
            ("relacl", T::TextArray),
            ("reloptions", T::TextArray),
            ("relpartbound", T::Text),
        ],
        rows: pg_class,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_attribute",
        columns: &[
            ("attrelid", T::Oid),
            ("attname", T::Text),
            ("atttypid", T::Oid),
            ("attstattarget", T::I32),
            ("attlen", T::I16),
            ("attnum", T::I16),
            ("attndims", T::I32),
            ("attcacheoff", T::I32),
            ("atttypmod", T::I32),
            ("attbyval", T::Bool),
            ("attalign", T::Text),
            ("attstorage", T::Text),
            ("attcompression", T::Text),
            ("attnotnull", T::Bool),
            ("atthasdef", T::Bool),
            ("atthasmissing", T::Bool),
            ("attidentity", T::Text),
            ("attgenerated", T::Text),
            ("attisdropped", T::Bool),
            ("attislocal", T::Bool),
            ("attinhcount", T::I32),
            ("attcollation", T::Oid),
            ("attacl", T::TextArray),
            ("attoptions", T::TextArray),
            ("attfdwoptions", T::TextArray),
        ],
        rows: pg_attribute,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_type",
        columns: &[
            ("oid", T::Oid),
            ("typname", T::Text),
            ("typnamespace", T::Oid),
            ("typowner", T::Oid),
            ("typlen", T::I16),
            ("typbyval", T::Bool),
            ("typtype", T::Text),
            ("typcategory", T::Text),
            ("typispreferred", T::Bool),
            ("typisdefined", T::Bool),
            ("typdelim", T::Text),
            ("typrelid", T::Oid),
            ("typsubscript", T::Text),
            ("typelem", T::Oid),
            ("typarray", T::Oid),
            ("typinput", T::Text),
            ("typoutput", T::Text),
            ("typreceive", T::Text),
            ("typsend", T::Text),
            ("typalign", T::Text),
            ("typstorage", T::Text),
            ("typnotnull", T::Bool),
            ("typbasetype", T::Oid),
            ("typtypmod", T::I32),
            ("typndims", T::I32),
            ("typcollation", T::Oid),
            ("typdefault", T::Text),
            ("typacl", T::TextArray),
        ],
        rows: pg_type,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_database",
        columns: &[
            ("oid", T::Oid),
            ("datname", T::Text),
            ("datdba", T::Oid),
            ("encoding", T::I32),
            ("datlocprovider", T::Text),
            ("datistemplate", T::Bool),
            ("datallowconn", T::Bool),
            ("datconnlimit", T::I32),
            ("datcollate", T::Text),
            ("datctype", T::Text),
            ("daticulocale", T::Text),
            ("datcollversion", T::Text),
            ("datacl", T::TextArray),
        ],
        rows: pg_database,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_index",
        columns: &[
            ("indexrelid", T::Oid),
            ("indrelid", T::Oid),
            ("indnatts", T::I16),
            ("indnkeyatts", T::I16),
            ("indisunique", T::Bool),
            ("indnullsnotdistinct", T::Bool),
            ("indisprimary", T::Bool),
            ("indisexclusion", T::Bool),
            ("indimmediate", T::Bool),
            ("indisclustered", T::Bool),
            ("indisvalid", T::Bool),
            ("indcheckxmin", T::Bool),
            ("indisready", T::Bool),
            ("indislive", T::Bool),
            ("indisreplident", T::Bool),
            ("indkey", T::Text),
            ("indcollation", T::Text),
            ("indclass", T::Text),
            ("indoption", T::Text),
            ("indexprs", T::Text),
            ("indpred", T::Text),
        ],
        rows: pg_index,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_am",
        columns: &[
            ("oid", T::Oid),
            ("amname", T::Text),
            ("amhandler", T::Text),
            ("amtype", T::Text),
        ],
        rows: pg_am,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_attrdef",
        columns: &[
            ("oid", T::Oid),
            ("adrelid", T::Oid),
            ("adnum", T::I16),
            ("adbin", T::Text),
        ],
        rows: pg_attrdef,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_collation",
        columns: &[
            ("oid", T::Oid),
            ("collname", T::Text),
            ("collnamespace", T::Oid),
            ("collowner", T::Oid),
            ("collprovider", T::Text),
            ("collisdeterministic", T::Bool),
            ("collencoding", T::I32),
            ("collcollate", T::Text),
            ("collctype", T::Text),
        ],
        rows: pg_collation,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_constraint",
        columns: &[
            ("oid", T::Oid),
            ("conname", T::Text),
            ("connamespace", T::Oid),
            ("contype", T::Text),
            ("condeferrable", T::Bool),
            ("condeferred", T::Bool),
            ("convalidated", T::Bool),
            ("conrelid", T::Oid),
            ("contypid", T::Oid),
            ("conindid", T::Oid),
            ("conparentid", T::Oid),
            ("confrelid", T::Oid),
            ("confupdtype", T::Text),
            ("confdeltype", T::Text),
            ("confmatchtype", T::Text),
            ("conislocal", T::Bool),
            ("coninhcount", T::I32),
            ("connoinherit", T::Bool),
            ("conkey", T::I16Array),
            ("confkey", T::I16Array),
            ("conbin", T::Text),
        ],
        rows: pg_constraint,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_policy",
        columns: &[
            ("oid", T::Oid),
            ("polname", T::Text),
            ("polrelid", T::Oid),
            ("polcmd", T::Text),
            ("polpermissive", T::Bool),
            ("polroles", T::OidArray),
            ("polqual", T::Text),
            ("polwithcheck", T::Text),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_statistic_ext",
        columns: &[
            ("oid", T::Oid),
            ("stxrelid", T::Oid),
            ("stxname", T::Text),
            ("stxnamespace", T::Oid),
            ("stxowner", T::Oid),
            ("stxstattarget", T::I32),
            ("stxkeys", T::Text),
            ("stxkind", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_publication",
        columns: &[
            ("oid", T::Oid),
            ("pubname", T::Text),
            ("pubowner", T::Oid),
            ("puballtables", T::Bool),
            ("pubinsert", T::Bool),
            ("pubupdate", T::Bool),
            ("pubdelete", T::Bool),
            ("pubtruncate", T::Bool),
            ("pubviaroot", T::Bool),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_publication_namespace",
        columns: &[("oid", T::Oid), ("pnpubid", T::Oid), ("pnnspid", T::Oid)],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_publication_rel",
        columns: &[
            ("oid", T::Oid),
            ("prpubid", T::Oid),
            ("prrelid", T::Oid),
            ("prqual", T::Text),
            ("prattrs", T::I16Array),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_inherits",
        columns: &[
            ("inhrelid", T::Oid),
            ("inhparent", T::Oid),
            ("inhseqno", T::I32),
            ("inhdetachpending", T::Bool),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_description",
        columns: &[
            ("objoid", T::Oid),
            ("classoid", T::Oid),
            ("objsubid", T::I32),
            ("description", T::Text),
        ],
        rows: pg_description,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_roles",
        columns: &[
            ("rolname", T::Text),
            ("rolsuper", T::Bool),
            ("rolinherit", T::Bool),
            ("rolcreaterole", T::Bool),
            ("rolcreatedb", T::Bool),
            ("rolcanlogin", T::Bool),
            ("rolreplication", T::Bool),
            ("rolconnlimit", T::I32),
            ("rolpassword", T::Text),
            ("rolvaliduntil", T::TimestampTz),
            ("rolbypassrls", T::Bool),
            ("rolconfig", T::TextArray),
            ("oid", T::Oid),
        ],
        rows: pg_roles,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_tables",
        columns: &[
            ("schemaname", T::Text),
            ("tablename", T::Text),
            ("tableowner", T::Text),
            ("tablespace", T::Text),
            ("hasindexes", T::Bool),
            ("hasrules", T::Bool),
            ("hastriggers", T::Bool),
            ("rowsecurity", T::Bool),
        ],
        rows: pg_tables,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_views",
        columns: &[
            ("schemaname", T::Text),
            ("viewname", T::Text),
            ("viewowner", T::Text),
            ("definition", T::Text),
        ],
        rows: pg_views,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_matviews",
        columns: &[
            ("schemaname", T::Text),
            ("matviewname", T::Text),
            ("matviewowner", T::Text),
            ("tablespace", T::Text),
            ("hasindexes", T::Bool),
            ("ispopulated", T::Bool),
            ("definition", T::Text),
        ],
        rows: pg_matviews,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_indexes",
        columns: &[
            ("schemaname", T::Text),
            ("tablename", T::Text),
            ("indexname", T::Text),
            ("tablespace", T::Text),
            ("indexdef", T::Text),
        ],
        rows: pg_indexes,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "schemata",
        columns: &[
            ("catalog_name", T::Text),
            ("schema_name", T::Text),
            ("schema_owner", T::Text),
            ("default_character_set_catalog", T::Text),
            ("default_character_set_schema", T::Text),
            ("default_character_set_name", T::Text),
            ("sql_path", T::Text),
        ],
        rows: info_schemata,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "tables",
        columns: &[
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("table_type", T::Text),
            ("self_referencing_column_name", T::Text),
            ("reference_generation", T::Text),
            ("user_defined_type_catalog", T::Text),
            ("user_defined_type_schema", T::Text),
            ("user_defined_type_name", T::Text),
            ("is_insertable_into", T::Text),
            ("is_typed", T::Text),
            ("commit_action", T::Text),
        ],
        rows: info_tables,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "columns",
        columns: &[
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("column_name", T::Text),
            ("ordinal_position", T::I32),
            ("column_default", T::Text),
            ("is_nullable", T::Text),
            ("data_type", T::Text),
            ("character_maximum_length", T::I32),
            ("character_octet_length", T::I32),
            ("numeric_precision", T::I32),
            ("numeric_precision_radix", T::I32),
            ("numeric_scale", T::I32),
            ("datetime_precision", T::I32),
            ("interval_type", T::Text),
            ("interval_precision", T::I32),
            ("character_set_catalog", T::Text),
            ("character_set_schema", T::Text),
            ("character_set_name", T::Text),
            ("collation_catalog", T::Text),
            ("collation_schema", T::Text),
            ("collation_name", T::Text),
            ("domain_catalog", T::Text),
            ("domain_schema", T::Text),
            ("domain_name", T::Text),
            ("udt_catalog", T::Text),
            ("udt_schema", T::Text),
            ("udt_name", T::Text),
            ("scope_catalog", T::Text),
            ("scope_schema", T::Text),
            ("scope_name", T::Text),
            ("maximum_cardinality", T::I32),
            ("dtd_identifier", T::Text),
            ("is_self_referencing", T::Text),
            ("is_identity", T::Text),
            ("identity_generation", T::Text),
            ("identity_start", T::Text),
            ("identity_increment", T::Text),
            ("identity_maximum", T::Text),
            ("identity_minimum", T::Text),
            ("identity_cycle", T::Text),
            ("is_generated", T::Text),
            ("generation_expression", T::Text),
            ("is_updatable", T::Text),
        ],
        rows: info_columns,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "views",
        columns: &[
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("view_definition", T::Text),
            ("check_option", T::Text),
            ("is_updatable", T::Text),
            ("is_insertable_into", T::Text),
            ("is_trigger_updatable", T::Text),
            ("is_trigger_deletable", T::Text),
            ("is_trigger_insertable_into", T::Text),
        ],
        rows: info_views,
    },
    // Sequences' definitions; Freshet has no range types or operator
    // classes, but clients (SQLAlchemy's reflection, asyncpg's type
    // introspection) read these and expect the relations to exist.
    Relation {
        schema: PG_CATALOG,
        name: "pg_sequence",
        columns: &[
            ("seqrelid", T::Oid),
            ("seqtypid", T::Oid),
            ("seqstart", T::I64),
            ("seqincrement", T::I64),
            ("seqmax", T::I64),
            ("seqmin", T::I64),
            ("seqcache", T::I64),
            ("seqcycle", T::Bool),
        ],
        rows: pg_sequence,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_range",
        columns: &[
            ("rngtypid", T::Oid),
            ("rngsubtype", T::Oid),
            ("rngmultitypid", T::Oid),
            ("rngcollation", T::Oid),
            ("rngsubopc", T::Oid),
            ("rngcanonical", T::Text),
            ("rngsubdiff", T::Text),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_opclass",
        columns: &[
            ("oid", T::Oid),
            ("opcmethod", T::Oid),
            ("opcname", T::Text),
            ("opcnamespace", T::Oid),
            ("opcowner", T::Oid),
            ("opcfamily", T::Oid),
            ("opcintype", T::Oid),
            ("opcdefault", T::Bool),
            ("opckeytype", T::Oid),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_proc",
        columns: &[
            ("oid", T::Oid),
            ("proname", T::Text),
            ("pronamespace", T::Oid),
            ("proowner", T::Oid),
            ("prolang", T::Oid),
            ("procost", T::F32),
            ("prorows", T::F32),
            ("provariadic", T::Oid),
            ("prosupport", T::Text),
            ("prokind", T::Text),
            ("prosecdef", T::Bool),
            ("proleakproof", T::Bool),
            ("proisstrict", T::Bool),
            ("proretset", T::Bool),
            ("provolatile", T::Text),
            ("proparallel", T::Text),
            ("pronargs", T::I16),
            ("pronargdefaults", T::I16),
            ("prorettype", T::Oid),
            ("proargtypes", T::Text),
            ("proallargtypes", T::OidArray),
            ("proargmodes", T::TextArray),
            ("proargnames", T::TextArray),
            ("proargdefaults", T::Text),
            ("protrftypes", T::OidArray),
            ("prosrc", T::Text),
            ("probin", T::Text),
            ("prosqlbody", T::Text),
            ("proconfig", T::TextArray),
            ("proacl", T::TextArray),
        ],
        rows: pg_proc,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_language",
        columns: &[
            ("oid", T::Oid),
            ("lanname", T::Text),
            ("lanowner", T::Oid),
            ("lanispl", T::Bool),
            ("lanpltrusted", T::Bool),
            ("lanplcallfoid", T::Oid),
            ("laninline", T::Oid),
            ("lanvalidator", T::Oid),
            ("lanacl", T::TextArray),
        ],
        rows: pg_language,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_enum",
        columns: &[
            ("oid", T::Oid),
            ("enumtypid", T::Oid),
            ("enumsortorder", T::F32),
            ("enumlabel", T::Text),
        ],
        rows: none,
    },
    // Roles, tablespaces, extensions, event triggers, foreign data and
    // large objects: psql's `\du`, `\db`, `\dx`, `\dy`, `\des`, `\dew`,
    // `\deu`, `\det` and `\dl` read them. Freshet has one role, no
    // extensions and none of the rest; its data lives in no tablespace,
    // but PostgreSQL's two always exist.
    Relation {
        schema: PG_CATALOG,
        name: "pg_auth_members",
        columns: &[
            ("roleid", T::Oid),
            ("member", T::Oid),
            ("grantor", T::Oid),
            ("admin_option", T::Bool),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_tablespace",
        columns: &[
            ("oid", T::Oid),
            ("spcname", T::Text),
            ("spcowner", T::Oid),
            ("spcacl", T::TextArray),
            ("spcoptions", T::TextArray),
        ],
        rows: pg_tablespace,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_extension",
        columns: &[
            ("oid", T::Oid),
            ("extname", T::Text),
            ("extowner", T::Oid),
            ("extnamespace", T::Oid),
            ("extrelocatable", T::Bool),
            ("extversion", T::Text),
            ("extconfig", T::OidArray),
            ("extcondition", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_event_trigger",
        columns: &[
            ("oid", T::Oid),
            ("evtname", T::Text),
            ("evtevent", T::Text),
            ("evtowner", T::Oid),
            ("evtfoid", T::Oid),
            ("evtenabled", T::Text),
            ("evttags", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_foreign_data_wrapper",
        columns: &[
            ("oid", T::Oid),
            ("fdwname", T::Text),
            ("fdwowner", T::Oid),
            ("fdwhandler", T::Oid),
            ("fdwvalidator", T::Oid),
            ("fdwacl", T::TextArray),
            ("fdwoptions", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_foreign_server",
        columns: &[
            ("oid", T::Oid),
            ("srvname", T::Text),
            ("srvowner", T::Oid),
            ("srvfdw", T::Oid),
            ("srvtype", T::Text),
            ("srvversion", T::Text),
            ("srvacl", T::TextArray),
            ("srvoptions", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_user_mapping",
        columns: &[
            ("oid", T::Oid),
            ("umuser", T::Oid),
            ("umserver", T::Oid),
            ("umoptions", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_user_mappings",
        columns: &[
            ("umid", T::Oid),
            ("srvid", T::Oid),
            ("srvname", T::Text),
            ("umuser", T::Oid),
            ("usename", T::Text),
            ("umoptions", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_foreign_table",
        columns: &[
            ("ftrelid", T::Oid),
            ("ftserver", T::Oid),
            ("ftoptions", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: PG_CATALOG,
        name: "pg_largeobject_metadata",
        columns: &[
            ("oid", T::Oid),
            ("lomowner", T::Oid),
            ("lomacl", T::TextArray),
        ],
        rows: none,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "sequences",
        columns: &[
            ("sequence_catalog", T::Text),
            ("sequence_schema", T::Text),
            ("sequence_name", T::Text),
            ("data_type", T::Text),
            ("numeric_precision", T::I32),
            ("numeric_precision_radix", T::I32),
            ("numeric_scale", T::I32),
            ("start_value", T::Text),
            ("minimum_value", T::Text),
            ("maximum_value", T::Text),
            ("increment", T::Text),
            ("cycle_option", T::Text),
        ],
        rows: info_sequences,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "table_constraints",
        columns: &[
            ("constraint_catalog", T::Text),
            ("constraint_schema", T::Text),
            ("constraint_name", T::Text),
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("constraint_type", T::Text),
            ("is_deferrable", T::Text),
            ("initially_deferred", T::Text),
            ("enforced", T::Text),
            ("nulls_distinct", T::Text),
        ],
        rows: info_table_constraints,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "key_column_usage",
        columns: &[
            ("constraint_catalog", T::Text),
            ("constraint_schema", T::Text),
            ("constraint_name", T::Text),
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("column_name", T::Text),
            ("ordinal_position", T::I32),
            ("position_in_unique_constraint", T::I32),
        ],
        rows: info_key_column_usage,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "referential_constraints",
        columns: &[
            ("constraint_catalog", T::Text),
            ("constraint_schema", T::Text),
            ("constraint_name", T::Text),
            ("unique_constraint_catalog", T::Text),
            ("unique_constraint_schema", T::Text),
            ("unique_constraint_name", T::Text),
            ("match_option", T::Text),
            ("update_rule", T::Text),
            ("delete_rule", T::Text),
        ],
        rows: info_referential_constraints,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "constraint_column_usage",
        columns: &[
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("column_name", T::Text),
            ("constraint_catalog", T::Text),
            ("constraint_schema", T::Text),
            ("constraint_name", T::Text),
        ],
        rows: info_constraint_column_usage,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "constraint_table_usage",
        columns: &[
            ("table_catalog", T::Text),
            ("table_schema", T::Text),
            ("table_name", T::Text),
            ("constraint_catalog", T::Text),
            ("constraint_schema", T::Text),
            ("constraint_name", T::Text),
        ],
        rows: info_constraint_table_usage,
    },
    Relation {
        schema: INFORMATION_SCHEMA,
        name: "check_constraints",
        columns: &[
            ("constraint_catalog", T::Text),
            ("constraint_schema", T::Text),
            ("constraint_name", T::Text),
            ("check_clause", T::Text),
        ],
        rows: info_check_constraints,
    },
    // No rows: Freshet has no `CREATE TRIGGER`, and it enforces foreign
    // keys in the coordinator (`coord::foreign_keys`), not by the internal
    // `RI_ConstraintTrigger_*` rows PostgreSQL keeps for them. Listing
    // such rows would name trigger functions (`RI_FKey_check_ins`, ...)
    // that Freshet does not have; clients that show triggers (psql's `\d`,
    // pg_dump) leave internal ones out anyway.
    Relation {
        schema: PG_CATALOG,
        name: "pg_trigger",
        columns: &[
            ("oid", T::Oid),
            ("tgrelid", T::Oid),
            ("tgparentid", T::Oid),
            ("tgname", T::Text),
            ("tgfoid", T::Oid),
            ("tgtype", T::I16),
            ("tgenabled", T::Text),
            ("tgisinternal", T::Bool),
            ("tgconstrrelid", T::Oid),
            ("tgconstrindid", T::Oid),
            ("tgconstraint", T::Oid),
            ("tgdeferrable", T::Bool),
            ("tginitdeferred", T::Bool),
            ("tgnargs", T::I16),
            ("tgattr", T::Text),
            ("tgargs", T::Bytea),
            ("tgqual", T::Text),
            ("tgoldtable", T::Text),
            ("tgnewtable", T::Text),
        ],
        rows: none,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_databases",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("name", T::Text),
            ("owner_id", T::Text),
        ],
        rows: mz_catalog::mz_databases,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_schemas",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("database_id", T::Text),
            ("name", T::Text),
            ("owner_id", T::Text),
        ],
        rows: mz_catalog::mz_schemas,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_tables",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_tables,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_views",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("definition", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_views,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_materialized_views",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("cluster_id", T::Text),
            ("definition", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_materialized_views,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_indexes",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("name", T::Text),
            ("on_id", T::Text),
            ("cluster_id", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_indexes,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_index_columns",
        columns: &[
            ("index_id", T::Text),
            ("index_position", T::I64),
            ("on_position", T::I64),
            ("on_expression", T::Text),
            ("nullable", T::Bool),
        ],
        rows: mz_catalog::mz_index_columns,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_sources",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("type", T::Text),
            ("connection_id", T::Text),
            ("size", T::Text),
            ("envelope_type", T::Text),
            ("key_format", T::Text),
            ("value_format", T::Text),
            ("cluster_id", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_sources,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_sinks",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("type", T::Text),
            ("connection_id", T::Text),
            ("size", T::Text),
            ("envelope_type", T::Text),
            ("format", T::Text),
            ("key_format", T::Text),
            ("value_format", T::Text),
            ("cluster_id", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_sinks,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_connections",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("type", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_connections,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_secrets",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("owner_id", T::Text),
        ],
        rows: mz_catalog::mz_secrets,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_columns",
        columns: &[
            ("id", T::Text),
            ("name", T::Text),
            ("position", T::I64),
            ("nullable", T::Bool),
            ("type", T::Text),
            ("default", T::Text),
            ("type_oid", T::Oid),
            ("type_mod", T::I32),
        ],
        rows: mz_catalog::mz_columns,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_relations",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("type", T::Text),
            ("owner_id", T::Text),
            ("cluster_id", T::Text),
        ],
        rows: mz_catalog::mz_relations,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_objects",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("type", T::Text),
            ("owner_id", T::Text),
            ("cluster_id", T::Text),
        ],
        rows: mz_catalog::mz_objects,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_clusters",
        columns: &[
            ("id", T::Text),
            ("name", T::Text),
            ("owner_id", T::Text),
            ("managed", T::Bool),
        ],
        rows: mz_catalog::mz_clusters,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_roles",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("name", T::Text),
            ("inherit", T::Bool),
        ],
        rows: mz_catalog::mz_roles,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_cluster_replicas",
        columns: &[
            ("id", T::Text),
            ("name", T::Text),
            ("cluster_id", T::Text),
            ("size", T::Text),
            ("availability_zone", T::Text),
            ("owner_id", T::Text),
            ("disk", T::Bool),
        ],
        rows: mz_catalog::mz_cluster_replicas,
    },
    Relation {
        schema: MZ_CATALOG,
        name: "mz_types",
        columns: &[
            ("id", T::Text),
            ("oid", T::Oid),
            ("schema_id", T::Text),
            ("name", T::Text),
            ("category", T::Text),
            ("owner_id", T::Text),
            ("create_sql", T::Text),
        ],
        rows: mz_catalog::mz_types,
    },
];

/// `pg_tablespace`: PostgreSQL's two built-in tablespaces, with their
/// OIDs.
fn pg_tablespace(_: &Context) -> Vec<Vec<Datum>> {
    [(1663, "pg_default"), (1664, "pg_global")]
        .into_iter()
        .map(|(o, name)| vec![oid(o), text(name), oid(OWNER_OID), Datum::Null, Datum::Null])
        .collect()
}

/// `pg_language`: PostgreSQL's built-in languages, with their OIDs
/// (Freshet's functions are all `internal`).
fn pg_language(_: &Context) -> Vec<Vec<Datum>> {
    [(INTERNAL_LANGUAGE_OID, "internal"), (13, "c"), (14, "sql")]
        .into_iter()
        .map(|(o, name)| {
            vec![
                oid(o),
                text(name),
                oid(OWNER_OID),
                Datum::Bool(false),
                Datum::Bool(name == "sql"),
                oid(0),
                oid(0),
                oid(0),
                Datum::Null,
            ]
        })
        .collect()
}

/// PostgreSQL's comments on the base types Freshet has (its
/// `pg_description` rows for them), which `obj_description(oid, 'pg_type')`
/// and so psql's `\dT` show.
pub const TYPE_DESCRIPTIONS: &[(i64, &str)] = &[
    (16, "boolean, 'true'/'false'"),
    (17, "variable-length string, binary values escaped"),
    (20, "~18 digit integer, 8-byte storage"),
    (21, "-32 thousand to 32 thousand, 2-byte storage"),
    (23, "-2 billion to 2 billion integer, 4-byte storage"),
    (25, "variable-length string, no limit specified"),
    (
        700,
        "single-precision floating point number, 4-byte storage",
    ),
    (
        701,
        "double-precision floating point number, 8-byte storage",
    ),
    (
        1042,
        "char(length), blank-padded string, fixed storage length",
    ),
    (
        1043,
        "varchar(length), non-blank-padded string, variable storage length",
    ),
    (1082, "date"),
    (1083, "time of day"),
    (1114, "date and time"),
    (1184, "date and time with time zone"),
    (1186, "@ <number> <units>, time interval"),
    (
        1700,
        "numeric(precision, decimal), arbitrary precision number",
    ),
    (2950, "UUID datatype"),
    (3802, "Binary JSON"),
];

/// The language of built-in functions (`pg_language`'s `internal`).
const INTERNAL_LANGUAGE_OID: i64 = 12;

/// `pg_proc`: the functions, aggregates and window functions Freshet
/// supports, with PostgreSQL's rows for them ([`super::pg_proc`]). The
/// `oidvector` `proargtypes` is the space-separated text PostgreSQL prints.
fn pg_proc(_: &Context) -> Vec<Vec<Datum>> {
    super::pg_proc::PROCS
        .iter()
        .map(|p| {
            vec![
                oid(p.oid),
                text(p.name),
                oid(PG_CATALOG_OID),
                oid(OWNER_OID),
                oid(INTERNAL_LANGUAGE_OID),
                Datum::Float32(crate::repr::OrdF32(1.0)),
                Datum::Float32(crate::repr::OrdF32(if p.retset { 1000.0 } else { 0.0 })),
                oid(p.variadic),
                text("-"),
                text(p.kind),
                Datum::Bool(false),
                Datum::Bool(false),
                Datum::Bool(p.strict),
                Datum::Bool(p.retset),
                text(p.volatile),
                text(p.parallel),
                Datum::Int16(p.arg_types.len() as i16),
                Datum::Int16(0),
                oid(p.result_type),
                text(
                    p.arg_types
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                text(p.src),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
            ]
        })
        .collect()
}

/// A catalog relation, as name resolution sees it.
#[derive(Debug, Clone)]
pub struct SystemRelation {
    /// Its id.
    pub id: GlobalId,
    /// Its schema.
    pub schema: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its columns.
    pub desc: RelationDesc,
}

fn describe(index: usize) -> SystemRelation {
    let r = &RELATIONS[index];
    SystemRelation {
        id: GlobalId(FIRST_ID + index as u64),
        schema: r.schema,
        name: r.name,
        desc: RelationDesc {
            columns: r
                .columns
                .iter()
                .map(|(name, typ)| ColumnDesc {
                    name: name.to_string(),
                    typ: typ.scalar(),
                    nullable: true,
                })
                .collect(),
        },
    }
}

/// Whether `schema` is one of the catalog relations' schemas.
pub fn is_catalog_schema(schema: &str) -> bool {
    schema == PG_CATALOG || schema == INFORMATION_SCHEMA || schema == MZ_CATALOG
}

/// The catalog relation `name` of `schema`, if there is one.
pub fn lookup(schema: &str, name: &str) -> Option<SystemRelation> {
    RELATIONS
        .iter()
        .position(|r| r.schema == schema && r.name == name)
        .map(describe)
}

/// The catalog relation a name refers to, if it refers to one:
/// `pg_catalog.x`, `information_schema.x` and `mz_catalog.x`, and a bare
/// `x` of `pg_catalog` or `mz_catalog` (searched before the path, as in
/// PostgreSQL and Materialize).
pub fn resolve(name: &super::names::PartialName) -> Option<SystemRelation> {
    match &name.schema {
        Some(schema) => lookup(schema, &name.item),
        None => lookup(PG_CATALOG, &name.item).or_else(|| lookup(MZ_CATALOG, &name.item)),
    }
}

/// The rows of catalog relation `id` for a session with search path
/// `path`, and their arity; `None` if `id` is not a catalog relation.
/// `facts` tells what sources, sinks and connections are (`mz_sources`).
pub fn rows(
    id: GlobalId,
    catalog: &Catalog,
    path: &SearchPath,
    facts: &dyn ObjectFacts,
) -> Option<(Vec<Row>, usize)> {
    if !is_catalog_relation(id) {
        return None;
    }
    let relation = &RELATIONS[(id.0 - FIRST_ID) as usize];
    let context = Context {
        catalog,
        path,
        facts,
    };
    let rows = (relation.rows)(&context)
        .iter()
        .map(|datums| {
            debug_assert_eq!(datums.len(), relation.columns.len(), "{}", relation.name);
            Row::pack(datums)
        })
        .collect();
    Some((rows, relation.columns.len()))
}

/// Whether `id` is a catalog relation that never has rows (it describes
/// a feature Freshet does not have).
pub fn is_always_empty(id: GlobalId) -> bool {
    is_catalog_relation(id)
        && std::ptr::fn_addr_eq(
            RELATIONS[(id.0 - FIRST_ID) as usize].rows,
            none as fn(&Context) -> Vec<Vec<Datum>>,
        )
}

/// The user item whose OID is `oid` ([`item_oid`]'s inverse), if it is
/// one's.
pub fn item_id(oid: i64) -> Option<GlobalId> {
    oid.checked_sub(16_384)
        .and_then(|id| u64::try_from(id).ok())
        .map(GlobalId)
        .filter(|id| !id.is_system())
}

/// The OID of a catalog item.
pub fn item_oid(id: GlobalId) -> i64 {
    if id.is_system() {
        // Introspection relations.
        15_000 + (id.0 - (1 << 61)) as i64
    } else {
        16_384 + id.0 as i64
    }
}

/// The OID of a catalog relation (see [`is_catalog_relation`]).
pub fn catalog_relation_oid(id: GlobalId) -> i64 {
    RELATION_OID_BASE + (id.0 - FIRST_ID) as i64
}

/// Every relation's OID and name, as a `regclass` prints it.
pub fn relation_names(catalog: &Catalog) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = relations(catalog)
        .map(|item| (item_oid(item.id), item.name.clone()))
        .collect();
    for (i, r) in RELATIONS.iter().enumerate() {
        out.push((RELATION_OID_BASE + i as i64, r.name.to_string()));
    }
    out
}

/// The OID of a schema, if it exists.
pub fn schema_oid(catalog: &Catalog, schema: &str) -> Option<i64> {
    match schema {
        PG_CATALOG => Some(PG_CATALOG_OID),
        INFORMATION_SCHEMA => Some(INFORMATION_SCHEMA_OID),
        SYSTEM_SCHEMA => Some(SYSTEM_SCHEMA_OID),
        MZ_CATALOG => Some(MZ_CATALOG_OID),
        // PostgreSQL's OID for `public`, which clients may know.
        super::DEFAULT_SCHEMA if catalog.schema_id(schema).is_some() => Some(2200),
        _ => catalog.schema_id(schema).map(item_oid),
    }
}

/// The OIDs of the relations a session's unqualified names reach: those
/// `pg_table_is_visible` is true of. As in PostgreSQL, `pg_catalog` is
/// searched first, then the path; a relation is visible unless an earlier
/// schema has one of the same name.
pub fn visible_relation_oids(catalog: &Catalog, path: &SearchPath) -> Vec<i64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut oids = Vec::new();
    for (i, r) in RELATIONS.iter().enumerate() {
        if r.schema == PG_CATALOG && seen.insert(r.name.to_string()) {
            oids.push(RELATION_OID_BASE + i as i64);
        }
    }
    for schema in &path.schemas {
        for item in relations(catalog).filter(|i| &i.schema == schema) {
            if seen.insert(item.name.clone()) {
                oids.push(item_oid(item.id));
            }
        }
    }
    oids
}

/// The items that are relations in `pg_class`: tables, sources, views,
/// materialized views and indexes.
fn relations(catalog: &Catalog) -> impl Iterator<Item = &CatalogItem> {
    catalog.items().filter(|i| relkind(i).is_some())
}

fn relkind(item: &CatalogItem) -> Option<&'static str> {
    match item.kind {
        ItemKind::Table | ItemKind::Source => Some("r"),
        ItemKind::View => Some("v"),
        ItemKind::MaterializedView => Some("m"),
        ItemKind::Index => Some("i"),
        ItemKind::Sequence => Some("S"),
        ItemKind::Connection | ItemKind::Secret | ItemKind::Sink => None,
    }
}

/// The items with columns (indexes have their item's columns in their
/// desc, but PostgreSQL lists index columns separately; they are left
/// out).
fn with_columns(catalog: &Catalog) -> impl Iterator<Item = &CatalogItem> {
    relations(catalog).filter(|i| i.kind != ItemKind::Index)
}

fn text(s: impl Into<String>) -> Datum {
    Datum::String(s.into())
}

fn oid(o: i64) -> Datum {
    Datum::Int64(o)
}

fn yes_no(b: bool) -> Datum {
    text(if b { "YES" } else { "NO" })
}

/// The OID of `pg_class` (the second catalog relation): the `classoid`
/// of comments on relations and their columns.
pub const PG_CLASS_OID: i64 = RELATION_OID_BASE + 1;

/// The OID of the catalog relation `name` (`pg_constraint`): the
/// `classoid` of comments on its objects.
fn catalog_relation_oid_by_name(name: &str) -> i64 {
    let position = RELATIONS.iter().position(|r| r.name == name).unwrap_or(0);
    RELATION_OID_BASE + position as i64
}

/// The `classoid` and `objoid` of a comment on object `id` of `class`
/// (`None` for a schema that is gone).
pub fn comment_oids(catalog: &Catalog, class: CommentClass, id: GlobalId) -> Option<(i64, i64)> {
    match class {
        CommentClass::Relation => Some((PG_CLASS_OID, item_oid(id))),
        CommentClass::Constraint => {
            Some((catalog_relation_oid_by_name("pg_constraint"), item_oid(id)))
        }
        CommentClass::Namespace => {
            let name = catalog
                .schema_names()
                .into_iter()
                .find(|n| catalog.schema_id(n) == Some(id))?;
            Some((
                catalog_relation_oid_by_name("pg_namespace"),
                schema_oid(catalog, &name)?,
            ))
        }
    }
}

/// The comments `COMMENT ON` made (on relations and their columns,
/// schemas and constraints).
fn pg_description(c: &Context) -> Vec<Vec<Datum>> {
    debug_assert_eq!(RELATIONS[1].name, "pg_class");
    c.catalog
        .comments()
        .filter_map(|(class, id, sub, comment)| {
            let (classoid, objoid) = comment_oids(c.catalog, class, id)?;
            Some(vec![
                oid(objoid),
                oid(classoid),
                Datum::Int32(sub),
                text(comment.text.clone()),
            ])
        })
        .collect()
}

fn pg_namespace(c: &Context) -> Vec<Vec<Datum>> {
    let mut names = c.catalog.schema_names();
    names.push(PG_CATALOG.to_string());
    names.push(INFORMATION_SCHEMA.to_string());
    names.push(MZ_CATALOG.to_string());
    names
        .into_iter()
        .filter_map(|name| {
            let o = schema_oid(c.catalog, &name)?;
            Some(vec![oid(o), text(name), oid(OWNER_OID), Datum::Null])
        })
        .collect()
}

/// The SQL text of the query an item's `CREATE ... AS` statement defines,
/// as `pg_get_viewdef` prints it.
pub fn view_definition(item: &CatalogItem) -> Option<String> {
    use sqlparser::ast::Statement;
    let statements = sqlparser::parser::Parser::parse_sql(
        &sqlparser::dialect::PostgreSqlDialect {},
        &item.create_sql,
    )
    .ok()?;
    match statements.first()? {
        Statement::CreateView(view) => Some(format!("{};", view.query)),
        _ => None,
    }
}

/// The `CREATE INDEX` statement an index's `pg_get_indexdef` prints, with
/// its access method (`USING arrangement`, see `pg_am`) where PostgreSQL
/// prints `USING btree`.
pub fn index_definition(catalog: &Catalog, item: &CatalogItem) -> Option<String> {
    let index = item.index.as_ref()?;
    let on = catalog.get(index.on)?;
    // A `PRIMARY KEY` or `UNIQUE` constraint's index is a unique index.
    let key = catalog.unique_key_of_index(item.id).map(|(_, k)| k);
    Some(format!(
        "CREATE {}INDEX {} ON {}.{} USING arrangement ({}){}",
        if key.is_some() { "UNIQUE " } else { "" },
        super::names::sql_ident(&item.name),
        super::names::sql_ident(&on.schema),
        super::names::sql_ident(&on.name),
        index.key_text.join(", "),
        if key.is_some_and(|k| !k.nulls_distinct) {
            " NULLS NOT DISTINCT"
        } else {
            ""
        }
    ))
}

/// The position of `relchecks` in `pg_class`'s rows.
const RELCHECKS: usize = 18;
/// The position of `relhastriggers` in `pg_class`'s rows.
const RELHASTRIGGERS: usize = 20;

fn pg_class(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    let class_row = |o: i64, name: &str, ns: i64, kind: &str, natts: usize, has_index: bool| {
        vec![
            oid(o),
            text(name),
            oid(ns),
            oid(0),
            oid(0),
            oid(OWNER_OID),
            // Tables, sources and materialized views have no access
            // method PostgreSQL knows (not `heap`); indexes are
            // arrangements.
            oid(if kind == "i" { ARRANGEMENT_AM_OID } else { 0 }),
            oid(0),
            oid(0),
            Datum::Int32(0),
            Datum::Float32(crate::repr::OrdF32(-1.0)),
            Datum::Int32(0),
            oid(0),
            Datum::Bool(has_index),
            Datum::Bool(false),
            text("p"),
            text(kind),
            Datum::Int16(natts as i16),
            Datum::Int16(0),
            Datum::Bool(false),
            Datum::Bool(false),
            Datum::Bool(false),
            Datum::Bool(false),
            Datum::Bool(false),
            Datum::Bool(true),
            text(if kind == "r" || kind == "m" { "d" } else { "n" }),
            Datum::Bool(false),
            oid(0),
            Datum::Null,
            Datum::Null,
            Datum::Null,
        ]
    };
    for item in relations(c.catalog) {
        let Some(ns) = schema_oid(c.catalog, &item.schema) else {
            continue;
        };
        let has_index = has_index(c.catalog, item);
        let natts = if item.kind == ItemKind::Index {
            item.index.as_ref().map_or(0, |ix| ix.key.len())
        } else {
            item.desc.arity()
        };
        let mut row = class_row(
            item_oid(item.id),
            &item.name,
            ns,
            relkind(item).unwrap_or("r"),
            natts,
            has_index,
        );
        // `relchecks`: psql's `\d` lists a table's CHECK constraints when
        // it has some.
        row[RELCHECKS] = Datum::Int16(c.catalog.checks(item.id).len() as i16);
        // `relhastriggers`: PostgreSQL enforces a foreign key with
        // internal triggers on both tables, and psql's `\d` asks for a
        // table's foreign keys and the keys that reference it only where
        // this is true. Freshet enforces them in the coordinator, not by
        // triggers (`pg_trigger` is empty), but a table on either side of
        // a foreign key has it true as in PostgreSQL, whose documentation
        // allows it to be true where the table has no trigger rows.
        row[RELHASTRIGGERS] = Datum::Bool(
            !c.catalog.foreign_keys(item.id).is_empty()
                || c.catalog.referencing(item.id).next().is_some(),
        );
        out.push(row);
    }
    for (i, r) in RELATIONS.iter().enumerate() {
        let ns = if r.schema == PG_CATALOG {
            PG_CATALOG_OID
        } else {
            INFORMATION_SCHEMA_OID
        };
        out.push(class_row(
            RELATION_OID_BASE + i as i64,
            r.name,
            ns,
            "v",
            r.columns.len(),
            false,
        ));
    }
    out
}

/// PostgreSQL's `typlen`, `typbyval` and `typalign` of a type.
fn storage(t: &ScalarType) -> (i16, bool, &'static str) {
    match t {
        ScalarType::Bool => (1, true, "c"),
        ScalarType::Int16 => (2, true, "s"),
        ScalarType::Int32 | ScalarType::Float32 | ScalarType::Date | ScalarType::RegType => {
            (4, true, "i")
        }
        ScalarType::Name => (64, false, "c"),
        ScalarType::Int64
        | ScalarType::Float64
        | ScalarType::Time(_)
        | ScalarType::Timestamp(_)
        | ScalarType::TimestampTz(_) => (8, true, "d"),
        ScalarType::Interval { .. } => (16, false, "d"),
        ScalarType::Uuid => (16, false, "c"),
        ScalarType::Array(_) | ScalarType::Numeric { .. } => (-1, false, "i"),
        ScalarType::Text
        | ScalarType::VarChar(_)
        | ScalarType::Char(_)
        | ScalarType::Bytea
        | ScalarType::Jsonb
        | ScalarType::Json => (-1, false, "i"),
    }
}

/// PostgreSQL's `INTERVAL_RANGE` of an interval type's fields: a bit per
/// field (`INTERVAL_MASK`), `INTERVAL_FULL_RANGE` without fields.
pub fn interval_range(fields: Option<IntervalFields>) -> i32 {
    use IntervalFields as F;
    const MONTH: i32 = 1 << 1;
    const YEAR: i32 = 1 << 2;
    const DAY: i32 = 1 << 3;
    const HOUR: i32 = 1 << 10;
    const MINUTE: i32 = 1 << 11;
    const SECOND: i32 = 1 << 12;
    match fields {
        None => 0x7FFF,
        Some(F::Year) => YEAR,
        Some(F::Month) => MONTH,
        Some(F::Day) => DAY,
        Some(F::Hour) => HOUR,
        Some(F::Minute) => MINUTE,
        Some(F::Second) => SECOND,
        Some(F::YearToMonth) => YEAR | MONTH,
        Some(F::DayToHour) => DAY | HOUR,
        Some(F::DayToMinute) => DAY | HOUR | MINUTE,
        Some(F::DayToSecond) => DAY | HOUR | MINUTE | SECOND,
        Some(F::HourToMinute) => HOUR | MINUTE,
        Some(F::HourToSecond) => HOUR | MINUTE | SECOND,
        Some(F::MinuteToSecond) => MINUTE | SECOND,
    }
}

/// PostgreSQL's `atttypmod` of a column of type `t`.
pub fn typmod(t: &ScalarType) -> i32 {
    match t {
        ScalarType::VarChar(Some(n)) | ScalarType::Char(Some(n)) => *n as i32 + 4,
        ScalarType::Char(None) => -1,
        ScalarType::Numeric {
            precision: Some(p),
            scale,
        } => ((i32::from(*p) << 16) | i32::from(scale.unwrap_or(0))) + 4,
        // An interval's: its fields in the upper half (PostgreSQL's
        // `INTERVAL_RANGE` masks, all of them without fields), its
        // precision in the lower (`0xFFFF` without one).
        ScalarType::Interval {
            fields: None,
            precision: None,
        } => -1,
        ScalarType::Interval { fields, precision } => {
            (interval_range(*fields) << 16) | precision.map_or(0xFFFF, i32::from)
        }
        ScalarType::Time(Some(p))
        | ScalarType::Timestamp(Some(p))
        | ScalarType::TimestampTz(Some(p)) => i32::from(*p),
        ScalarType::Array(elem) => typmod(elem),
        _ => -1,
    }
}

fn collation(t: &ScalarType) -> i64 {
    match t {
        ScalarType::Text | ScalarType::VarChar(_) | ScalarType::Char(_) => DEFAULT_COLLATION_OID,
        ScalarType::Array(elem) => collation(elem),
        _ => 0,
    }
}

/// The text of a column default, as `pg_get_expr` prints it.
fn default_text(catalog: &Catalog, default: &ScalarExpr, typ: &ScalarType) -> String {
    // One that draws from a sequence: `nextval('s'::regclass)`, the name
    // qualified when not in `public`.
    if let Some(item) = super::default_sequence(default).and_then(|id| catalog.get(id)) {
        let name = if item.schema == super::DEFAULT_SCHEMA {
            quote_ident(&item.name)
        } else {
            format!("{}.{}", quote_ident(&item.schema), quote_ident(&item.name))
        };
        return format!("nextval('{}'::regclass)", name.replace('\'', "''"));
    }
    // A default is evaluated on an empty row; a constant one prints as
    // its value.
    let constant = default.eval(&[]).ok();
    match constant.as_ref().ok_or(default) {
        Ok(Datum::Null) => "NULL".to_string(),
        Ok(d) => {
            let text = crate::repr::strconv::format(d).unwrap_or_default();
            // PostgreSQL prints a number literal bare and casts other
            // literals to the column's type without its modifier (the
            // length check is a separate step of its expression), and a
            // `char(n)` literal as written, unpadded.
            let plain_number = text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
            match typ {
                ScalarType::Int16
                | ScalarType::Int32
                | ScalarType::Int64
                | ScalarType::Numeric { .. } => text,
                ScalarType::Bool => (d == &Datum::Bool(true)).to_string(),
                ScalarType::Float32 | ScalarType::Float64 if plain_number => text,
                ScalarType::VarChar(_) => {
                    format!("'{}'::character varying", text.replace('\'', "''"))
                }
                ScalarType::Char(_) => {
                    format!(
                        "'{}'::bpchar",
                        text.trim_end_matches(' ').replace('\'', "''")
                    )
                }
                _ => format!(
                    "'{}'::{}",
                    text.replace('\'', "''"),
                    typ.without_modifier().name()
                ),
            }
        }
        Err(other) => other.to_string(),
    }
}

fn pg_attribute(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for item in with_columns(c.catalog) {
        for (i, col) in item.desc.columns.iter().enumerate() {
            let identity = c.catalog.identity(item.id, i);
            let has_default = identity.is_none()
                && item
                    .table_columns
                    .get(i)
                    .is_some_and(|tc| tc.default.is_some());
            // PostgreSQL marks only table columns NOT NULL (a constraint);
            // a view's columns are nullable whatever their values.
            let not_null = item.kind == ItemKind::Table && !col.nullable;
            out.push(attribute_row(
                item_oid(item.id),
                i,
                col,
                not_null,
                has_default,
                identity,
            ));
        }
    }
    // An index's columns are its keys. Only keys that are columns of the
    // indexed relation are listed: Freshet does not keep the type of an
    // expression key.
    for item in c.catalog.items() {
        let Some(index) = &item.index else { continue };
        let Some(on) = c.catalog.get(index.on) else {
            continue;
        };
        for (i, key) in index.key.iter().enumerate() {
            if let ScalarExpr::Column(k) = key
                && let Some(col) = on.desc.columns.get(*k)
            {
                out.push(attribute_row(item_oid(item.id), i, col, false, false, None));
            }
        }
    }
    out
}

/// The `pg_attribute` row of column `i` (from 0) of relation `relid`.
fn attribute_row(
    relid: i64,
    i: usize,
    col: &ColumnDesc,
    not_null: bool,
    has_default: bool,
    identity: Option<bool>,
) -> Vec<Datum> {
    let (len, byval, align) = storage(&col.typ);
    vec![
        oid(relid),
        text(col.name.clone()),
        oid(i64::from(col.typ.oid())),
        Datum::Int32(-1),
        Datum::Int16(len),
        Datum::Int16(i as i16 + 1),
        Datum::Int32(i32::from(matches!(col.typ, ScalarType::Array(_)))),
        Datum::Int32(-1),
        Datum::Int32(typmod(&col.typ)),
        Datum::Bool(byval),
        text(align),
        text(storage_strategy(&col.typ)),
        text(""),
        Datum::Bool(not_null),
        Datum::Bool(has_default),
        Datum::Bool(false),
        text(match identity {
            Some(true) => "a",
            Some(false) => "d",
            None => "",
        }),
        text(""),
        Datum::Bool(false),
        Datum::Bool(true),
        Datum::Int32(0),
        oid(collation(&col.typ)),
        Datum::Null,
        Datum::Null,
        Datum::Null,
    ]
}

/// PostgreSQL's default `attstorage` of a column of type `t`: `p`lain for
/// fixed-size types, `m`ain for `numeric`, `x` (extended) for the other
/// variable-size ones.
fn storage_strategy(t: &ScalarType) -> &'static str {
    match t {
        ScalarType::Numeric { .. } => "m",
        _ if storage(t).0 == -1 => "x",
        _ => "p",
    }
}

fn pg_sequence(c: &Context) -> Vec<Vec<Datum>> {
    c.catalog
        .sequences()
        .map(|(id, d)| {
            vec![
                oid(item_oid(id)),
                oid(i64::from(d.typ.oid())),
                Datum::Int64(d.start),
                Datum::Int64(d.increment),
                Datum::Int64(d.max),
                Datum::Int64(d.min),
                Datum::Int64(d.cache),
                Datum::Bool(d.cycle),
            ]
        })
        .collect()
}

fn pg_attrdef(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for item in c.catalog.items().filter(|i| i.kind == ItemKind::Table) {
        for (i, tc) in item.table_columns.iter().enumerate() {
            let (Some(default), Some(col)) = (&tc.default, item.desc.columns.get(i)) else {
                continue;
            };
            // An identity column has no default in PostgreSQL's catalog.
            if c.catalog.identity(item.id, i).is_some() {
                continue;
            }
            out.push(vec![
                // One default per column: an OID of its own is not needed
                // by anything that reads this, so it is derived.
                oid(item_oid(item.id) * 1000 + i as i64 + 1),
                oid(item_oid(item.id)),
                Datum::Int16(i as i16 + 1),
                text(default_text(c.catalog, default, &col.typ)),
            ]);
        }
    }
    out
}

/// The types of Freshet, with PostgreSQL's `typname` and `typcategory`.
fn base_types() -> Vec<(ScalarType, &'static str, &'static str)> {
    vec![
        (ScalarType::Bool, "bool", "B"),
        (ScalarType::Int16, "int2", "N"),
        (ScalarType::Int32, "int4", "N"),
        (ScalarType::Int64, "int8", "N"),
        (ScalarType::Float32, "float4", "N"),
        (ScalarType::Float64, "float8", "N"),
        (
            ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            "numeric",
            "N",
        ),
        (ScalarType::Text, "text", "S"),
        (ScalarType::VarChar(None), "varchar", "S"),
        (ScalarType::Char(None), "bpchar", "S"),
        (ScalarType::Bytea, "bytea", "U"),
        (ScalarType::Date, "date", "D"),
        (ScalarType::Time(None), "time", "D"),
        (ScalarType::Timestamp(None), "timestamp", "D"),
        (ScalarType::TimestampTz(None), "timestamptz", "D"),
        (ScalarType::INTERVAL, "interval", "T"),
        (ScalarType::Jsonb, "jsonb", "U"),
        (ScalarType::Json, "json", "U"),
        (ScalarType::Uuid, "uuid", "U"),
        (ScalarType::RegType, "regtype", "N"),
        (ScalarType::Name, "name", "S"),
    ]
}

/// Every type's OID and its internal name (`typname`: `int4`, and `_int4`
/// for its array).
pub fn internal_type_names() -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for (t, typname, _) in base_types() {
        out.push((i64::from(t.oid()), typname.to_string()));
        let array = ScalarType::Array(Box::new(t));
        out.push((i64::from(array.oid()), format!("_{typname}")));
    }
    out
}

/// Every type's OID and its name as `format_type` prints it with no type
/// modifier, base types and their arrays.
pub fn type_names() -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for (t, _, _) in base_types() {
        out.push((i64::from(t.oid()), t.name()));
        let array = ScalarType::Array(Box::new(t));
        out.push((i64::from(array.oid()), array.name()));
    }
    out
}

/// The kinds (`typtype`) of the rows of `pg_type` with `catalog`.
pub fn type_kinds(catalog: &Catalog) -> std::collections::BTreeSet<String> {
    let context = Context {
        catalog,
        path: &SearchPath::default(),
        facts: &NoFacts,
    };
    let Some(kind) = RELATIONS
        .iter()
        .find(|r| r.schema == PG_CATALOG && r.name == "pg_type")
        .and_then(|r| r.columns.iter().position(|(c, _)| *c == "typtype"))
    else {
        return Default::default();
    };
    pg_type(&context)
        .into_iter()
        .filter_map(|row| match &row[kind] {
            Datum::String(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

fn pg_type(_: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for (t, typname, category) in base_types() {
        let (len, byval, align) = storage(&t);
        let array = ScalarType::Array(Box::new(t.clone()));
        let io = |suffix: &str| text(format!("{typname}{suffix}"));
        let row = |o: u32,
                   name: String,
                   len: i16,
                   byval: bool,
                   category: &str,
                   elem: u32,
                   array_oid: u32,
                   align: &str,
                   collation: i64| {
            vec![
                oid(i64::from(o)),
                text(name),
                oid(PG_CATALOG_OID),
                oid(OWNER_OID),
                Datum::Int16(len),
                Datum::Bool(byval),
                text("b"),
                text(category),
                Datum::Bool(false),
                Datum::Bool(true),
                text(","),
                oid(0),
                text(if elem != 0 {
                    "array_subscript_handler"
                } else {
                    "-"
                }),
                oid(i64::from(elem)),
                oid(i64::from(array_oid)),
                io("in"),
                io("out"),
                io("recv"),
                io("send"),
                text(align),
                text(if len == -1 { "x" } else { "p" }),
                Datum::Bool(false),
                oid(0),
                Datum::Int32(-1),
                Datum::Int32(0),
                oid(collation),
                Datum::Null,
                Datum::Null,
            ]
        };
        out.push(row(
            t.oid(),
            typname.to_string(),
            len,
            byval,
            category,
            0,
            array.oid(),
            align,
            collation(&t),
        ));
        out.push(row(
            array.oid(),
            format!("_{typname}"),
            -1,
            false,
            "A",
            t.oid(),
            0,
            if align == "d" { "d" } else { "i" },
            collation(&t),
        ));
    }
    out
}

fn pg_database(c: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        oid(DATABASE_OID),
        text(c.path.database.clone()),
        oid(OWNER_OID),
        Datum::Int32(6),
        text("c"),
        Datum::Bool(false),
        Datum::Bool(true),
        Datum::Int32(-1),
        text("C.UTF-8"),
        text("C.UTF-8"),
        Datum::Null,
        Datum::Null,
        Datum::Null,
    ]]
}

fn pg_index(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for item in c.catalog.items() {
        let Some(index) = &item.index else { continue };
        let keys: Vec<String> = index
            .key
            .iter()
            .map(|k| match k {
                ScalarExpr::Column(i) => (i + 1).to_string(),
                _ => "0".to_string(),
            })
            .collect();
        // The collation of each key: the default one for text columns, 0
        // for other types (and for expressions, whose type Freshet does
        // not keep). No key has an operator class (0: arrangements are not
        // btrees) or a sort option (0: ascending, NULLs last).
        let on = c.catalog.get(index.on);
        let collations: Vec<String> = index
            .key
            .iter()
            .map(|k| match (k, on) {
                (ScalarExpr::Column(i), Some(on)) => on
                    .desc
                    .columns
                    .get(*i)
                    .map_or(0, |col| collation(&col.typ))
                    .to_string(),
                _ => "0".to_string(),
            })
            .collect();
        let zeros = vec!["0"; index.key.len()].join(" ");
        let n = index.key.len() as i16;
        // A table's PRIMARY KEY or UNIQUE constraint's index is unique,
        // and so is a unique index.
        let constraint = c.catalog.unique_key_of_index(item.id).map(|(_, k)| k);
        out.push(vec![
            oid(item_oid(item.id)),
            oid(item_oid(index.on)),
            Datum::Int16(n),
            Datum::Int16(n),
            Datum::Bool(constraint.is_some()),
            Datum::Bool(constraint.is_some_and(|k| !k.nulls_distinct)),
            Datum::Bool(constraint.is_some_and(|k| k.primary)),
            Datum::Bool(false),
            Datum::Bool(true),
            Datum::Bool(false),
            Datum::Bool(true),
            Datum::Bool(false),
            Datum::Bool(true),
            Datum::Bool(true),
            Datum::Bool(false),
            text(keys.join(" ")),
            text(collations.join(" ")),
            text(zeros.clone()),
            text(zeros),
            Datum::Null,
            Datum::Null,
        ]);
    }
    out
}

/// Tables' `PRIMARY KEY` (`p`), `UNIQUE` (`u`) and `CHECK` (`c`)
/// constraints (NOT NULL is not a constraint row in PostgreSQL 15
/// either). A constraint's OID
/// is its index's (PostgreSQL gives them two; Freshet has one item).
fn pg_constraint(c: &Context) -> Vec<Vec<Datum>> {
    let mut out = Vec::new();
    for (table, key) in c.catalog.all_unique_constraints() {
        out.extend(constraint_row(
            c,
            table,
            ConstraintRow {
                oid: item_oid(key.index),
                name: &key.name,
                contype: if key.primary { "p" } else { "u" },
                validated: true,
                index: item_oid(key.index),
                no_inherit: true,
                columns: &key.columns,
                foreign: None,
            },
        ));
    }
    for (table, check) in c.catalog.all_checks() {
        out.extend(constraint_row(
            c,
            table,
            ConstraintRow {
                oid: item_oid(check.id),
                name: &check.name,
                contype: "c",
                validated: check.validated,
                index: 0,
                no_inherit: false,
                columns: &check.columns,
                foreign: None,
            },
        ));
    }
    for (table, fk) in c.catalog.all_foreign_keys() {
        out.extend(constraint_row(
            c,
            table,
            ConstraintRow {
                oid: item_oid(fk.id),
                name: &fk.name,
                contype: "f",
                validated: true,
                index: item_oid(fk.key_index),
                no_inherit: true,
                columns: &fk.columns,
                foreign: Some(fk),
            },
        ));
    }
    out
}

/// What differs between the `pg_constraint` rows of a key and a check.
struct ConstraintRow<'a> {
    oid: i64,
    name: &'a str,
    contype: &'static str,
    validated: bool,
    /// The index's OID (0 for a check).
    index: i64,
    /// `connoinherit`: true for keys, false for checks (PostgreSQL's).
    no_inherit: bool,
    columns: &'a [usize],
    /// A foreign key's referenced table, columns and actions.
    foreign: Option<&'a super::ForeignKey>,
}

/// The `pg_constraint` row of a constraint of `table` (none if the table
/// is gone).
fn constraint_row(c: &Context, table: GlobalId, row: ConstraintRow<'_>) -> Option<Vec<Datum>> {
    let t = c.catalog.get(table)?;
    let ns = schema_oid(c.catalog, &t.schema).unwrap_or(0);
    let conkey: Vec<Datum> = row
        .columns
        .iter()
        .map(|&i| Datum::Int16(i as i16 + 1))
        .collect();
    let (confrelid, update, delete, matching, confkey) = match row.foreign {
        Some(fk) => (
            item_oid(fk.referenced),
            fk.on_update.letter(),
            fk.on_delete.letter(),
            "s",
            Datum::Array(
                fk.referenced_columns
                    .iter()
                    .map(|&i| Datum::Int16(i as i16 + 1))
                    .collect(),
            ),
        ),
        None => (0, " ", " ", " ", Datum::Null),
    };
    Some(vec![
        oid(row.oid),
        text(row.name.to_string()),
        oid(ns),
        text(row.contype),
        Datum::Bool(false),
        Datum::Bool(false),
        Datum::Bool(row.validated),
        oid(item_oid(table)),
        oid(0),
        oid(row.index),
        oid(0),
        oid(confrelid),
        text(update),
        text(delete),
        text(matching),
        Datum::Bool(true),
        Datum::Int32(0),
        Datum::Bool(row.no_inherit),
        // A check of no column (`CHECK (random() < 1)`) has no `conkey`.
        if conkey.is_empty() {
            Datum::Null
        } else {
            Datum::Array(conkey)
        },
        confkey,
        Datum::Null,
    ])
}

/// Every constraint's OID and its definition as `pg_get_constraintdef`
/// prints it (`PRIMARY KEY (a)`, `UNIQUE (a, b)`, `CHECK ((a > 0))`),
/// plain and pretty (`CHECK (a > 0)`).
pub fn constraint_definitions(catalog: &Catalog) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for (table, key) in catalog.all_unique_constraints() {
        let Some(t) = catalog.get(table) else {
            continue;
        };
        let columns: Vec<String> = key
            .columns
            .iter()
            .filter_map(|&i| t.desc.columns.get(i))
            .map(|c| crate::expr::string_format::quote_ident(&c.name))
            .collect();
        let kind = match (key.primary, key.nulls_distinct) {
            (true, _) => "PRIMARY KEY",
            (false, true) => "UNIQUE",
            (false, false) => "UNIQUE NULLS NOT DISTINCT",
        };
        let def = format!("{kind} ({})", columns.join(", "));
        out.push((item_oid(key.index), def.clone(), def));
    }
    for (_, check) in catalog.all_checks() {
        let suffix = if check.validated { "" } else { " NOT VALID" };
        out.push((
            item_oid(check.id),
            format!("{}{suffix}", check.definition),
            format!("{}{suffix}", check.pretty_definition),
        ));
    }
    for (table, fk) in catalog.all_foreign_keys() {
        let Some(t) = catalog.get(table) else {
            continue;
        };
        let def = foreign_key_definition(catalog, t, fk);
        out.push((item_oid(fk.id), def.clone(), def));
    }
    out
}

/// The constraint's definition as `pg_get_constraintdef` prints it
/// (`FOREIGN KEY (pid) REFERENCES p(id) ON DELETE CASCADE`); the
/// referenced table is qualified unless it is in `public`.
pub fn foreign_key_definition(
    catalog: &Catalog,
    table: &CatalogItem,
    fk: &super::ForeignKey,
) -> String {
    let Some(parent) = catalog.get(fk.referenced) else {
        return String::new();
    };
    let names = |t: &CatalogItem, cols: &[usize]| {
        cols.iter()
            .filter_map(|&c| t.desc.columns.get(c))
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let relation = if parent.schema == super::DEFAULT_SCHEMA {
        quote_ident(&parent.name)
    } else {
        format!(
            "{}.{}",
            quote_ident(&parent.schema),
            quote_ident(&parent.name)
        )
    };
    let mut def = format!(
        "FOREIGN KEY ({}) REFERENCES {relation}({})",
        names(table, &fk.columns),
        names(parent, &fk.referenced_columns)
    );
    if fk.on_update != super::ReferentialAction::NoAction {
        def.push_str(&format!(" ON UPDATE {}", fk.on_update.sql()));
    }
    if fk.on_delete != super::ReferentialAction::NoAction {
        def.push_str(&format!(" ON DELETE {}", fk.on_delete.sql()));
    }
    def
}

/// The access methods: Freshet's indexes are arrangements (a key's rows,
/// kept in memory and maintained as the input changes), which `psql`'s
/// `\d index` names as `arrangement, for table ...`. Tables have no
/// access method PostgreSQL would know.
fn pg_am(_: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        oid(ARRANGEMENT_AM_OID),
        text("arrangement"),
        text("-"),
        text("i"),
    ]]
}

fn pg_collation(_: &Context) -> Vec<Vec<Datum>> {
    [
        (DEFAULT_COLLATION_OID, "default", "d"),
        (950, "C", "c"),
        (951, "POSIX", "c"),
    ]
    .into_iter()
    .map(|(o, name, provider)| {
        vec![
            oid(o),
            text(name),
            oid(PG_CATALOG_OID),
            oid(OWNER_OID),
            text(provider),
            Datum::Bool(true),
            Datum::Int32(-1),
            if provider == "c" {
                text(name)
            } else {
                Datum::Null
            },
            if provider == "c" {
                text(name)
            } else {
                Datum::Null
            },
        ]
    })
    .collect()
}

fn pg_roles(_: &Context) -> Vec<Vec<Datum>> {
    vec![vec![
        text(OWNER_NAME),
        Datum::Bool(true),
        Datum::Bool(true),
        Datum::Bool(true),
        Datum::Bool(true),
        Datum::Bool(true),
        Datum::Bool(false),
        Datum::Int32(-1),
        text("********"),
        Datum::Null,
        Datum::Bool(true),
        Datum::Null,
        oid(OWNER_OID),
    ]]
}

fn has_index(catalog: &Catalog, item: &CatalogItem) -> bool {
    catalog
        .items()
        .any(|i| i.index.as_ref().is_some_and(|ix| ix.on == item.id))
}

fn pg_tables(c: &Context) -> Vec<Vec<Datum>> {
    c.catalog
        .items()
        .filter(|i| matches!(i.kind, ItemKind::Table | ItemKind::Source))
        .map(|item| {
            vec![
                text(item.schema.clone()),
                text(item.name.clone()),
                text(OWNER_NAME),
                Datum::Null,
                Datum::Bool(has_index(c.catalog, item)),
                Datum::Bool(false),
                Datum::Bool(false),
                Datum::Bool(false),
            ]
        })
        .collect()
}

fn definition(item: &CatalogItem) -> Datum {
    view_definition(item).map_or(Datum::Null, text)
}

fn pg_views(c: &Context) -> Vec<Vec<Datum>> {
    let mut out: Vec<Vec<Datum>> = c
        .catalog
        .items()
        .filter(|i| i.kind == ItemKind::View)
        .map(|item| {
            vec![
                text(item.schema.clone()),
                text(item.name.clone()),
                text(OWNER_NAME),
                definition(item),
            ]
        })
        .collect();
    for r in RELATIONS {
        out.push(vec![
            text(r.schema),
            text(r.name),
            text(OWNER_NAME),
            Datum::Null,
        ]);
    }
    out
}

fn pg_matviews(c: &Context) -> Vec<Vec<Datum>> {
    c.catalog
        .items()
        .filter(|i| i.kind == ItemKind::MaterializedView)
        .map(|item| {
            vec![
                text(item.schema.clone()),
                text(item.name.clone()),
                text(OWNER_NAME),
                Datum::Null,
                Datum::Bool(has_index(c.catalog, item)),
                Datum::Bool(true),
                definition(item),
            ]
        })
        .collect()
}

fn pg_indexes(c: &Context) -> Vec<Vec<Datum>> {
    c.catalog
        .items()
        .filter_map(|item| {
            let on = c.catalog.get(item.index.as_ref()?.on)?;
            Some(vec![
                text(on.schema.clone()),
                text(on.name.clone()),
                text(item.name.clone()),
                Datum::Null,
                index_definition(c.catalog, item).map_or(Datum::Null, text),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relation_has_rows_of_its_arity() {
        let catalog = Catalog::default();
        let path = SearchPath::default();
        for (i, r) in RELATIONS.iter().enumerate() {
            let context = Context {
                catalog: &catalog,
                path: &path,
                facts: &NoFacts,
            };
            for row in (r.rows)(&context) {
                assert_eq!(row.len(), r.columns.len(), "{}", r.name);
            }
            let described = lookup(r.schema, r.name).expect("found by name");
            assert_eq!(described.id, GlobalId(FIRST_ID + i as u64));
            assert!(is_catalog_relation(described.id));
        }
        assert!(!is_catalog_relation(GlobalId(
            FIRST_ID + RELATIONS.len() as u64
        )));
    }

    #[test]
    fn type_modifiers_are_postgresql_s() {
        assert_eq!(typmod(&ScalarType::VarChar(Some(10))), 14);
        assert_eq!(
            typmod(&ScalarType::Numeric {
                precision: Some(10),
                scale: Some(2)
            }),
            655_366
        );
        assert_eq!(typmod(&ScalarType::Int32), -1);
        // PostgreSQL 15's `atttypmod` of these interval columns.
        let interval = |fields, precision| typmod(&ScalarType::Interval { fields, precision });
        assert_eq!(interval(None, None), -1);
        assert_eq!(interval(None, Some(3)), 2_147_418_115);
        assert_eq!(
            interval(Some(IntervalFields::DayToSecond), None),
            470_351_871
        );
        assert_eq!(
            interval(Some(IntervalFields::DayToSecond), Some(0)),
            470_286_336
        );
        assert_eq!(interval(Some(IntervalFields::Year), None), 327_679);
        assert_eq!(
            interval(Some(IntervalFields::HourToMinute), None),
            201_392_127
        );
        assert_eq!(interval(Some(IntervalFields::Second), Some(2)), 268_435_458);
        assert_eq!(
            interval(Some(IntervalFields::MinuteToSecond), Some(1)),
            402_653_185
        );
    }
}
