package main

import (
	"math"
	"testing"
)

// labColor is a CIELAB colour relative to the D65 white.
type labColor struct{ l, a, b float64 }

// srgbToLab converts an 8-bit sRGB colour to CIELAB: the sRGB transfer
// curve, the IEC 61966-2-1 matrix to XYZ (D65), and Lab relative to the
// D65 white (0.95047, 1, 1.08883), as Bruce Lindbloom's tables.
func srgbToLab(r, g, b uint8) labColor {
	lin := func(v uint8) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	rl, gl, bl := lin(r), lin(g), lin(b)
	x := (0.4124564*rl + 0.3575761*gl + 0.1804375*bl) / 0.95047
	y := 0.2126729*rl + 0.7151522*gl + 0.0721750*bl
	z := (0.0193339*rl + 0.1191920*gl + 0.9503041*bl) / 1.08883
	f := func(t float64) float64 {
		const epsilon, kappa = 216.0 / 24389, 24389.0 / 27
		if t > epsilon {
			return math.Cbrt(t)
		}
		return (kappa*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return labColor{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// ciede2000 is the CIEDE2000 colour difference between p and q with
// kL = kC = kH = 1, as G. Sharma, W. Wu and E. N. Dalal, "The CIEDE2000
// color-difference formula: implementation notes, supplementary test
// data, and mathematical observations" (2005), equations 2 to 22.
func ciede2000(p, q labColor) float64 {
	const deg = math.Pi / 180
	const pow25to7 = 6103515625.0 // 25^7
	pow7 := func(v float64) float64 { v3 := v * v * v; return v3 * v3 * v }
	cbar := (math.Hypot(p.a, p.b) + math.Hypot(q.a, q.b)) / 2
	g := 0.5 * (1 - math.Sqrt(pow7(cbar)/(pow7(cbar)+pow25to7)))
	a1, a2 := (1+g)*p.a, (1+g)*q.a
	c1, c2 := math.Hypot(a1, p.b), math.Hypot(a2, q.b)
	hue := func(b, a float64) float64 { // degrees in [0, 360), 0 when achromatic
		if a == 0 && b == 0 {
			return 0
		}
		h := math.Atan2(b, a) / deg
		if h < 0 {
			h += 360
		}
		return h
	}
	h1, h2 := hue(p.b, a1), hue(q.b, a2)
	chromatic := c1*c2 != 0
	// Hues exactly opposite (Sharma's pair 14) must take the <= 180
	// branches; atan2's rounding can put them a hair past 180.
	const past180 = 180 + 1e-9

	var dh float64
	if chromatic {
		dh = h2 - h1
		switch {
		case dh > past180:
			dh -= 360
		case dh < -past180:
			dh += 360
		}
	}
	dL, dC := q.l-p.l, c2-c1
	dH := 2 * math.Sqrt(c1*c2) * math.Sin(dh/2*deg)

	lbar, cbarp, hbar := (p.l+q.l)/2, (c1+c2)/2, h1+h2
	if chromatic {
		switch {
		case math.Abs(h1-h2) <= past180:
			hbar /= 2
		case h1+h2 < 360:
			hbar = (hbar + 360) / 2
		default:
			hbar = (hbar - 360) / 2
		}
	}
	t := 1 - 0.17*math.Cos((hbar-30)*deg) + 0.24*math.Cos(2*hbar*deg) +
		0.32*math.Cos((3*hbar+6)*deg) - 0.20*math.Cos((4*hbar-63)*deg)
	dTheta := 30 * math.Exp(-((hbar-275)/25)*((hbar-275)/25))
	rc := 2 * math.Sqrt(pow7(cbarp)/(pow7(cbarp)+pow25to7))
	l50 := (lbar - 50) * (lbar - 50)
	sl := 1 + 0.015*l50/math.Sqrt(20+l50)
	sc := 1 + 0.045*cbarp
	sh := 1 + 0.015*cbarp*t
	rt := -math.Sin(2*dTheta*deg) * rc
	l, c, h := dL/sl, dC/sc, dH/sh
	return math.Sqrt(l*l + c*c + h*h + rt*c*h)
}

// TestCIEDE2000 checks ciede2000 against the 34 pairs of Sharma, Wu and
// Dalal's supplementary test data (table 1), both ways round: the
// formula is symmetric.
func TestCIEDE2000(t *testing.T) {
	tests := []struct {
		p, q labColor
		want float64
	}{
		{labColor{50, 2.6772, -79.7751}, labColor{50, 0, -82.7485}, 2.0425},
		{labColor{50, 3.1571, -77.2803}, labColor{50, 0, -82.7485}, 2.8615},
		{labColor{50, 2.8361, -74.0200}, labColor{50, 0, -82.7485}, 3.4412},
		{labColor{50, -1.3802, -84.2814}, labColor{50, 0, -82.7485}, 1.0000},
		{labColor{50, -1.1848, -84.8006}, labColor{50, 0, -82.7485}, 1.0000},
		{labColor{50, -0.9009, -85.5211}, labColor{50, 0, -82.7485}, 1.0000},
		{labColor{50, 0, 0}, labColor{50, -1, 2}, 2.3669},
		{labColor{50, -1, 2}, labColor{50, 0, 0}, 2.3669},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0009}, 7.1792},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0010}, 7.1792},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0011}, 7.2195},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0012}, 7.2195},
		{labColor{50, -0.0010, 2.4900}, labColor{50, 0.0009, -2.4900}, 4.8045},
		{labColor{50, -0.0010, 2.4900}, labColor{50, 0.0010, -2.4900}, 4.8045},
		{labColor{50, -0.0010, 2.4900}, labColor{50, 0.0011, -2.4900}, 4.7461},
		{labColor{50, 2.5, 0}, labColor{50, 0, -2.5}, 4.3065},
		{labColor{50, 2.5, 0}, labColor{73, 25, -18}, 27.1492},
		{labColor{50, 2.5, 0}, labColor{61, -5, 29}, 22.8977},
		{labColor{50, 2.5, 0}, labColor{56, -27, -3}, 31.9030},
		{labColor{50, 2.5, 0}, labColor{58, 24, 15}, 19.4535},
		{labColor{50, 2.5, 0}, labColor{50, 3.1736, 0.5854}, 1.0000},
		{labColor{50, 2.5, 0}, labColor{50, 3.2972, 0}, 1.0000},
		{labColor{50, 2.5, 0}, labColor{50, 1.8634, 0.5757}, 1.0000},
		{labColor{50, 2.5, 0}, labColor{50, 3.2592, 0.3350}, 1.0000},
		{labColor{60.2574, -34.0099, 36.2677}, labColor{60.4626, -34.1751, 39.4387}, 1.2644},
		{labColor{63.0109, -31.0961, -5.8663}, labColor{62.8187, -29.7946, -4.0864}, 1.2630},
		{labColor{61.2901, 3.7196, -5.3901}, labColor{61.4292, 2.2480, -4.9620}, 1.8731},
		{labColor{35.0831, -44.1164, 3.7933}, labColor{35.0232, -40.0716, 1.5901}, 1.8645},
		{labColor{22.7233, 20.0904, -46.6940}, labColor{23.0331, 14.9730, -42.5619}, 2.0373},
		{labColor{36.4612, 47.8580, 18.3852}, labColor{36.2715, 50.5065, 21.2231}, 1.4146},
		{labColor{90.8027, -2.0831, 1.4410}, labColor{91.1528, -1.6435, 0.0447}, 1.4441},
		{labColor{90.9257, -0.5406, -0.9208}, labColor{88.6381, -0.8985, -0.7239}, 1.5381},
		{labColor{6.7747, -0.2908, -2.4247}, labColor{5.8714, -0.0985, -2.2286}, 0.6377},
		{labColor{2.0776, 0.0795, -1.1350}, labColor{0.9033, -0.0636, -0.5514}, 0.9082},
	}
	for i, tt := range tests {
		for _, pq := range [2][2]labColor{{tt.p, tt.q}, {tt.q, tt.p}} {
			// The published figures have four decimals.
			if got := ciede2000(pq[0], pq[1]); math.Abs(got-tt.want) > 0.5e-4 {
				t.Errorf("pair %d: ciede2000(%v, %v) = %.6f, want %.4f", i+1, pq[0], pq[1], got, tt.want)
			}
		}
		if got := ciede2000(tt.p, tt.p); got != 0 {
			t.Errorf("pair %d: ciede2000 of a colour with itself = %g, want 0", i+1, got)
		}
	}
}

// TestSRGBToLab checks the sRGB to CIELAB (D65) conversion against
// Bruce Lindbloom's calculator, published to four decimals.
func TestSRGBToLab(t *testing.T) {
	tests := []struct {
		r, g, b uint8
		want    labColor
	}{
		{255, 255, 255, labColor{100, 0, 0}},
		{0, 0, 0, labColor{0, 0, 0}},
		{255, 0, 0, labColor{53.2408, 80.0925, 67.2032}},
		{0, 255, 0, labColor{87.7347, -86.1827, 83.1793}},
		{0, 0, 255, labColor{32.2970, 79.1875, -107.8602}},
		{128, 128, 128, labColor{53.5850, 0, 0}},
	}
	for _, tt := range tests {
		got := srgbToLab(tt.r, tt.g, tt.b)
		if math.Abs(got.l-tt.want.l) > 1e-3 || math.Abs(got.a-tt.want.a) > 1e-3 || math.Abs(got.b-tt.want.b) > 1e-3 {
			t.Errorf("srgbToLab(%d, %d, %d) = %.4f, want %.4f", tt.r, tt.g, tt.b, got, tt.want)
		}
	}
}
