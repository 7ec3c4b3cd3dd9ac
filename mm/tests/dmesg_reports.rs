//! Property: the boot-log parser never drops a line silently. Random logs made of the one-line facts Linux
//! prints (well-formed, and broken the ways real pastes break: inverted ranges, ends at 2^64, beyond
//! MAX_PHYSMEM_BITS, bad numbers, unknown types, repeated lines, second boots, timestamps and quote markers)
//! go through `mm::dmesg::parse`; every fact line of the boot read is stored or named in a warning
//! (`common/dmesg_oracle.rs`, also the invariant of the `dmesg` fuzz target).

#[path = "common/dmesg_oracle.rs"]
mod dmesg_oracle;

use proptest::prelude::*;

/// One line: a template picked by `kind`, filled with `a`, `b` (addresses or numbers) and decorated by `deco`.
fn line(kind: u8, a: u64, b: u64, deco: u8) -> String {
    let body = match kind % 20 {
        0 => format!("BIOS-e820: [mem {:#018x}-{:#018x}] usable", a, a.wrapping_add(b)),
        1 => format!("BIOS-e820: [mem {:#018x}-{:#018x}] reserved", a, b),
        2 => format!("BIOS-e820: [mem {:#018x}-0xffffffffffffffff] usable", a),
        3 => format!("BIOS-e820: [mem {:#018x}-{:#018x}] purple", a, a | 0xfff),
        4 => format!(
            "efi: mem{:02}: [Conventional|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[{:#018x}-{:#018x}] (1MB)",
            b % 100,
            a,
            a | 0xfffff
        ),
        5 => format!("e820: update [mem {:#010x}-{:#010x}] usable ==> reserved", a, a | 0xfff),
        6 => format!("e820: remove [mem {:#010x}-{:#010x}] usable", a, b),
        7 => format!("ACPI: SRAT: Node {} PXM {} [mem {:#010x}-{:#010x}]", b % 70, b % 300, a, a.wrapping_add(b)),
        8 => format!("On node {}, zone DMA32: {} pages in unavailable ranges", b % 8, a % 100000),
        9 => format!("On node x, zone Normal: {} pages in unavailable ranges", a),
        10 => format!("Initmem setup node {} [mem {:#018x}-{:#018x}]", b % 8, a, a | 0xfff),
        11 => format!("Zeroed struct page in unavailable ranges: {} pages", a % 100000),
        12 => format!("Reserved but unavailable: {} pages", b),
        13 => "Linux version 5.10.0-8-amd64 (gcc 10)".to_string(),
        14 => "BIOS-provided physical RAM map:".to_string(),
        15 => "Zone ranges:".to_string(),
        16 => format!("  DMA      [mem {:#018x}-{:#018x}]", a, b),
        17 => "Early memory node ranges".to_string(),
        18 => format!("  node   {}: [mem {:#018x}-{:#018x}]", b % 4, a, a.wrapping_add(b)),
        _ => format!("BIOS-e820: [mem {:#018x}-{:#018x}] usable", a << 20, (a << 20) | 0xfffff),
    };
    match deco % 4 {
        0 => body,
        1 => format!("[    0.{:06}] {}", a % 1000000, body),
        2 => format!("> {}", body),
        _ => format!("<6>[  T0] {}", body),
    }
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..0x1_0000_0000, 0u64..(1 << 47), any::<u64>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_dropped_line_is_always_reported(
        lines in prop::collection::vec((any::<u8>(), addr(), addr(), any::<u8>()), 1..60)
    ) {
        let text: String = lines.iter().map(|&(k, a, b, d)| line(k, a, b, d) + "\n").collect();
        let log = mm::dmesg::parse(&text);
        if let Err(e) = dmesg_oracle::check(&text, &log) {
            return Err(TestCaseError::fail(format!("{e}\n{text}")));
        }
    }
}

#[test]
fn the_oracle_catches_a_silent_drop() {
    // A log whose parse lost a stored fact without a warning must fail the oracle.
    let text = "BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable\n";
    let mut log = mm::dmesg::parse(text);
    assert_eq!(dmesg_oracle::check(text, &log), Ok(()));
    log.e820.clear();
    assert!(dmesg_oracle::check(text, &log).is_err_and(|e| e.starts_with("BIOS-e820: 1 line(s)")));
}
