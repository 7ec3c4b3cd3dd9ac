//! Parallel deferred struct page init (`Mm::deferred_init`, the workers of Linux's `deferred_init_memmap` with
//! padata's chunking): one node of 16,777,216 pages (64 GiB) booted with `deferred_init`, whose deferred pages
//! (all but the first section of its highest zone) are then initialized by 1 and by 2 std threads taking padata
//! chunks from a shared index. The summary is measured interleaved (1 thread, 2 threads, ROUNDS times, medians)
//! and gives ns/page and the speedup of 2 threads over 1 in the same run, beside the same speedup of a plain fill
//! of the same bytes (the memory-bandwidth bound); criterion then measures each alone.
//!
//! Run: `cargo bench -p mm --bench deferred`.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy;
use mm::sparse::HeapBacking;

const PAGES: u64 = 16_777_216;
const ROUNDS: usize = 5;

fn boot() -> Mm {
    // DMA and DMA32 below 4 GiB, the rest Normal: Normal is deferred after its first section.
    let layout = Layout::from_memory_ranges(&[
        MemRange { start_pfn: 1, end_pfn: 0x9f, nid: 0 },
        MemRange { start_pfn: 0x100, end_pfn: 0xc0000, nid: 0 },
        MemRange { start_pfn: 0x100000, end_pfn: 0x100000 + PAGES - 0xc0000, nid: 0 },
    ])
    .expect("layout");
    let mut o = MmOptions::new(policy::by_name("upstream").expect("policy"));
    o.deferred_init = true;
    o.poison = false;
    Mm::boot(&layout, o, Box::new(HeapBacking)).expect("boot")
}

/// One run of every deferred chunk on `threads` threads; the pending list stays (no `deferred_done`), so the
/// same pages are initialized again by the next run. Returns the pages written.
fn run(mm: &mut Mm, threads: usize) -> u64 {
    let d = mm.deferred_init();
    let chunks: Vec<(u32, u64, u64)> =
        d.jobs().iter().flat_map(|j| d.chunks(j, threads as u64).into_iter().map(|(a, b)| (j.nid, a, b))).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(nid, a, b)) = chunks.get(i) else { break };
                black_box(d.run_chunk(nid, a, b).expect("warn mode"));
            });
        }
    });
    d.written()
}

/// The in-process reference: the same bytes (one 64-byte page per pfn) filled with a non-zero pattern by
/// `threads` threads, each its own contiguous half: the memory bandwidth the workers can have at best.
fn fill(buf: &mut [[u64; 8]], threads: usize) {
    let per = buf.len().div_ceil(threads);
    std::thread::scope(|s| {
        for part in buf.chunks_mut(per) {
            s.spawn(move || {
                for (i, p) in part.iter_mut().enumerate() {
                    *p = [i as u64 | 1; 8];
                }
                black_box(part.len());
            });
        }
    });
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench_deferred(c: &mut Criterion) {
    let mut mm = boot();
    let pending: u64 = mm.deferred.iter().map(|r| r.end_pfn - r.start_pfn).sum();
    let (mut one, mut two) = (Vec::new(), Vec::new());
    let (mut f1, mut f2) = (Vec::new(), Vec::new());
    let mut buf = vec![[0u64; 8]; pending as usize];
    run(&mut mm, 1); // warm the memmap
    fill(&mut buf, 1);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        fill(&mut buf, 1);
        f1.push(t.elapsed().as_nanos() as f64 / pending as f64);
        let t = Instant::now();
        fill(&mut buf, 2);
        f2.push(t.elapsed().as_nanos() as f64 / pending as f64);
        let t = Instant::now();
        assert_eq!(run(&mut mm, 1), pending);
        one.push(t.elapsed().as_nanos() as f64 / pending as f64);
        let t = Instant::now();
        assert_eq!(run(&mut mm, 2), pending);
        two.push(t.elapsed().as_nanos() as f64 / pending as f64);
    }
    let (m1, m2) = (median(one), median(two));
    let (r1, r2) = (median(f1), median(f2));
    println!(
        "deferred init {} pages ({} deferred): 1 thread {:.2} ns/page | 2 threads {:.2} ns/page | speedup {:.2}x",
        PAGES,
        pending,
        m1,
        m2,
        m1 / m2
    );
    println!(
        "fill reference, same bytes: 1 thread {:.2} ns/page | 2 threads {:.2} ns/page | speedup {:.2}x (the bandwidth bound)",
        r1,
        r2,
        r1 / r2
    );
    let mut g = c.benchmark_group("deferred");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(pending));
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(4));
    for threads in [1usize, 2] {
        g.bench_function(format!("{threads}_threads"), |b| b.iter(|| run(&mut mm, threads)));
    }
    g.finish();
}

criterion_group!(benches, bench_deferred);
criterion_main!(benches);
