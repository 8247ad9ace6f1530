//! The runtime's layering, checked on its source: the front ends (`cli/`, `tui/`) and
//! `daemon/` are imported by nobody (`main.rs` wires them), and the top-level modules of
//! `src/` import each other without a circle. See "Where things are" in the README.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules only `main.rs` (or `lib.rs`) may name.
const ENTRY_ONLY: [&str; 3] = ["cli", "tui", "daemon"];

/// The top-level module a file of `src/` belongs to (`cli/run.rs` -> `cli`), or `None` for
/// the crate's roots and the extra binaries, which wire and may import anything.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    if relative.components().count() == 1 {
        let name = first.strip_suffix(".rs")?;
        return (!matches!(name, "lib" | "main")).then(|| name.to_string());
    }
    (first != "bin").then(|| first.to_string())
}

/// The top-level modules `text` names through `crate::` (`crate::service::x`,
/// `crate::{api, config}`), comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// What breaks the layering in `files` (path relative to `src/`, text): imports of an
/// entry-only module from another module, and circles among the top-level modules.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, _) in files {
        if let Some(m) = module_of(path) {
            graph.entry(m).or_default();
        }
    }
    let mut found = Vec::new();
    for (path, text) in files {
        let Some(from) = module_of(path) else {
            continue;
        };
        for to in imports(text) {
            if to == from || !graph.contains_key(&to) {
                continue;
            }
            if ENTRY_ONLY.contains(&to.as_str()) {
                found.push(format!(
                    "{} imports {to}/, which only main.rs may use",
                    path.display()
                ));
            }
            graph.entry(from.clone()).or_default().insert(to);
        }
    }
    for cycle in cycles(&graph) {
        found.push(format!("circle of imports: {}", cycle.join(" -> ")));
    }
    found
}

/// Every module that reaches itself again, with the path it takes (depth-first).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if let Some(c) = walk(graph, start, next, path, seen) {
                    return Some(c);
                }
                path.pop();
            }
        }
        None
    }
    graph
        .keys()
        .filter_map(|start| {
            walk(
                graph,
                start,
                start,
                &mut vec![start.clone()],
                &mut BTreeSet::new(),
            )
        })
        .collect()
}

fn sources(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            let relative = path.strip_prefix(root).expect("under src").to_path_buf();
            out.push((relative, text));
        }
    }
}

#[test]
fn the_front_ends_and_the_daemon_are_imported_by_nobody_and_no_modules_import_in_a_circle() {
    // SORTIE_LAYERING_SRC: check another tree (an older checkout's runtime/src).
    let root = std::env::var_os("SORTIE_LAYERING_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let found = violations(&files);
    assert!(
        found.is_empty(),
        "the layering is broken:\n{}",
        found.join("\n")
    );
    // And the check saw the tree it is about.
    let modules: BTreeSet<_> = files.iter().filter_map(|(p, _)| module_of(p)).collect();
    for expected in ["api", "cli", "client", "config", "daemon", "service", "tui"] {
        assert!(
            modules.contains(expected),
            "{expected}/ is missing from {}",
            root.display()
        );
    }
}

#[test]
fn the_check_finds_an_upward_import_and_a_circle() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_string());
    let upward = [
        file("service/mod.rs", "use crate::cli::render::Style;\n"),
        file("cli/mod.rs", "use crate::{service, api};\n"),
        file("api/mod.rs", "// crate::cli in a comment does not count\n"),
    ];
    assert_eq!(
        violations(&upward),
        vec![
            "service/mod.rs imports cli/, which only main.rs may use".to_string(),
            "circle of imports: cli -> service -> cli".to_string(),
            "circle of imports: service -> cli -> service".to_string(),
        ]
    );
    let circle = [
        file("api.rs", "use crate::config::Config;\n"),
        file("config/mod.rs", "fn f() { crate::service::x(); }\n"),
        file("service/mod.rs", "use crate::{api, config};\n"),
        file("main.rs", "use crate::cli;\n"),
    ];
    let found = violations(&circle);
    assert!(
        found.contains(&"circle of imports: api -> config -> service -> api".to_string()),
        "{found:?}"
    );
    let fine = [
        file("cli/mod.rs", "use crate::service;\n"),
        file("service/mod.rs", "use crate::api;\n"),
        file("api/mod.rs", ""),
        file("main.rs", "use crate::{cli, daemon, tui};\n"),
    ];
    assert_eq!(violations(&fine), Vec::<String>::new());
}
