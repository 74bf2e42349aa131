//! How a benchmark reports: a table for people and one JSON line for comparing runs.

use serde::Serialize;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The target of record, for people (`≤ 1.0 s`); benchmarks report, they do not assert.
    pub target: Option<String>,
    /// Whether the value meets the target, when there is one.
    pub met: Option<bool>,
}

/// The figures of one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Benchmark name.
    pub bench: String,
    /// Quick (CI-sized) or full run.
    pub quick: bool,
    /// The figures.
    pub figures: Vec<Figure>,
    /// Sizes and other context.
    pub notes: Vec<String>,
    /// Git commit of the working tree, if known.
    pub commit: String,
    /// Machine: cores and CPU model.
    pub machine: String,
}

impl Report {
    /// An empty report for `bench`.
    pub fn new(bench: &str, quick: bool) -> Self {
        Self {
            bench: bench.to_owned(),
            quick,
            figures: Vec::new(),
            notes: Vec::new(),
            commit: commit(),
            machine: machine(),
        }
    }

    /// Adds a figure with no target.
    pub fn figure(&mut self, name: &str, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit,
            target: None,
            met: None,
        });
    }

    /// Adds a figure that should be at most `max` (quick runs report it without a target:
    /// their sizes are not the ones the targets are for).
    pub fn at_most(&mut self, name: &str, value: f64, unit: &'static str, max: f64) {
        if self.quick {
            return self.figure(name, value, unit);
        }
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit,
            target: Some(format!("<= {max} {unit}")),
            met: Some(value <= max),
        });
    }

    /// Adds a figure that should be at least `min` (no target on quick runs).
    pub fn at_least(&mut self, name: &str, value: f64, unit: &'static str, min: f64) {
        if self.quick {
            return self.figure(name, value, unit);
        }
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit,
            target: Some(format!(">= {min} {unit}")),
            met: Some(value >= min),
        });
    }

    /// Adds a line of context.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Prints the table and the JSON line.
    pub fn print(&self) {
        println!(
            "== bench {}{} (commit {}, {})",
            self.bench,
            if self.quick { " --quick" } else { "" },
            self.commit,
            self.machine
        );
        for n in &self.notes {
            println!("   {n}");
        }
        println!("   {:<44} {:>14} {:<6} target", "figure", "value", "unit");
        for f in &self.figures {
            let verdict = match f.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "   {:<44} {:>14.3} {:<6} {:<18} {}",
                f.name,
                f.value,
                f.unit,
                f.target.as_deref().unwrap_or(""),
                verdict
            );
        }
        if let Ok(line) = serde_json::to_string(self) {
            println!("{line}");
        }
    }
}

fn commit() -> String {
    // The checkout this binary was built from (benchmarks run where they were built).
    std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {cpu}")
}

/// Median of a sample (sorted copy); 0 for an empty sample.
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// The `p` quantile (0..=1) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx.min(v.len() - 1)]
}

/// Resident set size of a process, in MB (`VmRSS`), and its peak (`VmHWM`).
pub fn rss_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
