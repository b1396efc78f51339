//! Two transcripts compared as streams: each is read record by record ([`super::reader`]),
//! normalised into its items ([`super::turns::Normaliser`]), and the four sequences
//! (inputs, stdout, stderr, events) are matched item against item as they come. Memory
//! holds only the items one side has read ahead of the other, so two transcripts of a
//! gigabyte compare in a few megabytes.
//!
//! In one pass all four sequences are matched together. Should one side run far ahead in
//! one sequence (more than [`MAX_AHEAD`] items), that pass stops and each sequence still
//! open is matched in a pass of its own, in which the other sequences are not kept.

use std::collections::VecDeque;

use super::Transcript;
use super::reader::Records;
use super::turns::{Ignore, Item, Kind, Normaliser};

/// Items one side may read ahead of the other in the single pass.
pub const MAX_AHEAD: usize = 100_000;

/// Where two transcripts first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    /// The first differing item on each side (`None`: that side has no more).
    pub a: Option<Item>,
    pub b: Option<Item>,
    /// The turn each side was at when the shorter one ended.
    pub a_turn: usize,
    pub b_turn: usize,
}

/// One transcript being read.
struct Side {
    records: Records,
    norm: Normaliser,
    done: bool,
    queues: [VecDeque<Item>; 4],
    /// Per kind: the turn of the last item taken, and of the last item read.
    last_turn: [usize; 4],
    read: Vec<(Kind, Item)>,
}

impl Side {
    fn open(t: &Transcript, ignore: &Ignore) -> Result<Side, String> {
        Ok(Side {
            records: t.records()?,
            norm: Normaliser::new(t, ignore),
            done: false,
            queues: Default::default(),
            last_turn: [0; 4],
            read: Vec::new(),
        })
    }

    fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Reads one record (or the end), queueing the items of the kinds `keep` says.
    fn step(&mut self, keep: &[bool; 4]) -> Result<(), String> {
        match self.records.next() {
            Some(record) => self.norm.record(&record?, &mut self.read),
            None => {
                self.norm.finish(&mut self.read);
                self.done = true;
            }
        }
        for (kind, item) in self.read.drain(..) {
            let k = kind.index();
            if keep[k] {
                self.queues[k].push_back(item);
            }
        }
        Ok(())
    }
}

/// The first difference of `a` from `b` in each of `kinds` (in one pass), or `None` from
/// this pass when a side ran too far ahead.
fn pass(
    a: &Transcript,
    b: &Transcript,
    ignore: &Ignore,
    kinds: &[Kind],
    found: &mut [Option<Option<Found>>; 4],
    max_ahead: usize,
) -> Result<bool, String> {
    let mut sides = [Side::open(a, ignore)?, Side::open(b, ignore)?];
    let mut keep = [false; 4];
    for kind in kinds {
        keep[kind.index()] = found[kind.index()].is_none();
    }
    loop {
        for k in 0..4 {
            if !keep[k] {
                continue;
            }
            let [x, y] = &mut sides;
            while let (Some(i), Some(j)) = (x.queues[k].front(), y.queues[k].front()) {
                if i.text != j.text {
                    found[k] = Some(Some(Found {
                        kind: Kind::ALL[k],
                        a: Some(i.clone()),
                        b: Some(j.clone()),
                        a_turn: i.turn,
                        b_turn: j.turn,
                    }));
                    break;
                }
                x.last_turn[k] = i.turn;
                y.last_turn[k] = j.turn;
                x.queues[k].pop_front();
                y.queues[k].pop_front();
            }
            if found[k].is_none() {
                let ended = |s: &Side| s.done && s.queues[k].is_empty();
                found[k] = match (ended(x), ended(y)) {
                    (true, true) => Some(None),
                    // One side has no more: the other's next item, once it has one, differs.
                    (true, false) if !y.queues[k].is_empty() => {
                        let j = y.queues[k].front().cloned();
                        let turn = j.as_ref().map_or(0, |j| j.turn);
                        Some(Some(Found {
                            kind: Kind::ALL[k],
                            a: None,
                            b: j,
                            a_turn: x.last_turn[k].max(turn),
                            b_turn: turn,
                        }))
                    }
                    (false, true) if !x.queues[k].is_empty() => {
                        let i = x.queues[k].front().cloned();
                        let turn = i.as_ref().map_or(0, |i| i.turn);
                        Some(Some(Found {
                            kind: Kind::ALL[k],
                            a: i,
                            b: None,
                            a_turn: turn,
                            b_turn: y.last_turn[k].max(turn),
                        }))
                    }
                    _ => None,
                };
            }
            if found[k].is_some() {
                keep[k] = false;
                x.queues[k].clear();
                y.queues[k].clear();
            }
        }
        if !keep.iter().any(|k| *k) {
            return Ok(true);
        }
        if kinds.len() > 1 && sides.iter().any(|s| s.queued() > max_ahead) {
            return Ok(false);
        }
        // Read on the side that is behind (the other when it has ended).
        let next = match (sides[0].done, sides[1].done) {
            (false, true) => 0,
            (true, false) => 1,
            (true, true) => continue,
            (false, false) => usize::from(sides[1].queued() < sides[0].queued()),
        };
        sides[next].step(&keep)?;
    }
}

/// The first divergence of `a` from `b`: the earliest, by turn, of the first difference of
/// each of the four sequences; `None` when they compare equal.
pub fn first_divergence(
    a: &Transcript,
    b: &Transcript,
    ignore: &Ignore,
) -> Result<Option<Found>, String> {
    first_divergence_with(a, b, ignore, MAX_AHEAD)
}

/// [`first_divergence`] with another bound on the single pass (the tests make it small, to
/// take the passes of one sequence each).
pub fn first_divergence_with(
    a: &Transcript,
    b: &Transcript,
    ignore: &Ignore,
    max_ahead: usize,
) -> Result<Option<Found>, String> {
    let mut found: [Option<Option<Found>>; 4] = Default::default();
    if !pass(a, b, ignore, &Kind::ALL, &mut found, max_ahead)? {
        for kind in Kind::ALL {
            if found[kind.index()].is_none() {
                pass(a, b, ignore, &[kind], &mut found, max_ahead)?;
            }
        }
    }
    Ok(found
        .into_iter()
        .flatten()
        .flatten()
        .min_by_key(|f| f.a_turn.min(f.b_turn)))
}

/// What one turn of a transcript had: its input and (up to `limit`) its output items in
/// the order they came, and how many more there were.
#[derive(Debug, Clone, Default)]
pub struct TurnView {
    pub input: Option<String>,
    pub output: Vec<(&'static str, String)>,
    pub more: usize,
}

/// The items of turn `turn` of `t`, read in one more pass.
pub fn turn_view(
    t: &Transcript,
    ignore: &Ignore,
    turn: usize,
    limit: usize,
) -> Result<TurnView, String> {
    let mut view = TurnView::default();
    let mut norm = Normaliser::new(t, ignore);
    let mut items = Vec::new();
    let mut records = t.records()?;
    loop {
        let record = records.next();
        match &record {
            Some(record) => norm.record(record.as_ref().map_err(Clone::clone)?, &mut items),
            None => norm.finish(&mut items),
        }
        for (kind, item) in items.drain(..) {
            if item.turn != turn {
                continue;
            }
            match kind {
                Kind::Input => view.input = Some(item.text),
                _ if view.output.len() < limit => view.output.push((kind.name(), item.text)),
                _ => view.more += 1,
            }
        }
        if record.is_none() {
            return Ok(view);
        }
    }
}
