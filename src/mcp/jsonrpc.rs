//! JSON-RPC 2.0 as the MCP endpoint reads and answers it.
//!
//! ```text
//!  POST body ──parse──▶ Message::{Request, Notification, Response}
//!                 └──▶ RpcError (parse error / invalid request) ──▶ error reply, id null
//!  answers: result(id, value) · error(id, RpcError) · notification(method, params)
//! ```
//!
//! One message per body: batches (allowed by revision 2025-03-26 only) are answered with
//! "invalid request". Request ids are numbers or strings (MCP forbids `null`). Replies are
//! serialized with `serde_json` and sorted keys, so their bytes are stable.

use serde_json::{json, Map, Value};
use std::fmt;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Server error used for transport-level refusals (missing session header, bad headers).
pub const TRANSPORT_ERROR: i64 = -32000;
/// Server error used when the session is unknown or terminated.
pub const SESSION_NOT_FOUND: i64 = -32001;

/// One JSON-RPC message received from the client.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A request: expects exactly one answer carrying `id`.
    Request {
        /// The request id, echoed in its answer.
        id: Value,
        /// The method called (`tools/call`).
        method: String,
        /// `params` as sent (`Null` when absent).
        params: Value,
    },
    /// A notification: no id, no answer.
    Notification {
        /// The method notified (`notifications/progress`).
        method: String,
        /// `params` as sent (`Null` when absent).
        params: Value,
    },
    /// A response to a request the server sent (a `result` or an `error` with an id).
    Response {
        /// The id of the request it answers.
        id: Value,
    },
}

impl Message {
    /// The method, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response { .. } => None,
        }
    }

    /// The id as a number, when it is a non-negative integer (the trace's request ids).
    pub fn id_u64(&self) -> Option<u64> {
        match self {
            Message::Request { id, .. } | Message::Response { id } => id.as_u64(),
            Message::Notification { .. } => None,
        }
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// The JSON-RPC error code (`-32602` invalid params, ...).
    pub code: i64,
    /// A short human description.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// Parses one JSON-RPC message from a request body.
pub fn parse(body: &[u8]) -> Result<Message, RpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::new(PARSE_ERROR, format!("Parse error: {e}")))?;
    let obj = match value {
        Value::Object(o) => o,
        Value::Array(_) => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: batches are not supported",
            ))
        }
        _ => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: not an object",
            ))
        }
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(RpcError::new(
            INVALID_REQUEST,
            "Invalid Request: jsonrpc must be \"2.0\"",
        ));
    }
    let id = match obj.get("id") {
        None => None,
        Some(v @ (Value::Number(_) | Value::String(_))) => Some(v.clone()),
        Some(_) => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: id must be a number or a string",
            ))
        }
    };
    match obj.get("method") {
        Some(Value::String(method)) => {
            let params = params_of(&obj)?;
            Ok(match id {
                Some(id) => Message::Request {
                    id,
                    method: method.clone(),
                    params,
                },
                None => Message::Notification {
                    method: method.clone(),
                    params,
                },
            })
        }
        Some(_) => Err(RpcError::new(
            INVALID_REQUEST,
            "Invalid Request: method must be a string",
        )),
        None => match id {
            Some(id) if obj.contains_key("result") || obj.contains_key("error") => {
                Ok(Message::Response { id })
            }
            _ => Err(RpcError::new(
                INVALID_REQUEST,
                "Invalid Request: neither a request, a notification nor a response",
            )),
        },
    }
}

fn params_of(obj: &Map<String, Value>) -> Result<Value, RpcError> {
    match obj.get("params") {
        None => Ok(Value::Null),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Ok(v.clone()),
        Some(_) => Err(RpcError::new(
            INVALID_REQUEST,
            "Invalid Request: params must be an object or an array",
        )),
    }
}

/// A success answer: `{"id":..,"jsonrpc":"2.0","result":..}`.
pub fn result(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// An error answer; `id` is `null` when the request's id could not be read.
pub fn error(id: Option<&Value>, err: &RpcError) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": err.code, "message": err.message},
    })
    .to_string()
}

/// A notification from the server: `{"jsonrpc":"2.0","method":..[,"params":..]}`.
pub fn notification(method: &str, params: Option<Value>) -> String {
    let mut v = json!({"jsonrpc": "2.0", "method": method});
    if let Some(p) = params {
        v["params"] = p;
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_a_notification_and_a_response_are_told_apart() {
        let r = parse(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).unwrap();
        assert_eq!(
            r,
            Message::Request {
                id: json!(3),
                method: "ping".into(),
                params: Value::Null
            }
        );
        assert_eq!(r.id_u64(), Some(3));
        let n = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(n.method(), Some("notifications/initialized"));
        assert_eq!(n.id_u64(), None);
        let a = parse(br#"{"jsonrpc":"2.0","id":"x","result":{}}"#).unwrap();
        assert_eq!(a, Message::Response { id: json!("x") });
        assert_eq!(a.id_u64(), None, "a string id is not a trace id");
    }

    #[test]
    fn params_are_kept_as_sent() {
        let r =
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep"}}"#)
                .unwrap();
        match r {
            Message::Request { params, .. } => assert_eq!(params["name"], "sleep"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_get_the_standard_codes() {
        assert_eq!(parse(b"{not json").unwrap_err().code, PARSE_ERROR);
        assert_eq!(parse(b"").unwrap_err().code, PARSE_ERROR);
        for body in [
            &br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#[..],
            br#"{"id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#,
            br#"{"jsonrpc":"2.0","id":1}"#,
            br#""ping""#,
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.code, INVALID_REQUEST, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn replies_are_stable_json() {
        assert_eq!(
            result(&json!(1), json!({})),
            r#"{"id":1,"jsonrpc":"2.0","result":{}}"#
        );
        assert_eq!(
            error(None, &RpcError::new(PARSE_ERROR, "Parse error")),
            r#"{"error":{"code":-32700,"message":"Parse error"},"id":null,"jsonrpc":"2.0"}"#
        );
        assert_eq!(
            error(
                Some(&json!(4)),
                &RpcError::new(METHOD_NOT_FOUND, "Method not found")
            ),
            r#"{"error":{"code":-32601,"message":"Method not found"},"id":4,"jsonrpc":"2.0"}"#
        );
        assert_eq!(
            notification("notifications/tools/list_changed", None),
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#
        );
        assert_eq!(
            notification("notifications/progress", Some(json!({"progress": 1}))),
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#
        );
    }
}
