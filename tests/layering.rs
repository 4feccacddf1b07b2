//! The library's layering: no import cycle between modules.
//!
//! ```text
//!  src/**/*.rs ──lex (comments, strings, #[cfg(test)] modules dropped)──▶ code
//!     every `crate::…`, `super::…`, `self::…` path (use trees expanded)
//!        ──▶ edge between the two sibling modules the path crosses
//!            (src/sim/runner.rs naming crate::targets::get: sim → targets, under crate)
//!  per parent module: the siblings' edges must form no cycle
//! ```
//!
//! Tests are left out (a test module may reach anything), as `cargo modules dependencies
//! --acyclic` does. A path is lifted to the pair of sibling modules where it leaves its own
//! subtree, so `crate::reference::server::mcp` named from `src/targets/rmcp.rs` is the edge
//! targets → reference. Hand-written rather than `syn`: it needs only paths, and a lexer of
//! this size keeps the test free of a second build of syn with its `full` feature.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path (`["sim", "runner"]`) and text.
struct File {
    path: String,
    module: Vec<String>,
    text: String,
}

/// An edge between two sibling modules, and where it was seen.
#[derive(Debug)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

/// The module path of a file under `src/` (`sim/runner.rs` → sim::runner, `sim/mod.rs` → sim).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs").to_string();
    if stem != "mod" && stem != "lib" {
        parts.push(stem);
    }
    parts
}

/// Source text with comments dropped and string and char literals emptied, so only code is
/// searched for paths.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && !b[..i]
                .last()
                .is_some_and(|p| p.is_ascii_alphanumeric() || *p == b'_')
        {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"'
                    && b[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('a', '\n', '\u{7f}') or a lifetime ('a, 'static).
            if b.get(i + 1) == Some(&b'\\') {
                // Past the escaped char itself ('\'' is a quote).
                let mut j = i + 3;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                let ch = src[i + 1..].chars().next();
                match ch {
                    Some(ch) if src[i + 1 + ch.len_utf8()..].starts_with('\'') => {
                        i += 2 + ch.len_utf8();
                        out.push_str("' '");
                    }
                    _ => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
        } else {
            let ch = src[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The code with every `#[cfg(test)] mod NAME { … }` dropped, and the names of the
/// `#[cfg(test)] mod NAME;` whose files are left out.
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut test_files = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = rest[at + "#[cfg(test)]".len()..].trim_start();
        let after = after
            .strip_prefix("pub(crate)")
            .unwrap_or(after)
            .trim_start();
        let after = after.strip_prefix("pub").unwrap_or(after).trim_start();
        let Some(item) = after.strip_prefix("mod ") else {
            panic!(
                "#[cfg(test)] on something other than a module: {}",
                &after[..after.len().min(60)]
            );
        };
        let name_len = item
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(item.len());
        let name = item[..name_len].to_string();
        let tail = item[name_len..].trim_start();
        if let Some(tail) = tail.strip_prefix(';') {
            test_files.push(name);
            rest = tail;
        } else if tail.starts_with('{') {
            let mut depth = 0;
            let mut end = tail.len();
            for (k, ch) in tail.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &tail[end..];
        } else {
            panic!("#[cfg(test)] mod {name} neither `;` nor a block");
        }
    }
    out.push_str(rest);
    (out, test_files)
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// Expands the use tree or path at `s` (just after its root keyword and `::`) into the
/// segment lists it names: `a::{b, c::d}` → [a, b], [a, c, d].
fn expand(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut segs = prefix;
    let mut i = 0;
    loop {
        let t = &s[i..];
        let ws = t.len() - t.trim_start().len();
        i += ws;
        let t = &s[i..];
        if let Some(group) = t.strip_prefix('{') {
            let mut j = 1;
            let _ = group;
            loop {
                let inner = &s[i + j..];
                let ws = inner.len() - inner.trim_start().len();
                j += ws;
                if s[i + j..].starts_with('}') {
                    j += 1;
                    break;
                }
                j += expand(&s[i + j..], segs.clone(), out);
                let inner = &s[i + j..];
                let ws = inner.len() - inner.trim_start().len();
                j += ws;
                if s[i + j..].starts_with(',') {
                    j += 1;
                } else if s[i + j..].starts_with('}') {
                    j += 1;
                    break;
                } else if i + j >= s.len() {
                    break;
                }
            }
            return i + j;
        }
        let n = ident_len(t);
        if n == 0 {
            // `*`, or the end of the path.
            if t.starts_with('*') {
                i += 1;
            }
            out.push(segs);
            return i;
        }
        let word = &t[..n];
        i += n;
        if word != "self" {
            segs.push(word.to_string());
        }
        let t = &s[i..];
        if let Some(more) = t.strip_prefix("::") {
            let _ = more;
            i += 2;
            continue;
        }
        // `as NAME` and anything after the path end it.
        out.push(segs);
        return i;
    }
}

/// Every path the code names from the crate root: `crate::x`, `super::x`, `self::x`
/// resolved against the file's module.
fn paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = code[from..].find(root) {
            let at = from + k;
            from = at + root.len();
            if at > 0
                && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b':')
            {
                continue;
            }
            let mut base: Vec<String> = match root {
                "crate::" => Vec::new(),
                "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.to_vec(),
            };
            let mut rest = &code[from..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            let mut found = Vec::new();
            expand(rest, base, &mut found);
            out.extend(found);
        }
    }
    out
}

/// The files of the library under `src/` (the binary's `main.rs` is its own crate), test
/// files left out.
fn library(src: &Path) -> Vec<File> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(src, &mut all);
    let files: Vec<File> = all
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(src).expect("under src").to_path_buf();
            if rel == Path::new("main.rs") || rel.starts_with("bin") {
                return None;
            }
            Some(File {
                path: format!("src/{}", rel.display()),
                module: module_of(&rel),
                text: std::fs::read_to_string(&p)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            })
        })
        .collect();
    files
}

/// The edges between sibling modules, under each parent module, tests left out.
fn edges(files: &[File]) -> BTreeMap<Vec<String>, Vec<Edge>> {
    let mut test_modules: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut code = Vec::new();
    for f in files {
        let (c, tests) = without_tests(&code_only(&f.text));
        for t in tests {
            let mut m = f.module.clone();
            m.push(t);
            test_modules.insert(m);
        }
        code.push(c);
    }
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut out: BTreeMap<Vec<String>, Vec<Edge>> = BTreeMap::new();
    for (f, code) in files.iter().zip(&code) {
        if test_modules.iter().any(|t| f.module.starts_with(t)) {
            continue;
        }
        for p in paths(code, &f.module) {
            // The longest prefix that is a module of its own file.
            let target: Vec<String> = (0..=p.len())
                .rev()
                .map(|n| p[..n].to_vec())
                .find(|m| modules.contains(m))
                .unwrap_or_default();
            let common = f
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == f.module.len() || common == target.len() {
                continue; // one is the other's ancestor: not between siblings
            }
            out.entry(f.module[..common].to_vec())
                .or_default()
                .push(Edge {
                    from: f.module[common].clone(),
                    to: target[common].clone(),
                    at: format!("{} names {}", f.path, p.join("::")),
                });
        }
    }
    out
}

/// The cycles among the siblings under each parent: each as the parent, the modules in it,
/// and one place per edge of it.
fn cycles(edges: &BTreeMap<Vec<String>, Vec<Edge>>) -> Vec<String> {
    let mut found = Vec::new();
    for (parent, es) in edges {
        let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in es {
            graph.entry(&e.from).or_default().insert(&e.to);
        }
        // Modules that reach each other: each module's reachable set, then mutual pairs.
        let reach = |start: &str| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start];
            while let Some(n) = todo.pop() {
                for &m in graph.get(n).into_iter().flatten() {
                    if seen.insert(m) {
                        todo.push(m);
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<&str, BTreeSet<&str>> =
            graph.keys().map(|&n| (n, reach(n))).collect();
        let mut done = BTreeSet::new();
        for (&n, r) in &reaches {
            if done.contains(n) || !r.contains(n) {
                continue;
            }
            let comp: BTreeSet<&str> = r
                .iter()
                .copied()
                .filter(|m| reaches.get(m).is_some_and(|rm| rm.contains(n)))
                .collect();
            done.extend(comp.iter().copied());
            let mut lines = vec![format!(
                "cycle under {}: {}",
                if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                },
                comp.iter().copied().collect::<Vec<_>>().join(", ")
            )];
            let mut shown = BTreeSet::new();
            for e in es {
                if comp.contains(e.from.as_str())
                    && comp.contains(e.to.as_str())
                    && shown.insert((&e.from, &e.to))
                {
                    lines.push(format!("  {} -> {}: {}", e.from, e.to, e.at));
                }
            }
            found.push(lines.join("\n"));
        }
    }
    found
}

fn synthetic(files: &[(&str, &str)]) -> Vec<File> {
    files
        .iter()
        .map(|(p, t)| File {
            path: format!("src/{p}"),
            module: module_of(Path::new(p)),
            text: t.to_string(),
        })
        .collect()
}

#[test]
fn the_library_has_no_module_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = library(&src);
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let e = edges(&files);
    // The walk sees the layering it checks: the simulation names the trace, not back.
    assert!(
        e[&Vec::new()]
            .iter()
            .any(|e| e.from == "sim" && e.to == "trace"),
        "no edge sim -> trace found: the path scan is broken"
    );
    let c = cycles(&e);
    assert!(
        c.is_empty(),
        "reproduce: cargo test --test layering\nmodules import each other (move the shared piece \
         down a layer, or inject it):\n{}",
        c.join("\n")
    );
}

#[test]
fn a_cycle_between_siblings_is_found_with_its_places() {
    let files = synthetic(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a/mod.rs", "pub mod x;\nuse crate::b::{self, y::Thing};\n"),
        ("a/x.rs", "fn f() { super::super::b::g(); }\n"),
        ("b/mod.rs", "pub mod y;\n"),
        ("b/y.rs", "use crate::a::x;\n"),
    ]);
    let e = edges(&files);
    let named: Vec<&str> = e[&Vec::new()].iter().map(|e| e.at.as_str()).collect();
    assert_eq!(
        named,
        [
            "src/a/mod.rs names b",
            "src/a/mod.rs names b::y::Thing",
            "src/a/x.rs names b::g",
            "src/b/y.rs names a::x"
        ]
    );
    let c = cycles(&e);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].starts_with("cycle under crate: a, b\n"), "{}", c[0]);
    assert!(c[0].contains("a -> b: src/a/mod.rs names b\n"), "{}", c[0]);
    assert!(c[0].contains("b -> a: src/b/y.rs names a::x"), "{}", c[0]);
}

#[test]
fn tests_comments_strings_and_parents_are_not_edges() {
    let files = synthetic(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a/mod.rs", "pub mod x;\nuse crate::b::Y;\nuse self::x::Z;\n"),
        ("a/x.rs", "use super::W; // crate::b\n"),
        (
            "b/mod.rs",
            "/// [`crate::a`]\nconst S: &str = \"crate::a::x\";\nconst R: &str = r#\"crate::a\"#;\n\
             fn l<'a>(c: char) -> bool { c == '{' }\n\
             #[cfg(test)]\nmod tests { use crate::a::x; fn f() { if true { } } }\n\
             #[cfg(test)]\nmod more;\npub struct Y;\n",
        ),
        ("b/more.rs", "use crate::a::x;\n"),
    ]);
    let e = edges(&files);
    let top: Vec<_> = e[&Vec::new()]
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(top, [("a", "b")]);
    assert!(cycles(&e).is_empty());
}
