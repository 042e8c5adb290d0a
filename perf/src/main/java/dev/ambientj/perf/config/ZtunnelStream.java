package dev.ambientj.perf.config;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.Status;
import dev.ambientj.config.proto.security.Authorization;
import dev.ambientj.config.proto.workload.Address;
import dev.ambientj.config.proto.xds.MeshNode;
import dev.ambientj.config.proto.xds.MeshObject;
import dev.ambientj.config.proto.xds.Rejection;
import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.TypeUrls;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * One ztunnel's delta-ADS stream, as thin as the protocol allows: it sends the Node a ztunnel of
 * its node sends (id {@code ztunnel~…}, metadata {@code NODE_NAME}), subscribes to every type a
 * ztunnel does ({@link TypeUrls#ALL}, wildcard), decodes every resource it is sent into its
 * message and ACKs the response, or NACKs it (with the error) when a resource does not decode or
 * carries another type. It keeps the names and versions it holds, sends them as {@code
 * initial_resource_versions} when it reconnects, and reconnects like the project's own client
 * ({@code XdsConfigSource}): one channel, a new stream after a jittered exponential backoff from
 * 10 ms to 15 s, reset by a response.
 *
 * <p>Not the data path's decoding: the project's client also translates what it receives into a
 * snapshot, which 200 clients in one JVM on two cores would spend most of the time on. The bench
 * measures the server.
 *
 * <p>Threading: gRPC's callbacks and the reconnect timer are serialised by this object's monitor.
 */
final class ZtunnelStream implements AutoCloseable {
  /** Told of every response this stream ACKed, after the ACK was handed to gRPC. */
  interface Listener {
    void acked(ZtunnelStream stream, DeltaDiscoveryResponse response, long ackNanos,
        long ackMillis);
  }

  private static final long MIN_BACKOFF_MS = 10;
  private static final long MAX_BACKOFF_MS = 15_000;
  private static final Map<String, Function<Any, Message>> DECODERS = Map.of(
      TypeUrls.ADDRESS, a -> parse(a, Address.class),
      TypeUrls.AUTHORIZATION, a -> parse(a, Authorization.class),
      TypeUrls.MESH_NODE, a -> parse(a, MeshNode.class),
      TypeUrls.MESH_OBJECT, a -> parse(a, MeshObject.class),
      TypeUrls.REJECTION, a -> parse(a, Rejection.class));

  final int index;
  final String node;
  private final ManagedChannel channel;
  private final ScheduledExecutorService timer;
  private final Listener listener;
  private final Map<String, Map<String, String>> held = new HashMap<>();
  private final Set<String> answered = new HashSet<>();
  private final AtomicLong bytes = new AtomicLong();
  private final AtomicLong nacks = new AtomicLong();
  private final AtomicLong streams = new AtomicLong();
  private StreamObserver<DeltaDiscoveryRequest> requests;
  private int failures;
  private boolean closed;
  /** When every type had been answered and ACKed on the current stream; 0 until then. */
  private volatile long syncedNanos;

  ZtunnelStream(InetSocketAddress server, int index, String node,
      ScheduledExecutorService timer, Listener listener) {
    this.index = index;
    this.node = node;
    this.timer = timer;
    this.listener = listener;
    this.channel = NettyChannelBuilder.forAddress(server).usePlaintext()
        .maxInboundMessageSize(200 << 20).build();
    TypeUrls.ALL.forEach(t -> held.put(t, new HashMap<>()));
  }

  synchronized void connect() {
    if (closed) {
      return;
    }
    answered.clear();
    syncedNanos = 0;
    streams.incrementAndGet();
    Responses responses = new Responses();
    requests = AggregatedDiscoveryServiceGrpc.newStub(channel).deltaAggregatedResources(responses);
    responses.call = requests;
    boolean first = true;
    for (String type : TypeUrls.ALL) {
      DeltaDiscoveryRequest.Builder r = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type)
          .putAllInitialResourceVersions(held.get(type));
      if (first) {
        r.setNode(ProxyNode.node("ztunnel", "127.0.0.1", "ztunnel-" + index, "istio-system",
            node));
        first = false;
      }
      requests.onNext(r.build());
    }
  }

  long syncedNanos() {
    return syncedNanos;
  }

  long bytes() {
    return bytes.get();
  }

  long nacks() {
    return nacks.get();
  }

  long streamsOpened() {
    return streams.get();
  }

  synchronized int held(String type) {
    return held.get(type).size();
  }

  private synchronized void onResponse(Responses from, DeltaDiscoveryResponse r) {
    if (closed || from.call != requests) {
      return;
    }
    failures = 0;
    bytes.addAndGet(r.getSerializedSize());
    Map<String, String> mine = held.get(r.getTypeUrl());
    String error = null;
    if (mine == null) {
      error = "unknown type " + r.getTypeUrl();
    } else {
      for (Resource res : r.getResourcesList()) {
        try {
          if (!res.getResource().getTypeUrl().equals(r.getTypeUrl())) {
            throw new IllegalArgumentException(res.getName() + ": a "
                + res.getResource().getTypeUrl() + " in a " + r.getTypeUrl() + " response");
          }
          DECODERS.get(r.getTypeUrl()).apply(res.getResource());
        } catch (RuntimeException e) {
          error = e.getMessage();
          break;
        }
      }
    }
    DeltaDiscoveryRequest.Builder reply = DeltaDiscoveryRequest.newBuilder()
        .setTypeUrl(r.getTypeUrl()).setResponseNonce(r.getNonce());
    if (error != null) {
      nacks.incrementAndGet();
      requests.onNext(reply.setErrorDetail(Status.newBuilder().setCode(3).setMessage(error))
          .build());
      return;
    }
    for (Resource res : r.getResourcesList()) {
      mine.put(res.getName(), res.getVersion());
    }
    r.getRemovedResourcesList().forEach(mine::remove);
    requests.onNext(reply.build());
    long nanos = System.nanoTime();
    long millis = System.currentTimeMillis();
    answered.add(r.getTypeUrl());
    if (syncedNanos == 0 && answered.size() == TypeUrls.ALL.size()) {
      syncedNanos = nanos;
    }
    listener.acked(this, r, nanos, millis);
  }

  private synchronized void ended(Responses from) {
    if (closed || from.call != requests) {
      return;
    }
    requests = null;
    failures++;
    long max = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS << Math.min(20, failures - 1));
    long delay = max / 2 + ThreadLocalRandom.current().nextLong(max / 2 + 1);
    timer.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() throws InterruptedException {
    synchronized (this) {
      closed = true;
      if (requests != null) {
        requests.onCompleted();
      }
    }
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private static Message parse(Any any, Class<? extends Message> type) {
    try {
      return any.unpack(type);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("does not decode as " + type.getSimpleName() + ": "
          + e.getMessage(), e);
    }
  }

  /** The responses of one stream; a late callback of an ended stream is ignored. */
  private final class Responses implements StreamObserver<DeltaDiscoveryResponse> {
    volatile StreamObserver<DeltaDiscoveryRequest> call;

    @Override
    public void onNext(DeltaDiscoveryResponse r) {
      onResponse(this, r);
    }

    @Override
    public void onError(Throwable t) {
      ended(this);
    }

    @Override
    public void onCompleted() {
      ended(this);
    }
  }

  static List<String> names(DeltaDiscoveryResponse r) {
    List<String> out = new ArrayList<>(r.getResourcesCount());
    for (Resource res : r.getResourcesList()) {
      out.add(res.getName());
    }
    return out;
  }
}
