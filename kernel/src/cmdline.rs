//! The kernel command line: Linux-like `key=value` words from the fw_cfg file `opt/memlab/cmdline`.
//!
//! Parsing is `mm::cmdline` (strict, host-tested); this module owns the kernel's key table, [`KEYS`]: each row is
//! the key's `mm::cmdline::KeySpec` (name, accepted values, help) and the function that stores its value into
//! [`Options`]. Adding a key is adding a row (and a field).
//!
//! Strict: an unknown key, a bad value, a key given twice are rejected with one line
//! `cmdline: <what is wrong with which word>; accepted: <list or form>` (the `Display` of
//! `mm::cmdline::CmdlineError`) and the BAD_CMDLINE exit code. Nothing is silently ignored.
//!
//! # Invariants
//! - [`Options::default`] is what an empty (or absent) command line gives;
//! - a rejected command line never yields partial options.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use log::LevelFilter;
use mm::cmdline::{format_word, parse_raw, KeySpec, Value, ValueKind};

/// The fw_cfg file holding the command line.
pub const FW_CFG_FILE: &str = "opt/memlab/cmdline";
/// The longest command line accepted (Linux x86: COMMAND_LINE_SIZE).
pub const MAX_LEN: usize = mm::cmdline::COMMAND_LINE_SIZE;

/// The parsed options.
#[derive(Clone, Debug)]
pub struct Options {
    /// `loglevel=`: the most verbose diagnostics printed.
    pub loglevel: LevelFilter,
    /// `selftest=`: run only tests whose name contains this (demo tests: only on an exact match).
    pub selftest: Option<String>,
    /// `acpi_dump=1`: hex-dump the SRAT (for host fixtures).
    pub acpi_dump: bool,
    /// `expect_nodes=`: the NUMA node count the profile implies (checked by a self-test).
    pub expect_nodes: Option<u32>,
    /// The command line as given.
    pub text: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            loglevel: LevelFilter::Info,
            selftest: None,
            acpi_dump: false,
            expect_nodes: None,
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
];

fn set_loglevel(o: &mut Options, v: &Value<'_>) -> Result<(), &'static str> {
    o.loglevel = match v.as_str() {
        Some("error") => LevelFilter::Error,
        Some("warn") => LevelFilter::Warn,
        Some("info") => LevelFilter::Info,
        Some("debug") => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    Ok(())
}

/// Parses the command line. `Err` is the one line to print.
pub fn parse(bytes: &[u8]) -> Result<Options, String> {
    let specs: Vec<KeySpec> = KEYS.iter().map(|k| k.spec).collect();
    let words = parse_raw(bytes, &specs).map_err(|e| e.to_string())?;
    let mut o = Options { text: String::from_utf8_lossy(bytes).trim().to_string(), ..Options::default() };
    for (name, value) in &words {
        let key = KEYS.iter().find(|k| k.spec.name == *name).expect("mm::cmdline returns only keys of the table");
        let word = format_word(name, value);
        (key.set)(&mut o, value)
            .map_err(|accepted| format!("cmdline: bad value in word \"{}\"; accepted: {}", word, accepted))?;
    }
    Ok(o)
}
