#!/usr/bin/env bash
# quality.sh prints four quality measurements of issue 17, side by side
# with libvips (vipsthumbnail 8.14) and ImageMagick 6 (/usr/bin/convert),
# each with its goal and ok/MISS:
#  1. mean CIEDE2000 of a photo resized to 300 wide from Adobe RGB and
#     ProPhoto RGB copies (made by LittleCMS' jpgicc, profile embedded)
#     against the sRGB original's reference resize, as JPEG and PNG;
#  2. picfit's q80 JPEG bytes over libvips' at equal luma SSIM, 4 corpus
#     photos x 3 widths;
#  3. the luma SSIM of a generated moiré chart resized from JPEG and PNG;
#  4. the bytes, frames and SSIM of the 125-frame corpus GIF at 300 wide.
# The work is done in Go by TestQualityReport (quality_test.go), which
# calls the tools and removes its scratch files. The corpus is
# PICFIT_CORPUS (default ../shared/testdata); ImageMagick is
# PICFIT_CONVERT (default /usr/bin/convert: a convert earlier in PATH may
# be a stand-in). About 1.5 minutes on 2 cores.
# Usage: bench/quality.sh
# Installs from Debian what is missing: libvips-tools, imagemagick,
# liblcms2-utils, colord-data (the ICC profiles).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
[ -x "${PICFIT_CONVERT:-/usr/bin/convert}" ] || need+=(imagemagick)
command -v jpgicc >/dev/null || need+=(liblcms2-utils)
[ -f /usr/share/color/icc/colord/ProPhotoRGB.icc ] || need+=(colord-data)
if ((${#need[@]})); then
	apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
PICFIT_QUALITY_REPORT=1 go test -count=1 -timeout 10m -run '^TestQualityReport$' -v . |
	sed -n 's/^ *quality_test.go:[0-9]*: \{0,1\}//p'
