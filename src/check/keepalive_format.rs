//! `keepalive.format`: a safety check on what keepalives look like at the client.
//!
//! A comment line (`: keepalive`) dispatches nothing and is the only transparent keepalive.
//! A named event with empty data (`event: ping` + `data:`) dispatches to the listeners of
//! that name: it fails. With neither seen (the server sent no keepalive) there is nothing to
//! judge: unobservable.

use super::client_stream::{outcome, select, summarise};
use super::{CheckOutcome, Verdict};
use crate::sse::Frame;
use crate::time::stamp;
use crate::trace::Trace;
use std::collections::BTreeMap;
use std::time::Duration;

/// The check id.
pub const ID: &str = "keepalive.format";

/// Evaluates `keepalive.format` for `stream` (all streams when `None`).
pub fn evaluate(stream: Option<&str>, trace: &Trace, end: Duration) -> CheckOutcome {
    let streams = match select(ID, trace, stream, end) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let mut comments = 0usize;
    let mut last_comment = None;
    for s in &streams {
        // Data-less named events on this stream: name → count, and the first time.
        let mut named: BTreeMap<&str, usize> = BTreeMap::new();
        let mut first = None;
        for (at, _, frames) in s.received() {
            for f in frames {
                match f {
                    Frame::Comment { .. } => {
                        comments += 1;
                        last_comment = Some(last_comment.map_or(at, |l: Duration| l.max(at)));
                    }
                    Frame::Event {
                        name: Some(name),
                        data,
                        ..
                    } if data.is_empty() => {
                        *named.entry(name.as_str()).or_default() += 1;
                        first.get_or_insert(at);
                    }
                    _ => {}
                }
            }
        }
        if let Some(at) = first {
            let total: usize = named.values().sum();
            let which = named
                .iter()
                .map(|(n, c)| format!("{n:?} ×{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let msg = format!(
                "{} received {total} named event{} with empty data ({which}), the first at {}; \
                 named events dispatch to listeners and are not transparent keepalives (send a \
                 comment line such as \": keepalive\" instead)",
                s.label(),
                if total == 1 { "" } else { "s" },
                stamp(at)
            );
            return outcome(ID, Verdict::Fail, Some(at), msg);
        }
    }
    // Polls (`?poll=1`) are short answers, never keepalive carriers: not listed.
    let labels = summarise(
        streams
            .iter()
            .filter(|s| !s.is_poll())
            .map(|s| s.label())
            .collect(),
    );
    match last_comment {
        Some(at) => outcome(
            ID,
            Verdict::Pass,
            Some(at),
            format!(
                "{comments} comment keepalive{} reached the client on {labels}, and no data-less named event",
                if comments == 1 { "" } else { "s" }
            ),
        ),
        None => outcome(
            ID,
            Verdict::Unobservable,
            None,
            format!(
                "no keepalive reached the client on {labels} (no comment, no data-less named event); nothing to judge"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;

    const END: Duration = Duration::from_secs(120);

    #[test]
    fn passes_with_comment_keepalives() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .event(5, 1, None, "{\"jsonrpc\":\"2.0\"}")
            .comment(15_003, 1)
            .comment(30_003, 1)
            .build();
        let o = evaluate(None, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(
            o.message
                .starts_with("2 comment keepalives reached the client on conn#1 (stream main)"),
            "{}",
            o.message
        );
        assert_eq!(o.at, Some(Duration::from_millis(30_003)));
    }

    #[test]
    fn fails_on_named_ping_events() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .event(15_003, 1, Some("ping"), "")
            .comment(20_000, 1)
            .event(30_003, 1, Some("ping"), "")
            .event(45_003, 1, Some("heartbeat"), "")
            .build();
        let o = evaluate(Some("main"), &t, END);
        assert_eq!(o.verdict, Verdict::Fail);
        assert_eq!(o.at, Some(Duration::from_millis(15_003)));
        assert!(o.message.starts_with("conn#1 (stream main) received 3 named events with empty data (\"heartbeat\" ×1, \"ping\" ×2), the first at 00:00:15.003"), "{}", o.message);
        assert!(
            o.message
                .contains("dispatch to listeners and are not transparent keepalives"),
            "{}",
            o.message
        );
    }

    #[test]
    fn named_events_with_data_are_not_keepalives() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .event(15_003, 1, Some("progress"), "42")
            .build();
        let o = evaluate(None, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(o.message.contains("nothing to judge"), "{}", o.message);
    }

    #[test]
    fn a_reopened_stream_fails_on_its_bad_connection() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .comment(15_003, 1)
            .client_closed(20_000, 1)
            .stream(2, "main", 20_000)
            .event(35_003, 2, Some("ping"), "")
            .build();
        let o = evaluate(Some("main"), &t, END);
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(
            o.message
                .starts_with("conn#2 (stream main) received 1 named event with"),
            "{}",
            o.message
        );
    }

    #[test]
    fn missing_and_absent_streams() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .comment(15_003, 1)
            .build();
        let o = evaluate(Some("other"), &t, END);
        assert_eq!(o.verdict, Verdict::Fail);
        let o = evaluate(None, &TraceBuilder::new().build(), END);
        assert_eq!(o.verdict, Verdict::Unobservable);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = TraceBuilder::new()
            .stream(1, "main", 0)
            .comment(15_003, 1)
            .build();
        let spec = crate::check::CheckSpec::KeepaliveFormat { stream: None };
        let o = spec.evaluate(&t, END);
        assert_eq!(o, evaluate(None, &t, END));
        assert_eq!(o.id, spec.id());
    }
}
