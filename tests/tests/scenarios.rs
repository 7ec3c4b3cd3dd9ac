//! Linux's historical memmap bugs as named scenarios: a QEMU profile, a kernel command line, and per policy the
//! numbers the kernel must report in its `@@summary`, each derived below from the layout and the policy's rule.
//! Every run is a real boot that also passes the `mm_` self-tests and the simulator cross-check.
//!
//! | scenario | profile | command line | the point |
//! |---|---|---|---|
//! | `tail-4000m` | m4000 | | David Hildenbrand's example: RAM ends 32 MiB into section 39, a 96 MiB tail |
//! | `node-in-section` | numa2, node-in-section | | two nodes share a section; span-extend's overlapping spans |
//! | `compaction-hole` | m4000 | `memmap=0x1dc000$0x39639000` | Andrea Arcangeli's reserved hole; his VM_BUG_ON at pfn 0x39800 |
//! | `kpageflags-4097m` | m4097 | | the poisoned tail read by a kpageflags walk (2019, before e822969cab48) |
//! | `descending-nodes` | descending | | node 1 below node 0 (bugzilla 213073, fixed by 122e093c1734) |

use boot::{Firmware, RunStatus};
use memlab_tests::{boot_run, config, cross_check, describe};
use serde_json::Value;

/// Boots a scenario under a policy (only the memory-model self-tests run, to keep the matrix fast).
fn run(profile: &str, cmdline: &str, policy: &str) -> (Value, String) {
    let line = format!("holes={policy} selftest=mm_ {cmdline}");
    let o = boot_run(&config(profile, Firmware::Bios, line.trim()));
    let ctx = describe(&o);
    assert_eq!(o.status, RunStatus::Passed, "{ctx}");
    cross_check(&o);
    let v: Value = serde_json::from_str(&o.log.summary_json[0]).unwrap();
    assert_eq!(v["policy"], policy);
    (v, ctx)
}

fn by_kind(v: &Value, kind: &str) -> u64 {
    v["violations"]["by_kind"][kind].as_u64().unwrap()
}

fn walker<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["walkers"].as_array().unwrap().iter().find(|w| w["walker"] == name).unwrap()
}

/// tail-4000m. Memory (pfns) after the e820 quirks: [1,0x9f) [0x100,0xbffe0) [0x100000,0x13a000). Valid holes:
/// pfn 0 (DMA starts at pfn 1), 0x9f-0xff (inside DMA's span), 0xbffe0-0xbffff (32, inside DMA32's span) and the
/// tail 0x13a000-0x13ffff (24576, in no span). "zds" = pfn_valid pages whose zone does not span them:
/// - zeroed, reserved-relaxed: every hole claims DMA: pfn 0 + the 32 + the tail = 24609;
/// - zeroed-no-tail: pfn 0 + the 32 = 33, and the tail stays poisoned (24576), which the kpageflags walk reads;
/// - upstream: pfn 0 (DMA), the 32 (Normal, the zone above) and the tail (Normal) = 24609;
/// - upstream-5.12: per zone: the 32 get DMA32 (the zone being walked: spanned), pfn 0 DMA, tail Normal = 24577;
/// - nearest: the 32 take DMA32 from the memory below (spanned), pfn 0 DMA, tail Normal = 24577;
/// - span-extend: DMA from pfn 0 and spans rounded to sections: 0; strict: 0.
///
/// The pre-6e2b7044c199 fast_isolate_freepages passes pfn 0 (a pageblock start below ZONE_DMA, whose links say
/// DMA) to set_pageblock_skip: one VM_BUG_ON wherever pfn 0 is linked to a zone that does not span it, tolerated
/// by reserved-relaxed (the page is PG_reserved).
#[test]
fn tail_4000m() {
    // (policy, zds, poisoned, fast-isolate-prefix violations, tolerated)
    let expect: &[(&str, u64, u64, u64, u64)] = &[
        ("zeroed-no-tail", 33, 24576, 1, 0),
        ("zeroed", 24609, 0, 1, 0),
        ("reserved-relaxed", 24609, 0, 0, 1),
        ("span-extend", 0, 0, 0, 0),
        ("upstream-5.12", 24577, 0, 1, 0),
        ("upstream", 24609, 0, 1, 0),
        ("strict", 0, 0, 0, 0),
        ("nearest", 24577, 0, 1, 0),
    ];
    assert_eq!(expect.len(), mm::policy::POLICIES.len(), "every policy has a row");
    for &(policy, zds, poisoned, violations, tolerated) in expect {
        let (v, ctx) = run("m4000", "", policy);
        assert_eq!(by_kind(&v, "zone does not span pfn"), zds, "{policy}: {ctx}");
        assert_eq!(by_kind(&v, "uninitialized (poisoned)"), poisoned, "{policy}: {ctx}");
        assert_eq!(walker(&v, "kpageflags")["poisoned"], poisoned, "{policy}: {ctx}");
        let w = walker(&v, "fast-isolate-prefix");
        assert_eq!(
            (w["violations"].as_u64(), w["tolerated"].as_u64()),
            (Some(violations), Some(tolerated)),
            "{policy}"
        );
        if violations > 0 {
            assert_eq!(w["violation_pfns"][0], 0, "{policy}: the VM_BUG_ON is at pfn 0");
        }
    }
}

/// node-in-section. numa2: node 0 ends at 0x7d000, 80 MiB into section 15 [0x78000, 0x80000); node-in-section:
/// node 1 starts at 0x144000, 64 MiB into section 40 [0x140000, 0x148000). span-extend rounds both nodes' spans
/// to whole sections, so they overlap by that section; node 1 (initialized after node 0) writes its links over
/// node 0's memory in it from the section start: 0x7d000 - 0x78000 = 20480 and 0x144000 - 0x140000 = 16384 memory
/// pages with the wrong node, with eager memmap init (`deferred_init=off`). With deferred init (the default) those
/// memory pages are deferred ones of node 0 and its workers write them again after the hole init, as Linux's
/// would: no wrong links remain. upstream and strict leave every memory page alone; strict finds nothing at all.
#[test]
fn node_in_section() {
    for (profile, overwritten, boundary) in [("numa2", 20480u64, 0x7d000u64), ("node-in-section", 16384, 0x144000)] {
        let (v, ctx) = run(profile, "", "span-extend");
        assert_eq!(by_kind(&v, "memory page with wrong links"), 0, "{profile}, deferred init: {ctx}");
        let (v, ctx) = run(profile, "deferred_init=off", "span-extend");
        assert_eq!(by_kind(&v, "memory page with wrong links"), overwritten, "{profile}: {ctx}");
        let nodes = v["nodes"].as_array().unwrap();
        let end0 = nodes[0]["start_pfn"].as_u64().unwrap() + nodes[0]["spanned"].as_u64().unwrap();
        let start1 = nodes[1]["start_pfn"].as_u64().unwrap();
        assert!(
            end0 > start1,
            "{profile}: rounded node spans overlap: node 0 ends {end0:#x}, node 1 starts {start1:#x}"
        );
        assert_eq!(start1, boundary & !0x7fff, "{profile}: node 1 starts at its section start");
        let (v, ctx) = run(profile, "", "upstream");
        assert_eq!(by_kind(&v, "memory page with wrong links"), 0, "{profile}: {ctx}");
        assert_eq!(v["nodes"][1]["start_pfn"], boundary, "{profile}: Linux's node 1 starts at its memory");
        let (v, ctx) = run(profile, "", "strict");
        assert_eq!(v["violations"]["count"], 0, "{profile}: {ctx}");
    }
}

/// compaction-hole: Andrea Arcangeli's E820 hole 0x39639000-0x39814fff carved out of -m 4000M with memmap=. Its
/// pageblock 0x39800 starts in the hole. Under zeroed its first page has node 0 / DMA links inside DMA32, and the
/// pre-fix fast_isolate_freepages hands it to set_pageblock_skip: the VM_BUG_ON at pfn 0x39800, as in his report
/// (<20201121194506.13464-1-aarcange@redhat.com>), besides the one at pfn 0. reserved-relaxed tolerates both
/// (reserved pages). Under upstream the hole lies inside DMA32 and gets DMA32's links: only pfn 0 remains.
#[test]
fn compaction_hole() {
    let hole = "memmap=0x1dc000$0x39639000";
    let (v, ctx) = run("m4000", hole, "zeroed");
    let w = walker(&v, "fast-isolate-prefix");
    assert_eq!(w["violations"], 2, "{ctx}");
    assert!(w["violation_pfns"].as_array().unwrap().iter().any(|p| p == 0x39800), "{ctx}");
    let (v, ctx) = run("m4000", hole, "reserved-relaxed");
    let w = walker(&v, "fast-isolate-prefix");
    assert_eq!((w["violations"].as_u64(), w["tolerated"].as_u64()), (Some(0), Some(2)), "{ctx}");
    let (v, ctx) = run("m4000", hole, "upstream");
    let w = walker(&v, "fast-isolate-prefix");
    assert_eq!(w["violation_pfns"], serde_json::json!([0]), "{ctx}");
}

/// kpageflags-4097m: -m 4097M puts 1025 MiB above 4 GiB, so RAM ends at pfn 0x140100, 1 MiB into section 40:
/// 0x148000 - 0x140100 = 32512 tail pages. zeroed-no-tail leaves them poisoned and the kpageflags walk reports
/// every one (the 2019 oops of page-types -r -a 0x144001, <20191211163201.17179-2-david@redhat.com>); zeroed
/// (e822969cab48) initializes them.
#[test]
fn kpageflags_4097m() {
    let (v, ctx) = run("m4097", "", "zeroed-no-tail");
    assert_eq!(walker(&v, "kpageflags")["poisoned"], 32512, "{ctx}");
    let (v, ctx) = run("m4097", "", "zeroed");
    assert_eq!(walker(&v, "kpageflags")["poisoned"], 0, "{ctx}");
}

/// descending-nodes: QEMU can produce it (qemu-layouts.md): node 1 holds [1, 0x3e800), node 0 from 0x3e800, the
/// boundary inside section 7 [0x38000, 0x40000). upstream-5.12 initializes node 1's last zone (DMA32, ending at
/// 0x3e800) up to its section end 0x40000 after node 0's pages there were initialized: 0x40000 - 0x3e800 = 6144
/// memory pages of node 0 get node 1's links. The kernel then dies at boot, as the T5500 of bugzilla 213073 did:
/// handing pfn 0x3e800 to the buddy allocator finds it linked to a zone that does not span it. The simulator
/// (no buddy hand-over) counts the 6144 pages. upstream walks memblock ranges in address order: none, and boots.
#[test]
fn descending_nodes() {
    let o = boot_run(&config("descending", Firmware::Bios, "holes=upstream-5.12 selftest=mm_"));
    let ctx = describe(&o);
    assert_eq!(o.status, RunStatus::Panic, "{ctx}");
    let p = o.log.panics.first().unwrap_or_else(|| panic!("no panic report: {ctx}"));
    assert!(p.message.contains("pfn 0x3e800 is linked to node 1"), "{ctx}");
    let opts = boot::sim::SimOptions { policy: "upstream-5.12".into(), ..boot::sim::SimOptions::default() };
    let r = boot::sim::simulate(&o.serial, &opts).unwrap();
    assert_eq!(r.verification.count(mm::verify::FindingKind::MemoryWrongLinks), 6144);
    let (v, ctx) = run("descending", "", "upstream");
    assert_eq!(by_kind(&v, "memory page with wrong links"), 0, "{ctx}");
}
