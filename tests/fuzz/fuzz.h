/* fuzz.h: the entry points every fuzz target defines (libFuzzer's), so that
 * each target builds both with libFuzzer (tests/fuzz/run, clang) and with
 * replay.c, which runs the checked-in corpus in ./scripts/check. */
#ifndef OC_FUZZ_H
#define OC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
