//! Smoke tests of the boot pipeline on whatever profile runs: serial, heap, the firmware map, ACPI/SRAT (against
//! `expect_nodes=`), the layout built from both, the command line, and the heap growing from the buddy allocator.

use alloc::boxed::Box;
use alloc::vec::Vec;

use mm::layout::{normalize, LayoutOptions, RegionKind};

use crate::acpi::Numa;
use crate::facts::get as facts;
use crate::selftest::TestResult;
use crate::{check, check_eq};

pub(super) fn serial_ready() -> TestResult {
    check!(crate::serial::is_ready(), "COM1 did not pass its loopback test");
    Ok(())
}

pub(super) fn heap_alloc_free() -> TestResult {
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

pub(super) fn heap_is_reserved_usable_ram() -> TestResult {
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

pub(super) fn firmware_map_sorted() -> TestResult {
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

pub(super) fn firmware_map_has_ram() -> TestResult {
    let f = &facts().firmware;
    let ram: u64 = f.printed.iter().filter(|r| r.kind.is_ram()).map(|r| r.end - r.start).sum();
    // What this kernel needs: its image and the bootloader's page tables (about 6 MiB), its 16 MiB heap and the
    // memmap. 32 MiB leaves room; QEMU's smallest profile, `tiny -- -m 64M`, gives 63.5 MiB after the firmware's
    // own reservations, so a threshold at 64 MiB could never pass there.
    check!(ram >= 32 << 20, "only {:#x} bytes of RAM in the firmware map (the kernel needs 32 MiB)", ram);
    check!(f.printed.iter().any(|r| r.kind == RegionKind::BootloaderReserved), "no bootloader reservation");
    Ok(())
}

pub(super) fn acpi_rsdp_found() -> TestResult {
    let f = facts();
    let rsdp = f.rsdp_addr.ok_or("the bootloader reported no RSDP")?;
    let r = mm::acpi::read_rsdp(&f.phys, rsdp).map_err(|e| alloc::format!("{}", e))?;
    check!(r.revision == 0 || r.revision >= 2, "RSDP revision {}", r.revision);
    check!(!matches!(f.numa, Numa::Malformed(_) | Numa::NoRsdp), "ACPI tables: {:?}", f.numa);
    Ok(())
}

pub(super) fn acpi_srat_nodes() -> TestResult {
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

/// The MADT's CPUs: at least the boot CPU, APIC ids unique, and every CPU the SRAT places on a node is one of
/// them (the processor affinity entries name APIC ids).
pub(super) fn acpi_madt_cpus() -> TestResult {
    let f = facts();
    check!(!f.cpus.is_empty(), "the MADT lists no usable CPU");
    let mut ids: Vec<u32> = f.cpus.iter().map(|c| c.apic_id).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    check_eq!(ids.len(), n);
    if let Numa::Srat(s) = &f.numa {
        for (apic, nid) in &s.cpus {
            check!(ids.binary_search(apic).is_ok(), "SRAT CPU with APIC id {} (node {}) is not in the MADT", apic, nid);
        }
    }
    Ok(())
}

pub(super) fn layout_with_numa() -> TestResult {
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

pub(super) fn cmdline_table() -> TestResult {
    let o = crate::cmdline::parse(b"loglevel=debug selftest=heap").map_err(|e| e)?;
    check_eq!(crate::cmdline::level_filter(o.loglevel), log::LevelFilter::Debug);
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

/// The heap serves Vec, Box and BTreeMap.
pub(super) fn heap_collections() -> TestResult {
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
pub(super) fn heap_grows_from_buddy() -> TestResult {
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
            check!(!page.has_type(mm::page::PageType::BUDDY), "grown region {:#x} heads a free block", start);
            for q in [pfn + 1, (end >> 12) - 1] {
                let t = m.mm.sparse.pfn_to_page(q).ok_or("a grown region has no struct page")?;
                check!(
                    t.refcount == 0 && !t.has_type(mm::page::PageType::BUDDY),
                    "pfn {:#x} is not a tail of the block",
                    q
                );
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
