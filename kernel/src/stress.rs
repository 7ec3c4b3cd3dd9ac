//! `stress=<seconds>`: random allocation traffic over the buddy allocator the boot built, on every online CPU at
//! once, verified every round.
//!
//! A round is [`OPS_PER_ROUND`] operations on each CPU, all CPUs at once through one shared
//! `mm::buddy::Allocator` (per-zone locks), each CPU drawing from its own xorshift64 generator (CPU 0's seed is
//! [`SEED`], printed; CPU n's is derived from it) and holding its own live blocks. An operation is
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
//! The verifier runs on the boot CPU between rounds, when no CPU is allocating; the held pages it checks are the
//! sum over the CPUs. The summary adds the CPUs, each CPU's counts, and the traffic's own time (rounds without
//! their verification) with the operations per second it gives.
//!
//! Only the public `Buddy` API is used (`shared` and the `Allocator`'s `alloc_pages`, `free_pages`, `zone_of`;
//! `check`, `zone_counts`, `free_blocks`).
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

use mm::buddy::{AllocError, Allocator, PcpSet};
use mm::consts::{MAX_NUMNODES, MAX_PAGE_ORDER};
use mm::sparse::migratetype;
use mm::zones::{ZoneType, MAX_NR_ZONES};

use crate::println;
use crate::time::rdtsc;

/// The generator's seed (printed; the same seed gives the same traffic on the same layout).
pub const SEED: u64 = 0x6d65_6d6c_6162_2153;
/// Operations per round (the verifier runs after each round).
pub const OPS_PER_ROUND: u64 = 4096;
/// Live blocks held at most, all CPUs together: more allocations turn into frees.
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

/// CPU `cpu`'s seed: [`SEED`] for CPU 0 (one CPU replays the single-CPU traffic), a distinct non-zero one for
/// the others.
fn seed_for(cpu: u32) -> u64 {
    let s = SEED ^ u64::from(cpu).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    if s == 0 {
        SEED
    } else {
        s
    }
}

const ZONE_IXS: usize = MAX_NUMNODES * MAX_NR_ZONES;

/// One CPU's traffic: its generator, its live blocks and its counters (only that CPU touches it during a round).
struct CpuStress {
    cpu: u32,
    rng: Rng,
    live: Vec<Live>,
    max_live: usize,
    held: [u64; ZONE_IXS],
    nodes: [NodeCounts; MAX_NUMNODES],
    zone_allocs: [u64; ZONE_IXS],
    order_allocs: [u64; MAX_PAGE_ORDER as usize + 1],
    mt_allocs: [u64; 4],
    mt_failures: [u64; 4],
    max_order: u32,
    ops: u64,
    allocs: u64,
    frees: u64,
    failures: u64,
    /// This round's allocations, frees and failures.
    round: (u64, u64, u64),
}

impl CpuStress {
    fn new(cpu: u32, max_live: usize) -> Self {
        CpuStress {
            cpu,
            rng: Rng(seed_for(cpu)),
            live: Vec::with_capacity(max_live),
            max_live,
            held: [0; ZONE_IXS],
            nodes: [NodeCounts::default(); MAX_NUMNODES],
            zone_allocs: [0; ZONE_IXS],
            order_allocs: [0; MAX_PAGE_ORDER as usize + 1],
            mt_allocs: [0; 4],
            mt_failures: [0; 4],
            max_order: 0,
            ops: 0,
            allocs: 0,
            frees: 0,
            failures: 0,
            round: (0, 0, 0),
        }
    }

    /// `ops` random operations through the shared allocator.
    fn run_round(&mut self, a: &Allocator<'_>, pcp: &mut PcpSet, nr_nodes: usize, ops: u64) -> Result<(), String> {
        let (mut ra, mut rf, mut rx) = (0u64, 0u64, 0u64);
        for _ in 0..ops {
            let r = self.rng.next();
            let alloc = self.live.is_empty() || (self.live.len() < self.max_live && r % 8 < 5);
            if alloc {
                // Order k with probability about 2^-(k+1).
                let order = ((r >> 3) as u32).trailing_ones().min(MAX_PAGE_ORDER);
                let nid = ((r >> 16) % nr_nodes as u64) as u32;
                let zone = ZoneType::ALL[((r >> 24) % MAX_NR_ZONES as u64) as usize];
                let mt_ix = ((r >> 32) % 4) as usize;
                match a.alloc_pages_pcp(pcp, order, zone, nid, MIGRATETYPES[mt_ix]) {
                    Ok(pfn) => {
                        let (nid, zone) =
                            a.zone_of(pfn).ok_or_else(|| format!("pfn {:#x} is in no zone of the allocator", pfn))?;
                        let zone_ix = nid as usize * MAX_NR_ZONES + zone.index();
                        self.live.push(Live { pfn, order, zone_ix });
                        self.held[zone_ix] += 1 << order;
                        self.zone_allocs[zone_ix] += 1;
                        self.order_allocs[order as usize] += 1;
                        self.mt_allocs[mt_ix] += 1;
                        let n = &mut self.nodes[nid as usize];
                        n.allocs += 1;
                        n.pages_allocated += 1 << order;
                        self.max_order = self.max_order.max(order);
                        ra += 1;
                    }
                    Err(AllocError::NoMemory { .. }) => {
                        rx += 1;
                        self.mt_failures[mt_ix] += 1;
                    }
                    Err(e) => return Err(format!("CPU {}: {}", self.cpu, e)),
                }
            } else {
                let b = self.live.swap_remove((r >> 8) as usize % self.live.len());
                self.free(a, pcp, b)?;
                rf += 1;
            }
        }
        self.round = (ra, rf, rx);
        self.ops += ops;
        self.allocs += ra;
        self.frees += rf;
        self.failures += rx;
        Ok(())
    }

    fn free(&mut self, a: &Allocator<'_>, pcp: &mut PcpSet, b: Live) -> Result<(), String> {
        // SAFETY: `b` is one of this CPU's live blocks: allocated by this run with this order, not freed since
        // (it left `live` just now, and `live` holds each allocation once).
        unsafe { a.free_pages_pcp(pcp, b.pfn, b.order) }.map_err(|e| format!("CPU {}: {}", self.cpu, e))?;
        self.held[b.zone_ix] -= 1 << b.order;
        self.nodes[b.zone_ix / MAX_NR_ZONES].frees += 1;
        Ok(())
    }

    /// Frees every live block.
    fn free_all(&mut self, a: &Allocator<'_>, pcp: &mut PcpSet) -> Result<(), String> {
        while let Some(b) = self.live.pop() {
            self.free(a, pcp, b)?;
            self.frees += 1;
        }
        Ok(())
    }
}

/// Runs `f` on every online CPU with that CPU's traffic state; the first error wins.
fn on_every_cpu(
    states: &[spin::Mutex<CpuStress>],
    pcp: &[spin::Mutex<PcpSet>],
    f: &(dyn Fn(&mut CpuStress, &mut PcpSet) -> Result<(), String> + Sync),
) -> Result<(), String> {
    let error: spin::Mutex<Option<String>> = spin::Mutex::new(None);
    crate::smp::run_on_all(&|me| {
        let (Some(st), Some(p)) = (states.get(me.cpu as usize), pcp.get(me.cpu as usize)) else { return };
        if let Err(e) = f(&mut st.lock(), &mut p.lock()) {
            error.lock().get_or_insert(e);
        }
    });
    error.into_inner().map_or(Ok(()), Err)
}

/// Runs the stress for `secs` seconds (at least one round). Returns the `@@stress` JSON object.
pub fn run(secs: u64) -> Result<String, String> {
    let model = crate::model::MODEL.get().ok_or("the memory model was not booted")?;
    let (khz, khz_source) = crate::time::tsc_khz_or_calibrate();
    let cpus = crate::percpu::online();
    let ncpus = cpus.iter().map(|c| c.cpu as usize + 1).max().unwrap_or(1);
    println!("memlab: stress: {} s on {} CPUs, seed {:#x}, tsc {} kHz ({})", secs, cpus.len(), SEED, khz, khz_source);

    // Everything the rounds write is allocated here, before the lock.
    let states: Vec<spin::Mutex<CpuStress>> =
        (0..ncpus as u32).map(|c| spin::Mutex::new(CpuStress::new(c, (MAX_LIVE / cpus.len()).max(1)))).collect();
    let mut base_allocated = [0u64; ZONE_IXS];
    // Zones with managed pages at the start (the ones the summary lists).
    let mut populated = [false; ZONE_IXS];
    // Heap blocks grown from the allocator, per zone, at the start (after giving back the wholly free ones). The
    // heap cannot grow while the model is locked, so what is read under one lock is consistent.
    crate::heap::trim();
    let (nr_nodes, initial_shape, initial_free, heap_blocks_start, heap_start) = {
        let mut m = model.lock();
        // The run starts with empty per-CPU lists (their pages back in the free lists).
        m.drain_all_pcp()?;
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
    let held = |states: &[spin::Mutex<CpuStress>]| {
        let mut h = [0u64; ZONE_IXS];
        for st in states {
            for (a, b) in h.iter_mut().zip(st.lock().held.iter()) {
                *a += b;
            }
        }
        h
    };
    let (mut rounds, mut traffic_cycles) = (0u64, 0u64);
    let t0 = rdtsc();
    let deadline = t0.saturating_add(secs.saturating_mul(khz).saturating_mul(1000));
    loop {
        let r0 = rdtsc();
        let (free_now, traffic) = {
            let mut guard = model.lock();
            let m = &mut *guard;
            let tr = rdtsc();
            {
                let a = m.buddy.shared(&mut m.mm);
                on_every_cpu(&states, &m.pcp, &|st, pcp| st.run_round(&a, pcp, nr_nodes, OPS_PER_ROUND))
                    .map_err(|e| format!("round {}: {}", rounds, e))?;
            }
            let traffic = rdtsc() - tr;
            verify(m, &held(&states), &base_allocated, &heap_start).map_err(|e| format!("round {}: {}", rounds, e))?;
            (m.buddy.total_free_pages(), traffic)
        };
        rounds += 1;
        traffic_cycles += traffic;
        let (mut ra, mut rf, mut rx, mut live, mut live_pages) = (0, 0, 0, 0, 0);
        for st in &states {
            let st = st.lock();
            ra += st.round.0;
            rf += st.round.1;
            rx += st.round.2;
            live += st.live.len();
            live_pages += st.held.iter().sum::<u64>();
        }
        let now = rdtsc();
        println!(
            "memlab: stress: round {}: {} ops on {} CPUs ({} allocs, {} frees, {} failures), live {} blocks / {} pages, free {}, verified, {} ms",
            rounds,
            OPS_PER_ROUND * cpus.len() as u64,
            cpus.len(),
            ra,
            rf,
            rx,
            live,
            live_pages,
            free_now,
            (now - r0) / khz
        );
        if now >= deadline {
            break;
        }
    }

    // Give everything back (each CPU its own blocks); the allocator must look as it did before.
    {
        let mut guard = model.lock();
        let m = &mut *guard;
        {
            let a = m.buddy.shared(&mut m.mm);
            on_every_cpu(&states, &m.pcp, &|st, pcp| st.free_all(&a, pcp)).map_err(|e| format!("final free: {}", e))?;
        }
        verify(m, &held(&states), &base_allocated, &heap_start).map_err(|e| format!("after the final free: {}", e))?;
        // drain_all_pages: what the CPUs' lists hold goes back, so the free-block shape can be compared.
        m.drain_all_pcp()?;
        verify(m, &held(&states), &base_allocated, &heap_start).map_err(|e| format!("after the drain: {}", e))?;
    }
    crate::heap::trim();
    let (final_free, final_shape, heap_blocks_end) = {
        let m = model.lock();
        verify(&m, &held(&states), &base_allocated, &heap_start).map_err(|e| format!("after the heap trim: {}", e))?;
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
    summary_json(
        &states,
        &populated,
        nr_nodes,
        rounds,
        traffic_cycles,
        khz,
        khz_source,
        secs,
        elapsed_ms,
        final_free,
        shape_checked,
        (heap_blocks_start.len(), heap_blocks_end.len()),
    )
}

/// The `@@stress` JSON object: totals, per node, per populated zone, per order, per migratetype, per CPU.
#[allow(clippy::too_many_arguments)]
fn summary_json(
    states: &[spin::Mutex<CpuStress>],
    populated: &[bool; ZONE_IXS],
    nr_nodes: usize,
    rounds: u64,
    traffic_cycles: u64,
    khz: u64,
    khz_source: &str,
    secs: u64,
    elapsed_ms: u64,
    final_free: u64,
    shape_checked: bool,
    heap_blocks: (usize, usize),
) -> Result<String, String> {
    let mut nodes = [NodeCounts::default(); MAX_NUMNODES];
    let mut zone_allocs = [0u64; ZONE_IXS];
    let mut order_allocs = [0u64; MAX_PAGE_ORDER as usize + 1];
    let (mut mt_allocs, mut mt_failures) = ([0u64; 4], [0u64; 4]);
    let (mut ops, mut allocs, mut frees, mut failures, mut max_order) = (0u64, 0u64, 0u64, 0u64, 0u32);
    let mut per_cpu = Vec::new();
    for st in states {
        let st = st.lock();
        if st.ops == 0 {
            continue;
        }
        for (a, b) in nodes.iter_mut().zip(st.nodes.iter()) {
            a.allocs += b.allocs;
            a.frees += b.frees;
            a.pages_allocated += b.pages_allocated;
        }
        let add = |a: &mut [u64], b: &[u64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut zone_allocs, &st.zone_allocs);
        add(&mut order_allocs, &st.order_allocs);
        add(&mut mt_allocs, &st.mt_allocs);
        add(&mut mt_failures, &st.mt_failures);
        ops += st.ops;
        allocs += st.allocs;
        frees += st.frees;
        failures += st.failures;
        max_order = max_order.max(st.max_order);
        per_cpu.push(format!(
            "{{\"cpu\":{},\"seed\":{},\"ops\":{},\"allocs\":{},\"frees\":{},\"failures\":{}}}",
            st.cpu,
            seed_for(st.cpu),
            st.ops,
            st.allocs,
            st.frees,
            st.failures
        ));
    }
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
    let traffic_us = traffic_cycles * 1000 / khz.max(1);
    Ok(format!(
        "{{\"seed\":{},\"seconds\":{},\"elapsed_ms\":{},\"tsc_khz\":{},\"tsc_source\":\"{}\",\"cpus\":{},\"rounds\":{},\"ops\":{},\"allocs\":{},\"frees\":{},\"failures\":{},\"max_order\":{},\"traffic_us\":{},\"ops_per_sec\":{},\"free_pages\":{},\"shape_checked\":{},\"heap_blocks\":[{},{}],\"nodes\":[{}],\"zones\":[{}],\"order_allocs\":[{}],\"migratetype_allocs\":[{}],\"migratetype_failures\":[{}],\"per_cpu\":[{}]}}",
        SEED,
        secs,
        elapsed_ms,
        khz,
        khz_source,
        per_cpu.len(),
        rounds,
        ops,
        allocs,
        frees,
        failures,
        max_order,
        traffic_us,
        ops * 1_000_000 / traffic_us.max(1),
        final_free,
        shape_checked,
        heap_blocks.0,
        heap_blocks.1,
        per_node.join(","),
        zones.join(","),
        list(&order_allocs),
        list(&mt_allocs),
        list(&mt_failures),
        per_cpu.join(",")
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
    // Pages on the CPUs' lists are allocated from the zone's point of view (Linux counts them out of
    // NR_FREE_PAGES): the run's own, plus what the lists hold.
    let mut listed = [0u64; ZONE_IXS];
    for set in &m.pcp {
        for (nid, zone, _, order) in set.lock().blocks() {
            listed[nid as usize * MAX_NR_ZONES + zone.index()] += 1 << order;
        }
    }
    for (ix, (&h, &b)) in held.iter().zip(base).enumerate() {
        let h = h + listed[ix];
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
