//! Buddy operation sequences on a small fixed two-node layout, under a policy chosen by the input (the pattern of
//! linked_list_allocator's chaos target).
//!
//! Properties: every allocation is aligned to its order and is not already allocated; every free of a live block
//! succeeds; a bogus free (wrong order, tail page, double free, arbitrary pfn) returns an error and changes
//! neither the free blocks nor the counters; free + allocated == managed after every step and
//! `Buddy::check` holds every few steps; after freeing everything the
//! free-block shape (pfn, order, node, zone) is the initial one and the free count is the managed count.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mm::buddy::{AllocError, Buddy};
use mm::consts::MAX_PAGE_ORDER;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy::POLICIES;
use mm::sparse::HeapBacking;
use mm::zones::ZoneType;

const MAX_OPS: usize = 96;
/// `Buddy::check` walks every memory page: run it every this many steps (and after the last one).
const CHECK_EVERY: usize = 8;

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc {
        order: u8,
        nid: u8,
        mt: u8,
        zone: u8,
    },
    Free {
        index: u16,
    },
    /// Free a live block with another order, or its tail page.
    BadFree {
        index: u16,
        order_delta: u8,
    },
    /// Free a block freed before (unless it was allocated again).
    DoubleFree {
        index: u16,
    },
    /// Free an arbitrary pfn at an arbitrary order.
    Bogus {
        pfn: u32,
        order: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    policy: u8,
    ops: Vec<Op>,
}

fn m(start_pfn: u64, end_pfn: u64, nid: u32) -> MemRange {
    MemRange { start_pfn, end_pfn, nid }
}

type Shape = Vec<(u64, u32, u32, ZoneType)>;

fn shape(b: &Buddy, mm: &Mm) -> Shape {
    b.free_blocks(mm).iter().map(|f| (f.pfn, f.order, f.nid, f.zone)).collect()
}

/// A free that must be refused and change nothing.
fn refused(b: &mut Buddy, mm: &mut Mm, pfn: u64, order: u32) {
    let before = (b.free_blocks(mm), b.all_zone_counts());
    match b.free_pages(mm, pfn, order) {
        Ok(()) => panic!("bogus free of pfn {:#x} order {} accepted", pfn, order),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    assert_eq!((b.free_blocks(mm), b.all_zone_counts()), before, "bogus free of {:#x}/{} changed state", pfn, order);
}

fuzz_target!(|input: Input| {
    let layout = Layout::from_memory_ranges(&[m(1, 0x9f, 0), m(0x100, 0x8000, 0), m(0x8000, 0x10000, 1)]).unwrap();
    let policy = POLICIES[input.policy as usize % POLICIES.len()];
    let mut opts = MmOptions::new(policy);
    opts.allow_unplaced_memmap = true;
    let mut mm = Mm::boot(&layout, opts, Box::new(HeapBacking)).unwrap();
    let mut b = Buddy::from_boot(&mut mm).unwrap_or_else(|e| panic!("{}: {}", policy.name(), e));
    b.check(&mm).unwrap_or_else(|e| panic!("{}: after hand-over: {}", policy.name(), e));
    let initial = shape(&b, &mm);
    let managed = b.total_managed_pages();
    assert_eq!(b.total_free_pages(), managed);

    let mut live: Vec<(u64, u32)> = Vec::new();
    let mut freed: Vec<(u64, u32)> = Vec::new();
    let ops = &input.ops[..input.ops.len().min(MAX_OPS)];
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Alloc { order, nid, mt, zone } => {
                let order = u32::from(order) % (MAX_PAGE_ORDER + 1);
                let zone = ZoneType::from_index(zone as usize % 4).unwrap();
                match b.alloc_pages(&mut mm, order, zone, u32::from(nid % 2), u64::from(mt % 4)) {
                    Ok(p) => {
                        assert_eq!(p & ((1 << order) - 1), 0, "pfn {:#x} order {}", p, order);
                        assert!(
                            live.iter().all(|&(q, o)| p + (1 << order) <= q || q + (1 << o) <= p),
                            "{:#x}/{} overlaps a live block",
                            p,
                            order
                        );
                        live.push((p, order));
                    }
                    Err(AllocError::NoMemory { .. }) => {}
                    Err(e) => panic!("{}", e),
                }
            }
            Op::Free { index } if !live.is_empty() => {
                let (p, o) = live.swap_remove(index as usize % live.len());
                b.free_pages(&mut mm, p, o).unwrap_or_else(|e| panic!("free of live {:#x}/{}: {}", p, o, e));
                freed.push((p, o));
            }
            Op::BadFree { index, order_delta } if !live.is_empty() => {
                let (p, o) = live[index as usize % live.len()];
                let wrong = (o + 1 + u32::from(order_delta) % 16) % 17;
                if wrong != o {
                    refused(&mut b, &mut mm, p, wrong);
                }
                if o > 0 {
                    refused(&mut b, &mut mm, p + (1 << (u32::from(order_delta) % o)), 0);
                }
            }
            Op::DoubleFree { index } if !freed.is_empty() => {
                let (p, o) = freed[index as usize % freed.len()];
                if !live.contains(&(p, o)) {
                    refused(&mut b, &mut mm, p, o);
                }
            }
            Op::Bogus { pfn, order } => {
                let (pfn, order) = (u64::from(pfn), u32::from(order % 16));
                if !live.contains(&(pfn, order)) {
                    refused(&mut b, &mut mm, pfn, order);
                }
            }
            _ => {}
        }
        let allocated: u64 = live.iter().map(|&(_, o)| 1u64 << o).sum();
        assert_eq!(b.total_free_pages() + allocated, managed, "after {:?}", op);
        if step % CHECK_EVERY == CHECK_EVERY - 1 || step + 1 == ops.len() {
            b.check(&mm).unwrap_or_else(|e| panic!("{}: after {:?}: {}", policy.name(), op, e));
        }
    }
    for (p, o) in live {
        b.free_pages(&mut mm, p, o).unwrap_or_else(|e| panic!("final free of {:#x}/{}: {}", p, o, e));
    }
    b.check(&mm).unwrap_or_else(|e| panic!("{}: after freeing everything: {}", policy.name(), e));
    assert_eq!(b.total_free_pages(), managed);
    assert_eq!(shape(&b, &mm), initial, "{}: free-block shape differs after freeing everything", policy.name());
});
