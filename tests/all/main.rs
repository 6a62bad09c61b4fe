//! pyworkers' test suite: one binary, a module per topic.

mod bytecode;
mod cli;
mod entropy;
mod schema;
mod serve;
mod snapshot;
mod support;
mod tarfs;
mod wit;
