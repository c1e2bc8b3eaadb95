//! The bench report: one Markdown table of figures, references, ratios
//! and targets, and the notes that say how to read it.

use std::fmt::Write;

/// A target of issue 6 and the figure it judges.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// hftp's figure must be at least `at_least` times the reference's;
    /// `ratio` is `None` when there was no reference to measure.
    Ratio { at_least: f64, ratio: Option<f64> },
    /// A figure that must stay at or under `limit`.
    AtMost {
        limit: f64,
        value: f64,
        unit: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotMeasured,
}

impl Target {
    fn text(&self) -> String {
        match *self {
            Target::Ratio { at_least, .. } => format!("≥ {at_least:.2}×"),
            Target::AtMost { limit, unit, .. } => format!("≤ {limit:.0} {unit}"),
        }
    }

    fn verdict(&self) -> Verdict {
        match *self {
            Target::Ratio { ratio: None, .. } => Verdict::NotMeasured,
            Target::Ratio {
                at_least,
                ratio: Some(ratio),
            } if ratio >= at_least => Verdict::Met,
            Target::AtMost { limit, value, .. } if value <= limit => Verdict::Met,
            _ => Verdict::NotMet,
        }
    }
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**NOT MET**",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: String,
    pub hftp: String,
    pub hftp_latency: String,
    pub reference: String,
    pub reference_latency: String,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
}

/// The whole report.
#[derive(Debug)]
pub struct Report {
    /// What was run, where: the line under the title.
    pub context: String,
    rows: Vec<Row>,
    /// Said under the table, one bullet each.
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(context: String) -> Report {
        Report {
            context,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## hftp bench\n\n{}\n", self.context);
        out.push_str(
            "| workload | hftp | p50 / p99 | reference | p50 / p99 | ratio | target | verdict |\n\
             |---|--:|--:|--:|--:|--:|--:|---|\n",
        );
        for row in &self.rows {
            let ratio = row
                .ratio
                .map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.2}×"));
            let (target, verdict) = row.target.as_ref().map_or_else(
                || ("—".to_owned(), ""),
                |target| (target.text(), target.verdict().text()),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {ratio} | {target} | {verdict} |",
                row.workload,
                or_dash(&row.hftp),
                or_dash(&row.hftp_latency),
                or_dash(&row.reference),
                or_dash(&row.reference_latency),
            );
        }
        let verdicts: Vec<Verdict> = self
            .rows
            .iter()
            .filter_map(|row| row.target.as_ref().map(Target::verdict))
            .collect();
        let count = |wanted| verdicts.iter().filter(|&&v| v == wanted).count();
        let (met, not_met, unmeasured) = (
            count(Verdict::Met),
            count(Verdict::NotMet),
            count(Verdict::NotMeasured),
        );
        let _ = write!(out, "\n**Targets: {met} of {} met", verdicts.len());
        if not_met > 0 {
            let _ = write!(out, ", {not_met} not met");
        }
        if unmeasured > 0 {
            let _ = write!(out, ", {unmeasured} not measured");
        }
        out.push_str(".**\n\n");
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}

fn or_dash(cell: &str) -> &str {
    if cell.is_empty() { "—" } else { cell }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ratio: Option<f64>, target: Option<Target>) -> Row {
        Row {
            workload: "w".to_owned(),
            hftp: "1 req/s".to_owned(),
            hftp_latency: String::new(),
            reference: "2 req/s".to_owned(),
            reference_latency: String::new(),
            ratio,
            target,
        }
    }

    #[test]
    fn verdicts_and_summary() {
        let mut report = Report::new("ctx".to_owned());
        report.push(row(Some(0.9), None));
        report.push(row(
            Some(0.9),
            Some(Target::Ratio {
                at_least: 0.8,
                ratio: Some(0.9),
            }),
        ));
        report.push(row(
            Some(0.4),
            Some(Target::Ratio {
                at_least: 0.5,
                ratio: Some(0.4),
            }),
        ));
        report.push(row(
            None,
            Some(Target::Ratio {
                at_least: 0.5,
                ratio: None,
            }),
        ));
        report.push(row(
            None,
            Some(Target::AtMost {
                limit: 64.0,
                value: 12.0,
                unit: "MiB",
            }),
        ));
        let markdown = report.to_markdown();
        assert!(markdown.contains("| w | 1 req/s | — | 2 req/s | — | 0.90× | — |  |"));
        assert!(markdown.contains("| 0.90× | ≥ 0.80× | met |"));
        assert!(markdown.contains("| 0.40× | ≥ 0.50× | **NOT MET** |"));
        assert!(markdown.contains("| — | ≥ 0.50× | not measured |"));
        assert!(markdown.contains("| ≤ 64 MiB | met |"));
        assert!(markdown.contains("**Targets: 2 of 4 met, 1 not met, 1 not measured.**"));
    }
}
