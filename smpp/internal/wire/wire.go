// Package wire is the SMPP 3.4 framing that smsgw's SMPP server and the
// simulated SMSC read and write by hand: PDU headers, bodies built and
// walked field by field, and a session's write loop.
//
// Both ends parse the hot PDUs (submit_sm, deliver_sm) themselves rather
// than through gosmpp's PDU types: that keeps the raw short_message (UDH
// included) and every TLV as sent, and avoids gosmpp's maps per PDU. A
// Reader never panics on a short or garbled body: the first overrun sets
// its error and every later read returns zero values, so a parser checks
// once at the end.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"time"
)

// SMPP 3.4 command ids as they are on the wire (gosmpp's typed constants
// are signed).
const (
	CmdGenericNack     uint32 = 0x80000000
	CmdBindReceiver    uint32 = 0x00000001
	CmdBindTransmitter uint32 = 0x00000002
	CmdSubmitSM        uint32 = 0x00000004
	CmdSubmitSMResp    uint32 = 0x80000004
	CmdDeliverSM       uint32 = 0x00000005
	CmdDeliverSMResp   uint32 = 0x80000005
	CmdUnbind          uint32 = 0x00000006
	CmdUnbindResp      uint32 = 0x80000006
	CmdBindTransceiver uint32 = 0x00000009
	CmdEnquireLink     uint32 = 0x00000015
	CmdEnquireLinkResp uint32 = 0x80000015
	CmdSubmitMulti     uint32 = 0x00000021
	CmdDataSM          uint32 = 0x00000103
	// RespBit marks a response: its command id is the request's with it set.
	RespBit uint32 = 0x80000000
)

// HeaderLen is every PDU's command_length, command_id, command_status and
// sequence_number.
const HeaderLen = 16

// MaxPDULen bounds a PDU: a submit_sm with a full message_payload is
// under 64 KiB; anything longer is garbage, not a message.
const MaxPDULen = 64 << 10

// ErrMalformed is a body whose fields overrun it.
var ErrMalformed = errors.New("malformed PDU body")

// Header is a PDU's first HeaderLen octets.
type Header struct {
	Length, Cmd, Status, Seq uint32
}

// ReadHeader decodes the header at the start of b (at least HeaderLen
// octets).
func ReadHeader(b []byte) Header {
	return Header{
		Length: binary.BigEndian.Uint32(b[0:]),
		Cmd:    binary.BigEndian.Uint32(b[4:]),
		Status: binary.BigEndian.Uint32(b[8:]),
		Seq:    binary.BigEndian.Uint32(b[12:]),
	}
}

// Writer builds one PDU: header first, length filled in by Done.
type Writer struct{ b []byte }

// New starts a PDU.
func New(cmd, status, seq uint32) *Writer {
	w := &Writer{b: make([]byte, HeaderLen, 64)}
	binary.BigEndian.PutUint32(w.b[4:], cmd)
	binary.BigEndian.PutUint32(w.b[8:], status)
	binary.BigEndian.PutUint32(w.b[12:], seq)
	return w
}

// Byte appends one octet.
func (w *Writer) Byte(v byte) *Writer { w.b = append(w.b, v); return w }

// CString appends a C-octet string and its NUL.
func (w *Writer) CString(s string) *Writer {
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	return w
}

// TLV appends an optional parameter.
func (w *Writer) TLV(tag uint16, v []byte) *Writer {
	w.b = binary.BigEndian.AppendUint16(w.b, tag)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(v)))
	w.b = append(w.b, v...)
	return w
}

// Append appends octets as they are (a short_message after its length).
func (w *Writer) Append(v []byte) *Writer { w.b = append(w.b, v...); return w }

// Uint32 appends a big-endian integer.
func (w *Writer) Uint32(v uint32) *Writer {
	w.b = binary.BigEndian.AppendUint32(w.b, v)
	return w
}

// Done fills in the length and returns the PDU.
func (w *Writer) Done() []byte {
	binary.BigEndian.PutUint32(w.b[0:], uint32(len(w.b)))
	return w.b
}

// HeaderOnly is a body-less PDU (generic_nack, enquire_link_resp,
// unbind_resp, an error response).
func HeaderOnly(cmd, status, seq uint32) []byte { return New(cmd, status, seq).Done() }

// MessageResp answers submit_sm, data_sm or deliver_sm with a message id
// on success and no body on error (§4.4.2 allows it, and ESMEs expect it).
func MessageResp(cmd, status, seq uint32, id string) []byte {
	if status != 0 {
		return HeaderOnly(cmd|RespBit, status, seq)
	}
	return New(cmd|RespBit, status, seq).CString(id).Done()
}

// Reader walks a PDU body.
type Reader struct {
	b   []byte
	err error
}

// NewReader walks body (everything after the header).
func NewReader(body []byte) *Reader { return &Reader{b: body} }

// Err is the first overrun, if any.
func (r *Reader) Err() error { return r.err }

// Len is how many octets are left.
func (r *Reader) Len() int { return len(r.b) }

// Fail marks the body malformed, for a field its parser finds wrong.
func (r *Reader) Fail() { r.err = ErrMalformed }

// Byte reads one octet.
func (r *Reader) Byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = ErrMalformed
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// CString reads a C-octet string of at most max octets before its NUL.
func (r *Reader) CString(max int) string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if i > max {
			break
		}
		if c == 0 {
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
		}
	}
	r.err = ErrMalformed
	return ""
}

// Bytes reads n octets into a copy of their own.
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = ErrMalformed
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

// TLVs reads the optional parameters that end a body, by tag; nil when
// there are none.
func (r *Reader) TLVs() map[uint16][]byte {
	var out map[uint16][]byte
	for r.err == nil && len(r.b) > 0 {
		if len(r.b) < 4 {
			r.err = ErrMalformed
			break
		}
		tag := binary.BigEndian.Uint16(r.b)
		l := int(binary.BigEndian.Uint16(r.b[2:]))
		r.b = r.b[4:]
		v := r.Bytes(l)
		if out == nil {
			out = make(map[uint16][]byte)
		}
		out[tag] = v
	}
	return out
}

// WriteLoop writes the PDUs queued on out to conn through a buffer of size
// octets, flushing whenever the queue is empty, so a burst goes out in few
// writes and a lone PDU at once. A nil PDU asks it to flush and hang up.
// It returns when done closes (false) or when the session should be closed:
// a nil PDU or a failed write (true).
func WriteLoop(conn net.Conn, out <-chan []byte, done <-chan struct{}, size int, timeout time.Duration) (hangUp bool) {
	w := bufio.NewWriterSize(conn, size)
	for {
		select {
		case f := <-out:
			if f == nil {
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				_ = w.Flush()
				return true
			}
			if _, err := w.Write(f); err != nil {
				return true
			}
			if len(out) == 0 {
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				if err := w.Flush(); err != nil {
					return true
				}
			}
		case <-done:
			return false
		}
	}
}
