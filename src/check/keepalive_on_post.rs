//! `keepalive.on-post`: `keepalive.cadence` over the POST requests the server answered with
//! an event stream (a tool call's progress and result), where a missing keepalive loses the
//! result to the first idle proxy.
//!
//! ```text
//!   client conns ──POST + text/event-stream──▶ keepalive_cadence::evaluate_selected(gap_max)
//! ```

use super::keepalive_cadence::evaluate_selected;
use super::CheckOutcome;
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "keepalive.on-post";

/// Evaluates `keepalive.on-post`: the largest gap on every POST answered with SSE is at most
/// `gap_max`; unobservable when no POST was answered with SSE.
pub fn evaluate(gap_max: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    evaluate_selected(
        ID,
        gap_max,
        trace,
        end,
        |s| s.request_head().is_some_and(|(m, _)| m == "POST") && s.is_event_stream(),
        "the client sent no POST answered with an event stream; nothing to check",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::check::Verdict;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(600);
    const GAP_MAX: Duration = Duration::from_secs(20);

    /// A JSON initialize, then a tool call answered with SSE at 1s.
    fn call() -> TraceBuilder {
        TraceBuilder::new()
            .intermediary("nginx", &[("idle-timeout", 60_000)])
            .post(1, "initialize", 0, "application/json")
            .ended(5, 1, StreamEnd::Complete)
            .post(2, "call", 1_000, "text/event-stream")
    }

    #[test]
    fn a_silent_tool_call_fails_naming_the_proxy_limit() {
        let t = call()
            .closed_by_intermediary(61_003, 2, "nginx", "idle-timeout", "upstream silent")
            .ended(61_003, 2, StreamEnd::Truncated)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert_eq!(o.id, ID);
        assert_eq!(
            o.message,
            "conn#2 (stream call): largest gap 60s (00:00:01.003 → 00:01:01.003) exceeds gap-max 20s; crosses nginx idle-timeout 60s"
        );
        assert_eq!(o.at, Some(Duration::from_millis(61_003)));
    }

    #[test]
    fn a_tool_call_with_keepalives_passes_and_json_posts_are_ignored() {
        let t = call()
            .comment(16_003, 2)
            .comment(31_003, 2)
            .comment(46_003, 2)
            .ended(50_000, 2, StreamEnd::Complete)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
        assert!(o.message.contains("conn#2 (stream call)"), "{}", o.message);
    }

    #[test]
    fn a_get_stream_alone_is_unobservable() {
        let t = TraceBuilder::new()
            .post(1, "initialize", 0, "application/json")
            .stream(2, "get", 1_000)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = call().build();
        let spec = crate::check::CheckSpec::KeepaliveOnPost { gap_max: GAP_MAX };
        let o = spec.evaluate(&t, END);
        assert_eq!(o, evaluate(GAP_MAX, &t, END));
        assert_eq!(o.id, ID);
        assert_eq!(spec.id(), ID);
    }
}
