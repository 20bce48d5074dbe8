/*
 * keyhold-floor: the native floor of `make bench`.
 *
 * What the SQL of an import and of a data-key rotation costs in C over the
 * system SQLite, with no crypto, no checks and no audit events:
 *
 *  - a database made as Keyhold makes a vault: the project's schema.sql (every
 *    migration, in one transaction; keyhold-bench writes out the copy the
 *    program embeds), the file header Keyhold stamps, then closed and opened
 *    again with the product's PRAGMAs (Store.requiredPragmas, in its order:
 *    journal_mode WAL set by hand, synchronous FULL, foreign_keys,
 *    secure_delete, trusted_schema off, recursive_triggers, cache_size -8192)
 *    and its busy timeout; data keys 1 and 2 (the foreign key of every
 *    version) hold random bytes;
 *  - insert: COUNT new secrets, each a `secrets` row (a random 32-byte
 *    name_tag) and a `secret_versions` row (random bytes as long as the
 *    product's ciphertext: value size + 40), with the product's statements
 *    (Tx.insertNewSecrets: 50 rows per INSERT, explicit ids, ON CONFLICT(name)
 *    DO NOTHING) and its batches (ValueBatches: at most IMPORT_BATCH entries
 *    and IMPORT_BYTES of values per BEGIN IMMEDIATE transaction), and, as
 *    Tx.insertNewSecrets ends each batch, the batch's names into the name
 *    index (one INSERT ... SELECT into the FTS5 table secret_names);
 *  - update: what a rotation does to the rows: per BEGIN IMMEDIATE
 *    transaction, the keys of the next BATCH versions still under key 1, read
 *    in key_version-index order as rotation reads them (only the keys: there
 *    is nothing to decrypt), then each updated by primary key to key version
 *    2 and new random bytes of the same size; until none is left.
 *
 * The workload (names, value sizes) is the benchmark's own (Workload.swift):
 * the same SplitMix64 draws, the same names. A digest of it is printed so that
 * keyhold-bench can check the two agree.
 *
 * Prints one line, `RESULT {json}`, in the shape keyhold-bench decodes
 * (ChildResult). Exit 0 on success; 1 with a message on standard error.
 *
 * Built by keyhold-bench: cc -O2 floor.c -lsqlite3 (the system SQLite, the
 * library Keyhold links). The phases are kept out of line (noinline) so that a
 * profile (callgrind, perf) shows each apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum {
    SEAL_OVERHEAD = 40,          /* 24-byte nonce, 16-byte tag (docs/FORMAT.md section 2) */
    SMALLEST_VALUE = 16,
    LARGEST_VALUE = 112,
    NAME_TAG_BYTES = 32,
    ROWS_PER_INSERT = 50,        /* Tx.rowsPerInsert */
    POOL_BYTES = 1 << 20,
};

static sqlite3 *db;
static const char *db_path;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("keyhold-floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void check(int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        fail("%s: %s (%d)", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
}

static void exec(const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail("%.60s: %s", sql, err ? err : "?");
}

static int64_t query_int(const char *sql) {
    sqlite3_stmt *s;
    check(sqlite3_prepare_v2(db, sql, -1, &s, NULL), sql);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static void query_text(const char *sql, char *out, size_t size) {
    sqlite3_stmt *s;
    check(sqlite3_prepare_v2(db, sql, -1, &s, NULL), sql);
    const unsigned char *t = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
    snprintf(out, size, "%s", t ? (const char *)t : "");
    sqlite3_finalize(s);
}

/* The workload: Workload.swift, byte for byte. */

static uint64_t mix(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int value_size(int64_t i) {
    return SMALLEST_VALUE + (int)(mix((uint64_t)i ^ 0x5EED) % (LARGEST_VALUE - SMALLEST_VALUE + 1));
}

static int ciphertext_size(int64_t i) { return value_size(i) + SEAL_OVERHEAD; }

/* Writes the decimal of v (not negative) at out; returns its length. */
static int put_decimal(int64_t v, char *out) {
    char digits[20];
    int n = 0;
    do digits[n++] = (char)('0' + v % 10), v /= 10; while (v > 0);
    for (int k = 0; k < n; k++) out[k] = digits[n - 1 - k];
    return n;
}

/* `bench/app<i % 64>/service-<i>/token`, formatted by hand as Workload.name is (snprintf
 * cost 5% of the floor's insert; the floor should cost no more than its SQL). `out` holds 64. */
static int name(int64_t i, char *out) {
    int n = 0;
    memcpy(out + n, "bench/app", 9), n += 9;
    n += put_decimal(i % 64, out + n);
    memcpy(out + n, "/service-", 9), n += 9;
    n += put_decimal(i, out + n);
    memcpy(out + n, "/token", 6), n += 6;
    return n;
}

/* FNV-1a over every entry's name, a 0 byte and its value size (4 bytes, little-endian):
 * keyhold-bench computes the same from Workload and compares. */
static uint64_t workload_digest(int64_t count) {
    uint64_t h = 0xCBF29CE484222325ull;
    char buf[96];
    for (int64_t i = 0; i < count; i++) {
        int n = name(i, buf);
        uint32_t v = (uint32_t)value_size(i);
        unsigned char tail[5] = {0, v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF};
        for (int k = 0; k < n; k++) h = (h ^ (unsigned char)buf[k]) * 0x100000001B3ull;
        for (int k = 0; k < 5; k++) h = (h ^ tail[k]) * 0x100000001B3ull;
    }
    return h;
}

/* Random bytes standing in for ciphertexts and name tags, made once, outside any timing. */
static unsigned char pool[POOL_BYTES];

static const unsigned char *random_bytes(int count, uint64_t salt) {
    uint64_t start = (salt * 40503u) % (uint64_t)(POOL_BYTES - count + 1);
    return pool + start;
}

/* Measurements. */

struct sample { double wall, cpu, thread, queue; };

static double now_seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Time spent runnable but waiting for a CPU (second field of /proc/self/schedstat; one thread). */
static double run_queue_seconds(void) {
    FILE *f = fopen("/proc/self/schedstat", "r");
    unsigned long long run = 0, wait = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &run, &wait) != 2) wait = 0;
        fclose(f);
    }
    return (double)wait / 1e9;
}

static struct sample sample_now(void) {
    return (struct sample){now_seconds(CLOCK_MONOTONIC), now_seconds(CLOCK_PROCESS_CPUTIME_ID), now_seconds(CLOCK_THREAD_CPUTIME_ID),
                           run_queue_seconds()};
}

static struct sample since(struct sample t0) {
    struct sample t = sample_now();
    return (struct sample){t.wall - t0.wall, t.cpu - t0.cpu, t.thread - t0.thread, t.queue - t0.queue};
}

/* Peak resident set of this program, KiB: VmHWM, the high-water mark of its own memory. Not
 * getrusage's ru_maxrss, which starts from the spawning process's resident set when that
 * process was copied or shared into this one before exec (posix_spawn), ~20 MiB of Swift. */
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    if (kib < 0) {
        struct rusage u;
        getrusage(RUSAGE_SELF, &u);
        kib = u.ru_maxrss;
    }
    return kib;
}

/* The database. */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail("cannot read %s: %s", path, strerror(errno));
    char *text = NULL;
    size_t size = 0, used = 0, n;
    do {
        if (used + 65536 + 1 > size) {
            size = 2 * size + 65536 + 1;
            if (!(text = realloc(text, size))) fail("out of memory");
        }
        n = fread(text + used, 1, size - used - 1, f);
        used += n;
    } while (n > 0);
    fclose(f);
    text[used] = 0;
    return text;
}

/* Store.requiredPragmas, in order, and Store.busyTimeout (5 s). */
static const char *const pragmas[][2] = {
    {"journal_mode", "wal"}, {"synchronous", "2"}, {"foreign_keys", "1"}, {"secure_delete", "1"},
    {"trusted_schema", "0"}, {"recursive_triggers", "1"}, {"cache_size", "-8192"},
};

static void open_database(void) {
    check(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), "open");
    check(sqlite3_busy_timeout(db, 5000), "busy_timeout");
    char sql[128], got[64];
    for (size_t k = 0; k < sizeof pragmas / sizeof pragmas[0]; k++) {
        snprintf(sql, sizeof sql, "PRAGMA %s = %s", pragmas[k][0], k == 0 ? "WAL" : pragmas[k][1]);
        exec(sql);
    }
    /* As Store.assertPragmas: every one must hold. */
    for (size_t k = 0; k < sizeof pragmas / sizeof pragmas[0]; k++) {
        snprintf(sql, sizeof sql, "PRAGMA %s", pragmas[k][0]);
        query_text(sql, got, sizeof got);
        for (char *c = got; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        if (strcmp(got, pragmas[k][1]) != 0) fail("PRAGMA %s is %s, expected %s", pragmas[k][0], got, pragmas[k][1]);
    }
}

/* As Store.create: the schema's migrations and the header in one transaction, then closed
 * (SQLite checkpoints and removes the WAL) and opened again. */
__attribute__((noinline)) static void create_database(const char *schema_path) {
    open_database();
    char *schema = read_file(schema_path);
    exec("BEGIN IMMEDIATE");
    exec(schema);
    exec("PRAGMA application_id = 1263029316");
    exec("PRAGMA user_version = 3");
    /* Data key 1, under which the rows are inserted, and 2, which the update moves them to. */
    sqlite3_stmt *s;
    check(sqlite3_prepare_v2(db, "INSERT INTO data_keys (version, sealed, state, created_at) VALUES (?, ?, ?, 0)", -1, &s, NULL),
          "prepare data_keys");
    for (int v = 1; v <= 2; v++) {
        sqlite3_bind_int(s, 1, v);
        sqlite3_bind_blob(s, 2, random_bytes(72, (uint64_t)v), 72, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, v == 2 ? "active" : "decrypt-only", -1, SQLITE_STATIC);
        check(sqlite3_step(s), "insert data key");
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    exec("COMMIT");
    free(schema);
    check(sqlite3_close(db), "close");
    db = NULL;
    open_database();
}

/* "INSERT ... VALUES (?, ...), (?, ...), ..." for `rows` rows: Tx.insertSecretsSQL / insertVersionsSQL. */
static char *insert_sql(const char *head, const char *row, const char *tail, int rows) {
    size_t size = strlen(head) + (size_t)rows * (strlen(row) + 2) + strlen(tail) + 1;
    char *sql = malloc(size), *p = sql;
    if (!sql) fail("out of memory");
    p += sprintf(p, "%s", head);
    for (int k = 0; k < rows; k++) p += sprintf(p, k ? ", %s" : "%s", row);
    sprintf(p, "%s", tail);
    return sql;
}

static sqlite3_stmt *prepare_insert(int is_secrets, int rows) {
    char *sql = is_secrets
        ? insert_sql("INSERT INTO secrets (id, name, description, current_version, last_version, history_limit, rotate_by, "
                     "created_at, updated_at, name_tag) VALUES ", "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", " ON CONFLICT(name) DO NOTHING", rows)
        : insert_sql("INSERT INTO secret_versions (secret_id, version, key_version, ciphertext, created_at, created_by) VALUES ",
                     "(?, ?, ?, ?, ?, ?)", "", rows);
    sqlite3_stmt *s;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL), "prepare insert");
    free(sql);
    return s;
}

/* A time in Unix milliseconds, as the product binds op.now. */
static const int64_t created_at = 1795000000000;

/* Inserts entries [start, start + n) with ids start + 1 ...: the secrets, then their versions. */
static void insert_rows(sqlite3_stmt *secrets, sqlite3_stmt *versions, int64_t start, int n) {
    /* Names bound in place, as the product binds them from its batch buffer (SQLITE_STATIC). */
    static char names[ROWS_PER_INSERT][64];
    for (int k = 0; k < n; k++) {
        int64_t i = start + k, p = k * 10;
        int len = name(i, names[k]);
        sqlite3_bind_int64(secrets, p + 1, i + 1);
        sqlite3_bind_text(secrets, p + 2, names[k], len, SQLITE_STATIC);
        sqlite3_bind_text(secrets, p + 3, "", 0, SQLITE_STATIC);
        sqlite3_bind_int64(secrets, p + 4, 1);
        sqlite3_bind_int64(secrets, p + 5, 1);
        sqlite3_bind_null(secrets, p + 6);
        sqlite3_bind_null(secrets, p + 7);
        sqlite3_bind_int64(secrets, p + 8, created_at);
        sqlite3_bind_int64(secrets, p + 9, created_at);
        sqlite3_bind_blob(secrets, p + 10, random_bytes(NAME_TAG_BYTES, (uint64_t)i * 3 + 1), NAME_TAG_BYTES, SQLITE_STATIC);
    }
    check(sqlite3_step(secrets), "insert secrets");
    if (sqlite3_changes(db) != n) fail("insert secrets: %d of %d rows written", sqlite3_changes(db), n);
    sqlite3_reset(secrets);
    sqlite3_clear_bindings(secrets);
    for (int k = 0; k < n; k++) {
        int64_t i = start + k, p = k * 6;
        int size = ciphertext_size(i);
        sqlite3_bind_int64(versions, p + 1, i + 1);
        sqlite3_bind_int64(versions, p + 2, 1);
        sqlite3_bind_int64(versions, p + 3, 1);
        sqlite3_bind_blob(versions, p + 4, random_bytes(size, (uint64_t)i), size, SQLITE_STATIC);
        sqlite3_bind_int64(versions, p + 5, created_at);
        sqlite3_bind_int64(versions, p + 6, 1);
    }
    check(sqlite3_step(versions), "insert versions");
    sqlite3_reset(versions);
    sqlite3_clear_bindings(versions);
}

/* The import's SQL: batches as ValueBatches cuts them, one transaction each. Returns the transactions. */
__attribute__((noinline)) static int64_t insert_all(int64_t count, int64_t max_entries, int64_t max_bytes) {
    sqlite3_stmt *full_secrets = prepare_insert(1, ROWS_PER_INSERT), *full_versions = prepare_insert(0, ROWS_PER_INSERT);
    sqlite3_stmt *index_names;
    check(sqlite3_prepare_v2(db, "INSERT INTO secret_names (rowid, name) SELECT id, name FROM secrets WHERE id BETWEEN ? AND ?",
                             -1, &index_names, NULL), "prepare name index");
    int64_t transactions = 0;
    for (int64_t start = 0; start < count;) {
        /* A batch ends at max_entries, or before the entry that would take its values past max_bytes
         * (it always takes its first). */
        int64_t end = start + 1, bytes = value_size(start);
        while (end < count && end - start < max_entries && bytes + value_size(end) <= max_bytes) bytes += value_size(end++);
        exec("BEGIN IMMEDIATE");
        for (int64_t at = start; at < end; at += ROWS_PER_INSERT) {
            int n = (int)(end - at < ROWS_PER_INSERT ? end - at : ROWS_PER_INSERT);
            if (n == ROWS_PER_INSERT) {
                insert_rows(full_secrets, full_versions, at, n);
            } else {
                /* The product caches these too (GRDB's statement cache); a short tail is once per batch. */
                sqlite3_stmt *secrets = prepare_insert(1, n), *versions = prepare_insert(0, n);
                insert_rows(secrets, versions, at, n);
                sqlite3_finalize(secrets);
                sqlite3_finalize(versions);
            }
        }
        /* Tx.indexSecretNames: the batch's names into the name index (ids start + 1 ... end). */
        sqlite3_bind_int64(index_names, 1, start + 1);
        sqlite3_bind_int64(index_names, 2, end);
        check(sqlite3_step(index_names), "index names");
        sqlite3_reset(index_names);
        exec("COMMIT");
        transactions++;
        start = end;
    }
    sqlite3_finalize(full_secrets);
    sqlite3_finalize(full_versions);
    sqlite3_finalize(index_names);
    return transactions;
}

/* The rotation's SQL: the next `batch` keys under key 1 from the key_version index, each updated. */
__attribute__((noinline)) static int64_t update_all(int64_t batch, int64_t *transactions) {
    sqlite3_stmt *next, *update;
    check(sqlite3_prepare_v3(db, "SELECT secret_id, version FROM secret_versions WHERE key_version < ? "
                                 "ORDER BY key_version, secret_id, version LIMIT ?", -1, SQLITE_PREPARE_PERSISTENT, &next, NULL),
          "prepare select");
    check(sqlite3_prepare_v3(db, "UPDATE secret_versions SET key_version = ?, ciphertext = ? WHERE secret_id = ? AND version = ?",
                             -1, SQLITE_PREPARE_PERSISTENT, &update, NULL),
          "prepare update");
    int64_t *keys = malloc(sizeof(int64_t) * 2 * (size_t)batch), updated = 0;
    if (!keys) fail("out of memory");
    *transactions = 0;
    for (;;) {
        exec("BEGIN IMMEDIATE");
        (*transactions)++;
        sqlite3_bind_int64(next, 1, 2);
        sqlite3_bind_int64(next, 2, batch);
        int64_t n = 0;
        int rc;
        while ((rc = sqlite3_step(next)) == SQLITE_ROW) {
            keys[2 * n] = sqlite3_column_int64(next, 0);
            keys[2 * n + 1] = sqlite3_column_int64(next, 1);
            n++;
        }
        check(rc, "select versions");
        sqlite3_reset(next);
        for (int64_t k = 0; k < n; k++) {
            int64_t id = keys[2 * k];
            int size = ciphertext_size(id - 1);
            sqlite3_bind_int64(update, 1, 2);
            sqlite3_bind_blob(update, 2, random_bytes(size, (uint64_t)id * 7 + 1000003), size, SQLITE_STATIC);
            sqlite3_bind_int64(update, 3, id);
            sqlite3_bind_int64(update, 4, keys[2 * k + 1]);
            check(sqlite3_step(update), "update version");
            if (sqlite3_changes(db) != 1) fail("update of secret %" PRId64 " changed %d rows", id, sqlite3_changes(db));
            sqlite3_reset(update);
        }
        exec("COMMIT");
        if (n == 0) break;
        updated += n;
    }
    sqlite3_clear_bindings(update);
    sqlite3_finalize(next);
    sqlite3_finalize(update);
    free(keys);
    return updated;
}

static void usage(void) {
    fputs("usage: keyhold-floor --db PATH --schema FILE [--count N] [--import-batch N] [--import-bytes N] [--batch N]\n"
          "       keyhold-floor --digest N   (print the workload digest of N entries and exit)\n"
          "  --db            the database to create (must not exist; its directory must)\n"
          "  --schema        schema.sql: every migration, applied in one transaction\n"
          "  --count         secrets to insert and then update (default 100000)\n"
          "  --import-batch  most entries per insert transaction (default 10000: Session.defaultImportBatchSize)\n"
          "  --import-bytes  most value bytes per insert transaction (default 1048576: Session.batchValueBytes)\n"
          "  --batch         versions per update transaction (default 1000: Session.defaultBatchSize)\n",
          stderr);
}

static int64_t number(const char *flag, const char *v) {
    char *end;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || *end || n < 1) fail("%s: not a positive number: %s", flag, v ? v : "(missing)");
    return n;
}

int main(int argc, char **argv) {
    const char *schema = NULL;
    int64_t count = 100000, import_batch = 10000, import_bytes = 1 << 20, batch = 1000;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (!strcmp(a, "--db") && v) db_path = argv[++k];
        else if (!strcmp(a, "--schema") && v) schema = argv[++k];
        else if (!strcmp(a, "--count")) count = number(a, v), k++;
        else if (!strcmp(a, "--import-batch")) import_batch = number(a, v), k++;
        else if (!strcmp(a, "--import-bytes")) import_bytes = number(a, v), k++;
        else if (!strcmp(a, "--batch")) batch = number(a, v), k++;
        else if (!strcmp(a, "--digest")) {
            printf("%016" PRIx64 "\n", workload_digest(number(a, v)));
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else {
            usage();
            fail("unknown or incomplete argument %s", a);
        }
    }
    if (!db_path || !schema) {
        usage();
        fail("--db and --schema are needed");
    }
    if (access(db_path, F_OK) == 0) fail("%s exists: the floor makes a fresh database", db_path);
    for (size_t got = 0; got < sizeof pool;) {
        ssize_t n = getrandom(pool + got, sizeof pool - got, 0);
        if (n < 0 && errno != EINTR) fail("getrandom: %s", strerror(errno));
        if (n > 0) got += (size_t)n;
    }

    create_database(schema);
    long rss_setup = peak_rss_kib();

    struct sample t0 = sample_now();
    int64_t insert_transactions = insert_all(count, import_batch, import_bytes);
    struct sample insert = since(t0);
    long rss_insert = peak_rss_kib();

    int64_t update_transactions;
    t0 = sample_now();
    int64_t updated = update_all(batch, &update_transactions);
    struct sample update = since(t0);
    long rss_update = peak_rss_kib();

    /* Outside the timings: the rows are what the product's would be. */
    int64_t versions = query_int("SELECT count(*) FROM secret_versions");
    int64_t under_new = query_int("SELECT count(*) FROM secret_versions WHERE key_version = 2");
    int64_t secrets = query_int("SELECT count(*) FROM secrets");
    int64_t stored = query_int("SELECT sum(length(ciphertext)) FROM secret_versions");
    int64_t tags = query_int("SELECT count(*) FROM secrets WHERE length(name_tag) = 32");
    int64_t expected = 0;
    for (int64_t i = 0; i < count; i++) expected += ciphertext_size(i);
    char integrity[64];
    query_text("PRAGMA quick_check", integrity, sizeof integrity);
    if (updated != count || versions != count || under_new != count || secrets != count || tags != count || stored != expected
        || strcmp(integrity, "ok") != 0)
        fail("check failed: %" PRId64 " updated, %" PRId64 " versions (%" PRId64 " under key 2), %" PRId64 " secrets, %" PRId64
             " name tags, %" PRId64 " ciphertext bytes (expected %" PRId64 " of each count, %" PRId64 " bytes), quick_check %s",
             updated, versions, under_new, secrets, tags, stored, count, expected, integrity);
    check(sqlite3_close(db), "close");

    printf("RESULT {\"kind\":\"native\",\"count\":%" PRId64 ",\"batch\":%" PRId64 ",\"importBatch\":%" PRId64
           ",\"firstSeconds\":%.6f,\"secondSeconds\":%.6f,\"firstCPUSeconds\":%.6f,\"secondCPUSeconds\":%.6f"
           ",\"firstThreadCPUSeconds\":%.6f,\"secondThreadCPUSeconds\":%.6f"
           ",\"firstRunQueueSeconds\":%.6f,\"secondRunQueueSeconds\":%.6f"
           ",\"rssSetupKiB\":%ld,\"rssFirstKiB\":%ld,\"rssSecondKiB\":%ld"
           ",\"checked\":\"%" PRId64 " secrets inserted in %" PRId64 " transaction(s), then %" PRId64 " versions updated in %" PRId64
           " transaction(s), all now under key version 2 (%" PRId64 " ciphertext bytes, as sized); quick_check ok\""
           ",\"sqliteVersion\":\"%s\",\"workloadDigest\":\"%016" PRIx64 "\",\"transactions\":[%" PRId64 ",%" PRId64 "]}\n",
           count, batch, import_batch, insert.wall, update.wall, insert.cpu, update.cpu, insert.thread, update.thread, insert.queue, update.queue,
           rss_setup, rss_insert, rss_update, count, insert_transactions, updated, update_transactions, stored,
           sqlite3_libversion(), workload_digest(count), insert_transactions, update_transactions);
    return 0;
}
