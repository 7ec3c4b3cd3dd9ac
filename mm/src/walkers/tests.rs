//! Unit tests of the walkers on small hand-made layouts.

use alloc::boxed::Box;
use alloc::vec;

use super::*;
use crate::layout::{Layout, MemRange};
use crate::model::MmOptions;
use crate::policy;
use crate::sparse::HeapBacking;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

fn boot(memory: &[MemRange], policy: &str) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    Mm::boot(&layout, MmOptions::new(policy::by_name(policy).unwrap()), Box::new(HeapBacking)).unwrap()
}

#[test]
fn registry_names_are_unique_and_stable() {
    let names = names();
    assert_eq!(
        names,
        vec![
            "compaction-migrate",
            "compaction-free",
            "fast-isolate-prefix",
            "fast-isolate",
            "zone-contiguous",
            "isolate-range",
            "offline-check",
            "kpageflags",
            "pagetypeinfo",
            "page-owner"
        ]
    );
    for n in names {
        assert_eq!(by_name(n).unwrap().name(), n);
    }
}

#[test]
fn strict_single_node_is_clean() {
    let mut mm = boot(&[m(1, 0x9f, 0), m(0x100, 0x9000, 0)], "strict");
    for r in run_all_walkers(&mut mm) {
        assert_eq!(r.total(), 0, "{}", r);
        assert_eq!(r.violations(), 0, "{}", r);
    }
}
