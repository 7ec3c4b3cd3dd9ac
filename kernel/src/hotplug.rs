//! Memory hotplug driven by QEMU: with `hotplug=N` on the command line, the kernel runs the self-test
//! `hotplug_events` after the others: it says `memlab: hotplug: ready`, then serves N events of QEMU's ACPI memory
//! hotplug controller ([`crate::memhp`], polled), each checked end to end:
//! - **insert** (`device_add pc-dimm`): the DIMM's node is the SRAT hotplug window holding it (node 0 without
//!   one); the range is mapped into the direct map ([`crate::paging`], page-table pages from the buddy
//!   allocator); each new section's memmap (2 MiB, order 9) comes from the buddy allocator on that node, below
//!   the boot-time mapping; then `Mm::add_memory` and `Mm::online_pages` into the zone `online_policy=` picks.
//!   Checks: the free count grows by exactly the DIMM's pages; every page of the DIMM is allocatable (the zone is
//!   drained from order 10 down, the DIMM's pfns must all come back, each page is written and read back through
//!   the new mapping), then everything is freed and the count is back; the buddy allocator's check and the
//!   verifier's accounting pass; every pfn walker runs over the grown spans and its findings are compared with
//!   those at boot. The insert is acknowledged (_OST success).
//! - **remove** (`device_del`): `Mm::offline_pages` (refused with the reason, and _OST failure, when a page is
//!   busy), `Mm::remove_memory`, the memmap blocks go back to the buddy allocator, the range is unmapped, and the
//!   DIMM is ejected, which completes QEMU's `device_del`. Checks: the free count drops by exactly the DIMM's
//!   pages (plus the memmap given back), spans shrink, the pfns are no longer valid, accounting passes.
//!
//! Every event prints one `@@hotplug {json}` line the host test reads.
//!
//! # Invariants
//! - each event is served with the model locked, from the first check to the acknowledgement;
//! - the kernel touches a DIMM's memory only between its mapping (insert) and its unmapping (remove), and ejects
//!   only a DIMM none of whose pages is in use.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use mm::consts::{MAX_PAGE_ORDER, PAGE_SHIFT};
use mm::sparse::{migratetype, MEMMAP_BYTES_PER_SECTION};
use mm::verify::verify;
use mm::walkers::run_all_walkers;
use mm::zones::ZoneType;

use crate::memhp::{self, Slot};
use crate::println;
use crate::selftest::{SelfTest, TestResult};
use crate::{check, check_eq};

/// The hotplug self-test table (run instead of the others when `hotplug=` is given).
pub static TESTS: &[SelfTest] = &[SelfTest { name: "hotplug_events", run: hotplug_events }];

/// DIMM ranges this module mapped into the direct map (and unmaps at removal); ranges the bootloader mapped
/// stay mapped.
static MAPPED_BY_US: spin::Mutex<Vec<(u64, u64)>> = spin::Mutex::new(Vec::new());

/// Order of one section's memmap (2 MiB).
const MEMMAP_ORDER: u32 = (MEMMAP_BYTES_PER_SECTION >> PAGE_SHIFT).trailing_zeros();
/// TSC cycles to wait for one event before giving up (about a minute at 2-3 GHz; the host's timeout is shorter).
const EVENT_WAIT_CYCLES: u64 = 180_000_000_000;

enum Event {
    Insert(Slot),
    Remove(Slot),
}

fn wait_event() -> Result<Event, String> {
    let start = crate::time::rdtsc();
    loop {
        if let Some(s) = memhp::pending(memhp::Status::INSERT) {
            return Ok(Event::Insert(s));
        }
        if let Some(s) = memhp::pending(memhp::Status::REMOVE) {
            return Ok(Event::Remove(s));
        }
        if crate::time::rdtsc().wrapping_sub(start) > EVENT_WAIT_CYCLES {
            return Err(String::from("no hotplug event came (timeout)"));
        }
        for _ in 0..10_000 {
            core::hint::spin_loop();
        }
    }
}

fn hotplug_events() -> TestResult {
    let f = crate::facts::get();
    let n = f.options.hotplug;
    memhp::probe().ok_or("no memory hotplug controller at 0xa00: boot QEMU with -m SIZE,slots=N,maxmem=MAX")?;
    println!(
        "memlab: hotplug: ready for {} events (holes={}, online_policy={})",
        n,
        f.options.policy.name(),
        f.options.online_policy.name()
    );
    for i in 0..n {
        match wait_event()? {
            Event::Insert(s) => insert(&s)?,
            Event::Remove(s) => remove(&s)?,
        }
        // The state after the event as Linux's /proc and /sys would show it (`memlab diff --hotplug` compares it
        // with the Linux guest's dump after the same step).
        crate::heap::ensure_free(4 << 20);
        if let Some(model) = crate::model::MODEL.get() {
            let g = model.lock();
            for l in g.dump_lines(&format!("step{}", i + 1)) {
                println!("{}", l);
            }
        }
        println!("memlab: hotplug: event {} of {} done", i + 1, n);
    }
    Ok(())
}

/// The DIMM's node: its proximity domain (the controller's PXM register, what the DIMM's `_PXM` method returns
/// to Linux) through the SRAT's PXM-to-node map; else the SRAT hotplug window holding `addr`; else node 0.
fn node_of(pxm: u32, addr: u64) -> u32 {
    let f = crate::facts::get();
    if f.options.numa_off {
        return 0;
    }
    if let crate::acpi::Numa::Srat(s) = &f.numa {
        if let Some(nid) = s.node_pxm.iter().position(|&p| p == pxm) {
            return nid as u32;
        }
    }
    f.numa.ranges().iter().find(|r| r.hotplug && r.start <= addr && addr < r.end).map_or(0, |r| r.nid)
}

fn span(x: (u64, u64)) -> String {
    format!("[{},{}]", x.0, x.1)
}

/// One block from the buddy allocator below the boot-time mapping's end (page tables and memmaps must be readable
/// through the checked physical-memory window): Normal and below on `nid`, else DMA32 and below.
fn alloc_low(m: &mut crate::model::Model, order: u32, nid: u32) -> Option<u64> {
    let limit = crate::facts::get().phys.limit();
    for zone in [ZoneType::Normal, ZoneType::Dma32] {
        if let Ok(pfn) = m.buddy.alloc_pages(&mut m.mm, order, zone, nid, migratetype::UNMOVABLE) {
            if ((pfn + (1 << order)) << PAGE_SHIFT) <= limit {
                return Some(pfn);
            }
            let _ = m.buddy.free_pages(&mut m.mm, pfn, order);
        }
    }
    None
}

fn insert(s: &Slot) -> TestResult {
    let f = crate::facts::get();
    let (pfn, nr) = (s.addr >> PAGE_SHIFT, s.size >> PAGE_SHIFT);
    let nid = node_of(s.pxm, s.addr);
    println!(
        "memlab: hotplug: slot {} insert: [mem {:#018x}-{:#018x}] pxm {} -> node {}",
        s.slot,
        s.addr,
        s.addr + s.size - 1,
        s.pxm,
        nid
    );
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    let result = (|| -> TestResult {
        let free0 = m.buddy.total_free_pages();
        let mut pt_frames = 0u64;
        // The bootloader maps physical memory up to the highest firmware-map entry; with SeaBIOS that is a
        // reserved range at 1 TiB, so the hotplug window is mapped already. Map only what is not.
        let premapped = (s.addr..s.addr + s.size).step_by(2 << 20).all(|pa| f.phys.virt_mapped(f.phys.virt(pa)));
        if !premapped {
            crate::paging::map(f.phys.offset(), s.addr, s.addr + s.size, &mut || {
                pt_frames += 1;
                alloc_low(m, 0, nid).map(|p| p << PAGE_SHIFT)
            })
            .map_err(|e| format!("mapping the DIMM: {}", e))?;
            MAPPED_BY_US.lock().push((s.addr, s.addr + s.size));
        }
        let needed = m.mm.hotplug_memmap_needed(pfn, nr);
        let on_memory = if f.options.memmap_on_memory {
            m.mm.add_memory_memmap_on_memory(nid, pfn, nr).map_err(|e| format!("{}", e))?
        } else {
            let mut memmap = Vec::new();
            for _ in &needed {
                let p = alloc_low(m, MEMMAP_ORDER, nid).ok_or("no memory for a hot-added section's memmap")?;
                memmap.push(p << PAGE_SHIFT);
            }
            m.mm.add_memory(nid, pfn, nr, &memmap).map_err(|e| format!("{}", e))?;
            0
        };
        let zone = m.mm.zone_for_online(nid, pfn, nr, f.options.online_policy);
        let free1 = m.buddy.total_free_pages();
        let ch = m.mm.online_pages(&mut m.buddy, pfn, nr, zone).map_err(|e| format!("{}", e))?;
        // online_pages ends with zone_pcp_update: the zone's per-CPU high and batch follow its new size.
        m.update_pcp();
        let free2 = m.buddy.total_free_pages();
        check_eq!(free2, free1 + nr - on_memory);
        println!("memlab: hotplug: online [mem {:#018x}-{:#018x}] {}", s.addr, s.addr + s.size - 1, ch);
        // Every page of the DIMM is allocatable, and really memory.
        let mut blocks: Vec<(u64, u32)> = Vec::new();
        let mut seen = vec![0u64; (nr as usize).div_ceil(64)];
        let mut covered = 0u64;
        for order in (0..=MAX_PAGE_ORDER).rev() {
            while let Ok(p) = m.buddy.alloc_pages(&mut m.mm, order, zone, nid, migratetype::MOVABLE) {
                let links = m.mm.sparse.pfn_to_page(p).and_then(|pg| pg.links(p).ok());
                if links.is_none_or(|l| l.nid != nid || l.zone as usize != zone.index()) {
                    // The zonelist fell back to another zone or node: this zone is drained at this order.
                    let _ = m.buddy.free_pages(&mut m.mm, p, order);
                    break;
                }
                blocks.push((p, order));
                for q in p.max(pfn)..(p + (1 << order)).min(pfn + nr) {
                    let i = (q - pfn) as usize;
                    if seen[i / 64] & (1 << (i % 64)) == 0 {
                        seen[i / 64] |= 1 << (i % 64);
                        covered += 1;
                        if !crate::paging::write_check(f.phys.offset(), q << PAGE_SHIFT, q ^ 0x5a5a_0000_0000) {
                            return Err(format!("pfn {:#x} does not hold what was written", q));
                        }
                    }
                }
            }
        }
        let allocated: u64 = blocks.iter().map(|b| 1u64 << b.1).sum();
        for (p, o) in blocks.drain(..) {
            m.buddy.free_pages(&mut m.mm, p, o).map_err(|e| format!("{}", e))?;
        }
        // Every page but those holding the DIMM's own memmap (memmap_on_memory).
        check_eq!(covered, nr - on_memory);
        check_eq!(m.buddy.total_free_pages(), free2);
        m.buddy.check(&m.mm).map_err(|e| format!("{}", e))?;
        let v = verify(&m.mm);
        check!(v.accounting.is_empty(), "accounting after online: {:?}", v.accounting);
        let walks = run_all_walkers(&mut m.mm);
        let mut wj = Vec::new();
        for (w, b) in walks.iter().zip(m.walks.iter()) {
            let delta = w.total() as i64 - b.total() as i64;
            println!(
                "memlab: hotplug: walk {}: {} findings ({:+} since boot), {} pageblock violations",
                w.walker,
                w.total(),
                delta,
                w.violations()
            );
            wj.push(format!(
                "{{\"walker\":\"{}\",\"findings\":{},\"delta\":{},\"violations\":{}}}",
                w.walker,
                w.total(),
                delta,
                w.violations()
            ));
        }
        println!(
            "@@hotplug {{\"event\":\"add\",\"slot\":{},\"start_pfn\":{},\"nr_pages\":{},\"nid\":{},\"zone\":\"{}\",\"policy\":\"{}\",\"online_policy\":\"{}\",\"zone_span_before\":{},\"zone_span_after\":{},\"node_span_before\":{},\"node_span_after\":{},\"free_before\":{},\"free_after\":{},\"memmap_sections\":{},\"memmap_on_memory_pages\":{},\"premapped\":{},\"page_table_frames\":{},\"allocated_in_zone\":{},\"dimm_pages_allocatable\":{},\"walkers\":[{}]}}",
            s.slot,
            pfn,
            nr,
            nid,
            zone.name(),
            m.mm.policy.name(),
            f.options.online_policy.name(),
            span(ch.zone_before),
            span(ch.zone_after),
            span(ch.node_before),
            span(ch.node_after),
            free0,
            free2,
            needed.len(),
            on_memory,
            premapped,
            pt_frames,
            allocated,
            covered,
            wj.join(",")
        );
        Ok(())
    })();
    drop(guard);
    memhp::ack_insert(s.slot, result.is_ok());
    result
}

fn remove(s: &Slot) -> TestResult {
    let f = crate::facts::get();
    let (pfn, nr) = (s.addr >> PAGE_SHIFT, s.size >> PAGE_SHIFT);
    println!("memlab: hotplug: slot {} remove request: [mem {:#018x}-{:#018x}]", s.slot, s.addr, s.addr + s.size - 1);
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    // offline_pages: drain_all_pages first, so no page of the range sits on a CPU's list.
    m.drain_all_pcp()?;
    let free0 = m.buddy.total_free_pages();
    let on_memory = m.mm.memmap_on_memory_pages(pfn);
    let ch = match m.mm.offline_pages(&mut m.buddy, pfn, nr) {
        Ok(ch) => ch,
        Err(e) => {
            drop(guard);
            memhp::refuse_remove(s.slot);
            println!("memlab: hotplug: slot {} stays: {}", s.slot, e);
            return Err(format!("offline refused: {}", e));
        }
    };
    let freed = m.mm.remove_memory(pfn, nr).map_err(|e| format!("{}", e))?;
    for &phys in &freed {
        m.buddy.free_pages(&mut m.mm, phys >> PAGE_SHIFT, MEMMAP_ORDER).map_err(|e| format!("{}", e))?;
    }
    let ours = {
        let mut mapped = MAPPED_BY_US.lock();
        let i = mapped.iter().position(|&r| r == (s.addr, s.addr + s.size));
        i.map(|i| mapped.remove(i))
    };
    if ours.is_some() {
        crate::paging::unmap(f.phys.offset(), s.addr, s.addr + s.size).map_err(|e| format!("unmapping: {}", e))?;
    }
    let free1 = m.buddy.total_free_pages();
    check_eq!(free1, free0 - (nr - on_memory) + (freed.len() as u64) * (1 << MEMMAP_ORDER));
    check!(!m.mm.sparse.pfn_valid(pfn) && !m.mm.sparse.pfn_valid(pfn + nr - 1), "the DIMM's pfns are still valid");
    m.buddy.check(&m.mm).map_err(|e| format!("{}", e))?;
    let v = verify(&m.mm);
    check!(v.accounting.is_empty(), "accounting after remove: {:?}", v.accounting);
    m.update_pcp();
    println!("memlab: hotplug: offline+remove {}", ch);
    println!(
        "@@hotplug {{\"event\":\"remove\",\"slot\":{},\"start_pfn\":{},\"nr_pages\":{},\"nid\":{},\"zone\":\"{}\",\"zone_span_before\":{},\"zone_span_after\":{},\"node_span_before\":{},\"node_span_after\":{},\"free_before\":{},\"free_after\":{},\"memmap_sections_freed\":{}}}",
        s.slot,
        pfn,
        nr,
        ch.nid,
        ch.zone.name(),
        span(ch.zone_before),
        span(ch.zone_after),
        span(ch.node_before),
        span(ch.node_after),
        free0,
        free1,
        freed.len()
    );
    drop(guard);
    memhp::eject(s.slot);
    Ok(())
}
