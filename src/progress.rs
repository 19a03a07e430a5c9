//! Progress of long work on stderr: a live bar (rows read, rows per second) when stderr is a
//! terminal, plain lines otherwise (a start line, a line every 30 s, an end line), so that a
//! scheduled job's log shows where it is without control characters.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often the plain mode writes a line.
const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// Rows of one source being read.
pub struct Progress {
    label: String,
    started: Instant,
    rows: u64,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    /// Starts showing progress of `label` (a source's name and what it reads).
    pub fn start(label: &str, what: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template(
                "{spinner} {prefix}: {human_pos} rows ({per_sec}, {elapsed}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(label.to_owned());
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            eprintln!("{label}: reading {what}");
        }
        let now = Instant::now();
        Progress {
            label: label.to_owned(),
            started: now,
            rows: 0,
            bar,
            last_line: now,
        }
    }

    /// Counts `rows` more rows.
    pub fn add(&mut self, rows: u64) {
        self.rows += rows;
        match &self.bar {
            Some(bar) => bar.set_position(self.rows),
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!(
                    "{}: {} rows so far ({:.0} s)",
                    self.label,
                    self.rows,
                    self.started.elapsed().as_secs_f64()
                );
            }
            None => {}
        }
    }

    /// Ends the display with the total.
    pub fn finish(self, outcome: &str) {
        let seconds = self.started.elapsed().as_secs_f64();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "{}: {} rows in {seconds:.1} s, {outcome}",
            self.label, self.rows
        );
    }
}
