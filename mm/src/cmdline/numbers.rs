//! Numbers as Linux reads them (`simple_strtoull`, `memparse`) and `memmap=` values.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Numbers

/// Linux's `isspace` over ASCII.
pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Reads an unsigned integer as Linux's `simple_strtoull(s, &end, 0)` does: `0x`/`0X` followed by a hex digit
/// selects base 16, a leading `0` base 8, anything else base 10. No sign, no leading whitespace. Returns the value
/// and the rest of the string; an overflow is an error (Linux wraps).
pub(super) fn strtoull(s: &str) -> Result<(u64, &str), NumberError> {
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
pub(super) fn e820_type(s: &str) -> Result<(u32, &str), ValueError> {
    let (v, r) = strtoull(s).map_err(ValueError::Number)?;
    Ok((u32::try_from(v).map_err(|_| ValueError::MemmapType { value: v })?, r))
}

pub(super) fn parse_memmap_one(item: &str) -> Result<MemmapEntry, ValueError> {
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
