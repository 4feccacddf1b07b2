//! SDK versions the repository does not pin, installed on first use; and checkouts.
//!
//! ```text
//!  ts-sdk-server@1.30.0, ts-sdk-client@1.30.0
//!     ──▶ CACHE/npm/sdk-1.30.0/node_modules/@modelcontextprotocol/sdk
//!         npm install @modelcontextprotocol/sdk@1.30.0 (the exact version)
//!  ts-server@2.2.0
//!     ──▶ CACHE/npm/server-2.2.0/node_modules/@modelcontextprotocol/{server,node}
//!         npm install @modelcontextprotocol/server@2.2.0 @modelcontextprotocol/node@N
//!         (N: node_for_server, below)
//!  python-sdk-server@2.2.0
//!     ──▶ CACHE/pip/mcp-2.2.0/bin/python (a virtualenv)
//!         pip install mcp==2.2.0 uvicorn==U (U: harness/python/requirements.txt's pin;
//!         pip resolves mcp's own dependencies for that version)
//!
//!  every install: into CACHE/npm|pip/.tmp-PID-KEY, checked (the exact version is what got
//!  installed), then renamed into place: another middlebox installing the same version at
//!  once loses the rename race harmlessly
//!
//!  FAMILY@file:DIR ──▶ DIR itself, no install:
//!     ts-sdk-server, ts-sdk-client: the sdk package folder, built (DIR/dist/esm)
//!     ts-server: a built checkout of the typescript-sdk monorepo
//!                (DIR/packages/server, DIR/packages/middleware/node), or a folder whose
//!                node_modules holds both packages (an npm install of them)
//!     python-sdk-server: a checkout of python-sdk, its source folders put first on the
//!                Python path of the harness's virtualenv (src/ in the 1.x layout,
//!                src/mcp/ and src/mcp-types/ in the 2.x one)
//! ```
//!
//! CACHE is `$MIDDLEBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/middlebox`, else
//! `$HOME/.cache/middlebox`. An install runs before the run's clock starts (when the target
//! is built), once per version; later runs find it in place.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The npm package the `ts-sdk-server` and `ts-sdk-client` targets run.
pub const SDK_PACKAGE: &str = "@modelcontextprotocol/sdk";

/// The npm packages the `ts-server` targets run: the 2.x server and its Node middleware.
pub const SERVER_PACKAGE: &str = "@modelcontextprotocol/server";
pub const NODE_PACKAGE: &str = "@modelcontextprotocol/node";

/// The Python distribution the `python-sdk-server` targets run.
pub const PYTHON_PACKAGE: &str = "mcp";

/// Serializes installs within one middlebox (parallel runs of one target wait for the first).
static INSTALLING: Mutex<()> = Mutex::new(());

/// Where installed versions are kept.
pub fn cache_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("MIDDLEBOX_CACHE_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(d).join("middlebox"));
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".cache/middlebox")),
        None => Err("no cache folder: set MIDDLEBOX_CACHE_DIR (or HOME)".to_string()),
    }
}

/// Whether `v` is an exact npm version (`1.30.0`, `1.31.0-beta.1`): what the cache is keyed
/// by.
pub fn exact_version(v: &str) -> bool {
    let (core, pre) = v.split_once('-').unwrap_or((v, ""));
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Whether `v` is an exact Python release in its canonical form (`2.2.0`, `2.4.0rc1`,
/// `2.4.0.post1`, `2.4.0.dev3`): `X.Y.Z`, then an optional `aN`/`bN`/`rcN`, `.postN`, `.devN`
/// in that order (PEP 440's public versions with three release numbers).
pub fn exact_python_version(v: &str) -> bool {
    /// Strips the leading digits of `s` (at least one).
    fn number(s: &str) -> Option<&str> {
        let n = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        (n > 0).then(|| &s[n..])
    }
    let Some(mut rest) = number(v) else {
        return false;
    };
    for _ in 0..2 {
        match rest.strip_prefix('.').and_then(number) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    // The optional segments, each a tag and a number, in this order.
    for tags in [&["a", "b", "rc"][..], &[".post"], &[".dev"]] {
        if let Some(r) = tags.iter().find_map(|t| rest.strip_prefix(t)) {
            match number(r) {
                Some(r) => rest = r,
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// `(major, minor, patch)` of an exact version (npm's or Python's).
pub fn triple(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.').map(|p| {
        let n = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
        p[..n].parse::<u64>().ok()
    });
    Some((it.next()??, it.next()??, it.next()??))
}

/// Installs into `CACHE/SUB/KEY` once. `ready(dir)` says whether a folder holds the finished
/// install; `fill(tmp)` installs into a fresh temporary folder and checks what it installed,
/// which is then renamed into place.
fn cached(
    sub: &str,
    key: &str,
    ready: impl Fn(&Path) -> bool,
    fill: impl FnOnce(&Path, &Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let root = cache_dir()?.join(sub);
    let dir = root.join(key);
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if ready(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let tmp = root.join(format!(".tmp-{}-{key}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if let Err(e) = fill(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if !ready(&dir) {
        // An unfinished install (an earlier middlebox stopped during its rename).
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        // Another middlebox put the same version in place first: use it.
        let _ = std::fs::remove_dir_all(&tmp);
        if !ready(&dir) {
            return Err(format!("{}: {e}", dir.display()));
        }
    }
    Ok(dir)
}

/// Runs an installer command; on failure, the error names what was being installed (`what`,
/// with its exact version), where (`dir`), the installer's last lines and what is expected.
fn run_installer(mut cmd: Command, what: &str, dir: &Path, expected: &str) -> Result<(), String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| {
        format!("installing {what}: {program} could not start ({e}); expected {program} on PATH")
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "installing {what} into {} failed ({}): {}; expected {expected}",
        dir.display(),
        out.status,
        reason(&String::from_utf8_lossy(&out.stderr))
    ))
}

/// The installer's reason in a few lines: npm's and pip's first error lines, without the
/// stack frames, the error object's fields and the pointers to logs and proxy settings.
fn reason(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| {
            l.strip_prefix("npm error ")
                .or_else(|| l.strip_prefix("npm ERR! "))
                .unwrap_or(l)
        })
        .filter(|l| {
            let t = l.trim();
            !(t.is_empty()
                || l.starts_with(' ')
                || t == "}"
                || t.starts_with("A complete log")
                || t.starts_with("If you are behind a proxy"))
        })
        .take(4)
        .collect();
    lines.join(" | ")
}

/// `npm install --prefix tmp SPECS...` (no lock file, no audit).
fn npm_install(tmp: &Path, specs: &[String], what: &str, dir: &Path) -> Result<(), String> {
    let mut cmd = Command::new("npm");
    cmd.args(["install", "--prefix"]).arg(tmp).args([
        "--no-audit",
        "--no-fund",
        "--no-save",
        "--loglevel=error",
    ]);
    cmd.args(specs);
    run_installer(
        cmd,
        what,
        dir,
        "a published version and a reachable npm registry",
    )
}

/// The installed package folder of SDK `version`, installing it first if needed.
pub fn sdk(version: &str) -> Result<PathBuf, String> {
    let package = |d: &Path| d.join("node_modules").join(SDK_PACKAGE);
    let spec = format!("{SDK_PACKAGE}@{version}");
    let dir = cached(
        "npm",
        &format!("sdk-{version}"),
        |d| installed_version(&package(d)).as_deref() == Some(version),
        |tmp, dir| {
            npm_install(tmp, std::slice::from_ref(&spec), &spec, dir)?;
            match installed_version(&package(tmp)) {
                Some(v) if v == version => Ok(()),
                got => Err(format!(
                    "installing {spec}: npm installed {}, not {version}",
                    got.unwrap_or_else(|| "nothing".into())
                )),
            }
        },
    )?;
    Ok(package(&dir))
}

/// The installed package folders of the 2.x server `version` and of the
/// `@modelcontextprotocol/node` that goes with it, installing them first if needed.
pub fn ts_server(version: &str) -> Result<(PathBuf, PathBuf), String> {
    let server = |d: &Path| d.join("node_modules").join(SERVER_PACKAGE);
    let node = |d: &Path| d.join("node_modules").join(NODE_PACKAGE);
    let spec = format!("{SERVER_PACKAGE}@{version}");
    let dir = cached(
        "npm",
        &format!("server-{version}"),
        |d| {
            installed_version(&server(d)).as_deref() == Some(version)
                && installed_version(&node(d)).is_some()
        },
        |tmp, dir| {
            let paired = node_for_server(version).map_err(|e| {
                format!(
                    "installing {spec} into {}: choosing the {NODE_PACKAGE} for it: {e}",
                    dir.display()
                )
            })?;
            let specs = [spec.clone(), format!("{NODE_PACKAGE}@{paired}")];
            npm_install(tmp, &specs, &specs.join(" "), dir)?;
            match installed_version(&server(tmp)) {
                Some(v) if v == version => Ok(()),
                got => Err(format!(
                    "installing {spec}: npm installed {}, not {version}",
                    got.unwrap_or_else(|| "nothing".into())
                )),
            }
        },
    )?;
    Ok((server(&dir), node(&dir)))
}

/// The `@modelcontextprotocol/node` version to install with server `version`. The two are
/// not published in lockstep (server 2.4.0 goes with node 2.1.2, whose peer range is
/// `^2.4.0`; node 2.1.0 declares `^2.1.0`): the node version equal to `version` when there is
/// one (the prereleases were published together), else the newest node release whose peer
/// range for the server admits `version`. One `npm view` of the registry.
fn node_for_server(version: &str) -> Result<String, String> {
    let range = format!("{NODE_PACKAGE}@>=0.0.0-0 || {version}");
    let out = Command::new("npm")
        .args(["view", &range, "version", "peerDependencies", "--json"])
        .output()
        .map_err(|e| format!("npm could not start ({e}); expected node and npm on PATH"))?;
    if !out.status.success() {
        return Err(format!(
            "`npm view {range}` failed ({}): {}; expected a reachable npm registry",
            out.status,
            reason(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    pick_node(version, &text).ok_or_else(|| {
        format!("no published {NODE_PACKAGE} declares {SERVER_PACKAGE}@{version} in its peer range; expected a server version some node release supports")
    })
}

/// [`node_for_server`]'s choice among `npm view --json`'s answer (one object, or an array
/// of objects with `version` and `peerDependencies`).
fn pick_node(version: &str, npm_view: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(npm_view.trim()).ok()?;
    let entries = match json {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    let listed: Vec<(String, Option<String>)> = entries
        .iter()
        .filter_map(|e| {
            let v = e.get("version")?.as_str()?.to_string();
            let peer = e
                .get("peerDependencies")
                .and_then(|p| p.get(SERVER_PACKAGE))
                .and_then(|r| r.as_str())
                .map(str::to_string);
            Some((v, peer))
        })
        .collect();
    if listed.iter().any(|(v, _)| v == version) {
        return Some(version.to_string());
    }
    listed
        .into_iter()
        .filter(|(v, peer)| {
            !v.contains('-') && peer.as_deref().is_some_and(|r| caret_admits(r, version))
        })
        .max_by_key(|(v, _)| triple(v))
        .map(|(v, _)| v)
}

/// Whether the npm range `range` admits the release `version`, for ranges made of carets
/// (`^2.1.0`, `^2.1.0 || ^3.0.0`), the only form `@modelcontextprotocol/node` publishes;
/// any other form admits nothing (the node version is then not chosen on a guess). Written
/// here rather than taken from a semver crate: these few lines are all the crate would do
/// for the project, which has no semver dependency.
fn caret_admits(range: &str, version: &str) -> bool {
    let Some(v) = triple(version).filter(|_| !version.contains('-')) else {
        return false;
    };
    range.split("||").any(|part| {
        let Some(low) = part.trim().strip_prefix('^') else {
            return false;
        };
        let Some(l) = triple(low).filter(|_| exact_version(low) && !low.contains('-')) else {
            return false;
        };
        let high = match l {
            (0, 0, p) => (0, 0, p + 1),
            (0, m, _) => (0, m + 1, 0),
            (a, _, _) => (a + 1, 0, 0),
        };
        v >= l && v < high
    })
}

/// A local checkout or build of the 1.x SDK (`file:DIR`): DIR, once it has its ESM build
/// (`dist/esm/FILE`, e.g. `server/streamableHttp.js`).
pub fn checkout(dir: &str, file: &str) -> Result<PathBuf, String> {
    let path = std::fs::canonicalize(dir)
        .map_err(|e| format!("{dir}: {e}; expected the folder of a checkout of {SDK_PACKAGE}"))?;
    if !path.join("dist/esm").join(file).is_file() {
        return Err(format!(
            "{} has no dist/esm/{file}; expected a built checkout of {SDK_PACKAGE} (run `npm ci && npm run build` in it)",
            path.display()
        ));
    }
    Ok(path)
}

/// The server and node package folders of a 2.x checkout (`file:DIR`): a built
/// typescript-sdk monorepo (`packages/server`, `packages/middleware/node`), or a folder whose
/// `node_modules` holds both packages.
pub fn ts_server_checkout(dir: &str) -> Result<(PathBuf, PathBuf), String> {
    let expected = format!("expected a built checkout of the typescript-sdk repository (packages/server and packages/middleware/node with their dist/, after `pnpm install && pnpm build`) or a folder whose node_modules holds {SERVER_PACKAGE} and {NODE_PACKAGE}");
    let path = std::fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}; {expected}"))?;
    let built = |p: &Path| p.join("package.json").is_file() && p.join("dist").is_dir();
    for (server, node) in [
        (
            path.join("packages/server"),
            path.join("packages/middleware/node"),
        ),
        (
            path.join("node_modules").join(SERVER_PACKAGE),
            path.join("node_modules").join(NODE_PACKAGE),
        ),
    ] {
        if built(&server) && built(&node) {
            let real = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
            return Ok((real(server), real(node)));
        }
    }
    Err(format!("{} holds neither; {expected}", path.display()))
}

/// The Python `mcp` 2.x adapter's own dependency pinned in harness/python/requirements.txt
/// (uvicorn serves the SDK's app): `name==version`, or `name` unpinned when the file does
/// not pin it.
fn adapter_requirement(harness: &Path, name: &str) -> String {
    std::fs::read_to_string(harness.join("python/requirements.txt"))
        .ok()
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with("==")))
                .map(str::to_string)
        })
        .unwrap_or_else(|| name.to_string())
}

/// The virtualenv's Python of `mcp` `version`, creating it first if needed: made with
/// `python` (`python -m venv`), then `pip install mcp==VERSION` and the adapter's uvicorn
/// by `python`'s pip (22.3 or later: `--python`); pip resolves the rest of mcp's
/// dependencies for that version.
pub fn python_sdk(version: &str, python: &Path, harness: &Path) -> Result<PathBuf, String> {
    let spec = format!("{PYTHON_PACKAGE}=={version}");
    let dir = cached(
        "pip",
        &format!("mcp-{version}"),
        |d| installed_python_version(d).as_deref() == Some(version),
        |tmp, dir| {
            // No pip of its own (ensurepip takes seconds): `python`'s pip installs into it.
            let mut venv = Command::new(python);
            venv.args(["-m", "venv", "--without-pip"]).arg(tmp);
            run_installer(
                venv,
                &format!("a virtualenv for {spec}"),
                dir,
                &format!("{} to make virtualenvs (python -m venv)", python.display()),
            )?;
            let mut pip = Command::new(python);
            pip.args(["-m", "pip", "--python"])
                .arg(tmp.join("bin/python"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &spec,
                    &adapter_requirement(harness, "uvicorn"),
                ]);
            run_installer(
                pip,
                &spec,
                dir,
                "a published version and a reachable package index (pip's PIP_INDEX_URL)",
            )?;
            match installed_python_version(tmp) {
                Some(v) if v == version => Ok(()),
                got => Err(format!(
                    "installing {spec}: pip installed {}, not {version}",
                    got.unwrap_or_else(|| "nothing".into())
                )),
            }
        },
    )?;
    Ok(dir.join("bin/python"))
}

/// The `mcp` version installed in the virtualenv `venv` (from its `mcp-VERSION.dist-info`).
fn installed_python_version(venv: &Path) -> Option<String> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    let mut found = None;
    for python in lib.flatten() {
        let Ok(entries) = std::fs::read_dir(python.path().join("site-packages")) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = name
                .strip_prefix("mcp-")
                .and_then(|r| r.strip_suffix(".dist-info"))
            {
                found = Some(v.to_string());
            }
        }
    }
    found
}

/// The folders of a python-sdk checkout (`file:DIR`) to put first on the Python path: the
/// ones holding the `mcp` package (`src/` in the 1.x layout, `src/mcp/` in the 2.x
/// workspace) and `mcp_types` (`src/mcp-types/`), or DIR itself when it holds `mcp`.
pub fn python_checkout(dir: &str) -> Result<Vec<PathBuf>, String> {
    let expected = "expected a checkout of github.com/modelcontextprotocol/python-sdk (its src/mcp, or src/mcp/mcp and src/mcp-types/mcp_types) or a folder holding the mcp package";
    let path = std::fs::canonicalize(dir).map_err(|e| format!("{dir}: {e}; {expected}"))?;
    let holds = |d: &Path, package: &str| d.join(package).join("__init__.py").is_file();
    let roots = [
        path.clone(),
        path.join("src"),
        path.join("src/mcp"),
        path.join("src/mcp-types"),
    ];
    let found: Vec<PathBuf> = roots
        .iter()
        .filter(|d| holds(d, "mcp") || holds(d, "mcp_types"))
        .cloned()
        .collect();
    if !found.iter().any(|d| holds(d, "mcp")) {
        return Err(format!("{} has no mcp package; {expected}", path.display()));
    }
    Ok(found)
}

/// The `version` field of the package.json in `package`.
fn installed_version(package: &Path) -> Option<String> {
    let text = std::fs::read_to_string(package.join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("version")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_versions_only() {
        for v in ["1.30.0", "1.31.0-beta.1", "10.0.12"] {
            assert!(exact_version(v), "{v}");
        }
        for v in [
            "1.30",
            "^1.30.0",
            "latest",
            "1.30.x",
            "",
            "1.30.0-be ta",
            "1..0",
        ] {
            assert!(!exact_version(v), "{v}");
        }
        assert_eq!(triple("1.31.0-beta.1"), Some((1, 31, 0)));
        assert_eq!(triple("2.4.0rc1"), Some((2, 4, 0)));
    }

    #[test]
    fn exact_python_versions_only() {
        for v in [
            "2.2.0",
            "2.4.0rc1",
            "2.4.0a2",
            "2.4.0.post1",
            "2.4.0b1.dev3",
            "10.0.12",
        ] {
            assert!(exact_python_version(v), "{v}");
        }
        for v in [
            "2.2",
            "~=2.2.0",
            "latest",
            "2.2.*",
            "",
            "2.2.0-beta.1",
            "2.2.0rc",
            "2.2.0.dev",
            "2.2.0.post1a1",
            ">=2.2.0",
            "2..0",
        ] {
            assert!(!exact_python_version(v), "{v}");
        }
    }

    #[test]
    fn the_node_package_is_the_newest_whose_peer_range_admits_the_server() {
        // `npm view "@modelcontextprotocol/node@>=0.0.0-0 || V" version peerDependencies
        // --json` as the registry answered it (December 2026).
        let registry = r#"[
          {"version": "2.0.0", "peerDependencies": {"hono": "^4.11.4", "@modelcontextprotocol/server": "^2.0.0"}},
          {"version": "2.1.0", "peerDependencies": {"hono": "^4.11.4", "@modelcontextprotocol/server": "^2.1.0"}},
          {"version": "2.1.1", "peerDependencies": {"@modelcontextprotocol/server": "^2.3.0"}},
          {"version": "2.1.2", "peerDependencies": {"@modelcontextprotocol/server": "^2.4.0"}}
        ]"#;
        let pick = |v| pick_node(v, registry);
        assert_eq!(pick("2.0.0").as_deref(), Some("2.0.0"));
        assert_eq!(pick("2.2.0").as_deref(), Some("2.1.0"));
        assert_eq!(pick("2.3.1").as_deref(), Some("2.1.1"));
        assert_eq!(pick("2.4.0").as_deref(), Some("2.1.2"));
        assert_eq!(pick("3.0.0"), None);
        assert_eq!(pick("1.9.0"), None);
        // A prerelease goes with the node package of the same version, when published.
        let with_beta = r#"{"version": "2.0.0-beta.3", "peerDependencies": {"@modelcontextprotocol/server": "2.0.0-beta.3"}}"#;
        assert_eq!(
            pick_node("2.0.0-beta.3", with_beta).as_deref(),
            Some("2.0.0-beta.3")
        );
        assert_eq!(pick("2.0.0-beta.3"), None);
        // Only carets are read; anything else admits nothing.
        assert!(caret_admits("^2.0.0 || ^3.0.0", "3.1.0"));
        assert!(caret_admits("^0.2.0", "0.2.5") && !caret_admits("^0.2.0", "0.3.0"));
        assert!(!caret_admits(">=2.0.0", "2.1.0") && !caret_admits("2.x", "2.1.0"));
    }
}
