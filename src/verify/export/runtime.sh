# --- srukit's runtime for exported tests (POSIX sh; dash) ---------------------------------
# What srukit's engine does in a testbed, as shell: commands run at / in a clean environment
# (PATH, HOME=/root, LANG=C.UTF-8, DEBIAN_FRONTEND), patterns are decided by grep in the C
# locale, one outcome per observation or an error, and a JSON result for `srukit report`.

SK_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
sk_error=""
sk_npoints=0
sk_work=$(mktemp -d "${TMPDIR:-/tmp}/srukit-dep8.XXXXXX") || { echo "srukit: mktemp failed"; exit 1; }
sk_art=${AUTOPKGTEST_ARTIFACTS:-$sk_work/artifacts}
mkdir -p "$sk_art" "$sk_work/o" || { echo "srukit: cannot create $sk_art"; exit 1; }
: >"$sk_work/daemons"
trap 'sk_stop_daemons; rm -rf "$sk_work"' EXIT

sk_say() { printf '%s\n' "$*"; }

# A run error: the testbed or the plan is broken (srukit's `error`), never an outcome.
sk_run_error() {
  [ -n "$sk_error" ] || sk_error=$1
  sk_say "srukit: error: $1"
}

# sk_exec TIMEOUT USER STDIN_FILE OUT ERR ARGV...: ARGV as srukit's testbed runs it; sets sk_st.
# 124 is the timeout (timeout(1)); a command that exits 124 itself reads as one (an error,
# never a pass).
sk_exec() {
  _t=$1 _u=$2 _in=$3 _out=$4 _err=$5
  shift 5
  if [ -n "$_u" ]; then set -- runuser -u "$_u" -- "$@"; fi
  # The shell's own stderr is /dev/null while it waits: dash reports a child killed by a
  # signal ("Segmentation fault") there, which would reach the test's stderr (a FAIL
  # without allow-stderr) though the command's own stderr goes to its file.
  exec 3>&2 2>/dev/null
  (cd / && exec env -i PATH="$SK_PATH" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    timeout -k 5 "$_t" "$@") <"$_in" >"$_out" 2>"$_err"
  sk_st=$?
  exec 2>&3 3>&-
}

# The bytes of FILE (at most MAX) as a JSON string: pure ASCII, UTF-8 decoded, anything
# else U+FFFD, so the result is valid JSON whatever a command printed.
sk_json_file() {
  head -c "$2" -- "$1" 2>/dev/null | od -An -v -tu1 | awk '
    { for (i = 1; i <= NF; i++) b[n++] = $i + 0 }
    END {
      printf "\""
      i = 0
      while (i < n) {
        c = b[i]
        if (c < 128) {
          if (c == 34) printf "\\\""
          else if (c == 92) printf "\\\\"
          else if (c == 10) printf "\\n"
          else if (c == 9) printf "\\t"
          else if (c == 13) printf "\\r"
          else if (c < 32 || c == 127) printf "\\u%04x", c
          else printf "%c", c
          i++
          continue
        }
        if (c >= 194 && c <= 223) { len = 2; cp = c - 192 }
        else if (c >= 224 && c <= 239) { len = 3; cp = c - 224 }
        else if (c >= 240 && c <= 244) { len = 4; cp = c - 240 }
        else { printf "\\ufffd"; i++; continue }
        ok = 1
        for (k = 1; k < len; k++) {
          if (i + k >= n) { ok = 0; break }
          d = b[i + k]
          if (d < 128 || d > 191) { ok = 0; break }
          cp = cp * 64 + (d - 128)
        }
        if (ok && len == 3 && (cp < 2048 || (cp >= 55296 && cp <= 57343))) ok = 0
        if (ok && len == 4 && (cp < 65536 || cp > 1114111)) ok = 0
        if (!ok) { printf "\\ufffd"; i++; continue }
        if (cp >= 65536) { cp -= 65536; printf "\\u%04x\\u%04x", 55296 + int(cp / 1024), 56320 + cp % 1024 }
        else printf "\\u%04x", cp
        i += len
      }
      printf "\""
    }'
}

sk_json() {
  printf '%s' "$1" >"$sk_work/json.tmp"
  sk_json_file "$sk_work/json.tmp" 1048576
}

# Whether FILE ends with a newline (an empty file does not).
sk_ends_nl() {
  [ -s "$1" ] && [ "$(tail -c 1 -- "$1" | od -An -tx1 | tr -d ' \n')" = 0a ]
}

# sk_pat FILE NEG KIND PATTERN [EMPTY_SEGMENT]: whether the goss pattern holds for FILE's
# text. KIND F: the text contains PATTERN; E: a line matches the ERE (and the empty segment
# after a final newline, or the empty text, when EMPTY_SEGMENT is 1). grep failing (2) sets
# sk_perr: the observation is an error.
sk_pat() {
  if [ "$3" = F ]; then
    LC_ALL=C grep -a -q -F -e "$4" -- "$1"
    _r=$?
  else
    LC_ALL=C grep -a -q -E -e "$4" -- "$1"
    _r=$?
    if [ "$_r" = 1 ] && [ "${5:-0}" = 1 ] && { [ ! -s "$1" ] || sk_ends_nl "$1"; }; then _r=0; fi
  fi
  if [ "$_r" -gt 1 ]; then
    sk_perr="grep failed on pattern $4"
    return 1
  fi
  if [ "$2" = 1 ]; then [ "$_r" = 1 ]; else [ "$_r" = 0 ]; fi
}

# sk_record CHECK POINT OUTCOME OBSERVED [EVIDENCE_DIR]: one observation of one check.
sk_record() {
  _d="$sk_work/o/$1.$2"
  mkdir -p "$_d"
  printf '%s' "$3" >"$_d/outcome"
  printf '%s' "$4" >"$_d/observed"
}

# sk_select CHECK POINT "MATCHED NAMES" OBSERVED: the one outcome that matched, `unmatched`
# for none, an error for two (the plan proved them exclusive; two say nothing).
sk_select() {
  if [ -n "${sk_perr:-}" ]; then
    sk_record "$1" "$2" error "$sk_perr"
    sk_perr=""
    return
  fi
  set -- "$1" "$2" "$4" $3
  _c=$1 _p=$2 _w=$3
  shift 3
  case $# in
    0) sk_record "$_c" "$_p" unmatched "$_w" ;;
    1) sk_record "$_c" "$_p" "$1" "$_w" ;;
    *) sk_record "$_c" "$_p" error "outcomes $* all matched one observation ($_w)" ;;
  esac
}

# sk_size PATH: its size, 0 when it does not exist (a log check's start).
sk_size() {
  if [ -e "$1" ]; then stat -L -c %s -- "$1"; else echo 0; fi
}

# sk_listening PROTO STATE PORT_HEX ADDR_HEX...: whether a socket of /proc/net/PROTO{,6} in
# STATE is bound to the port, on one of the addresses (none given: any) or the wildcard.
sk_listening() {
  _proto=$1 _state=$2 _port=$3
  shift 3
  for _f in "/proc/net/$_proto" "/proc/net/${_proto}6"; do
    [ -r "$_f" ] || continue
    while read -r _sl _local _rem _st _rest; do
      [ "$_sl" = sl ] && continue
      [ "$_st" = "$_state" ] || continue
      [ "${_local##*:}" = "$_port" ] || continue
      _addr=${_local%:*}
      case $_addr in *[!0]*) ;; *) return 0 ;; esac
      [ $# = 0 ] && return 0
      for _a in "$@"; do [ "$_addr" = "$_a" ] && return 0; done
    done <"$_f"
  done
  return 1
}

# sk_write PATH CONTENT [MODE]: as srukit writes a file in the testbed.
sk_write() {
  mkdir -p -- "$(dirname -- "$1")" && printf '%s' "$2" >"$1" || return 1
  if [ -n "${3:-}" ]; then chmod "$3" -- "$1" || return 1; fi
}

# Edits (srukit's verify/run/edits.rs): the file's text, empty when missing; every other
# byte kept. awk reads ENVIRON, never -v (which would expand backslashes).
sk_edit_set() {
  _f=$1
  _nonl=0
  [ -e "$_f" ] && [ -s "$_f" ] && ! sk_ends_nl "$_f" && _nonl=1
  { [ -e "$_f" ] && cat -- "$_f"; } | SK_KEY=$2 SK_VALUE=$3 SK_NONL=$_nonl awk '
    function lt(s) { sub(/^[ \t\r\f\v]+/, "", s); return s }
    function iskey(line, commented,   t) {
      t = lt(line)
      if (commented) { if (substr(t, 1, 1) != "#") return 0; t = lt(substr(t, 2)) }
      if (substr(t, 1, length(k)) != k) return 0
      return substr(lt(substr(t, length(k) + 1)), 1, 1) == "="
    }
    BEGIN { k = ENVIRON["SK_KEY"] }
    { l[++n] = $0 }
    END {
      at = 0
      for (i = 1; i <= n && !at; i++) if (iskey(l[i], 0)) at = i
      for (i = 1; i <= n && !at; i++) if (iskey(l[i], 1)) at = i
      for (i = 1; i <= n; i++) {
        if (i == at) { printf "%s=%s\n", k, ENVIRON["SK_VALUE"]; continue }
        printf "%s", l[i]
        if (i < n || ENVIRON["SK_NONL"] != 1) printf "\n"
      }
      if (!at) {
        if (n > 0 && ENVIRON["SK_NONL"] == 1) printf "\n"
        printf "%s=%s\n", k, ENVIRON["SK_VALUE"]
      }
    }' >"$sk_work/edit.tmp" || return 1
  mkdir -p -- "$(dirname -- "$_f")" && cat "$sk_work/edit.tmp" >"$_f"
}

sk_edit_ini() {
  _f=$1
  _nonl=0
  [ -e "$_f" ] && [ -s "$_f" ] && ! sk_ends_nl "$_f" && _nonl=1
  { [ -e "$_f" ] && cat -- "$_f"; } | SK_SECTION=$2 SK_KEY=$3 SK_VALUE=$4 SK_NONL=$_nonl awk '
    function trim(s) { sub(/^[ \t\r\n\f\v]+/, "", s); sub(/[ \t\r\n\f\v]+$/, "", s); return s }
    function line(i) { return (i < n || ENVIRON["SK_NONL"] != 1) ? l[i] "\n" : l[i] }
    BEGIN { sec = ENVIRON["SK_SECTION"]; key = ENVIRON["SK_KEY"]; nl = key " = " ENVIRON["SK_VALUE"] "\n" }
    { l[++n] = $0 }
    END {
      cur = ""; incur = 0; end = 0; at = 0
      for (i = 1; i <= n && !at; i++) {
        t = trim(l[i])
        if (substr(t, 1, 1) == "[" && substr(t, length(t), 1) == "]" && length(t) >= 2) {
          incur = (trim(substr(t, 2, length(t) - 2)) == sec)
          if (incur) end = i
          continue
        }
        if (!incur) continue
        if (t != "") end = i
        c = substr(t, 1, 1)
        if (c == "#" || c == ";") continue
        eq = index(t, "=")
        if (eq && trim(substr(t, 1, eq - 1)) == key) at = i
      }
      if (at) {
        for (i = 1; i <= n; i++) printf "%s", (i == at ? nl : line(i))
      } else if (end) {
        for (i = 1; i <= end; i++) printf "%s", line(i)
        if (end == n && ENVIRON["SK_NONL"] == 1) printf "\n"
        printf "%s", nl
        for (i = end + 1; i <= n; i++) printf "%s", line(i)
      } else {
        for (i = 1; i <= n; i++) printf "%s", line(i)
        if (n > 0 && ENVIRON["SK_NONL"] == 1) printf "\n"
        if (n > 0) printf "\n"
        printf "[%s]\n%s", sec, nl
      }
    }' >"$sk_work/edit.tmp" || return 1
  mkdir -p -- "$(dirname -- "$_f")" && cat "$sk_work/edit.tmp" >"$_f"
}

sk_edit_append() {
  mkdir -p -- "$(dirname -- "$1")" || return 1
  if [ -e "$1" ] && [ -s "$1" ] && ! sk_ends_nl "$1"; then printf '\n' >>"$1" || return 1; fi
  printf '%s\n' "$2" >>"$1"
}

# sk_step INDEX NAME TIMEOUT USER ARGV...: a `run`/`sh` step; a failure is a run error.
sk_step() {
  _i=$1 _n=$2 _t=$3 _u=$4
  shift 4
  sk_exec "$_t" "$_u" /dev/null "$sk_art/step-$_i.log" "$sk_work/step.err" "$@"
  cat "$sk_work/step.err" >>"$sk_art/step-$_i.log"
  if [ "$sk_st" = 124 ]; then sk_run_error "step \`$_n\` timed out after $_t"; return 1; fi
  if [ "$sk_st" != 0 ]; then
    sk_run_error "step \`$_n\` exited with status $sk_st: $(tail -n 10 "$sk_art/step-$_i.log")"
    return 1
  fi
}

# sk_daemon INDEX NAME READY_PORT READY_FILE TIMEOUT_S ARGV...: started in a session of its
# own (killed with its group at exit), then waited for: something listening on the port
# where 127.0.0.1 reaches it, or the file.
sk_daemon() {
  _i=$1 _n=$2 _port=$3 _file=$4 _t=$5
  shift 5
  (cd / && exec env -i PATH="$SK_PATH" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    setsid "$@") </dev/null >"$sk_art/daemon-$_i.log" 2>&1 &
  echo $! >>"$sk_work/daemons"
  [ -z "$_port" ] && [ -z "$_file" ] && return 0
  _left=$((_t * 10))
  while [ "$_left" -gt 0 ]; do
    if [ -n "$_port" ]; then
      sk_listening tcp 0A "$_port" 0100007F 0000000000000000FFFF00000100007F && return 0
    elif [ -e "$_file" ]; then
      return 0
    fi
    sleep 0.1
    _left=$((_left - 1))
  done
  sk_run_error "step \`$_n\`: \`$*\` was not ready within ${_t}s; its log: $(tail -n 10 "$sk_art/daemon-$_i.log")"
  return 1
}

sk_stop_daemons() {
  [ -f "$sk_work/daemons" ] || return 0
  while read -r _p; do kill -TERM "-$_p" 2>/dev/null || kill -TERM "$_p" 2>/dev/null; done <"$sk_work/daemons"
  : >"$sk_work/daemons"
}

# sk_confirm NAME VERSION...: the packages under test are installed at this side's versions
# (srukit confirms them with dpkg-query before any check).
sk_confirm() {
  while [ $# -ge 2 ]; do
    _s=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null)
    case $_s in
      "ii  $2"|"ii $2") ;;
      *) sk_run_error "package $1: dpkg-query says \`${_s:-not installed}\`, the $sk_side side is $2"; return 1 ;;
    esac
    shift 2
  done
}

# sk_finish: each check's result over every observation point, the JSON result, the exit.
sk_finish() {
  sk_stop_daemons
  _fail=0 _errors=0 _passed=0 _failed=0
  _json="$sk_art/$sk_test.json"
  {
    printf '{"schema":"srukit-dep8-result","schema_version":1,'
    printf '"generated_by":%s,"plan":%s,"plan_file":%s,"phase":%s,"side":%s,"sides":[%s],"phases":[%s],' \
      "$(sk_json "$SK_GENERATED_BY")" "$(sk_json "$SK_PLAN")" "$(sk_json "$SK_PLAN_FILE")" \
      "$(sk_json "$SK_PHASE")" "$(sk_json "$sk_side")" "$SK_SIDES_JSON" "$SK_PHASES_JSON"
    printf '"test":%s,"versions":{%s},"installed":[' "$(sk_json "$sk_test")" "$sk_versions_json"
    _first=1
    for _pkg in $SK_INSTALL; do
      _s=$(dpkg-query -W -f='${db:Status-Abbrev}\t${Version}' "$_pkg" 2>/dev/null)
      [ $_first = 1 ] || printf ','
      _first=0
      printf '{"name":%s,"dpkg":%s}' "$(sk_json "$_pkg")" "$(sk_json "$_s")"
    done
    printf '],"checks":['
    _k=1
    while [ "$_k" -le "$SK_NCHECKS" ]; do
      eval "_id=\$SK_ID_$_k _fam=\$SK_FAMILY_$_k _exp=\${sk_e_$_k:-}"
      _res=observed
      [ -n "$_exp" ] && _res=pass
      _obs=""
      _p=1
      while [ "$_p" -le "$sk_npoints" ]; do
        eval "_step=\$sk_point_$_p"
        _d="$sk_work/o/$_k.$_p"
        _o=$(cat "$_d/outcome" 2>/dev/null || echo error)
        if [ "$_o" = error ]; then
          _res=error
        elif [ -n "$_exp" ] && [ "$_o" != "$_exp" ] && [ "$_res" != error ]; then
          _res=fail
        fi
        _w=$(cat "$_d/observed" 2>/dev/null || echo "not observed")
        [ -z "$_obs" ] || _obs="$_obs,"
        _obs="$_obs{\"after_step\":$(sk_json "$_step"),\"outcome\":$(sk_json "$_o"),\"observed\":$(sk_json "$_w")}"
        _p=$((_p + 1))
      done
      [ "$sk_npoints" -gt 0 ] || _res=error
      [ -z "$sk_error" ] || _res=error
      case $_res in
        pass) _passed=$((_passed + 1)) ;;
        fail) _failed=$((_failed + 1)) _fail=1 ;;
        error) _errors=$((_errors + 1)) _fail=1 ;;
      esac
      [ "$_k" = 1 ] || printf ','
      if [ -n "$_exp" ]; then _ej=$(sk_json "$_exp"); else _ej=null; fi
      printf '{"id":%s,"family":%s,"expected":%s,"result":%s,"observations":[%s]}' \
        "$(sk_json "$_id")" "$(sk_json "$_fam")" "$_ej" "$(sk_json "$_res")" "$_obs"
      printf 'check %s: %s (expected %s; observed: %s)\n' "$_id" "$_res" "${_exp:-nothing}" \
        "$(cat "$sk_work/o/$_k.$sk_npoints/outcome" 2>/dev/null || echo none)" >>"$sk_work/summary"
      _k=$((_k + 1))
    done
    if [ -n "$sk_error" ]; then _verdict=error; elif [ $_fail = 1 ]; then _verdict=fail; else _verdict=pass; fi
    if [ -n "$sk_error" ]; then _ej=$(sk_json "$sk_error"); else _ej=null; fi
    printf '],"error":%s,"passed":%s,"failed":%s,"errors":%s,"verdict":%s}\n' \
      "$_ej" "$_passed" "$_failed" "$_errors" "$(sk_json "$_verdict")"
  } >"$_json.tmp" && mv "$_json.tmp" "$_json"
  cat "$sk_work/summary" 2>/dev/null
  sk_say "srukit: $sk_test on the $sk_side side: $_verdict ($_passed passed, $_failed failed, $_errors errors; $_json)"
  [ "$_verdict" = pass ]
}

# sk_point NAME CHECK_FUNCTIONS...: one observation point (after a `check = true` step and
# after the last one).
sk_point() {
  sk_npoints=$((sk_npoints + 1))
  eval "sk_point_$sk_npoints=\$1"
  shift
  for _fn in "$@"; do "$_fn" "$sk_npoints"; done
}
# --- end of srukit's runtime ------------------------------------------------------------
