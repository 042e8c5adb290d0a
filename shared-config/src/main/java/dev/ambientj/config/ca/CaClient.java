package dev.ambientj.config.ca;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.ambientj.config.proto.ca.IstioCertificateRequest;
import dev.ambientj.config.proto.ca.IstioCertificateResponse;
import dev.ambientj.config.proto.ca.IstioCertificateServiceGrpc;
import io.grpc.CallCredentials;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Asks the CA ({@code istio.v1.auth.IstioCertificateService/CreateCertificate}) to sign a CSR, as
 * ztunnel's {@code caclient.rs} does; works against {@code mesh config-server} and, given a TLS
 * channel, istiod.
 *
 * <p>Every call carries {@code authorization: Bearer <token>} (the token is read per call, on
 * gRPC's application executor, so a rotated token file is picked up) and {@code clusterid:
 * <cluster id>} (ISTIO-FACTS §6), and {@code metadata.ImpersonatedIdentity} when an identity is
 * given (ztunnel's shared mode).
 *
 * <h2>Contract for a certificate manager (ztunnel's, in the ztunnel module)</h2>
 *
 * <ul>
 *   <li><b>One key and CSR per identity</b> ({@code spiffe://td/ns/NS/sa/SA}), not per pod: {@link
 *       CsrFactory#create} off the event loop, then {@link #fetchCertificate} with that identity as
 *       {@code impersonatedIdentity}. Pair the returned chain with {@link
 *       CsrFactory.Generated#privateKeyPem()}.
 *   <li><b>Never blocks</b>: the future completes on a gRPC executor thread; stages chained on it
 *       must not block either (hop to your own executor if they do). Cancelling the future cancels
 *       the call.
 *   <li><b>Verified answer</b>: the future completes only with a non-empty chain, leaf first, root
 *       last, whose leaf carries exactly the requested identity as URI SAN; otherwise with a
 *       {@link CaClientException} ({@code DATA_LOSS}).
 *   <li><b>Renew at half-life</b>: {@code notBefore + (notAfter − notBefore) / 2} of the leaf
 *       (ISTIO-FACTS §7); keep serving the current certificate until the new one arrives.
 *   <li><b>Retry every failure</b> with per-identity jittered exponential backoff (ztunnel caps the
 *       interval at 150 s), {@code PERMISSION_DENIED} included: the server may not have seen the
 *       new pod yet (its snapshot lags the node's). Stop retrying only when the identity is
 *       forgotten.
 *   <li><b>Prefetch</b> when the first workload of an identity appears on the node; <b>forget</b>
 *       (drop key, chain, pending retries) when the last one leaves.
 *   <li><b>Limit concurrency</b> of fetches (ztunnel queues them by priority); one client is
 *       enough for all identities: it holds one HTTP/2 connection.
 * </ul>
 *
 * <p>Thread-safe. {@link #close} shuts down the channel if the client created it.
 */
public final class CaClient implements AutoCloseable {
  /** The header that names the caller's cluster (Istio's {@code clusterid}). */
  public static final Metadata.Key<String> CLUSTER_ID =
      Metadata.Key.of("clusterid", Metadata.ASCII_STRING_MARSHALLER);

  /** Istio's default cluster id. */
  public static final String DEFAULT_CLUSTER_ID = "Kubernetes";

  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  private final IstioCertificateServiceGrpc.IstioCertificateServiceFutureStub stub;
  private final ManagedChannel owned;
  private final String target;
  private final Duration timeout;

  private CaClient(
      Channel channel, ManagedChannel owned, String target, Supplier<String> token,
      String clusterId, Duration timeout) {
    this.owned = owned;
    this.target = target;
    this.timeout = timeout;
    this.stub =
        IstioCertificateServiceGrpc.newFutureStub(channel)
            .withCallCredentials(new TokenCredentials(token, clusterId));
  }

  /** A client on a channel the caller owns (and closes). */
  public static CaClient create(
      Channel channel, Supplier<String> token, String clusterId, Duration timeout) {
    return new CaClient(
        channel, null, channel.authority(), Objects.requireNonNull(token, "token"),
        Objects.requireNonNull(clusterId, "clusterId"), Objects.requireNonNull(timeout, "timeout"));
  }

  /** @param target {@code host:port} of the CA, e.g. {@code 127.0.0.1:15010} */
  public static Builder builder(String target) {
    return new Builder(target);
  }

  /** Reads a token from {@code file} on every call (trailing whitespace stripped). */
  public static Supplier<String> tokenFile(Path file) {
    return () -> {
      try {
        return Files.readString(file, StandardCharsets.US_ASCII).strip();
      } catch (IOException e) {
        throw new IllegalStateException("cannot read the CA token " + file + ": " + e.getMessage(), e);
      }
    };
  }

  /**
   * A certificate the CA issued for a key made here.
   *
   * @param privateKey the key the certificate is for
   * @param chain the certificates to present, leaf first (the root left out unless it is the leaf)
   * @param root the CA's root: the last certificate of the answer
   */
  public record Issued(PrivateKey privateKey, List<X509Certificate> chain, X509Certificate root) {}

  /**
   * Gets a certificate for {@code spiffeId}: a new EC P-256 key and CSR ({@link CsrFactory}, made
   * on {@code keyGeneration}, never an event loop), sent with {@code ImpersonatedIdentity} set to
   * the identity, the answer checked (leaf SAN = the identity).
   *
   * @param validity the lifetime to ask for, or null for the CA's default
   */
  public CompletableFuture<Issued> issue(String spiffeId, Duration validity, Executor keyGeneration) {
    return CompletableFuture.supplyAsync(() -> CsrFactory.create(spiffeId), keyGeneration)
        .thenCompose(csr -> fetchCertificate(csr.csrPem(), validity, csr.identity())
            .thenApply(chainPem -> {
              List<X509Certificate> chain = PemText.certificates(String.join("\n", chainPem));
              X509Certificate root = chain.get(chain.size() - 1);
              List<X509Certificate> presented = chain.size() > 1 ? chain.subList(0, chain.size() - 1) : chain;
              return new Issued(csr.keyPair().getPrivate(), List.copyOf(presented), root);
            }));
  }

  /**
   * Sends {@code csrPem} to the CA.
   *
   * @param validity the lifetime to ask for ({@code validity_duration}, whole seconds); the CA may
   *     shorten it; null for the CA's default (24 h)
   * @param impersonatedIdentity the workload identity the CSR is for, sent as {@code
   *     metadata.ImpersonatedIdentity}; null to send none
   * @return PEM certificates, leaf first, root last; or a {@link CaClientException}
   */
  public CompletableFuture<List<String>> fetchCertificate(
      String csrPem, Duration validity, String impersonatedIdentity) {
    IstioCertificateRequest.Builder req = IstioCertificateRequest.newBuilder().setCsr(csrPem);
    if (validity != null) {
      req.setValidityDuration(validity.toSeconds());
    }
    if (impersonatedIdentity != null) {
      req.setMetadata(
          Struct.newBuilder()
              .putFields(
                  IstioCertificateServiceImpl.IMPERSONATED_IDENTITY,
                  Value.newBuilder().setStringValue(impersonatedIdentity).build()));
    }
    String what = impersonatedIdentity == null ? "a certificate" : impersonatedIdentity;
    if (owned != null && owned.getState(false) == io.grpc.ConnectivityState.TRANSIENT_FAILURE) {
      // after an outage gRPC waits up to two minutes before connecting again; the caller's own
      // retry backoff is the one that counts
      owned.resetConnectBackoff();
    }
    ListenableFuture<IstioCertificateResponse> call =
        stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS).createCertificate(req.build());
    CompletableFuture<List<String>> out =
        new CompletableFuture<>() {
          @Override
          public boolean cancel(boolean mayInterrupt) {
            call.cancel(false);
            return super.cancel(mayInterrupt);
          }
        };
    Futures.addCallback(
        call,
        new FutureCallback<>() {
          @Override
          public void onSuccess(IstioCertificateResponse r) {
            try {
              out.complete(check(r.getCertChainList(), impersonatedIdentity, what));
            } catch (CaClientException e) {
              out.completeExceptionally(e);
            }
          }

          @Override
          public void onFailure(Throwable t) {
            Status s = Status.fromThrowable(t);
            out.completeExceptionally(
                new CaClientException(
                    "CA " + target + " did not sign " + what + ": " + s.getCode()
                        + (s.getDescription() == null ? "" : ": " + s.getDescription()),
                    s, t));
          }
        },
        MoreExecutors.directExecutor());
    return out;
  }

  /** Same as {@link #fetchCertificate}; the name the issue uses. */
  public CompletableFuture<List<String>> createCertificate(
      String csrPem, Duration validity, String impersonatedIdentity) {
    return fetchCertificate(csrPem, validity, impersonatedIdentity);
  }

  private List<String> check(List<String> chain, String identity, String what)
      throws CaClientException {
    if (chain.isEmpty()) {
      throw dataLoss("CA " + target + " answered an empty chain for " + what, null);
    }
    if (identity != null) {
      List<X509Certificate> leaf;
      try {
        leaf = PemText.certificates(chain.get(0));
      } catch (IllegalArgumentException e) {
        throw dataLoss("CA " + target + " answered a leaf that does not parse for " + what, e);
      }
      if (leaf.isEmpty() || !uriSans(leaf.get(0)).equals(List.of(identity))) {
        throw dataLoss(
            "CA " + target + " answered a certificate for "
                + (leaf.isEmpty() ? "nothing" : uriSans(leaf.get(0))) + ", not " + identity, null);
      }
    }
    return List.copyOf(chain);
  }

  private static List<String> uriSans(X509Certificate c) {
    try {
      var sans = c.getSubjectAlternativeNames();
      if (sans == null) {
        return List.of();
      }
      return sans.stream()
          .filter(l -> ((Integer) l.get(0)) == 6) // uniformResourceIdentifier
          .map(l -> (String) l.get(1))
          .toList();
    } catch (CertificateParsingException e) {
      return List.of();
    }
  }

  private static CaClientException dataLoss(String message, Throwable cause) {
    return new CaClientException(message, Status.DATA_LOSS.withDescription(message), cause);
  }

  @Override
  public void close() {
    if (owned != null) {
      owned.shutdown();
      try {
        if (!owned.awaitTermination(5, TimeUnit.SECONDS)) {
          owned.shutdownNow();
        }
      } catch (InterruptedException e) {
        owned.shutdownNow();
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Adds the bearer token and cluster id to every call. */
  private static final class TokenCredentials extends CallCredentials {
    private static final Metadata.Key<String> AUTHORIZATION = NodeTokenAuthenticator.AUTHORIZATION;
    private final Supplier<String> token;
    private final String clusterId;

    TokenCredentials(Supplier<String> token, String clusterId) {
      this.token = token;
      this.clusterId = clusterId;
    }

    @Override
    public void applyRequestMetadata(RequestInfo info, Executor appExecutor, MetadataApplier applier) {
      appExecutor.execute(
          () -> {
            try {
              Metadata h = new Metadata();
              h.put(AUTHORIZATION, "Bearer " + token.get());
              h.put(CLUSTER_ID, clusterId);
              applier.apply(h);
            } catch (RuntimeException e) {
              applier.fail(
                  Status.UNAUTHENTICATED.withDescription(e.getMessage()).withCause(e));
            }
          });
    }
  }

  /** Builds a client that owns its channel: plaintext (the config server's 15010) or {@link #tls}. */
  public static final class Builder {
    private final String target;
    private Supplier<String> token;
    private String clusterId = DEFAULT_CLUSTER_ID;
    private Duration timeout = DEFAULT_TIMEOUT;
    private EventLoopGroup group;
    private Class<? extends io.netty.channel.Channel> channelType;
    private Executor executor;
    private io.netty.handler.ssl.SslContext tls;

    private Builder(String target) {
      this.target = Objects.requireNonNull(target, "target");
    }

    /** The bearer token source (required): e.g. {@link CaClient#tokenFile}. */
    public Builder token(Supplier<String> token) {
      this.token = Objects.requireNonNull(token, "token");
      return this;
    }

    public Builder tokenFile(Path file) {
      return token(CaClient.tokenFile(file));
    }

    /** The {@code clusterid} header; default {@value #DEFAULT_CLUSTER_ID}. */
    public Builder clusterId(String clusterId) {
      this.clusterId = Objects.requireNonNull(clusterId, "clusterId");
      return this;
    }

    /** Deadline of each call; default 10 s. */
    public Builder timeout(Duration timeout) {
      this.timeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /** Runs the channel on the proxy's own Netty event loops instead of gRPC's shared ones. */
    public Builder eventLoop(EventLoopGroup group, Class<? extends io.netty.channel.Channel> type) {
      this.group = Objects.requireNonNull(group, "group");
      this.channelType = Objects.requireNonNull(type, "type");
      return this;
    }

    /** Where gRPC runs callbacks (token reads, future completion); default gRPC's cached pool. */
    public Builder executor(Executor executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Speaks TLS (the config server's {@code --listen-tls} port, or istiod's 15012) with {@code
     * context}, e.g. {@link ControlPlaneTls#client}; the server's name is verified as {@link
     * ControlPlaneTls#serverName} says (the DNS name dialled, or istiod's for an IP address).
     */
    public Builder tls(io.netty.handler.ssl.SslContext context) {
      this.tls = Objects.requireNonNull(context, "context");
      return this;
    }

    public CaClient build() {
      if (token == null) {
        throw new IllegalStateException("a CA client needs a token source (token(...) or tokenFile(...))");
      }
      NettyChannelBuilder b = NettyChannelBuilder.forTarget(target);
      if (tls == null) {
        b.usePlaintext();
      } else {
        int colon = target.lastIndexOf(':');
        b.sslContext(tls).overrideAuthority(
            ControlPlaneTls.serverName(colon < 0 ? target : target.substring(0, colon)));
      }
      if (group != null) {
        b.eventLoopGroup(group).channelType(channelType);
      }
      if (executor != null) {
        b.executor(executor);
      }
      ManagedChannel ch = b.build();
      return new CaClient(ch, ch, target, token, clusterId, timeout);
    }
  }
}
