#!/usr/bin/env bash
# The spec's image builder (test_env/build_vexfs_image.sh): a thin wrapper over
# `vexfs-image build`. Same flags: --variant, --version, --output-dir, --timeout, --no-cleanup, -h.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../bin/vexfs-image" build "$@"
