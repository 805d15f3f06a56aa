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
    let mut child = Command::new(IHIST)
        .args(["view", "h.jsonl", "--port", "0", "--www"])
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
    assert_eq!(path, "?src=/history.jsonl");
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
