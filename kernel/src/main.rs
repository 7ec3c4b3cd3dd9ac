//! memlab's kernel: boots under bootloader 0.11 (BIOS or UEFI) in QEMU, prints the firmware memory map and the
//! SRAT like a Linux boot log, runs the self-tests and exits QEMU with a code that says how the run went.
//!
//! Boot order, and why:
//! 1. serial, then GDT/TSS and IDT: from here on every failure is reported on COM1 (panic, CPU exception);
//! 2. the firmware map from BootInfo, the physical-memory window, then the heap (usable frames above 1 MiB);
//! 3. the command line from fw_cfg (it needs the heap); a bad one ends the run with BAD_CMDLINE;
//! 4. the memory map and reservations, the SRAT (through `mm::acpi`);
//! 5. the memory model (`model`: memblock, zones, sections, memmap in guest RAM, verifier), the `stress=` run if
//!    asked (`stress`), then the self-tests.
//!
//! # Invariants
//! - `unsafe` lives only in the small hardware modules (serial, gdt, interrupts, fw_cfg, phys, heap, exit);
//! - the boot facts ([`facts`]) are set once, before any self-test runs, and never change afterwards.
#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

extern crate alloc;

mod acpi;
mod apic;
mod cmdline;
mod exit;
mod facts;
mod fw_cfg;
mod gdt;
mod heap;
mod hotplug;
mod interrupts;
mod logger;
mod memhp;
mod memmap;
mod model;
mod paging;
mod percpu;
mod phys;
mod selftest;
mod serial;
mod smp;
mod stress;
mod tests;
mod time;
mod trampoline;

use bootloader_api::config::Mapping;
use bootloader_api::{entry_point, BootInfo, BootloaderConfig};

use crate::exit::{exit, ExitCode};

/// The kernel stack size; the bootloader puts an unmapped guard page below it.
pub const KERNEL_STACK_SIZE: u64 = 256 * 1024;

/// Where the bootloader loads the (position-independent) kernel image: the usual -2 GiB.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// How the bootloader sets the kernel up: all of physical memory mapped at a dynamic offset, a 256 KiB stack.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = KERNEL_STACK_SIZE;
    // A fixed load address, so `gdb` can take the symbols with a known offset (see README: debugging).
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_BASE);
    config
};

entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    serial::init();
    logger::init();
    gdt::init();
    percpu::init_boot_cpu();
    interrupts::init();
    println!("memlab kernel {} booting", env!("CARGO_PKG_VERSION"));
    log::info!("kernel image offset {:#x}", boot_info.kernel_image_offset);

    // No allocation before the heap exists: the heap and the mapped limit come straight from BootInfo.
    let regions = &boot_info.memory_regions;
    let offset = boot_info.physical_memory_offset.into_option().expect("the bootloader maps physical memory");
    let phys = phys::PhysMem::new(offset, memmap::mapped_limit(regions.iter().map(|r| r.end)));
    let heap = heap::init_from_memory_map(&phys, regions).expect("no usable RAM region for the kernel heap");
    let firmware = memmap::from_boot_info(regions);

    let options = match fw_cfg::read_file(cmdline::FW_CFG_FILE, cmdline::MAX_LEN) {
        Err(fw_cfg::FwCfgError::TooLarge { size, max }) => {
            println!("cmdline: {} bytes long; at most {} (COMMAND_LINE_SIZE) are accepted", size, max);
            exit(ExitCode::BadCmdline)
        }
        Ok(bytes) => match cmdline::parse(bytes.as_deref().unwrap_or(&[])) {
            Ok(o) => o,
            Err(line) => {
                println!("{}", line);
                exit(ExitCode::BadCmdline)
            }
        },
    };
    logger::set_level(cmdline::level_filter(options.loglevel));
    println!("Command line: {}", options.text);

    memmap::print(&firmware);
    memmap::print_reservation(heap.0, heap.1, "heap");

    let rsdp_addr = boot_info.rsdp_addr.into_option();
    if options.acpi_dump {
        acpi::dump_tables(&phys, rsdp_addr);
    }
    let numa = acpi::discover(&phys, rsdp_addr);
    acpi::print(&numa, options.numa_off);
    let (cpus, smp_config) = acpi::cpus(&phys, rsdp_addr, options.nr_cpus, options.maxcpus);
    let boot_apic = match apic::init(&phys) {
        Ok(_) => Some(apic::id()),
        Err(e) => {
            println!("memlab: smp: {}; the boot CPU runs alone", e);
            None
        }
    };
    match memhp::probe() {
        Some(slots) => {
            println!(
                "memlab: memory hotplug controller at {:#x}: {} DIMMs plugged",
                memhp::BASE,
                slots.iter().filter(|s| s.enabled()).count()
            );
            for s in slots.iter().filter(|s| s.enabled()) {
                println!(
                    "memlab: memory hotplug: slot {}: [mem {:#018x}-{:#018x}] pxm {} status {:#x}",
                    s.slot,
                    s.addr,
                    s.addr + s.size - 1,
                    s.pxm,
                    s.status
                );
            }
        }
        None => log::info!("no memory hotplug controller at {:#x}", memhp::BASE),
    }

    // The memory model over guest RAM: memblock, zones, sections, the memmap, the hole policy, the verifier.
    let distances = if options.numa_off { None } else { acpi::distances(&phys, rsdp_addr, &numa) };
    let mut layout = model::build_layout(&firmware.raw, &numa.ranges(), heap, &options);
    // A node with CPUs and no memory (QEMU `-numa node,cpus=1` without memdev) exists in Linux: memory-less.
    // Only when the SRAT's ranges were used (not after `numa=off` or a fallback to one node).
    if !layout.numa.is_empty() {
        layout.possible_nodes = numa.nodes();
    }
    // Linux's reserve_real_mode: the secondary CPUs' trampoline, top-down below 1 MiB, reserved in memblock.
    let trampoline = mm::smp::reserve_real_mode(&layout, trampoline::PAGES);
    match trampoline {
        Some(pfn) => {
            layout.reserved.push(mm::layout::Reservation {
                start_pfn: pfn,
                end_pfn: pfn + trampoline::PAGES,
                reason: mm::layout::ReserveReason::Other("real mode trampoline"),
            });
            layout.reserved.sort_by_key(|r| r.start_pfn);
            memmap::print_reservation(pfn << 12, (pfn + trampoline::PAGES) << 12, "real mode trampoline");
        }
        None => println!("No sub-1M memory is available for the trampoline"),
    }
    // The CPUs to bring up and their nodes (the SRAT's processor affinity, unless the SRAT's memory was not used).
    let cpu_nodes = match &numa {
        acpi::Numa::Srat(s) if !layout.numa.is_empty() => s.cpus.clone(),
        _ => alloc::vec::Vec::new(),
    };
    let plan = match boot_apic {
        Some(bsp) => mm::smp::number_cpus(&smp_config.present, bsp, smp_config.boot_cpus, &cpu_nodes),
        None => mm::smp::number_cpus(&[], 0, 1, &cpu_nodes),
    };
    percpu::register_boot_cpu(plan[0].apic_id, plan[0].node);
    let possible_nodes = layout.possible_nodes.max(layout.memory.iter().map(|m| m.nid + 1).max().unwrap_or(1) as usize);
    let mut up = smp::BringUp::default();
    let result = model::boot(phys, layout, &options, distances).and_then(|booted| {
        // Linux's order: memmap init (mm_init), then smp_init, then the deferred struct pages on every CPU.
        up = smp::bring_up(
            &phys,
            trampoline.map(|pfn| pfn << 12),
            &plan,
            smp_config.possible.max(1),
            possible_nodes as u32,
            &booted.memory_nodes(),
            options.smp_nostart,
        );
        model::finish(booted, &up, &options)
    });
    if let Err(e) = result {
        // vm_debug=panic and a violated pageblock invariant is Linux's VM_BUG_ON: a kernel panic.
        panic!("memory model: {}", e);
    }

    let filter = options.selftest.clone();
    let hotplug = options.hotplug > 0;
    let stress_secs = options.stress_secs;
    facts::set(facts::Facts { firmware, phys, heap, rsdp_addr, numa, cpus, plan, smp: up, options });
    if let Some(secs) = stress_secs {
        // stress=<seconds>: random buddy traffic, verified every round, before the self-tests.
        match stress::run(secs) {
            Ok(json) => println!("@@stress {}", json),
            Err(e) => {
                println!("memlab: stress: FAILED: {}", e);
                exit(ExitCode::TestsFailed)
            }
        }
    }
    if hotplug {
        // `hotplug=N`: the QEMU-driven hotplug sequence is the run (the host drives it through QMP).
        selftest::run(hotplug::TESTS, None)
    }
    selftest::run(tests::TESTS, filter.as_deref())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    match info.location() {
        Some(l) => serial::emergency_println(format_args!(
            "PANIC: {} at {}:{}:{}",
            info.message(),
            l.file(),
            l.line(),
            l.column()
        )),
        None => serial::emergency_println(format_args!("PANIC: {} at <unknown>:0:0", info.message())),
    }
    exit(ExitCode::Panic)
}
