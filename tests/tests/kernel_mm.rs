//! The memory model in the running kernel: QEMU boots checked against what Linux prints for the same QEMU
//! command line, every hole policy on `-m 4000M`, the `@@summary` object, and the simulator replaying the
//! kernel's own serial log.
//!
//! The m4000 lines below are the ones Debian's Linux 6.1 printed on the same QEMU command line (tests/tests/
//! linux_diff.rs boots it and compares every field); how the `upstream` rule (mm/src/policy/upstream.rs) gives them:
//! after Linux's e820 quirks memory is [1, 0x9f), [0x100, 0xbffe0), [0x100000, 0x13a000) (pfns). Holes with a
//! memmap: pfn 0 (DMA, below the first range: 1 page), 0x9f-0xff (DMA: 97 pages), 0xbffe0-0xbffff (the rest of
//! section 23, given to the zone of the next range above: Normal, 32 pages), and the tail 0x13a000-0x13ffff of
//! section 39 (the last node's highest zone: Normal, 24576 pages).

use boot::{Firmware, RunOutcome, RunStatus};
use memlab_tests::{boot_run, config, cross_check, describe};
use serde_json::Value;

fn boot_with(profile: &str, cmdline: &str) -> (RunOutcome, Value) {
    let o = boot_run(&config(profile, Firmware::Bios, cmdline));
    let ctx = describe(&o);
    assert_eq!(o.status, RunStatus::Passed, "{ctx}");
    assert_eq!(o.log.summary_json.len(), 1, "exactly one @@summary line: {ctx}");
    let v: Value = serde_json::from_str(&o.log.summary_json[0]).unwrap_or_else(|e| panic!("bad JSON {e}: {ctx}"));
    for t in ["mm_policy_promises_kept", "mm_memmap_node_local", "mm_accounting", "mm_pfn_valid_semantics"] {
        assert!(o.log.test(t).is_some_and(|t| t.result.is_ok()), "self-test {t}: {ctx}");
    }
    assert_eq!(v["broken_promises"], serde_json::json!([]), "{ctx}");
    assert_eq!(v["accounting"], serde_json::json!([]), "{ctx}");
    cross_check(&o);
    (o, v)
}

fn hole_lines(serial: &str) -> Vec<String> {
    serial.lines().map(str::trim_end).filter(|l| l.contains("in unavailable ranges")).map(String::from).collect()
}

#[test]
fn m4000_prints_what_linux_prints() {
    let (o, v) = boot_with("m4000", "");
    assert_eq!(
        hole_lines(&o.serial),
        vec![
            "On node 0, zone DMA: 1 pages in unavailable ranges",
            "On node 0, zone DMA: 97 pages in unavailable ranges",
            "On node 0, zone Normal: 32 pages in unavailable ranges",
            "On node 0, zone Normal: 24576 pages in unavailable ranges",
        ],
        "{}",
        describe(&o)
    );
    assert!(o.serial.contains("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved"));
    assert!(o.serial.contains("e820: remove [mem 0x000a0000-0x000fffff] usable"));
    assert!(o.serial.contains("  node   0: [mem 0x0000000100000000-0x0000000139ffffff]"));
    assert_eq!(v["policy"], "upstream");
    assert_eq!(v["valid_pages"], 1 << 20);
    assert_eq!(v["sections"]["with_memmap"], 32);
    assert_eq!(v["sections"]["uniform"], 0, "the kernel materializes every memmap");
    // The tail pages and the 32 pages below 4 GiB are linked to a zone that does not span them.
    assert_eq!(v["violations"]["by_kind"]["zone does not span pfn"], 24576 + 32 + 1);
    assert!(v["timing"]["memmap_init_cycles"].as_u64().unwrap() > 0);
    // Overhead (issue 6): 32 sections with memory, 2 MiB of memmap and 40 bytes of usemap each; the 8 sections of
    // the PCI hole cost nothing.
    let ov = &v["overhead"]["nodes"][0];
    assert_eq!(ov["sections"], 32, "{}", v["overhead"]);
    assert_eq!(ov["memmap_bytes"], 32u64 << 21);
    assert_eq!(ov["usemap_bytes"], 32 * 40);

    // The simulator replays the kernel's own serial log and prints the same lines.
    let r = boot::sim::simulate(&o.serial, &boot::sim::SimOptions::default()).unwrap();
    assert_eq!(r.our_hole_lines(), hole_lines(&o.serial));
    assert_eq!(r.mm.memblock.memory, mm::dmesg::parse(&o.serial).early_node_ranges);
}

#[test]
fn descending_nodes_keep_their_memory() {
    // Node 1 lies below node 0 (the T5500 shape of 122e093c1734): no memory page may carry the other node's links.
    let (o, v) = boot_with("descending", "");
    assert_eq!(v["violations"]["by_kind"]["memory page with wrong links"], 0, "{}", describe(&o));
    assert_eq!(
        hole_lines(&o.serial),
        vec![
            "On node 1, zone DMA: 1 pages in unavailable ranges",
            "On node 1, zone DMA: 97 pages in unavailable ranges",
            "On node 0, zone Normal: 32 pages in unavailable ranges",
            "On node 0, zone Normal: 24576 pages in unavailable ranges",
        ]
    );
}

#[test]
fn mem_and_memmap_options_carve_holes() {
    // mem=4000M on a bigger guest ends RAM mid-section; memmap=64M$768M carves a reserved hole inside DMA32.
    let (o, v) = boot_with("m4097", "mem=4000M memmap=64M$768M");
    let ctx = describe(&o);
    assert!(o.serial.contains("user-defined physical RAM map:"), "{ctx}");
    let lines = hole_lines(&o.serial);
    assert!(lines.contains(&"On node 0, zone DMA32: 16384 pages in unavailable ranges".to_string()), "{lines:?} {ctx}");
    assert_eq!(v["policy"], "upstream");
}

/// The QEMU matrix: every profile under every policy (BIOS), the memory-model self-tests and the simulator
/// cross-check on each boot. `upstream` runs in tests/tests/boot_matrix.rs (every profile, all self-tests), so it
/// is not repeated here; `numa4-64g` (26 s a boot) runs under `strict` only, `numa8-256g` not at all (see
/// tests/tests/boot_matrix.rs), `hotplug-demo` neither (it is `hotplug-window` with more slots; tests/tests/hotplug.rs
/// boots it under upstream, zeroed and vmemmap). The one expected death:
/// `descending` under `upstream-5.12` (see tests/tests/scenarios.rs).
#[test]
fn every_profile_under_every_policy() {
    let mut failures = Vec::new();
    let mut boots = 0;
    for profile in boot::PROFILES {
        for p in mm::policy::POLICIES {
            if p.name() == "upstream"
                || (profile.name == "numa4-64g" && p.name() != "strict")
                || profile.name == "numa8-256g"
                || profile.name == "hotplug-demo"
            {
                continue;
            }
            let o = boot_run(&config(profile.name, Firmware::Bios, &format!("holes={} selftest=mm_", p.name())));
            boots += 1;
            let expected = if (profile.name, p.name()) == ("descending", "upstream-5.12") {
                RunStatus::Panic
            } else {
                RunStatus::Passed
            };
            if o.status != expected {
                failures.push(format!(
                    "{} under {}: {:?}, expected {:?}\n{}",
                    profile.name,
                    p.name(),
                    o.status,
                    expected,
                    describe(&o)
                ));
                continue;
            }
            if expected == RunStatus::Passed {
                cross_check(&o);
                if let Err(e) = lab_tools_on(&o, p.name()) {
                    failures.push(format!("{} under {}: compare/explain/svg: {e}", profile.name, p.name()));
                }
                if p.promise().zone_spans_every_valid_pfn {
                    let v: Value = serde_json::from_str(&o.log.summary_json[0]).unwrap();
                    if v["violations"]["count"] != 0 {
                        failures.push(format!("{} under {}: findings {}", profile.name, p.name(), v["violations"]));
                    }
                }
            }
        }
    }
    assert!(boots >= 70, "{boots} boots");
    assert!(failures.is_empty(), "{} of {boots} boots failed:\n{}", failures.len(), failures.join("\n\n"));
}

/// The lab's tools on a real boot (issue 8: they work on every profile): the kernel's serial log replayed by
/// `compare` under its policy agrees with the kernel's hole count, `explain` describes the first and the last
/// valid pfn, and the SVG of the run is one well-formed `<svg>` document with a cell per section run.
fn lab_tools_on(o: &RunOutcome, policy: &'static str) -> Result<(), String> {
    let r = boot::compare::run_log_policy(&o.serial, policy, false)?;
    let kernel: Value = serde_json::from_str(&o.log.summary_json[0]).map_err(|e| e.to_string())?;
    if Some(r.sim.verification.hole_pages) != kernel["hole_pages"].as_u64() {
        return Err(format!("replay hole pages {} vs kernel {}", r.sim.verification.hole_pages, kernel["hole_pages"]));
    }
    let valid: Vec<u64> = r.sim.mm.sparse.valid_sections().collect();
    let (first, last) = (valid.first().ok_or("no valid section")?, valid.last().ok_or("no valid section")?);
    for pfn in [mm::consts::section_nr_to_pfn(*first), mm::consts::section_nr_to_pfn(*last + 1) - 1] {
        let e = boot::explain::explain(&r, pfn);
        if !e.contains(&format!("pfn {pfn:#x}"))
            || !e.contains("section:")
            || !e.contains("page:")
            || !e.contains("rule:")
        {
            return Err(format!("explain {pfn:#x}:\n{e}"));
        }
    }
    let svg = boot::svg::render("run", &[boot::svg::Row::of_run(&r)]);
    if !svg.starts_with("<svg") && !svg.starts_with("<?xml")
        || !svg.trim_end().ends_with("</svg>")
        || !svg.contains("<rect")
    {
        return Err(format!("not an SVG document: {}", &svg[..svg.len().min(200)]));
    }
    Ok(())
}

/// A UEFI subset of the policy matrix: OVMF's map (many more regions, its own types) under two policies that
/// differ most, with the simulator cross-check on each boot.
#[test]
fn uefi_m4000_under_zeroed_and_strict() {
    for policy in ["zeroed", "strict"] {
        let o = boot_run(&config("m4000", Firmware::Uefi, &format!("holes={policy} selftest=mm_")));
        let ctx = describe(&o);
        assert_eq!(o.status, RunStatus::Passed, "{ctx}");
        cross_check(&o);
        let v: Value = serde_json::from_str(&o.log.summary_json[0]).unwrap();
        assert_eq!(v["policy"], policy, "{ctx}");
        assert_eq!(v["broken_promises"], serde_json::json!([]), "{ctx}");
        if policy == "strict" {
            assert_eq!(v["violations"]["count"], 0, "{ctx}");
        }
    }
}
