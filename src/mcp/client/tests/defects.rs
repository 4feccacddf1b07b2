//! The client defects of the bug models against the fake server, next to the reference's
//! correct behaviour on the same script.

use super::*;
use crate::target::reference_client;

fn run_with(s: &Scenario, fake: &FakeServer, defects: ClientDefects) -> Trace {
    let out = crate::sim::run(
        s,
        Rc::new(fake.clone()),
        reference_client::build_with(defects),
        1,
    );
    assert_eq!(out.error, None, "simulation failed");
    out.trace
}

/// Notifications every second; the first two GET connections are cut after 2 events each.
fn two_drops() -> (Scenario, FakeServer) {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: vec![cut_after(2), cut_after(2)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-06-18",
        9000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    (s, fake)
}

#[test]
fn the_reference_resumes_from_the_newest_id_and_the_stale_model_from_its_first() {
    let (s, fake) = two_drops();
    run_with(&s, &fake, ClientDefects::default());
    assert_eq!(get_ids(&fake), vec![None, some("2"), some("4")]);

    let (s, fake) = two_drops();
    let stale = ClientDefects {
        stale_last_event_id: true,
        ..ClientDefects::default()
    };
    let trace = run_with(&s, &fake, stale);
    assert_eq!(get_ids(&fake), vec![None, some("2"), some("2")]);
    let announced: Vec<Option<String>> = reconnects(&trace, "get")
        .into_iter()
        .map(|(_, _, id)| id)
        .collect();
    assert_eq!(announced, vec![some("2"), some("2")]);
    // The stale replay re-sends events 3 and 4; the client still delivers each once.
    let got = delivered_ids(&trace);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(got, unique);
}

/// One GET cut after an event, then every reconnect refused; the policy allows 5 attempts.
fn refused_forever() -> (Scenario, FakeServer) {
    let mut plans = vec![cut_after(1)];
    plans.extend(std::iter::repeat_n(Plan::Refuse(503), 10));
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        get_plans: plans,
        ..FakeConfig::default()
    });
    let mut s = scenario(
        "2025-06-18",
        30_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    s.client.reconnect = ReconnectPolicy {
        enabled: true,
        initial: ms(1000),
        max: ms(3000),
        attempts: 5,
    };
    (s, fake)
}

fn gave_up(trace: &Trace) -> Vec<u32> {
    client(trace)
        .filter_map(|e| match &e.kind {
            EventKind::GaveUp { attempts, .. } => Some(*attempts),
            _ => None,
        })
        .collect()
}

#[test]
fn the_reference_switches_to_polling_where_the_model_gives_up_after_2() {
    let (s, fake) = refused_forever();
    let trace = run_with(&s, &fake, ClientDefects::default());
    // The reference never gives the GET stream up here: its third consecutive failed SSE
    // connection switches it to long-polling (MP-301g rule D), before the 5-attempt limit.
    assert_eq!(gave_up(&trace), Vec::<u32>::new());
    assert_eq!(
        super::switches(&trace)
            .iter()
            .map(|s| s.2)
            .collect::<Vec<_>>(),
        vec![3]
    );

    let (s, fake) = refused_forever();
    let two = ClientDefects {
        reconnect_attempts: Some(2),
        ..ClientDefects::default()
    };
    let trace = run_with(&s, &fake, two);
    assert_eq!(gave_up(&trace), vec![2]);
    assert_eq!(get_ids(&fake).len(), 3, "one GET, two reconnections");
    assert_eq!(
        reconnects(&trace, "get"),
        vec![(1, ms(1000), some("1")), (2, ms(2000), some("1"))]
    );
}
