#!/usr/bin/env bash
# Validates every committed PTX file offline with ptxas, for sm_75 (Turing)
# and sm_90 (Hopper), and checks that it is up to date with the target the
# crate promises. Needs only ptxas (CI extracts it from the Debian package).
set -euo pipefail
cd "$(dirname "$0")/../crates/forma-cuda/kernels"
PTXAS=${PTXAS:-ptxas}
status=0
for ptx in *.ptx; do
    grep -q '^.target sm_75' "$ptx" || { echo "$ptx: expected .target sm_75"; status=1; }
    for arch in sm_75 sm_90; do
        if "$PTXAS" -arch="$arch" "$ptx" -o /dev/null; then
            echo "$ptx: ptxas $arch ok"
        else
            echo "$ptx: ptxas $arch FAILED"; status=1
        fi
    done
done
for cu in *.cu; do
    [ -f "${cu%.cu}.ptx" ] || { echo "$cu has no committed PTX (run scripts/gen-ptx.sh)"; status=1; }
done
if ! sha256sum --quiet -c ptx-sources.sha256; then
    echo "a kernel source changed since its PTX was generated: run scripts/gen-ptx.sh"; status=1
fi
exit $status
