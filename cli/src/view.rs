//! `ihist view`: serves the browser viewer (embedded in the binary, see
//! [`assets`], or the files of `--www DIR`) and one or more histories, on
//! 127.0.0.1 only, until Ctrl-C. The page follows the histories live
//! through `/follow` (see [`follow`]); `/runs` names them;
//! `/history.jsonl` is a snapshot of the first (its committed records).
//!
//! Every request must carry the random token of the printed URL (as
//! Jupyter does): `?token=` on the first load sets an `HttpOnly`,
//! `SameSite=Strict` cookie that the page's later requests send; an
//! `X-Ihist-Token` header works too. `--no-token` turns this off.
//! Requests from another site (`Sec-Fetch-Site` other than `same-origin`
//! or `none`, an `Origin` or `Host` other than this server's) are refused
//! whatever the token. The limits of the HTTP side are in [`server`].

mod assets;
mod follow;
mod server;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;

use self::assets::Assets;
use self::follow::{Run, Source};
use self::server::{Body, Conn};
use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::target::{Opened, Target};

/// Where the history is served.
const HISTORY_URL: &str = "/history.jsonl";

/// The content type for a file name.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("jsonl" | "ndjson") => "application/x-ndjson; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file that `url` names, as a relative path, if it is a safe one:
/// `/` is `index.html`; no `..`, backslashes, NUL or percent escapes.
fn resolve(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let rel = path.strip_prefix('/')?;
    let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel.to_string() };
    if rel.contains(['\\', '\0', '%', ':']) {
        return None;
    }
    if rel.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return None;
    }
    Some(rel)
}

/// A new random token: 32 bytes from the OS, in hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| CliError::new("token", format!("cannot get random bytes for the token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `view`: binds 127.0.0.1:`port` (0: any free port), prints the URL
/// and serves `histories` until the process is stopped.
pub(crate) fn run(ctx: &Ctx, histories: &[Target], port: u16, www: Option<&Path>, token: bool) -> Result {
    if histories.len() > MAX_RUNS {
        return Err(CliError::usage(format!(
            "{} histories given: the viewer compares at most {MAX_RUNS} on one page",
            histories.len()
        )));
    }
    let mut sources = Vec::new();
    let mut names = Vec::new();
    let mut first = None;
    for target in histories {
        let opened = Arc::new(target.reader()?);
        names.push(opened.name());
        sources.push(match target.file_path() {
            Some(path) => Source::File(path.to_path_buf()),
            None => Source::Store(Arc::clone(&opened)),
        });
        first.get_or_insert(opened);
    }
    let Some(first) = first else {
        return Err(CliError::usage("no history given: pass one or more history files or PostgreSQL URLs"));
    };
    // Runs are named by their file names, unless two would look the same.
    let short: Vec<String> = names.iter().map(|n| short_name(n)).collect();
    let unique = short.iter().enumerate().all(|(i, a)| short[..i].iter().all(|b| b != a));
    let labels = if unique { short } else { names.clone() };
    let runs: Vec<Run> = labels.into_iter().zip(sources).map(|(label, source)| Run::new(label, source)).collect();
    let assets = match www {
        Some(dir) => Assets::dir(dir)?,
        None => Assets::embedded()?,
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        let advice = if e.kind() == io::ErrorKind::AddrInUse {
            "; pass another --port, or --port 0 for any free port"
        } else {
            ""
        };
        CliError::new("port", format!("127.0.0.1:{port}: cannot listen: {e}{advice}"))
    })?;
    let port = listener.local_addr().map_or(port, |a| a.port());
    let token = if token { Some(new_token()?) } else { None };
    let url = match &token {
        Some(t) => format!("http://127.0.0.1:{port}/{PAGE_QUERY}&token={t}"),
        None => format!("http://127.0.0.1:{port}/{PAGE_QUERY}"),
    };
    let served_from = assets.describe(www);
    if ctx.json {
        let file = names.first().cloned().unwrap_or_default();
        ctx.out_json(&json!({ "url": url, "file": file, "files": names, "www": served_from, "token": token }))?;
    } else {
        ctx.out(&url)?;
    }
    let from = served_from.map_or_else(|| "the viewer built into ihist".to_string(), |w| format!("the viewer in {w}"));
    let access = if token.is_some() {
        "open the URL above (it holds this server's token; requests without it are refused)"
    } else {
        "no token (--no-token): any local user can read the histories"
    };
    ctx.note(format!(
        "serving {} and {from} on 127.0.0.1:{port}; {access}; the page follows the history as it grows; press Ctrl-C to stop",
        names.join(", "),
    ));
    let site = Arc::new(Site {
        runs: Arc::new(runs),
        first,
        assets,
        hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        origins: vec![format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}")],
        cookie: format!("ihist-view-{port}"),
        token,
    });
    listener.set_nonblocking(true).map_err(|e| CliError::new("port", format!("127.0.0.1:{port}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ihist-view")
        .enable_all()
        .build()
        .map_err(|e| CliError::new("view", format!("cannot start the server: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| CliError::new("port", format!("127.0.0.1:{port}: {e}")))?;
        server::serve(listener, site).await;
        Ok(EXIT_OK)
    })
}

/// The most histories one page compares.
const MAX_RUNS: usize = 64;

/// The query of the printed URL: the page follows the served histories.
const PAGE_QUERY: &str = "?live=1";

/// A run's name on the page: the file name, or the store's description.
fn short_name(name: &str) -> String {
    if name.contains("://") {
        return name.to_string();
    }
    Path::new(name).file_name().and_then(|n| n.to_str()).map_or_else(|| name.to_string(), str::to_string)
}

/// What the server serves, and to whom.
struct Site {
    runs: Arc<Vec<Run>>,
    /// The first history, for `/history.jsonl`.
    first: Arc<Opened>,
    assets: Assets,
    /// `Host` values accepted.
    hosts: Vec<String>,
    /// `Origin` values accepted.
    origins: Vec<String>,
    /// The token cookie's name (per port: cookies do not tell ports apart).
    cookie: String,
    /// The token every request must carry (`None`: `--no-token`).
    token: Option<String>,
}

/// A plain-text response.
fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::bytes(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// A response with `body` of `content_type`, not to be cached.
fn fresh(content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The value of query parameter `name` in `query`, if present (not percent-decoded).
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Whether `given` is `token`, compared in constant time.
fn same_token(given: &str, token: &str) -> bool {
    given.len() == token.len() && bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// How a request showed the token.
#[derive(Debug, PartialEq, Eq)]
enum Shown {
    /// In the URL: the response sets the cookie.
    Query,
    /// Cookie or header, or no token needed.
    Otherwise,
}

impl Site {
    /// Refuses what is not a plain same-site GET or HEAD with the token.
    fn check(&self, request: &Request<Incoming>) -> std::result::Result<Shown, Response<Body>> {
        let headers = request.headers();
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served\n");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Err(r);
        }
        // A body is never expected; several Content-Length headers (even
        // equal ones, which hyper merges) are refused, as RFC 9112 allows.
        let lengths: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
        if lengths.len() > 1 {
            return Err(text(StatusCode::BAD_REQUEST, "several Content-Length headers\n"));
        }
        if headers.contains_key(header::TRANSFER_ENCODING) || lengths.iter().any(|v| v.as_bytes() != b"0") {
            return Err(text(StatusCode::BAD_REQUEST, "request bodies are not accepted\n"));
        }
        // Other Host names: a web page on another site cannot read the
        // history through DNS rebinding.
        let one = |name: header::HeaderName| -> std::result::Result<Option<&str>, Response<Body>> {
            let mut values = headers.get_all(&name).iter();
            let v = values.next();
            if values.next().is_some() {
                return Err(text(StatusCode::BAD_REQUEST, "a header that must appear once appears twice\n"));
            }
            v.map(|v| v.to_str().map_err(|_| text(StatusCode::BAD_REQUEST, "a header that is not ASCII\n"))).transpose()
        };
        if !one(header::HOST)?.is_none_or(|h| self.hosts.iter().any(|ok| h.eq_ignore_ascii_case(ok))) {
            return Err(text(StatusCode::FORBIDDEN, "forbidden host\n"));
        }
        // Another site's page (or another port's: same-site, other origin).
        if !one(header::ORIGIN)?.is_none_or(|o| self.origins.iter().any(|ok| o.eq_ignore_ascii_case(ok))) {
            return Err(text(StatusCode::FORBIDDEN, "cross-origin requests are refused\n"));
        }
        if !one(header::HeaderName::from_static("sec-fetch-site"))?.is_none_or(|s| s == "same-origin" || s == "none") {
            return Err(text(StatusCode::FORBIDDEN, "cross-site requests are refused\n"));
        }
        let Some(token) = &self.token else { return Ok(Shown::Otherwise) };
        if query_param(request.uri().query(), "token").is_some_and(|t| same_token(t, token)) {
            return Ok(Shown::Query);
        }
        let by_header = headers.get_all("x-ihist-token").iter().any(|v| v.to_str().is_ok_and(|t| same_token(t, token)));
        let by_cookie = headers.get_all(header::COOKIE).iter().any(|v| {
            v.to_str().is_ok_and(|c| {
                c.split(';')
                    .any(|kv| kv.trim().split_once('=').is_some_and(|(k, v)| k == self.cookie && same_token(v, token)))
            })
        });
        if by_header || by_cookie {
            Ok(Shown::Otherwise)
        } else {
            Err(text(
                StatusCode::FORBIDDEN,
                "this server needs its token: open the URL that `ihist view` printed (with ?token=...)\n",
            ))
        }
    }

    async fn respond(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let head_only = request.method() == Method::HEAD;
        let query = request.uri().query().map(str::to_string);
        match request.uri().path() {
            HISTORY_URL => {
                let site = Arc::clone(&self);
                let body = if head_only {
                    Body::empty()
                } else {
                    Body::produce(None, move |w| {
                        site.first.store().export_jsonl(w).map(|_| ()).map_err(|e| io::Error::other(e.to_string()))
                    })
                };
                fresh("application/x-ndjson; charset=utf-8", body)
            }
            "/runs" => {
                let runs = json!({ "runs": self.runs.iter().map(|r| json!({ "name": r.name })).collect::<Vec<_>>() });
                fresh("application/json", Body::bytes(runs.to_string()))
            }
            "/follow" => {
                let marks = follow::parse_marks(query_param(query.as_deref(), "runs"), self.runs.len());
                let wait = query_param(query.as_deref(), "wait") == Some("1");
                let body = follow::answer(Arc::clone(&self.runs), marks, wait).await;
                fresh("application/octet-stream", body)
            }
            path => self.file(path, head_only),
        }
    }

    fn file(&self, path: &str, head_only: bool) -> Response<Body> {
        let Some(rel) = resolve(path) else { return text(StatusCode::NOT_FOUND, "not found\n") };
        let Some(asset) = self.assets.open(&rel, head_only) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        let mut r = Response::new(asset.body);
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(Path::new(&rel))));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if head_only {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.len));
        }
        r
    }
}

impl server::Handler for Site {
    async fn handle(self: Arc<Self>, request: Request<Incoming>, conn: Conn) -> Response<Body> {
        let shown = match self.check(&request) {
            Ok(shown) => shown,
            Err(mut refused) => {
                // A refused request ends its connection: whatever it sent
                // after (a body, more requests) is not read.
                refused.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                return refused;
            }
        };
        conn.trusted.store(true, Ordering::Relaxed);
        let mut response = Arc::clone(&self).respond(request).await;
        let h = response.headers_mut();
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if shown == Shown::Query
            && let Some(token) = &self.token
            && let Ok(v) = HeaderValue::from_str(&format!("{}={token}; Path=/; HttpOnly; SameSite=Strict", self.cookie))
        {
            h.insert(header::SET_COOKIE, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_www() {
        assert_eq!(resolve("/").as_deref(), Some("index.html"));
        assert_eq!(resolve("/?src=/history.jsonl").as_deref(), Some("index.html"));
        assert_eq!(resolve("/pkg/v.js").as_deref(), Some("pkg/v.js"));
        assert_eq!(resolve("/pkg/").as_deref(), Some("pkg/index.html"));
        for bad in ["/../etc/passwd", "/pkg/../../x", "/a//b", "/%2e%2e/x", "/a\\b", "relative", "/c:/x", "/./x"] {
            assert_eq!(resolve(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_and_query_parameters() {
        let t = new_token().expect("token");
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(t, new_token().expect("token"), "random");
        assert!(same_token(&t, &t.clone()));
        assert!(!same_token(&t[..63], &t));
        assert!(!same_token(&t.to_uppercase(), &t));
        assert_eq!(query_param(Some("runs=1.0,2.5&wait=1"), "runs"), Some("1.0,2.5"));
        assert_eq!(query_param(Some("runs=1.0,2.5&wait=1"), "wait"), Some("1"));
        assert_eq!(query_param(Some("a"), "a"), Some(""));
        assert_eq!(query_param(Some("a=1"), "b"), None);
        assert_eq!(query_param(None, "a"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("a.JS")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("index.html")), "text/html; charset=utf-8");
    }
}
