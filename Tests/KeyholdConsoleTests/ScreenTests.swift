import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The Screen buffer: clipping, wide characters, and nothing unprintable drawn.
@Suite struct ScreenTests {
    @Test func textIsClippedToItsRectangle() {
        var s = Screen(width: 12, height: 3)
        let r = Rect(x: 2, y: 1, width: 5, height: 1)
        s.put("abcdefghij", x: 2, y: 1, clip: r)
        s.put("outside", x: 0, y: 5)  // below the screen: ignored
        #expect(s.lines == ["", "  abcde", ""])
        s.text("truncated text", in: Rect(x: 0, y: 2, width: 8, height: 1))
        #expect(s.lines[2] == "truncat…")
    }

    @Test func cjkTakesTwoCells() {
        var s = Screen(width: 10, height: 1)
        let used = s.put("日本語", x: 0, y: 0)
        #expect(used == 6)
        #expect(s[0, 0].text == "日" && s[0, 0].width == 2)
        #expect(s[1, 0].isContinuation)
        #expect(s[2, 0].text == "本")
        #expect(s.lines == ["日本語"])
        #expect(TextWidth.of("日本語") == 6)
        #expect(TextWidth.of("ｈｉ") == 4)  // fullwidth Latin
        #expect(TextWidth.of("한국") == 4)
    }

    @Test func emojiTakeTwoCells() {
        #expect(TextWidth.of("🔑") == 2)
        #expect(TextWidth.of("👍🏽") == 2)  // with a skin-tone modifier
        #expect(TextWidth.of("❤️") == 2)  // text symbol + emoji presentation selector
        #expect(TextWidth.of("🇯🇵") == 2)  // a flag: two regional indicators
        #expect(TextWidth.of("👩‍💻") == 2)  // a ZWJ sequence
        #expect(TextWidth.of("❤") == 1)  // text presentation
        var s = Screen(width: 6, height: 1)
        #expect(s.put("a🔑b", x: 0, y: 0) == 4)
        #expect(s.lines == ["a🔑b"])
        #expect(s[2, 0].isContinuation)
    }

    @Test func combiningMarksStayWithTheirLetter() {
        #expect(TextWidth.of("e\u{0301}") == 1)
        var s = Screen(width: 4, height: 1)
        s.put("e\u{0301}x", x: 0, y: 0)
        #expect(s[0, 0].text == "e\u{0301}")
        #expect(s[1, 0].text == "x")
    }

    @Test func halfAWideCharacterIsNeverDrawn() {
        var s = Screen(width: 4, height: 1)
        s.put("ab日本", x: 0, y: 0, maxWidth: 3)
        #expect(s.lines == ["ab"])
        #expect(s[2, 0].text == " " && s[2, 0].width == 1)
        var t = Screen(width: 3, height: 1)
        t.put("ab日", x: 0, y: 0)  // the last column cannot hold it
        #expect(t.lines == ["ab"])
        #expect(TextWidth.truncate("日本語", to: 4) == "日…")
        #expect(TextWidth.truncate("日本語", to: 5) == "日本…")
        #expect(TextWidth.pad("日本", to: 5) == "日本 ")
    }

    @Test func overwritingHalfAWideCharacterBlanksTheOtherHalf() {
        var s = Screen(width: 4, height: 1)
        s.put("日本", x: 0, y: 0)
        s.put("x", x: 1, y: 0)  // the right half of 日
        #expect(s.lines == [" x本"])
        s.put("y", x: 2, y: 0)  // the left half of 本
        #expect(s.lines == [" xy"])
        #expect(!s[3, 0].isContinuation)
    }

    @Test func escapeSequencesAreDrawnVisibly() {
        var s = Screen(width: 40, height: 1)
        s.put("a\u{1B}[2J\u{1B}]0;pwned\u{07}b", x: 0, y: 0)
        #expect(s.lines == ["a␛[2J␛]0;pwned␇b"])
        #expect(!s.allScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
    }

    @Test func bidiOverridesAndInvisibleCharactersAreDrawnVisibly() {
        var s = Screen(width: 40, height: 2)
        s.put("abc\u{202E}fed", x: 0, y: 0)
        s.put("x\u{200B}y\u{FEFF}", x: 0, y: 1)
        #expect(s.lines == [#"abc\u{202E}fed"#, #"x\u{200B}y\u{FEFF}"#])
        let hidden: Set<UInt32> = [0x202E, 0x200B, 0xFEFF]
        #expect(!s.allScalars.contains { hidden.contains($0.value) })
    }

    @Test func boxesAndTitles() {
        var s = Screen(width: 12, height: 4)
        s.box(Rect(x: 0, y: 0, width: 12, height: 4), title: "Users", footer: "/ab")
        #expect(s.lines == ["┌─ Users ──┐", "│          │", "│          │", "└─ /ab ────┘"])
    }

    @Test func wrapBreaksAtSpacesAndHardBreaksLongWords() {
        #expect(TextWidth.wrap("the quick brown fox", width: 10) == ["the quick", "brown fox"])
        #expect(TextWidth.wrap("abcdefghijkl", width: 5) == ["abcde", "fghij", "kl"])
        #expect(TextWidth.wrap("日本語のテキスト", width: 6) == ["日本語", "のテキ", "スト"])
        #expect(TextWidth.wrap("a\nb", width: 5) == ["a", "b"])
    }

    @Test func styleLookup() {
        var s = Screen(width: 10, height: 1)
        s.put("ok", x: 0, y: 0)
        s.put("bad", x: 4, y: 0, style: Theme.error)
        #expect(s.style(of: "bad") == Theme.error)
        #expect(s.style(of: "ok") == .plain)
    }
}

@Suite struct TextFieldTests {
    @Test func editingKeys() {
        var f = TextField("hello")
        f.handle(.char("!"))
        #expect(f.text == "hello!" && f.cursor == 6)
        f.handle(.left); f.handle(.left)
        f.handle(.backspace)
        #expect(f.text == "helo!" && f.cursor == 3)
        f.handle(.delete)
        #expect(f.text == "hel!")
        f.handle(.home); f.handle(.char(">"))
        #expect(f.text == ">hel!")
        f.handle(.end); f.handle(.char(" ")); f.handle(.char("w"))
        f.handle(.ctrl("w"))
        #expect(f.text == ">hel! ")
        f.handle(.left); f.handle(.ctrl("k"))
        #expect(f.text == ">hel!")
        f.handle(.ctrl("u"))
        #expect(f.text == "" && f.cursor == 0)
        #expect(f.handle(.enter) == false)
        #expect(f.handle(.right) == true)
    }

    @Test func maskedFieldsShowBullets() {
        var f = TextField(masked: true)
        for c in "secret" { f.handle(.char(c)) }
        #expect(f.shown == "••••••")
        #expect(f.window(width: 10).text == "••••••")
    }

    @Test func longTextScrollsToKeepTheCursorInside() {
        let f = TextField("abcdefghijklmnopqrstuvwxyz")
        let (text, cursor) = f.window(width: 10)
        #expect(text == "rstuvwxyz")
        #expect(cursor == 9)
        var g = f
        g.handle(.home)
        #expect(g.window(width: 10).text == "abcdefghij" && g.window(width: 10).cursor == 0)
        let wide = TextField("日本語日本語")
        let (wt, wc) = wide.window(width: 7)
        #expect(wt == "日本語" && wc == 6)
    }

    @Test func fieldsRespectTheirLimit() {
        var f = TextField(limit: 3)
        for c in "abcdef" { f.handle(.char(c)) }
        #expect(f.text == "abc")
    }
}

@Suite struct KeyAndFormatTests {
    @Test func controlCharactersDecodeToKeys() {
        #expect(Key.fromScalar(0x0D) == .enter)
        #expect(Key.fromScalar(0x0A) == .enter)
        #expect(Key.fromScalar(0x09) == .tab)
        #expect(Key.fromScalar(0x1B) == .escape)
        #expect(Key.fromScalar(0x7F) == .backspace)
        #expect(Key.fromScalar(0x03) == .ctrl("c"))
        #expect(Key.fromScalar(0x15) == .ctrl("u"))
        #expect(Key.fromScalar(0x9B) == nil)  // C1 CSI never becomes text
        #expect(Key.fromScalar(0x65E5) == .char("日"))
        #expect(Key.ctrl("c").label == "Ctrl-C")
        #expect(Key.char(" ").label == "Space")
    }

    @Test func timesAreUTC() {
        #expect(Fmt.time(1_800_000_000_000) == "2027-01-15 08:00")
        #expect(Fmt.clock(1_800_000_090_000) == "08:01:30")
        #expect(Fmt.date(0) == "1970-01-01")
        #expect(Fmt.time(951_782_400_000) == "2000-02-29 00:00")
    }

    @Test func durations() {
        #expect(Fmt.duration(0) == "0 s")
        #expect(Fmt.duration(1) == "1 s")
        #expect(Fmt.duration(45_000) == "45 s")
        #expect(Fmt.duration(60_000) == "1 min")
        #expect(Fmt.duration(252_000) == "4 min 12 s")
        #expect(Fmt.duration(2 * 3_600_000 + 300_000) == "2 h 5 min")
        #expect(Fmt.duration(3 * 86_400_000) == "3 d")
        #expect(Fmt.relative(10_000, now: 0) == "in 10 s")
        #expect(Fmt.relative(0, now: 10_000) == "10 s ago")
        #expect(Fmt.bytes(67_108_864) == "64 MiB")
        #expect(Fmt.bytes(8192) == "8 KiB")
    }
}

@Suite struct FilteredListTests {
    @Test func filterIsCaseInsensitiveSubstring() {
        var l = FilteredList<String>()
        l.setItems(["Alice", "bob", "Carol", "alina"], id: { $0 }) { $0 }
        #expect(l.count == 4)
        l.filter = TextField("AL")
        l.applyFilter()
        #expect(l.visible.map { l.items[$0] } == ["Alice", "alina"])
        l.filter = TextField("zz")
        l.applyFilter()
        #expect(l.count == 0 && l.selectedItem == nil)
    }

    @Test func selectionFollowsItsItemWhenTheFilterChanges() {
        var l = FilteredList<String>()
        l.setItems(["a1", "b1", "a2"], id: { $0 }) { $0 }
        l.list.select(2, count: 3, page: 10)
        l.filter = TextField("a")
        l.applyFilter(keepSelection: l.selectedID)
        #expect(l.selectedItem == "a2")
    }

    @Test func scrollingKeepsTheSelectionInView() {
        var s = ListState()
        s.move(by: 7, count: 20, page: 5)
        #expect(s.selected == 7 && s.offset == 3)
        s.move(by: -6, count: 20, page: 5)
        #expect(s.selected == 1 && s.offset == 1)
        s.select(99, count: 20, page: 5)
        #expect(s.selected == 19 && s.offset == 15)
        s.select(0, count: 0, page: 5)
        #expect(s.selected == 0 && s.offset == 0)
    }

    /// What the filter must find: the rows whose lowercased key holds the lowercased needle, byte for byte.
    static func naive(_ keys: [String], _ needle: String) -> [Int] {
        let n = Array(needle.lowercased().utf8)
        return keys.indices.filter { i in
            let h = Array(keys[i].lowercased().utf8)
            return n.count <= h.count && (0...(h.count - n.count)).contains { Array(h[$0..<$0 + n.count]) == n }
        }
    }

    @Test func findsWhatAPlainSearchFinds() {
        // Small alphabets make near misses, repeats and partial matches before a full one common.
        var rng = SplitMix(seed: 42)
        let alphabet = Array("abAB.é山-")
        let keys = (0..<3000).map { _ in String((0..<Int(rng.next() % 12)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        var l = FilteredList<String>()
        l.setItems(keys, id: { $0 }) { $0 }
        var needles = ["a", "A", "b.", "ab", "aab", "ba.b", "é", "É", "山", "-a", "zz", "bbbbbbbbbbbb"]
        needles += (0..<200).map { _ in
            String((0..<1 + Int(rng.next() % 4)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        for needle in needles {
            l.filter = TextField(needle)
            l.applyFilter()
            #expect(l.visible == Self.naive(keys, needle), "needle \(needle)")
        }
    }

    @Test func aMatchNeverSpansTwoRowsAndCountsARowOnce() {
        var l = FilteredList<String>()
        l.setItems(["ab", "cd", "", "bcbc", "xbc"], id: { $0 }) { $0 }
        l.filter = TextField("bc")
        l.applyFilter()
        #expect(l.visible == [3, 4])
        l.filter = TextField("b")
        l.applyFilter()
        #expect(l.visible == [0, 3, 4])
        l.filter = TextField("dbc")  // "cd" then "bcbc" in the buffer: not one row
        l.applyFilter()
        #expect(l.visible.isEmpty)
    }

    @Test func theSelectionStaysOnItsRowThroughFilterAndReload() {
        var l = FilteredList<String>()
        l.setItems(["alpha", "beta", "gamma", "delta"], id: { $0 }) { $0 }
        l.list.select(3, count: 4, page: 10)
        l.filter = TextField("ta")
        l.applyFilter(keepSelection: l.selectedID)
        #expect(l.selectedItem == "delta" && l.list.selected == 1)
        // Kept by id when another row is selected, and across new rows.
        l.applyFilter(keepSelection: "beta")
        #expect(l.selectedItem == "beta")
        l.setItems(["beta", "delta", "zeta"], id: { $0 }) { $0 }
        #expect(l.selectedItem == "beta" && l.visible == [0, 1, 2])
        l.filter = TextField("")
        l.applyFilter(keepSelection: "gone")
        #expect(l.list.selected == 0)
    }

    @Test func filteringAHundredThousandRowsIsQuick() {
        var l = FilteredList<Int>()
        l.setItems(Array(0..<100_000), id: { String($0) }) { "user\($0)@example.com Display Name \($0)" }
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            l.filter = TextField("r9999")
            l.applyFilter()
        }
        #expect(l.count == 11)  // user9999 and user99990...99999
        #expect(elapsed < .milliseconds(500), "filter took \(elapsed)")  // a sanity bound, not the benchmark
    }
}

/// A small seeded generator (SplitMix64), so the cases are the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
