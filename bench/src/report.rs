//! The results table: printed, and written as JSON and Markdown under `bench/results/`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

/// One measured line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// What was measured.
    pub what: String,
    /// Throughput.
    pub rate: f64,
    /// Its unit (`req/s`, `events/s`, `msg/s`, `rows/s`).
    pub unit: &'static str,
    /// Latency quantiles in ms, when measured.
    pub p50_ms: Option<f64>,
    /// p99 in ms.
    pub p99_ms: Option<f64>,
    /// p99.9 in ms.
    pub p999_ms: Option<f64>,
    /// Requests that did not succeed.
    pub failed: u64,
}

/// A ratio against a ceiling or a peer, with its target.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What over what.
    pub what: String,
    /// The ratio.
    pub value: f64,
    /// The target, e.g. `>= 1.25`.
    pub target: String,
    /// Whether the target is met.
    pub met: bool,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When (RFC 3339).
    pub at: String,
    /// `quick` or `full`.
    pub mode: String,
    /// CPU cores.
    pub cores: usize,
    /// Versions of what ran.
    pub versions: Vec<(String, String)>,
    /// Measurements.
    pub lines: Vec<Line>,
    /// Ratios.
    pub ratios: Vec<Ratio>,
    /// Other figures (RSS, end-to-end latency).
    pub notes: Vec<(String, String)>,
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "".into())
}

impl Report {
    /// The Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Sendrealm benchmark ({}, {})\n", self.mode, self.at);
        let _ = writeln!(
            out,
            "{} cores; {}\n",
            self.cores,
            self.versions
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "| measurement | throughput | p50 ms | p99 ms | p99.9 ms | failed |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for l in &self.lines {
            let _ = writeln!(
                out,
                "| {} | {:.0} {} | {} | {} | {} | {} |",
                l.what,
                l.rate,
                l.unit,
                opt(l.p50_ms),
                opt(l.p99_ms),
                opt(l.p999_ms),
                l.failed
            );
        }
        let _ = writeln!(out, "\n| ratio | value | target | met |");
        let _ = writeln!(out, "|---|---:|---|---|");
        for r in &self.ratios {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} |",
                r.what,
                r.value,
                r.target,
                if r.met { "yes" } else { "no" }
            );
        }
        let _ = writeln!(out, "\n| figure | value |");
        let _ = writeln!(out, "|---|---|");
        for (k, v) in &self.notes {
            let _ = writeln!(out, "| {k} | {v} |");
        }
        out
    }

    /// Writes the report as JSON and Markdown, and as `latest.md` when `latest` (full and
    /// quick runs of the whole benchmark, not partial ones).
    pub fn write(&self, dir: &Path, latest: bool) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let stamp = self.at.replace([':', '.'], "-");
        std::fs::write(
            dir.join(format!("{stamp}-{}.json", self.mode)),
            serde_json::to_vec_pretty(self)?,
        )?;
        let md = self.markdown();
        std::fs::write(dir.join(format!("{stamp}-{}.md", self.mode)), &md)?;
        if latest {
            std::fs::write(dir.join("latest.md"), &md)?;
        }
        Ok(())
    }
}

/// Lines, ratios and notes gathered by the phases of a run.
#[derive(Debug, Default)]
pub struct Findings {
    /// Measurements.
    pub lines: Vec<Line>,
    /// Ratios.
    pub ratios: Vec<Ratio>,
    /// Other figures.
    pub notes: Vec<(String, String)>,
}

impl Findings {
    /// A load phase's line: its rate (× `per_request` events) and latency quantiles.
    pub fn measured(
        &mut self,
        what: &str,
        unit: &'static str,
        outcome: &crate::loadgen::Outcome,
        per_request: f64,
    ) {
        self.lines.push(Line {
            what: what.into(),
            rate: outcome.rate() * per_request,
            unit,
            p50_ms: Some(outcome.ms(0.5)),
            p99_ms: Some(outcome.ms(0.99)),
            p999_ms: Some(outcome.ms(0.999)),
            failed: outcome.failed,
        });
    }

    /// A throughput-only line.
    pub fn rate(&mut self, what: &str, unit: &'static str, rate: f64) {
        self.lines.push(Line {
            what: what.into(),
            rate,
            unit,
            p50_ms: None,
            p99_ms: None,
            p999_ms: None,
            failed: 0,
        });
    }

    /// A ratio that should reach at least `target`.
    pub fn at_least(&mut self, what: &str, value: f64, target: f64) {
        self.ratios.push(Ratio {
            what: what.into(),
            value,
            target: format!(">= {target}"),
            met: value >= target,
        });
    }

    /// A figure that should stay at most `target`.
    pub fn at_most(&mut self, what: &str, value: f64, target: f64) {
        self.ratios.push(Ratio {
            what: what.into(),
            value,
            target: format!("<= {target}"),
            met: value <= target,
        });
    }

    /// A figure without a target.
    pub fn note(&mut self, what: impl Into<String>, value: impl Into<String>) {
        self.notes.push((what.into(), value.into()));
    }
}
