//! `rmcp`: the official Rust MCP SDK's Streamable HTTP server (rmcp 3.9.0,
//! `StreamableHttpService` with its in-memory `LocalSessionManager`), run in-process through
//! [`super::service::tower`].
//!
//! ```text
//!  POST/GET/DELETE /mcp ──▶ StreamableHttpService (rmcp) ──▶ Sessions (s1, s2, … over LocalSessionManager)
//!                                 │                              └─▶ SleepServer (ServerHandler): tool `sleep`,
//!                                 │                                  server.notifications at their times
//!                                 └─ SSE bodies: sse-stream's SseBody + KeepAlive(server.keepalive), frame `:\n\n`
//! ```
//!
//! Configured from the scenario's `[server]`: `keepalive` → `sse_keep_alive`, `retry` →
//! `sse_retry` (service and sessions). `event-store` has no switch in rmcp: the local session
//! manager always keeps each stream's last 16 events for `Last-Event-ID` resumption (an
//! external `EventStore` is optional and not used here). `keepalive-frame` is not
//! configurable through rmcp (always the empty comment).
//!
//! Two things are adapted, through rmcp's public API only:
//! - `allowed_hosts`: rmcp answers only `Host` values in its list (loopback names by
//!   default) with anything but 403; a deployment behind a proxy lists the names clients
//!   reach it by, here the simulation's first hops (every intermediary and `server`).
//! - session ids: rmcp names sessions with `uuid::Uuid::new_v4()` (OS randomness), which
//!   would make traces differ between runs; [`Sessions`] is a `SessionManager` delegating to
//!   `LocalSessionManager` that names them `s1`, `s2`, … instead. (The stream ids rmcp also
//!   draws from uuid only name event-store streams, unused here, and never reach the wire.)
//!
//! Known leak of the real clock: sse-stream's `KeepAliveStream::reset` sets the keepalive
//! deadline to `std::time::Instant::now() + interval`. Under virtual time that deadline is
//! soon in the virtual past, so the keepalive fires again at once, for ever: a flood of
//! `:\n\n` frames at one virtual instant, stopped by the stall guard and diagnosed by
//! `determinism.wall-clock`.

use super::service;
use crate::scenario::{ServerConfig, ServerNotification};
use crate::sim::now;
use crate::sim::{HostFuture, ServerEnv, ServerTarget};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientJsonRpcMessage, ContentBlock,
    CustomNotification, Implementation, JsonObject, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerConfig as McpServerConfig,
    ServerJsonRpcMessage, ServerNotification as McpNotification, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::transport::streamable_http_server::session::local::{
    create_local_session, LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService, WorkerTransport};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The rmcp version this target runs (pinned in Cargo.toml).
pub const RMCP_VERSION: &str = "3.9.0";

/// Which `Host` names the service accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// The simulation's first hops (every intermediary and `server`): how a deployment behind
    /// a proxy configures rmcp.
    Route,
    /// rmcp's default (`localhost`, `127.0.0.1`, `::1`): every simulated host name is refused.
    RmcpDefault,
}

/// The rmcp server target for one scenario's `[server]` settings.
pub struct RmcpTarget {
    cfg: ServerConfig,
    hosts: Hosts,
}

/// Builds the rmcp target for a scenario's `[server]` settings.
pub fn build(cfg: &ServerConfig) -> Rc<dyn ServerTarget> {
    build_with(cfg, Hosts::Route)
}

/// Builds the rmcp target with a chosen `allowed_hosts` policy.
pub fn build_with(cfg: &ServerConfig, hosts: Hosts) -> Rc<dyn ServerTarget> {
    Rc::new(RmcpTarget {
        cfg: cfg.clone(),
        hosts,
    })
}

impl ServerTarget for RmcpTarget {
    fn serve(&self, env: ServerEnv) -> HostFuture {
        let config = StreamableHttpServerConfig::default()
            .with_sse_keep_alive(self.cfg.keepalive)
            .with_sse_retry(self.cfg.retry);
        let config = match self.hosts {
            // A deployer behind a reverse proxy lists the public names clients use; here
            // those are the hop names the client puts in `Host`.
            Hosts::Route => config.with_allowed_hosts(
                env.scenario
                    .intermediaries
                    .iter()
                    .map(|i| i.name.clone())
                    .chain(std::iter::once("server".to_string())),
            ),
            Hosts::RmcpDefault => config,
        };
        let mut local = LocalSessionManager::default();
        local.session_config.sse_retry = self.cfg.retry;
        // rmcp's session `keep_alive`: a session with no activity for that long ends (rmcp's
        // default, 5 min, unless the scenario sets one).
        if self.cfg.session_idle_timeout_set {
            local.session_config.keep_alive = self.cfg.session_idle_timeout;
        }
        // One manager per server start: session names restart at s1 after a restart, as the
        // reference server's do.
        let sessions = Arc::new(Sessions {
            local,
            created: AtomicU64::new(0),
        });
        let handler = SleepServer {
            notifications: Arc::new(self.cfg.notifications.clone()),
        };
        let svc = StreamableHttpService::new(move || Ok(handler.clone()), sessions, config);
        service::tower(move || svc.clone()).serve(env)
    }
}

/// A `SessionManager` that is rmcp's `LocalSessionManager` with sessions named `s1`, `s2`, …
/// (in creation order) instead of random uuids.
pub struct Sessions {
    local: LocalSessionManager,
    created: AtomicU64,
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let n = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        let id: SessionId = format!("s{n}").into();
        let (handle, worker) = create_local_session(id.clone(), self.local.session_config.clone());
        self.local.sessions.write().await.insert(id.clone(), handle);
        Ok((id, WorkerTransport::spawn(worker)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<
        impl futures_util::Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        Self::Error,
    > {
        self.local.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<
        impl futures_util::Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        Self::Error,
    > {
        self.local.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<
        impl futures_util::Stream<Item = ServerSseMessage> + Send + Sync + 'static,
        Self::Error,
    > {
        self.local.resume(id, last_event_id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}

/// The MCP server behind rmcp: MCP-CONTRACT's `sleep` tool and the scenario's scheduled
/// notifications.
#[derive(Clone)]
pub struct SleepServer {
    notifications: Arc<Vec<ServerNotification>>,
}

fn sleep_tool() -> Tool {
    let schema: JsonObject = serde_json::from_value(serde_json::json!({
        "type": "object",
        "properties": {
            "duration_ms": {"type": "integer", "minimum": 0},
            "progress_every_ms": {"type": "integer", "minimum": 1},
        },
        "required": ["duration_ms"],
    }))
    .expect("an object");
    Tool::new(
        "sleep",
        "Sleeps duration_ms, sending a progress notification every progress_every_ms",
        schema,
    )
}

impl ServerHandler for SleepServer {
    fn get_info(&self) -> McpServerConfig {
        McpServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("middlebox-rmcp", RMCP_VERSION))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![sleep_tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "sleep" {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let duration_ms = args
            .get("duration_ms")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| {
                ErrorData::invalid_params("sleep needs duration_ms (a non-negative integer)", None)
            })?;
        let every_ms = args
            .get("progress_every_ms")
            .and_then(serde_json::Value::as_u64)
            .filter(|m| *m > 0);
        let start = now();
        let end = start + Duration::from_millis(duration_ms);
        if let (Some(every), Some(token)) = (every_ms, context.meta.get_progress_token()) {
            let mut k = 1u64;
            loop {
                let at = start + Duration::from_millis(every.saturating_mul(k));
                if at >= end {
                    break;
                }
                tokio::time::sleep(at.saturating_sub(now())).await;
                let progress = ProgressNotificationParam::new(token.clone(), (every * k) as f64)
                    .with_total(duration_ms as f64);
                if context.peer.notify_progress(progress).await.is_err() {
                    break;
                }
                k += 1;
            }
        }
        tokio::time::sleep(end.saturating_sub(now())).await;
        Ok(
            CallToolResult::success(vec![ContentBlock::text(format!("slept {duration_ms} ms"))])
                .into(),
        )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let due: Vec<ServerNotification> = self
            .notifications
            .iter()
            .filter(|n| n.at > now())
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let peer = context.peer;
        tokio::spawn(async move {
            for n in due {
                tokio::time::sleep(n.at.saturating_sub(now())).await;
                let sent = match n.method.as_str() {
                    "notifications/tools/list_changed" => peer.notify_tool_list_changed().await,
                    "notifications/resources/list_changed" => {
                        peer.notify_resource_list_changed().await
                    }
                    "notifications/prompts/list_changed" => peer.notify_prompt_list_changed().await,
                    other => {
                        peer.send_notification(McpNotification::CustomNotification(
                            CustomNotification::new(other, None),
                        ))
                        .await
                    }
                };
                if sent.is_err() {
                    break; // the session is gone
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
