//! Firmware-map normalization followed by the whole memmap init under a policy chosen by the input.
//!
//! Properties: a rejected map has a non-empty error message; an accepted one boots (compressed, unplaced memmaps
//! allowed), the verifier finds no accounting problem, the nodes' present pages are exactly the layout's memory
//! pages, and under `strict` there is no finding, no broken promise and no pageblock violation.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mm::layout::{normalize, FirmwareRegion, LayoutOptions, NumaAffinity, RegionKind};
use mm::model::{Mm, MmOptions};
use mm::policy::POLICIES;
use mm::sparse::HeapBacking;
use mm::verify::verify;

/// Addresses stay below 2^40 (1 TiB: 8192 sections) so one run stays fast.
const ADDR_LIMIT: u64 = 1 << 40;
/// Lengths stay below 64 GiB.
const LEN_LIMIT: u64 = 1 << 36;
const MAX_REGIONS: usize = 32;
const MAX_NUMA: usize = 16;

#[derive(Arbitrary, Debug)]
enum Kind {
    /// The common e820 types 1..=5 (1 is RAM), 7, 12, and small unknown numbers.
    Small(u8),
    /// Any raw e820 type number.
    Raw(u32),
    Bootloader,
    Uefi(u32),
}

#[derive(Arbitrary, Debug)]
struct Region {
    start: u64,
    len: u64,
    kind: Kind,
    /// Take `start` and `start + len` unbounded (may be inverted or beyond MAX_PHYSMEM_BITS): errors only.
    wide: bool,
}

#[derive(Arbitrary, Debug)]
struct Numa {
    nid: u8,
    start: u64,
    len: u64,
    hotplug: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    regions: Vec<Region>,
    numa: Vec<Numa>,
    policy: u8,
}

fn kind(k: &Kind) -> RegionKind {
    match *k {
        Kind::Small(t) => RegionKind::from_e820_type(u32::from(t % 16)),
        Kind::Raw(t) => RegionKind::from_e820_type(t),
        Kind::Bootloader => RegionKind::BootloaderReserved,
        Kind::Uefi(t) => RegionKind::UefiType(t),
    }
}

fuzz_target!(|input: Input| {
    let regions: Vec<FirmwareRegion> = input
        .regions
        .iter()
        .take(MAX_REGIONS)
        .map(|r| {
            if r.wide {
                FirmwareRegion::new(r.start, r.len, kind(&r.kind))
            } else {
                let start = r.start % ADDR_LIMIT;
                FirmwareRegion::new(start, start + r.len % LEN_LIMIT, kind(&r.kind))
            }
        })
        .collect();
    let numa: Vec<NumaAffinity> = input
        .numa
        .iter()
        .take(MAX_NUMA)
        .map(|n| {
            let start = n.start % ADDR_LIMIT;
            NumaAffinity { nid: u32::from(n.nid % 71), start, end: start + n.len % LEN_LIMIT, hotplug: n.hotplug }
        })
        .collect();
    let layout = match normalize(&regions, &numa, &LayoutOptions::default()) {
        Ok(l) => l,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{:?}: {:?}", e, msg);
            return;
        }
    };
    for n in &layout.notes {
        assert!(!n.to_string().is_empty());
    }
    // Layout invariants (module documentation of mm::layout).
    assert!(layout.memory.iter().all(|r| r.start_pfn < r.end_pfn && (r.nid as usize) < mm::consts::MAX_NUMNODES));
    assert!(layout.memory.windows(2).all(|w| w[0].end_pfn <= w[1].start_pfn));
    assert!(layout.regions.windows(2).all(|w| w[0].end <= w[1].start));
    if layout.memory.last().map_or(0, |r| r.end_pfn) > ADDR_LIMIT >> 12 {
        return; // a wide region made it through: too large to boot quickly
    }

    let policy = POLICIES[input.policy as usize % POLICIES.len()];
    let mut opts = MmOptions::new(policy);
    opts.compressed = true;
    opts.allow_unplaced_memmap = true;
    let mm = match Mm::boot(&layout, opts, Box::new(HeapBacking)) {
        Ok(mm) => mm,
        Err(e) => panic!("{}: boot failed on a normalized layout: {} ({:?})", policy.name(), e, e),
    };
    let v = verify(&mm);
    assert!(v.accounting.is_empty(), "{}: {:?}", policy.name(), v.accounting);
    let present: u64 = mm.zones.nodes.iter().map(|n| n.node_present_pages).sum();
    assert_eq!(present, layout.memory_pages(), "{}", policy.name());
    if policy.name() == "strict" {
        assert_eq!(v.total(), 0, "strict: {:?}", v.first);
        assert!(v.broken_promises.is_empty(), "strict: {:?}", v.broken_promises);
        assert_eq!(mm.checker.total_violations, 0, "strict");
    }
});
