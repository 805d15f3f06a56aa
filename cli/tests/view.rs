//! `ihist view`: the static viewer files and the history over HTTP on
//! 127.0.0.1 (the page files are dummies in a temp dir, given with --www).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// Kills the server when the test ends, pass or fail.
struct Server {
    child: Child,
    port: u16,
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
    let mut child = Command::new(IHIST)
        .arg("view")
        .args(histories)
        .args(["--port", "0", "--www"])
        .arg(www)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("url line");
    let mut server = Server { child, port: 0 };
    let rest = line.trim().strip_prefix("http://127.0.0.1:").unwrap_or_else(|| panic!("url: {line:?}"));
    let (port, path) = rest.split_once('/').expect("port/path");
    assert_eq!(path, "?live=1");
    server.port = port.parse().expect("port");
    server
}

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

fn request(port: u16, method: &str, path: &str, host: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    Reply { status, headers: headers.to_ascii_lowercase(), body: raw[split + 4..].to_vec() }
}

fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path, &format!("127.0.0.1:{port}"))
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

    let r = get(p, "/?src=/history.jsonl");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: text/html; charset=utf-8"), "{}", r.headers);
    assert_eq!(r.body, b"<!doctype html><title>viewer</title>");
    let r = get(p, "/app.js");
    assert!(r.headers.contains("content-type: text/javascript"), "{}", r.headers);
    let r = get(p, "/pkg/viewer_bg.wasm");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: application/wasm"), "{}", r.headers);
    assert_eq!(r.body, b"\0asm\x01\0\0\0");

    let r = get(p, "/history.jsonl");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("cache-control: no-store"), "{}", r.headers);
    assert_eq!(r.body, read(&d.join("h.jsonl")));
    // The snapshot follows the history while a writer appends.
    ok(ihist(d, &["save", "h.jsonl", &record(3)]));
    let r = get(p, "/history.jsonl");
    assert_eq!(r.body, read(&d.join("h.jsonl")));
    assert_eq!(r.body.iter().filter(|&&b| b == b'\n').count(), 4);

    assert_eq!(get(p, "/missing.js").status, 404);
    assert_eq!(get(p, "/../secret.txt").status, 404);
    assert_eq!(get(p, "/pkg/../../secret.txt").status, 404);
    assert_eq!(get(p, "/%2e%2e/secret.txt").status, 404);
    assert_eq!(get(p, "/pkg").status, 404, "a directory is not a file");
    assert_eq!(request(p, "POST", "/history.jsonl", &format!("127.0.0.1:{p}")).status, 405);
    assert_eq!(request(p, "GET", "/history.jsonl", "attacker.example:80").status, 403, "DNS rebinding");
    assert_eq!(request(p, "GET", "/", &format!("localhost:{p}")).status, 200);
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
        write!(s, "GET /big.js HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n").expect("send");
        let mut some = [0u8; 100];
        let _ = s.read(&mut some);
        drop(s);
    }
    // Three pipelined requests on one kept-alive connection, answered in order.
    let s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let host = format!("127.0.0.1:{p}");
    write!(w, "GET / HTTP/1.1\r\nHost: {host}\r\n\r\nGET /nope HTTP/1.1\r\nHost: {host}\r\n\r\nHEAD /big.js HTTP/1.1\r\nHost: {host}\r\n\r\n")
        .expect("send");
    let mut r = BufReader::new(s);
    let a = read_response(&mut r);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"<!doctype html><title>viewer</title>"[..]));
    assert!(a.headers.contains("connection: keep-alive"), "{}", a.headers);
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
    write!(w, "GET /runs HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("send");
    let runs = read_response(&mut r);
    assert_eq!(runs.body, br#"{"runs":[{"name":"h.jsonl"}]}"#);
    // Many connections at once.
    let threads: Vec<_> = (0..24).map(|_| std::thread::spawn(move || get(p, "/big.js").body.len())).collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), 4 << 20);
    }
}

#[test]
fn follow_sends_what_was_appended_and_notices_a_replacement() {
    let (tmp, server) = served();
    let d = tmp.path();
    let p = server.port;
    let file = d.join("h.jsonl");
    // First request: everything.
    let (head, bytes) = follow_parts(&get(p, "/follow").body);
    let run = &head["runs"][0];
    assert_eq!(run["reset"], true);
    assert_eq!(bytes, read(&file));
    let generation = run["generation"].as_u64().expect("generation");
    let len = bytes.len();
    // A waiting request, answered by the next save with only the new line;
    // meanwhile another connection is served at once.
    let waiting = std::thread::spawn(move || get(p, &format!("/follow?runs={generation}.{len}&wait=1")));
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    assert_eq!(get(p, "/").status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "a pending follow request blocks others");
    ok(ihist(d, &["save", "h.jsonl", &record(3)]));
    let (head, bytes) = follow_parts(&waiting.join().expect("thread").body);
    assert_eq!(head["runs"][0]["reset"], false);
    assert_eq!(head["runs"][0]["from"], len);
    assert_eq!(bytes, read(&file)[len..]);
    // compact rewrites the file (another inode): the page gets all of it again.
    let len = read(&file).len();
    ok(ihist(d, &["compact", "h.jsonl"]));
    let (head, bytes) = follow_parts(&get(p, &format!("/follow?runs={generation}.{len}&wait=1")).body);
    assert_eq!(head["runs"][0]["reset"], true, "{head}");
    assert_eq!(bytes, read(&file));
    // clear: all again, now empty.
    let generation = head["runs"][0]["generation"].as_u64().expect("generation");
    let len = bytes.len();
    ok(ihist(d, &["clear", "h.jsonl", "--yes"]));
    let (head, bytes) = follow_parts(&get(p, &format!("/follow?runs={generation}.{len}&wait=1")).body);
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
        String::from_utf8(get(server.port, "/runs").body).expect("utf-8")
    };
    assert_eq!(runs_of(&["a/h.jsonl", "c.jsonl"]), r#"{"runs":[{"name":"h.jsonl"},{"name":"c.jsonl"}]}"#);
    assert_eq!(runs_of(&["a/h.jsonl", "b/h.jsonl"]), r#"{"runs":[{"name":"a/h.jsonl"},{"name":"b/h.jsonl"}]}"#);
}
