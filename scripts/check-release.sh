#!/usr/bin/env bash
# The shipped binary carries no test machinery: none of the names of the test-only switches,
# fault hooks, direct-SQL doors or benchmark floors appear in its strings or symbols, and the
# environment switch that makes cheap-KDF vaults in debug builds does nothing to it.
# Usage: scripts/check-release.sh PATH/TO/release/keyhold
set -euo pipefail
bin=${1:?usage: check-release.sh RELEASE_BINARY}
[ -x "$bin" ] || { echo "check-release: $bin is not an executable" >&2; exit 1; }

forbidden=(
    KEYHOLD_INSECURE_TEST_KDF   # the debug-only cheap-KDF switch of the CLI
    insecureFastForTests        # VaultOptions for tests (KeyholdTestSupport)
    insecureMinimumForTests     # KDFCost for tests (KeyholdTestSupport)
    unsafeExecute unsafeQuery   # direct SQL on a vault (KeyholdTestSupport)
    FaultPoint InjectedFault    # fault injection (debug builds of the core only)
    BenchmarkFloor              # the benchmark's floor (its own target)
    KeyholdTestSupport
)
# Strings (literals, reflection metadata) and symbols (mangled names carry the identifiers).
haystack=$(mktemp)
trap 'rm -f "$haystack" "$haystack".*' EXIT
strings -a "$bin" > "$haystack"
nm -a "$bin" 2>/dev/null >> "$haystack" || true
status=0
for name in "${forbidden[@]}"; do
    if grep -q -- "$name" "$haystack"; then
        echo "check-release: the release binary contains '$name'" >&2
        status=1
    fi
done
[ "$(wc -l < "$haystack")" -gt 1000 ] || { echo "check-release: read almost nothing from $bin" >&2; exit 1; }

# Behaviour: with the switch set, a release build still makes a vault at the default cost
# (libsodium's INTERACTIVE limits: at least 2 passes over 64 MiB).
dir=$(mktemp -d)
trap 'rm -rf "$dir"; rm -f "$haystack"' EXIT
export XDG_DATA_HOME="$dir" KEYHOLD_USER=admin KEYHOLD_PASSWORD='Correct-Horse-Battery-9'
KEYHOLD_INSECURE_TEST_KDF=1 "$bin" init --db "$dir/vault.db" < /dev/null > "$dir/init.json" 2> "$dir/init.err" \
    || { echo "check-release: init failed:" >&2; cat "$dir/init.err" >&2; exit 1; }
"$bin" key status --db "$dir/vault.db" --json > "$dir/status.json" 2> "$dir/status.err" \
    || { echo "check-release: key status failed:" >&2; cat "$dir/status.err" >&2; exit 1; }
if ! python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["kdf"]; sys.exit(0 if k["opslimit"] >= 2 and k["memlimit"] >= 64 << 20 else 1)' "$dir/status.json"; then
    echo "check-release: a vault made with KEYHOLD_INSECURE_TEST_KDF=1 by the release binary is below the default cost:" >&2
    cat "$dir/status.json" >&2
    status=1
fi
[ $status -eq 0 ] && echo "check-release: $bin carries no test machinery"
exit $status
