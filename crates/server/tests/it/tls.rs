//! TLS on `tls-port`: certificates made by the test with Debian's openssl, real clients
//! (redis-cli --tls, openssl s_client) against keel-server and redis-server started with the
//! same options; the outputs must agree.

use crate::common::{free_port, start_keel, start_redis, Conn, TestServer};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by
/// it, and a client certificate from another CA nobody trusts.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for ca in ["ca", "rogue-ca"] {
            openssl(
                d,
                &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"],
                ca,
                &[
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                    "-subj",
                    &format!("/CN={ca}"),
                ],
            );
        }
        Self::leaf(
            d,
            "server",
            "ca",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        );
        Self::leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n");
        Self::leaf(d, "rogue", "rogue-ca", "extendedKeyUsage=clientAuth\n");
        Certs { dir }
    }

    /// A key and a certificate `name.crt` signed by `ca` with the given extensions.
    fn leaf(d: &Path, name: &str, ca: &str, ext: &str) {
        std::fs::write(d.join(format!("{name}.ext")), format!("basicConstraints=CA:FALSE\n{ext}"))
            .unwrap();
        openssl(
            d,
            &["req", "-newkey", "rsa:2048", "-nodes"],
            name,
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            d,
            &["x509", "-req", "-days", "2", "-CAcreateserial"],
            name,
            &[
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-out",
                &format!("{name}.crt"),
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// Server options for TLS on `tls_port` with `auth` as `tls-auth-clients`.
    fn server_args(&self, tls_port: u16, auth: &str) -> Vec<String> {
        [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &self.path("server.crt"),
            "--tls-key-file",
            &self.path("server.key"),
            "--tls-ca-cert-file",
            &self.path("ca.crt"),
            "--tls-auth-clients",
            auth,
        ]
        .map(String::from)
        .to_vec()
    }
}

fn openssl(dir: &Path, head: &[&str], what: &str, tail: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(head)
        .args(tail)
        .output()
        .expect("openssl is installed (scripts/install-test-deps)");
    assert!(out.status.success(), "openssl for {what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A server of each kind (redis first) with `extra` options, and their TLS ports.
fn both(certs: &Certs, auth: &str, extra: &[&str]) -> Vec<(TestServer, u16)> {
    let starters: [fn(&[&str]) -> TestServer; 2] = [start_redis, start_keel];
    starters
        .iter()
        .map(|start| {
            let tls_port = free_port();
            let mut args = certs.server_args(tls_port, auth);
            args.extend(extra.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            (start(&refs), tls_port)
        })
        .collect()
}

/// redis-cli over TLS; `client` names the certificate pair to present, if any.
fn cli(certs: &Certs, port: u16, client: Option<&str>, args: &[&str], stdin: &[u8]) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["--tls", "--cacert", &certs.path("ca.crt"), "-p", &port.to_string()]);
    if let Some(name) = client {
        cmd.args(["--cert", &certs.path(&format!("{name}.crt"))]);
        cmd.args(["--key", &certs.path(&format!("{name}.key"))]);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli is installed");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The same redis-cli runs against both servers must print the same thing; returns it.
fn same(servers: &[(TestServer, u16)], run: impl Fn(u16) -> String) -> String {
    let outs: Vec<String> = servers.iter().map(|(_, port)| run(*port)).collect();
    assert_eq!(outs[0], outs[1], "redis-server vs keel-server");
    outs[0].clone()
}

#[test]
fn redis_cli_over_tls_matches_redis() {
    let certs = Certs::new();
    let servers = both(&certs, "no", &[]);
    let c = &certs;
    let out = same(&servers, |p| cli(c, p, None, &["PING"], b""));
    assert_eq!(out, "PONG\n");
    same(&servers, |p| cli(c, p, None, &["-x", "SET", "k"], b"v\x00\xff"));
    let out = same(&servers, |p| cli(c, p, None, &["GET", "k"], b""));
    // Raw output (not a terminal), read lossily: the 0xff byte shows as U+FFFD.
    assert_eq!(out, "v\u{0}\u{fffd}\n");
    same(&servers, |p| cli(c, p, None, &["-3", "HELLO", "3"], b"").lines().count().to_string());
    same(&servers, |p| cli(c, p, None, &["NOSUCHCMD"], b""));
    // A value bigger than every TLS and socket buffer, both ways.
    let big = "x".repeat(3 << 20);
    let out = same(&servers, |p| cli(c, p, None, &["-x", "SET", "big"], big.as_bytes()));
    assert_eq!(out, "OK\n");
    let out = same(&servers, |p| cli(c, p, None, &["STRLEN", "big"], b""));
    assert_eq!(out, format!("{}\n", big.len()));
    let out = same(&servers, |p| cli(c, p, None, &["--raw", "GET", "big"], b""));
    assert_eq!(out.len(), big.len() + 1);
    // A pipeline of many commands in few records.
    let pipe: String = (0..5000).map(|i| format!("SET key:{i} {i}\r\n")).collect();
    let out = same(&servers, |p| cli(c, p, None, &["--pipe"], pipe.as_bytes()));
    assert!(out.contains("errors: 0, replies: 5000"), "{out}");
    let out = same(&servers, |p| cli(c, p, None, &["DBSIZE"], b""));
    assert_eq!(out, "5002\n");
    // The plain port still speaks plain RESP next to the TLS one.
    for (srv, _) in &servers {
        assert_eq!(Conn::new(srv.port).cmd_str("PING"), "+PONG\r\n");
    }
}

#[test]
fn client_certificates_required_optional_and_untrusted() {
    let certs = Certs::new();
    let c = &certs;
    let required = both(c, "yes", &[]);
    // Refused without a certificate, and with one from an unknown CA.
    for client in [None, Some("rogue")] {
        for (_, port) in &required {
            let out = cli(c, *port, client, &["PING"], b"");
            assert!(!out.contains("PONG"), "{client:?} was let in: {out}");
        }
    }
    let out = same(&required, |p| cli(c, p, Some("client"), &["PING"], b""));
    assert_eq!(out, "PONG\n");
    let optional = both(c, "optional", &[]);
    for client in [None, Some("client")] {
        let out = same(&optional, |p| cli(c, p, client, &["PING"], b""));
        assert_eq!(out, "PONG\n");
    }
    // optional still checks a certificate that is offered.
    for (_, port) in &optional {
        assert!(!cli(c, *port, Some("rogue"), &["PING"], b"").contains("PONG"));
    }
}

/// Connects with openssl s_client (extra options `opts`), sends PING and returns what
/// s_client printed: the negotiated protocol and cipher, and the reply.
fn s_client(certs: &Certs, port: u16, opts: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-CAfile"])
        .arg(certs.path("ca.crt"))
        .args(["-ign_eof"])
        .args(opts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"PING\r\nQUIT\r\n").unwrap();
    drop(input);
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}

/// The lines of s_client's output this test compares.
fn negotiated(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| l.starts_with("+PONG") || l.contains("Cipher is") || l.contains("Protocol  :"))
        .map(str::trim)
        .collect()
}

#[test]
fn protocols_and_ciphersuites_restrict_the_handshake() {
    let certs = Certs::new();
    let c = &certs;
    let tls12 = both(c, "no", &["--tls-protocols", "TLSv1.2"]);
    let out = same(&tls12, |p| negotiated(&s_client(c, p, &[])).join("|"));
    assert!(out.contains("TLSv1.2") && out.contains("+PONG"), "{out}");
    let out = same(&tls12, |p| negotiated(&s_client(c, p, &["-tls1_3"])).join("|"));
    assert!(!out.contains("+PONG"), "{out}");

    let suite = "TLS_CHACHA20_POLY1305_SHA256";
    let chacha = both(c, "no", &["--tls-ciphersuites", suite]);
    let out = same(&chacha, |p| negotiated(&s_client(c, p, &["-tls1_3"])).join("|"));
    assert!(out.contains(suite) && out.contains("+PONG"), "{out}");
    let other = ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"];
    let out = same(&chacha, |p| negotiated(&s_client(c, p, &other)).join("|"));
    assert!(!out.contains("+PONG"), "{out}");

    let ecdhe = both(
        c,
        "no",
        &["--tls-protocols", "TLSv1.2", "--tls-ciphers", "ECDHE-RSA-AES128-GCM-SHA256"],
    );
    let out = same(&ecdhe, |p| negotiated(&s_client(c, p, &[])).join("|"));
    assert!(out.contains("ECDHE-RSA-AES128-GCM-SHA256") && out.contains("+PONG"), "{out}");
}

#[test]
fn maxclients_counts_tls_clients() {
    let certs = Certs::new();
    let servers = both(&certs, "no", &["--maxclients", "1"]);
    for (srv, tls_port) in &servers {
        // A TLS client holds the only slot while a plain one tries to connect.
        let mut holder = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", &format!("127.0.0.1:{tls_port}")])
            .args(["-CAfile", &certs.path("ca.crt")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        holder.stdin.as_mut().unwrap().write_all(b"PING\r\n").unwrap();
        let mut line = [0u8; 7];
        holder.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
        assert_eq!(&line, b"+PONG\r\n");
        let mut c = Conn::new(srv.port);
        assert_eq!(
            c.read_reply().map(|r| String::from_utf8_lossy(&r).into_owned()),
            Some("-ERR max number of clients reached\r\n".to_string())
        );
        let _ = holder.kill();
        let _ = holder.wait();
    }
}

#[test]
fn bad_tls_settings_stop_the_server_with_redis_messages() {
    let certs = Certs::new();
    let cases: [(&[&str], &str); 3] = [
        (&["--tls-cert-file", ""], "No tls-cert-file configured!"),
        (
            &["--tls-ca-cert-file", ""],
            "Either tls-ca-cert-file or tls-ca-cert-dir must be specified",
        ),
        (&["--tls-protocols", "TLSv1.4"], "Invalid tls-protocols specified."),
    ];
    for (extra, message) in cases {
        let mut args = certs.server_args(free_port(), "yes");
        args.extend(extra.iter().map(|s| s.to_string()));
        for bin in [crate::common::redis_bin().unwrap(), crate::common::keel_bin()] {
            let out = Command::new(&bin)
                .args(["--port", "0", "--save", "", "--appendonly", "no"])
                .args(&args)
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(!out.status.success(), "{} started: {log}", bin.display());
            assert!(log.contains(message), "{}: {log}", bin.display());
            assert!(log.contains("Failed to configure TLS. Check logs for more info."), "{log}");
        }
    }
}

/// A CA directory instead of a file.
#[test]
fn ca_cert_dir_is_used_for_client_certificates() {
    let certs = Certs::new();
    let cadir = certs.dir.path().join("cadir");
    std::fs::create_dir(&cadir).unwrap();
    std::fs::copy(certs.dir.path().join("ca.crt"), cadir.join("ca.pem")).unwrap();
    std::fs::write(cadir.join("README"), "not a certificate").unwrap();
    let tls_port = free_port();
    let mut args = certs.server_args(tls_port, "yes");
    args.extend(["--tls-ca-cert-file", "", "--tls-ca-cert-dir"].map(String::from));
    args.push(cadir.display().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let _srv = start_keel(&refs);
    assert_eq!(cli(&certs, tls_port, Some("client"), &["PING"], b""), "PONG\n");
    assert!(!cli(&certs, tls_port, None, &["PING"], b"").contains("PONG"));
}

/// With `appendfsync always` replies wait for the fsync of the writes they acknowledge (the
/// held-output limit); over TLS they must still all arrive, in order.
#[test]
fn held_replies_flow_through_tls() {
    let certs = Certs::new();
    let tls_port = free_port();
    let mut args = certs.server_args(tls_port, "no");
    args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let _srv = start_keel(&refs);
    let pipe: String = (0..3000).map(|i| format!("INCR n\r\nSET k{i} {i}\r\n")).collect();
    let out = cli(&certs, tls_port, None, &["--pipe"], pipe.as_bytes());
    assert!(out.contains("errors: 0, replies: 6000"), "{out}");
    assert_eq!(cli(&certs, tls_port, None, &["GET", "n"], b""), "3000\n");
}

/// CONFIG SET of TLS settings applies to new connections at once (a certificate renewed
/// without a restart, the protocols narrowed), as in Redis; a setting that cannot be loaded
/// fails the whole command with Redis's error and changes nothing.
#[test]
fn config_set_applies_tls_settings_to_new_connections() {
    let certs = Certs::new();
    let server_ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
    Certs::leaf(certs.dir.path(), "renewed", "ca", server_ext);
    let servers = both(&certs, "no", &[]);
    let c = &certs;
    let subject = |p| {
        let out = s_client(c, p, &[]);
        let line = out.lines().find(|l| l.starts_with("subject=")).unwrap_or_default();
        format!("{line} {}", negotiated(&out).join("|"))
    };
    let config = |p, args: &[&str]| cli(c, p, None, &[&["CONFIG"][..], args].concat(), b"");
    let out = same(&servers, subject);
    assert!(out.contains("server") && out.contains("+PONG"), "{out}");

    let (crt, key) = (c.path("renewed.crt"), c.path("renewed.key"));
    let renew = ["SET", "tls-cert-file", &crt, "tls-key-file", &key];
    assert_eq!(same(&servers, |p| config(p, &renew)), "OK\n");
    let out = same(&servers, subject);
    assert!(out.contains("renewed") && out.contains("+PONG"), "{out}");

    let bad = ["SET", "tls-protocols", "TLSv1.2", "tls-cert-file", "/nonexistent/server.crt"];
    let out = same(&servers, |p| config(p, &bad));
    assert!(out.contains("Unable to update TLS configuration. Check server logs."), "{out}");
    let out = same(&servers, |p| config(p, &["GET", "tls-cert-file"]));
    assert!(out.contains("renewed.crt"), "{out}");
    let out = same(&servers, |p| negotiated(&s_client(c, p, &["-tls1_3"])).join("|"));
    assert!(out.contains("TLSv1.3") && out.contains("+PONG"), "{out}");

    assert_eq!(same(&servers, |p| config(p, &["SET", "tls-protocols", "TLSv1.2"])), "OK\n");
    let out = same(&servers, |p| negotiated(&s_client(c, p, &["-tls1_3"])).join("|"));
    assert!(!out.contains("+PONG"), "{out}");
}
