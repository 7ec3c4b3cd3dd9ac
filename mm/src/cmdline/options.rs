//! The memlab kernel's command line: its key table ([`KEYS`]), the options the keys set ([`Options`]) and
//! [`parse`], shared by the kernel (which reads the line from fw_cfg) and the host runner (which checks a
//! `--cmdline` before it builds or boots anything).
//!
//! Each row of [`KEYS`] is the key's [`KeySpec`] (name, accepted values, help) and the function that stores its
//! value into [`Options`]; adding a key is adding a row (and a field). Strict: an unknown key, a bad value, a key
//! given twice, two keys that contradict each other ([`CONFLICTS`]) are rejected with one line
//! `cmdline: <what is wrong with which word>; accepted: <list or form>` (the `Display` of [`CmdlineError`](super::CmdlineError)).
//!
//! # Invariants
//! - [`Options::default`] is what an empty (or absent) command line gives;
//! - a rejected command line never yields partial options.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{check_conflicts, format_word, parse_raw, Conflict, KeySpec, MemmapEntry, Value, ValueKind};
use crate::hotplug::OnlinePolicy;
use crate::policy::HolePolicy;
use crate::usemap::VmDebug;
use crate::zones::CoreSpec;

/// `loglevel=`: the most verbose diagnostics printed (the kernel maps it onto the `log` crate's levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The parsed options.
#[derive(Clone)]
pub struct Options {
    /// `loglevel=`: the most verbose diagnostics printed.
    pub loglevel: LogLevel,
    /// `selftest=`: run only tests whose name contains this (demo tests: only on an exact match).
    pub selftest: Option<String>,
    /// `acpi_dump=1`: hex-dump the SRAT (for host fixtures).
    pub acpi_dump: bool,
    /// `expect_nodes=`: the NUMA node count the profile implies (checked by a self-test).
    pub expect_nodes: Option<u32>,
    /// `holes=`: the hole-initialization policy.
    pub policy: &'static dyn HolePolicy,
    /// `vm_debug=`: how the pageblock invariant is checked.
    pub vm_debug: VmDebug,
    /// `kernelcore=` / `movablecore=`: size, percentage or `mirror`.
    pub kernelcore: Option<CoreSpec>,
    pub movablecore: Option<CoreSpec>,
    /// `mem=`: RAM above this is removed from the firmware map.
    pub mem_limit: Option<u64>,
    /// `memmap=` (repeatable): ranges added to / changed in the firmware map.
    pub memmap: Vec<MemmapEntry>,
    /// `numa=off`: one node whatever the SRAT says.
    pub numa_off: bool,
    /// `movable_node`: SRAT hot-pluggable memory is ZONE_MOVABLE, and so is hot-added memory no zone claims.
    pub movable_node: bool,
    /// `e820_quirks=off`: keep the raw firmware map (no page-0 / BIOS-area adjustments).
    pub e820_quirks: bool,
    /// `memmodel=vmemmap`: the memmap is one virtually contiguous array (default: classic sparsemem).
    pub vmemmap: bool,
    /// `memmap_on_memory=on`: a hot-added DIMM's memmap lives on its own first pages (Linux's
    /// `memory_hotplug.memmap_on_memory`).
    pub memmap_on_memory: bool,
    /// `hotplug=N`: serve N memory hotplug events from QEMU (self-test `hotplug_events`); 0: off.
    pub hotplug: u32,
    /// `online_policy=`: the zone hot-added memory is onlined into.
    pub online_policy: OnlinePolicy,
    /// `stress=<seconds>`: random buddy traffic for this long after the model is built (`stress`).
    pub stress_secs: Option<u64>,
    /// `deferred_init=on` (the default, as on distribution kernels): defer each node's highest zone's struct
    /// pages as Linux 6.1 does and initialize them on every CPU after the secondary CPUs are up
    /// (`mm::deferred`); `off`: every struct page during memmap init.
    pub deferred_init: bool,
    /// `fuse_handover=on` (the default): memmap init and the deferred workers write each free page in the state
    /// the boot-time hand-over leaves it in, and the hand-over links max-order chunks without visiting every page
    /// again (`mm::model::MmOptions::fuse_handover`); `off`: Linux's two passes.
    pub fuse_handover: bool,
    /// `deferred_grow=<MiB>`: before the deferred workers run, allocate this much per node with deferred pages
    /// (order-9 blocks, node-local), growing zones that run out (`deferred_grow_zone`); freed after the workers.
    pub deferred_grow_mib: Option<u64>,
    /// `nr_cpus=`: at most this many CPUs possible (`nr_cpu_ids`).
    pub nr_cpus: Option<u32>,
    /// `maxcpus=`: at most this many CPUs brought up at boot (0: the boot CPU, and no hotplug CPUs).
    pub maxcpus: Option<u32>,
    /// `smp_nostart=<APIC id>`: fault injection: the CPU with this APIC id gets its INIT but no startup IPI, so
    /// it never answers (the bring-up's timeout path, named by APIC id).
    pub smp_nostart: Option<u32>,
    /// The command line as given.
    pub text: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            loglevel: LogLevel::Info,
            selftest: None,
            acpi_dump: false,
            expect_nodes: None,
            policy: crate::policy::by_name(crate::policy::DEFAULT_POLICY).expect("the default policy is registered"),
            vm_debug: VmDebug::Warn,
            kernelcore: None,
            movablecore: None,
            mem_limit: None,
            memmap: Vec::new(),
            numa_off: false,
            movable_node: false,
            e820_quirks: true,
            vmemmap: false,
            memmap_on_memory: false,
            hotplug: 0,
            online_policy: OnlinePolicy::Auto,
            stress_secs: None,
            deferred_init: true,
            fuse_handover: true,
            deferred_grow_mib: None,
            nr_cpus: None,
            maxcpus: None,
            smp_nostart: None,
            text: String::new(),
        }
    }
}

/// One accepted key: its spec and where its value goes. `set` may reject a value the spec's kind lets through
/// (a range check), with the text for "accepted:".
pub struct Key {
    pub spec: KeySpec,
    pub set: fn(&mut Options, &Value<'_>) -> Result<(), &'static str>,
}

/// Every key the kernel accepts.
pub const KEYS: &[Key] = &[
    Key {
        spec: KeySpec::new("loglevel", ValueKind::Choice(&["error", "warn", "info", "debug", "trace"]), "diagnostics"),
        set: set_loglevel,
    },
    Key {
        spec: KeySpec::new("selftest", ValueKind::Text, "run the self-tests whose name contains this"),
        set: |o, v| Ok(o.selftest = v.as_str().map(String::from)),
    },
    Key {
        spec: KeySpec::new("acpi_dump", ValueKind::Choice(&["0", "1"]), "hex-dump the SRAT"),
        set: |o, v| Ok(o.acpi_dump = v.as_str() == Some("1")),
    },
    Key {
        spec: KeySpec::new("expect_nodes", ValueKind::Integer, "the NUMA node count to expect"),
        set: |o, v| match v.as_u64() {
            Some(n @ 1..=64) => Ok(o.expect_nodes = Some(n as u32)),
            _ => Err("an integer from 1 to 64 (MAX_NUMNODES)"),
        },
    },
    Key {
        spec: KeySpec::new("holes", ValueKind::Text, "the hole-initialization policy (crate::policy::POLICIES)"),
        set: set_policy,
    },
    Key {
        spec: KeySpec::new("vm_debug", ValueKind::Choice(&["panic", "warn", "off"]), "the pageblock invariant check"),
        set: |o, v| Ok(o.vm_debug = v.as_str().and_then(VmDebug::from_name).unwrap_or(VmDebug::Warn)),
    },
    Key {
        spec: KeySpec::new("kernelcore", ValueKind::Text, "memory for non-movable zones: nn[KMGTPE], nn% or mirror"),
        set: |o, v| Ok(o.kernelcore = Some(core_spec(v)?)),
    },
    Key {
        spec: KeySpec::new("movablecore", ValueKind::Text, "memory for ZONE_MOVABLE: nn[KMGTPE] or nn%"),
        set: |o, v| Ok(o.movablecore = Some(core_spec(v)?)),
    },
    Key {
        spec: KeySpec::new("mem", ValueKind::Number, "remove RAM above this address"),
        set: |o, v| match v.as_u64() {
            Some(n) if n > 0 => Ok(o.mem_limit = Some(n)),
            _ => Err("a size above 0, nn[KMGTPE]"),
        },
    },
    Key {
        spec: KeySpec::repeating("memmap", ValueKind::MemmapSpec, "add or change a firmware-map range (Linux memmap=)"),
        set: |o, v| match v {
            Value::Memmap(entries) => Ok(o.memmap.extend(entries.iter().copied())),
            _ => Err("nn[KMG]$ss[KMG], nn[KMG]#ss[KMG], nn[KMG]@ss[KMG], nn[KMG]!ss[KMG] or exactmap"),
        },
    },
    Key { spec: KeySpec::new("numa", ValueKind::Choice(&["off"]), "one NUMA node"), set: |o, _| Ok(o.numa_off = true) },
    Key {
        spec: KeySpec::new(
            "movable_node",
            ValueKind::Flag,
            "hot-pluggable memory is ZONE_MOVABLE (Linux movable_node)",
        ),
        set: |o, _| Ok(o.movable_node = true),
    },
    Key {
        spec: KeySpec::new("e820_quirks", ValueKind::Choice(&["on", "off"]), "Linux's early x86 firmware-map fixes"),
        set: |o, v| Ok(o.e820_quirks = v.as_str() != Some("off")),
    },
    Key {
        spec: KeySpec::new(
            "memmodel",
            ValueKind::Choice(&["classic", "vmemmap"]),
            "how pfn_to_page finds a struct page",
        ),
        set: |o, v| Ok(o.vmemmap = v.as_str() == Some("vmemmap")),
    },
    Key {
        spec: KeySpec::new(
            "memmap_on_memory",
            ValueKind::Choice(&["on", "off"]),
            "put a hot-added DIMM's memmap on the DIMM itself",
        ),
        set: |o, v| Ok(o.memmap_on_memory = v.as_str() == Some("on")),
    },
    Key {
        spec: KeySpec::new("hotplug", ValueKind::Integer, "serve this many QEMU memory hotplug events"),
        set: |o, v| match v.as_u64() {
            Some(n @ 0..=64) => Ok(o.hotplug = n as u32),
            _ => Err("an integer from 0 to 64"),
        },
    },
    Key {
        spec: KeySpec::new(
            "online_policy",
            ValueKind::Choice(&["movable", "normal", "auto"]),
            "the zone hot-added memory goes to",
        ),
        set: |o, v| match v.as_str().and_then(OnlinePolicy::by_name) {
            Some(p) => Ok(o.online_policy = p),
            None => Err("movable, normal or auto"),
        },
    },
    Key {
        spec: KeySpec::new(
            "stress",
            ValueKind::Integer,
            "seconds of random buddy allocation traffic, verified per round",
        ),
        set: |o, v| match v.as_u64() {
            Some(n @ 1..=MAX_STRESS_SECS) => {
                o.stress_secs = Some(n);
                Ok(())
            }
            _ => Err("an integer from 1 to 86400 (seconds)"),
        },
    },
    Key {
        spec: KeySpec::new(
            "deferred_init",
            ValueKind::Choice(&["on", "off"]),
            "defer the struct pages of each node's highest zone (CONFIG_DEFERRED_STRUCT_PAGE_INIT)",
        ),
        set: |o, v| {
            o.deferred_init = v.as_str() == Some("on");
            Ok(())
        },
    },
    Key {
        spec: KeySpec::new(
            "fuse_handover",
            ValueKind::Choice(&["on", "off"]),
            "the boot-time hand-over's per-page work done by memmap init (off: Linux's two passes)",
        ),
        set: |o, v| {
            o.fuse_handover = v.as_str() == Some("on");
            Ok(())
        },
    },
    Key {
        spec: KeySpec::new(
            "deferred_grow",
            ValueKind::Integer,
            "MiB per node allocated before the deferred workers run, growing zones (deferred_grow_zone)",
        ),
        set: |o, v| match v.as_u64() {
            Some(n @ 1..=65536) => {
                o.deferred_grow_mib = Some(n);
                Ok(())
            }
            _ => Err("an integer from 1 to 65536 (MiB)"),
        },
    },
    Key {
        spec: KeySpec::new("nr_cpus", ValueKind::Integer, "at most this many possible CPUs (nr_cpu_ids)"),
        set: |o, v| match v.as_u64() {
            Some(n @ 1..=8192) => {
                o.nr_cpus = Some(n as u32);
                Ok(())
            }
            _ => Err("an integer from 1 to 8192 (NR_CPUS)"),
        },
    },
    Key {
        spec: KeySpec::new("maxcpus", ValueKind::Integer, "at most this many CPUs brought up at boot"),
        set: |o, v| match v.as_u64() {
            Some(n @ 0..=8192) => {
                o.maxcpus = Some(n as u32);
                Ok(())
            }
            _ => Err("an integer from 0 to 8192"),
        },
    },
    Key {
        spec: KeySpec::new(
            "smp_nostart",
            ValueKind::Integer,
            "fault injection: send this APIC id no startup IPI (it never answers)",
        ),
        set: |o, v| match v.as_u64() {
            Some(n @ 0..=0xfffe) => {
                o.smp_nostart = Some(n as u32);
                Ok(())
            }
            _ => Err("an APIC id from 0 to 65534"),
        },
    },
];

/// The longest `stress=` run accepted: one day.
pub const MAX_STRESS_SECS: u64 = 86400;

/// Pairs of words that contradict each other (checked after every word parsed).
pub const CONFLICTS: &[Conflict] = &[Conflict {
    key: "kernelcore",
    value: Some("mirror"),
    with: "movablecore",
    why: "with kernelcore=mirror Linux ignores movablecore= (find_zone_movable_pfns_for_nodes)",
}];

/// `holes=`: a registered policy; the accepted list is the registry, so a new policy needs no change here.
fn set_policy(o: &mut Options, v: &Value<'_>) -> Result<(), &'static str> {
    match v.as_str().and_then(crate::policy::by_name) {
        Some(p) => Ok(o.policy = p),
        None => Err(&**POLICY_NAMES.call_once(|| crate::policy::names().join(", "))),
    }
}

static POLICY_NAMES: spin::Once<String> = spin::Once::new();

/// `kernelcore=` / `movablecore=` values as Linux's `cmdline_parse_core` reads them.
fn core_spec(v: &Value<'_>) -> Result<CoreSpec, &'static str> {
    const ACCEPTED: &str = "nn[KMGTPE] (memparse), nn% (0-100) or mirror";
    let s = v.as_str().ok_or(ACCEPTED)?;
    if s == "mirror" {
        return Ok(CoreSpec::Mirror);
    }
    if let Some(p) = s.strip_suffix('%') {
        return p.parse::<u32>().ok().filter(|&p| p <= 100).map(CoreSpec::Percent).ok_or(ACCEPTED);
    }
    super::parse_bytes_strict(s).map(|b| CoreSpec::Pages(b >> crate::consts::PAGE_SHIFT)).map_err(|_| ACCEPTED)
}

fn set_loglevel(o: &mut Options, v: &Value<'_>) -> Result<(), &'static str> {
    o.loglevel = match v.as_str() {
        Some("error") => LogLevel::Error,
        Some("warn") => LogLevel::Warn,
        Some("info") => LogLevel::Info,
        Some("debug") => LogLevel::Debug,
        _ => LogLevel::Trace,
    };
    Ok(())
}

/// Whether the kernel runs deferred struct page init under command line `text` (as printed on its `Command line:`
/// line): the parser's verdict, the default when the line does not parse.
pub fn deferred_init_on(text: &str) -> bool {
    parse(text.as_bytes()).map_or(Options::default().deferred_init, |o| o.deferred_init)
}

/// Parses the command line. `Err` is the one line to print.
pub fn parse(bytes: &[u8]) -> Result<Options, String> {
    let specs: Vec<KeySpec> = KEYS.iter().map(|k| k.spec).collect();
    let words = parse_raw(bytes, &specs).map_err(|e| e.to_string())?;
    check_conflicts(&words, CONFLICTS).map_err(|e| e.to_string())?;
    let mut o = Options { text: String::from_utf8_lossy(bytes).trim().to_string(), ..Options::default() };
    for (name, value) in &words {
        let key = KEYS.iter().find(|k| k.spec.name == *name).expect("mm::cmdline returns only keys of the table");
        let word = format_word(name, value);
        (key.set)(&mut o, value)
            .map_err(|accepted| format!("cmdline: bad value in word \"{}\"; accepted: {}", word, accepted))?;
    }
    Ok(o)
}
