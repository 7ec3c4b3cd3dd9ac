//! Demo tests (`__` prefix, run only when named exactly): each shows one failure path of the harness (a failed
//! check, a page fault, a hang, a stack overflow, a panic, a poisoned struct page).

use crate::check_eq;
use crate::facts::get as facts;
use crate::selftest::TestResult;

pub(super) fn fail_demo() -> TestResult {
    let two = 1 + 1;
    check_eq!(two, 3);
    Ok(())
}

pub(super) fn pagefault_demo() -> TestResult {
    // An address in the lower half that the bootloader leaves unmapped: the read must page-fault, never return.
    let phys = &facts().phys;
    let addr = [0x0000_0dea_d000_0000u64, 0x0000_0bad_0000_0000]
        .into_iter()
        .find(|&a| !phys.virt_mapped(a))
        .ok_or("no unmapped candidate address")?;
    phys.fault_on_unmapped(addr);
    Err(alloc::format!("reading unmapped {:#x} did not fault", addr))
}

pub(super) fn hang_demo() -> TestResult {
    crate::println!("hanging on purpose (the runner's --timeout ends this)");
    crate::exit::halt_forever()
}

pub(super) fn overflow_demo() -> TestResult {
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let pad = core::hint::black_box([depth; 64]);
        recurse(depth + 1) + pad[0]
    }
    let n = recurse(0);
    Err(alloc::format!("recursion returned {}", n))
}

pub(super) fn panic_demo() -> TestResult {
    let limit = core::hint::black_box(3usize);
    panic!("panic demo: index {} out of {}", limit + 1, limit)
}

/// Reads, through the checked accessor (`Page::links`), the lowest `pfn_valid` struct page that nothing
/// initialized: under `holes=zeroed-no-tail` on `-m 4000M` the tail of section 39 from pfn 0x13a000. Linux's
/// PF_POISONED_CHECK (CONFIG_DEBUG_VM_PGFLAGS) is a BUG there: with `vm_debug=panic` the kernel panics naming the
/// pfn; with `warn` the demo fails naming it; with `off` the unchecked read's garbage links are shown instead.
pub(super) fn poisoned_page_demo() -> TestResult {
    let m = crate::model::MODEL.get().ok_or("the memory model was not booted")?.lock();
    let sparse = &m.mm.sparse;
    let pfn = sparse
        .valid_sections()
        .flat_map(|nr| {
            let s = mm::consts::section_nr_to_pfn(nr);
            s..s + mm::consts::PAGES_PER_SECTION
        })
        .find(|&pfn| sparse.pfn_to_page(pfn).is_some_and(|p| p.is_poisoned()))
        .ok_or_else(|| alloc::format!("policy {} left no struct page poisoned", m.mm.policy.name()))?;
    let page = sparse.pfn_to_page(pfn).ok_or("pfn_valid page without struct page")?;
    match (m.mm.checker.mode, page.links(pfn)) {
        (mm::usemap::VmDebug::Off, _) => Err(alloc::format!(
            "vm_debug=off: struct page at pfn {:#x} read unchecked: flags {:#x}, refcount {}",
            pfn,
            page.flags,
            page.refcount
        )),
        (mm::usemap::VmDebug::Panic, Err(e)) => panic!("poisoned struct page at pfn {:#x}: {}", pfn, e),
        (_, Err(e)) => Err(alloc::format!("poisoned struct page at pfn {:#x}: {}", pfn, e)),
        (_, Ok(l)) => Err(alloc::format!("the checked accessor read links {:?} from a poisoned page", l)),
    }
}
