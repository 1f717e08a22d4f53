package childproc

import (
	"os"
	"testing"
	"time"
)

var sink []byte

func TestReadUsage(t *testing.T) {
	before, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS <= 0 || before.HWM < before.RSS || before.Anon <= 0 || before.File <= 0 || before.Anon+before.File > before.RSS {
		t.Fatalf("RSS %d, HWM %d, anon %d, file %d: want 0 < RSS <= HWM, anon and file > 0, anon+file <= RSS",
			before.RSS, before.HWM, before.Anon, before.File)
	}
	// Touch 64 MiB: RSS and HWM must grow by about that much.
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	after, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if grew := after.HWM - before.HWM; grew < 48<<20 {
		t.Errorf("HWM grew %d bytes after touching 64 MiB, want >= 48 MiB", grew)
	}
	if after.RSS < before.RSS+48<<20 || after.Anon < before.Anon+48<<20 {
		t.Errorf("RSS %d -> %d, anon %d -> %d after touching 64 MiB", before.RSS, after.RSS, before.Anon, after.Anon)
	}
	sink = nil
	// Burn CPU until the kernel accounts some: at least a few ticks.
	deadline := time.Now().Add(30 * time.Second)
	for {
		x := 0
		for i := range 10_000_000 {
			x += i * i
		}
		_ = x
		s, err := ReadUsage(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if s.CPU-before.CPU >= 5*clockTick {
			if r := before.CPURate(s); r <= 0 {
				t.Errorf("CPURate %v after burning CPU", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not grow in 30s of spinning: %v -> %v", before.CPU, s.CPU)
		}
	}
	if _, err := ReadUsage(1 << 30); err == nil {
		t.Error("ReadUsage of a missing pid: no error")
	}
}
