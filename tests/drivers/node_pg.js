// node-postgres (`pg`) against a server: its start-up, parameters (sent
// as text, untyped), types out in text and binary result format,
// transactions with savepoints, errors with SQLSTATE, named prepared
// statements, and a cursor read through DECLARE/FETCH.
//
// Run by tests/drivers.rs against Freshet (with --freshet, which adds a
// maintained view and SUBSCRIBE through DECLARE/FETCH). The same script,
// without --freshet, passes against PostgreSQL 15: that is how its
// expected values were checked.
//
//     NODE_PATH=<dir with pg> node tests/drivers/node_pg.js --port 6875 [--freshet]
//
// Each check prints one line ("ok    name" or "FAIL  name"); the exit
// status is the number of failures.

"use strict";

const assert = require("node:assert/strict");
const { Client } = require("pg");

const args = process.argv.slice(2);
const port = Number(args[args.indexOf("--port") + 1]);
const freshet = args.includes("--freshet");
const config = { host: "127.0.0.1", port, user: "freshet", database: "postgres" };

const failures = [];
const checks = [];
function check(name, body) {
  checks.push([name, body]);
}

async function connect() {
  const c = new Client(config);
  await c.connect();
  return c;
}

async function expectError(promise, code) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.code, code, `SQLSTATE of "${e.message}"`);
    return e;
  }
  assert.fail(`no error, want SQLSTATE ${code}`);
}

check("setup", async () => {
  const c = await connect();
  for (const t of ["node_types", "node_tx"]) await c.query(`DROP TABLE IF EXISTS ${t}`);
  await c.query(
    "CREATE TABLE node_types (a int NOT NULL, b text, c numeric(10,2), d timestamptz, " +
      "e jsonb, f bytea, g uuid, h date, i boolean, j float8, k bigint, l text[])",
  );
  await c.query("CREATE TABLE node_tx (id int NOT NULL, v text)");
  await c.end();
});

const ROW = [
  1,
  "x'y",
  "1.50",
  new Date(Date.UTC(2024, 0, 1, 12, 30)),
  { a: [1, 2] },
  Buffer.from([0, 1, 255]),
  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
  "2024-01-02",
  true,
  1.25,
  "9007199254740993",
  ["a", null, "b c"],
];

check("parameters in, every type out (text format)", async () => {
  const c = await connect();
  // node-postgres sends every parameter as text with no type (OID 0):
  // the server infers each one from its target column.
  const params = [...ROW];
  params[4] = JSON.stringify(params[4]);
  const ins = await c.query(
    "INSERT INTO node_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    params,
  );
  assert.equal(ins.rowCount, 1);
  assert.equal(ins.command, "INSERT");
  // Dates come back as text so that the check does not depend on the
  // machine's time zone.
  const res = await c.query({
    text: "SELECT a, b, c, d, e, f, g, h::text AS h, i, j, k, l FROM node_types WHERE a = $1",
    values: [1],
  });
  assert.deepEqual(
    res.fields.map((f) => [f.name, f.dataTypeID]),
    [
      ["a", 23], ["b", 25], ["c", 1700], ["d", 1184], ["e", 3802], ["f", 17],
      ["g", 2950], ["h", 25], ["i", 16], ["j", 701], ["k", 20], ["l", 1009],
    ],
  );
  assert.deepEqual(Object.values(res.rows[0]), ROW);
  // Row mode "array", NULLs, and an untyped parameter compared with text.
  const arr = await c.query({
    text: "SELECT NULL::int AS n, $1::text || 'b' AS s, 2 + $2::int AS t",
    values: ["a", "40"],
    rowMode: "array",
  });
  assert.deepEqual(arr.rows, [[null, "ab", 42]]);
  await c.end();
});

check("binary result format", async () => {
  const c = await connect();
  // `binary: true` asks for every result column in binary. Only types
  // node-postgres has sound binary parsers for are checked: its float8,
  // int2 and timestamptz parsers misread values (negative ones, for
  // int2), it reads NULL array elements as NaN, and it decodes types it
  // has no parser for as UTF-8 text, against PostgreSQL too.
  const res = await c.query({
    text: "SELECT a, b, i, k, ARRAY[a, 2, 3] AS arr FROM node_types WHERE a = $1",
    values: [1],
    binary: true,
  });
  const r = res.rows[0];
  assert.equal(r.a, 1);
  assert.equal(r.b, "x'y");
  assert.equal(r.i, true);
  assert.equal(String(r.k), "9007199254740993");
  assert.deepEqual(r.arr, [1, 2, 3]);
  assert.deepEqual(res.fields.map((f) => [f.dataTypeID, f.format]).slice(3), [[20, "binary"], [1007, "binary"]]);
  await c.end();
});

check("transactions and savepoints", async () => {
  const c = await connect();
  await c.query("BEGIN");
  await c.query("INSERT INTO node_tx VALUES (1, 'a'), (2, 'b')");
  await c.query("COMMIT");
  await c.query("BEGIN");
  await c.query("INSERT INTO node_tx VALUES (3, 'c')");
  await c.query("ROLLBACK");
  await c.query("BEGIN");
  await c.query("INSERT INTO node_tx VALUES (4, 'd')");
  await c.query("SAVEPOINT s1");
  await c.query("INSERT INTO node_tx VALUES (5, 'e')");
  await c.query("ROLLBACK TO SAVEPOINT s1");
  // A failed statement after a savepoint: rolling back to it recovers
  // the transaction.
  await c.query("SAVEPOINT s2");
  await expectError(c.query("INSERT INTO node_tx VALUES (1 / 0, 'f')"), "22012");
  await expectError(c.query("SELECT 1"), "25P02");
  await c.query("ROLLBACK TO SAVEPOINT s2");
  await c.query("INSERT INTO node_tx VALUES (6, 'f')");
  await c.query("COMMIT");
  const res = await c.query("SELECT id, v FROM node_tx ORDER BY id");
  assert.deepEqual(res.rows, [
    { id: 1, v: "a" },
    { id: 2, v: "b" },
    { id: 4, v: "d" },
    { id: 6, v: "f" },
  ]);
  await c.query("DELETE FROM node_tx WHERE id > 2");
  await c.end();
});

check("errors with SQLSTATE; the connection stays usable", async () => {
  const c = await connect();
  await expectError(c.query("SELECT 1 / 0"), "22012");
  await expectError(c.query("SELECT * FROM no_such_table"), "42P01");
  await expectError(c.query("SELECT no_such_column FROM node_tx"), "42703");
  await expectError(c.query("SELEC 1"), "42601");
  await expectError(c.query("SELECT $1::int", ["nope"]), "22P02");
  // An error inside a transaction fails it until ROLLBACK.
  await c.query("BEGIN");
  await expectError(c.query("SELECT 1 / 0"), "22012");
  await expectError(c.query("SELECT 1"), "25P02");
  await c.query("ROLLBACK");
  const res = await c.query("SELECT 1 AS one");
  assert.deepEqual(res.rows, [{ one: 1 }]);
  await c.end();
});

check("named prepared statements, run again with new parameters", async () => {
  const c = await connect();
  const q = (id) => ({ name: "node_by_id", text: "SELECT v FROM node_tx WHERE id = $1", values: [id] });
  assert.deepEqual((await c.query(q(1))).rows, [{ v: "a" }]);
  assert.deepEqual((await c.query(q(2))).rows, [{ v: "b" }]);
  assert.deepEqual((await c.query(q(9))).rows, []);
  const count = { name: "node_count", text: "SELECT count(*) AS n FROM node_tx WHERE id >= $1" };
  assert.deepEqual((await c.query({ ...count, values: [0] })).rows, [{ n: "2" }]);
  assert.deepEqual((await c.query({ ...count, values: [2] })).rows, [{ n: "1" }]);
  await c.end();
});

check("a cursor read through DECLARE and FETCH", async () => {
  const c = await connect();
  await c.query("BEGIN");
  await c.query("DECLARE node_cur CURSOR FOR SELECT id, v FROM node_tx ORDER BY id");
  assert.deepEqual((await c.query("FETCH 1 FROM node_cur")).rows, [{ id: 1, v: "a" }]);
  assert.deepEqual((await c.query("FETCH 10 FROM node_cur")).rows, [{ id: 2, v: "b" }]);
  assert.deepEqual((await c.query("FETCH 10 FROM node_cur")).rows, []);
  await c.query("CLOSE node_cur");
  await c.query("COMMIT");
  await c.end();
});

if (freshet) {
  check("a maintained view and SUBSCRIBE through DECLARE/FETCH", async () => {
    const c = await connect();
    await c.query("DROP MATERIALIZED VIEW IF EXISTS node_counts");
    await c.query("CREATE MATERIALIZED VIEW node_counts AS SELECT v, count(*) AS n FROM node_tx GROUP BY v");
    assert.deepEqual((await c.query("SELECT v, n FROM node_counts ORDER BY v")).rows, [
      { v: "a", n: "1" },
      { v: "b", n: "1" },
    ]);
    await c.query("BEGIN");
    await c.query("DECLARE node_sub CURSOR FOR SUBSCRIBE node_counts WITH (SNAPSHOT = false)");
    const w = await connect();
    await w.query("INSERT INTO node_tx VALUES (30, 'a')");
    await w.end();
    const res = await c.query("FETCH ALL node_sub WITH (timeout = '10s')");
    const changes = res.rows.map((r) => [r.mz_diff, r.v, r.n]).sort();
    assert.deepEqual(changes, [["-1", "a", "1"], ["1", "a", "2"]]);
    await c.query("ROLLBACK");
    await c.query("DELETE FROM node_tx WHERE id = 30");
    await c.query("DROP MATERIALIZED VIEW node_counts");
    await c.end();
  });
}

(async () => {
  for (const [name, body] of checks) {
    try {
      await body();
      console.log(`ok    ${name}`);
    } catch (e) {
      failures.push(name);
      console.log(`FAIL  ${name}\n${e && e.stack ? e.stack.split("\n").slice(0, 6).join("\n") : e}`);
    }
  }
  process.exit(failures.length);
})();
