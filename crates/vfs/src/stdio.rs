//! The standard streams: inherited from the host process, captured into memory (for tests), or handed to a
//! sink (e.g. a server prefixing each line with the instance's name).

use std::io::{IsTerminal, Read, Write};

/// Where fd 0 reads from.
pub enum Input {
    /// Always at end of file.
    Empty,
    /// The host's standard input.
    Inherit,
    /// Fixed bytes, consumed as read.
    Bytes(std::collections::VecDeque<u8>),
}

/// Where fd 1 or 2 writes to.
pub enum Output {
    /// The host's stdout/stderr (matching the fd).
    Inherit,
    /// Kept in memory.
    Capture(Vec<u8>),
    /// Dropped.
    Discard,
    /// Each write's bytes, exactly as written: no line buffering (that is the sink's business).
    Sink(Sink),
}

/// A callback that receives what the guest writes to a standard stream.
pub type Sink = Box<dyn FnMut(&[u8]) + Send + Sync>;

impl Input {
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Empty => Ok(0),
            Input::Inherit => std::io::stdin().lock().read(buf),
            Input::Bytes(bytes) => bytes.read(buf),
        }
    }

    pub(crate) fn is_tty(&self) -> bool {
        matches!(self, Input::Inherit) && std::io::stdin().is_terminal()
    }
}

/// Which host stream an inherited [`Output`] writes to; chosen by the fd, not stored, so the type stays plain data.
fn host_stream(is_stderr: bool) -> Box<dyn Write> {
    if is_stderr {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

impl Output {
    pub(crate) fn write_to(&mut self, data: &[u8], is_stderr: bool) -> std::io::Result<usize> {
        match self {
            Output::Inherit => {
                let mut out = host_stream(is_stderr);
                out.write_all(data)?;
                out.flush()?;
                Ok(data.len())
            }
            Output::Capture(buf) => {
                buf.extend_from_slice(data);
                Ok(data.len())
            }
            Output::Discard => Ok(data.len()),
            Output::Sink(sink) => {
                sink(data);
                Ok(data.len())
            }
        }
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        // Which of stdout/stderr is decided by the caller through `write_to`; plain `write` is stdout.
        self.write_to(data, false)
    }

    pub(crate) fn flush(&mut self) {
        if let Output::Inherit = self {
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
        }
    }

    pub(crate) fn is_tty(&self, is_stderr: bool) -> bool {
        matches!(self, Output::Inherit)
            && if is_stderr {
                std::io::stderr().is_terminal()
            } else {
                std::io::stdout().is_terminal()
            }
    }

    /// Bytes captured so far, if capturing.
    pub fn captured(&self) -> Option<&[u8]> {
        match self {
            Output::Capture(b) => Some(b),
            _ => None,
        }
    }
}
