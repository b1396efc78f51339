//! Line protocols sessions may speak. The engine stays byte-oriented; it uses these to frame
//! a user turn and to notice when a turn ends, and front ends use them to read output.

pub mod control;
pub mod stream_json;
pub mod tracker;

use serde::{Deserialize, Serialize};

/// The line protocol a session speaks (front ends build input and read output with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Plain lines.
    #[default]
    Raw,
    /// Agent CLIs' stream-json: a JSON object a line each way, turns end with `result`.
    StreamJson,
}

impl Protocol {
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "raw" => Some(Protocol::Raw),
            "stream-json" => Some(Protocol::StreamJson),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Raw => "raw",
            Protocol::StreamJson => "stream-json",
        }
    }
}

/// The bytes that send `text` as one user turn, newline included: the one place where a
/// turn is framed, for the TUI's Enter, the `turn` step and the control socket alike.
///
/// - `raw`: the text and a newline.
/// - `stream-json`: a user message, `{"type":"user","message":{"role":"user","content":TEXT}}`;
///   a line that already is a JSON object goes as it is, so any event can still be sent.
pub fn frame_turn(protocol: Protocol, text: &str) -> Vec<u8> {
    let mut line = match protocol {
        Protocol::Raw => text.as_bytes().to_vec(),
        Protocol::StreamJson if stream_json::is_json_object(text) => {
            text.trim().as_bytes().to_vec()
        }
        Protocol::StreamJson => stream_json::user_message(text).into_bytes(),
    };
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_json_turn_is_a_user_message_with_the_exact_shape() {
        let bytes = frame_turn(Protocol::StreamJson, "say \"hi\"\\ ☃\n2nd");
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\\\\ ☃\\n2nd\"}}\n"
        );
    }

    #[test]
    fn a_json_object_goes_as_it_is_and_raw_lines_are_lines() {
        let event = r#"{"type":"control_request","request":{"subtype":"interrupt"}}"#;
        assert_eq!(
            frame_turn(Protocol::StreamJson, event),
            format!("{event}\n").into_bytes()
        );
        // JSON that is not an object is text to say.
        let said = frame_turn(Protocol::StreamJson, "[1,2]");
        assert!(said.starts_with(br#"{"type":"user""#));
        assert_eq!(frame_turn(Protocol::Raw, "6*7"), b"6*7\n");
    }
}
