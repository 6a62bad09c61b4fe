//! pyworkers' test suite: one binary, a module per topic.

mod cli;
mod support;
mod tarfs;
mod wit;
