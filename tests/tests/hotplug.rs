//! Memory hotplug against real QEMU: DIMMs plugged and unplugged over QMP while the kernel serves the ACPI memory
//! hotplug controller's events (`memlab run --hotplug`, kernel/src/hotplug.rs). Each test asserts on the kernel's
//! `@@hotplug` lines: spans that grow over the DIMM and shrink back, free counts that come back exactly, every
//! DIMM page allocated (and written), the DIMM's node; and on QMP's DEVICE_DELETED (the eject completed).
//!
//! The `-m 4000M` case is the seed mail's: RAM ends 32 MiB into section 39, the DIMM lands at 0x140000000 (the
//! next section), ZONE_NORMAL grows over the 96 MiB boot-time tail hole. What the walkers then find depends on the
//! hole policy; `zeroed` is asserted here, every policy on the host (mm/tests/hotplug.rs).

use boot::Firmware;
use memlab_tests::{config, describe, hotplug_run};
use serde_json::Value;

const DIMM: u64 = 0x140000;
const TAIL: (u64, u64) = (0x13a000, 0x140000);

fn events(o: &boot::RunOutcome) -> Vec<Value> {
    o.log.hotplug_json.iter().map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{e}: {j}"))).collect()
}

fn span(v: &Value, key: &str) -> (u64, u64) {
    let a = v[key].as_array().unwrap_or_else(|| panic!("no {key} in {v}"));
    (a[0].as_u64().unwrap(), a[1].as_u64().unwrap())
}

fn walker_delta(v: &Value, walker: &str) -> i64 {
    v["walkers"].as_array().unwrap().iter().find(|w| w["walker"] == walker).unwrap()["delta"].as_i64().unwrap()
}

/// Add, remove, add a larger one, remove: every add grows Normal over the tail hole to the DIMM's end, every
/// remove gives back exactly what the add brought, and the span shrinks back to the end of RAM: upstream links the
/// tail hole to Normal, but shrink_zone_span's `pfn_to_online_page` skips the tail's subsections (9f9b02e5b346),
/// as Debian's Linux 6.1 does (tests/tests/linux_diff.rs, hotplug-demo).
fn add_del_add_del(profile: &str, firmware: Firmware, extra: &[&str], dimm: u64) {
    let mut cfg = config(profile, firmware, "");
    cfg.extra_qemu_args = extra.iter().map(|s| s.to_string()).collect();
    let (o, d) = hotplug_run(&cfg, "add:512M,del,add:1G,del");
    assert!(d.result.is_ok(), "{:?}\n{}", d.result, describe(&o));
    assert_eq!(o.status, boot::RunStatus::Passed, "{}", describe(&o));
    let ev = events(&o);
    assert_eq!(ev.len(), 4, "{}", describe(&o));
    for (i, pages) in [(0usize, 0x20000u64), (2, 0x40000)] {
        let add = &ev[i];
        let del = &ev[i + 1];
        assert_eq!((add["event"].as_str(), del["event"].as_str()), (Some("add"), Some("remove")));
        assert_eq!(add["start_pfn"].as_u64(), Some(dimm));
        assert_eq!(add["nr_pages"].as_u64(), Some(pages));
        assert_eq!(add["zone"].as_str(), Some("Normal"));
        assert_eq!(span(add, "zone_span_after").1, dimm + pages, "{add}");
        assert_eq!(add["dimm_pages_allocatable"].as_u64(), Some(pages));
        // The DIMM's pages minus what its memmap (512 pages a section) and any page tables took.
        let taken = 512 * add["memmap_sections"].as_u64().unwrap() + add["page_table_frames"].as_u64().unwrap();
        assert_eq!(add["free_after"].as_u64().unwrap() - add["free_before"].as_u64().unwrap(), pages - taken);
        assert_eq!(del["free_before"].as_u64(), add["free_after"].as_u64());
        assert_eq!(del["free_after"].as_u64(), add["free_before"].as_u64(), "nothing leaked: {del}");
        assert_eq!(span(del, "zone_span_after").1, span(add, "zone_span_before").1, "{del}");
    }
    let deleted = d.transcript.iter().filter(|l| l.contains("DEVICE_DELETED")).count();
    assert!(deleted >= 2, "QEMU completed both device_del: {:#?}", d.transcript);
}

#[test]
fn pc_add_remove_add_remove() {
    add_del_add_del("hotplug-demo", Firmware::Bios, &[], DIMM);
}

#[test]
fn q35_add_remove_add_remove() {
    // q35 puts 2 GiB below 4 GiB: RAM ends at 0x17a000000 (again 32 MiB into a section), the window starts at
    // 0x180000000.
    add_del_add_del("q35-m4000", Firmware::Bios, &["-m", "4000M,slots=2,maxmem=8G"], 0x180000);
}

#[test]
fn zeroed_tail_hole_under_the_grown_zone() {
    let cfg = config("hotplug-demo", Firmware::Bios, "holes=zeroed");
    let (o, d) = hotplug_run(&cfg, "add:512M,del");
    assert!(d.result.is_ok(), "{:?}\n{}", d.result, describe(&o));
    let ev = events(&o);
    let add = &ev[0];
    assert_eq!(span(add, "zone_span_before"), (0x100000, TAIL.0));
    // The tail's 48 pageblocks are inside Normal's span now; their struct pages say node 0 / DMA.
    let blocks = ((TAIL.1 - TAIL.0) / 512) as i64;
    assert_eq!(walker_delta(add, "compaction-free"), blocks, "{add}");
    assert_eq!(walker_delta(add, "compaction-migrate"), blocks, "{add}");
    assert_eq!(walker_delta(add, "page-owner"), (TAIL.1 - TAIL.0) as i64, "{add}");
    assert_eq!(walker_delta(add, "zone-contiguous"), 1, "{add}");
    // zeroed links give shrink_zone_span nothing in the tail: Normal ends at the memory again.
    assert_eq!(span(&ev[1], "zone_span_after"), (0x100000, TAIL.0));
}

#[test]
fn a_dimm_on_node_1() {
    let mut cfg = config("numa2", Firmware::Bios, "");
    cfg.extra_qemu_args = vec!["-m".into(), "4000M,slots=2,maxmem=8G".into()];
    let (o, d) = hotplug_run(&cfg, "add:256M@1,del");
    assert!(d.result.is_ok(), "{:?}\n{}", d.result, describe(&o));
    let ev = events(&o);
    assert_eq!(ev[0]["nid"].as_u64(), Some(1), "{}", describe(&o));
    assert_eq!(span(&ev[0], "node_span_after").1, DIMM + 0x10000);
    assert_eq!(ev[1]["free_after"].as_u64(), ev[0]["free_before"].as_u64());
}

#[test]
fn vmemmap_add_remove() {
    // Under memmodel=vmemmap the DIMM's memmap is mapped into the vmemmap at add and unmapped at remove.
    let cfg = config("hotplug-demo", Firmware::Bios, "memmodel=vmemmap");
    let (o, d) = hotplug_run(&cfg, "add:512M,del");
    assert!(d.result.is_ok(), "{:?}\n{}", d.result, describe(&o));
    assert_eq!(o.status, boot::RunStatus::Passed, "{}", describe(&o));
    let ev = events(&o);
    assert_eq!(ev[0]["dimm_pages_allocatable"].as_u64(), Some(0x20000));
    assert_eq!(ev[1]["free_after"].as_u64(), ev[0]["free_before"].as_u64());
}

#[test]
fn memmap_on_memory_add_remove() {
    // memmap_on_memory=on: the DIMM's 4 sections keep their memmap on its first 4 x 2 MiB (2048 pages), which are
    // present but never allocatable, and nothing is freed back at remove.
    let cfg = config("hotplug-demo", Firmware::Bios, "memmap_on_memory=on");
    let (o, d) = hotplug_run(&cfg, "add:512M,del");
    assert!(d.result.is_ok(), "{:?}\n{}", d.result, describe(&o));
    assert_eq!(o.status, boot::RunStatus::Passed, "{}", describe(&o));
    let ev = events(&o);
    let (add, del) = (&ev[0], &ev[1]);
    assert_eq!(add["memmap_on_memory_pages"].as_u64(), Some(2048), "{add}");
    assert_eq!(add["dimm_pages_allocatable"].as_u64(), Some(0x20000 - 2048), "{add}");
    let grew = add["free_after"].as_u64().unwrap() - add["free_before"].as_u64().unwrap();
    assert_eq!(grew, 0x20000 - 2048 - add["page_table_frames"].as_u64().unwrap(), "{add}");
    assert_eq!(del["memmap_sections_freed"].as_u64(), Some(0), "{del}");
    assert_eq!(del["free_after"].as_u64(), add["free_before"].as_u64(), "nothing leaked: {del}");
}
