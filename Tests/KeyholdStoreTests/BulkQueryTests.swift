import Foundation
import Testing
@testable @_spi(Testing) import KeyholdStore

@Suite struct BulkQueryTests {
    @Test func firstExistingSecretFindsTheFirstTakenNameInOneQuery() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for name in ["b", "d", "we\"ird\\name"] {
                try tx.insertSecret(SecretRow(name: name, description: "", currentVersion: 1, historyLimit: nil, rotateBy: nil,
                                              createdAt: 0, updatedAt: 0))
            }
            #expect(try tx.firstExistingSecret(among: []) == nil)
            #expect(try tx.firstExistingSecret(among: ["a", "c", "e"]) == nil)
            #expect(try tx.firstExistingSecret(among: ["a", "d", "b"]) == 1)
            #expect(try tx.firstExistingSecret(among: ["x\ny", "we\"ird\\name"]) == 1)
            #expect(try tx.insertSecretIfAbsent(SecretRow(name: "d", description: "", currentVersion: 1, historyLimit: nil,
                                                          rotateBy: nil, createdAt: 0, updatedAt: 0)) == nil)
            let id = try tx.insertSecretIfAbsent(SecretRow(name: "e", description: "", currentVersion: 1, historyLimit: nil,
                                                           rotateBy: nil, createdAt: 0, updatedAt: 0))
            let found = try tx.secret(named: "e")?.id
            #expect(id != nil && found == id)
        }
    }

    @Test func jsonArrayEscapes() {
        #expect(Tx.jsonArray(["a", "q\"b\\", "\u{1}"]) == #"["a","q\"b\\","\u0001"]"#)
    }
}
