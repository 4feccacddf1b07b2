//! Real implementations in other languages, as server targets on virtual time.
//!
//! ```text
//!  target "ts-sdk-server@1.32.2" ──▶ Implementation (runtime, impl, version)
//!        │ build(cfg)                     options: keepalive, event store (from [server])
//!        ▼
//!  ProcessTarget::serve ──▶ bridge::serve: spawns the adapter (child.rs), speaks the
//!                           clock-control protocol (protocol.rs) and bridges bytes between
//!                           the simulated network and the adapter's loopback socket,
//!                           reading them as HTTP (wire.rs) to record what the server did
//! ```
//!
//! Adapters live in `harness/node/` and `harness/python/` and are installed by
//! `harness/setup`; [`adapter_check`] drives any adapter (ours, or one in another language)
//! through the protocol and says which rule it breaks. A target whose adapter is not installed fails its runs with the command
//! that installs it.

pub mod adapter_check;
pub(crate) mod bridge;
pub(crate) mod child;
pub(crate) mod client_bridge;
pub(crate) mod exec;
pub(crate) mod install;
pub(crate) mod protocol;
pub(crate) mod wire;

use crate::scenario::ServerConfig;
use crate::sim::{ClientEnv, ClientTarget, HostFuture, ServerEnv, ServerTarget};
use bridge::Launch;
use protocol::Options;
use std::path::PathBuf;
use std::rc::Rc;

/// The language runtime an adapter runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Node.js (the adapter in `harness/node`).
    Node,
    /// Python (the adapter in `harness/python`).
    Python,
}

/// A real implementation a target runs.
#[derive(Clone, Copy, Debug)]
pub struct Implementation {
    /// The target name: `impl@version`.
    pub target: &'static str,
    /// `impl` in the protocol's start command.
    pub name: &'static str,
    /// The package version the adapter pins.
    pub version: &'static str,
    /// The runtime its adapter runs on.
    pub runtime: Runtime,
    /// Whether the implementation has a keepalive setting (1.29.0 has none: a scenario's
    /// `keepalive` does not apply to it).
    pub keepalive_option: bool,
    /// A client implementation (its adapter plays the client role).
    pub client: bool,
}

/// Every implementation with an adapter, in the order `middlebox targets` lists them.
pub const IMPLEMENTATIONS: &[Implementation] = &[
    Implementation {
        target: "ts-sdk-server@1.32.2",
        name: "ts-sdk-server",
        version: "1.32.2",
        runtime: Runtime::Node,
        keepalive_option: true,
        client: false,
    },
    Implementation {
        target: "ts-sdk-server@1.29.0",
        name: "ts-sdk-server",
        version: "1.29.0",
        runtime: Runtime::Node,
        keepalive_option: false,
        client: false,
    },
    Implementation {
        target: "ts-server@2.4.0",
        name: "ts-server",
        version: "2.4.0",
        runtime: Runtime::Node,
        keepalive_option: true,
        client: false,
    },
    Implementation {
        target: "python-sdk-server@2.3.0",
        name: "python-sdk-server",
        version: "2.3.0",
        runtime: Runtime::Python,
        keepalive_option: true,
        client: false,
    },
    Implementation {
        target: "ts-sdk-client@1.32.2",
        name: "ts-sdk-client",
        version: "1.32.2",
        runtime: Runtime::Node,
        keepalive_option: false,
        client: true,
    },
    Implementation {
        target: "ts-client@2.4.0",
        name: "ts-client",
        version: "2.4.0",
        runtime: Runtime::Node,
        keepalive_option: false,
        client: true,
    },
    Implementation {
        target: "python-sdk-client@2.3.0",
        name: "python-sdk-client",
        version: "2.3.0",
        runtime: Runtime::Python,
        keepalive_option: false,
        client: true,
    },
];

/// The folder holding the adapters: `$MIDDLEBOX_HARNESS_DIR`, else this checkout's
/// `harness/`.
pub fn harness_dir() -> PathBuf {
    match std::env::var_os("MIDDLEBOX_HARNESS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/harness")),
    }
}

/// The implementation options a scenario's `[server]` settings give `imp`: `keepalive` only
/// when the file sets it and the implementation has the setting (else it keeps its own
/// behaviour), `event-store` as set.
pub fn options(imp: &Implementation, cfg: &ServerConfig) -> Options {
    options_with(imp.keepalive_option, cfg)
}

/// [`options`] for an implementation with (`keepalive_option`) or without a keepalive
/// setting.
fn options_with(keepalive_option: bool, cfg: &ServerConfig) -> Options {
    Options {
        keepalive_ms: (cfg.keepalive_set && keepalive_option)
            .then(|| cfg.keepalive.map_or(0, |d| d.as_millis() as u64)),
        event_store: cfg.event_store,
        test_defect: None,
        // Refused by validation for implementations without the setting (see
        // `crate::targets::Unhonoured`).
        session_idle_timeout_ms: cfg
            .session_idle_timeout_set
            .then(|| cfg.session_idle_timeout.map_or(0, |d| d.as_millis() as u64)),
        ..Options::default()
    }
}

/// How to start `imp`'s adapter, or why it cannot start (not installed).
pub fn launch(imp: &Implementation, cfg: &ServerConfig) -> Result<Launch, String> {
    let dir = harness_dir();
    let setup = "run `harness/setup` (it installs the Node and Python adapters' dependencies)";
    let (program, script) = match imp.runtime {
        Runtime::Node => {
            if !dir.join("node/node_modules").is_dir() {
                return Err(format!(
                    "{}: the Node adapter is not installed ({} has no node_modules); {setup}",
                    imp.target,
                    dir.join("node").display()
                ));
            }
            let script = if imp.client {
                "node/client.mjs"
            } else {
                "node/server.mjs"
            };
            (PathBuf::from("node"), script)
        }
        Runtime::Python => {
            let python = dir.join("python/.venv/bin/python");
            if !python.is_file() {
                return Err(format!(
                    "{}: the Python adapter is not installed ({} is missing); {setup}",
                    imp.target,
                    python.display()
                ));
            }
            let script = if imp.client {
                "python/client.py"
            } else {
                "python/server.py"
            };
            (python, script)
        }
    };
    // Run from the harness folder with a relative script path: messages name
    // `node/server.mjs`, never a checkout's absolute path.
    Ok(Launch {
        program,
        args: vec![script.to_string()],
        dir,
        implementation: imp.name.to_string(),
        version: imp.version.to_string(),
        options: options(imp, cfg),
    })
}

/// The options of a user's own program (`node:`, `python:`): no implementation setting
/// (the program takes none from middlebox), the event store as set (adapters ignore it).
fn program_options(cfg: &ServerConfig) -> Options {
    Options {
        keepalive_ms: None,
        event_store: cfg.event_store,
        test_defect: None,
        session_idle_timeout_ms: None,
        ..Options::default()
    }
}

/// How to start the Node adapter for the user's own program `path` (`--target node:PATH`),
/// or why it cannot start.
pub fn launch_app(path: &str, cfg: &ServerConfig) -> Result<Launch, String> {
    let dir = harness_dir();
    let target = format!("node:{path}");
    if !dir.join("node/node_modules").is_dir() {
        return Err(format!(
            "{target}: the Node adapter is not installed ({} has no node_modules); run `harness/setup`",
            dir.join("node").display()
        ));
    }
    let file = std::fs::canonicalize(path).map_err(|e| {
        format!("{target}: {path}: {e}; expected the path of a Node program (an .mjs, .js or .cjs file)")
    })?;
    if !file.is_file() {
        return Err(format!(
            "{target}: {path} is not a file; expected the path of a Node program (an .mjs, .js or .cjs file)"
        ));
    }
    Ok(Launch {
        program: PathBuf::from("node"),
        args: vec!["node/app.mjs".to_string()],
        dir,
        implementation: "node-app".to_string(),
        version: "0".to_string(),
        options: Options {
            app: Some(file.display().to_string()),
            ..program_options(cfg)
        },
    })
}

/// The Python a `python:` app runs on: `$MIDDLEBOX_PYTHON`, else the active virtualenv's
/// (`$VIRTUAL_ENV/bin/python`), else `python3` from `PATH`.
pub fn app_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MIDDLEBOX_PYTHON") {
        return PathBuf::from(p);
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        return PathBuf::from(v).join("bin/python");
    }
    PathBuf::from("python3")
}

/// How to start the Python adapter for the user's ASGI app `spec` (`MODULE:APP`,
/// `--target python:MODULE:APP`), or why it cannot start.
pub fn launch_python_app(spec: &str, cfg: &ServerConfig) -> Result<Launch, String> {
    let target = format!("python:{spec}");
    let valid = spec.split(':').count() == 2 && spec.split(':').all(|p| !p.trim().is_empty());
    if !valid {
        return Err(format!(
            "{target}: expected python:MODULE:APP (e.g. python:server:app, MODULE importable from this folder, APP an ASGI app in it)"
        ));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("{target}: the current folder: {e}"))?;
    Ok(Launch {
        program: app_python(),
        args: vec!["python/app.py".to_string()],
        dir: harness_dir(),
        implementation: "python-app".to_string(),
        version: "0".to_string(),
        options: Options {
            app: Some(spec.to_string()),
            app_dir: Some(cwd.display().to_string()),
            ..program_options(cfg)
        },
    })
}

/// Builds the target `python:MODULE:APP`: the user's ASGI app on the virtual-time loop.
pub fn build_python_app(cfg: &ServerConfig, spec: &str) -> Rc<dyn ServerTarget> {
    Rc::new(ProcessTarget {
        launch: launch_python_app(spec, cfg).map(Rc::new),
    })
}

/// The SDK families that also run at a version not pinned here (`FAMILY@VERSION`, installed
/// on first use into the cache: `install.rs`) or from a checkout (`FAMILY@file:DIR`).
pub const ANY_VERSION: &[&str] = &[
    "ts-sdk-server",
    "ts-server",
    "ts-sdk-client",
    "python-sdk-server",
];

/// Whether `version` names one version of `family` (one of [`ANY_VERSION`]): an exact
/// version in its registry's form (npm's `1.30.0`, `1.31.0-beta.1`; Python's `2.2.0`,
/// `2.4.0rc1`), or `file:DIR`. A range or a tag (`latest`, `^1.30.0`) is none.
pub fn version_spec(family: &str, version: &str) -> bool {
    if let Some(dir) = version.strip_prefix("file:") {
        return !dir.trim().is_empty();
    }
    match family {
        "python-sdk-server" => install::exact_python_version(version),
        _ => install::exact_version(version),
    }
}

/// Whether TypeScript SDK `version` (exact, or `file:DIR`) has `keepAliveMs` (1.30.0 and
/// later; a checkout is taken to be recent).
pub fn sdk_has_keepalive(version: &str) -> bool {
    version.starts_with("file:") || install::triple(version).is_some_and(|v| v >= (1, 30, 0))
}

/// The oldest `mcp` the Python adapter runs: it names sessions through
/// `StreamableHTTPSessionManager._admit_session` and sets `session_idle_timeout`, both new in
/// 2.2.0.
pub const PYTHON_SDK_OLDEST: (u64, u64, u64) = (2, 2, 0);

/// The Python a `python-sdk-server@VERSION` virtualenv is made with, and a checkout
/// (`@file:DIR`) runs on: `$MIDDLEBOX_PYTHON`, else the harness's own virtualenv (the one the
/// pinned version runs on, made by `harness/setup`), else `python3` from `PATH`.
fn sdk_python(harness: &std::path::Path) -> PathBuf {
    if let Some(p) = std::env::var_os("MIDDLEBOX_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = harness.join("python/.venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// How to start the adapter of `family@version` (one of [`ANY_VERSION`]) at a version the
/// repository does not pin (installed on first use into the cache: `install.rs`) or a
/// checkout (`file:DIR`); `cfg` is the scenario's `[server]` (ignored for a client).
pub fn launch_version(family: &str, version: &str, cfg: &ServerConfig) -> Result<Launch, String> {
    let target = format!("{family}@{version}");
    let dir = harness_dir();
    let checkout = version.strip_prefix("file:");
    let node_installed = || {
        if dir.join("node/node_modules").is_dir() {
            Ok(())
        } else {
            Err(format!(
                "{target}: the Node adapter is not installed ({} has no node_modules); run `harness/setup`",
                dir.join("node").display()
            ))
        }
    };
    let located = |e: String| format!("{target}: {e}");
    let (program, script, options) = match family {
        "ts-sdk-server" | "ts-sdk-client" => {
            node_installed()?;
            let client = family == "ts-sdk-client";
            let package = match checkout {
                Some(d) if client => install::checkout(d, "client/streamableHttp.js"),
                Some(d) => install::checkout(d, "server/streamableHttp.js"),
                None => install::sdk(version),
            }
            .map_err(located)?;
            let mut opts = if client {
                Options::default()
            } else {
                options_with(sdk_has_keepalive(version), cfg)
            };
            opts.package_dir = Some(package.display().to_string());
            let script = if client {
                "node/client.mjs"
            } else {
                "node/server.mjs"
            };
            (PathBuf::from("node"), script, opts)
        }
        "ts-server" => {
            node_installed()?;
            if checkout.is_none() && install::triple(version).is_some_and(|v| v.0 < 2) {
                return Err(format!(
                    "{target}: ts-server runs the 2.x SDK ({}, published from 2.0.0); expected a 2.x version (1.x is ts-sdk-server@{version})",
                    install::SERVER_PACKAGE
                ));
            }
            let (server, node) = match checkout {
                Some(d) => install::ts_server_checkout(d),
                None => install::ts_server(version),
            }
            .map_err(located)?;
            let mut opts = options_with(true, cfg);
            opts.package_dir = Some(server.display().to_string());
            opts.node_package_dir = Some(node.display().to_string());
            (PathBuf::from("node"), "node/server.mjs", opts)
        }
        "python-sdk-server" => {
            let python = sdk_python(&dir);
            let mut opts = options_with(true, cfg);
            let program = match checkout {
                Some(d) => {
                    opts.python_path = install::python_checkout(d)
                        .map_err(located)?
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    python
                }
                None => {
                    if install::triple(version).is_some_and(|v| v < PYTHON_SDK_OLDEST) {
                        return Err(format!(
                            "{target}: the Python adapter runs mcp 2.2.0 and later (it names sessions through StreamableHTTPSessionManager._admit_session, new in 2.2.0); expected a version from 2.2.0"
                        ));
                    }
                    install::python_sdk(version, &python, &dir).map_err(located)?
                }
            };
            (program, "python/server.py", opts)
        }
        other => {
            return Err(format!(
                "{target}: {other} runs at the pinned versions only"
            ))
        }
    };
    Ok(Launch {
        program,
        args: vec![script.to_string()],
        dir,
        implementation: family.to_string(),
        version: version.to_string(),
        options,
    })
}

/// Builds the server `family@version` for a version the repository does not pin (or
/// `file:DIR`).
pub fn build_version(cfg: &ServerConfig, family: &str, version: &str) -> Rc<dyn ServerTarget> {
    Rc::new(ProcessTarget {
        launch: launch_version(family, version, cfg).map(Rc::new),
    })
}

/// Builds the client `family@version` for a version the repository does not pin (or
/// `file:DIR`).
pub fn build_client_version(family: &str, version: &str) -> Rc<dyn ClientTarget> {
    Rc::new(ProcessClient {
        launch: launch_version(family, version, &ServerConfig::default()).map(Rc::new),
    })
}

/// Builds the target `node:PATH`: the user's own Node program under the clock shim.
pub fn build_app(cfg: &ServerConfig, path: &str) -> Rc<dyn ServerTarget> {
    Rc::new(ProcessTarget {
        launch: launch_app(path, cfg).map(Rc::new),
    })
}

/// A server target running a real implementation through its adapter.
pub struct ProcessTarget {
    launch: Result<Rc<Launch>, String>,
}

impl ServerTarget for ProcessTarget {
    fn serve(&self, env: ServerEnv) -> HostFuture {
        match &self.launch {
            Ok(l) => Box::pin(bridge::serve(env, l.clone())),
            Err(e) => {
                let e = e.clone();
                Box::pin(async move { Err(e.into()) })
            }
        }
    }

    fn clock(&self) -> crate::trace::TargetClock {
        crate::trace::TargetClock::Shim
    }
}

fn implementation(target: &str) -> &'static Implementation {
    IMPLEMENTATIONS
        .iter()
        .find(|i| i.target == target)
        .expect("a registered implementation")
}

/// Builds the target named `target` (one of [`IMPLEMENTATIONS`]) for a scenario's `[server]`.
pub fn build(cfg: &ServerConfig, target: &str) -> Rc<dyn ServerTarget> {
    Rc::new(ProcessTarget {
        launch: launch(implementation(target), cfg).map(Rc::new),
    })
}

/// [`build`] with a test-only defect injected into the implementation's environment (see
/// `Options::test_defect`; the Node adapters know `clear-interval-noop`): for the harness's
/// own tests, which show a check failing on a real implementation for a real reason.
pub fn build_with_defect(cfg: &ServerConfig, target: &str, defect: &str) -> Rc<dyn ServerTarget> {
    let launch = launch(implementation(target), cfg).map(|mut l| {
        l.options.test_defect = Some(defect.to_string());
        Rc::new(l)
    });
    Rc::new(ProcessTarget { launch })
}

/// A client target running a real client implementation through its adapter.
pub struct ProcessClient {
    launch: Result<Rc<Launch>, String>,
}

impl ClientTarget for ProcessClient {
    fn run(&self, env: ClientEnv) -> HostFuture {
        match &self.launch {
            Ok(l) => Box::pin(client_bridge::run(env, l.clone())),
            Err(e) => {
                let e = e.clone();
                Box::pin(async move { Err(e.into()) })
            }
        }
    }

    fn clock(&self) -> crate::trace::TargetClock {
        crate::trace::TargetClock::Shim
    }
}

/// Builds the client target named `target` (a client one of [`IMPLEMENTATIONS`]).
pub fn build_client(target: &str) -> Rc<dyn ClientTarget> {
    Rc::new(ProcessClient {
        launch: launch(implementation(target), &ServerConfig::default()).map(Rc::new),
    })
}
