#!/usr/bin/env python3
"""Send SMS through smsgw from Python and follow what becomes of them.

What an MFI's Python integration does: send one message, send a batch (one
bad item is refused on its own), then follow the tenant's events through a
named cursor, acknowledging as it goes, until every message it sent has
ended; then it reconnects with the same cursor and shows that the stream
resumes after the last acknowledged event (nothing repeated, nothing lost).

Needs Debian's python3-grpcio and python3-protobuf, and the stubs generated
from proto/ (see README.md in this folder). Run:

    PYTHONPATH=gen python3 smsgw_example.py --target 127.0.0.1:9190 --key KEY --to +254712345678
"""

import argparse
import os
import sys
import uuid

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from smsgw.v1 import messaging_pb2 as pb
from smsgw.v1 import messaging_pb2_grpc as pb_grpc

# Statuses after which a message changes no more.
FINAL = {
    pb.STATUS_DELIVERED, pb.STATUS_UNDELIVERED, pb.STATUS_EXPIRED, pb.STATUS_REJECTED,
    pb.STATUS_FAILED, pb.STATUS_CANCELED, pb.STATUS_OPTED_OUT,
}


# gRPC status codes by number, for printing a google.rpc.Status.
CODES = {c.value[0]: c.name for c in grpc.StatusCode}


def reason(status):
    """The ErrorInfo reason of a google.rpc.Status (a batch item's refusal)."""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:9190", help="the gateway's gRPC address")
    ap.add_argument("--key", default=os.environ.get("SMSGW_API_KEY", ""), help="a tenant API key (or SMSGW_API_KEY)")
    ap.add_argument("--to", default="+254712345678", help="the destination number")
    ap.add_argument("--cursor", default="python-example", help="the event consumer's name")
    ap.add_argument("--timeout", type=float, default=60, help="seconds to wait for every message to end")
    args = ap.parse_args()
    if not args.key:
        sys.exit("--key (or SMSGW_API_KEY) is required")

    # Keepalive pings every 20 s keep an idle event stream open through
    # NATs and proxies; the gateway accepts pings as often as every 5 s.
    channel = grpc.insecure_channel(args.target, options=[
        ("grpc.keepalive_time_ms", 20000),
        ("grpc.keepalive_permit_without_calls", 1),
    ])
    api = pb_grpc.MessagingStub(channel)
    auth = [("authorization", "Bearer " + args.key)]
    run = uuid.uuid4().hex[:8]

    # One message. client_ref makes a retry safe: the same ref, number and
    # text answer the stored message instead of sending twice.
    sent = api.Send(pb.SendRequest(to=args.to, text="Repayment of KES 1,500 received. Thank you.",
                                   client_ref="rcpt-" + run), metadata=auth, timeout=10)
    print("sent", sent.id, pb.Status.Name(sent.status), pb.Encoding.Name(sent.encoding_type), "parts", sent.parts)
    again = api.Send(pb.SendRequest(to=args.to, text="Repayment of KES 1,500 received. Thank you.",
                                    client_ref="rcpt-" + run), metadata=auth, timeout=10)
    assert again.id == sent.id and again.duplicate, "a retry with the same client_ref must answer the same message"
    print("retry answered", again.id, "duplicate", again.duplicate)

    # A batch: each item is answered on its own; the bad number is refused
    # with a google.rpc.Status, the others are accepted.
    batch = api.SendBatch(pb.SendBatchRequest(messages=[
        pb.SendRequest(to=args.to, text="Group meeting Tuesday 10:00", client_ref="meet-" + run),
        pb.SendRequest(to=args.to, text="Mkutano wa kikundi Jumanne saa nne", client_ref="mkutano-" + run),
        pb.SendRequest(to="07123abc45", text="never sent"),
    ]), metadata=auth, timeout=10)
    ids = {sent.id}
    for i, r in enumerate(batch.results):
        if r.HasField("accepted"):
            ids.add(r.accepted.id)
            print("batch[%d] accepted %s" % (i, r.accepted.id))
        else:
            # The message names the field (also in r.field and a BadRequest detail).
            print("batch[%d] refused %s %s %s" % (i, CODES.get(r.status.code, r.status.code), reason(r.status),
                                                  r.status.message))

    # Follow the events through a named cursor, acknowledging each, until
    # every message sent above has ended. Heartbeats say where the stream
    # stands when nothing happens.
    ended, last = {}, 0
    stream = api.StreamEvents(pb.StreamEventsRequest(cursor=args.cursor, heartbeat_interval=duration_pb2.Duration(seconds=1)),
                              metadata=auth, timeout=args.timeout)
    for ev in stream:
        if ev.kind == pb.EVENT_KIND_STATUS and ev.message_id in ids:
            print("event seq=%d %s %s client_ref=%s" % (ev.seq, ev.message_id, pb.Status.Name(ev.status), ev.client_ref))
            if ev.status in FINAL:
                ended[ev.message_id] = ev.status
        if ev.seq > last:
            last = api.AckEvents(pb.AckEventsRequest(cursor=args.cursor, seq=ev.seq), metadata=auth, timeout=10).seq
        if len(ended) == len(ids):
            stream.cancel()
            break
    delivered = sum(1 for s in ended.values() if s == pb.STATUS_DELIVERED)
    print("all %d ended, %d delivered; cursor %s at seq %d" % (len(ended), delivered, args.cursor, last))

    # Reconnect with the same cursor: the stream starts after the last
    # acknowledged event, so the first thing it sends is a heartbeat at that
    # seq (nothing new) or the next event; never one already processed.
    stream = api.StreamEvents(pb.StreamEventsRequest(cursor=args.cursor, heartbeat_interval=duration_pb2.Duration(seconds=1)),
                              metadata=auth, timeout=args.timeout)
    first = next(iter(stream))
    stream.cancel()
    if first.kind != pb.EVENT_KIND_HEARTBEAT and first.seq <= last:
        sys.exit("resumed at seq %d, already acknowledged %d" % (first.seq, last))
    print("resumed after seq %d: first %s seq=%d" % (last, pb.EventKind.Name(first.kind), first.seq))

    for c in api.ListCursors(pb.ListCursorsRequest(), metadata=auth, timeout=10).cursors:
        print("cursor %s seq=%d" % (c.name, c.seq))
    channel.close()


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit("smsgw: %s: %s" % (e.code().name, e.details()))
