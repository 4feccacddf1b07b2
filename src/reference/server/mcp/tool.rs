//! The built-in tool `sleep`: its description, its validated call, and the call's run
//! (progress notifications, then the result on the call's stream).

use super::*;

/// The built-in tool's description for `tools/list`.
pub(super) fn sleep_tool() -> Value {
    json!({
        "name": "sleep",
        "description": "Sleeps duration_ms, sending a progress notification every progress_every_ms",
        "inputSchema": {
            "type": "object",
            "properties": {
                "duration_ms": {"type": "integer", "minimum": 0},
                "progress_every_ms": {"type": "integer", "minimum": 1},
            },
            "required": ["duration_ms"],
        },
    })
}

/// A validated `tools/call` of `sleep`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct SleepCall {
    pub(super) duration_ms: u64,
    pub(super) progress_every_ms: Option<u64>,
    pub(super) progress_token: Option<Value>,
}

impl SleepCall {
    pub(super) fn from_params(params: &Value) -> Result<Self, RpcError> {
        let bad = |m: &str| RpcError::new(jsonrpc::INVALID_PARAMS, m);
        match params.get("name").and_then(Value::as_str) {
            Some("sleep") => {}
            Some(other) => return Err(bad(&format!("Unknown tool: {other}"))),
            None => return Err(bad("tools/call needs a tool name")),
        }
        let args = params.get("arguments").unwrap_or(&Value::Null);
        let duration_ms = args
            .get("duration_ms")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("sleep needs duration_ms (a non-negative integer)"))?;
        let progress_every_ms = match args.get("progress_every_ms") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|m| *m > 0)
                    .ok_or_else(|| bad("progress_every_ms must be a positive integer"))?,
            ),
        };
        let progress_token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number())
            .cloned();
        Ok(Self {
            duration_ms,
            progress_every_ms,
            progress_token,
        })
    }
}

/// Runs a `sleep` call on stream `key`: progress notifications, then the result, then the
/// stream ends. Stops silently when cancelled.
pub(super) async fn run_tool(
    inner: Rc<Inner>,
    key: StreamKey,
    id: Value,
    call: SleepCall,
    cancelled: Rc<Cell<bool>>,
) {
    let start = now();
    let end = start + Duration::from_millis(call.duration_ms);
    if let (Some(every), Some(token)) = (call.progress_every_ms, &call.progress_token) {
        let mut k = 1u64;
        loop {
            let at = start + Duration::from_millis(every.saturating_mul(k));
            if at >= end {
                break;
            }
            tokio::time::sleep(at.saturating_sub(now())).await;
            if cancelled.get() {
                return;
            }
            let msg = jsonrpc::notification(
                "notifications/progress",
                Some(json!({
                    "progressToken": token,
                    "progress": every * k,
                    "total": call.duration_ms,
                })),
            );
            inner.emit(&mut inner.state.borrow_mut(), &key, &msg);
            k += 1;
        }
    }
    tokio::time::sleep(end.saturating_sub(now())).await;
    if cancelled.get() {
        return;
    }
    let result =
        json!({"content": [{"type": "text", "text": format!("slept {} ms", call.duration_ms)}]});
    let mut st = inner.state.borrow_mut();
    inner.emit(&mut st, &key, &jsonrpc::result(&id, result));
    st.end_stream(&key);
}
