//! `ihist view`: the static viewer files and the history over HTTP on
//! 127.0.0.1 (the page files are dummies in a temp dir, given with --www),
//! and the server's boundaries tried as an attacker would: no token,
//! another site, oversized and duplicated heads, symlinks out of --www,
//! 1,000 slow connections, clients that do not read a 40 MB history.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// Kills the server when the test ends, pass or fail.
struct Server {
    child: Child,
    client: Client,
}

impl std::ops::Deref for Server {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Where a server listens and its token (empty with --no-token).
#[derive(Clone)]
struct Client {
    port: u16,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, www: &std::path::Path) -> Server {
    start_with(dir, www, &["h.jsonl"])
}

/// `ihist view HISTORIES... --port 0 --www WWW` in `dir`.
fn start_with(dir: &std::path::Path, www: &std::path::Path, histories: &[&str]) -> Server {
    start_args(dir, www, histories, &[])
}

/// `ihist view HISTORIES... --port 0 --www WWW EXTRA...` in `dir`.
fn start_args(dir: &std::path::Path, www: &std::path::Path, histories: &[&str], extra: &[&str]) -> Server {
    let mut child = Command::new(IHIST)
        .arg("view")
        .args(histories)
        .args(["--port", "0", "--www"])
        .arg(www)
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("url line");
    let mut server = Server { child, client: Client { port: 0, token: String::new() } };
    let rest = line.trim().strip_prefix("http://127.0.0.1:").unwrap_or_else(|| panic!("url: {line:?}"));
    let (port, path) = rest.split_once('/').expect("port/path");
    server.client.port = port.parse().expect("port");
    if extra.contains(&"--no-token") {
        assert_eq!(path, "?live=1");
    } else {
        let token = path.strip_prefix("?live=1&token=").unwrap_or_else(|| panic!("url: {line:?}"));
        assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        server.client.token = token.to_string();
    }
    server
}

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// The token header, if the server has one.
fn token_header(c: &Client) -> String {
    if c.token.is_empty() { String::new() } else { format!("X-Ihist-Token: {}\r\n", c.token) }
}

fn request(c: &Client, method: &str, path: &str, host: &str) -> Reply {
    raw_request(
        c.port,
        &format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{}Connection: close\r\n\r\n", token_header(c)),
    )
}

/// Sends `head` as it is; reads the response until the server closes.
fn raw_request(port: u16, head: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(head.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let headers = headers.to_ascii_lowercase();
    let body = raw[split + 4..].to_vec();
    let body = if headers.contains("transfer-encoding: chunked") { dechunk(&body) } else { body };
    Reply { status, headers, body }
}

fn get(c: &Client, path: &str) -> Reply {
    request(c, "GET", path, &format!("127.0.0.1:{}", c.port))
}

#[test]
fn serves_the_viewer_files_and_the_history() {
    let tmp = tempdir();
    let d = tmp.path();
    let www = d.join("www");
    std::fs::create_dir_all(www.join("pkg")).expect("www");
    std::fs::write(www.join("index.html"), "<!doctype html><title>viewer</title>").expect("index");
    std::fs::write(www.join("app.js"), "export const x = 1;").expect("js");
    std::fs::write(www.join("pkg/viewer_bg.wasm"), b"\0asm\x01\0\0\0").expect("wasm");
    std::fs::write(d.join("secret.txt"), "outside www").expect("secret");
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..3).as_bytes()));
    let server = start(d, &www);
    let p = server.port;

    let r = get(&server, "/?src=/history.jsonl");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: text/html; charset=utf-8"), "{}", r.headers);
    assert_eq!(r.body, b"<!doctype html><title>viewer</title>");
    let r = get(&server, "/app.js");
    assert!(r.headers.contains("content-type: text/javascript"), "{}", r.headers);
    let r = get(&server, "/pkg/viewer_bg.wasm");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: application/wasm"), "{}", r.headers);
    assert_eq!(r.body, b"\0asm\x01\0\0\0");

    let r = get(&server, "/history.jsonl");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("cache-control: no-store"), "{}", r.headers);
    assert_eq!(r.body, read(&d.join("h.jsonl")));
    // The snapshot follows the history while a writer appends.
    ok(ihist(d, &["save", "h.jsonl", &record(3)]));
    let r = get(&server, "/history.jsonl");
    assert_eq!(r.body, read(&d.join("h.jsonl")));
    assert_eq!(r.body.iter().filter(|&&b| b == b'\n').count(), 4);

    assert_eq!(get(&server, "/missing.js").status, 404);
    assert_eq!(get(&server, "/../secret.txt").status, 404);
    assert_eq!(get(&server, "/pkg/../../secret.txt").status, 404);
    assert_eq!(get(&server, "/%2e%2e/secret.txt").status, 404);
    assert_eq!(get(&server, "/pkg").status, 404, "a directory is not a file");
    assert_eq!(request(&server, "POST", "/history.jsonl", &format!("127.0.0.1:{p}")).status, 405);
    assert_eq!(request(&server, "GET", "/history.jsonl", "attacker.example:80").status, 403, "DNS rebinding");
    assert_eq!(request(&server, "GET", "/", &format!("localhost:{p}")).status, 200);
}

#[test]
fn a_missing_viewer_build_is_a_clear_error() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist(d, &["save", "h.jsonl", &record(0)]));
    let www = d.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("index.html"), "x").expect("index");
    let err = fails(ihist(d, &["view", "h.jsonl", "--port", "0", "--www", "www"]), 1);
    assert!(
        err.contains("www: the browser viewer is not built (pkg/ is missing); run scripts/build-viewer first"),
        "{err}"
    );
    let err = fails(ihist(d, &["view", "missing.jsonl", "--port", "0", "--www", "www"]), 1);
    assert!(err.contains("missing.jsonl: no such history file"), "{err}");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let tmp = tempdir();
    let d = tmp.path();
    ok(ihist(d, &["save", "h.jsonl", &record(0)]));
    let www = d.join("www");
    std::fs::create_dir_all(www.join("pkg")).expect("www");
    std::fs::write(www.join("index.html"), "x").expect("index");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let err = fails(ihist(d, &["view", "h.jsonl", "--port", &port, "--www", "www"]), 1);
    assert!(err.contains(&format!("127.0.0.1:{port}: cannot listen")), "{err}");
    assert!(err.contains("--port 0 for any free port"), "{err}");
}

/// Reads one response (with `Content-Length`) from a kept-alive connection.
fn read_response(s: &mut BufReader<TcpStream>) -> Reply {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(s.read_line(&mut line).expect("read") > 0, "connection closed early");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let headers = head.to_ascii_lowercase();
    let len: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0; len];
    s.read_exact(&mut body).expect("body");
    Reply { status, headers, body }
}

fn viewer_dir(d: &std::path::Path) -> std::path::PathBuf {
    let www = d.join("www");
    std::fs::create_dir_all(www.join("pkg")).expect("www");
    std::fs::write(www.join("index.html"), "<!doctype html><title>viewer</title>").expect("index");
    std::fs::write(www.join("big.js"), vec![b'x'; 4 << 20]).expect("big");
    www
}

/// The `/follow` answer: its JSON head, then the bytes.
fn follow_parts(body: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let nl = body.iter().position(|&b| b == b'\n').expect("head line");
    (serde_json::from_slice(&body[..nl]).expect("json head"), body[nl + 1..].to_vec())
}

/// A history of 3 records in a temp dir, served with dummy viewer files.
fn served() -> (tempfile::TempDir, Server) {
    let tmp = tempdir();
    let www = viewer_dir(tmp.path());
    ok(ihist_stdin(tmp.path(), &["save", "h.jsonl"], jsonl(0..3).as_bytes()));
    let server = start(tmp.path(), &www);
    (tmp, server)
}

#[test]
fn keep_alive_pipelining_and_clients_that_go_away() {
    let (_tmp, server) = served();
    let p = server.port;
    // Clients that go away mid-response (a 4 MiB file) do not stop the server.
    for _ in 0..20 {
        let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        write!(s, "GET /big.js HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{}\r\n", token_header(&server)).expect("send");
        let mut some = [0u8; 100];
        let _ = s.read(&mut some);
        drop(s);
    }
    // Three pipelined requests on one kept-alive connection, answered in order.
    let s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let host = format!("127.0.0.1:{p}\r\n{}", token_header(&server));
    write!(w, "GET / HTTP/1.1\r\nHost: {host}\r\nGET /nope HTTP/1.1\r\nHost: {host}\r\nHEAD /big.js HTTP/1.1\r\nHost: {host}\r\n")
        .expect("send");
    let mut r = BufReader::new(s);
    let a = read_response(&mut r);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"<!doctype html><title>viewer</title>"[..]));
    assert!(!a.headers.contains("connection: close"), "kept alive: {}", a.headers);
    assert_eq!(read_response(&mut r).status, 404);
    // HEAD: the length of the file, no body.
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("read");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    assert!(head.contains(&format!("content-length: {}", 4 << 20)), "{head}");
    // The same connection still works after that.
    write!(w, "GET /runs HTTP/1.1\r\nHost: {host}\r\n").expect("send");
    let runs = read_response(&mut r);
    assert_eq!(runs.body, br#"{"runs":[{"name":"h.jsonl"}]}"#);
    // Many connections at once.
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let c = server.client.clone();
            std::thread::spawn(move || get(&c, "/big.js").body.len())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 4 << 20);
    }
}

#[test]
fn follow_sends_what_was_appended_and_notices_a_replacement() {
    let (tmp, server) = served();
    let d = tmp.path();
    let file = d.join("h.jsonl");
    // First request: everything.
    let (head, bytes) = follow_parts(&get(&server, "/follow").body);
    let run = &head["runs"][0];
    assert_eq!(run["reset"], true);
    assert_eq!(bytes, read(&file));
    let generation = run["generation"].as_u64().expect("generation");
    let len = bytes.len();
    // A waiting request, answered by the next save with only the new line;
    // meanwhile another connection is served at once.
    let c = server.client.clone();
    let waiting = std::thread::spawn(move || get(&c, &format!("/follow?runs={generation}.{len}&wait=1")));
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    assert_eq!(get(&server, "/").status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "a pending follow request blocks others");
    ok(ihist(d, &["save", "h.jsonl", &record(3)]));
    let (head, bytes) = follow_parts(&waiting.join().expect("thread").body);
    assert_eq!(head["runs"][0]["reset"], false);
    assert_eq!(head["runs"][0]["from"], len);
    assert_eq!(bytes, read(&file)[len..]);
    // compact rewrites the file (another inode): the page gets all of it again.
    let len = read(&file).len();
    ok(ihist(d, &["compact", "h.jsonl"]));
    let (head, bytes) = follow_parts(&get(&server, &format!("/follow?runs={generation}.{len}&wait=1")).body);
    assert_eq!(head["runs"][0]["reset"], true, "{head}");
    assert_eq!(bytes, read(&file));
    // clear: all again, now empty.
    let generation = head["runs"][0]["generation"].as_u64().expect("generation");
    let len = bytes.len();
    ok(ihist(d, &["clear", "h.jsonl", "--yes"]));
    let (head, bytes) = follow_parts(&get(&server, &format!("/follow?runs={generation}.{len}&wait=1")).body);
    assert_eq!(head["runs"][0]["reset"], true, "{head}");
    assert_eq!(bytes, read(&file));
}

#[test]
fn several_histories_are_named_by_file_unless_two_look_the_same() {
    let tmp = tempdir();
    let d = tmp.path();
    let www = viewer_dir(d);
    for f in ["a/h.jsonl", "b/h.jsonl", "c.jsonl"] {
        ok(ihist_stdin(d, &["save", f], jsonl(0..2).as_bytes()));
    }
    let runs_of = |args: &[&str]| {
        let server = start_with(d, &www, args);
        String::from_utf8(get(&server, "/runs").body).expect("utf-8")
    };
    assert_eq!(runs_of(&["a/h.jsonl", "c.jsonl"]), r#"{"runs":[{"name":"h.jsonl"},{"name":"c.jsonl"}]}"#);
    assert_eq!(runs_of(&["a/h.jsonl", "b/h.jsonl"]), r#"{"runs":[{"name":"a/h.jsonl"},{"name":"b/h.jsonl"}]}"#);
}

/// Status of a raw request with the server's own Host and token.
fn status_with(server: &Server, path: &str, extra: &str) -> u16 {
    let p = server.port;
    raw_request(p, &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{extra}Connection: close\r\n\r\n")).status
}

#[test]
fn every_request_needs_the_token_of_the_printed_url() {
    let (_tmp, server) = served();
    let (p, t) = (server.port, server.token.clone());
    for path in ["/", "/?live=1", "/big.js", "/runs", "/follow", "/history.jsonl", "/missing"] {
        let r = raw_request(p, &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nConnection: close\r\n\r\n"));
        assert_eq!(r.status, 403, "{path} without the token");
        assert!(!r.body.windows(7).any(|w| w == b"LEVEL_0"), "nothing of the history leaks");
        let wrong = format!("{}{}", &t[..63], if t.ends_with('0') { '1' } else { '0' });
        assert_eq!(status_with(&server, path, &format!("X-Ihist-Token: {wrong}\r\n")), 403, "{path}, wrong token");
        assert_eq!(status_with(&server, &format!("{path}?token={wrong}"), ""), 403, "{path}, wrong token in the URL");
        assert_eq!(
            status_with(&server, path, &format!("Cookie: ihist-view-{p}={wrong}\r\n")),
            403,
            "{path}, wrong cookie"
        );
        // Another port's cookie is another server's.
        assert_eq!(status_with(&server, path, &format!("Cookie: ihist-view-1={t}\r\n")), 403, "{path}, other cookie");
    }
    // The printed URL's token sets the cookie the page's later requests send.
    let r =
        raw_request(p, &format!("GET /?live=1&token={t} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nConnection: close\r\n\r\n"));
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains(&format!("set-cookie: ihist-view-{p}={t}; path=/; httponly; samesite=strict")),
        "{}",
        r.headers
    );
    for path in ["/", "/big.js", "/runs", "/history.jsonl", "/follow"] {
        assert_eq!(status_with(&server, path, &format!("Cookie: a=b; ihist-view-{p}={t}; c=d\r\n")), 200, "{path}");
        assert_eq!(status_with(&server, path, &format!("X-Ihist-Token: {t}\r\n")), 200, "{path}");
    }
    // --no-token: the URL has none and none is asked for.
    let tmp = tempdir();
    let www = viewer_dir(tmp.path());
    ok(ihist_stdin(tmp.path(), &["save", "h.jsonl"], jsonl(0..3).as_bytes()));
    let open = start_args(tmp.path(), &www, &["h.jsonl"], &["--no-token"]);
    assert_eq!(status_with(&open, "/history.jsonl", ""), 200);
    assert_eq!(status_with(&open, "/history.jsonl", "Sec-Fetch-Site: cross-site\r\n"), 403, "still same-site only");
}

#[test]
fn requests_from_other_sites_are_refused() {
    let (_tmp, server) = served();
    let p = server.port;
    let t = token_header(&server);
    for (header, status) in [
        ("Sec-Fetch-Site: cross-site\r\n".to_string(), 403),
        ("Sec-Fetch-Site: same-site\r\n".to_string(), 403),
        ("Sec-Fetch-Site: same-origin\r\n".to_string(), 200),
        ("Sec-Fetch-Site: none\r\n".to_string(), 200),
        ("Origin: http://attacker.example\r\n".to_string(), 403),
        ("Origin: null\r\n".to_string(), 403),
        (format!("Origin: http://127.0.0.1:{}\r\n", p.wrapping_add(1)), 403),
        (format!("Origin: http://127.0.0.1:{p}\r\n"), 200),
        (format!("Origin: http://localhost:{p}\r\n"), 200),
        (format!("Origin: http://127.0.0.1:{p}\r\nOrigin: http://attacker.example\r\n"), 400),
        (format!("Host: 127.0.0.1:{p}\r\n"), 400),
    ] {
        assert_eq!(status_with(&server, "/history.jsonl", &format!("{t}{header}")), status, "{header}");
    }
}

#[test]
fn oversized_heads_duplicate_lengths_and_bodies_are_refused() {
    let (_tmp, server) = served();
    let p = server.port;
    let t = token_header(&server);
    // A 20,000-byte head (limit 16 KiB): 431, and the server goes on.
    let big = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{t}X-Pad: {}\r\n\r\n", "a".repeat(20_000));
    assert!(big.len() > 20_000);
    assert_eq!(raw_request(p, &big).status, 431);
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{t}X-Pad: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(8_000)
    );
    assert_eq!(raw_request(p, &fits).status, 200, "a head under the limit is served");
    // Several Content-Length values: different ones are refused (hyper),
    // equal ones are one length (RFC 9112 section 6.3 allows either), and
    // any length but 0 is a body, refused.
    assert_eq!(status_with(&server, "/", &format!("{t}Content-Length: 0\r\nContent-Length: 0\r\n")), 200);
    for (extra, what) in [
        ("Content-Length: 4\r\nContent-Length: 4\r\n", "two equal Content-Length"),
        ("Content-Length: 3\r\nContent-Length: 4\r\n", "two different Content-Length"),
        ("Content-Length: 0\r\nContent-Length: 4\r\n", "0 and 4"),
        ("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "both a length and chunked"),
        ("Content-Length: 3, 3\r\n", "a Content-Length list"),
        ("Content-Length: 4\r\n", "a body"),
        ("Transfer-Encoding: chunked\r\n", "a chunked body"),
    ] {
        let r = raw_request(p, &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{t}{extra}\r\nabcd"));
        assert_eq!(r.status, 400, "{what}");
    }
    assert_eq!(status_with(&server, "/", &format!("{t}Content-Length: 0\r\n")), 200, "one empty Content-Length");
    // Only GET and HEAD; a Range is not honoured (the whole file, once).
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        assert_eq!(request(&server, method, "/", &format!("127.0.0.1:{p}")).status, 405, "{method}");
    }
    let r = raw_request(
        p,
        &format!("GET /big.js HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{t}Range: bytes=0-9\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!((r.status, r.body.len()), (200, 4 << 20));
    assert!(r.headers.contains("accept-ranges: none"), "{}", r.headers);
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_www_directory_are_not_followed() {
    let tmp = tempdir();
    let d = tmp.path();
    let www = viewer_dir(d);
    std::fs::write(d.join("secret.txt"), "outside www").expect("secret");
    std::fs::create_dir_all(d.join("outside")).expect("outside");
    std::fs::write(d.join("outside/x.js"), "outside www").expect("x");
    std::os::unix::fs::symlink(d.join("secret.txt"), www.join("leak.txt")).expect("link");
    std::os::unix::fs::symlink("../secret.txt", www.join("rel-leak.txt")).expect("link");
    std::os::unix::fs::symlink(d.join("outside"), www.join("dir")).expect("link");
    std::os::unix::fs::symlink("/etc/hostname", www.join("host.txt")).expect("link");
    std::os::unix::fs::symlink("index.html", www.join("inside.html")).expect("link");
    ok(ihist_stdin(d, &["save", "h.jsonl"], jsonl(0..3).as_bytes()));
    let server = start(d, &www);
    for path in ["/leak.txt", "/rel-leak.txt", "/dir/x.js", "/host.txt"] {
        let r = get(&server, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.body.windows(11).any(|w| w == b"outside www"), "{path}");
    }
    // A link that stays inside is served: the refusals above are about escaping.
    assert_eq!(get(&server, "/inside.html").body, b"<!doctype html><title>viewer</title>");
    assert_eq!(read(&d.join("secret.txt")), b"outside www", "nothing outside changed");
}

#[test]
fn a_request_head_must_arrive_within_the_deadline() {
    let (_tmp, server) = served();
    let p = server.port;
    // Meanwhile, a kept-alive connection that goes idle after one request
    // is closed by the same deadline (waiting for the next head).
    let c = server.client.clone();
    let idle = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", c.port)).expect("connect");
        write!(s, "GET /runs HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}\r\n", c.port, token_header(&c)).expect("send");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut r = BufReader::new(s);
        assert_eq!(read_response(&mut r).status, 200);
        let t = std::time::Instant::now();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).expect("closed, not timed out");
        (t.elapsed(), rest.len())
    });
    // One byte a second, never finishing the head: closed after 10 s.
    let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(900))).expect("timeout");
    let start = std::time::Instant::now();
    let head = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nX-Slow: {}", "a".repeat(100));
    let mut closed = None;
    for b in head.bytes() {
        if s.write_all(&[b]).is_err() {
            closed = Some(start.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            // Closed (hyper may say 408 first).
            Ok(_) | Err(_) if start.elapsed() > Duration::from_secs(30) => break,
            Ok(_) => {
                closed = Some(start.elapsed());
                break;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = Some(start.elapsed());
                break;
            }
        }
    }
    let closed = closed.expect("the slow connection was never closed");
    eprintln!("a head sent a byte a second was cut off after {closed:?}");
    assert!(closed >= Duration::from_secs(9) && closed < Duration::from_secs(16), "closed after {closed:?}");
    let (idle, rest) = idle.join().expect("idle");
    eprintln!("an idle kept-alive connection was closed after {idle:?}");
    assert!(idle >= Duration::from_secs(9) && idle < Duration::from_secs(16), "closed after {idle:?}");
    assert_eq!(rest, 0, "nothing sent before closing");
}

/// `VmRSS` of process `pid`, in bytes.
#[cfg(target_os = "linux")]
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

#[test]
fn a_thousand_slow_connections_do_not_lock_out_a_page_load() {
    let (tmp, server) = served();
    let p = server.port;
    // A page already following (one kept-alive connection, a follow request
    // always pending): the flood must not close it.
    let c = server.client.clone();
    let follower = std::thread::spawn(move || {
        let s = TcpStream::connect(("127.0.0.1", c.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(40))).expect("timeout");
        let mut w = s.try_clone().expect("clone");
        let mut r = BufReader::new(s);
        let host = format!("127.0.0.1:{}\r\n{}", c.port, token_header(&c));
        write!(w, "GET /follow HTTP/1.1\r\nHost: {host}\r\n").expect("send");
        let (head, bytes) = follow_parts(&read_response(&mut r).body);
        let generation = head["runs"][0]["generation"].as_u64().expect("generation");
        let len = bytes.len();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(90) {
            write!(w, "GET /follow?runs={generation}.{len}&wait=1 HTTP/1.1\r\nHost: {host}\r\n").expect("send");
            let (head, bytes) = follow_parts(&read_response(&mut r).body);
            if !bytes.is_empty() {
                assert_eq!(head["runs"][0]["from"], len);
                return bytes;
            }
        }
        panic!("the follower never saw the save");
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready_tx, ready) = std::sync::mpsc::channel();
    // 1,000 half-open connections, each sending a byte of a head every
    // 200 ms, reconnecting when the server closes them (as an attacker would).
    let drip = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut conns: Vec<Option<TcpStream>> = (0..1000).map(|_| None).collect();
            let (mut opened, mut closed) = (0u32, 0u32);
            let started = std::time::Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for c in &mut conns {
                    if c.is_none() {
                        *c = TcpStream::connect(("127.0.0.1", p)).ok();
                        opened += 1;
                        if let Some(s) = c {
                            let _ = s.set_nonblocking(true);
                        }
                    }
                    if let Some(s) = c
                        && let Err(e) = s.write_all(b"G")
                        && e.kind() != std::io::ErrorKind::WouldBlock
                    {
                        *c = None;
                        closed += 1;
                    }
                }
                let _ = ready_tx.send(started.elapsed());
                std::thread::sleep(Duration::from_millis(200));
            }
            (opened, closed)
        })
    };
    let first_round = ready.recv().expect("first round");
    eprintln!("1,000 connections opened in {first_round:?}");
    std::thread::sleep(Duration::from_secs(1));
    // A page load (the page, a script, the runs, a follow) meanwhile.
    for _ in 0..5 {
        let t = std::time::Instant::now();
        for path in ["/?live=1", "/big.js", "/runs", "/follow"] {
            assert_eq!(get(&server, path).status, 200, "{path}");
        }
        let took = t.elapsed();
        eprintln!("page load among 1,000 slow connections: {took:?}");
        assert!(took < Duration::from_secs(2), "a page load took {took:?} among 1,000 slow connections");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The follower's connection survived the flood: it gets the next save.
    ok(ihist(tmp.path(), &["save", "h.jsonl", &record(3)]));
    let appended = follower.join().expect("the follower's connection was closed by the flood");
    assert!(
        String::from_utf8_lossy(&appended).contains("\"iteration_num\":3"),
        "{}",
        String::from_utf8_lossy(&appended)
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (opened, closed) = drip.join().expect("drip");
    eprintln!("slow connections opened: {opened}, closed by the server: {closed}");
    assert!(opened >= 1000, "{opened}");
}

#[cfg(target_os = "linux")]
#[test]
fn clients_that_do_not_read_a_40_mb_history_do_not_pin_memory_and_are_closed() {
    let tmp = tempdir();
    let d = tmp.path();
    let www = viewer_dir(d);
    // ~40 MB: records with a long strategy code.
    let pad = "x".repeat(2000);
    let mut lines = String::new();
    for n in 0..20_000u64 {
        lines.push_str(&record(n).replace("def s(d):", &format!("def s(d):  # {pad}")));
        lines.push('\n');
    }
    // As the original module writes it (the library reads such files).
    std::fs::write(d.join("h.jsonl"), &lines).expect("history");
    let size = std::fs::metadata(d.join("h.jsonl")).expect("size").len();
    assert!(size > 40_000_000, "{size}");
    let server = start(d, &www);
    let p = server.port;
    let pid = server.child.id();
    let before = rss(pid);
    let asked = std::time::Instant::now();
    // 20 clients ask for all of it (10 snapshots, 10 follows from 0) and read nothing.
    let mut clients: Vec<TcpStream> = (0..20)
        .map(|i| {
            let path = if i % 2 == 0 { "/history.jsonl" } else { "/follow?runs=0.0" };
            let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
            write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n{}\r\n", token_header(&server)).expect("send");
            s
        })
        .collect();
    let mut peak = 0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss(pid));
    }
    eprintln!(
        "RSS: {} MB before, peak {} MB with 20 clients not reading a {} MB history",
        before >> 20,
        peak >> 20,
        size >> 20
    );
    assert!(peak < 100 << 20, "RSS {} MB", peak >> 20);
    // They are streamed: a client that reads gets every byte.
    let s = clients.remove(0);
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line).expect("head");
        if line == "\r\n" {
            break;
        }
        chunked |= line.to_ascii_lowercase().starts_with("transfer-encoding: chunked");
    }
    assert!(chunked);
    let mut body = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("chunk size");
        let n = usize::from_str_radix(line.trim(), 16).expect("hex");
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).expect("chunk");
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    assert!(body == read(&d.join("h.jsonl")), "the snapshot is the history");
    // The others, still not reading: the write timeout (30 s without
    // progress) closes them; what they then read is cut short.
    std::thread::sleep(Duration::from_secs(42).saturating_sub(asked.elapsed()));
    for mut c in clients {
        c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut got = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the server did not close a client that stopped reading: {e} after {got} bytes"),
            }
        }
        assert!(got < size, "a client that did not read for 40 s still got all {got} bytes");
    }
    eprintln!("RSS after the write timeout closed them: {} MB", rss(pid) >> 20);
}
