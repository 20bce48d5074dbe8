import Foundation

/// Why the agent cannot be reached or started. Messages say what to do.
public enum AgentError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `XDG_RUNTIME_DIR` is not set, so there is nowhere private for the socket.
    case noRuntimeDirectory
    /// The socket directory exists but is not this user's alone.
    case unsafeDirectory(path: String, detail: String)
    case io(String)

    public var description: String {
        switch self {
        case .noRuntimeDirectory:
            "XDG_RUNTIME_DIR is not set, so there is no private place for the agent's socket "
                + "(a login session sets it, usually to /run/user/$(id -u)); without an agent every command "
                + "logs in by itself, which works as before (or --no-agent)"
        case .unsafeDirectory(let p, let d): "the agent directory \(p) \(d); it must be a 0700 directory you own"
        case .io(let what): what
        }
    }
}

/// Where a vault's agent listens: `$XDG_RUNTIME_DIR/keyhold/agent-<16 hex>.sock`, the hex
/// naming the vault's real path (one agent per vault; the directory is per user).
public enum AgentSocket {
    /// The private directory of the sockets, made 0700 when missing.
    public static func directory(environment: [String: String], create: Bool) throws -> String {
        guard let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty else { throw AgentError.noRuntimeDirectory }
        let dir = runtime + "/keyhold"
        var st = stat()
        if lstat(dir, &st) != 0 {
            guard create else { throw AgentError.io("no agent directory at \(dir)") }
            guard mkdir(dir, 0o700) == 0 || errno == EEXIST else {
                throw AgentError.io("cannot create \(dir): \(String(cString: strerror(errno)))")
            }
            guard lstat(dir, &st) == 0 else { throw AgentError.io("cannot read \(dir)") }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw AgentError.unsafeDirectory(path: dir, detail: "is not a directory") }
        guard st.st_uid == geteuid() else { throw AgentError.unsafeDirectory(path: dir, detail: "belongs to uid \(st.st_uid)") }
        guard st.st_mode & 0o077 == 0 else {
            throw AgentError.unsafeDirectory(path: dir, detail: "has mode \(String(st.st_mode & 0o777, radix: 8))")
        }
        return dir
    }

    /// The socket path of the vault at `vaultPath`.
    public static func path(forVault vaultPath: String, environment: [String: String], create: Bool = false) throws -> String {
        let dir = try directory(environment: environment, create: create)
        return dir + "/agent-" + name(forVault: vaultPath) + ".sock"
    }

    /// 16 hex digits of FNV-1a over the vault's real path (the file need not exist yet).
    static func name(forVault vaultPath: String) -> String {
        let real =
            realpath(vaultPath, nil).map { p -> String in
                defer { free(p) }; return String(cString: p)
            } ?? vaultPath
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in real.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16).leftPadded(to: 16)
    }

    /// A listening socket at `path`, mode 0600 (or `mode`). A socket left by an agent that died
    /// (nothing answers) is removed first; a live one means an agent already serves the vault.
    public static func listen(at path: String, mode: mode_t = 0o600) throws -> Int32 {
        if FileManager.default.fileExists(atPath: path) {
            if let fd = try? connect(to: path) {
                close(fd)
                throw AgentError.io("an agent already serves this vault (\(path)); `keyhold lock` ends it")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentError.io("cannot make a socket: \(String(cString: strerror(errno)))") }
        var addr = try address(path)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // The mode is set before listen(): until then a connect is refused whatever the mode, so the
        // socket is never reachable wider than `mode`. (Not through umask: it is the whole process's,
        // and a thread creating a file or directory meanwhile would get it.)
        guard bound == 0, chmod(path, mode) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw AgentError.io("cannot listen on \(path): \(why)")
        }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK, st.st_mode & 0o777 == mode, st.st_uid == geteuid() else {
            close(fd)
            throw AgentError.io("cannot listen on \(path): the socket was replaced before it listened")
        }
        guard Glibc.listen(fd, 16) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw AgentError.io("cannot listen on \(path): \(why)")
        }
        return fd
    }

    /// A connection to the socket at `path`.
    public static func connect(to path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentError.io("cannot make a socket: \(String(cString: strerror(errno)))") }
        var addr = try address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw AgentError.io("cannot connect to \(path): \(why)")
        }
        return fd
    }

    /// The uid of the process at the other end of a connected socket (SO_PEERCRED), or nil.
    public static func peerUID(_ fd: Int32) -> uid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, len == 12 else { return nil }
        return cred.1
    }

    private static func address(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw AgentError.io("the socket path \(path) is too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
