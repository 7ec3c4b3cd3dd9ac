//! The message of a log line: timestamps, syslog and journal prefixes stripped.

// ---------------------------------------------------------------------------------------------------------------
// Message extraction

/// The message of a log line: see the module documentation for what is stripped.
pub fn message(raw: &str) -> &str {
    let mut s = raw.trim_end_matches(['\r', '\n']).trim_start();
    while let Some(rest) = s.strip_prefix('>') {
        s = rest.trim_start();
    }
    // Each pass strips one prefix; at most a handful apply, the bound only guarantees termination.
    for _ in 0..8 {
        let before = s.len();
        if let Some(rest) = s.strip_prefix('<') {
            if let Some((level, after)) = rest.split_once('>') {
                if !level.is_empty() && level.bytes().all(|c| c.is_ascii_digit()) {
                    s = after.trim_start();
                }
            }
        }
        if let Some(rest) = s.strip_prefix('[') {
            if let Some((_, after)) = rest.split_once(']') {
                s = after.trim_start();
            }
        }
        if let Some(pos) = s.find("kernel: ") {
            let head = s.get(..pos).unwrap_or("");
            if pos < 100 && !head.contains('[') && !head.contains(':') || head_is_syslog(head) {
                s = s.get(pos.saturating_add(8)..).unwrap_or("").trim_start();
            }
        }
        if s.len() == before {
            break;
        }
    }
    s.trim_end()
}

/// A syslog / journal head such as `Mar  2 10:33:11 host ` or `2021-03-02T10:33:11.123+01:00 host `: short, no
/// brackets, and a time `hh:mm:ss` in it.
pub(super) fn head_is_syslog(head: &str) -> bool {
    let b = head.as_bytes();
    let time_at = |i: usize| {
        let d = |k: usize| b.get(i.saturating_add(k)).is_some_and(|c| c.is_ascii_digit());
        let colon = |k: usize| b.get(i.saturating_add(k)) == Some(&b':');
        d(0) && d(1) && colon(2) && d(3) && d(4) && colon(5) && d(6) && d(7)
    };
    head.len() < 100 && !head.contains('[') && (0..b.len()).any(time_at)
}
