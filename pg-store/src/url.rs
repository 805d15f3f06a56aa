//! The store URL: a PostgreSQL connection URL plus the history's name.
//!
//! `postgres://USER[:PASSWORD]@HOST[:PORT][,HOST2[:PORT2]]/DATABASE[?history=NAME&...]`
//! (`postgresql://` too). `history` (default `default`) picks one of the
//! histories the database holds; `sslmode`, `sslrootcert`, `sslcert` and
//! `sslkey` are read here (see the `tls` module: the `postgres` crate knows
//! only three modes); every other parameter is the `postgres` crate's
//! (`connect_timeout`, `options`, `application_name`,
//! `target_session_attrs`, ...). Without a password in the URL,
//! `PGPASSWORD` is used if set.

use std::str::FromStr;
use std::time::Duration;

use iteration_history::{BackendErrorKind, Error, Result};
use postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{self, SslMode, TlsParams};

/// The history used when the URL names none.
pub const DEFAULT_HISTORY: &str = "default";

/// Longest history name accepted.
const MAX_NAME: usize = 200;

/// A parsed store URL.
#[derive(Clone)]
pub(crate) struct StoreUrl {
    pub(crate) config: postgres::Config,
    pub(crate) history: String,
    /// The URL as shown in messages: no password.
    pub(crate) display: String,
    /// `host:port` (or socket directory) and database, for hints.
    pub(crate) server: String,
    pub(crate) dbname: String,
    pub(crate) user: String,
    /// The first host's name (what `verify-full` compares).
    pub(crate) host: String,
    pub(crate) tls: TlsParams,
    pub(crate) connector: MakeRustlsConnect,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// Whether `s` looks like a PostgreSQL store URL.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `url` with any password replaced by `***` (for messages about a URL
/// that could not be parsed).
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => {
                format!("{}{}:***{}", &url[..scheme_end + 3], &authority[..colon], &rest[at..])
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn invalid(url: &str, why: impl std::fmt::Display) -> Error {
    Error::Backend {
        store: redact(url),
        kind: BackendErrorKind::Other,
        message: format!(
            "invalid PostgreSQL store URL: {why}; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?history=NAME]"
        ),
    }
}

/// Checks a history name: 1 to 200 characters, no control characters.
///
/// # Errors
/// [`Error::Backend`] saying what is wrong.
pub(crate) fn check_history_name(name: &str, store: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::Backend {
            store: store.to_string(),
            kind: BackendErrorKind::Other,
            message: format!(
                "invalid history name {name:?}: use 1 to {MAX_NAME} characters without control characters"
            ),
        });
    }
    Ok(())
}

impl StoreUrl {
    pub(crate) fn parse(url: &str) -> Result<StoreUrl> {
        if !is_postgres_url(url) {
            return Err(invalid(url, "it must start with postgres:// or postgresql://"));
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let mut history = None;
        let mut tls = TlsParams { mode: SslMode::Prefer, rootcert: None, cert: None, key: None };
        let mut rest = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let decode = |name: &str, v: &str| {
                percent_decode(v).ok_or_else(|| invalid(url, format!("bad %-escape in `{name}`")))
            };
            match pair.split_once('=') {
                Some(("history", v)) => history = Some(decode("history", v)?),
                Some(("sslmode", v)) => {
                    let v = decode("sslmode", v)?;
                    tls.mode = SslMode::parse(&v).ok_or_else(|| {
                        invalid(
                            url,
                            format!("sslmode={v} is not one of disable, prefer, require, verify-ca, verify-full"),
                        )
                    })?;
                }
                Some(("sslrootcert", v)) => tls.rootcert = Some(decode("sslrootcert", v)?.into()),
                Some(("sslcert", v)) => tls.cert = Some(decode("sslcert", v)?.into()),
                Some(("sslkey", v)) => tls.key = Some(decode("sslkey", v)?.into()),
                _ => rest.push(pair),
            }
        }
        let pg_url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
        let mut config = postgres::Config::from_str(&pg_url).map_err(|e| {
            let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
            invalid(url, detail)
        })?;
        config.ssl_mode(tls.mode.wire());
        if config.get_password().is_none()
            && let Ok(pw) = std::env::var("PGPASSWORD")
        {
            config.password(pw);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("iteration-history");
        }
        let history = history.unwrap_or_else(|| DEFAULT_HISTORY.to_string());
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let ports = config.get_ports();
        let server = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                if h.contains(':') { format!("[{h}]:{port}") } else { format!("{h}:{port}") }
            })
            .collect::<Vec<_>>()
            .join(",");
        let user = config.get_user().unwrap_or("").to_string();
        let dbname = config.get_dbname().unwrap_or(&user).to_string();
        let who = if user.is_empty() { String::new() } else { format!("{user}@") };
        let display = format!("postgres://{who}{server}/{dbname}?history={}", percent_encode(&history));
        check_history_name(&history, &display)?;
        let connector = tls::connector(&mut tls).map_err(|message| Error::Backend {
            store: display.clone(),
            kind: BackendErrorKind::Other,
            message,
        })?;
        let host = hosts.first().cloned().unwrap_or_default();
        Ok(StoreUrl { config, history, display, server, dbname, user, host, tls, connector })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_taken_out_and_the_password_never_shown() {
        let u = StoreUrl::parse("postgres://ih:s3cret@db.example:6543/runs?history=exp%201&connect_timeout=3")
            .expect("parse");
        assert_eq!(u.history, "exp 1");
        assert_eq!(u.display, "postgres://ih@db.example:6543/runs?history=exp%201");
        assert!(!u.display.contains("s3cret"));
        assert_eq!(u.config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(u.config.get_password(), Some(&b"s3cret"[..]));
        let d = StoreUrl::parse("postgresql://ih@localhost/runs").expect("parse");
        assert_eq!(d.history, DEFAULT_HISTORY);
        assert_eq!(d.server, "localhost:5432");
    }

    #[test]
    fn tls_and_libpq_parameters() {
        let u = StoreUrl::parse(
            "postgres://ih:pw@h1:5432,h2:5433/db?sslmode=require&application_name=loop%207&target_session_attrs=read-write&connect_timeout=2",
        )
        .expect("parse");
        assert_eq!(u.tls.mode, SslMode::Require);
        assert_eq!(u.config.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(u.config.get_application_name(), Some("loop 7"));
        assert_eq!(u.config.get_target_session_attrs(), postgres::config::TargetSessionAttrs::ReadWrite);
        assert_eq!(u.config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(u.server, "h1:5432,h2:5433");
        assert_eq!(u.display, "postgres://ih@h1:5432,h2:5433/db?history=default");
        let d = StoreUrl::parse("postgres://ih@h/db").expect("parse");
        assert_eq!((d.tls.mode, d.config.get_ssl_mode()), (SslMode::Prefer, postgres::config::SslMode::Prefer));
        assert_eq!(d.config.get_application_name(), Some("iteration-history"));
        let e = StoreUrl::parse("postgres://ih:pw@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt")
            .expect_err("no such file")
            .to_string();
        assert!(e.contains("sslrootcert /nonexistent/ca.crt: cannot read") && !e.contains("pw@"), "{e}");
        let e = StoreUrl::parse("postgres://ih:pw@h/db?sslmode=bogus").expect_err("bad mode").to_string();
        assert!(e.contains("sslmode=bogus is not one of"), "{e}");
    }

    #[test]
    fn bad_urls_are_refused_without_showing_the_password() {
        for bad in ["postgres://ih:s3cret@host:notaport/db", "postgres://ih:s3cret@host/db?nonsense=1"] {
            let err = StoreUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("invalid PostgreSQL store URL"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("ih:***@host"), "{err}");
        }
        let err = StoreUrl::parse("postgres://ih@h/db?history=").expect_err("empty name").to_string();
        assert!(err.contains("invalid history name"), "{err}");
        assert_eq!(redact("postgres://a:b@c/d?x=1"), "postgres://a:***@c/d?x=1");
        assert_eq!(redact("postgres://a@c/d"), "postgres://a@c/d");
    }
}
