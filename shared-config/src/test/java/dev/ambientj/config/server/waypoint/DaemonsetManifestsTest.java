package dev.ambientj.config.server.waypoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.kubernetes.KubernetesConfigSource;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.gatewayapi.v1.GatewayClass;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every manifest in {@code daemonset-manifests/} parses, and says what the code expects. */
class DaemonsetManifestsTest {

  private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
  private static final String NS = "ambientj-system";
  private static final String IMAGE = "ambientj";
  private static Path dir;
  private static List<HasMetadata> objects;

  @BeforeAll
  static void load() throws IOException {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !Files.isDirectory(p.resolve("daemonset-manifests"))) {
      p = p.getParent();
    }
    assertThat(p).as("a parent folder holding daemonset-manifests/").isNotNull();
    dir = p.resolve("daemonset-manifests");
    objects = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        if (f.getFileName().toString().equals("kustomization.yaml")) {
          continue;
        }
        for (String doc : Files.readString(f).split("(?m)^---\\s*$")) {
          if (doc.lines().anyMatch(l -> !l.isBlank() && !l.startsWith("#"))) {
            Object o = SERIALIZATION.unmarshal(doc);
            assertThat(o).as("a document of %s", f.getFileName()).isInstanceOf(HasMetadata.class);
            objects.add((HasMetadata) o);
          }
        }
      }
    }
  }

  private static <T extends HasMetadata> T one(Class<T> type, String name) {
    List<T> found =
        objects.stream()
            .filter(type::isInstance)
            .map(type::cast)
            .filter(o -> o.getMetadata().getName().equals(name))
            .toList();
    assertThat(found).as("%s %s", type.getSimpleName(), name).hasSize(1);
    return found.get(0);
  }

  @Test
  void kustomizationListsEveryFileAndOverridesTheImage() throws IOException {
    String k = Files.readString(dir.resolve("kustomization.yaml"));
    try (Stream<Path> files = Files.list(dir)) {
      files
          .map(f -> f.getFileName().toString())
          .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml"))
          .forEach(n -> assertThat(k).contains("- " + n));
    }
    assertThat(k).contains("images:").contains("name: " + IMAGE);
  }

  @Test
  void everyNamespacedObjectIsInTheSystemNamespaceAndEveryContainerUsesTheImage() {
    for (HasMetadata o : objects) {
      boolean clusterScoped =
          Set.of("Namespace", "ClusterRole", "ClusterRoleBinding", "GatewayClass")
              .contains(o.getKind());
      assertThat(o.getMetadata().getNamespace())
          .as("%s %s", o.getKind(), o.getMetadata().getName())
          .isEqualTo(clusterScoped ? null : NS);
    }
    assertThat(objects).anyMatch(o -> o.getKind().equals("Namespace") && o.getMetadata().getName().equals(NS));
    for (PodSpec spec :
        List.of(
            one(Deployment.class, "ambientj-config").getSpec().getTemplate().getSpec(),
            one(DaemonSet.class, "ztunnel").getSpec().getTemplate().getSpec(),
            one(DaemonSet.class, "ambientj-cni-node").getSpec().getTemplate().getSpec())) {
      Stream.concat(spec.getContainers().stream(), spec.getInitContainers().stream())
          .forEach(c -> assertThat(c.getImage()).as(c.getName()).isEqualTo(IMAGE));
    }
  }

  @Test
  void configServerServesXdsAndCaPortsAndSetsTheControllersEnvironment() {
    Service svc = one(Service.class, "ambientj-config");
    assertThat(svc.getSpec().getPorts()).extracting(ServicePort::getPort).containsExactlyInAnyOrder(15010, 15012);
    Deployment d = one(Deployment.class, "ambientj-config");
    assertThat(svc.getSpec().getSelector()).isEqualTo(d.getSpec().getSelector().getMatchLabels());
    Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
    assertThat(c.getArgs()).startsWith("config-server").contains("--waypoint-controller");
    assertThat(c.getEnv()).extracting(EnvVar::getName).containsAll(WaypointSettings.ENV);
    String xds =
        c.getEnv().stream().filter(e -> e.getName().equals(WaypointSettings.XDS_ENV)).findFirst().orElseThrow().getValue();
    assertThat(xds).as("waypoints use the TLS port").isEqualTo("ambientj-config." + NS + ".svc:15012");
    assertThat(d.getSpec().getTemplate().getSpec().getServiceAccountName()).isEqualTo("ambientj-config");
    // TLS on 15012 with a certificate naming the Service the proxies dial
    List<String> args = c.getArgs();
    assertThat(args.get(args.indexOf("--listen-tls") + 1)).isEqualTo("0.0.0.0:15012");
    assertThat(args).contains("--tls-server-name", "ambientj-config." + NS + ".svc");
    assertThat(args.get(args.indexOf("--ca-trusted-node-accounts") + 1)).isEqualTo(NS + "/ztunnel");    assertThat(d.getSpec().getTemplate().getMetadata().getAnnotations())
        .as("Prometheus scrapes the monitoring port, as istiod's")
        .containsEntry("prometheus.io/scrape", "true").containsEntry("prometheus.io/port", "15014")
        .containsEntry("prometheus.io/path", "/metrics");
    assertThat(args.get(args.indexOf("--listen") + 1)).as("monitoring follows --listen: 0.0.0.0:15014")
        .startsWith("0.0.0.0:");
    assertThat(c.getPorts()).anyMatch(p -> p.getContainerPort() == 15014);
  }

  @Test
  void ztunnelHasItsCapabilitiesSocketProbeAndSurgingRollout() {
    DaemonSet ds = one(DaemonSet.class, "ztunnel");
    PodSpec spec = ds.getSpec().getTemplate().getSpec();
    Container c = spec.getContainers().get(0);
    assertThat(c.getArgs()).startsWith("ztunnel").contains("--xds", "ambientj-config." + NS + ".svc:15012", "--node", "$(NODE_NAME)");
    assertThat(c.getSecurityContext().getCapabilities().getAdd()).containsExactlyInAnyOrder("NET_ADMIN", "SYS_ADMIN", "NET_RAW");
    assertThat(c.getSecurityContext().getPrivileged()).isFalse();
    assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz/ready");
    assertThat(c.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(15021);
    assertThat(c.getEnv())
        .filteredOn(e -> e.getValueFrom() != null)
        .extracting(e -> e.getName() + "=" + e.getValueFrom().getFieldRef().getFieldPath())
        .contains("NODE_NAME=spec.nodeName", "POD_NAME=metadata.name", "POD_NAMESPACE=metadata.namespace");
    assertThat(c.getVolumeMounts()).anyMatch(m -> m.getMountPath().equals("/var/run/ambientj"));
    long grace = spec.getTerminationGracePeriodSeconds();
    assertThat(grace).as("room for a drain deadline of grace - 5 s").isGreaterThan(10);
    assertThat(c.getEnv()).anyMatch(e -> e.getName().equals("TERMINATION_GRACE_PERIOD_SECONDS") && e.getValue().equals(Long.toString(grace)));
    assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
    assertThat(ds.getSpec().getTemplate().getMetadata().getAnnotations())
        .as("Prometheus scrapes ztunnel's metrics port, as Istio's chart says")
        .containsEntry("prometheus.io/scrape", "true").containsEntry("prometheus.io/port", "15020")
        .containsEntry("prometheus.io/path", "/stats/prometheus");
    assertThat(c.getPorts()).anyMatch(p -> p.getContainerPort() == 15020);
    var rolling = ds.getSpec().getUpdateStrategy().getRollingUpdate();
    assertThat(rolling.getMaxUnavailable().getIntVal()).isZero();
    assertThat(rolling.getMaxSurge().getIntVal()).isEqualTo(1);
  }

  @Test
  void cniAgentIsPrivilegedOnTheHostNetworkWithTheCniDirectories() {
    PodSpec spec = one(DaemonSet.class, "ambientj-cni-node").getSpec().getTemplate().getSpec();
    assertThat(spec.getHostNetwork()).isTrue();
    Container c = spec.getContainers().get(0);
    assertThat(c.getArgs()).startsWith("cni-agent").contains("--socket");
    assertThat(c.getSecurityContext().getPrivileged()).isTrue();
    Set<String> hostPaths =
        spec.getVolumes().stream().filter(v -> v.getHostPath() != null).map(v -> v.getHostPath().getPath()).collect(Collectors.toSet());
    assertThat(hostPaths).contains("/opt/cni/bin", "/etc/cni/net.d", "/var/run/ambientj");
    assertThat(spec.getInitContainers()).as("the agent installs the plugin (CniPluginPayloadManifestTest)").isEmpty();
    // the agent chains the plugin into the host's conflist, through the mounts above
    List<String> args = c.getArgs();
    assertThat(args.get(args.indexOf("--cni-net-dir") + 1)).isEqualTo(mountOf(c, "cni-net"));
    assertThat(args.get(args.indexOf("--cni-bin-dir") + 1)).isEqualTo(mountOf(c, "cni-bin"));
    // pods running before the agent are found among the host's processes, for its own node
    assertThat(args.get(args.indexOf("--host-proc") + 1)).isEqualTo(mountOf(c, "host-proc"));
    assertThat(hostPaths).contains("/proc");
    assertThat(c.getEnv()).anyMatch(e -> e.getName().equals("NODE_NAME") && e.getValueFrom() != null
        && "spec.nodeName".equals(e.getValueFrom().getFieldRef().getFieldPath()));
  }

  private static String mountOf(Container c, String volume) {
    return c.getVolumeMounts().stream().filter(m -> m.getName().equals(volume)).findFirst()
        .orElseThrow(() -> new AssertionError("no mount of volume " + volume)).getMountPath();
  }

  @Test
  void ztunnelRunsInPodAndSharesTheZdsSocketDirectoryWithTheCniAgent() {
    PodSpec zt = one(DaemonSet.class, "ztunnel").getSpec().getTemplate().getSpec();
    PodSpec cni = one(DaemonSet.class, "ambientj-cni-node").getSpec().getTemplate().getSpec();
    assertThat(zt.getContainers().get(0).getArgs()).contains("--inpod");
    // ztunnel's default ZDS path (Istio's INPOD_UDS); the agent's --zds-socket, if given, is it
    String socketDir = "/var/run/ztunnel";
    List<String> agentArgs = cni.getContainers().get(0).getArgs();
    int i = agentArgs.indexOf("--zds-socket");
    if (i >= 0) {
      assertThat(agentArgs.get(i + 1)).isEqualTo(socketDir + "/ztunnel.sock");
    }
    for (PodSpec spec : List.of(zt, cni)) {
      String volume = spec.getVolumes().stream()
          .filter(v -> v.getHostPath() != null && v.getHostPath().getPath().equals(socketDir))
          .map(io.fabric8.kubernetes.api.model.Volume::getName)
          .findFirst().orElse(null);
      assertThat(volume).as("a hostPath volume of " + socketDir).isNotNull();
      assertThat(spec.getContainers().get(0).getVolumeMounts())
          .anyMatch(m -> m.getName().equals(volume) && m.getMountPath().equals(socketDir));
    }
  }

  @Test
  void cniAgentWatchesTheApiAndMayAnnotatePods() {
    Container c = one(DaemonSet.class, "ambientj-cni-node").getSpec().getTemplate().getSpec()
        .getContainers().get(0);
    assertThat(c.getArgs()).contains("--kubernetes").doesNotContain("--config");
    ClusterRoleBinding binding = one(ClusterRoleBinding.class, "ambientj-cni");
    assertThat(binding.getSubjects()).anyMatch(s -> s.getName().equals("ambientj-cni") && NS.equals(s.getNamespace()));
    List<PolicyRule> rules = one(ClusterRole.class, binding.getRoleRef().getName()).getRules();
    for (KubernetesConfigSource.WatchedResource r : KubernetesConfigSource.WATCHED) {
      for (String verb : KubernetesConfigSource.VERBS) {
        assertThat(rules)
            .as("a rule granting %s on %s in group '%s'", verb, r.plural(), r.group())
            .anyMatch(rule -> grants(rule, r.group(), r.plural(), verb));
      }
    }
    assertThat(rules).as("patching pods (ambient.istio.io/redirection)")
        .anyMatch(rule -> grants(rule, "", "pods", "patch"));
  }

  @Test
  void waypointGatewayClassExists() {
    assertThat(one(GatewayClass.class, WaypointController.GATEWAY_CLASS).getSpec().getControllerName()).isNotBlank();
  }

  @Test
  void configServerRbacCoversEveryInformerAndWriteOfTheController() {
    ClusterRoleBinding binding = one(ClusterRoleBinding.class, "ambientj-config");
    assertThat(binding.getSubjects()).anyMatch(s -> s.getName().equals("ambientj-config") && NS.equals(s.getNamespace()));
    List<PolicyRule> rules = one(ClusterRole.class, binding.getRoleRef().getName()).getRules();
    for (WaypointController.RbacNeed need : WaypointController.NEEDED) {
      for (String verb : need.verbs()) {
        assertThat(rules)
            .as("a rule granting %s on %s in group '%s'", verb, need.resource(), need.group())
            .anyMatch(
                r ->
                    (r.getApiGroups().contains(need.group()) || r.getApiGroups().contains("*"))
                        && (r.getResources().contains(need.resource()) || r.getResources().contains("*"))
                        && (r.getVerbs().contains(verb) || r.getVerbs().contains("*")));
      }
    }
  }

  @Test
  void ztunnelReachesTheConfigServerOverTlsWithItsProjectedTokenAndTheMeshRoot() {
    PodSpec spec = one(DaemonSet.class, "ztunnel").getSpec().getTemplate().getSpec();
    Container c = spec.getContainers().get(0);
    List<String> args = c.getArgs();
    String server = "ambientj-config." + NS + ".svc:15012";
    assertThat(args.get(args.indexOf("--xds") + 1)).isEqualTo(server);
    assertThat(args.get(args.indexOf("--ca-address") + 1)).isEqualTo(server);
    String token = args.get(args.indexOf("--ca-token-file") + 1);
    String root = args.get(args.indexOf("--ca-root-cert") + 1);
    var tokenVolume = spec.getVolumes().stream().filter(v -> v.getProjected() != null).findFirst()
        .orElseThrow(() -> new AssertionError("a projected token volume"));
    var sa = tokenVolume.getProjected().getSources().get(0).getServiceAccountToken();
    assertThat(sa.getAudience()).isEqualTo(dev.ambientj.config.ca.KubernetesTokenAuthenticator.AUDIENCE);
    assertThat(token).isEqualTo(mountOf(c, tokenVolume.getName()) + "/" + sa.getPath());
    var rootVolume = spec.getVolumes().stream().filter(v -> v.getConfigMap() != null).findFirst()
        .orElseThrow(() -> new AssertionError("a ConfigMap volume with the mesh root"));
    assertThat(rootVolume.getConfigMap().getName()).isEqualTo(dev.ambientj.config.ca.KubernetesCaRoot.CONFIG_MAP);
    assertThat(root).isEqualTo(mountOf(c, rootVolume.getName()) + "/" + dev.ambientj.config.ca.KubernetesCaRoot.ROOT_CERT_KEY);
  }

  @Test
  void configServerRbacCoversTheCaRootAndTokenReviews() {
    ClusterRoleBinding binding = one(ClusterRoleBinding.class, "ambientj-config");
    List<PolicyRule> cluster = one(ClusterRole.class, binding.getRoleRef().getName()).getRules();
    List<dev.ambientj.config.ca.ApiPermission> clusterWide = new ArrayList<>();
    clusterWide.addAll(dev.ambientj.config.ca.KubernetesCaRoot.PERMISSIONS);
    clusterWide.addAll(dev.ambientj.config.ca.KubernetesTokenAuthenticator.PERMISSIONS);
    for (var p : clusterWide) {
      for (String verb : p.verbs()) {
        assertThat(cluster).as("a ClusterRole rule granting %s on %s in group '%s'", verb, p.resource(), p.group())
            .anyMatch(r -> grants(r, p.group(), p.resource(), verb));
      }
    }
    // The CA root's Secret: in the config server's own namespace only.
    io.fabric8.kubernetes.api.model.rbac.RoleBinding rb = one(io.fabric8.kubernetes.api.model.rbac.RoleBinding.class, "ambientj-config");
    assertThat(rb.getSubjects()).anyMatch(s -> s.getName().equals("ambientj-config") && NS.equals(s.getNamespace()));
    List<PolicyRule> own = one(io.fabric8.kubernetes.api.model.rbac.Role.class, rb.getRoleRef().getName()).getRules();
    for (var p : dev.ambientj.config.ca.KubernetesCaRoot.OWN_NAMESPACE_PERMISSIONS) {
      for (String verb : p.verbs()) {
        assertThat(own).as("a Role rule granting %s on %s", verb, p.resource())
            .anyMatch(r -> grants(r, p.group(), p.resource(), verb));
      }
    }
    assertThat(cluster).as("secrets stay out of the ClusterRole")
        .noneMatch(r -> r.getResources().contains("secrets"));
  }

  @Test
  void configServerRbacCoversEveryResourceTheKubernetesSourceWatches() {
    ClusterRoleBinding binding = one(ClusterRoleBinding.class, "ambientj-config");
    List<PolicyRule> rules = one(ClusterRole.class, binding.getRoleRef().getName()).getRules();
    assertThat(KubernetesConfigSource.WATCHED).isNotEmpty();
    for (KubernetesConfigSource.WatchedResource r : KubernetesConfigSource.WATCHED) {
      for (String verb : KubernetesConfigSource.VERBS) {
        assertThat(rules)
            .as("a rule granting %s on %s in group '%s'", verb, r.plural(), r.group())
            .anyMatch(rule -> grants(rule, r.group(), r.plural(), verb));
      }
    }
  }

  private static boolean grants(PolicyRule r, String group, String resource, String verb) {
    return (r.getApiGroups().contains(group) || r.getApiGroups().contains("*"))
        && (r.getResources().contains(resource) || r.getResources().contains("*"))
        && (r.getVerbs().contains(verb) || r.getVerbs().contains("*"));
  }

  @Test
  void configServerRunsTheKubernetesSource() {
    Container c =
        one(Deployment.class, "ambientj-config").getSpec().getTemplate().getSpec().getContainers().get(0);
    assertThat(c.getArgs()).startsWith("config-server").contains("--kubernetes").doesNotContain("--config");
  }

  @Test
  void kubectlAcceptsTheManifests() throws Exception {
    Assumptions.assumeTrue(onPath("kubectl"), "kubectl is not on PATH");
    Run build = run("kubectl", "kustomize", dir.toString());
    assertThat(build.exit()).as(build.output()).isZero();
    assertThat(build.output()).contains("image: ambientj:dev").contains("kind: GatewayClass");
    // A client-side dry run still needs an API server for discovery; without one, say so.
    Run dry = run("kubectl", "apply", "--dry-run=client", "--validate=false", "--request-timeout=5s", "-k", dir.toString());
    Assumptions.assumeTrue(
        dry.exit() == 0 || !dry.output().contains("connection refused"),
        "kubectl apply --dry-run=client skipped: no API server reachable");
    assertThat(dry.exit()).as(dry.output()).isZero();
  }

  private record Run(int exit, String output) {}

  private static Run run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return new Run(-1, out + "\n(timed out)");
    }
    return new Run(p.exitValue(), out);
  }

  private static boolean onPath(String exe) {
    String path = System.getenv("PATH");
    return path != null
        && Stream.of(path.split(":")).anyMatch(d -> Files.isExecutable(Path.of(d, exe)));
  }
}
