#!/usr/bin/env bash
# The browser leg of CI. Source this file (after common.sh when it is there), then call the functions:
#
#   browser_install
#     Installs Debian's `chromium` and `chromium-driver` when /usr/bin/chromium is missing (apt output to
#     stderr; one `apt-get update` per CI run when common.sh's apt_install is available). Playwright's own
#     browser download cannot work here, so tests/browser drives this executable. Idempotent; starts nothing.
#   browser_suite
#     Runs `uv run pytest -m browser tests/browser -s` from the repository root: /docs in Chromium against a
#     live `orders-app serve` (which the test starts and stops itself). It prints the page's first-load
#     weight and leaves screenshots in .ci/artifacts/ (api-docs.png, api-docs-list-orders.png).

browser_install() {
  if [[ -x /usr/bin/chromium ]] && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium already installed"
  else
    echo "installing Debian's chromium and chromium-driver"
    if declare -F apt_install >/dev/null; then
      apt_install chromium chromium-driver >&2
    else
      DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >&2
    fi
  fi
  /usr/bin/chromium --version
}

browser_suite() {
  local root
  root="$(git rev-parse --show-toplevel)"
  mkdir -p "$root/.ci/artifacts"
  (cd "$root" && uv run pytest -m browser tests/browser -s)
}
