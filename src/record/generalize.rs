//! What a recorded `expect` waits for: the answer's last line as a literal, or, when the line
//! holds something that changes from run to run, an anchored regex with those parts turned
//! into patterns.
//!
//! Volatile parts: timestamps and dates, times of day, UUIDs, `0x` addresses, hex ids (7 or
//! more hex digits with both a digit and a letter), paths under `/tmp` and `/var/tmp`,
//! decimals with their fractions and durations (`0.53`, `1796282169.475`, `12ms`), and
//! numbers of 4 digits or more (pids, ports, counters, epoch times). Numbers of up to 3
//! digits stay literal: they are usually the answer itself (`42`), which the test is there
//! to check.

use std::sync::LazyLock;

use regex::Regex;

/// The longest text an expect keeps: the end of a longer line.
const MAX_CHARS: usize = 200;

static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<ts>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?)",
        r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
        r"|(?P<addr>\b0x[0-9a-fA-F]+\b)",
        r"|(?P<tmp>(?:/var)?/tmp/[^\s'`,;:)\]}]*)",
        r"|(?P<time>\b\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\b)",
        // Before `hex`: the integer part of `1796282169.475` is no hex id of its own.
        r"|(?P<dec>\b\d+\.\d+(?:ms|us|µs|ns|s|m|h)?\b)",
        r"|(?P<hex>\b[0-9a-fA-F]{7,}\b)",
        r"|(?P<dur>\b\d+(?:ms|us|µs|ns|s)\b)",
        r"|(?P<num>\b\d{4,}\b)",
    ))
    .expect("the volatile-token regex is valid")
});

/// A recorded pattern, as a script writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// `"literal"` (already quoted).
    Literal(String),
    /// `/regex/` (already delimited).
    Regex(String),
}

impl Recorded {
    pub fn as_str(&self) -> &str {
        match self {
            Recorded::Literal(s) | Recorded::Regex(s) => s,
        }
    }
}

/// The pattern for a line of output.
pub fn pattern_for(line: &[u8]) -> Recorded {
    let (bytes, cut) = tail(line);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Recorded::Literal(crate::text::quote(bytes));
    };
    let mut regex = String::new();
    let mut last = 0;
    let mut any = false;
    for caps in VOLATILE.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let token = whole.as_str();
        let kind = [
            "ts", "uuid", "addr", "tmp", "time", "dec", "hex", "dur", "num",
        ]
        .into_iter()
        .find(|k| caps.name(k).is_some())
        .unwrap_or("num");
        let kind = match kind {
            // Hex digits without a digit are a word (`cafebabe`); digits alone, a number.
            "hex" if !token.bytes().any(|b| b.is_ascii_digit()) => continue,
            "hex" if token.bytes().all(|b| b.is_ascii_digit()) => "num",
            kind => kind,
        };
        regex.push_str(&escape(&text[last..whole.start()]));
        regex.push_str(&shape(kind, token));
        last = whole.end();
        any = true;
    }
    if !any {
        return Recorded::Literal(crate::text::quote(bytes));
    }
    regex.push_str(&escape(&text[last..]));
    let anchored = if cut {
        format!("{regex}$")
    } else {
        format!("^{regex}$")
    };
    Recorded::Regex(format!("/{anchored}/"))
}

/// At most the last [`MAX_CHARS`] characters of `line`, and whether it was cut.
fn tail(line: &[u8]) -> (&[u8], bool) {
    if line.len() <= MAX_CHARS {
        return (line, false);
    }
    let mut start = line.len() - MAX_CHARS;
    // Start at a character boundary (a UTF-8 continuation byte is 10xxxxxx).
    while start < line.len() && line[start] & 0xc0 == 0x80 {
        start += 1;
    }
    (&line[start..], true)
}

/// The pattern of a volatile token: its digits and hex runs as classes, the rest literal.
fn shape(kind: &str, token: &str) -> String {
    match kind {
        "uuid" => r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}".into(),
        "addr" => r"0x[0-9a-fA-F]+".into(),
        "hex" => r"[0-9a-fA-F]+".into(),
        "tmp" => {
            let root = if token.starts_with("/var") {
                "/var/tmp"
            } else {
                "/tmp"
            };
            format!(r"{}\/[^\s'`,;:)\]}}]*", escape(root))
        }
        _ => {
            // Digits become \d+; separators and units stay as they are.
            let mut out = String::new();
            let mut in_digits = false;
            for c in token.chars() {
                if c.is_ascii_digit() {
                    if !in_digits {
                        out.push_str(r"\d+");
                        in_digits = true;
                    }
                } else {
                    in_digits = false;
                    out.push_str(&escape(&c.to_string()));
                }
            }
            out
        }
    }
}

/// Literal text in a `/regex/`: regex metacharacters and `/` escaped, control characters as
/// `\x{..}`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '/' => out.push_str(r"\/"),
            // Not special outside a class: kept readable.
            '-' | '#' | '&' | '~' => out.push(c),
            c if c.is_control() => out.push_str(&format!(r"\x{{{:x}}}", c as u32)),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex_of(line: &str) -> String {
        match pattern_for(line.as_bytes()) {
            Recorded::Regex(r) => r,
            Recorded::Literal(l) => panic!("{line}: literal {l}"),
        }
    }

    #[test]
    fn stable_lines_are_literals() {
        assert_eq!(
            pattern_for(b"ack:turn1"),
            Recorded::Literal("\"ack:turn1\"".into())
        );
        assert_eq!(pattern_for(b"42"), Recorded::Literal("\"42\"".into()));
        assert_eq!(
            pattern_for(b"a \"q\"\x1b"),
            Recorded::Literal("\"a \\\"q\\\"\\e\"".into())
        );
        assert_eq!(
            pattern_for(b"cafe babe"),
            Recorded::Literal("\"cafe babe\"".into())
        );
    }

    #[test]
    fn volatile_parts_become_patterns_that_match_other_values() {
        let cases = [
            (
                "started at 2026-12-01T20:11:05.123Z pid 48213",
                "started at 2027-01-02T03:04:05.9Z pid 7",
            ),
            (
                "id 3f2a9c1e-0b7d-4e2a-9c1e-0b7d4e2a9c1e ok",
                "id 00000000-1111-2222-3333-444444444444 ok",
            ),
            ("<object at 0x7f3a2b1c>", "<object at 0x10>"),
            ("wrote /tmp/.tmpAb12/out.txt, done", "wrote /tmp/x/y, done"),
            ("took 0.53s (12ms) at 20:11", "took 10.2s (7ms) at 9:59"),
            (
                "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
                "commit 1234567abcdef",
            ),
            ("a/b (port 34567)", "a/b (port 1234)"),
            (
                "ping at 1796157875764704453 in /tmp/t.1.2",
                "ping at 17 in /tmp/u",
            ),
            // Python's time.time(): the fraction changes too.
            ("= 42 at 1796282169.475", "= 42 at 1796282170.12"),
            ("t=1796282169.4751234 done", "t=1796282169.9 done"),
        ];
        for (seen, other) in cases {
            let source = regex_of(seen);
            // The script's `/regex/` form: `\/` stands for `/`, and no bare `/` is inside.
            let inner = &source[1..source.len() - 1];
            assert!(!inner.replace(r"\/", "").contains('/'), "{source}");
            let inner = inner.replace(r"\/", "/");
            let regex = Regex::new(&inner).unwrap();
            assert!(regex.is_match(seen), "{source} on {seen}");
            assert!(regex.is_match(other), "{source} on {other}");
            assert!(
                !regex.is_match(&format!("{seen} !")),
                "{source} is anchored"
            );
            assert!(!regex.is_match(&format!("x{seen}")), "{source} is anchored");
        }
    }

    #[test]
    fn a_long_line_keeps_its_end() {
        let line = format!("{}tail 123456", "é".repeat(300));
        let source = regex_of(&line);
        assert!(
            source.starts_with('/') && !source.starts_with("/^"),
            "{source}"
        );
        assert!(source.ends_with(r"tail \d+$/"), "{source}");
    }
}
