#!/usr/bin/env bash
# Run a real local Apache Kafka 4.x broker (KRaft, one node: broker + controller) from Maven Central
# jars with the machine's Java (17+), or a three-node cluster of them on 127.0.0.1. No Docker. Secured:
# SASL/SCRAM-SHA-512 for every client, ACLs (StandardAuthorizer, deny by default), optional TLS and mTLS
# listeners; see server.properties.template.
#
# Usage: ops/kafka/kafka.sh COMMAND [ARGS]
#   jars       fetch the broker's classpath into .local/kafka/lib (only when missing or the pom changed)
#   up         fetch jars, render server.properties, format storage once, start in the background and
#              wait until the broker serves requests; harmless when already running
#   down       stop the broker of this instance (SIGTERM, then SIGKILL after 30 s); harmless when stopped
#   status     exit 0 when the broker of this instance runs, 1 otherwise
#   reset      down, then delete the instance (data, logs, rendered config)
#   bootstrap  print the bootstrap address (127.0.0.1:PORT)
#   metrics-url  print the URL of the broker's Prometheus metrics (JMX exporter agent)
#   tls-port / mtls-port  print the SASL_SSL / mTLS port (fails when TLS is off)
#   client-cert NAME      issue a client certificate CN=NAME from the throwaway CA (for the mTLS listener);
#                         prints the PEM paths (cert, key)
#   logs       print the tail of the broker's server.log
#   topics ARGS           kafka-topics against this broker (e.g. `topics --list`)
#   consumer-groups ARGS  kafka-consumer-groups against this broker (e.g. `consumer-groups --list`)
#   tool CLASS ARGS       run any Kafka CLI class on the classpath (e.g. org.apache.kafka.tools.ConsoleConsumer)
#
# Three-node cluster (KRaft combined nodes 1, 2, 3; replication 3, min ISR 2; secured like one node):
#   cluster-up            start the three nodes (formatted once with --initial-controllers) and wait for all
#   cluster-down          stop all three;  cluster-reset: stop and delete the cluster's folder
#   cluster-status        one line per node; exit 0 when all three run
#   cluster-bootstrap     print the bootstrap list (127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3)
#   node-pid N            print node N's broker pid (fails when it is not running)
#   node-signal N SIG     send SIG (KILL, STOP, CONT, TERM) to node N's broker only
#   node-up N             start node N again (after a kill) and wait until it serves requests
# Cluster environment: KAFKA_CLUSTER_DIR (default <repo>/.local/kafka/cluster: node-1/, node-2/, node-3/),
# KAFKA_CLUSTER_PORT (node 1's client port, default 19092; node N uses KAFKA_CLUSTER_PORT + 20*(N-1) and
# the port family derived from it as below), KAFKA_HEAP (default 384m per node in the cluster).
#
# Environment (all optional):
#   KAFKA_INSTANCE_DIR      instance folder (default <repo>/.local/kafka/instance): server.properties,
#                           data/, logs/, kafka.pid
#   KAFKA_PORT              client SASL_PLAINTEXT (SCRAM-SHA-512) port on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT   KRaft controller port on 127.0.0.1 (default KAFKA_PORT+1)
#   KAFKA_INTERNAL_PORT     inter-broker port on 127.0.0.1 (default KAFKA_PORT+2)
#   KAFKA_TLS_PORT          SASL_SSL client port (default KAFKA_PORT+10; "off" disables both TLS listeners)
#   KAFKA_MTLS_PORT         mutual-TLS client port, principal = certificate CN (default KAFKA_PORT+11)
#   KAFKA_CREDENTIALS_DIR   one password file per principal, made on first use (default <repo>/.local/credentials,
#                           folder 0700, files 0600). The broker, controller and admin passwords are
#                           written into the storage at format time; `borderbus users apply` adds the rest.
#   KAFKA_TLS_DIR           throwaway CA and certificates made with openssl (default <repo>/.local/tls)
#   KAFKA_METRICS_PORT      port of the Prometheus JMX exporter agent on 127.0.0.1 (default KAFKA_PORT+312,
#                           i.e. 9404 for 9092, so brokers on other ports do not clash; "off" disables it).
#                           Rules: ops/kafka/jmx-exporter.yml
#   KAFKA_HEAP              broker max heap (default 512m)
#   KAFKA_NODE_ID, KAFKA_QUORUM_BOOTSTRAP, KAFKA_INITIAL_CONTROLLERS, KAFKA_CLUSTER_ID, KAFKA_REPLICATION,
#   KAFKA_MIN_ISR           set by the cluster-* commands for each node (one node: 1, its own controller,
#                           --standalone, a random id, 1, 1)
#   KAFKA_START_TIMEOUT     seconds `up` waits for the broker (default 90)
#   JAVA_HOME               Java 17+ to use (default: java on PATH)
# Everything generated lives under <repo>/.local/ (or KAFKA_INSTANCE_DIR).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

POM="$SCRIPT_DIR/pom.xml"
TEMPLATE="$SCRIPT_DIR/server.properties.template"
LOG4J_CONFIG="$SCRIPT_DIR/log4j2.properties"
JMX_EXPORTER_CONFIG="$SCRIPT_DIR/jmx-exporter.yml"

LOCAL_DIR="$REPO_ROOT/.local/kafka"
LIB_DIR="$LOCAL_DIR/lib"
LIB_STAMP="$LOCAL_DIR/lib.stamp"
# Java agents live in a subfolder so that `-cp lib/*` does not put them on the broker's classpath.
AGENT_SUBDIR="agent"

# Absolute, so the pid check (which matches the broker's command line) does not depend on the cwd.
INSTANCE_DIR="$(realpath -m -- "${KAFKA_INSTANCE_DIR:-$LOCAL_DIR/instance}")"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_INTERNAL_PORT="${KAFKA_INTERNAL_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_TLS_PORT="${KAFKA_TLS_PORT:-$((KAFKA_PORT + 10))}"
KAFKA_MTLS_PORT="${KAFKA_MTLS_PORT:-$((KAFKA_PORT + 11))}"
CREDENTIALS_DIR="$(realpath -m -- "${KAFKA_CREDENTIALS_DIR:-$REPO_ROOT/.local/credentials}")"
TLS_DIR="$(realpath -m -- "${KAFKA_TLS_DIR:-$REPO_ROOT/.local/tls}")"
KAFKA_METRICS_PORT="${KAFKA_METRICS_PORT:-$((KAFKA_PORT + 312))}"
KAFKA_HEAP_GIVEN="${KAFKA_HEAP:-}"
KAFKA_HEAP="${KAFKA_HEAP:-512m}"
KAFKA_NODE_ID="${KAFKA_NODE_ID:-1}"
KAFKA_QUORUM_BOOTSTRAP="${KAFKA_QUORUM_BOOTSTRAP:-127.0.0.1:$KAFKA_CONTROLLER_PORT}"
KAFKA_INITIAL_CONTROLLERS="${KAFKA_INITIAL_CONTROLLERS:-}"
KAFKA_CLUSTER_ID="${KAFKA_CLUSTER_ID:-}"
KAFKA_REPLICATION="${KAFKA_REPLICATION:-1}"
KAFKA_MIN_ISR="${KAFKA_MIN_ISR:-1}"
CLUSTER_DIR="$(realpath -m -- "${KAFKA_CLUSTER_DIR:-$LOCAL_DIR/cluster}")"
CLUSTER_PORT="${KAFKA_CLUSTER_PORT:-19092}"
CLUSTER_NODES=3
CLUSTER_PORT_STEP=20
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=30

DATA_DIR="$INSTANCE_DIR/data"
LOG_DIR="$INSTANCE_DIR/logs"
PROPS="$INSTANCE_DIR/server.properties"
PID_FILE="$INSTANCE_DIR/kafka.pid"
CONSOLE_LOG="$LOG_DIR/kafka.out"
SERVER_LOG="$LOG_DIR/server.log"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
METRICS_URL="http://127.0.0.1:$KAFKA_METRICS_PORT/metrics"

die() { echo "kafka.sh: $*" >&2; exit 1; }
say() { echo "kafka.sh: $*" >&2; }

# --- tools -------------------------------------------------------------------------------------------

java_bin() {
    local java
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        java="$JAVA_HOME/bin/java"
    else
        java="$(command -v java || true)"
    fi
    [[ -n "$java" ]] || die "java not found: install a JDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    local major
    major="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1)"
    [[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the version of $java"
    ((major >= 17)) || die "$java is Java $major; Kafka 4.x needs Java 17 or newer (set JAVA_HOME)"
    echo "$java"
}

# Run a command holding an exclusive lock on FILE (when flock(1) exists), so that parallel callers
# (e.g. two test sessions) do not fetch jars or start the same instance at the same time.
with_lock() {
    local file="$1"; shift
    if command -v flock >/dev/null 2>&1; then
        mkdir -p "$(dirname "$file")"
        (
            flock -w 300 9 || die "timed out waiting for lock $file"
            "$@"
        ) 9>"$file"
    else
        "$@"
    fi
}

# --- secrets -----------------------------------------------------------------------------------------

# The password of principal NAME: read from <credentials>/NAME, made (random, 0600) when missing.
# Never printed.
secret() {
    local name="$1" file="$CREDENTIALS_DIR/$1"
    if [[ ! -s "$file" ]]; then
        (umask 077; mkdir -p "$CREDENTIALS_DIR")
        chmod 700 "$CREDENTIALS_DIR"
        # Under the folder's lock (as `borderbus users apply` takes it): two first runs make one password.
        (
            command -v flock >/dev/null 2>&1 && flock -w 60 8
            if [[ ! -s "$file" ]]; then
                (umask 077; head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$file.tmp")
                mv "$file.tmp" "$file"
            fi
        ) 8>"$CREDENTIALS_DIR/.lock"
    fi
    tr -d '\n' <"$file"
}

tls_enabled() {
    [[ "$KAFKA_TLS_PORT" != "off" ]]
}

# A throwaway CA and a broker certificate for 127.0.0.1/localhost (openssl, no downloads), once.
ensure_tls() {
    tls_enabled || return 0
    [[ -s "$TLS_DIR/ca.pem" && -s "$TLS_DIR/broker.pem" ]] && return 0
    command -v openssl >/dev/null 2>&1 || die "openssl not found: install it, or set KAFKA_TLS_PORT=off"
    (umask 077; mkdir -p "$TLS_DIR")
    local out
    if ! out="$(
        set -e
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=borderbus local test CA" \
            -keyout ca.key -out ca.pem 2>&1
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key.tmp -out broker.csr 2>&1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >broker.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile broker.ext -out broker.crt 2>&1
        # Kafka's PEM keystore wants the key as unencrypted PKCS#8, then the certificate chain.
        openssl pkcs8 -topk8 -nocrypt -in broker.key.tmp -out broker.key 2>&1
        cat broker.key broker.crt ca.pem >broker.pem
        rm -f broker.key.tmp broker.csr broker.ext
    )"; then
        echo "$out" >&2
        die "making the test CA and broker certificate in $TLS_DIR failed"
    fi
    say "made a throwaway CA and broker certificate in $TLS_DIR"
}

# A client certificate CN=NAME for the mTLS listener; prints "<cert> <key>".
cmd_client_cert() {
    local name="${1:-}"
    [[ "$name" =~ ^[a-z0-9-]+$ ]] || die "usage: $0 client-cert NAME (lower-case letters, digits, -)"
    tls_enabled || die "TLS is off (KAFKA_TLS_PORT=off)"
    ensure_tls
    local dir="$TLS_DIR/clients"
    if [[ ! -s "$dir/$name.crt" ]]; then
        (umask 077; mkdir -p "$dir")
        local out
        if ! out="$(
            set -e
            cd "$dir"
            openssl req -newkey rsa:2048 -nodes -subj "/CN=$name/O=borderbus" -keyout "$name.key" -out "$name.csr" 2>&1
            printf 'extendedKeyUsage=clientAuth\n' >"$name.ext"
            openssl x509 -req -in "$name.csr" -CA ../ca.pem -CAkey ../ca.key -CAcreateserial -days 3650 \
                -extfile "$name.ext" -out "$name.crt" 2>&1
            rm -f "$name.csr" "$name.ext"
        )"; then
            echo "$out" >&2
            die "issuing a client certificate for $name failed"
        fi
    fi
    echo "$dir/$name.crt $dir/$name.key"
}

# --- jars --------------------------------------------------------------------------------------------

jars_fresh() {
    [[ -d "$LIB_DIR" && -f "$LIB_STAMP" && ! "$POM" -nt "$LIB_STAMP" ]] \
        && compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null \
        && compgen -G "$LIB_DIR/$AGENT_SUBDIR/jmx_prometheus_javaagent-*.jar" >/dev/null
}

jmx_agent_jar() {
    local jars=("$LIB_DIR/$AGENT_SUBDIR"/jmx_prometheus_javaagent-*.jar)
    [[ -f "${jars[0]}" ]] || die "no JMX exporter agent in $LIB_DIR/$AGENT_SUBDIR (run '$0 jars')"
    echo "${jars[0]}"
}

fetch_jars() {
    jars_fresh && return 0
    java_bin >/dev/null
    command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (Debian: apt-get install maven)"
    local tmp="$LOCAL_DIR/lib.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    say "fetching the Kafka classpath with Maven into ${LIB_DIR#"$REPO_ROOT"/}"
    local out
    if ! out="$(mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
            -DoutputDirectory="$tmp" 2>&1)"; then
        echo "$out" >&2
        rm -rf "$tmp"
        die "maven could not fetch the Kafka jars (see above)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "maven ran but no kafka_2.13 jar was copied"
    compgen -G "$tmp/jmx_prometheus_javaagent-*.jar" >/dev/null || die "maven ran but no jmx_prometheus_javaagent jar was copied"
    mkdir -p "$tmp/$AGENT_SUBDIR"
    mv "$tmp"/jmx_prometheus_javaagent-*.jar "$tmp/$AGENT_SUBDIR/"
    # Swap in whole: a version change must not leave old and new jars side by side.
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    touch "$LIB_STAMP"
}

cmd_jars() {
    with_lock "$LOCAL_DIR/lib.lock" fetch_jars
}

# --- process helpers ---------------------------------------------------------------------------------

# PID of this instance's broker if it runs, else nothing. "Ours" means: the pid in our pid file is alive
# and its command line is a java running kafka.Kafka with this instance's server.properties.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *java* && "$cmdline" == *" kafka.Kafka $PROPS"* ]] || return 1
    echo "$pid"
}

# Client port the running broker was started with (from the rendered server.properties).
running_port() {
    sed -n 's|^listeners=CLIENT://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$PROPS" 2>/dev/null | head -n1
}

# Is the pid alive and not a zombie?
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)"
    [[ "$state" != Z && "$state" != X ]]
}

heap_min() {
    # -Xms: 256m, or the max heap when that is smaller.
    local h="$KAFKA_HEAP" mb
    case "$h" in
        *[gG]) mb=$(( ${h%[gG]} * 1024 )) ;;
        *[mM]) mb=${h%[mM]} ;;
        *) echo "$h"; return ;;
    esac
    if ((mb < 256)); then echo "$h"; else echo 256m; fi
}

JVM_COMMON_OPTS=(-Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J_CONFIG" "-Dkafka.logs.dir=$LOG_DIR")
TOOL_LOG_OPTS=(-Dkafka.log.file=tools.log -Dkafka.root.level=warn)

# --- up ----------------------------------------------------------------------------------------------

render_config() {
    mkdir -p "$DATA_DIR" "$LOG_DIR"
    local tls_listeners=""
    tls_enabled && tls_listeners=",CLIENT_TLS://127.0.0.1:$KAFKA_TLS_PORT,CLIENT_MTLS://127.0.0.1:$KAFKA_MTLS_PORT"
    (umask 077; sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_INTERNAL_PORT@|$KAFKA_INTERNAL_PORT|g" \
        -e "s|@TLS_LISTENERS@|$tls_listeners|g" \
        -e "s|@TLS_DIR@|$TLS_DIR|g" \
        -e "s|@BROKER_PASSWORD@|$(secret broker)|g" \
        -e "s|@CONTROLLER_PASSWORD@|$(secret controller)|g" \
        -e "s|@KAFKA_DATA_DIR@|$DATA_DIR|g" \
        -e "s|@NODE_ID@|$KAFKA_NODE_ID|g" \
        -e "s|@QUORUM_BOOTSTRAP@|$KAFKA_QUORUM_BOOTSTRAP|g" \
        -e "s|@REPLICATION@|$KAFKA_REPLICATION|g" \
        -e "s|@MIN_ISR@|$KAFKA_MIN_ISR|g" \
        "$TEMPLATE" >"$PROPS.tmp")
    mv "$PROPS.tmp" "$PROPS"
    # The admin's client settings for the readiness check and the topics/consumer-groups helpers.
    (umask 077; printf '%s\n' 'request.timeout.ms=5000' 'default.api.timeout.ms=10000' \
        'security.protocol=SASL_PLAINTEXT' 'sasl.mechanism=SCRAM-SHA-512' \
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(secret admin)\";" \
        >"$INSTANCE_DIR/cli.properties")
}

format_storage() {
    local java="$1"
    local formatted_port="$INSTANCE_DIR/controller.port" formatted_quorum="$INSTANCE_DIR/quorum.formatted"
    if [[ -f "$DATA_DIR/meta.properties" ]]; then
        # --standalone / --initial-controllers wrote the voters' endpoints into the bootstrap checkpoint.
        if [[ -f "$formatted_port" && "$(cat "$formatted_port")" != "$KAFKA_CONTROLLER_PORT" ]]; then
            die "instance $INSTANCE_DIR was formatted for controller port $(cat "$formatted_port"), not $KAFKA_CONTROLLER_PORT: use that port or run '$0 reset'"
        fi
        if [[ -n "$KAFKA_INITIAL_CONTROLLERS" && -f "$formatted_quorum" && "$(cat "$formatted_quorum")" != "$KAFKA_INITIAL_CONTROLLERS" ]]; then
            die "instance $INSTANCE_DIR was formatted for the voters $(cat "$formatted_quorum"), not $KAFKA_INITIAL_CONTROLLERS: run '$0 cluster-reset'"
        fi
        # Storage formatted before the broker was secured has no SCRAM users: nobody could log in.
        [[ -f "$INSTANCE_DIR/scram.formatted" ]] \
            || die "instance $INSTANCE_DIR was formatted before SASL/ACLs were added (no admin user in its metadata): run '$0 reset' (deletes its data) and '$0 up' again"
        return 0
    fi
    local cluster_id out quorum=(--standalone)
    cluster_id="${KAFKA_CLUSTER_ID:-$(random_uuid "$java")}"
    [[ -n "$KAFKA_INITIAL_CONTROLLERS" ]] && quorum=(--initial-controllers "$KAFKA_INITIAL_CONTROLLERS")
    if ! out="$("$java" "${JVM_COMMON_OPTS[@]}" "${TOOL_LOG_OPTS[@]}" \
            -cp "$LIB_DIR/*" kafka.tools.StorageTool format "${quorum[@]}" \
            -t "$cluster_id" -c "$PROPS" \
            --add-scram "SCRAM-SHA-512=[name=broker,password=$(secret broker)]" \
            --add-scram "SCRAM-SHA-512=[name=admin,password=$(secret admin)]" 2>&1)"; then
        local masked="${out//$(secret admin)/***}"
        echo "${masked//$(secret broker)/***}" >&2
        die "formatting the KRaft storage in $DATA_DIR failed"
    fi
    echo "$KAFKA_CONTROLLER_PORT" >"$formatted_port"
    [[ -n "$KAFKA_INITIAL_CONTROLLERS" ]] && echo "$KAFKA_INITIAL_CONTROLLERS" >"$formatted_quorum"
    # The passwords are in the metadata now: deleting the credentials folder locks everyone out.
    echo "$CREDENTIALS_DIR" >"$INSTANCE_DIR/scram.formatted"
    say "formatted $DATA_DIR (cluster id $cluster_id)"
}

random_uuid() {
    "$1" "${JVM_COMMON_OPTS[@]}" "${TOOL_LOG_OPTS[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool random-uuid
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_log_tail() {
    local f
    for f in "$CONSOLE_LOG" "$SERVER_LOG"; do
        if [[ -s "$f" ]]; then
            echo "----- last lines of $f -----" >&2
            tail -n 40 "$f" >&2
        fi
    done
}

# Wait until the broker has started: KafkaRaftServer logs "Kafka Server started" only after the broker
# caught up with the metadata log, opened its listeners and was unfenced, i.e. when it serves
# produce/fetch/metadata. Then confirm with a real metadata request (kafka-topics --list).
wait_ready() {
    local java="$1" pid="$2" log_offset="$3"
    local deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        if ! alive "$pid"; then
            print_log_tail
            rm -f "$PID_FILE"
            die "the broker (pid $pid) exited during startup"
        fi
        if [[ -f "$SERVER_LOG" ]]; then
            # The log rolled over (10 MB) since we started: read it from the start.
            (($(stat -c %s "$SERVER_LOG") >= log_offset)) || log_offset=0
            # (no grep -q: with pipefail, tail's SIGPIPE would turn a match into a failure)
            if tail -c +"$((log_offset + 1))" "$SERVER_LOG" | grep "Kafka Server started" >/dev/null; then
                break
            fi
        fi
        if ((SECONDS >= deadline)); then
            print_log_tail
            say "the broker (pid $pid) did not start within ${START_TIMEOUT}s: stopping it"
            stop_broker
            die "the broker did not start within ${START_TIMEOUT}s (KAFKA_START_TIMEOUT)"
        fi
        sleep 0.2
    done
    local attempt
    for attempt in 1 2 3; do
        if run_tool "$java" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
                --command-config "$INSTANCE_DIR/cli.properties" --list >/dev/null 2>&1; then
            return 0
        fi
        alive "$pid" || break
        sleep 1
    done
    print_log_tail
    stop_broker
    die "the broker (pid $pid) logged that it started but did not answer metadata requests on $BOOTSTRAP"
}

start_broker() {
    local java pid
    if pid="$(running_pid)"; then
        [[ -f "$INSTANCE_DIR/scram.formatted" ]] \
            || die "the broker of $INSTANCE_DIR (pid $pid) runs without SASL/ACLs (started before they were added): run '$0 reset' (deletes its data) and '$0 up'"
        local port
        port="$(running_port)"
        [[ "$port" == "$KAFKA_PORT" ]] \
            || die "the broker of $INSTANCE_DIR already runs (pid $pid) on port ${port:-?}, not $KAFKA_PORT: run '$0 down' first"
        say "already running (pid $pid) on $BOOTSTRAP"
        report_metrics "$pid"
        return 0
    fi
    if [[ -f "$PID_FILE" ]]; then
        say "removing stale pid file $PID_FILE"
        rm -f "$PID_FILE"
    fi
    local p
    local ports=("$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_INTERNAL_PORT")
    tls_enabled && ports+=("$KAFKA_TLS_PORT" "$KAFKA_MTLS_PORT")
    for p in "${ports[@]}"; do
        port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (another broker? set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_INTERNAL_PORT / KAFKA_TLS_PORT / KAFKA_MTLS_PORT)"
    done
    if metrics_enabled && port_in_use "$KAFKA_METRICS_PORT"; then
        die "metrics port $KAFKA_METRICS_PORT on 127.0.0.1 is already in use (set KAFKA_METRICS_PORT, or KAFKA_METRICS_PORT=off)"
    fi
    fetch_jars_locked
    java="$(java_bin)"
    ensure_tls
    render_config
    format_storage "$java"

    local log_offset=0
    [[ -f "$SERVER_LOG" ]] && log_offset="$(stat -c %s "$SERVER_LOG")"

    local agent_opts=()
    if metrics_enabled; then
        [[ -f "$JMX_EXPORTER_CONFIG" ]] || die "missing $JMX_EXPORTER_CONFIG"
        # host:port:config binds the exporter to loopback only (its default is every interface).
        agent_opts=("-javaagent:$(jmx_agent_jar)=127.0.0.1:$KAFKA_METRICS_PORT:$JMX_EXPORTER_CONFIG")
    fi

    # setsid + nohup: the broker outlives the caller's terminal/process group; stdin/stdout/stderr are
    # detached so a caller capturing our output (e.g. subprocess.run) is not kept waiting, and fd 9
    # (the instance lock held by with_lock) is closed so the broker does not keep the lock.
    nohup setsid "$java" \
        -Xmx"$KAFKA_HEAP" -Xms"$(heap_min)" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
        "${JVM_COMMON_OPTS[@]}" -Dkafka.log.file=server.log \
        "${agent_opts[@]}" \
        -cp "$LIB_DIR/*" \
        kafka.Kafka "$PROPS" \
        </dev/null >>"$CONSOLE_LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    say "starting broker (pid $pid) on $BOOTSTRAP, instance $INSTANCE_DIR"
    echo "$log_offset" >"$INSTANCE_DIR/start.offset"
    # A cluster node cannot serve before a majority of the controllers runs: cluster-up starts all
    # three with KAFKA_NO_WAIT=1, then waits for each (`wait`).
    [[ "${KAFKA_NO_WAIT:-}" == 1 ]] && return 0
    local t0=$SECONDS
    wait_ready "$java" "$pid" "$log_offset"
    say "broker ready on $BOOTSTRAP after $((SECONDS - t0))s"
    report_metrics "$pid"
}

metrics_enabled() {
    [[ "$KAFKA_METRICS_PORT" != "off" ]]
}

# Say where the broker's metrics are, or why there are none (a broker started before the agent was
# added keeps running without it until it is restarted).
report_metrics() {
    local cmdline port
    cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)"
    port="$(sed -n 's|.*-javaagent:[^ ]*jmx_prometheus_javaagent[^ =]*=127\.0\.0\.1:\([0-9]*\):.*|\1|p' <<<"$cmdline")"
    if [[ -n "$port" ]]; then
        say "broker metrics (Prometheus) on http://127.0.0.1:$port/metrics"
    elif metrics_enabled; then
        say "this broker runs without the JMX exporter (started before it was added): '$0 down' then '$0 up' attaches it on $METRICS_URL"
    else
        say "broker metrics disabled (KAFKA_METRICS_PORT=off)"
    fi
}

fetch_jars_locked() {
    jars_fresh || with_lock "$LOCAL_DIR/lib.lock" fetch_jars
}

cmd_up() {
    mkdir -p "$INSTANCE_DIR"
    with_lock "$INSTANCE_DIR/.lock" start_broker
}

# Wait until a broker started with KAFKA_NO_WAIT=1 serves requests.
cmd_wait() {
    local pid offset=0
    pid="$(running_pid)" || die "the broker of $INSTANCE_DIR is not running"
    [[ -f "$INSTANCE_DIR/start.offset" ]] && offset="$(cat "$INSTANCE_DIR/start.offset")"
    local t0=$SECONDS
    wait_ready "$(java_bin)" "$pid" "$offset"
    say "broker ready on $BOOTSTRAP after $((SECONDS - t0))s"
}

# --- three-node cluster ------------------------------------------------------------------------------

node_port() { echo $((CLUSTER_PORT + CLUSTER_PORT_STEP * ($1 - 1))); }

cluster_bootstrap() {
    local n list=()
    for ((n = 1; n <= CLUSTER_NODES; n++)); do list+=("127.0.0.1:$(node_port "$n")"); done
    (IFS=,; echo "${list[*]}")
}

# The cluster id and each node's metadata directory id, made once (every node is formatted with the
# same --initial-controllers, which names each voter's directory id).
cluster_ids() {
    local file="$CLUSTER_DIR/cluster.ids"
    if [[ ! -s "$file" ]]; then
        mkdir -p "$CLUSTER_DIR"
        fetch_jars_locked
        local java n ids
        java="$(java_bin)"
        ids="cluster=$(random_uuid "$java")"
        for ((n = 1; n <= CLUSTER_NODES; n++)); do ids+=$'\n'"dir$n=$(random_uuid "$java")"; done
        echo "$ids" >"$file.tmp"
        mv "$file.tmp" "$file"
    fi
    cat "$file"
}

# Run this script for node N of the cluster: its own instance folder, port family and node id.
on_node() {
    local n="$1"; shift
    [[ "$n" =~ ^[1-3]$ ]] || die "node must be 1, 2 or 3, not '$n'"
    local ids voters=() quorum=() m port
    ids="$(cluster_ids)"
    for ((m = 1; m <= CLUSTER_NODES; m++)); do
        port="$(node_port "$m")"
        voters+=("$m@127.0.0.1:$((port + 1)):$(sed -n "s/^dir$m=//p" <<<"$ids")")
        quorum+=("127.0.0.1:$((port + 1))")
    done
    port="$(node_port "$n")"
    local metrics="${KAFKA_METRICS_PORT:-}"
    [[ "$metrics" == off ]] || metrics=$((port + 312))
    KAFKA_INSTANCE_DIR="$CLUSTER_DIR/node-$n" KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT=$((port + 1)) \
        KAFKA_INTERNAL_PORT=$((port + 2)) KAFKA_TLS_PORT="$([[ "$KAFKA_TLS_PORT" == off ]] && echo off || echo $((port + 10)))" \
        KAFKA_MTLS_PORT=$((port + 11)) KAFKA_METRICS_PORT="$metrics" KAFKA_NODE_ID="$n" \
        KAFKA_QUORUM_BOOTSTRAP="$(IFS=,; echo "${quorum[*]}")" \
        KAFKA_INITIAL_CONTROLLERS="$(IFS=,; echo "${voters[*]}")" \
        KAFKA_CLUSTER_ID="$(sed -n 's/^cluster=//p' <<<"$ids")" \
        KAFKA_REPLICATION=3 KAFKA_MIN_ISR=2 KAFKA_HEAP="${KAFKA_HEAP_GIVEN:-384m}" \
        bash "${BASH_SOURCE[0]}" "$@"
}

cmd_cluster_up() {
    local n pids=() failed=0
    # Shared by the nodes, so made once before they start side by side (formatting is a JVM each).
    fetch_jars_locked
    ensure_tls
    secret broker >/dev/null; secret controller >/dev/null; secret admin >/dev/null
    cluster_ids >/dev/null
    for ((n = 1; n <= CLUSTER_NODES; n++)); do
        KAFKA_NO_WAIT=1 on_node "$n" up &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n" || failed=1; done
    ((failed == 0)) || { cmd_cluster_down; die "a node of the cluster did not start (see above)"; }
    for ((n = 1; n <= CLUSTER_NODES; n++)); do on_node "$n" wait; done
    say "three-node cluster ready on $(cluster_bootstrap)"
}

cmd_cluster_down() {
    local n
    for ((n = 1; n <= CLUSTER_NODES; n++)); do on_node "$n" down; done
}

cmd_cluster_status() {
    local n failed=0
    for ((n = 1; n <= CLUSTER_NODES; n++)); do
        echo -n "node $n: "
        on_node "$n" status || failed=1
    done
    return "$failed"
}

cmd_cluster_reset() {
    cmd_cluster_down
    if [[ -d "$CLUSTER_DIR" ]]; then
        [[ "$CLUSTER_DIR" != "/" && "$CLUSTER_DIR" != "$REPO_ROOT" && "$CLUSTER_DIR" != "$HOME" ]] \
            || die "refusing to delete $CLUSTER_DIR"
        rm -rf "$CLUSTER_DIR"
        say "deleted $CLUSTER_DIR"
    fi
}

cmd_node_signal() {
    local n="${1:-}" sig="${2:-}" pid
    [[ "$sig" =~ ^(KILL|STOP|CONT|TERM)$ ]] || die "usage: $0 node-signal N KILL|STOP|CONT|TERM"
    pid="$(on_node "$n" pid)" || die "node $n is not running"
    kill -s "$sig" "$pid"
    say "sent SIG$sig to node $n (pid $pid)"
}

# --- down / status / reset ---------------------------------------------------------------------------

stop_broker() {
    local pid
    if ! pid="$(running_pid)"; then
        if [[ -f "$PID_FILE" ]]; then
            say "not running (removing stale pid file)"
            rm -f "$PID_FILE"
        else
            say "not running"
        fi
        return 0
    fi
    say "stopping broker (pid $pid)"
    # A paused broker (SIGSTOP, e.g. by the chaos run) handles SIGTERM only once it runs again.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if alive "$pid"; then
        say "broker (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
    say "stopped"
}

cmd_down() {
    [[ -d "$INSTANCE_DIR" ]] || { say "not running"; return 0; }
    with_lock "$INSTANCE_DIR/.lock" stop_broker
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid) on 127.0.0.1:$(running_port), instance $INSTANCE_DIR"
        return 0
    fi
    echo "not running (instance $INSTANCE_DIR)"
    return 1
}

cmd_reset() {
    cmd_down
    # Guard against deleting something that is not an instance folder.
    if [[ -d "$INSTANCE_DIR" ]]; then
        [[ "$INSTANCE_DIR" != "/" && "$INSTANCE_DIR" != "$REPO_ROOT" && "$INSTANCE_DIR" != "$HOME" ]] \
            || die "refusing to delete $INSTANCE_DIR"
        rm -rf "$INSTANCE_DIR"
        say "deleted $INSTANCE_DIR"
    fi
}

# --- CLI tools ---------------------------------------------------------------------------------------

run_tool() {
    local java="$1"; shift
    mkdir -p "$LOG_DIR"
    "$java" -Xmx256m "${JVM_COMMON_OPTS[@]}" "${TOOL_LOG_OPTS[@]}" -cp "$LIB_DIR/*" "$@"
}

cmd_tool() {
    (($# >= 1)) || die "usage: $0 tool CLASS [ARGS...]"
    fetch_jars_locked
    run_tool "$(java_bin)" "$@"
}

cmd_admin_tool() {
    local cls="$1"; shift
    fetch_jars_locked
    local extra=()
    [[ -f "$INSTANCE_DIR/cli.properties" ]] && extra=(--command-config "$INSTANCE_DIR/cli.properties")
    run_tool "$(java_bin)" "$cls" --bootstrap-server "$BOOTSTRAP" "${extra[@]}" "$@"
}

# --- main --------------------------------------------------------------------------------------------

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
    local cmd="${1:-}"
    (($# > 0)) && shift
    case "$cmd" in
        jars) cmd_jars ;;
        up|start) cmd_up ;;
        down|stop) cmd_down ;;
        status) cmd_status ;;
        wait) cmd_wait ;;
        pid) running_pid ;;
        cluster-up) cmd_cluster_up ;;
        cluster-down) cmd_cluster_down ;;
        cluster-status) cmd_cluster_status ;;
        cluster-reset) cmd_cluster_reset ;;
        cluster-bootstrap) cluster_bootstrap ;;
        node-pid) on_node "${1:-}" pid ;;
        node-signal) cmd_node_signal "$@" ;;
        node-up) on_node "${1:-}" up ;;
        reset) cmd_reset ;;
        bootstrap) echo "$BOOTSTRAP" ;;
        tls-port) tls_enabled || die "TLS is off (KAFKA_TLS_PORT=off)"; echo "$KAFKA_TLS_PORT" ;;
        mtls-port) tls_enabled || die "TLS is off (KAFKA_TLS_PORT=off)"; echo "$KAFKA_MTLS_PORT" ;;
        client-cert) cmd_client_cert "$@" ;;
        metrics-url) metrics_enabled || die "broker metrics are disabled (KAFKA_METRICS_PORT=off)"; echo "$METRICS_URL" ;;
        logs) tail -n "${1:-60}" "$SERVER_LOG" ;;
        topics) cmd_admin_tool org.apache.kafka.tools.TopicCommand "$@" ;;
        consumer-groups) cmd_admin_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
        tool) cmd_tool "$@" ;;
        -h|--help|help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
