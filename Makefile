# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Top-level wrapper around CMake. On a fresh Debian machine, run as root,
# every target first installs what is missing (scripts/install-deps.sh).
#
#   make            release build in build/release
#   make check      ASan+UBSan build of everything, all tests (and the
#                   SPIN model); a ThreadSanitizer build running the
#                   concurrency tests; a release build installed into a
#                   temporary prefix, with the example built against it
#   make demo       release build, then `udax demo` on build/udax-demo.pool
#                   (created on first use, sparse, reused afterwards)
#   make bench      release build, benchmarks, JSON under bench/results/
#   make install    install the release build (PREFIX=/usr/local)
#   make clean      remove build/

JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
CTEST  := ctest --output-on-failure --no-tests=error
# ThreadSanitizer cannot map its shadow with the kernel's full ASLR
# entropy on some kernels; run its tests with randomisation off.
NOASLR := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)

.PHONY: all deps release check check-asan check-tsan check-install demo bench install clean

all: release

deps:
	@scripts/install-deps.sh

release: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build/release -j$(JOBS)

check: check-asan check-tsan check-install

check-asan: deps
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug \
		-DUDAX_SANITIZE=address,undefined >/dev/null
	cmake --build build/asan -j$(JOBS)
	cd build/asan && $(CTEST) -j$(JOBS)

check-tsan: deps
	cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug \
		-DUDAX_SANITIZE=thread -DUDAX_BENCH=OFF >/dev/null
	cmake --build build/tsan -j$(JOBS)
	cd build/tsan && $(NOASLR) $(CTEST) -L concurrency

demo: release
	./build/release/udax demo build/udax-demo.pool

check-install: release
	cd build/release && $(CTEST) -L install

bench: release
	mkdir -p bench/results
	./build/release/bench/lockbench -o bench/results/lockbench.json

install: release
	cmake --install build/release

clean:
	rm -rf build
