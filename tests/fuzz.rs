//! Property-based fuzzing of everything that reads untrusted input, on stable Rust with
//! proptest: the script parser, the config loader, line assembly and the scrollback, the
//! escape neutraliser and the stream-json reader. Each runs a bounded number of generated
//! cases (`PROPTEST_CASES`, 2000 by default here: a few seconds each); a failure proptest
//! finds is kept in `tests/fuzz.proptest-regressions` (commit it) and replayed first on
//! every later run.

use proptest::prelude::*;
use sandmux::engine::{LineEnd, Scrollback, ScrollbackLimits, Stream};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(2000),
        ..ProptestConfig::default()
    }
}

/// One of a fixed set of words.
fn words(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(words).prop_map(String::from)
}

/// Text made of the script language's own words, quotes, slashes, escapes and strays, so
/// generated scripts get deep into the parser rather than failing at the first word.
fn script_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => words(&[
            "session ",
            "send ",
            "write ",
            "expect ",
            "expect-json ",
            "turn ",
            "wait ",
            "kill ",
            "close ",
            "sleep ",
            "set timeout ",
            "within ",
            "exit ",
            "a ",
            "a: ",
            ": ",
            "stdout ",
            "protocol=stream-json ",
            "sandbox=b ",
            "memory=",
            "\"",
            "/",
            "\\",
            "\\x",
            "==",
            "~",
            "#",
            "\n",
            "\r\n",
            "10ms ",
            "(?<id>",
            "${id}",
            ")",
        ]),
        1 => "[ -~]{0,6}",
        1 => "\\PC{0,3}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// TOML-ish text with the config's own keys.
fn config_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        6 => words(&[
            "[[session]]\n",
            "[settings]\n",
            "name = \"a\"\n",
            "command = [\"cat\"]\n",
            "shell = ",
            "memory = ",
            "scrollback_bytes = ",
            "env = { A = ",
            "backend = \"microsandbox\"\n",
            "sandbox = ",
            "cpus = ",
            "\"",
            "[",
            "]",
            "{",
            "}",
            "=",
            "\n",
        ]),
        1 => "[ -~]{0,8}",
        1 => "-?[0-9]{1,20}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..30).prop_map(|t| t.concat())
}

/// One transcript record as JSON: data of any stream (any text, escapes included) or an
/// event, and now and then a line that is not a record.
fn record_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (words(&["stdin", "stdout", "stderr"]), "\\PC{0,12}|[\n\x1b{}\"a-z0-9]{0,12}")
            .prop_map(|(s, d)| serde_json::json!({"t": 1, "stream": s, "data": d}).to_string()),
        1 => words(&["started", "exited", "progress", "stdin_closed", "transcript_gap"])
            .prop_map(|e| serde_json::json!({"t": 2, "event": e, "pid": 3, "code": 0}).to_string()),
        1 => "[ -~]{0,10}",
    ]
}

/// A valid transcript record line (data of any stream, or an event).
fn valid_record_line() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => (words(&["stdin", "stdout", "stdout", "stderr"]), "[\na-z0-9{}]{0,8}")
            .prop_map(|(s, d)| serde_json::json!({"t": 1, "stream": s, "data": d}).to_string()),
        1 => words(&["started", "exited", "stdin_closed"])
            .prop_map(|e| serde_json::json!({"t": 2, "event": e, "code": 0}).to_string()),
    ]
}

/// Where an error points must be inside the text (or just past its end).
fn position_in(text: &str, line: usize, col: usize) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1
        && line <= lines.len() + 1
        && lines
            .get(line - 1)
            .is_none_or(|l| col >= 1 && col <= l.chars().count() + 2)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_script_parser_never_panics_and_points_inside_its_input(text in script_text()) {
        if let Err(err) = sandmux::script::parse_script(&text, &[]) {
            prop_assert!(position_in(&text, err.line, err.col), "{}:{}: {} in {:?}", err.line, err.col, err.message, text);
            prop_assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn a_recorded_expect_matches_the_line_it_was_made_from(
        line in prop_oneof![
            "[ -~]{0,40}",
            "\\PC{0,20}",
            prop::collection::vec(any::<u8>(), 0..30).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            (0u64..u64::MAX, "[a-z/ .:-]{0,8}").prop_map(|(n, t)| format!("at {n} in /tmp/x{t} 2026-12-01T10:00:{:02}Z 0x{n:x}", n % 60)),
        ],
    ) {
        let line = line.replace('\n', " ");
        let recorded = sandmux::record::generalize::pattern_for(line.as_bytes());
        let pattern = sandmux::script::parse_pattern(recorded.as_str())
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", recorded.as_str())))?;
        prop_assert!(
            pattern.find_end(line.as_bytes(), 0).is_some(),
            "{} does not match {line:?}", recorded.as_str()
        );
    }

    #[test]
    fn comparing_big_transcripts_as_streams_finds_what_comparing_them_whole_finds(
        a in prop::collection::vec(valid_record_line(), 0..300),
        cut in 0usize..300,
        extra in valid_record_line(),
        ahead in prop_oneof![Just(2usize), Just(100_000usize)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        let mut b = a.clone();
        // B: A with one record changed, dropped or added somewhere.
        match cut % 3 {
            0 if !b.is_empty() => { let at = cut % b.len(); b[at] = extra.clone(); }
            1 if !b.is_empty() => { b.remove(cut % b.len()); }
            _ => b.insert(cut.min(b.len()), extra.clone()),
        }
        std::fs::write(&pa, a.join("\n")).unwrap();
        std::fs::write(&pb, b.join("\n")).unwrap();
        use sandmux::history::{Transcript, diff::Comparison, turns::Ignore};
        if let (Ok(ta), Ok(tb)) = (Transcript::load(&pa), Transcript::load(&pb)) {
            let ignore = Ignore::from_args(&[], false).unwrap();
            let found = sandmux::history::compare::first_divergence_with(&ta, &tb, &ignore, ahead)
                .unwrap()
                .map(|f| (f.a_turn, f.kind.name(), f.b_turn, f.a.map(|i| i.text), f.b.map(|i| i.text)));
            prop_assert_eq!(found, reference_divergence(&ta, &tb, &ignore));
            prop_assert!(Comparison::new(&ta, &tb, &ignore).is_ok());
        }
    }

    #[test]
    fn comparing_any_transcripts_never_panics(
        a in prop::collection::vec(record_line(), 0..12),
        b in prop::collection::vec(record_line(), 0..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        std::fs::write(&pa, a.join("\n")).unwrap();
        std::fs::write(&pb, b.join("\n")).unwrap();
        use sandmux::history::{Transcript, diff::Comparison, turns::Ignore};
        if let (Ok(ta), Ok(tb)) = (Transcript::load(&pa), Transcript::load(&pb)) {
            let ignore = Ignore::from_args(&["/\\d+/".into(), "x".into()], false).unwrap();
            let Ok(c) = Comparison::new(&ta, &tb, &ignore) else {
                // A record that is not one, found as it was read: said, never a panic.
                return Ok(());
            };
            // The streamed comparison finds what comparing them whole finds.
            let whole = reference_divergence(&ta, &tb, &ignore);
            prop_assert_eq!(
                c.divergence.as_ref().map(|d| (d.turn, d.what, d.b_turn, d.a.clone(), d.b.clone())),
                whole
            );
            let text = c.text(false);
            prop_assert!(!text.contains('\x1b'), "{text}");
            let _ = c.json();
            prop_assert_eq!(c.divergence.is_none(), text.is_empty());
            if a == b {
                prop_assert!(c.divergence.is_none(), "{text}");
            }
        }
    }

    #[test]
    fn the_config_loader_never_panics_and_points_inside_its_input(text in config_text()) {
        if let Err(err) = sandmux::config::Config::parse(&text, std::path::Path::new("c.toml")) {
            prop_assert!(err.line == 0 || position_in(&text, err.line, err.col), "{err} in {text:?}");
        }
    }

    #[test]
    fn the_scrollback_keeps_every_byte_in_order_for_any_chunking(
        chunks in prop::collection::vec((0usize..3, prop::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..40)), 0..60),
        cap in 1usize..16,
    ) {
        let streams = [Stream::Stdout, Stream::Stderr, Stream::Stdin];
        let limits = ScrollbackLimits { max_lines: 1 << 20, max_bytes: 1 << 30, max_line_bytes: cap };
        let mut sb = Scrollback::new(limits);
        let mut sent: [Vec<u8>; 3] = Default::default();
        for (stream, bytes) in &chunks {
            sb.push(streams[*stream], bytes);
            sent[*stream].extend_from_slice(bytes);
            let open: Vec<u64> = sb.iter().filter(|l| l.is_open()).map(|l| l.seq).collect();
            prop_assert!(open.len() <= 1 && open.iter().all(|s| s + 1 == sb.end_seq()));
        }
        let mut got: [Vec<u8>; 3] = Default::default();
        for line in sb.iter() {
            prop_assert!(line.bytes.len() <= cap);
            let i = streams.iter().position(|s| *s == line.stream).unwrap();
            got[i].extend_from_slice(line.bytes);
            if line.end == LineEnd::Newline {
                got[i].push(b'\n');
            }
        }
        prop_assert_eq!(got, sent);
    }

    #[test]
    fn the_scrollback_holds_its_limits_for_any_output(
        chunks in prop::collection::vec((0usize..2, prop::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..100)), 0..80),
        max_lines in 1usize..20,
        max_bytes in 1usize..300,
        cap in 1usize..50,
    ) {
        let limits = ScrollbackLimits { max_lines, max_bytes, max_line_bytes: cap };
        let mut sb = Scrollback::new(limits);
        for (stream, bytes) in &chunks {
            sb.push([Stream::Stdout, Stream::Stderr][*stream], bytes);
        }
        sb.trim();
        prop_assert!(sb.len() <= max_lines);
        prop_assert!(sb.bytes() <= max_bytes);
        let total: usize = sb.iter().map(|l| l.bytes.len()).sum();
        prop_assert_eq!(total, sb.bytes());
    }

    #[test]
    fn no_control_byte_reaches_the_screen(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let styled = sandmux::tui::ansi::render(&bytes, ratatui::style::Style::default());
        for c in styled.text.chars() {
            let code = c as u32;
            prop_assert!(code >= 0x20 && code != 0x7f && !(0x80..=0x9f).contains(&code), "{c:?} from {bytes:?}");
            let bidi = ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c);
            prop_assert!(!bidi, "bidi override {:?} from {:?}", c, bytes);
        }
        let printable = sandmux::text::printable(&bytes);
        prop_assert!(!printable.chars().any(char::is_control), "{printable:?}");
    }

    #[test]
    fn stream_json_lines_of_any_shape_are_read_and_drawn_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        value in json_value(),
    ) {
        use sandmux::tui::views::render_line;
        use sandmux::engine::View;
        for line in [bytes.clone(), value.to_string().into_bytes()] {
            if let Some(v) = sandmux::protocol::stream_json::parse_line(&line) {
                let _ = sandmux::protocol::stream_json::turn_result(&v);
                let _ = sandmux::protocol::stream_json::user_text(&v);
            }
            for view in [View::Raw, View::Json, View::Chat] {
                for stream in [Stream::Stdout, Stream::Stdin] {
                    for styled in render_line(&line, view, stream, ratatui::style::Style::default()) {
                        prop_assert!(!styled.text.chars().any(|c| c.is_control()));
                    }
                }
            }
        }
    }
}

/// JSON values shaped like stream-json events, with strings full of controls and escapes.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let text = prop_oneof!["\\PC{0,12}", "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{1b}\\[\\]]{0,8}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|n| json!(n)),
        text.clone().prop_map(Value::String),
        prop_oneof![
            Just("system"),
            Just("assistant"),
            Just("user"),
            Just("result"),
            Just("stream_event"),
            Just("text"),
            Just("tool_use"),
            Just("tool_result"),
            Just("init")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        let key = prop_oneof![
            Just("type".to_string()),
            Just("subtype".to_string()),
            Just("message".to_string()),
            Just("content".to_string()),
            Just("text".to_string()),
            Just("input".to_string()),
            Just("duration_ms".to_string()),
            Just("total_cost_usd".to_string()),
            Just("is_error".to_string()),
            Just("tools".to_string()),
            "[a-z]{1,4}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The first divergence as found by comparing whole normalised transcripts: per sequence
/// the first index where they differ (or one ends), the earliest by turn.
type Found = (usize, &'static str, usize, Option<String>, Option<String>);

fn reference_divergence(
    a: &sandmux::history::Transcript,
    b: &sandmux::history::Transcript,
    ignore: &sandmux::history::turns::Ignore,
) -> Option<Found> {
    use sandmux::history::turns::{Item, normalise};
    let (Ok(na), Ok(nb)) = (normalise(a, ignore), normalise(b, ignore)) else {
        return None;
    };
    let as_items = |inputs: &[String]| -> Vec<Item> {
        inputs
            .iter()
            .enumerate()
            .map(|(i, t)| Item {
                turn: i + 1,
                order: 0,
                text: t.clone(),
            })
            .collect()
    };
    let mut found: Vec<Found> = Vec::new();
    for (what, x, y) in [
        ("input", as_items(&na.inputs), as_items(&nb.inputs)),
        ("stdout", na.stdout.clone(), nb.stdout.clone()),
        ("stderr", na.stderr.clone(), nb.stderr.clone()),
        ("event", na.events.clone(), nb.events.clone()),
    ] {
        let at = x
            .iter()
            .zip(&y)
            .position(|(p, q)| p.text != q.text)
            .or_else(|| (x.len() != y.len()).then(|| x.len().min(y.len())));
        let Some(at) = at else { continue };
        let turn_of = |items: &[Item], other: &[Item]| {
            items
                .get(at)
                .map(|i| i.turn)
                .or_else(|| {
                    items
                        .last()
                        .map(|i| i.turn.max(other.get(at).map_or(0, |o| o.turn)))
                })
                .unwrap_or_else(|| other.get(at).map_or(0, |o| o.turn))
        };
        found.push((
            turn_of(&x, &y),
            what,
            turn_of(&y, &x),
            x.get(at).map(|i| i.text.clone()),
            y.get(at).map(|i| i.text.clone()),
        ));
    }
    found.into_iter().min_by_key(|f| f.0.min(f.2))
}
