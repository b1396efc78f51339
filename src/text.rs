//! Making untrusted session output safe to print on the host terminal.
//!
//! Output comes from sandboxed programs: an escape sequence in it must never reach the
//! terminal that runs sandmux. [`printable`] renders bytes as text in which every control
//! character and every byte of invalid UTF-8 is shown as a visible escape.

use std::fmt::Write;

/// Renders bytes with control characters (C0, DEL, C1) and invalid UTF-8 made visible:
/// `\e` for ESC, `\t` kept as a tab only when `keep_tabs`, `\xNN` for the rest.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '\x1b' => out.push_str("\\e"),
        '\t' => out.push_str("    "),
        '\r' => out.push_str("\\r"),
        c if c.is_control() => {
            // C0, DEL and the C1 range U+0080..U+009F.
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        // Bidirectional overrides can disguise text; show them too.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// A JSON answer line made safe for a terminal, still as JSON: the value written again with
/// every control character (C0, DEL, C1) and bidirectional control as a `\uXXXX` escape.
/// A line that is not JSON is shown [`printable`].
pub fn json_line_safe(line: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
        return printable(line.as_bytes());
    };
    let mut out = String::with_capacity(line.len());
    for c in value.to_string().chars() {
        let escape = c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}');
        if escape {
            // Outside strings JSON has no such characters: these are inside strings.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A message for the terminal, with every control character, escape and bidirectional
/// override made visible as in [`printable`], line breaks kept.
pub fn neutralise(message: &str) -> String {
    message
        .split('\n')
        .map(|line| printable(line.as_bytes()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes bytes as a double-quoted string that [`unquote`] reads back exactly: printable text
/// as it is, `\"` and `\\`, the named escapes, and `\xNN` for every other control character
/// and byte of invalid UTF-8.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\0' => out.push_str("\\0"),
                '\x1b' => out.push_str("\\e"),
                c if (c as u32) < 0x80 && c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
                {
                    // Written as its UTF-8 bytes, so the script shows no invisible characters.
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Reads one double-quoted string at the start of `text` (which starts with `"`), with the
/// escapes sandmux scripts know: `\n \t \r \0 \e \\ \" \xNN`. Returns the bytes and how
/// many bytes of `text` it used; an error gives the byte offset in `text` it is about.
pub fn unquote(text: &str) -> Result<(Vec<u8>, usize), (usize, String)> {
    let unclosed = || (0, "unclosed string: add the closing `\"`".to_string());
    let mut out = Vec::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((out, at + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push(b'\n'),
                Some((_, 't')) => out.push(b'\t'),
                Some((_, 'r')) => out.push(b'\r'),
                Some((_, '0')) => out.push(0),
                Some((_, 'e')) => out.push(0x1b),
                Some((_, '\\')) => out.push(b'\\'),
                Some((_, '"')) => out.push(b'"'),
                Some((_, 'x')) => {
                    let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                    let byte = (hex.len() == 2)
                        .then(|| u8::from_str_radix(&hex, 16).ok())
                        .flatten()
                        .ok_or_else(|| {
                            (
                                at,
                                format!("invalid escape `\\x{hex}`: expected two hex digits"),
                            )
                        })?;
                    out.push(byte);
                }
                Some((_, other)) => {
                    return Err((
                        at,
                        format!(
                            "unknown escape `\\{other}` (known: \\n \\t \\r \\0 \\e \\\\ \\\" \\xNN)"
                        ),
                    ));
                }
                None => return Err(unclosed()),
            },
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Err(unclosed())
}

/// The one line of a regex error that says what is wrong (the crate's message spans several
/// lines with a drawing of the pattern).
pub fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    let why = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid");
    why.trim().trim_start_matches("error: ").to_string()
}

/// The candidate closest to `word` when it looks like a typo of it (a few letters off, or
/// two swapped), for "did you mean" hints; `None` when nothing is close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (typo_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= limit && *d < c.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `: did you mean `send`?`, or nothing when no candidate is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(": did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Edits from `a` to `b`: a letter added, dropped, changed, or two neighbours swapped
/// (optimal string alignment distance).
fn typo_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Three rows of the table: two back (for swaps), the last, this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_did_you_mean_and_other_words_none() {
        let steps = [
            "session",
            "send",
            "write",
            "expect",
            "expect-json",
            "wait",
            "set",
        ];
        assert_eq!(closest("sned", steps), Some("send"));
        assert_eq!(closest("expcet", steps), Some("expect"));
        assert_eq!(closest("Sesion", steps), Some("session"));
        assert_eq!(closest("expect-jsn", steps), Some("expect-json"));
        assert_eq!(closest("frobnicate", steps), None);
        assert_eq!(closest("x", steps), None);
        assert_eq!(closest("rnu", ["run", "replay", "diff"]), Some("run"));
        assert_eq!(
            did_you_mean("ecoh", ["echo", "py"]),
            ": did you mean `echo`?"
        );
        assert_eq!(did_you_mean("zzz", ["echo"]), "");
    }

    #[test]
    fn json_lines_keep_their_meaning_and_lose_every_control_character() {
        // Valid JSON: C0 escaped as JSON requires; C1, DEL and a bidi override raw.
        let hostile = concat!(
            r#"{"text":"a\u001b]0;x\u0007b"#,
            "\u{9b}c\u{7f}d\u{202e}e\"}"
        );
        let safe = json_line_safe(hostile);
        assert!(
            safe.chars().all(|c| !c.is_control() && c != '\u{202e}'),
            "{safe:?}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        let orig: serde_json::Value = serde_json::from_str(hostile).unwrap();
        assert_eq!(back, orig, "the same JSON value");
        assert_eq!(json_line_safe("not json \u{1b}[2J"), "not json \\e[2J");
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        let out = printable(b"\x1b]0;pwned\x07\x1b[?1049h\x1b[31mred\x9b");
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert_eq!(out, "\\e]0;pwned\\x07\\e[?1049h\\e[31mred\\x9b");
    }

    #[test]
    fn quote_and_unquote_round_trip_every_byte() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"plain".to_vec(),
            b"q\"b\\n\n t\t r\r z\0 e\x1b del\x7f".to_vec(),
            "é ☃ \u{85} \u{202e}".as_bytes().to_vec(),
            vec![0xff, 0xfe, b'a', 0xc3],
        ];
        samples.push((0u8..=255).collect());
        for bytes in samples {
            let quoted = quote(&bytes);
            assert!(!quoted.chars().any(|c| c.is_control()), "{quoted}");
            let (back, used) = unquote(&quoted).unwrap();
            assert_eq!(back, bytes, "{quoted}");
            assert_eq!(used, quoted.len());
        }
    }

    #[test]
    fn quoted_strings_know_their_escapes_and_say_where_they_fail() {
        assert_eq!(
            unquote(r#""a\tb\x41\"c" rest"#).unwrap(),
            (b"a\tbA\"c".to_vec(), 13)
        );
        assert_eq!(unquote(r#""日本""#).unwrap().0, "日本".as_bytes());
        assert_eq!(unquote(r#""abc"#).unwrap_err().0, 0);
        let (at, why) = unquote(r#""ab\q""#).unwrap_err();
        assert_eq!(at, 3);
        assert!(why.starts_with("unknown escape `\\q`"), "{why}");
        assert!(
            unquote(r#""\x4""#)
                .unwrap_err()
                .1
                .contains("two hex digits")
        );
    }

    #[test]
    fn messages_keep_their_lines_and_lose_their_escapes() {
        let message =
            "step failed: the turn ended with an error (error\u{1b}]0;PWNED\u{7})\n  last";
        assert_eq!(
            neutralise(message),
            "step failed: the turn ended with an error (error\\e]0;PWNED\\x07)\n  last"
        );
    }

    #[test]
    fn c1_controls_and_invalid_utf8_are_escaped() {
        assert_eq!(printable("a\u{9b}b".as_bytes()), "a\\x9bb");
        assert_eq!(printable(b"\xff\x00ok"), "\\xff\\x00ok");
        assert_eq!(printable("héllo\tx".as_bytes()), "héllo    x");
    }
}
