package annotations

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReaders(t *testing.T) {
	a := Map{
		"bool": " true ", "int": "7", "zero": "0", "list": "a, b ,c", "holes": "a,,b", "map": "k=v, e=", "dup": "k=1,k=2",
		"nokey": "=v", "cidrs": "10.1.2.3/8, ::1/64", "badcidr": "10.0.0.0/33", "json": `{"x":1}`, "unknown": `{"y":1}`,
		"trailing": `{"x":1} {}`, "one": "b",
	}
	if v, ok, err := a.Bool("bool"); !v || !ok || err != nil {
		t.Errorf("Bool = %v, %v, %v", v, ok, err)
	}
	if _, ok, err := a.Bool("absent"); ok || err != nil {
		t.Errorf("Bool of an absent annotation = %v, %v", ok, err)
	}
	if n, err := a.Positive("int", 3); n != 7 || err != nil {
		t.Errorf("Positive = %d, %v", n, err)
	}
	if n, err := a.Positive("absent", 3); n != 3 || err != nil {
		t.Errorf("Positive default = %d, %v", n, err)
	}
	if l, err := a.List("list"); err != nil || !cmp.Equal(l, []string{"a", "b", "c"}) {
		t.Errorf("List = %v, %v", l, err)
	}
	if m, err := a.StringMap("map"); err != nil || !cmp.Equal(m, map[string]string{"k": "v", "e": ""}) {
		t.Errorf("StringMap = %v, %v", m, err)
	}
	if c, err := a.CIDRs("cidrs"); err != nil || !cmp.Equal(c, []string{"10.0.0.0/8", "::/64"}) {
		t.Errorf("CIDRs = %v, %v", c, err)
	}
	var v struct{ X int }
	if ok, err := a.JSON("json", &v); !ok || err != nil || v.X != 1 {
		t.Errorf("JSON = %v, %v, %+v", ok, err, v)
	}
	if s, ok, err := a.OneOf("one", "a", "b"); s != "b" || !ok || err != nil {
		t.Errorf("OneOf = %q, %v, %v", s, ok, err)
	}

	// Every malformed annotation is an *Error naming it and its value.
	for key, read := range map[string]func() error{
		"zero":     func() error { _, err := a.Positive("zero", 1); return err },
		"holes":    func() error { _, err := a.List("holes"); return err },
		"dup":      func() error { _, err := a.StringMap("dup"); return err },
		"nokey":    func() error { _, err := a.StringMap("nokey"); return err },
		"badcidr":  func() error { _, err := a.CIDRs("badcidr"); return err },
		"unknown":  func() error { _, err := a.JSON("unknown", &v); return err },
		"trailing": func() error { _, err := a.JSON("trailing", &v); return err },
		"one":      func() error { _, _, err := a.OneOf("one", "a"); return err },
		"list":     func() error { _, _, err := a.Bool("list"); return err },
	} {
		var e *Error
		if err := read(); !errors.As(err, &e) || e.Key != key || e.Value != a[key] || e.Reason == "" {
			t.Errorf("%s: error = %v, want an *Error naming it", key, err)
		}
	}
}

func FuzzMap(f *testing.F) {
	f.Add("a=b,c=d")
	f.Add("10.0.0.0/8,::/0")
	f.Add(`{"x":1}`)
	f.Fuzz(func(t *testing.T, s string) {
		a := Map{"k": s}
		for _, err := range []error{
			func() error { _, err := a.List("k"); return err }(),
			func() error { _, err := a.StringMap("k"); return err }(),
			func() error { _, err := a.CIDRs("k"); return err }(),
			func() error { _, err := a.Positive("k", 1); return err }(),
		} {
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Key != "k") {
				t.Fatalf("error %v does not name the annotation", err)
			}
		}
	})
}
