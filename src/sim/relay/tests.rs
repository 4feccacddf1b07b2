use super::*;
use crate::intermediary::buffering::BufferingConfig;
use crate::intermediary::first_byte_timeout::FirstByteTimeoutConfig;
use crate::intermediary::idle_timeout::IdleTimeoutConfig;
use crate::intermediary::latency::LatencyConfig;
use crate::intermediary::max_duration::MaxDurationConfig;
use crate::intermediary::{BehaviorConfig, BufferingMode, Watch};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

const REQUEST: &[u8] = b"GET /mcp HTTP/1.1\r\nhost: server\r\naccept: text/event-stream\r\n\r\n";
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn relay(configs: &[BehaviorConfig]) -> Relay {
    Relay::new(configs.iter().map(|c| c.build(7)).collect())
}

fn idle(after: Duration, action: CloseAction) -> BehaviorConfig {
    BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
        after,
        watch: Watch::Upstream,
        action,
        after_headers: CloseAction::Fin,
    })
}

fn buffering(mode: BufferingMode, honor: bool) -> BehaviorConfig {
    BehaviorConfig::Buffering(BufferingConfig {
        mode,
        honor_x_accel_buffering: honor,
    })
}

fn first_byte(after: Duration) -> BehaviorConfig {
    BehaviorConfig::FirstByteTimeout(FirstByteTimeoutConfig { after, status: 504 })
}

fn max_duration(after: Duration) -> BehaviorConfig {
    BehaviorConfig::MaxDuration(MaxDurationConfig {
        after,
        action: CloseAction::Fin,
        after_headers: CloseAction::Fin,
    })
}

/// The `Send`s among `actions`: (to, bytes, at).
fn sends(actions: &[Action]) -> Vec<(Side, Vec<u8>, Duration)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, bytes, at } => Some((*to, bytes.clone(), *at)),
            _ => None,
        })
        .collect()
}

/// The recorded events among `actions`.
fn records(actions: &[Action]) -> Vec<EventKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn position(actions: &[Action], pred: impl Fn(&Action) -> bool) -> usize {
    actions
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no such action in {actions:?}"))
}

/// A behavior for tests: logs what it observes, returns scripted decisions and delays.
#[derive(Debug, Default)]
struct Probe {
    seen: Rc<RefCell<Vec<Observation>>>,
    /// Decided at the first `ResponseBody` observation.
    on_body: Option<Decision>,
    /// Delays for successive `delay` calls; zero once used up.
    delays: VecDeque<Duration>,
}

impl Behavior for Probe {
    fn kind(&self) -> &'static str {
        "probe"
    }

    fn summary(&self) -> String {
        "probe".into()
    }

    fn observe(&mut self, _now: Duration, obs: &Observation) -> Option<Decision> {
        self.seen.borrow_mut().push(obs.clone());
        match obs {
            Observation::ResponseBody { .. } => self.on_body.take(),
            _ => None,
        }
    }

    fn delay(&mut self, _from: Side) -> Duration {
        self.delays.pop_front().unwrap_or_default()
    }
}

/// A relay with a probe first, then `configs`; returns the probe's log too.
fn probed(probe: Probe, configs: &[BehaviorConfig]) -> (Relay, Rc<RefCell<Vec<Observation>>>) {
    let seen = probe.seen.clone();
    let mut behaviors: Vec<Box<dyn Behavior>> = vec![Box::new(probe)];
    behaviors.extend(configs.iter().map(|c| c.build(7)));
    (Relay::new(behaviors), seen)
}

fn request_heads(seen: &[Observation]) -> Vec<(String, String)> {
    seen.iter()
        .filter_map(|o| match o {
            Observation::RequestHead { method, path } => Some((method.clone(), path.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn request_head_split_across_chunks_is_forwarded_whole_and_observed_once() {
    let (mut r, seen) = probed(Probe::default(), &[first_byte(secs(10))]);
    r.opened(ms(0));
    assert_eq!(r.deadline(), Some(secs(10)), "armed at Opened");
    let (a, b) = REQUEST.split_at(20);

    let first = r.on_downstream(secs(1), a);
    assert_eq!(sends(&first), vec![(Side::Upstream, a.to_vec(), secs(1))]);
    assert!(request_heads(&seen.borrow()).is_empty());
    assert_eq!(
        r.deadline(),
        Some(secs(10)),
        "a partial head re-arms nothing"
    );

    let second = r.on_downstream(secs(2), b);
    assert_eq!(sends(&second), vec![(Side::Upstream, b.to_vec(), secs(2))]);
    assert_eq!(
        records(&second),
        vec![EventKind::Forwarded {
            direction: Direction::Upstream,
            bytes: b.len(),
            note: None
        }]
    );
    assert_eq!(
        request_heads(&seen.borrow()),
        vec![("GET".to_string(), "/mcp".to_string())]
    );
    assert_eq!(
        r.deadline(),
        Some(secs(12)),
        "re-armed from the request head"
    );

    // More bytes after the head (a body, a pipelined request) are not parsed again.
    r.on_downstream(secs(3), REQUEST);
    assert_eq!(request_heads(&seen.borrow()).len(), 1);
    assert_eq!(r.deadline(), Some(secs(12)));
}

#[test]
fn response_head_split_across_chunks_is_held_until_complete() {
    let mut r = relay(&[]);
    r.opened(ms(0));
    r.on_downstream(ms(1), REQUEST);
    let (a, b) = HEAD.split_at(25);
    let body = b": hi\n\n";

    let first = r.on_upstream(ms(5), a);
    assert!(sends(&first).is_empty(), "{first:?}");
    assert!(records(&first).is_empty(), "{first:?}");

    let mut rest = b.to_vec();
    rest.extend_from_slice(body);
    let second = r.on_upstream(ms(6), &rest);
    assert_eq!(
        second,
        vec![
            Action::Record(EventKind::Forwarded {
                direction: Direction::Downstream,
                bytes: HEAD.len(),
                note: Some("response head, status 200".into()),
            }),
            Action::Send {
                to: Side::Downstream,
                bytes: HEAD.to_vec(),
                at: ms(6),
            },
            Action::Record(EventKind::Forwarded {
                direction: Direction::Downstream,
                bytes: body.len(),
                note: None,
            }),
            Action::Send {
                to: Side::Downstream,
                bytes: body.to_vec(),
                at: ms(6),
            },
        ]
    );

    // After the head, every chunk passes as it comes.
    let third = r.on_upstream(ms(7), b"HTTP/1.1 not a head");
    assert_eq!(
        sends(&third),
        vec![(Side::Downstream, b"HTTP/1.1 not a head".to_vec(), ms(7))]
    );
}

#[test]
fn response_that_is_not_http_is_relayed_blindly() {
    let (mut r, seen) = probed(Probe::default(), &[]);
    r.opened(ms(0));
    let junk = b"\x00\x01 not http at all\r\n\r\n";
    let out = r.on_upstream(ms(2), junk);
    assert_eq!(sends(&out), vec![(Side::Downstream, junk.to_vec(), ms(2))]);
    assert!(!seen
        .borrow()
        .iter()
        .any(|o| matches!(o, Observation::ResponseHead { .. })));
}

/// Parses `bytes` as one complete HTTP response: (status, headers lowercased, body).
fn parse_response(bytes: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("not a complete response head: {other:?}"),
    };
    let hdrs = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).to_ascii_lowercase(),
            )
        })
        .collect();
    (resp.code.unwrap_or(0), hdrs, bytes[n..].to_vec())
}

fn header<'h>(hdrs: &'h [(String, String)], name: &str) -> Option<&'h str> {
    hdrs.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn idle_timeout_before_response_head_answers_a_well_formed_504() {
    let mut r = relay(&[idle(secs(60), CloseAction::Respond(504))]);
    r.opened(ms(0));
    r.on_downstream(ms(1), REQUEST);
    assert_eq!(r.deadline(), Some(secs(60)), "watches upstream only");
    assert!(r.on_deadline(secs(59)).is_empty(), "not due yet");

    let out = r.on_deadline(secs(60));
    assert_eq!(out.len(), 3, "{out:?}");
    match &out[0] {
        Action::Record(EventKind::IntermediaryResponded {
            status,
            behavior,
            reason,
        }) => {
            assert_eq!(*status, 504);
            assert_eq!(behavior, "idle-timeout");
            assert!(reason.contains("idle-timeout 60s"), "{reason}");
        }
        other => panic!("expected IntermediaryResponded, got {other:?}"),
    }
    let Action::Send { to, bytes, at } = &out[1] else {
        panic!("expected a send, got {:?}", out[1]);
    };
    assert_eq!((*to, *at), (Side::Downstream, secs(60)));
    let (status, hdrs, body) = parse_response(bytes);
    assert_eq!(status, 504);
    assert_eq!(
        header(&hdrs, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(!body.is_empty());
    assert_eq!(header(&hdrs, "connection"), Some("close"));
    assert_eq!(
        out[2],
        Action::Close {
            rst: false,
            graceful: true
        }
    );

    assert_eq!(r.deadline(), None);
    assert!(r.on_upstream(secs(61), HEAD).is_empty(), "closed");
}

#[test]
fn idle_timeout_after_response_head_closes_with_fin_and_no_504() {
    let mut r = relay(&[idle(secs(60), CloseAction::Respond(504))]);
    r.opened(ms(0));
    r.on_downstream(ms(1), REQUEST);
    r.on_upstream(secs(1), HEAD);
    assert_eq!(r.deadline(), Some(secs(61)));

    let out = r.on_deadline(secs(61));
    assert!(sends(&out).is_empty(), "no 504 after headers: {out:?}");
    assert_eq!(out.len(), 2, "{out:?}");
    match &out[0] {
        Action::Record(EventKind::IntermediaryClosed {
            behavior, action, ..
        }) => {
            assert_eq!(behavior, "idle-timeout");
            assert_eq!(action, "fin");
        }
        other => panic!("expected IntermediaryClosed, got {other:?}"),
    }
    assert_eq!(
        out[1],
        Action::Close {
            rst: false,
            graceful: false
        }
    );
}

#[test]
fn relay_turns_a_late_respond_into_fin_itself() {
    // A behavior that asks for a 504 after the head went downstream gets a FIN instead.
    let probe = Probe {
        on_body: Some(Decision::Close {
            action: CloseAction::Respond(504),
            reason: "probe".into(),
        }),
        ..Probe::default()
    };
    let (mut r, _) = probed(probe, &[]);
    r.opened(ms(0));
    r.on_upstream(ms(1), HEAD);
    let out = r.on_upstream(ms(2), b"data: x\n\n");
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(
        records(&out),
        vec![EventKind::IntermediaryClosed {
            behavior: "probe".into(),
            action: "fin".into(),
            reason: "probe".into(),
        }]
    );
    assert_eq!(
        out.last(),
        Some(&Action::Close {
            rst: false,
            graceful: false
        })
    );
}

#[test]
fn buffering_threshold_holds_then_flushes_everything_in_order() {
    let mut r = relay(&[buffering(BufferingMode::Threshold { bytes: 10 }, false)]);
    r.opened(ms(0));
    r.on_downstream(ms(1), REQUEST);
    let head = r.on_upstream(ms(2), HEAD);
    assert_eq!(sends(&head), vec![(Side::Downstream, HEAD.to_vec(), ms(2))]);

    let held = r.on_upstream(ms(3), b"abcd");
    assert!(sends(&held).is_empty(), "{held:?}");
    assert_eq!(
        records(&held),
        vec![EventKind::Buffered { bytes: 4, held: 4 }]
    );
    let held = r.on_upstream(ms(4), b"efg");
    assert!(sends(&held).is_empty(), "{held:?}");
    assert_eq!(
        records(&held),
        vec![EventKind::Buffered { bytes: 3, held: 7 }]
    );

    // This chunk reaches the threshold: everything held, it included, goes at once.
    let flushed = r.on_upstream(ms(5), b"hijk");
    assert_eq!(
        sends(&flushed),
        vec![(Side::Downstream, b"abcdefghijk".to_vec(), ms(5))],
        "{flushed:?}"
    );
    assert_eq!(
        records(&flushed),
        vec![
            EventKind::Buffered { bytes: 4, held: 11 },
            EventKind::Flushed {
                bytes: 11,
                why: "threshold 10 bytes reached (11 held)".into()
            },
            EventKind::Forwarded {
                direction: Direction::Downstream,
                bytes: 11,
                note: None
            },
        ]
    );

    // Holding starts over from nothing.
    let again = r.on_upstream(ms(6), b"lmn");
    assert!(sends(&again).is_empty(), "{again:?}");
    assert_eq!(
        records(&again),
        vec![EventKind::Buffered { bytes: 3, held: 3 }]
    );
}

fn head_with(extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{extra}\r\n").into_bytes()
}

#[test]
fn x_accel_buffering_no_disables_holding_when_honoured() {
    let threshold = BufferingMode::Threshold { bytes: 4096 };
    let head = head_with("X-Accel-Buffering: no\r\n");

    let mut honoured = relay(&[buffering(threshold.clone(), true)]);
    honoured.opened(ms(0));
    honoured.on_upstream(ms(1), &head);
    let out = honoured.on_upstream(ms(2), b"data: x\n\n");
    assert_eq!(
        sends(&out),
        vec![(Side::Downstream, b"data: x\n\n".to_vec(), ms(2))]
    );
    assert!(!records(&out)
        .iter()
        .any(|k| matches!(k, EventKind::Buffered { .. })));

    let mut ignored = relay(&[buffering(threshold, false)]);
    ignored.opened(ms(0));
    ignored.on_upstream(ms(1), &head);
    let out = ignored.on_upstream(ms(2), b"data: x\n\n");
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(
        records(&out),
        vec![EventKind::Buffered { bytes: 9, held: 9 }]
    );
}

#[test]
fn buffering_full_flushes_held_bytes_before_closing_on_upstream_eof() {
    let mut r = relay(&[buffering(BufferingMode::Full, false)]);
    r.opened(ms(0));
    r.on_upstream(ms(1), HEAD);
    assert!(sends(&r.on_upstream(ms(2), b"abc")).is_empty());
    assert!(sends(&r.on_upstream(ms(3), b"def")).is_empty());

    let out = r.upstream_eof(ms(4), false);
    assert_eq!(
        sends(&out),
        vec![(Side::Downstream, b"abcdef".to_vec(), ms(4))]
    );
    let flushed = position(&out, |a| {
        matches!(a, Action::Record(EventKind::Flushed { bytes: 6, .. }))
    });
    let sent = position(&out, |a| matches!(a, Action::Send { .. }));
    let closed = position(&out, |a| matches!(a, Action::Close { .. }));
    assert!(flushed < sent && sent < closed, "{out:?}");
    assert_eq!(
        out[closed],
        Action::Close {
            rst: false,
            graceful: true
        }
    );
    assert!(records(&out).contains(&EventKind::ConnClosed {
        by: Closer::Server,
        reason: "upstream closed; closing downstream".into()
    }));
    assert_eq!(r.deadline(), None);
    assert!(r.on_upstream(ms(5), b"late").is_empty());
}

#[test]
fn buffering_flush_interval_releases_at_its_deadline() {
    let mut r = relay(&[buffering(
        BufferingMode::FlushInterval { every: ms(100) },
        false,
    )]);
    r.opened(ms(0));
    r.on_upstream(ms(1), HEAD);
    assert_eq!(r.deadline(), None, "nothing held, nothing due");
    assert!(sends(&r.on_upstream(ms(10), b"ab")).is_empty());
    assert!(sends(&r.on_upstream(ms(50), b"cd")).is_empty());
    assert_eq!(r.deadline(), Some(ms(110)));
    assert!(r.on_deadline(ms(109)).is_empty());
    let out = r.on_deadline(ms(110));
    assert_eq!(
        sends(&out),
        vec![(Side::Downstream, b"abcd".to_vec(), ms(110))]
    );
    assert_eq!(r.deadline(), None);
}

#[test]
fn fixed_latency_delays_each_send_and_notes_it() {
    let mut r = relay(&[BehaviorConfig::Latency(LatencyConfig {
        min: ms(5),
        max: ms(5),
    })]);
    r.opened(ms(0));
    let up = r.on_downstream(ms(10), REQUEST);
    assert_eq!(sends(&up), vec![(Side::Upstream, REQUEST.to_vec(), ms(15))]);
    let down = r.on_upstream(ms(20), HEAD);
    assert_eq!(
        sends(&down),
        vec![(Side::Downstream, HEAD.to_vec(), ms(25))]
    );
    assert_eq!(
        records(&down),
        vec![EventKind::Forwarded {
            direction: Direction::Downstream,
            bytes: HEAD.len(),
            note: Some("response head, status 200; delayed 5ms".into()),
        }]
    );
    let body = r.on_upstream(ms(21), b"x");
    assert_eq!(
        sends(&body),
        vec![(Side::Downstream, b"x".to_vec(), ms(26))]
    );
}

#[test]
fn sends_keep_their_order_per_direction_when_delays_shrink() {
    // First chunk delayed 50 ms, later ones 5 ms: the second must not overtake the first.
    let probe = Probe {
        delays: [ms(50), ms(5), ms(5)].into(),
        ..Probe::default()
    };
    let (mut r, _) = probed(probe, &[]);
    r.opened(ms(0));
    let first = r.on_upstream(ms(0), b"not http 1");
    let second = r.on_upstream(ms(1), b"not http 2");
    assert_eq!(sends(&first)[0].2, ms(50));
    assert_eq!(
        sends(&second)[0].2,
        ms(50),
        "clamped to the first's release"
    );
    // The other direction has its own order: not held back by downstream sends.
    let up = r.on_downstream(ms(2), b"x");
    assert_eq!(sends(&up)[0].2, ms(7));
}

#[test]
fn blackhole_stops_all_forwarding() {
    let mut r = relay(&[idle(secs(1), CloseAction::Blackhole)]);
    r.opened(ms(0));
    let out = r.on_deadline(secs(1));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(matches!(
        &out[0],
        Action::Record(EventKind::IntermediaryBlackholed { behavior, .. }) if behavior == "idle-timeout"
    ));
    assert_eq!(out[1], Action::Blackhole);

    assert!(r.on_downstream(secs(2), REQUEST).is_empty());
    assert!(r.on_upstream(secs(3), HEAD).is_empty());
    assert!(r.on_upstream(secs(4), b"data: x\n\n").is_empty());
    assert!(r.upstream_eof(secs(5), false).is_empty());
    assert_eq!(r.deadline(), None);
    // The client leaving still releases the upstream socket.
    assert_eq!(
        r.downstream_eof(secs(6), false).last(),
        Some(&Action::CloseUpstream)
    );
}

#[test]
fn downstream_eof_closes_upstream_and_then_everything_is_ignored() {
    let mut r = relay(&[idle(secs(60), CloseAction::Fin)]);
    r.opened(ms(0));
    r.on_downstream(ms(1), REQUEST);
    r.on_upstream(ms(2), HEAD);
    let out = r.downstream_eof(ms(3), false);
    assert_eq!(
        out,
        vec![
            Action::Record(EventKind::ConnClosed {
                by: Closer::Client,
                reason: "downstream closed; closing upstream".into(),
            }),
            Action::CloseUpstream,
        ]
    );
    assert_eq!(r.deadline(), None);
    assert!(r.on_downstream(ms(4), b"more").is_empty());
    assert!(r.on_upstream(ms(4), b"data: x\n\n").is_empty());
    assert!(r.on_deadline(secs(100)).is_empty());
    assert!(r.upstream_eof(ms(5), false).is_empty());
    assert!(r.downstream_eof(ms(6), true).is_empty(), "closes once");
}

#[test]
fn downstream_reset_is_worded_as_a_reset() {
    let mut r = relay(&[]);
    r.opened(ms(0));
    assert_eq!(
        records(&r.downstream_eof(ms(1), true)),
        vec![EventKind::ConnClosed {
            by: Closer::Client,
            reason: "downstream reset; closing upstream".into(),
        }]
    );
}

#[test]
fn deadline_is_the_earliest_of_the_behaviors() {
    let mut r = relay(&[
        idle(secs(60), CloseAction::Fin),
        max_duration(secs(30)),
        first_byte(secs(10)),
    ]);
    assert_eq!(r.deadline(), None, "nothing armed before Opened");
    r.opened(secs(1));
    assert_eq!(r.deadline(), Some(secs(11)), "first-byte-timeout");
    r.on_downstream(secs(2), REQUEST);
    assert_eq!(r.deadline(), Some(secs(12)), "re-armed by the request");
    r.on_upstream(secs(3), HEAD);
    assert_eq!(
        r.deadline(),
        Some(secs(31)),
        "max-duration once headers came"
    );
    r.downstream_eof(secs(4), false);
    assert_eq!(r.deadline(), None);
}

#[test]
fn only_the_first_due_behavior_acts_when_several_are_due() {
    let mut r = relay(&[max_duration(secs(30)), idle(secs(30), CloseAction::Rst)]);
    r.opened(ms(0));
    let out = r.on_deadline(secs(30));
    let closes: Vec<&Action> = out
        .iter()
        .filter(|a| matches!(a, Action::Close { .. }))
        .collect();
    assert_eq!(
        closes,
        vec![&Action::Close {
            rst: false,
            graceful: false
        }]
    );
    assert!(matches!(
        &records(&out)[..],
        [EventKind::IntermediaryClosed { behavior, .. }] if behavior == "max-duration"
    ));
}

#[test]
fn error_response_is_well_formed_for_every_status() {
    for status in [408, 502, 503, 504, 524, 599] {
        let bytes = error_response(status);
        let (code, hdrs, body) = parse_response(&bytes);
        assert_eq!(code, status);
        assert_eq!(
            header(&hdrs, "content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(header(&hdrs, "connection"), Some("close"));
    }
}
