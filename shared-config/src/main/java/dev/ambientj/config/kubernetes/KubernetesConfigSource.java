package dev.ambientj.config.kubernetes;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kubernetes config source: Fabric8 informers on every kind the {@link MeshTranslator} reads,
 * whose caches are translated into one {@link MeshSnapshot} after every change.
 *
 * <p>Lifecycle: {@link #start} opens one informer per {@linkplain #WATCHED watched resource},
 * waits until each has listed its objects, publishes the first snapshot, and returns — so the
 * publisher holds a complete view on return, as with {@code FileConfigSource}. {@link #close}
 * stops the informers and the rebuild thread.
 *
 * <p>Changes: an add, update or delete marks the caches dirty; a rebuild follows {@value
 * #QUIET_MILLIS} ms after the last change of a burst, and never later than {@value
 * #MAX_DELAY_MILLIS} ms after its first change. A rebuild reads every informer cache (sorted by
 * creation time, then namespace and name, so the translator's "first one wins" rules follow the
 * order objects were created), translates, and publishes — unless nothing changed: an update
 * whose resourceVersion equals the cached one (an informer resync) is ignored, a rebuild whose
 * inputs carry the same resourceVersions as the last one stops before translating, and a
 * snapshot whose content equals the current one (e.g. a pod status change the mesh does not
 * read) is not published.
 *
 * <p>Threading: informer callbacks only record the change and, at most once per burst, schedule
 * a rebuild; one thread ({@code mesh-config-kubernetes}) does every read of the caches,
 * translation and publish, so it is the single writer of the snapshot.
 *
 * <p>Errors: the Istio and Gateway API kinds are read as {@link GenericKubernetesResource}s and
 * typed by the translator, so an object whose fields do not fit the schema is rejected alone,
 * named, exactly as from a file (a typed informer would fail on it, or drop the field silently).
 * A kind the API server does not serve (its CRD is not installed — a cluster without Istio's or
 * the Gateway API's CRDs) is logged once and left out; the rest works. It is not watched later:
 * restart the config server after installing the CRDs. Any other failure to list a kind fails
 * {@link #start}, since a partial view (say, no Pods) would publish a wrong mesh. After start,
 * lost watches are re-established by Fabric8; an informer that stops for good is reported to the
 * publisher as a transient error and the last snapshot stays.
 *
 * <p>ServiceAccounts and EndpointSlices are not watched: the translator reads neither (identities
 * come from the pod's {@code serviceAccountName}, endpoints from Service selectors over Pods).
 */
public final class KubernetesConfigSource implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KubernetesConfigSource.class);

  /** A change is applied after this long without another change... */
  static final long QUIET_MILLIS = 50;

  /** ...but never later than this after the first change of a burst. */
  static final long MAX_DELAY_MILLIS = 100;

  static final Duration DEFAULT_RESYNC = Duration.ofMinutes(10);
  static final Duration DEFAULT_SYNC_TIMEOUT = Duration.ofSeconds(60);

  private static final String CORE = "";
  private static final String NETWORKING = "networking.istio.io";
  private static final String SECURITY = "security.istio.io";
  private static final String GATEWAY_API = "gateway.networking.k8s.io";

  /**
   * One resource this source lists and watches, cluster-wide.
   *
   * @param group the API group ({@code ""} for the core group)
   * @param version the version asked for; the API server converts stored objects to it
   * @param kind the object kind
   * @param plural the resource name in the URL and in RBAC rules
   * @param namespaced whether the objects live in namespaces
   * @param optional served by a CRD that a cluster may lack; if absent it is left out
   */
  public record WatchedResource(
      String group, String version, String kind, String plural, boolean namespaced,
      boolean optional) {
    /** {@code v1} or {@code group/version}, as in an object's {@code apiVersion}. */
    public String apiVersion() {
      return group.isEmpty() ? version : group + "/" + version;
    }

    @Override
    public String toString() {
      return kind + " (" + apiVersion() + ")";
    }
  }

  /**
   * Every resource watched, in the order the translator receives them. The config server's
   * ClusterRole must grant {@link #VERBS} on each ({@code daemonset-manifests/config-server.yaml};
   * a test keeps the two in step).
   */
  public static final List<WatchedResource> WATCHED =
      List.of(
          new WatchedResource(CORE, "v1", "Namespace", "namespaces", false, false),
          new WatchedResource(CORE, "v1", "Node", "nodes", false, false),
          new WatchedResource(CORE, "v1", "Pod", "pods", true, false),
          new WatchedResource(CORE, "v1", "Service", "services", true, false),
          new WatchedResource(GATEWAY_API, "v1", "GatewayClass", "gatewayclasses", false, true),
          new WatchedResource(GATEWAY_API, "v1", "Gateway", "gateways", true, true),
          new WatchedResource(GATEWAY_API, "v1", "HTTPRoute", "httproutes", true, true),
          new WatchedResource(GATEWAY_API, "v1", "GRPCRoute", "grpcroutes", true, true),
          new WatchedResource(NETWORKING, "v1", "VirtualService", "virtualservices", true, true),
          new WatchedResource(NETWORKING, "v1", "DestinationRule", "destinationrules", true, true),
          // Sidecars and Istio Gateways have no effect in ambient mode; they are read so that
          // `analyze` (and the snapshot's notApplicable list) says so, as with files.
          new WatchedResource(NETWORKING, "v1", "Sidecar", "sidecars", true, true),
          new WatchedResource(NETWORKING, "v1", "Gateway", "gateways", true, true),
          // v1alpha3 is EnvoyFilter's only version; only the local rate limit shape applies.
          new WatchedResource(NETWORKING, "v1alpha3", "EnvoyFilter", "envoyfilters", true, true),
          new WatchedResource(
              SECURITY, "v1", "AuthorizationPolicy", "authorizationpolicies", true, true),
          new WatchedResource(
              SECURITY, "v1", "PeerAuthentication", "peerauthentications", true, true));

  /** The verbs needed on every watched resource (informers list and watch; get for tools). */
  public static final Set<String> VERBS = Set.of("get", "list", "watch");

  private static final Comparator<HasMetadata> CREATION_ORDER =
      Comparator.comparing((HasMetadata o) -> text(meta(o).getCreationTimestamp()))
          .thenComparing(o -> text(meta(o).getNamespace()))
          .thenComparing(o -> text(meta(o).getName()));

  private final SnapshotPublisher out;
  private final MeshTranslator translator;
  private final ScheduledExecutorService worker;
  private final Map<WatchedResource, SharedIndexInformer<? extends HasMetadata>> informers =
      new ConcurrentHashMap<>();
  private final List<WatchedResource> missing = new ArrayList<>();
  private final AtomicBoolean rebuildScheduled = new AtomicBoolean();
  private KubernetesClient watchingClient;
  private volatile long firstChangeNanos;
  private volatile long lastChangeNanos;
  private volatile boolean closed;
  /** Set once every informer has listed; debounced rebuilds before that are left to start. */
  private volatile boolean synced;
  // Touched only on the worker thread.
  private Map<String, String> lastInputVersions;
  private long rebuilds;

  private KubernetesConfigSource(SnapshotPublisher out, MeshTranslator translator) {
    this.out = out;
    this.translator = translator;
    ScheduledThreadPoolExecutor executor =
        new ScheduledThreadPoolExecutor(
            1, r -> Thread.ofPlatform().daemon().name("mesh-config-kubernetes").unstarted(r));
    executor.setRemoveOnCancelPolicy(true);
    this.worker = executor;
  }

  /**
   * Watches the cluster of {@code client}, publishes its mesh to {@code out}, and keeps it
   * current. Returns once every watched kind has been listed and the first snapshot is published.
   * The caller keeps ownership of {@code client}; the source opens its own client from that
   * client's configuration (see {@link #watchingClient}) and closes it on {@link #close}.
   *
   * @throws IllegalStateException when a kind the mesh needs cannot be listed (the message names
   *     it and the API server's answer) or the API server does not answer in time
   */
  public static KubernetesConfigSource start(KubernetesClient client, SnapshotPublisher out) {
    return start(client, out, new MeshTranslator(), DEFAULT_RESYNC, DEFAULT_SYNC_TIMEOUT);
  }

  /** As {@link #start(KubernetesClient, SnapshotPublisher)}, with a translator and timeouts. */
  public static KubernetesConfigSource start(
      KubernetesClient client,
      SnapshotPublisher out,
      MeshTranslator translator,
      Duration resync,
      Duration syncTimeout) {
    Objects.requireNonNull(client, "client");
    Objects.requireNonNull(out, "out");
    Objects.requireNonNull(translator, "translator");
    KubernetesConfigSource source = new KubernetesConfigSource(out, translator);
    try {
      source.watchingClient = watchingClient(client);
      source.startInformers(source.watchingClient, resync, syncTimeout);
      source.synced = true;
      source.worker.submit(source::rebuild).get(syncTimeout.toMillis(), TimeUnit.MILLISECONDS);
      return source;
    } catch (InterruptedException e) {
      source.close();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while listing the cluster's objects", e);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      source.close();
      if (e instanceof IllegalStateException ise) {
        throw ise;
      }
      throw new IllegalStateException("first snapshot from the Kubernetes API failed: " + e, e);
    }
  }

  /**
   * What one listing of the cluster found: every object of the {@linkplain #WATCHED watched
   * resources}, in the order a rebuild hands them to the translator, and the resources the API
   * server does not serve.
   */
  public record Listing(List<HasMetadata> objects, List<WatchedResource> missing) {
    public Listing {
      objects = List.copyOf(objects);
      missing = List.copyOf(missing);
    }
  }

  /**
   * Lists every watched resource once, without watching: what {@code mesh analyze --kubernetes}
   * reads. Objects are read as the informers read them (Istio and Gateway API kinds generic, so
   * the translator sees what the user wrote). The caller keeps ownership of {@code client}.
   *
   * @throws IllegalStateException naming the resource and the API server's answer when a kind the
   *     mesh needs cannot be listed
   */
  public static Listing list(KubernetesClient client) {
    List<HasMetadata> objects = new ArrayList<>();
    List<WatchedResource> missing = new ArrayList<>();
    try (KubernetesClient reading = watchingClient(client)) {
      for (WatchedResource r : WATCHED) {
        List<? extends HasMetadata> items;
        try {
          items = listOf(reading, r);
        } catch (KubernetesClientException e) {
          if (r.optional() && e.getCode() == 404) {
            missing.add(r);
            continue;
          }
          throw new IllegalStateException("cannot list " + r.plural() + " (" + r.apiVersion()
              + ")" + (e.getCode() > 0 ? " (HTTP " + e.getCode() + ")" : "") + " from "
              + client.getMasterUrl() + ": " + rootMessage(e), e);
        }
        List<HasMetadata> ofKind = new ArrayList<>(items);
        ofKind.sort(CREATION_ORDER);
        ofKind.forEach(o -> objects.add(withTypeMeta(o, r)));
      }
    }
    return new Listing(objects, missing);
  }

  private static List<? extends HasMetadata> listOf(KubernetesClient client, WatchedResource r) {
    return switch (r.kind()) {
      case "Namespace" -> client.namespaces().list().getItems();
      case "Node" -> client.nodes().list().getItems();
      case "Pod" -> client.pods().inAnyNamespace().list().getItems();
      case "Service" -> client.services().inAnyNamespace().list().getItems();
      default -> {
        var resources = client.genericKubernetesResources(context(r));
        yield r.namespaced()
            ? resources.inAnyNamespace().list().getItems()
            : resources.list().getItems();
      }
    };
  }

  private static ResourceDefinitionContext context(WatchedResource r) {
    return new ResourceDefinitionContext.Builder()
        .withGroup(r.group())
        .withVersion(r.version())
        .withKind(r.kind())
        .withPlural(r.plural())
        .withNamespaced(r.namespaced())
        .build();
  }

  /** The watched resources the API server does not serve (their CRD is not installed). */
  public List<WatchedResource> missingResources() {
    synchronized (missing) {
      return List.copyOf(missing);
    }
  }

  private void startInformers(KubernetesClient client, Duration resync, Duration syncTimeout)
      throws InterruptedException {
    Map<WatchedResource, CompletableFuture<Void>> started = new HashMap<>();
    for (WatchedResource r : WATCHED) {
      SharedIndexInformer<? extends HasMetadata> informer = informerFor(client, r, resync);
      informer.addEventHandler(new ChangeHandler());
      informers.put(r, informer);
      started.put(r, informer.start().toCompletableFuture());
    }
    long deadline = System.nanoTime() + syncTimeout.toNanos();
    for (WatchedResource r : WATCHED) {
      try {
        started.get(r).get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        throw new IllegalStateException(
            "no list of " + r.plural() + " from the Kubernetes API at " + client.getMasterUrl()
                + " within " + syncTimeout.toSeconds() + " s");
      } catch (ExecutionException e) {
        KubernetesClientException kce = clientException(e.getCause());
        if (r.optional() && kce != null && kce.getCode() == 404) {
          log.warn(
              "{} is not served by the API server (is its CRD installed?); going on without {};"
                  + " restart after installing it",
              r,
              r.plural());
          informers.remove(r).stop();
          synchronized (missing) {
            missing.add(r);
          }
          continue;
        }
        String status = kce != null && kce.getCode() > 0 ? " (HTTP " + kce.getCode() + ")" : "";
        throw new IllegalStateException(
            "cannot list " + r.plural() + " (" + r.apiVersion() + ")" + status + ": "
                + rootMessage(e.getCause())
                + (kce != null && kce.getCode() == 403
                    ? " — does the service account have get/list/watch on it? (see"
                        + " KubernetesConfigSource.WATCHED)"
                    : ""),
            e.getCause());
      }
      // A stop after the start (the watch could not be restored) leaves the last snapshot.
      informers
          .get(r)
          .stopped()
          .whenComplete(
              (v, t) -> {
                if (t != null && !closed) {
                  log.error("the informer on {} stopped; {} changes are no longer seen", r,
                      r.plural(), t);
                  out.reportTransientError(
                      "Kubernetes informer on " + r.plural() + " stopped: " + rootMessage(t));
                }
              });
    }
  }

  /**
   * A client to the same API server whose JSON reader knows only the core kinds read typed (and
   * {@code Status}, for watch errors). With the default reader, a watch event of an Istio kind is
   * first read into Fabric8's typed class — whose enums turn an unknown value into null, so an
   * {@code action: DENYY} would arrive as an ALLOW policy — and only then into the generic form
   * asked for. This reader keeps every other kind generic from the wire on, so the translator
   * sees what the user wrote.
   */
  private static KubernetesClient watchingClient(KubernetesClient client) {
    KubernetesSerialization serialization = new KubernetesSerialization(new ObjectMapper(), false);
    for (Class<? extends KubernetesResource> typed :
        List.of(Namespace.class, Node.class, Pod.class, Service.class, Status.class)) {
      serialization.registerKubernetesResource(typed);
    }
    return new KubernetesClientBuilder()
        .withConfig(client.getConfiguration())
        .withKubernetesSerialization(serialization)
        .build();
  }

  private static SharedIndexInformer<? extends HasMetadata> informerFor(
      KubernetesClient client, WatchedResource r, Duration resync) {
    long resyncMillis = resync.toMillis();
    return switch (r.kind()) {
      case "Namespace" -> client.namespaces().runnableInformer(resyncMillis);
      case "Node" -> client.nodes().runnableInformer(resyncMillis);
      case "Pod" -> client.pods().inAnyNamespace().runnableInformer(resyncMillis);
      case "Service" -> client.services().inAnyNamespace().runnableInformer(resyncMillis);
      default -> {
        var resources = client.genericKubernetesResources(context(r));
        yield r.namespaced()
            ? resources.inAnyNamespace().runnableInformer(resyncMillis)
            : resources.runnableInformer(resyncMillis);
      }
    };
  }

  /** Records a change; schedules a rebuild unless one is already pending. Never blocks. */
  private void changed() {
    long now = System.nanoTime();
    lastChangeNanos = now;
    if (!closed && rebuildScheduled.compareAndSet(false, true)) {
      firstChangeNanos = now;
      schedule(TimeUnit.MILLISECONDS.toNanos(QUIET_MILLIS));
    }
  }

  private void schedule(long delayNanos) {
    try {
      worker.schedule(this::rebuildWhenQuiet, delayNanos, TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closed
    }
  }

  private void rebuildWhenQuiet() {
    long now = System.nanoTime();
    long due =
        Math.min(
            lastChangeNanos + TimeUnit.MILLISECONDS.toNanos(QUIET_MILLIS),
            firstChangeNanos + TimeUnit.MILLISECONDS.toNanos(MAX_DELAY_MILLIS));
    if (now < due) {
      schedule(due - now);
      return;
    }
    // Cleared before reading the caches: a change that lands during this rebuild schedules the
    // next one rather than being lost.
    rebuildScheduled.set(false);
    if (!synced) {
      return; // start() rebuilds once every kind is listed
    }
    try {
      rebuild();
    } catch (RuntimeException e) {
      log.error("Kubernetes configuration rebuild failed; keeping the current snapshot", e);
      out.reportTransientError("Kubernetes configuration rebuild failed: " + e);
    }
  }

  /** Reads every cache, translates, publishes when something changed. Worker thread only. */
  private void rebuild() {
    if (closed) {
      return;
    }
    List<HasMetadata> objects = new ArrayList<>();
    Map<String, String> versions = new HashMap<>();
    for (WatchedResource r : WATCHED) {
      SharedIndexInformer<? extends HasMetadata> informer = informers.get(r);
      if (informer == null) {
        continue;
      }
      List<HasMetadata> ofKind = new ArrayList<>(informer.getStore().list());
      ofKind.sort(CREATION_ORDER);
      for (HasMetadata o : ofKind) {
        HasMetadata typed = withTypeMeta(o, r);
        objects.add(typed);
        versions.put(
            r.apiVersion() + "|" + r.kind() + "|" + meta(o).getNamespace() + "|"
                + meta(o).getName(),
            text(meta(o).getResourceVersion()));
      }
    }
    if (versions.equals(lastInputVersions)) {
      return;
    }
    lastInputVersions = versions;
    MeshSnapshot snapshot = translator.translate(objects);
    rebuilds++;
    if (rebuilds > 1 && sameContent(snapshot, out.snapshot())) {
      log.debug("Kubernetes change with no effect on the mesh; snapshot {} stays",
          out.snapshot().version());
      return;
    }
    log.info(
        "mesh configuration version {} from Kubernetes: {} workloads, {} services, {} waypoints,"
            + " {} rejected",
        snapshot.version(),
        snapshot.workloads().size(),
        snapshot.services().size(),
        snapshot.waypoints().size(),
        snapshot.rejections().size());
    out.publish(snapshot);
  }

  /** How many times the caches were translated (tests: a resync must not translate). */
  long rebuilds() {
    try {
      return worker.submit(() -> rebuilds).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
  }

  /** Everything but the version is equal. */
  static boolean sameContent(MeshSnapshot a, MeshSnapshot b) {
    return a.trustDomain().equals(b.trustDomain())
        && a.workloads().equals(b.workloads())
        && a.services().equals(b.services())
        && a.waypoints().equals(b.waypoints())
        && a.nodes().equals(b.nodes())
        && a.rejections().equals(b.rejections())
        && a.warnings().equals(b.warnings())
        && a.policies().equals(b.policies());
  }

  /**
   * The object with its {@code apiVersion} and {@code kind} set: items of a list response carry
   * neither, and the translator dispatches on them. Typed objects have them already; generic ones
   * are copied rather than changed, since the informer's cache owns them.
   */
  private static HasMetadata withTypeMeta(HasMetadata o, WatchedResource r) {
    if (r.kind().equals(o.getKind()) && r.apiVersion().equals(o.getApiVersion())) {
      return o;
    }
    if (o instanceof GenericKubernetesResource g) {
      GenericKubernetesResource copy = new GenericKubernetesResource();
      copy.setApiVersion(r.apiVersion());
      copy.setKind(r.kind());
      copy.setMetadata(g.getMetadata());
      copy.setAdditionalProperties(g.getAdditionalProperties());
      return copy;
    }
    return o;
  }

  private static ObjectMeta meta(HasMetadata o) {
    return o.getMetadata() == null ? new ObjectMeta() : o.getMetadata();
  }

  private static String text(String s) {
    return s == null ? "" : s;
  }

  private static KubernetesClientException clientException(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof KubernetesClientException kce) {
        return kce;
      }
    }
    return null;
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.toString() : c.getMessage();
  }

  /** Marks the caches dirty; an update that changes no resourceVersion (a resync) is ignored. */
  private final class ChangeHandler implements ResourceEventHandler<HasMetadata> {
    @Override
    public void onAdd(HasMetadata o) {
      changed();
    }

    @Override
    public void onUpdate(HasMetadata old, HasMetadata now) {
      String before = old == null ? null : meta(old).getResourceVersion();
      if (before != null && before.equals(meta(now).getResourceVersion())) {
        return;
      }
      changed();
    }

    @Override
    public void onDelete(HasMetadata o, boolean finalStateUnknown) {
      changed();
    }
  }

  @Override
  public void close() {
    closed = true;
    for (SharedIndexInformer<? extends HasMetadata> informer : informers.values()) {
      informer.stop();
    }
    worker.shutdownNow();
    if (watchingClient != null) {
      watchingClient.close();
    }
  }
}
