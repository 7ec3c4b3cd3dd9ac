//! Words: splitting a command line as Linux's `next_arg` does, matching keys, parsing and formatting values.

use super::*;

// ---------------------------------------------------------------------------------------------------------------
// Words

/// Key equality with `-` and `_` the same (Linux `parameq`).
pub(super) fn key_eq(a: &str, b: &str) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// Splits a line into words as Linux's `next_arg` does; a quote still open at the end of a word is an error.
pub(super) fn words(line: &str) -> Result<Vec<&str>, CmdlineError> {
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
pub(super) fn split_word(word: &str) -> (&str, Option<&str>) {
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

pub(super) fn key_list(table: &[KeySpec]) -> String {
    let names: Vec<&str> = table.iter().map(|k| k.name).collect();
    names.join(", ")
}

pub(super) fn parse_value<'a>(spec: &KeySpec, value: &'a str) -> Result<Value<'a>, ValueError> {
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
