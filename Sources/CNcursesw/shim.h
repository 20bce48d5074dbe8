#ifndef KEYHOLD_CNCURSESW_SHIM_H
#define KEYHOLD_CNCURSESW_SHIM_H
/* pkg-config's -D_XOPEN_SOURCE is dropped by SwiftPM: ask for the wide API here. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#endif
