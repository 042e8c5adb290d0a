package dev.ambientj.ztunnel.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.ztunnel.fairness.WorkloadBudget;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ProxyLimitsTest {

  @Test
  void defaultsLeaveHeadroomOutOfTheDescriptorLimit() {
    ProxyLimits limits = ProxyLimits.derive(20_000); // the bench's limit
    assertThat(ProxyLimits.headroom(20_000)).isEqualTo(2_000);
    assertThat(limits.maxConnections()).isEqualTo(18_000);
    assertThat(limits.maxHandshakes()).isEqualTo(4_500);
    assertThat(limits.listenerMaxConnections()).isEqualTo(4_500);
    assertThat(limits.listenerMaxHandshakes()).isEqualTo(1_125);
    assertThat(limits.adminMaxConnections() * 3L)
        .as("the node servers fit in the headroom").isLessThan(ProxyLimits.headroom(20_000));
    assertThat(limits.socks5HandshakeTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(limits.connectTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(limits.workloadBudget()).as("a source workload: a quarter, 2,000 new a second")
        .isEqualTo(new WorkloadBudget(4_500, 2_000, 4_500));
    assertThat(limits.withWorkloadBudget(null).workloadBudget()).as("--fairness off").isNull();
  }

  @Test
  void headroomIsAtLeast512AndAtMost64Ki() {
    assertThat(ProxyLimits.headroom(1_024)).isEqualTo(512);
    assertThat(ProxyLimits.derive(1_024).maxConnections()).isEqualTo(512);
    assertThat(ProxyLimits.headroom(1_048_576)).isEqualTo(65_536);
    assertThat(ProxyLimits.derive(1_048_576).maxConnections()).isEqualTo(983_040);
  }

  @Test
  void aTinyLimitStillGivesPodTrafficAQuarter() {
    assertThat(ProxyLimits.derive(256).maxConnections()).isEqualTo(64);
    assertThat(ProxyLimits.derive(256).listenerMaxHandshakes()).isEqualTo(4);
  }

  @Test
  void anUnknownLimitIsTakenAsTheCommonDefault() {
    assertThat(ProxyLimits.derive(-1)).isEqualTo(ProxyLimits.derive(1_024));
  }

  @Test
  void limitsAreValidated() {
    ProxyLimits d = ProxyLimits.derive(20_000);
    assertThatThrownBy(() -> d.withListenerCaps(0, 5)).hasMessageContaining("per listener")
        .hasMessageContaining("got 0");
    assertThatThrownBy(() -> d.withConnectTimeout(Duration.ZERO))
        .hasMessageContaining("connect timeout must be positive");
  }
}
