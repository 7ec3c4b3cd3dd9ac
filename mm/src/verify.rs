//! The verifier: walks every `pfn_valid` struct page after memmap init and checks what page walkers rely on.
//!
//! Per page: initialized (not poisoned); links name an existing zone; that zone spans the pfn (the seed mail's
//! invariant) and so does the node; a memory page carries exactly the links `memmap_init_range` gives it (its
//! memblock node, the zone whose span holds it); a reserved memory page has a recorded reason; a hole page is
//! PG_reserved (otherwise it looks like allocated memory). Per zone and node: spanned >= present >= managed,
//! present equals the memory pages of the node in the span, node spans hold their zones, and zones that span only
//! holes are named. Finally each policy's [`crate::policy::Promise`] is checked against the counts.
//!
//! Uniform sections (compressed mode) are checked once through their template, with counts multiplied by the
//! section size, which equals checking each page since all pages are alike (a test compares both modes).
//!
//! # Invariants
//! - counts are exact; at most [`MAX_FINDINGS`] findings are kept with details, the first by pfn per kind.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::consts::*;
use crate::memblock::Memblock;
use crate::model::Mm;
use crate::page::{pg, Links, Page};
use crate::zones::{ZoneType, Zones};

/// Findings kept with details.
pub const MAX_FINDINGS: usize = 32;

/// What is wrong with a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    Poisoned = 0,
    BadLinks,
    ZoneDoesNotSpan,
    NodeDoesNotSpan,
    MemoryWrongLinks,
    ReservedWithoutReason,
    HoleNotReserved,
}

impl FindingKind {
    pub const ALL: [FindingKind; 7] = [
        FindingKind::Poisoned,
        FindingKind::BadLinks,
        FindingKind::ZoneDoesNotSpan,
        FindingKind::NodeDoesNotSpan,
        FindingKind::MemoryWrongLinks,
        FindingKind::ReservedWithoutReason,
        FindingKind::HoleNotReserved,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Poisoned => "uninitialized (poisoned)",
            FindingKind::BadLinks => "links name no zone",
            FindingKind::ZoneDoesNotSpan => "zone does not span pfn",
            FindingKind::NodeDoesNotSpan => "node does not span pfn",
            FindingKind::MemoryWrongLinks => "memory page with wrong links",
            FindingKind::ReservedWithoutReason => "reserved memory page without a reason",
            FindingKind::HoleNotReserved => "hole page not PG_reserved",
        }
    }
}

/// One bad page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub pfn: u64,
    pub links: Option<Links>,
    pub kind: FindingKind,
}

/// The verifier's result.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    /// Count per [`FindingKind`] (index = kind as usize).
    pub counts: [u64; 7],
    pub first: Vec<Finding>,
    /// pfn_valid pages checked.
    pub valid_pages: u64,
    /// Valid pages that are not memory.
    pub hole_pages: u64,
    /// Zone and node accounting problems, in words.
    pub accounting: Vec<String>,
    /// Zones that span only holes (not an error by itself; `strict` must explain each).
    pub hole_only_zones: Vec<(u32, ZoneType)>,
    /// The policy's promises that do not hold, in words.
    pub broken_promises: Vec<&'static str>,
    run_end: [Option<u64>; 7],
}

impl Verification {
    pub fn count(&self, k: FindingKind) -> u64 {
        self.counts[k as usize]
    }
    /// All findings.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    fn add(&mut self, pfn: u64, links: Option<Links>, kind: FindingKind, n: u64) {
        self.counts[kind as usize] += n;
        // Keep the first pfn of each run of a kind (a run continues where the previous finding ended).
        let continues = self.run_end[kind as usize] == Some(pfn);
        self.run_end[kind as usize] = Some(pfn + n);
        if !continues && self.first.len() < MAX_FINDINGS {
            self.first.push(Finding { pfn, links, kind });
        }
    }
}

/// Cursor over sorted ranges, for pfns visited in ascending order.
struct Cursor<'a, T> {
    v: &'a [T],
    i: usize,
}

impl<'a, T> Cursor<'a, T> {
    fn find(&mut self, pfn: u64, range: impl Fn(&T) -> (u64, u64)) -> Option<&'a T> {
        while self.i < self.v.len() && range(&self.v[self.i]).1 <= pfn {
            self.i += 1;
        }
        self.v.get(self.i).filter(|t| range(t).0 <= pfn)
    }
}

fn check_page(
    ver: &mut Verification,
    zones: &Zones,
    memblock: &Memblock,
    page: &Page,
    pfn: u64,
    mem_nid: Option<u32>,
    reserved_reason: bool,
    n: u64,
) {
    let links = match page.links(pfn) {
        Ok(l) => l,
        Err(_) => {
            ver.add(pfn, None, FindingKind::Poisoned, n);
            return;
        }
    };
    let zone = ZoneType::from_index(links.zone as usize).and_then(|z| zones.zone(links.nid, z));
    match zone {
        None => ver.add(pfn, Some(links), FindingKind::BadLinks, n),
        Some(z) => {
            if !z.zone_spans_pfn(pfn) {
                ver.add(pfn, Some(links), FindingKind::ZoneDoesNotSpan, n);
            }
            if zones.node(links.nid).is_none_or(|node| !node.spans_pfn(pfn)) {
                ver.add(pfn, Some(links), FindingKind::NodeDoesNotSpan, n);
            }
        }
    }
    let reserved = page.test_flag(pg::RESERVED);
    match mem_nid {
        Some(nid) => {
            let expected = zones.zone_for_pfn(nid, pfn).map(|z| Links { nid, zone: z as u8 });
            if expected != Some(links) {
                ver.add(pfn, Some(links), FindingKind::MemoryWrongLinks, n);
            }
            if reserved && !reserved_reason {
                ver.add(pfn, Some(links), FindingKind::ReservedWithoutReason, n);
            }
        }
        None => {
            if !reserved {
                ver.add(pfn, Some(links), FindingKind::HoleNotReserved, n);
            }
        }
    }
    let _ = memblock;
}

/// Runs every check. See the module documentation.
pub fn verify(mm: &Mm) -> Verification {
    let mut ver = Verification::default();
    let mut mem = Cursor { v: &mm.memblock.memory, i: 0 };
    let mut res = Cursor { v: &mm.memblock.reserved, i: 0 };
    let sections: Vec<u64> = mm.sparse.valid_sections().collect();
    for nr in sections {
        let (s, e) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1));
        let ms = mm.sparse.section(nr).expect("valid section exists");
        if !ms.online() {
            // Hot-added and not onlined (or offlined): its memmap is poisoned on purpose and no walker may read
            // it (`pfn_to_online_page`); the hotplug steps own it.
            continue;
        }
        if ms.uniform() {
            let page = mm.sparse.pfn_to_page(s).expect("uniform section has a template");
            let nid = mem.find(s, |r| (r.start_pfn, r.end_pfn)).map(|r| r.nid);
            let why = res.find(s, |r| (r.start_pfn, r.end_pfn)).is_some();
            ver.valid_pages += e - s;
            // All pages alike: check the first and the last pfn's span relations via the first; spans are
            // intervals, so checking both ends covers the section.
            let mut probe = Verification::default();
            check_page(&mut probe, &mm.zones, &mm.memblock, page, s, nid, why, 1);
            check_page(&mut probe, &mm.zones, &mm.memblock, page, e - 1, nid, why, 1);
            for k in FindingKind::ALL {
                if probe.count(k) > 0 {
                    ver.add(s, page.links(s).ok(), k, e - s);
                }
            }
            continue;
        }
        for pfn in s..e {
            if !mm.sparse.pfn_valid(pfn) {
                continue;
            }
            ver.valid_pages += 1;
            let page = mm.sparse.pfn_to_page(pfn).expect("valid pfn has a page");
            let nid = mem.find(pfn, |r| (r.start_pfn, r.end_pfn)).map(|r| r.nid);
            if nid.is_none() {
                ver.hole_pages += 1;
            }
            let why = res.find(pfn, |r| (r.start_pfn, r.end_pfn)).is_some();
            check_page(&mut ver, &mm.zones, &mm.memblock, page, pfn, nid, why, 1);
        }
    }
    ver.first.sort_by_key(|f| (f.kind, f.pfn));
    check_accounting(mm, &mut ver);
    check_promise(mm, &mut ver);
    ver
}

fn check_accounting(mm: &Mm, ver: &mut Verification) {
    for node in &mm.zones.nodes {
        let mut present = 0;
        for z in node.zones.iter() {
            present += z.present_pages;
            if z.present_pages > z.spanned_pages || z.managed_pages > z.present_pages {
                ver.accounting.push(format!(
                    "node {} zone {}: spanned {} present {} managed {}",
                    node.nid,
                    z.zone_type.name(),
                    z.spanned_pages,
                    z.present_pages,
                    z.managed_pages
                ));
            }
            if z.spanned_pages > 0 && z.present_pages == 0 {
                ver.hole_only_zones.push((node.nid, z.zone_type));
            }
            if z.spanned_pages > 0 && (z.zone_start_pfn < node.node_start_pfn || z.zone_end_pfn() > node.node_end_pfn())
            {
                ver.accounting.push(format!(
                    "node {} does not hold its zone {} [{:#x}, {:#x})",
                    node.nid,
                    z.zone_type.name(),
                    z.zone_start_pfn,
                    z.zone_end_pfn()
                ));
            }
            if z.zone_type != ZoneType::Movable && mm.zones.zone_movable_pfn.iter().all(|&p| p == 0) {
                let counted: u64 = mm
                    .memblock
                    .memory
                    .iter()
                    .filter(|r| r.nid == node.nid)
                    .map(|r| {
                        let (s, e) = (r.start_pfn.max(z.zone_start_pfn), r.end_pfn.min(z.zone_end_pfn()));
                        e.saturating_sub(s)
                    })
                    .sum();
                if counted != z.present_pages {
                    ver.accounting.push(format!(
                        "node {} zone {}: present {} but {} memory pages in its span",
                        node.nid,
                        z.zone_type.name(),
                        z.present_pages,
                        counted
                    ));
                }
            }
        }
        if present != node.node_present_pages {
            ver.accounting
                .push(format!("node {}: present {} but its zones hold {}", node.nid, node.node_present_pages, present));
        }
    }
}

fn check_promise(mm: &Mm, ver: &mut Verification) {
    let p = mm.policy.promise();
    if p.all_valid_initialized && ver.count(FindingKind::Poisoned) > 0 {
        ver.broken_promises.push("every pfn_valid page initialized");
    }
    if p.zone_spans_every_valid_pfn
        && ver.count(FindingKind::ZoneDoesNotSpan)
            + ver.count(FindingKind::NodeDoesNotSpan)
            + ver.count(FindingKind::BadLinks)
            > 0
    {
        ver.broken_promises.push("every pfn_valid page's zone and node span it");
    }
    if p.pageblock_check_clean && mm.checker.total_violations > 0 {
        ver.broken_promises.push("set_pfnblock_flags_mask check never fails");
    }
    if p.memory_links_exact && ver.count(FindingKind::MemoryWrongLinks) > 0 {
        ver.broken_promises.push("memory pages keep the links memmap_init_range gave them");
    }
    if !ver.accounting.is_empty() {
        ver.broken_promises.push("zone and node accounting consistent");
    }
}

/// A digest of every struct page of every valid section: the wrapping sum over pfns of an FNV-1a hash (with a
/// splitmix64 finalizer) of the pfn and its 64-byte struct page (a uniform section's template counted for each of
/// its pfns). Equal digests, equal memmaps. A sum, so it adds up from parts taken at different times
/// ([`memmap_digest_part`]): deferred init proves itself equal to eager init in the kernel (`@@summary`
/// `"memmap_digest"`) with the eager part taken before the hand-over and the deferred part after the workers.
pub fn memmap_digest(mm: &crate::model::Mm) -> u64 {
    memmap_digest_part(mm, &[], false)
}

/// [`memmap_digest`] over the pfns inside the sorted, disjoint `ranges` (`inside`), or over all others. Reads no
/// struct page of the other part (deferred pages may still be unwritten).
pub fn memmap_digest_part(mm: &crate::model::Mm, ranges: &[(u64, u64)], inside: bool) -> u64 {
    let mut sum = 0u64;
    let mut next = 0;
    for nr in mm.sparse.valid_sections() {
        let start = section_nr_to_pfn(nr);
        for pfn in start..start + PAGES_PER_SECTION {
            while ranges.get(next).is_some_and(|&(_, e)| e <= pfn) {
                next += 1;
            }
            if ranges.get(next).is_some_and(|&(s, _)| s <= pfn) != inside {
                continue;
            }
            let Some(p) = mm.sparse.pfn_to_page(pfn) else { continue };
            let counts = (p.refcount as u32 as u64) << 32 | p.mapcount as u32 as u64;
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for w in [pfn, p.flags, p.lru_next, p.lru_prev, p.mapping, p.index, p.private, counts] {
                h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
            }
            // FNV's low bits see only the words' low bits: a finalizer (splitmix64's) mixes every bit into all.
            h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            h ^= h >> 31;
            sum = sum.wrapping_add(h);
        }
    }
    sum
}
