#!/usr/bin/env python3
"""A local, deterministic Anthropic Messages API server for testing real agent CLIs offline.

The tests point the real Claude Code CLI at it (ANTHROPIC_BASE_URL=http://127.0.0.1:PORT).
It is the far end of the conversation, faked so the tests need no network and no model:
what the CLI under test does with the answers is entirely the CLI's own.

    python3 tests/agents/model_api.py [--port-file FILE] [--log FILE] [--port N]

It prints `listening on PORT` on stdout (and writes PORT to --port-file) once it accepts
connections, and appends one JSON line per request to --log.

What it answers, from the newest user text of the conversation (case matters):
- a tool result as the newest message: `The tool said: FIRST LINE` (or, for a refused
  tool, `The tool was refused: WHY`);
- `run: CMD`: a `tool_use` of Bash with {"command": CMD};
- `write FILE: TEXT`: a `tool_use` of Write with {"file_path": FILE, "content": TEXT};
- `slow`: text streamed one word every 0.2 s for 60 s (for interrupts);
- `fail 500` / `overloaded`: HTTP 500 (api_error) / 529 (overloaded_error);
- `drop`: a stream cut off after its first delta (the connection is closed);
- `remember WORD`: `I will remember WORD.`; `recall`: `You asked me to remember WORD.`
  from the conversation's history (proves the context survived), or `Nothing to recall.`;
- anything else: `You said: TEXT`, streamed in pieces of 8 characters.
Usage is a function of the conversation alone (never of paths, dates or timings), so two
runs of one script cost the same.
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG_LOCK = threading.Lock()
COUNTER_LOCK = threading.Lock()
COUNTER = [0]


def next_id(prefix):
    with COUNTER_LOCK:
        COUNTER[0] += 1
        return f"{prefix}_{COUNTER[0]:04d}"


def blocks(content):
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def user_texts(messages):
    """The user's own texts, oldest first (system reminders left out)."""
    out = []
    for m in messages:
        if m.get("role") != "user":
            continue
        for b in blocks(m.get("content")):
            text = b.get("text")
            if b.get("type") == "text" and text and not text.startswith("<system-reminder>"):
                out.append(text.strip())
    return out


def newest_tool_result(messages):
    """The tool_result block that is the conversation's newest block, if it is one (a user
    text after it, such as a new turn after an interrupted tool use, wins)."""
    for m in reversed(messages):
        if m.get("role") == "system":
            continue
        if m.get("role") != "user":
            return None
        for b in reversed(blocks(m.get("content"))):
            if b.get("type") == "tool_result":
                return b
            text = b.get("text") or ""
            if b.get("type") == "text" and not text.startswith(("<system-reminder>", "[Request interrupted")):
                return None
        return None
    return None


def result_text(block):
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content or "")


def plan(messages):
    """What to answer: ("text", TEXT) | ("tool", NAME, INPUT) | ("slow",) | ("http", CODE) | ("drop",)."""
    tool = newest_tool_result(messages)
    if tool is not None:
        text = result_text(tool).strip()
        first = text.splitlines()[0] if text else ""
        if tool.get("is_error"):
            return ("text", f"The tool was refused: {first}")
        return ("text", f"The tool said: {first}")
    texts = user_texts(messages)
    said = texts[-1] if texts else ""
    if said.startswith("run: "):
        return ("tool", "Bash", {"command": said[5:], "description": "Run the command asked for"})
    m = re.match(r"write (\S+): (.*)$", said, re.S)
    if m:
        return ("tool", "Write", {"file_path": m.group(1), "content": m.group(2)})
    if said == "slow":
        return ("slow",)
    if said == "fail 500":
        return ("http", 500)
    if said == "overloaded":
        return ("http", 529)
    if said == "drop":
        return ("drop",)
    m = re.match(r"remember (\S+)$", said)
    if m:
        return ("text", f"I will remember {m.group(1)}.")
    if said == "recall":
        for earlier in reversed(texts[:-1]):
            m = re.match(r"remember (\S+)$", earlier)
            if m:
                return ("text", f"You asked me to remember {m.group(1)}.")
        return ("text", "Nothing to recall.")
    return ("text", f"You said: {said}")


def usage_for(messages, output_words):
    chars = sum(len(t) for t in user_texts(messages))
    return {"input_tokens": 100 * len(messages) + chars, "output_tokens": max(1, output_words)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "model-api/1"

    def log_message(self, *args):
        pass

    def log_request_body(self, body):
        log = self.server.log_path
        if not log:
            return
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            parsed = {"unparsed": len(body)}
        entry = {
            "method": self.command,
            "path": self.path,
            "stream": parsed.get("stream") if isinstance(parsed, dict) else None,
            "texts": user_texts(parsed.get("messages", [])) if isinstance(parsed, dict) else [],
            "messages": len(parsed.get("messages", [])) if isinstance(parsed, dict) else 0,
        }
        with LOG_LOCK, open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def send_json(self, code, value):
        out = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        if code == 529 or code >= 500:
            self.send_header("x-should-retry", "false")
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        self.log_request_body(b"")
        self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}})

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.log_request_body(body)
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self.send_json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad json"}})
        path = self.path.split("?")[0]
        messages = req.get("messages", [])
        if path.endswith("/count_tokens"):
            return self.send_json(200, {"input_tokens": usage_for(messages, 0)["input_tokens"]})
        if not path.endswith("/v1/messages"):
            return self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
        what = plan(messages)
        model = req.get("model", "claude-test")
        if what[0] == "http":
            kind = "overloaded_error" if what[1] == 529 else "api_error"
            message = "Overloaded" if what[1] == 529 else "Internal server error"
            return self.send_json(what[1], {"type": "error", "error": {"type": kind, "message": message}})
        if not req.get("stream"):
            # The CLI falls back to a plain request after a dropped stream.
            text = what[1] if what[0] == "text" else "Answered without streaming."
            content = [{"type": "text", "text": text}]
            return self.send_json(200, {
                "id": next_id("msg"), "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": "end_turn", "stop_sequence": None,
                "usage": usage_for(messages, len(text.split())),
            })
        self.stream(model, messages, what)

    def event(self, name, data):
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def stream(self, model, messages, what):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        start_usage = usage_for(messages, 0)
        start_usage["output_tokens"] = 1
        try:
            self.event("message_start", {"type": "message_start", "message": {
                "id": next_id("msg"), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
            if what[0] == "tool":
                _, name, tool_input = what
                self.event("content_block_start", {"type": "content_block_start", "index": 0,
                           "content_block": {"type": "tool_use", "id": next_id("toolu"), "name": name, "input": {}}})
                raw = json.dumps(tool_input)
                for i in range(0, len(raw), 16):
                    self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                               "delta": {"type": "input_json_delta", "partial_json": raw[i:i + 16]}})
                self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
                self.finish_message("tool_use", messages, 5)
                return
            self.event("content_block_start", {"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}})
            if what[0] == "slow":
                for i in range(300):
                    self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": f"tick{i} "}})
                    time.sleep(0.2)
                text_words = 300
            elif what[0] == "drop":
                self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": "Half a"}})
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            else:
                text = what[1]
                for i in range(0, len(text), 8):
                    self.event("content_block_delta", {"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": text[i:i + 8]}})
                text_words = len(text.split())
            self.event("content_block_stop", {"type": "content_block_stop", "index": 0})
            self.finish_message("end_turn", messages, text_words)
        except (BrokenPipeError, ConnectionResetError, OSError):
            # The client went away (an interrupted turn): nothing more to say.
            return

    def finish_message(self, stop_reason, messages, words):
        self.event("message_delta", {"type": "message_delta",
                   "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                   "usage": {"output_tokens": usage_for(messages, words)["output_tokens"]}})
        self.event("message_stop", {"type": "message_stop"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--log")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.log_path = args.log
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"listening on {port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
