// libFuzzer's entry for programs that have their own main(): the Swift
// executable target calls it (SwiftPM gives every executable a main of its own).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
