package dev.ambientj.config.xds;

import com.google.protobuf.Any;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.ca.ControlPlaneTls;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.netty.handler.ssl.SslContext;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The xDS config source (the loader both proxies use): delta ADS to the config server (or istiod),
 * resources decoded by {@link WdsDecoder} into the same {@link MeshSnapshot} the file source
 * builds (for what WDS carries), published to a {@link SnapshotPublisher}.
 *
 * <p><b>Protocol.</b> One stream; a wildcard subscription per {@link TypeUrls} type (the node sent
 * on the first request). Every response is applied to a copy of the type's resources and the whole
 * set decoded, then checked by the optional {@link Builder#validator}. A resource of the response
 * that cannot be applied keeps its previous version (a new one stays absent), as Envoy does, and
 * the set is decoded again without it; the response is then NACKed with {@code error_detail}
 * naming each such resource, and the others apply. Otherwise it is ACKed. Once every type has had
 * its first response (the set is complete) the snapshot is published, with this proxy's NACKs
 * among its rejections (so {@code /config_dump} and the metrics show them) until a later version
 * of the resource applies or it is removed. A failure that is not one resource's NACKs the whole
 * response and keeps everything of that type. On reconnect the resource versions held are sent as {@code
 * initial_resource_versions}, so the server sends only what changed; a resync that changes nothing
 * publishes nothing (the data path keeps its snapshot and its connections are not re-checked).
 *
 * <p><b>Availability.</b> {@link #ready()} completes after the first complete set (from the server,
 * or from the on-disk copy when the server cannot be reached at start). A broken stream is retried
 * with jittered exponential backoff from 10 ms to {@link #MAX_BACKOFF}, reset by a good response;
 * every attempt connects at once (gRPC's own connect backoff, which grows to two minutes, is
 * reset), so the proxy is back within 15 s of the server. Meanwhile the last snapshot stays and
 * listeners hear a transient error once. An outage is logged in two lines: when the stream is
 * lost, and when the server answers again (with how long it was gone); the attempts between are
 * at debug level. Each good complete set is
 * written to {@link Builder#cacheFile} (atomically), so a restart while the server is down starts
 * from it.
 *
 * <p><b>Threading.</b> gRPC callbacks and reconnects are serialised by this object's monitor;
 * decoding runs there, publishing too (listeners must return quickly).
 */
public final class XdsConfigSource implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(XdsConfigSource.class);
  static final Duration MIN_BACKOFF = Duration.ofMillis(10);
  /**
   * The longest wait between attempts: 10 s (Istio's is 15 s), so that a proxy is connected again,
   * and resynced, within 15 s of the server's return.
   */
  static final Duration MAX_BACKOFF = Duration.ofSeconds(10);
  private static final int INVALID_ARGUMENT = 3;

  /** Checks a decoded snapshot before it is accepted; throws to NACK (the message is the detail). */
  @FunctionalInterface
  public interface Validator {
    void validate(MeshSnapshot candidate) throws XdsDecodeException;
  }

  private final InetSocketAddress server;
  private final Node node;
  private final SnapshotPublisher out;
  private final WdsDecoder decoder;
  private final Validator validator;
  private final Path cacheFile;
  private final Supplier<String> bearerToken;
  private final ManagedChannel channel;
  private final ScheduledExecutorService timer;
  private final CompletableFuture<MeshSnapshot> ready = new CompletableFuture<>();
  private final AtomicLong versions = new AtomicLong();
  private final AtomicLong acks = new AtomicLong();
  private final AtomicLong nacksSent = new AtomicLong();

  // Guarded by this.
  private final Map<String, Map<String, Resource>> held = new LinkedHashMap<>();
  private final Set<String> received = new HashSet<>();
  private ClientCallStreamObserver<DeltaDiscoveryRequest> stream;
  private int failures;
  /** When the stream was lost (System.nanoTime), while the server has not answered since. */
  private long lostAt;
  private boolean closed;
  private boolean fromCache;
  private String lastNack;
  /** Whether {@code held} changed since the last publish. */
  private boolean unpublished;
  /** type|name (or type|* for a whole response) → why this proxy NACKed it, while it lasts. */
  private final Map<String, ConfigRejection> nacked = new LinkedHashMap<>();
  /** The last snapshot decoded from what is held, before this proxy's NACKs were added. */
  private MeshSnapshot decoded;

  private XdsConfigSource(Builder b) {
    this.server = b.server;
    this.node = b.node;
    this.out = b.out;
    this.decoder = b.decoder;
    this.validator = b.validator;
    this.cacheFile = b.cacheFile;
    this.bearerToken = b.bearerToken;
    NettyChannelBuilder channel = NettyChannelBuilder.forAddress(server)
        .maxInboundMessageSize(200 * 1024 * 1024);
    if (b.tls == null) {
      channel.usePlaintext();
    } else {
      channel.sslContext(b.tls).overrideAuthority(ControlPlaneTls.serverName(server.getHostString()));
    }
    this.channel = channel.build();
    this.timer = Executors.newSingleThreadScheduledExecutor(
        Thread.ofPlatform().daemon().name("xds-client").factory());
    for (String t : TypeUrls.ALL) {
      held.put(t, new LinkedHashMap<>());
    }
  }

  public static Builder builder(InetSocketAddress server, Node node, SnapshotPublisher out) {
    return new Builder(server, node, out);
  }

  /** Completes with the first complete snapshot (from the server or the on-disk copy). */
  public CompletableFuture<MeshSnapshot> ready() {
    return ready;
  }

  /** Whether the current snapshot came from the on-disk copy (the server not reached yet). */
  public synchronized boolean fromCache() {
    return fromCache;
  }

  public long ackCount() {
    return acks.get();
  }

  public long nackCount() {
    return nacksSent.get();
  }

  /** The error detail of the last NACK sent, or null. */
  public synchronized String lastNack() {
    return lastNack;
  }

  private synchronized void connect() {
    if (closed) {
      return;
    }
    var stub = AggregatedDiscoveryServiceGrpc.newStub(channel);
    if (bearerToken != null) {
      // Read at every (re)connect: a projected token file is rotated while the proxy runs.
      String token;
      try {
        token = bearerToken.get();
      } catch (RuntimeException e) {
        log.warn("xDS: {}; connecting without a token", e.getMessage());
        token = null;
      }
      if (token != null) {
        Metadata h = new Metadata();
        h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
      }
    }
    received.clear();
    Responses responses = new Responses();
    stub.deltaAggregatedResources(responses);
    boolean first = true;
    for (String type : TypeUrls.ALL) {
      DeltaDiscoveryRequest.Builder r = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type);
      if (first) {
        r.setNode(node);
        first = false;
      }
      held.get(type).forEach((name, res) -> r.putInitialResourceVersions(name, res.getVersion()));
      responses.call.onNext(r.build());
    }
  }

  /** One stream's responses; ignores everything once a newer stream replaced it. */
  private final class Responses
      implements ClientResponseObserver<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
    ClientCallStreamObserver<DeltaDiscoveryRequest> call;

    @Override
    public void beforeStart(ClientCallStreamObserver<DeltaDiscoveryRequest> requestStream) {
      this.call = requestStream;
      stream = requestStream;
    }

    @Override
    public void onNext(DeltaDiscoveryResponse r) {
      out.xdsClient().received(r.getTypeUrl());
      synchronized (XdsConfigSource.this) {
        if (stream == call && !closed) {
          apply(call, r);
        }
      }
    }

    @Override
    public void onError(Throwable t) {
      Status status = Status.fromThrowable(t);
      if (ended(this, describe(status))) {
        out.xdsClient().terminated(status.getCode() == Status.Code.UNAVAILABLE
            ? XdsClientStats.Termination.ConnectionError : XdsClientStats.Termination.Error);
      }
    }

    @Override
    public void onCompleted() {
      if (ended(this, "the server closed the stream")) {
        out.xdsClient().terminated(XdsClientStats.Termination.Complete);
      }
    }
  }

  /**
   * A gRPC status in one line: code, description and the cause's message. ({@code
   * Status.toString()} carries the cause's whole stack trace: a dozen lines per reconnect.)
   */
  static String describe(Status status) {
    StringBuilder b = new StringBuilder(status.getCode().toString());
    if (status.getDescription() != null) {
      b.append(": ").append(status.getDescription());
    }
    Throwable root = status.getCause();
    while (root != null && root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    if (root != null && root.getMessage() != null
        && !root.getMessage().equals(status.getDescription())) {
      b.append(" (").append(root.getMessage()).append(')');
    }
    return b.toString();
  }

  /** The stream of {@code r} ended; false when it no longer mattered (closed, or replaced). */
  private synchronized boolean ended(Responses r, String why) {
    if (closed || stream != r.call) {
      return false;
    }
    stream = null;
    failures++;
    if (!ready.isDone()) {
      startFromCache(why);
    }
    long max = Math.min(MAX_BACKOFF.toMillis(),
        MIN_BACKOFF.toMillis() << Math.min(20, failures - 1));
    long delay = max / 2 + ThreadLocalRandom.current().nextLong(max / 2 + 1);
    if (failures == 1) {
      lostAt = System.nanoTime();
      log.warn("xDS: lost the config server {} ({}); keeping snapshot version {}, reconnecting"
              + " with backoff, at most {} s apart", ConfigTarget.format(server), why,
          out.snapshot().version(), MAX_BACKOFF.toSeconds());
      out.reportTransientError("xDS stream to " + ConfigTarget.format(server) + " ended: " + why);
    } else {
      log.debug("xDS: attempt {} to reach {} failed ({}); next in {} ms", failures,
          ConfigTarget.format(server), why, delay);
    }
    timer.schedule(this::reconnect, delay, TimeUnit.MILLISECONDS);
    return true;
  }

  /** A new stream after a failure; gRPC's channel is told to connect now, not after its backoff. */
  private void reconnect() {
    channel.resetConnectBackoff();
    connect();
  }

  private void apply(ClientCallStreamObserver<DeltaDiscoveryRequest> call,
      DeltaDiscoveryResponse r) {
    String type = r.getTypeUrl();
    if (!held.containsKey(type)) {
      nackWhole(call, r, "unknown type " + type);
      return;
    }
    Map<String, Resource> before = held.get(type);
    Map<String, Resource> next = new LinkedHashMap<>(before);
    for (String removed : r.getRemovedResourcesList()) {
      next.remove(removed);
    }
    Set<String> inResponse = new HashSet<>();
    for (Resource res : r.getResourcesList()) {
      next.put(res.getName(), res);
      inResponse.add(res.getName());
    }
    Set<String> receivedNow = new HashSet<>(received);
    receivedNow.add(type);
    // Per resource, as Envoy does: a resource that cannot be applied keeps its previous version
    // (or stays absent) and is NACKed; the others in the same response apply.
    Map<String, XdsDecodeException> refused = new LinkedHashMap<>();
    MeshSnapshot s;
    while (true) {
      Map<String, Map<String, Resource>> candidate = new LinkedHashMap<>(held);
      candidate.put(type, next);
      try {
        s = decoder.decode(toResources(candidate), versions.get() + 1);
        if (validator != null) {
          validator.validate(s);
        }
        break;
      } catch (XdsDecodeException e) {
        String name = e.resourceName();
        if (!type.equals(e.typeUrl()) || !inResponse.contains(name) || refused.containsKey(name)) {
          nackWhole(call, r, e.getMessage());
          return;
        }
        refused.put(name, e);
        Resource had = before.get(name);
        if (had != null) {
          next.put(name, had);
        } else {
          next.remove(name);
        }
      } catch (RuntimeException e) {
        nackWhole(call, r, "cannot apply: " + e);
        return;
      }
    }
    boolean changed = !versionsOf(next).equals(versionsOf(before));
    changed |= nacked.remove(type + "|*") != null;
    for (String name : inResponse) {
      String key = type + "|" + name;
      if (refused.containsKey(name)) {
        ConfigRejection nack = new ConfigRejection(XdsDecodeException.shortType(type), "", name,
            "", "NACKed: " + refused.get(name).problem(), "xDS", before.containsKey(name));
        changed |= !nack.equals(nacked.put(key, nack));
      } else {
        changed |= nacked.remove(key) != null;
      }
    }
    // A NACKed resource is in every later response of its type while the server has it (the
    // server sends what differs from what was ACKed, which never included it): one that a later
    // response does not carry is gone.
    changed |= nacked.keySet().removeIf(k -> k.startsWith(type + "|")
        && !inResponse.contains(k.substring(type.length() + 1)));
    unpublished |= changed;
    held.put(type, next);
    received.add(type);
    if (failures > 0 && lostAt != 0) {
      log.info("xDS: the config server {} is back after {} s ({} attempts); resynced",
          ConfigTarget.format(server), (System.nanoTime() - lostAt) / 1_000_000 / 1000.0,
          failures);
      lostAt = 0;
    }
    failures = 0;
    DeltaDiscoveryRequest.Builder reply = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type)
        .setResponseNonce(r.getNonce());
    if (refused.isEmpty()) {
      acks.incrementAndGet();
    } else {
      String detail = String.join("; ",
          refused.values().stream().map(XdsDecodeException::getMessage).toList());
      lastNack = detail;
      nacksSent.incrementAndGet();
      reply.setErrorDetail(com.google.rpc.Status.newBuilder().setCode(INVALID_ARGUMENT)
          .setMessage(detail));
      log.debug("xDS: NACK {} (nonce {}): {}; the other resources apply", shortType(type),
          r.getNonce(), detail);
    }
    call.onNext(reply.build());
    decoded = s;
    if (receivedNow.containsAll(TypeUrls.ALL)) {
      fromCache = false;
      if (!unpublished && ready.isDone()) {
        return; // a resync that changed nothing (e.g. after a reconnect): keep the snapshot
      }
      unpublished = false;
      versions.incrementAndGet();
      out.publish(s.withMoreRejections(List.copyOf(nacked.values())));
      log.info("xDS: applied {} ({} workloads, {} services, {} policies) as version {}",
          shortType(type), s.workloads().size(), s.services().size(),
          s.policies().authorizationPolicies().size(), s.version());
      writeCache();
      ready.complete(s);
    }
  }

  private static Map<String, String> versionsOf(Map<String, Resource> resources) {
    Map<String, String> v = new HashMap<>();
    resources.forEach((name, res) -> v.put(name, res.getVersion()));
    return v;
  }

  /**
   * NACKs a whole response (its type is unknown, or what cannot be applied is not one of its
   * resources): everything of that type stays as it was, and the rejection is shown.
   */
  private void nackWhole(ClientCallStreamObserver<DeltaDiscoveryRequest> call,
      DeltaDiscoveryResponse r, String detail) {
    lastNack = detail;
    nacksSent.incrementAndGet();
    if (decoded == null) {
      log.warn("xDS: NACK {} (nonce {}): {}; no configuration yet", shortType(r.getTypeUrl()),
          r.getNonce(), detail);
    }
    call.onNext(DeltaDiscoveryRequest.newBuilder().setTypeUrl(r.getTypeUrl())
        .setResponseNonce(r.getNonce())
        .setErrorDetail(com.google.rpc.Status.newBuilder().setCode(INVALID_ARGUMENT)
            .setMessage(detail))
        .build());
    ConfigRejection nack = new ConfigRejection(shortType(r.getTypeUrl()), "", "*", "",
        "NACKed response: " + detail, "xDS", true);
    if (!nack.equals(nacked.put(r.getTypeUrl() + "|*", nack)) && decoded != null) {
      out.publish(decoded.withMoreRejections(List.copyOf(nacked.values())));
    }
  }

  private static XdsResources toResources(Map<String, Map<String, Resource>> m) {
    Map<String, Map<String, Any>> out = new LinkedHashMap<>();
    m.forEach((type, rs) -> {
      Map<String, Any> byName = new LinkedHashMap<>();
      rs.forEach((name, res) -> byName.put(name, res.getResource()));
      out.put(type, byName);
    });
    return new XdsResources(out);
  }

  private static String shortType(String typeUrl) {
    return typeUrl.substring(typeUrl.lastIndexOf('/') + 1);
  }

  // ---- the on-disk copy: one DeltaDiscoveryResponse per type, length-delimited ----

  private void writeCache() {
    if (cacheFile == null) {
      return;
    }
    try {
      Path dir = cacheFile.toAbsolutePath().getParent();
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, cacheFile.getFileName().toString(), ".tmp");
      try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(tmp))) {
        for (var e : held.entrySet()) {
          DeltaDiscoveryResponse.newBuilder().setTypeUrl(e.getKey())
              .addAllResources(e.getValue().values()).build().writeDelimitedTo(o);
        }
      }
      Files.move(tmp, cacheFile, StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      log.warn("xDS: cannot write the on-disk copy {}: {}", cacheFile, e.getMessage());
    }
  }

  private void startFromCache(String why) {
    if (cacheFile == null || !Files.exists(cacheFile)) {
      log.warn("xDS: server {} unreachable at start ({}) and no on-disk copy; not ready yet",
          ConfigTarget.format(server), why);
      return;
    }
    Map<String, Map<String, Resource>> loaded = new LinkedHashMap<>();
    for (String t : TypeUrls.ALL) {
      loaded.put(t, new LinkedHashMap<>());
    }
    try (InputStream in = new BufferedInputStream(Files.newInputStream(cacheFile))) {
      DeltaDiscoveryResponse r;
      while ((r = DeltaDiscoveryResponse.parseDelimitedFrom(in)) != null) {
        Map<String, Resource> m = loaded.get(r.getTypeUrl());
        if (m != null) {
          r.getResourcesList().forEach(res -> m.put(res.getName(), res));
        }
      }
      MeshSnapshot s = decoder.decode(toResources(loaded), versions.incrementAndGet());
      held.clear();
      held.putAll(loaded);
      decoded = s;
      fromCache = true;
      out.publish(s);
      ready.complete(s);
      log.warn("xDS: server {} unreachable at start ({}); started from the on-disk copy {}"
          + " ({} workloads, {} services)", ConfigTarget.format(server), why, cacheFile,
          s.workloads().size(), s.services().size());
    } catch (IOException | XdsDecodeException | RuntimeException e) {
      log.warn("xDS: the on-disk copy {} is unusable: {}", cacheFile, e.getMessage());
    }
  }

  @Override
  public void close() {
    ClientCallStreamObserver<DeltaDiscoveryRequest> s;
    synchronized (this) {
      closed = true;
      s = stream;
      stream = null;
    }
    if (s != null) {
      s.cancel("closed", null);
    }
    timer.shutdownNow();
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Formats addresses for log lines. */
  static final class ConfigTarget {
    private ConfigTarget() {}

    static String format(InetSocketAddress a) {
      String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
      return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }
  }

  public static final class Builder {
    private final InetSocketAddress server;
    private final Node node;
    private final SnapshotPublisher out;
    private WdsDecoder decoder = new WdsDecoder();
    private Validator validator;
    private Path cacheFile;
    private Supplier<String> bearerToken;
    private SslContext tls;

    private Builder(InetSocketAddress server, Node node, SnapshotPublisher out) {
      this.server = Objects.requireNonNull(server, "server");
      this.node = Objects.requireNonNull(node, "node");
      this.out = Objects.requireNonNull(out, "out");
    }

    public Builder decoder(WdsDecoder decoder) {
      this.decoder = Objects.requireNonNull(decoder, "decoder");
      return this;
    }

    /** An extra check of each candidate snapshot; throwing NACKs the response. */
    public Builder validator(Validator validator) {
      this.validator = validator;
      return this;
    }

    /** Where the last good set is kept, and read from when the server is unreachable at start. */
    public Builder cacheFile(Path cacheFile) {
      this.cacheFile = cacheFile;
      return this;
    }

    /** Sent as {@code authorization: Bearer <token>} (the node token in file mode). */
    public Builder bearerToken(String token) {
      this.bearerToken = token == null ? null : () -> token;
      return this;
    }

    /**
     * Sent as {@code authorization: Bearer <token>}, read at every (re)connect (e.g. {@link
     * dev.ambientj.config.ca.CaClient#tokenFile}: a projected service-account token).
     */
    public Builder bearerToken(Supplier<String> token) {
      this.bearerToken = token;
      return this;
    }

    /**
     * Speaks TLS to the config server's {@code --listen-tls} port with {@code context} (from
     * {@link ControlPlaneTls#client}: the mesh CA's roots, and the proxy's workload certificate
     * unless it authenticates with a {@link #bearerToken}); the server's name is verified as
     * {@link ControlPlaneTls#serverName} says. The context is fixed for the
     * source's life: when the certificate is renewed, start a new source.
     */
    public Builder tls(SslContext context) {
      this.tls = Objects.requireNonNull(context, "context");
      return this;
    }

    /** Connects (asynchronously); see {@link XdsConfigSource#ready()}. */
    public XdsConfigSource start() {
      XdsConfigSource s = new XdsConfigSource(this);
      s.connect();
      return s;
    }
  }
}
