//! The real-mode trampoline: the code a secondary CPU runs after its startup IPI, from real mode straight to long
//! mode and into [`crate::smp`]'s Rust entry, and the two low pages it lives in (Linux's `trampoline_64.S` and
//! `reserve_real_mode`, our own code).
//!
//! Page 0 of the reservation holds the code and its data block; page 1 a copy of the kernel's level-4 page table
//! (the CPU loads CR3 in real mode, 32 bits wide, and the kernel's table may lie above 4 GiB). The steps: load
//! a three-entry GDT, set CR4 (PAE), CR3 (the copy), EFER (LME, NXE) and CR0 (PE and PG at once) as the boot CPU
//! has them, far-jump into the 64-bit code segment, switch to the kernel's own CR3 (the trampoline page is
//! identity-mapped in the kernel's page tables, so execution goes on), load the stack and call the entry with
//! its argument. The boot CPU fills the data block once ([`install`]) and the stack and argument before each
//! CPU ([`Trampoline::prepare`]); CPUs are started one at a time.
//!
//! # Invariants
//! - the two pages are reserved in memblock with the reason `real mode trampoline` and used by nothing else;
//! - the trampoline page is mapped at its own physical address in the kernel's page tables before any startup
//!   IPI is sent, and stays mapped (CPU hotplug would use it again).

use core::arch::global_asm;
use core::ptr::addr_of;

use x86_64::registers::control::{Cr0, Cr3, Cr4};
use x86_64::registers::model_specific::Efer;

use crate::phys::PhysMem;

/// Pages the trampoline needs below 1 MiB (code and data; the level-4 table copy).
pub const PAGES: u64 = 2;

global_asm!(
    r#"
    .section .text.memlab_trampoline, "ax", @progbits
    .global memlab_tr_start
    .global memlab_tr_long
    .global memlab_tr_gdt
    .global memlab_tr_gdtr
    .global memlab_tr_far
    .global memlab_tr_regs
    .global memlab_tr_end
    .code16
memlab_tr_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    .set TR_GDTR, memlab_tr_gdtr - memlab_tr_start
    .set TR_FAR, memlab_tr_far - memlab_tr_start
    .set TR_REGS, memlab_tr_regs - memlab_tr_start
    lgdtl TR_GDTR
    movl TR_REGS + 0, %eax
    movl %eax, %cr4
    movl TR_REGS + 12, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    movl TR_REGS + 8, %eax
    xorl %edx, %edx
    wrmsr
    movl TR_REGS + 4, %eax
    movl %eax, %cr0
    ljmpl *TR_FAR
    .code64
memlab_tr_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movq .Lregs + 16(%rip), %rax
    movq %rax, %cr3
    movq .Lregs + 24(%rip), %rsp
    movq .Lregs + 32(%rip), %rdi
    movq .Lregs + 40(%rip), %rax
    callq *%rax
1:
    cli
    hlt
    jmp 1b
    .balign 16
memlab_tr_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
memlab_tr_gdtr:
    .word 23
    .long 0
    .balign 8
memlab_tr_far:
    .long 0
    .word 8
    .balign 8
memlab_tr_regs:
.Lregs:
    .long 0, 0, 0, 0
    .quad 0, 0, 0, 0
memlab_tr_end:
    .text
"#,
    options(att_syntax)
);

extern "C" {
    static memlab_tr_start: u8;
    static memlab_tr_long: u8;
    static memlab_tr_gdt: u8;
    static memlab_tr_gdtr: u8;
    static memlab_tr_far: u8;
    static memlab_tr_regs: u8;
    static memlab_tr_end: u8;
}

/// The data block's layout (`memlab_tr_regs`): u32 cr4, cr0, efer, level-4 copy; u64 kernel cr3, stack top,
/// argument, entry.
#[repr(C)]
struct Regs {
    cr4: u32,
    cr0: u32,
    efer: u32,
    pml4: u32,
    kernel_cr3: u64,
    stack_top: u64,
    arg: u64,
    entry: u64,
}

/// Offset of a trampoline symbol from its start.
fn offset_of(sym: *const u8) -> u64 {
    sym as u64 - addr_of!(memlab_tr_start) as u64
}

/// The installed trampoline.
pub struct Trampoline {
    /// Physical address of the code page (the startup IPI's vector is `page >> 12`).
    pub page: u64,
    regs: *mut Regs,
}

// SAFETY: `regs` points into the reserved trampoline page, written only by the boot CPU while it starts CPUs one
// at a time (the one `Trampoline` value lives in `smp`'s bring-up, on that CPU).
unsafe impl Send for Trampoline {}

/// Why the trampoline could not be installed.
#[derive(Debug)]
pub enum InstallError {
    TooLarge(u64),
    NotBelow1M(u64),
    NotMapped(u64),
    IdentityMap(crate::paging::MapError),
}

impl core::fmt::Display for InstallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InstallError::TooLarge(n) => write!(f, "the trampoline is {} bytes, more than a page", n),
            InstallError::NotBelow1M(pa) => write!(f, "trampoline page {:#x} is not below 1 MiB", pa),
            InstallError::NotMapped(pa) => write!(f, "trampoline page {:#x} is not in the physical mapping", pa),
            InstallError::IdentityMap(e) => write!(f, "identity-mapping the trampoline page: {}", e),
        }
    }
}

/// Copies the trampoline to the reserved pages at `page` (physical, [`PAGES`] pages below 1 MiB), fills its
/// GDT pointer, far pointer and the boot CPU's control registers, copies the kernel's level-4 table to the second
/// page and maps the code page at its own address in the kernel's page tables. `entry` gets the argument of
/// [`Trampoline::prepare`] in `rdi`, on the stack given there.
pub fn install(phys: &PhysMem, page: u64, entry: extern "C" fn(u64) -> !) -> Result<Trampoline, InstallError> {
    let start = addr_of!(memlab_tr_start);
    let len = offset_of(addr_of!(memlab_tr_end));
    if len > 4096 {
        return Err(InstallError::TooLarge(len));
    }
    if page % 4096 != 0 || page + PAGES * 4096 > 0x10_0000 {
        return Err(InstallError::NotBelow1M(page));
    }
    if !phys.is_mapped(page, PAGES * 4096) {
        return Err(InstallError::NotMapped(page));
    }
    crate::paging::identity_map_page(phys.offset(), page).map_err(InstallError::IdentityMap)?;
    let code = phys.virt(page) as *mut u8;
    let pml4 = page + 4096;
    let (l4, _) = Cr3::read();
    let kernel_l4 = phys.virt(l4.start_address().as_u64()) as *const u8;
    // SAFETY: the two pages are reserved for the trampoline (memblock, reason `real mode trampoline`), mapped
    // (checked above) and used by nothing else; the source is the kernel's text (`len` bytes, checked to fit in
    // the page) and the active level-4 table (4 KiB, in the physical mapping), read while no other CPU runs.
    unsafe {
        core::ptr::copy_nonoverlapping(start, code, len as usize);
        core::ptr::copy_nonoverlapping(kernel_l4, phys.virt(pml4) as *mut u8, 4096);
        let gdtr_base = code.add(offset_of(addr_of!(memlab_tr_gdtr)) as usize + 2) as *mut u32;
        gdtr_base.write_unaligned((page + offset_of(addr_of!(memlab_tr_gdt))) as u32);
        let far = code.add(offset_of(addr_of!(memlab_tr_far)) as usize) as *mut u32;
        far.write_unaligned((page + offset_of(addr_of!(memlab_tr_long))) as u32);
    }
    let regs = phys.virt(page + offset_of(addr_of!(memlab_tr_regs))) as *mut Regs;
    // PCIDE cannot be set outside long mode; LMA is the CPU's to set.
    let cr4 = Cr4::read_raw() & !(1 << 17);
    let efer = Efer::read_raw() & !(1 << 10);
    // SAFETY: `regs` lies in the trampoline page just written (8-byte aligned by `.balign 8`), no CPU runs it yet.
    unsafe {
        regs.write(Regs {
            cr4: cr4 as u32,
            cr0: Cr0::read_raw() as u32,
            efer: efer as u32,
            pml4: pml4 as u32,
            kernel_cr3: Cr3::read_raw().0.start_address().as_u64() | u64::from(Cr3::read_raw().1),
            stack_top: 0,
            arg: 0,
            entry: entry as usize as u64,
        });
    }
    Ok(Trampoline { page, regs })
}

impl Trampoline {
    /// The startup IPI's vector: the code page's number.
    pub fn vector(&self) -> u8 {
        (self.page >> 12) as u8
    }

    /// Sets the stack top (16-byte aligned) and the entry's argument for the next CPU to start.
    pub fn prepare(&self, stack_top: u64, arg: u64) {
        // SAFETY: `regs` points into the reserved trampoline page (see `install`); the boot CPU writes it only
        // between CPUs, after the previous CPU left the trampoline (it reported in from the Rust entry).
        unsafe {
            (*self.regs).stack_top = stack_top & !0xf;
            (*self.regs).arg = arg;
        }
    }
}
