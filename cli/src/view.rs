//! `ihist view`: serves the browser viewer (static files of
//! `web-viewer/www`, built by `scripts/build-viewer`) and one or more
//! histories, on 127.0.0.1 only, until Ctrl-C. The page follows the
//! histories live through `/follow` (see [`follow`]); `/runs` names them;
//! `/history.jsonl` is a snapshot of the first (its committed records).

mod follow;
mod http;

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use self::follow::{Run, Source};
use self::http::{Body, Conn, Request, Response};
use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::target::{Opened, Target};

/// The viewer's files in this repository (`web-viewer/www`, built by
/// `scripts/build-viewer`), found from where this crate was built.
fn default_www() -> PathBuf {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent().unwrap_or(cli).join("web-viewer").join("www")
}

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

/// The file under `www` that `url` names, if it is a safe relative path:
/// `/` is `index.html`; no `..`, backslashes, NUL or percent escapes.
fn resolve(www: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let rel = path.strip_prefix('/')?;
    let rel = if rel.is_empty() || rel.ends_with('/') { format!("{rel}index.html") } else { rel.to_string() };
    if rel.contains(['\\', '\0', '%', ':']) {
        return None;
    }
    let mut out = www.to_path_buf();
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

/// Checks the viewer's files and returns the www directory.
fn check_www(www: &Path) -> Result<()> {
    if !www.join("index.html").is_file() || !www.join("pkg").is_dir() {
        let what = if www.join("index.html").is_file() { "pkg/ is missing" } else { "index.html or pkg/ is missing" };
        return Err(CliError::new(
            "viewer-missing",
            format!(
                "{}: the browser viewer is not built ({what}); run scripts/build-viewer first, or pass --www DIR",
                www.display()
            ),
        ));
    }
    Ok(())
}

/// Runs `view`: binds 127.0.0.1:`port` (0: any free port), prints the URL
/// and serves `histories` until the process is stopped.
pub(crate) fn run(ctx: &Ctx, histories: &[Target], port: u16, www: Option<&Path>) -> Result {
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
    let www = www.map_or_else(default_www, Path::to_path_buf);
    check_www(&www)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        let advice = if e.kind() == io::ErrorKind::AddrInUse {
            "; pass another --port, or --port 0 for any free port"
        } else {
            ""
        };
        CliError::new("port", format!("127.0.0.1:{port}: cannot listen: {e}{advice}"))
    })?;
    let port = listener.local_addr().map_or(port, |a| a.port());
    let url = format!("http://127.0.0.1:{port}/{PAGE_QUERY}");
    if ctx.json {
        let file = names.first().cloned().unwrap_or_default();
        ctx.out_json(&json!({ "url": url, "file": file, "files": names, "www": www.display().to_string() }))?;
    } else {
        ctx.out(&url)?;
    }
    ctx.note(format!(
        "serving {} and the viewer in {} on 127.0.0.1:{port}; the page follows the history as it grows; press Ctrl-C to stop",
        names.join(", "),
        www.display()
    ));
    let hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    let site = Arc::new(Site { runs, first, www, hosts });
    http::serve(&listener, Arc::new(move |r: &Request, c: &Conn<'_>| site.handle(r, c)));
    Ok(EXIT_OK)
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

/// What the server serves.
struct Site {
    runs: Vec<Run>,
    /// The first history, for `/history.jsonl`.
    first: Arc<Opened>,
    www: PathBuf,
    hosts: Vec<String>,
}

impl Site {
    fn handle(&self, request: &Request, conn: &Conn<'_>) -> Response {
        if !matches!(request.method.as_str(), "GET" | "HEAD") {
            return Response::text(405, "only GET and HEAD are served\n").with("Allow", "GET, HEAD");
        }
        // Refuse other Host names: a web page on another site cannot read the
        // history through DNS rebinding.
        let host_ok = request.header("Host").is_none_or(|h| self.hosts.iter().any(|ok| h.eq_ignore_ascii_case(ok)));
        if !host_ok {
            return Response::text(403, "forbidden host\n");
        }
        let json = |v: serde_json::Value| {
            Response::new(200, "application/json", Body::Bytes(v.to_string().into_bytes()))
                .with("Cache-Control", "no-store")
        };
        match request.path() {
            HISTORY_URL => {
                let mut body = Vec::new();
                match self.first.store().export_jsonl(&mut body) {
                    Ok(_) => Response::new(200, "application/x-ndjson; charset=utf-8", Body::Bytes(body))
                        .with("Cache-Control", "no-store"),
                    Err(e) => Response::text(500, &format!("{e}\n")),
                }
            }
            "/runs" => json(json!({ "runs": self.runs.iter().map(|r| json!({ "name": r.name })).collect::<Vec<_>>() })),
            "/follow" => {
                let marks = follow::parse_marks(request.query("runs"), self.runs.len());
                let wait = request.query("wait") == Some("1");
                let body = follow::answer(&self.runs, &marks, wait, conn);
                Response::new(200, "application/octet-stream", Body::Bytes(body)).with("Cache-Control", "no-store")
            }
            path => self.file(path),
        }
    }

    fn file(&self, path: &str) -> Response {
        let Some(file_path) = resolve(&self.www, path) else {
            return Response::text(404, "not found\n");
        };
        match File::open(&file_path) {
            Ok(f) => match f.metadata() {
                Ok(m) if m.is_file() => Response::new(200, content_type(&file_path), Body::File(f, m.len()))
                    .with("Cache-Control", "no-cache")
                    .with("X-Content-Type-Options", "nosniff"),
                _ => Response::text(404, "not found\n"),
            },
            Err(_) => Response::text(404, "not found\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_www() {
        let www = Path::new("/srv/www");
        assert_eq!(resolve(www, "/"), Some(PathBuf::from("/srv/www/index.html")));
        assert_eq!(resolve(www, "/?src=/history.jsonl"), Some(PathBuf::from("/srv/www/index.html")));
        assert_eq!(resolve(www, "/pkg/v.js"), Some(PathBuf::from("/srv/www/pkg/v.js")));
        assert_eq!(resolve(www, "/pkg/"), Some(PathBuf::from("/srv/www/pkg/index.html")));
        for bad in ["/../etc/passwd", "/pkg/../../x", "/a//b", "/%2e%2e/x", "/a\\b", "relative", "/c:/x"] {
            assert_eq!(resolve(www, bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("a.JS")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("index.html")), "text/html; charset=utf-8");
    }
}
