"""`miner validate`: check a dataset line by line against one trainer's rules before you pay
for a job, and estimate what the job will cost.

    dataset.jsonl -> io.iter_lines -> per-line rules for the target -> Report
                                   -> tokens per example -> limits, billing tokens, epochs, cost

Rules come from the providers' schemas and validators (OpenAI's openapi schema and cookbook
checks, Mistral's trainer, Gemini tuning docs, LLaMA-Factory's ShareGPT/Alpaca loaders, TRL's
dataset formats). Each finding names the line, says what is wrong in plain words, and how to
fix it. Limits, minimum counts and prices are data (templates/limits.yaml,
templates/training-prices.yaml), so a new model is a one-line change.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from miner import writers
from miner.errors import ConfigError
from miner.hygiene import load_yaml
from miner.hygiene.io import Example, iter_lines, to_example

TARGETS = ("openai", "openai-dpo", "vertex", "mistral", "trl", "trl-preference", "sharegpt", "alpaca")

# OpenAI's default-epochs rule (cookbook Chat_finetuning_data_prep).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


@dataclass
class Finding:
    line: int  # 1-based; 0 = the file as a whole
    severity: str  # "error" or "warning"
    code: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "severity": self.severity, "code": self.code, "message": self.message, "fix": self.fix}


@dataclass
class Report:
    path: str
    target: str
    model: str | None = None
    findings: list[Finding] = field(default_factory=list)  # at most max_per_code per code
    counts: Counter = field(default_factory=Counter)  # code -> how many (all of them)
    severities: Counter = field(default_factory=Counter)  # "error"/"warning" -> how many
    lines: int = 0
    examples: int = 0  # lines that are readable training examples
    total_tokens: int = 0
    max_example_tokens: int = 0
    token_limit: int | None = None
    too_long: int = 0
    billing_tokens: int = 0
    epochs: int | None = None
    price_per_million: float | None = None
    estimated_cost: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.severities["error"]

    @property
    def warnings(self) -> int:
        return self.severities["warning"]

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "target": self.target, "model": self.model, "ok": self.ok,
            "errors": self.errors, "warnings": self.warnings, "lines": self.lines, "examples": self.examples,
            "counts": dict(self.counts), "findings": [f.to_dict() for f in self.findings],
            "tokens": {"total": self.total_tokens, "max_per_example": self.max_example_tokens,
                       "limit_per_example": self.token_limit, "over_limit": self.too_long,
                       "billing": self.billing_tokens},
            "cost": {"epochs": self.epochs, "price_per_million": self.price_per_million,
                     "estimated_usd": self.estimated_cost},
            "notes": self.notes,
        }


Emit = Callable[[str, str, str, str], None]  # (severity, code, message, fix)


# ---- settings -----------------------------------------------------------------------------

def target_settings(target: str, model: str | None = None, max_tokens: int | None = None) -> dict[str, Any]:
    """The limits for `target` (and `model`): max_tokens, over_limit, min/recommended examples."""
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    cfg = dict(load_yaml("limits.yaml").get(target) or {})
    models = cfg.pop("models", None) or {}
    model = model or cfg.get("default_model")
    key = resolve_model(model, models) if model else None
    limit = models.get(key, cfg.get("max_tokens")) if key else cfg.get("max_tokens")
    if max_tokens:
        limit = max_tokens
    return {**cfg, "model": key or model, "model_known": key is not None, "max_tokens": limit}


def resolve_model(model: str, table: dict) -> str | None:
    """Exact name, or a name without its date suffix ("gpt-4o-mini" -> "gpt-4o-mini-2024-07-18")."""
    if model in table:
        return model
    for k in table:
        rest = k[len(model) + 1:] if k.startswith(model + "-") else ""
        if rest[:1].isdigit():
            return k
    return None


def default_epochs(n: int) -> int:
    """OpenAI's rule for n_epochs="auto": about 3 epochs, more for tiny sets, fewer for huge."""
    if n <= 0:
        return 0
    epochs = TARGET_EPOCHS
    if n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
    elif n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n)
    return epochs


def price_for(target: str, model: str | None, prices_file: str | None = None) -> float | None:
    table = load_yaml("training-prices.yaml")
    if prices_file:
        for tgt, rows in load_yaml("training-prices.yaml", prices_file).items():
            if not isinstance(rows, dict):
                raise ConfigError(f"{prices_file}: {tgt!r} should map model names to prices per 1M tokens")
            table.setdefault(tgt, {}).update(rows)
    rows = table.get(target) or {}
    key = resolve_model(model, rows) if model else None
    if key is None:
        return None
    try:
        return float(rows[key])
    except (TypeError, ValueError):
        raise ConfigError(f"price for {key!r} is not a number: {rows[key]!r}") from None


# ---- the whole file -----------------------------------------------------------------------

def validate_file(path: str, target: str | None = None, model: str | None = None, *,
                  max_tokens: int | None = None, epochs: int | None = None, prices: str | None = None,
                  max_per_code: int | None = 1000) -> Report:
    """Check `path` against `target`'s rules (detected from the first example when None).

    >>> report = validate_file("wlm.jsonl", "openai")
    >>> report.ok, report.errors, [f"{f.line}: {f.message}" for f in report.findings]
    """
    if target is None:
        target = _detect_target(path)
    settings = target_settings(target, model, max_tokens)
    report = Report(path=path, target=target, model=settings["model"], token_limit=settings["max_tokens"])

    def add(line: int, severity: str, code: str, message: str, fix: str) -> None:
        report.counts[code] += 1
        report.severities[severity] += 1
        if max_per_code is None or report.counts[code] <= max_per_code:
            report.findings.append(Finding(line, severity, code, message, fix))

    check = RULES[target]
    no_system = 0
    for ln in iter_lines(path):
        report.lines += 1
        emit: Emit = lambda s, c, m, f, n=ln.number: add(n, s, c, m, f)  # noqa: E731
        if ln.bom:
            emit("warning", "bom", "the file starts with a byte-order mark (BOM)",
                 "save the file as UTF-8 without BOM; some uploaders reject it")
        if ln.blank:  # (a newline ending the last line is not a blank line)
            emit("warning", "blank_line", "blank line", "delete it: some uploaders reject blank lines in JSONL")
            continue
        if ln.error:
            emit("error", "invalid_json", f"the line {ln.error}",
                 "each line must be one complete JSON object; fix or delete this line (miner clean drops it)")
            continue
        if not isinstance(ln.obj, dict):
            emit("error", "data_type", "the line is JSON but not an object {...}", "each line must be one JSON object")
            continue
        wrong = _wrong_format(ln.obj, target)
        if wrong:
            emit("error", "wrong_format", f"this line is in {wrong} format, not {target}",
                 f"convert the file: miner convert {path} -o out.jsonl --format {target}")
            continue
        check(ln.obj, emit)
        ex = to_example(ln)
        if isinstance(ex, Example):
            report.examples += 1
            if ex.system() is None:
                no_system += 1
            _count_tokens(report, ex, settings, emit)

    _file_findings(report, settings, no_system, lambda s, c, m, f: add(0, s, c, m, f))
    _cost(report, settings, epochs, prices)
    return report


def _detect_target(path: str) -> str:
    for ln in iter_lines(path):
        if isinstance(ln.obj, dict):
            mod = writers.detect_line(ln.obj)
            if mod is not None:
                return mod.NAME
    raise ConfigError(f"{path}: no line is in a format miner knows; pass --target "
                      f"({', '.join(TARGETS)})")


_SHAPES = {  # target -> formats (as detected on reading) whose lines it accepts
    "openai": {"openai"}, "mistral": {"openai"}, "trl": {"openai", "trl"},
    "vertex": {"vertex"}, "sharegpt": {"sharegpt"}, "alpaca": {"alpaca"},
    "openai-dpo": {"openai-dpo"}, "trl-preference": {"trl-preference"},
}
_KEYS = {  # the key that identifies a target's lines: present -> apply its rules
    "openai": "messages", "mistral": "messages", "trl": None, "vertex": "contents",
    "sharegpt": "conversations", "alpaca": "instruction", "openai-dpo": "input", "trl-preference": "chosen",
}


def _wrong_format(obj: dict, target: str) -> str | None:
    """The format a line is in when it is clearly another one than `target`."""
    key = _KEYS[target]
    if key is not None and key in obj:
        return None
    if target == "trl" and any(k in obj for k in ("messages", "prompt", "completion")):
        return None
    mod = writers.detect_line(obj)
    if mod is not None and mod.NAME not in _SHAPES[target]:
        return mod.NAME
    return None


def _count_tokens(report: Report, ex: Example, settings: dict, emit: Emit) -> None:
    n = ex.tokens()
    report.total_tokens += n
    report.max_example_tokens = max(report.max_example_tokens, n)
    limit = settings["max_tokens"]
    if limit and n > limit:
        report.too_long += 1
        sev = "error" if settings.get("over_limit") == "error" else "warning"
        emit(sev, "too_long", f"{n:,} tokens, over the {limit:,}-token limit per example"
             + (f" for {settings['model']}" if settings.get("model") else ""),
             "the trainer truncates it: shorten it, split it, or drop it (miner clean --max-tokens)")
    report.billing_tokens += min(n, limit) if limit else n


def _file_findings(report: Report, settings: dict, no_system: int, emit: Emit) -> None:
    n = report.examples
    lo, rec = settings.get("min_examples"), settings.get("recommended_examples")
    if n == 0:
        emit("error", "no_examples", "the file has no readable training examples", "run miner convert to make one")
        return
    if lo and n < lo:
        emit("error", "too_few_examples", f"{n} examples; {report.target} needs at least {lo}",
             f"add examples until there are {lo} or more")
    elif rec and n < rec:
        emit("warning", "few_examples", f"{n} examples; {rec} or more are recommended",
             "quality and variety matter more than volume, but very small sets overfit")
    if no_system == n:
        emit("warning", "no_system_message", "no example has a system message",
             "a short system prompt used in every example (a persona) tells the model when to use this voice")
    elif no_system:
        emit("warning", "inconsistent_system", f"{no_system} of {n} examples have no system message",
             "use the same system prompt across the set so the model learns one consistent voice")
    if report.target == "vertex" and report.examples > (settings.get("max_validation_examples") or 1 << 62):
        report.notes.append(f"Vertex accepts at most {settings['max_validation_examples']:,} validation examples "
                            "(this limit applies if this file is your validation set).")


def _cost(report: Report, settings: dict, epochs: int | None, prices: str | None) -> None:
    if report.examples == 0:
        return
    report.epochs = epochs if epochs else default_epochs(report.examples)
    price = price_for(report.target, report.model, prices)
    if price is None:
        if report.target in ("openai", "openai-dpo", "vertex") or prices:
            report.notes.append(f"no training price for {report.model or 'this model'}; pass --model, or --prices "
                                "with a YAML file of prices per 1M tokens")
        return
    report.price_per_million = price
    report.estimated_cost = round(report.billing_tokens * report.epochs * price / 1e6, 4)
    if not epochs and report.target != "openai":
        report.notes.append("epochs follow OpenAI's default rule; pass --epochs to match your job")


# ---- per-target rules ---------------------------------------------------------------------

def _nonempty_text(v) -> bool:
    if isinstance(v, str):
        return bool(v.strip())
    if isinstance(v, list):  # content parts
        return any(isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"].strip() for p in v)
    return False


def _role_list(msgs) -> list[str]:
    return [str(m.get("role")) for m in msgs if isinstance(m, dict)]


@dataclass(frozen=True)
class ChatSpec:
    name: str
    roles: frozenset
    keys: frozenset
    weight: str  # "ok" (0/1 on assistant), "ignored" (warn), "no" (error)
    last_assistant: str  # severity when the last turn is not an assistant ("" = no check)
    alternate: str  # severity when two user or two assistant turns follow each other
    tool_id_len: int | None = None
    unknown_key: str = "error"  # severity of unknown message keys


OPENAI = ChatSpec("OpenAI", frozenset({"system", "user", "assistant", "tool", "function"}),
                  frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}),
                  "ok", "warning", "")
MISTRAL = ChatSpec("Mistral", frozenset({"system", "user", "assistant", "tool"}),
                   frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id"}),
                   "ok", "error", "warning", tool_id_len=9)
TRL = ChatSpec("TRL", frozenset({"system", "user", "assistant", "tool"}),
               frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id"}),
               "ignored", "warning", "warning", unknown_key="warning")  # chat templates ignore extra keys


def check_messages(msgs, spec: ChatSpec, emit: Emit, where: str = "", need_assistant: bool = True) -> None:
    """The message-level rules shared by every `messages`-based format."""
    if not isinstance(msgs, list) or not msgs:
        emit("error", "missing_messages_list", f"{where}no \"messages\" list, or it is empty",
             "each line needs {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}")
        return
    for i, m in enumerate(msgs, 1):
        at = f"{where}message {i}"
        if not isinstance(m, dict):
            emit("error", "data_type", f"{at} is not an object", "write each message as {\"role\": ..., \"content\": ...}")
            continue
        role = m.get("role")
        if "role" not in m or ("content" not in m and not m.get("tool_calls") and not m.get("function_call")):
            emit("error", "message_missing_key", f"{at} has no {'role' if 'role' not in m else 'content'}",
                 "every message needs a role and a content")
        if role is not None and role not in spec.roles:
            fix = {"developer": "use \"system\" for the instructions (the SFT format has no developer role)",
                   "model": "use \"assistant\"", "human": "use \"user\"", "gpt": "use \"assistant\"",
                   "bot": "use \"assistant\""}.get(str(role), f"use one of: {', '.join(sorted(spec.roles))}")
            emit("error", "unrecognized_role", f"{at} has role {role!r}, which {spec.name} does not accept", fix)
        unknown = [k for k in m if k not in spec.keys]
        if unknown:
            emit(spec.unknown_key, "message_unrecognized_key", f"{at} has unknown key(s): {', '.join(map(str, unknown))}",
                 f"remove them; {spec.name} messages may have: {', '.join(sorted(spec.keys))}")
        if role in spec.roles and "content" in m or role == "assistant":
            has_call = bool(m.get("tool_calls") or m.get("function_call"))
            if not _nonempty_text(m.get("content")) and not (role == "assistant" and has_call):
                emit("error", "missing_content", f"{at} ({role}) has no text",
                     "fill in the text or delete the message; empty turns fail the job or teach silence")
        _check_weight(m, role, at, spec, emit)
        if role == "tool" and not m.get("tool_call_id") and spec is not TRL:
            emit("error", "tool_call_id", f"{at} is a tool result without tool_call_id",
                 "link it to the assistant's tool call with tool_call_id")
        if spec.tool_id_len:
            _check_tool_ids(m, at, spec.tool_id_len, emit)
    roles = _role_list(msgs)
    _check_order(roles, spec, emit, where, need_assistant)


def _check_weight(m: dict, role, at: str, spec: ChatSpec, emit: Emit) -> None:
    if "weight" not in m:
        return
    w = m["weight"]
    if spec.weight == "ignored":
        emit("warning", "weight_ignored", f"{at} has a weight, which {spec.name} ignores: the turn is trained on",
             "remove weight-0 turns from the conversation, or train with a trainer that honours weights (openai, mistral)")
        return
    if role != "assistant":
        emit("error", "weight_not_allowed", f"{at} ({role}) has a weight; only assistant messages may",
             "remove the weight from this message")
    elif isinstance(w, bool) or w not in (0, 1):
        emit("error", "bad_weight", f"{at} has weight {w!r}; it must be the number 0 or 1",
             "use 1 to train on this reply and 0 to skip it")


def _check_tool_ids(m: dict, at: str, n: int, emit: Emit) -> None:
    ids = [m.get("tool_call_id")] if m.get("tool_call_id") is not None else []
    ids += [c.get("id") for c in m.get("tool_calls") or [] if isinstance(c, dict)]
    for tid in ids:
        if not isinstance(tid, str) or len(tid) != n:
            emit("error", "tool_call_id", f"{at} has tool call id {tid!r}; Mistral needs exactly {n} characters",
                 f"use {n}-character ids such as \"TX92Jm8Zi\", the same in the call and its result")


def _check_order(roles: list[str], spec: ChatSpec, emit: Emit, where: str, need_assistant: bool) -> None:
    if need_assistant and "assistant" not in roles:
        emit("error", "example_missing_assistant_message", f"{where}no assistant message",
             "each example needs at least one assistant reply: that is what the model learns")
        return
    if "user" not in roles:
        emit("warning", "no_user_message", f"{where}no user message",
             "add the prompt this reply answers, so the model learns when to write like this")
    if need_assistant and spec.last_assistant and roles and roles[-1] != "assistant":
        emit(spec.last_assistant, "last_turn_not_assistant",
             f"{where}the last message is {roles[-1]!r}; " + ("Mistral requires an assistant message last"
                                                               if spec is MISTRAL else "nothing after the last assistant reply is trained"),
             "delete the trailing message(s) or add the assistant reply")
    if spec.alternate:
        pairs = [(a, b) for a, b in zip(roles, roles[1:]) if a == b and a in ("user", "assistant")]
        if pairs:
            emit(spec.alternate, "not_alternating", f"{where}two {pairs[0][0]} messages in a row",
                 "merge them into one, so user and assistant turns alternate (many chat templates require it)")
    if spec is MISTRAL and "system" in roles[1:]:
        emit("warning", "system_not_first", f"{where}a system message after the first message",
             "put the system message first")


def _unknown_top(obj: dict, allowed: set, emit: Emit, name: str, severity: str = "warning") -> None:
    extra = [k for k in obj if k not in allowed]
    if extra:
        emit(severity, "unknown_key", f"unknown top-level key(s): {', '.join(map(str, extra))}",
             f"{name} expects only {', '.join(sorted(allowed))}; remove the others "
             "(miner convert writes clean lines) - some uploaders reject them")


def rules_openai(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"messages", "tools", "parallel_tool_calls", "functions"}, emit, "OpenAI")
    check_messages(obj.get("messages"), OPENAI, emit)
    msgs = obj.get("messages")
    if isinstance(msgs, list):
        weights = [m.get("weight") for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"]
        if weights and all(w == 0 and not isinstance(w, bool) for w in weights):
            emit("error", "all_weights_zero", "every assistant message has weight 0, so nothing is trained",
                 "set weight 1 (or remove the weight) on the reply you want learned")


def rules_mistral(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"messages", "tools"}, emit, "Mistral")
    check_messages(obj.get("messages"), MISTRAL, emit)


def rules_trl(obj: dict, emit: Emit) -> None:
    if "messages" in obj:
        _unknown_top(obj, {"messages", "tools"}, emit, "TRL")
        check_messages(obj.get("messages"), TRL, emit)
        return
    _unknown_top(obj, {"prompt", "completion", "tools"}, emit, "TRL prompt-completion")
    p, c = obj.get("prompt"), obj.get("completion")
    if isinstance(p, str) and isinstance(c, str):
        if not c.strip():
            emit("error", "missing_content", "the completion is empty", "fill in the completion or drop the line")
        return
    if not (isinstance(p, list) and isinstance(c, list)):
        emit("error", "mixed_shapes", "prompt and completion must both be text, or both be lists of messages",
             "write both as [{\"role\": ..., \"content\": ...}] lists (or both as plain strings)")
        return
    check_messages(p, TRL, emit, "prompt: ", need_assistant=False)
    check_messages(c, TRL, emit, "completion: ")


def rules_vertex(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"systemInstruction", "contents", "tools", "toolConfig"}, emit, "Vertex")
    si = obj.get("systemInstruction")
    if si is not None:
        if not isinstance(si, dict) or not isinstance(si.get("parts"), list) or not si["parts"]:
            emit("error", "bad_system_instruction", "systemInstruction must be {\"parts\": [{\"text\": ...}]}",
                 "write it as {\"role\": \"system\", \"parts\": [{\"text\": \"...\"}]}")
        elif not all(isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"].strip() for p in si["parts"]):
            emit("error", "missing_content", "systemInstruction has a part with no text", "fill in the text or remove the part")
    contents = obj.get("contents")
    if not isinstance(contents, list) or not contents:
        emit("error", "missing_contents", "no \"contents\" list, or it is empty",
             "each line needs {\"contents\": [{\"role\": \"user\", \"parts\": [{\"text\": ...}]}, ...]}")
        return
    roles = []
    for i, c in enumerate(contents, 1):
        at = f"contents[{i}]"
        if not isinstance(c, dict):
            emit("error", "data_type", f"{at} is not an object", "write each turn as {\"role\": ..., \"parts\": [...]}")
            continue
        role = c.get("role")
        roles.append(role)
        if role not in ("user", "model"):
            fix = {"assistant": "use \"model\" for the assistant's turns (Vertex never uses \"assistant\")",
                   "system": "move the system text into \"systemInstruction\""}.get(str(role), "use \"user\" or \"model\"")
            emit("error", "unrecognized_role", f"{at} has role {role!r}; Vertex accepts only user and model", fix)
        extra = [k for k in c if k not in ("role", "parts")]
        if extra:
            emit("warning", "unknown_key", f"{at} has unknown key(s): {', '.join(map(str, extra))}", "remove them")
        parts = c.get("parts")
        if not isinstance(parts, list) or not parts:
            emit("error", "missing_content", f"{at} ({role}) has no parts", "give it [{\"text\": \"...\"}]")
            continue
        for j, p in enumerate(parts, 1):
            if not isinstance(p, dict) or not any(k in p for k in ("text", "fileData", "inlineData", "functionCall", "functionResponse")):
                emit("error", "bad_part", f"{at} part {j} is not {{\"text\": ...}} or a file", "write text parts as {\"text\": \"...\"}")
            elif "text" in p and not (isinstance(p["text"], str) and p["text"].strip()):
                emit("error", "missing_content", f"{at} ({role}) part {j} has no text", "fill in the text or delete the part")
    if "model" not in roles:
        emit("error", "example_missing_assistant_message", "no model turn",
             "each example needs at least one model reply: that is what Gemini learns")
        return
    if roles and roles[0] != "user":
        emit("error", "first_turn_not_user", f"the first turn is {roles[0]!r}; Gemini needs the user first",
             "start with the user's turn (put instructions in systemInstruction)")
    if any(a == b for a, b in zip(roles, roles[1:])):
        emit("error", "not_alternating", "two turns in a row from the same role; Gemini needs user and model to alternate",
             "merge consecutive turns from the same role into one")
    if roles and roles[-1] != "model":
        emit("error", "last_turn_not_assistant", "the last turn is not the model's; the last model turn is the target",
             "delete the trailing user turn or add the model's reply")


_SG_FROM = {"system", "human", "gpt", "function_call", "observation"}


def rules_sharegpt(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"conversations", "system", "tools"}, emit, "ShareGPT")
    if "system" in obj and not isinstance(obj["system"], str):
        emit("error", "data_type", "\"system\" must be text", "write the system prompt as a string")
    conv = obj.get("conversations")
    if not isinstance(conv, list) or not conv:
        emit("error", "missing_conversations", "no \"conversations\" list, or it is empty",
             "each line needs {\"conversations\": [{\"from\": \"human\", \"value\": ...}, {\"from\": \"gpt\", ...}]}")
        return
    whos = []
    for i, t in enumerate(conv, 1):
        at = f"turn {i}"
        if not isinstance(t, dict):
            emit("error", "data_type", f"{at} is not an object", "write each turn as {\"from\": ..., \"value\": ...}")
            continue
        who = t.get("from")
        whos.append(who)
        if who not in _SG_FROM:
            fix = {"user": "use \"human\"", "assistant": "use \"gpt\"", "model": "use \"gpt\""}.get(
                str(who), f"use one of: {', '.join(sorted(_SG_FROM))}")
            emit("error", "unrecognized_role", f"{at} is from {who!r}, which LLaMA-Factory does not recognise", fix)
        if not (isinstance(t.get("value"), str) and t["value"].strip()):
            emit("error", "missing_content", f"{at} ({who}) has no text", "fill in the value or delete the turn")
        extra = [k for k in t if k not in ("from", "value")]
        if extra:
            emit("warning", "unknown_key", f"{at} has unknown key(s): {', '.join(map(str, extra))}", "remove them")
    if "system" in whos[1:]:
        emit("error", "system_not_first", "a system turn after the first turn",
             "move the system prompt to the first turn or the top-level \"system\" key")
    body = whos[1:] if whos and whos[0] == "system" else whos
    if "gpt" not in body and "function_call" not in body:
        emit("error", "example_missing_assistant_message", "no gpt turn", "each example needs at least one gpt reply")
        return
    for i, who in enumerate(body):
        want = ("human", "observation") if i % 2 == 0 else ("gpt", "function_call")
        if who not in want:
            emit("error", "not_alternating", f"turn {i + 1 + (len(whos) - len(body))} is {who!r} where a "
                 f"{' or '.join(want)} turn belongs; human and gpt turns must alternate, human first",
                 "merge consecutive turns from the same side into one")
            break
    if body and body[-1] not in ("gpt", "function_call"):
        emit("error", "last_turn_not_assistant", "the last turn is not gpt; LLaMA-Factory drops such examples",
             "delete the trailing human turn or add the gpt reply")


def rules_alpaca(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"instruction", "input", "output", "system", "history"}, emit, "Alpaca")
    for key in ("instruction", "input", "output", "system"):
        if key in obj and not isinstance(obj[key], str):
            emit("error", "data_type", f"\"{key}\" must be text", f"write {key} as a string")
    if not isinstance(obj.get("output"), str) or not obj["output"].strip():
        emit("error", "missing_content", "no output (the answer the model learns)", "fill in \"output\" or drop the line")
    ins = obj.get("instruction") if isinstance(obj.get("instruction"), str) else ""
    inp = obj.get("input") if isinstance(obj.get("input"), str) else ""
    if not (ins.strip() or inp.strip()):
        emit("error", "missing_content", "no instruction or input (the prompt)", "fill in \"instruction\"")
    hist = obj.get("history")
    if hist is not None and not (isinstance(hist, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in hist)):
        emit("error", "bad_history", "\"history\" must be a list of [question, answer] pairs of text",
             "write it as [[\"q1\", \"a1\"], [\"q2\", \"a2\"]]")


def _answers(v, where: str, emit: Emit) -> list[str] | None:
    if not isinstance(v, list):
        emit("error", "dpo_output", f"{where} must be a list holding one assistant message",
             f"write {where}: [{{\"role\": \"assistant\", \"content\": \"...\"}}]")
        return None
    assistants = [m for m in v if isinstance(m, dict) and m.get("role") == "assistant"]
    if len(v) != 1 or len(assistants) != 1:
        emit("error", "dpo_output", f"{where} has {len(assistants)} assistant message(s) among {len(v)}; exactly one is required",
             f"keep exactly one assistant message in {where}")
    for m in v:
        if isinstance(m, dict) and not _nonempty_text(m.get("content")) and not m.get("tool_calls"):
            emit("error", "missing_content", f"{where} has an empty answer", "fill in the answer or drop the pair")
    return [m.get("content") for m in assistants]


def rules_openai_dpo(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"input", "preferred_output", "non_preferred_output"}, emit, "OpenAI DPO")
    inp = obj.get("input")
    if not isinstance(inp, dict):
        emit("error", "dpo_input", "no \"input\" object", "each line needs {\"input\": {\"messages\": [...]}, ...}")
    else:
        msgs = inp.get("messages")
        check_messages(msgs, OPENAI, emit, "input: ", need_assistant=False)
        roles = _role_list(msgs) if isinstance(msgs, list) else []
        if roles and roles[-1] != "user":
            emit("error", "dpo_input_last_not_user", f"input.messages ends with {roles[-1]!r}; it must end with the "
                 "user turn both answers reply to", "delete the trailing message(s) after the last user turn")
    good = _answers(obj.get("preferred_output"), "preferred_output", emit)
    bad = _answers(obj.get("non_preferred_output"), "non_preferred_output", emit)
    if good and bad and good == bad:
        emit("warning", "same_answers", "the preferred and non-preferred answers are identical, so the pair teaches nothing",
             "drop the pair or replace one answer")


def rules_trl_preference(obj: dict, emit: Emit) -> None:
    _unknown_top(obj, {"prompt", "chosen", "rejected"}, emit, "TRL preference")
    p, c, r = obj.get("prompt"), obj.get("chosen"), obj.get("rejected")
    if c is None or r is None:
        emit("error", "missing_key", "a preference line needs both \"chosen\" and \"rejected\"", "add the missing answer")
        return
    if all(isinstance(x, str) for x in (c, r)) and (p is None or isinstance(p, str)):
        for key, v in (("chosen", c), ("rejected", r)):
            if not v.strip():
                emit("error", "missing_content", f"\"{key}\" is empty", "fill it in or drop the pair")
    elif all(isinstance(x, list) for x in (c, r)) and (p is None or isinstance(p, list)):
        if p is not None:
            check_messages(p, TRL, emit, "prompt: ", need_assistant=False)
            roles = _role_list(p)
            if roles and roles[-1] != "user":
                emit("error", "dpo_input_last_not_user", f"the prompt ends with {roles[-1]!r}; it must end with the user "
                     "turn both answers reply to", "delete the trailing message(s) after the last user turn")
        for key, v in (("chosen", c), ("rejected", r)):
            if not v or not all(isinstance(m, dict) and m.get("role") == "assistant" for m in v):
                emit("error", "dpo_output", f"\"{key}\" must be a non-empty list of assistant messages",
                     f"write {key}: [{{\"role\": \"assistant\", \"content\": \"...\"}}]")
            elif not all(_nonempty_text(m.get("content")) for m in v):
                emit("error", "missing_content", f"\"{key}\" has an empty answer", "fill it in or drop the pair")
    else:
        emit("error", "mixed_shapes", "prompt, chosen and rejected must all be text, or all be lists of messages",
             "write all three the same way")
        return
    if c == r:
        emit("warning", "same_answers", "chosen and rejected are identical, so the pair teaches nothing",
             "drop the pair or replace one answer")


RULES: dict[str, Callable[[dict, Emit], None]] = {
    "openai": rules_openai, "mistral": rules_mistral, "trl": rules_trl, "vertex": rules_vertex,
    "sharegpt": rules_sharegpt, "alpaca": rules_alpaca, "openai-dpo": rules_openai_dpo,
    "trl-preference": rules_trl_preference,
}


def check_line(obj: Any, target: str) -> list[Finding]:
    """The findings for one parsed line (line number 0): for callers checking single items."""
    out: list[Finding] = []
    if not isinstance(obj, dict):
        return [Finding(0, "error", "data_type", "the line is not a JSON object", "each line must be one JSON object")]
    RULES[target](obj, lambda s, c, m, f: out.append(Finding(0, s, c, m, f)))
    return out


def expected_cost_line(report: Report) -> str:
    """One sentence on the training cost, for the CLI."""
    if report.estimated_cost is None:
        return ""
    cost = report.estimated_cost
    money = f"about ${cost:,.2f}" if cost >= 0.01 else "under $0.01"
    return (f"~{report.billing_tokens:,} billed tokens x {report.epochs} epochs at ${report.price_per_million:,.2f}/1M "
            f"for {report.model}: {money}")
