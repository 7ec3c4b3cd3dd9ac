//! Memory-model tests on the booted `Mm`: the policy's promises, node-local memmaps, accounting, `pfn_valid`,
//! poison detection, the memmap layout, timings, and the walkers.

use alloc::vec::Vec;

use crate::facts::get as facts;
use crate::selftest::TestResult;
use crate::{check, check_eq};

/// The verifier found no broken promise of the running policy (and no accounting problem).
pub(super) fn mm_policy_promises_kept() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    check!(
        m.verification.broken_promises.is_empty(),
        "policy {}: {:?}",
        m.mm.policy.name(),
        m.verification.broken_promises
    );
    check!(m.verification.accounting.is_empty(), "{:?}", m.verification.accounting);
    check!(m.verification.valid_pages > 0);
    Ok(())
}

/// Every section's memmap lies in memory of the section's own node, whenever that node has memory.
pub(super) fn mm_memmap_node_local() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let mm = &m.mm;
    let mut checked = 0;
    for nr in mm.sparse.valid_sections() {
        let ms = mm.sparse.section(nr).ok_or("a valid section vanished")?;
        let node_has_memory = mm.memblock.memory.iter().any(|r| r.nid == ms.nid);
        if !node_has_memory {
            continue;
        }
        let phys = ms.memmap_phys;
        let end = phys + mm::sparse::MEMMAP_BYTES_PER_SECTION;
        let home = mm.memblock.memory.iter().find(|r| r.start_pfn << 12 <= phys && end <= r.end_pfn << 12);
        check!(home.is_some(), "section {}: memmap [{:#x}, {:#x}) is not inside one memory range", nr, phys, end);
        check_eq!(home.map(|r| r.nid), Some(ms.nid));
        check!(
            mm.memblock.reserved_reason(phys >> 12) == Some(mm::layout::ReserveReason::Memmap),
            "section {}: memmap at {:#x} is not reserved as memmap",
            nr,
            phys
        );
        checked += 1;
    }
    check!(checked > 0, "no section checked");
    Ok(())
}

/// Every RAM page is accounted for: managed + reserved = present in every zone, and the zones hold all RAM.
pub(super) fn mm_accounting() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let mm = &m.mm;
    let ram: u64 = mm.memblock.memory.iter().map(|r| r.pages()).sum();
    let present: u64 = mm.zones.nodes.iter().map(|n| n.node_present_pages).sum();
    check_eq!(present, ram);
    for node in &mm.zones.nodes {
        for z in node.zones.iter().filter(|z| z.present_pages > 0) {
            let reserved = mm.memblock.reserved_memory_pages(z.nid, z.zone_start_pfn, z.zone_end_pfn());
            check_eq!(z.managed_pages + reserved, z.present_pages);
        }
    }
    // Reserved memory pages are PG_reserved, with a recorded reason (the verifier checks every page).
    check_eq!(m.verification.count(mm::verify::FindingKind::ReservedWithoutReason), 0);
    Ok(())
}

/// pfn_valid follows Linux: early sections are valid for all 128 MiB (the tail beyond RAM included), sections
/// without memory are not, and pfn_to_page is an addition on the decoded section_mem_map.
pub(super) fn mm_pfn_valid_semantics() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let mm = &m.mm;
    let last = mm.memblock.memory.last().ok_or("no memory")?;
    let tail_end = (last.end_pfn + mm::consts::PAGES_PER_SECTION - 1) & !(mm::consts::PAGES_PER_SECTION - 1);
    check!(mm.sparse.pfn_valid(last.end_pfn - 1));
    check!(mm.sparse.pfn_valid(tail_end - 1), "the tail of the last section must be pfn_valid");
    check!(!mm.sparse.pfn_valid(tail_end), "beyond the last section must not be pfn_valid");
    let a = mm.sparse.pfn_to_page(last.end_pfn - 1).ok_or("no page")? as *const _ as u64;
    let b = mm.sparse.pfn_to_page(last.end_pfn - 2).ok_or("no page")? as *const _ as u64;
    check_eq!(a - b, 64);
    let page = mm.sparse.pfn_to_page(last.end_pfn - 1).ok_or("no page")?;
    check_eq!(mm.sparse.page_to_pfn(page), Some(last.end_pfn - 1));
    Ok(())
}

/// Reading the links of a page that still holds the poison pattern is reported with its pfn.
pub(super) fn mm_poison_detected() -> TestResult {
    let page = mm::page::Page::POISONED;
    check_eq!(page.links(0x1234), Err(mm::page::PageError::Poisoned { pfn: 0x1234 }));
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let promise = m.mm.policy.promise();
    if promise.all_valid_initialized {
        check_eq!(m.verification.count(mm::verify::FindingKind::Poisoned), 0);
    }
    Ok(())
}

/// The boot timed memmap init and the same-boot reference fill (TSC), and knows whether the TSC rate is known.
pub(super) fn mm_timing_recorded() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    check!(m.boot_cycles > 0 && m.fill_cycles > 0, "boot {} fill {}", m.boot_cycles, m.fill_cycles);
    if let Some(khz) = m.tsc_khz {
        check!(khz > 1000, "TSC at {} kHz", khz);
    }
    Ok(())
}

/// The walkers meet what the policy promises: under a policy that keeps the invariant, no walker finds anything
/// and the pageblock check never fails; every walker ran over the populated zones.
pub(super) fn walkers_meet_the_policy() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    check_eq!(m.walks.len(), mm::walkers::WALKERS.len());
    let promise = m.mm.policy.promise();
    for w in &m.walks {
        if promise.zone_spans_every_valid_pfn {
            check_eq!((w.walker, w.total(), w.violations()), (w.walker, 0, 0));
        }
        if promise.all_valid_initialized {
            check_eq!((w.walker, w.count(mm::walkers::FindingKind::Poisoned)), (w.walker, 0));
        }
    }
    Ok(())
}

/// The memory model's layout: under `memmodel=vmemmap` the struct page of every section's first and last pfn is at
/// `vmemmap + pfn * 64` and the 2 MiB of vmemmap of a section without memmap is not mapped; under classic
/// sparsemem it is at `direct map + memmap_phys`. In both, the bytes seen there are the bytes of the section's
/// physical memmap seen through the direct map (the same memory, not a copy).
pub(super) fn mm_memmap_layout() -> TestResult {
    let f = facts();
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let off = f.phys.offset();
    let base = crate::model::VMEMMAP_BASE.get().copied();
    check_eq!(base.is_some(), f.options.vmemmap);
    let valid: Vec<u64> = m.mm.sparse.valid_sections().collect();
    check!(!valid.is_empty());
    for &nr in &valid {
        let ms = m.mm.sparse.section(nr).ok_or("a valid section has no mem_section")?;
        let start = mm::consts::section_nr_to_pfn(nr);
        for (i, pfn) in [(0u64, start), (mm::consts::PAGES_PER_SECTION - 1, start + mm::consts::PAGES_PER_SECTION - 1)]
        {
            let page = m.mm.sparse.pfn_to_page(pfn).ok_or("a valid pfn has no struct page")?;
            let va = page as *const mm::page::Page as u64;
            let expected = match base {
                Some(b) => b + pfn * 64,
                None => off + ms.memmap_phys + i * 64,
            };
            check_eq!((pfn, va), (pfn, expected));
            let direct = f.phys.bytes(ms.memmap_phys + i * 64, 64).ok_or("the memmap is not in the direct map")?;
            let seen: [u8; 64] = page.to_bytes();
            check!(seen[..] == direct[..], "pfn {:#x}: the struct page differs from its physical memmap", pfn);
        }
    }
    if let Some(b) = base {
        let last = *valid.last().unwrap_or(&0);
        let hole = (0..last).find(|nr| !valid.contains(nr));
        if let Some(nr) = hole {
            let va = b + mm::consts::section_nr_to_pfn(nr) * 64;
            check!(!f.phys.virt_mapped(va), "section {} has no memmap but its vmemmap {:#x} is mapped", nr, va);
        }
    }
    Ok(())
}
