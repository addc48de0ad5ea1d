"""Write samples/chatgpt-export.zip and samples/claude-export.zip: small, realistic stand-ins
for the ZIPs ChatGPT and Claude send when you export your data.

Where it sits: not part of the flow; it makes inputs for the quick start, the README and the
tests. The conversations follow one author drafting a novel (The Keeper of Gull Rock) with an
assistant: scene drafts, "make it longer", "try again but darker", "continue", title
brainstorms, a character question and a detour or two. Every feature the parsers must handle
appears at least once: regenerated answers, edited prompts, tool use, images, citations,
hidden system messages, custom instructions, model thinking, attachments, a browser-exporter
branch tree and an empty conversation.

Run it from anywhere: `python samples/make_chat_samples.py`. The output is byte-for-byte the
same on every run (fixed ids, times and ZIP dates), so the ZIPs in git only change when this
script does.
"""
from __future__ import annotations

import json
import struct
import sys
import uuid
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
NS = uuid.UUID("6f1c2a4e-8b1d-4c3e-9f7a-2d5b8e0c1a93")
ZIP_DATE = (2025, 3, 14, 9, 30, 0)
BASE = 1_735_725_600.0  # 2025-01-01 10:00 UTC


def uid(*names: object) -> str:
    return str(uuid.uuid5(NS, "/".join(map(str, names))))


def dump(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=9)


# ---- ChatGPT --------------------------------------------------------------------------------

class GptConv:
    """A conversations.json entry built message by message (mapping tree + current_node)."""

    def __init__(self, key: str, title: str | None, start: float, root: str | None = None):
        self.key = key
        self.title = title
        self.start = start
        self.t = start
        self.n = 0
        self.root = root or uid(key, "root")
        self.mapping = {self.root: {"id": self.root, "message": None, "parent": None, "children": []}}
        self.last = self.root

    def add(self, role, text=None, *, parent=None, content=None, hidden=False, recipient="all", name=None,
            channel=None, metadata=None, dt=20.0):
        self.n += 1
        self.t += dt
        nid = uid(self.key, self.n)
        parent = parent or self.last
        if content is None:
            content = {"content_type": "text", "parts": [text or ""]}
        md = {"request_id": uid(self.key, "req", self.n)[:18], "timestamp_": "absolute"}
        if role == "assistant":
            md.update({"model_slug": "gpt-4o", "default_model_slug": "gpt-4o", "parent_id": parent,
                       "finish_details": {"type": "stop", "stop_tokens": [200002]}, "is_complete": True})
        if hidden:
            md["is_visually_hidden_from_conversation"] = True
        md.update(metadata or {})
        msg = {"id": nid, "author": {"role": role, "name": name, "metadata": {}},
               "create_time": None if hidden else round(self.t, 3), "update_time": None, "content": content,
               "status": "finished_successfully", "end_turn": True if role == "assistant" and recipient == "all"
               else None, "weight": 0.0 if hidden else 1.0, "metadata": md, "recipient": recipient,
               "channel": channel}
        self.mapping[nid] = {"id": nid, "message": msg, "parent": parent, "children": []}
        self.mapping[parent]["children"].append(nid)
        self.last = nid
        return nid

    def hidden_system(self):
        return self.add("system", "", hidden=True, dt=0.0)

    def out(self, current="last", **extra):
        conv = {"title": self.title, "create_time": self.start, "update_time": round(self.t, 3),
                "mapping": self.mapping, "moderation_results": [], "current_node": self.last if current == "last"
                else current, "plugin_ids": None, "conversation_id": uid(self.key), "conversation_template_id": None,
                "gizmo_id": None, "gizmo_type": None, "is_archived": False, "is_starred": None, "safe_urls": [],
                "blocked_urls": [], "default_model_slug": "gpt-4o", "conversation_origin": None, "voice": None,
                "async_status": None, "disabled_tool_ids": [], "is_do_not_remember": False, "memory_scope":
                "global_enabled", "sugar_item_id": None, "id": uid(self.key)}
        if current is None:
            del conv["current_node"]
        conv.update(extra)
        return conv


SCENE_1 = ("The lamp at Gull Rock had not been lit in eleven days. Mara Quill climbed the ninety-one steps "
           "anyway, every evening, and stood beside the cold lens while the ferry passed without slowing.")
SCENE_1_LONG = (SCENE_1 + "\n\nShe knew the steps by their complaints. The fourth groaned, the thirty-second "
                "clicked like a tongue, the last one gave a little, as if apologising. From the gallery she "
                "could see the whole of the sound: the mainland lights, the dark hump of Crane Island, the "
                "white stitching of the tide along the reef.\n\nShe wound the clock that no longer turned "
                "anything. It was the only promise she still kept.")
SCENE_1_DARK = ("I stopped lighting the lamp on the night they pulled my brother out of the sound. Eleven days "
                "now. I still climb the ninety-one steps, because my legs do not know how to stop, and I stand "
                "beside the cold lens and watch the ferry go by without slowing.\n\nLet them run aground. "
                "Let them learn what the dark is for.")
REGENERATED_1 = "Mara had kept the light for twenty years, and on the twenty-first she let it die."


def chatgpt_conversations() -> list[dict]:
    convs = []

    # 1. Opening scene: custom instructions, thinking, a regenerated answer, two retries.
    c = GptConv("gpt-opening", "Opening scene: the dark lamp", BASE, root="client-created-root")
    sys_id = c.hidden_system()
    c.add("user", content={"content_type": "user_editable_context",
                           "user_profile": "I write literary fiction set on the Cornish coast.",
                           "user_instructions": "Keep prose spare. British spelling."}, hidden=True, dt=0.0,
          parent=sys_id)
    u = c.add("user", "Draft the opening paragraph of my novel. Mara Quill is a lighthouse keeper who has "
                      "stopped lighting the lamp. Quiet, unsettling.")
    c.add("assistant", REGENERATED_1, parent=u)  # the first answer, regenerated away
    c.add("assistant", content={"content_type": "thoughts", "thoughts": [
        {"summary": "Considering tone", "content": "Spare, coastal, hint at grief without naming it.",
         "chunks": [], "finished": True}], "source_analysis_msg_id": uid("gpt-opening", "analysis")}, parent=u)
    c.add("assistant", content={"content_type": "reasoning_recap", "content": "Thought for 6s"})
    c.add("assistant", SCENE_1)
    c.add("user", "Can you make it longer?")
    c.add("assistant", SCENE_1_LONG)
    c.add("user", "Try again but darker, in first person.")
    c.add("assistant", SCENE_1_DARK)
    convs.append(c.out())

    # 2. Title brainstorm in a custom GPT (its instructions are a hidden system message); the
    #    prompt was edited, and only the edited branch was kept.
    c = GptConv("gpt-titles", "Novel title ideas", BASE + 86_400)
    sys_id = c.add("system", "You are Title Smith, a custom GPT that brainstorms book titles. Offer five at a "
                             "time, numbered.", hidden=True, dt=0.0)
    c.add("user", "Give me five titles for a novel about a lighthouse keeper.", parent=sys_id)
    c.add("assistant", "1. The Lamp Room\n2. Keeper\n3. Northern Light\n4. Beacon\n5. The Lonely Tower")
    c.add("user", "Give me five titles for a literary novel about a lighthouse keeper who stops lighting the "
                  "lamp after her brother drowns.", parent=sys_id, dt=60.0)
    c.add("assistant", "1. The Keeper of Gull Rock\n2. What the Dark Is For\n3. Ninety-One Steps\n"
                       "4. A Light Unlit\n5. The Sound Between")
    c.add("user", "I love 'What the Dark Is For'. Is it too bleak for a debut?")
    c.add("assistant", "Not too bleak, and it makes a promise: that the book will answer the question. "
                       "If your ending offers even a sliver of light, the title becomes ironic in the best way.")
    convs.append(c.out(gizmo_id="g-7TitleSmith01", gizmo_type="gpt"))

    # 3. A timeline check with the code interpreter (2023-style custom instructions).
    c = GptConv("gpt-timeline", "Timeline check", BASE + 2 * 86_400)
    c.add("system", "", hidden=True, dt=0.0)
    c.add("system", "The user provided the following information about themselves: I am a novelist.",
          metadata={"is_user_system_message": True, "user_context_message_data": {
              "about_user_message": "I am a novelist.", "about_model_message": "Be concise."}}, dt=0.0)
    c.add("user", "Mara was born in March 1921. The storm happens in the winter after she turns 37, and her "
                  "brother is six years younger. How old is he during the storm?")
    c.add("assistant", "Let me work through the dates.", metadata={"finish_details": {"type": "stop"}})
    c.add("assistant", content={"content_type": "code", "language": "python", "response_format_name": None,
                                "text": "mara_born = 1921\nstorm_year = mara_born + 37\nbrother_age = 37 - 6\n"
                                        "print(storm_year, brother_age)"}, recipient="python")
    c.add("tool", content={"content_type": "execution_output", "text": "1958 31"}, name="python",
          metadata={"aggregate_result": {"status": "success", "code": "print(storm_year, brother_age)"}})
    c.add("assistant", "The storm falls in the winter of 1958 (early 1959 at the latest), and her brother is 31, "
                       "or 30 if his birthday comes after the storm.")
    convs.append(c.out())

    # 4. Cover sketch: an image uploaded with the question.
    c = GptConv("gpt-cover", "Cover mood", BASE + 3 * 86_400)
    c.hidden_system()
    c.add("user", content={"content_type": "multimodal_text", "parts": [
        {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-7QmWc2Lr9TzKp4XaBn3Hd1",
         "size_bytes": 70, "width": 8, "height": 8, "fovea": None, "metadata": None},
        "Here's my rough cover sketch. Does the mood fit a quiet, grief-soaked book?"]})
    c.add("assistant", "The palette fits: the grey-green sea and the single unlit window already say 'absence'. "
                       "I would drop the seagull in the corner; it pulls the eye away from the tower.")
    convs.append(c.out())

    # 5. Research with web browsing: citations in both the old and the new style.
    c = GptConv("gpt-research", "How lighthouse lamps worked", BASE + 4 * 86_400)
    c.hidden_system()
    c.add("user", "How did a 1950s lighthouse keeper keep the lamp turning? I need the details right.")
    c.add("assistant", content={"content_type": "code", "language": "unknown",
                                "text": "search(\"1950s lighthouse clockwork lens rotation keeper\")"},
          recipient="browser")
    c.add("tool", content={"content_type": "tether_browsing_display", "result": "# 【0†Lighthouse clockwork】",
                           "summary": None}, name="browser")
    c.add("assistant", "Many lenses floated on a bath of mercury and were turned by a clockwork weight that "
                       "the keeper wound by hand every few hours 【4†source】. The weight dropped down the "
                       "centre of the tower as it ran.")
    c.add("user", "And when did they switch to electric?")
    c.add("assistant", "Most British lights were electrified between the 1920s and the 1970s "
                       "\ue200cite\ue202turn0search2\ue202turn0search5\ue201. Remote rocks were often among the "
                       "last, so a keeper on Gull Rock in 1958 could plausibly still be winding clockwork "
                       "\ue200cite\ue202turn0search7\ue201.", channel="final",
          metadata={"content_references": [{"matched_text": "\ue200cite\ue202turn0search2\ue202turn0search5\ue201",
                                            "type": "grouped_webpages", "alt": "([Trinity House](https://example.org))"}]})
    convs.append(c.out())

    # 6. A character question; the export lost current_node, so the newest leaf is used.
    c = GptConv("gpt-letters", "Why Mara keeps the letters", BASE + 5 * 86_400)
    c.hidden_system()
    u = c.add("user", "Why would Mara keep her brother's letters unopened for years?")
    c.add("assistant", "Perhaps she is afraid of what he wrote.", parent=u)
    c.add("assistant", "Because opening them would make the last one the last one. As long as a letter is "
                       "sealed, he still has something left to say to her.", parent=u, dt=45.0)
    c.add("user", "Continue that thought: what happens when she finally opens one?")
    c.add("assistant", "She opens the shortest first, expecting a grievance. It is a grocery list, with 'matches' "
                       "underlined twice, and she laughs for the first time in the book.")
    convs.append(c.out(current=None))

    # 7. The storm scene: continue, more dialogue, and a detour about the weather.
    c = GptConv("gpt-storm", "Storm scene", BASE + 6 * 86_400)
    c.hidden_system()
    c.add("user", "Write the scene where the ferry captain climbs up to confront Mara about the dark lamp.")
    c.add("assistant", "Tom Pender did not knock. He came up the steps two at a time and stood in the lamp room "
                       "doorway, dripping, cap in his fist.\n\n'Eleven nights,' he said.")
    c.add("user", "continue")
    c.add("assistant", "Mara did not turn from the glass. 'Twelve, if you count tonight.'\n\n'I had forty souls "
                       "aboard on Tuesday. Forty. I came through the Manacles by memory.'")
    c.add("user", "Add more dialogue, let her push back.")
    c.add("assistant", "'Then your memory is better than the light ever was.'\n\n'Don't.' He stepped closer. "
                       "'Don't make this about Danny.'\n\n'Everything on this rock is about Danny. You just "
                       "don't have to live in it.'")
    c.add("user", "Unrelated: is it normal for my back to ache after writing all day?")
    c.add("assistant", "Very common. Get up every 30 to 45 minutes, keep the screen at eye level, and see a doctor "
                       "if the pain is sharp or spreads down a leg.")
    convs.append(c.out())
    return convs


def tiny_png() -> bytes:
    """An 8x8 sea-grey PNG: the 'uploaded image' of the sample export."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes((96, 112, 110)) * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def chatgpt_zip() -> dict[str, bytes]:
    convs = chatgpt_conversations()
    opening = convs[0]
    liked = next(n for n, v in opening["mapping"].items()
                 if v["message"] and v["message"]["content"].get("parts") == [SCENE_1_DARK])
    html = ("<!DOCTYPE html>\n<html>\n<head><meta charset=\"UTF-8\"><title>ChatGPT Data Export</title></head>\n"
            "<body><h1>ChatGPT Data Export</h1>\n<div id=\"root\"></div>\n"
            "<script>\n// The real file embeds every conversation here (var jsonData = [...]).\n"
            "var jsonData = [];\n</script>\n</body>\n</html>\n")
    return {
        "chat.html": html.encode(),
        "conversations.json": dump(convs),
        "file-7QmWc2Lr9TzKp4XaBn3Hd1-cover-sketch.png": tiny_png(),
        "message_feedback.json": dump([{"id": uid("feedback", 1), "conversation_id": opening["id"],
                                        "user_id": "user-8kQ2mXv0pLr4", "rating": "thumbsUp",
                                        "create_time": "2025-01-01T10:05:12.000000+00:00", "workspace_id": None,
                                        "content": json.dumps({"message_id": liked, "tags": []}),
                                        "storage_protocol": "zstd::1.5.5"}]),
        "shared_conversations.json": dump([]),
        "user.json": dump({"id": "user-8kQ2mXv0pLr4", "email": "author@example.com",
                           "chatgpt_plus_user": True, "phone_number": None}),
    }


# ---- Claude ---------------------------------------------------------------------------------

def iso(t: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClaudeConv:
    def __init__(self, key: str, name: str, start: float):
        self.key, self.name, self.start, self.t, self.msgs = key, name, start, start, []

    def add(self, sender, *blocks, attachments=(), files=(), dt=30.0, **extra):
        self.t += dt
        blocks = [{"type": "text", "text": b} if isinstance(b, str) else b for b in blocks]
        for b in blocks:
            b.setdefault("start_timestamp", iso(self.t - 2))
            b.setdefault("stop_timestamp", iso(self.t))
            b.setdefault("flags", None)
            if b["type"] == "text":
                b.setdefault("citations", [])
        msg = {"uuid": uid(self.key, len(self.msgs)),
               # The real export's `text` runs every block together, thinking included.
               "text": "".join(b.get("text") or b.get("thinking") or "" for b in blocks),
               "content": blocks, "sender": sender, "created_at": iso(self.t), "updated_at": iso(self.t),
               "attachments": list(attachments), "files": list(files)}
        msg.update(extra)
        self.msgs.append(msg)
        return msg["uuid"]

    def out(self, **extra):
        conv = {"uuid": uid(self.key), "name": self.name, "summary": "", "created_at": iso(self.start),
                "updated_at": iso(self.t), "account": {"uuid": uid("account")}, "chat_messages": self.msgs}
        conv.update(extra)
        return conv


def thinking(text: str) -> dict:
    return {"type": "thinking", "thinking": text, "summaries": [{"summary": "Thinking about the request"}],
            "cut_off": False, "alternative_display_type": None}


CLAUDE_BASE = BASE + 30 * 86_400
ROOT = "00000000-0000-4000-8000-000000000000"


def claude_conversations() -> list[dict]:
    convs = []

    c = ClaudeConv("cl-harbour", "Harbour scene draft", CLAUDE_BASE)
    c.add("human", "Write a short scene: Mara walks into the village for the first time since the funeral.")
    c.add("assistant", thinking("Keep it restrained; the village should feel like it is watching her."),
          "The shop bell rang and every conversation in Pascoe's stopped, the way a clock stops: not at once, "
          "but as if something had run out.")
    c.add("human", "can you make it longer?")
    c.add("assistant", thinking("Extend with sensory detail and one exchange of dialogue."),
          "The shop bell rang and every conversation in Pascoe's stopped, the way a clock stops: not at once, "
          "but as if something had run out.\n\nMrs Pascoe found a reason to straighten the tins. Mara took a "
          "loaf, a tin of pilchards, a box of matches.\n\n'Still up there, then,' said Mrs Pascoe.\n\n"
          "'Still up there.'")
    convs.append(c.out())

    c = ClaudeConv("cl-funeral", "Funeral flashback", CLAUDE_BASE + 86_400)
    c.add("human", "Draft the funeral flashback, third person, past tense.")
    c.add("assistant", "They buried Danny on a bright day, which everyone agreed was a kind of insult.")
    c.add("human", "Try again but darker, in first person.")
    c.add("assistant", thinking("First person, Mara's voice, colder."),
          "We buried my brother on a bright day. I remember hating the sun for its manners, for showing up "
          "when nobody had asked it to.")
    c.add("human", "continue")
    c.add("assistant", "The vicar said the sea gives back what it takes. I have lived beside the sea all my life "
                       "and I can tell you it gives back nothing but weed and glass.")
    convs.append(c.out())

    c = ClaudeConv("cl-fog", "Fog signals in the 1950s", CLAUDE_BASE + 2 * 86_400)
    c.add("human", "What fog signal would a Cornish rock lighthouse have used in 1958?")
    c.add("assistant", "Let me check.",
          {"type": "tool_use", "id": "toolu_01Fog", "name": "web_search",
           "input": {"query": "Cornish lighthouse fog signal 1950s diaphone"}, "message": "Searching the web",
           "integration_name": None, "integration_icon_url": None, "context": None, "display_content": None},
          {"type": "tool_result", "tool_use_id": "toolu_01Fog", "name": "web_search", "is_error": False,
           "content": [{"type": "knowledge", "title": "Fog signals", "url": "https://example.org/fog",
                        "text": "Diaphones replaced explosive signals at many stations."}]},
          "Most likely a diaphone: a compressed-air horn with the famous two-tone 'bee-oh'. Some remote rocks "
          "still used explosive charges fired from a jib.")
    convs.append(c.out())

    c = ClaudeConv("cl-chapter3", "What is wrong with chapter 3", CLAUDE_BASE + 3 * 86_400)
    c.add("human", "Here's chapter 3. Something drags in the middle, can you see what?",
          attachments=[{"file_name": "chapter-03.txt", "file_size": 262, "file_type": "txt",
                        "extracted_content": "Chapter Three\n\nThe supply boat came on Thursdays. Mara counted the "
                                             "crates twice, signed the ledger, and talked about the weather for "
                                             "four pages with a man she did not like."},
                       {"file_name": "", "file_size": 84, "file_type": "txt",
                        "extracted_content": "Note to self: the ledger scene should reveal the missing paraffin."}])
    c.add("assistant", "The weather conversation runs four pages without changing anything between them. Cut it "
                       "to a paragraph and let the ledger carry the tension: the paraffin she did not order.")
    convs.append(c.out())

    # Browser-exporter shape: every branch, with parent links and the leaf on screen.
    c = ClaudeConv("cl-epigraph", "Epigraph ideas", CLAUDE_BASE + 4 * 86_400)
    u1 = c.add("human", "Suggest an epigraph for a novel about a keeper who lets the light go out.",
               parent_message_uuid=ROOT, index=0, stop_reason=None, truncated=False)
    a1 = c.add("assistant", "'Do not go gentle into that good night.' (Dylan Thomas) Although it is perhaps too "
                            "familiar.", parent_message_uuid=u1, index=1, stop_reason="stop_sequence",
               truncated=False)
    a1b = c.add("assistant", "'The lamp burns low, and the wind is high.' (a Victorian keeper's log) If you can "
                             "find a real log entry like it, nothing would suit better.",
                parent_message_uuid=u1, index=2, stop_reason="stop_sequence", truncated=False)
    u2 = c.add("human", "I like the keeper's log idea. Could I invent one?", parent_message_uuid=a1b, index=3,
               stop_reason=None, truncated=False)
    c.add("assistant", "Yes, as long as it's presented as fiction: 'Gull Rock, 3 Jan. Lamp lit 4.10 pm. "
                       "Wind NNW, rising. All well.' The 'all well' will do the work.",
          parent_message_uuid=u2, index=4, stop_reason="stop_sequence", truncated=False)
    convs.append(c.out(current_leaf_message_uuid=c.msgs[-1]["uuid"]))
    del a1  # the first answer stays in the dump, on an abandoned branch

    convs.append(ClaudeConv("cl-empty", "", CLAUDE_BASE + 5 * 86_400).out())

    c = ClaudeConv("cl-query", "Query letter", CLAUDE_BASE + 6 * 86_400)
    c.add("human", "Unrelated to the book itself: how long should a query letter to an agent be?")
    c.add("assistant", "One page, around 250 to 350 words: a hook, a short pitch of the story, comparable "
                       "titles, and two lines about you.")
    convs.append(c.out())
    return convs


def claude_zip() -> dict[str, bytes]:
    return {
        "conversations.json": dump(claude_conversations()),
        "projects.json": dump([{"uuid": uid("project"), "name": "The Keeper of Gull Rock",
                                "description": "Novel in progress", "is_private": True, "is_starter_project": False,
                                "prompt_template": "", "created_at": iso(CLAUDE_BASE - 86_400),
                                "updated_at": iso(CLAUDE_BASE), "creator": {"uuid": uid("account"),
                                                                           "full_name": "Ann Author"},
                                "docs": [{"uuid": uid("doc"), "filename": "outline.md",
                                          "content": "1. The dark lamp\n2. The village\n3. The supply boat",
                                          "created_at": iso(CLAUDE_BASE - 86_400)}]}]),
        "users.json": dump([{"uuid": uid("account"), "full_name": "Ann Author",
                             "email_address": "author@example.com", "verified_phone_number": None}]),
    }


def main(out_dir: Path = HERE) -> None:
    write_zip(out_dir / "chatgpt-export.zip", chatgpt_zip())
    write_zip(out_dir / "claude-export.zip", claude_zip())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
