"""Runs the example application under `keyhold run` and reports what it saw.

test_app.py starts this script as

    keyhold run --prefix app/ -- python keyhold_child.py

so SECRET_KEY and API_TOKEN reach it only the way they reach the real
application. It drives the app with Flask's test client against the vault
test_app.py prepared, and prints one JSON object: check name -> [ok, detail].
It never prints a secret value: the injected ones are compared by SHA-256
fingerprints that test_app.py passes in.

Most checks use the application as tests make it (``create_app(testing=True)``:
a session cookie without ``Secure``, so the test client keeps it over plain
HTTP); the cookie, HTTPS and header checks also use it as it runs in production
(``create_app()``). Each client gets its own loopback address (a WSGI value:
nothing is sent anywhere), so the per-address login limit of one block does not
reach the next.
"""

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import traceback
from html.parser import HTMLParser
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY, create_app, read_only_uri  # noqa: E402

PASSWORDS = json.loads(os.environ["EXAMPLE_PASSWORDS"])  # username -> password (test accounts only)
results: dict[str, list] = {}


def check(name: str, ok: bool, detail: str = "") -> None:
    results[name] = [bool(ok), detail]


def fingerprint(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value is not None else None


_addresses = count(2)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


HTTPS = "https://localhost"  # a URL's scheme and host, for the test client only: no connection is made


def client(app):
    """A test client with an address of its own (127.0.0.N)."""
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = f"127.0.0.{next(_addresses)}"
    return c


def csrf_token(c, path: str = "/login") -> str:
    """The token in the first form of the page at `path` (the session's token)."""
    page = c.get(path)
    found = TOKEN.search(page.get_data(as_text=True))
    if found is None:
        raise AssertionError(f"no csrf_token in {path} ({page.status_code})")
    return found.group(1)


def sign_in(c, username: str, password: str | None = None, query: dict | None = None, headers: dict | None = None):
    """Signs in through the login form, as a browser does: the page first (its token), then the POST."""
    token = csrf_token(c)
    return c.post("/login", query_string=query, headers=headers,
                  data={"csrf_token": token, "username": username, "password": password or PASSWORDS[username]})


def sign_out(c):
    return c.post("/logout", data={"csrf_token": csrf_token(c, "/")})


class Forms(HTMLParser):
    """Counts the forms of a page and the non-empty csrf_token fields inside them."""

    def __init__(self):
        super().__init__()
        self.forms, self.with_token, self.inside = 0, 0, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms, self.inside = self.forms + 1, True
        elif tag == "input" and self.inside and a.get("name") == "csrf_token" and a.get("type") == "hidden" \
                and a.get("value"):
            self.with_token += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def forms_of(html: str) -> tuple[int, int]:
    parser = Forms()
    parser.feed(html)
    return parser.forms, parser.with_token


def session_cookie(response) -> str | None:
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")), None)


def cookie_flags(header: str | None) -> set[str]:
    """The attributes of a Set-Cookie header, lower case (`httponly`, `secure`, `samesite=lax`)."""
    return {part.strip().lower() for part in (header or "").split(";")[1:]}


def accounts(app) -> None:
    """Signing in and out, permissions, refused accounts, imported hashes."""
    with client(app) as c:
        r = c.get("/secrets-page")
        check("anonymous_redirected_to_login", r.status_code == 302 and "/login" in r.headers["Location"], str(r.status_code))

        r = sign_in(c, "alice")
        check("right_password_logs_in", r.status_code == 302, str(r.status_code))
        r = c.get("/")
        check("home_shows_user", r.status_code == 200 and b"alice" in r.data and b"operator" in r.data, str(r.status_code))
        r = c.get("/secrets-page")
        check("operator_may_list_secrets", r.status_code == 200, str(r.status_code))
        r = c.get("/admin")
        check("operator_denied_admin", r.status_code == 403 and b"users.write" in r.data, str(r.status_code))
        r = c.get("/integration")
        check("integration_sees_token", r.status_code == 200 and r.json["api_token_configured"] is True
              and r.json["api_token_sha256_prefix"] == os.environ["EXPECT_API_TOKEN_SHA256"][:12], str(r.json))
        r = sign_out(c)
        check("logout_ends_session", r.status_code == 302 and c.get("/").status_code == 302, str(r.status_code))

    with client(app) as c:
        r = sign_in(c, "alice", "not alice's password at all")
        check("wrong_password_refused", r.status_code == 401 and b"Wrong username or password" in r.data, str(r.status_code))
        r = c.get("/")
        check("wrong_password_no_session", r.status_code == 302, str(r.status_code))
        r = sign_in(c, "nobody-here", "whatever it is")
        check("unknown_user_refused_alike", r.status_code == 401 and b"Wrong username or password" in r.data, str(r.status_code))

    for name, status, text in [("lou", 403, b"locked"), ("dan", 403, b"disabled"), ("eve", 403, b"expired"),
                               ("newbie", 403, b"keyhold user passwd")]:
        with client(app) as c:
            r = sign_in(c, name)
            check(f"{name}_refused", r.status_code == status and text in r.data, f"{r.status_code} {r.data[-300:]!r}")
            check(f"{name}_no_session", c.get("/").status_code == 302)
            r = sign_in(c, name, "a wrong password for them")
            check(f"{name}_state_hidden_from_wrong_password", r.status_code == 401 and text not in r.data, str(r.status_code))

    with client(app) as c:
        r = sign_in(c, "ursula")
        check("plain_user_logs_in", r.status_code == 302, str(r.status_code))
        r = c.get("/secrets-page")
        check("permission_denied_403", r.status_code == 403 and b"secrets.list" in r.data, str(r.status_code))
        check("plain_user_home_200", c.get("/").status_code == 200)

    with client(app) as c:
        r = sign_in(c, "admin")
        check("admin_logs_in", r.status_code == 302, str(r.status_code))
        check("admin_page_200", c.get("/admin").status_code == 200)

    # Imported accounts: the application verifies their legacy hashes itself.
    for name, path in [("bert", "/"), ("ivy", "/secrets-page")]:
        with client(app) as c:
            r = sign_in(c, name)
            check(f"imported_{name}_logs_in", r.status_code == 302, str(r.status_code))
            check(f"imported_{name}_page", c.get(path).status_code == 200)
            r = sign_in(c, name, "not the imported password")
            check(f"imported_{name}_wrong_password", r.status_code == 401, str(r.status_code))


# `next` as the application receives it (request.args, already percent-decoded once):
# each must send a freshly signed-in user to the home page, never elsewhere, never a 500.
NEXT_REFUSED = {
    "double_slash": "//evil.example",
    "slash_backslash": "/\\evil.example",
    "tab_between_slashes": "/\t/evil.example",  # the URL's `next=/%09/evil.example`; browsers drop the tab
    "backslash_slash": "\\/evil.example",
    "scheme_no_slashes": "https:evil.example",
    "absolute_url": "https://evil.example",
    "scheme_slash_backslash": "https:/\\evil.example",
    "triple_slash": "///evil.example",
    "encoded_slashes": "/%2F%2Fevil.example",
    "encoded_slashes_no_lead": "%2F%2Fevil.example",
    "encoded_backslash": "/%5Cevil.example",
    "encoded_tab": "/%09/evil.example",
    "double_encoded_tab": "/%2509/evil.example",
    "quadruple_encoded_tab": "/%25252509/evil.example",  # more rounds than safe_next decodes
    "javascript": "javascript:alert(1)",
    "newline": "/\nevil.example",
    "header_injection": "/\r\nSet-Cookie: stolen=1",
    "encoded_newline": "/%0Aevil.example",
    "tab": "\t//evil.example",
    "nul": "/\x00/evil.example",
    "leading_space": " /evil.example",
    "line_separator": "/\u2028/evil.example",
    "no_leading_slash": "evil.example",
    "empty": "",
}
NEXT_KEPT = {
    "path": "/secrets-page",
    "query": "/secrets-page?tab=all&sort=name",
    "query_plus": "/?q=a+b",
    "query_holding_url": "/secrets-page?from=https://example.com/x",
    "query_encoded_slash": "/admin?dir=%2Fvar",
    "fragment": "/integration#top",
}


def next_targets(app) -> None:
    """Where a signed-in user is sent: only a path on this site (safe_next)."""
    cases = [(f"next_refused_{label}", target, "/") for label, target in NEXT_REFUSED.items()]
    cases += [(f"next_kept_{label}", target, target) for label, target in NEXT_KEPT.items()]
    with client(app) as c:
        for name, target, where in cases:
            try:
                r = sign_in(c, "alice", query={"next": target})
            except Exception as e:  # in test mode a 500 reaches the test client as the exception
                check(name, False, f"the application failed: {e!r}")
                continue
            check(name, r.status_code == 302 and r.headers.get("Location") == where,
                  f"{r.status_code} {r.headers.get('Location')!r}")
        r = sign_in(c, "alice")
        check("next_missing_goes_home", r.status_code == 302 and r.headers["Location"] == "/", str(r.headers.get("Location")))

    # A visitor sent to the login page comes back to the page asked for, query included.
    with client(app) as c:
        r = c.get("/secrets-page?tab=all")
        login_url = r.headers["Location"]
        token = csrf_token(c)
        r = c.post(login_url, data={"csrf_token": token, "username": "alice", "password": PASSWORDS["alice"]})
        check("next_round_trip_keeps_query", r.status_code == 302 and r.headers["Location"] == "/secrets-page?tab=all"
              and c.get(r.headers["Location"]).status_code == 200, f"{login_url} -> {r.headers.get('Location')}")


def csrf(app) -> None:
    """Every form carries the session's token; a POST without it, or with another, changes nothing."""
    with client(app) as c:
        login_page = c.get("/login").get_data(as_text=True)
        forms, with_token = forms_of(login_page)
        check("login_form_has_token", forms == 1 and with_token == 1, f"{forms} forms, {with_token} tokens")
        r = c.post("/login", data={"username": "alice", "password": PASSWORDS["alice"]})
        check("login_without_token_refused", r.status_code == 400 and c.get("/").status_code == 302
              and b"did not come from this site" in r.data, str(r.status_code))
        r = c.post("/login", data={"csrf_token": "forged", "username": "alice", "password": PASSWORDS["alice"]})
        check("login_with_forged_token_refused", r.status_code == 400 and c.get("/").status_code == 302, str(r.status_code))
        with client(app) as other:
            theirs = csrf_token(other)
        r = c.post("/login", data={"csrf_token": theirs, "username": "alice", "password": PASSWORDS["alice"]})
        check("token_of_another_session_refused", r.status_code == 400 and c.get("/").status_code == 302,
              str(r.status_code))
        check("refused_form_comes_back_with_token", TOKEN.search(r.get_data(as_text=True)) is not None,
              str(r.status_code))

    with client(app) as c:
        sign_in(c, "alice")
        home = c.get("/").get_data(as_text=True)
        forms, with_token = forms_of(home)
        check("every_form_on_home_has_token", forms >= 1 and forms == with_token, f"{forms} forms, {with_token} tokens")
        r = c.post("/logout")
        check("logout_without_token_refused", r.status_code == 400 and c.get("/").status_code == 200, str(r.status_code))
        r = c.post("/logout", data={"csrf_token": "forged"})
        check("logout_with_forged_token_refused", r.status_code == 400 and c.get("/").status_code == 200,
              str(r.status_code))
        r = sign_out(c)
        check("logout_with_token_works", r.status_code == 302 and c.get("/").status_code == 302, str(r.status_code))


def cookies_and_headers(app, production) -> None:
    """The session cookie's flags; security headers on every response; HSTS over HTTPS only."""
    with client(production) as c:
        first = session_cookie(c.get(HTTPS + "/login"))
        token = csrf_token(c, HTTPS + "/login")
        form = {"csrf_token": token, "username": "alice", "password": PASSWORDS["alice"]}
        r = c.post(HTTPS + "/login", data=form)
        check("https_post_without_referer_refused", r.status_code == 400, str(r.status_code))
        r = c.post(HTTPS + "/login", data=form, headers={"Referer": "https://evil.example/login"})
        check("https_post_from_other_origin_refused", r.status_code == 400, str(r.status_code))
        r = c.post(HTTPS + "/login", data=form, headers={"Referer": HTTPS + "/login"})
        signed_in = session_cookie(r)
        check("https_login_works", r.status_code == 302 and c.get(HTTPS + "/").status_code == 200, str(r.status_code))
        for label, header in [("before_login", first), ("after_login", signed_in)]:
            flags = cookie_flags(header)
            check(f"production_cookie_{label}", {"httponly", "samesite=lax", "secure"} <= flags, str(sorted(flags)))
        r = c.get(HTTPS + "/")
        check("hsts_over_https", r.headers.get("Strict-Transport-Security") == STRICT_TRANSPORT_SECURITY,
              str(r.headers.get("Strict-Transport-Security")))

    with client(production) as c:
        r = c.get("/login")
        flags = cookie_flags(session_cookie(r))
        check("production_cookie_secure_over_http_too", {"httponly", "samesite=lax", "secure"} <= flags, str(sorted(flags)))
        check("no_hsts_over_http", "Strict-Transport-Security" not in r.headers)

    with client(app) as c:
        flags = cookie_flags(session_cookie(c.get("/login")))
        check("test_cookie_httponly_lax", {"httponly", "samesite=lax"} <= flags and "secure" not in flags,
              str(sorted(flags)))

    # One response of each kind the application gives.
    responses = {}
    with client(app) as c:
        responses["login_page"] = c.get("/login")
        responses["anonymous_redirect"] = c.get("/")
        responses["csrf_refusal"] = c.post("/login", data={"username": "alice", "password": "x"})
        responses["not_found"] = c.get("/no-such-page")
        responses["wrong_password"] = sign_in(c, "alice", "not alice's password at all")
        responses["sign_in"] = sign_in(c, "alice")
        responses["page"] = c.get("/")
        responses["forbidden"] = c.get("/admin")
        responses["json"] = c.get("/integration")
        responses["sign_out"] = sign_out(c)
    expected = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    for label, r in responses.items():
        wrong = {name: r.headers.get(name) for name, value in expected.items() if r.headers.get(name) != value}
        check(f"security_headers_{label}", not wrong, f"{r.status_code} {wrong}")
    policy = {d.split()[0]: d.split()[1:] for d in CONTENT_SECURITY_POLICY.split("; ")}
    check("csp_allows_no_inline_or_framing", policy.get("default-src") == ["'none'"]
          and policy.get("frame-ancestors") == ["'none'"] and not any("unsafe" in v for vs in policy.values() for v in vs),
          CONTENT_SECURITY_POLICY)
    pages = "".join(r.get_data(as_text=True) for r in responses.values())
    check("pages_need_no_inline_style_or_script", "<script" not in pages and "style=" not in pages and "<style" not in pages)


def rate_limit(app) -> None:
    """Failed sign-ins are limited per username and per client address; a right password does not count."""
    now = [1000.0]
    for limiter in app.extensions["login_limiters"].values():
        limiter.clock = lambda: now[0]

    with client(app) as c:
        for _ in range(5):
            sign_in(c, "admin", "a wrong guess for admin")
        r = sign_in(c, "admin")  # the right password, after five failures
        retry = r.headers.get("Retry-After", "")
        check("username_limited_after_failures", r.status_code == 429 and b"Too many sign-in attempts" in r.data
              and retry.isdigit() and 0 < int(retry) <= 300 and c.get("/").status_code == 302,
              f"{r.status_code} {retry!r}")
        wrong = sign_in(c, "admin", "a wrong guess for admin")
        check("limited_answer_same_for_right_and_wrong", wrong.status_code == 429 and wrong.data == r.data,
              str(wrong.status_code))
        r = sign_in(c, "alice")
        check("other_username_same_address_allowed", r.status_code == 302, str(r.status_code))
    with client(app) as c:
        r = sign_in(c, "ADMIN", PASSWORDS["admin"])
        check("username_limit_follows_the_name_across_addresses_and_case", r.status_code == 429, str(r.status_code))
        for _ in range(5):
            sign_in(c, "nobody-at-all", "a guess")
        r = sign_in(c, "nobody-at-all", "a guess")
        check("unknown_username_limited_alike", r.status_code == 429, str(r.status_code))

    with client(app) as c:
        for i in range(20):
            sign_in(c, f"spray{i:02d}", "one guess each")
        r = sign_in(c, "alice")
        check("address_limited_after_failures", r.status_code == 429 and c.get("/").status_code == 302, str(r.status_code))
    with client(app) as c:
        r = sign_in(c, "alice")
        check("other_address_allowed", r.status_code == 302, str(r.status_code))

    with client(app) as c:
        statuses = {sign_in(c, "ursula").status_code for _ in range(25)}
        check("right_passwords_not_counted", statuses == {302}, str(statuses))

    now[0] += 301
    with client(app) as c:
        r = sign_in(c, "admin")
        check("limit_ends_with_the_window", r.status_code == 302, str(r.status_code))


def main() -> None:
    app = create_app(testing=True)
    production = create_app()

    # The secrets came through keyhold run, and nothing else put them there.
    check("secret_key_injected", fingerprint(app.config["SECRET_KEY"]) == os.environ["EXPECT_SECRET_KEY_SHA256"])
    check("api_token_injected", fingerprint(app.config["API_TOKEN"]) == os.environ["EXPECT_API_TOKEN_SHA256"])
    check("no_password_in_environment", "KEYHOLD_PASSWORD" not in os.environ,
          "keyhold run removes KEYHOLD_PASSWORD from the child's environment")

    # A section that crashes is reported as such; the others still run and report.
    for section, args in [(accounts, (app,)), (next_targets, (app,)), (csrf, (app,)),
                          (cookies_and_headers, (app, production)), (rate_limit, (create_app(testing=True),))]:
        try:
            section(*args)
        except Exception:
            results[f"crashed_in_{section.__name__}"] = [False, traceback.format_exc()[-2000:]]

    # The next request sees a change made in Keyhold: lock a signed-in user.
    with client(app) as c:
        sign_in(c, "ursula")
        before = c.get("/").status_code
        env = dict(os.environ, KEYHOLD_USER="admin", KEYHOLD_PASSWORD=PASSWORDS["admin"])
        locked = subprocess.run([os.environ["KEYHOLD_BIN"], "user", "lock", "ursula"], env=env,
                                capture_output=True, text=True)
        after = c.get("/").status_code
        check("lock_takes_effect_next_request", before == 200 and locked.returncode == 0 and after == 302,
              f"{before} {locked.returncode} {locked.stderr[-200:]} {after}")

    # The application's connection cannot write.
    conn = sqlite3.connect(read_only_uri(app.config["KEYHOLD_DB"]), uri=True)
    try:
        conn.execute("UPDATE users SET locked = 0")
        check("connection_is_read_only", False, "an UPDATE went through")
    except sqlite3.OperationalError as e:
        check("connection_is_read_only", "readonly" in str(e), str(e))
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except Exception:
        results["child_crashed"] = [False, traceback.format_exc()[-2000:]]
    print(json.dumps(results))
