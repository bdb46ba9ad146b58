# shellcheck shell=bash
# Shared helpers of the CLI test scripts (source it after setting $tmp, a scratch folder):
#   check NAME COMMAND...      counts a pass or prints "FAIL: NAME"
#   exit_code WANT COMMAND...  runs it with stdout in $tmp/out and stderr in $tmp/err; true on exit status WANT
#   err_has TEXT...            every TEXT occurs in the last command's stderr
# The script ends with: echo "NAME: $pass passed, $fail failed"; [ "$fail" -eq 0 ]
pass=0
fail=0
check() {
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
exit_code() {
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "  '$*' exited $got, expected $want"; tail -20 "$tmp/err"; return 1; }
}
err_has() {
  local t
  for t in "$@"; do
    grep -qF -- "$t" "$tmp/err" || { echo "  stderr lacks '$t':"; tail -20 "$tmp/err"; return 1; }
  done
}
