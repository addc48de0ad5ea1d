"""Prompt templates for synthesis: the YAML files in templates/ (or the user's own), loaded into
a strict Template, plus the pieces synthesis needs around them.

    chunk text  --features()-->  $variables  --Template.request()-->  llm.Request
    model answer  --Template.check()/recover()-->  answer dict  --Template.user_turn()-->  user turn

A template says what the generator LLM is asked (system + instruction), the JSON shape of its
answer, an offline recipe (the answer built from the passage's structure alone, used by the
offline provider and as the fallback when a model never answers usably), and how the training
example is assembled from the answer. Its `version` is part of every cache key.
"""
from __future__ import annotations

import copy
import hashlib
import os
import re
import string
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from miner.errors import ConfigError

PACKAGE = "miner.templates"

# Every $variable a template may use, with what it holds (shown by `miner templates show`).
VARIABLES = {
    "passage": "the passage itself, verbatim",
    "words": "its length in words, rounded (\"about 850\")",
    "document": "the document's title",
    "section": "the heading path, e.g. \"Part One > Chapter 3\"",
    "chapter": "the top-level heading (chapter), or the document title",
    "heading": "the nearest heading, or the document title",
    "topic": "what the passage is about, as far as headings tell (for notes and essays)",
    "first_sentence": "the passage's first sentence",
    "last_sentence": "the passage's last sentence",
    "opening": "the first dozen words",
    "pov": "a guess at the point of view: first person, second person or third person",
    "tense": "a guess at the tense: past or present",
    "dialogue": "\"with dialogue\" or \"with no dialogue\"",
    "names": "names that recur in the passage (a guess), or \"the characters\"",
    "beats": "a bulleted list of the passage's key sentences, in order (for outlines)",
    "previous_ending": "the last sentence of the passage before this one in the same document",
}
ANSWER_MODES = ("single", "qa")
_TOP_KEYS = {"name", "version", "description", "unit", "turns", "generator", "answer_schema",
             "offline", "example"}
_GEN_KEYS = {"system", "instruction", "temperature", "max_output_tokens", "expected_output_tokens"}
_EX_KEYS = {"mode", "user", "next_user"}


@dataclass
class Template:
    name: str
    version: str
    description: str
    system: str
    instruction: str
    schema: dict
    offline: Any
    user: str = "$prompt"
    next_user: str = ""
    mode: str = "single"
    unit: str = "chunk"
    turns: int = 1
    temperature: float = 0.7
    max_output_tokens: int = 600
    expected_output_tokens: int = 150
    path: str = ""
    raw: str = field(default="", repr=False)

    @property
    def id(self) -> str:
        """name@version: what the cache key records."""
        return f"{self.name}@{self.version}"

    # ---- building the request --------------------------------------------------------------
    def request(self, feats: dict[str, str]):
        from miner.llm.base import Request

        return Request(
            system=self.system.strip(),
            messages=(("user", _render(self.instruction, feats, self, "generator.instruction").strip()),),
            schema=self.schema,
            schema_name=re.sub(r"[^A-Za-z0-9_-]", "_", self.name)[:60] or "answer",
            temperature=self.temperature,
            max_output_tokens=self.max_output_tokens,
            offline=self.offline_answer(feats),
        )

    def offline_answer(self, feats: dict[str, str]) -> Any:
        """The answer built from the passage's structure alone (deterministic)."""
        seed = int(hashlib.sha256(feats.get("passage", "").encode()).hexdigest()[:8], 16)
        return _build_offline(self.offline, self.schema, feats, seed, self)

    # ---- reading the answer ------------------------------------------------------------------
    def check(self, data: Any) -> list[str]:
        """Problems with a parsed answer (empty list = usable)."""
        return validate(self.schema, data)

    def recover(self, text: str) -> Any:
        """A usable answer salvaged from text that was not valid JSON, or None."""
        return recover_answer(self, text)

    def user_turn(self, answer: dict, feats: dict[str, str], first: bool = True) -> str:
        tpl = self.user if first or not self.next_user else self.next_user
        values = {**feats, **{k: _flat(v) for k, v in answer.items()}}
        return _render(tpl, values, self, "example.user").strip()


# ---- loading ---------------------------------------------------------------------------------

def list_templates() -> list[Template]:
    """The templates that ship with miner, by name."""
    out = []
    for res in sorted(resources.files(PACKAGE).iterdir(), key=lambda r: r.name):
        if res.name.endswith((".yaml", ".yml")):
            text = res.read_text(encoding="utf-8")
            if _looks_like_template(text):  # price tables and rule files live here too
                out.append(parse_template(text, res.name))
    return out


def _looks_like_template(text: str) -> bool:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and "generator" in doc and "name" in doc


def load_template(name_or_path: str) -> Template:
    """A shipped template by name ("scene-brief"), or the user's own YAML file by path."""
    if os.path.sep in name_or_path or name_or_path.endswith((".yaml", ".yml")) or os.path.isfile(name_or_path):
        if not os.path.isfile(name_or_path):
            raise ConfigError(f"template file {name_or_path} not found")
        with open(name_or_path, encoding="utf-8") as f:
            return parse_template(f.read(), name_or_path)
    res = resources.files(PACKAGE).joinpath(f"{name_or_path}.yaml")
    if not res.is_file() or not _looks_like_template(res.read_text(encoding="utf-8")):
        names = ", ".join(t.name for t in list_templates())
        raise ConfigError(f"no template named {name_or_path!r}; choose one of: {names} "
                          "(or give the path of your own .yaml file)")
    return parse_template(res.read_text(encoding="utf-8"), res.name)


def parse_template(text: str, where: str = "template") -> Template:
    """Parse and check a template; every mistake is a ConfigError naming the file and field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({_yaml_problem(e)})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a YAML mapping with name, version, generator, ...")
    _no_unknown(doc, _TOP_KEYS, where, "")
    gen = doc.get("generator") or {}
    ex = doc.get("example") or {}
    if not isinstance(gen, dict) or not isinstance(ex, dict):
        raise ConfigError(f"{where}: `generator` and `example` must be mappings")
    _no_unknown(gen, _GEN_KEYS, where, "generator.")
    _no_unknown(ex, _EX_KEYS, where, "example.")
    for key in ("name", "version"):
        if doc.get(key) in (None, ""):
            raise ConfigError(f"{where}: missing `{key}`")
    if not isinstance(gen.get("instruction"), str) or not gen["instruction"].strip():
        raise ConfigError(f"{where}: missing `generator.instruction` (what the LLM is asked, with $passage)")
    schema = doc.get("answer_schema")
    if not isinstance(schema, dict) or schema.get("type") != "object" or not schema.get("properties"):
        raise ConfigError(f"{where}: `answer_schema` must be a JSON schema of type object with properties")
    mode = ex.get("mode", "single")
    if mode not in ANSWER_MODES:
        raise ConfigError(f"{where}: example.mode must be one of {', '.join(ANSWER_MODES)}, not {mode!r}")
    unit = doc.get("unit", "chunk")
    if unit not in ("chunk", "chapter"):
        raise ConfigError(f"{where}: unit must be chunk or chapter, not {unit!r}")
    t = Template(
        name=str(doc["name"]), version=str(doc["version"]), description=str(doc.get("description") or "").strip(),
        system=str(gen.get("system") or ""), instruction=gen["instruction"], schema=schema,
        offline=doc.get("offline"), user=str(ex.get("user") or "$prompt"), next_user=str(ex.get("next_user") or ""),
        mode=mode, unit=unit, turns=_int(doc.get("turns", 1), where, "turns", 1),
        temperature=_num(gen.get("temperature", 0.7), where, "generator.temperature"),
        max_output_tokens=_int(gen.get("max_output_tokens", 600), where, "generator.max_output_tokens", 16),
        expected_output_tokens=_int(gen.get("expected_output_tokens", 150), where,
                                    "generator.expected_output_tokens", 1),
        path=where, raw=text,
    )
    if mode == "qa" and not _is_qa_schema(schema):
        raise ConfigError(f"{where}: example.mode qa needs answer_schema with `pairs`: an array of "
                          "objects with `question` and `answer` strings")
    if t.offline is None:
        raise ConfigError(f"{where}: missing `offline` (the answer built without an LLM)")
    # Render everything once with sample values, so a typo in a $placeholder is reported now
    # and not after an hour of paid calls.
    sample = {k: "x" for k in VARIABLES}
    t.request(sample)
    if mode == "single":
        answer = t.offline_answer(sample)
        problems = t.check(answer)
        if problems:
            raise ConfigError(f"{where}: the offline recipe does not fit answer_schema: {problems[0]}")
        t.user_turn(answer, sample)
        t.user_turn(answer, sample, first=False)
    return t


def _no_unknown(d: dict, known: set[str], where: str, prefix: str) -> None:
    extra = sorted(set(d) - known)
    if extra:
        raise ConfigError(f"{where}: unknown field `{prefix}{extra[0]}`; known fields: "
                          + ", ".join(prefix + k for k in sorted(known)))


def _int(v, where, key, lo) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ConfigError(f"{where}: `{key}` must be a whole number of at least {lo}")
    return v


def _num(v, where, key) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 2:
        raise ConfigError(f"{where}: `{key}` must be a number between 0 and 2")
    return float(v)


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{problem} at line {mark.line + 1}" if mark else str(problem)


def _render(tpl: str, values: dict[str, str], t: Template | None, where: str) -> str:
    try:
        return string.Template(tpl).substitute(values)
    except KeyError as e:
        name = e.args[0]
        avail = ", ".join("$" + k for k in sorted(values))
        raise ConfigError(f"{t.path if t else 'template'}: unknown placeholder ${name} in {where}; "
                          f"available: {avail}") from None
    except ValueError as e:
        raise ConfigError(f"{t.path if t else 'template'}: bad placeholder in {where} ({e}); "
                          "write $$ for a literal dollar sign") from None


def _flat(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(f"- {_flat(x)}" for x in v)
    return str(v)


# ---- offline recipe --------------------------------------------------------------------------

def _build_offline(recipe: Any, schema: dict | None, feats: dict, seed: int, t: Template) -> Any:
    """Walk the recipe alongside the schema. A list where the schema wants a string is a set of
    alternative phrasings; one is picked by a hash of the passage, so the offline set varies
    its wording deterministically instead of repeating one sentence hundreds of times."""
    stype = (schema or {}).get("type")
    if isinstance(recipe, dict):
        props = (schema or {}).get("properties", {})
        return {k: _build_offline(v, props.get(k), feats, seed, t) for k, v in recipe.items()}
    if isinstance(recipe, list):
        if stype == "array":
            return [_build_offline(x, (schema or {}).get("items"), feats, seed, t) for x in recipe]
        if not recipe:
            return ""
        recipe = recipe[seed % len(recipe)]
    if isinstance(recipe, str):
        return re.sub(r"[ \t]+", " ", _render(recipe, feats, t, "offline")).strip()
    return recipe


# ---- schema checks ---------------------------------------------------------------------------

def validate(schema: dict | None, value: Any, path: str = "answer") -> list[str]:
    """A small JSON-schema check (type, properties, required, items, minItems, minLength):
    enough for answer schemas, and strict where it matters (empty strings are problems)."""
    if not schema:
        return []
    t = schema.get("type")
    types = t if isinstance(t, list) else [t] if t else []
    if "null" in types and value is None:
        return []
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}
    if types and not any(isinstance(value, kinds.get(x, object)) and not (x in ("integer", "number") and isinstance(value, bool))
                         for x in types if x != "null"):
        return [f"{path} should be {'/'.join(types)}, got {type(value).__name__}"]
    problems: list[str] = []
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                problems.append(f"{path} is missing `{k}`")
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                problems.extend(validate(sub, value[k], f"{path}.{k}"))
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{path} has {len(value)} items, needs at least {schema['minItems']}")
        for i, item in enumerate(value):
            problems.extend(validate(schema.get("items"), item, f"{path}[{i}]"))
    elif isinstance(value, str):
        if not value.strip():
            problems.append(f"{path} is empty")
        elif len(value) < schema.get("minLength", 0):
            problems.append(f"{path} is shorter than {schema['minLength']} characters")
    return problems


def strict_schema(schema: dict) -> dict:
    """The schema as OpenAI strict mode wants it: every object closed, every property required.
    Keywords strict mode rejects (minLength, minItems, ...) are dropped; we check them ourselves."""
    s = copy.deepcopy(schema)

    def fix(node):
        if not isinstance(node, dict):
            return
        for k in ("minLength", "maxLength", "minItems", "maxItems", "pattern", "format", "default"):
            node.pop(k, None)
        if node.get("type") == "object":
            node["additionalProperties"] = False
            node["required"] = list(node.get("properties", {}))
            for v in node.get("properties", {}).values():
                fix(v)
        if node.get("type") == "array":
            fix(node.get("items"))

    fix(s)
    return s


def _is_qa_schema(schema: dict) -> bool:
    pairs = schema.get("properties", {}).get("pairs", {})
    item = pairs.get("items", {}) if pairs.get("type") == "array" else {}
    props = item.get("properties", {})
    return "question" in props and "answer" in props


# ---- salvaging answers that were not JSON -------------------------------------------------------

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```\s*$")
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:prompt|brief|instruction|request|scene brief|answer|outline)\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*",
                    re.I)
_QA = re.compile(r"(?:^|\n)\s*(?:\*\*)?Q(?:uestion)?\s*\d*\s*[:.](?:\*\*)?\s*(.+?)\s*\n\s*(?:\*\*)?A(?:nswer)?\s*\d*\s*[:.](?:\*\*)?\s*"
                 r"(.+?)(?=\n\s*(?:\*\*)?Q(?:uestion)?\s*\d*\s*[:.]|\Z)", re.S | re.I)


def parse_json(text: str) -> Any:
    """The JSON value in a model's answer, tolerating code fences and chatter around one object."""
    import orjson

    s = _FENCE.sub("", (text or "").strip())
    try:
        return orjson.loads(s)
    except orjson.JSONDecodeError:
        pass
    a, b = s.find("{"), s.rfind("}")
    if 0 <= a < b:
        try:
            return orjson.loads(s[a:b + 1])
        except orjson.JSONDecodeError:
            return None
    return None


def recover_answer(t: Template, text: str) -> Any:
    """Plain-text answers from models that ignore the JSON instruction (small local models do):
    a lone prompt for one-field templates, Q:/A: pairs for qa. None if nothing usable."""
    s = _FENCE.sub("", (text or "").strip())
    if not s:
        return None
    if t.mode == "qa":
        pairs = [{"question": q.strip(), "answer": a.strip().strip('"')} for q, a in _QA.findall(s)]
        return {"pairs": pairs} if pairs else None
    props = t.schema.get("properties", {})
    strings = [k for k, v in props.items() if v.get("type") == "string"]
    if len(props) != 1 or len(strings) != 1 or s.lstrip().startswith(("{", "[")):
        return None
    s = _LABEL.sub("", s).strip().strip('"“”').strip()
    if not s or len(s) > 4000:
        return None
    return {strings[0]: s}


# ---- passage features: the cues offline prompts are built from ---------------------------------

_SENT = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_QUOTED = re.compile(r"“[^”]{1,2000}”|\"[^\"\n]{1,2000}\"")
_NAME = re.compile(r"\b([A-Z][a-z]{2,})\b")
_COMMON = set("""The This That These Those There Then When What Where Which While Who Why How
He She They We You It His Her Their Our Your Its Him Them Mr Mrs Ms Dr But And Yet For Nor
After Before Because Although Though Once Now Still Even Just Only Not Yes No Oh Well So If
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December God Chapter Part One Two Three Four Five
Maybe Perhaps Every Each Some Any All None Most Much Many More Less Few""".split())


def sentences(text: str) -> list[str]:
    flat = re.sub(r"\s+", " ", text).strip()
    return [s for s in _SENT.split(flat) if s] if flat else []


def features(text: str, *, document: str = "", section: list[str] | None = None,
             previous: str = "") -> dict[str, str]:
    """The $variables for one passage: structure and simple surface cues, no LLM."""
    section = [s for s in (section or []) if s]
    sents = sentences(text)
    words = len(text.split())
    narrative = _QUOTED.sub(" ", text)
    prev_sents = sentences(previous)
    heading = section[-1] if section else document
    return {
        "passage": text,
        "words": _about(words),
        "document": document or "untitled",
        "section": " > ".join(section) if section else (document or "untitled"),
        "chapter": section[0] if section else (document or "untitled"),
        "heading": heading or "untitled",
        "topic": heading or (sents[0][:80] if sents else "this"),
        "first_sentence": sents[0] if sents else "",
        "last_sentence": sents[-1] if sents else "",
        "opening": " ".join(text.split()[:12]),
        "pov": _pov(narrative),
        "tense": _tense(narrative),
        "dialogue": "with dialogue" if len(_QUOTED.findall(text)) >= 2 else "with no dialogue",
        "names": _names(text),
        "beats": "\n".join(f"- {s}" for s in _spread(sents, 6)),
        "previous_ending": prev_sents[-1] if prev_sents else "(this is the start)",
    }


def _about(n: int) -> str:
    if n < 100:
        return f"about {max(10, round(n, -1))}"
    step = 50 if n < 1000 else 100
    return f"about {round(n / step) * step:,}"


def _count(words: set[str], text: str) -> int:
    return sum(1 for w in re.findall(r"[A-Za-z']+", text) if w.lower() in words)


def _pov(narrative: str) -> str:
    first = _count({"i", "me", "my", "mine", "myself", "we", "us", "our"}, narrative)
    second = _count({"you", "your", "yours", "yourself"}, narrative)
    third = _count({"he", "she", "him", "her", "his", "hers", "they", "them", "their"}, narrative)
    if first >= 3 and first >= 0.5 * third:
        return "first person"
    if second >= 5 and second > third:
        return "second person"
    return "third person"


def _tense(narrative: str) -> str:
    past = _count({"was", "were", "had", "did", "said", "went", "came", "looked", "felt"}, narrative)
    present = _count({"is", "are", "has", "does", "says", "goes", "comes", "looks", "feels"}, narrative)
    return "present" if present > past * 1.2 and present >= 3 else "past"


def _names(text: str) -> str:
    """Capitalised words that recur and never appear in lower case ("Later"/"later" is not a
    name; "Anna" is), minus common sentence openers. A guess, labelled as such in the docs."""
    lower = set(re.findall(r"\b[a-z]{3,}\b", text))
    counts: dict[str, int] = {}
    for m in _NAME.finditer(text):
        w = m.group(1)
        if w not in _COMMON and w.lower() not in lower:
            counts[w] = counts.get(w, 0) + 1
    top = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 2][:3]
    if not top:
        return "the characters"
    return top[0] if len(top) == 1 else ", ".join(top[:-1]) + " and " + top[-1]


def _spread(items: list[str], n: int) -> list[str]:
    if len(items) <= n:
        return items
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


# ---- verbatim answers for qa -------------------------------------------------------------------

_SPACE_OR_QUOTE = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "\u00a0": " "})


def find_span(text: str, quote: str) -> str | None:
    """The exact stretch of `text` that `quote` reproduces, tolerant of whitespace and curly vs
    straight quotes; None when the quote is not in the text (the model paraphrased)."""
    q = re.sub(r"\s+", " ", quote.translate(_SPACE_OR_QUOTE)).strip().strip('"').strip()
    if len(q.split()) < 3:
        return None
    norm_chars: list[str] = []
    index: list[int] = []
    prev_space = True
    for i, ch in enumerate(text.translate(_SPACE_OR_QUOTE)):
        if ch.isspace():
            if prev_space:
                continue
            ch = " "
            prev_space = True
        else:
            prev_space = False
        norm_chars.append(ch)
        index.append(i)
    pos = "".join(norm_chars).find(q)
    if pos < 0:
        return None
    start, end = index[pos], index[pos + len(q) - 1] + 1
    return text[start:end]
