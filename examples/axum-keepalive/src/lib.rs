//! A small axum service that streams Server-Sent Events: what a maintainer would test with
//! middlebox. `tests/middlebox.rs` is the test they would write.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

/// The app: `GET /sse` sends `hello`, then stays open; `keepalive` is the comment interval
/// (`None`: no keepalive, the bug the test must catch).
pub fn app(keepalive: Option<Duration>) -> Router {
    Router::new().route(
        "/sse",
        get(move || async move {
            let events = futures_util::stream::once(async {
                Ok::<_, Infallible>(Event::default().data("hello"))
            })
            .chain(futures_util::stream::pending());
            let sse = Sse::new(events);
            let resp = match keepalive {
                Some(every) => sse
                    .keep_alive(KeepAlive::new().interval(every))
                    .into_response(),
                None => sse.into_response(),
            };
            // Tell nginx not to buffer the stream.
            ([("x-accel-buffering", "no")], resp)
        }),
    )
}
