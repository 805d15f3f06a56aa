//! The HTTP side of `ihist view`: hyper's HTTP/1.1 connection handling
//! (its parser, keep-alive, pipelining) on tokio, with the limits a local
//! server needs so that slow or greedy clients cannot exhaust it:
//!
//! * the whole request head must arrive within [`HEAD_DEADLINE`] (hyper's
//!   `header_read_timeout`, armed by giving the builder a timer; it also
//!   runs while a kept-alive connection waits for its next request, so idle
//!   connections close after it), and be at most [`MAX_HEAD`] bytes (hyper
//!   answers 431 beyond);
//! * a write that makes no progress for [`WRITE_TIMEOUT`], or a connection
//!   that sends nothing for [`IDLE_TIMEOUT`], ends the connection
//!   (`tokio-io-timeout` on the socket);
//! * at most [`MAX_CONNECTIONS`] connections are held; when a new one
//!   arrives at the cap, the oldest connection that has not yet shown the
//!   token is closed to make room (so connections that never authenticate,
//!   however many and however slow, cannot lock a page out), and only if
//!   every connection has shown it is the oldest one closed;
//! * response bodies are streamed from their source (a file, an export) in
//!   chunks of [`CHUNK`] through a channel of [`CHANNEL_CHUNKS`]: memory
//!   per response is bounded by that, not by the history.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_io_timeout::TimeoutStream;

/// How long a client has to send a whole request head.
pub(crate) const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long a write may wait for the client to read.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may send nothing (longer than a follow request waits).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Largest request head (hyper's read buffer; its minimum is 8 KiB).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Connections held at once (see the module's comment for what happens beyond).
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// Size of a streamed body's chunks.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Chunks a producer may be ahead of the client.
const CHANNEL_CHUNKS: usize = 2;

/// A response body: empty, bytes in memory, or chunks from a producer
/// thread (with their total length, when known in advance).
pub(crate) enum Body {
    Bytes(Option<Bytes>),
    Stream { rx: mpsc::Receiver<io::Result<Bytes>>, len: Option<u64> },
}

impl Body {
    pub(crate) fn empty() -> Body {
        Body::Bytes(None)
    }

    pub(crate) fn bytes(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        Body::Bytes((!b.is_empty()).then_some(b))
    }

    /// A body written by `produce` on a blocking thread, through a bounded
    /// channel: the producer waits while the client does not read, and
    /// stops (its writes fail) when the client has gone. An error from
    /// `produce` ends the response early (the connection is closed, so the
    /// client sees a truncated answer, never a wrong one). `len`: the exact
    /// length, sent as `Content-Length` (a producer that writes another
    /// amount ends the connection).
    pub(crate) fn produce<F>(len: Option<u64>, produce: F) -> Body
    where
        F: FnOnce(&mut ChunkWriter) -> io::Result<()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        tokio::task::spawn_blocking(move || {
            let mut w = ChunkWriter { tx, buf: Vec::new() };
            if let Err(e) = produce(&mut w).and_then(|()| w.flush()) {
                let _ = w.tx.blocking_send(Err(e));
            }
        });
        Body::Stream { rx, len }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match &mut *self {
            Body::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream { rx, .. } => rx.poll_recv(cx).map(|c| c.map(|c| c.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Bytes(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream { len: Some(n), .. } => SizeHint::with_exact(*n),
            Body::Stream { len: None, .. } => SizeHint::default(),
        }
    }
}

/// The producer's side of a streamed body: buffers [`CHUNK`] bytes, then
/// hands them over (waiting while the channel is full).
pub(crate) struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(CHUNK);
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// What a handler learns about its connection.
#[derive(Clone)]
pub(crate) struct Conn {
    /// Set once a request on this connection carried the token (or none is
    /// required): such connections are the last to be closed at the cap.
    pub(crate) trusted: Arc<AtomicBool>,
}

/// The request handler.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, request: Request<Incoming>, conn: Conn) -> impl Future<Output = Response<Body>> + Send;
}

/// The connections held, oldest first.
#[derive(Default)]
struct Registry {
    next: AtomicU64,
    held: Mutex<BTreeMap<u64, Held>>,
}

struct Held {
    trusted: Arc<AtomicBool>,
    close: Arc<Notify>,
}

/// A connection's place in the registry, given back when it ends.
struct Slot {
    id: u64,
    registry: Arc<Registry>,
    close: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
    }
}

impl Registry {
    /// Makes room for a new connection (closing the oldest untrusted one,
    /// or the oldest, at the cap) and holds it.
    fn admit(self: &Arc<Self>, trusted: &Arc<AtomicBool>) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while held.len() >= MAX_CONNECTIONS {
            let victim = held
                .iter()
                .find(|(_, h)| !h.trusted.load(Ordering::Relaxed))
                .or_else(|| held.iter().next())
                .map(|(&id, _)| id);
            let Some(victim) = victim.and_then(|v| held.remove(&v)) else { break };
            victim.close.notify_one();
        }
        held.insert(id, Held { trusted: Arc::clone(trusted), close: Arc::clone(&close) });
        Slot { id, registry: Arc::clone(self), close }
    }
}

/// Accepts connections until the listener fails for good; each is served
/// on its own task.
pub(crate) async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) {
    let registry = Arc::new(Registry::default());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, or a connection reset before accept:
                // let the others finish, then go on.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let trusted = Arc::new(AtomicBool::new(false));
        let slot = registry.admit(&trusted);
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let mut io = TimeoutStream::new(stream);
            io.set_write_timeout(Some(WRITE_TIMEOUT));
            io.set_read_timeout(Some(IDLE_TIMEOUT));
            let io = TokioIo::new(Box::pin(io));
            let conn = Conn { trusted };
            let service = service_fn(move |request| {
                let handler = Arc::clone(&handler);
                let conn = conn.clone();
                async move { Ok::<_, Infallible>(handler.handle(request, conn).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_DEADLINE)
                .max_buf_size(MAX_HEAD)
                .keep_alive(true)
                .serve_connection(io, service);
            tokio::select! {
                _ = connection => {}
                () = slot.close.notified() => {}
            }
            drop(slot);
        });
    }
}
