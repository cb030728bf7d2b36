#!/usr/bin/env bash
# Benchmarks the service as it is (issue 11) and prints one line per figure,
# `section metric=value unit`, comparable between commits. Not run by the
# tests or CI. Usage and the meaning of each figure: bench/README.md.
#
#   scripts/bench.sh [idle] [kafka] [queue] [rest] [engine]     (default: all)
#
# Starts, each in its own temp dir on free ports, and stops at the end: a
# throw-away PostgreSQL 15 (fsync on, default settings), the embedded broker
# (`commsvc broker`, 1 partition), postfix's smtp-sink (one file per message)
# and `commsvc run -c pipelines.yaml` with the smtp channel. A section that
# fails prints `section FAILED reason` and the next one runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BIN=$ROOT/build/bin
PY=/usr/bin/python3
TOPIC=communication-events

N_EMAILS=${BENCH_EMAILS:-5000}                 # kafka: emails sent through send_email
KAFKA_TIMEOUT=${BENCH_KAFKA_TIMEOUT:-300}      # kafka: cap on the wait, s
N_QUEUE=${BENCH_QUEUE_EMAILS:-1000}            # queue: emails queued by PUT
QUEUE_CONNECTIONS=${BENCH_QUEUE_CONNECTIONS:-8}  # queue: PUT connections at once
QUEUE_TIMEOUT=${BENCH_QUEUE_TIMEOUT:-120}      # queue: cap on the drain, s
N_LATENCY=${BENCH_LATENCY_EMAILS:-20}          # queue: emails queued one at a time
LATENCY_TIMEOUT=${BENCH_LATENCY_TIMEOUT:-5}    # queue: cap per email, s
QUEUE_INTERVAL=${EMAIL_QUEUE_CHECK_INTERVAL_SECONDS:-60}  # as pipelines.yaml's default
DURATION=${BENCH_DURATION:-10}                 # rest: seconds per wrk run
CONNECTIONS=${BENCH_CONNECTIONS:-8}            # rest: wrk connections (1: latency alone)
SETTLE=${BENCH_SETTLE:-5}                      # idle: seconds after start; kafka: after the burst
ENGINE_RUNS=${BENCH_ENGINE_RUNS:-5}
OUT=${BENCH_OUT:-}
# BENCH_PG_OPTS: extra PostgreSQL server options, e.g.
# "-c shared_preload_libraries=pg_stat_statements" to see where its time goes.

TMP=""
PG_PID="" PG_DATA="" PGBIN="" PG_PORT=""
BROKER_PID="" SINK_PID="" SVC_PID="" WATCH_PID=""
declare -A W  # figures of the last procwatch window

# --- output ---------------------------------------------------------------

emit() {
  echo "$*"
  if [[ -n "$OUT" ]]; then echo "$*" >>"$OUT"; fi
}
note() { echo "# $*" >&2; }
# fail SECTION REASON...: the section's FAILED line; returns 1.
fail() {
  local section=$1
  shift
  emit "$section FAILED $*"
  return 1
}
# calc EXPR [FORMAT]: floating-point arithmetic through awk; nan when EXPR
# cannot be computed (a figure missing, a division by zero).
calc() { awk "BEGIN { printf \"${2:-%.2f}\", $1 }" 2>/dev/null || echo nan; }

# --- tools and build ------------------------------------------------------

ensure_tools() {
  local missing=() sudo=""
  [[ "$(id -u)" == 0 ]] || sudo=sudo
  command -v wrk >/dev/null || missing+=(wrk)
  [[ -x /usr/sbin/smtp-sink ]] || missing+=(postfix)
  [[ -x $PY ]] || missing+=(python3)
  ((${#missing[@]})) || return 0
  note "installing ${missing[*]}"
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  fi
  $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
}

# Builds the binary, the plugins pipelines.yaml loads, and the bench tools.
build() {
  local targets=(commsvc) plugin
  for plugin in $(sed -n 's/^plugins: *\[\([^]]*\)\].*/\1/p' pipelines.yaml | tr ',' ' '); do
    targets+=("commsvc_plugin_$plugin")
  done
  note "building ${targets[*]} bench"
  nice -n 10 scripts/build.sh default "${targets[@]}" >"$TMP/build.log" 2>&1 &&
    nice -n 10 cmake --build build --target bench >>"$TMP/build.log" 2>&1 ||
    { tail -n 30 "$TMP/build.log" >&2; return 1; }
}

# --- the services ---------------------------------------------------------

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# sql ARGS...: psql on the benchmark database, unaligned, no headers.
sql() {
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d commsvc -tA "$@"
}
# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_postgres() {
  PGBIN=/usr/lib/postgresql/15/bin
  [[ -x $PGBIN/pg_ctl ]] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -x $PGBIN/pg_ctl ]] || { note "no PostgreSQL server (apt-get install postgresql-15)"; return 1; }
  PG_PORT=$(free_port)
  PG_DATA=$TMP/postgres/data
  mkdir -p "$TMP/postgres/sock"
  [[ "$(id -u)" != 0 ]] || chown -R postgres: "$TMP/postgres"
  as_postgres "$PGBIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale \
    >"$TMP/postgres/initdb.log" 2>&1 || { cat "$TMP/postgres/initdb.log" >&2; return 1; }
  as_postgres "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$TMP/postgres/server.log" -w -t 30 \
    -o "-p $PG_PORT -k $TMP/postgres/sock -c listen_addresses=127.0.0.1 ${BENCH_PG_OPTS:-}" start >/dev/null ||
    { tail -n 20 "$TMP/postgres/server.log" >&2; return 1; }
  PG_PID=$(head -n 1 "$PG_DATA/postmaster.pid")
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres commsvc
}

start_broker() {
  "$BIN/commsvc" broker --partitions 1 --bootstrap-file "$TMP/kafka-bootstrap" \
    >"$TMP/broker.log" 2>&1 &
  BROKER_PID=$!
  wait_for 20 test -s "$TMP/kafka-bootstrap" || { cat "$TMP/broker.log" >&2; return 1; }
  KAFKA_BROKERS=$(head -n 1 "$TMP/kafka-bootstrap")
}

start_sink() {
  SINK_DIR=$TMP/sink
  SMTP_PORT=$(free_port)
  mkdir -p "$SINK_DIR"
  local user=()
  if [[ "$(id -u)" == 0 ]]; then
    chown nobody "$SINK_DIR"
    user=(-u nobody)
  fi
  /usr/sbin/smtp-sink "${user[@]}" -d "$SINK_DIR/%H%M%S." "127.0.0.1:$SMTP_PORT" 1024 \
    >"$TMP/sink.log" 2>&1 &
  SINK_PID=$!
  wait_for 10 port_open "$SMTP_PORT" || { cat "$TMP/sink.log" >&2; return 1; }
}

start_service() {
  HTTP_PORT=$(free_port)
  BASE_URL=http://127.0.0.1:$HTTP_PORT
  local admin_port
  admin_port=$(free_port)
  (
    cd "$TMP" &&
      exec env -u PATIENT_SERVICE_URL EMAIL_CHANNEL=smtp SMTP_HOST=127.0.0.1 \
        SMTP_PORT="$SMTP_PORT" SMTP_TLS=none KAFKA_BROKERS="$KAFKA_BROKERS" \
        DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/commsvc" HTTP_PORT="$HTTP_PORT" \
        ADMIN_ADDRESS="127.0.0.1:$admin_port" EMAIL_QUEUE_CHECK_INTERVAL_SECONDS="$QUEUE_INTERVAL" \
        "$BIN/commsvc" run -c "$ROOT/pipelines.yaml"
  ) >>"$TMP/service.log" 2>&1 &
  SVC_PID=$!
  # Ready: /readyz 200 and the consumer has its partition (the group's
  # first join waits ~3 s).
  wait_for 60 curl -sf -m 2 -o /dev/null "$BASE_URL/readyz" &&
    wait_for 60 grep -q "partitions assigned" "$TMP/service.log" ||
    { tail -n 30 "$TMP/service.log" >&2; return 1; }
}

# Starts everything once; later calls only restart a service that died.
ENV_STATE=none
ensure_env() {
  case $ENV_STATE in
    up)
      kill -0 "$SVC_PID" 2>/dev/null && return 0
      note "the service died (see $TMP/service.log); restarting it"
      start_service || { ENV_STATE=failed; return 1; }
      return 0
      ;;
    failed) return 1 ;;
  esac
  ENV_STATE=failed
  start_postgres || return 1
  start_broker || return 1
  start_sink || return 1
  start_service || return 1
  ENV_STATE=up
}

stop_pid() {  # stop_pid PID: SIGTERM, then SIGKILL after 15 s
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 0
  kill -TERM "$1" 2>/dev/null
  local i
  for i in $(seq 150); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null
}

cleanup() {
  [[ -z "$WATCH_PID" ]] || kill -TERM "$WATCH_PID" 2>/dev/null
  stop_pid "$SVC_PID"
  stop_pid "$BROKER_PID"
  stop_pid "$SINK_PID"
  if [[ -n "$PG_PID" ]]; then
    as_postgres "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
  fi
  if [[ -n "$TMP" ]]; then
    if [[ -n "${BENCH_KEEP:-}" ]]; then note "kept $TMP"; else rm -rf "$TMP"; fi
  fi
}

# --- measuring ------------------------------------------------------------

# watch_start NAME=PID|NAME=tree:PID...: starts bench/procwatch.py.
watch_start() {
  WATCH_OUT=$TMP/watch.$RANDOM
  $PY bench/procwatch.py "$WATCH_OUT" "$@" &
  WATCH_PID=$!
  wait_for 5 test -e "$WATCH_OUT.ready"
}
# watch_stop: ends the window; its figures land in W[key].
watch_stop() {
  kill -TERM "$WATCH_PID" 2>/dev/null
  wait "$WATCH_PID" 2>/dev/null
  WATCH_PID=""
  W=()
  local key value
  while IFS="=" read -r key value; do W[$key]=$value; done <"$WATCH_OUT"
}
watch_all() {
  watch_start service="$SVC_PID" postgres="tree:$PG_PID" sink="$SINK_PID" broker="$BROKER_PID"
}
mb() { calc "$1 / 1024" %.1f; }

# insert_emails N STATUS [SUBJECT]: N email rows by SQL; prints their ids.
insert_emails() {
  sql -c "INSERT INTO communication_service.emails (therapist_id, patient_id, betreff,
      inhalt_html, inhalt_text, empfaenger_email, empfaenger_name, absender_email, absender_name,
      status, in_warteschlange_am, created_at, updated_at)
    SELECT CASE WHEN g % 2 = 0 THEN g % 500 + 1 END, CASE WHEN g % 2 = 1 THEN g % 500 + 1 END,
      '${3:-Benchmark}' || ' ' || g, '<p>' || repeat('Guten Tag, dies ist eine Nachricht. ', 25)
      || '</p>', repeat('Guten Tag, dies ist eine Nachricht. ', 25), 'empfaenger' || g
      || '@example.org', 'Empfänger ' || g, 'noreply@example.org', 'Communication Service',
      '$2'::public.emailstatus, CASE WHEN '$2' = 'In_Warteschlange' THEN now() END, now(), now()
    FROM generate_series(1, $1) AS g ORDER BY g RETURNING id"
}

# insert_emails_for_events: insert_emails with the emails table's queue
# trigger (email migration 5) off, so that the rows wait for their
# communication.send_email events instead of waking the queue processor.
insert_emails_for_events() {
  local rc=0
  sql -c "ALTER TABLE communication_service.emails DISABLE TRIGGER commsvc_email_queued" \
    >/dev/null 2>&1 || true
  insert_emails "$@" || rc=$?
  sql -c "ALTER TABLE communication_service.emails ENABLE TRIGGER commsvc_email_queued" \
    >/dev/null 2>&1 || true
  return $rc
}

# unqueue: takes what is still queued out of the queue and waits (at most
# 30 s) until no email is held by a sender, so the next measurement starts idle.
unqueue() {
  sql -c "UPDATE communication_service.emails SET status = 'Entwurf'
          WHERE status = 'In_Warteschlange'" >/dev/null
  wait_for 30 none_held
}
none_held() {
  [[ "$(sql -c "SELECT count(*) FROM communication_service.emails
                WHERE status = 'Wird_gesendet'")" == 0 ]]
}
outbox_empty() {
  [[ "$(sql -c "SELECT count(*) FROM public.commsvc_outbox WHERE published_at IS NULL")" == 0 ]]
}

# --- sections -------------------------------------------------------------

section_idle() {
  ensure_env || { fail idle "environment did not start"; return; }
  sleep "$SETTLE"
  local rss threads
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SVC_PID/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$SVC_PID/status")
  [[ -n "$rss" ]] || { fail idle "no /proc/$SVC_PID/status"; return; }
  emit "idle rss=$(mb "$rss") MB settle_s=$SETTLE"
  emit "idle threads=$threads count"
  # Where the megabytes go: anonymous (heap, stacks) vs file-backed (code
  # and data of the binary and its libraries), then the largest mappings.
  emit "idle rss_anon=$(mb "$(awk '/^RssAnon:/ { print $2 }' "/proc/$SVC_PID/status")") MB" \
    "rss_file=$(mb "$(awk '/^RssFile:/ { print $2 }' "/proc/$SVC_PID/status")") MB"
  emit "idle largest_kb=$($PY bench/procwatch.py smaps "$SVC_PID" 12)"
}

section_kafka() {
  ensure_env || { fail kafka "environment did not start"; return; }
  local ids=$TMP/kafka-ids warm=$TMP/kafka-warmup-ids out before first last
  # Warm-up: one email through the whole path (consumer assigned, SMTP
  # connected, relay running) before the clock starts.
  insert_emails_for_events 1 In_Warteschlange Warmup >"$warm" || { fail kafka "insert failed"; return; }
  before=$($PY bench/mailsink.py count "$SINK_DIR")
  "$BIN/bench_kafka_load" "$KAFKA_BROKERS" "$TOPIC" "$warm" email.sent 60 >/dev/null ||
    { fail kafka "warm-up email did not come through"; return; }
  $PY bench/mailsink.py wait "$SINK_DIR" $((before + 1)) 30 | grep -q reached=1 ||
    { fail kafka "warm-up email not at the sink"; return; }

  insert_emails_for_events "$N_EMAILS" In_Warteschlange >"$ids" || { fail kafka "insert failed"; return; }
  first=$(head -n 1 "$ids") last=$(tail -n 1 "$ids")
  ((last - first + 1 == N_EMAILS)) || { fail kafka "ids not contiguous"; return; }
  before=$($PY bench/mailsink.py count "$SINK_DIR")

  watch_all
  "$BIN/bench_kafka_load" "$KAFKA_BROKERS" "$TOPIC" "$ids" email.sent "$KAFKA_TIMEOUT" \
    >"$TMP/kafka-load.out" 2>"$TMP/kafka-load.err" &
  local load=$!
  out=$($PY bench/mailsink.py wait "$SINK_DIR" $((before + N_EMAILS)) "$KAFKA_TIMEOUT")
  local sink_done=${out##*done_ns=} sink_count=${out#*count=}
  sink_count=$((${sink_count%% *} - before))
  # Rows: done at the last gesendet_am (now() of the recording transaction,
  # as an epoch in ns), so the poll's own delay does not count.
  local rows_done=0 sent=0 row deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    row=$(sql -F ' ' -c "SELECT count(*), COALESCE(round(extract(epoch FROM max(gesendet_am)
                           AT TIME ZONE current_setting('TimeZone')) * 1e6), 0)
                         FROM communication_service.emails
                         WHERE id BETWEEN $first AND $last AND status = 'Gesendet'")
    sent=${row% *}
    if ((sent == N_EMAILS)); then
      rows_done=$((${row#* } * 1000))
      break
    fi
    sleep 0.1
  done
  wait "$load"
  watch_stop
  out=$(cat "$TMP/kafka-load.out")
  [[ -n "$out" ]] || { fail kafka "bench_kafka_load: $(tail -n 3 "$TMP/kafka-load.err")"; return; }
  local start=${out#first_send_ns=} events_done=${out#*done_ns=} seen=${out#*seen=}
  local dups=${out#*duplicates=}
  start=${start%% *} events_done=${events_done%% *} seen=${seen%% *} dups=${dups%% *}
  emit "kafka emails=$N_EMAILS count"
  emit "kafka at_sink=$sink_count count"
  emit "kafka gesendet=$sent count"
  emit "kafka email_sent_events=$seen count duplicates=$dups"
  if ((sink_count < N_EMAILS || sent < N_EMAILS || seen < N_EMAILS)); then
    fail kafka "not all emails came through within ${KAFKA_TIMEOUT} s"
    return
  fi
  local end=$sink_done
  ((rows_done > end)) && end=$rows_done
  ((events_done > end)) && end=$events_done
  local elapsed
  elapsed=$(calc "($end - $start) / 1e9" %.3f)
  emit "kafka elapsed=$elapsed s sink_s=$(calc "($sink_done - $start) / 1e9" %.3f)" \
    "rows_s=$(calc "($rows_done - $start) / 1e9" %.3f)" \
    "events_s=$(calc "($events_done - $start) / 1e9" %.3f)"
  emit "kafka rate=$(calc "$N_EMAILS / $elapsed" %.0f) emails/s"
  local name
  for name in service postgres sink broker machine; do
    emit "kafka cpu_$name=$(calc "${W[cpu_ms.$name]:-0} / $N_EMAILS" %.3f) ms/email"
  done
  local ours=$((${W[cpu_ms.service]:-0} + ${W[cpu_ms.postgres]:-0} + ${W[cpu_ms.sink]:-0} +
    ${W[cpu_ms.broker]:-0}))
  emit "kafka cpu_other=$(calc "(${W[cpu_ms.machine]} - $ours) / $N_EMAILS" %.3f) ms/email" \
    "(load generator, bench scripts, anything else on the machine)"
  emit "kafka machine_busy=$(calc "${W[cpu_ms.machine]} / ${W[elapsed_ms]}" %.2f) cores"
  emit "kafka rss_peak=$(mb "${W[rss_peak_kb.service]}") MB"
  emit "kafka threads_peak=${W[threads_peak.service]} count"
  # What stays resident once the burst is over and the service quiet (the
  # heap trimmer hands freed memory back within a few seconds).
  sleep "$SETTLE"
  emit "kafka rss_quiet=$(mb "$(awk '/^VmRSS:/ { print $2 }' "/proc/$SVC_PID/status")") MB" \
    "anon=$(mb "$(awk '/^RssAnon:/ { print $2 }' "/proc/$SVC_PID/status")") MB" \
    "file=$(mb "$(awk '/^RssFile:/ { print $2 }' "/proc/$SVC_PID/status")") MB after_s=$SETTLE"
}

section_queue() {
  ensure_env || { fail queue "environment did not start"; return; }
  local ids=$TMP/queue-ids out
  insert_emails "$N_QUEUE" Entwurf Queue >"$ids" || { fail queue "insert failed"; return; }
  watch_all
  out=$($PY bench/mailsink.py queue "$BASE_URL" "$SINK_DIR" "$ids" "$QUEUE_TIMEOUT" \
    "$QUEUE_CONNECTIONS")
  watch_stop
  [[ -n "$out" ]] || { fail queue "mailsink.py queue gave no result"; return; }
  local put_ok=${out#put_ok=} put_s=${out#*put_s=} first=${out#*first_put_ns=}
  local arrived=${out#*arrived=} last=${out#*last_arrival_ns=} last_put=${out#*last_put_ns=}
  put_ok=${put_ok%% *} put_s=${put_s%% *} first=${first%% *} arrived=${arrived%% *}
  last=${last%% *} last_put=${last_put%% *}
  emit "queue emails=$N_QUEUE count interval_s=$QUEUE_INTERVAL"
  emit "queue put_ok=$put_ok count connections=$QUEUE_CONNECTIONS"
  emit "queue put_rate=$(calc "$put_ok / $put_s" %.0f) req/s"
  emit "queue arrived=$arrived count timeout_s=$QUEUE_TIMEOUT"
  if ((arrived == N_QUEUE)); then
    local elapsed
    elapsed=$(calc "($last - $first) / 1e9" %.3f)
    emit "queue elapsed=$elapsed s"
    emit "queue rate=$(calc "$arrived / $elapsed" %.1f) emails/s"
    # How far the sending lags behind the PUTs: ~0 when it keeps up.
    emit "queue drained_after_last_put=$(calc "($last - $last_put) / 1e6" %.0f) ms"
  else
    # Not drained within the cap: the rate over the whole wait.
    emit "queue elapsed=$(calc "${W[elapsed_ms]} / 1000" %.3f) s (capped)"
    emit "queue rate=$(calc "$arrived * 1000 / ${W[elapsed_ms]}" %.2f) emails/s (capped)"
  fi
  # CPU per email only for a full drain (a capped window is mostly waiting).
  ((arrived != N_QUEUE)) ||
    emit "queue cpu_service=$(calc "${W[cpu_ms.service]} / $arrived" %.3f) ms/email"
  unqueue || note "emails still held by a sender after 30 s"

  # Idle latency: one email queued at a time, each waited for.
  insert_emails "$N_LATENCY" Entwurf Latency >"$ids" || { fail queue "insert failed"; return; }
  out=$($PY bench/mailsink.py latency "$BASE_URL" "$SINK_DIR" "$ids" "$LATENCY_TIMEOUT" |
    grep -v '^#')
  unqueue || note "emails still held by a sender after 30 s"
  [[ -n "$out" ]] || { fail queue "mailsink.py latency gave no result"; return; }
  local p50=${out#*p50_ms=} p99=${out#*p99_ms=} timeouts=${out#*timeouts=}
  p50=${p50%% *} p99=${p99%% *} timeouts=${timeouts%% *}
  emit "queue latency_p50=$p50 ms n=$N_LATENCY (queued by PUT -> at the sink, idle)"
  emit "queue latency_p99=$p99 ms"
  emit "queue latency_timeouts=$timeouts count cap_s=$LATENCY_TIMEOUT"
}

# wrk_run NAME URL [wrk args...]: one wrk run; figures for NAME.
wrk_run() {
  local name=$1 url=$2
  shift 2
  local out=$TMP/wrk-$name.out
  watch_all
  wrk -t 2 -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s --latency "$@" "$url" >"$out" 2>&1
  local rc=$?
  watch_stop
  ((rc == 0)) || { fail rest "$name: wrk exited $rc: $(tail -n 2 "$out")"; return 1; }
  # Latency in ms whatever unit wrk chose (us, ms, s, m).
  local -a f
  read -r -a f <<<"$(awk '
    function ms(v) {
      if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; return v * 1000 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /requests in/ { n = $1 } /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad += $NF } /Socket errors/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
    END { printf "%s %s %s %s %d\n", rps, p50, p99, n, bad }' "$out")"
  ((${#f[@]} == 5)) && [[ -n "${f[3]}" && "${f[3]}" != 0 ]] ||
    { fail rest "$name: no requests ($(tail -n 2 "$out"))"; return 1; }
  emit "rest ${name}_rate=$(calc "${f[0]}" %.0f) req/s"
  emit "rest ${name}_p50=$(calc "${f[1]}" %.2f) ms"
  emit "rest ${name}_p99=$(calc "${f[2]}" %.2f) ms"
  emit "rest ${name}_errors=${f[4]} count requests=${f[3]}"
  emit "rest ${name}_cpu_service=$(calc "${W[cpu_ms.service]} / ${f[3]}" %.3f) ms/req"
  emit "rest ${name}_cpu_postgres=$(calc "${W[cpu_ms.postgres]} / ${W[elapsed_ms]}" %.2f) cores" \
    "share=$(calc "100 * ${W[cpu_ms.postgres]} / ${W[cpu_ms.machine]}" %.0f)% of machine"
  emit "rest ${name}_cpu_machine=$(calc "${W[cpu_ms.machine]} / ${W[elapsed_ms]}" %.2f) cores"
  emit "rest ${name}_rss_peak=$(mb "${W[rss_peak_kb.service]}") MB"
}

# seed_rows N: adds N rows for the list benchmarks: therapist and patient
# ids, statuses and dates mixed; none queued (nothing gets sent).
seed_rows() {
  sql -c "INSERT INTO communication_service.emails (therapist_id, patient_id, betreff,
      inhalt_html, inhalt_text, empfaenger_email, empfaenger_name, absender_email, absender_name,
      status, antwort_erhalten, gesendet_am, created_at, updated_at)
    SELECT CASE WHEN g % 3 <> 0 THEN g % 200 + 1 END, CASE WHEN g % 3 = 0 THEN g % 5000 + 1 END,
      'Anfrage ' || g, '<p>Guten Tag, wir haben eine Anfrage für Sie.</p>',
      'Guten Tag, wir haben eine Anfrage für Sie.', 'empfaenger' || g || '@example.org',
      'Empfänger ' || g, 'noreply@example.org', 'Communication Service',
      (ARRAY['Entwurf', 'Gesendet', 'Gesendet', 'Gesendet', 'Fehlgeschlagen'])[g % 5 + 1]
        ::public.emailstatus,
      g % 7 = 0, CASE WHEN g % 5 IN (1, 2, 3) THEN now() - g * interval '1 minute' END,
      now() - g * interval '1 minute', now() - g * interval '1 minute'
    FROM generate_series(1, $1) AS g" >/dev/null &&
    sql -c "VACUUM ANALYZE communication_service.emails" >/dev/null
}

section_rest() {
  ensure_env || { fail rest "environment did not start"; return; }
  local url=$BASE_URL/api/emails
  wrk_run post "$url" -s bench/post_email.lua
  # The relay publishes the POSTs' email_created events: let it finish.
  wait_for 120 outbox_empty || note "outbox not drained after 120 s"
  sql -c "TRUNCATE communication_service.emails" >/dev/null &&
    seed_rows 1000 || { fail rest "seeding 1,000 rows failed"; return; }
  wrk_run get_1k "$url?limit=20"
  wrk_run get_1k_therapist "$url?limit=20&therapist_id=7"
  seed_rows 99000 || { fail rest "seeding 100,000 rows failed"; return; }
  wrk_run get_100k "$url?limit=20"
  wrk_run get_100k_therapist "$url?limit=20&therapist_id=7"
}

section_engine() {
  local i out rate min="" pauses
  for i in $(seq "$ENGINE_RUNS"); do
    # shellcheck disable=SC2086  # BENCH_ENGINE_ARGS: positional arguments
    out=$("$BIN/bench_engine_throughput" ${BENCH_ENGINE_ARGS:-} 2>&1)
    rate=$(sed -n 's/^engine event path[^:]*: *\([0-9.]*\) records\/s.*/\1/p' <<<"$out")
    pauses=$(sed -n 's/.*pauses: *\([0-9]*\).*/\1/p' <<<"$out")
    if [[ -z "$rate" ]]; then
      fail engine "run $i: no 'engine event path' figure: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
      continue
    fi
    emit "engine run$i=$(calc "$rate" %.0f) records/s pauses=${pauses:-?}"
    if [[ -z "$min" ]] || (($(calc "$rate < $min" %d))); then min=$rate; fi
  done
  [[ -z "$min" ]] || emit "engine min=$(calc "$min" %.0f) records/s runs=$ENGINE_RUNS"
}

# --- main -----------------------------------------------------------------

main() {
  local sections=("$@") s
  ((${#sections[@]})) || sections=(idle kafka queue rest engine)
  for s in "${sections[@]}"; do
    case $s in
      idle | kafka | queue | rest | engine) ;;
      *)
        echo "usage: $0 [idle] [kafka] [queue] [rest] [engine]   (default: all)" >&2
        exit 2
        ;;
    esac
  done
  TMP=$(mktemp -d /tmp/commsvc-bench.XXXXXX)
  chmod 755 "$TMP"  # PostgreSQL and smtp-sink run as other users
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  ensure_tools || { echo "could not install wrk/postfix" >&2; exit 1; }
  build || { echo "build failed" >&2; exit 1; }
  local dirty=0
  [[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] || dirty=1
  emit "bench commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) dirty=$dirty" \
    "date=$(date -u +%Y-%m-%dT%H:%M:%SZ) cores=$(nproc) load1=$(cut -d' ' -f1 /proc/loadavg)"
  for s in "${sections[@]}"; do "section_$s"; done
}

main "$@"
