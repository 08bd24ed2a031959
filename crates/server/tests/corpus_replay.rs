//! Replays the fuzz corpus (fuzz/corpus/<target>/*) through the same entry points the
//! cargo-fuzz targets call (`keel_server::testing::fuzz`), without libFuzzer, so every seed
//! and every crash input kept as a regression seed runs in plain `cargo test`. A short,
//! seeded mutation pass over the seeds follows: the same inputs on every run, so a failure
//! here always reproduces.
//!
//! `KEEL_FUZZ_SECS=<n>` turns the mutation pass into a time-boxed random run of n seconds
//! per target with a fresh seed (the in-repo driver for machines without cargo-fuzz); the
//! failing input is written to fuzz/artifacts/<target>/ before the panic propagates.

// Test code may panic on unexpected failures: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_server::testing::fuzz::TARGETS;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The seeds of `target`, sorted by name (so runs are repeatable).
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Every seed of every target, fed once to its entry point.
#[test]
fn every_corpus_file_replays_cleanly() {
    for (name, entry) in TARGETS {
        let seeds = seeds(name);
        // A target whose corpus went missing would pass vacuously.
        assert!(seeds.len() >= 3, "fuzz/corpus/{name} has fewer than 3 seeds");
        for (path, data) in seeds {
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "seed {} made target {name} panic", path.display());
        }
    }
}

/// The seeds taken from a real redis-server are meaningful: the RDB file loads in full, every
/// DUMP payload restores and the manifest parses (so the fuzzers start from deep inputs,
/// not from inputs refused at the first byte).
#[test]
fn real_redis_seeds_are_accepted() {
    let corpus = fuzz_dir().join("corpus");
    let rdb = std::fs::read(corpus.join("rdb/redis-all-types.bin")).unwrap();
    let mut srv = keel_server::server::Server::new(Default::default());
    let info = keel_server::rdb::file::load_bytes(&mut srv, &rdb, None).unwrap();
    assert_eq!(info.keys_loaded, 16);
    let manifest = std::fs::read(corpus.join("aof/redis-manifest.txt")).unwrap();
    keel_server::aof::manifest::Manifest::parse(&manifest).unwrap();
    let mut h = keel_server::testing::Harness::new(1_790_000_000_000);
    let mut restored = 0;
    for (path, payload) in seeds("restore") {
        if !path.file_name().unwrap().to_string_lossy().starts_with("redis-") {
            continue;
        }
        let argv = vec!["RESTORE".into(), "k".into(), "0".into(), payload.into(), "REPLACE".into()];
        let reply = keel_server::dispatch::execute(&mut h.srv, &mut h.clients, h.cid, argv);
        assert_eq!(reply, Some(resp::Frame::Simple("OK".into())), "{}", path.display());
        restored += 1;
    }
    assert_eq!(restored, 14);
}

/// One random edit of `data`: flip, insert, delete, duplicate a slice, or splice in an
/// interesting token (a boundary number or a RESP/RDB length marker).
fn mutate(rng: &mut SmallRng, data: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"0",
        b"-1",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"2147483647",
        b"\r\n",
        b"*",
        b"$",
        b"\x00",
        b"\xff",
        b"\xfe\xff\xff\xff\xff",
        b"\x80",
        b"\xc0",
        b"inf",
        b"nan",
    ];
    let at = if data.is_empty() { 0 } else { rng.random_range(0..=data.len()) };
    match rng.random_range(0..5) {
        0 if !data.is_empty() => {
            let i = at.min(data.len() - 1);
            data[i] ^= 1 << rng.random_range(0..8);
        }
        1 => data.insert(at, rng.random()),
        2 if at < data.len() => {
            let end = rng.random_range(at..=data.len().min(at + 16));
            data.drain(at..end);
        }
        3 if at < data.len() => {
            let end = rng.random_range(at..=data.len().min(at + 32));
            let piece = data[at..end].to_vec();
            let to = rng.random_range(0..=data.len());
            data.splice(to..to, piece);
        }
        _ => {
            let token = TOKENS[rng.random_range(0..TOKENS.len())];
            data.splice(at..at, token.iter().copied());
        }
    }
}

/// Mutates the seeds of every target, for `KEEL_FUZZ_SECS` seconds each or (in CI) a fixed
/// number of inputs from a fixed seed. Reports the count per target.
#[test]
fn mutated_seeds_never_panic() {
    let budget = std::env::var("KEEL_FUZZ_SECS").ok().and_then(|s| s.parse::<u64>().ok());
    for (name, entry) in TARGETS {
        let seeds = seeds(name);
        let mut rng = match budget {
            Some(_) => SmallRng::from_os_rng(),
            None => SmallRng::seed_from_u64(0x6b65_656c),
        };
        let started = Instant::now();
        let mut runs = 0u64;
        loop {
            let done = match budget {
                Some(secs) => started.elapsed() >= Duration::from_secs(secs),
                None => runs >= 1000,
            };
            if done {
                break;
            }
            let mut data = seeds[rng.random_range(0..seeds.len())].1.clone();
            for _ in 0..rng.random_range(1..8) {
                mutate(&mut rng, &mut data);
            }
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                let dir = fuzz_dir().join("artifacts").join(name);
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("crash-{runs}"));
                std::fs::write(&path, &data).unwrap();
                panic!("target {name} panicked; input saved to {}", path.display());
            }
            runs += 1;
        }
        eprintln!("fuzz target {name}: {runs} mutated inputs in {:?}", started.elapsed());
    }
}
