//! Binding the listen address: one up-front check and port resolution, then one SO_REUSEPORT
//! listener per core.

/// Pending connections the kernel queues per core's listener before accept.
const LISTEN_BACKLOG: i32 = 4096;

/// A listener of this core's own: SO_REUSEPORT so every core binds the same address and the
/// kernel spreads connections; SO_REUSEADDR so a restart right after `kill -9` is not
/// refused by the dead process's TIME_WAIT connections.
pub(super) fn listen(addr: std::net::SocketAddr) -> std::io::Result<glommio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_address(true)?;
    sk.set_reuse_port(true)?;
    sk.bind(&addr.into())?;
    sk.listen(LISTEN_BACKLOG)?;
    // SAFETY: the fd is a listening TCP socket we own; ownership moves to the listener.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(sk.into_raw_fd()) })
}

/// Binds once up front so a port conflict is one clear error, not a failure per core, and so
/// port 0 becomes one concrete port shared by every core's listener.
///
/// Our cores' listeners use SO_REUSEPORT among themselves, so the kernel would also let a
/// second server of the same user join the port and split requests between two stores.
/// Before binding, the address is therefore asked for `/healthz`: if an HTTP server answers
/// there, start-up stops. (Binding without SO_REUSEPORT would detect it too, but is also
/// refused for a while by the listening socket of a `kill -9`ed predecessor, and crash-only
/// restarts must not wait for it.)
pub(super) fn resolve_bind(bind: &str) -> Result<std::net::SocketAddr, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr: std::net::SocketAddr = bind
        .parse()
        .map_err(|e| format!("server.bind {bind}: {e}"))?;
    if addr.port() != 0 && someone_answers(addr) {
        return Err(format!(
            "server.bind {bind}: address in use (another server answers there)"
        ));
    }
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let probe = || -> std::io::Result<std::net::SocketAddr> {
        let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        sk.set_reuse_address(true)?;
        sk.set_reuse_port(true)?;
        sk.bind(&addr.into())?;
        sk.local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("not an inet address"))
    };
    probe().map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("server.bind {bind}: address in use (is another server running there?)")
        }
        _ => format!("server.bind {bind}: {e}"),
    })
}

/// Whether an HTTP server answers at `addr` now (a wildcard address is dialled on loopback).
/// A TCP connect alone is not enough: for a moment after a `kill -9` the dead server's
/// listening socket still completes handshakes (its io_uring is torn down asynchronously),
/// but nothing answers a request on it, until the dying process has unmapped its memory and
/// closed its files (seen: 1.6 s after a kill -9 of a server holding 100,000 objects). A live
/// BleepStore answers `/healthz` from its event loop in milliseconds, so silence past
/// `ANSWER_TIMEOUT` counts as nobody serving: a restart does not wait for its predecessor's
/// exit.
fn someone_answers(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    const DIAL_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
    const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        });
    }
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&target, DIAL_TIMEOUT) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(ANSWER_TIMEOUT));
    let _ = conn.set_write_timeout(Some(ANSWER_TIMEOUT));
    let request =
        b"GET /healthz HTTP/1.1\r\nHost: bleepstore-start-probe\r\nConnection: close\r\n\r\n";
    if conn.write_all(request).is_err() {
        return false;
    }
    let mut answer = [0u8; 5];
    conn.read_exact(&mut answer).is_ok() && &answer == b"HTTP/"
}
