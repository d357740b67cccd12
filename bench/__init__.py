"""The benchmark: the gateway against a hand-written lower bound and a naive resolver per field.

``make bench`` (``python -m bench``) creates four synthetic agencies on 127.0.0.1 with
injected latency, starts the three variants as their own server processes, drives them
side by side with one in-process load generator and writes ``bench/RESULTS.md``.
"""
