//! Built-in load generators: deterministic data that changes over time, so
//! that a new user has live data without any external service.
//!
//! A generator is a pure function of its seed and a tick number: after a
//! restart, the source replays ticks `1..=offset` (the durable offset) and
//! produces exactly the rows it had produced before.
//!
//! # `COUNTER`
//!
//! One relation (the source's own) with one column `counter bigint`; tick `n`
//! inserts `n`.
//!
//! # `AUCTION`
//!
//! Materialize's auction schema
//! (<https://materialize.com/docs/sql/create-source/load-generator/#auction>).
//! Output 0 is the source's own relation, a progress relation
//! `(offset bigint)` holding the number of ticks produced so far (one row:
//! tick `n` retracts `n - 1` and inserts `n`). The other outputs are
//! `organizations`, `users`, `accounts`, `auctions` and `bids`.
//!
//! * Tick 1 also inserts the static data, a function of the seed alone:
//!   [`AUCTION_ORGANIZATIONS`] organizations, [`AUCTION_USERS`] users (each in
//!   a random organization) and one account per user (same id and
//!   organization as its user, a random balance).
//! * Every tick `n` inserts auction `n` (a random seller, an item from a
//!   small list, `end_time` = the tick's timestamp + 10 seconds, as in
//!   Materialize) and [`AUCTION_BIDS_PER_TICK`] bids with ids
//!   `(n - 1) * AUCTION_BIDS_PER_TICK + 1 ..= n * AUCTION_BIDS_PER_TICK`
//!   (contiguous across ticks). A bid is on an auction still open at
//!   tick `n` (one whose `end_time` is after the tick's timestamp, among
//!   the last [`AUCTION_MAX_OPEN`] auctions), by a user who is not its
//!   seller, for an amount that grows with the auction's age (10 per
//!   second), at the tick's timestamp.
//!
//! # Time
//!
//! Timestamps follow the wall clock, as Materialize's do, so that
//! Materialize's demo queries (`mz_now() >= end_time`: the auctions that
//! have ended) see auctions end in real time. They are still a function of
//! stored state, so a restart replays the same rows: a [`Clock`] is a list
//! of [`ClockSegment`]s, each saying when a run of ticks started (the
//! source's creation, then each restart); tick `n` happens at its segment's
//! start plus `(n - first) × TICK INTERVAL`. Ticks before every segment
//! (ticks a store written before clocks were recorded produced) happen at
//! 2026-01-01 00:00:00 UTC plus `n` seconds, as they did then.
//!
//! Randomness comes from a self-contained splitmix64 generator seeded from
//! the source's seed and the tick number, so each tick can be recomputed on
//! its own.

use crate::repr::{ColumnDesc, Datum, Diff, RelationDesc, Row, ScalarType};
use crate::sql::parse::LoadGeneratorKind;

/// An output relation of a generator: its name suffix and schema.
#[derive(Debug, Clone)]
pub struct GeneratorOutput {
    /// The relation's name (`None`: the source's own name).
    pub name: Option<&'static str>,
    /// Its schema.
    pub desc: RelationDesc,
}

fn column(name: &str, typ: ScalarType, nullable: bool) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        typ,
        nullable,
    }
}

fn relation(columns: &[(&str, ScalarType)]) -> RelationDesc {
    RelationDesc {
        columns: columns
            .iter()
            .map(|(n, t)| column(n, t.clone(), false))
            .collect(),
    }
}

/// The relations a generator produces.
pub fn outputs(kind: &LoadGeneratorKind) -> Vec<GeneratorOutput> {
    match kind {
        LoadGeneratorKind::Counter => vec![GeneratorOutput {
            name: None,
            desc: RelationDesc {
                columns: vec![column("counter", ScalarType::Int64, false)],
            },
        }],
        LoadGeneratorKind::Auction => auction_outputs(),
    }
}

/// Whether output `output` of a generator only ever grows (no tick
/// retracts a row of it): `COUNTER`'s relation and every `AUCTION` relation
/// but the progress relation. Maintained `GROUP BY`s of `min`/`max` over
/// such a relation keep one value per group (`compute::monotonic`).
pub fn appends_only(kind: &LoadGeneratorKind, output: usize) -> bool {
    match kind {
        LoadGeneratorKind::Counter => true,
        LoadGeneratorKind::Auction => output != PROGRESS,
    }
}

/// The updates of tick `tick` (numbered from 1), per output index, with
/// `clock` saying when each tick happened.
pub fn tick(
    kind: &LoadGeneratorKind,
    seed: u64,
    tick: u64,
    clock: &Clock,
) -> Vec<(usize, Row, Diff)> {
    match kind {
        LoadGeneratorKind::Counter => vec![(0, Row::new(vec![Datum::Int64(tick as i64)]), 1)],
        LoadGeneratorKind::Auction => auction_tick(seed, tick, clock),
    }
}

/// When a run of ticks started: tick `first_tick` happened at `micros`
/// (microseconds since the Unix epoch), and the run's later ticks one
/// `TICK INTERVAL` apart. Stored (as JSON) with the source's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClockSegment {
    /// The run's first tick.
    pub first_tick: u64,
    /// When it happened.
    pub micros: i64,
}

/// When a generator's ticks happen (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// The runs, in increasing `first_tick` order.
    pub segments: Vec<ClockSegment>,
    /// The `TICK INTERVAL`, in microseconds.
    pub interval_micros: i64,
}

impl Clock {
    /// A clock with no runs yet, ticking every `tick_ms` milliseconds.
    pub fn new(tick_ms: u64) -> Clock {
        Clock {
            segments: Vec::new(),
            interval_micros: int64(tick_ms).saturating_mul(1000).max(1),
        }
    }

    /// Starts a run at tick `first_tick`, at `micros`: a run recorded from
    /// that tick on (a start that produced no tick before the next one) is
    /// replaced.
    pub fn start_run(&mut self, first_tick: u64, micros: i64) {
        self.segments.retain(|s| s.first_tick < first_tick);
        self.segments.push(ClockSegment { first_tick, micros });
    }

    /// When tick `n` happened, in microseconds since the Unix epoch.
    pub fn at(&self, n: u64) -> i64 {
        match self.segments.iter().rev().find(|s| s.first_tick <= n) {
            Some(s) => s
                .micros
                .saturating_add(int64(n - s.first_tick).saturating_mul(self.interval_micros)),
            None => AUCTION_BASE_MICROS.saturating_add(int64(n).saturating_mul(MICROS_PER_SECOND)),
        }
    }
}

// ---------------------------------------------------------------------------
// Deterministic randomness.

/// A splitmix64 generator: tiny, fast and good enough for sample data.
struct SplitMix64(u64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A generator for `stream` of tick `tick` under `seed`; different
    /// triples give independent-looking sequences.
    fn new(seed: u64, tick: u64, stream: u64) -> SplitMix64 {
        let a = mix(seed.wrapping_add(Self::GAMMA));
        let b = mix(a ^ tick.wrapping_mul(Self::GAMMA));
        SplitMix64(mix(b ^ stream.wrapping_add(0x5851_F42D_4C95_7F2D)))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        mix(self.0)
    }

    /// A value in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi` (`lo` when `hi < lo`).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.wrapping_add(self.below(span) as i64)
    }
}

/// The splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// AUCTION.

/// The number of organizations `AUCTION` creates at tick 1.
pub const AUCTION_ORGANIZATIONS: usize = COMPANIES.len();
/// The number of users (and accounts) `AUCTION` creates at tick 1.
pub const AUCTION_USERS: usize = FIRST_NAMES.len() * LAST_NAMES.len();
/// The number of bids `AUCTION` creates per tick.
pub const AUCTION_BIDS_PER_TICK: u64 = 3;
/// How long an auction stays open: its `end_time` is this long after its
/// creation, as in Materialize.
pub const AUCTION_OPEN_MICROS: i64 = 10 * MICROS_PER_SECOND;
/// At most how many of the latest auctions a bid may go to (with a tick
/// interval under 10 ms, fewer than all the open ones).
pub const AUCTION_MAX_OPEN: u64 = 1000;
/// When the ticks of a store written before clocks were recorded happened:
/// tick `n` at 2026-01-01 00:00:00 UTC plus `n` seconds (in microseconds
/// since the Unix epoch).
pub const AUCTION_BASE_MICROS: i64 = 1_767_225_600_000_000;

const MICROS_PER_SECOND: i64 = 1_000_000;

const PROGRESS: usize = 0;
const ORGANIZATIONS: usize = 1;
const USERS: usize = 2;
const ACCOUNTS: usize = 3;
const AUCTIONS: usize = 4;
const BIDS: usize = 5;

/// Random streams, one per use within a tick.
const STREAM_STATIC: u64 = 0;
const STREAM_AUCTION: u64 = 1;
const STREAM_BIDS: u64 = 2;

const ITEMS: &[&str] = &[
    "Best Pizza in Town",
    "Custom Art",
    "Gift Basket",
    "City Bar Crawl",
    "Signed Memorabilia",
];

const COMPANIES: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay Industries",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka Industries",
    "Cyberdyne Systems",
    "Soylent Corp",
    "Tyrell Corp",
    "Massive Dynamic",
    "Pied Piper",
    "Dunder Mifflin",
    "Aperture Science",
    "Black Mesa",
    "Oscorp",
    "Monsters Inc",
    "Gringotts",
    "Duff Beer",
    "Krusty Krab",
    "Prestige Worldwide",
    "Bluth Company",
];

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Ivan",
    "John",
    "Ken",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Radia",
    "Robin",
    "Shafi",
    "Tim",
    "Tony",
    "Whitfield",
];

const LAST_NAMES: &[&str] = &[
    "Allen", "Backus", "Codd", "Dijkstra", "Hopper", "Knuth", "Lamport", "Liskov", "Ritchie",
    "Thompson",
];

fn auction_outputs() -> Vec<GeneratorOutput> {
    use ScalarType::{Int32, Int64, Text, TimestampTz};
    vec![
        GeneratorOutput {
            name: None,
            desc: relation(&[("offset", Int64)]),
        },
        GeneratorOutput {
            name: Some("organizations"),
            desc: relation(&[("id", Int64), ("name", Text)]),
        },
        GeneratorOutput {
            name: Some("users"),
            desc: relation(&[("id", Int64), ("org_id", Int64), ("name", Text)]),
        },
        GeneratorOutput {
            name: Some("accounts"),
            desc: relation(&[("id", Int64), ("org_id", Int64), ("balance", Int64)]),
        },
        GeneratorOutput {
            name: Some("auctions"),
            desc: relation(&[
                ("id", Int64),
                ("seller", Int64),
                ("item", Text),
                ("end_time", TimestampTz(None)),
            ]),
        },
        GeneratorOutput {
            name: Some("bids"),
            desc: relation(&[
                ("id", Int64),
                ("buyer", Int64),
                ("auction_id", Int64),
                ("amount", Int32),
                ("bid_time", TimestampTz(None)),
            ]),
        },
    ]
}

/// A tick number (or id derived from one) as a `bigint`.
fn int64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The seller (a user id, `1..=AUCTION_USERS`) and item of auction `n`.
fn auction_at(seed: u64, n: u64) -> (u64, &'static str) {
    let mut rng = SplitMix64::new(seed, n, STREAM_AUCTION);
    let seller = rng.below(AUCTION_USERS as u64) + 1;
    let item = ITEMS
        .get(rng.below(ITEMS.len() as u64) as usize)
        .copied()
        .unwrap_or("Custom Art");
    (seller, item)
}

/// The static rows inserted by tick 1: organizations, users and accounts.
fn auction_static(seed: u64, out: &mut Vec<(usize, Row, Diff)>) {
    let mut rng = SplitMix64::new(seed, 0, STREAM_STATIC);
    for (i, name) in COMPANIES.iter().enumerate() {
        out.push((
            ORGANIZATIONS,
            Row::new(vec![
                Datum::Int64(i as i64 + 1),
                Datum::String((*name).into()),
            ]),
            1,
        ));
    }
    let mut id = 0i64;
    for last in LAST_NAMES {
        for first in FIRST_NAMES {
            id += 1;
            let org_id = rng.range(1, AUCTION_ORGANIZATIONS as i64);
            let balance = rng.range(1_000, 1_000_000);
            out.push((
                USERS,
                Row::new(vec![
                    Datum::Int64(id),
                    Datum::Int64(org_id),
                    Datum::String(format!("{first} {last}")),
                ]),
                1,
            ));
            out.push((
                ACCOUNTS,
                Row::new(vec![
                    Datum::Int64(id),
                    Datum::Int64(org_id),
                    Datum::Int64(balance),
                ]),
                1,
            ));
        }
    }
}

fn auction_tick(seed: u64, n: u64, clock: &Clock) -> Vec<(usize, Row, Diff)> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    // Progress.
    if n > 1 {
        out.push((PROGRESS, Row::new(vec![Datum::Int64(int64(n - 1))]), -1));
    }
    out.push((PROGRESS, Row::new(vec![Datum::Int64(int64(n))]), 1));
    if n == 1 {
        auction_static(seed, &mut out);
    }
    let now = clock.at(n);
    // The new auction.
    let (seller, item) = auction_at(seed, n);
    out.push((
        AUCTIONS,
        Row::new(vec![
            Datum::Int64(int64(n)),
            Datum::Int64(int64(seller)),
            Datum::String(item.into()),
            Datum::TimestampTz(now.saturating_add(AUCTION_OPEN_MICROS)),
        ]),
        1,
    ));
    // Bids on auctions still open (ending after now): this one and the
    // latest ones before it that are, at most AUCTION_MAX_OPEN in all.
    let oldest = n.saturating_sub(AUCTION_MAX_OPEN - 1).max(1);
    let mut open: Vec<u64> = (oldest..=n)
        .rev()
        .map_while(|k| {
            let ends = clock.at(k).saturating_add(AUCTION_OPEN_MICROS);
            (k == n || ends > now).then_some(k)
        })
        .collect();
    open.reverse();
    let mut rng = SplitMix64::new(seed, n, STREAM_BIDS);
    let first_id = (n - 1).saturating_mul(AUCTION_BIDS_PER_TICK);
    for j in 1..=AUCTION_BIDS_PER_TICK {
        let pick = rng.below(open.len() as u64) as usize;
        let auction = open.get(pick).copied().unwrap_or(n);
        let (auction_seller, _) = auction_at(seed, auction);
        // A buyer other than the seller.
        let mut buyer = rng.below(AUCTION_USERS as u64 - 1) + 1;
        if buyer >= auction_seller {
            buyer += 1;
        }
        // Amounts grow with the auction's age: 10 per second plus noise.
        let age = now.saturating_sub(clock.at(auction)) / MICROS_PER_SECOND;
        let age = i32::try_from(age.clamp(0, 1000)).unwrap_or(0);
        let amount = (age + 1) * 10 + rng.range(0, 19) as i32;
        out.push((
            BIDS,
            Row::new(vec![
                Datum::Int64(int64(first_id.saturating_add(j))),
                Datum::Int64(int64(buyer)),
                Datum::Int64(int64(auction)),
                Datum::Int32(amount),
                Datum::TimestampTz(now),
            ]),
            1,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    const SEED: u64 = 42;

    /// Tick `n` under the clock of a store from before clocks were
    /// recorded (tick `n` at 2026-01-01 plus `n` seconds).
    fn auction(seed: u64, n: u64) -> Vec<(usize, Row, Diff)> {
        tick(&LoadGeneratorKind::Auction, seed, n, &Clock::new(1000))
    }

    /// The consolidated contents of each output after ticks `1..=n`.
    fn replay(seed: u64, n: u64) -> Vec<BTreeMap<Row, Diff>> {
        let mut rels = vec![BTreeMap::new(); outputs(&LoadGeneratorKind::Auction).len()];
        for t in 1..=n {
            for (o, row, diff) in auction(seed, t) {
                let e = rels[o].entry(row).or_insert(0);
                *e += diff;
            }
        }
        for r in &mut rels {
            r.retain(|_, d| *d != 0);
        }
        rels
    }

    fn int(d: &Datum) -> i64 {
        match d {
            Datum::Int64(v) => *v,
            Datum::Int32(v) => i64::from(*v),
            other => panic!("not an integer: {other:?}"),
        }
    }

    fn matches_type(d: &Datum, t: &ScalarType) -> bool {
        matches!(
            (d, t),
            (Datum::Int64(_), ScalarType::Int64)
                | (Datum::Int32(_), ScalarType::Int32)
                | (Datum::String(_), ScalarType::Text)
                | (Datum::TimestampTz(_), ScalarType::TimestampTz(_))
        )
    }

    #[test]
    fn counter_unchanged() {
        assert_eq!(outputs(&LoadGeneratorKind::Counter).len(), 1);
        assert_eq!(
            tick(&LoadGeneratorKind::Counter, 0, 7, &Clock::new(1000)),
            vec![(0, Row::new(vec![Datum::Int64(7)]), 1)]
        );
    }

    #[test]
    fn auction_outputs_named() {
        let names: Vec<_> = outputs(&LoadGeneratorKind::Auction)
            .iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(
            names,
            vec![
                None,
                Some("organizations"),
                Some("users"),
                Some("accounts"),
                Some("auctions"),
                Some("bids")
            ]
        );
    }

    #[test]
    fn auction_deterministic() {
        for n in [1, 2, 5, 17, 1000] {
            assert_eq!(auction(SEED, n), auction(SEED, n));
        }
        // Different seeds give different data.
        assert_ne!(auction(1, 1), auction(2, 1));
        assert_ne!(auction(SEED, 3), auction(SEED, 4));
    }

    #[test]
    fn auction_progress() {
        let p = |n| {
            auction(SEED, n)
                .into_iter()
                .filter(|(o, _, _)| *o == PROGRESS)
                .collect::<Vec<_>>()
        };
        assert_eq!(p(1), vec![(0, Row::new(vec![Datum::Int64(1)]), 1)]);
        assert_eq!(
            p(2),
            vec![
                (0, Row::new(vec![Datum::Int64(1)]), -1),
                (0, Row::new(vec![Datum::Int64(2)]), 1)
            ]
        );
        let rels = replay(SEED, 25);
        assert_eq!(rels[PROGRESS].len(), 1);
        assert_eq!(
            rels[PROGRESS].get(&Row::new(vec![Datum::Int64(25)])),
            Some(&1)
        );
        assert!(auction(SEED, 0).is_empty());
    }

    #[test]
    fn auction_static_data_once() {
        let count = |n, o| auction(SEED, n).iter().filter(|(x, _, _)| *x == o).count();
        assert_eq!(count(1, ORGANIZATIONS), AUCTION_ORGANIZATIONS);
        assert_eq!(count(1, USERS), AUCTION_USERS);
        assert_eq!(count(1, ACCOUNTS), AUCTION_USERS);
        for o in [ORGANIZATIONS, USERS, ACCOUNTS] {
            assert_eq!(count(2, o), 0);
        }
        assert_eq!(count(2, AUCTIONS), 1);
        assert_eq!(count(2, BIDS), AUCTION_BIDS_PER_TICK as usize);
    }

    /// The outputs said to be append-only are: no tick retracts a row
    /// of them.
    #[test]
    fn appends_only_outputs_never_retract() {
        for kind in [LoadGeneratorKind::Counter, LoadGeneratorKind::Auction] {
            for n in 1..=40 {
                for (o, _, diff) in tick(&kind, SEED, n, &Clock::new(1000)) {
                    assert!(diff > 0 || !appends_only(&kind, o), "{kind:?} output {o}");
                }
            }
        }
        assert!(!appends_only(&LoadGeneratorKind::Auction, PROGRESS));
    }

    #[test]
    fn auction_schemas_match_rows() {
        let outs = outputs(&LoadGeneratorKind::Auction);
        for n in 1..=30 {
            for (o, row, diff) in auction(SEED, n) {
                assert!(diff == 1 || diff == -1);
                let desc = &outs[o].desc;
                assert_eq!(row.len(), desc.arity(), "output {o}");
                for (d, c) in row.iter().zip(&desc.columns) {
                    let d = &d;
                    assert!(
                        matches_type(d, &c.typ),
                        "output {o} column {}: {d:?}",
                        c.name
                    );
                    assert!(!d.is_null() && !c.nullable);
                }
            }
        }
    }

    #[test]
    fn auction_replay_identical() {
        let collect = || {
            let mut all: Vec<(usize, Row, Diff)> =
                (1..=60).flat_map(|n| auction(SEED, n)).collect();
            all.sort();
            all
        };
        assert_eq!(collect(), collect());
        assert_eq!(replay(SEED, 60), replay(SEED, 60));
    }

    #[test]
    fn auction_referential_integrity() {
        let rels = replay(SEED, 200);
        let ids = |o: usize| {
            rels[o]
                .keys()
                .map(|r| int(&r.get(0).unwrap()))
                .collect::<BTreeSet<_>>()
        };
        let orgs = ids(ORGANIZATIONS);
        let users = ids(USERS);
        let accounts = ids(ACCOUNTS);
        assert_eq!(users, accounts);
        for r in rels[USERS].keys().chain(rels[ACCOUNTS].keys()) {
            assert!(orgs.contains(&int(&r.get(1).unwrap())));
        }
        // Unique ids everywhere.
        for o in [ORGANIZATIONS, USERS, ACCOUNTS, AUCTIONS, BIDS] {
            assert_eq!(ids(o).len(), rels[o].len(), "output {o}");
            assert!(rels[o].values().all(|d| *d == 1));
        }
        let auctions: BTreeMap<i64, &Row> = rels[AUCTIONS]
            .keys()
            .map(|r| (int(&r.get(0).unwrap()), r))
            .collect();
        assert_eq!(auctions.len(), 200);
        for a in auctions.values() {
            assert!(users.contains(&int(&a.get(1).unwrap())));
            assert!(ITEMS.contains(&match &a.get(2).unwrap() {
                Datum::String(s) => s.as_str(),
                _ => "",
            }));
        }
        // Bids: ids contiguous, buyers exist and are not the seller, the
        // auction exists and was open at bid time.
        let bids = ids(BIDS);
        assert_eq!(bids, (1..=200 * AUCTION_BIDS_PER_TICK as i64).collect());
        for b in rels[BIDS].keys() {
            let buyer = int(&b.get(1).unwrap());
            assert!(users.contains(&buyer));
            let Some(a) = auctions.get(&int(&b.get(2).unwrap())) else {
                panic!("bid on a missing auction: {b:?}")
            };
            assert_ne!(int(&a.get(1).unwrap()), buyer);
            let (Some(Datum::TimestampTz(end)), Some(Datum::TimestampTz(at))) =
                (a.get(3), b.get(4))
            else {
                panic!()
            };
            let created = end - AUCTION_OPEN_MICROS;
            assert!(created <= at && at < end, "bid {b:?} outside auction {a:?}");
            assert!(int(&b.get(3).unwrap()) > 0);
        }
    }

    #[test]
    fn auction_timestamps() {
        let rows = auction(SEED, 1);
        let Some((_, a, _)) = rows.iter().find(|(o, _, _)| *o == AUCTIONS) else {
            panic!()
        };
        // 2026-01-01 00:00:01 UTC + 10 s.
        assert_eq!(a.get(3).unwrap(), Datum::TimestampTz(1_767_225_611_000_000));
        let Some((_, b, _)) = rows.iter().find(|(o, _, _)| *o == BIDS) else {
            panic!()
        };
        assert_eq!(b.get(4).unwrap(), Datum::TimestampTz(1_767_225_601_000_000));
        assert_eq!(b.get(2).unwrap(), Datum::Int64(1));
    }

    /// 2026-11-23 21:00:00 UTC, in microseconds.
    const WALL: i64 = 1_795_467_600_000_000;

    fn timestamps(rows: &[(usize, Row, Diff)], output: usize, column: usize) -> Vec<i64> {
        rows.iter()
            .filter(|(o, _, _)| *o == output)
            .map(|(_, r, _)| match r.get(column) {
                Some(Datum::TimestampTz(t)) => t,
                other => panic!("not a timestamptz: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn clock_runs() {
        let mut clock = Clock::new(100);
        // No run: the old fixed clock, one second per tick.
        assert_eq!(clock.at(3), AUCTION_BASE_MICROS + 3 * MICROS_PER_SECOND);
        clock.start_run(1, WALL);
        assert_eq!(clock.at(1), WALL);
        assert_eq!(clock.at(11), WALL + 1_000_000);
        // A restart after tick 20, an hour later.
        clock.start_run(21, WALL + 3_600_000_000);
        assert_eq!(clock.at(20), WALL + 1_900_000);
        assert_eq!(clock.at(22), WALL + 3_600_100_000);
        // A start that produced no tick is replaced by the next one.
        clock.start_run(21, WALL + 7_200_000_000);
        assert_eq!(clock.segments.len(), 2);
        assert_eq!(clock.at(21), WALL + 7_200_000_000);
    }

    /// With a run on the wall clock, auctions end 10 s after they start and
    /// take bids only until then, whatever the tick interval.
    #[test]
    fn auction_follows_the_wall_clock() {
        let mut clock = Clock::new(100);
        clock.start_run(1, WALL);
        let mut open_seen = BTreeSet::new();
        for n in 1..=400 {
            let rows = tick(&LoadGeneratorKind::Auction, SEED, n, &clock);
            let now = clock.at(n);
            assert_eq!(
                timestamps(&rows, AUCTIONS, 3),
                vec![now + AUCTION_OPEN_MICROS]
            );
            assert_eq!(timestamps(&rows, BIDS, 4), vec![now; 3]);
            for (o, r, _) in &rows {
                if *o == BIDS {
                    let auction = u64::try_from(int(&r.get(2).unwrap())).unwrap();
                    // Open: ends after now; a 100 ms tick keeps 100 open.
                    assert!(clock.at(auction) + AUCTION_OPEN_MICROS > now);
                    assert!(n - auction < 100, "tick {n}: bid on auction {auction}");
                    open_seen.insert(n - auction);
                }
            }
        }
        // Bids do go to older open auctions, not just the newest.
        assert!(open_seen.iter().any(|age| *age > 50), "{open_seen:?}");
        // A restart an hour later: the auctions before it have ended, so
        // the first tick after it bids on its own auction only.
        clock.start_run(401, WALL + 3_600_000_000);
        let rows = tick(&LoadGeneratorKind::Auction, SEED, 401, &clock);
        for (o, r, _) in &rows {
            if *o == BIDS {
                assert_eq!(r.get(2), Some(Datum::Int64(401)));
            }
        }
    }

    /// Ticks from before clocks were recorded replay as they were produced.
    #[test]
    fn auction_old_ticks_unchanged_by_a_new_run() {
        let mut clock = Clock::new(100);
        let before: Vec<_> = (1..=30).map(|n| auction(SEED, n)).collect();
        clock.start_run(31, WALL);
        for n in 1..=30u64 {
            assert_eq!(
                tick(&LoadGeneratorKind::Auction, SEED, n, &clock),
                before[n as usize - 1]
            );
        }
    }
}
