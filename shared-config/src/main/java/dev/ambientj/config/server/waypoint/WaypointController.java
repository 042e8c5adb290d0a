package dev.ambientj.config.server.waypoint;

import dev.ambientj.config.ca.KubernetesCaRoot;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.Gateway;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatus;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayStatusAddress;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deploys a waypoint for every Gateway API {@code Gateway} of class {@code istio-waypoint}, as
 * istiod's gateway deployment controller does: a ServiceAccount, a Deployment and a Service
 * (HBONE on 15008), all named after the Gateway, owned by it, and labelled
 * {@code istio.io/dataplane-mode: none} so that ztunnel does not capture the waypoint itself.
 *
 * <p>Lifecycle: {@link #start} opens two informers — Gateways in every namespace, and the
 * Deployments this controller manages (by label) so that the Gateway's {@code Programmed}
 * condition follows the waypoint's readiness — and {@link #close} stops them. Threading: the
 * informers' callbacks only enqueue a Gateway key; one reconcile thread does every read and
 * write, so reconciles of one Gateway never race each other.
 *
 * <p>Invariants: an object is rewritten only when its desired content (recorded as a hash in
 * the {@value #SPEC_HASH} annotation) changed, and the Gateway's status only when a condition or
 * address changed — so the controller's own writes do not feed back into endless reconciles.
 * Owner references make the API server collect the children when a Gateway is deleted; the
 * controller also deletes them itself on the informer's delete, for API servers without a
 * garbage collector (the Fabric8 mock server in tests) and to act without waiting for one.
 */
public final class WaypointController implements AutoCloseable {

  public static final String GATEWAY_CLASS = "istio-waypoint";
  public static final int HBONE_PORT = 15008;
  static final String GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
  static final String DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode";
  static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
  static final String MANAGED_BY = "ambientj";
  static final String SPEC_HASH = "ambientj.dev/spec-hash";
  static final String GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1";

  /** One permission this controller uses: an API group, a resource, the verbs. */
  public record RbacNeed(String group, String resource, Set<String> verbs) {}

  /**
   * Every informer and write the controller makes; the config server's ClusterRole in
   * {@code daemonset-manifests/} must grant all of it (a test checks).
   */
  public static final List<RbacNeed> NEEDED =
      List.of(
          new RbacNeed("gateway.networking.k8s.io", "gateways", Set.of("get", "list", "watch")),
          new RbacNeed("gateway.networking.k8s.io", "gateways/status", Set.of("get", "update")),
          new RbacNeed(
              "apps", "deployments", Set.of("get", "list", "watch", "create", "update", "delete")),
          new RbacNeed("", "services", Set.of("get", "create", "update", "delete")),
          new RbacNeed("", "serviceaccounts", Set.of("get", "create", "update", "delete")),
          // the mesh root in each waypoint's namespace (KubernetesCaRoot.publish)
          new RbacNeed("", "configmaps", Set.of("get", "create", "update")));

  private static final Logger LOG = LoggerFactory.getLogger(WaypointController.class);
  private static final long RESYNC_MILLIS = TimeUnit.MINUTES.toMillis(10);

  private final KubernetesClient client;
  private final WaypointSettings settings;
  private final Supplier<String> rootCertificate;
  private final ExecutorService reconciler;
  private SharedIndexInformer<Gateway> gateways;
  private SharedIndexInformer<Deployment> deployments;

  /** Waypoints that reach the config server in plaintext, with a CA of their own. */
  public WaypointController(KubernetesClient client, WaypointSettings settings) {
    this(client, settings, null);
  }

  /**
   * Waypoints that reach the config server over TLS ({@link WaypointSettings#xdsAddress} is its
   * TLS address) with their service-account token, verifying it with {@code rootCertificate}
   * (the mesh CA's PEM trust bundle, read at each reconcile), which the controller publishes in
   * each waypoint's namespace ({@link KubernetesCaRoot#publish}, owned by the Gateway).
   */
  public WaypointController(KubernetesClient client, WaypointSettings settings,
      Supplier<String> rootCertificate) {
    this.client = Objects.requireNonNull(client);
    this.settings = Objects.requireNonNull(settings);
    this.rootCertificate = rootCertificate;
    this.reconciler =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "waypoint-controller");
              t.setDaemon(true);
              return t;
            });
  }

  /** Starts the informers; returns once both listed their objects. */
  public WaypointController start() {
    gateways =
        client
            .resources(Gateway.class)
            .inAnyNamespace()
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(Gateway g) {
                    enqueue(g.getMetadata().getNamespace(), g.getMetadata().getName());
                  }

                  @Override
                  public void onUpdate(Gateway old, Gateway g) {
                    enqueue(g.getMetadata().getNamespace(), g.getMetadata().getName());
                  }

                  @Override
                  public void onDelete(Gateway g, boolean finalStateUnknown) {
                    if (isWaypoint(g)) {
                      String ns = g.getMetadata().getNamespace();
                      String name = g.getMetadata().getName();
                      reconciler.execute(() -> deleteChildren(ns, name));
                    }
                  }
                },
                RESYNC_MILLIS);
    deployments =
        client
            .apps()
            .deployments()
            .inAnyNamespace()
            .withLabel(MANAGED_BY_LABEL, MANAGED_BY)
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(Deployment d) {
                    enqueueOwner(d);
                  }

                  @Override
                  public void onUpdate(Deployment old, Deployment d) {
                    enqueueOwner(d);
                  }

                  @Override
                  public void onDelete(Deployment d, boolean finalStateUnknown) {
                    enqueueOwner(d);
                  }
                },
                RESYNC_MILLIS);
    return this;
  }

  @Override
  public void close() {
    if (gateways != null) {
      gateways.close();
    }
    if (deployments != null) {
      deployments.close();
    }
    reconciler.shutdownNow();
  }

  static boolean isWaypoint(Gateway g) {
    return g.getSpec() != null && GATEWAY_CLASS.equals(g.getSpec().getGatewayClassName());
  }

  private void enqueueOwner(Deployment d) {
    String gw = d.getMetadata().getLabels().get(GATEWAY_NAME_LABEL);
    if (gw != null) {
      enqueue(d.getMetadata().getNamespace(), gw);
    }
  }

  private void enqueue(String namespace, String name) {
    reconciler.execute(() -> reconcile(namespace, name));
  }

  /** Brings one Gateway's waypoint and status to the desired state; errors wait for the next event. */
  void reconcile(String namespace, String name) {
    Gateway g = gateways.getStore().getByKey(namespace + "/" + name);
    if (g == null) {
      return;
    }
    if (!isWaypoint(g)) {
      // Moved to another class: take down a waypoint deployed while it was ours.
      if (deployments.getStore().getByKey(namespace + "/" + name) != null) {
        deleteChildren(namespace, name);
      }
      return;
    }
    try {
      if (rootCertificate != null) {
        KubernetesCaRoot.publish(client, namespace, rootCertificate.get(), ownerOf(g));
      }
      WaypointResources desired =
          new WaypointResources(g, settings, ownerOf(g), rootCertificate != null);
      apply(desired.serviceAccount(), ServiceAccount.class);
      Service service = apply(desired.service(), Service.class);
      Deployment deployment = apply(desired.deployment(), Deployment.class);
      writeStatus(g, deployment, service);
    } catch (KubernetesClientException e) {
      // A conflict or a transient API error: the write's own event or the resync retries.
      LOG.warn("waypoint for Gateway {}/{}: {}", namespace, name, e.getMessage());
    }
  }

  private <T extends HasMetadata> T apply(T desired, Class<T> type) {
    String ns = desired.getMetadata().getNamespace();
    String name = desired.getMetadata().getName();
    T existing = client.resources(type).inNamespace(ns).withName(name).get();
    if (existing == null) {
      return client.resources(type).inNamespace(ns).resource(desired).create();
    }
    String want = desired.getMetadata().getAnnotations().get(SPEC_HASH);
    Map<String, String> have = existing.getMetadata().getAnnotations();
    if (have != null && want.equals(have.get(SPEC_HASH))) {
      return existing;
    }
    desired.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
    if (desired instanceof Service s && existing instanceof Service e) {
      // The allocated cluster IP is immutable; carry it over rather than ask for a new one.
      s.getSpec().setClusterIP(e.getSpec().getClusterIP());
      s.getSpec().setClusterIPs(e.getSpec().getClusterIPs());
    }
    return client.resources(type).inNamespace(ns).resource(desired).update();
  }

  private void deleteChildren(String namespace, String name) {
    for (Class<? extends HasMetadata> type :
        List.of(Deployment.class, Service.class, ServiceAccount.class)) {
      try {
        HasMetadata child = client.resources(type).inNamespace(namespace).withName(name).get();
        if (child != null
            && MANAGED_BY.equals(child.getMetadata().getLabels().get(MANAGED_BY_LABEL))) {
          client.resources(type).inNamespace(namespace).withName(name).delete();
        }
      } catch (KubernetesClientException e) {
        LOG.warn("deleting {} {}/{}: {}", type.getSimpleName(), namespace, name, e.getMessage());
      }
    }
  }

  private void writeStatus(Gateway g, Deployment deployment, Service service) {
    GatewayStatus old = g.getStatus() == null ? new GatewayStatus() : g.getStatus();
    long generation = g.getMetadata().getGeneration() == null ? 0 : g.getMetadata().getGeneration();
    Integer ready = deployment.getStatus() == null ? null : deployment.getStatus().getReadyReplicas();
    boolean programmed = ready != null && ready >= 1;
    String ip = service.getSpec() == null ? null : service.getSpec().getClusterIP();
    boolean hasIp = ip != null && !ip.isEmpty() && !"None".equals(ip);

    List<Condition> conditions = new ArrayList<>();
    conditions.add(
        condition(old, "Accepted", true, "Accepted", "Resource accepted", generation));
    conditions.add(
        programmed
            ? condition(old, "Programmed", true, "Programmed", "Waypoint is ready", generation)
            : condition(
                old,
                "Programmed",
                false,
                "Pending",
                "Waiting for the waypoint Deployment " + deployment.getMetadata().getName()
                    + " to have a ready replica",
                generation));
    List<GatewayStatusAddress> addresses =
        hasIp ? List.of(new GatewayStatusAddress("IPAddress", ip)) : List.of();

    if (sameConditions(old.getConditions(), conditions)
        && Objects.equals(nullToEmpty(old.getAddresses()), addresses)) {
      return;
    }
    Gateway updated =
        client.resources(Gateway.class).inNamespace(g.getMetadata().getNamespace())
            .withName(g.getMetadata().getName()).get();
    if (updated == null) {
      return;
    }
    GatewayStatus fresh = updated.getStatus();
    if (fresh != null
        && sameConditions(fresh.getConditions(), conditions)
        && Objects.equals(nullToEmpty(fresh.getAddresses()), addresses)) {
      return; // the informer's copy was behind; the status is already written
    }
    GatewayStatus status = updated.getStatus() == null ? new GatewayStatus() : updated.getStatus();
    status.setConditions(conditions);
    status.setAddresses(addresses);
    updated.setStatus(status);
    client.resources(Gateway.class).inNamespace(g.getMetadata().getNamespace())
        .resource(updated).updateStatus();
  }

  /** A condition that keeps its lastTransitionTime while its status stays the same. */
  private static Condition condition(
      GatewayStatus old, String type, boolean status, String reason, String message, long gen) {
    String value = status ? "True" : "False";
    String since = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    for (Condition c : nullToEmpty(old.getConditions())) {
      if (type.equals(c.getType()) && value.equals(c.getStatus()) && c.getLastTransitionTime() != null) {
        since = c.getLastTransitionTime();
      }
    }
    return new ConditionBuilder()
        .withType(type)
        .withStatus(value)
        .withReason(reason)
        .withMessage(message)
        .withObservedGeneration(gen)
        .withLastTransitionTime(since)
        .build();
  }

  private static boolean sameConditions(List<Condition> have, List<Condition> want) {
    if (have == null || have.size() < want.size()) {
      return false;
    }
    for (Condition w : want) {
      boolean found = false;
      for (Condition h : have) {
        found |=
            w.getType().equals(h.getType())
                && w.getStatus().equals(h.getStatus())
                && w.getReason().equals(h.getReason())
                && Objects.equals(w.getObservedGeneration(), h.getObservedGeneration());
      }
      if (!found) {
        return false;
      }
    }
    return true;
  }

  private static <T> List<T> nullToEmpty(List<T> l) {
    return l == null ? List.of() : l;
  }

  private static OwnerReference ownerOf(Gateway g) {
    return new OwnerReferenceBuilder()
        .withApiVersion(GATEWAY_API_VERSION)
        .withKind("Gateway")
        .withName(g.getMetadata().getName())
        .withUid(g.getMetadata().getUid())
        .withController(true)
        .build();
  }
}
