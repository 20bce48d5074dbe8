import GRDB

// The name indexes (schema.sql, migration 7): FTS5 trigram tables over the
// secrets' names and the users' usernames, e-mail addresses and display names,
// with the tables themselves as their content. SQLite refuses an FTS5 table
// inside a trigger while trusted_schema is OFF (as every connection of the
// product runs), so the store keeps them in step itself, in the same
// statements' transaction: every insert, change and deletion of those rows
// goes through the functions below.
//
// FTS5 does not remove a deleted row's trigrams from the index: it appends a
// deletion marker and drops both when segments are merged, so the deleted
// name would stay readable in the file until then (SQLite 3.42's
// 'secure-delete' option removes them at once; the system SQLite here is
// older). So a transaction that takes an entry out of an index merges that
// index whole before it commits ('optimize'): the old segments' pages are
// freed and, with secure_delete on, overwritten with zeros; the deletion's
// WAL checkpoint then carries that into the database file. It costs a rewrite
// of the index (about 3 MB per 100,000 names), paid only by deletions and
// renames, never by inserts or by reads.

/// What a transaction took out of the name indexes.
final class NameIndexChanges {
    var secrets = false
    var users = false
}

extension Tx {
    // MARK: Secrets

    func indexSecretName(id: Int64, name: String) throws {
        try db.cachedStatement(sql: "INSERT INTO secret_names (rowid, name) VALUES (?, ?)").execute(arguments: [id, name])
    }

    /// Indexes the secrets with ids `first...last` (a batch just inserted) in one statement.
    func indexSecretNames(from first: Int64, through last: Int64) throws {
        guard first <= last else { return }
        try db.cachedStatement(sql: "INSERT INTO secret_names (rowid, name) SELECT id, name FROM secrets WHERE id BETWEEN ? AND ?")
            .execute(arguments: [first, last])
    }

    /// Takes the secret's name (as stored now: FTS5 needs the indexed text to remove it) out of the index.
    func unindexSecretName(id: Int64) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO secret_names (secret_names, rowid, name) SELECT 'delete', id, name FROM secrets WHERE id = ?
                """
        ).execute(arguments: [id])
        if db.changesCount > 0 { nameIndexes.secrets = true }
    }

    /// Before an update that may rename the secret: unindexes the stored name if it differs from `name`.
    func unindexSecretNameIfChanged(id: Int64, name: String) throws -> Bool {
        let stored = try String.fetchOne(db.cachedStatement(sql: "SELECT name FROM secrets WHERE id = ?"), arguments: [id])
        guard let stored, stored != name else { return false }
        try unindexSecretName(id: id)
        return true
    }

    // MARK: Users

    func indexUserNames(id: Int64, username: String, email: String?, displayName: String) throws {
        try db.cachedStatement(sql: "INSERT INTO user_names (rowid, username, email, display_name) VALUES (?, ?, ?, ?)")
            .execute(arguments: [id, username, email, displayName])
    }

    func unindexUserNames(id: Int64) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO user_names (user_names, rowid, username, email, display_name)
                SELECT 'delete', id, username, email, display_name FROM users WHERE id = ?
                """
        ).execute(arguments: [id])
        if db.changesCount > 0 { nameIndexes.users = true }
    }

    /// Before an update: unindexes the stored names if any of them differs from the new ones
    /// (a login, which updates the row, leaves the index alone).
    func unindexUserNamesIfChanged(id: Int64, username: String, email: String?, displayName: String) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT id, username, email, display_name FROM users WHERE id = ?")
        guard
            let same = try mapRow(
                statement, [id],
                { row -> Bool in
                    let c = Columns(row, "users")
                    return try c.value(1) as String == username && c.optional(2) as String? == email && c.value(3) as String == displayName
                })
        else { return false }
        guard !same else { return false }
        try unindexUserNames(id: id)
        return true
    }

    // MARK: Purge

    /// Merges each index that lost an entry in this transaction into one segment, which
    /// leaves none of the removed trigrams in the file (see above). Run by `Store.write`
    /// before it commits.
    func purgeNameIndexes() throws {
        if nameIndexes.secrets {
            try db.execute(sql: "INSERT INTO secret_names (secret_names) VALUES ('optimize')")
            nameIndexes.secrets = false
        }
        if nameIndexes.users {
            try db.execute(sql: "INSERT INTO user_names (user_names) VALUES ('optimize')")
            nameIndexes.users = false
        }
    }
}
