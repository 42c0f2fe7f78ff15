# Thin wrapper around CMake.  `make run` and `make test` work on a fresh
# Debian 12 machine: they install what is missing (as root), build, and then
# start the server or run the whole test suite.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
LISTEN     ?= 127.0.0.1:8080
DATA       ?= .tycho
CMAKE_FLAGS ?=
ifdef CI
CMAKE_FLAGS += -DTY_WERROR=ON
endif

.PHONY: all deps test-deps build build-asan run test test-asan bench clean

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

# The main job: the server with the bundled registry.  With no cluster
# configured it runs the simulated cluster in-process and says so.
run: build
	mkdir -p $(DATA)
	./$(BUILD)/tycho api --listen $(LISTEN) --db $(DATA)/tycho.db --registry registry

# Every test, in the normal build and again with ASan+UBSan (the tests that
# need the browser or npm run once, in the normal build).
test: test-deps build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE kube-real
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) \
	    -L 'unit|integration' -LE 'kube-real|node|browser|slow'

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
