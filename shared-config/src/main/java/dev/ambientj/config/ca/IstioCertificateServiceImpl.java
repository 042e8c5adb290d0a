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
 *   <li>the caller's node token ({@link NodeTokenAuthenticator}) → {@code UNAUTHENTICATED};
 *   <li>{@code metadata.ImpersonatedIdentity} present → {@code PERMISSION_DENIED} (a node token
 *       carries no identity of its own, so in file mode a request must name the workload identity
 *       it is for, as ztunnel in shared mode does);
 *   <li>{@code validity_duration} not negative; the CSR valid ({@link
 *       CertificateAuthority#validate}); its SAN equal to the impersonated identity → {@code
 *       INVALID_ARGUMENT};
 *   <li>a workload with that identity scheduled on the caller's node in the current {@link
 *       MeshSnapshot} (Istio's node authorizer) → {@code PERMISSION_DENIED} naming both.
 * </ol>
 *
 * <p>Then it answers {@code cert_chain} = PEM leaf, PEM root. Runs on gRPC's executor; signing
 * takes about a millisecond, reading the snapshot is one volatile read.
 */
public final class IstioCertificateServiceImpl
    extends IstioCertificateServiceGrpc.IstioCertificateServiceImplBase {
  private static final Logger log = LoggerFactory.getLogger(IstioCertificateServiceImpl.class);

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
      log.info(
          "certificate request refused: {}: {}",
          e.getStatus().getCode(),
          e.getStatus().getDescription());
      response.onError(e);
    } catch (RuntimeException e) {
      log.error("certificate request failed", e);
      response.onError(
          Status.INTERNAL.withDescription("the CA failed: " + e).withCause(e).asRuntimeException());
    }
  }

  private IstioCertificateResponse sign(IstioCertificateRequest request) {
    String node = NodeTokenAuthenticator.requireNode();
    Value v = request.getMetadata().getFieldsMap().get(IMPERSONATED_IDENTITY);
    if (v == null || v.getKindCase() != Value.KindCase.STRING_VALUE || v.getStringValue().isEmpty()) {
      throw Status.PERMISSION_DENIED
          .withDescription(
              "node " + node + " asked for a certificate without metadata."
                  + IMPERSONATED_IDENTITY + ": a node token has no identity of its own; name the"
                  + " workload identity (spiffe://…) the certificate is for")
          .asRuntimeException();
    }
    String impersonated = v.getStringValue();
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
    if (!csr.identity().equals(impersonated)) {
      throw invalid(
          "the CSR asks for " + csr.identity() + " but metadata." + IMPERSONATED_IDENTITY
              + " is " + impersonated + " (they must be equal)");
    }
    MeshSnapshot snapshot = snapshots.snapshot();
    if (!runsOn(snapshot, node, impersonated)) {
      throw Status.PERMISSION_DENIED
          .withDescription(
              "node " + node + " may not request a certificate for " + impersonated
                  + ": no workload with that identity runs on node " + node
                  + " (mesh configuration version " + snapshot.version() + ")")
          .asRuntimeException();
    }
    List<X509Certificate> chain =
        ca.issue(csr, Duration.ofSeconds(request.getValidityDuration()));
    log.info(
        "issued {} for node {} until {}", impersonated, node, chain.get(0).getNotAfter().toInstant());
    IstioCertificateResponse.Builder b = IstioCertificateResponse.newBuilder();
    for (X509Certificate c : chain) {
      b.addCertChain(CaPem.write(c));
    }
    return b.build();
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
