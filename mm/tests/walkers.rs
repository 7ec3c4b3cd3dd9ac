use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy::POLICIES;
use mm::sparse::HeapBacking;
use mm::walkers::run_all_walkers;

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

#[test]
#[ignore]
fn explore() {
    let layouts: Vec<(&str, Vec<MemRange>)> = vec![
        ("m4000", vec![m(1, 0x9f, 0), m(0x100, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]),
        ("andrea", vec![m(1, 0x9f, 0), m(0x100, 0x39639, 0), m(0x39815, 0xbffe0, 0), m(0x100000, 0x13a000, 0)]),
    ];
    for (name, mem) in layouts {
        for p in POLICIES {
            let layout = Layout::from_memory_ranges(&mem).unwrap();
            let mut opts = MmOptions::new(*p);
            opts.compressed = true;
            let mut mm = Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap();
            println!("=== {} {}", name, p.name());
            for r in run_all_walkers(&mut mm) {
                for l in r.lines() {
                    println!("{}", l);
                }
            }
        }
    }
}
