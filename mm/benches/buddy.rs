//! `mm::buddy` against two references on the same 1,024,000 frames: the floor, the simplest Linux-style buddy
//! over a 64-byte page array (`support/floor.rs`: one zone, no lock, no migratetypes, no checks), and
//! buddy_system_allocator 0.13's `FrameAllocator` (the frame allocator Rust kernels pick; max order 10 for all,
//! `FrameAllocator<11>`):
//! - fill: 1,024,000 order-0 allocations;
//! - random free: free them in a fixed-seed random order;
//! - LIFO free: free them in reverse allocation order;
//! - churn: 2M operations at about 50% occupancy, 50% alloc / 50% free, order k with probability 2^-(k+1).
//!
//! mm::buddy runs twice: its locked path (`alloc_pages` / `free_pages`, every call checked) and through one
//! CPU's per-CPU lists (`alloc_pages_pcp` / `free_pages_pcp`, Linux's fast path for orders 0-3 and 9).
//!
//! The memmap of the simulated RAM is mapped with transparent huge pages (`MADV_HUGEPAGE`), as the kernel's
//! direct map is; with 4 KiB pages every random struct page access would also pay a TLB miss.
//!
//! After each scenario every frame must be free again and the 1,000 max-order blocks restored (checked for
//! every allocator). The printed summary is measured interleaved (mm-buddy, the floor, the crate, ROUNDS times,
//! medians) and gives ns/op and the ratios; criterion then measures each on its own.
//!
//! Run: `cargo bench -p mm --bench buddy` (about a minute).

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use buddy_system_allocator::FrameAllocator;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use mm::buddy::Buddy;
use mm::consts::*;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy;
use mm::sparse::{migratetype, MemmapBacking};
use mm::zones::ZoneType;

#[path = "support/floor.rs"]
mod floor;

const FRAMES: u64 = 1_024_000;
const BASE: u64 = 0x100000;
const CHURN_OPS: usize = 2_000_000;
const ROUNDS: usize = 5;
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Memmap memory aligned to 2 MiB and advised to be backed by transparent huge pages.
struct HugeBacking;

impl HugeBacking {
    fn layout(bytes: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(bytes.max(1), 2 << 20).unwrap()
    }
}

impl MemmapBacking for HugeBacking {
    fn map(&mut self, _phys: u64, bytes: usize) -> Option<NonNull<u8>> {
        // SAFETY: the layout has a non-zero size.
        let p = NonNull::new(unsafe { std::alloc::alloc(Self::layout(bytes)) })?;
        // SAFETY: `p` is a live allocation of `bytes` bytes; madvise only changes how it is backed (and an error
        // leaves it as it was).
        unsafe { libc::madvise(p.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE) };
        Some(p)
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, bytes: usize) {
        // SAFETY: the caller passes what `map` returned for `bytes`, allocated with this same layout.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), Self::layout(bytes)) }
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
    /// Order k with probability 2^-(k+1) (k = 10 takes the rest).
    fn order(&mut self) -> u32 {
        (self.next().trailing_ones()).min(MAX_PAGE_ORDER)
    }
}

fn shuffled(v: &mut [u64], seed: u64) {
    let mut r = Rng(seed);
    for i in (1..v.len()).rev() {
        v.swap(i, r.below(i + 1));
    }
}

/// The two allocators behind one interface, so every scenario runs the same code on both.
trait Frames {
    fn alloc(&mut self, order: u32) -> Option<u64>;
    fn free(&mut self, pfn: u64, order: u32);
    /// All frames free and FRAMES / 1024 max-order blocks.
    fn assert_restored(&mut self);
}

struct Ours {
    mm: Mm,
    b: Buddy,
}

impl Ours {
    fn new() -> Ours {
        // The memmap of the 32 sections takes 32 * 512 pages at the top: exactly FRAMES remain, all in ZONE_NORMAL.
        let memmap = FRAMES.div_ceil(PAGES_PER_SECTION) * 512;
        let end = BASE + FRAMES + memmap;
        let layout = Layout::from_memory_ranges(&[MemRange { start_pfn: BASE, end_pfn: end, nid: 0 }]).unwrap();
        let opts = MmOptions::new(policy::by_name("upstream").unwrap());
        let mut mm = Mm::boot(&layout, opts, Box::new(HugeBacking)).unwrap();
        let b = Buddy::from_boot(&mut mm).unwrap();
        assert_eq!(b.total_managed_pages(), FRAMES);
        b.check(&mm).unwrap();
        Ours { mm, b }
    }
}

impl Frames for Ours {
    #[inline]
    fn alloc(&mut self, order: u32) -> Option<u64> {
        self.b.alloc_pages(&mut self.mm, order, ZoneType::Normal, 0, migratetype::MOVABLE).ok()
    }
    #[inline]
    fn free(&mut self, pfn: u64, order: u32) {
        let r = self.b.free_pages(&mut self.mm, pfn, order);
        debug_assert!(r.is_ok());
        black_box(r).ok();
    }
    fn assert_restored(&mut self) {
        let c = self.b.zone_counts(0, ZoneType::Normal).unwrap();
        assert_eq!(c.free_pages, FRAMES);
        assert_eq!(c.nr_free[MAX_PAGE_ORDER as usize], FRAMES >> MAX_PAGE_ORDER);
    }
}

/// mm::buddy through one CPU's per-CPU lists (`alloc_pages_pcp` / `free_pages_pcp`), sized as Linux sizes them
/// for this zone with one CPU (batch 63, high = the low watermark), on a shared `Allocator` held for the run.
struct OursPcp {
    al: mm::buddy::Allocator<'static>,
    b: &'static Buddy,
    pcp: mm::buddy::PcpSet,
}

impl OursPcp {
    fn new() -> OursPcp {
        let Ours { mm, b } = Ours::new();
        let lows = mm::procfs::low_watermarks(&mm, &b);
        let pcp = b.pcp_sets(&lows, &[0]).remove(0);
        let (mm, b): (&'static mut Mm, &'static Buddy) = (Box::leak(Box::new(mm)), Box::leak(Box::new(b)));
        OursPcp { al: b.shared(mm), b, pcp }
    }
}

impl Frames for OursPcp {
    #[inline]
    fn alloc(&mut self, order: u32) -> Option<u64> {
        self.al.alloc_pages_pcp(&mut self.pcp, order, ZoneType::Normal, 0, migratetype::MOVABLE).ok()
    }
    #[inline]
    fn free(&mut self, pfn: u64, order: u32) {
        // SAFETY: every scenario frees each block it allocated once, with its order.
        let r = unsafe { self.al.free_pages_pcp(&mut self.pcp, pfn, order) };
        debug_assert!(r.is_ok());
        black_box(r).ok();
    }
    fn assert_restored(&mut self) {
        self.al.drain_pcp(&mut self.pcp).unwrap();
        let z = self.pcp.zone(0, ZoneType::Normal).unwrap();
        assert_eq!(z.count, 0);
        let c = self.b.zone_counts(0, ZoneType::Normal).unwrap();
        assert_eq!(c.free_pages, FRAMES);
        assert_eq!(c.nr_free[MAX_PAGE_ORDER as usize], FRAMES >> MAX_PAGE_ORDER);
    }
}

struct Reference(FrameAllocator<11>);

impl Reference {
    fn new() -> Reference {
        let mut f = FrameAllocator::<11>::new();
        f.add_frame(BASE as usize, (BASE + FRAMES) as usize);
        Reference(f)
    }
}

impl Frames for Reference {
    #[inline]
    fn alloc(&mut self, order: u32) -> Option<u64> {
        self.0.alloc(1 << order).map(|f| f as u64)
    }
    #[inline]
    fn free(&mut self, pfn: u64, order: u32) {
        self.0.dealloc(pfn as usize, 1 << order)
    }
    fn assert_restored(&mut self) {
        let mut blocks = Vec::new();
        while let Some(f) = self.0.alloc(1 << MAX_PAGE_ORDER) {
            blocks.push(f);
        }
        assert_eq!(blocks.len() as u64, FRAMES >> MAX_PAGE_ORDER);
        assert!(self.0.alloc(1).is_none(), "all memory was in max-order blocks");
        for f in blocks {
            self.0.dealloc(f, 1 << MAX_PAGE_ORDER);
        }
    }
}

impl Frames for floor::Floor {
    #[inline]
    fn alloc(&mut self, order: u32) -> Option<u64> {
        floor::Floor::alloc(self, order)
    }
    #[inline]
    fn free(&mut self, pfn: u64, order: u32) {
        floor::Floor::free(self, pfn, order)
    }
    fn assert_restored(&mut self) {
        assert_eq!(self.max_order_blocks(), FRAMES >> MAX_PAGE_ORDER);
        assert_eq!(self.nonempty(), 1 << MAX_PAGE_ORDER, "only max-order blocks are free");
    }
}

#[derive(Clone, Copy)]
enum Scenario {
    Fill,
    RandomFree,
    LifoFree,
    Churn,
}

impl Scenario {
    const ALL: [Scenario; 4] = [Scenario::Fill, Scenario::RandomFree, Scenario::LifoFree, Scenario::Churn];
    fn name(self) -> &'static str {
        match self {
            Scenario::Fill => "fill_order0",
            Scenario::RandomFree => "random_free",
            Scenario::LifoFree => "lifo_free",
            Scenario::Churn => "churn_2M",
        }
    }
    fn ops(self) -> u64 {
        match self {
            Scenario::Churn => CHURN_OPS as u64,
            _ => FRAMES,
        }
    }
}

fn fill<F: Frames>(f: &mut F, pfns: &mut Vec<u64>) {
    pfns.clear();
    while let Some(p) = f.alloc(0) {
        pfns.push(p);
    }
    assert_eq!(pfns.len() as u64, FRAMES);
}

/// Runs one scenario on `f` and returns the time of its measured part; leaves `f` as it found it (all free).
fn run<F: Frames>(f: &mut F, s: Scenario, pfns: &mut Vec<u64>, live: &mut Vec<(u64, u32)>) -> Duration {
    let d = match s {
        Scenario::Fill => {
            let t = Instant::now();
            fill(f, pfns);
            let d = t.elapsed();
            for &p in pfns.iter() {
                f.free(p, 0);
            }
            d
        }
        Scenario::RandomFree => {
            fill(f, pfns);
            shuffled(pfns, SEED);
            let t = Instant::now();
            for &p in pfns.iter() {
                f.free(p, 0);
            }
            t.elapsed()
        }
        Scenario::LifoFree => {
            fill(f, pfns);
            let t = Instant::now();
            for &p in pfns.iter().rev() {
                f.free(p, 0);
            }
            t.elapsed()
        }
        Scenario::Churn => {
            let mut r = Rng(SEED);
            live.clear();
            let half = FRAMES / 2;
            let mut used = 0u64;
            while used < half {
                let o = r.order();
                if let Some(p) = f.alloc(o) {
                    live.push((p, o));
                    used += 1 << o;
                }
            }
            let t = Instant::now();
            for _ in 0..CHURN_OPS {
                // 50/50, steered back when occupancy leaves [45%, 55%].
                let coin = r.next() & 1 == 0;
                let alloc = (coin && used < half + half / 10) || used < half - half / 10 || live.is_empty();
                if alloc {
                    let o = r.order();
                    if let Some(p) = f.alloc(o) {
                        live.push((p, o));
                        used += 1 << o;
                    }
                } else {
                    let (p, o) = live.swap_remove(r.below(live.len()));
                    f.free(p, o);
                    used -= 1 << o;
                }
            }
            let d = t.elapsed();
            for &(p, o) in live.iter() {
                f.free(p, o);
            }
            d
        }
    };
    f.assert_restored();
    d
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench_buddy(c: &mut Criterion) {
    let mut ours = Ours::new();
    let mut pcp = OursPcp::new();
    let mut reference = Reference::new();
    let mut fl = floor::Floor::new(BASE, FRAMES);
    let mut pfns = Vec::with_capacity(FRAMES as usize);
    let mut live = Vec::with_capacity(FRAMES as usize);

    // Interleaved summary (skipped under criterion's `--profile-time`, which profiles one benchmark on its own).
    let profiling = std::env::args().any(|a| a == "--profile-time");
    for s in Scenario::ALL.into_iter().filter(|_| !profiling) {
        let (mut a, mut p, mut f, mut b) = (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            a.push(run(&mut ours, s, &mut pfns, &mut live).as_nanos() as f64 / s.ops() as f64);
            p.push(run(&mut pcp, s, &mut pfns, &mut live).as_nanos() as f64 / s.ops() as f64);
            f.push(run(&mut fl, s, &mut pfns, &mut live).as_nanos() as f64 / s.ops() as f64);
            b.push(run(&mut reference, s, &mut pfns, &mut live).as_nanos() as f64 / s.ops() as f64);
        }
        let (a, p, f, b) = (median(&mut a), median(&mut p), median(&mut f), median(&mut b));
        for (name, x) in [("mm::buddy", a), ("mm::buddy+pcp", p)] {
            println!(
                "buddy {:<12} {:<13} {:>7.1} ns/op | floor {:>7.1} ns/op | buddy_system_allocator {:>7.1} ns/op | {:.2}x of floor, {:.1}x faster than bsa",
                s.name(),
                name,
                x,
                f,
                b,
                x / f,
                b / x
            );
        }
    }
    ours.b.check(&ours.mm).unwrap();

    let mut g = c.benchmark_group("buddy");
    g.sample_size(10).sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for s in Scenario::ALL {
        g.throughput(Throughput::Elements(s.ops()));
        g.bench_function(format!("{}/mm-buddy", s.name()), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&mut ours, s, &mut pfns, &mut live)).sum())
        });
        g.bench_function(format!("{}/mm-buddy-pcp", s.name()), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&mut pcp, s, &mut pfns, &mut live)).sum())
        });
        g.bench_function(format!("{}/floor", s.name()), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&mut fl, s, &mut pfns, &mut live)).sum())
        });
        g.bench_function(format!("{}/buddy_system_allocator", s.name()), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&mut reference, s, &mut pfns, &mut live)).sum())
        });
    }
    g.finish();
    ours.b.check(&ours.mm).unwrap();
}

criterion_group!(benches, bench_buddy);
criterion_main!(benches);
