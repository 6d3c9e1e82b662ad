package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/openmf/smsgw/client"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// clientFlags are shared by the commands that call the gRPC API.
type clientFlags struct {
	addr, key *string
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	addr := os.Getenv("SMSGW_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9190"
	}
	return clientFlags{
		addr: fs.String("addr", addr, "gateway gRPC address ($SMSGW_ADDR)"),
		key:  fs.String("api-key", os.Getenv("SMSGW_API_KEY"), "API key ($SMSGW_API_KEY)"),
	}
}

func (c clientFlags) dial() (*client.Client, func(), error) {
	if *c.key == "" {
		return nil, nil, errors.New("no API key: set --api-key or SMSGW_API_KEY")
	}
	cl, err := client.Dial(*c.addr, *c.key)
	if err != nil {
		return nil, nil, err
	}
	return cl, func() { cl.Close() }, nil
}

func fail(stderr io.Writer, cmd string, err error) int {
	if st, ok := status.FromError(err); ok && st.Code() != 0 {
		fmt.Fprintf(stderr, "smsgw %s: %s: %s\n", cmd, st.Code(), st.Message())
		return 1
	}
	fmt.Fprintf(stderr, "smsgw %s: %v\n", cmd, err)
	return 1
}

func send(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	to := fs.String("to", "", "destination number (E.164, or national in the tenant's region)")
	text := fs.String("text", "", "message text")
	from := fs.String("from", "", "sender id (default: the tenant's)")
	ref := fs.String("client-ref", "", "idempotency key")
	wait := fs.Bool("wait", false, "wait for the final status and print it")
	timeout := fs.Duration("timeout", time.Minute, "how long --wait waits")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cl, closeConn, err := cf.dial()
	if err != nil {
		return fail(stderr, "send", err)
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+10*time.Second)
	defer cancel()
	resp, err := cl.Send(ctx, &pb.SendRequest{To: *to, Text: *text, From: *from, ClientRef: *ref})
	if err != nil {
		return fail(stderr, "send", err)
	}
	fmt.Fprintln(stdout, resp.GetId())
	if resp.GetStatus() == pb.Status_STATUS_OPTED_OUT {
		fmt.Fprintln(stderr, "stored OPTED_OUT and not sent: the number sent STOP to this tenant")
	}
	if resp.GetStatus() == pb.Status_STATUS_FAILED {
		fmt.Fprintln(stderr, "stored FAILED and not sent: no configured route covers the number (smsgw get shows the reason)")
	}
	if !*wait {
		return 0
	}
	deadline := time.Now().Add(*timeout)
	for {
		m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: resp.GetId()})
		if err != nil {
			return fail(stderr, "send", err)
		}
		st := m.GetStatus()
		if st > pb.Status_STATUS_SUBMITTED {
			fmt.Fprintln(stdout, statusName(st))
			if st != pb.Status_STATUS_DELIVERED {
				if m.GetLastError() != "" {
					fmt.Fprintln(stderr, "last error:", m.GetLastError())
				}
				return 1
			}
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "smsgw send: still %s after %s\n", statusName(st), *timeout)
			if m.GetLastError() != "" {
				fmt.Fprintln(stderr, "last error:", m.GetLastError())
			}
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func statusName(s pb.Status) string {
	n := s.String()
	if len(n) > len("STATUS_") {
		return n[len("STATUS_"):]
	}
	return n
}

var jsonOut = protojson.MarshalOptions{UseProtoNames: true}

func get(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: smsgw get [flags] ID")
		return 2
	}
	cl, closeConn, err := cf.dial()
	if err != nil {
		return fail(stderr, "get", err)
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := cl.GetMessage(ctx, &pb.GetMessageRequest{Id: fs.Arg(0)})
	if err != nil {
		return fail(stderr, "get", err)
	}
	out, _ := protojson.MarshalOptions{UseProtoNames: true, Multiline: true}.Marshal(m)
	fmt.Fprintln(stdout, string(out))
	return 0
}

func events(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	from := fs.Int64("from-seq", 0, "first sequence number to print")
	idle := fs.Duration("idle", 0, "exit after this long without an event (0: follow until interrupted)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cl, closeConn, err := cf.dial()
	if err != nil {
		return fail(stderr, "events", err)
	}
	defer closeConn()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cl.StreamEvents(ctx, &pb.StreamEventsRequest{FromSeq: *from})
	if err != nil {
		return fail(stderr, "events", err)
	}
	var timer *time.Timer
	if *idle > 0 {
		timer = time.AfterFunc(*idle, cancel)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			return fail(stderr, "events", err)
		}
		if timer != nil {
			timer.Reset(*idle)
		}
		line, _ := jsonOut.Marshal(ev)
		fmt.Fprintln(stdout, string(line))
	}
}
