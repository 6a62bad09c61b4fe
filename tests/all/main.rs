//! pyworkers' test suite: one binary, a module per topic.

mod cli;
mod entropy;
mod snapshot;
mod support;
mod tarfs;
mod wit;
