//! The hand-over fused into memmap init (`MmOptions::fuse_handover`) against Linux's two passes: on random
//! layouts, under every policy, with and without deferred struct page init, the allocator ends in the same state
//! either way: every struct page byte for byte (memmap digest), every free block on the same list at the same
//! place, the same zone counters, and `Buddy::check` clean. Only the work differs: the fused boot records the
//! free pages it wrote in the hand-over's state, and the hand-over visits none of them.

mod common;

use mm::buddy::Buddy;
use mm::layout::{Layout, MemRange};
use mm::model::{Mm, MmOptions};
use mm::policy::POLICIES;
use mm::sparse::HeapBacking;
use proptest::prelude::*;

fn boot(memory: &[MemRange], policy: &'static dyn mm::policy::HolePolicy, deferred: bool, fuse: bool) -> Option<Mm> {
    let layout = Layout::from_memory_ranges(memory).ok()?;
    let mut o = MmOptions::new(policy);
    o.deferred_init = deferred;
    o.fuse_handover = fuse;
    Mm::boot(&layout, o, Box::new(HeapBacking)).ok()
}

/// Boot, hand-over, and with deferred init the workers (one thread) and their hand-over: the allocator's state
/// and how many pages memmap init and the workers recorded as written in the hand-over's state. `None` if the layout does not boot;
/// `Some(Err)` if a hand-over refused it (a policy may link a page outside its zone: the hand-over names it).
type Booted = Result<(Mm, Buddy, u64), mm::buddy::BuddyError>;

fn booted(
    memory: &[MemRange],
    policy: &'static dyn mm::policy::HolePolicy,
    deferred: bool,
    fuse: bool,
) -> Option<Booted> {
    let mut mm = boot(memory, policy, deferred, fuse)?;
    let recorded = |mm: &Mm| mm.handed.iter().map(|h| h.end_pfn - h.start_pfn).sum::<u64>();
    let mut handed = recorded(&mm);
    Some((|| {
        let mut b = Buddy::from_boot(&mut mm)?;
        if deferred {
            let pending: Vec<(u64, u64)> = mm.deferred.iter().map(|r| (r.start_pfn, r.end_pfn)).collect();
            let d = mm.deferred_init();
            for j in d.jobs() {
                for (s, e) in d.chunks(&j, 1) {
                    d.run_chunk(j.nid, s, e).expect("warn mode never refuses");
                }
            }
            let (n, total) = (d.written(), d.pending_pages());
            mm.deferred_done(n, total);
            handed += recorded(&mm);
            b.free_deferred(&mut mm, &pending)?;
        }
        b.check(&mm).expect("Buddy::check");
        Ok((mm, b, handed))
    })())
}

fn compare(memory: &[MemRange], deferred: bool) -> Result<(), TestCaseError> {
    for &p in POLICIES {
        let Some(two) = booted(memory, p, deferred, false) else { continue };
        let fused = booted(memory, p, deferred, true).expect("a fused boot boots where two passes do");
        let ((two, b2, none), (fused, b1, handed)) = match (two, fused) {
            (Ok(t), Ok(f)) => (t, f),
            (Err(a), Err(b)) => {
                prop_assert_eq!(a, b, "{}: the same hand-over error", p.name());
                continue;
            }
            (a, b) => {
                return Err(TestCaseError::fail(format!("{}: two passes {:?}, fused {:?}", p.name(), a.err(), b.err())))
            }
        };
        prop_assert_eq!(none, 0, "{}: no fused ranges without fuse_handover", p.name());
        prop_assert!(fused.handed.is_empty(), "{}: the hand-over consumed every fused range", p.name());
        prop_assert_eq!(
            mm::verify::memmap_digest(&fused),
            mm::verify::memmap_digest(&two),
            "{}: memmap after the hand-over",
            p.name()
        );
        prop_assert!(
            b1.free_blocks_in_list_order(&fused) == b2.free_blocks_in_list_order(&two),
            "{}: free lists",
            p.name()
        );
        prop_assert_eq!(b1.all_zone_counts(), b2.all_zone_counts(), "{}: zone counters", p.name());
        prop_assert!(
            handed <= b1.total_managed_pages(),
            "{}: recorded {} of {}",
            p.name(),
            handed,
            b1.total_managed_pages()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fused_handover_equals_two_passes(memory in common::layout_strategy(6, 6000, 3, 2), deferred in any::<bool>()) {
        compare(&memory, deferred)?;
    }
}

/// A plain layout: memmap init (and the workers) record every free page, and the hand-over visits none.
#[test]
fn fused_boot_records_every_free_page() {
    let memory = [
        MemRange { start_pfn: 0x100000, end_pfn: 0x140000, nid: 0 },
        MemRange { start_pfn: 0x140000, end_pfn: 0x180000, nid: 1 },
    ];
    for deferred in [false, true] {
        let (mm, b, handed) =
            booted(&memory, mm::policy::by_name("upstream").unwrap(), deferred, true).unwrap().unwrap();
        assert_eq!(handed, b.total_managed_pages(), "deferred {deferred}");
        assert!(mm.handed.is_empty());
        assert_eq!(b.total_free_pages(), b.total_managed_pages());
    }
}
