# shellcheck shell=bash
# .ci/lib/auth.sh: prerequisites of the authentication tests.
# Provides: ensure_openssl.
# Needs: common.sh (apt_install).
#
#   ensure_openssl   make `openssl` available: tests/api/test_auth_key_formats.py checks that a certificate
#                    made by the chapter's `openssl req -x509 …` command verifies tokens. Without
#                    openssl that test skips, and under ORDERS_REQUIRE_ALL=1 the skip is a failure.
#                    Idempotent; starts nothing, so there is nothing to stop.

ensure_openssl() {
  if ! command -v openssl >/dev/null 2>&1; then
    echo "openssl not found: installing Debian's openssl"
    apt_install openssl
  fi
  openssl version
}
