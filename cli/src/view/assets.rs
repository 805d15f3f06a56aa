//! The viewer's files: embedded in the binary at build time (rust-embed,
//! from `web-viewer/www` as `scripts/build-viewer` left it; `build.rs`
//! re-embeds when those files change), or a directory given with `--www`,
//! opened once as a capability (cap-std): names are resolved beneath it,
//! and a symlink that leads out of it is refused.

use std::io::{self, Read};
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use rust_embed::RustEmbed;

use super::server::Body;
use crate::error::{CliError, Result};

/// `web-viewer/www` at build time (with `pkg/` and `vendor/` when built).
#[derive(RustEmbed)]
#[folder = "../web-viewer/www/"]
struct Embedded;

/// Where the page's files come from.
pub(crate) enum Assets {
    Embedded,
    Dir(Dir),
}

/// A file to serve: its body and length.
pub(crate) struct Asset {
    pub(crate) body: Body,
    pub(crate) len: u64,
}

/// The error when the viewer's files are not there.
fn missing(what: &str, which: &str, advice: &str) -> CliError {
    CliError::new("viewer-missing", format!("{what}: the browser viewer is not built ({which}); {advice}"))
}

impl Assets {
    /// The embedded viewer, if this binary was built after the viewer was.
    pub(crate) fn embedded() -> Result<Assets> {
        let built = Embedded::get("index.html").is_some() && Embedded::iter().any(|f| f.starts_with("pkg/"));
        if !built {
            return Err(missing(
                "this ihist",
                "web-viewer/www/pkg/ was missing when it was built",
                "run scripts/build-viewer, then build ihist again, or pass --www DIR",
            ));
        }
        Ok(Assets::Embedded)
    }

    /// The viewer's files in `www`.
    pub(crate) fn dir(www: &Path) -> Result<Assets> {
        let dir = Dir::open_ambient_dir(www, ambient_authority())
            .map_err(|e| CliError::new("viewer-missing", format!("{}: {e}", www.display())))?;
        for (present, which) in
            [(dir.is_file("index.html"), "index.html is missing"), (dir.is_dir("pkg"), "pkg/ is missing")]
        {
            if !present {
                return Err(missing(
                    &www.display().to_string(),
                    which,
                    "run scripts/build-viewer first, or pass --www DIR",
                ));
            }
        }
        Ok(Assets::Dir(dir))
    }

    /// Describes the source, for `--json`: `null` when embedded.
    pub(crate) fn describe(&self, www: Option<&Path>) -> Option<String> {
        match self {
            Assets::Embedded => None,
            Assets::Dir(_) => www.map(|w| w.display().to_string()),
        }
    }

    /// The file `rel` (a safe relative path, see `resolve`), streamed.
    pub(crate) fn open(&self, rel: &str, head_only: bool) -> Option<Asset> {
        match self {
            Assets::Embedded => {
                let file = Embedded::get(rel)?;
                let len = file.data.len() as u64;
                let body = if head_only {
                    Body::empty()
                } else {
                    match file.data {
                        std::borrow::Cow::Borrowed(b) => Body::bytes(b),
                        std::borrow::Cow::Owned(v) => Body::bytes(v),
                    }
                };
                Some(Asset { body, len })
            }
            Assets::Dir(dir) => {
                // cap-std resolves beneath the directory: `..`, absolute
                // names and symlinks that lead out of it fail here.
                let file = dir.open(rel).ok()?;
                let meta = file.metadata().ok()?;
                if !meta.is_file() {
                    return None;
                }
                let len = meta.len();
                let body = if head_only {
                    Body::empty()
                } else {
                    let file = file.into_std();
                    Body::produce(Some(len), move |w| {
                        let copied = io::copy(&mut file.take(len), w)?;
                        if copied == len {
                            Ok(())
                        } else {
                            Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was sent"))
                        }
                    })
                };
                Some(Asset { body, len })
            }
        }
    }
}
