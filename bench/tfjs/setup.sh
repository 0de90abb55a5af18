#!/usr/bin/env bash
# Installs @tensorflow/tfjs-node@4.22.0 offline as a benchmark contender (see NOTES.md).
#  1. builds a libtensorflow C "archive" (official layout) from the TensorFlow pip wheel
#     in .venv into bench/tfjs/.cache
#  2. serves it from a throwaway HTTP server on 127.0.0.1
#  3. npm-installs tfjs-node into bench/tfjs/.install, pointing its installer at that
#     server (TFJS_NODE_BASE_URI) and building the addon from source (node-gyp)
#  4. stops the server
#  5. verifies require() + loadSavedModel + predict on test/fixtures/tiny/model
# Idempotent: steps whose output already exists are skipped (FORCE=1 redoes 1-3).
# Env: TF_WHEEL_DIR (default .venv/.../site-packages/tensorflow),
#      TFJS_LIB_MODE=symlink|copy (default symlink: the archive's .so files are
#      symlinks to the wheel's, so it is tiny; copy: a self-contained ~212 MB archive).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="$HERE/.cache"
INSTALL="$HERE/.install"
TFJS_VERSION=4.22.0
LIBTF_VERSION=2.9.1                       # hard-coded in tfjs-node's scripts/deps-constants.js
ARCHIVE_NAME="libtensorflow-cpu-linux-x86_64-${LIBTF_VERSION}.tar.gz"
TF_WHEEL_DIR="${TF_WHEEL_DIR:-$ROOT/.venv/lib/python3.11/site-packages/tensorflow}"
TFJS_LIB_MODE="${TFJS_LIB_MODE:-symlink}"
FORCE="${FORCE:-0}"
PKG_DIR="$INSTALL/node_modules/@tensorflow/tfjs-node"

die() { echo "setup.sh: ERROR: $*" >&2; exit 1; }
log() { echo "setup.sh: $*" >&2; }

# ---------------------------------------------------------------- prerequisites
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "only linux x86_64 is supported (tfjs-node cpu-linux-x86_64)"
for tool in node npm tar gzip nm g++ make; do
  command -v "$tool" >/dev/null || die "'$tool' not found on PATH"
done
PY="$(command -v python3 || true)"; [ -n "$PY" ] || die "python3 not found (needed for the local HTTP server and node-gyp)"
[ -f "$TF_WHEEL_DIR/libtensorflow_cc.so.2" ] || die "TensorFlow wheel not found: $TF_WHEEL_DIR/libtensorflow_cc.so.2 missing (set TF_WHEEL_DIR)"
[ -f "$TF_WHEEL_DIR/libtensorflow_framework.so.2" ] || die "$TF_WHEEL_DIR/libtensorflow_framework.so.2 missing"
[ -f "$TF_WHEEL_DIR/include/tensorflow/c/eager/c_api.h" ] || die "$TF_WHEEL_DIR/include/tensorflow/c/eager/c_api.h missing (the wheel has no C headers)"
[ -f /usr/include/node/node_api.h ] || die "/usr/include/node/node_api.h missing: node headers are needed to build the addon (nodedir=/usr)"
case "$TFJS_LIB_MODE" in symlink|copy) ;; *) die "TFJS_LIB_MODE must be symlink or copy";; esac

# ---------------------------------------------------------------- 1. archive
build_archive() {
  local stage="$CACHE/stage" stamp="$CACHE/archive.stamp"
  local want="$TF_WHEEL_DIR $TFJS_LIB_MODE $(stat -c %s-%Y "$TF_WHEEL_DIR/libtensorflow_cc.so.2")"
  if [ "$FORCE" != 1 ] && [ -f "$CACHE/$ARCHIVE_NAME" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    log "[1/5] archive up to date: $CACHE/$ARCHIVE_NAME"; return
  fi
  log "[1/5] building $ARCHIVE_NAME from $TF_WHEEL_DIR ($TFJS_LIB_MODE mode)"
  # tfjs-node's binding calls these C / eager API functions; all must be exported.
  local needed="TF_Version TF_NewGraph TF_DeleteGraph TF_NewSessionOptions TF_DeleteSessionOptions
    TF_LoadSessionFromSavedModel TF_SessionRun TF_DeleteSession TF_GraphOperationByName
    TF_DeleteDeviceList TF_DeviceListCount TF_DeviceListName TF_DeviceListType
    TFE_NewContext TFE_NewContextOptions TFE_DeleteContext TFE_DeleteContextOptions TFE_ContextListDevices
    TFE_NewOp TFE_DeleteOp TFE_Execute TFE_OpAddInput TFE_OpSetAttrBool TFE_OpSetAttrBoolList
    TFE_OpSetAttrFloat TFE_OpSetAttrFloatList TFE_OpSetAttrInt TFE_OpSetAttrIntList TFE_OpSetAttrShape
    TFE_OpSetAttrString TFE_OpSetAttrType TFE_NewTensorHandle TFE_DeleteTensorHandle
    TFE_TensorHandleCopyToDevice TFE_TensorHandleDataType TFE_TensorHandleDim TFE_TensorHandleNumDims
    TFE_TensorHandleResolve"
  local missing
  missing="$(nm -D --defined-only "$TF_WHEEL_DIR/libtensorflow_cc.so.2" \
    | awk -v want="$needed" 'BEGIN { n = split(want, w); for (i = 1; i <= n; i++) need[w[i]] = 1 }
        { sub(/@.*/, "", $3); delete need[$3] }
        END { for (s in need) printf " %s", s }')"
  [ -z "$missing" ] || die "libtensorflow_cc.so.2 lacks symbols tfjs-node needs:$missing"

  rm -rf "$stage"; mkdir -p "$stage/lib" "$stage/include"
  local inc="$TF_WHEEL_DIR/include"
  # Headers: the C API plus what it pulls in (tstring -> tsl ctstring, tsl_status).
  (cd "$inc" && cp -r --parents tensorflow/c "$stage/include/" \
     && cp --parents tensorflow/core/platform/ctstring*.h tsl/platform/ctstring*.h "$stage/include/" \
     && { [ -d xla/tsl/c ] && cp -r --parents xla/tsl/c "$stage/include/" || true; })
  [ -f "$inc/LICENSE" ] && cp "$inc/LICENSE" "$stage/LICENSE" || true
  # Libraries, named as in the official 2.9.1 archive. libtensorflow_cc.so.2 stands in
  # for libtensorflow.so (it exports the whole C API). Its SONAME is libtensorflow_cc.so.2,
  # so the addon will record that name: provide it as well.
  if [ "$TFJS_LIB_MODE" = copy ]; then
    cp "$TF_WHEEL_DIR/libtensorflow_cc.so.2" "$stage/lib/libtensorflow.so.$LIBTF_VERSION"
    cp "$TF_WHEEL_DIR/libtensorflow_framework.so.2" "$stage/lib/libtensorflow_framework.so.$LIBTF_VERSION"
  else
    ln -s "$TF_WHEEL_DIR/libtensorflow_cc.so.2" "$stage/lib/libtensorflow.so.$LIBTF_VERSION"
    ln -s "$TF_WHEEL_DIR/libtensorflow_framework.so.2" "$stage/lib/libtensorflow_framework.so.$LIBTF_VERSION"
  fi
  ln -s "libtensorflow.so.$LIBTF_VERSION" "$stage/lib/libtensorflow.so.2"
  ln -s libtensorflow.so.2 "$stage/lib/libtensorflow.so"
  ln -s "libtensorflow.so.$LIBTF_VERSION" "$stage/lib/libtensorflow_cc.so.2"
  ln -s "libtensorflow_framework.so.$LIBTF_VERSION" "$stage/lib/libtensorflow_framework.so.2"
  ln -s libtensorflow_framework.so.2 "$stage/lib/libtensorflow_framework.so"
  tar -C "$stage" -cf - . | gzip -1 > "$CACHE/$ARCHIVE_NAME.tmp"
  mv "$CACHE/$ARCHIVE_NAME.tmp" "$CACHE/$ARCHIVE_NAME"
  rm -rf "$stage"
  echo "$want" > "$stamp"
  log "      wrote $CACHE/$ARCHIVE_NAME ($(du -h "$CACHE/$ARCHIVE_NAME" | cut -f1))"
}

# ---------------------------------------------------------------- 2-4. install
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true
    log "[4/5] stopped HTTP server (pid $SERVER_PID)"; SERVER_PID=""
  fi
}
trap stop_server EXIT

installed() {
  [ -f "$PKG_DIR/package.json" ] \
    && [ "$(node -p "require('$PKG_DIR/package.json').version" 2>/dev/null)" = "$TFJS_VERSION" ] \
    && ls "$PKG_DIR"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1 \
    && [ -e "$PKG_DIR/deps/lib/libtensorflow.so.$LIBTF_VERSION" ] \
    && cmp -s "$CACHE/archive.stamp" "$INSTALL/.archive.stamp"   # installed from the current archive
}

install_tfjs() {
  if [ "$FORCE" != 1 ] && installed; then
    log "[2-4/5] @tensorflow/tfjs-node@$TFJS_VERSION already installed in $INSTALL"; return
  fi
  local port
  port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  log "[2/5] serving $CACHE on http://127.0.0.1:$port/"
  "$PY" -m http.server --bind 127.0.0.1 --directory "$CACHE" "$port" >"$CACHE/http.log" 2>&1 &
  SERVER_PID=$!
  local ok=0
  for _ in $(seq 1 50); do
    if "$PY" -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$port/$ARCHIVE_NAME', method='HEAD'), timeout=2).close()" 2>/dev/null; then ok=1; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  [ "$ok" = 1 ] || die "local HTTP server did not come up on 127.0.0.1:$port (see $CACHE/http.log)"

  log "[3/5] npm install @tensorflow/tfjs-node@$TFJS_VERSION into $INSTALL (addon built from source; log: $CACHE/npm-install.log)"
  mkdir -p "$INSTALL"
  [ "$FORCE" != 1 ] || rm -rf "$INSTALL/node_modules" "$INSTALL/package-lock.json"
  cat > "$INSTALL/package.json" <<JSON
{
  "name": "tfjs-node-bench-contender",
  "private": true,
  "description": "isolated install of @tensorflow/tfjs-node for bench/tfjs (created by setup.sh)",
  "dependencies": { "@tensorflow/tfjs-node": "$TFJS_VERSION" }
}
JSON
  local t0=$SECONDS
  # TFJS_NODE_BASE_URI: scripts/install.js downloads ${BASE_URI}cpu-linux-x86_64-2.9.1.tar.gz.
  # npm_config_build_from_source: node-pre-gyp skips the (unreachable) prebuilt-addon
  #   download from storage.googleapis.com and runs node-gyp against deps/include, deps/lib.
  # npm_config_nodedir: node headers are local (/usr/include/node), nothing to download.
  if ! (cd "$INSTALL" && env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
        TFJS_NODE_BASE_URI="http://127.0.0.1:$port/libtensorflow-" \
        npm_config_build_from_source=true \
        npm_config_nodedir=/usr \
        npm install --no-audit --no-fund --foreground-scripts --loglevel=http \
        >"$CACHE/npm-install.log" 2>&1); then
    tail -n 40 "$CACHE/npm-install.log" >&2
    die "npm install of @tensorflow/tfjs-node@$TFJS_VERSION failed (full log: $CACHE/npm-install.log)"
  fi
  # install.js exits 0 even when some steps fail silently; check the results.
  grep -q "\"GET /$ARCHIVE_NAME" "$CACHE/http.log" \
    || log "      warning: the local server log shows no download of $ARCHIVE_NAME"
  cp "$CACHE/archive.stamp" "$INSTALL/.archive.stamp"
  installed || { tail -n 40 "$CACHE/npm-install.log" >&2; die "npm install finished but the addon (lib/napi-v*/tfjs_binding.node) or deps/lib is missing (log: $CACHE/npm-install.log)"; }
  log "      installed in $((SECONDS - t0)) s"
  stop_server
}

mkdir -p "$CACHE"
build_archive
install_tfjs

# ---------------------------------------------------------------- 5. verify
log "[5/5] verifying require + loadSavedModel + predict"
node "$HERE/verify.js" "$ROOT/test/fixtures/tiny/model" \
  || die "verification failed: @tensorflow/tfjs-node does not load or run the tiny model (see above)"
log "OK: @tensorflow/tfjs-node@$TFJS_VERSION is usable; contender: node bench/tfjs/contender.js '<jobs json>'"
