package dev.ambientj.config.ca;

import com.google.protobuf.Value;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.config.proto.ca.IstioCertificateRequest;
import dev.ambientj.config.proto.ca.IstioCertificateResponse;
import dev.ambientj.config.proto.ca.IstioCertificateServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code istio.v1.auth.IstioCertificateService/CreateCertificate}: signs a workload certificate
 * for a node proxy (ISTIO-FACTS §7).
 *
 * <p>Checks, in order, each failure a gRPC status whose description is written for the operator:
 *
 * <ol>
 *   <li>the {@link Caller} ({@link BearerAuthentication}: a node token, or a service-account token
 *       reviewed by the API server) → {@code UNAUTHENTICATED};
 *   <li>the identity asked for: {@code metadata.ImpersonatedIdentity}, or the caller's own without
 *       it. Only a node agent (a ztunnel) may name another identity than its own; a node token has
 *       none, so it must name one → {@code PERMISSION_DENIED};
 *   <li>{@code validity_duration} not negative; the CSR valid ({@link
 *       CertificateAuthority#validate}); its SAN equal to the identity asked for → {@code
 *       INVALID_ARGUMENT};
 *   <li>for another identity than the caller's own: a workload with it scheduled on the caller's
 *       node in the current {@link MeshSnapshot} (Istio's node authorizer) → {@code
 *       PERMISSION_DENIED} naming both.
 * </ol>
 *
 * <p>Then it answers {@code cert_chain} = PEM leaf, PEM root. Runs on gRPC's executor; signing
 * takes about a millisecond, reading the snapshot is one volatile read.
 */
public final class IstioCertificateServiceImpl
    extends IstioCertificateServiceGrpc.IstioCertificateServiceImplBase {
  private static final Logger log = LoggerFactory.getLogger(IstioCertificateServiceImpl.class);
  private static final RefusalLog REFUSALS = new RefusalLog(log);

  /** The metadata key a node proxy names the workload identity with. */
  public static final String IMPERSONATED_IDENTITY = "ImpersonatedIdentity";

  private final CertificateAuthority ca;
  private final SnapshotPublisher snapshots;

  public IstioCertificateServiceImpl(CertificateAuthority ca, SnapshotPublisher snapshots) {
    this.ca = Objects.requireNonNull(ca, "ca");
    this.snapshots = Objects.requireNonNull(snapshots, "snapshots");
  }

  @Override
  public void createCertificate(
      IstioCertificateRequest request, StreamObserver<IstioCertificateResponse> response) {
    try {
      response.onNext(sign(request));
      response.onCompleted();
    } catch (StatusRuntimeException e) {
      REFUSALS.refused("certificate request from " + BearerAuthentication.peer() + " refused: "
          + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
      response.onError(e);
    } catch (RuntimeException e) {
      log.error("certificate request failed", e);
      response.onError(
          Status.INTERNAL.withDescription("the CA failed: " + e).withCause(e).asRuntimeException());
    }
  }

  private IstioCertificateResponse sign(IstioCertificateRequest request) {
    Caller caller = BearerAuthentication.requireCaller();
    String requested = requestedIdentity(caller, request);
    if (request.getValidityDuration() < 0) {
      throw invalid(
          "validity_duration " + request.getValidityDuration()
              + " is negative (expected seconds > 0, or 0 for the default)");
    }
    ValidatedCsr csr;
    try {
      csr = ca.validate(request.getCsr());
    } catch (CsrRejectedException e) {
      throw invalid(e.getMessage());
    }
    if (!csr.identity().equals(requested)) {
      throw invalid(
          "the CSR asks for " + csr.identity() + " but " + caller.principal() + " asked for "
              + requested + " (metadata." + IMPERSONATED_IDENTITY + ", or the caller's own"
              + " identity without it; they must be equal)");
    }
    if (!requested.equals(caller.identity())) {
      // A node agent acting for a workload: Istio's node authorizer.
      MeshSnapshot snapshot = snapshots.snapshot();
      if (!runsOn(snapshot, caller.node(), requested)) {
        String node = caller.node().isEmpty() ? "(unknown: the token is not bound to a pod)"
            : caller.node();
        throw Status.PERMISSION_DENIED
            .withDescription(
                describe(caller) + " may not request a certificate for " + requested
                    + ": no workload with that identity runs on node " + node
                    + " (mesh configuration version " + snapshot.version() + ")")
            .asRuntimeException();
      }
    }
    List<X509Certificate> chain =
        ca.issue(csr, Duration.ofSeconds(request.getValidityDuration()));
    log.info(
        "issued {} for {} until {}", requested, caller.principal(),
        chain.get(0).getNotAfter().toInstant());
    IstioCertificateResponse.Builder b = IstioCertificateResponse.newBuilder();
    for (X509Certificate c : chain) {
      b.addCertChain(CaPem.write(c));
    }
    return b.build();
  }

  /**
   * The identity the certificate is for: {@code metadata.ImpersonatedIdentity} when a node agent
   * names one, else the caller's own; a caller that is not a node agent gets only its own.
   */
  private static String requestedIdentity(Caller caller, IstioCertificateRequest request) {
    Value v = request.getMetadata().getFieldsMap().get(IMPERSONATED_IDENTITY);
    boolean named =
        v != null && v.getKindCase() == Value.KindCase.STRING_VALUE && !v.getStringValue().isEmpty();
    if (!named) {
      if (caller.identity() == null) {
        throw Status.PERMISSION_DENIED
            .withDescription(
                describe(caller) + " asked for a certificate without metadata."
                    + IMPERSONATED_IDENTITY + ": a node token has no identity of its own; name"
                    + " the workload identity (spiffe://…) the certificate is for")
            .asRuntimeException();
      }
      return caller.identity();
    }
    String impersonated = v.getStringValue();
    if (!caller.nodeAgent() && !impersonated.equals(caller.identity())) {
      throw Status.PERMISSION_DENIED
          .withDescription(
              caller.principal() + " may request a certificate only for its own identity "
                  + caller.identity() + ", not " + impersonated + " (only node agent service"
                  + " accounts, e.g. ztunnel's, may act for the workloads on their node)")
          .asRuntimeException();
    }
    return impersonated;
  }

  /** "node N" for a node token (the message ztunnels in file mode have always seen). */
  private static String describe(Caller caller) {
    return caller.identity() == null ? "node " + caller.node() : caller.principal();
  }

  private static boolean runsOn(MeshSnapshot snapshot, String node, String identity) {
    for (Workload w : snapshot.findWorkloadsOnNode(node)) {
      if (w.spiffeId().equals(identity)) {
        return true;
      }
    }
    return false;
  }

  private static StatusRuntimeException invalid(String message) {
    return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
  }
}
