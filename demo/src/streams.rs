//! The demo's long-lived responses, to show what a drain does with them:
//! `GET /ws`, a WebSocket echo, and `GET /events`, a server-sent events
//! ticker. Both end when the server's shutdown signal fires (the drain
//! begins): the WebSocket with close code 1001 (going away), the stream
//! with a last `shutdown` event. Unless told to ignore it (a test-only
//! flag): then the drain's bound cuts them.

use std::convert::Infallible;
use std::time::Duration;

use futures::Stream;
use micro::Shutdown;
use micro::axum::extract::Query;
use micro::axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use micro::axum::http::StatusCode;
use micro::axum::response::Response;
use micro::axum::response::sse::{Event, Sse};
use micro::axum::{Router, routing::get};

/// Shortest and longest `/events?every=ms`.
const EVERY_MS: std::ops::RangeInclusive<u64> = 10..=60_000;

/// `/events` ticks this often unless asked otherwise.
const DEFAULT_EVERY_MS: u64 = 100;

/// The routes; `heed_shutdown` false makes both ignore the signal.
pub(crate) fn routes(heed_shutdown: bool) -> Router {
    Router::new()
        .route(
            "/ws",
            get(move |upgrade: WebSocketUpgrade, shutdown: Shutdown| async move {
                ws(upgrade, heed_shutdown.then_some(shutdown))
            }),
        )
        .route(
            "/events",
            get(move |query: Query<Every>, shutdown: Shutdown| async move {
                events(&query, heed_shutdown.then_some(shutdown))
            }),
        )
}

fn ws(upgrade: WebSocketUpgrade, shutdown: Option<Shutdown>) -> Response {
    upgrade.on_upgrade(move |socket| echo(socket, shutdown))
}

/// Echoes text and binary messages until the client closes, or the
/// shutdown signal fires: then close 1001 (going away).
async fn echo(mut socket: WebSocket, shutdown: Option<Shutdown>) {
    loop {
        let received = tokio::select! {
            () = requested(shutdown.as_ref()) => {
                let away = CloseFrame { code: close_code::AWAY, reason: "going away".into() };
                if let Err(err) = socket.send(Message::Close(Some(away))).await {
                    tracing::debug!(error = %err, "websocket: cannot send close");
                }
                return;
            }
            received = socket.recv() => received,
        };
        match received {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            // Pings are answered by the socket itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_)) | Err(_)) | None => return,
        }
    }
}

/// Resolves when the signal fires; never without one.
async fn requested(shutdown: Option<&Shutdown>) {
    match shutdown {
        Some(shutdown) => shutdown.requested().await,
        None => std::future::pending().await,
    }
}

/// `/events?every=ms`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Every {
    every: Option<u64>,
}

/// An event `tick` (data: its number) every `every` ms; when the shutdown
/// signal fires, an event `shutdown` and the end of the stream.
fn events(
    query: &Every,
    shutdown: Option<Shutdown>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, (StatusCode, String)> {
    let every = query.every.unwrap_or(DEFAULT_EVERY_MS);
    if !EVERY_MS.contains(&every) {
        let (low, high) = EVERY_MS.into_inner();
        return Err((StatusCode::BAD_REQUEST, format!("every: from {low} to {high} ms\n")));
    }
    let every = Duration::from_millis(every);
    let ticks = futures::stream::unfold((0_u64, Some(shutdown)), move |(n, shutdown)| async move {
        let shutdown = shutdown?;
        tokio::select! {
            () = requested(shutdown.as_ref()) => {
                Some((Ok(Event::default().event("shutdown").data("going away")), (n, None)))
            }
            () = tokio::time::sleep(every) => {
                Some((Ok(Event::default().event("tick").data(n.to_string())), (n + 1, Some(shutdown))))
            }
        }
    });
    Ok(Sse::new(ticks))
}
