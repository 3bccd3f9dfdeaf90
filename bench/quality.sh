#!/usr/bin/env bash
# quality.sh prints, side by side with libvips' vipsthumbnail -s 300, the
# luma SSIM of a generated 2400x1600 moiré chart (gratings, checkerboards,
# a zone plate, text-like strokes) resized to 300 wide, from the chart
# stored as JPEG q90 and as PNG. The truth is the reference Lanczos-3 of
# the chart's own pixels (applyOps, no shrink-on-load, no JPEG). SSIM is
# computed in Go by TestQualityReport (moire_test.go).
# Usage: bench/quality.sh
# Installs libvips-tools from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v vipsthumbnail >/dev/null || apt-get install -y -qq libvips-tools >/dev/null
PICFIT_QUALITY_REPORT=1 go test -count=1 -run '^TestQualityReport$' -v . |
	sed -n 's/^ *moire_test.go:[0-9]*: //p'
