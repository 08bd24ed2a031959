//! No acknowledged write is lost: clients write keys as fast as they can, the server gets
//! SIGKILL at a random moment, and after a restart on the same directory every key that was
//! acknowledged is there, with `appendfsync always` and with `everysec` (a kill -9 does not
//! lose what was written to the kernel, and the write happens before the reply).

use crate::common::{start_keel, Conn};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRITERS: usize = 4;

/// One round: writers in threads, a kill -9 after `after_ms`, a restart, a check.
fn kill_and_check(policy: &str, after_ms: u64) {
    let mut keel = start_keel(&["--appendfsync", policy]);
    let port = keel.port;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                let mut c = Conn::new(port);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}:{i}");
                    c.send(&[b"SET", key.as_bytes(), b"v"]);
                    match c.read_reply() {
                        Some(r) if r == b"+OK\r\n" => acked.lock().unwrap().push(key),
                        _ => break,
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(after_ms));
    let _ = keel.child.kill();
    let _ = keel.child.wait();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no write was acknowledged before the kill");
    let dir = keel.dir.path().display().to_string();
    let again = start_keel(&["--dir", &dir]);
    let mut c = Conn::new(again.port);
    for chunk in acked.chunks(500) {
        let mut argv: Vec<&[u8]> = vec![b"EXISTS"];
        argv.extend(chunk.iter().map(|k| k.as_bytes()));
        let reply = String::from_utf8(c.cmd(&argv)).unwrap();
        assert_eq!(reply, format!(":{}\r\n", chunk.len()), "{policy}: acknowledged keys lost");
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged_with_always() {
    let mut rng = rand::rng();
    for _ in 0..3 {
        kill_and_check("always", rng.random_range(100..500));
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged_with_everysec() {
    let mut rng = rand::rng();
    for _ in 0..3 {
        kill_and_check("everysec", rng.random_range(100..500));
    }
}
