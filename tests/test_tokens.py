"""Token counts are exact o200k_base counts and need no network."""
import gzip
import hashlib
from importlib import resources

from miner import tokens


def test_bundled_bpe_file_is_the_one_tiktoken_expects():
    raw = gzip.decompress(resources.files("miner.data").joinpath("o200k_base.tiktoken.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def test_known_counts():
    # Reference values from tiktoken's o200k_base (gpt-4o).
    assert tokens.count("Hello, world!") == 4
    assert tokens.count("") == 0
    enc = tokens.encoding()
    assert enc.decode(enc.encode_ordinary("She bit her lip. Willow Creek 😀")) == "She bit her lip. Willow Creek 😀"


def test_special_token_text_in_user_content_is_counted_as_text():
    assert tokens.count("<|endoftext|>") > 1


def test_message_count_follows_the_cookbook_method():
    msgs = [{"role": "user", "content": "Hello, world!"}]
    # 3 per message + role + content + 3 priming
    assert tokens.count_messages(msgs) == 3 + tokens.count("user") + 4 + 3


def test_count_messages_is_the_cookbook_sum_also_for_repeated_system_prompts():
    from miner.models import Message

    enc = tokens.encoding()
    system = "You are FabulousGreg, a novelist who writes in short, wry sentences. " * 20
    msgs = [Message("system", system), Message("user", "Write the opening line."),
            Message("assistant", "It was the year the river forgot its name.")]
    expected = 3 + sum(3 + len(enc.encode_ordinary(m.role)) + len(enc.encode_ordinary(m.content)) for m in msgs)
    assert tokens.count_messages(msgs) == expected
    assert tokens.count_messages(msgs) == expected  # the second time from the cache: still exact
    assert tokens.count_messages([{"role": "system", "content": system, "name": "greg"}]) == \
        3 + 3 + 1 + len(enc.encode_ordinary("system")) + len(enc.encode_ordinary(system)) + len(enc.encode_ordinary("greg"))
