//! The boot-log parser on arbitrary bytes, and the layout built from what it found.
//!
//! Properties: `parse_bytes` never panics; every stored range has an exclusive end not before its start; the
//! warning list respects its cap; a warning names a line that was read (or the first one not read); the node ranges and the firmware map it
//! yields go through `Layout::from_memory_ranges` / `normalize` without a panic, and their errors say something.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm::dmesg::{parse_bytes, MAX_WARNINGS};
use mm::layout::{normalize, Layout, LayoutOptions};

fuzz_target!(|data: &[u8]| {
    let log = parse_bytes(data);
    assert!(log.warnings.len() <= MAX_WARNINGS);
    for w in &log.warnings {
        // 1-based; the "second boot starts here" warning names the first line not read.
        assert!(w.line >= 1 && w.line <= log.lines + 1, "warning line {} of {}", w.line, log.lines);
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
