//! A session's scrollback: chunks of output (and the input sent) assembled into lines, kept in
//! a ring bounded by a line count and a byte count.
//!
//! Lines of every stream share one sequence, so the sequence is the order in which things
//! happened. A line that has not seen its newline yet (a prompt such as `name? `) is stored
//! *open*: it is visible and searchable at once and grows in place while more bytes of its
//! stream arrive. As soon as something else comes after it (output on another stream, or
//! input), it is closed for display with [`LineEnd::Cut`], and the next bytes of its stream
//! start a new line. So there is at most one open line, always the newest, and a
//! conversation reads in the order it happened: `>>> ` (a prompt), `6*7` (the input), `42`.
//!
//! The pieces of a line that was cut remember the first piece (their `head`), so a line
//! protocol can put the logical line back together ([`Scrollback::joined`]): a JSON line
//! interrupted by a stderr message is still one JSON value.
//!
//! No line grows past `max_line_bytes`: a longer one is split and continues in a new line.
//!
//! Eviction is deferred to the start of the next [`Scrollback::push`]: the lines one push
//! produced stay readable until the next push, so a driver that looks after each chunk never
//! misses a line, however small the limits.

use std::borrow::Cow;
use std::collections::VecDeque;

use memchr::memchr;
use serde::{Deserialize, Serialize};

/// Which stream a line came from: the session's output, or the input sandmux sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// What was written to the session's stdin (the echo of typed and sent lines).
    Stdin,
}

impl Stream {
    /// The stream's name as used in transcripts, scripts and tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Stdin => "stdin",
        }
    }

    /// Whether the session wrote it (stdout, stderr), as opposed to input sent to it.
    pub fn is_output(self) -> bool {
        self != Stream::Stdin
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
            Stream::Stdin => 2,
        }
    }
}

/// How a line ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    /// More bytes of this stream go on this line.
    Open,
    /// The line ended with a newline (not stored in the line).
    Newline,
    /// The line reached the length cap and continues in the next line of its stream.
    Split,
    /// Something else (another stream, or input) came before its newline: the line is closed
    /// for display and its stream goes on in a new line (a continuation, see [`Line::head`]).
    Cut,
    /// The stream ended (the session exited) without a final newline.
    Eof,
}

/// One line, borrowed from its scrollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Position in the session's conversation, counted from 0 over every stream.
    pub seq: u64,
    /// The first piece of the logical line this line belongs to: `seq` itself, unless this
    /// line continues one that was [`LineEnd::Cut`].
    pub head: u64,
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

    /// Whether this line is the last piece of its logical line and that line is complete
    /// (it ended with a newline, the cap, or the end of the stream).
    pub fn completes(&self) -> bool {
        !matches!(self.end, LineEnd::Open | LineEnd::Cut)
    }

    /// Whether this line is one piece of a logical line that was cut.
    pub fn is_piece(&self) -> bool {
        self.head != self.seq || self.end == LineEnd::Cut
    }
}

/// A logical line put back together from its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub bytes: Vec<u8>,
    /// The sequence number of its last piece held.
    pub last: u64,
    /// Whether the logical line is complete (its last piece did not end with a cut or open).
    pub complete: bool,
}

/// Lines a [`Scrollback::joined`] looks through for the pieces of one logical line.
const MAX_JOIN_SCAN: usize = 4096;

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
    /// In the open buffer.
    Open,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    seq: u64,
    head: u64,
    stream: Stream,
    end: LineEnd,
    place: Place,
    len: usize,
}

/// The bounded, ordered lines of one session.
///
/// Storage costs no allocation per line: finished lines live in one byte arena, described
/// by small records in a ring; the one open line grows in a buffer of its own until it
/// ends. Evicted bytes are reclaimed by compacting the arena in place once they pass half
/// the live ones: the arena stays under 1.5x the live bytes and each byte is moved about
/// twice at most.
#[derive(Debug, Clone)]
pub struct Scrollback {
    metas: VecDeque<Meta>,
    arena: Vec<u8>,
    /// Bytes of live lines in the arena.
    arena_live: usize,
    open_buf: Vec<u8>,
    /// The open line (always the newest), by sequence number.
    open: Option<u64>,
    /// Per stream: the head of a logical line that was cut and goes on in its next line.
    chain: [Option<u64>; 3],
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
            open_buf: Vec::new(),
            open: None,
            chain: [None; 3],
            next_seq: 0,
            bytes: 0,
            limits,
            evicted: 0,
        }
    }

    pub fn limits(&self) -> ScrollbackLimits {
        self.limits
    }

    /// Appends a chunk of `stream`, first evicting what the limits no longer allow. An open
    /// line of another stream is cut first: what comes now comes after it.
    pub fn push(&mut self, stream: Stream, mut data: &[u8]) {
        self.trim();
        if data.is_empty() {
            return;
        }
        if let Some(index) = self.open_line_index()
            && self.metas[index].stream != stream
        {
            self.finish(index, &[], LineEnd::Cut);
        }
        let cap = self.limits.max_line_bytes;
        while !data.is_empty() {
            let newline = memchr(b'\n', data);
            let piece_len = newline.unwrap_or(data.len());
            let index = self.open_index(stream);
            let have = self.metas[index].len;
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
                    self.open_buf.extend_from_slice(data);
                    self.metas[index].len += data.len();
                    self.bytes += data.len();
                    data = &[];
                }
            }
        }
    }

    fn open_line_index(&self) -> Option<usize> {
        self.open.and_then(|seq| self.index_of(seq))
    }

    /// Ends the open line at `index` with `tail` as its last bytes, moving it to the arena.
    fn finish(&mut self, index: usize, tail: &[u8], end: LineEnd) {
        let meta = self.metas[index];
        let start = self.arena.len();
        self.arena.extend_from_slice(&self.open_buf);
        self.arena.extend_from_slice(tail);
        self.open_buf.clear();
        if self.open_buf.capacity() > 64 * 1024 {
            self.open_buf = Vec::new();
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
        self.open = None;
        self.chain[meta.stream.index()] = (end == LineEnd::Cut).then_some(meta.head);
    }

    /// Marks the open line as ended: the session's output is over.
    pub fn close_streams(&mut self) {
        if let Some(index) = self.open_line_index() {
            self.finish(index, &[], LineEnd::Eof);
        }
        self.open = None;
        self.chain = [None; 3];
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
                    self.open_buf.clear();
                    self.open = None;
                    self.chain[meta.stream.index()] = None;
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
        self.open_buf.clear();
        self.bytes = 0;
        self.open = None;
        self.chain = [None; 3];
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let first = self.first_seq();
        let index = seq.checked_sub(first)? as usize;
        (index < self.metas.len()).then_some(index)
    }

    fn line(&self, meta: &Meta) -> Line<'_> {
        let bytes = match meta.place {
            Place::Arena { start } => &self.arena[start..start + meta.len],
            Place::Open => &self.open_buf[..],
        };
        Line {
            seq: meta.seq,
            head: meta.head,
            stream: meta.stream,
            bytes,
            end: meta.end,
        }
    }

    /// The line with sequence number `seq`, if it is still held.
    pub fn get(&self, seq: u64) -> Option<Line<'_>> {
        self.index_of(seq).map(|i| self.line(&self.metas[i]))
    }

    /// The logical line whose first piece is `head`, its pieces put back together. `None`
    /// when `head` is no longer held, or its pieces are too far apart to look for.
    pub fn joined(&self, head: u64) -> Option<Joined> {
        let start = self.index_of(head)?;
        let first = self.metas[start];
        if first.head != head {
            return None;
        }
        let mut bytes = self.line(&first).bytes.to_vec();
        let mut last = first;
        for meta in self.metas.range(start + 1..).take(MAX_JOIN_SCAN) {
            if last.end != LineEnd::Cut {
                break;
            }
            if meta.head == head && meta.seq != head {
                bytes.extend_from_slice(self.line(meta).bytes);
                last = *meta;
            }
        }
        let complete = !matches!(last.end, LineEnd::Cut | LineEnd::Open);
        Some(Joined {
            bytes,
            last: last.seq,
            complete,
        })
    }

    /// The bytes of the logical line that `line` completes: its own bytes, or all of its
    /// pieces when other streams cut into it (empty when they are no longer all held).
    pub fn whole_line<'a>(&'a self, line: &Line<'a>) -> Cow<'a, [u8]> {
        if line.head == line.seq {
            return Cow::Borrowed(line.bytes);
        }
        match self.joined(line.head) {
            Some(joined) if joined.complete && joined.last == line.seq => Cow::Owned(joined.bytes),
            _ => Cow::Borrowed(&[]),
        }
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

    /// The newest line the session wrote (not input), if it is still held.
    pub fn last_output(&self) -> Option<Line<'_>> {
        self.iter().rev().find(|l| l.stream.is_output())
    }

    /// Index of the open line of `stream`, starting a new line when there is none. The open
    /// line of another stream has been cut already.
    fn open_index(&mut self, stream: Stream) -> usize {
        if let Some(index) = self.open_line_index() {
            return index;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let head = self.chain[stream.index()].unwrap_or(seq);
        self.metas.push_back(Meta {
            seq,
            head,
            stream,
            end: LineEnd::Open,
            place: Place::Open,
            len: 0,
        });
        self.open = Some(seq);
        self.metas.len() - 1
    }
}

#[cfg(test)]
#[path = "scrollback_tests.rs"]
mod tests;
