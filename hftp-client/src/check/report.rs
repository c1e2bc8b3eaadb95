//! What a run found, as text for people and JSON or JUnit XML for
//! graders and CI.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::wire::escape;
use super::{Failure, Kit, Section};

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server did what HFTP.md says.
    Passed,
    /// It did not.
    Failed(Failure),
    /// The case did not run, for this reason.
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's number, e.g. `4.3/4`.
    pub id: String,
    /// Its section of HFTP.md.
    pub section: Section,
    /// The rule it checks.
    pub title: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The server checked.
    pub server: SocketAddr,
    /// The kit whose expectations applied.
    pub kit: Kit,
    /// Where the check's files were created, if anywhere.
    pub datadir: Option<PathBuf>,
    /// Every case's result, in catalogue order.
    pub results: Vec<CaseResult>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Whether no case failed (skipped cases do not count against it).
    pub fn passed(&self) -> bool {
        self.failed().next().is_none()
    }

    /// The cases that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pick(&r.outcome)).count()
    }

    /// The report for people: sections, ✔/✘ per case, what was sent,
    /// expected and received for each failure, and a summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "hftp check {} (kit {}", self.server, self.kit.year());
        match &self.datadir {
            Some(dir) => {
                let _ = writeln!(out, ", files in {})", dir.display());
            }
            None => out.push_str(", no --datadir: cases that need files are skipped)\n"),
        }
        let mut section = None;
        for result in &self.results {
            if section != Some(result.section) {
                section = Some(result.section);
                let _ = writeln!(
                    out,
                    "\n{} {}",
                    result.section.number(),
                    result.section.title()
                );
            }
            match &result.outcome {
                Outcome::Passed => {
                    let _ = writeln!(out, "  ✔ {} {}", result.id, result.title);
                }
                Outcome::Skipped(why) => {
                    let _ = writeln!(out, "  - {} {} (skipped: {why})", result.id, result.title);
                }
                Outcome::Failed(failure) => {
                    let _ = writeln!(out, "  ✘ {} {}", result.id, result.title);
                    for (label, value) in details(failure) {
                        let _ = writeln!(out, "      {label:<9} {value}");
                    }
                }
            }
        }
        let passed = self.count(|o| *o == Outcome::Passed);
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        let skipped = self.count(|o| matches!(o, Outcome::Skipped(_)));
        let _ = writeln!(
            out,
            "\n{} cases: {passed} passed, {failed} failed, {skipped} skipped ({:.1} s)",
            self.results.len(),
            self.elapsed.as_secs_f64()
        );
        if failed > 0 {
            let ids: Vec<&str> = self.failed().map(|r| r.id.as_str()).collect();
            let _ = writeln!(out, "Failed: {}", ids.join(", "));
        }
        out
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        let mut out = String::from("{\n");
        let _ = writeln!(out, "  \"server\": {},", json(&self.server.to_string()));
        let _ = writeln!(out, "  \"kit\": {},", self.kit.year());
        let datadir = self
            .datadir
            .as_ref()
            .map(|d| json(&d.display().to_string()));
        let _ = writeln!(
            out,
            "  \"datadir\": {},",
            datadir.as_deref().unwrap_or("null")
        );
        let _ = writeln!(out, "  \"passed\": {},", self.passed());
        out.push_str("  \"cases\": [\n");
        for (i, result) in self.results.iter().enumerate() {
            let (outcome, extra) = match &result.outcome {
                Outcome::Passed => ("passed", String::new()),
                Outcome::Skipped(why) => ("skipped", format!(", \"reason\": {}", json(why))),
                Outcome::Failed(failure) => {
                    let fields: Vec<String> = details(failure)
                        .into_iter()
                        .map(|(label, value)| {
                            format!("{}: {}", json(label.trim_end_matches(':')), json(&value))
                        })
                        .collect();
                    ("failed", format!(", {}", fields.join(", ")))
                }
            };
            let _ = write!(
                out,
                "    {{\"id\": {}, \"section\": {}, \"title\": {}, \"outcome\": \"{outcome}\", \"seconds\": {:.3}{extra}}}",
                json(&result.id),
                json(&format!(
                    "{} {}",
                    result.section.number(),
                    result.section.title()
                )),
                json(&result.title),
                result.elapsed.as_secs_f64(),
            );
            out.push_str(if i + 1 < self.results.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        out.push_str("  ]\n}\n");
        out
    }

    /// The report as JUnit XML: a test suite per section.
    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let failed = self.count(|o| matches!(o, Outcome::Failed(_)));
        let skipped = self.count(|o| matches!(o, Outcome::Skipped(_)));
        let _ = writeln!(
            out,
            "<testsuites name=\"hftp check {}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{:.3}\">",
            xml(&self.server.to_string()),
            self.results.len(),
            self.elapsed.as_secs_f64()
        );
        let mut sections: Vec<Section> = self.results.iter().map(|r| r.section).collect();
        sections.dedup();
        for section in sections {
            let cases: Vec<&CaseResult> = self
                .results
                .iter()
                .filter(|r| r.section == section)
                .collect();
            let failed = cases
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
                .count();
            let skipped = cases
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
                .count();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\">",
                section.number(),
                xml(section.title()),
                cases.len()
            );
            for result in cases {
                let _ = write!(
                    out,
                    "    <testcase classname=\"hftp.check.{}\" name=\"{} {}\" time=\"{:.3}\"",
                    section.number(),
                    xml(&result.id),
                    xml(&result.title),
                    result.elapsed.as_secs_f64()
                );
                match &result.outcome {
                    Outcome::Passed => out.push_str("/>\n"),
                    Outcome::Skipped(why) => {
                        let _ = writeln!(
                            out,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            xml(why)
                        );
                    }
                    Outcome::Failed(failure) => {
                        let body: Vec<String> = details(failure)
                            .into_iter()
                            .map(|(l, v)| format!("{l} {v}"))
                            .collect();
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            xml(&failure.why),
                            xml(&body.join("\n"))
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// A failure's lines: label, then value.
fn details(failure: &Failure) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if failure.sent_len > 0 {
        lines.push(("sent:", escape(&failure.sent, failure.sent_len)));
    }
    lines.push(("expected:", failure.expected.clone()));
    if failure.sent_len > 0 || !failure.got.is_empty() {
        lines.push((
            "got:",
            escape(&failure.got, failure.got_len.max(failure.got.len() as u64)),
        ));
    }
    lines.push(("why:", failure.why.clone()));
    lines
}

fn json(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
