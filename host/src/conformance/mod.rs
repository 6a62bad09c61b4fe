//! Conformance suites, one per WIT interface, written once and run against any implementation: the native one
//! (through the same generated host traits a component importing it would reach) or a component file (through
//! its exports). Both are driven through the WIT-typed values of `crate::bindings`, so the assertions are
//! identical and two implementations can be compared row by row.
//!
//! A suite is a list of named properties ([`Case`]s); each runs against a fresh instance, so a trap or a wrong
//! answer fails that row only. `pyworkers conformance INTERFACE [COMPONENT.wasm]` prints the [`Report`].
//!
//! `entrypoint` and `snapshot` are exported by a Python worker, so their suites need a worker to run: the
//! *reference workers* of [`entrypoint`]'s contract (Python files in `entrypoint/`). The native subject runs them
//! on the real Pyodide; a component subject must implement the same contract. A property a subject has no means
//! to show (a component's memory cannot be captured by the suite) is reported `NOT CHECKED` with the reason,
//! never as held.

mod check;
mod component;
pub mod entropy;
pub mod entrypoint;
mod native;
mod report;
pub mod snapshot;
pub mod tarfs;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::component::ComponentFile;
pub use self::report::{Outcome, Report, Row};

/// What a case returns: `Err` is the reason the property does not hold (or that the implementation trapped).
pub type Check = anyhow::Result<()>;

/// Makes a fresh instance `I` of the implementation under test; a case makes as many as it needs.
pub type Fresh<'a, I> = &'a dyn Fn() -> anyhow::Result<Box<I>>;

/// The error a case returns for a property the subject has no means to show: the row is `NOT CHECKED` with this
/// reason, neither held nor failed.
#[derive(Debug)]
pub struct NotChecked(pub String);

impl std::fmt::Display for NotChecked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotChecked {}

/// One property of an interface, checked against fresh instances `I` of an implementation.
pub struct Case<I: ?Sized> {
    /// A short kebab-case name, the row's key in a [`Report`].
    pub name: &'static str,
    /// The property, in one line.
    pub about: &'static str,
    /// Checks it.
    pub run: fn(Fresh<'_, I>) -> Check,
}

/// The interfaces that have a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// `pyworkers:runtime/tarfs`.
    Tarfs,
    /// `pyworkers:runtime/entropy`.
    Entropy,
    /// `pyworkers:runtime/entrypoint`.
    Entrypoint,
    /// `pyworkers:runtime/snapshot`.
    Snapshot,
}

impl Interface {
    /// Every interface with a suite, as `pyworkers conformance` accepts them.
    pub const ALL: [Interface; 4] = [Interface::Tarfs, Interface::Entropy, Interface::Entrypoint, Interface::Snapshot];

    /// The WIT interface name.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Tarfs => "tarfs",
            Interface::Entropy => "entropy",
            Interface::Entrypoint => "entrypoint",
            Interface::Snapshot => "snapshot",
        }
    }
}

impl std::str::FromStr for Interface {
    type Err = String;

    fn from_str(name: &str) -> Result<Interface, String> {
        let known: Vec<&str> = Interface::ALL.iter().map(|i| i.name()).collect();
        Interface::ALL.into_iter().find(|i| i.name() == name).ok_or_else(|| {
            format!("no conformance suite for `{name}`; suites exist for: {}", known.join(", "))
        })
    }
}

/// Which implementation a suite runs against.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The host's own (`crate::tarfs`, `crate::entropy`).
    Native,
    /// A component file exporting the interface.
    Component(PathBuf),
    /// For `entrypoint`: one component per reference worker (by its name), for components that hold one worker
    /// each, as a Python worker's Pyodide component does.
    Workers(Vec<(String, PathBuf)>),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Native => f.write_str("native"),
            Subject::Component(path) => write!(f, "{}", path.display()),
            Subject::Workers(files) => {
                let named: Vec<String> = files.iter().map(|(name, path)| format!("{name}={}", path.display())).collect();
                f.write_str(&named.join(", "))
            }
        }
    }
}

/// Run the suite of `interface` against `subject`. `Err` only when the subject cannot be used at all (a file
/// that is not a component, or one that does not export the interface; for the native `entrypoint` and
/// `snapshot`, no Pyodide in the cache); failing properties are rows. The native Python subjects use the cache
/// at [`crate::runtime::default_home`].
pub fn run(interface: Interface, subject: &Subject) -> anyhow::Result<Report> {
    run_with_home(interface, subject, &crate::runtime::default_home())
}

/// [`run`], with the native Python subjects using (and filling) the cache at `home`.
pub fn run_with_home(interface: Interface, subject: &Subject, home: &Path) -> anyhow::Result<Report> {
    let rows = match (interface, subject) {
        (Interface::Entrypoint, Subject::Native) => {
            let workers = entrypoint::native(&native::Python::load(home)?)?;
            run_cases(entrypoint::cases(), || Ok(Box::new(workers.clone())))
        }
        (Interface::Snapshot, Subject::Native) => {
            let workers = snapshot::native(&native::Python::load(home)?)?;
            run_cases(snapshot::cases(), || Ok(Box::new(workers.clone())))
        }
        (Interface::Entrypoint, Subject::Component(path)) => {
            let workers = entrypoint::component(&Arc::new(ComponentFile::load(path)?))?;
            run_cases(entrypoint::cases(), || Ok(Box::new(workers.clone())))
        }
        (Interface::Entrypoint, Subject::Workers(files)) => {
            let workers = entrypoint::component_per_worker(files)?;
            run_cases(entrypoint::cases(), || Ok(Box::new(workers.clone())))
        }
        (_, Subject::Workers(_)) => {
            anyhow::bail!("only the entrypoint suite takes one component per reference worker (--worker NAME=FILE)")
        }
        (Interface::Snapshot, Subject::Component(path)) => {
            let workers = snapshot::component(&Arc::new(ComponentFile::load(path)?))?;
            run_cases(snapshot::cases(), || Ok(Box::new(workers.clone())))
        }
        (Interface::Tarfs, Subject::Native) => run_cases(tarfs::cases(), || Ok(tarfs::native())),
        (Interface::Entropy, Subject::Native) => run_cases(entropy::cases(), || Ok(entropy::native())),
        (Interface::Tarfs, Subject::Component(path)) => {
            let file = ComponentFile::load(path)?;
            let factory = tarfs::component(&file)?;
            run_cases(tarfs::cases(), || factory.instantiate())
        }
        (Interface::Entropy, Subject::Component(path)) => {
            let file = ComponentFile::load(path)?;
            let factory = entropy::component(&file)?;
            run_cases(entropy::cases(), || factory.instantiate())
        }
    };
    Ok(Report { interface, subject: subject.to_string(), rows })
}

/// Each case, with instances from `fresh`.
fn run_cases<I: ?Sized>(cases: &[Case<I>], fresh: impl Fn() -> anyhow::Result<Box<I>>) -> Vec<Row> {
    cases
        .iter()
        .map(|case| {
            let outcome = match (case.run)(&fresh) {
                Ok(()) => Outcome::Pass,
                Err(why) => match why.downcast_ref::<NotChecked>() {
                    Some(NotChecked(reason)) => Outcome::NotChecked(reason.clone()),
                    None => Outcome::Fail(format!("{why:#}")),
                },
            };
            Row { name: case.name, about: case.about, outcome }
        })
        .collect()
}
