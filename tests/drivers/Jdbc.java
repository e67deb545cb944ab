// The PostgreSQL JDBC driver (pgjdbc) against a server: its start-up
// queries, typed parameters through the extended protocol (text, and
// binary once statements are prepared on the server), every common type
// out, transactions with savepoints, errors with SQLSTATE, server-side
// prepared statements, streaming reads (fetch size: Execute with a row
// limit and PortalSuspended) and DatabaseMetaData.
//
// Run by tests/drivers.rs against Freshet (with --freshet, which adds a
// maintained view and SUBSCRIBE through DECLARE/FETCH). The same program,
// without --freshet, passes against PostgreSQL 15: that is how its
// expected values were checked.
//
//     java -cp /usr/share/java/postgresql.jar tests/drivers/Jdbc.java --port 6875 [--freshet]
//         [--user freshet] [--dbname postgres]
//
// Each check prints one line ("ok    name" or "FAIL  name"); the exit
// status is the number of failures.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Properties;
import java.util.UUID;

public class Jdbc {
    static String url;
    static String user = "freshet";
    static int failures = 0;

    interface Body {
        void run() throws Exception;
    }

    static void check(String name, Body body) {
        try {
            body.run();
            System.out.println("ok    " + name);
        } catch (Throwable e) {
            failures++;
            System.out.println("FAIL  " + name);
            e.printStackTrace(System.out);
        }
    }

    static void expect(Object got, Object want) {
        if (!Objects.deepEquals(got, want)) {
            throw new AssertionError("got " + show(got) + ", want " + show(want));
        }
    }

    static String show(Object o) {
        if (o instanceof Object[] a) return Arrays.deepToString(a);
        if (o instanceof byte[] b) return Arrays.toString(b);
        return String.valueOf(o);
    }

    /** A connection; {@code binary} makes pgjdbc prepare every statement
     * on the server and use binary transfer from its first execution. */
    static Connection connect(boolean binary) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        if (binary) p.setProperty("prepareThreshold", "-1");
        return DriverManager.getConnection(url, p);
    }

    static void expectError(String sqlstate, Body body) throws Exception {
        try {
            body.run();
        } catch (SQLException e) {
            expect(e.getSQLState(), sqlstate);
            return;
        }
        throw new AssertionError("no error, want SQLSTATE " + sqlstate);
    }

    static List<List<Object>> rows(ResultSet rs) throws SQLException {
        List<List<Object>> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            List<Object> row = new ArrayList<>();
            for (int i = 1; i <= n; i++) row.add(rs.getObject(i));
            out.add(row);
        }
        return out;
    }

    static final OffsetDateTime D = OffsetDateTime.of(2024, 1, 1, 12, 30, 0, 0, ZoneOffset.UTC);
    static final UUID G = UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");

    /** Inserts row {@code a} with typed parameters, reads it back with typed
     * getters, on a text-mode or a binary-mode connection. */
    static void typesRoundTrip(boolean binary, int a) throws Exception {
        try (Connection c = connect(binary)) {
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO jdbc_types VALUES (?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setInt(1, a);
                ps.setString(2, "x'y");
                ps.setBigDecimal(3, new BigDecimal("1.50"));
                ps.setObject(4, D);
                ps.setString(5, "{\"a\": [1, 2]}");
                ps.setBytes(6, new byte[] {0, 1, (byte) 255});
                ps.setObject(7, G);
                ps.setObject(8, LocalDate.of(2024, 1, 2));
                ps.setBoolean(9, true);
                ps.setDouble(10, 1.25);
                ps.setLong(11, 9007199254740993L);
                ps.setArray(12, c.createArrayOf("text", new String[] {"a", null, "b c"}));
                ps.setShort(13, (short) -7);
                ps.setFloat(14, 0.5f);
                expect(ps.executeUpdate(), 1);
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT * FROM jdbc_types WHERE a = ?")) {
                ps.setInt(1, a);
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    List<String> types = new ArrayList<>();
                    for (int i = 1; i <= md.getColumnCount(); i++) {
                        types.add(md.getColumnName(i) + ":" + md.getColumnTypeName(i));
                    }
                    expect(types, List.of("a:int4", "b:text", "c:numeric", "d:timestamptz", "e:jsonb",
                            "f:bytea", "g:uuid", "h:date", "i:bool", "j:float8", "k:int8", "l:_text",
                            "m:int2", "n:float4"));
                    expect(rs.next(), true);
                    expect(rs.getInt("a"), a);
                    expect(rs.getString("b"), "x'y");
                    expect(rs.getBigDecimal("c"), new BigDecimal("1.50"));
                    expect(rs.getObject("d", OffsetDateTime.class), D);
                    expect(rs.getTimestamp("d").getTime(), D.toInstant().toEpochMilli());
                    expect(rs.getString("e"), "{\"a\": [1, 2]}");
                    expect(rs.getBytes("f"), new byte[] {0, 1, (byte) 255});
                    expect(rs.getObject("g"), G);
                    expect(rs.getObject("h", LocalDate.class), LocalDate.of(2024, 1, 2));
                    expect(rs.getBoolean("i"), true);
                    expect(rs.getDouble("j"), 1.25);
                    expect(rs.getLong("k"), 9007199254740993L);
                    expect(rs.getArray("l").getArray(), new String[] {"a", null, "b c"});
                    expect(rs.getShort("m"), (short) -7);
                    expect(rs.getFloat("n"), 0.5f);
                    expect(rs.next(), false);
                }
            }
            // Typed parameters in expressions, and NULLs both ways.
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT ? + 1 AS i, ? || 'b' AS s, ?::numeric * 2 AS n, CAST(? AS bigint) AS b")) {
                ps.setInt(1, 41);
                ps.setString(2, "a");
                ps.setBigDecimal(3, new BigDecimal("1.25"));
                ps.setNull(4, java.sql.Types.BIGINT);
                try (ResultSet rs = ps.executeQuery()) {
                    expect(rows(rs), List.of(Arrays.asList(42, "ab", new BigDecimal("2.50"), null)));
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        List<String> argv = Arrays.asList(args);
        int port = Integer.parseInt(argv.get(argv.indexOf("--port") + 1));
        boolean freshet = argv.contains("--freshet");
        if (argv.contains("--user")) user = argv.get(argv.indexOf("--user") + 1);
        String dbname = argv.contains("--dbname") ? argv.get(argv.indexOf("--dbname") + 1) : "postgres";
        url = "jdbc:postgresql://127.0.0.1:" + port + "/" + dbname;

        check("setup", () -> {
            try (Connection c = connect(false); Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS jdbc_types");
                s.execute("DROP TABLE IF EXISTS jdbc_tx");
                s.execute("CREATE TABLE jdbc_types (a int NOT NULL, b text, c numeric(10,2), d timestamptz, "
                        + "e jsonb, f bytea, g uuid, h date, i boolean, j float8, k bigint, l text[], "
                        + "m smallint, n real)");
                s.execute("CREATE TABLE jdbc_tx (id int NOT NULL, v text)");
            }
        });

        check("typed parameters in, every type out (text transfer)", () -> typesRoundTrip(false, 1));
        check("typed parameters in, every type out (server-prepared, binary transfer)",
                () -> typesRoundTrip(true, 2));

        check("transactions and savepoints", () -> {
            try (Connection c = connect(false)) {
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_tx VALUES (?, ?)")) {
                    for (int i = 1; i <= 2; i++) {
                        ps.setInt(1, i);
                        ps.setString(2, i == 1 ? "a" : "b");
                        ps.addBatch();
                    }
                    expect(ps.executeBatch().length, 2);
                }
                c.commit();
                try (Statement s = c.createStatement()) {
                    s.executeUpdate("INSERT INTO jdbc_tx VALUES (3, 'c')");
                    c.rollback();
                    s.executeUpdate("INSERT INTO jdbc_tx VALUES (4, 'd')");
                    Savepoint sp = c.setSavepoint("sp1");
                    s.executeUpdate("INSERT INTO jdbc_tx VALUES (5, 'e')");
                    c.rollback(sp);
                    // A failed statement after a savepoint: rolling back to
                    // it recovers the transaction.
                    Savepoint sp2 = c.setSavepoint();
                    expectError("22012", () -> s.executeUpdate("INSERT INTO jdbc_tx VALUES (1 / 0, 'x')"));
                    expectError("25P02", () -> s.executeUpdate("INSERT INTO jdbc_tx VALUES (7, 'x')"));
                    c.rollback(sp2);
                    s.executeUpdate("INSERT INTO jdbc_tx VALUES (6, 'f')");
                    c.commit();
                    c.setAutoCommit(true);
                    try (ResultSet rs = s.executeQuery("SELECT id, v FROM jdbc_tx ORDER BY id")) {
                        expect(rows(rs), List.of(List.of(1, "a"), List.of(2, "b"), List.of(4, "d"), List.of(6, "f")));
                    }
                    s.executeUpdate("DELETE FROM jdbc_tx WHERE id > 2");
                }
            }
        });

        check("errors with SQLSTATE; the connection stays usable", () -> {
            try (Connection c = connect(false); Statement s = c.createStatement()) {
                expectError("22012", () -> s.executeQuery("SELECT 1 / 0"));
                expectError("42P01", () -> s.executeQuery("SELECT * FROM no_such_table"));
                expectError("42703", () -> s.executeQuery("SELECT no_such_column FROM jdbc_tx"));
                expectError("42601", () -> s.executeQuery("SELEC 1"));
                try (PreparedStatement ps = c.prepareStatement("SELECT CAST(? AS int)")) {
                    ps.setString(1, "nope");
                    expectError("22P02", ps::executeQuery);
                }
                try (ResultSet rs = s.executeQuery("SELECT 1")) {
                    expect(rows(rs), List.of(List.of(1)));
                }
            }
        });

        check("server-side prepared statements, run many times", () -> {
            try (Connection c = connect(false);
                    PreparedStatement ps = c.prepareStatement("SELECT v FROM jdbc_tx WHERE id = ?")) {
                // pgjdbc prepares the statement on the server from its fifth
                // execution on (prepareThreshold), and then binds it by name.
                for (int round = 0; round < 8; round++) {
                    ps.setInt(1, round % 3);
                    try (ResultSet rs = ps.executeQuery()) {
                        Object want = round % 3 == 0 ? List.of() : List.of(List.of(round % 3 == 1 ? "a" : "b"));
                        expect(rows(rs), want);
                    }
                }
            }
        });

        check("streaming read with a fetch size (portal suspended and resumed)", () -> {
            try (Connection c = connect(false)) {
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.setFetchSize(2);
                    try (ResultSet rs = s.executeQuery("SELECT x FROM (VALUES (3), (1), (2), (7), (5), (4), (6)) AS t (x) ORDER BY x")) {
                        expect(rows(rs), List.of(List.of(1), List.of(2), List.of(3), List.of(4), List.of(5),
                                List.of(6), List.of(7)));
                    }
                }
                c.commit();
            }
        });

        check("CopyManager: COPY FROM STDIN and COPY TO STDOUT", () -> {
            try (Connection c = connect(false)) {
                try (Statement s = c.createStatement()) {
                    s.execute("DROP TABLE IF EXISTS copy_jdbc");
                    s.execute("CREATE TABLE copy_jdbc (id int NOT NULL, name text)");
                }
                org.postgresql.copy.CopyManager cm =
                        c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
                long n = cm.copyIn("COPY copy_jdbc FROM STDIN (FORMAT csv)",
                        new java.io.StringReader("1,one\n2,\"t,wo\"\n3,\n"));
                expect(n, 3L);
                expectError("22P04", () -> cm.copyIn("COPY copy_jdbc FROM STDIN",
                        new java.io.StringReader("4\tfour\textra\n")));
                java.io.StringWriter out = new java.io.StringWriter();
                cm.copyOut("COPY (SELECT id, name FROM copy_jdbc ORDER BY id) TO STDOUT (FORMAT csv, HEADER)",
                        out);
                expect(out.toString(), "id,name\n1,one\n2,\"t,wo\"\n3,\n");
            }
        });

        check("DatabaseMetaData: tables and columns", () -> {
            try (Connection c = connect(false)) {
                DatabaseMetaData md = c.getMetaData();
                expect(md.getDatabaseProductName(), "PostgreSQL");
                List<String> tables = new ArrayList<>();
                try (ResultSet rs = md.getTables(null, "public", "jdbc_%", new String[] {"TABLE"})) {
                    while (rs.next()) tables.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE"));
                }
                expect(tables, List.of("jdbc_tx:TABLE", "jdbc_types:TABLE"));
                List<String> cols = new ArrayList<>();
                try (ResultSet rs = md.getColumns(null, "public", "jdbc_tx", null)) {
                    while (rs.next()) {
                        cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":"
                                + rs.getInt("DATA_TYPE") + ":" + rs.getString("IS_NULLABLE"));
                    }
                }
                expect(cols, List.of("id:int4:4:NO", "v:text:12:YES"));
            }
        });

        check("DatabaseMetaData: primary, imported and exported keys, index info", () -> {
            try (Connection c = connect(false); Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS jdbc_child");
                s.execute("DROP TABLE IF EXISTS jdbc_parent");
                s.execute("CREATE TABLE jdbc_parent (id int PRIMARY KEY, code text UNIQUE, a int, b int, "
                        + "CONSTRAINT jdbc_parent_ab UNIQUE (a, b))");
                s.execute("CREATE TABLE jdbc_child (cid int PRIMARY KEY, "
                        + "pid int REFERENCES jdbc_parent (id) ON DELETE CASCADE, x int, y int, "
                        + "CONSTRAINT jdbc_child_yx FOREIGN KEY (y, x) REFERENCES jdbc_parent (b, a) ON UPDATE SET NULL)");
                DatabaseMetaData md = c.getMetaData();
                List<String> pk = new ArrayList<>();
                try (ResultSet rs = md.getPrimaryKeys(null, "public", "jdbc_parent")) {
                    while (rs.next()) {
                        pk.add(rs.getString("TABLE_NAME") + ":" + rs.getString("COLUMN_NAME") + ":"
                                + rs.getShort("KEY_SEQ") + ":" + rs.getString("PK_NAME"));
                    }
                }
                expect(pk, List.of("jdbc_parent:id:1:jdbc_parent_pkey"));
                // Imported and exported keys: one row per column pair, in
                // the driver's order (referenced table, key name, position).
                List<String> want = List.of(
                        "jdbc_parent.b->jdbc_child.y:1:2:3:jdbc_child_yx:jdbc_parent_ab",
                        "jdbc_parent.a->jdbc_child.x:2:2:3:jdbc_child_yx:jdbc_parent_ab",
                        "jdbc_parent.id->jdbc_child.pid:1:3:0:jdbc_child_pid_fkey:jdbc_parent_pkey");
                for (boolean imported : new boolean[] {true, false}) {
                    List<String> keys = new ArrayList<>();
                    try (ResultSet rs = imported
                            ? md.getImportedKeys(null, "public", "jdbc_child")
                            : md.getExportedKeys(null, "public", "jdbc_parent")) {
                        while (rs.next()) {
                            keys.add(rs.getString("PKTABLE_NAME") + "." + rs.getString("PKCOLUMN_NAME") + "->"
                                    + rs.getString("FKTABLE_NAME") + "." + rs.getString("FKCOLUMN_NAME") + ":"
                                    + rs.getShort("KEY_SEQ") + ":" + rs.getShort("UPDATE_RULE") + ":"
                                    + rs.getShort("DELETE_RULE") + ":" + rs.getString("FK_NAME") + ":"
                                    + rs.getString("PK_NAME"));
                        }
                    }
                    // getExportedKeys orders by the referencing table, then
                    // key name and position: the same order here.
                    keys.sort(null);
                    List<String> sorted = new ArrayList<>(want);
                    sorted.sort(null);
                    expect(keys, sorted);
                }
                List<String> indexes = new ArrayList<>();
                try (ResultSet rs = md.getIndexInfo(null, "public", "jdbc_parent", false, false)) {
                    while (rs.next()) {
                        indexes.add(rs.getString("INDEX_NAME") + ":" + rs.getBoolean("NON_UNIQUE") + ":"
                                + rs.getShort("ORDINAL_POSITION") + ":" + rs.getString("COLUMN_NAME"));
                    }
                }
                expect(indexes, List.of("jdbc_parent_ab:false:1:a", "jdbc_parent_ab:false:2:b",
                        "jdbc_parent_code_key:false:1:code", "jdbc_parent_pkey:false:1:id"));
                s.execute("DROP TABLE jdbc_child");
                s.execute("DROP TABLE jdbc_parent");
            }
        });

        if (freshet) {
            check("a maintained view and SUBSCRIBE through DECLARE/FETCH", () -> {
                try (Connection c = connect(false); Statement s = c.createStatement()) {
                    s.execute("DROP MATERIALIZED VIEW IF EXISTS jdbc_counts");
                    s.execute("CREATE MATERIALIZED VIEW jdbc_counts AS SELECT v, count(*) AS n FROM jdbc_tx GROUP BY v");
                    try (ResultSet rs = s.executeQuery("SELECT v, n FROM jdbc_counts ORDER BY v")) {
                        expect(rows(rs), List.of(List.of("a", 1L), List.of("b", 1L)));
                    }
                    c.setAutoCommit(false);
                    s.execute("DECLARE jdbc_sub CURSOR FOR SUBSCRIBE jdbc_counts WITH (SNAPSHOT = false)");
                    try (Connection w = connect(false); Statement ws = w.createStatement()) {
                        ws.executeUpdate("INSERT INTO jdbc_tx VALUES (30, 'a')");
                    }
                    List<String> changes = new ArrayList<>();
                    try (ResultSet rs = s.executeQuery("FETCH ALL jdbc_sub WITH (timeout = '10s')")) {
                        while (rs.next()) {
                            changes.add(rs.getLong("mz_diff") + ":" + rs.getString("v") + ":" + rs.getLong("n"));
                        }
                    }
                    changes.sort(null);
                    expect(changes, List.of("-1:a:1", "1:a:2"));
                    c.rollback();
                    c.setAutoCommit(true);
                    s.executeUpdate("DELETE FROM jdbc_tx WHERE id = 30");
                    s.execute("DROP MATERIALIZED VIEW jdbc_counts");
                }
            });
        }

        System.exit(failures);
    }
}
