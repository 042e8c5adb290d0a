package dev.ambientj.config.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import dev.ambientj.config.authz.AuthorizationEngine;
import dev.ambientj.config.authz.AuthzRequest;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import dev.ambientj.config.proto.security.Authorization;
import dev.ambientj.config.proto.security.Scope;
import dev.ambientj.config.proto.workload.Address;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class WdsCodecTest {
  static MeshSnapshot mesh;
  static XdsResources encoded;

  @BeforeAll
  static void load() throws Exception {
    mesh = Meshes.translate(Meshes.exampleYaml());
    encoded = new WdsEncoder().encode(mesh);
  }

  static InetAddress ip(String s) {
    return InetAddress.ofLiteral(s);
  }

  @Test
  void namesFollowIstio() throws Exception {
    Workload orders = mesh.findWorkloadByAddress(ip("127.0.2.10")).orElseThrow();
    assertThat(encoded.of(TypeUrls.ADDRESS)).containsKey(orders.uid())
        .containsKey("production/orders.production.svc.cluster.local");
    var w = encoded.of(TypeUrls.ADDRESS).get(orders.uid()).unpack(Address.class).getWorkload();
    assertThat(w.getServicesMap()).containsKey("production/orders.production.svc.cluster.local");
    assertThat(w.getAuthorizationPoliciesList()).containsExactly("production/orders-port");
    assertThat(encoded.of(TypeUrls.AUTHORIZATION).keySet())
        .containsExactly("istio-system/deny-blocked", "production/production-only",
            "production/orders-port");
    Map<String, Scope> scopes = new HashMap<>();
    for (var e : encoded.of(TypeUrls.AUTHORIZATION).entrySet()) {
      scopes.put(e.getKey(), e.getValue().unpack(Authorization.class).getScope());
    }
    assertThat(scopes).containsEntry("istio-system/deny-blocked", Scope.GLOBAL)
        .containsEntry("production/production-only", Scope.NAMESPACE)
        .containsEntry("production/orders-port", Scope.WORKLOAD_SELECTOR);
  }

  @Test
  void aPodsAmbientjAnnotationsReachTheProxyAndNoOthers() throws Exception {
    MeshSnapshot withAnnotations = Meshes.translate("""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Pod
        metadata:
          name: flooder-0
          namespace: shop
          annotations:
            ambientj.dev/max-connections: "5"
            kubectl.kubernetes.io/last-applied-configuration: "{}"
        spec:
          nodeName: node-a
          containers:
          - name: app
            image: app
        status:
          phase: Running
          podIP: 10.0.0.5
        """);
    Workload translated = withAnnotations.workloads().getFirst();
    assertThat(translated.annotations()).containsExactly(Map.entry("ambientj.dev/max-connections", "5"));

    MeshSnapshot decoded = new WdsDecoder().decode(new WdsEncoder().encode(withAnnotations), 1);

    assertThat(decoded.workloads().getFirst().annotations()).isEqualTo(translated.annotations());
  }

  @Test
  void roundTripKeepsTheDataPath() throws Exception {
    MeshSnapshot decoded = new WdsDecoder().decode(encoded, 7);
    assertThat(decoded.version()).isEqualTo(7);
    Meshes.assertSameDataPath(decoded, mesh);
    Meshes.assertSamePolicies(decoded, mesh);
  }

  @Test
  void withoutMeshObjectsOnlyTheL4PoliciesRemain() throws Exception {
    MeshSnapshot decoded = new WdsDecoder().decode(istioOnly(), 1);
    Meshes.assertSameDataPath(decoded, mesh);
    assertThat(decoded.policies().virtualServices()).isEmpty();
    assertThat(decoded.policies().authorizationPolicies())
        .extracting(p -> p.getMetadata().getName())
        .containsExactlyInAnyOrder("deny-blocked", "production-only", "orders-port");
  }

  /** What istiod would send: WDS and Authorization, no ambientj MeshObjects. */
  private static XdsResources istioOnly() {
    Map<String, Map<String, Any>> m = new HashMap<>(encoded.byType());
    m.remove(TypeUrls.MESH_OBJECT);
    return new XdsResources(m);
  }

  @Test
  void roundTripKeepsTheL4Decisions() throws Exception {
    MeshSnapshot decoded = new WdsDecoder().decode(istioOnly(), 1);
    AuthorizationEngine before = AuthorizationEngine.compile(mesh.policies()
        .authorizationPolicies());
    AuthorizationEngine after = AuthorizationEngine.compile(decoded.policies()
        .authorizationPolicies());
    List<String> principals = List.of("spiffe://cluster.local/ns/production/sa/api-gateway",
        "spiffe://cluster.local/ns/legacy/sa/app", "spiffe://cluster.local/ns/legacy/sa/bad",
        "spiffe://cluster.local/ns/other/sa/x");
    List<String> sources = List.of("127.0.1.10", "127.0.66.5");
    List<String> dsts = List.of("127.0.2.10", "127.0.9.1");
    int checked = 0;
    for (Workload w : mesh.workloads()) {
      Workload d = decoded.findWorkloadByUid(w.uid()).orElseThrow();
      var a = before.forWorkload(w.namespace(), w.labels());
      var b = after.forWorkload(d.namespace(), d.labels());
      for (String p : principals) {
        for (String src : sources) {
          for (String dst : dsts) {
            for (int port : List.of(8080, 9090, 80)) {
              AuthzRequest r = AuthzRequest.l4(p, ip(src), ip(dst), port);
              assertThat(b.check(r).allowed())
                  .as("%s → %s %s:%d", p, w.name(), dst, port)
                  .isEqualTo(a.check(r).allowed());
              checked++;
            }
          }
        }
      }
    }
    assertThat(checked).isGreaterThan(100);
  }

  @Test
  void malformedResourceNamesItself() {
    Map<String, Any> addresses = new java.util.LinkedHashMap<>(encoded.of(TypeUrls.ADDRESS));
    addresses.put("bad-uid", Any.pack(Address.newBuilder().setWorkload(
        dev.ambientj.config.proto.workload.Workload.newBuilder().setUid("bad-uid")
            .addAddresses(ByteString.copyFrom(new byte[3]))).build()));
    XdsResources r = new XdsResources(Map.of(TypeUrls.ADDRESS, addresses));
    assertThatThrownBy(() -> new WdsDecoder().decode(r, 1))
        .isInstanceOf(XdsDecodeException.class)
        .hasMessageContaining("bad-uid").hasMessageContaining("3 bytes");
  }

  @Test
  void theServersRejectionsReachTheProxyAsTheyAre() throws Exception {
    var rejection = new dev.ambientj.config.model.ConfigRejection("AuthorizationPolicy",
        "production", "payment-access", "spec.rules[0].fromm", "unknown field", "", true);
    var file = new dev.ambientj.config.model.ConfigRejection("", "", "", "", "empty",
        "/etc/mesh/policies.yaml", true);
    MeshSnapshot withRejections = mesh.withMoreRejections(List.of(rejection, file));
    XdsResources r = new WdsEncoder().encode(withRejections);
    assertThat(r.of(TypeUrls.REJECTION).keySet()).containsExactly(
        "AuthorizationPolicy/production/payment-access", "/etc/mesh/policies.yaml");
    assertThat(new WdsDecoder().decode(r, 1).rejections()).containsExactly(rejection, file);
  }

  @Test
  void aMeshObjectThisProxyWouldRefuseIsNotApplied() throws Exception {
    var pa = new io.fabric8.istio.api.security.v1.PeerAuthentication();
    pa.setApiVersion("security.istio.io/v1");
    pa.setKind("PeerAuthentication");
    pa.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
        .withName("strict").withNamespace("production").build());
    var spec = new io.fabric8.istio.api.api.security.v1beta1.PeerAuthentication();
    spec.setAdditionalProperty("mtlss", Map.of("mode", "DISABLE"));
    pa.setSpec(spec);
    MeshSnapshot skewed = MeshSnapshot.of(1, mesh.trustDomain(), mesh.workloads(),
        mesh.services(), mesh.waypoints(), mesh.nodes(),
        new dev.ambientj.config.model.PolicyObjects(List.of(), List.of(), List.of(), List.of(pa),
            List.of(), List.of(), List.of(), List.of(), List.of()), List.of());
    assertThatThrownBy(() -> new WdsDecoder().decode(new WdsEncoder().encode(skewed), 2))
        .isInstanceOfSatisfying(XdsDecodeException.class, e -> {
          assertThat(e.typeUrl()).isEqualTo(TypeUrls.MESH_OBJECT);
          assertThat(e.resourceName()).isEqualTo("PeerAuthentication/production/strict");
          assertThat(e.problem()).startsWith(
              "PeerAuthentication production/strict: spec.mtlss: unknown field");
        });
  }
}
