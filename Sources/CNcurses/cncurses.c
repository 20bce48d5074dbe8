// The only code that includes curses.h. See include/cncurses.h.
#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cncurses.h"

static volatile sig_atomic_t pending_signal = 0;
static int started = 0;
static int colors_on = 0;
static int cursor_shown = 0;

// Colour pairs allocated so far: index is pair number - 1.
#define MAX_PAIRS 64
static short pair_fg[MAX_PAIRS];
static short pair_bg[MAX_PAIRS];
static int pairs_used = 0;

int kh_isatty(int fd) { return isatty(fd); }

static int locale_is_utf8(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0);
}

int kh_setlocale(void) {
    setlocale(LC_ALL, "");
    if (!locale_is_utf8()) {
        if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "C.utf8");
    }
    return locale_is_utf8();
}

static void record_signal(int sig) { pending_signal = sig; }

static void install(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns so the loop sees the signal
    sigaction(sig, &sa, NULL);
}

void kh_install_signal_handlers(void) {
    install(SIGINT);
    install(SIGTERM);
    install(SIGHUP);
    install(SIGQUIT);
    install(SIGTSTP);
}

int kh_take_signal(void) {
    int s = pending_signal;
    pending_signal = 0;
    return s == SIGTSTP ? KH_SIGNAL_SUSPEND : s;
}

static SCREEN *screen = NULL;

int kh_start(int want_color) {
    // newterm rather than initscr: an unknown TERM returns NULL instead of exiting the process.
    screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) return -1;
    set_term(screen);
    started = 1;
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    set_escdelay(25);
    curs_set(0);
    cursor_shown = 0;
    colors_on = 0;
    pairs_used = 0;
    if (want_color && has_colors() && start_color() == OK) {
        use_default_colors();
        colors_on = COLOR_PAIRS > 1;
    }
    erase();
    refresh();
    return colors_on;
}

void kh_stop(void) {
    if (!started) return;
    started = 0;
    erase();
    clear();
    refresh();
    curs_set(1);
    endwin();
    if (screen) { delscreen(screen); screen = NULL; }
}

void kh_suspend(void) {
    if (!started) return;
    erase();
    clear();
    refresh();
    endwin();
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP);
    // Continued.
    install(SIGTSTP);
    reset_prog_mode();
    clear();
    refresh();
}

int kh_lines(void) {
    int y, x;
    getmaxyx(stdscr, y, x);
    (void)x;
    return y;
}

int kh_cols(void) {
    int y, x;
    getmaxyx(stdscr, y, x);
    (void)y;
    return x;
}

static uint32_t translate(wint_t k) {
    switch (k) {
    case KEY_UP: return KH_KEY_UP;
    case KEY_DOWN: return KH_KEY_DOWN;
    case KEY_LEFT: return KH_KEY_LEFT;
    case KEY_RIGHT: return KH_KEY_RIGHT;
    case KEY_HOME: return KH_KEY_HOME;
    case KEY_END: return KH_KEY_END;
    case KEY_PPAGE: return KH_KEY_PPAGE;
    case KEY_NPAGE: return KH_KEY_NPAGE;
    case KEY_ENTER: return KH_KEY_ENTER;
    case KEY_BACKSPACE: return KH_KEY_BACKSPACE;
    case KEY_DC: return KH_KEY_DC;
    case KEY_IC: return KH_KEY_IC;
    case KEY_BTAB: return KH_KEY_BTAB;
    default:
        if (k >= KEY_F(1) && k <= KEY_F(12)) return KH_KEY_F1 + (uint32_t)(k - KEY_F(1));
        return KH_KEY_UNKNOWN;
    }
}

int kh_read(int timeout_ms, uint32_t *code) {
    wint_t ch = 0;
    *code = 0;
    timeout(timeout_ms);
    int r = get_wch(&ch);
    if (r == ERR) return KH_READ_NONE;
    if (r == KEY_CODE_YES) {
        if (ch == KEY_RESIZE) return KH_READ_RESIZE;
        *code = translate(ch);
        return KH_READ_KEY;
    }
    *code = (uint32_t)ch;
    return KH_READ_CHAR;
}

int kh_pair(int fg, int bg) {
    if (!colors_on) return 0;
    for (int i = 0; i < pairs_used; i++)
        if (pair_fg[i] == fg && pair_bg[i] == bg) return i + 1;
    if (pairs_used >= MAX_PAIRS || pairs_used + 1 >= COLOR_PAIRS) return 0;
    if (init_pair((short)(pairs_used + 1), (short)fg, (short)bg) == ERR) return 0;
    pair_fg[pairs_used] = (short)fg;
    pair_bg[pairs_used] = (short)bg;
    return ++pairs_used;
}

void kh_put_cell(int y, int x, const uint32_t *chars, int count, unsigned attrs, int pair) {
    wchar_t wch[CCHARW_MAX + 1];
    int n = count < CCHARW_MAX ? count : CCHARW_MAX;
    if (n < 1) { wch[0] = L' '; n = 1; }
    else for (int i = 0; i < n; i++) wch[i] = (wchar_t)chars[i];
    wch[n] = L'\0';
    attr_t a = A_NORMAL;
    if (attrs & KH_ATTR_BOLD) a |= A_BOLD;
    if (attrs & KH_ATTR_REVERSE) a |= A_REVERSE;
    if (attrs & KH_ATTR_UNDERLINE) a |= A_UNDERLINE;
    if (attrs & KH_ATTR_DIM) a |= A_DIM;
    cchar_t cc;
    if (setcchar(&cc, wch, a, (short)(colors_on ? pair : 0), NULL) == ERR) {
        wchar_t q[2] = { L'?', L'\0' };
        setcchar(&cc, q, a, (short)(colors_on ? pair : 0), NULL);
    }
    // Writing the bottom-right cell returns ERR (the cursor cannot advance) but draws it.
    mvadd_wch(y, x, &cc);
}

void kh_clear(void) { clearok(curscr, TRUE); }

void kh_cursor(int y, int x) {
    if (y < 0) {
        if (cursor_shown) { curs_set(0); cursor_shown = 0; }
        return;
    }
    move(y, x);
    if (!cursor_shown) { curs_set(1); cursor_shown = 1; }
}

void kh_refresh(void) { refresh(); }

void kh_flush_input(void) { flushinp(); }
