//! The zone code's tests: spans and present pages on real layouts, every core option, the log lines, properties.
use super::*;
use crate::consts::PAGES_PER_SECTION;
use alloc::string::String;
use proptest::prelude::*;
use ZoneType::*;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

/// `count` lines of a sample boot log, timestamps stripped, from the first line starting with `first`.
fn sample_lines(log: &str, first: &str, count: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix('[').and_then(|l| l.split_once("] ")).map(|(_, rest)| rest))
        .collect();
    let at = lines.iter().position(|l| l.starts_with(first)).expect("line in sample");
    let mut out = String::new();
    for l in &lines[at..at + count] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

const T5500: &str = include_str!("../../tests/samples/dell-t5500-numa-off-linux-5.10.txt");
const QEMU_4NODE: &str = include_str!("../../tests/samples/qemu-i440fx-16g-4node.txt");

/// memblock.memory of the T5500 as its "Early memory node ranges" print it.
fn t5500() -> Vec<MemRange> {
    vec![m(0x1, 0x9e, 0), m(0x100, 0xcfdf9, 0), m(0x100000, 0xa30000, 0)]
}

/// memblock.memory of the QEMU 4-node sample.
fn qemu_4node() -> Vec<MemRange> {
    vec![
        m(0x1, 0x9f, 0),
        m(0x100, 0xbffdf, 0),
        m(0x100000, 0x140000, 0),
        m(0x140000, 0x240000, 1),
        m(0x240000, 0x340000, 2),
        m(0x340000, 0x440000, 3),
    ]
}

fn span(z: &Zone) -> (u64, u64, u64) {
    (z.zone_start_pfn, z.spanned_pages, z.present_pages)
}

fn compute(memory: &[MemRange], nr_nodes: usize, opts: ZoneOptions) -> Zones {
    compute_zones(memory, nr_nodes, &opts).unwrap()
}

#[test]
fn t5500_zones_match_linux() {
    let z = compute(&t5500(), 1, ZoneOptions::default());
    assert_eq!(z.max_pfn, 0xa30000);
    assert_eq!(z.arch_zone_lowest_possible_pfn, [1, 0x1000, 0x100000, 0]);
    assert_eq!(z.arch_zone_highest_possible_pfn, [0x1000, 0x100000, 0xa30000, 0]);
    let n = &z.nodes[0];
    // Linux prints present_pages in "DMA zone: 3997 pages": 0x9d + 0xf00 pages below 16 MiB.
    assert_eq!(span(n.zone(Dma)), (1, 0xfff, 3997));
    assert_eq!(span(n.zone(Dma32)), (0x1000, 0xff000, 847353));
    assert_eq!(span(n.zone(Normal)), (0x100000, 0x930000, 9633792));
    assert_eq!(span(n.zone(Movable)), (0, 0, 0));
    // "On node 0 totalpages: 10485142"
    assert_eq!(n.node_present_pages, 10485142);
    assert_eq!((n.node_start_pfn, n.node_end_pfn()), (1, 0xa30000));
    assert_eq!(n.zone(Dma).managed_pages, 3997);
    assert_eq!(z.movable_zone, Normal);
    assert!(z.notes.is_empty());
}

#[test]
fn t5500_lines_equal_the_sample() {
    let z = compute(&t5500(), 1, ZoneOptions::default());
    let mut out = String::new();
    print_zone_ranges(&mut out, &z, true).unwrap();
    print_movable_zone_start(&mut out, &z).unwrap();
    print_early_memory_node_ranges(&mut out, &t5500()).unwrap();
    print_initmem_setup(&mut out, &z).unwrap();
    // x86 memblock_find_dma_reserve() found 21 reserved pages below 16 MiB on that machine.
    print_node_sizes_v5_10(&mut out, &z, 0, 21).unwrap();
    assert_eq!(out, sample_lines(T5500, "Zone ranges:", 19));
}

#[test]
fn qemu_4node_zones_and_lines_match_linux() {
    let mem = qemu_4node();
    let z = compute(&mem, 4, ZoneOptions::default());
    let n0 = &z.nodes[0];
    assert_eq!(span(n0.zone(Dma)), (1, 0xfff, 0x9e + 0xf00));
    assert_eq!(span(n0.zone(Dma32)), (0x1000, 0xff000, 0xbffdf - 0x1000));
    assert_eq!(span(n0.zone(Normal)), (0x100000, 0x40000, 0x40000));
    for nid in 1..4u32 {
        let n = &z.nodes[nid as usize];
        let start = 0x40000 + 0x100000 * nid as u64;
        assert_eq!(span(n.zone(Dma)), (0, 0, 0));
        assert_eq!(span(n.zone(Dma32)), (0, 0, 0));
        assert_eq!(span(n.zone(Normal)), (start, 0x100000, 0x100000));
        assert_eq!((n.node_start_pfn, n.node_spanned_pages), (start, 0x100000));
    }
    // Linux: "Memory: 14289792K/16776692K available": 16776692K is the sum of present pages.
    assert_eq!(z.total_present_pages() * 4, 16776692);

    let mut out = String::new();
    print_zone_ranges(&mut out, &z, false).unwrap();
    print_movable_zone_start(&mut out, &z).unwrap();
    print_early_memory_node_ranges(&mut out, &mem).unwrap();
    assert_eq!(out, sample_lines(QEMU_4NODE, "Zone ranges:", 12));
    // (the "Zeroed struct page" line of memmap init comes between these in v5.2)
    let mut out = String::new();
    print_initmem_setup(&mut out, &z).unwrap();
    assert_eq!(out, sample_lines(QEMU_4NODE, "Initmem setup node 0", 4));
}

#[test]
fn qemu_m4000_one_node() {
    // -m 4000M: RAM [0x1000, 0x9fc00) [0x100000, 0xbffe0000) [4G, 0x13a000000), pfn 0 reserved by x86.
    let z = compute(&[m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)], 1, ZoneOptions::default());
    let n = &z.nodes[0];
    assert_eq!(span(n.zone(Dma)), (1, 0xfff, 0x9e + 0xf00));
    assert_eq!(span(n.zone(Dma32)), (0x1000, 0xff000, 0xbefe0));
    assert_eq!(span(n.zone(Normal)), (0x100000, 0x3a000, 0x3a000));
    assert_eq!(n.node_end_pfn(), 0x13a000);
    // The Normal zone ends in the middle of section 39; the tail [0x13a000, 0x140000) is in no zone.
    assert_eq!(z.zone_for_pfn(0, 0x139fff), Some(Normal));
    assert_eq!(z.zone_for_pfn(0, 0x13a000), None);
    assert_eq!(z.zone_for_pfn(0, 0xc0000), Some(Dma32)); // a hole inside DMA32 is spanned by it
    assert_eq!(z.zone_for_pfn(0, 0), None); // pfn 0 is below ZONE_DMA
}

#[test]
fn descending_nodes() {
    // Bug 213073's T5500: node 1 from 0x1000 to 0x1423ffffff, node 0 above it.
    let mem = [m(1, 0x9e, 1), m(0x100, 0xcfdf9, 1), m(0x100000, 0x1424000, 1), m(0x1424000, 0x2424000, 0)];
    let z = compute(&mem, 2, ZoneOptions::default());
    let (n0, n1) = (&z.nodes[0], &z.nodes[1]);
    assert_eq!(span(n1.zone(Dma)), (1, 0xfff, 3997));
    assert_eq!(span(n1.zone(Dma32)), (0x1000, 0xff000, 847353));
    assert_eq!(span(n1.zone(Normal)), (0x100000, 0x1324000, 0x1324000));
    assert_eq!(span(n0.zone(Dma)), (0, 0, 0));
    assert_eq!(span(n0.zone(Normal)), (0x1424000, 0x1000000, 0x1000000));
    assert_eq!((n0.node_start_pfn, n0.node_end_pfn()), (0x1424000, 0x2424000));
    let mut out = String::new();
    print_initmem_setup(&mut out, &z).unwrap();
    assert_eq!(
        out,
        "Initmem setup node 0 [mem 0x0000001424000000-0x0000002423ffffff]\n\
         Initmem setup node 1 [mem 0x0000000000001000-0x0000001423ffffff]\n"
    );
}

#[test]
fn memoryless_and_interleaved_nodes() {
    // Node 1 has no memory; node 3 is beyond the last node with memory; nodes 0 and 2 interleave.
    let mem = [m(0x100, 0x80000, 0), m(0x80000, 0x100000, 2), m(0x100000, 0x180000, 0), m(0x180000, 0x200000, 2)];
    let z = compute(&mem, 4, ZoneOptions::default());
    for nid in [1usize, 3] {
        let n = &z.nodes[nid];
        assert_eq!((n.node_start_pfn, n.node_spanned_pages, n.node_present_pages), (0, 0, 0));
        assert!(n.zones.iter().all(|z| z.is_empty() && !z.populated()));
    }
    let (n0, n2) = (&z.nodes[0], &z.nodes[2]);
    // Node 0 spans [0x100, 0x180000): DMA32 [0x1000, 0x100000) holds half node 2's memory as absent pages.
    assert_eq!(span(n0.zone(Dma32)), (0x1000, 0xff000, 0x7f000));
    assert_eq!(span(n0.zone(Normal)), (0x100000, 0x80000, 0x80000));
    assert_eq!(span(n2.zone(Dma32)), (0x80000, 0x80000, 0x80000));
    assert_eq!(span(n2.zone(Normal)), (0x100000, 0x100000, 0x80000));
    // Node 2's pfn 0x120000 (node 0's memory) is spanned by both nodes' Normal zones.
    assert_eq!(z.zone_for_pfn(2, 0x120000), Some(Normal));
    let mut out = String::new();
    print_initmem_setup(&mut out, &z).unwrap();
    assert_eq!(
        out,
        "Initmem setup node 0 [mem 0x0000000000100000-0x000000017fffffff]\n\
         Initmem setup node 1 as memoryless\n\
         Initmem setup node 2 [mem 0x0000000080000000-0x00000001ffffffff]\n\
         Initmem setup node 3 as memoryless\n"
    );
    let mut out = String::new();
    print_initmem_setup_node(&mut out, &z, 1, MemorylessLine::ZeroRange).unwrap();
    print_initmem_setup_node(&mut out, &z, 4, MemorylessLine::ZeroRange).unwrap();
    assert_eq!(out, "Initmem setup node 1 [mem 0x0000000000000000-0x0000000000000000]\n");
}

#[test]
fn small_machine_has_empty_zones() {
    // 512 MiB, all below 4 GiB: Normal is empty and ZONE_MOVABLE would come out of DMA32.
    let z = compute(&[m(1, 0x9f, 0), m(0x100, 0x20000, 0)], 1, ZoneOptions::default());
    assert_eq!(z.arch_zone_lowest_possible_pfn, [1, 0x1000, 0x20000, 0]);
    assert_eq!(z.arch_zone_highest_possible_pfn, [0x1000, 0x20000, 0x20000, 0]);
    assert_eq!(z.movable_zone, Dma32);
    let mut out = String::new();
    print_zone_ranges(&mut out, &z, false).unwrap();
    assert_eq!(
        out,
        "Zone ranges:\n  DMA      [mem 0x0000000000001000-0x0000000000ffffff]\n\
         \x20 DMA32    [mem 0x0000000001000000-0x000000001fffffff]\n  Normal   empty\n"
    );
    // Memory starting above 4 GiB: DMA and DMA32 are empty (lowest == highest == first pfn).
    let z = compute(&[m(0x100000, 0x200000, 0)], 1, ZoneOptions::default());
    assert_eq!(z.arch_zone_lowest_possible_pfn, [0x100000, 0x100000, 0x100000, 0]);
    assert_eq!(z.arch_zone_highest_possible_pfn, [0x100000, 0x100000, 0x200000, 0]);
}

#[test]
fn kernelcore_pages_on_one_node() {
    // -m 4000M with kernelcore=1G (262144 pages). totalpages = 158 + 786144 + 237568 = 1023870.
    // movable_zone = Normal, usable_startpfn = 0x100000, one node, kernelcore_node = 262144.
    // Range [1, 0x9f): below usable_startpfn: 158 kernel pages, remaining 261986, zmp = 0x9f.
    // Range [0x100, 0xbffe0): 786144 kernel pages exhaust remaining (0), zmp = 0xbffe0.
    // Range [0x100000, 0x13a000): size_pages = min(0x3a000, 0) = 0, zmp = 0x100000, break.
    // out2: round_up(0x100000, 1024) = 0x100000 < 0x13a000: all of ZONE_NORMAL becomes ZONE_MOVABLE,
    // because memory below 4 GiB already counts as kernelcore.
    let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)];
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(0x40000)), ..ZoneOptions::default() };
    let z = compute(&mem, 1, opts);
    assert_eq!(z.zone_movable_pfn, vec![0x100000]);
    let n = &z.nodes[0];
    assert_eq!(span(n.zone(Normal)), (0, 0, 0));
    assert_eq!(span(n.zone(Movable)), (0x100000, 0x3a000, 0x3a000));
    assert_eq!(n.node_spanned_pages, 0x13a000 - 1);
    assert_eq!(z.zone_for_pfn(0, 0x120000), Some(Movable));
    let mut out = String::new();
    print_movable_zone_start(&mut out, &z).unwrap();
    assert_eq!(out, "Movable zone start for each node\n  Node 0: 0x0000000100000000\n");
}

#[test]
fn kernelcore_examples_from_real_logs() {
    // Wei Yang on linux-mm (June 2017, v4.11): QEMU 8G, two nodes of 4G, kernelcore=1G printed
    // "Node 0: 0x0000000100000000" and "Node 1: 0x0000000140000000". Node 0's 3 GiB below 4 GiB already
    // exceed its share (131072 pages) and the whole request, so node 1's share becomes 0 / 2 = 0.
    let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x140000, 0), m(0x140000, 0x240000, 1)];
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(0x40000)), ..ZoneOptions::default() };
    let z = compute(&mem, 2, opts);
    let mut out = String::new();
    print_movable_zone_start(&mut out, &z).unwrap();
    assert_eq!(out, "Movable zone start for each node\n  Node 0: 0x0000000100000000\n  Node 1: 0x0000000140000000\n");

    // Chao Fan on linux-mm (2018): one node, kernelcore=50%, "Node 0: 0x000000011b000000".
    // totalpages = 158 + 786135 + 1005568 = 1791861; kernelcore = 1791861 * 100 * 50 / 10000 = 895930;
    // 786293 pages below 4 GiB leave 109637 = 0x1ac45: zmp = 0x11ac45, rounded up to 0x11b000.
    let mem = [m(1, 0x9f, 0), m(0x100, 0xbffd7, 0), m(0x100000, 0x1f5800, 0)];
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Percent(50)), ..ZoneOptions::default() };
    let z = compute(&mem, 1, opts);
    let mut out = String::new();
    print_zone_ranges(&mut out, &z, true).unwrap();
    print_movable_zone_start(&mut out, &z).unwrap();
    print_early_memory_node_ranges(&mut out, &mem).unwrap();
    print_initmem_setup(&mut out, &z).unwrap();
    assert_eq!(
        out,
        "Zone ranges:\n\
         \x20 DMA      [mem 0x0000000000001000-0x0000000000ffffff]\n\
         \x20 DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n\
         \x20 Normal   [mem 0x0000000100000000-0x00000001f57fffff]\n\
         \x20 Device   empty\n\
         Movable zone start for each node\n\
         \x20 Node 0: 0x000000011b000000\n\
         Early memory node ranges\n\
         \x20 node   0: [mem 0x0000000000001000-0x000000000009efff]\n\
         \x20 node   0: [mem 0x0000000000100000-0x00000000bffd6fff]\n\
         \x20 node   0: [mem 0x0000000100000000-0x00000001f57fffff]\n\
         Initmem setup node 0 [mem 0x0000000000001000-0x00000001f57fffff]\n"
    );
}

#[test]
fn kernelcore_spread_over_four_nodes() {
    // QEMU 4-node sample, kernelcore=4G (1048576 pages). totalpages = 1048445 + 3 * 1048576 = 4194173.
    // usable_startpfn = 0x100000, 4 nodes: kernelcore_node = 262144.
    // Node 0: its 158 + 786143 pages below 4 GiB exhaust its share and count fully against required
    //   (1048576 - 158 - 786143 = 262275); [0x100000, 0x140000) then gets size 0: zmp[0] = 0x100000.
    // Node 1: required 262275 >= 262144: share 262144 = 0x40000: zmp[1] = 0x180000, required 131.
    // Node 2: required 131 < 262144: share = 131 / 4 = 32: zmp[2] = 0x240020, required 99.
    // Node 3: 99 < 32? no: share stays 32: zmp[3] = 0x340020, required 67.
    // usable_nodes 3, 67 > 3: restart with share 67 / 3 = 22:
    //   node 0: all ranges end at or below zmp[0] except [0x100000, ..): zmp[0] = 0x100016, required 45;
    //   node 1: zmp[1] = 0x180016, required 23; node 2: 23 < 22? no: zmp[2] = 0x240036, required 1;
    //   node 3: 1 < 22: share 1 / 3 = 0: zmp[3] stays 0x340020 (size 0).
    // usable_nodes 2, 1 > 2? no: done. out2 rounds up to 1024 pages.
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(0x100000)), ..ZoneOptions::default() };
    let z = compute(&qemu_4node(), 4, opts);
    assert_eq!(z.zone_movable_pfn, vec![0x100400, 0x180400, 0x240400, 0x340400]);
    let n0 = &z.nodes[0];
    assert_eq!(span(n0.zone(Normal)), (0x100000, 0x400, 0x400));
    assert_eq!(span(n0.zone(Movable)), (0x100400, 0x3fc00, 0x3fc00));
    assert_eq!(span(z.nodes[1].zone(Normal)), (0x140000, 0x40400, 0x40400));
    assert_eq!(span(z.nodes[1].zone(Movable)), (0x180400, 0xbfc00, 0xbfc00));
    assert_eq!(span(z.nodes[3].zone(Normal)), (0x340000, 0x400, 0x400));
    assert_eq!(span(z.nodes[3].zone(Movable)), (0x340400, 0xffc00, 0xffc00));
    let mut out = String::new();
    print_movable_zone_start(&mut out, &z).unwrap();
    assert_eq!(
        out,
        "Movable zone start for each node\n  Node 0: 0x0000000100400000\n  Node 1: 0x0000000180400000\n\
         \x20 Node 2: 0x0000000240400000\n  Node 3: 0x0000000340400000\n"
    );
}

#[test]
fn movablecore_percent_over_four_nodes() {
    // movablecore=50%: required_movablecore = 4194173 * 100 * 50 / 10000 = 2097086, rounded up to 1024:
    // 2097152; kernelcore = 4194173 - 2097152 = 2097021; share = 2097021 / 4 = 524255.
    // Node 0: low memory 158 + 786143: required 1310720, zmp[0] = 0x100000 (size 0 above 4 GiB).
    // Node 1: 524255 pages: zmp[1] = 0x140000 + 0x7ffdf = 0x1bffdf, required 786465.
    // Node 2: zmp[2] = 0x2bffdf, required 262210.
    // Node 3: 262210 < 524255: share = 262210 / 4 = 65552: zmp[3] = 0x350010, required 196658.
    // Restart, 3 nodes: share 196658 / 3 = 65552:
    //   node 0: zmp[0] = 0x100000 + 0x10010 = 0x110010, required 131106;
    //   node 1: from 0x1bffdf: zmp[1] = 0x1cffef, required 65554; node 2: zmp[2] = 0x2cffef, required 2;
    //   node 3: 2 < 65552: share 0: zmp[3] stays 0x350010.
    // 2 nodes, 2 > 2? no: done. Rounded up: 0x110400, 0x1d0000, 0x2d0000, 0x350400.
    let opts = ZoneOptions { movablecore: Some(CoreSpec::Percent(50)), ..ZoneOptions::default() };
    let z = compute(&qemu_4node(), 4, opts);
    assert_eq!(z.zone_movable_pfn, vec![0x110400, 0x1d0000, 0x2d0000, 0x350400]);
    let movable: u64 = z.nodes.iter().map(|n| n.zone(Movable).present_pages).sum();
    // 0x2fc00 + 2 * 0x70000 + 0xefc00: a little less than asked, as in Linux.
    assert_eq!(movable, 2095104);
    assert_eq!(z.total_present_pages(), 4194173);
}

#[test]
fn kernelcore_percent_and_both_options() {
    // kernelcore=25% of 4194173 pages = 1048543; the same walk as kernelcore=4G but 33 pages less:
    // node 0: required 262242, zmp 0x100000; node 1: zmp 0x180000, required 98; node 2: share 98/4 = 24:
    // 0x240018, required 74; node 3: 0x340018, required 50; restart share 50/3 = 16: node 0 0x100010 (34),
    // node 1 0x180010 (18), node 2 0x240028 (2); node 3 share 0. Rounded: same starts as kernelcore=4G.
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Percent(25)), ..ZoneOptions::default() };
    let z = compute(&qemu_4node(), 4, opts);
    assert_eq!(z.zone_movable_pfn, vec![0x100400, 0x180400, 0x240400, 0x340400]);
    // kernelcore=4G with movablecore=75%: movablecore's kernelcore is 4194173 - 3145728 = 1048445 pages,
    // below 1048576, so kernelcore= wins and the result is kernelcore=4G's.
    let opts = ZoneOptions {
        kernelcore: Some(CoreSpec::Pages(0x100000)),
        movablecore: Some(CoreSpec::Percent(75)),
        ..ZoneOptions::default()
    };
    assert_eq!(compute(&qemu_4node(), 4, opts).zone_movable_pfn, vec![0x100400, 0x180400, 0x240400, 0x340400]);
    // Percent 0 is "not given", as in Linux.
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Percent(0)), ..ZoneOptions::default() };
    assert_eq!(compute(&qemu_4node(), 4, opts).zone_movable_pfn, vec![0; 4]);
}

#[test]
fn nodes_entirely_movable() {
    // kernelcore=4 pages on the 4-node sample: node 0's low memory satisfies it (required 0), zmp[0] =
    // 0x100000; nodes 1-3 get a share of 0 / 4 = 0 and size 0 at their first pfn: wholly ZONE_MOVABLE.
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(4)), ..ZoneOptions::default() };
    let z = compute(&qemu_4node(), 4, opts);
    assert_eq!(z.zone_movable_pfn, vec![0x100000, 0x140000, 0x240000, 0x340000]);
    for n in &z.nodes[1..] {
        assert_eq!(span(n.zone(Normal)), (0, 0, 0));
        assert_eq!(n.zone(Movable).present_pages, 0x100000);
        assert_eq!(n.node_present_pages, 0x100000);
    }
    // movable_node with node 3 hot-pluggable.
    let hot = [PfnRange { start_pfn: 0x340000, end_pfn: 0x440000 }];
    let opts = ZoneOptions { movable_node: true, kernelcore: Some(CoreSpec::Pages(4)), ..ZoneOptions::default() };
    let z = compute_zones_with(&qemu_4node(), 4, &opts, &MemblockFlags { hotpluggable: &hot, ..Default::default() })
        .unwrap();
    assert_eq!(z.zone_movable_pfn, vec![0, 0, 0, 0x340000]);
    assert_eq!(z.notes, vec![ZoneNote::CoreOptionsIgnoredForMovableNode]);
    assert_eq!(span(z.nodes[3].zone(Normal)), (0, 0, 0));
    assert_eq!(span(z.nodes[3].zone(Movable)), (0x340000, 0x100000, 0x100000));
    assert_eq!(span(z.nodes[2].zone(Normal)), (0x240000, 0x100000, 0x100000));
    // A hot-pluggable range in the middle of node 2, not MAX_ORDER aligned: rounded up.
    let hot = [PfnRange { start_pfn: 0x2a0001, end_pfn: 0x2c0000 }];
    let opts = ZoneOptions { movable_node: true, ..ZoneOptions::default() };
    let z = compute_zones_with(&qemu_4node(), 4, &opts, &MemblockFlags { hotpluggable: &hot, ..Default::default() })
        .unwrap();
    assert_eq!(z.zone_movable_pfn, vec![0, 0, 0x2a0400, 0]);
    assert_eq!(span(z.nodes[2].zone(Normal)), (0x240000, 0x60400, 0x60400));
    assert_eq!(span(z.nodes[2].zone(Movable)), (0x2a0400, 0x9fc00, 0x9fc00));
}

#[test]
fn no_movable_zone_when_core_covers_everything() {
    let total = 4194173;
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Pages(total)), ..ZoneOptions::default() };
    let z = compute(&qemu_4node(), 4, opts);
    assert_eq!(z.zone_movable_pfn, vec![0; 4]);
    assert_eq!(z.notes, vec![ZoneNote::KernelcoreCoversAllMemory { required_kernelcore: total, totalpages: total }]);
    // movablecore=100%: kernelcore becomes 0, which Linux reads as "not given": no ZONE_MOVABLE at all.
    let opts = ZoneOptions { movablecore: Some(CoreSpec::Percent(100)), ..ZoneOptions::default() };
    let z = compute(&qemu_4node(), 4, opts);
    assert_eq!(z.zone_movable_pfn, vec![0; 4]);
    assert_eq!(z.notes, vec![ZoneNote::MovablecoreCoversAllMemory { totalpages: total }]);
    assert!(z.nodes.iter().all(|n| n.zone(Movable).is_empty()));
}

#[test]
fn kernelcore_mirror() {
    // 8 GiB on one node, the first 5 GiB mirrored: ZONE_MOVABLE starts at the first non-mirrored pfn
    // above 4 GiB and overlaps ZONE_NORMAL, which keeps only the mirrored pages as present.
    let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x240000, 0)];
    let mirror = [PfnRange { start_pfn: 0, end_pfn: 0x140000 }];
    let opts = ZoneOptions { kernelcore: Some(CoreSpec::Mirror), ..ZoneOptions::default() };
    let flags = MemblockFlags { mirror: &mirror, ..Default::default() };
    let z = compute_zones_with(&mem, 1, &opts, &flags).unwrap();
    assert!(z.mirrored_kernelcore);
    assert_eq!(z.zone_movable_pfn, vec![0x140000]);
    let n = &z.nodes[0];
    assert_eq!(span(n.zone(Normal)), (0x100000, 0x140000, 0x40000));
    assert_eq!(span(n.zone(Movable)), (0x140000, 0x100000, 0x100000));
    assert_eq!(z.total_present_pages(), mem.iter().map(|r| r.pages()).sum::<u64>());
    assert_eq!(z.zone_for_pfn(0, 0x120000), Some(Normal));
    assert_eq!(z.zone_for_pfn(0, 0x200000), Some(Movable));
    assert!(z.notes.is_empty());
    // Non-mirrored memory below 4 GiB: Linux warns.
    let mirror = [PfnRange { start_pfn: 0x100000, end_pfn: 0x140000 }];
    let flags = MemblockFlags { mirror: &mirror, ..Default::default() };
    let z = compute_zones_with(&mem, 1, &opts, &flags).unwrap();
    assert_eq!(z.notes, vec![ZoneNote::UnmirroredKernelMemory]);
    assert_eq!(alloc::format!("{}", z.notes[0]), "This configuration results in unmirrored kernel memory.");
    assert!(z.notes[0].linux_logs());
    // No mirror memory at all, Linux 6.1: every region from 4 GiB is movable, Normal empties, and the memory
    // below 4 GiB is unmirrored kernel memory.
    let z = compute(&mem, 1, opts);
    assert_eq!(z.notes, vec![ZoneNote::UnmirroredKernelMemory]);
    assert_eq!(z.zone_movable_pfn, vec![0x100000]);
    assert!(z.nodes[0].zone(Normal).is_empty());
    assert_eq!(span(z.nodes[0].zone(Movable)), (0x100000, 0x140000, 0x140000));
    // Later kernels ignore kernelcore=mirror then, with a warning.
    let later = ZoneOptions { mirror_requires_mirrored_memory: true, ..opts };
    let z = compute(&mem, 1, later);
    assert_eq!(z.notes, vec![ZoneNote::NoMirrorMemory]);
    assert_eq!(z.zone_movable_pfn, vec![0]);
    assert!(!z.mirrored_kernelcore);
}

#[test]
fn span_extend_rounds_node_spans_to_sections() {
    let opts = ZoneOptions { node_span_align: PAGES_PER_SECTION, ..ZoneOptions::default() };
    let mem = [m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)];
    let z = compute(&mem, 1, opts);
    assert_eq!(z.node_pfn_range, vec![(0, 0x140000)]);
    assert_eq!(z.arch_zone_lowest_possible_pfn, [0, 0x1000, 0x100000, 0]);
    assert_eq!(z.arch_zone_highest_possible_pfn, [0x1000, 0x100000, 0x140000, 0]);
    let n = &z.nodes[0];
    assert_eq!(span(n.zone(Dma)), (0, 0x1000, 0x9e + 0xf00));
    assert_eq!(span(n.zone(Normal)), (0x100000, 0x40000, 0x3a000));
    assert_eq!(z.max_pfn, 0x13a000);
    // A node boundary inside a section: both nodes span the shared section.
    let mem = [m(0x100, 0x104000, 0), m(0x104000, 0x200000, 1)];
    let z = compute(&mem, 2, opts);
    assert_eq!(z.node_pfn_range, vec![(0, 0x108000), (0x100000, 0x200000)]);
    assert_eq!(z.zone_for_pfn(1, 0x104000), Some(Normal));
    assert_eq!(z.nodes[1].zone(Normal).zone_start_pfn, 0x100000);
}

#[test]
fn errors_are_named_and_displayed() {
    let o = ZoneOptions::default();
    assert_eq!(compute_zones(&[], 1, &o), Err(ZoneError::NoMemory));
    assert_eq!(compute_zones(&[m(0, 1, 0)], 0, &o), Err(ZoneError::BadNodeCount { nr_nodes: 0 }));
    assert_eq!(compute_zones(&[m(0, 1, 0)], 65, &o), Err(ZoneError::BadNodeCount { nr_nodes: 65 }));
    assert_eq!(compute_zones(&[m(0, 1, 2)], 2, &o), Err(ZoneError::NodeOutOfRange { index: 0, nid: 2, nr_nodes: 2 }));
    assert_eq!(compute_zones(&[m(5, 5, 0)], 1, &o), Err(ZoneError::EmptyRange { index: 0, start_pfn: 5, end_pfn: 5 }));
    assert_eq!(compute_zones(&[m(0, 10, 0), m(5, 20, 0)], 1, &o), Err(ZoneError::Unsorted { index: 1 }));
    assert!(matches!(compute_zones(&[m(0, 1 << 41, 0)], 1, &o), Err(ZoneError::BeyondPhysmem { .. })));
    let bad = ZoneOptions { movablecore: Some(CoreSpec::Percent(101)), ..o };
    assert_eq!(
        compute_zones(&[m(0, 10, 0)], 1, &bad),
        Err(ZoneError::BadPercent { option: "movablecore", percent: 101 })
    );
    for align in [0, 3] {
        let bad = ZoneOptions { node_span_align: align, ..o };
        assert_eq!(compute_zones(&[m(0, 10, 0)], 1, &bad), Err(ZoneError::BadSpanAlign { align }));
    }
    let flags = MemblockFlags { max_pfn: Some(5), ..Default::default() };
    assert!(matches!(compute_zones_with(&[m(0, 10, 0)], 1, &o, &flags), Err(ZoneError::MaxPfnBelowMemory { .. })));
    let e = ZoneError::BadPercent { option: "kernelcore", percent: 150 };
    assert_eq!(alloc::format!("{}", e), "kernelcore=150%: a percentage must be at most 100");
}

#[test]
fn zone_type_names_and_indices() {
    for (i, z) in ZoneType::ALL.iter().enumerate() {
        assert_eq!(ZoneType::from_index(i), Some(*z));
        assert_eq!(z.index(), i);
    }
    assert_eq!(ZoneType::from_index(4), None);
    assert_eq!(ZoneType::ALL.map(ZoneType::name), ["DMA", "DMA32", "Normal", "Movable"]);
    assert_eq!(calc_memmap_size(0xfff, 3997), 64);
    assert_eq!(zone_batchsize_v5_10(3912), 0);
    assert_eq!(zone_batchsize_v5_10(834113), 63);
}

/// Random memblock.memory: up to 64 ranges over up to 8 nodes in any order, with holes and adjacency.
fn arb_layout() -> impl Strategy<Value = (Vec<MemRange>, usize)> {
    (1usize..=8, 0u64..0x2000, prop::collection::vec((0u64..0x60000, 1u64..0x80000, 0u32..8), 1..64)).prop_map(
        |(nr_nodes, first, pieces)| {
            let mut pfn = first;
            let mut mem = Vec::new();
            for (gap, len, nid) in pieces {
                pfn += gap;
                mem.push(m(pfn, pfn + len, nid % nr_nodes as u32));
                pfn += len;
            }
            (mem, nr_nodes)
        },
    )
}

fn arb_core() -> impl Strategy<Value = Option<CoreSpec>> {
    prop_oneof![
        Just(None),
        (0u64..0x400000).prop_map(|p| Some(CoreSpec::Pages(p))),
        (0u32..=100).prop_map(|p| Some(CoreSpec::Percent(p))),
    ]
}

proptest! {
    #[test]
    fn zones_partition_every_nodes_memory(
        (mem, nr_nodes) in arb_layout(),
        kernelcore in arb_core(),
        movablecore in arb_core(),
        movable_node in any::<bool>(),
        extend in any::<bool>(),
        hot in prop::collection::vec((0u64..0x3000000, 1u64..0x200000), 0..4),
    ) {
        let opts = ZoneOptions {
            kernelcore,
            movablecore,
            movable_node,
            node_span_align: if extend { PAGES_PER_SECTION } else { 1 },
            ..ZoneOptions::default()
        };
        let hot: Vec<PfnRange> = hot.iter().map(|&(s, l)| PfnRange { start_pfn: s, end_pfn: s + l }).collect();
        let flags = MemblockFlags { hotpluggable: &hot, ..Default::default() };
        let z = compute_zones_with(&mem, nr_nodes, &opts, &flags).unwrap();
        prop_assert_eq!(z.nodes.len(), nr_nodes);
        for n in &z.nodes {
            let mut spanned = 0;
            let mut present = 0;
            for zone in &n.zones {
                prop_assert!(zone.spanned_pages >= zone.present_pages);
                prop_assert_eq!(zone.managed_pages, zone.present_pages);
                if zone.is_empty() {
                    prop_assert_eq!(zone.zone_start_pfn, 0);
                }
                spanned += zone.spanned_pages;
                present += zone.present_pages;
            }
            prop_assert_eq!(n.node_spanned_pages, spanned);
            prop_assert_eq!(n.node_present_pages, present);
            // Non-empty zones of a node do not overlap.
            for a in n.zones.iter().filter(|z| !z.is_empty()) {
                for b in n.zones.iter().filter(|z| !z.is_empty() && z.zone_type > a.zone_type) {
                    prop_assert!(a.zone_end_pfn() <= b.zone_start_pfn || b.zone_end_pfn() <= a.zone_start_pfn,
                        "node {} zones {:?} and {:?} overlap", n.nid, a, b);
                }
            }
        }
        // Sampled memory pfns lie in exactly one zone span of their node, and memmap_init's zone is it.
        for r in &mem {
            for pfn in [r.start_pfn, r.start_pfn + (r.end_pfn - r.start_pfn) / 2, r.end_pfn - 1] {
                let node = &z.nodes[r.nid as usize];
                let spanning: Vec<ZoneType> =
                    node.zones.iter().filter(|z| z.zone_spans_pfn(pfn)).map(|z| z.zone_type).collect();
                prop_assert_eq!(spanning.len(), 1, "pfn {:#x} of node {}: {:?}", pfn, r.nid, spanning);
                prop_assert_eq!(z.zone_for_pfn(r.nid, pfn), Some(spanning[0]));
                prop_assert!(node.spans_pfn(pfn));
            }
        }
        let total: u64 = mem.iter().map(|r| r.pages()).sum();
        prop_assert_eq!(z.total_present_pages(), total);
        // The printers never fail or panic.
        let mut out = String::new();
        print_zone_ranges(&mut out, &z, true).unwrap();
        print_movable_zone_start(&mut out, &z).unwrap();
        print_early_memory_node_ranges(&mut out, &mem).unwrap();
        print_initmem_setup(&mut out, &z).unwrap();
        for nid in 0..nr_nodes as u32 {
            print_node_sizes_v5_10(&mut out, &z, nid, 0).unwrap();
        }
    }

    #[test]
    fn kernelcore_mirror_never_panics_and_never_overcounts(
        (mem, nr_nodes) in arb_layout(),
        mirror in prop::collection::vec((0u64..0x3000000, 1u64..0x400000), 0..6),
        movablecore in arb_core(),
    ) {
        let opts = ZoneOptions { kernelcore: Some(CoreSpec::Mirror), movablecore, ..ZoneOptions::default() };
        let mirror: Vec<PfnRange> =
            mirror.iter().map(|&(s, l)| PfnRange { start_pfn: s, end_pfn: s + l }).collect();
        let z = compute_zones_with(&mem, nr_nodes, &opts, &MemblockFlags { mirror: &mirror, ..Default::default() })
            .unwrap();
        for n in &z.nodes {
            for zone in &n.zones {
                prop_assert!(zone.spanned_pages >= zone.present_pages);
            }
        }
        let total: u64 = mem.iter().map(|r| r.pages()).sum();
        prop_assert!(z.total_present_pages() <= total);
        for r in &mem {
            for pfn in [r.start_pfn, r.end_pfn - 1] {
                if let Some(t) = z.zone_for_pfn(r.nid, pfn) {
                    prop_assert!(z.zone(r.nid, t).unwrap().zone_spans_pfn(pfn));
                }
            }
        }
    }
}
