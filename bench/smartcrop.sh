#!/usr/bin/env bash
# smartcrop.sh compares gravity=smart with libvips' attention strategy on
# the corpus photos of TestSmartCorpus: for each photo and box, picfit's
# window (from the test's log) against the window `vips smartcrop
# --interesting attention` centres on its attention point (same size, as
# picfit crops it: the whole width or height of the source), as
# intersection over union; then the CPU that each spends on the smart
# choice: vipsthumbnail with --smartcrop attention against centre (user+sys
# of one run over ten copies), picfit's from BenchmarkPipeline (run it
# separately, see BENCHMARKS.md).
# Usage: bench/smartcrop.sh. Needs vips and vipsthumbnail (libvips-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${PICFIT_CORPUS:-../shared/testdata}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

PICFIT_CORPUS=$corpus go test -count=1 -v -run 'TestSmartCorpus$' . |
	sed -n 's/.*smart window \([^ ]*\) \([0-9]*\)x\([0-9]*\): \(.*\)/\1 \2 \3 \4/p' >"$work/ours"

printf '%-45s %8s %-24s %-24s %5s\n' photo box picfit vips IoU
while read -r file w h x0 y0 x1 y1; do
	cw=$((x1 - x0)) ch=$((y1 - y0))
	src=$corpus/$file
	[ -f "$src" ] || src=testdata/$file # the test reads the small photos from testdata/
	W=$(vipsheader -f width "$src") H=$(vipsheader -f height "$src")
	read -r ax ay < <(vips smartcrop "$src" "$work/o.v" $cw $ch --interesting attention --attention-x --attention-y | tr '\n' ' '; echo)
	vx=$((ax - cw / 2)) vy=$((ay - ch / 2))
	vx=$((vx < 0 ? 0 : vx > W - cw ? W - cw : vx))
	vy=$((vy < 0 ? 0 : vy > H - ch ? H - ch : vy))
	iou=$(awk -v a=$x0 -v b=$y0 -v c=$x1 -v d=$y1 -v e=$vx -v f=$vy -v g=$((vx + cw)) -v h=$((vy + ch)) 'BEGIN {
		iw = (c < g ? c : g) - (a > e ? a : e); ih = (d < h ? d : h) - (b > f ? b : f)
		i = (iw > 0 && ih > 0) ? iw * ih : 0; u = 2 * (c - a) * (d - b) - i
		printf "%.2f", i / u }')
	printf '%-45s %8s %-24s %-24s %5s\n' "$file" "${w}x$h" "$x0,$y0-$x1,$y1" "$vx,$vy-$((vx + cw)),$((vy + ch))" "$iou"
done <"$work/ours"

echo
printf '%-45s %8s %14s %14s\n' photo box "vips centre ms" "vips attn ms"
for c in "large-kleiber-6028x3391.jpg 200x200" "large-dragonfly-4224x3168-progressive.jpg 200x400" "large-seeding-5312x2988-progressive.jpg 200x400" "medium-blinds-1920x1200.jpg 200x400"; do
	read -r file box <<<"$c"
	[ -f "$corpus/$file" ] || continue
	args=()
	for i in $(seq 10); do
		cp "$corpus/$file" "$work/c$i.jpg"
		args+=("$work/c$i.jpg")
	done
	ms=()
	for m in centre attention; do
		t=$( { TIMEFORMAT='%U %S'; time vipsthumbnail "${args[@]}" -s "$box" -m "$m" -o "$work/out_%s.jpg[Q=80]" >/dev/null 2>&1; } 2>&1 | tail -1)
		ms+=("$(awk -v t="$t" 'BEGIN {split(t, a, " "); printf "%.1f", (a[1] + a[2]) * 1000 / 10}')")
	done
	printf '%-45s %8s %14s %14s\n' "$file" "$box" "${ms[0]}" "${ms[1]}"
done
