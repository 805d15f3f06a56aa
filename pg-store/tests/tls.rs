//! TLS against a server with `ssl = on`, a CA and certificates made with
//! openssl by `scripts/test-postgres` (see `pg_tls_cluster_start` in
//! `scripts/lib/pg-cluster.sh`) and a `pg_hba.conf` with `hostssl` lines
//! only. Runs when `IH_PG_TLS_URL` and `IH_PG_TLS_CERTS` are set; `#[ignore]`d
//! otherwise (and a failure if run without them). libpq's environment
//! variables and `~/.postgresql/` files are tried in child processes, each
//! with its own environment and `HOME`. Every mode of `sslmode` is covered, `verify-full` against a
//! name the certificate does not list, client certificates, and
//! `sslmode=require` against a server without TLS (`IH_PG_URL`).

use iteration_history::Store;
use iteration_history_postgres::PgStore;

struct Tls {
    /// postgres://postgres:PW@localhost:PORT/ihtest
    url: String,
    certs: String,
    password: String,
}

/// The TLS server's URL and certificates.
///
/// # Panics
/// Without `IH_PG_TLS_URL` and `IH_PG_TLS_CERTS`: these tests are
/// `#[ignore]`d, and what runs them (`scripts/test-postgres`) sets both; run
/// on their own they fail, never pass untried.
fn tls() -> Tls {
    let (Ok(url), Ok(certs)) = (std::env::var("IH_PG_TLS_URL"), std::env::var("IH_PG_TLS_CERTS")) else {
        panic!("set IH_PG_TLS_URL and IH_PG_TLS_CERTS (scripts/test-postgres does)");
    };
    let password = url
        .split("://")
        .nth(1)
        .and_then(|u| u.split('@').next())
        .and_then(|u| u.split(':').nth(1))
        .expect("IH_PG_TLS_URL holds a password")
        .to_string();
    Tls { url, certs, password }
}

impl Tls {
    /// The URL with `params` and a history of its own; `host` replaces
    /// `localhost`.
    fn with(&self, host: &str, params: &str) -> String {
        let url = self.url.replace("@localhost:", &format!("@{host}:"));
        let params = params.replace("CERTS", &self.certs);
        format!("{url}?history=tls&{params}")
    }

    fn err(&self, url: &str) -> String {
        let e = PgStore::open(url).expect_err(url).to_string();
        assert!(!e.contains(&self.password), "the password never appears: {e}");
        e
    }

    /// Opens `url` on a history of its own (tests run in parallel) and saves.
    fn works(&self, url: &str) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = url.replacen("history=tls&", &format!("history=tls-{n}&"), 1);
        let s = PgStore::open(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let next = s.append_next(&[rec()]).expect("save over TLS");
        assert_eq!(s.last_iteration_num().expect("last"), Some(next.start));
    }
}

fn rec() -> iteration_history::IterationRecord {
    let mut r = iteration_history::IterationRecord::new(0, "x");
    r.timestamp = "t".into();
    r.classification_level = "L".into();
    r
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn every_sslmode_against_a_tls_only_server() {
    let t = tls();
    // disable: the server accepts only TLS.
    let e = t.err(&t.with("localhost", "sslmode=disable"));
    assert!(e.contains("no encryption") && e.contains("accepts only TLS"), "{e}");
    // prefer (libpq's default, also without sslmode) and require: TLS, the
    // certificate not checked.
    t.works(&t.with("localhost", ""));
    t.works(&t.with("localhost", "sslmode=prefer"));
    t.works(&t.with("127.0.0.1", "sslmode=require"));
    // verify-ca: the CA is checked, not the name.
    t.works(&t.with("localhost", "sslmode=verify-ca&sslrootcert=CERTS/ca.crt"));
    t.works(&t.with("127.0.0.1", "sslmode=verify-ca&sslrootcert=CERTS/ca.crt"));
    let e = t.err(&t.with("localhost", "sslmode=verify-ca&sslrootcert=CERTS/other-ca.crt"));
    assert!(e.contains("unknown CA") && e.contains("other-ca.crt"), "{e}");
    // require with a CA file is verify-ca (as libpq).
    let e = t.err(&t.with("localhost", "sslmode=require&sslrootcert=CERTS/other-ca.crt"));
    assert!(e.contains("unknown CA"), "{e}");
    // verify-full: the name too.
    t.works(&t.with("localhost", "sslmode=verify-full&sslrootcert=CERTS/ca.crt"));
    let e = t.err(&t.with("127.0.0.1", "sslmode=verify-full&sslrootcert=CERTS/ca.crt"));
    assert!(e.contains("hostname mismatch") && e.contains("\"127.0.0.1\""), "{e}");
    let e = t.err(&t.with("localhost", "sslmode=verify-full&sslrootcert=CERTS/other-ca.crt"));
    assert!(e.contains("unknown CA"), "{e}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn client_certificates() {
    let t = tls();
    let as_ihcert = |params: &str| t.with("localhost", params).replacen("//postgres:", "//ihcert:", 1);
    let url =
        as_ihcert("sslmode=verify-full&sslrootcert=CERTS/ca.crt&sslcert=CERTS/client.crt&sslkey=CERTS/client.key");
    assert!(url.contains("//ihcert:"), "{url}");
    t.works(&url);
    // Without the certificate the server refuses the role.
    let e = t.err(&as_ihcert("sslmode=verify-full&sslrootcert=CERTS/ca.crt"));
    assert!(e.contains("ihcert"), "{e}");
    let e = t.err(&t.with("localhost", "sslcert=CERTS/client.crt"));
    assert!(e.contains("sslcert is given without sslkey"), "{e}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn unreadable_or_unknown_settings_are_named() {
    let t = tls();
    let e = t.err(&t.with("localhost", "sslmode=verify-full&sslrootcert=CERTS/missing.crt"));
    assert!(e.contains("sslrootcert") && e.contains("missing.crt"), "{e}");
    let e = t.err(&t.with("localhost", "sslmode=verify-ca&sslrootcert=CERTS/client.key"));
    assert!(e.contains("holds no certificate"), "{e}");
    let e = t.err(&t.with("localhost", "sslmode=allow"));
    assert!(e.contains("sslmode=allow is not one of"), "{e}");
}

#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn require_against_a_server_without_tls() {
    let t = tls();
    let plain = std::env::var("IH_PG_URL").expect("IH_PG_URL (scripts/test-postgres sets it)");
    let e = PgStore::open(&format!("{plain}?history=tls&sslmode=require")).expect_err("no TLS there").to_string();
    assert!(e.contains("does not support TLS"), "{e}");
    assert!(!e.contains(&t.password), "{e}");
    PgStore::open(&format!("{plain}?history=tls")).expect("prefer falls back to plain TCP");
}

/// libpq's settings outside the URL: the `PG*` variables and the files of
/// `~/.postgresql/`. Each case runs this test again in a child process with
/// its own environment (no `PG*` variable inherited) and a `HOME` of its
/// own; the child opens the store, saves a record and writes `ok` or the
/// error to a file.
#[cfg(unix)]
#[test]
#[ignore = "needs PostgreSQL: run by scripts/test-postgres (with --include-ignored)"]
fn libpq_environment_and_home_files() {
    if let Ok(out) = std::env::var("IH_TLS_CHILD_OUT") {
        let url = std::env::var("IH_TLS_CHILD_URL").expect("the case's URL");
        let result = PgStore::open(&url).and_then(|s| s.append_next(&[rec()]).map(|_| ()));
        std::fs::write(out, result.map_or_else(|e| e.to_string(), |()| "ok".to_string())).expect("write result");
        return;
    }
    let t = tls();
    let certs = std::path::PathBuf::from(&t.certs);
    let scratch = std::env::temp_dir().join(format!("ih-tls-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let (before_at, after_at) = t.url.split_once('@').expect("user@host");
    let (host_port, db) = after_at.split_once('/').expect("host/db");
    let port = host_port.rsplit_once(':').expect("host:port").1.to_string();
    let user = before_at.rsplit_once("//").expect("scheme").1.split(':').next().expect("user").to_string();
    let mut n = 0;
    // Runs one case: `url` (CERTS replaced), `env` (CERTS replaced), and
    // `home` files ((name in ~/.postgresql, source file in CERTS, mode)).
    let mut run = |url: &str, env: &[(&str, &str)], home: &[(&str, &str, u32)]| -> String {
        n += 1;
        let home_dir = scratch.join(format!("home-{n}"));
        let pg_dir = home_dir.join(".postgresql");
        std::fs::create_dir_all(&pg_dir).expect("home");
        for (name, src, mode) in home {
            let to = pg_dir.join(name);
            std::fs::copy(certs.join(src), &to).expect("copy into ~/.postgresql");
            set_mode(&to, *mode);
        }
        let out = scratch.join(format!("result-{n}"));
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
        cmd.args(["--exact", "libpq_environment_and_home_files", "--test-threads=1", "--include-ignored"]);
        for (k, _) in std::env::vars() {
            if k.starts_with("PG") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", &home_dir)
            .env("IH_TLS_CHILD_OUT", &out)
            .env("IH_TLS_CHILD_URL", url.replace("CERTS", &t.certs));
        for (k, v) in env {
            cmd.env(k, v.replace("CERTS", &t.certs));
        }
        let status = cmd.output().expect("run the child");
        assert!(status.status.success(), "child for {url}: {}", String::from_utf8_lossy(&status.stdout));
        let result = std::fs::read_to_string(&out).expect("the child's result");
        assert!(!result.contains(&t.password), "the password never appears: {result}");
        result
    };
    let url = |host: &str, params: &str| {
        let u = t.url.replace("@localhost:", &format!("@{host}:"));
        if params.is_empty() { format!("{u}?history=tls-env") } else { format!("{u}?history=tls-env&{params}") }
    };
    let ok = |r: String| assert_eq!(r, "ok");

    // PGSSLMODE and PGSSLROOTCERT are honoured: verify-full with a host name
    // the certificate does not list is refused, with the right one it works.
    let full = [("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", "CERTS/ca.crt")];
    let e = run(&url("127.0.0.1", ""), &full, &[]);
    assert!(e.contains("hostname mismatch") && e.contains("\"127.0.0.1\""), "{e}");
    ok(run(&url("localhost", ""), &full, &[]));
    let e = run(&url("localhost", ""), &[("PGSSLMODE", "verify-ca"), ("PGSSLROOTCERT", "CERTS/other-ca.crt")], &[]);
    assert!(e.contains("unknown CA") && e.contains("other-ca.crt"), "{e}");
    // PGSSLMODE=disable is honoured too (the server accepts only TLS).
    let e = run(&url("localhost", ""), &[("PGSSLMODE", "disable")], &[]);
    assert!(e.contains("accepts only TLS"), "{e}");
    // The URL wins over the environment.
    ok(run(&url("127.0.0.1", "sslmode=require"), &full, &[]));
    ok(run(
        &url("localhost", "sslrootcert=CERTS/ca.crt"),
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", "CERTS/other-ca.crt")],
        &[],
    ));
    ok(run(&url("localhost", ""), &[("PGPASSWORD", "wrong")], &[]));
    // Host, port, user, password and database from the environment alone.
    ok(run(
        "postgres:///?history=tls-env",
        &[
            ("PGHOST", "localhost"),
            ("PGPORT", &port),
            ("PGUSER", &user),
            ("PGPASSWORD", &t.password),
            ("PGDATABASE", db),
        ],
        &[],
    ));

    // ~/.postgresql/root.crt turns require into verify-ca (libpq): a root
    // certificate that did not sign the server's is refused, the right one
    // is checked without the host name.
    let e = run(&url("localhost", "sslmode=require"), &[], &[("root.crt", "other-ca.crt", 0o644)]);
    assert!(e.contains("unknown CA") && e.contains(".postgresql/root.crt"), "{e}");
    ok(run(&url("127.0.0.1", "sslmode=require"), &[], &[("root.crt", "ca.crt", 0o644)]));
    let e = run(&url("127.0.0.1", ""), &[("PGSSLMODE", "verify-full")], &[("root.crt", "ca.crt", 0o644)]);
    assert!(e.contains("hostname mismatch"), "{e}");
    // Without the file, require does not check (the suite above: works).
    ok(run(&url("localhost", "sslmode=require"), &[], &[]));

    // Client certificates: ~/.postgresql/postgresql.crt and .key, and
    // PGSSLCERT/PGSSLKEY; the role `ihcert` may log in only with one.
    let as_ihcert = |u: String| u.replacen(&format!("//{user}:"), "//ihcert:", 1);
    let verified = "sslmode=verify-full&sslrootcert=CERTS/ca.crt";
    let client = [("postgresql.crt", "client.crt", 0o644), ("postgresql.key", "client.key", 0o600)];
    ok(run(&as_ihcert(url("localhost", verified)), &[], &client));
    let e = run(&as_ihcert(url("localhost", verified)), &[], &[]);
    assert!(e.contains("ihcert"), "without a certificate the role is refused: {e}");
    ok(run(
        &as_ihcert(url("localhost", verified)),
        &[("PGSSLCERT", "CERTS/client.crt"), ("PGSSLKEY", "CERTS/client.key")],
        &[],
    ));
    // A key that group or others may read is refused, naming the file.
    let open_key = [("postgresql.crt", "client.crt", 0o644), ("postgresql.key", "client.key", 0o644)];
    let e = run(&as_ihcert(url("localhost", verified)), &[], &open_key);
    assert!(
        e.contains(".postgresql/postgresql.key") && e.contains("group or world access") && e.contains("0644"),
        "{e}"
    );
    let e = run(
        &as_ihcert(url("localhost", verified)),
        &[],
        &[("postgresql.crt", "client.crt", 0o644), ("postgresql.key", "client.key", 0o604)],
    );
    assert!(e.contains("group or world access") && e.contains("0604"), "{e}");
    let loose = scratch.join("loose.key");
    std::fs::copy(certs.join("client.key"), &loose).expect("copy key");
    set_mode(&loose, 0o660);
    let e = run(
        &as_ihcert(url("localhost", &format!("{verified}&sslcert=CERTS/client.crt&sslkey={}", loose.display()))),
        &[],
        &[],
    );
    assert!(e.contains(&format!("sslkey {}", loose.display())) && e.contains("group or world access"), "{e}");
    // libpq allows 0640 for a key owned by root.
    if std::fs::metadata(&loose).is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
        let root_key = [("postgresql.crt", "client.crt", 0o644), ("postgresql.key", "client.key", 0o640)];
        ok(run(&as_ihcert(url("localhost", verified)), &[], &root_key));
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
