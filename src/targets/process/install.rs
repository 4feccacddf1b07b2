//! TypeScript SDK versions the repository does not pin, installed on first use.
//!
//! ```text
//!  ts-sdk-server@1.30.0 ──▶ CACHE/npm/sdk-1.30.0/node_modules/@modelcontextprotocol/sdk
//!     missing? npm install --prefix CACHE/npm/.tmp-PID-1.30.0 @modelcontextprotocol/sdk@1.30.0
//!              (the exact version), then renamed into place: another middlebox installing
//!              the same version at once loses the rename race harmlessly
//!  ts-sdk-server@file:DIR ──▶ DIR itself (a checkout, built: DIR/dist/esm)
//! ```
//!
//! CACHE is `$MIDDLEBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/middlebox`, else
//! `$HOME/.cache/middlebox`. The install runs before the run's clock starts (when the target
//! is built), once per version; later runs find it in place.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The npm package the `ts-sdk-server` targets run.
pub const SDK_PACKAGE: &str = "@modelcontextprotocol/sdk";

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

/// Whether `v` is an exact version (`1.30.0`, `1.31.0-beta.1`): what the cache is keyed by.
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

/// `(major, minor, patch)` of an exact version.
pub fn triple(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split('-').next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// The installed package folder of SDK `version`, installing it first if needed.
pub fn sdk(version: &str) -> Result<PathBuf, String> {
    let root = cache_dir()?.join("npm");
    let dir = root.join(format!("sdk-{version}"));
    let package = dir.join("node_modules").join(SDK_PACKAGE);
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if installed_version(&package).as_deref() == Some(version) {
        return Ok(package);
    }
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let tmp = root.join(format!(".tmp-{}-{version}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let spec = format!("{SDK_PACKAGE}@{version}");
    let out = Command::new("npm")
        .args(["install", "--prefix"])
        .arg(&tmp)
        .args([
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--loglevel=error",
            &spec,
        ])
        .output()
        .map_err(|e| {
            format!("installing {spec}: npm could not start ({e}); expected node and npm on PATH")
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let err = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = err.lines().rev().take(6).collect();
        return Err(format!(
            "installing {spec} into {} failed ({}): {}; expected a published version and a reachable npm registry",
            dir.display(),
            out.status,
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let got = installed_version(&tmp.join("node_modules").join(SDK_PACKAGE));
    if got.as_deref() != Some(version) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!(
            "installing {spec}: npm installed {}, not {version}",
            got.unwrap_or_else(|| "nothing".into())
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        // Another middlebox put the same version in place first: use it.
        let _ = std::fs::remove_dir_all(&tmp);
        if installed_version(&package).as_deref() != Some(version) {
            return Err(format!("installing {spec}: {}: {e}", dir.display()));
        }
    }
    Ok(package)
}

/// A local checkout or build of the SDK (`file:DIR`): DIR, once it has its ESM build.
pub fn checkout(dir: &str) -> Result<PathBuf, String> {
    let path = std::fs::canonicalize(dir)
        .map_err(|e| format!("{dir}: {e}; expected the folder of a checkout of {SDK_PACKAGE}"))?;
    if !path.join("dist/esm/server/streamableHttp.js").is_file() {
        return Err(format!(
            "{} has no dist/esm/server/streamableHttp.js; expected a built checkout of {SDK_PACKAGE} (run `npm ci && npm run build` in it)",
            path.display()
        ));
    }
    Ok(path)
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
    }
}
