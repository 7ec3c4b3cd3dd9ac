//! Parses the kernel's serial console into structured results.
//!
//! Recognized lines (everything else is kept only in the raw text):
//! - `test <name> ... ok` / `test <name> ... FAILED: <reason>` (also when the test's own output came between
//!   `test <name> ... ` and its outcome, which then starts a line)
//! - `N passed, N failed` (the summary)
//! - `BIOS-e820: [mem 0x...-0x...] <kind>` (inclusive end, Linux's kind names) and
//!   `memlab: firmware map: N raw regions, M printed`
//! - `memlab: reserved [mem 0x...-0x...] <what>`
//! - `ACPI: SRAT: Node N PXM P [mem 0x...-0x...][ hotplug][ non-volatile]` and `memlab: numa nodes=N source=S`
//! - `EXCEPTION: <name> (vector N)[ error_code=0x..] rip=0x..[ cr2=0x..]`
//! - `PANIC: <message> at <file>:<line>:<col>`
//! - `cmdline: ...` (a rejected command line)
//! - `@@summary {json}` (kept as text) and `@@hex <name> <offset> <hex>` (reassembled into bytes)
//!
//! # Invariants
//! - parsing never fails and never panics: a line that looks like one of the above but does not parse is kept in
//!   [`SerialLog::unparsed`];
//! - ranges are half-open `[start, end)` here (the printed end + 1).

use std::collections::BTreeMap;

use mm::layout::{FirmwareRegion, RegionKind};

/// One self-test outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestOutcome {
    pub name: String,
    /// `Err(reason)` for a failed test.
    pub result: Result<(), String>,
}

/// The `N passed, N failed` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub passed: u32,
    pub failed: u32,
}

/// A `memlab: reserved [mem ...] <what>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub start: u64,
    pub end: u64,
    pub what: String,
}

/// An `ACPI: SRAT: Node N PXM P [mem ...]` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SratLine {
    pub node: u32,
    pub pxm: u32,
    pub start: u64,
    pub end: u64,
    pub hotplug: bool,
    pub non_volatile: bool,
}

/// An `EXCEPTION:` report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionReport {
    pub name: String,
    pub vector: u8,
    pub error_code: Option<u64>,
    pub rip: u64,
    pub cr2: Option<u64>,
}

/// A `PANIC:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicReport {
    pub message: String,
    pub file: String,
    pub line: u32,
    pub col: u32,
}

/// Everything recognized in a serial log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SerialLog {
    pub tests: Vec<TestOutcome>,
    /// The last summary line (there should be exactly one).
    pub summary: Option<Summary>,
    pub summary_lines: usize,
    /// The printed firmware map, in print order.
    pub e820: Vec<FirmwareRegion>,
    /// The raw region count from `memlab: firmware map: N raw regions`.
    pub e820_raw_count: Option<usize>,
    pub reserved: Vec<Reserved>,
    pub srat: Vec<SratLine>,
    /// From `memlab: numa nodes=N`.
    pub numa_nodes: Option<u32>,
    pub exceptions: Vec<ExceptionReport>,
    pub panics: Vec<PanicReport>,
    /// `cmdline: ...` lines, whole.
    pub cmdline_errors: Vec<String>,
    /// `warning: ...` lines, without the prefix.
    pub warnings: Vec<String>,
    /// `@@summary ` lines, the JSON text after the prefix.
    pub summary_json: Vec<String>,
    /// `@@hotplug ` lines (one per hotplug event), the JSON text after the prefix.
    pub hotplug_json: Vec<String>,
    /// `@@hex <name>` dumps, reassembled.
    pub hex_dumps: BTreeMap<String, Vec<u8>>,
    /// Lines that start like a recognized line but do not parse.
    pub unparsed: Vec<String>,
}

impl SerialLog {
    /// The outcome of test `name`.
    pub fn test(&self, name: &str) -> Option<&TestOutcome> {
        self.tests.iter().find(|t| t.name == name)
    }

    /// The printed regions of `kind`.
    pub fn regions(&self, kind: RegionKind) -> impl Iterator<Item = &FirmwareRegion> {
        self.e820.iter().filter(move |r| r.kind == kind)
    }

    /// The SRAT lines of node `node`.
    pub fn srat_node(&self, node: u32) -> impl Iterator<Item = &SratLine> {
        self.srat.iter().filter(move |s| s.node == node)
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// `[mem 0xS-0xE]` (inclusive end) -> `[S, E + 1)`.
fn mem_range(s: &str) -> Option<(u64, u64, &str)> {
    let s = s.strip_prefix("[mem ")?;
    let (range, rest) = s.split_once(']')?;
    let (a, b) = range.split_once('-')?;
    Some((hex(a)?, hex(b)?.checked_add(1)?, rest))
}

/// Linux's `e820_print_type` names (and `UEFI type N`) -> kind.
pub fn kind_from_name(name: &str) -> Option<RegionKind> {
    Some(match name {
        "usable" => RegionKind::Usable,
        "reserved" => RegionKind::Reserved,
        "ACPI data" => RegionKind::AcpiData,
        "ACPI NVS" => RegionKind::AcpiNvs,
        "unusable" => RegionKind::Unusable,
        "persistent (type 7)" => RegionKind::Pmem,
        "persistent (type 12)" => RegionKind::Pram,
        "soft reserved" => RegionKind::SoftReserved,
        _ => {
            if let Some(n) = name.strip_prefix("UEFI type ") {
                RegionKind::UefiType(n.parse().ok()?)
            } else {
                RegionKind::from_e820_type(name.strip_prefix("type ")?.parse().ok()?)
            }
        }
    })
}

fn parse_e820(rest: &str) -> Option<FirmwareRegion> {
    let (start, end, kind) = mem_range(rest)?;
    Some(FirmwareRegion::new(start, end, kind_from_name(kind.trim())?))
}

fn parse_srat(rest: &str) -> Option<SratLine> {
    // "Node N PXM P [mem ...]..."
    let rest = rest.strip_prefix("Node ")?;
    let (node, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("PXM ")?;
    let (pxm, rest) = rest.split_once(' ')?;
    let (start, end, flags) = mem_range(rest)?;
    let flags: Vec<&str> = flags.split_whitespace().collect();
    if flags.iter().any(|f| *f != "hotplug" && *f != "non-volatile") {
        return None;
    }
    Some(SratLine {
        node: node.parse().ok()?,
        pxm: pxm.parse().ok()?,
        start,
        end,
        hotplug: flags.contains(&"hotplug"),
        non_volatile: flags.contains(&"non-volatile"),
    })
}

fn parse_exception(rest: &str) -> Option<ExceptionReport> {
    // "<name> (vector N) error_code=0x.. rip=0x.. cr2=0x.."
    let (name, rest) = rest.split_once(" (vector ")?;
    let (vector, rest) = rest.split_once(')')?;
    let mut r =
        ExceptionReport { name: name.into(), vector: vector.parse().ok()?, error_code: None, rip: 0, cr2: None };
    let mut rip = None;
    for field in rest.split_whitespace() {
        let (k, v) = field.split_once('=')?;
        match k {
            "error_code" => r.error_code = Some(hex(v)?),
            "rip" => rip = Some(hex(v)?),
            "cr2" => r.cr2 = Some(hex(v)?),
            _ => return None,
        }
    }
    r.rip = rip?;
    Some(r)
}

fn parse_panic(rest: &str) -> Option<PanicReport> {
    let (message, loc) = rest.rsplit_once(" at ")?;
    let mut it = loc.rsplitn(3, ':');
    let col = it.next()?.parse().ok()?;
    let line = it.next()?.parse().ok()?;
    let file = it.next()?.to_string();
    Some(PanicReport { message: message.into(), file, line, col })
}

fn parse_summary(line: &str) -> Option<Summary> {
    let (p, f) = line.split_once(" passed, ")?;
    let f = f.strip_suffix(" failed")?;
    Some(Summary { passed: p.parse().ok()?, failed: f.parse().ok()? })
}

fn parse_hex_dump(rest: &str, dumps: &mut BTreeMap<String, Vec<u8>>) -> Option<()> {
    let mut it = rest.split_whitespace();
    let (name, offset, bytes) = (it.next()?, usize::from_str_radix(it.next()?, 16).ok()?, it.next()?);
    if bytes.len() % 2 != 0 || it.next().is_some() {
        return None;
    }
    let data: Option<Vec<u8>> =
        (0..bytes.len()).step_by(2).map(|i| u8::from_str_radix(bytes.get(i..i + 2)?, 16).ok()).collect();
    let data = data?;
    let buf = dumps.entry(name.to_string()).or_default();
    if buf.len() != offset {
        return None;
    }
    buf.extend_from_slice(&data);
    Some(())
}

/// Parses a whole serial log.
pub fn parse(text: &str) -> SerialLog {
    let mut log = SerialLog::default();
    // A test whose "test x ... " line was continued by the test's own output: its outcome ("ok" or "FAILED: ...")
    // starts a later line.
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r').trim_end();
        let mut ok = true;
        if let Some(rest) = line.strip_prefix("test ") {
            pending = None;
            if let Some((name, outcome)) = rest.split_once(" ... ") {
                // An exception or panic may interrupt "test x ... " (the report is on the next line).
                if outcome == "ok" {
                    log.tests.push(TestOutcome { name: name.into(), result: Ok(()) });
                } else if let Some(reason) = outcome.strip_prefix("FAILED: ") {
                    log.tests.push(TestOutcome { name: name.into(), result: Err(reason.into()) });
                } else {
                    pending = Some(name.into());
                }
            }
        } else if let Some(name) = pending.take_if(|_| line == "ok" || line.starts_with("FAILED: ")) {
            let result = match line.strip_prefix("FAILED: ") {
                Some(reason) => Err(reason.into()),
                None => Ok(()),
            };
            log.tests.push(TestOutcome { name, result });
        } else if let Some(s) = parse_summary(line) {
            log.summary = Some(s);
            log.summary_lines += 1;
        } else if let Some(rest) = line.strip_prefix("BIOS-e820: ") {
            match parse_e820(rest) {
                Some(r) => log.e820.push(r),
                None => ok = false,
            }
        } else if let Some(rest) = line.strip_prefix("memlab: firmware map: ") {
            match rest.split_once(" raw regions").and_then(|(n, _)| n.parse().ok()) {
                Some(n) => log.e820_raw_count = Some(n),
                None => ok = false,
            }
        } else if let Some(rest) = line.strip_prefix("memlab: reserved ") {
            match mem_range(rest) {
                Some((start, end, what)) => log.reserved.push(Reserved { start, end, what: what.trim().into() }),
                None => ok = false,
            }
        } else if let Some(rest) = line.strip_prefix("ACPI: SRAT: ") {
            match parse_srat(rest) {
                Some(s) => log.srat.push(s),
                None => ok = false,
            }
        } else if let Some(rest) = line.strip_prefix("memlab: numa nodes=") {
            match rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
                Some(n) => log.numa_nodes = Some(n),
                None => ok = false,
            }
        } else if let Some(rest) = line.strip_prefix("cmdline: ") {
            let _ = rest;
            log.cmdline_errors.push(line.into());
        } else if let Some(rest) = line.strip_prefix("warning: ") {
            log.warnings.push(rest.into());
        } else if let Some(rest) = line.strip_prefix("@@summary ") {
            log.summary_json.push(rest.into());
        } else if let Some(rest) = line.strip_prefix("@@hotplug ") {
            log.hotplug_json.push(rest.into());
        } else if let Some(rest) = line.strip_prefix("@@hex ") {
            ok = parse_hex_dump(rest, &mut log.hex_dumps).is_some();
        } else if let Some(i) = line.find("EXCEPTION: ") {
            pending = None;
            match parse_exception(&line[i + "EXCEPTION: ".len()..]) {
                Some(e) => log.exceptions.push(e),
                None => ok = false,
            }
        } else if let Some(i) = line.find("PANIC: ") {
            pending = None;
            match parse_panic(&line[i + "PANIC: ".len()..]) {
                Some(p) => log.panics.push(p),
                None => ok = false,
            }
        }
        if !ok {
            log.unparsed.push(line.into());
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "memlab kernel 0.1.0 booting\r
BIOS-provided physical RAM map:\r
BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\r
BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\r
BIOS-e820: [mem 0x000000fd00000000-0x000000ffffffffff] reserved\r
BIOS-e820: [mem 0x0000000000100000-0x0000000000ffffff] type 13\r
BIOS-e820: [mem 0x0000000001000000-0x0000000001ffffff] UEFI type 10\r
memlab: firmware map: 13 raw regions, 11 printed\r
memlab: reserved [mem 0x0000000001000000-0x0000000001570fff] bootloader\r
ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]\r
ACPI: SRAT: Node 1 PXM 1 [mem 0x140000000-0x2c5ffffff] hotplug\r
memlab: numa nodes=2 source=srat\r
@@hex SRAT 000000 5352
@@hex SRAT 000002 4154
test serial_ready ... ok\r
test __fail_demo ... FAILED: two == 3 (left: 2, right: 3) at kernel/src/tests.rs:1\r
test __pagefault_demo ... \r
EXCEPTION: page fault (vector 14) error_code=0x0 rip=0xffffffff80001234 cr2=0xdead0000000\r
PANIC: oops: a at b at kernel/src/main.rs:10:5\r
@@summary {\"a\":1}\r
1 passed, 1 failed\r
";

    #[test]
    fn a_test_that_prints_keeps_its_outcome() {
        let l = parse(
            "test heap_grows ... memlab: heap: grew by 3 regions\nmore output\nok\n\
             test other ... line\nFAILED: boom at x.rs:1:1\ntest crash ... output\n\
             EXCEPTION: page fault (vector 14) rip=0x1\nok\n2 passed, 1 failed\n",
        );
        assert_eq!(
            l.tests,
            vec![
                TestOutcome { name: "heap_grows".into(), result: Ok(()) },
                TestOutcome { name: "other".into(), result: Err("boom at x.rs:1:1".into()) },
            ]
        );
    }

    #[test]
    fn sample_parses() {
        let l = parse(SAMPLE);
        assert_eq!(l.e820.len(), 5);
        assert_eq!(l.e820[0], FirmwareRegion::new(0, 0xa0000 - 0x400, RegionKind::Usable));
        assert_eq!(l.e820[2].end, 0x100_0000_0000);
        assert_eq!(l.e820[3].kind, RegionKind::E820Type(13));
        assert_eq!(l.e820[4].kind, RegionKind::UefiType(10));
        assert_eq!(l.e820_raw_count, Some(13));
        assert_eq!(l.reserved[0], Reserved { start: 0x100_0000, end: 0x157_1000, what: "bootloader".into() });
        assert_eq!(l.srat.len(), 2);
        assert_eq!(
            l.srat[1],
            SratLine { node: 1, pxm: 1, start: 0x1_4000_0000, end: 0x2_c600_0000, hotplug: true, non_volatile: false }
        );
        assert_eq!(l.numa_nodes, Some(2));
        assert_eq!(l.tests.len(), 2);
        assert!(l.test("__fail_demo").unwrap().result.is_err());
        assert_eq!(l.exceptions[0].cr2, Some(0x0dea_d000_0000));
        assert_eq!(l.exceptions[0].error_code, Some(0));
        assert_eq!(
            l.panics[0],
            PanicReport { message: "oops: a at b".into(), file: "kernel/src/main.rs".into(), line: 10, col: 5 }
        );
        assert_eq!(l.summary, Some(Summary { passed: 1, failed: 1 }));
        assert_eq!(l.summary_json, vec!["{\"a\":1}".to_string()]);
        assert_eq!(l.hex_dumps["SRAT"], b"SRAT".to_vec());
        assert!(l.unparsed.is_empty(), "{:?}", l.unparsed);
    }

    #[test]
    fn garbage_is_kept_not_fatal() {
        let l = parse("BIOS-e820: [mem 0x12-zz] usable\nEXCEPTION: ???\n\u{0}\u{ff}\n");
        assert_eq!(l.unparsed.len(), 2);
    }
}
