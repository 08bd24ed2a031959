//! FUNCTION DUMP and RESTORE round trips. The differential suite cannot express these (a
//! case would have to carry one reply into the next command); it compares raw payloads
//! only with `rdb-version 10`, since by default Keel writes Redis 7.2's version 11 and the
//! 7.0 oracle 10. Here each server restores its own dump and the transcripts are compared.

use crate::common::{same_on_both, start_keel, start_redis, Conn};

const LIB: &str = "#!lua name=rt\n\
redis.register_function('rt', function(keys, args) return 'round trip' end)\n\
redis.register_function{function_name='rt2', callback=function() return 2 end, \
flags={'no-writes'}, description='second'}";

const OTHER: &str = "#!lua name=other\nredis.register_function('o', function() return 'o' end)";

/// The payload of a bulk-string reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    assert!(text.starts_with('$'), "not a bulk reply: {text}");
    let header_end = reply.windows(2).position(|w| w == b"\r\n").unwrap();
    let len: usize = std::str::from_utf8(&reply[1..header_end]).unwrap().parse().unwrap();
    reply[header_end + 2..header_end + 2 + len].to_vec()
}

#[test]
fn a_dump_restores_on_the_server_that_made_it() {
    same_on_both(|port| {
        let mut c = Conn::new(port);
        let mut out = Vec::new();
        out.push(c.cmd(&[b"FUNCTION", b"LOAD", LIB.as_bytes()]));
        out.push(c.cmd(&[b"FUNCTION", b"LOAD", OTHER.as_bytes()]));
        let payload = bulk(&c.cmd(&[b"FUNCTION", b"DUMP"]));
        out.push(c.cmd(&[b"FUNCTION", b"FLUSH"]));
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &payload]));
        out.push(c.cmd(&[b"FCALL", b"rt", b"0"]));
        out.push(c.cmd(&[b"FCALL_RO", b"rt2", b"0"]));
        out.push(c.cmd(&[b"FCALL", b"o", b"0"]));
        out.push(c.cmd(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"other", b"WITHCODE"]));
        out.push(c.cmd(&[b"FUNCTION", b"STATS"]));
        // A library exists now: APPEND (the default) refuses, REPLACE and FLUSH accept.
        // (One library only: with two, which one Redis names depends on its hash seed.)
        out.push(c.cmd(&[b"FUNCTION", b"DELETE", b"other"]));
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &payload]));
        out.push(c.cmd(&[b"FCALL", b"o", b"0"]));
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]));
        out.push(c.cmd(&[b"FUNCTION", b"DELETE", b"other"]));
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &payload, b"FLUSH"]));
        out.push(c.cmd(&[b"FCALL", b"o", b"0"]));
        // A dump of the restored libraries holds the same entries (Redis may list them in
        // another order: its library table is a seeded hash table).
        let again = bulk(&c.cmd(&[b"FUNCTION", b"DUMP"]));
        out.push(if again.len() == payload.len() { b"same".to_vec() } else { b"other".to_vec() });
        // Any changed byte breaks the checksum.
        let mut broken = payload.clone();
        broken[3] ^= 1;
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &broken]));
        // An empty dump restores nothing, and with FLUSH it empties the server.
        out.push(c.cmd(&[b"FUNCTION", b"FLUSH"]));
        let empty = bulk(&c.cmd(&[b"FUNCTION", b"DUMP"]));
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &payload]));
        out.push(c.cmd(&[b"FUNCTION", b"RESTORE", &empty, b"FLUSH"]));
        out.push(c.cmd(&[b"FUNCTION", b"LIST"]));
        out
    });
}

/// Keel restores what redis-server dumps (including LZF-compressed library code), and its
/// own dump has Redis's layout: `OPCODE_FUNCTION2` and the code as an RDB string per
/// library, then the footer.
#[test]
fn keel_reads_redis_dumps_and_writes_the_same_layout() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let mut r = Conn::new(redis.port);
    let mut k = Conn::new(keel.port);
    // Long, repetitive code, which Redis stores LZF-compressed.
    let long = format!(
        "#!lua name=long\n{}redis.register_function('long', function() return 'long' end)",
        "-- a comment line that repeats, so that the library code compresses well\n".repeat(20)
    );
    for lib in [LIB, long.as_str()] {
        r.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]);
        k.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]);
    }
    let from_redis = bulk(&r.cmd(&[b"FUNCTION", b"DUMP"]));
    assert!(from_redis.len() < long.len(), "redis-server compressed the long library");
    k.cmd(&[b"FUNCTION", b"FLUSH"]);
    assert_eq!(k.cmd(&[b"FUNCTION", b"RESTORE", &from_redis]), b"+OK\r\n");
    assert_eq!(k.cmd(&[b"FCALL", b"long", b"0"]), b"$4\r\nlong\r\n");
    assert_eq!(k.cmd(&[b"FCALL", b"rt", b"0"]), b"$10\r\nround trip\r\n");

    let dump = bulk(&k.cmd(&[b"FUNCTION", b"DUMP"]));
    let mut expected = Vec::new();
    // Library-name order: "long" before "rt"; code is LZF-compressed where that pays
    // (`rdbcompression yes`, the default), as in Redis.
    for code in [long.as_bytes(), LIB.as_bytes()] {
        expected.push(245);
        keel_server::rdb::write_blob(&mut expected, code, true);
    }
    assert!(expected.len() < long.len(), "the long library is compressed");
    assert_eq!(dump, keel_server::rdb::seal_payload(expected));
}
