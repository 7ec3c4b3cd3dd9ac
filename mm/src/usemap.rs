//! The checked `set_pfnblock_flags_mask`: the pageblock usemap write with the invariant that the page's zone
//! spans the pfn, counted per call site.
//!
//! Linux (mm/page_alloc.c, since 86051ca5eaf5 "mm: fix usemap initialization") does
//! `VM_BUG_ON_PAGE(!zone_spans_pfn(page_zone(page), pfn), page)` before every usemap write. Under SPARSEMEM the
//! usemap lives in the section, so a violation corrupts nothing; it is a consistency check (Vlastimil Babka,
//! <e3648990-eb2a-5607-286b-c2e7f352c455@suse.cz>), and it is the check Andrea Arcangeli hit on v5.9 through
//! `fast_isolate_freepages -> set_pageblock_skip` on a hole page with node 0 / zone DMA links inside DMA32
//! (<20201121194506.13464-1-aarcange@redhat.com>). The modes are those of `vm_debug=`: `panic` (VM_BUG_ON: the
//! first violation is returned as an error), `warn` (log the first [`MAX_RECORDED`] violations, count all) and
//! `off` (no check). Michal Hocko's proposal, the `reserved-relaxed` policy, tolerates PG_reserved pages.
//!
//! # Invariants
//! - every call is counted at its call site, whatever the mode; violations are counted in `warn` and `panic`;
//! - the usemap word is written with compare-and-swap ([`crate::sparse::Sparse::set_pfnblock_flags_mask`]).

use alloc::vec::Vec;
use core::fmt;

use crate::page::{Links, PageError};
use crate::sparse::Sparse;
use crate::zones::{ZoneType, Zones};

/// At most this many violations are kept with their details (all are counted).
pub const MAX_RECORDED: usize = 16;

/// How the pageblock invariant is checked (`vm_debug=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VmDebug {
    /// Like CONFIG_DEBUG_VM's VM_BUG_ON: the first violation stops the caller.
    Panic,
    /// Log the first few, count all, go on.
    #[default]
    Warn,
    /// No check.
    Off,
}

impl VmDebug {
    pub fn from_name(s: &str) -> Option<VmDebug> {
        match s {
            "panic" => Some(VmDebug::Panic),
            "warn" => Some(VmDebug::Warn),
            "off" => Some(VmDebug::Off),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            VmDebug::Panic => "panic",
            VmDebug::Warn => "warn",
            VmDebug::Off => "off",
        }
    }
}

/// Why a page fails the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationReason {
    /// `page_zone(page)` does not span the pfn.
    ZoneDoesNotSpan,
    /// The page's links name a node or zone that does not exist.
    BadLinks,
    /// The page was never initialized (poison pattern).
    Poisoned,
    /// There is no struct page at all.
    NoPage,
}

impl ViolationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationReason::ZoneDoesNotSpan => "zone does not span pfn",
            ViolationReason::BadLinks => "links name no zone",
            ViolationReason::Poisoned => "uninitialized (poisoned)",
            ViolationReason::NoPage => "no struct page",
        }
    }
}

/// One failed check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    pub pfn: u64,
    pub links: Option<Links>,
    pub reason: ViolationReason,
    pub site: &'static str,
    pub reserved: bool,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VM_BUG_ON_PAGE(!zone_spans_pfn(page_zone(page), pfn)): pfn {:#x}", self.pfn)?;
        if let Some(l) = self.links {
            write!(f, " node {} zone {}", l.nid, ZoneType::from_index(l.zone as usize).map_or("?", |z| z.name()))?;
        }
        write!(f, "{} ({}) from {}", if self.reserved { " reserved" } else { "" }, self.reason.as_str(), self.site)
    }
}

/// Counts of one call site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteCount {
    pub site: &'static str,
    pub calls: u64,
    pub violations: u64,
}

/// The checker state: mode, per-site counts, the first violations.
#[derive(Clone, Debug, Default)]
pub struct PageblockChecker {
    pub mode: VmDebug,
    /// Tolerate PG_reserved pages (Michal Hocko's proposal).
    pub tolerate_reserved: bool,
    pub sites: Vec<SiteCount>,
    pub first: Vec<Violation>,
    pub total_violations: u64,
    /// Violations skipped because the page was reserved and reserved pages are tolerated.
    pub tolerated: u64,
}

impl PageblockChecker {
    pub fn new(mode: VmDebug, tolerate_reserved: bool) -> Self {
        PageblockChecker { mode, tolerate_reserved, ..Default::default() }
    }

    fn site(&mut self, site: &'static str) -> &mut SiteCount {
        let i = match self.sites.iter().position(|s| s.site == site) {
            Some(i) => i,
            None => {
                self.sites.push(SiteCount { site, calls: 0, violations: 0 });
                self.sites.len() - 1
            }
        };
        &mut self.sites[i]
    }

    /// Checks `zone_spans_pfn(page_zone(pfn_to_page(pfn)), pfn)`, and on success (or in `warn`/`off` mode) writes
    /// `flags` under `mask` into the pageblock of `pfn`. In `panic` mode a violation is returned and nothing is
    /// written (the kernel turns it into a panic; the simulator reports it).
    pub fn set_pfnblock_flags_mask(
        &mut self,
        sparse: &Sparse,
        zones: &Zones,
        pfn: u64,
        flags: u64,
        mask: u64,
        site: &'static str,
    ) -> Result<(), Violation> {
        self.site(site).calls += 1;
        let v = if self.mode != VmDebug::Off { check_page_zone(sparse, zones, pfn, site) } else { None };
        self.record(v)?;
        sparse.set_pfnblock_flags_mask(pfn, flags, mask);
        Ok(())
    }

    /// [`PageblockChecker::set_pfnblock_flags_mask`] for a page the caller has just initialized with `links`
    /// (not PG_reserved): the check uses those links instead of reading the page, so a worker that holds the
    /// page's section mutably (parallel deferred init) can call it. Same counts, same result.
    #[allow(clippy::too_many_arguments)]
    pub fn set_pfnblock_flags_mask_initialized(
        &mut self,
        sparse: &Sparse,
        zones: &Zones,
        pfn: u64,
        links: Links,
        flags: u64,
        mask: u64,
        site: &'static str,
    ) -> Result<(), Violation> {
        self.site(site).calls += 1;
        let v = if self.mode != VmDebug::Off { check_links(zones, pfn, links, false, site) } else { None };
        self.record(v)?;
        sparse.set_pfnblock_flags_mask(pfn, flags, mask);
        Ok(())
    }

    /// Counts a violation found by a check (tolerated, recorded, or returned in `panic` mode).
    fn record(&mut self, v: Option<Violation>) -> Result<(), Violation> {
        let Some(v) = v else { return Ok(()) };
        if v.reserved && self.tolerate_reserved {
            self.tolerated += 1;
            return Ok(());
        }
        self.site(v.site).violations += 1;
        self.total_violations += 1;
        if self.first.len() < MAX_RECORDED {
            self.first.push(v);
        }
        if self.mode == VmDebug::Panic {
            return Err(v);
        }
        Ok(())
    }
}

/// The check itself: `None` if the page's zone spans `pfn`.
pub fn check_page_zone(sparse: &Sparse, zones: &Zones, pfn: u64, site: &'static str) -> Option<Violation> {
    let Some(page) = sparse.pfn_to_page(pfn) else {
        return Some(Violation { pfn, links: None, reason: ViolationReason::NoPage, site, reserved: false });
    };
    let links = match page.links(pfn) {
        Ok(l) => l,
        Err(PageError::Poisoned { .. } | PageError::Invalid { .. }) => {
            return Some(Violation { pfn, links: None, reason: ViolationReason::Poisoned, site, reserved: false })
        }
    };
    check_links(zones, pfn, links, page.is_reserved(), site)
}

/// The check on a page's links: `None` if the zone they name spans `pfn`.
fn check_links(zones: &Zones, pfn: u64, links: Links, reserved: bool, site: &'static str) -> Option<Violation> {
    let zone = ZoneType::from_index(links.zone as usize).and_then(|z| zones.zone(links.nid, z));
    match zone {
        None => Some(Violation { pfn, links: Some(links), reason: ViolationReason::BadLinks, site, reserved }),
        Some(z) if !z.zone_spans_pfn(pfn) => {
            Some(Violation { pfn, links: Some(links), reason: ViolationReason::ZoneDoesNotSpan, site, reserved })
        }
        Some(_) => None,
    }
}
