//! An oracle for "a line the boot-log parser drops is always reported": it recognizes the one-line facts of a
//! log by their prefixes alone (independently of the parser's grammar) and checks that each such line of the
//! boot read was stored or warned about. Shared by the `dmesg` fuzz target and the property test.

use mm::dmesg::{message, BootLog};

/// The categories of one-line facts: the prefix test and how many the parser stored.
type Category = (&'static str, fn(&str) -> bool, fn(&BootLog) -> usize);

const CATEGORIES: &[Category] = &[
    ("BIOS-e820", |m| m.starts_with("BIOS-e820:"), |l| l.e820.len()),
    ("efi memNN", |m| efi(m), |l| l.efi.len()),
    (
        "e820 update/remove",
        |m| m.starts_with("e820: update ") || m.starts_with("e820: remove "),
        |l| l.e820_adjustments.len(),
    ),
    ("SRAT node", |m| m.strip_prefix("ACPI: ").unwrap_or(m).starts_with("SRAT: Node "), |l| l.srat.len()),
    (
        "On node .. unavailable",
        |m| m.starts_with("On node ") && m.contains(" unavailable ranges"),
        |l| l.unavailable.len(),
    ),
    ("Initmem setup", |m| m.starts_with("Initmem setup node "), |l| l.initmem_setup.len()),
    (
        "Zeroed struct page",
        |m| m.starts_with("Zeroed struct page in unavailable ranges:"),
        |l| l.zeroed_unavailable.is_some() as usize,
    ),
    (
        "Reserved but unavailable",
        |m| m.starts_with("Reserved but unavailable:"),
        |l| l.reserved_unavailable.is_some() as usize,
    ),
];

fn efi(m: &str) -> bool {
    m.strip_prefix("efi: mem")
        .and_then(|r| r.split_once(": "))
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// Checks the invariant on `text` and the log the parser made of it; `Err` names the category and the counts.
pub fn check(text: &str, log: &BootLog) -> Result<(), String> {
    if log.warnings_dropped > 0 {
        // Beyond the cap the warnings are only counted (and that count is reported): no line-level check.
        return Ok(());
    }
    // Only the last boot's lines count: earlier boots are reported by the "second boot" warning.
    let first = log
        .warnings
        .iter()
        .filter(|w| w.reason.starts_with("a second boot starts here"))
        .map(|w| w.line)
        .max()
        .unwrap_or(1);
    let warned: std::collections::BTreeSet<usize> = log.warnings.iter().map(|w| w.line).collect();
    for (name, is, stored) in CATEGORIES {
        let lines: Vec<usize> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, message(l)))
            .filter(|&(n, m)| n >= first && is(m))
            .map(|(n, _)| n)
            .collect();
        let silent = lines.iter().filter(|n| !warned.contains(n)).count();
        if silent > stored(log) {
            return Err(format!(
                "{name}: {} line(s) of the boot read, {} warned, but only {} stored: a line was dropped silently",
                lines.len(),
                lines.len() - silent,
                stored(log)
            ));
        }
    }
    Ok(())
}
