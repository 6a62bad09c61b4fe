//! The `pyworkers` command.

mod commands;

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PYWORKERS_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = commands::Cli::parse();
    match cli.command.execute() {
        Ok(status) => std::process::exit(status),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
