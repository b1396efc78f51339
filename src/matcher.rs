//! What `expect`, `expect-json` and the control socket's `wait` look for in a session's lines:
//! a literal or a regex ([`Pattern`]), or a JSON value at a pointer ([`JsonOp`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use regex::bytes::Regex;

/// What `expect` looks for.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A literal byte string (`"text"`).
    Literal(Vec<u8>),
    /// A regular expression (`/regex/`), matched against the bytes of each line. Shared, so
    /// that every step expecting the same regex uses one compiled regex and its one pool of
    /// match caches (a cloned `Regex` starts an empty pool, and filling one costs more than
    /// a turn).
    Regex(Arc<Regex>),
    /// A regex that is a literal, perhaps anchored (`/^ack:t5$/`): it matches exactly what
    /// the regex would, searched as a literal, so it costs nothing to build.
    LiteralRegex(LiteralRegex),
}

/// A `/regex/` made only of literal characters, with `^` and `$` where it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralRegex {
    /// The regex as written.
    pub source: String,
    literal: Vec<u8>,
    /// `^`: only at the start of the line; `$`: only at its end.
    start: bool,
    end: bool,
}

impl LiteralRegex {
    /// The literal form of `source`, if it is one: every character literal or an escaped
    /// ASCII punctuation mark, an optional `^` first and `$` last, and not empty.
    pub fn of(source: &str) -> Option<LiteralRegex> {
        let mut body = source;
        let start = body.starts_with('^');
        if start {
            body = &body[1..];
        }
        let end = body.ends_with('$') && !escaped_at_end(body);
        if end {
            body = &body[..body.len() - 1];
        }
        let mut literal = Vec::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e) if e.is_ascii_punctuation() => literal.push(e as u8),
                    _ => return None,
                },
                '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                    return None;
                }
                c => {
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        (!literal.is_empty()).then(|| LiteralRegex {
            source: source.to_string(),
            literal,
            start,
            end,
        })
    }

    fn find_end(&self, haystack: &[u8], start: usize) -> Option<usize> {
        let n = self.literal.len();
        match (self.start, self.end) {
            (true, true) => (start == 0 && haystack == self.literal.as_slice()).then_some(n),
            (true, false) => (start == 0 && haystack.starts_with(&self.literal)).then_some(n),
            (false, true) => (haystack.ends_with(&self.literal) && haystack.len() - n >= start)
                .then_some(haystack.len()),
            (false, false) => {
                memchr::memmem::find(&haystack[start..], &self.literal).map(|at| start + at + n)
            }
        }
    }
}

/// Whether the `$` that ends `text` is escaped (an odd number of backslashes before it).
fn escaped_at_end(text: &str) -> bool {
    let before = &text.as_bytes()[..text.len() - 1];
    before.iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
}

/// Regexes compiled so far on this thread, by source: a script that expects the same regex
/// every turn compiles it once.
const CACHE_LIMIT: usize = 1024;
thread_local! {
    static COMPILED: RefCell<HashMap<String, Arc<Regex>>> = RefCell::new(HashMap::new());
}

impl Pattern {
    /// A `/regex/`: a literal one (see [`LiteralRegex`]) is searched as a literal; any other
    /// is compiled, once per source on this thread. Errors are the regex crate's.
    pub fn regex(source: &str) -> Result<Pattern, regex::Error> {
        if let Some(literal) = LiteralRegex::of(source) {
            return Ok(Pattern::LiteralRegex(literal));
        }
        if let Some(regex) = COMPILED.with(|c| c.borrow().get(source).cloned()) {
            return Ok(Pattern::Regex(regex));
        }
        let regex = Arc::new(Regex::new(source)?);
        COMPILED.with(|c| {
            let mut cache = c.borrow_mut();
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(source.to_string(), regex.clone());
        });
        Ok(Pattern::Regex(regex))
    }

    /// The names of the regex's named groups (what an `expect` with it binds), from the one
    /// compiled regex: a literal regex has none and costs no compile.
    pub fn capture_names(&self) -> Vec<String> {
        match self {
            Pattern::Regex(regex) => regex
                .capture_names()
                .flatten()
                .map(str::to_string)
                .collect(),
            Pattern::Literal(_) | Pattern::LiteralRegex(_) => Vec::new(),
        }
    }

    /// The regex as written, for a regex pattern.
    pub fn regex_source(&self) -> Option<&str> {
        match self {
            Pattern::Literal(_) => None,
            Pattern::Regex(regex) => Some(regex.as_str()),
            Pattern::LiteralRegex(literal) => Some(&literal.source),
        }
    }

    /// Finds the pattern in `haystack` at or after `start`; returns the end of the match.
    pub fn find_end(&self, haystack: &[u8], start: usize) -> Option<usize> {
        if start > haystack.len() {
            return None;
        }
        match self {
            Pattern::Literal(needle) => {
                memchr::memmem::find(&haystack[start..], needle).map(|at| start + at + needle.len())
            }
            Pattern::Regex(regex) => regex.find_at(haystack, start).map(|m| m.end()),
            Pattern::LiteralRegex(literal) => literal.find_end(haystack, start),
        }
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pattern::Literal(a), Pattern::Literal(b)) => a == b,
            (a, b) => a.regex_source().is_some() && a.regex_source() == b.regex_source(),
        }
    }
}

/// How `expect-json` compares the value at its pointer.
#[derive(Debug, Clone)]
pub enum JsonOp {
    /// JSON equality.
    Eq(serde_json::Value),
    /// A regex on the string value.
    Matches(regex::Regex),
    /// The pointer resolves to anything.
    Exists,
}

impl JsonOp {
    /// Whether `value` (the JSON line) matches at `pointer`.
    pub fn test(&self, value: &serde_json::Value, pointer: &str) -> bool {
        let Some(found) = value.pointer(pointer) else {
            return false;
        };
        match self {
            JsonOp::Eq(expected) => found == expected,
            JsonOp::Matches(regex) => found.as_str().is_some_and(|s| regex.is_match(s)),
            JsonOp::Exists => true,
        }
    }
}

impl PartialEq for JsonOp {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JsonOp::Eq(a), JsonOp::Eq(b)) => a == b,
            (JsonOp::Matches(a), JsonOp::Matches(b)) => a.as_str() == b.as_str(),
            (JsonOp::Exists, JsonOp::Exists) => true,
            _ => false,
        }
    }
}

impl JsonOp {
    /// A predicate from its parts: `==` with a JSON value, `~` with a regex source, or
    /// `exists`.
    pub fn from_parts(op: &str, value: Option<serde_json::Value>) -> Result<JsonOp, String> {
        match (op, value) {
            ("exists", _) => Ok(JsonOp::Exists),
            ("==", Some(value)) => Ok(JsonOp::Eq(value)),
            ("~", Some(serde_json::Value::String(source))) => regex::Regex::new(&source)
                .map(JsonOp::Matches)
                .map_err(|e| format!("invalid regex /{source}/: {}", crate::text::regex_error(&e))),
            ("==" | "~", _) => Err(format!("`{op}` needs a value")),
            (other, _) => Err(format!("unknown operator `{other}` (use ==, ~ or exists)")),
        }
    }

    /// The operator and value, as [`JsonOp::from_parts`] takes them.
    pub fn parts(&self) -> (&'static str, Option<serde_json::Value>) {
        match self {
            JsonOp::Eq(value) => ("==", Some(value.clone())),
            JsonOp::Matches(regex) => ("~", Some(regex.as_str().into())),
            JsonOp::Exists => ("exists", None),
        }
    }

    /// How it reads in messages: `== "result"`, `~ /x/`, `existing`.
    pub fn describe(&self) -> String {
        match self {
            JsonOp::Eq(value) => format!("== {value}"),
            JsonOp::Matches(regex) => format!("~ /{}/", regex.as_str()),
            JsonOp::Exists => "existing".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_regexes_are_recognised_and_the_rest_compiled() {
        for (source, literal) in [
            ("^ack:t5$", true),
            ("ack", true),
            ("^a\\.b$", true),
            ("a\\$", true),
            ("héllo wörld$", true),
            ("a.b", false),
            ("^ack:t\\d+$", false),
            ("(?i)ack", false),
            ("a|b", false),
            ("a\\\\$", true),
            ("", false),
            ("^$", false),
            ("a^b", false),
        ] {
            let pattern = Pattern::regex(source).unwrap();
            assert_eq!(
                matches!(pattern, Pattern::LiteralRegex(_)),
                literal,
                "{source}"
            );
            assert_eq!(pattern.regex_source(), Some(source));
        }
        assert!(Pattern::regex("a(").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// A literal regex matches exactly where the compiled regex does.
        #[test]
        fn a_literal_regex_matches_as_the_regex_would(
            body in "[ab\\.$^é]{0,4}",
            start in proptest::bool::ANY,
            end in proptest::bool::ANY,
            haystack in proptest::collection::vec(proptest::sample::select(b"ab.$^\xc3\xa9\xff".to_vec()), 0..8),
            from in 0usize..9,
        ) {
            let from = from % (haystack.len() + 2);
            let escaped = regex::escape(&body);
            let source = format!("{}{escaped}{}", if start { "^" } else { "" }, if end { "$" } else { "" });
            let fast = Pattern::regex(&source).unwrap();
            let slow = Pattern::Regex(Regex::new(&source).unwrap().into());
            proptest::prop_assert_eq!(fast.find_end(&haystack, from), slow.find_end(&haystack, from), "{} on {:?} from {}", source, haystack, from);
        }
    }
}
