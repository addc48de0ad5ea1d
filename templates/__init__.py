"""Prompt templates, rule files and price tables shipped with miner (YAML/text data, read with importlib.resources). Copy one, edit it, and pass it with --template / --retry-rules / --prices."""
