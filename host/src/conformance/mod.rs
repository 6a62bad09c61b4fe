//! Conformance suites, one per WIT interface, written once and run against any implementation: the native one
//! (through the same generated host traits a component importing it would reach) or a component file (through
//! its exports). Both are driven through the WIT-typed values of `crate::bindings`, so the assertions are
//! identical and two implementations can be compared row by row.
//!
//! A suite is a list of named properties ([`Case`]s); each runs against a fresh instance, so a trap or a wrong
//! answer fails that row only. `pyworkers conformance INTERFACE [COMPONENT.wasm]` prints the [`Report`].

mod check;
mod component;
pub mod entropy;
mod report;
pub mod tarfs;

use std::path::PathBuf;

pub use self::component::ComponentFile;
pub use self::report::{Outcome, Report, Row};

/// What a case returns: `Err` is the reason the property does not hold (or that the implementation trapped).
pub type Check = anyhow::Result<()>;

/// Makes a fresh instance `I` of the implementation under test; a case makes as many as it needs.
pub type Fresh<'a, I> = &'a dyn Fn() -> anyhow::Result<Box<I>>;

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
}

impl Interface {
    /// Every interface with a suite, as `pyworkers conformance` accepts them.
    pub const ALL: [Interface; 2] = [Interface::Tarfs, Interface::Entropy];

    /// The WIT interface name.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Tarfs => "tarfs",
            Interface::Entropy => "entropy",
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
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Native => f.write_str("native"),
            Subject::Component(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Run the suite of `interface` against `subject`. `Err` only when the subject cannot be used at all (a file
/// that is not a component, or one that does not export the interface); failing properties are rows.
pub fn run(interface: Interface, subject: &Subject) -> anyhow::Result<Report> {
    let rows = match (interface, subject) {
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
                Err(why) => Outcome::Fail(format!("{why:#}")),
            };
            Row { name: case.name, about: case.about, outcome }
        })
        .collect()
}
