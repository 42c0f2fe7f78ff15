# Thin wrapper around CMake.  `make run` and `make test` work on a fresh
# Debian 12 machine: they install what is missing (as root), build, and then
# start the server or run the whole test suite.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
LISTEN     ?= 127.0.0.1:8080
DATA       ?= .tycho
CMAKE_FLAGS ?=
ifdef CI
CMAKE_FLAGS += -DTY_WERROR=ON
endif

.PHONY: all deps test-deps build build-asan build-fuzz fuzz fuzz-ci run test test-asan bench clean

all: build

deps:
	@.ci/install-deps

test-deps:
	@.ci/install-deps --test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	    -DTY_SANITIZE=address,undefined $(CMAKE_FLAGS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The fuzz targets of fuzz/ under libFuzzer with ASan+UBSan: clang, in a build
# directory of their own.  `make fuzz` runs each for FUZZ_SECONDS (or only
# FUZZ_TARGETS) and keeps what they find in $(FUZZ_BUILD)/fuzz/;
# `make fuzz-ci` is the bounded run of `make test` (docs/security.md).
$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTY_FUZZ=ON \
	    -DTY_SANITIZE=address,undefined -DBUILD_TESTING=OFF $(CMAKE_FLAGS)

build-fuzz: test-deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

fuzz: build-fuzz
	fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: build-fuzz
	fuzz/run.sh ci $(FUZZ_BUILD)

# The main job: the server with the bundled registry.  With no cluster
# configured it runs the simulated cluster in-process and says so.
run: build
	mkdir -p $(DATA)
	./$(BUILD)/tycho api --listen $(LISTEN) --db $(DATA)/tycho.db --registry registry

# Every test, in the normal build and again with ASan+UBSan (the tests that
# need the browser or npm run once, in the normal build), then the bounded
# fuzz run.
test: test-deps build build-asan build-fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE kube-real
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) \
	    -L 'unit|integration' -LE 'kube-real|node|browser|slow'
	fuzz/run.sh ci $(FUZZ_BUILD)

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
