//! A small HTTP/1.1 server for `ihist view`: one thread per connection,
//! keep-alive, requests parsed by `httparse`, every response sent with a
//! `Content-Length`. A client that goes away (mid-request or mid-response)
//! only ends its own connection's thread.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Longest request body read (and thrown away): the viewer sends none.
const MAX_BODY: u64 = 64 * 1024;
/// How long an idle keep-alive connection stays open.
const IDLE: Duration = Duration::from_secs(60);
/// Connections served at once; more get `503` and are closed.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// A request: method, target (path and query) and headers.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (ASCII case ignored).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path, without query or fragment.
    pub(crate) fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// The value of query parameter `name`, if present (not percent-decoded).
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        let q = self.target.split_once('?')?.1.split('#').next().unwrap_or("");
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }
}

/// A response body.
#[derive(Debug)]
pub(crate) enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file of this length.
    File(File, u64),
}

/// A response: status, headers (`Content-Length` and `Connection` are added).
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Body,
}

impl Response {
    /// A response with `body` of content type `content_type`.
    pub(crate) fn new(status: u16, content_type: &str, body: Body) -> Response {
        Response { status, headers: vec![("Content-Type", content_type.to_string())], body }
    }

    /// A plain-text response.
    pub(crate) fn text(status: u16, text: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", Body::Bytes(text.as_bytes().to_vec()))
    }

    /// Adds a header.
    pub(crate) fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    fn len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The connection a handler answers on: lets a long wait notice that the
/// client has gone.
pub(crate) struct Conn<'a> {
    stream: &'a TcpStream,
    /// Bytes of the next request already read (pipelining).
    pending: bool,
}

impl Conn<'_> {
    /// Whether the client has closed its end (checked without blocking
    /// for more than a millisecond; data from a pipelined request counts
    /// as still there).
    pub(crate) fn gone(&self) -> bool {
        if self.pending {
            return false;
        }
        let mut b = [0u8; 1];
        if self.stream.set_read_timeout(Some(Duration::from_millis(1))).is_err() {
            return true;
        }
        let r = self.stream.peek(&mut b);
        let _ = self.stream.set_read_timeout(Some(IDLE));
        match r {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
            }
        }
    }
}

/// The request handler.
pub(crate) type Handler = dyn Fn(&Request, &Conn<'_>) -> Response + Send + Sync;

/// Accepts connections until the listener fails, each on its own thread.
pub(crate) fn serve(listener: &TcpListener, handler: Arc<Handler>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = write_response(&mut s, &Response::text(503, "too many connections\n"), false, false);
            let _ = s.shutdown(Shutdown::Both);
            continue;
        }
        let handler = Arc::clone(&handler);
        let count = Arc::clone(&open);
        let spawned = std::thread::Builder::new().name("ihist-view-conn".into()).spawn(move || {
            let _ = connection(stream, &*handler);
            count.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Serves one connection: requests in order until the client closes it,
/// asks to close it, stays idle too long, or sends something unreadable.
fn connection(mut stream: TcpStream, handler: &Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Read until the head is complete.
        let head_len = loop {
            if let Some(i) = find_head_end(&buf) {
                break i;
            }
            if buf.len() > MAX_HEAD {
                write_response(&mut stream, &Response::text(431, "request head too large\n"), false, false)?;
                return Ok(());
            }
            let mut chunk = [0u8; 4096];
            let n = match stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            buf.extend_from_slice(&chunk[..n]);
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let parsed = req.parse(&buf[..head_len]);
        let (request, version) = match parsed {
            Ok(httparse::Status::Complete(_)) => (
                Request {
                    method: req.method.unwrap_or("").to_string(),
                    target: req.path.unwrap_or("").to_string(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect(),
                },
                req.version.unwrap_or(1),
            ),
            Ok(httparse::Status::Partial) | Err(_) => {
                let status = if matches!(parsed, Err(httparse::Error::TooManyHeaders)) { 431 } else { 400 };
                write_response(&mut stream, &Response::text(status, "malformed request\n"), false, false)?;
                return Ok(());
            }
        };
        buf.drain(..head_len);
        if request.header("Transfer-Encoding").is_some() {
            write_response(
                &mut stream,
                &Response::text(501, "chunked request bodies are not accepted\n"),
                false,
                false,
            )?;
            return Ok(());
        }
        // A body (none expected): read and drop it.
        let body_len: u64 = match request.header("Content-Length").map(|v| v.trim().parse::<u64>()) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                write_response(&mut stream, &Response::text(400, "bad Content-Length\n"), false, false)?;
                return Ok(());
            }
        };
        if body_len > MAX_BODY {
            write_response(&mut stream, &Response::text(413, "request body too large\n"), false, false)?;
            return Ok(());
        }
        let mut left = body_len as usize;
        let take = left.min(buf.len());
        buf.drain(..take);
        left -= take;
        if left > 0 {
            io::copy(&mut (&stream).take(left as u64), &mut io::sink())?;
        }
        let connection = request.header("Connection").unwrap_or("").to_ascii_lowercase();
        let keep_alive = if version == 0 { connection.contains("keep-alive") } else { !connection.contains("close") };
        let response = handler(&request, &Conn { stream: &stream, pending: !buf.is_empty() });
        write_response(&mut stream, &response, request.method == "HEAD", keep_alive)?;
        if !keep_alive {
            let _ = stream.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// The length of the request head, with its blank line, once complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn write_response(stream: &mut TcpStream, r: &Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (name, value) in &r.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        r.len(),
        if keep_alive { "keep-alive" } else { "close" }
    ));
    let mut out = io::BufWriter::with_capacity(64 * 1024, &*stream);
    out.write_all(head.as_bytes())?;
    if !head_only {
        match &r.body {
            Body::Bytes(b) => out.write_all(b)?,
            Body::File(f, n) => {
                let copied = io::copy(&mut f.take(*n), &mut out)?;
                if copied != *n {
                    // The file shrank: the length sent is wrong, so the
                    // connection cannot be reused.
                    out.flush()?;
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was sent"));
                }
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let r = Request { method: "GET".into(), target: "/follow?runs=1.0,2.5&wait=1#x".into(), headers: vec![] };
        assert_eq!(r.path(), "/follow");
        assert_eq!(r.query("runs"), Some("1.0,2.5"));
        assert_eq!(r.query("wait"), Some("1"));
        assert_eq!(r.query("nope"), None);
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
