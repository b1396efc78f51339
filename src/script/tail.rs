//! The last lines of a session, as a failing step shows them: printable, long lines cut at
//! a character boundary, input tagged `stdin`.

use crate::engine::{Scrollback, Stream};
use crate::protocol::stream_json;
use crate::text::printable;

/// How many lines of a session's output a failure shows.
pub const TAIL_LINES: usize = 10;

/// How many JSON lines a failing JSON step shows.
pub const JSON_TAIL_LINES: usize = 5;

/// The last `n` output lines that are JSON, oldest first, compact and printable. When there
/// are none, the last lines as they are, so a failure never shows an empty tail.
pub fn json_tail(scrollback: &Scrollback, n: usize) -> Vec<(Stream, String)> {
    let mut lines: Vec<(Stream, String)> = scrollback
        .iter()
        .rev()
        .filter(|l| l.stream.is_output() && l.completes())
        .filter_map(|l| {
            stream_json::parse_line(&scrollback.whole_line(&l)).map(|v| (l.stream, v.to_string()))
        })
        .take(n)
        .map(|(stream, text)| (stream, shorten(text.as_bytes())))
        .collect();
    if lines.is_empty() {
        return tail(scrollback, n);
    }
    lines.reverse();
    lines
}

/// How much of one line a failure message shows.
const TAIL_LINE_BYTES: usize = 240;

/// A line cut to [`TAIL_LINE_BYTES`] at a character boundary, printable, with a note of how
/// much was left out.
fn shorten(bytes: &[u8]) -> String {
    if bytes.len() <= TAIL_LINE_BYTES {
        return printable(bytes);
    }
    // Back up to the start of a UTF-8 character (continuation bytes are 0b10xxxxxx).
    let mut cut = TAIL_LINE_BYTES;
    while cut > TAIL_LINE_BYTES - 3 && bytes[cut] & 0xc0 == 0x80 {
        cut -= 1;
    }
    format!(
        "{}… ({} more bytes)",
        printable(&bytes[..cut]),
        bytes.len() - cut
    )
}

/// The last `n` lines of a scrollback (input included, tagged `stdin`), printable; long
/// lines are cut short with a note of how much was left out.
pub fn tail(scrollback: &Scrollback, n: usize) -> Vec<(Stream, String)> {
    scrollback
        .tail(n)
        .map(|line| (line.stream, shorten(line.bytes)))
        .collect()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::engine::ScrollbackLimits;

    #[test]
    fn tails_cut_long_lines_between_characters() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, "日".repeat(200).as_bytes());
        let (_, text) = &tail(&sb, 1)[0];
        assert!(!text.contains("\\x"), "no character cut in half: {text}");
        assert!(text.ends_with("more bytes)"), "{text}");
    }
}
