//! The client defects of the bug models against the fake server, next to the reference's
//! correct behaviour on the same script.

use super::*;
use crate::reference::client as reference_client;

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

/// A primed GET stream (`retry: 3000` on new streams only, as the reference server does)
/// that the server ends cleanly after 2 notifications, three times; notifications every
/// second.
fn clean_ends() -> (Scenario, FakeServer) {
    let fake = FakeServer::new(FakeConfig {
        notify_every: Some(ms(1000)),
        priming: Some(Some(3000)),
        get_plans: vec![Plan::End(2), Plan::End(2), Plan::End(2)],
        ..FakeConfig::default()
    });
    let s = scenario(
        "2025-11-25",
        20_000,
        vec![(0, ClientAction::Initialize), (500, get_stream("get"))],
    );
    (s, fake)
}

/// `(attempt, after)` of each reconnect, and how long after it each next GET was opened.
fn paced(trace: &Trace) -> (Vec<(u32, Duration)>, Vec<Duration>) {
    let events: Vec<&Event> = client(trace).collect();
    let mut waits = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if let EventKind::Reconnecting { .. } = e.kind {
            let opened = events[i..]
                .iter()
                .find(|n| matches!(n.kind, EventKind::ConnOpened { .. }))
                .expect("a connection follows");
            waits.push(opened.at - e.at);
        }
    }
    let announced = reconnects(trace, "get")
        .into_iter()
        .map(|(attempt, after, _)| (attempt, after))
        .collect();
    (announced, waits)
}

#[test]
fn the_reference_waits_the_servers_retry_after_each_clean_end_and_the_fx_model_does_not() {
    let (s, fake) = clean_ends();
    let trace = run_with(&s, &fake, ClientDefects::default());
    let (announced, waits) = paced(&trace);
    assert_eq!(
        announced,
        vec![(1, ms(3000)); 3],
        "the retry persists on the stream"
    );
    assert!(
        waits.iter().all(|w| *w >= ms(3000) && *w <= ms(3005)),
        "{waits:?}"
    );

    let (s, fake) = clean_ends();
    let fx = ClientDefects {
        no_wait_on_clean_close: true,
        ..ClientDefects::default()
    };
    let trace = run_with(&s, &fake, fx);
    let (announced, waits) = paced(&trace);
    // Only the first connection carried `retry`; the resumptions are not primed, so their
    // clean ends are reconnected at once.
    assert_eq!(
        announced,
        vec![(1, ms(3000)), (1, Duration::ZERO), (1, Duration::ZERO)]
    );
    assert!(waits[0] >= ms(3000) && waits[0] <= ms(3005), "{waits:?}");
    assert!(waits[1..].iter().all(|w| *w <= ms(5)), "{waits:?}");
    assert_eq!(get_ids(&fake).len(), 4, "one GET, three reconnections");
}

#[test]
fn the_fx_model_backs_off_as_the_reference_after_a_drop() {
    let (s, fake) = refused_forever();
    let fx = ClientDefects {
        no_wait_on_clean_close: true,
        ..ClientDefects::default()
    };
    let trace = run_with(&s, &fake, fx);
    // A cut, then refusals: no clean end, so the backoff (1 s doubling) holds.
    assert_eq!(
        reconnects(&trace, "get"),
        vec![
            (1, ms(1000), some("1")),
            (2, ms(2000), some("1")),
            (3, ms(3000), some("1"))
        ]
    );
}
