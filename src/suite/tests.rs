use super::*;
use crate::sim::{HostFuture, ServerEnv, ServerTarget};
use crate::targets::Role;
use std::rc::Rc;

struct Panicking;
impl ServerTarget for Panicking {
    fn serve(&self, _env: ServerEnv) -> HostFuture {
        Box::pin(async { panic!("the server under test blew up") })
    }
}

fn panicking() -> TargetInfo {
    TargetInfo {
        name: "test/panicking",
        role: Role::Server,
        summary: "panics at start",
        cites: None,
        bug_model: false,
        scope: crate::targets::Scope::Any,
        realtime: false,
        unhonoured: &[],
        server: Some(std::sync::Arc::new(|_: &crate::scenario::ServerConfig| {
            Rc::new(Panicking) as Rc<dyn ServerTarget>
        })),
        client: None,
    }
}

const SCENARIO: &str = r#"
description = "one stream"
duration = "10s"
[[client.step]]
at = "1s"
do = "open-stream"
[[expect]]
check = "stream.survives"
"#;

#[test]
fn a_panicking_target_is_an_unexpected_result_with_its_message() {
    let s = crate::scenario::parse("mem.toml", SCENARIO).unwrap();
    let r = run_one(&s, &panicking(), Some(9));
    assert!(r.unexpected);
    let e = r.error.expect("an error");
    assert!(e.contains("the server under test blew up"), "{e}");
    assert_eq!(r.seed, 9);
}

#[test]
fn results_come_back_in_input_order_whatever_the_threads() {
    let s = crate::scenario::parse("mem.toml", SCENARIO).unwrap();
    let scenarios = vec![s.clone(), s];
    let targets: Vec<TargetInfo> = crate::targets::all();
    let r = run_all(&scenarios, &targets, None, 2, Engine::default(), &|_| {});
    let order: Vec<&str> = r.iter().map(|r| r.target.as_str()).collect();
    let names: Vec<&str> = targets
        .iter()
        .filter(|t| t.applies_to(&scenarios[0]))
        .map(|t| t.name)
        .collect();
    assert!(
        names.len() < targets.len(),
        "MCP-scoped targets are left out"
    );
    assert!(names.len() >= 2, "{names:?}");
    assert_eq!(order, [names.clone(), names].concat());
    assert!(!r[0].unexpected, "{:?}", r[0].checks);
}

#[test]
fn mcp_scoped_targets_run_only_on_mcp_scenarios() {
    let plain = crate::scenario::parse("plain.toml", SCENARIO).unwrap();
    let mcp = crate::scenario::parse(
            "mcp.toml",
            "description = \"mcp\"\nduration = \"10s\"\n[[client.step]]\nat = \"0s\"\ndo = \"initialize\"\n",
        )
        .unwrap();
    let targets = crate::targets::all();
    let scoped = targets
        .iter()
        .position(|t| t.scope == crate::targets::Scope::Mcp)
        .expect("an MCP-scoped bug model");
    let p = pairs(&[plain, mcp], &targets);
    assert!(!p.contains(&(0, scoped)), "{p:?}");
    assert!(p.contains(&(1, scoped)), "{p:?}");
    assert!(
        p.contains(&(0, 0)) && p.contains(&(1, 0)),
        "the reference runs on both"
    );
    let plain_only = targets
        .iter()
        .position(|t| t.scope == crate::targets::Scope::Plain)
        .expect("a plain-SSE-only target");
    assert!(
        p.contains(&(0, plain_only)) && !p.contains(&(1, plain_only)),
        "{p:?}"
    );
    assert_eq!(
        p.iter().filter(|(s, _)| *s == 1).count(),
        targets.len() - 1,
        "every target but the plain-only one runs on the MCP scenario"
    );
}
