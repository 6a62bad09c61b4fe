//! The subset of CPython's `marshal` format that crosses the host ⇄ Python boundary: the native host and the worker
//! adapter component (`guest-adapters/worker`) both speak it to `_pyworkers.entrypoint`.
//!
//! Python's side (`_pyworkers.entrypoint`) decodes with `marshal.loads`, which is C code and the fastest way into
//! Python objects there, and encodes with `marshal.dumps(value, 2)`: version 2 has no back-references, so the
//! format is a plain tree. This module writes and reads exactly that tree: None, booleans, integers, floats,
//! bytes, str, tuples, lists and dicts. Anything else read is an error, never a panic.

use anyhow::{bail, Context, Result};

pub mod frames;

/// A marshal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `str`.
    Str(String),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `list`.
    List(Vec<Value>),
    /// `dict`, in order.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// A `str` value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The value as a `str`, or an error naming `what`.
    pub fn as_str(&self, what: &str) -> Result<&str> {
        match self {
            Value::Str(s) => Ok(s),
            other => bail!("{what}: expected str, got {other:?}"),
        }
    }

    /// The value as an integer.
    pub fn as_int(&self, what: &str) -> Result<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(*b as i64),
            other => bail!("{what}: expected int, got {other:?}"),
        }
    }

    /// The value as bytes.
    pub fn as_bytes(&self, what: &str) -> Result<&[u8]> {
        match self {
            Value::Bytes(b) => Ok(b),
            other => bail!("{what}: expected bytes, got {other:?}"),
        }
    }

    /// The items of a tuple or list.
    pub fn as_seq(&self, what: &str) -> Result<&[Value]> {
        match self {
            Value::Tuple(v) | Value::List(v) => Ok(v),
            other => bail!("{what}: expected a tuple or list, got {other:?}"),
        }
    }

    /// `None` → `None`, else the value.
    pub fn as_option(&self) -> Option<&Value> {
        match self {
            Value::None => None,
            v => Some(v),
        }
    }

    /// A JSON value as the equivalent Python value (objects become dicts).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::None,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Dict(
                o.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// Encode `value` (version 2 layout).
pub fn dumps(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write(&mut out, value);
    out
}

fn write_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32 as i32).to_le_bytes());
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(b'T'),
        Value::Bool(false) => out.push(b'F'),
        Value::Int(i) => match i32::try_from(*i) {
            Ok(small) => {
                out.push(b'i');
                out.extend_from_slice(&small.to_le_bytes());
            }
            Err(_) => {
                // TYPE_LONG: signed digit count, then base-2**15 digits, least significant first.
                out.push(b'l');
                let mut magnitude = i.unsigned_abs();
                let mut digits = Vec::new();
                while magnitude > 0 {
                    digits.push((magnitude & 0x7fff) as u16);
                    magnitude >>= 15;
                }
                let n = digits.len() as i32;
                out.extend_from_slice(&(if *i < 0 { -n } else { n }).to_le_bytes());
                for d in digits {
                    out.extend_from_slice(&d.to_le_bytes());
                }
            }
        },
        Value::Float(f) => {
            out.push(b'g');
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Bytes(b) => {
            out.push(b's');
            write_len(out, b.len());
            out.extend_from_slice(b);
        }
        Value::Str(s) => {
            out.push(b'u');
            write_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Tuple(items) | Value::List(items) => {
            out.push(if matches!(value, Value::Tuple(_)) { b'(' } else { b'[' });
            write_len(out, items.len());
            for item in items {
                write(out, item);
            }
        }
        Value::Dict(items) => {
            out.push(b'{');
            for (k, v) in items {
                write(out, k);
                write(out, v);
            }
            out.push(b'0');
        }
    }
}

/// Decode one value that fills all of `bytes`.
pub fn loads(bytes: &[u8]) -> Result<Value> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        bail!("{} trailing bytes after the marshal value", bytes.len() - reader.pos);
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Nesting deeper than this is refused (the frames are shallow; this only stops a runaway recursion).
const MAX_DEPTH: usize = 64;

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).context("marshal length overflows")?;
        let slice = self.bytes.get(self.pos..end).context("marshal data is truncated")?;
        self.pos = end;
        Ok(slice)
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn len(&mut self) -> Result<usize> {
        let n = self.i32()?;
        usize::try_from(n).ok().context("negative marshal length")
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            bail!("marshal data nests too deeply");
        }
        let code = self.take(1)?[0];
        if code & 0x80 != 0 {
            bail!("marshal back-references are not supported (dump with version 2)");
        }
        Ok(match code {
            b'N' => Value::None,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' => Value::Int(self.i32()? as i64),
            b'l' => {
                let n = self.i32()?;
                let count = n.unsigned_abs() as usize;
                if count > 5 {
                    bail!("marshal integer does not fit in 64 bits");
                }
                let mut magnitude: u128 = 0;
                for i in 0..count {
                    let d = u16::from_le_bytes(self.take(2)?.try_into()?) as u128;
                    magnitude |= d << (15 * i);
                }
                let magnitude = i128::try_from(magnitude)?;
                let v = if n < 0 { -magnitude } else { magnitude };
                Value::Int(i64::try_from(v).ok().context("marshal integer does not fit in 64 bits")?)
            }
            b'g' => Value::Float(f64::from_le_bytes(self.take(8)?.try_into()?)),
            b's' => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            b'u' | b't' | b'a' | b'A' => {
                let n = self.len()?;
                Value::Str(std::str::from_utf8(self.take(n)?)?.to_string())
            }
            b'z' | b'Z' => {
                let n = self.take(1)?[0] as usize;
                Value::Str(std::str::from_utf8(self.take(n)?)?.to_string())
            }
            b'(' | b'[' => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                if code == b'(' {
                    Value::Tuple(items)
                } else {
                    Value::List(items)
                }
            }
            b')' => {
                let n = self.take(1)?[0] as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Tuple(items)
            }
            b'{' => {
                let mut items = Vec::new();
                loop {
                    if self.bytes.get(self.pos) == Some(&b'0') {
                        self.pos += 1;
                        break;
                    }
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                }
                Value::Dict(items)
            }
            other => bail!("unsupported marshal type code {:?}", other as char),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v = Value::Tuple(vec![
            Value::None,
            Value::Bool(true),
            Value::Int(-5),
            Value::Int(1 << 40),
            Value::Int(-(1 << 62)),
            Value::Float(1.5),
            Value::Bytes(vec![0, 255]),
            Value::str("héllo"),
            Value::List(vec![Value::Dict(vec![(Value::str("k"), Value::Int(1))])]),
        ]);
        assert_eq!(loads(&dumps(&v)).unwrap(), v);
    }

    #[test]
    fn known_python_encodings() {
        // marshal.dumps((1, "a", b"b", None), 2)
        let py = b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\x01\x00\x00\x00as\x01\x00\x00\x00bN";
        assert_eq!(
            loads(py).unwrap(),
            Value::Tuple(vec![Value::Int(1), Value::str("a"), Value::Bytes(b"b".to_vec()), Value::None])
        );
        assert_eq!(&dumps(&loads(py).unwrap())[..], &py[..]);
        // marshal.dumps(2**40, 2)
        assert_eq!(loads(b"l\x03\x00\x00\x00\x00\x00\x00\x00\x00\x04").unwrap(), Value::Int(1 << 40));
    }

    #[test]
    fn bad_input_is_an_error() {
        for bad in [&b""[..], b"(", b"(\x05\x00\x00\x00N", b"s\xff\xff\xff\xff", b"\xe9", b"?", b"NN"] {
            assert!(loads(bad).is_err(), "{bad:?}");
        }
        let deep = vec![b'['; 10_000];
        assert!(loads(&deep).is_err());
    }
}
