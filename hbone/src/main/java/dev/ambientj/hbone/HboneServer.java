package dev.ambientj.hbone;

import dev.ambientj.hbone.identity.IdentityProvider;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HBONE server (port 15008): TLS with a required client certificate, HTTP/2, one CONNECT per
 * proxied TCP connection.
 *
 * <p><b>Binding is the caller's.</b> {@link #childInitializer()} goes into the caller's own
 * {@code ServerBootstrap}, bound wherever it likes (a loopback address in host mode, a socket
 * created inside the pod's network namespace in in-pod mode). One server serves one identity.
 *
 * <p><b>Per connection:</b> {@code SslHandler} → (after the handshake) {@code IdleStateHandler} →
 * {@link KeepaliveHandler} → {@code Http2FrameCodec} → {@code Http2MultiplexHandler} → a tail
 * that tracks the connection. The peer's SPIFFE id is read from the verified certificate once the
 * handshake completes and stored on the connection channel ({@link TunnelChannels#peerIdentity}).
 *
 * <p><b>Per stream:</b> {@link ServerStreamHandler} validates the request (400 for a method other
 * than CONNECT or a bad {@code :authority}) and calls the {@link ConnectRequestHandler}.
 *
 * <p><b>Shutdown:</b> {@link #drain()} sends GOAWAY on every connection and closes each once its
 * streams are done or the drain timeout passes (Netty's graceful HTTP/2 close).
 *
 * <p>Thread-safe.
 */
public final class HboneServer {

  private static final Logger log = LoggerFactory.getLogger(HboneServer.class);

  private final HboneServerConfig config;
  private final IdentityProvider certs;
  private final SpiffeId servingIdentity;
  private final ConnectRequestHandler handler;
  private final Set<Channel> connections = ConcurrentHashMap.newKeySet();
  private final AtomicInteger activeStreams = new AtomicInteger();
  private final AtomicReference<CachedContext> context = new AtomicReference<>();
  private final ChannelInitializer<Channel> childInitializer = new Initializer();
  private volatile boolean draining;

  private record CachedContext(WorkloadCertificate cert, SslContext ssl) {}

  private HboneServer(HboneServerConfig config, IdentityProvider certs, SpiffeId servingIdentity,
      ConnectRequestHandler handler) {
    this.config = Objects.requireNonNull(config, "config");
    this.certs = Objects.requireNonNull(certs, "certs");
    this.servingIdentity = Objects.requireNonNull(servingIdentity, "servingIdentity");
    this.handler = Objects.requireNonNull(handler, "handler");
  }

  public static HboneServer create(HboneServerConfig config, IdentityProvider certs, SpiffeId servingIdentity,
      ConnectRequestHandler handler) {
    return new HboneServer(config, certs, servingIdentity, handler);
  }

  /** The handler to install as {@code childHandler} of the caller's {@code ServerBootstrap}. */
  public ChannelInitializer<Channel> childInitializer() {
    return childInitializer;
  }

  public SpiffeId servingIdentity() {
    return servingIdentity;
  }

  /** Sends GOAWAY on all live connections; each closes once its streams finish (or at the drain timeout). */
  public void drain() {
    draining = true;
    for (Channel ch : connections) {
      ch.close();
    }
  }

  /** CONNECT streams currently open. */
  public int activeStreams() {
    return activeStreams.get();
  }

  /** HTTP/2 connections currently open. */
  public int activeConnections() {
    return connections.size();
  }

  HboneServerConfig config() {
    return config;
  }

  ConnectRequestHandler handler() {
    return handler;
  }

  AtomicInteger streamCounter() {
    return activeStreams;
  }

  boolean isDraining() {
    return draining;
  }

  void track(Channel ch) {
    connections.add(ch);
    ch.closeFuture().addListener(f -> connections.remove(ch));
    if (draining) {
      ch.close();
    }
  }

  private CompletableFuture<SslContext> sslContext() {
    return certs.fetchCertificate(servingIdentity).thenApply(cert -> {
      CachedContext cached = context.get();
      if (cached != null && cached.cert() == cert) {
        return cached.ssl();
      }
      try {
        SslContext ssl = MeshTls.serverContext(cert, config.tls12Enabled(), config.tlsProvider());
        context.set(new CachedContext(cert, ssl));
        return ssl;
      } catch (Exception e) {
        throw new IllegalStateException("cannot build the TLS context for " + servingIdentity + ": " + e.getMessage(), e);
      }
    });
  }

  /**
   * Logs a connection refused because {@link #servingIdentity} has no certificate: at once for the
   * first, then at most every {@link #REFUSAL_LOG_INTERVAL_NANOS} with the count since.
   */
  private void refusedWithoutCertificate(Channel ch, Throwable err) {
    refusedWithoutCertificate.incrementAndGet();
    long now = System.nanoTime();
    long next = nextRefusalLog.get();
    if (now - next >= 0 && nextRefusalLog.compareAndSet(next, now + REFUSAL_LOG_INTERVAL_NANOS)) {
      Throwable c = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
          ? err.getCause() : err;
      log.warn("refusing HBONE connections to {} ({} since the last such line, the latest from {}):"
          + " {}", servingIdentity, refusedWithoutCertificate.getAndSet(0), ch.remoteAddress(),
          c.getMessage());
    }
  }

  private static final long REFUSAL_LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);
  private final java.util.concurrent.atomic.AtomicLong refusedWithoutCertificate =
      new java.util.concurrent.atomic.AtomicLong();
  private final java.util.concurrent.atomic.AtomicLong nextRefusalLog =
      new java.util.concurrent.atomic.AtomicLong(System.nanoTime());

  @ChannelHandler.Sharable
  private final class Initializer extends ChannelInitializer<Channel> {
    @Override
    protected void initChannel(Channel ch) {
      ch.config().setOption(ChannelOption.TCP_NODELAY, true);
      ch.config().setWriteBufferWaterMark(Http2Tuning.CONNECTION_WATER_MARK);
      CompletableFuture<SslContext> f = sslContext();
      if (f.isDone() && !f.isCompletedExceptionally()) {
        install(ch, f.join());
        return;
      }
      ch.config().setAutoRead(false);
      f.whenComplete((ssl, err) -> ch.eventLoop().execute(() -> {
        if (err != null) {
          refusedWithoutCertificate(ch, err);
          ch.close();
          return;
        }
        install(ch, ssl);
        ch.config().setAutoRead(true);
      }));
    }

    private void install(Channel ch, SslContext ssl) {
      if (!ch.isActive()) {
        return;
      }
      SslHandler tls = ssl.newHandler(ch.alloc());
      tls.setHandshakeTimeout(config.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
      ch.pipeline().addLast("tls", tls);
      ch.pipeline().addLast("hbone-handshake", new ServerHandshakeHandler(HboneServer.this));
    }
  }
}
