#!/bin/sh
# Regenerates tests/fixtures/copy/*.out, the expected output of each
# tests/fixtures/copy/*.sql script run by psql, from a real PostgreSQL
# (tests/copy.rs runs the same scripts against Freshet and compares).
# usage: scripts/copy_expect.sh "host=127.0.0.1 port=15433 user=postgres"
set -eu
dsn=${1:?usage: scripts/copy_expect.sh "<libpq connection string of a PostgreSQL server>"}
cd "$(dirname "$0")/../tests/fixtures/copy"
for script in *.sql; do
    db=copy_expect_$$
    psql "$dsn dbname=postgres" -X -q -c "CREATE DATABASE $db" >/dev/null
    psql "$dsn dbname=$db" -X -q -f - < "$script" > "${script%.sql}.out" 2>&1 || true
    psql "$dsn dbname=postgres" -X -q -c "DROP DATABASE $db" >/dev/null
done
