//! Regenerates the SRAT and MADT fixtures in mm/tests/fixtures/ from real QEMU boots (`acpi_dump=1`).
//!
//! Not part of `cargo test`: run `cargo test -p memlab-tests --test capture_fixtures -- --ignored` after a QEMU
//! upgrade, then check the facts in mm/tests/acpi_fixtures.rs still hold.

use boot::{Firmware, RunStatus};
use memlab_tests::{boot_run, config, describe};

const FIXTURES: &[(&str, &str, Firmware)] = &[
    ("srat-pc-numa2.bin", "numa2", Firmware::Bios),
    ("srat-pc-hotplug-window.bin", "hotplug-window", Firmware::Bios),
    ("srat-descending.bin", "descending", Firmware::Bios),
    ("srat-q35-numa2-uefi.bin", "q35-numa2", Firmware::Uefi),
    ("srat-pc-node-in-section.bin", "node-in-section", Firmware::Bios),
    ("srat-pc-numa4-64g.bin", "numa4-64g", Firmware::Bios),
    ("srat-pc-memoryless-node.bin", "memoryless-node", Firmware::Bios),
];

#[test]
#[ignore = "writes mm/tests/fixtures; run by hand"]
fn capture_srat_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mm/tests/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    std::thread::scope(|s| {
        for &(file, profile, fw) in FIXTURES {
            let dir = &dir;
            s.spawn(move || {
                let o = boot_run(&config(profile, fw, "acpi_dump=1 selftest=acpi"));
                assert_eq!(o.status, RunStatus::Passed, "{}", describe(&o));
                let bytes = o.log.hex_dumps.get("SRAT").unwrap_or_else(|| panic!("no SRAT dump: {}", describe(&o)));
                std::fs::write(dir.join(file), bytes).unwrap();
                println!("{file}: {} bytes from profile {profile} ({})", bytes.len(), fw.name());
            });
        }
    });
}

/// MADT fixtures: (file, profile, firmware, extra QEMU arguments).
const MADT_FIXTURES: &[(&str, &str, Firmware, &[&str])] = &[
    ("madt-pc-numa2.bin", "numa2", Firmware::Bios, &[]),
    ("madt-q35-numa2-uefi.bin", "q35-numa2", Firmware::Uefi, &[]),
    ("madt-pc-numa4-64g.bin", "numa4-64g", Firmware::Bios, &[]),
    ("madt-pc-node-in-section.bin", "node-in-section", Firmware::Bios, &[]),
    // Four CPUs present, eight possible: QEMU lists the absent ones as disabled entries.
    ("madt-pc-smp4-maxcpus8.bin", "tiny", Firmware::Bios, &["-smp", "4,maxcpus=8"]),
];

#[test]
#[ignore = "writes mm/tests/fixtures; run by hand"]
fn capture_madt_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mm/tests/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    std::thread::scope(|s| {
        for &(file, profile, fw, extra) in MADT_FIXTURES {
            let dir = &dir;
            s.spawn(move || {
                let mut cfg = config(profile, fw, "acpi_dump=1 selftest=acpi");
                cfg.extra_qemu_args = extra.iter().map(|a| a.to_string()).collect();
                let o = boot_run(&cfg);
                assert_eq!(o.status, RunStatus::Passed, "{}", describe(&o));
                let bytes = o.log.hex_dumps.get("APIC").unwrap_or_else(|| panic!("no MADT dump: {}", describe(&o)));
                std::fs::write(dir.join(file), bytes).unwrap();
                println!("{file}: {} bytes from profile {profile} ({}) {:?}", bytes.len(), fw.name(), extra);
            });
        }
    });
}
