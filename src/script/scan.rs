//! How `expect` finds a pattern in the lines that arrived after its previous match: an
//! incremental scan that looks at complete lines once and at open lines again as they grow.

use super::parser::Pattern;
use crate::engine::{Scrollback, Stream};

/// Where a session's next `expect` starts looking: after the previous match.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    pub seq: u64,
    pub offset: usize,
}

/// An incremental search for a pattern: complete lines are looked at once, lines that were
/// still open are looked at again as they grow.
pub struct Scan {
    /// Lines from here on have not been looked at yet.
    checked_upto: u64,
    /// Lines looked at while they were open, to look at again.
    reopen: Vec<u64>,
    first: bool,
    /// The line of the last match and where in it the search began (for captures).
    pub matched: Option<(u64, usize)>,
}

impl Scan {
    pub fn new(cursor: Cursor) -> Self {
        Scan {
            checked_upto: cursor.seq,
            reopen: Vec::new(),
            first: true,
            matched: None,
        }
    }

    pub fn find(
        &mut self,
        scrollback: &Scrollback,
        cursor: &mut Cursor,
        stream: Option<Stream>,
        pattern: &Pattern,
    ) -> Option<Cursor> {
        if cursor.seq < scrollback.first_seq() {
            // What the cursor pointed at has been evicted: start from what is left.
            *cursor = Cursor {
                seq: scrollback.first_seq(),
                offset: 0,
            };
            self.checked_upto = self.checked_upto.max(cursor.seq);
        }
        if self.first {
            self.first = false;
            self.checked_upto = cursor.seq;
        }
        let mut candidates: Vec<u64> = std::mem::take(&mut self.reopen);
        candidates.extend(self.checked_upto.max(scrollback.first_seq())..scrollback.end_seq());
        self.checked_upto = scrollback.end_seq();
        let mut best: Option<Cursor> = None;
        let mut best_from = 0;
        for seq in candidates {
            let Some(line) = scrollback.get(seq) else {
                continue;
            };
            if best.is_some_and(|b| b.seq <= seq) {
                continue;
            }
            // Input is never matched, only what the session wrote.
            let wanted = match stream {
                Some(s) => s == line.stream,
                None => line.stream.is_output(),
            };
            if !wanted {
                if line.is_open() {
                    self.reopen.push(seq);
                }
                continue;
            }
            let from = if seq == cursor.seq { cursor.offset } else { 0 };
            match pattern.find_end(line.bytes, from) {
                Some(end) => {
                    best = Some(Cursor { seq, offset: end });
                    best_from = from;
                }
                None if line.is_open() => self.reopen.push(seq),
                None => {}
            }
        }
        let found = best?;
        self.matched = Some((found.seq, best_from));
        let line = scrollback.get(found.seq)?;
        // A match at the end of a finished line moves on to the next line.
        Some(if found.offset >= line.bytes.len() && !line.is_open() {
            Cursor {
                seq: found.seq + 1,
                offset: 0,
            }
        } else {
            found
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::engine::ScrollbackLimits;

    fn find(
        sb: &Scrollback,
        cursor: &mut Cursor,
        scan: &mut Scan,
        stream: Option<Stream>,
        lit: &str,
    ) -> Option<Cursor> {
        scan.find(
            sb,
            cursor,
            stream,
            &Pattern::Literal(lit.as_bytes().to_vec()),
        )
    }

    #[test]
    fn matches_move_the_cursor_past_the_match() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"a b a\n");
        let mut cursor = Cursor::default();
        let mut scan = Scan::new(cursor);
        let c = find(&sb, &mut cursor, &mut scan, None, "a").unwrap();
        assert_eq!((c.seq, c.offset), (0, 1));
        let mut cursor = c;
        let mut scan = Scan::new(cursor);
        let c = find(&sb, &mut cursor, &mut scan, None, "a").unwrap();
        assert_eq!(
            (c.seq, c.offset),
            (1, 0),
            "a match at the end of a line moves on"
        );
        let mut cursor = c;
        let mut scan = Scan::new(cursor);
        assert!(find(&sb, &mut cursor, &mut scan, None, "a").is_none());
    }

    #[test]
    fn an_open_line_is_looked_at_again_as_it_grows() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        let mut cursor = Cursor::default();
        let mut scan = Scan::new(cursor);
        sb.push(Stream::Stdout, b"name");
        assert!(find(&sb, &mut cursor, &mut scan, None, "name? ").is_none());
        sb.push(Stream::Stdout, b"? ");
        let c = find(&sb, &mut cursor, &mut scan, None, "name? ").unwrap();
        assert_eq!((c.seq, c.offset), (0, 6));
    }

    #[test]
    fn a_line_cut_by_other_output_goes_on_in_a_new_line() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        let mut cursor = Cursor::default();
        let mut scan = Scan::new(cursor);
        sb.push(Stream::Stdout, b"name");
        sb.push(Stream::Stderr, b"noise\n");
        sb.push(Stream::Stdout, b"? ");
        assert!(find(&sb, &mut cursor, &mut scan, None, "name? ").is_none());
        let mut scan = Scan::new(cursor);
        let c = find(&sb, &mut cursor, &mut scan, None, "? ").unwrap();
        assert_eq!((c.seq, c.offset), (2, 2));
    }

    #[test]
    fn a_stream_filter_skips_the_other_stream() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"boom\n");
        sb.push(Stream::Stderr, b"boom\n");
        let mut cursor = Cursor::default();
        let mut scan = Scan::new(cursor);
        let c = find(&sb, &mut cursor, &mut scan, Some(Stream::Stderr), "boom").unwrap();
        assert_eq!(c.seq, 2);
    }

    #[test]
    fn input_is_never_matched() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdin, b"secret\n");
        let mut cursor = Cursor::default();
        let mut scan = Scan::new(cursor);
        assert!(find(&sb, &mut cursor, &mut scan, None, "secret").is_none());
        sb.push(Stream::Stdout, b"echo: secret");
        let c = find(&sb, &mut cursor, &mut scan, None, "secret").unwrap();
        assert_eq!((c.seq, c.offset), (1, 12));
    }

    #[test]
    fn what_arrives_after_a_match_is_seen_whichever_line_it_lands_in() {
        // sh -c 'printf "p> " >&2; read x; echo out; read y; echo err >&2'
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stderr, b"p> ");
        let c = find(
            &sb,
            &mut Cursor::default(),
            &mut Scan::new(Cursor::default()),
            Some(Stream::Stderr),
            "p> ",
        )
        .unwrap();
        sb.push(Stream::Stdin, b"a\n");
        sb.push(Stream::Stdout, b"out\n");
        let mut cursor = c;
        let c = find(
            &sb,
            &mut cursor,
            &mut Scan::new(c),
            Some(Stream::Stdout),
            "out",
        )
        .unwrap();
        sb.push(Stream::Stdin, b"b\n");
        sb.push(Stream::Stderr, b"err\n");
        let mut cursor = c;
        assert!(
            find(
                &sb,
                &mut cursor,
                &mut Scan::new(c),
                Some(Stream::Stderr),
                "err"
            )
            .is_some()
        );
    }

    #[test]
    fn the_earliest_match_wins_over_a_later_line() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        let mut cursor = Cursor::default();
        let mut scan = Scan::new(cursor);
        sb.push(Stream::Stdout, b"x");
        sb.push(Stream::Stderr, b"ok\n");
        assert!(find(&sb, &mut cursor, &mut scan, None, "ok!").is_none());
        sb.push(Stream::Stdout, b"ok!");
        sb.push(Stream::Stderr, b"ok!\n");
        let c = find(&sb, &mut cursor, &mut scan, None, "ok!").unwrap();
        // stdout's `ok!` came first, on a line of its own (line 2, which the cut ended): the
        // cursor moves past it, to line 3.
        assert_eq!((c.seq, c.offset), (3, 0));
    }
}
