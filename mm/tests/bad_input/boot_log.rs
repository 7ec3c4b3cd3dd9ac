//! Bad boot-log lines, fed to the boot-log parser.

// ---- boot logs -------------------------------------------------------------------------------------------------

#[test]
fn boot_log_map_line_that_does_not_parse() {
    let log = mm::dmesg::parse("BIOS-e820: [mem 0x0000000000100000-0x00000000000fffff] usable\n");
    assert!(log.e820.is_empty());
    assert_eq!(log.warnings.len(), 1);
    let w = &log.warnings[0];
    assert_eq!(w.line, 1);
    assert_eq!(
        w.to_string(),
        format!("line 1: {}: \"BIOS-e820: [mem 0x0000000000100000-0x00000000000fffff] usable\"", w.reason)
    );
    assert_eq!(w.reason, BOOT_LOG_INVERTED);
}

/// The reason the boot-log parser gives for an inverted range.
const BOOT_LOG_INVERTED: &str = "range ends (0xfffff) before it starts (0x100000)";

#[test]
fn boot_log_range_ending_at_2_pow_64() {
    let log = mm::dmesg::parse("BIOS-e820: [mem 0x0000000100000000-0xffffffffffffffff] usable\n");
    assert!(log.e820.is_empty());
    assert_eq!(
        log.warnings[0].to_string(),
        "line 1: range end overflows 64 bits: \"BIOS-e820: [mem 0x0000000100000000-0xffffffffffffffff] usable\""
    );
}

#[test]
fn boot_log_range_beyond_max_physmem_bits() {
    let log = mm::dmesg::parse(
        "BIOS-e820: [mem 0x0000000100000000-0x00008fffffffffff] usable\n\
         BIOS-e820: [mem 0x0000500000000000-0x00005000ffffffff] usable\n",
    );
    assert_eq!(log.e820.len(), 1);
    assert_eq!((log.e820[0].start, log.e820[0].end), (0x1_0000_0000, 1 << 46));
    assert_eq!(
        log.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        [
            "line 1: ends beyond MAX_PHYSMEM_BITS 46; clipped at 0x400000000000: \"BIOS-e820: [mem 0x0000000100000000-0x00008fffffffffff] usable\"",
            "line 2: starts beyond MAX_PHYSMEM_BITS 46 (0x400000000000); dropped: \"BIOS-e820: [mem 0x0000500000000000-0x00005000ffffffff] usable\"",
        ]
    );
}

#[test]
fn boot_log_with_a_second_boot() {
    let text = "Linux version 6.1.0\nBIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
                Linux version 6.1.0\nBIOS-e820: [mem 0x0000000000000000-0x00000000bfffffff] usable\n";
    let log = mm::dmesg::parse(text);
    assert_eq!(log.e820.len(), 1, "only the last boot is read");
    assert_eq!(log.e820[0].end, 0xc000_0000, "the last boot's map");
    assert_eq!(log.warnings.len(), 1);
    assert_eq!(
        log.warnings[0].to_string(),
        "line 3: a second boot starts here; lines 1-2 (the earlier boot) are ignored: \"Linux version 6.1.0\""
    );
}
