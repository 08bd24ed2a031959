//! Generated command sequences: proptest builds random scripts over a small key and value
//! space (strings, keys and expiry, lists, hashes, sets, sorted sets, streams, bitmaps and
//! HyperLogLog, all on the same few keys so type errors are exercised too), runs each
//! against redis-server and keel-server, and every reply must be equal (after sorting the
//! replies of commands whose order Redis leaves unspecified).

use super::common::{start_keel, start_redis, Conn, TestServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const KEYS: &[&str] = &["a", "b", "c", "{x}1", ""];
const VALUES: &[&str] =
    &["0", "1", "-1", "10", "foo", "bar", "", "3.5", "9223372036854775807", "x y"];

/// Commands whose reply is an unordered collection.
const UNORDERED: &[&str] =
    &["SMEMBERS", "SUNION", "SINTER", "SDIFF", "HKEYS", "HVALS", "HGETALL", "KEYS"];

/// One generated command: a template filled from the key and value space.
fn command() -> impl Strategy<Value = Vec<String>> {
    let key = prop::sample::select(KEYS).prop_map(str::to_string);
    let val = prop::sample::select(VALUES).prop_map(str::to_string);
    let int = prop_oneof![Just(0i64), Just(1), Just(-1), Just(2), Just(-3), 5i64..20]
        .prop_map(|n| n.to_string());
    let templates: Vec<BoxedStrategy<Vec<String>>> = vec![
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["SET".into(), k, v]).boxed(),
        key.clone().prop_map(|k| vec!["GET".into(), k]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["APPEND".into(), k, v]).boxed(),
        key.clone().prop_map(|k| vec!["INCR".into(), k]).boxed(),
        (key.clone(), int.clone()).prop_map(|(k, n)| vec!["INCRBY".into(), k, n]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["INCRBYFLOAT".into(), k, v]).boxed(),
        (key.clone(), int.clone(), int.clone())
            .prop_map(|(k, a, b)| vec!["GETRANGE".into(), k, a, b])
            .boxed(),
        (key.clone(), int.clone(), val.clone())
            .prop_map(|(k, o, v)| vec!["SETRANGE".into(), k, o, v])
            .boxed(),
        key.clone().prop_map(|k| vec!["STRLEN".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["DEL".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["TYPE".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["EXISTS".into(), k]).boxed(),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["RENAME".into(), a, b]).boxed(),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["COPY".into(), a, b]).boxed(),
        (key.clone(), key.clone(), val.clone())
            .prop_map(|(a, b, v)| vec!["MSET".into(), a, v.clone(), b, v])
            .boxed(),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["MGET".into(), a, b]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["GETSET".into(), k, v]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["SETNX".into(), k, v]).boxed(),
        (key.clone(), int.clone()).prop_map(|(k, n)| vec!["EXPIRE".into(), k, n]).boxed(),
        key.clone().prop_map(|k| vec!["PERSIST".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["TTL".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["GETDEL".into(), k]).boxed(),
        Just(vec!["DBSIZE".to_string()]).boxed(),
        Just(vec!["KEYS".to_string(), "*".to_string()]).boxed(),
        // Lists.
        (key.clone(), val.clone(), val.clone())
            .prop_map(|(k, a, b)| vec!["LPUSH".into(), k, a, b])
            .boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["RPUSH".into(), k, v]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["LPUSHX".into(), k, v]).boxed(),
        key.clone().prop_map(|k| vec!["LPOP".into(), k]).boxed(),
        (key.clone(), int.clone()).prop_map(|(k, n)| vec!["RPOP".into(), k, n]).boxed(),
        (key.clone(), int.clone(), int.clone())
            .prop_map(|(k, a, b)| vec!["LRANGE".into(), k, a, b])
            .boxed(),
        (key.clone(), int.clone(), val.clone())
            .prop_map(|(k, i, v)| vec!["LSET".into(), k, i, v])
            .boxed(),
        (key.clone(), int.clone(), val.clone())
            .prop_map(|(k, n, v)| vec!["LREM".into(), k, n, v])
            .boxed(),
        (key.clone(), int.clone(), int.clone())
            .prop_map(|(k, a, b)| vec!["LTRIM".into(), k, a, b])
            .boxed(),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["RPOPLPUSH".into(), a, b]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["LPOS".into(), k, v]).boxed(),
        key.clone().prop_map(|k| vec!["LLEN".into(), k]).boxed(),
        // Hashes (small: listpack order is part of the reply).
        (key.clone(), val.clone(), val.clone())
            .prop_map(|(k, f, v)| vec!["HSET".into(), k, f, v])
            .boxed(),
        (key.clone(), val.clone()).prop_map(|(k, f)| vec!["HGET".into(), k, f]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, f)| vec!["HDEL".into(), k, f]).boxed(),
        key.clone().prop_map(|k| vec!["HGETALL".into(), k]).boxed(),
        (key.clone(), val.clone(), int.clone())
            .prop_map(|(k, f, n)| vec!["HINCRBY".into(), k, f, n])
            .boxed(),
        (key.clone(), val.clone(), val.clone())
            .prop_map(|(k, f, v)| vec!["HSETNX".into(), k, f, v])
            .boxed(),
        key.clone().prop_map(|k| vec!["HLEN".into(), k]).boxed(),
        // Sets.
        (key.clone(), val.clone(), val.clone())
            .prop_map(|(k, a, b)| vec!["SADD".into(), k, a, b])
            .boxed(),
        (key.clone(), val.clone()).prop_map(|(k, m)| vec!["SREM".into(), k, m]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, m)| vec!["SISMEMBER".into(), k, m]).boxed(),
        key.clone().prop_map(|k| vec!["SMEMBERS".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["SCARD".into(), k]).boxed(),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["SINTER".into(), a, b]).boxed(),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["SUNION".into(), a, b]).boxed(),
        (key.clone(), key.clone(), key.clone())
            .prop_map(|(d, a, b)| vec!["SDIFFSTORE".into(), d, a, b])
            .boxed(),
        (key.clone(), key.clone(), val.clone())
            .prop_map(|(a, b, m)| vec!["SMOVE".into(), a, b, m])
            .boxed(),
        // Sorted sets.
        (key.clone(), int.clone(), val.clone())
            .prop_map(|(k, s, m)| vec!["ZADD".into(), k, s, m])
            .boxed(),
        (key.clone(), val.clone(), val.clone())
            .prop_map(|(k, s, m)| vec!["ZADD".into(), k, "XX".into(), "CH".into(), s, m])
            .boxed(),
        (key.clone(), int.clone(), val.clone())
            .prop_map(|(k, s, m)| vec!["ZINCRBY".into(), k, s, m])
            .boxed(),
        (key.clone(), val.clone()).prop_map(|(k, m)| vec!["ZREM".into(), k, m]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, m)| vec!["ZSCORE".into(), k, m]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, m)| vec!["ZRANK".into(), k, m]).boxed(),
        (key.clone(), int.clone(), int.clone())
            .prop_map(|(k, a, b)| vec!["ZRANGE".into(), k, a, b, "WITHSCORES".into()])
            .boxed(),
        (key.clone(), int.clone(), int.clone())
            .prop_map(|(k, a, b)| vec!["ZRANGEBYSCORE".into(), k, a, b])
            .boxed(),
        (key.clone(), int.clone(), int.clone())
            .prop_map(|(k, a, b)| vec!["ZCOUNT".into(), k, a, b])
            .boxed(),
        key.clone().prop_map(|k| vec!["ZPOPMIN".into(), k]).boxed(),
        key.clone().prop_map(|k| vec!["ZCARD".into(), k]).boxed(),
        (key.clone(), key.clone(), key.clone())
            .prop_map(|(d, a, b)| vec!["ZUNIONSTORE".into(), d, "2".into(), a, b])
            .boxed(),
        // Streams (explicit IDs keep replies deterministic).
        (key.clone(), 1u32..20)
            .prop_map(|(k, id)| vec!["XADD".into(), k, format!("{id}-0"), "f".into(), "v".into()])
            .boxed(),
        key.clone().prop_map(|k| vec!["XRANGE".into(), k, "-".into(), "+".into()]).boxed(),
        key.clone().prop_map(|k| vec!["XLEN".into(), k]).boxed(),
        (key.clone(), 1u32..20)
            .prop_map(|(k, id)| vec!["XDEL".into(), k, format!("{id}-0")])
            .boxed(),
        // Bitmaps and HyperLogLog.
        (key.clone(), 0u32..40, 0u32..2)
            .prop_map(|(k, o, b)| vec!["SETBIT".into(), k, o.to_string(), b.to_string()])
            .boxed(),
        key.clone().prop_map(|k| vec!["BITCOUNT".into(), k]).boxed(),
        (key.clone(), val.clone()).prop_map(|(k, v)| vec!["PFADD".into(), k, v]).boxed(),
        key.clone().prop_map(|k| vec!["PFCOUNT".into(), k]).boxed(),
    ];
    prop::strategy::Union::new(templates)
}

fn normalise(cmd: &str, raw: Vec<u8>) -> Vec<u8> {
    if !UNORDERED.contains(&cmd) {
        return raw;
    }
    match resp::reply::decode(&raw) {
        Ok(Some((resp::Frame::Array(items), _))) => {
            let mut enc: Vec<Vec<u8>> = items
                .iter()
                .map(|f| {
                    let mut o = Vec::new();
                    resp::encode(f, resp::Proto::Resp2, &mut o);
                    o
                })
                .collect();
            enc.sort();
            enc.concat()
        }
        _ => raw,
    }
}

fn run_script(
    redis: &TestServer,
    keel: &TestServer,
    script: &[Vec<String>],
) -> Result<(), TestCaseError> {
    let mut r = Conn::new(redis.port);
    let mut k = Conn::new(keel.port);
    r.cmd(&[b"FLUSHALL"]);
    k.cmd(&[b"FLUSHALL"]);
    for (i, cmd) in script.iter().enumerate() {
        let argv: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let name = cmd[0].to_uppercase();
        let a = normalise(&name, r.cmd(&argv));
        let b = normalise(&name, k.cmd(&argv));
        prop_assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "step {} of {:?}: {:?}",
            i,
            script,
            cmd
        );
    }
    Ok(())
}

#[test]
fn generated_sequences_match_redis() {
    let redis = start_redis(&[]);
    let keel = start_keel(&[]);
    let mut runner =
        TestRunner::new(Config { cases: 200, failure_persistence: None, ..Config::default() });
    let result = runner
        .run(&prop::collection::vec(command(), 1..40), |script| run_script(&redis, &keel, &script));
    if let Err(e) = result {
        panic!("{e}");
    }
}
