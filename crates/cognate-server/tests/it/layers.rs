//! The layering rules, checked on the source: surfaces (the Cognito API, `/v1`, OAuth)
//! never call the store — they call services — and the Cognito operation files import
//! each other without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn no_surface_calls_the_store() {
    let mut found = Vec::new();
    for dir in ["cognito", "api", "oauth", "login"] {
        for (path, text) in sources(dir) {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                if code.contains(".store.") || code.trim_end().ends_with(".store") {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "surfaces call services, not the store:\n{}", found.join("\n"));
}

#[test]
fn cognito_operation_files_import_each_other_without_a_cycle() {
    let files = sources("cognito");
    let names: BTreeSet<String> =
        files.iter().map(|(p, _)| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let from = path.file_stem().unwrap().to_string_lossy().into_owned();
        for other in &names {
            if *other != from
                && (text.contains(&format!("super::{other}::")) || text.contains(&format!("use super::{other}")))
            {
                edges.entry(from.clone()).or_default().insert(other.clone());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let mut cycle = path.clone();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in &names {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let cycle = visit(n, &edges, &mut state, &mut Vec::new());
            assert!(cycle.is_none(), "import cycle among cognito/ files: {}", cycle.unwrap_or_default().join(" -> "));
        }
    }
}
