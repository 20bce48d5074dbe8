import KeyholdCore

/// How a password store (https://www.passwordstore.org/) lays out its secrets: one
/// `NAME.gpg` file per secret, the name being the path below the store, and the
/// directories `.git` and `.extensions` holding none. Only names, paths and the
/// bytes of one file are here; walking the directory and running `gpg` is the caller's.
///
/// A decrypted file is the whole value plus, as `pass insert` writes it, one trailing
/// newline. (pass reads the first line as the password and the rest as notes; Keyhold
/// keeps the whole file.)
public enum PassStoreNames {
    /// Directories of a store that hold no secrets (not walked into).
    public static let skippedDirectories: Set<String> = [".git", ".extensions"]

    /// Whether a directory with this last path component is walked into.
    public static func walks(directory name: String) -> Bool { !skippedDirectories.contains(name) }

    /// Whether a file at `relativePath` (below the store) is a secret.
    public static func isSecretFile(_ relativePath: String) -> Bool {
        relativePath.hasSuffix(".gpg") && relativePath.count > 4
    }

    /// The secret name of a file: its path below the store without `.gpg`.
    public static func name(ofFile relativePath: String) -> String { String(relativePath.dropLast(4)) }

    /// The file for a secret name, below the store.
    public static func file(for name: String) -> String { name + ".gpg" }

    /// The directories a secret's file lies in, outermost first (`a/b/c` -> `a`, `a/b`).
    public static func directories(for name: String) -> [String] {
        var out: [String] = []
        var path = ""
        for segment in name.split(separator: "/").dropLast() {
            path += path.isEmpty ? String(segment) : "/" + segment
            out.append(path)
        }
        return out
    }

    /// How an entry read from `relativePath` is named in messages.
    public static func origin(ofFile relativePath: String) -> String { "file \(Validate.visible(relativePath))" }

    /// Adds the entry of one decrypted file: the whole file less one trailing newline.
    public static func add(file relativePath: String, decrypted: [UInt8], to read: inout SourceRead) throws {
        try decrypted.withUnsafeBufferPointer { try add(file: relativePath, decrypted: $0, to: &read) }
    }

    /// The same, for the decrypted bytes where they lie (guarded memory).
    public static func add(file relativePath: String, decrypted: UnsafeBufferPointer<UInt8>, to read: inout SourceRead) throws {
        let end = decrypted.last == 0x0A ? decrypted.count - 1 : decrypted.count
        try read.add(key: name(ofFile: relativePath), value: decrypted[0..<end], origin: origin(ofFile: relativePath))
    }

    /// What a secret's file holds before encryption: the value and one newline.
    public static func fileContent(_ value: UnsafeRawBufferPointer) throws -> SecureBytes {
        try SecureBytes(count: value.count + 1) { buf in
            buf.copyMemory(from: value)
            buf[value.count] = 0x0A
        }
    }

    /// The `.gpg-id` file of a store for one key, as `pass init` writes it.
    public static func gpgIDFile(_ id: String) -> String { id + "\n" }
}
