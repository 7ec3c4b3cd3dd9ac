//! Memmap init through the real `Mm::boot` path (full mode, poison off, the `upstream` policy) for 1,024,000
//! and 16,777,216 pages, and memmap init plus the hand-over of every page to the buddy allocator
//! (`Buddy::from_boot`; fused into memmap init as the kernel boots, and in Linux's two passes), each against an
//! in-process reference measured in the same run: filling the same memmap bytes with a non-zero 64-byte pattern
//! (pre-touched memory).
//!
//! Two memmap backings: `HeapBacking` (the simulator's: 2 MiB chunks from the global allocator, so a boot may
//! pay page faults for memory the allocator returned to the kernel) and `pool` (a bench-local backing that
//! recycles pre-touched 2 MiB chunks, like the kernel's direct map). The printed summary is measured
//! interleaved (reference, pool, heap, pool + hand-over, one after the other, ROUNDS times) and gives
//! ns/page and the ratio to the reference; criterion then measures each variant on its own.
//!
//! Run: `cargo bench -p mm --bench memmap` (a few minutes at most; `-- <filter>` for one size).

use std::alloc::{alloc, dealloc, Layout as AllocLayout};
use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use mm::buddy::Buddy;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy;
use mm::sparse::{HeapBacking, MemmapBacking, MEMMAP_BYTES_PER_SECTION};

const SIZES: [u64; 2] = [1_024_000, 16_777_216];
/// Extra sizes of the printed summary only (for the plot of ns/page against pages).
const PLOT_SIZES: [u64; 3] = [131_072, 4_194_304, 8_388_608];
const ROUNDS: usize = 5;

/// A memmap backing that keeps 2 MiB chunks, touched once, and hands them out again.
#[derive(Clone, Default)]
struct PoolBacking {
    free: Arc<Mutex<Vec<usize>>>,
}

const CHUNK: usize = MEMMAP_BYTES_PER_SECTION as usize;

impl MemmapBacking for PoolBacking {
    fn map(&mut self, _phys: u64, bytes: usize) -> Option<NonNull<u8>> {
        if bytes != CHUNK {
            // Template pages of compressed mode (not used here).
            return HeapBacking.map(0, bytes);
        }
        if let Some(p) = self.free.lock().unwrap().pop() {
            return NonNull::new(p as *mut u8);
        }
        let layout = AllocLayout::from_size_align(CHUNK, 64).ok()?;
        // SAFETY: non-zero size.
        let p = NonNull::new(unsafe { alloc(layout) })?;
        // SAFETY: `p` is CHUNK writable bytes; touching them now is the point of the pool.
        unsafe { p.as_ptr().write_bytes(0x5a, CHUNK) };
        Some(p)
    }

    unsafe fn unmap(&mut self, ptr: NonNull<u8>, bytes: usize) {
        if bytes != CHUNK {
            // SAFETY: forwarded from the caller's contract; it came from HeapBacking::map above.
            return unsafe { HeapBacking.unmap(ptr, bytes) };
        }
        self.free.lock().unwrap().push(ptr.as_ptr() as usize);
    }
}

impl PoolBacking {
    fn release(&self) {
        let layout = AllocLayout::from_size_align(CHUNK, 64).unwrap();
        for p in self.free.lock().unwrap().drain(..) {
            // SAFETY: every pooled pointer came from `alloc(layout)` and no memmap refers to it any more.
            unsafe { dealloc(p as *mut u8, layout) };
        }
    }
}

fn layout(pages: u64) -> Layout {
    Layout::from_memory_ranges(&[MemRange { start_pfn: 0x100000, end_pfn: 0x100000 + pages, nid: 0 }]).unwrap()
}

fn opts() -> MmOptions {
    let mut o = MmOptions::new(policy::by_name("upstream").unwrap());
    o.poison = false;
    o
}

fn boot(l: &Layout, backing: Box<dyn MemmapBacking + Send>) -> (Duration, Mm) {
    let t = Instant::now();
    let mm = Mm::boot(l, opts(), backing).unwrap();
    (t.elapsed(), mm)
}

/// Boot and hand-over: fused (`MmOptions::fuse_handover`, as the kernel boots) or Linux's two passes.
fn boot_and_hand_over(l: &Layout, pool: &PoolBacking, fused: bool) -> (Duration, Mm, Buddy) {
    let mut o = opts();
    o.fuse_handover = fused;
    let t = Instant::now();
    let mut mm = Mm::boot(l, o, Box::new(pool.clone())).unwrap();
    let b = Buddy::from_boot(&mut mm).unwrap();
    (t.elapsed(), mm, b)
}

/// The reference: the same number of 64-byte structs written with a non-zero pattern.
fn fill(buf: &mut [[u64; 8]]) -> Duration {
    let pattern: [u64; 8] = black_box([0x0400_0000_0000_1000, 1, 1, 0, 0, 0, 0x0000_0001_ffff_ffff, 0]);
    let t = Instant::now();
    for s in buf.iter_mut() {
        *s = pattern;
    }
    black_box(&buf[buf.len() / 2]);
    t.elapsed()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn interleaved_summary(pages: u64, pool: &PoolBacking) -> (u64, f64, f64, f64) {
    let l = layout(pages);
    let structs = {
        let (_, mm) = boot(&l, Box::new(pool.clone()));
        (mm.memmap_bytes_resident() / 64) as usize
    };
    let mut buf = vec![[1u64; 8]; structs]; // pre-touched
    let (mut r, mut p, mut h, mut b, mut t) = (vec![], vec![], vec![], vec![], vec![]);
    let per = |d: Duration| d.as_nanos() as f64 / pages as f64;
    for _ in 0..ROUNDS {
        r.push(per(fill(&mut buf)));
        let (d, mm) = boot(&l, Box::new(pool.clone()));
        p.push(per(d));
        drop(mm);
        let (d, mm) = boot(&l, Box::new(HeapBacking));
        h.push(per(d));
        drop(mm);
        for (fused, v) in [(true, &mut b), (false, &mut t)] {
            let (d, mm, buddy) = boot_and_hand_over(&l, pool, fused);
            assert_eq!(buddy.total_free_pages(), buddy.total_managed_pages());
            v.push(per(d));
            drop(mm);
        }
    }
    let (r, p, h, b, t) = (median(&mut r), median(&mut p), median(&mut h), median(&mut b), median(&mut t));
    println!(
        "memmap {:>10} pages ({} struct pages): fill reference {:.2} ns/page | Mm::boot pool {:.2} ns/page \
         (ratio {:.2}) | Mm::boot HeapBacking {:.2} ns/page (ratio {:.2}) | boot + buddy hand-over {:.2} ns/page \
         (ratio {:.2}; two passes {:.2}, ratio {:.2})",
        pages,
        structs,
        r,
        p,
        p / r,
        h,
        h / r,
        b,
        b / r,
        t,
        t / r
    );
    (pages, r, p, b)
}

/// An ASCII plot of ns/page against pages (log scale): `f` fill reference, `m` Mm::boot, `b` boot + hand-over.
fn plot(points: &mut [(u64, f64, f64, f64)]) {
    points.sort_by_key(|p| p.0);
    let max = points.iter().map(|p| p.3).fold(0.0f64, f64::max).ceil().max(1.0);
    const ROWS: usize = 12;
    println!(
        "memmap plot: ns/page (rows) against pages (columns, log scale); f = fill, m = Mm::boot, b = boot + hand-over"
    );
    for row in (0..=ROWS).rev() {
        let y = max * row as f64 / ROWS as f64;
        let mut line = format!("{:>6.2} |", y);
        for p in points.iter() {
            let cell = |v: f64| ((v / max) * ROWS as f64).round() as usize == row;
            let c = if cell(p.3) {
                'b'
            } else if cell(p.2) {
                'm'
            } else if cell(p.1) {
                'f'
            } else {
                ' '
            };
            line.push_str(&format!("    {}     ", c));
        }
        println!("{}", line.trim_end());
    }
    let mut axis = String::from("       +");
    let mut labels = String::from("        ");
    for p in points.iter() {
        axis.push_str("----------");
        labels.push_str(&format!("{:^10}", p.0));
    }
    println!("{}\n{}", axis, labels);
}

fn bench_memmap(c: &mut Criterion) {
    let pool = PoolBacking::default();
    let mut points = Vec::new();
    for &pages in PLOT_SIZES.iter().chain(SIZES.iter()) {
        points.push(interleaved_summary(pages, &pool));
    }
    plot(&mut points);
    for &pages in &SIZES {
        let l = layout(pages);
        let mut g = c.benchmark_group(format!("memmap_{}", pages));
        g.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(pages));
        g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        let structs = {
            let (_, mm) = boot(&l, Box::new(pool.clone()));
            (mm.memmap_bytes_resident() / 64) as usize
        };
        let mut buf = vec![[1u64; 8]; structs];
        g.bench_function("fill_reference", |bn| bn.iter_custom(|n| (0..n).map(|_| fill(&mut buf)).sum()));
        drop(buf);
        g.bench_function("mm_boot_pool", |bn| {
            bn.iter_custom(|n| (0..n).map(|_| boot(&l, Box::new(pool.clone())).0).sum())
        });
        g.bench_function("mm_boot_heap", |bn| {
            bn.iter_custom(|n| (0..n).map(|_| boot(&l, Box::new(HeapBacking)).0).sum())
        });
        g.bench_function("mm_boot_plus_buddy_handover", |bn| {
            bn.iter_custom(|n| (0..n).map(|_| boot_and_hand_over(&l, &pool, true).0).sum())
        });
        g.bench_function("mm_boot_plus_buddy_handover_two_passes", |bn| {
            bn.iter_custom(|n| (0..n).map(|_| boot_and_hand_over(&l, &pool, false).0).sum())
        });
        g.finish();
    }
    pool.release();
}

criterion_group!(benches, bench_memmap);
criterion_main!(benches);
