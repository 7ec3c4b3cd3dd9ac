//! memblock: the early memory map (memory ranges with node ids, reserved ranges with reasons) and the early,
//! node-aware, top-down page allocator that the memmap is carved from.
//!
//! Allocation follows Linux's `memblock_alloc_range_nid`: search the free ranges (memory minus reserved) of the
//! preferred node from the top down for an aligned block within `[min_pfn, max_pfn)`; with `exact_nid` stop
//! there, otherwise retry on every node and record the fallback as a [`MemblockEvent::NodeFallback`] (Linux
//! logs nothing there, but a lab should say when a memmap lands off-node).
//!
//! # Invariants
//! - `memory` is sorted, non-overlapping, adjacent same-node ranges merged (it comes from a `Layout`);
//! - `reserved` is sorted and non-overlapping; every reserved pfn has exactly one recorded reason;
//! - an allocation never returns a pfn that is reserved or not memory, and reserves what it returns.

use alloc::vec::Vec;
use core::fmt;

use crate::consts::align_down;
use crate::layout::{Layout, MemRange, Reservation, ReserveReason};

/// Something the allocator did that a user may want to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockEvent {
    /// An allocation for node `wanted` was satisfied from node `got`.
    NodeFallback { wanted: u32, got: u32, pages: u64, reason: ReserveReason },
}

/// Allocation failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemblockError {
    /// No free block of `pages` pages aligned to `align` pages on the wanted node(s).
    NoMemory { pages: u64, align: u64, nid: Option<u32> },
    /// A zero-sized or badly aligned request.
    BadRequest { pages: u64, align: u64 },
}

impl fmt::Display for MemblockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemblockError::NoMemory { pages, align, nid: Some(n) } => {
                write!(f, "memblock: no {} free pages aligned to {} pages on node {}", pages, align, n)
            }
            MemblockError::NoMemory { pages, align, nid: None } => {
                write!(f, "memblock: no {} free pages aligned to {} pages on any node", pages, align)
            }
            MemblockError::BadRequest { pages, align } => {
                write!(
                    f,
                    "memblock: bad request of {} pages aligned to {} (align must be a power of two)",
                    pages, align
                )
            }
        }
    }
}

/// The early memory map. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Memblock {
    pub memory: Vec<MemRange>,
    pub reserved: Vec<Reservation>,
    pub events: Vec<MemblockEvent>,
}

impl Memblock {
    /// memblock as the layout describes it: its memory and reservations.
    pub fn from_layout(layout: &Layout) -> Memblock {
        let mut m = Memblock { memory: layout.memory.clone(), reserved: Vec::new(), events: Vec::new() };
        for r in &layout.reserved {
            m.reserve(r.start_pfn, r.end_pfn, r.reason);
        }
        m
    }

    /// `memblock_add_node` (memory hotplug, as with CONFIG_ARCH_KEEP_MEMBLOCK): `[start_pfn, end_pfn)` of node
    /// `nid` becomes memory. The caller checked that it overlaps no memory.
    pub fn add_node(&mut self, start_pfn: u64, end_pfn: u64, nid: u32) {
        let at = self.memory.partition_point(|m| m.start_pfn < start_pfn);
        self.memory.insert(at, MemRange { start_pfn, end_pfn, nid });
    }

    /// `memblock_remove`: `[start_pfn, end_pfn)` is no longer memory (ranges are trimmed or split at its ends).
    pub fn remove(&mut self, start_pfn: u64, end_pfn: u64) {
        self.memory = cut_out(core::mem::take(&mut self.memory), start_pfn, end_pfn, |m, s, e| MemRange {
            start_pfn: s,
            end_pfn: e,
            ..*m
        });
    }

    /// `memblock_phys_free` of a reserved range: `[start_pfn, end_pfn)` is no longer reserved (reservations are
    /// trimmed or split at its ends).
    pub fn unreserve(&mut self, start_pfn: u64, end_pfn: u64) {
        self.reserved = cut_out(core::mem::take(&mut self.reserved), start_pfn, end_pfn, |r, s, e| Reservation {
            start_pfn: s,
            end_pfn: e,
            ..*r
        });
    }

    /// Reserves `[start_pfn, end_pfn)`. Pages already reserved keep their earlier reason.
    pub fn reserve(&mut self, start_pfn: u64, end_pfn: u64, reason: ReserveReason) {
        // Loop invariant: [start_pfn, cur) is reserved (with an old or the new reason).
        let mut cur = start_pfn;
        let mut new = Vec::new();
        for r in self.reserved.iter() {
            if r.end_pfn <= cur {
                continue;
            }
            if r.start_pfn >= end_pfn {
                break;
            }
            if r.start_pfn > cur {
                new.push(Reservation { start_pfn: cur, end_pfn: r.start_pfn, reason });
            }
            cur = cur.max(r.end_pfn);
        }
        if cur < end_pfn {
            new.push(Reservation { start_pfn: cur, end_pfn, reason });
        }
        self.reserved.extend(new);
        self.reserved.sort_by_key(|r| r.start_pfn);
        let mut merged: Vec<Reservation> = Vec::with_capacity(self.reserved.len());
        for r in self.reserved.drain(..) {
            match merged.last_mut() {
                Some(last) if last.end_pfn == r.start_pfn && last.reason == r.reason => last.end_pfn = r.end_pfn,
                _ => merged.push(r),
            }
        }
        self.reserved = merged;
    }

    /// Whether `pfn` is reserved, and why.
    pub fn reserved_reason(&self, pfn: u64) -> Option<ReserveReason> {
        let i = self.reserved.partition_point(|r| r.end_pfn <= pfn);
        self.reserved.get(i).filter(|r| r.start_pfn <= pfn).map(|r| r.reason)
    }

    /// Reserved pages within `[start_pfn, end_pfn)`.
    pub fn reserved_pages_in(&self, start_pfn: u64, end_pfn: u64) -> u64 {
        let i = self.reserved.partition_point(|r| r.end_pfn <= start_pfn);
        self.reserved[i..]
            .iter()
            .take_while(|r| r.start_pfn < end_pfn)
            .map(|r| r.end_pfn.min(end_pfn) - r.start_pfn.max(start_pfn))
            .sum()
    }

    /// Reserved memory pages (reservations intersected with memory) within `[start_pfn, end_pfn)` on node `nid`.
    pub fn reserved_memory_pages(&self, nid: u32, start_pfn: u64, end_pfn: u64) -> u64 {
        self.memory
            .iter()
            .filter(|m| m.nid == nid && m.end_pfn > start_pfn && m.start_pfn < end_pfn)
            .map(|m| self.reserved_pages_in(m.start_pfn.max(start_pfn), m.end_pfn.min(end_pfn)))
            .sum()
    }

    /// The node of a memory pfn.
    pub fn nid_of(&self, pfn: u64) -> Option<u32> {
        let i = self.memory.partition_point(|r| r.end_pfn <= pfn);
        self.memory.get(i).filter(|r| r.start_pfn <= pfn).map(|r| r.nid)
    }

    /// `memblock_alloc_range_nid`: `pages` pages aligned to `align` pages within `[min_pfn, max_pfn)`, top-down,
    /// on `nid` (any node if `None`), falling back to other nodes unless `exact_nid`. Reserves the result.
    pub fn alloc(
        &mut self,
        pages: u64,
        align: u64,
        min_pfn: u64,
        max_pfn: u64,
        nid: Option<u32>,
        exact_nid: bool,
        reason: ReserveReason,
    ) -> Result<u64, MemblockError> {
        if pages == 0 || align == 0 || !align.is_power_of_two() {
            return Err(MemblockError::BadRequest { pages, align });
        }
        let found = self.find_top_down(pages, align, min_pfn, max_pfn, nid);
        let pfn =
            match (found, nid) {
                (Some(pfn), _) => pfn,
                (None, Some(wanted)) if !exact_nid => {
                    let pfn = self
                        .find_top_down(pages, align, min_pfn, max_pfn, None)
                        .ok_or(MemblockError::NoMemory { pages, align, nid: None })?;
                    let got = self.nid_of(pfn).unwrap_or(wanted);
                    self.events.push(MemblockEvent::NodeFallback { wanted, got, pages, reason });
                    pfn
                }
                (None, _) => return Err(MemblockError::NoMemory { pages, align, nid }),
            };
        self.reserve(pfn, pfn + pages, reason);
        Ok(pfn)
    }

    /// The highest aligned free block of `pages` pages within the bounds on `nid` (any node if `None`).
    fn find_top_down(&self, pages: u64, align: u64, min_pfn: u64, max_pfn: u64, nid: Option<u32>) -> Option<u64> {
        for m in self.memory.iter().rev().filter(|m| nid.is_none_or(|n| n == m.nid)) {
            let (lo, hi) = (m.start_pfn.max(min_pfn), m.end_pfn.min(max_pfn));
            if lo >= hi {
                continue;
            }
            // Free gaps of [lo, hi) between reservations, from the top. Loop invariant: `top` is the upper end of
            // the gap under consideration; everything above it was examined.
            let mut top = hi;
            let i = self.reserved.partition_point(|r| r.start_pfn < hi);
            for r in self.reserved[..i].iter().rev().chain(core::iter::once(&Reservation {
                start_pfn: 0,
                end_pfn: 0,
                reason: ReserveReason::Other(""),
            })) {
                let gap_lo = r.end_pfn.max(lo);
                if top >= gap_lo + pages {
                    let cand = align_down(top - pages, align);
                    if cand >= gap_lo {
                        return Some(cand);
                    }
                }
                top = top.min(r.start_pfn);
                if top <= lo {
                    break;
                }
            }
        }
        None
    }
}

/// Ranges with `[start, end)` taken out of each: `piece(range, s, e)` rebuilds a range's part `[s, e)`.
fn cut_out<T: RangeOf>(v: Vec<T>, start: u64, end: u64, piece: impl Fn(&T, u64, u64) -> T) -> Vec<T> {
    let mut kept = Vec::with_capacity(v.len() + 1);
    for r in v {
        let (rs, re) = r.range();
        if re <= start || rs >= end {
            kept.push(r);
            continue;
        }
        if rs < start {
            kept.push(piece(&r, rs, start));
        }
        if re > end {
            kept.push(piece(&r, end, re));
        }
    }
    kept
}

/// A pfn range `[start, end)`.
trait RangeOf {
    fn range(&self) -> (u64, u64);
}

impl RangeOf for MemRange {
    fn range(&self) -> (u64, u64) {
        (self.start_pfn, self.end_pfn)
    }
}

impl RangeOf for Reservation {
    fn range(&self) -> (u64, u64) {
        (self.start_pfn, self.end_pfn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb() -> Memblock {
        Memblock {
            memory: alloc::vec![
                MemRange { start_pfn: 0x100, end_pfn: 0x7d000, nid: 0 },
                MemRange { start_pfn: 0x7d000, end_pfn: 0xbffe0, nid: 1 },
                MemRange { start_pfn: 0x100000, end_pfn: 0x13a000, nid: 1 },
            ],
            ..Memblock::default()
        }
    }

    #[test]
    fn top_down_node_local_and_reserved() {
        let mut m = mb();
        let a = m.alloc(512, 512, 0x1000, u64::MAX, Some(1), true, ReserveReason::Memmap).unwrap();
        assert_eq!(a, 0x13a000 - 512);
        let b = m.alloc(512, 512, 0x1000, u64::MAX, Some(1), true, ReserveReason::Memmap).unwrap();
        assert_eq!(b, 0x13a000 - 1024);
        assert_eq!(m.reserved.len(), 1, "adjacent same-reason reservations merge");
        let c = m.alloc(512, 512, 0x1000, u64::MAX, Some(0), true, ReserveReason::Memmap).unwrap();
        assert_eq!(c, 0x7d000 - 512);
        assert_eq!(m.reserved_reason(c), Some(ReserveReason::Memmap));
        assert_eq!(m.reserved_reason(c - 1), None);
        assert_eq!(m.reserved_memory_pages(1, 0, u64::MAX), 1024);
        assert!(m.events.is_empty());
    }

    #[test]
    fn fallback_is_recorded_and_exact_fails() {
        let mut m = mb();
        // Node 0 has 0x7cf00 pages; ask for more.
        assert!(matches!(
            m.alloc(0x80000, 1, 0, u64::MAX, Some(0), true, ReserveReason::Memmap),
            Err(MemblockError::NoMemory { nid: Some(0), .. })
        ));
        m.reserve(0x200, 0x7d000, ReserveReason::Bootloader);
        let p = m.alloc(0x1000, 1, 0, u64::MAX, Some(0), false, ReserveReason::Memmap).unwrap();
        assert_eq!(m.nid_of(p), Some(1));
        assert_eq!(m.events.len(), 1);
        assert!(m.alloc(0, 1, 0, 1, None, false, ReserveReason::Memmap).is_err());
        assert!(m.alloc(1, 3, 0, 1, None, false, ReserveReason::Memmap).is_err());
    }

    #[test]
    fn allocations_skip_reserved_gaps() {
        let mut m =
            Memblock { memory: alloc::vec![MemRange { start_pfn: 0, end_pfn: 100, nid: 0 }], ..Default::default() };
        m.reserve(90, 100, ReserveReason::Bootloader);
        m.reserve(50, 85, ReserveReason::Bootloader);
        assert_eq!(m.alloc(5, 1, 0, u64::MAX, None, false, ReserveReason::Memmap), Ok(85));
        assert_eq!(m.alloc(10, 8, 0, u64::MAX, None, false, ReserveReason::Memmap), Ok(40));
        assert!(m.alloc(60, 1, 0, u64::MAX, None, false, ReserveReason::Memmap).is_err());
        // Overlapping reserve keeps the old reason for the old part.
        m.reserve(0, 100, ReserveReason::Other("test"));
        assert_eq!(m.reserved_reason(95), Some(ReserveReason::Bootloader));
        assert_eq!(m.reserved_reason(3), Some(ReserveReason::Other("test")));
        assert_eq!(m.reserved_pages_in(0, 100), 100);
    }
}
