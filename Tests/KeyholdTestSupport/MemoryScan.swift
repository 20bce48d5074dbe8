import Foundation
import KeyholdCore

/// Reads this process's own memory, every mapping /proc/self/maps lists, through
/// /proc/self/mem, and looks for copies of a secret: what an attacker who could read the
/// process's memory (as root, or through a core dump were it allowed) would find.
///
/// - It looks for pieces, not only the whole: three windows of `window` bytes (the start,
///   the middle and the end of the secret), so a part left behind (the prefix an Array
///   leaves each time it grows, the tail of a line taken off a buffer) counts as a copy.
/// - /proc/self/mem reads even mappings the process itself may not (libsodium's guard pages,
///   buffers while they are PROT_NONE), so nothing is skipped but what the kernel refuses
///   ([vvar], [vsyscall]).
/// - It allocates nothing on the heap while it scans: the maps and the read buffer are
///   mappings of its own (skipped, and unmapped afterwards), so the scan does not reuse, and
///   overwrite, freed memory where a copy may lie. Descriptions of hits are made afterwards.
/// - It skips the needle's own allocation and the ranges the caller names.
public enum MemoryScan {
    /// One mapping of /proc/self/maps.
    public struct Region: CustomStringConvertible, Sendable {
        public var start: UInt
        public var end: UInt
        public var permissions: String
        public var name: String
        public var description: String {
            "\(String(start, radix: 16))-\(String(end, radix: 16)) \(permissions) \(name.isEmpty ? "[anonymous]" : name)"
        }
    }

    /// Where a piece was found: its address, which piece, and the mapping (never the bytes).
    public struct Hit: CustomStringConvertible, Sendable {
        public var address: UInt
        /// "start", "middle" or "end" of the secret (or "whole", for one no longer than a window).
        public var piece: String
        public var region: Region
        /// Where the copy this piece belongs to would start (the address less the piece's offset in the secret).
        public var origin: UInt
        public var description: String { "\(piece) at 0x\(String(address, radix: 16)) in \(region)" }
    }

    /// The copies the hits belong to (a whole copy gives three hits, one per piece): their starts.
    public static func copies(_ hits: [Hit]) -> Set<UInt> { Set(hits.map(\.origin)) }

    /// The length of the pieces looked for: long enough that random text does not match by chance.
    public static let window = 12

    /// Every place in this process's memory where a piece of `needle` occurs, but in its own
    /// allocation (guarded memory: its address is known) and `excluding`.
    public static func find(_ needle: SecureBytes, excluding: [Range<UInt>] = []) -> [Hit] {
        needle.withBytes { n in
            let own = UInt(bitPattern: n.baseAddress)
            return find(n, excluding: excluding + [own..<(own + UInt(n.count))])
        }
    }

    /// Every place in this process's memory where a piece of `needle` occurs, outside `excluding`.
    public static func find(_ needle: UnsafeRawBufferPointer, excluding: [Range<UInt>]) -> [Hit] {
        guard needle.count > 0, let base = needle.baseAddress else { return [] }
        let w = min(window, needle.count)
        let pieces: [(String, UnsafeRawPointer)] =
            needle.count <= window
            ? [("whole", base)]
            : [("start", base), ("middle", base + (needle.count - w) / 2), ("end", base + needle.count - w)]
        // Everything the scan needs, allocated before it starts.
        guard let smaps = Mapped(bytes: 64 << 20), let found = Mapped(bytes: 4096 * MemoryLayout<UInt>.stride * 2),
            let buffer = Mapped(bytes: (1 << 20) + w)
        else { return [] }
        let smapsLength = readProc("/proc/self/smaps", into: smaps)
        let skip = excluding + [smaps.range, found.range, buffer.range]
        let hits = found.pointer.bindMemory(to: UInt.self, capacity: 4096 * 2)
        var count = 0
        let fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        let starts = pieces.map(\.1)
        forEachResidentRegion(smaps.pointer, smapsLength) { start, end in
            // Each chunk is read once and searched for every piece.
            scan(fd, start, end, starts, w, buffer) { index, address in
                guard count < 4096, !skip.contains(where: { $0.overlaps(address..<(address + UInt(w))) }) else { return }
                hits[2 * count] = address
                hits[2 * count + 1] = UInt(index)
                count += 1
            }
        }
        // Now the descriptions: the scan is over.
        let regions = regions()
        return (0..<count).map { k in
            let address = hits[2 * k]
            let region =
                regions.first { $0.start <= address && address < $0.end }
                ?? Region(start: 0, end: 0, permissions: "?", name: "[unmapped since]")
            let piece = pieces[Int(hits[2 * k + 1])]
            return Hit(address: address, piece: piece.0, region: region, origin: address - UInt(base.distance(to: piece.1)))
        }
    }

    /// The mappings of this process now.
    public static func regions() -> [Region] {
        guard let maps = Mapped(bytes: 4 << 20) else { return [] }
        let length = readProc("/proc/self/maps", into: maps)
        var out: [Region] = []
        forEachLine(maps.pointer, length) { line in
            let text = String(decoding: line, as: UTF8.self)
            let fields = text.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { return }
            let name = fields.count > 5 ? String(fields[5]).trimmingCharacters(in: .whitespaces) : ""
            out.append(Region(start: start, end: end, permissions: String(fields[1]), name: name))
        }
        return out
    }

    /// Whether `address` lies in any mapping of this process now.
    public static func isMapped(_ address: UInt) -> Bool {
        regions().contains { $0.start <= address && address < $0.end }
    }

    // MARK: Without the heap

    /// Anonymous memory of the scan's own, unmapped (zeroed first) when released.
    final class Mapped {
        let pointer: UnsafeMutableRawPointer
        let size: Int
        init?(bytes: Int) {
            guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return nil }
            pointer = p
            size = bytes
        }
        deinit {
            explicit_bzero(pointer, size)
            munmap(pointer, size)
        }
        var range: Range<UInt> { UInt(bitPattern: pointer)..<(UInt(bitPattern: pointer) + UInt(size)) }
    }

    /// Reads a procfs file (they report no size: read until the end) into `buffer`; its length.
    static func readProc(_ path: String, into buffer: Mapped) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var length = 0
        while length < buffer.size {
            let n = read(fd, buffer.pointer + length, buffer.size - length)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            length += n
        }
        return length
    }

    static func forEachLine(_ text: UnsafeMutableRawPointer, _ length: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        let bytes = UnsafeBufferPointer(start: text.assumingMemoryBound(to: UInt8.self), count: length)
        var start = 0
        for i in 0..<length where bytes[i] == 0x0A {
            body(UnsafeBufferPointer(rebasing: bytes[start..<i]))
            start = i + 1
        }
    }

    /// The bounds of each mapping in /proc/self/smaps that holds any page (resident or swapped:
    /// one that holds none has nothing to find) and can be read ([vvar] and [vsyscall] cannot).
    static func forEachResidentRegion(_ text: UnsafeMutableRawPointer, _ length: Int, _ body: (UInt, UInt) -> Void) {
        var start: UInt = 0, end: UInt = 0, pages: UInt = 0, readable = false, open = false
        func flush() { if open, readable, pages > 0 { body(start, end) } }
        forEachLine(text, length) { line in
            guard let first = line.first else { return }
            var i = 0
            func number(radix: UInt) -> UInt {
                var v: UInt = 0
                while i < line.count {
                    let c = line[i]
                    let d: UInt
                    switch c {
                    case 0x30...0x39: d = UInt(c - 0x30)
                    case 0x61...0x66 where radix == 16: d = UInt(c - 0x61 + 10)
                    default: return v
                    }
                    v = v * radix + d
                    i += 1
                }
                return v
            }
            func starts(_ prefix: StaticString) -> Bool {
                prefix.withUTF8Buffer { p in line.count >= p.count && line.prefix(p.count).elementsEqual(p) }
            }
            // A mapping's line starts with its bounds in lower-case hex; the fields after it with a capital.
            if (0x30...0x39).contains(first) || (0x61...0x66).contains(first),
                let dash = line.firstIndex(of: 0x2D), dash < 17,
                line[..<dash].allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            {
                flush()
                start = number(radix: 16)
                i += 1
                end = number(radix: 16)
                pages = 0
                open = true
                // The name is the last field, after the five before it.
                var fields = 0, k = 0
                while k < line.count && fields < 5 {
                    while k < line.count && line[k] != 0x20 { k += 1 }
                    while k < line.count && line[k] == 0x20 { k += 1 }
                    fields += 1
                }
                let name = UnsafeBufferPointer(rebasing: line[k...])
                readable = !["[vvar]", "[vsyscall]", "[vvar_vclock]"].contains { (n: StaticString) in
                    n.withUTF8Buffer { $0.elementsEqual(name) }
                }
            } else if starts("Rss:") || starts("Swap:") {
                while i < line.count && !(0x30...0x39).contains(line[i]) { i += 1 }
                pages += number(radix: 10)
            }
        }
        flush()
    }

    /// Reads [start, end) a chunk at a time into `buffer` and calls `hit` with the index of the
    /// piece and the address of each occurrence of each of the `pieces` (`count` bytes each).
    static func scan(
        _ fd: Int32, _ start: UInt, _ end: UInt, _ pieces: [UnsafeRawPointer], _ count: Int, _ buffer: Mapped,
        _ hit: (Int, UInt) -> Void
    ) {
        let overlap = count - 1
        var offset = start
        while offset < end {
            let length = Int(min(UInt(buffer.size), end - offset))
            let n = pread(fd, buffer.pointer, length, off_t(Int64(bitPattern: UInt64(offset))))
            if n <= 0 { return }
            for (p, piece) in pieces.enumerated() {
                var at = 0
                while at + count <= n, let found = search(buffer.pointer + at, n - at, piece, count) {
                    let index = buffer.pointer.distance(to: found)
                    hit(p, offset + UInt(index))
                    at = index + 1
                }
            }
            // The next read starts `overlap` bytes back, so a piece across the boundary is seen once.
            if n < length || offset + UInt(n) >= end { return }
            offset += UInt(n - overlap)
        }
    }

    /// The first place `needle` occurs in `haystack` (memchr for its first byte, then memcmp).
    static func search(
        _ haystack: UnsafeMutableRawPointer, _ length: Int, _ needle: UnsafeRawPointer,
        _ count: Int
    ) -> UnsafeMutableRawPointer? {
        let first = Int32(needle.load(as: UInt8.self))
        var at = 0
        while at + count <= length {
            guard let hit = memchr(haystack + at, first, length - count + 1 - at) else { return nil }
            if memcmp(hit, needle, count) == 0 { return hit }
            at = haystack.distance(to: hit) + 1
        }
        return nil
    }
}
