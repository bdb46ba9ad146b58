# shellcheck shell=bash
# Shared helpers of the CLI test scripts (source it after setting $tmp, a scratch folder):
#   check NAME COMMAND...      counts a pass or prints "FAIL: NAME"
#   exit_code WANT COMMAND...  runs it with stdout in $tmp/out and stderr in $tmp/err; true on exit status WANT
#   err_has TEXT...            every TEXT occurs in the last command's stderr
#   within VALUE LO HI         LO <= VALUE <= HI (numbers), else prints the value and the range
#   col FILE NAME COLUMN       the COLUMN field of the CSV row whose 2nd field is NAME (lafov roi's CSV;
#                              a script whose CSV is keyed otherwise defines its own col after sourcing this)
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
within() { # within VALUE LO HI
  awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { ok = (v != "" && v + 0 >= lo && v + 0 <= hi);
    if (!ok) printf "  %s not in [%s, %s]\n", v, lo, hi; exit !ok }'
}
col() { # col FILE LABEL_NAME COLUMN: a field of the CSV row whose name is LABEL_NAME
  awk -F, -v l="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $2 == l { print $h[c] }' "$1"
}
