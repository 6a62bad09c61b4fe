//! The event frames of `_pyworkers.entrypoint.step` that more than one caller builds or reads (the native host and
//! the worker adapter component): the shapes are the protocol's (`host/python/_pyworkers/entrypoint.py`), so they
//! are written once here.

use crate::Value;
use anyhow::{bail, Result};

/// Headers as the frames carry them: a list of `(name, value)` tuples, repeated names repeated.
pub fn headers(list: &[(String, String)]) -> Value {
    Value::List(list.iter().map(|(k, v)| Value::Tuple(vec![Value::str(k.clone()), Value::str(v.clone())])).collect())
}

/// [`headers`], read back.
pub fn read_headers(v: &Value) -> Result<Vec<(String, String)>> {
    v.as_seq("headers")?
        .iter()
        .map(|pair| match pair.as_seq("header")? {
            [k, v] => Ok((k.as_str("header name")?.to_string(), v.as_str("header value")?.to_string())),
            _ => bail!("a header is not a (name, value) pair"),
        })
        .collect()
}

/// `("fetch", id, method, url, headers, body)`: an HTTP request for the worker's `fetch`.
pub fn fetch(id: u64, method: &str, url: &str, header_list: &[(String, String)], body: Vec<u8>) -> Value {
    Value::Tuple(vec![
        Value::str("fetch"),
        Value::Int(id as i64),
        Value::str(method),
        Value::str(url),
        headers(header_list),
        Value::Bytes(body),
    ])
}

/// `("scheduled", id, cron, scheduled_time)`, the time in milliseconds since the Unix epoch.
pub fn scheduled(id: u64, cron: &str, scheduled_time: u64) -> Value {
    Value::Tuple(vec![Value::str("scheduled"), Value::Int(id as i64), Value::str(cron), Value::Float(scheduled_time as f64)])
}

/// One queue message of [`queue`].
pub struct QueueMessage<'a> {
    /// Its id.
    pub id: &'a str,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// Its body (JSON text).
    pub body: &'a [u8],
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// `("queue", id, queue, [(message id, timestamp, body, attempts), ...])`.
pub fn queue<'a>(id: u64, queue: &str, messages: impl IntoIterator<Item = QueueMessage<'a>>) -> Value {
    let messages = messages
        .into_iter()
        .map(|m| {
            Value::Tuple(vec![
                Value::str(m.id),
                Value::Float(m.timestamp as f64),
                Value::Bytes(m.body.to_vec()),
                Value::Int(i64::from(m.attempts)),
            ])
        })
        .collect();
    Value::Tuple(vec![Value::str("queue"), Value::Int(id as i64), Value::str(queue), Value::List(messages)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_with_repeats_in_order() {
        let list = vec![("a".to_string(), "1".to_string()), ("b".into(), "2".into()), ("a".into(), "3".into())];
        assert_eq!(read_headers(&headers(&list)).unwrap(), list);
        assert!(read_headers(&Value::List(vec![Value::Tuple(vec![Value::str("only-a-name")])])).is_err());
        assert!(read_headers(&Value::Int(1)).is_err());
    }

    #[test]
    fn event_frames_have_the_protocol_shapes() {
        let fetch = fetch(7, "GET", "http://x/", &[], b"hi".to_vec());
        assert_eq!(crate::loads(&crate::dumps(&fetch)).unwrap(), fetch);
        let Value::Tuple(items) = &fetch else { panic!() };
        assert_eq!(items[0], Value::str("fetch"));
        assert_eq!(items[1], Value::Int(7));
        let Value::Tuple(items) = scheduled(1, "* * * * *", 1_700_000_000_000) else { panic!() };
        assert_eq!(items[3], Value::Float(1_700_000_000_000.0));
        let message = QueueMessage { id: "m", timestamp: 5, body: b"{}", attempts: 2 };
        let Value::Tuple(items) = queue(3, "q", [message]) else { panic!() };
        assert_eq!(
            items[3],
            Value::List(vec![Value::Tuple(vec![Value::str("m"), Value::Float(5.0), Value::Bytes(b"{}".to_vec()), Value::Int(2)])])
        );
    }
}
