//! The listening sockets: which addresses, dual-stack by default, and the
//! line that tells a user where to connect.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

use crate::Error;

/// Connections the kernel queues before they are accepted: enough for a
/// flash crowd (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: i32 = 4096;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// Every address of the host, IPv4 and IPv6: one dual-stack socket on
    /// `[::]`, or `0.0.0.0` alone where the system has no IPv6.
    Every,
    /// These addresses (a host name's, say), all on the same port.
    These(Vec<IpAddr>),
}

/// How the sockets are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// `SO_REUSEPORT`: several servers on one port, the kernel sharing the
    /// connections out between them.
    pub(crate) reuse_port: bool,
}

/// The bound sockets and what to tell a user about them.
#[derive(Debug)]
pub(crate) struct Listening {
    pub(crate) listeners: Vec<TcpListener>,
    pub(crate) addrs: Vec<SocketAddr>,
    /// Bound to every address: of IPv4 and IPv6, or of IPv4 only.
    every: Option<bool>,
}

impl Listening {
    pub(crate) fn bind(addresses: &Addresses, port: u16, options: Options) -> Result<Self, Error> {
        match addresses {
            Addresses::Every => {
                let any6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
                match listen(any6, options) {
                    Ok(listener) => Listening::of(vec![listener], Some(true)),
                    Err(error) if is_no_ipv6(&error) => {
                        log::debug!("no IPv6 here ({error}): listening on IPv4 only");
                        let any4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
                        let listener = listen(any4, options)
                            .map_err(|source| Error::Listen { addr: any4, source })?;
                        Listening::of(vec![listener], Some(false))
                    }
                    Err(source) => Err(Error::Listen { addr: any6, source }),
                }
            }
            Addresses::These(ips) => {
                let mut listeners: Vec<TcpListener> = Vec::with_capacity(ips.len());
                let mut port = port;
                for &ip in ips {
                    let address = SocketAddr::new(ip, port);
                    let listener = listen(address, options).map_err(|source| Error::Listen {
                        addr: address,
                        source,
                    })?;
                    // Port 0 picks one for the first address; the others
                    // take the same, so one port serves them all.
                    port = listener.local_addr().map_err(Error::LocalAddr)?.port();
                    listeners.push(listener);
                }
                Listening::of(listeners, None)
            }
        }
    }

    fn of(listeners: Vec<TcpListener>, every: Option<bool>) -> Result<Self, Error> {
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()
            .map_err(Error::LocalAddr)?;
        Ok(Listening {
            listeners,
            addrs,
            every,
        })
    }

    /// Where a client can connect, for the start-up line: the addresses
    /// bound, or for every address two loopback examples. The last word
    /// is always an address a client on this host can use.
    pub(crate) fn describe(&self) -> Describe<'_> {
        Describe(self)
    }
}

/// See [`Listening::describe`].
pub(crate) struct Describe<'a>(&'a Listening);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let listening = self.0;
        let port = listening.addrs.first().map_or(0, SocketAddr::port);
        let v4 = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
        match listening.every {
            Some(true) => write!(
                f,
                "every IPv4 and IPv6 address, such as {} and {v4}",
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)
            ),
            Some(false) => write!(f, "every IPv4 address, such as {v4}"),
            None => {
                for (index, addr) in listening.addrs.iter().enumerate() {
                    if index > 0 {
                        f.write_str(" and ")?;
                    }
                    write!(f, "{addr}")?;
                }
                Ok(())
            }
        }
    }
}

/// Whether binding `[::]` failed because the system has no IPv6.
fn is_no_ipv6(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

/// A listening socket with a backlog fit for a flash crowd (std's is
/// 128); `[::]` takes IPv4 clients too.
fn listen(address: SocketAddr, options: Options) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if address.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        socket.set_only_v6(false)?;
    } else if address.is_ipv6() {
        // A host name's IPv6 address beside its IPv4 one on the same port.
        socket.set_only_v6(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}
