//! The command-line parser's tests: Linux's number forms, quoting, every error, property tests.
use super::*;
use alloc::vec;
use proptest::prelude::*;

const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
const TABLE: &[KeySpec] = &[
    KeySpec::new("loglevel", ValueKind::Choice(LEVELS), "console log level"),
    KeySpec::new("selftest", ValueKind::Text, "run only self-tests whose name contains this"),
    KeySpec::new("movablecore", ValueKind::Number, "memory for ZONE_MOVABLE"),
    KeySpec::new("stress", ValueKind::Integer, "seconds of allocation stress"),
    KeySpec::new("quiet", ValueKind::Flag, "less output"),
    KeySpec::new("vm_debug", ValueKind::Choice(&["panic", "warn", "off"]), "zone_spans_pfn check mode"),
    KeySpec::repeating("memmap", ValueKind::MemmapSpec, "user-defined e820 ranges"),
];

fn p(line: &str) -> Result<Vec<(&'static str, Value<'_>)>, CmdlineError> {
    parse(line, TABLE)
}
fn msg(line: &str) -> String {
    p(line).unwrap_err().to_string()
}

#[test]
fn simple_words_in_order() {
    let v = p("  loglevel=debug\tselftest=acpi quiet movablecore=512M stress=0x10\r\n").unwrap();
    assert_eq!(
        v,
        vec![
            ("loglevel", Value::Choice("debug")),
            ("selftest", Value::Text("acpi")),
            ("quiet", Value::Flag),
            ("movablecore", Value::Number(512 << 20)),
            ("stress", Value::Integer(16)),
        ]
    );
    assert_eq!(p(""), Ok(vec![]));
    assert_eq!(p(" \t\x0b\x0c "), Ok(vec![]));
}

#[test]
fn quotes_like_linux() {
    assert_eq!(p("selftest=\"heap and acpi\"").unwrap(), vec![("selftest", Value::Text("heap and acpi"))]);
    assert_eq!(p("\"selftest=a b\" quiet").unwrap(), vec![("selftest", Value::Text("a b")), ("quiet", Value::Flag)]);
    assert_eq!(p("selftest=\"\"").unwrap(), vec![("selftest", Value::Text(""))]);
    assert_eq!(p("selftest=").unwrap(), vec![("selftest", Value::Text(""))]);
    // Inner quotes stay (Linux strips only the outer pair).
    assert_eq!(p("selftest=a\"b c\"d").unwrap(), vec![("selftest", Value::Text("a\"b c\"d"))]);
    assert_eq!(p("loglevel=\"info\"").unwrap(), vec![("loglevel", Value::Choice("info"))]);
    assert_eq!(
        msg("selftest=\"abc quiet"),
        "cmdline: unterminated quote in \"selftest=\\\"abc quiet\"; close it with \""
    );
}

#[test]
fn dash_and_underscore_are_the_same_in_keys() {
    assert_eq!(p("vm-debug=warn").unwrap(), vec![("vm_debug", Value::Choice("warn"))]);
    assert!(matches!(p("vm_debug=off vm-debug=off"), Err(CmdlineError::Repeated { key: "vm_debug", .. })));
}

#[test]
fn error_messages_exact() {
    assert_eq!(
        msg("loglevel=info holes2=zeroed"),
        "cmdline: unknown key \"holes2\" in \"holes2=zeroed\"; accepted keys: loglevel, selftest, movablecore, \
         stress, quiet, vm_debug, memmap"
    );
    assert_eq!(
        msg("loglevel=purple"),
        "cmdline: bad value \"purple\" for loglevel; accepted: error, warn, info, debug, trace"
    );
    assert_eq!(
        msg("loglevel=Info"),
        "cmdline: bad value \"Info\" for loglevel; accepted: error, warn, info, debug, trace"
    );
    assert_eq!(
        msg("movablecore=12Q"),
        "cmdline: bad value \"12Q\" for movablecore (trailing \"Q\" after the number); accepted: a size: decimal, \
         0x hex or 0-prefixed octal, with an optional K, M, G, T, P or E suffix (512M, 0x1000)"
    );
    assert!(msg("movablecore=").starts_with("cmdline: bad value \"\" for movablecore (no number); accepted: "));
    assert!(msg("movablecore=99999999999999999999").starts_with(
        "cmdline: bad value \"99999999999999999999\" for movablecore (the number does not fit in 64 bits)"
    ));
    assert!(msg("movablecore=16E").contains("(the number does not fit in 64 bits)"));
    assert_eq!(
        msg("stress=10s"),
        "cmdline: bad value \"10s\" for stress (trailing \"s\" after the number); accepted: an integer: decimal, \
         0x hex or 0-prefixed octal"
    );
    assert_eq!(
        msg("loglevel"),
        "cmdline: loglevel needs a value (\"loglevel\" given); accepted: loglevel=error, warn, info, debug, trace"
    );
    assert_eq!(msg("quiet=1"), "cmdline: quiet takes no value (\"quiet=1\" given); write just quiet");
    assert_eq!(
        msg("loglevel=info quiet loglevel=debug"),
        "cmdline: loglevel given twice (\"loglevel=info\", then \"loglevel=debug\"); it may appear only once"
    );
    assert!(msg("=x").starts_with("cmdline: unknown key \"\" in \"=x\"; accepted keys: loglevel"));
    let long = "quiet ".repeat(400);
    assert_eq!(msg(&long), "cmdline: 2400 bytes long; at most 2048 (COMMAND_LINE_SIZE) are accepted");
    assert!(msg("memmap=1M$").contains("(no number)"));
    assert!(msg("memmap=1M,,2M").contains("(empty item in the comma-separated list)"));
    assert!(
        msg("memmap=0xffffffffffffffff$1").contains("(range start 0x1 + size 0xffffffffffffffff overflows 64 bits)")
    );
    assert!(msg("memmap=1M%0-99999999999").contains("(e820 type 99999999999 does not fit in 32 bits)"));
    assert!(msg("memmap=1M^2M").contains("(trailing \"^2M\" after the number)"));
}

#[test]
fn raw_bytes() {
    assert_eq!(parse_raw(b"quiet\0garbage\xff", TABLE).unwrap(), vec![("quiet", Value::Flag)]);
    let e = parse_raw(b"quiet \xff", TABLE).unwrap_err();
    assert_eq!(e, CmdlineError::NotUtf8 { offset: 6 });
    assert_eq!(e.to_string(), "cmdline: not UTF-8 text (invalid byte at offset 6)");
}

#[test]
fn repeating_memmap() {
    let v = p("memmap=64M$0x10000000 memmap=exactmap,640K@0,0x7000000@1M memmap=2G memmap=1G!4G memmap=4K#0x9f000")
        .unwrap();
    assert_eq!(
        v,
        vec![
            (
                "memmap",
                Value::Memmap(vec![MemmapEntry::Add { kind: MemmapKind::Reserved, size: 64 << 20, start: 0x10000000 }])
            ),
            (
                "memmap",
                Value::Memmap(vec![
                    MemmapEntry::Exactmap,
                    MemmapEntry::Add { kind: MemmapKind::Ram, size: 640 << 10, start: 0 },
                    MemmapEntry::Add { kind: MemmapKind::Ram, size: 0x7000000, start: 1 << 20 },
                ])
            ),
            ("memmap", Value::Memmap(vec![MemmapEntry::Limit { size: 2 << 30 }])),
            ("memmap", Value::Memmap(vec![MemmapEntry::Add { kind: MemmapKind::Pram, size: 1 << 30, start: 4 << 30 }])),
            ("memmap", Value::Memmap(vec![MemmapEntry::Add { kind: MemmapKind::Acpi, size: 4096, start: 0x9f000 }])),
        ]
    );
    assert_eq!(
        parse_memmap("1G%4G-1+12").unwrap(),
        vec![MemmapEntry::Update { size: 1 << 30, start: 4 << 30, from: Some(1), to: Some(12) }]
    );
    assert_eq!(
        parse_memmap("1G%4G+0x2").unwrap(),
        vec![MemmapEntry::Update { size: 1 << 30, start: 4 << 30, from: None, to: Some(2) }]
    );
    assert_eq!(
        parse_memmap("1G%4G").unwrap(),
        vec![MemmapEntry::Update { size: 1 << 30, start: 4 << 30, from: None, to: None }]
    );
    assert!(parse_memmap("1G%4G-1x").is_err());
    assert!(parse_memmap("1G@4Gx").is_err());
    assert!(parse_memmap("exactmapx").is_err());
    assert!(parse_memmap("").is_err());
}

#[test]
fn memparse_like_linux() {
    assert_eq!(memparse("0"), Ok((0, "")));
    assert_eq!(memparse("4096"), Ok((4096, "")));
    assert_eq!(memparse("0x1000"), Ok((0x1000, "")));
    assert_eq!(memparse("0X1fK"), Ok((0x1f << 10, "")));
    assert_eq!(memparse("010"), Ok((8, "")));
    assert_eq!(memparse("08"), Ok((0, "8")));
    assert_eq!(memparse("0x"), Ok((0, "x")));
    assert_eq!(memparse("0xg"), Ok((0, "xg")));
    assert_eq!(memparse("0x1e"), Ok((0x1e, "")));
    assert_eq!(memparse("1k"), Ok((1024, "")));
    assert_eq!(memparse("2m"), Ok((2 << 20, "")));
    assert_eq!(memparse("3G"), Ok((3 << 30, "")));
    assert_eq!(memparse("4t"), Ok((4 << 40, "")));
    assert_eq!(memparse("5P"), Ok((5 << 50, "")));
    assert_eq!(memparse("7e"), Ok((7 << 60, "")));
    assert_eq!(memparse("1MB"), Ok((1 << 20, "B")));
    assert_eq!(memparse("12@34"), Ok((12, "@34")));
    assert_eq!(memparse("K"), Err(NumberError::NoDigits));
    assert_eq!(memparse("-1"), Err(NumberError::NoDigits));
    assert_eq!(memparse(" 1"), Err(NumberError::NoDigits));
    assert_eq!(memparse("8E"), Ok((1 << 63, "")));
    assert_eq!(memparse("16E"), Err(NumberError::Overflow));
    assert_eq!(memparse("18446744073709551615"), Ok((u64::MAX, "")));
    assert_eq!(memparse("18446744073709551616"), Err(NumberError::Overflow));
    assert_eq!(memparse("0xffffffffffffffff"), Ok((u64::MAX, "")));
    assert_eq!(memparse("0x10000000000000000"), Err(NumberError::Overflow));
    assert_eq!(memparse("01777777777777777777777"), Ok((u64::MAX, "")));
    assert_eq!(parse_bytes_strict("1MB"), Err(NumberError::Trailing { rest: "B".to_string() }));
    assert_eq!(parse_bytes_strict("64M"), Ok(64 << 20));
    assert_eq!(parse_integer_strict("1K"), Err(NumberError::Trailing { rest: "K".to_string() }));
    assert_eq!(parse_integer_strict("0777"), Ok(0o777));
}

#[test]
fn usage_lists_every_key() {
    let u = usage(TABLE).to_string();
    assert_eq!(u.lines().count(), TABLE.len());
    assert!(u.contains("  loglevel=error|warn|info|debug|trace  console log level\n"));
    assert!(u.contains("  quiet  less output\n"));
    assert!(u.contains("  memmap=<nn[KMG]{@,#,$,!}ss[KMG]> (may repeat)  user-defined e820 ranges\n"));
    assert_eq!(Value::Number(3).as_u64(), Some(3));
    assert_eq!(Value::Text("x").as_str(), Some("x"));
    assert_eq!(Value::Flag.as_u64(), None);
}

// ---- properties --------------------------------------------------------------------------------------------

fn arb_value(kind: ValueKind) -> BoxedStrategy<Value<'static>> {
    match kind {
        ValueKind::Choice(list) => proptest::sample::select(list).prop_map(Value::Choice).boxed(),
        ValueKind::Number => any::<u64>().prop_map(Value::Number).boxed(),
        ValueKind::Integer => any::<u64>().prop_map(Value::Integer).boxed(),
        ValueKind::Text => {
            proptest::sample::select(&["", "a", "heap acpi", "x=y", "a\tb", "ünï"][..]).prop_map(Value::Text).boxed()
        }
        ValueKind::Flag => Just(Value::Flag).boxed(),
        ValueKind::MemmapSpec => proptest::collection::vec(
            prop_oneof![
                Just(MemmapEntry::Exactmap),
                any::<u64>().prop_map(|size| MemmapEntry::Limit { size }),
                (0u64..1 << 50, 0u64..1 << 50, 0usize..4).prop_map(|(size, start, k)| MemmapEntry::Add {
                    kind: [MemmapKind::Ram, MemmapKind::Acpi, MemmapKind::Reserved, MemmapKind::Pram][k],
                    size,
                    start
                }),
                (0u64..1 << 50, 0u64..1 << 50, proptest::option::of(any::<u32>()), proptest::option::of(any::<u32>()))
                    .prop_map(|(size, start, from, to)| MemmapEntry::Update { size, start, from, to }),
            ],
            1..4,
        )
        .prop_map(Value::Memmap)
        .boxed(),
    }
}

proptest! {
    #[test]
    fn prop_random_strings_never_panic(s in "\\PC{0,80}", t in "[a-z_=\" \t0-9KMG@#$!%,x-]{0,60}") {
        let _ = p(&s);
        let _ = p(&t);
        let _ = memparse(&s);
        let _ = parse_memmap(&t);
        let _ = parse_raw(s.as_bytes(), TABLE);
    }

    #[test]
    fn prop_random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Err(e) = parse_raw(&b, TABLE) {
            prop_assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn prop_words_round_trip(
        picks in proptest::collection::vec((0..TABLE.len()).prop_flat_map(|i| (Just(i), arb_value(TABLE[i].kind))), 0..8),
        seps in proptest::collection::vec(proptest::sample::select(&[" ", "\t", "  ", " \r\n"][..]), 8),
    ) {
        // Keep only the first use of each non-repeating key.
        let mut used = Vec::new();
        let mut expect: Vec<(&'static str, Value<'static>)> = Vec::new();
        for (i, v) in picks {
            if !TABLE[i].repeat && used.contains(&i) { continue; }
            used.push(i);
            expect.push((TABLE[i].name, v));
        }
        let mut line = String::new();
        for (n, (k, v)) in expect.iter().enumerate() {
            line.push_str(seps[n % seps.len()]);
            line.push_str(&format_word(k, v));
        }
        prop_assert_eq!(p(&line), Ok(expect));
    }

    #[test]
    fn prop_memparse_matches_reference(n in any::<u64>(), suffix in 0usize..7, base in 0usize..3, upper in any::<bool>()) {
        // After a hex number an E suffix is a hex digit (Linux reads "0x1e" as 30), see memparse_like_linux.
        prop_assume!(!(base == 1 && suffix == 6));
        let digits = match base { 0 => format!("{}", n), 1 => format!("0x{:x}", n), _ => format!("0{:o}", n) };
        let sfx = ["", "k", "m", "g", "t", "p", "e"][suffix];
        let s = format!("{}{}", digits, if upper { sfx.to_uppercase() } else { sfx.to_string() });
        let expect = (u128::from(n) << (10 * suffix as u32)).try_into().map_err(|_| NumberError::Overflow);
        prop_assert_eq!(parse_bytes_strict(&s), expect);
    }
}

// ---- the memlab kernel's options (options.rs) -------------------------------------------------------------------

#[test]
fn kernel_options_parse_and_reject_as_the_kernel_does() {
    use super::options::{parse, LogLevel};
    let o = parse(b"loglevel=debug selftest=heap holes=zeroed").unwrap();
    assert_eq!(o.loglevel, LogLevel::Debug);
    assert_eq!(o.selftest.as_deref(), Some("heap"));
    assert_eq!(o.policy.name(), "zeroed");
    let e = parse(b"loglevel=loud").err().unwrap();
    assert!(e.starts_with("cmdline: ") && e.contains("loud") && e.contains("accepted:"), "{e}");
    assert!(parse(b"nosuchkey=1").is_err());
    assert!(parse(b"expect_nodes=0").is_err());
    assert_eq!(parse(b"expect_nodes=4 acpi_dump=1").map(|o| (o.expect_nodes, o.acpi_dump)), Ok((Some(4), true)));
    assert_eq!(parse(b"stress=30").map(|o| o.stress_secs), Ok(Some(30)));
    assert!(parse(b"stress=0").is_err());
    assert!(parse(b"stress=86401").is_err());
    let e = parse(b"holes=nope").err().unwrap();
    assert!(e.contains("accepted: ") && e.contains("upstream"), "{e}");
    let e = parse(b"movablecore=10% kernelcore=mirror").err().unwrap();
    assert!(e.starts_with("cmdline: \"movablecore=10%\" conflicts with \"kernelcore=mirror\""), "{e}");
    assert!(parse(b"kernelcore=1G movablecore=10%").is_ok());
    assert!(parse(b"").is_ok_and(|o| o.loglevel == LogLevel::Info && o.stress_secs.is_none()));
}

#[test]
fn deferred_init_is_on_unless_the_line_says_off() {
    use super::options::deferred_init_on;
    assert!(deferred_init_on("expect_nodes=2 holes=span-extend selftest=mm_"));
    assert!(!deferred_init_on("expect_nodes=2 deferred_init=off"));
    assert!(deferred_init_on("deferred_init=on maxcpus=1"));
    // A line the kernel rejects boots nothing; the default stands.
    assert!(deferred_init_on("deferred_init=maybe"));
}

#[test]
fn fuse_handover_is_on_unless_the_line_says_off() {
    use super::options::parse as options;
    assert!(options(b"").unwrap().fuse_handover);
    assert!(!options(b"fuse_handover=off").unwrap().fuse_handover);
    assert!(options(b"fuse_handover=on deferred_init=off").unwrap().fuse_handover);
    assert!(options(b"fuse_handover=maybe").is_err());
}
