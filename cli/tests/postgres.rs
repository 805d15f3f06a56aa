//! `ihist` on PostgreSQL: every subcommand with `--store postgres://…` (and
//! the URL in place of the path), `copy` between stores byte for byte,
//! `verify`/`repair` on rows changed behind the store's back, `view`, and
//! connection errors. Needs `IH_PG_URL` (scripts/test-postgres starts a
//! throwaway server and sets it); without it these tests are skipped with a
//! note, except the refused connection, which needs no server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// The server's URL.
///
/// # Panics
/// Without `IH_PG_URL`: these tests are `#[ignore]`d, and what runs them
/// (`scripts/test-postgres`) sets it; run on their own they fail, never
/// pass untried.
fn base() -> String {
    std::env::var("IH_PG_URL")
        .expect("IH_PG_URL is not set: scripts/test-postgres starts a server and runs these tests")
}

fn history_name(name: &str) -> String {
    format!("cli-{name}-{}", std::process::id())
}

/// The URL of history `name` (unique to this test run), emptied.
fn fresh(base: &str, name: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}history={}", history_name(name));
    let tmp = tempdir();
    ok(ihist(tmp.path(), &["clear", "--yes", "--store", &url]));
    url
}

fn password_of(url: &str) -> String {
    let rest = url.split_once("://").expect("scheme").1;
    let auth = rest.split_once('@').expect("@").0;
    auth.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default()
}

/// `url` with the password replaced.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (auth, host) = rest.split_once('@').expect("user@host");
    let user = auth.split(':').next().expect("user");
    format!("{scheme}://{user}:{password}@{host}")
}

/// `url` pointing at database `db`.
fn with_db(url: &str, db: &str) -> String {
    let (before, after) = url.rsplit_once('/').expect("/db");
    let query = after.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{before}/{db}{query}")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/history.jsonl")
}

fn export(d: &Path, url: &str) -> Vec<u8> {
    let o = ihist(d, &["export", "--store", url]);
    assert!(o.status.success(), "export: {}", stderr(&o));
    o.stdout
}

/// Asserts that nothing the command printed shows `secret`.
#[track_caller]
fn no_secret(o: &std::process::Output, secret: &str) {
    assert!(!secret.is_empty());
    assert!(!stdout(o).contains(secret) && !stderr(o).contains(secret), "{}{}", stdout(o), stderr(o));
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn copy_round_trips_the_bundled_sample_byte_for_byte() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let sample = sample();
    let sample_text = sample.to_str().expect("utf8 path");
    let bytes = read(&sample);
    let url = fresh(&base, "copy");
    let o = ihist(d, &["copy", sample_text, &url]);
    no_secret(&o, &password_of(&base));
    let out = ok(o);
    let name = history_name("copy");
    assert!(
        out.contains(&format!("copied 60 records ({} bytes, last iteration 59)", bytes.len()))
            && out.contains(&format!("?history={name} as one atomic commit")),
        "{out}"
    );
    ok(ihist(d, &["copy", &url, "back/out.jsonl"]));
    assert_eq!(read(&d.join("back/out.jsonl")), bytes, "file -> PostgreSQL -> file is byte for byte");
    assert_eq!(export(d, &url), bytes);
    assert_eq!(ok(ihist(d, &["verify", &url])).lines().count(), 2, "healthy, 60 records without checksums");

    // A destination with records is refused; nothing written.
    ok(ihist_stdin(d, &["save", "other.jsonl"], jsonl(0..3).as_bytes()));
    let err = fails(ihist(d, &["copy", "other.jsonl", &url]), 1);
    assert!(err.contains("already holds records (last iteration 59)") && err.contains("--replace"), "{err}");
    assert_eq!(export(d, &url), bytes);
    let err = fails(ihist(d, &["copy", &url, "back/out.jsonl"]), 1);
    assert!(err.contains("back/out.jsonl: already holds records"), "{err}");
    // --replace replaces, atomically and byte for byte.
    ok(ihist(d, &["copy", "--replace", "other.jsonl", &url]));
    assert_eq!(export(d, &url), read(&d.join("other.jsonl")));

    // PostgreSQL -> PostgreSQL, and --json.
    let url2 = fresh(&base, "copy2");
    let v = json(&ok(ihist(d, &["--json", "copy", &url, &url2])));
    assert_eq!((v["records"].as_u64(), v["last_iteration_num"].as_u64()), (Some(3), Some(2)), "{v}");
    assert_eq!(v["bytes"].as_u64(), Some(read(&d.join("other.jsonl")).len() as u64));
    assert!(v["destination"].as_str().is_some_and(|s| s.ends_with(&history_name("copy2"))), "{v}");
    assert_eq!(export(d, &url2), read(&d.join("other.jsonl")));

    // File -> file, and a copy onto itself is refused.
    ok(ihist(d, &["copy", sample_text, "copy.jsonl"]));
    assert_eq!(read(&d.join("copy.jsonl")), bytes);
    let err = fails(ihist(d, &["copy", "copy.jsonl", "./copy.jsonl"]), 2);
    assert!(err.contains("the same history"), "{err}");
    let err = fails(ihist(d, &["copy", &url, &url]), 2);
    assert!(err.contains("the same history"), "{err}");
    let err = fails(ihist(d, &["copy", "--store", &url, "x.jsonl", "y.jsonl"]), 2);
    assert!(err.contains("--store does not apply"), "{err}");
    // A missing source creates nothing.
    let err = fails(ihist(d, &["copy", "missing.jsonl", &url2]), 1);
    assert!(err.contains("missing.jsonl: no such history file"), "{err}");
    assert_eq!(export(d, &url2), read(&d.join("other.jsonl")));
}

/// Runs `ihist` with the history given as `--store URL` (PostgreSQL) or as
/// the first argument (file).
fn on(d: &Path, history: &str, cmd: &str, rest: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut args = vec![cmd];
    if history.starts_with("postgres") {
        args.extend(["--store", history]);
    } else {
        args.push(history);
    }
    args.extend_from_slice(rest);
    ihist_stdin(d, &args, stdin)
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn the_same_commands_give_the_same_history_in_a_file_and_in_postgres() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let url = fresh(&base, "same");
    let name = history_name("same");
    std::fs::write(d.join("old.jsonl"), jsonl(5..9)).expect("write");
    let pretty = serde_json::to_string_pretty(&json(&record(4).replace("NaN", "null"))).expect("pretty");
    for h in ["h.jsonl", url.as_str()] {
        let shown = if h == "h.jsonl" { "h.jsonl".to_string() } else { format!("?history={name}") };
        let out = ok(on(d, h, "save", &[&record(0)], b""));
        assert!(out.contains("saved iteration 0 to ") && out.contains(&shown), "{out}");
        let out = ok(on(d, h, "save", &[], jsonl(1..4).as_bytes()));
        assert!(out.contains("3 records (iterations 1..3) as one all-or-nothing commit"), "{out}");
        ok(on(d, h, "save", &["-"], pretty.as_bytes()));
        let out = ok(on(d, h, "import", &["old.jsonl"], b""));
        assert!(out.contains("imported 4 records from old.jsonl"), "{out}");
        // The URL in place of the path works too.
        ok(ihist(d, &["save", h, &record(9)]));
        assert_eq!(ok(on(d, h, "count", &[], b"")).trim(), "10");
        assert_eq!(ok(ihist(d, &["last", h])).trim(), "9");
    }
    // Same lines (checksums and batch tags included), byte for byte.
    let file_bytes = read(&d.join("h.jsonl"));
    assert_eq!(export(d, &url), file_bytes);
    for (cmd, rest) in
        [("recent", &["-n", "3"][..]), ("show", &["4"]), ("recent", &["--json"]), ("show", &["2", "--json"])]
    {
        let f = ok(on(d, "h.jsonl", cmd, rest, b""));
        let p = ok(on(d, &url, cmd, rest, b""));
        assert_eq!(f, p, "{cmd} {rest:?}");
    }
    let mut f = json(&ok(ihist(d, &["--json", "stats", "h.jsonl"])));
    let mut p = json(&ok(ihist(d, &["--json", "stats", "--store", &url])));
    assert!(p["file"].as_str().is_some_and(|s| s.ends_with(&name) && !s.contains(&password_of(&base))), "{p}");
    f["file"] = serde_json::Value::Null;
    p["file"] = serde_json::Value::Null;
    assert_eq!(f, p);
    // CSV.
    ok(ihist(d, &["export", "h.jsonl", "-o", "f.csv"]));
    ok(ihist(d, &["export", "--store", &url, "-o", "p.csv"]));
    assert_eq!(read(&d.join("f.csv")), read(&d.join("p.csv")));
    assert_eq!(ok(ihist(d, &["export", &url, "--format", "csv"])).as_bytes(), read(&d.join("f.csv")));
    // Verify: healthy; old.jsonl was re-encoded on import, so every line is checksummed.
    let out = ok(ihist(d, &["verify", "--store", &url]));
    assert!(
        out.starts_with(&url_display(&base, &name)) && out.contains(": healthy — 10 records, last iteration 9"),
        "{out}"
    );
    let v = json(&ok(ihist(d, &["--json", "verify", &url])));
    assert_eq!(
        (v["health"].as_str(), v["records"].as_u64(), v["unchecksummed"].as_u64()),
        (Some("healthy"), Some(10), Some(0))
    );
    assert_eq!(v["bytes"].as_u64(), Some(file_bytes.len() as u64));
    // Repair: nothing to do.
    let out = ok(ihist(d, &["repair", "--store", &url]));
    assert!(out.contains("healthy, nothing to repair (10 records)"), "{out}");
    // Compact on both: the same canonical lines (no batch tags left).
    ok(ihist(d, &["compact", "h.jsonl"]));
    let out = ok(ihist(d, &["compact", "--store", &url]));
    // The batch of 3 loses its tags; the import's lines were written
    // untagged (one commit made atomic as a whole, not by tags).
    assert!(out.contains("compacted 10 records") && out.contains("3 rows rewritten"), "{out}");
    assert_eq!(export(d, &url), read(&d.join("h.jsonl")));
    let v = json(&ok(ihist(d, &["--json", "compact", &url])));
    assert_eq!((v["records"].as_u64(), v["rewritten"].as_u64()), (Some(10), Some(0)), "compact again: nothing");
    // PostgreSQL refuses a duplicate iteration (the file keeps it).
    let o = ihist(d, &["--json", "save", "--store", &url, &record(3)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&stderr(&o))["error"]["code"], "duplicate");
    assert_eq!(ok(ihist(d, &["count", &url])).trim(), "10");
    // A missing iteration.
    let err = fails(ihist(d, &["show", "--store", &url, "42"]), 1);
    assert!(err.contains("no record with iteration_num 42 (it holds 10 records, iterations 0..9)"), "{err}");
    // Clear needs --yes.
    let err = fails(ihist(d, &["clear", "--store", &url]), 2);
    assert!(err.contains("pass --yes") && !err.contains(&password_of(&base)), "{err}");
    let out = ok(ihist(d, &["clear", "--store", &url, "--yes"]));
    assert!(out.contains("removed all 10 records"), "{out}");
    ok(ihist(d, &["clear", "h.jsonl", "--yes"]));
    for h in ["h.jsonl", url.as_str()] {
        assert_eq!(ok(on(d, h, "count", &[], b"")).trim(), "0");
        assert!(ok(on(d, h, "recent", &[], b"")).contains(": no records"));
    }
}

/// How the store names itself: the URL without its password.
fn url_display(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").expect("scheme");
    let (auth, host) = rest.split_once('@').expect("@");
    let user = auth.split(':').next().expect("user");
    format!("{scheme}://{user}@{host}?history={name}")
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_history_that_was_never_written_reads_as_empty() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}history={}", history_name("never"));
    assert_eq!(ok(ihist(d, &["count", &url])).trim(), "0");
    assert_eq!(ok(ihist(d, &["last", &url])).trim(), "none (empty history)");
    assert_eq!(export(d, &url), b"");
    let out = ok(ihist(d, &["verify", &url]));
    assert!(out.contains("healthy — 0 records"), "{out}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn demo_seeds_an_empty_history_from_the_sample_and_resumes() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let url = fresh(&base, "demo");
    let o = ihist(d, &["demo", "--store", &url, "-n", "5"]);
    let err = stderr(&o);
    let out = ok(o);
    assert!(err.contains("seeded ") && err.contains("resuming ") && err.contains("at iteration 60"), "{err}");
    assert!(out.contains("saved 5 iterations durably (each committed before the next)"), "{out}");
    assert!(out.contains("records       65 (iterations 0..64)"), "{out}");
    let bytes = export(d, &url);
    let sample = read(&sample());
    assert_eq!(&bytes[..sample.len()], &sample[..], "seeded byte for byte");
    let v = json(&ok(ihist(d, &["--json", "demo", &url, "-n", "3"])));
    assert_eq!(
        (v["records"].as_u64(), v["last_iteration_num"].as_u64(), v["saved"].as_u64()),
        (Some(68), Some(67), Some(3))
    );
    assert_eq!(
        ok(ihist(d, &["verify", "--store", &url])).lines().next().map(|l| l.contains("healthy — 68 records")),
        Some(true)
    );
}

fn admin(base: &str) -> postgres::Client {
    postgres::Client::connect(base, postgres::NoTls).expect("connect")
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn save_next_lets_the_database_number_the_records() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let url = fresh(&base, "next");
    ok(ihist(d, &["save", "--store", &url, &record(0)]));
    let out = ok(ihist(d, &["save", "--next", "--store", &url, &record(0)]));
    assert!(out.contains("saved iteration 1 to"), "{out}");
    let out = ok(ihist_stdin(d, &["save", "--next", "--store", &url], jsonl(0..3).as_bytes()));
    assert!(out.contains("3 records (iterations 2..4)"), "{out}");
    assert_eq!(ok(ihist(d, &["last", "--store", &url])).trim(), "4");
    ok(ihist(d, &["verify", "--store", &url]));
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn verify_and_repair_find_rows_changed_by_another_program() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let url = fresh(&base, "damage");
    let name = history_name("damage");
    ok(ihist_stdin(d, &["save", "--store", &url], jsonl(0..5).as_bytes()));
    ok(ihist(d, &["save", "--store", &url, &record(5)]));
    ok(ihist(d, &["save", "--store", &url, &record(6)]));
    ok(ihist(d, &["verify", &url]));
    let good = export(d, &url);
    let mut c = admin(&base);
    let changed = c
        .execute(
            "UPDATE ih_records r SET line = replace(r.line, 'LEVEL_', 'LEVEL-') FROM ih_histories h \
             WHERE h.history_id = r.history_id AND h.name = $1 AND r.iteration_num = 5",
            &[&name],
        )
        .expect("update");
    assert_eq!(changed, 1);
    let offset: usize = good.split_inclusive(|&b| b == b'\n').take(5).map(<[u8]>::len).sum();
    let o = ihist(d, &["verify", "--store", &url]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains(": corrupt — 5 records"), "{out}");
    assert!(out.contains(&format!("  line 6 (byte {offset}): checksum mismatch")), "{out}");
    assert!(out.contains("ihist export") && out.contains("copy --replace"), "{out}");
    let v = json(&stdout(&ihist(d, &["--json", "verify", &url])));
    assert_eq!((v["health"].as_str(), v["exit_code"].as_u64()), (Some("corrupt"), Some(4)));
    assert_eq!(v["corrupt_lines"][0]["line"].as_u64(), Some(6));
    // Reading the damaged row fails with exit code 4 too.
    let err = fails(ihist(d, &["recent", "--store", &url]), 4);
    assert!(err.contains("is not a valid record"), "{err}");
    let err = fails(ihist(d, &["repair", "--store", &url]), 4);
    assert!(err.contains("corrupt at line 6 of its JSONL export") && err.contains("ihist repair h.jsonl"), "{err}");
    // The advice works: export, repair the file, copy it back.
    ok(ihist(d, &["export", &url, "-o", "h.jsonl"]));
    ok(ihist(d, &["repair", "h.jsonl"]));
    ok(ihist(d, &["copy", "--replace", "h.jsonl", &url]));
    let out = ok(ihist(d, &["verify", &url]));
    assert!(out.contains("healthy — 6 records, last iteration 6"), "{out}");
    let err = fails(ihist(d, &["show", "--store", &url, "5"]), 1);
    assert!(err.contains("no record with iteration_num 5"), "moved to h.jsonl's sidecar: {err}");

    // A row deleted by another program: the count (the last position)
    // no longer matches the rows.
    c.execute(
        "DELETE FROM ih_records WHERE seq = 3 AND history_id = (SELECT history_id FROM ih_histories WHERE name = $1)",
        &[&name],
    )
    .expect("delete");
    let o = ihist(d, &["verify", "--store", &url]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stdout(&o).contains("its counters (6 records, last iteration 6) do not match its records (5 records"),
        "{}",
        stdout(&o)
    );
    ok(ihist(d, &["copy", "--replace", "h.jsonl", &url]));
    ok(ihist(d, &["verify", "--store", &url]));
}

#[test]
fn a_refused_connection_is_one_line_without_the_password() {
    // Needs no server: a port nobody listens on.
    let tmp = tempdir();
    let d = tmp.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("postgres://ih:hunter2@127.0.0.1:{port}/runs?history=x&connect_timeout=5");
    ok(ihist(d, &["save", "h.jsonl", &record(0)]));
    for args in [
        vec!["count", url.as_str()],
        vec!["recent", "--store", &url],
        vec!["save", "--store", &url, &record(1)],
        vec!["demo", "--store", &url, "-n", "1"],
        vec!["copy", "h.jsonl", &url],
        vec!["copy", &url, "new.jsonl"],
    ] {
        let o = ihist(d, &args);
        no_secret(&o, "hunter2");
        let err = fails(o, 1);
        assert!(
            err.contains(&format!("postgres://ih@127.0.0.1:{port}/runs?history=x: connection refused by 127.0.0.1:{port}: is PostgreSQL running")),
            "{args:?}: {err}"
        );
    }
    assert!(!d.join("new.jsonl").exists(), "a failed copy creates no file");
    let o = ihist(d, &["--json", "last", &url]);
    no_secret(&o, "hunter2");
    assert_eq!(json(&stderr(&o))["error"]["code"], "unreachable");
    // A URL that cannot be parsed is named without its password.
    let o = ihist(d, &["count", "postgres://ih:hunter2@127.0.0.1:notaport/runs"]);
    no_secret(&o, "hunter2");
    let err = fails(o, 1);
    assert!(err.contains("postgres://ih:***@127.0.0.1:notaport/runs: invalid PostgreSQL store URL"), "{err}");
    let err = fails(ihist(d, &["count", "s3://bucket/h"]), 2);
    assert!(err.contains("s3:// stores are not supported"), "{err}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn a_wrong_password_and_a_missing_database_are_one_line_without_the_password() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let real = password_of(&base);
    let wrong = with_password(&base, "not-the-password-7");
    let missing = with_db(&base, "ih_no_such_database");
    let sample = sample();
    let sample = sample.to_str().expect("utf8 path");
    for (url, code, what) in [
        (wrong.as_str(), "auth-failed", "wrong password: the server at 127.0.0.1:"),
        (missing.as_str(), "not-found", "database \"ih_no_such_database\" does not exist on the server at 127.0.0.1:"),
    ] {
        for args in [
            vec!["count", url],
            vec!["show", "--store", url, "1"],
            vec!["save", "--store", url, &record(0)],
            vec!["copy", sample, url],
            vec!["verify", url],
        ] {
            let o = ihist(d, &args);
            no_secret(&o, &real);
            no_secret(&o, "not-the-password-7");
            let err = fails(o, 1);
            assert!(err.contains(what), "{args:?}: {err}");
        }
        let o = ihist(d, &["--json", "stats", "--store", url]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(json(&stderr(&o))["error"]["code"], code);
    }
    let err = fails(ihist(d, &["count", &missing]), 1);
    assert!(err.contains("createdb ih_no_such_database"), "{err}");
}

/// Kills the server when the test ends, pass or fail.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    let body = raw[split + 4..].to_vec();
    // Streamed answers of unknown length (the snapshot) are chunked.
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(&body) } else { body })
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn view_serves_the_snapshot_of_a_postgres_history() {
    let base = base();
    let tmp = tempdir();
    let d = tmp.path();
    let url = fresh(&base, "view");
    ok(ihist_stdin(d, &["save", "--store", &url], jsonl(0..3).as_bytes()));
    let www = d.join("www");
    std::fs::create_dir_all(www.join("pkg")).expect("www");
    std::fs::write(www.join("index.html"), "<!doctype html>").expect("index");
    let mut child = Command::new(IHIST)
        .args(["view", "--store", &url, "--port", "0", "--no-token", "--www"])
        .arg(&www)
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("url line");
    let rest = line.trim().strip_prefix("http://127.0.0.1:").unwrap_or_else(|| panic!("url: {line:?}"));
    let port: u16 = rest.split_once('/').expect("port/path").0.parse().expect("port");
    let (status, body) = get(port, "/history.jsonl");
    assert_eq!(status, 200);
    assert_eq!(body, export(d, &url));
    // The snapshot follows the history while a writer appends.
    ok(ihist(d, &["save", &url, &record(3)]));
    let (_, body) = get(port, "/history.jsonl");
    assert_eq!(body, export(d, &url));
    assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 4);
    assert_eq!(get(port, "/").0, 200);
    // The page follows the store: everything first, then a waiting request
    // answered by the next save with only what it appended.
    let (_, body) = get(port, "/follow");
    let nl = body.iter().position(|&b| b == b'\n').expect("head");
    let head: serde_json::Value = serde_json::from_slice(&body[..nl]).expect("json");
    assert_eq!(head["runs"][0]["reset"], true);
    assert_eq!(body[nl + 1..], export(d, &url));
    let generation = head["runs"][0]["generation"].as_u64().expect("generation");
    let len = body.len() - nl - 1;
    let waiting = std::thread::spawn(move || get(port, &format!("/follow?runs={generation}.{len}&wait=1")));
    std::thread::sleep(std::time::Duration::from_millis(400));
    ok(ihist(d, &["save", &url, &record(4)]));
    let (_, body) = waiting.join().expect("thread");
    let nl = body.iter().position(|&b| b == b'\n').expect("head");
    let head: serde_json::Value = serde_json::from_slice(&body[..nl]).expect("json");
    assert_eq!((head["runs"][0]["reset"].as_bool(), head["runs"][0]["from"].as_u64()), (Some(false), Some(len as u64)));
    assert_eq!(body[nl + 1..], export(d, &url)[len..]);
    // clear: the page (at the end of what it has) gets the (empty) history
    // again once the server sees the change.
    let full = export(d, &url).len();
    ok(ihist(d, &["clear", "--yes", "--store", &url]));
    let (_, body) = get(port, &format!("/follow?runs={generation}.{full}&wait=1"));
    let nl = body.iter().position(|&b| b == b'\n').expect("head");
    let head: serde_json::Value = serde_json::from_slice(&body[..nl]).expect("json");
    assert_eq!(head["runs"][0]["reset"], true, "{head}");
    assert!(body[nl + 1..].is_empty());
    drop(server);
}
