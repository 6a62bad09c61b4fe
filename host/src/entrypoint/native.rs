//! [`Entrypoint`] over a restored Pyodide instance, through the CPython C API.
//!
//! Every call is `_pyworkers.entrypoint.<name>(bytes) -> bytes` with `marshal` frames (see `crates/marshal` and the
//! protocol described in `host/python/_pyworkers/entrypoint.py`): one C-API call per step, whatever the number of
//! events in it.

use super::marshal::frames::{self, headers, read_headers};
use super::marshal::{self, Value};
use super::*;
use crate::interpreter::Interpreter;
use anyhow::{bail, Context, Result};

/// The Python module that implements the guest side.
const MODULE: &str = "_pyworkers.entrypoint";

/// A worker in a live instance.
pub struct NativeEntrypoint {
    interp: Interpreter,
    step: i32,
    handlers: i32,
}

impl NativeEntrypoint {
    /// Take over `interp` (restored, `restored()` already run) and configure the instance: `vars` become the
    /// worker's `env`, with `bindings` (`{name: kind}`, made into binding objects by the guest); `name` tells
    /// instances apart in logs.
    /// `object`: the Durable Object this instance is (its descriptor), if it is one.
    pub fn new(
        mut interp: Interpreter,
        vars: &[(String, Value)],
        bindings: Value,
        name: &str,
        object: Option<Value>,
    ) -> Result<NativeEntrypoint> {
        let mut lookup = |attr: &str| -> Result<i32> {
            interp
                .lookup(MODULE, attr)?
                .with_context(|| format!("the runtime's Python has no {MODULE}.{attr} (traceback above)"))
        };
        let configure = lookup("configure")?;
        let step = lookup("step")?;
        let handlers = lookup("handlers")?;
        let config = Value::Dict(vec![
            (
                Value::str("vars"),
                Value::Dict(vars.iter().map(|(k, v)| (Value::str(k.clone()), v.clone())).collect()),
            ),
            (Value::str("name"), Value::str(name)),
            (Value::str("bindings"), bindings),
            (Value::str("object"), object.unwrap_or(Value::None)),
        ]);
        let mut entry = NativeEntrypoint { interp, step, handlers };
        entry.call(configure, &config).context("configuring the worker")?;
        Ok(entry)
    }

    /// The interpreter (its store holds the file system, captured output, limits).
    pub fn interpreter(&mut self) -> &mut Interpreter {
        &mut self.interp
    }

    fn call(&mut self, func: i32, arg: &Value) -> Result<Value> {
        match self.interp.call_bytes(func, &marshal::dumps(arg))? {
            Some(bytes) => marshal::loads(&bytes).context("reading what the worker's runtime returned"),
            None => bail!("the worker's runtime raised (traceback in the log)"),
        }
    }
}

fn encode(event: &Event) -> Value {
    let int = |i: u64| Value::Int(i as i64);
    match event {
        Event::Fetch { id, request } => {
            frames::fetch(*id, &request.method, &request.url, &request.headers, request.body.clone())
        }
        Event::Scheduled { id, event } => frames::scheduled(*id, &event.cron, event.scheduled_time),
        Event::Queue { id, batch } => frames::queue(
            *id,
            &batch.queue,
            batch.messages.iter().map(|m| frames::QueueMessage {
                id: &m.id,
                timestamp: m.timestamp,
                body: &m.body,
                attempts: m.attempts,
            }),
        ),
        Event::Completed { op, result } => {
            let (ok, value) = match result {
                Ok(r) => (
                    true,
                    Value::Tuple(vec![
                        Value::Int(r.status as i64),
                        headers(&r.headers),
                        Value::Bytes(r.body.clone()),
                        Value::str(r.url.clone()),
                    ]),
                ),
                Err(e) => (
                    false,
                    Value::Tuple(vec![Value::str(e.kind.clone()), Value::str(e.message.clone())]),
                ),
            };
            Value::Tuple(vec![Value::str("result"), int(*op), Value::Bool(ok), value])
        }
        Event::Call { id, target, chain } => {
            let mut items = vec![Value::str("call"), int(*id), Value::Tuple(chain.iter().cloned().map(Value::Str).collect())];
            match target {
                CallTarget::Method { name, args } => {
                    items.extend([Value::str("method"), Value::str(name.clone()), Value::Bytes(args.clone())])
                }
                CallTarget::Fetch(r) => items.extend([
                    Value::str("fetch"),
                    Value::str(r.method.clone()),
                    Value::str(r.url.clone()),
                    headers(&r.headers),
                    Value::Bytes(r.body.clone()),
                ]),
            }
            Value::Tuple(items)
        }
        Event::Returned { op, result } => {
            let (ok, value) = match result {
                Ok(CallResult::Value(v)) => (true, Value::Tuple(vec![Value::str("value"), Value::Bytes(v.clone())])),
                Ok(CallResult::Response(r)) => (
                    true,
                    Value::Tuple(vec![
                        Value::str("response"),
                        Value::Int(r.status as i64),
                        headers(&r.headers),
                        Value::Bytes(r.body.clone()),
                    ]),
                ),
                Err(e) => (false, Value::Tuple(vec![Value::str(e.kind.clone()), Value::str(e.message.clone())])),
            };
            Value::Tuple(vec![Value::str("returned"), int(*op), Value::Bool(ok), value])
        }
        Event::Cancel { id } => Value::Tuple(vec![Value::str("cancel"), int(*id)]),
    }
}

fn decode(event: &Value) -> Result<Outgoing> {
    let items = event.as_seq("outbox event")?;
    let id = |i: usize| -> Result<u64> {
        Ok(items.get(i).context("outbox event too short")?.as_int("event id")? as u64)
    };
    let at = |i: usize| items.get(i).context("outbox event too short");
    Ok(match items.first().context("empty outbox event")?.as_str("event kind")? {
        "response" => Outgoing::Response {
            id: id(1)?,
            response: Response {
                status: u16::try_from(at(2)?.as_int("status")?).context("status out of range")?,
                headers: read_headers(at(3)?)?,
                body: at(4)?.as_bytes("body")?.to_vec(),
            },
        },
        "error" => {
            let text = at(3)?.as_str("error text")?.to_string();
            Outgoing::Failed {
                id: id(1)?,
                error: match at(2)?.as_str("error kind")? {
                    "not-defined" => HandlerError::NotDefined(text),
                    _ => HandlerError::Exception(text),
                },
            }
        }
        "done" => Outgoing::Done { id: id(1)? },
        "fetch" => Outgoing::Fetch {
            op: id(1)?,
            request: OutboundRequest {
                method: at(2)?.as_str("method")?.to_string(),
                url: at(3)?.as_str("url")?.to_string(),
                headers: read_headers(at(4)?)?,
                body: at(5)?.as_bytes("body")?.to_vec(),
                // Optional: ("fetch", op, method, url, headers, body, timeout_seconds, redirect).
                timeout: match items.get(6) {
                    Some(Value::Float(s)) if s.is_finite() && *s > 0.0 => Some(std::time::Duration::from_secs_f64(*s)),
                    Some(Value::Int(s)) if *s > 0 => Some(std::time::Duration::from_secs(*s as u64)),
                    _ => None,
                },
                follow_redirects: !matches!(items.get(7), Some(Value::Str(r)) if r == "manual"),
            },
        },
        "return" => Outgoing::Return { id: id(1)?, value: at(2)?.as_bytes("return value")?.to_vec() },
        "call" => {
            // ("call", op, binding, id, name, chain, "method", name, args) or (..., "fetch", method, url, headers, body)
            let opt = |v: &Value| -> Result<Option<String>> {
                Ok(match v {
                    Value::None => None,
                    v => Some(v.as_str("object id or name")?.to_string()),
                })
            };
            let target = match at(6)?.as_str("call kind")? {
                "method" => CallTarget::Method {
                    name: at(7)?.as_str("method")?.to_string(),
                    args: at(8)?.as_bytes("arguments")?.to_vec(),
                },
                "fetch" => CallTarget::Fetch(Request {
                    method: at(7)?.as_str("method")?.to_string(),
                    url: at(8)?.as_str("url")?.to_string(),
                    headers: read_headers(at(9)?)?,
                    body: at(10)?.as_bytes("body")?.to_vec(),
                }),
                other => bail!("unknown call kind {other:?}"),
            };
            Outgoing::Call {
                op: id(1)?,
                call: ObjectCall {
                    binding: at(2)?.as_str("binding")?.to_string(),
                    id: opt(at(3)?)?,
                    name: opt(at(4)?)?,
                    target,
                    chain: at(5)?
                        .as_seq("chain")?
                        .iter()
                        .map(|k| Ok(k.as_str("chain key")?.to_string()))
                        .collect::<Result<_>>()?,
                },
            }
        }
        other => bail!("unknown outbox event {other:?}"),
    })
}

impl Entrypoint for NativeEntrypoint {
    fn handlers(&mut self) -> Result<Vec<String>> {
        let names = self.call(self.handlers, &Value::Bytes(Vec::new()))?;
        names
            .as_seq("handlers")?
            .iter()
            .map(|n| Ok(n.as_str("handler name")?.to_string()))
            .collect()
    }

    fn step(&mut self, inbox: Vec<Event>) -> Result<Outbox> {
        let frame = Value::List(inbox.iter().map(encode).collect());
        let result = self.call(self.step, &frame)?;
        let [events, next_timer, background] = result.as_seq("step result")? else {
            bail!("step returned something other than (events, next_timer, background)");
        };
        Ok(Outbox {
            events: events.as_seq("outbox")?.iter().map(decode).collect::<Result<_>>()?,
            next_timer: match next_timer {
                Value::Float(s) if s.is_finite() => Some(std::time::Duration::from_secs_f64(s.max(0.0))),
                Value::Int(s) => Some(std::time::Duration::from_secs((*s).max(0) as u64)),
                _ => None,
            },
            background: background.as_int("background")?.max(0) as u32,
        })
    }
}
