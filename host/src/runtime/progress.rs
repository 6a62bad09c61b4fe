//! What the user sees while the cache fills: one spinner or bar per slow step, on stderr.
//!
//! indicatif's stderr target hides itself when stderr is not a terminal, so scripts and CI logs stay clean without
//! any flag. A step that ends in an error clears itself, so the error message is the last thing on screen.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};

/// One slow step in progress.
pub(crate) struct Step {
    bar: ProgressBar,
    start: Instant,
    finished: bool,
}

impl Step {
    /// A spinner for a step whose length we cannot know (a child process, a compilation).
    pub fn spinner(message: &str) -> Step {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Step {
            bar,
            start: Instant::now(),
            finished: false,
        }
    }

    /// A byte-count bar, for reading a file of known size.
    pub fn bytes(message: &str, total: u64) -> Step {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Step {
            bar,
            start: Instant::now(),
            finished: false,
        }
    }

    /// The underlying bar, e.g. to wrap a reader so the bar follows it.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// End the step, leaving `message` and the time it took on screen.
    pub fn done(mut self, message: &str) {
        let elapsed = self.start.elapsed();
        tracing::debug!(?elapsed, "{message}");
        self.bar.set_style(
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar
            .finish_with_message(format!("{message} ({elapsed:.1?})"));
        self.finished = true;
    }

    /// End the step without leaving anything on screen.
    pub fn clear(mut self) {
        self.bar.finish_and_clear();
        self.finished = true;
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.bar.finish_and_clear();
        }
    }
}
