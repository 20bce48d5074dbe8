// A small C surface over ncursesw for the console's backend.
//
// Swift cannot import curses macros (A_BOLD, COLOR_PAIR, KEY_F(n), getmaxyx)
// and Swift 6 rejects its mutable globals (stdscr, LINES, COLS, ESCDELAY) as
// not concurrency-safe. So this header exposes only plain functions and
// stable constants of its own; curses.h is included by cncurses.c alone,
// with NCURSES_WIDECHAR defined first (SwiftPM drops -D_XOPEN_SOURCE from
// pkg-config, which would otherwise hide get_wch and wadd_wch).
#ifndef KEYHOLD_CNCURSES_H
#define KEYHOLD_CNCURSES_H

#include <stdint.h>

// Attribute bits understood by kh_put_cell.
enum {
    KH_ATTR_BOLD = 1,
    KH_ATTR_REVERSE = 2,
    KH_ATTR_UNDERLINE = 4,
    KH_ATTR_DIM = 8,
};

// What kh_read returned.
enum {
    KH_READ_NONE = 0,    // timeout (or interrupted by a signal)
    KH_READ_CHAR = 1,    // a character (code = Unicode scalar value)
    KH_READ_KEY = 2,     // a function key (code = one of KH_KEY_*)
    KH_READ_RESIZE = 3,  // the terminal was resized (KEY_RESIZE)
};

// Function keys, translated from ncurses' KEY_* codes.
enum {
    KH_KEY_UNKNOWN = 0,
    KH_KEY_UP, KH_KEY_DOWN, KH_KEY_LEFT, KH_KEY_RIGHT,
    KH_KEY_HOME, KH_KEY_END, KH_KEY_PPAGE, KH_KEY_NPAGE,
    KH_KEY_ENTER, KH_KEY_BACKSPACE, KH_KEY_DC, KH_KEY_IC, KH_KEY_BTAB,
    KH_KEY_F1, KH_KEY_F2, KH_KEY_F3, KH_KEY_F4, KH_KEY_F5, KH_KEY_F6,
    KH_KEY_F7, KH_KEY_F8, KH_KEY_F9, KH_KEY_F10, KH_KEY_F11, KH_KEY_F12,
};

// Colour numbers (the eight ANSI colours); -1 is the terminal's default.
enum {
    KH_COLOR_DEFAULT = -1,
    KH_COLOR_BLACK = 0, KH_COLOR_RED, KH_COLOR_GREEN, KH_COLOR_YELLOW,
    KH_COLOR_BLUE, KH_COLOR_MAGENTA, KH_COLOR_CYAN, KH_COLOR_WHITE,
};

/// Whether fd is a terminal.
int kh_isatty(int fd);

/// setlocale(LC_ALL, ""); if the character set is not UTF-8, tries C.UTF-8
/// for LC_CTYPE. Returns 1 when the resulting locale is UTF-8.
int kh_setlocale(void);

/// Installs handlers for SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGTSTP that only
/// record the signal (kh_take_signal). Call before kh_start, so ncurses sees
/// them set and leaves them alone (it still installs its SIGWINCH handler).
void kh_install_signal_handlers(void);

/// The signal recorded since the last call: 0 for none, KH_SIGNAL_SUSPEND
/// for SIGTSTP, else the number of a terminating signal (exit with 128 + it).
int kh_take_signal(void);

enum { KH_SIGNAL_SUSPEND = -1 };

/// newterm (initscr without its exit on an unknown TERM), raw, noecho, nonl, keypad, ESCDELAY 25, hidden cursor, colours
/// with the terminal's default background when `want_color` and the terminal
/// has them. Returns 1 if colours are in use, 0 for monochrome, -1 on failure.
int kh_start(int want_color);

/// Clears the screen (terminals without an alternate screen keep the last
/// frame otherwise), then endwin. Safe to call twice.
void kh_stop(void);

/// For SIGTSTP or Ctrl-Z: clear, endwin, stop the process with the default
/// action; on SIGCONT re-install the handler and resume curses mode.
void kh_suspend(void);

/// The terminal's size (getmaxyx on stdscr).
int kh_lines(void);
int kh_cols(void);

/// Reads one key with get_wch, waiting at most `timeout_ms` (-1: forever).
/// Returns a KH_READ_* kind and stores the character or KH_KEY_* in *code.
int kh_read(int timeout_ms, uint32_t *code);

/// The colour pair number for (fg, bg), allocating it on first use; 0 when
/// colours are off or the terminal has no pairs left.
int kh_pair(int fg, int bg);

/// Writes one cell: a grapheme of `count` scalars (the first is the base
/// character, at most 5 are used) with KH_ATTR_* bits and a colour pair.
void kh_put_cell(int y, int x, const uint32_t *chars, int count, unsigned attrs, int pair);

/// Clears the whole screen on the next refresh (after a resize or resume).
void kh_clear(void);

/// Shows the cursor at (y, x), or hides it when y < 0.
void kh_cursor(int y, int x);

/// refresh().
void kh_refresh(void);

/// flushinp(): drops keys typed but not yet read.
void kh_flush_input(void);

#endif
