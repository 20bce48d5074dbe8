import CNcurses

/// What the terminal produced.
enum Input: Equatable {
    case none
    case key(Key)
    case resize
}

/// A signal the input loop must act on.
enum TerminalSignal: Equatable {
    case none
    /// SIGTSTP: clear, stop, repaint on return.
    case suspend
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT: restore the terminal and exit with 128 + n.
    case terminate(Int32)
}

/// The only code that knows ncurses (through the CNcurses shim): starts and
/// restores the terminal, flushes frames (only the cells that changed since
/// the last one), reads keys with get_wch, reports resizes and signals.
final class Backend {
    private var previous: Screen?
    /// Colour pairs are in use (false for NO_COLOR and monochrome terminals).
    let colors: Bool
    private var stopped = false

    /// Takes over the terminal: locale first, then our signal handlers (so
    /// ncurses leaves SIGINT/SIGTERM/SIGTSTP to us; docs/ARCHITECTURE.md), then initscr.
    init?(wantColor: Bool) {
        _ = kh_setlocale()
        kh_install_signal_handlers()
        let started = kh_start(wantColor ? 1 : 0)
        guard started >= 0 else { return nil }
        colors = started == 1
    }

    deinit { stop() }

    /// Clears the screen and gives the terminal back. Safe to call twice.
    func stop() {
        guard !stopped else { return }
        stopped = true
        kh_stop()
    }

    var size: (width: Int, height: Int) { (Int(kh_cols()), Int(kh_lines())) }

    /// Forgets the last frame: the next draw repaints everything.
    func invalidate() {
        previous = nil
        kh_clear()
    }

    /// Stops the process for the shell (Ctrl-Z, SIGTSTP) with the screen cleared; repaints on return.
    func suspend() {
        kh_suspend()
        previous = nil
    }

    /// The signal that arrived since the last call, if any.
    func takeSignal() -> TerminalSignal {
        let s = kh_take_signal()
        if s == 0 { return .none }
        if s == Int32(KH_SIGNAL_SUSPEND) { return .suspend }
        return .terminate(s)
    }

    /// Whether standard input and output are both terminals.
    static func isTerminal() -> Bool { kh_isatty(0) == 1 && kh_isatty(1) == 1 }

    func draw(_ screen: Screen) {
        if let p = previous, p.width != screen.width || p.height != screen.height { invalidate() }
        var chars: [UInt32] = []
        for y in 0..<screen.height {
            for x in 0..<screen.width {
                let cell = screen[x, y]
                if cell.isContinuation { continue }
                if let p = previous, p[x, y] == cell { continue }
                chars.removeAll(keepingCapacity: true)
                for scalar in cell.text.unicodeScalars { chars.append(scalar.value) }
                let st = cell.style
                var attrs: UInt32 = 0
                if st.bold { attrs |= UInt32(KH_ATTR_BOLD) }
                if st.reverse { attrs |= UInt32(KH_ATTR_REVERSE) }
                if st.underline { attrs |= UInt32(KH_ATTR_UNDERLINE) }
                if st.dim { attrs |= UInt32(KH_ATTR_DIM) }
                var pair: Int32 = 0
                if colors, st.fg != nil || st.bg != nil {
                    pair = kh_pair(Int32(st.fg?.rawValue ?? -1), Int32(st.bg?.rawValue ?? -1))
                }
                chars.withUnsafeBufferPointer { buf in
                    kh_put_cell(Int32(y), Int32(x), buf.baseAddress, Int32(buf.count), attrs, pair)
                }
            }
        }
        if let c = screen.cursor, c.x >= 0, c.y >= 0, c.x < screen.width, c.y < screen.height {
            kh_cursor(Int32(c.y), Int32(c.x))
        } else {
            kh_cursor(-1, -1)
        }
        kh_refresh()
        previous = screen
    }

    /// Drops the keys typed but not read yet (meant for a screen that is gone).
    func discardTypeahead() { kh_flush_input() }

    /// Waits up to `timeout` ms for a key.
    func read(timeout: Int32) -> Input {
        var code: UInt32 = 0
        switch Int(kh_read(timeout, &code)) {
        case Int(KH_READ_CHAR):
            return Key.fromScalar(code).map(Input.key) ?? .none
        case Int(KH_READ_RESIZE):
            return .resize
        case Int(KH_READ_KEY):
            return Self.functionKey(Int(code)).map(Input.key) ?? .none
        default:
            return .none
        }
    }

    static func functionKey(_ code: Int) -> Key? {
        switch code {
        case Int(KH_KEY_UP): .up
        case Int(KH_KEY_DOWN): .down
        case Int(KH_KEY_LEFT): .left
        case Int(KH_KEY_RIGHT): .right
        case Int(KH_KEY_HOME): .home
        case Int(KH_KEY_END): .end
        case Int(KH_KEY_PPAGE): .pageUp
        case Int(KH_KEY_NPAGE): .pageDown
        case Int(KH_KEY_ENTER): .enter
        case Int(KH_KEY_BACKSPACE): .backspace
        case Int(KH_KEY_DC): .delete
        case Int(KH_KEY_BTAB): .backTab
        case Int(KH_KEY_F1)...Int(KH_KEY_F12): .f(code - Int(KH_KEY_F1) + 1)
        default: nil
        }
    }
}
