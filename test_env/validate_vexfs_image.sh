#!/usr/bin/env bash
# The spec's image validator (test_env/validate_vexfs_image.sh): a thin wrapper over
# `vexfs-image validate`. Same flags: [IMAGE_FILE...] -d/--images-dir, --boot-timeout,
# --ssh-timeout, --no-cleanup, -v/--verbose, -h; plus --report-dir, --format, --jobs.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../bin/vexfs-image" validate "$@"
