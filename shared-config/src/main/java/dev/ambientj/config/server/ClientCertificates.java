package dev.ambientj.config.server;

import dev.ambientj.config.ca.BearerAuthentication;
import dev.ambientj.config.ca.RefusalLog;
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
 * On the mTLS port, refuses calls to {@code services} whose caller presented neither a client
 * certificate (the TLS handshake has already verified any certificate presented against the CA's
 * trust bundle) nor a bearer token — as istiod's 15012 takes a proxy's service-account token.
 * {@link BearerAuthentication} runs before this and has already refused a call whose token is not
 * valid, client certificate or not. Calls of other services, and calls without TLS (the plaintext
 * port), pass.
 */
final class ClientCertificates implements ServerInterceptor {
  private static final Logger log = LoggerFactory.getLogger(ClientCertificates.class);
  private static final RefusalLog REFUSALS = new RefusalLog(log);
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
    REFUSALS.refused("refused " + call.getMethodDescriptor().getFullMethodName() + " from "
        + BearerAuthentication.peer() + ": no client certificate and no bearer token");
    call.close(Status.UNAUTHENTICATED.withDescription(call.getMethodDescriptor().getServiceName()
        + " on the mTLS port needs a client certificate issued by the mesh CA (the proxy's"
        + " workload certificate) or a valid bearer token (node token, or projected"
        + " service-account token with audience istio-ca); the plaintext port needs neither"),
        new Metadata());
    return new ServerCall.Listener<>() {};
  }
}
