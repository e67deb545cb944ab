//! Times `numeric` operations on small (compact) values: parse, print,
//! add, multiply, row pack/unpack, key compare and hash — what the wide
//! form must not slow down. Run with the repr crates optimized:
//! `cargo run -p freshet-repr --example numeric_bench --config
//! 'profile.dev.package.freshet-repr.opt-level=3' --config
//! 'profile.dev.package.rust_decimal.opt-level=3'` (and `num-bigint`,
//! `smallvec`).
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use freshet_repr::{Datum, Numeric, Row};

fn main() {
    let texts: Vec<String> = (0..1000i64)
        .map(|i| format!("{}.{:02}", i * 7919 % 100000, i % 100))
        .collect();
    let values: Vec<Numeric> = texts.iter().map(|t| t.parse().unwrap()).collect();
    let rounds = 2000;
    let time = |name: &str, f: &mut dyn FnMut() -> u64| {
        let mut best = f64::MAX;
        let mut sink = 0u64;
        for _ in 0..5 {
            let start = Instant::now();
            sink = sink.wrapping_add(f());
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "{name:>12}: {:>7.1} ns/op ({sink})",
            best * 1e9 / (rounds * 1000) as f64
        );
    };
    time("parse", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for t in &texts {
                n += t.parse::<Numeric>().unwrap().scale() as u64;
            }
        }
        n
    });
    time("to_string", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for v in &values {
                n += v.to_string().len() as u64;
            }
        }
        n
    });
    time("add", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for w in values.windows(2) {
                n += w[0].checked_add(&w[1]).unwrap().scale() as u64;
            }
        }
        n
    });
    time("mul", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for w in values.windows(2) {
                n += w[0].checked_mul(&w[1]).unwrap().scale() as u64;
            }
        }
        n
    });
    let rows: Vec<Row> = values
        .iter()
        .map(|v| Row::new(vec![Datum::Numeric(v.clone()), Datum::Int64(1)]).into_key())
        .collect();
    time("pack", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for v in &values {
                n += Row::new(vec![Datum::Numeric(v.clone())]).encode().len() as u64;
            }
        }
        n
    });
    time("unpack", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for r in &rows {
                n += r.unpack().len() as u64;
            }
        }
        n
    });
    time("key cmp", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for w in rows.windows(2) {
                n += (w[0] < w[1]) as u64;
            }
        }
        n
    });
    time("key hash", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for r in &rows {
                let mut h = DefaultHasher::new();
                r.hash(&mut h);
                n ^= h.finish();
            }
        }
        n
    });
    time("datum cmp", &mut || {
        let mut n = 0;
        for _ in 0..rounds {
            for w in values.windows(2) {
                n += (w[0] < w[1]) as u64;
            }
        }
        n
    });
}
