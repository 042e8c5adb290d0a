package dev.ambientj.ztunnel;

import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.ConfigWarning;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Node;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Waypoint;
import dev.ambientj.config.model.Workload;
import dev.ambientj.hbone.identity.Pem;
import dev.ambientj.hbone.identity.SpiffeId;
import dev.ambientj.hbone.identity.WorkloadCertificate;
import dev.ambientj.ztunnel.admin.JsonWriter;
import dev.ambientj.ztunnel.proxy.OpenConnections;
import dev.ambientj.ztunnel.proxy.OpenConnections.OpenConnection;
import dev.ambientj.ztunnel.proxy.Ports;
import dev.ambientj.ztunnel.proxy.ProxyContext;
import io.fabric8.istio.api.security.v1.AuthorizationPolicy;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * {@code /config_dump}: the snapshot this ztunnel works from and its certificates, shaped like
 * ztunnel's (workloads, services, policies (name, namespace, scope, action), certificates with identity, state, certChain and
 * rootCerts, each with pem, serialNumber, validFrom, expirationTime) plus our listeners, the
 * configuration rejections in force (each with its operator line, object, field or file position,
 * and whether the previous version stays in force: the config server's, pushed over xDS, and this
 * proxy's own NACKs) and the warnings.
 */
final class ConfigDump {
  private ConfigDump() {}

  static String render(String node, MeshSnapshot s, ListenerManager manager,
      OpenConnections open) {
    JsonWriter j = new JsonWriter().beginObject();
    j.field("node", node).field("version", s.version()).field("trustDomain", s.trustDomain());
    j.name("nodes").beginArray();
    for (Node n : s.nodes()) {
      j.beginObject().field("name", n.name());
      addresses(j, "addresses", n.addresses());
      j.endObject();
    }
    j.endArray();
    j.name("workloads").beginArray();
    for (Workload w : s.workloads()) {
      j.beginObject()
          .field("uid", w.uid()).field("name", w.name()).field("namespace", w.namespace())
          .field("serviceAccount", w.serviceAccount()).field("identity", w.spiffeId())
          .field("node", w.node());
      addresses(j, "workloadIps", w.addresses());
      j.field("protocol", w.protocol() == TunnelProtocol.HBONE ? "HBONE" : "TCP")
          .field("enrolled", w.enrolled())
          .field("status", w.healthy() ? "Healthy" : "Unhealthy")
          .field("workloadName", w.workloadName())
          .field("canonicalName", w.canonicalName())
          .field("canonicalRevision", w.canonicalRevision());
      if (w.waypoint() != null) {
        j.field("waypoint", w.waypoint().toString());
      }
      j.endObject();
    }
    j.endArray();
    j.name("services").beginArray();
    for (Service svc : s.services()) {
      j.beginObject().field("name", svc.name()).field("namespace", svc.namespace())
          .field("hostname", svc.hostname());
      addresses(j, "vips", svc.vips());
      j.name("ports").beginArray();
      for (ServicePort p : svc.ports()) {
        j.beginObject().field("name", p.name()).field("port", p.port())
            .field("targetPort", p.targetPort()).endObject();
      }
      j.endArray();
      j.name("endpoints").beginArray();
      for (Endpoint e : svc.endpoints()) {
        j.value(e.workloadUid());
      }
      j.endArray();
      if (svc.waypoint() != null) {
        j.field("waypoint", svc.waypoint().toString());
      }
      j.endObject();
    }
    j.endArray();
    j.name("waypoints").beginArray();
    for (Waypoint wp : s.waypoints()) {
      j.beginObject().field("name", wp.name()).field("namespace", wp.namespace())
          .field("waypointFor", wp.waypointFor()).field("identity", wp.spiffeId());
      addresses(j, "addresses", wp.addresses());
      j.endObject();
    }
    j.endArray();
    j.name("policies").beginArray();
    for (AuthorizationPolicy p : s.policies().authorizationPolicies()) {
      policy(j, p);
    }
    j.endArray();
    j.name("rejections").beginArray();
    for (ConfigRejection r : s.rejections()) {
      j.beginObject().field("message", r.report()).field("kind", r.metricKind())
          .field("namespace", r.namespace()).field("name", r.name()).field("field", r.field())
          .field("location", r.location()).field("problem", r.problem())
          .field("previousInForce", r.previousInForce()).endObject();
    }
    j.endArray();
    j.name("warnings").beginArray();
    for (ConfigWarning w : s.warnings()) {
      j.value(w.toString());
    }
    j.endArray();
    j.name("listeners").beginArray();
    for (WorkloadListeners l : manager.listeners()) {
      j.beginObject().field("workload", l.workload().namespace() + "/" + l.workload().name())
          .field("address", l.address().getHostAddress())
          .name("ports").beginArray().value(Ports.HBONE).value(Ports.INBOUND_PLAINTEXT)
          .value(Ports.OUTBOUND).value(Ports.SOCKS5).endArray()
          .field("state", l.failed() ? "bind failed" : l.settled() ? "listening" : "binding")
          .endObject();
    }
    j.endArray();
    workloadState(j, manager, open.list());
    j.name("certificates").beginArray();
    Map<SpiffeId, CompletableFuture<WorkloadCertificate>> certs = manager.certificates();
    certs.keySet().stream().sorted(Comparator.comparing(SpiffeId::toString)).forEach(id -> {
      CompletableFuture<WorkloadCertificate> f = certs.get(id);
      j.beginObject().field("identity", id.toString());
      if (!f.isDone()) {
        j.field("state", "Initializing");
      } else if (f.isCompletedExceptionally()) {
        j.field("state", "Unavailable: " + ProxyContext.describe(f.exceptionNow()));
      } else {
        WorkloadCertificate c = f.resultNow();
        j.field("state", "Available");
        certificates(j, "certChain", c.chain());
        certificates(j, "rootCerts", c.trustBundle().roots());
      }
      j.endObject();
    });
    j.endArray();
    return j.endObject().toString() + "\n";
  }

  /**
   * ztunnel's {@code workloadState}: per workload proxied here (by uid), {@code Up} once its
   * listeners are bound ({@code Pending} until then), who it is, and its open connections (outbound:
   * it is the source; inbound: the destination).
   */
  private static void workloadState(JsonWriter j, ListenerManager manager,
      List<OpenConnection> connections) {
    j.name("workloadState").beginObject();
    for (WorkloadListeners l : manager.listeners()) {
      Workload w = l.workload();
      j.name(w.uid()).beginObject()
          .field("state", l.settled() && !l.failed() ? "Up" : "Pending")
          .name("info").beginObject().field("name", w.name()).field("namespace", w.namespace())
          .field("serviceAccount", w.serviceAccount()).endObject()
          .name("connections").beginObject();
      for (String direction : List.of("inbound", "outbound")) {
        j.name(direction).beginArray();
        for (OpenConnection c : connections) {
          if (c.direction().equals(direction) && w.uid().equals(c.workloadUid())) {
            j.beginObject().field("src", socket(c.src())).field("originalDst", c.originalDst())
                .field("actualDst", socket(c.actualDst())).field("protocol", c.protocol())
                .endObject();
          }
        }
        j.endArray();
      }
      j.endObject().endObject();
    }
    j.endObject();
  }

  private static String socket(InetSocketAddress a) {
    return a == null ? null : NetUtil.toSocketAddressString(a);
  }

  /**
   * One AuthorizationPolicy as ztunnel lists it: scope {@code Global} (the root namespace, no
   * selector), {@code Namespace}, {@code WorkloadSelector}, or {@code Waypoint} (targetRefs: enforced
   * by the waypoint, not here); action as written ({@code ALLOW} when absent).
   */
  private static void policy(JsonWriter j, AuthorizationPolicy p) {
    var spec = p.getSpec();
    boolean selector = spec != null && spec.getSelector() != null
        && spec.getSelector().getMatchLabels() != null && !spec.getSelector().getMatchLabels().isEmpty();
    boolean targeted = spec != null && (spec.getTargetRef() != null
        || (spec.getTargetRefs() != null && !spec.getTargetRefs().isEmpty()));
    String namespace = p.getMetadata().getNamespace();
    String scope = targeted ? "Waypoint"
        : selector ? "WorkloadSelector"
        : AuthorizationEngine.DEFAULT_ROOT_NAMESPACE.equals(namespace) ? "Global" : "Namespace";
    String action = spec == null || spec.getAction() == null ? "ALLOW" : spec.getAction().name();
    int rules = spec == null || spec.getRules() == null ? 0 : spec.getRules().size();
    j.beginObject().field("name", p.getMetadata().getName()).field("namespace", namespace)
        .field("scope", scope).field("action", action).field("rules", rules).endObject();
  }

  private static void addresses(JsonWriter j, String name, List<InetAddress> addresses) {
    j.name(name).beginArray();
    for (InetAddress a : addresses) {
      j.value(a.getHostAddress());
    }
    j.endArray();
  }

  private static void certificates(JsonWriter j, String name, List<X509Certificate> chain) {
    j.name(name).beginArray();
    for (X509Certificate c : chain) {
      j.beginObject()
          .field("pem", Pem.certificate(c))
          .field("serialNumber", c.getSerialNumber().toString(16))
          .field("validFrom", c.getNotBefore().toInstant().toString())
          .field("expirationTime", c.getNotAfter().toInstant().toString())
          .endObject();
    }
    j.endArray();
  }
}
