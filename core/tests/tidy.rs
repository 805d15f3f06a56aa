//! Tidy: ARCHITECTURE.md's map of the core is checked against the code (as
//! rust-analyzer keeps `tidy` tests).
//!
//! * Layers: the core's module table in ARCHITECTURE.md is read in order,
//!   lowest first. A module may import (`use crate::…`, a `crate::x::` path,
//!   a root re-export such as `crate::Error`) only from its own row or rows
//!   above it; a `super::` path may not leave the module's folder.
//! * The writer: only `commit` (and the storage backends themselves) call
//!   the storage methods that sync, create exclusively, truncate or rename.
//! * The map: every module of `core/src` is a row of the table, every row is
//!   a module, and every file of a module folder is named in its row.
//!
//! Run: `cargo test -p iteration-history --test tidy`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The storage calls only the writer (`commit`) may make.
const WRITER_ONLY_CALLS: [&str; 6] =
    [".sync_data(", ".sync_all(", ".sync_dir(", ".rename(", ".create_new(", ".set_len("];

/// The module that owns these calls, and the backends that implement them.
const WRITER: &str = "commit";
const STORAGE: &str = "storage";

/// One row of the layer table: its modules and the text of its `owns` cell.
#[derive(Debug)]
struct Row {
    modules: Vec<String>,
    owns: String,
}

/// The rows of the core's module table in `architecture`, lowest first.
fn layer_table(architecture: &str) -> Vec<Row> {
    let start = architecture.find("### `core/`").expect("ARCHITECTURE.md has a `### `core/`` section");
    let section = &architecture[start..];
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in section.lines().skip(1) {
        if line.starts_with("### ") || line.starts_with("## ") {
            break;
        }
        if !line.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 2 || cells[0] == "module" || cells[0].starts_with("---") {
            continue;
        }
        let modules = cells[0]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|m| m.trim_end_matches('/').to_string())
            .filter(|m| !m.is_empty())
            .collect();
        rows.push(Row { modules, owns: cells[1..].join("|") });
    }
    rows
}

/// A source file of the core: its path under `src/`, its top-level module
/// (`None` for `lib.rs`) and its text.
struct Source {
    rel: String,
    module: Option<String>,
    text: String,
}

fn sources(src: &Path) -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("core/src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).expect("a file under src").to_string_lossy().replace('\\', "/");
            let module = match rel.split_once('/') {
                Some((dir, _)) => Some(dir.to_string()),
                None if rel == "lib.rs" => None,
                None => Some(rel.trim_end_matches(".rs").to_string()),
            };
            Source { text: fs::read_to_string(&p).expect("a source file is UTF-8 text"), rel, module }
        })
        .collect()
}

/// The code of a line: empty for comments (doc links are not imports).
fn code(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with("//") { "" } else { line.split(" //").next().unwrap_or(line) }
}

/// Names re-exported at the crate root, by the module they come from
/// (`pub use error::{Error, Result};` gives `Error -> error`, …).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let flat = lib.lines().map(code).collect::<Vec<_>>().join(" ");
    for stmt in flat.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.split_once("::") else { continue };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    map
}

/// The modules of the crate a line of code names through `crate::`.
fn crate_references(line: &str, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in line.match_indices("crate::") {
        if i > 0 && line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `$crate::`, `some_crate::`
        }
        let rest = &line[i + "crate::".len()..];
        let mut names = Vec::new();
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            names.extend(group.split(',').map(|n| n.trim().split("::").next().unwrap_or("").trim().to_string()));
        } else {
            names.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
        for name in names.into_iter().filter(|n| !n.is_empty() && n != "self") {
            if let Some(m) = reexports.get(&name) {
                out.insert(m.clone());
            } else {
                out.insert(name);
            }
        }
    }
    out
}

/// Every violation of the map by the sources.
fn check(rows: &[Row], sources: &[Source]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut layer_of = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        for m in &row.modules {
            layer_of.insert(m.clone(), i);
        }
    }
    let lib = sources.iter().find(|s| s.module.is_none()).map_or("", |s| s.text.as_str());
    let reexports = root_reexports(lib);

    // The map: modules and files.
    let modules: BTreeSet<&str> = sources.iter().filter_map(|s| s.module.as_deref()).collect();
    for m in &modules {
        if !layer_of.contains_key(*m) {
            errors.push(format!("module `{m}` is not in ARCHITECTURE.md's layer table"));
        }
    }
    for m in layer_of.keys() {
        if !modules.contains(m.as_str()) {
            errors.push(format!("ARCHITECTURE.md's layer table names `{m}`, which is no module of core/src"));
        }
    }
    for s in sources {
        let (Some(m), Some((_, inner))) = (&s.module, s.rel.split_once('/')) else { continue };
        let Some(&i) = layer_of.get(m) else { continue };
        let name = match inner.rsplit_once('/') {
            Some((folder, "mod.rs")) => format!("{}/", folder.rsplit('/').next().unwrap_or(folder)),
            Some((_, file)) => file.to_string(),
            None if inner == "mod.rs" => continue,
            None => inner.to_string(),
        };
        if !rows[i].owns.contains(&name) {
            errors.push(format!("core/src/{} is not named (`{name}`) in the row of `{m}` in ARCHITECTURE.md", s.rel));
        }
    }

    // Imports up the table, `super::` out of a folder, writer-only calls.
    for s in sources {
        let Some(m) = &s.module else { continue };
        let Some(&own) = layer_of.get(m) else { continue };
        let top_level_file = !s.rel.contains('/');
        for (n, line) in s.text.lines().enumerate() {
            let at = format!("core/src/{}:{}", s.rel, n + 1);
            let c = code(line);
            for r in crate_references(c, &reexports) {
                match layer_of.get(&r) {
                    Some(&l) if l > own => errors.push(format!(
                        "{at}: `{m}` uses `{r}`, which is listed after it in ARCHITECTURE.md's layer table (imports run down the table only): {}",
                        line.trim()
                    )),
                    _ => {}
                }
            }
            let reaches_out = c.contains("super::super::")
                || (top_level_file && !c.starts_with(char::is_whitespace) && c.contains("super::"));
            if reaches_out {
                errors.push(format!("{at}: a `super::` path leaves the module `{m}`: {}", line.trim()));
            }
            if m != WRITER && m != STORAGE {
                for call in WRITER_ONLY_CALLS {
                    if c.contains(call) {
                        errors.push(format!(
                            "{at}: `{call}` outside `{WRITER}`: only the writer syncs, creates, truncates or renames (docs/durability.md): {}",
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    errors
}

#[test]
fn the_core_follows_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture =
        fs::read_to_string(root.join("../ARCHITECTURE.md")).expect("ARCHITECTURE.md at the top of the workspace");
    let rows = layer_table(&architecture);
    assert!(rows.len() > 10, "the layer table was not found or is nearly empty: {rows:?}");
    let errors = check(&rows, &sources(&root.join("src")));
    assert!(errors.is_empty(), "ARCHITECTURE.md and core/src disagree:\n{}", errors.join("\n"));
}

// The checker on small made-up crates: each rule refuses what it must.

const MAP: &str = "\
### `core/` — the library

| module | owns |
|---|---|
| `storage/` | traits; `memory.rs` |
| `format` | constants |
| `commit` | the writer |
| `history/` | `open.rs` |

### next
";

fn src(files: &[(&str, &str)]) -> Vec<Source> {
    files
        .iter()
        .map(|(rel, text)| Source {
            rel: rel.to_string(),
            module: match rel.split_once('/') {
                Some((d, _)) => Some(d.to_string()),
                None if *rel == "lib.rs" => None,
                None => Some(rel.trim_end_matches(".rs").to_string()),
            },
            text: text.to_string(),
        })
        .collect()
}

fn tidy_crate() -> Vec<(&'static str, &'static str)> {
    vec![
        ("lib.rs", "mod commit;\npub use commit::Writer;\npub use history::{History, Page};\n"),
        ("storage/mod.rs", "pub trait Dir {}\nfn f(d: &dyn Dir) { d.sync_dir(); }\n"),
        ("storage/memory.rs", "use super::Dir;\n"),
        ("format.rs", "pub const K: &str = \"_ih\";\n"),
        ("commit.rs", "use crate::format::K;\nuse crate::storage::Dir;\nfn c(f: &mut F) { f.sync_data(); }\n"),
        ("history/mod.rs", "use crate::{commit, format};\n/// See [`crate::History`] and crate::history.\nmod open;\n"),
        (
            "history/open.rs",
            "use super::*;\nfn o() { crate::Writer::new(); }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]
}

#[test]
fn a_tidy_crate_passes() {
    assert_eq!(check(&layer_table(MAP), &src(&tidy_crate())), Vec::<String>::new());
}

fn errors_with(change: (&'static str, &'static str)) -> Vec<String> {
    let mut files = tidy_crate();
    match files.iter_mut().find(|f| f.0 == change.0) {
        Some(f) => f.1 = change.1,
        None => files.push(change),
    }
    check(&layer_table(MAP), &src(&files))
}

#[test]
fn an_import_up_the_table_is_refused() {
    for text in [
        "use crate::history::Page;\n",
        "use crate::{format, history};\n",
        "fn f() -> crate::history::Page { todo!() }\n",
        "fn f() -> crate::Page { todo!() }\n", // a root re-export of `history`
    ] {
        let errors = errors_with(("commit.rs", text));
        assert_eq!(errors.len(), 1, "{text}: {errors:?}");
        assert!(errors[0].contains("`commit` uses `history`"), "{errors:?}");
    }
}

#[test]
fn super_leaving_a_module_is_refused() {
    let errors = errors_with(("history/open.rs", "use super::super::commit;\n"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let errors = errors_with(("format.rs", "use super::commit;\n"));
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn a_writer_call_outside_commit_is_refused() {
    for call in WRITER_ONLY_CALLS {
        let text = format!("fn f(d: &dyn Dir) {{ d{call}x); }}\n");
        let errors = errors_with(("history/open.rs", Box::leak(text.into_boxed_str())));
        assert_eq!(errors.len(), 1, "{call}: {errors:?}");
        assert!(errors[0].contains("outside `commit`"), "{errors:?}");
    }
}

#[test]
fn a_module_or_file_missing_from_the_map_is_refused() {
    let errors = errors_with(("checkpoint.rs", "pub fn load() {}\n"));
    assert_eq!(errors, vec!["module `checkpoint` is not in ARCHITECTURE.md's layer table".to_string()]);
    let errors = errors_with(("storage/last_block.rs", "pub struct LastBlock;\n"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("last_block.rs"), "{errors:?}");
    let mut files = tidy_crate();
    files.retain(|f| f.0 != "format.rs");
    let errors = check(&layer_table(MAP), &src(&files));
    assert!(errors.iter().any(|e| e.contains("names `format`, which is no module")), "{errors:?}");
}
