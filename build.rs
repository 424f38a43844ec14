//! Embeds the Python front end (every `*.py` and `*.md` under `python/trnsim/`) into the binary,
//! so `trnsim nki` needs no install: `src/cli/nki.rs` writes the files out at run time.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "__pycache__" {
                collect(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "py" || e == "md") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let python = root.join("python");
    let package = python.join("trnsim");
    println!("cargo:rerun-if-changed={}", package.display());
    let mut files = Vec::new();
    collect(&package, &mut files);
    // Sorted by relative path, with '/' separators: the same table on every machine.
    let mut rows: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&python).expect("under python/");
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            (rel.join("/"), p)
        })
        .collect();
    rows.sort();
    let mut text = String::from(
        "/// The front end's files: (path under the import root, contents), sorted by path.\n\
         pub(crate) static PYTHON_FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, path) in &rows {
        text.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    text.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("python_files.rs");
    std::fs::write(&out, text).expect("OUT_DIR is writable");
}
