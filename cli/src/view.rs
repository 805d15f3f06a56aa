//! `ihist view`: serves the browser viewer (static files of
//! `web-viewer/www`, built by `scripts/build-viewer`) and a snapshot of the
//! history at `/history.jsonl`, on 127.0.0.1 only, until Ctrl-C.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use iteration_history::Store;
use serde_json::json;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::ctx::Ctx;
use crate::error::{CliError, EXIT_OK, Result};
use crate::target::Target;

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

/// Adds a header (names and values here are ASCII constants).
fn with<R: io::Read>(response: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
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
/// and serves until the process is stopped.
pub(crate) fn run(ctx: &Ctx, history: &Target, port: u16, www: Option<&Path>) -> Result {
    let h = history.reader()?;
    let www = www.map_or_else(default_www, Path::to_path_buf);
    check_www(&www)?;
    let server = Server::http(("127.0.0.1", port)).map_err(|e| {
        let in_use = e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::AddrInUse);
        let advice = if in_use { "; pass another --port, or --port 0 for any free port" } else { "" };
        CliError::new("port", format!("127.0.0.1:{port}: cannot listen: {e}{advice}"))
    })?;
    let port = server.server_addr().to_ip().map_or(port, |a| a.port());
    let url = format!("http://127.0.0.1:{port}/?src={HISTORY_URL}");
    if ctx.json {
        ctx.out_json(&json!({ "url": url, "file": h.name(), "www": www.display().to_string() }))?;
    } else {
        ctx.out(&url)?;
    }
    ctx.note(format!(
        "serving {} and the viewer in {} on 127.0.0.1:{port}; press Ctrl-C to stop",
        h.name(),
        www.display()
    ));
    let hosts = [format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    for request in server.incoming_requests() {
        let _ = handle(h.store(), &www, &hosts, request);
    }
    Ok(EXIT_OK)
}

fn handle(h: &dyn Store, www: &Path, hosts: &[String], request: Request) -> io::Result<()> {
    let text = |status: u16, body: &str| {
        with(Response::from_string(body).with_status_code(status), "Content-Type", "text/plain; charset=utf-8")
    };
    if !matches!(request.method(), Method::Get | Method::Head) {
        return request.respond(text(405, "only GET and HEAD are served\n"));
    }
    // Refuse other Host names: a web page on another site cannot read the
    // history through DNS rebinding.
    let host_ok = request
        .headers()
        .iter()
        .find(|hd| hd.field.equiv("Host"))
        .is_none_or(|hd| hosts.iter().any(|ok| hd.value.as_str().eq_ignore_ascii_case(ok)));
    if !host_ok {
        return request.respond(text(403, "forbidden host\n"));
    }
    let path = request.url().split(['?', '#']).next().unwrap_or("").to_string();
    if path == HISTORY_URL {
        let mut body = Vec::new();
        return match h.export_jsonl(&mut body) {
            Ok(_) => {
                let r = with(Response::from_data(body), "Content-Type", "application/x-ndjson; charset=utf-8");
                request.respond(with(r, "Cache-Control", "no-store"))
            }
            Err(e) => request.respond(text(500, &format!("{e}\n"))),
        };
    }
    let Some(file_path) = resolve(www, &path) else {
        return request.respond(text(404, "not found\n"));
    };
    match File::open(&file_path) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
            let r = with(Response::from_file(f), "Content-Type", content_type(&file_path));
            let r = with(r, "Cache-Control", "no-cache");
            request.respond(with(r, "X-Content-Type-Options", "nosniff"))
        }
        _ => request.respond(text(404, "not found\n")),
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
