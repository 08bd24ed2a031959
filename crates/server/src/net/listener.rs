//! Listening sockets: TCP on each `bind` address, TLS on `tls-port`, and the optional Unix
//! socket. Streams and listeners are mio event sources whatever their kind, so the event
//! loop registers them without knowing which kind they are.

use super::tls::TlsStream;
use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// A connected client socket of either family.
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
    /// TLS over TCP (boxed: the rustls state is large).
    Tls(Box<TlsStream>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// Plain sockets hold nothing; TLS may still hold encrypted records.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tls(s) => s.tcp.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tls(s) => s.tcp.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            Stream::Tls(s) => s.tcp.deregister(r),
        }
    }
}

impl Stream {
    /// The raw file descriptor (for `CLIENT LIST fd=`).
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.tcp.as_raw_fd(),
        }
    }

    /// The TCP socket under a TCP or TLS stream (for keepalive settings).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Tls(s) => Some(&s.tcp),
            Stream::Unix(_) => None,
        }
    }

    /// True while a TLS stream holds encrypted bytes the socket had no room for (a
    /// handshake message produced while reading): the event loop must then wait for the
    /// socket to become writable even with no reply queued.
    pub fn wants_write(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.wants_write())
    }
}

/// A listening socket of either family.
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix domain socket.
    Unix(UnixListener),
    /// TCP whose connections speak TLS with these settings (`tls-port`).
    Tls(TcpListener, super::tls::Settings),
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => l.register(r, t, i),
            Listener::Unix(l) => l.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => l.reregister(r, t, i),
            Listener::Unix(l) => l.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => l.deregister(r),
            Listener::Unix(l) => l.deregister(r),
        }
    }
}

/// An accepted connection with its peer and local address text.
pub struct Accepted {
    /// The socket.
    pub stream: Stream,
    /// Peer address (`ip:port`, or the socket path).
    pub addr: String,
    /// Local address.
    pub laddr: String,
}

impl Listener {
    /// A second handle on the same listening socket (a duplicated descriptor), for the
    /// busy-script service to accept on while the event loop's own handle is out of reach.
    pub fn try_clone(&self) -> io::Result<Listener> {
        let dup = match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => socket2::SockRef::from(l).try_clone()?,
            Listener::Unix(l) => socket2::SockRef::from(l).try_clone()?,
        };
        Ok(match self {
            Listener::Tcp(_) => Listener::Tcp(TcpListener::from_std(dup.into())),
            Listener::Tls(_, cfg) => Listener::Tls(TcpListener::from_std(dup.into()), cfg.clone()),
            Listener::Unix(_) => Listener::Unix(UnixListener::from_std(dup.into())),
        })
    }

    /// Accepts one pending connection.
    pub fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) | Listener::Tls(l, _) => {
                let (s, peer) = l.accept()?;
                let _ = s.set_nodelay(true);
                let laddr = s.local_addr().map(|a| fmt_addr(&a)).unwrap_or_default();
                let stream = match self {
                    Listener::Tls(_, tls) => {
                        Stream::Tls(Box::new(TlsStream::new(s, &tls.current())?))
                    }
                    _ => Stream::Tcp(s),
                };
                Ok(Accepted { stream, addr: fmt_addr(&peer), laddr })
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                let path = l
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                    .unwrap_or_default();
                Ok(Accepted { stream: Stream::Unix(s), addr: format!("{path}:0"), laddr: path })
            }
        }
    }
}

/// Formats an address as Redis does: `ip:port`, with IPv6 addresses unbracketed.
pub fn fmt_addr(a: &SocketAddr) -> String {
    format!("{}:{}", a.ip(), a.port())
}

/// Opens a TCP listener on `port` at each address of a `bind` value (`*` is every IPv4
/// address, `::*` every IPv6 one). A leading `-` marks an optional address: failing to parse
/// or bind it is logged and skipped; any other failure is the error returned.
pub fn bind_all(
    binds: &str,
    port: u16,
    backlog: i32,
    log: &crate::log::Logger,
) -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for word in binds.split_whitespace() {
        let (optional, text) = match word.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let ip: std::net::IpAddr = match text {
            "*" => std::net::IpAddr::from([0u8, 0, 0, 0]),
            "::*" => std::net::IpAddr::from([0u16; 8]),
            _ => match text.parse() {
                Ok(ip) => ip,
                Err(_) if optional => continue,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("Invalid bind address '{text}'"),
                    ))
                }
            },
        };
        match bind_tcp(SocketAddr::new(ip, port), backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => {
                log.verbose(&format!("Could not bind optional address {text}:{port}: {e}"));
            }
            Err(e) => {
                log.warning(&format!(
                    "Warning: Could not create server TCP listening socket {text}:{port}: {e}"
                ));
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Opens a TCP listener with `SO_REUSEADDR` and the given backlog.
pub fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() { libc::AF_INET6 } else { libc::AF_INET };
    let std_listener = socket::listen(domain, addr, backlog)?;
    Ok(TcpListener::from_std(std_listener))
}

mod socket {
    //! The one place that needs raw socket calls: mio's `TcpListener::bind` does not let the
    //! backlog be chosen, and IPv6 sockets must be `IPV6_V6ONLY` so `bind * -::*` can listen
    //! on both families at the same port, as Redis does.
    use std::io;
    use std::net::SocketAddr;

    pub fn listen(
        domain: i32,
        addr: SocketAddr,
        backlog: i32,
    ) -> io::Result<std::net::TcpListener> {
        let sock = socket2::Socket::new(
            socket2::Domain::from(domain),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(backlog)?;
        Ok(sock.into())
    }
}
