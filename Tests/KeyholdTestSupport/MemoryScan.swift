import Foundation
import KeyholdCore

/// Reads this process's own memory, every mapping /proc/self/maps lists, through
/// /proc/self/mem, and looks for copies of a byte string: what an attacker who could read
/// the process's memory (as root, or through a core dump were it allowed) would find.
///
/// /proc/self/mem reads even mappings the process itself may not (libsodium's guard pages and
/// buffers while they are PROT_NONE), so nothing is skipped but what the kernel refuses
/// ([vvar], [vsyscall]). The scan reads into a buffer it maps itself and unmaps afterwards,
/// and skips that buffer and any ranges the caller names (the needle's own guarded copy).
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

    /// Where a copy was found: its address and the mapping (never the bytes).
    public struct Hit: CustomStringConvertible, Sendable {
        public var address: UInt
        public var region: Region
        public var description: String { "0x\(String(address, radix: 16)) in \(region)" }
    }

    /// The mappings of this process now.
    public static func regions() -> [Region] {
        // procfs files report no size: read until the end.
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var data = [UInt8]()
        var piece = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &piece, piece.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data += piece[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { return nil }
            let name = fields.count > 5 ? String(fields[5]).trimmingCharacters(in: .whitespaces) : ""
            return Region(start: start, end: end, permissions: String(fields[1]), name: name)
        }
    }

    /// Every place in this process's memory where `needle`'s bytes occur, but in its own
    /// allocation (`needle` is guarded memory: its address is known and skipped) and `excluding`.
    public static func find(_ needle: SecureBytes, excluding: [Range<UInt>] = []) -> [Hit] {
        needle.withBytes { n in
            let own = UInt(bitPattern: n.baseAddress)
            return find(n, excluding: excluding + [own..<(own + UInt(n.count))])
        }
    }

    /// Every place in this process's memory where `needle` occurs, outside `excluding`.
    public static func find(_ needle: UnsafeRawBufferPointer, excluding: [Range<UInt>]) -> [Hit] {
        guard needle.count > 0, let needleBase = needle.baseAddress else { return [] }
        let fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        let chunk = 1 << 20
        let overlap = needle.count - 1
        let size = chunk + overlap
        guard let buffer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              buffer != MAP_FAILED else { return [] }
        defer {
            explicit_bzero(buffer, size)
            munmap(buffer, size)
        }
        let skip = excluding + [UInt(bitPattern: buffer)..<(UInt(bitPattern: buffer) + UInt(size))]
        var hits: [Hit] = []
        for region in regions() where !["[vvar]", "[vsyscall]", "[vvar_vclock]"].contains(region.name) {
            var offset = region.start
            while offset < region.end {
                let length = Int(min(UInt(size), region.end - offset))
                let n = pread(fd, buffer, length, off_t(Int64(bitPattern: UInt64(offset))))
                if n <= 0 { break }
                var at = 0
                while at + needle.count <= n,
                      let found = Self.search(buffer + at, n - at, needleBase, needle.count) {
                    let index = buffer.distance(to: found)
                    let address = offset + UInt(index)
                    if !skip.contains(where: { $0.overlaps(address..<(address + UInt(needle.count))) }) {
                        hits.append(Hit(address: address, region: region))
                    }
                    at = index + 1
                }
                // The next read starts `overlap` bytes back, so a copy across the boundary is seen once.
                if n < length || offset + UInt(n) >= region.end { break }
                offset += UInt(n - overlap)
            }
        }
        return hits
    }

    /// The first place `needle` occurs in `haystack` (memchr for its first byte, then memcmp).
    static func search(_ haystack: UnsafeMutableRawPointer, _ length: Int, _ needle: UnsafeRawPointer,
                       _ count: Int) -> UnsafeMutableRawPointer? {
        let first = Int32(needle.load(as: UInt8.self))
        var at = 0
        while at + count <= length {
            guard let hit = memchr(haystack + at, first, length - count + 1 - at) else { return nil }
            if memcmp(hit, needle, count) == 0 { return hit }
            at = haystack.distance(to: hit) + 1
        }
        return nil
    }

    /// Whether `address` lies in any mapping of this process now.
    public static func isMapped(_ address: UInt) -> Bool {
        regions().contains { $0.start <= address && address < $0.end }
    }
}
