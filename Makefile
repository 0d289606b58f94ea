# dStore -- build, test, fuzz and run.
#
#   make            build build/dstore
#   make test       install missing Debian packages, build, run every test
#   make run        install, build, start `dstore serve` on 127.0.0.1:8000
#   make asan       build and test with AddressSanitizer + UBSan
#   make fuzz       build the libFuzzer drivers (build/fuzz/fuzz_*)
#
# Sources are found by wildcard: every src/<layer>/*.c is part of the
# library except src/cmd/, which holds the program's entry points. Each
# tests/unit/test_*.c is its own test program; each fuzz/fuzz_*.c is a
# libFuzzer driver whose corpus lives in fuzz/corpus/<name>/.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
PKGS    := libgcrypt libcurl
# RocksDB is linked statically (Debian's librocksdb.a; librocksdb-dev brings
# the compression libraries it needs). Its thread-locals (the perf and I/O
# stats contexts, read on every Get and iterator step) are then a plain load,
# not a __tls_get_addr call as from a shared library. Interleaved A/B:
# Query 13-19% faster, PutItem and Scan ~6%, GetItem 1-7%
# (bench/results/2026-12-05-session11.md).
# Its WAL checksum, rocksdb::crc32c::Extend, is replaced by the crc32
# instruction's (src/engine/crc32c.h; Debian's build takes a table-driven
# path): --wrap sends RocksDB's calls to it there, -u pulls that in first.
ROCKSDB_CRC  := _ZN7rocksdb6crc32c6ExtendEjPKcm
ROCKSDB_LIBS := -Wl,--wrap=$(ROCKSDB_CRC) -Wl,-u,__wrap_$(ROCKSDB_CRC) \
                -Wl,-Bstatic -lrocksdb -Wl,-Bdynamic -lsnappy -lz -lbz2 -llz4 -lzstd -lstdc++
# The allocator (src/cmd/alloc.c): jemalloc, or MALLOC=glibc (make asan).
MALLOC  ?= jemalloc
ifeq ($(MALLOC),jemalloc)
MALLOC_CFLAGS := -DDS_JEMALLOC
MALLOC_LIBS   := -ljemalloc
endif
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -pthread \
           -Isrc -I/usr/share/include/llhttp $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
           $(MALLOC_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(MALLOC_LIBS) $(ROCKSDB_LIBS) \
           $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lgcrypt -lcurl) \
           -lpthread -lm $(EXTRA_LDLIBS)

LLHTTP_DIR := /usr/share/llhttp
LLHTTP_SRC := $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c

LIB_SRC  := $(filter-out src/cmd/%,$(wildcard src/*/*.c))
CMD_SRC  := $(wildcard src/cmd/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/llhttp/%.o,$(LLHTTP_SRC))
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
REPLAY_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/replay/%)
SHIM     := $(BUILD)/tests/syncshim.so

.PHONY: all deps test unit e2e replay run asan fuzz clean format
all: $(BUILD)/dstore $(BUILD)/dstorectl

deps:
	@bash scripts/install-deps.sh && bash scripts/install-bench.sh

$(BUILD)/libdstore.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dstore: $(CMD_OBJ) $(BUILD)/libdstore.a
	$(CC) $(CFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libdstore.a $(LDLIBS)

# dstorectl is the same program under another name (src/cmd/ctl.c).
$(BUILD)/dstorectl: $(BUILD)/dstore
	ln -sf dstore $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# llhttp's C sources ship in Debian's node-llhttp; built, not vendored.
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) -g -fPIC $(EXTRA_CFLAGS) -I/usr/share/include/llhttp -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libdstore.a $(LDLIBS)

# The durability tests' LD_PRELOAD library (a slow disk, what a power cut keeps).
$(SHIM): tests/e2e/syncshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

# Corpus replay: each fuzz driver linked with a main that feeds it every
# file of its corpus once (tests/unit/replay_main.c). `make fuzz` builds the
# real libFuzzer binaries with clang.
$(BUILD)/replay/%: fuzz/%.c tests/unit/replay_main.c $(BUILD)/libdstore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/unit/replay_main.c $(BUILD)/libdstore.a $(LDLIBS)

test: deps
	@$(MAKE) --no-print-directory $(BUILD)/dstore $(BUILD)/dstorectl $(TEST_BIN) $(REPLAY_BIN) $(SHIM)
	@BUILD=$(BUILD) MALLOC=$(MALLOC) bash scripts/run-tests.sh

unit: $(TEST_BIN)
	@BUILD=$(BUILD) bash scripts/run-tests.sh unit

replay: $(REPLAY_BIN)
	@BUILD=$(BUILD) bash scripts/run-tests.sh replay

e2e: $(BUILD)/dstore $(BUILD)/dstorectl $(SHIM)
	@BUILD=$(BUILD) MALLOC=$(MALLOC) bash scripts/run-tests.sh e2e

run: deps $(BUILD)/dstore
	$(BUILD)/dstore serve --listen 127.0.0.1:8000 --data ./data

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 MALLOC=glibc \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDLIBS="-fsanitize=address,undefined" test

# Benchmarks (issue 5): bench/run.py, results in bench/results/<date>-<mode>.md
.PHONY: bench bench-quick
bench: deps $(BUILD)/dstore
	DSTORE_BIN=$(BUILD)/dstore /usr/bin/python3 bench/run.py
bench-quick: deps $(BUILD)/dstore
	DSTORE_BIN=$(BUILD)/dstore /usr/bin/python3 bench/run.py --quick

FUZZ_CC     := clang
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined \
               -Isrc -I/usr/share/include/llhttp
fuzz: $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRC) $(LLHTTP_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(LLHTTP_SRC) $(filter-out $(MALLOC_LIBS),$(LDLIBS))

format:
	clang-format -i src/*/*.c src/*/*.h tests/unit/*.c fuzz/*.c

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
