# Builds the shared-memory ring library and runs its C tests.
#   make        -> lib/native/shmq.so
#   make test   -> two-process stress, then the thread stress under TSan and ASan+UBSan
CC      ?= cc
CFLAGS  ?= -O2
CFLAGS  += -std=c11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden
NATIVE  := lib/native
SRCS    := $(NATIVE)/shmq.so.c $(NATIVE)/shmq_write.c $(NATIVE)/shmq_read.c $(NATIVE)/shmq_bell.c
HDRS    := $(NATIVE)/shmq.h $(NATIVE)/shmq_ring.h
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

test: $(LIB) $(BUILD)/stress $(BUILD)/stress-tsan $(BUILD)/stress-asan
	$(BUILD)/stress --mode process --records $(RECORDS)
	TSAN_OPTIONS=halt_on_error=1 $(BUILD)/stress-tsan --mode thread --records $(SAN_RECORDS)
	$(BUILD)/stress-asan --mode thread --records $(SAN_RECORDS)
	$(BUILD)/stress-asan --mode process --records $(SAN_RECORDS)

clean:
	rm -rf $(BUILD) $(LIB)

.PHONY: all test clean
