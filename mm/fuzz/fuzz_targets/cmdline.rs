//! The command-line parser with the kernel's key table (kernel/src/cmdline.rs `KEYS`).
//!
//! Properties: `parse_raw` never panics; an error displays as one non-empty line; an accepted line, rendered
//! back word by word with `format_word` (as the kernel echoes it), parses to the same words and values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm::cmdline::{format_word, parse, parse_raw, KeySpec, Value, ValueKind, COMMAND_LINE_SIZE};

/// The kernel's table (kernel/src/cmdline.rs `KEYS`), specs only.
const TABLE: &[KeySpec] = &[
    KeySpec::new("loglevel", ValueKind::Choice(&["error", "warn", "info", "debug", "trace"]), "diagnostics"),
    KeySpec::new("selftest", ValueKind::Text, "run the self-tests whose name contains this"),
    KeySpec::new("acpi_dump", ValueKind::Choice(&["0", "1"]), "hex-dump the SRAT"),
    KeySpec::new("expect_nodes", ValueKind::Integer, "the NUMA node count to expect"),
    KeySpec::new("holes", ValueKind::Text, "the hole-initialization policy (mm::policy::POLICIES)"),
    KeySpec::new("vm_debug", ValueKind::Choice(&["panic", "warn", "off"]), "the pageblock invariant check"),
    KeySpec::new("kernelcore", ValueKind::Text, "memory for non-movable zones: nn[KMGTPE], nn% or mirror"),
    KeySpec::new("movablecore", ValueKind::Text, "memory for ZONE_MOVABLE: nn[KMGTPE] or nn%"),
    KeySpec::new("mem", ValueKind::Number, "remove RAM above this address"),
    KeySpec::repeating("memmap", ValueKind::MemmapSpec, "add or change a firmware-map range (Linux memmap=)"),
    KeySpec::new("numa", ValueKind::Choice(&["off"]), "one NUMA node"),
    KeySpec::new("e820_quirks", ValueKind::Choice(&["on", "off"]), "Linux's early x86 firmware-map fixes"),
    KeySpec::new("quiet", ValueKind::Flag, "a flag, to cover bare keys"),
];

fuzz_target!(|data: &[u8]| {
    let words = match parse_raw(data, TABLE) {
        Ok(w) => w,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{:?}: {:?}", e, msg);
            return;
        }
    };
    // A text value holding a double quote cannot be rendered back (Linux's next_arg has no escapes).
    if words.iter().any(|(_, v)| matches!(v, Value::Text(t) if t.contains('"'))) {
        return;
    }
    let line: Vec<String> = words.iter().map(|(k, v)| format_word(k, v)).collect();
    let line = line.join(" ");
    if line.len() > COMMAND_LINE_SIZE {
        return; // rendering may lengthen a word (numbers print as hex): over the limit is the documented error
    }
    match parse(&line, TABLE) {
        Ok(again) => assert_eq!(again, words, "rendered as {:?}", line),
        Err(e) => panic!("rendered {:?} does not parse: {}", line, e),
    }
});
