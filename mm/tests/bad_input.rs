//! The bad-input catalogue (this file and `bad_input/{layout, acpi, cmdline, boot_log}.rs`): one test per kind
//! of bad input, fed to the real entry point (layout normalization,
//! the ACPI parsers, the command-line parser, the boot-log parser), asserting the exact named error or note and
//! its `Display` message. The README's "Bad input" table lists every test here by name, and
//! [`readme_lists_every_catalogue_test`] checks that the two agree, so neither can rot.
//!
//! Nothing here may panic: bad input is a named error (the input is refused) or a named note (the input is
//! repaired in a documented way and the repair is recorded).

use mm::acpi::{
    find_srat, finish_sdt, map_nodes, parse_srat, read_rsdp, AcpiError, AffinityFlags, LocalApicAffinity,
    MemoryAffinity, MemoryImage, SkippedEntry, Srat, SratEntry, Table, RSDP_SIGNATURE, RSDT, SRAT, XSDT,
};
use mm::cmdline::{
    check_conflicts, parse, parse_raw, CmdlineError, Conflict, KeySpec, NumberError, ValueError, ValueKind,
};
use mm::layout::{
    normalize, x86_e820_quirks, FirmwareRegion, Layout, LayoutError, LayoutNote, LayoutOptions, MemRange, NumaAffinity,
    RegionKind::*, E820_MAX_ENTRIES, NR_NODE_MEMBLKS,
};

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

fn fr(start: u64, end: u64, kind: mm::layout::RegionKind) -> FirmwareRegion {
    FirmwareRegion::new(start, end, kind)
}

fn node(nid: u32, start: u64, end: u64) -> NumaAffinity {
    NumaAffinity { nid, start, end, hotplug: false }
}

fn norm(regions: &[FirmwareRegion], numa: &[NumaAffinity]) -> Result<Layout, LayoutError> {
    normalize(regions, numa, &LayoutOptions::default())
}

/// Asserts the error and its message.
fn assert_err<E: PartialEq + std::fmt::Debug + std::fmt::Display, T: std::fmt::Debug>(
    got: Result<T, E>,
    want: E,
    msg: &str,
) {
    let e = got.expect_err("bad input must be refused");
    assert_eq!(e, want);
    assert_eq!(e.to_string(), msg);
}

#[path = "bad_input/acpi.rs"]
mod acpi;
#[path = "bad_input/boot_log.rs"]
mod boot_log;
#[path = "bad_input/cmdline.rs"]
mod cmdline;
#[path = "bad_input/layout.rs"]
mod layout;

// ---- the README lists this catalogue ---------------------------------------------------------------------------

/// The names of the `#[test]` functions of the catalogue, in order.
fn catalogue_tests() -> Vec<String> {
    let src = [
        include_str!("bad_input/layout.rs"),
        include_str!("bad_input/acpi.rs"),
        include_str!("bad_input/cmdline.rs"),
        include_str!("bad_input/boot_log.rs"),
        include_str!("bad_input.rs"),
    ]
    .concat();
    let mut out = Vec::new();
    let mut lines = src.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "#[test]" {
            let f = lines.next().unwrap_or("");
            let name = f.trim().trim_start_matches("fn ").split('(').next().unwrap_or("").to_string();
            out.push(name);
        }
    }
    out
}

#[test]
fn readme_lists_every_catalogue_test() {
    let readme = include_str!("../../docs/robustness.md");
    let section = readme.split("\n## Bad input\n").nth(1).expect("docs/robustness.md has a \"## Bad input\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    // The last column of every table row is the test name in backquotes.
    let listed: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| input"))
        .filter_map(|l| l.trim_end_matches('|').rsplit('|').next())
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect();
    let tests: Vec<String> =
        catalogue_tests().into_iter().filter(|t| t != "readme_lists_every_catalogue_test").collect();
    assert!(tests.len() >= 40, "{tests:?}");
    let missing: Vec<&String> = tests.iter().filter(|t| !listed.contains(t)).collect();
    let stale: Vec<&String> = listed.iter().filter(|t| !tests.contains(t)).collect();
    assert!(missing.is_empty(), "tests not in the README's Bad input table: {missing:?}");
    assert!(stale.is_empty(), "README rows naming no test of mm/tests/bad_input: {stale:?}");
}
