package dev.ambientj.config.server;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.SslContext;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The config server's gRPC listener: today the CA ({@code IstioCertificateService}); the xDS issue
 * adds the delta ADS service to the same server.
 *
 * <p>Transport: one address per instance. Plaintext HTTP/2 (default {@code 127.0.0.1:15010},
 * Istio's plaintext port) is meant for loopback and tests: callers authenticate with a bearer
 * token (node token, or service-account token in a cluster), which crosses the wire in clear, so
 * do not expose it beyond the host. With {@link
 * Builder#tls} it is TLS ({@code mesh config-server --listen-tls}, Istio's 15012), with a server
 * certificate from the mesh CA ({@link dev.ambientj.config.ca.ControlPlaneTls}).
 *
 * <p>Limits: every connection is held to the {@link ServerLimits} of its {@link ConnectionGuard}
 * (handshake and idle deadlines, keepalive policy, connection caps, calls per connection, request
 * size); servers built on one guard share its connection cap.
 *
 * <p>Lifecycle: {@link Builder#start} binds (port 0 picks a free port, see {@link #address()});
 * {@link #close} stops accepting calls, lets running ones finish for a grace period, then cancels
 * the rest, and stops the guard if the server started it. Runs on the guard's event loops and
 * gRPC's shared executor.
 */
public final class ConfigServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConfigServer.class);

  /** Istio's plaintext xDS/CA port. */
  public static final int PLAINTEXT_PORT = 15010;

  /** Istio's mTLS xDS/CA port. */
  public static final int MTLS_PORT = 15012;

  private final Server server;
  private final InetSocketAddress address;
  private final Duration grace;
  private final ConnectionGuard guard;
  /** Whether {@link #guard} was started for this server alone (and is closed with it). */
  private final boolean ownsGuard;

  private ConfigServer(Server server, InetSocketAddress address, Duration grace,
      ConnectionGuard guard, boolean ownsGuard) {
    this.server = server;
    this.address = address;
    this.grace = grace;
    this.guard = guard;
    this.ownsGuard = ownsGuard;
  }

  public static Builder builder(InetSocketAddress listen) {
    return new Builder(listen);
  }

  /** The bound address (with the real port when 0 was asked for). */
  public InetSocketAddress address() {
    return address;
  }

  /** The limits and connection counts this server is held to. */
  public ConnectionGuard guard() {
    return guard;
  }

  /** Blocks until the server has terminated (after {@link #close} from another thread). */
  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }

  /** Graceful stop: no new calls, running calls get the grace period, then are cancelled. */
  @Override
  public void close() {
    try {
      stop();
    } finally {
      if (ownsGuard) {
        guard.close();
      }
    }
  }

  private void stop() {
    if (server.isTerminated()) {
      return;
    }
    server.shutdown();
    try {
      if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        log.info("config server: calls still running after {}; cancelling them", grace);
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  public static final class Builder {
    private final InetSocketAddress listen;
    private final List<BindableService> services = new ArrayList<>();
    private final List<ServerInterceptor> interceptors = new ArrayList<>();
    private Duration grace = Duration.ofSeconds(5);
    private SslContext tls;
    private ConnectionGuard guard;

    private Builder(InetSocketAddress listen) {
      this.listen = Objects.requireNonNull(listen, "listen");
    }

    public Builder service(BindableService service) {
      services.add(Objects.requireNonNull(service, "service"));
      return this;
    }

    /** Runs on every call of every service, in the order added (e.g. node token authentication). */
    public Builder interceptor(ServerInterceptor interceptor) {
      interceptors.add(Objects.requireNonNull(interceptor, "interceptor"));
      return this;
    }

    /** Serves TLS with {@code context} (a server context: ALPN h2, e.g. from GrpcSslContexts). */
    public Builder tls(SslContext context) {
      this.tls = Objects.requireNonNull(context, "context");
      return this;
    }

    /**
     * Runs on {@code guard} (shared with other servers: one connection budget), which stays the
     * caller's to close after the servers. Without it the server starts a guard of its own with
     * the {@link ServerLimits#defaults()}.
     */
    public Builder guard(ConnectionGuard guard) {
      this.guard = Objects.requireNonNull(guard, "guard");
      return this;
    }

    /** How long {@link #close} lets running calls finish; default 5 s. */
    public Builder shutdownGrace(Duration grace) {
      this.grace = Objects.requireNonNull(grace, "grace");
      return this;
    }

    /**
     * Binds and starts serving.
     *
     * @throws IOException if the address cannot be bound (message names it)
     */
    public ConfigServer start() throws IOException {
      NettyServerBuilder b = NettyServerBuilder.forAddress(listen);
      boolean ownsGuard = guard == null;
      ConnectionGuard g = ownsGuard ? ConnectionGuard.start(ServerLimits.defaults()) : guard;
      g.configure(b);
      if (tls != null) {
        b.sslContext(tls);
      }
      // ServerInterceptors.intercept runs the last given first; reverse to run them in added order.
      List<ServerInterceptor> inOrder = new ArrayList<>(interceptors);
      java.util.Collections.reverse(inOrder);
      for (BindableService s : services) {
        b.addService(ServerInterceptors.intercept(s, inOrder));
      }
      Server server;
      try {
        server = b.build().start();
      } catch (IOException | RuntimeException e) {
        if (ownsGuard) {
          g.close();
        }
        if (e instanceof RuntimeException r) {
          throw r;
        }
        throw new IOException("cannot listen on " + format(listen) + ": " + rootMessage(e), e);
      }
      InetSocketAddress bound = (InetSocketAddress) server.getListenSockets().get(0);
      log.info("config server listening on {} ({})", format(bound), tls == null ? "plaintext" : "TLS");
      return new ConfigServer(server, bound, grace, g, ownsGuard);
    }
  }

  static String format(InetSocketAddress a) {
    String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.toString() : c.getMessage();
  }
}
