# Builds the shared-memory ring library and runs its C tests.
#   make           -> lib/native/shmq.so (a local build, with this machine's compiler and libc)
#   make test      -> two-process stress, then the thread stress under TSan and ASan+UBSan
#   make prebuilds -> prebuilds/linux-{x64,arm64}-{glibc,musl}/shmq.so, the binaries npm pack ships
CC      ?= cc
CFLAGS  ?= -O2
CFLAGS  += -std=c11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden
NATIVE  := lib/native
SRCS    := $(NATIVE)/shmq.so.c $(NATIVE)/shmq_write.c $(NATIVE)/shmq_read.c $(NATIVE)/shmq_bell.c $(NATIVE)/shmq_cred.c
HDRS    := $(NATIVE)/shmq.h $(NATIVE)/shmq_ring.h $(NATIVE)/shmq_compat.h
LIB     := $(NATIVE)/shmq.so
BUILD   := build
STRESS  := spec/native/shmq_stress.c
# records for the stress runs; the sanitizer runs are slower, so they get fewer
RECORDS ?= 20000000
SAN_RECORDS ?= 2000000

all: $(LIB)

$(LIB): $(SRCS) $(HDRS)
	$(CC) $(CFLAGS) -shared -o $@ $(SRCS)

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/stress: $(STRESS) $(SRCS) $(HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -I$(NATIVE) -o $@ $(STRESS) $(SRCS)

$(BUILD)/stress-tsan: $(STRESS) $(SRCS) $(HDRS) | $(BUILD)
	$(CC) -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=thread -I$(NATIVE) -o $@ $(STRESS) $(SRCS) -lpthread

$(BUILD)/stress-asan: $(STRESS) $(SRCS) $(HDRS) | $(BUILD)
	$(CC) -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -I$(NATIVE) -o $@ $(STRESS) $(SRCS) -lpthread

test: all $(BUILD)/stress $(BUILD)/stress-tsan $(BUILD)/stress-asan
	$(BUILD)/stress --mode process --records $(RECORDS)
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/stress-tsan --mode thread --records $(SAN_RECORDS)
	$(BUILD)/stress-asan --mode thread --records $(SAN_RECORDS)
	$(BUILD)/stress-asan --mode process --records $(SAN_RECORDS)

# Prebuilt libraries: fixed flags (not $(CFLAGS)), stripped, one compiler per
# platform. The glibc ones must not need a symbol newer than GLIBC_2.17
# (shmq_compat.h; scripts/check-glibc-floor.mjs checks). Debian packages:
# gcc (x64 glibc), musl-tools (x64 musl), gcc-aarch64-linux-gnu (arm64 glibc),
# musl-dev:arm64 with dpkg --add-architecture arm64 (arm64 musl); .ci/run installs them.
PREBUILDS      := prebuilds
PREBUILT_FLAGS := -O2 -std=c11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -shared -s
X64_GLIBC_CC   ?= x86_64-linux-gnu-gcc
X64_MUSL_CC    ?= x86_64-linux-musl-gcc
ARM64_GLIBC_CC ?= aarch64-linux-gnu-gcc
ARM64_MUSL_CC  ?= aarch64-linux-musl-gcc
PREBUILT       := $(foreach p,linux-x64-glibc linux-x64-musl linux-arm64-glibc linux-arm64-musl,$(PREBUILDS)/$(p)/shmq.so)

$(PREBUILDS)/linux-x64-glibc/shmq.so: PREBUILT_CC = $(X64_GLIBC_CC)
$(PREBUILDS)/linux-x64-musl/shmq.so: PREBUILT_CC = $(X64_MUSL_CC)
$(PREBUILDS)/linux-arm64-glibc/shmq.so: PREBUILT_CC = $(ARM64_GLIBC_CC)
$(PREBUILDS)/linux-arm64-musl/shmq.so: PREBUILT_CC = $(ARM64_MUSL_CC)
# libgcc's outline atomics call __getauxval, which musl does not export: inline LL/SC atomics (any ARMv8)
$(PREBUILDS)/linux-arm64-musl/shmq.so: PREBUILT_ARCH_FLAGS = -mno-outline-atomics

prebuilds: $(PREBUILT)

# In a git checkout, `make` and `make test` also refresh the prebuilds already there: the
# loader prefers them to lib/native/shmq.so, so a stale one would hide a C change from the specs.
ifneq ($(wildcard .git),)
all: $(wildcard $(PREBUILT))
endif

$(PREBUILT): $(SRCS) $(HDRS)
	@command -v $(PREBUILT_CC) >/dev/null || { echo "make: $@ needs $(PREBUILT_CC) (Debian packages: see the Makefile or .ci/run)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(PREBUILT_CC) $(PREBUILT_FLAGS) $(PREBUILT_ARCH_FLAGS) -o $@.tmp $(SRCS)
	mv $@.tmp $@

clean:
	rm -rf $(BUILD) $(LIB) $(PREBUILDS)

.PHONY: all test prebuilds clean
