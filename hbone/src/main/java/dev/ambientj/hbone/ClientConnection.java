package dev.ambientj.hbone;

import dev.ambientj.hbone.HboneClient.KeyPool;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.net.ConnectException;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One pooled HTTP/2 connection. Every method runs on the key pool's event loop, which is also the
 * connection's (and its streams') event loop.
 *
 * <p>Lifecycle: CONNECTING (TCP, TLS, waiting for the server's SETTINGS; callers queue as waiters
 * up to the expected capacity) → READY (streams reserved up to the limit; idle timer runs while no
 * stream is open) → GOING_AWAY (GOAWAY received: no new streams) → CLOSED (removed from the pool;
 * waiters failed).
 */
final class ClientConnection {

  private static final Logger log = LoggerFactory.getLogger(ClientConnection.class);

  record Waiter(ConnectTarget target, CompletableFuture<Channel> result) {}

  private final HboneClient client;
  private final KeyPool pool;
  private final WorkloadCertificate cert;
  private final HboneClientConfig config;
  private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
  private Channel channel;
  private boolean ready;
  private boolean handshakeDone;
  private boolean goingAway;
  private boolean closed;
  private int limit;
  private int active;
  private ScheduledFuture<?> idleTimer;

  ClientConnection(HboneClient client, KeyPool pool, WorkloadCertificate cert) {
    this.client = client;
    this.pool = pool;
    this.cert = cert;
    this.config = client.config();
    this.limit = config.maxStreamsPerConnection();
  }

  boolean tryReserve() {
    if (!ready || goingAway || closed || active >= limit) {
      return false;
    }
    active++;
    cancelIdle();
    return true;
  }

  boolean tryWait(ConnectTarget target, CompletableFuture<Channel> result) {
    if (ready || closed || waiters.size() >= limit) {
      return false;
    }
    waiters.add(new Waiter(target, result));
    return true;
  }

  boolean isGoingAway() {
    return goingAway;
  }

  void establish() {
    SslContext ssl;
    try {
      ssl = client.sslContext(cert, pool.key.expectedPeers());
    } catch (Exception e) {
      fail(new HboneException(HboneException.Kind.TLS_FAILURE,
          "cannot build a TLS client context for " + cert.identity() + ": " + e.getMessage(), e));
      return;
    }
    ClientConnection self = this;
    Bootstrap bootstrap = new Bootstrap()
        .group(pool.loop)
        .channel(client.transport().socketChannelClass())
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) config.connectTimeout().toMillis())
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.WRITE_BUFFER_WATER_MARK, Http2Tuning.CONNECTION_WATER_MARK)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            SslHandler tls = ssl.newHandler(ch.alloc());
            tls.setHandshakeTimeout(config.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS);
            ch.pipeline().addLast("tls", tls);
            ch.pipeline().addLast("hbone-handshake", new ClientHandshakeHandler(self));
          }
        });
    pool.key.origin().connect(bootstrap, pool.key.nextHop()).whenComplete((cf, err) -> {
      if (pool.loop.inEventLoop()) {
        connecting(cf, err);
      } else {
        pool.loop.execute(() -> connecting(cf, err));
      }
    });
  }

  /** The socket exists (or could not be created where the origin wanted it). */
  private void connecting(ChannelFuture cf, Throwable createError) {
    if (createError != null) {
      fail(new HboneException(HboneException.Kind.CONNECT_FAILED, "cannot create a socket ("
          + pool.key.origin() + ") for " + HboneException.addr(pool.key.nextHop()) + ": "
          + createError.getMessage(), createError));
      return;
    }
    if (closed) { // failed (e.g. the client closed) while the socket was being created elsewhere
      cf.channel().close();
      return;
    }
    channel = cf.channel();
    cf.addListener(f -> {
      if (!f.isSuccess()) {
        Throwable c = f.cause();
        if (c instanceof ConnectTimeoutException) {
          fail(HboneException.connectTimeout(pool.key.nextHop(), config.connectTimeout().toMillis(), c));
        } else if (c instanceof ConnectException) {
          fail(HboneException.connectRefused(pool.key.nextHop(), c));
        } else {
          fail(new HboneException(HboneException.Kind.CONNECT_FAILED,
              "connection to " + HboneException.addr(pool.key.nextHop()) + " failed: " + c.getMessage(), c));
        }
      }
    });
    channel.closeFuture().addListener(f -> {
      if (cf.isSuccess()) { // a failed connect is reported by the listener above, with its cause
        if (goingAway) {
          fail(new HboneException(HboneException.Kind.GOAWAY, "HBONE server " + describe()
              + " is shutting down (GOAWAY) and closed the connection"));
        } else if (!ready && handshakeDone) {
          // TLS 1.3: our side of the handshake ends before the server has checked our certificate;
          // a server that rejects it closes before sending its SETTINGS.
          fail(new HboneException(HboneException.Kind.TLS_FAILURE, "HBONE server " + describe()
              + " closed the connection right after the TLS handshake — it rejected our certificate for "
              + cert.identity() + " (different root CA or trust domain?)"));
        } else {
          fail(new HboneException(HboneException.Kind.CONNECTION_CLOSED,
              "HBONE connection to " + HboneException.addr(pool.key.nextHop()) + " closed"
                  + (ready ? "" : " before it was ready")));
        }
      }
    });
  }

  HboneClientConfig config() {
    return config;
  }

  java.net.InetSocketAddress describeAddress() {
    return pool.key.nextHop();
  }

  String describe() {
    return HboneException.addr(pool.key.nextHop()) + " (expecting " + pool.key.expectedPeers() + ")";
  }

  void onHandshakeDone() {
    handshakeDone = true;
  }

  /** Called when the server's first SETTINGS frame arrives: the connection is usable. */
  void onSettings(Http2Settings settings) {
    if (ready || closed) {
      return;
    }
    Long max = settings.maxConcurrentStreams();
    if (max != null && max < limit) {
      limit = (int) Math.max(1, max);
    }
    ready = true;
    while (!waiters.isEmpty() && active < limit) {
      Waiter w = waiters.poll();
      active++;
      openStream(w.target(), w.result());
    }
    if (!waiters.isEmpty()) {
      ArrayDeque<Waiter> rest = new ArrayDeque<>(waiters);
      waiters.clear();
      pool.requeue(rest, cert);
    }
    if (active == 0) {
      scheduleIdle();
    }
  }

  void onGoAway(long errorCode) {
    goingAway = true;
    log.debug("GOAWAY ({}) from {}", HboneException.http2ErrorName(errorCode), describe());
  }

  /** Opens a stream on a reserved slot. */
  void openStream(ConnectTarget target, CompletableFuture<Channel> result) {
    if (result.isDone()) { // the caller gave up meanwhile
      streamClosed();
      return;
    }
    new Http2StreamChannelBootstrap(channel)
        .option(ChannelOption.WRITE_BUFFER_WATER_MARK, Http2Tuning.STREAM_WATER_MARK)
        .handler(new ClientStreamHandler(target, result, this))
        .open()
        .addListener(f -> {
          if (!f.isSuccess()) {
            streamClosed();
            result.completeExceptionally(new HboneException(HboneException.Kind.CONNECTION_CLOSED,
                "cannot open a stream to " + describe() + ": " + f.cause().getMessage(), f.cause()));
            return;
          }
          Http2StreamChannel stream = (Http2StreamChannel) f.getNow();
          StreamReceiveBudget.track(channel, stream);
          stream.closeFuture().addListener(x -> streamClosed());
          Http2Headers h = new DefaultHttp2Headers().method("CONNECT").authority(target.authority());
          target.headers().forEach((k, v) -> h.add(k.toLowerCase(Locale.ROOT), v));
          stream.writeAndFlush(new DefaultHttp2HeadersFrame(h, false)).addListener(w -> {
            if (!w.isSuccess()) {
              result.completeExceptionally(new HboneException(HboneException.Kind.CONNECTION_CLOSED,
                  "cannot send CONNECT " + target.authority() + " to " + describe() + ": " + w.cause().getMessage(),
                  w.cause()));
              stream.close();
            }
          });
        });
  }

  private void streamClosed() {
    active--;
    if (active == 0 && !closed) {
      scheduleIdle();
    }
  }

  private void scheduleIdle() {
    cancelIdle();
    idleTimer = pool.loop.schedule(() -> {
      if (active == 0 && !closed) {
        log.debug("closing idle HBONE connection to {}", describe());
        close(null);
      }
    }, config.idleTimeout().toNanos(), TimeUnit.NANOSECONDS);
  }

  private void cancelIdle() {
    if (idleTimer != null) {
      idleTimer.cancel(false);
      idleTimer = null;
    }
  }

  /** Fails the connection: waiters get {@code cause}, the pool forgets it, the channel closes. */
  void fail(HboneException cause) {
    if (closed) {
      return;
    }
    closed = true;
    cancelIdle();
    for (Waiter w; (w = waiters.poll()) != null; ) {
      w.result().completeExceptionally(cause);
    }
    pool.removed(this);
    if (channel != null) {
      TunnelChannels.recordConnectionFailure(channel, cause);
      channel.close();
    }
  }

  void close(HboneException cause) {
    fail(cause != null ? cause
        : new HboneException(HboneException.Kind.CONNECTION_CLOSED, "HBONE connection to " + describe() + " closed"));
  }
}
