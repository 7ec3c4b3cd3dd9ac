//! Boots the memory model once on one node of N pages (`upstream`, poison on, memmap from the heap) and hands
//! every page to the buddy allocator with `--handover` (Linux's two passes) or `--fused` (the hand-over fused
//! into memmap init, `MmOptions::fuse_handover`, as the kernel boots): the workload
//! `scripts/callgrind-guard.sh` counts instructions of. Usage: `memmap_init PAGES [--handover | --fused]`.

use mm::buddy::Buddy;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy;
use mm::sparse::HeapBacking;

fn main() {
    let mut args = std::env::args().skip(1);
    let pages: u64 = args.next().and_then(|a| a.parse().ok()).expect("usage: memmap_init PAGES [--handover | --fused]");
    let mode = args.next();
    let (handover, fused) = (mode.is_some(), mode.as_deref() == Some("--fused"));
    let layout =
        Layout::from_memory_ranges(&[MemRange { start_pfn: 0x100000, end_pfn: 0x100000 + pages, nid: 0 }]).unwrap();
    let mut opts = MmOptions::new(policy::by_name("upstream").unwrap());
    opts.fuse_handover = fused;
    let mut mm = Mm::boot(&layout, opts, Box::new(HeapBacking)).expect("boot");
    if handover {
        let b = Buddy::from_boot(&mut mm).expect("hand-over");
        assert_eq!(b.total_free_pages(), b.total_managed_pages());
    }
    std::hint::black_box(&mm);
}
