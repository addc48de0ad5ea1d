"""A loopback LLM server for tests: speaks just enough of the OpenAI chat-completions and
Gemini generateContent wire formats for the real `openai` and `google-genai` SDKs to talk to it.

It runs a stdlib ThreadingHTTPServer on 127.0.0.1 (a free port) in a thread, records every
request (path, headers, JSON body) and answers from a per-test script:

    with LLMServer() as srv:                       # tests use an `llm_server` fixture around this
    srv.queue(Reply.error(429, retry_after=0))     # scripted replies are used first, in order
    srv.queue(Reply.openai('{"brief": "x"}'))
    srv.responder = my_function                    # then this: (Recorded) -> Reply
    srv.die_after(3)                               # answer 3 more requests, then drop connections

The default responder fills the request's JSON schema with text derived from the prompt, so
any template gets a valid structured answer without per-test setup.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    raw: bytes
    status: int | None = None  # what the server answered, once sent (None: dropped / not yet)

    @property
    def api(self) -> str:
        return "gemini" if ":generateContent" in self.path else "openai"

    @property
    def model(self) -> str:
        if self.api == "gemini":
            return self.path.rsplit("/", 1)[-1].split(":", 1)[0]
        return (self.body or {}).get("model", "")

    @property
    def prompt(self) -> str:
        """The text of the last user turn."""
        b = self.body or {}
        if self.api == "gemini":
            parts = (b.get("contents") or [{}])[-1].get("parts", [])
            return "".join(p.get("text", "") for p in parts)
        msgs = [m for m in b.get("messages", []) if m.get("role") == "user"]
        return msgs[-1]["content"] if msgs else ""

    @property
    def system(self) -> str:
        b = self.body or {}
        if self.api == "gemini":
            parts = (b.get("systemInstruction") or {}).get("parts", [])
            return "".join(p.get("text", "") for p in parts)
        return "".join(m["content"] for m in b.get("messages", []) if m.get("role") == "system")

    @property
    def schema(self) -> dict | None:
        b = self.body or {}
        if self.api == "gemini":
            return (b.get("generationConfig") or {}).get("responseJsonSchema")
        rf = b.get("response_format") or {}
        return (rf.get("json_schema") or {}).get("schema")

    @property
    def digest(self) -> str:
        """A stable id of what was asked (model + prompts), to count repeats of one request."""
        return hashlib.sha256(f"{self.model}\0{self.system}\0{self.prompt}".encode()).hexdigest()[:16]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering (a dying server)

    @staticmethod
    def openai(content: str | None, prompt_tokens: int = 10, completion_tokens: int = 5,
               finish_reason: str = "stop", model: str = "m") -> "Reply":
        return Reply(body={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    @staticmethod
    def gemini(text: str | None, prompt_tokens: int = 10, completion_tokens: int = 5,
               finish_reason: str = "STOP") -> "Reply":
        parts = [] if text is None else [{"text": text}]
        return Reply(body={
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish_reason}],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": completion_tokens,
                              "totalTokenCount": prompt_tokens + completion_tokens},
        })

    @staticmethod
    def error(status: int, message: str = "boom", retry_after: float | None = None,
              api: str = "openai") -> "Reply":
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if api == "gemini":
            st = {429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED",
                  403: "PERMISSION_DENIED", 404: "NOT_FOUND"}.get(status, "INTERNAL")
            body = {"error": {"code": status, "message": message, "status": st}}
        else:
            body = {"error": {"message": message, "type": "x", "code": "c"}}
        return Reply(status=status, body=body, headers=headers)

    @staticmethod
    def for_api(api: str, text: str | None, prompt_tokens: int = 10, completion_tokens: int = 5) -> "Reply":
        if api == "gemini":
            return Reply.gemini(text, prompt_tokens, completion_tokens)
        return Reply.openai(text, prompt_tokens, completion_tokens)


def fill_schema(schema: dict | None, seed: str) -> Any:
    """A value that satisfies a (simple) JSON schema, with strings derived from `seed`."""
    if not schema:
        return f"Plain answer for: {seed[:40]}"
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    t = (t or "object").lower()
    if t == "object":
        props = schema.get("properties", {})
        return {k: fill_schema(v, f"{k} {seed}") for k, v in props.items()}
    if t == "array":
        n = max(1, schema.get("minItems", 1))
        return [fill_schema(schema.get("items", {}), seed) for _ in range(n)]
    if t == "integer":
        return 1
    if t == "number":
        return 1.0
    if t == "boolean":
        return True
    return f"Synthesized {seed[:60]}".strip()


def schema_responder(req: Recorded) -> Reply:
    """Default: a valid structured answer; usage derived from the prompt size."""
    value = fill_schema(req.schema, req.prompt.replace("\n", " "))
    text = value if isinstance(value, str) else json.dumps(value)
    return Reply.for_api(req.api, text, prompt_tokens=max(1, len(req.prompt) // 4), completion_tokens=20)


class LLMServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Reply] = deque()
        self.responder: Callable[[Recorded], Reply] = schema_responder
        self._lock = threading.Lock()
        self._answers_left: int | None = None
        self.inflight = 0
        self.max_inflight = 0  # most requests being handled at once (checks --concurrency)
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - stdlib name
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                rec = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
                with srv._lock:
                    srv.inflight += 1
                    srv.max_inflight = max(srv.max_inflight, srv.inflight)
                try:
                    reply = srv._next(rec)
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with srv._lock:
                        srv.inflight -= 1
                if reply.drop:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                data = reply.body
                if isinstance(data, (dict, list)):
                    data = json.dumps(data).encode()
                elif isinstance(data, str):
                    data = data.encode()
                elif data is None:
                    data = b""
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client went away (killed): not answered
                    return
                rec.status = reply.status

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hung up (cancelled or killed) is expected here, not a test failure

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    # ---- scripting ----------------------------------------------------------------------
    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def die_after(self, n: int) -> None:
        """Answer `n` more requests normally, then drop every connection (server 'dies')."""
        with self._lock:
            self._answers_left = n

    def revive(self) -> None:
        with self._lock:
            self._answers_left = None

    def _next(self, rec: Recorded) -> Reply:
        with self._lock:
            self.requests.append(rec)
            if self._answers_left is not None:
                if self._answers_left <= 0:
                    return Reply(drop=True)
                self._answers_left -= 1
            if self.script:
                return self.script.popleft()
        return self.responder(rec)

    # ---- inspection ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def count(self, pred: Callable[[Recorded], bool] | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if pred is None or pred(r))

    def answered(self) -> set[str]:
        """Digests of requests that got a 200 answer."""
        with self._lock:
            return {r.digest for r in self.requests if r.status == 200}

    def per_digest(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for r in self.requests:
                out[r.digest] = out.get(r.digest, 0) + 1
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LLMServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

