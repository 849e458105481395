#!/usr/bin/env bash
# End-to-end check of postmaster-apiserver with kubectl: start, RBAC, tokens,
# CRD CEL validation, garbage collection, namespace deletion, SIGTERM,
# restart on the same data dir and port. Needs kubectl on PATH.
#
#   test/apiserver/smoke-test.sh [path/to/postmaster-apiserver]
#
# Prints timings and "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$("$here/build.sh" | tail -n1)}"
work="$(mktemp -d)"
data="$work/data"
export KUBECONFIG="$data/kubeconfig"
pid=""
passed=0
failed=0

cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
exec 3>&1 # for output from inside check

ok() { echo "ok   - $1"; passed=$((passed + 1)); }
bad() { echo "FAIL - $1"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...
  local name="$1"; shift
  if "$@" >"$work/last.out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/       /' "$work/last.out"; fi
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

start_server() { # start_server [extra flags]
  local t0; t0=$(now)
  "$bin" --data-dir "$data" "$@" >"$work/stdout" 2>"$work/stderr" &
  pid=$!
  for _ in $(seq 1 1200); do
    grep -q '^READY ' "$work/stdout" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^READY ' "$work/stdout"; then
    echo "server did not become ready"; cat "$work/stderr"; exit 1
  fi
  echo "startup to READY: $(since "$t0"); $(cat "$work/stdout")"
}

stop_server() {
  local t0 rc; t0=$(now)
  kill -TERM "$pid"; wait "$pid"; rc=$?; pid=""
  echo "shutdown: $(since "$t0"), exit code $rc" >&3
  [ "$rc" = 0 ]
}

wait_gone() { # wait_gone SECONDS kubectl-args...
  local n="$1"; shift
  for _ in $(seq 1 $((n * 4))); do
    kubectl get "$@" >/dev/null 2>&1 || return 0
    sleep 0.25
  done
  return 1
}

start_server
port="$(sed -n 's/.*server=https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/stdout")"
[ "$(wc -l <"$work/stdout")" = 1 ] && ok "stdout holds exactly the READY line" || bad "stdout holds exactly the READY line"
echo "RSS after startup: $(awk '/VmRSS/ { print $2, $3 }' /proc/$pid/status)"

check "kubectl get ns" kubectl get ns default
check "admin can do everything" test "$(kubectl auth can-i '*' '*')" = yes
check "server version is stamped" sh -c "kubectl version -o json | grep -q '\"gitVersion\": \"v1'"
check "create service account" kubectl create sa robot
token="$(kubectl create token robot --audience postmaster --duration 2h)"
tokenreview() {
  kubectl create -o jsonpath='{.status.authenticated}' -f - <<EOF
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec: {token: "$token", audiences: ["postmaster"]}
EOF
}
check "TokenReview authenticates the token" test "$(tokenreview)" = true
sar() {
  kubectl create -o jsonpath='{.status.allowed}' -f - <<EOF
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: system:serviceaccount:default:robot
  groups: [system:serviceaccounts, system:serviceaccounts:default, system:authenticated]
  resourceAttributes: {namespace: default, verb: get, resource: configmaps}
EOF
}
check "RBAC denies the service account" test "$(sar)" = false
kubectl create role cm-reader --verb=get,list --resource=configmaps >/dev/null
kubectl create rolebinding robot-cm --role=cm-reader --serviceaccount=default:robot >/dev/null
check "RBAC allows it after a RoleBinding" test "$(sar)" = true

kubectl apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.postmaster.dev}
spec:
  group: example.postmaster.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {min: {type: integer}, max: {type: integer}}
            x-kubernetes-validations:
            - {rule: "self.min <= self.max", message: "min must be <= max"}
EOF
check "CRD established" kubectl wait --for=condition=Established crd/widgets.example.postmaster.dev --timeout=30s
widget() { printf 'apiVersion: example.postmaster.dev/v1\nkind: Widget\nmetadata: {name: %s}\nspec: {min: %s, max: %s}\n' "$@"; }
check "valid custom resource accepted" sh -c "$(declare -f widget); widget keep 1 2 | kubectl apply -f -"
check "CEL rule refuses an invalid one" sh -c "$(declare -f widget); widget bad 9 2 | kubectl apply -f - 2>&1 | grep -q 'min must be <= max'"

kubectl create configmap owner --from-literal=a=b >/dev/null
owner_uid="$(kubectl get cm owner -o jsonpath='{.metadata.uid}')"
kubectl create -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: dependent
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: "$owner_uid"}]
EOF
kubectl delete cm owner >/dev/null
t0=$(now)
check "garbage collector deletes the dependent" wait_gone 60 cm dependent
echo "     (after $(since "$t0"))"
kubectl create ns doomed >/dev/null && kubectl -n doomed create cm x >/dev/null
kubectl delete ns doomed --wait=false >/dev/null
t0=$(now)
check "deleted namespace goes away" wait_gone 60 ns doomed
echo "     (after $(since "$t0"))"
kubectl create cm persist --from-literal=k=v >/dev/null

kubectl get cm -w >/dev/null 2>&1 &
watcher=$!
sleep 1
check "SIGTERM with an open watch: clean exit 0" stop_server
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null

start_server --port "$port"
check "same port after restart" grep -q "server=https://127.0.0.1:$port\$" "$work/stdout"
check "objects survive a restart" kubectl get cm persist
check "custom resources survive a restart" kubectl get widget keep
check "old token still valid after restart" test "$(tokenreview)" = true
check "SIGTERM: clean exit 0" stop_server
check "stdout held only the READY line" test "$(wc -l <"$work/stdout")" = 1
if [ -s "$work/stderr" ]; then echo "stderr of the last run:"; sed 's/^/       /' "$work/stderr" | cut -c1-300; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
