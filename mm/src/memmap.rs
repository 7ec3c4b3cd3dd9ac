//! Memmap initialization primitives: what a hole policy can do to struct pages.
//!
//! A policy (see [`crate::policy`]) drives memmap init through an [`InitCtx`] and its three primitives, each a
//! faithful model of a Linux function:
//! - [`InitCtx::init_memory_range`]: `memmap_init_range(.., MEMINIT_EARLY, .., MIGRATE_MOVABLE)`: every pfn gets
//!   `__init_single_page` with the given links, and every pageblock-aligned pfn gets MIGRATE_MOVABLE through the
//!   checked `set_pfnblock_flags_mask` (call site `memmap_init_range`);
//! - [`InitCtx::init_unavailable_range`]: mm/mm_init.c `init_unavailable_range` (0740a50b9baa): every pfn whose
//!   pageblock start is `pfn_valid` gets `__init_single_page` with the given links and PG_reserved; no migratetype;
//! - [`InitCtx::zero_unavailable_range`]: `init_unavailable_range` of Linux 5.6-5.11 (and `zero_pfn_range` of
//!   4.17-5.5): `mm_zero_struct_page` + PG_reserved, so the links read node 0, zone 0 (and section 0).
//!
//! Both hole primitives skip whole pageblocks whose first pfn is not `pfn_valid`, exactly as Linux does, which is
//! what makes the printed counts match. Each call is recorded as a [`HoleRange`] with the rule that decided the
//! links, for reports and `explain`.
//!
//! # Invariants
//! - a primitive touches only pages that have a memmap; a uniform (compressed) section is materialized before a
//!   single page of it changes, so compressed and full runs end in the same page contents;
//! - the pfn arithmetic never overflows: ranges are clamped to NR_MEM_SECTIONS by the caller's layout checks.

use alloc::string::String;
use alloc::vec::Vec;

use crate::consts::*;
use crate::layout::MemRange;
use crate::page::{pg, Page};
use crate::sparse::{migratetype, Sparse};
use crate::usemap::{PageblockChecker, Violation};
use crate::zones::{ZoneType, Zones};

/// A range of hole pages a policy initialized, and the rule that gave them their links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoleRange {
    pub start_pfn: u64,
    pub end_pfn: u64,
    /// The links given (`None`: zeroed, i.e. node 0 / zone 0 by accident rather than by choice).
    pub nid: Option<u32>,
    pub zone: Option<ZoneType>,
    /// Pages actually initialized (pageblocks without a memmap skipped).
    pub pages: u64,
    /// The policy's rule, in words.
    pub rule: &'static str,
}

/// One printed unavailable-ranges count, in print order (`nid`/`zone` are `None` for Linux 5.6-5.11's single
/// `Zeroed struct page` total, and `nid` is `None` for v5's per-zone line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub nid: Option<u32>,
    pub zone: Option<ZoneType>,
    pub pages: u64,
}

/// What a policy works with. See the module documentation.
pub struct InitCtx<'a> {
    /// The sections; crate-private because a section's pages may not be read before memmap init wrote them
    /// (single-pass init, [`Sparse::fill_unwritten`]): policies use the primitives.
    pub(crate) sparse: &'a mut Sparse,
    /// The pfn ranges written so far (what `fill_unwritten` must not overwrite).
    pub(crate) written: &'a mut Vec<(u64, u64)>,
    pub zones: &'a Zones,
    /// memblock.memory.
    pub memory: &'a [MemRange],
    pub checker: &'a mut PageblockChecker,
    /// Linux-format log lines, in print order.
    pub lines: &'a mut Vec<String>,
    /// Where the `Initmem setup node` lines start in `lines` (policies of Linux 5.6-5.11 print before them).
    pub initmem_at: usize,
    pub holes: &'a mut Vec<HoleRange>,
    /// The unavailable-ranges counts printed so far.
    pub unavailable: &'a mut Vec<Unavailable>,
    /// max_pfn: the end of the highest memory range.
    pub max_pfn: u64,
    /// Memory pfn ranges whose init is deferred (sorted, disjoint; empty without deferred init): the memory
    /// primitives skip them and record them in `pending`.
    pub(crate) defer: &'a [(u64, u64)],
    pub(crate) pending: &'a mut Vec<crate::deferred::PendingRange>,
    /// With the hand-over fused into memmap init ([`crate::model::MmOptions::fuse_handover`]): memblock.reserved,
    /// so that the memory primitive writes every other page as the hand-over leaves it.
    pub(crate) fuse_reserved: Option<&'a [crate::layout::Reservation]>,
    /// The memory pfn ranges written that way, with their zone id (what the hand-over then skips).
    pub(crate) handed: &'a mut Vec<HandedRange>,
    /// The pfn ranges the hole primitives wrote (they may overwrite memory pages: such pages leave `handed`).
    pub(crate) hole_written: &'a mut Vec<(u64, u64)>,
}

/// `handed` without the pfns of `written` (any order, may overlap), sorted by pfn. Pfns that two records of
/// `handed` share (written twice by memory init, with links that may differ) are left out too: the hand-over
/// then reads what the page holds.
pub(crate) fn subtract_written(mut handed: Vec<HandedRange>, mut written: Vec<(u64, u64)>) -> Vec<HandedRange> {
    handed.sort_unstable_by_key(|h| h.start_pfn);
    let mut reach = 0;
    for h in &handed {
        if h.start_pfn < reach {
            written.push((h.start_pfn, h.end_pfn.min(reach)));
        }
        reach = reach.max(h.end_pfn);
    }
    if written.is_empty() {
        return handed;
    }
    written.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(written.len());
    for (s, e) in written {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = Vec::with_capacity(handed.len());
    let mut j = 0;
    for h in handed {
        let mut a = h.start_pfn;
        // Loop invariant: the part of `h` below `a` is emitted or overwritten; merged[j..] holds every written
        // range that ends above `a` (both lists sorted and disjoint).
        while a < h.end_pfn {
            while merged.get(j).is_some_and(|w| w.1 <= a) {
                j += 1;
            }
            match merged.get(j) {
                Some(&(ws, we)) if ws < h.end_pfn => {
                    if ws > a {
                        out.push(HandedRange { start_pfn: a, end_pfn: ws, ..h });
                    }
                    a = a.max(we);
                }
                _ => {
                    out.push(HandedRange { start_pfn: a, ..h });
                    a = h.end_pfn;
                }
            }
        }
    }
    out
}

/// Memory pages whose struct pages memmap init wrote in the state the boot-time hand-over leaves them in
/// (`__free_pages_core`'s per-page work done: refcount 0, PG_reserved clear), all linked to zone id `zone_id`
/// ([`crate::page::zone_id_of_flags`]): the hand-over links their max-order chunks without visiting each page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandedRange {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub zone_id: usize,
}

impl InitCtx<'_> {
    /// Logs a line after everything printed so far.
    pub fn log(&mut self, line: String) {
        self.lines.push(line);
    }

    /// Logs an unavailable-ranges line and records its count.
    pub fn log_unavailable(&mut self, line: String, u: Unavailable, before_initmem: bool) {
        if before_initmem {
            self.log_before_initmem(line);
        } else {
            self.log(line);
        }
        self.unavailable.push(u);
    }

    /// Logs a line before the `Initmem setup node` lines (where Linux 5.6-5.11 printed its zeroed count).
    pub fn log_before_initmem(&mut self, line: String) {
        self.lines.insert(self.initmem_at, line);
        self.initmem_at += 1;
    }

    /// `memmap_init_range(MEMINIT_EARLY)` over `[start_pfn, end_pfn)` with links `(nid, zone)`.
    pub fn init_memory_range(
        &mut self,
        start_pfn: u64,
        end_pfn: u64,
        nid: u32,
        zone: ZoneType,
    ) -> Result<(), Violation> {
        if self.defer.is_empty() {
            return self.init_memory_range_now(start_pfn, end_pfn, nid, zone);
        }
        // Deferred struct page init: the deferred parts are left to the workers (`defer_init`).
        let (mut eager, mut deferred) = (Vec::new(), Vec::new());
        crate::deferred::split_by(
            self.defer,
            start_pfn,
            end_pfn,
            |s, e| eager.push((s, e)),
            |s, e| deferred.push((s, e)),
        );
        for (s, e) in deferred {
            self.pending.push(crate::deferred::PendingRange { start_pfn: s, end_pfn: e, nid, zone });
        }
        for (s, e) in eager {
            self.init_memory_range_now(s, e, nid, zone)?;
        }
        Ok(())
    }

    fn init_memory_range_now(
        &mut self,
        start_pfn: u64,
        end_pfn: u64,
        nid: u32,
        zone: ZoneType,
    ) -> Result<(), Violation> {
        let z = zone as u8;
        let mut pfn = start_pfn;
        // Loop invariant: every pfn in [start_pfn, pfn) is initialized; `pfn` is the first pfn of a new chunk
        // that ends at the next section boundary or at end_pfn.
        while pfn < end_pfn {
            let nr = pfn_to_section_nr(pfn);
            let sec_start = section_nr_to_pfn(nr);
            let chunk_end = (sec_start + PAGES_PER_SECTION).min(end_pfn);
            let uniform = self.sparse.section(nr).is_some_and(|ms| ms.uniform());
            if uniform && pfn == sec_start && chunk_end == sec_start + PAGES_PER_SECTION {
                if let Some(t) = self.sparse.uniform_template_mut(nr) {
                    t.init_single(sec_start, z, nid);
                }
            } else {
                if uniform {
                    // A partial write to a uniform section: give it a real memmap first.
                    let _ = self.sparse.materialize(nr);
                    self.record_written(sec_start, sec_start + PAGES_PER_SECTION);
                }
                // __init_single_page, with the links computed once per section (they hold the section number).
                let flags = Page::link_bits(sec_start, z, nid);
                let written = match self.fuse_reserved {
                    None => self.sparse.write_pages(pfn, chunk_end, |p| Page::initialized(p, flags)),
                    Some(reserved) => self.write_handed(pfn, chunk_end, flags, reserved),
                };
                if written {
                    self.record_written(pfn, chunk_end);
                }
            }
            // Pageblock migratetypes: only the pageblock-aligned pfns inside the range, as Linux does.
            let mut pb = align_up(pfn, PAGEBLOCK_NR_PAGES);
            while pb < chunk_end {
                self.checker.set_pfnblock_flags_mask(
                    self.sparse,
                    self.zones,
                    pb,
                    migratetype::MOVABLE,
                    migratetype::MASK,
                    "memmap_init_range",
                )?;
                pb += PAGEBLOCK_NR_PAGES;
            }
            pfn = chunk_end;
        }
        Ok(())
    }

    /// `[pfn, end)` (one section) as memmap init writes it and, on every page not in `reserved`, the hand-over's
    /// per-page work in the same store (the idea of Linux 6.1's `deferred_init_maxorder`: free what was just
    /// initialized while it is in cache); records those pages in `handed`. False if the section has no memmap.
    fn write_handed(&mut self, pfn: u64, end: u64, flags: u64, reserved: &[crate::layout::Reservation]) -> bool {
        let zone_id = crate::page::zone_id_of_flags(flags);
        let mut a = pfn;
        let mut j = reserved.partition_point(|r| r.end_pfn <= pfn);
        // Loop invariant: [pfn, a) is written (the free pages recorded in `handed`); reserved[j] is the first
        // reservation that ends above `a`.
        while a < end {
            let (rs, re) = reserved.get(j).map_or((u64::MAX, u64::MAX), |r| (r.start_pfn, r.end_pfn));
            let (b, free) = if rs <= a { (re.min(end), false) } else { (rs.min(end), true) };
            let written = if free {
                self.sparse.write_pages(a, b, |p| Page::initialized_free(p, flags))
            } else {
                self.sparse.write_pages(a, b, |p| Page::initialized(p, flags))
            };
            if !written {
                return false;
            }
            if free {
                match self.handed.last_mut() {
                    Some(last) if last.end_pfn == a && last.zone_id == zone_id => last.end_pfn = b,
                    _ => self.handed.push(HandedRange { start_pfn: a, end_pfn: b, zone_id }),
                }
            } else {
                j += 1;
            }
            a = b;
        }
        true
    }

    /// Upstream `init_unavailable_range(spfn, epfn, zone, node)`: returns the pages initialized.
    pub fn init_unavailable_range(
        &mut self,
        start_pfn: u64,
        end_pfn: u64,
        zone: ZoneType,
        nid: u32,
        rule: &'static str,
    ) -> u64 {
        let z = zone as u8;
        let n = self.for_each_hole_page(start_pfn, end_pfn, |pfn| {
            let mut page = Page::initialized(pfn, Page::link_bits(pfn, z, nid));
            page.set_flag(pg::RESERVED);
            page
        });
        self.holes.push(HoleRange { start_pfn, end_pfn, nid: Some(nid), zone: Some(zone), pages: n, rule });
        n
    }

    /// Linux 4.17-5.11 hole init: `mm_zero_struct_page` + `__SetPageReserved`; returns the pages zeroed.
    pub fn zero_unavailable_range(&mut self, start_pfn: u64, end_pfn: u64, rule: &'static str) -> u64 {
        let n = self.for_each_hole_page(start_pfn, end_pfn, |_| {
            let mut page = Page::ZEROED;
            page.set_flag(pg::RESERVED);
            page
        });
        self.holes.push(HoleRange { start_pfn, end_pfn, nid: None, zone: None, pages: n, rule });
        n
    }

    /// Calls `f` for every pfn of `[start_pfn, end_pfn)` whose pageblock start is `pfn_valid` (skipping the
    /// whole pageblock otherwise, as Linux's `init_unavailable_range` does); returns how many.
    fn for_each_hole_page(&mut self, start_pfn: u64, end_pfn: u64, mut f: impl FnMut(u64) -> Page) -> u64 {
        let mut count = 0;
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let pb_end = pageblock_end_pfn(pfn).min(end_pfn);
            if !self.sparse.pfn_valid(pageblock_start_pfn(pfn)) {
                // Linux skips a pageblock at a time; where the whole section has no memmap, every pageblock of
                // it would be skipped, so skip the section at once (same count, far fewer steps on sparse maps).
                let nr = pfn_to_section_nr(pfn);
                let no_memmap = self.sparse.section(nr).is_none_or(|ms| !ms.valid());
                pfn = if no_memmap { section_nr_to_pfn(nr + 1).min(end_pfn) } else { pb_end };
                continue;
            }
            let nr = pfn_to_section_nr(pfn);
            if self.sparse.section(nr).is_some_and(|ms| ms.uniform()) && self.sparse.materialize(nr).is_ok() {
                let sec_start = section_nr_to_pfn(nr);
                self.record_written(sec_start, sec_start + PAGES_PER_SECTION);
            }
            if self.sparse.write_pages(pfn, pb_end, &mut f) {
                self.record_written(pfn, pb_end);
                self.hole_written.push((pfn, pb_end));
                count += pb_end - pfn;
            }
            pfn = pb_end;
        }
        count
    }

    /// Records `[start, end)` as written, extending the last range when it continues it (the common case).
    #[inline]
    fn record_written(&mut self, start: u64, end: u64) {
        match self.written.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => self.written.push((start, end)),
        }
    }

    /// The memory ranges of node `nid` (`for_each_mem_pfn_range(i, nid, ..)`).
    pub fn node_ranges(&self, nid: u32) -> impl Iterator<Item = MemRange> + '_ {
        self.memory.iter().copied().filter(move |r| r.nid == nid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(start_pfn: u64, end_pfn: u64, zone_id: usize) -> HandedRange {
        HandedRange { start_pfn, end_pfn, zone_id }
    }

    #[test]
    fn subtract_written_cuts_overwritten_and_doubly_recorded_pfns() {
        let handed = alloc::vec![h(100, 200, 1), h(0, 50, 2), h(300, 400, 1)];
        // Overlapping writes, one spanning two records, one inside a record, one outside all.
        let written = alloc::vec![(180, 320), (190, 310), (10, 20), (500, 600)];
        assert_eq!(subtract_written(handed, written), [h(0, 10, 2), h(20, 50, 2), h(100, 180, 1), h(320, 400, 1)]);
        assert_eq!(subtract_written(alloc::vec![h(5, 9, 0), h(0, 4, 0)], Vec::new()), [h(0, 4, 0), h(5, 9, 0)]);
        // Two records of the same pfns: neither is trusted there.
        assert_eq!(
            subtract_written(alloc::vec![h(0, 100, 1), h(50, 150, 2)], Vec::new()),
            [h(0, 50, 1), h(100, 150, 2)]
        );
    }
}
