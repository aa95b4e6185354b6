# shellcheck shell=bash
# .ci/lib/bench.sh: the benchmark smoke for CI.
# Provides: bench_smoke.
# Needs: common.sh (apt_install); uv, git, PostgreSQL on 127.0.0.1:5432.
#
#   bench_smoke
#     Runs `bench/run --smoke` from the repository root: both backends (SQLite, and a throwaway
#     database on the PostgreSQL server at ORDERS_BENCH_POSTGRES_URL, default
#     postgresql://postgres@127.0.0.1:5432/postgres, which must be reachable), every scenario for
#     2 seconds, the peer's S1-S3 too (bench/peer, so that it cannot rot), no warm-up, one run.
#     Installs wrk with apt-get when it is missing; the bench group (advanced-alchemy for the peer)
#     comes from the lock through bench/run's `uv run --isolated --frozen --group bench`.
#     Returns non-zero only when a request to the app or the peer failed at the socket level, a
#     response was not 2xx (S4's deliberate 409s excepted), the app or the peer answered the
#     benchmark's requests wrongly (bench/peer/check.py), a server crashed or exited uncleanly, or
#     the run could not start; never on a speed figure, since CI machines are too noisy for thresholds.
#     Leaves nothing running: the runner stops its servers and drops its databases on exit,
#     including on SIGTERM/SIGINT. Results land in bench/results/<time>-smoke/ (git-ignored);
#     set BENCH_SMOKE_OUT to choose the directory (e.g. under .ci/artifacts/).
#     Then the two-minute soak, `bench/run --smoke --soak 2m`, on each backend: S4 unpaced for 13 s to
#     measure its peak, then paced at half of it for two minutes, sampled every minute (PostgreSQL on a
#     server the bench starts itself with initdb into a temporary folder, removed on exit). It fails on
#     any socket error or non-2xx response (409s excepted), and when the server's RSS grows by more than
#     the bound stated in docs/bench.md ("Soak in CI") from the end of minute 1 to the end of minute 2;
#     never on latency or rate. Both legs always run; the function fails when either did.
#     Takes eight to ten minutes on a 2-core machine in all.

bench_smoke() {
  local root
  root="$(git rev-parse --show-toplevel)"
  if ! command -v wrk >/dev/null 2>&1; then
    echo "bench_smoke: installing wrk (Debian package)"
    apt_install wrk
  fi
  local out_args=()
  if [[ -n "${BENCH_SMOKE_OUT:-}" ]]; then
    out_args=(--out "$BENCH_SMOKE_OUT")
  fi
  local rc=0
  (cd "$root" && bench/run --smoke "${out_args[@]}") || rc=$?
  (cd "$root" && bench/run --smoke --soak 2m "${out_args[@]}") || rc=$?
  return "$rc"
}
