import Foundation
import KeyholdCrypto

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
        case request = 0x51  // Q: a console request (ConsoleRequest, JSON)
        case value = 0x57  // W: one secret value of the console message that follows (raw bytes, never JSON)
        // Agent to client
        case stdout = 0x4F  // O: bytes for the client's standard output
        case stderr = 0x45  // E: bytes for the client's standard error
        case prompt = 0x50  // P: ask the person {"text": ..., "echo": bool}
        case readAll = 0x41  // A: send all of standard input (a terminal: until end of file)
        case exit = 0x58  // X: the command's exit code (4 bytes)
        case status = 0x53  // S: the agent's status (AgentStatus, JSON)
        case response = 0x73  // s: the answer to a console request (ConsoleReply, JSON)
        case progress = 0x70  // p: a console effect's progress while it runs (ConsoleReply, JSON)
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
        let (kind, n) = try receiveHeader(limit: limit)
        var payload = [UInt8](repeating: 0, count: n)
        try payload.withUnsafeMutableBytes { try readExactly($0) }
        return Frame(kind, payload)
    }

    private func receiveHeader(limit: Int) throws -> (Frame.Kind, Int) {
        var header = [UInt8](repeating: 0, count: 5)
        try header.withUnsafeMutableBytes { try readExactly($0) }
        guard let kind = Frame.Kind(rawValue: header[0]) else { throw FrameError.unknownKind(header[0]) }
        let n = Int(header[1]) << 24 | Int(header[2]) << 16 | Int(header[3]) << 8 | Int(header[4])
        guard n <= min(limit, Frame.maxPayload) else { throw FrameError.tooLarge(n) }
        return (kind, n)
    }

    /// The most secret values one console message carries (a request has at most one, an answer
    /// one or two).
    public static let maxValues = 8

    /// Sends a console message: a `.value` frame for each secret value, written from its guarded
    /// memory, then the JSON in a frame of `kind`.
    public func send(_ message: AgentMessage, as kind: Frame.Kind) throws {
        for value in message.values {
            try value.withBytes { raw in
                let n = UInt32(raw.count)
                try writeAll([Frame.Kind.value.rawValue, UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)])
                try writeAll(raw)
            }
        }
        try send(Frame(kind, message.json))
    }

    /// The next console message: its `.value` frames, each read straight into guarded memory,
    /// and the frame that ends it (its kind, and its JSON).
    public func receiveMessage() throws -> (kind: Frame.Kind, message: AgentMessage) {
        var values: [SecureBytes] = []
        while true {
            let (kind, n) = try receiveHeader(limit: Frame.maxPayload)
            guard kind == .value else {
                var json = [UInt8](repeating: 0, count: n)
                try json.withUnsafeMutableBytes { try readExactly($0) }
                return (kind, AgentMessage(json: json, values: values))
            }
            guard values.count < Self.maxValues else { throw FrameError.tooLarge(values.count) }
            values.append(try SecureBytes(count: n) { try readExactly($0) })
        }
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

    private func readExactly(_ buffer: UnsafeMutableRawBufferPointer) throws {
        var offset = 0
        let count = buffer.count
        while offset < count {
            let n = Glibc.recv(fd, buffer.baseAddress! + offset, count - offset, 0)
            if n == 0 { throw FrameError.closed }
            if n < 0 {
                if errno == EINTR { continue }
                throw FrameError.io(errno)
            }
            offset += n
        }
    }
}

/// A console message as it travels (docs/ARCHITECTURE.md, "The console through the agent"): JSON
/// that holds no secret, and the secret values it names by index, each in guarded memory.
public struct AgentMessage: Sendable {
    public var json: [UInt8]
    public var values: [SecureBytes]
    public init(json: [UInt8], values: [SecureBytes] = []) { self.json = json; self.values = values }
}
