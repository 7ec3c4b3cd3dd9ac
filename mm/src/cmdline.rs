//! The kernel command line: Linux-like `key=value` words checked against a table of accepted keys.
//!
//! # The picture
//! A command line is words separated by whitespace (Linux's `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`). A word
//! is `key=value`, or a bare `key` for a [`ValueKind::Flag`]. Double quotes group whitespace into a word as Linux's
//! `next_arg` (lib/cmdline.c) does: `key="value with spaces"` gives the value without the quotes, and a word that
//! starts with a quote (`"key=a b"`) loses its outer quotes. In key names `-` and `_` are the same character
//! (Linux's `parameq`), and the key reported back is always the table's spelling.
//!
//! The caller describes the accepted keys in a table of [`KeySpec`]s (name, [`ValueKind`], whether it may repeat,
//! one line of help) and gets the words back in order as `(key, Value)` pairs. Adding a key is one line in the
//! caller's table. Numbers are read by [`memparse`], exactly as Linux's `memparse` reads them (decimal, `0x` hex or
//! leading-`0` octal, then an optional K/M/G/T/P/E suffix), except that an overflow is an error instead of a
//! wraparound; as values they must be whole ([`parse_bytes_strict`]): trailing garbage is an error.
//!
//! # Invariants
//! - Nothing is silently ignored: an unknown key, a value the key's kind does not accept, a missing or unexpected
//!   value, a key repeated where its spec does not allow it, an unterminated quote, a line longer than
//!   [`COMMAND_LINE_SIZE`] are each a [`CmdlineError`] whose `Display` is one line that names the word and says
//!   what is accepted; so are two words that contradict each other by the caller's [`Conflict`] rules
//!   ([`check_conflicts`]).
//! - No input panics or overflows: every index is checked, every arithmetic step is checked.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// x86's COMMAND_LINE_SIZE: longer command lines are rejected (Linux would truncate them).
pub const COMMAND_LINE_SIZE: usize = 2048;

/// What a key's value may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// One of the listed words (case-sensitive).
    Choice(&'static [&'static str]),
    /// A size in bytes as [`memparse`] reads it, with nothing after it.
    Number,
    /// A plain integer (decimal, `0x` hex, leading-`0` octal), no suffix.
    Integer,
    /// Any text, possibly empty.
    Text,
    /// No value: the bare key.
    Flag,
    /// A Linux `memmap=` specification (see [`MemmapEntry`]).
    MemmapSpec,
}

/// One accepted key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub name: &'static str,
    pub kind: ValueKind,
    /// Whether the key may be given more than once (like `memmap=`).
    pub repeat: bool,
    /// One line of help.
    pub help: &'static str,
}

impl KeySpec {
    /// A key that may be given at most once.
    pub const fn new(name: &'static str, kind: ValueKind, help: &'static str) -> Self {
        KeySpec { name, kind, repeat: false, help }
    }

    /// A key that may be given any number of times.
    pub const fn repeating(name: &'static str, kind: ValueKind, help: &'static str) -> Self {
        KeySpec { name, kind, repeat: true, help }
    }
}

/// The e820 type a `memmap=` range gets (arch/x86/kernel/e820.c `parse_memmap_one`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemmapKind {
    /// `nn@ss`: usable RAM (E820_TYPE_RAM).
    Ram,
    /// `nn#ss`: ACPI data (E820_TYPE_ACPI).
    Acpi,
    /// `nn$ss`: reserved (E820_TYPE_RESERVED).
    Reserved,
    /// `nn!ss`: legacy persistent memory (E820_TYPE_PRAM).
    Pram,
}

/// One comma-separated item of a `memmap=` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemmapEntry {
    /// `exactmap`: forget the firmware map; only the user's ranges count.
    Exactmap,
    /// `nn[KMG]` alone: remove RAM from `size` up (like `mem=nn`).
    Limit { size: u64 },
    /// `nn@ss`, `nn#ss`, `nn$ss`, `nn!ss`: add `[start, start + size)` with the kind.
    Add { kind: MemmapKind, size: u64, start: u64 },
    /// `nn%ss-from+to`: change `[start, start + size)` from e820 type `from` to `to` (either may be absent:
    /// only `to` adds, only `from` removes that type, neither removes everything).
    Update { size: u64, start: u64, from: Option<u32>, to: Option<u32> },
}

/// A parsed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// The table's spelling of the chosen word.
    Choice(&'static str),
    Number(u64),
    Integer(u64),
    /// The text, outer quotes removed.
    Text(&'a str),
    Flag,
    Memmap(Vec<MemmapEntry>),
}

impl Value<'_> {
    /// The number of a [`Value::Number`] or [`Value::Integer`].
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Number(n) | Value::Integer(n) => Some(n),
            _ => None,
        }
    }

    /// The word of a [`Value::Choice`] or the text of a [`Value::Text`].
    pub fn as_str(&self) -> Option<&str> {
        match *self {
            Value::Choice(s) => Some(s),
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a number did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// No digit where the number should start.
    NoDigits,
    /// The number, or the number shifted by its suffix, does not fit in 64 bits.
    Overflow,
    /// Characters after the number (and its suffix).
    Trailing { rest: String },
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::NoDigits => f.write_str("no number"),
            NumberError::Overflow => f.write_str("the number does not fit in 64 bits"),
            NumberError::Trailing { rest } => write!(f, "trailing {:?} after the number", rest),
        }
    }
}

/// Why a value was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Not one of the choices.
    NotAChoice,
    /// A bad number.
    Number(NumberError),
    /// A `memmap=` range whose start + size overflows.
    MemmapOverflow { size: u64, start: u64 },
    /// A `memmap=` e820 type number (after `-` or `+`) larger than 32 bits.
    MemmapType { value: u64 },
    /// An empty item in a comma-separated `memmap=` list.
    MemmapEmptyItem,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::NotAChoice => f.write_str("not one of the choices"),
            ValueError::Number(e) => e.fmt(f),
            ValueError::MemmapOverflow { size, start } => {
                write!(f, "range start {:#x} + size {:#x} overflows 64 bits", start, size)
            }
            ValueError::MemmapType { value } => write!(f, "e820 type {} does not fit in 32 bits", value),
            ValueError::MemmapEmptyItem => f.write_str("empty item in the comma-separated list"),
        }
    }
}

/// A bad command line. `Display` is one line naming the word and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdlineError {
    /// The bytes are not UTF-8.
    NotUtf8 { offset: usize },
    /// Longer than [`COMMAND_LINE_SIZE`].
    TooLong { len: usize, max: usize },
    /// A quote opened and never closed.
    UnterminatedQuote { word: String },
    /// A key the table does not have. `accepted` lists the table's keys.
    UnknownKey { key: String, word: String, accepted: String },
    /// A value the key's kind does not accept.
    BadValue { key: &'static str, value: String, reason: ValueError, accepted: String },
    /// A bare key whose kind needs a value.
    MissingValue { key: &'static str, word: String, accepted: String },
    /// A value given to a flag.
    UnexpectedValue { key: &'static str, word: String },
    /// A key given twice that may appear only once.
    Repeated { key: &'static str, first: String, second: String },
    /// Two words that contradict each other by a [`Conflict`] rule of the caller.
    Conflict { first: String, second: String, why: &'static str },
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::NotUtf8 { offset } => {
                write!(f, "cmdline: not UTF-8 text (invalid byte at offset {})", offset)
            }
            CmdlineError::TooLong { len, max } => {
                write!(f, "cmdline: {} bytes long; at most {} (COMMAND_LINE_SIZE) are accepted", len, max)
            }
            CmdlineError::UnterminatedQuote { word } => {
                write!(f, "cmdline: unterminated quote in {:?}; close it with \"", word)
            }
            CmdlineError::UnknownKey { key, word, accepted } => {
                write!(f, "cmdline: unknown key {:?} in {:?}; accepted keys: {}", key, word, accepted)
            }
            CmdlineError::BadValue { key, value, reason, accepted } => {
                write!(f, "cmdline: bad value {:?} for {}", value, key)?;
                if *reason != ValueError::NotAChoice {
                    write!(f, " ({})", reason)?;
                }
                write!(f, "; accepted: {}", accepted)
            }
            CmdlineError::MissingValue { key, word, accepted } => {
                write!(f, "cmdline: {} needs a value ({:?} given); accepted: {}={}", key, word, key, accepted)
            }
            CmdlineError::UnexpectedValue { key, word } => {
                write!(f, "cmdline: {} takes no value ({:?} given); write just {}", key, word, key)
            }
            CmdlineError::Repeated { key, first, second } => {
                write!(f, "cmdline: {} given twice ({:?}, then {:?}); it may appear only once", key, first, second)
            }
            CmdlineError::Conflict { first, second, why } => {
                write!(f, "cmdline: {:?} conflicts with {:?}: {}; give only one of them", first, second, why)
            }
        }
    }
}

/// What a kind accepts, in words (the tail of error messages and of [`usage`]).
pub struct Accepted(pub ValueKind);

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ValueKind::Choice(list) => {
                for (i, c) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(c)?;
                }
                Ok(())
            }
            ValueKind::Number => f.write_str(
                "a size: decimal, 0x hex or 0-prefixed octal, with an optional K, M, G, T, P or E suffix (512M, 0x1000)",
            ),
            ValueKind::Integer => f.write_str("an integer: decimal, 0x hex or 0-prefixed octal"),
            ValueKind::Text => f.write_str("any text (quote it to include spaces)"),
            ValueKind::Flag => f.write_str("no value"),
            ValueKind::MemmapSpec => f.write_str(
                "exactmap, nn[KMG] (limit), nn[KMG]@ss[KMG] (RAM), nn[KMG]#ss[KMG] (ACPI), nn[KMG]$ss[KMG] (reserved), \
                 nn[KMG]!ss[KMG] (persistent), nn[KMG]%ss[KMG]-from+to (retype), comma-separated",
            ),
        }
    }
}

/// A help text for a table: one line per key, `  name=<accepted>  help`.
pub struct Usage<'t>(pub &'t [KeySpec]);

/// The help text for a table (see [`Usage`]).
pub fn usage(table: &[KeySpec]) -> Usage<'_> {
    Usage(table)
}

impl fmt::Display for Usage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in self.0 {
            match k.kind {
                ValueKind::Flag => write!(f, "  {}", k.name)?,
                ValueKind::Choice(list) => {
                    write!(f, "  {}=", k.name)?;
                    for (i, c) in list.iter().enumerate() {
                        if i > 0 {
                            f.write_str("|")?;
                        }
                        f.write_str(c)?;
                    }
                }
                ValueKind::Number => write!(f, "  {}=<size>", k.name)?,
                ValueKind::Integer => write!(f, "  {}=<n>", k.name)?,
                ValueKind::Text => write!(f, "  {}=<text>", k.name)?,
                ValueKind::MemmapSpec => write!(f, "  {}=<nn[KMG]{{@,#,$,!}}ss[KMG]>", k.name)?,
            }
            writeln!(f, "{}{}", if k.repeat { " (may repeat)  " } else { "  " }, k.help)?;
        }
        Ok(())
    }
}

/// Two keys that must not be given together: `key` (with the value `value`, or any value if `None`) and `with`
/// (any value). `why` says what would go wrong (one clause, shown in [`CmdlineError::Conflict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub key: &'static str,
    pub value: Option<&'static str>,
    pub with: &'static str,
    pub why: &'static str,
}

/// Checks parsed words against conflict rules; the first violated rule, in word order, is the error. The words
/// are named as [`format_word`] renders them.
pub fn check_conflicts(words: &[(&'static str, Value<'_>)], rules: &[Conflict]) -> Result<(), CmdlineError> {
    for (i, (k, v)) in words.iter().enumerate() {
        for r in rules {
            let (other, matches_rule) = if *k == r.key && r.value.is_none_or(|want| v.as_str() == Some(want)) {
                (r.with, true)
            } else if *k == r.with {
                (r.key, true)
            } else {
                ("", false)
            };
            if !matches_rule {
                continue;
            }
            // The partner: any later word with the other key (and, if it is the rule's `key`, the value).
            let partner = words.iter().skip(i + 1).find(|(k2, v2)| {
                *k2 == other && (other != r.key || r.value.is_none_or(|want| v2.as_str() == Some(want)))
            });
            if let Some((k2, v2)) = partner {
                return Err(CmdlineError::Conflict {
                    first: format_word(k, v),
                    second: format_word(k2, v2),
                    why: r.why,
                });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers

/// Linux's `isspace` over ASCII.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Reads an unsigned integer as Linux's `simple_strtoull(s, &end, 0)` does: `0x`/`0X` followed by a hex digit
/// selects base 16, a leading `0` base 8, anything else base 10. No sign, no leading whitespace. Returns the value
/// and the rest of the string; an overflow is an error (Linux wraps).
fn strtoull(s: &str) -> Result<(u64, &str), NumberError> {
    let b = s.as_bytes();
    let (base, start) = match (b.first(), b.get(1), b.get(2)) {
        (Some(b'0'), Some(b'x' | b'X'), Some(c)) if c.is_ascii_hexdigit() => (16u64, 2usize),
        (Some(b'0'), _, _) => (8, 0),
        _ => (10, 0),
    };
    let mut value: u64 = 0;
    let mut i = start;
    while let Some(d) = b.get(i).and_then(|&c| char::from(c).to_digit(base as u32)) {
        value = value.checked_mul(base).and_then(|v| v.checked_add(u64::from(d))).ok_or(NumberError::Overflow)?;
        i += 1;
    }
    if i == start {
        return Err(NumberError::NoDigits);
    }
    Ok((value, s.get(i..).unwrap_or("")))
}

/// Linux's `memparse` (lib/cmdline.c): a number as [`strtoull`] reads it, then an optional suffix K, M, G, T, P or
/// E (either case) that shifts it left by 10, 20, ... 60 bits. Returns the value and the unparsed rest.
///
/// Differences from Linux, both deliberate: an overflow (of the number or of the shift) is
/// [`NumberError::Overflow`] instead of a wrapped value, and a string without a leading digit is
/// [`NumberError::NoDigits`] (Linux returns 0 and leaves the pointer where it was, so `memparse("K")` is 0).
pub fn memparse(s: &str) -> Result<(u64, &str), NumberError> {
    let (value, rest) = strtoull(s)?;
    let shift = match rest.as_bytes().first() {
        Some(b'K' | b'k') => 10,
        Some(b'M' | b'm') => 20,
        Some(b'G' | b'g') => 30,
        Some(b'T' | b't') => 40,
        Some(b'P' | b'p') => 50,
        Some(b'E' | b'e') => 60,
        _ => return Ok((value, rest)),
    };
    if value.leading_zeros() < shift {
        return Err(NumberError::Overflow);
    }
    Ok((value << shift, rest.get(1..).unwrap_or("")))
}

/// [`memparse`] of a whole string: anything after the number and its suffix is [`NumberError::Trailing`].
pub fn parse_bytes_strict(s: &str) -> Result<u64, NumberError> {
    let (v, rest) = memparse(s)?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(NumberError::Trailing { rest: rest.to_string() })
    }
}

/// A whole plain integer (no suffix), as `simple_strtoull(s, &end, 0)` reads it with nothing after it.
pub fn parse_integer_strict(s: &str) -> Result<u64, NumberError> {
    let (v, rest) = strtoull(s)?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(NumberError::Trailing { rest: rest.to_string() })
    }
}

/// Parses a `memmap=` value: comma-separated items as arch/x86/kernel/e820.c `parse_memmap_opt` /
/// `parse_memmap_one` accept them (see [`MemmapEntry`]); any leftover character is an error (Linux ignores the
/// item with -EINVAL after possibly having applied it).
pub fn parse_memmap(value: &str) -> Result<Vec<MemmapEntry>, ValueError> {
    let mut out = Vec::new();
    for item in value.split(',') {
        if item.is_empty() {
            return Err(ValueError::MemmapEmptyItem);
        }
        out.push(parse_memmap_one(item)?);
    }
    Ok(out)
}

/// An e820 type number after `-` or `+` in `nn%ss-from+to` (`simple_strtoull(p, &p, 0)` in Linux).
fn e820_type(s: &str) -> Result<(u32, &str), ValueError> {
    let (v, r) = strtoull(s).map_err(ValueError::Number)?;
    Ok((u32::try_from(v).map_err(|_| ValueError::MemmapType { value: v })?, r))
}

fn parse_memmap_one(item: &str) -> Result<MemmapEntry, ValueError> {
    if item == "exactmap" {
        return Ok(MemmapEntry::Exactmap);
    }
    let (size, rest) = memparse(item).map_err(ValueError::Number)?;
    let mut chars = rest.chars();
    let kind = match chars.next() {
        None => return Ok(MemmapEntry::Limit { size }),
        Some('@') => Some(MemmapKind::Ram),
        Some('#') => Some(MemmapKind::Acpi),
        Some('$') => Some(MemmapKind::Reserved),
        Some('!') => Some(MemmapKind::Pram),
        Some('%') => None,
        Some(_) => return Err(ValueError::Number(NumberError::Trailing { rest: rest.to_string() })),
    };
    let (start, rest) = memparse(chars.as_str()).map_err(ValueError::Number)?;
    if start.checked_add(size).is_none() {
        return Err(ValueError::MemmapOverflow { size, start });
    }
    let trailing = |rest: &str| ValueError::Number(NumberError::Trailing { rest: rest.to_string() });
    match kind {
        Some(kind) if rest.is_empty() => Ok(MemmapEntry::Add { kind, size, start }),
        Some(_) => Err(trailing(rest)),
        None => {
            let mut rest = rest;
            let mut from = None;
            let mut to = None;
            if let Some(r) = rest.strip_prefix('-') {
                let (v, r) = e820_type(r)?;
                from = Some(v);
                rest = r;
            }
            if let Some(r) = rest.strip_prefix('+') {
                let (v, r) = e820_type(r)?;
                to = Some(v);
                rest = r;
            }
            if rest.is_empty() {
                Ok(MemmapEntry::Update { size, start, from, to })
            } else {
                Err(trailing(rest))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Words

/// Key equality with `-` and `_` the same (Linux `parameq`).
fn key_eq(a: &str, b: &str) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// Splits a line into words as Linux's `next_arg` does; a quote still open at the end of a word is an error.
fn words(line: &str) -> Result<Vec<&str>, CmdlineError> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0usize;
    // Loop invariant: `i` is a char boundary of `line` (only ASCII bytes are skipped or stopped at) and it grows
    // in every pass of the inner loops, so the outer loop ends.
    loop {
        while b.get(i).is_some_and(|&c| is_space(c)) {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let start = i;
        let mut in_quote = false;
        while let Some(&c) = b.get(i) {
            if is_space(c) && !in_quote {
                break;
            }
            if c == b'"' {
                in_quote = !in_quote;
            }
            i += 1;
        }
        let word = line.get(start..i).unwrap_or("");
        if in_quote {
            return Err(CmdlineError::UnterminatedQuote { word: word.to_string() });
        }
        out.push(word);
    }
}

/// Splits a word into key and optional value, removing the quotes Linux removes.
fn split_word(word: &str) -> (&str, Option<&str>) {
    let word = match word.strip_prefix('"') {
        Some(w) => w.strip_suffix('"').unwrap_or(w),
        None => word,
    };
    match word.split_once('=') {
        None => (word, None),
        Some((k, v)) => {
            let v = match v.strip_prefix('"') {
                Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
                None => v,
            };
            (k, Some(v))
        }
    }
}

fn key_list(table: &[KeySpec]) -> String {
    let names: Vec<&str> = table.iter().map(|k| k.name).collect();
    names.join(", ")
}

fn parse_value<'a>(spec: &KeySpec, value: &'a str) -> Result<Value<'a>, ValueError> {
    match spec.kind {
        ValueKind::Choice(list) => {
            list.iter().find(|&&c| c == value).map(|&c| Value::Choice(c)).ok_or(ValueError::NotAChoice)
        }
        ValueKind::Number => parse_bytes_strict(value).map(Value::Number).map_err(ValueError::Number),
        ValueKind::Integer => parse_integer_strict(value).map(Value::Integer).map_err(ValueError::Number),
        ValueKind::Text => Ok(Value::Text(value)),
        ValueKind::Flag => Ok(Value::Flag),
        ValueKind::MemmapSpec => parse_memmap(value).map(Value::Memmap),
    }
}

/// Parses a command line against a key table. Returns the words in order as `(key as spelled in the table,
/// value)`. See the module documentation for the rules.
pub fn parse<'a>(line: &'a str, table: &[KeySpec]) -> Result<Vec<(&'static str, Value<'a>)>, CmdlineError> {
    if line.len() > COMMAND_LINE_SIZE {
        return Err(CmdlineError::TooLong { len: line.len(), max: COMMAND_LINE_SIZE });
    }
    let mut out: Vec<(&'static str, Value<'a>)> = Vec::new();
    // The word each key was first given in, for the repeat error.
    let mut seen: Vec<(&'static str, &'a str)> = Vec::new();
    for word in words(line)? {
        let (key, value) = split_word(word);
        let Some(spec) = table.iter().find(|k| key_eq(k.name, key)) else {
            return Err(CmdlineError::UnknownKey {
                key: key.to_string(),
                word: word.to_string(),
                accepted: key_list(table),
            });
        };
        if !spec.repeat {
            if let Some(&(_, first)) = seen.iter().find(|(k, _)| *k == spec.name) {
                return Err(CmdlineError::Repeated {
                    key: spec.name,
                    first: first.to_string(),
                    second: word.to_string(),
                });
            }
            seen.push((spec.name, word));
        }
        let value = match (spec.kind, value) {
            (ValueKind::Flag, None) => Value::Flag,
            (ValueKind::Flag, Some(_)) => {
                return Err(CmdlineError::UnexpectedValue { key: spec.name, word: word.to_string() })
            }
            (kind, None) => {
                return Err(CmdlineError::MissingValue {
                    key: spec.name,
                    word: word.to_string(),
                    accepted: Accepted(kind).to_string(),
                })
            }
            (kind, Some(v)) => parse_value(spec, v).map_err(|reason| CmdlineError::BadValue {
                key: spec.name,
                value: v.to_string(),
                reason,
                accepted: Accepted(kind).to_string(),
            })?,
        };
        out.push((spec.name, value));
    }
    Ok(out)
}

/// [`parse`] for raw bytes (as read from fw_cfg): invalid UTF-8 is [`CmdlineError::NotUtf8`]. A trailing NUL
/// byte and what follows it are ignored (C strings).
pub fn parse_raw<'a>(bytes: &'a [u8], table: &[KeySpec]) -> Result<Vec<(&'static str, Value<'a>)>, CmdlineError> {
    let bytes = match bytes.iter().position(|&c| c == 0) {
        Some(n) => bytes.get(..n).unwrap_or(&[]),
        None => bytes,
    };
    let line = core::str::from_utf8(bytes).map_err(|e| CmdlineError::NotUtf8 { offset: e.valid_up_to() })?;
    parse(line, table)
}

/// Renders a value back to command-line text (quoted when it contains whitespace or is empty text).
pub fn format_word(key: &str, value: &Value<'_>) -> String {
    match value {
        Value::Flag => key.to_string(),
        Value::Choice(c) => format!("{}={}", key, c),
        Value::Number(n) | Value::Integer(n) => format!("{}={:#x}", key, n),
        Value::Text(t) => {
            if t.is_empty() || t.bytes().any(is_space) {
                format!("{}=\"{}\"", key, t)
            } else {
                format!("{}={}", key, t)
            }
        }
        Value::Memmap(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|m| match *m {
                    MemmapEntry::Exactmap => "exactmap".to_string(),
                    MemmapEntry::Limit { size } => format!("{:#x}", size),
                    MemmapEntry::Add { kind, size, start } => {
                        let sep = match kind {
                            MemmapKind::Ram => '@',
                            MemmapKind::Acpi => '#',
                            MemmapKind::Reserved => '$',
                            MemmapKind::Pram => '!',
                        };
                        format!("{:#x}{}{:#x}", size, sep, start)
                    }
                    MemmapEntry::Update { size, start, from, to } => {
                        let mut s = format!("{:#x}%{:#x}", size, start);
                        if let Some(f) = from {
                            s.push_str(&format!("-{}", f));
                        }
                        if let Some(t) = to {
                            s.push_str(&format!("+{}", t));
                        }
                        s
                    }
                })
                .collect();
            format!("{}={}", key, parts.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            p("\"selftest=a b\" quiet").unwrap(),
            vec![("selftest", Value::Text("a b")), ("quiet", Value::Flag)]
        );
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
        assert!(msg("memmap=0xffffffffffffffff$1")
            .contains("(range start 0x1 + size 0xffffffffffffffff overflows 64 bits)"));
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
                    Value::Memmap(vec![MemmapEntry::Add {
                        kind: MemmapKind::Reserved,
                        size: 64 << 20,
                        start: 0x10000000
                    }])
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
                (
                    "memmap",
                    Value::Memmap(vec![MemmapEntry::Add { kind: MemmapKind::Pram, size: 1 << 30, start: 4 << 30 }])
                ),
                (
                    "memmap",
                    Value::Memmap(vec![MemmapEntry::Add { kind: MemmapKind::Acpi, size: 4096, start: 0x9f000 }])
                ),
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
            ValueKind::Text => proptest::sample::select(&["", "a", "heap acpi", "x=y", "a\tb", "ünï"][..])
                .prop_map(Value::Text)
                .boxed(),
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
                    (
                        0u64..1 << 50,
                        0u64..1 << 50,
                        proptest::option::of(any::<u32>()),
                        proptest::option::of(any::<u32>())
                    )
                        .prop_map(|(size, start, from, to)| MemmapEntry::Update {
                            size,
                            start,
                            from,
                            to
                        }),
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
}
