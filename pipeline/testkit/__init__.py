"""What the test suite and the benchmarks share, importable from both without path tricks:

- `server`: a loopback HTTP server (routes, ETag/304, gzip, redirects, slow and broken answers);
- `corpus`: the shared real-world data beside the repository (../shared) served on loopback;
- `pages`: made-up news pages;
- `fakes`: a small deterministic embedder for unit tests;
- `scoring`: token-level precision/recall/F1 of extracted text;
- `embedcache`: embeddings of benchmark texts cached on disk.

newswatch itself never imports this package.
"""

from pathlib import Path

#: The repository (an editable install or a source checkout) and the shared data beside it.
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
