package grpcapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// utf8Codec is the proto codec, except that a request whose string fields
// hold invalid UTF-8 is decoded anyway and refused with INVALID_ARGUMENT
// naming each such field. gRPC answers a codec error with INTERNAL, which
// tells a client the gateway is broken when its request is; the codec cannot
// choose the code, so it records the violations and the interceptors
// (unary, stream) refuse the request before any handler sees it.
type utf8Codec struct {
	encoding.CodecV2
	bad sync.Map // decoded request (proto.Message) → []*errdetails.BadRequest_FieldViolation
}

func newUTF8Codec() *utf8Codec {
	return &utf8Codec{CodecV2: encoding.GetCodecV2(protocodec.Name)}
}

// Unmarshal decodes strictly, and only when that fails decodes again
// keeping invalid strings, recording where they were.
func (c *utf8Codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	proto.Reset(m)
	var vs []*errdetails.BadRequest_FieldViolation
	if lerr := decodeKeepingInvalid(buf.ReadOnlyData(), m.ProtoReflect(), "", &vs); lerr != nil || len(vs) == 0 {
		return err // not (only) invalid UTF-8: the strict error stands
	}
	c.bad.Store(m, vs)
	return nil
}

// refused returns the INVALID_ARGUMENT answer for a request Unmarshal
// decoded with invalid strings, nil for any other; it forgets the request.
func (c *utf8Codec) refused(req any) error {
	v, ok := c.bad.LoadAndDelete(req)
	if !ok {
		return nil
	}
	vs := v.([]*errdetails.BadRequest_FieldViolation)
	names := make([]string, len(vs))
	for i, fv := range vs {
		names[i] = fv.GetField()
	}
	return violations(strings.Join(names, ", ")+": not valid UTF-8", vs...).Err()
}

func (c *utf8Codec) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.refused(req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (c *utf8Codec) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, checkedStream{ss, c})
}

// checkedStream refuses a streamed request decoded with invalid strings.
type checkedStream struct {
	grpc.ServerStream
	c *utf8Codec
}

func (s checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.c.refused(m)
}

// decodeKeepingInvalid decodes b into m like proto.Unmarshal, except that a
// string field (at any depth) holding invalid UTF-8 is set as it is and
// reported in vs under its path ("messages[1].text"). Every other field
// goes through proto.Unmarshal, so any other fault still fails.
func decodeKeepingInvalid(b []byte, m protoreflect.Message, path string, vs *[]*errdetails.BadRequest_FieldViolation) error {
	fields := m.Descriptor().Fields()
	var rest []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		vn := protowire.ConsumeFieldValue(num, typ, b[n:])
		if vn < 0 {
			return protowire.ParseError(vn)
		}
		field, val := b[:n+vn], b[n:n+vn]
		b = b[n+vn:]
		fd := fields.ByNumber(num)
		if fd == nil || typ != protowire.BytesType || fd.IsMap() ||
			(fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.MessageKind) {
			rest = append(rest, field...)
			continue
		}
		raw, _ := protowire.ConsumeBytes(val)
		name := string(fd.Name())
		if path != "" {
			name = path + "." + name
		}
		if fd.IsList() {
			name = fmt.Sprintf("%s[%d]", name, m.Get(fd).List().Len())
		}
		switch {
		case fd.Kind() == protoreflect.StringKind && utf8.Valid(raw):
			if fd.IsList() {
				m.Mutable(fd).List().Append(protoreflect.ValueOfString(string(raw)))
			} else {
				m.Set(fd, protoreflect.ValueOfString(string(raw)))
			}
		case fd.Kind() == protoreflect.StringKind:
			*vs = append(*vs, &errdetails.BadRequest_FieldViolation{Field: name, Description: "is not valid UTF-8"})
			if fd.IsList() {
				m.Mutable(fd).List().Append(protoreflect.ValueOfString(""))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			e := l.NewElement()
			if err := decodeKeepingInvalid(raw, e.Message(), name, vs); err != nil {
				return err
			}
			l.Append(e)
		default:
			if err := decodeKeepingInvalid(raw, m.Mutable(fd).Message(), name, vs); err != nil {
				return err
			}
		}
	}
	return proto.UnmarshalOptions{Merge: true}.Unmarshal(rest, m.Interface())
}
