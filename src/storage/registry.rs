//! A client for a Confluent Schema Registry's REST API: the few calls a
//! source needs (the latest schema of a subject when the source is created,
//! a schema by id for each new writer schema while reading, and a cheap
//! request to validate a connection), and the one a sink needs (registering
//! the schemas it generates).
//!
//! The client is blocking (ureq): it runs on a source's ingestion thread or
//! a sink's thread, and at `CREATE` time inside `spawn_blocking`.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;

/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The resolved options of a `CONFLUENT SCHEMA REGISTRY` connection.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// The base URL (`http://host:8081`), without a trailing slash.
    pub url: String,
    /// Basic authentication: user name and password.
    pub auth: Option<(String, String)>,
}

impl fmt::Debug for RegistryConfig {
    // The password is a secret: never in logs or errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Why a registry request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The registry answered that the subject or schema id does not exist
    /// (HTTP 404): a definite answer.
    NotFound(String),
    /// The registry could not be reached, timed out, or answered with an
    /// error that may go away (5xx, 429, an authentication failure): worth
    /// retrying.
    Unavailable(String),
    /// The registry answered with something that is not what its API
    /// documents (a body that is not the expected JSON).
    Invalid(String),
    /// The registry refused a schema it was asked to register (HTTP 409,
    /// incompatible with the subject's earlier versions, or 422, invalid): a
    /// definite answer.
    Rejected(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::NotFound(m)
            | RegistryError::Unavailable(m)
            | RegistryError::Rejected(m) => write!(f, "{m}"),
            RegistryError::Invalid(m) => write!(f, "invalid schema registry response: {m}"),
        }
    }
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    /// Its global id (what the Confluent wire format carries).
    pub id: i32,
    /// The Avro schema, as JSON text.
    pub schema: String,
}

/// Where writer schemas come from while decoding: the registry, or a map
/// in unit tests.
pub trait SchemaLookup: Send + Sync + fmt::Debug {
    /// The schema (Avro JSON) with global id `id`.
    fn schema_by_id(&self, id: i32) -> Result<String, RegistryError>;
}

/// A blocking client of one registry.
#[derive(Clone)]
pub struct RegistryClient {
    config: RegistryConfig,
    agent: ureq::Agent,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("config", &self.config)
            .finish()
    }
}

/// Percent-encodes a path segment (a subject is a topic name and a suffix).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl RegistryClient {
    /// A client for `config`.
    pub fn new(config: RegistryConfig) -> RegistryClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            // Statuses are answers to interpret, not transport errors.
            .http_status_as_error(false)
            .build()
            .into();
        RegistryClient { config, agent }
    }

    /// `GET path`, parsed as JSON.
    fn get(&self, path: &str) -> Result<serde_json::Value, RegistryError> {
        self.call("GET", path, None)
    }

    /// `method path` (with `body`, JSON, for a `POST`), parsed as JSON.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<serde_json::Value, RegistryError> {
        let url = format!("{}{path}", self.config.url);
        let token = self.config.auth.as_ref().map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";
        let sent = match body {
            None => {
                let mut request = self.agent.get(&url).header("Accept", MEDIA_TYPE);
                if let Some(t) = &token {
                    request = request.header("Authorization", t);
                }
                request.call()
            }
            Some(body) => {
                let mut request = self
                    .agent
                    .post(&url)
                    .header("Accept", MEDIA_TYPE)
                    .header("Content-Type", MEDIA_TYPE);
                if let Some(t) = &token {
                    request = request.header("Authorization", t);
                }
                request.send(body)
            }
        };
        let mut response = sent.map_err(|e| {
            RegistryError::Unavailable(format!("cannot reach the schema registry at {url}: {e}"))
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| RegistryError::Unavailable(format!("reading {url}: {e}")))?;
        let message = || {
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str().map(str::to_string))
                })
                .unwrap_or_else(|| body.chars().take(200).collect())
        };
        match status {
            200..=299 => serde_json::from_str(&body)
                .map_err(|e| RegistryError::Invalid(format!("{method} {url}: {e}"))),
            404 => Err(RegistryError::NotFound(format!(
                "schema registry: {method} {url}: {}",
                message()
            ))),
            409 | 422 if method == "POST" => Err(RegistryError::Rejected(format!(
                "schema registry: {method} {url}: HTTP {status}: {}",
                message()
            ))),
            _ => Err(RegistryError::Unavailable(format!(
                "schema registry: {method} {url}: HTTP {status}: {}",
                message()
            ))),
        }
    }

    /// Checks that the registry answers (and accepts the credentials):
    /// `GET /subjects`.
    pub fn validate(&self) -> Result<(), RegistryError> {
        match self.get("/subjects")? {
            serde_json::Value::Array(_) => Ok(()),
            other => Err(RegistryError::Invalid(format!(
                "GET /subjects returned {other}, expected a list of subjects"
            ))),
        }
    }

    /// The latest schema of `subject`:
    /// `GET /subjects/{subject}/versions/latest`.
    pub fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let v = self.get(&format!(
            "/subjects/{}/versions/latest",
            encode_segment(subject)
        ))?;
        if let Some(kind) = v.get("schemaType").and_then(|t| t.as_str())
            && kind != "AVRO"
        {
            return Err(RegistryError::Invalid(format!(
                "subject \"{subject}\" holds a {kind} schema, not an Avro schema"
            )));
        }
        let id = v.get("id").and_then(|i| i.as_i64());
        let schema = v.get("schema").and_then(|s| s.as_str());
        match (id.and_then(|i| i32::try_from(i).ok()), schema) {
            (Some(id), Some(schema)) => Ok(RegisteredSchema {
                id,
                schema: schema.to_string(),
            }),
            _ => Err(RegistryError::Invalid(format!(
                "the latest version of subject \"{subject}\" has no \"id\" and \"schema\""
            ))),
        }
    }

    /// Registers `schema` (Avro JSON) under `subject` and returns its global
    /// id: `POST /subjects/{subject}/versions`. Registering a schema the
    /// subject already has returns its existing id, so this is idempotent.
    pub fn register(&self, subject: &str, schema: &str) -> Result<i32, RegistryError> {
        let body = serde_json::json!({ "schema": schema }).to_string();
        let v = self.call(
            "POST",
            &format!("/subjects/{}/versions", encode_segment(subject)),
            Some(&body),
        )?;
        v.get("id")
            .and_then(|i| i.as_i64())
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "registering a schema under subject \"{subject}\" returned {v}, without an \"id\""
                ))
            })
    }
}

impl SchemaLookup for RegistryClient {
    /// `GET /schemas/ids/{id}`.
    fn schema_by_id(&self, id: i32) -> Result<String, RegistryError> {
        let v = self.get(&format!("/schemas/ids/{id}"))?;
        if let Some(kind) = v.get("schemaType").and_then(|t| t.as_str())
            && kind != "AVRO"
        {
            return Err(RegistryError::NotFound(format!(
                "schema {id} is a {kind} schema, not an Avro schema"
            )));
        }
        v.get("schema")
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Invalid(format!("schema {id} has no \"schema\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_percent_encoded() {
        assert_eq!(
            encode_segment("pg.inventory_x-value"),
            "pg.inventory_x-value"
        );
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn unreachable_registry_is_unavailable() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let client = RegistryClient::new(RegistryConfig {
            url: format!("http://127.0.0.1:{port}"),
            auth: None,
        });
        assert!(matches!(
            client.validate(),
            Err(RegistryError::Unavailable(_))
        ));
    }
}
