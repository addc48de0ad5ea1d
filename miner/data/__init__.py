"""Bundled data: the o200k_base BPE ranks (from tiktoken, MIT licence) so token counts never need the network."""
