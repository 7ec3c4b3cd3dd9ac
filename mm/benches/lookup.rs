//! Issue 6, benchmark 4: `pfn_to_page` and `pfn_valid` under three memory models (`mm::memmodel`) on the memmap
//! of 1,024,000 pages booted through `Mm::boot`: classic SPARSEMEM (section root walk), `Sparse` with its flat
//! per-section lookup cache (what the allocator uses), and vmemmap (one array indexed by pfn; on the host a flat
//! slice holding a copy of the same struct pages).
//!
//! Each lookup takes a pfn from a fixed-seed random sequence over the booted range plus 1/16 beyond it (invalid).
//! "address" sums the struct page addresses (the lookup alone, no struct page is read); "load" reads each page's
//! flags word (the lookup plus a cache miss into 64 MB of memmap); `pfn_valid` sums the answers. The printed
//! summary is measured interleaved (classic, cached, vmemmap, ROUNDS times, medians) and gives the ratios to
//! classic; criterion then measures each variant on its own.
//!
//! Run: `cargo bench -p mm --bench lookup`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use mm::layout::{Layout, MemRange};
use mm::memmodel::{Classic, MemModel, Vmemmap};
use mm::model::{Mm, MmOptions};
use mm::page::Page;
use mm::policy;
use mm::sparse::HeapBacking;

const PAGES: u64 = 1_024_000;
const BASE: u64 = 0x100000;
const LOOKUPS: usize = 1 << 20;
const ROUNDS: usize = 7;

fn pfns() -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..LOOKUPS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BASE + x % (PAGES + PAGES / 16)
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Address,
    Load,
    Valid,
}

#[inline(never)]
fn run<M: MemModel>(m: &M, pfns: &[u64], kind: Kind) -> Duration {
    let t = Instant::now();
    let mut acc = 0u64;
    match kind {
        Kind::Address => {
            for &pfn in pfns {
                acc = acc.wrapping_add(m.pfn_to_page(pfn).map_or(0, |p| p as *const Page as u64));
            }
        }
        Kind::Load => {
            for &pfn in pfns {
                acc = acc.wrapping_add(m.pfn_to_page(pfn).map_or(0, |p| p.flags));
            }
        }
        Kind::Valid => {
            for &pfn in pfns {
                acc += m.pfn_valid(pfn) as u64;
            }
        }
    }
    black_box(acc);
    t.elapsed()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench_lookup(c: &mut Criterion) {
    let layout = Layout::from_memory_ranges(&[MemRange { start_pfn: BASE, end_pfn: BASE + PAGES, nid: 0 }]).unwrap();
    let mm = Mm::boot(&layout, MmOptions::new(policy::by_name("upstream").unwrap()), Box::new(HeapBacking)).unwrap();
    let end = BASE + PAGES.next_multiple_of(mm::consts::PAGES_PER_SECTION);
    let copy: Vec<Page> = (BASE..end).map(|p| *mm.sparse.pfn_to_page(p).unwrap()).collect();
    let vm = Vmemmap::new(&mm.sparse, BASE, &copy);
    let classic = Classic(&mm.sparse);
    let pfns = pfns();
    for kind in [Kind::Address, Kind::Load, Kind::Valid] {
        let (mut a, mut b, mut v) = (vec![], vec![], vec![]);
        let per = |d: Duration| d.as_nanos() as f64 / LOOKUPS as f64;
        for _ in 0..ROUNDS {
            a.push(per(run(&classic, &pfns, kind)));
            b.push(per(run(&mm.sparse, &pfns, kind)));
            v.push(per(run(&vm, &pfns, kind)));
        }
        let (a, b, v) = (median(&mut a), median(&mut b), median(&mut v));
        let what = match kind {
            Kind::Address => "pfn_to_page (address)",
            Kind::Load => "pfn_to_page + load   ",
            Kind::Valid => "pfn_valid            ",
        };
        println!(
            "lookup {} classic {:>6.2} ns | sparse-cached {:>6.2} ns ({:.2}x classic) | vmemmap {:>6.2} ns ({:.2}x classic)",
            what,
            a,
            b,
            a / b,
            v,
            a / v
        );
    }

    let mut g = c.benchmark_group("lookup");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(LOOKUPS as u64));
    g.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for (kind, name) in [(Kind::Address, "pfn_to_page"), (Kind::Valid, "pfn_valid")] {
        g.bench_function(format!("{}/classic", name), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&classic, &pfns, kind)).sum())
        });
        g.bench_function(format!("{}/sparse-cached", name), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&mm.sparse, &pfns, kind)).sum())
        });
        g.bench_function(format!("{}/vmemmap", name), |bn| {
            bn.iter_custom(|n| (0..n).map(|_| run(&vm, &pfns, kind)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_lookup);
criterion_main!(benches);
