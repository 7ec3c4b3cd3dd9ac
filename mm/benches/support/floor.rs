//! The floor reference of the buddy benchmark: the simplest Linux-style buddy allocator (our own code): one zone,
//! free lists per order threaded through a 64-byte-per-frame page array (as Linux's struct pages), a bitmask of
//! non-empty orders, split on allocation and merge with the buddy on free. No lock, no migratetypes, no
//! checks: what an allocator over struct pages cannot go below.

/// One frame's struct page: list links, order and a free mark in 64 bytes.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct FloorPage {
    next: u32,
    prev: u32,
    order: u8,
    free: bool,
    _pad: [u8; 54],
}

const NIL: u32 = u32::MAX;

/// See the module documentation. Frames `[base, base + n)`, `n` a multiple of the max-order block.
pub struct Floor {
    base: u64,
    pages: Vec<FloorPage>,
    heads: [u32; 11],
    nonempty: u32,
}

impl Floor {
    pub fn new(base: u64, n: u64) -> Floor {
        let blank = FloorPage { next: NIL, prev: NIL, order: 0, free: false, _pad: [0; 54] };
        let mut f = Floor { base, pages: vec![blank; n as usize], heads: [NIL; 11], nonempty: 0 };
        let block = 1u64 << 10;
        for i in (0..n / block).rev() {
            f.push((i * block) as u32, 10);
        }
        f
    }

    fn push(&mut self, i: u32, order: u32) {
        let head = self.heads[order as usize];
        let p = &mut self.pages[i as usize];
        (p.next, p.prev, p.order, p.free) = (head, NIL, order as u8, true);
        if head != NIL {
            self.pages[head as usize].prev = i;
        }
        self.heads[order as usize] = i;
        self.nonempty |= 1 << order;
    }

    fn unlink(&mut self, i: u32, order: u32) {
        let (next, prev) = (self.pages[i as usize].next, self.pages[i as usize].prev);
        self.pages[i as usize].free = false;
        if prev == NIL {
            self.heads[order as usize] = next;
            if next == NIL {
                self.nonempty &= !(1 << order);
            }
        } else {
            self.pages[prev as usize].next = next;
        }
        if next != NIL {
            self.pages[next as usize].prev = prev;
        }
    }

    #[inline]
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        let bits = self.nonempty >> order;
        if bits == 0 {
            return None;
        }
        let mut o = order + bits.trailing_zeros();
        let i = self.heads[o as usize];
        self.unlink(i, o);
        while o > order {
            o -= 1;
            self.push(i + (1 << o), o);
        }
        Some(self.base + i as u64)
    }

    #[inline]
    pub fn free(&mut self, pfn: u64, order: u32) {
        let (mut i, mut order) = ((pfn - self.base) as u32, order);
        while order < 10 {
            let b = i ^ (1 << order);
            match self.pages.get(b as usize) {
                Some(p) if p.free && p.order as u32 == order => {
                    self.unlink(b, order);
                    i &= b;
                    order += 1;
                }
                _ => break,
            }
        }
        self.push(i, order);
    }

    /// Free pages per order (to check the shape after a scenario).
    pub fn max_order_blocks(&self) -> u64 {
        let mut n = 0;
        let mut i = self.heads[10];
        while i != NIL {
            n += 1;
            i = self.pages[i as usize].next;
        }
        n
    }

    pub fn nonempty(&self) -> u32 {
        self.nonempty
    }
}
