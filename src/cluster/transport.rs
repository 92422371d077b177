//! The peer protocol: request/reply frames over TCP between cluster nodes, on tokio.
//!
//! A connection starts with a nonce each way (the server's first); both sides derive the
//! session key `HMAC-SHA256(cluster.secret, label | server nonce | client nonce)`. Every frame
//! is then `[payload length u32][sequence u64][HMAC-SHA256(session key, direction | sequence |
//! length | payload)][payload]`, big-endian. A peer without the secret never produces a valid
//! tag; a frame replayed on the same connection has a stale sequence number, and one replayed
//! on another connection was tagged under another session key. Either is refused, counted
//! ([`PeerStats`]), and the connection is closed. A length over [`FRAME_BYTES_MAX`] is refused
//! from the header, before anything is allocated for the payload; the payloads a server holds
//! at once are bounded by [`IN_FLIGHT_BYTES_MAX`] and its connections by
//! [`PEER_CONNECTIONS_MAX`].
//!
//! The transport carries opaque bytes: `cluster::network` puts Raft messages in them.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

type HmacSha256 = Hmac<Sha256>;

/// Largest frame payload either side sends or accepts (16 MiB): a Raft AppendEntries batch or
/// one snapshot chunk must fit (`cluster::raft` sizes both from it).
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Request payload bytes one server holds at once over all its connections (64 MiB); a
/// connection whose frame does not fit waits before reading it.
pub const IN_FLIGHT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Open peer connections one server serves; more are closed at once and counted.
pub const PEER_CONNECTIONS_MAX: usize = 256;
/// Longest wait for a connecting peer's nonce.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;
/// A server connection with no request for this long is closed (Raft heartbeats are far more
/// frequent; an idle client reconnects on its next call).
pub const IDLE_TIMEOUT_MS: u64 = 120_000;
/// Pause after a failed accept (out of descriptors) before accepting again.
const ACCEPT_RETRY_MS: u64 = 50;

const NONCE_BYTES: usize = 16;
const MAC_BYTES: usize = 32;
const HEADER_BYTES: usize = 4 + 8 + MAC_BYTES;
/// Names the protocol and its version inside the session key.
const LABEL: &[u8] = b"bleepstore-peer-v1";
/// Direction bytes under the tag: a frame cannot be reflected back to its sender.
const TO_SERVER: u8 = 1;
const TO_CLIENT: u8 = 2;

/// `cluster.secret`, kept out of `Debug` output.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    pub fn new(bytes: &[u8]) -> Secret {
        Secret(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a frame or a connection failed.
#[derive(Debug)]
pub enum PeerError {
    Io(std::io::Error),
    /// A frame longer than [`FRAME_BYTES_MAX`] (announced by a peer, or about to be sent).
    Oversized {
        len: usize,
    },
    /// The tag does not match: the peer has another secret, or the frame was altered or
    /// replayed from another connection.
    BadMac,
    /// A sequence number other than the next one: a replayed or dropped frame.
    OutOfOrder {
        got: u64,
        want: u64,
    },
    Timeout,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Io(e) => write!(f, "peer i/o: {e}"),
            PeerError::Oversized { len } => {
                write!(f, "peer frame of {len} bytes is over {FRAME_BYTES_MAX}")
            }
            PeerError::BadMac => f.write_str("peer frame failed authentication"),
            PeerError::OutOfOrder { got, want } => {
                write!(f, "peer frame has sequence {got}, expected {want}")
            }
            PeerError::Timeout => f.write_str("peer did not answer in time"),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PeerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for PeerError {
    fn from(e: std::io::Error) -> Self {
        PeerError::Io(e)
    }
}

impl PeerError {
    /// The peer is not there (nothing listens): worth a back-off rather than a retry.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, PeerError::Io(e) if matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
        ))
    }
}

/// What a server refused and accepted, since it started.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Authenticated, in-sequence frames handed to the handler.
    pub frames_accepted: AtomicU64,
    /// Frames whose tag did not verify (wrong secret, altered, or from another session).
    pub auth_refused: AtomicU64,
    /// Frames announcing more than [`FRAME_BYTES_MAX`].
    pub oversized_refused: AtomicU64,
    /// Frames with a stale or skipped sequence number (replays).
    pub replay_refused: AtomicU64,
    /// Connections closed at accept because [`PEER_CONNECTIONS_MAX`] were open.
    pub connections_refused: AtomicU64,
}

impl PeerStats {
    fn count(&self, e: &PeerError) {
        let counter = match e {
            PeerError::BadMac => &self.auth_refused,
            PeerError::Oversized { .. } => &self.oversized_refused,
            PeerError::OutOfOrder { .. } => &self.replay_refused,
            PeerError::Io(_) | PeerError::Timeout => return,
        };
        counter.fetch_add(1, Ordering::AcqRel);
    }

    /// A counter's current value.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Acquire)
    }
}

/// One side's view of an authenticated connection.
struct Session {
    key: [u8; 32],
    send_dir: u8,
    recv_dir: u8,
    send_seq: u64,
    recv_seq: u64,
}

fn hmac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

impl Session {
    fn new(secret: &Secret, server: &[u8; NONCE_BYTES], client: &[u8; NONCE_BYTES]) -> Self {
        let mut m = hmac(secret.as_bytes());
        m.update(LABEL);
        m.update(server);
        m.update(client);
        Session {
            key: m.finalize().into_bytes().into(),
            send_dir: TO_SERVER,
            recv_dir: TO_CLIENT,
            send_seq: 0,
            recv_seq: 0,
        }
    }

    /// The server's side of the same session: directions swapped.
    fn server_side(mut self) -> Self {
        std::mem::swap(&mut self.send_dir, &mut self.recv_dir);
        self
    }

    fn mac(&self, dir: u8, seq: u64, payload: &[u8]) -> HmacSha256 {
        let mut m = hmac(&self.key);
        m.update(&[dir]);
        m.update(&seq.to_be_bytes());
        m.update(&(payload.len() as u32).to_be_bytes());
        m.update(payload);
        m
    }

    /// The next frame to send, header and payload, as one buffer (one write).
    fn seal(&mut self, payload: &[u8]) -> Result<Vec<u8>, PeerError> {
        if payload.len() > FRAME_BYTES_MAX {
            return Err(PeerError::Oversized { len: payload.len() });
        }
        let tag = self.mac(self.send_dir, self.send_seq, payload).finalize();
        let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&self.send_seq.to_be_bytes());
        frame.extend_from_slice(&tag.into_bytes());
        frame.extend_from_slice(payload);
        self.send_seq += 1;
        Ok(frame)
    }
}

/// A received payload, holding its share of the server's in-flight budget until dropped.
struct Frame {
    payload: Vec<u8>,
    _budget: Option<OwnedSemaphorePermit>,
}

async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    s: &mut Session,
    payload: &[u8],
) -> Result<(), PeerError> {
    let frame = s.seal(payload)?;
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Reads and checks one frame. The length and sequence are checked from the header, before
/// any payload byte is read or allocated; the tag after.
async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    s: &mut Session,
    budget: Option<&Arc<Semaphore>>,
) -> Result<Frame, PeerError> {
    let mut head = [0u8; HEADER_BYTES];
    r.read_exact(&mut head).await?;
    let (len, rest) = head.split_at(4);
    let (seq, tag) = rest.split_at(8);
    let len = u32::from_be_bytes(len.try_into().unwrap_or_default()) as usize;
    let seq = u64::from_be_bytes(seq.try_into().unwrap_or_default());
    if len > FRAME_BYTES_MAX {
        return Err(PeerError::Oversized { len });
    }
    if seq != s.recv_seq {
        return Err(PeerError::OutOfOrder {
            got: seq,
            want: s.recv_seq,
        });
    }
    let permit = match budget {
        // `len` <= FRAME_BYTES_MAX < u32::MAX; the semaphore is never closed.
        Some(b) => Some(
            Arc::clone(b)
                .acquire_many_owned(len as u32)
                .await
                .map_err(|_| PeerError::Timeout)?,
        ),
        None => None,
    };
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    if s.mac(s.recv_dir, seq, &payload).verify_slice(tag).is_err() {
        return Err(PeerError::BadMac);
    }
    s.recv_seq += 1;
    Ok(Frame {
        payload,
        _budget: permit,
    })
}

/// Serves one request: the payload in, the reply payload out.
pub type Handler =
    Arc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = Vec<u8>> + Send>> + Send + Sync>;

/// A peer listener: accepts connections, authenticates each frame and answers it through the
/// handler. Dropping it (or [`PeerServer::stop`]) closes the listener and every connection.
pub struct PeerServer {
    addr: SocketAddr,
    stats: Arc<PeerStats>,
    task: JoinHandle<()>,
}

impl PeerServer {
    /// Serves `listener` on the current tokio runtime.
    pub fn start(listener: TcpListener, secret: Secret, handler: Handler) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stats = Arc::new(PeerStats::default());
        let task = tokio::spawn(accept_loop(listener, secret, handler, Arc::clone(&stats)));
        Ok(PeerServer { addr, stats, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &PeerStats {
        &self.stats
    }

    /// Closes the listener and every connection now.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    secret: Secret,
    handler: Handler,
    stats: Arc<PeerStats>,
) {
    let budget = Arc::new(Semaphore::new(IN_FLIGHT_BYTES_MAX));
    // Owned here: aborting this task drops the set, which aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= PEER_CONNECTIONS_MAX {
            stats.connections_refused.fetch_add(1, Ordering::AcqRel);
            continue;
        }
        let conn = serve(
            stream,
            secret.clone(),
            Arc::clone(&handler),
            Arc::clone(&stats),
            Arc::clone(&budget),
        );
        conns.spawn(conn);
    }
}

async fn server_handshake(stream: &mut TcpStream, secret: &Secret) -> Result<Session, PeerError> {
    let ours: [u8; NONCE_BYTES] = rand::random();
    stream.write_all(&ours).await?;
    let mut theirs = [0u8; NONCE_BYTES];
    stream.read_exact(&mut theirs).await?;
    Ok(Session::new(secret, &ours, &theirs).server_side())
}

/// One connection: frames in, replies out, one at a time. A refused frame is counted while
/// the connection is still open, then the connection is closed.
async fn serve(
    mut stream: TcpStream,
    secret: Secret,
    handler: Handler,
    stats: Arc<PeerStats>,
    budget: Arc<Semaphore>,
) {
    let _ = stream.set_nodelay(true);
    let handshake = tokio::time::timeout(
        Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        server_handshake(&mut stream, &secret),
    );
    let mut session = match handshake.await {
        Ok(Ok(s)) => s,
        _ => return,
    };
    let idle = Duration::from_millis(IDLE_TIMEOUT_MS);
    loop {
        let frame =
            match tokio::time::timeout(idle, read_frame(&mut stream, &mut session, Some(&budget)))
                .await
            {
                Ok(Ok(frame)) => frame,
                Ok(Err(e)) => {
                    stats.count(&e);
                    if !matches!(e, PeerError::Io(_)) {
                        tracing::warn!(error = %e, "peer frame refused");
                    }
                    return;
                }
                Err(_) => return,
            };
        stats.frames_accepted.fetch_add(1, Ordering::AcqRel);
        let Frame { payload, _budget } = frame;
        let reply = handler(payload).await;
        if let Err(e) = write_frame(&mut stream, &mut session, &reply).await {
            tracing::warn!(error = %e, "peer reply not sent");
            return;
        }
    }
}

/// An authenticated client connection.
struct Conn {
    stream: TcpStream,
    session: Session,
}

async fn connect(addr: SocketAddr, secret: &Secret) -> Result<Conn, PeerError> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let ours: [u8; NONCE_BYTES] = rand::random();
    stream.write_all(&ours).await?;
    let mut theirs = [0u8; NONCE_BYTES];
    stream.read_exact(&mut theirs).await?;
    Ok(Conn {
        stream,
        session: Session::new(secret, &theirs, &ours),
    })
}

/// Calls one peer: one request at a time over one lazily opened connection, reopened after
/// any failure.
pub struct PeerClient {
    addr: SocketAddr,
    secret: Secret,
    conn: Option<Conn>,
}

impl PeerClient {
    pub fn new(addr: SocketAddr, secret: Secret) -> PeerClient {
        PeerClient {
            addr,
            secret,
            conn: None,
        }
    }

    /// Sends `payload` and returns the reply, within `timeout` (connecting included).
    pub async fn call(&mut self, payload: &[u8], timeout: Duration) -> Result<Vec<u8>, PeerError> {
        let result = match tokio::time::timeout(timeout, self.exchange(payload)).await {
            Ok(r) => r,
            Err(_) => Err(PeerError::Timeout),
        };
        if result.is_err() {
            // The stream may hold half a frame: never reuse it.
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, payload: &[u8]) -> Result<Vec<u8>, PeerError> {
        // A kept connection the peer has closed meanwhile (it restarted, or closed an idle
        // one) reads as EOF before anything is sent: reconnect rather than fail a request the
        // peer never saw. (Between two requests the peer sends nothing, so any byte or EOF
        // here means the connection is unusable.)
        if let Some(conn) = &self.conn {
            let mut probe = [0u8; 1];
            match conn.stream.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                _ => self.conn = None,
            }
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(connect(self.addr, &self.secret).await?),
        };
        write_frame(&mut conn.stream, &mut conn.session, payload).await?;
        let frame = read_frame(&mut conn.stream, &mut conn.session, None).await?;
        Ok(frame.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const SECRET: &[u8] = b"a secret of 16+ bytes";
    const WAIT: Duration = Duration::from_secs(10);

    /// A server answering each payload reversed, counting the calls its handler sees.
    async fn echo_server() -> (PeerServer, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let handler: Handler = Arc::new(move |mut p: Vec<u8>| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                p.reverse();
                p
            })
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = PeerServer::start(listener, Secret::new(SECRET), handler).unwrap();
        (server, calls)
    }

    /// Reads until the server closes the connection; what it sent before is returned.
    async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
            .await
            .expect("server did not close the connection")
            .ok();
        rest
    }

    #[tokio::test]
    async fn a_kept_connection_to_a_restarted_peer_is_replaced_before_sending() {
        let (server, calls) = echo_server().await;
        let addr = server.local_addr();
        let mut client = PeerClient::new(addr, Secret::new(SECRET));
        assert_eq!(client.call(b"ab", WAIT).await.unwrap(), b"ba");
        // The peer goes away (its connections close) and comes back on the same address.
        server.stop();
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let seen = Arc::clone(&calls);
        let handler: Handler = Arc::new(move |mut p: Vec<u8>| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                p.reverse();
                p
            })
        });
        let _again = PeerServer::start(listener, Secret::new(SECRET), handler).unwrap();
        // Give the close time to arrive, as it would between two real requests.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(client.call(b"xyz", WAIT).await.unwrap(), b"zyx");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn requests_are_answered_on_one_connection() {
        let (server, calls) = echo_server().await;
        let mut client = PeerClient::new(server.local_addr(), Secret::new(SECRET));
        assert_eq!(client.call(b"abc", WAIT).await.unwrap(), b"cba");
        assert_eq!(client.call(b"", WAIT).await.unwrap(), b"");
        assert_eq!(client.call(b"xy", WAIT).await.unwrap(), b"yx");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(PeerStats::read(&server.stats().frames_accepted), 3);
        assert_eq!(PeerStats::read(&server.stats().auth_refused), 0);
    }

    #[tokio::test]
    async fn a_peer_with_the_wrong_secret_gets_no_frame_accepted() {
        let (server, calls) = echo_server().await;
        let mut client = PeerClient::new(
            server.local_addr(),
            Secret::new(b"another secret of 16+ bytes"),
        );
        assert!(client.call(b"hello", WAIT).await.is_err());
        assert!(client.call(b"again", WAIT).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(PeerStats::read(&server.stats().frames_accepted), 0);
        assert_eq!(PeerStats::read(&server.stats().auth_refused), 2);
    }

    #[tokio::test]
    async fn a_replayed_frame_is_refused() {
        let (server, calls) = echo_server().await;
        let secret = Secret::new(SECRET);
        let mut conn = connect(server.local_addr(), &secret).await.unwrap();
        let frame = conn.session.seal(b"once").unwrap();
        conn.stream.write_all(&frame).await.unwrap();
        read_frame(&mut conn.stream, &mut conn.session, None)
            .await
            .unwrap();
        // The same bytes again on the same connection: a stale sequence number.
        conn.stream.write_all(&frame).await.unwrap();
        assert!(read_to_close(&mut conn.stream).await.is_empty());
        assert_eq!(PeerStats::read(&server.stats().replay_refused), 1);
        // And on a new connection: tagged under another session's key.
        let mut other = connect(server.local_addr(), &secret).await.unwrap();
        other.stream.write_all(&frame).await.unwrap();
        assert!(read_to_close(&mut other.stream).await.is_empty());
        assert_eq!(PeerStats::read(&server.stats().auth_refused), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_from_its_header() {
        let (server, calls) = echo_server().await;
        let mut conn = connect(server.local_addr(), &Secret::new(SECRET))
            .await
            .unwrap();
        // Only a header announcing FRAME_BYTES_MAX + 1: the server must refuse it without
        // waiting for (or allocating) the payload.
        let mut head = [0u8; HEADER_BYTES];
        head[..4].copy_from_slice(&(FRAME_BYTES_MAX as u32 + 1).to_be_bytes());
        conn.stream.write_all(&head).await.unwrap();
        assert!(read_to_close(&mut conn.stream).await.is_empty());
        assert_eq!(PeerStats::read(&server.stats().oversized_refused), 1);
        assert_eq!(PeerStats::read(&server.stats().frames_accepted), 0);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn read_frame_refuses_a_huge_length_before_reading_on() {
        let secret = Secret::new(SECRET);
        let mut s = Session::new(&secret, &[1; NONCE_BYTES], &[2; NONCE_BYTES]).server_side();
        let mut head = [0u8; HEADER_BYTES];
        head[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        // Nothing follows the header: reading on would fail with UnexpectedEof instead.
        let mut input: &[u8] = &head;
        match read_frame(&mut input, &mut s, None).await {
            Err(PeerError::Oversized { len }) => assert_eq!(len, u32::MAX as usize),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[tokio::test]
    async fn a_payload_over_the_max_is_not_sent() {
        let (server, _) = echo_server().await;
        let mut client = PeerClient::new(server.local_addr(), Secret::new(SECRET));
        let big = vec![0u8; FRAME_BYTES_MAX + 1];
        assert!(matches!(
            client.call(&big, WAIT).await,
            Err(PeerError::Oversized { .. })
        ));
        assert_eq!(client.call(b"ok", WAIT).await.unwrap(), b"ko");
    }

    #[tokio::test]
    async fn a_stopped_server_is_unreachable() {
        let (server, _) = echo_server().await;
        let addr = server.local_addr();
        let mut client = PeerClient::new(addr, Secret::new(SECRET));
        assert!(client.call(b"a", WAIT).await.is_ok());
        server.stop();
        let mut fresh = PeerClient::new(addr, Secret::new(SECRET));
        loop {
            // The listener closes asynchronously after the abort: until it has, a connection
            // may still be accepted (then reset).
            match fresh.call(b"a", WAIT).await {
                Err(e) if e.is_unreachable() => break,
                _ => tokio::task::yield_now().await,
            }
        }
        // The old connection is gone too; the call after that reconnects, and finds nobody.
        assert!(client.call(b"a", WAIT).await.is_err());
        assert!(matches!(client.call(b"a", WAIT).await, Err(e) if e.is_unreachable()));
    }
}
