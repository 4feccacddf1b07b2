use middlebox::intermediary::IntermediaryConfig;
use middlebox::scenario::*;
use std::time::Duration;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(0);
    let mins: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let sc = Scenario {
        path: "smoke".into(),
        description: "smoke".into(),
        cites: None,
        protocol: vec![],
        seed: Some(1),
        duration: Duration::from_secs(60 * mins),
        tick: Duration::from_millis(1),
        intermediaries: (0..n)
            .map(|i| IntermediaryConfig {
                name: format!("proxy{}", i + 1),
                preset: None,
                behaviors: vec![],
            })
            .collect(),
        server: ServerConfig {
            events: vec![ServerEvent {
                at: Duration::from_secs(20),
                event: Some("update".into()),
                id: Some("1".into()),
                data: "hello".into(),
            }],
            ..Default::default()
        },
        client: ClientConfig {
            steps: vec![ClientStep {
                at: Duration::from_secs(1),
                action: ClientAction::OpenStream {
                    stream: "main".into(),
                    path: "/sse".into(),
                },
            }],
        },
        faults: vec![],
        expects: vec![],
        expect_fail: Default::default(),
    };
    let t = middlebox::target::get("reference").unwrap();
    let start = std::time::Instant::now();
    let out = middlebox::sim::run(&sc, t.server(&sc.server), t.client(), 1);
    let el = start.elapsed();
    print!("{}", middlebox::trace::render_text(&out.trace));
    eprintln!("error: {:?}; wall {:?}", out.error, el);
}
