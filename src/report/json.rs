//! The machine-readable form of a report.

use super::Report;

/// The report as pretty-printed JSON.
pub fn render(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("a report always serialises");
    s.push('\n');
    s
}
