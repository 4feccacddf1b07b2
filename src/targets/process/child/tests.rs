use super::*;

fn sh(script: &str) -> Child {
    Child::spawn(
        Path::new("/bin/sh"),
        &["-c".to_string(), script.to_string()],
        Path::new("."),
    )
    .expect("sh starts")
}

#[test]
fn a_reply_line_is_parsed_and_an_error_reply_carries_the_reason_and_the_stderr_tail() {
    let mut c = sh(
        r#"read l; echo '{"ok":true,"now_ms":5,"port":4000}'; read l; echo boom >&2; echo '{"ok":false,"error":"unknown impl x"}'; read l"#,
    );
    let s = c
        .request(&Command::Shutdown, Duration::from_secs(5))
        .unwrap();
    assert_eq!((s.now_ms, s.port), (5, Some(4000)));
    let e = c
        .request(&Command::Shutdown, Duration::from_secs(5))
        .unwrap_err();
    assert!(e.contains("refused `shutdown`: unknown impl x"), "{e}");
    assert!(e.contains("\n    boom"), "{e}");
}

#[test]
fn a_silent_adapter_is_a_timeout_and_a_dead_one_says_it_exited() {
    let mut c = sh("read l; sleep 30");
    let e = c
        .request(&Command::Shutdown, Duration::from_millis(300))
        .unwrap_err();
    assert!(e.contains("did not answer `shutdown` within 0 s"), "{e}");
    let mut d = sh("echo 'cannot find module' >&2; exit 3");
    let e = d
        .request(&Command::Shutdown, Duration::from_secs(5))
        .unwrap_err();
    assert!(
        e.contains("exited (exit status: 3)") || e.contains("could not send"),
        "{e}"
    );
    assert!(e.contains("cannot find module"), "{e}");
}

#[test]
fn dropping_a_shell_kills_the_commands_it_started_too() {
    let c = sh("sleep 31 & sleep 32; wait");
    std::thread::sleep(Duration::from_millis(300));
    let tree = descendants(c.process.id());
    assert_eq!(tree.len(), 2, "{tree:?}");
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    for p in tree {
        let alive = std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "process {p} outlived its shell");
    }
}

#[test]
fn an_endless_output_line_costs_a_bounded_tail() {
    let mut c = Child::spawn_exec(
        "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo last >&2",
        &[],
    )
    .expect("sh starts");
    for _ in 0..100 {
        if c.exited().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let t = c.tail();
    assert_eq!(
        t.len(),
        2,
        "{:?}",
        t.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    let long = t
        .iter()
        .find(|l| l.starts_with('x'))
        .expect("the long line");
    assert_eq!(long.len(), TAIL_LINE_MAX + '…'.len_utf8());
    assert!(long.ends_with('…'));
    assert!(t.contains(&"last".to_string()), "{t:?}");
}

#[test]
fn dropping_the_child_kills_and_reaps_it() {
    let c = sh("sleep 30");
    let pid = c.process.id();
    drop(c);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still exists"
    );
}
