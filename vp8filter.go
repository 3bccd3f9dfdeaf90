package main

// The normal loop filter of VP8 (RFC 6386 section 15.3), libwebp's
// arithmetic. Each function filters n pixels along one edge; those
// across a horizontal edge (Rows) read eight rows as slices, those
// across a vertical edge (Cols) eight consecutive bytes a row: the
// per-pixel test and filter are written out in each, with the bounds
// checks of the slices hoisted, because the filter is the largest part
// of decoding a VP8 picture.

// filterEdge filters the macroblock edge at o (6 pixels may change):
// step is 1 for a vertical edge, the stride for a horizontal one; along
// is the other.
func filterEdge(p []uint8, o, step, along, n int, limit, il, hev int32) {
	if step == 1 {
		filterEdgeCols(p, o, along, n, 2*limit+1, il, hev)
	} else {
		filterEdgeRows(p, o, step, n, 2*limit+1, il, hev)
	}
}

// filterInner filters an inner edge at o (4 pixels may change).
func filterInner(p []uint8, o, step, along, n int, limit, il, hev int32) {
	if step == 1 {
		filterInnerCols(p, o, along, n, 2*limit+1, il, hev)
	} else {
		filterInnerRows(p, o, step, n, 2*limit+1, il, hev)
	}
}

// filterEdgeRows filters across the horizontal edge above row o..o+n.
func filterEdgeRows(p []uint8, o, stride, n int, t, it, hev int32) {
	r3 := p[o-4*stride : o-4*stride+n]
	r2 := p[o-3*stride:][:len(r3)]
	r1 := p[o-2*stride:][:len(r3)]
	r0 := p[o-stride:][:len(r3)]
	s0 := p[o:][:len(r3)]
	s1 := p[o+stride:][:len(r3)]
	s2 := p[o+2*stride:][:len(r3)]
	s3 := p[o+3*stride:][:len(r3)]
	for i := range r3 {
		p3, p2, p1, p0 := int32(r3[i]), int32(r2[i]), int32(r1[i]), int32(r0[i])
		q0, q1, q2, q3 := int32(s0[i]), int32(s1[i]), int32(s2[i]), int32(s3[i])
		e := max(abs32(p1-p0), abs32(q1-q0)) // the high edge variance
		if 4*abs32(p0-q0)+abs32(p1-q1) > t || max(e, abs32(p3-p2), abs32(p2-p1), abs32(q3-q2), abs32(q2-q1)) > it {
			continue
		}
		if e > hev {
			a := 3*(q0-p0) + sclip1(p1-q1)
			a1 := sclip2((a + 4) >> 3)
			a2 := sclip2((a + 3) >> 3)
			r0[i] = clip1(p0 + a2)
			s0[i] = clip1(q0 - a1)
			continue
		}
		a := sclip1(3*(q0-p0) + sclip1(p1-q1))
		a1 := (27*a + 63) >> 7
		a2 := (18*a + 63) >> 7
		a3 := (9*a + 63) >> 7
		r2[i] = clip1(p2 + a3)
		r1[i] = clip1(p1 + a2)
		r0[i] = clip1(p0 + a1)
		s0[i] = clip1(q0 - a1)
		s1[i] = clip1(q1 - a2)
		s2[i] = clip1(q2 - a3)
	}
}

// filterEdgeCols filters across the vertical edge left of column o, on
// n rows.
func filterEdgeCols(p []uint8, o, stride, n int, t, it, hev int32) {
	for range n {
		s := p[o-4 : o+4 : o+4]
		o += stride
		p3, p2, p1, p0 := int32(s[0]), int32(s[1]), int32(s[2]), int32(s[3])
		q0, q1, q2, q3 := int32(s[4]), int32(s[5]), int32(s[6]), int32(s[7])
		e := max(abs32(p1-p0), abs32(q1-q0)) // the high edge variance
		if 4*abs32(p0-q0)+abs32(p1-q1) > t || max(e, abs32(p3-p2), abs32(p2-p1), abs32(q3-q2), abs32(q2-q1)) > it {
			continue
		}
		if e > hev {
			a := 3*(q0-p0) + sclip1(p1-q1)
			a1 := sclip2((a + 4) >> 3)
			a2 := sclip2((a + 3) >> 3)
			s[3] = clip1(p0 + a2)
			s[4] = clip1(q0 - a1)
			continue
		}
		a := sclip1(3*(q0-p0) + sclip1(p1-q1))
		a1 := (27*a + 63) >> 7
		a2 := (18*a + 63) >> 7
		a3 := (9*a + 63) >> 7
		s[1] = clip1(p2 + a3)
		s[2] = clip1(p1 + a2)
		s[3] = clip1(p0 + a1)
		s[4] = clip1(q0 - a1)
		s[5] = clip1(q1 - a2)
		s[6] = clip1(q2 - a3)
	}
}

// filterInnerRows is filterEdgeRows for an inner edge.
func filterInnerRows(p []uint8, o, stride, n int, t, it, hev int32) {
	r3 := p[o-4*stride : o-4*stride+n]
	r2 := p[o-3*stride:][:len(r3)]
	r1 := p[o-2*stride:][:len(r3)]
	r0 := p[o-stride:][:len(r3)]
	s0 := p[o:][:len(r3)]
	s1 := p[o+stride:][:len(r3)]
	s2 := p[o+2*stride:][:len(r3)]
	s3 := p[o+3*stride:][:len(r3)]
	for i := range r3 {
		p3, p2, p1, p0 := int32(r3[i]), int32(r2[i]), int32(r1[i]), int32(r0[i])
		q0, q1, q2, q3 := int32(s0[i]), int32(s1[i]), int32(s2[i]), int32(s3[i])
		e := max(abs32(p1-p0), abs32(q1-q0)) // the high edge variance
		if 4*abs32(p0-q0)+abs32(p1-q1) > t || max(e, abs32(p3-p2), abs32(p2-p1), abs32(q3-q2), abs32(q2-q1)) > it {
			continue
		}
		if e > hev {
			a := 3*(q0-p0) + sclip1(p1-q1)
			a1 := sclip2((a + 4) >> 3)
			a2 := sclip2((a + 3) >> 3)
			r0[i] = clip1(p0 + a2)
			s0[i] = clip1(q0 - a1)
			continue
		}
		a := 3 * (q0 - p0)
		a1 := sclip2((a + 4) >> 3)
		a2 := sclip2((a + 3) >> 3)
		a3 := (a1 + 1) >> 1
		r1[i] = clip1(p1 + a3)
		r0[i] = clip1(p0 + a2)
		s0[i] = clip1(q0 - a1)
		s1[i] = clip1(q1 - a3)
	}
}

// filterInnerCols is filterEdgeCols for an inner edge.
func filterInnerCols(p []uint8, o, stride, n int, t, it, hev int32) {
	for range n {
		s := p[o-4 : o+4 : o+4]
		o += stride
		p3, p2, p1, p0 := int32(s[0]), int32(s[1]), int32(s[2]), int32(s[3])
		q0, q1, q2, q3 := int32(s[4]), int32(s[5]), int32(s[6]), int32(s[7])
		e := max(abs32(p1-p0), abs32(q1-q0)) // the high edge variance
		if 4*abs32(p0-q0)+abs32(p1-q1) > t || max(e, abs32(p3-p2), abs32(p2-p1), abs32(q3-q2), abs32(q2-q1)) > it {
			continue
		}
		if e > hev {
			a := 3*(q0-p0) + sclip1(p1-q1)
			a1 := sclip2((a + 4) >> 3)
			a2 := sclip2((a + 3) >> 3)
			s[3] = clip1(p0 + a2)
			s[4] = clip1(q0 - a1)
			continue
		}
		a := 3 * (q0 - p0)
		a1 := sclip2((a + 4) >> 3)
		a2 := sclip2((a + 3) >> 3)
		a3 := (a1 + 1) >> 1
		s[2] = clip1(p1 + a3)
		s[3] = clip1(p0 + a2)
		s[4] = clip1(q0 - a1)
		s[5] = clip1(q1 - a3)
	}
}
