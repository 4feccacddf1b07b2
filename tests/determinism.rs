//! Guards for determinism that clippy cannot express.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `tokio::select!` polls its branches in a random order unless told `biased;`; on virtual
/// time two branches are often ready at the same instant, so an unbiased select makes traces
/// depend on a thread-local RNG.
#[test]
fn every_select_is_biased() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("harness"), &mut files);
    files.sort();
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.contains("select! {")
                && !lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with("biased;"))
            {
                offenders.push(format!("{}:{}", f.display(), i + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unbiased tokio::select! at: {offenders:?}"
    );
    assert!(files.len() > 10, "scanned too few files: {}", files.len());
}
