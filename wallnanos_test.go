package tokensource

import (
	"math"
	"testing"
	"time"
)

func TestWallNanosClampsToInt64(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
		{time.Unix(0, math.MinInt64), math.MinInt64},
		{time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC).UnixNano()},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{time.Time{}, math.MinInt64},
	} {
		if got := wallNanos(tt.t); got != tt.want {
			t.Errorf("wallNanos(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}
