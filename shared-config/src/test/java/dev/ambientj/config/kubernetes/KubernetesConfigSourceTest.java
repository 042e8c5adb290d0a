package dev.ambientj.config.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.MeshTranslator;
import dev.ambientj.config.MeshYaml;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.kubernetes.KubernetesConfigSource.WatchedResource;
import dev.ambientj.config.model.Endpoint;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import dev.ambientj.testing.PausableTcpProxy;
import io.fabric8.istio.api.api.networking.v1alpha3.HTTPRouteDestination;
import io.fabric8.istio.api.networking.v1.VirtualService;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.dsl.MixedOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The Kubernetes source against Fabric8's mock API server in CRUD mode: what a user changes with
 * kubectl reaches the published snapshot.
 */
@EnableKubernetesMockClient(crud = true)
class KubernetesConfigSourceTest {
  private static final Duration BOUND = Duration.ofSeconds(15);
  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

  KubernetesClient client;
  KubernetesMockServer server;

  private final SnapshotPublisher publisher = new SnapshotPublisher();
  private final List<MeshSnapshot> published = new CopyOnWriteArrayList<>();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final List<String> errors = new CopyOnWriteArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closeables.reversed()) {
      c.close();
    }
    assertThat(errors).as("transient errors reported by the source").isEmpty();
  }

  private KubernetesConfigSource start() throws Exception {
    return start(Duration.ofMinutes(10));
  }

  private KubernetesConfigSource start(Duration resync) throws Exception {
    KubernetesConfigSource source =
        KubernetesConfigSource.start(
            client, publisher, new MeshTranslator(), resync, Duration.ofSeconds(30));
    closeables.add(source);
    closeables.add(publisher.subscribe(new dev.ambientj.config.SnapshotListener() {
      @Override
      public void onSnapshot(MeshSnapshot snapshot) {
        published.add(snapshot);
      }

      @Override
      public void onTransientError(String message) {
        errors.add(message);
      }
    }));
    return source;
  }

  // ---- the objects a user applies ----

  /** {@code kubectl apply} of YAML: every document created at the version the source watches. */
  private void apply(String yaml) {
    MeshYaml.Result r = MeshYaml.load(yaml, "test.yaml");
    assertThat(r.errors()).isEmpty();
    for (HasMetadata o : r.objects()) {
      create(o);
    }
  }

  /**
   * Creates {@code o} as the API server would store it, served at the watched version: Istio's
   * v1beta1/v1alpha3 and the Gateway API's v1beta1 share their v1 schema, and a real API server
   * converts between served versions (the mock server does not).
   */
  private void create(HasMetadata o) {
    GenericKubernetesResource g = SERIALIZATION.convertValue(o, GenericKubernetesResource.class);
    WatchedResource r = watched(g);
    g.setApiVersion(r.apiVersion());
    var op = resources(r);
    if (r.namespaced()) {
      String ns = g.getMetadata().getNamespace() == null ? "default" : g.getMetadata().getNamespace();
      g.getMetadata().setNamespace(ns);
      op.inNamespace(ns).resource(g).create();
    } else {
      op.resource(g).create();
    }
  }

  private static WatchedResource watched(HasMetadata o) {
    String api = o.getApiVersion();
    String group = api.contains("/") ? api.substring(0, api.indexOf('/')) : "";
    return KubernetesConfigSource.WATCHED.stream()
        .filter(r -> r.kind().equals(o.getKind()) && r.group().equals(group))
        .findFirst()
        .orElseThrow(() -> new AssertionError("not watched: " + o.getKind() + " " + api));
  }

  private MixedOperation<GenericKubernetesResource, ?, Resource<GenericKubernetesResource>>
      resources(WatchedResource r) {
    return client.genericKubernetesResources(
        new ResourceDefinitionContext.Builder()
            .withGroup(r.group())
            .withVersion(r.version())
            .withKind(r.kind())
            .withPlural(r.plural())
            .withNamespaced(r.namespaced())
            .build());
  }

  private WatchedResource resource(String kind, String group) {
    return KubernetesConfigSource.WATCHED.stream()
        .filter(r -> r.kind().equals(kind) && r.group().equals(group))
        .findFirst()
        .orElseThrow();
  }

  private static String namespace(String name) {
    return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n---\n";
  }

  private static String pod(String ns, String name, String ip, String app) {
    return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: %s
          namespace: %s
          labels:
            app: %s
        spec:
          nodeName: node-a
          serviceAccountName: %s
          containers:
          - name: app
            image: app
        status:
          phase: Running
          podIP: %s
          podIPs:
          - ip: %s
        ---
        """
        .formatted(name, ns, app, app, ip, ip);
  }

  private static String service(String ns, String name, String vip, String app) {
    return """
        apiVersion: v1
        kind: Service
        metadata:
          name: %s
          namespace: %s
        spec:
          clusterIP: %s
          selector:
            app: %s
          ports:
          - name: http
            port: 80
            targetPort: 8080
        ---
        """
        .formatted(name, ns, vip, app);
  }

  private static final String NODE =
      """
      apiVersion: v1
      kind: Node
      metadata:
        name: node-a
      status:
        addresses:
        - type: InternalIP
          address: 10.0.0.1
      ---
      """;

  private void eventually(String what, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime())
          .as("eventually: %s (transient errors: %s; current: %s)", what, errors, publisher.snapshot())
          .isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  private Optional<Workload> workload(String ns, String name) {
    return publisher.snapshot().workloads().stream()
        .filter(w -> w.namespace().equals(ns) && w.name().equals(name))
        .findFirst();
  }

  private Optional<Service> service(String ns, String name) {
    return publisher.snapshot().services().stream()
        .filter(s -> s.namespace().equals(ns) && s.name().equals(name))
        .findFirst();
  }

  // ---- the tests ----

  @Test
  void startReturnsWithTheClustersMeshPublished() throws Exception {
    apply(namespace("shop") + NODE + pod("shop", "web-1", "10.1.0.1", "web")
        + service("shop", "web", "10.96.0.10", "web"));
    start();
    MeshSnapshot s = publisher.snapshot();
    assertThat(s.version()).isPositive();
    assertThat(s.findNode("node-a")).isPresent();
    assertThat(s.workloads()).extracting(Workload::name).containsExactly("web-1");
    assertThat(s.services()).singleElement().satisfies(svc -> {
      assertThat(svc.hostname()).isEqualTo("web.shop.svc.cluster.local");
      assertThat(svc.endpoints()).hasSize(1);
    });
    assertThat(s.rejections()).isEmpty();
  }

  @Test
  void labelingTheNamespaceEnrollsItsExistingPodsWithoutAPodChange() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web")
        + pod("shop", "web-2", "10.1.0.2", "web"));
    start();
    assertThat(publisher.snapshot().workloads()).hasSize(2).noneMatch(Workload::enrolled);
    String podVersion =
        client.pods().inNamespace("shop").withName("web-1").get().getMetadata().getResourceVersion();

    client.namespaces().withName("shop")
        .edit(n -> { n.getMetadata().setLabels(Map.of(MeshTranslator.LABEL_DATAPLANE_MODE, "ambient")); return n; });
    eventually("both pods enrolled",
        () -> publisher.snapshot().workloads().stream().filter(Workload::enrolled).count() == 2);
    assertThat(client.pods().inNamespace("shop").withName("web-1").get().getMetadata().getResourceVersion())
        .as("the pod itself was not changed")
        .isEqualTo(podVersion);

    client.namespaces().withName("shop")
        .edit(n -> { n.getMetadata().setLabels(Map.of()); return n; });
    eventually("both pods un-enrolled",
        () -> publisher.snapshot().workloads().stream().noneMatch(Workload::enrolled));
  }

  @Test
  void aWaypointGatewayAndTheUseWaypointLabelBindTheService() throws Exception {
    apply(namespace("shop") + pod("shop", "reviews-1", "10.1.0.3", "reviews")
        + service("shop", "reviews", "10.96.0.11", "reviews"));
    start();
    assertThat(service("shop", "reviews").orElseThrow().waypoint()).isNull();

    apply("""
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata:
          name: waypoint
          namespace: shop
        spec:
          gatewayClassName: istio-waypoint
          listeners:
          - name: mesh
            port: 15008
            protocol: HBONE
        """);
    eventually("the waypoint is in the snapshot",
        () -> publisher.snapshot().findWaypoint(new WaypointRef("shop", "waypoint")).isPresent());
    assertThat(service("shop", "reviews").orElseThrow().waypoint())
        .as("not bound before the label").isNull();

    client.services().inNamespace("shop").withName("reviews")
        .edit(s -> { s.getMetadata().setLabels(Map.of(MeshTranslator.LABEL_USE_WAYPOINT, "waypoint")); return s; });
    eventually("the service uses the waypoint",
        () -> new WaypointRef("shop", "waypoint")
            .equals(service("shop", "reviews").orElseThrow().waypoint()));
  }

  private List<Integer> weights(String ns, String name) {
    VirtualService vs = publisher.snapshot().policies().virtualServices().stream()
        .filter(v -> v.getMetadata().getNamespace().equals(ns) && v.getMetadata().getName().equals(name))
        .findFirst().orElseThrow();
    return vs.getSpec().getHttp().get(0).getRoute().stream().map(HTTPRouteDestination::getWeight).toList();
  }

  @Test
  void editingAVirtualServicesWeightsChangesTheRouteSplit() throws Exception {
    apply(namespace("shop") + """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination: {host: reviews, subset: v1}
              weight: 90
            - destination: {host: reviews, subset: v2}
              weight: 10
        """);
    start();
    assertThat(weights("shop", "reviews")).containsExactly(90, 10);

    resources(resource("VirtualService", "networking.istio.io")).inNamespace("shop").withName("reviews")
        .edit(g -> {
          @SuppressWarnings("unchecked")
          var http = (List<Map<String, Object>>) ((Map<String, Object>) g.getAdditionalProperties().get("spec")).get("http");
          @SuppressWarnings("unchecked")
          var route = (List<Map<String, Object>>) http.get(0).get("route");
          route.get(0).put("weight", 50);
          route.get(1).put("weight", 50);
          return g;
        });
    eventually("the new split is published", () -> weights("shop", "reviews").equals(List.of(50, 50)));
  }

  @Test
  void deletingAPodRemovesItsWorkloadAndEndpoint() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web")
        + pod("shop", "web-2", "10.1.0.2", "web") + service("shop", "web", "10.96.0.10", "web"));
    start();
    assertThat(service("shop", "web").orElseThrow().endpoints()).hasSize(2);
    String uid = workload("shop", "web-1").orElseThrow().uid();

    client.pods().inNamespace("shop").withName("web-1").delete();
    eventually("web-1 is gone", () -> workload("shop", "web-1").isEmpty());
    assertThat(publisher.snapshot().findWorkloadByUid(uid)).isEmpty();
    assertThat(service("shop", "web").orElseThrow().endpoints())
        .extracting(Endpoint::workloadUid)
        .containsExactly(workload("shop", "web-2").orElseThrow().uid());
  }

  @Test
  void aBadObjectIsRejectedAloneAndTheRestApplies() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    start();
    apply("""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: bad
          namespace: shop
        spec:
          action: DENYY
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: good
          namespace: shop
        spec:
          action: DENY
          rules:
          - from:
            - source:
                namespaces: [blocked]
        """ + "---\n" + pod("shop", "web-2", "10.1.0.2", "web"));
    eventually("the good policy and the new pod apply",
        () -> publisher.snapshot().policies().authorizationPolicies().size() == 1
            && workload("shop", "web-2").isPresent());
    MeshSnapshot s = publisher.snapshot();
    assertThat(s.policies().authorizationPolicies()).extracting(p -> p.getMetadata().getName())
        .containsExactly("good");
    assertThat(s.rejections()).singleElement().satisfies(r -> {
      assertThat(r.kind()).isEqualTo("AuthorizationPolicy");
      assertThat(r.namespace()).isEqualTo("shop");
      assertThat(r.name()).isEqualTo("bad");
      assertThat(r.toString()).contains("spec.action").contains("DENYY");
    });
    assertThat(s.workloads()).hasSize(2);
  }

  @Test
  void resyncsThatChangeNothingPublishNothing() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    KubernetesConfigSource source = start(Duration.ofMillis(100));
    long version = publisher.snapshot().version();
    long rebuilds = source.rebuilds();
    Thread.sleep(800); // several resync periods
    assertThat(publisher.snapshot().version()).isEqualTo(version);
    assertThat(source.rebuilds()).as("resyncs are not even translated").isEqualTo(rebuilds);
    assertThat(published).hasSize(1);

    // A change still goes through after the resyncs.
    apply(pod("shop", "web-2", "10.1.0.2", "web"));
    eventually("the new pod", () -> workload("shop", "web-2").isPresent());
  }

  @Test
  void anEmptyClusterStillPublishesAFirstSnapshot() throws Exception {
    start();
    assertThat(publisher.snapshot().version()).as("published, not the publisher's initial empty one")
        .isPositive();
    assertThat(publisher.snapshot().workloads()).isEmpty();
  }

  @Test
  void aChangeTheMeshDoesNotReadIsTranslatedButNotPublished() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    KubernetesConfigSource source = start();
    long version = publisher.snapshot().version();
    long rebuilds = source.rebuilds();

    client.pods().inNamespace("shop").withName("web-1")
        .edit(p -> { p.getMetadata().setAnnotations(Map.of("example.com/note", "irrelevant")); return p; });
    eventually("the change is translated", () -> source.rebuilds() > rebuilds);
    assertThat(publisher.snapshot().version()).isEqualTo(version);

    client.pods().inNamespace("shop").withName("web-1")
        .edit(p -> { p.getMetadata().setLabels(Map.of("app", "web", "version", "v2")); return p; });
    eventually("a label change is published",
        () -> "v2".equals(workload("shop", "web-1").orElseThrow().labels().get("version")));
    assertThat(publisher.snapshot().version()).isGreaterThan(version);
  }

  @Test
  void aBurstOfChangesIsPublishedAsOneSnapshotWithAllOfThem() throws Exception {
    apply(namespace("shop"));
    start();
    int before = published.size();
    StringBuilder yaml = new StringBuilder();
    for (int i = 1; i <= 50; i++) {
      yaml.append(pod("shop", "web-" + i, "10.1.0." + i, "web"));
    }
    apply(yaml.toString());
    eventually("all 50 pods", () -> publisher.snapshot().workloads().size() == 50);
    // Fewer snapshots than changes (each create is one change; a rebuild waits for a quiet
    // 50 ms, at most 100 ms), and every one of them a consistent whole.
    assertThat(published.size() - before).isBetween(1, 49);
    assertThat(published.subList(before, published.size()))
        .allSatisfy(s -> assertThat(s.workloads()).allMatch(w -> w.namespace().equals("shop")));
  }

  @Test
  void aKindWhoseCrdIsNotInstalledIsLeftOutAndTheRestWorks() throws Exception {
    server.expect().get().withPath("/apis/security.istio.io/v1/authorizationpolicies")
        .andReturn(404, Map.of("kind", "Status", "apiVersion", "v1", "status", "Failure",
            "reason", "NotFound", "code", 404))
        .always();
    server.expect().get().withPath("/apis/security.istio.io/v1/authorizationpolicies?resourceVersion=0")
        .andReturn(404, Map.of("kind", "Status", "apiVersion", "v1", "status", "Failure",
            "reason", "NotFound", "code", 404))
        .always();
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    KubernetesConfigSource source = start();
    assertThat(source.missingResources()).extracting(WatchedResource::kind)
        .containsExactly("AuthorizationPolicy");
    assertThat(publisher.snapshot().workloads()).hasSize(1);
    apply(pod("shop", "web-2", "10.1.0.2", "web"));
    eventually("changes still apply", () -> workload("shop", "web-2").isPresent());
  }

  @Test
  void aProxyCanWatchTheClusterDirectly() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    SnapshotPublisher proxy = new SnapshotPublisher();
    try (AutoCloseable source =
        dev.ambientj.config.ProxyConfigSources.startKubernetes(client, proxy, Duration.ofSeconds(30))) {
      assertThat(proxy.snapshot().workloads()).extracting(Workload::name).containsExactly("web-1");
      apply(pod("shop", "web-2", "10.1.0.2", "web"));
      eventually("the proxy sees the new pod",
          () -> proxy.snapshot().workloads().stream().anyMatch(w -> w.name().equals("web-2")));
    }
  }

  // ---- the seed examples: the API and the files give one mesh ----

  private static final String SEED_WORKLOADS =
      """
      apiVersion: v1
      kind: Namespace
      metadata:
        name: production
        labels:
          istio.io/dataplane-mode: ambient
      ---
      apiVersion: v1
      kind: Namespace
      metadata:
        name: istio-system
      ---
      """
          + NODE
          + pod("production", "payment-v1", "10.2.0.1", "payment-service").replace("  labels:\n", "  labels:\n    version: v1\n")
          + pod("production", "payment-v2", "10.2.0.2", "payment-service").replace("  labels:\n", "  labels:\n    version: v2\n")
          + pod("production", "api-gateway", "10.2.0.3", "api-gateway")
          + pod("production", "payment-waypoint-abc", "10.2.0.9", "payment-waypoint")
              .replace("  labels:\n", "  labels:\n    gateway.networking.k8s.io/gateway-name: payment-waypoint\n")
          + service("production", "payment-service", "10.96.1.1", "payment-service")
          + pod("utility-services", "tool", "10.3.0.1", "tool");

  private static Path seedExamples() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("shared").resolve("seed-examples"))) {
      dir = dir.getParent();
    }
    assertThat(dir).as("a parent holding shared/seed-examples").isNotNull();
    return dir.resolve("shared").resolve("seed-examples");
  }

  @Test
  void theSeedExamplesThroughTheApiGiveTheSameMeshAsFromFiles() throws Exception {
    StringBuilder yaml = new StringBuilder(SEED_WORKLOADS);
    try (var files = Files.list(seedExamples())) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
        yaml.append("---\n").append(Files.readString(f)).append('\n');
      }
    }
    MeshYaml.Result fromFiles = MeshYaml.load(yaml.toString(), "seed.yaml");
    assertThat(fromFiles.errors()).isEmpty();
    MeshSnapshot expected = new MeshTranslator().translate(fromFiles.objects());
    assertThat(expected.policies().virtualServices()).isNotEmpty();
    assertThat(expected.policies().localRateLimits()).isNotEmpty();
    assertThat(expected.policies().notApplicable()).isNotEmpty();
    assertThat(expected.waypoints()).isNotEmpty();

    apply(yaml.toString());
    start();
    MeshSnapshot actual = publisher.snapshot();

    assertThat(workloads(actual)).isEqualTo(workloads(expected));
    assertThat(services(actual)).isEqualTo(services(expected));
    assertThat(sorted(actual.waypoints())).isEqualTo(sorted(expected.waypoints()));
    assertThat(actual.nodes()).isEqualTo(expected.nodes());
    assertThat(sorted(actual.rejections())).isEqualTo(sorted(expected.rejections()));
    var a = actual.policies();
    var e = expected.policies();
    assertThat(specs(a.virtualServices())).isEqualTo(specs(e.virtualServices()));
    assertThat(specs(a.destinationRules())).isEqualTo(specs(e.destinationRules()));
    assertThat(specs(a.authorizationPolicies())).isEqualTo(specs(e.authorizationPolicies()));
    assertThat(specs(a.peerAuthentications())).isEqualTo(specs(e.peerAuthentications()));
    assertThat(sorted(a.localRateLimits())).isEqualTo(sorted(e.localRateLimits()));
    assertThat(sorted(a.notApplicable())).isEqualTo(sorted(e.notApplicable()));
  }

  /** Workloads by namespace/name, with the API server's uid replaced by the file form. */
  private static Map<String, Workload> workloads(MeshSnapshot s) {
    return s.workloads().stream().collect(Collectors.toMap(
        w -> w.namespace() + "/" + w.name(),
        w -> new Workload("Kubernetes//Pod/" + w.namespace() + "/" + w.name(), w.name(), w.namespace(),
            w.serviceAccount(), w.trustDomain(), w.node(), w.addresses(), w.labels(), w.enrolled(),
            w.protocol(), w.waypoint(), w.healthy(), w.workloadName(), w.canonicalName(),
            w.canonicalRevision())));
  }

  /** Services by hostname, endpoints named by workload namespace/name rather than uid. */
  private static Map<String, String> services(MeshSnapshot s) {
    return s.services().stream().collect(Collectors.toMap(Service::hostname, svc -> {
      List<String> endpoints = svc.endpoints().stream()
          .map(ep -> s.findWorkloadByUid(ep.workloadUid()).map(w -> w.namespace() + "/" + w.name()).orElse("?")
              + " " + ep.toString().replace(ep.workloadUid(), ""))
          .sorted().toList();
      return svc.vips() + " " + svc.ports() + " " + svc.waypoint() + " " + endpoints;
    }));
  }

  private static <T> List<String> sorted(List<T> items) {
    return items.stream().map(Object::toString).sorted().toList();
  }

  private static Map<String, Object> specs(List<? extends HasMetadata> objects) {
    return objects.stream().collect(Collectors.toMap(
        o -> o.getKind() + " " + o.getMetadata().getNamespace() + "/" + o.getMetadata().getName(),
        o -> SERIALIZATION.convertValue(o, GenericKubernetesResource.class).getAdditionalProperties().get("spec")));
  }

  // ---- a slow or absent API server ----

  /** Short delays: the test waits for the retries, not for client-go's 30 s cap. */
  private static final ApiRetry FAST_RETRY =
      ApiRetry.between(Duration.ofMillis(200), Duration.ofSeconds(1));

  /** A client of the mock server through {@code proxy}, with 3 s request timeouts (Fabric8's are 10 s). */
  private KubernetesClient through(PausableTcpProxy proxy) {
    KubernetesClient c = new KubernetesClientBuilder().withConfig(
        new ConfigBuilder(client.getConfiguration())
            .withMasterUrl(client.getMasterUrl().getProtocol() + "://127.0.0.1:" + proxy.port())
            .withRequestTimeout(3000).withConnectionTimeout(3000).build()).build();
    closeables.add(c);
    return c;
  }

  private PausableTcpProxy proxy() throws Exception {
    PausableTcpProxy proxy = PausableTcpProxy.start(server.getHostName(), server.getPort());
    closeables.add(proxy);
    return proxy;
  }

  private KubernetesConfigSource open(KubernetesClient c) {
    KubernetesConfigSource source =
        KubernetesConfigSource.open(c, publisher, new MeshTranslator(), Duration.ofMinutes(10), FAST_RETRY);
    closeables.add(source);
    return source;
  }

  @Test
  void anApiServerThatDoesNotAnswerAtStartIsRetriedUntilItDoes() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    PausableTcpProxy proxy = proxy();
    proxy.blackHole();
    KubernetesConfigSource source = open(through(proxy));
    eventually("the lists time out and are tried again",
        () -> source.outageEpisodes() == 1 && proxy.heldConnections() > 10);
    assertThat(source.synced()).as("not synced while the API does not answer").isNotDone();
    assertThat(source.lastFailure()).startsWith("cannot list ");
    assertThat(publisher.snapshot().workloads()).as("nothing published meanwhile").isEmpty();

    proxy.resume();
    source.synced().get(BOUND.toSeconds(), TimeUnit.SECONDS);
    assertThat(workload("shop", "web-1")).as("the mesh once the API answers").isPresent();
    assertThat(source.outageEpisodes()).as("one outage, logged once").isEqualTo(1);
  }

  @Test
  void changesMadeWhileTheApiWasAwayArriveOnceItIsBack() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web")
        + pod("shop", "web-2", "10.1.0.2", "web"));
    PausableTcpProxy proxy = proxy();
    KubernetesConfigSource source = open(through(proxy));
    source.synced().get(BOUND.toSeconds(), TimeUnit.SECONDS);
    long version = publisher.snapshot().version();
    int episodes = source.outageEpisodes();

    proxy.blackHole();
    eventually("the watches try to come back", () -> proxy.heldConnections() > 0);
    apply(pod("shop", "web-3", "10.1.0.3", "web"));
    client.pods().inNamespace("shop").withName("web-1").delete();
    eventually("the outage is noticed", () -> source.outageEpisodes() == episodes + 1);
    assertThat(publisher.snapshot().version()).as("the last mesh stays in force").isEqualTo(version);
    assertThat(workload("shop", "web-1")).isPresent();

    proxy.resume();
    eventually("the pod created during the outage is in the mesh", () -> workload("shop", "web-3").isPresent());
    eventually("the pod deleted during the outage is gone", () -> workload("shop", "web-1").isEmpty());
    assertThat(workload("shop", "web-2")).isPresent();
    assertThat(source.outageEpisodes()).as("one outage, logged once").isEqualTo(episodes + 1);
  }

  @Test
  void aForbiddenListIsRetriedUntilTheRbacAllowsIt() throws Exception {
    apply(namespace("shop") + pod("shop", "web-1", "10.1.0.1", "web"));
    for (String path : List.of("/api/v1/pods", "/api/v1/pods?resourceVersion=0")) {
      server.expect().get().withPath(path)
          .andReturn(403, Map.of("kind", "Status", "apiVersion", "v1", "status", "Failure",
              "reason", "Forbidden", "code", 403,
              "message", "pods is forbidden: User \"system:serviceaccount:x:y\" cannot list"))
          .times(3);
    }
    KubernetesConfigSource source = open(client);
    source.synced().get(BOUND.toSeconds(), TimeUnit.SECONDS);
    assertThat(workload("shop", "web-1")).isPresent();
    assertThat(source.lastFailure()).contains("pods", "HTTP 403", "get/list/watch");
  }
}
