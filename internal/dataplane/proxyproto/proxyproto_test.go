package proxyproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAppendWireFormat(t *testing.T) {
	tests := []struct {
		name     string
		protocol byte
		src, dst netip.AddrPort
		want     string // hex after the signature
	}{
		{
			name:     "tcp4",
			protocol: Stream,
			src:      netip.MustParseAddrPort("192.0.2.10:51000"),
			dst:      netip.MustParseAddrPort("198.19.1.5:80"),
			want:     "2111000c" + "c000020a" + "c6130105" + "c738" + "0050",
		},
		{
			name:     "udp4",
			protocol: Dgram,
			src:      netip.MustParseAddrPort("10.0.0.1:53"),
			dst:      netip.MustParseAddrPort("10.0.0.2:5353"),
			want:     "2112000c" + "0a000001" + "0a000002" + "0035" + "14e9",
		},
		{
			name:     "tcp6",
			protocol: Stream,
			src:      netip.MustParseAddrPort("[2001:db8::1]:1"),
			dst:      netip.MustParseAddrPort("[2001:db8::2]:2"),
			want:     "21210024" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "0001" + "0002",
		},
		{
			name:     "mapped IPv4 written as IPv4",
			protocol: Stream,
			src:      netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"),
			dst:      netip.MustParseAddrPort("10.0.0.2:2"),
			want:     "2111000c" + "0a000001" + "0a000002" + "0001" + "0002",
		},
		{
			name:     "mixed families written as IPv6",
			protocol: Stream,
			src:      netip.MustParseAddrPort("10.0.0.1:1"),
			dst:      netip.MustParseAddrPort("[2001:db8::2]:2"),
			want:     "21210024" + "00000000000000000000ffff0a000001" + "20010db8000000000000000000000002" + "0001" + "0002",
		},
		{
			name:     "no addresses gives LOCAL",
			protocol: Stream,
			want:     "20000000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Append(nil, tt.protocol, tt.src, tt.dst)
			if !bytes.HasPrefix(got, []byte(Signature)) {
				t.Fatalf("header %x does not start with the signature", got)
			}
			if diff := cmp.Diff(tt.want, hex.EncodeToString(got[len(Signature):])); diff != "" {
				t.Errorf("header after signature (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		protocol byte
		src, dst netip.AddrPort
		want     Header
	}{
		{
			name:     "tcp4",
			protocol: Stream,
			src:      netip.MustParseAddrPort("127.0.0.9:40000"),
			dst:      netip.MustParseAddrPort("127.0.0.2:80"),
			want: Header{Command: CommandProxy, Protocol: Stream,
				Source:      netip.MustParseAddrPort("127.0.0.9:40000"),
				Destination: netip.MustParseAddrPort("127.0.0.2:80")},
		},
		{
			name:     "udp6",
			protocol: Dgram,
			src:      netip.MustParseAddrPort("[fd00::1]:5000"),
			dst:      netip.MustParseAddrPort("[fd00::2]:53"),
			want: Header{Command: CommandProxy, Protocol: Dgram,
				Source:      netip.MustParseAddrPort("[fd00::1]:5000"),
				Destination: netip.MustParseAddrPort("[fd00::2]:53")},
		},
		{
			name: "local",
			want: Header{Command: CommandLocal},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := Append(nil, tt.protocol, tt.src, tt.dst)
			r := bytes.NewReader(append(wire, "GET / HTTP/1.1\r\n"...))
			got, err := Read(r)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != "GET / HTTP/1.1\r\n" {
				t.Errorf("data after header = %q, want the request line untouched", rest)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	valid := Append(nil, Stream, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"))
	tests := []struct {
		name  string
		input []byte
	}{
		{"empty", nil},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"version 1", append(append([]byte(Signature), 0x11), valid[13:]...)},
		{"unknown command", append(append([]byte(Signature), 0x2f), valid[13:]...)},
		{"truncated addresses", valid[:20]},
		{"short IPv4 block", append(append([]byte(Signature), 0x21, 0x11, 0, 4), 1, 2, 3, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := Read(bytes.NewReader(tt.input)); err == nil {
				t.Errorf("Read(%x) = %+v, want an error", tt.input, h)
			}
		})
	}
	if _, err := Read(bytes.NewReader([]byte("0123456789abcdefgh"))); !errors.Is(err, ErrNoSignature) {
		t.Errorf("Read(no signature) error = %v, want ErrNoSignature", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(Append(nil, Stream, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")))
	f.Add([]byte(Signature + "\x21\x21\x00\x24"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Read(bytes.NewReader(data))
		if err != nil || h.Command != CommandProxy || !h.Source.IsValid() {
			return
		}
		// Whatever decodes must encode back to the same addresses.
		again, err := Read(bytes.NewReader(Append(nil, h.Protocol, h.Source, h.Destination)))
		if err != nil {
			t.Fatalf("re-read of %+v: %v", h, err)
		}
		if again.Source.Addr().Unmap() != h.Source.Addr().Unmap() || again.Destination.Port() != h.Destination.Port() {
			t.Fatalf("round trip changed %+v into %+v", h, again)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	src := netip.MustParseAddrPort("198.18.1.10:51000")
	dst := netip.MustParseAddrPort("198.19.1.5:80")
	buf := make([]byte, 0, MaxHeaderLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], Stream, src, dst)
	}
}
