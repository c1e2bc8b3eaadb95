//! The bench report: one Markdown table of figures, references, ratios
//! and targets, the commands behind every row, and the notes that say how
//! to read it.

use std::fmt::Write;

use crate::process::Server;

/// A target of the project and the figure it judges.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// hftp's figure must be at least `at_least` times the reference's;
    /// `ratio` is `None` when there was no reference to measure.
    Ratio { at_least: f64, ratio: Option<f64> },
    /// A figure that must stay at or under `limit`; a figure that could
    /// not be had at all (no reply) is `f64::INFINITY`.
    AtMost {
        limit: f64,
        value: f64,
        unit: &'static str,
    },
    /// A count that must be zero, of `what`.
    None { count: usize, what: &'static str },
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
            Target::None { what, .. } => format!("no {what}"),
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
            Target::None { count: 0, .. } => Verdict::Met,
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
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub workload: String,
    /// The server engine measured; empty for a row of the server that has
    /// only one.
    pub engine: String,
    pub hftp: String,
    pub hftp_latency: String,
    pub reference: String,
    pub reference_latency: String,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// The server's command line.
    pub server: String,
    /// What the client side did, in words a student can repeat.
    pub client: String,
}

impl Row {
    /// A row of `server`'s figures for `workload`, driven as `client` says.
    pub fn new(workload: impl Into<String>, server: &Server, client: impl Into<String>) -> Row {
        Row {
            workload: workload.into(),
            engine: server.engine().label().to_owned(),
            server: server.command().to_owned(),
            client: client.into(),
            ..Row::default()
        }
    }

    /// hftp's figure and its latency cell.
    pub fn figure(mut self, hftp: impl Into<String>, latency: impl Into<String>) -> Row {
        self.hftp = hftp.into();
        self.hftp_latency = latency.into();
        self
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self
    }

    /// A row saying that the measurement itself failed, and why.
    pub fn failed(self, error: &anyhow::Error) -> Row {
        // One line: a table cell cannot hold a newline or a bar.
        let error = format!("{error:#}").replace(['\n', '|'], " ");
        self.figure(format!("failed: {error}"), "")
    }
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
            "| workload | engine | hftp | p50 / p99 | reference | p50 / p99 | ratio | target | verdict |\n\
             |---|---|--:|--:|--:|--:|--:|--:|---|\n",
        );
        let (mut clients, mut servers) = (Footnotes::default(), Footnotes::default());
        for row in &self.rows {
            let ratio = row
                .ratio
                .map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.2}×"));
            let (target, verdict) = row.target.as_ref().map_or_else(
                || ("—".to_owned(), ""),
                |target| (target.text(), target.verdict().text()),
            );
            let client = clients.mark(&row.client, |n| n.to_string());
            let server = servers.mark(&row.server, server_mark);
            let _ = writeln!(
                out,
                "| {}{client} | {}{server} | {} | {} | {} | {} | {ratio} | {target} | {verdict} |",
                row.workload,
                row.engine,
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
        if !clients.0.is_empty() || !servers.0.is_empty() {
            out.push_str("Commands (every server from the workspace root):\n\n");
            for (n, client) in clients.0.iter().enumerate() {
                let _ = writeln!(out, "- [{}] {client}", n + 1);
            }
            for (n, server) in servers.0.iter().enumerate() {
                let _ = writeln!(out, "- [{}] `{server}`", server_mark(n + 1));
            }
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}

/// Long texts said once under the table and referred to by a mark.
#[derive(Debug, Default)]
struct Footnotes(Vec<String>);

impl Footnotes {
    /// ` [mark]` for `text` (numbered from 1 in order of first use), or
    /// nothing for an empty text.
    fn mark(&mut self, text: &str, name: impl Fn(usize) -> String) -> String {
        if text.is_empty() {
            return String::new();
        }
        let index = match self.0.iter().position(|known| known == text) {
            Some(index) => index,
            None => {
                self.0.push(text.to_owned());
                self.0.len() - 1
            }
        };
        format!(" [{}]", name(index + 1))
    }
}

/// Server footnotes are lettered apart from the numbered client ones:
/// `a`…`z`, then `s27`….
fn server_mark(n: usize) -> String {
    match u8::try_from(n) {
        Ok(n @ 1..=26) => char::from(b'a' + n - 1).to_string(),
        _ => format!("s{n}"),
    }
}

fn or_dash(cell: &str) -> &str {
    if cell.is_empty() { "—" } else { cell }
}

/// `10000` as `10,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ratio: Option<f64>, target: Option<Target>) -> Row {
        Row {
            workload: "w".to_owned(),
            hftp: "1 req/s".to_owned(),
            reference: "2 req/s".to_owned(),
            ratio,
            target,
            ..Row::default()
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
        report.push(row(
            None,
            Some(Target::AtMost {
                limit: 20.0,
                value: f64::INFINITY,
                unit: "ms",
            }),
        ));
        report.push(row(
            None,
            Some(Target::None {
                count: 0,
                what: "failure",
            }),
        ));
        let markdown = report.to_markdown();
        assert!(markdown.contains("| w |  | 1 req/s | — | 2 req/s | — | 0.90× | — |  |"));
        assert!(markdown.contains("| 0.90× | ≥ 0.80× | met |"));
        assert!(markdown.contains("| 0.40× | ≥ 0.50× | **NOT MET** |"));
        assert!(markdown.contains("| — | ≥ 0.50× | not measured |"));
        assert!(markdown.contains("| ≤ 64 MiB | met |"));
        assert!(markdown.contains("| ≤ 20 ms | **NOT MET** |"));
        assert!(markdown.contains("| no failure | met |"));
        assert!(markdown.contains("**Targets: 3 of 6 met, 2 not met, 1 not measured.**"));
        assert!(!markdown.contains("Commands"));
    }

    #[test]
    fn commands_are_footnotes_said_once() {
        let mut report = Report::new("ctx".to_owned());
        for (client, server) in [("c1", "s1"), ("c1", "s2"), ("c2", "s1")] {
            report.push(Row {
                workload: "w".to_owned(),
                engine: "e".to_owned(),
                client: client.to_owned(),
                server: server.to_owned(),
                ..Row::default()
            });
        }
        let markdown = report.to_markdown();
        assert!(markdown.contains("| w [1] | e [a] |"));
        assert!(markdown.contains("| w [1] | e [b] |"));
        assert!(markdown.contains("| w [2] | e [a] |"));
        assert!(markdown.contains("- [1] c1\n- [2] c2\n- [a] `s1`\n- [b] `s2`\n"));
    }

    #[test]
    fn marks_and_thousands() {
        assert_eq!(server_mark(1), "a");
        assert_eq!(server_mark(26), "z");
        assert_eq!(server_mark(27), "s27");
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
