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

/// INFO before a defrag run, when it went idle, and after `MEMORY PURGE`.
struct Run {
    before: Vec<(String, String)>,
    done: Vec<(String, String)>,
    after: Vec<(String, String)>,
}

impl Run {
    /// `allocator_frag_ratio` before and after.
    fn allocator_ratios(&self) -> (f64, f64) {
        (field(&self.before, "allocator_frag_ratio"), field(&self.after, "allocator_frag_ratio"))
    }

    /// Prints the figures, and asserts that at least `share` of the allocator's excess
    /// over a perfect 1.0 is gone and that blocks were moved.
    fn report_and_check(&self, what: &str, share: f64) {
        let (alloc0, alloc1) = self.allocator_ratios();
        let d = &self.done;
        eprintln!(
            "defrag ({what}): allocator_frag_ratio {alloc0} -> {alloc1}, mem_fragmentation_ratio \
             {} -> {}, hits {}, misses {}, key hits {}, key misses {}, \
             total_active_defrag_time {} ms",
            field(&self.before, "mem_fragmentation_ratio"),
            field(&self.after, "mem_fragmentation_ratio"),
            field(d, "active_defrag_hits"),
            field(d, "active_defrag_misses"),
            field(d, "active_defrag_key_hits"),
            field(d, "active_defrag_key_misses"),
            field(d, "total_active_defrag_time"),
        );
        // The set-up must really fragment memory, or the test could not fail.
        assert!(alloc0 >= 1.5, "{what}: allocator {alloc0} before");
        assert_eq!(field(&self.before, "active_defrag_hits"), 0.0);
        assert!(
            alloc1 - 1.0 <= (alloc0 - 1.0) * (1.0 - share),
            "{what}: allocator {alloc0} -> {alloc1}"
        );
        let (hits, key_hits) = (field(d, "active_defrag_hits"), field(d, "active_defrag_key_hits"));
        // Key hits count keys whose main-walk blocks moved (not the pending walk's).
        assert!(hits > 0.0 && key_hits <= hits, "{what}: hits {hits}, key hits {key_hits}");
        assert!(field(d, "total_active_defrag_time") > 0.0);
        assert_eq!(field(d, "current_active_defrag_time"), 0.0);
    }
}

/// Turns active defrag on with thresholds low enough for a test data set (and `extra`
/// parameters), waits until it has worked and gone idle, then turns it off and purges.
fn defrag_run(c: &mut Conn, extra: &[(&str, &str)]) -> Run {
    let before = info(c);
    let base = [
        ("active-defrag-ignore-bytes", "1mb"),
        ("active-defrag-threshold-lower", "5"),
        ("active-defrag-cycle-max", "75"),
    ];
    for (p, v) in base.iter().chain(extra).chain(&[("activedefrag", "yes")]) {
        assert_eq!(c.cmd_str(&format!("CONFIG SET {p} {v}")), "+OK\r\n");
    }
    let done = wait_idle_after_work(c);
    assert_eq!(c.cmd_str("CONFIG SET activedefrag no"), "+OK\r\n");
    assert_eq!(c.cmd_str("MEMORY PURGE"), "+OK\r\n");
    let after = info(c);
    Run { before, done, after }
}

#[test]
fn defrag_compacts_fragmented_memory_and_keeps_every_value() {
    let keel = start_keel(&["--enable-debug-command", "yes", "--loglevel", "verbose"]);
    let mut c = Conn::new(keel.port);
    let kept = fragment(&mut c, 400_000);
    let digest = c.cmd_str("DEBUG DIGEST");
    let started = Instant::now();
    let run = defrag_run(&mut c, &[]);
    eprintln!("waited {:?}", started.elapsed());
    run.report_and_check("strings", 0.3);
    assert!(field(&run.done, "active_defrag_key_hits") > 0.0);
    // The process's ratio falls too, here where the data set dominates the process.
    let (frag0, frag1) = (
        field(&run.before, "mem_fragmentation_ratio"),
        field(&run.after, "mem_fragmentation_ratio"),
    );
    assert!(frag0 >= 1.8, "process {frag0}");
    assert!(frag1 - 1.0 <= (frag0 - 1.0) * 0.7, "process {frag0} -> {frag1}");
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

/// Sends `commands` pipelined, a thousand at a time, and checks that none failed.
fn pipeline(c: &mut Conn, commands: &[Vec<Vec<u8>>]) {
    for batch in commands.chunks(1000) {
        for argv in batch {
            let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            c.send(&argv);
        }
        for argv in batch {
            let r = c.read_reply().expect("a reply");
            assert!(
                r[0] != b'-',
                "{:?}: {}",
                String::from_utf8_lossy(&argv[0]),
                String::from_utf8_lossy(&r)
            );
        }
    }
}

/// A command from its words.
fn words(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// BullMQ-style jobs: many 8-field hashes of about 300 bytes, all with the same `opts`
/// (so the packed hashes share it); about 70% deleted, the rest fragmented.
#[test]
fn job_hashes_are_compacted_and_keep_their_fields() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut c = Conn::new(keel.port);
    let opts = br#"{"attempts":3,"backoff":{"type":"exponential","delay":1000},"removeOnComplete":100,"removeOnFail":500}"#;
    let n = 60_000;
    let jobs: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|i| {
            let data = format!(
                r#"{{"user":"user-{i}","email":"user{i}@example.com","order":{}}}"#,
                i * 7919
            );
            let ts = (1_700_000_000_000u64 + i as u64).to_string();
            words(&[
                b"HSET",
                format!("bull:emails:{i}").as_bytes(),
                b"name",
                b"send-welcome",
                b"data",
                data.as_bytes(),
                b"opts",
                opts,
                b"timestamp",
                ts.as_bytes(),
                b"delay",
                b"0",
                b"priority",
                b"0",
                b"processedOn",
                ts.as_bytes(),
                b"attemptsMade",
                b"1",
            ])
        })
        .collect();
    pipeline(&mut c, &jobs);
    let doomed: Vec<Vec<Vec<u8>>> = (0..n)
        .filter(|i| i % 10 < 7)
        .map(|i| words(&[b"DEL", format!("bull:emails:{i}").as_bytes()]))
        .collect();
    pipeline(&mut c, &doomed);
    assert_eq!(c.cmd_str("MEMORY PURGE"), "+OK\r\n");
    let probes = ["bull:emails:7", "bull:emails:29998", "bull:emails:59999"];
    let read = |c: &mut Conn| -> Vec<Vec<u8>> {
        probes.iter().map(|k| c.cmd(&[b"HGETALL", k.as_bytes()])).collect()
    };
    let (digest, values) = (c.cmd_str("DEBUG DIGEST"), read(&mut c));
    assert!(values[0].starts_with(b"*16\r\n"));
    let run = defrag_run(&mut c, &[]);
    run.report_and_check("job hashes", 0.5);
    assert!(field(&run.done, "active_defrag_key_hits") > 0.0);
    assert_eq!(c.cmd_str("DEBUG DIGEST"), digest);
    assert!(read(&mut c) == values, "job hashes changed");
    assert_eq!(
        c.cmd_str("HGET bull:emails:9 opts").as_bytes(),
        [format!("${}\r\n", opts.len()).as_bytes(), opts, b"\r\n"].concat()
    );
}

/// A big value of each collection type and a big stream, with more elements (nodes) than
/// `active-defrag-max-scan-fields` (so they are moved in pieces after the main walk), built
/// interleaved with twins that are then deleted.
#[test]
fn big_collections_are_compacted_in_pieces_and_keep_their_elements() {
    let keel = start_keel(&["--enable-debug-command", "yes"]);
    let mut c = Conn::new(keel.port);
    let n = 24_000;
    let elem = |i: usize| format!("element-{i:06}-{}", "x".repeat(20 + i % 30)).into_bytes();
    let mut commands = Vec::new();
    for start in (0..n).step_by(8) {
        for twin in ["keep", "drop1", "drop2"] {
            let (mut list, mut set, mut hash, mut zset, mut stream) = (
                words(&[b"RPUSH", format!("list:{twin}").as_bytes()]),
                words(&[b"SADD", format!("set:{twin}").as_bytes()]),
                words(&[b"HSET", format!("hash:{twin}").as_bytes()]),
                words(&[b"ZADD", format!("zset:{twin}").as_bytes()]),
                words(&[
                    b"XADD",
                    format!("stream:{twin}").as_bytes(),
                    format!("{}-1", start + 1).as_bytes(),
                ]),
            );
            for i in start..start + 8 {
                list.push(elem(i));
                set.push(elem(i));
                hash.extend([elem(i), elem(i + 1)]);
                zset.extend([i.to_string().into_bytes(), elem(i)]);
                stream.extend([format!("f{}", i % 8).into_bytes(), elem(i)]);
            }
            commands.extend([list, set, hash, zset, stream]);
        }
    }
    pipeline(&mut c, &commands);
    assert_eq!(c.cmd_str("DEL list:drop1 list:drop2 set:drop1 set:drop2"), ":4\r\n");
    assert_eq!(c.cmd_str("DEL hash:drop1 hash:drop2 zset:drop1 zset:drop2"), ":4\r\n");
    assert_eq!(c.cmd_str("DEL stream:drop1 stream:drop2"), ":2\r\n");
    assert_eq!(c.cmd_str("MEMORY PURGE"), "+OK\r\n");
    let reads = [
        "XRANGE stream:keep - +",
        "LRANGE list:keep 0 -1",
        "SMEMBERS set:keep",
        "HGETALL hash:keep",
        "ZRANGE zset:keep 0 -1 WITHSCORES",
        "OBJECT ENCODING list:keep",
        "OBJECT ENCODING set:keep",
        "OBJECT ENCODING hash:keep",
        "OBJECT ENCODING zset:keep",
    ];
    let read = |c: &mut Conn| -> Vec<String> { reads.iter().map(|r| c.cmd_str(r)).collect() };
    let (digest, values) = (c.cmd_str("DEBUG DIGEST"), read(&mut c));
    assert_eq!(
        values[5..],
        ["$9\r\nquicklist\r\n", "$9\r\nhashtable\r\n", "$9\r\nhashtable\r\n", "$8\r\nskiplist\r\n"]
    );
    // Only five keys: whatever moves beyond their fixed blocks is moved by the pending
    // walk over their elements.
    let run = defrag_run(&mut c, &[("active-defrag-max-scan-fields", "100")]);
    run.report_and_check("big collections", 0.5);
    assert!(field(&run.done, "active_defrag_hits") > n as f64);
    assert_eq!(c.cmd_str("DEBUG DIGEST"), digest);
    assert!(read(&mut c) == values, "big collections changed");
    // They are still working values.
    assert_eq!(c.cmd_str("RPUSH list:keep tail"), format!(":{}\r\n", n + 1));
    assert_eq!(c.cmd_str("SREM set:keep element-000000-xxxxxxxxxxxxxxxxxxxx"), ":1\r\n");
    assert_eq!(
        c.cmd_str("ZSCORE zset:keep element-000005-xxxxxxxxxxxxxxxxxxxxxxxxx"),
        "$1\r\n5\r\n"
    );
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
