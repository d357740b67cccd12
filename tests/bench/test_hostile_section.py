"""`make bench-hostile` owns one section of bench/RESULTS.md; `make bench` keeps it."""

from __future__ import annotations

from bench.hostile import SECTION, hostile_document, section_of, with_section

BENCH = "# Benchmark results\n\n## Results\n\n| a | b |\n\nPeak memory: 111 MB\n"


def test_the_section_is_added_replaced_and_carried_over() -> None:
    first = with_section(BENCH, f"{SECTION}\n\nrun 1\n")
    assert first.startswith(BENCH.rstrip("\n")) and first.endswith(f"{SECTION}\n\nrun 1\n")
    second = with_section(first, f"{SECTION}\n\nrun 2\n")
    assert "run 1" not in second and second.count(SECTION) == 1 and "Peak memory" in second
    rewritten = "# Benchmark results\n\n## Results\n\n| c | d |\n"
    kept = with_section(rewritten, section_of(second))
    assert "| c | d |" in kept and "| a | b |" not in kept and section_of(kept).endswith("run 2\n")
    assert with_section(rewritten, section_of(rewritten)) == rewritten


def test_the_hostile_documents_are_distinct() -> None:
    documents = [hostile_document(i) for i in range(1_200)]
    assert len(set(documents)) == len(documents)
