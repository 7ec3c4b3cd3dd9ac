//! The booted memory model: the whole pipeline from a normalized layout to initialized struct pages.
//!
//! ```text
//! Layout ─► memblock ─► zones (policy may adjust) ─► sparse: memory_present, memmap per node from memblock
//!        ─► memmap init by the policy ─► reserve_bootmem_region (PG_reserved) ─► managed_pages
//! ```
//! [`Mm::boot`] runs it with a [`MemmapBacking`] (the kernel's direct map or the host heap). The memmap of each
//! node's sections is one memblock allocation on that node, 2 MiB aligned and above 16 MiB, as Linux's
//! `sparse_buffer_init` does; if the node cannot hold it, each section falls back to any node and the fallback
//! is recorded. In *compressed* mode (the simulator of very large machines) a section whose pages will all be
//! alike (one memory range, one zone, reserved wholly or not at all) gets a template page instead of 2 MiB of
//! memmap; a test proves compressed and full runs agree page by page.
//!
//! # Invariants
//! - after `boot`, every section with memory has a memmap (or a template) whose physical placement is reserved
//!   in memblock with reason `Memmap` (the same in both modes, so the accounting is identical);
//! - `managed_pages` of a zone = its present pages minus its reserved memory pages (what would be freed to buddy).

mod deferred;
pub use deferred::{DeferredInit, DeferredJob, PendingRange};

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::consts::*;
use crate::layout::{Layout, ReserveReason};
use crate::memblock::{Memblock, MemblockError};
use crate::memmap::{HandedRange, HoleRange, InitCtx, Unavailable};
use crate::page::pg;
use crate::policy::HolePolicy;
use crate::sparse::{MemmapBacking, Sparse, SparseError, MEMMAP_BYTES_PER_SECTION};
use crate::usemap::{PageblockChecker, Violation, VmDebug};
use crate::zones::{self, CoreSpec, ZoneError, ZoneOptions, Zones};

/// Options of a boot of the model.
#[derive(Clone, Copy)]
pub struct MmOptions {
    pub policy: &'static dyn HolePolicy,
    pub kernelcore: Option<CoreSpec>,
    pub movablecore: Option<CoreSpec>,
    pub vm_debug: VmDebug,
    /// Poison the struct pages memmap init does not initialize (on by default).
    pub poison: bool,
    /// Write every memmap twice as Linux does: poison (or zero) it all when it is attached, then initialize it.
    /// Off by default: memmap init writes the pages it initializes and only the others are poisoned afterwards,
    /// with the same end state (proven by a test on every policy); kept for that test and the benchmarks.
    pub prefill: bool,
    /// Template pages for uniform sections (simulator only).
    pub compressed: bool,
    pub max_physmem_bits: u32,
    /// Print `  Device   empty` in `Zone ranges:` (distribution kernels have CONFIG_ZONE_DEVICE).
    pub zone_device: bool,
    /// Simulator only: a memmap that does not fit in the layout's memory (Linux would fail to boot) is kept
    /// outside the simulated RAM and recorded in [`Mm::unplaced_memmap`] instead of failing the boot.
    pub allow_unplaced_memmap: bool,
    /// `movable_node`: memory the SRAT marks hot-pluggable becomes ZONE_MOVABLE at boot (except on nodes that
    /// hold reserved memory: `numa_clear_kernel_node_hotplug`), and hot-added memory that no zone claims is
    /// onlined movable (`default_zone_for_pfn`).
    pub movable_node: bool,
    /// `deferred_init`: defer the struct pages of each node's highest zone as Linux 6.1 does
    /// (CONFIG_DEFERRED_STRUCT_PAGE_INIT, [`crate::deferred`]); they are then initialized by
    /// [`Mm::deferred_init`]'s workers. Off: every struct page at boot.
    pub deferred_init: bool,
    /// The hand-over fused into memmap init (off by default; the kernel turns it on): memory init, and the deferred workers, write each
    /// page that the boot-time hand-over will give to the buddy allocator in the state the hand-over leaves it in
    /// (`__free_pages_core`'s per-page work: refcount 0, PG_reserved clear) while the page is in cache, and
    /// [`crate::buddy::Buddy::from_boot`] / `free_deferred` then only link max-order chunks, one struct page per
    /// chunk, instead of a second pass over every page (the idea of Linux 6.1's `deferred_init_maxorder`). The
    /// allocator ends in the same state either way (a property test compares them on every policy); what differs
    /// is the memmap between `Mm::boot` and the hand-over: free pages already have refcount 0. Off: Linux's two
    /// passes, each page written by memmap init and again by the hand-over, and an `Mm` without an allocator
    /// shows Linux's memmap before `memblock_free_all` (what the walkers model as `FreeModel::AfterBoot`). On,
    /// the struct pages of free memory must not be rewritten between `Mm::boot` and the hand-over (it trusts
    /// [`Mm::handed`]); the hole primitives' own writes are accounted for.
    pub fuse_handover: bool,
}

impl MmOptions {
    pub fn new(policy: &'static dyn HolePolicy) -> Self {
        MmOptions {
            policy,
            kernelcore: None,
            movablecore: None,
            vm_debug: VmDebug::Warn,
            poison: true,
            prefill: false,
            compressed: false,
            max_physmem_bits: MAX_PHYSMEM_BITS,
            zone_device: false,
            allow_unplaced_memmap: false,
            movable_node: false,
            deferred_init: false,
            fuse_handover: false,
        }
    }
}

/// A failure of [`Mm::boot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MmError {
    Zones(ZoneError),
    Sparse(SparseError),
    Memblock(MemblockError),
    /// `vm_debug=panic` and the pageblock check failed during memmap init.
    VmBug(Violation),
}

impl fmt::Display for MmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmError::Zones(e) => write!(f, "zones: {}", e),
            MmError::Sparse(e) => write!(f, "sparse: {}", e),
            MmError::Memblock(e) => write!(f, "memmap allocation: {}", e),
            MmError::VmBug(v) => write!(f, "{}", v),
        }
    }
}

impl From<ZoneError> for MmError {
    fn from(e: ZoneError) -> Self {
        MmError::Zones(e)
    }
}
impl From<SparseError> for MmError {
    fn from(e: SparseError) -> Self {
        MmError::Sparse(e)
    }
}
impl From<MemblockError> for MmError {
    fn from(e: MemblockError) -> Self {
        MmError::Memblock(e)
    }
}

/// The booted model. See the module documentation.
pub struct Mm {
    pub policy: &'static dyn HolePolicy,
    pub memblock: Memblock,
    pub zones: Zones,
    pub sparse: Sparse,
    pub checker: PageblockChecker,
    /// Linux-format log lines in print order.
    pub lines: Vec<String>,
    /// Hole ranges the policy initialized, with the rule used.
    pub holes: Vec<HoleRange>,
    /// The unavailable-ranges counts the policy printed, in order.
    pub unavailable: Vec<Unavailable>,
    /// Sections whose memmap did not fit in memory (simulator only, see [`MmOptions::allow_unplaced_memmap`]).
    pub unplaced_memmap: Vec<u64>,
    /// Sections with a full memmap / with a template page.
    pub materialized_sections: u64,
    pub uniform_sections: u64,
    pub opts: MmOptions,
    /// Hot-added ranges whose memmap lives on their own first pages (memmap_on_memory): `(start_pfn, pages)`.
    pub memmap_on_memory: Vec<(u64, u64)>,
    /// `max_pfn` at boot: x86_64 probes the memory block size from it once (hot-added memory does not change it).
    pub boot_max_pfn: u64,
    /// Per node `first_deferred_pfn` (`None`: nothing deferred; all `None` without `deferred_init`).
    pub first_deferred_pfn: Vec<Option<u64>>,
    /// The free memory pfn ranges whose struct pages are still to be initialized by [`Mm::deferred_init`]
    /// (empty without `deferred_init`, and once it ran).
    pub deferred: Vec<PendingRange>,
    /// Free memory whose struct pages were written in the hand-over's state ([`MmOptions::fuse_handover`]), sorted
    /// and disjoint; the hand-over consumes it.
    pub handed: Vec<HandedRange>,
}

impl fmt::Debug for Mm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mm(policy {}, {} lines)", self.policy.name(), self.lines.len())
    }
}

/// MEMBLOCK_HOTPLUG as Linux marks it: memory inside the SRAT's hot-pluggable ranges
/// (`acpi_numa_memory_affinity_init` -> `memblock_mark_hotplug`), then cleared again on every node that holds
/// reserved memory, the kernel's own included (`numa_clear_kernel_node_hotplug`).
fn hotpluggable_memory(layout: &Layout) -> Vec<zones::PfnRange> {
    let reserved_nodes: Vec<u32> = layout
        .reserved
        .iter()
        .filter_map(|r| layout.memory.iter().find(|m| m.start_pfn < r.end_pfn && r.start_pfn < m.end_pfn))
        .map(|m| m.nid)
        .collect();
    let mut out = Vec::new();
    for m in layout.memory.iter().filter(|m| !reserved_nodes.contains(&m.nid)) {
        for n in layout.numa.iter().filter(|n| n.hotplug) {
            let (s, e) = (m.start_pfn.max(n.start >> PAGE_SHIFT), m.end_pfn.min(n.end >> PAGE_SHIFT));
            if s < e {
                out.push(zones::PfnRange { start_pfn: s, end_pfn: e });
            }
        }
    }
    out
}

impl Mm {
    /// Runs the pipeline. See the module documentation.
    pub fn boot(layout: &Layout, opts: MmOptions, backing: Box<dyn MemmapBacking + Send>) -> Result<Mm, MmError> {
        let policy = opts.policy;
        let mut memblock = Memblock::from_layout(layout);
        let zone_opts = ZoneOptions {
            kernelcore: opts.kernelcore,
            movablecore: opts.movablecore,
            node_span_align: policy.node_span_align(),
            movable_node: opts.movable_node,
            ..ZoneOptions::default()
        };
        let hotpluggable = if opts.movable_node { hotpluggable_memory(layout) } else { Vec::new() };
        let flags = zones::MemblockFlags { hotpluggable: &hotpluggable, ..Default::default() };
        let mut zones = zones::compute_zones_with(&memblock.memory, layout.nr_node_ids().max(1), &zone_opts, &flags)?;
        policy.adjust_zones(&mut zones, &memblock.memory);

        let mut lines = Vec::new();
        let mut text = String::new();
        let _ = zones::print_zone_ranges(&mut text, &zones, opts.zone_device);
        let _ = zones::print_movable_zone_start(&mut text, &zones);
        let _ = zones::print_early_memory_node_ranges(&mut text, &memblock.memory);
        lines.extend(text.lines().map(String::from));
        let initmem_at = lines.len();
        let mut text = String::new();
        let _ = zones::print_initmem_setup(&mut text, &zones);
        lines.extend(text.lines().map(String::from));

        // sparse_init: sections present, then one memmap buffer per node.
        let mut sparse = Sparse::new(opts.max_physmem_bits, backing);
        sparse.poison = opts.poison;
        sparse.online_checks_subsection = policy.online_page_checks_subsection();
        for r in &memblock.memory {
            sparse.memory_present(r.nid, r.start_pfn, r.end_pfn)?;
        }
        let present: Vec<u64> = sparse.present_sections().collect();
        let mut memmap_phys: Vec<(u64, u64)> = Vec::with_capacity(present.len());
        let mut unplaced = Vec::new();
        let nr_nodes = zones.nodes.len().max(layout.nr_node_ids()).max(1);
        let pages_per_map = MEMMAP_BYTES_PER_SECTION / PAGE_SIZE;
        for nid in 0..nr_nodes as u32 {
            let mine: Vec<u64> =
                present.iter().copied().filter(|&nr| sparse.section(nr).is_some_and(|ms| ms.nid == nid)).collect();
            if mine.is_empty() {
                continue;
            }
            let min_pfn = MAX_DMA_ADDRESS_PFN;
            let buffer = memblock.alloc(
                pages_per_map * mine.len() as u64,
                pages_per_map,
                min_pfn,
                u64::MAX,
                Some(nid),
                true,
                ReserveReason::Memmap,
            );
            match buffer {
                Ok(base) => {
                    for (i, &nr) in mine.iter().enumerate() {
                        memmap_phys.push((nr, (base + i as u64 * pages_per_map) << PAGE_SHIFT));
                    }
                }
                Err(_) => {
                    for &nr in &mine {
                        let pfn = memblock.alloc(
                            pages_per_map,
                            pages_per_map,
                            min_pfn,
                            u64::MAX,
                            Some(nid),
                            false,
                            ReserveReason::Memmap,
                        );
                        // A tiny machine has no 2 MiB above 16 MiB: take any page-aligned memory.
                        let pfn = pfn.or_else(|_| {
                            memblock.alloc(pages_per_map, 1, 0, u64::MAX, Some(nid), false, ReserveReason::Memmap)
                        });
                        match pfn {
                            Ok(pfn) => memmap_phys.push((nr, pfn << PAGE_SHIFT)),
                            Err(_) if opts.allow_unplaced_memmap => {
                                unplaced.push(nr);
                                memmap_phys.push((nr, 0));
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            }
        }
        memmap_phys.sort_unstable();

        let (mut materialized, mut uniform) = (0, 0);
        for &(nr, phys) in &memmap_phys {
            if opts.compressed && section_is_uniform(&memblock, &zones, nr) {
                sparse.init_section_uniform(nr, phys, true)?;
                uniform += 1;
            } else if opts.prefill {
                sparse.init_section_memmap(nr, phys, true)?;
                materialized += 1;
            } else {
                sparse.attach_unfilled(nr, phys, true)?;
                materialized += 1;
            }
        }

        let mut checker = PageblockChecker::new(opts.vm_debug, policy.tolerates_reserved());
        // Deferred struct page init: which memory pfns memmap init leaves to the workers (holes never).
        let (first_deferred_pfn, defer) = if opts.deferred_init {
            let calls = crate::deferred::memmap_init_calls(&memblock.memory, &zones);
            let plan = crate::deferred::plan(&calls, zones.nodes.len(), |nid| {
                zones.nodes.get(nid as usize).map_or(0, |n| n.node_end_pfn())
            });
            let mut defer: Vec<(u64, u64)> =
                (0..zones.nodes.len() as u32).flat_map(|nid| plan.deferred_ranges(&calls, nid)).collect();
            defer.sort_unstable();
            (plan.first_deferred_pfn, defer)
        } else {
            (alloc::vec![None; zones.nodes.len()], Vec::new())
        };
        let mut pending: Vec<PendingRange> = Vec::new();
        let mut holes = Vec::new();
        let mut unavailable = Vec::new();
        let max_pfn = memblock.memory.last().map_or(0, |r| r.end_pfn);
        let mut written = Vec::new();
        let (mut handed, mut hole_written) = (Vec::new(), Vec::new());
        {
            let mut cx = InitCtx {
                sparse: &mut sparse,
                written: &mut written,
                zones: &zones,
                memory: &memblock.memory,
                checker: &mut checker,
                lines: &mut lines,
                initmem_at,
                holes: &mut holes,
                unavailable: &mut unavailable,
                max_pfn,
                defer: &defer,
                pending: &mut pending,
                fuse_reserved: opts.fuse_handover.then_some(&memblock.reserved[..]),
                handed: &mut handed,
                hole_written: &mut hole_written,
            };
            policy.memmap_init(&mut cx).map_err(MmError::VmBug)?;
        }
        // Single-pass init: what the policy did not initialize is poisoned (or zeroed) now, never written twice;
        // but the deferred pages of whole MAX_ORDER blocks stay unwritten until the workers write them, as Linux
        // leaves its deferred struct pages alone (see `Sparse::fill_unwritten`).
        let mut left = Vec::new();
        for r in &pending {
            let block = 1u64 << MAX_PAGE_ORDER;
            let (a, b) = (align_up(r.start_pfn, block), r.end_pfn & !(block - 1));
            if a < b {
                left.push((a, b));
            }
        }
        sparse.fill_unwritten(&mut written, &left);
        // A page a hole primitive wrote after memory init holds what that primitive wrote: the hand-over visits it.
        let handed = crate::memmap::subtract_written(handed, hole_written);

        // reserve_bootmem_region -> init_reserved_page: a reserved page among the deferred ones is initialized now
        // (without its pageblock's migratetype, as in Linux); the workers get the free ones.
        let pending = deferred::init_reserved_pending(&mut sparse, &memblock, pending);
        reserve_bootmem_regions(&memblock, &mut sparse);
        set_managed_pages(&memblock, &mut zones);

        let boot_max_pfn = zones.max_pfn;
        Ok(Mm {
            policy,
            memblock,
            zones,
            sparse,
            checker,
            lines,
            holes,
            unavailable,
            unplaced_memmap: unplaced,
            materialized_sections: materialized,
            uniform_sections: uniform,
            opts,
            memmap_on_memory: Vec::new(),
            boot_max_pfn,
            first_deferred_pfn,
            deferred: pending,
            handed,
        })
    }

    /// Bytes of memmap the layout costs (2 MiB per section with memory), whatever the mode.
    pub fn memmap_bytes(&self) -> u64 {
        self.sparse.valid_sections().count() as u64 * MEMMAP_BYTES_PER_SECTION
    }

    /// Bytes of memmap actually allocated in this process (less in compressed mode).
    pub fn memmap_bytes_resident(&self) -> u64 {
        self.materialized_sections * MEMMAP_BYTES_PER_SECTION + self.uniform_sections * 64
    }

    /// A human-readable description of a pfn: section, validity, links, flags, the hole rule.
    pub fn describe_pfn(&self, pfn: u64) -> String {
        let nr = pfn_to_section_nr(pfn);
        let mut s = format!("pfn {:#x} (section {}, subsection {})", pfn, nr, crate::sparse::subsection_index(pfn));
        if !self.sparse.pfn_valid(pfn) {
            s.push_str(": !pfn_valid, no struct page");
            return s;
        }
        let memory = self.memblock.nid_of(pfn);
        match self.sparse.pfn_to_page(pfn).map(|p| (p, p.links(pfn))) {
            Some((_, Err(e))) => s.push_str(&format!(": {}", e)),
            Some((p, Ok(l))) => {
                let zname = crate::zones::ZoneType::from_index(l.zone as usize).map_or("?", |z| z.name());
                s.push_str(&format!(
                    ": {} node {} zone {}{} refcount {}",
                    if memory.is_some() { "memory" } else { "hole" },
                    l.nid,
                    zname,
                    if p.test_flag(pg::RESERVED) { " PG_reserved" } else { "" },
                    p.refcount
                ));
                if let Some(h) = self.holes.iter().rev().find(|h| h.start_pfn <= pfn && pfn < h.end_pfn) {
                    s.push_str(&format!("; rule: {}", h.rule));
                }
            }
            None => s.push_str(": no memmap"),
        }
        s
    }
}

/// `__pa(MAX_DMA_ADDRESS)` as a pfn: memmap buffers are allocated above 16 MiB.
const MAX_DMA_ADDRESS_PFN: u64 = 0x1000;

/// Whether all pages of section `nr` will be alike after init: inside one memory range, one zone of its node,
/// and reserved wholly or not at all.
fn section_is_uniform(memblock: &Memblock, zones: &Zones, nr: u64) -> bool {
    let (s, e) = (section_nr_to_pfn(nr), section_nr_to_pfn(nr + 1));
    let i = memblock.memory.partition_point(|r| r.end_pfn <= s);
    let Some(r) = memblock.memory.get(i) else { return false };
    if r.start_pfn > s || r.end_pfn < e {
        return false;
    }
    let (Some(z1), Some(z2)) = (zones.zone_for_pfn(r.nid, s), zones.zone_for_pfn(r.nid, e - 1)) else {
        return false;
    };
    if z1 != z2 || zones.zone(r.nid, z1).is_none_or(|z| z.zone_start_pfn > s || z.zone_end_pfn() < e) {
        return false;
    }
    let reserved = memblock.reserved_pages_in(s, e);
    reserved == 0 || reserved == e - s
}

/// `memmap_init_reserved_pages` / `reserve_bootmem_region`: every pfn_valid page in memblock.reserved gets
/// PG_reserved.
fn reserve_bootmem_regions(memblock: &Memblock, sparse: &mut Sparse) {
    for r in &memblock.reserved {
        let mut pfn = r.start_pfn;
        while pfn < r.end_pfn {
            let nr = pfn_to_section_nr(pfn);
            let sec_end = section_nr_to_pfn(nr + 1).min(r.end_pfn);
            if sparse.section(nr).is_some_and(|ms| ms.uniform()) {
                if pfn == section_nr_to_pfn(nr) && sec_end == section_nr_to_pfn(nr + 1) {
                    if let Some(t) = sparse.uniform_template_mut(nr) {
                        t.set_flag(pg::RESERVED);
                    }
                    pfn = sec_end;
                    continue;
                }
                let _ = sparse.materialize(nr);
            }
            for p in pfn..sec_end {
                if sparse.pfn_valid(p) {
                    if let Some(page) = sparse.pfn_to_page_mut(p) {
                        if !page.is_poisoned() {
                            page.set_flag(pg::RESERVED);
                        }
                    }
                }
            }
            pfn = sec_end;
        }
    }
}

/// managed_pages = present - reserved memory pages within the zone (for ZONE_MOVABLE: above zone_movable_pfn).
fn set_managed_pages(memblock: &Memblock, zones: &mut Zones) {
    for node in zones.nodes.iter_mut() {
        for z in node.zones.iter_mut() {
            if z.present_pages == 0 {
                z.managed_pages = 0;
                continue;
            }
            let reserved = memblock.reserved_memory_pages(z.nid, z.zone_start_pfn, z.zone_end_pfn());
            z.managed_pages = z.present_pages.saturating_sub(reserved);
        }
    }
}
