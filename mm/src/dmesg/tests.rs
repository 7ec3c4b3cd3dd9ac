//! The boot-log parser's tests: real log fragments, every line form, malformed lines, property tests.
use super::*;
use alloc::vec;
use proptest::prelude::*;
use RegionKind::*;

const T5500: &str = include_str!("../../tests/samples/dell-t5500-numa-off-linux-5.10.txt");
const QEMU4: &str = include_str!("../../tests/samples/qemu-i440fx-16g-4node.txt");

fn fr(start: u64, end: u64, kind: RegionKind) -> FirmwareRegion {
    FirmwareRegion::new(start, end, kind)
}
fn mr(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

#[test]
fn t5500_sample() {
    let l = parse(T5500);
    assert_eq!(l.warnings, vec![]);
    assert_eq!(
        l.e820,
        vec![
            fr(0, 0x9ec00, Usable),
            fr(0xf0000, 0x100000, Reserved),
            fr(0x100000, 0xcfdf9c00, Usable),
            fr(0xcfdf9c00, 0xcfe4bc00, AcpiNvs),
            fr(0xcfe4bc00, 0xcfe4dc00, AcpiData),
            fr(0xcfe4dc00, 0xd0000000, Reserved),
            fr(0xf8000000, 0xfd000000, Reserved),
            fr(0xfe000000, 0xfed00400, Reserved),
            fr(0xfee00000, 0xfef00000, Reserved),
            fr(0xffb00000, 0x100000000, Reserved),
            fr(0x100000000, 0xa30000000, Usable),
        ]
    );
    assert_eq!(
        l.e820_adjustments,
        vec![
            E820Adjustment::Update { start: 0, end: 0x1000, from: Usable, to: Reserved },
            E820Adjustment::Remove { start: 0xa0000, end: 0x100000, kind: Some(Usable) },
        ]
    );
    assert_eq!(l.srat, vec![]);
    let z = l.zone_ranges.unwrap();
    assert_eq!(z.get(ZoneType::Dma), Some((1, 0x1000)));
    assert_eq!(z.get(ZoneType::Dma32), Some((0x1000, 0x100000)));
    assert_eq!(z.get(ZoneType::Normal), Some((0x100000, 0xa30000)));
    assert_eq!(z.get(ZoneType::Movable), None);
    assert!(z.device_line);
    assert_eq!(l.movable_zone_start, vec![]);
    assert_eq!(l.early_node_ranges, vec![mr(1, 0x9e, 0), mr(0x100, 0xcfdf9, 0), mr(0x100000, 0xa30000, 0)]);
    assert_eq!(l.unavailable, vec![(0, ZoneType::Dma, 1), (0, ZoneType::Dma, 98), (0, ZoneType::Normal, 519)]);
    assert_eq!(l.zeroed_unavailable, None);
    assert_eq!(l.initmem_setup, vec![InitmemSetup { nid: 0, range: Some((0x1000, 0xa30000000)) }]);
    assert_eq!(l.command_line, None);
    assert_eq!(l.firmware_map(), &l.e820[..]);
}

#[test]
fn qemu_4node_sample() {
    let l = parse(QEMU4);
    assert_eq!(l.warnings, vec![]);
    assert_eq!(l.e820.len(), 8);
    assert_eq!(l.e820[3], fr(0x100000, 0xbffdf000, Usable));
    assert_eq!(l.e820[7], fr(0x100000000, 0x440000000, Usable));
    assert_eq!(l.e820_adjustments, vec![]);
    let srat: Vec<(u32, u32, u64, u64, bool)> =
        l.srat.iter().map(|s| (s.nid, s.pxm, s.start, s.end, s.hotplug)).collect();
    assert_eq!(
        srat,
        vec![
            (0, 0, 0, 0xa0000, false),
            (0, 0, 0x100000, 0xc0000000, false),
            (0, 0, 0x100000000, 0x140000000, false),
            (1, 1, 0x140000000, 0x240000000, false),
            (2, 2, 0x240000000, 0x340000000, false),
            (3, 3, 0x340000000, 0x440000000, false),
        ]
    );
    assert_eq!(l.srat_affinity()[3], NumaAffinity { nid: 1, start: 0x140000000, end: 0x240000000, hotplug: false });
    let z = l.zone_ranges.unwrap();
    assert_eq!(z.get(ZoneType::Normal), Some((0x100000, 0x440000)));
    assert!(!z.device_line);
    assert_eq!(l.early_node_ranges.len(), 6);
    assert_eq!(
        l.early_node_ranges,
        vec![
            mr(1, 0x9f, 0),
            mr(0x100, 0xbffdf, 0),
            mr(0x100000, 0x140000, 0),
            mr(0x140000, 0x240000, 1),
            mr(0x240000, 0x340000, 2),
            mr(0x340000, 0x440000, 3),
        ]
    );
    let nodes: Vec<u32> = l.early_node_ranges.iter().map(|r| r.nid).collect();
    assert_eq!(nodes.iter().max(), Some(&3));
    assert_eq!(l.zeroed_unavailable, Some(131));
    assert_eq!(l.unavailable, vec![]);
    assert_eq!(l.initmem_setup.len(), 4);
    assert_eq!(l.initmem_setup[3], InitmemSetup { nid: 3, range: Some((0x340000000, 0x440000000)) });
}

#[test]
fn prefixes_are_stripped() {
    let want = fr(0, 0x9fc00, Usable);
    for line in [
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "[    0.000000][    T0] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\r",
        "<6>[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "Mar  2 10:33:11 host kernel: [    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "Mar  2 10:33:11 host kernel: BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "2021-03-02T10:33:11.123456+01:00 host kernel: BIOS-e820: [mem 0x0-0x9fbff] usable",
        "kernel: BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "[Tue Mar  2 10:33:11 2021] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "> > [    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "[    0.000000] host kernel: BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
        "\t BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]   usable  ",
    ] {
        let l = parse(line);
        assert_eq!(l.e820, vec![want], "{}", line);
        assert_eq!(l.warnings, vec![], "{}", line);
    }
}

#[test]
fn synthetic_log_crlf_garbage_and_blocks() {
    let log = "garbage \u{1F600} line\r\n\
               Command line: BOOT_IMAGE=/vmlinuz movablecore=1G memmap=64M$0x10000000\r\n\
               BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\r\n\
               BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable\r\n\
               BIOS-e820: 0000000100000000 - 0000000140000000 (usable)\r\n\
               BIOS-e820: [mem 0x0000000140000000-0x000000014fffffff] persistent (type 12)\r\n\
               BIOS-e820: [mem 0x0000000150000000-0x000000015fffffff] type 20\r\n\
               BIOS-e820: [mem 0x0000000160000000-0x000000016fffffff] soft reserved\r\n\
               BIOS-e820: [mem 0x0000000170000000-0x000000017fffffff] unusable\r\n\
               e820: remove [mem 0x10000000-0x13ffffff] \r\n\
               e820: update [mem 0x10000000-0x13ffffff] usable ==> reserved\r\n\
               e820: reserve RAM buffer [mem 0x0009fc00-0x0009ffff]\r\n\
               e820: user-defined physical RAM map:\r\n\
               user: [mem 0x0000000000000000-0x000000000009fbff] usable\r\n\
               user: [mem 0x0000000010000000-0x0000000013ffffff] reserved\r\n\
               Kernel command line: ignored because Command line came first\r\n\
               ACPI: SRAT: Node 1 PXM 0 [mem 0x140000000-0x2c5ffffff] hotplug\r\n\
               SRAT: Node 0 PXM 1 0-a0000\r\n\
               ACPI: SRAT: Node 0 PXM 1 [mem 0x100000000-0x13fffffff] hotplug non-volatile\r\n\
               SRAT: PXM 0 -> APIC 0x00 -> Node 0\r\n\
               Zone ranges:\r\n\
               \x20 DMA      [mem 0x0000000000001000-0x0000000000ffffff]\r\n\
               \x20 DMA32    empty\r\n\
               \x20 Normal   [mem 0x0000000100000000-0x000000043fffffff]\r\n\
               Movable zone start for each node\r\n\
               \x20 Node 0: 0x0000000100000000\r\n\
               \x20 Node 1: 0x0000000240000000\r\n\
               Early memory node ranges\r\n\
               \x20 node   0: [mem 0x0000000000001000-0x000000000009efff]\r\n\
               \x20 node  12: [mem 0x0000000000100000-0x00000000bffdffff]\r\n\
               Initmem setup node 0 [mem 0x0000000000001000-0x000000013fffffff]\r\n\
               Initmem setup node 1 as memoryless\r\n\
               Initmem setup node 2 [mem 0x0000000000000000-0x0000000000000000]\r\n\
               On node 0 totalpages: 10485142\r\n\
               On node 0, zone DMA32: 24576 pages in unavailable ranges\r\n\
               On node 3, zone Movable: 1 pages in unavailable ranges\r\n\
               Xen: using vcpuop timer interface\r\n\
               efi: EFI v2.70 by EDK II\r\n";
    let l = parse(log);
    assert_eq!(l.warnings, vec![]);
    assert_eq!(l.command_line.as_deref(), Some("BOOT_IMAGE=/vmlinuz movablecore=1G memmap=64M$0x10000000"));
    assert_eq!(
        l.e820,
        vec![
            fr(0, 0x9fc00, Usable),
            fr(0x100000, 0xbffe0000, Usable),
            fr(0x100000000, 0x140000000, Usable),
            fr(0x140000000, 0x150000000, Pram),
            fr(0x150000000, 0x160000000, E820Type(20)),
            fr(0x160000000, 0x170000000, SoftReserved),
            fr(0x170000000, 0x180000000, Unusable),
        ]
    );
    assert_eq!(
        l.e820_adjustments,
        vec![
            E820Adjustment::Remove { start: 0x10000000, end: 0x14000000, kind: None },
            E820Adjustment::Update { start: 0x10000000, end: 0x14000000, from: Usable, to: Reserved },
        ]
    );
    assert_eq!(l.e820_user, vec![fr(0, 0x9fc00, Usable), fr(0x10000000, 0x14000000, Reserved)]);
    assert_eq!(l.firmware_map(), &l.e820_user[..]);
    assert_eq!(
        l.srat,
        vec![
            SratLine { nid: 1, pxm: 0, start: 0x140000000, end: 0x2c6000000, hotplug: true, non_volatile: false },
            SratLine { nid: 0, pxm: 1, start: 0, end: 0xa0000, hotplug: false, non_volatile: false },
            SratLine { nid: 0, pxm: 1, start: 1 << 32, end: 0x140000000, hotplug: true, non_volatile: true },
        ]
    );
    let z = l.zone_ranges.unwrap();
    assert_eq!(z.ranges, [Some((1, 0x1000)), None, Some((0x100000, 0x440000)), None]);
    assert_eq!(l.movable_zone_start, vec![(0, 0x100000), (1, 0x240000)]);
    assert_eq!(l.early_node_ranges, vec![mr(1, 0x9f, 0), mr(0x100, 0xbffe0, 12)]);
    assert_eq!(
        l.initmem_setup,
        vec![
            InitmemSetup { nid: 0, range: Some((0x1000, 0x140000000)) },
            InitmemSetup { nid: 1, range: None },
            InitmemSetup { nid: 2, range: Some((0, 0)) },
        ]
    );
    assert_eq!(l.unavailable, vec![(0, ZoneType::Dma32, 24576), (3, ZoneType::Movable, 1)]);
    assert_eq!(l.lines, 38);
}

#[test]
fn old_formats() {
    let log = "Early memory PFN ranges\n\
               \x20   0: 0x00000010 -> 0x0000009f\n\
               \x20   1: 0x00000100 -> 0x000bffdf\n\
               Zone ranges:\n\
               \x20 DMA      0x00000010 -> 0x00001000\n\
               Initmem setup node 0 0000000000000000-0000000140000000\n\
               modified: 0000000000000000 - 000000000009fc00 (usable)\n\
               Xen: 0000000000100000 - 0000000040000000 (usable)\n";
    let l = parse(log);
    assert_eq!(l.warnings, vec![]);
    assert_eq!(l.early_node_ranges, vec![mr(0x10, 0x9f, 0), mr(0x100, 0xbffdf, 1)]);
    assert_eq!(l.zone_ranges.unwrap().get(ZoneType::Dma), Some((0x10, 0x1000)));
    assert_eq!(l.initmem_setup, vec![InitmemSetup { nid: 0, range: Some((0, 0x140000000)) }]);
    assert_eq!(l.e820_user, vec![fr(0, 0x9fc00, Usable)]);
    assert_eq!(l.e820, vec![fr(0x100000, 0x40000000, Usable)]);
}

#[test]
fn efi_lines() {
    let log = "efi: mem00: [Conventional|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000000000-0x000000000009ffff] (0MB)\n\
               efi: mem01: [Boot Data   |   |  |  |  |  |  |  |  |  |   |  |  |  |UC] range=[0x0000000000100000-0x00000000001fffff] (1MB)\n\
               efi: mem02: [ACPI Reclaim|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000200000-0x0000000000200fff] (0MB)\n\
               efi: mem03: [Runtime Data|RUN|  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x0000000000201000-0x0000000000201fff] (0MB)\n\
               efi: mem04: [Conventional Memory|   |  |  |  |  |  |  |  |SP|   |WB|WT|WC|UC] range=[0x0000000100000000-0x00000001ffffffff] (4096MB)\n\
               efi: mem105: type=7, attrs=0xf, range=[0x0000000000300000-0x0000000000400000) (1MB)\n\
               efi: mem106: type=10, attrs=0xf, range=[0x0000000000400000-0x0000000000401000) (0MB)\n\
               efi: Remove mem107: MMIO range=[0xe0000000-0xefffffff] (256MB) from e820 map\n";
    let l = parse(log);
    assert_eq!(l.warnings, vec![]);
    assert_eq!(
        l.efi,
        vec![
            fr(0, 0xa0000, Usable),
            fr(0x100000, 0x200000, Reserved),
            fr(0x200000, 0x201000, AcpiData),
            fr(0x201000, 0x202000, Reserved),
            fr(0x100000000, 0x200000000, SoftReserved),
            fr(0x300000, 0x400000, Usable),
            fr(0x400000, 0x401000, AcpiNvs),
        ]
    );
    assert_eq!(l.firmware_map(), &l.efi[..]);
}

#[test]
fn malformed_known_lines_are_warned() {
    let log = "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] purple\n\
               BIOS-e820: [mem 0x00000000000a0000-0x000000000009ffff] usable\n\
               BIOS-e820: [mem 0x0000000000000000-0xffffffffffffffff] usable\n\
               BIOS-e820: [mem 0x0000000000000000-0x1ffffffffffffffff] usable\n\
               BIOS-e820: [mem 0xZZ-0x1] usable\n\
               BIOS-e820: nothing here\n\
               ACPI: SRAT: Node x PXM 0 [mem 0x0-0xfff]\n\
               ACPI: SRAT: Node 0 PXM 0 [mem 0x0-0xfff] sideways\n\
               On node 0, zone HighMem: 5 pages in unavailable ranges\n\
               On node 0, zone DMA: many pages in unavailable ranges\n\
               Zeroed struct page in unavailable ranges: -1 pages\n\
               Initmem setup node 0 [mem 0x1000-\n\
               e820: update [mem 0x0-0xfff] usable -> reserved\n\
               e820: remove [mem 0x0-0xfff] sideways\n\
               efi: mem00: [Mystery|WB] range=[0x0-0xfff] (0MB)\n\
               Zone ranges:\n\
               \x20 DMA      [mem 0x0000000000001000-0x0000000000ffff00]\n\
               \x20 DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n\
               \x20 DMA32    [mem 0x0000000001000000-0x00000000ffffffff]\n\
               \x20 HighMem  empty\n\
               \x20 Device   [mem 0x0000000001000000-0x00000000ffffffff]\n\
               Movable zone start for each node\n\
               \x20 Node 0: 0x0000000100000800\n\
               \x20 Node 1 0x0000000100000000\n\
               Early memory node ranges\n\
               \x20 node   0: [mem 0x0000000000001000-0x000000000009e000]\n\
               \x20 node   0: [mem 0x0000000000001000-0x000000000009efff] extra\n\
               \x20 node 99999999999: [mem 0x0000000000001000-0x000000000009efff]\n";
    let l = parse(log);
    let got: Vec<(usize, &str)> = l.warnings.iter().map(|w| (w.line, w.reason.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (1, "unknown e820 type \"purple\""),
            (2, "range ends (0x9ffff) before it starts (0xa0000)"),
            (3, "range end overflows 64 bits"),
            (4, "\"0x1ffffffffffffffff\" does not fit in 64 bits"),
            (5, "\"0xZZ\" is not a hex number"),
            (6, "expected \"[mem a-b]\" or \"a - b\""),
            (7, "\"x\" is not a decimal number"),
            (8, "unknown flag \"sideways\" after the range"),
            (9, "zone \"HighMem\" is not one of DMA, DMA32, Normal, Movable (x86_64)"),
            (10, "\"many\" is not a decimal number"),
            (11, "\"-1\" is not a decimal number"),
            (12, "missing \"]\""),
            (13, "missing \"==>\""),
            (14, "unknown e820 type \"sideways\""),
            (15, "unknown EFI memory type \"Mystery\""),
            (17, "range [0x1000, 0xffff01) is not page aligned"),
            (19, "zone DMA32 printed twice; the first line is kept"),
            (20, "ZONE_HIGHMEM (32-bit) is not modelled"),
            (21, "ZONE_DEVICE with a range is not modelled"),
            (23, "0x100000800 is not page aligned"),
            (24, "missing \":\""),
            (26, "range [0x1000, 0x9e001) is not page aligned"),
            (27, "unexpected \"extra\" after the range"),
            (28, "99999999999 does not fit in 32 bits"),
        ]
    );
    assert_eq!(
        l.warnings[0].to_string(),
        "line 1: unknown e820 type \"purple\": \"BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] purple\""
    );
    assert_eq!(l.e820, vec![]);
    assert_eq!(l.zone_ranges.unwrap().get(ZoneType::Dma32), Some((0x1000, 0x100000)));
}

#[test]
fn a_second_boot_replaces_the_first() {
    let two = [T5500, QEMU4].concat();
    let l = parse(&two);
    let qemu = parse(QEMU4);
    let first_lines = T5500.lines().count();
    assert_eq!(l.early_node_ranges, qemu.early_node_ranges, "the last boot's facts");
    assert_eq!(l.zone_ranges, qemu.zone_ranges);
    assert_eq!(l.lines, first_lines + QEMU4.lines().count());
    assert_eq!(l.warnings.len(), 1 + qemu.warnings.len());
    let w = &l.warnings[0];
    assert_eq!(w.reason, format!("a second boot starts here; lines 1-{} (the earlier boot) are ignored", w.line - 1));
    assert_eq!(w.text, "BIOS-provided physical RAM map:");
    let l = parse("Linux version 5.10\nBIOS-e820: [mem 0x0-0xfff] usable\nLinux version 5.11\nBIOS-e820: [mem 0x0-0x1fff] usable\n");
    assert_eq!(l.e820, vec![fr(0, 0x2000, Usable)]);
    assert_eq!(l.linux_version.map(|v| (v.major, v.minor)), Some((5, 11)));
    assert_eq!(l.lines, 4);
    assert_eq!(l.warnings[0].line, 3);
}

#[test]
fn version_and_every_era_of_hole_lines() {
    let l = parse(
        "[    0.000000] Linux version 5.12.0-rc2+ (gcc 10)\n\
         [    0.1] Initmem setup node 0 [mem 0x0000000000001000-0x000000013fffffff]\n\
         [    0.1]   DMA zone: 98 pages in unavailable ranges\n\
         [    0.1]   DMA zone: 64 pages used for memmap\n\
         [    0.1]   Normal zone: 2 pages in unavailable ranges\n\
         [    0.1] Reserved but unavailable: 97 pages\n\
         [    0.1]   Bogus zone: 5 pages in unavailable ranges\n",
    );
    let v = l.linux_version.clone().unwrap();
    assert_eq!((v.major, v.minor, v.release.as_str()), (5, 12, "5.12.0-rc2+"));
    assert_eq!(l.zone_unavailable, vec![(ZoneType::Dma, 98), (ZoneType::Normal, 2)]);
    assert_eq!(l.reserved_unavailable, Some(97));
    assert_eq!(l.warnings.len(), 0, "a 'Bogus zone' line is no zone line: {:?}", l.warnings);
    let l = parse("Linux version six\n  DMA32 zone: x pages in unavailable ranges\n");
    assert_eq!(l.linux_version, None);
    assert_eq!(l.warnings.iter().map(|w| w.line).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn warnings_are_capped_and_counted() {
    let bad = "BIOS-e820: junk\n".repeat(MAX_WARNINGS + 5);
    let l = parse(&bad);
    assert_eq!(l.warnings.len(), MAX_WARNINGS);
    assert_eq!(l.warnings_dropped, 5);
    let long = format!("BIOS-e820: {}", "\u{e9}".repeat(200));
    let l = parse(&long);
    assert!(l.warnings[0].text.len() <= WARNING_TEXT_MAX);
    assert_eq!(parse_bytes(b"BIOS-e820: [mem 0x0-0xfff] usable\xff\n").warnings.len(), 1);
    assert_eq!(parse_bytes(b"\xff\xfe BIOS-e820: [mem 0x0-0xfff] usable\n").warnings.len(), 0);
}

// ---- properties --------------------------------------------------------------------------------------------

fn kind_name(k: RegionKind) -> String {
    k.to_string()
}

fn arb_kind() -> impl Strategy<Value = RegionKind> {
    prop_oneof![
        Just(Usable),
        Just(Reserved),
        Just(AcpiData),
        Just(AcpiNvs),
        Just(Unusable),
        Just(Pmem),
        Just(Pram),
        Just(SoftReserved),
        (13u32..1000).prop_map(E820Type),
    ]
}

fn arb_log() -> impl Strategy<Value = BootLog> {
    let region = || (0u64..1 << 40, 1u64..1 << 36, arb_kind()).prop_map(|(s, l, k)| fr(s, s + l, k));
    let srat = (0u32..64, 0u32..300, 0u64..1 << 40, 1u64..1 << 36, any::<bool>(), any::<bool>()).prop_map(
        |(nid, pxm, s, l, hotplug, non_volatile)| SratLine { nid, pxm, start: s, end: s + l, hotplug, non_volatile },
    );
    let pfn_range = (0u64..1 << 28, 1u64..1 << 24);
    let zones =
        proptest::option::of((proptest::array::uniform4(proptest::option::of(pfn_range.clone())), any::<bool>()));
    (
        proptest::collection::vec(region(), 0..10),
        proptest::collection::vec(region(), 0..3),
        proptest::collection::vec(srat, 0..8),
        zones,
        proptest::collection::vec((0u32..64, 0u64..1 << 28), 0..4),
        proptest::collection::vec((pfn_range, 0u32..64).prop_map(|((s, l), nid)| mr(s, s + l, nid)), 0..8),
        proptest::collection::vec((0u32..64, 0usize..4, 0u64..1 << 30), 0..5),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec((0u32..64, proptest::option::of((0u64..1 << 40, 1u64..1 << 36))), 0..4),
        proptest::option::of("[a-z0-9=_ $.-]{0,40}"),
    )
        .prop_map(|(e820, user, srat, zones, movable, early, unavail, zeroed, initmem, cmd)| BootLog {
            e820,
            e820_user: user,
            srat,
            zone_ranges: zones
                .map(|(r, device_line)| ZoneRanges { ranges: r.map(|o| o.map(|(s, l)| (s, s + l))), device_line }),
            movable_zone_start: movable,
            early_node_ranges: early,
            unavailable: unavail
                .into_iter()
                .map(|(n, z, p)| (n, ZoneType::from_index(z).unwrap_or(ZoneType::Dma), p))
                .collect(),
            zeroed_unavailable: zeroed,
            initmem_setup: initmem
                .into_iter()
                .map(|(nid, r)| InitmemSetup { nid, range: r.map(|(s, l)| (s, s + l)) })
                .collect(),
            command_line: cmd.map(|c| c.trim().to_string()),
            ..BootLog::default()
        })
}

/// Writes a log as Linux prints it (the test's own, independent renderer).
fn render(l: &BootLog) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = &l.command_line {
        v.push(format!("Command line: {}", c));
    }
    v.push("BIOS-provided physical RAM map:".to_string());
    for r in &l.e820 {
        v.push(format!("BIOS-e820: [mem {:#018x}-{:#018x}] {}", r.start, r.end - 1, kind_name(r.kind)));
    }
    if !l.e820_user.is_empty() {
        v.push("e820: user-defined physical RAM map:".to_string());
    }
    for r in &l.e820_user {
        v.push(format!("user: [mem {:#018x}-{:#018x}] {}", r.start, r.end - 1, kind_name(r.kind)));
    }
    for s in &l.srat {
        v.push(format!(
            "ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]{}{}",
            s.nid,
            s.pxm,
            s.start,
            s.end - 1,
            if s.hotplug { " hotplug" } else { "" },
            if s.non_volatile { " non-volatile" } else { "" }
        ));
    }
    if let Some(z) = &l.zone_ranges {
        v.push("Zone ranges:".to_string());
        for t in [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable] {
            match z.get(t) {
                Some((s, e)) => v.push(format!("  {:<8} [mem {:#018x}-{:#018x}]", t.name(), s << 12, (e << 12) - 1)),
                None => v.push(format!("  {:<8} empty", t.name())),
            }
        }
        if z.device_line {
            v.push("  Device   empty".to_string());
        }
    }
    v.push("Movable zone start for each node".to_string());
    for (nid, pfn) in &l.movable_zone_start {
        v.push(format!("  Node {}: {:#018x}", nid, pfn << 12));
    }
    v.push("Early memory node ranges".to_string());
    for r in &l.early_node_ranges {
        v.push(format!("  node {:>3}: [mem {:#018x}-{:#018x}]", r.nid, r.start_pfn << 12, (r.end_pfn << 12) - 1));
    }
    for (nid, z, p) in &l.unavailable {
        v.push(format!("On node {}, zone {}: {} pages in unavailable ranges", nid, z.name(), p));
    }
    if let Some(z) = l.zeroed_unavailable {
        v.push(format!("Zeroed struct page in unavailable ranges: {} pages", z));
    }
    for i in &l.initmem_setup {
        match i.range {
            Some((s, e)) => v.push(format!("Initmem setup node {} [mem {:#018x}-{:#018x}]", i.nid, s, e - 1)),
            None => v.push(format!("Initmem setup node {} as memoryless", i.nid)),
        }
    }
    v
}

proptest! {
    #[test]
    fn prop_random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let l = parse_bytes(&b);
        prop_assert!(l.warnings.len() <= MAX_WARNINGS);
    }

    #[test]
    fn prop_random_known_prefixed_lines_never_panic(
        lines in proptest::collection::vec(
            (
                proptest::sample::select(&[
                    "BIOS-e820: ", "Xen: [mem ", "user: ", "efi: mem01: ", "e820: update ", "e820: remove ",
                    "ACPI: SRAT: Node ", "SRAT: Node ", "Zone ranges:\n  DMA ", "Movable zone start for each node\n  Node ",
                    "Early memory node ranges\n  node ", "Early memory PFN ranges\n 0: ", "On node ",
                    "Zeroed struct page in unavailable ranges: ", "Initmem setup node ", "[    0.0] ", "<6>", "kernel: ",
                ][..]),
                "[ -~\u{e9}\u{1F600}]{0,60}",
            ),
            0..20,
        )
    ) {
        let text: String = lines.iter().map(|(p, s)| format!("{}{}\n", p, s)).collect();
        let _ = parse(&text);
    }

    #[test]
    fn prop_rendered_logs_round_trip(l in arb_log(), style in 0usize..4, crlf in any::<bool>()) {
        let mut text = String::new();
        for (i, line) in render(&l).iter().enumerate() {
            match style {
                0 => {}
                1 => text.push_str(&format!("[{:5}.{:06}] ", i / 1000, i % 1000)),
                2 => text.push_str("Mar  2 10:33:11 host kernel: "),
                _ => text.push_str(&format!("<6>[    0.{:06}][    T0] ", i)),
            }
            text.push_str(line);
            text.push_str(if crlf { "\r\n" } else { "\n" });
        }
        let got = parse(&text);
        prop_assert_eq!(&got.warnings, &vec![]);
        let mut want = l.clone();
        want.lines = got.lines;
        prop_assert_eq!(got, want);
    }
}
