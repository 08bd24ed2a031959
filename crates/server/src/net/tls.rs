//! TLS for `tls-port`, on rustls (the *ring* provider).
//!
//! A TLS connection is a plain mio `TcpStream` plus a rustls `ServerConnection` that owns the
//! record layer. [`TlsStream`] implements `Read`/`Write` on the plaintext, moving records
//! between the socket and rustls's buffers without ever blocking, so the event loop, the
//! client buffers and the held-output limit of the AOF stage work on it exactly as on a
//! plain socket: the handshake simply happens inside the first reads and writes.
//!
//! Settings map onto Redis's as follows. `tls-cert-file`/`tls-key-file` (PEM) are the
//! server's identity; `tls-ca-cert-file` and `tls-ca-cert-dir` (every PEM certificate in the
//! directory) are the roots client certificates are checked against; `tls-auth-clients`
//! `yes` requires a client certificate, `optional` checks one only when offered, `no` asks
//! for none. `tls-protocols` accepts `TLSv1.2` and `TLSv1.3` (rustls has no older version).
//! `tls-ciphersuites` (TLS 1.3) and `tls-ciphers` (TLS 1.2) take colon-separated OpenSSL
//! suite names; only exact names of the suites rustls implements map (see [`SUITES`]):
//! OpenSSL's cipher-list grammar (`HIGH`, `!aNULL`, `DEFAULT`...) does not, and such words
//! are logged and ignored. Encrypted keys (`tls-key-file-pass`) are not supported.
//! The settings are read when the listener opens at startup, and again by `CONFIG SET` of
//! a `tls-*` parameter ([`reload`]): new connections get the new settings, established ones
//! keep theirs, as with Redis's OpenSSL context.

use crate::config::{Config, P};
use mio::net::TcpStream;
use rustls::crypto::ring::cipher_suite as cs;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Arc, Mutex};

/// OpenSSL's names for the suites rustls implements, the TLS 1.3 ones first.
const SUITES: &[(&str, SupportedCipherSuite)] = &[
    ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
    ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
    ("TLS_CHACHA20_POLY1305_SHA256", cs::TLS13_CHACHA20_POLY1305_SHA256),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("ECDHE-RSA-AES256-GCM-SHA384", cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("ECDHE-RSA-AES128-GCM-SHA256", cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("ECDHE-RSA-CHACHA20-POLY1305", cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
];

/// The settings new TLS connections get, shared by the TLS listeners (and their duplicates
/// lent to the busy and loading services) and the server, which swaps them on `CONFIG SET`.
#[derive(Clone)]
pub struct Settings(Arc<Mutex<Arc<ServerConfig>>>);

impl Settings {
    /// Settings holding `config`.
    pub fn new(config: Arc<ServerConfig>) -> Settings {
        Settings(Arc::new(Mutex::new(config)))
    }

    /// The configuration for a connection accepted now.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes `config` the one new connections get.
    fn replace(&self, config: Arc<ServerConfig>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = config;
    }
}

/// After `CONFIG SET` changed parameters `changed` (indexes into the parameter table):
/// when one of them is a server-side `tls-*` setting and a TLS port is open, rebuilds the
/// configuration for new connections. On failure (a missing file, a bad key...) the reason
/// is logged and the index of the first such parameter returned, so the command can undo
/// itself and name it, as Redis does.
pub fn reload(
    settings: Option<&Settings>,
    cfg: &Config,
    log: &crate::log::Logger,
    changed: &[usize],
) -> Result<(), usize> {
    const SERVER_SIDE: [P; 7] = [
        P::TlsCertFile,
        P::TlsKeyFile,
        P::TlsCaCertFile,
        P::TlsCaCertDir,
        P::TlsAuthClients,
        P::TlsProtocols,
        P::TlsCiphersuites,
    ];
    let touches =
        |i: usize| SERVER_SIDE.iter().any(|&p| p as usize == i) || i == P::TlsCiphers as usize;
    let (Some(settings), Some(&first)) = (settings, changed.iter().find(|&&i| touches(i))) else {
        return Ok(());
    };
    match server_config(cfg, log) {
        Ok(config) => {
            settings.replace(config);
            Ok(())
        }
        Err(e) => {
            log.warning(&e);
            Err(first)
        }
    }
}

/// Builds the rustls server configuration from the `tls-*` parameters. The error is the
/// reason, for the startup log.
pub fn server_config(cfg: &Config, log: &crate::log::Logger) -> Result<Arc<ServerConfig>, String> {
    let cert_file = cfg.str(P::TlsCertFile);
    let key_file = cfg.str(P::TlsKeyFile);
    if cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    if key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("Failed to load certificate: {cert_file}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("Failed to load private key: {key_file}: {e}"))?;

    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = cipher_suites(cfg, log)?;
    let provider = Arc::new(provider);
    let versions = protocol_versions(cfg.str(P::TlsProtocols), log)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Failed to configure TLS protocols: {e}"))?;
    let mode = cfg.word(P::TlsAuthClients);
    let builder = if mode == "no" {
        builder.with_no_client_auth()
    } else {
        let roots = Arc::new(client_roots(cfg)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
        let verifier = if mode == "optional" { verifier.allow_unauthenticated() } else { verifier };
        let verifier =
            verifier.build().map_err(|e| format!("Failed to configure CA certificates: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("Failed to load certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// The roots client certificates must chain to: the CA file's certificates plus every PEM
/// certificate found in the CA directory.
fn client_roots(cfg: &Config) -> Result<RootCertStore, String> {
    let (file, dir) = (cfg.str(P::TlsCaCertFile), cfg.str(P::TlsCaCertDir));
    if file.is_empty() && dir.is_empty() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when \
                    tls-cluster, tls-replication or tls-auth-clients are enabled!"
            .into());
    }
    let mut roots = RootCertStore::empty();
    let mut add = |path: &std::path::Path, strict: bool| -> Result<(), String> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("Failed to load CA certificate(s) {}: {e}", path.display()));
        match certs {
            Ok(certs) => {
                roots.add_parsable_certificates(certs);
                Ok(())
            }
            // A directory may hold other files (OpenSSL's hash links, CRLs): skip them.
            Err(_) if !strict => Ok(()),
            Err(e) => Err(e),
        }
    };
    if !file.is_empty() {
        add(std::path::Path::new(file), true)?;
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("Failed to load CA certificate directory {dir}: {e}"))?;
        for entry in entries.flatten() {
            add(&entry.path(), false)?;
        }
    }
    if roots.is_empty() {
        return Err("No usable CA certificate found in tls-ca-cert-file/tls-ca-cert-dir".into());
    }
    Ok(roots)
}

/// `tls-protocols`: empty means every version rustls has.
fn protocol_versions(
    text: &str,
    log: &crate::log::Logger,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    if text.trim().is_empty() {
        return Ok(rustls::ALL_VERSIONS.to_vec());
    }
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => {
                log.warning(&format!("TLS protocol {word} is not supported (insecure), ignored"))
            }
            _ => {
                return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', \
                            'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'."
                    .into())
            }
        }
    }
    if out.is_empty() {
        return Err("None of the tls-protocols is supported: use TLSv1.2 and/or TLSv1.3".into());
    }
    Ok(out)
}

/// The provider's suites filtered by `tls-ciphersuites` (TLS 1.3) and `tls-ciphers`
/// (TLS 1.2): an empty setting keeps all of that version's suites.
fn cipher_suites(
    cfg: &Config,
    log: &crate::log::Logger,
) -> Result<Vec<SupportedCipherSuite>, String> {
    let pick = |text: &str, tls13: bool| -> Vec<SupportedCipherSuite> {
        let of_version =
            SUITES.iter().filter(|(_, s)| matches!(s, SupportedCipherSuite::Tls13(_)) == tls13);
        if text.trim().is_empty() {
            return of_version.map(|(_, s)| *s).collect();
        }
        let mut out = Vec::new();
        for name in text.split(':').map(str::trim).filter(|n| !n.is_empty()) {
            match of_version.clone().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, s)) => out.push(*s),
                None => {
                    log.warning(&format!("TLS cipher '{name}' has no rustls equivalent, ignored"))
                }
            }
        }
        out
    };
    let mut suites = pick(cfg.str(P::TlsCiphersuites), true);
    suites.extend(pick(cfg.str(P::TlsCiphers), false));
    if suites.is_empty() {
        return Err("No usable cipher suite in tls-ciphersuites/tls-ciphers".into());
    }
    Ok(suites)
}

/// A server-side TLS connection over a non-blocking TCP socket.
pub struct TlsStream {
    /// The socket, registered with the event loop.
    pub tcp: TcpStream,
    conn: ServerConnection,
}

impl TlsStream {
    /// Starts the server side of a handshake on an accepted socket.
    pub fn new(tcp: TcpStream, config: &Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(TlsStream { tcp, conn })
    }

    /// True while encrypted bytes wait for room in the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends what rustls has queued (handshake messages, records, alerts) until the socket
    /// is full (`WouldBlock`) or everything went.
    fn send_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads records from the socket into rustls. Returns false at end of stream. A
    /// protocol or certificate error is sent to the peer as an alert, then returned.
    fn receive_tls(&mut self) -> io::Result<bool> {
        loop {
            match self.conn.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        let _ = self.send_tls();
                        return Err(io::Error::new(ErrorKind::InvalidData, e));
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for TlsStream {
    /// Fills `buf` with plaintext as far as the socket allows. Unlike a plain socket, a
    /// short result must still mean the socket is drained: the event loop is edge-triggered
    /// and stops reading at the first short read, so records still in the kernel buffer
    /// would otherwise wait for an event that never comes.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        let mut eof = false;
        while filled < buf.len() {
            match self.conn.reader().read(&mut buf[filled..]) {
                Ok(0) => {
                    // close_notify from the peer.
                    eof = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    eof = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            match self.receive_tls() {
                Ok(true) => {}
                Ok(false) => {
                    eof = true;
                    // Plaintext decoded from the last records is still taken above.
                    if self.conn.reader().read(&mut buf[filled..]).is_ok_and(|n| n > 0) {
                        continue;
                    }
                    break;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        // Handshake replies and key updates produced by what was read.
        match self.send_tls() {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if filled > 0 || eof {
            Ok(filled)
        } else {
            Err(ErrorKind::WouldBlock.into())
        }
    }
}

impl Write for TlsStream {
    /// Encrypts as much of `buf` as rustls buffers (it bounds its own buffer) and sends
    /// it. Nothing new is taken while older records still wait for the socket, so the
    /// memory held here stays bounded and `WouldBlock` reaches the caller as on TCP.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_tls()?;
        let n = self.conn.writer().write(buf)?;
        match self.send_tls() {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if n == 0 && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends the records still queued; `WouldBlock` while the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        self.send_tls()
    }
}
