// The few crypto types callers handle directly: plaintext buffers,
// token alphabets and KDF cost. Everything else in KeyholdCrypto stays inside the core.
@_exported import class KeyholdCrypto.SecureBytes
@_exported import class KeyholdCrypto.GuardedBuffer
@_exported import class KeyholdCrypto.SecureBuffer
@_exported import class KeyholdCrypto.SecureValues
@_exported import enum KeyholdCrypto.Token
@_exported import struct KeyholdCrypto.KDFCost
@_exported import enum KeyholdCrypto.RecoveryKey
// Filters for listings, shared with the store.
@_exported import struct KeyholdStore.UserQuery
@_exported import struct KeyholdStore.AuditQuery
// Pages of listings (Session+Pages.swift), shared with the store.
@_exported import enum KeyholdStore.NameFilter
@_exported import enum KeyholdStore.PagePosition
@_exported import struct KeyholdStore.UserFilter
@_exported import struct KeyholdStore.AuditFilter
