//! Corpus tests of the simulator: every real boot log in mm/tests/samples/ and tests/corpus/ is replayed, and
//! where Linux printed its hole lines, ours must be the same lines, in the same order, with the same counts,
//! under the policy the log's era chooses (no `--policy`): `On node N, zone Z: K pages in unavailable ranges`
//! under `upstream` (Linux >= 5.14 and stable backports), `Zeroed struct page in unavailable ranges: N pages`
//! under `zeroed-no-tail` / `zeroed` (Linux 4.20-5.11). Every policy must run on every log, and `strict` must
//! leave no finding.

use std::path::{Path, PathBuf};

use boot::sim::{simulate, simulate_era, SimOptions};

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut files = Vec::new();
    for dir in ["mm/tests/samples", "tests/corpus"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "txt") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 2, "the two shared samples are in mm/tests/samples");
    files
}

fn opts(policy: &str) -> SimOptions {
    SimOptions { policy: policy.to_string(), ..SimOptions::default() }
}

/// Logs whose hole count we cannot reproduce, with the reason. Keep this list short and explained.
const UNEXPLAINED: &[(&str, &str)] = &[(
    "it91smub-8socket-512g-8node-sparse-movable-linux-4.20.txt",
    "4.20-rc2 during a memory-hotplug softlockup investigation prints 117458744 zeroed pages (448 GiB) for a \
     machine whose valid holes are 18232 pages; the quoted log lacks the lines that would explain which \
     sections 4.20 took for present",
)];

/// Logs whose hole line comes from a rule memlab does not model, and why.
const NOT_MODELLED: &[(&str, &str)] = &[(
    "dell-r7425-epyc7601-1t-8node-linux-4.19.txt",
    "4.17-4.19 zero_resv_unavail (a4a3ede2132a) zeroes only memblock.reserved ranges outside memblock.memory and \
     prints 'Reserved but unavailable'; 907ec5fca3dc (4.20) made it every hole below max_pfn (zeroed-no-tail)",
)];

/// Without --policy the log's era chooses the policy (mm::policy::era): on every corpus log with hole lines,
/// ours are Linux's, line for line, except the logs named above.
#[test]
fn linux_hole_lines_reproduced_exactly_under_the_era_policy() {
    let mut checked = Vec::new();
    for f in corpus() {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let r = simulate_era(&text, &SimOptions::default()).unwrap_or_else(|e| panic!("{}: {}", name, e));
        if r.linux_hole_lines().is_empty() {
            continue;
        }
        let known = UNEXPLAINED.iter().chain(NOT_MODELLED).any(|(n, _)| *n == name);
        let same = r.our_hole_lines() == r.linux_hole_lines();
        assert!(
            same != known,
            "{name}: {} under {} ({})",
            if same { "agrees" } else { "differs" },
            r.mm.policy.name(),
            r.policy_reason
        );
        assert!(r.policy_reason.starts_with("chosen by the log: "), "{name}: {}", r.policy_reason);
        if same {
            checked.push(name);
        }
    }
    assert!(checked.len() >= 17, "every corpus log with hole lines but the known ones: {:?}", checked);
}

/// The era's reasons on logs of each kind.
#[test]
fn the_era_policy_and_its_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let cases = [
        ("tests/corpus/asus-ws-c621e-sage-2x-gold6130-64g-2node-linux-5.6.txt", "zeroed", "era 5.6-5.11"),
        ("tests/corpus/framework-laptop-tgl-32g-ubuntu-linux-5.11-backport.txt", "upstream", "the lines decide"),
        ("tests/corpus/dell-r7425-epyc7601-1t-8node-linux-4.19.txt", "zeroed-no-tail", "no modelled era"),
        ("mm/tests/samples/qemu-i440fx-16g-4node.txt", "zeroed-no-tail", "no Linux version line"),
    ];
    for (file, policy, why) in cases {
        let r = simulate_era(&read(file), &SimOptions::default()).unwrap();
        assert_eq!(r.mm.policy.name(), policy, "{file}: {}", r.policy_reason);
        assert!(r.policy_reason.contains(why), "{file}: {}", r.policy_reason);
    }
}

#[test]
fn the_two_shared_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("mm/tests/samples");
    let t5500 = std::fs::read_to_string(root.join("dell-t5500-numa-off-linux-5.10.txt")).unwrap();
    let r = simulate(&t5500, &opts("upstream")).unwrap();
    assert_eq!(
        r.our_hole_lines(),
        vec![
            "On node 0, zone DMA: 1 pages in unavailable ranges",
            "On node 0, zone DMA: 98 pages in unavailable ranges",
            "On node 0, zone Normal: 519 pages in unavailable ranges",
        ]
    );
    let qemu = std::fs::read_to_string(root.join("qemu-i440fx-16g-4node.txt")).unwrap();
    let r = simulate(&qemu, &opts("zeroed")).unwrap();
    assert_eq!(r.our_hole_lines(), vec!["Zeroed struct page in unavailable ranges: 131 pages"]);
}

#[test]
fn every_policy_runs_on_every_log_and_strict_is_clean() {
    for f in corpus() {
        let text = std::fs::read_to_string(&f).unwrap();
        for p in mm::policy::POLICIES {
            let r = simulate(&text, &opts(p.name())).unwrap_or_else(|e| panic!("{} {}: {}", f.display(), p.name(), e));
            assert!(
                r.verification.accounting.is_empty(),
                "{} {}: {:?}",
                f.display(),
                p.name(),
                r.verification.accounting
            );
            if p.name() == "strict" {
                assert_eq!(r.verification.total(), 0, "{}: {:?}", f.display(), r.verification.first);
            }
        }
    }
}

#[test]
fn firmware_map_path_matches_early_node_ranges() {
    // The T5500 log has both an e820 map and Early memory node ranges: building the layout from the e820 map
    // (with Linux's x86 quirks) must give the same ranges Linux printed.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("mm/tests/samples");
    let text = std::fs::read_to_string(root.join("dell-t5500-numa-off-linux-5.10.txt")).unwrap();
    let log = mm::dmesg::parse(&text);
    let mut without = log.clone();
    without.early_node_ranges.clear();
    let (from_e820, source, pre) = boot::sim::layout_from_log(&without, true).unwrap();
    assert_eq!(source, "firmware map");
    assert_eq!(from_e820.memory, log.early_node_ranges);
    assert_eq!(pre[0], "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved");
}

#[test]
fn one_tib_eight_nodes_is_compressed() {
    // A 1 TiB, 8-node layout: the model keeps only the sections with holes or boundaries in full.
    let mut text = String::new();
    text.push_str("BIOS-e820: [mem 0x0000000000000000-0x000000000009bfff] usable\n");
    text.push_str("BIOS-e820: [mem 0x0000000000100000-0x000000006f4d7fff] usable\n");
    text.push_str("BIOS-e820: [mem 0x0000000100000000-0x000001007fffffff] usable\n");
    let end: u64 = 0x100_8000_0000;
    let bounds: Vec<u64> = (0..=8).map(|i| if i == 8 { end } else { (i * (end / 8)) & !((1 << 27) - 1) }).collect();
    for n in 0..8 {
        text.push_str(&format!(
            "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]\n",
            n,
            n,
            bounds[n],
            bounds[n + 1] - 1
        ));
    }
    let r = simulate(&text, &opts("upstream")).unwrap();
    assert_eq!(r.mm.zones.nodes.len(), 8);
    assert!(r.mm.uniform_sections > 8000, "{} uniform", r.mm.uniform_sections);
    assert!(r.mm.memmap_bytes_resident() < 64 << 20, "{} bytes resident", r.mm.memmap_bytes_resident());
    assert_eq!(r.mm.memmap_bytes(), 8190 * (2 << 20));
    assert!(r.verification.broken_promises.is_empty());
}

/// `memlab sim --threads 2` (deferred struct page init on two threads) on every corpus log: the same hole
/// lines, the same verifier findings and hole count as eager init, and one `node N deferred pages initialised`
/// line per node that deferred pages.
#[test]
fn deferred_init_on_threads_changes_no_finding() {
    for f in corpus() {
        let text = std::fs::read_to_string(&f).unwrap();
        let eager = simulate(&text, &SimOptions::default()).unwrap();
        let deferred = simulate(&text, &SimOptions { threads: Some(2), ..SimOptions::default() }).unwrap();
        let name = f.display();
        assert_eq!(eager.our_hole_lines(), deferred.our_hole_lines(), "{name}");
        assert_eq!(eager.verification.hole_pages, deferred.verification.hole_pages, "{name}");
        assert_eq!(eager.verification.counts, deferred.verification.counts, "{name}");
        assert_eq!(eager.verification.accounting, deferred.verification.accounting, "{name}");
        let nodes = deferred.mm.first_deferred_pfn.iter().filter(|f| f.is_some()).count();
        assert_eq!(deferred.deferred_lines.len(), nodes, "{name}: {:?}", deferred.deferred_lines);
        assert!(deferred.mm.deferred.is_empty(), "{name}");
    }
}

/// The other lines Linux computed and the model prints too (Zone ranges, Movable zone start, Early memory node
/// ranges, Initmem setup) agree with ours on every corpus log that has them, but one whose command line is not
/// in the log.
#[test]
fn the_logs_zone_and_node_lines_agree_with_ours() {
    const KNOWN: &[(&str, &str, &str)] = &[(
        "it91smub-8socket-512g-8node-sparse-movable-linux-4.20.txt",
        "Movable zone start",
        "nodes 1-7 are wholly ZONE_MOVABLE (movable_node or kernelcore=), but the quoted log has no command line",
    )];
    let mut checked = 0;
    for f in corpus() {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let r = simulate_era(&std::fs::read_to_string(&f).unwrap(), &SimOptions::default()).unwrap();
        for (what, agrees) in r.log_facts() {
            let Some(agrees) = agrees else { continue };
            let known = KNOWN.iter().any(|(n, w, _)| *n == name && *w == what);
            assert_eq!(agrees, !known, "{name}: the log's {what}");
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked} facts checked");
}
