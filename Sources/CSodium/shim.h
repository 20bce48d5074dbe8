#ifndef KEYHOLD_CSODIUM_SHIM_H
#define KEYHOLD_CSODIUM_SHIM_H
#include <sodium.h>
#include <sys/prctl.h>

/* prctl is variadic, which Swift cannot call. */
static inline int keyhold_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }
static inline int keyhold_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
#endif
