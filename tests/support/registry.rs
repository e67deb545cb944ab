//! A stand-in for a Confluent Schema Registry, for tests: an HTTP/1.1 server on a free port
//! that serves the REST endpoints Freshet calls, with Confluent's response shapes
//! (`GET /subjects`, `GET /subjects/{subject}/versions/latest`, `GET /schemas/ids/{id}`,
//! `POST /subjects/{subject}/versions` with `{"schema": "..."}` answering `{"id": n}`, and
//! `{"error_code": …, "message": …}` errors). It records the paths it was asked for, can
//! require basic authentication, and can play an outage (every request answers 503).
//!
//! Also [`confluent_avro`]: a value in the Confluent wire format, as a Kafka Avro serializer
//! writes it; and [`decode`], which reads one as a Confluent consumer does (the writer schema
//! fetched by the id in the message), with [`row_texts`] to compare a decoded row with a
//! query's text output.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{DecimalSchema, RecordSchema};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use num_bigint::BigInt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Default)]
struct State {
    /// Schema ids of each subject's versions, oldest first.
    subjects: BTreeMap<String, Vec<i32>>,
    /// Schemas by id - 1.
    schemas: Vec<String>,
    /// Request paths, in order.
    requests: Vec<String>,
    /// Whether to answer every request with 503.
    down: bool,
    /// The expected `Authorization` header, if any.
    auth: Option<String>,
}

/// A running registry stand-in; stops when dropped.
pub struct SchemaRegistry {
    port: u16,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl SchemaRegistry {
    /// Starts serving on a free port of 127.0.0.1.
    pub async fn start() -> SchemaRegistry {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the registry port");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, state).await;
                });
            }
        });
        SchemaRegistry { port, state, task }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `CREATE CONNECTION csr` to this registry.
    pub fn connection_sql(&self) -> String {
        format!(
            "CREATE CONNECTION csr TO CONFLUENT SCHEMA REGISTRY (URL '{}')",
            self.url()
        )
    }

    /// Registers `schema` as the next version of `subject` and returns its id (an identical
    /// schema keeps its id, as in the real registry).
    pub fn register(&self, subject: &str, schema: &str) -> i32 {
        let mut state = self.state.lock().unwrap();
        register(&mut state, subject, schema)
            .unwrap_or_else(|e| panic!("registering an invalid schema: {e}"))
    }

    /// The schema (Avro JSON) with id `id`, as a consumer fetches it by the id in a message.
    pub fn schema_by_id(&self, id: i32) -> Option<String> {
        let state = self.state.lock().unwrap();
        usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| state.schemas.get(i).cloned())
    }

    /// The ids of `subject`'s versions, oldest first.
    pub fn versions(&self, subject: &str) -> Vec<i32> {
        let state = self.state.lock().unwrap();
        state.subjects.get(subject).cloned().unwrap_or_default()
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Makes every request fail with 503 (`true`) or serves again (`false`).
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Requires basic authentication with these credentials.
    pub fn require_auth(&self, user: &str, password: &str) {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.state.lock().unwrap().auth = Some(format!("Basic {token}"));
    }
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Registers `schema` as the next version of `subject`: its id, or why it is not a schema.
fn register(state: &mut State, subject: &str, schema: &str) -> Result<i32, String> {
    let canonical = Schema::parse_str(schema)
        .map_err(|e| e.to_string())?
        .canonical_form();
    let existing = state.schemas.iter().position(|s| {
        Schema::parse_str(s).map(|p| p.canonical_form()).ok() == Some(canonical.clone())
    });
    let id = match existing {
        Some(i) => i as i32 + 1,
        None => {
            state.schemas.push(schema.to_string());
            state.schemas.len() as i32
        }
    };
    let versions = state.subjects.entry(subject.to_string()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    Ok(id)
}

fn error(status: &'static str, code: u32, message: String) -> (&'static str, String) {
    (
        status,
        serde_json::json!({"error_code": code, "message": message}).to_string(),
    )
}

/// The response to a request (its head and body).
fn respond(head: &str, body: &[u8], state: &Mutex<State>) -> (&'static str, String) {
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let authorization = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_string())
    });
    let mut state = state.lock().unwrap();
    state.requests.push(path.to_string());
    if state.down {
        return error(
            "503 Service Unavailable",
            50003,
            "Error while forwarding the request to the leader".into(),
        );
    }
    if state.auth.is_some() && state.auth != authorization {
        return error("401 Unauthorized", 40101, "Unauthorized".into());
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if method == "POST" {
        let ["subjects", subject, "versions"] = segments.as_slice() else {
            return error("404 Not Found", 404, "HTTP 404 Not Found".into());
        };
        let subject = percent_decode(subject);
        let schema = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("schema")?.as_str().map(str::to_string));
        let Some(schema) = schema else {
            return error("422 Unprocessable Entity", 42201, "Invalid schema".into());
        };
        return match register(&mut state, &subject, &schema) {
            Ok(id) => ("200 OK", serde_json::json!({ "id": id }).to_string()),
            Err(e) => error(
                "422 Unprocessable Entity",
                42201,
                format!("Invalid schema {schema}: {e}"),
            ),
        };
    }
    if method != "GET" {
        return error(
            "405 Method Not Allowed",
            405,
            format!("{method} is not served"),
        );
    }
    match segments.as_slice() {
        ["subjects"] => (
            "200 OK",
            serde_json::json!(state.subjects.keys().collect::<Vec<_>>()).to_string(),
        ),
        ["subjects", subject, "versions", "latest"] => {
            let subject = percent_decode(subject);
            match state.subjects.get(&subject) {
                Some(versions) if !versions.is_empty() => {
                    let id = *versions.last().unwrap();
                    (
                        "200 OK",
                        serde_json::json!({
                            "subject": subject,
                            "version": versions.len(),
                            "id": id,
                            "schema": state.schemas[id as usize - 1],
                        })
                        .to_string(),
                    )
                }
                _ => error(
                    "404 Not Found",
                    40401,
                    format!("Subject '{subject}' not found."),
                ),
            }
        }
        ["schemas", "ids", id] => match id.parse::<usize>() {
            Ok(i) if i >= 1 && i <= state.schemas.len() => (
                "200 OK",
                serde_json::json!({"schema": state.schemas[i - 1]}).to_string(),
            ),
            _ => error("404 Not Found", 40403, format!("Schema {id} not found")),
        },
        _ => error("404 Not Found", 404, "HTTP 404 Not Found".into()),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves requests on one connection (keep-alive) until the client closes it.
async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(p) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end);
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buffer.len() < length {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let request_body: Vec<u8> = buffer.drain(..length).collect();
        let (status, body) = respond(&head, &request_body, &state);
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await?;
    }
}

/// `value` written with `schema` in the Confluent wire format: magic byte 0, the schema id
/// (4 bytes, big-endian), the Avro binary datum.
pub fn confluent_avro(id: i32, schema: &str, value: Value) -> Vec<u8> {
    let schema = Schema::parse_str(schema).expect("a valid schema");
    let datum = GenericDatumWriter::builder(&schema)
        .build()
        .expect("a datum writer")
        .write_value_to_vec(value)
        .unwrap_or_else(|e| panic!("the value does not match its schema: {e}"));
    let mut out = vec![0];
    out.extend(id.to_be_bytes());
    out.extend(datum);
    out
}

/// An Avro record value from `(field, value)` pairs.
pub fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The union branch `branch` holding `value`.
pub fn branch(branch: u32, value: Value) -> Value {
    Value::Union(branch, Box::new(value))
}

/// A null in a `["null", …]` union.
pub fn null() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

/// A message key or value decoded: the schema id it names and the datum, read with the
/// schema the registry holds under that id.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub id: i32,
    pub schema: Schema,
    pub value: Value,
}

/// Decodes a message part in the Confluent wire format with the writer schema from
/// `registry`.
pub fn decode(registry: &SchemaRegistry, bytes: &[u8]) -> Result<Decoded, String> {
    if bytes.len() < 5 || bytes[0] != 0 {
        return Err(format!("not the Confluent wire format: {bytes:?}"));
    }
    let id = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let text = registry
        .schema_by_id(id)
        .ok_or_else(|| format!("no schema with id {id} in the registry"))?;
    let schema = Schema::parse_str(&text).map_err(|e| e.to_string())?;
    let mut rest = &bytes[5..];
    let value = GenericDatumReader::builder(&schema)
        .build()
        .and_then(|r| r.read_value(&mut rest))
        .map_err(|e| format!("decoding with schema {id}: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the datum", rest.len()));
    }
    Ok(Decoded { id, schema, value })
}

/// The record schema of a row: the schema itself, or (a Debezium envelope) the record in
/// its `before` union.
pub fn row_schema(schema: &Schema) -> &RecordSchema {
    let Schema::Record(record) = schema else {
        panic!("not a record schema: {schema:?}")
    };
    if record.name.name() != "envelope"
        || record.fields.first().map(|f| f.name.as_str()) != Some("before")
    {
        return record;
    }
    let Schema::Union(union) = &record.fields[0].schema else {
        panic!("before is not a union")
    };
    match &union.variants()[1] {
        Schema::Record(row) => row,
        other => panic!("before holds {other:?}"),
    }
}

/// An unscaled decimal with `scale` as the simple query protocol prints it.
pub fn decimal_text(unscaled: &BigInt, scale: usize) -> String {
    let digits = unscaled.magnitude().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    let sign = if unscaled.sign() == num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    if scale == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// An Avro value as text, in the forms the tests' queries select: numbers and strings as
/// printed, decimals at their scale, timestamps as milliseconds since the epoch.
pub fn text(value: &Value, schema: &Schema) -> Option<String> {
    match (value, schema) {
        (Value::Union(_, inner), Schema::Union(union)) => {
            let non_null = union
                .variants()
                .iter()
                .find(|v| !matches!(v, Schema::Null))
                .expect("a non-null variant");
            text(inner, non_null)
        }
        (Value::Null, _) => None,
        (Value::Boolean(b), _) => Some(if *b { "t" } else { "f" }.into()),
        (Value::Int(i), _) => Some(i.to_string()),
        (Value::Long(l), _) => Some(l.to_string()),
        (Value::String(s), _) => Some(s.clone()),
        (Value::Decimal(d), Schema::Decimal(DecimalSchema { scale, .. })) => {
            let bytes = Vec::<u8>::try_from(d).expect("decimal bytes");
            Some(decimal_text(&BigInt::from_signed_bytes_be(&bytes), *scale))
        }
        (Value::TimestampMicros(t), _) => Some(t.div_euclid(1000).to_string()),
        (other, schema) => panic!("no text for {other:?} of {schema:?}"),
    }
}

/// A row record as texts, in field order.
pub fn row_texts(record: &Value, schema: &RecordSchema) -> Vec<Option<String>> {
    let Value::Record(fields) = record else {
        panic!("not a record: {record:?}")
    };
    fields
        .iter()
        .zip(&schema.fields)
        .map(|((_, v), f)| text(v, &f.schema))
        .collect()
}
