//! The pageblock usemap words of a section: `get_pfnblock_flags_mask` and the unchecked compare-and-swap
//! `set_pfnblock_flags_mask` (the checked entry point is [`crate::usemap`]).

use super::*;

impl Sparse {
    /// `get_pfnblock_flags_mask`: the pageblock flags of `pfn` under `mask` (0 if the section has none).
    #[inline]
    pub fn get_pfnblock_flags_mask(&self, pfn: u64, mask: u64) -> u64 {
        let Some(ms) = self.section(pfn_to_section_nr(pfn)) else { return 0 };
        let (word, shift) = pfnblock_bitidx(pfn);
        (ms.usage.pageblock_flags[word].load(Ordering::Relaxed) >> shift) & mask
    }

    /// `set_pfnblock_flags_mask` without the zone check (see `crate::usemap` for the checked entry point):
    /// a compare-and-swap loop, as Linux does, so concurrent writers of other pageblocks in the word never lose
    /// updates. Returns false if the section does not exist.
    #[inline]
    pub fn set_pfnblock_flags_mask(&self, pfn: u64, flags: u64, mask: u64) -> bool {
        let Some(ms) = self.section(pfn_to_section_nr(pfn)) else { return false };
        let (word, shift) = pfnblock_bitidx(pfn);
        let (mask, flags) = (mask << shift, (flags << shift) & (mask << shift));
        let w = &ms.usage.pageblock_flags[word];
        let mut old = w.load(Ordering::Relaxed);
        loop {
            match w.compare_exchange_weak(old, (old & !mask) | flags, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(cur) => old = cur,
            }
        }
    }
}

/// `pfn_to_bitidx` split into (word, shift) of the 4 usemap words.
#[inline]
const fn pfnblock_bitidx(pfn: u64) -> (usize, u32) {
    let bitidx = ((pfn & (PAGES_PER_SECTION - 1)) >> PAGEBLOCK_ORDER) * NR_PAGEBLOCK_BITS as u64;
    ((bitidx / 64) as usize, (bitidx % 64) as u32)
}
