//! Bad command lines, fed to the command-line parser.

use super::*;

// ---- command line --------------------------------------------------------------------------------------------

/// The kernel's table (kernel/src/cmdline.rs `KEYS`), specs only, and its conflict rules (`CONFLICTS`).
const KEYS: &[KeySpec] = &[
    KeySpec::new("loglevel", ValueKind::Choice(&["error", "warn", "info", "debug", "trace"]), "diagnostics"),
    KeySpec::new("selftest", ValueKind::Text, "run the self-tests whose name contains this"),
    KeySpec::new("holes", ValueKind::Text, "the hole-initialization policy"),
    KeySpec::new("vm_debug", ValueKind::Choice(&["panic", "warn", "off"]), "the pageblock invariant check"),
    KeySpec::new("kernelcore", ValueKind::Text, "memory for non-movable zones"),
    KeySpec::new("movablecore", ValueKind::Text, "memory for ZONE_MOVABLE"),
    KeySpec::new("mem", ValueKind::Number, "remove RAM above this address"),
    KeySpec::repeating("memmap", ValueKind::MemmapSpec, "add or change a firmware-map range"),
    KeySpec::new("stress", ValueKind::Integer, "seconds of random buddy allocation traffic"),
];

const CONFLICTS: &[Conflict] = &[Conflict {
    key: "kernelcore",
    value: Some("mirror"),
    with: "movablecore",
    why: "with kernelcore=mirror Linux ignores movablecore= (find_zone_movable_pfns_for_nodes)",
}];

const KEY_LIST: &str = "loglevel, selftest, holes, vm_debug, kernelcore, movablecore, mem, memmap, stress";
const SIZE: &str =
    "a size: decimal, 0x hex or 0-prefixed octal, with an optional K, M, G, T, P or E suffix (512M, 0x1000)";

/// The kernel's parse: the words, then the conflict rules.
fn cmdline(line: &str) -> Result<(), CmdlineError> {
    let words = parse(line, KEYS)?;
    check_conflicts(&words, CONFLICTS)
}

#[test]
fn cmdline_unknown_key() {
    assert_err(
        cmdline("mem=1G frobnicate=1"),
        CmdlineError::UnknownKey { key: "frobnicate".into(), word: "frobnicate=1".into(), accepted: KEY_LIST.into() },
        &format!("cmdline: unknown key \"frobnicate\" in \"frobnicate=1\"; accepted keys: {}", KEY_LIST),
    );
}

#[test]
fn cmdline_bad_number() {
    assert_err(
        cmdline("mem=12X"),
        CmdlineError::BadValue {
            key: "mem",
            value: "12X".into(),
            reason: ValueError::Number(NumberError::Trailing { rest: "X".into() }),
            accepted: SIZE.into(),
        },
        &format!("cmdline: bad value \"12X\" for mem (trailing \"X\" after the number); accepted: {}", SIZE),
    );
    assert_err(
        cmdline("stress=two"),
        CmdlineError::BadValue {
            key: "stress",
            value: "two".into(),
            reason: ValueError::Number(NumberError::NoDigits),
            accepted: "an integer: decimal, 0x hex or 0-prefixed octal".into(),
        },
        "cmdline: bad value \"two\" for stress (no number); accepted: an integer: decimal, 0x hex or 0-prefixed octal",
    );
}

#[test]
fn cmdline_number_overflows() {
    assert_err(
        cmdline("mem=16E"),
        CmdlineError::BadValue {
            key: "mem",
            value: "16E".into(),
            reason: ValueError::Number(NumberError::Overflow),
            accepted: SIZE.into(),
        },
        &format!("cmdline: bad value \"16E\" for mem (the number does not fit in 64 bits); accepted: {}", SIZE),
    );
}

#[test]
fn cmdline_value_not_a_choice() {
    assert_err(
        cmdline("vm_debug=loud"),
        CmdlineError::BadValue {
            key: "vm_debug",
            value: "loud".into(),
            reason: ValueError::NotAChoice,
            accepted: "panic, warn, off".into(),
        },
        "cmdline: bad value \"loud\" for vm_debug; accepted: panic, warn, off",
    );
}

#[test]
fn cmdline_memmap_range_overflows() {
    let e = cmdline("memmap=16M$0xffffffffffffff00").unwrap_err();
    assert!(matches!(
        e,
        CmdlineError::BadValue {
            key: "memmap",
            reason: ValueError::MemmapOverflow { size: 0x1000000, start: 0xffffffffffffff00 },
            ..
        }
    ));
    assert!(e
        .to_string()
        .starts_with("cmdline: bad value \"16M$0xffffffffffffff00\" for memmap (range start 0xffffffffffffff00 + size 0x1000000 overflows 64 bits); accepted: exactmap, "));
}

#[test]
fn cmdline_repeated_key() {
    assert_err(
        cmdline("mem=1G loglevel=info mem=2G"),
        CmdlineError::Repeated { key: "mem", first: "mem=1G".into(), second: "mem=2G".into() },
        "cmdline: mem given twice (\"mem=1G\", then \"mem=2G\"); it may appear only once",
    );
}

#[test]
fn cmdline_conflicting_keys() {
    let why = "with kernelcore=mirror Linux ignores movablecore= (find_zone_movable_pfns_for_nodes)";
    assert_err(
        cmdline("kernelcore=mirror movablecore=10%"),
        CmdlineError::Conflict { first: "kernelcore=mirror".into(), second: "movablecore=10%".into(), why },
        &format!("cmdline: \"kernelcore=mirror\" conflicts with \"movablecore=10%\": {}; give only one of them", why),
    );
    // Either order; and kernelcore with a size does not conflict.
    assert_err(
        cmdline("movablecore=1G kernelcore=mirror"),
        CmdlineError::Conflict { first: "movablecore=1G".into(), second: "kernelcore=mirror".into(), why },
        &format!("cmdline: \"movablecore=1G\" conflicts with \"kernelcore=mirror\": {}; give only one of them", why),
    );
    assert_eq!(cmdline("kernelcore=1G movablecore=10%"), Ok(()));
}

#[test]
fn cmdline_missing_value() {
    assert_err(
        cmdline("mem"),
        CmdlineError::MissingValue { key: "mem", word: "mem".into(), accepted: SIZE.into() },
        &format!("cmdline: mem needs a value (\"mem\" given); accepted: mem={}", SIZE),
    );
}

#[test]
fn cmdline_unterminated_quote() {
    assert_err(
        cmdline("selftest=\"buddy mem=1G"),
        CmdlineError::UnterminatedQuote { word: "selftest=\"buddy mem=1G".into() },
        "cmdline: unterminated quote in \"selftest=\\\"buddy mem=1G\"; close it with \"",
    );
}

#[test]
fn cmdline_too_long() {
    let line = format!("selftest={}", "x".repeat(2100));
    assert_err(
        cmdline(&line),
        CmdlineError::TooLong { len: 2109, max: 2048 },
        "cmdline: 2109 bytes long; at most 2048 (COMMAND_LINE_SIZE) are accepted",
    );
}

#[test]
fn cmdline_not_utf8() {
    assert_err(
        parse_raw(b"mem=1G \xff", KEYS).map(|_| ()),
        CmdlineError::NotUtf8 { offset: 7 },
        "cmdline: not UTF-8 text (invalid byte at offset 7)",
    );
}
