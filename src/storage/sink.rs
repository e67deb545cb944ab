//! What a Kafka sink writes, independent of Kafka: the encoding of rows
//! (Materialize's JSON here, its Avro in [`crate::storage::avro_sink`]),
//! the envelopes, and [`SinkState`], the sink's contents in encoded form,
//! which turns a timestamp's changes into messages and brings a topic read
//! back from Kafka up to date.
//!
//! Everything here works on encoded bytes, so what the sink computes from
//! the view and what it reads back from its topic compare directly: the
//! encodings are deterministic (JSON: columns in order, `serde_json` keeps
//! number text and object order; Avro: a datum has one binary form), and
//! re-serialising a parsed message gives the bytes that were sent. A
//! [`MessageCodec`] turns the encodings [`SinkState`] keeps into messages
//! (the identity for JSON; for Avro the Confluent framing and the Debezium
//! envelope record) and back.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::avro_sink::{AvroEncoder, AvroSinkSpec, DebeziumRows};
use crate::repr::{Datum, Diff, RelationDesc, Row, strconv};

/// The envelope of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// The latest value per key; a tombstone (null value) for a deleted key.
    Upsert,
    /// `{"before": row | null, "after": row | null}`.
    Debezium,
}

/// A datum as JSON, following Materialize's JSON sink encoding: integers as
/// numbers, `numeric` as a string of its decimal text, `timestamp` and
/// `timestamptz` as a string of milliseconds since the Unix epoch, `jsonb`
/// embedded as JSON, arrays as JSON arrays of their elements, and every
/// other type as a string of its text form.
/// Finite floats are numbers (as Materialize's encoder writes them); NaN and
/// infinities, which JSON cannot hold, are their text.
pub fn datum_json(datum: &Datum) -> Value {
    match datum {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int16(v) => Value::from(*v),
        Datum::Int32(v) => Value::from(*v),
        Datum::Int64(v) => Value::from(*v),
        Datum::Float32(_) | Datum::Float64(_) => {
            let text = strconv::format(datum).unwrap_or_default();
            match text.parse::<serde_json::Number>() {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(text),
            }
        }
        Datum::Timestamp(micros) | Datum::TimestampTz(micros) => {
            Value::String(micros.div_euclid(1000).to_string())
        }
        Datum::Jsonb(text) | Datum::Json(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        Datum::Array(elements) => Value::Array(elements.iter().map(datum_json).collect()),
        other => Value::String(strconv::format(other).unwrap_or_default()),
    }
}

/// One change in encoded form: `(key, row, diff)`.
pub type EncodedChange = (Vec<u8>, Vec<u8>, i64);

/// How messages are made from the encodings a [`SinkState`] keeps (rows and
/// keys) and taken apart again when a topic is read back.
#[derive(Debug, Clone, Default)]
pub enum MessageCodec {
    /// JSON: a key is the message key, a row the upsert value, and a
    /// Debezium value is `{"before": row | null, "after": row | null}`.
    #[default]
    Json,
    /// Avro datums in the Confluent wire format.
    Avro(Arc<AvroEncoder>),
}

impl MessageCodec {
    /// The message key for the key encoding `key`.
    fn key_message(&self, key: &[u8]) -> Vec<u8> {
        match self {
            MessageCodec::Json => key.to_vec(),
            MessageCodec::Avro(a) => a.key_message(key),
        }
    }

    /// The key encoding of a message key.
    fn key_of(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            MessageCodec::Json => Ok(message.to_vec()),
            MessageCodec::Avro(a) => a.key_datum(message),
        }
    }

    /// The upsert message value for the row encoding `row`.
    fn upsert_message(&self, row: &[u8]) -> Vec<u8> {
        match self {
            MessageCodec::Json => row.to_vec(),
            MessageCodec::Avro(a) => a.upsert_message(row),
        }
    }

    /// The row encoding of an upsert message value.
    fn upsert_row(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            MessageCodec::Json => Ok(message.to_vec()),
            MessageCodec::Avro(a) => a.upsert_row(message),
        }
    }

    /// The Debezium message value for the row encodings `before` and
    /// `after`.
    fn debezium_message(
        &self,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
    ) -> Result<Vec<u8>, String> {
        match self {
            MessageCodec::Json => {
                let mut out = Vec::with_capacity(32);
                out.extend_from_slice(b"{\"before\":");
                out.extend_from_slice(before.unwrap_or(b"null"));
                out.extend_from_slice(b",\"after\":");
                out.extend_from_slice(after.unwrap_or(b"null"));
                out.push(b'}');
                Ok(out)
            }
            MessageCodec::Avro(a) => a.debezium_message(before, after),
        }
    }

    /// The row encodings `before` and `after` of a Debezium message value.
    fn debezium_rows(&self, message: &[u8]) -> Result<DebeziumRows, String> {
        match self {
            MessageCodec::Json => {
                let parsed: Value = serde_json::from_slice(message)
                    .map_err(|e| format!("a message that is not JSON: {e}"))?;
                let side = |field: &str| match parsed.get(field) {
                    Some(Value::Null) => Ok(None),
                    Some(row) => Ok(Some(row.to_string().into_bytes())),
                    None => Err(format!("a Debezium message without \"{field}\"")),
                };
                Ok((side("before")?, side("after")?))
            }
            MessageCodec::Avro(a) => a.debezium_rows(message),
        }
    }
}

/// Encodes rows of one relation: the value (every column) and the key (the
/// key columns): JSON objects with the column names in order, or Avro
/// records.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    names: Vec<String>,
    key: Option<Vec<usize>>,
    codec: MessageCodec,
}

impl RowEncoder {
    /// A JSON encoder for rows of `desc`, keyed by the columns `key`.
    pub fn new(desc: &RelationDesc, key: Option<Vec<usize>>) -> RowEncoder {
        RowEncoder {
            names: desc.columns.iter().map(|c| c.name.clone()).collect(),
            key,
            codec: MessageCodec::Json,
        }
    }

    /// An Avro encoder for rows of `desc`, keyed by the columns `key`.
    pub fn avro(desc: &RelationDesc, key: Option<Vec<usize>>, avro: AvroEncoder) -> RowEncoder {
        RowEncoder {
            codec: MessageCodec::Avro(Arc::new(avro)),
            ..RowEncoder::new(desc, key)
        }
    }

    /// Whether messages have a key.
    pub fn keyed(&self) -> bool {
        self.key.is_some()
    }

    /// How messages are made from this encoder's encodings.
    pub fn codec(&self) -> MessageCodec {
        self.codec.clone()
    }

    fn object(&self, row: &Row, columns: impl Iterator<Item = usize>) -> Vec<u8> {
        let mut map = serde_json::Map::new();
        for i in columns {
            let datum = row.get(i).unwrap_or(Datum::Null);
            map.insert(self.names[i].clone(), datum_json(&datum));
        }
        Value::Object(map).to_string().into_bytes()
    }

    /// Encodes changes: `(key, row, diff)`, the key empty without `KEY`. An
    /// error for a row that cannot be encoded (an Avro column holding a
    /// value its type does not allow).
    pub fn encode(&self, changes: &[(Row, Diff)]) -> Result<Vec<EncodedChange>, String> {
        let (keys, rows) = match &self.codec {
            MessageCodec::Json => {
                let rows = changes
                    .iter()
                    .map(|(row, _)| self.object(row, 0..self.names.len()))
                    .collect::<Vec<_>>();
                let keys = changes
                    .iter()
                    .map(|(row, _)| match &self.key {
                        Some(k) => self.object(row, k.iter().copied()),
                        None => Vec::new(),
                    })
                    .collect::<Vec<_>>();
                (keys, rows)
            }
            MessageCodec::Avro(a) => (
                a.keys(changes.iter().map(|(r, _)| r))?,
                a.rows(changes.iter().map(|(r, _)| r))?,
            ),
        };
        Ok(keys
            .into_iter()
            .zip(rows)
            .zip(changes)
            .map(|((k, v), (_, d))| (k, v, *d))
            .collect())
    }
}

/// How a sink encodes rows.
#[derive(Debug, Clone)]
pub enum SinkEncoding {
    /// JSON.
    Json(RowEncoder),
    /// Avro, with schemas the thread registers before it writes, unless
    /// their ids are known.
    Avro(Box<AvroSinkSpec>),
}

impl SinkEncoding {
    /// The row encoder (for Avro, once the schemas are registered).
    pub fn encoder(&self, topic: &str) -> Result<RowEncoder, String> {
        match self {
            SinkEncoding::Json(e) => Ok(e.clone()),
            SinkEncoding::Avro(spec) => spec.encoder(topic),
        }
    }
}

/// One message for the sink's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkMessage {
    /// The key, if the sink has one.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The bytes whose hash picks the partition: the key, or (without a
    /// key) the row, so a row's insertion and deletion share a partition
    /// and stay in order.
    pub partition_by: Vec<u8>,
}

/// Encoded rows with multiplicities, grouped by encoded key (one group, the
/// empty key, without `KEY`).
pub type Groups = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, i64>>;

/// A sink's contents, encoded, and the messages that move a topic from one
/// state of them to another.
///
/// # Invariants
///
/// No group is empty and no multiplicity is zero.
#[derive(Debug, Clone)]
pub struct SinkState {
    envelope: Envelope,
    keyed: bool,
    codec: MessageCodec,
    groups: Groups,
}

fn add(groups: &mut Groups, key: &[u8], value: &[u8], diff: i64) {
    let group = groups.entry(key.to_vec()).or_default();
    let count = group.entry(value.to_vec()).or_default();
    *count += diff;
    if *count == 0 {
        group.remove(value);
    }
    if group.is_empty() {
        groups.remove(key);
    }
}

/// The value an upsert topic holds for a group: with a unique key the one
/// row; otherwise (a key declared `NOT ENFORCED` that is not unique) the
/// greatest, so the choice is deterministic.
fn upsert_value(group: Option<&BTreeMap<Vec<u8>, i64>>) -> Option<&Vec<u8>> {
    group?.iter().rev().find(|(_, n)| **n > 0).map(|(v, _)| v)
}

impl SinkState {
    /// An empty sink whose messages `codec` makes.
    pub fn new(envelope: Envelope, keyed: bool, codec: MessageCodec) -> SinkState {
        SinkState {
            envelope,
            keyed,
            codec,
            groups: Groups::new(),
        }
    }

    /// The contents.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// The messages that move a topic holding `from` (one group) to `to`.
    fn group_messages(
        &self,
        key: &[u8],
        from: Option<&BTreeMap<Vec<u8>, i64>>,
        to: Option<&BTreeMap<Vec<u8>, i64>>,
        out: &mut Vec<SinkMessage>,
    ) -> Result<(), String> {
        let message_key = self.keyed.then(|| self.codec.key_message(key));
        match self.envelope {
            Envelope::Upsert => {
                let (old, new) = (upsert_value(from), upsert_value(to));
                if old != new {
                    out.push(SinkMessage {
                        partition_by: message_key.clone().unwrap_or_default(),
                        key: message_key,
                        value: new.map(|v| self.codec.upsert_message(v)),
                    });
                }
            }
            Envelope::Debezium => {
                let empty = BTreeMap::new();
                let (from, to) = (from.unwrap_or(&empty), to.unwrap_or(&empty));
                let mut deleted = Vec::new();
                let mut inserted = Vec::new();
                for (row, n) in from {
                    let left = n - to.get(row).copied().unwrap_or(0);
                    deleted.extend((0..left).map(|_| row));
                }
                for (row, n) in to {
                    let left = n - from.get(row).copied().unwrap_or(0);
                    inserted.extend((0..left).map(|_| row));
                }
                // With a key, a deletion and an insertion of one key at one
                // time are an update; without one there are no updates.
                let paired = if self.keyed {
                    deleted.len().min(inserted.len())
                } else {
                    0
                };
                let message = |before: Option<&Vec<u8>>, after: Option<&Vec<u8>>| {
                    Ok::<_, String>(SinkMessage {
                        key: message_key.clone(),
                        value: Some(self.codec.debezium_message(
                            before.map(|b| b.as_slice()),
                            after.map(|a| a.as_slice()),
                        )?),
                        partition_by: match &message_key {
                            Some(k) => k.clone(),
                            None => before.or(after).cloned().unwrap_or_default(),
                        },
                    })
                };
                for i in 0..paired {
                    out.push(message(Some(deleted[i]), Some(inserted[i]))?);
                }
                for d in &deleted[paired..] {
                    out.push(message(Some(d), None)?);
                }
                for i in &inserted[paired..] {
                    out.push(message(None, Some(i))?);
                }
            }
        }
        Ok(())
    }

    /// Applies one timestamp's changes, `(key, value, diff)` encoded, and
    /// returns the messages that describe them. An error (a row encoding
    /// the codec cannot read, which is a bug) leaves the state part-applied:
    /// the sink stops.
    pub fn apply(&mut self, changes: &[EncodedChange]) -> Result<Vec<SinkMessage>, String> {
        // The changes per key, consolidated.
        let mut delta = Groups::new();
        for (k, v, d) in changes {
            add(&mut delta, k, v, *d);
        }
        let mut out = Vec::new();
        for (key, rows) in &delta {
            match self.envelope {
                Envelope::Upsert => {
                    let before = self.groups.get(key).cloned();
                    for (v, d) in rows {
                        add(&mut self.groups, key, v, *d);
                    }
                    let after = self.groups.get(key).cloned();
                    self.group_messages(key, before.as_ref(), after.as_ref(), &mut out)?;
                }
                Envelope::Debezium => {
                    // Consolidated, a row is only deleted or only inserted:
                    // the deleted rows and the inserted rows are enough.
                    let removed: BTreeMap<Vec<u8>, i64> = rows
                        .iter()
                        .filter(|(_, d)| **d < 0)
                        .map(|(v, d)| (v.clone(), -d))
                        .collect();
                    let added: BTreeMap<Vec<u8>, i64> = rows
                        .iter()
                        .filter(|(_, d)| **d > 0)
                        .map(|(v, d)| (v.clone(), *d))
                        .collect();
                    self.group_messages(key, Some(&removed), Some(&added), &mut out)?;
                    for (v, d) in rows {
                        add(&mut self.groups, key, v, *d);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The messages that bring a topic whose messages add up to `topic`
    /// (see [`TopicReader`]) to this state.
    pub fn resync(&self, topic: &Groups) -> Result<Vec<SinkMessage>, String> {
        let mut out = Vec::new();
        let mut keys: Vec<&Vec<u8>> = topic.keys().chain(self.groups.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            self.group_messages(key, topic.get(key), self.groups.get(key), &mut out)?;
        }
        Ok(out)
    }
}

/// Rebuilds the contents a topic's messages describe, message by message,
/// in the sink's encoding.
#[derive(Debug)]
pub struct TopicReader {
    envelope: Envelope,
    keyed: bool,
    codec: MessageCodec,
    /// The contents so far.
    pub groups: Groups,
}

impl TopicReader {
    /// An empty topic whose messages `codec` takes apart.
    pub fn new(envelope: Envelope, keyed: bool, codec: MessageCodec) -> TopicReader {
        TopicReader {
            envelope,
            keyed,
            codec,
            groups: Groups::new(),
        }
    }

    /// Applies one message; an error for one this sink could not have
    /// written.
    pub fn apply(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<(), String> {
        let group: Vec<u8> = if self.keyed {
            self.codec.key_of(key.ok_or("a message without a key")?)?
        } else {
            Vec::new()
        };
        match self.envelope {
            Envelope::Upsert => {
                let row = value.map(|v| self.codec.upsert_row(v)).transpose()?;
                self.groups.remove(&group);
                if let Some(row) = row {
                    self.groups.entry(group).or_default().insert(row, 1);
                }
            }
            Envelope::Debezium => {
                let value = value.ok_or("a Debezium message without a value")?;
                let (before, after) = self.codec.debezium_rows(value)?;
                if let Some(row) = before {
                    add(&mut self.groups, &group, &row, -1);
                }
                if let Some(row) = after {
                    add(&mut self.groups, &group, &row, 1);
                }
            }
        }
        Ok(())
    }
}

/// Kafka's default partitioner hash (`Utils.murmur2` of the Java client), so
/// keys land where Java producers would put them.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition for a message, as Kafka's default partitioner picks it.
pub fn partition_for(partition_by: &[u8], partitions: i32) -> i32 {
    (murmur2(partition_by) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::{ColumnDesc, ScalarType};

    fn desc(names: &[&str]) -> RelationDesc {
        RelationDesc {
            columns: names
                .iter()
                .map(|n| ColumnDesc {
                    name: n.to_string(),
                    typ: ScalarType::Text,
                    nullable: true,
                })
                .collect(),
        }
    }

    #[test]
    fn murmur2_matches_kafka() {
        // Test vectors from Kafka's `UtilsTest.testMurmur2`.
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            ("abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn json_encoding_follows_materialize() {
        let d = desc(&["i", "f", "n", "ts", "j", "t", "b", "z"]);
        let row = Row::new(vec![
            Datum::Int64(-7),
            Datum::f64(1.5),
            Datum::Numeric("12.50".parse().unwrap()),
            Datum::Timestamp(1_700_000_000_123_456),
            Datum::Jsonb(r#"{"a": [1, 2.50]}"#.into()),
            Datum::String("q\"t".into()),
            Datum::Bool(true),
            Datum::Null,
        ]);
        let enc = RowEncoder::new(&d, Some(vec![5, 0]));
        let (key, value, diff) = enc.encode(&[(row, 1)]).unwrap().remove(0);
        assert_eq!(diff, 1);
        assert_eq!(
            String::from_utf8(value).unwrap(),
            r#"{"i":-7,"f":1.5,"n":"12.50","ts":"1700000000123","j":{"a":[1,2.50]},"t":"q\"t","b":true,"z":null}"#
        );
        assert_eq!(String::from_utf8(key).unwrap(), r#"{"t":"q\"t","i":-7}"#);
        assert_eq!(
            datum_json(&Datum::f64(f64::NAN)),
            Value::String("NaN".into())
        );
    }

    fn change(k: &str, v: &str, d: i64) -> (Vec<u8>, Vec<u8>, i64) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec(), d)
    }

    fn text(m: &SinkMessage) -> (Option<String>, Option<String>) {
        (
            m.key.clone().map(|k| String::from_utf8(k).unwrap()),
            m.value.clone().map(|v| String::from_utf8(v).unwrap()),
        )
    }

    #[test]
    fn upsert_emits_new_values_and_tombstones() {
        let mut s = SinkState::new(Envelope::Upsert, true, MessageCodec::Json);
        let m = s
            .apply(&[change("1", "a", 1), change("2", "b", 1)])
            .unwrap();
        assert_eq!(m.len(), 2);
        let m = s
            .apply(&[
                change("1", "a", -1),
                change("1", "c", 1),
                change("2", "b", -1),
            ])
            .unwrap();
        let m: Vec<_> = m.iter().map(text).collect();
        assert_eq!(
            m,
            [
                (Some("1".into()), Some("c".into())),
                (Some("2".into()), None)
            ]
        );
        // An unchanged value emits nothing.
        assert!(
            s.apply(&[change("1", "c", -1), change("1", "c", 1)])
                .unwrap()
                .is_empty()
        );
    }

    /// The encoder of rows `(k integer, v bigint, t text NULL)`, keyed by
    /// `k` if `keyed`: JSON, or Avro with made-up schema ids.
    fn encoder(keyed: bool, envelope: Envelope, avro: bool) -> RowEncoder {
        use crate::repr::{ColumnDesc, ScalarType};
        use crate::storage::avro_sink::{SchemaIds, sink_schemas};
        let column = |name: &str, typ, nullable| ColumnDesc {
            name: name.into(),
            typ,
            nullable,
        };
        let desc = RelationDesc {
            columns: vec![
                column("k", ScalarType::Int32, false),
                column("v", ScalarType::Int64, false),
                column("t", ScalarType::Text, true),
            ],
        };
        let key = keyed.then(|| vec![0]);
        if !avro {
            return RowEncoder::new(&desc, key);
        }
        let schemas = sink_schemas(
            &desc,
            key.as_deref(),
            envelope == Envelope::Debezium,
            None,
            None,
        )
        .unwrap();
        let ids = SchemaIds {
            key: keyed.then_some(7),
            value: 8,
        };
        RowEncoder::avro(&desc, key, AvroEncoder::new(schemas, ids).unwrap())
    }

    /// Replaying a topic's messages through a [`TopicReader`] gives the
    /// state that wrote them, and `resync` from any topic state reaches it,
    /// in JSON and in Avro.
    #[test]
    fn messages_replay_to_the_state_and_resync_converges() {
        for avro in [false, true] {
            for (envelope, keyed) in [
                (Envelope::Upsert, true),
                (Envelope::Debezium, true),
                (Envelope::Debezium, false),
            ] {
                let what = format!("{envelope:?} keyed {keyed} avro {avro}");
                let enc = encoder(keyed, envelope, avro);
                let mut s = SinkState::new(envelope, keyed, enc.codec());
                let mut reader = TopicReader::new(envelope, keyed, enc.codec());
                let mut stale = None;
                let row = |i: i64| {
                    let t = if i % 3 == 0 {
                        Datum::Null
                    } else {
                        Datum::String(format!("t{i}"))
                    };
                    Row::new(vec![Datum::Int32((i % 5) as i32), Datum::Int64(i), t])
                };
                for step in 0..40i64 {
                    let mut changes = vec![(row(step), 1)];
                    if step >= 5 {
                        changes.push((row(step - 5), -1));
                    }
                    let encoded = enc.encode(&changes).unwrap();
                    for m in s.apply(&encoded).unwrap() {
                        if avro && let Some(v) = &m.value {
                            assert_eq!(v[..1], [0], "{what}: the magic byte");
                        }
                        reader.apply(m.key.as_deref(), m.value.as_deref()).unwrap();
                    }
                    assert_eq!(&reader.groups, s.groups(), "{what} step {step}");
                    if step == 20 {
                        stale = Some(reader.groups.clone());
                    }
                }
                // A topic left behind at step 20 catches up with one resync.
                let stale = stale.unwrap();
                let mut behind = TopicReader::new(envelope, keyed, enc.codec());
                behind.groups = stale.clone();
                for m in s.resync(&stale).unwrap() {
                    behind.apply(m.key.as_deref(), m.value.as_deref()).unwrap();
                }
                assert_eq!(&behind.groups, s.groups(), "{what} resync");
                assert!(s.resync(s.groups()).unwrap().is_empty());
                // A message this sink could not have written is refused.
                let alien = if avro {
                    b"{}".to_vec()
                } else {
                    b"nope".to_vec()
                };
                let alien_key = keyed.then_some(alien.as_slice());
                if avro || envelope == Envelope::Debezium {
                    assert!(
                        reader
                            .apply(alien_key.or(Some(b"k")), Some(&alien))
                            .is_err(),
                        "{what}"
                    );
                }
            }
        }
    }

    #[test]
    fn debezium_pairs_updates_by_key() {
        let mut s = SinkState::new(Envelope::Debezium, true, MessageCodec::Json);
        s.apply(&[change("k", "1", 1)]).unwrap();
        let m: Vec<_> = s
            .apply(&[change("k", "1", -1), change("k", "2", 1)])
            .unwrap()
            .iter()
            .map(text)
            .collect();
        assert_eq!(
            m,
            [(Some("k".into()), Some(r#"{"before":1,"after":2}"#.into()))]
        );
    }
}
