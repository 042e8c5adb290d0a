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
 * <p>Lifecycle: {@link #open} opens one informer per {@linkplain #WATCHED watched resource} and
 * returns at once; {@link #synced()} completes once each has listed its objects and the first
 * snapshot is published, so the publisher then holds a complete view, as with {@code
 * FileConfigSource}. {@link #start} is open-and-wait, for callers that want a bounded wait.
 * {@link #close} stops the informers and the rebuild thread.
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
 * restart after installing the CRDs.
 *
 * <p>A slow or absent API server (as client-go's reflector): a list that fails — refused, timed
 * out, 403 before the RBAC is applied, 5xx — is tried again by a new informer after an {@link
 * ApiRetry} delay (800 ms doubling to 30 s, jittered), forever; so is a watch that Fabric8 gives
 * up on (the informer stops). A watch that drops is re-established by Fabric8 itself (its own
 * back-off, 1 s doubling to 32 s). Nothing of this ends the process or reaches the snapshot: until
 * every kind has listed, {@link #synced()} stays incomplete (the processes say not ready); after
 * that, the last snapshot stays in force and a replacement informer starts from the objects its
 * predecessor held, so its list is applied as changes. A kind whose watch was down during an
 * outage is listed again when the watch is back, so a deletion made meanwhile is not missed even
 * where the server cannot replay it. The outage is logged as one line when it begins and one when
 * every kind is listed and watched again ({@link ApiOutage}), not per attempt.
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
              SECURITY, "v1", "PeerAuthentication", "peerauthentications", true, true),
          // tracing[].randomSamplingPercentage, for waypoints' spans
          new WatchedResource("telemetry.istio.io", "v1", "Telemetry", "telemetries", true, true));

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
  private final CompletableFuture<Void> syncedFuture = new CompletableFuture<>();
  private final ApiRetry retry;
  private final Duration resync;
  private final long openedNanos = System.nanoTime();
  private KubernetesClient watchingClient;
  // Touched only on the worker thread.
  private final Map<WatchedResource, KindState> kinds = new HashMap<>();
  private ApiOutage outage;
  private volatile String lastFailure = "no answer yet";
  private volatile long firstChangeNanos;
  private volatile long lastChangeNanos;
  private volatile boolean closed;
  /** Set once every kind has listed; debounced rebuilds before that are left to {@link #maybeSynced}. */
  private volatile boolean synced;
  // Touched only on the worker thread.
  private Map<String, String> lastInputVersions;
  private long rebuilds;

  private KubernetesConfigSource(SnapshotPublisher out, MeshTranslator translator, Duration resync,
      ApiRetry retry) {
    this.out = out;
    this.translator = translator;
    this.resync = resync;
    this.retry = retry;
    ScheduledThreadPoolExecutor executor =
        new ScheduledThreadPoolExecutor(
            1, r -> Thread.ofPlatform().daemon().name("mesh-config-kubernetes").unstarted(r));
    executor.setRemoveOnCancelPolicy(true);
    this.worker = executor;
  }

  /**
   * Watches the cluster of {@code client}, publishes its mesh to {@code out}, and keeps it
   * current; returns at once. {@link #synced()} completes when every watched kind has been listed
   * and the first snapshot is published; until then the API is retried ({@link ApiRetry}) for as
   * long as it takes. The caller keeps ownership of {@code client}; the source opens its own
   * client from that client's configuration (see {@link #watchingClient}) and closes it on {@link
   * #close}.
   */
  public static KubernetesConfigSource open(KubernetesClient client, SnapshotPublisher out) {
    return open(client, out, new MeshTranslator(), DEFAULT_RESYNC, ApiRetry.DEFAULT);
  }

  /** As {@link #open(KubernetesClient, SnapshotPublisher)}, with a translator, resync and back-off. */
  static KubernetesConfigSource open(KubernetesClient client, SnapshotPublisher out,
      MeshTranslator translator, Duration resync, ApiRetry retry) {
    Objects.requireNonNull(client, "client");
    Objects.requireNonNull(out, "out");
    Objects.requireNonNull(translator, "translator");
    KubernetesConfigSource source = new KubernetesConfigSource(out, translator, resync, retry);
    try {
      source.watchingClient = watchingClient(client);
      source.outage = new ApiOutage(log, "Kubernetes API at " + client.getMasterUrl(),
          "the mesh stays as last listed (not ready until every kind is listed once)");
      source.worker.execute(source::startInformers);
      return source;
    } catch (RuntimeException e) {
      source.close();
      throw e;
    }
  }

  /**
   * As {@link #open(KubernetesClient, SnapshotPublisher)}, then waits for {@link #synced()}.
   *
   * @throws IllegalStateException when the kinds the mesh needs are not listed within {@link
   *     #DEFAULT_SYNC_TIMEOUT} (the message names the last failure and the API server's answer)
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
    KubernetesConfigSource source = open(client, out, translator, resync, ApiRetry.DEFAULT);
    try {
      source.synced().get(syncTimeout.toMillis(), TimeUnit.MILLISECONDS);
      return source;
    } catch (InterruptedException e) {
      source.close();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while listing the cluster's objects", e);
    } catch (TimeoutException e) {
      source.close();
      throw new IllegalStateException("the Kubernetes API at " + client.getMasterUrl()
          + " did not list the mesh's objects within " + syncTimeout.toSeconds() + " s; last: "
          + source.lastFailure);
    } catch (ExecutionException e) {
      source.close();
      throw new IllegalStateException("first snapshot from the Kubernetes API failed: "
          + e.getCause(), e.getCause());
    }
  }

  /**
   * Completes once every watched kind has been listed (or found not served) and the first
   * snapshot is published; never fails, but is cancelled by {@link #close}.
   */
  public CompletableFuture<Void> synced() {
    return syncedFuture;
  }

  /** What the last failed list or watch said (for a process's not-ready reason). */
  public String lastFailure() {
    return lastFailure;
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
              + ") from " + client.getMasterUrl() + ": " + ApiRetry.describe(e), e);
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

  /** The state of one watched kind. Worker thread only. */
  private static final class KindState {
    final WatchedResource resource;
    /** Whether a list of this kind ever completed. */
    boolean listed;
    /** An attempt is running or scheduled (its informer is not to be checked). */
    boolean attempting;
    int failures;
    /** Health checks in a row that found its informer not watching. */
    int notWatching;

    KindState(WatchedResource resource) {
      this.resource = resource;
    }
  }

  /** How often the watches are checked, and how many failed checks in a row are an outage. */
  static final Duration WATCH_CHECK = Duration.ofSeconds(2);
  private static final int WATCH_CHECKS_BEFORE_OUTAGE = 3;

  private void startInformers() {
    for (WatchedResource r : WATCHED) {
      KindState k = new KindState(r);
      kinds.put(r, k);
      attempt(k);
    }
    worker.scheduleWithFixedDelay(this::checkWatches, WATCH_CHECK.toMillis(),
        WATCH_CHECK.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * Lists and watches {@code k}'s kind with a new informer, seeded with the objects the previous
   * one held (so the mesh does not lose them meanwhile, and the list arrives as changes). Worker
   * thread only.
   */
  private void attempt(KindState k) {
    if (closed) {
      return;
    }
    SharedIndexInformer<? extends HasMetadata> previous = informers.get(k.resource);
    SharedIndexInformer<? extends HasMetadata> next =
        informerFor(watchingClient, k.resource, resync);
    if (previous != null) {
      seed(next, previous.getStore().list());
      previous.stop();
    }
    // Retries are ours (jittered, logged once per outage), not Fabric8's.
    next.exceptionHandler((started, t) -> false);
    next.addEventHandler(new ChangeHandler());
    k.attempting = true;
    k.notWatching = 0;
    informers.put(k.resource, next);
    CompletableFuture<Void> started;
    try {
      started = next.start().toCompletableFuture();
    } catch (RuntimeException e) {
      started = CompletableFuture.failedFuture(e);
    }
    started.whenCompleteAsync((v, t) -> listed(k, next, t), worker);
  }

  @SuppressWarnings("unchecked")
  private static <T extends HasMetadata> void seed(SharedIndexInformer<T> informer,
      List<? extends HasMetadata> objects) {
    informer.initialState(objects.stream().map(o -> (T) o));
  }

  /** The outcome of {@code informer}'s list and watch. Worker thread only. */
  private void listed(KindState k, SharedIndexInformer<? extends HasMetadata> informer, Throwable t) {
    if (closed || informers.get(k.resource) != informer) {
      informer.stop();
      return;
    }
    k.attempting = false;
    WatchedResource r = k.resource;
    if (t == null) {
      k.failures = 0;
      k.listed = true;
      informer.stopped().whenCompleteAsync((v, e) -> watchEnded(k, informer, e), worker);
      if (!syncedFuture.isDone()) {
        maybeSynced();
      } else {
        changed();
      }
      return;
    }
    informer.stop();
    KubernetesClientException kce = clientException(t);
    if (!k.listed && r.optional() && kce != null && kce.getCode() == 404) {
      log.warn(
          "{} is not served by the API server (is its CRD installed?); going on without {};"
              + " restart after installing it",
          r,
          r.plural());
      informers.remove(r);
      synchronized (missing) {
        missing.add(r);
      }
      maybeSynced();
      return;
    }
    failed(k, "cannot list " + r.plural() + " (" + r.apiVersion() + "): " + ApiRetry.describe(t)
        + (kce != null && kce.getCode() == 403
            ? " — does the service account have get/list/watch on it? (see"
                + " KubernetesConfigSource.WATCHED)"
            : ""));
  }

  /** A listed kind's informer stopped: Fabric8 gave up its watch. Worker thread only. */
  private void watchEnded(KindState k, SharedIndexInformer<? extends HasMetadata> informer,
      Throwable t) {
    if (closed || t == null || informers.get(k.resource) != informer) {
      return; // stopped by us
    }
    failed(k, "the watch on " + k.resource.plural() + " ended: " + ApiRetry.describe(t));
  }

  private void failed(KindState k, String reason) {
    k.failures++;
    k.attempting = true;
    lastFailure = reason;
    outage.failed(reason);
    long delay = retry.delay(k.failures).toMillis();
    log.debug("{}; next attempt in {} ms", reason, delay);
    try {
      worker.schedule(() -> attempt(k), delay, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // closed
    }
  }

  /** Completes {@link #synced()} once every kind is listed or left out. Worker thread only. */
  private void maybeSynced() {
    for (KindState k : kinds.values()) {
      if (!k.listed && informers.containsKey(k.resource)) {
        return;
      }
    }
    synced = true;
    try {
      rebuild();
    } catch (RuntimeException e) {
      log.error("Kubernetes configuration rebuild failed; keeping the current snapshot", e);
      out.reportTransientError("Kubernetes configuration rebuild failed: " + e);
      return; // the next change tries again; not synced meanwhile
    }
    firstSnapshotPublished();
  }

  /** Completes {@link #synced()} after the first successful rebuild. Worker thread only. */
  private void firstSnapshotPublished() {
    if (syncedFuture.isDone()) {
      return;
    }
    outage.recovered();
    log.info("listed the mesh's {} kinds from the Kubernetes API in {} ms", kinds.size() - missing.size(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - openedNanos));
    syncedFuture.complete(null);
  }

  /**
   * Notices watches that Fabric8 is re-establishing (the API went away after the list) and the
   * end of an outage: every kind listed and watched again. Worker thread only.
   */
  private void checkWatches() {
    if (closed) {
      return;
    }
    boolean healthy = true;
    for (KindState k : kinds.values()) {
      SharedIndexInformer<? extends HasMetadata> informer = informers.get(k.resource);
      if (informer == null) {
        continue; // not served
      }
      if (!k.listed || k.attempting) {
        healthy = false;
        continue;
      }
      if (watching(informer)) {
        boolean relist = k.notWatching > 0 && outage.ongoing();
        k.notWatching = 0;
        if (relist) {
          // Back after an outage: list again, so that no change made meanwhile is missed
          // whether or not the server could replay it on the resumed watch.
          attempt(k);
          healthy = false;
        }
        continue;
      }
      healthy = false;
      if (++k.notWatching == WATCH_CHECKS_BEFORE_OUTAGE) {
        lastFailure = "the watch on " + k.resource.plural() + " is down; reconnecting";
        outage.failed(lastFailure);
      }
    }
    if (healthy && syncedFuture.isDone()) {
      outage.recovered();
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

  private static boolean watching(SharedIndexInformer<? extends HasMetadata> informer) {
    try {
      return informer.isWatching();
    } catch (RuntimeException e) {
      return false; // Fabric8 7.5: isWatching() throws (Optional.of(null)) once its watch is gone
    }
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
      firstSnapshotPublished();
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

  /** How many API outages began (tests: one per outage, however many attempts failed). */
  int outageEpisodes() {
    try {
      return worker.submit(() -> outage.episodes()).get();
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
    syncedFuture.cancel(false);
    for (SharedIndexInformer<? extends HasMetadata> informer : informers.values()) {
      informer.stop();
    }
    worker.shutdownNow();
    if (watchingClient != null) {
      watchingClient.close();
    }
  }
}
