//! Sections handed out to several threads at once, each at most once: how parallel deferred init writes the
//! memmap (each padata chunk is whole sections, so no two workers share one).
//!
//! [`DisjointSections`] borrows the `Sparse` mutably for its lifetime, so no other reference to a struct page
//! exists meanwhile; [`DisjointSections::claim`] hands out a section's pages (or its uniform template) as
//! `&mut` only the first time it is asked for that section (an atomic bit per section), so two threads can never
//! hold the same pages. The section table and the usemap stay readable through [`DisjointSections::sparse`]:
//! they are not struct pages (the usemap words are atomics).

use alloc::vec::Vec;

use super::*;

/// Struct pages claimed: a run of one section's memmap, or a uniform section's template.
pub enum SectionPages<'a> {
    /// The pages of the claimed pfn range, the first at index 0.
    Full(&'a mut [Page]),
    /// A uniform section (compressed mode), claimed whole: its one template page.
    Uniform(&'a mut Page),
}

/// See the module documentation.
pub struct DisjointSections<'a> {
    sparse: &'a Sparse,
    /// The pfn ranges handed out so far, sorted and disjoint.
    claimed: spin::Mutex<Vec<(u64, u64)>>,
}

// SAFETY: the struct pages reachable through a DisjointSections are handed out at most once each (the claimed
// ranges are checked for overlap under a lock), and the `Sparse` is only read through `&Sparse` methods that touch
// the section table and the usemap (atomics), never struct pages; the backing (not Sync) is not used.
unsafe impl Sync for DisjointSections<'_> {}
// SAFETY: as above; nothing is tied to the creating thread.
unsafe impl Send for DisjointSections<'_> {}

impl<'a> DisjointSections<'a> {
    /// Borrows `sparse` mutably for `'a`: no struct page reference can exist outside this value meanwhile.
    pub fn new(sparse: &'a mut Sparse) -> DisjointSections<'a> {
        DisjointSections { sparse, claimed: spin::Mutex::new(Vec::new()) }
    }

    /// The section table and the usemap (read-only, plus the usemap's atomic writes).
    pub fn sparse(&self) -> &Sparse {
        self.sparse
    }

    /// The struct pages of `[start, end)`, which must lie in one section with a memmap (a uniform section only
    /// whole); `None` when the range is empty, spans sections, has no memmap, or overlaps a range claimed before.
    pub fn claim(&self, start: u64, end: u64) -> Option<SectionPages<'a>> {
        let nr = pfn_to_section_nr(start);
        let sec_start = section_nr_to_pfn(nr);
        if start >= end || end > sec_start + PAGES_PER_SECTION {
            return None;
        }
        let ms = self.sparse.section(nr)?;
        if !ms.valid() || (ms.uniform() && (start, end) != (sec_start, sec_start + PAGES_PER_SECTION)) {
            return None;
        }
        {
            let mut claimed = self.claimed.lock();
            let i = claimed.partition_point(|&(_, e)| e <= start);
            if claimed.get(i).is_some_and(|&(s, _)| s < end) {
                return None;
            }
            claimed.insert(i, (start, end));
        }
        if ms.uniform() {
            // SAFETY: a uniform section's decoded pointer is its template page, owned by the Sparse borrowed mutably
            // for 'a; the whole section was claimed once (checked above), so this is the only reference to it.
            Some(SectionPages::Uniform(unsafe { &mut *(ms.coded_map() as *mut Page) }))
        } else {
            let addr = ms.coded_map().wrapping_add(start.wrapping_mul(PAGE_STRUCT_SIZE));
            // SAFETY: `[start, end)` lies in the memmap of a valid non-uniform section (PAGES_PER_SECTION pages owned
            // by the Sparse borrowed mutably for 'a); no claimed range overlaps it (checked above), so no other
            // reference to these pages exists or will be handed out.
            Some(SectionPages::Full(unsafe {
                core::slice::from_raw_parts_mut(addr as *mut Page, (end - start) as usize)
            }))
        }
    }
}
