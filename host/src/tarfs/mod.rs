//! Native `tarfs`: the `pyworkers-tarfs` crate (the one implementation, also built as a component by
//! `guest-adapters/tarfs`), plus the wasmtime host traits that hand its archives to components ([`TarfsView`]).
//!
//! ```
//! use pyworkers::tarfs::{Archive, ErrorCode};
//!
//! let empty = Archive::open(Vec::new()).unwrap();
//! assert_eq!(empty.stat("../etc/passwd").unwrap_err(), ErrorCode::EscapesRoot);
//! ```

mod host_impl;

pub use self::host_impl::{Tarfs, TarfsView};
pub use pyworkers_tarfs::*;
