"""``python -m bench``: run the benchmark and write ``bench/RESULTS.md``."""

from bench.run import main

raise SystemExit(main())
