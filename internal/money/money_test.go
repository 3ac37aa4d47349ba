package money

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		cents int64
		want  string
	}{{0, "0.00"}, {5, "0.05"}, {3999, "39.99"}, {100000, "1000.00"}, {-150, "-1.50"}}
	for _, tt := range tests {
		if got := Format(tt.cents); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.cents, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"39.99", 3999, true}, {"40", 4000, true}, {"0.5", 50, true}, {"0.05", 5, true},
		{"", 0, false}, {".5", 0, false}, {"1.", 0, false}, {"1.234", 0, false}, {"-1", 0, false},
		{"1e3", 0, false}, {"12a", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, c := range []int64{0, 1, 99, 100, 123456789} {
		if got, err := Parse(Format(c)); err != nil || got != c {
			t.Errorf("Parse(Format(%d)) = %d, %v", c, got, err)
		}
	}
}

func TestMul(t *testing.T) {
	if got, err := Mul(3999, 3); err != nil || got != 11997 {
		t.Errorf("Mul(3999, 3) = %d, %v", got, err)
	}
	if _, err := Mul(1<<62, 4); err == nil {
		t.Error("Mul overflow not reported")
	}
}
