//! The plain SSE path (any path but `/mcp`): one stream task per response, with its own
//! keepalive timer, the scheduled `[[server.event]]`s, and `end-after`.

use super::*;

/// What the stream task does next.
pub(super) enum Due {
    Keepalive,
    Event(usize),
    End,
}

/// A plain SSE stream: keepalives, the scheduled `[[server.event]]`s, and `end-after`.
pub(super) async fn stream_task(
    mut out: SseOut,
    cfg: Rc<ServerConfig>,
    timer: Option<(u32, Duration)>,
) {
    let start = now();
    let mut keepalive = timer
        .map(|(id, every)| Keepalive::arm(id, every, cfg.keepalive_frame.clone(), &out, start));
    let mut next_event = cfg.events.iter().position(|e| e.at >= start);
    let end_at = cfg.end_after.as_ref().map(|e| start + e.after);
    loop {
        let mut due: Option<(Duration, Due)> = None;
        let mut consider = |at: Option<Duration>, what: Due| {
            if let Some(at) = at {
                if due.as_ref().is_none_or(|(t, _)| at < *t) {
                    due = Some((at, what));
                }
            }
        };
        // Order of consideration breaks ties: end, then events, then keepalive.
        consider(end_at, Due::End);
        consider(
            next_event.map(|i| cfg.events[i].at),
            Due::Event(next_event.unwrap_or(0)),
        );
        consider(keepalive.as_ref().and_then(Keepalive::due), Due::Keepalive);
        let Some((at, what)) = due else {
            // Nothing left to write: hold the stream open until the client goes away.
            std::future::pending::<()>().await;
            return;
        };
        tokio::time::sleep(at.saturating_sub(now())).await;
        let written = match what {
            Due::End => {
                out.end();
                if let Some(k) = &keepalive {
                    k.handle().clear();
                }
                return; // dropping `out` ends the body
            }
            Due::Event(i) => {
                let e = &cfg.events[i];
                next_event = (i + 1 < cfg.events.len()).then_some(i + 1);
                let frame = Frame::Event {
                    name: e.event.clone(),
                    id: e.id.clone(),
                    data: e.data.clone(),
                };
                out.write(frame, None).await
            }
            Due::Keepalive => {
                let k = keepalive.as_mut().expect("keepalive due only with a timer");
                let (frame, id) = k.fire();
                out.write(frame, Some(id)).await
            }
        };
        if written == Err(WriteError::Closed) {
            if let Some(k) = &keepalive {
                k.handle().clear();
            }
            return;
        }
    }
}
