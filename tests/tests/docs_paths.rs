//! The documents name files and folders of the repository; each must exist, so that a rename
//! cannot leave the docs pointing at nothing. A path is a backquoted word with a `/` in it (or a
//! file name with an extension), read from the repository root, `scripts/`, a crate's root or its
//! `src/`; words with placeholders (`<`, `*`, `$`, `{`) or that are URLs or routes are left out.

use std::path::{Path, PathBuf};

const DOCUMENTS: [&str; 5] = [
    "README.md",
    "docs/ARCHITECTURE.md",
    "docs/CONTRACTS.md",
    "docs/RELIABILITY.md",
    "docs/BENCHMARKS.md",
];
const EXTENSIONS: [&str; 9] = ["rs", "sql", "sh", "md", "py", "toml", "html", "json", "txt"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository")
        .to_path_buf()
}

/// Backquoted words of a document.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn looks_like_path(word: &str) -> bool {
    let placeholder = word.contains(['<', '*', '$', '{', ' ', '=', '?', ':', '|', '(']);
    // Routes, URLs, and places outside the repository (the home folder's caches).
    let elsewhere = word.starts_with(['/', '~']) || word.starts_with("http");
    let has_extension = Path::new(word)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e));
    !placeholder && !elsewhere && (has_extension || word.contains('/'))
}

/// Where a path written in a document may be relative to.
fn bases(root: &Path) -> Vec<PathBuf> {
    let mut bases = vec![root.to_path_buf(), root.join("scripts")];
    let crates = std::fs::read_dir(root).expect("read the repository root");
    for entry in crates.flatten() {
        let dir = entry.path();
        if dir.join("Cargo.toml").is_file() {
            bases.push(dir.join("src"));
            bases.push(dir);
        }
    }
    bases
}

#[test]
fn every_path_the_documents_name_exists() {
    let root = repo_root();
    let bases = bases(&root);
    let mut checked = 0;
    let mut missing = Vec::new();
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(document))
            .unwrap_or_else(|e| panic!("{document}: {e}"));
        for word in quoted(&text).into_iter().filter(|w| looks_like_path(w)) {
            let relative = word.trim_start_matches("./").trim_end_matches('/');
            // `crate::module` paths are written with `::`; a file path of a module may drop `.rs`.
            let found = bases.iter().any(|base| {
                let path = base.join(relative);
                path.exists() || path.with_extension("rs").is_file()
            });
            checked += 1;
            if !found {
                missing.push(format!("{document}: `{word}`"));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} paths found: is the pattern still right?"
    );
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}
