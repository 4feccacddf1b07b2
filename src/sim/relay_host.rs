//! The turmoil host of an intermediary: accepts connections, opens one upstream connection
//! per downstream one, and runs a [`Relay`] core over each pair.

use super::net::{self, Stream};
use super::relay::{Action, Relay};
use super::{now, HostEnv, PORT};
use crate::intermediary::{IntermediaryConfig, Side};
use crate::trace::{ConnId, EventKind};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs an intermediary host until the simulation ends.
pub async fn serve(cfg: IntermediaryConfig, next_hop: String, env: HostEnv) -> turmoil::Result {
    let listener = net::bind(&cfg.name, PORT).await?;
    let probe: Vec<_> = cfg.behaviors.iter().map(|b| b.build(0)).collect();
    env.recorder.record(
        &cfg.name,
        None,
        EventKind::IntermediaryStarted {
            preset: cfg.preset.clone(),
            behaviors: probe.iter().map(|b| b.summary()).collect(),
            limits: probe.iter().filter_map(|b| b.limit()).collect(),
        },
    );
    let mut accepted: u64 = 0;
    loop {
        let (stream, peer) = listener.accept().await?;
        accepted += 1;
        let seed = env
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(accepted);
        tokio::task::spawn_local(relay_conn(
            stream,
            peer,
            cfg.clone(),
            next_hop.clone(),
            env.clone(),
            seed,
        ));
    }
}

struct Pipe {
    queue: [VecDeque<(Duration, Vec<u8>)>; 2],
    closing: Option<bool>,
    close_upstream: bool,
}

fn idx(side: Side) -> usize {
    (side == Side::Downstream) as usize
}

async fn relay_conn(
    down: Stream,
    peer: SocketAddr,
    cfg: IntermediaryConfig,
    next_hop: String,
    env: HostEnv,
    seed: u64,
) {
    let host = cfg.name.clone();
    let (mut dr, mut dw) = down.into_split();
    let mut dbuf = vec![0u8; 16 * 1024];
    let first = match dr.read(&mut dbuf).await {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    let conn: Option<ConnId> = env.conns.lookup(peer);
    let record = |kind: EventKind| env.recorder.record(&host, conn, kind);
    let up = match net::connect(&cfg.name, &next_hop, PORT).await {
        Ok(s) => s,
        Err(e) => {
            record(EventKind::IntermediaryResponded {
                status: 502,
                behavior: "upstream-connect".into(),
                reason: format!(
                    "could not connect to {next_hop}: {}",
                    net::describe_error(&e)
                ),
            });
            let _ = dw.write_all(&super::relay::error_response(502)).await;
            return;
        }
    };
    if let (Ok(local), Some(c)) = (up.local_addr(), conn) {
        env.conns.register(local, c);
    }
    let (mut ur, mut uw) = up.into_split();
    let mut ubuf = vec![0u8; 16 * 1024];
    let behaviors = cfg.behaviors.iter().map(|b| b.build(seed)).collect();
    let mut relay = Relay::new(behaviors);
    let mut pipe = Pipe {
        queue: [VecDeque::new(), VecDeque::new()],
        closing: None,
        close_upstream: false,
    };
    let apply = |actions: Vec<Action>, pipe: &mut Pipe| {
        for a in actions {
            match a {
                Action::Record(kind) => record(kind),
                Action::Send { to, bytes, at } => pipe.queue[idx(to)].push_back((at, bytes)),
                Action::Close { graceful, .. } => {
                    if !graceful {
                        pipe.queue[0].clear();
                        pipe.queue[1].clear();
                    }
                    pipe.closing = Some(graceful);
                }
                Action::CloseUpstream => pipe.close_upstream = true,
                Action::Blackhole => {
                    pipe.queue[0].clear();
                    pipe.queue[1].clear();
                }
            }
        }
    };
    apply(relay.opened(now()), &mut pipe);
    apply(relay.on_downstream(now(), &dbuf[..first]), &mut pipe);
    let (mut down_open, mut up_open) = (true, true);
    loop {
        // Write everything that is due, in order, per side.
        let t = now();
        for side in [Side::Upstream, Side::Downstream] {
            while pipe.queue[idx(side)]
                .front()
                .is_some_and(|(at, _)| *at <= t)
            {
                let (_, bytes) = pipe.queue[idx(side)].pop_front().expect("front");
                let w = match side {
                    Side::Upstream => uw.write_all(&bytes).await,
                    Side::Downstream => dw.write_all(&bytes).await,
                };
                if w.is_err() {
                    pipe.queue[idx(side)].clear();
                }
            }
        }
        if pipe.close_upstream {
            return; // dropping both halves of both sockets sends FIN
        }
        if pipe.closing.is_some() && pipe.queue.iter().all(|q| q.is_empty()) {
            return;
        }
        let wake = [
            relay.deadline(),
            pipe.queue[0].front().map(|(at, _)| *at),
            pipe.queue[1].front().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match wake {
                Some(w) => tokio::time::sleep(w.saturating_sub(now())).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased; // fixed branch order: tokio picks a random one otherwise, and ties happen on virtual time
            r = dr.read(&mut dbuf), if down_open => match r {
                Ok(0) | Err(_) => {
                    down_open = false;
                    apply(relay.downstream_eof(now(), r.is_err()), &mut pipe);
                }
                Ok(n) => apply(relay.on_downstream(now(), &dbuf[..n]), &mut pipe),
            },
            r = ur.read(&mut ubuf), if up_open => match r {
                Ok(0) | Err(_) => {
                    up_open = false;
                    apply(relay.upstream_eof(now(), r.is_err()), &mut pipe);
                }
                Ok(n) => apply(relay.on_upstream(now(), &ubuf[..n]), &mut pipe),
            },
            _ = sleep => {
                if relay.deadline().is_some_and(|d| d <= now()) {
                    apply(relay.on_deadline(now()), &mut pipe);
                }
            }
        }
    }
}
