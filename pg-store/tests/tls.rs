//! TLS against a server with `ssl = on`, a CA and certificates made with
//! openssl by `scripts/test-postgres` (see `pg_tls_cluster_start` in
//! `scripts/lib/pg-cluster.sh`) and a `pg_hba.conf` with `hostssl` lines
//! only. Runs when `IH_PG_TLS_URL` and `IH_PG_TLS_CERTS` are set; `#[ignore]`d
//! otherwise (and a failure if run without them). Every mode of `sslmode` is covered, `verify-full` against a
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

    fn works(&self, url: &str) {
        let s = PgStore::open(url).unwrap_or_else(|e| panic!("{url}: {e}"));
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
