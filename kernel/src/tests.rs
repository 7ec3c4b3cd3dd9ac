//! The self-tests: one table, [`TESTS`]. Add a test by writing a `fn() -> TestResult` and adding one row.
//!
//! Smoke tests check that the boot pipeline works on whatever QEMU profile is running: serial, heap, the
//! firmware map, ACPI/SRAT (against `expect_nodes=` when the runner passes the profile's node count), and the
//! layout built from both. Demo tests (`__` prefix) show the failure paths and run only when named exactly.
//!
//! # Invariants
//! - tests only read the boot facts ([`crate::facts`]); none changes global state except through the heap.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mm::layout::{normalize, LayoutOptions, RegionKind};

use crate::acpi::Numa;
use crate::facts::get as facts;
use crate::selftest::{SelfTest, TestResult};
use crate::{check, check_eq};

/// Every self-test, in the order they run.
pub static TESTS: &[SelfTest] = &[
    SelfTest { name: "serial_ready", run: serial_ready },
    SelfTest { name: "heap_alloc_free", run: heap_alloc_free },
    SelfTest { name: "heap_is_reserved_usable_ram", run: heap_is_reserved_usable_ram },
    SelfTest { name: "firmware_map_sorted", run: firmware_map_sorted },
    SelfTest { name: "firmware_map_has_ram", run: firmware_map_has_ram },
    SelfTest { name: "acpi_rsdp_found", run: acpi_rsdp_found },
    SelfTest { name: "acpi_srat_nodes", run: acpi_srat_nodes },
    SelfTest { name: "layout_with_numa", run: layout_with_numa },
    SelfTest { name: "cmdline_table", run: cmdline_table },
    SelfTest { name: "mm_policy_promises_kept", run: mm_policy_promises_kept },
    SelfTest { name: "mm_memmap_node_local", run: mm_memmap_node_local },
    SelfTest { name: "mm_accounting", run: mm_accounting },
    SelfTest { name: "mm_pfn_valid_semantics", run: mm_pfn_valid_semantics },
    SelfTest { name: "mm_poison_detected", run: mm_poison_detected },
    SelfTest { name: "mm_memmap_layout", run: mm_memmap_layout },
    SelfTest { name: "mm_timing_recorded", run: mm_timing_recorded },
    SelfTest { name: "buddy_handover_accounting", run: buddy_handover_accounting },
    SelfTest { name: "buddy_drain_and_refill", run: buddy_drain_and_refill },
    SelfTest { name: "buddy_random_stress", run: buddy_random_stress },
    SelfTest { name: "buddy_node_local", run: buddy_node_local },
    SelfTest { name: "buddy_zonelists_follow_distances", run: buddy_zonelists_follow_distances },
    SelfTest { name: "walkers_meet_the_policy", run: walkers_meet_the_policy },
    SelfTest { name: "heap_collections", run: heap_collections },
    SelfTest { name: "heap_grows_from_buddy", run: heap_grows_from_buddy },
    SelfTest { name: "__fail_demo", run: fail_demo },
    SelfTest { name: "__pagefault_demo", run: pagefault_demo },
    SelfTest { name: "__hang_demo", run: hang_demo },
    SelfTest { name: "__overflow_demo", run: overflow_demo },
    SelfTest { name: "__panic_demo", run: panic_demo },
    SelfTest { name: "__poisoned_page_demo", run: poisoned_page_demo },
];

fn serial_ready() -> TestResult {
    check!(crate::serial::is_ready(), "COM1 did not pass its loopback test");
    Ok(())
}

fn heap_alloc_free() -> TestResult {
    let (used_before, _) = crate::heap::usage();
    {
        let mut v: Vec<u64> = Vec::with_capacity(128 * 1024);
        for i in 0..128 * 1024 {
            v.push(i);
        }
        check_eq!(v.iter().sum::<u64>(), (128 * 1024 - 1) * 128 * 1024 / 2);
        let b = Box::new([7u8; 4096]);
        check!(b.iter().all(|&x| x == 7));
        let (used, _) = crate::heap::usage();
        check!(used >= used_before + 128 * 1024 * 8, "heap usage did not grow: {} -> {}", used_before, used);
    }
    let (used_after, _) = crate::heap::usage();
    check_eq!(used_after, used_before);
    Ok(())
}

fn heap_is_reserved_usable_ram() -> TestResult {
    let f = facts();
    let (s, e) = f.heap;
    check!(s < e && s % 4096 == 0 && e % 4096 == 0, "heap [{:#x}, {:#x}) is not page-aligned", s, e);
    check!(
        f.firmware.raw.iter().any(|r| r.kind == RegionKind::Usable && r.start <= s && e <= r.end),
        "heap [{:#x}, {:#x}) is not inside one usable region",
        s,
        e
    );
    Ok(())
}

fn firmware_map_sorted() -> TestResult {
    let regions = &facts().firmware.printed;
    check!(!regions.is_empty(), "the firmware map is empty");
    for (i, w) in regions.windows(2).enumerate() {
        check!(w[0].start < w[0].end, "region {} is empty", i);
        check!(w[0].end <= w[1].start, "regions {} and {} overlap or are unsorted: {:?} {:?}", i, i + 1, w[0], w[1]);
        check!(
            w[0].end < w[1].start || w[0].kind != w[1].kind,
            "adjacent regions {} and {} of the same kind are not merged",
            i,
            i + 1
        );
    }
    check!(facts().firmware.raw.len() >= regions.len());
    Ok(())
}

fn firmware_map_has_ram() -> TestResult {
    let f = &facts().firmware;
    let ram: u64 = f.printed.iter().filter(|r| r.kind.is_ram()).map(|r| r.end - r.start).sum();
    check!(ram >= 64 << 20, "only {:#x} bytes of RAM in the firmware map", ram);
    check!(f.printed.iter().any(|r| r.kind == RegionKind::BootloaderReserved), "no bootloader reservation");
    Ok(())
}

fn acpi_rsdp_found() -> TestResult {
    let f = facts();
    let rsdp = f.rsdp_addr.ok_or("the bootloader reported no RSDP")?;
    let r = mm::acpi::read_rsdp(&f.phys, rsdp).map_err(|e| alloc::format!("{}", e))?;
    check!(r.revision == 0 || r.revision >= 2, "RSDP revision {}", r.revision);
    check!(!matches!(f.numa, Numa::Malformed(_) | Numa::NoRsdp), "ACPI tables: {:?}", f.numa);
    Ok(())
}

fn acpi_srat_nodes() -> TestResult {
    let f = facts();
    if let Numa::Srat(s) = &f.numa {
        check!(s.nodes() >= 1, "an SRAT without nodes");
        for m in &s.memory {
            check!((m.range.nid as usize) < s.nodes(), "range {} names a node that was not mapped", m);
            check_eq!(s.node_pxm[m.range.nid as usize], m.pxm);
        }
        // Every node with memory gets a node id lower than any memory-less one is not required; every node id
        // below nodes() must be distinct in PXM.
        for (i, p) in s.node_pxm.iter().enumerate() {
            check!(!s.node_pxm[..i].contains(p), "PXM {} mapped twice", p);
        }
    }
    if let Some(n) = f.options.expect_nodes {
        check_eq!(f.numa.nodes() as u32, n);
    }
    Ok(())
}

fn layout_with_numa() -> TestResult {
    let f = facts();
    let numa = f.numa.ranges();
    let layout = normalize(&f.firmware.raw, &numa, &LayoutOptions::default()).map_err(|e| alloc::format!("{}", e))?;
    check!(layout.memory_pages() > 0);
    // Every node with memory is a node the SRAT named (memory-less nodes exist only in the SRAT).
    check!(
        layout.nr_node_ids() <= f.numa.nodes(),
        "{} node ids with memory, {} nodes",
        layout.nr_node_ids(),
        f.numa.nodes()
    );
    Ok(())
}

fn cmdline_table() -> TestResult {
    let o = crate::cmdline::parse(b"loglevel=debug selftest=heap").map_err(|e| e)?;
    check_eq!(o.loglevel, log::LevelFilter::Debug);
    check_eq!(o.selftest.as_deref(), Some("heap"));
    let e = crate::cmdline::parse(b"loglevel=loud").err().ok_or("loglevel=loud was accepted")?;
    check!(e.starts_with("cmdline: ") && e.contains("loud") && e.contains("accepted:"), "{}", e);
    check!(crate::cmdline::parse(b"nosuchkey=1").is_err());
    check!(crate::cmdline::parse(b"expect_nodes=0").is_err());
    check_eq!(
        crate::cmdline::parse(b"expect_nodes=4 acpi_dump=1").map(|o| (o.expect_nodes, o.acpi_dump)),
        Ok((Some(4), true))
    );
    check_eq!(crate::cmdline::parse(b"stress=30").map(|o| o.stress_secs), Ok(Some(30)));
    check!(crate::cmdline::parse(b"stress=0").is_err());
    check!(crate::cmdline::parse(b"stress=86401").is_err());
    let e = crate::cmdline::parse(b"movablecore=10% kernelcore=mirror").err().ok_or("the conflict was accepted")?;
    check!(e.starts_with("cmdline: \"movablecore=10%\" conflicts with \"kernelcore=mirror\""), "{}", e);
    check!(crate::cmdline::parse(b"kernelcore=1G movablecore=10%").is_ok());
    Ok(())
}

fn fail_demo() -> TestResult {
    let two = 1 + 1;
    check_eq!(two, 3);
    Ok(())
}

fn pagefault_demo() -> TestResult {
    // An address in the lower half that the bootloader leaves unmapped: the read must page-fault, never return.
    let phys = &facts().phys;
    let addr = [0x0000_0dea_d000_0000u64, 0x0000_0bad_0000_0000]
        .into_iter()
        .find(|&a| !phys.virt_mapped(a))
        .ok_or("no unmapped candidate address")?;
    phys.fault_on_unmapped(addr);
    Err(alloc::format!("reading unmapped {:#x} did not fault", addr))
}

fn hang_demo() -> TestResult {
    crate::println!("hanging on purpose (the runner's --timeout ends this)");
    crate::exit::halt_forever()
}

fn overflow_demo() -> TestResult {
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let pad = core::hint::black_box([depth; 64]);
        recurse(depth + 1) + pad[0]
    }
    let n = recurse(0);
    Err(alloc::format!("recursion returned {}", n))
}

fn panic_demo() -> TestResult {
    let limit = core::hint::black_box(3usize);
    panic!("panic demo: index {} out of {}", limit + 1, limit)
}

/// Reads, through the checked accessor (`Page::links`), the lowest `pfn_valid` struct page that nothing
/// initialized: under `holes=zeroed-no-tail` on `-m 4000M` the tail of section 39 from pfn 0x13a000. Linux's
/// PF_POISONED_CHECK (CONFIG_DEBUG_VM_PGFLAGS) is a BUG there: with `vm_debug=panic` the kernel panics naming the
/// pfn; with `warn` the demo fails naming it; with `off` the unchecked read's garbage links are shown instead.
fn poisoned_page_demo() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let sparse = &m.mm.sparse;
    let pfn = sparse
        .valid_sections()
        .flat_map(|nr| {
            let s = mm::consts::section_nr_to_pfn(nr);
            s..s + mm::consts::PAGES_PER_SECTION
        })
        .find(|&pfn| sparse.pfn_to_page(pfn).is_some_and(|p| p.is_poisoned()))
        .ok_or_else(|| alloc::format!("policy {} left no struct page poisoned", m.mm.policy.name()))?;
    let page = sparse.pfn_to_page(pfn).ok_or("pfn_valid page without struct page")?;
    match (m.mm.checker.mode, page.links(pfn)) {
        (mm::usemap::VmDebug::Off, _) => Err(alloc::format!(
            "vm_debug=off: struct page at pfn {:#x} read unchecked: flags {:#x}, refcount {}",
            pfn,
            page.flags,
            page.refcount
        )),
        (mm::usemap::VmDebug::Panic, Err(e)) => panic!("poisoned struct page at pfn {:#x}: {}", pfn, e),
        (_, Err(e)) => Err(alloc::format!("poisoned struct page at pfn {:#x}: {}", pfn, e)),
        (_, Ok(l)) => Err(alloc::format!("the checked accessor read links {:?} from a poisoned page", l)),
    }
}

/// The verifier found no broken promise of the running policy (and no accounting problem).
fn mm_policy_promises_kept() -> TestResult {
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
fn mm_memmap_node_local() -> TestResult {
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
fn mm_accounting() -> TestResult {
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
fn mm_pfn_valid_semantics() -> TestResult {
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
fn mm_poison_detected() -> TestResult {
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
fn mm_timing_recorded() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    check!(m.boot_cycles > 0 && m.fill_cycles > 0, "boot {} fill {}", m.boot_cycles, m.fill_cycles);
    if let Some(khz) = m.tsc_khz {
        check!(khz > 1000, "TSC at {} kHz", khz);
    }
    Ok(())
}

/// Every free page went to the buddy allocator: free = managed = present - reserved, and the lists are sound.
fn buddy_handover_accounting() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let managed: u64 = m.mm.zones.nodes.iter().flat_map(|n| n.zones.iter()).map(|z| z.managed_pages).sum();
    check_eq!(m.buddy.total_managed_pages(), managed);
    // The heap may have grown with buddy blocks since the hand-over (they are allocated, not lost).
    let grown = crate::heap::stats().grown_regions as u64 * (1 << crate::heap::GROW_ORDER);
    check_eq!(m.buddy.total_free_pages() + grown, managed);
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("{}", e))?;
    check!(m.handover_cycles > 0);
    Ok(())
}

/// A bitmap of allocated pfns (the test's own record, so nothing is lost whatever the allocator says).
struct PfnSet(Vec<u64>);

impl PfnSet {
    fn new(max_pfn: u64) -> Self {
        PfnSet(alloc::vec![0; (max_pfn as usize).div_ceil(64)])
    }
    /// Inserts; false if already present.
    fn insert(&mut self, pfn: u64) -> bool {
        let (w, b) = ((pfn / 64) as usize, pfn % 64);
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }
    fn drain(&mut self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter_mut().enumerate().flat_map(|(w, word)| {
            let bits = core::mem::take(word);
            (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| w as u64 * 64 + b)
        })
    }
}

/// Allocate every free page at order 0, then free them all: counts and the free-block shape return exactly.
/// Guests with more than 1.5M free pages drain only the zones at or below DMA32 (TCG time), said in the result.
fn buddy_drain_and_refill() -> TestResult {
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    let before_free = m.buddy.total_free_pages();
    let before_shape = m.buddy.free_blocks(&m.mm);
    let highest = if before_free > 1_500_000 { mm::zones::ZoneType::Dma32 } else { mm::zones::ZoneType::Movable };
    let max_pfn = m.mm.memblock.memory.last().map_or(0, |r| r.end_pfn);
    let mut set = PfnSet::new(max_pfn);
    let mut n = 0u64;
    loop {
        match m.buddy.alloc_pages(&mut m.mm, 0, highest, 0, mm::sparse::migratetype::MOVABLE) {
            Ok(pfn) => {
                check!(pfn < max_pfn && set.insert(pfn), "pfn {:#x} handed out twice or out of range", pfn);
                n += 1;
            }
            Err(mm::buddy::AllocError::NoMemory { .. }) => break,
            Err(e) => return Err(alloc::format!("{}", e)),
        }
    }
    if highest == mm::zones::ZoneType::Movable {
        check_eq!(n, before_free);
        check_eq!(m.buddy.total_free_pages(), 0);
    }
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("after draining: {}", e))?;
    for pfn in set.drain() {
        m.buddy.free_pages(&mut m.mm, pfn, 0).map_err(|e| alloc::format!("{}", e))?;
    }
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("after refilling: {}", e))?;
    check_eq!(m.buddy.total_free_pages(), before_free);
    // The blocks (pfn, order, node, zone) return exactly; their migratetype may not: draining steals pageblocks
    // from other migratetypes through move_freepages_block, as Linux does, and a stolen block stays stolen.
    let shape = |v: &[mm::buddy::FreeBlock]| -> Vec<(u64, u32, u32, mm::zones::ZoneType)> {
        v.iter().map(|b| (b.pfn, b.order, b.nid, b.zone)).collect()
    };
    let after_shape = m.buddy.free_blocks(&m.mm);
    check_eq!(after_shape.len(), before_shape.len());
    check!(shape(&after_shape) == shape(&before_shape), "the free blocks differ after refilling");
    Ok(())
}

/// Random allocations and frees of every order over all nodes and migratetypes, with exact accounting.
fn buddy_random_stress() -> TestResult {
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    let before = m.buddy.total_free_pages();
    let nodes = m.mm.zones.nodes.len() as u32;
    let mut held: Vec<(u64, u32)> = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..20_000u32 {
        let r = next();
        if r % 2 == 0 || held.is_empty() {
            let order = (r >> 8).trailing_zeros().min(mm::consts::MAX_PAGE_ORDER);
            let nid = ((r >> 20) % nodes as u64) as u32;
            let mt = (r >> 30) % 3;
            match m.buddy.alloc_pages(&mut m.mm, order, mm::zones::ZoneType::Movable, nid, mt) {
                Ok(pfn) => held.push((pfn, order)),
                Err(mm::buddy::AllocError::NoMemory { .. }) => {}
                Err(e) => return Err(alloc::format!("round {}: {}", round, e)),
            }
        } else {
            let i = (r >> 8) as usize % held.len();
            let (pfn, order) = held.swap_remove(i);
            m.buddy.free_pages(&mut m.mm, pfn, order).map_err(|e| alloc::format!("round {}: {}", round, e))?;
        }
        if round % 5000 == 0 {
            let allocated: u64 = held.iter().map(|&(_, o)| 1u64 << o).sum();
            check_eq!(m.buddy.total_free_pages() + allocated, before);
        }
    }
    for (pfn, order) in held {
        m.buddy.free_pages(&mut m.mm, pfn, order).map_err(|e| alloc::format!("{}", e))?;
    }
    m.buddy.check(&m.mm).map_err(|e| alloc::format!("{}", e))?;
    check_eq!(m.buddy.total_free_pages(), before);
    Ok(())
}

/// An allocation for a node with free memory lands on that node.
fn buddy_node_local() -> TestResult {
    let mut guard = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let m = &mut *guard;
    for nid in 0..m.mm.zones.nodes.len() as u32 {
        if m.mm.zones.nodes[nid as usize].node_present_pages == 0 {
            continue;
        }
        let pfn = m
            .buddy
            .alloc_pages(&mut m.mm, 0, mm::zones::ZoneType::Movable, nid, mm::sparse::migratetype::UNMOVABLE)
            .map_err(|e| alloc::format!("node {}: {}", nid, e))?;
        let got = m.mm.memblock.nid_of(pfn);
        m.buddy.free_pages(&mut m.mm, pfn, 0).map_err(|e| alloc::format!("{}", e))?;
        check_eq!(got, Some(nid));
    }
    Ok(())
}

/// The walkers meet what the policy promises: under a policy that keeps the invariant, no walker finds anything
/// and the pageblock check never fails; every walker ran over the populated zones.
fn walkers_meet_the_policy() -> TestResult {
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

/// The heap serves Vec, Box and BTreeMap.
fn heap_collections() -> TestResult {
    let mut map = alloc::collections::BTreeMap::new();
    // linked_list_allocator is first-fit over a free list: thousands of small boxes cost seconds under TCG.
    for i in 0..1_000u64 {
        map.insert(i.wrapping_mul(0x9e37_79b9) % 100_003, Box::new(i));
    }
    check!(map.len() > 990);
    let sum: u64 = map.values().map(|b| **b).sum();
    check!(sum > 0);
    let v: Vec<Vec<u8>> = (0..100).map(|i| alloc::vec![i as u8; 1000]).collect();
    check!(v.iter().enumerate().all(|(i, x)| x.len() == 1000 && x[999] == i as u8));
    Ok(())
}

/// The zonelists follow the node distances (the SLIT if QEMU gave one, else local first): for every node, its
/// own zones come first and the other nodes follow in ascending distance.
fn buddy_zonelists_follow_distances() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let n = m.mm.zones.nodes.len();
    if let Some(d) = &m.distances {
        check_eq!(d.len(), n * n);
        for a in 0..n as u32 {
            for b in 0..n as u32 {
                check_eq!(m.buddy.node_distance(a, b), Some(d[(a as usize) * n + b as usize]));
            }
        }
    }
    for nid in 0..n as u32 {
        let list = m.buddy.zonelist(nid);
        let order: Vec<u32> = list.iter().map(|&(node, _)| node).collect();
        if let Some(&first) = order.first() {
            if m.mm.zones.nodes[nid as usize].node_present_pages > 0 {
                check_eq!(first, nid);
            }
        }
        let dist: Vec<u8> = order.iter().map(|&b| m.buddy.node_distance(nid, b).unwrap_or(255)).collect();
        check!(dist.windows(2).all(|w| w[0] <= w[1]), "node {} zonelist not by distance: {:?}", nid, dist);
    }
    Ok(())
}

/// Free buddy pages plus the pages the heap holds in grown regions: constant while only the heap takes blocks.
fn buddy_free_plus_heap() -> Result<(u64, crate::heap::HeapStats), &'static str> {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let s = crate::heap::stats();
    Ok((m.buddy.total_free_pages() + s.grown_regions as u64 * (1 << crate::heap::GROW_ORDER), s))
}

/// The heap grows with order-10 buddy blocks past its initial range, and gives them back once they are free:
/// more 3 MiB vectors than the free heap holds are allocated and filled; every grown region is a buddy-allocated
/// block (refcount 1, not free, in a zone at or below Normal); the buddy free count drops by exactly the grown
/// pages; after the vectors are dropped, `trim` returns every grown region and the count is back.
fn heap_grows_from_buddy() -> TestResult {
    let (total0, s0) = buddy_free_plus_heap()?;
    // Release what earlier growth left (ahead-of-need growth may have happened), so the test starts from 0.
    crate::heap::trim();
    let (total1, s1) = buddy_free_plus_heap()?;
    check_eq!(total1, total0);
    check!(s1.grown_regions == 0, "a grown region still in use before the test (from {:?})", s0);
    const CHUNK: usize = 3 << 20;
    let n = s1.free / CHUNK + 3;
    let mut v: Vec<Vec<u8>> = Vec::with_capacity(n);
    for i in 0..n {
        v.push(alloc::vec![i as u8 ^ 0x5a; CHUNK]);
    }
    let (total2, s2) = buddy_free_plus_heap()?;
    check!(s2.grown_regions >= 3, "the heap did not grow: {:?}", s2);
    check_eq!(total2, total0);
    // The check below allocates with the model locked (a list of every free block: 1.5 MiB on a 256 GiB guest),
    // when the heap cannot grow: make room first. The grown regions this adds are counted like the others.
    check!(crate::heap::ensure_free(8 << 20), "the heap cannot grow to 8 MiB free");
    let (total2, s2) = buddy_free_plus_heap()?;
    check_eq!(total2, total0);
    {
        let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
        m.buddy.check(&m.mm).map_err(|e| alloc::format!("{}", e))?;
        for (start, end) in crate::heap::grown_ranges() {
            let pfn = start >> 12;
            check_eq!(end - start, crate::heap::GROW_BYTES);
            let page = m.mm.sparse.pfn_to_page(pfn).ok_or("a grown region has no struct page")?;
            check_eq!((pfn, page.refcount), (pfn, 1));
            let links = page.links(pfn).map_err(|e| alloc::format!("pfn {:#x}: {}", pfn, e))?;
            check!(links.zone as usize <= mm::zones::ZoneType::Normal.index(), "pfn {:#x} zone {}", pfn, links.zone);
            // Allocated as one order-10 block: the head is not on a free list, no page of it is (the buddy check
            // above found every free block well-formed, and a free block's pages have refcount 0).
            check!(!page.has_type(mm::page::PG_BUDDY), "grown region {:#x} heads a free block", start);
            for q in [pfn + 1, (end >> 12) - 1] {
                let t = m.mm.sparse.pfn_to_page(q).ok_or("a grown region has no struct page")?;
                check!(t.refcount == 0 && !t.has_type(mm::page::PG_BUDDY), "pfn {:#x} is not a tail of the block", q);
            }
        }
    }
    check!(v.iter().enumerate().all(|(i, x)| x.len() == CHUNK && x[0] == i as u8 ^ 0x5a && x[CHUNK - 1] == x[0]));
    drop(v);
    let released = crate::heap::trim();
    let (total3, s3) = buddy_free_plus_heap()?;
    check!(s3.grown_regions == 0, "grown regions still in use after the vectors were dropped: {:?}", s3);
    check!(released >= s2.grown_regions, "released {} of {}", released, s2.grown_regions);
    check_eq!(total3, total0);
    crate::println!(
        "memlab: heap: initial {} KiB; grew by {} regions of {} KiB from the buddy allocator and gave them back",
        (facts().heap.1 - facts().heap.0) >> 10,
        s2.grown_regions,
        crate::heap::GROW_BYTES >> 10
    );
    Ok(())
}

/// The memory model's layout: under `memmodel=vmemmap` the struct page of every section's first and last pfn is at
/// `vmemmap + pfn * 64` and the 2 MiB of vmemmap of a section without memmap is not mapped; under classic
/// sparsemem it is at `direct map + memmap_phys`. In both, the bytes seen there are the bytes of the section's
/// physical memmap seen through the direct map (the same memory, not a copy).
fn mm_memmap_layout() -> TestResult {
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
