//! Keeps ARCHITECTURE.md's code map true: every source, script and workflow file of the tree is
//! named there, so a newcomer never meets a file the map does not mention. A data folder named
//! `fixtures` counts as named when the folder is.

use std::path::{Path, PathBuf};

/// The folders the map covers, and the kinds of file in them that a reader opens.
const ROOTS: [&str; 9] = ["src", "core", "agent", "bench", "scripts", "tests", "migrations", ".github/workflows", ".ci"];
const SKIP_DIRS: [&str; 3] = ["target", "node_modules", "build"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
                files(&path, out);
            }
        } else if name != "Cargo.toml" && !name.starts_with('.') {
            out.push(path);
        }
    }
}

#[test]
fn the_code_map_names_every_file() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(repo.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut all = Vec::new();
    for root in ROOTS {
        files(&repo.join(root), &mut all);
    }
    all.sort();
    all.dedup();
    assert!(all.len() > 50, "the walk found only {} files", all.len());
    let missing: Vec<String> = all
        .iter()
        .map(|p| p.strip_prefix(&repo).unwrap().to_string_lossy().to_string())
        .filter(|rel| {
            let in_fixtures = rel.split('/').any(|part| part == "fixtures");
            let folder = rel.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
            let named = map.contains(&format!("`{rel}`")) || (in_fixtures && map.contains(&format!("`{folder}`")));
            !named
        })
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md's code map does not name these files (write each as `path`):\n  {}", missing.join("\n  "));
}
