//! What a Kafka sink writes, independent of Kafka: the JSON encoding of rows
//! (Materialize's), the envelopes, and [`SinkState`], the sink's contents
//! in encoded form, which turns a timestamp's changes into messages and
//! brings a topic read back from Kafka up to date.
//!
//! Everything here works on encoded bytes, so what the sink computes from
//! the view and what it reads back from its topic compare directly: the
//! encoding is deterministic (columns in order, `serde_json` keeps number
//! text and object order), and re-serialising a parsed message gives the
//! bytes that were sent.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::repr::{Datum, RelationDesc, Row, strconv};

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
/// embedded as JSON, and every other type as a string of its text form.
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
        Datum::Jsonb(text) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        other => Value::String(strconv::format(other).unwrap_or_default()),
    }
}

/// Encodes rows of one relation: the value (every column) and the key (the
/// key columns), each a JSON object with the column names in order.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    names: Vec<String>,
    key: Option<Vec<usize>>,
}

impl RowEncoder {
    /// An encoder for rows of `desc`, keyed by the columns `key`.
    pub fn new(desc: &RelationDesc, key: Option<Vec<usize>>) -> RowEncoder {
        RowEncoder {
            names: desc.columns.iter().map(|c| c.name.clone()).collect(),
            key,
        }
    }

    /// Whether messages have a key.
    pub fn keyed(&self) -> bool {
        self.key.is_some()
    }

    fn object(&self, row: &Row, columns: impl Iterator<Item = usize>) -> Vec<u8> {
        let mut map = serde_json::Map::new();
        for i in columns {
            let datum = row.get(i).unwrap_or(Datum::Null);
            map.insert(self.names[i].clone(), datum_json(&datum));
        }
        Value::Object(map).to_string().into_bytes()
    }

    /// The value: every column.
    pub fn value(&self, row: &Row) -> Vec<u8> {
        self.object(row, 0..self.names.len())
    }

    /// The key (empty without `KEY`).
    pub fn key(&self, row: &Row) -> Vec<u8> {
        match &self.key {
            Some(k) => self.object(row, k.iter().copied()),
            None => Vec::new(),
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

fn debezium_value(before: Option<&[u8]>, after: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"{\"before\":");
    out.extend_from_slice(before.unwrap_or(b"null"));
    out.extend_from_slice(b",\"after\":");
    out.extend_from_slice(after.unwrap_or(b"null"));
    out.push(b'}');
    out
}

impl SinkState {
    /// An empty sink.
    pub fn new(envelope: Envelope, keyed: bool) -> SinkState {
        SinkState {
            envelope,
            keyed,
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
    ) {
        let message_key = self.keyed.then(|| key.to_vec());
        match self.envelope {
            Envelope::Upsert => {
                let (old, new) = (upsert_value(from), upsert_value(to));
                if old != new {
                    out.push(SinkMessage {
                        key: message_key,
                        value: new.cloned(),
                        partition_by: key.to_vec(),
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
                let message = |before: Option<&Vec<u8>>, after: Option<&Vec<u8>>| SinkMessage {
                    key: message_key.clone(),
                    value: Some(debezium_value(
                        before.map(|b| b.as_slice()),
                        after.map(|a| a.as_slice()),
                    )),
                    partition_by: if self.keyed {
                        key.to_vec()
                    } else {
                        before.or(after).cloned().unwrap_or_default()
                    },
                };
                for i in 0..paired {
                    out.push(message(Some(deleted[i]), Some(inserted[i])));
                }
                for d in &deleted[paired..] {
                    out.push(message(Some(d), None));
                }
                for i in &inserted[paired..] {
                    out.push(message(None, Some(i)));
                }
            }
        }
    }

    /// Applies one timestamp's changes, `(key, value, diff)` encoded, and
    /// returns the messages that describe them.
    pub fn apply(&mut self, changes: &[(Vec<u8>, Vec<u8>, i64)]) -> Vec<SinkMessage> {
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
                    self.group_messages(key, before.as_ref(), after.as_ref(), &mut out);
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
                    self.group_messages(key, Some(&removed), Some(&added), &mut out);
                    for (v, d) in rows {
                        add(&mut self.groups, key, v, *d);
                    }
                }
            }
        }
        out
    }

    /// The messages that bring a topic whose messages add up to `topic`
    /// (see [`TopicReader`]) to this state.
    pub fn resync(&self, topic: &Groups) -> Vec<SinkMessage> {
        let mut out = Vec::new();
        let mut keys: Vec<&Vec<u8>> = topic.keys().chain(self.groups.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            self.group_messages(key, topic.get(key), self.groups.get(key), &mut out);
        }
        out
    }
}

/// Rebuilds the contents a topic's messages describe, message by message,
/// in the sink's encoding.
#[derive(Debug)]
pub struct TopicReader {
    envelope: Envelope,
    keyed: bool,
    /// The contents so far.
    pub groups: Groups,
}

impl TopicReader {
    /// An empty topic.
    pub fn new(envelope: Envelope, keyed: bool) -> TopicReader {
        TopicReader {
            envelope,
            keyed,
            groups: Groups::new(),
        }
    }

    /// Applies one message; an error for one this sink could not have
    /// written.
    pub fn apply(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<(), String> {
        let group: Vec<u8> = if self.keyed {
            key.ok_or("a message without a key")?.to_vec()
        } else {
            Vec::new()
        };
        match self.envelope {
            Envelope::Upsert => {
                self.groups.remove(&group);
                if let Some(v) = value {
                    self.groups.entry(group).or_default().insert(v.to_vec(), 1);
                }
            }
            Envelope::Debezium => {
                let value = value.ok_or("a Debezium message without a value")?;
                let parsed: Value = serde_json::from_slice(value)
                    .map_err(|e| format!("a message that is not JSON: {e}"))?;
                for (field, diff) in [("before", -1), ("after", 1)] {
                    match parsed.get(field) {
                        Some(Value::Null) => {}
                        Some(row) => {
                            add(&mut self.groups, &group, row.to_string().as_bytes(), diff)
                        }
                        None => return Err(format!("a Debezium message without \"{field}\"")),
                    }
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
        assert_eq!(
            String::from_utf8(enc.value(&row)).unwrap(),
            r#"{"i":-7,"f":1.5,"n":"12.50","ts":"1700000000123","j":{"a":[1,2.50]},"t":"q\"t","b":true,"z":null}"#
        );
        assert_eq!(
            String::from_utf8(enc.key(&row)).unwrap(),
            r#"{"t":"q\"t","i":-7}"#
        );
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
        let mut s = SinkState::new(Envelope::Upsert, true);
        let m = s.apply(&[change("1", "a", 1), change("2", "b", 1)]);
        assert_eq!(m.len(), 2);
        let m = s.apply(&[
            change("1", "a", -1),
            change("1", "c", 1),
            change("2", "b", -1),
        ]);
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
                .is_empty()
        );
    }

    /// Replaying a topic's messages through a [`TopicReader`] gives the
    /// state that wrote them, and `resync` from any topic state reaches it.
    #[test]
    fn messages_replay_to_the_state_and_resync_converges() {
        for (envelope, keyed) in [
            (Envelope::Upsert, true),
            (Envelope::Debezium, true),
            (Envelope::Debezium, false),
        ] {
            let mut s = SinkState::new(envelope, keyed);
            let mut reader = TopicReader::new(envelope, keyed);
            let mut stale = None;
            let rows = |i: i64| format!(r#"{{"k":{},"v":{}}}"#, i % 5, i);
            for step in 0..40i64 {
                let mut changes = vec![(format!(r#"{{"k":{}}}"#, step % 5), rows(step), 1)];
                if step >= 5 {
                    changes.push((format!(r#"{{"k":{}}}"#, (step - 5) % 5), rows(step - 5), -1));
                }
                let encoded: Vec<_> = changes
                    .iter()
                    .map(|(k, v, d)| {
                        let k = if keyed {
                            k.as_bytes().to_vec()
                        } else {
                            Vec::new()
                        };
                        (k, v.as_bytes().to_vec(), *d)
                    })
                    .collect();
                for m in s.apply(&encoded) {
                    reader.apply(m.key.as_deref(), m.value.as_deref()).unwrap();
                }
                assert_eq!(&reader.groups, s.groups(), "{envelope:?} step {step}");
                if step == 20 {
                    stale = Some(reader.groups.clone());
                }
            }
            // A topic left behind at step 20 catches up with one resync.
            let stale = stale.unwrap();
            let mut behind = TopicReader::new(envelope, keyed);
            behind.groups = stale.clone();
            for m in s.resync(&stale) {
                behind.apply(m.key.as_deref(), m.value.as_deref()).unwrap();
            }
            assert_eq!(&behind.groups, s.groups(), "{envelope:?} resync");
            assert!(s.resync(s.groups()).is_empty());
        }
    }

    #[test]
    fn debezium_pairs_updates_by_key() {
        let mut s = SinkState::new(Envelope::Debezium, true);
        s.apply(&[change("k", "1", 1)]);
        let m: Vec<_> = s
            .apply(&[change("k", "1", -1), change("k", "2", 1)])
            .iter()
            .map(text)
            .collect();
        assert_eq!(
            m,
            [(Some("k".into()), Some(r#"{"before":1,"after":2}"#.into()))]
        );
    }
}
