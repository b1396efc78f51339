//! How a pane shows one line in each view: `raw` (the bytes, safely), `json` (pretty-printed
//! when the line is JSON) and `chat` (stream-json events as a conversation). Every piece of
//! text that came from the session goes through the same neutralisation as raw output.

use ratatui::style::{Color, Modifier, Style};
use serde_json::Value;

use super::ansi::{self, Styled};
use crate::engine::{Stream, View};
use crate::protocol::stream_json;

/// Strings longer than this are folded in the json view.
const FOLD_CHARS: usize = 160;
/// Array items and object entries shown before the rest is summarised.
const MAX_ITEMS: usize = 200;
/// Characters of a tool input or result shown on its one line in the chat view.
const SHORT: usize = 100;

pub(super) const KEY: Style = Style::new().fg(Color::Cyan);
const STRING: Style = Style::new().fg(Color::Green);
const NUMBER: Style = Style::new().fg(Color::Magenta);
const LITERAL: Style = Style::new().fg(Color::Yellow);
const DIM: Style = Style::new().add_modifier(Modifier::DIM);
/// The user's own words.
const YOU: Style = Style::new().fg(Color::Green).add_modifier(Modifier::BOLD);

/// The display lines of one line of `stream` in `view`; `base` is the stream's style.
pub fn render_line(bytes: &[u8], view: View, stream: Stream, base: Style) -> Vec<Styled> {
    if view == View::Raw {
        return vec![ansi::render(bytes, base)];
    }
    match stream_json::parse_line(bytes) {
        Some(value) => render_value(&value, view, stream),
        None => vec![ansi::render(bytes, base)],
    }
}

/// The display lines of a JSON value in the json or chat view. In the chat view, input that
/// is a user message shows as the user's own turn (an agent does not echo it).
pub fn render_value(value: &Value, view: View, stream: Stream) -> Vec<Styled> {
    match view {
        View::Chat if stream == Stream::Stdin => {
            if let Some(rows) = super::agent_view::input_line(value) {
                return rows;
            }
            match stream_json::user_text(value) {
                Some(text) => text_block(" ", YOU, &text, YOU),
                None => json_lines(value),
            }
        }
        View::Chat => super::agent_view::protocol_line(value).unwrap_or_else(|| chat_lines(value)),
        View::Raw | View::Json => json_lines(value),
    }
}

/// Pretty-printed JSON, two spaces an indent level, coloured by kind.
pub fn json_lines(value: &Value) -> Vec<Styled> {
    let mut lines = Vec::new();
    let mut current = Styled::default();
    write_value(value, 0, &mut current, &mut lines);
    lines.push(current);
    lines
}

fn newline(current: &mut Styled, lines: &mut Vec<Styled>, depth: usize) {
    lines.push(std::mem::take(current));
    current.push_plain(&"  ".repeat(depth), Style::default());
}

fn write_value(value: &Value, depth: usize, current: &mut Styled, lines: &mut Vec<Styled>) {
    match value {
        Value::Null => current.push_plain("null", LITERAL),
        Value::Bool(b) => current.push_plain(if *b { "true" } else { "false" }, LITERAL),
        Value::Number(n) => current.push_plain(&n.to_string(), NUMBER),
        Value::String(s) => write_string(s, current),
        Value::Array(items) if items.is_empty() => current.push_plain("[]", Style::default()),
        Value::Object(map) if map.is_empty() => current.push_plain("{}", Style::default()),
        Value::Array(items) => {
            current.push_plain("[", Style::default());
            for (i, item) in items.iter().take(MAX_ITEMS).enumerate() {
                newline(current, lines, depth + 1);
                write_value(item, depth + 1, current, lines);
                if i + 1 < items.len() {
                    current.push_plain(",", Style::default());
                }
            }
            if items.len() > MAX_ITEMS {
                newline(current, lines, depth + 1);
                current.push_plain(&format!("… {} more items", items.len() - MAX_ITEMS), DIM);
            }
            newline(current, lines, depth);
            current.push_plain("]", Style::default());
        }
        Value::Object(map) => {
            current.push_plain("{", Style::default());
            let len = map.len();
            for (i, (key, item)) in map.iter().take(MAX_ITEMS).enumerate() {
                newline(current, lines, depth + 1);
                current.push_text(&format!("\"{key}\""), KEY);
                current.push_plain(": ", Style::default());
                write_value(item, depth + 1, current, lines);
                if i + 1 < len {
                    current.push_plain(",", Style::default());
                }
            }
            if len > MAX_ITEMS {
                newline(current, lines, depth + 1);
                current.push_plain(&format!("… {} more entries", len - MAX_ITEMS), DIM);
            }
            newline(current, lines, depth);
            current.push_plain("}", Style::default());
        }
    }
}

/// A JSON string, quoted, with newlines shown as `\n` and long strings folded.
fn write_string(s: &str, current: &mut Styled) {
    let chars = s.chars().count();
    let shown: String = s.chars().take(FOLD_CHARS).collect();
    let shown = shown.replace('\n', "\\n");
    current.push_plain("\"", STRING);
    current.push_text(&shown, STRING);
    current.push_plain("\"", STRING);
    if chars > FOLD_CHARS {
        current.push_plain(&format!(" … (+{} chars)", chars - FOLD_CHARS), DIM);
    }
}

/// One line of compact JSON, cut to `limit` characters.
fn compact(value: &Value, limit: usize) -> String {
    let text = value.to_string();
    shorten(&text, limit)
}

pub(super) fn shorten(text: &str, limit: usize) -> String {
    let count = text.chars().count();
    if count <= limit {
        text.to_string()
    } else {
        let head: String = text.chars().take(limit).collect();
        format!("{head}… (+{} chars)", count - limit)
    }
}

pub(super) fn line(pieces: &[(&str, Style, bool)]) -> Styled {
    let mut out = Styled::default();
    for (text, style, untrusted) in pieces {
        if *untrusted {
            out.push_text(text, *style);
        } else {
            out.push_plain(text, *style);
        }
    }
    out
}

/// Text that may span lines: each line of it, the first after `prefix`.
pub(super) fn text_block(
    prefix: &str,
    prefix_style: Style,
    text: &str,
    style: Style,
) -> Vec<Styled> {
    let indent = " ".repeat(prefix.chars().count());
    text.split('\n')
        .enumerate()
        .map(|(i, part)| {
            let lead = if i == 0 { prefix } else { indent.as_str() };
            line(&[(lead, prefix_style, false), (part, style, true)])
        })
        .collect()
}

/// A stream-json event as conversation lines; anything unknown falls back to JSON.
pub fn chat_lines(value: &Value) -> Vec<Styled> {
    let Some(kind) = stream_json::event_type(value) else {
        return json_lines(value);
    };
    match kind {
        "system" => system_lines(value),
        "assistant" => assistant_lines(value),
        "user" => user_lines(value),
        "result" => result_lines(value),
        "stream_event" => {
            let delta = value.pointer("/event/delta/text").and_then(Value::as_str);
            match delta {
                Some(text) => text_block("  ", DIM, text, DIM),
                None => vec![line(&[
                    ("  ⋯ ", DIM, false),
                    (
                        &compact(value.get("event").unwrap_or(value), SHORT),
                        DIM,
                        true,
                    ),
                ])],
            }
        }
        "rate_limit_event" => vec![line(&[
            ("  ⏱ rate limit ", LITERAL, false),
            (&compact(value, SHORT), DIM, true),
        ])],
        _ => json_lines(value),
    }
}

fn system_lines(value: &Value) -> Vec<Styled> {
    let subtype = value.get("subtype").and_then(Value::as_str).unwrap_or("");
    if subtype != "init" {
        let mut rest = value.clone();
        if let Some(map) = rest.as_object_mut() {
            map.remove("type");
            map.remove("subtype");
        }
        return vec![line(&[
            ("● system ", KEY, false),
            (subtype, KEY, true),
            (" ", DIM, false),
            (&compact(&rest, SHORT), DIM, true),
        ])];
    }
    let header = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("unknown model");
    let mut lines = vec![line(&[
        ("● session started · ", header, false),
        (model, header, true),
    ])];
    if let Some(tools) = value.get("tools").and_then(Value::as_array) {
        let names: Vec<&str> = tools.iter().filter_map(Value::as_str).collect();
        let shown = shorten(&names.join(", "), SHORT);
        lines.push(line(&[("  tools: ", DIM, false), (&shown, DIM, true)]));
    }
    let mut details = Vec::new();
    if let Some(cwd) = value.get("cwd").and_then(Value::as_str) {
        details.push(format!("cwd {cwd}"));
    }
    if let Some(mode) = value.get("permissionMode").and_then(Value::as_str) {
        details.push(format!("permissions {mode}"));
    }
    if let Some(id) = stream_json::session_id(value) {
        details.push(format!("session {id}"));
    }
    if !details.is_empty() {
        lines.push(line(&[
            ("  ", DIM, false),
            (&details.join(" · "), DIM, true),
        ]));
    }
    lines
}

fn blocks(value: &Value) -> Vec<Value> {
    match value.pointer("/message/content") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(s)) => vec![serde_json::json!({"type": "text", "text": s})],
        _ => Vec::new(),
    }
}

fn assistant_lines(value: &Value) -> Vec<Styled> {
    let text_style = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = Vec::new();
    for block in blocks(value) {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                lines.extend(text_block(
                    "◆ ",
                    Style::new().fg(Color::Blue).add_modifier(Modifier::BOLD),
                    text,
                    text_style,
                ));
            }
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or("tool");
                let input = block
                    .get("input")
                    .map(|i| compact(i, SHORT))
                    .unwrap_or_default();
                lines.push(line(&[
                    ("⚙ ", LITERAL, false),
                    (name, LITERAL.add_modifier(Modifier::BOLD), true),
                    (" ", LITERAL, false),
                    (&input, DIM, true),
                ]));
            }
            Some("thinking") => {
                let thought = block.get("thinking").and_then(Value::as_str).unwrap_or("");
                let first = shorten(thought.lines().next().unwrap_or(""), SHORT);
                lines.push(line(&[
                    ("  thinking: ", DIM.add_modifier(Modifier::ITALIC), false),
                    (&first, DIM.add_modifier(Modifier::ITALIC), true),
                ]));
            }
            _ => lines.push(other_block(&block)),
        }
    }
    or_json(lines, value)
}

/// A content block of a kind the chat view does not know: one dim line of compact JSON.
fn other_block(block: &Value) -> Styled {
    line(&[("  ", DIM, false), (&compact(block, SHORT), DIM, true)])
}

/// The event as JSON when nothing of it could be shown as conversation.
fn or_json(lines: Vec<Styled>, value: &Value) -> Vec<Styled> {
    if lines.is_empty() {
        json_lines(value)
    } else {
        lines
    }
}

fn user_lines(value: &Value) -> Vec<Styled> {
    let mut lines = Vec::new();
    for block in blocks(value) {
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                let error = block
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let text = block
                    .get("content")
                    .map(stream_json::content_text)
                    .unwrap_or_default();
                let count = text.lines().count();
                let first = shorten(text.lines().next().unwrap_or(""), SHORT);
                let more = if count > 1 {
                    format!(" (+{} lines)", count - 1)
                } else {
                    String::new()
                };
                let style = if error {
                    Style::new().fg(Color::LightRed)
                } else {
                    DIM
                };
                let mark = if error { "  ↳ error: " } else { "  ↳ " };
                lines.push(line(&[
                    (mark, style, false),
                    (&first, style, true),
                    (&more, DIM, false),
                ]));
            }
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                lines.extend(text_block("› ", YOU, text, YOU));
            }
            _ => lines.push(other_block(&block)),
        }
    }
    or_json(lines, value)
}

fn result_lines(value: &Value) -> Vec<Styled> {
    let Some(result) = stream_json::turn_result(value) else {
        return json_lines(value);
    };
    let mut parts = Vec::new();
    if let Some(n) = result.num_turns {
        parts.push(format!("{n} turn{}", if n == 1 { "" } else { "s" }));
    }
    // The numbers come from the session: anything absurd is left out, not shown.
    if let Some(text) = result
        .duration_ms
        .and_then(crate::units::format_reported_ms)
    {
        parts.push(text);
    }
    if let Some(cost) = result
        .cost_usd
        .or(result.total_cost_usd)
        .filter(|c| c.is_finite() && (0.0..1.0e6).contains(c))
    {
        parts.push(format!("${cost:.4}"));
    }
    let (label, style) = if result.is_error {
        (
            format!(
                "── turn failed ({}) ",
                result.subtype.as_deref().unwrap_or("error")
            ),
            Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        ("── turn done ".to_string(), Style::new().fg(Color::Green))
    };
    let numbers = if parts.is_empty() {
        "──".to_string()
    } else {
        format!("· {} ──", parts.join(" · "))
    };
    let mut lines = vec![line(&[(&label, style, true), (&numbers, style, false)])];
    if result.is_error
        && let Some(text) = &result.result
    {
        lines.extend(text_block("  ", style, text, style));
    }
    lines
}

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;
