//! Deferred struct page init as Linux 6.1 decides and splits it (CONFIG_DEFERRED_STRUCT_PAGE_INIT, on in
//! distribution kernels): pure functions over the layout, shared by the kernel and the host.
//!
//! - [`memmap_init_calls`]: the calls 6.1's `memmap_init` makes to `memmap_init_range`, in its order: every
//!   memblock range in address order (all nodes), and for each populated zone of the range's node the range
//!   clipped to that zone.
//! - [`plan`]: `defer_init` over those calls, with its static state (`prev_end_pfn`, `nr_initialised`): only the
//!   zone that ends where its node ends is deferred ("always populate low zones"); once more than
//!   PAGES_PER_SECTION of its pages were initialized, the first section-aligned pfn becomes the node's
//!   `first_deferred_pfn`, and every later range of that zone is deferred whole (dc2da7b45ffe, "mm: memmap defer
//!   init doesn't work as expected"). Holes are never deferred: `init_unavailable_range` runs at boot.
//! - [`deferred_jobs`]: `deferred_init_memmap`'s loop over the node's free ranges from `first_deferred_pfn`, each
//!   job reaching up to the next section boundary (`ALIGN(epfn, PAGES_PER_SECTION)`).
//! - [`padata_chunks`]: how `padata_do_multithreaded` (e44431498f5f, v5.7) cuts one job among the node's CPUs:
//!   `nworks = min(size / min_chunk, max_threads)`, chunks of `max(size / (nworks * 4), min_chunk)` rounded up
//!   to the alignment, each ending on a chunk boundary.
//!
//! # Invariants
//! - [`plan`]: for every call, `[start, eager_end)` is initialized at boot and `[eager_end, end)` is deferred;
//!   a node's `first_deferred_pfn` is section aligned and lies in the zone that ends at the node's end; the
//!   eager and deferred parts of all calls partition the memory pfns;
//! - [`padata_chunks`]: the chunks cover `[start, start + size)` exactly, in order, without overlap.

use alloc::vec::Vec;

use crate::consts::{align_up, PAGES_PER_SECTION};
use crate::layout::MemRange;
use crate::zones::{ZoneType, Zones};

/// A range of memory pfns of one node and zone whose struct pages are deferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRange {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub nid: u32,
    pub zone: ZoneType,
}

/// Splits `[start, end)` by the sorted, disjoint `defer` ranges: calls `eager(s, e)` for the parts outside them
/// and `deferred(s, e)` for the parts inside, in address order.
pub fn split_by(
    defer: &[(u64, u64)],
    start: u64,
    end: u64,
    mut eager: impl FnMut(u64, u64),
    mut deferred: impl FnMut(u64, u64),
) {
    let mut at = start;
    let first = defer.partition_point(|&(_, e)| e <= start);
    for &(ds, de) in &defer[first..] {
        if ds >= end {
            break;
        }
        let (ds, de) = (ds.max(at), de.min(end));
        if at < ds {
            eager(at, ds);
        }
        if ds < de {
            deferred(ds, de);
        }
        at = de.max(at);
    }
    if at < end {
        eager(at, end);
    }
}

/// One call of `memmap_init_range` from `memmap_init_zone_range` (MEMINIT_EARLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitCall {
    pub nid: u32,
    pub zone: ZoneType,
    /// The memblock range clipped to the zone: `[start_pfn, end_pfn)`.
    pub start_pfn: u64,
    pub end_pfn: u64,
    /// The zone's end (`zone_end_pfn`, what `defer_init` keys its state on).
    pub zone_end_pfn: u64,
}

/// The calls of 6.1's `memmap_init`, in order (see the module documentation).
pub fn memmap_init_calls(memory: &[MemRange], zones: &Zones) -> Vec<InitCall> {
    let mut calls = Vec::new();
    for r in memory {
        let Some(node) = zones.nodes.get(r.nid as usize) else { continue };
        for z in node.zones.iter().filter(|z| z.present_pages > 0) {
            let (zs, ze) = (z.zone_start_pfn, z.zone_end_pfn());
            let (s, e) = (r.start_pfn.clamp(zs, ze), r.end_pfn.clamp(zs, ze));
            if s < e {
                calls.push(InitCall { nid: r.nid, zone: z.zone_type, start_pfn: s, end_pfn: e, zone_end_pfn: ze });
            }
        }
    }
    calls
}

/// What `defer_init` decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeferPlan {
    /// Per call (same index as the calls): the end of the part initialized at boot.
    pub eager_end: Vec<u64>,
    /// Per node: `first_deferred_pfn`, `None` (ULONG_MAX) when nothing of the node is deferred.
    pub first_deferred_pfn: Vec<Option<u64>>,
}

impl DeferPlan {
    /// The deferred memory pfn ranges of node `nid`, in order (the tails of its calls).
    pub fn deferred_ranges(&self, calls: &[InitCall], nid: u32) -> Vec<(u64, u64)> {
        calls
            .iter()
            .zip(&self.eager_end)
            .filter(|(c, &e)| c.nid == nid && e < c.end_pfn)
            .map(|(c, &e)| (e, c.end_pfn))
            .collect()
    }

    /// Pages deferred, all nodes.
    pub fn deferred_pages(&self, calls: &[InitCall]) -> u64 {
        calls.iter().zip(&self.eager_end).map(|(c, &e)| c.end_pfn - e).sum()
    }
}

/// `defer_init` over `calls` (see the module documentation). `node_end_pfn(nid)` is `pgdat_end_pfn`;
/// `nr_nodes` sizes the per-node result.
pub fn plan(calls: &[InitCall], nr_nodes: usize, node_end_pfn: impl Fn(u32) -> u64) -> DeferPlan {
    let mut first: Vec<Option<u64>> = alloc::vec![None; nr_nodes];
    let (mut prev_end_pfn, mut nr_initialised) = (0u64, 0u64);
    let mut eager_end = Vec::with_capacity(calls.len());
    for c in calls {
        let mut end = c.end_pfn;
        // The static state is reset on the first pfn of a call whose zone end differs; the per-pfn steps
        // below are the loop of memmap_init_range, run in closed form.
        if c.start_pfn < c.end_pfn && prev_end_pfn != c.zone_end_pfn {
            prev_end_pfn = c.zone_end_pfn;
            nr_initialised = 0;
        }
        let low_zone = c.zone_end_pfn < node_end_pfn(c.nid);
        if !low_zone && c.start_pfn < c.end_pfn {
            match first.get(c.nid as usize).copied().flatten() {
                Some(_) => end = c.start_pfn,
                None => {
                    // The first pfn p of the call with nr_initialised(p) > PAGES_PER_SECTION and p section
                    // aligned, where nr_initialised(p) = nr_initialised + (p - start) + 1.
                    let need = PAGES_PER_SECTION.saturating_sub(nr_initialised); // p - start >= need
                    let candidate = align_up(c.start_pfn + need, PAGES_PER_SECTION);
                    if candidate < c.end_pfn {
                        end = candidate;
                        if let Some(slot) = first.get_mut(c.nid as usize) {
                            *slot = Some(candidate);
                        }
                    }
                    nr_initialised += end - c.start_pfn;
                }
            }
        }
        eager_end.push(end);
    }
    DeferPlan { eager_end, first_deferred_pfn: first }
}

/// `deferred_init_memmap`'s jobs for one node: `free` are the node's free pfn ranges in the deferred zone from
/// `first_deferred_pfn` on, sorted; each job starts at a free range and reaches the section boundary at or after
/// that range's end, and the next job starts at the first free range at or after that boundary.
pub fn deferred_jobs(free: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut jobs = Vec::new();
    let (mut from, mut i) = (0u64, 0usize);
    loop {
        // deferred_init_mem_pfn_range_in_zone(.., from): the next free range ending above `from`, from `from` on.
        while free.get(i).is_some_and(|&(_, e)| e <= from) {
            i += 1;
        }
        let Some(&(s, e)) = free.get(i) else { break };
        let epfn_align = align_up(e, PAGES_PER_SECTION);
        jobs.push((s.max(from), epfn_align));
        from = epfn_align;
    }
    jobs
}

/// One multithreaded job of `padata_do_multithreaded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadataJob {
    pub start: u64,
    pub size: u64,
    pub align: u64,
    pub min_chunk: u64,
    pub max_threads: u64,
}

/// How `padata_do_multithreaded` runs `job`: the number of works (threads) and the chunks in the order the
/// helpers take them.
pub fn padata_chunks(job: PadataJob) -> (u64, Vec<(u64, u64)>) {
    const LOAD_BALANCE_FACTOR: u64 = 4;
    if job.size == 0 {
        return (0, Vec::new());
    }
    let nworks = (job.size / job.min_chunk.max(1)).max(1).min(job.max_threads.max(1));
    if nworks == 1 {
        return (1, alloc::vec![(job.start, job.start + job.size)]);
    }
    let chunk = (job.size / (nworks * LOAD_BALANCE_FACTOR)).max(job.min_chunk);
    let chunk = chunk.div_ceil(job.align.max(1)) * job.align.max(1);
    let (mut start, mut left) = (job.start, job.size);
    let mut chunks = Vec::new();
    while left > 0 {
        // "So end is chunk size aligned if enough work remains."
        let size = ((start + 1).div_ceil(chunk) * chunk - start).min(left);
        chunks.push((start, start + size));
        start += size;
        left -= size;
    }
    (nworks, chunks)
}

#[cfg(test)]
mod tests;
