package wire

import (
	"bytes"
	"testing"
)

// TestRoundTrip: what a Writer builds, a Reader walks back, length and
// header included.
func TestRoundTrip(t *testing.T) {
	b := New(CmdSubmitSM, 0, 7).Byte(1).CString("bank").Uint32(0x0a0b0c0d).TLV(0x0424, []byte("long text")).Done()
	h := ReadHeader(b)
	if h.Length != uint32(len(b)) || h.Cmd != CmdSubmitSM || h.Seq != 7 {
		t.Fatalf("header %+v of %d octets", h, len(b))
	}
	r := NewReader(b[HeaderLen:])
	if v, s := r.Byte(), r.CString(15); v != 1 || s != "bank" {
		t.Fatalf("read %d %q", v, s)
	}
	if n := r.Bytes(4); !bytes.Equal(n, []byte{10, 11, 12, 13}) {
		t.Fatalf("uint32 %v", n)
	}
	if tl := r.TLVs(); string(tl[0x0424]) != "long text" || r.Err() != nil || r.Len() != 0 {
		t.Fatalf("tlvs %v, %v, %d left", tl, r.Err(), r.Len())
	}
	if e := MessageResp(CmdDataSM, 0x58, 9, "x"); len(e) != HeaderLen || ReadHeader(e).Cmd != CmdDataSM|RespBit {
		t.Errorf("an error answer has a body or the wrong id: % x", e)
	}
}

// TestReaderOverruns: a short or garbled body sets the error once and
// every later read returns zero values, never a panic.
func TestReaderOverruns(t *testing.T) {
	for name, body := range map[string][]byte{
		"no NUL":          []byte("abc"),
		"string too long": append(bytes.Repeat([]byte{'a'}, 16), 0),
		"short TLV":       {0, 'x', 0, 0x04},
		"TLV overrun":     {0, 'x', 0, 0x04, 0x24, 0, 9, 'a'},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(body)
			_ = r.CString(15)
			_ = r.TLVs()
			if r.Err() != ErrMalformed {
				t.Fatalf("err %v, want ErrMalformed", r.Err())
			}
			if r.Byte() != 0 || r.CString(15) != "" || r.Bytes(1) != nil {
				t.Error("reads after an overrun returned data")
			}
		})
	}
}
