//! Zone watermarks and lowmem reserves, as Linux 6.1 computes them once the buddy allocator holds the boot memory,
//! for the `min`/`low`/`high` and `protection:` lines of `/proc/zoneinfo` and `vm.min_free_kbytes`.
//!
//! The rules (facts from Linux 6.1, our code; checked against Debian's 6.1 guest by `memlab diff`):
//! - `init_per_zone_wmark_min` (mm/page_alloc.c): `min_free_kbytes = int_sqrt(lowmem_kbytes * 16)` clamped to
//!   `[128, 262144]`, `lowmem_kbytes` being `nr_free_buffer_pages()` in KiB: managed pages minus the high
//!   watermark of every zone at or below ZONE_NORMAL (the watermarks are still 0 at that first computation);
//! - with transparent hugepages on (Debian's 6.1 is THP `always`), khugepaged's `set_recommended_min_free_kbytes`
//!   (mm/khugepaged.c) raises it to `pageblock_nr_pages * nr_zones * (2 + MIGRATE_PCPTYPES^2)` pages, `nr_zones`
//!   the populated zones at or below ZONE_NORMAL of all nodes, capped at 5% of `nr_free_buffer_pages()` (now with
//!   the watermarks of the first computation), when that is more; `hugepage_init` (mm/huge_memory.c) leaves
//!   THP off below 512 MiB of managed memory, and then the square root stands;
//! - `__setup_per_zone_wmarks`: `pages_min = min_free_kbytes / 4` is shared out among all zones in proportion to
//!   their managed pages (`tmp = pages_min * managed / lowmem_pages`, `lowmem_pages` the managed pages of every
//!   zone, ZONE_MOVABLE included: 6.1 treats it like any other zone; liuq's "mm/page_alloc: fix min_free_kbytes
//!   calculation regarding ZONE_MOVABLE" (v6.5) later gave it `clamp(managed / 1024, SWAP_CLUSTER_MAX, 128)`
//!   and left it out of `lowmem_pages`, see [`Rules::movable_capped`]);
//! - the step is `max(tmp / 4, managed * watermark_scale_factor / 10000)` (default factor 10), and
//!   `low = min + step`, `high = low + step`, `promo = high + step` (WMARK_PROMO, v5.18; 6.1 does not print it);
//! - `setup_per_zone_lowmem_reserve`: `lowmem_reserve[j]` of zone `i < j` of a node is the sum of the managed
//!   pages of that node's zones `i+1..=j` divided by `sysctl_lowmem_reserve_ratio[i]` (256, 256, 32, 0 for DMA,
//!   DMA32, Normal, Movable); 0 when the ratio is 0 or zone `i` manages no page. 6.1 sums the upper zones whether
//!   or not they manage pages, so an empty Movable or Device zone repeats the entry before it. (v6.11's
//!   96a5c186efff set the entry to 0 for an empty upper zone; eae116d1f044 reverted it: see
//!   [`Rules::empty_upper_zero`].)
//!
//! # Invariants
//! - pure functions of the managed and present page counts: nothing here reads or writes struct pages;
//! - `min <= low <= high <= promo` for every zone, and a zone that manages no page has min, low and high 0
//!   under the 6.1 rules and no reserve.

use alloc::vec::Vec;

use crate::consts::PAGEBLOCK_NR_PAGES;
use crate::zones::{ZoneType, MAX_NR_ZONES};

/// `watermark_scale_factor`'s default (0.1% of a zone's managed pages per step).
pub const WATERMARK_SCALE_FACTOR: u64 = 10;
/// `SWAP_CLUSTER_MAX`: the smallest ZONE_MOVABLE min watermark (v6.5 rule only).
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// `sysctl_lowmem_reserve_ratio` by zone index (DMA, DMA32, Normal, Movable).
pub const LOWMEM_RESERVE_RATIO: [u64; MAX_NR_ZONES] = [256, 256, 32, 0];
/// The bounds of the computed `min_free_kbytes`.
pub const MIN_FREE_KBYTES_LOW: u64 = 128;
pub const MIN_FREE_KBYTES_HIGH: u64 = 262_144;
/// `MIGRATE_PCPTYPES`: the migratetypes khugepaged's recommendation keeps pageblocks free for.
pub const MIGRATE_PCPTYPES: u64 = 3;
/// `hugepage_init` turns THP off below 512 MiB of `totalram_pages()` (mm/huge_memory.c).
pub const THP_MIN_TOTALRAM_PAGES: u64 = 512 << (20 - 12);

/// One zone's page counts, the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneManaged {
    pub nid: u32,
    pub zone: ZoneType,
    pub managed_pages: u64,
    /// `populated_zone()` is `present_pages != 0` (khugepaged counts populated zones).
    pub present_pages: u64,
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

/// Which kernel's rules: [`Rules::LINUX_6_1`] by default; the later changes can be switched on one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Transparent hugepages on: khugepaged's recommended `min_free_kbytes` (Debian's 6.1: `always`).
    pub thp: bool,
    /// v6.5: ZONE_MOVABLE's min is `clamp(managed / 1024, 32, 128)` and it is left out of `lowmem_pages`.
    pub movable_capped: bool,
    /// v6.11 96a5c186efff (reverted by eae116d1f044): no reserve against an upper zone that manages nothing.
    pub empty_upper_zero: bool,
}

impl Rules {
    pub const LINUX_6_1: Rules = Rules { thp: true, movable_capped: false, empty_upper_zero: false };
}

impl Default for Rules {
    fn default() -> Self {
        Rules::LINUX_6_1
    }
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

/// `calculate_min_free_kbytes` for `lowmem_free_pages` (`nr_free_buffer_pages()`).
pub fn min_free_kbytes(lowmem_free_pages: u64) -> u64 {
    int_sqrt(lowmem_free_pages.saturating_mul(4).saturating_mul(16)).clamp(MIN_FREE_KBYTES_LOW, MIN_FREE_KBYTES_HIGH)
}

/// `nr_free_buffer_pages()`: managed pages above the high watermark of every zone at or below ZONE_NORMAL.
fn nr_free_buffer_pages(zones: &[ZoneManaged], high: &[u64]) -> u64 {
    zones
        .iter()
        .zip(high)
        .filter(|(z, _)| z.zone <= ZoneType::Normal)
        .map(|(z, h)| z.managed_pages.saturating_sub(*h))
        .sum()
}

/// khugepaged's `set_recommended_min_free_kbytes`: the recommendation in KiB (before comparing it with the
/// current value), given the watermarks' high marks at that time.
pub fn thp_recommended_kbytes(zones: &[ZoneManaged], high: &[u64]) -> u64 {
    thp_uncapped_pages(zones).min(nr_free_buffer_pages(zones, high) / 20) * 4
}

/// khugepaged's recommendation before the 5% cap, in pages: two pageblocks per populated zone at or below
/// ZONE_NORMAL, plus MIGRATE_PCPTYPES^2 more (it depends on nothing but which zones are populated).
pub fn thp_uncapped_pages(zones: &[ZoneManaged]) -> u64 {
    let nr_zones = zones.iter().filter(|z| z.present_pages > 0 && z.zone <= ZoneType::Normal).count() as u64;
    PAGEBLOCK_NR_PAGES * nr_zones * 2 + PAGEBLOCK_NR_PAGES * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
}

/// Whether khugepaged's recommendation applies: THP on and at least 512 MiB managed (`hugepage_init`).
pub fn thp_applies(zones: &[ZoneManaged], rules: Rules) -> bool {
    rules.thp && zones.iter().map(|z| z.managed_pages).sum::<u64>() >= THP_MIN_TOTALRAM_PAGES
}

/// `__setup_per_zone_wmarks` for `kbytes`: `(min, step)` of each zone.
fn wmarks(zones: &[ZoneManaged], kbytes: u64, rules: Rules) -> Vec<(u64, u64)> {
    let pages_min = kbytes >> 2;
    let capped = |z: &ZoneManaged| rules.movable_capped && z.zone == ZoneType::Movable;
    let lowmem_pages: u64 = zones.iter().filter(|z| !capped(z)).map(|z| z.managed_pages).sum();
    zones
        .iter()
        .map(|z| {
            let managed = z.managed_pages;
            let tmp = (pages_min * managed).checked_div(lowmem_pages).unwrap_or(0);
            let min = if capped(z) { (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128) } else { tmp };
            (min, (tmp >> 2).max(managed * WATERMARK_SCALE_FACTOR / 10_000))
        })
        .collect()
}

/// `setup_per_zone_lowmem_reserve` for zone `z` among `zones`.
fn lowmem_reserve(zones: &[ZoneManaged], z: &ZoneManaged, rules: Rules) -> [u64; MAX_NR_ZONES] {
    let mut protection = [0u64; MAX_NR_ZONES];
    let i = z.zone.index();
    let ratio = LOWMEM_RESERVE_RATIO[i];
    if ratio == 0 || z.managed_pages == 0 {
        return protection;
    }
    let mut upper = 0;
    for (j, slot) in protection.iter_mut().enumerate().skip(i + 1) {
        let upper_zone: u64 =
            zones.iter().filter(|u| u.nid == z.nid && u.zone.index() == j).map(|u| u.managed_pages).sum();
        upper += upper_zone;
        *slot = if rules.empty_upper_zero && upper_zone == 0 { 0 } else { upper / ratio };
    }
    protection
}

/// The watermarks and reserves of every zone in `zones` (any order; the output follows it) under Linux 6.1's
/// rules, with the resulting `min_free_kbytes`.
pub fn setup(zones: &[ZoneManaged]) -> (u64, Vec<ZoneWatermarks>) {
    setup_with(zones, Rules::LINUX_6_1, None)
}

/// [`setup`] under `rules`; `min_free_kbytes`, when given, is used as it is (a value read from a running
/// kernel, or set by the user) instead of being computed.
pub fn setup_with(
    zones: &[ZoneManaged],
    rules: Rules,
    min_free_kbytes_given: Option<u64>,
) -> (u64, Vec<ZoneWatermarks>) {
    let kbytes = match min_free_kbytes_given {
        Some(k) => k,
        None => {
            let lowmem: u64 = zones.iter().filter(|z| z.zone <= ZoneType::Normal).map(|z| z.managed_pages).sum();
            let mut k = min_free_kbytes(lowmem);
            if thp_applies(zones, rules) {
                let first = wmarks(zones, k, rules);
                let high: Vec<u64> = first.iter().map(|(min, step)| min + 2 * step).collect();
                k = k.max(thp_recommended_kbytes(zones, &high));
            }
            k
        }
    };
    let marks = wmarks(zones, kbytes, rules);
    let out = zones
        .iter()
        .zip(marks)
        .map(|(z, (min, step))| ZoneWatermarks {
            nid: z.nid,
            zone: z.zone,
            min,
            low: min + step,
            high: min + 2 * step,
            promo: min + 3 * step,
            protection: lowmem_reserve(zones, z, rules),
        })
        .collect();
    (kbytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zm(nid: u32, zone: ZoneType, managed_pages: u64, present_pages: u64) -> ZoneManaged {
        ZoneManaged { nid, zone, managed_pages, present_pages }
    }

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

    /// Debian's Linux 6.1 on `-m 4000M` (shared/reference/linux-guest.md): three populated lowmem zones give
    /// 512 * 3 * 11 = 16896 pages = 67584 KiB, and DMA's min is 66 of them.
    #[test]
    fn m4000_as_debian_6_1() {
        let zones = [
            zm(0, ZoneType::Dma, 3840, 3998),
            zm(0, ZoneType::Dma32, 752_500, 782_304),
            zm(0, ZoneType::Normal, 219_200, 237_568),
            zm(0, ZoneType::Movable, 0, 0),
        ];
        let (kb, w) = setup(&zones);
        assert_eq!(kb, 67_584);
        let lowmem: u64 = 3840 + 752_500 + 219_200;
        assert_eq!(w[0].min, 16_896 * 3840 / lowmem);
        assert_eq!(w[0].min, 66);
        // DMA: step = max(66 / 4, 3840 / 1000) = 16.
        assert_eq!((w[0].low, w[0].high), (82, 98));
        // The empty Movable zone: tmp = 0, so 0 everywhere under 6.1 (32 under the v6.5 rule).
        assert_eq!((w[3].min, w[3].low, w[3].high), (0, 0, 0));
        let later = Rules { movable_capped: true, ..Rules::LINUX_6_1 };
        assert_eq!(setup_with(&zones, later, Some(kb)).1[3].min, 32);
        // 6.1: the reserve against Movable repeats the one against Normal (Movable manages nothing).
        assert_eq!(w[0].protection, [0, 752_500 / 256, (752_500 + 219_200) / 256, (752_500 + 219_200) / 256]);
        assert_eq!(w[1].protection, [0, 0, 219_200 / 256, 219_200 / 256]);
        assert_eq!(w[2].protection, [0; 4]);
        let v611 = Rules { empty_upper_zero: true, ..Rules::LINUX_6_1 };
        assert_eq!(setup_with(&zones, v611, None).1[0].protection[3], 0);
    }

    #[test]
    fn thp_recommendation_is_capped_at_five_percent_of_lowmem() {
        // 128 MiB: ~30000 managed pages in DMA + DMA32; 2 * 11 * 512 = 11264 pages would be 37%.
        let zones = [zm(0, ZoneType::Dma, 3800, 3998), zm(0, ZoneType::Dma32, 26_000, 28_640)];
        let sqrt_kb = min_free_kbytes(29_800);
        let first = wmarks(&zones, sqrt_kb, Rules::LINUX_6_1);
        let high: Vec<u64> = first.iter().map(|(m, s)| m + 2 * s).collect();
        let cap_pages = (29_800 - high.iter().sum::<u64>()) / 20;
        // Below 512 MiB THP is off: the square root stands.
        assert_eq!(setup(&zones).0, sqrt_kb);
        // The cap itself, as khugepaged computes it on a machine where THP is on.
        assert_eq!(thp_recommended_kbytes(&zones, &high), cap_pages * 4);
        assert!(cap_pages * 4 < 11_264 * 4);
        // Without THP: the square-root formula.
        let no_thp = Rules { thp: false, ..Rules::LINUX_6_1 };
        assert_eq!(setup_with(&zones, no_thp, None).0, sqrt_kb);
    }

    #[test]
    fn reserves_stay_per_node_and_marks_are_ordered() {
        let zones = [
            zm(0, ZoneType::Dma32, 500_000, 500_000),
            zm(0, ZoneType::Movable, 64 * 1024, 64 * 1024),
            zm(1, ZoneType::Normal, 500_000, 500_000),
            zm(1, ZoneType::Movable, 1_000_000, 1_000_000),
        ];
        let (_, w) = setup(&zones);
        // Node 0's DMA32 reserve counts only node 0's Normal + Movable; node 1's zones do not count.
        assert_eq!(w[0].protection, [0, 0, 0, 64 * 1024 / 256]);
        // Node 1's Normal against Movable: 1e6 / 32.
        assert_eq!(w[2].protection, [0, 0, 0, 1_000_000 / 32]);
        // A cumulative sum: DMA under DMA32 + Normal.
        let z = [
            zm(0, ZoneType::Dma, 3000, 3000),
            zm(0, ZoneType::Dma32, 256_000, 256_000),
            zm(0, ZoneType::Normal, 512_000, 512_000),
        ];
        assert_eq!(setup(&z).1[0].protection, [0, 1000, 3000, 3000]);
        for z in &w {
            assert!(z.min <= z.low && z.low <= z.high && z.high <= z.promo);
        }
    }
}
