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

/// One line of output, borrowed from its scrollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Position in the session's output, counted from 0 over both streams.
    pub seq: u64,
    pub stream: Stream,
    /// The raw bytes, without the newline; may be invalid UTF-8 and hold control bytes.
    pub bytes: &'a [u8],
    pub end: LineEnd,
}

impl Line<'_> {
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

/// Where a line's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// `len` bytes at `start` in the arena.
    Arena { start: usize },
    /// In the open buffer of its stream.
    Open,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    seq: u64,
    stream: Stream,
    end: LineEnd,
    place: Place,
    len: usize,
}

/// The bounded, ordered lines of one session.
///
/// Storage costs no allocation per line: finished lines live in one byte arena, described
/// by small records in a ring; each stream's open line grows in a buffer of its own until it
/// ends. Evicted bytes are reclaimed by compacting the arena in place once they pass half
/// the live ones: the arena stays under 1.5x the live bytes and each byte is moved about
/// twice at most.
#[derive(Debug, Clone)]
pub struct Scrollback {
    metas: VecDeque<Meta>,
    arena: Vec<u8>,
    /// Bytes of live lines in the arena.
    arena_live: usize,
    open_bufs: [Vec<u8>; 2],
    /// The open line of each stream, by sequence number.
    open: [Option<u64>; 2],
    /// Sequence number the next new line gets.
    next_seq: u64,
    bytes: usize,
    limits: ScrollbackLimits,
    evicted: u64,
}

/// Arena garbage below this is never worth a compaction.
const COMPACT_MIN: usize = 256 * 1024;

impl Scrollback {
    /// An empty scrollback with the given limits (each at least 1).
    pub fn new(limits: ScrollbackLimits) -> Self {
        let limits = ScrollbackLimits {
            max_lines: limits.max_lines.max(1),
            max_bytes: limits.max_bytes.max(1),
            max_line_bytes: limits.max_line_bytes.max(1),
        };
        Scrollback {
            metas: VecDeque::new(),
            arena: Vec::new(),
            arena_live: 0,
            open_bufs: [Vec::new(), Vec::new()],
            open: [None, None],
            next_seq: 0,
            bytes: 0,
            limits,
            evicted: 0,
        }
    }

    pub fn limits(&self) -> ScrollbackLimits {
        self.limits
    }

    /// Appends a chunk of output of `stream`, first evicting what the limits no longer allow.
    pub fn push(&mut self, stream: Stream, mut data: &[u8]) {
        self.trim();
        let si = stream.index();
        let cap = self.limits.max_line_bytes;
        while !data.is_empty() {
            let newline = memchr(b'\n', data);
            let piece_len = newline.unwrap_or(data.len());
            let index = self.open_index(stream);
            let have = self.metas.get(index).map_or(0, |m| m.len);
            let room = cap.saturating_sub(have);
            if piece_len > room {
                // Fill the line to the cap, split it, and go on with the rest of the piece.
                self.finish(index, &data[..room], LineEnd::Split);
                data = &data[room..];
                continue;
            }
            match newline {
                Some(_) => {
                    self.finish(index, &data[..piece_len], LineEnd::Newline);
                    data = &data[piece_len + 1..];
                }
                None => {
                    self.open_bufs[si].extend_from_slice(data);
                    self.metas[index].len += data.len();
                    self.bytes += data.len();
                    data = &[];
                }
            }
        }
    }

    /// Ends the open line at `index` with `tail` as its last bytes, moving it to the arena.
    fn finish(&mut self, index: usize, tail: &[u8], end: LineEnd) {
        let meta = self.metas[index];
        let si = meta.stream.index();
        let start = self.arena.len();
        self.arena.extend_from_slice(&self.open_bufs[si]);
        self.arena.extend_from_slice(tail);
        self.open_bufs[si].clear();
        if self.open_bufs[si].capacity() > 64 * 1024 {
            self.open_bufs[si] = Vec::new();
        }
        let len = meta.len + tail.len();
        self.arena_live += len;
        self.bytes += tail.len();
        self.metas[index] = Meta {
            end,
            place: Place::Arena { start },
            len,
            ..meta
        };
        self.open[si] = None;
    }

    /// Marks the open lines of both streams as ended: the session's output is over.
    pub fn close_streams(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if let Some(index) = self.open[stream.index()].and_then(|seq| self.index_of(seq)) {
                self.finish(index, &[], LineEnd::Eof);
            }
            self.open[stream.index()] = None;
        }
    }

    /// Evicts the oldest lines until both limits hold again.
    pub fn trim(&mut self) {
        while self.metas.len() > self.limits.max_lines || self.bytes > self.limits.max_bytes {
            let Some(meta) = self.metas.pop_front() else {
                break;
            };
            self.bytes -= meta.len;
            self.evicted += 1;
            match meta.place {
                Place::Arena { .. } => self.arena_live -= meta.len,
                Place::Open => {
                    let si = meta.stream.index();
                    self.open_bufs[si].clear();
                    self.open[si] = None;
                }
            }
        }
        let dead = self.arena.len() - self.arena_live;
        if dead > COMPACT_MIN && dead > self.arena_live / 2 {
            self.compact();
        }
    }

    /// Moves the live lines to the front of the arena, in arena order, in place.
    fn compact(&mut self) {
        let mut order: Vec<usize> = (0..self.metas.len())
            .filter(|&i| matches!(self.metas[i].place, Place::Arena { .. }))
            .collect();
        order.sort_unstable_by_key(|&i| match self.metas[i].place {
            Place::Arena { start } => start,
            Place::Open => usize::MAX,
        });
        let mut to = 0;
        for i in order {
            let meta = &mut self.metas[i];
            if let Place::Arena { start } = meta.place {
                self.arena.copy_within(start..start + meta.len, to);
                meta.place = Place::Arena { start: to };
                to += meta.len;
            }
        }
        self.arena.truncate(to);
        if self.arena.capacity() > 4 * to.max(COMPACT_MIN) {
            self.arena.shrink_to(2 * to.max(COMPACT_MIN));
        }
    }

    /// Removes every line (the sequence numbers go on from where they were).
    pub fn clear(&mut self) {
        self.evicted += self.metas.len() as u64;
        self.metas.clear();
        self.arena.clear();
        self.arena_live = 0;
        for buf in &mut self.open_bufs {
            buf.clear();
        }
        self.bytes = 0;
        self.open = [None, None];
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let first = self.first_seq();
        let index = seq.checked_sub(first)? as usize;
        (index < self.metas.len()).then_some(index)
    }

    fn line(&self, meta: &Meta) -> Line<'_> {
        let bytes = match meta.place {
            Place::Arena { start } => &self.arena[start..start + meta.len],
            Place::Open => &self.open_bufs[meta.stream.index()][..],
        };
        Line {
            seq: meta.seq,
            stream: meta.stream,
            bytes,
            end: meta.end,
        }
    }

    /// The line with sequence number `seq`, if it is still held.
    pub fn get(&self, seq: u64) -> Option<Line<'_>> {
        self.index_of(seq).map(|i| self.line(&self.metas[i]))
    }

    /// Sequence number of the oldest line held (equal to `end_seq` when empty).
    pub fn first_seq(&self) -> u64 {
        self.metas.front().map_or(self.next_seq, |m| m.seq)
    }

    /// One past the sequence number of the newest line.
    pub fn end_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number of lines held.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
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
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Line<'_>> + ExactSizeIterator {
        self.metas.iter().map(|m| self.line(m))
    }

    /// The line at `index` counted from the oldest line held.
    pub fn at(&self, index: usize) -> Option<Line<'_>> {
        self.metas.get(index).map(|m| self.line(m))
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> impl Iterator<Item = Line<'_>> {
        self.iter().skip(self.metas.len().saturating_sub(n))
    }

    /// Index of the open line of `stream`, starting a new line when there is none.
    fn open_index(&mut self, stream: Stream) -> usize {
        if let Some(index) = self.open[stream.index()].and_then(|seq| self.index_of(seq)) {
            return index;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.metas.push_back(Meta {
            seq,
            stream,
            end: LineEnd::Open,
            place: Place::Open,
            len: 0,
        });
        self.open[stream.index()] = Some(seq);
        self.metas.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_every_live_line_intact() {
        // Interleaved open lines finish out of order, so arena order differs from line order.
        let mut sb = Scrollback::new(limits(50, 1 << 30, 1 << 20));
        for i in 0..20_000u32 {
            let out = format!("out {i} ").repeat(3);
            sb.push(Stream::Stdout, out.as_bytes());
            sb.push(Stream::Stderr, format!("err {i}\n").as_bytes());
            sb.push(Stream::Stdout, b"end\n");
        }
        sb.trim();
        assert_eq!(sb.len(), 50);
        for line in sb.iter() {
            let text = String::from_utf8_lossy(line.bytes);
            match line.stream {
                Stream::Stdout => {
                    assert!(text.starts_with("out ") && text.ends_with("end"), "{text}")
                }
                Stream::Stderr => assert!(text.starts_with("err "), "{text}"),
            }
        }
        assert!(
            sb.arena.len() < 4 * COMPACT_MIN,
            "the arena was compacted: {}",
            sb.arena.len()
        );
        let total: usize = sb.iter().map(|l| l.bytes.len()).sum();
        assert_eq!(total, sb.bytes());
    }

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
                    String::from_utf8_lossy(l.bytes).into_owned(),
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
        let tail: Vec<_> = sb.tail(2).map(|l| l.bytes.to_vec()).collect();
        assert_eq!(tail, vec![b"2".to_vec(), b"3".to_vec()]);
    }
}
