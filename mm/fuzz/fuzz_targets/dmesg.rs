//! The boot-log parser on arbitrary bytes, and the layout built from what it found.
//!
//! Properties: `parse_bytes` never panics; every stored range has an exclusive end not before its start; the
//! warning list respects its cap; a warning names a line that was read; a dropped line is always reported (every
//! one-line fact of the boot read is stored or warned about: `mm/tests/common/dmesg_oracle.rs`); the node ranges
//! and the firmware map it yields go through `Layout::from_memory_ranges` / `normalize` without a panic, and their
//! errors say something.
#![no_main]

#[path = "../../tests/common/dmesg_oracle.rs"]
mod dmesg_oracle;

use libfuzzer_sys::fuzz_target;
use mm::dmesg::{parse_bytes, MAX_WARNINGS};
use mm::layout::{normalize, Layout, LayoutOptions};

fuzz_target!(|data: &[u8]| {
    let log = parse_bytes(data);
    assert!(log.warnings.len() <= MAX_WARNINGS);
    let text = String::from_utf8_lossy(data);
    if let Err(e) = dmesg_oracle::check(&text, &log) {
        panic!("{e}");
    }
    for w in &log.warnings {
        // 1-based, and a line that was read.
        assert!(w.line >= 1 && w.line <= log.lines, "warning line {} of {}", w.line, log.lines);
        assert!(!w.reason.is_empty());
    }
    for r in log.e820.iter().chain(&log.e820_user).chain(&log.efi) {
        assert!(r.start <= r.end, "{:?}", r);
    }
    for s in &log.srat {
        assert!(s.start <= s.end, "{:?}", s);
    }
    for r in &log.early_node_ranges {
        assert!(r.start_pfn <= r.end_pfn, "{:?}", r);
    }
    if !log.early_node_ranges.is_empty() {
        if let Err(e) = Layout::from_memory_ranges(&log.early_node_ranges) {
            assert!(!e.to_string().is_empty());
        }
    }
    let map = log.firmware_map();
    if !map.is_empty() {
        if let Err(e) = normalize(map, &log.srat_affinity(), &LayoutOptions::default()) {
            assert!(!e.to_string().is_empty());
        }
    }
});
