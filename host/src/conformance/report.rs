//! A suite's result: one row per property, printed as a table.

use super::Interface;

/// Whether a property held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It held.
    Pass,
    /// It did not; why, in one paragraph.
    Fail(String),
    /// The subject has no means to show it (see [`super::NotChecked`]); why.
    NotChecked(String),
}

/// One property's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The case's name.
    pub name: &'static str,
    /// The property, in one line.
    pub about: &'static str,
    /// Whether it held.
    pub outcome: Outcome,
}

/// A suite run against one implementation.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which suite.
    pub interface: Interface,
    /// Which implementation (`native` or the component's path).
    pub subject: String,
    /// One per property, in the suite's order.
    pub rows: Vec<Row>,
}

impl Report {
    /// Whether no property failed (every row held, or could not be checked on this subject).
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The names of the properties that did not hold.
    pub fn failures(&self) -> Vec<&'static str> {
        self.rows.iter().filter(|row| matches!(row.outcome, Outcome::Fail(_))).map(|row| row.name).collect()
    }

    /// The names of the properties this subject could not show.
    pub fn not_checked(&self) -> Vec<&'static str> {
        self.rows.iter().filter(|row| matches!(row.outcome, Outcome::NotChecked(_))).map(|row| row.name).collect()
    }
}

impl std::fmt::Display for Report {
    /// `PASS`/`FAIL`/`SKIP`, name and property per row, the reason under a failing or unchecked one, then a count.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} conformance: {}", self.interface.name(), self.subject)?;
        let width = self.rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
        for row in &self.rows {
            let verdict = match row.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail(_) => "FAIL",
                Outcome::NotChecked(_) => "SKIP",
            };
            writeln!(f, "  {verdict}  {:width$}  {}", row.name, row.about)?;
            if let Outcome::Fail(why) | Outcome::NotChecked(why) = &row.outcome {
                for line in why.lines() {
                    writeln!(f, "          {line}")?;
                }
            }
        }
        let failed = self.failures().len();
        let skipped = self.not_checked().len();
        let checked = self.rows.len() - skipped;
        // Not "N passed, N failed": CI reads that shape as a test runner's closing line.
        write!(f, "{} of {checked} properties hold", checked - failed)?;
        if failed > 0 {
            write!(f, "; {failed} do not")?;
        }
        if skipped > 0 {
            write!(f, "; {skipped} not checked on this subject")?;
        }
        writeln!(f)
    }
}
