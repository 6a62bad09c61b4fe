//! A suite's result: one row per property, printed as a table.

use super::Interface;

/// Whether a property held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It held.
    Pass,
    /// It did not; why, in one paragraph.
    Fail(String),
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
    /// Whether every property held.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|row| row.outcome == Outcome::Pass)
    }

    /// The names of the properties that did not hold.
    pub fn failures(&self) -> Vec<&'static str> {
        self.rows.iter().filter(|row| row.outcome != Outcome::Pass).map(|row| row.name).collect()
    }
}

impl std::fmt::Display for Report {
    /// `PASS`/`FAIL`, name and property per row, the reason under a failing one, then a count.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} conformance: {}", self.interface.name(), self.subject)?;
        let width = self.rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
        for row in &self.rows {
            let verdict = match row.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail(_) => "FAIL",
            };
            writeln!(f, "  {verdict}  {:width$}  {}", row.name, row.about)?;
            if let Outcome::Fail(why) = &row.outcome {
                for line in why.lines() {
                    writeln!(f, "          {line}")?;
                }
            }
        }
        let failed = self.failures().len();
        // Not "N passed, N failed": CI reads that shape as a test runner's closing line.
        write!(f, "{} of {} properties hold", self.rows.len() - failed, self.rows.len())?;
        if failed > 0 {
            write!(f, "; {failed} do not")?;
        }
        writeln!(f)
    }
}
