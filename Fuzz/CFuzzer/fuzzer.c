// A C target needs a source file; the declaration in CFuzzer.h is all there is.
#include "CFuzzer.h"
