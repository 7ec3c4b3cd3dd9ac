//! Running deferred struct page init on a booted [`Mm`]: the reserved pages among the deferred ones at boot
//! (`init_reserved_page`), then the workers (`deferred_init_memmap`): per node, section-bounded jobs
//! ([`crate::deferred::deferred_jobs`]) cut into padata chunks ([`crate::deferred::padata_chunks`]) that any
//! number of threads run at once through [`DeferredInit::run_chunk`].
//!
//! A worker writes what eager memmap init writes for a free memory page (`__init_single_page`), and the
//! pageblock migratetype (MOVABLE) at pageblock-aligned free pfns through the checked `set_pfnblock_flags_mask`,
//! as `deferred_free_range` does. A reserved page among the deferred ones is initialized at boot without its
//! pageblock's migratetype, as `init_reserved_page` does: so a pageblock whose first page is reserved and
//! deferred keeps migratetype 0 (UNMOVABLE) where eager init makes it MOVABLE, in Linux as here.
//!
//! # Invariants
//! - every pending pfn is written exactly once (its pages are claimed once through [`DisjointSections`], which
//!   refuses an overlap, and a chunk writes only pending pfns inside it); [`DeferredInit::finish`] checks the
//!   count against the pending total and clears the pending list;
//! - holes are never pending: they were written by the policy at boot, before any worker starts.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::Mm;
use crate::consts::*;
pub use crate::deferred::PendingRange;
use crate::deferred::{deferred_jobs, padata_chunks, PadataJob};
use crate::memblock::Memblock;
use crate::page::{Links, Page};
use crate::sparse::{migratetype, DisjointSections, SectionPages, Sparse};
use crate::usemap::{PageblockChecker, Violation};
use crate::zones::Zones;

/// One node's deferred work: the jobs of `deferred_init_memmap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeferredJob {
    pub nid: u32,
    /// `[start, end)` of the job (section-bounded at its end).
    pub start: u64,
    pub end: u64,
}

/// Writes the claimed pages of `[s, e)` (one section at most) as `__init_single_page` does.
/// With `handed` (every pending page is free memory), in the state the hand-over leaves it in (refcount 0):
/// [`crate::model::MmOptions::fuse_handover`].
fn write_pages(pages: SectionPages<'_>, s: u64, e: u64, nid: u32, zone: u8, handed: bool) {
    let sec_start = section_nr_to_pfn(pfn_to_section_nr(s));
    match pages {
        SectionPages::Full(slice) => {
            let flags = Page::link_bits(sec_start, zone, nid);
            if handed {
                for (p, pfn) in slice.iter_mut().zip(s..e) {
                    *p = Page::initialized_free(pfn, flags);
                }
            } else {
                for (p, pfn) in slice.iter_mut().zip(s..e) {
                    *p = Page::initialized(pfn, flags);
                }
            }
        }
        // A uniform section holds one memory range of one zone: it is claimed whole.
        SectionPages::Uniform(t) => t.init_single(sec_start, zone, nid),
    }
}

/// `init_reserved_page` for the reserved pages among the pending ones; returns the pending free ranges.
pub(super) fn init_reserved_pending(
    sparse: &mut Sparse,
    memblock: &Memblock,
    pending: Vec<PendingRange>,
) -> Vec<PendingRange> {
    if pending.is_empty() {
        return pending;
    }
    // Address order (the policies init node by node), which the workers' lookups rely on.
    let mut pending = pending;
    pending.sort_unstable_by_key(|r| r.start_pfn);
    let mut free = Vec::with_capacity(pending.len());
    let mut reserved_parts = Vec::new();
    let reserved: Vec<(u64, u64)> = memblock.reserved.iter().map(|r| (r.start_pfn, r.end_pfn)).collect();
    for r in pending {
        crate::deferred::split_by(
            &reserved,
            r.start_pfn,
            r.end_pfn,
            |s, e| free.push(PendingRange { start_pfn: s, end_pfn: e, ..r }),
            |s, e| reserved_parts.push(PendingRange { start_pfn: s, end_pfn: e, ..r }),
        );
    }
    for r in reserved_parts {
        let mut pfn = r.start_pfn;
        while pfn < r.end_pfn {
            let nr = pfn_to_section_nr(pfn);
            let (sec_start, sec_end) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1).min(r.end_pfn));
            let whole = (pfn, sec_end) == (sec_start, sec_start + PAGES_PER_SECTION);
            let uniform = sparse.section(nr).is_some_and(|ms| ms.uniform());
            match sparse.uniform_template_mut(nr) {
                Some(t) if whole => t.init_single(sec_start, r.zone as u8, r.nid),
                _ => {
                    if uniform {
                        let _ = sparse.materialize(nr);
                    }
                    let flags = Page::link_bits(sec_start, r.zone as u8, r.nid);
                    sparse.write_pages(pfn, sec_end, |p| Page::initialized(p, flags));
                }
            }
            pfn = sec_end;
        }
    }
    free
}

/// The workers' shared state over a booted [`Mm`] (see the module documentation). `Sync`: threads share it.
pub struct DeferredInit<'m> {
    sections: DisjointSections<'m>,
    zones: &'m Zones,
    checker: spin::Mutex<&'m mut PageblockChecker>,
    pending: &'m [PendingRange],
    written: AtomicU64,
    /// Write the pages in the hand-over's state (`MmOptions::fuse_handover`).
    handed: bool,
}

impl Mm {
    /// The deferred init of this `Mm` (nothing to do without `deferred_init` or once done). Asserts that every
    /// pending pfn is memory (memblock.memory): holes are never deferred, they were initialized at boot, before
    /// any worker starts.
    pub fn deferred_init(&mut self) -> DeferredInit<'_> {
        let memory = &self.memblock.memory;
        for r in &self.deferred {
            let i = memory.partition_point(|m| m.end_pfn <= r.start_pfn);
            assert!(
                memory.get(i).is_some_and(|m| m.start_pfn <= r.start_pfn && r.end_pfn <= m.end_pfn),
                "pending pfns [{:#x}, {:#x}) are not one memory range: a hole is pending deferred init",
                r.start_pfn,
                r.end_pfn
            );
        }
        DeferredInit {
            sections: DisjointSections::new(&mut self.sparse),
            zones: &self.zones,
            checker: spin::Mutex::new(&mut self.checker),
            pending: &self.deferred,
            written: AtomicU64::new(0),
            handed: self.opts.fuse_handover,
        }
    }

    /// Clears the pending list once the workers ran every chunk of every job; `written` and `pending` are the
    /// workers' counts ([`DeferredInit::written`], [`DeferredInit::pending_pages`]), which must agree (a page
    /// missed is a bug). Returns the pages written.
    pub fn deferred_done(&mut self, written: u64, pending: u64) -> u64 {
        assert_eq!(written, pending, "deferred init wrote {written} pages of {pending} pending");
        if self.opts.fuse_handover {
            // The workers wrote every pending (free) page in the hand-over's state.
            self.handed.extend(self.deferred.iter().map(|r| crate::memmap::HandedRange {
                start_pfn: r.start_pfn,
                end_pfn: r.end_pfn,
                zone_id: crate::page::zone_id_of_flags(Page::link_bits(r.start_pfn, r.zone as u8, r.nid)),
            }));
            self.handed.sort_unstable_by_key(|h| h.start_pfn);
        }
        self.deferred.clear();
        written
    }
}

impl<'m> DeferredInit<'m> {
    /// Pages still to write, all nodes.
    pub fn pending_pages(&self) -> u64 {
        self.pending.iter().map(|r| r.end_pfn - r.start_pfn).sum()
    }

    /// Pages written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// `deferred_init_memmap`'s jobs, node by node.
    pub fn jobs(&self) -> Vec<DeferredJob> {
        let mut out = Vec::new();
        let nids = self.zones.nodes.len() as u32;
        for nid in 0..nids {
            let free: Vec<(u64, u64)> =
                self.pending.iter().filter(|r| r.nid == nid).map(|r| (r.start_pfn, r.end_pfn)).collect();
            out.extend(deferred_jobs(&free).into_iter().map(|(start, end)| DeferredJob { nid, start, end }));
        }
        out
    }

    /// The nodes with deferred pages, in order.
    pub fn nodes(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.pending.iter().map(|r| r.nid).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Node `nid`'s work for `max_threads` threads: the padata chunks of each of its jobs, in order.
    pub fn node_chunks(&self, nid: u32, max_threads: u64) -> Vec<(u64, u64)> {
        self.jobs().iter().filter(|j| j.nid == nid).flat_map(|j| self.chunks(j, max_threads)).collect()
    }

    /// The padata chunks of `job` for `max_threads` threads (the node's CPUs).
    pub fn chunks(&self, job: &DeferredJob, max_threads: u64) -> Vec<(u64, u64)> {
        let pj = PadataJob {
            start: job.start,
            size: job.end - job.start,
            align: PAGES_PER_SECTION,
            min_chunk: PAGES_PER_SECTION,
            max_threads,
        };
        padata_chunks(pj).1
    }

    /// `deferred_init_memmap_chunk`: initializes node `nid`'s pending pfns in `[start, end)` (its zone's free
    /// ranges; another node's pages interleaved there are its own worker's) and sets the pageblock migratetype at
    /// their pageblock-aligned pfns. Safe to call from several threads at once on the chunks of
    /// [`DeferredInit::chunks`] (pages claimed twice are a bug and panic). Returns the pages written.
    pub fn run_chunk(&self, nid: u32, start: u64, end: u64) -> Result<u64, Violation> {
        let first = self.pending.partition_point(|r| r.end_pfn <= start);
        let mut n = 0;
        for r in self.pending[first..].iter().take_while(|r| r.start_pfn < end).filter(|r| r.nid == nid) {
            let (s, e) = (r.start_pfn.max(start), r.end_pfn.min(end));
            let mut pfn = s;
            while pfn < e {
                let nr = pfn_to_section_nr(pfn);
                let sec_end = section_nr_to_pfn(nr + 1).min(e);
                let pages = self
                    .sections
                    .claim(pfn, sec_end)
                    .unwrap_or_else(|| panic!("pfns {pfn:#x}-{sec_end:#x} claimed twice"));
                write_pages(pages, pfn, sec_end, r.nid, r.zone as u8, self.handed);
                let links = Links { nid: r.nid, zone: r.zone as u8 };
                let mut pb = align_up(pfn, PAGEBLOCK_NR_PAGES);
                while pb < sec_end {
                    self.checker.lock().set_pfnblock_flags_mask_initialized(
                        self.sections.sparse(),
                        self.zones,
                        pb,
                        links,
                        migratetype::MOVABLE,
                        migratetype::MASK,
                        "deferred_free_range",
                    )?;
                    pb += PAGEBLOCK_NR_PAGES;
                }
                n += sec_end - pfn;
                pfn = sec_end;
            }
        }
        self.written.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}
