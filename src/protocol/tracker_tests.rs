use super::*;

fn out(t: &mut Tracker, seq: u64, line: &str) -> Vec<Noticed> {
    t.observe_output(seq, line.as_bytes())
}

const INIT: &str = r#"{"type":"system","subtype":"init","session_id":"s1","model":"m1","cwd":"/w","tools":["Bash","Read"],"permissionMode":"default","mcp_servers":[]}"#;

#[test]
fn a_repeated_init_is_folded_and_a_changed_one_says_what_changed() {
    let mut t = Tracker::default();
    out(&mut t, 0, INIT);
    assert_eq!(t.note(0), None, "the first init shows whole");
    out(&mut t, 5, INIT);
    assert_eq!(t.note(5), Some(&Note::InitRepeated));
    let changed = INIT
        .replace("\"m1\"", "\"m2\"")
        .replace("\"Read\"", "\"Write\"");
    out(&mut t, 9, &changed);
    assert_eq!(
        t.note(9),
        Some(&Note::InitChanged(vec![
            "model m1 → m2".into(),
            "tools +Write −Read".into()
        ]))
    );
    // Another session (a restart) shows whole again.
    out(&mut t, 12, &INIT.replace("\"s1\"", "\"s2\""));
    assert_eq!(t.note(12), None);
}

#[test]
fn the_cost_of_a_turn_is_the_growth_of_the_running_total() {
    let mut t = Tracker::default();
    let result = |total: f64| {
        format!(
            r#"{{"type":"result","subtype":"success","is_error":false,"total_cost_usd":{total}}}"#
        )
    };
    let mut costs = Vec::new();
    for (seq, total) in [(1, 0.0005), (2, 0.0012), (3, 0.0020)] {
        for n in out(&mut t, seq, &result(total)) {
            if let Noticed::TurnEnded { summary, .. } = n {
                costs.push((summary.cost_usd.unwrap(), summary.total_cost_usd.unwrap()));
            }
        }
    }
    let turn: Vec<f64> = costs.iter().map(|c| (c.0 * 1e6).round() / 1e6).collect();
    assert_eq!(turn, vec![0.0005, 0.0007, 0.0008]);
    assert_eq!(costs[2].1, 0.0020);
    // A new process starts its own total.
    t.restarted();
    let n = out(&mut t, 9, &result(0.0003));
    assert!(
        matches!(&n[0], Noticed::TurnEnded { summary, .. } if summary.cost_usd == Some(0.0003))
    );
}

#[test]
fn partial_messages_build_one_text_that_the_whole_message_replaces() {
    let mut t = Tracker::default();
    let delta = |text: &str| {
        format!(
            r#"{{"type":"stream_event","event":{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}}}"#
        )
    };
    out(
        &mut t,
        0,
        r#"{"type":"stream_event","event":{"type":"message_start"}}"#,
    );
    out(
        &mut t,
        1,
        r#"{"type":"stream_event","event":{"type":"content_block_start","index":0}}"#,
    );
    out(&mut t, 2, &delta("The quic"));
    out(&mut t, 3, &delta("k brown"));
    assert_eq!(t.note(0), Some(&Note::Hidden));
    assert_eq!(t.note(2), Some(&Note::Hidden));
    assert_eq!(t.note(3), Some(&Note::Streaming));
    assert_eq!(t.streaming_text(), Some("The quick brown"));
    out(
        &mut t,
        4,
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"The quick brown"}]}}"#,
    );
    assert_eq!(t.note(3), Some(&Note::Hidden), "no duplicate of the text");
    assert_eq!(t.note(4), None);
    out(
        &mut t,
        5,
        r#"{"type":"stream_event","event":{"type":"content_block_stop","index":0}}"#,
    );
    assert_eq!(t.note(5), Some(&Note::Hidden));
    // A text that no message replaced stays as it was streamed.
    out(&mut t, 6, &delta("cut sho"));
    out(
        &mut t,
        7,
        r#"{"type":"result","subtype":"error_during_execution","is_error":true}"#,
    );
    assert_eq!(t.note(6), Some(&Note::Streamed("cut sho".into())));
}

#[test]
fn permission_requests_wait_until_answered_cancelled_or_the_turn_ends() {
    let mut t = Tracker::default();
    let ask = |id: &str| {
        format!(
            r#"{{"type":"control_request","request_id":"{id}","request":{{"subtype":"can_use_tool","tool_name":"Bash","input":{{"command":"touch x"}}}}}}"#
        )
    };
    let n = out(&mut t, 3, &ask("r1"));
    assert!(matches!(&n[0], Noticed::ApprovalAsked(a) if a.summary == "touch x" && a.seq == 3));
    assert_eq!(t.pending().len(), 1);
    assert_eq!(t.note(3), Some(&Note::Approval(None)));
    // The answer as it went in closes it.
    let answer = control::allow_response("r1", &serde_json::json!({}), None);
    let n = t.observe_input(answer.as_bytes());
    assert_eq!(
        n,
        vec![Noticed::ApprovalClosed {
            request_id: "r1".into(),
            answer: Answer::Allowed
        }]
    );
    assert_eq!(t.note(3), Some(&Note::Approval(Some(Answer::Allowed))));
    assert!(t.observe_input(answer.as_bytes()).is_empty(), "once");
    out(&mut t, 4, &ask("r2"));
    let n = out(
        &mut t,
        5,
        r#"{"type":"control_cancel_request","request_id":"r2"}"#,
    );
    assert!(matches!(
        &n[0],
        Noticed::ApprovalClosed {
            answer: Answer::Cancelled,
            ..
        }
    ));
    out(&mut t, 6, &ask("r3"));
    let n = out(&mut t, 7, r#"{"type":"result","is_error":false}"#);
    assert!(n.iter().any(|n| matches!(
        n,
        Noticed::ApprovalClosed {
            answer: Answer::Abandoned,
            ..
        }
    )));
    assert!(t.pending().is_empty());
}

#[test]
fn unknown_requests_are_reported_to_be_refused_and_too_many_are_refused() {
    let mut t = Tracker::default();
    let n = out(
        &mut t,
        0,
        r#"{"type":"control_request","request_id":"h1","request":{"subtype":"hook_callback"}}"#,
    );
    assert_eq!(
        n,
        vec![Noticed::Unserved {
            request_id: "h1".into(),
            subtype: "hook_callback".into()
        }]
    );
    for i in 0..MAX_PENDING {
        let line = format!(
            r#"{{"type":"control_request","request_id":"p{i}","request":{{"subtype":"can_use_tool","tool_name":"Read","input":{{}}}}}}"#
        );
        out(&mut t, i as u64 + 1, &line);
    }
    let n = out(
        &mut t,
        999,
        r#"{"type":"control_request","request_id":"over","request":{"subtype":"can_use_tool","tool_name":"Read","input":{}}}"#,
    );
    assert_eq!(
        n,
        vec![Noticed::Overflow {
            request_id: "over".into()
        }]
    );
}

#[test]
fn an_interrupted_turn_and_api_errors_are_named() {
    let mut t = Tracker::default();
    t.interrupting();
    let n = out(
        &mut t,
        0,
        r#"{"type":"result","subtype":"error_during_execution","is_error":true,"terminal_reason":"aborted_streaming"}"#,
    );
    assert!(
        matches!(&n[0], Noticed::TurnEnded { summary, .. } if summary.failure.as_deref() == Some("interrupted"))
    );
    assert!(!t.is_interrupting());
    let n = out(
        &mut t,
        1,
        r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500 Internal server error"}"#,
    );
    assert!(
        matches!(&n[0], Noticed::TurnEnded { summary, .. } if summary.failure.as_deref() == Some("API error 500"))
    );
    let n = out(
        &mut t,
        2,
        r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":529}"#,
    );
    assert!(
        matches!(&n[0], Noticed::TurnEnded { summary, .. } if summary.failure.as_deref() == Some("overloaded (529)"))
    );
    let ok = out(
        &mut t,
        3,
        r#"{"type":"result","subtype":"success","is_error":false}"#,
    );
    assert!(matches!(&ok[0], Noticed::TurnEnded { summary, .. } if summary.failure.is_none()));
}

#[test]
fn notes_of_lines_gone_from_the_scrollback_are_forgotten() {
    let mut t = Tracker::default();
    out(
        &mut t,
        1,
        r#"{"type":"system","subtype":"status","status":"requesting"}"#,
    );
    out(
        &mut t,
        8,
        r#"{"type":"system","subtype":"status","status":"requesting"}"#,
    );
    t.prune(5);
    assert_eq!(t.note(1), None);
    assert_eq!(t.note(8), Some(&Note::Hidden));
}
