//! `INSERT`/`UPDATE`/`DELETE … RETURNING` over the wire, where
//! `sql-tests/dml_returning.slt` cannot look:
//!
//! * [`returning_with_parameters_and_binary_results`]: prepared statements
//!   with parameters through a PostgreSQL driver (`tokio-postgres`, which
//!   uses the extended protocol and binary results): Describe gives the
//!   `RETURNING` columns (none for plain DML), and the rows and counts
//!   come back.
//! * [`returning_sends_the_dml_command_tag`]: the CommandComplete tags,
//!   read off the wire in both protocols, are PostgreSQL's `INSERT 0 n`,
//!   `UPDATE n` and `DELETE n`, and Describe of a plain DML statement is
//!   NoData.

mod support;

use std::net::Ipv4Addr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::Type;

use support::{TestServer, expect_rows, text_rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_with_parameters_and_binary_results() {
    let server = TestServer::start("returning-extended").await;
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE items (id int NOT NULL, name text, qty int DEFAULT 5, price numeric(6,2) DEFAULT 1.5)",
    )
    .await
    .expect("table");

    let insert = c
        .prepare("INSERT INTO items (id, name) VALUES ($1, $2) RETURNING id, name, qty * 2 AS double, price")
        .await
        .expect("prepare INSERT ... RETURNING");
    assert_eq!(insert.params(), &[Type::INT4, Type::TEXT]);
    let columns: Vec<(&str, &Type)> = insert
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_()))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("id", &Type::INT4),
            ("name", &Type::TEXT),
            ("double", &Type::INT4),
            ("price", &Type::NUMERIC),
        ]
    );
    let rows = c
        .query(&insert, &[&7i32, &"seven"])
        .await
        .expect("INSERT ... RETURNING with parameters");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 7);
    assert_eq!(rows[0].get::<_, &str>(1), "seven");
    assert_eq!(rows[0].get::<_, i32>(2), 10);
    // `execute` counts the rows of the command tag.
    let n = c
        .execute(&insert, &[&8i32, &"eight"])
        .await
        .expect("INSERT ... RETURNING executed");
    assert_eq!(n, 1);

    let update = c
        .prepare("UPDATE items SET qty = qty + $1 WHERE id >= $2 RETURNING id, qty")
        .await
        .expect("prepare UPDATE ... RETURNING");
    assert_eq!(update.params(), &[Type::INT4, Type::INT4]);
    let mut rows: Vec<(i32, i32)> = c
        .query(&update, &[&100i32, &7i32])
        .await
        .expect("UPDATE ... RETURNING with parameters")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    rows.sort();
    assert_eq!(rows, vec![(7, 105), (8, 105)]);

    let delete = c
        .prepare("DELETE FROM items WHERE id = $1 RETURNING name")
        .await
        .expect("prepare DELETE ... RETURNING");
    let rows = c
        .query(&delete, &[&8i32])
        .await
        .expect("DELETE ... RETURNING with a parameter");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(0), "eight");

    // Plain DML describes no columns, and returns its count.
    // A parameter assigned whole takes its column's type.
    let plain = c
        .prepare("UPDATE items SET qty = $1, name = $2 WHERE id = $3")
        .await
        .expect("prepare UPDATE");
    assert!(plain.columns().is_empty());
    assert_eq!(plain.params(), &[Type::INT4, Type::TEXT, Type::INT4]);
    assert_eq!(
        c.execute(&plain, &[&42i32, &"renamed", &7i32])
            .await
            .expect("UPDATE"),
        1
    );

    assert_eq!(
        text_rows(&c, "SELECT id, name, qty, price FROM items").await,
        expect_rows(&[&["7", "renamed", "42", "1.50"]])
    );

    // RETURNING of UPDATE … FROM and DELETE … USING reads the other
    // list's columns; Describe gives them before the parameters have
    // values.
    c.batch_execute(
        "CREATE TABLE labels (id int, label text); INSERT INTO labels VALUES (7, 'lucky')",
    )
    .await
    .expect("labels");
    let update_from = c
        .prepare(
            "UPDATE items SET name = $1 || l.label FROM labels l WHERE items.id = l.id \
             RETURNING items.name, l.label, l.id + $2::int AS shifted",
        )
        .await
        .expect("prepare UPDATE … FROM … RETURNING");
    let columns: Vec<(&str, &Type)> = update_from
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_()))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("name", &Type::TEXT),
            ("label", &Type::TEXT),
            ("shifted", &Type::INT4),
        ]
    );
    let rows = c
        .query(&update_from, &[&"so ", &100i32])
        .await
        .expect("UPDATE … FROM … RETURNING with parameters");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(0), "so lucky");
    assert_eq!(rows[0].get::<_, &str>(1), "lucky");
    assert_eq!(rows[0].get::<_, i32>(2), 107);
    let delete_using = c
        .prepare("DELETE FROM items USING labels WHERE items.id = labels.id RETURNING *")
        .await
        .expect("prepare DELETE … USING … RETURNING *");
    assert_eq!(delete_using.columns().len(), 6);
    let rows = c
        .query(&delete_using, &[])
        .await
        .expect("DELETE … USING … RETURNING *");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, &str>(5), "lucky");
}

/// A raw protocol client: just enough to read the command tags.
struct Raw {
    stream: TcpStream,
}

/// A backend message: its type byte and body.
type Message = (u8, Vec<u8>);

impl Raw {
    async fn connect(port: u16) -> Raw {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("connect");
        let mut body = Vec::new();
        body.extend_from_slice(&196608i32.to_be_bytes());
        for s in ["user", "freshet", "database", "freshet", ""] {
            body.extend_from_slice(s.as_bytes());
            body.push(0);
        }
        let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        startup.extend(body);
        stream.write_all(&startup).await.expect("startup");
        let mut raw = Raw { stream };
        raw.until_ready().await;
        raw
    }

    async fn send(&mut self, kind: u8, body: &[u8]) {
        let mut message = vec![kind];
        message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        message.extend_from_slice(body);
        self.stream.write_all(&message).await.expect("send");
    }

    async fn read(&mut self) -> Message {
        let kind = self.stream.read_u8().await.expect("message type");
        let len = self.stream.read_i32().await.expect("message length");
        let mut body = vec![0; (len - 4) as usize];
        self.stream
            .read_exact(&mut body)
            .await
            .expect("message body");
        (kind, body)
    }

    /// The messages up to and including ReadyForQuery.
    async fn until_ready(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let m = self.read().await;
            let done = m.0 == b'Z';
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Runs `sql` as a simple query.
    async fn simple(&mut self, sql: &str) -> Vec<Message> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body).await;
        self.until_ready().await
    }

    /// Parse, Describe (statement), Bind (text parameters, binary results),
    /// Execute and Sync of `sql`.
    async fn extended(&mut self, sql: &str, params: &[&str]) -> Vec<Message> {
        let mut parse = vec![0u8];
        parse.extend_from_slice(sql.as_bytes());
        parse.extend_from_slice(&[0, 0, 0]);
        self.send(b'P', &parse).await;
        self.send(b'D', &[b'S', 0]).await;
        let mut bind = vec![0u8, 0u8];
        bind.extend_from_slice(&0i16.to_be_bytes());
        bind.extend_from_slice(&(params.len() as i16).to_be_bytes());
        for p in params {
            bind.extend_from_slice(&(p.len() as i32).to_be_bytes());
            bind.extend_from_slice(p.as_bytes());
        }
        bind.extend_from_slice(&1i16.to_be_bytes());
        bind.extend_from_slice(&1i16.to_be_bytes());
        self.send(b'B', &bind).await;
        let mut execute = vec![0u8];
        execute.extend_from_slice(&0i32.to_be_bytes());
        self.send(b'E', &execute).await;
        self.send(b'S', &[]).await;
        self.until_ready().await
    }
}

/// The message types, with each CommandComplete's tag and each
/// ErrorResponse's text: `T` RowDescription, `n` NoData, `D` DataRow, ...
fn summary(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|(kind, _)| !matches!(kind, b'1' | b'2' | b't' | b'Z'))
        .map(|(kind, body)| match kind {
            b'C' => format!("C {}", String::from_utf8_lossy(body).trim_end_matches('\0')),
            b'E' => format!("E {}", String::from_utf8_lossy(body)),
            other => (*other as char).to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_sends_the_dml_command_tag() {
    let server = TestServer::start("returning-tags").await;
    let mut raw = Raw::connect(server.port()).await;
    assert_eq!(
        summary(&raw.simple("CREATE TABLE tags (k int, v text)").await),
        vec!["C CREATE TABLE"]
    );

    // Simple protocol: RowDescription, the rows, the DML's tag.
    let cases = [
        (
            "INSERT INTO tags VALUES (1, 'a'), (2, 'b') RETURNING k",
            vec!["T", "D", "D", "C INSERT 0 2"],
        ),
        (
            "UPDATE tags SET v = v || '!' RETURNING v",
            vec!["T", "D", "D", "C UPDATE 2"],
        ),
        (
            "UPDATE tags SET v = 'x' WHERE k = 0 RETURNING v",
            vec!["T", "C UPDATE 0"],
        ),
        (
            "DELETE FROM tags WHERE k = 2 RETURNING *",
            vec!["T", "D", "C DELETE 1"],
        ),
        ("INSERT INTO tags VALUES (3, 'c')", vec!["C INSERT 0 1"]),
    ];
    for (sql, expected) in cases {
        assert_eq!(summary(&raw.simple(sql).await), expected, "{sql}");
    }

    // Extended protocol: ParameterDescription, then RowDescription for
    // RETURNING (NoData for plain DML), BindComplete, rows, the tag.
    let cases: [(&str, &[&str], Vec<&str>); 4] = [
        (
            "INSERT INTO tags VALUES ($1, $2) RETURNING k, v",
            &["4", "d"],
            vec!["T", "D", "C INSERT 0 1"],
        ),
        (
            "UPDATE tags SET v = $1 WHERE k >= $2 RETURNING k",
            &["z", "3"],
            vec!["T", "D", "D", "C UPDATE 2"],
        ),
        (
            "DELETE FROM tags WHERE k = $1 RETURNING v",
            &["4"],
            vec!["T", "D", "C DELETE 1"],
        ),
        (
            "DELETE FROM tags WHERE k = $1",
            &["1"],
            vec!["n", "C DELETE 1"],
        ),
    ];
    for (sql, params, expected) in cases {
        assert_eq!(summary(&raw.extended(sql, params).await), expected, "{sql}");
    }
    let c = server.connect().await;
    assert_eq!(
        text_rows(&c, "SELECT k, v FROM tags").await,
        expect_rows(&[&["3", "z"]])
    );
}
