//! Zone watermarks and lowmem reserves, as Linux computes them once the buddy allocator holds the boot memory
//! (`init_per_zone_wmark_min` -> `__setup_per_zone_wmarks` and `setup_per_zone_lowmem_reserve`, mm/page_alloc.c),
//! for the `min`/`low`/`high`/`promo` and `protection:` lines of `/proc/zoneinfo`.
//!
//! The rules (facts from Linux, our code):
//! - `min_free_kbytes = int_sqrt(lowmem_kbytes * 16)` clamped to `[128, 262144]` (the upper bound was 65536
//!   until v5.7; `lowmem_kbytes` is `nr_free_buffer_pages()`: managed pages above the high watermark of every zone
//!   at or below ZONE_NORMAL, in KiB; at the first computation the watermarks are still 0);
//! - `pages_min = min_free_kbytes / 4` is shared out among the zones that are neither highmem nor ZONE_MOVABLE in
//!   proportion to their managed pages (`tmp = pages_min * managed / lowmem_pages`); ZONE_MOVABLE gets
//!   `clamp(managed / 1024, SWAP_CLUSTER_MAX, 128)` instead;
//! - the step is `max(tmp / 4, managed * watermark_scale_factor / 10000)` (default factor 10), and
//!   `low = min + step`, `high = low + step`, `promo = high + step` (WMARK_PROMO, v5.18);
//! - `lowmem_reserve[j]` of zone `i < j` of a node is the sum of the managed pages of that node's zones `i+1..=j`
//!   divided by `sysctl_lowmem_reserve_ratio[i]` (256, 256, 32, 0 for DMA, DMA32, Normal, Movable); it is 0 when the
//!   ratio is 0 or zone `i` manages no page (the `clear` rule), and, in current kernels, also when zone `j` itself
//!   manages no page (an allocation that cannot come from zone `j` needs no protection against it; the `empty`
//!   rule of today's `setup_per_zone_lowmem_reserve`).
//!
//! # Invariants
//! - pure functions of the managed page counts: nothing here reads or writes struct pages;
//! - `min <= low <= high <= promo` for every zone, and a zone that manages no page has all four at 0 and no
//!   reserve.

use alloc::vec::Vec;

use crate::zones::{ZoneType, MAX_NR_ZONES};

/// `watermark_scale_factor`'s default (0.1% of a zone's managed pages per step).
pub const WATERMARK_SCALE_FACTOR: u64 = 10;
/// `SWAP_CLUSTER_MAX`: the smallest ZONE_MOVABLE min watermark.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// `sysctl_lowmem_reserve_ratio` by zone index (DMA, DMA32, Normal, Movable).
pub const LOWMEM_RESERVE_RATIO: [u64; MAX_NR_ZONES] = [256, 256, 32, 0];
/// The bounds of the computed `min_free_kbytes`.
pub const MIN_FREE_KBYTES_LOW: u64 = 128;
pub const MIN_FREE_KBYTES_HIGH: u64 = 262_144;

/// One zone's managed pages, the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneManaged {
    pub nid: u32,
    pub zone: ZoneType,
    pub managed_pages: u64,
}

/// One zone's watermarks and reserves, the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneWatermarks {
    pub nid: u32,
    pub zone: ZoneType,
    pub min: u64,
    pub low: u64,
    pub high: u64,
    pub promo: u64,
    /// `lowmem_reserve[0..MAX_NR_ZONES]`: pages kept free here against an allocation that could have used zone j.
    pub protection: [u64; MAX_NR_ZONES],
}

/// Integer square root (floor), Linux's `int_sqrt`.
pub fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's method from an upper bound; converges in a few steps for u64.
    let mut r = 1u64 << (64 - x.leading_zeros()).div_ceil(2);
    loop {
        let next = (r + x / r) / 2;
        if next >= r {
            return r;
        }
        r = next;
    }
}

/// `min_free_kbytes` for `lowmem_managed_pages` managed pages at or below ZONE_NORMAL.
pub fn min_free_kbytes(lowmem_managed_pages: u64) -> u64 {
    int_sqrt(lowmem_managed_pages.saturating_mul(4).saturating_mul(16)).clamp(MIN_FREE_KBYTES_LOW, MIN_FREE_KBYTES_HIGH)
}

/// The watermarks and reserves of every zone in `zones` (any order; the output follows it), with the computed
/// `min_free_kbytes` returned too.
pub fn setup(zones: &[ZoneManaged]) -> (u64, Vec<ZoneWatermarks>) {
    let lowmem_user: u64 = zones.iter().filter(|z| z.zone <= ZoneType::Normal).map(|z| z.managed_pages).sum();
    let kbytes = min_free_kbytes(lowmem_user);
    let pages_min = kbytes >> 2;
    // lowmem_pages: zones that are not highmem (none on x86_64) and not ZONE_MOVABLE.
    let lowmem_pages: u64 = zones.iter().filter(|z| z.zone != ZoneType::Movable).map(|z| z.managed_pages).sum();
    let out = zones
        .iter()
        .map(|z| {
            let managed = z.managed_pages;
            let share = (pages_min * managed).checked_div(lowmem_pages).unwrap_or(0);
            let min = if z.zone == ZoneType::Movable { (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128) } else { share };
            let step = (share >> 2).max(managed * WATERMARK_SCALE_FACTOR / 10_000);
            // Linux computes the movable zone's min even when it manages nothing; a zone with no page cannot be
            // allocated from, so its watermarks are printed as they are, like Linux.
            let mut protection = [0u64; MAX_NR_ZONES];
            let i = z.zone.index();
            let ratio = LOWMEM_RESERVE_RATIO[i];
            if ratio != 0 && managed != 0 {
                let mut upper = 0;
                for (j, slot) in protection.iter_mut().enumerate().skip(i + 1) {
                    let upper_zone: u64 =
                        zones.iter().filter(|u| u.nid == z.nid && u.zone.index() == j).map(|u| u.managed_pages).sum();
                    upper += upper_zone;
                    *slot = if upper_zone == 0 { 0 } else { upper / ratio };
                }
            }
            ZoneWatermarks {
                nid: z.nid,
                zone: z.zone,
                min,
                low: min + step,
                high: min + 2 * step,
                promo: min + 3 * step,
                protection,
            }
        })
        .collect();
    (kbytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_sqrt_is_the_floor() {
        for x in [0u64, 1, 2, 3, 4, 15, 16, 17, 99, 100, 1 << 40, u64::MAX] {
            let r = int_sqrt(x);
            assert!(r.checked_mul(r).is_some_and(|s| s <= x), "{x}: {r}");
            assert!((r + 1).checked_mul(r + 1).is_none_or(|s| s > x), "{x}: {r}");
        }
    }

    #[test]
    fn min_free_kbytes_matches_linux_table() {
        // The table in init_per_zone_wmark_min's comment: 16MB: 512k, 1024MB: 4096k, 16384MB: 16384k.
        assert_eq!(min_free_kbytes(16 << 8), 512);
        assert_eq!(min_free_kbytes(1024 << 8), 4096);
        assert_eq!(min_free_kbytes(16384 << 8), 16384);
        assert_eq!(min_free_kbytes(1), 128);
        assert_eq!(min_free_kbytes(1 << 40), 262_144);
    }

    #[test]
    fn one_node_four_gib_by_hand() {
        // DMA 3840 managed, DMA32 1,000,000, Normal 0, Movable 0 -> lowmem 1,003,840 pages = 4,015,360 KiB;
        // min_free_kbytes = isqrt(64,245,760) = 8015; pages_min = 2003.
        let zones = [
            ZoneManaged { nid: 0, zone: ZoneType::Dma, managed_pages: 3840 },
            ZoneManaged { nid: 0, zone: ZoneType::Dma32, managed_pages: 1_000_000 },
        ];
        let (kb, w) = setup(&zones);
        assert_eq!(kb, 8015);
        // DMA: share = 2003 * 3840 / 1003840 = 7; step = max(1, 3) = 3.
        assert_eq!((w[0].min, w[0].low, w[0].high, w[0].promo), (7, 10, 13, 16));
        // DMA32: share = 2003 * 1e6 / 1003840 = 1995; step = max(498, 1000) = 1000.
        assert_eq!((w[1].min, w[1].low, w[1].high, w[1].promo), (1995, 2995, 3995, 4995));
        // protection of DMA: DMA32 1e6 / 256 = 3906; Normal and Movable manage nothing: no reserve against them.
        assert_eq!(w[0].protection, [0, 3906, 0, 0]);
        assert_eq!(w[1].protection, [0, 0, 0, 0]);
    }

    #[test]
    fn movable_zone_gets_the_clamped_min_and_reserves_stay_per_node() {
        let zones = [
            ZoneManaged { nid: 0, zone: ZoneType::Dma32, managed_pages: 500_000 },
            ZoneManaged { nid: 0, zone: ZoneType::Movable, managed_pages: 64 * 1024 },
            ZoneManaged { nid: 1, zone: ZoneType::Normal, managed_pages: 500_000 },
            ZoneManaged { nid: 1, zone: ZoneType::Movable, managed_pages: 1_000_000 },
        ];
        let (_, w) = setup(&zones);
        assert_eq!(w[1].min, 64);
        assert_eq!(w[3].min, 128);
        // Node 0's DMA32 reserve counts only node 0's Normal + Movable; node 1's zones do not count.
        assert_eq!(w[0].protection, [0, 0, 0, 64 * 1024 / 256]);
        // Node 1's Normal against Movable: 1e6 / 32.
        assert_eq!(w[2].protection, [0, 0, 0, 1_000_000 / 32]);
        // A cumulative sum: DMA under DMA32 + Normal.
        let z = [
            ZoneManaged { nid: 0, zone: ZoneType::Dma, managed_pages: 3000 },
            ZoneManaged { nid: 0, zone: ZoneType::Dma32, managed_pages: 256_000 },
            ZoneManaged { nid: 0, zone: ZoneType::Normal, managed_pages: 512_000 },
        ];
        assert_eq!(setup(&z).1[0].protection, [0, 1000, 3000, 0]);
        for z in &w {
            assert!(z.min <= z.low && z.low <= z.high && z.high <= z.promo);
        }
    }
}
