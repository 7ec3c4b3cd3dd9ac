//! Migratetypes (include/linux/mmzone.h).

pub const UNMOVABLE: u64 = 0;
pub const MOVABLE: u64 = 1;
pub const RECLAIMABLE: u64 = 2;
pub const HIGHATOMIC: u64 = 3;
pub const ISOLATE: u64 = 4;
/// MIGRATETYPE_MASK: the three low bits of a pageblock's flags.
pub const MASK: u64 = 0b111;
/// PB_migrate_skip: bit 3 of a pageblock's flags (compaction's skip hint).
pub const SKIP_BIT: u64 = 1 << 3;

pub fn name(mt: u64) -> &'static str {
    match mt {
        UNMOVABLE => "Unmovable",
        MOVABLE => "Movable",
        RECLAIMABLE => "Reclaimable",
        HIGHATOMIC => "HighAtomic",
        ISOLATE => "Isolate",
        _ => "?",
    }
}
