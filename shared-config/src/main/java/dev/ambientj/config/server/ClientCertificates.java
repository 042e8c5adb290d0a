package dev.ambientj.config.server;

import dev.ambientj.config.ca.BearerAuthentication;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import java.util.Set;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On the mTLS port, refuses calls to {@code services} whose caller presented no client
 * certificate (the TLS handshake has already verified any certificate presented against the CA's
 * trust bundle) and no bearer token that {@link BearerAuthentication} (which runs before this)
 * accepted — as istiod's 15012 takes a proxy's service-account token. Calls of other services, and
 * calls without TLS (the plaintext port), pass.
 */
final class ClientCertificates implements ServerInterceptor {
  private static final Logger log = LoggerFactory.getLogger(ClientCertificates.class);
  private final Set<String> services;

  ClientCertificates(Set<String> services) {
    this.services = Set.copyOf(services);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    SSLSession tls = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (tls == null || !services.contains(call.getMethodDescriptor().getServiceName())
        || BearerAuthentication.caller().isPresent()) {
      return next.startCall(call, headers);
    }
    try {
      Certificate[] peer = tls.getPeerCertificates();
      if (peer.length > 0) {
        return next.startCall(call, headers);
      }
    } catch (SSLPeerUnverifiedException e) {
      // no certificate: refused below
    }
    log.info("refused {} from {}: no client certificate and no valid bearer token",
        call.getMethodDescriptor().getFullMethodName(),
        call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR));
    call.close(Status.UNAUTHENTICATED.withDescription(call.getMethodDescriptor().getServiceName()
        + " on the mTLS port needs a client certificate issued by the mesh CA (the proxy's"
        + " workload certificate) or a valid bearer token (node token, or projected"
        + " service-account token with audience istio-ca); the plaintext port needs neither"),
        new Metadata());
    return new ServerCall.Listener<>() {};
  }
}
