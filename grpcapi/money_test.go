package grpcapi

import "testing"

// TestToMoney: each currency in its ISO 4217 minor unit, rounded half away
// from zero, so a client sums exact integers.
func TestToMoney(t *testing.T) {
	for _, tt := range []struct {
		amount float64
		cur    string
		units  int64
		digits int32
	}{
		{0.8, "KES", 80, 2},
		{2.4, "KES", 240, 2}, // 3 × 0.8: not 239 from the float's error
		{25, "UGX", 25, 0},
		{0.125, "BHD", 125, 3},
		{0.0075, "USD", 1, 2}, // finer than a cent: rounded
		{1.5, "", 150, 2},
		{-0.005, "KES", -1, 2},
	} {
		m := toMoney(tt.amount, tt.cur)
		if m.GetMinorUnits() != tt.units || m.GetMinorDigits() != tt.digits || m.GetCurrencyCode() != tt.cur {
			t.Errorf("toMoney(%v, %q) = %v, want %d / 10^%d", tt.amount, tt.cur, m, tt.units, tt.digits)
		}
	}
}
