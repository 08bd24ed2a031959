//! Active defragmentation on a real server: memory fragmented on purpose is compacted (the
//! allocator's and the process's fragmentation ratios fall) while every value stays intact;
//! nothing moves when `activedefrag` is off or the thresholds are not met; the parameters
//! answer CONFIG GET/SET as redis-server does.

use super::common::*;
use std::time::{Duration, Instant};

/// The `name:value` fields of INFO (all sections asked for at once).
fn info(c: &mut Conn) -> Vec<(String, String)> {
    let text = String::from_utf8(c.cmd(&[b"INFO", b"memory", b"stats"])).unwrap();
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One numeric INFO field.
fn field(fields: &[(String, String)], name: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("{name} in INFO"))
        .1
        .parse()
        .unwrap()
}

/// The value `DEBUG POPULATE n key 150` stores under `key:i`.
fn populated(i: usize) -> Vec<u8> {
    let mut v = format!("value:{i}").into_bytes();
    v.resize(150, 0);
    v
}

/// Fills `n` keys of 150-byte values, then deletes about 70% of them at random (a fixed
/// seed), so most slabs keep a few live regions: memory that only moving them can free.
/// Returns which keys were kept.
fn fragment(c: &mut Conn, n: usize) -> Vec<bool> {
    assert_eq!(c.cmd_str(&format!("DEBUG POPULATE {n} key 150")), "+OK\r\n");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let kept: Vec<bool> = (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % 10 >= 7
        })
        .collect();
    let doomed: Vec<String> = (0..n).filter(|&i| !kept[i]).map(|i| format!("key:{i}")).collect();
    let batches: Vec<&[String]> = doomed.chunks(1000).collect();
    for batch in &batches {
        let mut argv: Vec<&[u8]> = vec![b"DEL"];
        argv.extend(batch.iter().map(|k| k.as_bytes()));
        c.send(&argv);
    }
    for batch in &batches {
        assert_eq!(c.read_reply().unwrap(), format!(":{}\r\n", batch.len()).into_bytes());
    }
    assert_eq!(c.cmd_str("MEMORY PURGE"), "+OK\r\n");
    kept
}

/// Reads every key back with MGET and checks it against what was stored (or nil).
fn check_values(c: &mut Conn, kept: &[bool]) {
    for start in (0..kept.len()).step_by(1000) {
        let end = (start + 1000).min(kept.len());
        let keys: Vec<String> = (start..end).map(|i| format!("key:{i}")).collect();
        let mut argv: Vec<&[u8]> = vec![b"MGET"];
        argv.extend(keys.iter().map(|k| k.as_bytes()));
        let raw = c.cmd(&argv);
        let mut want = format!("*{}\r\n", end - start).into_bytes();
        for (i, &keep) in kept.iter().enumerate().take(end).skip(start) {
            if keep {
                want.extend_from_slice(b"$150\r\n");
                want.extend_from_slice(&populated(i));
                want.extend_from_slice(b"\r\n");
            } else {
                want.extend_from_slice(b"$-1\r\n");
            }
        }
        assert!(raw == want, "values of keys {start}..{end} changed");
    }
}

/// Waits until a defrag cycle has moved something and the defragmenter has gone idle by
/// itself: not running, and no new cycle started for longer than its one-second check.
fn wait_idle_after_work(c: &mut Conn) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut quiet_since: Option<(Instant, f64)> = None;
    loop {
        let f = info(c);
        let (hits, running) = (field(&f, "active_defrag_hits"), field(&f, "active_defrag_running"));
        if hits > 0.0 && running == 0.0 {
            match quiet_since {
                Some((t, h)) if h == hits => {
                    if t.elapsed() >= Duration::from_millis(1500) {
                        return f;
                    }
                }
                _ => quiet_since = Some((Instant::now(), hits)),
            }
        } else {
            quiet_since = None;
        }
        assert!(Instant::now() < deadline, "defrag did not finish: {f:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn defrag_compacts_fragmented_memory_and_keeps_every_value() {
    let keel = start_keel(&["--enable-debug-command", "yes", "--loglevel", "verbose"]);
    let mut c = Conn::new(keel.port);
    let kept = fragment(&mut c, 400_000);
    let digest = c.cmd_str("DEBUG DIGEST");
    let before = info(&mut c);
    let (alloc0, frag0) =
        (field(&before, "allocator_frag_ratio"), field(&before, "mem_fragmentation_ratio"));
    // The set-up must really fragment memory, or the test could not fail.
    assert!(alloc0 >= 1.8 && frag0 >= 1.8, "allocator {alloc0}, process {frag0}");
    assert_eq!(field(&before, "active_defrag_hits"), 0.0);

    let started = Instant::now();
    for (p, v) in [
        ("active-defrag-ignore-bytes", "1mb"),
        ("active-defrag-threshold-lower", "5"),
        ("active-defrag-cycle-max", "75"),
        ("activedefrag", "yes"),
    ] {
        assert_eq!(c.cmd_str(&format!("CONFIG SET {p} {v}")), "+OK\r\n");
    }
    let done = wait_idle_after_work(&mut c);
    let took = started.elapsed();
    assert_eq!(c.cmd_str("CONFIG SET activedefrag no"), "+OK\r\n");
    assert_eq!(c.cmd_str("MEMORY PURGE"), "+OK\r\n");
    let after = info(&mut c);
    let (alloc1, frag1) =
        (field(&after, "allocator_frag_ratio"), field(&after, "mem_fragmentation_ratio"));
    let hits = field(&done, "active_defrag_hits");
    let key_hits = field(&done, "active_defrag_key_hits");
    eprintln!(
        "defrag: allocator_frag_ratio {alloc0} -> {alloc1}, mem_fragmentation_ratio {frag0} -> \
         {frag1}, hits {hits}, misses {}, key hits {key_hits}, key misses {}, \
         total_active_defrag_time {} ms, waited {took:?}",
        field(&done, "active_defrag_misses"),
        field(&done, "active_defrag_key_misses"),
        field(&done, "total_active_defrag_time"),
    );
    // At least 30% of the excess over a perfect 1.0 is gone, for both ratios.
    assert!(alloc1 - 1.0 <= (alloc0 - 1.0) * 0.7, "allocator {alloc0} -> {alloc1}");
    assert!(frag1 - 1.0 <= (frag0 - 1.0) * 0.7, "process {frag0} -> {frag1}");
    assert!(key_hits > 0.0 && key_hits <= hits);
    assert!(field(&done, "total_active_defrag_time") > 0.0);
    assert_eq!(field(&done, "current_active_defrag_time"), 0.0);
    assert_eq!(c.cmd_str("DEBUG DIGEST"), digest);
    check_values(&mut c, &kept);
    let log = std::fs::read_to_string(&keel.log).unwrap();
    assert!(log.contains("Starting active defrag, frag="), "{log}");
    assert!(log.contains("Active defrag done in "), "{log}");
    // CONFIG RESETSTAT clears the counters, as in Redis.
    assert_eq!(c.cmd_str("CONFIG RESETSTAT"), "+OK\r\n");
    let reset = info(&mut c);
    for name in ["active_defrag_hits", "active_defrag_key_misses", "total_active_defrag_time"] {
        assert_eq!(field(&reset, name), 0.0, "{name}");
    }
}

#[test]
fn nothing_moves_when_off_or_below_the_thresholds() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut c = Conn::new(keel.port);
    let kept = fragment(&mut c, 100_000);
    let idle = |c: &mut Conn| {
        std::thread::sleep(Duration::from_millis(1500));
        let f = info(c);
        for name in [
            "active_defrag_running",
            "active_defrag_hits",
            "active_defrag_misses",
            "active_defrag_key_hits",
            "active_defrag_key_misses",
            "total_active_defrag_time",
        ] {
            assert_eq!(field(&f, name), 0.0, "{name}");
        }
    };
    // Off (the default).
    idle(&mut c);
    // On, but the fragmented bytes (tens of megabytes) are below the default 100mb floor.
    assert_eq!(c.cmd_str("CONFIG SET activedefrag yes"), "+OK\r\n");
    idle(&mut c);
    // Above the floor but below the percentage threshold.
    assert_eq!(c.cmd_str("CONFIG SET active-defrag-ignore-bytes 1mb"), "+OK\r\n");
    assert_eq!(c.cmd_str("CONFIG SET active-defrag-threshold-lower 1000"), "+OK\r\n");
    idle(&mut c);
    // Both met: now it works, which shows the thresholds were what held it back.
    assert_eq!(c.cmd_str("CONFIG SET active-defrag-threshold-lower 5"), "+OK\r\n");
    wait_idle_after_work(&mut c);
    check_values(&mut c, &kept);
}

#[test]
fn parameters_answer_as_redis_does() {
    same_on_both(|port| {
        let mut c = Conn::new(port);
        let mut out = Vec::new();
        for line in [
            "CONFIG GET activedefrag",
            "CONFIG GET active-defrag-ignore-bytes",
            "CONFIG GET active-defrag-threshold-lower",
            "CONFIG GET active-defrag-threshold-upper",
            "CONFIG GET active-defrag-cycle-min",
            "CONFIG GET active-defrag-cycle-max",
            "CONFIG GET active-defrag-max-scan-fields",
            "CONFIG GET ACTIVE-DEFRAG-CYCLE-MAX",
            "CONFIG SET activedefrag no",
            "CONFIG SET activedefrag maybe",
            "CONFIG SET activedefrag ",
            "CONFIG SET active-defrag-ignore-bytes 1mb",
            "CONFIG GET active-defrag-ignore-bytes",
            "CONFIG SET active-defrag-ignore-bytes 2GB",
            "CONFIG GET active-defrag-ignore-bytes",
            "CONFIG SET active-defrag-ignore-bytes 0",
            "CONFIG SET active-defrag-ignore-bytes -1",
            "CONFIG SET active-defrag-ignore-bytes 1x",
            "CONFIG SET active-defrag-threshold-lower 5",
            "CONFIG SET active-defrag-threshold-lower 1001",
            "CONFIG SET active-defrag-threshold-lower -1",
            "CONFIG SET active-defrag-threshold-upper 1000",
            "CONFIG SET active-defrag-threshold-upper abc",
            "CONFIG SET active-defrag-cycle-min 0",
            "CONFIG SET active-defrag-cycle-min 99",
            "CONFIG SET active-defrag-cycle-max 100",
            "CONFIG SET Active-Defrag-Cycle-Max 75",
            "CONFIG SET active-defrag-cycle-max 1.5",
            "CONFIG SET active-defrag-max-scan-fields 0",
            "CONFIG SET active-defrag-max-scan-fields 9223372036854775807",
            "CONFIG SET active-defrag-cycle-min 10 active-defrag-cycle-max 20",
            "CONFIG SET active-defrag-cycle-min 10 active-defrag-cycle-max 200",
            // (Patterns would list the names in each server's own table order.)
            "CONFIG GET active-defrag-cycle-min",
            "CONFIG GET active-defrag-cycle-max",
            "CONFIG GET active-defrag-threshold-lower",
            "CONFIG GET active-defrag-threshold-upper",
            "CONFIG GET active-defrag-max-scan-fields",
            "CONFIG SET activedefrag",
        ] {
            out.push(c.cmd_str(line));
        }
        out
    });
    // Debian's redis-server is built against a stock jemalloc and refuses to turn
    // defragmentation on; Keel (like Redis built with its own jemalloc) accepts it.
    let keel = start_keel(&[]);
    let mut c = Conn::new(keel.port);
    assert_eq!(c.cmd_str("CONFIG SET activedefrag YES"), "+OK\r\n");
    assert_eq!(c.cmd_str("CONFIG GET activedefrag"), "*2\r\n$12\r\nactivedefrag\r\n$3\r\nyes\r\n");
}
