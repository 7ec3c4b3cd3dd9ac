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

mod numbers;
pub mod options;
mod words;

pub use numbers::*;
pub use words::*;

#[cfg(test)]
mod tests;
