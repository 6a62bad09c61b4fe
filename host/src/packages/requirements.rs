//! What a project asks for: `[project] dependencies` in `pyproject.toml`, then the lines of `requirements.txt`
//! (comments and blank lines dropped), as PEP 508 strings handed to the resolver unchanged.

use anyhow::{bail, Context, Result};
use sha2::Digest;
use std::path::{Path, PathBuf};

/// A project's requirements.
#[derive(Debug, Clone)]
pub struct Requirements {
    /// PEP 508 requirement strings, in the order given.
    pub lines: Vec<String>,
    /// The file they were read from (the first, when both exist).
    pub source: PathBuf,
}

impl Requirements {
    /// What the lock's reuse is keyed on: the requirements and the platform they are resolved for.
    pub fn inputs_sha256(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(format!("{}\n{}\n{}\n", super::PLATFORM, super::PYTHON_VERSION, super::ABI));
        for line in &self.lines {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

/// The requirements of the project at `root`, or `None` when it has neither file.
pub fn read(root: &Path) -> Result<Option<Requirements>> {
    let pyproject = root.join("pyproject.toml");
    let txt = root.join("requirements.txt");
    let mut lines = Vec::new();
    let mut source = None;
    if pyproject.is_file() {
        let text = std::fs::read_to_string(&pyproject).with_context(|| format!("reading {}", pyproject.display()))?;
        let doc: toml::Value =
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", pyproject.display()))?;
        match doc.get("project").and_then(|p| p.get("dependencies")) {
            None => {}
            Some(toml::Value::Array(list)) => {
                for item in list {
                    let Some(s) = item.as_str() else {
                        bail!("{}: `[project] dependencies` must be a list of strings", pyproject.display())
                    };
                    lines.push(s.trim().to_string());
                }
            }
            Some(_) => bail!("{}: `[project] dependencies` must be a list of strings", pyproject.display()),
        }
        source = Some(pyproject);
    }
    if txt.is_file() {
        let text = std::fs::read_to_string(&txt).with_context(|| format!("reading {}", txt.display()))?;
        for line in text.lines() {
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('-') {
                bail!("{}: pip options ({line}) are not supported; list requirements only", txt.display());
            }
            lines.push(line.to_string());
        }
        source.get_or_insert(txt);
    }
    Ok(source.map(|source| Requirements { lines, source }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyproject_then_requirements_txt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname='x'\ndependencies = ['six==1.17.0']\n").unwrap();
        std::fs::write(dir.path().join("requirements.txt"), "# c\n\nsqlparse>=0.5 # why\n").unwrap();
        let r = read(dir.path()).unwrap().unwrap();
        assert_eq!(r.lines, vec!["six==1.17.0".to_string(), "sqlparse>=0.5".to_string()]);
        assert!(read(tempfile::tempdir().unwrap().path()).unwrap().is_none());
    }
}
