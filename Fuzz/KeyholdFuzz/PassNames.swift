import KeyholdCore
import KeyholdFormats

extension FuzzFormats {
    /// Pass store names: the bytes before the first NUL are a file's path below the store, the
    /// rest its decrypted content. A secret file's name maps back to the same file, its
    /// directories are its prefixes, and its value is the content less one trailing newline.
    static func passNames(_ bytes: [UInt8]) throws {
        let cut = bytes.firstIndex(of: 0) ?? bytes.count
        let path = text(Array(bytes[..<cut]))
        let content = cut < bytes.count ? Array(bytes[(cut + 1)...]) : []
        _ = PassStoreNames.walks(directory: path)
        guard PassStoreNames.isSecretFile(path) else { return }
        let name = PassStoreNames.name(ofFile: path)
        require(PassStoreNames.file(for: name) == path, "name and file do not map back")
        // Export lays out valid names only: for those, the directories are the name's prefixes.
        if (try? Validate.secretName(name)) != nil {
            for d in PassStoreNames.directories(for: name) { require(name.hasPrefix(d + "/"), "a directory that is not a prefix") }
        }
        var read = SourceRead()
        try PassStoreNames.add(file: path, decrypted: content, to: &read)
        let expected = content.last == 0x0A ? Array(content.dropLast()) : content
        require(read.entries.count == 1 && Array(read.value(of: read.entries[0])) == expected, "the value is not the file less one newline")
    }
}
