//! What `expect`, `expect-json` and the control socket's `wait` look for in a session's lines:
//! a literal or a regex ([`Pattern`]), or a JSON value at a pointer ([`JsonOp`]).

use regex::bytes::Regex;

/// What `expect` looks for.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A literal byte string (`"text"`).
    Literal(Vec<u8>),
    /// A regular expression (`/regex/`), matched against the bytes of each line.
    Regex(Regex),
}

impl Pattern {
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
        }
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pattern::Literal(a), Pattern::Literal(b)) => a == b,
            (Pattern::Regex(a), Pattern::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
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
