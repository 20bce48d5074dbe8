import Foundation

/// One message between a client and the agent: a kind byte, a 32-bit big-endian
/// length and that many bytes (docs/ARCHITECTURE.md, "The agent"). Payloads that
/// may hold values (standard input and output, a prompt's answer) are wiped by
/// whoever consumes them.
public struct Frame: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        // Client to agent
        case hello = 0x48  // H: {"v": 1, "op": "status" | "lock" | "command" | "console"}
        case command = 0x43  // C: the command to run (AgentCommand, JSON)
        case stdin = 0x49  // I: bytes of the client's standard input
        case stdinEnd = 0x69  // i: standard input ended
        case reply = 0x52  // R: the answer to a prompt (one line, no newline)
        case noReply = 0x72  // r: no answer (end of input)
        case request = 0x51  // Q: a console effect (JSON)
        // Agent to client
        case stdout = 0x4F  // O: bytes for the client's standard output
        case stderr = 0x45  // E: bytes for the client's standard error
        case prompt = 0x50  // P: ask the person {"text": ..., "echo": bool}
        case readAll = 0x41  // A: send all of standard input (a terminal: until end of file)
        case exit = 0x58  // X: the command's exit code (4 bytes)
        case status = 0x53  // S: the agent's status (AgentStatus, JSON)
        case response = 0x73  // s: a console effect's actions (JSON)
        case refused = 0x46  // F: the agent will not serve this (a message)
        case start = 0x56  // V: start a program here, with values in its environment (`keyhold run`)
    }

    public var kind: Kind
    public var payload: [UInt8]

    public init(_ kind: Kind, _ payload: [UInt8] = []) {
        self.kind = kind
        self.payload = payload
    }

    /// The largest payload accepted: a value is at most 64 KiB; output comes in pieces.
    public static let maxPayload = 1 << 20

    public static func json<T: Encodable>(_ kind: Kind, _ value: T) throws -> Frame {
        Frame(kind, Array(try JSONEncoder().encode(value)))
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(payload))
    }

    /// The frame that ends a command: its exit code, four bytes big-endian.
    static func exit(_ code: Int32) -> Frame {
        Frame(.exit, withUnsafeBytes(of: UInt32(bitPattern: code).bigEndian) { Array($0) })
    }

    /// The exit code an `.exit` frame carries; nil for a payload that is not four bytes.
    var exitCode: Int32? {
        guard kind == .exit, payload.count == 4 else { return nil }
        return Int32(bitPattern: payload.reduce(0) { $0 << 8 | UInt32($1) })
    }
}

/// Why a connection stopped.
public enum FrameError: Error, Equatable, Sendable {
    case closed
    case tooLarge(Int)
    case unknownKind(UInt8)
    case io(Int32)
}

/// Reads and writes frames on a connected socket (blocking).
public struct FrameChannel: Sendable {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    public func send(_ frame: Frame) throws {
        var header = [frame.kind.rawValue]
        let n = UInt32(frame.payload.count)
        header += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
        try writeAll(header)
        try frame.payload.withUnsafeBytes { try writeAll($0) }
    }

    /// The next frame; a payload longer than `limit` (at most `Frame.maxPayload`) is refused
    /// before it is read.
    public func receive(limit: Int = Frame.maxPayload) throws -> Frame {
        var header = [UInt8](repeating: 0, count: 5)
        try readExactly(&header)
        guard let kind = Frame.Kind(rawValue: header[0]) else { throw FrameError.unknownKind(header[0]) }
        let n = Int(header[1]) << 24 | Int(header[2]) << 16 | Int(header[3]) << 8 | Int(header[4])
        guard n <= min(limit, Frame.maxPayload) else { throw FrameError.tooLarge(n) }
        var payload = [UInt8](repeating: 0, count: n)
        try readExactly(&payload)
        return Frame(kind, payload)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll($0) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a closed peer is an error here, never SIGPIPE.
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw FrameError.io(errno)
            }
            offset += n
        }
    }

    private func readExactly(_ buffer: inout [UInt8]) throws {
        var offset = 0
        let count = buffer.count
        while offset < count {
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if n == 0 { throw FrameError.closed }
            if n < 0 {
                if errno == EINTR { continue }
                throw FrameError.io(errno)
            }
            offset += n
        }
    }
}
