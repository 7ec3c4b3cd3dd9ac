//! Property tests over random layouts (up to 64 memory ranges on up to 8 nodes, with holes of every size,
//! ranges straddling zone boundaries, descending, interleaved and memory-less nodes):
//! - `strict` ends with zero verifier findings and keeps every promise;
//! - `upstream` equals an independent, deliberately simple reference of Linux's final rule, page by page and
//!   line by line;
//! - every policy boots without error and keeps its zone accounting consistent;
//! - the `layout_memmap` fuzz target's property on random firmware maps (`fuzz_twin_layout_memmap`).

mod common;

use proptest::prelude::*;

use mm::consts::*;
use mm::layout::{self, FirmwareRegion, Layout, LayoutOptions, MemRange, NumaAffinity, RegionKind};
use mm::model::{Mm, MmOptions};
use mm::policy::{self, POLICIES};
use mm::sparse::HeapBacking;
use mm::verify::verify;
use mm::zones::ZoneType;

fn layout_strategy() -> impl Strategy<Value = Vec<MemRange>> {
    common::layout_strategy(64, 4000, 8, 3)
}

fn boot(memory: &[MemRange], name: &str) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    let mut opts = MmOptions::new(policy::by_name(name).unwrap());
    opts.compressed = true;
    opts.allow_unplaced_memmap = true;
    Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap()
}

/// Linux's final rule, written from the table in shared/reference/linux-mm.md without looking at the policy:
/// a memory page has its range's node and the zone that spans it; a valid hole takes the node and zone of the
/// next memory page above it; holes above the last memory page take the last range's node and that node's
/// highest populated zone. A valid pfn is one in a section that holds memory.
struct Reference {
    memory: Vec<MemRange>,
}

impl Reference {
    fn valid(&self, pfn: u64) -> bool {
        let nr = pfn_to_section_nr(pfn);
        self.memory.iter().any(|r| pfn_to_section_nr(r.start_pfn) <= nr && nr <= pfn_to_section_nr(r.end_pfn - 1))
    }
    fn memory_at(&self, pfn: u64) -> Option<&MemRange> {
        self.memory.iter().find(|r| r.start_pfn <= pfn && pfn < r.end_pfn)
    }
    /// (nid, zone, reserved) of a valid pfn.
    fn expect(&self, mm: &Mm, pfn: u64) -> (u32, ZoneType, bool) {
        if let Some(r) = self.memory_at(pfn) {
            return (r.nid, mm.zones.zone_for_pfn(r.nid, pfn).unwrap(), false);
        }
        match self.memory.iter().find(|r| r.start_pfn > pfn) {
            Some(next) => (next.nid, mm.zones.zone_for_pfn(next.nid, next.start_pfn).unwrap(), true),
            None => {
                let last = self.memory.last().unwrap();
                let node = mm.zones.node(last.nid).unwrap();
                let top = node.zones.iter().filter(|z| z.present_pages > 0).map(|z| z.zone_type).max().unwrap();
                (last.nid, top, true)
            }
        }
    }
    /// The expected unavailable-ranges lines: one per gap with valid pages (head, between ranges, tail).
    fn lines(&self, mm: &Mm) -> Vec<String> {
        let mut gaps = Vec::new();
        let mut prev = 0;
        for r in &self.memory {
            if prev < r.start_pfn {
                gaps.push((prev, r.start_pfn));
            }
            prev = r.end_pfn;
        }
        gaps.push((prev, align_up(prev, PAGES_PER_SECTION)));
        let mut out = Vec::new();
        for (s, e) in gaps {
            // Valid pages of the gap, a section at a time.
            let mut n = 0;
            let mut p = s;
            while p < e {
                let sec_end = (pfn_to_section_nr(p) + 1) * PAGES_PER_SECTION;
                if self.valid(p) {
                    n += sec_end.min(e) - p;
                }
                p = sec_end;
            }
            if n > 0 {
                let (nid, zone, _) = self.expect(mm, s);
                out.push(format!("On node {}, zone {}: {} pages in unavailable ranges", nid, zone.name(), n));
            }
        }
        out
    }
}

/// Random firmware maps: any kinds (raw e820 numbers included), overlaps, duplicates, unaligned and empty
/// regions, and random NUMA ranges (some overlapping, some with bad node ids).
fn firmware_strategy() -> impl Strategy<Value = (Vec<FirmwareRegion>, Vec<NumaAffinity>)> {
    let kind = prop_oneof![
        4 => Just(RegionKind::Usable),
        1 => Just(RegionKind::BootloaderReserved),
        1 => (1u32..20).prop_map(RegionKind::from_e820_type),
        1 => any::<u32>().prop_map(RegionKind::UefiType),
    ];
    let region = (0u64..1 << 34, 0u64..1 << 30, kind).prop_map(|(s, len, k)| FirmwareRegion::new(s, s + len, k));
    let numa = (0u32..70, 0u64..1 << 34, 0u64..1 << 33, any::<bool>())
        .prop_map(|(nid, s, len, hotplug)| NumaAffinity { nid, start: s, end: s + len, hotplug });
    (prop::collection::vec(region, 0..40), prop::collection::vec(numa, 0..10))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn normalize_never_panics_and_keeps_its_invariants((regions, numa) in firmware_strategy()) {
        match layout::normalize(&regions, &numa, &LayoutOptions::default()) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(l) => {
                for w in l.regions.windows(2) {
                    prop_assert!(w[0].end <= w[1].start);
                    prop_assert!(w[0].end < w[1].start || w[0].kind != w[1].kind);
                }
                for w in l.memory.windows(2) {
                    prop_assert!(w[0].end_pfn <= w[1].start_pfn);
                    prop_assert!(w[0].end_pfn < w[1].start_pfn || w[0].nid != w[1].nid);
                }
                // Nothing lost: memory pages + dropped (no node) pages = whole RAM pages of the regions.
                let ram: u64 = l.regions.iter().filter(|r| r.kind.is_ram())
                    .map(|r| (r.end >> PAGE_SHIFT).saturating_sub((r.start + PAGE_SIZE - 1) >> PAGE_SHIFT)).sum();
                prop_assert_eq!(l.memory_pages() + (l.uncovered_bytes >> PAGE_SHIFT), ram);
                for r in &l.reserved {
                    prop_assert!(l.memory.iter().any(|m| m.start_pfn <= r.start_pfn && r.end_pfn <= m.end_pfn)
                        || l.uncovered_bytes > 0);
                }
                // And the model boots on it under the default policy.
                let mut opts = MmOptions::new(policy::by_name("upstream").unwrap());
                opts.compressed = true;
                opts.allow_unplaced_memmap = true;
                let mm = Mm::boot(&l, opts, Box::new(HeapBacking));
                prop_assert!(mm.is_ok(), "{:?}", mm.err());
            }
        }
    }

    #[test]
    fn strict_has_no_findings(memory in layout_strategy()) {
        let mm = boot(&memory, "strict");
        let v = verify(&mm);
        prop_assert_eq!(v.total(), 0, "{:?}", v.first);
        prop_assert!(v.broken_promises.is_empty(), "{:?}", v.broken_promises);
        prop_assert_eq!(mm.checker.total_violations, 0);
    }

    #[test]
    fn upstream_matches_the_reference(memory in layout_strategy()) {
        let mm = boot(&memory, "upstream");
        let reference = Reference { memory: mm.memblock.memory.clone() };
        let lines: Vec<String> =
            mm.lines.iter().filter(|l| l.contains("unavailable ranges")).cloned().collect();
        prop_assert_eq!(lines, reference.lines(&mm));
        for nr in mm.sparse.valid_sections() {
            let s = section_nr_to_pfn(nr);
            for pfn in (s..s + PAGES_PER_SECTION).step_by(61).chain([s, s + PAGES_PER_SECTION - 1]) {
                let page = mm.sparse.pfn_to_page(pfn).unwrap();
                let links = page.links(pfn).unwrap();
                let (nid, zone, hole) = reference.expect(&mm, pfn);
                prop_assert_eq!((links.nid, links.zone), (nid, zone as u8), "pfn {:#x}", pfn);
                if hole {
                    prop_assert!(page.is_reserved(), "hole pfn {:#x} reserved", pfn);
                }
            }
        }
        let v = verify(&mm);
        prop_assert_eq!(v.count(mm::verify::FindingKind::Poisoned), 0);
        prop_assert_eq!(v.count(mm::verify::FindingKind::MemoryWrongLinks), 0);
    }

}

proptest! {
    // Seven boots and verifications per case: fewer cases.
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_policy_boots_with_consistent_accounting(memory in layout_strategy()) {
        for p in POLICIES {
            let mm = boot(&memory, p.name());
            let v = verify(&mm);
            prop_assert!(v.accounting.is_empty(), "{}: {:?}", p.name(), v.accounting);
            let present: u64 = mm.zones.nodes.iter().map(|n| n.node_present_pages).sum();
            prop_assert_eq!(present, mm.memblock.memory.iter().map(|r| r.pages()).sum::<u64>());
        }
    }
}

proptest! {
    // The `layout_memmap` fuzz target's property, briefly: a firmware map (any kinds, overlaps, duplicates,
    // unaligned and empty regions, random NUMA ranges) is either refused with a one-line error, or normalized and
    // booted under a policy chosen by the input with consistent accounting, present pages = the layout's memory
    // pages, and under `strict` no finding, no broken promise and no pageblock violation.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_twin_layout_memmap((regions, numa) in firmware_strategy(), policy_ix in 0usize..64) {
        let l = match layout::normalize(&regions, &numa, &LayoutOptions::default()) {
            Ok(l) => l,
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.is_empty() && !msg.contains('\n'), "{:?}", msg);
                return Ok(());
            }
        };
        for n in &l.notes {
            prop_assert!(!n.to_string().is_empty() && !n.to_string().contains('\n'));
        }
        let p = POLICIES[policy_ix % POLICIES.len()];
        let mut opts = MmOptions::new(p);
        opts.compressed = true;
        opts.allow_unplaced_memmap = true;
        let mm = Mm::boot(&l, opts, Box::new(HeapBacking)).map_err(|e| TestCaseError::fail(format!("{}: {}", p.name(), e)))?;
        let v = verify(&mm);
        prop_assert!(v.accounting.is_empty(), "{}: {:?}", p.name(), v.accounting);
        let present: u64 = mm.zones.nodes.iter().map(|n| n.node_present_pages).sum();
        prop_assert_eq!(present, l.memory_pages(), "{}", p.name());
        if p.name() == "strict" {
            prop_assert_eq!(v.total(), 0, "strict: {:?}", v.first);
            prop_assert!(v.broken_promises.is_empty(), "strict: {:?}", v.broken_promises);
            prop_assert_eq!(mm.checker.total_violations, 0);
        }
    }
}

/// A full (uncompressed) boot, with the memmap written once (default) or poisoned first and written again.
fn boot_full(memory: &[MemRange], name: &str, prefill: bool, poison: bool) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    let mut opts = MmOptions::new(policy::by_name(name).unwrap());
    opts.allow_unplaced_memmap = true;
    opts.prefill = prefill;
    opts.poison = poison;
    Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Single-pass memmap init (each struct page written once, the uninitialized ones poisoned afterwards) ends in
    /// exactly the bytes of Linux's two passes (poison everything, then initialize), under every policy, with
    /// poison on and off.
    #[test]
    fn single_pass_memmap_init_equals_poison_then_init(memory in layout_strategy()) {
        for p in POLICIES {
            for poison in [true, false] {
                let once = boot_full(&memory, p.name(), false, poison);
                let twice = boot_full(&memory, p.name(), true, poison);
                prop_assert_eq!(&once.lines, &twice.lines);
                let sections: Vec<u64> = once.sparse.valid_sections().collect();
                prop_assert_eq!(&sections, &twice.sparse.valid_sections().collect::<Vec<_>>());
                for nr in sections {
                    let s = section_nr_to_pfn(nr);
                    for pfn in s..s + PAGES_PER_SECTION {
                        let (a, b) = (once.sparse.pfn_to_page(pfn).unwrap(), twice.sparse.pfn_to_page(pfn).unwrap());
                        prop_assert!(a == b, "{} poison {} pfn {:#x}: {:?} != {:?}", p.name(), poison, pfn, a, b);
                    }
                }
            }
        }
    }
}
