//! Unit and property tests of the deferred-init decisions: hand-computed layouts, and the invariants of the
//! module documentation over random layouts.

use super::*;
use crate::layout::Layout;
use crate::zones::{compute_zones, ZoneOptions};
use alloc::vec;
use proptest::prelude::*;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

fn zones_of(memory: &[MemRange]) -> Zones {
    let layout = Layout::from_memory_ranges(memory).unwrap();
    compute_zones(&layout.memory, layout.nr_node_ids(), &ZoneOptions::default()).unwrap()
}

fn plan_of(memory: &[MemRange]) -> (Vec<InitCall>, DeferPlan, Zones) {
    let zones = zones_of(memory);
    let calls = memmap_init_calls(memory, &zones);
    let p = plan(&calls, zones.nodes.len(), |nid| zones.nodes[nid as usize].node_end_pfn());
    (calls, p, zones)
}

const S: u64 = PAGES_PER_SECTION;

#[test]
fn m4000_defers_normal_after_one_section() {
    // QEMU -m 4000M: DMA, DMA32 below 4 GiB, 928 MiB of Normal above.
    let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)];
    let (calls, p, _) = plan_of(&mem);
    assert_eq!(p.first_deferred_pfn, vec![Some(0x100000 + S)]);
    assert_eq!(p.deferred_ranges(&calls, 0), vec![(0x108000, 0x13a000)]);
    assert_eq!(p.deferred_pages(&calls), 0x13a000 - 0x108000);
    // The low zones are whole at boot.
    for (c, e) in calls.iter().zip(&p.eager_end) {
        if c.zone != ZoneType::Normal {
            assert_eq!(*e, c.end_pfn, "{c:?}");
        }
    }
}

#[test]
fn a_small_highest_zone_is_not_deferred() {
    // 128 MiB: DMA32 ends at the node's end but holds fewer than a section's pages after the first one.
    let (_, p, _) = plan_of(&[m(1, 0x9f, 0), m(0x100, 0x7fe0, 0)]);
    assert_eq!(p.first_deferred_pfn, vec![None]);
}

#[test]
fn counting_spans_ranges_and_waits_for_a_section_boundary() {
    // Highest zone Normal in two ranges of 3/4 section each: the count passes PAGES_PER_SECTION inside the
    // second range, and the first section-aligned pfn after that is the boundary.
    let a = 0x100000;
    let mem =
        [m(0x1000, 0x2000, 0), m(a, a + 3 * S / 4, 0), m(a + S, a + S + 3 * S / 4, 0), m(a + 2 * S, a + 4 * S, 0)];
    let (calls, p, _) = plan_of(&mem);
    // 3S/4 counted in the first Normal range, 3S/4 in the second: > S inside it, but its next aligned pfn
    // (a + 2S) is past its end, so it is initialized whole; the third range defers at its start.
    assert_eq!(p.first_deferred_pfn, vec![Some(a + 2 * S)]);
    assert_eq!(p.deferred_ranges(&calls, 0), vec![(a + 2 * S, a + 4 * S)]);
}

#[test]
fn every_node_defers_its_own_highest_zone() {
    let g = 0x40000; // 1 GiB of pfns
    let mem = [m(1, 0x9f, 0), m(0x100, 3 * g, 0), m(4 * g, 6 * g, 1), m(6 * g, 8 * g, 2)];
    let (calls, p, _) = plan_of(&mem);
    // Node 0's highest zone is DMA32 [0x1000, 3 GiB): counting from 0x1000, the count passes a section at 0x9000
    // and the next section boundary is 0x10000. Nodes 1 and 2 start on a section boundary: one section each.
    assert_eq!(p.first_deferred_pfn, vec![Some(2 * S), Some(4 * g + S), Some(6 * g + S)]);
    assert_eq!(p.deferred_ranges(&calls, 1), vec![(4 * g + S, 6 * g)]);
}

#[test]
fn jobs_reach_section_boundaries_and_padata_splits_them() {
    let jobs = deferred_jobs(&[(0x108000, 0x110010), (0x110020, 0x117000), (0x118000, 0x13a000)]);
    assert_eq!(jobs, vec![(0x108000, 0x118000), (0x118000, 0x140000)]);
    // 16 sections, 2 threads: 2 works, chunks of 2 sections (16 / (2 * 4)), aligned.
    let (n, chunks) = padata_chunks(PadataJob { start: 0, size: 16 * S, align: S, min_chunk: S, max_threads: 2 });
    assert_eq!(n, 2);
    assert_eq!(chunks.len(), 8);
    assert!(chunks.iter().all(|&(s, e)| e - s == 2 * S && s % (2 * S) == 0));
    // A job smaller than min_chunk runs on one thread whatever max_threads says.
    assert_eq!(
        padata_chunks(PadataJob { start: 7, size: 100, align: S, min_chunk: S, max_threads: 8 }),
        (1, vec![(7, 107)])
    );
    // An unaligned start: the first chunk ends on a chunk boundary.
    let (_, chunks) = padata_chunks(PadataJob { start: S / 2, size: 8 * S, align: S, min_chunk: S, max_threads: 4 });
    assert_eq!(chunks[0], (S / 2, S));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn plan_partitions_memory_and_defers_only_highest_zones(
        parts in prop::collection::vec((0u64..4, 1u64..3 * S, 0u32..3), 1..10)
    ) {
        let mut mem = Vec::new();
        let mut pfn = 0x1000u64;
        for (gap, len, nid) in parts {
            pfn += gap * S / 2;
            mem.push(m(pfn, pfn + len, nid));
            pfn += len;
        }
        let Ok(layout) = Layout::from_memory_ranges(&mem) else { return Ok(()) };
        let Ok(zones) = compute_zones(&layout.memory, layout.nr_node_ids(), &ZoneOptions::default()) else { return Ok(()) };
        let calls = memmap_init_calls(&layout.memory, &zones);
        let p = plan(&calls, zones.nodes.len(), |nid| zones.nodes[nid as usize].node_end_pfn());
        // Every memory pfn is in exactly one call, eager or deferred.
        let covered: u64 = calls.iter().map(|c| c.end_pfn - c.start_pfn).sum();
        let memory: u64 = layout.memory.iter().map(|r| r.end_pfn - r.start_pfn).sum();
        prop_assert_eq!(covered, memory);
        for (c, &e) in calls.iter().zip(&p.eager_end) {
            prop_assert!(c.start_pfn <= e && e <= c.end_pfn);
            if e < c.end_pfn {
                let node_end = zones.nodes[c.nid as usize].node_end_pfn();
                prop_assert_eq!(c.zone_end_pfn, node_end, "only the zone ending at the node's end is deferred");
                let first = p.first_deferred_pfn[c.nid as usize];
                prop_assert!(first.is_some_and(|f| f <= e.max(c.start_pfn)), "{:?} {:?}", first, c);
            }
        }
        for (nid, f) in p.first_deferred_pfn.iter().enumerate() {
            if let Some(f) = f {
                prop_assert_eq!(f % S, 0);
                // At least a section of the node's highest zone was initialized before it.
                let eager: u64 = calls.iter().zip(&p.eager_end)
                    .filter(|(c, _)| c.nid as usize == nid && c.zone_end_pfn == zones.nodes[nid].node_end_pfn())
                    .map(|(c, &e)| e - c.start_pfn).sum();
                prop_assert!(eager >= S, "node {} eager {}", nid, eager);
            }
        }
    }

    #[test]
    fn padata_chunks_cover_the_job_exactly(start in 0u64..(1 << 30), size in 0u64..(64 * S), threads in 1u64..16) {
        let (n, chunks) = padata_chunks(PadataJob { start, size, align: S, min_chunk: S, max_threads: threads });
        prop_assert!(n <= threads);
        let mut at = start;
        for &(s, e) in &chunks {
            prop_assert_eq!(s, at);
            prop_assert!(e > s);
            at = e;
        }
        prop_assert_eq!(at, start + size);
    }
}
