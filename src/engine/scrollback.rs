//! A session's scrollback: chunks of output assembled into lines, kept in a ring bounded by a
//! line count and a byte count.
//!
//! Lines of both streams share one sequence so their arrival order is kept. A line that has
//! not seen its newline yet (a prompt such as `name? `) is stored *open*: it is visible and
//! searchable at once and grows in place as more output of its stream arrives, even when
//! lines of the other stream arrived in between. No line grows past `max_line_bytes`: a
//! longer one is split and continues in a new line.
//!
//! Eviction is deferred to the start of the next [`Scrollback::push`]: the lines one push
//! produced stay readable until the next push, so a driver that looks after each chunk never
//! misses a line, however small the limits.

use std::collections::VecDeque;

use memchr::memchr;
use serde::{Deserialize, Serialize};

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The stream's name as used in transcripts, scripts and tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// How a line ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// More output of this stream goes on this line.
    Open,
    /// The line ended with a newline (not stored in the line).
    Newline,
    /// The line reached the length cap and continues in the next line of its stream.
    Split,
    /// The stream ended (the session exited) without a final newline.
    Eof,
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Position in the session's output, counted from 0 over both streams.
    pub seq: u64,
    pub stream: Stream,
    /// The raw bytes, without the newline; may be invalid UTF-8 and hold control bytes.
    pub bytes: Vec<u8>,
    pub end: LineEnd,
}

impl Line {
    /// Whether more bytes may still be appended to this line.
    pub fn is_open(&self) -> bool {
        self.end == LineEnd::Open
    }
}

/// The limits of one scrollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrollbackLimits {
    pub max_lines: usize,
    pub max_bytes: usize,
    pub max_line_bytes: usize,
}

impl Default for ScrollbackLimits {
    fn default() -> Self {
        ScrollbackLimits {
            max_lines: 10_000,
            max_bytes: 16 * 1024 * 1024,
            max_line_bytes: 1024 * 1024,
        }
    }
}

/// The bounded, ordered lines of one session.
#[derive(Debug, Clone)]
pub struct Scrollback {
    lines: VecDeque<Line>,
    /// Sequence number the next new line gets.
    next_seq: u64,
    bytes: usize,
    limits: ScrollbackLimits,
    /// The open line of each stream, by sequence number.
    open: [Option<u64>; 2],
    evicted: u64,
}

impl Scrollback {
    /// An empty scrollback with the given limits (each at least 1).
    pub fn new(limits: ScrollbackLimits) -> Self {
        let limits = ScrollbackLimits {
            max_lines: limits.max_lines.max(1),
            max_bytes: limits.max_bytes.max(1),
            max_line_bytes: limits.max_line_bytes.max(1),
        };
        Scrollback {
            lines: VecDeque::new(),
            next_seq: 0,
            bytes: 0,
            limits,
            open: [None, None],
            evicted: 0,
        }
    }

    pub fn limits(&self) -> ScrollbackLimits {
        self.limits
    }

    /// Appends a chunk of output of `stream`, first evicting what the limits no longer allow.
    pub fn push(&mut self, stream: Stream, mut data: &[u8]) {
        self.trim();
        while !data.is_empty() {
            let newline = memchr(b'\n', data);
            let piece_len = newline.unwrap_or(data.len());
            let index = self.open_line(stream);
            let max_line_bytes = self.limits.max_line_bytes;
            let line = &mut self.lines[index];
            let room = max_line_bytes.saturating_sub(line.bytes.len());
            if piece_len > room {
                // Fill the line to the cap, split, and go on with the rest of the piece.
                line.bytes.extend_from_slice(&data[..room]);
                line.end = LineEnd::Split;
                shrink(&mut line.bytes);
                self.bytes += room;
                self.open[stream.index()] = None;
                data = &data[room..];
                continue;
            }
            line.bytes.extend_from_slice(&data[..piece_len]);
            match newline {
                Some(_) => {
                    line.end = LineEnd::Newline;
                    shrink(&mut line.bytes);
                    self.open[stream.index()] = None;
                    data = &data[piece_len + 1..];
                }
                None => data = &[],
            }
            self.bytes += piece_len;
        }
    }

    /// Marks the open lines of both streams as ended: the session's output is over.
    pub fn close_streams(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if let Some(seq) = self.open[stream.index()].take()
                && let Some(line) = self.get_mut(seq)
            {
                line.end = LineEnd::Eof;
            }
        }
    }

    /// Evicts the oldest lines until both limits hold again.
    pub fn trim(&mut self) {
        while self.lines.len() > self.limits.max_lines || self.bytes > self.limits.max_bytes {
            let Some(line) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= line.bytes.len();
            self.evicted += 1;
            let slot = &mut self.open[line.stream.index()];
            if *slot == Some(line.seq) {
                *slot = None;
            }
        }
    }

    /// Removes every line (the sequence numbers go on from where they were).
    pub fn clear(&mut self) {
        self.evicted += self.lines.len() as u64;
        self.lines.clear();
        self.bytes = 0;
        self.open = [None, None];
    }

    /// The line with sequence number `seq`, if it is still held.
    pub fn get(&self, seq: u64) -> Option<&Line> {
        let first = self.first_seq();
        if seq < first {
            return None;
        }
        self.lines.get((seq - first) as usize)
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Line> {
        let first = self.first_seq();
        if seq < first {
            return None;
        }
        self.lines.get_mut((seq - first) as usize)
    }

    /// Sequence number of the oldest line held (equal to `end_seq` when empty).
    pub fn first_seq(&self) -> u64 {
        self.lines.front().map_or(self.next_seq, |line| line.seq)
    }

    /// One past the sequence number of the newest line.
    pub fn end_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number of lines held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes of line content held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many lines have been evicted (or cleared) so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The lines held, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Line> + ExactSizeIterator {
        self.lines.iter()
    }

    /// The line at `index` counted from the oldest line held.
    pub fn at(&self, index: usize) -> Option<&Line> {
        self.lines.get(index)
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> impl Iterator<Item = &Line> {
        self.lines.iter().skip(self.lines.len().saturating_sub(n))
    }

    /// Index of the open line of `stream`, starting a new line when there is none.
    fn open_line(&mut self, stream: Stream) -> usize {
        let first = self.first_seq();
        if let Some(seq) = self.open[stream.index()]
            && seq >= first
        {
            return (seq - first) as usize;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.lines.push_back(Line {
            seq,
            stream,
            bytes: Vec::new(),
            end: LineEnd::Open,
        });
        self.open[stream.index()] = Some(seq);
        self.lines.len() - 1
    }
}

/// Gives back spare capacity of a finished line when it wastes more than a quarter.
fn shrink(bytes: &mut Vec<u8>) {
    if bytes.capacity() > bytes.len() + bytes.len() / 4 + 16 {
        bytes.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_lines: usize, max_bytes: usize, max_line_bytes: usize) -> ScrollbackLimits {
        ScrollbackLimits {
            max_lines,
            max_bytes,
            max_line_bytes,
        }
    }

    fn texts(sb: &Scrollback) -> Vec<(Stream, String, LineEnd)> {
        sb.iter()
            .map(|l| {
                (
                    l.stream,
                    String::from_utf8_lossy(&l.bytes).into_owned(),
                    l.end,
                )
            })
            .collect()
    }

    #[test]
    fn chunks_are_split_into_lines() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"one\ntwo\nthr");
        sb.push(Stream::Stdout, b"ee\n");
        assert_eq!(
            texts(&sb),
            vec![
                (Stream::Stdout, "one".into(), LineEnd::Newline),
                (Stream::Stdout, "two".into(), LineEnd::Newline),
                (Stream::Stdout, "three".into(), LineEnd::Newline),
            ]
        );
    }

    #[test]
    fn a_prompt_without_newline_is_visible_at_once() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"name? ");
        assert_eq!(
            texts(&sb),
            vec![(Stream::Stdout, "name? ".into(), LineEnd::Open)]
        );
        sb.push(Stream::Stdout, b"\n");
        assert_eq!(sb.at(0).unwrap().end, LineEnd::Newline);
        assert_eq!(sb.len(), 1);
    }

    #[test]
    fn empty_lines_are_kept() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"\n\nx\n");
        assert_eq!(sb.len(), 3);
        assert_eq!(sb.at(0).unwrap().bytes, b"");
        assert_eq!(sb.at(2).unwrap().bytes, b"x");
    }

    #[test]
    fn streams_keep_their_own_open_line() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"progress: ");
        sb.push(Stream::Stderr, b"warning\n");
        sb.push(Stream::Stdout, b"done\n");
        assert_eq!(
            texts(&sb),
            vec![
                (Stream::Stdout, "progress: done".into(), LineEnd::Newline),
                (Stream::Stderr, "warning".into(), LineEnd::Newline),
            ]
        );
    }

    #[test]
    fn a_long_line_is_split_at_the_cap() {
        let mut sb = Scrollback::new(limits(100, 1000, 4));
        sb.push(Stream::Stdout, b"abcdefghij\nxy");
        assert_eq!(
            texts(&sb),
            vec![
                (Stream::Stdout, "abcd".into(), LineEnd::Split),
                (Stream::Stdout, "efgh".into(), LineEnd::Split),
                (Stream::Stdout, "ij".into(), LineEnd::Newline),
                (Stream::Stdout, "xy".into(), LineEnd::Open),
            ]
        );
    }

    #[test]
    fn a_line_exactly_at_the_cap_then_newline_is_one_line() {
        let mut sb = Scrollback::new(limits(100, 1000, 4));
        sb.push(Stream::Stdout, b"abcd");
        sb.push(Stream::Stdout, b"\n");
        assert_eq!(
            texts(&sb),
            vec![(Stream::Stdout, "abcd".into(), LineEnd::Newline)]
        );
        sb.push(Stream::Stdout, b"abcd");
        sb.push(Stream::Stdout, b"e");
        assert_eq!(sb.at(1).unwrap().end, LineEnd::Split);
        assert_eq!(sb.at(2).unwrap().bytes, b"e");
    }

    #[test]
    fn a_huge_line_in_small_chunks_never_passes_the_cap() {
        let mut sb = Scrollback::new(limits(1000, 1 << 30, 1024));
        for _ in 0..5000 {
            sb.push(Stream::Stdout, &[b'x'; 7]);
        }
        assert!(sb.iter().all(|l| l.bytes.len() <= 1024));
        assert_eq!(sb.bytes(), 35_000);
    }

    #[test]
    fn eviction_keeps_line_and_byte_limits_after_the_next_push() {
        let mut sb = Scrollback::new(limits(3, 1000, 100));
        sb.push(Stream::Stdout, b"1\n2\n3\n4\n5\n");
        // The lines of the last push stay readable until the next push.
        assert_eq!(sb.len(), 5);
        sb.push(Stream::Stdout, b"6\n");
        assert_eq!(sb.len(), 4);
        sb.trim();
        assert_eq!(sb.len(), 3);
        assert_eq!(sb.first_seq(), 3);
        assert_eq!(sb.get(3).unwrap().bytes, b"4");
        assert!(sb.get(2).is_none());
        assert_eq!(sb.evicted(), 3);

        let mut sb = Scrollback::new(limits(100, 10, 100));
        sb.push(Stream::Stdout, b"aaaa\nbbbb\ncccc\n");
        sb.trim();
        assert!(sb.bytes() <= 10);
        assert_eq!(texts(&sb)[0].1, "bbbb");
    }

    #[test]
    fn an_evicted_open_line_starts_a_new_line() {
        let mut sb = Scrollback::new(limits(2, 1000, 100));
        sb.push(Stream::Stdout, b"partial");
        sb.push(Stream::Stderr, b"e1\ne2\n");
        sb.push(Stream::Stdout, b" more\n");
        let t = texts(&sb);
        assert_eq!(t.last().unwrap().1, " more");
    }

    #[test]
    fn invalid_utf8_and_nul_bytes_are_stored_raw() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"\xff\xfe\x00ok\n");
        assert_eq!(sb.at(0).unwrap().bytes, b"\xff\xfe\x00ok");
    }

    #[test]
    fn close_streams_ends_open_lines() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"bye");
        sb.close_streams();
        assert_eq!(sb.at(0).unwrap().end, LineEnd::Eof);
        sb.push(Stream::Stdout, b"again");
        assert_eq!(sb.len(), 2);
    }

    #[test]
    fn clear_keeps_sequence_numbers_going() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"a\nb\n");
        sb.clear();
        assert!(sb.is_empty());
        assert_eq!(sb.bytes(), 0);
        sb.push(Stream::Stdout, b"c\n");
        assert_eq!(sb.at(0).unwrap().seq, 2);
    }

    #[test]
    fn tail_returns_the_newest_lines_in_order() {
        let mut sb = Scrollback::new(ScrollbackLimits::default());
        sb.push(Stream::Stdout, b"1\n2\n3\n");
        let tail: Vec<_> = sb.tail(2).map(|l| l.bytes.clone()).collect();
        assert_eq!(tail, vec![b"2".to_vec(), b"3".to_vec()]);
    }
}
