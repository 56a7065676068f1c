#!/usr/bin/env bash
# The spec's CI/CD pipeline (test_env/ci_build_pipeline.sh): a thin wrapper over `vexfs-image ci`.
# Inputs from the environment: CI_TAG (v1.2.3 -> version 1.2.3), CI_BUILD_NUMBER, CI_COMMIT_SHA,
# VEXFS_VERSION, VEXFS_NOTIFY_URL. Flags are passed through (--variant, --jobs, --fail-fast,
# --artifacts-dir, --notify-url, ...; see --help).
#   CI_TAG=v1.0.0 CI_BUILD_NUMBER=123 ./test_env/ci_build_pipeline.sh
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../bin/vexfs-image" ci "$@"
