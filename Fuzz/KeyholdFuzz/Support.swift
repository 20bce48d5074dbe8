#if canImport(Glibc)
import Glibc
#endif
import KeyholdCore
import KeyholdFormats

/// A property every input must keep: when it breaks, say which and abort (libFuzzer saves the input).
func require(_ ok: Bool, _ what: @autoclosure () -> String) {
    guard !ok else { return }
    printError("keyhold-fuzz: property broken: \(what())\n")
    abort()
}

/// Writes to standard error.
func printError(_ s: String) {
    let bytes = Array(s.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Text from the fuzzer's bytes, as a person's typing would arrive (invalid UTF-8 repaired).
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

extension SourceRead {
    /// Every entry's key and value, for comparisons.
    var pairs: [(key: String, value: [UInt8])] { entries.map { ($0.key, Array(value(of: $0))) } }
}
