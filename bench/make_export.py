"""Write a large synthetic ChatGPT export (conversations.json) with realistic shape: branching
(regenerations, edited prompts), hidden system nodes, tool detours, metadata-heavy nodes.

    python bench/make_export.py OUT.json --mb 400
"""
from __future__ import annotations

import argparse
import random
import uuid

import orjson

WORDS = ("the a she he it they rain window letter garden night river house road voice door silence "
         "morning light cold warm old new small quiet dark bright walked said looked turned waited "
         "remembered because while after before until although chapter scene draft dialogue").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng, rng.randint(6, 18)) for _ in range(rng.randint(2, 8)))


def node(rng, nid, parent, role, text, t, **extra):
    meta = {"model_slug": "gpt-4o", "request_id": uuid.UUID(int=rng.getrandbits(128)).hex, "timestamp_": "absolute",
            "message_type": None, "finish_details": {"type": "stop", "stop_tokens": [200002]}, "citations": [],
            "content_references": [], "is_complete": True, "parent_id": parent}
    meta.update(extra.pop("metadata", {}))
    msg = {"id": nid, "author": {"role": role, "name": None, "metadata": {}}, "create_time": t, "update_time": None,
           "content": extra.pop("content", {"content_type": "text", "parts": [text]}), "status": "finished_successfully",
           "end_turn": True if role == "assistant" else None, "weight": 1.0, "metadata": meta,
           "recipient": extra.pop("recipient", "all"), "channel": None}
    return {"id": nid, "message": msg, "parent": parent, "children": []}


def conversation(rng: random.Random, i: int) -> dict:
    mapping = {}
    root = str(uuid.UUID(int=rng.getrandbits(128)))
    mapping[root] = {"id": root, "message": None, "parent": None, "children": []}
    t = 1_700_000_000.0 + i * 3600
    sys_id = str(uuid.UUID(int=rng.getrandbits(128)))
    mapping[sys_id] = node(rng, sys_id, root, "system", "", t, metadata={"is_visually_hidden_from_conversation": True})
    mapping[root]["children"].append(sys_id)
    parent = sys_id
    last = sys_id
    for turn in range(rng.randint(2, 12)):
        uid = str(uuid.UUID(int=rng.getrandbits(128)))
        mapping[uid] = node(rng, uid, parent, "user", paragraph(rng), t)
        mapping[parent]["children"].append(uid)
        if rng.random() < 0.1:  # an edited prompt: a sibling user branch left behind
            eid = str(uuid.UUID(int=rng.getrandbits(128)))
            mapping[eid] = node(rng, eid, parent, "user", paragraph(rng), t)
            mapping[parent]["children"].append(eid)
        prev = uid
        if rng.random() < 0.1:  # a code-interpreter detour
            cid = str(uuid.UUID(int=rng.getrandbits(128)))
            mapping[cid] = node(rng, cid, prev, "assistant", "", t, recipient="python",
                                content={"content_type": "code", "language": "python", "text": "print(1)"})
            mapping[prev]["children"].append(cid)
            oid = str(uuid.UUID(int=rng.getrandbits(128)))
            mapping[oid] = node(rng, oid, cid, "tool", "", t, content={"content_type": "execution_output", "text": "1"})
            mapping[cid]["children"].append(oid)
            prev = oid
        answers = []
        for _ in range(2 if rng.random() < 0.15 else 1):  # regenerations
            aid = str(uuid.UUID(int=rng.getrandbits(128)))
            mapping[aid] = node(rng, aid, prev, "assistant", "\n\n".join(paragraph(rng) for _ in range(rng.randint(1, 5))), t)
            mapping[prev]["children"].append(aid)
            answers.append(aid)
        parent = last = answers[-1]
        t += 60
    return {"title": sentence(rng, 4), "create_time": 1_700_000_000.0 + i * 3600, "update_time": t, "mapping": mapping,
            "moderation_results": [], "current_node": last, "plugin_ids": None, "conversation_id": root, "id": root,
            "conversation_template_id": None, "gizmo_id": None, "is_archived": False, "safe_urls": [],
            "default_model_slug": "gpt-4o"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=400)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    target = int(a.mb * 1024 * 1024)
    written = 0
    i = 0
    with open(a.out, "wb") as f:
        f.write(b"[")
        while written < target:
            b = orjson.dumps(conversation(rng, i))
            if i:
                f.write(b", ")
            f.write(b)
            written += len(b) + 2
            i += 1
        f.write(b"]")
    print(f"{a.out}: {i} conversations, {written / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
