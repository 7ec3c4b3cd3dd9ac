//! The memory model in guest RAM: the firmware map and the SRAT fed to `mm`, the memmap carved from memblock on
//! each section's own node and written through the physical-memory mapping, and the Linux-format report.
//!
//! Boot order (as Linux's `setup_arch` -> `free_area_init`): the firmware map gets the user options (`mem=`,
//! `memmap=`) and Linux's early x86 adjustments (`e820_quirks=off` shows the raw map), then
//! `mm::layout::normalize` with the SRAT's memory affinity (`numa=off`: one node; a layout the SRAT cannot
//! describe falls back to one node with a warning, as Linux's `numa_init` does), then the kernel heap is added to
//! memblock.reserved, and `mm::model::Mm::boot` runs the pipeline with a [`DirectMapBacking`]: the memmap of a
//! section is the physical range memblock allocated for it, written through the bootloader's mapping.
//!
//! # Invariants
//! - a memmap range is used only after memblock reserved it, and the model is the only user of that RAM (the
//!   bootloader's own frames are reserved as `Bootloader`, the heap as `kernel heap`);
//! - the model is built once ([`init`]) before the self-tests run, and lives in [`MODEL`] behind a lock.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use mm::buddy::Buddy;
use mm::layout::{self, FirmwareRegion, Layout, LayoutOptions, NumaAffinity, Reservation, ReserveReason};
use mm::model::{Mm, MmOptions};
use mm::sparse::MemmapBacking;
use mm::verify::{verify, Verification};
use mm::walkers::{run_all_walkers, FindingKind, WalkReport};
use mm::zones::ZoneType;
use spin::{Mutex, Once};

use crate::cmdline::Options;
use crate::phys::PhysMem;
use crate::println;

/// Memmap memory from the bootloader's physical-memory mapping: the range memblock reserved is used in place.
pub struct DirectMapBacking {
    pub phys: PhysMem,
}

impl MemmapBacking for DirectMapBacking {
    fn map(&mut self, phys: u64, bytes: usize) -> Option<NonNull<u8>> {
        // A template page (compressed mode) has no physical placement; the kernel never asks for one.
        if phys == 0 || !self.phys.is_mapped(phys, bytes as u64) {
            return None;
        }
        NonNull::new(self.phys.virt(phys) as *mut u8)
    }

    unsafe fn unmap(&mut self, _ptr: NonNull<u8>, _bytes: usize) {
        // The memory stays reserved in memblock; hot-remove (issue 5) gives it back there.
    }
}

/// Linux x86-64's `VMEMMAP_START` (4-level paging): where the vmemmap goes when its level-4 entries are free.
pub const VMEMMAP_START: u64 = 0xffff_ea00_0000_0000;
/// Virtual bytes the vmemmap may need: 64 bytes per 4 KiB page of the 2^46-byte physical address space.
pub const VMEMMAP_SIZE: u64 = (1u64 << mm::consts::MAX_PHYSMEM_BITS) / 4096 * 64;

/// `memmodel=vmemmap`: the memmap of section `nr` is mapped at `base + section_nr_to_pfn(nr) * 64`, so the whole
/// memmap is one virtually contiguous array (`pfn_to_page = vmemmap + pfn`), backed only where sections have a
/// memmap: 2 MiB pages where the memmap (memblock allocates it 2 MiB aligned) allows, 4 KiB pages otherwise;
/// nothing for absent sections. Page-table pages come from the kernel heap (4 KiB aligned, in the direct map, so
/// their physical address is their virtual address minus the physical-memory offset).
pub struct VmemmapBacking {
    pub phys: PhysMem,
    pub base: u64,
}

/// The vmemmap's base when `memmodel=vmemmap`.
pub static VMEMMAP_BASE: Once<u64> = Once::new();

/// Mapping counters of the vmemmap (for the report and the self-test).
pub static VMEMMAP_STATS: Mutex<(u64, u64, u64)> = Mutex::new((0, 0, 0));

impl MemmapBacking for VmemmapBacking {
    fn map(&mut self, _phys: u64, _bytes: usize) -> Option<NonNull<u8>> {
        // Only section memmaps live in the vmemmap; compressed-mode templates are never asked for in the kernel.
        None
    }

    fn map_section(&mut self, nr: u64, phys: u64, bytes: usize) -> Option<NonNull<u8>> {
        if phys == 0 || !self.phys.is_mapped(phys, bytes as u64) {
            return None;
        }
        let virt = self.base + mm::consts::section_nr_to_pfn(nr) * mm::page::PAGE_STRUCT_SIZE;
        let offset = self.phys.offset();
        let mut frames = 0;
        let (huge, small) = crate::paging::map_at(offset, virt, phys, bytes as u64, &mut || {
            frames += 1;
            crate::paging::heap_frame(offset)
        })
        .ok()?;
        let mut st = VMEMMAP_STATS.lock();
        *st = (st.0 + huge, st.1 + small, st.2 + frames);
        NonNull::new(virt as *mut u8)
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, bytes: usize) {
        // Hot-remove: the virtual range goes; the physical memmap goes back to its allocator through the caller.
        let _ = crate::paging::unmap_at(self.phys.offset(), ptr.as_ptr() as u64, bytes as u64);
    }
}

/// The vmemmap's base: `VMEMMAP_START` if its level-4 entries are unused, else the first run of unused upper-half
/// level-4 entries large enough (the bootloader places its own mappings dynamically).
pub fn vmemmap_base(phys: &PhysMem) -> Option<u64> {
    let off = phys.offset();
    if crate::paging::p4_free(off, VMEMMAP_START, VMEMMAP_SIZE) {
        return Some(VMEMMAP_START);
    }
    (256u64..510).map(|i| 0xffff_0000_0000_0000 | (i << 39)).find(|&b| crate::paging::p4_free(off, b, VMEMMAP_SIZE))
}

/// The booted model and what the boot measured.
pub struct Model {
    pub mm: Mm,
    /// The buddy allocator holding every free page after the hand-over.
    pub buddy: Buddy,
    /// What each pfn walker found after the hand-over.
    pub walks: Vec<WalkReport>,
    /// The SLIT's node distances the zonelists were built from, if any.
    pub distances: Option<Vec<u8>>,
    /// Each online CPU's per-CPU page lists, by CPU number (Linux's `pcp->lock` is the mutex).
    pub pcp: Vec<Mutex<mm::buddy::PcpSet>>,
    /// TSC cycles of the hand-over to the buddy allocator.
    pub handover_cycles: u64,
    pub verification: Verification,
    /// TSC cycles of `Mm::boot` (sparse init + memmap init) and of filling the same bytes in this boot.
    pub boot_cycles: u64,
    pub fill_cycles: u64,
    pub tsc_khz: Option<u64>,
}

/// The model, once booted.
pub static MODEL: Once<Mutex<Model>> = Once::new();

/// The node of each online CPU, by CPU number (the per-CPU lists' sizing).
pub fn cpu_nodes() -> Vec<u32> {
    let mut cpus = crate::percpu::online();
    cpus.sort_by_key(|c| c.cpu);
    cpus.iter().map(|c| c.node.load(core::sync::atomic::Ordering::Relaxed)).collect()
}

impl Model {
    /// `drain_all_pages`: every CPU's per-CPU lists back to the free lists (before memory goes offline, and
    /// before a check that wants the allocator without them). Returns the pages drained.
    pub fn drain_all_pcp(&mut self) -> Result<u64, String> {
        let mut n = 0;
        for set in &self.pcp {
            n += self.buddy.drain_pcp(&mut self.mm, &mut set.lock()).map_err(|e| format!("drain: {}", e))?;
        }
        Ok(n)
    }

    /// `zone_pcp_update` of every CPU's lists (the zones' managed pages or watermarks changed).
    pub fn update_pcp(&mut self) {
        let (lows, nodes) = (mm::procfs::low_watermarks(&self.mm, &self.buddy), cpu_nodes());
        for set in &self.pcp {
            self.buddy.pcp_update(&lows, &nodes, &mut set.lock());
        }
    }

    /// The dump of event `event` with the per-CPU lists' pagesets.
    pub fn dump_lines(&self, event: &str) -> Vec<String> {
        let guards: Vec<_> = self.pcp.iter().map(|s| s.lock()).collect();
        let sets: Vec<&mm::buddy::PcpSet> = guards.iter().map(|g| &**g).collect();
        mm::procfs::dump_lines_pcp(&self.mm, &self.buddy, event, &sets)
    }
}

/// Builds the layout the model boots on and prints what Linux prints while doing so.
pub fn build_layout(raw: &[FirmwareRegion], numa: &[NumaAffinity], heap: (u64, u64), opts: &Options) -> Layout {
    let mut regions = raw.to_vec();
    let user_map = opts.mem_limit.is_some() || !opts.memmap.is_empty();
    if user_map {
        let (r, lines) = layout::apply_user_map(&regions, opts.mem_limit, &opts.memmap);
        regions = r;
        for l in lines {
            println!("{}", l);
        }
    }
    if opts.e820_quirks {
        let (r, lines) = layout::x86_e820_quirks(&regions);
        regions = r;
        for l in lines {
            println!("{}", l);
        }
    }
    // A map that `mem=` / `memmap=` made unusable (no RAM left, say) is the command line's fault, not a panic.
    if user_map {
        if let Err(e) = layout::normalize(&regions, &[], &LayoutOptions::default()) {
            println!("cmdline: the firmware map after mem=/memmap= cannot be used: {}; give options that leave RAM", e);
            crate::exit::exit(crate::exit::ExitCode::BadCmdline);
        }
    }
    let numa: &[NumaAffinity] = if opts.numa_off { &[] } else { numa };
    if opts.numa_off {
        println!("NUMA turned off");
    }
    let mut layout = match layout::normalize(&regions, numa, &LayoutOptions::default()) {
        Ok(l) => l,
        Err(e) => {
            println!("memlab: NUMA: {}; falling back to one node", e);
            println!("No NUMA configuration found");
            layout::normalize(&regions, &[], &LayoutOptions::default()).unwrap_or_else(|e| {
                panic!("the firmware map cannot be used: {}", e);
            })
        }
    };
    for n in &layout.notes {
        log::debug!("layout: {}", n);
    }
    // The heap is usable RAM the kernel took: reserve it like Linux reserves the kernel's early allocations.
    let (hs, he) = (heap.0 >> 12, heap.1 >> 12);
    layout.reserved.push(Reservation { start_pfn: hs, end_pfn: he, reason: ReserveReason::Other("kernel heap") });
    layout.reserved.sort_by_key(|r| r.start_pfn);
    layout
}

/// `deferred_init=on`: the deferred struct pages of every node on every online CPU at once, as Linux's
/// `page_alloc_init_late` starts one `pgdatinit` thread per node, bound to the node's CPUs, and `padata` splits
/// the node's work among them (e44431498f5f): a CPU works through its own node's chunks, then the chunks of the
/// nodes without CPUs given to it (round-robin over the CPUs). Each node's time, from the common start to its last
/// chunk, is printed as Linux prints it (`node N deferred pages initialised in Xms`), and which CPUs ran its chunks
/// (`memlab: deferred init: node N: ...`). A chunk of a node with CPUs run on another node's CPU is an error.
/// Returns the cycles taken, all nodes.
fn deferred_init(mm: &mut Mm) -> Result<u64, String> {
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    if mm.deferred.is_empty() {
        return Ok(0);
    }
    // Milliseconds as Linux prints them: the TSC rate from CPUID, else calibrated against the PIT (20 ms).
    let (khz, _) = crate::time::tsc_khz_or_calibrate();
    let cpus = crate::percpu::online();
    let node_of = |c: &crate::percpu::PerCpu| c.node.load(Ordering::Relaxed);
    let d = mm.deferred_init();
    let nodes = d.nodes();
    // Per node: its chunks (split for its CPUs' count), the next chunk to take, when it finished, and a bitmask
    // of the CPUs that ran its chunks; and which CPUs serve it.
    struct NodeWork {
        nid: u32,
        chunks: Vec<(u64, u64)>,
        next: AtomicUsize,
        end: AtomicU64,
        ran_on: AtomicU64,
        served_by: Vec<u32>,
        foreign: AtomicUsize,
    }
    let mut cpuless = 0usize;
    let work: Vec<NodeWork> = nodes
        .iter()
        .map(|&nid| {
            let mut served_by: Vec<u32> = cpus.iter().filter(|c| node_of(c) == nid).map(|c| c.cpu).collect();
            let own = !served_by.is_empty();
            if !own {
                // A node without CPUs: one thread on some CPU (Linux's kthread has no node CPUs to bind to).
                served_by.push(cpus[cpuless % cpus.len()].cpu);
                cpuless += 1;
            }
            NodeWork {
                nid,
                chunks: d.node_chunks(nid, served_by.len() as u64),
                next: AtomicUsize::new(0),
                end: AtomicU64::new(0),
                ran_on: AtomicU64::new(0),
                served_by,
                foreign: AtomicUsize::new(0),
            }
        })
        .collect();
    let failed: spin::Mutex<Option<String>> = spin::Mutex::new(None);
    let t0 = crate::time::rdtsc();
    crate::smp::run_on_all(&|me| {
        for w in work.iter().filter(|w| w.served_by.contains(&me.cpu)) {
            if node_of(me) != w.nid && cpus.iter().any(|c| node_of(c) == w.nid) {
                w.foreign.fetch_add(1, Ordering::Relaxed);
            }
            loop {
                let i = w.next.fetch_add(1, Ordering::Relaxed);
                let Some(&(s, e)) = w.chunks.get(i) else { break };
                if let Err(v) = d.run_chunk(w.nid, s, e) {
                    *failed.lock() = Some(format!("{}", v));
                    return;
                }
                w.ran_on.fetch_or(1 << (me.cpu % 64), Ordering::Relaxed);
                w.end.fetch_max(crate::time::rdtsc(), Ordering::Relaxed);
            }
        }
    });
    let cycles = crate::time::rdtsc() - t0;
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    for w in &work {
        let took = w.end.load(Ordering::Relaxed).saturating_sub(t0);
        println!("node {} deferred pages initialised in {}ms", w.nid, took / khz.max(1));
    }
    for w in &work {
        let mask = w.ran_on.load(Ordering::Relaxed);
        let ran: Vec<String> = (0..64).filter(|b| mask & (1 << b) != 0).map(|b| format!("{}", b)).collect();
        println!(
            "memlab: deferred init: node {}: {} chunks on CPUs {} (served by {})",
            w.nid,
            w.chunks.len(),
            ran.join(","),
            w.served_by.iter().map(|c| format!("{}", c)).collect::<Vec<_>>().join(",")
        );
        if w.foreign.load(Ordering::Relaxed) != 0 {
            return Err(format!("deferred init: node {}'s chunks ran on another node's CPU", w.nid));
        }
    }
    let (n, total) = (d.written(), d.pending_pages());
    drop(d);
    mm.deferred_done(n, total);
    Ok(cycles)
}

/// The model after memmap init and the hand-over of what it initialized (Linux's `mm_init` with
/// `memblock_free_all`), before the secondary CPUs come up.
pub struct Booted {
    mm: Mm,
    buddy: Buddy,
    distances: Option<Vec<u8>>,
    boot_cycles: u64,
    fill_cycles: u64,
    handover_cycles: u64,
    /// The memmap digest of every pfn but the pending ones, taken before the hand-over.
    digest_eager: u64,
}

impl Booted {
    /// The nodes with present pages.
    pub fn memory_nodes(&self) -> Vec<u32> {
        self.mm.zones.nodes.iter().filter(|n| n.node_present_pages > 0).map(|n| n.nid).collect()
    }
}

/// Boots the model up to memmap init and prints its lines; [`finish`] does the rest once the CPUs are up.
pub fn boot(phys: PhysMem, layout: Layout, opts: &Options, distances: Option<Vec<u8>>) -> Result<Booted, String> {
    let mut mo = MmOptions::new(opts.policy);
    mo.vm_debug = opts.vm_debug;
    mo.kernelcore = opts.kernelcore;
    mo.movablecore = opts.movablecore;
    mo.movable_node = opts.movable_node;
    mo.deferred_init = opts.deferred_init;
    mo.fuse_handover = opts.fuse_handover;
    // Debian's 6.1 has CONFIG_ZONE_DEVICE: `  Device   empty` in Zone ranges and a Device zone in zoneinfo.
    mo.zone_device = true;
    let t0 = crate::time::rdtsc();
    let backing: Box<dyn MemmapBacking + Send> = if opts.vmemmap {
        let base = vmemmap_base(&phys).ok_or("no free level-4 entries for the vmemmap")?;
        VMEMMAP_BASE.call_once(|| base);
        println!("memlab: memory model: sparsemem-vmemmap, vmemmap at {:#x}", base);
        Box::new(VmemmapBacking { phys, base })
    } else {
        println!("memlab: memory model: classic sparsemem (memmap used through the direct map)");
        Box::new(DirectMapBacking { phys })
    };
    let mm = Mm::boot(&layout, mo, backing).map_err(|e| format!("{}", e))?;
    if opts.vmemmap {
        let (huge, small, frames) = *VMEMMAP_STATS.lock();
        println!(
            "memlab: vmemmap: {} 2 MiB pages, {} 4 KiB pages, {} page-table pages for {} sections",
            huge,
            small,
            frames,
            mm.sparse.valid_sections().count()
        );
    }
    let boot_cycles = crate::time::rdtsc() - t0;
    for l in &mm.lines {
        println!("{}", l);
    }
    let fill_cycles = fill_reference(&mm);
    let mut mm = mm;
    let pending: Vec<(u64, u64)> = mm.deferred.iter().map(|r| (r.start_pfn, r.end_pfn)).collect();
    let digest_eager = mm::verify::memmap_digest_part(&mm, &pending, false);
    // memblock_free_all: every initialized free page (the deferred ones come with the workers).
    let t1 = crate::time::rdtsc();
    let buddy = Buddy::from_boot_with(&mut mm, distances.as_deref()).map_err(|e| format!("buddy hand-over: {}", e))?;
    let handover_cycles = crate::time::rdtsc() - t1;
    Ok(Booted { mm, buddy, distances, boot_cycles, fill_cycles, handover_cycles, digest_eager })
}

/// `deferred_grow=<MiB>`: before the workers, allocations of that much memory per node with deferred pages
/// (order-9 blocks, node-local, the node's highest zone, movable), as an early boot allocation would make them:
/// each that finds its zone empty grows it (`Buddy::alloc_pages_growing`, `deferred_grow_zone`). Prints what grew;
/// returns the blocks, which are freed once the workers are done.
fn deferred_grow(mm: &mut Mm, buddy: &mut Buddy, mib: u64) -> Result<Vec<u64>, String> {
    let mut blocks = Vec::new();
    let nodes: Vec<u32> = {
        let mut v: Vec<u32> = mm.deferred.iter().map(|r| r.nid).collect();
        v.dedup();
        v
    };
    for nid in nodes {
        let before: u64 = mm.deferred.iter().filter(|r| r.nid == nid).map(|r| r.end_pfn - r.start_pfn).sum();
        let count = mib * 256 / 512;
        for i in 0..count {
            match buddy.alloc_pages_growing(mm, 9, ZoneType::Movable, nid, mm::sparse::migratetype::MOVABLE) {
                Ok(pfn) => blocks.push(pfn),
                Err(e) => return Err(format!("deferred_grow: node {}: block {} of {}: {}", nid, i, count, e)),
            }
        }
        let after: u64 = mm.deferred.iter().filter(|r| r.nid == nid).map(|r| r.end_pfn - r.start_pfn).sum();
        println!(
            "memlab: deferred_grow_zone: node {}: {} MiB in order-9 blocks before the workers; {} pages grown, first_deferred_pfn {}",
            nid,
            mib,
            before - after,
            mm.first_deferred_pfn.get(nid as usize).copied().flatten().map_or("none".into(), |f| format!("{:#x}", f))
        );
    }
    Ok(blocks)
}

/// Deferred struct page init on every CPU, the hand-over to the buddy allocator, the walkers, the verifier, the
/// report and the `@@summary` line (with the bring-up's `smp` facts).
pub fn finish(booted: Booted, smp: &crate::smp::BringUp, opts: &Options) -> Result<(), String> {
    let Booted { mut mm, mut buddy, distances, boot_cycles, fill_cycles, mut handover_cycles, digest_eager } = booted;
    let grown = match opts.deferred_grow_mib {
        Some(mib) if !mm.deferred.is_empty() => deferred_grow(&mut mm, &mut buddy, mib)?,
        _ => Vec::new(),
    };
    // The workers write what is still pending (a grown zone's pages went to the allocator already).
    let pending: Vec<(u64, u64)> = mm.deferred.iter().map(|r| (r.start_pfn, r.end_pfn)).collect();
    let deferred_cycles = deferred_init(&mut mm)?;
    let digest_deferred = mm::verify::memmap_digest_part(&mm, &pending, true);
    // Equal to eager init's digest unless zones grew (their pages were handed over before this digest).
    let memmap_digest = digest_eager.wrapping_add(digest_deferred);
    let t1 = crate::time::rdtsc();
    buddy.free_deferred(&mut mm, &pending).map_err(|e| format!("deferred hand-over: {}", e))?;
    let deferred_free_cycles = crate::time::rdtsc() - t1;
    for pfn in grown {
        buddy.free_pages(&mut mm, pfn, 9).map_err(|e| format!("deferred_grow: freeing {:#x}: {}", pfn, e))?;
    }
    handover_cycles += crate::time::rdtsc() - t1;
    // Per-CPU page lists for the online CPUs, sized as zone_pcp_update sizes them.
    let pcp_sets = buddy.pcp_sets(&mm::procfs::low_watermarks(&mm, &buddy), &cpu_nodes());
    // /proc/zoneinfo, pagetypeinfo, buddyinfo, memory blocks and kpageflags as Linux 6.1 would show them, in
    // the dump format of memlab's guest agent (`memlab diff` compares the two).
    for l in mm::procfs::dump_lines_pcp(&mm, &buddy, "boot", &pcp_sets.iter().collect::<Vec<_>>()) {
        println!("{}", l);
    }
    let walks = run_all_walkers(&mut mm);
    for w in &walks {
        for l in w.lines() {
            println!("{}", l);
        }
    }
    if let Some(v) = walks.iter().find_map(|w| w.stopped) {
        // vm_debug=panic: a walker hit the VM_BUG_ON, as Linux's CONFIG_DEBUG_VM kernel would: a kernel panic.
        return Err(format!("{}", v));
    }
    let verification = verify(&mm);
    for l in mm::report::verify_lines(&mm, &verification) {
        println!("{}", l);
    }
    // The TSC rate from CPUID, else measured against the PIT once per boot (QEMU's CPU models report none).
    let tsc_khz = Some(crate::time::tsc_khz_or_calibrate().0);
    let pages: u64 = mm.sparse.valid_sections().count() as u64 * mm::consts::PAGES_PER_SECTION;
    let free = buddy.total_free_pages();
    println!(
        "memlab: memmap init: {} struct pages in {} cycles ({} per page){}; filling the same bytes: {} cycles (ratio {})",
        pages,
        boot_cycles,
        boot_cycles / pages.max(1),
        tsc_khz.map_or(String::new(), |k| format!(", {} us", boot_cycles * 1000 / k.max(1))),
        fill_cycles,
        ratio(boot_cycles, fill_cycles),
    );
    println!(
        "memlab: buddy: {} free pages handed over in {} cycles ({} per page), managed {}",
        free,
        handover_cycles,
        handover_cycles / free.max(1),
        buddy.total_managed_pages()
    );
    for l in mm::report::overhead_lines(&mm) {
        println!("{}", l);
    }
    let mut summary = mm::report::summary_json(&mm, &verification);
    summary.pop();
    summary.push_str(&format!(",\"overhead\":{}", mm::report::overhead_json(&mm)));
    summary.push_str(&format!(
        ",\"buddy\":{{\"free_pages\":{},\"managed_pages\":{}}},\"walkers\":[{}],\"timing\":{{\"memmap_init_cycles\":{},\"fill_cycles\":{},\"handover_cycles\":{},\"deferred_cycles\":{},\"deferred_free_cycles\":{},\"tsc_khz\":{}}},\"memmap_digest\":\"{:#018x}\",\"smp\":{}}}",
        free,
        buddy.total_managed_pages(),
        walks
            .iter()
            .map(|w| format!(
                "{{\"walker\":\"{}\",\"findings\":{},\"violations\":{},\"tolerated\":{},\"poisoned\":{},\"zone_does_not_span\":{},\"violation_pfns\":[{}]}}",
                w.walker,
                w.total(),
                w.violations(),
                w.tolerated,
                w.count(FindingKind::Poisoned),
                w.count(FindingKind::ZoneDoesNotSpan),
                w.first
                    .iter()
                    .filter(|f| f.kind == FindingKind::PageblockCheck)
                    .map(|f| format!("{}", f.pfn))
                    .collect::<Vec<_>>()
                    .join(",")
            ))
            .collect::<Vec<_>>()
            .join(","),
        boot_cycles,
        fill_cycles,
        handover_cycles,
        deferred_cycles,
        deferred_free_cycles,
        tsc_khz.map_or(String::from("null"), |k| format!("{}", k)),
        memmap_digest,
        smp.json()
    ));
    println!("@@summary {}", summary);
    MODEL.call_once(|| {
        Mutex::new(Model {
            mm,
            buddy,
            walks,
            distances,
            pcp: pcp_sets.into_iter().map(Mutex::new).collect(),
            handover_cycles,
            verification,
            boot_cycles,
            fill_cycles,
            tsc_khz,
        })
    });
    // From here on the kernel heap grows with buddy pages.
    crate::heap::set_grow_source(crate::heap::GrowSource { grow: heap_grow, release: heap_release });
    Ok(())
}

/// The heap's grow source: one `GROW_ORDER` block, as a `GFP_KERNEL` allocation would get it (zone Normal or
/// below, node 0's zonelist, unmovable). `None` when the model is locked by the caller (the allocation that wants
/// growth happens under the model's lock: growing would re-enter it) or has no such block.
fn heap_grow() -> Option<u64> {
    let mut guard = MODEL.get()?.try_lock()?;
    let m = &mut *guard;
    let pfn = m
        .buddy
        .alloc_pages(&mut m.mm, crate::heap::GROW_ORDER, ZoneType::Normal, 0, mm::sparse::migratetype::UNMOVABLE)
        .ok()?;
    Some(pfn << 12)
}

/// Gives a grown heap block back to the buddy allocator; `false` when the model is locked or the free fails.
fn heap_release(phys: u64) -> bool {
    let Some(mut guard) = MODEL.get().and_then(|l| l.try_lock()) else { return false };
    let m = &mut *guard;
    match m.buddy.free_pages(&mut m.mm, phys >> 12, crate::heap::GROW_ORDER) {
        Ok(()) => true,
        Err(e) => {
            log::error!("heap: giving {:#x} back to the buddy allocator: {}", phys, e);
            false
        }
    }
}

/// `a / b` with two decimals.
fn ratio(a: u64, b: u64) -> String {
    let b = b.max(1);
    format!("{}.{:02}", a / b, (a % b) * 100 / b)
}

/// The in-guest reference of the same boot: fills a scratch copy of one section's struct pages (2 MiB in the
/// heap) with a non-zero 64-byte pattern once per section of the model, so the bytes written equal the memmap's.
/// The printed ratio is memmap init (poisoning included) over this fill.
fn fill_reference(mm: &Mm) -> u64 {
    let sections = mm.sparse.valid_sections().count().max(1);
    let pages = mm::consts::PAGES_PER_SECTION as usize;
    let mut scratch: Vec<mm::page::Page> = Vec::with_capacity(pages);
    scratch.resize(pages, mm::page::Page::ZEROED);
    let pattern = mm::page::Page { flags: 0x5a5a, refcount: 1, mapcount: -1, ..mm::page::Page::ZEROED };
    let t0 = crate::time::rdtsc();
    for i in 0..sections {
        for p in scratch.iter_mut() {
            *p = pattern;
            p.index = i as u64;
        }
        core::hint::black_box(&mut scratch);
    }
    crate::time::rdtsc() - t0
}
