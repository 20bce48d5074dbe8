#ifndef KEYHOLD_CSQLITESHIM_H
#define KEYHOLD_CSQLITESHIM_H

// What the store needs from SQLite that Swift cannot call: sqlite3_db_config is
// variadic. Only KeyholdStore imports this module.

typedef struct sqlite3 sqlite3;

/// `sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, 0)`: closing the
/// connection will not copy the write-ahead log into the database file. Used only
/// when the file at the vault's path was rewritten under an open connection, whose
/// log then holds pages of contents that no longer exist. Returns SQLite's result code.
int keyhold_sqlite_no_checkpoint_on_close(sqlite3 *db);

#endif
