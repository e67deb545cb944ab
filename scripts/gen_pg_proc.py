"""Generates src/catalog/pg_proc.rs: every pg_catalog
signature of the functions named below whose types Freshet has, from a
PostgreSQL 15 server, kept when a call with sample arguments plans in a
running Freshet server.

    python3 scripts/gen_pg_proc.py POSTGRES_PORT FRESHET_PORT
"""
import psycopg, json, sys
NAMES = """count sum avg min max bool_and bool_or every string_agg array_agg jsonb_agg jsonb_object_agg stddev stddev_pop stddev_samp variance var_pop var_samp
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
abs ceil ceiling floor round trunc sqrt cbrt power pow mod ln log log10 exp factorial div sign pi degrees radians sin cos tan asin acos atan atan2 random greatest least
length char_length character_length octet_length bit_length lower upper initcap substr substring replace btrim ltrim rtrim concat concat_ws left right lpad rpad strpos split_part starts_with md5 reverse repeat ascii chr translate
regexp_replace regexp_match regexp_matches regexp_split_to_array regexp_split_to_table regexp_like regexp_count regexp_substr regexp_instr to_hex quote_ident quote_literal quote_nullable format encode decode convert_to convert_from sha256 get_byte
now current_timestamp clock_timestamp transaction_timestamp statement_timestamp date_trunc date_part extract to_char to_timestamp to_date make_date make_time make_timestamp make_timestamptz make_interval age date_bin justify_days justify_hours justify_interval isfinite overlaps to_number
generate_series unnest array_length array_to_string array_upper array_lower cardinality array_position array_positions array_append array_prepend array_cat array_remove array_replace array_dims array_ndims string_to_array
jsonb_build_object jsonb_build_array jsonb_array_elements jsonb_array_elements_text jsonb_each jsonb_each_text jsonb_object_keys jsonb_typeof jsonb_array_length jsonb_strip_nulls jsonb_pretty jsonb_extract_path jsonb_extract_path_text jsonb_set jsonb_insert to_jsonb jsonb_agg jsonb_exists
gen_random_uuid uuid_generate_v4 version current_database current_schema current_schemas pg_backend_pid current_setting set_config pg_typeof mz_now""".split()
pg = psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=freshet dbname=postgres", autocommit=True)
rows = pg.execute("""
SELECT p.oid::int8, p.proname, p.prokind::text, p.proretset, p.provolatile::text, p.proisstrict, p.pronargs::int,
  pg_get_function_result(p.oid), pg_get_function_arguments(p.oid),
  array(select format_type(t, NULL) from unnest(p.proargtypes) t), format_type(p.prorettype, NULL),
  p.prorettype::int8, array(select t::int8 from unnest(p.proargtypes) t), p.provariadic::int8, p.proparallel::text, p.prosrc, obj_description(p.oid, 'pg_proc')
FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY(%s) AND p.prokind IN ('f','a','w')
ORDER BY p.proname, p.oid""", (NAMES,)).fetchall()
OK = {"boolean","smallint","integer","bigint","real","double precision","numeric","text","character varying","character","bytea","date",
      "time without time zone","timestamp without time zone","timestamp with time zone","interval","jsonb","uuid",
      '"any"',"anyelement","anyarray","anycompatible","anycompatiblearray","anynonarray","record","name","text[]","smallint[]","integer[]","bigint[]","numeric[]","double precision[]","jsonb[]"}
fr = psycopg.connect(f"host=127.0.0.1 port={sys.argv[2]} user=freshet dbname=postgres", autocommit=True)
SAMPLE = {'"any"':"1::int","anyelement":"1::int","anycompatible":"1::int","anynonarray":"1::int","anyarray":"ARRAY[1]::int[]","anycompatiblearray":"ARRAY[1]::int[]",
  "text":"'day'","boolean":"true","smallint":"1::smallint","integer":"1","bigint":"1::bigint","real":"1::real","double precision":"1::float8","numeric":"1::numeric",
  "character varying":"'a'::varchar","character":"'a'::char","bytea":"'a'::bytea","date":"'2024-01-01'::date","time without time zone":"'01:00'::time",
  "timestamp without time zone":"'2024-01-01'::timestamp","timestamp with time zone":"'2024-01-01'::timestamptz","interval":"'1 day'::interval","jsonb":"'{}'::jsonb","uuid":"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
  "name":"'UTF8'", "text[]":"ARRAY['a']::text[]","integer[]":"ARRAY[1]::int[]","bigint[]":"ARRAY[1]::bigint[]","smallint[]":"ARRAY[1]::smallint[]","numeric[]":"ARRAY[1]::numeric[]","double precision[]":"ARRAY[1]::float8[]","jsonb[]":"ARRAY['{}']::jsonb[]"}
SPECIAL = {("encode",1):"'hex'", ("decode",1):"'hex'", ("current_setting",0):"'application_name'", ("set_config",0):"'application_name'", ("set_config",2):"false", ("to_char",1):"'9999'", ("to_timestamp",1):"'YYYY'", ("to_date",1):"'YYYY'", ("to_timestamp",0):"'2024'", ("to_date",0):"'2024'", ("jsonb_build_object",0):"'k'",
  ("to_number",0):"'12'", ("to_number",1):"'99'", ("convert_to",1):"'UTF8'", ("convert_from",1):"'UTF8'", ("date_part",0):"'hour'",
  # Keyed by the argument's type too, where one name has several forms.
  ("to_timestamp",0,"double precision"):"1::float8"}
keep = []
for r in rows:
    oid,name,kind,retset,vol,strict,nargs,res,args,argtypes,rettype,retoid,argoids,variadic,parallel,src,desc = r
    if any(t not in OK for t in argtypes) or rettype not in OK and not res.startswith("SETOF") and rettype not in ("record",):
        continue
    if res.startswith("SETOF") and res[6:] not in OK and res[6:] != "record":
        continue
    vals = [SPECIAL.get((name,i,t), SPECIAL.get((name,i), SAMPLE.get(t, f"NULL::{t}"))) for i,t in enumerate(argtypes)]
    # Use non-null samples where NULL would fail type resolution oddly
    call = f"{name}({', '.join(vals)})"
    if kind == 'a':
        call = f"{name}({', '.join('x%d'%i for i in range(len(vals)))})"
        sql = f"SELECT {call} FROM (SELECT {', '.join(v+' AS x%d'%i for i,v in enumerate(vals)) or '1 AS x'}) AS s"
        if not vals: sql = f"SELECT {name}(*) FROM (SELECT 1) AS s"
    elif kind == 'w':
        sql = f"SELECT {call} OVER () FROM (SELECT 1) AS s"
    elif retset:
        sql = f"SELECT * FROM {call} AS f"
    else:
        sql = f"SELECT {call}"
    try:
        fr.execute(sql)
        keep.append(r)
        print("ok  ", sql, file=sys.stderr)
    except Exception as e:
        m = str(e)
        if not any(k in m for k in ("does not exist", "not supported", "failed to match", "coerc", "requires", "expects", "does not take", "table function")):
            keep.append(r); print("ok* ", sql, "--", m.splitlines()[0], file=sys.stderr); continue
        print("no  ", sql, "--", str(e).splitlines()[0], file=sys.stderr)
print(len(rows), len(keep))
rows = [list(r) for r in keep]

out = []
out.append('''//! The functions, aggregates and window functions Freshet supports, as
//! PostgreSQL 15's `pg_proc` lists them (`pg_catalog.pg_proc`, and psql's
//! `\\df`): each row is PostgreSQL's own for a signature that Freshet
//! plans, with its OID, kind, result and argument types, and the text
//! `pg_get_function_result` and `pg_get_function_arguments` give for it.
//!
//! Generated by `scripts/gen_pg_proc.py` from a PostgreSQL 15 cluster: for
//! a list of commonly used function names, every `pg_catalog` signature
//! whose types Freshet has, kept when a call with sample arguments plans
//! in Freshet (a call that fails only on its sample data counts as
//! planned). Regenerate it when Freshet gains functions.

/// One `pg_proc` row.
pub struct Proc {
    /// `oid`: PostgreSQL's OID for the signature.
    pub oid: i64,
    /// `proname`.
    pub name: &'static str,
    /// `prokind`: `f` function, `a` aggregate, `w` window function.
    pub kind: &'static str,
    /// `proretset`: whether it returns a set (a table function).
    pub retset: bool,
    /// `provolatile`: `i`, `s` or `v`.
    pub volatile: &'static str,
    /// `proisstrict`.
    pub strict: bool,
    /// `proparallel`.
    pub parallel: &'static str,
    /// `provariadic`: the variadic argument's element type, or 0.
    pub variadic: i64,
    /// `prorettype`.
    pub result_type: i64,
    /// `proargtypes`.
    pub arg_types: &'static [i64],
    /// `prosrc`.
    pub src: &'static str,
    /// What `pg_get_function_result` gives.
    pub result: &'static str,
    /// What `pg_get_function_arguments` gives.
    pub arguments: &'static str,
    /// PostgreSQL's comment on it (`obj_description(oid, 'pg_proc')`).
    pub description: Option<&'static str>,
}

/// The rows, in OID order.
pub static PROCS: &[Proc] = &[''')
def q(s):
    return json.dumps(s)
for r in sorted(rows, key=lambda r: r[0]):
    oid, name, kind, retset, vol, strict, nargs, res, args, argtypes, rettype, retoid, argoids, variadic, parallel, src, desc = r
    out.append(f'''    Proc {{
        oid: {oid},
        name: {q(name)},
        kind: {q(kind)},
        retset: {str(retset).lower()},
        volatile: {q(vol)},
        strict: {str(strict).lower()},
        parallel: {q(parallel)},
        variadic: {variadic},
        result_type: {retoid},
        arg_types: &[{", ".join(str(a) for a in argoids)}],
        src: {q(src)},
        result: {q(res)},
        arguments: {q(args)},
        description: {"None" if desc is None else "Some(" + q(desc) + ")"},
    }},''')
out.append('];\n')
open("src/catalog/pg_proc.rs", "w").write("\n".join(out))
