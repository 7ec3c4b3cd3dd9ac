//! What the host commands that read boot logs (`sim`, `compare`, `explain`) say about input they read and did
//! not use, or adjusted: the parser's warnings (a line that starts like a known line and does not parse, an
//! inverted range, an end past 2^64 or past MAX_PHYSMEM_BITS, a second boot) and the layout's notes (overlaps,
//! sub-page RAM, duplicates). Printed as `memlab: <command>: warning: line N: <what>: "<the line>"`, the first
//! [`SHOWN`] of them and a count of the rest; listed whole under `warnings` in `--json`.
//!
//! # Invariants
//! - every `dmesg::Warning` and every layout note of the run becomes exactly one [`InputWarning`]; warnings the
//!   parser only counted (beyond its cap) are counted in [`Warnings::uncounted`] and said;
//! - nothing here decides: `--strict` turns a non-empty list into status 65 in the command.

use serde_json::{json, Value};

/// Warnings printed one per line; the rest are counted.
pub const SHOWN: usize = 20;

/// One thing the input said that was not used as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputWarning {
    /// The 1-based line of the log, for parser warnings; `None` for layout notes (which concern the map).
    pub line: Option<usize>,
    pub what: String,
    /// The line as read (its message part, cut), empty for layout notes.
    pub text: String,
}

impl std::fmt::Display for InputWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "line {}: {}: {:?}", n, self.what, self.text),
            None => write!(f, "layout: {}", self.what),
        }
    }
}

/// The warnings of one run over one log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Warnings {
    pub items: Vec<InputWarning>,
    /// Parser warnings beyond its cap (`dmesg::MAX_WARNINGS`): counted, not stored.
    pub uncounted: usize,
}

impl Warnings {
    /// The parser's warnings of `log` and the notes of the layout built from it.
    pub fn of(log: &mm::dmesg::BootLog, notes: &[mm::layout::LayoutNote]) -> Warnings {
        let mut items: Vec<InputWarning> = log
            .warnings
            .iter()
            .map(|w| InputWarning { line: Some(w.line), what: w.reason.clone(), text: w.text.clone() })
            .collect();
        items.extend(notes.iter().map(|n| InputWarning { line: None, what: n.to_string(), text: String::new() }));
        Warnings { items, uncounted: log.warnings_dropped }
    }

    /// How many there are in all.
    pub fn total(&self) -> usize {
        self.items.len() + self.uncounted
    }

    /// The lines to print on stderr for `command`.
    pub fn lines(&self, command: &str) -> Vec<String> {
        let mut out: Vec<String> =
            self.items.iter().take(SHOWN).map(|w| format!("memlab: {command}: warning: {w}")).collect();
        let rest = self.total().saturating_sub(SHOWN);
        if rest > 0 {
            out.push(format!(
                "memlab: {command}: warning: {} more warning(s) not shown ({} in all; --json lists {})",
                rest,
                self.total(),
                self.items.len()
            ));
        }
        out
    }

    /// Prints [`Warnings::lines`] on stderr.
    pub fn print(&self, command: &str) {
        for l in self.lines(command) {
            eprintln!("{l}");
        }
    }

    /// The `warnings` value of `--json`.
    pub fn json(&self) -> Value {
        json!({
            "count": self.total(),
            "items": self.items.iter().map(|w| json!({"line": w.line, "what": w.what, "text": w.text})).collect::<Vec<_>>(),
            "uncounted": self.uncounted,
        })
    }

    /// The `--strict` failure, if any warning was given.
    pub fn strict(&self) -> Result<(), crate::exit::Failure> {
        match self.total() {
            0 => Ok(()),
            n => Err(crate::exit::Failure::bad_input(format!("--strict: {n} input warning(s), see above"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cap_and_count() {
        let log = mm::dmesg::parse(&"BIOS-e820: [mem 0x2000-0x1000] usable\n".repeat(25));
        let w = Warnings::of(&log, &[]);
        assert_eq!(w.total(), 25);
        let lines = w.lines("sim");
        assert_eq!(lines.len(), SHOWN + 1);
        assert_eq!(
            lines[0],
            "memlab: sim: warning: line 1: range ends (0x1000) before it starts (0x2000): \"BIOS-e820: [mem 0x2000-0x1000] usable\""
        );
        assert!(lines[SHOWN].contains("5 more warning(s) not shown (25 in all"), "{}", lines[SHOWN]);
        assert_eq!(w.json()["count"], 25);
        assert!(w.strict().is_err_and(|f| f.status == crate::exit::BAD_INPUT));
        assert_eq!(Warnings::default().strict(), Ok(()));
    }
}
