//! Real clients against a running keel-server: the `redis` crate, redis-cli, redis-benchmark.

use super::common::*;
use std::process::Command;

#[test]
fn redis_crate_client() {
    let srv = start_keel(&[]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", srv.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("job:1").arg("{\"name\":\"email\"}").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("job:1").query(&mut con).unwrap();
    assert_eq!(v, "{\"name\":\"email\"}");
    let missing: Option<String> = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
    assert_eq!(missing, None);
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.cmd("GET").arg("k99");
    let (last,): (i64,) = pipe.query(&mut con).unwrap();
    assert_eq!(last, 99);
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli is installed (redis-tools)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_talks_to_keel() {
    let srv = start_keel(&[]);
    assert_eq!(redis_cli(srv.port, &["PING"]), "PONG\n");
    assert_eq!(redis_cli(srv.port, &["SET", "a", "hello world"]), "OK\n");
    assert_eq!(redis_cli(srv.port, &["GET", "a"]), "hello world\n");
    assert_eq!(redis_cli(srv.port, &["GET", "nope"]), "\n");
}

#[test]
fn redis_benchmark_runs_against_keel() {
    let srv = start_keel(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &srv.port.to_string(),
            "-t",
            "set,get",
            "-n",
            "2000",
            "-c",
            "4",
            "-q",
            "--csv",
        ])
        .output()
        .expect("redis-benchmark is installed (redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"SET\""), "{text}");
    assert!(text.contains("\"GET\""), "{text}");
    let mut c = Conn::new(srv.port);
    let n = c.cmd(&[b"DBSIZE"]);
    assert_eq!(n, b":1\r\n", "redis-benchmark's SET/GET use key:__rand_int__ -> one key");
}
