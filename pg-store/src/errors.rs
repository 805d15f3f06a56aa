//! PostgreSQL errors turned into the history's errors, each naming the
//! server and database (never the password) and saying what to do.

use std::error::Error as StdError;
use std::io;

use iteration_history::{BackendErrorKind, Error};
use postgres::error::SqlState;

use crate::url::StoreUrl;

fn backend(store: &str, kind: BackendErrorKind, message: String) -> Error {
    Error::Backend { store: store.to_string(), kind, message }
}

/// The whole story of a `postgres::Error`: the server's message with its
/// detail and hint, or the client-side error and its causes.
pub(crate) fn detail(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} ({})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    s
}

fn io_kind(e: &postgres::Error) -> Option<io::ErrorKind> {
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// An error while connecting.
pub(crate) fn connect(url: &StoreUrl, e: &postgres::Error) -> Error {
    let store = &url.display;
    let server = &url.server;
    let db = &url.dbname;
    if let Some(code) = e.code() {
        let msg = detail(e);
        return if *code == SqlState::INVALID_PASSWORD {
            backend(
                store,
                BackendErrorKind::Authentication,
                format!(
                    "wrong password: the server at {server} refused user {:?} ({msg}); check the password in the URL or in PGPASSWORD",
                    url.user
                ),
            )
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            let hint = if msg.contains("no encryption") && url.tls.mode == crate::tls::SslMode::Disable {
                "; the server accepts only TLS connections here: drop sslmode=disable (or use require, verify-ca, verify-full)"
            } else {
                ""
            };
            backend(
                store,
                BackendErrorKind::Authentication,
                format!("the server at {server} refused the connection to database {db:?}: {msg}{hint}"),
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            backend(
                store,
                BackendErrorKind::NotFound,
                format!(
                    "database {db:?} does not exist on the server at {server}: create it (`createdb {db}`) or fix the database name in the URL"
                ),
            )
        } else if *code == SqlState::CANNOT_CONNECT_NOW || *code == SqlState::TOO_MANY_CONNECTIONS {
            backend(store, BackendErrorKind::Unreachable, format!("the server at {server} refused: {msg}; retry later"))
        } else {
            backend(store, BackendErrorKind::Other, format!("connecting to {server} failed: {msg}"))
        };
    }
    let text = detail(e);
    if let Some(why) = crate::tls::explain(e, server, &url.host, &url.tls) {
        return backend(store, BackendErrorKind::Authentication, why);
    }
    if text.contains("password missing") {
        return backend(
            store,
            BackendErrorKind::Authentication,
            format!(
                "the server at {server} asks for a password and none was given: put it in the URL (postgres://USER:PASSWORD@...) or in PGPASSWORD"
            ),
        );
    }
    let (kind, message) = match io_kind(e) {
        Some(io::ErrorKind::ConnectionRefused) => (
            BackendErrorKind::Unreachable,
            format!("connection refused by {server}: is PostgreSQL running and listening on that address and port?"),
        ),
        Some(io::ErrorKind::TimedOut) => (
            BackendErrorKind::Unreachable,
            format!("no answer from {server} within the connect timeout: check the host, the port and any firewall"),
        ),
        Some(io::ErrorKind::NotFound) => (
            BackendErrorKind::Unreachable,
            format!("cannot reach {server} ({text}): check the host name, or that the server's socket exists"),
        ),
        Some(_) => (BackendErrorKind::Unreachable, format!("cannot reach {server}: {text}")),
        None if text.contains("timeout") => (
            BackendErrorKind::Unreachable,
            format!("no answer from {server} within the connect timeout: check the host, the port and any firewall"),
        ),
        None => (BackendErrorKind::Other, format!("connecting to {server} failed: {text}")),
    };
    backend(store, kind, message)
}

/// Whether the connection broke (rather than the server refusing a query).
pub(crate) fn is_connection_lost(e: &postgres::Error) -> bool {
    e.is_closed() || (e.as_db_error().is_none() && io_kind(e).is_some()) || {
        e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN || *c == SqlState::CANNOT_CONNECT_NOW
        })
    }
}

/// An error while running `op` on an open connection. `committing`: the
/// error came while a write transaction was being committed, so its
/// outcome is unknown if the connection broke.
pub(crate) fn query(url: &StoreUrl, op: &str, e: &postgres::Error, committing: bool) -> Error {
    let store = &url.display;
    let server = &url.server;
    let msg = detail(e);
    if is_connection_lost(e) {
        if committing {
            return backend(
                store,
                BackendErrorKind::OutcomeUnknown,
                format!(
                    "the connection to {server} broke while {op} ({msg}): the write may or may not have been committed; a retry of a compare-and-append (append_if) is safe, it never stores a record twice"
                ),
            );
        }
        return backend(
            store,
            BackendErrorKind::Unreachable,
            format!("the connection to {server} broke while {op} ({msg}); nothing was changed: retry"),
        );
    }
    if e.code() == Some(&SqlState::UNDEFINED_TABLE) || e.code() == Some(&SqlState::UNDEFINED_COLUMN) {
        return backend(
            store,
            BackendErrorKind::Corrupt,
            format!(
                "the history tables are missing or changed while {op} ({msg}); they were altered by another program: restore them from a backup or export what is left"
            ),
        );
    }
    if e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) || e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return backend(
            store,
            BackendErrorKind::Authentication,
            format!("the server refused while {op}: {msg}; this user may read but not write the history"),
        );
    }
    backend(store, BackendErrorKind::Other, format!("{op} failed: {msg}"))
}
