package org.openmf.smsgw.example;

import com.google.protobuf.Any;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.openmf.smsgw.v1.AckEventsRequest;
import org.openmf.smsgw.v1.BatchResult;
import org.openmf.smsgw.v1.Cursor;
import org.openmf.smsgw.v1.Event;
import org.openmf.smsgw.v1.EventKind;
import org.openmf.smsgw.v1.ListCursorsRequest;
import org.openmf.smsgw.v1.MessagingGrpc;
import org.openmf.smsgw.v1.SendBatchRequest;
import org.openmf.smsgw.v1.SendBatchResponse;
import org.openmf.smsgw.v1.SendRequest;
import org.openmf.smsgw.v1.SendResponse;
import org.openmf.smsgw.v1.Status;
import org.openmf.smsgw.v1.StreamEventsRequest;

/**
 * Sends SMS through smsgw from Java and follows what becomes of them: what a Fineract-side
 * integration does. It sends one message (a retry with the same client_ref answers the same
 * message), sends a batch (a bad item is refused on its own, with a google.rpc.Status), follows
 * the tenant's events through a named cursor, acknowledging each, until every message it sent
 * has ended, then reconnects with the cursor and resumes after the last acknowledged event.
 *
 * <p>Usage: {@code java -cp ... org.openmf.smsgw.example.SmsgwExample --target 127.0.0.1:9190
 * --key KEY [--to +254712345678] [--cursor java-example] [--timeout 60]}
 */
public final class SmsgwExample {
  /** Statuses after which a message changes no more. */
  private static final Set<Status> FINAL =
      EnumSet.of(
          Status.STATUS_DELIVERED,
          Status.STATUS_UNDELIVERED,
          Status.STATUS_EXPIRED,
          Status.STATUS_REJECTED,
          Status.STATUS_FAILED,
          Status.STATUS_CANCELED,
          Status.STATUS_OPTED_OUT);

  private SmsgwExample() {}

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      args.put(argv[i], argv[i + 1]);
    }
    String target = args.getOrDefault("--target", "127.0.0.1:9190");
    String key = args.getOrDefault("--key", System.getenv().getOrDefault("SMSGW_API_KEY", ""));
    String to = args.getOrDefault("--to", "+254712345678");
    String cursor = args.getOrDefault("--cursor", "java-example");
    long timeout = Long.parseLong(args.getOrDefault("--timeout", "60"));
    if (key.isEmpty()) {
      System.err.println("--key (or SMSGW_API_KEY) is required");
      System.exit(2);
    }

    // Keepalive pings every 20 s keep an idle event stream open through NATs and proxies; the
    // gateway accepts pings as often as every 5 s.
    ManagedChannel channel =
        ManagedChannelBuilder.forTarget(target)
            .usePlaintext()
            .keepAliveTime(20, TimeUnit.SECONDS)
            .keepAliveWithoutCalls(true)
            .build();
    Metadata auth = new Metadata();
    auth.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    MessagingGrpc.MessagingBlockingStub api =
        MessagingGrpc.newBlockingStub(channel)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
    try {
      run(api, to, cursor, timeout);
    } catch (StatusRuntimeException e) {
      System.err.println("smsgw: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
      System.exit(1);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static void run(MessagingGrpc.MessagingBlockingStub api, String to, String cursor, long timeout)
      throws Exception {
    String run = UUID.randomUUID().toString().substring(0, 8);
    SendRequest receipt =
        SendRequest.newBuilder()
            .setTo(to)
            .setText("Repayment of KES 1,500 received. Thank you.")
            .setClientRef("rcpt-" + run)
            .build();
    SendResponse sent = api.withDeadlineAfter(10, TimeUnit.SECONDS).send(receipt);
    System.out.printf(
        "sent %s %s %s parts %d%n", sent.getId(), sent.getStatus(), sent.getEncodingType(), sent.getParts());
    SendResponse again = api.withDeadlineAfter(10, TimeUnit.SECONDS).send(receipt);
    if (!again.getId().equals(sent.getId()) || !again.getDuplicate()) {
      throw new IllegalStateException("a retry with the same client_ref must answer the same message");
    }
    System.out.printf("retry answered %s duplicate %b%n", again.getId(), again.getDuplicate());

    SendBatchResponse batch =
        api.withDeadlineAfter(10, TimeUnit.SECONDS)
            .sendBatch(
                SendBatchRequest.newBuilder()
                    .addMessages(
                        SendRequest.newBuilder()
                            .setTo(to)
                            .setText("Group meeting Tuesday 10:00")
                            .setClientRef("meet-" + run))
                    .addMessages(
                        SendRequest.newBuilder()
                            .setTo(to)
                            .setText("Mkutano wa kikundi Jumanne saa nne")
                            .setClientRef("mkutano-" + run))
                    .addMessages(SendRequest.newBuilder().setTo("07123abc45").setText("never sent"))
                    .build());
    Set<String> ids = new HashSet<>();
    ids.add(sent.getId());
    for (int i = 0; i < batch.getResultsCount(); i++) {
      BatchResult r = batch.getResults(i);
      if (r.hasAccepted()) {
        ids.add(r.getAccepted().getId());
        System.out.printf("batch[%d] accepted %s%n", i, r.getAccepted().getId());
      } else {
        // The message names the field (also in r.getField() and a BadRequest detail).
        System.out.printf(
            "batch[%d] refused %s %s %s%n",
            i,
            io.grpc.Status.fromCodeValue(r.getStatus().getCode()).getCode(),
            reason(r.getStatus()),
            r.getStatus().getMessage());
      }
    }

    // Follow the events through a named cursor, acknowledging each, until every message sent
    // above has ended. Heartbeats say where the stream stands when nothing happens.
    StreamEventsRequest follow =
        StreamEventsRequest.newBuilder()
            .setCursor(cursor)
            .setHeartbeatInterval(Duration.newBuilder().setSeconds(1))
            .build();
    Map<String, Status> ended = new HashMap<>();
    long last = 0;
    Context.CancellableContext stream = Context.current().withCancellation();
    try {
      Context previous = stream.attach();
      try {
        Iterator<Event> events = api.withDeadlineAfter(timeout, TimeUnit.SECONDS).streamEvents(follow);
        while (ended.size() < ids.size() && events.hasNext()) {
          Event ev = events.next();
          if (ev.getKind() == EventKind.EVENT_KIND_STATUS && ids.contains(ev.getMessageId())) {
            System.out.printf(
                "event seq=%d %s %s client_ref=%s%n",
                ev.getSeq(), ev.getMessageId(), ev.getStatus(), ev.getClientRef());
            if (FINAL.contains(ev.getStatus())) {
              ended.put(ev.getMessageId(), ev.getStatus());
            }
          }
          if (ev.getSeq() > last) {
            last =
                api.withDeadlineAfter(10, TimeUnit.SECONDS)
                    .ackEvents(AckEventsRequest.newBuilder().setCursor(cursor).setSeq(ev.getSeq()).build())
                    .getSeq();
          }
        }
      } finally {
        stream.detach(previous);
      }
    } finally {
      stream.cancel(null);
    }
    long delivered = ended.values().stream().filter(s -> s == Status.STATUS_DELIVERED).count();
    System.out.printf("all %d ended, %d delivered; cursor %s at seq %d%n", ended.size(), delivered, cursor, last);

    // Reconnect with the same cursor: the stream starts after the last acknowledged event, so
    // the first thing it sends is a heartbeat at that seq (nothing new) or the next event.
    Event first;
    Context.CancellableContext resume = Context.current().withCancellation();
    try {
      Context previous = resume.attach();
      try {
        first = api.withDeadlineAfter(timeout, TimeUnit.SECONDS).streamEvents(follow).next();
      } finally {
        resume.detach(previous);
      }
    } finally {
      resume.cancel(null);
    }
    if (first.getKind() != EventKind.EVENT_KIND_HEARTBEAT && first.getSeq() <= last) {
      throw new IllegalStateException("resumed at seq " + first.getSeq() + ", already acknowledged " + last);
    }
    System.out.printf("resumed after seq %d: first %s seq=%d%n", last, first.getKind(), first.getSeq());

    for (Cursor c :
        api.withDeadlineAfter(10, TimeUnit.SECONDS)
            .listCursors(ListCursorsRequest.getDefaultInstance())
            .getCursorsList()) {
      System.out.printf("cursor %s seq=%d%n", c.getName(), c.getSeq());
    }
  }

  /** The ErrorInfo reason of a google.rpc.Status (a batch item's refusal). */
  private static String reason(com.google.rpc.Status status) throws InvalidProtocolBufferException {
    for (Any detail : status.getDetailsList()) {
      if (detail.is(ErrorInfo.class)) {
        return detail.unpack(ErrorInfo.class).getReason();
      }
    }
    return "";
  }
}
