//! One WebSocket client, from its snapshot to its close: updates in order, a ping keep-alive,
//! and the rules that keep one client from costing the others anything: a client more than the
//! backlog behind, or one whose writes stall past the send timeout, is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::subscription::Subscription;
use crate::context::Ctx;
use crate::live::feed::Outgoing;

pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Frames written per flush when updates queue up (one write for a commit's burst).
const MAX_FRAMES_PER_FLUSH: usize = 64;
/// How long a close frame may take to go out before the connection is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the server ended a session (the `reason` label of `b2_ws_closed_by_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    ClientClosed,
    Slow,
    SendTimeout,
    NoPong,
    Shutdown,
    Error,
}

/// Refuses a session whose parameters were bad: close code 1008 with the reason.
pub(crate) async fn refuse(ctx: &Ctx, mut socket: Socket, reason: String) {
    ctx.metrics.ws_closed("refused");
    close(&mut socket, CloseCode::Policy, &reason).await;
}

pub(crate) async fn run(
    ctx: Arc<Ctx>,
    mut socket: Socket,
    subscription: Subscription,
    permit: OwnedSemaphorePermit,
) {
    let gauge = ctx.metrics.ws_clients(subscription.channel.path());
    gauge.inc();
    let (snapshot, mut updates) = ctx
        .feed
        .subscribe(|state| subscription.snapshot(state, chrono::Utc::now()));
    let ending = serve(&ctx, &mut socket, &subscription, snapshot, &mut updates).await;
    match ending {
        Ending::ClientClosed | Ending::Error => {}
        Ending::Slow => {
            ctx.metrics.ws_closed("slow");
            let reason = format!(
                "client too slow: more than {} updates behind",
                ctx.config.ws_backlog
            );
            close(&mut socket, CloseCode::Again, &reason).await;
        }
        Ending::SendTimeout => {
            // Its socket is full: a close frame would not get through either.
            ctx.metrics.ws_closed("send_timeout");
        }
        Ending::NoPong => {
            ctx.metrics.ws_closed("no_pong");
            close(&mut socket, CloseCode::Away, "no pong received").await;
        }
        Ending::Shutdown => {
            ctx.metrics.ws_closed("shutdown");
            close(&mut socket, CloseCode::Away, "server shutting down").await;
        }
    }
    log::debug!(
        "ws_session_ended channel={} ending={ending:?}",
        subscription.channel.path()
    );
    gauge.dec();
    drop(permit);
}

async fn serve(
    ctx: &Ctx,
    socket: &mut Socket,
    subscription: &Subscription,
    snapshot: Utf8Bytes,
    updates: &mut broadcast::Receiver<Arc<Outgoing>>,
) -> Ending {
    let send_timeout = ctx.config.ws_send_timeout;
    let mut shutdown = ctx.shutdown.clone();
    if *shutdown.borrow_and_update() {
        return Ending::Shutdown;
    }
    match tokio::time::timeout(send_timeout, socket.send(Message::Text(snapshot))).await {
        Ok(Ok(())) => ctx.metrics.ws_messages.inc(),
        Ok(Err(_)) => return Ending::Error,
        Err(_) => return Ending::SendTimeout,
    };
    let mut ping = tokio::time::interval(ctx.config.ws_ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ending::Shutdown;
                }
            }
            incoming = socket.next() => match incoming {
                // Pings are answered by the protocol layer on the next write or flush.
                Some(Ok(Message::Ping(_))) => {
                    if socket.flush().await.is_err() {
                        return Ending::Error;
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Ending::ClientClosed,
                Some(Ok(_)) => awaiting_pong = false,
                Some(Err(e)) => {
                    log::debug!("ws_read_failed error={e}");
                    return Ending::Error;
                }
            },
            update = updates.recv() => {
                let first = match update {
                    Ok(update) => update,
                    Err(RecvError::Lagged(_)) => return Ending::Slow,
                    Err(RecvError::Closed) => return Ending::Shutdown,
                };
                let sent = tokio::time::timeout(
                    send_timeout,
                    send_burst(socket, subscription, &first, updates),
                )
                .await;
                match sent {
                    Ok(Ok(Some(n))) => {
                        if n > 0 {
                            ctx.metrics.ws_messages.inc_by(n);
                            ctx.metrics
                                .ws_delivery
                                .observe(first.published.elapsed().as_secs_f64());
                        }
                    }
                    Ok(Ok(None)) => return Ending::Slow,
                    Ok(Err(_)) => return Ending::Error,
                    Err(_) => return Ending::SendTimeout,
                }
            }
            _ = ping.tick() => {
                if awaiting_pong {
                    return Ending::NoPong;
                }
                awaiting_pong = true;
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return Ending::Error;
                }
            }
        }
    }
}

/// Writes `first` and whatever else is already waiting (up to a limit) with one flush.
/// `None` when the client turned out to be more than the backlog behind.
async fn send_burst(
    socket: &mut Socket,
    subscription: &Subscription,
    first: &Outgoing,
    updates: &mut broadcast::Receiver<Arc<Outgoing>>,
) -> Result<Option<u64>, tokio_tungstenite::tungstenite::Error> {
    let mut fed = 0u64;
    if let Some(frame) = subscription.frame(first) {
        socket.feed(Message::Text(frame.clone())).await?;
        fed += 1;
    }
    for _ in 1..MAX_FRAMES_PER_FLUSH {
        match updates.try_recv() {
            Ok(next) => {
                if let Some(frame) = subscription.frame(&next) {
                    socket.feed(Message::Text(frame.clone())).await?;
                    fed += 1;
                }
            }
            Err(TryRecvError::Lagged(_)) => return Ok(None),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    if fed > 0 {
        socket.flush().await?;
    }
    Ok(Some(fed))
}

async fn close(socket: &mut Socket, code: CloseCode, reason: &str) {
    // A close reason must fit in a control frame (123 bytes).
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason[..end].to_owned()),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(Some(frame))).await;
}
