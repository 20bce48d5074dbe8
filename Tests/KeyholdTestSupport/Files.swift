import Foundation

// What the test targets share. A regular target, linked only into test targets
// (Package.swift; ArchitectureTests checks that nothing in Sources imports it).

/// A fresh temporary directory (mkdtemp: mode 0700), removed with everything in it when released.
public final class TempDir: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "keyhold-test") {
        var template = Array((NSTemporaryDirectory() + prefix + "-XXXXXX").utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    deinit {
        _ = chmod(path, 0o700)  // a test may have taken the owner's access away
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }
}

/// A failure of a test's own set-up (a command that should have worked), with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Repository {
    /// The repository's root directory (this file is Tests/KeyholdTestSupport/Files.swift).
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The path of a file in Tests/Fixtures (see its README).
    public static func fixture(_ name: String) -> String {
        root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(name).path
    }
}
