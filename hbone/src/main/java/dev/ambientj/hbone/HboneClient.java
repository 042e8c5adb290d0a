package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.hbone.transport.SocketOrigin;
import dev.ambientj.hbone.transport.Transport;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * The HBONE client: opens CONNECT streams over pooled, multiplexed HTTP/2-over-mTLS connections.
 *
 * <p><b>Pool invariants</b> (as ztunnel's {@code pool.rs}):
 *
 * <ul>
 *   <li>a connection belongs to one key (source identity, expected peer identities, next hop): it
 *       presents the source's certificate and was verified against exactly those peers;
 *   <li>a connection carries at most min({@code maxStreamsPerConnection}, the server's
 *       SETTINGS_MAX_CONCURRENT_STREAMS) streams; when every connection of a key is full a new one
 *       opens; callers arriving while one is being established wait for it (up to its expected
 *       capacity) instead of opening their own;
 *   <li>a connection that has had no stream for {@code idleTimeout} is closed; one that received
 *       GOAWAY takes no new streams; one that closed is forgotten;
 *   <li>all state of a key lives on one event loop, so it needs no locks; callers on other threads
 *       hand work to it.
 * </ul>
 *
 * <p><b>Pools per event loop.</b> A caller that names its own event loop ({@link
 * #connect(ConnectTarget, SocketOrigin, EventLoop)}: the loop of the downstream socket it will
 * relay) gets connections living on that loop, so a tunnel's stream channel and the socket it is
 * relayed to share a thread: no task hand-off per read or write, and every worker thread carries
 * its own share of the traffic (with one pool per key, every tunnel to a peer rode the one loop of
 * its connection: JFR put 204 of 206 event-loop samples on one thread). The cost is up to one
 * connection per key and loop (two on ztunnel's default two workers), as Istio's ztunnel also
 * keeps several connections per key. Callers that name no loop share a pool whose loop is chosen
 * when the key is first used.
 *
 * <p>Nothing here blocks: {@link #connect} returns a future that completes with the tunnel
 * channel after the 200, or exceptionally with an {@link HboneException}.
 *
 * <p>The event loop group belongs to the caller; {@link #close()} closes connections only.
 */
public final class HboneClient implements AutoCloseable {

  private final HboneClientConfig config;
  private final Transport transport;
  private final EventLoopGroup group;
  private final IdentityProvider certs;
  private final ConcurrentMap<PoolKey, KeyPool> pools = new ConcurrentHashMap<>();
  private final ConcurrentMap<SpiffeId, ContextCache> contexts = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /**
   * {@code origin}: where the connection's socket lives (ztunnel in-pod: the source pod's netns);
   * {@code loop}: the caller's event loop, or null for the shared pool of callers that named none.
   */
  record PoolKey(SpiffeId source, Set<SpiffeId> expectedPeers, InetSocketAddress nextHop,
      SocketOrigin origin, EventLoop loop) {}

  /** Client TLS contexts of one source certificate, by expected peer set; replaced on rotation. */
  private record ContextCache(WorkloadCertificate cert, ConcurrentMap<Set<SpiffeId>, SslContext> byPeers) {}

  public HboneClient(HboneClientConfig config, Transport transport, EventLoopGroup group, IdentityProvider certs) {
    this.config = Objects.requireNonNull(config, "config");
    this.transport = Objects.requireNonNull(transport, "transport");
    this.group = Objects.requireNonNull(group, "group");
    this.certs = Objects.requireNonNull(certs, "certs");
  }

  /**
   * Opens a CONNECT stream. The returned channel carries {@code ByteBuf}s (see
   * {@link ConnectResponder#accept()} for the same contract): auto-read is off until the caller
   * (normally {@link Relay#start}) switches it on; bytes the server sent right after the 200 are
   * kept until then.
   */
  public CompletableFuture<Channel> connect(ConnectTarget target) {
    return connect(target, SocketOrigin.HOST);
  }

  /**
   * As {@link #connect(ConnectTarget)}, with the connection's socket created by {@code origin}
   * (e.g. inside the source pod's network namespace); connections of different origins are pooled
   * apart.
   */
  public CompletableFuture<Channel> connect(ConnectTarget target, SocketOrigin origin) {
    return connect(target, origin, null);
  }

  /**
   * As {@link #connect(ConnectTarget, SocketOrigin)}, over a connection living on {@code loop}
   * (normally the event loop of the channel the tunnel will be relayed to; null: any). The loop
   * must be of this client's transport, like the group's.
   */
  public CompletableFuture<Channel> connect(ConnectTarget target, SocketOrigin origin, EventLoop loop) {
    Objects.requireNonNull(origin, "origin");
    if (closed) {
      return CompletableFuture.failedFuture(new HboneException(HboneException.Kind.CLIENT_CLOSED, "HBONE client is closed"));
    }
    CompletableFuture<Channel> result = new CompletableFuture<>();
    certs.fetchCertificate(target.source()).whenComplete((cert, err) -> {
      if (err != null) {
        Throwable c = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
        result.completeExceptionally(new HboneException(HboneException.Kind.CERTIFICATE_UNAVAILABLE,
            "no certificate for " + target.source() + ": " + c.getMessage(), c));
        return;
      }
      dispatch(target, origin, loop, cert, result);
    });
    // A caller that gives up (cancel/timeout) must not leak a stream opened later.
    return result;
  }

  private void dispatch(ConnectTarget target, SocketOrigin origin, EventLoop loop,
      WorkloadCertificate cert, CompletableFuture<Channel> result) {
    PoolKey key = new PoolKey(target.source(), target.expectedPeers(), target.nextHop(), origin, loop);
    KeyPool pool = pools.computeIfAbsent(key, k -> new KeyPool(k, k.loop() != null ? k.loop() : group.next()));
    if (pool.loop.inEventLoop()) {
      pool.acquire(target, cert, result);
    } else {
      pool.loop.execute(() -> pool.acquire(target, cert, result));
    }
  }

  /** Open HTTP/2 connections across all keys (for tests and metrics). */
  public int connectionCount() {
    int n = 0;
    for (KeyPool p : pools.values()) {
      n += p.connectionCount;
    }
    return n;
  }

  /** Closes every pooled connection (their streams are reset). The event loop group is left alone. */
  @Override
  public void close() {
    closed = true;
    for (KeyPool p : pools.values()) {
      p.loop.execute(p::closeAll);
    }
  }

  HboneClientConfig config() {
    return config;
  }

  Transport transport() {
    return transport;
  }

  SslContext sslContext(WorkloadCertificate cert, Set<SpiffeId> expectedPeers) throws Exception {
    ContextCache cache = contexts.compute(cert.identity(),
        (id, old) -> old != null && old.cert() == cert ? old : new ContextCache(cert, new ConcurrentHashMap<>()));
    SslContext ctx = cache.byPeers().get(expectedPeers);
    if (ctx == null) {
      ctx = MeshTls.clientContext(cert, expectedPeers, config.tls12Enabled(), config.tlsProvider());
      SslContext raced = cache.byPeers().putIfAbsent(expectedPeers, ctx);
      if (raced != null) {
        ctx = raced;
      }
    }
    return ctx;
  }

  /** The connections of one key. Confined to {@link #loop}. */
  final class KeyPool {
    final PoolKey key;
    final EventLoop loop;
    final List<ClientConnection> connections = new ArrayList<>();
    volatile int connectionCount;
    private boolean removed;

    KeyPool(PoolKey key, EventLoop loop) {
      this.key = key;
      this.loop = loop;
    }

    void acquire(ConnectTarget target, WorkloadCertificate cert, CompletableFuture<Channel> result) {
      if (closed) {
        result.completeExceptionally(new HboneException(HboneException.Kind.CLIENT_CLOSED, "HBONE client is closed"));
        return;
      }
      if (removed) { // raced with removal: go through the map again
        dispatch(target, key.origin(), key.loop(), cert, result);
        return;
      }
      for (ClientConnection c : connections) {
        if (c.tryReserve()) {
          c.openStream(target, result);
          return;
        }
      }
      for (ClientConnection c : connections) {
        if (c.tryWait(target, result)) {
          return;
        }
      }
      ClientConnection c = new ClientConnection(HboneClient.this, this, cert);
      connections.add(c);
      connectionCount = connections.size();
      c.tryWait(target, result);
      c.establish();
    }

    /** Waiters a connection could not take (its limit turned out smaller): place them again. */
    void requeue(ArrayDeque<ClientConnection.Waiter> waiters, WorkloadCertificate cert) {
      for (ClientConnection.Waiter w; (w = waiters.poll()) != null; ) {
        acquire(w.target(), cert, w.result());
      }
    }

    void removed(ClientConnection c) {
      connections.remove(c);
      connectionCount = connections.size();
      if (connections.isEmpty()) {
        removed = true;
        pools.remove(key, this);
      }
    }

    void closeAll() {
      for (ClientConnection c : List.copyOf(connections)) {
        c.close(new HboneException(HboneException.Kind.CLIENT_CLOSED, "HBONE client is closed"));
      }
    }
  }
}
