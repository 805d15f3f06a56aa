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

/// Where libpq's settings come from besides the URL: the environment
/// (`PG*` variables) and the home directory (`~/.postgresql/`).
pub(crate) trait Settings {
    /// An environment variable, if set (and not empty).
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub(crate) struct ProcessEnv;

impl Settings for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// The hosts part of a URL's authority (`USER:PW@HOSTS`).
fn authority_hosts(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    auth.rfind('@').map_or(auth, |at| &auth[at + 1..])
}

/// Whether any host of the URL's authority names its port.
fn authority_has_port(hosts: &str) -> bool {
    hosts.split(',').any(|h| if h.starts_with('[') { h.contains("]:") } else { h.contains(':') })
}

/// `base` with `:PORT` added to each host of its authority (`ports` as
/// libpq takes them: one for all hosts, or one per host).
fn with_ports(base: &str, ports: &[&str]) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    let (user, hosts) = match auth.rfind('@') {
        Some(at) => (&auth[..=at], &auth[at + 1..]),
        None => ("", auth),
    };
    let hosts = hosts
        .split(',')
        .enumerate()
        .map(|(i, h)| format!("{h}:{}", ports.get(i).or(ports.first()).copied().unwrap_or("5432")))
        .collect::<Vec<_>>()
        .join(",");
    format!("{scheme}://{user}{hosts}{tail}")
}

/// libpq's files in `HOME/.postgresql/`, each used when it exists and the
/// URL and environment name none: `root.crt` (not for `prefer` or
/// `disable`), `postgresql.crt` and `postgresql.key` (not for `disable`).
fn home_defaults(tls: &mut TlsParams, home: Option<&str>) {
    let Some(home) = home.filter(|_| tls.mode != SslMode::Disable) else { return };
    let dir = std::path::Path::new(home).join(".postgresql");
    let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    if tls.rootcert.is_none() && tls.mode != SslMode::Prefer {
        tls.rootcert = existing("root.crt");
    }
    if tls.cert.is_none() && tls.key.is_none() {
        tls.cert = existing("postgresql.crt");
    }
    if tls.cert.is_some() && tls.key.is_none() {
        tls.key = existing("postgresql.key");
    }
}

impl StoreUrl {
    pub(crate) fn parse(url: &str) -> Result<StoreUrl> {
        StoreUrl::parse_with(url, &ProcessEnv)
    }

    /// Parses `url`, taking what it does not say from `env` as libpq does:
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
    /// `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`,
    /// `PGCONNECT_TIMEOUT`, `PGAPPNAME`, `PGTARGETSESSIONATTRS`,
    /// `PGOPTIONS`; then the files of `~/.postgresql/` (`HOME`):
    /// `root.crt` (the CA for `require`, which then checks as `verify-ca`,
    /// `verify-ca` and `verify-full`), `postgresql.crt` and
    /// `postgresql.key` (a client certificate), each used when it exists.
    pub(crate) fn parse_with(url: &str, env: &dyn Settings) -> Result<StoreUrl> {
        if !is_postgres_url(url) {
            return Err(invalid(url, "it must start with postgres:// or postgresql://"));
        }
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let mut history = None;
        let mut tls = TlsParams { mode: SslMode::Prefer, rootcert: None, cert: None, key: None };
        let mut mode = None;
        let mut rest = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let decode = |name: &str, v: &str| {
                percent_decode(v).ok_or_else(|| invalid(url, format!("bad %-escape in `{name}`")))
            };
            match pair.split_once('=') {
                Some(("history", v)) => history = Some(decode("history", v)?),
                Some(("sslmode", v)) => mode = Some(("sslmode", decode("sslmode", v)?)),
                Some(("sslrootcert", v)) => tls.rootcert = Some(decode("sslrootcert", v)?.into()),
                Some(("sslcert", v)) => tls.cert = Some(decode("sslcert", v)?.into()),
                Some(("sslkey", v)) => tls.key = Some(decode("sslkey", v)?.into()),
                _ => rest.push(pair),
            }
        }
        // libpq's environment: only for what the URL leaves out.
        if mode.is_none() {
            mode = env.var("PGSSLMODE").map(|v| ("PGSSLMODE", v));
        }
        if let Some((from, v)) = mode {
            tls.mode = SslMode::parse(&v).ok_or_else(|| {
                invalid(url, format!("{from}={v} is not one of disable, prefer, require, verify-ca, verify-full"))
            })?;
        }
        tls.rootcert = tls.rootcert.or_else(|| env.var("PGSSLROOTCERT").map(Into::into));
        tls.cert = tls.cert.or_else(|| env.var("PGSSLCERT").map(Into::into));
        tls.key = tls.key.or_else(|| env.var("PGSSLKEY").map(Into::into));
        let has_param = |name: &str| rest.iter().any(|p| p.split_once('=').is_some_and(|(k, _)| k == name));
        let url_hosts = authority_hosts(base);
        let mut pg_url = base.to_string();
        let env_port = env.var("PGPORT").filter(|_| !has_param("port"));
        if let Some(ports) = &env_port
            && ports.split(',').any(|p| p.parse::<u16>().is_err())
        {
            return Err(invalid(url, format!("PGPORT={ports}: not a port number")));
        }
        if let Some(ports) = &env_port
            && !url_hosts.is_empty()
            && !authority_has_port(url_hosts)
        {
            let list: Vec<&str> = ports.split(',').collect();
            pg_url = with_ports(base, &list);
        }
        if !rest.is_empty() {
            pg_url = format!("{pg_url}?{}", rest.join("&"));
        }
        let mut config = postgres::Config::from_str(&pg_url).map_err(|e| {
            let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
            invalid(url, detail)
        })?;
        let bad_env = |name: &str, v: &str, why: &str| invalid(url, format!("{name}={v}: {why}"));
        if config.get_hosts().is_empty()
            && let Some(hosts) = env.var("PGHOST")
        {
            for h in hosts.split(',') {
                config.host(h);
            }
            for p in env_port.iter().flat_map(|ports| ports.split(',')) {
                config.port(p.parse().unwrap_or(5432));
            }
        }
        if config.get_user().is_none_or(str::is_empty)
            && let Some(user) = env.var("PGUSER")
        {
            config.user(&user);
        }
        if config.get_password().is_none()
            && let Some(pw) = env.var("PGPASSWORD")
        {
            config.password(pw);
        }
        if config.get_dbname().is_none()
            && let Some(db) = env.var("PGDATABASE")
        {
            config.dbname(&db);
        }
        if config.get_options().is_none()
            && let Some(o) = env.var("PGOPTIONS")
        {
            config.options(&o);
        }
        if config.get_application_name().is_none()
            && let Some(name) = env.var("PGAPPNAME")
        {
            config.application_name(&name);
        }
        if !has_param("connect_timeout")
            && let Some(t) = env.var("PGCONNECT_TIMEOUT")
        {
            let secs: i64 =
                t.trim().parse().map_err(|_| bad_env("PGCONNECT_TIMEOUT", &t, "not a number of seconds"))?;
            // libpq takes 1 as 2; 0 or less leaves the store's default
            // (10 s), as `connect_timeout=0` in the URL does.
            if secs > 0 {
                config.connect_timeout(Duration::from_secs(secs.max(2).unsigned_abs()));
            }
        }
        if !has_param("target_session_attrs")
            && let Some(v) = env.var("PGTARGETSESSIONATTRS")
        {
            config.target_session_attrs(match v.as_str() {
                "any" => postgres::config::TargetSessionAttrs::Any,
                "read-write" => postgres::config::TargetSessionAttrs::ReadWrite,
                "read-only" => postgres::config::TargetSessionAttrs::ReadOnly,
                _ => return Err(bad_env("PGTARGETSESSIONATTRS", &v, "not one of any, read-write, read-only")),
            });
        }
        home_defaults(&mut tls, env.var("HOME").as_deref());
        config.ssl_mode(tls.mode.wire());
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
        let connector = tls::connector(&tls).map_err(|message| Error::Backend {
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

    /// A made-up environment.
    struct Env(Vec<(&'static str, String)>);

    impl Settings for Env {
        fn var(&self, name: &str) -> Option<String> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> Env {
        Env(pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect())
    }

    #[test]
    fn libpq_environment_fills_what_the_url_leaves_out() {
        let all = env(&[
            ("PGHOST", "db1,db2"),
            ("PGPORT", "6001,6002"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "require"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGAPPNAME", "env app"),
            ("PGTARGETSESSIONATTRS", "read-write"),
            ("PGOPTIONS", "-c statement_timeout=5s"),
        ]);
        let u = StoreUrl::parse_with("postgres:///?history=h", &all).expect("all from the environment");
        assert_eq!(u.server, "db1:6001,db2:6002");
        assert_eq!((u.user.as_str(), u.dbname.as_str()), ("envuser", "envdb"));
        assert_eq!(u.config.get_password(), Some(&b"envpw"[..]));
        assert_eq!(u.tls.mode, SslMode::Require);
        assert_eq!(u.config.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(u.config.get_application_name(), Some("env app"));
        assert_eq!(u.config.get_target_session_attrs(), postgres::config::TargetSessionAttrs::ReadWrite);
        assert_eq!(u.config.get_options(), Some("-c statement_timeout=5s"));
        assert!(!u.display.contains("envpw"), "{}", u.display);

        // The URL wins, parameter by parameter.
        let u = StoreUrl::parse_with(
            "postgres://urluser:urlpw@urlhost:7000/urldb?sslmode=disable&connect_timeout=3&application_name=a&target_session_attrs=any",
            &all,
        )
        .expect("the URL's own");
        assert_eq!(u.server, "urlhost:7000");
        assert_eq!((u.user.as_str(), u.dbname.as_str()), ("urluser", "urldb"));
        assert_eq!(u.config.get_password(), Some(&b"urlpw"[..]));
        assert_eq!(u.tls.mode, SslMode::Disable);
        assert_eq!(u.config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(u.config.get_application_name(), Some("a"));
        assert_eq!(u.config.get_target_session_attrs(), postgres::config::TargetSessionAttrs::Any);

        // A host in the URL without a port takes PGPORT (libpq); one with a
        // port keeps it.
        let u = StoreUrl::parse_with("postgres://ih@h1,h2/db", &env(&[("PGPORT", "6543")])).expect("PGPORT");
        assert_eq!(u.server, "h1:6543,h2:6543");
        let u = StoreUrl::parse_with("postgres://ih@[::1]/db", &env(&[("PGPORT", "6543")])).expect("IPv6");
        assert_eq!(u.server, "[::1]:6543");
        let u = StoreUrl::parse_with("postgres://ih@h1:5000/db", &env(&[("PGPORT", "6543")])).expect("own port");
        assert_eq!(u.server, "h1:5000");
        // libpq takes a timeout of 1 as 2.
        let u = StoreUrl::parse_with("postgres://ih@h/db", &env(&[("PGCONNECT_TIMEOUT", "1")])).expect("1 s");
        assert_eq!(u.config.get_connect_timeout(), Some(&Duration::from_secs(2)));
    }

    #[test]
    fn bad_environment_values_are_named() {
        for (var, value, says) in [
            ("PGSSLMODE", "allow", "PGSSLMODE=allow is not one of"),
            ("PGPORT", "fifty", "PGPORT=fifty: not a port number"),
            ("PGCONNECT_TIMEOUT", "soon", "PGCONNECT_TIMEOUT=soon: not a number"),
            ("PGTARGETSESSIONATTRS", "primary", "PGTARGETSESSIONATTRS=primary: not one of"),
        ] {
            let e =
                StoreUrl::parse_with("postgres://ih:s3cret@h/db", &env(&[(var, value)])).expect_err(var).to_string();
            assert!(e.contains(says) && !e.contains("s3cret"), "{var}: {e}");
        }
        // The URL's own sslmode wins over a bad PGSSLMODE.
        StoreUrl::parse_with("postgres://ih@h/db?sslmode=prefer", &env(&[("PGSSLMODE", "allow")])).expect("URL wins");
    }

    #[test]
    fn postgresql_directory_defaults() {
        let home = std::env::temp_dir().join(format!("ih-pg-home-{}", std::process::id()));
        let dir = home.join(".postgresql");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let h = home.to_str().expect("UTF-8 temp dir");
        let with = |mode: SslMode, rootcert: Option<&str>| {
            let mut t = TlsParams { mode, rootcert: rootcert.map(Into::into), cert: None, key: None };
            home_defaults(&mut t, Some(h));
            t
        };
        // No files: nothing taken; require stays require.
        let t = with(SslMode::Require, None);
        assert_eq!((t.effective_mode(), t.rootcert, t.cert, t.key), (SslMode::Require, None, None, None));
        for f in ["root.crt", "postgresql.crt", "postgresql.key"] {
            std::fs::write(dir.join(f), "").expect(f);
        }
        // require with ~/.postgresql/root.crt: verify-ca (libpq); the client
        // certificate and key are taken too.
        let t = with(SslMode::Require, None);
        assert_eq!((t.effective_mode(), t.rootcert.clone()), (SslMode::VerifyCa, Some(dir.join("root.crt"))));
        assert_eq!((t.cert, t.key), (Some(dir.join("postgresql.crt")), Some(dir.join("postgresql.key"))));
        assert_eq!(with(SslMode::VerifyFull, None).rootcert, Some(dir.join("root.crt")));
        // A root certificate given elsewhere wins; prefer does not verify;
        // disable takes nothing.
        assert_eq!(with(SslMode::Require, Some("/elsewhere/ca.crt")).rootcert, Some("/elsewhere/ca.crt".into()));
        let t = with(SslMode::Prefer, None);
        assert_eq!((t.effective_mode(), t.rootcert), (SslMode::Prefer, None));
        let t = with(SslMode::Disable, None);
        assert_eq!((t.rootcert, t.cert, t.key), (None, None, None));
        let _ = std::fs::remove_dir_all(&home);
    }

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
