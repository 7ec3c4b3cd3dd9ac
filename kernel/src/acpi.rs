//! ACPI glue: finds the SRAT (and the MADT) through the RSDP the bootloader reports and turns them into NUMA and
//! CPU facts.
//!
//! The parsing itself is `mm::acpi`, a pure parser over byte slices that is unit-tested on the host with SRAT
//! bytes captured from QEMU (mm/tests/fixtures). This module only supplies the bytes: [`PhysMem`] implements
//! `mm::acpi::PhysReader`, which checks that every range lies in the bootloader's physical-memory mapping
//! before it is read. SeaBIOS hands over an RSDP revision 0 (RSDT), OVMF revision 2 (XSDT); both are handled
//! by `mm::acpi::find_srat`.
//!
//! The `acpi` crate is not used: its SRAT parsing (6.1.1 and 7.0.0-pre1) declares the entry header's `length`
//! as u16 where the specification has u8, so every field after it is shifted (`MemoryAffinity::length()` reads
//! `base_address_high`), and it needs nightly features of its own.
//!
//! # Invariants
//! - a malformed table never stops the boot: one warning line, and the kernel goes on as a single node (SRAT) or
//!   with the boot CPU alone (MADT);
//! - an SRAT entry of a type `mm::acpi` does not model is one warning line (`mm::acpi::SkippedEntry`), and the
//!   rest of the table is used;
//! - node ids are Linux's (`mm::acpi::map_nodes`: proximity domains numbered in order of first appearance,
//!   processor entries first, disabled entries skipped).

use alloc::vec::Vec;

use mm::acpi::{AcpiError, SratNuma};

use crate::phys::PhysMem;
use crate::println;

/// What the firmware says about NUMA.
#[derive(Clone, Debug)]
pub enum Numa {
    /// The bootloader found no RSDP.
    NoRsdp,
    /// ACPI without an SRAT: one node.
    NoSrat,
    /// A well-formed SRAT.
    Srat(SratNuma),
    /// The ACPI tables are malformed: one node, with the reason.
    Malformed(AcpiError),
}

impl Numa {
    /// The number of NUMA nodes the kernel uses.
    pub fn nodes(&self) -> usize {
        match self {
            Numa::Srat(s) if s.nodes() > 0 => s.nodes(),
            _ => 1,
        }
    }

    /// The SRAT memory ranges (empty without a usable SRAT).
    pub fn ranges(&self) -> Vec<mm::layout::NumaAffinity> {
        match self {
            Numa::Srat(s) => s.ranges(),
            _ => Vec::new(),
        }
    }
}

/// Reads and parses the SRAT.
pub fn discover(phys: &PhysMem, rsdp_addr: Option<u64>) -> Numa {
    let Some(rsdp) = rsdp_addr else { return Numa::NoRsdp };
    match mm::acpi::find_srat(phys, rsdp).and_then(|s| s.map(|s| mm::acpi::map_nodes(&s)).transpose()) {
        Ok(Some(numa)) => Numa::Srat(numa),
        Ok(None) => Numa::NoSrat,
        Err(e) => Numa::Malformed(e),
    }
}

/// Prints the SRAT lines (Linux's format) and one summary line. With `numa=off` Linux never parses the SRAT
/// (`x86_numa_init` skips `x86_acpi_numa_init`), so its lines are not printed; the summary line still names what
/// the table holds.
pub fn print(numa: &Numa, numa_off: bool) {
    match numa {
        Numa::NoRsdp => log::warn!("ACPI: no RSDP from the bootloader; continuing as a single node"),
        Numa::NoSrat => {}
        // The error's text starts with "ACPI: ".
        Numa::Malformed(e) => log::warn!("{}; continuing as a single node", e),
        Numa::Srat(_) if numa_off => {}
        Numa::Srat(s) => {
            for u in &s.skipped {
                log::warn!("{}", u);
            }
            for m in &s.memory {
                println!("{}", m);
            }
        }
    }
    let source = match numa {
        Numa::Srat(_) => "srat",
        Numa::NoSrat => "none",
        Numa::NoRsdp => "no-rsdp",
        Numa::Malformed(_) => "malformed",
    };
    println!("memlab: numa nodes={} source={}", numa.nodes(), source);
}

/// Hex-dumps the raw SRAT and MADT (`acpi_dump=1`): `@@hex <SIG> <offset> <hex bytes>` lines of 32 bytes, which
/// the host turns back into fixtures.
pub fn dump_tables(phys: &PhysMem, rsdp_addr: Option<u64>) {
    let Some(rsdp) = rsdp_addr else { return };
    for sig in [mm::acpi::SRAT, mm::acpi::MADT] {
        let name = core::str::from_utf8(&sig).unwrap_or("????");
        match mm::acpi::find_table(phys, rsdp, sig) {
            Ok(Some((addr, bytes))) => {
                println!("memlab: acpi_dump {} at {:#x}, {} bytes", name, addr, bytes.len());
                for (i, chunk) in bytes.chunks(32).enumerate() {
                    crate::print!("@@hex {} {:06x} ", name, i * 32);
                    for b in chunk {
                        crate::print!("{:02x}", b);
                    }
                    println!();
                }
            }
            Ok(None) => println!("memlab: acpi_dump: no {}", name),
            Err(e) => println!("memlab: acpi_dump: {}", e),
        }
    }
}

/// The CPUs of the MADT (`mm::acpi::Madt::cpus`), with Linux's lines (`ACPI: Using ACPI (MADT) for SMP
/// configuration information`, `smpboot: Allowing N CPUs, K hotplug CPUs`), and what Linux makes of them under
/// `nr_cpus=` / `maxcpus=`. Without a MADT, or with a malformed one (one warning), the list is empty: the boot CPU
/// alone.
pub fn cpus(
    phys: &PhysMem,
    rsdp_addr: Option<u64>,
    nr_cpus: Option<u32>,
    maxcpus: Option<u32>,
) -> (Vec<mm::acpi::MadtCpu>, mm::acpi::SmpConfig) {
    let alone = || (Vec::new(), mm::acpi::smp_config(&[], nr_cpus, maxcpus));
    let Some(rsdp) = rsdp_addr else { return alone() };
    match mm::acpi::find_madt(phys, rsdp) {
        Ok(Some(m)) => {
            let all = m.cpus();
            // nr_cpus= / maxcpus= as Linux applies them (mm::acpi::smp_config).
            let smp = mm::acpi::smp_config(&all, nr_cpus, maxcpus);
            println!("ACPI: Using ACPI (MADT) for SMP configuration information");
            for w in &smp.warnings {
                println!("{}", w);
            }
            println!("{}", smp.allowing_line());
            let ids: Vec<alloc::string::String> = all.iter().map(|c| alloc::format!("{}", c.apic_id)).collect();
            println!(
                "memlab: madt cpus={} apic_ids={} present={} boot={}",
                all.len(),
                ids.join(","),
                smp.present.len(),
                smp.boot_cpus
            );
            (all, smp)
        }
        Ok(None) => {
            log::warn!("ACPI: no MADT; one CPU");
            alone()
        }
        // The error's text starts with "ACPI: ".
        Err(e) => {
            log::warn!("{}; one CPU", e);
            alone()
        }
    }
}

/// The node distance matrix from the SLIT (row-major, one row per node in Linux's numbering), printed as Linux's
/// `numa_distance` table; `None` without an SRAT or a SLIT, or with a malformed SLIT (one warning).
pub fn distances(phys: &PhysMem, rsdp_addr: Option<u64>, numa: &Numa) -> Option<Vec<u8>> {
    let (Some(rsdp), Numa::Srat(srat)) = (rsdp_addr, numa) else { return None };
    let slit = match mm::acpi::find_slit(phys, rsdp) {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            log::warn!("{}; node distances default to local 10, remote 20", e);
            return None;
        }
    };
    let Some(d) = slit.node_distances(&srat.node_pxm) else {
        log::warn!("ACPI: SLIT has {} localities, fewer than the SRAT's domains; ignored", slit.localities);
        return None;
    };
    let n = srat.node_pxm.len();
    println!("NUMA: Initialized distance table, cnt={}", n);
    for a in 0..n {
        let row: Vec<alloc::string::String> = (0..n).map(|b| alloc::format!("{}", d[a * n + b])).collect();
        println!("memlab: node {} distances: {}", a, row.join(" "));
    }
    Some(d)
}
