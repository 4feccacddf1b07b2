//! Presets: named, sourced configurations of real intermediaries.
//!
//! Every number comes from `INTERMEDIARIES.md` (the project's sourced notes on real
//! middleboxes); each preset's doc comment and its [`Preset::source`] say which row and which
//! upstream document, and say *unverified* where the notes do. A scenario starts from a
//! preset (`preset = "nginx"`) and may override any behavior.
//!
//! | preset | stack |
//! |---|---|
//! | `nginx` | idle 60 s upstream → 504 / fin; buffering threshold 4096 bytes, honours `X-Accel-Buffering: no` |
//! | `ingress-nginx` | idle 60 s upstream → 504 / fin; no buffering |
//! | `caddy` | no buffering, no timeout |
//! | `haproxy` | idle 50 s any → 504 / fin (sample config; HAProxy has no default) |
//! | `envoy` | idle 5 min any → 408 / rst |
//! | `aws-alb` | idle 60 s any → 504 / fin |
//! | `gcp-lb` | max duration 30 s → fin |
//! | `azure-app-gateway` | idle 20 s upstream → fin (*unverified*); full buffering |
//! | `azure-front-door` | idle 30 s upstream → 504 / fin |
//! | `cloudflare` | idle 120 s upstream → 524 / rst |
//! | `cloudflare-workers-edge` | idle 5 min upstream → fin |
//! | `heroku` | first byte 30 s → 503; idle 55 s any → fin |
//! | `squid` | idle 15 min upstream → 504 / fin; max duration 1 day → fin |
//! | `corporate-inspecting` | full buffering; max duration 5 min → rst |

use super::buffering::{BufferingConfig, BufferingMode};
use super::first_byte_timeout::FirstByteTimeoutConfig;
use super::idle_timeout::IdleTimeoutConfig;
use super::max_duration::MaxDurationConfig;
use super::{BehaviorConfig, CloseAction, Watch};
use std::time::Duration;

/// A named configuration of a real intermediary.
#[derive(Clone, Debug)]
pub struct Preset {
    /// Name used in scenario files (`preset = "nginx"`).
    pub name: &'static str,
    /// One line: what it models.
    pub summary: &'static str,
    /// Where the numbers come from (document, section).
    pub source: &'static str,
    /// The behavior stack.
    pub behaviors: Vec<BehaviorConfig>,
}

/// Every preset, in a stable order.
pub fn all() -> Vec<Preset> {
    vec![
        nginx(),
        ingress_nginx(),
        caddy(),
        haproxy(),
        envoy(),
        aws_alb(),
        gcp_lb(),
        azure_app_gateway(),
        azure_front_door(),
        cloudflare(),
        cloudflare_workers_edge(),
        heroku(),
        squid(),
        corporate_inspecting(),
        node_undici(),
    ]
}

/// Every preset name, in the order of [`all`].
pub fn names() -> Vec<&'static str> {
    all().into_iter().map(|p| p.name).collect()
}

/// Looks a preset up by name.
pub fn get(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn idle(
    after: Duration,
    watch: Watch,
    action: CloseAction,
    after_headers: CloseAction,
) -> BehaviorConfig {
    BehaviorConfig::IdleTimeout(IdleTimeoutConfig {
        after,
        watch,
        action,
        after_headers,
    })
}

fn max_duration(
    after: Duration,
    action: CloseAction,
    after_headers: CloseAction,
) -> BehaviorConfig {
    BehaviorConfig::MaxDuration(MaxDurationConfig {
        after,
        action,
        after_headers,
    })
}

fn buffering(mode: BufferingMode, honor_x_accel_buffering: bool) -> BehaviorConfig {
    BehaviorConfig::Buffering(BufferingConfig {
        mode,
        honor_x_accel_buffering,
    })
}

/// nginx as a reverse proxy with its defaults: `proxy_read_timeout 60s` between two reads
/// from the upstream (504 before headers; mid-stream the chunked body is cut short), and
/// `proxy_buffering on`, which holds `text/event-stream` in proxy buffers of one memory page
/// (4096 bytes) unless the response says `X-Accel-Buffering: no`. (`send_timeout 60s`, on
/// writes to a stalled client, is not modelled.) Source: INTERMEDIARIES.md, nginx row (nginx
/// docs, ngx_http_proxy_module).
fn nginx() -> Preset {
    Preset {
        name: "nginx",
        summary: "nginx reverse proxy defaults: proxy_read_timeout 60s, proxy_buffering on",
        source: "INTERMEDIARIES.md, nginx row (nginx docs, ngx_http_proxy_module: proxy_read_timeout, proxy_buffering, X-Accel-Buffering)",
        behaviors: vec![
            idle(secs(60), Watch::Upstream, CloseAction::Respond(504), CloseAction::Fin),
            buffering(BufferingMode::Threshold { bytes: 4096 }, true),
        ],
    }
}

/// ingress-nginx on Kubernetes: `proxy-read-timeout 60` as nginx, but its configmap turns
/// `proxy-buffering` off by default. Source: INTERMEDIARIES.md, ingress-nginx row
/// (ingress-nginx configmap docs).
fn ingress_nginx() -> Preset {
    Preset {
        name: "ingress-nginx",
        summary: "Kubernetes ingress-nginx: proxy-read-timeout 60, proxy-buffering off",
        source: "INTERMEDIARIES.md, ingress-nginx row (ingress-nginx configmap docs: proxy-read-timeout, proxy-buffering)",
        behaviors: vec![
            idle(secs(60), Watch::Upstream, CloseAction::Respond(504), CloseAction::Fin),
            buffering(BufferingMode::None, false),
        ],
    }
}

/// Caddy's `reverse_proxy`: no read timeout by default, and streaming responses are flushed
/// on every write (`flush_interval -1`). The `encode` directive can still buffer (caddy#6293);
/// override `buffering` to model that. Source: INTERMEDIARIES.md, Caddy row (Caddy
/// reverse_proxy docs).
fn caddy() -> Preset {
    Preset {
        name: "caddy",
        summary: "Caddy reverse_proxy defaults: no read timeout, streaming flushed at once",
        source: "INTERMEDIARIES.md, Caddy row (Caddy reverse_proxy docs: flush_interval; caddy#6293 for encode)",
        behaviors: vec![buffering(BufferingMode::None, false)],
    }
}

/// HAProxy: `timeout client` / `timeout server` are each side's inactivity, and HAProxy has
/// no default for them; this preset uses the common sample configuration's 50 s and, as an
/// approximation of two per-side timers, lets bytes either way reset one timer. 504 before
/// headers (log `sH`), abort mid-data (`sD`/`cD`). `timeout tunnel` does not apply to SSE.
/// Source: INTERMEDIARIES.md, HAProxy row (HAProxy configuration.txt).
fn haproxy() -> Preset {
    Preset {
        name: "haproxy",
        summary: "HAProxy with the sample config's timeout client/server 50s (HAProxy has no default)",
        source: "INTERMEDIARIES.md, HAProxy row (HAProxy configuration.txt: timeout client, timeout server); 50s is the common sample configuration, not a built-in default",
        behaviors: vec![idle(secs(50), Watch::Any, CloseAction::Respond(504), CloseAction::Fin)],
    }
}

/// Envoy: `stream_idle_timeout` 5 min, reset by bytes in either direction; 408 before headers
/// (*unverified wording*), a stream reset after. The connection `idle_timeout` (1 h, only with
/// no active stream) and the route `timeout` (15 s, not compatible with streaming) are not
/// modelled. Source: INTERMEDIARIES.md, Envoy row (Envoy timeouts FAQ).
fn envoy() -> Preset {
    Preset {
        name: "envoy",
        summary: "Envoy stream_idle_timeout 5m (either direction)",
        source: "INTERMEDIARIES.md, Envoy row (Envoy timeouts FAQ: stream_idle_timeout); 408 before headers is unverified",
        behaviors: vec![idle(secs(300), Watch::Any, CloseAction::Respond(408), CloseAction::Rst)],
    }
}

/// AWS Application Load Balancer: idle timeout 60 s, reset by data in either direction
/// (HTTP/2 PING frames do not count); 504 if the target never answered, else the connection
/// is closed. Source: INTERMEDIARIES.md, AWS ALB row (ALB load balancer attributes docs).
fn aws_alb() -> Preset {
    Preset {
        name: "aws-alb",
        summary: "AWS ALB idle timeout 60s (data in either direction)",
        source: "INTERMEDIARIES.md, AWS ALB row (ALB load balancer attributes docs: idle_timeout.timeout_seconds)",
        behaviors: vec![idle(secs(60), Watch::Any, CloseAction::Respond(504), CloseAction::Fin)],
    }
}

/// Google Cloud external HTTP(S) load balancer: the backend service timeout (30 s) is the
/// time to return a *complete* response, so a stream is cut at 30 s whatever its keepalives.
/// Source: INTERMEDIARIES.md, GCP row (GCP timeouts and retries docs).
fn gcp_lb() -> Preset {
    Preset {
        name: "gcp-lb",
        summary: "GCP external HTTP(S) LB backend timeout 30s (whole response; keepalives do not help)",
        source: "INTERMEDIARIES.md, GCP external HTTP(S) LB row (GCP timeouts and retries docs: backend service timeout)",
        behaviors: vec![max_duration(secs(30), CloseAction::Fin, CloseAction::Fin)],
    }
}

/// Azure Application Gateway: the backend request time-out must exceed the gap between
/// events (default 20 s, *unverified*), and the response buffer, on by default, must be
/// disabled for SSE; at the limit the connection is terminated. Source: INTERMEDIARIES.md,
/// Azure Application Gateway row (Azure "use server-sent events" docs).
fn azure_app_gateway() -> Preset {
    Preset {
        name: "azure-app-gateway",
        summary: "Azure Application Gateway: backend request time-out 20s (unverified), response buffer on",
        source: "INTERMEDIARIES.md, Azure Application Gateway row (Azure \"use server-sent events\" docs); the 20s default is unverified",
        behaviors: vec![
            idle(secs(20), Watch::Upstream, CloseAction::Fin, CloseAction::Fin),
            buffering(BufferingMode::Full, false),
        ],
    }
}

/// Azure Front Door: origin response timeout 30 s (16–240 s on Standard/Premium), answered
/// with 503/504 `OriginTimeout`; what resets it is not documented, modelled as upstream
/// bytes. Source: INTERMEDIARIES.md, Azure Front Door row (Azure Front Door troubleshooting
/// docs).
fn azure_front_door() -> Preset {
    Preset {
        name: "azure-front-door",
        summary: "Azure Front Door origin response timeout 30s",
        source: "INTERMEDIARIES.md, Azure Front Door row (Azure Front Door troubleshooting docs: OriginTimeout); what resets the timer is undocumented",
        behaviors: vec![idle(secs(30), Watch::Upstream, CloseAction::Respond(504), CloseAction::Fin)],
    }
}

/// Cloudflare proxy: read timeout between two reads from the origin, 120 s per the
/// connection-limits page updated 2026-07 (100 s historically; Enterprise can change it);
/// 524 before headers, an HTTP/2 `INTERNAL_ERROR` reset mid-stream. Source:
/// INTERMEDIARIES.md, Cloudflare row (Cloudflare connection limits docs).
fn cloudflare() -> Preset {
    Preset {
        name: "cloudflare",
        summary: "Cloudflare proxy read timeout 120s (100s before the 2026-07 docs update)",
        source: "INTERMEDIARIES.md, Cloudflare row (Cloudflare connection limits docs, updated 2026-07: proxy read timeout 120s; 100s historically)",
        behaviors: vec![idle(secs(120), Watch::Upstream, CloseAction::Respond(524), CloseAction::Rst)],
    }
}

/// An SSE stream written by a Cloudflare Worker: the edge's idle stream watchdog closes it
/// after about 5 min without bytes written. Source: INTERMEDIARIES.md, Cloudflare Workers
/// edge row (cloudflare/agents#1583).
fn cloudflare_workers_edge() -> Preset {
    Preset {
        name: "cloudflare-workers-edge",
        summary: "Cloudflare Workers edge idle stream watchdog ~5m",
        source: "INTERMEDIARIES.md, Cloudflare Workers edge row (cloudflare/agents#1583); ~5m is reported, not documented",
        behaviors: vec![idle(secs(300), Watch::Upstream, CloseAction::Fin, CloseAction::Fin)],
    }
}

/// Heroku router: 30 s to the first byte (H12, answered 503), then a rolling 55 s window
/// reset by bytes from either side (H15, connection terminated). Source: INTERMEDIARIES.md,
/// Heroku row (Heroku request timeout docs).
fn heroku() -> Preset {
    Preset {
        name: "heroku",
        summary: "Heroku router: 30s to first byte (H12 → 503), then a rolling 55s window (H15)",
        source: "INTERMEDIARIES.md, Heroku router row (Heroku request timeout docs: H12, H15)",
        behaviors: vec![
            BehaviorConfig::FirstByteTimeout(FirstByteTimeoutConfig {
                after: secs(30),
                status: 503,
            }),
            idle(secs(55), Watch::Any, CloseAction::Fin, CloseAction::Fin),
        ],
    }
}

/// Squid: `read_timeout 15 minutes`, extended after each read from the server
/// (`ERR_READ_TIMEOUT`, modelled as 504 before headers), and `client_lifetime 1 day` capping
/// any connection. Source: INTERMEDIARIES.md, Squid row (Squid configuration docs).
fn squid() -> Preset {
    Preset {
        name: "squid",
        summary: "Squid: read_timeout 15 minutes, client_lifetime 1 day",
        source:
            "INTERMEDIARIES.md, Squid row (Squid configuration docs: read_timeout, client_lifetime)",
        behaviors: vec![
            idle(
                secs(15 * 60),
                Watch::Upstream,
                CloseAction::Respond(504),
                CloseAction::Fin,
            ),
            max_duration(secs(24 * 3600), CloseAction::Fin, CloseAction::Fin),
        ],
    }
}

/// An inspecting corporate web gateway (Symantec / Blue Coat): content scanning waits for
/// the entire `text/event-stream` response, so the client never sees an event, and a maximum
/// connection duration of 5–10 min is reported; this preset takes 5 min and resets the
/// connection (log `TCP_NC_MISS_RST`). Source: INTERMEDIARIES.md, inspecting corporate proxy
/// row (Broadcom KB 406021; MP-301g module 3).
fn corporate_inspecting() -> Preset {
    Preset {
        name: "corporate-inspecting",
        summary: "Inspecting corporate proxy: holds the whole response, cuts connections at 5m",
        source: "INTERMEDIARIES.md, inspecting corporate proxy row (Broadcom KB 406021; MP-301g module 3); 5-10 min is reported, 5m chosen",
        behaviors: vec![
            buffering(BufferingMode::Full, false),
            max_duration(secs(5 * 60), CloseAction::Rst, CloseAction::Rst),
        ],
    }
}

/// Node's HTTP client (undici, behind `fetch`) as a client-side limit: `bodyTimeout` 300 s
/// between two body chunks from the server aborts the response (`TypeError: terminated`);
/// `headersTimeout` is also 300 s. Not a middlebox on the wire, but it acts like one, so it is
/// modelled as the first hop of the chain, next to the client. Source: INTERMEDIARIES.md,
/// Node undici row (typescript-sdk#1211; undici `bodyTimeout` / `headersTimeout` defaults).
fn node_undici() -> Preset {
    Preset {
        name: "node-undici",
        summary: "Node fetch (undici) in the client: bodyTimeout 300s between server chunks (`TypeError: terminated`); place it first",
        source: "INTERMEDIARIES.md, Node undici row (typescript-sdk#1211, #270; undici bodyTimeout/headersTimeout default 300 s)",
        behaviors: vec![idle(secs(300), Watch::Upstream, CloseAction::Rst, CloseAction::Rst)],
    }
}

/// The README's presets table (a test keeps the README in step with this).
pub fn markdown_table() -> String {
    let mut out = String::from("| preset | behaviors | models | source |\n|---|---|---|---|\n");
    for p in all() {
        let behaviors: Vec<String> = p.behaviors.iter().map(|b| b.build(0).summary()).collect();
        let behaviors = if behaviors.is_empty() {
            "plain relay".to_string()
        } else {
            behaviors.join("; ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            p.name,
            behaviors.replace('|', "\\|"),
            p.summary.replace('|', "\\|"),
            p.source.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests;
