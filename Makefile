# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Top-level wrapper around CMake. On a fresh Debian machine, run as root,
# every target first installs what is missing (scripts/install-deps.sh).
#
#   make            release build in build/release: the library and the
#                   udax tool only (tests, benchmarks and fuzz targets are
#                   built by the targets that run them)
#   make check      ASan+UBSan build of everything, all tests (and the
#                   SPIN model); a ThreadSanitizer build running the
#                   concurrency tests; a release build installed into a
#                   temporary prefix, with the example built against it;
#                   and 20 seconds of the pool fuzzer (check-fuzz)
#   make demo       release build, then `udax demo` on build/udax-demo.pool
#                   (created on first use, sparse, reused afterwards)
#   make bench      release build and its benchmarks (--target benchmarks),
#                   JSON and PNG charts under bench/results/; fio through
#                   libudax-preload.so against tmpfs, udax/kernel ratios
#                   printed (preload.json)
#   make soak       release build of tests/api_soak in build/soak, then
#                   MINUTES (default 10) of random stress of one file
#                   through real mappings, pread/pwrite, truncate, punch,
#                   msync and fsync, against a shadow copy (its pool in
#                   $TMPDIR, else /dev/shm)
#   make fuzz       libFuzzer build (clang) in build/fuzz, seeds generated
#                   into build/fuzz/corpus, the inputs of fuzz/regressions
#                   replayed, then SECONDS (default 60) of fuzzing pool
#                   images: fails on any crash, leak, sanitizer report or
#                   broken invariant (crashing input in build/fuzz/artifacts)
#   make mutants    apply each mutation of scripts/mutants.list in turn
#                   (restored after each), build and run the tests it
#                   names in build/mutants: fails if one survives, or if
#                   a snippet is no longer in the source (not in check)
#   make install    install the release build (PREFIX=/usr/local)
#   make clean      remove build/
#
# Warnings are errors in the check-asan and check-tsan builds; WERROR=ON
# makes them errors in the others too (.ci/run sets it). Off by default,
# so that a newer compiler's new warnings do not break a user's build.

JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
MINUTES ?= 10
SECONDS ?= 60
WERROR ?= OFF
# Fuzzer processes (libFuzzer -fork), and per-input leak checks (0: leaks
# are still caught, by LeakSanitizer when the fuzzer exits, but not tied
# to an input; faster: liburcu frees index nodes after a grace period, so
# many inputs end with more mallocs than frees, and libFuzzer runs each
# of those again under a full leak scan).
FUZZ_JOBS ?= 1
FUZZ_LEAKS ?= 0
FUZZ_FLAGS := -timeout=10 -rss_limit_mb=2048 -detect_leaks=$(FUZZ_LEAKS) \
	      -artifact_prefix=artifacts/ -print_final_stats=1 \
	      $(if $(filter-out 0 1,$(FUZZ_JOBS)),-fork=$(FUZZ_JOBS))
CTEST  := ctest --output-on-failure --no-tests=error
# ThreadSanitizer cannot map its shadow with the kernel's full ASLR
# entropy on some kernels; run its tests with randomisation off.
NOASLR := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)

.PHONY: all deps test-deps release check check-asan check-tsan check-install check-fuzz \
	demo bench soak fuzz fuzz-build mutants install clean

all: release

deps:
	@scripts/install-deps.sh

# What the tests drive (tool_cli's JSON checks, the preload library's
# programs), installed once before ctest runs them in parallel.
test-deps:
	@scripts/install-deps.sh python3 fio sqlite3 coreutils

release: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) -DUDAX_WERROR=$(WERROR) \
		-DUDAX_TESTS=OFF -DUDAX_BENCH=OFF >/dev/null
	cmake --build build/release -j$(JOBS)

check: check-asan check-tsan check-install check-fuzz

check-asan: deps test-deps
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DUDAX_WERROR=ON \
		-DUDAX_SANITIZE=address,undefined >/dev/null
	cmake --build build/asan -j$(JOBS)
	cd build/asan && $(CTEST) -j$(JOBS)

check-tsan: deps
	cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DUDAX_WERROR=ON \
		-DUDAX_SANITIZE=thread -DUDAX_BENCH=OFF >/dev/null
	cmake --build build/tsan -j$(JOBS)
	cd build/tsan && $(NOASLR) $(CTEST) -L concurrency

# The demo's pool. In the build tree by default; on a disk-backed
# filesystem every metadata commit waits for the disk (msync), so
# DEMO_POOL=/dev/shm/udax-demo.pool shows the engine rather than the disk.
DEMO_POOL ?= build/udax-demo.pool

mutants: deps
	JOBS=$(JOBS) scripts/mutants.sh

demo: release
	./build/release/udax demo $(DEMO_POOL)

check-install: release test-deps
	cd build/release && $(CTEST) -L install

bench: release
	@scripts/install-deps.sh gnuplot-nox fio
	cmake --build build/release -j$(JOBS) --target benchmarks
	mkdir -p bench/results
	./build/release/bench/lockbench -o bench/results/lockbench.json
	./build/release/bench/faultbench -o bench/results/faultbench.json
	./build/release/bench/mmapbench -o bench/results/mmapbench.json
	scripts/bench-charts.sh bench/results
	scripts/preload-bench.sh build/release/libudax-preload.so \
		bench/results/preload.json

soak: deps
	cmake -S . -B build/soak -DCMAKE_BUILD_TYPE=Release \
		-DUDAX_WERROR=$(WERROR) -DUDAX_BENCH=OFF >/dev/null
	cmake --build build/soak -j$(JOBS) --target api_soak
	@echo "soak: $(CURDIR)/build/soak/tests/api_soak -m $(MINUTES)"
	./build/soak/tests/api_soak -m $(MINUTES)

# The fuzzer: build, seeds, regressions, then fuzz (fuzz/pool_fuzz.c).
fuzz-build:
	@scripts/install-deps.sh clang libclang-rt-dev llvm
	CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DUDAX_FUZZ=ON -DUDAX_TESTS=OFF -DUDAX_BENCH=OFF \
		-DUDAX_WERROR=$(WERROR) >/dev/null
	cmake --build build/fuzz -j$(JOBS) --target pool_fuzz make_corpus \
		pool_fuzz_replay
	cd build/fuzz && ./fuzz/make_corpus corpus >/dev/null
	mkdir -p build/fuzz/artifacts
	build/fuzz/fuzz/pool_fuzz_replay fuzz/regressions

fuzz: fuzz-build
	cd build/fuzz && ./fuzz/pool_fuzz -max_total_time=$(SECONDS) \
		$(FUZZ_FLAGS) corpus

check-fuzz:
	$(MAKE) fuzz SECONDS=20

install: release
	cmake --install build/release

clean:
	rm -rf build
