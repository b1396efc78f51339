//! `sandmux diff A.jsonl B.jsonl` and `sandmux run --golden`: two transcripts of the same
//! script compared turn by turn (see [`super::turns`]), and the first divergence shown with
//! its turn, its input and both outputs.

use std::fmt::Write as _;

use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

use super::Transcript;
use super::compare::{TurnView, turn_view};
use super::turns::Ignore;
use crate::text::printable;

/// Where two transcripts first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The turn (0: before the first input) where A and B part, by A's count.
    pub turn: usize,
    /// What differs first: `input`, `stdout`, `stderr` or `event`.
    pub what: &'static str,
    /// The first differing item on each side (`None`: that side has no more).
    pub a: Option<String>,
    pub b: Option<String>,
    /// The turn the differing item has in B.
    pub b_turn: usize,
    /// When both items are JSON: the first JSON pointer where they differ, and its value
    /// on each side (`None`: absent there).
    pub pointer: Option<(String, Option<Value>, Option<Value>)>,
}

/// The first divergence of `a` from `b`, if any, read as streams (see [`super::compare`]).
pub fn compare(
    a: &Transcript,
    b: &Transcript,
    ignore: &Ignore,
) -> Result<Option<Divergence>, String> {
    let Some(found) = super::compare::first_divergence(a, b, ignore)? else {
        return Ok(None);
    };
    let mut d = Divergence {
        turn: found.a_turn,
        what: found.kind.name(),
        a: found.a.map(|i| i.text),
        b: found.b.map(|i| i.text),
        b_turn: found.b_turn,
        pointer: None,
    };
    d.pointer = json_pair(&d.a, &d.b).and_then(|(a, b)| first_json_difference(&a, &b));
    Ok(Some(d))
}

/// Both items as JSON, when both are.
fn json_pair(a: &Option<String>, b: &Option<String>) -> Option<(Value, Value)> {
    let parse = |t: &Option<String>| {
        let text = t.as_deref()?;
        (text.starts_with('{') || text.starts_with('['))
            .then(|| serde_json::from_str::<Value>(text).ok())
            .flatten()
    };
    Some((parse(a)?, parse(b)?))
}

/// The first JSON pointer (in document order of `a`, then `b`'s extra keys) where `a` and
/// `b` differ, with both values there.
pub fn first_json_difference(
    a: &Value,
    b: &Value,
) -> Option<(String, Option<Value>, Option<Value>)> {
    fn walk(
        a: Option<&Value>,
        b: Option<&Value>,
        path: &mut String,
    ) -> Option<(String, Option<Value>, Option<Value>)> {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
                for key in keys {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    if let Some(found) = walk(x.get(key), y.get(key), path) {
                        return Some(found);
                    }
                    path.truncate(len);
                }
                None
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) => {
                for i in 0..x.len().max(y.len()) {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    if let Some(found) = walk(x.get(i), y.get(i), path) {
                        return Some(found);
                    }
                    path.truncate(len);
                }
                None
            }
            (x, y) if x == y => None,
            (x, y) => Some((path.clone(), x.cloned(), y.cloned())),
        }
    }
    let mut path = String::new();
    walk(Some(a), Some(b), &mut path)
}

/// A JSON value for a message: compact, cut to a readable length.
fn short_json(value: &Option<Value>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some(v) => shorten(&printable(v.to_string().as_bytes()), 200),
    }
}

/// `text` cut to `limit` characters, saying how much more there was.
fn shorten(text: &str, limit: usize) -> String {
    let count = text.chars().count();
    if count <= limit {
        return text.to_string();
    }
    let head: String = text.chars().take(limit).collect();
    format!("{head}… (+{} chars)", count - limit)
}

/// Two transcripts compared.
pub struct Comparison<'a> {
    pub a: &'a Transcript,
    pub b: &'a Transcript,
    va: TurnView,
    vb: TurnView,
    pub divergence: Option<Divergence>,
}

/// Output lines of a turn shown with a divergence, per side, at most.
const SHOWN_LINES: usize = 200;

impl<'a> Comparison<'a> {
    /// Compares `a` with `b`; an error is one sentence naming the file and line that could
    /// not be read.
    pub fn new(a: &'a Transcript, b: &'a Transcript, ignore: &Ignore) -> Result<Self, String> {
        let divergence = compare(a, b, ignore)?;
        let (va, vb) = match &divergence {
            Some(d) => (
                turn_view(a, ignore, d.turn, SHOWN_LINES)?,
                turn_view(b, ignore, d.b_turn, SHOWN_LINES)?,
            ),
            None => (TurnView::default(), TurnView::default()),
        };
        Ok(Comparison {
            a,
            b,
            va,
            vb,
            divergence,
        })
    }

    /// The divergence as text: the turn, its input, and a line diff of both outputs of that
    /// turn; coloured with ANSI when `colour`. Session output is shown neutralised.
    pub fn text(&self, colour: bool) -> String {
        let Some(d) = &self.divergence else {
            return String::new();
        };
        let (red, green, bold, reset) = if colour {
            ("\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "", "")
        };
        let mut out = String::new();
        // File names are the user's, but may hold anything: never raw to the terminal.
        let (pa, pb) = (
            printable(self.a.label.as_bytes()),
            printable(self.b.label.as_bytes()),
        );
        let _ = writeln!(
            out,
            "{bold}{pa} and {pb} differ at turn {} ({} differs){reset}",
            d.turn, d.what
        );
        let input = |v: &TurnView, turn: usize| match (turn, &v.input) {
            (0, _) => "(before the first input)".to_string(),
            (_, Some(i)) => format!("{:?}", printable(input_text(i).as_bytes())),
            (_, None) => "(none)".to_string(),
        };
        let _ = writeln!(out, "input: {}", input(&self.va, d.turn));
        if d.what == "input" || d.b_turn != d.turn {
            let _ = writeln!(out, "input in {pb}: {}", input(&self.vb, d.b_turn));
        }
        let side = |v: &Option<String>| {
            v.as_deref()
                .map_or("(nothing more)".to_string(), |t| printable(t.as_bytes()))
        };
        match &d.pointer {
            Some((pointer, a, b)) => {
                let pointer = if pointer.is_empty() { "/" } else { pointer };
                let _ = writeln!(out, "first difference ({}) at {pointer}:", d.what);
                let _ = writeln!(out, "{red}- {}{reset}", short_json(a));
                let _ = writeln!(out, "{green}+ {}{reset}", short_json(b));
            }
            None => {
                let _ = writeln!(out, "first difference ({}):", d.what);
                let _ = writeln!(out, "{red}- {}{reset}", side(&d.a));
                let _ = writeln!(out, "{green}+ {}{reset}", side(&d.b));
            }
        }
        // The turn's lines, each cut to a readable length (an agent's lines run to KBs).
        let lines = |v: &TurnView| {
            let mut text: String = v
                .output
                .iter()
                .map(|(s, t)| format!("{s}| {}\n", shorten(&printable(t.as_bytes()), 240)))
                .collect();
            if v.more > 0 {
                text.push_str(&format!("… {} more lines\n", v.more));
            }
            text
        };
        let (ta, tb) = (lines(&self.va), lines(&self.vb));
        let _ = writeln!(out, "--- {pa} turn {}", d.turn);
        let _ = writeln!(out, "+++ {pb} turn {}", d.b_turn);
        for change in TextDiff::from_lines(&ta, &tb).iter_all_changes() {
            let line = change.value().trim_end_matches('\n');
            match change.tag() {
                ChangeTag::Equal => {
                    let _ = writeln!(out, "  {line}");
                }
                ChangeTag::Delete => {
                    let _ = writeln!(out, "{red}- {line}{reset}");
                }
                ChangeTag::Insert => {
                    let _ = writeln!(out, "{green}+ {line}{reset}");
                }
            }
        }
        out
    }

    /// The comparison as JSON (`--json`).
    pub fn json(&self) -> serde_json::Value {
        let Some(d) = &self.divergence else {
            return json!({"same": true, "a": self.a.label, "b": self.b.label});
        };
        let output = |v: &TurnView| {
            v.output
                .iter()
                .map(|(s, t)| json!({"stream": s, "text": t}))
                .collect::<Vec<_>>()
        };
        let input = |v: &TurnView, turn: usize| (turn > 0).then(|| v.input.clone()).flatten();
        let pointer = d
            .pointer
            .as_ref()
            .map(|(p, a, b)| json!({"pointer": p, "a": a, "b": b}));
        json!({
            "same": false,
            "session": self.a.name,
            "turn": d.turn,
            "what": d.what,
            "json": pointer,
            "a": {"path": self.a.label, "turn": d.turn, "input": input(&self.va, d.turn), "item": d.a, "output": output(&self.va)},
            "b": {"path": self.b.label, "turn": d.b_turn, "input": input(&self.vb, d.b_turn), "item": d.b, "output": output(&self.vb)},
        })
    }
}

/// The text of a stream-json user message (what was typed), or the input as it is.
fn input_text(input: &str) -> String {
    serde_json::from_str::<serde_json::Value>(input)
        .ok()
        .and_then(|v| {
            v.pointer("/message/content")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| input.to_string())
}

/// `sandmux diff`: exit 0 when the same, 1 when they differ, 2 for bad input. Two directories
/// compare their transcripts of the same name (one missing on a side is a difference).
pub fn run(args: &crate::cli::DiffArgs) -> i32 {
    let ignore = match Ignore::from_args(&args.ignore, args.strict) {
        Ok(ignore) => ignore,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    if args.explain {
        crate::out!("{}", ignore.explain().trim_end());
    }
    let pairs = match pairs(&args.a, &args.b) {
        Ok(pairs) => pairs,
        Err(err) => {
            crate::say!("sandmux: {err}");
            return 2;
        }
    };
    let colour = colour_on(&std::io::stdout());
    let mut differ = false;
    for (a, b) in &pairs {
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (a, b) => {
                differ = true;
                let (have, missing) = match (a, b) {
                    (Some(a), _) => (a, args.b.display()),
                    (_, Some(b)) => (b, args.a.display()),
                    _ => continue,
                };
                let message = printable(
                    format!(
                        "{} has no {}.jsonl (session `{}`)",
                        missing, have.name, have.name
                    )
                    .as_bytes(),
                );
                if args.json {
                    crate::out!(
                        "{}",
                        json!({"same": false, "session": have.name, "missing": message})
                    );
                } else {
                    crate::out!("{message}");
                }
                continue;
            }
        };
        let comparison = match Comparison::new(a, b, &ignore) {
            Ok(comparison) => comparison,
            Err(err) => {
                crate::say!("sandmux: {err}");
                return 2;
            }
        };
        differ |= comparison.divergence.is_some();
        if args.json {
            crate::out!("{}", comparison.json());
        } else if comparison.divergence.is_some() {
            crate::out!("{}", comparison.text(colour).trim_end());
        }
    }
    i32::from(differ)
}

/// Whether a divergence printed on `stream` is coloured: on a terminal, unless NO_COLOR.
pub fn colour_on(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The transcripts to compare: two files, or the files of the same name in two directories.
type Pair = (Option<Transcript>, Option<Transcript>);

fn pairs(a: &std::path::Path, b: &std::path::Path) -> Result<Vec<Pair>, String> {
    match (a.is_dir(), b.is_dir()) {
        (false, false) => Ok(vec![(
            Some(Transcript::load(a)?),
            Some(Transcript::load(b)?),
        )]),
        (true, true) => {
            let mut left = Transcript::load_all(&[a.to_path_buf()])?;
            let mut right = Transcript::load_all(&[b.to_path_buf()])?;
            let mut out = Vec::new();
            for t in left.drain(..) {
                let other = right
                    .iter()
                    .position(|r| r.name == t.name)
                    .map(|i| right.remove(i));
                out.push((Some(t), other));
            }
            out.extend(right.into_iter().map(|r| (None, Some(r))));
            Ok(out)
        }
        _ => Err(format!(
            "{} and {}: give two transcripts or two directories of them",
            a.display(),
            b.display()
        )),
    }
}
