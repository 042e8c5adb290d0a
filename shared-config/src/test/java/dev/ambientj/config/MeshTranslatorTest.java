package dev.ambientj.config;

import static dev.ambientj.config.Yaml.namespace;
import static dev.ambientj.config.Yaml.pod;
import static dev.ambientj.config.Yaml.service;
import static dev.ambientj.config.Yaml.translate;
import static dev.ambientj.config.Yaml.waypoint;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.WaypointRef;
import dev.ambientj.config.model.Workload;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class MeshTranslatorTest {
  static InetAddress ip(String s) {
    return InetAddress.ofLiteral(s);
  }

  static Workload workload(MeshSnapshot s, String ip) {
    return s.findWorkloadByAddress(ip(ip)).orElseThrow();
  }

  @Nested
  class Enrollment {
    @Test
    void namespaceLabelEnrollsItsPods() {
      MeshSnapshot s =
          translate(
              namespace("prod", "istio.io/dataplane-mode", "ambient")
                  + pod("prod", "a", "127.0.1.1"));
      Workload w = workload(s, "127.0.1.1");
      assertThat(w.enrolled()).isTrue();
      assertThat(w.protocol()).isEqualTo(TunnelProtocol.HBONE);
    }

    @Test
    void unlabeledNamespaceDoesNotEnroll() {
      MeshSnapshot s = translate(namespace("legacy") + pod("legacy", "a", "127.0.1.1"));
      assertThat(workload(s, "127.0.1.1").enrolled()).isFalse();
      assertThat(workload(s, "127.0.1.1").protocol()).isEqualTo(TunnelProtocol.NONE);
    }

    @Test
    void podLabelAmbientEnrollsOnePodOfAnUnenrolledNamespace() {
      MeshSnapshot s =
          translate(
              namespace("legacy")
                  + pod("legacy", "a", "127.0.1.1", "istio.io/dataplane-mode", "ambient")
                  + pod("legacy", "b", "127.0.1.2"));
      assertThat(workload(s, "127.0.1.1").enrolled()).isTrue();
      assertThat(workload(s, "127.0.1.2").enrolled()).isFalse();
    }

    @Test
    void podLabelNoneOptsOut() {
      MeshSnapshot s =
          translate(
              namespace("prod", "istio.io/dataplane-mode", "ambient")
                  + pod("prod", "a", "127.0.1.1", "istio.io/dataplane-mode", "none"));
      assertThat(workload(s, "127.0.1.1").enrolled()).isFalse();
    }

    @Test
    void hostNetworkPodsAreNeverEnrolled() {
      String yaml =
          namespace("prod", "istio.io/dataplane-mode", "ambient")
              + pod("prod", "a", "127.0.1.1", "istio.io/dataplane-mode", "ambient")
                  .replace("  nodeName: node-a", "  nodeName: node-a\n  hostNetwork: true");
      assertThat(workload(translate(yaml), "127.0.1.1").enrolled()).isFalse();
    }

    @Test
    void podsWithASidecarAreNeverEnrolled() {
      String yaml =
          namespace("prod", "istio.io/dataplane-mode", "ambient")
              + pod("prod", "a", "127.0.1.1")
                  .replace(
                      "  namespace: prod",
                      "  namespace: prod\n  annotations:\n    sidecar.istio.io/status: '{}'");
      assertThat(workload(translate(yaml), "127.0.1.1").enrolled()).isFalse();
    }

    @Test
    void namespaceDeclaredAfterItsPodsStillEnrollsThem() {
      MeshSnapshot s =
          translate(
              pod("prod", "a", "127.0.1.1")
                  + namespace("prod", "istio.io/dataplane-mode", "ambient"));
      assertThat(workload(s, "127.0.1.1").enrolled()).isTrue();
    }
  }

  @Nested
  class WorkloadFields {
    @Test
    void identityNodeAndCanonicalNames() {
      MeshSnapshot s =
          translate(pod("prod", "pay-0", "127.0.1.1", "app", "payment", "version", "v2"));
      Workload w = workload(s, "127.0.1.1");
      assertThat(w.uid()).isEqualTo("Kubernetes//Pod/prod/pay-0");
      assertThat(w.serviceAccount()).isEqualTo("sa-pay-0");
      assertThat(w.spiffeId()).isEqualTo("spiffe://cluster.local/ns/prod/sa/sa-pay-0");
      assertThat(w.node()).isEqualTo("node-a");
      assertThat(w.canonicalName()).isEqualTo("payment");
      assertThat(w.canonicalRevision()).isEqualTo("v2");
      assertThat(w.healthy()).isTrue();
      assertThat(w.labels()).containsEntry("app", "payment");
    }

    @Test
    void metadataUidIsUsedWhenPresentAndOwnerGivesTheWorkloadName() {
      String yaml =
          pod("prod", "web-7d9f-abcde", "127.0.1.1")
              .replace(
                  "  namespace: prod",
                  "  namespace: prod\n"
                      + "  uid: 1234-5678\n"
                      + "  ownerReferences:\n"
                      + "  - apiVersion: apps/v1\n"
                      + "    kind: ReplicaSet\n"
                      + "    name: web-7d9f\n"
                      + "    uid: rs\n"
                      + "    controller: true");
      Workload w = workload(translate(yaml), "127.0.1.1");
      assertThat(w.uid()).isEqualTo("1234-5678");
      assertThat(w.workloadName()).isEqualTo("web");
      assertThat(w.canonicalName()).isEqualTo("web");
      assertThat(w.canonicalRevision()).isEqualTo("latest");
    }

    @Test
    void notReadyOrPendingPodsAreUnhealthy() {
      String notReady =
          pod("prod", "a", "127.0.1.1")
              .replace(
                  "  phase: Running",
                  "  phase: Running\n  conditions:\n  - type: Ready\n    status: \"False\"");
      String pending = pod("prod", "b", "127.0.1.2").replace("phase: Running", "phase: Pending");
      MeshSnapshot s = translate(notReady + pending + pod("prod", "c", "127.0.1.3"));
      assertThat(workload(s, "127.0.1.1").healthy()).isFalse();
      assertThat(workload(s, "127.0.1.2").healthy()).isFalse();
      assertThat(workload(s, "127.0.1.3").healthy()).isTrue();
    }

    @Test
    void dualStackPodIpsAreAllIndexed() {
      String yaml =
          pod("prod", "a", "127.0.1.1")
              .replace(
                  "  podIP: 127.0.1.1",
                  "  podIP: 127.0.1.1\n  podIPs:\n  - ip: 127.0.1.1\n  - ip: ::1");
      MeshSnapshot s = translate(yaml);
      assertThat(workload(s, "127.0.1.1").addresses()).containsExactly(ip("127.0.1.1"), ip("::1"));
      assertThat(s.findWorkloadByAddress(ip("::1"))).isPresent();
    }
  }

  @Nested
  class WaypointBinding {
    final String base =
        namespace("prod")
            + waypoint("prod", "wp", "all")
            + pod(
                "prod",
                "wp-0",
                "127.0.9.1",
                "gateway.networking.k8s.io/gateway-name",
                "wp",
                "istio.io/dataplane-mode",
                "none");

    @Test
    void waypointAddressesAndIdentityComeFromItsPods() {
      MeshSnapshot s = translate(base);
      var wp = s.findWaypoint(new WaypointRef("prod", "wp")).orElseThrow();
      assertThat(wp.addresses()).containsExactly(ip("127.0.9.1"));
      assertThat(wp.serviceAccount()).isEqualTo("sa-wp-0");
      assertThat(wp.spiffeId()).isEqualTo("spiffe://cluster.local/ns/prod/sa/sa-wp-0");
      assertThat(wp.waypointFor()).isEqualTo("all");
      assertThat(s.findWaypointByAddress(ip("127.0.9.1"))).contains(wp);
      assertThat(workload(s, "127.0.9.1").waypoint()).as("a waypoint never uses itself").isNull();
    }

    @Test
    void waypointForDefaultsToServiceAndStatusAddressesAreTheFallback() {
      String yaml =
          waypoint("prod", "wp", null).replace("---\n", "")
              + "status:\n  addresses:\n  - type: IPAddress\n    value: 127.0.9.9\n";
      var wp = translate(yaml).findWaypoint(new WaypointRef("prod", "wp")).orElseThrow();
      assertThat(wp.waypointFor()).isEqualTo("service");
      assertThat(wp.addresses()).containsExactly(ip("127.0.9.9"));
      assertThat(wp.serviceAccount()).isEqualTo("wp");
    }

    @Test
    void namespaceLabelBindsServicesAndWorkloads() {
      MeshSnapshot s =
          translate(
              base.replace("name: prod\n", "name: prod\n  labels:\n    istio.io/use-waypoint: wp\n")
                  + pod("prod", "a", "127.0.1.1", "app", "a")
                  + service("prod", "a", "127.10.0.1", "a"));
      assertThat(workload(s, "127.0.1.1").waypoint()).isEqualTo(new WaypointRef("prod", "wp"));
      assertThat(s.findServiceByVip(ip("127.10.0.1")).orElseThrow().waypoint())
          .isEqualTo(new WaypointRef("prod", "wp"));
    }

    @Test
    void serviceAndPodLabelsWinOverTheNamespace() {
      String ns =
          namespace("prod", "istio.io/use-waypoint", "wp")
              + waypoint("prod", "wp", "all")
              + waypoint("prod", "other", "all");
      MeshSnapshot s =
          translate(
              ns
                  + pod("prod", "a", "127.0.1.1", "app", "a", "istio.io/use-waypoint", "other")
                  + pod("prod", "b", "127.0.1.2", "app", "b", "istio.io/use-waypoint", "none")
                  + service("prod", "a", "127.10.0.1", "a", "istio.io/use-waypoint", "none")
                  + service("prod", "b", "127.10.0.2", "b", "istio.io/use-waypoint", "other"));
      assertThat(workload(s, "127.0.1.1").waypoint()).isEqualTo(new WaypointRef("prod", "other"));
      assertThat(workload(s, "127.0.1.2").waypoint()).isNull();
      assertThat(s.findServiceByVip(ip("127.10.0.1")).orElseThrow().waypoint()).isNull();
      assertThat(s.findServiceByVip(ip("127.10.0.2")).orElseThrow().waypoint())
          .isEqualTo(new WaypointRef("prod", "other"));
    }

    @Test
    void crossNamespaceWaypoint() {
      MeshSnapshot s =
          translate(
              waypoint("infra", "shared", "service")
                  + service(
                      "prod",
                      "a",
                      "127.10.0.1",
                      "a",
                      "istio.io/use-waypoint",
                      "shared",
                      "istio.io/use-waypoint-namespace",
                      "infra"));
      assertThat(s.findServiceByVip(ip("127.10.0.1")).orElseThrow().waypoint())
          .isEqualTo(new WaypointRef("infra", "shared"));
    }

    @Test
    void waypointForLimitsWhatMayBind() {
      MeshSnapshot s =
          translate(
              waypoint("prod", "svc-only", "service")
                  + waypoint("prod", "wl-only", "workload")
                  + pod("prod", "a", "127.0.1.1", "app", "a", "istio.io/use-waypoint", "svc-only")
                  + pod("prod", "b", "127.0.1.2", "app", "b", "istio.io/use-waypoint", "wl-only")
                  + service("prod", "a", "127.10.0.1", "a", "istio.io/use-waypoint", "wl-only")
                  + service("prod", "b", "127.10.0.2", "b", "istio.io/use-waypoint", "svc-only"));
      assertThat(workload(s, "127.0.1.1").waypoint())
          .as("service waypoint, workload binding")
          .isNull();
      assertThat(workload(s, "127.0.1.2").waypoint()).isEqualTo(new WaypointRef("prod", "wl-only"));
      assertThat(s.findServiceByVip(ip("127.10.0.1")).orElseThrow().waypoint())
          .as("workload waypoint, service binding")
          .isNull();
      assertThat(s.findServiceByVip(ip("127.10.0.2")).orElseThrow().waypoint())
          .isEqualTo(new WaypointRef("prod", "svc-only"));
    }

    @Test
    void aMissingWaypointLeavesTheObjectUnbound() {
      MeshSnapshot s =
          translate(service("prod", "a", "127.10.0.1", "a", "istio.io/use-waypoint", "nope"));
      assertThat(s.findServiceByVip(ip("127.10.0.1")).orElseThrow().waypoint()).isNull();
    }

    @Test
    void gatewaysOfOtherClassesAreNotWaypoints() {
      MeshSnapshot s =
          translate(waypoint("prod", "ingress", null).replace("istio-waypoint", "istio"));
      assertThat(s.waypoints()).isEmpty();
      assertThat(s.policies().notApplicable())
          .singleElement()
          .satisfies(n -> assertThat(n.reason()).contains("gatewayClassName istio"));
    }
  }

  @Nested
  class Services {
    @Test
    void endpointsAreTheSelectedPodsOfTheNamespaceWithAnAddress() {
      String noIp = pod("prod", "c", "127.0.1.3", "app", "a").replace("  podIP: 127.0.1.3\n", "");
      MeshSnapshot s =
          translate(
              pod("prod", "a", "127.0.1.1", "app", "a")
                  + pod("other", "b", "127.0.1.2", "app", "a")
                  + noIp
                  + pod("prod", "d", "127.0.1.4", "app", "d")
                  + service("prod", "a", "127.10.0.1", "a"));
      Service svc = s.findServiceByVip(ip("127.10.0.1")).orElseThrow();
      assertThat(svc.endpoints())
          .extracting(e -> e.workloadUid())
          .containsExactly("Kubernetes//Pod/prod/a");
      assertThat(svc.hostname()).isEqualTo("a.prod.svc.cluster.local");
      assertThat(svc.findPort(80).orElseThrow().targetPort()).isEqualTo(8080);
      assertThat(svc.findPort(81)).isEmpty();
      assertThat(svc.endpoints().get(0).targetPortFor(svc.findPort(80).orElseThrow()))
          .isEqualTo(8080);
      assertThat(s.findServicesOfWorkload("Kubernetes//Pod/prod/a")).containsExactly(svc);
      assertThat(s.findServicesOfWorkload("Kubernetes//Pod/prod/d")).isEmpty();
    }

    @Test
    void namedTargetPortsResolvePerPod() {
      String svc =
          service("prod", "a", "127.10.0.1", "a").replace("targetPort: 8080", "targetPort: web");
      String p1 =
          pod("prod", "p1", "127.0.1.1", "app", "a")
              .replace(
                  "- name: http\n      containerPort: 8080",
                  "- name: web\n      containerPort: 9001");
      String p2 =
          pod("prod", "p2", "127.0.1.2", "app", "a")
              .replace(
                  "- name: http\n      containerPort: 8080",
                  "- name: web\n      containerPort: 9002");
      String p3 = pod("prod", "p3", "127.0.1.3", "app", "a"); // no port named web
      MeshSnapshot s = translate(p1 + p2 + p3 + svc);
      Service service = s.findServiceByVip(ip("127.10.0.1")).orElseThrow();
      var port = service.findPort(80).orElseThrow();
      assertThat(port.targetPort()).isZero();
      assertThat(service.endpoints()).hasSize(2);
      assertThat(service.endpoints().get(0).targetPortFor(port)).isEqualTo(9001);
      assertThat(service.endpoints().get(1).targetPortFor(port)).isEqualTo(9002);
      assertThat(service.endpoints().get(0).targetPorts()).isEqualTo(Map.of(80, 9001));
    }

    @Test
    void headlessServicesHaveNoVipAndUdpPortsAreNotCarried() {
      String yaml =
          service("prod", "h", "None", "a")
              .replace(
                  "  - name: http\n    port: 80\n    targetPort: 8080",
                  "  - name: http\n    port: 80\n  - name: dns\n    port: 53\n    protocol: UDP");
      Service svc = translate(yaml).findServiceByHostname("h.prod", "x").orElseThrow();
      assertThat(svc.vips()).isEmpty();
      assertThat(svc.ports()).extracting(p -> p.port()).containsExactly(80);
      assertThat(svc.findPort(80).orElseThrow().targetPort())
          .as("no targetPort means the port")
          .isEqualTo(80);
    }
  }

  @Nested
  class Policies {
    @Test
    void everyServedApiVersionIsNormalisedToV1() {
      String vs =
          """
          apiVersion: networking.istio.io/%s
          kind: VirtualService
          metadata:
            name: vs-%s
            namespace: prod
          spec:
            hosts: [a]
            http:
            - route:
              - destination:
                  host: a
          ---
          """;
      String dr =
          """
          apiVersion: networking.istio.io/%s
          kind: DestinationRule
          metadata:
            name: dr-%s
            namespace: prod
          spec:
            host: a
          ---
          """;
      String sec =
          """
          apiVersion: security.istio.io/%s
          kind: AuthorizationPolicy
          metadata:
            name: ap-%s
            namespace: prod
          spec: {}
          ---
          apiVersion: security.istio.io/%s
          kind: PeerAuthentication
          metadata:
            name: pa-%s
            namespace: prod
          spec:
            mtls:
              mode: PERMISSIVE
          ---
          """;
      String gw =
          """
          apiVersion: gateway.networking.k8s.io/%s
          kind: HTTPRoute
          metadata:
            name: hr-%s
            namespace: prod
          spec:
            parentRefs:
            - kind: Service
              group: ""
              name: a
          ---
          """;
      String grpc =
          """
          apiVersion: gateway.networking.k8s.io/%s
          kind: GRPCRoute
          metadata:
            name: gr-%s
            namespace: prod
          spec: {}
          ---
          """;
      StringBuilder yaml = new StringBuilder();
      for (String v : List.of("v1", "v1beta1", "v1alpha3")) {
        yaml.append(vs.formatted(v, v)).append(dr.formatted(v, v));
      }
      for (String v : List.of("v1", "v1beta1")) {
        yaml.append(sec.formatted(v, v, v, v)).append(gw.formatted(v, v));
      }
      for (String v : List.of("v1", "v1alpha2")) {
        yaml.append(grpc.formatted(v, v));
      }
      MeshSnapshot s = translate(yaml.toString());
      assertThat(s.rejections()).isEmpty();
      var p = s.policies();
      assertThat(p.virtualServices())
          .hasSize(3)
          .allSatisfy(v -> assertThat(v.getApiVersion()).isEqualTo("networking.istio.io/v1"));
      assertThat(p.destinationRules())
          .hasSize(3)
          .allSatisfy(v -> assertThat(v.getApiVersion()).isEqualTo("networking.istio.io/v1"));
      assertThat(p.authorizationPolicies())
          .hasSize(2)
          .allSatisfy(v -> assertThat(v.getApiVersion()).isEqualTo("security.istio.io/v1"));
      assertThat(p.peerAuthentications())
          .hasSize(2)
          .allSatisfy(v -> assertThat(v.getApiVersion()).isEqualTo("security.istio.io/v1"));
      assertThat(p.httpRoutes())
          .hasSize(2)
          .allSatisfy(v -> assertThat(v.getApiVersion()).isEqualTo("gateway.networking.k8s.io/v1"));
      assertThat(p.grpcRoutes())
          .hasSize(2)
          .allSatisfy(v -> assertThat(v.getApiVersion()).isEqualTo("gateway.networking.k8s.io/v1"));
      assertThat(p.virtualServices().get(1).getMetadata().getName()).isEqualTo("vs-v1beta1");
    }

    @Test
    void theLocalRateLimitEnvoyFilterBecomesARecord() throws Exception {
      MeshSnapshot s =
          translate(java.nio.file.Files.readString(Repo.seedExamples().resolve("payment.yaml")));
      var rl = s.policies().localRateLimits();
      assertThat(rl)
          .singleElement()
          .satisfies(
              r -> {
                assertThat(r.name()).isEqualTo("payment-ratelimit");
                assertThat(r.namespace()).isEqualTo("production");
                assertThat(r.workloadSelector()).isEqualTo(Map.of("app", "payment-service"));
                assertThat(r.maxTokens()).isEqualTo(100);
                assertThat(r.tokensPerFill()).isEqualTo(100);
                assertThat(r.fillInterval()).isEqualTo(Duration.ofSeconds(60));
                assertThat(r.statPrefix()).isEqualTo("http_local_rate_limiter");
                assertThat(
                        r.selects("production", Map.of("app", "payment-service", "version", "v1")))
                    .isTrue();
                assertThat(r.selects("other", Map.of("app", "payment-service"))).isFalse();
              });
    }

    @Test
    void sidecarsAndIstioGatewaysAreAcceptedAsNotApplicable() throws Exception {
      MeshSnapshot s =
          translate(
              java.nio.file.Files.readString(
                  Repo.seedExamples().resolve("sidecar-and-ingress.yaml")));
      assertThat(s.rejections()).isEmpty();
      assertThat(s.policies().notApplicable())
          .extracting(n -> n.objectRef())
          .containsExactly("Sidecar production/api-service", "Gateway istio-system/main-gateway");
      assertThat(s.waypoints()).isEmpty();
    }
  }

  @Test
  void versionsIncrease() {
    MeshSnapshot a = translate("");
    MeshSnapshot b = translate("");
    assertThat(b.version())
        .isGreaterThan(a.version())
        .isGreaterThan(MeshSnapshot.empty().version());
  }
}
