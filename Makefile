# The README's commands. CI (.ci/run) runs `make install` then `make test`.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install test test-slow demo leaderboard leaderboard-check page-screenshot bench bench-train bench-data gpu-check clean

install:  ## the package, its dependencies and the test tools
	$(PIP) install -e ".[dev]" -e examples/attention-plugin

test:  ## unit tests, plus the benchmark cases run once each (timing disabled); not the slow set. One worker per core (pytest-xdist, a test file per worker at a time), one thread each
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest -q -m "not slow" -n auto --dist loadfile tests benchmarks --benchmark-disable

test-slow:  ## end-to-end and trained-suite cases: kill -9 and resume, process pool, a real Slurm (start one: bash .ci/slurm-up.sh), the page in a browser, the committed board, export, Grad-CAM weights
	$(PYTHON) -m pytest -q -m slow tests

demo:  ## the embedded demo suite (phantoms, no data needed)
	medattn-bench run suites/demo.yaml

leaderboard:  ## render leaderboard/README.md and leaderboard/index.html from the stored records
	medattn-bench leaderboard leaderboard/records --out leaderboard/README.md --html leaderboard/index.html

leaderboard-check:
	medattn-bench leaderboard leaderboard/records --out leaderboard/README.md --html leaderboard/index.html --check

page-screenshot:  ## the README's picture of leaderboard/index.html, taken by the browser test (needs chromium)
	MEDATTN_PAGE_SCREENSHOT=leaderboard/figures/page.png $(PYTHON) -m pytest -q tests/test_page.py -k committed_page

bench:  ## micro-benchmarks of every block and the statistics; JSON saved under benchmarks/results/
	mkdir -p benchmarks/results
	$(PYTHON) -m pytest -q benchmarks --benchmark-only --benchmark-json=benchmarks/results/bench-$$(date -u +%Y%m%dT%H%M%SZ).json

bench-train:  ## trainer vs bare loop, and vs timm (installed here only); JSON saved under benchmarks/results/
	$(PIP) install -q timm
	$(PYTHON) benchmarks/bench_train.py

bench-data:  ## first vs cached load of the 2,400 shared real images; JSON under benchmarks/results/
	$(PYTHON) benchmarks/bench_data.py

gpu-check:  ## on a CUDA machine: CUDA tests, 224 px profile of the paper variants, the demo on the GPU, timm anchor
	$(PYTHON) benchmarks/gpu_check.py

clean:
	rm -rf .pytest_cache build *.egg-info
