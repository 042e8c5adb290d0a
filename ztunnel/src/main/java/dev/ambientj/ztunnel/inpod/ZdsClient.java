package dev.ambientj.ztunnel.inpod;

import dev.ambientj.config.zds.Netns;
import dev.ambientj.config.zds.SeqPacketSocket;
import dev.ambientj.config.zds.proto.Ack;
import dev.ambientj.config.zds.proto.Version;
import dev.ambientj.config.zds.proto.WorkloadRequest;
import dev.ambientj.config.zds.proto.WorkloadResponse;
import dev.ambientj.config.zds.proto.ZdsHello;
import com.google.protobuf.InvalidProtocolBufferException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's side of ZDS: connects to the node agent's {@code SOCK_SEQPACKET} socket (retrying with
 * backoff from 10 ms up to 15 s), says {@code ZdsHello V1}, then answers every
 * {@code WorkloadRequest} with one {@code Ack} (empty error = ACK).
 *
 * <p>Design note. One platform thread owns the connection and calls the {@link Handler}
 * synchronously, so requests are applied in order and each Ack follows its work (an Add is acked
 * only once the pod's listeners are bound, so no captured packet finds nobody listening). A
 * received netns descriptor passes to the handler with an Add; with any other message it is closed
 * and the request NACKed. The snapshot is the Adds/Keeps before {@code SnapshotSent}; then pods
 * not named are dropped. When the agent goes away the proxies keep running (the handler decides
 * what {@code ready(false)} means: ztunnel stays ready once it has had a snapshot).
 */
public final class ZdsClient implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ZdsClient.class);
  static final Duration INITIAL_BACKOFF = Duration.ofMillis(10);
  static final Duration MAX_BACKOFF = Duration.ofSeconds(15);

  /** What ZDS requests do; every method returns "" (ACK) or an error for the NACK. */
  public interface Handler {
    /** Serve the pod whose namespace is {@code netnsFd} (now owned by the handler). */
    String add(String uid, String namespace, String name, String serviceAccount, int netnsFd);

    String delete(String uid);

    /** The snapshot ended: drop every pod not in {@code named}. */
    String snapshotSent(Set<String> named);

    /** Connected (snapshot applied) or disconnected. */
    void ready(boolean ready);
  }

  private final Path socketPath;
  private final Handler handler;
  private final Thread thread;
  private volatile boolean closed;
  private volatile SeqPacketSocket current;

  public ZdsClient(Path socketPath, Handler handler) {
    this.socketPath = socketPath;
    this.handler = handler;
    this.thread = Thread.ofPlatform().name("ztunnel-zds").daemon(true).unstarted(this::run);
  }

  public ZdsClient start() {
    thread.start();
    return this;
  }

  private void run() {
    long backoff = INITIAL_BACKOFF.toMillis();
    boolean warned = false;
    while (!closed) {
      try (SeqPacketSocket s = SeqPacketSocket.connect(socketPath)) {
        current = s;
        if (closed) {
          break;
        }
        log.info("connected to the node agent at {}", socketPath);
        backoff = INITIAL_BACKOFF.toMillis();
        warned = false;
        serve(s);
        if (closed) {
          break;
        }
        log.warn("the node agent at {} closed the ZDS connection; reconnecting", socketPath);
      } catch (IOException e) {
        if (!closed) {
          if (!warned) {
            log.warn("cannot talk to the node agent at {}: {} (retrying up to every {} s)",
                socketPath, e.getMessage(), MAX_BACKOFF.toSeconds());
            warned = true;
          } else {
            log.debug("ZDS: {}", e.getMessage());
          }
        }
      } finally {
        current = null;
        handler.ready(false);
      }
      try {
        Thread.sleep(backoff);
      } catch (InterruptedException e) {
        return;
      }
      backoff = Math.min(backoff * 2, MAX_BACKOFF.toMillis());
    }
  }

  private void serve(SeqPacketSocket s) throws IOException {
    s.send(ZdsHello.newBuilder().setVersion(Version.V1).build().toByteArray(), -1);
    Set<String> snapshot = new HashSet<>();
    boolean inSnapshot = true;
    while (!closed) {
      SeqPacketSocket.Received r = s.receive();
      if (r == null) {
        return;
      }
      String error;
      WorkloadRequest req;
      try {
        req = WorkloadRequest.parseFrom(r.data());
      } catch (InvalidProtocolBufferException e) {
        Netns.close(r.fd());
        s.send(ack("cannot parse the WorkloadRequest: " + e.getMessage()), -1);
        continue;
      }
      if (r.hasFd() && req.getPayloadCase() != WorkloadRequest.PayloadCase.ADD) {
        Netns.close(r.fd());
        s.send(ack("a " + req.getPayloadCase() + " request must not carry a file descriptor"), -1);
        continue;
      }
      switch (req.getPayloadCase()) {
        case ADD -> {
          var add = req.getAdd();
          if (!r.hasFd()) {
            error = "AddWorkload " + add.getUid() + " came without a network namespace descriptor";
          } else {
            var info = add.getWorkloadInfo();
            error = handler.add(add.getUid(), info.getNamespace(), info.getName(),
                info.getServiceAccount(), r.fd());
            if (inSnapshot) {
              snapshot.add(add.getUid());
            }
          }
        }
        case KEEP -> {
          if (inSnapshot) {
            snapshot.add(req.getKeep().getUid());
            error = "";
          } else {
            error = "KeepWorkload is only valid before SnapshotSent";
          }
        }
        case DEL -> error = handler.delete(req.getDel().getUid());
        case SNAPSHOT_SENT -> {
          error = handler.snapshotSent(Set.copyOf(snapshot));
          inSnapshot = false;
          snapshot.clear();
          handler.ready(true);
        }
        default -> error = "unknown WorkloadRequest (empty payload)";
      }
      if (!error.isEmpty()) {
        log.warn("ZDS {}: NACK: {}", req.getPayloadCase(), error);
      }
      s.send(ack(error), -1);
    }
  }

  private static byte[] ack(String error) {
    return WorkloadResponse.newBuilder().setAck(Ack.newBuilder().setError(error)).build()
        .toByteArray();
  }

  /** Whether the connection to the node agent is up (not necessarily synced). */
  public boolean connected() {
    return current != null;
  }

  @Override
  public void close() {
    closed = true;
    SeqPacketSocket s = current;
    if (s != null) {
      s.close();
    }
    thread.interrupt();
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
