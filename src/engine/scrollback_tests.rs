//! Tests of the scrollback: line assembly, cuts, limits and compaction.

use super::*;

#[test]
fn compaction_keeps_every_live_line_intact() {
    // Interleaved streams: every stdout line is cut by stderr and goes on after it.
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
            Stream::Stdout if line.end == LineEnd::Cut => {
                assert!(text.starts_with("out "), "{text}");
                let joined = sb.joined(line.seq).unwrap();
                assert!(joined.complete && joined.bytes.ends_with(b" end"));
            }
            Stream::Stdout => assert_eq!(text, "end"),
            Stream::Stderr => assert!(text.starts_with("err "), "{text}"),
            Stream::Stdin => unreachable!(),
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
fn an_open_line_is_cut_when_another_stream_comes_after_it() {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(Stream::Stdout, b"progress: ");
    sb.push(Stream::Stderr, b"warning\n");
    sb.push(Stream::Stdout, b"done\n");
    assert_eq!(
        texts(&sb),
        vec![
            (Stream::Stdout, "progress: ".into(), LineEnd::Cut),
            (Stream::Stderr, "warning".into(), LineEnd::Newline),
            (Stream::Stdout, "done".into(), LineEnd::Newline),
        ]
    );
    let done = sb.get(2).unwrap();
    assert_eq!(
        done.head, 0,
        "the continuation remembers where its line began"
    );
    assert!(done.is_piece() && done.completes());
    let joined = sb.joined(0).unwrap();
    assert_eq!(joined.bytes, b"progress: done");
    assert_eq!((joined.last, joined.complete), (2, true));
}

#[test]
fn a_repl_conversation_reads_in_the_order_it_happened() {
    // python3 -i: prompts on stderr without a newline, input echoed, answers on stdout.
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(Stream::Stderr, b">>> ");
    sb.push(Stream::Stdin, b"6*7\n");
    sb.push(Stream::Stdout, b"42\n");
    sb.push(Stream::Stderr, b">>> ");
    sb.push(Stream::Stdin, b"print('q'*3)\n");
    sb.push(Stream::Stdout, b"qqq\n");
    sb.push(Stream::Stderr, b">>> ");
    let t: Vec<(Stream, String)> = texts(&sb).into_iter().map(|(s, t, _)| (s, t)).collect();
    assert_eq!(
        t,
        vec![
            (Stream::Stderr, ">>> ".into()),
            (Stream::Stdin, "6*7".into()),
            (Stream::Stdout, "42".into()),
            (Stream::Stderr, ">>> ".into()),
            (Stream::Stdin, "print('q'*3)".into()),
            (Stream::Stdout, "qqq".into()),
            (Stream::Stderr, ">>> ".into()),
        ]
    );
    assert_eq!(sb.at(0).unwrap().end, LineEnd::Cut);
    assert!(sb.at(6).unwrap().is_open());
    assert_eq!(sb.last_output().unwrap().seq, 6);
}

#[test]
fn at_most_one_line_is_open_and_it_is_the_newest() {
    let mut sb = Scrollback::new(limits(1000, 1 << 20, 7));
    let streams = [Stream::Stdout, Stream::Stderr, Stream::Stdin];
    let mut state = 12345u64;
    for _ in 0..3000 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let stream = streams[(state >> 33) as usize % 3];
        let len = (state >> 40) as usize % 9;
        let chunk: Vec<u8> = (0..len)
            .map(|i| {
                if (state >> (i * 3)).is_multiple_of(5) {
                    b'\n'
                } else {
                    b'a' + i as u8
                }
            })
            .collect();
        sb.push(stream, &chunk);
        let open: Vec<u64> = sb.iter().filter(|l| l.is_open()).map(|l| l.seq).collect();
        assert!(open.len() <= 1, "{open:?}");
        if let Some(seq) = open.first() {
            assert_eq!(*seq + 1, sb.end_seq(), "the open line is the newest");
        }
    }
}

#[test]
fn a_cut_json_line_is_joined_again() {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(Stream::Stdout, br#"{"type":"res"#);
    sb.push(Stream::Stderr, b"log line\n");
    sb.push(Stream::Stdin, b"typed meanwhile\n");
    sb.push(Stream::Stdout, br#"ult","#);
    assert!(!sb.joined(0).unwrap().complete, "still being written");
    sb.push(Stream::Stderr, b"x\n");
    sb.push(Stream::Stdout, b"\"is_error\":false}\n");
    let joined = sb.joined(0).unwrap();
    assert_eq!(joined.bytes, br#"{"type":"result","is_error":false}"#);
    assert!(joined.complete);
    assert_eq!(joined.last, sb.end_seq() - 1);
    assert!(sb.joined(3).is_none(), "only a head starts a logical line");
}

#[test]
fn input_is_kept_as_its_own_stream() {
    let mut sb = Scrollback::new(ScrollbackLimits::default());
    sb.push(Stream::Stdin, b"hello\n");
    sb.push(Stream::Stdout, b"ack:hello\n");
    assert_eq!(sb.at(0).unwrap().stream, Stream::Stdin);
    assert!(!Stream::Stdin.is_output());
    assert_eq!(sb.last_output().unwrap().bytes, b"ack:hello");
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
    let mut sb = Scrollback::new(limits(1, 1000, 100));
    sb.push(Stream::Stdout, b"partial");
    sb.push(Stream::Stdout, b"\n");
    sb.push(Stream::Stdout, b"next");
    sb.push(Stream::Stdout, b" more\n");
    let t = texts(&sb);
    assert_eq!(t.last().unwrap().1, "next more");
    let mut sb = Scrollback::new(limits(2, 1000, 100));
    sb.push(Stream::Stdout, b"partial");
    sb.push(Stream::Stderr, b"e1\ne2\n");
    sb.push(Stream::Stdout, b" more\n");
    sb.trim();
    let last = sb.iter().last().unwrap();
    assert_eq!(last.bytes, b" more");
    assert!(sb.joined(last.head).is_none(), "its head was evicted");
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
