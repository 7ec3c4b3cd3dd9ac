//! # memlab-agent: `/init` of the initramfs that `memlab linux` boots with Debian's Linux
//!
//! It owns nothing but the guest's user space: it mounts proc and sysfs, quiets the console (so its dumps are
//! not interleaved with kernel messages), and prints, between `@@begin NAME` / `@@end NAME` lines:
//! - `zoneinfo`, `pagetypeinfo`, `buddyinfo`: the /proc files as they are;
//! - `zoneinfo_recomputed`: /proc/zoneinfo again after writing `min_free_kbytes` and `lowmem_reserve_ratio`
//!   back unchanged, which makes Linux recompute watermarks and reserves from the current managed counts;
//! - `sysctl`: `min_free_kbytes=N`, `watermark_scale_factor=N`, `lowmem_reserve_ratio=a,b,..` (/proc/sys/vm);
//! - `memory_blocks`: one line per block of /sys/devices/system/memory, `memoryN node=N[,M] state=S
//!   valid_zones=Z1,Z2 phys_index=0x..`, after a `block_size_bytes=0x..` line;
//! - `kpageflags`: /proc/kpageflags over every pfn of every present memory block, as runs
//!   `0x<start pfn> <count> <CLASS>` with CLASS one of NOPAGE (KPF_NOPAGE, bit 20), RESERVED (KPF_RESERVED, bit
//!   32), BUDDY (KPF_BUDDY, bit 10: the head page of a free block) and OTHER.
//!
//! Before the first dump, section `e820_debug` holds the `e820:` lines of the kernel log (/dev/kmsg), which the
//! console does not show. Every dump starts with `@@dump EVENT` (`boot`, then one per hotplug command). With `memlab.agent=wait` on the
//! kernel command line, after the boot dump it prints `@@agent ready` and reads commands from the console, one
//! per line: `online`, `online_movable`, `online_kernel` (write that word to the `state` of every offline block,
//! after waiting up to 30 s for one to appear), `offline` (every block not present at boot that is online),
//! `dump`, `end`, each optionally followed by a label that names the dump after it (else `N:COMMAND`). Each
//! command ends with a dump and a new `@@agent ready`. Finally it prints one
//! `@@linux {json}` line (what it did, counts) and powers the machine off.
//!
//! # Invariants
//! - never waits forever: a command read ends at end of input, a wait for blocks after 30 s;
//! - the machine is always powered off at the end, whatever failed (failures are named in `@@linux`).

use std::fs;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

const KPF_BUDDY: u64 = 1 << 10;
const KPF_NOPAGE: u64 = 1 << 20;
const KPF_RESERVED: u64 = 1 << 32;
const PAGE_SIZE: u64 = 4096;
const PAGES_PER_SECTION: u64 = 1 << 15;
const MEMORY: &str = "/sys/devices/system/memory";

fn mount(source: &str, target: &str, fstype: &str) -> Result<(), String> {
    let _ = fs::create_dir_all(target);
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL in a literal");
    let (s, t, f) = (c(source), c(target), c(fstype));
    // SAFETY: the three pointers are valid NUL-terminated strings for the duration of the call; data is null.
    let r = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) };
    if r == 0 {
        Ok(())
    } else {
        Err(format!("mount {fstype} on {target}: {}", io::Error::last_os_error()))
    }
}

/// One memory block of /sys/devices/system/memory.
#[derive(Clone, Debug)]
struct Block {
    id: u64,
    nodes: Vec<u32>,
    state: String,
    valid_zones: String,
    phys_index: u64,
}

fn read_trim(path: &str) -> String {
    fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(MEMORY) else { return out };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("memory").and_then(|n| n.parse::<u64>().ok()) else { continue };
        let base = format!("{MEMORY}/{name}");
        let mut nodes: Vec<u32> = fs::read_dir(&base)
            .map(|d| {
                d.flatten()
                    .filter_map(|n| n.file_name().to_string_lossy().strip_prefix("node").and_then(|x| x.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        nodes.sort_unstable();
        let phys_index = u64::from_str_radix(&read_trim(&format!("{base}/phys_index")), 16).unwrap_or(u64::MAX);
        out.push(Block {
            id,
            nodes,
            state: read_trim(&format!("{base}/state")),
            valid_zones: read_trim(&format!("{base}/valid_zones")).split_whitespace().collect::<Vec<_>>().join(","),
            phys_index,
        });
    }
    out.sort_by_key(|b| b.id);
    out
}

fn block_size() -> u64 {
    u64::from_str_radix(&read_trim(&format!("{MEMORY}/block_size_bytes")), 16).unwrap_or(PAGES_PER_SECTION * PAGE_SIZE)
}

fn class(flags: u64) -> &'static str {
    if flags & KPF_NOPAGE != 0 {
        "NOPAGE"
    } else if flags & KPF_RESERVED != 0 {
        "RESERVED"
    } else if flags & KPF_BUDDY != 0 {
        "BUDDY"
    } else {
        "OTHER"
    }
}

/// Classifies /proc/kpageflags over `[start, end)` pfn ranges into runs; returns the runs printed and pfns read.
fn kpageflags(out: &mut impl Write, ranges: &[(u64, u64)]) -> Result<(u64, u64), String> {
    let mut f = fs::File::open("/proc/kpageflags").map_err(|e| format!("/proc/kpageflags: {e}"))?;
    let (mut runs, mut pfns) = (0u64, 0u64);
    let mut buf = vec![0u8; 8 * 65536];
    for &(start, end) in ranges {
        let mut run: Option<(u64, u64, &str)> = None;
        let mut pfn = start;
        f.seek(SeekFrom::Start(start * 8)).map_err(|e| format!("/proc/kpageflags seek {start:#x}: {e}"))?;
        while pfn < end {
            let want = ((end - pfn) as usize).min(65536) * 8;
            let n = f.read(&mut buf[..want]).map_err(|e| format!("/proc/kpageflags at {pfn:#x}: {e}"))?;
            if n < 8 {
                return Err(format!("/proc/kpageflags ends at pfn {pfn:#x}"));
            }
            for chunk in buf[..n - n % 8].chunks_exact(8) {
                let c = class(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
                match &mut run {
                    Some((_, len, rc)) if *rc == c => *len += 1,
                    _ => {
                        if let Some((s, l, rc)) = run.take() {
                            let _ = writeln!(out, "{s:#x} {l} {rc}");
                            runs += 1;
                        }
                        run = Some((pfn, 1, c));
                    }
                }
                pfn += 1;
                pfns += 1;
            }
        }
        if let Some((s, l, rc)) = run {
            let _ = writeln!(out, "{s:#x} {l} {rc}");
            runs += 1;
        }
    }
    Ok((runs, pfns))
}

/// The pfn ranges of the memory blocks, adjacent ones merged.
fn present_ranges(blocks: &[Block], block_size: u64) -> Vec<(u64, u64)> {
    let pages = block_size / PAGE_SIZE;
    let mut r: Vec<(u64, u64)> = Vec::new();
    // `phys_index` is the block id (`memory_block_id` of its first section), not a section number.
    for b in blocks {
        let start = b.id * pages;
        match r.last_mut() {
            Some(last) if last.1 == start => last.1 = start + pages,
            _ => r.push((start, start + pages)),
        }
    }
    r
}

/// Counts of one dump, for the `@@linux` line.
#[derive(Default)]
struct DumpStats {
    runs: u64,
    pfns: u64,
    blocks: usize,
}

fn dump(event: &str, errors: &mut Vec<String>) -> DumpStats {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "@@dump {event}");
    for f in ["zoneinfo", "pagetypeinfo", "buddyinfo"] {
        let _ = writeln!(out, "@@begin {f}");
        match fs::read_to_string(format!("/proc/{f}")) {
            Ok(s) => {
                let _ = out.write_all(s.as_bytes());
            }
            Err(e) => errors.push(format!("/proc/{f}: {e}")),
        }
        let _ = writeln!(out, "@@end {f}");
    }
    // The watermarks and reserves were computed at boot from the managed counts of that moment; writing the
    // same sysctl values back makes Linux recompute them from today's counts (`min_free_kbytes_sysctl_handler`,
    // `lowmem_reserve_ratio_sysctl_handler`), so memlab's formulas can be checked on the counts printed.
    let mfk = read_trim("/proc/sys/vm/min_free_kbytes");
    let ratio = read_trim("/proc/sys/vm/lowmem_reserve_ratio");
    match fs::write("/proc/sys/vm/lowmem_reserve_ratio", &ratio)
        .and_then(|()| fs::write("/proc/sys/vm/min_free_kbytes", &mfk))
    {
        Ok(()) => {
            let _ = writeln!(out, "@@begin zoneinfo_recomputed");
            let _ = out.write_all(fs::read_to_string("/proc/zoneinfo").unwrap_or_default().as_bytes());
            let _ = writeln!(out, "@@end zoneinfo_recomputed");
        }
        Err(e) => errors.push(format!("rewriting min_free_kbytes / lowmem_reserve_ratio: {e}")),
    }
    let _ = writeln!(out, "@@begin sysctl");
    for k in ["min_free_kbytes", "watermark_scale_factor", "lowmem_reserve_ratio"] {
        let _ = writeln!(
            out,
            "{k}={}",
            read_trim(&format!("/proc/sys/vm/{k}")).split_whitespace().collect::<Vec<_>>().join(",")
        );
    }
    let _ = writeln!(out, "@@end sysctl");
    let bs = block_size();
    let bl = blocks();
    let _ = writeln!(out, "@@begin memory_blocks");
    let _ = writeln!(out, "block_size_bytes={bs:#x}");
    for b in &bl {
        let node = if b.nodes.is_empty() {
            "-".to_string()
        } else {
            b.nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
        };
        let _ = writeln!(
            out,
            "memory{} node={} state={} valid_zones={} phys_index={:#x}",
            b.id, node, b.state, b.valid_zones, b.phys_index
        );
    }
    let _ = writeln!(out, "@@end memory_blocks");
    let _ = writeln!(out, "@@begin kpageflags");
    let (runs, pfns) = match kpageflags(&mut out, &present_ranges(&bl, bs)) {
        Ok(x) => x,
        Err(e) => {
            errors.push(e);
            (0, 0)
        }
    };
    let _ = writeln!(out, "@@end kpageflags");
    let _ = out.flush();
    DumpStats { runs, pfns, blocks: bl.len() }
}

/// Writes `word` to the `state` of each block in `ids`; returns `memoryN:word:ok|error` lines.
fn set_state(ids: &[u64], word: &str) -> Vec<String> {
    ids.iter()
        .map(|id| match fs::write(format!("{MEMORY}/memory{id}/state"), word) {
            Ok(()) => format!("memory{id} {word} ok"),
            Err(e) => format!("memory{id} {word} error: {e}"),
        })
        .collect()
}

/// The `e820:` lines of the kernel log (`e820: update`/`e820: remove` are KERN_DEBUG, below the console's log
/// level), the `smpboot: Allowing N CPUs, K hotplug CPUs` line (the MADT's CPUs) and the `node N deferred pages
/// initialised in Xms` lines, from /dev/kmsg, in section `e820_debug`.
fn print_e820_debug(errors: &mut Vec<String>) {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg");
    let mut f = match f {
        Ok(f) => f,
        Err(e) => {
            errors.push(format!("/dev/kmsg: {e}"));
            return;
        }
    };
    println!("@@begin e820_debug");
    let mut buf = vec![0u8; 8192];
    // One record per read; EAGAIN at the end of the buffer; EPIPE when a record was overwritten (go on).
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                if let Some((_, msg)) = rec.split_once(';') {
                    let msg = msg.lines().next().unwrap_or("");
                    if msg.starts_with("e820: ")
                        || msg.starts_with("smpboot: Allowing ")
                        || msg.contains(" deferred pages initialised in ")
                    {
                        println!("{msg}");
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    println!("@@end e820_debug");
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn power_off() -> ! {
    // SAFETY: sync(2) and reboot(2) take no pointers; as PID 1 we may power off.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    // reboot(2) returned: nothing else to do; PID 1 must not exit (the kernel would panic, which also ends QEMU).
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn main() {
    let mut errors = Vec::new();
    for (src, dst, fs_) in [("proc", "/proc", "proc"), ("sysfs", "/sys", "sysfs"), ("devtmpfs", "/dev", "devtmpfs")] {
        if let Err(e) = mount(src, dst, fs_) {
            errors.push(e);
        }
    }
    // Console log level 1: kernel messages no longer interleave with the dumps (they stay in the log buffer).
    let _ = fs::write("/proc/sys/kernel/printk", "1");
    let cmdline = read_trim("/proc/cmdline");
    let interactive = cmdline.split_whitespace().any(|w| w == "memlab.agent=wait");
    print_e820_debug(&mut errors);
    let boot_ids: Vec<u64> = blocks().iter().map(|b| b.id).collect();
    let mut stats = vec![("boot".to_string(), dump("boot", &mut errors))];
    let mut actions: Vec<String> = Vec::new();
    if interactive {
        let stdin = io::stdin();
        let mut n = 0;
        loop {
            println!("@@agent ready");
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // `COMMAND [LABEL]`: the dump after it is named LABEL (else `N:COMMAND`).
            let mut words = line.split_whitespace();
            let Some(cmd) = words.next() else { continue };
            let label = words.next().map(String::from);
            if cmd == "end" {
                break;
            }
            n += 1;
            let lines = match cmd {
                "online" | "online_movable" | "online_kernel" => {
                    let t = Instant::now();
                    let ids = loop {
                        let ids: Vec<u64> = blocks().iter().filter(|b| b.state == "offline").map(|b| b.id).collect();
                        if !ids.is_empty() || t.elapsed() > Duration::from_secs(30) {
                            break ids;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    };
                    if ids.is_empty() {
                        vec![format!("{cmd}: no offline memory block appeared in 30 s")]
                    } else {
                        set_state(&ids, cmd)
                    }
                }
                "offline" => {
                    let ids: Vec<u64> = blocks()
                        .iter()
                        .filter(|b| b.state == "online" && !boot_ids.contains(&b.id))
                        .map(|b| b.id)
                        .collect();
                    set_state(&ids, "offline")
                }
                "dump" => Vec::new(),
                other => vec![format!(
                    "unknown command {other:?}; accepted: online, online_movable, online_kernel, offline, dump, end"
                )],
            };
            for l in &lines {
                println!("@@action {n} {l}");
            }
            actions.extend(lines.into_iter().map(|l| format!("{n} {l}")));
            let ev = label.unwrap_or_else(|| format!("{n}:{cmd}"));
            stats.push((ev.clone(), dump(&ev, &mut errors)));
        }
    }
    let dumps: Vec<String> = stats
        .iter()
        .map(|(ev, s)| {
            format!(
                "{{\"event\":{},\"blocks\":{},\"kpageflags_pfns\":{},\"kpageflags_runs\":{}}}",
                json_str(ev),
                s.blocks,
                s.pfns,
                s.runs
            )
        })
        .collect();
    let list = |v: &[String]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(",");
    println!(
        "@@linux {{\"agent\":\"memlab-agent {}\",\"kernel\":{},\"cmdline\":{},\"dumps\":[{}],\"actions\":[{}],\"errors\":[{}],\"ok\":{}}}",
        env!("CARGO_PKG_VERSION"),
        json_str(&read_trim("/proc/sys/kernel/osrelease")),
        json_str(&cmdline),
        dumps.join(","),
        list(&actions),
        list(&errors),
        errors.is_empty()
    );
    let _ = io::stdout().flush();
    power_off();
}
