"""The review web app: server-rendered pages over the edit store, for one author on this machine.

Where it sits: `miner review` (miner/cli/review.py) opens the Store, starts the statistics
worker and serves this app with werkzeug's threaded server on 127.0.0.1. Every page works
without JavaScript (plain links and forms); static/review.js only adds comfort.

Security model (a local server holding years of someone's writing):
- bound to loopback by default; the CLI refuses other addresses unless --allow-remote;
- a random per-run token is required on every request: given once in the printed URL, then
  kept in an HttpOnly, SameSite=Strict cookie named after the port;
- anything that changes data is POST only and must carry the token in a form field or the
  X-Miner-Token header, which another site cannot read (no CORS headers are ever sent), so
  cross-site forms and scripts cannot drive it;
- requests whose Host is not a loopback name are refused (DNS rebinding);
- a strict Content-Security-Policy: scripts and styles only from this server, no framing;
- nothing is fetched from anywhere: templates, script and styles ship inside miner.
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
import os
import secrets
import threading
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.serving import WSGIRequestHandler, make_server

from miner.errors import ConfigError, MinerError

from . import stats as review_stats
from .store import FLAGS, STATUSES, ListQuery, Replace, StaleError, Store

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
TOKEN_HEADER = "X-Miner-Token"
MAX_NOTICES = 20

_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    if host.strip("[]") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """`127.0.0.1:8000` -> `127.0.0.1`, `[::1]:8000` -> `::1`."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _safe_back(path: str | None, default: str = "/") -> str:
    """Only same-site relative paths may be redirected to (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or "\n" in path:
        return default
    return path


def query_from(args) -> ListQuery:
    try:
        page = int(args.get("page", "1"))
    except ValueError:
        page = 1
    return ListQuery(sort=args.get("sort", "position"), order=args.get("order", ""), q=args.get("q", ""),
                     flag=args.get("flag", ""), status=args.get("status", "active"), page=page).normalized()


def create_app(store: Store, token: str, *, worker: review_stats.StatsWorker | None = None,
               check_host: bool = True, extra_hosts: set[str] | None = None) -> Flask:
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024 * 1024, TEMPLATES_AUTO_RELOAD=False, JSON_SORT_KEYS=False)
    app.jinja_env.globals.update(FLAGS=FLAGS, STATUSES=STATUSES)  # also for imported macros
    allowed_hosts = LOOPBACK_NAMES | {h.lower() for h in (extra_hosts or set())}
    notices: dict[str, tuple[str, str]] = {}
    notices_lock = threading.Lock()

    def cookie_name() -> str:
        # Named after the port: two reviews running at once must not overwrite each other's.
        return f"miner_review_{request.environ.get('SERVER_PORT', '0')}"

    def token_ok(value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), token.encode())

    def notify(text: str, kind: str = "ok") -> str:
        key = secrets.token_urlsafe(8)
        with notices_lock:
            while len(notices) >= MAX_NOTICES:
                notices.pop(next(iter(notices)))
            notices[key] = (kind, text)
        return key

    def go(endpoint_or_path: str, notice: str | None = None, kind: str = "ok", **params) -> Response:
        path = endpoint_or_path if endpoint_or_path.startswith("/") else url_for(endpoint_or_path, **params)
        if notice:
            path, hash_, frag = path.partition("#")
            path += ("&" if "?" in path else "?") + urlencode({"n": notify(notice, kind)}) + hash_ + frag
        return redirect(path, code=303)

    def changed() -> None:
        if worker is not None:
            worker.request()

    @app.before_request
    def guard():
        if check_host and _hostname(request.host) not in allowed_hosts:
            return _plain("This review server only answers to 127.0.0.1 / localhost.", 421)
        supplied = request.args.get("token")
        if request.method == "GET" and token_ok(supplied):
            # Trade the token in the URL for a cookie and drop it from the address bar.
            args = {k: v for k, v in request.args.items(multi=False) if k != "token"}
            target = request.path + (("?" + urlencode(args)) if args else "")
            resp = redirect(target, code=303)
            resp.set_cookie(cookie_name(), token, httponly=True, samesite="Strict", path="/")
            return resp
        if not (token_ok(request.cookies.get(cookie_name())) or token_ok(supplied)):
            return _plain("This page needs the private link printed by `miner review` in your terminal "
                          "(it ends in ?token=...). Open that exact link.", 403)
        if request.method not in ("GET", "HEAD"):
            if not (token_ok(request.form.get("csrf")) or token_ok(request.headers.get(TOKEN_HEADER))):
                return _plain("This change did not come from the review page itself, so it was refused.", 403)
        return None

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        for h in [h for h in resp.headers.keys() if h.lower().startswith("access-control-")]:
            del resp.headers[h]  # never any CORS
        return resp

    @app.context_processor
    def common() -> dict[str, Any]:
        n = request.args.get("n")
        with notices_lock:
            notice = notices.pop(n, None) if n else None
        return {
            "csrf": token,
            "store": store,
            "source_name": os.path.basename(store.source),
            "out_name": os.path.basename(store.out),
            "counts": store.counts(),
            "unsaved": store.unsaved,
            "last_op": store.last_op(),
            "notice": notice,
            "here": _here(),
            "stats_status": worker.status() if worker else {"unavailable": True, "up_to_date": False,
                                                              "computing": False, "error": ""},
        }

    @app.template_global()
    def list_url(q: ListQuery, **changes) -> str:
        return url_for("index", **q.with_(**changes).params()) if changes else url_for("index", **q.params())

    @app.template_global()
    def example_url(id: int, q: ListQuery) -> str:
        return url_for("example", id=id, **q.with_(page=1).params())

    @app.template_filter("num")
    def num(v) -> str:
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.3f}"
        return str(v)

    # ---- pages ------------------------------------------------------------------------------

    @app.get("/")
    def index():
        q = query_from(request.args)
        return render_template("list.html", page=store.page(q), q=q)

    @app.get("/example/<int:id>")
    def example(id: int):
        ex = store.get(id)
        if ex is None:
            abort(404)
        q = query_from(request.args)
        prev_id, next_id = store.neighbours(id, q)
        return render_template("example.html", ex=ex, q=q, prev_id=prev_id, next_id=next_id,
                               list_page=list_url(q))

    @app.post("/example/<int:id>/turn/<int:turn>")
    def edit_turn(id: int, turn: int):
        q = query_from(request.args)
        try:
            did = store.edit_turn(id, turn, request.form.get("content", ""))
        except MinerError as e:
            return go(example_url(id, q), str(e), "error")
        if did:
            changed()
        return go(example_url(id, q) + f"#turn-{turn + 1}", f"Turn {turn + 1} saved." if did else None)

    @app.post("/example/<int:id>/<action>")
    def example_action(id: int, action: str):
        q = query_from(request.args)
        then = request.form.get("then", "stay")
        try:
            if action == "delete":
                msg = "Deleted (you can restore it, or Undo)." if store.set_deleted(id, True) else None
            elif action == "restore":
                msg = "Restored." if store.set_deleted(id, False) else None
            elif action == "reviewed":
                store.set_reviewed(id, request.form.get("value", "1") == "1")
                msg = None
            elif action == "revert":
                msg = "Put back as it was in the original file." if store.revert(id) else None
            else:
                abort(404)
        except MinerError as e:
            return go(example_url(id, q), str(e), "error")
        if action != "reviewed":
            changed()
        if then == "next":
            _, next_id = store.neighbours(id, q)
            if next_id is not None:
                return go(example_url(next_id, q), msg)
            return go(list_url(q), (msg + " " if msg else "") + "That was the last one in this list.")
        if then == "list":
            return go(list_url(q), msg)
        return go(example_url(id, q), msg)

    @app.get("/replace")
    def replace_page():
        spec = _spec_from(request.args)
        preview, error = None, None
        if spec.find:
            try:
                preview = store.preview(spec)
            except MinerError as e:
                error = str(e)
        return render_template("replace.html", spec=spec, preview=preview, error=error)

    @app.post("/replace")
    def replace_apply():
        spec = _spec_from(request.form)
        try:
            expected = int(request.form.get("expected", ""))
        except ValueError:
            expected = None
        try:
            matches, examples = store.replace(spec, expected_examples=expected)
        except StaleError as e:
            return go(url_for("replace_page", **_spec_params(spec)), str(e), "error")
        except MinerError as e:
            return go(url_for("replace_page", **_spec_params(spec)), str(e), "error")
        changed()
        return go("index", f"Replaced {matches:,} match{'es' if matches != 1 else ''} in {examples:,} "
                           f"example{'s' if examples != 1 else ''}. Undo is at the top of the page.")

    @app.get("/stats")
    def stats_page():
        report, version = store.stats()
        return render_template("stats.html", report=report, report_version=version)

    @app.get("/api/status")
    def api_status():
        st = worker.status() if worker else {"unavailable": True}
        return jsonify({**st, "unsaved": store.unsaved, "last_op": store.last_op()})

    @app.post("/save")
    def save():
        back = _safe_back(request.form.get("back"))
        try:
            r = store.save()
        except MinerError as e:
            return go(back, f"Not saved: {e}", "error")
        msg = f"Saved {r.written:,} examples to {r.path}"
        extras = []
        if r.deleted:
            extras.append(f"{r.deleted:,} deleted left out")
        if r.edited:
            extras.append(f"{r.edited:,} edited")
        if r.unreadable:
            extras.append(f"{r.unreadable:,} unreadable lines kept as they were")
        return go(back, msg + (f" ({', '.join(extras)})." if extras else ". The original file is unchanged."))

    @app.post("/undo")
    def undo():
        back = _safe_back(request.form.get("back"))
        label = store.undo()
        if label:
            changed()
            return go(back, f"Undone: {label}.")
        return go(back, "There is nothing to undo.")

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("message.html", title="Not found",
                               text="There is no such page or example. Go back to the list."), 404

    @app.errorhandler(413)
    def too_big(_e):
        return _plain("That edit is too large to send in one go (over 64 MB).", 413)

    @app.errorhandler(500)
    def broken(_e):
        return render_template("message.html", title="Something went wrong",
                               text="This is a bug in miner review. Your edits up to this point are kept; "
                                    "the terminal running `miner review` shows the details."), 500

    return app


def _here() -> str:
    """This page's address without the one-off notice key, for "come back here" forms."""
    if request.method != "GET":
        return "/"
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("n", "token")]
    return request.path + (("?" + urlencode(args)) if args else "")


def _plain(text: str, code: int) -> Response:
    return Response(text + "\n", status=code, mimetype="text/plain")


def _spec_from(args) -> Replace:
    role = args.get("role", "")
    return Replace(find=args.get("find", ""), replace=args.get("replace", ""),
                   regex=args.get("regex") in ("1", "on", "true"), case=args.get("ignore_case") not in ("1", "on", "true"),
                   role=role if role in ("system", "user", "assistant") else "")


def _spec_params(spec: Replace) -> dict[str, str]:
    d = {"find": spec.find, "replace": spec.replace}
    if spec.regex:
        d["regex"] = "1"
    if not spec.case:
        d["ignore_case"] = "1"
    if spec.role:
        d["role"] = spec.role
    return d


class _QuietHandler(WSGIRequestHandler):
    """No access log: URLs may carry the token, and the terminal is for the author's messages."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class ReviewServer:
    """The app on werkzeug's threaded server. `port=0` picks a free port (tests)."""

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, *, target: str | None = None,
                 max_tokens: int | None = None, allow_remote: bool = False, compute_fn=None,
                 token: str | None = None):
        if not is_loopback(host) and not allow_remote:
            raise ConfigError(f"--host {host} would let other machines reach your writing; "
                              "use 127.0.0.1, or add --allow-remote if you really mean it")
        self.store = store
        self.host = host
        self.token = token or secrets.token_urlsafe(32)
        if compute_fn is None:
            compute_fn = functools.partial(review_stats.compute, target=target, max_tokens=max_tokens)
        self.worker = review_stats.StatsWorker(store, compute_fn=compute_fn)
        self.app = create_app(store, self.token, worker=self.worker, check_host=is_loopback(host),
                              extra_hosts={host.strip("[]")})
        try:
            self.server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); "
                             "choose another --port, or 0 for any free one") from None
        self.port = self.server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def start_stats(self) -> None:
        self.worker.start()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="miner-review-http", daemon=True)
        t.start()
        return t

    def shutdown(self) -> None:
        """Stop a server running in another thread, and the statistics worker."""
        self.server.shutdown()
        self.close()

    def close(self) -> None:
        """Release the port and stop the statistics worker (after serve_forever returned or was
        interrupted in this thread; the caller closes the store)."""
        self.server.server_close()
        self.worker.stop()
