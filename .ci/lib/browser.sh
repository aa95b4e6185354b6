# shellcheck shell=bash
# .ci/lib/browser.sh: the browser leg of CI (/docs in Debian's Chromium).
# Provides: browser_install, browser_suite.
# Needs: common.sh (apt_install); uv.
#
#   browser_install
#     Installs Debian's `chromium` and `chromium-driver` when /usr/bin/chromium is missing (apt_install: apt's
#     output on stderr). Playwright's own browser download cannot work here, so tests/browser drives this
#     executable. Idempotent; starts nothing.
#   browser_suite
#     Runs `uv run pytest -m browser tests/browser -s` from the repository root: /docs in Chromium against a
#     live `orders-app serve` (which the test starts and stops itself). It prints the page's first-load
#     weight and leaves screenshots in .ci/artifacts/ (api-docs.png, api-docs-list-orders.png).

browser_install() {
  if [[ -x /usr/bin/chromium ]] && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium already installed"
  else
    echo "installing Debian's chromium and chromium-driver"
    apt_install chromium chromium-driver
  fi
  /usr/bin/chromium --version
}

browser_suite() {
  local root
  root="$(git rev-parse --show-toplevel)"
  mkdir -p "$root/.ci/artifacts"
  (cd "$root" && uv run pytest -m browser tests/browser -s)
}
