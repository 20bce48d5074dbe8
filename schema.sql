-- Keyhold vault schema: the one source of truth.
--
-- The program applies this file as numbered migrations: each section starts
-- with a line "-- migration N: title" and runs once, in order, in one
-- transaction. A test proves that a vault the program creates has exactly
-- the schema this file describes. Every stored byte is specified in
-- docs/FORMAT.md. Times are Unix milliseconds (UTC) unless said otherwise.

-- migration 1: initial schema

-- One row: vault-wide settings and the recovery wrap of the root key R.
CREATE TABLE vault (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    format              INTEGER NOT NULL,            -- FORMAT.md version, 1
    created_at          INTEGER NOT NULL,
    kdf_opslimit        INTEGER NOT NULL,            -- Argon2id passes
    kdf_memlimit        INTEGER NOT NULL,            -- Argon2id memory, bytes
    password_min_length INTEGER NOT NULL DEFAULT 12 CHECK (password_min_length BETWEEN 8 AND 1024),
    history_limit       INTEGER NOT NULL DEFAULT 10 CHECK (history_limit BETWEEN 1 AND 1000),
    temp_password_ttl   INTEGER NOT NULL DEFAULT 86400000,
    recovery_sealed     BLOB    NOT NULL,            -- seal(recovery, R, "keyhold/recovery")
    revocation_warning  TEXT                         -- standing warning after key access was removed
) STRICT;

-- Data keys D_v; exactly one is active, older ones decrypt only.
CREATE TABLE data_keys (
    version    INTEGER PRIMARY KEY CHECK (version >= 1),
    sealed     BLOB    NOT NULL,                     -- seal(R, D_v, "keyhold/datakey/<v>")
    state      TEXT    NOT NULL CHECK (state IN ('active', 'decrypt-only')),
    created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX data_keys_one_active ON data_keys(state) WHERE state = 'active';

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT    NOT NULL DEFAULT '',
    builtin     INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE role_permissions (
    role_id    INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission TEXT    NOT NULL CHECK (permission IN (
        'users.read', 'users.write', 'roles.manage', 'secrets.list',
        'secrets.read', 'secrets.write', 'keys.manage', 'audit.read')),
    PRIMARY KEY (role_id, permission)
) STRICT, WITHOUT ROWID;

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    username            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email               TEXT,
    display_name        TEXT    NOT NULL DEFAULT '',
    password_hash       TEXT    NOT NULL,            -- PHC string, $argon2id$v=19$...
    must_change         INTEGER NOT NULL DEFAULT 0 CHECK (must_change IN (0, 1)),
    password_expires_at INTEGER,                     -- set while a temporary password is in force
    locked              INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),   -- locked by an administrator
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    expires_at          INTEGER,                     -- account expiry
    failed_logins       INTEGER NOT NULL DEFAULT 0,  -- consecutive failures
    locked_until        INTEGER,                     -- lockout after failures
    key_id              INTEGER REFERENCES user_keys(id),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_login_at       INTEGER
) STRICT;

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_roles_by_role ON user_roles(role_id);

-- Ed25519 key pairs. Rows outlive their users (no foreign key) so that the
-- audit events they signed still verify; the sealed secret key is removed
-- when the key is retired.
CREATE TABLE user_keys (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL,
    username          TEXT    NOT NULL,
    public_key        BLOB    NOT NULL CHECK (length(public_key) = 32),
    sealed_secret_key BLOB,                          -- seal(U, sk, "keyhold/userkey/<user id>/<key id>")
    kdf_salt          BLOB    CHECK (kdf_salt IS NULL OR length(kdf_salt) = 16),
    kdf_opslimit      INTEGER,
    kdf_memlimit      INTEGER,
    created_at        INTEGER NOT NULL,
    retired_at        INTEGER
) STRICT;
CREATE INDEX user_keys_by_user ON user_keys(user_id);

-- The root key R sealed to one user; sealed_root NULL means pending.
CREATE TABLE grants (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_id      INTEGER REFERENCES user_keys(id),
    sealed_root BLOB,                                -- crypto_box_seal(R, x25519(public key))
    created_at  INTEGER NOT NULL,
    CHECK (sealed_root IS NULL OR key_id IS NOT NULL)
) STRICT;

CREATE TABLE secrets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT    NOT NULL DEFAULT '',
    current_version INTEGER NOT NULL,
    last_version    INTEGER NOT NULL,                -- highest version ever made: numbers are never reused
    history_limit   INTEGER CHECK (history_limit IS NULL OR history_limit BETWEEN 1 AND 1000),
    rotate_by       INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE secret_versions (
    secret_id   INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 1),
    key_version INTEGER NOT NULL REFERENCES data_keys(version),
    ciphertext  BLOB    NOT NULL,                    -- seal(D_v, value, "keyhold/secret/<secret id>/<version>/<v>")
    created_at  INTEGER NOT NULL,
    created_by  INTEGER,
    PRIMARY KEY (secret_id, version)
) STRICT, WITHOUT ROWID;
CREATE INDEX secret_versions_by_key ON secret_versions(key_version);

-- Tamper-evident log: a BLAKE2b chain, each event signed by its actor.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY CHECK (seq >= 1),
    at           INTEGER NOT NULL,
    actor_id     INTEGER,
    actor_name   TEXT    NOT NULL,
    actor_key_id INTEGER,                            -- user_keys.id that signed; NULL: unsigned
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    details      TEXT    NOT NULL,                   -- JSON object, never a secret
    prev_hash    BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash         BLOB    NOT NULL CHECK (length(hash) = 32),
    signature    BLOB    CHECK (signature IS NULL OR length(signature) = 64)
) STRICT;
CREATE INDEX audit_by_actor ON audit_events(actor_name COLLATE NOCASE, seq);
CREATE INDEX audit_by_action ON audit_events(action, seq);
CREATE INDEX audit_by_time ON audit_events(at);

-- The log is append-only through the program's own connection.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Permissions of each user, through their roles.
CREATE VIEW user_permissions AS
    SELECT DISTINCT ur.user_id AS user_id, rp.permission AS permission
    FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id;

-- migration 2: key rotation

-- Root key generation: sessions holding an older R must log in again.
ALTER TABLE vault ADD COLUMN root_version INTEGER NOT NULL DEFAULT 1;
-- Versions sealed under a data key below this are refused, even if a row survives.
ALTER TABLE vault ADD COLUMN min_decrypt_version INTEGER NOT NULL DEFAULT 1;

-- A data-key rotation in progress (state 'running') or finished. The work
-- itself is the set of secret_versions whose key_version is not the target:
-- each batch re-seals some in one transaction, so a killed job resumes where
-- the last committed batch left off and loses nothing.
CREATE TABLE rotation_jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    target_version INTEGER NOT NULL,                 -- data_keys.version (kept as history after the key goes)
    state          TEXT    NOT NULL CHECK (state IN ('running', 'done')),
    total          INTEGER NOT NULL,
    raise_minimum  INTEGER NOT NULL DEFAULT 1 CHECK (raise_minimum IN (0, 1)),
    started_at     INTEGER NOT NULL,
    started_by     INTEGER,
    finished_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX rotation_jobs_one_running ON rotation_jobs(state) WHERE state = 'running';

-- migration 3: application accounts

-- The stable read-only interface for a web application (docs/APPLICATIONS.md):
-- one row per user, everything an application needs to verify a login and
-- check a permission, and nothing else. Columns are only ever added, never
-- renamed, removed or given another meaning. Flags are 0 or 1, evaluated at
-- the moment of the query ("now" is SQLite's clock, UTC):
--   roles, permissions  comma-separated names, sorted; '' when none
--   active       may log in now: not disabled, not locked by an administrator,
--                not expired, not locked out after failed logins
--   locked       locked by an administrator, or locked out after failed logins
--   expired      the account's expiry has passed
--   must_change  the password was set by someone else (a temporary password):
--                it must be changed with Keyhold before the account is used
--   legacy_hash  the hash is not Argon2id at the vault's current cost (an
--                imported bcrypt or Argon2i hash, or an older, cheaper one);
--                Keyhold replaces it at the user's next Keyhold login
CREATE VIEW app_users AS
    SELECT
        u.id            AS id,
        u.username      AS username,
        u.email         AS email,
        u.display_name  AS display_name,
        u.password_hash AS password_hash,
        coalesce((SELECT group_concat(name, ',') FROM (
                     SELECT r.name AS name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY r.name)), '') AS roles,
        coalesce((SELECT group_concat(permission, ',') FROM (
                     SELECT DISTINCT rp.permission AS permission
                     FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY rp.permission)), '') AS permissions,
        CASE WHEN u.disabled = 0 AND u.locked = 0
                  AND (u.expires_at IS NULL OR u.expires_at > n.now)
                  AND (u.locked_until IS NULL OR u.locked_until <= n.now) THEN 1 ELSE 0 END AS active,
        CASE WHEN u.locked = 1 OR coalesce(u.locked_until > n.now, 0) THEN 1 ELSE 0 END AS locked,
        u.disabled      AS disabled,
        CASE WHEN coalesce(u.expires_at <= n.now, 0) THEN 1 ELSE 0 END AS expired,
        u.must_change   AS must_change,
        CASE WHEN substr(u.password_hash, 1, length(n.current_prefix)) = n.current_prefix THEN 0 ELSE 1 END AS legacy_hash
    FROM users u
    CROSS JOIN (SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000 AS now,
                       '$argon2id$v=19$m=' || (kdf_memlimit / 1024) || ',t=' || kdf_opslimit || ',p=1$' AS current_prefix
                FROM vault WHERE id = 1) n;

-- migration 4: rotate-by index
-- The dashboard's warnings (secrets past or near their rotate-by date) read a
-- range of this index, not every secret. Partial: most secrets have no date,
-- and inserting those (bulk import) does not touch it.
CREATE INDEX secrets_by_rotate_by ON secrets(rotate_by, name) WHERE rotate_by IS NOT NULL;

-- migration 5: trust in the file (format 2)
-- Rows an attacker who can write the file could plant are trusted only when a
-- key they cannot have vouches for them (docs/SECURITY.md, "Trust in the file";
-- the bytes are in docs/FORMAT.md).

-- The vault's identity, and the audit event that trust starts from: the genesis
-- (vault.create) or the upgrade to format 2 (vault.upgrade). Each user pins both.
ALTER TABLE vault ADD COLUMN vault_id BLOB CHECK (vault_id IS NULL OR length(vault_id) = 16);
ALTER TABLE vault ADD COLUMN anchor_seq INTEGER;

-- The root signing key of each root key generation: an Ed25519 key derived from
-- R_v, so only holders of R can sign as the vault. Each generation's public key
-- is signed by the one before (link); the anchor event names the first.
CREATE TABLE root_keys (
    version    INTEGER PRIMARY KEY CHECK (version >= 1),
    public_key BLOB    NOT NULL CHECK (length(public_key) = 32),
    link       BLOB    CHECK (link IS NULL OR length(link) = 64),
    created_at INTEGER NOT NULL
) STRICT;

-- pin: the key's owner binds it to this vault (vault id, anchor event), signed with the key itself.
-- endorsement: the root signing key of generation endorsed_root vouches for the key; only
-- endorsed keys ever receive the root key without an administrator's approval.
ALTER TABLE user_keys ADD COLUMN pin BLOB CHECK (pin IS NULL OR length(pin) = 64);
ALTER TABLE user_keys ADD COLUMN endorsement BLOB CHECK (endorsement IS NULL OR length(endorsement) = 64);
ALTER TABLE user_keys ADD COLUMN endorsed_root INTEGER;

-- The root signing key's signature of a sealed grant (its user, key and sealed bytes):
-- a grant replaced by one sealing another root key is caught by anyone, before it is opened.
ALTER TABLE grants ADD COLUMN signature BLOB CHECK (signature IS NULL OR length(signature) = 64);

-- A keyed hash (under a key derived from R) of the secret's id and name: a name
-- moved to another row no longer matches.
ALTER TABLE secrets ADD COLUMN name_tag BLOB CHECK (name_tag IS NULL OR length(name_tag) = 32);

-- migration 6: app_users: Argon2id at or above the vault's cost is current
-- legacy_hash is 1 unless the hash is Argon2id (version 19) whose m (KiB, the
-- digits between "m=" and the first ",t=") is at least kdf_memlimit / 1024 and
-- whose t (the digits between that ",t=" and the next ",p=") is at least
-- kdf_opslimit, any number of lanes:
-- a stronger hash made elsewhere is not legacy (migration 3 asked for exactly
-- the vault's cost). Nothing else changes. A view holds no rows, so a vault of
-- format 2 made before this migration gets it when it is next opened
-- (docs/ARCHITECTURE.md, "Rules"); the format stays 2.
DROP VIEW app_users;
CREATE VIEW app_users AS
    SELECT
        u.id            AS id,
        u.username      AS username,
        u.email         AS email,
        u.display_name  AS display_name,
        u.password_hash AS password_hash,
        coalesce((SELECT group_concat(name, ',') FROM (
                     SELECT r.name AS name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY r.name)), '') AS roles,
        coalesce((SELECT group_concat(permission, ',') FROM (
                     SELECT DISTINCT rp.permission AS permission
                     FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY rp.permission)), '') AS permissions,
        CASE WHEN u.disabled = 0 AND u.locked = 0
                  AND (u.expires_at IS NULL OR u.expires_at > n.now)
                  AND (u.locked_until IS NULL OR u.locked_until <= n.now) THEN 1 ELSE 0 END AS active,
        CASE WHEN u.locked = 1 OR coalesce(u.locked_until > n.now, 0) THEN 1 ELSE 0 END AS locked,
        u.disabled      AS disabled,
        CASE WHEN coalesce(u.expires_at <= n.now, 0) THEN 1 ELSE 0 END AS expired,
        u.must_change   AS must_change,
        (SELECT CASE WHEN substr(h, 1, 17) = '$argon2id$v=19$m='
                          AND m <> '' AND m NOT GLOB '*[^0-9]*' AND length(m) <= 10 AND CAST(m AS INTEGER) >= n.memory_kib
                          AND t <> '' AND t NOT GLOB '*[^0-9]*' AND length(t) <= 10 AND CAST(t AS INTEGER) >= n.passes
                     THEN 0 ELSE 1 END
         FROM (SELECT h, substr(x, 1, instr(x, ',t=') - 1) AS m, substr(r, 1, instr(r, ',p=') - 1) AS t
               FROM (SELECT h, x, substr(x, instr(x, ',t=') + 3) AS r
                     FROM (SELECT u.password_hash AS h, substr(u.password_hash, 18) AS x)))) AS legacy_hash
    FROM users u
    CROSS JOIN (SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000 AS now,
                       kdf_memlimit / 1024 AS memory_kib, kdf_opslimit AS passes
                FROM vault WHERE id = 1) n;

-- migration 7: name index (format 3)
-- Trigram indexes of the names a list is filtered by, so that "contains" is a
-- query, not a scan of every row (docs/ARCHITECTURE.md, "Lists are pages").
-- SQLite's FTS5 with the trigram tokenizer, over the tables themselves
-- (external content: no second copy of any name), holding only rowids and
-- trigrams (detail=none, columnsize=0). They hold names, e-mail addresses and
-- display names: never a value, a hash or a key. The store keeps them in step
-- in the statements that insert, change and delete those rows (the product's
-- connections run with trusted_schema=OFF, under which SQLite refuses an FTS5
-- table inside a trigger), and after a deletion merges the index whole, so
-- that no deleted name stays in it (docs/FORMAT.md, section 11). Built from
-- the rows when a vault of format 2 is first opened by a release of format 3.
CREATE VIRTUAL TABLE secret_names USING fts5(
    name, content='secrets', content_rowid='id', tokenize='trigram', detail='none', columnsize=0);
INSERT INTO secret_names(secret_names) VALUES ('rebuild');
CREATE VIRTUAL TABLE user_names USING fts5(
    username, email, display_name, content='users', content_rowid='id', tokenize='trigram', detail='none', columnsize=0);
INSERT INTO user_names(user_names) VALUES ('rebuild');
