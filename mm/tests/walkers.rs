//! The pfn walkers on the reference layouts under every policy: a table of what each walker finds, the answers
//! Linux would give (contiguity, offline zones, pagetypeinfo counts) with the reasoning, and a property test on
//! random layouts (no walker panics; under `strict` no walker finds anything about the memmap).
//!
//! Table cells are signatures of a walk report: the non-zero finding counts by kind, then `viol=N` (pageblock
//! check violations at the walker's call sites) and `tol=N` (violations tolerated on PG_reserved pages), "" for a
//! clean walk. Columns follow `mm::policy::POLICIES`.

mod common;

use proptest::prelude::*;

use mm::consts::*;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy::{self, POLICIES};
use mm::sparse::HeapBacking;
use mm::walkers::{run_all_walkers, run_walker, BlockFailure, FindingKind, NotContiguous, WalkReport, WALKERS};
use mm::zones::ZoneType;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

/// QEMU `-m 4000M` (pc) after Linux's e820 quirks: RAM ends 32 MiB into section 39.
fn m4000() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

/// Andrea Arcangeli's report: `-m 4000M` with the "Unknown E820 type" range 0x39639000-0x39814fff taken out
/// (`memmap=` in issue 4's compaction-hole scenario): a hole that starts pageblock 0x39800 inside DMA32.
fn andrea() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0x39639, 0), m(0x39815, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

/// The Dell T5500 sample's `Early memory node ranges` (numa=off).
fn t5500() -> Vec<MemRange> {
    vec![m(1, 0x9e, 0), m(0x100, 0xcfdf9, 0), m(0x100000, 0xa30000, 0)]
}

/// `-m 8G` with nodes of 4160M and 4032M: node 1 starts at 0x144000, inside section 40.
fn two_node() -> Vec<MemRange> {
    vec![m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x144000, 0), m(0x144000, 0x240000, 1)]
}

/// Descending nodes: node 1 holds the low memory, node 0 the high; the boundary inside section 7.
fn descending() -> Vec<MemRange> {
    vec![m(1, 0x9f, 1), m(0x100, 0x3e800, 1), m(0x3e800, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]
}

fn boot_with(memory: &[MemRange], policy: &str, compressed: bool) -> Mm {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    let mut opts = MmOptions::new(policy::by_name(policy).unwrap());
    opts.compressed = compressed;
    opts.allow_unplaced_memmap = true;
    Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap()
}

fn boot(memory: &[MemRange], policy: &str) -> Mm {
    boot_with(memory, policy, true)
}

fn walk(memory: &[MemRange], policy: &str, walker: &str) -> WalkReport {
    let mut mm = boot(memory, policy);
    run_walker(&mut mm, mm::walkers::by_name(walker).unwrap())
}

fn sig(r: &WalkReport) -> String {
    let mut v: Vec<String> =
        FindingKind::ALL.iter().filter(|k| r.count(**k) > 0).map(|k| format!("{}={}", k.name(), r.count(*k))).collect();
    if r.violations() > 0 {
        v.push(format!("viol={}", r.violations()));
    }
    if r.tolerated > 0 {
        v.push(format!("tol={}", r.tolerated));
    }
    v.join(" ")
}

const POLICY_ORDER: [&str; 7] =
    ["zeroed-no-tail", "zeroed", "reserved-relaxed", "span-extend", "upstream", "strict", "nearest"];

type Row = (&'static str, [&'static str; 7]);

const ZDS1: &str = "zone-does-not-span=1";
const PREFIX_PFN0: &str = "pageblock-check=1 zone-does-not-span=1 viol=1";

/// m4000. The 0xbffe0 hole (32 pages in section 23, inside DMA32's span) has DMA links under the zeroed policies
/// and Normal links under upstream: block 0xbfe00's last page 0xbffff makes every pageblock_pfn_to_page user
/// stop there (1 finding), and page_owner reads all 32. pfn 0 lies below ZONE_DMA (which starts at pfn 1):
/// the pre-6e2b7044c199 fast search reaches set_pageblock_skip on it (min_pfn 0 in the contiguous DMA zone),
/// isolation and test_pages_in_a_zone read its links. The tail of section 39 (24576 pages) is in no zone's span;
/// only kpageflags reads it, poisoned under zeroed-no-tail.
const M4000: &[Row] = &[
    ("compaction-migrate", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("compaction-free", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    (
        "fast-isolate-prefix",
        [PREFIX_PFN0, PREFIX_PFN0, "zone-does-not-span=1 tol=1", "", PREFIX_PFN0, "", "pageblock-check=1 viol=1"],
    ),
    ("fast-isolate", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("zone-contiguous", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("isolate-range", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("offline-check", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("kpageflags", ["poisoned=24576", "", "", "", "", "", ""]),
    ("pagetypeinfo", ["", "", "", "", "", "", ""]),
    (
        "page-owner",
        [
            "zone-does-not-span=32",
            "zone-does-not-span=32",
            "zone-does-not-span=32",
            "",
            "zone-does-not-span=32",
            "",
            "",
        ],
    ),
];

/// Andrea's hole adds, under the zeroed policies, the pageblock 0x39800 that starts in it: its first page has
/// DMA links, so the pre-fix fast search hits the VM_BUG_ON there (a second pageblock-check), pageblock 0x39600
/// ends in it (0x397ff), pagetypeinfo, isolation and the offline check sample 0x39800, and page_owner reads all
/// 476 hole pages. Under upstream the hole lies inside DMA32 and gets DMA32: gone.
const ANDREA: &[Row] = &[
    ("compaction-migrate", ["zone-does-not-span=3", "zone-does-not-span=3", "zone-does-not-span=3", "", ZDS1, "", ""]),
    ("compaction-free", ["zone-does-not-span=3", "zone-does-not-span=3", "zone-does-not-span=3", "", ZDS1, "", ""]),
    (
        "fast-isolate-prefix",
        [
            "pageblock-check=2 zone-does-not-span=3 viol=2",
            "pageblock-check=2 zone-does-not-span=3 viol=2",
            "zone-does-not-span=3 tol=2",
            "",
            PREFIX_PFN0,
            "",
            "pageblock-check=1 viol=1",
        ],
    ),
    ("fast-isolate", ["zone-does-not-span=3", "zone-does-not-span=3", "zone-does-not-span=3", "", ZDS1, "", ""]),
    ("zone-contiguous", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("isolate-range", ["zone-does-not-span=2", "zone-does-not-span=2", "zone-does-not-span=2", "", ZDS1, "", ZDS1]),
    ("offline-check", ["zone-does-not-span=2", "zone-does-not-span=2", "zone-does-not-span=2", "", ZDS1, "", ZDS1]),
    ("kpageflags", ["poisoned=24576", "", "", "", "", "", ""]),
    ("pagetypeinfo", [ZDS1, ZDS1, ZDS1, "", "", "", ""]),
    (
        "page-owner",
        [
            "zone-does-not-span=508",
            "zone-does-not-span=508",
            "zone-does-not-span=508",
            "",
            "zone-does-not-span=32",
            "",
            "",
        ],
    ),
];

/// T5500: the hole 0xcfdf9-0xd0000 (519 pages) ends pageblock 0xcfc00 and fills pageblock 0xcfe00, so the
/// block scanners meet both 0xcfdff and 0xcfe00, pagetypeinfo samples 0xcfe00; isolation stops at the reserved
/// hole inside block 0xcfc00 before reaching 0xcfe00. RAM ends on a section boundary: no tail.
/// Under `upstream` (Linux >= 5.12) the pageblock at 0xcfe00, past the last subsection with memory below 4 GiB,
/// has no online page (`pfn_to_online_page` checks the subsection bit, 9f9b02e5b346): the scanners skip it, so
/// they find one pfn fewer than the kernels before 5.12.
const T5500: &[Row] = &[
    (
        "compaction-migrate",
        ["zone-does-not-span=2", "zone-does-not-span=2", "zone-does-not-span=2", "", "zone-does-not-span=1", "", ""],
    ),
    (
        "compaction-free",
        ["zone-does-not-span=2", "zone-does-not-span=2", "zone-does-not-span=2", "", "zone-does-not-span=1", "", ""],
    ),
    (
        "fast-isolate-prefix",
        [
            "pageblock-check=1 zone-does-not-span=2 viol=1",
            "pageblock-check=1 zone-does-not-span=2 viol=1",
            "zone-does-not-span=2 tol=1",
            "",
            "pageblock-check=1 zone-does-not-span=1 viol=1",
            "",
            "pageblock-check=1 viol=1",
        ],
    ),
    (
        "fast-isolate",
        ["zone-does-not-span=2", "zone-does-not-span=2", "zone-does-not-span=2", "", "zone-does-not-span=1", "", ""],
    ),
    ("zone-contiguous", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("isolate-range", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("offline-check", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("kpageflags", ["", "", "", "", "", "", ""]),
    ("pagetypeinfo", [ZDS1, ZDS1, ZDS1, "", "", "", ""]),
    (
        "page-owner",
        [
            "zone-does-not-span=519",
            "zone-does-not-span=519",
            "zone-does-not-span=519",
            "",
            "zone-does-not-span=519",
            "",
            "",
        ],
    ),
];

/// Two nodes meeting inside section 40 at a pageblock boundary with no hole between them: the walkers find what
/// they find on m4000 without the tail (node 1 ends on a section boundary). span-extend's overlapping node spans
/// make node 0's Normal non-contiguous and hand section 40's memory of node 0 to node 1, without a finding: the
/// links it writes are spanned (the verifier's MemoryWrongLinks is what catches them).
const TWO_NODE: &[Row] = &[
    ("compaction-migrate", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("compaction-free", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    (
        "fast-isolate-prefix",
        [PREFIX_PFN0, PREFIX_PFN0, "zone-does-not-span=1 tol=1", "", PREFIX_PFN0, "", "pageblock-check=1 viol=1"],
    ),
    ("fast-isolate", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("zone-contiguous", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("isolate-range", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("offline-check", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("kpageflags", ["", "", "", "", "", "", ""]),
    ("pagetypeinfo", ["", "", "", "", "", "", ""]),
    (
        "page-owner",
        [
            "zone-does-not-span=32",
            "zone-does-not-span=32",
            "zone-does-not-span=32",
            "",
            "zone-does-not-span=32",
            "",
            "",
        ],
    ),
];

/// Descending nodes: node 0 has no DMA memory, so the zeroed policies link node 1's DMA holes (0x9f-0x100) to
/// node 0's empty DMA zone: page_owner reads 97 more pages whose zone spans nothing. Under upstream they get node
/// 1's DMA (the next range's zone) and only the 32 pages at 0xbffe0 remain.
const DESCENDING: &[Row] = &[
    ("compaction-migrate", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("compaction-free", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    (
        "fast-isolate-prefix",
        [PREFIX_PFN0, PREFIX_PFN0, "zone-does-not-span=1 tol=1", "", PREFIX_PFN0, "", "pageblock-check=1 viol=1"],
    ),
    ("fast-isolate", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("zone-contiguous", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ""]),
    ("isolate-range", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("offline-check", [ZDS1, ZDS1, ZDS1, "", ZDS1, "", ZDS1]),
    ("kpageflags", ["poisoned=24576", "", "", "", "", "", ""]),
    ("pagetypeinfo", ["", "", "", "", "", "", ""]),
    (
        "page-owner",
        [
            "zone-does-not-span=129",
            "zone-does-not-span=129",
            "zone-does-not-span=129",
            "",
            "zone-does-not-span=32",
            "",
            "",
        ],
    ),
];

fn layouts() -> Vec<(&'static str, Vec<MemRange>, &'static [Row])> {
    vec![
        ("m4000", m4000(), M4000),
        ("andrea", andrea(), ANDREA),
        ("t5500", t5500(), T5500),
        ("two-node", two_node(), TWO_NODE),
        ("descending", descending(), DESCENDING),
    ]
}

#[test]
fn every_walker_on_every_layout_under_every_policy() {
    // The table's columns are these policies (a policy registered later runs in
    // `policies_outside_the_table_walk_without_panics`).
    let table: Vec<_> = POLICY_ORDER.iter().map(|n| mm::policy::by_name(n).expect("table policy registered")).collect();
    for (name, memory, rows) in layouts() {
        assert_eq!(rows.len(), WALKERS.len(), "{}: one row per walker", name);
        for (i, p) in table.iter().enumerate() {
            let mut mm = boot(&memory, p.name());
            let boot_violations = mm.checker.total_violations;
            let reports = run_all_walkers(&mut mm);
            for (r, (walker, expected)) in reports.iter().zip(rows) {
                assert_eq!(r.walker, *walker, "{}: rows in registry order", name);
                assert_eq!(sig(r), expected[i], "{} {} {}:\n{}", name, p.name(), walker, r.lines().join("\n"));
            }
            let walk_violations: u64 = reports.iter().map(|r| r.violations()).sum();
            assert_eq!(mm.checker.total_violations, boot_violations + walk_violations, "{} {}", name, p.name());
            if p.name() == "strict" {
                // The promise of strict, seen by the walkers: nothing found, the pageblock check never fails,
                // nothing left behind.
                for r in &reports {
                    assert_eq!((r.total(), r.violations(), r.tolerated), (0, 0, 0), "{} strict {}", name, r);
                    assert!(r.skip_left_set.is_empty() && r.stopped.is_none());
                }
                assert_eq!(mm.checker.total_violations, 0);
            }
        }
    }
}

#[test]
fn zeroed_prefix_fast_isolate_hits_the_vm_bug_on_where_linux_did() {
    // m4000: the pre-fix walker's VM_BUG_ON is at pfn 0, not at the 0xbffe0 hole. fast_isolate_freepages hands
    // set_pageblock_skip only pageblock-start pages (`highest`, `min_pfn`) or the free page it found, and the
    // block holding 0xbffe0-0xbffff starts at 0xbfe00, which is memory in DMA32. pfn 0 is a pageblock start
    // below ZONE_DMA (which starts at pfn 1, mid-pageblock: Vlastimil Babka's first bullet), reached through
    // `min_pfn` in the contiguous DMA zone; its zeroed page claims DMA, which does not span it.
    let r = walk(&m4000(), "zeroed", "fast-isolate-prefix");
    let f = r.first_of(FindingKind::PageblockCheck).unwrap();
    assert_eq!((f.pfn, f.links.map(|l| (l.nid, l.zone)), f.reserved), (0, Some((0, 0)), true));
    assert_eq!(f.site, "fast_isolate_around (pre-6e2b7044c199)");
    // The 0xbffe0 hole is where page_owner, which reads page_zone() of every pfn of DMA32, trips.
    let owner = walk(&m4000(), "zeroed", "page-owner");
    assert_eq!(owner.first_of(FindingKind::ZoneDoesNotSpan).unwrap().pfn, 0xbffe0);
    assert_eq!(owner.zone(0, ZoneType::Dma32).unwrap().stat("pages of other zones"), 32);

    // Andrea's layout: the VM_BUG_ON at pfn 0x39800 of his report: a reserved page with node 0 / zone DMA
    // links inside DMA32, through fast_isolate_freepages -> fast_isolate_around -> set_pageblock_skip.
    let r = walk(&andrea(), "zeroed", "fast-isolate-prefix");
    let hits: Vec<(u64, bool)> =
        r.first.iter().filter(|f| f.kind == FindingKind::PageblockCheck).map(|f| (f.pfn, f.reserved)).collect();
    assert_eq!(hits, vec![(0, true), (0x39800, true)]);
    let f = r.first.iter().find(|f| f.pfn == 0x39800 && f.kind == FindingKind::PageblockCheck).unwrap();
    assert_eq!(f.links.map(|l| (l.nid, l.zone)), Some((0, ZoneType::Dma as u8)));
    // Linux's __reset_isolation_suitable cannot clear that skip bit (page_zone(page) != DMA32): left set.
    assert_eq!(r.skip_left_set, vec![0x39800]);
    // Tolerated under Michal Hocko's proposal, gone under upstream (the hole gets DMA32), and after the fix
    // pageblock_pfn_to_page refuses the block under zeroed too.
    assert_eq!(walk(&andrea(), "reserved-relaxed", "fast-isolate-prefix").tolerated, 2);
    let up = walk(&andrea(), "upstream", "fast-isolate-prefix");
    assert_eq!(up.first_of(FindingKind::PageblockCheck).map(|f| f.pfn), Some(0));
    assert_eq!(up.count(FindingKind::PageblockCheck), 1);
    assert_eq!(walk(&andrea(), "zeroed", "fast-isolate").count(FindingKind::PageblockCheck), 0);
}

#[test]
fn zeroed_no_tail_kpageflags_reads_the_poisoned_tail_of_section_39() {
    // kpageflags dumps up to round_up(max_pfn, PAGES_PER_SECTION) = 0x140000; the tail 0x13a000-0x140000 of the
    // early section 39 is online and nobody initialized it before e822969cab48.
    let r = walk(&m4000(), "zeroed-no-tail", "kpageflags");
    assert_eq!(r.count(FindingKind::Poisoned), 0x140000 - 0x13a000);
    assert_eq!(r.first_of(FindingKind::Poisoned).unwrap().pfn, 0x13a000);
    assert_eq!(r.stat("poisoned"), 24576);
    // Sections 24-31 (the 3-4 GiB PCI hole) have no memmap: KPF_NOPAGE.
    assert_eq!(r.stat("KPF_NOPAGE"), 8 * PAGES_PER_SECTION);
    assert_eq!(walk(&m4000(), "zeroed", "kpageflags").total(), 0, "e822969cab48 zeroes the tail");
}

#[test]
fn zone_contiguous_answers_as_linux_would() {
    // Under upstream DMA32 is not contiguous, and it would not be under any policy: set_zone_contiguous checks
    // every pageblock of the span [0x1000, 0x100000), and the blocks from 0xc0000 on (sections 24-31, the PCI
    // hole below 4 GiB) have no memmap, so __pageblock_pfn_to_page fails on !pfn_valid. Upstream fails earlier:
    // pageblock 0xbfe00 is memory up to 0xbffe0 and its last page 0xbffff is a hole that upstream linked to the
    // zone of the next memory range, Normal: page_zone_id(first) != page_zone_id(last). DMA (blocks [1, 0x200)
    // and up: first and last pages are memory or zone-0 holes) and Normal (all memory, the tail outside its span)
    // are contiguous. Under strict the hole is DMA32's and the walk stops at the PCI hole instead.
    let r = walk(&m4000(), "upstream", "zone-contiguous");
    let dma32 = r.zone(0, ZoneType::Dma32).unwrap();
    assert_eq!(dma32.contiguous, Some(false));
    let normal = Some(mm::page::Links { nid: 0, zone: ZoneType::Normal as u8 });
    assert_eq!(dma32.first_failure, Some(BlockFailure { pfn: 0xbfe00, reason: NotContiguous::EndInOtherZone(normal) }));
    assert_eq!(r.zone(0, ZoneType::Dma).unwrap().contiguous, Some(true));
    assert_eq!(r.zone(0, ZoneType::Normal).unwrap().contiguous, Some(true));
    let s = walk(&m4000(), "strict", "zone-contiguous");
    let dma32 = s.zone(0, ZoneType::Dma32).unwrap();
    assert_eq!(dma32.first_failure, Some(BlockFailure { pfn: 0xc0000, reason: NotContiguous::NoMemmap }));
    // Under zeroed the same block fails on DMA links; Andrea's hole makes DMA32 fail at block 0x39600 already.
    let z = walk(&andrea(), "zeroed", "zone-contiguous");
    assert_eq!(z.zone(0, ZoneType::Dma32).unwrap().first_failure.unwrap().pfn, 0x39600);
    // span-extend on two nodes: node 0's Normal span is rounded up to 0x148000 and overlaps node 1's.
    let se = walk(&two_node(), "span-extend", "zone-contiguous");
    let n0 = se.zone(0, ZoneType::Normal).unwrap();
    assert_eq!(n0.contiguous, Some(false));
    assert!(matches!(n0.first_failure.unwrap().reason, NotContiguous::StartInOtherZone(Some(l)) if l.nid == 1));
}

#[test]
fn offline_check_and_pagetypeinfo_answers() {
    // test_pages_in_a_zone per memory block (section): block 0 spans DMA and DMA32 (NULL under every policy
    // whose DMA ends at 16 MiB); block 39 holds Normal memory and the tail, which upstream links to Normal but
    // Normal does not span: the sample at 0x13a000 is outside the span, NULL ("none" in valid_zones). strict
    // and span-extend stretch Normal over the tail, so block 39 is Normal.
    let null = |policy| walk(&m4000(), policy, "offline-check").stat("NULL: outside the zone span");
    assert_eq!((null("upstream"), null("zeroed"), null("strict"), null("span-extend")), (2, 2, 1, 1));
    // Two nodes in section 40: NULL under upstream and strict; span-extend gave node 0's memory there to node 1,
    // so the block reads as node 1's Normal.
    let two = |policy| walk(&two_node(), policy, "offline-check").stat("blocks in one zone");
    assert_eq!((two("upstream"), two("strict"), two("span-extend")), (62, 62, 63));
    // pagetypeinfo: pageblock 0 of DMA never got a migratetype (memmap_init_range sets it only at pageblock-
    // aligned pfns inside memory, and pfn 0 is a hole), so DMA shows 1 Unmovable and 7 Movable blocks.
    let r = walk(&m4000(), "upstream", "pagetypeinfo");
    let dma = r.zone(0, ZoneType::Dma).unwrap();
    assert_eq!((dma.stat("Unmovable"), dma.stat("Movable")), (1, 7));
    assert_eq!(r.zone(0, ZoneType::Dma32).unwrap().stat("Movable"), (0xc0000 - 0x1000) / PAGEBLOCK_NR_PAGES);
    // Under zeroed, Andrea's block 0x39800 is counted in no zone.
    let z = walk(&andrea(), "zeroed", "pagetypeinfo");
    assert_eq!(z.zone(0, ZoneType::Dma32).unwrap().stat("blocks of other zones"), 1);
}

#[test]
fn compressed_and_full_memmaps_walk_alike() {
    for p in ["zeroed-no-tail", "upstream"] {
        let mut full = boot_with(&m4000(), p, false);
        let mut comp = boot_with(&m4000(), p, true);
        assert!(comp.uniform_sections > 0);
        let (a, b) = (run_all_walkers(&mut full), run_all_walkers(&mut comp));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.counts, &x.first, &x.targets, &x.sites), (y.counts, &y.first, &y.targets, &y.sites), "{}", p);
            assert_eq!((x.pfns_visited, x.pageblocks_visited), (y.pfns_visited, y.pageblocks_visited));
        }
    }
}

fn layout_strategy() -> impl Strategy<Value = Vec<MemRange>> {
    common::layout_strategy(12, 6000, 8, 3)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// No walker panics on any policy's memmap; under strict no walker finds anything about the memmap and the
    /// pageblock check never fails. (A pre-fix fast search may still take a free page of another node where two
    /// nodes share a pageblock: a walker bug independent of holes, FindingKind::ForeignFreePage.) Every walker
    /// leaves the usemap as it found it, except the skip bits it lists as left set.
    #[test]
    fn walkers_never_panic_and_strict_is_clean(memory in layout_strategy()) {
        for p in POLICIES {
            let mut mm = boot(&memory, p.name());
            let usemap = |mm: &Mm| -> Vec<u64> {
                mm.sparse.valid_sections().flat_map(|nr| {
                    (0..PAGEBLOCKS_PER_SECTION).map(move |b| section_nr_to_pfn(nr) + b * PAGEBLOCK_NR_PAGES)
                }).map(|pfn| mm.sparse.get_pfnblock_flags_mask(pfn, 0xf)).collect()
            };
            let before = usemap(&mm);
            let reports = run_all_walkers(&mut mm);
            let left: usize = reports.iter().map(|r| r.skip_left_set.len()).sum();
            let changed = before.iter().zip(usemap(&mm)).filter(|(a, b)| **a != *b).count();
            prop_assert_eq!(changed, left, "{}", p.name());
            if p.name() == "strict" {
                for r in &reports {
                    prop_assert_eq!(r.memmap_findings(), 0, "{}", r);
                    prop_assert_eq!(r.violations(), 0, "{}", r);
                }
            }
        }
    }
}

#[test]
fn policies_outside_the_table_walk_without_panics() {
    for p in POLICIES.iter().filter(|p| !POLICY_ORDER.contains(&p.name())) {
        for (name, memory, _) in layouts() {
            let mut mm = boot(&memory, p.name());
            let before = mm.checker.total_violations;
            let reports = run_all_walkers(&mut mm);
            assert_eq!(reports.len(), WALKERS.len(), "{} {}", name, p.name());
            let walk: u64 = reports.iter().map(|r| r.violations()).sum();
            assert_eq!(mm.checker.total_violations, before + walk, "{} {}", name, p.name());
        }
    }
}
