//! `keepalive.on-replay`: `keepalive.cadence` over the requests the client sent with
//! `Last-Event-ID` (the resumed streams), where a server that forgets the keepalive on its
//! replay path gets the stream dropped again at the next idle timeout.
//!
//! ```text
//!   client conns ──RequestSent.last_event_id set──▶ keepalive_cadence::evaluate_selected(gap_max)
//! ```

use super::keepalive_cadence::evaluate_selected;
use super::CheckOutcome;
use crate::trace::Trace;
use std::time::Duration;

/// The check id.
pub const ID: &str = "keepalive.on-replay";

/// Evaluates `keepalive.on-replay`: the largest gap on every connection requested with
/// `Last-Event-ID` is at most `gap_max`; unobservable when the client never resumed.
pub fn evaluate(gap_max: Duration, trace: &Trace, end: Duration) -> CheckOutcome {
    evaluate_selected(
        ID,
        gap_max,
        trace,
        end,
        |s| s.request_head().is_some_and(|(_, l)| l.is_some()),
        "the client sent no request with Last-Event-ID; nothing to check",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::TraceBuilder;
    use crate::check::Verdict;
    use crate::trace::StreamEnd;

    const END: Duration = Duration::from_secs(300);
    const GAP_MAX: Duration = Duration::from_secs(20);

    /// A GET stream with keepalives dropped by nginx at 50s, resumed after event 2 at 51s.
    fn resumed() -> TraceBuilder {
        TraceBuilder::new()
            .intermediary("nginx", &[("idle-timeout", 60_000)])
            .stream(1, "get", 0)
            .event_id(5_000, 1, "2", "{}")
            .comment(15_003, 1)
            .comment(30_003, 1)
            .comment(45_003, 1)
            .closed_by_intermediary(50_000, 1, "nginx", "max-duration", "")
            .ended(50_000, 1, StreamEnd::Truncated)
            .resume(2, "get", 51_000, "2")
    }

    #[test]
    fn a_replay_without_keepalive_fails_and_the_first_stream_is_not_blamed() {
        let t = resumed()
            .closed_by_intermediary(111_003, 2, "nginx", "idle-timeout", "upstream silent")
            .ended(111_003, 2, StreamEnd::Truncated)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Fail, "{}", o.message);
        assert!(
            o.message
                .starts_with("conn#2 (stream get): largest gap 60s"),
            "{}",
            o.message
        );
        assert!(
            o.message.ends_with("crosses nginx idle-timeout 60s"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_replay_with_keepalives_passes() {
        let mut b = resumed();
        let mut t = 66_003;
        while t < END.as_millis() as u64 {
            b = b.comment(t, 2);
            t += 15_000;
        }
        let o = evaluate(GAP_MAX, &b.build(), END);
        assert_eq!(o.verdict, Verdict::Pass, "{}", o.message);
    }

    #[test]
    fn resumes_refused_by_the_server_have_no_cadence_to_judge() {
        // Every resume answered 404: no replay stream existed, whatever its gaps.
        let t = TraceBuilder::new()
            .stream(1, "get", 0)
            .event_id(5_000, 1, "2", "{}")
            .ended(50_000, 1, StreamEnd::Truncated)
            .open(51_000, 2, "get")
            .request_with(51_000, 2, "GET", Some("2"))
            .response(51_003, 2, 404)
            .ended(51_003, 2, StreamEnd::Complete)
            .build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable, "{}", o.message);
        assert!(
            o.message
                .starts_with("stream get never carried an event stream"),
            "{}",
            o.message
        );
    }

    #[test]
    fn no_resume_is_unobservable() {
        let t = TraceBuilder::new().stream(1, "get", 0).build();
        let o = evaluate(GAP_MAX, &t, END);
        assert_eq!(o.verdict, Verdict::Unobservable);
    }

    #[test]
    fn the_spec_dispatches_here() {
        let t = resumed().build();
        let spec = crate::check::CheckSpec::KeepaliveOnReplay { gap_max: GAP_MAX };
        let o = spec.evaluate(&t, END);
        assert_eq!(o, evaluate(GAP_MAX, &t, END));
        assert_eq!(o.id, ID);
        assert_eq!(spec.id(), ID);
    }
}
