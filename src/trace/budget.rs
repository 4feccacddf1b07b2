//! What the trace keeps of an event, and what each event costs the run's byte budget.
//!
//! ```text
//!  record(kind) ──keep──▶ frames' texts and ids cut to TRACE_TEXT_MAX (sse::cut)
//!               ──cost──▶ EVENT_BYTES + the frames and texts kept + the bytes the event
//!                          says moved (received, forwarded, held, or written as frames)
//!  run's total > its Budget ──▶ the recorder stops the run (Recorder::record_at)
//! ```
//!
//! The budget bounds what a run can hold in memory whatever a target writes: the trace (each
//! event's cost covers what it keeps) and every buffer filled by bytes some event reports.
//! Frames keep at most [`TRACE_TEXT_MAX`] of each text, with its full length and digest, so
//! renders stay deterministic and checks compare texts exactly (see [`crate::sse::cut`]).

use super::{ConnId, EventKind};
use crate::sse::cut::{self, TRACE_TEXT_MAX};
use crate::sse::Frame;
use std::time::Duration;

/// What one event costs besides its texts and bytes: about what it takes in memory.
pub const EVENT_BYTES: u64 = 256;

/// How many bytes a run may record, and how that number was reached (for the message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The most the run may record, in bytes of event cost (see [`EVENT_BYTES`]).
    pub bytes: u64,
    /// How `bytes` was reached, in words, e.g. `64 MiB`.
    pub rule: String,
}

/// The base of every run's budget: 64 MiB. The busiest scenario × target pair of the suite
/// records under 2 MiB (6,397 events; `client/corporate-polling`).
pub const BUDGET_BASE: u64 = 64 << 20;
/// Added per client step: legitimate traffic grows with the streams a scenario opens.
pub const BUDGET_PER_STEP: u64 = 1 << 20;
/// Added per virtual hour: and with its duration.
pub const BUDGET_PER_HOUR: u64 = 4 << 20;

impl Budget {
    /// The budget of a run with `steps` client steps lasting `duration`.
    pub fn for_run(steps: usize, duration: Duration) -> Self {
        let bytes = BUDGET_BASE
            + BUDGET_PER_STEP * steps as u64
            + (BUDGET_PER_HOUR as u128 * duration.as_millis() / 3_600_000) as u64;
        Budget {
            bytes,
            rule: format!(
                "64 MiB, +1 MiB per client step ({steps}), +4 MiB per virtual hour ({})",
                crate::time::span(duration)
            ),
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            bytes: BUDGET_BASE,
            rule: "64 MiB".into(),
        }
    }
}

/// `bytes` in words: `65.0 MiB`, `12.3 KiB`, `900 bytes`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// The event as the trace keeps it: every frame text and event id cut to [`TRACE_TEXT_MAX`].
pub(super) fn keep(kind: EventKind) -> EventKind {
    let c = |t: String| match cut::cut(&t, TRACE_TEXT_MAX) {
        std::borrow::Cow::Borrowed(_) => t,
        std::borrow::Cow::Owned(o) => o,
    };
    let id = |t: Option<String>| t.map(c);
    match kind {
        EventKind::Received { bytes, frames } => EventKind::Received {
            bytes,
            frames: frames.into_iter().map(|f| keep_frame(f, &c)).collect(),
        },
        EventKind::FrameWritten { frame, timer } => EventKind::FrameWritten {
            frame: keep_frame(frame, &c),
            timer,
        },
        EventKind::RequestSent {
            method,
            path,
            last_event_id,
        } => EventKind::RequestSent {
            method,
            path,
            last_event_id: id(last_event_id),
        },
        EventKind::MessageDelivered { event_id, message } => EventKind::MessageDelivered {
            event_id: id(event_id),
            message: c(message),
        },
        EventKind::Reconnecting {
            stream,
            attempt,
            after,
            last_event_id,
        } => EventKind::Reconnecting {
            stream,
            attempt,
            after,
            last_event_id: id(last_event_id),
        },
        EventKind::RpcReceived {
            method,
            id,
            session,
        } => EventKind::RpcReceived {
            method: c(method),
            id,
            session,
        },
        k => k,
    }
}

fn keep_frame(f: Frame, c: &impl Fn(String) -> String) -> Frame {
    match f {
        Frame::Comment { text } => Frame::Comment { text: c(text) },
        Frame::Event { name, id, data } => Frame::Event {
            name: name.map(c),
            id: id.map(c),
            data: c(data),
        },
        Frame::IdOnly { id } => Frame::IdOnly { id: c(id) },
        f @ Frame::Retry { .. } => f,
    }
}

/// The texts of a frame.
fn texts(f: &Frame) -> [&str; 3] {
    match f {
        Frame::Comment { text } => [text, "", ""],
        Frame::Event { name, id, data } => [
            name.as_deref().unwrap_or(""),
            id.as_deref().unwrap_or(""),
            data,
        ],
        Frame::IdOnly { id } => [id, "", ""],
        Frame::Retry { .. } => ["", "", ""],
    }
}

/// What a kept event costs the budget: [`EVENT_BYTES`], the frame texts it keeps (and the
/// frames a chunk received holds), and the bytes it reports moving (a frame written counts
/// its full texts).
pub(super) fn cost(kind: &EventKind) -> u64 {
    let kept = |f: &Frame| texts(f).iter().map(|t| t.len() as u64).sum::<u64>();
    let frame = std::mem::size_of::<Frame>() as u64;
    EVENT_BYTES
        + match kind {
            EventKind::Received { bytes, frames } => {
                *bytes as u64 + frames.iter().map(|f| frame + kept(f)).sum::<u64>()
            }
            EventKind::FrameWritten { frame, .. } => {
                kept(frame) + texts(frame).iter().map(|t| cut::full_len(t)).sum::<u64>()
            }
            EventKind::Forwarded { bytes, .. } | EventKind::Buffered { bytes, .. } => *bytes as u64,
            _ => 0,
        }
}

/// Bytes charged per connection (index: conn id + 1; 0 for events of no connection).
#[derive(Default)]
pub(super) struct Spend {
    pub total: u64,
    pub events: u64,
    per_conn: Vec<u64>,
}

impl Spend {
    pub fn charge(&mut self, conn: Option<ConnId>, bytes: u64) {
        self.total += bytes;
        self.events += 1;
        let slot = conn.map_or(0, |c| c.0 as usize + 1);
        if self.per_conn.len() <= slot {
            self.per_conn.resize(slot + 1, 0);
        }
        self.per_conn[slot] += bytes;
    }

    /// The connection charged most, with its share in percent ("no connection" as None).
    pub fn top(&self) -> (Option<ConnId>, u64) {
        let (slot, bytes) = self
            .per_conn
            .iter()
            .enumerate()
            .max_by_key(|(i, b)| (**b, std::cmp::Reverse(*i)))
            .map_or((0, 0), |(i, b)| (i, *b));
        let conn = slot.checked_sub(1).map(|c| ConnId(c as u32));
        (conn, bytes * 100 / self.total.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_at_most_the_trace_limit_and_cost_what_they_moved() {
        let data = "x".repeat(65_000);
        let k = keep(EventKind::FrameWritten {
            frame: Frame::Event {
                name: None,
                id: Some("7".into()),
                data: data.clone(),
            },
            timer: None,
        });
        let EventKind::FrameWritten {
            frame: Frame::Event { data: kept, id, .. },
            ..
        } = &k
        else {
            panic!("{k:?}")
        };
        assert_eq!(id.as_deref(), Some("7"));
        let c = cut::parse(kept).expect("cut");
        assert_eq!((c.kept.len(), c.len), (TRACE_TEXT_MAX, 65_000));
        assert_eq!(cost(&k), EVENT_BYTES + kept.len() as u64 + 1 + 65_000 + 1);
        let small = EventKind::Received {
            bytes: 13,
            frames: vec![Frame::Comment {
                text: " keepalive".into(),
            }],
        };
        assert_eq!(keep(small.clone()), small, "short texts stay as they are");
        let frame = std::mem::size_of::<Frame>() as u64;
        assert_eq!(cost(&small), EVENT_BYTES + 13 + frame + 10);
    }

    #[test]
    fn the_budget_grows_with_steps_and_duration() {
        let b = Budget::for_run(3, Duration::from_secs(1800));
        assert_eq!(b.bytes, (64 << 20) + (3 << 20) + (2 << 20));
        assert!(b.rule.contains("client step (3)"), "{}", b.rule);
        assert_eq!(size(b.bytes), "69.0 MiB");
        let mut s = Spend::default();
        s.charge(Some(ConnId(1)), 300);
        s.charge(None, 100);
        assert_eq!(s.top(), (Some(ConnId(1)), 75));
    }
}
