import KeyholdCore
import Foundation
import KeyholdFormats

extension FuzzFormats {
    /// `user import --format json`: a UserSourceRead or a refusal, and every account named by its origin.
    static func accountsJSON(_ bytes: [UInt8]) {
        guard let read = try? UserJSON.parse(bytes) else { return }
        for e in read.entries { require(e.origin.hasPrefix("users["), "an account without its place") }
    }

    /// `user import --format csv`: a UserSourceRead or a refusal; each account's roles are trimmed and non-empty.
    static func accountsCSV(_ bytes: [UInt8]) {
        guard let read = try? UserCSV.parse(bytes) else { return }
        for e in read.entries {
            require(e.origin.hasPrefix("line "), "an account without its line")
            require(e.roles.allSatisfy { !$0.isEmpty && $0 == $0.trimmingCharacters(in: .whitespaces) }, "an untrimmed role")
        }
    }
}
