//! Order-0 traffic on 1,024,000 frames for counting instructions per operation under callgrind (the row
//! "instructions per operation" of docs/performance.md): N allocations, then with `pairs` their frees in reverse
//! order, through mm::buddy's locked path (`locked`), one CPU's per-CPU lists (`pcp`), or the floor of the buddy
//! bench (`floor`). The count per operation is the difference of two runs divided by the difference of N, so
//! the boot cancels:
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=x86-64" cargo build --release -p mm --example buddy_ops --target-dir target/callgrind
//! valgrind --tool=callgrind target/callgrind/release/examples/buddy_ops pcp pairs 100000   # and 500000
//! ```
//!
//! Usage: `buddy_ops locked|pcp|floor fill|pairs N`.

use mm::buddy::Buddy;
use mm::consts::*;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy;
use mm::sparse::{migratetype, HeapBacking};
use mm::zones::ZoneType;

#[path = "../benches/support/floor.rs"]
#[allow(dead_code)]
mod floor;

const FRAMES: u64 = 1_024_000;
const BASE: u64 = 0x100000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: buddy_ops locked|pcp|floor fill|pairs N";
    let (Some(path), Some(what), Some(n)) = (args.first(), args.get(1), args.get(2).and_then(|n| n.parse().ok()))
    else {
        panic!("{usage}")
    };
    let n: usize = n;
    let pairs = what == "pairs";
    // As the buddy bench: the memmap of the 32 sections at the top, FRAMES left for the allocator.
    let memmap = FRAMES.div_ceil(PAGES_PER_SECTION) * 512;
    let layout =
        Layout::from_memory_ranges(&[MemRange { start_pfn: BASE, end_pfn: BASE + FRAMES + memmap, nid: 0 }]).unwrap();
    let mut mm =
        Mm::boot(&layout, MmOptions::new(policy::by_name("upstream").unwrap()), Box::new(HeapBacking)).unwrap();
    let b = Buddy::from_boot(&mut mm).unwrap();
    let mut blocks = Vec::with_capacity(n);
    match path.as_str() {
        "locked" => {
            for _ in 0..n {
                blocks.push(b.alloc_pages(&mut mm, 0, ZoneType::Normal, 0, migratetype::MOVABLE).unwrap());
            }
            for &p in blocks.iter().rev().take(if pairs { n } else { 0 }) {
                b.free_pages(&mut mm, p, 0).unwrap();
            }
        }
        "pcp" => {
            let lows = mm::procfs::low_watermarks(&mm, &b);
            let mut pcp = b.pcp_sets(&lows, &[0]).remove(0);
            let al = b.shared(&mut mm);
            for _ in 0..n {
                blocks.push(al.alloc_pages_pcp(&mut pcp, 0, ZoneType::Normal, 0, migratetype::MOVABLE).unwrap());
            }
            for &p in blocks.iter().rev().take(if pairs { n } else { 0 }) {
                // SAFETY: each block was allocated above with order 0 and is freed once.
                unsafe { al.free_pages_pcp(&mut pcp, p, 0) }.unwrap();
            }
        }
        "floor" => {
            let mut f = floor::Floor::new(BASE, FRAMES);
            for _ in 0..n {
                blocks.push(f.alloc(0).unwrap());
            }
            for &p in blocks.iter().rev().take(if pairs { n } else { 0 }) {
                f.free(p, 0);
            }
            std::hint::black_box(&f);
        }
        _ => panic!("{usage}"),
    }
    std::hint::black_box((&blocks, &mm));
}
