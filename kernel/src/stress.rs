//! `stress=<seconds>`: random allocation traffic over the buddy allocator the boot built, verified every round.
//!
//! A round is [`OPS_PER_ROUND`] operations drawn from a xorshift64 generator with a fixed, printed seed: an
//! allocation (order 0..=MAX_PAGE_ORDER, small orders likelier; any node; any highest zone; migratetype
//! UNMOVABLE, MOVABLE, RECLAIMABLE or HIGHATOMIC) or the free of a random live block. HIGHATOMIC requests fail
//! by design: as in Linux, no migratetype falls back to HIGHATOMIC and only a highatomic reserve
//! (`reserve_highatomic_pageblock`, not modelled) would fill its lists, so they exercise the failure path
//! (counted per migratetype). After each round the
//! verifier runs: `Buddy::check` (lists, counters, every page's state) and the accounting of every zone
//! (free + allocated + reserved = present with reserved = present - managed, free + allocated = managed) and this
//! module's own count of the pages it holds per zone against the allocator's `allocated_pages` since the start,
//! corrected by the kernel heap's grown blocks (the heap grows from and trims back to the same allocator,
//! `heap::grown_ranges`). One line per round, then everything is freed, the free-block shape (pfn, order, node, zone) must be the
//! one before the run, and one `@@stress {json}` line sums it up (rounds, operations, allocations, frees,
//! failures, the largest order allocated, per node, per populated zone, per order and per migratetype counts).
//! Time is the TSC, its rate from CPUID or the PIT (`time::tsc_khz_or_calibrate`).
//!
//! Only the public `Buddy` API is used (`alloc_pages`, `free_pages`, `check`, `zone_counts`, `free_blocks`).
//!
//! # Invariants
//! - the run leaves the allocator as it found it (same free pages once the heap is trimmed, same free-block shape
//!   when the heap holds the same grown blocks as before: `shape_checked` in the summary), or reports why not;
//! - the live-block table and all counters are allocated before the rounds; the few heap allocations made while
//!   the model lock is held cannot deadlock: the heap's grow source only `try_lock`s the model;
//! - a failed check stops the run with an `Err` naming the round and the check.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use mm::buddy::AllocError;
use mm::consts::{MAX_NUMNODES, MAX_PAGE_ORDER};
use mm::sparse::migratetype;
use mm::zones::{ZoneType, MAX_NR_ZONES};

use crate::println;
use crate::time::rdtsc;

/// The generator's seed (printed; the same seed gives the same traffic on the same layout).
pub const SEED: u64 = 0x6d65_6d6c_6162_2153;
/// Operations per round (the verifier runs after each round).
pub const OPS_PER_ROUND: u64 = 4096;
/// Live blocks held at most: more allocations turn into frees.
pub const MAX_LIVE: usize = 8192;

/// The migratetypes the traffic asks for (nothing allocates from ISOLATE).
const MIGRATETYPES: [u64; 4] =
    [migratetype::UNMOVABLE, migratetype::MOVABLE, migratetype::RECLAIMABLE, migratetype::HIGHATOMIC];

/// Per-node counters.
#[derive(Clone, Copy, Default)]
struct NodeCounts {
    allocs: u64,
    frees: u64,
    pages_allocated: u64,
}

/// One live block: pfn, order, and the zone index (`nid * MAX_NR_ZONES + zone`) it came from.
#[derive(Clone, Copy)]
struct Live {
    pfn: u64,
    order: u32,
    zone_ix: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the stress for `secs` seconds (at least one round). Returns the `@@stress` JSON object.
pub fn run(secs: u64) -> Result<String, String> {
    let model = crate::model::MODEL.get().ok_or("the memory model was not booted")?;
    let (khz, khz_source) = crate::time::tsc_khz_or_calibrate();
    println!("memlab: stress: {} s, seed {:#x}, tsc {} kHz ({})", secs, SEED, khz, khz_source);

    // Everything the rounds write is allocated here, before the lock.
    let mut live: Vec<Live> = Vec::with_capacity(MAX_LIVE);
    let mut nodes = [NodeCounts::default(); MAX_NUMNODES];
    let mut held = [0u64; MAX_NUMNODES * MAX_NR_ZONES];
    // Successful allocations per zone the block came from, per order and per migratetype asked for.
    let mut zone_allocs = [0u64; MAX_NUMNODES * MAX_NR_ZONES];
    let mut order_allocs = [0u64; MAX_PAGE_ORDER as usize + 1];
    let mut mt_allocs = [0u64; 4];
    let mut mt_failures = [0u64; 4];
    let mut base_allocated = [0u64; MAX_NUMNODES * MAX_NR_ZONES];
    // Zones with managed pages at the start (the ones the summary lists).
    let mut populated = [false; MAX_NUMNODES * MAX_NR_ZONES];
    // Heap blocks grown from the allocator, per zone, at the start (after giving back the wholly free ones). The
    // heap cannot grow while the model is locked, so what is read under one lock is consistent.
    crate::heap::trim();
    let (nr_nodes, initial_shape, initial_free, heap_blocks_start, heap_start) = {
        let m = model.lock();
        let blocks = crate::heap::grown_ranges();
        let per_zone = heap_pages_per_zone(&m, &blocks);
        for (ix, b) in base_allocated.iter_mut().enumerate() {
            let Some(z) = ZoneType::from_index(ix % MAX_NR_ZONES) else { continue };
            let counts = m.buddy.zone_counts((ix / MAX_NR_ZONES) as u32, z);
            *b = counts.map_or(0, |c| c.allocated_pages);
            populated[ix] = counts.is_some_and(|c| c.managed_pages > 0);
        }
        (m.mm.zones.nodes.len(), shape(&m), m.buddy.total_free_pages(), blocks, per_zone)
    };
    let mut rng = Rng(SEED);
    let (mut rounds, mut ops, mut allocs, mut frees, mut failures, mut max_order) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u32);
    let t0 = rdtsc();
    let deadline = t0.saturating_add(secs.saturating_mul(khz).saturating_mul(1000));
    loop {
        let r0 = rdtsc();
        let (round_allocs, round_frees, round_failures, free_now, live_pages) = {
            let mut guard = model.lock();
            let m = &mut *guard;
            let (mut ra, mut rf, mut rx) = (0u64, 0u64, 0u64);
            for _ in 0..OPS_PER_ROUND {
                let r = rng.next();
                let alloc = live.is_empty() || (live.len() < MAX_LIVE && r % 8 < 5);
                if alloc {
                    // Order k with probability about 2^-(k+1).
                    let order = ((r >> 3) as u32).trailing_ones().min(MAX_PAGE_ORDER);
                    let nid = ((r >> 16) % nr_nodes as u64) as u32;
                    let zone = ZoneType::ALL[((r >> 24) % MAX_NR_ZONES as u64) as usize];
                    let mt_ix = ((r >> 32) % 4) as usize;
                    let mt = MIGRATETYPES[mt_ix];
                    match m.buddy.alloc_pages(&mut m.mm, order, zone, nid, mt) {
                        Ok(pfn) => {
                            let links =
                                m.mm.sparse
                                    .pfn_to_page(pfn)
                                    .ok_or_else(|| format!("round {}: pfn {:#x} has no struct page", rounds, pfn))?
                                    .links(pfn)
                                    .map_err(|e| format!("round {}: {}", rounds, e))?;
                            let zone_ix = links.nid as usize * MAX_NR_ZONES + links.zone as usize;
                            live.push(Live { pfn, order, zone_ix });
                            held[zone_ix] += 1 << order;
                            zone_allocs[zone_ix] += 1;
                            order_allocs[order as usize] += 1;
                            mt_allocs[mt_ix] += 1;
                            let n = &mut nodes[links.nid as usize];
                            n.allocs += 1;
                            n.pages_allocated += 1 << order;
                            max_order = max_order.max(order);
                            ra += 1;
                        }
                        Err(AllocError::NoMemory { .. }) => {
                            rx += 1;
                            mt_failures[mt_ix] += 1;
                        }
                        Err(e) => return Err(format!("round {}: {}", rounds, e)),
                    }
                } else {
                    let b = live.swap_remove((r >> 8) as usize % live.len());
                    m.buddy.free_pages(&mut m.mm, b.pfn, b.order).map_err(|e| format!("round {}: {}", rounds, e))?;
                    held[b.zone_ix] -= 1 << b.order;
                    nodes[b.zone_ix / MAX_NR_ZONES].frees += 1;
                    rf += 1;
                }
            }
            verify(m, &held, &base_allocated, &heap_start).map_err(|e| format!("round {}: {}", rounds, e))?;
            (ra, rf, rx, m.buddy.total_free_pages(), held.iter().sum::<u64>())
        };
        rounds += 1;
        ops += OPS_PER_ROUND;
        allocs += round_allocs;
        frees += round_frees;
        failures += round_failures;
        let now = rdtsc();
        println!(
            "memlab: stress: round {}: {} ops ({} allocs, {} frees, {} failures), live {} blocks / {} pages, free {}, verified, {} ms",
            rounds,
            OPS_PER_ROUND,
            round_allocs,
            round_frees,
            round_failures,
            live.len(),
            live_pages,
            free_now,
            (now - r0) / khz
        );
        if now >= deadline {
            break;
        }
    }

    // Give everything back; the allocator must look as it did before.
    {
        let mut guard = model.lock();
        let m = &mut *guard;
        for b in live.drain(..) {
            m.buddy.free_pages(&mut m.mm, b.pfn, b.order).map_err(|e| format!("final free: {}", e))?;
            held[b.zone_ix] -= 1 << b.order;
            nodes[b.zone_ix / MAX_NR_ZONES].frees += 1;
            frees += 1;
        }
        verify(m, &held, &base_allocated, &heap_start).map_err(|e| format!("after the final free: {}", e))?;
    }
    crate::heap::trim();
    let (final_free, final_shape, heap_blocks_end) = {
        let m = model.lock();
        verify(&m, &held, &base_allocated, &heap_start).map_err(|e| format!("after the heap trim: {}", e))?;
        (m.buddy.total_free_pages(), shape(&m), crate::heap::grown_ranges())
    };
    let heap_pages = |blocks: &[(u64, u64)]| blocks.iter().map(|(s, e)| (e - s) >> 12).sum::<u64>();
    if final_free + heap_pages(&heap_blocks_end) != initial_free + heap_pages(&heap_blocks_start) {
        return Err(format!(
            "free pages {} (heap blocks {}) after the run, {} (heap blocks {}) before",
            final_free,
            heap_blocks_end.len(),
            initial_free,
            heap_blocks_start.len()
        ));
    }
    // The shape is comparable when the heap holds the blocks it held before.
    let shape_checked = heap_blocks_end == heap_blocks_start;
    if shape_checked && final_shape != initial_shape {
        let first = final_shape.iter().zip(&initial_shape).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "free-block shape changed: {} blocks after, {} before; first difference at block {}",
            final_shape.len(),
            initial_shape.len(),
            first
        ));
    }
    let elapsed_ms = (rdtsc() - t0) / khz;
    let per_node: Vec<String> = nodes
        .iter()
        .take(nr_nodes)
        .enumerate()
        .map(|(nid, n)| {
            format!(
                "{{\"nid\":{},\"allocs\":{},\"frees\":{},\"pages_allocated\":{}}}",
                nid, n.allocs, n.frees, n.pages_allocated
            )
        })
        .collect();
    let zones: Vec<String> = zone_allocs
        .iter()
        .enumerate()
        .filter(|&(ix, _)| populated[ix])
        .map(|(ix, n)| {
            let zone = ZoneType::from_index(ix % MAX_NR_ZONES).map_or("?", |z| z.name());
            format!("{{\"nid\":{},\"zone\":\"{}\",\"allocs\":{}}}", ix / MAX_NR_ZONES, zone, n)
        })
        .collect();
    let list = |v: &[u64]| v.iter().map(|n| format!("{}", n)).collect::<Vec<_>>().join(",");
    Ok(format!(
        "{{\"seed\":{},\"seconds\":{},\"elapsed_ms\":{},\"tsc_khz\":{},\"tsc_source\":\"{}\",\"rounds\":{},\"ops\":{},\"allocs\":{},\"frees\":{},\"failures\":{},\"max_order\":{},\"free_pages\":{},\"shape_checked\":{},\"heap_blocks\":[{},{}],\"nodes\":[{}],\"zones\":[{}],\"order_allocs\":[{}],\"migratetype_allocs\":[{}],\"migratetype_failures\":[{}]}}",
        SEED,
        secs,
        elapsed_ms,
        khz,
        khz_source,
        rounds,
        ops,
        allocs,
        frees,
        failures,
        max_order,
        final_free,
        shape_checked,
        heap_blocks_start.len(),
        heap_blocks_end.len(),
        per_node.join(","),
        zones.join(","),
        list(&order_allocs),
        list(&mt_allocs),
        list(&mt_failures)
    ))
}

/// Pages of the heap's grown blocks per zone index (`nid * MAX_NR_ZONES + zone`): a block is one buddy
/// allocation, so it lies in one zone, the one its first page's links name.
fn heap_pages_per_zone(m: &crate::model::Model, blocks: &[(u64, u64)]) -> [u64; MAX_NUMNODES * MAX_NR_ZONES] {
    let mut out = [0u64; MAX_NUMNODES * MAX_NR_ZONES];
    for &(start, end) in blocks {
        let pfn = start >> 12;
        if let Some(l) = m.mm.sparse.pfn_to_page(pfn).and_then(|p| p.links(pfn).ok()) {
            out[l.nid as usize * MAX_NR_ZONES + l.zone as usize] += (end - start) >> 12;
        }
    }
    out
}

/// The verifier of one round: the allocator's own check, the zone accounting, and per zone the pages this run
/// holds against the zone's `allocated_pages` since the start, corrected by the heap's grown blocks.
fn verify(m: &crate::model::Model, held: &[u64], base: &[u64], heap_start: &[u64]) -> Result<(), String> {
    m.buddy.check(&m.mm).map_err(|e| format!("Buddy::check: {}", e))?;
    let heap_now = heap_pages_per_zone(m, &crate::heap::grown_ranges());
    for (ix, (&h, &b)) in held.iter().zip(base).enumerate() {
        // Pages allocated by others than this run and the heap stay as they were.
        let b = b - heap_start[ix] + heap_now[ix];
        let nid = (ix / MAX_NR_ZONES) as u32;
        let Some(zone) = ZoneType::from_index(ix % MAX_NR_ZONES) else { continue };
        let Some(z) = m.buddy.zone_counts(nid, zone) else {
            if h != 0 {
                return Err(format!(
                    "node {} zone {}: {} pages held in a zone the allocator lacks",
                    nid,
                    zone.name(),
                    h
                ));
            }
            continue;
        };
        let reserved = z.present_pages.checked_sub(z.managed_pages);
        if reserved.is_none() || z.free_pages + z.allocated_pages != z.managed_pages {
            return Err(format!(
                "node {} zone {}: free {} + allocated {} + reserved (present {} - managed {}) != present",
                nid,
                zone.name(),
                z.free_pages,
                z.allocated_pages,
                z.present_pages,
                z.managed_pages
            ));
        }
        if z.allocated_pages != b + h {
            return Err(format!(
                "node {} zone {}: allocated {} pages, expected {} (before the run, heap blocks now) + {} held by it",
                nid,
                zone.name(),
                z.allocated_pages,
                b,
                h
            ));
        }
    }
    Ok(())
}

/// The free blocks as (pfn, order, node, zone), sorted.
fn shape(m: &crate::model::Model) -> Vec<(u64, u32, u32, ZoneType)> {
    let mut v: Vec<(u64, u32, u32, ZoneType)> =
        m.buddy.free_blocks(&m.mm).iter().map(|b| (b.pfn, b.order, b.nid, b.zone)).collect();
    v.sort_unstable();
    v
}
