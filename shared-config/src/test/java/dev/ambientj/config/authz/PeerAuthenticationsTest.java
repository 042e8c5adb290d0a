package dev.ambientj.config.authz;

import static dev.ambientj.config.authz.Policies.pa;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class PeerAuthenticationsTest {
  private static final Map<String, String> PAYMENT = Map.of("app", "payment-service");

  private static PeerAuthentications compile(String yaml) {
    return PeerAuthentications.compile(Policies.peerAuthn(yaml));
  }

  @Test
  void nothingSetIsPermissive() {
    assertThat(compile("").mode("production", PAYMENT, 8080)).isEqualTo(MtlsMode.PERMISSIVE);
  }

  @Test
  void meshNamespaceAndSelectorLevels() {
    PeerAuthentications p = compile(pa("istio-system", "default", "mtls: {mode: STRICT}\n")
        + pa("legacy", "default", "mtls: {mode: PERMISSIVE}\n")
        + pa("production", "payment", """
            selector:
              matchLabels:
                app: payment-service
            mtls: {mode: DISABLE}
            """));
    assertThat(p.mode("orders-ns", Map.of(), 80)).isEqualTo(MtlsMode.STRICT);
    assertThat(p.mode("legacy", Map.of(), 80)).isEqualTo(MtlsMode.PERMISSIVE);
    assertThat(p.mode("production", PAYMENT, 80)).isEqualTo(MtlsMode.DISABLE);
    assertThat(p.mode("production", Map.of("app", "orders"), 80)).isEqualTo(MtlsMode.STRICT);
  }

  @Test
  void unsetInheritsAndPortLevelOverrides() {
    PeerAuthentications p = compile(pa("production", "default", "mtls: {mode: STRICT}\n")
        + pa("production", "payment", """
            selector:
              matchLabels:
                app: payment-service
            mtls: {mode: UNSET}
            portLevelMtls:
              "9090":
                mode: PERMISSIVE
            """));
    assertThat(p.mode("production", PAYMENT, 8080)).isEqualTo(MtlsMode.STRICT);
    assertThat(p.mode("production", PAYMENT, 9090)).isEqualTo(MtlsMode.PERMISSIVE);
    assertThat(p.refusesPlaintext("production", PAYMENT, 8080)).isTrue();
    assertThat(p.refusesPlaintext("production", PAYMENT, 9090)).isFalse();
  }

  @Test
  void namespaceUnsetInheritsTheMeshMode() {
    PeerAuthentications p = compile(pa("istio-system", "default", "mtls: {mode: STRICT}\n")
        + pa("production", "default", "mtls: {mode: UNSET}\n"));
    assertThat(p.mode("production", PAYMENT, 80)).isEqualTo(MtlsMode.STRICT);
  }
}
